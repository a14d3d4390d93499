//! The shop keeps running when its network changes: a box whose address moved away from the
//! printed QR codes says so (board and `ordersync doctor`); an internet outage (the fake Toss
//! stopped) shows on the board, the switch to counter payment lets a PREPAY restaurant take
//! orders and back, and a payment approved before the outage is settled after it; a clock set
//! back is reported and order numbers stay unique.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_toss::{CLIENT_KEY, FakeToss, SECRET_KEY};
use crate::helpers::{TestApp, assert_error, assert_validation};
use crate::process::ordersync_at;
use crate::staff::add_staff;

const STATUS: &str = "/api/v1/restaurants/me/status";
const SWITCH: &str = "/api/v1/restaurants/me/counter-payment";

/// Polls the status until `check` holds.
async fn status_until(app: &TestApp, token: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = app.get(STATUS, Some(token)).await.body;
        if check(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the status never got there: {last}");
}

#[tokio::test]
async fn a_printed_address_the_box_no_longer_has_is_reported_by_the_board_and_by_doctor() {
    let app =
        TestApp::spawn_with(|c| c.interface_addresses = vec!["192.168.0.23".parse().unwrap()])
            .await;
    let shop = app.shop("moved@example.com", "POSTPAY").await;
    let (_, staff) = add_staff(&app, &shop, "moved-staff@example.com", "STAFF").await;

    // Nothing printed yet: nothing to report.
    let status = app.get(STATUS, Some(&shop.owner)).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert_eq!(status.body["qr"]["moved"], false);
    assert_eq!(status.body["network"]["addresses"], json!(["192.168.0.23"]));
    // What `ordersync doctor` tells is on the board's settings too (asked for with details).
    assert!(status.body["network"]["guest_reachable"].is_null());
    let status = app
        .get(&format!("{STATUS}?details=true"), Some(&shop.owner))
        .await;
    let reach = &status.body["network"]["guest_reachable"][0];
    assert_eq!(reach["address"], "192.168.0.23", "{}", status.body);
    assert_eq!(reach["port"], app.http_port, "{}", status.body);
    assert!(status.body["disk"]["total_bytes"].as_u64().unwrap() > 0);

    // A preview of the sheet records nothing; printing it does.
    let sheet = "/api/v1/restaurants/me/qr-codes?tables=1-2&base_url=http://192.168.0.10:8080";
    assert_eq!(
        app.get(sheet, Some(&shop.owner)).await.status,
        StatusCode::OK
    );
    let printed = "/api/v1/restaurants/me/qr-codes/printed";
    assert_eq!(
        app.get(STATUS, Some(&shop.owner)).await.body["qr"]["printed_base_url"],
        Value::Null
    );
    for bad in [
        json!({"base_url": "ftp://x"}),
        json!({"base_url": ""}),
        json!({}),
    ] {
        let res = app.post(printed, Some(&shop.owner), bad).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    }
    let res = app
        .post(
            printed,
            Some(&staff),
            json!({"base_url": "http://192.168.0.10:8080"}),
        )
        .await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(
        app.get(STATUS, Some(&shop.owner)).await.body["qr"]["printed_base_url"],
        Value::Null
    );

    // Printed while the box was at .23: fine.
    let res = app
        .post(
            printed,
            Some(&shop.owner),
            json!({"base_url": "http://192.168.0.23:8080/"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
    let status = app.get(STATUS, Some(&staff)).await.body;
    assert_eq!(status["qr"]["status"], "HERE");
    assert_eq!(status["qr"]["printed_base_url"], "http://192.168.0.23:8080");

    // Codes printed at .10 (before the router handed the box a new address) lead nowhere now.
    let res = app
        .post(
            printed,
            Some(&shop.owner),
            json!({"base_url": "http://192.168.0.10:8080"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
    let status = app.get(STATUS, Some(&staff)).await.body;
    assert_eq!(status["qr"]["moved"], true, "{status}");
    assert_eq!(status["qr"]["host"], "192.168.0.10");
    let guest = app.guest(&shop.id, "1").await;
    assert_error(
        &app.get(STATUS, Some(&guest)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );

    // `ordersync doctor` says the same, and exits 1.
    let out = ordersync_at(&app.data_dir)
        .args(["doctor", "--data-dir"])
        .arg(&app.data_dir)
        .args(["--interface-addresses", "192.168.0.23", "--http-port"])
        .arg(app.http_port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("addresses: 192.168.0.23"), "{stdout}");
    assert!(
        stdout.contains("QR 코드 주소가 바뀌었습니다 (MOVED)"),
        "{stdout}"
    );
    assert!(stdout.contains("http://192.168.0.10:8080"), "{stdout}");
    assert!(
        stdout.contains("Disk") && stdout.contains("Clock"),
        "{stdout}"
    );

    // The box is given .10 back (a DHCP reservation): all good again.
    let out = ordersync_at(&app.data_dir)
        .args(["doctor", "--data-dir"])
        .arg(&app.data_dir)
        .args([
            "--interface-addresses",
            "192.168.0.10,127.0.0.1",
            "--http-port",
        ])
        .arg(app.http_port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("MOVED"), "{stdout}");
    assert!(
        stdout.contains("guest page on http://127.0.0.1"),
        "{stdout}"
    );
}

#[tokio::test]
async fn an_internet_outage_switches_a_prepay_restaurant_to_the_counter_and_back() {
    let fake = FakeToss::start().await;
    let base = fake.base.clone();
    let app = TestApp::spawn_with(move |c| {
        c.payments = ordersync::config::PaymentsChoice::Toss;
        c.toss_secret_key = Some(SECRET_KEY.into());
        c.toss_client_key = Some(CLIENT_KEY.into());
        c.toss_api_base = base;
        c.toss_timeout_ms = 500;
        c.provider_probe_ms = 100;
        c.payment_sweep_ms = 200;
        c.payment_reconcile_after_secs = 0;
    })
    .await;
    let shop = app.shop("outage@example.com", "PREPAY").await;
    let (_, staff) = add_staff(&app, &shop, "outage-staff@example.com", "STAFF").await;
    let customer = app.customer("outage-customer@example.com").await;
    status_until(&app, &staff, |s| s["payments"]["reachable"] == true).await;

    // Paid before the outage.
    let paid = app.place(&customer, shop.simple_order()).await;
    let key = fake.authenticate(&paid, 18000);
    let res = app
        .post(
            "/api/v1/payments/confirm",
            None,
            json!({"paymentKey": key, "orderId": paid, "amount": 18000}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    // Approved at Toss just before the line went down; the box never heard the answer.
    let approved = app.place(&customer, shop.simple_order()).await;
    let approved_key = fake.authenticate(&approved, 18000);
    fake.approve_behind_the_back(&approved_key);

    fake.stop();
    let res = app
        .post(
            "/api/v1/payments/confirm",
            None,
            json!({"paymentKey": approved_key, "orderId": approved, "amount": 18000}),
        )
        .await;
    assert_error(
        &res,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    );
    let status = status_until(&app, &staff, |s| s["payments"]["reachable"] == false).await;
    assert_eq!(status["payments"]["counter_payment"], false);
    assert!(status["payments"]["last_error"].is_string());

    // Bad switches change nothing.
    let events = || app.count("SELECT count(*) FROM order_events WHERE type = 'PAYMENT_SWITCH'");
    assert_validation(
        &app.post(SWITCH, Some(&staff), json!({"enabled": "yes"}))
            .await,
        "enabled",
    );
    assert_eq!(events(), 0);

    // The floor switches to the counter: a PREPAY restaurant takes orders paid at the counter.
    let res = app
        .post(SWITCH, Some(&staff), json!({"enabled": true}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["counter_payment"], true);
    assert_eq!(res.body["payment_mode_in_effect"], "POSTPAY");
    // Again: no change, logged once.
    assert_eq!(
        app.post(SWITCH, Some(&staff), json!({"enabled": true}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(events(), 1);
    let menu = app
        .get(&format!("/api/v1/restaurants/{}/menu", shop.id), None)
        .await
        .body;
    assert_eq!(menu["restaurant"]["payment_mode"], "POSTPAY");
    assert_eq!(menu["restaurant"]["counter_payment"], true);
    let during = app.order(&customer, shop.simple_order()).await;
    assert_eq!(during.status, StatusCode::CREATED, "{}", during.body);
    assert_eq!(during.body["payment_required"], false, "{}", during.body);
    let during = during.body["order_id"].as_str().unwrap().to_owned();
    let order = app
        .get(&format!("/api/v1/orders/{during}"), Some(&customer))
        .await;
    assert_eq!(order.body["payment_mode"], "POSTPAY", "{}", order.body);
    // The kitchen can cook it at once; the paid order is as it was.
    let res = app
        .act(
            &staff,
            &during,
            "accept",
            Some(json!({"estimated_time_minutes": 10})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let order = app
        .get(&format!("/api/v1/orders/{paid}"), Some(&customer))
        .await;
    assert_eq!(order.body["payment_status"], "PAID");

    // Toss is back: the payment approved before the outage is settled by reconciliation.
    fake.start_again().await;
    status_until(&app, &staff, |s| s["payments"]["reachable"] == true).await;
    let mut settled = Value::Null;
    for _ in 0..100 {
        settled = app
            .get(&format!("/api/v1/orders/{approved}"), Some(&customer))
            .await
            .body;
        if settled["payment_status"] == "PAID" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(settled["payment_status"], "PAID", "{settled}");

    // Back to online payment: new orders are PREPAY again.
    let res = app
        .post(SWITCH, Some(&staff), json!({"enabled": false}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["payment_mode_in_effect"], "PREPAY");
    let after = app.order(&customer, shop.simple_order()).await;
    assert_eq!(after.body["payment_required"], true, "{}", after.body);
    let menu = app
        .get(&format!("/api/v1/restaurants/{}/menu", shop.id), None)
        .await
        .body;
    assert!(menu["restaurant"].get("counter_payment").is_none());

    // Both switches are in the event log with who made them.
    assert_eq!(events(), 2);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM order_events WHERE type = 'PAYMENT_SWITCH' \
             AND actor_role = 'STAFF' AND actor_name = 'STAFF 김'"
        ),
        2
    );
}

#[tokio::test]
async fn a_postpay_restaurant_has_nothing_to_switch() {
    let app = TestApp::spawn().await;
    let shop = app.shop("no-switch@example.com", "POSTPAY").await;
    let res = app
        .post(SWITCH, Some(&shop.owner), json!({"enabled": true}))
        .await;
    assert_error(&res, StatusCode::CONFLICT, "CONFLICT");
    let settings = app
        .get("/api/v1/restaurants/me", Some(&shop.owner))
        .await
        .body;
    assert_eq!(settings["payment_mode"], "POSTPAY");
    assert_eq!(
        app.count("SELECT count(*) FROM order_events WHERE type = 'PAYMENT_SWITCH'"),
        0
    );
}

#[tokio::test]
async fn a_clock_set_back_an_hour_is_reported_and_order_numbers_stay_unique() {
    // 00:30 in Seoul: an hour back is the previous business day, which must not be reopened
    // (its order numbers would start again at A001). The box starts at that time.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    let half_past_midnight_kst = tomorrow.and_hms_opt(15, 30, 0).unwrap().and_utc();
    let mut clock = None;
    let app = TestApp::spawn_with(|c| {
        c.clock_check_ms = 50;
        c.clock.advance(half_past_midnight_kst - c.clock.now());
        clock = Some(c.clock.clone());
    })
    .await;
    let clock = clock.unwrap();
    let shop = app.shop("clock@example.com", "POSTPAY").await;
    let guest = app.guest(&shop.id, "3").await;
    let mut numbers = Vec::new();
    for _ in 0..2 {
        let id = app.place(&guest, shop.simple_order()).await;
        numbers.push(id);
    }
    let status = app.get(STATUS, Some(&shop.owner)).await.body;
    assert!(status["clock"]["jump"].is_null(), "{status}");

    clock.advance(chrono::Duration::hours(-1));
    let status = status_until(&app, &shop.owner, |s| !s["clock"]["jump"].is_null()).await;
    let by = status["clock"]["jump"]["by_seconds"].as_i64().unwrap();
    assert!((-3700..=-3500).contains(&by), "{status}");
    let behind = status["clock"]["behind_newest_order_seconds"]
        .as_i64()
        .unwrap();
    assert!((3500..=3700).contains(&behind), "{status}");

    for _ in 0..2 {
        let id = app.place(&guest, shop.simple_order()).await;
        numbers.push(id);
    }
    let mut seen = std::collections::HashSet::new();
    for id in &numbers {
        let order = app
            .get(&format!("/api/v1/orders/{id}"), Some(&guest))
            .await
            .body;
        let number = order["order_number"].as_str().unwrap().to_owned();
        assert!(
            seen.insert(number.clone()),
            "order number {number} handed out twice"
        );
    }
    assert_eq!(seen.len(), 4);
    // All four are on the business day that was running when the clock went back.
    let day = (tomorrow + chrono::Duration::days(1)).to_string();
    let history = app
        .get(
            &format!("/api/v1/restaurants/me/orders/history?date={day}"),
            Some(&shop.owner),
        )
        .await
        .body;
    assert_eq!(history["orders"].as_array().unwrap().len(), 4, "{history}");
}
