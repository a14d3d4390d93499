//! Versioned, idempotent schema migrations tracked in `PRAGMA user_version`.
//! Migration 1 is `schema.sql`, later ones live in `migrations/`; append new steps, never edit a
//! released one.

use anyhow::{Context, bail};
use rusqlite::{Connection, OptionalExtension};

const MIGRATIONS: &[&str] = &[
    include_str!("../../../schema.sql"),
    include_str!("migrations/0002_shop_network.sql"),
    include_str!("migrations/0003_leases.sql"),
    include_str!("migrations/0004_table_service.sql"),
    include_str!("migrations/0005_printing.sql"),
    include_str!("migrations/0006_menu_labels.sql"),
    include_str!("migrations/0007_staff.sql"),
    include_str!("migrations/0008_shop_resilience.sql"),
    include_str!("migrations/0009_tab_figures.sql"),
];

pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

pub fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    // A step that rebuilds a table others refer to (users) must not see its rows deleted and
    // re-inserted as foreign-key actions; keys are switched off around the steps (it cannot be
    // changed inside a transaction) and every step is checked before it commits.
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = apply_pending(conn);
    conn.pragma_update(None, "foreign_keys", enforced)?;
    result
}

fn apply_pending(conn: &mut Connection) -> anyhow::Result<()> {
    loop {
        // The version is read inside the write lock, so two processes migrating at once
        // (a running server and `ordersync migrate`) cannot apply the same step twice.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: usize = tx
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .context("reading schema version")?
            .try_into()
            .context("negative schema version")?;
        if current > SCHEMA_VERSION {
            bail!(
                "the database is at schema version {current}, newer than this binary knows \
                 ({SCHEMA_VERSION}); run a newer ordersync"
            );
        }
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        let version = current + 1;
        tx.execute_batch(MIGRATIONS[current])
            .with_context(|| format!("applying migration {version}"))?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = broken {
            bail!("migration {version} left rows in {table} pointing at nothing");
        }
        tx.pragma_update(None, "user_version", version as i64)?;
        tx.commit()?;
        tracing::info!(version, "applied schema migration");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(migrate(&mut conn).is_err());
    }
}
