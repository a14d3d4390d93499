//! Paying a table's tab from a phone: the whole remainder, chosen orders, or an equal share
//! (더치페이). Each is its own provider payment, whose orderId is the tab payment's id; once
//! approved, its money goes on the tab. The same money rules as orders: the server prices the
//! payment and refuses any other amount before the provider hears of it; provider calls for
//! one payment are serialized and carry a stable idempotency key; a confirm whose answer was
//! lost is settled by the sweep from the provider's records.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::provider::{ProviderError, ProviderKind, ProviderPayment, ProviderStatus};
use super::{CHECKOUT_WINDOW, Confirmed, PaymentError, Payments, RECONCILE_BATCH};
use crate::domain::ids::{OrderId, TabPaymentId};
use crate::domain::order::business_day;
use crate::domain::payment::PaymentState;
use crate::domain::table::{SessionStatus, TabPaymentKind, items_total, tab_payment_amount};
use crate::store::{
    NewTabPayment, Reservation, TabPayment, TabSettleOutcome, TabSettlement, TableTab,
};

/// What a guest asks to pay, with the amount their phone showed.
pub struct TabPaymentRequest {
    pub kind: TabPaymentKind,
    pub shares: Option<u32>,
    pub order_ids: Vec<OrderId>,
    pub amount: i64,
}

/// What the checkout page needs to take a tab payment.
#[derive(Serialize)]
pub struct TabCheckout {
    pub tab_payment_id: TabPaymentId,
    /// The orderId the provider knows this payment by.
    pub order_id: TabPaymentId,
    pub kind: TabPaymentKind,
    pub amount: i64,
    pub payment_url: String,
    pub expires_at: DateTime<Utc>,
    /// `toss`, or `simulated` (test mode: nothing is charged).
    pub provider: &'static str,
    pub client_key: Option<String>,
    pub order_name: String,
    pub customer_key: String,
    pub success_url: String,
    pub fail_url: String,
}

impl Payments {
    /// Prices a guest's payment towards their party's open tab and records it as pending.
    pub async fn initiate_tab(
        self: &Arc<Self>,
        tab: &TableTab,
        request: TabPaymentRequest,
    ) -> Result<TabCheckout, PaymentError> {
        let provider = self.provider()?;
        if tab.session.status != SessionStatus::Open {
            return Err(PaymentError::conflict("this table's session has ended"));
        }
        let items = match request.kind {
            // Orders already paid for from a phone are not open for payment again.
            TabPaymentKind::Items => {
                items_total(&tab.orders, &request.order_ids, &tab.paid_order_ids)
                    .map_err(PaymentError::Field)?
            }
            _ => 0,
        };
        let due = tab_payment_amount(request.kind, &tab.totals, items, request.shares)
            .map_err(PaymentError::Field)?;
        if request.amount != due {
            return Err(PaymentError::invalid(
                "amount",
                format!("the amount due is {due} won"),
            ));
        }
        let now = self.clock.now();
        let payment = self
            .store
            .open_tab_payment(NewTabPayment {
                id: TabPaymentId::new(),
                restaurant_id: tab.restaurant_id,
                session_id: tab.session.id,
                kind: request.kind,
                shares: request
                    .shares
                    .filter(|_| request.kind == TabPaymentKind::Share),
                order_ids: match request.kind {
                    TabPaymentKind::Items => request.order_ids,
                    _ => Vec::new(),
                },
                amount: due,
                now,
            })
            .await?;
        let restaurant = self
            .store
            .restaurant(tab.restaurant_id)
            .await?
            .ok_or(PaymentError::NotFound("restaurant"))?;
        let base = &self.settings.guest_base;
        Ok(TabCheckout {
            tab_payment_id: payment.id,
            order_id: payment.id,
            kind: payment.kind,
            amount: payment.amount,
            payment_url: format!("{base}/pay/tab/{}", payment.id),
            expires_at: now + CHECKOUT_WINDOW,
            provider: provider.kind().as_str(),
            client_key: provider.client_key(),
            order_name: format!("{} 테이블 {}", restaurant.name, tab.table_number),
            customer_key: format!("t_{}", tab.session.id.0.simple()),
            success_url: format!("{base}/pay/success"),
            fail_url: format!("{base}/pay/fail"),
        })
    }

    /// Confirms a tab payment the guest authenticated with the provider.
    pub async fn confirm_tab(
        self: &Arc<Self>,
        id: TabPaymentId,
        payment_key: &str,
        amount: i64,
    ) -> Result<Confirmed, PaymentError> {
        let provider = self.provider()?;
        if self.store.tab_payment(id).await?.is_none() {
            return Err(PaymentError::NotFound("payment"));
        }
        let _serialized = self.locks.lock(id.0).await?;
        let payment = self
            .store
            .tab_payment(id)
            .await?
            .ok_or(PaymentError::NotFound("payment"))?;
        if amount != payment.amount {
            return Err(PaymentError::invalid(
                "amount",
                format!("does not match this payment's {} won", payment.amount),
            ));
        }
        match payment.status {
            PaymentState::Completed if payment.payment_key.as_deref() == Some(payment_key) => {
                return Ok(tab_confirmed(id));
            }
            PaymentState::Completed => {
                return Err(PaymentError::conflict("this payment is already made"));
            }
            PaymentState::Failed | PaymentState::Refunded => {
                return Err(PaymentError::conflict(
                    "this payment did not go through; start a new one",
                ));
            }
            PaymentState::Pending => {}
        }
        if let Some(earlier) = payment.payment_key.clone().filter(|k| k != payment_key) {
            // An earlier attempt never got a final answer (its confirm was lost): paying again
            // is only safe once the provider says that attempt did not go through.
            let found = provider.lookup_payment(&earlier).await.map_err(|err| {
                tracing::warn!(%id, error = %err, "could not look up an unresolved tab payment");
                PaymentError::ProviderUnavailable
            })?;
            if let Some(done) = found.filter(|p| p.status == ProviderStatus::Done) {
                self.settle_tab(&payment, &done).await?;
                return Err(PaymentError::conflict("this payment is already made"));
            }
        }
        let now = self.clock.now();
        match self
            .store
            .reserve_tab_payment(id, payment_key.to_owned(), now)
            .await?
        {
            Reservation::Reserved => {}
            Reservation::SessionClosed => {
                return Err(PaymentError::conflict("this table's session has ended"));
            }
            Reservation::Exceeds { available } => {
                return Err(PaymentError::Conflict {
                    message: format!("only {available} won remains to be paid"),
                    details: Some(serde_json::json!({ "remaining_amount": available })),
                });
            }
            Reservation::NotPending => {
                return Err(PaymentError::conflict("this payment is already settled"));
            }
        }
        let key = format!("confirm-tab-{id}-{payment_key}");
        match provider
            .confirm(payment_key, &id.to_string(), amount, &key)
            .await
        {
            Ok(approved) if approved.status == ProviderStatus::Done => {
                self.settle_tab(&payment, &approved).await?;
                Ok(tab_confirmed(id))
            }
            Ok(other) => Err(PaymentError::conflict(format!(
                "the payment is not complete yet ({:?})",
                other.status
            ))),
            Err(ProviderError::Rejected { code, message }) => {
                self.store
                    .fail_tab_payment(id, code.clone(), message.clone(), self.clock.now())
                    .await?;
                self.metrics.payments.with_label_values(&["declined"]).inc();
                Err(PaymentError::Declined { code, message })
            }
            Err(ProviderError::Unreachable(why)) => {
                tracing::warn!(%id, error = %why, "tab payment confirm left pending for reconciliation");
                Err(PaymentError::ProviderUnavailable)
            }
        }
    }

    /// Puts an approved tab payment's money on the tab.
    async fn settle_tab(
        self: &Arc<Self>,
        payment: &TabPayment,
        approved: &ProviderPayment,
    ) -> Result<(), PaymentError> {
        if approved.total_amount != payment.amount {
            tracing::error!(
                id = %payment.id, approved = approved.total_amount, amount = payment.amount,
                "provider approved a different amount than the tab payment"
            );
            return Err(PaymentError::conflict(
                "the approved amount differs from the payment",
            ));
        }
        let restaurant = self
            .store
            .restaurant(payment.restaurant_id)
            .await?
            .ok_or(PaymentError::NotFound("restaurant"))?;
        let now = self.clock.now();
        let outcome = self
            .store
            .settle_tab_payment(TabSettlement {
                id: payment.id,
                payment_key: approved.payment_key.clone(),
                amount: approved.total_amount,
                method: approved.method.clone(),
                approved_at: approved.approved_at.unwrap_or(now),
                simulated: self
                    .provider
                    .as_ref()
                    .is_some_and(|p| p.kind() == ProviderKind::Simulated),
                business_day: business_day(now, restaurant.time_zone).to_string(),
                now,
            })
            .await?;
        match outcome {
            TabSettleOutcome::Paid => {
                self.metrics
                    .payments
                    .with_label_values(&["completed"])
                    .inc();
                Ok(())
            }
            TabSettleOutcome::AlreadyPaid { payment_key }
                if payment_key.as_deref() == Some(&approved.payment_key) =>
            {
                Ok(())
            }
            TabSettleOutcome::AlreadyPaid { .. } => {
                tracing::error!(id = %payment.id, "a second approval for a completed tab payment");
                Err(PaymentError::conflict("this payment is already made"))
            }
            TabSettleOutcome::AmountMismatch => Err(PaymentError::conflict(
                "the approved amount differs from the payment",
            )),
            TabSettleOutcome::NotFound => Err(PaymentError::NotFound("payment")),
        }
    }

    /// Tab payments still pending after a while: approved at the provider but never confirmed
    /// back to us (the answer was lost) are recorded; ones the provider dropped, or never saw
    /// long after the window closed, are marked failed.
    pub(super) async fn reconcile_tab_payments(
        self: &Arc<Self>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let before = now
            - chrono::Duration::from_std(self.settings.reconcile_after)
                .unwrap_or(chrono::Duration::MAX);
        for payment in self
            .store
            .stale_tab_payments(before, RECONCILE_BATCH)
            .await?
        {
            if let Err(err) = self.reconcile_tab(payment.id, now).await {
                tracing::warn!(id = %payment.id, error = %err, "tab payment reconciliation failed");
            }
        }
        Ok(())
    }

    async fn reconcile_tab(
        self: &Arc<Self>,
        id: TabPaymentId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let Some(provider) = self.provider.as_ref() else {
            return Ok(());
        };
        let _serialized = self.locks.lock(id.0).await?;
        let Some(payment) = self.store.tab_payment(id).await? else {
            return Ok(());
        };
        if payment.status != PaymentState::Pending {
            return Ok(());
        }
        match provider.lookup_order(&id.to_string()).await? {
            Some(found) if found.status == ProviderStatus::Done => self
                .settle_tab(&payment, &found)
                .await
                .map_err(|err| anyhow::anyhow!("could not settle: {err}"))?,
            Some(found)
                if matches!(
                    found.status,
                    ProviderStatus::Aborted | ProviderStatus::Expired | ProviderStatus::Canceled
                ) =>
            {
                let (code, message) = found.failure_or_expired();
                self.store.fail_tab_payment(id, code, message, now).await?;
            }
            None if now - payment.created_at > CHECKOUT_WINDOW + chrono::Duration::minutes(10) => {
                self.store
                    .fail_tab_payment(
                        id,
                        "ABANDONED".into(),
                        "the checkout was never completed".into(),
                        now,
                    )
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

fn tab_confirmed(id: TabPaymentId) -> Confirmed {
    Confirmed {
        success: true,
        order_id: id.0,
        payment_status: PaymentState::Completed,
    }
}
