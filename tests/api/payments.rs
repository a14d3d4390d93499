use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_toss::{CLIENT_KEY, Endpoint, FakeToss, Fault, SECRET_KEY};
use crate::helpers::{Shop, TestApp, assert_error, assert_validation, next_json};

async fn with_toss(
    fake: &FakeToss,
    configure: impl FnOnce(&mut ordersync::config::Config),
) -> TestApp {
    let base = fake.base.clone();
    TestApp::spawn_with(move |c| {
        c.payments = ordersync::config::PaymentsChoice::Toss;
        c.toss_secret_key = Some(SECRET_KEY.into());
        c.toss_client_key = Some(CLIENT_KEY.into());
        c.toss_api_base = base;
        c.toss_timeout_ms = 1_000;
        configure(c);
    })
    .await
}

/// A PREPAY shop, a customer, and one order of 18,000 won; returns (shop, customer, order id).
async fn ordered(app: &TestApp, tag: &str) -> (Shop, String, String) {
    let shop = app.shop(&format!("{tag}@example.com"), "PREPAY").await;
    let customer = app.customer(&format!("{tag}-customer@example.com")).await;
    let order = app.place(&customer, shop.simple_order()).await;
    (shop, customer, order)
}

async fn confirm(app: &TestApp, key: &str, order: &str, amount: i64) -> crate::helpers::Response {
    app.post(
        "/api/v1/payments/confirm",
        None,
        json!({ "paymentKey": key, "orderId": order, "amount": amount }),
    )
    .await
}

async fn confirm_as(
    app: &TestApp,
    token: &str,
    key: &str,
    order: &str,
    amount: i64,
) -> crate::helpers::Response {
    app.post(
        "/api/v1/payments/confirm",
        Some(token),
        json!({ "paymentKey": key, "orderId": order, "amount": amount }),
    )
    .await
}

async fn order_json(app: &TestApp, token: &str, order: &str) -> Value {
    app.get(&format!("/api/v1/orders/{order}"), Some(token))
        .await
        .body
}

async fn payment_status(app: &TestApp, token: &str, order: &str) -> String {
    order_json(app, token, order).await["payment_status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls until `check` holds for the order (background work), or fails after 10 s.
async fn eventually(
    app: &TestApp,
    token: &str,
    order: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let seen = order_json(app, token, order).await;
        if check(&seen) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "order {order} never reached the expected state: {}",
        order_json(app, token, order).await
    );
}

/// How many of the box's payment records have this status and Toss payment key.
fn payments_with(app: &TestApp, status: &str, key: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) FROM payments WHERE status = '{status}' AND toss_payment_key = '{key}'"
    ))
}

/// Polls until `done` holds (background work), or fails after 10 s.
async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the expected background work never finished");
}

#[tokio::test]
async fn the_happy_path_pays_publishes_and_unlocks_accept() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (shop, customer, order) = ordered(&app, "pay-happy").await;
    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={}", shop.owner))
        .await;
    next_json(&mut board, Duration::from_secs(1)).await;

    let init = app
        .post(
            "/api/v1/payments/initiate",
            Some(&customer),
            json!({"order_id": order, "amount": 18000, "payment_method": "CARD"}),
        )
        .await;
    assert_eq!(init.status, StatusCode::OK, "{}", init.body);
    assert!(init.body["payment_key"].is_null());
    assert_eq!(init.body["order_id"], order.as_str());
    assert_eq!(init.body["amount"], 18000);
    assert_eq!(init.body["provider"], "toss");
    assert_eq!(init.body["client_key"], CLIENT_KEY);
    assert!(
        init.body["payment_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/pay/{order}"))
    );
    assert!(
        init.body["success_url"]
            .as_str()
            .unwrap()
            .ends_with("/pay/success")
    );
    assert!(
        init.body["fail_url"]
            .as_str()
            .unwrap()
            .ends_with("/pay/fail")
    );
    assert!(init.body["order_name"].as_str().unwrap().contains("A001"));
    assert!(init.body["expires_at"].is_string());
    // Re-initiating reuses the pending payment.
    app.post(
        "/api/v1/payments/initiate",
        Some(&customer),
        json!({"order_id": order, "amount": 18000}),
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM payments"), 1);

    let key = fake.authenticate(&order, 18000);
    let res = confirm(&app, &key, &order, 18000).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        res.body,
        json!({"success": true, "order_id": order, "payment_status": "COMPLETED"})
    );
    assert_eq!(payment_status(&app, &customer, &order).await, "PAID");
    assert_eq!(fake.status(&key), "DONE");

    let calls = fake.calls(Endpoint::Confirm);
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        call.authorization.as_deref(),
        Some("Basic dGVzdF9za196WExrS0V5cE5BcldtbzUwblgzbG1lYXhZRzVSOg==")
    );
    assert!(
        call.idempotency_key
            .as_deref()
            .is_some_and(|k| !k.is_empty() && k.len() <= 300)
    );
    assert_eq!(
        call.body,
        json!({"paymentKey": key, "orderId": order, "amount": 18000})
    );

    let event = next_json(&mut board, Duration::from_secs(1)).await;
    assert_eq!(event["type"], "PAYMENT_COMPLETED");
    assert_eq!(event["order_id"], order.as_str());
    assert_eq!(event["payment_status"], "PAID");

    let accepted = app
        .act(
            &shop.owner,
            &order,
            "accept",
            Some(json!({"estimated_time_minutes": 10})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(
        app.count("SELECT count(*) FROM payments WHERE status = 'COMPLETED' AND toss_payment_key IS NOT NULL"),
        1
    );
}

#[tokio::test]
async fn tampered_amounts_are_refused_before_toss_is_called() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (_, customer, order) = ordered(&app, "pay-tamper").await;
    let res = app
        .post(
            "/api/v1/payments/initiate",
            Some(&customer),
            json!({"order_id": order, "amount": 100}),
        )
        .await;
    assert_validation(&res, "amount");
    assert_eq!(app.count("SELECT count(*) FROM payments"), 0);

    let key = fake.authenticate(&order, 100);
    assert_validation(&confirm(&app, &key, &order, 100).await, "amount");
    assert!(fake.calls(Endpoint::Confirm).is_empty());
    assert_eq!(payment_status(&app, &customer, &order).await, "PENDING");
    assert_eq!(fake.status(&key), "IN_PROGRESS");

    for (body, field) in [
        (
            json!({"paymentKey": "", "orderId": order, "amount": 18000}),
            "paymentKey",
        ),
        (
            json!({"paymentKey": "k", "orderId": "not-ours", "amount": 18000}),
            "orderId",
        ),
        (json!({"paymentKey": "k", "orderId": order}), "amount"),
    ] {
        assert_validation(
            &app.post("/api/v1/payments/confirm", None, body).await,
            field,
        );
    }
    assert!(fake.calls(Endpoint::Confirm).is_empty());
}

#[tokio::test]
async fn ten_concurrent_confirms_call_toss_once_and_agree() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (_, customer, order) = ordered(&app, "pay-race").await;
    let key = fake.authenticate(&order, 18000);
    let results =
        futures_util::future::join_all((0..10).map(|_| confirm(&app, &key, &order, 18000))).await;
    for res in &results {
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.body, results[0].body);
    }
    assert_eq!(fake.calls(Endpoint::Confirm).len(), 1);
    assert_eq!(payment_status(&app, &customer, &order).await, "PAID");
    assert_eq!(
        app.count("SELECT count(*) FROM order_events WHERE type = 'PAYMENT_COMPLETED'"),
        1
    );
}

#[tokio::test]
async fn a_decline_is_recorded_and_the_order_can_be_paid_again() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (_, customer, order) = ordered(&app, "pay-decline").await;
    fake.inject(
        Endpoint::Confirm,
        Fault::Decline("REJECT_CARD_PAYMENT", 403),
    );
    let key = fake.authenticate(&order, 18000);
    let res = confirm(&app, &key, &order, 18000).await;
    let details = assert_error(&res, StatusCode::PAYMENT_REQUIRED, "PAYMENT_DECLINED");
    assert_eq!(details["provider_code"], "REJECT_CARD_PAYMENT");
    assert_eq!(
        app.count("SELECT count(*) FROM payments WHERE status = 'FAILED' AND failure_code = 'REJECT_CARD_PAYMENT'"),
        1
    );
    assert_eq!(payment_status(&app, &customer, &order).await, "PENDING");
    assert_eq!(fake.status(&key), "ABORTED");

    // Another card this time.
    let second = fake.authenticate(&order, 18000);
    let res = confirm(&app, &second, &order, 18000).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(payment_status(&app, &customer, &order).await, "PAID");
}

#[tokio::test]
async fn an_expired_session_is_a_decline_with_tosss_code() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (_, _, order) = ordered(&app, "pay-expired").await;
    let key = fake.authenticate(&order, 18000);
    fake.advance(chrono::Duration::minutes(11));
    let res = confirm(&app, &key, &order, 18000).await;
    let details = assert_error(&res, StatusCode::PAYMENT_REQUIRED, "PAYMENT_DECLINED");
    assert_eq!(details["provider_code"], "NOT_FOUND_PAYMENT_SESSION");
}

#[tokio::test]
async fn toss_down_leaves_the_payment_pending_until_reconciliation_settles_it() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |c| {
        c.toss_timeout_ms = 500;
        c.payment_sweep_ms = 200;
        c.payment_reconcile_after_secs = 0;
    })
    .await;
    let (shop, customer, order) = ordered(&app, "pay-down").await;
    // Three attempts, three failures: two 500s and a timeout.
    fake.inject(Endpoint::Confirm, Fault::ServerError);
    fake.inject(Endpoint::Confirm, Fault::ServerError);
    fake.inject(Endpoint::Confirm, Fault::Timeout);
    // The lookup after them fails too, so the box cannot know yet.
    fake.inject(Endpoint::Lookup, Fault::ServerError);
    fake.inject(Endpoint::Lookup, Fault::ServerError);
    fake.inject(Endpoint::Lookup, Fault::ServerError);
    let key = fake.authenticate(&order, 18000);
    let res = confirm(&app, &key, &order, 18000).await;
    assert_error(
        &res,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    );
    assert_eq!(payments_with(&app, "PENDING", &key), 1);

    // Toss recovers; the sweep looks the payment up, confirms it and settles it, once.
    let paid = eventually(&app, &customer, &order, |o| o["payment_status"] == "PAID").await;
    assert_eq!(paid["payment_status"], "PAID");
    assert_eq!(fake.status(&key), "DONE");
    assert_eq!(
        fake.calls(Endpoint::Confirm)
            .iter()
            .filter(|c| c.processed)
            .count(),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM order_events WHERE type = 'PAYMENT_COMPLETED'"),
        1
    );

    // Another outage; this time Toss did approve (the answer was what got lost), and later
    // reports DONE: the sweep settles it without confirming again.
    let second = app.place(&customer, shop.simple_order()).await;
    // The first attempt hangs; the retries find it still in flight (409); lookups fail.
    fake.inject(Endpoint::Confirm, Fault::Timeout);
    for _ in 0..3 {
        fake.inject(Endpoint::Lookup, Fault::ServerError);
    }
    let key = fake.authenticate(&second, 18000);
    assert_error(
        &confirm(&app, &key, &second, 18000).await,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    );
    fake.approve_behind_the_back(&key);
    eventually(&app, &customer, &second, |o| o["payment_status"] == "PAID").await;
    assert!(
        fake.calls(Endpoint::Confirm)
            .iter()
            .all(|c| !c.processed || c.body["paymentKey"] != key.as_str()),
        "the box did not confirm the approved payment again"
    );
}

#[tokio::test]
async fn a_response_lost_after_toss_committed_ends_paid_exactly_once() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |c| c.toss_timeout_ms = 500).await;
    let (_, customer, order) = ordered(&app, "pay-lost").await;
    fake.inject(Endpoint::Confirm, Fault::DropAfterCommit);
    let key = fake.authenticate(&order, 18000);
    let res = confirm(&app, &key, &order, 18000).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(payment_status(&app, &customer, &order).await, "PAID");
    let calls = fake.calls(Endpoint::Confirm);
    assert!(calls.len() >= 2, "the box retried");
    assert!(
        calls.iter().any(|c| c.status == 409),
        "a retry found the first request still in flight"
    );
    assert_eq!(
        calls.iter().filter(|c| c.processed).count(),
        1,
        "Toss approved once"
    );
    // Every retry carried the same idempotency key.
    assert!(
        calls
            .iter()
            .all(|c| c.idempotency_key == calls[0].idempotency_key)
    );
    assert_eq!(
        app.count("SELECT count(*) FROM payments WHERE status = 'COMPLETED'"),
        1
    );
}

#[tokio::test]
async fn webhooks_are_hints_checked_against_toss_and_deduplicated() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (_, customer, order) = ordered(&app, "pay-hook").await;
    app.post(
        "/api/v1/payments/initiate",
        Some(&customer),
        json!({"order_id": order, "amount": 18000}),
    )
    .await;

    // The customer authenticated in Toss's window (IN_PROGRESS) but has not come back yet. A
    // forged webhook claiming DONE changes nothing: Toss is asked, and says IN_PROGRESS; and a
    // webhook never makes the box confirm (charge) anything.
    let key = fake.authenticate(&order, 18000);
    let forged = json!({"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-26T12:00:00.000000",
        "data": {"paymentKey": key, "orderId": order, "status": "DONE", "totalAmount": 18000}});
    let hook = |id: &str, body: Value| {
        let req = app
            .client
            .post(app.url("/api/v1/payments/webhook"))
            .header("tosspayments-webhook-transmission-id", id)
            .header(
                "tosspayments-webhook-transmission-time",
                "2026-11-26T12:00:00+09:00",
            )
            .header("tosspayments-webhook-transmission-retried-count", "0")
            .json(&body);
        async move { crate::helpers::into_response(req.send().await.unwrap()).await }
    };
    let res = hook("whtrans_forged", forged).await;
    assert_eq!(res.status, StatusCode::OK);
    // The delivery is recorded once its re-read has been applied.
    wait_for(|| app.count("SELECT count(*) FROM webhook_deliveries") == 1).await;
    assert!(
        !fake.calls(Endpoint::Lookup).is_empty(),
        "the webhook was checked with Toss"
    );
    assert_eq!(payment_status(&app, &customer, &order).await, "PENDING");
    assert!(fake.calls(Endpoint::Confirm).is_empty());
    assert_eq!(fake.status(&key), "IN_PROGRESS");

    // Toss approved the payment without the box hearing of it; the webhook makes it look.
    fake.approve_behind_the_back(&key);
    let real = json!({"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-26T12:01:00.000000",
        "data": {"paymentKey": key, "orderId": order, "status": "DONE"}});
    assert_eq!(hook("whtrans_1", real.clone()).await.status, StatusCode::OK);
    eventually(&app, &customer, &order, |o| o["payment_status"] == "PAID").await;
    wait_for(|| app.count("SELECT count(*) FROM webhook_deliveries") == 2).await;
    let lookups = fake.calls(Endpoint::Lookup).len();
    // Answered at once, with nothing started in the background.
    let again = hook("whtrans_1", real).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["status"], "duplicate");
    assert_eq!(
        fake.calls(Endpoint::Lookup).len(),
        lookups,
        "a resent delivery is not re-read"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM order_events WHERE type = 'PAYMENT_COMPLETED'"),
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM webhook_deliveries"), 2);

    // A delivery whose re-read fails is not marked handled: Toss's resend is applied.
    for _ in 0..3 {
        fake.inject(Endpoint::Lookup, Fault::ServerError);
    }
    let unlucky = json!({"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-26T12:02:00.000000",
        "data": {"paymentKey": key, "orderId": order, "status": "DONE"}});
    let before = fake.calls(Endpoint::Lookup).len();
    assert_eq!(
        hook("whtrans_2", unlucky.clone()).await.body["status"],
        "accepted"
    );
    wait_for(|| fake.calls(Endpoint::Lookup).len() == before + 3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.count("SELECT count(*) FROM webhook_deliveries"), 2);
    assert_eq!(hook("whtrans_2", unlucky).await.body["status"], "accepted");

    let garbage = app
        .client
        .post(app.url("/api/v1/payments/webhook"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
}

async fn paid_order(app: &TestApp, fake: &FakeToss, tag: &str) -> (Shop, String, String, String) {
    let (shop, customer, order) = ordered(app, tag).await;
    let key = fake.authenticate(&order, 18000);
    assert_eq!(
        confirm(app, &key, &order, 18000).await.status,
        StatusCode::OK
    );
    (shop, customer, order, key)
}

#[tokio::test]
async fn rejecting_a_paid_order_refunds_it_once_with_the_reason() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (shop, customer, order, key) = paid_order(&app, &fake, "refund").await;
    let res = app
        .act(
            &shop.owner,
            &order,
            "reject",
            Some(json!({"reason": "재료 소진"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["status"], "REJECTED");
    let refunded = eventually(&app, &customer, &order, |o| {
        o["payment_status"] == "REFUNDED"
    })
    .await;
    assert_eq!(refunded["status"], "REJECTED");
    let cancels = fake.calls(Endpoint::Cancel);
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].body["cancelReason"], "재료 소진");
    assert_eq!(cancels[0].path, format!("/v1/payments/{key}/cancel"));
    assert!(cancels[0].idempotency_key.is_some());
    assert_eq!(fake.status(&key), "CANCELED");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM payments WHERE status = 'REFUNDED' AND refund_status = 'DONE'"
        ),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM order_events WHERE type = 'PAYMENT_REFUNDED'"),
        1
    );
}

#[tokio::test]
async fn a_refund_owed_while_toss_is_down_is_retried_until_it_goes_through() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |c| {
        c.payment_sweep_ms = 100;
        c.refund_retry_base_ms = 100;
    })
    .await;
    let (shop, customer, order, key) = paid_order(&app, &fake, "refund-down").await;
    for _ in 0..12 {
        fake.inject(Endpoint::Cancel, Fault::ServerError);
    }
    let res = app
        .post_empty(&format!("/api/v1/orders/{order}/cancel"), Some(&customer))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["status"], "CANCELLED");
    assert_eq!(res.body["payment_status"], "REFUND_PENDING");
    // The owner sees the refund owed, with why it has not gone through yet.
    let mut owed = Value::Null;
    for _ in 0..500 {
        let summary = app
            .get("/api/v1/restaurants/me/summary", Some(&shop.owner))
            .await;
        owed = summary.body["refunds_pending"][0].clone();
        if owed["attempts"].as_i64().unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(owed["order_id"], order.as_str(), "{owed}");
    assert_eq!(owed["amount"], 18000);
    assert!(
        owed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("FAILED_INTERNAL_SYSTEM_PROCESSING")),
        "{owed}"
    );
    eventually(&app, &customer, &order, |o| {
        o["payment_status"] == "REFUNDED"
    })
    .await;
    let summary = app
        .get("/api/v1/restaurants/me/summary", Some(&shop.owner))
        .await;
    assert_eq!(summary.body["refunds_pending"], json!([]));
    let cancels = fake.calls(Endpoint::Cancel);
    assert!(cancels.len() >= 13, "{} attempts", cancels.len());
    assert_eq!(
        cancels.iter().filter(|c| c.processed).count(),
        1,
        "refunded once"
    );
    assert_eq!(fake.cancels(&key).len(), 1);
    // Retries within an attempt reuse its key; a later attempt, after checking with Toss that
    // the payment is still uncancelled, uses the next one.
    let first_key = cancels[0].idempotency_key.clone().unwrap();
    assert!(first_key.starts_with("refund-"));
    assert_eq!(
        cancels[1].idempotency_key.as_deref(),
        Some(first_key.as_str())
    );
    assert!(cancels.iter().all(|c| {
        c.idempotency_key
            .as_deref()
            .unwrap()
            .starts_with(&first_key)
    }));
    assert!(
        fake.calls(Endpoint::Lookup)
            .iter()
            .any(|c| c.path == format!("/v1/payments/{key}"))
    );
    assert!(app.count("SELECT refund_attempts FROM payments WHERE status = 'REFUNDED'") >= 1);
}

#[tokio::test]
async fn a_refund_whose_answer_was_lost_is_not_sent_again() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |c| {
        c.toss_timeout_ms = 500;
        c.payment_sweep_ms = 100;
        c.refund_retry_base_ms = 100;
    })
    .await;
    let (shop, customer, order, key) = paid_order(&app, &fake, "refund-lost").await;
    fake.inject(Endpoint::Cancel, Fault::DropAfterCommit);
    let res = app
        .act(
            &shop.owner,
            &order,
            "reject",
            Some(json!({"reason": "품절"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    eventually(&app, &customer, &order, |o| {
        o["payment_status"] == "REFUNDED"
    })
    .await;
    let cancels = fake.calls(Endpoint::Cancel);
    assert_eq!(cancels.iter().filter(|c| c.processed).count(), 1);
    assert_eq!(fake.cancels(&key).len(), 1);
    assert!(
        cancels[0].processed,
        "the lost first request is the one that refunded"
    );
    assert!(
        cancels.iter().any(|c| c.status == 409),
        "a retry found it in flight"
    );
}

#[tokio::test]
async fn a_refund_toss_refused_is_tried_again_under_a_new_key() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |c| {
        c.payment_sweep_ms = 100;
        c.refund_retry_base_ms = 100;
    })
    .await;
    let (_, customer, order, key) = paid_order(&app, &fake, "refund-refused").await;
    // A final refusal, which Toss would replay for this key for 15 days.
    fake.inject(Endpoint::Cancel, Fault::Decline("FORBIDDEN_REQUEST", 403));
    let res = app
        .post_empty(&format!("/api/v1/orders/{order}/cancel"), Some(&customer))
        .await;
    assert_eq!(res.body["payment_status"], "REFUND_PENDING");
    eventually(&app, &customer, &order, |o| {
        o["payment_status"] == "REFUNDED"
    })
    .await;
    let cancels = fake.calls(Endpoint::Cancel);
    assert_eq!(cancels.len(), 2);
    assert_ne!(cancels[0].idempotency_key, cancels[1].idempotency_key);
    assert_eq!(fake.cancels(&key).len(), 1);
}

#[tokio::test]
async fn a_gateway_error_after_toss_approved_is_not_a_decline() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (_, customer, order) = ordered(&app, "pay-gateway").await;
    // Toss approves, but a gateway in front of it answers 502 with an HTML page, three times.
    fake.inject(Endpoint::Confirm, Fault::Gateway { commit: true });
    fake.inject(Endpoint::Confirm, Fault::Gateway { commit: false });
    fake.inject(Endpoint::Confirm, Fault::Gateway { commit: false });
    let key = fake.authenticate(&order, 18000);
    let res = confirm(&app, &key, &order, 18000).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(payment_status(&app, &customer, &order).await, "PAID");
    assert_eq!(
        app.count("SELECT count(*) FROM payments WHERE status = 'FAILED'"),
        0
    );
    assert_eq!(fake.calls(Endpoint::Confirm).len(), 3);
}

#[tokio::test]
async fn paying_again_after_a_lost_answer_finds_the_first_payment() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |c| c.toss_timeout_ms = 500).await;
    let (_, customer, order) = ordered(&app, "pay-twice").await;
    // The first payment's confirm and lookups all fail: the box cannot know its fate.
    let first = fake.authenticate(&order, 18000);
    fake.inject(Endpoint::Confirm, Fault::Timeout);
    for _ in 0..3 {
        fake.inject(Endpoint::Lookup, Fault::ServerError);
    }
    assert_error(
        &confirm(&app, &first, &order, 18000).await,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    );
    // It did go through at Toss. The impatient customer pays again with another card: the box
    // finds the first payment instead of confirming (charging) the second.
    fake.approve_behind_the_back(&first);
    let second = fake.authenticate(&order, 18000);
    let res = confirm(&app, &second, &order, 18000).await;
    assert_error(&res, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(payment_status(&app, &customer, &order).await, "PAID");
    assert_eq!(fake.status(&second), "IN_PROGRESS");
    assert!(
        fake.calls(Endpoint::Confirm)
            .iter()
            .all(|c| c.body["paymentKey"] != second.as_str())
    );
    assert_eq!(payments_with(&app, "COMPLETED", &first), 1);
}

#[tokio::test]
async fn paying_again_after_an_attempt_that_never_went_through_replaces_it() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |c| c.toss_timeout_ms = 500).await;
    let (_, customer, order) = ordered(&app, "pay-replace").await;
    // The first confirm is lost on the way and nothing can be learned about it...
    let first = fake.authenticate(&order, 18000);
    for _ in 0..3 {
        fake.inject(Endpoint::Confirm, Fault::Gateway { commit: false });
        fake.inject(Endpoint::Lookup, Fault::ServerError);
    }
    assert_error(
        &confirm(&app, &first, &order, 18000).await,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    );
    // ...and it never reached Toss: the second card is confirmed, the first attempt closed.
    let second = fake.authenticate(&order, 18000);
    let res = confirm(&app, &second, &order, 18000).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(fake.status(&first), "IN_PROGRESS");
    assert_eq!(fake.status(&second), "DONE");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM payments WHERE status = 'FAILED' AND failure_code = 'REPLACED' AND toss_payment_key = '{first}'"
        )),
        1
    );
    assert_eq!(payments_with(&app, "COMPLETED", &second), 1);
    assert_eq!(payment_status(&app, &customer, &order).await, "PAID");
}

#[tokio::test]
async fn a_refusal_that_hides_an_approval_settles_the_approval() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (_, customer, order) = ordered(&app, "pay-hidden").await;
    // Toss approved a payment of this order that never reached the box...
    let first = fake.authenticate(&order, 18000);
    fake.approve_behind_the_back(&first);
    // ...so confirming another one is refused as a duplicate order id.
    let second = fake.authenticate(&order, 18000);
    let res = confirm(&app, &second, &order, 18000).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(payment_status(&app, &customer, &order).await, "PAID");
    assert_eq!(
        fake.calls(Endpoint::Confirm)[0].status,
        400,
        "Toss refused the second payment"
    );
    assert_eq!(payments_with(&app, "COMPLETED", &first), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM payments WHERE status = 'FAILED'"),
        0
    );
}

#[tokio::test]
async fn strangers_cannot_pay_or_see_my_order() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (other_shop_owner, order) = {
        let (_, _, order) = ordered(&app, "pay-bola").await;
        let other = app.shop("pay-bola-other@example.com", "PREPAY").await;
        (other.owner, order)
    };
    let stranger = app.customer("pay-stranger@example.com").await;
    for token in [&stranger, &other_shop_owner] {
        let res = app
            .post(
                "/api/v1/payments/initiate",
                Some(token),
                json!({"order_id": order, "amount": 18000}),
            )
            .await;
        assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_error(
            &app.get(&format!("/api/v1/orders/{order}"), Some(token))
                .await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
    }
    let res = app
        .post(
            "/api/v1/payments/initiate",
            None,
            json!({"order_id": order, "amount": 18000}),
        )
        .await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(app.count("SELECT count(*) FROM payments"), 0);
}

#[tokio::test]
async fn without_a_toss_key_the_simulated_provider_runs_the_same_flow() {
    let app = TestApp::spawn().await;
    let (shop, customer, order) = ordered(&app, "pay-sim").await;
    let init = app
        .post(
            "/api/v1/payments/initiate",
            Some(&customer),
            json!({"order_id": order, "amount": 18000}),
        )
        .await;
    assert_eq!(init.status, StatusCode::OK);
    assert_eq!(init.body["provider"], "simulated");
    assert!(init.body["client_key"].is_null());
    // Test mode proves nothing by the key: without the order's token, nothing is confirmed.
    let anonymous = confirm(&app, "sim_approve_1", &order, 18000).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let stranger = app.customer("pay-sim-stranger@example.com").await;
    let foreign = confirm_as(&app, &stranger, "sim_approve_1", &order, 18000).await;
    assert_error(&foreign, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(payment_status(&app, &customer, &order).await, "PENDING");
    let confirm = |key: &'static str| confirm_as(&app, &customer, key, &order, 18000);
    let declined = confirm("sim_decline_1").await;
    let details = assert_error(&declined, StatusCode::PAYMENT_REQUIRED, "PAYMENT_DECLINED");
    assert_eq!(details["provider_code"], "REJECT_CARD_PAYMENT");
    let ok = confirm("sim_approve_1").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(payment_status(&app, &customer, &order).await, "PAID");
    // Marked as a test everywhere, and no revenue.
    assert_eq!(
        order_json(&app, &customer, &order).await["test_payment"],
        true
    );
    let summary = app
        .get("/api/v1/restaurants/me/summary", Some(&shop.owner))
        .await
        .body;
    assert_eq!(summary["revenue"], 0, "{summary}");
    assert_eq!(summary["test_revenue"], 18000, "{summary}");
    // A repeat of the same confirm gets the same answer; another payment is refused.
    assert_eq!(confirm("sim_approve_1").await.body, ok.body);
    assert_error(
        &confirm("sim_other").await,
        StatusCode::CONFLICT,
        "CONFLICT",
    );
    // Rejecting refunds through the simulated provider too.
    app.act(&shop.owner, &order, "reject", Some(json!({"reason": "x"})))
        .await;
    eventually(&app, &customer, &order, |o| {
        o["payment_status"] == "REFUNDED"
    })
    .await;
}

#[tokio::test]
async fn an_abandoned_payment_that_expired_at_toss_is_recorded_as_failed() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |c| {
        c.payment_sweep_ms = 100;
        c.payment_reconcile_after_secs = 0;
    })
    .await;
    let (_, customer, order) = ordered(&app, "pay-abandoned").await;
    app.post(
        "/api/v1/payments/initiate",
        Some(&customer),
        json!({"order_id": order, "amount": 18000}),
    )
    .await;
    // Authenticated, then the phone closed; nobody confirms within Toss's 10 minutes.
    let key = fake.authenticate_ago(&order, 18000, chrono::Duration::minutes(11));
    for _ in 0..100 {
        if app.count("SELECT count(*) FROM payments WHERE status = 'FAILED'") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM payments WHERE status = 'FAILED' AND failure_code = 'EXPIRED_PAYMENT'"),
        1
    );
    assert_eq!(fake.status(&key), "EXPIRED");
    assert!(fake.calls(Endpoint::Confirm).is_empty());
    let seen = order_json(&app, &customer, &order).await;
    assert_eq!(
        seen["payment_status"], "PENDING",
        "the order can still be paid"
    );
}

#[tokio::test]
async fn many_payments_left_pending_do_not_hide_a_newer_one_from_reconciliation() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |c| {
        c.payment_sweep_ms = 100;
        c.payment_reconcile_after_secs = 0;
        c.rate_limit_per_minute = 0;
    })
    .await;
    let (shop, customer, _) = ordered(&app, "pay-many").await;
    // More checkouts than one sweep looks at, all still open at Toss (nothing to settle yet).
    let initiate = |order: String| {
        let req = app
            .client
            .post(app.url("/api/v1/payments/initiate"))
            .bearer_auth(&customer)
            .json(&json!({"order_id": order, "amount": 18000}));
        async move { assert_eq!(req.send().await.unwrap().status(), StatusCode::OK) }
    };
    for _ in 0..101 {
        let order = app.place(&customer, shop.simple_order()).await;
        initiate(order).await;
    }
    // The newest one was approved at Toss, but its confirm never reached the box.
    let order = app.place(&customer, shop.simple_order()).await;
    initiate(order.clone()).await;
    let key = fake.authenticate(&order, 18000);
    fake.approve_behind_the_back(&key);
    eventually(&app, &customer, &order, |o| o["payment_status"] == "PAID").await;
    assert_eq!(
        app.count("SELECT count(*) FROM payments WHERE status = 'PENDING'"),
        101
    );
}

#[tokio::test]
async fn an_order_never_paid_for_is_cancelled_and_leaves_the_board_unless_toss_approved_it() {
    let fake = FakeToss::start().await;
    let mut clock = None;
    let app = with_toss(&fake, |c| {
        c.payment_sweep_ms = 100;
        clock = Some(c.clock.clone());
    })
    .await;
    let clock = clock.unwrap();
    let (shop, customer, abandoned) = ordered(&app, "pay-expiry").await;
    let paid = app.place(&customer, shop.simple_order()).await;
    let approved_unheard = app.place(&customer, shop.simple_order()).await;
    for order in [&abandoned, &paid, &approved_unheard] {
        app.post(
            "/api/v1/payments/initiate",
            Some(&customer),
            json!({"order_id": order, "amount": 18000}),
        )
        .await;
    }
    let key = fake.authenticate(&paid, 18000);
    assert_eq!(
        confirm(&app, &key, &paid, 18000).await.status,
        StatusCode::OK
    );
    // Approved at Toss, but our confirm never happened (the phone died on the way back).
    let unheard = fake.authenticate(&approved_unheard, 18000);
    fake.approve_behind_the_back(&unheard);
    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={}", shop.owner))
        .await;
    let snapshot = next_json(&mut board, Duration::from_secs(1)).await;
    assert_eq!(snapshot["orders"].as_array().unwrap().len(), 3);

    // Within Toss's window nothing is cancelled.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        order_json(&app, &customer, &abandoned).await["status"],
        "PENDING"
    );

    clock.advance(chrono::Duration::minutes(41));
    let gone = eventually(&app, &customer, &abandoned, |o| o["status"] == "CANCELLED").await;
    assert_eq!(
        gone["cancel_reason"],
        "결제 시간이 지나 자동 취소되었습니다"
    );
    assert_eq!(gone["payment_status"], "PENDING");
    let settled = eventually(&app, &customer, &approved_unheard, |o| {
        o["payment_status"] == "PAID"
    })
    .await;
    assert_eq!(settled["status"], "PENDING");
    let untouched = order_json(&app, &customer, &paid).await;
    assert_eq!(untouched["status"], "PENDING");
    assert_eq!(untouched["payment_status"], "PAID");
    // The board heard the cancellation with its reason.
    let mut cancelled = None;
    for _ in 0..10 {
        let event = next_json(&mut board, Duration::from_secs(2)).await;
        if event["type"] == "ORDER_CANCELLED" {
            cancelled = Some(event);
            break;
        }
    }
    let cancelled = cancelled.expect("the board heard the cancellation");
    assert_eq!(cancelled["order_id"], abandoned.as_str());
    assert_eq!(cancelled["reason"], "결제 시간이 지나 자동 취소되었습니다");
    // Exactly one confirm reached Toss: ours, for the paid order.
    assert_eq!(fake.calls(Endpoint::Confirm).len(), 1);
}

/// A POSTPAY shop with Toss, and two guests at table 4 with 60,000 won on their tab.
async fn a_table_of_two(app: &TestApp, tag: &str) -> (Shop, String, String) {
    let shop = app.shop(&format!("{tag}@example.com"), "POSTPAY").await;
    let first = app.guest(&shop.id, "4").await;
    let second = app.guest(&shop.id, "4").await;
    let chicken = json!({"restaurant_id": shop.id,
                         "items": [shop.line("후라이드", 2, &[(0, "순한맛")])]});
    let more = json!({"restaurant_id": shop.id, "items": [shop.line("양념", 1, &[])]});
    app.place(&first, chicken).await; // 36,000
    app.place(&second, more).await; // 19,000
    let cola = json!({"restaurant_id": shop.id, "items": [shop.line("콜라", 1, &[])]});
    for _ in 0..2 {
        app.place(&second, cola.clone()).await; // 2 × 2,000
    }
    let tab = app.get("/api/v1/tables/me", Some(&first)).await;
    assert_eq!(tab.body["total_amount"], 59_000);
    (shop, first, second)
}

async fn pay_tab(app: &TestApp, guest: &str, body: Value) -> crate::helpers::Response {
    app.post("/api/v1/tables/me/payments", Some(guest), body)
        .await
}

#[tokio::test]
async fn a_tab_split_in_shares_online_and_the_rest_in_cash_adds_up() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (shop, first, second) = a_table_of_two(&app, "split").await;

    // A share whose amount was tampered with is refused before Toss hears of anything.
    for (body, field) in [
        (
            json!({"kind": "SHARE", "shares": 4, "amount": 1000}),
            "amount",
        ),
        (
            json!({"kind": "SHARE", "shares": 1, "amount": 59000}),
            "shares",
        ),
        (
            json!({"kind": "SHARE", "shares": 21, "amount": 2810}),
            "shares",
        ),
        (json!({"kind": "HALF", "amount": 29500}), "kind"),
        (json!({"kind": "ALL", "amount": 1}), "amount"),
    ] {
        let res = pay_tab(&app, &first, body.clone()).await;
        assert_validation(&res, field);
    }
    assert_eq!(app.count("SELECT count(*) FROM tab_payments"), 0);

    // Four people; three pay their share online: 59,000 / 4 = 14,750 each.
    let mut toss_order_ids = Vec::new();
    for (i, guest) in [&first, &second, &first].into_iter().enumerate() {
        let checkout = pay_tab(
            &app,
            guest,
            json!({"kind": "SHARE", "shares": 4, "amount": 14750}),
        )
        .await;
        assert_eq!(checkout.status, StatusCode::CREATED, "{}", checkout.body);
        assert_eq!(checkout.body["amount"], 14750);
        assert_eq!(checkout.body["provider"], "toss");
        assert_eq!(checkout.body["client_key"], CLIENT_KEY);
        let order_id = checkout.body["order_id"].as_str().unwrap().to_owned();
        assert!(
            checkout.body["payment_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/pay/tab/{order_id}"))
        );
        let key = fake.authenticate(&order_id, 14750);
        // A tampered confirm is refused too, and Toss is not asked.
        let res = confirm(&app, &key, &order_id, 100).await;
        assert_validation(&res, "amount");
        assert_eq!(fake.calls(Endpoint::Confirm).len(), i);
        let res = confirm(&app, &key, &order_id, 14750).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.body["order_id"], order_id.as_str());
        // Confirming again (a lost answer retried) changes nothing.
        assert_eq!(
            confirm(&app, &key, &order_id, 14750).await.status,
            StatusCode::OK
        );
        toss_order_ids.push(order_id);
    }
    let confirms = fake.calls(Endpoint::Confirm);
    let processed: Vec<&crate::fake_toss::Call> = confirms.iter().filter(|c| c.processed).collect();
    assert_eq!(processed.len(), 3, "Toss was called once per share");
    for (call, order_id) in processed.iter().zip(&toss_order_ids) {
        assert_eq!(call.body["amount"], 14750);
        assert_eq!(call.body["orderId"], order_id.as_str());
    }
    let tab = app.get("/api/v1/tables/me", Some(&second)).await;
    assert_eq!(tab.body["paid_amount"], 44250);
    assert_eq!(tab.body["remaining_amount"], 14750);

    // The fourth pays in cash at the counter.
    let cash = app
        .post(
            "/api/v1/restaurants/me/tables/4/settle",
            Some(&shop.owner),
            json!({"method": "CASH", "amount": 14750}),
        )
        .await;
    assert_eq!(cash.body["remaining_amount"], 0, "{}", cash.body);
    let summary = app
        .get("/api/v1/restaurants/me/summary", Some(&shop.owner))
        .await;
    assert_eq!(summary.body["revenue"], 59_000);
    assert_eq!(summary.body["test_revenue"], 0);
    // Nothing left to pay: a further share is refused.
    let res = pay_tab(
        &app,
        &first,
        json!({"kind": "SHARE", "shares": 4, "amount": 14750}),
    )
    .await;
    assert_validation(&res, "amount");
    // The kitchen cannot make the 양념 after all: the paid tab now holds 19,000 too much, which
    // the tab and the owner's table view say is owed back.
    let tab = app.get("/api/v1/tables/me", Some(&second)).await;
    let yangnyeom = tab.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["total_amount"] == 19000)
        .unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.act(
        &shop.owner,
        &yangnyeom,
        "reject",
        Some(json!({"reason": "품절"})),
    )
    .await;
    let tab = app.get("/api/v1/tables/me", Some(&second)).await;
    assert_eq!(tab.body["total_amount"], 40000);
    assert_eq!(tab.body["remaining_amount"], 0);
    assert_eq!(tab.body["overpaid_amount"], 19000);
    let tables = app
        .get("/api/v1/restaurants/me/tables", Some(&shop.owner))
        .await;
    assert_eq!(tables.body["tables"][0]["overpaid_amount"], 19000);
}

#[tokio::test]
async fn a_guest_pays_for_their_own_orders_or_everything_that_remains() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |c| {
        c.payment_sweep_ms = 100;
        c.payment_reconcile_after_secs = 0;
    })
    .await;
    let (_shop, first, second) = a_table_of_two(&app, "pay-mine").await;
    let tab = app.get("/api/v1/tables/me", Some(&second)).await;
    let mine: Vec<String> = tab.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["mine"] == true)
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(mine.len(), 3);
    // The second guest's own orders: 19,000 + 2 × 2,000.
    let checkout = pay_tab(
        &app,
        &second,
        json!({"kind": "ITEMS", "order_ids": mine, "amount": 23000}),
    )
    .await;
    assert_eq!(checkout.status, StatusCode::CREATED, "{}", checkout.body);
    let order_id = checkout.body["order_id"].as_str().unwrap().to_owned();
    // Approved at Toss, but the phone never came back to confirm: the sweep records it.
    let key = fake.authenticate(&order_id, 23000);
    fake.approve_behind_the_back(&key);
    wait_for(|| app.count("SELECT count(*) FROM tab_payments WHERE status = 'COMPLETED'") == 1)
        .await;
    // Those orders cannot be paid for twice.
    let again = pay_tab(
        &app,
        &first,
        json!({"kind": "ITEMS", "order_ids": [mine[0]], "amount": 19000}),
    )
    .await;
    assert_validation(&again, "order_ids");
    // The first guest pays everything that remains: 36,000.
    let all = pay_tab(&app, &first, json!({"kind": "ALL", "amount": 36000})).await;
    assert_eq!(all.status, StatusCode::CREATED, "{}", all.body);
    let all_id = all.body["order_id"].as_str().unwrap().to_owned();
    let key = fake.authenticate(&all_id, 36000);
    assert_eq!(
        confirm(&app, &key, &all_id, 36000).await.status,
        StatusCode::OK
    );
    let tab = app.get("/api/v1/tables/me", Some(&first)).await;
    assert_eq!(tab.body["paid_amount"], 59000);
    assert_eq!(tab.body["remaining_amount"], 0);
    assert_eq!(
        fake.calls(Endpoint::Confirm).len(),
        1,
        "the sweep did not confirm again"
    );
}

#[tokio::test]
async fn phones_cannot_pay_a_tab_twice_over_or_while_the_counter_takes_it() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let (shop, first, second) = a_table_of_two(&app, "tab-race").await;
    // Both phones start paying everything; the first one confirms.
    let a = pay_tab(&app, &first, json!({"kind": "ALL", "amount": 59000})).await;
    let b = pay_tab(&app, &second, json!({"kind": "ALL", "amount": 59000})).await;
    let (a, b) = (
        a.body["order_id"].as_str().unwrap().to_owned(),
        b.body["order_id"].as_str().unwrap().to_owned(),
    );
    let key_a = fake.authenticate(&a, 59000);
    let key_b = fake.authenticate(&b, 59000);
    assert_eq!(
        confirm(&app, &key_a, &a, 59000).await.status,
        StatusCode::OK
    );
    // The second would pay the bill again: refused before Toss is asked.
    let res = confirm(&app, &key_b, &b, 59000).await;
    let details = assert_error(&res, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(details["remaining_amount"], 0);
    assert_eq!(fake.calls(Endpoint::Confirm).len(), 1);
    assert_eq!(fake.status(&key_b), "IN_PROGRESS", "nothing was charged");

    // Next party: a phone's confirm is under way (Toss does not answer) while the cashier
    // would take the whole bill: the counter may only take what the phone does not.
    app.post(
        "/api/v1/restaurants/me/tables/4/close",
        Some(&shop.owner),
        json!({}),
    )
    .await;
    let guest = app.guest(&shop.id, "4").await;
    let beer = json!({"restaurant_id": shop.id, "items": [shop.line("양념", 2, &[])]});
    app.place(&guest, beer).await; // 38,000
    let half = pay_tab(
        &app,
        &guest,
        json!({"kind": "SHARE", "shares": 2, "amount": 19000}),
    )
    .await;
    let half = half.body["order_id"].as_str().unwrap().to_owned();
    let key = fake.authenticate(&half, 19000);
    fake.inject(Endpoint::Confirm, Fault::Timeout);
    let res = confirm(&app, &key, &half, 19000).await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.body);
    let all = app
        .post(
            "/api/v1/restaurants/me/tables/4/settle",
            Some(&shop.owner),
            json!({"method": "CASH", "amount": 38000}),
        )
        .await;
    assert_validation(&all, "amount");
    let rest = app
        .post(
            "/api/v1/restaurants/me/tables/4/settle",
            Some(&shop.owner),
            json!({"method": "CASH", "amount": 19000}),
        )
        .await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.body);
}

#[tokio::test]
async fn unpaid_prepay_orders_are_not_on_the_tab_and_a_merge_keeps_what_was_paid() {
    let fake = FakeToss::start().await;
    let app = with_toss(&fake, |_| {}).await;
    let prepay = app.shop("tab-prepay@example.com", "PREPAY").await;
    let guest = app.guest(&prepay.id, "2").await;
    let order = app
        .place(
            &guest,
            json!({"restaurant_id": prepay.id, "items": [prepay.line("양념", 1, &[])]}),
        )
        .await;
    // Not paid yet: not a dish the kitchen makes, not on the bill.
    let tab = app.get("/api/v1/tables/me", Some(&guest)).await;
    assert_eq!(tab.body["total_amount"], 0);
    let res = pay_tab(&app, &guest, json!({"kind": "ALL", "amount": 19000})).await;
    assert_validation(&res, "amount");
    app.post(
        "/api/v1/payments/initiate",
        Some(&guest),
        json!({"order_id": order, "amount": 19000}),
    )
    .await;
    let key = fake.authenticate(&order, 19000);
    assert_eq!(
        confirm(&app, &key, &order, 19000).await.status,
        StatusCode::OK
    );
    let tab = app.get("/api/v1/tables/me", Some(&guest)).await;
    assert_eq!(tab.body["total_amount"], 19000);
    assert_eq!(tab.body["remaining_amount"], 0);

    // POSTPAY: table 4 pays for its own orders, then joins table 6.
    let (shop, first, second) = a_table_of_two(&app, "tab-merge").await;
    let mine: Vec<Value> = app.get("/api/v1/tables/me", Some(&first)).await.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["mine"] == true)
        .map(|o| o["order_id"].clone())
        .collect();
    let items = pay_tab(
        &app,
        &first,
        json!({"kind": "ITEMS", "order_ids": mine, "amount": 36000}),
    )
    .await;
    let items = items.body["order_id"].as_str().unwrap().to_owned();
    let key = fake.authenticate(&items, 36000);
    assert_eq!(
        confirm(&app, &key, &items, 36000).await.status,
        StatusCode::OK
    );
    let six = app.guest(&shop.id, "6").await;
    app.place(
        &six,
        json!({"restaurant_id": shop.id, "items": [shop.line("콜라", 1, &[])]}),
    )
    .await;
    let merged = app
        .post(
            "/api/v1/restaurants/me/tables/4/merge",
            Some(&shop.owner),
            json!({"into": "6"}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    assert_eq!(merged.body["total_amount"], 61000);
    assert_eq!(merged.body["paid_amount"], 36000);
    assert_eq!(merged.body["paid_order_ids"], json!(mine));
    // Those orders stay paid for at the joined table.
    let again = pay_tab(
        &app,
        &second,
        json!({"kind": "ITEMS", "order_ids": mine, "amount": 36000}),
    )
    .await;
    assert_validation(&again, "order_ids");
}
