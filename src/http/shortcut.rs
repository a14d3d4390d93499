//! The guest menu GET answered before routing. It is the request every guest's phone makes
//! first and most often, and once the menu is cached its answer is a few header values and
//! bytes already in memory; the router and the per-route layers (catch-panic and compression
//! futures moved and boxed around the response, a boxed route service cloned per request) cost
//! more than that answer. Profiled on the 2-core box, they were most of the gap between the
//! cached menu and a bare axum handler serving the same bytes.
//!
//! Everything else the full stack does for this request is done here too, by the same code:
//! the request id, the access log line, the metrics series (`Exchange`), the rate limit (and
//! its refusal, compressed as the compression layer would), the 304 for a known ETag and the
//! language choice (`api::menu`), HSTS where the listener sends it, and compression: of a body
//! compressed once per menu change, on the blocking pool, instead of once per request. Any
//! request this module is not sure of goes on to the router, which answers it as before: a
//! menu not cached, an id that does not parse, another query parameter, an Accept-Encoding
//! that is not text, or a coding whose compressed body is still being made.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;

use crate::app::AppState;
use crate::cache::Coding;
use crate::connections::{Answer, Shortcut};
use crate::domain::ids::RestaurantId;
use crate::http::metrics::RouteSeries;
use crate::http::{Exchange, over_rate_limit};

pub struct MenuShortcut {
    state: AppState,
    /// Whether the listener's other answers carry HSTS (`surfaces::strict_transport`).
    strict_transport: bool,
    /// The series the router counts this route in, so both paths count in one.
    series: Arc<RouteSeries>,
}

impl MenuShortcut {
    pub fn new(state: AppState, strict_transport: bool) -> MenuShortcut {
        let series = RouteSeries::new(state.metrics.clone(), "GET", MENU_ROUTE);
        MenuShortcut {
            state,
            strict_transport,
            series: Arc::new(series),
        }
    }
}

const MENU_ROUTE: &str = "/api/v1/restaurants/{id}/menu";

impl Shortcut for MenuShortcut {
    fn answer(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Option<Answer> {
        if method != Method::GET {
            return None;
        }
        let id = menu_restaurant(uri.path())?;
        let lang = lang_parameter(uri.query())?;
        let coding = accepted_coding(headers)?;
        let snapshot = self.state.menus.cached(id)?;
        let language = crate::api::menu::guest_language(lang, headers);
        let served = snapshot.served(language);
        let Some(body) = served.encoded(coding) else {
            // Compressed once, on the blocking pool; until then the router compresses per
            // request, as it always did.
            if served.claim(coding) {
                let snapshot = snapshot.clone();
                tokio::task::spawn_blocking(move || snapshot.served(language).prepare(coding));
            }
            return None;
        };
        let exchange = Exchange::begin(&self.state, method, uri, headers, peer);
        self.state.metrics.menus_from_cache.inc();
        let mut response = crate::api::menu::served_response(served, headers);
        if response.status() == StatusCode::OK {
            encoded(&mut response, coding, body.clone());
        }
        if self.strict_transport {
            strict_transport(&mut response);
        }
        if !self.state.limits.api.is_enabled() {
            exchange.end(
                |_, status, seconds| self.series.observe(status, seconds),
                None,
                &mut response,
            );
            return Some(Answer::Now(response));
        }
        // The limit may be kept in Redis: checked before the answer leaves, as the full stack
        // does, and a refusal leaves as the full stack would send it.
        let state = self.state.clone();
        let strict = self.strict_transport;
        let series = self.series.clone();
        let later: Pin<Box<dyn Future<Output = Response> + Send>> = Box::pin(async move {
            if let Some(refusal) = over_rate_limit(&state, exchange.ip).await {
                response = refusal_as_sent(refusal, coding).await;
                if strict {
                    strict_transport(&mut response);
                }
            }
            exchange.end(
                |_, status, seconds| series.observe(status, seconds),
                None,
                &mut response,
            );
            response
        });
        Some(Answer::Later(later))
    }
}

fn strict_transport(response: &mut Response) {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(crate::surfaces::HSTS),
    );
}

/// The rate limit's refusal (a JSON envelope) as the compression layer would send it.
async fn refusal_as_sent(refusal: Response, coding: Coding) -> Response {
    if coding == Coding::Identity {
        let mut refusal = refusal;
        encoded(&mut refusal, coding, bytes::Bytes::new());
        return refusal;
    }
    let (parts, body) = refusal.into_parts();
    let plain = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut refusal = Response::from_parts(parts, axum::body::Body::empty());
    encoded(&mut refusal, coding, coding.compress(&plain));
    refusal
}

/// `/api/v1/restaurants/{id}/menu` with an id that parses.
fn menu_restaurant(path: &str) -> Option<RestaurantId> {
    let id = path
        .strip_prefix("/api/v1/restaurants/")?
        .strip_suffix("/menu")?;
    id.parse().ok()
}

/// `Some(None)`: no query; `Some(Some(lang))`: just `lang=` with a plain tag; `None`: anything
/// else, left to the router's query parsing (and its errors).
fn lang_parameter(query: Option<&str>) -> Option<Option<&str>> {
    let Some(query) = query else {
        return Some(None);
    };
    let lang = query.strip_prefix("lang=")?;
    let plain = !lang.is_empty()
        && lang.len() <= 16
        && lang
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    plain.then_some(Some(lang))
}

/// The coding the compression layer would choose: the highest q-value among gzip and br
/// (identity otherwise), br on a tie. Tokens with a malformed q-value are skipped, as that
/// layer skips them; a header that is not text is left to the full stack.
fn accepted_coding(headers: &HeaderMap) -> Option<Coding> {
    let mut best: Option<(u16, Coding)> = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let text = value.to_str().ok()?;
        for item in text.split(',') {
            let mut pieces = item.splitn(2, ';');
            let name = pieces.next().unwrap_or("").trim();
            let coding = if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip")
            {
                Coding::Gzip
            } else if name.eq_ignore_ascii_case("br") {
                Coding::Brotli
            } else if name.eq_ignore_ascii_case("identity") {
                Coding::Identity
            } else {
                continue;
            };
            let quality = match pieces.next() {
                None => 1000,
                Some(parameter) => match q_value(parameter.trim()) {
                    Some(quality) => quality,
                    None => continue,
                },
            };
            if quality > 0 && best.is_none_or(|current| (quality, coding) > current) {
                best = Some((quality, coding));
            }
        }
    }
    Some(best.map_or(Coding::Identity, |(_, coding)| coding))
}

/// RFC 9110's `q=` weight in thousandths (0 to 1000, at most three decimals).
fn q_value(parameter: &str) -> Option<u16> {
    let number = parameter
        .strip_prefix("q=")
        .or_else(|| parameter.strip_prefix("Q="))?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u16 = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .zip([100, 10, 1])
        .map(|(digit, scale)| u16::from(digit - b'0') * scale)
        .sum::<u16>();
    let quality = whole + thousandths;
    (quality <= 1000).then_some(quality)
}

/// The compression layer's headers, and `body` (already in `coding`) unless that is identity
/// (the response keeps its own body then).
fn encoded(response: &mut Response, coding: Coding, body: bytes::Bytes) {
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    let name = match coding {
        Coding::Identity => return,
        Coding::Gzip => "gzip",
        Coding::Brotli => "br",
    };
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
    headers.remove(header::CONTENT_LENGTH);
    *response.body_mut() = axum::body::Body::from(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coding(accept_encoding: &[&str]) -> Option<Coding> {
        let mut headers = HeaderMap::new();
        for value in accept_encoding {
            headers.append(header::ACCEPT_ENCODING, value.parse().unwrap());
        }
        accepted_coding(&headers)
    }

    #[test]
    fn codings_are_chosen_as_the_compression_layer_chooses_them() {
        assert_eq!(coding(&[]), Some(Coding::Identity));
        assert_eq!(coding(&["gzip, deflate, br"]), Some(Coding::Brotli));
        assert_eq!(coding(&["gzip, deflate"]), Some(Coding::Gzip));
        assert_eq!(coding(&["br;q=0.5, gzip"]), Some(Coding::Gzip));
        assert_eq!(coding(&["br;q=0, gzip;q=0"]), Some(Coding::Identity));
        assert_eq!(coding(&["gzip;q=0.8", "br;q=0.9"]), Some(Coding::Brotli));
        assert_eq!(coding(&["br;q=1.5, gzip"]), Some(Coding::Gzip)); // malformed: skipped
        assert_eq!(coding(&["x-gzip"]), Some(Coding::Gzip));
        assert_eq!(coding(&["zstd, deflate"]), Some(Coding::Identity));
        assert_eq!(
            coding(&["identity;q=0.5, gzip;q=0.4"]),
            Some(Coding::Identity)
        );
    }

    #[test]
    fn q_values_follow_the_rfc() {
        assert_eq!(q_value("q=1"), Some(1000));
        assert_eq!(q_value("q=0.5"), Some(500));
        assert_eq!(q_value("Q=0.125"), Some(125));
        assert_eq!(q_value("q=1.000"), Some(1000));
        assert_eq!(q_value("q=1.001"), None);
        assert_eq!(q_value("q=0.1234"), None);
        assert_eq!(q_value("q=.5"), None);
        assert_eq!(q_value("level=1"), None);
    }

    #[test]
    fn only_plain_menu_requests_are_taken() {
        let id = "01a2372d-a61c-71b4-a7c5-c8b2e4c85a40";
        assert!(menu_restaurant(&format!("/api/v1/restaurants/{id}/menu")).is_some());
        assert!(menu_restaurant("/api/v1/restaurants/me/menu").is_none());
        assert!(menu_restaurant(&format!("/api/v1/restaurants/{id}/menu/")).is_none());
        assert_eq!(lang_parameter(None), Some(None));
        assert_eq!(lang_parameter(Some("lang=en")), Some(Some("en")));
        assert_eq!(lang_parameter(Some("lang=en&x=1")), None);
        assert_eq!(lang_parameter(Some("lang=%65n")), None);
        assert_eq!(lang_parameter(Some("x=1")), None);
    }
}
