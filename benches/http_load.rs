//! HTTP load benchmark against the release server in its own process, on loopback:
//!
//!     cargo bench --bench http_load
//!
//! - start-up: time from spawning the process to the first 200, idle RSS, binary size;
//! - order creation: authenticated, 3 lines with options, 100 concurrent connections;
//! - cached menu GET at 256 connections, against a bare axum handler serving the same bytes
//!   (same client, same machine, same run: the ratio is the figure that matters);
//! - login isolation: `/healthz` latency while logins (bcrypt cost 10) run flat out.
//!
//! The load generator shares the machine's two cores with the server, so absolute figures are
//! lower bounds of throughput and upper bounds of latency.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{env_usize, percentile, rss_kib};
use tokio::sync::Mutex;

fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()
        .unwrap()
}

struct Load {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<f64>,
    errors: usize,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `make` from `workers` tasks until `total` requests are done or `duration` has passed.
async fn run_load<F, Fut>(workers: usize, total: usize, duration: Duration, make: F) -> Load
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let make = Arc::new(make);
    let issued = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total.min(1_000_000))));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (make, issued, errors, latencies) = (
                make.clone(),
                issued.clone(),
                errors.clone(),
                latencies.clone(),
            );
            tokio::spawn(async move {
                let mut own = Vec::new();
                while issued.fetch_add(1, Ordering::Relaxed) < total && started.elapsed() < duration
                {
                    let at = Instant::now();
                    if !make().await {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    own.push(at.elapsed().as_secs_f64() * 1000.0);
                }
                latencies.lock().await.extend(own);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let mut latencies = Arc::try_unwrap(latencies).unwrap().into_inner();
    latencies.sort_by(|a, b| a.total_cmp(b));
    Load {
        requests: latencies.len(),
        elapsed,
        latencies,
        errors: errors.load(Ordering::Relaxed),
    }
}

fn row(name: &str, load: &Load) {
    println!(
        "| {name} | {:.0} req/s | {:.2} ms | {:.2} ms | {} of {} |",
        load.per_second(),
        percentile(&load.latencies, 50.0),
        percentile(&load.latencies, 99.0),
        load.errors,
        load.requests
    );
}

/// The same bytes from a bare axum handler, for the ratio.
async fn bare_axum(body: bytes::Bytes) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/menu",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/menu")
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let orders = env_usize("ORDERS", 20_000);
    let seconds = Duration::from_secs(env_usize("SECONDS", 10) as u64);
    let server = support::start_server(10);
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_kib(pid);
    let binary = std::fs::metadata(env!("CARGO_BIN_EXE_ordersync"))
        .map(|m| m.len())
        .unwrap_or(0);
    let setup = client(4);
    let (_owner, restaurant, customer, order) = support::shop(&server, &setup).await;

    println!();
    println!("http_load: release server on loopback, load generator in the same machine");
    println!();
    println!("| start-up | value |");
    println!("|---|---|");
    println!(
        "| first 200 after spawn | {:.1} ms |",
        server.first_response.as_secs_f64() * 1000.0
    );
    println!("| idle RSS | {:.1} MiB |", idle_rss as f64 / 1024.0);
    println!(
        "| binary size | {:.1} MiB |",
        binary as f64 / 1024.0 / 1024.0
    );
    println!();
    println!("| load | throughput | p50 | p99 | errors |");
    println!("|---|---|---|---|---|");

    let http = client(100);
    let url = format!("{}/api/v1/orders", server.base);
    let load = run_load(100, orders, Duration::from_secs(120), {
        let (http, url, customer, order) =
            (http.clone(), url.clone(), customer.clone(), order.clone());
        move || {
            let req = http.post(url.clone()).bearer_auth(&customer).json(&order);
            async move { req.send().await.is_ok_and(|r| r.status() == 201) }
        }
    })
    .await;
    row("POST /orders (3 lines, 100 connections)", &load);

    let http = client(256);
    let menu_url = format!("{}/api/v1/restaurants/{restaurant}/menu", server.base);
    let body = http
        .get(&menu_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let bare_url = bare_axum(body.clone()).await;
    let get = |url: String| {
        let http = http.clone();
        move || {
            let req = http.get(url.clone());
            async move {
                match req.send().await {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        }
    };
    let bare = run_load(256, usize::MAX, seconds, get(bare_url)).await;
    let cached = run_load(256, usize::MAX, seconds, get(menu_url)).await;
    row("GET bare axum, same bytes (256 connections)", &bare);
    row(
        "GET /restaurants/{id}/menu cached (256 connections)",
        &cached,
    );
    println!(
        "| menu GET / bare axum | {:.0} % | | | |",
        100.0 * cached.per_second() / bare.per_second()
    );

    // Logins burn bcrypt on the blocking pool; ordinary requests must keep flowing.
    let probe = client(1);
    let health = format!("{}/healthz", server.base);
    let quiet = run_load(
        1,
        usize::MAX,
        seconds / 2,
        get_once(probe.clone(), health.clone()),
    )
    .await;
    let login_url = format!("{}/api/v1/auth/login", server.base);
    let logins = tokio::spawn({
        let http = client(16);
        run_load(
            16,
            usize::MAX,
            seconds / 2 + Duration::from_secs(1),
            move || {
                let req = http.post(login_url.clone()).json(&json!({
                    "email": support::OWNER_EMAIL, "password": support::OWNER_PASSWORD
                }));
                async move { req.send().await.is_ok_and(|r| r.status() == 200) }
            },
        )
    });
    let busy = run_load(1, usize::MAX, seconds / 2, get_once(probe, health)).await;
    let logins = logins.await.unwrap();
    row("GET /healthz, idle", &quiet);
    row("GET /healthz, during 16 concurrent logins", &busy);
    row("POST /auth/login (bcrypt cost 10, 16 concurrent)", &logins);
    println!(
        "| server RSS after the run | {:.1} MiB | | | |",
        rss_kib(pid) as f64 / 1024.0
    );
}

fn get_once(
    http: reqwest::Client,
    url: String,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync + 'static
{
    move || {
        let req = http.get(url.clone());
        Box::pin(async move { req.send().await.is_ok_and(|r| r.status() == 200) })
    }
}
