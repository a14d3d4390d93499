//! Extractors that authenticate a request and state who may call a handler:
//! `AuthUser` (anyone signed in), `Customer` and `Owner` (with the owner's restaurant).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use super::tokens::{Claims, TokenType, access_revocation_key, session_revocation_key};
use crate::app::AppState;
use crate::domain::from_millis;
use crate::domain::ids::{RestaurantId, SessionId, UserId};
use crate::domain::user::Role;
use crate::error::AppError;
use crate::http::context::RequestContext;
use crate::surfaces::PlainGuests;

#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: UserId,
    pub role: Role,
    pub restaurant_id: Option<RestaurantId>,
    /// Set for guest tokens obtained from a table QR code.
    pub table: Option<String>,
    pub session_id: SessionId,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

impl AuthUser {
    fn from_claims(claims: Claims) -> AuthUser {
        AuthUser {
            user_id: claims.sub,
            role: claims.role,
            restaurant_id: claims.rid,
            table: claims.tbl,
            session_id: claims.sid,
            jti: claims.jti,
            expires_at: from_millis(claims.exp.saturating_mul(1000)),
        }
    }
}

/// Verifies an access token and checks it against the revocation list. Also used where the
/// token does not come from a header (WebSocket query parameter or first message).
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, AppError> {
    let claims = state.tokens.verify(token, TokenType::Access)?;
    let (access, session) = (
        access_revocation_key(&claims.jti),
        session_revocation_key(claims.sid),
    );
    if state.revocations.any_revoked(&[&access, &session]).await {
        return Err(AppError::Unauthorized("token has been revoked"));
    }
    Ok(AuthUser::from_claims(claims))
}

/// On plain HTTP only table guests may act: an owner's or a registered customer's token
/// belongs on HTTPS, and must not become useful because it was sent in clear.
pub fn only_guests_in_clear(user: &AuthUser) -> Result<(), AppError> {
    match user.table {
        Some(_) => Ok(()),
        None => Err(AppError::HttpsRequired),
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, AppError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(AppError::Unauthorized("missing Authorization header"))?
        .to_str()
        .map_err(|_| AppError::Unauthorized("malformed Authorization header"))?;
    match header.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(AppError::Unauthorized(
            "expected `Authorization: Bearer <token>`",
        )),
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = authenticate(state, bearer_token(parts)?).await?;
        if parts.extensions.get::<PlainGuests>().is_some() {
            only_guests_in_clear(&user)?;
        }
        if let Some(context) = parts.extensions.get::<RequestContext>() {
            context.set_user(user.user_id);
        }
        Ok(user)
    }
}

/// No `Authorization` header: `None`; a header that does not hold a valid token: refused.
impl axum::extract::OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, AppError> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(None);
        }
        <AuthUser as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// A signed-in customer (registered or a guest from a table QR code).
pub struct Customer(pub AuthUser);

impl FromRequestParts<AppState> for Customer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        match user.role {
            Role::Customer => Ok(Customer(user)),
            Role::Owner => Err(AppError::Forbidden("this action is for customers")),
        }
    }
}

/// A signed-in owner, with the restaurant they run.
pub struct Owner {
    pub user: AuthUser,
    pub restaurant_id: RestaurantId,
}

impl FromRequestParts<AppState> for Owner {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        match (user.role, user.restaurant_id) {
            (Role::Owner, Some(restaurant_id)) => Ok(Owner {
                user,
                restaurant_id,
            }),
            (Role::Owner, None) => Err(AppError::Forbidden("this owner has no restaurant")),
            (Role::Customer, _) => Err(AppError::Forbidden("this action is for restaurant owners")),
        }
    }
}
