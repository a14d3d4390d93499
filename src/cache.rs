//! The cache seam. Today: the revocation list (logged-out access tokens and sessions), held in
//! moka with a per-entry lifetime equal to the longest any affected token could still live, as
//! the seed's Redis blacklist. The `postgres` build backs the same trait with Redis so every
//! instance agrees; moka stays the local cache in both builds.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use moka::Expiry;
use moka::future::Cache;

#[async_trait]
pub trait RevocationList: Send + Sync + 'static {
    async fn revoke(&self, key: String, until: DateTime<Utc>);
    async fn is_revoked(&self, key: &str) -> bool;
}

struct UntilExpiry;

impl Expiry<String, DateTime<Utc>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        until: &DateTime<Utc>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some((*until - Utc::now()).to_std().unwrap_or(Duration::ZERO))
    }

    fn expire_after_update(
        &self,
        key: &String,
        until: &DateTime<Utc>,
        updated_at: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, until, updated_at)
    }
}

pub struct LocalRevocations {
    entries: Cache<String, DateTime<Utc>>,
}

impl Default for LocalRevocations {
    fn default() -> Self {
        LocalRevocations {
            entries: Cache::builder()
                .max_capacity(1_000_000)
                .expire_after(UntilExpiry)
                .build(),
        }
    }
}

#[async_trait]
impl RevocationList for LocalRevocations {
    async fn revoke(&self, key: String, until: DateTime<Utc>) {
        if until > Utc::now() {
            self.entries.insert(key, until).await;
        }
    }

    async fn is_revoked(&self, key: &str) -> bool {
        self.entries.get(key).await.is_some()
    }
}
