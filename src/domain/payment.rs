//! Payments of orders: one row per attempt; at most one open or completed payment per order.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{OrderId, PaymentId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentState {
    /// Initiated; the customer may be authenticating with Toss.
    Pending,
    Completed,
    /// Declined or expired; the order may be paid again.
    Failed,
    Refunded,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Pending => "PENDING",
            PaymentState::Completed => "COMPLETED",
            PaymentState::Failed => "FAILED",
            PaymentState::Refunded => "REFUNDED",
        }
    }
}

impl FromStr for PaymentState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PENDING" => Ok(PaymentState::Pending),
            "COMPLETED" => Ok(PaymentState::Completed),
            "FAILED" => Ok(PaymentState::Failed),
            "REFUNDED" => Ok(PaymentState::Refunded),
            other => Err(format!("unknown payment state {other:?}")),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Payment {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub amount: i64,
    pub status: PaymentState,
    pub method: Option<String>,
    pub payment_key: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// `NONE`, `PENDING` (owed, being retried) or `DONE`.
    pub refund_status: String,
    pub refund_reason: Option<String>,
    pub refund_attempts: i64,
    /// Made with the simulated provider (test mode): nothing was charged.
    pub simulated: bool,
    pub created_at: DateTime<Utc>,
}

/// Toss's `orderName`: what the customer sees in the payment window (1–100 characters).
pub fn order_name(restaurant: &str, order_number: &str) -> String {
    let name = format!("{restaurant} 주문 {order_number}");
    name.chars().take(100).collect()
}
