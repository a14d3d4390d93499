//! The simulated provider, used when no `TOSS_SECRET_KEY` is set: the box's own, clearly
//! labelled test-mode checkout page stands in for Toss's window, and this provider stands in
//! for Toss's API. It approves payment keys the test page issued (`sim_…`) and declines those
//! the page marked as declined (`sim_decline_…`), so the demo and the browser test run the
//! whole payment flow without a Toss account. Nothing is charged.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;

use super::provider::{
    PaymentProvider, ProviderError, ProviderKind, ProviderPayment, ProviderStatus,
};

/// What Toss answers for a payment key it never issued.
fn not_found() -> ProviderError {
    ProviderError::Rejected {
        code: "NOT_FOUND_PAYMENT".into(),
        message: "존재하지 않는 결제 정보 입니다.".into(),
    }
}

#[derive(Default)]
pub struct SimulatedProvider {
    /// Payments by order id.
    payments: Mutex<HashMap<String, ProviderPayment>>,
}

impl SimulatedProvider {
    fn payments(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProviderPayment>> {
        self.payments.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl PaymentProvider for SimulatedProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Simulated
    }

    fn client_key(&self) -> Option<String> {
        None
    }

    async fn confirm(
        &self,
        payment_key: &str,
        order_id: &str,
        amount: i64,
        _idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError> {
        if !payment_key.starts_with("sim_") {
            return Err(not_found());
        }
        if payment_key.starts_with("sim_decline_") {
            return Err(ProviderError::Rejected {
                code: "REJECT_CARD_PAYMENT".into(),
                message: "한도초과 혹은 잔액부족으로 결제에 실패했습니다. (테스트 모드)".into(),
            });
        }
        let mut payments = self.payments();
        if let Some(existing) = payments.get(order_id) {
            return if existing.payment_key == payment_key {
                Ok(existing.clone())
            } else {
                Err(ProviderError::Rejected {
                    code: "ALREADY_PROCESSED_PAYMENT".into(),
                    message: "이미 처리된 결제 입니다.".into(),
                })
            };
        }
        let payment = ProviderPayment {
            payment_key: payment_key.to_owned(),
            order_id: order_id.to_owned(),
            status: ProviderStatus::Done,
            total_amount: amount,
            method: Some("테스트 결제".into()),
            approved_at: Some(Utc::now()),
            failure: None,
        };
        payments.insert(order_id.to_owned(), payment.clone());
        Ok(payment)
    }

    async fn lookup_order(&self, order_id: &str) -> Result<Option<ProviderPayment>, ProviderError> {
        Ok(self.payments().get(order_id).cloned())
    }

    async fn lookup_payment(
        &self,
        payment_key: &str,
    ) -> Result<Option<ProviderPayment>, ProviderError> {
        Ok(self
            .payments()
            .values()
            .find(|p| p.payment_key == payment_key)
            .cloned())
    }

    async fn cancel(
        &self,
        payment_key: &str,
        _reason: &str,
        _idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError> {
        if !payment_key.starts_with("sim_") {
            return Err(not_found());
        }
        let mut payments = self.payments();
        match payments.values_mut().find(|p| p.payment_key == payment_key) {
            Some(payment) => {
                payment.status = ProviderStatus::Canceled;
                Ok(payment.clone())
            }
            // Approved before a restart: nothing was ever charged, so the refund simply holds.
            None => Ok(ProviderPayment {
                payment_key: payment_key.to_owned(),
                order_id: String::new(),
                status: ProviderStatus::Canceled,
                total_amount: 0,
                method: None,
                approved_at: None,
                failure: None,
            }),
        }
    }
}
