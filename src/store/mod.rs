//! The storage seam. Handlers see `Arc<dyn Store>` and call business intents; each method owns
//! its transaction. Only the modules below this one know which database runs.

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::ids::{
    CallId, CategoryId, GuestId, MenuItemId, OrderId, PaymentId, PrintJobId, PrinterId,
    RestaurantId, SessionId, TabPaymentId, TableSessionId, UserId,
};
use crate::domain::menu::{Category, KnownIds, MenuItem};
use crate::domain::order::{Action, Customer, Order, OrderStatus, PaymentMode, PaymentStatus};
use crate::domain::payment::Payment;
use crate::domain::payment::PaymentState;
use crate::domain::pricing::PricedLine;
use crate::domain::printer::{PrintOn, Printer, TextEncoding, TicketKind};
use crate::domain::report::{OrderFact, SettlementFact};
use crate::domain::restaurant::{Restaurant, RestaurantChanges, RestaurantName};
use crate::domain::table::{
    CallKind, SessionStatus, SettleMethod, TabPaymentKind, TabTotals, TableCall, TableSession,
};
use crate::domain::user::{Email, PersonName, Role, User};
use crate::events::{EventBus, OrderEvent};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the string names the rule.
    #[error("conflict on {0}")]
    Conflict(String),
    /// The database is busy or unreachable; retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The disk (or the database's size limit) is full: nothing can be written until room is
    /// made; reads still work.
    #[error("out of space: {0}")]
    OutOfSpace(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub name: PersonName,
    pub role: Role,
    /// The shop a STAFF or KITCHEN account works for; `None` for customers and owners.
    pub restaurant_id: Option<RestaurantId>,
    pub created_at: DateTime<Utc>,
}

pub struct NewRestaurant {
    pub id: RestaurantId,
    pub name: RestaurantName,
}

/// A user with the secret needed to check a login.
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

/// One refresh token of a login session ("family"); only its hash is stored.
#[derive(Clone)]
pub struct RefreshTokenRecord {
    pub id: String,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub token_hash: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug)]
pub enum RefreshOutcome {
    /// The presented token was current: it is now spent and `next` is the session's token.
    Rotated(User),
    /// The presented token had already been rotated: someone replayed it. The whole session has
    /// been revoked and the caller's `on_reuse` revocation recorded.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// A revoked access-token id or session id, remembered until the last token it could affect
/// has expired.
pub struct Revocation {
    pub key: String,
    pub until: DateTime<Utc>,
}

/// Changes to one menu item; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct MenuItemChanges {
    pub name: Option<String>,
    pub price: Option<i64>,
    pub description: Option<String>,
    pub image_url: Option<Option<String>>,
    pub is_available: Option<bool>,
}

pub struct NewGuest {
    pub id: GuestId,
    pub restaurant_id: RestaurantId,
    pub table_number: String,
    pub created_at: DateTime<Utc>,
}

pub struct NewOrder {
    pub id: OrderId,
    pub restaurant_id: RestaurantId,
    pub customer: Customer,
    pub table_number: Option<String>,
    pub lines: Vec<PricedLine>,
    pub total_amount: i64,
    pub special_requests: Option<String>,
    pub payment_mode: PaymentMode,
    /// The restaurant's business day at `created_at` (YYYY-MM-DD, local time). The store files
    /// the order under the latest day it has numbered orders in if that is later: a clock set
    /// back past midnight must not reopen an earlier day (and number its orders again).
    pub business_day: String,
    pub created_at: DateTime<Utc>,
}

/// An `Idempotency-Key` and the hash of the request it came with.
#[derive(Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

/// A table's party as the store keeps it: the session, its orders (with lines), what the tab
/// adds up to, and its staff calls.
#[derive(Clone, Debug)]
pub struct TableTab {
    pub restaurant_id: RestaurantId,
    pub table_number: String,
    pub session: TableSession,
    pub orders: Vec<Order>,
    pub totals: TabTotals,
    pub calls: Vec<TableCall>,
    /// Orders already paid for from a phone (a completed "my orders" payment).
    pub paid_order_ids: Vec<OrderId>,
}

/// A guest's call for staff at a table.
pub struct NewCall {
    pub id: CallId,
    pub restaurant_id: RestaurantId,
    pub table_number: String,
    /// The guest calling (their party's session); `None` for a registered customer.
    pub guest: Option<GuestId>,
    pub kind: CallKind,
    pub note: Option<String>,
    pub now: DateTime<Utc>,
}

pub enum CallOutcome {
    Created {
        call: TableCall,
        event: OrderEvent,
    },
    /// The same kind of call is already open at this table: that one.
    Existing(TableCall),
    /// The guest's party has left (its table was closed): scan again.
    SessionClosed,
}

/// What the owner does to a table's open session.
#[derive(Clone, Debug)]
pub enum TableAction {
    AckCall(CallId),
    /// A counter payment of `amount` towards the tab (at most what remains).
    Settle {
        method: SettleMethod,
        amount: i64,
        business_day: String,
    },
    /// Closing with money still owed needs `confirm_unpaid` (and is recorded).
    Close {
        confirm_unpaid: bool,
    },
    /// The party moves to table `to` (which must be free).
    Move {
        to: String,
    },
    /// The party joins the one at table `into` (합석): its orders and payments go there.
    Merge {
        into: String,
    },
}

pub enum TableOutcome {
    /// Done: the tab as it now is (for a move or merge, the destination's).
    Done(Box<TableTab>),
    /// No open session at that table (or no such call there).
    NotFound,
    /// Bad input for this tab (e.g. an amount over what remains).
    Invalid(crate::domain::error::FieldError),
    /// Not allowed as things stand; `remaining` is what the tab still owes.
    Refused {
        reason: &'static str,
        remaining: i64,
    },
}

/// A table's party at a glance: the owner's table view, and what table events carry.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TableSummary {
    #[serde(skip)]
    pub restaurant_id: RestaurantId,
    pub table_number: String,
    pub session_id: TableSessionId,
    pub status: SessionStatus,
    pub opened_at: DateTime<Utc>,
    pub last_order_at: Option<DateTime<Utc>>,
    pub orders_count: usize,
    /// Orders the kitchen has not finished (pending or accepted): the table waits for food.
    pub orders_waiting: usize,
    #[serde(flatten)]
    pub totals: TabTotals,
    pub open_calls: Vec<TableCall>,
}

/// A guest's online payment towards a tab, as the server priced it.
pub struct NewTabPayment {
    pub id: TabPaymentId,
    pub restaurant_id: RestaurantId,
    pub session_id: TableSessionId,
    pub kind: TabPaymentKind,
    pub shares: Option<u32>,
    pub order_ids: Vec<OrderId>,
    pub amount: i64,
    pub now: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct TabPayment {
    pub id: TabPaymentId,
    pub restaurant_id: RestaurantId,
    pub session_id: TableSessionId,
    pub kind: TabPaymentKind,
    pub shares: Option<u32>,
    pub order_ids: Vec<OrderId>,
    pub amount: i64,
    pub status: PaymentState,
    pub payment_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A tab payment the provider approved, to record.
pub struct TabSettlement {
    pub id: TabPaymentId,
    pub payment_key: String,
    pub amount: i64,
    pub method: Option<String>,
    pub approved_at: DateTime<Utc>,
    pub simulated: bool,
    /// The restaurant's business day now: the day whose revenue it counts in.
    pub business_day: String,
    pub now: DateTime<Utc>,
}

/// A print job as the worker and the board see it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PrintJob {
    pub id: PrintJobId,
    #[serde(skip)]
    pub restaurant_id: RestaurantId,
    pub printer_id: PrinterId,
    pub order_id: Option<OrderId>,
    pub order_number: Option<String>,
    pub kind: TicketKind,
    /// PENDING (waiting or retrying), SENDING, DONE or DROPPED.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_at: DateTime<Utc>,
    pub printed_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// Where to send it (the printer's address when the job was read).
    #[serde(skip)]
    pub address: String,
}

/// Changes to a printer's settings; `None` leaves one as it is.
#[derive(Default)]
pub struct PrinterChanges {
    pub name: Option<String>,
    pub address: Option<String>,
    pub paper_width_mm: Option<u32>,
    pub encoding: Option<TextEncoding>,
    pub category_ids: Option<Vec<CategoryId>>,
    pub print_on: Option<PrintOn>,
}

pub enum Reservation {
    Reserved,
    SessionClosed,
    /// Only `available` remains to be paid once confirms under way are counted.
    Exceeds {
        available: i64,
    },
    /// Not pending any more (completed or failed meanwhile).
    NotPending,
}

pub enum TabSettleOutcome {
    /// Recorded: the tab now counts it as paid.
    Paid,
    /// Recorded before, with this key.
    AlreadyPaid {
        payment_key: Option<String>,
    },
    AmountMismatch,
    NotFound,
}

pub enum PlaceOutcome {
    Placed {
        order: Box<Order>,
        event: OrderEvent,
    },
    /// The key was seen before with the same request: this is the order it made.
    Replayed(OrderId),
    /// The key was seen before with a different request.
    KeyReused,
    /// The menu or settings changed since the order was priced (`revision` moved on).
    MenuChanged,
    /// The guest's party has left (its table was closed): scan the QR code again.
    TableSessionClosed,
}

/// One entry of an order's audit trail.
pub struct LoggedEvent {
    pub seq: i64,
    pub kind: String,
    /// The live message as it was sent.
    pub payload: String,
    pub at: DateTime<Utc>,
    /// Who acted: a restaurant account, or the guest (role CUSTOMER); `None`: the box itself
    /// (a payment, an unpaid order's timeout).
    pub actor: Option<LoggedActor>,
}

pub struct LoggedActor {
    pub id: String,
    /// `None` for a guest.
    pub name: Option<String>,
    pub role: String,
}

/// Who asks for a transition; the order must be theirs.
#[derive(Clone, Copy, Debug)]
pub enum Actor {
    /// The restaurant: one of its accounts (`by`, named in the event log) or the box itself.
    Shop {
        restaurant: RestaurantId,
        by: Option<UserId>,
    },
    Customer(Customer),
}

pub struct TransitionRequest {
    pub order_id: OrderId,
    pub actor: Actor,
    pub action: Action,
    pub estimated_ready_at: Option<DateTime<Utc>>,
    /// Accept: the owner's message. Reject and cancel: the reason.
    pub note: Option<String>,
    pub now: DateTime<Utc>,
}

pub enum TransitionOutcome {
    Done {
        order: Box<Order>,
        event: OrderEvent,
    },
    /// No such order for this actor (also when it is someone else's).
    NotFound,
    /// Not allowed from the current state.
    Refused {
        status: OrderStatus,
        payment_status: PaymentStatus,
        reason: &'static str,
    },
}

/// A page of orders, newest first, and where the next page starts.
pub struct OrderPage {
    pub orders: Vec<Order>,
    pub next_cursor: Option<OrderCursor>,
}

/// Position in a newest-first listing: (created_at ms, id) of the last order shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCursor {
    pub created_at_ms: i64,
    pub id: OrderId,
}

/// A business day at a glance, for the owner's board.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DaySummary {
    /// Orders placed that day, not counting rejected or cancelled ones.
    pub orders: i64,
    pub completed: i64,
    /// What customers paid (online or at the counter), refunds and test payments excluded.
    pub revenue: i64,
    /// What the simulated provider "approved" (test mode): no money, shown apart.
    pub test_revenue: i64,
}

/// A refund the restaurant owes and has not yet paid back (the provider refused or could
/// not be reached); the owner's board shows these until they go through.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RefundOwed {
    pub order_id: OrderId,
    pub order_number: String,
    pub amount: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A payment the provider reports as approved.
pub struct Settlement {
    pub order_id: OrderId,
    pub payment_key: String,
    pub amount: i64,
    pub method: Option<String>,
    pub approved_at: DateTime<Utc>,
    /// Approved by the simulated provider: nothing was charged, and it is no revenue.
    pub simulated: bool,
    pub now: DateTime<Utc>,
}

pub enum SettleOutcome {
    /// Recorded now: the order is PAID (or owes a refund if it was closed meanwhile).
    Paid { order: Box<Order> },
    /// The order was already paid (`payment_key` tells with which payment).
    AlreadyPaid { payment_key: Option<String> },
    /// The approved amount is not the order's; nothing was recorded.
    AmountMismatch,
}

/// The store's contract: every method is one transaction of its own. Stores may run several
/// writers at once (PostgreSQL at READ COMMITTED, several instances): state changes are decided
/// by `domain` plans and written with a compare-and-set on what the plan read; a restaurant's
/// events commit in sequence order; an order's number is unique within its business day.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, for readiness reports and logs.
    fn backend(&self) -> &'static str;

    /// A secret every instance must share (the table-QR key; the JWT key when none is
    /// configured): the stored one, or `candidate` stored now if there is none. `None` when this
    /// backend belongs to one box, which keeps such secrets in its data directory instead.
    async fn shared_secret(&self, name: &str, candidate: Vec<u8>) -> StoreResult<Option<Vec<u8>>>;

    /// Cheap round trip through reads and writes, for readiness checks. After a write failed
    /// for want of space, only a real write that succeeds makes this pass again.
    async fn ping(&self) -> StoreResult<()>;

    /// Fails with `Conflict` when the email is taken.
    async fn insert_user(&self, user: NewUser) -> StoreResult<User>;

    /// Creates an OWNER and their restaurant atomically.
    async fn create_owner(
        &self,
        owner: NewUser,
        restaurant: NewRestaurant,
    ) -> StoreResult<(User, RestaurantId)>;

    /// The STAFF and KITCHEN accounts of a restaurant, oldest first.
    async fn staff(&self, restaurant: RestaurantId) -> StoreResult<Vec<User>>;

    /// Removes a STAFF or KITCHEN account of `restaurant` with its refresh tokens (events it
    /// acted in keep its name), and in the same transaction records every session it had as
    /// revoked until `revoked_until`. `None`: no such account there. Returns those sessions, for
    /// the caller to end on every instance.
    async fn remove_staff(
        &self,
        restaurant: RestaurantId,
        user: UserId,
        revoked_until: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<SessionId>>>;

    /// Sets a new password on a STAFF or KITCHEN account of `restaurant`, stops its refresh
    /// tokens and records its sessions as revoked until `revoked_until`, in one transaction.
    /// `None`: no such account there. Returns those sessions.
    async fn reset_staff_password(
        &self,
        restaurant: RestaurantId,
        user: UserId,
        password_hash: String,
        revoked_until: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<SessionId>>>;

    async fn user_credentials(&self, email: &Email) -> StoreResult<Option<UserCredentials>>;

    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> StoreResult<()>;

    /// Spends `presented` (by id and hash) and stores `next` (same session) in its place,
    /// atomically. A second use of a spent token revokes the whole session and records
    /// `on_reuse`.
    async fn rotate_refresh_token(
        &self,
        presented_id: &str,
        presented_hash: &str,
        next: RefreshTokenRecord,
        on_reuse: Revocation,
    ) -> StoreResult<RefreshOutcome>;

    /// Ends a session: its refresh tokens stop working and the given keys are remembered as
    /// revoked (access-token ids and session ids) until they could no longer be valid anyway.
    async fn revoke_session(
        &self,
        session_id: SessionId,
        revocations: Vec<Revocation>,
    ) -> StoreResult<()>;

    /// Revocations still in force at `now` (loaded into the cache on start).
    async fn active_revocations(&self, now: DateTime<Utc>) -> StoreResult<Vec<Revocation>>;

    async fn restaurant(&self, id: RestaurantId) -> StoreResult<Option<Restaurant>>;

    /// Every restaurant's current revision, so caches can notice changes made elsewhere
    /// (another process, e.g. `ordersync menu import`).
    async fn restaurant_revisions(&self) -> StoreResult<Vec<(RestaurantId, i64)>>;

    async fn update_restaurant(
        &self,
        id: RestaurantId,
        changes: RestaurantChanges,
    ) -> StoreResult<Restaurant>;

    /// The restaurant and its current (not archived) menu, in display order.
    async fn menu(&self, id: RestaurantId) -> StoreResult<Option<(Restaurant, Vec<Category>)>>;

    /// Category and item ids the restaurant has ever used (items: archived ones too).
    async fn known_menu_ids(&self, id: RestaurantId) -> StoreResult<KnownIds>;

    /// Replaces the whole menu: listed items are created or updated (ids kept), unlisted ones
    /// archived. Returns the new revision.
    async fn replace_menu(&self, id: RestaurantId, categories: Vec<Category>) -> StoreResult<i64>;

    /// `None` when the restaurant has no such (current) item.
    async fn update_menu_item(
        &self,
        restaurant: RestaurantId,
        item: MenuItemId,
        changes: MenuItemChanges,
    ) -> StoreResult<Option<MenuItem>>;

    async fn create_guest(&self, guest: NewGuest) -> StoreResult<()>;

    /// Stores an order priced against menu `revision`, numbering it within its business day,
    /// and appends NEW_ORDER to the event log, in one transaction.
    async fn place_order(
        &self,
        order: NewOrder,
        idempotency: Option<IdempotencyKey>,
        revision: i64,
    ) -> StoreResult<PlaceOutcome>;

    /// A replay (`Replayed`) or misuse (`KeyReused`) of an `Idempotency-Key` the customer
    /// already used; `None` for a fresh key.
    async fn remembered_order(
        &self,
        customer: Customer,
        idempotency: IdempotencyKey,
    ) -> StoreResult<Option<PlaceOutcome>>;

    async fn order(&self, id: OrderId) -> StoreResult<Option<Order>>;

    async fn customer_orders(
        &self,
        customer: Customer,
        after: Option<OrderCursor>,
        limit: usize,
    ) -> StoreResult<OrderPage>;

    /// Newest first; `statuses` empty means all.
    async fn restaurant_orders(
        &self,
        restaurant: RestaurantId,
        statuses: Vec<OrderStatus>,
        after: Option<OrderCursor>,
        limit: usize,
    ) -> StoreResult<OrderPage>;

    /// Applies a state-machine action as one compare-and-set, appending its event.
    async fn transition_order(&self, request: TransitionRequest) -> StoreResult<TransitionOutcome>;

    /// The restaurant's latest event sequence number and, consistent with it, either one order
    /// or (for `None`) its open orders.
    async fn live_snapshot(
        &self,
        restaurant: RestaurantId,
        order: Option<OrderId>,
    ) -> StoreResult<(i64, Vec<Order>)>;

    /// The order's open or completed payment; a new PENDING one if it has none.
    async fn open_payment(
        &self,
        order: OrderId,
        amount: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Payment>;

    /// The order's most recent payment attempt.
    async fn latest_payment(&self, order: OrderId) -> StoreResult<Option<Payment>>;

    /// Remembers the provider's key of a PENDING payment, so reconciliation can find it.
    async fn attach_payment_key(
        &self,
        payment: PaymentId,
        key: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Records an approval: payment COMPLETED and order PAID, with PAYMENT_COMPLETED, in one
    /// transaction. An order is paid at most once.
    async fn settle_payment(&self, settlement: Settlement) -> StoreResult<SettleOutcome>;

    /// A declined or expired attempt; the order may be paid again.
    async fn fail_payment(
        &self,
        payment: PaymentId,
        code: String,
        message: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Up to `limit` PENDING payments created before `created_before`, in id (so creation)
    /// order, starting after `after` (for reconciliation).
    async fn stale_payments(
        &self,
        created_before: DateTime<Utc>,
        after: Option<PaymentId>,
        limit: usize,
    ) -> StoreResult<Vec<Payment>>;

    /// Payments with a refund owed whose next attempt is due.
    async fn due_refunds(&self, now: DateTime<Utc>) -> StoreResult<Vec<Payment>>;

    /// Up to `limit` PREPAY orders still waiting for their payment that were placed before
    /// `placed_before`, oldest first.
    async fn unpaid_orders(
        &self,
        placed_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<OrderId>>;

    /// The provider confirmed the refund: payment REFUNDED, order REFUNDED, PAYMENT_REFUNDED.
    async fn refund_done(&self, payment: PaymentId, now: DateTime<Utc>) -> StoreResult<()>;

    /// A refund attempt failed; try again at `next_at`.
    async fn refund_failed(
        &self,
        payment: PaymentId,
        error: String,
        next_at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Whether a webhook delivery with this transmission id was already applied.
    async fn webhook_delivery_seen(&self, transmission_id: String) -> StoreResult<bool>;

    /// Remembers an applied webhook delivery, so Toss's resends of it are ignored.
    async fn record_webhook_delivery(
        &self,
        transmission_id: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    async fn day_summary(
        &self,
        restaurant: RestaurantId,
        business_day: String,
    ) -> StoreResult<DaySummary>;

    /// What sales reports are computed from: every order (with its lines) and every tab
    /// settlement of the business days `from_day..=to_day` (YYYY-MM-DD), read at one moment.
    async fn sales_facts(
        &self,
        restaurant: RestaurantId,
        from_day: String,
        to_day: String,
    ) -> StoreResult<(Vec<OrderFact>, Vec<SettlementFact>)>;

    /// The restaurant's refunds still owed, oldest first.
    async fn refunds_owed(&self, restaurant: RestaurantId) -> StoreResult<Vec<RefundOwed>>;

    /// Forgets what can no longer matter at `now`: idempotency keys older than a day, expired
    /// refresh tokens and revocations, webhook delivery ids older than Toss's retry window,
    /// guests older than a day who never ordered.
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<()>;

    /// The tab of a table's party: the guest's own (after their table was closed too, so they
    /// can read their past orders; `None` while they belong to no party), or for `guest: None`
    /// the open session at `table`.
    async fn table_tab(
        &self,
        restaurant: RestaurantId,
        table: String,
        guest: Option<GuestId>,
    ) -> StoreResult<Option<TableTab>>;

    /// Every table with an open session, by table.
    async fn open_tables(&self, restaurant: RestaurantId) -> StoreResult<Vec<TableSummary>>;

    /// A guest's call for staff; joins (or opens) the table's session, and returns an open call
    /// of the same kind instead of doubling it. Appends TABLE_CALL.
    async fn call_staff(&self, call: NewCall) -> StoreResult<CallOutcome>;

    /// The owner acts on the open session at `table`, appending its table events.
    async fn table_action(
        &self,
        restaurant: RestaurantId,
        table: String,
        action: TableAction,
        now: DateTime<Utc>,
    ) -> StoreResult<TableOutcome>;

    /// Records a guest's online payment towards a tab (PENDING until the provider approves).
    async fn open_tab_payment(&self, payment: NewTabPayment) -> StoreResult<TabPayment>;

    async fn tab_payment(&self, id: TabPaymentId) -> StoreResult<Option<TabPayment>>;

    /// Before a tab payment is confirmed with the provider: checks that its party's tab is
    /// still open and still owes the amount (less what other confirms under way may take),
    /// and marks the payment as being confirmed with `payment_key`, in one transaction.
    async fn reserve_tab_payment(
        &self,
        id: TabPaymentId,
        payment_key: String,
        now: DateTime<Utc>,
    ) -> StoreResult<Reservation>;

    /// Marks the tab payment completed and puts its money on the tab (an ONLINE settlement),
    /// appending TABLE_UPDATED, in one transaction.
    async fn settle_tab_payment(&self, settlement: TabSettlement) -> StoreResult<TabSettleOutcome>;

    async fn fail_tab_payment(
        &self,
        id: TabPaymentId,
        code: String,
        message: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Up to `limit` PENDING tab payments created before `created_before` (reconciliation).
    async fn stale_tab_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<TabPayment>>;

    /// The restaurant's printers (not removed), by name.
    async fn printers(&self, restaurant: RestaurantId) -> StoreResult<Vec<Printer>>;

    async fn create_printer(&self, printer: Printer, now: DateTime<Utc>) -> StoreResult<Printer>;

    /// `None`: no such printer at this restaurant.
    async fn update_printer(
        &self,
        restaurant: RestaurantId,
        id: PrinterId,
        changes: PrinterChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Printer>>;

    /// Removes the printer and drops its waiting jobs; `false`: no such printer.
    async fn delete_printer(
        &self,
        restaurant: RestaurantId,
        id: PrinterId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Queues a test page on the printer; `None`: no such printer.
    async fn queue_test_print(
        &self,
        restaurant: RestaurantId,
        id: PrinterId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PrintJob>>;

    /// Queues the order's ticket again (marked 재출력) on every printer it prints on; `None`:
    /// no such order at this restaurant.
    async fn reprint_order(
        &self,
        restaurant: RestaurantId,
        order: OrderId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<PrintJob>>>;

    /// Jobs due to be sent, oldest first: waiting ones whose time has come, and ones left
    /// SENDING by a worker that stopped before the printer took them.
    /// Each printer's queue is first in, first out: a job waiting to be retried holds back the
    /// later ones of its printer, so tickets reach the kitchen in order.
    async fn due_print_jobs(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<PrintJob>>;

    /// Marks a job due at `now` as being sent (until `retry_at`, when a stalled send is tried
    /// again); `false` if it is no longer due (another worker took it, or it was dropped).
    async fn print_job_sending(
        &self,
        id: PrintJobId,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    async fn print_job_done(&self, id: PrintJobId, now: DateTime<Utc>) -> StoreResult<()>;

    /// The printer did not take it: waits until `retry_at`.
    async fn print_job_failed(
        &self,
        id: PrintJobId,
        error: String,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Jobs of the restaurant not printed yet (waiting, retrying or being sent), oldest first.
    async fn waiting_print_jobs(&self, restaurant: RestaurantId) -> StoreResult<Vec<PrintJob>>;

    /// The owner gives up on a job (`drop`) or asks for it now; `false`: no such waiting job.
    async fn settle_print_job(
        &self,
        restaurant: RestaurantId,
        id: PrintJobId,
        drop: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Every order of a business day, any status, newest first; `query` matches the order
    /// number or the table.
    async fn orders_of_day(
        &self,
        restaurant: RestaurantId,
        business_day: String,
        query: Option<String>,
    ) -> StoreResult<Vec<Order>>;

    /// Takes, or renews, the lease `name` for `holder` for `ttl`, timed by the database's
    /// clock (instances' clocks may differ): `false` while another holder's lease has not
    /// expired. Among instances sharing a database this elects the one that runs a job (the
    /// payment sweep) and serializes work on one thing (an order's payment).
    async fn acquire_lease(
        &self,
        name: String,
        holder: String,
        ttl: std::time::Duration,
    ) -> StoreResult<bool>;

    /// Gives the lease back, if `holder` still has it.
    async fn release_lease(&self, name: String, holder: String) -> StoreResult<()>;

    /// The restaurant's latest event sequence number (0 before its first event).
    async fn latest_event_seq(&self, restaurant: RestaurantId) -> StoreResult<i64>;

    /// Switches the restaurant to counter payment (`on`) or back, logging the switch with the
    /// acting account. `None` event: it already was that way.
    async fn switch_counter_payment(
        &self,
        restaurant: RestaurantId,
        on: bool,
        by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> StoreResult<(Restaurant, Option<OrderEvent>)>;

    /// Remembers the base URL table QR codes were made with (a moved box address is then
    /// noticed). Not a menu change: pricing and cached menus are untouched.
    async fn record_printed_base_url(
        &self,
        restaurant: RestaurantId,
        base_url: String,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// When the restaurant's newest order was placed (for clock checks).
    async fn newest_order_at(&self, restaurant: RestaurantId)
    -> StoreResult<Option<DateTime<Utc>>>;

    /// Every event of one order of `restaurant`, oldest first, with who acted (the audit trail).
    async fn order_log(
        &self,
        restaurant: RestaurantId,
        order: OrderId,
    ) -> StoreResult<Vec<LoggedEvent>>;

    /// Events of a restaurant after `seq`, in order (for replay after a reconnect).
    async fn events_since(
        &self,
        restaurant: RestaurantId,
        seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<OrderEvent>>;
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The schema version this binary brings the database named by `database_url` to.
pub fn schema_version(database_url: &str) -> usize {
    #[cfg(feature = "postgres")]
    if is_postgres_url(database_url) {
        return postgres::SCHEMA_VERSION;
    }
    let _ = database_url;
    sqlite::SCHEMA_VERSION
}

/// Opens the backend named by `database_url` (a SQLite path, or a `postgres://` URL in the
/// `postgres` build) and brings its schema up to date. Committed events go to `bus`.
pub async fn connect(database_url: &str, bus: Arc<dyn EventBus>) -> anyhow::Result<Arc<dyn Store>> {
    if is_postgres_url(database_url) {
        #[cfg(feature = "postgres")]
        return Ok(postgres::PgStore::connect(database_url, bus).await?);
        #[cfg(not(feature = "postgres"))]
        anyhow::bail!(
            "DATABASE_URL points at PostgreSQL, but this binary was built without the `postgres` \
             feature; rebuild with `cargo build --release --features postgres` or use a SQLite path"
        );
    }
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .unwrap_or(database_url);
    let store = sqlite::SqliteStore::open(Path::new(path), bus).await?;
    Ok(Arc::new(store))
}
