//! The HTTP API, one module per resource; each exposes `router()`.

pub mod auth;
pub mod images;
pub mod menu;
pub mod openapi;
pub mod ops;
pub mod orders;
pub mod payments;
pub mod printers;
pub mod reports;
pub mod restaurants;
pub mod shop_status;
pub mod staff;
pub mod tables;
pub mod ws;

use axum::Router;

use crate::app::AppState;
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .nest("/api/v1/auth", auth::router())
        .merge(menu::router())
        .merge(images::router())
        .merge(restaurants::router())
        .merge(tables::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(printers::router())
        .merge(reports::router())
        .merge(staff::router())
        .merge(shop_status::router())
        .merge(ws::router())
        .merge(ops::router())
        .merge(openapi::router())
        .merge(crate::web::router())
        .fallback(|| async { AppError::NotFound("route") })
}
