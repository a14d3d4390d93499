//! Kitchen printers, for owners: `GET/POST /restaurants/me/printers`, `PATCH/DELETE
//! …/printers/{id}`, `POST …/printers/{id}/test`; the tickets not printed yet
//! (`GET /restaurants/me/print-jobs`, retried now or dropped); `POST …/orders/{id}/reprint`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::{Owner, Staff};
use crate::domain::ids::{CategoryId, OrderId, PrintJobId, PrinterId};
use crate::domain::printer::{
    PrintOn, Printer, TextEncoding, check_paper_width, check_printer_address, check_printer_name,
};
use crate::error::AppError;
use crate::http::extract::{AppJson, AppPath};
use crate::store::{PrintJob, PrinterChanges};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/restaurants/me/printers", get(list).post(create))
        .route(
            "/api/v1/restaurants/me/printers/{id}",
            patch(update).delete(remove),
        )
        .route("/api/v1/restaurants/me/printers/{id}/test", post(test_page))
        .route("/api/v1/restaurants/me/print-jobs", get(waiting_jobs))
        .route(
            "/api/v1/restaurants/me/print-jobs/{id}/retry",
            post(retry_job),
        )
        .route(
            "/api/v1/restaurants/me/print-jobs/{id}/drop",
            post(drop_job),
        )
        .route("/api/v1/restaurants/me/orders/{id}/reprint", post(reprint))
}

/// A kitchen has a handful of printers (kitchen, bar, counter), not dozens.
const MAX_PRINTERS: usize = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrinterRequest {
    name: Option<String>,
    address: Option<String>,
    paper_width_mm: Option<u32>,
    encoding: Option<String>,
    category_ids: Option<Vec<CategoryId>>,
    print_on: Option<String>,
}

fn parse_encoding(raw: &str) -> Result<TextEncoding, AppError> {
    match raw.trim().to_ascii_uppercase().as_str() {
        "EUC-KR" | "CP949" => Ok(TextEncoding::EucKr),
        "UTF-8" => Ok(TextEncoding::Utf8),
        _ => Err(AppError::validation("encoding", "EUC-KR or UTF-8")),
    }
}

fn parse_print_on(raw: &str) -> Result<PrintOn, AppError> {
    raw.trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| AppError::validation("print_on", "ACCEPTED or NEW_ORDER"))
}

/// Checks the request against the restaurant's menu: every category must be one of its own.
async fn checked_changes(
    state: &AppState,
    owner: &Owner,
    body: PrinterRequest,
) -> Result<PrinterChanges, AppError> {
    let category_ids = match body.category_ids {
        Some(mut ids) => {
            let known = state.store.known_menu_ids(owner.restaurant_id).await?;
            if let Some(i) = ids.iter().position(|id| !known.categories.contains(id)) {
                return Err(AppError::validation(
                    format!("category_ids[{i}]"),
                    "not a category of this restaurant's menu",
                ));
            }
            ids.sort_unstable_by_key(|id| id.to_string());
            ids.dedup();
            Some(ids)
        }
        None => None,
    };
    Ok(PrinterChanges {
        name: body.name.as_deref().map(check_printer_name).transpose()?,
        address: body
            .address
            .as_deref()
            .map(check_printer_address)
            .transpose()?,
        paper_width_mm: body.paper_width_mm.map(check_paper_width).transpose()?,
        encoding: body.encoding.as_deref().map(parse_encoding).transpose()?,
        category_ids,
        print_on: body.print_on.as_deref().map(parse_print_on).transpose()?,
    })
}

async fn list(State(state): State<AppState>, owner: Staff) -> Result<Json<Value>, AppError> {
    let printers = state.store.printers(owner.restaurant_id).await?;
    Ok(Json(json!({ "printers": printers })))
}

async fn create(
    State(state): State<AppState>,
    owner: Owner,
    AppJson(body): AppJson<PrinterRequest>,
) -> Result<(StatusCode, Json<Printer>), AppError> {
    if body.name.is_none() {
        return Err(AppError::validation("name", "required"));
    }
    if body.address.is_none() {
        return Err(AppError::validation(
            "address",
            "required: the printer's host:port, e.g. 192.168.0.50:9100",
        ));
    }
    let changes = checked_changes(&state, &owner, body).await?;
    if state.store.printers(owner.restaurant_id).await?.len() >= MAX_PRINTERS {
        return Err(AppError::conflict(format!(
            "a restaurant can have at most {MAX_PRINTERS} printers; remove one first"
        )));
    }
    let printer = Printer {
        id: PrinterId::new(),
        restaurant_id: owner.restaurant_id,
        name: changes.name.expect("checked above"),
        address: changes.address.expect("checked above"),
        paper_width_mm: changes.paper_width_mm.unwrap_or(80),
        // What Korean thermal printers read out of the box.
        encoding: changes.encoding.unwrap_or(TextEncoding::EucKr),
        category_ids: changes.category_ids.unwrap_or_default(),
        print_on: changes.print_on.unwrap_or(PrintOn::Accepted),
    };
    let printer = state
        .store
        .create_printer(printer, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(printer)))
}

async fn update(
    State(state): State<AppState>,
    owner: Owner,
    AppPath(id): AppPath<PrinterId>,
    AppJson(body): AppJson<PrinterRequest>,
) -> Result<Json<Printer>, AppError> {
    let changes = checked_changes(&state, &owner, body).await?;
    state
        .store
        .update_printer(owner.restaurant_id, id, changes, state.clock.now())
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("printer"))
}

async fn remove(
    State(state): State<AppState>,
    owner: Owner,
    AppPath(id): AppPath<PrinterId>,
) -> Result<StatusCode, AppError> {
    if state
        .store
        .delete_printer(owner.restaurant_id, id, state.clock.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound("printer"))
    }
}

async fn test_page(
    State(state): State<AppState>,
    owner: Owner,
    AppPath(id): AppPath<PrinterId>,
) -> Result<(StatusCode, Json<PrintJob>), AppError> {
    let job = state
        .store
        .queue_test_print(owner.restaurant_id, id, state.clock.now())
        .await?
        .ok_or(AppError::NotFound("printer"))?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

async fn waiting_jobs(
    State(state): State<AppState>,
    owner: Staff,
) -> Result<Json<Value>, AppError> {
    let jobs = state.store.waiting_print_jobs(owner.restaurant_id).await?;
    Ok(Json(json!({ "jobs": jobs })))
}

async fn settle_job(
    state: &AppState,
    owner: &Staff,
    id: PrintJobId,
    drop: bool,
) -> Result<Json<Value>, AppError> {
    let settled = state
        .store
        .settle_print_job(owner.restaurant_id, id, drop, state.clock.now())
        .await?;
    if !settled {
        return Err(AppError::NotFound("waiting print job"));
    }
    let jobs = state.store.waiting_print_jobs(owner.restaurant_id).await?;
    Ok(Json(json!({ "jobs": jobs })))
}

async fn retry_job(
    State(state): State<AppState>,
    owner: Staff,
    AppPath(id): AppPath<PrintJobId>,
) -> Result<Json<Value>, AppError> {
    settle_job(&state, &owner, id, false).await
}

async fn drop_job(
    State(state): State<AppState>,
    owner: Staff,
    AppPath(id): AppPath<PrintJobId>,
) -> Result<Json<Value>, AppError> {
    settle_job(&state, &owner, id, true).await
}

async fn reprint(
    State(state): State<AppState>,
    owner: Staff,
    AppPath(id): AppPath<OrderId>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    if state.store.printers(owner.restaurant_id).await?.is_empty() {
        return Err(AppError::conflict(
            "no printer is set up: add one under 프린터 first",
        ));
    }
    let jobs = state
        .store
        .reprint_order(owner.restaurant_id, id, state.clock.now())
        .await?
        .ok_or(AppError::NotFound("order"))?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "jobs": jobs }))))
}
