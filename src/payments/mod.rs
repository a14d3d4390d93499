//! Payments: initiate, confirm, webhook, reconciliation and refunds, on top of the provider
//! seam (Toss, or the simulated provider when no Toss key is configured).
//!
//! Money rules: the amount is checked against the stored order before anything reaches the
//! provider; every provider call for one order is serialized (in-process and among instances)
//! and carries an idempotency key stable per logical operation, so no retry, race or reconciliation can
//! charge or refund twice; payment and order change in one transaction.

pub mod health;
pub mod provider;
pub mod simulated;
pub mod tab;
pub mod toss;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::config::{Config, PaymentBackend};
use crate::domain::ids::{OrderId, PaymentId};
use crate::domain::order::{Order, OrderStatus, PaymentMode, PaymentStatus};
use crate::domain::payment::{Payment, PaymentState};
use crate::http::metrics::Metrics;
use crate::store::{SettleOutcome, Settlement, Store, StoreError};
use provider::{PaymentProvider, ProviderError, ProviderKind, ProviderPayment, ProviderStatus};

/// Toss's payment window: an unauthenticated payment expires after 30 minutes.
pub const CHECKOUT_WINDOW: chrono::Duration = chrono::Duration::minutes(30);
/// A PREPAY order nobody paid for this long is cancelled: Toss's window (30 minutes) has closed,
/// and so has the 10 minutes it allows to confirm a payment authenticated at its very end.
pub const UNPAID_ORDER_EXPIRY: chrono::Duration = chrono::Duration::minutes(40);
/// The reason an expired order is cancelled with (customers and owners read it).
pub const UNPAID_CANCEL_REASON: &str = "결제 시간이 지나 자동 취소되었습니다";
/// Longest wait between two refund attempts.
const MAX_REFUND_BACKOFF: Duration = Duration::from_secs(600);

/// The provider chosen by `--payments`; `None` when online payment is off.
pub fn provider_from_config(config: &Config) -> anyhow::Result<Option<Arc<dyn PaymentProvider>>> {
    Ok(match config.payment_backend() {
        PaymentBackend::Toss => {
            let secret = config
                .toss_secret_key
                .as_deref()
                .context("Toss Payments needs TOSS_SECRET_KEY")?;
            Some(Arc::new(toss::TossClient::new(
                &config.toss_api_base,
                secret,
                config.toss_client_key.clone(),
                Duration::from_millis(config.toss_timeout_ms),
            )?))
        }
        PaymentBackend::Simulated => Some(Arc::new(simulated::SimulatedProvider::default())),
        PaymentBackend::Off => None,
    })
}

/// Why a payment operation did not go through; `api::payments` maps it to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Online payment is off on this box.
    #[error("online payments are not configured")]
    NotConfigured,
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The order's state does not allow it; `details` tells the client what the state is.
    #[error("conflict: {message}")]
    Conflict {
        message: String,
        details: Option<serde_json::Value>,
    },
    /// The provider declined; its code and message.
    #[error("declined: {code}")]
    Declined { code: String, message: String },
    /// No answer from the provider; the payment stays pending and is reconciled later.
    #[error("payment provider unavailable")]
    ProviderUnavailable,
    /// Another instance holds this order's payment lock for too long.
    #[error("payment busy")]
    Busy,
    /// Bad input named by the domain's rules.
    #[error("invalid input: {0:?}")]
    Field(crate::domain::error::FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PaymentError {
    fn conflict(message: impl Into<String>) -> Self {
        PaymentError::Conflict {
            message: message.into(),
            details: None,
        }
    }

    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        PaymentError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// What payments need to know of the box's settings.
#[derive(Clone, Debug)]
pub struct PaymentSettings {
    /// Where guests reach the box: base of the checkout and return URLs.
    pub guest_base: Arc<str>,
    /// A pending payment is looked up at the provider once it is this old.
    pub reconcile_after: Duration,
    pub sweep_every: Duration,
    /// First wait before retrying a failed refund (doubles each attempt, up to 10 minutes).
    pub refund_retry_base: Duration,
}

/// The payments service: what handlers, the webhook and the background sweep call.
pub struct Payments {
    store: Arc<dyn Store>,
    provider: Option<Arc<dyn PaymentProvider>>,
    locks: PaymentLocks,
    metrics: Arc<Metrics>,
    clock: Clock,
    settings: PaymentSettings,
    /// This process, as the holder of leases (the sweep, order locks) among instances.
    instance: String,
    health: Arc<health::ProviderHealth>,
}

impl Payments {
    pub fn new(
        store: Arc<dyn Store>,
        provider: Option<Arc<dyn PaymentProvider>>,
        metrics: Arc<Metrics>,
        clock: Clock,
        settings: PaymentSettings,
    ) -> Arc<Payments> {
        let instance = uuid::Uuid::new_v4().to_string();
        let health = Arc::new(health::ProviderHealth::default());
        let provider = provider.map(|inner| {
            Arc::new(health::Monitored {
                inner,
                health: health.clone(),
                clock: clock.clone(),
            }) as Arc<dyn PaymentProvider>
        });
        Arc::new(Payments {
            locks: PaymentLocks::new(store.clone(), instance.clone()),
            health,
            store,
            provider,
            metrics,
            clock,
            settings,
            instance,
        })
    }

    /// The provider in use; `None` while online payment is off.
    pub fn provider_kind(&self) -> Option<ProviderKind> {
        self.provider.as_ref().map(|p| p.kind())
    }

    /// Whether the provider could be reached lately (`None` while online payment is off).
    pub fn reachability(&self) -> Option<health::Reachability> {
        self.provider.as_ref().map(|_| self.health.snapshot())
    }

    /// Asks the provider whether it can be reached (while online payment is in use), every
    /// `every`; the answer shows on the board.
    pub async fn probe_provider(self: Arc<Self>, every: Duration) {
        let Some(provider) = self.provider.clone() else {
            return;
        };
        if provider.kind() != ProviderKind::Toss {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let _ = provider.probe().await;
        }
    }

    /// The provider, or `NotConfigured` when online payment is off.
    fn provider(&self) -> Result<&Arc<dyn PaymentProvider>, PaymentError> {
        self.provider.as_ref().ok_or(PaymentError::NotConfigured)
    }

    /// The box's checkout page for an order, on the guest surface.
    pub fn checkout_url(&self, order: OrderId) -> String {
        format!("{}/pay/{order}", self.settings.guest_base)
    }
}

/// How long one caller may hold an order's payment lock: well beyond the longest chain of
/// provider calls made under it (a lookup and a confirm, each up to 3 attempts × 10 s, and the
/// confirm's own lookups after a failure); a crashed holder's lock lapses after this.
const ORDER_LOCK_TTL: Duration = Duration::from_secs(300);
/// How long to wait for another instance to finish with an order before giving up.
const ORDER_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Provider calls for one order (or tab payment) never overlap: in this process through an async mutex, and
/// among instances sharing a database through a lease row, so concurrent confirms anywhere
/// reach the provider once.
struct PaymentLocks {
    local: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, Arc<tokio::sync::Mutex<()>>>>,
    store: Arc<dyn Store>,
    holder: String,
}

/// Holds an order's payment lock; dropping it lets the next caller in.
struct PaymentLock {
    _local: tokio::sync::OwnedMutexGuard<()>,
    store: Arc<dyn Store>,
    lease: String,
    holder: String,
}

impl Drop for PaymentLock {
    fn drop(&mut self) {
        let (store, lease, holder) = (self.store.clone(), self.lease.clone(), self.holder.clone());
        tokio::spawn(async move {
            if let Err(err) = store.release_lease(lease, holder).await {
                // It lapses on its own after ORDER_LOCK_TTL.
                tracing::warn!(error = %err, "could not release a payment lock");
            }
        });
    }
}

impl PaymentLocks {
    fn new(store: Arc<dyn Store>, holder: String) -> PaymentLocks {
        PaymentLocks {
            local: Default::default(),
            store,
            holder,
        }
    }

    /// `payment`: the order's id, or a tab payment's (the orderId Toss knows either by).
    async fn lock(&self, payment: uuid::Uuid) -> Result<PaymentLock, PaymentError> {
        let local = {
            let mut locks = self.local.lock().unwrap_or_else(|e| e.into_inner());
            // Forget locks nobody holds, so the map does not grow with every order ever paid.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(payment).or_default().clone()
        };
        let local = local.lock_owned().await;
        let lease = format!("payment:{payment}");
        // This acquisition's own name: a release that arrives late can only give back its own
        // lease, never the next holder's.
        let holder = format!("{}:{}", self.holder, uuid::Uuid::new_v4().simple());
        let started = tokio::time::Instant::now();
        loop {
            if self
                .store
                .acquire_lease(lease.clone(), holder.clone(), ORDER_LOCK_TTL)
                .await?
            {
                return Ok(PaymentLock {
                    _local: local,
                    store: self.store.clone(),
                    lease,
                    holder,
                });
            }
            if started.elapsed() > ORDER_LOCK_WAIT {
                return Err(PaymentError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[derive(Serialize)]
pub struct Checkout {
    /// Toss issues the key only after the customer authenticates.
    pub payment_key: Option<String>,
    pub payment_url: String,
    pub order_id: OrderId,
    pub amount: i64,
    pub expires_at: DateTime<Utc>,
    pub payment_method: String,
    /// `toss`, or `simulated` (test mode: nothing is charged).
    pub provider: &'static str,
    pub client_key: Option<String>,
    pub order_name: String,
    pub customer_key: String,
    pub success_url: String,
    pub fail_url: String,
}

#[derive(Serialize)]
pub struct Confirmed {
    pub success: bool,
    /// The order's id, or the tab payment's: what Toss knows as the orderId.
    pub order_id: uuid::Uuid,
    pub payment_status: PaymentState,
}

/// Who asks to re-read an order's payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reread {
    /// A webhook: anyone can post one, so it may only make us record what the provider says,
    /// never make us charge.
    Webhook,
    /// The reconciliation sweep, which runs only once the customer has clearly left.
    Sweep,
}

/// The lease that elects the instance running the sweep.
const SWEEP_LEASE: &str = "payment-sweeper";

/// Pending payments looked up per sweep.
pub(crate) const RECONCILE_BATCH: usize = 100;

/// The amount a client names must be the stored order's total; checked before the provider
/// hears of anything.
fn check_amount(order: &Order, amount: i64) -> Result<(), PaymentError> {
    if amount != order.total_amount {
        return Err(PaymentError::invalid(
            "amount",
            format!(
                "does not match the order total of {} won",
                order.total_amount
            ),
        ));
    }
    Ok(())
}

fn ensure_payable(order: &Order) -> Result<(), PaymentError> {
    let refuse = |message: &str| PaymentError::Conflict {
        message: message.to_owned(),
        details: Some(serde_json::json!({
            "current_status": order.status,
            "payment_status": order.payment_status,
        })),
    };
    if order.payment_status != PaymentStatus::Pending {
        return Err(refuse("this order is already paid"));
    }
    if order.payment_mode == PaymentMode::Postpay {
        return Err(refuse("this restaurant takes payment at the counter"));
    }
    if order.status != OrderStatus::Pending {
        return Err(refuse("this order can no longer be paid"));
    }
    Ok(())
}

fn confirmed(order_id: OrderId) -> Confirmed {
    Confirmed {
        success: true,
        order_id: order_id.0,
        payment_status: PaymentState::Completed,
    }
}

/// The idempotency key of "confirm this payment of this order": every retry, concurrent
/// request and reconciliation of it uses the same one.
fn confirm_key(order: OrderId, payment_key: &str) -> String {
    format!("confirm-{order}-{payment_key}")
}

impl Payments {
    /// Records (or reuses) the order's pending payment and tells the browser how to pay it.
    pub async fn initiate(
        self: &Arc<Self>,
        order: &Order,
        amount: i64,
        payment_method: String,
    ) -> Result<Checkout, PaymentError> {
        let provider = self.provider()?;
        ensure_payable(order)?;
        check_amount(order, amount)?;
        let now = self.clock.now();
        self.store
            .open_payment(order.id, order.total_amount, now)
            .await?;
        let restaurant = self
            .store
            .restaurant(order.restaurant_id)
            .await?
            .ok_or(PaymentError::NotFound("restaurant"))?;
        Ok(Checkout {
            payment_key: None,
            payment_url: self.checkout_url(order.id),
            order_id: order.id,
            amount: order.total_amount,
            // Each initiate opens a new checkout window, even when it reuses the pending payment.
            expires_at: now + CHECKOUT_WINDOW,
            payment_method,
            provider: provider.kind().as_str(),
            client_key: provider.client_key(),
            order_name: crate::domain::payment::order_name(&restaurant.name, &order.order_number),
            customer_key: format!("c_{}", order.customer.key().simple()),
            success_url: format!("{}/pay/success", self.settings.guest_base),
            fail_url: format!("{}/pay/fail", self.settings.guest_base),
        })
    }

    /// Confirms a payment the customer authenticated with the provider.
    pub async fn confirm(
        self: &Arc<Self>,
        order_id: OrderId,
        payment_key: &str,
        amount: i64,
    ) -> Result<Confirmed, PaymentError> {
        let provider = self.provider()?;
        // An order that does not exist takes no lock (the confirm endpoint is public).
        if self.store.order(order_id).await?.is_none() {
            return Err(PaymentError::NotFound("order"));
        }
        let _serialized = self.locks.lock(order_id.0).await?;
        let order = self
            .store
            .order(order_id)
            .await?
            .ok_or(PaymentError::NotFound("order"))?;
        check_amount(&order, amount)?;
        if order.payment_status != PaymentStatus::Pending {
            // A repeated confirm of the payment that paid the order gets the same answer.
            let latest = self.store.latest_payment(order_id).await?;
            if latest.and_then(|p| p.payment_key).as_deref() == Some(payment_key) {
                return Ok(confirmed(order_id));
            }
        }
        ensure_payable(&order)?;
        let now = self.clock.now();
        let mut payment = self
            .store
            .open_payment(order_id, order.total_amount, now)
            .await?;
        if let Some(earlier) = payment.payment_key.clone().filter(|k| k != payment_key) {
            // An earlier attempt of this order never got a final answer (its confirm was lost).
            // Paying again is only safe once the provider says that attempt did not go through.
            let found = provider.lookup_payment(&earlier).await.map_err(|err| {
                tracing::warn!(%order_id, error = %err, "could not look up an unresolved payment");
                PaymentError::ProviderUnavailable
            })?;
            if let Some(done) = found.as_ref().filter(|p| p.status == ProviderStatus::Done) {
                self.settle(&order, done).await?;
                return Err(PaymentError::conflict("this order is already paid"));
            }
            // It did not: close its record, and give this attempt its own.
            let (code, message) = match found {
                Some(p)
                    if matches!(p.status, ProviderStatus::Aborted | ProviderStatus::Expired) =>
                {
                    p.failure_or_expired()
                }
                _ => (
                    "REPLACED".to_owned(),
                    "paid again with another payment".to_owned(),
                ),
            };
            self.store
                .fail_payment(payment.id, code, message, now)
                .await?;
            payment = self
                .store
                .open_payment(order_id, order.total_amount, now)
                .await?;
        }
        self.store
            .attach_payment_key(payment.id, payment_key.to_owned(), now)
            .await?;
        let outcome = provider
            .confirm(
                payment_key,
                &order_id.to_string(),
                amount,
                &confirm_key(order_id, payment_key),
            )
            .await;
        match outcome {
            Ok(approved) if approved.status == ProviderStatus::Done => {
                self.settle(&order, &approved).await?;
                Ok(confirmed(order_id))
            }
            Ok(other) => Err(PaymentError::Conflict {
                message: format!("the payment is not complete yet ({:?})", other.status),
                details: None,
            }),
            Err(ProviderError::Rejected { code, message }) => {
                self.store
                    .fail_payment(payment.id, code.clone(), message.clone(), self.clock.now())
                    .await?;
                self.metrics.payments.with_label_values(&["declined"]).inc();
                Err(PaymentError::Declined { code, message })
            }
            Err(ProviderError::Unreachable(why)) => {
                tracing::warn!(%order_id, error = %why, "confirm left pending for reconciliation");
                Err(PaymentError::ProviderUnavailable)
            }
        }
    }

    /// Records an approval the provider reported (by confirm, webhook or reconciliation).
    async fn settle(
        self: &Arc<Self>,
        order: &Order,
        approved: &ProviderPayment,
    ) -> Result<(), PaymentError> {
        if approved.total_amount != order.total_amount {
            // Never mark an order paid for a different amount; this needs a human.
            tracing::error!(
                order_id = %order.id, approved = approved.total_amount, total = order.total_amount,
                "provider approved a different amount than the order total"
            );
            return Err(PaymentError::conflict(
                "the approved amount differs from the order total",
            ));
        }
        let now = self.clock.now();
        let outcome = self
            .store
            .settle_payment(Settlement {
                order_id: order.id,
                payment_key: approved.payment_key.clone(),
                amount: approved.total_amount,
                method: approved.method.clone(),
                approved_at: approved.approved_at.unwrap_or(now),
                simulated: self
                    .provider
                    .as_ref()
                    .is_some_and(|p| p.kind() == provider::ProviderKind::Simulated),
                now,
            })
            .await?;
        match outcome {
            SettleOutcome::Paid { order } => {
                self.metrics
                    .payments
                    .with_label_values(&["completed"])
                    .inc();
                if order.payment_status == PaymentStatus::RefundPending {
                    self.refund_soon(order.id);
                }
                Ok(())
            }
            SettleOutcome::AlreadyPaid { payment_key }
                if payment_key.as_deref() == Some(&approved.payment_key) =>
            {
                Ok(())
            }
            SettleOutcome::AlreadyPaid { .. } => {
                tracing::error!(order_id = %order.id, "a second payment was approved for a paid order");
                Err(PaymentError::conflict("this order is already paid"))
            }
            SettleOutcome::AmountMismatch => Err(PaymentError::conflict(
                "the approved amount differs from the order total",
            )),
        }
    }

    /// Looks the order's payment up at the provider and applies what it says. Used by the
    /// webhook (whose body is never trusted) and the reconciliation sweep.
    pub async fn reconcile_order(
        self: &Arc<Self>,
        order_id: OrderId,
        reread: Reread,
    ) -> anyhow::Result<()> {
        let Some(provider) = self.provider.as_ref() else {
            return Ok(()); // online payment is off: nothing to ask anyone
        };
        // A webhook may name any order id: one that does not exist takes no lock.
        if self.store.order(order_id).await?.is_none() {
            return Ok(());
        }
        let _serialized = self.locks.lock(order_id.0).await?;
        let Some(order) = self.store.order(order_id).await? else {
            return Ok(());
        };
        let latest = self.store.latest_payment(order_id).await?;
        let found = provider.lookup_order(&order_id.to_string()).await?;
        let now = self.clock.now();
        match found {
            Some(payment) => match payment.status {
                ProviderStatus::Done => self
                    .settle(&order, &payment)
                    .await
                    .map_err(|err| anyhow::anyhow!("could not settle: {err}"))?,
                // Authenticated, but our confirm never happened (the phone closed on the way back):
                // finish what the customer started, if the order still wants paying.
                ProviderStatus::InProgress
                    if reread == Reread::Sweep && ensure_payable(&order).is_ok() =>
                {
                    let key = confirm_key(order_id, &payment.payment_key);
                    match provider
                        .confirm(
                            &payment.payment_key,
                            &payment.order_id,
                            order.total_amount,
                            &key,
                        )
                        .await
                    {
                        Ok(approved) if approved.status == ProviderStatus::Done => {
                            self.settle(&order, &approved).await.ok();
                        }
                        Ok(_) | Err(ProviderError::Unreachable(_)) => {}
                        Err(ProviderError::Rejected { code, message }) => {
                            if let Some(p) = latest.filter(|p| p.status == PaymentState::Pending) {
                                self.store.fail_payment(p.id, code, message, now).await?;
                            }
                        }
                    }
                }
                ProviderStatus::Aborted | ProviderStatus::Expired => {
                    if let Some(p) = latest.filter(|p| p.status == PaymentState::Pending) {
                        let (code, message) = payment.failure_or_expired();
                        self.store.fail_payment(p.id, code, message, now).await?;
                    }
                }
                ProviderStatus::Canceled => {
                    if let Some(p) = latest.filter(|p| p.refund_status == "PENDING") {
                        self.store.refund_done(p.id, now).await?;
                    }
                }
                _ => {}
            },
            None => {
                // The provider never saw a payment: once the window has closed, it never will.
                if let Some(p) = latest.filter(|p| p.status == PaymentState::Pending)
                    && now - p.created_at > CHECKOUT_WINDOW
                {
                    let (code, message) = provider::expired();
                    self.store.fail_payment(p.id, code, message, now).await?;
                }
            }
        }
        Ok(())
    }

    fn refund_backoff(&self, attempts: i64) -> Duration {
        let base = self.settings.refund_retry_base;
        let factor = 2u32.saturating_pow(attempts.clamp(0, 16) as u32);
        base.saturating_mul(factor).min(MAX_REFUND_BACKOFF)
    }

    /// Tries to pay back a refund owed on `payment`. A failure is recorded and retried later.
    async fn refund(self: &Arc<Self>, payment: &Payment) -> anyhow::Result<()> {
        let _serialized = self.locks.lock(payment.order_id.0).await?;
        // Re-read under the lock: another attempt may just have finished.
        let Some(current) = self.store.latest_payment(payment.order_id).await? else {
            return Ok(());
        };
        if current.id != payment.id || current.refund_status != "PENDING" {
            return Ok(());
        }
        let now = self.clock.now();
        let key = match current.payment_key.as_deref() {
            // A test-mode payment charged nobody, so there is nothing to pay back.
            Some(_) if current.simulated => None,
            key => key,
        };
        let Some(key) = key else {
            // Paid without a provider (at the counter): the refund is handed over in person.
            self.store.refund_done(current.id, now).await?;
            return Ok(());
        };
        let Some(provider) = self.provider.as_ref() else {
            let error = "online payment is off on this box (no Toss key); refund it by hand";
            let next = now + chrono::Duration::from_std(MAX_REFUND_BACKOFF)?;
            self.store
                .refund_failed(current.id, error.into(), next)
                .await?;
            return Ok(());
        };
        if current.refund_attempts > 0
            && let Ok(Some(found)) = provider.lookup_payment(key).await
            && found.status == ProviderStatus::Canceled
        {
            // An earlier attempt went through; only its answer was lost.
            self.store.refund_done(current.id, now).await?;
            return Ok(());
        }
        let reason = current
            .refund_reason
            .clone()
            .unwrap_or_else(|| "주문 취소".into());
        // Each attempt has its own key: Toss replays a key's first answer (a refusal too) for 15
        // days, so retrying under one key could never succeed. A new key cannot refund twice: we
        // cancel the whole payment, and a cancelled payment has nothing left to cancel.
        let idempotency_key = match current.refund_attempts {
            0 => format!("refund-{}", current.id),
            n => format!("refund-{}-{n}", current.id),
        };
        let error = match provider.cancel(key, &reason, &idempotency_key).await {
            Ok(p)
                if matches!(
                    p.status,
                    ProviderStatus::Canceled | ProviderStatus::PartialCanceled
                ) =>
            {
                self.store.refund_done(current.id, now).await?;
                self.metrics.payments.with_label_values(&["refunded"]).inc();
                return Ok(());
            }
            Ok(p) => format!("provider reports status {:?}", p.status),
            Err(err) => err.to_string(),
        };
        let next = now + chrono::Duration::from_std(self.refund_backoff(current.refund_attempts))?;
        tracing::warn!(order_id = %current.order_id, %error, retry_at = %next, "refund failed; will retry");
        self.store.refund_failed(current.id, error, next).await?;
        Ok(())
    }

    /// Starts the refund owed for `order` now, without making the caller wait for the provider.
    pub fn refund_soon(self: &Arc<Self>, order: OrderId) {
        let this = self.clone();
        tokio::spawn(async move {
            match this.store.latest_payment(order).await {
                Ok(Some(payment)) => {
                    if let Err(err) = this.refund(&payment).await {
                        tracing::warn!(%order, error = %err, "refund attempt failed");
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(%order, error = %err, "refund lookup failed"),
            }
        });
    }

    /// One pass of the background work: settle payments left pending and retry refunds owed.
    /// `cursor` is where the previous pass stopped: payments that stay pending (Toss still has the
    /// window open, or a virtual account awaits its deposit) are passed over in turn, so however
    /// many there are, every one is looked at again, newer ones included.
    pub async fn sweep(self: &Arc<Self>, cursor: &mut Option<PaymentId>) -> anyhow::Result<()> {
        let now = self.clock.now();
        let before = now
            - chrono::Duration::from_std(self.settings.reconcile_after)
                .unwrap_or(chrono::Duration::MAX);
        let batch = self
            .store
            .stale_payments(before, *cursor, RECONCILE_BATCH)
            .await?;
        *cursor = match batch.last() {
            Some(last) if batch.len() == RECONCILE_BATCH => Some(last.id),
            _ => None, // the end: start over next time
        };
        for payment in batch {
            if let Err(err) = self.reconcile_order(payment.order_id, Reread::Sweep).await {
                tracing::warn!(order_id = %payment.order_id, error = %err, "reconciliation failed");
            }
        }
        let placed_before = now - UNPAID_ORDER_EXPIRY;
        for order_id in self
            .store
            .unpaid_orders(placed_before, RECONCILE_BATCH)
            .await?
        {
            if let Err(err) = self.expire_unpaid(order_id).await {
                tracing::warn!(%order_id, error = %err, "could not expire an unpaid order");
            }
        }
        self.reconcile_tab_payments(now).await?;
        for payment in self.store.due_refunds(now).await? {
            if let Err(err) = self.refund(&payment).await {
                tracing::warn!(order_id = %payment.order_id, error = %err, "refund attempt failed");
            }
        }
        Ok(())
    }

    /// Cancels a PREPAY order whose payment never came, so it leaves the board, unless Toss
    /// says otherwise: a payment it approved is recorded instead, and one still under way
    /// (authenticated, or a virtual account awaiting its deposit) is left for a later pass. An
    /// unanswered lookup cancels nothing.
    async fn expire_unpaid(self: &Arc<Self>, order_id: OrderId) -> anyhow::Result<()> {
        let _serialized = self.locks.lock(order_id.0).await?;
        let Some(order) = self.store.order(order_id).await? else {
            return Ok(());
        };
        if order.status != OrderStatus::Pending || order.payment_status != PaymentStatus::Pending {
            return Ok(());
        }
        if let Some(provider) = self.provider.as_ref() {
            match provider.lookup_order(&order_id.to_string()).await? {
                Some(found) if found.status == ProviderStatus::Done => {
                    return self
                        .settle(&order, &found)
                        .await
                        .map_err(|err| anyhow::anyhow!("could not settle: {err}"));
                }
                Some(found)
                    if matches!(
                        found.status,
                        ProviderStatus::InProgress | ProviderStatus::WaitingForDeposit
                    ) =>
                {
                    return Ok(());
                }
                _ => {}
            }
        }
        let outcome = self
            .store
            .transition_order(crate::store::TransitionRequest {
                order_id,
                actor: crate::store::Actor::Shop {
                    restaurant: order.restaurant_id,
                    by: None,
                },
                action: crate::domain::order::Action::Cancel,
                estimated_ready_at: None,
                note: Some(UNPAID_CANCEL_REASON.to_owned()),
                now: self.clock.now(),
            })
            .await?;
        if matches!(outcome, crate::store::TransitionOutcome::Done { .. }) {
            tracing::info!(%order_id, "cancelled an order whose payment never came");
        }
        Ok(())
    }

    /// Runs `sweep` forever, every `payment_sweep_secs` (not at all while online payment is off).
    pub async fn run_background(self: Arc<Self>) {
        if self.provider.is_none() {
            return;
        }
        let interval = self.settings.sweep_every.max(Duration::from_millis(50));
        let mut tick = tokio::time::interval(interval);
        let mut cursor = None;
        let mut leading = false;
        loop {
            tick.tick().await;
            // One instance sweeps at a time: the holder renews its lease every pass; if it dies,
            // another takes over once three passes went by. (A pass longer than that may
            // overlap another instance's: harmless, as every provider call holds its order's
            // lock.)
            let lead = self
                .store
                .acquire_lease(SWEEP_LEASE.into(), self.instance.clone(), interval * 3)
                .await;
            match lead {
                Ok(true) => {
                    if !leading {
                        tracing::info!(instance = %self.instance, "this instance runs the payment sweep");
                    }
                    leading = true;
                }
                Ok(false) => {
                    leading = false;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not renew the payment sweep lease");
                    continue;
                }
            }
            self.metrics.payment_sweeps.inc();
            if let Err(err) = self.sweep(&mut cursor).await {
                tracing::warn!(error = %err, "payment sweep failed");
            }
        }
    }
}
