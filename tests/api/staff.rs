//! Staff accounts: the owner adds STAFF (board) and KITCHEN (kitchen display) accounts, resets
//! and removes them (their sessions end at once); what each role may do; the order log names
//! who acted.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Seen, Shop, TestApp, assert_error, assert_validation, next_json, next_seen};

const STAFF_PATH: &str = "/api/v1/restaurants/me/staff";

/// Adds an account through the API and logs it in; returns (user id, access token).
pub async fn add_staff(app: &TestApp, shop: &Shop, email: &str, role: &str) -> (String, String) {
    let res = app
        .post(
            STAFF_PATH,
            Some(&shop.owner),
            json!({ "email": email, "name": format!("{role} 김"), "role": role,
                    "password": "staff-password" }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["role"], role);
    assert_eq!(res.body["restaurant_id"], shop.id.as_str());
    let id = res.body["id"].as_str().unwrap().to_owned();
    let login = app.login(email, "staff-password").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.body["user"]["role"], role);
    assert_eq!(login.body["user"]["restaurant_id"], shop.id.as_str());
    (id, login.body["access_token"].as_str().unwrap().to_owned())
}

fn users(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM users")
}

#[tokio::test]
async fn the_owner_adds_lists_resets_and_removes_staff_and_their_sessions_end() {
    let app = TestApp::spawn().await;
    let shop = app.shop("staff-owner@example.com", "POSTPAY").await;
    let (floor_id, floor) = add_staff(&app, &shop, "floor@example.com", "STAFF").await;
    let (_, kitchen) = add_staff(&app, &shop, "kitchen@example.com", "KITCHEN").await;

    let list = app.get(STAFF_PATH, Some(&shop.owner)).await;
    assert_eq!(list.status, StatusCode::OK);
    let staff = list.body["staff"].as_array().unwrap();
    assert_eq!(staff.len(), 2);
    assert_eq!(staff[0]["email"], "floor@example.com");
    assert_eq!(staff[1]["role"], "KITCHEN");
    assert!(!list.body.to_string().contains("password"));

    // Bad input changes nothing.
    let customer = app.customer("staff-customer@example.com").await;
    let before = users(&app);
    for (body, field) in [
        (
            json!({"email": "x@example.com", "name": "x", "role": "OWNER", "password": "long-enough"}),
            "role",
        ),
        (
            json!({"email": "x@example.com", "name": "x", "role": "CUSTOMER", "password": "long-enough"}),
            "role",
        ),
        (
            json!({"email": "not-an-email", "name": "x", "role": "STAFF", "password": "long-enough"}),
            "email",
        ),
        (
            json!({"email": "x@example.com", "name": "x", "role": "STAFF", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "x@example.com", "name": " ", "role": "STAFF", "password": "long-enough"}),
            "name",
        ),
    ] {
        let res = app.post(STAFF_PATH, Some(&shop.owner), body).await;
        assert_validation(&res, field);
    }
    let taken = app
        .post(
            STAFF_PATH,
            Some(&shop.owner),
            json!({"email": "FLOOR@example.com", "name": "x", "role": "STAFF",
                   "password": "long-enough"}),
        )
        .await;
    assert_error(&taken, StatusCode::CONFLICT, "CONFLICT");
    // Staff cannot make staff; customers neither.
    for token in [&floor, &kitchen, &customer] {
        let res = app
            .post(
                STAFF_PATH,
                Some(token),
                json!({"email": "y@example.com", "name": "y", "role": "STAFF",
                       "password": "long-enough"}),
            )
            .await;
        assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    assert_eq!(users(&app), before);

    // Another owner cannot touch this shop's accounts.
    let other = app.shop("staff-other@example.com", "POSTPAY").await;
    let path = format!("{STAFF_PATH}/{floor_id}");
    let res = app
        .request(Method::DELETE, &path, Some(&other.owner), None)
        .await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
    let res = app
        .post(
            &format!("{path}/password"),
            Some(&other.owner),
            json!({"password": "taken-over-1"}),
        )
        .await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(
        app.login("floor@example.com", "staff-password")
            .await
            .status,
        StatusCode::OK
    );

    // A reset ends the sessions at once (socket included); the new password works.
    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={floor}"))
        .await;
    assert_eq!(
        next_json(&mut board, Duration::from_secs(5)).await["type"],
        "SNAPSHOT"
    );
    let res = app
        .post(
            &format!("{path}/password"),
            Some(&shop.owner),
            json!({"password": "x"}),
        )
        .await;
    assert_validation(&res, "password");
    let res = app
        .post(
            &format!("{path}/password"),
            Some(&shop.owner),
            json!({"password": "new-staff-password"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
    match next_seen(&mut board, Duration::from_secs(2)).await {
        Seen::Closed(Some(4002)) => {}
        other => panic!("the staff socket stayed open after a reset: {other:?}"),
    }
    let res = app.get("/api/v1/restaurants/me/orders", Some(&floor)).await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let old = app.login("floor@example.com", "staff-password").await;
    assert_error(&old, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let login = app.login("floor@example.com", "new-staff-password").await;
    assert_eq!(login.status, StatusCode::OK);
    let floor = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();

    // Removal: refused at once, refresh included, and gone from the list.
    let res = app
        .request(Method::DELETE, &path, Some(&shop.owner), None)
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
    let res = app.get("/api/v1/restaurants/me/orders", Some(&floor)).await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let res = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    let res = app.login("floor@example.com", "new-staff-password").await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let list = app.get(STAFF_PATH, Some(&shop.owner)).await;
    assert_eq!(list.body["staff"].as_array().unwrap().len(), 1);
    let res = app
        .request(Method::DELETE, &path, Some(&shop.owner), None)
        .await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
    // The kitchen account was not touched.
    let res = app
        .get("/api/v1/restaurants/me/orders", Some(&kitchen))
        .await;
    assert_eq!(res.status, StatusCode::OK);
}

fn order_status(app: &TestApp, order: &str) -> String {
    let sql = format!(
        "SELECT CASE status WHEN 'PENDING' THEN 1 WHEN 'ACCEPTED' THEN 2 WHEN 'READY' THEN 3
                WHEN 'COMPLETED' THEN 4 ELSE 0 END FROM orders WHERE id = '{order}'"
    );
    ["?", "PENDING", "ACCEPTED", "READY", "COMPLETED"][app.count(&sql) as usize].to_owned()
}

#[tokio::test]
async fn staff_run_the_board_the_kitchen_marks_ready_and_the_log_names_who_acted() {
    let app = TestApp::spawn().await;
    let shop = app.shop("crew-owner@example.com", "POSTPAY").await;
    let (_, floor) = add_staff(&app, &shop, "crew-floor@example.com", "STAFF").await;
    let (kitchen_id, kitchen) = add_staff(&app, &shop, "crew-kitchen@example.com", "KITCHEN").await;
    let guest = app.guest(&shop.id, "3").await;

    // The kitchen display's feed, settings and menu are open to the kitchen.
    let mut feed = app
        .ws(&format!("/ws/restaurants/me/orders?token={kitchen}"))
        .await;
    assert_eq!(
        next_json(&mut feed, Duration::from_secs(5)).await["type"],
        "SNAPSHOT"
    );
    for path in ["/api/v1/restaurants/me", "/api/v1/restaurants/me/menu"] {
        assert_eq!(
            app.get(path, Some(&kitchen)).await.status,
            StatusCode::OK,
            "{path}"
        );
    }

    let order = app.place(&guest, shop.simple_order()).await;
    // The kitchen may not accept; the floor may.
    let res = app
        .act(
            &kitchen,
            &order,
            "accept",
            Some(json!({"estimated_time_minutes": 10})),
        )
        .await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(order_status(&app, &order), "PENDING");
    let res = app
        .act(
            &floor,
            &order,
            "accept",
            Some(json!({"estimated_time_minutes": 10})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app.act(&kitchen, &order, "ready", None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app.act(&kitchen, &order, "complete", None).await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(order_status(&app, &order), "READY");
    let res = app.act(&floor, &order, "complete", None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    // Sold out is the floor's; the rest of an item is the owner's.
    let item = shop.item_id("콜라");
    let item_path = format!("/api/v1/restaurants/me/menu/items/{item}");
    let res = app
        .patch(&item_path, Some(&floor), json!({"is_available": false}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["is_available"], false);
    let res = app
        .patch(
            &item_path,
            Some(&floor),
            json!({"price": 100, "is_available": true}),
        )
        .await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    let res = app
        .patch(&item_path, Some(&kitchen), json!({"is_available": true}))
        .await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    let menu = app
        .get("/api/v1/restaurants/me/menu", Some(&shop.owner))
        .await
        .body;
    let cola = menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["items"].as_array().unwrap())
        .find(|i| i["id"] == item.as_str())
        .unwrap()
        .clone();
    assert_eq!(cola["is_available"], false);
    assert_ne!(cola["price"], 100);

    // The kitchen account is removed; the log still names it.
    let res = app
        .request(
            Method::DELETE,
            &format!("{STAFF_PATH}/{kitchen_id}"),
            Some(&shop.owner),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let log_path = format!("/api/v1/restaurants/me/orders/{order}/events");
    let log = app.get(&log_path, Some(&floor)).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let trail: Vec<(Value, Value, Value)> = log.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["status"].clone(),
                e["actor"]["role"].clone(),
                e["actor"]["name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        vec![
            (json!("PENDING"), Value::Null, Value::Null),
            (json!("ACCEPTED"), json!("STAFF"), json!("STAFF 김")),
            (json!("READY"), json!("KITCHEN"), json!("KITCHEN 김")),
            (json!("COMPLETED"), json!("STAFF"), json!("STAFF 김")),
        ]
    );
    // A guest's own cancellation is the guest's in the log; the kitchen takes no payments.
    let second = app.place(&guest, shop.simple_order()).await;
    let res = app
        .post(
            "/api/v1/payments/initiate",
            Some(&floor),
            json!({"order_id": second, "amount": 1}),
        )
        .await;
    assert_ne!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    let res = app
        .post_empty(&format!("/api/v1/orders/{second}/cancel"), Some(&guest))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let log = app
        .get(
            &format!("/api/v1/restaurants/me/orders/{second}/events"),
            Some(&shop.owner),
        )
        .await;
    let last = log.body["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["status"], "CANCELLED");
    assert_eq!(last["actor"]["role"], "CUSTOMER");
    assert_eq!(last["actor"]["name"], Value::Null);

    // Another restaurant's order log is not there; a guest has no log.
    let other = app.shop("crew-other@example.com", "POSTPAY").await;
    let res = app.get(&log_path, Some(&other.owner)).await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
    let res = app.get(&log_path, Some(&guest)).await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
}
