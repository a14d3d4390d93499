//! The HTTP stack around the API: request ids, access logs, metrics, rate limiting, body limit,
//! panic capture, and the guarantee that every error response is the seed's envelope.

pub mod context;
pub mod extract;
pub mod metrics;
pub mod ratelimit;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutBody;
use tracing::Instrument;

use crate::app::AppState;
use crate::error::{AppError, EnvelopeMarker, envelope, generic_message};
use context::{RequestContext, RouteTemplate};

pub const MAX_BODY_BYTES: usize = 64 * 1024;
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the application's routes in the HTTP stack. Outermost first: observe (id, span, log,
/// metrics) → catch panics → compression → envelope guard → body limit → rate limit → routes.
pub fn stack(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .route_layer(middleware::from_fn(record_route))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), body_timeout))
        .layer(middleware::from_fn(envelope_guard))
        .layer(CompressionLayer::new())
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

fn valid_request_id(value: &HeaderValue) -> Option<Arc<str>> {
    let text = value.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| Arc::from(text))
}

/// The client's address: the TCP peer, or the first untrusted hop of `X-Forwarded-For` when
/// the peer is a configured proxy.
pub fn client_ip(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|hop| !trusted.contains(hop))
        .unwrap_or(peer)
}

async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(valid_request_id)
        .unwrap_or_else(|| {
            let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            Arc::from(&*uuid::Uuid::now_v7().hyphenated().encode_lower(&mut text))
        });
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let ip = client_ip(peer, req.headers(), &state.config.trusted_proxies);
    let context = RequestContext::new(request_id.clone(), ip);
    req.extensions_mut().insert(context.clone());

    let method = req.method().clone();
    // The path only: query strings may carry tokens (WebSocket `?token=`), never logged.
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = next.run(req).instrument(span.clone()).await;

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let template = response.extensions_mut().remove::<RouteTemplate>();
    state.metrics.observe_request(
        method.as_str(),
        template.as_ref().map_or("unmatched", |t| t.0.as_str()),
        status,
        elapsed.as_secs_f64(),
    );
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            path = %path,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            user_id = context.user().map(|u| u.to_string()),
            ip = %ip,
            "API Request"
        );
    });
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID.clone(), value);
    }
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    // API answers carry tokens and orders: never kept by a browser or a proxy. (The public
    // menu sets its own `no-cache`: it is revalidated by ETag, which needs a stored copy.)
    if path.starts_with("/api/") {
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    response
}

fn route_template(req: &Request) -> Option<RouteTemplate> {
    req.extensions()
        .get::<MatchedPath>()
        .cloned()
        .map(RouteTemplate)
}

async fn record_route(req: Request, next: Next) -> Response {
    let template = route_template(&req);
    let mut response = next.run(req).await;
    if let Some(template) = template {
        response.extensions_mut().insert(template);
    }
    response
}

/// Every error leaves in the envelope, including the framework's own (405, 413, panics…).
async fn envelope_guard(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if status.as_u16() < 400 || response.extensions().get::<EnvelopeMarker>().is_some() {
        return response;
    }
    let (parts, _body) = response.into_parts();
    let mut wrapped = envelope(status, generic_message(status), None);
    for name in [axum::http::header::ALLOW, axum::http::header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            wrapped.headers_mut().insert(name, value.clone());
        }
    }
    if let Some(template) = parts.extensions.get::<RouteTemplate>() {
        wrapped.extensions_mut().insert(template.clone());
    }
    wrapped
}

fn panic_response(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = cause
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| cause.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "request handler panicked");
    envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        generic_message(StatusCode::INTERNAL_SERVER_ERROR),
        None,
    )
}

/// Paths monitoring systems poll (limiting them would only blind the operator), and the web
/// app's static files (a page load fetches several; they cost next to nothing).
fn exempt_from_rate_limit(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/assets/")
}

/// A client that stops sending its body is dropped after `BODY_READ_TIMEOUT` of silence.
async fn body_timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let timeout = state.config.body_read_timeout;
    next.run(req.map(|body| Body::new(TimeoutBody::new(timeout, body))))
        .await
}

async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.limits.api.is_enabled() && !exempt_from_rate_limit(req.uri().path()) {
        let ip = req
            .extensions()
            .get::<RequestContext>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.client_ip);
        if let Err(retry_after_secs) = state.limits.api.check(&format!("ip:{ip}")).await {
            let mut response = AppError::RateLimited { retry_after_secs }.into_response();
            // Refused before the route ran, but counted under it in the metrics all the same.
            if let Some(template) = route_template(&req) {
                response.extensions_mut().insert(template);
            }
            return response;
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "192.168.1.20".parse().unwrap();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 192.168.1.20".parse().unwrap());
        assert_eq!(client_ip(proxy, &headers, &[proxy]), client);
        assert_eq!(client_ip(proxy, &headers, &[]), proxy);
        let stranger: IpAddr = "172.16.0.9".parse().unwrap();
        assert_eq!(client_ip(stranger, &headers, &[proxy]), stranger);
    }

    #[test]
    fn request_ids_are_sanitised() {
        assert!(valid_request_id(&HeaderValue::from_static("abc-123_x.y:z")).is_some());
        assert!(valid_request_id(&HeaderValue::from_static("bad id")).is_none());
        assert!(valid_request_id(&HeaderValue::from_str(&"a".repeat(129)).unwrap()).is_none());
    }
}
