//! `/api/v1/auth`: register (customers only), login, refresh with rotation and reuse
//! detection, me, logout.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::accounts::{self, NewAccount};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::auth::tokens::{
    REFRESH_TOKEN_DAYS, Subject, TokenType, access_revocation_key, session_revocation_key,
    token_hash,
};
use crate::domain::ids::{GuestId, RestaurantId, SessionId, UserId};
use crate::domain::table::parse_table_label;
use crate::domain::user::{Email, Role, User};
use crate::error::AppError;
use crate::events::{LiveEvent, SessionEnded};
use crate::http::context::RequestContext;
use crate::http::extract::AppJson;
use crate::store::{NewGuest, RefreshOutcome, RefreshTokenRecord, Revocation};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register", post(register))
        .route("/login", post(login))
        .route("/refresh", post(refresh))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/guest", post(guest))
}

/// Guests order from one table for one meal; the token is not refreshable.
const GUEST_TOKEN_HOURS: i64 = 4;

#[derive(Deserialize)]
struct RegisterRequest {
    email: String,
    password: String,
    name: String,
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

/// The seed's login response.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
    user: UserSummary,
}

#[derive(Serialize)]
struct UserSummary {
    id: UserId,
    email: String,
    name: String,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    restaurant_id: Option<RestaurantId>,
}

impl From<&User> for UserSummary {
    fn from(user: &User) -> Self {
        UserSummary {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role,
            restaurant_id: user.restaurant_id,
        }
    }
}

#[derive(Serialize)]
struct MeResponse {
    #[serde(flatten)]
    user: UserSummary,
    created_at: DateTime<Utc>,
}

fn subject_of(user: &User) -> Subject {
    Subject {
        user_id: user.id,
        role: user.role,
        restaurant_id: user.restaurant_id,
        table: None,
    }
}

fn refresh_ttl() -> Duration {
    Duration::days(REFRESH_TOKEN_DAYS)
}

/// Starts a new login session: an access token and the first refresh token of its family.
async fn start_session(state: &AppState, user: &User) -> Result<TokenResponse, AppError> {
    let now = Utc::now();
    let session = SessionId::new();
    let subject = subject_of(user);
    let refresh = state
        .tokens
        .issue(&subject, session, TokenType::Refresh, refresh_ttl(), now)?;
    state
        .store
        .insert_refresh_token(RefreshTokenRecord {
            id: refresh.claims.jti.clone(),
            session_id: session,
            user_id: user.id,
            token_hash: token_hash(&refresh.token),
            issued_at: now,
            expires_at: now + refresh_ttl(),
        })
        .await?;
    let access = state.tokens.issue(
        &subject,
        session,
        TokenType::Access,
        state.tokens.access_ttl,
        now,
    )?;
    Ok(TokenResponse {
        access_token: access.token,
        refresh_token: refresh.token,
        expires_in: state.tokens.access_ttl.num_seconds(),
        user: UserSummary::from(user),
    })
}

async fn register(
    State(state): State<AppState>,
    AppJson(body): AppJson<RegisterRequest>,
) -> Result<impl IntoResponse, AppError> {
    let account = NewAccount {
        email: &body.email,
        password: &body.password,
        name: &body.name,
    };
    let user = accounts::register_customer(&*state.store, &state.passwords, account).await?;
    let tokens = start_session(&state, &user).await?;
    Ok((StatusCode::CREATED, Json(tokens)))
}

async fn login(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    AppJson(body): AppJson<LoginRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let email = Email::parse(&body.email).map_err(|why| AppError::validation("email", why))?;
    if body.password.is_empty() {
        return Err(AppError::validation("password", "password is required"));
    }
    state
        .limits
        .login
        .check(&format!("login:{}:{}", context.client_ip, email.as_str()))
        .await
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })?;
    // The same account guessed at from many addresses: slowed down as a whole — except from
    // an address it logged in from lately (the owner's tablet), so nobody can lock it out.
    let device = format!("{}|{}", context.client_ip, email.as_str());
    if !state.limits.known_logins.contains_key(&device) {
        state
            .limits
            .login_account
            .check(&format!("account:{}", email.as_str()))
            .await
            .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })?;
    }

    let credentials = state.store.user_credentials(&email).await?;
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.as_str());
    if !state.passwords.verify(&body.password, stored_hash).await? {
        return Err(AppError::Unauthorized("invalid email or password"));
    }
    let user = credentials.expect("verified credentials exist").user;
    context.set_user(user.id);
    state.limits.known_logins.insert(device, ());
    Ok(Json(start_session(&state, &user).await?))
}

async fn refresh(
    State(state): State<AppState>,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let presented = state
        .tokens
        .verify(&body.refresh_token, TokenType::Refresh)?;
    let session = presented.sid;
    let revoked_for = state.tokens.access_ttl;
    if state
        .revocations
        .is_revoked(&session_revocation_key(session))
        .await
    {
        return Err(AppError::Unauthorized("session has been revoked"));
    }
    let now = Utc::now();
    let subject = Subject {
        user_id: presented.sub,
        role: presented.role,
        restaurant_id: presented.rid,
        table: None,
    };
    let next = state
        .tokens
        .issue(&subject, session, TokenType::Refresh, refresh_ttl(), now)?;
    let record = RefreshTokenRecord {
        id: next.claims.jti.clone(),
        session_id: session,
        user_id: presented.sub,
        token_hash: token_hash(&next.token),
        issued_at: now,
        expires_at: now + refresh_ttl(),
    };
    // On reuse every access token of the session dies too, for as long as one could live.
    let on_reuse = Revocation {
        key: session_revocation_key(session),
        until: now + revoked_for,
    };
    let outcome = state
        .store
        .rotate_refresh_token(
            &presented.jti,
            &token_hash(&body.refresh_token),
            record,
            on_reuse,
        )
        .await?;
    match outcome {
        RefreshOutcome::Rotated(user) => {
            let access = state.tokens.issue(
                &subject_of(&user),
                session,
                TokenType::Access,
                state.tokens.access_ttl,
                now,
            )?;
            Ok(Json(TokenResponse {
                access_token: access.token,
                refresh_token: next.token,
                expires_in: state.tokens.access_ttl.num_seconds(),
                user: UserSummary::from(&user),
            }))
        }
        RefreshOutcome::Reused => {
            tracing::warn!(session = %session, user = %presented.sub, "refresh token reused; session revoked");
            let key = session_revocation_key(session);
            state
                .revocations
                .revoke(key.clone(), now + revoked_for)
                .await;
            state.events.publish(LiveEvent::SessionEnded(SessionEnded {
                key: Arc::from(key),
                until: now + revoked_for,
            }));
            Err(AppError::Unauthorized(
                "refresh token was already used; the session has been revoked",
            ))
        }
        RefreshOutcome::Invalid => Err(AppError::Unauthorized("invalid refresh token")),
    }
}

#[derive(Deserialize)]
struct GuestRequest {
    restaurant_id: String,
    #[serde(deserialize_with = "crate::domain::table::label_or_number")]
    table_number: String,
    sig: String,
}

/// A customer who scanned a table QR code gets a CUSTOMER token bound to that restaurant and
/// table, without registering.
async fn guest(
    State(state): State<AppState>,
    AppJson(body): AppJson<GuestRequest>,
) -> Result<impl IntoResponse, AppError> {
    let forged = || AppError::Unauthorized("this table link is not valid; scan the QR code again");
    let restaurant_id: RestaurantId = body.restaurant_id.parse().map_err(|_| forged())?;
    if !state
        .tables
        .verify(restaurant_id, &body.table_number, &body.sig)
    {
        return Err(forged());
    }
    let table = parse_table_label("table_number", &body.table_number)?;
    state
        .store
        .restaurant(restaurant_id)
        .await?
        .ok_or(AppError::NotFound("restaurant"))?;
    let now = Utc::now();
    let guest = GuestId::new();
    state
        .store
        .create_guest(NewGuest {
            id: guest,
            restaurant_id,
            table_number: table.clone(),
            created_at: state.clock.now(),
        })
        .await?;
    let subject = Subject {
        user_id: UserId(guest.0),
        role: Role::Customer,
        restaurant_id: Some(restaurant_id),
        table: Some(table.clone()),
    };
    let ttl = Duration::hours(GUEST_TOKEN_HOURS);
    let access = state
        .tokens
        .issue(&subject, SessionId::new(), TokenType::Access, ttl, now)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "access_token": access.token,
            "expires_in": ttl.num_seconds(),
            "restaurant_id": restaurant_id,
            "table_number": table,
            "user": { "id": guest, "name": format!("Table {table}"), "role": Role::Customer },
        })),
    ))
}

async fn me(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<serde_json::Value>, AppError> {
    if let Some(table) = &user.table {
        return Ok(Json(serde_json::json!({
            "id": user.user_id,
            "role": user.role,
            "guest": true,
            "restaurant_id": user.restaurant_id,
            "table_number": table,
        })));
    }
    let found = state
        .store
        .user(user.user_id)
        .await?
        .ok_or(AppError::Unauthorized("account no longer exists"))?;
    Ok(Json(
        serde_json::to_value(MeResponse {
            user: UserSummary::from(&found),
            created_at: found.created_at,
        })
        .map_err(anyhow::Error::from)?,
    ))
}

async fn logout(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, AppError> {
    let revocations = vec![
        Revocation {
            key: access_revocation_key(&user.jti),
            until: user.expires_at,
        },
        Revocation {
            key: session_revocation_key(user.session_id),
            until: Utc::now() + state.tokens.access_ttl,
        },
    ];
    let keys: Vec<(String, DateTime<Utc>)> = revocations
        .iter()
        .map(|r| (r.key.clone(), r.until))
        .collect();
    state
        .store
        .revoke_session(user.session_id, revocations)
        .await?;
    refuse_everywhere(&state, keys).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes this instance refuse the revoked keys at once and tells every other instance, whose
/// sockets opened with them close. The store records them first (so a restart forgets nothing).
pub(crate) async fn refuse_everywhere(state: &AppState, keys: Vec<(String, DateTime<Utc>)>) {
    for (key, until) in keys {
        state.revocations.revoke(key.clone(), until).await;
        state.events.publish(LiveEvent::SessionEnded(SessionEnded {
            key: Arc::from(key.as_str()),
            until,
        }));
    }
}
