//! `TestApp`: a real OrderSync server on ephemeral ports with its own data directory, and a
//! client to drive it.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use crate::backend;
use ordersync::config::Config;
use ordersync::server::Listeners;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

static INIT: Once = Once::new();

fn init() {
    INIT.call_once(|| {
        ordersync::tls::install_crypto_provider();
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_test_writer()
                .try_init();
        }
    });
}

pub struct TestApp {
    /// Plain-HTTP base URL (tests allow plain HTTP unless they say otherwise).
    pub base: String,
    pub https_port: u16,
    pub http_port: u16,
    pub data_dir: PathBuf,
    /// The server's `DATABASE_URL` (see `backend`).
    pub database_url: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    // Dropped last: the server must stop before its directory disappears.
    _dir: Option<tempfile::TempDir>,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_owned();
        let mut app = Self::spawn_in(&path, configure).await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server on an existing data directory (to test restarts).
    pub async fn spawn_in(data_dir: &Path, configure: impl FnOnce(&mut Config)) -> TestApp {
        init();
        let mut config = Config::for_test(data_dir);
        config.database_url = backend::database_url(data_dir);
        if let Some((url, prefix)) = backend::redis() {
            config.redis_url = Some(url);
            config.redis_key_prefix = prefix;
        }
        configure(&mut config);
        let database_url = config.database_url.clone();
        let https = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let http = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let https_port = https.local_addr().unwrap().port();
        let http_port = http.local_addr().unwrap().port();
        let listeners = Listeners {
            https,
            http: Some(http),
        };
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ordersync::run(config, listeners, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let app = TestApp {
            base: format!("http://127.0.0.1:{http_port}"),
            https_port,
            http_port,
            data_dir: data_dir.to_owned(),
            database_url,
            client,
            shutdown: Some(shutdown),
            task: Some(task),
            _dir: None,
        };
        app.wait_until_up().await;
        app
    }

    async fn wait_until_up(&self) {
        for _ in 0..200 {
            let url = format!("https://127.0.0.1:{}/healthz", self.https_port);
            // Any TLS answer (even an untrusted certificate) means the listener is up; the
            // plain listener may be a redirect, so probe both.
            let plain = self
                .client
                .get(format!("http://127.0.0.1:{}/healthz", self.http_port))
                .send()
                .await;
            if plain.is_ok() || self.client.get(&url).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server did not come up");
    }

    /// Stops the server and waits until it has finished.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("server stops within 15 s")
                .expect("server task")
                .expect("server exits cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        into_response(req.send().await.expect("request sent")).await
    }

    /// A GET with extra request headers (language, revalidation).
    pub async fn request_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = self.client.get(self.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        into_response(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    /// Registers a customer and returns the login-shaped response body.
    pub async fn register(&self, email: &str) -> Value {
        let res = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": "correct-horse", "name": "테스트 손님" }),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        res.body
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Creates an owner and restaurant through the library (as the CLI does) and logs in.
    /// Returns (access token, restaurant id).
    pub async fn owner(&self, email: &str, restaurant: &str) -> (String, String) {
        let store = self.store().await;
        let passwords = ordersync::auth::password::PasswordHasher::new(4).unwrap();
        let account = ordersync::accounts::NewAccount {
            email,
            password: "owner-password",
            name: "사장님",
        };
        let (_, restaurant_id) =
            ordersync::accounts::create_owner(&*store, &passwords, account, restaurant)
                .await
                .unwrap();
        let res = self.login(email, "owner-password").await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        (
            res.body["access_token"].as_str().unwrap().to_owned(),
            restaurant_id.to_string(),
        )
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https_port)
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let res = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        res.text().await.unwrap()
    }

    /// How many guest menu GETs were answered from the cache before routing.
    pub async fn menus_from_cache(&self) -> u64 {
        self.metrics_text()
            .await
            .lines()
            .find_map(|l| l.strip_prefix("menu_cache_answers_total "))
            .map_or(0, |n| n.parse().unwrap())
    }

    /// A GET from a phone that takes gzip.
    pub async fn get_gzip(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap()
    }

    /// The server's store, opened beside it (as the command-line tools do).
    pub async fn store(&self) -> std::sync::Arc<dyn ordersync::store::Store> {
        let bus = std::sync::Arc::new(ordersync::events::LocalBus::new(1));
        ordersync::store::connect(&self.database_url, bus)
            .await
            .unwrap()
    }

    /// A fresh look at the database, for asserting what (didn't) change; portable SQL that
    /// yields one number.
    pub fn count(&self, sql: &str) -> i64 {
        backend::count(&self.database_url, sql)
    }

    pub fn is_postgres(&self) -> bool {
        backend::is_postgres(&self.database_url)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub async fn into_response(res: reqwest::Response) -> Response {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Response {
        status,
        headers,
        body,
    }
}

/// The body as sent, decoded from its content coding.
pub fn decoded_body(headers: &reqwest::header::HeaderMap, bytes: &[u8]) -> Value {
    use std::io::Read;
    let mut text = Vec::new();
    match headers.get("content-encoding").map(|v| v.to_str().unwrap()) {
        None => text.extend_from_slice(bytes),
        Some("gzip") => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut text)
                .unwrap();
        }
        Some("br") => {
            brotli::Decompressor::new(bytes, 4096)
                .read_to_end(&mut text)
                .unwrap();
        }
        Some(other) => panic!("unexpected content coding {other}"),
    }
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&text).unwrap()
    }
}

/// Asserts the seed's error envelope with the given status and code; returns `details`.
pub fn assert_error(res: &Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status, status, "body: {}", res.body);
    assert_eq!(res.body["error"]["code"], code, "body: {}", res.body);
    assert!(
        res.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "message missing: {}",
        res.body
    );
    res.body["error"]["details"].clone()
}

pub fn assert_validation(res: &Response, field: &str) {
    let details = assert_error(res, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(details["field"], field, "body: {}", res.body);
    assert!(details["reason"].as_str().is_some_and(|r| !r.is_empty()));
}

pub fn token(body: &Value, which: &str) -> String {
    body[which].as_str().expect("token in body").to_owned()
}

/// A restaurant with an owner and a small menu, ready for orders.
pub struct Shop {
    pub owner: String,
    pub id: String,
    pub menu: Value,
    /// The QR signature of table 3, which registered customers' orders name.
    pub table3_sig: String,
}

pub fn test_menu() -> Value {
    json!({"categories": [
        {"name": "치킨", "items": [
            {"name": "후라이드", "price": 18000, "description": "바삭", "options": [
                {"name": "맛", "choices": ["순한맛", "매운맛"], "required": true,
                 "price_deltas": {"매운맛": 500}},
                {"name": "추가", "choices": ["치즈", "떡"], "multiple": true,
                 "price_deltas": {"치즈": 2000, "떡": 1000}}]},
            {"name": "양념", "price": 19000, "options": [
                {"name": "포장", "choices": ["매장", "포장"], "required": false}]},
            {"name": "품절 치킨", "price": 20000, "is_available": false}
        ]},
        {"name": "음료", "items": [
            {"name": "콜라", "price": 2000, "options": [
                {"name": "사이즈", "choices": ["보통", "큰"], "required": false,
                 "price_deltas": {"큰": 1000}}]}
        ]}
    ]})
}

impl Shop {
    /// The menu item called `name`.
    pub fn item(&self, name: &str) -> &Value {
        self.menu["categories"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["items"].as_array().unwrap())
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("no item {name}"))
    }

    pub fn item_id(&self, name: &str) -> String {
        self.item(name)["id"].as_str().unwrap().to_owned()
    }

    /// The id of option `index` of item `name`.
    pub fn option_id(&self, name: &str, index: usize) -> String {
        self.item(name)["options"][index]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// One order line: `choices` are (option index, choice).
    pub fn line(&self, name: &str, quantity: i64, choices: &[(usize, &str)]) -> Value {
        json!({
            "menu_id": self.item_id(name),
            "quantity": quantity,
            "options": choices.iter().map(|(o, c)| json!({
                "option_id": self.option_id(name, *o), "choice": c
            })).collect::<Vec<_>>(),
        })
    }

    /// A valid order body with one mild fried chicken.
    pub fn simple_order(&self) -> Value {
        json!({
            "restaurant_id": self.id,
            "table_number": "3",
            "table_sig": self.table3_sig,
            "items": [self.line("후라이드", 1, &[(0, "순한맛")])],
        })
    }
}

impl TestApp {
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    /// Sends a POST with no body at all (as a dashboard button would).
    pub async fn post_empty(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::POST, path, token, None).await
    }

    /// An owner whose restaurant has `test_menu()`, in `payment_mode`.
    pub async fn shop(&self, email: &str, payment_mode: &str) -> Shop {
        let (owner, id) = self.owner(email, "테스트 치킨").await;
        let res = self
            .put("/api/v1/restaurants/me/menu", Some(&owner), test_menu())
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let res = self
            .patch(
                "/api/v1/restaurants/me",
                Some(&owner),
                json!({ "payment_mode": payment_mode }),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let menu = self
            .get(&format!("/api/v1/restaurants/{id}/menu"), None)
            .await
            .body;
        let table3_sig = self.table_signature(&id, "3");
        Shop {
            owner,
            id,
            menu,
            table3_sig,
        }
    }

    /// A registered customer's access token.
    pub async fn customer(&self, email: &str) -> String {
        token(&self.register(email).await, "access_token")
    }

    pub fn table_signature(&self, restaurant: &str, table: &str) -> String {
        let secret = backend::generated_secret(&self.database_url, &self.data_dir, "table");
        ordersync::auth::table::TableSigner::new(&secret).sign(restaurant.parse().unwrap(), table)
    }

    /// A guest token from a correctly signed table QR code.
    pub async fn guest(&self, restaurant: &str, table: &str) -> String {
        let sig = self.table_signature(restaurant, table);
        let res = self
            .post(
                "/api/v1/auth/guest",
                None,
                json!({ "restaurant_id": restaurant, "table_number": table, "sig": sig }),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        token(&res.body, "access_token")
    }

    pub async fn order(&self, token: &str, body: Value) -> Response {
        self.post("/api/v1/orders", Some(token), body).await
    }

    /// Places an order that must succeed; returns its id.
    pub async fn place(&self, token: &str, body: Value) -> String {
        let res = self.order(token, body).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        res.body["order_id"].as_str().unwrap().to_owned()
    }

    pub async fn act(
        &self,
        owner: &str,
        order: &str,
        action: &str,
        body: Option<Value>,
    ) -> Response {
        let path = format!("/api/v1/restaurants/me/orders/{order}/{action}");
        self.request(Method::POST, &path, Some(owner), body).await
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a live client saw next.
#[derive(Debug)]
pub enum Seen {
    Json(Value),
    Closed(Option<u16>),
    Nothing,
}

impl TestApp {
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.http_port)
    }

    pub async fn ws(&self, path: &str) -> Ws {
        let (socket, _) = tokio_tungstenite::connect_async(self.ws_url(path))
            .await
            .unwrap_or_else(|e| panic!("WebSocket {path}: {e}"));
        socket
    }
}

/// The next message (skipping pings), a close, or nothing within `wait`.
pub async fn next_seen(socket: &mut Ws, wait: Duration) -> Seen {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next()).await;
        match next {
            Err(_) => return Seen::Nothing,
            Ok(None) | Ok(Some(Err(_))) => return Seen::Closed(None),
            Ok(Some(Ok(Message::Text(text)))) => {
                return Seen::Json(serde_json::from_str(text.as_str()).expect("JSON message"));
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Seen::Closed(frame.map(|f| u16::from(f.code)));
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// The next JSON message, which must arrive within `wait`.
pub async fn next_json(socket: &mut Ws, wait: Duration) -> Value {
    match next_seen(socket, wait).await {
        Seen::Json(value) => value,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The next message about an order (skipping the table events that follow order events on the
/// owner's feed), which must arrive within `wait`.
pub async fn next_order_json(socket: &mut Ws, wait: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let message = next_json(socket, left).await;
        if !message["type"].as_str().unwrap_or("").starts_with("TABLE_") {
            return message;
        }
    }
}
