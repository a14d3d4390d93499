//! Users, roles and the input rules for registering them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{RestaurantId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    Customer,
    Owner,
    /// Works the board for an owner: orders, tables, calls, sold out.
    Staff,
    /// Works the kitchen display: marks orders ready.
    Kitchen,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "CUSTOMER",
            Role::Owner => "OWNER",
            Role::Staff => "STAFF",
            Role::Kitchen => "KITCHEN",
        }
    }

    /// Accounts an owner creates for the shop.
    pub fn is_shop_staff(self) -> bool {
        matches!(self, Role::Staff | Role::Kitchen)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "CUSTOMER" => Ok(Role::Customer),
            "OWNER" => Ok(Role::Owner),
            "STAFF" => Ok(Role::Staff),
            "KITCHEN" => Ok(Role::Kitchen),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// A syntactically plausible, normalised (trimmed, lower-cased) e-mail address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("email is required");
        }
        if email.len() > 254 {
            return Err("email must be at most 254 characters");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("not an email address");
        };
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        let chars_ok = !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
        if local.is_empty() || !domain_ok || !chars_ok {
            return Err("not an email address");
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub const MIN_PASSWORD_CHARS: usize = 8;
/// bcrypt only looks at the first 72 bytes; longer passwords would silently be truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;

pub fn check_password_policy(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err("password must be at least 8 characters");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err("password must be at most 72 bytes");
    }
    Ok(())
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("name is required");
        }
        if name.chars().count() > 100 {
            return Err("name must be at most 100 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("name must not contain control characters");
        }
        Ok(PersonName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The restaurant an owner runs; `None` for customers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restaurant_id: Option<RestaurantId>,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Kim@Example.COM ").unwrap().as_str(),
            "kim@example.com"
        );
        for bad in [
            "",
            "kim",
            "kim@",
            "@example.com",
            "kim@example",
            "kim@@example.com",
            "kim @example.com",
            "kim@.example.com",
            "kim@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn password_policy_counts_characters_not_bytes() {
        assert!(check_password_policy("1234567").is_err());
        assert!(check_password_policy("12345678").is_ok());
        assert!(check_password_policy("가나다라마바사아").is_ok());
        assert!(check_password_policy(&"x".repeat(73)).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(PersonName::parse(" 홍길동 ").unwrap().as_str(), "홍길동");
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse(&"가".repeat(101)).is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
    }
}
