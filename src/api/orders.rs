//! Customer orders: `POST /orders` (server-side pricing, idempotent retries), `GET /orders`,
//! `GET /orders/{id}` (the customer or the restaurant's owner), `POST /orders/{id}/cancel`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::{AuthUser, Customer};
use crate::domain::error::FieldError;
use crate::domain::ids::{OrderId, RestaurantId};
use crate::domain::order::{self, Action, Order};
use crate::domain::pricing::{self, LineRequest};
use crate::domain::restaurant::{Restaurant, TableVerification};
use crate::domain::table::parse_table_label;
use crate::error::AppError;
use crate::http::extract::{AppJson, AppPath, AppQuery, parse_json};
use crate::orders::{customer_of, order_json, visible_order};
use crate::store::{
    Actor, IdempotencyKey, NewOrder, OrderCursor, OrderPage, PlaceOutcome, TransitionOutcome,
    TransitionRequest,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orders", post(create_order).get(my_orders))
        .route("/api/v1/orders/{id}", get(get_order))
        .route("/api/v1/orders/{id}/cancel", post(cancel_order))
}

/// How many times an order is re-priced when the menu changes under it.
const PRICING_ATTEMPTS: usize = 3;

#[derive(Serialize, Deserialize)]
struct CreateOrderRequest {
    restaurant_id: String,
    #[serde(
        default,
        deserialize_with = "crate::domain::table::optional_label_or_number"
    )]
    table_number: Option<String>,
    items: Vec<LineRequest>,
    #[serde(default)]
    special_requests: Option<String>,
    /// A registered customer's proof of the table: the `sig` of the table's QR code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    table_sig: Option<String>,
}

/// The seed's 201 body. Built only from what never changes after creation, so an idempotent
/// replay returns exactly the first response.
fn creation_json(state: &AppState, order: &Order) -> Value {
    let payment_required =
        Order::payment_required(order.payment_mode, order::PaymentStatus::Pending);
    json!({
        "order_id": order.id,
        "order_number": order.order_number,
        "status": order::OrderStatus::Pending,
        "total_amount": order.total_amount,
        "payment_required": payment_required,
        "payment_url": payment_required.then(|| state.checkout_url(order.id)),
        "websocket_url": state.websocket_url(order.id),
    })
}

fn idempotency_key(
    headers: &HeaderMap,
    body: &CreateOrderRequest,
) -> Result<Option<IdempotencyKey>, AppError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 100 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            AppError::validation(
                "Idempotency-Key",
                "must be 1 to 100 visible ASCII characters",
            )
        })?;
    // The parsed request, re-serialized: the same order sent twice hashes the same, whatever
    // whitespace or extra (ignored) fields the client added.
    let canonical = serde_json::to_vec(body).expect("requests serialize");
    let digest = ring::digest::digest(&ring::digest::SHA256, &canonical);
    Ok(Some(IdempotencyKey {
        key: key.to_owned(),
        request_hash: URL_SAFE_NO_PAD.encode(digest.as_ref()),
    }))
}

async fn create_order(
    State(state): State<AppState>,
    Customer(user): Customer,
    headers: HeaderMap,
    AppJson(body): AppJson<CreateOrderRequest>,
) -> Result<impl IntoResponse, AppError> {
    let idempotency = idempotency_key(&headers, &body)?;
    let restaurant_id: RestaurantId = body
        .restaurant_id
        .parse()
        .map_err(|_| AppError::validation("restaurant_id", "not a restaurant id"))?;
    if user.table.is_some() && user.restaurant_id != Some(restaurant_id) {
        return Err(AppError::validation(
            "restaurant_id",
            "does not match the restaurant of the QR code you scanned",
        ));
    }
    let table_number = match (&user.table, &body.table_number) {
        (Some(bound), None) => Some(bound.clone()),
        (Some(bound), Some(given)) if given.trim() == bound => Some(bound.clone()),
        (Some(_), Some(_)) => {
            return Err(AppError::validation(
                "table_number",
                "does not match the table of the QR code you scanned",
            ));
        }
        (None, given) => given
            .as_deref()
            .map(|t| parse_table_label("table_number", t))
            .transpose()?,
    };
    let special_requests = pricing::check_special_requests(body.special_requests.as_deref())?;
    let customer = customer_of(&user);
    // A retry whose first attempt went through gets that answer, even if the menu or the
    // settings changed since (an item sold out meanwhile must not turn it into a 400).
    if let Some(key) = &idempotency
        && let Some(outcome) = state.store.remembered_order(customer, key.clone()).await?
    {
        return placed_response(&state, outcome).await;
    }

    for _ in 0..PRICING_ATTEMPTS {
        let menu = state
            .menu(restaurant_id)
            .await?
            .ok_or_else(|| AppError::validation("restaurant_id", "no such restaurant"))?;
        let restaurant = &menu.restaurant;
        if !restaurant.table_ordering_enabled {
            return Err(AppError::validation(
                "restaurant_id",
                "this restaurant is not taking table orders right now",
            ));
        }
        let (lines, total_amount) = pricing::price_lines(&body.items, |id| menu.item(id))?;
        if user.table.is_none() {
            prove_table(
                &state,
                restaurant,
                table_number.as_deref(),
                body.table_sig.as_deref(),
            )?;
        }
        let now = state.clock.now();
        // The store keeps it from going back behind the latest day numbered (a clock set back).
        let business_day = order::business_day(now, restaurant.time_zone).to_string();
        let new = NewOrder {
            id: OrderId::new(),
            restaurant_id,
            customer,
            table_number: table_number.clone(),
            lines,
            total_amount,
            special_requests: special_requests.clone(),
            payment_mode: menu.payment_mode,
            business_day,
            created_at: now,
        };
        match state
            .store
            .place_order(new, idempotency.clone(), restaurant.revision)
            .await?
        {
            PlaceOutcome::MenuChanged => state.menus.invalidate(restaurant_id),
            outcome => return placed_response(&state, outcome).await,
        }
    }
    Err(AppError::Unavailable)
}

/// A registered customer names their table; unless the restaurant lets anyone name one
/// (`OPEN`), the QR code's signature must prove it — as a guest token does for a guest.
fn prove_table(
    state: &AppState,
    restaurant: &Restaurant,
    table: Option<&str>,
    sig: Option<&str>,
) -> Result<(), AppError> {
    if restaurant.table_verification == TableVerification::Open {
        return Ok(());
    }
    let table = table.ok_or_else(|| {
        AppError::validation(
            "table_number",
            "name the table, with table_sig from its QR code",
        )
    })?;
    let sig = sig
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            AppError::validation(
                "table_sig",
                "required: the sig of the table's QR code (scan it, or order from its page)",
            )
        })?;
    if !state.tables.verify(restaurant.id, table, sig) {
        return Err(AppError::validation(
            "table_sig",
            "does not match this restaurant and table; scan the table's QR code again",
        ));
    }
    Ok(())
}

/// The answer to an order request, new or replayed.
async fn placed_response(
    state: &AppState,
    outcome: PlaceOutcome,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let order = match outcome {
        PlaceOutcome::Placed { order, .. } => {
            state.metrics.orders_created.inc();
            *order
        }
        PlaceOutcome::Replayed(order_id) => state
            .store
            .order(order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?,
        PlaceOutcome::KeyReused => {
            return Err(AppError::Conflict {
                message: "this Idempotency-Key was already used for a different order".into(),
                details: Some(json!({ "field": "Idempotency-Key" })),
            });
        }
        PlaceOutcome::MenuChanged => return Err(AppError::Unavailable),
        PlaceOutcome::TableSessionClosed => return Err(AppError::TableSessionClosed),
    };
    Ok((StatusCode::CREATED, Json(creation_json(state, &order))))
}

async fn get_order(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<Value>, AppError> {
    let order = visible_order(&state, &user, &id).await?;
    Ok(Json(order_json(&state, &order)))
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub status: Option<String>,
}

pub(crate) fn parse_limit(raw: Option<&str>) -> Result<usize, AppError> {
    match raw {
        None => Ok(20),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| AppError::validation("limit", "must be a number from 1 to 100")),
    }
}

pub(crate) fn parse_cursor(raw: Option<&str>) -> Result<Option<OrderCursor>, AppError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let invalid = || AppError::validation("cursor", "not a cursor this server gave out");
    let decoded = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (millis, id) = text.split_once('.').ok_or_else(invalid)?;
    Ok(Some(OrderCursor {
        created_at_ms: millis.parse().map_err(|_| invalid())?,
        id: id.parse().map_err(|_| invalid())?,
    }))
}

fn encode_cursor(cursor: OrderCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", cursor.created_at_ms, cursor.id))
}

pub(crate) fn page_json(state: &AppState, page: OrderPage) -> Value {
    json!({
        "orders": page.orders.iter().map(|o| order_json(state, o)).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor.map(encode_cursor),
    })
}

async fn my_orders(
    State(state): State<AppState>,
    Customer(user): Customer,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Json<Value>, AppError> {
    let limit = parse_limit(query.limit.as_deref())?;
    let cursor = parse_cursor(query.cursor.as_deref())?;
    let page = state
        .store
        .customer_orders(customer_of(&user), cursor, limit)
        .await?;
    Ok(Json(page_json(&state, page)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelRequest {
    reason: Option<String>,
}

/// A body that may be absent: empty means defaults, anything else must be valid JSON.
pub(crate) fn optional_json<T: serde::de::DeserializeOwned + Default>(
    bytes: &Bytes,
) -> Result<T, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(bytes)
}

pub(crate) fn check_note(
    field: &str,
    note: Option<&str>,
    required: bool,
) -> Result<Option<String>, AppError> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    match note {
        None if required => Err(FieldError::new(field, format!("{field} is required")).into()),
        None => Ok(None),
        Some(n) if n.chars().count() > 200 => {
            Err(FieldError::new(field, format!("{field} must be at most 200 characters")).into())
        }
        Some(n) => Ok(Some(n.to_owned())),
    }
}

/// Maps a transition outcome to the response: the changed order, 404, or 409 with the state.
pub(crate) fn transition_result(
    state: &AppState,
    outcome: TransitionOutcome,
) -> Result<Order, AppError> {
    match outcome {
        TransitionOutcome::Done { order, .. } => {
            if order.payment_status == crate::domain::order::PaymentStatus::RefundPending {
                state.payments.refund_soon(order.id);
            }
            state
                .metrics
                .order_transitions
                .with_label_values(&[order.status.as_str()])
                .inc();
            Ok(*order)
        }
        TransitionOutcome::NotFound => Err(AppError::NotFound("order")),
        TransitionOutcome::Refused {
            status,
            payment_status,
            reason,
        } => Err(AppError::Conflict {
            message: format!("cannot do that: {reason}"),
            details: Some(json!({
                "current_status": status,
                "payment_status": payment_status,
                "reason": reason,
            })),
        }),
    }
}

async fn cancel_order(
    State(state): State<AppState>,
    Customer(user): Customer,
    AppPath(id): AppPath<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let request: CancelRequest = optional_json(&body)?;
    let reason = check_note("reason", request.reason.as_deref(), false)?;
    let order_id: OrderId = id.parse().map_err(|_| AppError::NotFound("order"))?;
    let outcome = state
        .store
        .transition_order(TransitionRequest {
            order_id,
            actor: Actor::Customer(customer_of(&user)),
            action: Action::Cancel,
            estimated_ready_at: None,
            note: reason,
            now: state.clock.now(),
        })
        .await?;
    let order = transition_result(&state, outcome)?;
    Ok(Json(order_json(&state, &order)))
}
