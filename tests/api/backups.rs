//! Backups: taken while orders keep coming, restored (only with the server stopped) into a box
//! that has every order acknowledged before the backup began, and the secrets that make its
//! printed QR codes valid. PostgreSQL boxes are pointed at pg_dump.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;
use crate::process::ordersync_at;

fn run(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn a_backup_under_load_restores_every_order_acknowledged_before_it_and_the_secrets() {
    let app = TestApp::spawn().await;
    let data = app.data_dir.to_str().unwrap().to_owned();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("shop.backup");
    if app.is_postgres() {
        let (ok, text) = run(ordersync_at(&app.data_dir).args([
            "backup",
            "--data-dir",
            &data,
            "--out",
            out.to_str().unwrap(),
        ]));
        assert!(!ok && text.contains("pg_dump"), "{text}");
        return;
    }
    let shop = app.shop("backup@example.com", "POSTPAY").await;
    let guest = app.guest(&shop.id, "5").await;
    let body = json!({"restaurant_id": shop.id, "items": [shop.line("콜라", 1, &[])]});

    // Orders keep coming while the backup is taken.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let writer = {
        let (client, url, guest, body, acknowledged) = (
            app.client.clone(),
            app.url("/api/v1/orders"),
            guest.clone(),
            body.clone(),
            acknowledged.clone(),
        );
        tokio::spawn(async move {
            loop {
                let res = client
                    .post(&url)
                    .bearer_auth(&guest)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
                let created: serde_json::Value = res.json().await.unwrap();
                acknowledged
                    .lock()
                    .unwrap()
                    .push(created["order_id"].as_str().unwrap().to_owned());
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let (ok, text) = {
        let mut cmd = ordersync_at(&app.data_dir);
        cmd.args([
            "backup",
            "--data-dir",
            &data,
            "--out",
            out.to_str().unwrap(),
        ]);
        tokio::task::spawn_blocking(move || run(&mut cmd))
            .await
            .unwrap()
    };
    assert!(ok, "{text}");
    assert!(text.contains("backup written"), "{text}");
    let during = acknowledged.lock().unwrap().len();
    writer.abort();
    assert!(
        during > before.len(),
        "orders kept coming during the backup"
    );

    // A second backup to the same file is refused rather than overwriting it.
    let (ok, text) = run(ordersync_at(&app.data_dir).args([
        "backup",
        "--data-dir",
        &data,
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(!ok && text.contains("already exists"), "{text}");

    // Not while a server runs on the data directory.
    let (ok, text) = run(ordersync_at(&app.data_dir).args([
        "restore",
        "--data-dir",
        &data,
        out.to_str().unwrap(),
    ]));
    assert!(!ok && text.contains("stop the server"), "{text}");

    // Onto a new box: the database and its secrets.
    let original_secret = std::fs::read(app.data_dir.join("table.secret")).unwrap();
    app.stop().await;
    let fresh = tempfile::tempdir().unwrap();
    let fresh_data = fresh.path().to_str().unwrap().to_owned();
    let (ok, text) = run(ordersync_at(fresh.path()).args([
        "restore",
        "--data-dir",
        &fresh_data,
        out.to_str().unwrap(),
    ]));
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::read(fresh.path().join("table.secret")).unwrap(),
        original_secret
    );
    let conn = rusqlite::Connection::open(fresh.path().join("ordersync.db")).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let leftovers: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'backup_files'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leftovers, 0);
    drop(conn);

    let restored = TestApp::spawn_in(fresh.path(), |_| {}).await;
    let login = restored.login("backup@example.com", "owner-password").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let owner = login.body["access_token"].as_str().unwrap().to_owned();
    for id in &before {
        let res = restored
            .get(&format!("/api/v1/orders/{id}"), Some(&owner))
            .await;
        assert_eq!(
            res.status,
            StatusCode::OK,
            "order {id} was acknowledged before the backup"
        );
    }
    // The printed QR codes still open the table.
    restored.guest(&shop.id, "5").await;
    restored.stop().await;
}

#[test]
fn a_backup_is_taken_once_a_night_after_four() {
    use chrono::TimeZone;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ordersync.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(include_str!("../../schema.sql"))
        .unwrap();
    drop(conn);
    let at = |h: u32| {
        chrono::Local
            .with_ymd_and_hms(2026, 12, 2, h, 30, 0)
            .unwrap()
    };
    assert!(
        ordersync::backup::nightly(&db, dir.path(), at(3))
            .unwrap()
            .is_none()
    );
    let first = ordersync::backup::nightly(&db, dir.path(), at(4))
        .unwrap()
        .unwrap();
    assert!(first.path.starts_with(dir.path().join("backups")));
    ordersync::backup::verify(&first.path).unwrap();
    assert!(
        ordersync::backup::nightly(&db, dir.path(), at(23))
            .unwrap()
            .is_none()
    );
    assert_eq!(
        ordersync::backup::list(&dir.path().join("backups")).len(),
        1
    );
}
