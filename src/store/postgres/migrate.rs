//! Versioned schema migrations for PostgreSQL, tracked in `schema_migrations`. Steps are
//! applied under an advisory lock, so instances starting together (or
//! `ordersync migrate` beside a running server) apply each step once. Append new steps; never
//! edit a released one.

use anyhow::{Context, bail};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_schema.sql"),
    include_str!("migrations/0002_table_service.sql"),
    include_str!("migrations/0003_printing.sql"),
    include_str!("migrations/0004_menu_labels.sql"),
    include_str!("migrations/0005_staff.sql"),
    include_str!("migrations/0006_shop_resilience.sql"),
    include_str!("migrations/0007_tab_figures.sql"),
];

pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Any constant shared by every instance: the key of the migration lock.
const MIGRATION_LOCK: i64 = 0x4f72_6465_7253_796e; // "OrderSyn"

pub async fn migrate(client: &mut deadpool_postgres::Client) -> anyhow::Result<()> {
    // Session-wide for the bookkeeping table too: two instances creating it at once would
    // collide in PostgreSQL's catalog even with IF NOT EXISTS.
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    result
}

async fn apply(client: &mut deadpool_postgres::Client) -> anyhow::Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 applied_at BIGINT NOT NULL
             )",
        )
        .await
        .context("creating schema_migrations")?;
    loop {
        let tx = client.transaction().await?;
        let current: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .try_get(0)?;
        let current = usize::try_from(current).context("negative schema version")?;
        if current > SCHEMA_VERSION {
            bail!(
                "the database is at schema version {current}, newer than this binary knows \
                 ({SCHEMA_VERSION}); run a newer ordersync"
            );
        }
        if current == SCHEMA_VERSION {
            tx.commit().await?;
            return Ok(());
        }
        let version = current + 1;
        tx.batch_execute(MIGRATIONS[current])
            .await
            .with_context(|| format!("applying PostgreSQL migration {version}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&(version as i32), &chrono::Utc::now().timestamp_millis()],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "applied PostgreSQL schema migration");
    }
}
