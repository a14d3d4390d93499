//! Several `ordersync serve` processes on one PostgreSQL and one Redis, as behind a load
//! balancer (feature `postgres`; run when `ORDERSYNC_TEST_DATABASE_URL` and
//! `ORDERSYNC_TEST_REDIS_URL` name them). Each test gets its own schema and Redis key prefix.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_toss::{CLIENT_KEY, Endpoint, FakeToss, SECRET_KEY};
use crate::helpers::{Seen, into_response, next_json, next_order_json, next_seen, test_menu};
use crate::process::{free_port, ordersync_at, terminate, wait_for_http};

/// One server process of the cluster.
struct Instance {
    base: String,
    http_port: u16,
    child: Child,
}

impl Instance {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cluster {
    instances: Vec<Instance>,
    database_url: String,
    client: reqwest::Client,
    _dirs: Vec<tempfile::TempDir>,
}

/// The shared Redis URL; `None` (the test says so and returns) unless PostgreSQL and Redis are
/// named. CI names both for the `postgres` build, where these tests are compiled.
fn backends() -> Option<String> {
    let (Some(_), Some(redis)) = (
        crate::backend::postgres_base(),
        crate::backend::redis_base(),
    ) else {
        eprintln!("skipped: needs ORDERSYNC_TEST_DATABASE_URL and ORDERSYNC_TEST_REDIS_URL");
        return None;
    };
    Some(redis)
}

impl Cluster {
    /// Starts `count` instances sharing one database schema and one Redis key prefix.
    fn start(count: usize, redis: &str, extra: &[&str], env: &[(&str, &str)]) -> Cluster {
        ordersync::tls::install_crypto_provider();
        let schema_dir = tempfile::tempdir().unwrap();
        // The first instance's dir names the schema; every instance is pointed at it.
        let database_url = crate::backend::database_url(schema_dir.path());
        let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
        let mut dirs = vec![schema_dir];
        let mut instances = Vec::new();
        for _ in 0..count {
            let dir = tempfile::tempdir().unwrap();
            let (https, http) = (free_port(), free_port());
            let child = ordersync_at(dir.path())
                .env("DATABASE_URL", &database_url)
                .env("REDIS_URL", redis)
                .env("REDIS_KEY_PREFIX", &prefix)
                .envs(env.iter().copied())
                .args(["serve", "--data-dir", dir.path().to_str().unwrap()])
                .args(["--bind", "127.0.0.1", "--allow-plain-http"])
                .args([
                    "--port",
                    &https.to_string(),
                    "--http-port",
                    &http.to_string(),
                ])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
                .spawn()
                .unwrap();
            instances.push(Instance {
                base: format!("http://127.0.0.1:{http}"),
                http_port: http,
                child,
            });
            dirs.push(dir);
        }
        for (instance, dir) in instances.iter_mut().zip(&dirs[1..]) {
            let deadline = Instant::now() + Duration::from_secs(30);
            while std::net::TcpStream::connect(("127.0.0.1", instance.http_port)).is_err() {
                let exited = instance.child.try_wait().unwrap();
                if exited.is_some() || Instant::now() > deadline {
                    let log =
                        std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                    panic!("instance did not start ({exited:?}):\n{log}");
                }
                std::thread::park_timeout(Duration::from_millis(50));
            }
        }
        Cluster {
            instances,
            database_url,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            _dirs: dirs,
        }
    }

    fn at(&self, n: usize) -> &Instance {
        &self.instances[n % self.instances.len()]
    }

    async fn call(
        &self,
        n: usize,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> crate::helpers::Response {
        let mut req = self.client.request(method, self.at(n).url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        into_response(req.send().await.unwrap()).await
    }

    async fn get(&self, n: usize, path: &str, token: Option<&str>) -> crate::helpers::Response {
        self.call(n, reqwest::Method::GET, path, token, None).await
    }

    async fn post(
        &self,
        n: usize,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> crate::helpers::Response {
        self.call(n, reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// An owner with the test menu in `mode`, made through instance 0; returns (owner token,
    /// restaurant id, menu).
    async fn shop(&self, email: &str, mode: &str) -> (String, String, Value) {
        let bus = std::sync::Arc::new(ordersync::events::LocalBus::new(1));
        let store = ordersync::store::connect(&self.database_url, bus)
            .await
            .unwrap();
        let passwords = ordersync::auth::password::PasswordHasher::new(4).unwrap();
        let account = ordersync::accounts::NewAccount {
            email,
            password: "owner-password",
            name: "사장님",
        };
        let (_, id) = ordersync::accounts::create_owner(&*store, &passwords, account, "체인점")
            .await
            .unwrap();
        let login = self
            .post(
                0,
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": "owner-password"}),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        let owner = login.body["access_token"].as_str().unwrap().to_owned();
        let put = self
            .call(
                0,
                reqwest::Method::PUT,
                "/api/v1/restaurants/me/menu",
                Some(&owner),
                Some(test_menu()),
            )
            .await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
        let patch = self
            .call(
                0,
                reqwest::Method::PATCH,
                "/api/v1/restaurants/me",
                Some(&owner),
                Some(json!({"payment_mode": mode, "table_verification": "OPEN"})),
            )
            .await;
        assert_eq!(patch.status, StatusCode::OK, "{}", patch.body);
        (owner, id.to_string(), put.body)
    }

    /// A customer's order of one mild fried chicken (18,000 won), placed through instance `n`.
    async fn order(&self, n: usize, customer: &str, restaurant: &str, menu: &Value) -> String {
        let item = &menu["categories"][0]["items"][0];
        let body = json!({
            "restaurant_id": restaurant, "table_number": "3",
            "items": [{"menu_id": item["id"], "quantity": 1,
                       "options": [{"option_id": item["options"][0]["id"], "choice": "순한맛"}]}],
        });
        let res = self.post(n, "/api/v1/orders", Some(customer), body).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        res.body["order_id"].as_str().unwrap().to_owned()
    }

    async fn customer(&self, n: usize, email: &str) -> String {
        let res = self
            .post(
                n,
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": "correct-horse", "name": "손님"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        res.body["access_token"].as_str().unwrap().to_owned()
    }

    async fn owner_socket(&self, n: usize, token: &str) -> crate::helpers::Ws {
        let url = format!(
            "ws://127.0.0.1:{}/ws/restaurants/me/orders?token={token}",
            self.at(n).http_port
        );
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        socket
    }
}

#[tokio::test]
async fn an_order_on_one_instance_reaches_an_owner_socket_on_the_other_within_a_second() {
    let Some(redis) = backends() else { return };
    let cluster = Cluster::start(2, &redis, &["--rate-limit-per-minute", "0"], &[]);
    let (owner, restaurant, menu) = cluster.shop("live-a-b@example.com", "POSTPAY").await;
    let mut board = cluster.owner_socket(1, &owner).await;
    let snapshot = next_json(&mut board, Duration::from_secs(5)).await;
    assert_eq!(snapshot["type"], "SNAPSHOT");
    let customer = cluster.customer(0, "live-a-b-customer@example.com").await;
    let started = Instant::now();
    let order = cluster.order(0, &customer, &restaurant, &menu).await;
    let event = next_json(&mut board, Duration::from_secs(1)).await;
    assert_eq!(event["type"], "NEW_ORDER");
    assert_eq!(event["order_id"], order.as_str());
    assert!(started.elapsed() < Duration::from_secs(1));
    // Status changes made on B reach a socket on A as well.
    let mut other_board = cluster.owner_socket(0, &owner).await;
    next_json(&mut other_board, Duration::from_secs(5)).await;
    let accept = cluster
        .post(
            1,
            &format!("/api/v1/restaurants/me/orders/{order}/accept"),
            Some(&owner),
            json!({"estimated_time_minutes": 10}),
        )
        .await;
    assert_eq!(accept.status, StatusCode::OK);
    let changed = next_json(&mut other_board, Duration::from_secs(1)).await;
    assert_eq!(changed["status"], "ACCEPTED");
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_on_the_other() {
    let Some(redis) = backends() else { return };
    let cluster = Cluster::start(2, &redis, &["--rate-limit-per-minute", "0"], &[]);
    let token = cluster.customer(0, "logout-a-b@example.com").await;
    assert_eq!(
        cluster.get(1, "/api/v1/auth/me", Some(&token)).await.status,
        StatusCode::OK
    );
    let out = cluster
        .call(
            0,
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let refused = cluster.get(1, "/api/v1/auth/me", Some(&token)).await;
    crate::helpers::assert_error(&refused, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_menu_change_on_one_instance_is_served_fresh_by_the_other() {
    let Some(redis) = backends() else { return };
    let cluster = Cluster::start(2, &redis, &["--rate-limit-per-minute", "0"], &[]);
    let (owner, restaurant, menu) = cluster.shop("menu-a-b@example.com", "POSTPAY").await;
    let path = format!("/api/v1/restaurants/{restaurant}/menu");
    // B has the menu cached…
    let before = cluster.get(1, &path, None).await;
    assert_eq!(
        before.body["categories"][0]["items"][0]["is_available"],
        true
    );
    let item = menu["categories"][0]["items"][0]["id"].as_str().unwrap();
    // …A sells the item out…
    let sold_out = cluster
        .call(
            0,
            reqwest::Method::PATCH,
            &format!("/api/v1/restaurants/me/menu/items/{item}"),
            Some(&owner),
            Some(json!({"is_available": false, "price": 18500})),
        )
        .await;
    assert_eq!(sold_out.status, StatusCode::OK, "{}", sold_out.body);
    // …and B says so as soon as the menu event has crossed Redis (A answered only after Redis
    // took it; B reads it on its own schedule, so a GET racing it may still be served the old
    // menu for a moment; an order priced on B is checked against the database either way).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let after = loop {
        let after = cluster.get(1, &path, None).await;
        let served = &after.body["categories"][0]["items"][0];
        if served["is_available"] == false || std::time::Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let served = &after.body["categories"][0]["items"][0];
    assert_eq!(served["is_available"], false, "{}", after.body);
    assert_eq!(served["price"], 18500);
    assert_ne!(before.headers["etag"], after.headers["etag"]);
}

#[tokio::test]
async fn a_rate_limit_of_n_is_shared_by_the_instances() {
    let Some(redis) = backends() else { return };
    let cluster = Cluster::start(2, &redis, &["--rate-limit-per-minute", "10"], &[]);
    for n in 0..10 {
        let res = cluster.get(n, "/api/v1/auth/me", None).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "request {n}");
    }
    for n in 10..12 {
        let limited = cluster.get(n, "/api/v1/auth/me", None).await;
        crate::helpers::assert_error(
            &limited,
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMIT_EXCEEDED",
        );
        assert!(limited.headers.contains_key("retry-after"));
    }
}

#[tokio::test]
async fn of_twenty_concurrent_accepts_spread_over_both_exactly_one_succeeds() {
    let Some(redis) = backends() else { return };
    let cluster = Cluster::start(2, &redis, &["--rate-limit-per-minute", "0"], &[]);
    let (owner, restaurant, menu) = cluster.shop("race-a-b@example.com", "POSTPAY").await;
    let customer = cluster.customer(0, "race-a-b-customer@example.com").await;
    let order = cluster.order(1, &customer, &restaurant, &menu).await;
    let path = format!("/api/v1/restaurants/me/orders/{order}/accept");
    let attempts = (0..20).map(|n| {
        cluster.post(
            n,
            &path,
            Some(&owner),
            json!({"estimated_time_minutes": 5 + n}),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let accepted = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused = results
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (accepted, refused),
        (1, 19),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let events = crate::backend::count(
        &cluster.database_url,
        &format!("SELECT count(*) FROM order_events WHERE order_id = '{order}'"),
    );
    assert_eq!(events, 2, "NEW_ORDER and one STATUS_CHANGED");
}

#[tokio::test]
async fn ten_concurrent_confirms_spread_over_both_call_toss_once() {
    let Some(redis) = backends() else { return };
    let fake = FakeToss::start().await;
    let cluster = Cluster::start(
        2,
        &redis,
        &["--rate-limit-per-minute", "0", "--payments", "toss"],
        &[
            ("TOSS_SECRET_KEY", SECRET_KEY),
            ("TOSS_CLIENT_KEY", CLIENT_KEY),
            ("TOSS_API_BASE", &fake.base),
        ],
    );
    let (_, restaurant, menu) = cluster.shop("pay-a-b@example.com", "PREPAY").await;
    let customer = cluster.customer(0, "pay-a-b-customer@example.com").await;
    let order = cluster.order(0, &customer, &restaurant, &menu).await;
    let init = cluster
        .post(
            1,
            "/api/v1/payments/initiate",
            Some(&customer),
            json!({"order_id": order, "amount": 18000}),
        )
        .await;
    assert_eq!(init.status, StatusCode::OK, "{}", init.body);
    let key = fake.authenticate(&order, 18000);
    let confirms = (0..10).map(|n| {
        cluster.post(
            n,
            "/api/v1/payments/confirm",
            None,
            json!({"paymentKey": key, "orderId": order, "amount": 18000}),
        )
    });
    let results = futures_util::future::join_all(confirms).await;
    for res in &results {
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    assert_eq!(
        fake.calls(Endpoint::Confirm).len(),
        1,
        "Toss confirmed more than once"
    );
    let seen = cluster
        .get(1, &format!("/api/v1/orders/{order}"), Some(&customer))
        .await;
    assert_eq!(seen.body["payment_status"], "PAID");
}

fn sweeps(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("payment_sweeps_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn only_one_instance_sweeps_and_another_takes_over_when_it_stops() {
    let Some(redis) = backends() else { return };
    let mut cluster = Cluster::start(
        2,
        &redis,
        &[
            "--rate-limit-per-minute",
            "0",
            "--payments",
            "simulated",
            "--payment-sweep-seconds",
            "1",
        ],
        &[],
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut counts = Vec::new();
    for n in 0..2 {
        let text = cluster
            .client
            .get(cluster.at(n).url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        counts.push(sweeps(&text));
    }
    let sweeping: Vec<usize> = (0..2).filter(|&n| counts[n] > 0).collect();
    assert_eq!(sweeping.len(), 1, "sweeps per instance: {counts:?}");
    // The sweeper stops; within three passes the other one takes over.
    let leader = sweeping[0];
    let mut stopped = cluster.instances.remove(leader);
    assert!(terminate(&mut stopped.child).success());
    let follower = &cluster.instances[0];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = cluster
            .client
            .get(follower.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if sweeps(&text) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "nobody took over the sweep");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Redis of this test's own, so restarting it disturbs no other test.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl PrivateRedis {
    fn start() -> PrivateRedis {
        let mut redis = PrivateRedis {
            port: free_port(),
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        self.child = Some(child);
        wait_for_http(self.port);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn no_event_is_lost_when_redis_restarts() {
    let Some(_) = backends() else { return };
    let mut redis = PrivateRedis::start();
    let cluster = Cluster::start(2, &redis.url(), &["--rate-limit-per-minute", "0"], &[]);
    let (owner, restaurant, menu) = cluster.shop("redis-down@example.com", "POSTPAY").await;
    let customer = cluster.customer(0, "redis-down-customer@example.com").await;
    let mut board = cluster.owner_socket(1, &owner).await;
    next_json(&mut board, Duration::from_secs(5)).await;
    let first = cluster.order(0, &customer, &restaurant, &menu).await;
    assert_eq!(
        next_order_json(&mut board, Duration::from_secs(2)).await["order_id"],
        first.as_str()
    );

    // Redis goes away: orders still commit on A; B reports the degradation.
    redis.stop();
    let mut missed = Vec::new();
    for _ in 0..3 {
        missed.push(cluster.order(0, &customer, &restaurant, &menu).await);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = cluster.get(1, "/readyz", None).await;
        if ready.body["status"] == "degraded" {
            assert_eq!(ready.body["redis"], "down");
            break;
        }
        assert!(Instant::now() < deadline, "B never noticed: {}", ready.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Redis is back: B's board catches up from the event log, in order, nothing missing.
    redis.restart();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < missed.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match next_seen(&mut board, left).await {
            Seen::Json(event) if event["type"] == "NEW_ORDER" => {
                seen.push(event["order_id"].as_str().unwrap().to_owned());
            }
            Seen::Json(_) => {}
            other => panic!("B's board got {other:?} after {seen:?}"),
        }
    }
    assert_eq!(seen, missed);
    // And live again: a new order travels through the restarted Redis.
    let after = cluster.order(0, &customer, &restaurant, &menu).await;
    let event = next_order_json(&mut board, Duration::from_secs(3)).await;
    assert_eq!(event["order_id"], after.as_str());
    let ready = cluster.get(1, "/readyz", None).await;
    assert_eq!(ready.body["status"], "ready", "{}", ready.body);
}
