//! Listeners and their lifecycle: HTTPS on `PORT`, and on `HTTP_PORT` either a redirect to
//! HTTPS or (with `--allow-plain-http`) the app itself. Both stop gracefully on shutdown.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::ServerConfig;

use crate::app::AppState;
use crate::config::Config;
use crate::error::AppError;
use crate::{api, http};

/// How long in-flight requests may take to finish once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Listeners {
    pub https: TcpListener,
    pub http: Option<TcpListener>,
}

impl Listeners {
    pub fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let https = TcpListener::bind((config.bind, config.port))
            .with_context(|| format!("binding HTTPS to {}:{}", config.bind, config.port))?;
        let http = TcpListener::bind((config.bind, config.http_port))
            .with_context(|| format!("binding HTTP to {}:{}", config.bind, config.http_port))?;
        Ok(Listeners {
            https,
            http: Some(http),
        })
    }
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    state: AppState,
    tls: Arc<ServerConfig>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = http::stack(api::router(), state.clone());
    let https_port = listeners.https.local_addr()?.port();

    let https_handle: Handle<SocketAddr> = Handle::new();
    let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(tls)).acceptor(NoDelayAcceptor);
    let https = axum_server::from_tcp(listeners.https)?
        .acceptor(acceptor)
        .handle(https_handle.clone())
        .serve(
            app.clone()
                .into_make_service_with_connect_info::<SocketAddr>(),
        );

    let http_handle: Handle<SocketAddr> = Handle::new();
    let http = match listeners.http {
        Some(listener) => {
            let service = if state.config.allow_plain_http {
                app
            } else {
                redirect_app(state.clone(), https_port)
            };
            let server = axum_server::from_tcp(listener)?
                .acceptor(NoDelayAcceptor)
                .handle(http_handle.clone())
                .serve(service.into_make_service_with_connect_info::<SocketAddr>());
            Some(server)
        }
        None => None,
    };

    let live = state.live.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: closing live connections, finishing in-flight requests");
        live.close_all(Duration::from_secs(3)).await;
        https_handle.graceful_shutdown(Some(DRAIN_TIMEOUT));
        http_handle.graceful_shutdown(Some(DRAIN_TIMEOUT));
    });

    let http = async move {
        match http {
            Some(server) => server.await,
            None => Ok(()),
        }
    };
    let (https_result, http_result) = tokio::join!(https, http);
    https_result.context("HTTPS listener failed")?;
    http_result.context("HTTP listener failed")?;
    tracing::info!("stopped");
    Ok(())
}

#[derive(Clone)]
struct RedirectTarget {
    https_port: u16,
}

/// The plain-HTTP side when HTTPS is required: everything redirects, except what a device
/// needs before it can trust the box (the CA certificate) and health checks.
fn redirect_app(state: AppState, https_port: u16) -> Router {
    let routes = Router::new()
        .route("/ca.crt", get(api::ops::ca_certificate))
        .route("/healthz", get(api::ops::healthz))
        .fallback(redirect_to_https)
        .layer(axum::Extension(RedirectTarget { https_port }));
    http::stack(routes, state)
}

async fn redirect_to_https(
    axum::Extension(target): axum::Extension<RedirectTarget>,
    req: Request,
) -> Response {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_without_port)
        .filter(|h| !h.is_empty())
    else {
        return AppError::validation("Host", "a Host header is required").into_response();
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let location = if target.https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{}{path}", target.https_port)
    };
    if location.parse::<Uri>().is_err() {
        return AppError::validation("Host", "malformed Host header").into_response();
    }
    // Temporary, so browsers do not remember it if the owner later allows plain HTTP.
    Redirect::temporary(&location).into_response()
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        // IPv6 literal: keep the brackets, drop any port after them.
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.split(':').next().unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::host_without_port;

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(host_without_port("192.168.0.5:8080"), "192.168.0.5");
        assert_eq!(host_without_port("shop.local"), "shop.local");
        assert_eq!(host_without_port("[::1]:8080"), "[::1]");
    }
}
