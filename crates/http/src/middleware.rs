//! The request path (`docs/api.md`). `outer` wraps everything (request id, time limit,
//! envelopes, logs); `pipeline` runs on matched routes: authenticate, required headers, account
//! resolution, rate limits, body limits and idempotency, then the handler.
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::response::Response;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use levd_auth::{AuthError, MSG_ACTIVE_ACCOUNT_REQUIRED, MSG_AUTH_REQUIRED, MSG_INVALID_TOKEN, Principal};
use levd_domain::ApiError;
use levd_domain::api_key::shown_prefix;
use levd_domain::headers::{parse_bearer, parse_idempotency_key, parse_origin_app};
use levd_domain::net::{ClientAddr, TrustedProxies};
use levd_domain::scope::AccountScope;
use levd_domain::time_fmt::{now_rfc3339, rfc3339_before_now};
use levd_store::Claim;
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

use crate::AppState;
use crate::admission::{self, CredentialRefused, Refused, Resource};
use crate::envelope::{Rendered, error_body, error_response, finalize};
use crate::operations::{Policy, policy_of};
use crate::ratelimit::Quota;

/// Canonical prefix of every route, and the alias the seed document uses (`docs/api.md#routes`).
pub const PREFIX: &str = "/api/external/v2";
pub const BUILD_PREFIX: &str = "/api/external/v2/build";

/// Largest accepted request body (`docs/api.md#bodies`).
pub const MAX_BODY: usize = 1024 * 1024;

/// Settings of the request path an operator may change (`levd serve` flags).
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// A request still running after this long is abandoned with a 503; it also bounds how
    /// long a shutdown waits for open requests.
    pub request_timeout: Duration,
    /// How long an `Idempotency-Key` and its recorded answer are kept.
    pub idempotency_window: Duration,
    /// `GET /metrics` is served on the main listener (`--metrics on`, the default).
    pub metrics_on_main: bool,
    /// Test-only fault injection (`LEVD_FAULT`); `None` in service.
    pub fault: Option<Fault>,
}

/// A fault the process injects on purpose, to test what a crash leaves behind. Read from the
/// `LEVD_FAULT` environment variable at start-up; for tests only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The process exits after an idempotent request's unit of work committed, before answering.
    ExitAfterCommit,
    /// The process exits just before an idempotent request's unit of work would commit.
    ExitBeforeCommit,
}

/// Exit status of a process stopped by an injected fault.
pub const FAULT_EXIT_CODE: i32 = 86;

impl Fault {
    /// The fault a `LEVD_FAULT` value names; `None` for anything else.
    pub fn parse(value: &str) -> Option<Fault> {
        match value {
            "exit-after-commit" => Some(Fault::ExitAfterCommit),
            "exit-before-commit" => Some(Fault::ExitBeforeCommit),
            _ => None,
        }
    }
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            trusted_proxies: TrustedProxies::default(),
            request_timeout: Duration::from_secs(30),
            idempotency_window: Duration::from_secs(24 * 3600),
            metrics_on_main: true,
            fault: None,
        }
    }
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_ORIGIN_APP: HeaderName = HeaderName::from_static("x-origin-app");
static X_ACTIVE_ACCOUNT: HeaderName = HeaderName::from_static("x-active-account");
static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
static RL_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static RL_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RL_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Id of the request, in the extensions of the request and of the response.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// The service bound to the unit of work of a request that holds an `Idempotency-Key`, in the
/// request extensions for the handler (`routes::Ctx`).
#[derive(Clone)]
pub struct UnitService(pub levd_service::Service);

/// What the handler may know of its caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Option<Principal>,
    pub scope: Option<AccountScope>,
    pub origin_app: Option<Arc<str>>,
}

/// Facts for the request log, passed back up in the response extensions.
#[derive(Debug, Clone, Default)]
struct LogFacts {
    route: Option<MatchedPath>,
    /// The operation's template, when the request reached one (the metrics label).
    operation: Option<&'static str>,
    origin_app: Option<Arc<str>>,
    account_id: Option<i64>,
    user_id: Option<i64>,
    /// The non-secret prefix of the API key used (never the key).
    key_prefix: Option<String>,
}

/// The route template without its prefix, e.g. `/deals/{deal_id}`.
pub fn endpoint_template(matched: &str) -> &str {
    matched.strip_prefix(BUILD_PREFIX).or_else(|| matched.strip_prefix(PREFIX)).unwrap_or(matched)
}

fn new_request_id(req: &Request) -> Arc<str> {
    // Adopt a caller's id only when it is a UUID, so logs cannot be polluted through it.
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .unwrap_or_else(uuid::Uuid::new_v4)
        .hyphenated()
        .to_string()
        .into()
}

/// The client address of a request: the socket peer, or, when the peer is a trusted proxy,
/// the address its `X-Forwarded-For` names. `None` without a socket (in-process tests).
fn resolve_client(req: &Request, proxies: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(proxies.client(peer, req.headers().get_all(&X_FORWARDED_FOR).iter().map(HeaderValue::as_bytes)))
}

/// A boxed answer of one of the request path's services.
type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Runs the ready service `inner` on `req` (the services below never fail: errors are
/// responses).
async fn run_inner<S>(mut inner: S, req: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match inner.call(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// A handler panicked while its answer was computed.
struct Panicked;

/// `run`'s output, or [`Panicked`] when polling it panicked: one request's bug answers 500 and
/// the connection and the process go on.
async fn catch_panic<F: Future>(run: F) -> Result<F::Output, Panicked> {
    let mut run = std::pin::pin!(run);
    std::future::poll_fn(|cx| match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.as_mut().poll(cx))) {
        Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(_) => Poll::Ready(Err(Panicked)),
    })
    .await
}

/// The service that was made ready, leaving a fresh clone in its place (tower's rule: the
/// service `poll_ready` answered for is the one that takes the call).
fn take_ready<S: Clone>(slot: &mut S) -> S {
    let fresh = slot.clone();
    std::mem::replace(slot, fresh)
}

/// Which part of the request path a [`Stage`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// [`outer`], around the whole router.
    Outer,
    /// [`pipeline`], on every matched route of the API.
    Pipeline,
}

/// A part of the request path as a layer: one plain service and one boxed future per request
/// (no per-request boxing and cloning of the next service, as `from_fn` layers do).
#[derive(Clone)]
pub struct StageLayer(pub AppState, pub Part);

impl<S> Layer<S> for StageLayer {
    type Service = Stage<S>;
    fn layer(&self, inner: S) -> Stage<S> {
        Stage { state: self.0.clone(), part: self.1, inner }
    }
}

#[derive(Clone)]
pub struct Stage<S> {
    state: AppState,
    part: Part,
    inner: S,
}

impl<S> Service<Request> for Stage<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Answer {
        let inner = take_ready(&mut self.inner);
        let state = self.state.clone();
        match self.part {
            Part::Outer => Box::pin(async move { Ok(outer(state, req, inner).await) }),
            Part::Pipeline => Box::pin(async move { Ok(pipeline(state, req, inner).await) }),
        }
    }
}

/// Outermost layer: request id, client address, time limit, envelopes, `X-Request-Id`,
/// request log. Everything logged while the request runs carries its id (the `request` span).
async fn outer<S>(state: AppState, mut req: Request, inner: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    let request_id = new_request_id(&req);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let client = resolve_client(&req, &state.tuning.trusted_proxies);
    if let Some(ip) = client {
        req.extensions_mut().insert(ClientAddr(ip));
    }
    let method = req.method().clone();
    // Only for requests that reach no operation (their metrics label); a cheap clone.
    let uri = req.uri().clone();
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut resp = if let Some(e) = repeated_header(req.headers()) {
        error_response(e)
    } else {
        let run = tracing::Instrument::instrument(catch_panic(run_inner(inner, req)), span.clone());
        match tokio::time::timeout(state.tuning.request_timeout, run).await {
            Ok(Ok(r)) => r,
            Ok(Err(Panicked)) => {
                span.in_scope(|| tracing::error!("handler panicked"));
                error_response(ApiError::internal())
            }
            Err(_) => {
                span.in_scope(|| tracing::warn!("request abandoned: it took longer than the request timeout"));
                error_response(ApiError::unavailable("The request took too long and was abandoned"))
            }
        }
    };
    let facts = resp.extensions_mut().remove::<LogFacts>().unwrap_or_default();
    let mut resp = finalize(resp, &request_id);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    let status = resp.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    state.metrics.request(&method, facts.operation, uri.path(), status, elapsed);
    // Milliseconds with two decimals, logged as a number.
    let latency_ms = (elapsed * 100_000.0).round() / 100.0;
    tracing::info!(
        target: "levd::request",
        request_id = %request_id,
        client = client.map_or_else(|| "local".to_owned(), |ip| ip.to_string()),
        method = %method,
        route = facts.route.as_ref().map_or("(unmatched)", |m| m.as_str()),
        status,
        latency_ms,
        origin_app = facts.origin_app.as_deref().unwrap_or("-"),
        account_id = facts.account_id,
        user_id = facts.user_id,
        key_prefix = facts.key_prefix.as_deref(),
        "request"
    );
    resp
}

fn unauthorized(message: &str, token_sent: bool) -> Response {
    let mut r = error_response(ApiError::unauthorized(message));
    let challenge = if token_sent { "Bearer error=\"invalid_token\"" } else { "Bearer" };
    r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    r
}

/// The client address for per-address rules, as `outer` resolved it.
pub(crate) fn client_ip(req: &Request) -> String {
    req.extensions().get::<ClientAddr>().map_or_else(|| "local".to_string(), |c| c.0.to_string())
}

fn set_quota_headers(resp: &mut Response, q: &Quota) {
    let h = resp.headers_mut();
    h.insert(RL_LIMIT.clone(), HeaderValue::from(q.limit));
    h.insert(RL_REMAINING.clone(), HeaderValue::from(q.remaining));
    h.insert(RL_RESET.clone(), HeaderValue::from(q.reset_seconds));
}

/// Request path for every matched route.
async fn pipeline<S>(state: AppState, req: Request, inner: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let mut facts = LogFacts::default();
    let mut resp = match run_pipeline(&state, req, inner, &mut facts).await {
        Ok(r) | Err(r) => r,
    };
    resp.extensions_mut().insert(facts);
    resp
}

async fn run_pipeline<S>(
    state: &AppState,
    mut req: Request,
    inner: S,
    facts: &mut LogFacts,
) -> Result<Response, Response>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    facts.route = req.extensions().get::<MatchedPath>().cloned();
    let matched = facts.route.clone();
    let template = matched.as_ref().map_or("", |m| endpoint_template(m.as_str()));
    let method = req.method().clone();
    // One lookup in the operation table serves the policy, idempotency and the metrics label.
    let operation = crate::operations::find(&method, template);
    facts.operation = operation.map(|o| o.path);
    let policy = policy_of(operation);

    // 1. Authenticate, before anything else (`docs/api.md#origin-app`).
    let mut principal = None;
    if !matches!(policy, Policy::Public { .. }) {
        let Some(header) = req.headers().get(AUTHORIZATION) else {
            return Err(unauthorized(MSG_AUTH_REQUIRED, false));
        };
        let Some(token) = parse_bearer(header.as_bytes()) else {
            return Err(unauthorized(MSG_INVALID_TOKEN, true));
        };
        match admission::authenticate(state, token, Resource::Rest).await {
            Ok(p) => {
                facts.user_id = Some(p.user_id());
                if matches!(p, Principal::ApiKey(_)) {
                    facts.key_prefix = Some(shown_prefix(token).to_owned());
                }
                principal = Some(p);
            }
            Err(CredentialRefused::Auth(AuthError::InvalidToken) | CredentialRefused::InsufficientScope) => {
                return Err(unauthorized(MSG_INVALID_TOKEN, true));
            }
            Err(CredentialRefused::Auth(e)) => return Err(error_response(e.into())),
        }
    }

    // 2. X-Origin-App.
    let origin_required = !matches!(policy, Policy::Public { origin: false, .. });
    let origin: Option<Arc<str>> = if origin_required {
        match parse_origin_app(req.headers().get(&X_ORIGIN_APP).map(|v| v.as_bytes())) {
            Ok(o) => Some(o.into()),
            Err(e) => return Err(error_response(e)),
        }
    } else {
        None
    };
    facts.origin_app = origin.clone();
    if let (Some(Principal::ApiKey(k)), Some(o)) = (&principal, &origin) {
        state.auth.record_key_use(k, o);
    }

    // 3. Active account and rate limits (`docs/auth.md#admission`). HEAD shares GET's
    // endpoint bucket: it is the same read without the body.
    let endpoint_method = if method == Method::HEAD { "GET" } else { method.as_str() };
    let endpoint = format!("{endpoint_method} {template}");
    let account_header = req.headers().get(&X_ACTIVE_ACCOUNT).map(|v| v.as_bytes());
    let admitted =
        match admission::admit(state, principal.as_ref(), account_header, policy, &endpoint, &client_ip(&req)).await {
            Ok(a) => a,
            Err(Refused::Auth(e)) => return Err(error_response(e.into())),
            Err(Refused::AccountRequired) => {
                return Err(error_response(ApiError::bad_request(MSG_ACTIVE_ACCOUNT_REQUIRED)));
            }
            Err(Refused::RateLimited(rej)) => {
                let mut r = error_response(admission::rate_limited(&rej));
                set_quota_headers(&mut r, &rej.quota);
                r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(rej.retry_after_seconds));
                return Err(r);
            }
        };
    let (scope, quota) = (admitted.scope, admitted.quota);
    facts.account_id = scope.as_ref().map(|s| s.account_id);

    // 4. Body: size and media type (`docs/api.md#bodies`).
    let has_body_method = matches!(method, Method::POST | Method::PATCH | Method::PUT | Method::DELETE);
    let mut body_bytes = Bytes::new();
    if has_body_method {
        let declared =
            req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|s| s.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(with_quota(error_response(too_large()), quota));
        }
        let (parts, body) = req.into_parts();
        body_bytes = match Box::pin(http_body_util::Limited::new(body, MAX_BODY).collect()).await {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                let err = if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    too_large()
                } else {
                    ApiError::bad_request("The request body could not be read")
                };
                return Err(with_quota(error_response(err), quota));
            }
        };
        if !body_bytes.is_empty() && !is_json_content_type(parts.headers.get(CONTENT_TYPE)) {
            let e =
                ApiError::new(levd_domain::ErrorKind::UnsupportedMediaType, "Content-Type must be application/json");
            return Err(with_quota(error_response(e), quota));
        }
        req = Request::from_parts(parts, Body::from(body_bytes.clone()));
    }

    // 5. Idempotency (`docs/api.md#idempotency`).
    let honours_idempotency = operation.is_some_and(|o| o.honours_idempotency());
    let idem = match (&scope, &principal, req.headers().get(&IDEMPOTENCY_KEY)) {
        (_, Some(p), Some(v)) if honours_idempotency => {
            let key = match parse_idempotency_key(v.as_bytes()) {
                Ok(k) => k.to_string(),
                Err(e) => return Err(with_quota(error_response(e), quota)),
            };
            let account_id = scope.as_ref().map_or(0, |s| s.account_id);
            Some((account_id, p.user_id(), key))
        }
        _ => None,
    };
    // 6. The handler.
    req.extensions_mut().insert(Caller { principal, scope, origin_app: origin });
    let Some((account_id, user_id, key)) = idem else {
        return Ok(with_quota(run_inner(inner, req).await, quota));
    };
    // Boxed: only writes with an `Idempotency-Key` take this path, and its future is large.
    let resp = Box::pin(run_idempotent(state, req, inner, &body_bytes, (account_id, user_id, key))).await;
    Ok(with_quota(resp, quota))
}

/// A write with an `Idempotency-Key` (`docs/api.md#idempotency`): the key is claimed, the handler
/// runs on a service bound to the claim's unit of work, and its writes and answer commit together.
async fn run_idempotent<S>(
    state: &AppState,
    mut req: Request,
    inner: S,
    body_bytes: &[u8],
    (account_id, user_id, key): (i64, i64, String),
) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let fingerprint = fingerprint(req.method(), req.uri().path(), body_bytes);
    let claim = state
        .service
        .store
        .claim_idempotency_key(
            account_id,
            user_id,
            &key,
            &fingerprint,
            &rfc3339_before_now(state.tuning.idempotency_window),
        )
        .await;
    let unit = match claim {
        Ok(Claim::Claimed(unit)) => unit,
        Ok(Claim::InProgress) => {
            return error_response(ApiError::conflict(
                "A request with this Idempotency-Key is still in progress; retry later",
            ));
        }
        Ok(Claim::Mismatch) => {
            return error_response(ApiError::conflict(
                "Idempotency conflict: this Idempotency-Key was used with a different request",
            ));
        }
        Ok(Claim::Replay { status, body }) => {
            state.metrics.replayed();
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r.headers_mut().insert(IDEMPOTENT_REPLAYED.clone(), HeaderValue::from_static("true"));
            r.extensions_mut().insert(Rendered);
            return r;
        }
        Err(e) => {
            tracing::error!(error = %e, "idempotency store failure");
            return error_response(ApiError::unavailable("The service is temporarily unavailable"));
        }
    };
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_else(|| "".into());
    // The handler runs on a service bound to the unit: its writes and the recorded answer
    // commit together. Once a key is claimed, the handler and the recording of its answer run
    // to the end in their own task, whether or not the client waits.
    req.extensions_mut().insert(UnitService(state.service.bound(unit.store())));
    let fault = state.tuning.fault;
    let auth = state.auth.clone();
    let work = async move {
        let resp = finalize(run_inner(inner, req).await, &request_id);
        let status = resp.status().as_u16();
        // 5xx is never stored, nor 429 (`docs/api.md#idempotency`): every write is undone and
        // the key may be retried.
        if status >= 500 || status == 429 {
            if let Err(e) = unit.rollback().await {
                tracing::error!(error = %e, "could not roll back an idempotent request");
            }
            return resp;
        }
        let (parts, body) = resp.into_parts();
        let bytes = match body.collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                tracing::error!(error = %e, "could not read the answer of an idempotent request");
                let _ = unit.rollback().await;
                return error_response(ApiError::internal());
            }
        };
        // A refusal (4xx) leaves no write behind, whatever the handler wrote before refusing.
        let keep_writes = (200..300).contains(&status);
        let text = String::from_utf8_lossy(&bytes);
        let recorded = match fault {
            Some(Fault::ExitBeforeCommit) => std::process::exit(FAULT_EXIT_CODE),
            _ => unit.commit_with_answer(keep_writes, status, &text, &now_rfc3339()).await,
        };
        if let Err(e) = recorded {
            // Nothing was committed: the answer must not reach the client as if it had been.
            tracing::error!(error = %e, "could not commit an idempotent request");
            return error_response(ApiError::unavailable("The service is temporarily unavailable"));
        }
        if fault == Some(Fault::ExitAfterCommit) {
            std::process::exit(FAULT_EXIT_CODE);
        }
        // A change of credentials bumped the epoch in the unit; the handler dropped this node's
        // cached credentials before the commit, when a concurrent request could read them
        // again unchanged, so they are dropped once more now that the change is visible.
        if keep_writes && let Err(e) = auth.sync_epoch().await {
            tracing::warn!(error = %e, "could not read the credential epoch");
        }
        Response::from_parts(parts, Body::from(bytes))
    };
    let task = tokio::spawn(tracing::Instrument::in_current_span(work));
    match task.await {
        Ok(r) => r,
        Err(e) => {
            // The handler panicked: its unit was dropped, which rolls it back and frees the key.
            tracing::error!(error = %e, "handler failed");
            error_response(ApiError::internal())
        }
    }
}

fn with_quota(mut r: Response, q: Option<Quota>) -> Response {
    if let Some(q) = q {
        set_quota_headers(&mut r, &q);
    }
    r
}

fn too_large() -> ApiError {
    ApiError::new(levd_domain::ErrorKind::PayloadTooLarge, "Request body exceeds the 1 MiB limit")
}

fn is_json_content_type(v: Option<&HeaderValue>) -> bool {
    let Some(s) = v.and_then(|v| v.to_str().ok()) else { return false };
    let essence = s.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// What makes two requests "the same" for idempotency: method, path and body, where a JSON
/// body counts by its value (member order, white space and number spelling aside) and any
/// other body by its bytes.
fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    // Both routes of one operation (with and without /build) are the same request.
    let path = path.strip_prefix(BUILD_PREFIX).or_else(|| path.strip_prefix(PREFIX)).unwrap_or(path);
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    match levd_domain::canonical_json::canonical_json(body) {
        Some(canonical) => {
            h.update(b"json\0");
            h.update(canonical.as_bytes());
        }
        None => {
            h.update(b"raw\0");
            h.update(body);
        }
    }
    hex::encode(h.finalize())
}

/// Renders an error outside the middleware (used by the panic handler).
pub fn render_error(request_id: &str, e: &ApiError) -> serde_json::Value {
    error_body(request_id, e)
}

/// Headers that name one credential, account or retry each: sent twice, which copy counts would
/// be up to whoever reads them (a proxy may honour the other one), so the request is refused.
static SINGLE_VALUED: [&HeaderName; 3] = [&AUTHORIZATION, &X_ACTIVE_ACCOUNT, &IDEMPOTENCY_KEY];

/// The refusal of a request that repeats one of the headers that must appear at most once.
pub fn repeated_header(headers: &http::HeaderMap) -> Option<ApiError> {
    let name = SINGLE_VALUED.iter().find(|name| headers.get_all(**name).iter().nth(1).is_some())?;
    Some(
        ApiError::bad_request(format!("The {} header may appear only once", display_name(name)))
            .with_detail("header", name.as_str()),
    )
}

fn display_name(name: &HeaderName) -> &'static str {
    match name.as_str() {
        "authorization" => "Authorization",
        "x-active-account" => "X-Active-Account",
        _ => "Idempotency-Key",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_while_answering_becomes_an_error_and_the_caller_goes_on() {
        assert!(matches!(catch_panic(async { 7 }).await, Ok(7)));
        let panicking = async {
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("a handler bug");
            }
            7
        };
        assert!(matches!(catch_panic(panicking).await, Err(Panicked)));
        // The task that caught it still runs.
        assert!(matches!(catch_panic(async { 8 }).await, Ok(8)));
    }
}
