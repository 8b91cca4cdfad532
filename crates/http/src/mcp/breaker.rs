//! The circuit breaker in front of every tool call (`docs/auth.md#mcp`): after 5 consecutive
//! server errors (5xx) it opens for 30 seconds, during which tools answer at once that the
//! service is temporarily unavailable; then one call is let through (half open) and its outcome
//! closes or reopens it. Rate-limit refusals (429) and client errors never count.
//!
//! There is one breaker per account (or, for calls that act in no account, per user): a
//! tenant whose calls keep failing stops only its own calls, never another tenant's. Only
//! server faults (5xx) count, so no input a client sends can open a breaker. `/health` reports
//! the worst phase of any breaker of this node, so an operator still sees repeated faults.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Consecutive server errors that open the breaker.
pub const THRESHOLD: u32 = 5;
/// How long it stays open.
pub const COOLDOWN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Closed,
    Open,
    HalfOpen,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Closed => "closed",
            Phase::Open => "open",
            Phase::HalfOpen => "half_open",
        }
    }
}

/// Whose calls a breaker guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tenant {
    Account(i64),
    User(i64),
}

/// The breakers of this node, one per tenant. Only tenants with recent failures have an
/// entry: a success removes it, so the map holds at most one entry per failing tenant.
#[derive(Debug)]
pub struct Breakers {
    threshold: u32,
    cooldown: Duration,
    by_tenant: Mutex<HashMap<Tenant, Breaker>>,
}

impl Default for Breakers {
    fn default() -> Self {
        Breakers::new(THRESHOLD, COOLDOWN)
    }
}

impl Breakers {
    pub fn new(threshold: u32, cooldown: Duration) -> Breakers {
        Breakers { threshold, cooldown, by_tenant: Mutex::new(HashMap::new()) }
    }

    /// The phase of one tenant's breaker.
    pub fn phase_of(&self, tenant: Tenant) -> Phase {
        self.by_tenant.lock().get(&tenant).map_or(Phase::Closed, Breaker::phase)
    }

    /// The worst phase of any tenant's breaker (open before half open before closed).
    pub fn phase(&self) -> Phase {
        let map = self.by_tenant.lock();
        let mut worst = Phase::Closed;
        for b in map.values() {
            match b.phase() {
                Phase::Open => return Phase::Open,
                Phase::HalfOpen => worst = Phase::HalfOpen,
                Phase::Closed => {}
            }
        }
        worst
    }

    /// Whether a call of `tenant` may run now.
    pub fn admit(&self, tenant: Tenant) -> bool {
        self.by_tenant.lock().get(&tenant).is_none_or(Breaker::admit)
    }

    /// Records the HTTP-equivalent status of an admitted call of `tenant`.
    pub fn record(&self, tenant: Tenant, status: u16) {
        let mut map = self.by_tenant.lock();
        if status >= 500 {
            map.entry(tenant).or_insert_with(|| Breaker::new(self.threshold, self.cooldown)).record(status);
        } else if status != 429 {
            map.remove(&tenant);
        } else if let Some(b) = map.get(&tenant) {
            b.record(status);
        }
    }
}

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    consecutive: u32,
    opened_at: Option<Instant>,
    /// A half-open probe is running; other calls wait for its outcome (they are refused).
    probing: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker::new(THRESHOLD, COOLDOWN)
    }
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker { threshold, cooldown, inner: Mutex::new(Inner::default()) }
    }

    pub fn phase(&self) -> Phase {
        let inner = self.inner.lock();
        match inner.opened_at {
            None => Phase::Closed,
            Some(at) if at.elapsed() < self.cooldown => Phase::Open,
            Some(_) => Phase::HalfOpen,
        }
    }

    /// Whether a call may run now. In the half-open phase only one probe runs at a time.
    pub fn admit(&self) -> bool {
        let mut inner = self.inner.lock();
        match inner.opened_at {
            None => true,
            Some(at) if at.elapsed() < self.cooldown => false,
            Some(_) if inner.probing => false,
            Some(_) => {
                inner.probing = true;
                true
            }
        }
    }

    /// Records the HTTP-equivalent status of an admitted call.
    pub fn record(&self, status: u16) {
        let mut inner = self.inner.lock();
        inner.probing = false;
        if status >= 500 {
            inner.consecutive = inner.consecutive.saturating_add(1);
            let probe_failed = inner.opened_at.is_some();
            if probe_failed || inner.consecutive >= self.threshold {
                if inner.opened_at.is_none() {
                    tracing::warn!(target: "levd::mcp", "circuit breaker opened after repeated server errors");
                }
                inner.opened_at = Some(Instant::now());
            }
        } else if status != 429 {
            if inner.opened_at.is_some() {
                tracing::info!(target: "levd::mcp", "circuit breaker closed");
            }
            *inner = Inner::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_five_server_errors_and_ignores_rate_limits() {
        let b = Breaker::new(5, Duration::from_secs(60));
        for _ in 0..4 {
            assert!(b.admit());
            b.record(500);
        }
        b.record(429);
        assert_eq!(b.phase(), Phase::Closed, "429 never counts");
        b.record(503);
        assert_eq!(b.phase(), Phase::Open);
        assert!(!b.admit());
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(5, Duration::from_secs(60));
        for _ in 0..4 {
            b.record(500);
        }
        b.record(404);
        for _ in 0..4 {
            b.record(500);
        }
        assert_eq!(b.phase(), Phase::Closed);
    }

    #[test]
    fn each_tenant_has_its_own_breaker() {
        let b = Breakers::new(5, Duration::from_secs(60));
        let (a, other) = (Tenant::Account(1), Tenant::Account(2));
        for _ in 0..5 {
            assert!(b.admit(a));
            b.record(a, 500);
        }
        assert_eq!(b.phase_of(a), Phase::Open);
        assert!(!b.admit(a));
        assert_eq!(b.phase_of(other), Phase::Closed);
        assert!(b.admit(other));
        assert_eq!(b.phase(), Phase::Open, "the node reports the worst phase");
        for _ in 0..10 {
            b.record(Tenant::User(1), 422);
        }
        assert_eq!(b.phase_of(Tenant::User(1)), Phase::Closed, "client errors never count");
        assert_eq!(b.by_tenant.lock().len(), 1, "tenants without failures hold no entry");
    }

    #[test]
    fn half_open_lets_one_probe_through_which_decides() {
        let b = Breaker::new(1, Duration::from_millis(20));
        b.record(500);
        assert_eq!(b.phase(), Phase::Open);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(b.phase(), Phase::HalfOpen);
        assert!(b.admit(), "the probe");
        assert!(!b.admit(), "one probe at a time");
        b.record(500);
        assert_eq!(b.phase(), Phase::Open, "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.admit());
        b.record(200);
        assert_eq!(b.phase(), Phase::Closed);
        assert!(b.admit());
    }
}
