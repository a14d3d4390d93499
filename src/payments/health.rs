//! Whether the payment provider can be reached: every real call says so, and a light probe
//! asks while nothing else does. An internet outage shows on the board this way (the LAN keeps
//! working, so guests still reach the box while Toss does not).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::provider::{PaymentProvider, ProviderError, ProviderKind, ProviderPayment};
use crate::clock::Clock;

/// What the box last knew about reaching the provider.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Reachability {
    /// `None` until the first call or probe.
    pub reachable: Option<bool>,
    /// Since when it has been as it is.
    pub since: Option<DateTime<Utc>>,
    pub checked_at: Option<DateTime<Utc>>,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
}

#[derive(Default)]
pub struct ProviderHealth {
    state: Mutex<Reachability>,
}

impl ProviderHealth {
    pub fn snapshot(&self) -> Reachability {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, outcome: Result<(), &str>, now: DateTime<Utc>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let reachable = outcome.is_ok();
        if state.reachable != Some(reachable) {
            match outcome {
                Ok(()) if state.reachable.is_some() => {
                    tracing::info!("the payment provider answers again")
                }
                Ok(()) => {}
                Err(why) => tracing::warn!(error = why, "the payment provider cannot be reached"),
            }
            state.reachable = Some(reachable);
            state.since = Some(now);
        }
        state.checked_at = Some(now);
        if let Err(why) = outcome {
            state.last_error = Some(why.to_owned());
        }
    }
}

/// A provider whose every answer (or silence) is recorded in a `ProviderHealth`.
pub struct Monitored {
    pub inner: Arc<dyn PaymentProvider>,
    pub health: Arc<ProviderHealth>,
    pub clock: Clock,
}

impl Monitored {
    fn note<T>(&self, result: Result<T, ProviderError>) -> Result<T, ProviderError> {
        let now = self.clock.now();
        match &result {
            Err(ProviderError::Unreachable(why)) => self.health.record(Err(why), now),
            // A refusal is an answer: the provider is there.
            Ok(_) | Err(ProviderError::Rejected { .. }) => self.health.record(Ok(()), now),
        }
        result
    }
}

#[async_trait]
impl PaymentProvider for Monitored {
    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }

    fn client_key(&self) -> Option<String> {
        self.inner.client_key()
    }

    async fn confirm(
        &self,
        payment_key: &str,
        order_id: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError> {
        self.note(
            self.inner
                .confirm(payment_key, order_id, amount, idempotency_key)
                .await,
        )
    }

    async fn lookup_order(&self, order_id: &str) -> Result<Option<ProviderPayment>, ProviderError> {
        self.note(self.inner.lookup_order(order_id).await)
    }

    async fn lookup_payment(
        &self,
        payment_key: &str,
    ) -> Result<Option<ProviderPayment>, ProviderError> {
        self.note(self.inner.lookup_payment(payment_key).await)
    }

    async fn cancel(
        &self,
        payment_key: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError> {
        self.note(
            self.inner
                .cancel(payment_key, reason, idempotency_key)
                .await,
        )
    }

    async fn probe(&self) -> Result<(), ProviderError> {
        self.note(self.inner.probe().await)
    }
}
