use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_validation};

#[tokio::test]
async fn the_server_prices_every_line_and_ignores_client_amounts() {
    let app = TestApp::spawn().await;
    let shop = app.shop("pricing@example.com", "PREPAY").await;
    let customer = app.customer("pricing-customer@example.com").await;
    let body = json!({
        "restaurant_id": shop.id,
        "table_number": "3",
        "table_sig": shop.table3_sig,
        "items": [
            // 2 × (18000 + 500 spicy + 2000 cheese + 1000 rice cake) = 43000
            shop.line("후라이드", 2, &[(0, "매운맛"), (1, "치즈"), (1, "떡")]),
            // 1 × 19000
            { "menu_id": shop.item_id("양념"), "quantity": 1, "unit_price": 1, "price": 1 },
            // 3 × (2000 + 1000 large) = 9000
            shop.line("콜라", 3, &[(0, "큰")]),
        ],
        "special_requests": "양파 빼주세요",
        "total_amount": 100,
    });
    let res = app.order(&customer, body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let created = &res.body;
    let keys: BTreeSet<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "order_id",
            "order_number",
            "status",
            "total_amount",
            "payment_required",
            "payment_url",
            "websocket_url",
        ])
    );
    assert_eq!(created["total_amount"], 43000 + 19000 + 9000);
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["order_number"], "A001");
    assert_eq!(created["payment_required"], true);
    let id = created["order_id"].as_str().unwrap();
    assert!(
        created["payment_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/pay/{id}"))
    );
    let ws = created["websocket_url"].as_str().unwrap();
    assert!(
        ws.starts_with("ws://") && ws.ends_with(&format!("/ws/orders/{id}")),
        "{ws}"
    );

    let order = app
        .get(&format!("/api/v1/orders/{id}"), Some(&customer))
        .await;
    assert_eq!(order.status, StatusCode::OK);
    let order = &order.body;
    assert_eq!(order["table_number"], "3");
    assert_eq!(order["special_requests"], "양파 빼주세요");
    assert_eq!(order["payment_status"], "PENDING");
    let first = &order["items"][0];
    assert_eq!(first["name"], "후라이드");
    assert_eq!(first["quantity"], 2);
    assert_eq!(first["unit_price"], 21500);
    assert_eq!(first["line_total"], 43000);
    assert_eq!(first["options"][0]["name"], "맛");
    assert_eq!(first["options"][0]["choice"], "매운맛");
    assert_eq!(first["options"][0]["price_delta"], 500);
    assert_eq!(order["items"][1]["unit_price"], 19000);
    assert_eq!(order["items"][2]["line_total"], 9000);
    assert_eq!(app.count("SELECT sum(line_total) FROM order_items"), 71000);

    // Later price changes leave the order's snapshot alone.
    app.patch(
        &format!("/api/v1/restaurants/me/menu/items/{}", shop.item_id("양념")),
        Some(&shop.owner),
        json!({"price": 25000, "name": "신양념"}),
    )
    .await;
    let again = app
        .get(&format!("/api/v1/orders/{id}"), Some(&customer))
        .await
        .body;
    assert_eq!(again["items"][1]["name"], "양념");
    assert_eq!(again["items"][1]["unit_price"], 19000);
    assert_eq!(again["total_amount"], 71000);
}

#[tokio::test]
async fn every_invalid_order_is_a_400_naming_the_field_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let shop = app.shop("invalid@example.com", "PREPAY").await;
    let other = app.shop("invalid-other@example.com", "PREPAY").await;
    let customer = app.customer("invalid-customer@example.com").await;
    let ok = shop.line("후라이드", 1, &[(0, "순한맛")]);
    let order = |items: Vec<Value>| json!({"restaurant_id": shop.id, "items": items});
    let mut wrong_option = shop.line("후라이드", 1, &[(0, "순한맛")]);
    wrong_option["options"][0]["option_id"] = json!(other.option_id("후라이드", 0));

    let cases: Vec<(Value, &str)> = vec![
        (
            order(vec![shop.line("품절 치킨", 1, &[])]),
            "items[0].menu_id",
        ),
        (
            order(vec![
                ok.clone(),
                json!({"menu_id": uuid::Uuid::now_v7(), "quantity": 1}),
            ]),
            "items[1].menu_id",
        ),
        (
            order(vec![
                ok.clone(),
                json!({"menu_id": "garbage", "quantity": 1}),
            ]),
            "items[1].menu_id",
        ),
        (
            order(vec![ok.clone(), other.line("양념", 1, &[])]),
            "items[1].menu_id",
        ),
        (
            order(vec![shop.line("후라이드", 1, &[])]),
            "items[0].options",
        ),
        (
            order(vec![
                ok.clone(),
                shop.line("후라이드", 1, &[(0, "핵불닭맛")]),
            ]),
            "items[1].options[0].choice",
        ),
        (order(vec![wrong_option]), "items[0].options[0].option_id"),
        (
            order(vec![shop.line(
                "후라이드",
                1,
                &[(0, "순한맛"), (0, "매운맛")],
            )]),
            "items[0].options[1].option_id",
        ),
        (order(vec![shop.line("양념", 0, &[])]), "items[0].quantity"),
        (
            order(vec![ok.clone(), shop.line("양념", 100, &[])]),
            "items[1].quantity",
        ),
        (order(vec![shop.line("양념", -1, &[])]), "items[0].quantity"),
        (order(vec![ok.clone(); 51]), "items"),
        (order(vec![]), "items"),
        (json!({"restaurant_id": shop.id}), "items"),
        (
            json!({"restaurant_id": "nope", "items": [ok.clone()]}),
            "restaurant_id",
        ),
        (
            json!({"restaurant_id": uuid::Uuid::now_v7(), "items": [ok.clone()]}),
            "restaurant_id",
        ),
        (
            json!({"restaurant_id": shop.id, "items": [ok.clone()], "special_requests": "가".repeat(201)}),
            "special_requests",
        ),
        (
            json!({"restaurant_id": shop.id, "items": [ok.clone()], "table_number": "12345678901"}),
            "table_number",
        ),
        (
            json!({"restaurant_id": shop.id, "items": [{"menu_id": shop.item_id("양념"), "quantity": "two"}]}),
            "items[0].quantity",
        ),
    ];
    for (body, field) in cases {
        let res = app.order(&customer, body.clone()).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
        assert_validation(&res, field);
    }
    // 200 characters is fine, 51 lines is not but 50 is.
    let fine = json!({"restaurant_id": shop.id, "items": vec![ok.clone(); 50],
                      "table_number": "3", "table_sig": shop.table3_sig,
                      "special_requests": "가".repeat(200)});
    assert_eq!(app.count("SELECT count(*) FROM orders"), 0);
    assert_eq!(app.count("SELECT count(*) FROM order_items"), 0);
    assert_eq!(app.count("SELECT count(*) FROM order_events"), 0);
    assert_eq!(app.order(&customer, fine).await.status, StatusCode::CREATED);

    // Owners do not order.
    let res = app.order(&shop.owner, shop.simple_order()).await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    let res = app.order("", shop.simple_order()).await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response() {
    let app = TestApp::spawn().await;
    let shop = app.shop("idem@example.com", "PREPAY").await;
    let customer = app.customer("idem-customer@example.com").await;
    let send = |key: &'static str, body: Value| {
        let req = app
            .client
            .post(app.url("/api/v1/orders"))
            .bearer_auth(&customer)
            .header("Idempotency-Key", key)
            .json(&body);
        async move { crate::helpers::into_response(req.send().await.unwrap()).await }
    };
    let first = send("retry-1", shop.simple_order()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = send("retry-1", shop.simple_order()).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(second.body, first.body);
    assert_eq!(app.count("SELECT count(*) FROM orders"), 1);

    let mut different = shop.simple_order();
    different["items"][0]["quantity"] = json!(2);
    let conflict = send("retry-1", different).await;
    assert_error(&conflict, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(app.count("SELECT count(*) FROM orders"), 1);

    // Concurrent retries of one request still make one order.
    let results =
        futures_util::future::join_all((0..10).map(|_| send("burst", shop.simple_order()))).await;
    let ids: BTreeSet<String> = results
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED);
            r.body["order_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.count("SELECT count(*) FROM orders"), 2);

    let bad_key = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&customer)
        .header("Idempotency-Key", "x".repeat(101))
        .json(&shop.simple_order())
        .send()
        .await
        .unwrap();
    assert_validation(
        &crate::helpers::into_response(bad_key).await,
        "Idempotency-Key",
    );

    // Keys belong to a customer: another customer's same key is a different request.
    let stranger = app.customer("idem-stranger@example.com").await;
    let theirs = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&stranger)
        .header("Idempotency-Key", "retry-1")
        .json(&shop.simple_order())
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::CREATED);
    assert_eq!(app.count("SELECT count(*) FROM orders"), 3);

    // The first answer was lost and, before the phone retries, the item sells out and the
    // owner stops table ordering: the retry still gets the order it made, not a 400.
    let placed = send("lost-answer", shop.simple_order()).await;
    assert_eq!(placed.status, StatusCode::CREATED);
    let item = shop.item_id("후라이드");
    let sold_out = app
        .patch(
            &format!("/api/v1/restaurants/me/menu/items/{item}"),
            Some(&shop.owner),
            json!({ "is_available": false }),
        )
        .await;
    assert_eq!(sold_out.status, StatusCode::OK);
    let closed = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({ "table_ordering_enabled": false }),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK);
    let retried = send("lost-answer", shop.simple_order()).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(retried.body, placed.body);
    assert_eq!(app.count("SELECT count(*) FROM orders"), 4);
    // A fresh request is refused as before.
    let fresh = send("new-key", shop.simple_order()).await;
    assert_validation(&fresh, "restaurant_id");
    assert_eq!(app.count("SELECT count(*) FROM orders"), 4);
}

#[tokio::test]
async fn order_numbers_are_gapless_under_concurrency_and_restart_each_seoul_day() {
    let mut clock = None;
    let app = TestApp::spawn_with(|c| clock = Some(c.clock.clone())).await;
    let clock = clock.unwrap();
    // 23:00 in Seoul (14:00 UTC), some day in the future.
    let evening = Utc.with_ymd_and_hms(2031, 3, 14, 14, 0, 0).unwrap();
    clock.advance(evening - clock.now());

    let shop = app.shop("numbers@example.com", "POSTPAY").await;
    let customer = app.customer("numbers-customer@example.com").await;
    let results =
        futures_util::future::join_all((0..50).map(|_| app.order(&customer, shop.simple_order())))
            .await;
    let mut numbers: Vec<String> = results
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["order_number"].as_str().unwrap().to_owned()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=50).map(|n| format!("A{n:03}")).collect();
    assert_eq!(numbers, expected);

    // 00:00 in Seoul is 15:00 UTC: a new business day starts at A001.
    clock.advance(chrono::Duration::hours(1));
    let next_day = app.order(&customer, shop.simple_order()).await;
    assert_eq!(next_day.body["order_number"], "A001");
    // UTC midnight (09:00 in Seoul) is not a new business day.
    clock.advance(chrono::Duration::hours(9));
    let morning = app.order(&customer, shop.simple_order()).await;
    assert_eq!(morning.body["order_number"], "A002");
}

#[tokio::test]
async fn orders_are_visible_only_to_their_customer_and_restaurant() {
    let app = TestApp::spawn().await;
    let shop = app.shop("bola@example.com", "POSTPAY").await;
    let other_shop = app.shop("bola-other@example.com", "POSTPAY").await;
    let alice = app.customer("alice@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let order = app.place(&alice, shop.simple_order()).await;
    let get = format!("/api/v1/orders/{order}");

    assert_eq!(app.get(&get, Some(&alice)).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&get, Some(&shop.owner)).await.status,
        StatusCode::OK
    );
    for stranger in [&bob, &other_shop.owner] {
        assert_error(
            &app.get(&get, Some(stranger)).await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
    }
    let missing = app
        .get(
            &format!("/api/v1/orders/{}", uuid::Uuid::now_v7()),
            Some(&alice),
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_error(
        &app.get(&get, None).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );

    for action in ["accept", "reject", "ready", "complete"] {
        let body = json!({"estimated_time_minutes": 10, "reason": "x"});
        let res = app
            .act(&other_shop.owner, &order, action, Some(body.clone()))
            .await;
        assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
        let res = app.act(&alice, &order, action, Some(body)).await;
        assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let res = app
        .post(
            &format!("/api/v1/orders/{order}/cancel"),
            Some(&bob),
            json!({}),
        )
        .await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
    let res = app.get("/api/v1/restaurants/me/orders", Some(&alice)).await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    let res = app.get("/api/v1/restaurants/me/orders", None).await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    // The other restaurant's board does not show it.
    let board = app
        .get("/api/v1/restaurants/me/orders", Some(&other_shop.owner))
        .await;
    assert_eq!(board.body["orders"], json!([]));
    // The order, and its table's tab.
    assert_eq!(app.count("SELECT count(*) FROM order_events"), 2);
    assert_eq!(
        app.count("SELECT count(*) FROM orders WHERE status = 'PENDING'"),
        1
    );
}

#[tokio::test]
async fn customers_list_their_own_orders_newest_first_with_a_cursor() {
    let app = TestApp::spawn().await;
    let shop = app.shop("list@example.com", "POSTPAY").await;
    let alice = app.customer("list-alice@example.com").await;
    let bob = app.customer("list-bob@example.com").await;
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(app.place(&alice, shop.simple_order()).await);
    }
    app.place(&bob, shop.simple_order()).await;

    let first = app.get("/api/v1/orders?limit=3", Some(&alice)).await;
    assert_eq!(first.status, StatusCode::OK);
    let page1: Vec<&str> = first.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(page1, [&mine[4], &mine[3], &mine[2]].map(String::as_str));
    assert!(
        first.body["orders"][0]["items"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
    );
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("/api/v1/orders?limit=3&cursor={cursor}"),
            Some(&alice),
        )
        .await;
    let page2: Vec<&str> = second.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(page2, [&mine[1], &mine[0]].map(String::as_str));
    assert!(second.body["next_cursor"].is_null());

    assert_validation(
        &app.get("/api/v1/orders?limit=0", Some(&alice)).await,
        "limit",
    );
    assert_validation(
        &app.get("/api/v1/orders?cursor=bm9wZQ", Some(&alice)).await,
        "cursor",
    );
    assert_error(
        &app.get("/api/v1/orders", Some(&shop.owner)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
}
