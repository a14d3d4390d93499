//! Extractors that authenticate a request and state who may call a handler:
//! `AuthUser` (anyone signed in), `Customer`, and for a restaurant's accounts `Owner`, `Staff`
//! (owner or floor staff) and `Crew` (the kitchen too), each with the restaurant.

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
            _ => Err(AppError::Forbidden("this action is for customers")),
        }
    }
}

/// Someone working for a restaurant whose role is one of `allowed`, with that restaurant.
async fn shop_account(
    parts: &mut Parts,
    state: &AppState,
    allowed: &[Role],
    refusal: &'static str,
) -> Result<(AuthUser, RestaurantId), AppError> {
    let user = AuthUser::from_request_parts(parts, state).await?;
    if !allowed.contains(&user.role) {
        return Err(AppError::Forbidden(refusal));
    }
    match user.restaurant_id {
        Some(restaurant_id) => Ok((user, restaurant_id)),
        None => Err(AppError::Forbidden("this account has no restaurant")),
    }
}

/// Declares an extractor for the accounts of a restaurant with the given roles.
macro_rules! shop_extractor {
    ($(#[$doc:meta])* $name:ident, [$($role:expr),+], $refusal:literal) => {
        $(#[$doc])*
        pub struct $name {
            pub user: AuthUser,
            pub restaurant_id: RestaurantId,
        }

        impl FromRequestParts<AppState> for $name {
            type Rejection = AppError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, AppError> {
                let (user, restaurant_id) =
                    shop_account(parts, state, &[$($role),+], $refusal).await?;
                Ok($name { user, restaurant_id })
            }
        }

        impl $name {
            /// Names this account as the actor in the event log.
            pub fn actor(&self) -> crate::store::Actor {
                crate::store::Actor::Shop {
                    restaurant: self.restaurant_id,
                    by: Some(self.user.user_id),
                }
            }
        }
    };
}

shop_extractor!(
    /// The owner: menu, settings, staff, reports, printers' set-up.
    Owner,
    [Role::Owner],
    "only the restaurant's owner may do this"
);

shop_extractor!(
    /// The owner or floor staff: the board (orders, tables, calls, sold out).
    Staff,
    [Role::Owner, Role::Staff],
    "this action is for the restaurant's owner and floor staff"
);

shop_extractor!(
    /// Anyone working for the restaurant, the kitchen included: reading orders, marking ready.
    Crew,
    [Role::Owner, Role::Staff, Role::Kitchen],
    "this action is for the restaurant's accounts"
);
