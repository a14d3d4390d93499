//! A database an earlier release left behind upgrades in place: the schema of the first release
//! with PostgreSQL (SQLite migrations 1–3, PostgreSQL migration 1), then today's binary, which
//! must serve table service and printing on it.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend;
use crate::helpers::TestApp;

/// The schema as the first PostgreSQL release left it, at its recorded version.
fn stage_first_release(url: &str) {
    if backend::is_postgres(url) {
        backend::execute(
            url,
            include_str!("../../src/store/postgres/migrations/0001_schema.sql"),
        );
        backend::execute(
            url,
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL);
             INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)",
        );
    } else {
        backend::execute(
            url,
            &[
                include_str!("../../schema.sql"),
                include_str!("../../src/store/sqlite/migrations/0002_shop_network.sql"),
                include_str!("../../src/store/sqlite/migrations/0003_leases.sql"),
                "PRAGMA user_version = 3;",
            ]
            .join("\n"),
        );
    }
}

#[tokio::test]
async fn a_database_of_the_first_release_upgrades_to_table_service_and_printing() {
    let dir = tempfile::tempdir().unwrap();
    let url = backend::database_url(dir.path());
    stage_first_release(&url);
    let app = TestApp::spawn_in(dir.path(), |_| {}).await;
    let shop = app.shop("upgrade@example.com", "POSTPAY").await;
    let guest = app.guest(&shop.id, "3").await;
    let order = app
        .order(
            &guest,
            json!({"restaurant_id": shop.id, "items": [shop.line("콜라", 1, &[])]}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    let tab = app.get("/api/v1/tables/me", Some(&guest)).await;
    assert_eq!(tab.status, StatusCode::OK, "{}", tab.body);
    assert_eq!(tab.body["total_amount"], 2000);
    let call = app
        .post(
            "/api/v1/tables/me/calls",
            Some(&guest),
            json!({"kind": "WATER"}),
        )
        .await;
    assert_eq!(call.status, StatusCode::CREATED, "{}", call.body);
    let printer = app
        .post(
            "/api/v1/restaurants/me/printers",
            Some(&shop.owner),
            json!({"name": "주방", "address": "127.0.0.1:9"}),
        )
        .await;
    assert_eq!(printer.status, StatusCode::CREATED, "{}", printer.body);
    app.stop().await;
}
