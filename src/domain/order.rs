//! Orders: statuses and the one state machine that changes them, payment modes, order numbers
//! and business days.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ids::{GuestId, OrderId, RestaurantId, UserId};
use super::pricing::PricedLine;

/// Who placed an order: a registered customer or a guest from a table QR code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Customer {
    User(UserId),
    Guest(GuestId),
}

impl Customer {
    /// The id orders are filed under (user and guest ids never collide: both are UUIDs).
    pub fn key(self) -> uuid::Uuid {
        match self {
            Customer::User(id) => id.0,
            Customer::Guest(id) => id.0,
        }
    }
}

/// An order as customers and owners see it (the JSON of `GET /orders/{id}`).
#[derive(Clone, Debug, Serialize)]
pub struct Order {
    #[serde(rename = "order_id")]
    pub id: OrderId,
    pub order_number: String,
    pub restaurant_id: RestaurantId,
    pub table_number: Option<String>,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub payment_mode: PaymentMode,
    /// The customer still has to pay online before the kitchen may start.
    pub payment_required: bool,
    pub total_amount: i64,
    pub special_requests: Option<String>,
    pub items: Vec<PricedLine>,
    pub estimated_ready_at: Option<DateTime<Utc>>,
    /// The owner's note to the customer (given when accepting).
    pub message: Option<String>,
    pub reject_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Paid through the simulated provider (test mode): nothing was charged.
    pub test_payment: bool,
    /// The table's party (tab) this order belongs to.
    pub table_session_id: Option<super::ids::TableSessionId>,
    #[serde(skip)]
    pub customer: Customer,
}

impl Order {
    pub fn payment_required(mode: PaymentMode, payment: PaymentStatus) -> bool {
        mode == PaymentMode::Prepay && payment == PaymentStatus::Pending
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Accepted,
    Ready,
    Completed,
    Rejected,
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
    Ready,
    Complete,
    Cancel,
    /// Undoes a READY marked by mistake (the kitchen display's undo): back to ACCEPTED.
    Recall,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::Accepted,
        OrderStatus::Ready,
        OrderStatus::Completed,
        OrderStatus::Rejected,
        OrderStatus::Cancelled,
    ];

    /// PENDING → ACCEPTED → READY → COMPLETED; PENDING → REJECTED; PENDING → CANCELLED;
    /// READY → ACCEPTED (recalled).
    pub fn after(self, action: Action) -> Option<OrderStatus> {
        use OrderStatus::*;
        match (self, action) {
            (Pending, Action::Accept) => Some(Accepted),
            (Pending, Action::Reject) => Some(Rejected),
            (Pending, Action::Cancel) => Some(Cancelled),
            (Accepted, Action::Ready) => Some(Ready),
            (Ready, Action::Complete) => Some(Completed),
            (Ready, Action::Recall) => Some(Accepted),
            _ => None,
        }
    }

    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderStatus::Pending | OrderStatus::Accepted | OrderStatus::Ready
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Accepted => "ACCEPTED",
            OrderStatus::Ready => "READY",
            OrderStatus::Completed => "COMPLETED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown order status {s:?}"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Pending,
    Paid,
    /// A refund is owed and being retried.
    RefundPending,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "PENDING",
            PaymentStatus::Paid => "PAID",
            PaymentStatus::RefundPending => "REFUND_PENDING",
            PaymentStatus::Refunded => "REFUNDED",
        }
    }
}

impl FromStr for PaymentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            PaymentStatus::Pending,
            PaymentStatus::Paid,
            PaymentStatus::RefundPending,
            PaymentStatus::Refunded,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| format!("unknown payment status {s:?}"))
    }
}

/// When the customer pays: before the kitchen starts (the seed's default) or at the counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PaymentMode {
    Prepay,
    Postpay,
}

impl PaymentMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMode::Prepay => "PREPAY",
            PaymentMode::Postpay => "POSTPAY",
        }
    }
}

impl FromStr for PaymentMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PREPAY" => Ok(PaymentMode::Prepay),
            "POSTPAY" => Ok(PaymentMode::Postpay),
            other => Err(format!("unknown payment mode {other:?}")),
        }
    }
}

/// What a state-machine action will write, decided from the order as it was read. A store
/// persists it only if the order still is `(from_status, from_payment)` (a compare-and-set on
/// everything the decision read); otherwise it reads the order again and asks again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransitionPlan {
    pub from_status: OrderStatus,
    pub from_payment: PaymentStatus,
    pub to_status: OrderStatus,
    pub to_payment: PaymentStatus,
    /// A paid order was rejected or cancelled: its payment owes a refund.
    pub refund_owed: bool,
    /// POSTPAY completed: the customer paid at the counter; record that payment.
    pub paid_at_counter: bool,
}

/// Decides `action` on `order`, or refuses it with the reason. `on_tab`: the order belongs to a
/// table's party, whose tab is paid at the counter as a whole (so completing a POSTPAY order
/// records no payment of its own).
pub fn plan_transition(
    status: OrderStatus,
    payment: PaymentStatus,
    mode: PaymentMode,
    on_tab: bool,
    action: Action,
) -> Result<TransitionPlan, &'static str> {
    let to_status = status
        .after(action)
        .ok_or("not allowed from the order's current status")?;
    if action == Action::Accept && mode == PaymentMode::Prepay && payment != PaymentStatus::Paid {
        return Err("the order is not paid yet");
    }
    let paid_at_counter = action == Action::Complete
        && mode == PaymentMode::Postpay
        && payment == PaymentStatus::Pending
        && !on_tab;
    let refund_owed =
        matches!(action, Action::Reject | Action::Cancel) && payment == PaymentStatus::Paid;
    let to_payment = if paid_at_counter {
        PaymentStatus::Paid
    } else if refund_owed {
        PaymentStatus::RefundPending
    } else {
        payment
    };
    Ok(TransitionPlan {
        from_status: status,
        from_payment: payment,
        to_status,
        to_payment,
        refund_owed,
        paid_at_counter,
    })
}

/// What recording an approved payment will write, decided from the order and its open payment
/// as read; persisted with a compare-and-set on both, like `TransitionPlan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettlementPlan {
    /// Mark the payment COMPLETED and the order `to_payment` (PAID, or REFUND_PENDING when the
    /// order was closed before the money arrived: the customer is owed it back).
    Pay {
        order_status: OrderStatus,
        to_payment: PaymentStatus,
        refund_owed: bool,
    },
    /// The order's payment is already settled; nothing to record.
    AlreadySettled,
    /// The provider approved another amount than the order's: never recorded.
    AmountMismatch,
}

pub fn plan_settlement(
    status: OrderStatus,
    payment: PaymentStatus,
    payment_amount: i64,
    approved_amount: i64,
) -> SettlementPlan {
    if payment != PaymentStatus::Pending {
        return SettlementPlan::AlreadySettled;
    }
    if payment_amount != approved_amount {
        return SettlementPlan::AmountMismatch;
    }
    let closed = matches!(status, OrderStatus::Rejected | OrderStatus::Cancelled);
    SettlementPlan::Pay {
        order_status: status,
        to_payment: if closed {
            PaymentStatus::RefundPending
        } else {
            PaymentStatus::Paid
        },
        refund_owed: closed,
    }
}

/// How many times a store re-reads and re-plans when a compare-and-set finds the order changed.
pub const PLAN_ATTEMPTS: usize = 5;

/// The `n`-th order of a business day (1-based): A001 … A999, B001 … Z999, then AA001 ….
pub fn order_number(n: u32) -> String {
    let n = n.max(1) - 1;
    let (mut block, number) = (n / 999, n % 999 + 1);
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (block % 26) as u8);
        if block < 26 {
            break;
        }
        block = block / 26 - 1;
    }
    letters.reverse();
    format!(
        "{}{number:03}",
        String::from_utf8(letters).expect("ASCII letters")
    )
}

/// The restaurant's calendar day at `now`: the order counter restarts at local midnight, not
/// at UTC midnight (09:00 in Korea).
pub fn business_day(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// The business day (YYYY-MM-DD) an order is filed and numbered under: its own, unless the
/// restaurant already numbered orders on a later one. A clock set back past midnight must not
/// reopen an earlier day and hand out its order numbers again.
pub fn filing_day(own: &str, latest_numbered: Option<String>) -> String {
    match latest_numbered {
        Some(latest) if latest.as_str() > own => latest,
        _ => own.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_clock_set_back_keeps_the_later_business_day() {
        assert_eq!(filing_day("2026-12-02", None), "2026-12-02");
        assert_eq!(
            filing_day("2026-12-02", Some("2026-12-01".into())),
            "2026-12-02"
        );
        assert_eq!(
            filing_day("2026-12-01", Some("2026-12-02".into())),
            "2026-12-02"
        );
    }

    #[test]
    fn only_the_documented_transitions_exist() {
        use OrderStatus::*;
        let legal = [
            (Pending, Action::Accept, Accepted),
            (Pending, Action::Reject, Rejected),
            (Pending, Action::Cancel, Cancelled),
            (Accepted, Action::Ready, Ready),
            (Ready, Action::Complete, Completed),
            (Ready, Action::Recall, Accepted),
        ];
        for from in OrderStatus::ALL {
            for action in [
                Action::Accept,
                Action::Reject,
                Action::Ready,
                Action::Complete,
                Action::Cancel,
                Action::Recall,
            ] {
                let expected = legal
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                assert_eq!(from.after(action), expected, "{from:?} {action:?}");
            }
        }
    }

    #[test]
    fn transitions_plan_payments_with_them() {
        use OrderStatus::*;
        use PaymentStatus as P;
        let plan = |s, p, m, a| plan_transition(s, p, m, false, a);
        assert_eq!(
            plan(Pending, P::Pending, PaymentMode::Prepay, Action::Accept),
            Err("the order is not paid yet")
        );
        let paid_reject = plan(Pending, P::Paid, PaymentMode::Prepay, Action::Reject).unwrap();
        assert!(paid_reject.refund_owed);
        assert_eq!(paid_reject.to_payment, P::RefundPending);
        let counter = plan(Ready, P::Pending, PaymentMode::Postpay, Action::Complete).unwrap();
        assert!(counter.paid_at_counter && counter.to_payment == P::Paid);
        // On a table's tab, the tab is paid as a whole.
        let tab = plan_transition(
            Ready,
            P::Pending,
            PaymentMode::Postpay,
            true,
            Action::Complete,
        )
        .unwrap();
        assert!(!tab.paid_at_counter && tab.to_payment == P::Pending);
        let unpaid_cancel = plan(Pending, P::Pending, PaymentMode::Prepay, Action::Cancel).unwrap();
        assert!(!unpaid_cancel.refund_owed);
        assert_eq!(unpaid_cancel.to_payment, P::Pending);
        assert!(plan(Completed, P::Paid, PaymentMode::Prepay, Action::Cancel).is_err());
    }

    #[test]
    fn money_for_a_closed_order_is_owed_back() {
        use OrderStatus::*;
        use PaymentStatus as P;
        assert_eq!(
            plan_settlement(Rejected, P::Pending, 18000, 18000),
            SettlementPlan::Pay {
                order_status: Rejected,
                to_payment: P::RefundPending,
                refund_owed: true
            }
        );
        assert_eq!(
            plan_settlement(Pending, P::Pending, 18000, 18000),
            SettlementPlan::Pay {
                order_status: Pending,
                to_payment: P::Paid,
                refund_owed: false
            }
        );
        assert_eq!(
            plan_settlement(Pending, P::Pending, 18000, 1000),
            SettlementPlan::AmountMismatch
        );
        assert_eq!(
            plan_settlement(Accepted, P::Paid, 18000, 18000),
            SettlementPlan::AlreadySettled
        );
    }

    #[test]
    fn order_numbers_roll_over_letters() {
        assert_eq!(order_number(1), "A001");
        assert_eq!(order_number(999), "A999");
        assert_eq!(order_number(1000), "B001");
        assert_eq!(order_number(26 * 999), "Z999");
        assert_eq!(order_number(26 * 999 + 1), "AA001");
    }

    #[test]
    fn the_business_day_follows_the_restaurant_clock() {
        let seoul: Tz = "Asia/Seoul".parse().unwrap();
        // 14:59 UTC is 23:59 in Seoul; 15:00 UTC is the next day there.
        let before = Utc.with_ymd_and_hms(2026, 11, 26, 14, 59, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 26, 15, 0, 0).unwrap();
        assert_eq!(business_day(before, seoul).to_string(), "2026-11-26");
        assert_eq!(business_day(after, seoul).to_string(), "2026-11-27");
        // UTC midnight is 09:00 in Seoul: same business day.
        let utc_midnight = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
        assert_eq!(business_day(utc_midnight, seoul).to_string(), "2026-11-27");
    }
}
