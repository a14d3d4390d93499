//! Payments: initiate, confirm, webhook, reconciliation and refunds, on top of the provider
//! seam (Toss, or the simulated provider when no Toss key is configured).
//!
//! Money rules: the amount is checked against the stored order before anything reaches the
//! provider; every provider call for one order is serialized in-process and carries an
//! idempotency key stable per logical operation, so no retry, race or reconciliation can
//! charge or refund twice; payment and order change in one transaction.

pub mod provider;
pub mod simulated;
pub mod toss;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::AppState;
use crate::config::{Config, PaymentBackend};
use crate::domain::ids::{OrderId, PaymentId};
use crate::domain::order::{Order, OrderStatus, PaymentMode, PaymentStatus};
use crate::domain::payment::{Payment, PaymentState};
use crate::error::AppError;
use crate::store::{SettleOutcome, Settlement};
use provider::{PaymentProvider, ProviderError, ProviderPayment, ProviderStatus};

/// Toss's payment window: an unauthenticated payment expires after 30 minutes.
pub const CHECKOUT_WINDOW: chrono::Duration = chrono::Duration::minutes(30);
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

/// The provider, or 409 `PAYMENTS_NOT_CONFIGURED` when online payment is off.
fn provider(state: &AppState) -> Result<&Arc<dyn PaymentProvider>, AppError> {
    state
        .payment_provider
        .as_ref()
        .ok_or(AppError::PaymentsNotConfigured)
}

/// One async lock per order: provider calls for an order never overlap in this process.
#[derive(Default)]
pub struct OrderLocks {
    locks: std::sync::Mutex<std::collections::HashMap<OrderId, Arc<tokio::sync::Mutex<()>>>>,
}

impl OrderLocks {
    pub async fn lock(&self, order: OrderId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            // Forget locks nobody holds, so the map does not grow with every order ever paid.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(order).or_default().clone()
        };
        lock.lock_owned().await
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

/// Records (or reuses) the order's pending payment and tells the browser how to pay it.
pub async fn initiate(
    state: &AppState,
    order: &Order,
    amount: i64,
    payment_method: String,
) -> Result<Checkout, AppError> {
    let provider = provider(state)?;
    ensure_payable(order)?;
    check_amount(order, amount)?;
    let now = state.clock.now();
    state
        .store
        .open_payment(order.id, order.total_amount, now)
        .await?;
    let restaurant = state
        .store
        .restaurant(order.restaurant_id)
        .await?
        .ok_or(AppError::NotFound("restaurant"))?;
    Ok(Checkout {
        payment_key: None,
        payment_url: state.checkout_url(order.id),
        order_id: order.id,
        amount: order.total_amount,
        // Each initiate opens a new checkout window, even when it reuses the pending payment.
        expires_at: now + CHECKOUT_WINDOW,
        payment_method,
        provider: provider.kind().as_str(),
        client_key: provider.client_key(),
        order_name: crate::domain::payment::order_name(&restaurant.name, &order.order_number),
        customer_key: format!("c_{}", order.customer.key().simple()),
        success_url: format!("{}/pay/success", state.urls.guest),
        fail_url: format!("{}/pay/fail", state.urls.guest),
    })
}

/// The amount a client names must be the stored order's total; checked before the provider
/// hears of anything.
fn check_amount(order: &Order, amount: i64) -> Result<(), AppError> {
    if amount != order.total_amount {
        return Err(AppError::validation(
            "amount",
            format!(
                "does not match the order total of {} won",
                order.total_amount
            ),
        ));
    }
    Ok(())
}

fn ensure_payable(order: &Order) -> Result<(), AppError> {
    let refuse = |message: &str| AppError::Conflict {
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

#[derive(Serialize)]
pub struct Confirmed {
    pub success: bool,
    pub order_id: OrderId,
    pub payment_status: PaymentState,
}

fn confirmed(order_id: OrderId) -> Confirmed {
    Confirmed {
        success: true,
        order_id,
        payment_status: PaymentState::Completed,
    }
}

/// The idempotency key of "confirm this payment of this order": every retry, concurrent
/// request and reconciliation of it uses the same one.
fn confirm_key(order: OrderId, payment_key: &str) -> String {
    format!("confirm-{order}-{payment_key}")
}

/// Confirms a payment the customer authenticated with the provider.
pub async fn confirm(
    state: &AppState,
    order_id: OrderId,
    payment_key: &str,
    amount: i64,
) -> Result<Confirmed, AppError> {
    let provider = provider(state)?;
    let _serialized = state.payment_locks.lock(order_id).await;
    let order = state
        .store
        .order(order_id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    check_amount(&order, amount)?;
    if order.payment_status != PaymentStatus::Pending {
        // A repeated confirm of the payment that paid the order gets the same answer.
        let latest = state.store.latest_payment(order_id).await?;
        if latest.and_then(|p| p.payment_key).as_deref() == Some(payment_key) {
            return Ok(confirmed(order_id));
        }
    }
    ensure_payable(&order)?;
    let now = state.clock.now();
    let mut payment = state
        .store
        .open_payment(order_id, order.total_amount, now)
        .await?;
    if let Some(earlier) = payment.payment_key.clone().filter(|k| k != payment_key) {
        // An earlier attempt of this order never got a final answer (its confirm was lost).
        // Paying again is only safe once the provider says that attempt did not go through.
        let found = provider.lookup_payment(&earlier).await.map_err(|err| {
            tracing::warn!(%order_id, error = %err, "could not look up an unresolved payment");
            AppError::ProviderUnavailable
        })?;
        if let Some(done) = found.as_ref().filter(|p| p.status == ProviderStatus::Done) {
            settle(state, &order, done).await?;
            return Err(AppError::conflict("this order is already paid"));
        }
        // It did not: close its record, and give this attempt its own.
        let (code, message) = match found {
            Some(p) if matches!(p.status, ProviderStatus::Aborted | ProviderStatus::Expired) => {
                p.failure_or_expired()
            }
            _ => (
                "REPLACED".to_owned(),
                "paid again with another payment".to_owned(),
            ),
        };
        state
            .store
            .fail_payment(payment.id, code, message, now)
            .await?;
        payment = state
            .store
            .open_payment(order_id, order.total_amount, now)
            .await?;
    }
    state
        .store
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
            settle(state, &order, &approved).await?;
            Ok(confirmed(order_id))
        }
        Ok(other) => Err(AppError::Conflict {
            message: format!("the payment is not complete yet ({:?})", other.status),
            details: None,
        }),
        Err(ProviderError::Rejected { code, message }) => {
            state
                .store
                .fail_payment(payment.id, code.clone(), message.clone(), state.clock.now())
                .await?;
            state
                .metrics
                .payments
                .with_label_values(&["declined"])
                .inc();
            Err(AppError::PaymentDeclined { code, message })
        }
        Err(ProviderError::Unreachable(why)) => {
            tracing::warn!(%order_id, error = %why, "confirm left pending for reconciliation");
            Err(AppError::ProviderUnavailable)
        }
    }
}

/// Records an approval the provider reported (by confirm, webhook or reconciliation).
async fn settle(
    state: &AppState,
    order: &Order,
    approved: &ProviderPayment,
) -> Result<(), AppError> {
    if approved.total_amount != order.total_amount {
        // Never mark an order paid for a different amount; this needs a human.
        tracing::error!(
            order_id = %order.id, approved = approved.total_amount, total = order.total_amount,
            "provider approved a different amount than the order total"
        );
        return Err(AppError::conflict(
            "the approved amount differs from the order total",
        ));
    }
    let now = state.clock.now();
    let outcome = state
        .store
        .settle_payment(Settlement {
            order_id: order.id,
            payment_key: approved.payment_key.clone(),
            amount: approved.total_amount,
            method: approved.method.clone(),
            approved_at: approved.approved_at.unwrap_or(now),
            simulated: state
                .payment_provider
                .as_ref()
                .is_some_and(|p| p.kind() == provider::ProviderKind::Simulated),
            now,
        })
        .await?;
    match outcome {
        SettleOutcome::Paid { order } => {
            state
                .metrics
                .payments
                .with_label_values(&["completed"])
                .inc();
            if order.payment_status == PaymentStatus::RefundPending {
                refund_soon(state.clone(), order.id);
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
            Err(AppError::conflict("this order is already paid"))
        }
        SettleOutcome::AmountMismatch => Err(AppError::conflict(
            "the approved amount differs from the order total",
        )),
    }
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

/// Looks the order's payment up at the provider and applies what it says. Used by the
/// webhook (whose body is never trusted) and the reconciliation sweep.
pub async fn reconcile_order(
    state: &AppState,
    order_id: OrderId,
    reread: Reread,
) -> anyhow::Result<()> {
    let Some(provider) = state.payment_provider.as_ref() else {
        return Ok(()); // online payment is off: nothing to ask anyone
    };
    let _serialized = state.payment_locks.lock(order_id).await;
    let Some(order) = state.store.order(order_id).await? else {
        return Ok(());
    };
    let latest = state.store.latest_payment(order_id).await?;
    let found = provider.lookup_order(&order_id.to_string()).await?;
    let now = state.clock.now();
    match found {
        Some(payment) => match payment.status {
            ProviderStatus::Done => settle(state, &order, &payment)
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
                        settle(state, &order, &approved).await.ok();
                    }
                    Ok(_) | Err(ProviderError::Unreachable(_)) => {}
                    Err(ProviderError::Rejected { code, message }) => {
                        if let Some(p) = latest.filter(|p| p.status == PaymentState::Pending) {
                            state.store.fail_payment(p.id, code, message, now).await?;
                        }
                    }
                }
            }
            ProviderStatus::Aborted | ProviderStatus::Expired => {
                if let Some(p) = latest.filter(|p| p.status == PaymentState::Pending) {
                    let (code, message) = payment.failure_or_expired();
                    state.store.fail_payment(p.id, code, message, now).await?;
                }
            }
            ProviderStatus::Canceled => {
                if let Some(p) = latest.filter(|p| p.refund_status == "PENDING") {
                    state.store.refund_done(p.id, now).await?;
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
                state.store.fail_payment(p.id, code, message, now).await?;
            }
        }
    }
    Ok(())
}

fn refund_backoff(state: &AppState, attempts: i64) -> Duration {
    let base = Duration::from_millis(state.config.refund_retry_base_ms);
    let factor = 2u32.saturating_pow(attempts.clamp(0, 16) as u32);
    base.saturating_mul(factor).min(MAX_REFUND_BACKOFF)
}

/// Tries to pay back a refund owed on `payment`. A failure is recorded and retried later.
async fn refund(state: &AppState, payment: &Payment) -> anyhow::Result<()> {
    let _serialized = state.payment_locks.lock(payment.order_id).await;
    // Re-read under the lock: another attempt may just have finished.
    let Some(current) = state.store.latest_payment(payment.order_id).await? else {
        return Ok(());
    };
    if current.id != payment.id || current.refund_status != "PENDING" {
        return Ok(());
    }
    let now = state.clock.now();
    let key = match current.payment_key.as_deref() {
        // A test-mode payment charged nobody, so there is nothing to pay back.
        Some(_) if current.simulated => None,
        key => key,
    };
    let Some(key) = key else {
        // Paid without a provider (at the counter): the refund is handed over in person.
        state.store.refund_done(current.id, now).await?;
        return Ok(());
    };
    let Some(provider) = state.payment_provider.as_ref() else {
        let error = "online payment is off on this box (no Toss key); refund it by hand";
        let next = now + chrono::Duration::from_std(MAX_REFUND_BACKOFF)?;
        state
            .store
            .refund_failed(current.id, error.into(), next)
            .await?;
        return Ok(());
    };
    if current.refund_attempts > 0
        && let Ok(Some(found)) = provider.lookup_payment(key).await
        && found.status == ProviderStatus::Canceled
    {
        // An earlier attempt went through; only its answer was lost.
        state.store.refund_done(current.id, now).await?;
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
            state.store.refund_done(current.id, now).await?;
            state
                .metrics
                .payments
                .with_label_values(&["refunded"])
                .inc();
            return Ok(());
        }
        Ok(p) => format!("provider reports status {:?}", p.status),
        Err(err) => err.to_string(),
    };
    let next = now + chrono::Duration::from_std(refund_backoff(state, current.refund_attempts))?;
    tracing::warn!(order_id = %current.order_id, %error, retry_at = %next, "refund failed; will retry");
    state.store.refund_failed(current.id, error, next).await?;
    Ok(())
}

/// Starts the refund owed for `order` now, without making the caller wait for the provider.
pub fn refund_soon(state: AppState, order: OrderId) {
    tokio::spawn(async move {
        match state.store.latest_payment(order).await {
            Ok(Some(payment)) => {
                if let Err(err) = refund(&state, &payment).await {
                    tracing::warn!(%order, error = %err, "refund attempt failed");
                }
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(%order, error = %err, "refund lookup failed"),
        }
    });
}

/// Pending payments looked up per sweep.
const RECONCILE_BATCH: usize = 100;

/// One pass of the background work: settle payments left pending and retry refunds owed.
/// `cursor` is where the previous pass stopped: payments that stay pending (Toss still has the
/// window open, or a virtual account awaits its deposit) are passed over in turn, so however
/// many there are, every one is looked at again, newer ones included.
pub async fn sweep(state: &AppState, cursor: &mut Option<PaymentId>) -> anyhow::Result<()> {
    let now = state.clock.now();
    let before = now - chrono::Duration::seconds(state.config.payment_reconcile_after_secs as i64);
    let batch = state
        .store
        .stale_payments(before, *cursor, RECONCILE_BATCH)
        .await?;
    *cursor = match batch.last() {
        Some(last) if batch.len() == RECONCILE_BATCH => Some(last.id),
        _ => None, // the end: start over next time
    };
    for payment in batch {
        if let Err(err) = reconcile_order(state, payment.order_id, Reread::Sweep).await {
            tracing::warn!(order_id = %payment.order_id, error = %err, "reconciliation failed");
        }
    }
    for payment in state.store.due_refunds(now).await? {
        if let Err(err) = refund(state, &payment).await {
            tracing::warn!(order_id = %payment.order_id, error = %err, "refund attempt failed");
        }
    }
    Ok(())
}

/// Runs `sweep` forever, every `payment_sweep_secs` (not at all while online payment is off).
pub async fn run_background(state: AppState) {
    if state.payment_provider.is_none() {
        return;
    }
    let interval = Duration::from_millis(state.config.payment_sweep_ms.max(50));
    let mut tick = tokio::time::interval(interval);
    let mut cursor = None;
    loop {
        tick.tick().await;
        if let Err(err) = sweep(&state, &mut cursor).await {
            tracing::warn!(error = %err, "payment sweep failed");
        }
    }
}
