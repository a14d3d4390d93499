//! Connection hygiene on a shop network the box does not control: slow and idle clients are
//! closed after their timeouts, and a flood of them cannot starve health checks, the owner, or
//! the database of file descriptors.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::TestApp;
use crate::process::{
    free_port, ordersync_at, ordersync_with_file_limit, run_with_stdin, terminate, wait_for_http,
};

/// Reads until the server closes the connection; how long after `since` that was (`None`:
/// still open at `limit` after `since`).
async fn closed_after(stream: &mut TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((since + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => {} // a response or an error page; the close follows
        }
    }
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_after_their_timeouts() {
    let app = TestApp::spawn_with(|c| {
        c.header_read_timeout = Duration::from_millis(800);
        c.idle_timeout = Duration::from_millis(2000);
    })
    .await;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, app.http_port));

    // A slow-loris: starts a request and trickles a header line now and then.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\n")
        .await
        .unwrap();
    let (mut slow_read, mut slow_write) = slow.into_split();
    let trickle = tokio::spawn(async move {
        for i in 0..40 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow_write
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    // A client that connects and says nothing.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    // A keep-alive client that made one request and then went quiet.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 64];
    let n = kept.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &head[..n]);

    // Meanwhile everyone else is served.
    for _ in 0..4 {
        assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let slow_closed = {
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), slow_read.read(&mut buf)).await {
                Err(_) => panic!("the slow client was never closed"),
                Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
                Ok(Ok(_)) => {}
            }
        }
    };
    trickle.abort();
    // Counted from its first byte, less the ~0.5 s of normal requests above.
    assert!(
        slow_closed < Duration::from_millis(1500),
        "slow client closed after {slow_closed:?}"
    );
    let silent_closed = closed_after(&mut silent, opened, Duration::from_secs(6))
        .await
        .expect("the silent client was never closed");
    let kept_closed = closed_after(&mut kept, opened, Duration::from_secs(6))
        .await
        .expect("the idle keep-alive connection was never closed");
    // Both idle ones are closed by the idle timeout (2 s), not the shorter header timeout.
    for (who, after) in [("silent", silent_closed), ("keep-alive", kept_closed)] {
        assert!(
            after > Duration::from_millis(1700) && after < Duration::from_millis(3500),
            "{who} client closed after {after:?}"
        );
    }
    let metrics = app.metrics_text().await;
    let timed_out: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("http_connections_timed_out_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(timed_out >= 3, "{metrics}");
}

/// A connection that starts a request and then trickles; reports whether the server closed it
/// within `limit`.
async fn hang_on(from: Ipv4Addr, to: SocketAddr, slow: bool, limit: Duration) -> Option<bool> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((from, 0))).ok()?;
    let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(to))
        .await
        .ok()?
        .ok()?;
    let (mut read, mut write) = stream.into_split();
    let deadline = tokio::time::Instant::now() + limit;
    let writer = tokio::spawn(async move {
        if !slow {
            return;
        }
        let _ = write.write_all(b"GET /healthz HTTP/1.1\r\n").await;
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if write
                .write_all(format!("X-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut buf = [0u8; 512];
    let closed = loop {
        match tokio::time::timeout_at(deadline, read.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => {}
        }
    };
    writer.abort();
    Some(closed)
}

#[tokio::test]
async fn two_thousand_idle_connections_cannot_starve_a_box_with_1024_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let created = run_with_stdin(
        ordersync_at(dir.path()).args([
            "create-owner",
            "--data-dir",
            data,
            "--email",
            "flood@example.com",
            "--name",
            "사장님",
            "--restaurant",
            "홍수 식당",
            "--password-stdin",
        ]),
        "owner-password\n",
    );
    assert!(created.status.success(), "{created:?}");
    let (https, http) = (free_port(), free_port());
    let mut server = ordersync_with_file_limit(1024)
        .env("DATABASE_URL", crate::backend::database_url(dir.path()))
        .args(["serve", "--data-dir", data, "--bind", "127.0.0.1"])
        .args(["--port", &https.to_string()])
        .args(["--http-port", &http.to_string()])
        .args(["--header-read-timeout", "2", "--idle-timeout", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_http(http);

    // 2,000 connections from 40 loopback addresses (50 each, under the per-IP cap): half of
    // them trickle request headers, half never send a byte.
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, http));
    let started = Instant::now();
    let mut flood = tokio::task::JoinSet::new();
    for n in 0..2000u32 {
        let from = Ipv4Addr::new(127, 0, 0, 2 + (n % 40) as u8);
        flood.spawn(hang_on(from, target, n % 2 == 0, Duration::from_secs(20)));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // While they are open: health checks and the owner (HTTPS, reading and writing the
    // database) are answered.
    let plain = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let ca = std::fs::read(dir.path().join("tls/ca.crt")).unwrap();
    let owner_client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    for _ in 0..3 {
        let health = plain
            .get(format!("http://127.0.0.1:{http}/healthz"))
            .send()
            .await
            .expect("/healthz answered during the flood");
        assert_eq!(health.status(), StatusCode::OK);
        let login = owner_client
            .post(format!("https://localhost:{https}/api/v1/auth/login"))
            .json(&json!({"email": "flood@example.com", "password": "owner-password"}))
            .send()
            .await
            .expect("the owner's login answered during the flood");
        assert_eq!(login.status(), StatusCode::OK);
        let token = login.json::<serde_json::Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let settings = owner_client
            .get(format!("https://localhost:{https}/api/v1/restaurants/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(settings.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Every flooding connection is closed: by its timeout, or to make room for a newer one.
    let (mut connected, mut closed) = (0, 0);
    while let Some(outcome) = flood.join_next().await {
        if let Some(was_closed) = outcome.unwrap() {
            connected += 1;
            closed += usize::from(was_closed);
        }
    }
    assert!(connected >= 1900, "only {connected} of 2000 connected");
    assert_eq!(closed, connected, "some connections were never closed");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let health = plain
        .get(format!("http://127.0.0.1:{http}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(terminate(&mut server).success());
}

#[tokio::test]
async fn shutdown_closes_idle_connections_at_once_and_finishes_the_request_in_flight() {
    let app = TestApp::spawn().await;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, app.http_port));
    // A keep-alive connection, idle after its request.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 64];
    let n = idle.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &head[..n]);
    // A request in flight: its head sent, its body only begun.
    let body = br#"{"email":"nobody@example.com","password":"not-the-password"}"#;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    let request_head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: box\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    busy.write_all(request_head.as_bytes()).await.unwrap();
    busy.write_all(&body[..10]).await.unwrap();
    // A client that opened the HTTPS port and never began its TLS handshake.
    let _silent = TcpStream::connect((Ipv4Addr::LOCALHOST, app.https_port))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stopping = Instant::now();
    let stopped = tokio::spawn(app.stop());
    let idle_closed = closed_after(&mut idle, stopping, Duration::from_secs(5)).await;
    assert!(
        idle_closed.is_some(),
        "an idle connection holds up the shutdown"
    );
    // No new connections once the listener stopped accepting.
    let refused = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), refused)
        .await
        .expect("the listener still accepts during shutdown");
    assert!(
        !stopped.is_finished(),
        "stopped before the request in flight was answered"
    );

    busy.write_all(&body[10..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), busy.read_to_end(&mut answer))
        .await
        .expect("the request in flight is answered and its connection closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"code\":\"UNAUTHORIZED\""), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the server stops once the last request is answered")
        .unwrap();
}
