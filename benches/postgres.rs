//! OrderSync on PostgreSQL and Redis (feature `postgres`), release servers in their own
//! processes on loopback:
//!
//!     ORDERSYNC_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     ORDERSYNC_BENCH_REDIS_URL=redis://127.0.0.1:6379 \
//!     cargo bench --features postgres --bench postgres
//!
//! - order creation on one instance: authenticated, 3 lines with options, 100 connections,
//!   driven by `wrk` (Debian's package: a separate C process, far lighter than the server);
//! - live events across instances: N subscribers (default 1,000) on instance B's owner feed,
//!   orders created on instance A 10 ms apart; latency from the order's timestamp (taken just
//!   before its commit on A) to the moment a subscriber on B has parsed the message — commit,
//!   Redis and B's fan-out included.
//!
//! Every run uses a fresh PostgreSQL schema and Redis key prefix, dropped afterwards.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use support::{env_usize, percentile, post};

async fn admin(base: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .expect("connecting to ORDERSYNC_BENCH_DATABASE_URL");
    tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = std::env::var("ORDERSYNC_BENCH_DATABASE_URL")
        .expect("ORDERSYNC_BENCH_DATABASE_URL names the PostgreSQL to measure");
    let redis = std::env::var("ORDERSYNC_BENCH_REDIS_URL")
        .expect("ORDERSYNC_BENCH_REDIS_URL names the Redis to measure");
    let subscribers = env_usize("SUBSCRIBERS", 1_000);
    let paced_orders = env_usize("ORDERS", 200);
    let seconds = env_usize("SECONDS", 10) as u64;

    let run = uuid::Uuid::new_v4().simple().to_string();
    let schema = format!("bench_{run}");
    admin(&base, &format!("CREATE SCHEMA {schema}")).await;
    let separator = if base.contains('?') { '&' } else { '?' };
    let database = format!("{base}{separator}options=-csearch_path%3D{schema}");
    let prefix = format!("bench{run}");
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
    ];
    let a = support::launch(4, &env, true);
    let b = support::launch(4, &env, false);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let (owner, _restaurant, customer, order) = support::shop(&a, &client).await;

    // Live events: subscribers on B, orders on A.
    let orders_url = format!("{}/api/v1/orders", a.base);
    let url = format!("{}/ws/restaurants/me/orders?token={owner}", b.ws);
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let mut sockets = Vec::with_capacity(subscribers);
    for chunk in (0..subscribers).collect::<Vec<_>>().chunks(100) {
        let batch = futures_util::future::join_all(chunk.iter().map(|_| {
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true)
        }))
        .await;
        for socket in batch {
            let (mut socket, _) = socket.expect("WebSocket connect");
            socket.next().await.unwrap().unwrap(); // the snapshot
            sockets.push(socket);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let latencies = Arc::new(Mutex::new(Vec::<f64>::with_capacity(
        subscribers * paced_orders,
    )));
    // Only the paced orders count (nothing else should arrive; counted if it does).
    let paced_start = Utc::now();
    let earlier = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            let latencies = latencies.clone();
            let earlier = earlier.clone();
            tokio::spawn(async move {
                let mut own = Vec::with_capacity(paced_orders);
                let deadline = Instant::now() + Duration::from_secs(120);
                while own.len() < paced_orders && Instant::now() < deadline {
                    let Ok(Some(Ok(message))) =
                        tokio::time::timeout(Duration::from_secs(10), socket.next()).await
                    else {
                        break;
                    };
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let received = Utc::now();
                    let value: Value = serde_json::from_str(text.as_str()).unwrap();
                    if value["type"] == "NEW_ORDER"
                        && let Some(at) = value["at"].as_str()
                    {
                        let at: DateTime<Utc> = at.parse().unwrap();
                        if at < paced_start {
                            earlier.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            continue;
                        }
                        own.push((received - at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
                    }
                }
                latencies.lock().await.extend(own);
            })
        })
        .collect();
    for _ in 0..paced_orders {
        post(&client, orders_url.clone(), Some(&customer), order.clone()).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for reader in readers {
        reader.await.unwrap();
    }
    let mut delivered = latencies.lock().await.clone();
    delivered.sort_by(|x, y| x.total_cmp(y));

    // Then order creation on A, by wrk (after: thousands of open orders would make every
    // subscriber's snapshot above large).
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        script.path(),
        format!(
            "wrk.method = \"POST\"\nwrk.body = [[{}]]\nwrk.headers[\"Content-Type\"] = \
             \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {customer}\"\n",
            order
        ),
    )
    .unwrap();
    let run = support::run_wrk(&orders_url, Some(script.path()), 100, seconds);
    let (rps, p50, p99, errors) = (run.requests_per_second, run.p50_ms, run.p99_ms, run.non_2xx);

    println!();
    println!("postgres: release servers on PostgreSQL + Redis, loopback");
    println!("| figure | value |");
    println!("|---|---|");
    println!("| orders created per second, 100 connections (wrk, {seconds} s) | {rps:.0} |");
    println!("| order creation p50 / p99 | {p50:.1} / {p99:.1} ms |");
    println!("| order requests not answered 201 | {errors} |");
    println!("| wrk's own CPU | {:.2} cores |", run.generator_cores);
    println!(
        "| events A→B delivered | {} of {} ({subscribers} subscribers on B, {paced_orders} orders on A 10 ms apart) |",
        delivered.len(),
        subscribers * paced_orders
    );
    println!(
        "| events older than the paced phase delivered meanwhile | {} |",
        earlier.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "| event latency commit on A → subscriber on B, p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        percentile(&delivered, 50.0),
        percentile(&delivered, 99.0),
        delivered.last().copied().unwrap_or(f64::NAN)
    );
    drop(a);
    drop(b);
    admin(&base, &format!("DROP SCHEMA {schema} CASCADE")).await;
}
