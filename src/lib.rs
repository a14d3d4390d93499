//! OrderSync: QR table ordering for restaurants. `main.rs` only parses the command line and
//! calls into here; tests start the same server on ephemeral ports through `run`.

pub mod accounts;
pub mod api;
pub mod app;
pub mod auth;
pub mod blocking;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod live;
pub mod payments;
pub mod qr;
pub mod secrets;
pub mod server;
pub mod store;
pub mod tls;
pub mod web;

use std::future::Future;

use app::AppState;
use config::Config;
use events::{LiveEvent, MenuEvent};
use server::Listeners;

/// Starts OrderSync on already-bound listeners and serves until `shutdown` resolves.
pub async fn run(
    mut config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tls::install_crypto_provider();
    let https_port = listeners.https.local_addr()?.port();
    if config.public_base_url.is_none() {
        config.public_base_url = Some(format!("https://{}:{https_port}", tls::box_host()));
    }
    let tls = {
        let config = config.clone();
        blocking::run(move || prepare_tls(&config)).await?
    };
    let state = AppState::build(config, tls.ca_pem.clone()).await?;
    announce(&state, &listeners);
    if state.config.demo {
        let demo = demo::ensure(&state).await?;
        announce_demo(&state, &demo);
    }
    let watcher = tokio::spawn(housekeeping(state.clone()));
    let payments = tokio::spawn(payments::run_background(state.clone()));
    let result = server::serve(state, tls.server_config, listeners, shutdown).await;
    watcher.abort();
    payments.abort();
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

fn announce_demo(state: &AppState, demo: &demo::Demo) {
    let table_url = state.tables.url(&state.base_url, demo.restaurant_id, "1");
    let password = demo.password.as_deref().unwrap_or(
        "(unknown: the password file is gone; delete the data dir to recreate the demo)",
    );
    // Printed, not logged: this is the one screen a new user must see.
    println!();
    println!("  OrderSync demo — 맛있는 치킨집");
    println!("  Customer, table 1:  {table_url}");
    println!("  Owner dashboard:    {}/owner", state.base_url);
    println!("  Owner login:        {} / {password}", demo.email);
    if state.ca_certificate.is_some() {
        println!(
            "  Trust the box once: http://<this box>:{}/ca.crt",
            state.config.http_port
        );
    }
    println!();
}

fn prepare_tls(config: &Config) -> anyhow::Result<tls::TlsMaterial> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => tls::load_operator_certificate(cert, key),
        _ => {
            let public_host = config
                .public_base_url
                .as_deref()
                .and_then(|url| url.split("://").nth(1))
                .map(|rest| server_host(rest).to_owned());
            let names = tls::local_names(public_host.as_deref());
            tls::load_or_create_local(&config.data_dir.join("tls"), &names)
        }
    }
}

/// `host[:port][/path]` → `host` (IPv6 literals lose their brackets).
fn server_host(authority_and_path: &str) -> &str {
    let authority = authority_and_path.split('/').next().unwrap_or("");
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn announce(state: &AppState, listeners: &Listeners) {
    let base = state.config.public_base_url.as_deref().unwrap_or("");
    let https = listeners.https.local_addr().ok();
    let http = listeners.http.as_ref().and_then(|l| l.local_addr().ok());
    tracing::info!(
        https = ?https,
        http = ?http,
        plain_http = state.config.allow_plain_http,
        public_base_url = base,
        "OrderSync is listening"
    );
}
