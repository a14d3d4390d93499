//! Listeners and their lifecycle: HTTPS on `PORT`, and on `HTTP_PORT` the guest surface, a
//! redirect to HTTPS, or everything (see `surfaces`). Both stop gracefully on shutdown.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::middleware;
use axum::routing::get;
use rustls::ServerConfig;

use crate::app::AppState;
use crate::config::Config;
use crate::connections::{self, ConnectionLimits, Connections, GuardAcceptor, Shortcut};
use crate::http::shortcut::MenuShortcut;
use crate::listener::{self, Tls};
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
        connections: connections.clone(),
        shortcut: Some(Arc::new(MenuShortcut::new(state.clone(), strict_transport))),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stopped| *stopped).await;
        }
    };
    let tls = Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(tls),
        handshake_timeout: state.config.tls_handshake_timeout,
    };
    let https = listener::serve(
        listener::prepare(listeners.https)?,
        Some(tls),
        guard.clone(),
        app.clone(),
        until_stopped(),
    );

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
            Some(listener::serve(
                listener::prepare(listener)?,
                None,
                GuardAcceptor { shortcut, ..guard },
                service,
                until_stopped(),
            ))
        }
        None => None,
    };
    let http = async move {
        if let Some(server) = http {
            server.await;
        }
    };

    let live = state.live.clone();
    let stopping = async move {
        shutdown.await;
        tracing::info!("shutting down: closing live connections, finishing in-flight requests");
        live.close_all(Duration::from_secs(3)).await;
        let _ = stop.send(true);
    };
    tokio::join!(https, http, stopping);
    connections.drain(DRAIN_TIMEOUT).await;
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
