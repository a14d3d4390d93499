//! Listeners and their lifecycle: HTTPS on `PORT`, and on `HTTP_PORT` the guest surface, a
//! redirect to HTTPS, or everything (see `surfaces`). Both stop gracefully on shutdown.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::middleware;
use axum::routing::get;
use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::ServerConfig;

use crate::app::AppState;
use crate::config::Config;
use crate::connections::{self, ConnectionLimits, Connections, GuardAcceptor, Shortcut};
use crate::http::shortcut::MenuShortcut;
use crate::surfaces::{self, SurfaceMode};
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
    let https_port = listeners.https.local_addr()?.port();
    let mut app = http::stack(api::router(), state.clone());
    // HSTS on the HTTPS listener, from the router and from the shortcut alike.
    let strict_transport = state.surface == SurfaceMode::HttpsOnly;
    if strict_transport {
        app = app.layer(middleware::from_fn(surfaces::strict_transport));
    }

    let connections = open_connections(&state);
    let guard = GuardAcceptor {
        connections,
        shortcut: Some(Arc::new(MenuShortcut::new(state.clone(), strict_transport))),
    };
    let https_handle: Handle<SocketAddr> = Handle::new();
    let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(tls))
        .handshake_timeout(state.config.tls_handshake_timeout)
        .acceptor(guard.clone());
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
            let service = match state.surface {
                SurfaceMode::PlainHttp => app,
                SurfaceMode::Split => http::stack(
                    api::router().layer(surfaces::GuestsOnlyLayer { https_port }),
                    state.clone(),
                ),
                SurfaceMode::HttpsOnly => redirect_app(state.clone(), https_port),
            };
            // The guest menu is served on plain HTTP in both modes that serve guests there.
            let shortcut = match state.surface {
                SurfaceMode::PlainHttp | SurfaceMode::Split => {
                    Some(Arc::new(MenuShortcut::new(state.clone(), false)) as Arc<dyn Shortcut>)
                }
                SurfaceMode::HttpsOnly => None,
            };
            let server = axum_server::from_tcp(listener)?
                .acceptor(GuardAcceptor { shortcut, ..guard })
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

/// The registry both listeners share: caps derived from the open-file limit.
fn open_connections(state: &AppState) -> Arc<Connections> {
    let config = &state.config;
    let (files, budget) = connections::connection_budget();
    let max_total = match config.max_connections {
        0 => budget,
        wanted => wanted.min(budget),
    };
    if config.max_connections > budget {
        tracing::warn!(
            wanted = config.max_connections,
            open_files = files,
            "MAX_CONNECTIONS is more than the open-file limit allows; raise LimitNOFILE"
        );
    }
    let limits = ConnectionLimits {
        max_total,
        max_per_ip: config.max_connections_per_ip,
        header_timeout: config.header_read_timeout,
        idle_timeout: config.idle_timeout,
    };
    tracing::info!(
        open_files = files,
        max_connections = max_total,
        max_per_ip = limits.max_per_ip,
        "connection limits"
    );
    Connections::new(limits, state.metrics.clone())
}

/// The plain-HTTP side when everything is HTTPS: health checks and the CA certificate (a device
/// fetches it before it trusts the box) are answered, everything else redirects.
fn redirect_app(state: AppState, https_port: u16) -> Router {
    let routes = Router::new()
        .route("/ca.crt", get(api::ops::ca_certificate))
        .route("/healthz", get(api::ops::healthz))
        .fallback(get(surfaces::redirect_all).with_state(https_port));
    http::stack(routes, state)
}
