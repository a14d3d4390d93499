//! The web app, embedded in the binary at build time from `assets/` (no JavaScript build step,
//! no CDN): the customer's table page, the order status page, the checkout pages, the owner's
//! dashboard and the printable QR sheet. Files are revalidated by ETag on every load (cheap
//! 304s) so an update of the box is picked up at once; responses are compressed by the HTTP
//! stack.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::error::AppError;

struct Asset {
    name: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $name)),
            content_type: $type,
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("customer.html", "text/html; charset=utf-8"),
    asset!("owner.html", "text/html; charset=utf-8"),
    asset!("pay.html", "text/html; charset=utf-8"),
    asset!("qr.html", "text/html; charset=utf-8"),
    asset!("kitchen.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!("customer.js", "text/javascript; charset=utf-8"),
    asset!("owner.js", "text/javascript; charset=utf-8"),
    asset!("pay.js", "text/javascript; charset=utf-8"),
    asset!("qr.js", "text/javascript; charset=utf-8"),
    asset!("kitchen.js", "text/javascript; charset=utf-8"),
    asset!("menu-editor.js", "text/javascript; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

/// Pages may only load this box's own files; the checkout page may also load Toss's SDK,
/// the one external script, used only when a real Toss key is configured.
const CSP: &str = "default-src 'self'; img-src 'self' data: https:; style-src 'self'; \
    script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";
const CHECKOUT_CSP: &str = "default-src 'self'; img-src 'self' data: https:; \
    style-src 'self' 'unsafe-inline'; script-src 'self' https://*.tosspayments.com; \
    connect-src 'self' https://*.tosspayments.com; \
    frame-src https://*.tosspayments.com https://*.toss.im; frame-ancestors 'none'; \
    base-uri 'none'";

fn etags() -> &'static HashMap<&'static str, String> {
    static ETAGS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = ring::digest::digest(&ring::digest::SHA256, a.bytes);
                let hex: String = digest.as_ref()[..10]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                (a.name, format!("\"{hex}\""))
            })
            .collect()
    })
}

fn serve(name: &str, headers: &HeaderMap, csp: &'static str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return AppError::NotFound("file").into_response();
    };
    let etag = etags()[asset.name].clone();
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag)
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex etag"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.content_type.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
        // Table links carry their signature; never leak it to other sites.
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    }
    response
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/owner") }))
        .route(
            "/assets/{file}",
            get(|Path(file): Path<String>, h: HeaderMap| async move { serve(&file, &h, CSP) }),
        )
        .route(
            "/t/{restaurant}/{table}",
            get(|h: HeaderMap| async move { serve("customer.html", &h, CSP) }),
        )
        .route(
            "/t/{restaurant}/{table}/tab",
            get(|h: HeaderMap| async move { serve("customer.html", &h, CSP) }),
        )
        .route(
            "/order/{id}",
            get(|h: HeaderMap| async move { serve("customer.html", &h, CSP) }),
        )
        .route(
            "/pay/tab/{id}",
            get(|h: HeaderMap| async move { serve("pay.html", &h, CHECKOUT_CSP) }),
        )
        .route(
            "/pay/{id}",
            get(|h: HeaderMap| async move { serve("pay.html", &h, CHECKOUT_CSP) }),
        )
        .route(
            "/owner",
            get(|h: HeaderMap| async move { serve("owner.html", &h, CSP) }),
        )
        .route(
            "/owner/qr",
            get(|h: HeaderMap| async move { serve("qr.html", &h, CSP) }),
        )
        .route(
            "/kitchen",
            get(|h: HeaderMap| async move { serve("kitchen.html", &h, CSP) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_etag() {
        let tags = etags();
        assert_eq!(tags.len(), ASSETS.len());
        let mut values: Vec<_> = tags.values().collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), ASSETS.len());
    }
}
