//! bcrypt hashing off the async workers. Hashes are CPU-bound (~75 ms at cost 10 here), so at
//! most one per spare core runs at a time: a burst of logins queues instead of starving every
//! other request of CPU.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::blocking;
use crate::error::AppError;

pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// Verified against when the email is unknown, so a login takes as long either way and
    /// does not reveal which emails are registered.
    dummy_hash: String,
}

/// A well-formed bcrypt hash at `cost` that no password matches (an all-zero salt and digest):
/// checking against it costs what a real check costs. Written out rather than hashed at start,
/// which took ~75 ms of every start-up.
fn dummy_hash(cost: u32) -> String {
    format!("$2b${cost:02}${}", ".".repeat(53))
}

impl PasswordHasher {
    pub fn new(cost: u32) -> anyhow::Result<PasswordHasher> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(PasswordHasher {
            cost,
            permits: Arc::new(Semaphore::new(cores.saturating_sub(1).max(1))),
            dummy_hash: dummy_hash(cost),
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String, AppError> {
        let _permit = self.permits.acquire().await.map_err(anyhow::Error::from)?;
        let (password, cost) = (password.to_owned(), self.cost);
        blocking::run(move || bcrypt::hash(password, cost))
            .await
            .map_err(|e| AppError::Internal(e.into()))
    }

    /// `None` as the stored hash still spends the time of a real check.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, AppError> {
        let _permit = self.permits.acquire().await.map_err(anyhow::Error::from)?;
        let known = stored.is_some();
        let hash = stored.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.to_owned();
        let matches = blocking::run(move || bcrypt::verify(password, &hash))
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_checked_in_full_and_matches_nothing() {
        let hash = dummy_hash(4);
        assert_eq!(hash.len(), 60);
        assert!(!bcrypt::verify("ordersync-dummy-password", &hash).unwrap());
        assert!(!bcrypt::verify("", &hash).unwrap());
        let parts: bcrypt::HashParts = hash.parse().unwrap();
        assert_eq!(parts.get_cost(), 4);
    }
}
