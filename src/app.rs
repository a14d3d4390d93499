//! `AppState`: everything a handler may use — the store, cache and token keys, settings,
//! metrics and limiters. Built once at start; cheap to clone.

use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;

use crate::auth::password::PasswordHasher;
use crate::auth::table::TableSigner;
use crate::auth::tokens::TokenKeys;
use crate::cache::{LocalRevocations, MenuCache, MenuSnapshot, RevocationList};
use crate::clock::Clock;
use crate::config::{Config, PaymentBackend};
use crate::domain::ids::{OrderId, RestaurantId};
use crate::domain::order::Order;
use crate::error::AppError;
use crate::events::{EventBus, LiveEvent, LocalBus};
use crate::http::metrics::Metrics;
use crate::http::ratelimit::{Limiter, LocalLimiter};
use crate::live::LiveHub;
use crate::payments::{self, PaymentSettings, Payments};
use crate::secrets;
use crate::store::{self, Store};
use crate::surfaces::{PublicUrls, SurfaceMode};

pub struct RateLimits {
    /// Every API request, per client IP.
    pub api: Arc<dyn Limiter>,
    /// Login attempts, per client IP and email.
    pub login: Arc<dyn Limiter>,
    /// Login attempts per email from every address together.
    pub login_account: Arc<dyn Limiter>,
    /// `address|email` pairs that logged in successfully lately: the owner's own devices,
    /// which the per-account limit never holds back (a guesser elsewhere cannot lock them out).
    pub known_logins: moka::sync::Cache<String, ()>,
}

/// What every handler shares. One `Arc` around it all: axum clones the state for each
/// extractor of each request, and cloning twenty `Arc`s (twenty atomic increments on cache
/// lines every core fights over) took a fifth of the CPU of a cached menu GET.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub revocations: Arc<dyn RevocationList>,
    /// Redis's health when instances share one (`None`: this box shares nothing).
    pub shared_health: Option<Arc<std::sync::atomic::AtomicBool>>,
    pub tokens: Arc<TokenKeys>,
    pub passwords: Arc<PasswordHasher>,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<RateLimits>,
    pub menus: Arc<MenuCache>,
    pub tables: Arc<TableSigner>,
    pub events: Arc<dyn EventBus>,
    pub live: Arc<LiveHub>,
    pub payments: Arc<Payments>,
    pub clock: Clock,
    /// Where guests and owners reach this box: the base of every link it hands out.
    pub urls: PublicUrls,
    pub surface: SurfaceMode,
    /// The local CA certificate (PEM) owners install on their devices; `None` when the
    /// operator supplied their own certificate.
    pub ca_certificate: Option<Arc<str>>,
    /// When this process started, and an id that changes with every start (the board says
    /// once that the server restarted).
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub instance: Arc<str>,
    pub clock_watch: Arc<crate::doctor::ClockWatch>,
}

impl AppState {
    pub async fn build(
        config: Config,
        ca_certificate: Option<String>,
        urls: PublicUrls,
    ) -> anyhow::Result<AppState> {
        let payment_provider = payments::provider_from_config(&config)?;
        let menus = Arc::new(MenuCache::new(payment_provider.is_some()));
        let events: Arc<dyn EventBus> = Arc::new(InvalidatingBus {
            local: LocalBus::new(config.event_buffer),
            menus: menus.clone(),
        });
        #[cfg(feature = "postgres")]
        let redis = config
            .redis_url
            .as_deref()
            .map(|url| crate::redis::RedisLink::new(url, &config.redis_key_prefix))
            .transpose()?;
        #[cfg(feature = "postgres")]
        let events: Arc<dyn EventBus> = match &redis {
            Some(link) => crate::redis::RedisBus::start(link.clone(), events),
            None => events,
        };
        let store = store::connect(&config.database_url, events.clone()).await?;
        let jwt_secret = match &config.jwt_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => shared_secret(&*store, &config.data_dir, "jwt", 64).await?,
        };
        let tokens = TokenKeys::new(&jwt_secret, config.jwt_expires_in_secs);
        let tables = TableSigner::new(&table_secret(&*store, &config.data_dir).await?);
        let passwords = PasswordHasher::new(config.bcrypt_cost)?;

        // Revocations survive restarts: reload the ones still in force.
        let revocations = LocalRevocations::default();
        for revocation in store
            .active_revocations(Utc::now())
            .await
            .context("loading revoked tokens")?
        {
            revocations.revoke(revocation.key, revocation.until).await;
        }

        let limits = RateLimits {
            api: Arc::new(LocalLimiter::per_minute(config.rate_limit_per_minute)),
            login: Arc::new(LocalLimiter::per_minute(config.login_rate_limit_per_minute)),
            login_account: Arc::new(LocalLimiter::per_minute(
                config.login_account_rate_limit_per_minute,
            )),
            known_logins: known_logins(),
        };
        let revocations: Arc<dyn RevocationList> = Arc::new(revocations);
        #[cfg(feature = "postgres")]
        let (limits, revocations, shared_health) = match &redis {
            Some(link) => {
                use crate::redis::{RedisLimiter, RedisRevocations};
                let shared = |name, limit| -> Arc<dyn Limiter> {
                    Arc::new(RedisLimiter::per_minute(link.clone(), name, limit))
                };
                let limits = RateLimits {
                    api: shared("api", config.rate_limit_per_minute),
                    login: shared("login", config.login_rate_limit_per_minute),
                    login_account: shared(
                        "login-account",
                        config.login_account_rate_limit_per_minute,
                    ),
                    known_logins: known_logins(),
                };
                let local = LocalRevocations::default();
                for revocation in store.active_revocations(Utc::now()).await? {
                    local.revoke(revocation.key, revocation.until).await;
                }
                let revocations: Arc<dyn RevocationList> =
                    Arc::new(RedisRevocations::new(link.clone(), local));
                (limits, revocations, Some(link.health()))
            }
            None => (limits, revocations, None),
        };
        #[cfg(not(feature = "postgres"))]
        let shared_health: Option<Arc<std::sync::atomic::AtomicBool>> = None;
        let metrics = Arc::new(Metrics::new());
        match config.payment_backend() {
            PaymentBackend::Toss => {}
            PaymentBackend::Simulated => tracing::warn!(
                "payments run in simulated TEST MODE: the checkout page approves without charging \
                 anyone, and such payments are marked as tests and left out of revenue"
            ),
            PaymentBackend::Off => tracing::warn!(
                "online payment is off (no TOSS_SECRET_KEY): every restaurant takes payment at \
                 the counter; set TOSS_SECRET_KEY and TOSS_CLIENT_KEY to take card payments"
            ),
        }
        let payments = Payments::new(
            store.clone(),
            payment_provider,
            metrics.clone(),
            config.clock.clone(),
            PaymentSettings {
                guest_base: urls.guest.clone(),
                reconcile_after: std::time::Duration::from_secs(
                    config.payment_reconcile_after_secs,
                ),
                sweep_every: std::time::Duration::from_millis(config.payment_sweep_ms),
                refund_retry_base: std::time::Duration::from_millis(config.refund_retry_base_ms),
            },
        );
        Ok(AppState(Arc::new(Shared {
            payments,
            live: Arc::new(LiveHub::new(config.ws_max_per_ip, metrics.clone())),
            metrics,
            clock: config.clock.clone(),
            surface: SurfaceMode::of(&config),
            urls,
            menus,
            tables: Arc::new(tables),
            events,
            config: Arc::new(config),
            store,
            revocations,
            shared_health,
            tokens: Arc::new(tokens),
            passwords: Arc::new(passwords),
            limits: Arc::new(limits),
            ca_certificate: ca_certificate.map(Arc::from),
            started_at: chrono::Utc::now(),
            instance: Arc::from(uuid::Uuid::new_v4().to_string()),
            clock_watch: Arc::new(crate::doctor::ClockWatch::default()),
        })))
    }
}

fn known_logins() -> moka::sync::Cache<String, ()> {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(std::time::Duration::from_secs(30 * 24 * 3600))
        .build()
}

/// The key of signed table URLs. Printed QR codes must stay valid: kept in the data dir of a
/// box, or in the database that several instances share.
pub async fn table_secret(
    store: &dyn Store,
    data_dir: &std::path::Path,
) -> anyhow::Result<Vec<u8>> {
    shared_secret(store, data_dir, "table", 32).await
}

/// A generated secret: the database's when instances share one, else `<data dir>/<name>.secret`.
async fn shared_secret(
    store: &dyn Store,
    data_dir: &std::path::Path,
    name: &str,
    len: usize,
) -> anyhow::Result<Vec<u8>> {
    let candidate = secrets::random_bytes(len);
    match store
        .shared_secret(name, candidate)
        .await
        .with_context(|| format!("loading the shared {name} secret"))?
    {
        Some(secret) => Ok(secret),
        None => secrets::load_or_create(&data_dir.join(format!("{name}.secret")), len),
    }
}

impl AppState {
    /// The restaurant's menu snapshot, from the cache or the store.
    pub async fn menu(&self, id: RestaurantId) -> Result<Option<Arc<MenuSnapshot>>, AppError> {
        let store = self.store.clone();
        Ok(self
            .menus
            .get_or_load(id, || async move { store.menu(id).await })
            .await?)
    }

    pub fn payment_url(&self, order: &Order) -> Option<String> {
        order.payment_required.then(|| self.checkout_url(order.id))
    }

    pub fn checkout_url(&self, order: OrderId) -> String {
        self.payments.checkout_url(order)
    }

    pub fn websocket_url(&self, order: OrderId) -> String {
        let base = self
            .urls
            .guest
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        format!("{base}/ws/orders/{order}")
    }
}

/// The bus as the store sees it: a menu change drops the cached menu before the event reaches
/// any client, so whoever hears MENU_UPDATED and reloads gets the new menu.
struct InvalidatingBus {
    local: LocalBus,
    menus: Arc<MenuCache>,
}

impl EventBus for InvalidatingBus {
    fn publish(&self, event: LiveEvent) {
        match &event {
            LiveEvent::Menu(change) => self.menus.invalidate(change.restaurant_id),
            // Menu changes may have been missed too.
            LiveEvent::Resync => self.menus.invalidate_all(),
            _ => {}
        }
        self.local.publish(event);
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LiveEvent> {
        self.local.subscribe()
    }
}
