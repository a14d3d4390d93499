//! Command-line interface. Every setting is a flag that also reads its environment variable
//! (the seed's names where it has one); `.env` in the working directory is loaded first.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};

use crate::config::PaymentsChoice;

#[derive(Debug, Parser)]
#[command(
    name = "ordersync",
    version,
    about = "OrderSync: QR table ordering for restaurants, in one binary",
    long_about = "OrderSync: QR table ordering for restaurants, in one binary.\n\n\
        Customers scan a table QR code, order and pay on their phone; the owner sees every \
        order live and accepts, rejects, readies and completes it. Settings come from flags, \
        environment variables and a .env file in the working directory (flags win)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (HTTPS, plus an HTTP listener that redirects to it). Migrates on start.
    Serve(Box<ServeArgs>),
    /// Create or upgrade the database schema, then exit. Safe to run repeatedly.
    Migrate(StoreArgs),
    /// Create an OWNER account and their restaurant; prints both ids.
    CreateOwner(CreateOwnerArgs),
    /// Create a STAFF (board) or KITCHEN (kitchen display) account for a restaurant.
    CreateStaff(CreateStaffArgs),
    /// Print the signed URL of a table's QR code.
    TableUrl(TableUrlArgs),
    /// Write a printable SVG sheet (A4 pages) of signed table QR codes.
    Qr(QrArgs),
    /// Export or import a restaurant's menu as the JSON document of the menu API.
    #[command(subcommand)]
    Menu(MenuCommand),
    /// Write a consistent backup of the SQLite database and the box's secrets to one file
    /// (safe while the server runs). On PostgreSQL, use pg_dump.
    Backup(BackupArgs),
    /// Replace the database and secrets with a backup (the server must be stopped; the
    /// replaced database is kept beside it).
    Restore(RestoreArgs),
    /// Check the box in its shop: addresses and the printed QR address, the guest page on each
    /// address, certificate, disk, clock, Toss. Exits 1 when something needs attention.
    Doctor(DoctorArgs),
    /// Talk to a kitchen printer directly (no database needed).
    #[command(subcommand)]
    Printer(PrinterCommand),
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The file to write (must not exist).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// A file written by `ordersync backup` or the nightly backup (`<data dir>/backups/`).
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum PrinterCommand {
    /// Print a test page on a network thermal printer and say whether it took it.
    Test {
        /// The printer's host:port (port 9100 if left out), e.g. 192.168.0.50:9100.
        #[arg(long)]
        address: String,
        /// Paper width in millimetres: 58 or 80.
        #[arg(long, default_value_t = 80)]
        paper_width_mm: u32,
        /// The printer's code page: EUC-KR (Korean printers' default) or UTF-8.
        #[arg(long, default_value = "EUC-KR")]
        encoding: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct TableUrlArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// The restaurant's id (as printed by create-owner).
    #[arg(long)]
    pub restaurant: String,

    /// The table label printed on the QR code, e.g. 3 or A-12.
    #[arg(long)]
    pub table: String,

    #[command(flatten)]
    pub links: LinkArgs,
}

#[derive(Debug, Clone, Args)]
pub struct QrArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// The restaurant's id.
    #[arg(long)]
    pub restaurant: String,

    /// Tables to print: a range like 1-20, a list like 1,2,5-8, or labels like A1,테라스.
    #[arg(long, default_value = "1-12")]
    pub tables: String,

    #[command(flatten)]
    pub links: LinkArgs,

    /// Where to write the SVG sheet.
    #[arg(long, default_value = "tables.svg")]
    pub out: PathBuf,
}

/// What decides the address printed into table links, as `serve` decides it.
#[derive(Debug, Clone, Args)]
pub struct LinkArgs {
    /// Base URL customers' phones reach the box at (default: http://<LAN address>:<HTTP_PORT>
    /// while the box uses its own CA; https://<LAN address>:<PORT> with TLS_CERT).
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub base_url: Option<String>,

    /// HTTPS port of the server.
    #[arg(long, env = "PORT", default_value_t = 8443)]
    pub port: u16,

    /// HTTP port of the server (where guests' phones open the menu).
    #[arg(long, env = "HTTP_PORT", default_value_t = 8080)]
    pub http_port: u16,

    /// The server's own certificate, if it has one (then links are HTTPS).
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The server runs with --allow-plain-http.
    #[arg(long, env = "ALLOW_PLAIN_HTTP", value_parser = BoolishValueParser::new(),
          default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub allow_plain_http: bool,
}

#[derive(Debug, Subcommand)]
pub enum MenuCommand {
    /// Print the menu document to standard output.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// The restaurant's id.
        #[arg(long)]
        restaurant: String,
    },
    /// Replace the menu with a document (the same shape export prints). Items keep their ids
    /// when the document gives them; items left out are archived.
    Import {
        #[command(flatten)]
        store: StoreArgs,
        /// The restaurant's id.
        #[arg(long)]
        restaurant: String,
        /// The menu document (JSON); `-` reads standard input.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the database, generated secrets and TLS material.
    #[arg(long, env = "ORDERSYNC_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// SQLite file path (default: <data dir>/ordersync.db), or postgres://… in the `postgres`
    /// build.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Redis shared by several instances (live events, revocations, rate limits), e.g.
    /// redis://10.0.0.5:6379 (`postgres` build).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel (several deployments may share one Redis).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "ordersync")]
    pub redis_key_prefix: String,

    /// Create (once) a demo restaurant with a Korean menu and its owner, and print the
    /// customer table URL, the owner dashboard URL and the owner login.
    #[arg(long)]
    pub demo: bool,

    /// Address of the HTTPS (and HTTP) listeners.
    #[arg(long, env = "BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// HTTPS port.
    #[arg(long, env = "PORT", default_value_t = 8443)]
    pub port: u16,

    /// HTTP port: redirects to HTTPS, or serves the app with --allow-plain-http.
    #[arg(long, env = "HTTP_PORT", default_value_t = 8080)]
    pub http_port: u16,

    /// Serve the app over plain HTTP on the HTTP port instead of redirecting to HTTPS.
    #[arg(long, env = "ALLOW_PLAIN_HTTP", value_parser = BoolishValueParser::new(),
          default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub allow_plain_http: bool,

    /// PEM certificate chain to serve instead of the generated local certificate.
    #[arg(long, env = "TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Base URL used in QR codes, payment and WebSocket URLs (default: derived from the LAN
    /// address and the HTTPS port).
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// This box's own addresses, comma-separated (default: read from the kernel). The address
    /// in printed table QR codes is checked against them.
    #[arg(long, env = "ORDERSYNC_INTERFACE_ADDRESSES", value_delimiter = ',')]
    pub interface_addresses: Vec<IpAddr>,

    /// HS256 signing key for access tokens (default: generated once and kept in the data
    /// dir). Prefer the environment variable: command lines are visible to other users.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Access-token lifetime in seconds.
    #[arg(long, env = "JWT_EXPIRES_IN", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub jwt_expires_in: u64,

    /// Requests per minute per client IP; 0 turns rate limiting off (for benchmarks).
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 60)]
    pub rate_limit_per_minute: u32,

    /// Login attempts per minute per client IP and email.
    #[arg(long, env = "LOGIN_RATE_LIMIT_PER_MINUTE", default_value_t = 5)]
    pub login_rate_limit_per_minute: u32,

    /// Login attempts per minute per account from all addresses together: slows a guesser
    /// spread over many addresses; the owner waits seconds, not minutes, once it stops.
    #[arg(
        long,
        env = "LOGIN_ACCOUNT_RATE_LIMIT_PER_MINUTE",
        default_value_t = 20
    )]
    pub login_account_rate_limit_per_minute: u32,

    /// Bearer token that lets a scraper off this box read /metrics (loopback needs none).
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Open WebSocket connections allowed per client IP; 0 means unlimited.
    #[arg(long, env = "WS_MAX_PER_IP", default_value_t = 32)]
    pub ws_max_per_ip: usize,

    /// Seconds a client has to send a whole request head once it starts one (slow clients are
    /// closed).
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_read_timeout: u64,

    /// Seconds to wait for the next piece of a request body.
    #[arg(long, env = "BODY_READ_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub body_read_timeout: u64,

    /// Seconds an idle connection is kept open waiting for its next request.
    #[arg(long, env = "IDLE_TIMEOUT", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,

    /// Seconds a client has to finish the TLS handshake.
    #[arg(long, env = "TLS_HANDSHAKE_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub tls_handshake_timeout: u64,

    /// Open client connections in all; 0 = the open-file limit less 128 kept for the
    /// database and the box itself. At the cap a new connection replaces the longest-idle one.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Open client connections per client IP; 0 = unlimited (use 0 behind a reverse proxy).
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    pub max_connections_per_ip: usize,

    /// Comma-separated proxy addresses whose X-Forwarded-For header is believed.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,

    /// How customers pay online: `auto` = Toss when TOSS_SECRET_KEY is set, the simulated
    /// test-mode checkout with --demo, otherwise off (every restaurant takes payment at the
    /// counter). `simulated` is refused with ENV=production.
    #[arg(long, env = "PAYMENTS", value_enum, default_value_t = PaymentsChoice::Auto)]
    pub payments: PaymentsChoice,

    /// Toss Payments secret key (test_sk_… or live_sk_…). Prefer the environment variable.
    #[arg(long, env = "TOSS_SECRET_KEY", hide_env_values = true)]
    pub toss_secret_key: Option<String>,

    /// Toss Payments client key for the browser SDK (test_ck_… or live_ck_…).
    #[arg(long, env = "TOSS_CLIENT_KEY")]
    pub toss_client_key: Option<String>,

    /// Where the Toss client sends its requests.
    #[arg(
        long,
        env = "TOSS_API_BASE",
        default_value = "https://api.tosspayments.com"
    )]
    pub toss_api_base: String,

    /// Seconds between two passes of the payment sweep (reconciliation of pending payments,
    /// refunds owed). One instance sweeps at a time.
    #[arg(long, env = "PAYMENT_SWEEP_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub payment_sweep_seconds: u64,

    /// `production` switches to JSON logs and stricter checks.
    #[arg(long = "env", env = "ENV", default_value = "development")]
    pub environment: String,

    /// bcrypt cost for new password hashes (the seed's 10).
    #[arg(long, env = "BCRYPT_COST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(4..=16))]
    pub bcrypt_cost: u32,
}

#[derive(Debug, Clone, Args)]
pub struct CreateOwnerArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// The owner's login email.
    #[arg(long)]
    pub email: String,

    /// The owner's display name.
    #[arg(long)]
    pub name: String,

    /// The restaurant's name, as customers will see it.
    #[arg(long)]
    pub restaurant: String,

    /// Read the password from standard input (first line) instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,

    /// bcrypt cost for the password hash.
    #[arg(long, env = "BCRYPT_COST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(4..=16))]
    pub bcrypt_cost: u32,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// HTTP port of the running server (where guests' phones open the menu).
    #[arg(long, env = "HTTP_PORT", default_value_t = 8080)]
    pub http_port: u16,

    /// This box's own addresses, comma-separated (default: read from the kernel).
    #[arg(long, env = "ORDERSYNC_INTERFACE_ADDRESSES", value_delimiter = ',')]
    pub interface_addresses: Vec<IpAddr>,

    /// The operator's certificate, if the server uses one.
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// Toss Payments' API, asked whether it can be reached.
    #[arg(
        long,
        env = "TOSS_API_BASE",
        default_value = "https://api.tosspayments.com"
    )]
    pub toss_api_base: String,

    /// Check Toss even without TOSS_SECRET_KEY set here.
    #[arg(long)]
    pub check_toss: bool,

    #[arg(long, env = "TOSS_SECRET_KEY", hide_env_values = true, hide = true)]
    pub toss_secret_key: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CreateStaffArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// The restaurant they work for (as printed by create-owner).
    #[arg(long)]
    pub restaurant: String,

    /// STAFF (accept, reject, ready, complete, tables, calls, sold out) or KITCHEN (kitchen
    /// display, ready only).
    #[arg(long)]
    pub role: String,

    /// Their login email.
    #[arg(long)]
    pub email: String,

    /// Their display name (shown in the order log).
    #[arg(long)]
    pub name: String,

    /// Read the password from standard input (first line) instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,

    /// bcrypt cost for the password hash.
    #[arg(long, env = "BCRYPT_COST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(4..=16))]
    pub bcrypt_cost: u32,
}

impl StoreArgs {
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            self.data_dir
                .join("ordersync.db")
                .to_string_lossy()
                .into_owned()
        })
    }
}
