//! HTTP layer of levd: the router (every route under `/api/external/v2` and its `/build`
//! alias), the request-path middleware and thin handlers over the services.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod admission;
pub mod conn;
pub mod envelope;
pub mod mcp;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod operations;
pub mod ratelimit;
mod routes;

use std::sync::Arc;

use axum::Router;
use levd_auth::Authenticator;
use levd_domain::limits::RateLimitConfig;
use levd_service::Service;

pub use middleware::{BUILD_PREFIX, PREFIX};

/// Everything a handler may use. The router clones it for every request and layer, so it is
/// one shared pointer: a clone is a single reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub service: Service,
    pub auth: Arc<Authenticator>,
    pub limiter: Arc<ratelimit::Limiter>,
    pub limits: Arc<RateLimitConfig>,
    pub site: Site,
    /// The built-in authorization server, unless turned off.
    pub oauth: Option<Arc<levd_oauth::AuthServer>>,
    /// The circuit breakers in front of MCP tool calls (this node's, one per tenant).
    pub mcp_breaker: mcp::breaker::Breakers,
    /// Trusted proxies, time limit and idempotency timings.
    pub tuning: middleware::Tuning,
    /// Request counts and latencies, refusals and replays (`GET /metrics`).
    pub metrics: metrics::Metrics,
}

/// Where this server is reached from outside, and which browsers and hosts may talk to `/mcp`.
#[derive(Debug, Clone)]
pub struct Site {
    /// Public base URL without a trailing slash, e.g. `https://lev.example.com`: the issuer of
    /// the built-in authorization server and the root of every URL levd publishes.
    pub public_url: String,
    /// `Host` values `/mcp` accepts (DNS-rebinding protection).
    pub mcp_allowed_hosts: Vec<String>,
    /// `Origin` values `/mcp` accepts from browsers; a request without `Origin` is not a
    /// browser's and passes.
    pub mcp_allowed_origins: Vec<String>,
    /// Whether `public_url` was configured (`--public-url`) rather than derived from the bound
    /// address: signed links are then built on it, whatever `Host` a request names.
    pub public_url_configured: bool,
}

impl Site {
    /// A site reached at `public_url` only: that host, and that origin.
    pub fn at(public_url: &str) -> Site {
        let public_url = public_url.trim_end_matches('/').to_string();
        let host = public_url.split_once("://").map_or(public_url.as_str(), |(_, rest)| rest);
        let host = host.split('/').next().unwrap_or_default().to_string();
        let mut hosts = vec![host.clone()];
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) if !port.contains(']') => (name.to_string(), Some(port.to_string())),
            _ => (host.clone(), None),
        };
        if name != host {
            hosts.push(name.clone());
        }
        // A server on the loopback interface is reached under any of its loopback names.
        if matches!(name.as_str(), "127.0.0.1" | "localhost" | "[::1]") {
            for alias in ["127.0.0.1", "localhost", "[::1]"] {
                let with_port = port.as_ref().map_or_else(|| alias.to_string(), |p| format!("{alias}:{p}"));
                for h in [with_port, alias.to_string()] {
                    if !hosts.contains(&h) {
                        hosts.push(h);
                    }
                }
            }
        }
        Site {
            mcp_allowed_origins: vec![public_url.clone()],
            public_url,
            mcp_allowed_hosts: hosts,
            public_url_configured: false,
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        service: Service,
        auth: Arc<Authenticator>,
        limits: Arc<RateLimitConfig>,
        site: Site,
        oauth: Option<Arc<levd_oauth::AuthServer>>,
    ) -> AppState {
        // Several nodes share one PostgreSQL: their buckets must be shared too. SQLite serves one
        // node, whose buckets can live in memory.
        let limiter = match service.store.backend() {
            levd_store::Backend::Postgres => {
                ratelimit::Limiter::Shared(ratelimit::SharedLimiter::new(service.store.clone()))
            }
            levd_store::Backend::Sqlite => ratelimit::Limiter::Local(ratelimit::LocalLimiter::default()),
        };
        AppState(Arc::new(AppInner {
            service,
            auth,
            limiter: Arc::new(limiter),
            limits,
            site,
            oauth,
            mcp_breaker: mcp::breaker::Breakers::default(),
            tuning: middleware::Tuning::default(),
            metrics: metrics::Metrics::default(),
        }))
    }

    /// Replaces the default tuning; for use while building the state, before it is shared
    /// (a shared state keeps what it has).
    #[must_use]
    pub fn with_tuning(mut self, tuning: middleware::Tuning) -> AppState {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.tuning = tuning;
        } else {
            tracing::error!("tuning set on a shared application state; ignored");
        }
        self
    }
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The application with extra routes placed behind the full request path (benchmarks and
/// tests add a trivial handler this way); their paths are given whole, prefix included.
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    // Every operation under both prefixes in one flat router: a nested router would rewrite
    // each request's path and route it twice.
    let api = operations::router(PREFIX)
        .merge(operations::router(BUILD_PREFIX))
        .merge(extra)
        .route_layer(middleware::StageLayer(state.clone(), middleware::Part::Pipeline));
    let oauth = state.oauth.clone();
    let state_for_oauth = state.clone();
    let outer_state = state.clone();
    let mut root = api
        .route("/docs", axum::routing::get(routes::docs::docs_page))
        .route_service("/mcp", mcp::service(&state))
        .route("/health", axum::routing::get(mcp::health))
        .route("/livez", axum::routing::get(routes::health::livez))
        .route("/readyz", axum::routing::get(routes::health::readyz))
        .fallback(routes::not_found)
        .with_state(state.clone());
    if state.tuning.metrics_on_main {
        root = root.merge(metrics_router(state));
    }
    if let Some(server) = oauth {
        // The authorization server answers in its own formats (OAuth JSON errors, HTML pages),
        // which the envelope layer must leave alone.
        let limited =
            levd_oauth::router(server).layer(axum::middleware::from_fn_with_state(state_for_oauth, oauth_limits));
        root =
            root.merge(limited.layer(axum::middleware::map_response(|mut r: axum::response::Response| async move {
                r.extensions_mut().insert(envelope::Rendered);
                r
            })));
    }
    // The outer request path wraps the whole router once (not each route), so a request pays for
    // it once; it also turns a panicking handler into a 500 envelope.
    Router::new()
        .fallback_service(tower::Layer::layer(&middleware::StageLayer(outer_state, middleware::Part::Outer), root))
}

/// `GET /metrics` alone: merged into the application, or served on a listener of its own
/// (`levd serve --metrics ADDR`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", axum::routing::get(routes::health::metrics)).with_state(state)
}

/// Requests per minute and client address on the authorization server's endpoints (sign-in
/// pages, registration, token, revocation). They write to the database for callers who have no
/// credential yet, so they are bounded per address; the metadata documents are not.
const OAUTH_PER_IP: u32 = 60;

async fn oauth_limits(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.limits.enabled && !req.uri().path().starts_with("/.well-known/") {
        let ip = middleware::client_ip(&req);
        let bucket = ratelimit::Bucket { key: format!("ip:oauth:{ip}"), per_minute: OAUTH_PER_IP, limit_type: "ip" };
        if let Err(rejection) = state.limiter.check(std::slice::from_ref(&bucket)).await {
            let body = serde_json::json!({
                "error": "rate_limited",
                "error_description": "Too many requests from this address; retry later",
            });
            let mut r = (http::StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            r.headers_mut().insert(http::header::RETRY_AFTER, rejection.retry_after_seconds.max(1).into());
            return r;
        }
    }
    next.run(req).await
}

/// Serves `router` on `listener` with the default connection limits until `shutdown`
/// completes, then drains open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    conn::serve_with_limits(listener, router, shutdown, conn::ConnectionLimits::default()).await
}

#[cfg(test)]
mod site_tests {
    use super::Site;

    #[test]
    fn loopback_sites_accept_every_loopback_name() {
        let s = Site::at("http://127.0.0.1:8080/");
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        for h in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "localhost"] {
            assert!(s.mcp_allowed_hosts.iter().any(|x| x == h), "{h}: {:?}", s.mcp_allowed_hosts);
        }
        assert_eq!(s.mcp_allowed_origins, vec!["http://127.0.0.1:8080".to_string()]);
    }

    #[test]
    fn public_sites_accept_their_own_host_only() {
        let s = Site::at("https://lev.example.com");
        assert_eq!(s.mcp_allowed_hosts, vec!["lev.example.com".to_string()]);
        let s = Site::at("https://lev.example.com:8443");
        assert_eq!(s.mcp_allowed_hosts, vec!["lev.example.com:8443".to_string(), "lev.example.com".to_string()]);
    }
}
