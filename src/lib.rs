//! OrderSync: QR table ordering for restaurants. `main.rs` only parses the command line and
//! calls into here; tests start the same server on ephemeral ports through `run`.

pub mod accounts;
pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod blocking;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connections;
pub mod demo;
pub mod doctor;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod images;
pub mod listener;
pub mod live;
pub mod logging;
pub mod orders;
pub mod payments;
pub mod printing;
pub mod qr;
#[cfg(feature = "postgres")]
pub mod redis;
pub mod secrets;
pub mod server;
pub mod store;
pub mod surfaces;
pub mod tls;
pub mod web;

use std::future::Future;

use app::AppState;
use config::Config;
use events::{LiveEvent, MenuEvent};
use server::Listeners;
use surfaces::{PublicUrls, SurfaceMode};

/// Starts OrderSync on already-bound listeners and serves until `shutdown` resolves.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tls::install_crypto_provider();
    // One server per SQLite data directory; a restore waits for it to stop.
    let sqlite_file = (!store::is_postgres_url(&config.database_url))
        .then(|| std::path::PathBuf::from(&config.database_url));
    let _lock = match &sqlite_file {
        Some(_) => Some(backup::ServerLock::acquire(&config.data_dir)?),
        None => None,
    };
    let https_port = listeners.https.local_addr()?.port();
    let http_port = match &listeners.http {
        Some(listener) => listener.local_addr()?.port(),
        None => config.http_port,
    };
    let urls = PublicUrls::new(
        SurfaceMode::of(&config),
        config.public_base_url.as_deref(),
        &tls::box_host(),
        https_port,
        http_port,
    );
    let tls = {
        let (config, owner_host) = (config.clone(), surfaces::url_host(&urls.owner).to_owned());
        blocking::run(move || prepare_tls(&config, &owner_host)).await?
    };
    let state = AppState::build(config, tls.ca_pem.clone(), urls).await?;
    announce(&state, &listeners);
    if state.payments.provider_kind().is_none() {
        warn_about_counter_only(&state).await?;
    }
    if state.config.demo {
        let demo = demo::ensure(&state).await?;
        // The printed demo link counts as the printed QR code, the first time.
        let restaurant = state.store.restaurant(demo.restaurant_id).await?;
        if restaurant.is_some_and(|r| r.printed_base_url.is_none()) {
            state
                .store
                .record_printed_base_url(
                    demo.restaurant_id,
                    state.urls.guest.to_string(),
                    state.clock.now(),
                )
                .await?;
        }
        announce_demo(&state, &demo);
    }
    let watcher = tokio::spawn(housekeeping(state.clone()));
    let revocations = tokio::spawn(follow_revocations(state.clone()));
    let payments = tokio::spawn(state.payments.clone().run_background());
    let probe = tokio::spawn(state.payments.clone().probe_provider(
        std::time::Duration::from_millis(state.config.provider_probe_ms),
    ));
    let clock_watch = {
        let (watch, clock) = (state.clock_watch.clone(), state.clock.clone());
        let every = std::time::Duration::from_millis(state.config.clock_check_ms);
        tokio::spawn(async move { watch.run(clock, every).await })
    };
    let printing = tokio::spawn(print_worker(&state).run());
    let backups =
        sqlite_file.map(|db| tokio::spawn(nightly_backups(db, state.config.data_dir.clone())));
    let result = server::serve(state, tls.server_config, listeners, shutdown).await;
    printing.abort();
    if let Some(backups) = backups {
        backups.abort();
    }
    watcher.abort();
    payments.abort();
    probe.abort();
    clock_watch.abort();
    revocations.abort();
    result
}

/// Background upkeep: every 2 s, notice menu changes made outside this process (e.g.
/// `ordersync menu import`) and drop the cached copies (changes made through the API
/// invalidate at once anyway); every hour, purge records that can no longer matter.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    let mut last_purge = std::time::Instant::now();
    loop {
        tick.tick().await;
        if last_purge.elapsed() >= std::time::Duration::from_secs(3600) {
            last_purge = std::time::Instant::now();
            if let Err(err) = state.store.purge_expired(chrono::Utc::now()).await {
                tracing::warn!(error = %err, "purging expired records failed");
            }
        }
        match state.store.restaurant_revisions().await {
            Ok(revisions) => {
                for restaurant in state.menus.invalidate_stale(&revisions) {
                    let change = MenuEvent::reload(restaurant, state.clock.now());
                    state.events.publish(LiveEvent::Menu(change));
                }
            }
            Err(err) => tracing::warn!(error = %err, "checking menu revisions failed"),
        }
    }
}

/// Revocations made on other instances arrive as `SessionEnded` events: kept in this instance's
/// list too, so they hold here even while the shared list (Redis) cannot be reached. After the
/// link between instances was down, the store's list is read again.
async fn follow_revocations(state: AppState) {
    let mut events = state.events.subscribe();
    loop {
        match events.recv().await {
            Ok(LiveEvent::SessionEnded(ended)) => {
                state
                    .revocations
                    .remember(ended.key.to_string(), ended.until)
                    .await;
            }
            Ok(LiveEvent::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                match state.store.active_revocations(chrono::Utc::now()).await {
                    Ok(active) => {
                        for revocation in active {
                            state
                                .revocations
                                .remember(revocation.key, revocation.until)
                                .await;
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "reloading revocations failed"),
                }
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Every ten minutes, takes the night's backup if it is due (see `backup::nightly`). The first
/// look comes a minute after start, so start-up does no backup work.
async fn nightly_backups(db: std::path::PathBuf, data_dir: std::path::PathBuf) {
    let every = std::time::Duration::from_secs(600);
    let first = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(first, every);
    loop {
        tick.tick().await;
        let (db, data_dir) = (db.clone(), data_dir.clone());
        match blocking::run(move || backup::nightly(&db, &data_dir, chrono::Local::now())).await {
            Ok(Some(done)) => tracing::info!(
                path = %done.path.display(),
                bytes = done.bytes,
                orders = done.orders,
                "nightly backup written"
            ),
            Ok(None) => {}
            Err(err) => tracing::error!(error = %format!("{err:#}"), "nightly backup failed"),
        }
    }
}

fn print_worker(state: &AppState) -> printing::worker::PrintWorker {
    printing::worker::PrintWorker::new(
        state.store.clone(),
        state.metrics.clone(),
        state.clock.clone(),
        std::time::Duration::from_millis(state.config.print_poll_ms),
        std::time::Duration::from_millis(state.config.print_retry_base_ms),
    )
}

/// PREPAY restaurants cannot be paid online while payment is off; they are served as POSTPAY.
async fn warn_about_counter_only(state: &AppState) -> anyhow::Result<()> {
    for (id, _) in state.store.restaurant_revisions().await? {
        if let Some(restaurant) = state.store.restaurant(id).await?
            && restaurant.payment_mode == domain::order::PaymentMode::Prepay
        {
            tracing::warn!(
                restaurant_id = %id,
                restaurant = %restaurant.name,
                "restaurant is set to PREPAY, but online payment is off on this box (no \
                 TOSS_SECRET_KEY): its orders are taken as POSTPAY (pay at the counter) until a \
                 Toss key is configured"
            );
        }
    }
    Ok(())
}

fn announce_demo(state: &AppState, demo: &demo::Demo) {
    let table_url = state.tables.url(&state.urls.guest, demo.restaurant_id, "1");
    let password = demo.password.as_deref().unwrap_or(
        "(unknown: the password file is gone; delete the data dir to recreate the demo)",
    );
    // Printed, not logged: this is the one screen a new user must see.
    println!();
    println!("  OrderSync demo — 맛있는 치킨집");
    println!("  Customer, table 1:  {table_url}");
    println!("  Owner dashboard:    {}/owner", state.urls.owner);
    println!("  Owner login:        {} / {password}", demo.email);
    if state.ca_certificate.is_some() {
        // The CA is served on both listeners; the guest one opens without trusting anything.
        println!(
            "  Owner devices: trust the box once with {}/ca.crt",
            state.urls.guest
        );
    }
    println!();
}

/// The operator's certificate, or the local CA's certificate for this box's names plus the host
/// owners are told to open.
fn prepare_tls(config: &Config, owner_host: &str) -> anyhow::Result<tls::TlsMaterial> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => tls::load_operator_certificate(cert, key),
        _ => {
            let names = tls::local_names(Some(owner_host.trim_matches(['[', ']'])));
            tls::load_or_create_local(&config.data_dir.join("tls"), &names)
        }
    }
}

fn announce(state: &AppState, listeners: &Listeners) {
    let https = listeners.https.local_addr().ok();
    let http = listeners.http.as_ref().and_then(|l| l.local_addr().ok());
    tracing::info!(
        https = ?https,
        http = ?http,
        surfaces = ?state.surface,
        guest_links = %state.urls.guest,
        owner_links = %state.urls.owner,
        "OrderSync is listening"
    );
    if state.config.tls_cert.is_some() && state.config.public_base_url.is_none() {
        tracing::warn!(
            "--tls-cert is set but PUBLIC_BASE_URL is not: table QR codes name this box by its \
             address ({}), which your certificate probably does not cover; set PUBLIC_BASE_URL \
             to the name on the certificate",
            state.urls.guest
        );
    }
}
