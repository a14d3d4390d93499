//! The backend the suite runs on, chosen by the environment: SQLite in each test's temporary
//! directory by default; PostgreSQL when `ORDERSYNC_TEST_DATABASE_URL` is set (each test gets a
//! schema of its own) and Redis when `ORDERSYNC_TEST_REDIS_URL` is set (each test gets a key
//! prefix of its own). Asking for PostgreSQL from a build without the `postgres` feature fails
//! the run instead of silently testing SQLite.

use std::path::Path;

pub fn postgres_base() -> Option<String> {
    let url = std::env::var("ORDERSYNC_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())?;
    #[cfg(not(feature = "postgres"))]
    panic!(
        "ORDERSYNC_TEST_DATABASE_URL is set ({url}), but the tests were built without \
         `--features postgres`: they would run on SQLite instead"
    );
    #[cfg(feature = "postgres")]
    Some(url)
}

pub fn redis_base() -> Option<String> {
    let url = std::env::var("ORDERSYNC_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())?;
    #[cfg(not(feature = "postgres"))]
    panic!(
        "ORDERSYNC_TEST_REDIS_URL is set ({url}), but the tests were built without `--features \
         postgres`"
    );
    #[cfg(feature = "postgres")]
    Some(url)
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The `DATABASE_URL` of a test whose files live in `data_dir`: a SQLite file there, or a
/// PostgreSQL schema of its own (named in `data_dir/test-schema`, so a restart finds it again).
pub fn database_url(data_dir: &Path) -> String {
    let Some(base) = postgres_base() else {
        return data_dir.join("ordersync.db").to_string_lossy().into_owned();
    };
    let marker = data_dir.join("test-schema");
    let schema = match std::fs::read_to_string(&marker) {
        Ok(schema) => schema.trim().to_owned(),
        Err(_) => {
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            execute(&base, &format!("CREATE SCHEMA {schema}"));
            std::fs::write(&marker, &schema).unwrap();
            schema
        }
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{schema}")
}

/// Redis for a test server: the URL and a key prefix of its own.
pub fn redis() -> Option<(String, String)> {
    redis_base().map(|url| (url, format!("t{}", uuid::Uuid::new_v4().simple())))
}

/// One number from the test's database (`sql` is portable SQL returning one row and column).
pub fn count(url: &str, sql: &str) -> i64 {
    if is_postgres(url) {
        return postgres::count(url, sql);
    }
    let conn = rusqlite::Connection::open(url).unwrap();
    conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
        .unwrap()
        .unwrap_or(0)
}

/// Runs a statement on the test's database (to stage a state no API call can make).
pub fn execute(url: &str, sql: &str) {
    if is_postgres(url) {
        return postgres::execute(url, sql);
    }
    let conn = rusqlite::Connection::open(url).unwrap();
    conn.execute_batch(&format!("PRAGMA foreign_keys = ON; {sql}"))
        .unwrap();
}

/// A secret the server under test generated for itself (`table`: the QR signing key; `jwt`:
/// the token key): in its data dir, or in the database its instances share.
pub fn generated_secret(url: &str, data_dir: &Path, name: &str) -> Vec<u8> {
    use base64::Engine;
    let encoded = if is_postgres(url) {
        postgres::text(
            url,
            &format!("SELECT value FROM secrets WHERE name = '{name}'"),
        )
    } else {
        std::fs::read_to_string(data_dir.join(format!("{name}.secret"))).unwrap()
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .unwrap()
}

#[cfg(feature = "postgres")]
mod postgres {
    /// Runs `work` on its own thread and runtime: the tests' helpers are synchronous.
    fn with_client<T: Send + 'static>(
        url: &str,
        work: impl FnOnce(tokio_postgres::Client) -> std::pin::Pin<Box<dyn Future<Output = T> + Send>>
        + Send
        + 'static,
    ) -> T {
        let url = url.to_owned();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("connecting to the test database");
                tokio::spawn(connection);
                work(client).await
            })
        })
        .join()
        .unwrap()
    }

    pub fn count(url: &str, sql: &str) -> i64 {
        let sql = format!("SELECT coalesce(({sql})::bigint, 0)");
        with_client(url, move |client| {
            Box::pin(async move { client.query_one(&sql, &[]).await.unwrap().get(0) })
        })
    }

    pub fn text(url: &str, sql: &str) -> String {
        let sql = sql.to_owned();
        with_client(url, move |client| {
            Box::pin(async move { client.query_one(&sql, &[]).await.unwrap().get(0) })
        })
    }

    pub fn execute(url: &str, sql: &str) {
        let sql = sql.to_owned();
        with_client(url, move |client| {
            Box::pin(async move { client.batch_execute(&sql).await.unwrap() })
        })
    }
}

#[cfg(not(feature = "postgres"))]
mod postgres {
    pub fn count(_url: &str, _sql: &str) -> i64 {
        unreachable!("PostgreSQL URLs need the `postgres` feature")
    }

    pub fn text(_url: &str, _sql: &str) -> String {
        unreachable!("PostgreSQL URLs need the `postgres` feature")
    }

    pub fn execute(_url: &str, _sql: &str) {
        unreachable!("PostgreSQL URLs need the `postgres` feature")
    }
}
