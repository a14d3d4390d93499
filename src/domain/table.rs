//! Table labels ("3", "A-12", "테라스1") as printed on the QR codes.

use serde::{Deserialize, Deserializer};

use super::error::{Checked, FieldError};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(parse_table_label("t", " 3 ").unwrap(), "3");
        assert_eq!(parse_table_label("t", "테라스1").unwrap(), "테라스1");
        assert!(parse_table_label("t", "").is_err());
        assert!(parse_table_label("t", "12345678901").is_err());
        assert!(parse_table_label("t", "a/b").is_err());
    }
}
