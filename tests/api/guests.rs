use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, assert_validation};

#[tokio::test]
async fn a_scanned_table_code_orders_for_that_table() {
    let app = TestApp::spawn().await;
    let shop = app.shop("guest@example.com", "POSTPAY").await;
    let guest = app.guest(&shop.id, "7").await;

    let me = app.get("/api/v1/auth/me", Some(&guest)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["role"], "CUSTOMER");
    assert_eq!(me.body["guest"], true);
    assert_eq!(me.body["table_number"], "7");
    assert_eq!(me.body["restaurant_id"], shop.id.as_str());

    let mut body = shop.simple_order();
    body.as_object_mut().unwrap().remove("table_number");
    let order = app.place(&guest, body.clone()).await;
    let seen = app
        .get(&format!("/api/v1/orders/{order}"), Some(&guest))
        .await;
    assert_eq!(seen.body["table_number"], "7");

    body["table_number"] = json!("7");
    assert_eq!(
        app.order(&guest, body.clone()).await.status,
        StatusCode::CREATED
    );
    body["table_number"] = json!("8");
    assert_validation(&app.order(&guest, body).await, "table_number");

    let elsewhere = app.shop("guest-other@example.com", "POSTPAY").await;
    assert_validation(
        &app.order(&guest, elsewhere.simple_order()).await,
        "restaurant_id",
    );
    assert_eq!(app.count("SELECT count(*) FROM orders"), 2);

    // Guests see their own orders only.
    let other_guest = app.guest(&shop.id, "7").await;
    let res = app
        .get(&format!("/api/v1/orders/{order}"), Some(&other_guest))
        .await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
    let mine = app.get("/api/v1/orders", Some(&guest)).await;
    assert_eq!(mine.body["orders"].as_array().unwrap().len(), 2);
    let res = app
        .post_empty(&format!("/api/v1/orders/{order}/cancel"), Some(&guest))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[tokio::test]
async fn forged_table_codes_are_refused() {
    let app = TestApp::spawn().await;
    let shop = app.shop("forged@example.com", "POSTPAY").await;
    let sig3 = app.table_signature(&shop.id, "3");
    let attempt = |restaurant: String, table: &str, sig: &str| {
        let body = json!({"restaurant_id": restaurant, "table_number": table, "sig": sig});
        let app = &app;
        async move { app.post("/api/v1/auth/guest", None, body).await }
    };
    for (restaurant, table, sig) in [
        (shop.id.clone(), "4", sig3.as_str()),
        (
            shop.id.clone(),
            "3",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        (shop.id.clone(), "3", ""),
        (uuid::Uuid::now_v7().to_string(), "3", sig3.as_str()),
        ("not-an-id".to_owned(), "3", sig3.as_str()),
    ] {
        let res = attempt(restaurant, table, sig).await;
        assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    assert_eq!(app.count("SELECT count(*) FROM guests"), 0);
    let res = attempt(shop.id.clone(), "3", &sig3).await;
    assert_eq!(res.status, StatusCode::CREATED);

    // A correctly signed code for a restaurant that does not exist (deleted) is a 404.
    let ghost = uuid::Uuid::now_v7().to_string();
    let sig = app.table_signature(&ghost, "1");
    let res = attempt(ghost, "1", &sig).await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn a_table_number_may_be_sent_as_a_number() {
    let app = TestApp::spawn().await;
    let shop = app.shop("numeric-table@example.com", "POSTPAY").await;
    let sig = app.table_signature(&shop.id, "5");
    let res = app
        .post(
            "/api/v1/auth/guest",
            None,
            json!({"restaurant_id": shop.id, "table_number": 5, "sig": sig}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let customer = app.customer("numeric-table-customer@example.com").await;
    let mut body = shop.simple_order();
    body["table_number"] = json!(12);
    body["table_sig"] = json!(app.table_signature(&shop.id, "12"));
    let order = app.place(&customer, body.clone()).await;
    let seen = app
        .get(&format!("/api/v1/orders/{order}"), Some(&customer))
        .await;
    assert_eq!(seen.body["table_number"], "12");
    body["table_number"] = json!(1.5);
    assert_validation(&app.order(&customer, body).await, "table_number");
}

#[tokio::test]
async fn guests_who_never_ordered_are_forgotten_after_a_day() {
    let app = TestApp::spawn().await;
    let shop = app.shop("guest-purge@example.com", "POSTPAY").await;
    let orderer = app.guest(&shop.id, "1").await;
    app.guest(&shop.id, "2").await;
    let mut order = shop.simple_order();
    order.as_object_mut().unwrap().remove("table_number");
    app.place(&orderer, order).await;
    assert_eq!(app.count("SELECT count(*) FROM guests"), 2);

    let store = app.store().await;
    // A fresh guest (whose token may still be in use) is kept.
    store.purge_expired(chrono::Utc::now()).await.unwrap();
    assert_eq!(app.count("SELECT count(*) FROM guests"), 2);
    // A day on, the one who ordered stays (its orders refer to it); the other goes.
    let later = chrono::Utc::now() + chrono::Duration::hours(25);
    store.purge_expired(later).await.unwrap();
    assert_eq!(app.count("SELECT count(*) FROM guests"), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM guests WHERE id IN (SELECT guest_id FROM orders)"),
        1
    );
}
