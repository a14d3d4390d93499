//! Serving one listening socket: the accept loop, the TLS handshake, hyper on each connection,
//! and the connection's part of a shutdown drain.
//!
//! Written here rather than taken from axum-server, whose per-connection task polled two
//! process-wide shutdown `Notify`s on every wake-up (each poll takes its lock, which the two
//! cores then pass back and forth) and added two extensions (a map allocated) to every
//! request; profiled on the cached menu GET, that was as much as the rest of the connection
//! handling. The connection registry (`connections`) already holds every connection, so a
//! drain marks and wakes them there, and each connection looks at its own flags when it runs.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::connections::{Conn, ConnService, GuardAcceptor};

/// TLS for a listener.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// A client that has not finished its handshake by then is dropped.
    pub handshake_timeout: Duration,
}

/// A bound listener ready to serve (the socket made non-blocking for tokio).
pub fn prepare(listener: std::net::TcpListener) -> io::Result<TcpListener> {
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

/// Accepts connections until `stop` resolves; the connections already open carry on (see
/// `Connections::drain`).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Tls>,
    guard: GuardAcceptor,
    app: Router,
    stop: impl Future<Output = ()>,
) {
    let builder = Arc::new(http_builder());
    let tls = tls.map(Arc::new);
    let mut stop = pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of descriptors (say): no hot loop while that lasts.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Over a cap, the connection is closed here (dropped).
        let Ok((stream, service)) = guard.admit(stream, peer, app.clone()) else {
            continue;
        };
        tokio::spawn(connection(stream, service, tls.clone(), builder.clone()));
    }
}

/// HTTP/1.1 and HTTP/2, with upgrades (WebSockets). The connection registry keeps the
/// deadlines, so hyper's own header-read timer stays off.
fn http_builder() -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    builder
}

async fn connection<S>(
    stream: S,
    service: ConnService,
    tls: Option<Arc<Tls>>,
    builder: Arc<Builder<TokioExecutor>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = service.conn().clone();
    match tls {
        None => serve_connection(&builder, stream, service, &conn).await,
        Some(tls) => {
            let handshake =
                tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(stream));
            let mut handshake = pin!(handshake);
            // A shutdown does not wait for a handshake (a silent client would hold it for the
            // whole handshake timeout).
            let handshake = poll_fn(|cx| {
                conn.register(cx.waker());
                if conn.draining() || conn.closing() {
                    return Poll::Ready(None);
                }
                handshake.as_mut().poll(cx).map(Some)
            })
            .await;
            if let Some(Ok(Ok(stream))) = handshake {
                serve_connection(&builder, stream, service, &conn).await;
            }
        }
    }
}

async fn serve_connection<S>(
    builder: &Builder<TokioExecutor>,
    stream: S,
    service: ConnService,
    conn: &Conn,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut served = pin!(builder.serve_connection_with_upgrades(TokioIo::new(stream), service));
    let mut graceful = false;
    // The drain wakes this task through the registry; the flags are looked at on every poll,
    // after the task's waker is registered (a drain between the two would otherwise be lost).
    poll_fn(|cx| {
        conn.register(cx.waker());
        if conn.closing() {
            return Poll::Ready(());
        }
        if !graceful && conn.draining() {
            graceful = true;
            served.as_mut().graceful_shutdown();
        }
        served.as_mut().poll(cx).map(|_| ())
    })
    .await;
}
