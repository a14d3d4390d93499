//! The SQLite store: a pool of read connections and one writer thread (see `writer`).
//! Every connection gets the same pragmas; writes use `synchronous=FULL` because orders and
//! payments must survive a power cut.

mod menus;
mod migrate;
mod orders;
mod payments;
mod printing;
mod reports;
mod restaurants;
mod tab_payments;
mod tables;
mod users;
mod writer;

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, OpenFlags, params};

use crate::blocking;
use crate::domain::ids::{
    GuestId, MenuItemId, OrderId, PaymentId, PrintJobId, PrinterId, RestaurantId, SessionId,
    TabPaymentId, UserId,
};
use crate::domain::menu::{Category, KnownIds, MenuItem};
use crate::domain::order::{Customer, Order, OrderStatus};
use crate::domain::payment::Payment;
use crate::domain::printer::Printer;
use crate::domain::report::{OrderFact, SettlementFact};
use crate::domain::restaurant::{Restaurant, RestaurantChanges};
use crate::domain::user::{Email, User};
use crate::events::{EventBus, OrderEvent};
use crate::store::{
    CallOutcome, DaySummary, IdempotencyKey, LoggedEvent, MenuItemChanges, NewCall, NewGuest,
    NewOrder, NewRestaurant, NewTabPayment, NewUser, OrderCursor, OrderPage, PlaceOutcome,
    PrintJob, PrinterChanges, RefreshOutcome, RefreshTokenRecord, RefundOwed, Reservation,
    Revocation, SettleOutcome, Settlement, Store, StoreError, StoreResult, TabPayment,
    TabSettleOutcome, TabSettlement, TableAction, TableOutcome, TableSummary, TableTab,
    TransitionOutcome, TransitionRequest, UserCredentials,
};

pub use migrate::SCHEMA_VERSION;
use writer::{Tx, Writer};

const BUSY_TIMEOUT_MS: u32 = 5_000;
/// Prepared statements kept per connection. rusqlite keeps 16 by default; placing an order
/// alone runs more distinct statements than that, so the writer kept preparing them again.
const STATEMENT_CACHE: usize = 256;

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // busy_timeout first: the pragmas below may themselves need the lock.
    conn.busy_timeout(Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         -- The writer walks the indexes of every order it files; with SQLite's default 2 MB
         -- page cache the day's pages were read back from the OS over and over. (No mmap: on
         -- a failing disk or SD card it turns a read error into a crash.)
         PRAGMA cache_size = -32768;",
    )
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match &err {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(failure, message) => match failure.code {
                ErrorCode::ConstraintViolation
                    if matches!(
                        failure.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
                {
                    StoreError::Conflict(message.clone().unwrap_or_else(|| "unique".into()))
                }
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen => {
                    StoreError::Unavailable(err.to_string())
                }
                ErrorCode::DiskFull => StoreError::OutOfSpace(err.to_string()),
                _ => StoreError::Other(err.into()),
            },
            _ => StoreError::Other(err.into()),
        }
    }
}

/// Orders, guests and token hashes are nobody else's business: the database is created 0600,
/// and SQLite gives its WAL and shared-memory files the database file's mode.
fn restrict_to_owner(path: &Path) -> anyhow::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut files = vec![path.to_owned()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for file in files.iter().filter(|f| f.exists()) {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", file.display()))?;
    }
    Ok(())
}

impl From<r2d2::Error> for StoreError {
    fn from(err: r2d2::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

pub struct SqliteStore {
    reads: r2d2::Pool<SqliteConnectionManager>,
    writer: Writer,
    /// A write failed for want of space; cleared by the next write that succeeds.
    out_of_space: AtomicBool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrates it and starts the writer.
    /// Committed events are published on `bus`.
    pub async fn open(path: &Path, bus: Arc<dyn EventBus>) -> anyhow::Result<SqliteStore> {
        let path = path.to_owned();
        blocking::run(move || Self::open_blocking(&path, bus)).await
    }

    fn open_blocking(path: &Path, bus: Arc<dyn EventBus>) -> anyhow::Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating database directory {}", dir.display()))?;
        }
        restrict_to_owner(path)?;
        let mut conn = Connection::open(path)
            .with_context(|| format!("opening SQLite database {}", path.display()))?;
        configure(&conn)?;
        migrate::migrate(&mut conn)?;

        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                c.busy_timeout(Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))?;
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")
            });
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get() * 2) as u32;
        let reads = r2d2::Pool::builder()
            .max_size(readers.max(2))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .build(manager)
            .context("opening read connections")?;
        let writer = Writer::start(conn, bus).context("starting the database writer thread")?;
        Ok(SqliteStore {
            reads,
            writer,
            out_of_space: AtomicBool::new(false),
        })
    }

    /// Runs a read on a pooled connection, off the async workers.
    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.reads.clone();
        blocking::run(move || {
            let conn = pool.get()?;
            work(&conn)
        })
        .await
    }

    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        let result = self.writer.write(work).await;
        match &result {
            Err(StoreError::OutOfSpace(_)) => self.out_of_space.store(true, Ordering::Release),
            Ok(_) => self.out_of_space.store(false, Ordering::Release),
            Err(_) => {}
        }
        result
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn shared_secret(
        &self,
        _name: &str,
        _candidate: Vec<u8>,
    ) -> StoreResult<Option<Vec<u8>>> {
        Ok(None)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await?;
        // Through the writer too: without it no order can be placed, however well reads go.
        if !self.out_of_space.load(Ordering::Acquire) {
            return self.write(|_| Ok(())).await;
        }
        // After a full disk, an empty transaction proves nothing: write something.
        let now = crate::domain::to_millis(Utc::now());
        self.write(move |c| {
            c.execute(
                "INSERT INTO write_probe (id, at) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                [now],
            )?;
            Ok(())
        })
        .await
    }

    async fn insert_user(&self, user: NewUser) -> StoreResult<User> {
        self.write(move |c| users::insert_user(c, &user)).await
    }

    async fn create_owner(
        &self,
        owner: NewUser,
        restaurant: NewRestaurant,
    ) -> StoreResult<(User, RestaurantId)> {
        self.write(move |c| users::create_owner(c, &owner, &restaurant))
            .await
    }

    async fn staff(&self, restaurant: RestaurantId) -> StoreResult<Vec<User>> {
        self.read(move |c| users::staff(c, restaurant)).await
    }

    async fn remove_staff(
        &self,
        restaurant: RestaurantId,
        user: UserId,
        revoked_until: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<SessionId>>> {
        self.write(move |c| users::remove_staff(c, restaurant, user, revoked_until))
            .await
    }

    async fn reset_staff_password(
        &self,
        restaurant: RestaurantId,
        user: UserId,
        password_hash: String,
        revoked_until: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<SessionId>>> {
        self.write(move |c| {
            users::reset_staff_password(c, restaurant, user, &password_hash, revoked_until)
        })
        .await
    }

    async fn user_credentials(&self, email: &Email) -> StoreResult<Option<UserCredentials>> {
        let email = email.clone();
        self.read(move |c| users::credentials_by_email(c, &email))
            .await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.read(move |c| users::by_id(c, id)).await
    }

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> StoreResult<()> {
        self.write(move |c| users::insert_refresh_token(c, &token))
            .await
    }

    async fn rotate_refresh_token(
        &self,
        presented_id: &str,
        presented_hash: &str,
        next: RefreshTokenRecord,
        on_reuse: Revocation,
    ) -> StoreResult<RefreshOutcome> {
        let (id, hash) = (presented_id.to_owned(), presented_hash.to_owned());
        self.write(move |c| users::rotate_refresh_token(c, &id, &hash, &next, &on_reuse))
            .await
    }

    async fn revoke_session(
        &self,
        session_id: SessionId,
        revocations: Vec<Revocation>,
    ) -> StoreResult<()> {
        self.write(move |c| users::revoke_session(c, session_id, &revocations, Utc::now()))
            .await
    }

    async fn active_revocations(&self, now: DateTime<Utc>) -> StoreResult<Vec<Revocation>> {
        self.read(move |c| users::active_revocations(c, now)).await
    }

    async fn restaurant(&self, id: RestaurantId) -> StoreResult<Option<Restaurant>> {
        self.read(move |c| restaurants::by_id(c, id)).await
    }

    async fn restaurant_revisions(&self) -> StoreResult<Vec<(RestaurantId, i64)>> {
        self.read(restaurants::revisions).await
    }

    async fn update_restaurant(
        &self,
        id: RestaurantId,
        changes: RestaurantChanges,
    ) -> StoreResult<Restaurant> {
        self.write(move |c| restaurants::update(c, id, &changes))
            .await
    }

    async fn menu(&self, id: RestaurantId) -> StoreResult<Option<(Restaurant, Vec<Category>)>> {
        self.read(move |c| menus::menu(c, id)).await
    }

    async fn known_menu_ids(&self, id: RestaurantId) -> StoreResult<KnownIds> {
        self.read(move |c| menus::known_ids(c, id)).await
    }

    async fn replace_menu(&self, id: RestaurantId, categories: Vec<Category>) -> StoreResult<i64> {
        self.write(move |c| menus::replace(c, id, &categories))
            .await
    }

    async fn update_menu_item(
        &self,
        restaurant: RestaurantId,
        item: MenuItemId,
        changes: MenuItemChanges,
    ) -> StoreResult<Option<MenuItem>> {
        self.write(move |c| menus::update_item(c, restaurant, item, &changes))
            .await
    }

    async fn create_guest(&self, guest: NewGuest) -> StoreResult<()> {
        self.write(move |c| restaurants::insert_guest(c, &guest))
            .await
    }

    async fn place_order(
        &self,
        order: NewOrder,
        idempotency: Option<IdempotencyKey>,
        revision: i64,
    ) -> StoreResult<PlaceOutcome> {
        self.write(move |c| orders::place(c, &order, idempotency.as_ref(), revision))
            .await
    }

    async fn remembered_order(
        &self,
        customer: Customer,
        idempotency: IdempotencyKey,
    ) -> StoreResult<Option<PlaceOutcome>> {
        self.read(move |c| orders::remembered(c, customer, &idempotency))
            .await
    }

    async fn order(&self, id: OrderId) -> StoreResult<Option<Order>> {
        self.read(move |c| orders::by_id(c, id)).await
    }

    async fn customer_orders(
        &self,
        customer: Customer,
        after: Option<OrderCursor>,
        limit: usize,
    ) -> StoreResult<OrderPage> {
        self.read(move |c| orders::for_customer(c, customer, after, limit))
            .await
    }

    async fn restaurant_orders(
        &self,
        restaurant: RestaurantId,
        statuses: Vec<OrderStatus>,
        after: Option<OrderCursor>,
        limit: usize,
    ) -> StoreResult<OrderPage> {
        self.read(move |c| orders::for_restaurant(c, restaurant, &statuses, after, limit))
            .await
    }

    async fn transition_order(&self, request: TransitionRequest) -> StoreResult<TransitionOutcome> {
        self.write(move |c| orders::transition(c, &request)).await
    }

    async fn live_snapshot(
        &self,
        restaurant: RestaurantId,
        order: Option<OrderId>,
    ) -> StoreResult<(i64, Vec<Order>)> {
        self.read(move |c| orders::live_snapshot(c, restaurant, order))
            .await
    }

    async fn open_payment(
        &self,
        order: OrderId,
        amount: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Payment> {
        self.write(move |c| payments::open(c, order, amount, now))
            .await
    }

    async fn latest_payment(&self, order: OrderId) -> StoreResult<Option<Payment>> {
        self.read(move |c| payments::latest(c, order)).await
    }

    async fn attach_payment_key(
        &self,
        payment: PaymentId,
        key: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| payments::attach_key(c, payment, &key, now))
            .await
    }

    async fn settle_payment(&self, settlement: Settlement) -> StoreResult<SettleOutcome> {
        self.write(move |c| payments::settle(c, &settlement)).await
    }

    async fn fail_payment(
        &self,
        payment: PaymentId,
        code: String,
        message: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| payments::fail(c, payment, &code, &message, now))
            .await
    }

    async fn unpaid_orders(
        &self,
        placed_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<OrderId>> {
        self.read(move |c| orders::unpaid(c, placed_before, limit))
            .await
    }

    async fn stale_payments(
        &self,
        created_before: DateTime<Utc>,
        after: Option<PaymentId>,
        limit: usize,
    ) -> StoreResult<Vec<Payment>> {
        self.read(move |c| payments::stale(c, created_before, after, limit))
            .await
    }

    async fn due_refunds(&self, now: DateTime<Utc>) -> StoreResult<Vec<Payment>> {
        self.read(move |c| payments::due_refunds(c, now)).await
    }

    async fn refund_done(&self, payment: PaymentId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |c| payments::refund_done(c, payment, now))
            .await
    }

    async fn refund_failed(
        &self,
        payment: PaymentId,
        error: String,
        next_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| payments::refund_failed(c, payment, &error, next_at))
            .await
    }

    async fn webhook_delivery_seen(&self, transmission_id: String) -> StoreResult<bool> {
        self.read(move |c| payments::delivery_seen(c, &transmission_id))
            .await
    }

    async fn record_webhook_delivery(
        &self,
        transmission_id: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| payments::record_delivery(c, &transmission_id, now))
            .await
    }

    async fn day_summary(
        &self,
        restaurant: RestaurantId,
        business_day: String,
    ) -> StoreResult<DaySummary> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT
                     count(*) FILTER (WHERE status NOT IN ('REJECTED', 'CANCELLED')),
                     count(*) FILTER (WHERE status = 'COMPLETED'),
                     coalesce(sum(total_amount)
                              FILTER (WHERE payment_status = 'PAID' AND NOT test_payment), 0)
                       + (SELECT coalesce(sum(amount), 0) FROM table_settlements
                          WHERE restaurant_id = ?1 AND business_day = ?2 AND NOT simulated),
                     coalesce(sum(total_amount)
                              FILTER (WHERE payment_status = 'PAID' AND test_payment), 0)
                       + (SELECT coalesce(sum(amount), 0) FROM table_settlements
                          WHERE restaurant_id = ?1 AND business_day = ?2 AND simulated)
                 FROM orders WHERE restaurant_id = ?1 AND business_day = ?2",
            )?
            .query_row(params![restaurant.to_string(), business_day], |row| {
                Ok(DaySummary {
                    orders: row.get(0)?,
                    completed: row.get(1)?,
                    revenue: row.get(2)?,
                    test_revenue: row.get(3)?,
                })
            })?)
        })
        .await
    }

    async fn sales_facts(
        &self,
        restaurant: RestaurantId,
        from_day: String,
        to_day: String,
    ) -> StoreResult<(Vec<OrderFact>, Vec<SettlementFact>)> {
        self.read(move |c| reports::sales_facts(c, restaurant, &from_day, &to_day))
            .await
    }

    async fn refunds_owed(&self, restaurant: RestaurantId) -> StoreResult<Vec<RefundOwed>> {
        self.read(move |c| payments::refunds_owed(c, restaurant))
            .await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<()> {
        let now = crate::domain::to_millis(now);
        const DAY_MS: i64 = 24 * 3600 * 1000;
        self.write(move |c| {
            c.execute(
                "DELETE FROM idempotency_keys WHERE created_at < ?1",
                [now - DAY_MS],
            )?;
            c.execute(
                "DELETE FROM refresh_tokens WHERE expires_at < ?1",
                [now - DAY_MS],
            )?;
            c.execute("DELETE FROM revoked_tokens WHERE expires_at <= ?1", [now])?;
            c.execute("DELETE FROM leases WHERE expires_at < ?1", [now])?;
            // Toss retries a webhook for about four days.
            c.execute(
                "DELETE FROM webhook_deliveries WHERE received_at < ?1",
                [now - 7 * DAY_MS],
            )?;
            // A ticket's bytes matter while it may still print (or be asked about); a week
            // after it printed or was dropped, its order is long finished.
            c.execute(
                "DELETE FROM print_jobs WHERE status IN ('DONE', 'DROPPED') AND created_at < ?1",
                [now - 7 * DAY_MS],
            )?;
            // Every QR scan makes a guest; those who never ordered are forgotten once their
            // 4-hour token is long gone.
            c.execute(
                "DELETE FROM guests WHERE created_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.guest_id = guests.id)",
                [now - DAY_MS],
            )?;
            Ok(())
        })
        .await
    }

    async fn acquire_lease(
        &self,
        name: String,
        holder: String,
        ttl: Duration,
    ) -> StoreResult<bool> {
        // One box: its clock is the database's.
        let now = crate::domain::to_millis(Utc::now());
        let until = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        self.write(move |c| {
            let won = c
                .prepare_cached(
                    "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                         expires_at = excluded.expires_at
                     WHERE leases.holder = excluded.holder OR leases.expires_at < ?4",
                )?
                .execute(params![name, holder, until, now])?;
            Ok(won == 1)
        })
        .await
    }

    async fn release_lease(&self, name: String, holder: String) -> StoreResult<()> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")?
                .execute(params![name, holder])?;
            Ok(())
        })
        .await
    }

    async fn table_tab(
        &self,
        restaurant: RestaurantId,
        table: String,
        guest: Option<GuestId>,
    ) -> StoreResult<Option<TableTab>> {
        self.read(move |c| tables::tab_for(c, restaurant, &table, guest))
            .await
    }

    async fn open_tables(&self, restaurant: RestaurantId) -> StoreResult<Vec<TableSummary>> {
        self.read(move |c| tables::open_tables(c, restaurant)).await
    }

    async fn call_staff(&self, call: NewCall) -> StoreResult<CallOutcome> {
        self.write(move |c| tables::call_staff(c, &call)).await
    }

    async fn table_action(
        &self,
        restaurant: RestaurantId,
        table: String,
        action: TableAction,
        now: DateTime<Utc>,
    ) -> StoreResult<TableOutcome> {
        self.write(move |c| tables::action(c, restaurant, &table, &action, now))
            .await
    }

    async fn open_tab_payment(&self, payment: NewTabPayment) -> StoreResult<TabPayment> {
        self.write(move |c| tab_payments::open(c, &payment)).await
    }

    async fn tab_payment(&self, id: TabPaymentId) -> StoreResult<Option<TabPayment>> {
        self.read(move |c| tab_payments::by_id(c, id)).await
    }

    async fn reserve_tab_payment(
        &self,
        id: TabPaymentId,
        payment_key: String,
        now: DateTime<Utc>,
    ) -> StoreResult<Reservation> {
        self.write(move |c| tab_payments::reserve(c, id, &payment_key, now))
            .await
    }

    async fn settle_tab_payment(&self, settlement: TabSettlement) -> StoreResult<TabSettleOutcome> {
        self.write(move |c| tab_payments::settle(c, &settlement))
            .await
    }

    async fn fail_tab_payment(
        &self,
        id: TabPaymentId,
        code: String,
        message: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| tab_payments::fail(c, id, &code, &message, now))
            .await
    }

    async fn stale_tab_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<TabPayment>> {
        self.read(move |c| tab_payments::stale(c, created_before, limit))
            .await
    }

    async fn printers(&self, restaurant: RestaurantId) -> StoreResult<Vec<Printer>> {
        self.read(move |c| printing::printers(c, restaurant)).await
    }

    async fn create_printer(&self, printer: Printer, now: DateTime<Utc>) -> StoreResult<Printer> {
        self.write(move |c| printing::create(c, &printer, now))
            .await
    }

    async fn update_printer(
        &self,
        restaurant: RestaurantId,
        id: PrinterId,
        changes: PrinterChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Printer>> {
        self.write(move |c| printing::update(c, restaurant, id, &changes, now))
            .await
    }

    async fn delete_printer(
        &self,
        restaurant: RestaurantId,
        id: PrinterId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(move |c| printing::delete(c, restaurant, id, now))
            .await
    }

    async fn queue_test_print(
        &self,
        restaurant: RestaurantId,
        id: PrinterId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PrintJob>> {
        self.write(move |c| printing::queue_test(c, restaurant, id, now))
            .await
    }

    async fn reprint_order(
        &self,
        restaurant: RestaurantId,
        order: OrderId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<PrintJob>>> {
        self.write(move |c| printing::reprint(c, restaurant, order, now))
            .await
    }

    async fn due_print_jobs(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<PrintJob>> {
        self.read(move |c| printing::due(c, now, limit)).await
    }

    async fn print_job_sending(
        &self,
        id: PrintJobId,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(move |c| printing::sending(c, id, now, retry_at))
            .await
    }

    async fn print_job_done(&self, id: PrintJobId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |c| printing::done(c, id, now)).await
    }

    async fn print_job_failed(
        &self,
        id: PrintJobId,
        error: String,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| printing::failed(c, id, &error, retry_at))
            .await
    }

    async fn waiting_print_jobs(&self, restaurant: RestaurantId) -> StoreResult<Vec<PrintJob>> {
        self.read(move |c| printing::waiting(c, restaurant)).await
    }

    async fn settle_print_job(
        &self,
        restaurant: RestaurantId,
        id: PrintJobId,
        drop: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(move |c| printing::settle(c, restaurant, id, drop, now))
            .await
    }

    async fn orders_of_day(
        &self,
        restaurant: RestaurantId,
        business_day: String,
        query: Option<String>,
    ) -> StoreResult<Vec<Order>> {
        self.read(move |c| orders::of_day(c, restaurant, &business_day, query.as_deref()))
            .await
    }

    async fn latest_event_seq(&self, restaurant: RestaurantId) -> StoreResult<i64> {
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT event_seq FROM restaurants WHERE id = ?1")?
                    .query_row([restaurant.to_string()], |row| row.get(0))?,
            )
        })
        .await
    }

    async fn switch_counter_payment(
        &self,
        restaurant: RestaurantId,
        on: bool,
        by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> StoreResult<(Restaurant, Option<OrderEvent>)> {
        self.write(move |c| restaurants::switch_counter_payment(c, restaurant, on, by, now))
            .await
    }

    async fn record_printed_base_url(
        &self,
        restaurant: RestaurantId,
        base_url: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| restaurants::record_printed_base_url(c, restaurant, &base_url, now))
            .await
    }

    async fn newest_order_at(
        &self,
        restaurant: RestaurantId,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        self.read(move |c| restaurants::newest_order_at(c, restaurant))
            .await
    }

    async fn order_log(
        &self,
        restaurant: RestaurantId,
        order: OrderId,
    ) -> StoreResult<Vec<LoggedEvent>> {
        self.read(move |c| orders::order_log(c, restaurant, order))
            .await
    }

    async fn events_since(
        &self,
        restaurant: RestaurantId,
        seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<OrderEvent>> {
        self.read(move |c| orders::events_since(c, restaurant, seq, limit))
            .await
    }
}
