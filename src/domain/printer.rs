//! Kitchen printers as the owner configures them, and the rules of which ticket each one gets.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{Checked, FieldError};
use super::ids::{CategoryId, PrinterId, RestaurantId};
use super::order::{Order, OrderStatus, PaymentMode, PaymentStatus};

/// When a printer prints an order: as soon as the kitchen may make it, or once accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrintOn {
    NewOrder,
    Accepted,
}

impl PrintOn {
    pub fn as_str(self) -> &'static str {
        match self {
            PrintOn::NewOrder => "NEW_ORDER",
            PrintOn::Accepted => "ACCEPTED",
        }
    }
}

impl FromStr for PrintOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "NEW_ORDER" => Ok(PrintOn::NewOrder),
            "ACCEPTED" => Ok(PrintOn::Accepted),
            other => Err(format!("unknown print trigger {other:?}")),
        }
    }
}

/// The text encoding a printer expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TextEncoding {
    /// Korean thermal printers' default code page (KS X 1001, read as CP949).
    #[serde(rename = "EUC-KR")]
    EucKr,
    #[serde(rename = "UTF-8")]
    Utf8,
}

impl TextEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            TextEncoding::EucKr => "EUC-KR",
            TextEncoding::Utf8 => "UTF-8",
        }
    }
}

impl FromStr for TextEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "EUC-KR" => Ok(TextEncoding::EucKr),
            "UTF-8" => Ok(TextEncoding::Utf8),
            other => Err(format!("unknown encoding {other:?}")),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Printer {
    pub id: PrinterId,
    #[serde(skip)]
    pub restaurant_id: RestaurantId,
    pub name: String,
    /// `host:port` of the printer's raw TCP socket (JetDirect, usually port 9100).
    pub address: String,
    pub paper_width_mm: u32,
    pub encoding: TextEncoding,
    /// The categories whose lines this printer prints; empty: every line.
    pub category_ids: Vec<CategoryId>,
    pub print_on: PrintOn,
}

impl Printer {
    /// Characters per line in the printer's normal font A (12 × 24 dots): 32 on 58 mm paper,
    /// 48 on 80 mm. A Korean syllable takes two.
    pub fn columns(&self) -> usize {
        if self.paper_width_mm >= 80 { 48 } else { 32 }
    }

    pub fn covers(&self, category: Option<CategoryId>) -> bool {
        self.category_ids.is_empty() || category.is_some_and(|c| self.category_ids.contains(&c))
    }
}

pub fn check_printer_name(raw: &str) -> Checked<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 40 {
        return Err(FieldError::new("name", "1 to 40 characters"));
    }
    Ok(name.to_owned())
}

/// `host:port`, port 1–65535; a bare host means port 9100 (raw printing's usual port).
pub fn check_printer_address(raw: &str) -> Checked<String> {
    let raw = raw.trim();
    let invalid = || FieldError::new("address", "the printer's host:port, e.g. 192.168.0.50:9100");
    if raw.is_empty()
        || raw.len() > 100
        || raw.contains('/')
        || raw.chars().any(char::is_whitespace)
    {
        return Err(invalid());
    }
    let (host, port) = match raw.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.starts_with('[') => (
            host,
            port.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(invalid)?,
        ),
        _ => (raw, 9100),
    };
    if host.is_empty() {
        return Err(invalid());
    }
    Ok(format!("{host}:{port}"))
}

pub fn check_paper_width(width: u32) -> Checked<u32> {
    match width {
        58 | 80 => Ok(width),
        _ => Err(FieldError::new("paper_width_mm", "58 or 80")),
    }
}

/// What a print job prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketKind {
    Order,
    /// The order was cancelled or rejected after its ticket went to the kitchen.
    Cancel,
    /// Printed again on request (marked 재출력).
    Reprint,
    Test,
}

impl TicketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketKind::Order => "ORDER",
            TicketKind::Cancel => "CANCEL",
            TicketKind::Reprint => "REPRINT",
            TicketKind::Test => "TEST",
        }
    }
}

impl FromStr for TicketKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            TicketKind::Order,
            TicketKind::Cancel,
            TicketKind::Reprint,
            TicketKind::Test,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown ticket kind {s:?}"))
    }
}

/// What just happened to an order, as far as the kitchen's printers care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderMoment {
    /// The kitchen may make it: placed (POSTPAY), or paid (PREPAY) while still waiting.
    Actionable,
    Accepted,
    /// Cancelled or rejected.
    Withdrawn,
    Other,
}

/// The moment an order change is, for printing: `paid_now` when this change is its payment.
pub fn order_moment(order: &Order, placed_now: bool, paid_now: bool) -> OrderMoment {
    match order.status {
        OrderStatus::Rejected | OrderStatus::Cancelled => OrderMoment::Withdrawn,
        OrderStatus::Accepted if !placed_now && !paid_now => OrderMoment::Accepted,
        OrderStatus::Pending if placed_now && order.payment_mode == PaymentMode::Postpay => {
            OrderMoment::Actionable
        }
        OrderStatus::Pending if paid_now && order.payment_status == PaymentStatus::Paid => {
            OrderMoment::Actionable
        }
        _ => OrderMoment::Other,
    }
}

/// Whether a printer prints an order's ticket at this moment.
pub fn prints_now(printer: &Printer, moment: OrderMoment) -> bool {
    matches!(
        (printer.print_on, moment),
        (PrintOn::NewOrder, OrderMoment::Actionable) | (PrintOn::Accepted, OrderMoment::Accepted)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_and_port_with_9100_by_default() {
        assert_eq!(
            check_printer_address("192.168.0.50:9100").unwrap(),
            "192.168.0.50:9100"
        );
        assert_eq!(
            check_printer_address(" kitchen.local ").unwrap(),
            "kitchen.local:9100"
        );
        assert_eq!(check_printer_address("[::1]:9101").unwrap(), "[::1]:9101");
        for bad in ["", ":9100", "host:0", "host:99999", "http://x", "a b:1"] {
            assert!(check_printer_address(bad).is_err(), "{bad}");
        }
    }
}
