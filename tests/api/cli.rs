//! The `ordersync` binary itself: subcommands, signals and logs.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::TestApp;
use crate::process::{
    free_port, ordersync, ordersync_at, run_with_stdin, terminate, wait_for_http,
};

#[tokio::test]
async fn create_owner_then_login_as_that_owner() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();

    let migrate = ordersync_at(dir.path())
        .args(["migrate", "--data-dir", data])
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    let again = ordersync_at(dir.path())
        .args(["migrate", "--data-dir", data])
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "migrate must be idempotent: {again:?}"
    );

    let out = run_with_stdin(
        ordersync_at(dir.path()).args([
            "create-owner",
            "--data-dir",
            data,
            "--email",
            "boss@chicken.kr",
            "--name",
            "김사장",
            "--restaurant",
            "맛있는 치킨집",
            "--password-stdin",
        ]),
        "owner-secret-1\n",
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let restaurant_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("restaurant_id="))
        .expect("restaurant id printed")
        .to_owned();
    assert!(stdout.contains("owner_id="));

    let dup = run_with_stdin(
        ordersync_at(dir.path()).args([
            "create-owner",
            "--data-dir",
            data,
            "--email",
            "boss@chicken.kr",
            "--name",
            "x",
            "--restaurant",
            "y",
            "--password-stdin",
        ]),
        "owner-secret-2\n",
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already registered"));

    let weak = run_with_stdin(
        ordersync_at(dir.path()).args([
            "create-owner",
            "--data-dir",
            data,
            "--email",
            "new@chicken.kr",
            "--name",
            "x",
            "--restaurant",
            "y",
            "--password-stdin",
        ]),
        "short\n",
    );
    assert!(!weak.status.success());

    let app = TestApp::spawn_in(dir.path(), |_| {}).await;
    let login = app.login("boss@chicken.kr", "owner-secret-1").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.body["user"]["role"], "OWNER");
    assert_eq!(login.body["user"]["restaurant_id"], restaurant_id.as_str());
    let me = app
        .get(
            "/api/v1/auth/me",
            Some(login.body["access_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(me.body["role"], "OWNER");
    assert_eq!(me.body["restaurant_id"], restaurant_id.as_str());
    app.stop().await;
}

#[test]
fn help_describes_every_command() {
    let out = ordersync().arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for command in ["serve", "migrate", "create-owner"] {
        assert!(text.contains(command), "{text}");
    }
    let serve = ordersync().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8(serve.stdout).unwrap();
    for flag in [
        "--data-dir",
        "--port",
        "--http-port",
        "--allow-plain-http",
        "--tls-cert",
        "--rate-limit-per-minute",
        "--trusted-proxies",
        "[env: PORT=",
    ] {
        assert!(text.contains(flag), "serve --help lacks {flag}: {text}");
    }
}

/// Runs `serve` with `args` and `env`, asks it one request (with secrets in the query and the
/// headers, and a client-chosen request id), stops it with SIGTERM and returns its log.
async fn log_of_one_request(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (https, http) = (free_port(), free_port());
    let mut child = ordersync_at(dir.path())
        .args([
            "serve",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--port",
            &https.to_string(),
            "--http-port",
            &http.to_string(),
        ])
        .arg("--allow-plain-http")
        .args(args)
        .env_remove("ENV")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_http(http);

    ordersync::tls::install_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let res = client
        .get(format!(
            "http://127.0.0.1:{http}/api/v1/auth/me?token=QUERY-SECRET-123"
        ))
        .header("Authorization", "Bearer HEADER-SECRET-456")
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let status = terminate(&mut child);
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(!logs.contains("QUERY-SECRET-123"), "{logs}");
    assert!(!logs.contains("HEADER-SECRET-456"), "{logs}");
    logs
}

#[tokio::test]
async fn the_binary_logs_json_in_production_without_secrets_and_stops_on_sigterm() {
    // Production on PostgreSQL needs the key every instance shares.
    let logs = log_of_one_request(
        &["--env", "production"],
        &[("JWT_SECRET", "a-production-signing-key-0123456789abcdef")],
    )
    .await;
    let request_line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "API Request")
        .unwrap_or_else(|| panic!("no JSON request log in: {logs}"));
    assert_eq!(request_line["path"], "/api/v1/auth/me");
    assert_eq!(request_line["status"], 401);
    assert_eq!(request_line["method"], "GET");
    assert_eq!(request_line["ip"], "127.0.0.1");
    assert!(request_line.get("duration_ms").is_some());
    assert_eq!(request_line["request_id"], "trace-me-42");
}

#[tokio::test]
async fn the_binary_logs_plain_lines_elsewhere_and_follows_rust_log() {
    let logs = log_of_one_request(&[], &[("RUST_LOG", "info")]).await;
    let request_line = logs
        .lines()
        .find(|l| l.contains("API Request"))
        .unwrap_or_else(|| panic!("no request line in: {logs}"));
    let (timestamp, rest) = request_line.split_at(27);
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{request_line}"
    );
    let (line, duration) = rest.split_once(" duration_ms=").unwrap();
    assert_eq!(
        line,
        "  INFO ordersync::http: API Request request_id=trace-me-42 method=GET \
         path=/api/v1/auth/me status=401"
    );
    let (duration, ip) = duration.split_once(' ').unwrap();
    assert!(duration.parse::<f64>().unwrap() >= 0.0, "{request_line}");
    assert_eq!(ip, "ip=127.0.0.1");

    let quiet = log_of_one_request(&[], &[("RUST_LOG", "warn")]).await;
    assert!(!quiet.contains("API Request"), "{quiet}");
}

#[tokio::test]
async fn table_url_and_menu_export_import_work_against_the_data_dir() {
    let app = TestApp::spawn().await;
    let shop = app.shop("cli-menu@example.com", "POSTPAY").await;
    let data = app.data_dir.to_str().unwrap().to_owned();

    let out = ordersync_at(&app.data_dir)
        .args([
            "table-url",
            "--data-dir",
            &data,
            "--restaurant",
            &shop.id,
            "--table",
            "12",
        ])
        .args(["--base-url", "https://shop.local:8443/"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let prefix = format!("https://shop.local:8443/t/{}/12?sig=", shop.id);
    let sig = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}"));
    // The printed signature opens a guest session on the running server.
    let res = app
        .post(
            "/api/v1/auth/guest",
            None,
            serde_json::json!({"restaurant_id": shop.id, "table_number": "12", "sig": sig}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let bad = ordersync_at(&app.data_dir)
        .args([
            "table-url",
            "--data-dir",
            &data,
            "--restaurant",
            "nope",
            "--table",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let export = ordersync_at(&app.data_dir)
        .args([
            "menu",
            "export",
            "--data-dir",
            &data,
            "--restaurant",
            &shop.id,
        ])
        .output()
        .unwrap();
    assert!(export.status.success(), "{export:?}");
    let mut document: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(document["categories"], shop.menu["categories"]);
    assert_eq!(document["restaurant"]["id"], shop.menu["restaurant"]["id"]);
    assert_eq!(
        document["restaurant"]["name"],
        shop.menu["restaurant"]["name"]
    );
    document["categories"][0]["items"][1]["price"] = serde_json::json!(21000);
    let file = app.data_dir.join("menu.json");
    std::fs::write(&file, serde_json::to_vec(&document).unwrap()).unwrap();
    let import = ordersync_at(&app.data_dir)
        .args([
            "menu",
            "import",
            "--data-dir",
            &data,
            "--restaurant",
            &shop.id,
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");

    // The running server notices the change made by another process.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let menu = app
            .get(&format!("/api/v1/restaurants/{}/menu", shop.id), None)
            .await
            .body;
        if menu["categories"][0]["items"][1]["price"] == 21000 {
            assert_eq!(
                menu["categories"][0]["items"][1]["id"],
                shop.item_id("양념").as_str()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server kept serving the old menu"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A broken document is refused with the offending field and changes nothing.
    document["categories"][0]["items"][0]["price"] = serde_json::json!(-1);
    std::fs::write(&file, serde_json::to_vec(&document).unwrap()).unwrap();
    let refused = ordersync_at(&app.data_dir)
        .args([
            "menu",
            "import",
            "--data-dir",
            &data,
            "--restaurant",
            &shop.id,
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("categories[0].items[0].price"),
        "{refused:?}"
    );
}

#[test]
fn the_demo_refuses_to_run_in_production() {
    let dir = tempfile::tempdir().unwrap();
    let refused = ordersync()
        .args(["serve", "--demo", "--env", "production", "--data-dir"])
        .arg(dir.path())
        .args(["--port", &free_port().to_string()])
        .args(["--http-port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--demo") && stderr.contains("production"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("ordersync.db").exists(),
        "nothing was created"
    );
}

#[tokio::test]
async fn the_demo_is_created_once_and_announced_every_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let database = crate::backend::database_url(dir.path());
    let mut announcements = Vec::new();
    for run in 0..2 {
        if run == 1 {
            // As if the first start had stopped before the menu was stored: the next repairs it.
            crate::backend::execute(&database, "DELETE FROM menu_categories");
        }
        let (https, http) = (free_port(), free_port());
        let mut child = ordersync_at(dir.path())
            .args(["serve", "--demo", "--data-dir", data, "--bind", "127.0.0.1"])
            .args([
                "--port",
                &https.to_string(),
                "--http-port",
                &http.to_string(),
            ])
            .arg("--allow-plain-http")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_http(http);
        let status = terminate(&mut child);
        assert!(status.success());
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        announcements.push(stdout);
    }
    // Same restaurant, same signed table link, same login (the ports differ per run).
    let stable = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| {
                l.split_once("/t/")
                    .map(|(_, rest)| rest.to_owned())
                    .or_else(|| l.contains("Owner login").then(|| l.to_owned()))
            })
            .collect()
    };
    assert_eq!(stable(&announcements[0]).len(), 2, "{}", announcements[0]);
    assert_eq!(stable(&announcements[0]), stable(&announcements[1]));
    let text = &announcements[0];
    assert!(text.contains("owner@demo.ordersync.kr / demo-"), "{text}");
    assert!(text.contains("/owner"), "{text}");
    let table_url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Customer, table 1:"))
        .expect("table URL printed")
        .trim();
    assert!(
        table_url.contains("/t/") && table_url.contains("/1?sig="),
        "{table_url}"
    );

    let app = TestApp::spawn_in(dir.path(), |_| {}).await;
    assert_eq!(app.count("SELECT count(*) FROM restaurants"), 1);
    let restaurant = table_url
        .split("/t/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let menu = app
        .get(&format!("/api/v1/restaurants/{restaurant}/menu"), None)
        .await
        .body;
    assert_eq!(menu["restaurant"]["name"], "맛있는 치킨집");
    let items: Vec<&serde_json::Value> = menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["items"].as_array().unwrap())
        .collect();
    assert!(menu["categories"].as_array().unwrap().len() >= 3);
    assert!(items.len() >= 15, "{} items", items.len());
    assert!(items.iter().any(|i| i["is_available"] == false));
    assert!(items.iter().any(|i| {
        i["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["required"] == true)
    }));
    assert!(items.iter().any(|i| {
        i["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o.get("price_deltas").is_some())
    }));
    let password = text
        .split("owner@demo.ordersync.kr / ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim();
    let login = app.login("owner@demo.ordersync.kr", password).await;
    assert_eq!(login.status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn qr_writes_a_printable_sheet_of_signed_codes() {
    let app = TestApp::spawn().await;
    let shop = app.shop("cli-qr@example.com", "POSTPAY").await;
    let out = app.data_dir.join("tables.svg");
    let run = ordersync_at(&app.data_dir)
        .args([
            "qr",
            "--data-dir",
            app.data_dir.to_str().unwrap(),
            "--restaurant",
            &shop.id,
        ])
        .args(["--tables", "1-14", "--base-url", "https://shop.local:8443"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.starts_with("<svg"));
    assert_eq!(svg.matches("테이블 ").count(), 14);
    assert!(
        svg.contains("height=\"594mm\""),
        "14 codes take two A4 pages"
    );
    let bad = ordersync_at(&app.data_dir)
        .args([
            "qr",
            "--data-dir",
            app.data_dir.to_str().unwrap(),
            "--restaurant",
            &shop.id,
            "--tables",
            "9-1",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// Without the `postgres` feature, a PostgreSQL or Redis URL stops the start with a message
/// naming the feature, instead of quietly falling back to SQLite.
#[cfg(not(feature = "postgres"))]
#[test]
fn a_postgres_url_on_the_default_build_names_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = ordersync()
        .args(["migrate", "--data-dir", dir.path().to_str().unwrap()])
        .args([
            "--database-url",
            "postgres://ordersync@127.0.0.1:5432/ordersync",
        ])
        .output()
        .unwrap();
    assert!(!migrate.status.success());
    let err = String::from_utf8_lossy(&migrate.stderr);
    assert!(err.contains("`postgres` feature"), "{err}");
    let serve = ordersync()
        .args(["serve", "--data-dir", dir.path().to_str().unwrap()])
        .args(["--redis-url", "redis://127.0.0.1:6379"])
        .output()
        .unwrap();
    assert!(!serve.status.success());
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(err.contains("`postgres`"), "{err}");
    assert!(
        !dir.path().join("ordersync.db").exists(),
        "nothing fell back to SQLite"
    );
}
