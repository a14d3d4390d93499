//! Toss Payments over HTTP (reqwest + rustls): Basic auth with the secret key, JSON, timeouts,
//! an `Idempotency-Key` on every POST (the caller's, stable per logical operation, so a retry
//! reuses it), errors decided by Toss's `code` rather than the HTTP status, unknown fields and
//! enum values tolerated. Retryable failures are retried with the same key; when an answer is
//! still missing, the payment is looked up before anything is decided.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::provider::{
    PaymentProvider, ProviderError, ProviderKind, ProviderPayment, ProviderStatus,
};

/// Toss error codes whose documented meaning is "temporary; try again".
const RETRYABLE: &[&str] = &[
    "PROVIDER_ERROR",
    "FAILED_INTERNAL_SYSTEM_PROCESSING",
    "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
    "UNKNOWN_PAYMENT_ERROR",
    "COMMON_ERROR",
    "FORBIDDEN_CONSECUTIVE_REQUEST",
    "IDEMPOTENT_REQUEST_PROCESSING",
];

/// Codes that mean our key or request is wrong, not the customer's payment: never a decline.
const MISCONFIGURED: &[&str] = &[
    "UNAUTHORIZED_KEY",
    "INCORRECT_BASIC_AUTH_FORMAT",
    "INVALID_API_KEY",
    "INVALID_IDEMPOTENCY_KEY",
];

fn misconfigured(code: &str) -> bool {
    if MISCONFIGURED.contains(&code) {
        tracing::error!(
            code,
            "Toss refused our credentials or request; check TOSS_SECRET_KEY"
        );
        return true;
    }
    false
}

pub struct TossClient {
    http: reqwest::Client,
    base: String,
    authorization: HeaderValue,
    client_key: Option<String>,
    attempts: u32,
    backoff: Duration,
}

enum CallError {
    /// Toss answered with its `{code, message}` error object.
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// An error status without Toss's error object (a proxy or gateway in between): it says
    /// nothing about the payment.
    Gateway(StatusCode),
    Transport(String),
}

impl CallError {
    fn retryable(&self) -> bool {
        match self {
            CallError::Transport(_) => true,
            CallError::Gateway(status) => status.is_server_error(),
            CallError::Api { status, code, .. } => {
                RETRYABLE.contains(&code.as_str()) || status.is_server_error()
            }
        }
    }

    /// Toss's final word that this request failed (a decline, an expired session, "already
    /// processed"); `None` when the outcome is unknown.
    fn decline(&self) -> Option<(String, String)> {
        match self {
            CallError::Api {
                status,
                code,
                message,
            } if status.is_client_error() && !self.retryable() && !misconfigured(code) => {
                Some((code.clone(), message.clone()))
            }
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            CallError::Api { code, message, .. } => format!("{code}: {message}"),
            CallError::Gateway(status) => format!("HTTP {status} without a Toss error body"),
            CallError::Transport(why) => why.clone(),
        }
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn parse_payment(value: &Value) -> Result<ProviderPayment, ProviderError> {
    let malformed = || ProviderError::Unreachable("Toss sent a payment we cannot read".into());
    Ok(ProviderPayment {
        payment_key: text(value, "paymentKey").ok_or_else(malformed)?,
        order_id: text(value, "orderId").ok_or_else(malformed)?,
        status: ProviderStatus::parse(&text(value, "status").ok_or_else(malformed)?),
        total_amount: value
            .get("totalAmount")
            .and_then(Value::as_f64)
            .map(|a| a.round() as i64)
            .ok_or_else(malformed)?,
        method: text(value, "method"),
        approved_at: text(value, "approvedAt")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)),
        failure: value
            .get("failure")
            .and_then(|f| Some((text(f, "code")?, text(f, "message").unwrap_or_default()))),
    })
}

impl TossClient {
    pub fn new(
        base: &str,
        secret_key: &str,
        client_key: Option<String>,
        timeout: Duration,
    ) -> anyhow::Result<TossClient> {
        // Toss: Basic base64("{secretKey}:"), with the colon.
        let credentials = STANDARD.encode(format!("{secret_key}:"));
        let mut authorization = HeaderValue::from_str(&format!("Basic {credentials}"))?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .user_agent(concat!("ordersync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(TossClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            authorization,
            client_key,
            attempts: 3,
            backoff: Duration::from_millis(250),
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, CallError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.authorization.clone());
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        match text(&value, "code") {
            Some(code) => Err(CallError::Api {
                status,
                code,
                message: text(&value, "message").unwrap_or_default(),
            }),
            None => Err(CallError::Gateway(status)),
        }
    }

    /// Calls until a final answer, retrying what Toss says is temporary (same idempotency key).
    async fn call_with_retries(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, CallError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.call(method.clone(), path, body, idempotency_key).await {
                Err(err) if err.retryable() && attempt < self.attempts => {
                    tracing::warn!(path, attempt, error = %err.describe(), "Toss call failed; retrying");
                    tokio::time::sleep(self.backoff * attempt).await;
                }
                other => return other,
            }
        }
    }

    async fn lookup(&self, path: &str) -> Result<Option<ProviderPayment>, ProviderError> {
        match self.call_with_retries(Method::GET, path, None, None).await {
            Ok(value) => parse_payment(&value).map(Some),
            Err(CallError::Api { code, .. })
                if matches!(code.as_str(), "NOT_FOUND_PAYMENT" | "NOT_FOUND") =>
            {
                Ok(None)
            }
            Err(err) => Err(ProviderError::Unreachable(err.describe())),
        }
    }
}

/// Keeps path segments intact (order ids are UUIDs, payment keys are URL-safe anyway).
fn encode(segment: &str) -> String {
    crate::auth::table::encode_path_segment(segment)
}

#[async_trait]
impl PaymentProvider for TossClient {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Toss
    }

    fn client_key(&self) -> Option<String> {
        self.client_key.clone()
    }

    async fn confirm(
        &self,
        payment_key: &str,
        order_id: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError> {
        let body = json!({ "paymentKey": payment_key, "orderId": order_id, "amount": amount });
        let outcome = self
            .call_with_retries(
                Method::POST,
                "/v1/payments/confirm",
                Some(&body),
                Some(idempotency_key),
            )
            .await;
        let failure = match outcome {
            Ok(value) => return parse_payment(&value),
            Err(err) => err,
        };
        if let CallError::Api { code, message, .. } = &failure
            && misconfigured(code)
        {
            return Err(ProviderError::Unreachable(format!("{code}: {message}")));
        }
        // Before deciding anything, ask Toss. First about this payment: a lost answer
        // (timeout, gateway error, "still processing") may hide its approval. Then, if Toss
        // refused it, about the order: a refusal such as a duplicate order id may hide the
        // approval of an earlier payment. An approved order is never recorded as unpaid.
        match self.lookup_payment(payment_key).await {
            Ok(Some(payment)) if payment.status == ProviderStatus::Done => return Ok(payment),
            Ok(Some(payment))
                if matches!(
                    payment.status,
                    ProviderStatus::Aborted | ProviderStatus::Expired
                ) =>
            {
                let (code, message) = failure
                    .decline()
                    .unwrap_or_else(|| payment.failure_or_expired());
                return Err(ProviderError::Rejected { code, message });
            }
            Ok(_) => {}
            Err(_) => return Err(ProviderError::Unreachable(failure.describe())),
        }
        let Some((code, message)) = failure.decline() else {
            return Err(ProviderError::Unreachable(failure.describe()));
        };
        match self.lookup_order(order_id).await {
            Ok(Some(payment)) if payment.status == ProviderStatus::Done => Ok(payment),
            Ok(_) => Err(ProviderError::Rejected { code, message }),
            Err(_) => Err(ProviderError::Unreachable(format!(
                "{code}: {message} (the order could not be checked)"
            ))),
        }
    }

    /// Looks up an order id that never exists: Toss's "not found" is an answer, so reachable;
    /// no answer, or a gateway error without Toss's body, is an outage.
    async fn probe(&self) -> Result<(), ProviderError> {
        match self
            .call(
                Method::GET,
                "/v1/payments/orders/ordersync-reachability-probe",
                None,
                None,
            )
            .await
        {
            Ok(_) | Err(CallError::Api { .. }) => Ok(()),
            Err(err) => Err(ProviderError::Unreachable(err.describe())),
        }
    }

    async fn lookup_order(&self, order_id: &str) -> Result<Option<ProviderPayment>, ProviderError> {
        self.lookup(&format!("/v1/payments/orders/{}", encode(order_id)))
            .await
    }

    async fn lookup_payment(
        &self,
        payment_key: &str,
    ) -> Result<Option<ProviderPayment>, ProviderError> {
        self.lookup(&format!("/v1/payments/{}", encode(payment_key)))
            .await
    }

    async fn cancel(
        &self,
        payment_key: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError> {
        let reason: String = reason.chars().take(200).collect();
        let body = json!({ "cancelReason": reason });
        let path = format!("/v1/payments/{}/cancel", encode(payment_key));
        match self
            .call_with_retries(Method::POST, &path, Some(&body), Some(idempotency_key))
            .await
        {
            Ok(value) => parse_payment(&value),
            Err(CallError::Api { code, .. }) if code == "ALREADY_CANCELED_PAYMENT" => {
                // Our earlier attempt went through; that is the goal.
                self.lookup_payment(payment_key)
                    .await?
                    .ok_or_else(|| ProviderError::Unreachable("cancelled payment not found".into()))
            }
            Err(err) if err.retryable() => Err(ProviderError::Unreachable(err.describe())),
            Err(CallError::Api { code, message, .. }) if misconfigured(&code) => {
                Err(ProviderError::Unreachable(format!("{code}: {message}")))
            }
            Err(CallError::Api { code, message, .. }) => {
                Err(ProviderError::Rejected { code, message })
            }
            Err(err) => Err(ProviderError::Unreachable(err.describe())),
        }
    }
}
