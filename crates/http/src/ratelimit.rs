//! Per-minute rate limits (`docs/api.md#rate-limits`) as GCRA buckets: smooth, exact to the request, and a
//! rejected request costs nothing. Several buckets are checked together and charged only when
//! all of them accept.
//!
//! One node (SQLite) keeps its buckets in memory (`LocalLimiter`). Several nodes on one
//! PostgreSQL share them (`SharedLimiter`): each node leases a few tokens at a time from the
//! bucket row in the database and spends them locally, so the database sees one round trip per
//! lease, not per request.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use levd_store::Store;
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

pub struct LocalLimiter {
    start: Instant,
    /// Theoretical arrival time of each bucket, in seconds since `start`. Keys name accounts,
    /// endpoints and client addresses; the hasher is seeded per process.
    tat: Mutex<HashMap<String, f64, foldhash::fast::RandomState>>,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        LocalLimiter { start: Instant::now(), tat: Mutex::new(HashMap::default()) }
    }
}

impl LocalLimiter {
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
            match map.get_mut(&buckets[i].key) {
                Some(tat) => *tat = t,
                None => {
                    map.insert(buckets[i].key.clone(), t);
                }
            }
        }
        // Forget idle buckets now and then so memory stays bounded by active callers.
        if map.len() > 50_000 {
            map.retain(|_, t| *t > now);
        }
        Ok(tightest)
    }
}

/// How long leased tokens stay usable. Tokens are debited in the database when leased, so the
/// lifetime bounds how late a node may spend them: over any window of `W` seconds the nodes
/// together accept at most what one GCRA bucket accepts over `W + LEASE_TTL`.
pub const LEASE_TTL: Duration = Duration::from_secs(2);

/// Tokens taken per lease: a tenth of the per-minute figure, between 1 and 50. Unused tokens
/// expire with their lease, so the shortfall is at most `nodes × (lease − 1)` per bucket and
/// lease lifetime; the database sees one lease per `lease` requests.
pub fn lease_size(per_minute: u32) -> u32 {
    (per_minute / 10).clamp(1, 50)
}

struct Lease {
    tokens: u32,
    expires: Instant,
    /// Room left in the database bucket after the lease, for `RateLimit-Remaining`.
    db_room: u32,
    reset_seconds: u64,
}

pub struct SharedLimiter {
    store: Store,
    leases: Mutex<HashMap<String, Lease>>,
    /// Used while the database cannot be reached: limits still hold per node.
    fallback: LocalLimiter,
}

/// Longest wait for the database's answer to a token lease.
const SHARED_LEASE_BOUND: std::time::Duration = std::time::Duration::from_millis(300);

impl SharedLimiter {
    pub fn new(store: Store) -> SharedLimiter {
        SharedLimiter { store, leases: Mutex::new(HashMap::new()), fallback: LocalLimiter::default() }
    }

    fn has_token(&self, key: &str) -> bool {
        self.leases.lock().get(key).is_some_and(|l| l.tokens > 0 && l.expires > Instant::now())
    }

    pub async fn check(&self, buckets: &[Bucket]) -> Result<Option<Quota>, Rejection> {
        for _attempt in 0..3 {
            for b in buckets {
                if self.has_token(&b.key) {
                    continue;
                }
                let per = b.per_minute.max(1);
                let interval = PERIOD / f64::from(per);
                // Bounded: a database that does not answer (server down, lock held) must not
                // hold every request for the pool's whole acquire timeout.
                let lease = match tokio::time::timeout(
                    SHARED_LEASE_BOUND,
                    self.store.lease_rate_tokens(&b.key, interval, lease_size(per), PERIOD),
                )
                .await
                {
                    Ok(Ok(l)) => l,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "shared rate limits unavailable; limiting on this node only");
                        return self.fallback.check(buckets);
                    }
                    Err(_) => {
                        tracing::warn!("shared rate limits did not answer in time; limiting on this node only");
                        return self.fallback.check(buckets);
                    }
                };
                if lease.granted == 0 {
                    let wait = (lease.tat + interval - PERIOD - lease.now).ceil().max(1.0) as u64;
                    return Err(Rejection {
                        quota: Quota { limit: b.per_minute, remaining: 0, reset_seconds: wait },
                        retry_after_seconds: wait,
                        limit_type: b.limit_type,
                    });
                }
                let db_room = ((lease.now + PERIOD - lease.tat) / interval + 1e-9).floor().max(0.0) as u32;
                let reset_seconds = (lease.tat - lease.now).ceil().max(0.0) as u64;
                let mut leases = self.leases.lock();
                let carried = leases.get(&b.key).filter(|l| l.expires > Instant::now()).map_or(0, |l| l.tokens);
                leases.insert(
                    b.key.clone(),
                    Lease {
                        tokens: carried + lease.granted,
                        expires: Instant::now() + LEASE_TTL,
                        db_room,
                        reset_seconds,
                    },
                );
            }
            // Spend one token of every bucket, or none if a concurrent request took the last one.
            let mut leases = self.leases.lock();
            let now = Instant::now();
            if buckets.iter().all(|b| leases.get(&b.key).is_some_and(|l| l.tokens > 0 && l.expires > now)) {
                let mut tightest: Option<Quota> = None;
                for b in buckets {
                    if let Some(l) = leases.get_mut(&b.key) {
                        l.tokens -= 1;
                        let q = Quota {
                            limit: b.per_minute,
                            remaining: l.db_room + l.tokens,
                            reset_seconds: l.reset_seconds,
                        };
                        if tightest.is_none_or(|t| q.remaining < t.remaining) {
                            tightest = Some(q);
                        }
                    }
                }
                if leases.len() > 50_000 {
                    leases.retain(|_, l| l.expires > now);
                }
                return Ok(tightest);
            }
        }
        // Heavy contention on this node for the last tokens: treat as exhausted for now.
        let b = buckets.first();
        Err(Rejection {
            quota: Quota { limit: b.map_or(0, |b| b.per_minute), remaining: 0, reset_seconds: 1 },
            retry_after_seconds: 1,
            limit_type: b.map_or("account", |b| b.limit_type),
        })
    }
}

/// The limiter of a node: in memory, or shared through the database.
pub enum Limiter {
    Local(LocalLimiter),
    Shared(SharedLimiter),
}

impl Limiter {
    pub async fn check(&self, buckets: &[Bucket]) -> Result<Option<Quota>, Rejection> {
        if buckets.is_empty() {
            return Ok(None);
        }
        match self {
            Limiter::Local(l) => l.check(buckets),
            // Boxed: the shared path waits on the database, and its future would otherwise make
            // every caller's future larger.
            Limiter::Shared(s) => Box::pin(s.check(buckets)).await,
        }
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
        let l = LocalLimiter::default();
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
        let l = LocalLimiter::default();
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
        let l = LocalLimiter::default();
        let q = l.check_at(&[b("x", 100), b("y", 20)], 0.0).unwrap().unwrap();
        assert_eq!((q.limit, q.remaining), (20, 19));
    }
}

#[cfg(test)]
mod shared_tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("rl.db").display());
        (dir, Store::open_and_migrate(&url).await.unwrap())
    }

    fn bucket(key: &str, n: u32) -> Bucket {
        Bucket { key: key.into(), per_minute: n, limit_type: "endpoint" }
    }

    #[tokio::test]
    async fn two_nodes_share_one_bucket() {
        let (_d, store) = store().await;
        let a = SharedLimiter::new(store.clone());
        let b = SharedLimiter::new(store);
        let mut accepted = 0;
        for i in 0..40 {
            let node = if i % 2 == 0 { &a } else { &b };
            if node.check(&[bucket("e:1", 10)]).await.is_ok() {
                accepted += 1;
            }
        }
        // A burst of ten for the pair, not ten per node.
        assert_eq!(accepted, 10);
        let rej = a.check(&[bucket("e:1", 10)]).await.unwrap_err();
        assert!(rej.retry_after_seconds >= 1);
    }

    #[tokio::test]
    async fn rejections_cost_nothing_and_remaining_counts_leased_tokens() {
        let (_d, store) = store().await;
        let a = SharedLimiter::new(store);
        let acct = || Bucket { key: "acct".into(), per_minute: 100, limit_type: "account" };
        for _ in 0..3 {
            a.check(&[acct(), bucket("ep", 3)]).await.unwrap();
        }
        let r = a.check(&[acct(), bucket("ep", 3)]).await.unwrap_err();
        assert_eq!(r.limit_type, "endpoint");
        // The rejected request did not charge the account bucket.
        let q = a.check(&[acct()]).await.unwrap().unwrap();
        assert_eq!(q.remaining, 100 - 4);
        assert_eq!(lease_size(100), 10);
    }
}
