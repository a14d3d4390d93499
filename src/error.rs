//! The one application error type and its mapping to the seed's error envelope:
//! `{"error":{"code","message","details"}}`. Handlers return `Result<_, AppError>` and use `?`;
//! every status and machine code is decided here and nowhere else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input. `field` names the offending input (e.g. `items[1].options[0].choice`).
    #[error("validation failed on {field}: {reason}")]
    Validation { field: String, reason: String },
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A state conflict; `details` tells the client what the current state is.
    #[error("conflict: {message}")]
    Conflict {
        message: String,
        details: Option<Value>,
    },
    #[error("rate limit exceeded")]
    RateLimited { retry_after_secs: u64 },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The payment provider declined; `code` is its error code.
    #[error("payment declined: {code}")]
    PaymentDeclined { code: String, message: String },
    /// The payment provider could not be reached; the payment stays pending and is settled
    /// by reconciliation.
    #[error("payment provider unavailable")]
    ProviderUnavailable,
    /// The store is overloaded, unreachable or out of disk; the client may retry.
    #[error("service unavailable")]
    Unavailable,
    /// An owner-surface request arrived over plain HTTP (see `surfaces`).
    #[error("HTTPS required")]
    HttpsRequired,
    /// The guest's party has left (its table was closed): scanning the QR code again starts
    /// the next party's session.
    #[error("table session closed")]
    TableSessionClosed,
    /// Online payment was asked for, but the box has neither a Toss key nor the simulated
    /// provider.
    #[error("online payments are not configured")]
    PaymentsNotConfigured,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict {
            message: message.into(),
            details: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Validation { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::HttpsRequired => StatusCode::FORBIDDEN,
            AppError::PaymentsNotConfigured => StatusCode::CONFLICT,
            AppError::TableSessionClosed => StatusCode::CONFLICT,
            AppError::PaymentDeclined { .. } => StatusCode::PAYMENT_REQUIRED,
            AppError::ProviderUnavailable => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::HttpsRequired => "HTTPS_REQUIRED",
            AppError::PaymentsNotConfigured => "PAYMENTS_NOT_CONFIGURED",
            AppError::TableSessionClosed => "TABLE_SESSION_CLOSED",
            other => code_for_status(other.status()),
        }
    }

    fn message(&self) -> String {
        match self {
            AppError::Validation { .. } => "request data is invalid".into(),
            AppError::Unauthorized(why) => format!("authentication required: {why}"),
            AppError::Forbidden(why) => format!("not allowed: {why}"),
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::Conflict { message, .. } => message.clone(),
            AppError::RateLimited { .. } => "too many requests; slow down".into(),
            AppError::PayloadTooLarge => "request body is too large".into(),
            AppError::UnsupportedMediaType => {
                "request body must be JSON (Content-Type: application/json)".into()
            }
            AppError::MethodNotAllowed => "method not allowed on this path".into(),
            AppError::Unavailable => "service temporarily unavailable; try again".into(),
            AppError::HttpsRequired => {
                "this part of OrderSync is only served over HTTPS; open it with https://".into()
            }
            AppError::TableSessionClosed => {
                "this table's session has ended; scan the QR code on the table again".into()
            }
            AppError::PaymentsNotConfigured => {
                "online payment is not set up on this box (no Toss Payments key); customers \
                 pay at the counter"
                    .into()
            }
            AppError::PaymentDeclined { message, .. } => format!("payment declined: {message}"),
            AppError::ProviderUnavailable => {
                "the payment provider could not be reached; the payment is pending and will be \
                 settled automatically"
                    .into()
            }
            AppError::Internal(_) => generic_message(StatusCode::INTERNAL_SERVER_ERROR).into(),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            AppError::Validation { field, reason } => {
                Some(json!({ "field": field, "reason": reason }))
            }
            AppError::Conflict { details, .. } => details.clone(),
            AppError::RateLimited { retry_after_secs } => {
                Some(json!({ "retry_after_seconds": retry_after_secs }))
            }
            AppError::PaymentDeclined { code, message } => {
                Some(json!({ "provider_code": code, "provider_message": message }))
            }
            _ => None,
        }
    }
}

/// The seed's machine codes, plus a few for cases none of them fits (documented in README).
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "VALIDATION_ERROR",
        401 => "UNAUTHORIZED",
        402 => "PAYMENT_DECLINED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        408 => "REQUEST_TIMEOUT",
        409 => "CONFLICT",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        422 => "VALIDATION_ERROR",
        429 => "RATE_LIMIT_EXCEEDED",
        502 => "PAYMENT_PROVIDER_UNAVAILABLE",
        503 => "SERVICE_UNAVAILABLE",
        s if s >= 500 => "INTERNAL_ERROR",
        // Any other client error (e.g. 426 from a WebSocket route opened without an upgrade):
        // the seed's code for "this request is not acceptable as sent".
        _ => "VALIDATION_ERROR",
    }
}

pub fn generic_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "request data is invalid",
        401 => "authentication required",
        402 => "payment declined",
        403 => "not allowed",
        404 => "resource not found",
        405 => "method not allowed on this path",
        408 => "request timed out",
        409 => "conflict with the current state",
        413 => "request body is too large",
        415 => "unsupported content type",
        429 => "too many requests; slow down",
        502 => "the payment provider could not be reached",
        503 => "service temporarily unavailable; try again",
        s if s >= 500 => "internal server error",
        _ => "request failed",
    }
}

/// Builds the envelope body; used by `AppError` and by the middleware that wraps framework
/// responses which carry no envelope of their own.
pub fn envelope(status: StatusCode, message: &str, details: Option<Value>) -> Response {
    envelope_with_code(status, code_for_status(status), message, details)
}

pub fn envelope_with_code(
    status: StatusCode,
    code: &str,
    message: &str,
    details: Option<Value>,
) -> Response {
    let mut error = json!({ "code": code, "message": message });
    if let Some(details) = details {
        error["details"] = details;
    }
    let mut response = (status, axum::Json(json!({ "error": error }))).into_response();
    response.extensions_mut().insert(EnvelopeMarker);
    response
}

/// Marks a response whose body already is our envelope.
#[derive(Clone, Copy)]
pub struct EnvelopeMarker;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let AppError::Internal(cause) = &self {
            // The span of the request carries the request id, tying this line to the response.
            tracing::error!(error = ?cause, "internal error");
        }
        let mut response = envelope_with_code(status, self.code(), &self.message(), self.details());
        match &self {
            AppError::Unavailable => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            AppError::RateLimited { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            AppError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<crate::domain::error::FieldError> for AppError {
    fn from(err: crate::domain::error::FieldError) -> Self {
        AppError::Validation {
            field: err.field,
            reason: err.reason,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => AppError::NotFound("resource"),
            StoreError::Conflict(what) => {
                // `what` is the database's wording (table and column names): log it, don't send it.
                tracing::warn!(rule = %what, "request conflicts with stored data");
                AppError::conflict("this conflicts with data that already exists")
            }
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "store unavailable");
                AppError::Unavailable
            }
            StoreError::OutOfSpace(cause) => {
                tracing::error!(error = %cause, "the disk is full: nothing can be saved");
                AppError::Unavailable
            }
            StoreError::Other(cause) => AppError::Internal(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_the_seed_codes() {
        assert_eq!(
            AppError::validation("email", "bad").code(),
            "VALIDATION_ERROR"
        );
        assert_eq!(AppError::Unauthorized("x").code(), "UNAUTHORIZED");
        assert_eq!(AppError::Forbidden("x").code(), "FORBIDDEN");
        assert_eq!(AppError::NotFound("order").code(), "NOT_FOUND");
        assert_eq!(AppError::conflict("x").code(), "CONFLICT");
        assert_eq!(
            AppError::RateLimited {
                retry_after_secs: 1
            }
            .code(),
            "RATE_LIMIT_EXCEEDED"
        );
        assert_eq!(AppError::HttpsRequired.code(), "HTTPS_REQUIRED");
        assert_eq!(AppError::HttpsRequired.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            AppError::PaymentsNotConfigured.code(),
            "PAYMENTS_NOT_CONFIGURED"
        );
        assert_eq!(
            AppError::Internal(anyhow::anyhow!("secret detail")).code(),
            "INTERNAL_ERROR"
        );
    }

    #[test]
    fn internal_errors_never_leak_their_cause() {
        let err = AppError::Internal(anyhow::anyhow!("db password is hunter2"));
        assert!(!err.message().contains("hunter2"));
        assert!(err.details().is_none());
    }
}
