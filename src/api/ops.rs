//! Operations endpoints: liveness, readiness, Prometheus metrics and the local CA certificate.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::json;

use crate::app::AppState;
use crate::auth::tokens::token_hash;
use crate::error::AppError;
use crate::http::context::RequestContext;

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

/// Ready when the database answers (and takes writes). With instances sharing a Redis, a Redis
/// outage is reported as "degraded": orders still commit, live events between instances,
/// shared revocations and rate limits run on this instance alone until it is back.
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    state.store.ping().await?;
    let database = state.store.backend();
    Ok(axum::Json(match &state.shared_health {
        None => json!({ "status": "ready", "database": database }),
        Some(health) if health.load(std::sync::atomic::Ordering::Acquire) => {
            json!({ "status": "ready", "database": database, "redis": "up" })
        }
        Some(_) => json!({ "status": "degraded", "database": database, "redis": "down" }),
    }))
}

/// Metrics name the box's routes and load: for the box itself (loopback) or a scraper that
/// holds `METRICS_TOKEN`, nobody else on the shop network.
async fn metrics(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let token_ok = match (&state.config.metrics_token, presented) {
        // Digests compared: timing reveals nothing about the token itself.
        (Some(expected), Some(given)) => token_hash(expected) == token_hash(given),
        _ => false,
    };
    if !context.client_ip.is_loopback() && !token_ok {
        return Err(AppError::Forbidden(
            "metrics are served to this box itself, or with METRICS_TOKEN",
        ));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    ))
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
