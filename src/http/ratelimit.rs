//! In-process rate limiting (there is no Nginx in front of the box): a keyed GCRA, i.e. a
//! token bucket of `per_minute` tokens refilled continuously. A full minute's allowance may be
//! spent at once; after that requests are admitted at the refill rate.

use std::collections::HashMap;

use async_trait::async_trait;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many tracked keys, idle ones are swept on the next check.
const SWEEP_THRESHOLD: usize = 10_000;

pub struct RateLimiter<K> {
    /// Time between two tokens; zero disables the limiter.
    interval: Duration,
    window: Duration,
    /// Per key: the "theoretical arrival time" of the next request.
    state: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub fn per_minute(limit: u32) -> RateLimiter<K> {
        let window = Duration::from_secs(60);
        RateLimiter {
            interval: if limit == 0 {
                Duration::ZERO
            } else {
                window / limit
            },
            window,
            state: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_enabled(&self) -> bool {
        !self.interval.is_zero()
    }

    /// Admits a request for `key`, or says after how many whole seconds to retry.
    pub fn check(&self, key: K) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: K, now: Instant) -> Result<(), u64> {
        if !self.is_enabled() {
            return Ok(());
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.len() > SWEEP_THRESHOLD {
            state.retain(|_, tat| *tat > now);
        }
        let tat = state.get(&key).copied().unwrap_or(now).max(now);
        let next = tat + self.interval;
        if next - now > self.window {
            let wait = next - now - self.window;
            return Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        }
        state.insert(key, next);
        Ok(())
    }
}

/// A rate limit as handlers see it: in-process (`LocalLimiter`), or shared by every instance
/// (Redis, in the `postgres` build). Keys are strings ("ip:…", "login:…").
#[async_trait]
pub trait Limiter: Send + Sync + 'static {
    fn is_enabled(&self) -> bool;
    /// Admits a request for `key`, or says after how many whole seconds to retry.
    async fn check(&self, key: &str) -> Result<(), u64>;
}

pub struct LocalLimiter(RateLimiter<String>);

impl LocalLimiter {
    pub fn per_minute(limit: u32) -> LocalLimiter {
        LocalLimiter(RateLimiter::per_minute(limit))
    }
}

#[async_trait]
impl Limiter for LocalLimiter {
    fn is_enabled(&self) -> bool {
        self.0.is_enabled()
    }

    async fn check(&self, key: &str) -> Result<(), u64> {
        self.0.check(key.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_after_the_allowance_is_refused_until_a_token_refills() {
        let limiter = RateLimiter::per_minute(60);
        let start = Instant::now();
        for _ in 0..60 {
            assert!(limiter.check_at("ip", start).is_ok());
        }
        assert_eq!(limiter.check_at("ip", start), Err(1));
        assert!(limiter.check_at("other-ip", start).is_ok());
        assert!(
            limiter
                .check_at("ip", start + Duration::from_secs(1))
                .is_ok()
        );
        assert!(
            limiter
                .check_at("ip", start + Duration::from_secs(1))
                .is_err()
        );
    }

    #[test]
    fn a_zero_limit_disables_limiting() {
        let limiter = RateLimiter::per_minute(0);
        for _ in 0..1000 {
            assert!(limiter.check("ip").is_ok());
        }
    }
}
