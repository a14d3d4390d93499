//! The box's two surfaces and the URLs handed out for them.
//!
//! Guests' phones never trust the box's own CA, and a certificate warning on the first scan
//! loses the guest. So while the box runs on its own CA, the *guest surface* (table page, order
//! status, checkout, their API calls and sockets) is served over plain HTTP on `HTTP_PORT`, and
//! every link handed to a guest points there; the *owner surface* (dashboard, logins, everything
//! under `/restaurants/me`, the owner feed, metrics) stays HTTPS-only: over plain HTTP its pages
//! redirect and its API answers 403 `HTTPS_REQUIRED`, and only guest tokens are accepted, so no
//! password or owner token is useful in clear. With a certificate phones trust (or an `https://`
//! `PUBLIC_BASE_URL`), everything is HTTPS and plain HTTP only redirects; `--allow-plain-http`
//! serves everything on both.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::future::Either;
use tower::{Layer, Service};

use crate::config::Config;
use crate::error::AppError;
use crate::http::context::RequestContext;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SurfaceMode {
    /// The box runs on its own CA: guests on plain HTTP, owners on HTTPS.
    Split,
    /// Phones trust the certificate: everything on HTTPS; plain HTTP redirects; HSTS.
    HttpsOnly,
    /// `--allow-plain-http`: everything on both listeners.
    PlainHttp,
}

impl SurfaceMode {
    pub fn of(config: &Config) -> SurfaceMode {
        SurfaceMode::decide(
            config.allow_plain_http,
            config.tls_cert.is_some(),
            config.public_base_url.as_deref(),
        )
    }

    pub fn decide(
        allow_plain_http: bool,
        own_certificate: bool,
        public_base_url: Option<&str>,
    ) -> SurfaceMode {
        if allow_plain_http {
            SurfaceMode::PlainHttp
        } else if own_certificate || public_base_url.is_some_and(|u| u.starts_with("https://")) {
            SurfaceMode::HttpsOnly
        } else {
            SurfaceMode::Split
        }
    }
}

/// Where guests and owners reach the box: the base of every link the box hands out.
#[derive(Clone, Debug)]
pub struct PublicUrls {
    /// Table QR codes, `payment_url`, Toss's success/fail URLs, `websocket_url`.
    pub guest: Arc<str>,
    /// The dashboard and everything else owners open.
    pub owner: Arc<str>,
}

impl PublicUrls {
    /// `configured` is `PUBLIC_BASE_URL` (already normalised); `host` the box's LAN address.
    pub fn new(
        mode: SurfaceMode,
        configured: Option<&str>,
        host: &str,
        https_port: u16,
        http_port: u16,
    ) -> PublicUrls {
        let https = |host: &str| with_port("https", host, https_port, 443);
        let http = |host: &str| with_port("http", host, http_port, 80);
        let (guest, owner) = match (configured, mode) {
            (Some(url), _) if url.starts_with("https://") => (url.to_owned(), url.to_owned()),
            // A plain-HTTP base names where guests go; owners use the same host over HTTPS.
            (Some(url), SurfaceMode::PlainHttp) => (url.to_owned(), url.to_owned()),
            (Some(url), _) => (url.to_owned(), https(url_host(url))),
            (None, SurfaceMode::Split) => (http(host), https(host)),
            (None, SurfaceMode::HttpsOnly) => (https(host), https(host)),
            (None, SurfaceMode::PlainHttp) => (http(host), http(host)),
        };
        PublicUrls {
            guest: Arc::from(guest),
            owner: Arc::from(owner),
        }
    }
}

fn with_port(scheme: &str, host: &str, port: u16, default_port: u16) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]") // a bare IPv6 address
    } else {
        host.to_owned()
    };
    if port == default_port {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}:{port}")
    }
}

/// `scheme://host[:port][/path]` → `host` (IPv6 literals keep their brackets).
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or("");
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Whether a request belongs to the guest surface, which plain HTTP serves in split mode.
pub fn is_guest_surface(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["healthz"] | ["readyz"] | ["ca.crt"] => true,
        // Pages a guest opens, and the files they load.
        ["t", _, _] | ["t", _, _, "tab"] | ["order", _] | ["pay", _] | ["pay", "tab", _] => {
            *method == Method::GET
        }
        ["assets", _] | ["images", _, _] => *method == Method::GET,
        ["api", "v1", "auth", "guest"] => true,
        // Only guest tokens pass on plain HTTP (see `PlainGuests`), so these stay guest-only.
        ["api", "v1", "auth", "me"] | ["api", "v1", "auth", "logout"] => true,
        ["api", "v1", "orders"] | ["api", "v1", "orders", _] => true,
        ["api", "v1", "orders", _, "cancel"] => true,
        ["api", "v1", "payments", _] => true,
        ["api", "v1", "restaurants", id, "menu"] => *id != "me" && *method == Method::GET,
        ["api", "v1", "tables", "me"]
        | ["api", "v1", "tables", "me", "calls"]
        | ["api", "v1", "tables", "me", "payments"] => true,
        ["ws", "orders", _] | ["ws", "tables", "me"] => true,
        ["ws", "restaurants", id, "menu"] => *id != "me",
        _ => false,
    }
}

/// Marks a request that came in over plain HTTP in split mode: only guest tokens count there.
#[derive(Clone, Copy, Debug)]
pub struct PlainGuests;

/// The plain-HTTP listener's gate in split mode: guest requests pass (marked `PlainGuests`),
/// owner pages redirect to HTTPS, anything else is 403 `HTTPS_REQUIRED`. A service of its own
/// rather than `middleware::from_fn` (which boxes and clones per request): every guest's
/// request goes through it.
#[derive(Clone, Copy)]
pub struct GuestsOnlyLayer {
    pub https_port: u16,
}

impl<S> Layer<S> for GuestsOnlyLayer {
    type Service = GuestsOnly<S>;

    fn layer(&self, inner: S) -> GuestsOnly<S> {
        GuestsOnly {
            inner,
            https_port: self.https_port,
        }
    }
}

#[derive(Clone)]
pub struct GuestsOnly<S> {
    inner: S,
    https_port: u16,
}

impl<S> Service<Request> for GuestsOnly<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match admit(self.https_port, req) {
            ControlFlow::Continue(req) => Either::Left(self.inner.call(req)),
            ControlFlow::Break(refusal) => Either::Right(ready(Ok(refusal))),
        }
    }
}

fn admit(https_port: u16, mut req: Request) -> ControlFlow<Response, Request> {
    if is_guest_surface(req.method(), req.uri().path()) {
        req.extensions_mut().insert(PlainGuests);
        return ControlFlow::Continue(req);
    }
    // The box's own scraper: a loopback request crosses no network.
    let from_loopback = req
        .extensions()
        .get::<RequestContext>()
        .is_some_and(|c| c.client_ip.is_loopback());
    if req.uri().path() == "/metrics" && from_loopback {
        return ControlFlow::Continue(req);
    }
    let path = req.uri().path();
    let is_api = path.starts_with("/api/") || path.starts_with("/ws/") || path == "/metrics";
    if is_api || req.method() != Method::GET {
        return ControlFlow::Break(AppError::HttpsRequired.into_response());
    }
    ControlFlow::Break(redirect_to_https(https_port, &req))
}

/// The plain-HTTP listener when everything is HTTPS: every request is sent to HTTPS, except
/// health checks (routed before this).
pub async fn redirect_all(State(https_port): State<u16>, req: Request) -> Response {
    redirect_to_https(https_port, &req)
}

fn redirect_to_https(https_port: u16, req: &Request) -> Response {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_without_port)
        .filter(|h| !h.is_empty())
    else {
        return AppError::validation("Host", "a Host header is required").into_response();
    };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = format!("{}{path}", with_port("https", host, https_port, 443));
    if location.parse::<Uri>().is_err() {
        return AppError::validation("Host", "malformed Host header").into_response();
    }
    // Temporary, so browsers do not remember it if the owner later allows plain HTTP.
    Redirect::temporary(&location).into_response()
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.split(':').next().unwrap_or(host)
}

/// The `Strict-Transport-Security` value: a year.
pub const HSTS: &str = "max-age=31536000";

/// HSTS on the HTTPS listener when phones trust its certificate: browsers then never try the
/// plain listener again.
pub async fn strict_transport(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_links_go_to_plain_http_while_the_box_runs_its_own_ca() {
        let urls = PublicUrls::new(SurfaceMode::Split, None, "192.168.0.10", 8443, 8080);
        assert_eq!(&*urls.guest, "http://192.168.0.10:8080");
        assert_eq!(&*urls.owner, "https://192.168.0.10:8443");
        let urls = PublicUrls::new(SurfaceMode::Split, None, "192.168.0.10", 443, 80);
        assert_eq!(&*urls.guest, "http://192.168.0.10");
        assert_eq!(&*urls.owner, "https://192.168.0.10");
    }

    #[test]
    fn a_configured_base_decides_the_guest_links() {
        let urls = PublicUrls::new(
            SurfaceMode::Split,
            Some("http://shop.lan:8080"),
            "10.0.0.2",
            8443,
            8080,
        );
        assert_eq!(&*urls.guest, "http://shop.lan:8080");
        assert_eq!(&*urls.owner, "https://shop.lan:8443");
        let urls = PublicUrls::new(
            SurfaceMode::HttpsOnly,
            Some("https://order.myshop.kr"),
            "10.0.0.2",
            8443,
            8080,
        );
        assert_eq!(&*urls.guest, "https://order.myshop.kr");
        assert_eq!(&*urls.owner, "https://order.myshop.kr");
        let urls = PublicUrls::new(SurfaceMode::HttpsOnly, None, "fe80::1", 8443, 8080);
        assert_eq!(&*urls.guest, "https://[fe80::1]:8443");
    }

    #[test]
    fn hosts_come_out_of_urls() {
        assert_eq!(url_host("http://shop.lan:8080/x"), "shop.lan");
        assert_eq!(url_host("https://[::1]:8443"), "[::1]");
        assert_eq!(host_without_port("192.168.0.5:8080"), "192.168.0.5");
        assert_eq!(host_without_port("[::1]:8080"), "[::1]");
    }

    #[test]
    fn the_guest_surface_is_exactly_what_a_guest_needs() {
        let get = Method::GET;
        let post = Method::POST;
        for (method, path) in [
            (&get, "/t/0193/3"),
            (&get, "/t/0193/3/tab"),
            (&get, "/order/abc"),
            (&get, "/pay/success"),
            (&get, "/assets/customer.js"),
            (&get, "/api/v1/restaurants/0193/menu"),
            (&post, "/api/v1/auth/guest"),
            (&post, "/api/v1/orders"),
            (&get, "/api/v1/orders/abc"),
            (&post, "/api/v1/orders/abc/cancel"),
            (&post, "/api/v1/payments/confirm"),
            (&get, "/ws/orders/abc"),
            (&get, "/ws/restaurants/0193/menu"),
            (&get, "/api/v1/tables/me"),
            (&post, "/api/v1/tables/me/calls"),
            (&get, "/ws/tables/me"),
            (&get, "/ca.crt"),
            (&get, "/healthz"),
        ] {
            assert!(is_guest_surface(method, path), "{method} {path}");
        }
        for (method, path) in [
            (&get, "/owner"),
            (&get, "/owner/qr"),
            (&get, "/kitchen"),
            (&get, "/"),
            (&post, "/api/v1/auth/login"),
            (&post, "/api/v1/auth/register"),
            (&post, "/api/v1/auth/refresh"),
            (&get, "/api/v1/restaurants/me"),
            (&get, "/api/v1/restaurants/me/menu"),
            (&post, "/api/v1/restaurants/me/orders/abc/accept"),
            (&get, "/ws/restaurants/me/orders"),
            (&get, "/api/v1/restaurants/me/tables"),
            (&post, "/api/v1/restaurants/me/tables/3/settle"),
            (&get, "/metrics"),
            (&post, "/t/0193/3"),
        ] {
            assert!(!is_guest_surface(method, path), "{method} {path}");
        }
    }
}
