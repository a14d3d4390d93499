//! HS256 JWTs. Access tokens carry `sub, role, exp, iat, jti` (the seed's claims) plus `typ`,
//! the login session `sid`, and the restaurant/table binding where it applies. Refresh tokens
//! are JWTs too (`typ: refresh`), stored server-side by hash and rotated on every use.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::digest;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{RestaurantId, SessionId, UserId};
use crate::domain::user::Role;
use crate::error::AppError;

pub const REFRESH_TOKEN_DAYS: i64 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub typ: TokenType,
    pub sid: SessionId,
    /// Owner: their restaurant. Guest: the restaurant of the scanned table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<RestaurantId>,
    /// Guest: the table the QR code belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tbl: Option<String>,
}

/// Who a token is for; the rest of the claims are filled in by `TokenKeys`.
#[derive(Clone, Debug)]
pub struct Subject {
    pub user_id: UserId,
    pub role: Role,
    pub restaurant_id: Option<RestaurantId>,
    pub table: Option<String>,
}

pub struct IssuedToken {
    pub token: String,
    pub claims: Claims,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl_secs: u64) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl: Duration::seconds(access_ttl_secs as i64),
        }
    }

    pub fn issue(
        &self,
        subject: &Subject,
        session: SessionId,
        typ: TokenType,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AppError> {
        let claims = Claims {
            sub: subject.user_id,
            role: subject.role,
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            typ,
            sid: session,
            rid: subject.restaurant_id,
            tbl: subject.table.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("signing token: {e}")))?;
        Ok(IssuedToken { token, claims })
    }

    /// Checks signature, algorithm (HS256 only), expiry and token type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, AppError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                tracing::debug!(error = %e, "token rejected");
                AppError::Unauthorized("invalid or expired token")
            })?;
        if data.claims.typ != expected {
            return Err(AppError::Unauthorized("wrong kind of token"));
        }
        Ok(data.claims)
    }
}

/// Refresh tokens are stored only as this digest.
pub fn token_hash(token: &str) -> String {
    let digest = digest::digest(&digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn access_revocation_key(jti: &str) -> String {
    format!("jti:{jti}")
}

pub fn session_revocation_key(session: SessionId) -> String {
    format!("sid:{session}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            user_id: UserId::new(),
            role: Role::Customer,
            restaurant_id: None,
            table: None,
        }
    }

    #[test]
    fn a_token_round_trips_and_keeps_its_type() {
        let keys = TokenKeys::new(&[7; 32], 3600);
        let now = Utc::now();
        let issued = keys
            .issue(
                &subject(),
                SessionId::new(),
                TokenType::Access,
                keys.access_ttl,
                now,
            )
            .unwrap();
        let claims = keys.verify(&issued.token, TokenType::Access).unwrap();
        assert_eq!(claims.jti, issued.claims.jti);
        assert!(keys.verify(&issued.token, TokenType::Refresh).is_err());
    }

    #[test]
    fn other_keys_and_expired_tokens_are_refused() {
        let keys = TokenKeys::new(&[7; 32], 3600);
        let other = TokenKeys::new(&[8; 32], 3600);
        let now = Utc::now();
        let issued = keys
            .issue(
                &subject(),
                SessionId::new(),
                TokenType::Access,
                keys.access_ttl,
                now,
            )
            .unwrap();
        assert!(other.verify(&issued.token, TokenType::Access).is_err());
        let old = keys
            .issue(
                &subject(),
                SessionId::new(),
                TokenType::Access,
                Duration::seconds(60),
                now - Duration::hours(2),
            )
            .unwrap();
        assert!(keys.verify(&old.token, TokenType::Access).is_err());
    }
}
