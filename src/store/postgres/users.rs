//! SQL for users, owners' restaurants, refresh-token families and revocations (PostgreSQL).

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Db, Fail, PgResult, id, opt_id};
use crate::auth::tokens::session_revocation_key;
use crate::domain::ids::{RestaurantId, SessionId, UserId};
use crate::domain::user::{Email, User};
use crate::domain::{from_millis, to_millis};
use crate::store::{
    NewRestaurant, NewUser, RefreshOutcome, RefreshTokenRecord, Revocation, StoreError,
    UserCredentials,
};

const USER_COLUMNS: &str =
    "u.id, u.email, u.name, u.role, u.created_at, coalesce(u.restaurant_id, r.id), u.password_hash";
const USER_FROM: &str = "users u LEFT JOIN restaurants r ON r.owner_id = u.id";

fn user_from_row(row: &Row) -> PgResult<UserCredentials> {
    let role: String = row.try_get(3)?;
    Ok(UserCredentials {
        user: User {
            id: id(row, 0)?,
            email: row.try_get(1)?,
            name: row.try_get(2)?,
            role: role.parse().map_err(Fail::other)?,
            restaurant_id: opt_id::<RestaurantId>(row, 5)?,
            created_at: from_millis(row.try_get(4)?),
        },
        password_hash: row.try_get(6)?,
    })
}

async fn insert_user_row(db: Db<'_>, user: &NewUser) -> PgResult<()> {
    db.execute(
        "INSERT INTO users (id, email, password_hash, name, role, restaurant_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &user.id.to_string(),
            &user.email.as_str(),
            &user.password_hash,
            &user.name.as_str(),
            &user.role.as_str(),
            &user.restaurant_id.map(|r| r.to_string()),
            &to_millis(user.created_at),
        ],
    )
    .await?;
    Ok(())
}

pub async fn insert_user(db: Db<'_>, user: &NewUser) -> PgResult<User> {
    insert_user_row(db, user).await?;
    by_id(db, user.id)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))
}

pub async fn create_owner(
    db: Db<'_>,
    owner: &NewUser,
    restaurant: &NewRestaurant,
) -> PgResult<(User, RestaurantId)> {
    insert_user_row(db, owner).await?;
    db.execute(
        "INSERT INTO restaurants (id, owner_id, name, created_at) VALUES ($1, $2, $3, $4)",
        &[
            &restaurant.id.to_string(),
            &owner.id.to_string(),
            &restaurant.name.as_str(),
            &to_millis(owner.created_at),
        ],
    )
    .await?;
    let user = by_id(db, owner.id)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))?;
    Ok((user, restaurant.id))
}

pub async fn credentials_by_email(db: Db<'_>, email: &Email) -> PgResult<Option<UserCredentials>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.email = $1");
    db.query_opt(&sql, &[&email.as_str()])
        .await?
        .map(|row| user_from_row(&row))
        .transpose()
}

pub async fn by_id(db: Db<'_>, user: UserId) -> PgResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.id = $1");
    Ok(db
        .query_opt(&sql, &[&user.to_string()])
        .await?
        .map(|row| user_from_row(&row))
        .transpose()?
        .map(|credentials| credentials.user))
}

/// The STAFF and KITCHEN accounts of a restaurant, oldest first.
pub async fn staff(db: Db<'_>, restaurant: RestaurantId) -> PgResult<Vec<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM {USER_FROM}
         WHERE u.restaurant_id = $1 AND u.role IN ('STAFF', 'KITCHEN')
         ORDER BY u.created_at, u.id"
    );
    db.query(&sql, &[&restaurant.to_string()])
        .await?
        .iter()
        .map(|row| user_from_row(row).map(|credentials| credentials.user))
        .collect()
}

/// Every login session the account has had (its refresh-token families).
async fn sessions_of(db: Db<'_>, user: UserId) -> PgResult<Vec<SessionId>> {
    db.query(
        "SELECT DISTINCT session_id FROM refresh_tokens WHERE user_id = $1",
        &[&user.to_string()],
    )
    .await?
    .iter()
    .map(|row| id(row, 0))
    .collect()
}

/// Locks the account when it is a staff account of `restaurant`.
async fn lock_staff_of(db: Db<'_>, restaurant: RestaurantId, user: UserId) -> PgResult<bool> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM users
             WHERE id = $1 AND restaurant_id = $2 AND role IN ('STAFF', 'KITCHEN') FOR UPDATE",
            &[&user.to_string(), &restaurant.to_string()],
        )
        .await?
        .is_some())
}

/// Removes a staff account of `restaurant`; `None` when there is no such account. Returns its
/// sessions so the caller can end them everywhere.
/// Records each session as revoked (its access tokens refused) until `until`.
async fn revoke_sessions(db: Db<'_>, sessions: &[SessionId], until: DateTime<Utc>) -> PgResult<()> {
    for session in sessions {
        db.execute(
            "INSERT INTO revoked_tokens (key, expires_at) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE
             SET expires_at = greatest(revoked_tokens.expires_at, excluded.expires_at)",
            &[&session_revocation_key(*session), &to_millis(until)],
        )
        .await?;
    }
    Ok(())
}

pub async fn remove_staff(
    db: Db<'_>,
    restaurant: RestaurantId,
    user: UserId,
    revoked_until: DateTime<Utc>,
) -> PgResult<Option<Vec<SessionId>>> {
    if !lock_staff_of(db, restaurant, user).await? {
        return Ok(None);
    }
    let sessions = sessions_of(db, user).await?;
    revoke_sessions(db, &sessions, revoked_until).await?;
    db.execute(
        "DELETE FROM refresh_tokens WHERE user_id = $1",
        &[&user.to_string()],
    )
    .await?;
    db.execute("DELETE FROM users WHERE id = $1", &[&user.to_string()])
        .await?;
    Ok(Some(sessions))
}

/// Gives a staff account of `restaurant` a new password and stops its refresh tokens; `None`
/// when there is no such account. Returns its sessions so the caller can end them everywhere.
pub async fn reset_staff_password(
    db: Db<'_>,
    restaurant: RestaurantId,
    user: UserId,
    password_hash: &str,
    revoked_until: DateTime<Utc>,
) -> PgResult<Option<Vec<SessionId>>> {
    if !lock_staff_of(db, restaurant, user).await? {
        return Ok(None);
    }
    db.execute(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        &[&user.to_string(), &password_hash],
    )
    .await?;
    db.execute(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        &[&user.to_string(), &to_millis(Utc::now())],
    )
    .await?;
    let sessions = sessions_of(db, user).await?;
    revoke_sessions(db, &sessions, revoked_until).await?;
    Ok(Some(sessions))
}

pub async fn insert_refresh_token(db: Db<'_>, token: &RefreshTokenRecord) -> PgResult<()> {
    db.execute(
        "INSERT INTO refresh_tokens (id, session_id, user_id, token_hash, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &token.id,
            &token.session_id.to_string(),
            &token.user_id.to_string(),
            &token.token_hash,
            &to_millis(token.issued_at),
            &to_millis(token.expires_at),
        ],
    )
    .await?;
    Ok(())
}

pub async fn rotate_refresh_token(
    db: Db<'_>,
    presented_id: &str,
    presented_hash: &str,
    next: &RefreshTokenRecord,
    on_reuse: &Revocation,
) -> PgResult<RefreshOutcome> {
    let now = next.issued_at;
    // Locked: two rotations of one token at once must not both succeed.
    let Some(row) = db
        .query_opt(
            "SELECT session_id, user_id, token_hash, expires_at, used_at IS NOT NULL,
                    revoked_at IS NOT NULL
             FROM refresh_tokens WHERE id = $1 FOR UPDATE",
            &[&presented_id],
        )
        .await?
    else {
        return Ok(RefreshOutcome::Invalid);
    };
    let session: SessionId = id(&row, 0)?;
    let user: UserId = id(&row, 1)?;
    let hash: String = row.try_get(2)?;
    let expires_at: i64 = row.try_get(3)?;
    let used: bool = row.try_get(4)?;
    let revoked: bool = row.try_get(5)?;
    if hash != presented_hash || revoked || user != next.user_id || session != next.session_id {
        return Ok(RefreshOutcome::Invalid);
    }
    if used {
        revoke_session(db, session, std::slice::from_ref(on_reuse), now).await?;
        return Ok(RefreshOutcome::Reused);
    }
    if expires_at <= to_millis(now) {
        return Ok(RefreshOutcome::Invalid);
    }
    db.execute(
        "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1",
        &[&presented_id, &to_millis(now)],
    )
    .await?;
    insert_refresh_token(db, next).await?;
    let user = by_id(db, user)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))?;
    Ok(RefreshOutcome::Rotated(user))
}

pub async fn revoke_session(
    db: Db<'_>,
    session: SessionId,
    revocations: &[Revocation],
    now: DateTime<Utc>,
) -> PgResult<()> {
    db.execute(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL",
        &[&session.to_string(), &to_millis(now)],
    )
    .await?;
    for revocation in revocations {
        db.execute(
            "INSERT INTO revoked_tokens (key, expires_at) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE
                 SET expires_at = GREATEST(revoked_tokens.expires_at, excluded.expires_at)",
            &[&revocation.key, &to_millis(revocation.until)],
        )
        .await?;
    }
    db.execute(
        "DELETE FROM revoked_tokens WHERE expires_at <= $1",
        &[&to_millis(now)],
    )
    .await?;
    Ok(())
}

pub async fn active_revocations(db: Db<'_>, now: DateTime<Utc>) -> PgResult<Vec<Revocation>> {
    db.query(
        "SELECT key, expires_at FROM revoked_tokens WHERE expires_at > $1",
        &[&to_millis(now)],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(Revocation {
            key: row.try_get(0)?,
            until: from_millis(row.try_get(1)?),
        })
    })
    .collect()
}
