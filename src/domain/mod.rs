//! Pure types and rules of the product: no I/O, no framework types. Everything that reaches the
//! store or the API has been parsed into these first.

pub mod error;
pub mod ids;
pub mod menu;
pub mod menu_labels;
pub mod order;
pub mod payment;
pub mod pricing;
pub mod printer;
pub mod report;
pub mod restaurant;
pub mod table;
pub mod user;

use chrono::{DateTime, TimeZone, Utc};

/// Timestamps are stored as Unix milliseconds; the API speaks RFC 3339 UTC.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
