use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn pages_and_files_are_served_with_types_etags_and_a_strict_policy() {
    let app = TestApp::spawn().await;
    let cases = [
        ("/owner", "text/html"),
        ("/owner/qr", "text/html"),
        ("/t/01a2/1", "text/html"),
        ("/order/01a2", "text/html"),
        ("/pay/01a2", "text/html"),
        ("/pay/success", "text/html"),
        ("/assets/app.css", "text/css"),
        ("/assets/common.js", "text/javascript"),
        ("/assets/customer.js", "text/javascript"),
        ("/assets/owner.js", "text/javascript"),
        ("/assets/pay.js", "text/javascript"),
        ("/assets/qr.js", "text/javascript"),
        ("/assets/icon.svg", "image/svg+xml"),
    ];
    for (path, content_type) in cases {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let headers = res.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let etag = headers["etag"].to_str().unwrap().to_owned();
        assert!(!res.bytes().await.unwrap().is_empty());
        if content_type == "text/html" {
            let csp = headers["content-security-policy"].to_str().unwrap();
            assert!(
                csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
                "{csp}"
            );
            assert_eq!(headers["referrer-policy"], "no-referrer");
        }
        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    // Only the checkout page may load Toss's SDK.
    let owner = app.client.get(app.url("/owner")).send().await.unwrap();
    assert!(
        !owner.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("tosspayments")
    );
    let pay = app.client.get(app.url("/pay/x")).send().await.unwrap();
    assert!(
        pay.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("https://*.tosspayments.com")
    );

    let missing = app.get("/assets/nope.js", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["error"]["code"], "NOT_FOUND");
    let root = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(root.headers()["location"], "/owner");
}

#[tokio::test]
async fn text_is_compressed_for_clients_that_accept_it() {
    let app = TestApp::spawn().await;
    for (encoding, expected) in [("gzip", "gzip"), ("br", "br")] {
        let res = app
            .client
            .get(app.url("/assets/customer.js"))
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["content-encoding"], expected);
        let plain = app
            .client
            .get(app.url("/assets/customer.js"))
            .send()
            .await
            .unwrap();
        let plain_len = plain.bytes().await.unwrap().len();
        let compressed_len = res.bytes().await.unwrap().len();
        assert!(
            compressed_len * 2 < plain_len,
            "{encoding}: {compressed_len} vs {plain_len}"
        );
    }
}

#[tokio::test]
async fn the_owner_gets_signed_table_codes_and_todays_totals() {
    let app = TestApp::spawn().await;
    let shop = app.shop("qr@example.com", "POSTPAY").await;
    let res = app
        .get(
            "/api/v1/restaurants/me/qr-codes?tables=1-3,테라스&base_url=https://shop.local:8443",
            Some(&shop.owner),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let tables = res.body["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 4);
    assert_eq!(tables[3]["table"], "테라스");
    for code in tables {
        assert!(code["svg"].as_str().unwrap().starts_with("<svg"));
        let url = code["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("https://shop.local:8443/t/{}/", shop.id)),
            "{url}"
        );
        // Each printed code opens a guest session for its own table.
        let table = code["table"].as_str().unwrap();
        let sig = url.split("sig=").nth(1).unwrap();
        let guest = app
            .post(
                "/api/v1/auth/guest",
                None,
                json!({"restaurant_id": shop.id, "table_number": table, "sig": sig}),
            )
            .await;
        assert_eq!(guest.status, StatusCode::CREATED, "table {table}");
    }
    for bad in ["tables=20-1", "tables=", "base_url=ftp://x"] {
        let res = app
            .get(
                &format!("/api/v1/restaurants/me/qr-codes?{bad}"),
                Some(&shop.owner),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let customer = app.customer("qr-customer@example.com").await;
    let res = app
        .get("/api/v1/restaurants/me/qr-codes", Some(&customer))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    let a = app.place(&customer, shop.simple_order()).await;
    let b = app.place(&customer, shop.simple_order()).await;
    app.place(&customer, shop.simple_order()).await;
    for action in ["accept", "ready", "complete"] {
        app.act(
            &shop.owner,
            &a,
            action,
            Some(json!({"estimated_time_minutes": 5})),
        )
        .await;
    }
    app.act(&shop.owner, &b, "reject", Some(json!({"reason": "x"})))
        .await;
    // Table 3's tab: the completed order and the pending one; the party pays half so far.
    let settled = app
        .post(
            "/api/v1/restaurants/me/tables/3/settle",
            Some(&shop.owner),
            json!({"method": "CARD", "amount": 18000}),
        )
        .await;
    assert_eq!(settled.body["remaining_amount"], 18000, "{}", settled.body);
    let summary = app
        .get("/api/v1/restaurants/me/summary", Some(&shop.owner))
        .await;
    assert_eq!(summary.status, StatusCode::OK);
    assert_eq!(summary.body["orders"], 2);
    assert_eq!(summary.body["completed"], 1);
    assert_eq!(summary.body["revenue"], 18000);
    assert!(summary.body["business_day"].is_string());
}
