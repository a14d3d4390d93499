//! `AppState`: everything a handler may use — the store, cache and token keys, settings,
//! metrics and limiters. Built once at start; cheap to clone.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;

use crate::auth::password::PasswordHasher;
use crate::auth::tokens::TokenKeys;
use crate::cache::{LocalRevocations, RevocationList};
use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::http::ratelimit::RateLimiter;
use crate::secrets;
use crate::store::{self, Store};

pub struct RateLimits {
    /// Every API request, per client IP.
    pub api: RateLimiter<IpAddr>,
    /// Login attempts, per client IP and email.
    pub login: RateLimiter<(IpAddr, String)>,
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
    /// The local CA certificate (PEM) owners install on their devices; `None` when the
    /// operator supplied their own certificate.
    pub ca_certificate: Option<Arc<str>>,
}

impl AppState {
    pub async fn build(config: Config, ca_certificate: Option<String>) -> anyhow::Result<AppState> {
        let store = store::connect(&config.database_url).await?;
        let jwt_secret = match &config.jwt_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => secrets::load_or_create(&config.data_dir.join("jwt.secret"), 64)?,
        };
        let tokens = TokenKeys::new(&jwt_secret, config.jwt_expires_in_secs);
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
        };
        Ok(AppState {
            config: Arc::new(config),
            store,
            revocations: Arc::new(revocations),
            tokens: Arc::new(tokens),
            passwords: Arc::new(passwords),
            metrics: Arc::new(Metrics::new()),
            limits: Arc::new(limits),
            ca_certificate: ca_certificate.map(Arc::from),
        })
    }
}
