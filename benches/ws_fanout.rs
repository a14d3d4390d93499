//! Live-event fan-out benchmark: N WebSocket subscribers on one restaurant's owner feed,
//! orders created over HTTP, delivery latency measured per subscriber.
//!
//!     cargo bench --bench ws_fanout                      # 1,000 subscribers
//!     SUBSCRIBERS=5000 cargo bench --bench ws_fanout
//!
//! The server is the release `ordersync` binary in its own process (so its RSS is its own),
//! with plain HTTP on loopback, rate limiting off and no per-IP connection cap. Latency is
//! from the order's creation timestamp (`at`, taken just before its transaction commits) to
//! the moment a subscriber has read and parsed the message; it includes the commit itself.
//! Client and server share the machine's cores, so figures are upper bounds.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use support::{cpu_seconds, env_usize, own_cpu_seconds, percentile, post, rss_kib};

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let subscribers = env_usize("SUBSCRIBERS", 1_000);
    let paced_orders = env_usize("ORDERS", 200);
    let burst_orders = env_usize("BURST_ORDERS", 1_000);
    let server = support::start_server(4);
    let pid = server.child.id();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let (owner, _restaurant, customer, order) = support::shop(&server, &client).await;

    let rss_before = rss_kib(pid);
    let url = format!("{}/ws/restaurants/me/orders?token={owner}", server.ws);
    let config = WebSocketConfig::default().read_buffer_size(4096);
    // (paced?, latency ms) per delivered message.
    let latencies = Arc::new(Mutex::new(Vec::<(bool, f64)>::with_capacity(
        subscribers * (paced_orders + burst_orders),
    )));
    let connect_started = Instant::now();
    let mut sockets = Vec::with_capacity(subscribers);
    for chunk in (0..subscribers).collect::<Vec<_>>().chunks(100) {
        let batch = futures_util::future::join_all(chunk.iter().map(|_| {
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true)
        }))
        .await;
        for socket in batch {
            let (mut socket, _) = socket.expect("WebSocket connect");
            // The snapshot.
            socket.next().await.unwrap().unwrap();
            sockets.push(socket);
        }
    }
    let connect_time = connect_started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(pid);

    let expected = paced_orders + burst_orders;
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            let latencies = latencies.clone();
            tokio::spawn(async move {
                let mut own = Vec::with_capacity(expected);
                // Order events are numbered 1..=expected; a subscriber too slow for the bus
                // gets a SNAPSHOT instead of what it missed, which is progress but no delivery.
                let mut seen_seq = 0;
                let mut resyncs = 0;
                while seen_seq < expected as i64 {
                    let Some(Ok(message)) = socket.next().await else {
                        break;
                    };
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let received = Utc::now();
                    let value: Value = serde_json::from_str(text.as_str()).unwrap();
                    seen_seq = value["seq"].as_i64().unwrap_or(seen_seq);
                    if value["type"] == "SNAPSHOT" {
                        resyncs += 1;
                    } else if let Some(at) = value["at"].as_str() {
                        let at: DateTime<Utc> = at.parse().unwrap();
                        let ms = (received - at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                        own.push((own.len() < paced_orders, ms));
                    }
                }
                let delivered = own.len();
                latencies.lock().await.extend(own);
                (delivered, resyncs)
            })
        })
        .collect();

    let orders_url = format!("{}/api/v1/orders", server.base);
    for _ in 0..paced_orders {
        post(&client, orders_url.clone(), Some(&customer), order.clone()).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let burst_started = Instant::now();
    // Who used the two cores during the burst: the server, or the subscribers parsing in here.
    let cpu_before = (cpu_seconds(pid), own_cpu_seconds());
    let mut pending = futures_util::stream::iter(0..burst_orders)
        .map(|_| post(&client, orders_url.clone(), Some(&customer), order.clone()))
        .buffer_unordered(32);
    while pending.next().await.is_some() {}
    let (mut delivered, mut resyncs) = (0, 0);
    for reader in readers {
        let (own, own_resyncs) = reader.await.unwrap();
        delivered += own;
        resyncs += own_resyncs;
    }
    let burst_elapsed = burst_started.elapsed();
    let burst_cpu = (
        cpu_seconds(pid) - cpu_before.0,
        own_cpu_seconds() - cpu_before.1,
    );

    let all = latencies.lock().await.clone();
    let sorted = |paced: bool| {
        let mut v: Vec<f64> = all
            .iter()
            .filter(|(p, _)| *p == paced)
            .map(|(_, ms)| *ms)
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    };
    let (paced, burst) = (sorted(true), sorted(false));
    println!();
    println!("ws_fanout: {subscribers} subscribers on one owner feed, release server on loopback");
    println!("| figure | value |");
    println!("|---|---|");
    println!("| subscribers | {subscribers} |");
    println!(
        "| connect + snapshot, all subscribers | {:.2} s |",
        connect_time.as_secs_f64()
    );
    println!(
        "| events published | {expected} ({paced_orders} paced 10 ms apart, {burst_orders} in a burst of 32 concurrent) |"
    );
    println!(
        "| messages delivered | {delivered} of {} |",
        expected * subscribers
    );
    println!("| lagging subscribers resynced by a snapshot | {resyncs} |");
    for (name, values) in [("paced", &paced), ("burst", &burst)] {
        println!(
            "| {name} delivery latency p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
            percentile(values, 50.0),
            percentile(values, 99.0),
            values.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!(
        "| burst: orders/s, deliveries/s | {:.0}, {:.0} |",
        burst_orders as f64 / burst_elapsed.as_secs_f64(),
        all.iter().filter(|(paced, _)| !paced).count() as f64 / burst_elapsed.as_secs_f64()
    );
    println!(
        "| burst: CPU of the server / of the subscribers' process | {:.2} / {:.2} cores |",
        burst_cpu.0 / burst_elapsed.as_secs_f64(),
        burst_cpu.1 / burst_elapsed.as_secs_f64()
    );
    println!(
        "| server RSS before subscribers | {:.1} MiB |",
        rss_before as f64 / 1024.0
    );
    println!(
        "| server RSS with subscribers idle | {:.1} MiB |",
        rss_idle as f64 / 1024.0
    );
    println!(
        "| server RSS per idle subscriber | {:.1} KiB |",
        (rss_idle.saturating_sub(rss_before)) as f64 / subscribers as f64
    );
    println!(
        "| server RSS after the run | {:.1} MiB |",
        rss_kib(pid) as f64 / 1024.0
    );
    drop(server);
}
