use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_validation};

fn accept_body() -> Value {
    json!({"estimated_time_minutes": 15, "message": "곧 준비됩니다!"})
}

async fn status_of(app: &TestApp, token: &str, order: &str) -> Value {
    app.get(&format!("/api/v1/orders/{order}"), Some(token))
        .await
        .body
}

#[tokio::test]
async fn the_happy_path_of_a_postpay_order() {
    let app = TestApp::spawn().await;
    let shop = app.shop("happy@example.com", "POSTPAY").await;
    let customer = app.customer("happy-customer@example.com").await;
    let created = app.order(&customer, shop.simple_order()).await;
    assert_eq!(created.body["payment_required"], false);
    assert!(created.body["payment_url"].is_null());
    let order = created.body["order_id"].as_str().unwrap().to_owned();

    let before = Utc::now();
    let accepted = app
        .act(&shop.owner, &order, "accept", Some(accept_body()))
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["order_id"], order.as_str());
    assert_eq!(accepted.body["status"], "ACCEPTED");
    let eta: DateTime<Utc> = accepted.body["estimated_ready_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let minutes = (eta - before).num_seconds() as f64 / 60.0;
    assert!(
        (14.9..15.2).contains(&minutes),
        "ETA {minutes} minutes away"
    );
    let seen = status_of(&app, &customer, &order).await;
    assert_eq!(seen["status"], "ACCEPTED");
    assert_eq!(seen["message"], "곧 준비됩니다!");

    let ready = app
        .post_empty(
            &format!("/api/v1/restaurants/me/orders/{order}/ready"),
            Some(&shop.owner),
        )
        .await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.body["status"], "READY");
    assert_eq!(app.count("SELECT count(*) FROM payments"), 0);

    let done = app
        .post_empty(
            &format!("/api/v1/restaurants/me/orders/{order}/complete"),
            Some(&shop.owner),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "COMPLETED");
    // POSTPAY at a table: the order goes on the table's tab, paid when the table settles.
    assert_eq!(done.body["payment_status"], "PENDING");
    assert_eq!(app.count("SELECT count(*) FROM payments"), 0);
    let settled = app
        .post(
            "/api/v1/restaurants/me/tables/3/settle",
            Some(&shop.owner),
            json!({"method": "CASH", "amount": 18000}),
        )
        .await;
    assert_eq!(settled.status, StatusCode::OK, "{}", settled.body);
    assert_eq!(settled.body["remaining_amount"], 0);
    let summary = app
        .get("/api/v1/restaurants/me/summary", Some(&shop.owner))
        .await;
    assert_eq!(summary.body["revenue"], 18000);

    // Without a table (a restaurant that lets customers order without naming one), completing
    // records the payment taken at the counter.
    app.patch(
        "/api/v1/restaurants/me",
        Some(&shop.owner),
        json!({"table_verification": "OPEN"}),
    )
    .await;
    let mut away = shop.simple_order();
    away.as_object_mut().unwrap().remove("table_number");
    away.as_object_mut().unwrap().remove("table_sig");
    let order = app.place(&customer, away).await;
    for action in ["accept", "ready", "complete"] {
        let body = (action == "accept").then(accept_body);
        let res = app.act(&shop.owner, &order, action, body).await;
        assert_eq!(res.status, StatusCode::OK, "{action}: {}", res.body);
        if action == "complete" {
            assert_eq!(res.body["payment_status"], "PAID");
        }
    }
    assert_eq!(
        app.count("SELECT count(*) FROM payments WHERE method = 'COUNTER' AND status = 'COMPLETED' AND amount = 18000"),
        1
    );
    let summary = app
        .get("/api/v1/restaurants/me/summary", Some(&shop.owner))
        .await;
    assert_eq!(summary.body["revenue"], 36000);
}

#[tokio::test]
async fn every_illegal_transition_is_409_with_the_current_status_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let shop = app.shop("illegal@example.com", "POSTPAY").await;
    let customer = app.customer("illegal-customer@example.com").await;

    // One order in each state.
    let pending = app.place(&customer, shop.simple_order()).await;
    let accepted = app.place(&customer, shop.simple_order()).await;
    app.act(&shop.owner, &accepted, "accept", Some(accept_body()))
        .await;
    let ready = app.place(&customer, shop.simple_order()).await;
    app.act(&shop.owner, &ready, "accept", Some(accept_body()))
        .await;
    app.act(&shop.owner, &ready, "ready", None).await;
    let completed = app.place(&customer, shop.simple_order()).await;
    app.act(&shop.owner, &completed, "accept", Some(accept_body()))
        .await;
    app.act(&shop.owner, &completed, "ready", None).await;
    app.act(&shop.owner, &completed, "complete", None).await;
    let rejected = app.place(&customer, shop.simple_order()).await;
    app.act(
        &shop.owner,
        &rejected,
        "reject",
        Some(json!({"reason": "재료 소진"})),
    )
    .await;
    let cancelled = app.place(&customer, shop.simple_order()).await;
    let res = app
        .post_empty(
            &format!("/api/v1/orders/{cancelled}/cancel"),
            Some(&customer),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["status"], "CANCELLED");

    let states = [
        (&pending, "PENDING"),
        (&accepted, "ACCEPTED"),
        (&ready, "READY"),
        (&completed, "COMPLETED"),
        (&rejected, "REJECTED"),
        (&cancelled, "CANCELLED"),
    ];
    let legal = [
        ("PENDING", "accept"),
        ("PENDING", "reject"),
        ("PENDING", "cancel"),
        ("ACCEPTED", "ready"),
        ("READY", "complete"),
    ];
    let events_before = app.count("SELECT count(*) FROM order_events");
    for (order, status) in states {
        for action in ["accept", "reject", "ready", "complete", "cancel"] {
            if legal.contains(&(status, action)) {
                continue;
            }
            let res = if action == "cancel" {
                app.post_empty(&format!("/api/v1/orders/{order}/cancel"), Some(&customer))
                    .await
            } else {
                let body = json!({"estimated_time_minutes": 10, "reason": "x"});
                app.act(&shop.owner, order, action, Some(body)).await
            };
            let details = assert_error(&res, StatusCode::CONFLICT, "CONFLICT");
            assert_eq!(details["current_status"], status, "{action} on {status}");
            assert_eq!(status_of(&app, &customer, order).await["status"], status);
        }
    }
    assert_eq!(
        app.count("SELECT count(*) FROM order_events"),
        events_before
    );
    let rejected = status_of(&app, &customer, &rejected).await;
    assert_eq!(rejected["reject_reason"], "재료 소진");
}

#[tokio::test]
async fn prepay_orders_cannot_be_accepted_unpaid_but_can_be_rejected() {
    let app = TestApp::spawn().await;
    let shop = app.shop("prepay@example.com", "PREPAY").await;
    let customer = app.customer("prepay-customer@example.com").await;
    let order = app.place(&customer, shop.simple_order()).await;
    let res = app
        .act(&shop.owner, &order, "accept", Some(accept_body()))
        .await;
    let details = assert_error(&res, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(details["current_status"], "PENDING");
    assert_eq!(details["payment_status"], "PENDING");
    assert_eq!(
        status_of(&app, &customer, &order).await["status"],
        "PENDING"
    );
    let res = app
        .act(
            &shop.owner,
            &order,
            "reject",
            Some(json!({"reason": "영업 종료"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test]
async fn transition_bodies_are_validated() {
    let app = TestApp::spawn().await;
    let shop = app.shop("bodies@example.com", "POSTPAY").await;
    let customer = app.customer("bodies-customer@example.com").await;
    let order = app.place(&customer, shop.simple_order()).await;
    let cases = [
        (
            "accept",
            json!({"estimated_time_minutes": 0}),
            "estimated_time_minutes",
        ),
        (
            "accept",
            json!({"estimated_time_minutes": 181}),
            "estimated_time_minutes",
        ),
        ("accept", json!({}), "estimated_time_minutes"),
        (
            "accept",
            json!({"estimated_time_minutes": "soon"}),
            "estimated_time_minutes",
        ),
        (
            "accept",
            json!({"estimated_time_minutes": 10, "message": "가".repeat(201)}),
            "message",
        ),
        ("reject", json!({}), "reason"),
        ("reject", json!({"reason": "   "}), "reason"),
        ("ready", json!("now please"), "body"),
    ];
    for (action, body, field) in cases {
        let res = app.act(&shop.owner, &order, action, Some(body)).await;
        assert_validation(&res, field);
    }
    assert_eq!(
        status_of(&app, &customer, &order).await["status"],
        "PENDING"
    );
    // The order and its table's tab; nothing since.
    assert_eq!(app.count("SELECT count(*) FROM order_events"), 2);
    // 1 and 180 minutes are the inclusive bounds.
    let res = app
        .act(
            &shop.owner,
            &order,
            "accept",
            Some(json!({"estimated_time_minutes": 180})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[tokio::test]
async fn of_twenty_concurrent_accepts_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let shop = app.shop("race@example.com", "POSTPAY").await;
    let customer = app.customer("race-customer@example.com").await;
    let order = app.place(&customer, shop.simple_order()).await;
    let results = futures_util::future::join_all(
        (0..20).map(|_| app.act(&shop.owner, &order, "accept", Some(accept_body()))),
    )
    .await;
    let wins = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(wins, 1);
    for loss in results.iter().filter(|r| r.status != StatusCode::OK) {
        let details = assert_error(loss, StatusCode::CONFLICT, "CONFLICT");
        assert_eq!(details["current_status"], "ACCEPTED");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM order_events WHERE type = 'STATUS_CHANGED'"),
        1
    );
}

#[tokio::test]
async fn the_owner_board_filters_pages_and_includes_lines() {
    let app = TestApp::spawn().await;
    let shop = app.shop("board@example.com", "POSTPAY").await;
    let customer = app.customer("board-customer@example.com").await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(app.place(&customer, shop.simple_order()).await);
    }
    app.act(&shop.owner, &ids[1], "accept", Some(accept_body()))
        .await;
    app.act(&shop.owner, &ids[2], "reject", Some(json!({"reason": "x"})))
        .await;

    let listed = |res: &crate::helpers::Response| -> Vec<String> {
        res.body["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app
        .get("/api/v1/restaurants/me/orders", Some(&shop.owner))
        .await;
    assert_eq!(
        listed(&all),
        [&ids[3], &ids[2], &ids[1], &ids[0]].map(String::clone)
    );
    assert_eq!(all.body["orders"][0]["items"][0]["name"], "후라이드");
    assert_eq!(all.body["orders"][0]["order_number"], "A004");

    let open = app
        .get(
            "/api/v1/restaurants/me/orders?status=PENDING,ACCEPTED",
            Some(&shop.owner),
        )
        .await;
    assert_eq!(
        listed(&open),
        [&ids[3], &ids[1], &ids[0]].map(String::clone)
    );
    let page = app
        .get(
            "/api/v1/restaurants/me/orders?status=pending&limit=1",
            Some(&shop.owner),
        )
        .await;
    assert_eq!(listed(&page), [ids[3].clone()]);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(
            &format!("/api/v1/restaurants/me/orders?status=PENDING&limit=1&cursor={cursor}"),
            Some(&shop.owner),
        )
        .await;
    assert_eq!(listed(&next), [ids[0].clone()]);
    assert!(next.body["next_cursor"].is_null());
    assert_validation(
        &app.get(
            "/api/v1/restaurants/me/orders?status=EATEN",
            Some(&shop.owner),
        )
        .await,
        "status",
    );
    assert_validation(
        &app.get("/api/v1/restaurants/me/orders?limit=101", Some(&shop.owner))
            .await,
        "limit",
    );
}

#[tokio::test]
async fn every_change_appends_one_event_with_increasing_seq() {
    let app = TestApp::spawn().await;
    let shop = app.shop("events@example.com", "POSTPAY").await;
    let other = app.shop("events-other@example.com", "POSTPAY").await;
    let customer = app.customer("events-customer@example.com").await;
    let a = app.place(&customer, shop.simple_order()).await;
    let b = app.place(&customer, shop.simple_order()).await;
    app.place(&customer, other.simple_order()).await;
    app.act(&shop.owner, &a, "accept", Some(accept_body()))
        .await;
    app.act(&shop.owner, &a, "ready", None).await;
    app.act(&shop.owner, &a, "complete", None).await;
    app.post_empty(&format!("/api/v1/orders/{b}/cancel"), Some(&customer))
        .await;
    // A refused change leaves no trace.
    app.act(&shop.owner, &b, "accept", Some(accept_body()))
        .await;

    // The log as the store keeps it (what live clients replay from): every order event, each
    // followed by its table's new tab (both orders are at table 3).
    let log = app
        .store()
        .await
        .events_since(shop.id.parse().unwrap(), 0, 100)
        .await
        .unwrap();
    let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<i64>>());
    for pair in log.chunks(2) {
        assert!(pair[0].order_id.is_some());
        assert_eq!(pair[1].order_id, None);
        assert_eq!(pair[1].kind.as_str(), "TABLE_UPDATED");
        let tab: Value = serde_json::from_str(&pair[1].payload).unwrap();
        assert_eq!(tab["table_number"], "3");
        assert_eq!(tab["seq"], pair[1].seq);
    }
    let events: Vec<(i64, String, String, Value)> = log
        .into_iter()
        .filter_map(|e| {
            Some((
                e.seq,
                e.order_id?.to_string(),
                e.kind.as_str().to_owned(),
                serde_json::from_str(&e.payload).unwrap(),
            ))
        })
        .collect();
    let summary: Vec<(i64, &str, &str)> = events
        .iter()
        .map(|(seq, order, kind, _)| (*seq, order.as_str(), kind.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, a.as_str(), "NEW_ORDER"),
            (3, b.as_str(), "NEW_ORDER"),
            (5, a.as_str(), "STATUS_CHANGED"),
            (7, a.as_str(), "STATUS_CHANGED"),
            (9, a.as_str(), "STATUS_CHANGED"),
            (11, b.as_str(), "ORDER_CANCELLED"),
        ]
    );
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| e.3["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "PENDING",
            "PENDING",
            "ACCEPTED",
            "READY",
            "COMPLETED",
            "CANCELLED"
        ]
    );
    for (seq, order, kind, payload) in &events {
        assert_eq!(payload["seq"], *seq);
        assert_eq!(payload["order_id"], order.as_str());
        assert_eq!(payload["type"], kind.as_str());
        assert!(payload["at"].is_string());
    }
    assert_eq!(events[0].3["order"]["items"][0]["name"], "후라이드");
    assert!(events[2].3["estimated_ready_at"].is_string());
    assert_eq!(events[2].3["message"], "곧 준비됩니다!");
    // Served on a tab: the table pays when it settles, not when the order completes.
    assert_eq!(events[4].3["payment_status"], "PENDING");
    // The other restaurant counts on its own.
    assert_eq!(
        app.count(&format!(
            "SELECT max(seq) FROM order_events WHERE restaurant_id = '{}'",
            other.id
        )),
        2
    );
}

#[tokio::test]
async fn a_ready_marked_by_mistake_is_recalled_to_accepted_and_nothing_else_is() {
    let app = TestApp::spawn().await;
    let shop = app.shop("recall@example.com", "POSTPAY").await;
    let customer = app.customer("recall-customer@example.com").await;
    let order = app.place(&customer, shop.simple_order()).await;
    let recall = format!("/api/v1/restaurants/me/orders/{order}/recall");

    // Only a READY order can be recalled.
    let early = app.post_empty(&recall, Some(&shop.owner)).await;
    let details = assert_error(&early, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(details["current_status"], "PENDING");
    app.act(&shop.owner, &order, "accept", Some(accept_body()))
        .await;
    let ready = app
        .post_empty(
            &format!("/api/v1/restaurants/me/orders/{order}/ready"),
            Some(&shop.owner),
        )
        .await;
    assert_eq!(ready.body["status"], "READY");

    let mut feed = app
        .ws(&format!("/ws/orders/{order}?token={customer}"))
        .await;
    let snapshot = crate::helpers::next_json(&mut feed, std::time::Duration::from_secs(2)).await;
    assert_eq!(snapshot["order"]["status"], "READY");
    let recalled = app.post_empty(&recall, Some(&shop.owner)).await;
    assert_eq!(recalled.status, StatusCode::OK, "{}", recalled.body);
    assert_eq!(recalled.body["status"], "ACCEPTED");
    let seen = status_of(&app, &customer, &order).await;
    assert_eq!(seen["status"], "ACCEPTED");
    assert_eq!(
        seen["message"], "곧 준비됩니다!",
        "the acceptance note stays"
    );
    let event = crate::helpers::next_order_json(&mut feed, std::time::Duration::from_secs(2)).await;
    assert_eq!(event["status"], "ACCEPTED");

    let again = app.post_empty(&recall, Some(&shop.owner)).await;
    assert_error(&again, StatusCode::CONFLICT, "CONFLICT");
    // A customer cannot recall.
    let theirs = app.post_empty(&recall, Some(&customer)).await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
}
