//! What each subcommand does; `main.rs` parses the command line and calls one of these.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};

use crate::accounts::{self, NewAccount};
use crate::auth::password::PasswordHasher;
use crate::auth::table::TableSigner;
use crate::cli::{
    BackupArgs, CreateOwnerArgs, CreateStaffArgs, DoctorArgs, LinkArgs, MenuCommand,
    PrinterCommand, QrArgs, RestoreArgs, ServeArgs, StoreArgs, TableUrlArgs,
};
use crate::config::Config;
use crate::domain::ids::RestaurantId;
use crate::domain::menu::{MenuDocument, MenuRestaurant};
use crate::domain::table::parse_table_label;
use crate::error::AppError;
use crate::server::Listeners;
use crate::store;
use crate::surfaces::{PublicUrls, SurfaceMode};

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(args)?;
    let listeners = Listeners::bind(&config)?;
    crate::run(config, listeners, shutdown_signal()).await
}

/// Resolves on SIGTERM (systemd stop) or SIGINT (Ctrl-C). The handlers are installed when this
/// is called, not when the future is first polled: a stop that arrives while the server is
/// still starting (migrating, seeding the demo) is then a graceful stop, not a kill.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            (terminate, interrupt) => {
                if let Err(err) = terminate.and(interrupt) {
                    tracing::error!(error = %err, "cannot listen for SIGTERM/SIGINT");
                }
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Commands run beside (not inside) a server: their events have no live clients here; a running
/// server notices their changes from the database.
fn offline_bus() -> std::sync::Arc<dyn crate::events::EventBus> {
    std::sync::Arc::new(crate::events::LocalBus::new(1))
}

pub async fn migrate(args: StoreArgs) -> anyhow::Result<()> {
    let url = args.database_url();
    store::connect(&url, offline_bus()).await?;
    println!(
        "database is up to date (schema version {})",
        store::schema_version(&url)
    );
    Ok(())
}

pub async fn create_owner(args: CreateOwnerArgs) -> anyhow::Result<()> {
    let password = read_password(args.password_stdin)?;
    let store = store::connect(&args.store.database_url(), offline_bus()).await?;
    let passwords = PasswordHasher::new(args.bcrypt_cost)?;
    let account = NewAccount {
        email: &args.email,
        password: &password,
        name: &args.name,
    };
    let (user, restaurant_id) =
        accounts::create_owner(&*store, &passwords, account, &args.restaurant)
            .await
            .map_err(describe)?;
    println!("owner_id={}", user.id);
    println!("restaurant_id={restaurant_id}");
    Ok(())
}

pub async fn create_staff(args: CreateStaffArgs) -> anyhow::Result<()> {
    let role = crate::api::staff::parse_staff_role(&args.role).map_err(describe)?;
    let restaurant: RestaurantId = args
        .restaurant
        .parse()
        .map_err(|_| anyhow::anyhow!("--restaurant: not a restaurant id"))?;
    let password = read_password(args.password_stdin)?;
    let store = store::connect(&args.store.database_url(), offline_bus()).await?;
    if store.restaurant(restaurant).await?.is_none() {
        anyhow::bail!("no restaurant {restaurant} in this database");
    }
    let passwords = PasswordHasher::new(args.bcrypt_cost)?;
    let account = NewAccount {
        email: &args.email,
        password: &password,
        name: &args.name,
    };
    let user = accounts::create_staff(&*store, &passwords, account, role, restaurant)
        .await
        .map_err(describe)?;
    println!("user_id={}", user.id);
    println!("role={}", user.role);
    Ok(())
}

async fn existing_restaurant(
    store: &dyn store::Store,
    id: &str,
) -> anyhow::Result<crate::domain::restaurant::Restaurant> {
    let id: RestaurantId = id
        .parse()
        .map_err(|_| anyhow::anyhow!("--restaurant: {id:?} is not a restaurant id"))?;
    store
        .restaurant(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no restaurant {id} in this database"))
}

/// The base URL printed into table links: the guest surface, as `serve` would name it.
fn table_base_url(links: &LinkArgs) -> anyhow::Result<String> {
    let given = links
        .base_url
        .as_deref()
        .map(crate::config::normalise_base_url)
        .transpose()?;
    let mode = SurfaceMode::decide(
        links.allow_plain_http,
        links.tls_cert.is_some(),
        given.as_deref(),
    );
    let urls = PublicUrls::new(
        mode,
        given.as_deref(),
        &crate::tls::box_host(),
        links.port,
        links.http_port,
    );
    Ok(urls.guest.to_string())
}

pub async fn table_url(args: TableUrlArgs) -> anyhow::Result<()> {
    let store = store::connect(&args.store.database_url(), offline_bus()).await?;
    let restaurant = existing_restaurant(&*store, &args.restaurant).await?;
    let table = parse_table_label("table", &args.table)
        .map_err(|e| anyhow::anyhow!("--table: {}", e.reason))?;
    let base = table_base_url(&args.links)?;
    let signer = TableSigner::new(&crate::app::table_secret(&*store, &args.store.data_dir).await?);
    println!("{}", signer.url(&base, restaurant.id, &table));
    Ok(())
}

pub async fn qr(args: QrArgs) -> anyhow::Result<()> {
    let tables = crate::qr::parse_tables(&args.tables)
        .map_err(|e| anyhow::anyhow!("--tables: {}", e.reason))?;
    let store = store::connect(&args.store.database_url(), offline_bus()).await?;
    let restaurant = existing_restaurant(&*store, &args.restaurant).await?;
    let base = table_base_url(&args.links)?;
    let signer = TableSigner::new(&crate::app::table_secret(&*store, &args.store.data_dir).await?);
    let codes: Vec<_> = tables
        .iter()
        .map(|t| crate::qr::table_code(&signer, &base, restaurant.id, t))
        .collect();
    std::fs::write(&args.out, crate::qr::sheet_svg(&restaurant.name, &codes))
        .with_context(|| format!("writing {}", args.out.display()))?;
    store
        .record_printed_base_url(restaurant.id, base.clone(), chrono::Utc::now())
        .await?;
    println!(
        "wrote {} table codes for {} to {} (links start with {base})",
        codes.len(),
        restaurant.name,
        args.out.display()
    );
    Ok(())
}

pub async fn menu(command: MenuCommand) -> anyhow::Result<()> {
    match command {
        MenuCommand::Export { store, restaurant } => {
            let store = store::connect(&store.database_url(), offline_bus()).await?;
            let restaurant = existing_restaurant(&*store, &restaurant).await?;
            let (restaurant, categories) = store
                .menu(restaurant.id)
                .await?
                .context("the restaurant disappeared")?;
            let document = MenuDocument {
                restaurant: Some(MenuRestaurant {
                    id: restaurant.id,
                    name: restaurant.name,
                    table_ordering_enabled: restaurant.table_ordering_enabled,
                    payment_mode: None,
                    ready_message: None,
                    counter_payment: false,
                }),
                lang: None,
                categories,
            };
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        MenuCommand::Import {
            store,
            restaurant,
            file,
        } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let document: MenuDocument = crate::http::extract::parse_json(text.as_bytes())
                .map_err(|e| describe_document_error(e, &file))?;
            let store = store::connect(&store.database_url(), offline_bus()).await?;
            let restaurant = existing_restaurant(&*store, &restaurant).await?;
            let items: usize = document.categories.iter().map(|c| c.items.len()).sum();
            let categories = document.categories.len();
            crate::api::menu::store_menu(&*store, restaurant.id, document)
                .await
                .map_err(|e| describe_document_error(e, &file))?;
            println!(
                "imported {categories} categories and {items} items into {}",
                restaurant.name
            );
        }
    }
    Ok(())
}

fn describe_document_error(err: AppError, file: &std::path::Path) -> anyhow::Error {
    match err {
        AppError::Validation { field, reason } => {
            anyhow::anyhow!("{}: {field}: {reason}", file.display())
        }
        other => describe(other),
    }
}

/// Turns an API-shaped error into a sentence for the terminal.
fn describe(err: AppError) -> anyhow::Error {
    match err {
        AppError::Validation { field, reason } => anyhow::anyhow!("--{field}: {reason}"),
        AppError::Conflict { message, .. } => anyhow::anyhow!("{message}"),
        AppError::Internal(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Owner password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Repeat password: ").context("reading the password")?;
    if first != again {
        bail!("the passwords do not match");
    }
    Ok(first)
}

pub async fn printer(command: PrinterCommand) -> anyhow::Result<()> {
    use crate::domain::printer::{
        PrintOn, Printer, TextEncoding, check_paper_width, check_printer_address,
    };
    use crate::printing::send::{Delivery, send_ticket};
    let PrinterCommand::Test {
        address,
        paper_width_mm,
        encoding,
    } = command;
    let printer = Printer {
        id: crate::domain::ids::PrinterId::new(),
        restaurant_id: crate::domain::ids::RestaurantId::new(),
        name: "ordersync printer test".into(),
        address: check_printer_address(&address)
            .map_err(|e| anyhow::anyhow!("--address: {}", e.reason))?,
        paper_width_mm: check_paper_width(paper_width_mm)
            .map_err(|e| anyhow::anyhow!("--paper-width-mm: {}", e.reason))?,
        encoding: encoding
            .to_ascii_uppercase()
            .parse::<TextEncoding>()
            .map_err(|_| anyhow::anyhow!("--encoding: EUC-KR or UTF-8"))?,
        category_ids: Vec::new(),
        print_on: PrintOn::Accepted,
    };
    let page = crate::printing::ticket::test_ticket(
        &printer,
        chrono::Utc::now(),
        crate::domain::restaurant::DEFAULT_TIME_ZONE,
    );
    match send_ticket(&printer.address, &page).await {
        Ok(Delivery::Acknowledged) => println!(
            "test page sent to {}: the printer confirmed it (it answers status queries)",
            printer.address
        ),
        Ok(Delivery::Written) => println!(
            "test page sent to {}: the printer took it (it does not answer status queries, so \
             look at the paper)",
            printer.address
        ),
        Err(err) => anyhow::bail!("the test page did not print on {}: {err}", printer.address),
    }
    Ok(())
}

/// The SQLite file of `store`, or why there is none to back up.
fn sqlite_file(store: &StoreArgs) -> anyhow::Result<std::path::PathBuf> {
    let url = store.database_url();
    if crate::store::is_postgres_url(&url) {
        anyhow::bail!(
            "this box keeps its data in PostgreSQL: back it up with pg_dump (see README, \
             Backups), and keep the data directory's secrets"
        );
    }
    Ok(std::path::PathBuf::from(url))
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let db = sqlite_file(&args.store)?;
    if !db.exists() {
        anyhow::bail!("no database at {}", db.display());
    }
    let data_dir = args.store.data_dir.clone();
    let out = args.out.clone();
    let done = crate::blocking::run(move || crate::backup::take(&db, &data_dir, &out)).await?;
    println!(
        "backup written to {} ({} bytes, {} orders, {} secret files)",
        done.path.display(),
        done.bytes,
        done.orders,
        done.files
    );
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let db = sqlite_file(&args.store)?;
    let data_dir = args.store.data_dir.clone();
    let file = args.file.clone();
    let replaced =
        crate::blocking::run(move || crate::backup::restore(&file, &db, &data_dir)).await?;
    println!(
        "restored from {}; the previous database is kept as {}",
        args.file.display(),
        replaced.display()
    );
    Ok(())
}

/// `ordersync doctor`: prints what the box knows about its place in the shop; `false` when
/// something needs attention.
pub async fn doctor(args: DoctorArgs) -> anyhow::Result<bool> {
    use crate::doctor::{self, PrintedHost};
    crate::tls::install_crypto_provider();
    let mut healthy = true;
    let mut problem = |line: String| {
        healthy = false;
        println!("  !! {line}");
    };
    let addresses = doctor::own_addresses(&args.interface_addresses);
    println!(
        "OrderSync doctor — data dir {}",
        args.store.data_dir.display()
    );
    println!();
    println!("Network");
    let listed: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    println!("  addresses: {}", listed.join(", "));
    match doctor::network_card() {
        Some(card) => println!(
            "  network card: {} (MAC {}) — reserve this box's address for that MAC in the router",
            card.interface, card.mac_address
        ),
        None => println!("  network card: unknown"),
    }
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .connect_timeout(std::time::Duration::from_secs(1))
        .build()?;
    for ip in &addresses {
        let host = match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        let url = format!("http://{host}:{}/healthz", args.http_port);
        match http.get(&url).send().await {
            Ok(res) if res.status().is_success() => println!("  guest page on {url}: answers"),
            Ok(res) => problem(format!("guest page on {url}: HTTP {}", res.status())),
            Err(_) => problem(format!(
                "guest page on {url}: no answer (is the server running? is HTTP_PORT right?)"
            )),
        }
    }

    println!();
    println!("Printed table QR codes");
    let store = store::connect(&args.store.database_url(), offline_bus()).await?;
    for (id, _) in store.restaurant_revisions().await? {
        let Some(restaurant) = store.restaurant(id).await? else {
            continue;
        };
        match &restaurant.printed_base_url {
            None => println!("  {}: no QR codes printed yet", restaurant.name),
            Some((url, at)) => {
                let check = doctor::check_printed_url(url, &addresses).await;
                match check.status {
                    PrintedHost::Here => println!(
                        "  {}: printed with {url} ({}) — this box",
                        restaurant.name,
                        at.format("%Y-%m-%d")
                    ),
                    PrintedHost::NotChecked => println!(
                        "  {}: printed with {url} — a name, not checked here",
                        restaurant.name
                    ),
                    PrintedHost::Moved => problem(format!(
                        "{}: QR 코드 주소가 바뀌었습니다 (MOVED). The QR codes printed with {url} \
                         point at {}, which is not an address of this box any more. Reserve {} \
                         for this box in the router (DHCP reservation), or print the QR codes \
                         again.",
                        restaurant.name, check.host, check.host
                    )),
                }
            }
        }
    }

    println!();
    println!("Certificate");
    match doctor::certificate(&args.store.data_dir, args.tls_cert.as_deref()) {
        Some(cert) => {
            println!(
                "  {} certificate for: {}",
                cert.source,
                cert.names.join(", ")
            );
            if let Some(until) = cert.not_after {
                let left = until - chrono::Utc::now().date_naive();
                if left.num_days() < 30 {
                    problem(format!(
                        "expires {until} ({} days): restart the server to renew",
                        left.num_days()
                    ));
                } else {
                    println!("  expires {until}");
                }
            }
        }
        None => println!("  none issued yet (the server issues one on start)"),
    }

    println!();
    println!("Disk");
    match doctor::disk_space(&args.store.data_dir) {
        Some(disk) => {
            const GIB: u64 = 1024 * 1024 * 1024;
            let line = format!(
                "{:.1} GiB free of {:.1} GiB",
                disk.available_bytes as f64 / GIB as f64,
                disk.total_bytes as f64 / GIB as f64
            );
            if disk.available_bytes < GIB {
                problem(format!("{line}: orders stop being taken when it runs out"));
            } else {
                println!("  {line}");
            }
        }
        None => println!("  unknown (data dir missing?)"),
    }

    println!();
    println!("Clock");
    let now = chrono::Utc::now();
    println!(
        "  now {}",
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let mut behind_any = false;
    for (id, _) in store.restaurant_revisions().await? {
        let newest = store.newest_order_at(id).await?;
        if let Some(behind) = doctor::behind_newest_order(now, newest) {
            behind_any = true;
            problem(format!(
                "the clock is {} minutes behind the newest order: set the time (business days \
                 and order times follow it)",
                behind.num_minutes()
            ));
        }
    }
    if !behind_any {
        println!("  not behind the newest stored order");
    }

    println!();
    println!("Toss Payments");
    if args.toss_secret_key.is_some() || args.check_toss {
        let probe = format!(
            "{}/v1/payments/orders/ordersync-reachability-probe",
            args.toss_api_base.trim_end_matches('/')
        );
        match http.get(&probe).send().await {
            Ok(res) if !res.status().is_server_error() => {
                println!("  {} answers", args.toss_api_base)
            }
            Ok(res) => problem(format!(
                "{} answers HTTP {}",
                args.toss_api_base,
                res.status()
            )),
            Err(err) => problem(format!(
                "{} cannot be reached ({err}): internet outage? Switch to counter payment on the \
                 board",
                args.toss_api_base
            )),
        }
    } else {
        println!("  not configured here (no TOSS_SECRET_KEY; --check-toss to check anyway)");
    }
    println!();
    println!(
        "{}",
        if healthy {
            "All good."
        } else {
            "Something needs attention (!! above)."
        }
    );
    Ok(healthy)
}
