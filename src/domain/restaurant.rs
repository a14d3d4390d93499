//! Restaurants.

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
