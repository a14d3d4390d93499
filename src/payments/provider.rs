//! The payment-provider seam: Toss Payments over HTTP, or the simulated provider the box runs
//! when no Toss key is configured. Both speak in Toss's terms (payment key, order id, status,
//! error code).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    Toss,
    Simulated,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Toss => "toss",
            ProviderKind::Simulated => "simulated",
        }
    }
}

/// Toss's payment status; unknown values are kept, not rejected (Toss adds values freely).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderStatus {
    Ready,
    InProgress,
    WaitingForDeposit,
    Done,
    Canceled,
    PartialCanceled,
    Aborted,
    Expired,
    Other(String),
}

impl ProviderStatus {
    pub fn parse(s: &str) -> ProviderStatus {
        match s {
            "READY" => ProviderStatus::Ready,
            "IN_PROGRESS" => ProviderStatus::InProgress,
            "WAITING_FOR_DEPOSIT" => ProviderStatus::WaitingForDeposit,
            "DONE" => ProviderStatus::Done,
            "CANCELED" => ProviderStatus::Canceled,
            "PARTIAL_CANCELED" => ProviderStatus::PartialCanceled,
            "ABORTED" => ProviderStatus::Aborted,
            "EXPIRED" => ProviderStatus::Expired,
            other => ProviderStatus::Other(other.to_owned()),
        }
    }
}

/// What we use of Toss's Payment object.
#[derive(Clone, Debug)]
pub struct ProviderPayment {
    pub payment_key: String,
    pub order_id: String,
    pub status: ProviderStatus,
    pub total_amount: i64,
    pub method: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub failure: Option<(String, String)>,
}

/// Toss's code and message for a payment whose window ran out.
pub fn expired() -> (String, String) {
    ("EXPIRED_PAYMENT".into(), "결제가 만료되었습니다.".into())
}

impl ProviderPayment {
    /// Why the payment did not go through: Toss's `failure`, or an expiry when it names none.
    pub fn failure_or_expired(&self) -> (String, String) {
        self.failure.clone().unwrap_or_else(expired)
    }
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum ProviderError {
    /// A final answer: declined, expired session, invalid request…
    #[error("{code}: {message}")]
    Rejected { code: String, message: String },
    /// No answer we can act on (timeouts, 5xx, retryable errors after retries).
    #[error("payment provider unreachable: {0}")]
    Unreachable(String),
}

#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    fn kind(&self) -> ProviderKind;

    /// The key the browser SDK needs (`None` for the simulated provider).
    fn client_key(&self) -> Option<String>;

    /// Approves an authenticated payment. A retry with the same `idempotency_key` never
    /// charges twice.
    async fn confirm(
        &self,
        payment_key: &str,
        order_id: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError>;

    /// The payment made for `order_id`, if the provider knows one.
    async fn lookup_order(&self, order_id: &str) -> Result<Option<ProviderPayment>, ProviderError>;

    /// The payment with this key, if the provider knows it.
    async fn lookup_payment(
        &self,
        payment_key: &str,
    ) -> Result<Option<ProviderPayment>, ProviderError>;

    /// Cancels (refunds) a whole payment.
    async fn cancel(
        &self,
        payment_key: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError>;

    /// A light request that only shows whether the provider can be reached at all.
    async fn probe(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}
