//! Live WebSocket connections: a customer's order, an owner's order feed, a guest's table, and
//! a restaurant's public menu. Each connection authenticates (token in the query or as the
//! first message), subscribes to the bus *before* reading any state, then sends a snapshot (or
//! replays what it missed since `since` from the event log) and goes live. Event sequence numbers make the seam
//! between replay and live exact: nothing is sent twice, and a gap is filled from the log. A
//! client too slow for the bus gets a fresh snapshot instead of a silent gap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::auth::extract::{authenticate, only_guests_in_clear};
use crate::auth::tokens::{access_revocation_key, session_revocation_key};
use crate::domain::ids::{GuestId, OrderId, RestaurantId, TableSessionId};
use crate::domain::order::Customer;
use crate::domain::user::Role;
use crate::error::AppError;
use crate::events::{LiveEvent, MenuEvent, OrderEvent};
use crate::http::metrics::Metrics;
use crate::orders::{empty_tab_json, order_json, tab_json, visible_order};

/// How long a client has to send its token as the first message.
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// A client that cannot take a message for this long is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// Events read from the log per query when replaying.
const REPLAY_PAGE: usize = 500;
/// Beyond this many missed events a snapshot is cheaper than a replay.
const MAX_REPLAY: usize = 2_000;

/// Open connections, per-IP limits, and the shutdown signal.
pub struct LiveHub {
    max_per_ip: usize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
    shutdown: watch::Sender<bool>,
    metrics: Arc<Metrics>,
}

/// Holds a connection's place; dropping it frees the place.
pub struct ConnectionSlot {
    hub: Arc<LiveHub>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut per_ip = self.hub.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.hub.open.fetch_sub(1, Ordering::SeqCst);
        self.hub.metrics.ws_connections.dec();
    }
}

impl LiveHub {
    pub fn new(max_per_ip: usize, metrics: Arc<Metrics>) -> LiveHub {
        LiveHub {
            max_per_ip,
            per_ip: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            shutdown: watch::channel(false).0,
            metrics,
        }
    }

    /// A place for one more connection from `ip`, unless it already has its share.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_ip.entry(ip).or_insert(0);
        if self.max_per_ip != 0 && *count >= self.max_per_ip {
            return None;
        }
        *count += 1;
        self.open.fetch_add(1, Ordering::SeqCst);
        self.metrics.ws_connections.inc();
        Some(ConnectionSlot {
            hub: self.clone(),
            ip,
        })
    }

    /// Closes every connection with 1001 (going away) and waits up to `grace` for them to go.
    pub async fn close_all(&self, grace: Duration) {
        self.shutdown.send_replace(true);
        let deadline = Instant::now() + grace;
        while self.open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What a connection watches.
#[derive(Clone, Debug)]
pub enum Channel {
    /// One order: its customer or its restaurant's owner (the id as given in the path).
    Order(String),
    /// Every order event of the owner's restaurant.
    OwnerFeed,
    /// A guest's table: every order, call and total of their party.
    Table,
    /// Price and availability changes of a restaurant's menu; public.
    Menu(RestaurantId),
}

pub struct Connect {
    pub channel: Channel,
    pub token: Option<String>,
    pub since: Option<i64>,
    /// Opened over plain HTTP in split mode: only guest tokens are accepted.
    pub guests_only: bool,
}

/// The token a connection was opened with: the socket lives no longer than it does.
struct Session {
    access_key: String,
    session_key: String,
    expires_at: tokio::time::Instant,
}

impl Session {
    fn of(user: &AuthUser) -> Session {
        let left = (user.expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        Session {
            access_key: access_revocation_key(&user.jti),
            session_key: session_revocation_key(user.session_id),
            expires_at: tokio::time::Instant::now() + left,
        }
    }

    fn ended_by(&self, key: &str) -> bool {
        key == self.access_key || key == self.session_key
    }
}

/// Whose events a connection forwards, resolved after authentication.
enum Scope {
    /// Events from the restaurant's log.
    Orders {
        restaurant: RestaurantId,
        watch: Watch,
    },
    Menu(RestaurantId),
}

/// Which of the restaurant's logged events a connection forwards.
enum Watch {
    /// All of them (the owner's feed).
    Restaurant,
    Order(OrderId),
    /// A guest's party: its orders' events and its table's.
    Table {
        guest: GuestId,
        table: String,
        /// `None` until someone at the table orders or calls.
        session: Option<TableSessionId>,
    },
}

/// Why a connection is refused, as a close code and reason. Refusals that are final for this
/// token (unauthorized, not yours, missing) use 1008; a server problem uses 1013 (try again
/// later), so clients know to reconnect rather than give up or log out.
struct Refused(u16, &'static str);

const UNAUTHORIZED: Refused = Refused(close_code::POLICY, "unauthorized");

/// Application close codes (4000–4999 are the application's): the token ran out (an owner
/// refreshes and reconnects, a guest scans the table again), or the session was ended (logout,
/// a stolen refresh token replayed): the owner goes to the login page.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
pub const CLOSE_SESSION_ENDED: u16 = 4002;
const FORBIDDEN: Refused = Refused(close_code::POLICY, "forbidden");
const NOT_FOUND: Refused = Refused(close_code::POLICY, "not found");

impl From<AppError> for Refused {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Unauthorized(_) => UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::HttpsRequired => FORBIDDEN,
            AppError::NotFound(_) => NOT_FOUND,
            other => {
                tracing::warn!(error = %other, "refusing a WebSocket");
                Refused(close_code::AGAIN, "unavailable")
            }
        }
    }
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
type Stream = futures_util::stream::SplitStream<WebSocket>;

pub async fn run(state: AppState, socket: WebSocket, connect: Connect, _slot: ConnectionSlot) {
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = state.live.shutdown.subscribe();
    let resolved = tokio::select! {
        resolved = resolve(&state, &mut stream, &connect) => resolved,
        // A client still to send its token must not hold up a shutdown.
        _ = shutdown.wait_for(|closing| *closing) => Err(Refused(close_code::AWAY, "server shutting down")),
    };
    let (scope, session) = match resolved {
        Ok(resolved) => resolved,
        Err(Refused(code, reason)) => {
            let _ = close(&mut sink, code, reason).await;
            return;
        }
    };
    // Subscribe before reading any state, so nothing committed after the read can be missed.
    let events = state.events.subscribe();
    let mut connection = Connection {
        state,
        sink,
        scope,
        session,
        last_seq: 0,
    };
    if let Err(err) = connection.serve(stream, events, connect.since).await {
        tracing::debug!(error = %err, "WebSocket ended");
    }
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) -> Result<(), axum::Error> {
    sink.send(Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    })))
    .await
}

/// Authenticates (query token, or the first message within 5 s) and checks what the caller
/// may watch. Someone else's order is refused exactly like a missing one.
async fn resolve(
    state: &AppState,
    stream: &mut Stream,
    connect: &Connect,
) -> Result<(Scope, Option<Session>), Refused> {
    if let Channel::Menu(restaurant) = connect.channel {
        state
            .store
            .restaurant(restaurant)
            .await
            .map_err(AppError::from)?
            .ok_or(NOT_FOUND)?;
        return Ok((Scope::Menu(restaurant), None));
    }
    let token = match &connect.token {
        Some(token) => token.clone(),
        None => first_message_token(stream).await.ok_or(UNAUTHORIZED)?,
    };
    let user = authenticate(state, &token).await?;
    if connect.guests_only {
        only_guests_in_clear(&user)?;
    }
    let scope = match &connect.channel {
        Channel::Order(id) => {
            let order = visible_order(state, &user, id).await?;
            Scope::Orders {
                restaurant: order.restaurant_id,
                watch: Watch::Order(order.id),
            }
        }
        Channel::OwnerFeed => match (user.role, user.restaurant_id) {
            (Role::Owner | Role::Staff | Role::Kitchen, Some(restaurant)) => Scope::Orders {
                restaurant,
                watch: Watch::Restaurant,
            },
            _ => return Err(FORBIDDEN),
        },
        Channel::Table => {
            let (Some(table), Some(restaurant)) = (&user.table, user.restaurant_id) else {
                return Err(FORBIDDEN);
            };
            let guest = GuestId(user.user_id.0);
            // Known before any replay: a guest whose party has left must never be taken for
            // the next party at the table.
            let session = state
                .store
                .table_tab(restaurant, table.clone(), Some(guest))
                .await
                .map_err(AppError::from)?
                .map(|tab| tab.session.id);
            Scope::Orders {
                restaurant,
                watch: Watch::Table {
                    guest,
                    table: table.clone(),
                    session,
                },
            }
        }
        Channel::Menu(_) => unreachable!("handled above"),
    };
    Ok((scope, Some(Session::of(&user))))
}

/// `{"type":"AUTH","token":"…"}` or the bare token, as the first text message.
async fn first_message_token(stream: &mut Stream) -> Option<String> {
    let message = tokio::time::timeout(AUTH_TIMEOUT, stream.next())
        .await
        .ok()??
        .ok()?;
    let Message::Text(text) = message else {
        return None;
    };
    let text = text.as_str().trim();
    match serde_json::from_str::<Value>(text) {
        Ok(value) => value["token"].as_str().map(str::to_owned),
        Err(_) => Some(text.to_owned()),
    }
}

struct Connection {
    state: AppState,
    sink: Sink,
    scope: Scope,
    /// `None` for public channels (menus).
    session: Option<Session>,
    /// The restaurant's last event sequence number this client is up to date with.
    last_seq: i64,
}

impl Connection {
    async fn serve(
        &mut self,
        mut stream: Stream,
        mut events: tokio::sync::broadcast::Receiver<LiveEvent>,
        since: Option<i64>,
    ) -> anyhow::Result<()> {
        match since {
            Some(since) if matches!(self.scope, Scope::Orders { .. }) => {
                if !self.replay(since).await? {
                    self.snapshot().await?;
                }
            }
            _ => self.snapshot().await?,
        }
        let mut shutdown = self.state.live.shutdown.subscribe();
        let closing = *shutdown.borrow_and_update();
        if closing {
            let _ = close(&mut self.sink, close_code::AWAY, "server shutting down").await;
            return Ok(());
        }
        let interval = Duration::from_secs(self.state.config.ws_ping_interval_secs.max(1));
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut last_heard = Instant::now();
        let expires_at = self.session.as_ref().map(|s| s.expires_at);
        let expiry = async move {
            match expires_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    let _ = close(&mut self.sink, close_code::AWAY, "server shutting down").await;
                    return Ok(());
                }
                _ = &mut expiry => {
                    let _ = close(&mut self.sink, CLOSE_TOKEN_EXPIRED, "token expired").await;
                    return Ok(());
                }
                event = events.recv() => match event {
                    Ok(LiveEvent::SessionEnded(ended)) => {
                        if self.session.as_ref().is_some_and(|s| s.ended_by(&ended.key)) {
                            return self.end_session().await;
                        }
                    }
                    Ok(LiveEvent::Resync) => self.catch_up().await?,
                    Ok(event) => self.forward(event).await?,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "WebSocket client lagged; sending a fresh snapshot");
                        // A revocation may have been among the missed events.
                        if self.revoked().await {
                            return self.end_session().await;
                        }
                        self.snapshot().await?;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                message = stream.next() => match message {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                    Some(Ok(_)) => last_heard = Instant::now(),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > interval * 2 {
                        tracing::debug!("WebSocket peer stopped answering pings");
                        return Ok(());
                    }
                    // The bus carries revocations at once; this catches one it could not
                    // (e.g. made by another process while the bus was down).
                    if self.revoked().await {
                        return self.end_session().await;
                    }
                    self.send(Message::Ping(Default::default())).await?;
                }
            }
        }
    }

    async fn revoked(&self) -> bool {
        let Some(session) = &self.session else {
            return false;
        };
        self.state
            .revocations
            .any_revoked(&[&session.access_key, &session.session_key])
            .await
    }

    async fn end_session(&mut self) -> anyhow::Result<()> {
        let _ = close(&mut self.sink, CLOSE_SESSION_ENDED, "session ended").await;
        Ok(())
    }

    async fn send(&mut self, message: Message) -> anyhow::Result<()> {
        tokio::time::timeout(SEND_TIMEOUT, self.sink.send(message))
            .await
            .map_err(|_| anyhow::anyhow!("client did not take a message for {SEND_TIMEOUT:?}"))??;
        Ok(())
    }

    async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.send(Message::Text(text.into())).await
    }

    fn wants(&self, event: &OrderEvent) -> bool {
        let Scope::Orders { restaurant, watch } = &self.scope else {
            return false;
        };
        if event.restaurant_id != *restaurant {
            return false;
        }
        match watch {
            Watch::Restaurant => true,
            Watch::Order(order) => event.order_id == Some(*order),
            Watch::Table { session, .. } => session.is_some() && *session == event.table_session_id,
        }
    }

    /// A guest who belonged to no party when they connected may have just been taken into the
    /// one opening at their table: on a live event of a party at their table, the store says
    /// whether it is theirs now. (Never from replayed events: those are past parties'.)
    async fn adopt(&mut self, event: &OrderEvent) -> anyhow::Result<()> {
        let Scope::Orders {
            restaurant,
            watch:
                Watch::Table {
                    guest,
                    table,
                    session: None,
                },
        } = &self.scope
        else {
            return Ok(());
        };
        if event.restaurant_id != *restaurant || event.table_session_id.is_none() {
            return Ok(());
        }
        let at_my_table = serde_json::from_str::<Value>(&event.payload)
            .is_ok_and(|v| v["table_number"] == table.as_str());
        if !at_my_table {
            return Ok(());
        }
        let (restaurant, guest, table) = (*restaurant, *guest, table.clone());
        let party = self
            .state
            .store
            .table_tab(restaurant, table, Some(guest))
            .await?
            .map(|tab| tab.session.id);
        if let Scope::Orders {
            watch: Watch::Table { session, .. },
            ..
        } = &mut self.scope
        {
            *session = party;
        }
        Ok(())
    }

    async fn forward(&mut self, event: LiveEvent) -> anyhow::Result<()> {
        match (&self.scope, event) {
            (
                Scope::Menu(restaurant),
                LiveEvent::Menu(MenuEvent {
                    restaurant_id,
                    payload,
                }),
            ) if *restaurant == restaurant_id => self.send_text(&payload).await,
            (Scope::Orders { restaurant, .. }, LiveEvent::Order(event))
                if event.restaurant_id == *restaurant =>
            {
                if event.seq <= self.last_seq {
                    return Ok(()); // already sent by the replay or the snapshot
                }
                if event.seq > self.last_seq + 1 && !self.replay_until(event.seq - 1).await? {
                    return self.snapshot().await;
                }
                self.last_seq = event.seq;
                self.adopt(&event).await?;
                if self.wants(&event) {
                    self.send_text(&event.payload).await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Events may have been missed on the way here (the link between instances was down):
    /// send what the log has after the last one this client saw.
    async fn catch_up(&mut self) -> anyhow::Result<()> {
        match self.scope {
            Scope::Orders { .. } => {
                if !self.replay_until(i64::MAX).await? {
                    self.snapshot().await?;
                }
                Ok(())
            }
            Scope::Menu(_) => self.snapshot().await,
        }
    }

    /// Sends what happened after `since` from the event log. `false`: too much was missed, or
    /// `since` is not a point this restaurant's log has reached (a stale or foreign value).
    async fn replay(&mut self, since: i64) -> anyhow::Result<bool> {
        let Scope::Orders { restaurant, .. } = self.scope else {
            return Ok(false);
        };
        let latest = self.state.store.latest_event_seq(restaurant).await?;
        if since > latest || latest - since > MAX_REPLAY as i64 {
            return Ok(false);
        }
        self.last_seq = since;
        self.replay_until(i64::MAX).await
    }

    /// Sends logged events after `last_seq` up to `until`. `false`: too many to replay.
    ///
    /// Boxed, as `snapshot` is: rare (a gap in the stream, a reconnect), and the state of the
    /// queries they await would otherwise be part of every idle socket's task, which is sized
    /// for its largest await (10,000 idle sockets are a target).
    fn replay_until(&mut self, until: i64) -> BoxFuture<'_, anyhow::Result<bool>> {
        Box::pin(self.replay_until_inline(until))
    }

    async fn replay_until_inline(&mut self, until: i64) -> anyhow::Result<bool> {
        let Scope::Orders { restaurant, .. } = self.scope else {
            return Ok(true);
        };
        let mut replayed = 0;
        loop {
            let page = self
                .state
                .store
                .events_since(restaurant, self.last_seq, REPLAY_PAGE)
                .await?;
            let full = page.len() == REPLAY_PAGE;
            for event in page.into_iter().take_while(|e| e.seq <= until) {
                self.last_seq = event.seq;
                if self.wants(&event) {
                    self.send_text(&event.payload).await?;
                }
                replayed += 1;
            }
            if !full || self.last_seq >= until {
                return Ok(true);
            }
            if replayed >= MAX_REPLAY {
                return Ok(false);
            }
        }
    }

    /// The current state: the order, or the restaurant's open orders, with the sequence
    /// number it reflects (a client resumes with `since=<seq>`).
    fn snapshot(&mut self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(self.snapshot_inline())
    }

    async fn snapshot_inline(&mut self) -> anyhow::Result<()> {
        let (restaurant, order) = match &self.scope {
            Scope::Orders {
                restaurant,
                watch: Watch::Table { guest, table, .. },
            } => {
                return self
                    .table_snapshot(*restaurant, *guest, table.clone())
                    .await;
            }
            Scope::Orders {
                restaurant,
                watch: Watch::Order(order),
            } => (*restaurant, Some(*order)),
            Scope::Orders { restaurant, .. } => (*restaurant, None),
            Scope::Menu(restaurant) => {
                // Menu pages just reload the menu.
                let reload = MenuEvent::reload(*restaurant, self.state.clock.now());
                return self.send_text(&reload.payload).await;
            }
        };
        let (seq, orders) = self.state.store.live_snapshot(restaurant, order).await?;
        self.last_seq = seq;
        let at = self.state.clock.now();
        let message = match order {
            Some(_) => json!({
                "type": "SNAPSHOT", "seq": seq, "at": at,
                "order": orders.first().map(|o| order_json(&self.state, o)),
            }),
            None => json!({
                "type": "SNAPSHOT", "seq": seq, "at": at,
                "orders": orders.iter().map(|o| order_json(&self.state, o)).collect::<Vec<_>>(),
            }),
        };
        self.send_text(&message.to_string()).await
    }

    /// A guest's party's tab. The sequence number is read first: an event between the two
    /// reads is sent again, and every table message states a whole figure, so a repeat is
    /// harmless where a gap would not be.
    async fn table_snapshot(
        &mut self,
        restaurant: RestaurantId,
        guest: GuestId,
        table: String,
    ) -> anyhow::Result<()> {
        let seq = self.state.store.latest_event_seq(restaurant).await?;
        let tab = self
            .state
            .store
            .table_tab(restaurant, table.clone(), Some(guest))
            .await?;
        if let Scope::Orders {
            watch: Watch::Table { session, .. },
            ..
        } = &mut self.scope
        {
            *session = tab.as_ref().map(|t| t.session.id);
        }
        self.last_seq = seq;
        let viewer = Customer::Guest(guest);
        let tab = match &tab {
            Some(tab) => tab_json(&self.state, tab, Some(viewer)),
            None => empty_tab_json(restaurant, &table),
        };
        let message = json!({
            "type": "SNAPSHOT", "seq": seq, "at": self.state.clock.now(), "tab": tab,
        });
        self.send_text(&message.to_string()).await
    }
}
