//! A rule broken by some input, with the path of the offending field
//! (e.g. `items[1].options[0].choice`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

pub type Checked<T> = Result<T, FieldError>;
