//! Redis in the `postgres` build: what several instances behind a load balancer must share.
//! PostgreSQL stays the source of truth; Redis carries
//! - the live event bus: every instance publishes what its commits produced and delivers what
//!   the others published to its own sockets (gaps are filled from the event log, and after an
//!   outage every connection catches up from it);
//! - revoked tokens and sessions, so a logout on one instance holds on all of them;
//! - rate-limit counters, so a limit of N is N in all.
//!
//! When Redis is unreachable the box keeps taking orders: events still reach this instance's own
//! sockets, revocations and limits fall back to this instance's memory, `/readyz` says
//! "degraded", and the log says so once per outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{mpsc, oneshot};

use crate::cache::{LocalRevocations, RevocationList};
use crate::events::{EventBus, LiveEvent};
use crate::http::ratelimit::{Limiter, LocalLimiter};

/// How often each instance proves the channel alive.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// After a failed command Redis is left alone for this long (requests use the local fallback
/// instead of waiting on a dead connection).
const BACKOFF: Duration = Duration::from_secs(1);
/// Longest a command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// The connection to Redis and what is known of its health.
pub struct RedisLink {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    /// Unix ms until which Redis is not tried again.
    down_until: AtomicI64,
    /// For `/readyz`: false while Redis is unreachable.
    healthy: Arc<AtomicBool>,
}

impl RedisLink {
    /// Does not wait for Redis: a box whose Redis is down at start starts degraded.
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Arc<RedisLink>> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("REDIS_URL is not a Redis URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| anyhow::anyhow!("connecting to Redis: {e}"))?;
        Ok(Arc::new(RedisLink {
            client,
            conn,
            prefix: prefix.to_owned(),
            down_until: AtomicI64::new(0),
            healthy: Arc::new(AtomicBool::new(true)),
        }))
    }

    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    pub fn health(&self) -> Arc<AtomicBool> {
        self.healthy.clone()
    }

    fn mark_down(&self, why: &dyn std::fmt::Display) {
        self.down_until.store(
            Utc::now().timestamp_millis() + BACKOFF.as_millis() as i64,
            Ordering::Release,
        );
        if self.healthy.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                error = %why,
                "Redis is unreachable: orders still commit; live events between instances, \
                 shared revocations and rate limits fall back to this instance until it is back"
            );
        }
    }

    fn mark_up(&self) {
        if !self.healthy.swap(true, Ordering::AcqRel) {
            tracing::info!("Redis is reachable again");
        }
    }

    /// Runs a command, unless Redis failed within the last `BACKOFF`; `None` when it cannot.
    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        if Utc::now().timestamp_millis() < self.down_until.load(Ordering::Acquire) {
            return None;
        }
        self.run_now(cmd).await
    }

    /// Runs a command whatever the backoff says (for the publisher, which retries on its own).
    async fn run_now<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(value)) => {
                self.mark_up();
                Some(value)
            }
            Ok(Err(err)) => {
                self.mark_down(&err);
                None
            }
            Err(_) => {
                self.mark_down(&"timed out");
                None
            }
        }
    }

    /// Sends a pipeline of commands in one round trip; `None` when it failed.
    async fn run_pipeline(&self, pipeline: &redis::Pipeline) -> Option<()> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(COMMAND_TIMEOUT, pipeline.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => {
                self.mark_up();
                Some(())
            }
            Ok(Err(err)) => {
                self.mark_down(&err);
                None
            }
            Err(_) => {
                self.mark_down(&"timed out");
                None
            }
        }
    }

    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Option<T> {
        if Utc::now().timestamp_millis() < self.down_until.load(Ordering::Acquire) {
            return None;
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(COMMAND_TIMEOUT, invocation.invoke_async::<T>(&mut conn)).await {
            Ok(Ok(value)) => {
                self.mark_up();
                Some(value)
            }
            Ok(Err(err)) => {
                self.mark_down(&err);
                None
            }
            Err(_) => {
                self.mark_down(&"timed out");
                None
            }
        }
    }
}

enum Outgoing {
    Event(String),
    /// Answered once everything queued before it has been published (or given up on).
    Flush(oneshot::Sender<()>),
}

/// The bus between instances: local delivery at once, and the same event to every other
/// instance through a Redis channel.
pub struct RedisBus {
    local: Arc<dyn EventBus>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    origin: String,
}

impl RedisBus {
    /// Starts the publishing and subscribing tasks; `local` delivers to this instance's sockets.
    pub fn start(link: Arc<RedisLink>, local: Arc<dyn EventBus>) -> Arc<RedisBus> {
        let origin = uuid::Uuid::new_v4().to_string();
        let channel = link.key("events");
        let (outgoing, queue) = mpsc::unbounded_channel();
        tokio::spawn(publish_loop(
            link.clone(),
            channel.clone(),
            queue,
            origin.clone(),
        ));
        tokio::spawn(subscribe_loop(link, channel, local.clone(), origin.clone()));
        Arc::new(RedisBus {
            local,
            outgoing,
            origin,
        })
    }
}

impl EventBus for RedisBus {
    fn publish(&self, event: LiveEvent) {
        // Called from the database writer too: never blocks, Redis is talked to elsewhere.
        let wire = event.to_wire(&self.origin);
        self.local.publish(event);
        let _ = self.outgoing.send(Outgoing::Event(wire));
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LiveEvent> {
        self.local.subscribe()
    }

    fn flushed(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let (done, flushed) = oneshot::channel();
        let _ = self.outgoing.send(Outgoing::Flush(done));
        Box::pin(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), flushed).await;
        })
    }
}

/// Events sent to Redis in one round trip, at most.
const PIPELINE: usize = 256;

/// Events waiting for Redis, at most; beyond this the oldest are dropped (they are in the event
/// log, and the others are told to catch up from it).
const BACKLOG: usize = 10_000;

async fn publish_loop(
    link: Arc<RedisLink>,
    channel: String,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    origin: String,
) {
    let mut backlog: std::collections::VecDeque<Outgoing> = std::collections::VecDeque::new();
    // Events were dropped while Redis was down: once it is back, everyone catches up.
    let mut dropped = false;
    loop {
        if backlog.is_empty() {
            match queue.recv().await {
                Some(next) => backlog.push_back(next),
                None => return,
            }
        }
        while let Ok(next) = queue.try_recv() {
            backlog.push_back(next);
        }
        while backlog.len() > BACKLOG {
            if let Some(Outgoing::Flush(done)) = backlog.pop_front() {
                let _ = done.send(());
            }
            dropped = true;
        }
        if let Some(Outgoing::Flush(_)) = backlog.front() {
            if let Some(Outgoing::Flush(done)) = backlog.pop_front() {
                let _ = done.send(());
            }
            continue;
        }
        // The events at the front, in order, in one round trip.
        let mut pipeline = redis::pipe();
        if dropped {
            pipeline
                .cmd("PUBLISH")
                .arg(&channel)
                .arg(LiveEvent::Resync.to_wire(&origin))
                .ignore();
        }
        let mut sending = 0;
        for next in backlog.iter().take(PIPELINE) {
            let Outgoing::Event(wire) = next else {
                break;
            };
            pipeline.cmd("PUBLISH").arg(&channel).arg(wire).ignore();
            sending += 1;
        }
        if link.run_pipeline(&pipeline).await.is_some() {
            backlog.drain(..sending);
            dropped = false;
        } else {
            // Kept, in order, and tried again shortly; this instance's own sockets already
            // have them.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn subscribe_loop(
    link: Arc<RedisLink>,
    channel: String,
    local: Arc<dyn EventBus>,
    origin: String,
) {
    let mut connected_before = false;
    let mut wait = Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut pubsub =
                tokio::time::timeout(Duration::from_secs(2), link.client.get_async_pubsub())
                    .await
                    .map_err(|_| "connecting timed out".to_owned())?
                    .map_err(|e| e.to_string())?;
            pubsub
                .subscribe(&channel)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(pubsub)
        }
        .await;
        match subscribed {
            Ok(pubsub) => {
                link.mark_up();
                wait = Duration::from_millis(100);
                if connected_before {
                    // Whatever the others published meanwhile is in the event log.
                    local.publish(LiveEvent::Resync);
                }
                connected_before = true;
                let mut messages = pubsub.into_on_message();
                while let Ok(Some(message)) =
                    tokio::time::timeout(HEARTBEAT * 3, messages.next()).await
                {
                    let Ok(text) = std::str::from_utf8(message.get_payload_bytes()) else {
                        continue;
                    };
                    match LiveEvent::from_wire(text) {
                        Some((from, _)) if from == origin => {} // delivered locally already
                        Some((_, event)) => local.publish(event),
                        None => {} // a heartbeat, or a message of a newer version
                    }
                }
                link.mark_down(&"the subscription ended or went silent");
            }
            Err(why) => link.mark_down(&why),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

/// Revocations every instance sees: kept in Redis with their lifetime, and in this instance's
/// memory (which also answers while Redis is down).
pub struct RedisRevocations {
    link: Arc<RedisLink>,
    local: LocalRevocations,
}

impl RedisRevocations {
    pub fn new(link: Arc<RedisLink>, local: LocalRevocations) -> RedisRevocations {
        RedisRevocations { link, local }
    }
}

#[async_trait]
impl RevocationList for RedisRevocations {
    async fn revoke(&self, key: String, until: DateTime<Utc>) {
        let left = (until - Utc::now()).num_milliseconds();
        if left > 0 {
            let stored = self
                .link
                .run::<()>(
                    redis::cmd("SET")
                        .arg(self.link.key(&format!("revoked:{key}")))
                        .arg(1)
                        .arg("PX")
                        .arg(left),
                )
                .await;
            if stored.is_none() {
                tracing::warn!(
                    "a revocation could not reach Redis; other instances learn it from the \
                     database when they restart"
                );
            }
        }
        self.local.revoke(key, until).await;
    }

    async fn remember(&self, key: String, until: DateTime<Utc>) {
        self.local.revoke(key, until).await;
    }

    async fn is_revoked(&self, key: &str) -> bool {
        self.any_revoked(&[key]).await
    }

    async fn any_revoked(&self, keys: &[&str]) -> bool {
        for key in keys {
            if self.local.is_revoked(key).await {
                return true;
            }
        }
        let mut exists = redis::cmd("EXISTS");
        for key in keys {
            exists.arg(self.link.key(&format!("revoked:{key}")));
        }
        self.link.run::<i64>(&exists).await.is_some_and(|n| n > 0)
    }
}

/// GCRA in Redis, timed by Redis's own clock (instances' clocks may differ): the state is the
/// "theoretical arrival time" of the next request. Returns 0 (admitted) or the milliseconds to
/// wait.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next = tat + interval
if next - now > window then return next - now - window end
redis.call('SET', KEYS[1], next, 'PX', window + interval)
return 0
"#;

/// A rate limit shared by every instance; this instance's own limiter while Redis is down.
pub struct RedisLimiter {
    link: Arc<RedisLink>,
    name: &'static str,
    interval_ms: u64,
    script: redis::Script,
    fallback: LocalLimiter,
}

impl RedisLimiter {
    pub fn per_minute(link: Arc<RedisLink>, name: &'static str, limit: u32) -> RedisLimiter {
        RedisLimiter {
            link,
            name,
            interval_ms: if limit == 0 {
                0
            } else {
                60_000 / u64::from(limit)
            },
            script: redis::Script::new(GCRA),
            fallback: LocalLimiter::per_minute(limit),
        }
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    fn is_enabled(&self) -> bool {
        self.interval_ms != 0
    }

    async fn check(&self, key: &str) -> Result<(), u64> {
        if !self.is_enabled() {
            return Ok(());
        }
        let redis_key = self.link.key(&format!("limit:{}:{key}", self.name));
        let mut invocation = self.script.key(redis_key);
        invocation.arg(self.interval_ms).arg(60_000u64);
        match self.link.invoke::<i64>(&invocation).await {
            Some(0) => Ok(()),
            Some(wait_ms) => Err((wait_ms as u64).div_ceil(1000).max(1)),
            None => self.fallback.check(key).await,
        }
    }
}
