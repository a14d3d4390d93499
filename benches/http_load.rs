//! HTTP load benchmark against the release server in its own process, on loopback:
//!
//!     cargo bench --bench http_load          (needs Debian's `wrk`: apt-get install wrk)
//!
//! - start-up: time from spawning `serve --demo` to its first 200, on a fresh data dir and on the
//!   same dir again; idle RSS, binary size;
//! - order creation: authenticated, 3 lines with options, 100 connections, driven by `wrk`;
//! - cached menu GET at 256 connections, driven by `wrk`, against a bare axum handler serving the
//!   same bytes in the same run, in alternation for `ROUNDS` rounds (default 5); the median
//!   of the per-round ratios is the figure that matters, and the bare handler reaching a higher
//!   rate shows the generator is not what limits the server;
//! - login isolation: `/healthz` latency while logins (bcrypt cost 10) run flat out.
//!
//! Every load row prints the CPU the generator (wrk), the server and the bare handler used, in
//! cores: on two cores, what the generator takes is what the server could not have. The server
//! logs at the product's default (`info`, one line per request) into a file.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{WrkRun, cpu_seconds, env_usize, own_cpu_seconds, percentile, rss_kib, run_wrk};
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

fn load_row(name: &str, load: &Load) {
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
    let seconds = env_usize("SECONDS", 10) as u64;

    // Start-up with the demo: a fresh data dir (creates the CA, the database, the demo), then
    // the same dir again (what a box does after a power cut).
    let demo_dir = tempfile::tempdir().unwrap();
    let (mut first, fresh) = support::spawn_demo(demo_dir.path());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status();
    let _ = first.wait();
    let (mut second, existing) = support::spawn_demo(demo_dir.path());
    let _ = second.kill();
    let _ = second.wait();

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
    println!("http_load: release server on loopback (RUST_LOG=info), wrk as the load generator");
    println!();
    println!("| start-up | value |");
    println!("|---|---|");
    println!(
        "| first 200 after spawning `serve --demo`, fresh data dir | {:.1} ms |",
        fresh.as_secs_f64() * 1000.0
    );
    println!(
        "| first 200 after spawning `serve --demo`, existing data dir | {:.1} ms |",
        existing.as_secs_f64() * 1000.0
    );
    println!("| idle RSS | {:.1} MiB |", idle_rss as f64 / 1024.0);
    println!(
        "| binary size | {:.1} MiB |",
        binary as f64 / 1024.0 / 1024.0
    );
    println!();
    println!(
        "| load (wrk, 2 threads) | requests/s | p50 | p99 | non-2xx | wrk CPU | server CPU | bare CPU |"
    );
    println!("|---|---|---|---|---|---|---|---|");

    // Orders: wrk posts the same 3-line order with the customer's token, to one table after
    // another: a shop's orders are spread over its parties, and each order recomputes its own
    // party's tab (one party of thousands of orders would measure that, not the shop).
    let tables = env_usize("TABLES", 100);
    let bodies: Vec<String> = (1..=tables)
        .map(|table| {
            let mut body = order.clone();
            body["table_number"] = json!(table.to_string());
            format!("[[{body}]]")
        })
        .collect();
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        script.path(),
        format!(
            "local bodies = {{ {} }}\nlocal headers = {{ [\"Content-Type\"] = \
             \"application/json\", [\"Authorization\"] = \"Bearer {customer}\" }}\n\
             local i = 0\nrequest = function()\n  i = i % #bodies + 1\n  \
             return wrk.format(\"POST\", nil, headers, bodies[i])\nend\n",
            bodies.join(", ")
        ),
    )
    .unwrap();
    let orders_url = format!("{}/api/v1/orders", server.base);
    let orders = measured(pid, || {
        run_wrk(&orders_url, Some(script.path()), 100, seconds)
    });
    row(
        &format!("POST /orders (3 lines, 100 connections, {tables} tables)"),
        &orders,
    );

    let menu_url = format!("{}/api/v1/restaurants/{restaurant}/menu", server.base);
    let body = setup
        .get(&menu_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let bare_url = bare_axum(body.clone()).await;
    // The machine is shared: a neighbour's load moves both figures by tens of percent within
    // minutes. The ceiling and the server are measured in alternation, ROUNDS times, and the
    // ratio is taken per round (each from runs seconds apart) and reported as the median.
    let rounds = env_usize("ROUNDS", 5).max(1);
    let mut ratios = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        // The bare handler runs in this process: wrk (a child) is on its own.
        let bare = tokio::task::spawn_blocking({
            let bare_url = bare_url.clone();
            move || measured(pid, || run_wrk(&bare_url, None, 256, seconds))
        })
        .await
        .unwrap();
        let cached = tokio::task::spawn_blocking({
            let menu_url = menu_url.clone();
            move || measured(pid, || run_wrk(&menu_url, None, 256, seconds))
        })
        .await
        .unwrap();
        row(
            &format!(
                "GET bare axum, same {} bytes (256 connections), round {round}",
                body.len()
            ),
            &bare,
        );
        row(
            &format!("GET /restaurants/{{id}}/menu cached (256 connections), round {round}"),
            &cached,
        );
        ratios.push(100.0 * cached.run.requests_per_second / bare.run.requests_per_second);
    }
    let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.0} %")).collect();
    ratios.sort_by(|a, b| a.total_cmp(b));
    println!(
        "| menu GET / bare axum, median of {rounds} rounds ({}) | {:.0} % | | | | | | |",
        listed.join(", "),
        ratios[ratios.len() / 2]
    );

    // Logins burn bcrypt on the blocking pool; ordinary requests must keep flowing. (A latency
    // probe over one connection: the client is not the limit here.)
    println!();
    println!("| isolation | requests/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|");
    let probe = client(1);
    let health = format!("{}/healthz", server.base);
    let quiet = run_load(
        1,
        usize::MAX,
        Duration::from_secs(seconds / 2),
        get_once(probe.clone(), health.clone()),
    )
    .await;
    let login_url = format!("{}/api/v1/auth/login", server.base);
    let logins = tokio::spawn({
        let http = client(16);
        run_load(
            16,
            usize::MAX,
            Duration::from_secs(seconds / 2 + 1),
            move || {
                let req = http.post(login_url.clone()).json(&json!({
                    "email": support::OWNER_EMAIL, "password": support::OWNER_PASSWORD
                }));
                async move { req.send().await.is_ok_and(|r| r.status() == 200) }
            },
        )
    });
    let busy = run_load(
        1,
        usize::MAX,
        Duration::from_secs(seconds / 2),
        get_once(probe, health),
    )
    .await;
    let logins = logins.await.unwrap();
    load_row("GET /healthz, idle", &quiet);
    load_row("GET /healthz, during 16 concurrent logins", &busy);
    load_row("POST /auth/login (bcrypt cost 10, 16 concurrent)", &logins);
    println!();
    println!(
        "server RSS after the run: {:.1} MiB",
        rss_kib(pid) as f64 / 1024.0
    );
}

/// A wrk run with the CPU the server and this process (the bare handler) used meanwhile.
struct Measured {
    run: WrkRun,
    server_cores: f64,
    bare_cores: f64,
}

fn measured(server: u32, run: impl FnOnce() -> WrkRun) -> Measured {
    let (server_before, own_before) = (cpu_seconds(server), own_cpu_seconds());
    let run = run();
    Measured {
        server_cores: (cpu_seconds(server) - server_before) / run.seconds,
        bare_cores: (own_cpu_seconds() - own_before) / run.seconds,
        run,
    }
}

fn row(name: &str, m: &Measured) {
    println!(
        "| {name} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.2} cores | {:.2} cores | {:.2} cores |",
        m.run.requests_per_second,
        m.run.p50_ms,
        m.run.p99_ms,
        m.run.non_2xx,
        m.run.generator_cores,
        m.server_cores,
        m.bare_cores,
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
