//! Table service. Guests: `GET /tables/me` (their party's tab), `POST /tables/me/calls`
//! (water, cutlery, the bill, staff) and `POST /tables/me/payments` (paying the tab, all of it,
//! their orders or a share). Owners: `GET /restaurants/me/tables` (every open table),
//! acknowledging calls, settling, closing, moving and merging a table, and the day's order
//! history.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::orders::optional_json;
use crate::app::AppState;
use crate::auth::{AuthUser, Customer, Staff};
use crate::domain::error::FieldError;
use crate::domain::ids::{CallId, GuestId, RestaurantId};
use crate::domain::order::business_day;
use crate::domain::table::{
    CallKind, SessionStatus, SettleMethod, TabPaymentKind, TableCall, parse_table_label,
};
use crate::error::AppError;
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::orders::{customer_of, empty_tab_json, order_json, tab_json};
use crate::payments::tab::{TabCheckout, TabPaymentRequest};
use crate::store::{CallOutcome, NewCall, TableAction, TableOutcome};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tables/me", get(my_table))
        .route("/api/v1/tables/me/calls", post(call_staff))
        .route("/api/v1/tables/me/payments", post(pay_tab))
        .route("/api/v1/restaurants/me/tables", get(open_tables))
        .route("/api/v1/restaurants/me/tables/{table}", get(table_tab))
        .route(
            "/api/v1/restaurants/me/tables/{table}/calls/{call_id}/ack",
            post(ack_call),
        )
        .route("/api/v1/restaurants/me/tables/{table}/settle", post(settle))
        .route("/api/v1/restaurants/me/tables/{table}/close", post(close))
        .route(
            "/api/v1/restaurants/me/tables/{table}/move",
            post(move_party),
        )
        .route("/api/v1/restaurants/me/tables/{table}/merge", post(merge))
        .route("/api/v1/restaurants/me/orders/history", get(history))
}

/// Notes on a call are short: "two forks", "the kids' chairs".
const MAX_CALL_NOTE: usize = 100;
const MAX_HISTORY_QUERY: usize = 20;

/// A guest at a table: the table their QR code named, in its restaurant.
struct Seated {
    guest: GuestId,
    restaurant: RestaurantId,
    table: String,
}

fn seated(user: &AuthUser) -> Result<Seated, AppError> {
    match (&user.table, user.restaurant_id) {
        (Some(table), Some(restaurant)) => Ok(Seated {
            guest: GuestId(user.user_id.0),
            restaurant,
            table: table.clone(),
        }),
        _ => Err(AppError::Forbidden(
            "this is for guests at a table: scan the table's QR code",
        )),
    }
}

async fn my_table(
    State(state): State<AppState>,
    Customer(user): Customer,
) -> Result<Json<Value>, AppError> {
    let at = seated(&user)?;
    let tab = state
        .store
        .table_tab(at.restaurant, at.table.clone(), Some(at.guest))
        .await?;
    Ok(Json(match tab {
        Some(tab) => tab_json(&state, &tab, Some(customer_of(&user))),
        // Nobody at this table has ordered yet.
        None => empty_tab_json(at.restaurant, &at.table),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallRequest {
    kind: String,
    #[serde(default)]
    note: Option<String>,
}

fn call_json(call: &TableCall, table: &str) -> Value {
    let mut value = serde_json::to_value(call).expect("calls serialize");
    value["table_number"] = json!(table);
    value
}

async fn call_staff(
    State(state): State<AppState>,
    Customer(user): Customer,
    AppJson(body): AppJson<CallRequest>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let at = seated(&user)?;
    let kind: CallKind = body
        .kind
        .trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| AppError::validation("kind", "one of WATER, CUTLERY, BILL, STAFF"))?;
    let note = body
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_CALL_NOTE) {
        return Err(AppError::validation(
            "note",
            format!("must be at most {MAX_CALL_NOTE} characters"),
        ));
    }
    let outcome = state
        .store
        .call_staff(NewCall {
            id: CallId::new(),
            restaurant_id: at.restaurant,
            table_number: at.table.clone(),
            guest: Some(at.guest),
            kind,
            note: note.map(str::to_owned),
            now: state.clock.now(),
        })
        .await?;
    // Calling twice is asking once: the open call is the answer either time, like a replayed
    // order.
    let call = match outcome {
        CallOutcome::Created { call, .. } | CallOutcome::Existing(call) => call,
        CallOutcome::SessionClosed => return Err(AppError::TableSessionClosed),
    };
    Ok((StatusCode::CREATED, Json(call_json(&call, &at.table))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayTabRequest {
    kind: String,
    amount: i64,
    #[serde(default)]
    shares: Option<u32>,
    #[serde(default)]
    order_ids: Vec<String>,
}

/// A guest pays towards their party's tab: everything that remains (`ALL`), chosen orders
/// (`ITEMS`, `order_ids`), or one equal share among `shares` people (`SHARE`). `amount` is
/// what the phone showed; anything but the server's own figure is refused before the provider
/// hears of it.
async fn pay_tab(
    State(state): State<AppState>,
    Customer(user): Customer,
    AppJson(body): AppJson<PayTabRequest>,
) -> Result<(StatusCode, Json<TabCheckout>), AppError> {
    let at = seated(&user)?;
    let kind: TabPaymentKind = body
        .kind
        .trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| AppError::validation("kind", "one of ALL, ITEMS, SHARE"))?;
    let order_ids = body
        .order_ids
        .iter()
        .map(|id| id.parse())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AppError::validation("order_ids", "not an order of this table"))?;
    let tab = state
        .store
        .table_tab(at.restaurant, at.table.clone(), Some(at.guest))
        .await?
        .ok_or_else(|| AppError::validation("amount", "nothing remains to be paid"))?;
    if tab.session.status != SessionStatus::Open {
        return Err(AppError::TableSessionClosed);
    }
    let checkout = state
        .payments
        .initiate_tab(
            &tab,
            TabPaymentRequest {
                kind,
                shares: body.shares,
                order_ids,
                amount: body.amount,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(checkout)))
}

async fn open_tables(State(state): State<AppState>, owner: Staff) -> Result<Json<Value>, AppError> {
    let tables = state.store.open_tables(owner.restaurant_id).await?;
    Ok(Json(json!({ "tables": tables })))
}

/// The open session's tab at a table: every order with its lines, what is paid, the calls.
async fn table_tab(
    State(state): State<AppState>,
    owner: Staff,
    AppPath(table): AppPath<String>,
) -> Result<Json<Value>, AppError> {
    let table = parse_table_label("table", &table).map_err(|_| AppError::NotFound("table"))?;
    let tab = state
        .store
        .table_tab(owner.restaurant_id, table, None)
        .await?
        .ok_or(AppError::NotFound("table"))?;
    Ok(Json(tab_json(&state, &tab, None)))
}

/// Runs `action` on the open session at the table named in the path.
async fn act(
    state: &AppState,
    owner: &Staff,
    table: &str,
    action: TableAction,
) -> Result<Json<Value>, AppError> {
    let table = parse_table_label("table", table).map_err(|_| AppError::NotFound("table"))?;
    let is_call = matches!(action, TableAction::AckCall(_));
    let outcome = state
        .store
        .table_action(owner.restaurant_id, table, action, state.clock.now())
        .await?;
    match outcome {
        TableOutcome::Done(tab) => Ok(Json(tab_json(state, &tab, None))),
        TableOutcome::NotFound if is_call => Err(AppError::NotFound("call")),
        TableOutcome::NotFound => Err(AppError::NotFound("table")),
        TableOutcome::Invalid(field) => Err(field.into()),
        TableOutcome::Refused { reason, remaining } => Err(AppError::Conflict {
            message: format!("cannot do that: {reason}"),
            details: Some(json!({ "reason": reason, "remaining_amount": remaining })),
        }),
    }
}

async fn ack_call(
    State(state): State<AppState>,
    owner: Staff,
    AppPath((table, call)): AppPath<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let _: EmptyBody = optional_json(&body)?;
    let call: CallId = call.parse().map_err(|_| AppError::NotFound("call"))?;
    act(&state, &owner, &table, TableAction::AckCall(call)).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettleRequest {
    method: String,
    amount: i64,
}

async fn settle(
    State(state): State<AppState>,
    owner: Staff,
    AppPath(table): AppPath<String>,
    AppJson(body): AppJson<SettleRequest>,
) -> Result<Json<Value>, AppError> {
    let method = match body.method.trim().to_ascii_uppercase().as_str() {
        "CARD" => SettleMethod::Card,
        "CASH" => SettleMethod::Cash,
        "OTHER" => SettleMethod::Other,
        _ => return Err(AppError::validation("method", "one of CARD, CASH, OTHER")),
    };
    if body.amount < 1 {
        return Err(AppError::validation("amount", "must be at least 1 won"));
    }
    let restaurant = state
        .store
        .restaurant(owner.restaurant_id)
        .await?
        .ok_or(AppError::NotFound("restaurant"))?;
    let action = TableAction::Settle {
        method,
        amount: body.amount,
        business_day: business_day(state.clock.now(), restaurant.time_zone).to_string(),
    };
    act(&state, &owner, &table, action).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CloseRequest {
    /// Closing with money still owed must say so.
    #[serde(default)]
    confirm_unpaid: bool,
}

async fn close(
    State(state): State<AppState>,
    owner: Staff,
    AppPath(table): AppPath<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let request: CloseRequest = optional_json(&body)?;
    let action = TableAction::Close {
        confirm_unpaid: request.confirm_unpaid,
    };
    act(&state, &owner, &table, action).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveRequest {
    #[serde(deserialize_with = "crate::domain::table::label_or_number")]
    to: String,
}

async fn move_party(
    State(state): State<AppState>,
    owner: Staff,
    AppPath(table): AppPath<String>,
    AppJson(body): AppJson<MoveRequest>,
) -> Result<Json<Value>, AppError> {
    let to = parse_table_label("to", &body.to)?;
    act(&state, &owner, &table, TableAction::Move { to }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeRequest {
    #[serde(deserialize_with = "crate::domain::table::label_or_number")]
    into: String,
}

async fn merge(
    State(state): State<AppState>,
    owner: Staff,
    AppPath(table): AppPath<String>,
    AppJson(body): AppJson<MergeRequest>,
) -> Result<Json<Value>, AppError> {
    let into = parse_table_label("into", &body.into)?;
    act(&state, &owner, &table, TableAction::Merge { into }).await
}

#[derive(Deserialize)]
struct HistoryQuery {
    date: Option<String>,
    q: Option<String>,
}

async fn history(
    State(state): State<AppState>,
    owner: Staff,
    AppQuery(query): AppQuery<HistoryQuery>,
) -> Result<Json<Value>, AppError> {
    let day = match query
        .date
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| FieldError::new("date", "a day as YYYY-MM-DD"))?,
        None => {
            let restaurant = state
                .store
                .restaurant(owner.restaurant_id)
                .await?
                .ok_or(AppError::NotFound("restaurant"))?;
            business_day(state.clock.now(), restaurant.time_zone)
        }
    };
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.chars().count() > MAX_HISTORY_QUERY) {
        return Err(AppError::validation(
            "q",
            format!("must be at most {MAX_HISTORY_QUERY} characters"),
        ));
    }
    let orders = state
        .store
        .orders_of_day(
            owner.restaurant_id,
            day.to_string(),
            search.map(str::to_owned),
        )
        .await?;
    Ok(Json(json!({
        "business_day": day.to_string(),
        "orders": orders.iter().map(|o| order_json(&state, o)).collect::<Vec<_>>(),
    })))
}
