//! Table service: one running tab per table for every phone there, staff calls, settling,
//! closing, moving and merging tables, and the day's history.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Seen, Shop, TestApp, assert_error, assert_validation, next_json, next_order_json, next_seen,
};

const SOON: Duration = Duration::from_secs(1);

/// A guest's order: the table comes from their QR code.
fn guest_order(shop: &Shop, item: &str, quantity: i64) -> Value {
    let choices: &[(usize, &str)] = if item == "후라이드" {
        &[(0, "순한맛")]
    } else {
        &[]
    };
    json!({"restaurant_id": shop.id, "items": [shop.line(item, quantity, choices)]})
}

async fn tab(app: &TestApp, guest: &str) -> Value {
    let res = app.get("/api/v1/tables/me", Some(guest)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body
}

async fn open_tables(app: &TestApp, shop: &Shop) -> Vec<Value> {
    let res = app
        .get("/api/v1/restaurants/me/tables", Some(&shop.owner))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body["tables"].as_array().unwrap().clone()
}

fn table_path(table: &str, action: &str) -> String {
    format!("/api/v1/restaurants/me/tables/{table}/{action}")
}

fn order_ids(tab: &Value) -> Vec<String> {
    let mut ids: Vec<String> = tab["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn two_phones_at_one_table_share_one_tab() {
    let app = TestApp::spawn().await;
    let shop = app.shop("tab@example.com", "POSTPAY").await;
    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={}", shop.owner))
        .await;
    assert_eq!(next_json(&mut board, SOON).await["type"], "SNAPSHOT");

    let first = app.guest(&shop.id, "5").await;
    let second = app.guest(&shop.id, "5").await;
    // Before anyone orders the table has no party yet.
    let empty = tab(&app, &first).await;
    assert_eq!(empty["session"], Value::Null);
    assert_eq!(empty["orders"], json!([]));
    assert_eq!(empty["table_number"], "5");
    assert_eq!(empty["total_amount"], 0);

    let a = app.place(&first, guest_order(&shop, "후라이드", 1)).await;
    let b = app.place(&second, guest_order(&shop, "콜라", 2)).await;
    let seen_by_first = tab(&app, &first).await;
    let seen_by_second = tab(&app, &second).await;
    for (seen, mine) in [(&seen_by_first, &a), (&seen_by_second, &b)] {
        assert_eq!(seen["table_number"], "5");
        assert_eq!(seen["session"]["status"], "OPEN");
        assert!(seen["session"]["opened_at"].is_string());
        let mut expected = vec![a.clone(), b.clone()];
        expected.sort();
        assert_eq!(order_ids(seen), expected);
        assert_eq!(seen["total_amount"], 22000);
        assert_eq!(seen["paid_amount"], 0);
        assert_eq!(seen["remaining_amount"], 22000);
        // Each phone knows which orders are its own (what "pay for my items" covers).
        for order in seen["orders"].as_array().unwrap() {
            assert_eq!(order["mine"], order["order_id"] == mine.as_str());
            assert_eq!(order["status"], "PENDING");
            assert!(order["items"][0]["name"].is_string());
        }
    }
    assert_eq!(
        seen_by_first["session"]["id"],
        seen_by_second["session"]["id"]
    );

    let tables = open_tables(&app, &shop).await;
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0]["table_number"], "5");
    assert_eq!(tables[0]["session_id"], seen_by_first["session"]["id"]);
    assert_eq!(tables[0]["orders_count"], 2);
    assert_eq!(tables[0]["orders_waiting"], 2);
    assert_eq!(tables[0]["total_amount"], 22000);
    assert_eq!(tables[0]["remaining_amount"], 22000);
    assert!(tables[0]["last_order_at"].is_string());
    assert_eq!(tables[0]["open_calls"], json!([]));
    // The owner reads the table's tab as its guests do.
    let owners_view = app
        .get("/api/v1/restaurants/me/tables/5", Some(&shop.owner))
        .await;
    assert_eq!(owners_view.status, StatusCode::OK);
    assert_eq!(order_ids(&owners_view.body), order_ids(&seen_by_first));
    assert_eq!(owners_view.body["remaining_amount"], 22000);
    let res = app
        .get("/api/v1/restaurants/me/tables/6", Some(&shop.owner))
        .await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");

    // The board heard both orders, each followed by the table's new tab.
    for (order, total) in [(&a, 18000), (&b, 22000)] {
        let new = next_json(&mut board, SOON).await;
        assert_eq!(new["type"], "NEW_ORDER");
        assert_eq!(new["order_id"], order.as_str());
        let table = next_json(&mut board, SOON).await;
        assert_eq!(table["type"], "TABLE_UPDATED");
        assert_eq!(table["table_number"], "5");
        assert_eq!(table["total_amount"], total);
        assert_eq!(table["seq"], new["seq"].as_i64().unwrap() + 1);
    }

    // The second phone adds an order (추가 주문): the owner hears the new total.
    let c = app.place(&second, guest_order(&shop, "양념", 1)).await;
    assert_eq!(next_json(&mut board, SOON).await["order_id"], c.as_str());
    let updated = next_json(&mut board, SOON).await;
    assert_eq!(updated["type"], "TABLE_UPDATED");
    assert_eq!(updated["total_amount"], 41000);
    assert_eq!(updated["orders_count"], 3);
    assert_eq!(tab(&app, &first).await["total_amount"], 41000);

    // A rejected order drops off the bill.
    app.act(&shop.owner, &c, "reject", Some(json!({"reason": "품절"})))
        .await;
    assert_eq!(next_json(&mut board, SOON).await["status"], "REJECTED");
    assert_eq!(next_json(&mut board, SOON).await["total_amount"], 22000);
    assert_eq!(tab(&app, &second).await["remaining_amount"], 22000);
    assert_eq!(open_tables(&app, &shop).await[0]["total_amount"], 22000);

    // Another table is another party.
    let elsewhere = app.guest(&shop.id, "6").await;
    assert_eq!(tab(&app, &elsewhere).await["orders"], json!([]));
}

#[tokio::test]
async fn a_call_reaches_the_owner_at_once_and_is_never_doubled() {
    let app = TestApp::spawn().await;
    let shop = app.shop("calls@example.com", "POSTPAY").await;
    let guest = app.guest(&shop.id, "7").await;
    let other_phone = app.guest(&shop.id, "7").await;
    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={}", shop.owner))
        .await;
    assert_eq!(next_json(&mut board, SOON).await["type"], "SNAPSHOT");

    let asked = Instant::now();
    let call = app
        .post(
            "/api/v1/tables/me/calls",
            Some(&guest),
            json!({"kind": "BILL", "note": " 카드로 할게요 "}),
        )
        .await;
    assert_eq!(call.status, StatusCode::CREATED, "{}", call.body);
    assert_eq!(call.body["kind"], "BILL");
    assert_eq!(call.body["status"], "OPEN");
    assert_eq!(call.body["note"], "카드로 할게요");
    assert_eq!(call.body["table_number"], "7");
    let call_id = call.body["id"].as_str().unwrap().to_owned();
    let heard = next_json(&mut board, SOON).await;
    assert!(asked.elapsed() < SOON);
    assert_eq!(heard["type"], "TABLE_CALL");
    assert_eq!(heard["table_number"], "7");
    assert_eq!(heard["call"]["id"], call_id.as_str());
    assert_eq!(heard["call"]["kind"], "BILL");
    assert_eq!(heard["open_calls"].as_array().unwrap().len(), 1);

    // Asking again, from either phone, is the same call: nothing new for the owner.
    for phone in [&guest, &other_phone] {
        let again = app
            .post(
                "/api/v1/tables/me/calls",
                Some(phone),
                json!({"kind": "bill"}),
            )
            .await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        assert_eq!(again.body["id"], call_id.as_str());
    }
    assert!(matches!(
        next_seen(&mut board, Duration::from_millis(300)).await,
        Seen::Nothing
    ));
    assert_eq!(app.count("SELECT count(*) FROM table_calls"), 1);
    // Another kind is another call.
    let water = app
        .post(
            "/api/v1/tables/me/calls",
            Some(&other_phone),
            json!({"kind": "WATER"}),
        )
        .await;
    assert_eq!(water.status, StatusCode::CREATED);
    assert_eq!(next_json(&mut board, SOON).await["call"]["kind"], "WATER");
    let tables = open_tables(&app, &shop).await;
    assert_eq!(tables[0]["open_calls"].as_array().unwrap().len(), 2);
    assert_eq!(
        tab(&app, &guest).await["calls"].as_array().unwrap().len(),
        2
    );

    // The owner acknowledges the bill call: closed, heard, and a new call may be made later.
    let acked = app
        .post(
            &table_path("7", &format!("calls/{call_id}/ack")),
            Some(&shop.owner),
            json!({}),
        )
        .await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    let ack = next_json(&mut board, SOON).await;
    assert_eq!(ack["type"], "TABLE_CALL_ACK");
    assert_eq!(ack["call"]["status"], "ACKED");
    assert_eq!(ack["open_calls"].as_array().unwrap().len(), 1);
    let calls = tab(&app, &guest).await["calls"].clone();
    let bill = calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == call_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(bill["status"], "ACKED");
    assert!(bill["acked_at"].is_string());
    // Acknowledging twice changes nothing.
    let twice = app
        .post_empty(
            &table_path("7", &format!("calls/{call_id}/ack")),
            Some(&shop.owner),
        )
        .await;
    assert_eq!(twice.status, StatusCode::OK);
    assert!(matches!(
        next_seen(&mut board, Duration::from_millis(300)).await,
        Seen::Nothing
    ));
    let again = app
        .post(
            "/api/v1/tables/me/calls",
            Some(&guest),
            json!({"kind": "BILL"}),
        )
        .await;
    assert_ne!(again.body["id"], call_id.as_str());
}

#[tokio::test]
async fn bad_calls_and_table_requests_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let shop = app.shop("tables-bad@example.com", "POSTPAY").await;
    let other = app.shop("tables-bad-other@example.com", "POSTPAY").await;
    let guest = app.guest(&shop.id, "2").await;
    let customer = app.customer("tables-bad-customer@example.com").await;
    app.place(&guest, guest_order(&shop, "후라이드", 1)).await;
    let events_before = app.count("SELECT count(*) FROM order_events");

    for (body, field) in [
        (json!({"kind": "PIZZA"}), "kind"),
        (json!({"kind": "WATER", "note": "가".repeat(101)}), "note"),
        (json!({"kind": "WATER", "extra": 1}), "body"),
        (json!({}), "body"),
    ] {
        let res = app
            .post("/api/v1/tables/me/calls", Some(&guest), body.clone())
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
        assert_eq!(res.body["error"]["code"], "VALIDATION_ERROR");
        if field != "body" {
            assert_validation(&res, field);
        }
    }
    // Only a guest at a table has a table; owners are not guests.
    for token in [&customer, &shop.owner] {
        let res = app.get("/api/v1/tables/me", Some(token)).await;
        assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let res = app.get("/api/v1/tables/me", None).await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    // Owners' table actions: only on their own open tables, with valid input.
    let res = app.get("/api/v1/restaurants/me/tables", Some(&guest)).await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    for (path, body, status, field) in [
        (
            table_path("2", "settle"),
            json!({"method": "BITCOIN", "amount": 100}),
            StatusCode::BAD_REQUEST,
            Some("method"),
        ),
        (
            table_path("2", "settle"),
            json!({"method": "CASH", "amount": 0}),
            StatusCode::BAD_REQUEST,
            Some("amount"),
        ),
        (
            table_path("2", "settle"),
            json!({"method": "CASH", "amount": 18001}),
            StatusCode::BAD_REQUEST,
            Some("amount"),
        ),
        (
            table_path("2", "settle"),
            json!({"method": "CASH", "amount": "18000"}),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            table_path("9", "settle"),
            json!({"method": "CASH", "amount": 100}),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            table_path("2", "move"),
            json!({"to": "2"}),
            StatusCode::BAD_REQUEST,
            Some("to"),
        ),
        (
            table_path("2", "move"),
            json!({"to": ""}),
            StatusCode::BAD_REQUEST,
            Some("to"),
        ),
        (
            table_path("2", "merge"),
            json!({"into": "2"}),
            StatusCode::BAD_REQUEST,
            Some("into"),
        ),
        // Nobody at table 8 to join: a conflict, not bad input.
        (
            table_path("2", "merge"),
            json!({"into": "8"}),
            StatusCode::CONFLICT,
            None,
        ),
        (
            table_path("2", "close"),
            json!({"confirm_unpaid": "yes"}),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            table_path("2", &format!("calls/{}/ack", uuid::Uuid::now_v7())),
            json!({}),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            table_path("2", "calls/nope/ack"),
            json!({}),
            StatusCode::NOT_FOUND,
            None,
        ),
    ] {
        let res = app.post(&path, Some(&shop.owner), body.clone()).await;
        assert_eq!(res.status, status, "{path} {body}: {}", res.body);
        assert!(res.body["error"]["code"].is_string(), "{}", res.body);
        if let Some(field) = field {
            assert_validation(&res, field);
        }
    }
    // Closing with money owed needs a confirmation.
    let res = app
        .post_empty(&table_path("2", "close"), Some(&shop.owner))
        .await;
    let details = assert_error(&res, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(details["remaining_amount"], 18000);
    // Another restaurant's owner does not see this table.
    let res = app
        .post(
            &table_path("2", "settle"),
            Some(&other.owner),
            json!({"method": "CASH", "amount": 100}),
        )
        .await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(open_tables(&app, &other).await, Vec::<Value>::new());

    let res = app
        .get(
            "/api/v1/restaurants/me/orders/history?date=2026-13-01",
            Some(&shop.owner),
        )
        .await;
    assert_validation(&res, "date");
    let res = app
        .get(
            &format!("/api/v1/restaurants/me/orders/history?q={}", "A".repeat(21)),
            Some(&shop.owner),
        )
        .await;
    assert_validation(&res, "q");

    // Nothing changed.
    assert_eq!(
        app.count("SELECT count(*) FROM order_events"),
        events_before
    );
    assert_eq!(app.count("SELECT count(*) FROM table_calls"), 0);
    assert_eq!(app.count("SELECT count(*) FROM table_settlements"), 0);
    let tables = open_tables(&app, &shop).await;
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0]["table_number"], "2");
    assert_eq!(tables[0]["remaining_amount"], 18000);
}

#[tokio::test]
async fn a_closed_table_sends_its_party_to_scan_again_and_the_next_party_starts_fresh() {
    let app = TestApp::spawn().await;
    let shop = app.shop("close@example.com", "POSTPAY").await;
    let guest = app.guest(&shop.id, "4").await;
    let order = app.place(&guest, guest_order(&shop, "후라이드", 2)).await;
    for action in ["accept", "ready", "complete"] {
        let body = (action == "accept").then(|| json!({"estimated_time_minutes": 10}));
        app.act(&shop.owner, &order, action, body).await;
    }
    // Served on the tab: not paid until the table settles.
    let before = tab(&app, &guest).await;
    assert_eq!(before["orders"][0]["status"], "COMPLETED");
    assert_eq!(before["remaining_amount"], 36000);

    // Part by card, the rest in cash.
    let card = app
        .post(
            &table_path("4", "settle"),
            Some(&shop.owner),
            json!({"method": "CARD", "amount": 20000}),
        )
        .await;
    assert_eq!(card.status, StatusCode::OK, "{}", card.body);
    assert_eq!(card.body["paid_amount"], 20000);
    assert_eq!(card.body["remaining_amount"], 16000);
    let cash = app
        .post(
            &table_path("4", "settle"),
            Some(&shop.owner),
            json!({"method": "cash", "amount": 16000}),
        )
        .await;
    assert_eq!(cash.body["remaining_amount"], 0);
    let summary = app
        .get("/api/v1/restaurants/me/summary", Some(&shop.owner))
        .await;
    assert_eq!(summary.body["revenue"], 36000);

    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={}", shop.owner))
        .await;
    assert_eq!(next_json(&mut board, SOON).await["type"], "SNAPSHOT");
    let closed = app
        .post_empty(&table_path("4", "close"), Some(&shop.owner))
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(closed.body["session"]["status"], "CLOSED");
    let heard = next_json(&mut board, SOON).await;
    assert_eq!(heard["type"], "TABLE_CLOSED");
    assert_eq!(heard["table_number"], "4");
    assert_eq!(heard["unpaid_amount"], 0);
    assert_eq!(open_tables(&app, &shop).await, Vec::<Value>::new());

    // The party that left can still read its orders, but not order or call again.
    let past = tab(&app, &guest).await;
    assert_eq!(past["session"]["status"], "CLOSED");
    assert_eq!(order_ids(&past), vec![order.clone()]);
    let res = app.order(&guest, guest_order(&shop, "콜라", 1)).await;
    assert_error(&res, StatusCode::CONFLICT, "TABLE_SESSION_CLOSED");
    let res = app
        .post(
            "/api/v1/tables/me/calls",
            Some(&guest),
            json!({"kind": "WATER"}),
        )
        .await;
    assert_error(&res, StatusCode::CONFLICT, "TABLE_SESSION_CLOSED");
    assert_eq!(app.count("SELECT count(*) FROM orders"), 1);
    assert_eq!(app.count("SELECT count(*) FROM table_calls"), 0);

    // Scanning again: the next party at table 4 sees nothing of the last one's.
    let next_party = app.guest(&shop.id, "4").await;
    let fresh = tab(&app, &next_party).await;
    assert_eq!(fresh["session"], Value::Null);
    assert_eq!(fresh["orders"], json!([]));
    let theirs = app.place(&next_party, guest_order(&shop, "콜라", 1)).await;
    let fresh = tab(&app, &next_party).await;
    assert_eq!(order_ids(&fresh), vec![theirs]);
    assert_ne!(fresh["session"]["id"], past["session"]["id"]);
    assert_eq!(fresh["total_amount"], 2000);

    // Closing with money owed is possible once confirmed, and on record.
    let res = app
        .post(
            &table_path("4", "close"),
            Some(&shop.owner),
            json!({"confirm_unpaid": true}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        app.count("SELECT count(*) FROM table_sessions WHERE closed_unpaid = 2000"),
        1
    );
    let heard = next_order_json(&mut board, SOON).await;
    assert_eq!(heard["type"], "NEW_ORDER");
    assert_eq!(next_json(&mut board, SOON).await["type"], "TABLE_UPDATED");
    let heard = next_json(&mut board, SOON).await;
    assert_eq!(heard["type"], "TABLE_CLOSED");
    assert_eq!(heard["unpaid_amount"], 2000);
}

#[tokio::test]
async fn moving_and_merging_tables_keep_every_order_and_amount() {
    let app = TestApp::spawn().await;
    let shop = app.shop("move@example.com", "POSTPAY").await;
    let at_one = app.guest(&shop.id, "1").await;
    let at_two = app.guest(&shop.id, "2").await;
    let a = app.place(&at_one, guest_order(&shop, "후라이드", 1)).await;
    let b = app.place(&at_two, guest_order(&shop, "양념", 1)).await;
    let c = app.place(&at_two, guest_order(&shop, "콜라", 1)).await;
    app.post(
        &table_path("2", "settle"),
        Some(&shop.owner),
        json!({"method": "CASH", "amount": 5000}),
    )
    .await;

    // Table 1 moves to 9 (이동).
    let moved = app
        .post(
            &table_path("1", "move"),
            Some(&shop.owner),
            json!({"to": 9}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["table_number"], "9");
    assert_eq!(order_ids(&moved.body), vec![a.clone()]);
    assert_eq!(moved.body["orders"][0]["table_number"], "9");
    let mine = tab(&app, &at_one).await;
    assert_eq!(mine["table_number"], "9");
    assert_eq!(mine["total_amount"], 18000);
    // Moving onto a taken table is refused: that is a merge.
    let res = app
        .post(
            &table_path("9", "move"),
            Some(&shop.owner),
            json!({"to": "2"}),
        )
        .await;
    assert_error(&res, StatusCode::CONFLICT, "CONFLICT");

    // Table 2 joins table 9 (합석): one tab with every order and what was paid.
    let merged = app
        .post(
            &table_path("2", "merge"),
            Some(&shop.owner),
            json!({"into": "9"}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    let mut all = vec![a.clone(), b.clone(), c.clone()];
    all.sort();
    assert_eq!(order_ids(&merged.body), all);
    assert_eq!(merged.body["total_amount"], 18000 + 19000 + 2000);
    assert_eq!(merged.body["paid_amount"], 5000);
    assert_eq!(merged.body["remaining_amount"], 34000);
    let tables = open_tables(&app, &shop).await;
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0]["table_number"], "9");
    assert_eq!(tables[0]["orders_count"], 3);
    // Both parties' phones now read the joined tab, and order onto it.
    for phone in [&at_one, &at_two] {
        let seen = tab(&app, phone).await;
        assert_eq!(seen["table_number"], "9");
        assert_eq!(order_ids(&seen), all);
    }
    let d = app.place(&at_two, guest_order(&shop, "콜라", 1)).await;
    let order = app.get(&format!("/api/v1/orders/{d}"), Some(&at_two)).await;
    assert_eq!(order.body["table_number"], "9");
    assert_eq!(tab(&app, &at_one).await["remaining_amount"], 36000);
    // Nothing was lost or counted twice.
    assert_eq!(app.count("SELECT count(*) FROM orders"), 4);
    assert_eq!(app.count("SELECT sum(amount) FROM table_settlements"), 5000);
}

#[tokio::test]
async fn the_days_history_lists_every_order_and_finds_by_number_or_table() {
    let app = TestApp::spawn().await;
    let shop = app.shop("history@example.com", "POSTPAY").await;
    let at_one = app.guest(&shop.id, "1").await;
    let at_twelve = app.guest(&shop.id, "12").await;
    let a = app.place(&at_one, guest_order(&shop, "후라이드", 1)).await;
    let b = app.place(&at_twelve, guest_order(&shop, "콜라", 1)).await;
    let c = app.place(&at_one, guest_order(&shop, "양념", 1)).await;
    app.act(&shop.owner, &b, "reject", Some(json!({"reason": "x"})))
        .await;

    let all = app
        .get("/api/v1/restaurants/me/orders/history", Some(&shop.owner))
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert!(all.body["business_day"].is_string());
    let ids: Vec<&str> = all.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    // Newest first, whatever their status.
    assert_eq!(ids, [c.as_str(), b.as_str(), a.as_str()]);
    assert_eq!(all.body["orders"][1]["status"], "REJECTED");

    let by_table = app
        .get(
            "/api/v1/restaurants/me/orders/history?q=12",
            Some(&shop.owner),
        )
        .await;
    assert_eq!(by_table.body["orders"].as_array().unwrap().len(), 1);
    assert_eq!(by_table.body["orders"][0]["order_id"], b.as_str());
    let number = all.body["orders"][2]["order_number"].as_str().unwrap();
    let by_number = app
        .get(
            &format!(
                "/api/v1/restaurants/me/orders/history?q={}",
                number.to_lowercase()
            ),
            Some(&shop.owner),
        )
        .await;
    assert_eq!(by_number.body["orders"][0]["order_id"], a.as_str());
    let day = all.body["business_day"].as_str().unwrap();
    let same_day = app
        .get(
            &format!("/api/v1/restaurants/me/orders/history?date={day}"),
            Some(&shop.owner),
        )
        .await;
    assert_eq!(same_day.body["orders"], all.body["orders"]);
    let other_day = app
        .get(
            "/api/v1/restaurants/me/orders/history?date=2020-01-01",
            Some(&shop.owner),
        )
        .await;
    assert_eq!(other_day.body["orders"], json!([]));
    // Guests have no history of the restaurant's.
    let res = app
        .get("/api/v1/restaurants/me/orders/history", Some(&at_one))
        .await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn the_table_feed_carries_the_partys_orders_calls_and_totals_and_nothing_else() {
    let app = TestApp::spawn().await;
    let shop = app.shop("table-feed@example.com", "POSTPAY").await;
    let watcher = app.guest(&shop.id, "5").await;
    let orderer = app.guest(&shop.id, "5").await;
    let elsewhere = app.guest(&shop.id, "6").await;

    // Connected before anyone at the table ordered.
    let mut feed = app.ws(&format!("/ws/tables/me?token={watcher}")).await;
    let snapshot = next_json(&mut feed, SOON).await;
    assert_eq!(snapshot["type"], "SNAPSHOT");
    assert_eq!(snapshot["tab"]["session"], Value::Null);
    assert_eq!(snapshot["tab"]["table_number"], "5");
    let start = snapshot["seq"].as_i64().unwrap();

    app.place(&elsewhere, guest_order(&shop, "콜라", 1)).await;
    let order = app.place(&orderer, guest_order(&shop, "후라이드", 1)).await;
    let new = next_json(&mut feed, SOON).await;
    assert_eq!(new["type"], "NEW_ORDER");
    assert_eq!(new["order_id"], order.as_str());
    assert_eq!(new["order"]["items"][0]["name"], "후라이드");
    let totals = next_json(&mut feed, SOON).await;
    assert_eq!(totals["type"], "TABLE_UPDATED");
    assert_eq!(totals["total_amount"], 18000);
    app.act(
        &shop.owner,
        &order,
        "accept",
        Some(json!({"estimated_time_minutes": 10})),
    )
    .await;
    let accepted = next_json(&mut feed, SOON).await;
    assert_eq!(accepted["status"], "ACCEPTED");
    assert_eq!(next_json(&mut feed, SOON).await["type"], "TABLE_UPDATED");
    app.post(
        "/api/v1/tables/me/calls",
        Some(&orderer),
        json!({"kind": "WATER"}),
    )
    .await;
    let call = next_json(&mut feed, SOON).await;
    assert_eq!(call["type"], "TABLE_CALL");
    assert_eq!(call["call"]["kind"], "WATER");
    // Table 6's call is not ours.
    app.post(
        "/api/v1/tables/me/calls",
        Some(&elsewhere),
        json!({"kind": "WATER"}),
    )
    .await;
    assert!(matches!(
        next_seen(&mut feed, Duration::from_millis(300)).await,
        Seen::Nothing
    ));
    let last = call["seq"].as_i64().unwrap();
    drop(feed);

    // Reconnecting from the start replays the party's events only.
    let mut again = app
        .ws(&format!("/ws/tables/me?token={watcher}&since={start}"))
        .await;
    let mut replayed = Vec::new();
    while replayed.last() != Some(&last) {
        replayed.push(next_json(&mut again, SOON).await["seq"].as_i64().unwrap());
    }
    assert_eq!(replayed.len(), 5);
    assert!(matches!(
        next_seen(&mut again, Duration::from_millis(300)).await,
        Seen::Nothing
    ));
    // A fresh connection's snapshot is the tab.
    let mut fresh = app.ws(&format!("/ws/tables/me?token={orderer}")).await;
    let snapshot = next_json(&mut fresh, SOON).await;
    assert_eq!(snapshot["tab"]["orders"][0]["order_id"], order.as_str());
    assert_eq!(snapshot["tab"]["orders"][0]["mine"], true);
    assert_eq!(snapshot["tab"]["total_amount"], 18000);

    // The party leaves: its feed hears the close, and nothing of the next party.
    app.post(
        &table_path("5", "close"),
        Some(&shop.owner),
        json!({"confirm_unpaid": true}),
    )
    .await;
    assert_eq!(next_json(&mut again, SOON).await["type"], "TABLE_CLOSED");
    let next_party = app.guest(&shop.id, "5").await;
    app.place(&next_party, guest_order(&shop, "콜라", 1)).await;
    assert!(matches!(
        next_seen(&mut again, Duration::from_millis(300)).await,
        Seen::Nothing
    ));
    let mut old = app
        .ws(&format!("/ws/tables/me?token={watcher}&since={start}"))
        .await;
    let mut types = Vec::new();
    while let Seen::Json(event) = next_seen(&mut old, Duration::from_millis(500)).await {
        types.push(event["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(types.last().map(String::as_str), Some("TABLE_CLOSED"));
    assert_eq!(types.iter().filter(|t| *t == "NEW_ORDER").count(), 1);

    // Owners and registered customers have no table feed.
    for token in [&shop.owner, &app.customer("feedless@example.com").await] {
        let mut refused = app.ws(&format!("/ws/tables/me?token={token}")).await;
        assert!(matches!(
            next_seen(&mut refused, SOON).await,
            Seen::Closed(Some(1008))
        ));
    }
}

#[tokio::test]
async fn the_ready_message_is_the_restaurants_to_set() {
    let app = TestApp::spawn().await;
    let shop = app.shop("ready-message@example.com", "POSTPAY").await;
    let menu = format!("/api/v1/restaurants/{}/menu", shop.id);
    assert!(app.get(&menu, None).await.body["restaurant"]["ready_message"].is_null());
    let set = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"ready_message": " 자리로 가져다 드릴게요 "}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["ready_message"], "자리로 가져다 드릴게요");
    assert_eq!(
        app.get(&menu, None).await.body["restaurant"]["ready_message"],
        "자리로 가져다 드릴게요"
    );
    let res = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"ready_message": "가".repeat(101)}),
        )
        .await;
    assert_validation(&res, "ready_message");
    // Other settings leave it alone; null puts the default back.
    let other = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"name": "새 이름"}),
        )
        .await;
    assert_eq!(other.body["ready_message"], "자리로 가져다 드릴게요");
    let cleared = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"ready_message": null}),
        )
        .await;
    assert!(cleared.body["ready_message"].is_null());
    assert!(app.get(&menu, None).await.body["restaurant"]["ready_message"].is_null());

    // The restaurant's list of tables, for the table view (empty tables too) and the QR sheet.
    let listed = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"tables": "1-3, 테라스"}),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["tables"], "1-3, 테라스");
    assert_eq!(listed.body["table_list"], json!(["1", "2", "3", "테라스"]));
    let res = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"tables": "5-1"}),
        )
        .await;
    assert_validation(&res, "tables");
    let settings = app.get("/api/v1/restaurants/me", Some(&shop.owner)).await;
    assert_eq!(settings.body["tables"], "1-3, 테라스");
    let cleared = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"tables": null}),
        )
        .await;
    assert_eq!(cleared.body["table_list"], json!([]));
}

#[tokio::test]
async fn a_scan_left_behind_never_joins_the_next_party() {
    let mut clock = None;
    let app = TestApp::spawn_with(|c| clock = Some(c.clock.clone())).await;
    let clock = clock.unwrap();
    let shop = app.shop("left-behind@example.com", "POSTPAY").await;
    // Someone scans table 8, looks at the menu, and leaves.
    let gone = app.guest(&shop.id, "8").await;
    clock.advance(chrono::Duration::minutes(31));
    // An hour later a new party sits down there and orders.
    let party = app.guest(&shop.id, "8").await;
    let order = app.place(&party, guest_order(&shop, "후라이드", 1)).await;
    let theirs = tab(&app, &party).await;
    assert_eq!(order_ids(&theirs), vec![order]);
    // The old scan sees nothing of theirs, and can neither order nor call onto their tab.
    let seen = tab(&app, &gone).await;
    assert_eq!(seen["session"], Value::Null);
    assert_eq!(seen["orders"], json!([]));
    let res = app.order(&gone, guest_order(&shop, "콜라", 1)).await;
    assert_error(&res, StatusCode::CONFLICT, "TABLE_SESSION_CLOSED");
    let res = app
        .post(
            "/api/v1/tables/me/calls",
            Some(&gone),
            json!({"kind": "BILL"}),
        )
        .await;
    assert_error(&res, StatusCode::CONFLICT, "TABLE_SESSION_CLOSED");
    let mut feed = app.ws(&format!("/ws/tables/me?token={gone}")).await;
    assert_eq!(next_json(&mut feed, SOON).await["tab"]["orders"], json!([]));
    app.place(&party, guest_order(&shop, "콜라", 1)).await;
    assert!(matches!(
        next_seen(&mut feed, Duration::from_millis(300)).await,
        Seen::Nothing
    ));
    assert_eq!(app.count("SELECT count(*) FROM orders"), 2);
    // A guest at another table cannot confirm this party's test-mode payment.
    let checkout = app
        .post(
            "/api/v1/tables/me/payments",
            Some(&party),
            json!({"kind": "ALL", "amount": 20000}),
        )
        .await;
    assert_eq!(checkout.status, StatusCode::CREATED, "{}", checkout.body);
    let id = checkout.body["order_id"].as_str().unwrap();
    let stranger = app.guest(&shop.id, "9").await;
    let confirm = |token: String| {
        let body = json!({"paymentKey": "sim_abc", "orderId": id, "amount": 20000});
        let app = &app;
        async move {
            app.post("/api/v1/payments/confirm", Some(&token), body)
                .await
        }
    };
    assert_error(&confirm(stranger).await, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(confirm(party.clone()).await.status, StatusCode::OK);
    let paid = tab(&app, &party).await;
    assert_eq!(paid["remaining_amount"], 0);
    // Test-mode money is on the tab but not in the revenue.
    let summary = app
        .get("/api/v1/restaurants/me/summary", Some(&shop.owner))
        .await;
    assert_eq!(summary.body["revenue"], 0);
    assert_eq!(summary.body["test_revenue"], 20000);
}
