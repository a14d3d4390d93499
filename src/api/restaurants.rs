//! The owner's restaurant: settings (`GET/PATCH /restaurants/me`), the order board
//! (`GET /restaurants/me/orders`) and the state machine (`accept`, `reject`, `ready`,
//! `complete`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::orders::{
    ListQuery, check_note, optional_json, page_json, parse_cursor, parse_limit, transition_result,
};
use crate::app::AppState;
use crate::auth::{Crew, Owner, Staff};
use crate::domain::ids::{OrderId, RestaurantId};
use crate::domain::order::{Action, OrderStatus, PaymentMode};
use crate::domain::restaurant::{
    Restaurant, RestaurantChanges, RestaurantName, TableVerification, parse_time_zone,
};
use crate::error::AppError;
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::store::{Actor, TransitionRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/restaurants/me",
            get(settings).patch(update_settings),
        )
        .route("/api/v1/restaurants/me/orders", get(board))
        .route("/api/v1/restaurants/me/summary", get(summary))
        .route("/api/v1/restaurants/me/qr-codes", get(table_codes))
        .route(
            "/api/v1/restaurants/me/qr-codes/printed",
            post(qr_codes_printed),
        )
        .route("/api/v1/restaurants/me/orders/{id}/accept", post(accept))
        .route("/api/v1/restaurants/me/orders/{id}/reject", post(reject))
        .route("/api/v1/restaurants/me/orders/{id}/ready", post(ready))
        .route("/api/v1/restaurants/me/orders/{id}/recall", post(recall))
        .route(
            "/api/v1/restaurants/me/orders/{id}/complete",
            post(complete),
        )
        .route("/api/v1/restaurants/me/orders/{id}/events", get(order_log))
}

#[derive(Serialize)]
struct SettingsResponse {
    id: RestaurantId,
    name: String,
    table_ordering_enabled: bool,
    payment_mode: PaymentMode,
    /// What new orders get: POSTPAY while the box takes no online payments.
    payment_mode_in_effect: PaymentMode,
    /// `toss`, `simulated` (test mode, nothing charged) or null (online payment off).
    online_payments: Option<&'static str>,
    table_verification: TableVerification,
    ready_message: Option<String>,
    /// The tables as listed (e.g. "1-12, 테라스"), and each of them.
    tables: Option<String>,
    table_list: Vec<String>,
    time_zone: String,
    created_at: DateTime<Utc>,
}

fn settings_response(state: &AppState, r: Restaurant) -> SettingsResponse {
    let provider = state.payments.provider_kind().map(|kind| kind.as_str());
    SettingsResponse {
        id: r.id,
        payment_mode_in_effect: r.payment_mode_in_effect(provider.is_some()),
        online_payments: provider,
        name: r.name,
        table_ordering_enabled: r.table_ordering_enabled,
        payment_mode: r.payment_mode,
        table_verification: r.table_verification,
        ready_message: r.ready_message,
        table_list: r
            .tables
            .as_deref()
            .and_then(|spec| crate::qr::parse_tables(spec).ok())
            .unwrap_or_default(),
        tables: r.tables,
        time_zone: r.time_zone.name().to_owned(),
        created_at: r.created_at,
    }
}

async fn settings(
    State(state): State<AppState>,
    owner: Crew,
) -> Result<Json<SettingsResponse>, AppError> {
    let restaurant = state
        .store
        .restaurant(owner.restaurant_id)
        .await?
        .ok_or(AppError::NotFound("restaurant"))?;
    Ok(Json(settings_response(&state, restaurant)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsPatch {
    name: Option<String>,
    table_ordering_enabled: Option<bool>,
    payment_mode: Option<PaymentMode>,
    time_zone: Option<String>,
    table_verification: Option<TableVerification>,
    /// Absent: unchanged; `null` or blank: back to the default.
    #[serde(default, deserialize_with = "present")]
    ready_message: Option<Option<String>>,
    /// Absent: unchanged; `null` or blank: none listed.
    #[serde(default, deserialize_with = "present")]
    tables: Option<Option<String>>,
}

/// A field that was sent, even as `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

const MAX_READY_MESSAGE: usize = 100;

async fn update_settings(
    State(state): State<AppState>,
    owner: Owner,
    AppJson(patch): AppJson<SettingsPatch>,
) -> Result<Json<SettingsResponse>, AppError> {
    let changes = RestaurantChanges {
        name: patch
            .name
            .map(|n| RestaurantName::parse(&n).map_err(|why| AppError::validation("name", why)))
            .transpose()?,
        table_ordering_enabled: patch.table_ordering_enabled,
        payment_mode: patch.payment_mode,
        time_zone: patch
            .time_zone
            .map(|tz| parse_time_zone("time_zone", &tz))
            .transpose()?,
        table_verification: patch.table_verification,
        ready_message: patch
            .ready_message
            .map(|message| {
                let message = message
                    .map(|m| m.trim().to_owned())
                    .filter(|m| !m.is_empty());
                match message {
                    Some(m) if m.chars().count() > MAX_READY_MESSAGE => Err(AppError::validation(
                        "ready_message",
                        format!("must be at most {MAX_READY_MESSAGE} characters"),
                    )),
                    other => Ok(other),
                }
            })
            .transpose()?,
        tables: patch
            .tables
            .map(|spec| {
                let spec = spec.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
                if let Some(spec) = &spec {
                    crate::qr::parse_tables(spec)?;
                }
                Ok::<_, AppError>(spec)
            })
            .transpose()?,
    };
    if changes.is_empty() {
        return Err(AppError::validation("body", "nothing to change"));
    }
    if changes.payment_mode == Some(PaymentMode::Prepay) && state.payments.provider_kind().is_none()
    {
        return Err(AppError::PaymentsNotConfigured);
    }
    let restaurant = state
        .store
        .update_restaurant(owner.restaurant_id, changes)
        .await?;
    state.events.flushed().await;
    Ok(Json(settings_response(&state, restaurant)))
}

fn parse_statuses(raw: Option<&str>) -> Result<Vec<OrderStatus>, AppError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(|s| {
            s.trim().to_ascii_uppercase().parse().map_err(|_| {
                AppError::validation(
                    "status",
                    "one or more of PENDING, ACCEPTED, READY, COMPLETED, REJECTED, CANCELLED",
                )
            })
        })
        .collect()
}

async fn board(
    State(state): State<AppState>,
    owner: Crew,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Json<Value>, AppError> {
    let statuses = parse_statuses(query.status.as_deref())?;
    let limit = parse_limit(query.limit.as_deref())?;
    let cursor = parse_cursor(query.cursor.as_deref())?;
    let page = state
        .store
        .restaurant_orders(owner.restaurant_id, statuses, cursor, limit)
        .await?;
    Ok(Json(page_json(&state, page)))
}

/// Today's orders and revenue (today = the restaurant's current business day), and every
/// refund still owed, whatever day it is from.
async fn summary(State(state): State<AppState>, owner: Owner) -> Result<Json<Value>, AppError> {
    let restaurant = state
        .store
        .restaurant(owner.restaurant_id)
        .await?
        .ok_or(AppError::NotFound("restaurant"))?;
    let day =
        crate::domain::order::business_day(state.clock.now(), restaurant.time_zone).to_string();
    let summary = state
        .store
        .day_summary(owner.restaurant_id, day.clone())
        .await?;
    let refunds = state.store.refunds_owed(owner.restaurant_id).await?;
    Ok(Json(json!({
        "business_day": day,
        "orders": summary.orders,
        "completed": summary.completed,
        "revenue": summary.revenue,
        "test_revenue": summary.test_revenue,
        "refunds_pending": refunds,
    })))
}

#[derive(Deserialize)]
struct TablesQuery {
    tables: Option<String>,
    base_url: Option<String>,
}

/// Signed QR codes for a range of tables, for the printable sheet.
async fn table_codes(
    State(state): State<AppState>,
    owner: Owner,
    AppQuery(query): AppQuery<TablesQuery>,
) -> Result<Json<Value>, AppError> {
    let tables = crate::qr::parse_tables(query.tables.as_deref().unwrap_or("1-12"))?;
    let base = match query
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        Some(base) if base.starts_with("https://") || base.starts_with("http://") => {
            base.trim_end_matches('/').to_owned()
        }
        Some(_) => {
            return Err(AppError::validation(
                "base_url",
                "must start with https:// or http://",
            ));
        }
        None => state.urls.guest.to_string(),
    };
    let codes: Vec<Value> = tables
        .iter()
        .map(|t| {
            let code = crate::qr::table_code(&state.tables, &base, owner.restaurant_id, t);
            json!({ "table": code.table, "url": code.url, "svg": code.svg })
        })
        .collect();
    Ok(Json(json!({ "base_url": base, "tables": codes })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Printed {
    base_url: String,
}

/// The QR sheet was sent to the printer with `base_url`: what a moved address of the box must
/// later be noticed against (a preview of the sheet records nothing).
async fn qr_codes_printed(
    State(state): State<AppState>,
    owner: Owner,
    AppJson(body): AppJson<Printed>,
) -> Result<StatusCode, AppError> {
    let base = body.base_url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(base).ok();
    if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
        return Err(AppError::validation(
            "base_url",
            "must be an http:// or https:// address",
        ));
    }
    state
        .store
        .record_printed_base_url(owner.restaurant_id, base.to_owned(), state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn apply(
    state: &AppState,
    actor: Actor,
    id: &str,
    action: Action,
    estimated_ready_at: Option<DateTime<Utc>>,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<Json<Value>, AppError> {
    let order_id: OrderId = id.parse().map_err(|_| AppError::NotFound("order"))?;
    let outcome = state
        .store
        .transition_order(TransitionRequest {
            order_id,
            actor,
            action,
            estimated_ready_at,
            note,
            now,
        })
        .await?;
    let order = transition_result(state, outcome)?;
    Ok(Json(json!({
        "order_id": order.id,
        "status": order.status,
        "estimated_ready_at": order.estimated_ready_at,
        "message": order.message,
        "reject_reason": order.reject_reason,
        "payment_status": order.payment_status,
        "updated_at": order.updated_at,
    })))
}

#[derive(Deserialize)]
struct AcceptRequest {
    estimated_time_minutes: i64,
    #[serde(default)]
    message: Option<String>,
}

async fn accept(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<AcceptRequest>,
) -> Result<Json<Value>, AppError> {
    if !(1..=180).contains(&body.estimated_time_minutes) {
        return Err(AppError::validation(
            "estimated_time_minutes",
            "must be between 1 and 180 minutes",
        ));
    }
    let message = check_note("message", body.message.as_deref(), false)?;
    let now = state.clock.now();
    let ready_at = now + Duration::minutes(body.estimated_time_minutes);
    apply(
        &state,
        staff.actor(),
        &id,
        Action::Accept,
        Some(ready_at),
        message,
        now,
    )
    .await
}

#[derive(Deserialize)]
struct RejectRequest {
    #[serde(default)]
    reason: Option<String>,
}

async fn reject(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<RejectRequest>,
) -> Result<Json<Value>, AppError> {
    let reason = check_note("reason", body.reason.as_deref(), true)?;
    let now = state.clock.now();
    apply(
        &state,
        staff.actor(),
        &id,
        Action::Reject,
        None,
        reason,
        now,
    )
    .await
}

/// `ready` and `complete` take no input; a body, if sent, must at least be a JSON object.
#[derive(Deserialize, Default)]
struct EmptyBody {}

/// `ready` and `complete`: a button press, nothing to say.
async fn without_input(
    state: AppState,
    actor: Actor,
    id: String,
    body: Bytes,
    action: Action,
) -> Result<Json<Value>, AppError> {
    let _: EmptyBody = optional_json(&body)?;
    let now = state.clock.now();
    apply(&state, actor, &id, action, None, None, now).await
}

async fn ready(
    State(state): State<AppState>,
    crew: Crew,
    AppPath(id): AppPath<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    without_input(state, crew.actor(), id, body, Action::Ready).await
}

/// Undoes `ready` (a bump on the kitchen display by mistake): the order is being made again.
async fn recall(
    State(state): State<AppState>,
    crew: Crew,
    AppPath(id): AppPath<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    without_input(state, crew.actor(), id, body, Action::Recall).await
}

async fn complete(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    without_input(state, staff.actor(), id, body, Action::Complete).await
}

/// An order's audit trail: every change, when, and which of the restaurant's accounts made it
/// (`actor` null: the guest or the box itself, e.g. a payment or an unpaid order's timeout).
async fn order_log(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<String>,
) -> Result<Json<Value>, AppError> {
    let order_id: OrderId = id.parse().map_err(|_| AppError::NotFound("order"))?;
    let events = state.store.order_log(staff.restaurant_id, order_id).await?;
    if events.is_empty() {
        return Err(AppError::NotFound("order"));
    }
    let events: Vec<Value> = events
        .into_iter()
        .map(|event| {
            let message: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
            json!({
                "seq": event.seq,
                "type": event.kind,
                "at": event.at,
                "status": message.get("status"),
                "payment_status": message.get("payment_status"),
                "reason": message.get("reason"),
                "actor": event.actor.map(|a| json!({ "id": a.id, "name": a.name, "role": a.role })),
            })
        })
        .collect();
    Ok(Json(json!({ "order_id": order_id, "events": events })))
}
