//! Per-minute rate limits (D18, D25) as GCRA buckets: smooth, exact to the request, and a
//! rejected request costs nothing. Several buckets are checked together and charged only when
//! all of them accept.
use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

const PERIOD: f64 = 60.0;

/// One bucket to charge: its key, its per-minute figure and what it limits.
pub struct Bucket {
    pub key: String,
    pub per_minute: u32,
    pub limit_type: &'static str,
}

/// State of the tightest bucket after a check, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    pub reset_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub quota: Quota,
    pub retry_after_seconds: u64,
    pub limit_type: &'static str,
}

pub struct Limiter {
    start: Instant,
    /// Theoretical arrival time of each bucket, in seconds since `start`.
    tat: Mutex<HashMap<String, f64>>,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter { start: Instant::now(), tat: Mutex::new(HashMap::new()) }
    }
}

impl Limiter {
    pub fn check(&self, buckets: &[Bucket]) -> Result<Option<Quota>, Rejection> {
        self.check_at(buckets, self.start.elapsed().as_secs_f64())
    }

    fn check_at(&self, buckets: &[Bucket], now: f64) -> Result<Option<Quota>, Rejection> {
        let mut map = self.tat.lock();
        let mut tightest: Option<Quota> = None;
        let mut updates: Vec<(usize, f64)> = Vec::with_capacity(buckets.len());
        for (i, b) in buckets.iter().enumerate() {
            let per = f64::from(b.per_minute.max(1));
            let interval = PERIOD / per;
            let tat = map.get(&b.key).copied().unwrap_or(now).max(now);
            let new_tat = tat + interval;
            if new_tat - now > PERIOD + 1e-9 {
                let wait = (new_tat - now - PERIOD).ceil().max(1.0);
                return Err(Rejection {
                    quota: Quota { limit: b.per_minute, remaining: 0, reset_seconds: wait as u64 },
                    retry_after_seconds: wait as u64,
                    limit_type: b.limit_type,
                });
            }
            let remaining = ((PERIOD - (new_tat - now)) / interval + 1e-9).floor().max(0.0) as u32;
            let q = Quota { limit: b.per_minute, remaining, reset_seconds: (new_tat - now).ceil() as u64 };
            if tightest.is_none_or(|t| q.remaining < t.remaining) {
                tightest = Some(q);
            }
            updates.push((i, new_tat));
        }
        for (i, t) in updates {
            map.insert(buckets[i].key.clone(), t);
        }
        // Forget idle buckets now and then so memory stays bounded by active callers.
        if map.len() > 50_000 {
            map.retain(|_, t| *t > now);
        }
        Ok(tightest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(key: &str, n: u32) -> Bucket {
        Bucket { key: key.into(), per_minute: n, limit_type: "account" }
    }

    #[test]
    fn allows_the_figure_then_rejects() {
        let l = Limiter::default();
        for i in 0..10 {
            let q = l.check_at(&[b("a", 10)], 0.0).unwrap().unwrap();
            assert_eq!(q.remaining, 9 - i);
        }
        let r = l.check_at(&[b("a", 10)], 0.0).unwrap_err();
        assert_eq!(r.retry_after_seconds, 6);
        // One slot comes back after 60/10 s.
        assert!(l.check_at(&[b("a", 10)], 6.0).is_ok());
        assert!(l.check_at(&[b("a", 10)], 6.0).is_err());
    }

    #[test]
    fn rejected_requests_do_not_count_and_buckets_move_together() {
        let l = Limiter::default();
        for _ in 0..2 {
            l.check_at(&[b("acct", 100), b("ep", 2)], 0.0).unwrap();
        }
        let r = l.check_at(&[b("acct", 100), b("ep", 2)], 0.0).unwrap_err();
        assert_eq!(r.limit_type, "account");
        // The account bucket was not charged by the rejected request.
        let q = l.check_at(&[b("acct", 100)], 0.0).unwrap().unwrap();
        assert_eq!(q.remaining, 97);
    }

    #[test]
    fn tightest_bucket_is_reported() {
        let l = Limiter::default();
        let q = l.check_at(&[b("x", 100), b("y", 20)], 0.0).unwrap().unwrap();
        assert_eq!((q.limit, q.remaining), (20, 19));
    }
}
