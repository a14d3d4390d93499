//! `AppState`: everything a handler may use — the store, cache and token keys, settings,
//! metrics and limiters. Built once at start; cheap to clone.

use std::net::IpAddr;
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
use crate::http::ratelimit::RateLimiter;
use crate::live::LiveHub;
use crate::payments::{self, PaymentSettings, Payments};
use crate::secrets;
use crate::store::{self, Store};
use crate::surfaces::{PublicUrls, SurfaceMode};

pub struct RateLimits {
    /// Every API request, per client IP.
    pub api: RateLimiter<IpAddr>,
    /// Login attempts, per client IP and email.
    pub login: RateLimiter<(IpAddr, String)>,
    /// Login attempts per email from every address together.
    pub login_account: RateLimiter<String>,
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub revocations: Arc<dyn RevocationList>,
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
        let store = store::connect(&config.database_url, events.clone()).await?;
        let jwt_secret = match &config.jwt_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => secrets::load_or_create(&config.data_dir.join("jwt.secret"), 64)?,
        };
        let tokens = TokenKeys::new(&jwt_secret, config.jwt_expires_in_secs);
        let tables = TableSigner::new(&load_table_secret(&config.data_dir)?);
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
            api: RateLimiter::per_minute(config.rate_limit_per_minute),
            login: RateLimiter::per_minute(config.login_rate_limit_per_minute),
            login_account: RateLimiter::per_minute(config.login_account_rate_limit_per_minute),
        };
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
        Ok(AppState {
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
            revocations: Arc::new(revocations),
            tokens: Arc::new(tokens),
            passwords: Arc::new(passwords),
            limits: Arc::new(limits),
            ca_certificate: ca_certificate.map(Arc::from),
        })
    }
}

/// The key of signed table URLs; kept in the data dir so printed QR codes stay valid.
pub fn load_table_secret(data_dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    secrets::load_or_create(&data_dir.join("table.secret"), 32)
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
        if let LiveEvent::Menu(change) = &event {
            self.menus.invalidate(change.restaurant_id);
        }
        self.local.publish(event);
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LiveEvent> {
        self.local.subscribe()
    }
}
