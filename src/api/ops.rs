//! Operations endpoints: liveness, readiness, Prometheus metrics and the local CA certificate.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::app::AppState;
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/ca.crt", get(ca_certificate))
}

pub(crate) async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    state.store.ping().await?;
    Ok(axum::Json(json!({ "status": "ready" })))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

pub(crate) async fn ca_certificate(
    State(state): State<AppState>,
) -> Result<impl IntoResponse, AppError> {
    let pem = state.ca_certificate.clone().ok_or(AppError::NotFound(
        "local CA certificate (this box uses its own certificate)",
    ))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-x509-ca-cert"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"ordersync-ca.crt\"",
            ),
        ],
        pem.to_string(),
    ))
}
