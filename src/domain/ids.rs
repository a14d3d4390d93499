//! Identifier newtypes, so a user id can never be passed where an order id is expected.
//! New ids are UUIDv7: time-ordered keys keep SQLite's B-trees append-mostly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($name:ident) => {
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(UserId);
id_type!(RestaurantId);
id_type!(SessionId);
id_type!(CategoryId);
id_type!(MenuItemId);
id_type!(OptionId);
id_type!(OrderId);
id_type!(PaymentId);
id_type!(GuestId);
id_type!(TableSessionId);
id_type!(CallId);
id_type!(SettlementId);
id_type!(TabPaymentId);
id_type!(PrinterId);
id_type!(PrintJobId);
