//! Validated server settings. Built from the command line (`Config::from_args`) or, in tests,
//! from `Config::for_test`. `Debug` never prints secrets.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cli::ServeArgs;
use crate::clock::Clock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// How customers pay online, as chosen on the command line (`--payments`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PaymentsChoice {
    /// Toss when TOSS_SECRET_KEY is set; the simulated provider with --demo; otherwise off.
    Auto,
    /// Toss Payments; TOSS_SECRET_KEY is required.
    Toss,
    /// The box's test-mode checkout: approves without charging anyone. Never in production.
    Simulated,
    /// No online payment: every restaurant takes payment at the counter.
    Off,
}

/// What actually takes online payments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentBackend {
    Toss,
    Simulated,
    Off,
}

#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Redis, shared by several instances (`postgres` build).
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    pub redis_key_prefix: String,
    pub bind: IpAddr,
    pub port: u16,
    pub http_port: u16,
    pub allow_plain_http: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub public_base_url: Option<String>,
    pub jwt_secret: Option<String>,
    pub jwt_expires_in_secs: u64,
    pub rate_limit_per_minute: u32,
    pub login_rate_limit_per_minute: u32,
    pub trusted_proxies: Vec<IpAddr>,
    pub environment: Environment,
    pub bcrypt_cost: u32,
    /// Create and announce the demo restaurant on start.
    pub demo: bool,
    /// How many live events a slow WebSocket client may fall behind before it is resynced.
    pub event_buffer: usize,
    /// Open WebSockets allowed per client IP; 0 means unlimited.
    pub ws_max_per_ip: usize,
    /// A request head must be complete this long after its first byte.
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_read_timeout: Duration,
    /// How long a connection may wait, idle, for its next request.
    pub idle_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    /// Open client connections in all; 0 = the open-file limit less a reserve.
    pub max_connections: usize,
    /// Open client connections per client IP; 0 = unlimited.
    pub max_connections_per_ip: usize,
    /// Interval between WebSocket pings; a peer silent for two intervals is dropped.
    pub ws_ping_interval_secs: u64,
    pub payments: PaymentsChoice,
    /// Bearer token that opens `/metrics` to non-loopback scrapers.
    pub metrics_token: Option<String>,
    /// Login attempts per minute per account, from all addresses together.
    pub login_account_rate_limit_per_minute: u32,
    /// Toss Payments secret key.
    pub toss_secret_key: Option<String>,
    pub toss_client_key: Option<String>,
    pub toss_api_base: String,
    pub toss_timeout_ms: u64,
    /// How often pending payments and owed refunds are looked at.
    pub payment_sweep_ms: u64,
    /// A pending payment is looked up at the provider once it is this old.
    pub payment_reconcile_after_secs: u64,
    /// First wait before retrying a failed refund (doubles each attempt, up to 10 minutes).
    pub refund_retry_base_ms: u64,
    /// How often the print worker looks for tickets to send.
    pub print_poll_ms: u64,
    /// First wait before sending a ticket again to a printer that did not take it (doubles each
    /// attempt, up to a minute).
    pub print_retry_base_ms: u64,
    /// How often the payment provider is asked whether it can be reached.
    pub provider_probe_ms: u64,
    /// How often the clock is compared with the time that really passed.
    pub clock_check_ms: u64,
    /// This box's own addresses, when given (else read from the kernel): the printed QR
    /// address is checked against them.
    pub interface_addresses: Vec<IpAddr>,
    /// Business time (orders, business days); tests move it forward.
    pub clock: Clock,
}

impl Config {
    pub fn from_args(args: ServeArgs) -> anyhow::Result<Config> {
        let environment = match args.environment.to_ascii_lowercase().as_str() {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => bail!("ENV must be `development` or `production`, not {other:?}"),
        };
        if let Some(secret) = &args.jwt_secret
            && secret.len() < 32
        {
            bail!("JWT_SECRET must be at least 32 characters");
        }
        if environment == Environment::Production && args.demo {
            // The demo owner's login is printed on the console; no place for a real shop.
            bail!("--demo is for trying OrderSync out and cannot run with ENV=production");
        }
        let toss_secret_key = args.toss_secret_key.filter(|k| !k.trim().is_empty());
        check_payments(args.payments, toss_secret_key.is_some(), environment)?;
        let public_base_url = args
            .public_base_url
            .map(|url| normalise_base_url(&url))
            .transpose()?;
        if let Some(url) = &args.redis_url
            && !cfg!(feature = "postgres")
        {
            bail!(
                "REDIS_URL is set ({}), but this binary was built without the `postgres` \
                 feature; rebuild with `cargo build --release --features postgres`",
                redact_url(url)
            );
        }
        let database_url = args.store.database_url();
        if environment == Environment::Production
            && crate::store::is_postgres_url(&database_url)
            && args.jwt_secret.is_none()
        {
            // Instances behind a load balancer must sign with one key; a generated one would
            // differ per instance.
            bail!(
                "ENV=production with PostgreSQL needs JWT_SECRET (at least 32 characters), the \
                 same on every instance"
            );
        }
        Ok(Config {
            database_url,
            redis_url: args.redis_url.filter(|u| !u.trim().is_empty()),
            redis_key_prefix: args.redis_key_prefix,
            data_dir: args.store.data_dir,
            bind: args.bind,
            port: args.port,
            http_port: args.http_port,
            allow_plain_http: args.allow_plain_http,
            tls_cert: args.tls_cert,
            tls_key: args.tls_key,
            public_base_url,
            jwt_secret: args.jwt_secret,
            jwt_expires_in_secs: args.jwt_expires_in,
            rate_limit_per_minute: args.rate_limit_per_minute,
            login_rate_limit_per_minute: args.login_rate_limit_per_minute,
            trusted_proxies: args.trusted_proxies,
            environment,
            bcrypt_cost: args.bcrypt_cost,
            demo: args.demo,
            payments: args.payments,
            metrics_token: args.metrics_token.filter(|t| !t.trim().is_empty()),
            login_account_rate_limit_per_minute: args.login_account_rate_limit_per_minute,
            toss_secret_key,
            toss_client_key: args.toss_client_key.filter(|k| !k.trim().is_empty()),
            toss_api_base: args.toss_api_base,
            toss_timeout_ms: 10_000,
            payment_sweep_ms: args.payment_sweep_seconds.saturating_mul(1000),
            payment_reconcile_after_secs: 180,
            refund_retry_base_ms: 5_000,
            print_poll_ms: 500,
            print_retry_base_ms: 2_000,
            provider_probe_ms: 60_000,
            clock_check_ms: 10_000,
            interface_addresses: args.interface_addresses,
            event_buffer: crate::events::DEFAULT_EVENT_BUFFER,
            ws_max_per_ip: args.ws_max_per_ip,
            header_read_timeout: Duration::from_secs(args.header_read_timeout),
            body_read_timeout: Duration::from_secs(args.body_read_timeout),
            idle_timeout: Duration::from_secs(args.idle_timeout),
            tls_handshake_timeout: Duration::from_secs(args.tls_handshake_timeout),
            max_connections: args.max_connections,
            max_connections_per_ip: args.max_connections_per_ip,
            ws_ping_interval_secs: 25,
            clock: Clock::default(),
        })
    }

    /// Settings for an isolated test server: its own data dir, plain HTTP allowed, cheap bcrypt.
    pub fn for_test(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        Config {
            database_url: data_dir.join("ordersync.db").to_string_lossy().into_owned(),
            data_dir,
            redis_url: None,
            redis_key_prefix: "ordersync".into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            http_port: 0,
            allow_plain_http: true,
            tls_cert: None,
            tls_key: None,
            public_base_url: None,
            jwt_secret: None,
            jwt_expires_in_secs: 3600,
            rate_limit_per_minute: 0,
            login_rate_limit_per_minute: 0,
            trusted_proxies: Vec::new(),
            environment: Environment::Development,
            bcrypt_cost: 4,
            demo: false,
            // Tests pay through the simulated provider unless they point at a fake Toss.
            payments: PaymentsChoice::Simulated,
            metrics_token: None,
            login_account_rate_limit_per_minute: 0,
            toss_secret_key: None,
            toss_client_key: None,
            toss_api_base: "https://api.tosspayments.com".into(),
            toss_timeout_ms: 2_000,
            payment_sweep_ms: 30_000,
            payment_reconcile_after_secs: 180,
            refund_retry_base_ms: 5_000,
            print_poll_ms: 500,
            print_retry_base_ms: 2_000,
            provider_probe_ms: 60_000,
            clock_check_ms: 10_000,
            interface_addresses: Vec::new(),
            event_buffer: crate::events::DEFAULT_EVENT_BUFFER,
            ws_max_per_ip: 0,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 0,
            max_connections_per_ip: 0,
            ws_ping_interval_secs: 25,
            clock: Clock::default(),
        }
    }
}

impl Config {
    pub fn payment_backend(&self) -> PaymentBackend {
        match self.payments {
            PaymentsChoice::Toss => PaymentBackend::Toss,
            PaymentsChoice::Simulated => PaymentBackend::Simulated,
            PaymentsChoice::Off => PaymentBackend::Off,
            PaymentsChoice::Auto if self.toss_secret_key.is_some() => PaymentBackend::Toss,
            PaymentsChoice::Auto if self.demo => PaymentBackend::Simulated,
            PaymentsChoice::Auto => PaymentBackend::Off,
        }
    }
}

/// Refuses combinations that would take fake payments where real ones are expected.
fn check_payments(
    choice: PaymentsChoice,
    has_toss_key: bool,
    environment: Environment,
) -> anyhow::Result<()> {
    match choice {
        PaymentsChoice::Toss if !has_toss_key => {
            bail!(
                "--payments toss needs TOSS_SECRET_KEY (and TOSS_CLIENT_KEY for the checkout page)"
            )
        }
        PaymentsChoice::Simulated if environment == Environment::Production => bail!(
            "--payments simulated marks orders paid without charging anyone and cannot run with \
             ENV=production; set TOSS_SECRET_KEY and TOSS_CLIENT_KEY, or use --payments off \
             (pay at the counter)"
        ),
        PaymentsChoice::Simulated if has_toss_key => bail!(
            "--payments simulated and TOSS_SECRET_KEY are both set; choose one (drop the key to \
             try the test-mode checkout, or drop --payments simulated to take real payments)"
        ),
        _ => Ok(()),
    }
}

pub fn normalise_base_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .with_context(|| format!("PUBLIC_BASE_URL must start with https:// or http://: {url}"))?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        bail!("PUBLIC_BASE_URL must be a base URL like https://192.168.0.10:8443, not {url:?}");
    }
    Ok(trimmed.to_owned())
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("http_port", &self.http_port)
            .field("allow_plain_http", &self.allow_plain_http)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("public_base_url", &self.public_base_url)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_expires_in_secs", &self.jwt_expires_in_secs)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field(
                "login_rate_limit_per_minute",
                &self.login_rate_limit_per_minute,
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .field("environment", &self.environment)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("demo", &self.demo)
            .field("payments", &self.payment_backend())
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "login_account_rate_limit_per_minute",
                &self.login_account_rate_limit_per_minute,
            )
            .field(
                "toss_secret_key",
                &self.toss_secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("toss_client_key", &self.toss_client_key)
            .field("toss_api_base", &self.toss_api_base)
            .field("payment_sweep_ms", &self.payment_sweep_ms)
            .field("print_poll_ms", &self.print_poll_ms)
            .field("print_retry_base_ms", &self.print_retry_base_ms)
            .field("provider_probe_ms", &self.provider_probe_ms)
            .field("clock_check_ms", &self.clock_check_ms)
            .field("interface_addresses", &self.interface_addresses)
            .field("event_buffer", &self.event_buffer)
            .field("ws_max_per_ip", &self.ws_max_per_ip)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("ws_ping_interval_secs", &self.ws_ping_interval_secs)
            .finish()
    }
}

/// Hides the password in `scheme://user:password@host/…` URLs.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}:<redacted>{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secrets() {
        let mut config = Config::for_test("/tmp/x");
        config.jwt_secret = Some("super-secret-signing-key-0123456789".into());
        config.database_url = "postgres://app:hunter2@db/ordersync".into();
        let shown = format!("{config:?}");
        assert!(!shown.contains("super-secret"));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("postgres://app:<redacted>@db/ordersync"));
    }

    #[test]
    fn base_urls_are_normalised() {
        assert_eq!(
            normalise_base_url("https://10.0.0.5:8443/").unwrap(),
            "https://10.0.0.5:8443"
        );
        assert!(normalise_base_url("10.0.0.5").is_err());
        assert!(normalise_base_url("https://").is_err());
    }
}
