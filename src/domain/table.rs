//! Tables: their labels ("3", "A-12", "테라스1") as printed on the QR codes, and the table
//! session — one party's running tab from its first order (or call) until the owner closes it:
//! every order from every phone at the table, staff calls, and what has been paid.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::error::{Checked, FieldError};
use super::ids::{CallId, OrderId, RestaurantId, TableSessionId};
use super::order::{Order, OrderStatus, PaymentMode, PaymentStatus};

pub const MAX_TABLE_CHARS: usize = 10;

pub fn parse_table_label(field: &str, raw: &str) -> Checked<String> {
    let label = raw.trim();
    if label.is_empty() {
        return Err(FieldError::new(field, "table number is required"));
    }
    if label.chars().count() > MAX_TABLE_CHARS {
        return Err(FieldError::new(
            field,
            "table number must be at most 10 characters",
        ));
    }
    if label
        .chars()
        .any(|c| c.is_control() || matches!(c, '/' | '?' | '#' | '%' | '\\'))
    {
        return Err(FieldError::new(
            field,
            "table number contains a character that cannot be used",
        ));
    }
    Ok(label.to_owned())
}

/// Table labels are strings ("3", "A-12"), but clients often send table 3 as the number 3;
/// both are accepted.
pub fn label_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Label {
        Text(String),
        Number(u64),
    }
    Ok(
        match Label::deserialize(d).map_err(|_| {
            serde::de::Error::custom("table number must be a string like \"3\" or a whole number")
        })? {
            Label::Text(text) => text,
            Label::Number(n) => n.to_string(),
        },
    )
}

pub fn optional_label_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapper(#[serde(deserialize_with = "label_or_number")] String);
    Ok(Option::<Wrapper>::deserialize(d)?.map(|Wrapper(label)| label))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SessionStatus {
    Open,
    Closed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "OPEN",
            SessionStatus::Closed => "CLOSED",
        }
    }
}

impl FromStr for SessionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "OPEN" => Ok(SessionStatus::Open),
            "CLOSED" => Ok(SessionStatus::Closed),
            other => Err(format!("unknown table session status {other:?}")),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TableSession {
    pub id: TableSessionId,
    #[serde(skip)]
    pub restaurant_id: RestaurantId,
    #[serde(skip)]
    pub table_number: String,
    pub status: SessionStatus,
    pub opened_at: DateTime<Utc>,
    #[serde(skip)]
    pub last_order_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

/// A new party takes in the guests who scanned its table this long before anyone ordered (they
/// sat down and browsed first); older scans are from guests who have left, who must never see
/// this party's tab.
pub const PARTY_GATHERS: chrono::Duration = chrono::Duration::minutes(30);

/// What a guest asks staff for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CallKind {
    Water,
    Cutlery,
    /// The bill, please.
    Bill,
    Staff,
}

impl CallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Water => "WATER",
            CallKind::Cutlery => "CUTLERY",
            CallKind::Bill => "BILL",
            CallKind::Staff => "STAFF",
        }
    }
}

impl FromStr for CallKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            CallKind::Water,
            CallKind::Cutlery,
            CallKind::Bill,
            CallKind::Staff,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown call kind {s:?}"))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TableCall {
    pub id: CallId,
    pub kind: CallKind,
    pub note: Option<String>,
    /// `OPEN` until staff acknowledge it, then `ACKED`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub acked_at: Option<DateTime<Utc>>,
}

/// How a tab (or part of it) was paid at the counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SettleMethod {
    Card,
    Cash,
    Other,
}

impl SettleMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SettleMethod::Card => "CARD",
            SettleMethod::Cash => "CASH",
            SettleMethod::Other => "OTHER",
        }
    }
}

/// A table's running bill: what its orders cost, what has been paid, what remains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TabTotals {
    pub total_amount: i64,
    pub paid_amount: i64,
    pub remaining_amount: i64,
    /// Paid beyond the bill: an order was rejected or cancelled after the tab was paid. The
    /// restaurant owes it back (at the counter; the board shows it).
    pub overpaid_amount: i64,
}

/// Orders rejected or cancelled cost nothing, and a PREPAY order is on the bill only once it is
/// paid (until then it is not an order the kitchen makes, and paying it is its own checkout's
/// business). An order paid on its own (PREPAY online, or at the counter on completion) is
/// paid; the rest is paid by settling the tab (`settled`: settlements of the session so far).
pub fn tab_totals(orders: &[Order], settled: i64) -> TabTotals {
    let live = orders
        .iter()
        .filter(|o| on_bill(o))
        .map(|o| (o.total_amount, o.payment_status));
    let (mut total, mut paid) = (0i64, 0i64);
    for (amount, payment) in live {
        total += amount;
        if payment == PaymentStatus::Paid {
            paid += amount;
        }
    }
    TabTotals::from_sums(total, paid, settled)
}

/// Whether an order is on the bill (the stores' sums filter the same way).
pub fn on_bill(order: &Order) -> bool {
    !matches!(order.status, OrderStatus::Rejected | OrderStatus::Cancelled)
        && (order.payment_mode == PaymentMode::Postpay
            || order.payment_status == PaymentStatus::Paid)
}

impl TabTotals {
    /// From the sums of the tab's live orders (`total`), those of them paid on their own
    /// (`orders_paid`), and the counter settlements.
    pub fn from_sums(total: i64, orders_paid: i64, settled: i64) -> TabTotals {
        let paid = orders_paid + settled;
        TabTotals {
            total_amount: total,
            paid_amount: paid,
            remaining_amount: (total - paid).max(0),
            overpaid_amount: (paid - total).max(0),
        }
    }
}

/// An amount paid at the counter towards a tab: at least 1 won, at most what remains.
pub fn check_settlement(amount: i64, remaining: i64) -> Checked<i64> {
    if remaining <= 0 {
        return Err(FieldError::new("amount", "nothing remains to be paid"));
    }
    if !(1..=remaining).contains(&amount) {
        return Err(FieldError::new(
            "amount",
            format!("must be between 1 and the remaining {remaining} won"),
        ));
    }
    Ok(amount)
}

/// How a guest pays towards the tab from their phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TabPaymentKind {
    /// Everything that remains.
    All,
    /// Chosen orders (their own, "my items").
    Items,
    /// An equal share of the bill among `shares` people (더치페이).
    Share,
}

impl TabPaymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TabPaymentKind::All => "ALL",
            TabPaymentKind::Items => "ITEMS",
            TabPaymentKind::Share => "SHARE",
        }
    }
}

impl FromStr for TabPaymentKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            TabPaymentKind::All,
            TabPaymentKind::Items,
            TabPaymentKind::Share,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown tab payment kind {s:?}"))
    }
}

/// The most people a bill is split among.
pub const MAX_SHARES: u32 = 20;

/// What a guest's payment towards the tab must be, decided here and never taken from the
/// phone: the remainder; the chosen orders (`items_total`); or one share of the bill's total,
/// rounded up to the won (the last share pays what is left). Never more than what remains.
pub fn tab_payment_amount(
    kind: TabPaymentKind,
    totals: &TabTotals,
    items_total: i64,
    shares: Option<u32>,
) -> Checked<i64> {
    let remaining = totals.remaining_amount;
    if remaining <= 0 {
        return Err(FieldError::new("amount", "nothing remains to be paid"));
    }
    let due = match kind {
        TabPaymentKind::All => remaining,
        TabPaymentKind::Items if items_total <= 0 => {
            return Err(FieldError::new(
                "order_ids",
                "choose orders that are still unpaid",
            ));
        }
        TabPaymentKind::Items => items_total,
        TabPaymentKind::Share => {
            let n = shares
                .filter(|n| (2..=MAX_SHARES).contains(n))
                .ok_or_else(|| {
                    FieldError::new(
                        "shares",
                        format!("a number of people from 2 to {MAX_SHARES}"),
                    )
                })?;
            let n = i64::from(n);
            (totals.total_amount + n - 1) / n
        }
    };
    Ok(due.min(remaining))
}

/// The chosen orders' total: each must be on the tab, on the bill (not rejected or cancelled),
/// not paid on its own, and not already paid for by another payment from a phone (`covered`).
pub fn items_total(orders: &[Order], chosen: &[OrderId], covered: &[OrderId]) -> Checked<i64> {
    if chosen.is_empty() {
        return Err(FieldError::new("order_ids", "choose at least one order"));
    }
    let mut total = 0;
    for (i, id) in chosen.iter().enumerate() {
        if chosen[..i].contains(id) {
            return Err(FieldError::new("order_ids", "an order is chosen twice"));
        }
        let order = orders
            .iter()
            .find(|o| o.id == *id)
            .ok_or_else(|| FieldError::new("order_ids", "an order that is not on this table"))?;
        if !on_bill(order) || order.payment_status == PaymentStatus::Paid || covered.contains(id) {
            return Err(FieldError::new(
                "order_ids",
                format!("order {} is not open for payment", order.order_number),
            ));
        }
        total += order.total_amount;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tab_adds_up_its_live_orders() {
        use crate::domain::ids::{GuestId, OrderId};
        use crate::domain::order::{Customer, PaymentMode};
        let order = |total, status, payment| Order {
            id: OrderId::new(),
            order_number: "A001".into(),
            restaurant_id: RestaurantId::new(),
            table_number: Some("1".into()),
            status,
            payment_status: payment,
            payment_mode: PaymentMode::Postpay,
            payment_required: false,
            total_amount: total,
            special_requests: None,
            items: Vec::new(),
            estimated_ready_at: None,
            message: None,
            reject_reason: None,
            cancel_reason: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            test_payment: false,
            table_session_id: None,
            customer: Customer::Guest(GuestId::new()),
        };
        let orders = [
            order(18000, OrderStatus::Completed, PaymentStatus::Pending),
            order(9000, OrderStatus::Accepted, PaymentStatus::Paid),
            order(5000, OrderStatus::Rejected, PaymentStatus::Pending),
        ];
        let tab = tab_totals(&orders, 10000);
        assert_eq!(tab.total_amount, 27000);
        assert_eq!(tab.paid_amount, 19000);
        assert_eq!(tab.remaining_amount, 8000);
        assert!(check_settlement(8000, tab.remaining_amount).is_ok());
        assert!(check_settlement(8001, tab.remaining_amount).is_err());
        assert!(check_settlement(0, tab.remaining_amount).is_err());
        assert!(check_settlement(1, 0).is_err());
    }

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(parse_table_label("t", " 3 ").unwrap(), "3");
        assert_eq!(parse_table_label("t", "테라스1").unwrap(), "테라스1");
        assert!(parse_table_label("t", "").is_err());
        assert!(parse_table_label("t", "12345678901").is_err());
        assert!(parse_table_label("t", "a/b").is_err());
    }

    #[test]
    fn a_tab_payment_is_what_the_server_says_and_never_more_than_remains() {
        let totals = TabTotals::from_sums(23_000, 0, 0);
        assert_eq!(
            tab_payment_amount(TabPaymentKind::All, &totals, 0, None),
            Ok(23_000)
        );
        // 23,000 among 3: 7,667 each, rounded up; the last pays what is left.
        assert_eq!(
            tab_payment_amount(TabPaymentKind::Share, &totals, 0, Some(3)),
            Ok(7_667)
        );
        let after_two = TabTotals::from_sums(23_000, 0, 15_334);
        assert_eq!(
            tab_payment_amount(TabPaymentKind::Share, &after_two, 0, Some(3)),
            Ok(7_666)
        );
        assert_eq!(
            tab_payment_amount(TabPaymentKind::Items, &after_two, 9_000, None),
            Ok(7_666)
        );
        for bad in [None, Some(1), Some(21)] {
            assert!(tab_payment_amount(TabPaymentKind::Share, &totals, 0, bad).is_err());
        }
        let paid = TabTotals::from_sums(23_000, 23_000, 0);
        assert!(tab_payment_amount(TabPaymentKind::All, &paid, 0, None).is_err());
    }
}
