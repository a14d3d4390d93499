//! Sales reports for owners: `GET /restaurants/me/reports/sales` (JSON, or CSV with
//! `Accept: text/csv` or the `.csv` path) over a range of business days.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::auth::Owner;
use crate::domain::order::business_day;
use crate::domain::report::{Grouping, sales_csv, sales_report};
use crate::error::AppError;
use crate::http::extract::AppQuery;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/restaurants/me/reports/sales", get(sales))
        .route(
            "/api/v1/restaurants/me/reports/sales.csv",
            get(sales_as_csv),
        )
}

/// A year of business days at most in one report.
const MAX_DAYS: i64 = 366;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SalesQuery {
    from: Option<String>,
    to: Option<String>,
    group: Option<String>,
}

fn day(field: &str, raw: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::validation(field, "a date as YYYY-MM-DD"))
}

async fn report(
    state: &AppState,
    owner: &Owner,
    query: SalesQuery,
    csv: bool,
) -> Result<Response, AppError> {
    let restaurant = state
        .store
        .restaurant(owner.restaurant_id)
        .await?
        .ok_or(AppError::NotFound("restaurant"))?;
    let zone = restaurant.time_zone;
    let today = business_day(state.clock.now(), zone);
    let to = query
        .to
        .as_deref()
        .map(|d| day("to", d))
        .transpose()?
        .unwrap_or(today);
    let from = query
        .from
        .as_deref()
        .map(|d| day("from", d))
        .transpose()?
        .unwrap_or(to);
    if from > to {
        return Err(AppError::validation("from", "must not be after `to`"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(AppError::validation(
            "to",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    let group: Grouping = match query.group.as_deref() {
        None => Grouping::Day,
        Some(raw) => raw.trim().parse().map_err(|_| {
            AppError::validation("group", "one of day, hour, item, category, payment_method")
        })?,
    };
    let (orders, settlements) = state
        .store
        .sales_facts(owner.restaurant_id, from.to_string(), to.to_string())
        .await?;
    let report = sales_report(group, zone, &orders, &settlements);
    if csv {
        let name = format!("attachment; filename=\"sales-{from}-{to}.csv\"");
        return Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&name).map_err(anyhow::Error::from)?,
                ),
            ],
            sales_csv(&report),
        )
            .into_response());
    }
    Ok(Json(json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "time_zone": zone.name(),
        "group": report.group,
        "totals": report.totals,
        "rows": report.rows,
    }))
    .into_response())
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"))
}

async fn sales(
    State(state): State<AppState>,
    owner: Owner,
    headers: HeaderMap,
    AppQuery(query): AppQuery<SalesQuery>,
) -> Result<Response, AppError> {
    report(&state, &owner, query, wants_csv(&headers)).await
}

async fn sales_as_csv(
    State(state): State<AppState>,
    owner: Owner,
    AppQuery(query): AppQuery<SalesQuery>,
) -> Result<Response, AppError> {
    report(&state, &owner, query, true).await
}
