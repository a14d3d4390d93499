//! Restaurants and the settings their owners control.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

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

#[derive(Clone, Debug)]
pub struct Restaurant {
    pub id: RestaurantId,
    pub owner_id: UserId,
    pub name: String,
    pub table_ordering_enabled: bool,
    pub payment_mode: PaymentMode,
    pub time_zone: Tz,
    /// Bumped by every change to the menu or these settings.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
}

/// Settings an owner may change; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default)]
pub struct RestaurantChanges {
    pub name: Option<RestaurantName>,
    pub table_ordering_enabled: Option<bool>,
    pub payment_mode: Option<PaymentMode>,
    pub time_zone: Option<Tz>,
}

pub fn parse_time_zone(field: &str, name: &str) -> Checked<Tz> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| FieldError::new(field, "not an IANA time zone name (e.g. Asia/Seoul)"))
}
