//! The PostgreSQL store (feature `postgres`), for several instances behind a load balancer.
//!
//! Isolation: READ COMMITTED. No rule relies on a single writer: state-machine and payment
//! decisions are made in `domain` from what was read and written with a compare-and-set on
//! everything they read (`status`, `payment_status`), re-planned when another transaction got
//! there first. Taking a restaurant's next event sequence number locks its row until commit, so
//! a restaurant's events commit in sequence order whichever instance writes them. Order numbers
//! come from a counter row locked the same way. Serialization failures and deadlocks are
//! retried. Committed events go to the bus after the commit.

mod batch;
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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

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
use crate::domain::to_millis;
use crate::domain::user::{Email, User};
use crate::events::{EventBus, LiveEvent, OrderEvent};
use crate::store::{
    CallOutcome, DaySummary, IdempotencyKey, LoggedEvent, MenuItemChanges, NewCall, NewGuest,
    NewOrder, NewRestaurant, NewTabPayment, NewUser, OrderCursor, OrderPage, PlaceOutcome,
    PrintJob, PrinterChanges, RefreshOutcome, RefreshTokenRecord, RefundOwed, Reservation,
    Revocation, SettleOutcome, Settlement, Store, StoreError, StoreResult, TabPayment,
    TabSettleOutcome, TabSettlement, TableAction, TableOutcome, TableSummary, TableTab,
    TransitionOutcome, TransitionRequest, UserCredentials,
};

pub use migrate::SCHEMA_VERSION;

/// Transactions retried after a serialization failure or a deadlock.
const TRANSACTION_ATTEMPTS: usize = 5;

/// What goes wrong inside this store: the driver's errors (classified at the boundary) and the
/// store's own.
pub(super) enum Fail {
    Pg(tokio_postgres::Error),
    Pool(PoolError),
    Store(StoreError),
}

pub(super) type PgResult<T> = Result<T, Fail>;

impl From<tokio_postgres::Error> for Fail {
    fn from(err: tokio_postgres::Error) -> Self {
        Fail::Pg(err)
    }
}

impl From<PoolError> for Fail {
    fn from(err: PoolError) -> Self {
        Fail::Pool(err)
    }
}

impl From<StoreError> for Fail {
    fn from(err: StoreError) -> Self {
        Fail::Store(err)
    }
}

impl Fail {
    pub(super) fn other(why: impl Into<String>) -> Fail {
        Fail::Store(StoreError::Other(anyhow::anyhow!(why.into())))
    }

    /// Worth running the whole transaction again: it lost a race, nothing is wrong with it.
    fn retryable(&self) -> bool {
        let Fail::Pg(err) = self else {
            return false;
        };
        match err.code() {
            Some(code)
                if *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                true
            }
            // Two requests with one Idempotency-Key at once: the retry finds the first order.
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => err
                .as_db_error()
                .and_then(|e| e.constraint())
                .is_some_and(|c| c == "idempotency_keys_pkey"),
            _ => false,
        }
    }

    fn into_store(self) -> StoreError {
        match self {
            Fail::Store(err) => err,
            Fail::Pool(err) => StoreError::Unavailable(err.to_string()),
            Fail::Pg(err) => match err.code() {
                Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(
                    err.as_db_error()
                        .and_then(|e| e.constraint())
                        .unwrap_or("unique")
                        .to_owned(),
                ),
                Some(code) if *code == SqlState::DISK_FULL => {
                    StoreError::OutOfSpace(err.to_string())
                }
                Some(code)
                    if *code == SqlState::T_R_SERIALIZATION_FAILURE
                        || *code == SqlState::T_R_DEADLOCK_DETECTED
                        || *code == SqlState::TOO_MANY_CONNECTIONS
                        || *code == SqlState::ADMIN_SHUTDOWN
                        || *code == SqlState::CANNOT_CONNECT_NOW =>
                {
                    StoreError::Unavailable(err.to_string())
                }
                Some(_) => StoreError::Other(err.into()),
                // No SQL state: the connection itself failed.
                None => StoreError::Unavailable(err.to_string()),
            },
        }
    }
}

/// A connection or an open transaction: the SQL below runs on either, through the
/// connection's statement cache.
#[derive(Clone, Copy)]
pub(super) enum Db<'a> {
    Client(&'a deadpool_postgres::Client),
    Tx(&'a deadpool_postgres::Transaction<'a>),
}

impl Db<'_> {
    async fn statement(&self, sql: &str) -> PgResult<tokio_postgres::Statement> {
        Ok(match self {
            Db::Client(c) => c.prepare_cached(sql).await?,
            Db::Tx(t) => t.prepare_cached(sql).await?,
        })
    }

    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> PgResult<Vec<Row>> {
        let statement = self.statement(sql).await?;
        Ok(match self {
            Db::Client(c) => c.query(&statement, params).await?,
            Db::Tx(t) => t.query(&statement, params).await?,
        })
    }

    pub(super) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> PgResult<Option<Row>> {
        let statement = self.statement(sql).await?;
        Ok(match self {
            Db::Client(c) => c.query_opt(&statement, params).await?,
            Db::Tx(t) => t.query_opt(&statement, params).await?,
        })
    }

    pub(super) async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> PgResult<Row> {
        let statement = self.statement(sql).await?;
        Ok(match self {
            Db::Client(c) => c.query_one(&statement, params).await?,
            Db::Tx(t) => t.query_one(&statement, params).await?,
        })
    }

    pub(super) async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> PgResult<u64> {
        let statement = self.statement(sql).await?;
        Ok(match self {
            Db::Client(c) => c.execute(&statement, params).await?,
            Db::Tx(t) => t.execute(&statement, params).await?,
        })
    }
}

/// Events a transaction produced, published only once it has committed.
#[derive(Default)]
pub(super) struct Outbox(Vec<LiveEvent>);

impl Outbox {
    pub(super) fn push(&mut self, event: LiveEvent) {
        self.0.push(event);
    }
}

/// Parses a TEXT id column.
pub(super) fn id<T: std::str::FromStr>(row: &Row, idx: usize) -> PgResult<T> {
    let text: String = row.try_get(idx)?;
    text.parse()
        .map_err(|_| Fail::other(format!("bad id {text:?} in column {idx}")))
}

pub(super) fn opt_id<T: std::str::FromStr>(row: &Row, idx: usize) -> PgResult<Option<T>> {
    let text: Option<String> = row.try_get(idx)?;
    text.map(|t| {
        t.parse()
            .map_err(|_| Fail::other(format!("bad id {t:?} in column {idx}")))
    })
    .transpose()
}

/// Parses a TEXT enum column (statuses, modes, roles).
pub(super) fn text_enum<T: std::str::FromStr<Err = String>>(row: &Row, idx: usize) -> PgResult<T> {
    let text: String = row.try_get(idx)?;
    text.parse().map_err(Fail::other)
}

pub struct PgStore {
    pool: Pool,
    bus: Arc<dyn EventBus>,
    /// A write failed for want of space; cleared by the next write that succeeds.
    out_of_space: AtomicBool,
    /// Where new orders queue to be placed together (group commit, see `batch`).
    batcher: std::sync::OnceLock<tokio::sync::mpsc::Sender<batch::Request>>,
}

/// Runs `$body` (an expression using `$db: Db` and `$outbox: &mut Outbox`, evaluating to a
/// `PgResult`) in a transaction on `$store`, retrying lost races; publishes the outbox after
/// the commit.
macro_rules! in_transaction {
    ($store:expr, |$db:ident, $outbox:ident| $body:expr) => {{
        let store = $store;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result: PgResult<_> = async {
                let mut client = store.pool.get().await?;
                let tx = client.transaction().await?;
                let mut outbox = Outbox::default();
                let value = {
                    let $db = Db::Tx(&tx);
                    let $outbox = &mut outbox;
                    $body.await?
                };
                tx.commit().await?;
                Ok((value, outbox))
            }
            .await;
            match result {
                Ok((value, outbox)) => {
                    store.out_of_space.store(false, Ordering::Release);
                    for event in outbox.0 {
                        store.bus.publish(event);
                    }
                    break Ok(value);
                }
                Err(fail) if fail.retryable() && attempt < TRANSACTION_ATTEMPTS => continue,
                Err(fail) => {
                    let err = fail.into_store();
                    if matches!(err, StoreError::OutOfSpace(_)) {
                        store.out_of_space.store(true, Ordering::Release);
                    }
                    break Err(err);
                }
            }
        }
    }};
}

/// Runs `$body` (using `$db: Db`) on a pooled connection, outside any explicit transaction.
macro_rules! on_connection {
    ($store:expr, |$db:ident| $body:expr) => {{
        let result: PgResult<_> = async {
            let client = $store.pool.get().await?;
            let $db = Db::Client(&client);
            $body.await
        }
        .await;
        result.map_err(|fail| {
            let err = fail.into_store();
            if matches!(err, StoreError::OutOfSpace(_)) {
                $store.out_of_space.store(true, Ordering::Release);
            }
            err
        })
    }};
}

/// Runs `$body` (using `$db: Db`) in a read-only transaction: one consistent view.
macro_rules! in_snapshot {
    ($store:expr, |$db:ident| $body:expr) => {{
        let result: PgResult<_> = async {
            let mut client = $store.pool.get().await?;
            let tx = client
                .build_transaction()
                .read_only(true)
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .start()
                .await?;
            let value = {
                let $db = Db::Tx(&tx);
                $body.await?
            };
            tx.commit().await?;
            Ok(value)
        }
        .await;
        result.map_err(Fail::into_store)
    }};
}

impl PgStore {
    /// Connects to the database at `url` and brings its schema up to date. Committed events
    /// are published on `bus`.
    pub async fn connect(url: &str, bus: Arc<dyn EventBus>) -> anyhow::Result<Arc<PgStore>> {
        let config: tokio_postgres::Config = url
            .parse()
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(32)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .runtime(Runtime::Tokio1)
            .build()
            .context("creating the PostgreSQL connection pool")?;
        {
            let mut client = pool.get().await.map_err(|e| {
                anyhow::anyhow!("cannot connect to PostgreSQL ({}): {e}", redact(url))
            })?;
            migrate::migrate(&mut client).await?;
        }
        let store = Arc::new(PgStore {
            pool,
            bus,
            out_of_space: AtomicBool::new(false),
            batcher: std::sync::OnceLock::new(),
        });
        let _ = store.batcher.set(batch::start(Arc::downgrade(&store)));
        Ok(store)
    }

    fn mark_written(&self) {
        self.out_of_space.store(false, Ordering::Release);
    }

    /// One order in a transaction of its own.
    async fn place_one(
        &self,
        order: NewOrder,
        idempotency: Option<IdempotencyKey>,
        revision: i64,
    ) -> StoreResult<PlaceOutcome> {
        let placed = in_transaction!(self, |db, outbox| orders::place(
            db,
            outbox,
            &order,
            idempotency.as_ref(),
            revision
        ));
        match placed {
            // Rolled back: the order was priced against a menu that has changed since, or the
            // guest's party has left.
            Err(StoreError::Conflict(why)) if why == orders::MENU_CHANGED => {
                Ok(PlaceOutcome::MenuChanged)
            }
            Err(StoreError::Conflict(why)) if why == orders::TABLE_CLOSED => {
                Ok(PlaceOutcome::TableSessionClosed)
            }
            other => other,
        }
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..scheme_end + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn shared_secret(&self, name: &str, candidate: Vec<u8>) -> StoreResult<Option<Vec<u8>>> {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;
        let name = name.to_owned();
        let encoded = STANDARD.encode(&candidate);
        on_connection!(self, |db| async move {
            db.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &encoded],
            )
            .await?;
            let stored: String = db
                .query_one("SELECT value FROM secrets WHERE name = $1", &[&name])
                .await?
                .try_get(0)?;
            let secret = STANDARD
                .decode(stored.trim())
                .map_err(|_| Fail::other(format!("the shared secret {name} is not base64")))?;
            Ok(Some(secret))
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        if !self.out_of_space.load(Ordering::Acquire) {
            return on_connection!(self, |db| async move {
                db.query_one("SELECT 1", &[]).await?;
                Ok(())
            });
        }
        // After a full disk only a real write proves the box can take orders again.
        let now = to_millis(Utc::now());
        in_transaction!(self, |db, _outbox| async move {
            db.execute(
                "INSERT INTO write_probe (id, at) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                &[&now],
            )
            .await?;
            PgResult::Ok(())
        })
    }

    async fn insert_user(&self, user: NewUser) -> StoreResult<User> {
        in_transaction!(self, |db, _outbox| users::insert_user(db, &user))
    }

    async fn create_owner(
        &self,
        owner: NewUser,
        restaurant: NewRestaurant,
    ) -> StoreResult<(User, RestaurantId)> {
        in_transaction!(self, |db, _outbox| users::create_owner(
            db,
            &owner,
            &restaurant
        ))
    }

    async fn user_credentials(&self, email: &Email) -> StoreResult<Option<UserCredentials>> {
        let email = email.clone();
        on_connection!(self, |db| users::credentials_by_email(db, &email))
    }

    async fn staff(&self, restaurant: RestaurantId) -> StoreResult<Vec<User>> {
        on_connection!(self, |db| users::staff(db, restaurant))
    }

    async fn remove_staff(
        &self,
        restaurant: RestaurantId,
        user: UserId,
        revoked_until: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<SessionId>>> {
        in_transaction!(self, |db, _outbox| users::remove_staff(
            db,
            restaurant,
            user,
            revoked_until
        ))
    }

    async fn reset_staff_password(
        &self,
        restaurant: RestaurantId,
        user: UserId,
        password_hash: String,
        revoked_until: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<SessionId>>> {
        in_transaction!(self, |db, _outbox| users::reset_staff_password(
            db,
            restaurant,
            user,
            &password_hash,
            revoked_until
        ))
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        on_connection!(self, |db| users::by_id(db, id))
    }

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> StoreResult<()> {
        on_connection!(self, |db| users::insert_refresh_token(db, &token))
    }

    async fn rotate_refresh_token(
        &self,
        presented_id: &str,
        presented_hash: &str,
        next: RefreshTokenRecord,
        on_reuse: Revocation,
    ) -> StoreResult<RefreshOutcome> {
        in_transaction!(self, |db, _outbox| users::rotate_refresh_token(
            db,
            presented_id,
            presented_hash,
            &next,
            &on_reuse
        ))
    }

    async fn revoke_session(
        &self,
        session_id: SessionId,
        revocations: Vec<Revocation>,
    ) -> StoreResult<()> {
        let now = Utc::now();
        in_transaction!(self, |db, _outbox| users::revoke_session(
            db,
            session_id,
            &revocations,
            now
        ))
    }

    async fn active_revocations(&self, now: DateTime<Utc>) -> StoreResult<Vec<Revocation>> {
        on_connection!(self, |db| users::active_revocations(db, now))
    }

    async fn restaurant(&self, id: RestaurantId) -> StoreResult<Option<Restaurant>> {
        on_connection!(self, |db| restaurants::by_id(db, id))
    }

    async fn restaurant_revisions(&self) -> StoreResult<Vec<(RestaurantId, i64)>> {
        on_connection!(self, |db| restaurants::revisions(db))
    }

    async fn update_restaurant(
        &self,
        id: RestaurantId,
        changes: RestaurantChanges,
    ) -> StoreResult<Restaurant> {
        in_transaction!(self, |db, outbox| restaurants::update(
            db, outbox, id, &changes
        ))
    }

    async fn menu(&self, id: RestaurantId) -> StoreResult<Option<(Restaurant, Vec<Category>)>> {
        in_snapshot!(self, |db| menus::menu(db, id))
    }

    async fn known_menu_ids(&self, id: RestaurantId) -> StoreResult<KnownIds> {
        on_connection!(self, |db| menus::known_ids(db, id))
    }

    async fn replace_menu(&self, id: RestaurantId, categories: Vec<Category>) -> StoreResult<i64> {
        in_transaction!(self, |db, outbox| menus::replace(
            db,
            outbox,
            id,
            &categories
        ))
    }

    async fn update_menu_item(
        &self,
        restaurant: RestaurantId,
        item: MenuItemId,
        changes: MenuItemChanges,
    ) -> StoreResult<Option<MenuItem>> {
        in_transaction!(self, |db, outbox| menus::update_item(
            db, outbox, restaurant, item, &changes
        ))
    }

    async fn create_guest(&self, guest: NewGuest) -> StoreResult<()> {
        on_connection!(self, |db| restaurants::insert_guest(db, &guest))
    }

    async fn place_order(
        &self,
        order: NewOrder,
        idempotency: Option<IdempotencyKey>,
        revision: i64,
    ) -> StoreResult<PlaceOutcome> {
        let Some(batcher) = self.batcher.get() else {
            return self.place_one(order, idempotency, revision).await;
        };
        let (reply, placed) = tokio::sync::oneshot::channel();
        let request = batch::Request {
            order,
            idempotency,
            revision,
            reply,
        };
        if let Err(refused) = batcher.send(request).await {
            let request = refused.0;
            return self
                .place_one(request.order, request.idempotency, request.revision)
                .await;
        }
        placed
            .await
            .map_err(|_| StoreError::Unavailable("the order batcher stopped".into()))?
    }

    async fn remembered_order(
        &self,
        customer: Customer,
        idempotency: IdempotencyKey,
    ) -> StoreResult<Option<PlaceOutcome>> {
        on_connection!(self, |db| orders::remembered(db, customer, &idempotency))
    }

    async fn order(&self, id: OrderId) -> StoreResult<Option<Order>> {
        on_connection!(self, |db| orders::by_id(db, id))
    }

    async fn customer_orders(
        &self,
        customer: Customer,
        after: Option<OrderCursor>,
        limit: usize,
    ) -> StoreResult<OrderPage> {
        on_connection!(self, |db| orders::for_customer(db, customer, after, limit))
    }

    async fn restaurant_orders(
        &self,
        restaurant: RestaurantId,
        statuses: Vec<OrderStatus>,
        after: Option<OrderCursor>,
        limit: usize,
    ) -> StoreResult<OrderPage> {
        on_connection!(self, |db| orders::for_restaurant(
            db, restaurant, &statuses, after, limit
        ))
    }

    async fn transition_order(&self, request: TransitionRequest) -> StoreResult<TransitionOutcome> {
        in_transaction!(self, |db, outbox| orders::transition(db, outbox, &request))
    }

    async fn live_snapshot(
        &self,
        restaurant: RestaurantId,
        order: Option<OrderId>,
    ) -> StoreResult<(i64, Vec<Order>)> {
        in_snapshot!(self, |db| orders::live_snapshot(db, restaurant, order))
    }

    async fn open_payment(
        &self,
        order: OrderId,
        amount: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Payment> {
        in_transaction!(self, |db, _outbox| payments::open(db, order, amount, now))
    }

    async fn latest_payment(&self, order: OrderId) -> StoreResult<Option<Payment>> {
        on_connection!(self, |db| payments::latest(db, order))
    }

    async fn attach_payment_key(
        &self,
        payment: PaymentId,
        key: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_connection!(self, |db| payments::attach_key(db, payment, &key, now))
    }

    async fn settle_payment(&self, settlement: Settlement) -> StoreResult<SettleOutcome> {
        in_transaction!(self, |db, outbox| payments::settle(db, outbox, &settlement))
    }

    async fn fail_payment(
        &self,
        payment: PaymentId,
        code: String,
        message: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_connection!(self, |db| payments::fail(db, payment, &code, &message, now))
    }

    async fn unpaid_orders(
        &self,
        placed_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<OrderId>> {
        on_connection!(self, |db| orders::unpaid(db, placed_before, limit))
    }

    async fn stale_payments(
        &self,
        created_before: DateTime<Utc>,
        after: Option<PaymentId>,
        limit: usize,
    ) -> StoreResult<Vec<Payment>> {
        on_connection!(self, |db| payments::stale(db, created_before, after, limit))
    }

    async fn due_refunds(&self, now: DateTime<Utc>) -> StoreResult<Vec<Payment>> {
        on_connection!(self, |db| payments::due_refunds(db, now))
    }

    async fn refund_done(&self, payment: PaymentId, now: DateTime<Utc>) -> StoreResult<()> {
        in_transaction!(self, |db, outbox| payments::refund_done(
            db, outbox, payment, now
        ))
    }

    async fn refund_failed(
        &self,
        payment: PaymentId,
        error: String,
        next_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_connection!(self, |db| payments::refund_failed(
            db, payment, &error, next_at
        ))
    }

    async fn webhook_delivery_seen(&self, transmission_id: String) -> StoreResult<bool> {
        on_connection!(self, |db| payments::delivery_seen(db, &transmission_id))
    }

    async fn record_webhook_delivery(
        &self,
        transmission_id: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_connection!(self, |db| payments::record_delivery(
            db,
            &transmission_id,
            now
        ))
    }

    async fn day_summary(
        &self,
        restaurant: RestaurantId,
        business_day: String,
    ) -> StoreResult<DaySummary> {
        on_connection!(self, |db| async move {
            let row = db
                .query_one(
                    "SELECT
                         count(*) FILTER (WHERE status NOT IN ('REJECTED', 'CANCELLED')),
                         count(*) FILTER (WHERE status = 'COMPLETED'),
                         (coalesce(sum(total_amount)
                             FILTER (WHERE payment_status = 'PAID' AND NOT test_payment), 0)
                          + (SELECT coalesce(sum(amount), 0) FROM table_settlements
                             WHERE restaurant_id = $1 AND business_day = $2 AND NOT simulated)
                         )::BIGINT,
                         (coalesce(sum(total_amount)
                             FILTER (WHERE payment_status = 'PAID' AND test_payment), 0)
                          + (SELECT coalesce(sum(amount), 0) FROM table_settlements
                             WHERE restaurant_id = $1 AND business_day = $2 AND simulated)
                         )::BIGINT
                     FROM orders WHERE restaurant_id = $1 AND business_day = $2",
                    &[&restaurant.to_string(), &business_day],
                )
                .await?;
            Ok(DaySummary {
                orders: row.try_get(0)?,
                completed: row.try_get(1)?,
                revenue: row.try_get(2)?,
                test_revenue: row.try_get(3)?,
            })
        })
    }

    async fn sales_facts(
        &self,
        restaurant: RestaurantId,
        from_day: String,
        to_day: String,
    ) -> StoreResult<(Vec<OrderFact>, Vec<SettlementFact>)> {
        in_snapshot!(self, |db| reports::sales_facts(
            db, restaurant, &from_day, &to_day
        ))
    }

    async fn refunds_owed(&self, restaurant: RestaurantId) -> StoreResult<Vec<RefundOwed>> {
        on_connection!(self, |db| payments::refunds_owed(db, restaurant))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<()> {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let now = to_millis(now);
        in_transaction!(self, |db, _outbox| async move {
            db.execute(
                "DELETE FROM idempotency_keys WHERE created_at < $1",
                &[&(now - DAY_MS)],
            )
            .await?;
            db.execute(
                "DELETE FROM refresh_tokens WHERE expires_at < $1",
                &[&(now - DAY_MS)],
            )
            .await?;
            db.execute("DELETE FROM revoked_tokens WHERE expires_at <= $1", &[&now])
                .await?;
            // Toss retries a webhook for about four days.
            db.execute(
                "DELETE FROM webhook_deliveries WHERE received_at < $1",
                &[&(now - 7 * DAY_MS)],
            )
            .await?;
            // A ticket's bytes matter while it may still print (or be asked about); a week
            // after it printed or was dropped, its order is long finished.
            db.execute(
                "DELETE FROM print_jobs WHERE status IN ('DONE', 'DROPPED') AND created_at < $1",
                &[&(now - 7 * DAY_MS)],
            )
            .await?;
            db.execute(
                "DELETE FROM guests WHERE created_at < $1
                   AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.guest_id = guests.id)",
                &[&(now - DAY_MS)],
            )
            .await?;
            db.execute("DELETE FROM leases WHERE expires_at < $1", &[&now])
                .await?;
            PgResult::Ok(())
        })
    }

    async fn acquire_lease(
        &self,
        name: String,
        holder: String,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        // Timed by the database's clock, the one every instance shares.
        on_connection!(self, |db| async move {
            let won = db
                .execute(
                    "WITH clock AS (
                         SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT AS now
                     )
                     INSERT INTO leases (name, holder, expires_at)
                     SELECT $1, $2, now + $3 FROM clock
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                         expires_at = excluded.expires_at
                     WHERE leases.holder = excluded.holder
                        OR leases.expires_at < (SELECT now FROM clock)",
                    &[&name, &holder, &ttl],
                )
                .await?;
            Ok(won == 1)
        })
    }

    async fn release_lease(&self, name: String, holder: String) -> StoreResult<()> {
        on_connection!(self, |db| async move {
            db.execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )
            .await?;
            Ok(())
        })
    }

    async fn table_tab(
        &self,
        restaurant: RestaurantId,
        table: String,
        guest: Option<GuestId>,
    ) -> StoreResult<Option<TableTab>> {
        in_snapshot!(self, |db| tables::tab_for(db, restaurant, &table, guest))
    }

    async fn open_tables(&self, restaurant: RestaurantId) -> StoreResult<Vec<TableSummary>> {
        in_snapshot!(self, |db| tables::open_tables(db, restaurant))
    }

    async fn call_staff(&self, call: NewCall) -> StoreResult<CallOutcome> {
        in_transaction!(self, |db, outbox| tables::call_staff(db, outbox, &call))
    }

    async fn table_action(
        &self,
        restaurant: RestaurantId,
        table: String,
        action: TableAction,
        now: DateTime<Utc>,
    ) -> StoreResult<TableOutcome> {
        in_transaction!(self, |db, outbox| tables::action(
            db, outbox, restaurant, &table, &action, now
        ))
    }

    async fn open_tab_payment(&self, payment: NewTabPayment) -> StoreResult<TabPayment> {
        on_connection!(self, |db| tab_payments::open(db, &payment))
    }

    async fn tab_payment(&self, id: TabPaymentId) -> StoreResult<Option<TabPayment>> {
        on_connection!(self, |db| tab_payments::by_id(db, id))
    }

    async fn reserve_tab_payment(
        &self,
        id: TabPaymentId,
        payment_key: String,
        now: DateTime<Utc>,
    ) -> StoreResult<Reservation> {
        in_transaction!(self, |db, _outbox| tab_payments::reserve(
            db,
            id,
            &payment_key,
            now
        ))
    }

    async fn settle_tab_payment(&self, settlement: TabSettlement) -> StoreResult<TabSettleOutcome> {
        in_transaction!(self, |db, outbox| tab_payments::settle(
            db,
            outbox,
            &settlement
        ))
    }

    async fn fail_tab_payment(
        &self,
        id: TabPaymentId,
        code: String,
        message: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_connection!(self, |db| tab_payments::fail(db, id, &code, &message, now))
    }

    async fn stale_tab_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<TabPayment>> {
        on_connection!(self, |db| tab_payments::stale(db, created_before, limit))
    }

    async fn printers(&self, restaurant: RestaurantId) -> StoreResult<Vec<Printer>> {
        on_connection!(self, |db| printing::printers(db, restaurant))
    }

    async fn create_printer(&self, printer: Printer, now: DateTime<Utc>) -> StoreResult<Printer> {
        on_connection!(self, |db| printing::create(db, &printer, now))
    }

    async fn update_printer(
        &self,
        restaurant: RestaurantId,
        id: PrinterId,
        changes: PrinterChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Printer>> {
        on_connection!(self, |db| printing::update(
            db, restaurant, id, &changes, now
        ))
    }

    async fn delete_printer(
        &self,
        restaurant: RestaurantId,
        id: PrinterId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        in_transaction!(self, |db, _outbox| printing::delete(
            db, restaurant, id, now
        ))
    }

    async fn queue_test_print(
        &self,
        restaurant: RestaurantId,
        id: PrinterId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PrintJob>> {
        on_connection!(self, |db| printing::queue_test(db, restaurant, id, now))
    }

    async fn reprint_order(
        &self,
        restaurant: RestaurantId,
        order: OrderId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<PrintJob>>> {
        in_transaction!(self, |db, _outbox| printing::reprint(
            db, restaurant, order, now
        ))
    }

    async fn due_print_jobs(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<PrintJob>> {
        on_connection!(self, |db| printing::due(db, now, limit))
    }

    async fn print_job_sending(
        &self,
        id: PrintJobId,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        on_connection!(self, |db| printing::sending(db, id, now, retry_at))
    }

    async fn print_job_done(&self, id: PrintJobId, now: DateTime<Utc>) -> StoreResult<()> {
        on_connection!(self, |db| printing::done(db, id, now))
    }

    async fn print_job_failed(
        &self,
        id: PrintJobId,
        error: String,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_connection!(self, |db| printing::failed(db, id, &error, retry_at))
    }

    async fn waiting_print_jobs(&self, restaurant: RestaurantId) -> StoreResult<Vec<PrintJob>> {
        on_connection!(self, |db| printing::waiting(db, restaurant))
    }

    async fn settle_print_job(
        &self,
        restaurant: RestaurantId,
        id: PrintJobId,
        drop: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        on_connection!(self, |db| printing::settle(db, restaurant, id, drop, now))
    }

    async fn orders_of_day(
        &self,
        restaurant: RestaurantId,
        business_day: String,
        query: Option<String>,
    ) -> StoreResult<Vec<Order>> {
        on_connection!(self, |db| orders::of_day(
            db,
            restaurant,
            &business_day,
            query.as_deref()
        ))
    }

    async fn latest_event_seq(&self, restaurant: RestaurantId) -> StoreResult<i64> {
        on_connection!(self, |db| async move {
            let row = db
                .query_opt(
                    "SELECT event_seq FROM restaurants WHERE id = $1",
                    &[&restaurant.to_string()],
                )
                .await?;
            match row {
                Some(row) => Ok(row.try_get(0)?),
                None => Ok(0),
            }
        })
    }

    async fn switch_counter_payment(
        &self,
        restaurant: RestaurantId,
        on: bool,
        by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> StoreResult<(Restaurant, Option<OrderEvent>)> {
        in_transaction!(self, |db, outbox| restaurants::switch_counter_payment(
            db, outbox, restaurant, on, by, now
        ))
    }

    async fn record_printed_base_url(
        &self,
        restaurant: RestaurantId,
        base_url: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_connection!(self, |db| restaurants::record_printed_base_url(
            db, restaurant, &base_url, now
        ))
    }

    async fn newest_order_at(
        &self,
        restaurant: RestaurantId,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        on_connection!(self, |db| restaurants::newest_order_at(db, restaurant))
    }

    async fn order_log(
        &self,
        restaurant: RestaurantId,
        order: OrderId,
    ) -> StoreResult<Vec<LoggedEvent>> {
        on_connection!(self, |db| orders::order_log(db, restaurant, order))
    }

    async fn events_since(
        &self,
        restaurant: RestaurantId,
        seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<OrderEvent>> {
        on_connection!(self, |db| orders::events_since(db, restaurant, seq, limit))
    }
}
