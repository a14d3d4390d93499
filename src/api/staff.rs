//! The shop's accounts (`/restaurants/me/staff`): the owner adds floor staff (STAFF) and kitchen
//! (KITCHEN) accounts, resets their passwords and removes them. Removing or resetting ends every
//! session the account had, at once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use chrono::{DateTime, Utc};

use super::auth::refuse_everywhere;
use crate::accounts::{self, NewAccount};
use crate::app::AppState;
use crate::auth::Owner;
use crate::auth::tokens::session_revocation_key;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::user::{Role, User, check_password_policy};
use crate::error::AppError;
use crate::http::extract::{AppJson, AppPath};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/restaurants/me/staff",
            get(list_staff).post(add_staff),
        )
        .route("/api/v1/restaurants/me/staff/{id}", delete(remove_staff))
        .route(
            "/api/v1/restaurants/me/staff/{id}/password",
            post(reset_password),
        )
}

async fn list_staff(State(state): State<AppState>, owner: Owner) -> Result<Json<Value>, AppError> {
    let staff = state.store.staff(owner.restaurant_id).await?;
    Ok(Json(json!({ "staff": staff })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStaff {
    email: String,
    name: String,
    role: String,
    password: String,
}

pub fn parse_staff_role(raw: &str) -> Result<Role, AppError> {
    match raw.trim().to_ascii_uppercase().parse::<Role>() {
        Ok(role) if role.is_shop_staff() => Ok(role),
        _ => Err(AppError::validation("role", "STAFF or KITCHEN")),
    }
}

async fn add_staff(
    State(state): State<AppState>,
    owner: Owner,
    AppJson(body): AppJson<NewStaff>,
) -> Result<(StatusCode, Json<User>), AppError> {
    let role = parse_staff_role(&body.role)?;
    let account = NewAccount {
        email: &body.email,
        password: &body.password,
        name: &body.name,
    };
    let user = accounts::create_staff(
        &*state.store,
        &state.passwords,
        account,
        role,
        owner.restaurant_id,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

fn staff_id(raw: &str) -> Result<UserId, AppError> {
    raw.parse().map_err(|_| AppError::NotFound("staff account"))
}

/// Until when a removed or reset account's sessions stay refused: its access tokens' lifetime.
fn revoked_until(state: &AppState) -> DateTime<Utc> {
    Utc::now() + state.tokens.access_ttl
}

/// The store already recorded the sessions as revoked with the account change.
async fn end_sessions(state: &AppState, sessions: Vec<SessionId>, until: DateTime<Utc>) {
    let keys = sessions
        .into_iter()
        .map(|session| (session_revocation_key(session), until))
        .collect();
    refuse_everywhere(state, keys).await;
}

async fn remove_staff(
    State(state): State<AppState>,
    owner: Owner,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, AppError> {
    let until = revoked_until(&state);
    let sessions = state
        .store
        .remove_staff(owner.restaurant_id, staff_id(&id)?, until)
        .await?
        .ok_or(AppError::NotFound("staff account"))?;
    end_sessions(&state, sessions, until).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordReset {
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    owner: Owner,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<PasswordReset>,
) -> Result<StatusCode, AppError> {
    let id = staff_id(&id)?;
    check_password_policy(&body.password).map_err(|why| AppError::validation("password", why))?;
    let hash = state.passwords.hash(&body.password).await?;
    let until = revoked_until(&state);
    let sessions = state
        .store
        .reset_staff_password(owner.restaurant_id, id, hash, until)
        .await?
        .ok_or(AppError::NotFound("staff account"))?;
    end_sessions(&state, sessions, until).await;
    Ok(StatusCode::NO_CONTENT)
}
