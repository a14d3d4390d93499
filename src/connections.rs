//! Connection hygiene: the box must stay up on a shop network it does not control.
//!
//! Every accepted TCP connection is registered here and its stream wrapped, so that
//! - a connection waiting for a request may stay idle for `idle_timeout`, and once bytes of a
//!   request arrive, its head must be complete within `header_timeout` (Go's net/http split
//!   these the same way) — a slow-loris or a silent socket cannot hold a file descriptor for
//!   long; while a request is being handled or a WebSocket is open, neither applies;
//! - open connections are capped per client IP (a new one over the cap is closed at once) and
//!   in total, below the open-file limit with descriptors kept in reserve for SQLite, the
//!   listeners and outgoing calls; at the total cap a new connection takes the place of the one
//!   that has been idle longest, so a flood of idle sockets cannot lock out the owner.
//!
//! Body reads have their own timeout (`http::stack`); TLS handshakes theirs (`server`).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::Response;
use futures_util::future::{BoxFuture, Either, Ready, ready};
use futures_util::task::AtomicWaker;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tower::Service;

use crate::http::metrics::Metrics;

/// File descriptors kept free for everything that is not a client connection: the database
/// and its WAL (one set per pooled connection), listeners, the runtime, calls to Toss.
pub const RESERVED_DESCRIPTORS: u64 = 128;

#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Open client connections in all; 0 = derived from the open-file limit.
    pub max_total: usize,
    /// Open client connections per client IP; 0 = unlimited.
    pub max_per_ip: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// The open-file limit, raised to the hard limit first (a service manager may hand us a low
/// soft limit), and the connection cap it leaves room for.
pub fn connection_budget() -> (u64, usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    let files = limit.current.unwrap_or(1 << 20);
    let budget = files.saturating_sub(RESERVED_DESCRIPTORS).max(16);
    (files, usize::try_from(budget).unwrap_or(usize::MAX))
}

/// Why a connection is turned away or closed.
fn refused(reason: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionRefused, reason)
}

/// The registry of open connections.
pub struct Connections {
    limits: ConnectionLimits,
    epoch: Instant,
    registry: Mutex<Registry>,
    metrics: Arc<Metrics>,
    /// Signalled when the last open connection closes (what a drain waits for).
    emptied: Notify,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Arc<Conn>>,
    per_ip: HashMap<IpAddr, usize>,
}

/// One connection's state, shared by its stream (which enforces the deadlines) and its service
/// (which knows when a request is being handled).
pub struct Conn {
    id: u64,
    ip: IpAddr,
    /// The registry's clock origin: every time below counts from it.
    epoch: Instant,
    in_flight: AtomicU32,
    upgraded: AtomicBool,
    /// HTTP/2: frames flow while idle (window updates, pings), so no byte starts a request
    /// head; only the idle deadline applies between requests.
    multiplexed: AtomicBool,
    evicted: AtomicBool,
    /// Shutting down: finish the request in progress, then close.
    draining: AtomicBool,
    /// Milliseconds since `epoch`: when the connection last became idle (or wrote while idle).
    idle_since: AtomicU64,
    /// Milliseconds since `epoch` (+1, so 0 means none): when bytes of a new request began.
    head_started: AtomicU64,
    waker: AtomicWaker,
    /// Milliseconds since `epoch` the stream's timer is set for (0: none yet). When a request
    /// ends with no timer still to come, the stream must be woken to arm one: hyper does not
    /// read again by itself after a read it found blocked, and the connection would wait for
    /// the client with no deadline.
    timer_due: AtomicU64,
}

impl Conn {
    fn now(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    /// When this connection must have made progress by, in ms since `epoch`; `None` while a
    /// request is handled or a WebSocket is open.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<u64> {
        if self.upgraded.load(Ordering::Acquire) || self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.head_started.load(Ordering::Acquire) {
            0 => Some(self.idle_since.load(Ordering::Acquire) + millis(limits.idle_timeout)),
            _ if self.multiplexed.load(Ordering::Acquire) => {
                Some(self.idle_since.load(Ordering::Acquire) + millis(limits.idle_timeout))
            }
            started => Some(started - 1 + millis(limits.header_timeout)),
        }
    }

    /// How long ago this connection last showed life, for choosing whom to evict.
    fn quiet_since(&self) -> u64 {
        match self.head_started.load(Ordering::Acquire) {
            0 => self.idle_since.load(Ordering::Acquire),
            started => started - 1,
        }
    }

    /// To be closed at once: evicted, or cut at the end of a drain.
    pub fn closing(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// The task to wake when this connection is evicted, drained or due.
    pub fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    fn evictable(&self) -> bool {
        !self.upgraded.load(Ordering::Acquire)
            && !self.evicted.load(Ordering::Acquire)
            && self.in_flight.load(Ordering::Acquire) == 0
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2)
}

impl Connections {
    pub fn new(limits: ConnectionLimits, metrics: Arc<Metrics>) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            epoch: Instant::now(),
            registry: Mutex::new(Registry::default()),
            metrics,
            emptied: Notify::new(),
        })
    }

    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    fn now(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `ip`, evicting the longest-idle one when all places are taken.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> io::Result<Arc<Conn>> {
        let now = self.now();
        let mut registry = self.registry();
        let from_ip = registry.per_ip.get(&ip).copied().unwrap_or(0);
        if self.limits.max_per_ip != 0 && from_ip >= self.limits.max_per_ip {
            self.metrics.connections_refused.inc();
            return Err(refused("too many connections from this address"));
        }
        if registry.open.len() >= self.limits.max_total {
            let victim = registry
                .open
                .values()
                .filter(|c| c.evictable())
                .min_by_key(|c| c.quiet_since())
                .cloned();
            let Some(victim) = victim else {
                self.metrics.connections_refused.inc();
                return Err(refused("every connection is busy"));
            };
            victim.evicted.store(true, Ordering::Release);
            victim.waker.wake();
            self.metrics.connections_evicted.inc();
        }
        registry.next_id += 1;
        let conn = Arc::new(Conn {
            id: registry.next_id,
            ip,
            epoch: self.epoch,
            in_flight: AtomicU32::new(0),
            upgraded: AtomicBool::new(false),
            multiplexed: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            idle_since: AtomicU64::new(now),
            head_started: AtomicU64::new(0),
            waker: AtomicWaker::new(),
            timer_due: AtomicU64::new(0),
        });
        registry.open.insert(conn.id, conn.clone());
        *registry.per_ip.entry(ip).or_insert(0) += 1;
        self.metrics.connections_open.inc();
        Ok(conn)
    }

    fn release(&self, conn: &Conn) {
        let mut registry = self.registry();
        if registry.open.remove(&conn.id).is_some() {
            self.metrics.connections_open.dec();
            if let Some(count) = registry.per_ip.get_mut(&conn.ip) {
                *count -= 1;
                if *count == 0 {
                    registry.per_ip.remove(&conn.ip);
                }
            }
            if registry.open.is_empty() {
                // A permit if nobody waits yet: a drain that starts later still sees it.
                self.emptied.notify_one();
            }
        }
    }

    /// Shutdown, once the listeners have stopped accepting: every connection finishes the
    /// request it is handling and closes (an idle one at once); a WebSocket still open after
    /// the live feeds said goodbye is closed; after `timeout`, those still open are cut.
    pub async fn drain(&self, timeout: Duration) {
        self.signal_all(|conn| {
            if conn.upgraded.load(Ordering::Acquire) {
                &conn.evicted
            } else {
                &conn.draining
            }
        });
        if tokio::time::timeout(timeout, self.all_closed())
            .await
            .is_err()
        {
            tracing::warn!(
                open = self.open(),
                "connections still busy after the drain timeout; closing them"
            );
            self.signal_all(|conn| &conn.evicted);
            let _ = tokio::time::timeout(Duration::from_secs(1), self.all_closed()).await;
        }
    }

    fn signal_all(&self, flag: impl Fn(&Conn) -> &AtomicBool) {
        let open: Vec<Arc<Conn>> = self.registry().open.values().cloned().collect();
        for conn in open {
            flag(&conn).store(true, Ordering::Release);
            conn.waker.wake();
        }
    }

    async fn all_closed(&self) {
        while self.open() > 0 {
            self.emptied.notified().await;
        }
    }

    /// Open connections, for tests and metrics.
    pub fn open(&self) -> usize {
        self.registry().open.len()
    }
}

/// The acceptor: registers the connection (or turns it away), sets `TCP_NODELAY`, and wraps the
/// stream and the per-connection service.
#[derive(Clone)]
pub struct GuardAcceptor {
    pub connections: Arc<Connections>,
    /// Requests this listener answers before its router.
    pub shortcut: Option<Arc<dyn Shortcut>>,
}

/// Answers a few hot requests before routing (see `http::shortcut`).
pub trait Shortcut: Send + Sync + 'static {
    /// `None`: not one of them; the request goes on to the router.
    fn answer(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Option<Answer>;
}

pub enum Answer {
    Now(Response),
    /// For an answer that must first wait (on the rate limit kept in Redis, say).
    Later(BoxFuture<'static, Response>),
}

impl GuardAcceptor {
    /// Admits a new connection from `peer` (an error: it is closed at once).
    pub fn admit(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        router: Router,
    ) -> io::Result<(Guarded<TcpStream>, ConnService)> {
        stream.set_nodelay(true)?;
        let conn = self.connections.admit(peer.ip())?;
        let guarded = Guarded {
            inner: stream,
            conn: conn.clone(),
            connections: self.connections.clone(),
            sleep: None,
        };
        let service = ConnService {
            router,
            conn,
            peer,
            shortcut: self.shortcut.clone(),
        };
        Ok((guarded, service))
    }
}

/// A client stream that enforces its connection's deadlines and can be evicted.
pub struct Guarded<S> {
    inner: S,
    conn: Arc<Conn>,
    connections: Arc<Connections>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S> Drop for Guarded<S> {
    fn drop(&mut self) {
        self.connections.release(&self.conn);
    }
}

impl<S> Guarded<S> {
    /// `Ready(Err)` once the connection must close: evicted, or past its deadline. Otherwise
    /// arms a timer so the task wakes at the deadline even if the client stays silent.
    fn poll_expiry(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        self.conn.waker.register(cx.waker());
        if self.conn.evicted.load(Ordering::Acquire) {
            return Poll::Ready(refused("closed to make room for a new connection"));
        }
        // While a request is handled no deadline applies; a timer left armed fires once,
        // harmlessly, and the deadline is looked at again then. Without one, the request's
        // end wakes this stream to arm it.
        let Some(deadline) = self.conn.deadline(&self.connections.limits) else {
            return Poll::Pending;
        };
        if self.connections.now() >= deadline {
            self.connections.metrics.connections_timed_out.inc();
            return Poll::Ready(timed_out());
        }
        let at = self.connections.epoch + Duration::from_millis(deadline);
        // The idle deadline moves with every request; resetting the timer each time costs a
        // lock on the runtime's timer wheel per request. A timer set for an earlier deadline
        // stays armed instead: it wakes this connection once, early, and is moved then.
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if sleep.is_elapsed() || sleep.deadline() > at {
                    sleep.as_mut().reset(at);
                    self.conn.timer_due.store(deadline, Ordering::Release);
                }
                sleep
            }
            empty => {
                self.conn.timer_due.store(deadline, Ordering::Release);
                empty.insert(Box::pin(tokio::time::sleep_until(at)))
            }
        };
        loop {
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) if sleep.deadline() < at => {
                    sleep.as_mut().reset(at);
                    self.conn.timer_due.store(deadline, Ordering::Release);
                }
                Poll::Ready(()) => {
                    self.connections.metrics.connections_timed_out.inc();
                    return Poll::Ready(timed_out());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "client too slow or idle too long")
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.conn.evicted.load(Ordering::Acquire) {
            return Poll::Ready(Err(refused("closed to make room for a new connection")));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let conn = &this.conn;
                if buf.filled().len() > before
                    && conn.in_flight.load(Ordering::Acquire) == 0
                    && !conn.upgraded.load(Ordering::Acquire)
                    && conn.head_started.load(Ordering::Acquire) == 0
                {
                    conn.head_started.store(conn.now() + 1, Ordering::Release);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => match this.poll_expiry(cx) {
                Poll::Ready(err) => Poll::Ready(Err(err)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0)
            && this.conn.in_flight.load(Ordering::Acquire) == 0
        {
            // A response still streaming out: the client is not idle yet.
            this.conn
                .idle_since
                .store(this.conn.now(), Ordering::Release);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0)
            && this.conn.in_flight.load(Ordering::Acquire) == 0
        {
            this.conn
                .idle_since
                .store(this.conn.now(), Ordering::Release);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The per-connection service: counts requests in flight (no deadline applies meanwhile) and
/// marks a connection upgraded to a WebSocket (its own pings keep it honest from then on).
/// Requests the shortcut does not answer go to the router, with the peer's address as axum's
/// `ConnectInfo`.
pub struct ConnService {
    router: Router,
    conn: Arc<Conn>,
    peer: SocketAddr,
    shortcut: Option<Arc<dyn Shortcut>>,
}

impl ConnService {
    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

/// A request in flight on a connection; the connection is idle again once the last one ends.
struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let conn = &self.0;
        if conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            conn.idle_since.store(conn.now(), Ordering::Release);
            // Wake the stream to arm the idle timer when it has none armed, and always for
            // HTTP/2, whose requests run in tasks of their own while the connection's task
            // waits on the socket. An HTTP/1 connection with a timer armed (the common case:
            // it stays armed across requests) is not woken: its timer will fire and move.
            let due = conn.timer_due.load(Ordering::Acquire);
            if due == 0 || due <= conn.now() || conn.multiplexed.load(Ordering::Acquire) {
                conn.waker.wake();
            }
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = Either<
        Ready<Result<Response, Self::Error>>,
        BoxFuture<'static, Result<Response, Self::Error>>,
    >;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        if req.version() == axum::http::Version::HTTP_2 {
            self.conn.multiplexed.store(true, Ordering::Release);
        }
        self.conn.in_flight.fetch_add(1, Ordering::AcqRel);
        self.conn.head_started.store(0, Ordering::Release);
        // Counted from the call, dropped with the future: a cancelled request ends too.
        let in_flight = InFlight(self.conn.clone());
        if let Some(answer) = self.shortcut.as_ref().and_then(|shortcut| {
            shortcut.answer(req.method(), req.uri(), req.headers(), self.peer.ip())
        }) {
            return match answer {
                Answer::Now(response) => {
                    drop(in_flight);
                    Either::Left(ready(Ok(response)))
                }
                Answer::Later(response) => Either::Right(Box::pin(async move {
                    let response = response.await;
                    drop(in_flight);
                    Ok(response)
                })),
            };
        }
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let response = self.router.clone().call(req);
        let conn = self.conn.clone();
        Either::Right(Box::pin(async move {
            let response = response.await;
            if let Ok(response) = &response
                && response.status() == StatusCode::SWITCHING_PROTOCOLS
            {
                conn.upgraded.store(true, Ordering::Release);
            }
            drop(in_flight);
            response
        }))
    }
}
