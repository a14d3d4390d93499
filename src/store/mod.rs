//! The storage seam. Handlers see `Arc<dyn Store>` and call business intents; each method owns
//! its transaction. Only the modules below this one know which database runs.

pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::ids::{RestaurantId, SessionId, UserId};
use crate::domain::restaurant::RestaurantName;
use crate::domain::user::{Email, PersonName, Role, User};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the string names the rule.
    #[error("conflict on {0}")]
    Conflict(String),
    /// The database is busy or unreachable; retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub name: PersonName,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

pub struct NewRestaurant {
    pub id: RestaurantId,
    pub name: RestaurantName,
}

/// A user with the secret needed to check a login.
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

/// One refresh token of a login session ("family"); only its hash is stored.
#[derive(Clone)]
pub struct RefreshTokenRecord {
    pub id: String,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub token_hash: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug)]
pub enum RefreshOutcome {
    /// The presented token was current: it is now spent and `next` is the session's token.
    Rotated(User),
    /// The presented token had already been rotated: someone replayed it. The whole session has
    /// been revoked and the caller's `on_reuse` revocation recorded.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// A revoked access-token id or session id, remembered until the last token it could affect
/// has expired.
pub struct Revocation {
    pub key: String,
    pub until: DateTime<Utc>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Fails with `Conflict` when the email is taken.
    async fn insert_user(&self, user: NewUser) -> StoreResult<User>;

    /// Creates an OWNER and their restaurant atomically.
    async fn create_owner(
        &self,
        owner: NewUser,
        restaurant: NewRestaurant,
    ) -> StoreResult<(User, RestaurantId)>;

    async fn user_credentials(&self, email: &Email) -> StoreResult<Option<UserCredentials>>;

    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> StoreResult<()>;

    /// Spends `presented` (by id and hash) and stores `next` (same session) in its place,
    /// atomically. A second use of a spent token revokes the whole session and records
    /// `on_reuse`.
    async fn rotate_refresh_token(
        &self,
        presented_id: &str,
        presented_hash: &str,
        next: RefreshTokenRecord,
        on_reuse: Revocation,
    ) -> StoreResult<RefreshOutcome>;

    /// Ends a session: its refresh tokens stop working and the given keys are remembered as
    /// revoked (access-token ids and session ids) until they could no longer be valid anyway.
    async fn revoke_session(
        &self,
        session_id: SessionId,
        revocations: Vec<Revocation>,
    ) -> StoreResult<()>;

    /// Revocations still in force at `now` (loaded into the cache on start).
    async fn active_revocations(&self, now: DateTime<Utc>) -> StoreResult<Vec<Revocation>>;
}

/// Opens the backend named by `database_url` (a SQLite path, or a `postgres://` URL in the
/// `postgres` build) and brings its schema up to date.
pub async fn connect(database_url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        anyhow::bail!(
            "DATABASE_URL points at PostgreSQL, but this binary was built without the `postgres` \
             feature; rebuild with `cargo build --release --features postgres` or use a SQLite path"
        );
    }
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .unwrap_or(database_url);
    let store = sqlite::SqliteStore::open(Path::new(path)).await?;
    Ok(Arc::new(store))
}
