//! The HTTP stack around the API: request ids, access logs, metrics, rate limiting, body limit,
//! panic capture, and the guarantee that every error response is the seed's envelope.

pub mod context;
pub mod extract;
pub mod metrics;
pub mod ratelimit;
pub mod shortcut;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::body::HttpBody;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutBody;
use tracing::Instrument;

use crate::app::AppState;
use crate::error::{AppError, EnvelopeMarker, envelope, generic_message};
use crate::logging;
use context::RequestContext;

pub const MAX_BODY_BYTES: usize = 64 * 1024;
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the application's routes in the HTTP stack. Outermost first: observe (id, span, log,
/// metrics) → catch panics → compression → guard (rate limit, body read timeout, the envelope
/// on every error) → body limit → routes. Layers wrap each route after routing, so every
/// layer sees the matched route template.
///
/// One `layer` call, one boxed service per route; observe and guard are services written out
/// rather than `middleware::from_fn`, which clones the route's boxed service and boxes a `Next`
/// per request and per layer (four of them showed as a tenth of the menu GET's CPU).
pub fn stack(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .layer(
            ServiceBuilder::new()
                .layer(ObserveLayer(state.clone()))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(CompressionLayer::new())
                .layer(GuardLayer(state.clone()))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
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

#[derive(Clone)]
struct ObserveLayer(AppState);

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            state: self.0.clone(),
        }
    }
}

/// Records each request routed by axum as an `Exchange`.
#[derive(Clone)]
struct Observe<S> {
    inner: S,
    state: AppState,
}

impl<S, B> Service<Request> for Observe<S>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let exchange = Exchange::begin(&self.state, req.method(), req.uri(), req.headers(), peer);
        let context = RequestContext::new(exchange.request_id.clone(), exchange.ip);
        req.extensions_mut().insert(context.clone());
        let template = req.extensions().get::<MatchedPath>().cloned();
        // What the handler logs carries the request's id.
        let span = tracing::info_span!("request", request_id = %exchange.request_id);
        let response = span.in_scope(|| self.inner.call(req));
        let metrics = self.state.metrics.clone();
        Box::pin(async move {
            let Ok(response) = response.instrument(span).await;
            let mut response = response.map(Body::new);
            let template = template.as_ref().map_or("unmatched", |t| t.as_str());
            exchange.end(
                |method, status, seconds| {
                    metrics.observe_request(method, template, status, seconds);
                },
                context.user().map(|u| u.to_string()),
                &mut response,
            );
            Ok(response)
        })
    }
}

/// A fresh request id: a UUIDv7 (time first, so ids sort by arrival to the millisecond) whose
/// random part comes from a per-thread generator seeded from the OS once. `Uuid::now_v7` takes
/// a process-wide lock (its counter orders ids within a millisecond, which nobody needs of a
/// request id) and draws fresh randomness for every id; profiled, that was a twentieth of a
/// cached menu GET, the lock bouncing between the cores.
fn new_request_id() -> Arc<str> {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new(uuid::Uuid::new_v4().as_u64_pair().0);
    }
    // SplitMix64: 64 well-mixed bits per step from a counter; two steps fill the 74 random bits.
    let random = STATE.with(|state| {
        let next = || {
            let mut z = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
            state.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let (high, low) = (next(), next());
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&high.to_be_bytes());
        bytes[8..].copy_from_slice(&low.to_be_bytes()[..2]);
        bytes
    });
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let id = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    Arc::from(&*id.hyphenated().encode_lower(&mut text))
}

/// One request from its arrival to its answer, as every path through the server records it:
/// an id (the client's `X-Request-Id` if sane), then an access log line, the metrics, and the
/// headers every answer carries.
pub(crate) struct Exchange {
    started: Instant,
    pub request_id: Arc<str>,
    pub ip: IpAddr,
    method: Method,
    // Shares the request's bytes. Only its path is logged: query strings may carry tokens
    // (WebSocket `?token=`).
    uri: Uri,
}

impl Exchange {
    pub fn begin(
        state: &AppState,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Exchange {
        let started = Instant::now();
        let request_id = headers
            .get(&REQUEST_ID)
            .and_then(valid_request_id)
            .unwrap_or_else(new_request_id);
        let ip = client_ip(peer, headers, &state.config.trusted_proxies);
        Exchange {
            started,
            request_id,
            ip,
            method: method.clone(),
            uri: uri.clone(),
        }
    }

    /// `count`: the metrics' part, given the method, the status and the seconds taken.
    pub fn end(
        &self,
        count: impl FnOnce(&str, u16, f64),
        user: Option<String>,
        response: &mut Response,
    ) {
        let elapsed = self.started.elapsed();
        let status = response.status().as_u16();
        count(self.method.as_str(), status, elapsed.as_secs_f64());
        let path = self.uri.path();
        let line = AccessLine {
            request_id: &self.request_id,
            method: self.method.as_str(),
            path,
            status,
            // To the microsecond: a short number, written without float formatting.
            duration_ms: elapsed.as_micros() as f64 / 1000.0,
            user_id: user.as_deref(),
            ip: self.ip,
        };
        line.record();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            headers.insert(REQUEST_ID.clone(), value);
        }
        headers
            .entry(header::X_CONTENT_TYPE_OPTIONS)
            .or_insert(HeaderValue::from_static("nosniff"));
        // API answers carry tokens and orders: never kept by a browser or a proxy. (The
        // public menu sets its own `no-cache`: it is revalidated by ETag, which needs a
        // stored copy.)
        if path.starts_with("/api/") {
            headers
                .entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
        }
    }
}

/// The access line: one per request.
struct AccessLine<'a> {
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    duration_ms: f64,
    user_id: Option<&'a str>,
    ip: IpAddr,
}

impl AccessLine<'_> {
    fn record(&self) {
        // The plain format's line is written here directly when nothing else could make it
        // differ (no span around it, the filter a plain list of levels per target). Through
        // `tracing` it cost half of a cached menu GET's own work: the event dispatched, each
        // field visited and formatted through `fmt` twice over.
        if logging::plain_output()
            && tracing::enabled!(tracing::Level::INFO)
            && tracing::dispatcher::get_default(|dispatch| dispatch.current_span().id().is_none())
            && logging::append_line(|out| self.write_plain(out, std::time::SystemTime::now()))
        {
            return;
        }
        self.log();
    }

    /// Through `tracing`: every format, every filter. The id is a field of the line, not of
    /// a span around it: a span per request is books kept in the subscriber for a request
    /// that logs nothing else.
    fn log(&self) {
        tracing::info!(
            request_id = %self.request_id,
            method = %self.method,
            // Display, not Debug: no escaping pass (a parsed path has nothing to escape).
            path = %self.path,
            status = self.status,
            duration_ms = self.duration_ms,
            user_id = self.user_id,
            ip = %logging::IpText(self.ip),
            "API Request"
        );
    }

    /// What `log` writes in the plain format (`logging::PlainLines` with `PlainFields`).
    fn write_plain(
        &self,
        out: &mut impl std::fmt::Write,
        now: std::time::SystemTime,
    ) -> std::fmt::Result {
        logging::write_timestamp(out, now)?;
        out.write_str(concat!(
            "  INFO ",
            module_path!(),
            ": API Request request_id="
        ))?;
        out.write_str(self.request_id)?;
        out.write_str(" method=")?;
        out.write_str(self.method)?;
        out.write_str(" path=")?;
        out.write_str(self.path)?;
        out.write_str(" status=")?;
        logging::write_integer(out, false, u64::from(self.status))?;
        out.write_str(" duration_ms=")?;
        logging::write_float(out, self.duration_ms)?;
        if let Some(user) = self.user_id {
            write!(out, " user_id={user:?}")?;
        }
        write!(out, " ip={}", logging::IpText(self.ip))?;
        out.write_char('\n')
    }
}

#[derive(Clone)]
struct GuardLayer(AppState);

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            state: self.0.clone(),
        }
    }
}

/// The rate limit, a read timeout on request bodies, and the envelope on every error
/// response, including the framework's own (405, 413…).
#[derive(Clone)]
struct Guard<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // A client that stops sending its body is dropped after `BODY_READ_TIMEOUT` of
        // silence. (A request without a body has nothing to time.)
        let req = if req.body().is_end_stream() {
            req
        } else {
            let timeout = self.state.config.body_read_timeout;
            req.map(|body| Body::new(TimeoutBody::new(timeout, body)))
        };
        if !self.state.limits.api.is_enabled() || exempt_from_rate_limit(req.uri().path()) {
            let response = self.inner.call(req);
            return Box::pin(async move {
                let Ok(response) = response.await;
                Ok(in_envelope(response))
            });
        }
        // The check may ask Redis: the route is called after it, on the service that was
        // made ready (tower's rule), leaving a fresh clone here.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Box::pin(async move {
            let ip = req
                .extensions()
                .get::<RequestContext>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.client_ip);
            if let Some(refusal) = over_rate_limit(&state, ip).await {
                return Ok(refusal);
            }
            let Ok(response) = inner.call(req).await;
            Ok(in_envelope(response))
        })
    }
}

/// The refusal for a client over the API rate limit (which may be shared through Redis).
pub(crate) async fn over_rate_limit(state: &AppState, ip: IpAddr) -> Option<Response> {
    let retry_after_secs = state.limits.api.check(&format!("ip:{ip}")).await.err()?;
    Some(AppError::RateLimited { retry_after_secs }.into_response())
}

/// Every error leaves in the envelope: a response of 400 or more that our code did not shape
/// is replaced by one (keeping `Allow` and `Retry-After`).
fn in_envelope(response: Response) -> Response {
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
pub(crate) fn exempt_from_rate_limit(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/assets/")
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
    fn request_ids_are_distinct_time_ordered_uuids() {
        let before = uuid::Uuid::now_v7();
        let ids: Vec<Arc<str>> = (0..1000).map(|_| new_request_id()).collect();
        let distinct: std::collections::HashSet<&str> = ids.iter().map(|id| &**id).collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 7, "{id}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
            let millis = |u: uuid::Uuid| u.get_timestamp().unwrap().to_unix();
            assert!(millis(parsed) >= millis(before), "{id} before {before}");
            assert_eq!(
                &**id,
                parsed.hyphenated().to_string(),
                "lower-case, hyphenated"
            );
        }
    }

    #[test]
    fn the_plain_access_line_is_the_one_tracing_writes() {
        let lines = [
            AccessLine {
                request_id: "01a2385f-eec3-708b-a760-54eb4b3db3a8",
                method: "GET",
                path: "/api/v1/restaurants/01a2385f-eec3-708b-a760-54eb4b3db3a8/menu",
                status: 200,
                duration_ms: 0.123,
                user_id: None,
                ip: "192.168.0.7".parse().unwrap(),
            },
            AccessLine {
                request_id: "client-chosen:id_1.2",
                method: "PATCH",
                path: "/api/v1/orders/x/status",
                status: 409,
                duration_ms: 1234.5,
                user_id: Some("0193 \"quoted\" \u{1b}"),
                ip: "fd00::2".parse().unwrap(),
            },
            AccessLine {
                request_id: "r",
                method: "POST",
                path: "/",
                status: 500,
                duration_ms: 0.1 + 0.2,
                user_id: Some(""),
                ip: "10.0.0.1".parse().unwrap(),
            },
        ];
        for line in &lines {
            let traced = logging::captured_plain_lines(|| line.log());
            let mut direct = String::new();
            line.write_plain(&mut direct, std::time::SystemTime::now())
                .unwrap();
            // The same after the timestamp (`2026-12-02T11:43:18.802444Z`).
            assert_eq!(&direct[27..], &traced[27..]);
            assert_eq!(direct.len(), traced.len());
        }
    }

    #[test]
    fn request_ids_are_sanitised() {
        assert!(valid_request_id(&HeaderValue::from_static("abc-123_x.y:z")).is_some());
        assert!(valid_request_id(&HeaderValue::from_static("bad id")).is_none());
        assert!(valid_request_id(&HeaderValue::from_str(&"a".repeat(129)).unwrap()).is_none());
    }
}
