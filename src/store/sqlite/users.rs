//! SQL for users, owners' restaurants, refresh-token families and revocations.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::auth::tokens::session_revocation_key;
use crate::domain::ids::{RestaurantId, SessionId, UserId};
use crate::domain::user::{Email, User};
use crate::domain::{from_millis, to_millis};
use crate::store::{
    NewRestaurant, NewUser, RefreshOutcome, RefreshTokenRecord, Revocation, StoreError,
    StoreResult, UserCredentials,
};

const USER_COLUMNS: &str =
    "u.id, u.email, u.name, u.role, u.created_at, coalesce(u.restaurant_id, r.id), u.password_hash";
const USER_FROM: &str = "users u LEFT JOIN restaurants r ON r.owner_id = u.id";

/// A text column holding a value of `T` (an enum's name, a number written as text).
pub(super) fn parsed<T: std::str::FromStr>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    text.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unexpected value {text:?}").into(),
        )
    })
}

/// A text column holding JSON.
pub(super) fn json_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    })
}

pub(super) fn parse_uuid<T: std::str::FromStr>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    text.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("bad id {text:?}").into(),
        )
    })
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserCredentials> {
    let role: String = row.get(3)?;
    let restaurant: Option<String> = row.get(5)?;
    Ok(UserCredentials {
        user: User {
            id: parse_uuid(row, 0)?,
            email: row.get(1)?,
            name: row.get(2)?,
            role: role.parse().map_err(|e: String| {
                rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
            })?,
            restaurant_id: restaurant.and_then(|id| id.parse::<RestaurantId>().ok()),
            created_at: from_millis(row.get(4)?),
        },
        password_hash: row.get(6)?,
    })
}

fn insert_user_row(c: &Connection, user: &NewUser) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO users (id, email, password_hash, name, role, restaurant_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        user.id.to_string(),
        user.email.as_str(),
        user.password_hash,
        user.name.as_str(),
        user.role.as_str(),
        user.restaurant_id.map(|r| r.to_string()),
        to_millis(user.created_at),
    ])?;
    Ok(())
}

pub fn insert_user(c: &Connection, user: &NewUser) -> StoreResult<User> {
    insert_user_row(c, user)?;
    by_id(c, user.id)?.ok_or(StoreError::NotFound)
}

pub fn create_owner(
    c: &Connection,
    owner: &NewUser,
    restaurant: &NewRestaurant,
) -> StoreResult<(User, RestaurantId)> {
    insert_user_row(c, owner)?;
    c.prepare_cached(
        "INSERT INTO restaurants (id, owner_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        restaurant.id.to_string(),
        owner.id.to_string(),
        restaurant.name.as_str(),
        to_millis(owner.created_at),
    ])?;
    let user = by_id(c, owner.id)?.ok_or(StoreError::NotFound)?;
    Ok((user, restaurant.id))
}

pub fn credentials_by_email(c: &Connection, email: &Email) -> StoreResult<Option<UserCredentials>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.email = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([email.as_str()], user_from_row)
        .optional()?)
}

pub fn by_id(c: &Connection, id: UserId) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([id.to_string()], user_from_row)
        .optional()?
        .map(|credentials| credentials.user))
}

/// The STAFF and KITCHEN accounts of a restaurant, oldest first.
pub fn staff(c: &Connection, restaurant: RestaurantId) -> StoreResult<Vec<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM {USER_FROM}
         WHERE u.restaurant_id = ?1 AND u.role IN ('STAFF', 'KITCHEN')
         ORDER BY u.created_at, u.id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([restaurant.to_string()], user_from_row)?;
    Ok(rows
        .map(|row| row.map(|credentials| credentials.user))
        .collect::<Result<_, _>>()?)
}

/// Every login session the account has had (its refresh-token families).
fn sessions_of(c: &Connection, user: UserId) -> StoreResult<Vec<SessionId>> {
    let mut stmt =
        c.prepare_cached("SELECT DISTINCT session_id FROM refresh_tokens WHERE user_id = ?1")?;
    let rows = stmt.query_map([user.to_string()], |row| parse_uuid(row, 0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn is_staff_of(c: &Connection, restaurant: RestaurantId, user: UserId) -> StoreResult<bool> {
    Ok(c.prepare_cached(
        "SELECT 1 FROM users WHERE id = ?1 AND restaurant_id = ?2 AND role IN ('STAFF', 'KITCHEN')",
    )?
    .query_row(
        params![user.to_string(), restaurant.to_string()],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

/// Removes a staff account of `restaurant`; `None` when there is no such account. Returns its
/// sessions so the caller can end them everywhere.
/// Records each session as revoked (its access tokens refused) until `until`.
fn revoke_sessions(
    c: &Connection,
    sessions: &[SessionId],
    until: DateTime<Utc>,
) -> StoreResult<()> {
    let mut insert = c.prepare_cached(
        "INSERT INTO revoked_tokens (key, expires_at) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
    )?;
    for session in sessions {
        insert.execute(params![session_revocation_key(*session), to_millis(until)])?;
    }
    Ok(())
}

pub fn remove_staff(
    c: &Connection,
    restaurant: RestaurantId,
    user: UserId,
    revoked_until: DateTime<Utc>,
) -> StoreResult<Option<Vec<SessionId>>> {
    if !is_staff_of(c, restaurant, user)? {
        return Ok(None);
    }
    let sessions = sessions_of(c, user)?;
    revoke_sessions(c, &sessions, revoked_until)?;
    c.prepare_cached("DELETE FROM refresh_tokens WHERE user_id = ?1")?
        .execute([user.to_string()])?;
    c.prepare_cached("DELETE FROM users WHERE id = ?1")?
        .execute([user.to_string()])?;
    Ok(Some(sessions))
}

/// Gives a staff account of `restaurant` a new password and stops its refresh tokens; `None`
/// when there is no such account. Returns its sessions so the caller can end them everywhere.
pub fn reset_staff_password(
    c: &Connection,
    restaurant: RestaurantId,
    user: UserId,
    password_hash: &str,
    revoked_until: DateTime<Utc>,
) -> StoreResult<Option<Vec<SessionId>>> {
    if !is_staff_of(c, restaurant, user)? {
        return Ok(None);
    }
    c.prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")?
        .execute(params![user.to_string(), password_hash])?;
    c.prepare_cached(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
    )?
    .execute(params![user.to_string(), to_millis(Utc::now())])?;
    let sessions = sessions_of(c, user)?;
    revoke_sessions(c, &sessions, revoked_until)?;
    Ok(Some(sessions))
}

pub fn insert_refresh_token(c: &Connection, token: &RefreshTokenRecord) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO refresh_tokens (id, session_id, user_id, token_hash, issued_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        token.id,
        token.session_id.to_string(),
        token.user_id.to_string(),
        token.token_hash,
        to_millis(token.issued_at),
        to_millis(token.expires_at),
    ])?;
    Ok(())
}

struct PresentedToken {
    session_id: SessionId,
    user_id: UserId,
    token_hash: String,
    expires_at: i64,
    used: bool,
    revoked: bool,
}

pub fn rotate_refresh_token(
    c: &Connection,
    presented_id: &str,
    presented_hash: &str,
    next: &RefreshTokenRecord,
    on_reuse: &Revocation,
) -> StoreResult<RefreshOutcome> {
    let now = next.issued_at;
    let presented = c
        .prepare_cached(
            "SELECT session_id, user_id, token_hash, expires_at, used_at IS NOT NULL,
                    revoked_at IS NOT NULL
             FROM refresh_tokens WHERE id = ?1",
        )?
        .query_row([presented_id], |row| {
            Ok(PresentedToken {
                session_id: parse_uuid(row, 0)?,
                user_id: parse_uuid(row, 1)?,
                token_hash: row.get(2)?,
                expires_at: row.get(3)?,
                used: row.get(4)?,
                revoked: row.get(5)?,
            })
        })
        .optional()?;
    let Some(presented) = presented else {
        return Ok(RefreshOutcome::Invalid);
    };
    if presented.token_hash != presented_hash
        || presented.revoked
        || presented.user_id != next.user_id
        || presented.session_id != next.session_id
    {
        return Ok(RefreshOutcome::Invalid);
    }
    if presented.used {
        revoke_session(c, presented.session_id, std::slice::from_ref(on_reuse), now)?;
        return Ok(RefreshOutcome::Reused);
    }
    if presented.expires_at <= to_millis(now) {
        return Ok(RefreshOutcome::Invalid);
    }
    c.prepare_cached("UPDATE refresh_tokens SET used_at = ?2 WHERE id = ?1")?
        .execute(params![presented_id, to_millis(now)])?;
    insert_refresh_token(c, next)?;
    let user = by_id(c, presented.user_id)?.ok_or(StoreError::NotFound)?;
    Ok(RefreshOutcome::Rotated(user))
}

pub fn revoke_session(
    c: &Connection,
    session_id: SessionId,
    revocations: &[Revocation],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE session_id = ?1 AND revoked_at IS NULL",
    )?
    .execute(params![session_id.to_string(), to_millis(now)])?;
    let mut insert = c.prepare_cached(
        "INSERT INTO revoked_tokens (key, expires_at) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
    )?;
    for revocation in revocations {
        insert.execute(params![revocation.key, to_millis(revocation.until)])?;
    }
    // Housekeeping: forget revocations that can no longer matter.
    c.prepare_cached("DELETE FROM revoked_tokens WHERE expires_at <= ?1")?
        .execute([to_millis(now)])?;
    Ok(())
}

pub fn active_revocations(c: &Connection, now: DateTime<Utc>) -> StoreResult<Vec<Revocation>> {
    let mut stmt =
        c.prepare_cached("SELECT key, expires_at FROM revoked_tokens WHERE expires_at > ?1")?;
    let rows = stmt.query_map([to_millis(now)], |row| {
        Ok(Revocation {
            key: row.get(0)?,
            until: from_millis(row.get(1)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
