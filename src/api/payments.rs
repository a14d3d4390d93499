//! `/api/v1/payments`: initiate and confirm (the seed's), and Toss's webhook.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::domain::ids::{GuestId, OrderId, TabPaymentId};
use crate::domain::user::Role;
use crate::error::AppError;
use crate::http::extract::{AppJson, parse_json};
use crate::orders::visible_order;
use crate::payments::provider::ProviderKind;
use crate::payments::{Checkout, Confirmed, PaymentError, Reread};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/payments/initiate", post(initiate))
        .route("/api/v1/payments/confirm", post(confirm))
        .route("/api/v1/payments/webhook", post(webhook))
}

#[derive(Deserialize)]
struct InitiateRequest {
    order_id: String,
    amount: i64,
    #[serde(default)]
    payment_method: Option<String>,
}

/// Money is the customer's, the owner's and the floor's business; the kitchen's account only
/// marks food ready.
fn may_take_payments(user: &AuthUser) -> Result<(), AppError> {
    match user.role {
        Role::Kitchen => Err(AppError::Forbidden(
            "the kitchen's account does not take payments",
        )),
        _ => Ok(()),
    }
}

/// A signed-in account that may take payments (checked before the body is read).
struct Payer(AuthUser);

impl FromRequestParts<AppState> for Payer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        may_take_payments(&user)?;
        Ok(Payer(user))
    }
}

/// The order's customer (or its restaurant's owner or floor staff) starts paying it.
async fn initiate(
    State(state): State<AppState>,
    Payer(user): Payer,
    AppJson(body): AppJson<InitiateRequest>,
) -> Result<Json<Checkout>, AppError> {
    let order = visible_order(&state, &user, &body.order_id).await?;
    let method = body.payment_method.unwrap_or_else(|| "CARD".into());
    if method.is_empty() || method.len() > 30 {
        return Err(AppError::validation(
            "payment_method",
            "unknown payment method",
        ));
    }
    Ok(Json(
        state.payments.initiate(&order, body.amount, method).await?,
    ))
}

/// Payment outcomes in the API's terms.
impl From<PaymentError> for AppError {
    fn from(err: PaymentError) -> Self {
        match err {
            PaymentError::NotConfigured => AppError::PaymentsNotConfigured,
            PaymentError::Invalid { field, reason } => AppError::validation(field, reason),
            PaymentError::NotFound(what) => AppError::NotFound(what),
            PaymentError::Conflict { message, details } => AppError::Conflict { message, details },
            PaymentError::Declined { code, message } => AppError::PaymentDeclined { code, message },
            PaymentError::ProviderUnavailable => AppError::ProviderUnavailable,
            PaymentError::Busy => AppError::Unavailable,
            PaymentError::Field(field) => field.into(),
            PaymentError::Store(err) => err.into(),
        }
    }
}

/// Toss's success redirect carries these three; the box's success page posts them here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfirmRequest {
    payment_key: String,
    order_id: String,
    amount: i64,
}

/// With Toss, the payment key itself proves the payment (Toss checks it); in test mode nothing
/// does, so the simulated provider confirms only for the order's customer or owner.
async fn confirm(
    State(state): State<AppState>,
    user: Option<AuthUser>,
    AppJson(body): AppJson<ConfirmRequest>,
) -> Result<Json<Confirmed>, AppError> {
    let key = body.payment_key.trim();
    if key.is_empty() || key.len() > 200 {
        return Err(AppError::validation(
            "paymentKey",
            "must be 1 to 200 characters",
        ));
    }
    let order_id: OrderId = body
        .order_id
        .parse()
        .map_err(|_| AppError::validation("orderId", "not an order id of this box"))?;
    let simulated = state.payments.provider_kind() == Some(ProviderKind::Simulated);
    // The orderId may be a payment towards a table's tab.
    if state.store.order(order_id).await?.is_none()
        && let Some(payment) = state.store.tab_payment(TabPaymentId(order_id.0)).await?
    {
        if simulated {
            let user = user.ok_or(AppError::Unauthorized(
                "a test-mode payment is confirmed only with the table's token",
            ))?;
            // A guest of that party, or the restaurant's owner.
            let allowed = match (&user.table, user.role) {
                (Some(table), _) => state
                    .store
                    .table_tab(
                        payment.restaurant_id,
                        table.clone(),
                        Some(GuestId(user.user_id.0)),
                    )
                    .await?
                    .is_some_and(|tab| tab.session.id == payment.session_id),
                (None, Role::Owner | Role::Staff) => {
                    user.restaurant_id == Some(payment.restaurant_id)
                }
                (None, _) => false,
            };
            if !allowed || user.restaurant_id != Some(payment.restaurant_id) {
                return Err(AppError::NotFound("payment"));
            }
        }
        return Ok(Json(
            state
                .payments
                .confirm_tab(payment.id, key, body.amount)
                .await?,
        ));
    }
    if simulated {
        let user = user.ok_or(AppError::Unauthorized(
            "a test-mode payment is confirmed only with the order's token",
        ))?;
        may_take_payments(&user)?;
        visible_order(&state, &user, &body.order_id).await?;
    }
    Ok(Json(
        state.payments.confirm(order_id, key, body.amount).await?,
    ))
}

/// Toss's webhook. The body is only a hint of which order changed: the payment is re-read
/// from Toss and that is applied (recording, never charging). Answers at once; the re-read
/// happens in the background, and a delivery counts as handled (so a resend of the same
/// transmission id is ignored) only once the re-read succeeded.
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let event: Value = parse_json(&body)?;
    let transmission_id = headers
        .get("tosspayments-webhook-transmission-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 200)
        .map(str::to_owned);
    if let Some(id) = &transmission_id
        && state.store.webhook_delivery_seen(id.clone()).await?
    {
        return Ok(Json(json!({ "status": "duplicate" })));
    }
    // PAYMENT_STATUS_CHANGED carries a Payment under `data`; DEPOSIT_CALLBACK is flat.
    let order_id = event
        .pointer("/data/orderId")
        .or_else(|| event.get("orderId"))
        .and_then(Value::as_str)
        .and_then(|id| id.parse::<OrderId>().ok());
    let Some(order_id) = order_id else {
        return Ok(Json(json!({ "status": "ignored" })));
    };
    tokio::spawn(async move {
        if let Err(err) = state
            .payments
            .reconcile_order(order_id, Reread::Webhook)
            .await
        {
            tracing::warn!(%order_id, error = %err, "webhook re-read failed; the sweep will retry");
            return;
        }
        if let Some(id) = transmission_id
            && let Err(err) = state
                .store
                .record_webhook_delivery(id, state.clock.now())
                .await
        {
            tracing::warn!(%order_id, error = %err, "could not record a webhook delivery");
        }
    });
    Ok(Json(json!({ "status": "accepted" })))
}
