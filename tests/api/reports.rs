//! Sales reports: sums against the orders and payments the test made, across a business-day
//! boundary in Asia/Seoul; CSV for spreadsheets; bad ranges refused.

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_validation};

fn row<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {report}"))
}

#[tokio::test]
async fn sales_add_up_per_day_hour_item_category_and_method_across_a_seoul_midnight() {
    let mut clock = None;
    let app = TestApp::spawn_with(|c| clock = Some(c.clock.clone())).await;
    let clock = clock.unwrap();
    // 23:50 in Seoul on 14 March (14:50 UTC).
    let evening = Utc.with_ymd_and_hms(2031, 3, 14, 14, 50, 0).unwrap();
    clock.advance(evening - clock.now());
    let shop = app.shop("sales@example.com", "POSTPAY").await;
    let owner = shop.owner.clone();
    let guest = app.guest(&shop.id, "3").await;

    // Day 1 (2031-03-14): two fried chickens (one hot: 18,500 + 18,000) and a cola; a
    // rejected order that is no sale; the table pays 38,500 in cash.
    let first = app
        .place(
            &guest,
            json!({"restaurant_id": shop.id, "items": [
                shop.line("후라이드", 1, &[(0, "매운맛")]),
                shop.line("후라이드", 1, &[(0, "순한맛")]),
                shop.line("콜라", 1, &[])]}),
        )
        .await;
    let rejected = app
        .place(
            &guest,
            json!({"restaurant_id": shop.id, "items": [shop.line("양념", 3, &[])]}),
        )
        .await;
    app.act(
        &owner,
        &rejected,
        "reject",
        Some(json!({"reason": "재료 소진"})),
    )
    .await;
    app.act(
        &owner,
        &first,
        "accept",
        Some(json!({"estimated_time_minutes": 10})),
    )
    .await;
    let settle = |amount: i64, method: &str| {
        app.post(
            "/api/v1/restaurants/me/tables/3/settle",
            Some(&owner),
            json!({"method": method, "amount": amount}),
        )
    };
    assert_eq!(settle(38_500, "CASH").await.status, StatusCode::OK);

    // 00:05 in Seoul: day 2. Two colas, paid by card.
    clock.advance(chrono::Duration::minutes(15));
    let second = app
        .place(
            &guest,
            json!({"restaurant_id": shop.id, "items": [shop.line("콜라", 2, &[])]}),
        )
        .await;
    app.act(
        &owner,
        &second,
        "accept",
        Some(json!({"estimated_time_minutes": 5})),
    )
    .await;
    assert_eq!(settle(4_000, "CARD").await.status, StatusCode::OK);

    let path = "/api/v1/restaurants/me/reports/sales?from=2031-03-14&to=2031-03-15";
    let by_day = app.get(path, Some(&owner)).await;
    assert_eq!(by_day.status, StatusCode::OK, "{}", by_day.body);
    assert_eq!(by_day.body["time_zone"], "Asia/Seoul");
    let totals = &by_day.body["totals"];
    assert_eq!(totals["orders"], 2);
    assert_eq!(totals["items"], 5);
    assert_eq!(totals["gross_sales"], 42_500);
    assert_eq!(totals["counter"], 42_500);
    assert_eq!(totals["online"], 0);
    assert_eq!(totals["net"], 42_500);
    let day1 = row(&by_day.body, "2031-03-14");
    assert_eq!(day1["orders"], 1);
    assert_eq!(day1["gross_sales"], 38_500);
    assert_eq!(day1["counter"], 38_500);
    let day2 = row(&by_day.body, "2031-03-15");
    assert_eq!(day2["orders"], 1);
    assert_eq!(day2["items"], 2);
    assert_eq!(day2["net"], 4_000);

    let by_hour = app.get(&format!("{path}&group=hour"), Some(&owner)).await;
    assert_eq!(row(&by_hour.body, "23")["gross_sales"], 38_500);
    assert_eq!(row(&by_hour.body, "00")["gross_sales"], 4_000);

    let by_item = app.get(&format!("{path}&group=item"), Some(&owner)).await;
    let fried = row(&by_item.body, &shop.item_id("후라이드"));
    assert_eq!(fried["label"], "후라이드");
    assert_eq!(fried["items"], 2);
    assert_eq!(fried["gross_sales"], 36_500);
    assert_eq!(fried["orders"], 1);
    let cola = row(&by_item.body, &shop.item_id("콜라"));
    assert_eq!(cola["items"], 3);
    assert_eq!(cola["gross_sales"], 6_000);
    assert_eq!(cola["orders"], 2);
    assert_eq!(
        by_item.body["rows"][0]["label"], "후라이드",
        "best sellers first"
    );

    let by_category = app
        .get(&format!("{path}&group=category"), Some(&owner))
        .await;
    let chicken = by_category.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "치킨")
        .unwrap();
    assert_eq!(chicken["gross_sales"], 36_500);
    let by_method = app
        .get(&format!("{path}&group=payment_method"), Some(&owner))
        .await;
    assert_eq!(row(&by_method.body, "CASH")["counter"], 38_500);
    assert_eq!(row(&by_method.body, "CARD")["counter"], 4_000);

    // One day only.
    let one = app
        .get(
            "/api/v1/restaurants/me/reports/sales?from=2031-03-15&to=2031-03-15",
            Some(&owner),
        )
        .await;
    assert_eq!(one.body["totals"]["gross_sales"], 4_000);

    // A spreadsheet: BOM, the columns, a row per day and the total.
    let csv = app
        .client
        .get(app.url("/api/v1/restaurants/me/reports/sales.csv?from=2031-03-14&to=2031-03-15"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    assert!(text.starts_with('\u{feff}'));
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "key,label,orders,items,gross_sales,online,counter,refunds,net,test"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].starts_with("\"2031-03-14\""));
    assert_eq!(lines[3], "\"TOTAL\",\"합계\",2,5,42500,0,42500,0,42500,0");
    let accept = app
        .client
        .get(app.url(path))
        .bearer_auth(&owner)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(accept.text().await.unwrap().starts_with('\u{feff}'));
}

#[tokio::test]
async fn bad_report_queries_are_refused() {
    let app = TestApp::spawn().await;
    let shop = app.shop("bad-sales@example.com", "POSTPAY").await;
    let base = "/api/v1/restaurants/me/reports/sales";
    for (query, field) in [
        ("?from=2031-13-01", "from"),
        ("?to=yesterday", "to"),
        ("?from=2031-03-15&to=2031-03-14", "from"),
        ("?from=2020-01-01&to=2031-01-01", "to"),
        ("?group=week", "group"),
    ] {
        let res = app.get(&format!("{base}{query}"), Some(&shop.owner)).await;
        assert_validation(&res, field);
    }
    let today = app.get(base, Some(&shop.owner)).await;
    assert_eq!(today.status, StatusCode::OK);
    assert_eq!(today.body["totals"]["orders"], 0);
    assert_eq!(today.body["from"], today.body["to"]);
    let guest = app.guest(&shop.id, "1").await;
    assert_error(
        &app.get(base, Some(&guest)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
}
