//! Restaurants and the settings their owners control.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::error::{Checked, FieldError};
use super::ids::{RestaurantId, UserId};
use super::order::PaymentMode;

/// A restaurant's name as customers see it: trimmed, 1 to 200 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestaurantName(String);

impl RestaurantName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("restaurant name is required");
        }
        if name.chars().count() > 200 {
            return Err("restaurant name must be at most 200 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("restaurant name must not contain control characters");
        }
        Ok(RestaurantName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Seoul;

/// How a registered customer proves which table they sit at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TableVerification {
    /// The signature of the table's QR code (a guest token carries it already).
    Qr,
    /// Any signed-in customer may name a table, as the original MVP did.
    Open,
}

impl TableVerification {
    pub fn as_str(self) -> &'static str {
        match self {
            TableVerification::Qr => "QR",
            TableVerification::Open => "OPEN",
        }
    }
}

impl FromStr for TableVerification {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "QR" => Ok(TableVerification::Qr),
            "OPEN" => Ok(TableVerification::Open),
            other => Err(format!("unknown table verification {other:?}")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Restaurant {
    pub id: RestaurantId,
    pub owner_id: UserId,
    pub name: String,
    pub table_ordering_enabled: bool,
    pub payment_mode: PaymentMode,
    pub time_zone: Tz,
    pub table_verification: TableVerification,
    /// What a guest's phone says when their order is ready ("가져다 드릴게요" at table service,
    /// "카운터에서 받아 가세요" for pickup); `None`: a neutral default.
    pub ready_message: Option<String>,
    /// The restaurant's tables as the owner lists them (e.g. "1-12, 테라스"), for the table view
    /// and the QR sheet; `None` until set.
    pub tables: Option<String>,
    /// Bumped by every change to the menu or these settings.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    /// Since when new orders are paid at the counter because online payment cannot be reached
    /// (the owner's switch during an internet outage); `None`: the chosen mode applies.
    pub counter_payment_since: Option<DateTime<Utc>>,
    /// The base URL the table QR codes were last made with, and when.
    pub printed_base_url: Option<(String, DateTime<Utc>)>,
}

/// Settings an owner may change; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default)]
pub struct RestaurantChanges {
    pub name: Option<RestaurantName>,
    pub table_ordering_enabled: Option<bool>,
    pub payment_mode: Option<PaymentMode>,
    pub time_zone: Option<Tz>,
    pub table_verification: Option<TableVerification>,
    /// `Some(None)` clears it back to the default.
    pub ready_message: Option<Option<String>>,
    pub tables: Option<Option<String>>,
}

impl RestaurantChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.table_ordering_enabled.is_none()
            && self.payment_mode.is_none()
            && self.time_zone.is_none()
            && self.table_verification.is_none()
            && self.ready_message.is_none()
            && self.tables.is_none()
    }
}

impl Restaurant {
    /// The mode new orders get: the chosen one, or POSTPAY while the box takes no online
    /// payments or the owner switched to the counter (a PREPAY order could then never be paid,
    /// so never accepted).
    pub fn payment_mode_in_effect(&self, online_payments: bool) -> PaymentMode {
        if online_payments && self.counter_payment_since.is_none() {
            self.payment_mode
        } else {
            PaymentMode::Postpay
        }
    }
}

pub fn parse_time_zone(field: &str, name: &str) -> Checked<Tz> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| FieldError::new(field, "not an IANA time zone name (e.g. Asia/Seoul)"))
}
