//! `GET /metrics` (`docs/operations.md#metrics`): counters and latency histograms in the
//! Prometheus/OpenMetrics text format. Recording is a hash lookup under a read lock and a few
//! atomic additions per request; label values come from fixed sets (route templates of the
//! operation table, a handful of methods, status codes), so no request can add label values of
//! its own choosing.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::middleware::{BUILD_PREFIX, PREFIX};
use crate::operations;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit_type: &'static str,
}

type Latencies = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The metrics of one server.
pub struct Metrics {
    registry: Registry,
    requests: Latencies,
    rate_limited: Family<LimitLabels, Counter>,
    replays: Counter,
    pool_size: Gauge,
    pool_idle: Gauge,
    pool_waits: Counter,
    pool_wait_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    /// The store's totals at the last scrape, which the counters above have caught up with.
    seen: parking_lot::Mutex<(u64, f64)>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 20 s.
    Histogram::new(exponential_buckets(0.000_1, 2.5, 14))
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("levd");
        let requests = Latencies::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to its answer, by route template, method and status",
            requests.clone(),
        );
        let rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limit_refusals",
            "Requests refused by a rate limit, by bucket kind",
            rate_limited.clone(),
        );
        let replays = Counter::default();
        registry.register("idempotent_replays", "Answers replayed for a repeated Idempotency-Key", replays.clone());
        let pool_size = Gauge::default();
        registry.register("db_pool_connections", "Open database connections", pool_size.clone());
        let pool_idle = Gauge::default();
        registry.register("db_pool_idle_connections", "Idle database connections", pool_idle.clone());
        let pool_waits = Counter::default();
        registry.register(
            "db_pool_waits",
            "Statements that found no idle database connection and waited",
            pool_waits.clone(),
        );
        let pool_wait_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "db_pool_wait_seconds",
            "Time statements waited for a database connection",
            pool_wait_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            rate_limited,
            replays,
            pool_size,
            pool_idle,
            pool_waits,
            pool_wait_seconds,
            seen: parking_lot::Mutex::new((0, 0.0)),
        }
    }
}

/// The label of a request's method (others fold into `OTHER`).
fn method_label(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PATCH => "PATCH",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Routes outside the API prefix that are labelled by their path.
const SERVER_ROUTES: &[&str] = &[
    "/mcp",
    "/health",
    "/livez",
    "/readyz",
    "/metrics",
    "/docs",
    "/authorize",
    "/token",
    "/register",
    "/revoke",
    "/signin",
    "/consent",
];

/// The route label of a request: the operation's template for API routes (both prefixes give
/// one label), the path for the server's own routes, `(unmatched)` for anything else.
fn route_label(method: &http::Method, path: &str) -> &'static str {
    if path.starts_with(PREFIX) {
        let rest = path.strip_prefix(BUILD_PREFIX).or_else(|| path.strip_prefix(PREFIX)).unwrap_or(path);
        return operations::matching(method, rest).unwrap_or("(unmatched)");
    }
    if path.starts_with("/.well-known/") {
        return "/.well-known/*";
    }
    SERVER_ROUTES.iter().find(|r| **r == path).copied().unwrap_or("(unmatched)")
}

impl Metrics {
    /// Records one answered request. `operation` is the template of the operation the request
    /// reached; other requests are labelled from their path.
    pub fn request(
        &self,
        method: &http::Method,
        operation: Option<&'static str>,
        path: &str,
        status: u16,
        seconds: f64,
    ) {
        let route = operation.unwrap_or_else(|| route_label(method, path));
        let labels = RequestLabels { route, method: method_label(method), status };
        self.requests.get_or_create(&labels).observe(seconds);
    }

    pub fn rate_limited(&self, limit_type: &'static str) {
        self.rate_limited.get_or_create(&LimitLabels { limit_type }).inc();
    }

    pub fn replayed(&self) {
        self.replays.inc();
    }

    /// The text exposition, with the pool as it is now.
    pub fn render(&self, pool: levd_store::PoolStats) -> String {
        self.pool_size.set(i64::from(pool.size));
        self.pool_idle.set(i64::try_from(pool.idle).unwrap_or(i64::MAX));
        {
            let mut seen = self.seen.lock();
            self.pool_waits.inc_by(pool.waits.saturating_sub(seen.0));
            self.pool_wait_seconds.inc_by((pool.wait_seconds - seen.1).max(0.0));
            *seen = (pool.waits.max(seen.0), pool.wait_seconds.max(seen.1));
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        let m = Metrics::default();
        m.request(&http::Method::GET, Some("/deals/{deal_id}"), "/api/external/v2/deals/7", 200, 0.002);
        m.request(&http::Method::GET, None, "/api/external/v2/build/deals/8", 404, 0.001);
        m.request(&http::Method::from_bytes(b"BREW").unwrap(), None, "/whatever/you/like", 404, 0.001);
        m.rate_limited("account");
        m.replayed();
        let text = m.render(levd_store::PoolStats { size: 4, idle: 3, waits: 2, wait_seconds: 0.5 });
        assert!(text.contains(r#"route="/deals/{deal_id}",method="GET",status="200""#), "{text}");
        assert!(text.contains(r#"route="/deals/{deal_id}",method="GET",status="404""#), "{text}");
        assert!(text.contains(r#"route="(unmatched)",method="OTHER",status="404""#), "{text}");
        assert!(!text.contains("whatever"), "{text}");
        assert!(text.contains(r#"levd_rate_limit_refusals_total{limit_type="account"} 1"#), "{text}");
        assert!(text.contains("levd_idempotent_replays_total 1"), "{text}");
        assert!(text.contains("levd_db_pool_connections 4"), "{text}");
        assert!(text.contains("levd_db_pool_waits_total 2"), "{text}");
        let again = m.render(levd_store::PoolStats { size: 4, idle: 3, waits: 5, wait_seconds: 0.75 });
        assert!(again.contains("levd_db_pool_waits_total 5"), "{again}");
        assert!(again.contains("levd_db_pool_wait_seconds_total 0.75"), "{again}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
