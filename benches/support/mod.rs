//! What the benchmarks share: starting the release `ordersync` binary in its own process on
//! loopback, with an owner, a menu and a customer, and reading figures off it.
#![allow(dead_code)] // each benchmark uses a different part

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub ws: String,
    /// From spawning the process to its first 200 on `/healthz`.
    pub first_response: Duration,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

pub const OWNER_EMAIL: &str = "bench@example.com";
pub const OWNER_PASSWORD: &str = "bench-password";

/// Starts the server with rate limiting off, on an owner made with `bcrypt_cost`.
pub fn start_server(bcrypt_cost: u32) -> Server {
    launch(bcrypt_cost, &[], true)
}

/// Starts a server with `env` (e.g. `DATABASE_URL`, `REDIS_URL`); makes the owner first
/// unless another instance on the same database already did.
pub fn launch(bcrypt_cost: u32, env: &[(&str, &str)], create_owner: bool) -> Server {
    let bin = env!("CARGO_BIN_EXE_ordersync");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    if create_owner {
        make_owner(bin, &data, bcrypt_cost, env);
    }
    serve(bin, dir, env)
}

fn make_owner(bin: &str, data: &str, bcrypt_cost: u32, env: &[(&str, &str)]) {
    let mut create = Command::new(bin)
        .envs(env.iter().copied())
        .args(["create-owner", "--data-dir", data, "--email", OWNER_EMAIL])
        .args([
            "--name",
            "Bench",
            "--restaurant",
            "벤치 치킨",
            "--password-stdin",
        ])
        .args(["--bcrypt-cost", &bcrypt_cost.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{OWNER_PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(create.wait().unwrap().success());
}

fn serve(bin: &str, dir: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
    let data = dir.path().to_str().unwrap().to_owned();
    let (https, http) = (free_port(), free_port());
    let started = Instant::now();
    let child = Command::new(bin)
        .envs(env.iter().copied())
        .args(["serve", "--data-dir", &data, "--bind", "127.0.0.1"])
        .args([
            "--port",
            &https.to_string(),
            "--http-port",
            &http.to_string(),
        ])
        .args(["--allow-plain-http", "--rate-limit-per-minute", "0"])
        .args(["--login-rate-limit-per-minute", "0", "--ws-max-per-ip", "0"])
        // Every simulated client comes from 127.0.0.1.
        .args(["--max-connections-per-ip", "0"])
        // The product's default logging (one line per request), written to a file as a
        // service manager would take it: what it costs is part of every figure.
        .env(
            "RUST_LOG",
            std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let first_response = loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        if let Ok(mut stream) = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, http)) {
            use std::io::Read;
            let _ =
                stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1.1 200") {
                break started.elapsed();
            }
        }
        std::thread::park_timeout(Duration::from_millis(1));
    };
    Server {
        child,
        base: format!("http://127.0.0.1:{http}"),
        ws: format!("ws://127.0.0.1:{http}"),
        first_response,
        _data: dir,
    }
}

pub async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> Value {
    let mut req = client.post(url).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    res.json().await.unwrap()
}

/// A PREPAY→POSTPAY restaurant with one item with options; returns (owner token, restaurant
/// id, customer token, a 3-line order body).
pub async fn shop(server: &Server, client: &reqwest::Client) -> (String, String, String, Value) {
    let login = post(
        client,
        format!("{}/api/v1/auth/login", server.base),
        None,
        json!({"email": OWNER_EMAIL, "password": OWNER_PASSWORD}),
    )
    .await;
    let owner = login["access_token"].as_str().unwrap().to_owned();
    let restaurant = login["user"]["restaurant_id"].as_str().unwrap().to_owned();
    let menu = json!({"categories": [{"name": "치킨", "items": [
        {"name": "후라이드", "price": 18000, "description": "바삭한 후라이드", "options": [
            {"name": "맛", "choices": ["순한맛", "매운맛"], "required": true, "price_deltas": {"매운맛": 500}},
            {"name": "추가", "choices": ["치즈", "떡"], "multiple": true, "price_deltas": {"치즈": 2000}}]},
        {"name": "양념", "price": 19000}, {"name": "콜라", "price": 2000}]}]});
    let menu: Value = client
        .put(format!("{}/api/v1/restaurants/me/menu", server.base))
        .bearer_auth(&owner)
        .json(&menu)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    client
        .patch(format!("{}/api/v1/restaurants/me", server.base))
        .bearer_auth(&owner)
        // Registered customers name their table freely here (no QR signature in a benchmark).
        .json(&json!({"payment_mode": "POSTPAY", "table_verification": "OPEN"}))
        .send()
        .await
        .unwrap();
    let customer = post(
        client,
        format!("{}/api/v1/auth/register", server.base),
        None,
        json!({"email": "diner@example.com", "password": "diner-password", "name": "손님"}),
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let items = &menu["categories"][0]["items"];
    let fried = &items[0];
    let order = json!({"restaurant_id": restaurant, "table_number": "1", "items": [
        {"menu_id": fried["id"], "quantity": 2, "options": [
            {"option_id": fried["options"][0]["id"], "choice": "매운맛"},
            {"option_id": fried["options"][1]["id"], "choice": "치즈"}]},
        {"menu_id": items[1]["id"], "quantity": 1},
        {"menu_id": items[2]["id"], "quantity": 3}]});
    (owner, restaurant, customer, order)
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_ticks(&format!("/proc/{pid}/stat"), 13, 14)
}

/// CPU seconds used by this process's children that have been waited for (e.g. wrk).
pub fn children_cpu_seconds() -> f64 {
    stat_ticks("/proc/self/stat", 15, 16)
}

/// CPU seconds used by this process itself (e.g. the bare axum handler in it).
pub fn own_cpu_seconds() -> f64 {
    stat_ticks("/proc/self/stat", 13, 14)
}

fn stat_ticks(path: &str, first: usize, second: usize) -> f64 {
    // Fields after the command name (which may hold spaces) start at index 2.
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let after = text.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| -> f64 {
        fields
            .get(i - 2)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    // Linux reports these in clock ticks of 1/100 s (USER_HZ).
    (field(first) + field(second)) / 100.0
}

/// What one wrk run measured, with the CPU it and the server used.
pub struct WrkRun {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
    pub seconds: f64,
    /// CPU seconds wrk itself used, per second of the run (1.0 = one core).
    pub generator_cores: f64,
}

/// Runs Debian's `wrk` (2 threads) at `url` with an optional Lua `script`.
pub fn run_wrk(
    url: &str,
    script: Option<&std::path::Path>,
    connections: usize,
    seconds: u64,
) -> WrkRun {
    let before = children_cpu_seconds();
    let started = Instant::now();
    let mut command = Command::new("wrk");
    command
        .args([
            "-t",
            "2",
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
        ])
        .arg("--latency");
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let out = command
        .arg(url)
        .output()
        .expect("wrk (apt-get install wrk)");
    let elapsed = started.elapsed().as_secs_f64();
    let generator = children_cpu_seconds() - before;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let millis = |line: &str| -> f64 {
        let value = line.split_whitespace().last().unwrap_or("0");
        if let Some(ms) = value.strip_suffix("ms") {
            ms.parse().unwrap_or(f64::NAN)
        } else if let Some(us) = value.strip_suffix("us") {
            us.parse::<f64>().unwrap_or(f64::NAN) / 1000.0
        } else if let Some(s) = value.strip_suffix('s') {
            s.parse::<f64>().unwrap_or(f64::NAN) * 1000.0
        } else {
            f64::NAN
        }
    };
    let find = |prefix: &str| text.lines().find(|l| l.trim_start().starts_with(prefix));
    WrkRun {
        requests_per_second: find("Requests/sec:")
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN),
        p50_ms: find("50%").map(millis).unwrap_or(f64::NAN),
        p99_ms: find("99%").map(millis).unwrap_or(f64::NAN),
        non_2xx: find("Non-2xx or 3xx responses:")
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        seconds: elapsed,
        generator_cores: generator / elapsed,
    }
}

/// Spawns `serve --demo` on `data_dir` (fresh or from an earlier run) and measures the time from
/// spawning to the first 200 of the demo menu's public page (`/healthz` first, then the menu).
#[allow(clippy::zombie_processes)] // returned to the caller, which waits for it
pub fn spawn_demo(data_dir: &std::path::Path) -> (Child, Duration) {
    let bin = env!("CARGO_BIN_EXE_ordersync");
    let (https, http) = (free_port(), free_port());
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["serve", "--demo", "--data-dir"])
        .arg(data_dir)
        .args(["--bind", "127.0.0.1", "--port", &https.to_string()])
        .args(["--http-port", &http.to_string()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server did not start");
        }
        if let Ok(mut stream) = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, http)) {
            use std::io::Read;
            let _ =
                stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1.1 200") {
                return (child, started.elapsed());
            }
        }
        std::thread::park_timeout(Duration::from_millis(1));
    }
}
