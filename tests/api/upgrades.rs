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

/// Sessions whose running figures (kept by triggers) differ from a recount of their orders.
fn sessions_off_their_recount(url: &str) -> i64 {
    crate::backend::count(
        url,
        "SELECT count(*) FROM table_sessions s WHERE
             orders_count <> (SELECT count(*) FROM orders o WHERE o.table_session_id = s.id)
          OR orders_waiting <> (SELECT count(*) FROM orders o WHERE o.table_session_id = s.id
                                   AND o.status IN ('PENDING', 'ACCEPTED'))
          OR orders_billed <> (SELECT coalesce(sum(total_amount), 0) FROM orders o
                               WHERE o.table_session_id = s.id
                                 AND o.status NOT IN ('REJECTED', 'CANCELLED')
                                 AND (o.payment_mode = 'POSTPAY' OR o.payment_status = 'PAID'))
          OR orders_paid <> (SELECT coalesce(sum(total_amount), 0) FROM orders o
                             WHERE o.table_session_id = s.id
                               AND o.status NOT IN ('REJECTED', 'CANCELLED')
                               AND o.payment_status = 'PAID')",
    )
}

/// A party's figures went from a recount per event to running totals kept by triggers (SQLite
/// migration 9, PostgreSQL 7). Parties open when the box is upgraded keep their figures, and
/// the triggers follow every kind of change: new orders, rejections, accepts, a move and a
/// merge.
#[tokio::test]
async fn parties_keep_their_figures_across_the_running_totals_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(dir.path(), |_| {}).await;
    let url = app.database_url.clone();
    let shop = app.shop("figures@example.com", "POSTPAY").await;
    let mut placed = Vec::new();
    for (table, item, quantity) in [("1", "콜라", 9), ("1", "콜라", 2), ("2", "양념", 1)] {
        let guest = app.guest(&shop.id, table).await;
        let body = json!({"restaurant_id": shop.id, "items": [shop.line(item, quantity, &[])]});
        placed.push(app.place(&guest, body).await);
    }
    let owner = Some(shop.owner.as_str());
    let res = app
        .act(
            &shop.owner,
            &placed[1],
            "reject",
            Some(json!({"reason": "품절"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .act(
            &shop.owner,
            &placed[0],
            "accept",
            Some(json!({"estimated_time_minutes": 15})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let moved = "/api/v1/restaurants/me/tables/2/move";
    let res = app.post(moved, owner, json!({"to": "3"})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let merge = "/api/v1/restaurants/me/tables/3/merge";
    let res = app.post(merge, owner, json!({"into": "1"})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(sessions_off_their_recount(&url), 0);
    let before = app.get("/api/v1/restaurants/me/tables", owner).await;
    assert_eq!(before.body["tables"][0]["orders_count"], 3);
    assert_eq!(before.body["tables"][0]["orders_waiting"], 2);
    assert_eq!(before.body["tables"][0]["total_amount"], 9 * 2000 + 19000);
    app.stop().await;

    // Back to the schema before the running totals, with the parties still open.
    if crate::backend::is_postgres(&url) {
        crate::backend::execute(
            &url,
            "DROP TRIGGER orders_tab_figures_insert ON orders;
             DROP TRIGGER orders_tab_figures_update ON orders;
             DROP TRIGGER orders_tab_figures_delete ON orders;
             DROP FUNCTION orders_tab_figures();
             ALTER TABLE table_sessions DROP COLUMN orders_count, DROP COLUMN orders_waiting,
                 DROP COLUMN orders_billed, DROP COLUMN orders_paid;
             DELETE FROM schema_migrations WHERE version = 7;",
        );
    } else {
        crate::backend::execute(
            &url,
            "DROP TRIGGER orders_tab_insert; DROP TRIGGER orders_tab_update;
             DROP TRIGGER orders_tab_delete;
             ALTER TABLE table_sessions DROP COLUMN orders_count;
             ALTER TABLE table_sessions DROP COLUMN orders_waiting;
             ALTER TABLE table_sessions DROP COLUMN orders_billed;
             ALTER TABLE table_sessions DROP COLUMN orders_paid;
             PRAGMA user_version = 8;",
        );
    }
    let app = TestApp::spawn_in(dir.path(), |_| {}).await;
    assert_eq!(sessions_off_their_recount(&url), 0);
    // The owner's session outlives the restart (its key is the box's, not the process's).
    let after = app
        .get("/api/v1/restaurants/me/tables", Some(&shop.owner))
        .await;
    assert_eq!(after.body["tables"], before.body["tables"]);
    app.stop().await;
}
