use std::time::{Duration, Instant};

use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Seen, TestApp, next_json, next_order_json, next_seen};

const SOON: Duration = Duration::from_secs(1);

fn accept_body() -> Value {
    json!({"estimated_time_minutes": 15, "message": "곧 준비됩니다!"})
}

#[tokio::test]
async fn owners_and_customers_see_every_change_live() {
    let app = TestApp::spawn().await;
    let shop = app.shop("live@example.com", "POSTPAY").await;
    let customer = app.customer("live-customer@example.com").await;

    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={}", shop.owner))
        .await;
    let snapshot = next_json(&mut board, SOON).await;
    assert_eq!(snapshot["type"], "SNAPSHOT");
    assert_eq!(snapshot["orders"], json!([]));
    assert_eq!(snapshot["seq"], 0);

    let posted = Instant::now();
    let order = app.place(&customer, shop.simple_order()).await;
    let new = next_json(&mut board, SOON).await;
    assert!(posted.elapsed() < SOON);
    assert_eq!(new["type"], "NEW_ORDER");
    assert_eq!(new["order_id"], order.as_str());
    assert_eq!(new["status"], "PENDING");
    assert_eq!(new["seq"], 1);
    assert!(new["at"].is_string());
    assert_eq!(new["order_number"], "A001");
    assert_eq!(new["table_number"], "3");
    assert_eq!(new["order"]["items"][0]["name"], "후라이드");
    assert_eq!(new["order"]["total_amount"], 18000);
    assert_eq!(new["payment_status"], "PENDING");

    let mut mine = app
        .ws(&format!("/ws/orders/{order}?token={customer}"))
        .await;
    let snapshot = next_json(&mut mine, SOON).await;
    assert_eq!(snapshot["type"], "SNAPSHOT");
    assert_eq!(snapshot["order"]["order_id"], order.as_str());
    assert_eq!(snapshot["order"]["status"], "PENDING");
    // The order (1), then its table's tab (2).
    assert_eq!(snapshot["seq"], 2);

    app.act(&shop.owner, &order, "accept", Some(accept_body()))
        .await;
    let accepted = next_json(&mut mine, SOON).await;
    assert_eq!(accepted["type"], "STATUS_CHANGED");
    assert_eq!(accepted["status"], "ACCEPTED");
    assert!(accepted["estimated_ready_at"].is_string());
    assert_eq!(accepted["message"], "곧 준비됩니다!");
    assert_eq!(accepted["seq"], 3);
    assert_eq!(
        next_order_json(&mut board, SOON).await["status"],
        "ACCEPTED"
    );

    for (action, status) in [("ready", "READY"), ("complete", "COMPLETED")] {
        app.act(&shop.owner, &order, action, None).await;
        let message = next_json(&mut mine, SOON).await;
        assert_eq!(message["type"], "STATUS_CHANGED");
        assert_eq!(message["status"], status);
        assert_eq!(next_order_json(&mut board, SOON).await["status"], status);
    }

    // A rejection carries its reason; the customer's socket only hears about its own order.
    let other = app.place(&customer, shop.simple_order()).await;
    assert_eq!(next_order_json(&mut board, SOON).await["type"], "NEW_ORDER");
    app.act(
        &shop.owner,
        &other,
        "reject",
        Some(json!({"reason": "재료 소진"})),
    )
    .await;
    let rejected = next_order_json(&mut board, SOON).await;
    assert_eq!(rejected["status"], "REJECTED");
    assert_eq!(rejected["reason"], "재료 소진");
    assert!(matches!(
        next_seen(&mut mine, Duration::from_millis(300)).await,
        Seen::Nothing
    ));
}

#[tokio::test]
async fn strangers_are_refused_before_anything_is_sent() {
    let app = TestApp::spawn().await;
    let shop = app.shop("refuse@example.com", "POSTPAY").await;
    let other_shop = app.shop("refuse-other@example.com", "POSTPAY").await;
    let alice = app.customer("refuse-alice@example.com").await;
    let bob = app.customer("refuse-bob@example.com").await;
    let order = app.place(&alice, shop.simple_order()).await;
    let missing = uuid::Uuid::now_v7();

    let refused = [
        format!("/ws/orders/{order}?token=not-a-token"),
        format!("/ws/orders/{order}?token={bob}"),
        format!("/ws/orders/{order}?token={}", other_shop.owner),
        format!("/ws/orders/{missing}?token={alice}"),
        "/ws/restaurants/me/orders?token=garbage".to_owned(),
        format!("/ws/restaurants/me/orders?token={alice}"),
        format!("/ws/restaurants/{missing}/menu"),
    ];
    for path in refused {
        let mut socket = app.ws(&path).await;
        match next_seen(&mut socket, SOON).await {
            Seen::Closed(Some(code)) => assert_eq!(code, 1008, "{path}"),
            other => panic!("{path}: expected a 1008 close first, got {other:?}"),
        }
    }

    // No token at all: the server waits 5 s for one as the first message, then refuses.
    let mut silent = app.ws(&format!("/ws/orders/{order}")).await;
    match next_seen(&mut silent, Duration::from_secs(7)).await {
        Seen::Closed(Some(code)) => assert_eq!(code, 1008),
        other => panic!("expected a 1008 close, got {other:?}"),
    }

    // The token as the first message works, even a message longer than the server's read
    // buffer (it is read in pieces).
    let mut socket = app.ws(&format!("/ws/orders/{order}")).await;
    let auth = format!(
        "{}{}",
        " ".repeat(3000),
        json!({"type": "AUTH", "token": alice})
    );
    socket.send(Message::Text(auth.into())).await.unwrap();
    assert_eq!(next_json(&mut socket, SOON).await["type"], "SNAPSHOT");
    // A client message over 8 KiB ends the connection (refused by its frame's header).
    socket
        .send(Message::Text("x".repeat(9 * 1024).into()))
        .await
        .unwrap();
    assert!(matches!(
        next_seen(&mut socket, SOON).await,
        Seen::Closed(_)
    ));
    // The restaurant's owner may watch the order too.
    let mut owner = app
        .ws(&format!("/ws/orders/{order}?token={}", shop.owner))
        .await;
    assert_eq!(
        next_json(&mut owner, SOON).await["order"]["order_id"],
        order.as_str()
    );

    let bad_since = app
        .client
        .get(app.url(&format!("/ws/orders/{order}?token={alice}&since=-1")))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_since.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_reconnect_with_since_gets_exactly_what_it_missed_then_live_events() {
    let app = TestApp::spawn().await;
    let shop = app.shop("resume@example.com", "POSTPAY").await;
    let customer = app.customer("resume-customer@example.com").await;
    let order = app.place(&customer, shop.simple_order()).await;
    let noise = app.place(&customer, shop.simple_order()).await;

    let feed = format!("/ws/restaurants/me/orders?token={}", shop.owner);
    let mut board = app.ws(&feed).await;
    let snapshot = next_json(&mut board, SOON).await;
    let seen = snapshot["seq"].as_i64().unwrap();
    // Each order's event is followed by its table's (both are at table 3).
    assert_eq!(seen, 4);
    assert_eq!(snapshot["orders"].as_array().unwrap().len(), 2);
    let mut mine = app
        .ws(&format!("/ws/orders/{order}?token={customer}"))
        .await;
    assert_eq!(next_json(&mut mine, SOON).await["seq"], 4);
    drop(board);
    drop(mine);

    // Offline: three changes to our order and one to another.
    app.act(&shop.owner, &order, "accept", Some(accept_body()))
        .await;
    app.act(&shop.owner, &noise, "reject", Some(json!({"reason": "x"})))
        .await;
    app.act(&shop.owner, &order, "ready", None).await;
    app.act(&shop.owner, &order, "complete", None).await;

    let mut board = app.ws(&format!("{feed}&since={seen}")).await;
    let mut replayed = Vec::new();
    for _ in 0..8 {
        let event = next_json(&mut board, SOON).await;
        let what = match event["type"].as_str().unwrap() {
            "TABLE_UPDATED" => format!("table {}", event["table_number"].as_str().unwrap()),
            _ => event["status"].as_str().unwrap().to_owned(),
        };
        replayed.push((event["seq"].as_i64().unwrap(), what));
    }
    assert_eq!(
        replayed,
        [
            (5, "ACCEPTED"),
            (6, "table 3"),
            (7, "REJECTED"),
            (8, "table 3"),
            (9, "READY"),
            (10, "table 3"),
            (11, "COMPLETED"),
            (12, "table 3"),
        ]
        .map(|(s, t)| (s, t.to_owned()))
    );
    let mut mine = app
        .ws(&format!("/ws/orders/{order}?token={customer}&since={seen}"))
        .await;
    let mut order_events = Vec::new();
    for _ in 0..3 {
        let event = next_json(&mut mine, SOON).await;
        assert_eq!(event["order_id"], order.as_str());
        order_events.push(event["seq"].as_i64().unwrap());
    }
    assert_eq!(order_events, [5, 9, 11]);
    assert!(matches!(
        next_seen(&mut mine, Duration::from_millis(300)).await,
        Seen::Nothing
    ));

    // Then live, with no duplicate at the seam.
    let later = app.place(&customer, shop.simple_order()).await;
    let live = next_json(&mut board, SOON).await;
    assert_eq!(live["type"], "NEW_ORDER");
    assert_eq!(live["order_id"], later.as_str());
    assert_eq!(live["seq"], 13);
    assert_eq!(next_json(&mut board, SOON).await["seq"], 14);
    assert!(matches!(
        next_seen(&mut board, Duration::from_millis(300)).await,
        Seen::Nothing
    ));

    // A `since` from the future is not trusted: the client gets a snapshot instead.
    let mut confused = app.ws(&format!("{feed}&since=999")).await;
    let first = next_json(&mut confused, SOON).await;
    assert_eq!(first["type"], "SNAPSHOT");
    assert_eq!(first["seq"], 14);
}

#[tokio::test]
async fn a_stalled_client_does_not_hold_up_others_and_is_resynced() {
    // Bursts of 20 concurrent orders commit together; the buffer must hold one burst.
    let app = TestApp::spawn_with(|c| c.event_buffer = 64).await;
    let shop = app.shop("stall@example.com", "POSTPAY").await;
    let customer = app.customer("stall-customer@example.com").await;
    let url = app.ws_url(&format!("/ws/restaurants/me/orders?token={}", shop.owner));

    // The stalled client: a tiny receive window, and it stops reading after the snapshot.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket
        .connect(format!("127.0.0.1:{}", app.http_port).parse().unwrap())
        .await
        .unwrap();
    let (mut stalled, _) = tokio_tungstenite::client_async(
        url.as_str(),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    assert_eq!(next_json(&mut stalled, SOON).await["type"], "SNAPSHOT");

    let mut healthy = app
        .ws(&format!("/ws/restaurants/me/orders?token={}", shop.owner))
        .await;
    assert_eq!(next_json(&mut healthy, SOON).await["type"], "SNAPSHOT");

    // Enough traffic to fill the stalled client's socket buffers (loopback's large segments let
    // the kernel buffer a megabyte or more) and then the bus buffer: big orders, ~12 KB each.
    let orders = 300;
    // Every order's event, and table 3's new tab after it (after each order, or after each
    // group of orders placed together).
    let healthy_reader = tokio::spawn(async move {
        let mut seqs = Vec::new();
        let mut new_orders = 0;
        loop {
            let wait = if new_orders < orders { 10_000 } else { 500 };
            let event = match next_seen(&mut healthy, Duration::from_millis(wait)).await {
                Seen::Json(event) => event,
                Seen::Nothing if new_orders == orders => break,
                other => panic!("the healthy client stopped hearing: {other:?}"),
            };
            match event["type"].as_str().unwrap() {
                "NEW_ORDER" => new_orders += 1,
                "TABLE_UPDATED" => {}
                other => panic!("the healthy client was resynced ({other})"),
            }
            seqs.push(event["seq"].as_i64().unwrap());
        }
        seqs
    });
    let line = shop.line("후라이드", 2, &[(0, "매운맛"), (1, "치즈"), (1, "떡")]);
    let body = json!({"restaurant_id": shop.id, "items": vec![line; 50],
                      "table_number": "3", "table_sig": shop.table3_sig,
                      "special_requests": "양파 빼주세요. ".repeat(15)});
    for _ in 0..(orders / 20) {
        let batch =
            futures_util::future::join_all((0..20).map(|_| app.order(&customer, body.clone())))
                .await;
        assert!(batch.iter().all(|r| r.status == StatusCode::CREATED));
    }
    let seqs = tokio::time::timeout(Duration::from_secs(10), healthy_reader)
        .await
        .expect("the healthy client got every event promptly")
        .unwrap();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());

    // The stalled client, reading again, is brought up to date by a fresh snapshot.
    let mut resynced = None;
    while resynced.is_none() {
        match next_seen(&mut stalled, Duration::from_secs(10)).await {
            Seen::Json(message) if message["type"] == "SNAPSHOT" => resynced = Some(message),
            Seen::Json(message) => assert!(
                message["type"] == "NEW_ORDER" || message["type"] == "TABLE_UPDATED",
                "{message}"
            ),
            other => panic!("the stalled client never got a snapshot: {other:?}"),
        }
    }
    let snapshot = resynced.unwrap();
    assert_eq!(snapshot["orders"].as_array().unwrap().len(), orders);
}

#[tokio::test]
async fn shutdown_closes_live_connections_with_1001() {
    let app = TestApp::spawn().await;
    let shop = app.shop("bye@example.com", "POSTPAY").await;
    let mut board = app
        .ws(&format!("/ws/restaurants/me/orders?token={}", shop.owner))
        .await;
    assert_eq!(next_json(&mut board, SOON).await["type"], "SNAPSHOT");
    // A client that has not sent its token yet (it has 5 s) is closed too.
    let mut undecided = app.ws("/ws/restaurants/me/orders").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(app.stop());
    for socket in [&mut board, &mut undecided] {
        match next_seen(socket, Duration::from_secs(5)).await {
            Seen::Closed(Some(code)) => assert_eq!(code, 1001),
            other => panic!("expected a 1001 close, got {other:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_reconnect_while_orders_keep_coming_loses_and_repeats_nothing() {
    let app = TestApp::spawn().await;
    let shop = app.shop("seam@example.com", "POSTPAY").await;
    let customer = app.customer("seam-customer@example.com").await;
    for _ in 0..5 {
        app.place(&customer, shop.simple_order()).await;
    }
    // Each order's event and its table's.
    let total = (5 + 60) * 2;
    // Orders keep arriving while the owner's board reconnects from seq 3, so the replay from
    // the log and the live stream overlap.
    let placed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let producer = {
        let client = app.client.clone();
        let url = app.url("/api/v1/orders");
        let (token, body) = (customer.clone(), shop.simple_order());
        let placed = placed.clone();
        tokio::spawn(async move {
            for _ in 0..60 {
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
                placed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    while placed.load(std::sync::atomic::Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut board = app
        .ws(&format!(
            "/ws/restaurants/me/orders?token={}&since=3",
            shop.owner
        ))
        .await;
    assert!(
        placed.load(std::sync::atomic::Ordering::SeqCst) < 60,
        "the reconnect must happen while orders are still coming"
    );
    let mut seqs = Vec::new();
    while seqs.last() != Some(&total) {
        let event = next_json(&mut board, Duration::from_secs(10)).await;
        assert!(
            event["type"] == "NEW_ORDER" || event["type"] == "TABLE_UPDATED",
            "{event}"
        );
        seqs.push(event["seq"].as_i64().unwrap());
    }
    producer.await.unwrap();
    assert_eq!(seqs, (4..=total).collect::<Vec<_>>());
    assert!(matches!(
        next_seen(&mut board, Duration::from_millis(300)).await,
        Seen::Nothing
    ));
}

#[tokio::test]
async fn open_menu_pages_hear_about_price_and_availability_changes() {
    let app = TestApp::spawn().await;
    let shop = app.shop("menu-live@example.com", "POSTPAY").await;
    let mut page = app.ws(&format!("/ws/restaurants/{}/menu", shop.id)).await;
    let first = next_json(&mut page, SOON).await;
    assert_eq!(first["type"], "MENU_UPDATED");
    assert_eq!(first["reload"], true);

    let item = shop.item_id("양념");
    app.patch(
        &format!("/api/v1/restaurants/me/menu/items/{item}"),
        Some(&shop.owner),
        json!({"is_available": false, "price": 19900}),
    )
    .await;
    let change = next_json(&mut page, SOON).await;
    assert_eq!(change["type"], "MENU_UPDATED");
    assert_eq!(change["restaurant_id"], shop.id.as_str());
    assert_eq!(change["items"][0]["id"], item.as_str());
    assert_eq!(change["items"][0]["is_available"], false);
    assert_eq!(change["items"][0]["price"], 19900);
    // Whoever reloads on this message already gets the new menu.
    let menu = app
        .get(&format!("/api/v1/restaurants/{}/menu", shop.id), None)
        .await
        .body;
    assert_eq!(menu["categories"][0]["items"][1]["is_available"], false);

    // Another restaurant's change is not sent here.
    let other = app.shop("menu-live-other@example.com", "POSTPAY").await;
    app.patch(
        &format!(
            "/api/v1/restaurants/me/menu/items/{}",
            other.item_id("양념")
        ),
        Some(&other.owner),
        json!({"price": 1}),
    )
    .await;
    assert!(matches!(
        next_seen(&mut page, Duration::from_millis(300)).await,
        Seen::Nothing
    ));
}

#[tokio::test]
async fn connections_are_capped_per_ip_counted_and_pinged() {
    let app = TestApp::spawn_with(|c| {
        c.ws_max_per_ip = 2;
        c.ws_ping_interval_secs = 1;
    })
    .await;
    let shop = app.shop("cap@example.com", "POSTPAY").await;
    let path = format!("/ws/restaurants/me/orders?token={}", shop.owner);
    let mut first = app.ws(&path).await;
    let mut second = app.ws(&path).await;
    next_json(&mut first, SOON).await;
    next_json(&mut second, SOON).await;
    match tokio_tungstenite::connect_async(app.ws_url(&path)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        other => panic!(
            "a third connection was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    let metrics = app.metrics_text().await;
    assert!(
        metrics.lines().any(|l| l == "ws_connections 2"),
        "{metrics}"
    );

    // `second` keeps reading (and so answers pings); `first` goes silent and is dropped.
    let reader = tokio::spawn(async move {
        while !matches!(
            next_seen(&mut second, Duration::from_secs(4)).await,
            Seen::Nothing
        ) {}
        second
    });
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut dropped = false;
    for _ in 0..50 {
        if let Seen::Closed(_) = next_seen(&mut first, Duration::from_millis(100)).await {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "a peer that never answered pings was kept");
    let mut second = reader.await.unwrap();
    second
        .send(Message::Text("still here".into()))
        .await
        .unwrap();
    assert!(matches!(
        next_seen(&mut second, Duration::from_millis(200)).await,
        Seen::Nothing
    ));
}
