//! The box on a real shop network: guests on plain HTTP without a certificate warning, owners on
//! HTTPS only, payments that cannot be faked, sessions that end everywhere, tables that must be
//! proven, and the smaller operational guarantees.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use ordersync::config::{Environment, PaymentsChoice};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Seen, TestApp, assert_error, assert_validation, into_response, next_seen};
use crate::process::{free_port, ordersync, ordersync_at, terminate, wait_for_http};

/// A phone that trusts no private CA and follows redirects, as a guest's browser would.
fn phone() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_phone_that_trusts_nothing_opens_the_demo_table_over_plain_http_and_orders() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (https, http) = (free_port(), free_port());
    let mut server = ordersync_at(dir.path())
        .args(["serve", "--demo", "--data-dir", data, "--bind", "127.0.0.1"])
        .args([
            "--port",
            &https.to_string(),
            "--http-port",
            &http.to_string(),
        ])
        // The box's LAN address, as the phone reaches it (loopback here).
        .args(["--public-base-url", &format!("http://127.0.0.1:{http}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_http(http);
    let mut printed = String::new();
    let mut stdout = server.stdout.take().unwrap();
    let mut buf = [0u8; 4096];
    while !printed.contains("Owner login") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "the demo announcement ended early: {printed}");
        printed.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let table_url = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("Customer, table 1:"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        table_url.starts_with(&format!("http://127.0.0.1:{http}/t/")),
        "{printed}"
    );
    let dashboard = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("Owner dashboard:"))
        .unwrap()
        .trim();
    assert_eq!(dashboard, format!("https://127.0.0.1:{https}/owner"));

    // The table page opens with no certificate in the way.
    let phone = phone();
    let page = phone.get(&table_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("customer.js"));
    let base = format!("http://127.0.0.1:{http}");
    let url = reqwest::Url::parse(&table_url).unwrap();
    let segments: Vec<&str> = url.path_segments().unwrap().collect();
    let (restaurant, table) = (segments[1], segments[2]);
    let sig = url
        .query_pairs()
        .find(|(k, _)| k == "sig")
        .unwrap()
        .1
        .into_owned();
    let guest = phone
        .post(format!("{base}/api/v1/auth/guest"))
        .json(&json!({"restaurant_id": restaurant, "table_number": table, "sig": sig}))
        .send()
        .await
        .unwrap();
    assert_eq!(guest.status(), StatusCode::CREATED);
    let token = guest.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let menu: Value = phone
        .get(format!("{base}/api/v1/restaurants/{restaurant}/menu"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = menu["categories"][2]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "콘샐러드")
        .unwrap();
    let order = into_response(
        phone
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&token)
            .json(&json!({"restaurant_id": restaurant,
                          "items": [{"menu_id": item["id"], "quantity": 2}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    let order_id = order.body["order_id"].as_str().unwrap();
    // Every link handed to the guest stays on the plain-HTTP surface.
    assert_eq!(
        order.body["payment_url"],
        format!("{base}/pay/{order_id}").as_str()
    );
    assert_eq!(
        order.body["websocket_url"],
        format!("ws://127.0.0.1:{http}/ws/orders/{order_id}").as_str()
    );
    let checkout = into_response(
        phone
            .post(format!("{base}/api/v1/payments/initiate"))
            .bearer_auth(&token)
            .json(&json!({"order_id": order_id, "amount": 5000}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(checkout.status, StatusCode::OK, "{}", checkout.body);
    assert_eq!(checkout.body["provider"], "simulated");
    assert_eq!(
        checkout.body["success_url"],
        format!("{base}/pay/success").as_str()
    );
    let paid = phone
        .post(format!("{base}/api/v1/payments/confirm"))
        .bearer_auth(&token)
        .json(&json!({"paymentKey": "sim_phone", "orderId": order_id, "amount": 5000}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::OK);

    // The owner's side is not served in clear: pages redirect, the API refuses.
    let plain = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let owner_page = plain.get(format!("{base}/owner")).send().await.unwrap();
    assert_eq!(owner_page.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        owner_page.headers()["location"],
        format!("https://127.0.0.1:{https}/owner").as_str()
    );
    let password = printed
        .split("owner@demo.ordersync.kr / ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let login = into_response(
        plain
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "owner@demo.ordersync.kr", "password": password}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&login, StatusCode::FORBIDDEN, "HTTPS_REQUIRED");
    let settings = into_response(
        plain
            .get(format!("{base}/api/v1/restaurants/me"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&settings, StatusCode::FORBIDDEN, "HTTPS_REQUIRED");
    // Over HTTPS (the owner's tablet trusts the box's CA) the owner logs in — and that owner
    // token is refused if it is ever sent in clear.
    let ca = std::fs::read(dir.path().join("tls/ca.crt")).unwrap();
    let tablet = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let login = tablet
        .post(format!("https://127.0.0.1:{https}/api/v1/auth/login"))
        .json(&json!({"email": "owner@demo.ordersync.kr", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let owner_token = login.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let board = tablet
        .get(format!(
            "https://127.0.0.1:{https}/api/v1/restaurants/me/orders"
        ))
        .bearer_auth(&owner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(board.status(), StatusCode::OK);
    let leaked = into_response(
        plain
            .get(format!("{base}/api/v1/orders/{order_id}"))
            .bearer_auth(&owner_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&leaked, StatusCode::FORBIDDEN, "HTTPS_REQUIRED");
    // A phone that does not trust the box's CA cannot use the HTTPS side at all.
    assert!(
        phone
            .get(format!("https://127.0.0.1:{https}/healthz"))
            .send()
            .await
            .is_err()
    );
    assert!(terminate(&mut server).success());
}

#[tokio::test]
async fn a_trusted_certificate_puts_everything_on_https_with_hsts() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("shop.crt"), dir.path().join("shop.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let app = TestApp::spawn_with(|c| {
        c.allow_plain_http = false;
        c.tls_cert = Some(cert_path.clone());
        c.tls_key = Some(key_path.clone());
        c.public_base_url = Some("https://localhost".into());
    })
    .await;
    let device = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let shop = owner_over_https(&app, &device, "trusted@example.com").await;
    let codes = device
        .get(app.https_url("/api/v1/restaurants/me/qr-codes?tables=1"))
        .bearer_auth(&shop.0)
        .send()
        .await
        .unwrap();
    assert_eq!(
        codes.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let codes: Value = codes.json().await.unwrap();
    let url = codes["tables"][0]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("https://localhost/t/{}/1?sig=", shop.1)),
        "{url}"
    );
    // The guest menu too, loaded and then served from the cache.
    for _ in 0..2 {
        let menu = device
            .get(app.https_url(&format!("/api/v1/restaurants/{}/menu", shop.1)))
            .send()
            .await
            .unwrap();
        assert_eq!(menu.status(), StatusCode::OK);
        assert_eq!(
            menu.headers()["strict-transport-security"],
            "max-age=31536000"
        );
    }
    // And over plain HTTP it redirects, as everything else does.
    let menu = app
        .client
        .get(app.url(&format!("/api/v1/restaurants/{}/menu", shop.1)))
        .send()
        .await
        .unwrap();
    assert!(menu.status().is_redirection());
    // Plain HTTP only redirects now, guest pages included.
    let guest_page = app
        .client
        .get(app.url(&format!("/t/{}/1", shop.1)))
        .send()
        .await
        .unwrap();
    assert!(guest_page.status().is_redirection());
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}

/// An owner and restaurant made through the library, logged in over HTTPS with `device`.
/// Returns (owner token, restaurant id).
async fn owner_over_https(
    app: &TestApp,
    device: &reqwest::Client,
    email: &str,
) -> (String, String) {
    let store = app.store().await;
    let passwords = ordersync::auth::password::PasswordHasher::new(4).unwrap();
    let account = ordersync::accounts::NewAccount {
        email,
        password: "owner-password",
        name: "사장님",
    };
    let (_, id) = ordersync::accounts::create_owner(&*store, &passwords, account, "가게")
        .await
        .unwrap();
    let login: Value = device
        .post(app.https_url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": "owner-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        login["access_token"].as_str().unwrap().to_owned(),
        id.to_string(),
    )
}

#[tokio::test]
async fn without_a_toss_key_in_production_nothing_can_be_paid_online() {
    let app = TestApp::spawn_with(|c| {
        c.payments = PaymentsChoice::Auto;
        c.environment = Environment::Production;
    })
    .await;
    let shop = app.shop("counter-only@example.com", "POSTPAY").await;
    let settings = app
        .get("/api/v1/restaurants/me", Some(&shop.owner))
        .await
        .body;
    assert!(settings["online_payments"].is_null(), "{settings}");
    // PREPAY would take orders nobody can pay: refused with its own code, nothing changes.
    let prepay = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"payment_mode": "PREPAY"}),
        )
        .await;
    assert_error(&prepay, StatusCode::CONFLICT, "PAYMENTS_NOT_CONFIGURED");
    let settings = app
        .get("/api/v1/restaurants/me", Some(&shop.owner))
        .await
        .body;
    assert_eq!(settings["payment_mode"], "POSTPAY");

    let guest = app.guest(&shop.id, "3").await;
    let order = app.place(&guest, shop.simple_order()).await;
    for (path, body) in [
        (
            "/api/v1/payments/initiate",
            json!({"order_id": order, "amount": 18000}),
        ),
        (
            "/api/v1/payments/confirm",
            json!({"paymentKey": "sim_free_lunch", "orderId": order, "amount": 18000}),
        ),
    ] {
        let res = app.post(path, Some(&guest), body).await;
        assert_error(&res, StatusCode::CONFLICT, "PAYMENTS_NOT_CONFIGURED");
    }
    let seen = app
        .get(&format!("/api/v1/orders/{order}"), Some(&guest))
        .await
        .body;
    assert_eq!(seen["payment_status"], "PENDING");
    assert_eq!(app.count("SELECT count(*) FROM payments"), 0);
}

#[tokio::test]
async fn a_prepay_restaurant_is_served_as_postpay_while_payment_is_off() {
    let dir = tempfile::tempdir().unwrap();
    // Set up as PREPAY while the test-mode provider ran…
    let app = TestApp::spawn_in(dir.path(), |_| {}).await;
    let shop = app.shop("was-prepay@example.com", "PREPAY").await;
    let guest = app.guest(&shop.id, "3").await;
    let early = app.place(&guest, shop.simple_order()).await;
    app.stop().await;
    // …then restarted with online payment off.
    let app = TestApp::spawn_in(dir.path(), |c| c.payments = PaymentsChoice::Off).await;
    let menu = app
        .get(&format!("/api/v1/restaurants/{}/menu", shop.id), None)
        .await
        .body;
    assert_eq!(menu["restaurant"]["payment_mode"], "POSTPAY");
    let owner = app.login("was-prepay@example.com", "owner-password").await;
    let owner = owner.body["access_token"].as_str().unwrap().to_owned();
    let settings = app.get("/api/v1/restaurants/me", Some(&owner)).await.body;
    assert_eq!(settings["payment_mode"], "PREPAY");
    assert_eq!(settings["payment_mode_in_effect"], "POSTPAY");
    let guest = app.guest(&shop.id, "3").await;
    let created = app.order(&guest, shop.simple_order()).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["payment_required"], false);
    assert!(created.body["payment_url"].is_null());
    // The order placed before keeps its mode; its payment cannot be started now.
    let res = app
        .post(
            "/api/v1/payments/initiate",
            Some(&guest),
            json!({"order_id": early, "amount": 18000}),
        )
        .await;
    assert!(res.status.is_client_error());
}

#[tokio::test]
async fn production_refuses_to_start_with_simulated_payments() {
    let dir = tempfile::tempdir().unwrap();
    let out = ordersync()
        .args(["serve", "--env", "production", "--payments", "simulated"])
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["--port", &free_port().to_string()])
        .args(["--http-port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--payments simulated"), "{err}");
    assert!(err.contains("ENV=production"), "{err}");
    assert!(
        !dir.path().join("ordersync.db").exists(),
        "nothing was started"
    );
    let out = ordersync()
        .args(["serve", "--payments", "toss"])
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .env_remove("TOSS_SECRET_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TOSS_SECRET_KEY"));
}

#[tokio::test]
async fn logout_closes_the_owners_socket_and_a_revoked_guests_order_socket() {
    let app = TestApp::spawn().await;
    let shop = app.shop("sessions@example.com", "POSTPAY").await;
    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={}", shop.owner))
        .await;
    assert!(matches!(
        next_seen(&mut board, Duration::from_secs(5)).await,
        Seen::Json(_)
    ));
    let guest = app.guest(&shop.id, "3").await;
    let order = app.place(&guest, shop.simple_order()).await;
    let mut status = app.ws(&format!("/ws/orders/{order}?token={guest}")).await;
    assert!(matches!(
        next_seen(&mut status, Duration::from_secs(5)).await,
        Seen::Json(_)
    ));
    // The board hears the order, then the owner logs out (another tab): the socket closes.
    assert!(matches!(
        next_seen(&mut board, Duration::from_secs(5)).await,
        Seen::Json(m) if m["type"] == "NEW_ORDER"
    ));
    assert!(matches!(
        next_seen(&mut board, Duration::from_secs(5)).await,
        Seen::Json(m) if m["type"] == "TABLE_UPDATED"
    ));
    let out = app
        .post_empty("/api/v1/auth/logout", Some(&shop.owner))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    match next_seen(&mut board, Duration::from_secs(1)).await {
        Seen::Closed(Some(4002)) => {}
        other => panic!("the owner's socket stayed open after logout: {other:?}"),
    }
    // The guest's session is revoked: its order socket closes too.
    let out = app.post_empty("/api/v1/auth/logout", Some(&guest)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    match next_seen(&mut status, Duration::from_secs(1)).await {
        Seen::Closed(Some(4002)) => {}
        other => panic!("the guest's socket stayed open: {other:?}"),
    }
}

#[tokio::test]
async fn an_expired_token_closes_its_socket_and_a_replayed_refresh_token_ends_the_session() {
    let app = TestApp::spawn_with(|c| c.jwt_expires_in_secs = 2).await;
    let shop = app.shop("expiry@example.com", "POSTPAY").await;
    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={}", shop.owner))
        .await;
    assert!(matches!(
        next_seen(&mut board, Duration::from_secs(5)).await,
        Seen::Json(_)
    ));
    match next_seen(&mut board, Duration::from_secs(4)).await {
        Seen::Closed(Some(4001)) => {}
        other => panic!("the socket outlived its token: {other:?}"),
    }

    let app = TestApp::spawn().await;
    let shop = app.shop("reuse@example.com", "POSTPAY").await;
    let login = app.login("reuse@example.com", "owner-password").await.body;
    let (access, refresh) = (
        login["access_token"].as_str().unwrap().to_owned(),
        login["refresh_token"].as_str().unwrap().to_owned(),
    );
    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={access}"))
        .await;
    assert!(matches!(
        next_seen(&mut board, Duration::from_secs(5)).await,
        Seen::Json(_)
    ));
    let body = json!({ "refresh_token": refresh });
    assert_eq!(
        app.post("/api/v1/auth/refresh", None, body.clone())
            .await
            .status,
        StatusCode::OK
    );
    // Someone replays the spent refresh token: the whole session ends, sockets included.
    let replay = app.post("/api/v1/auth/refresh", None, body).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    match next_seen(&mut board, Duration::from_secs(1)).await {
        Seen::Closed(Some(4002)) => {}
        other => panic!("the socket survived the session: {other:?}"),
    }
    drop(shop);
}

#[tokio::test]
async fn a_registered_customer_proves_the_table_with_the_qr_signature() {
    let app = TestApp::spawn().await;
    let shop = app.shop("table-proof@example.com", "POSTPAY").await;
    let customer = app.customer("table-proof-customer@example.com").await;
    let mut body = shop.simple_order();
    body.as_object_mut().unwrap().remove("table_sig");
    assert_validation(&app.order(&customer, body.clone()).await, "table_sig");
    // Table 99's number with table 3's signature: refused.
    body["table_number"] = json!("99");
    body["table_sig"] = json!(shop.table3_sig);
    assert_validation(&app.order(&customer, body.clone()).await, "table_sig");
    body["table_sig"] = json!("forged");
    assert_validation(&app.order(&customer, body.clone()).await, "table_sig");
    assert_eq!(app.count("SELECT count(*) FROM orders"), 0);
    // With the right signature it goes through.
    assert_eq!(
        app.order(&customer, shop.simple_order()).await.status,
        StatusCode::CREATED
    );

    // The owner may open tables to anyone signed in, as the original design did.
    let settings = app
        .get("/api/v1/restaurants/me", Some(&shop.owner))
        .await
        .body;
    assert_eq!(settings["table_verification"], "QR");
    let bad = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"table_verification": "ANYTHING"}),
        )
        .await;
    assert_validation(&bad, "table_verification");
    let open = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"table_verification": "OPEN"}),
        )
        .await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.body);
    assert_eq!(open.body["table_verification"], "OPEN");
    body.as_object_mut().unwrap().remove("table_sig");
    assert_eq!(app.order(&customer, body).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn api_answers_are_never_cached_or_sniffed() {
    let app = TestApp::spawn().await;
    let shop = app.shop("headers@example.com", "POSTPAY").await;
    for res in [
        app.get("/api/v1/restaurants/me", Some(&shop.owner)).await,
        app.get("/api/v1/auth/me", None).await,
        app.get("/api/v1/nothing/here", None).await,
    ] {
        assert_eq!(res.headers["cache-control"], "no-store", "{}", res.body);
        assert_eq!(res.headers["x-content-type-options"], "nosniff");
    }
    // The public menu is revalidated by its ETag, which needs a stored copy.
    let menu = app
        .get(&format!("/api/v1/restaurants/{}/menu", shop.id), None)
        .await;
    assert_eq!(menu.headers["cache-control"], "no-cache");
    assert_eq!(menu.headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn metrics_are_for_the_box_itself_or_a_token() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.metrics_token = Some("scrape-me-please".into());
    })
    .await;
    assert!(app.metrics_text().await.contains("api_requests_total"));
    let from_lan = |token: Option<&'static str>| {
        let mut req = app
            .client
            .get(app.url("/metrics"))
            .header("x-forwarded-for", "192.168.0.23");
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    let refused = into_response(from_lan(None).await.unwrap()).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "FORBIDDEN");
    let wrong = into_response(from_lan(Some("guess")).await.unwrap()).await;
    assert_error(&wrong, StatusCode::FORBIDDEN, "FORBIDDEN");
    let allowed = from_lan(Some("scrape-me-please")).await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
}

#[tokio::test]
async fn logins_to_one_account_are_slowed_down_across_addresses() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.login_rate_limit_per_minute = 5;
        c.login_account_rate_limit_per_minute = 8;
    })
    .await;
    app.shop("guessed@example.com", "POSTPAY").await;
    // The shop() login above spent one attempt. Seven more guesses, each from its own address.
    for n in 0..7 {
        let res = into_response(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .header("x-forwarded-for", format!("10.1.0.{n}"))
                .json(&json!({"email": "guessed@example.com", "password": "wrong-guess"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let limited = into_response(
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", "10.1.0.200")
            .json(&json!({"email": "guessed@example.com", "password": "owner-password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let details = assert_error(
        &limited,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMIT_EXCEEDED",
    );
    // Not locked out for long: one attempt comes back every 60/8 = 7.5 seconds.
    assert!(details["retry_after_seconds"].as_u64().unwrap() <= 8);
    // Other accounts are not affected.
    let other = app.login("nobody@example.com", "whatever-pass").await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
    // And the owner's own device (it logged in from here before) is never held back.
    let owner = app.login("guessed@example.com", "owner-password").await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
}

#[tokio::test]
async fn the_database_files_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    if app.is_postgres() {
        return; // PostgreSQL's files are the database server's business
    }
    app.shop("perms@example.com", "POSTPAY").await;
    for name in ["ordersync.db", "ordersync.db-wal", "ordersync.db-shm"] {
        let path = app.data_dir.join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is {mode:o}");
    }
}

/// A small tmpfs to fill up; `None` where this process may not mount (not root).
fn small_disk(dir: &std::path::Path) -> Option<Mount> {
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "ordersync-test"])
        .arg(dir)
        .output()
        .ok()?;
    out.status.success().then(|| Mount(dir.to_owned()))
}

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_is_a_503_and_the_box_is_not_ready_until_a_write_succeeds() {
    let outer = tempfile::tempdir().unwrap();
    let data = outer.path().join("data");
    std::fs::create_dir(&data).unwrap();
    if crate::backend::postgres_base().is_some() {
        // SQLite writes the data dir; PostgreSQL's disk is the database server's (its full disk
        // maps to the same 503, see `store::postgres`).
        return;
    }
    let Some(_mount) = small_disk(&data) else {
        // CI runs as root and sets ORDERSYNC_REQUIRE_TMPFS, so this is never skipped there.
        assert!(
            std::env::var_os("ORDERSYNC_REQUIRE_TMPFS").is_none(),
            "cannot mount a tmpfs for the disk-full test"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let app = TestApp::spawn_in(&data, |_| {}).await;
    let shop = app.shop("full@example.com", "POSTPAY").await;
    let guest = app.guest(&shop.id, "3").await;
    app.place(&guest, shop.simple_order()).await;
    let orders_before = app.count("SELECT count(*) FROM orders");

    // Fill the disk to the last byte.
    let filler = data.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let small = [0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
    }
    let mut refused = None;
    for _ in 0..50 {
        let res = app.order(&guest, shop.simple_order()).await;
        if res.status != StatusCode::CREATED {
            refused = Some(res);
            break;
        }
    }
    let refused = refused.expect("orders kept succeeding on a full disk");
    assert_error(
        &refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    );
    assert!(refused.headers.contains_key("retry-after"));
    let placed_meanwhile = app.count("SELECT count(*) FROM orders") - orders_before;
    let ready = app.get("/readyz", None).await;
    assert_error(
        &ready,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    );
    assert!(ready.headers.contains_key("retry-after"));
    // Health is about the process, which is fine.
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);

    // Room again: ready again, orders again.
    std::fs::remove_file(&filler).unwrap();
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(
        app.order(&guest, shop.simple_order()).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.count("SELECT count(*) FROM orders"),
        orders_before + placed_meanwhile + 1
    );
    app.stop().await;
}
