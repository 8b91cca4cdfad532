//! The built-in OAuth 2.1 authorization server.
//!
//! * Metadata: RFC 8414 (`/.well-known/oauth-authorization-server`), RFC 9728
//!   (`/.well-known/oauth-protected-resource`, and its `/mcp` form), JWKS.
//! * Clients: RFC 7591 dynamic registration (`/oidc/register`) and client-ID metadata
//!   documents (an `https` URL as `client_id`).
//! * `/authorize`: authorization code with PKCE S256 only, exact redirect-URI match, RFC 8707
//!   `resource` bound into the audience, `query` and `form_post` response modes, and levd's own
//!   sign-in and consent pages.
//! * `/oauth/token`: `authorization_code` (single use) and `refresh_token` (rotating); a replayed
//!   code or refresh token revokes the whole grant. `/oauth/revoke`: RFC 7009.
//!
//! Access tokens are RS256 JWTs verified by the same code as external issuers' tokens
//! (`levd-auth`), plus a check that their grant (`sid`) is still active.
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod authorize;
mod clients;
pub mod keys;
mod pages;
pub mod password;
mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use levd_auth::{Authenticator, IssuerConfig, JwksSource, SharedLoader};
use levd_store::Store;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use keys::KeyRing;

/// Identity scopes the server knows; Lev permissions are never OAuth scopes.
pub const SCOPES: [&str; 3] = ["openid", "email", "offline_access"];

/// Settings of the authorization server.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens (each use rotates it).
    pub refresh_token_ttl: Duration,
    /// Let client-ID metadata documents live on private, loopback or link-local addresses
    /// (and, on loopback only, on plain `http`). Off by default: such a URL could reach
    /// services inside the operator's network.
    pub allow_private_client_metadata: bool,
    /// Failed sign-ins allowed per (e-mail address, client address) in a window: a hard limit,
    /// but only for that one address.
    pub signin_failures_per_email_and_address: i64,
    /// Failed sign-ins allowed per client address in a window, whatever the e-mail address.
    pub signin_failures_per_ip: i64,
    /// Failed sign-ins for one e-mail address, from anywhere, before each further attempt must
    /// wait: first `signin_delay_base`, doubling with every failure up to `signin_delay_max`.
    /// A growing delay rather than a lock-out, so nobody can shut a user out with a few wrong
    /// passwords from elsewhere.
    pub signin_free_failures_per_email: i64,
    pub signin_delay_base: Duration,
    pub signin_delay_max: Duration,
    /// The window the counts above start over after.
    pub signin_window: Duration,
    /// Password checks that may run at once (each holds argon2's working memory), and how long
    /// a sign-in waits for one before it is answered 503.
    pub password_slots: usize,
    pub password_wait: Duration,
    /// Client registrations without a grant in use for this long are purged.
    pub unused_client_retention: Duration,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            allow_private_client_metadata: false,
            signin_failures_per_email_and_address: 5,
            signin_failures_per_ip: 30,
            signin_free_failures_per_email: 5,
            signin_delay_base: Duration::from_secs(2),
            signin_delay_max: Duration::from_secs(5 * 60),
            signin_window: Duration::from_secs(15 * 60),
            password_slots: password::Checker::default_slots(),
            password_wait: Duration::from_secs(5),
            unused_client_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Lifetime of an authorization code.
const CODE_TTL_SECS: i64 = 120;
/// Time a user has to sign in and consent.
const INTERACTION_TTL_SECS: i64 = 600;

/// The authorization server. One per process; shared by its routes and the MCP resource.
pub struct AuthServer {
    store: Store,
    auth: Arc<Authenticator>,
    keys: Arc<KeyRing>,
    /// Public base URL without a trailing slash.
    base: String,
    settings: OAuthSettings,
    client_docs: clients::MetadataDocuments,
    passwords: password::Checker,
}

impl AuthServer {
    pub fn new(
        store: Store,
        auth: Arc<Authenticator>,
        public_url: &str,
        settings: OAuthSettings,
        keys: Arc<KeyRing>,
    ) -> AuthServer {
        let base = public_url.trim_end_matches('/').to_owned();
        let client_docs = clients::MetadataDocuments::new(settings.allow_private_client_metadata);
        let passwords = password::Checker::new(settings.password_slots, settings.password_wait);
        AuthServer { store, auth, keys, base, settings, client_docs, passwords }
    }

    /// The issuer (`iss`): the public base URL with a trailing slash.
    pub fn issuer(&self) -> String {
        format!("{}/", self.base)
    }

    /// The resource identifier of the MCP endpoint.
    pub fn mcp_resource(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// Audiences a token must carry to be used on `/mcp`.
    pub fn mcp_audiences(&self) -> [String; 2] {
        [self.issuer(), self.mcp_resource()]
    }

    /// Audiences a token must carry to be used on the REST API.
    pub fn rest_audiences(&self) -> [String; 2] {
        let [root, _, rest] = self.resources();
        [root, rest]
    }

    /// Every resource tokens may be minted for: the whole server, the MCP endpoint, the REST API.
    pub fn resources(&self) -> [String; 3] {
        resources_at(&self.base)
    }

    /// The `resource_metadata` URL a 401 on `/mcp` points to.
    pub fn mcp_resource_metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.base)
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    fn authorization_server_metadata(&self) -> Value {
        let b = &self.base;
        json!({
            "issuer": self.issuer(),
            "authorization_endpoint": format!("{b}/authorize"),
            "token_endpoint": format!("{b}/oauth/token"),
            "registration_endpoint": format!("{b}/oidc/register"),
            "revocation_endpoint": format!("{b}/oauth/revoke"),
            "jwks_uri": format!("{b}/.well-known/jwks.json"),
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
        })
    }

    fn protected_resource_metadata(&self, resource: String) -> Value {
        json!({
            "resource": resource,
            "authorization_servers": [self.issuer()],
            "scopes_supported": SCOPES,
            "bearer_methods_supported": ["header"],
        })
    }
}

/// How the token verifier trusts the built-in server at `public_url`: its issuer, its
/// resources as audiences, and its key set read from the database.
pub fn issuer_config(public_url: &str, keys: Arc<KeyRing>) -> IssuerConfig {
    let base = public_url.trim_end_matches('/');
    IssuerConfig {
        issuer: format!("{base}/"),
        audiences: resources_at(base).to_vec(),
        jwks: JwksSource::Loader(SharedLoader(Arc::new(keys::StoreJwks(keys)))),
    }
}

/// levd's resources at `base` (no trailing slash); the first is the issuer.
fn resources_at(base: &str) -> [String; 3] {
    [format!("{base}/"), format!("{base}/mcp"), format!("{base}/api/external/v2")]
}

/// The routes of the authorization server, mounted at the root of the public URL.
pub fn router(server: Arc<AuthServer>) -> Router {
    // What browser-based MCP clients (MCP Inspector, web apps) call cross-origin. None of these
    // endpoints reads a cookie, so any origin may call them.
    let machine = Router::new()
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/.well-known/oauth-protected-resource", get(pr_metadata_root))
        .route("/.well-known/oauth-protected-resource/mcp", get(pr_metadata_mcp))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oidc/register", post(clients::register))
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(token::revoke))
        .layer(axum::middleware::from_fn(cors));
    // The pages a person sees: same-origin only.
    let pages = Router::new()
        .route("/authorize", get(authorize::start))
        .route("/authorize/sign-in", post(authorize::sign_in))
        .route("/authorize/consent", post(authorize::consent));
    machine.merge(pages).with_state(server)
}

/// CORS for the machine endpoints: preflights answered here, every answer readable by any
/// origin (no credentials are involved: tokens travel in bodies and headers, never cookies).
async fn cors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() == axum::http::Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
        );
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        return r;
    }
    let mut r = next.run(req).await;
    r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    r
}

type State = axum::extract::State<Arc<AuthServer>>;

async fn as_metadata(axum::extract::State(s): State) -> Response {
    public_json(s.authorization_server_metadata())
}

async fn pr_metadata_root(axum::extract::State(s): State) -> Response {
    public_json(s.protected_resource_metadata(s.issuer()))
}

async fn pr_metadata_mcp(axum::extract::State(s): State) -> Response {
    public_json(s.protected_resource_metadata(s.mcp_resource()))
}

async fn jwks(axum::extract::State(s): State) -> Response {
    let now = unix_now();
    // The first request on a fresh database creates the key, so the set is never empty.
    if let Err(e) = s.keys.ensure(now).await {
        tracing::error!(error = %e, "cannot create the signing key");
        return OAuthError::server().into_response();
    }
    match s.keys.jwks(now).await {
        Ok(set) => public_json(set),
        Err(e) => {
            tracing::error!(error = %e, "cannot read signing keys");
            OAuthError::server().into_response()
        }
    }
}

/// A cacheable public JSON document, readable from any origin (browser-based MCP clients
/// fetch metadata cross-origin).
fn public_json(v: Value) -> Response {
    let mut r = axum::Json(v).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    r
}

/// An OAuth error response (RFC 6749 §5.2 shape), never cached.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// `WWW-Authenticate` for a failed `client_secret_basic`.
    basic_challenge: bool,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError { status, error, description: description.into(), basic_challenge: false }
    }
    fn invalid_request(d: impl Into<String>) -> OAuthError {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    fn invalid_grant(d: impl Into<String>) -> OAuthError {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    fn invalid_client(d: impl Into<String>) -> OAuthError {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
    }
    fn server() -> OAuthError {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The server could not complete the request")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(json!({"error": self.error, "error_description": self.description})))
            .into_response();
        no_store(&mut r);
        if self.basic_challenge {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"levd\""));
        }
        r
    }
}

fn store_failure(e: levd_store::StoreError) -> OAuthError {
    if matches!(e, levd_store::StoreError::UnstorableText) {
        return OAuthError::invalid_request("the request contains text that cannot be stored");
    }
    tracing::error!(error = %e, "store failure while issuing or checking OAuth credentials");
    OAuthError::server()
}

fn no_store(r: &mut Response) {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

pub(crate) use levd_domain::time_fmt::unix_now;

/// 256 random bits, base64url: codes, tokens, handles, CSRF tokens, client ids and secrets.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // Without an OS random source no credential can be made safely.
        panic!("the operating system's random source failed");
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 hex: how codes, tokens and secrets are stored and looked up.
pub(crate) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Parses an `application/x-www-form-urlencoded` body; a parameter given twice is refused
/// (RFC 6749 §3.1).
pub(crate) fn parse_form(body: &[u8]) -> Result<std::collections::HashMap<String, String>, String> {
    let mut out = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if !levd_domain::input::storable(&k) || !levd_domain::input::storable(&v) {
            return Err("parameters must not contain NUL characters".to_string());
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("parameter `{k}` is repeated"));
        }
    }
    Ok(out)
}

/// Whether a request carries a form body.
pub(crate) fn is_form(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_form_parameters_are_refused() {
        assert!(parse_form(b"a=1&b=2").is_ok());
        assert!(parse_form(b"a=1&a=2").is_err());
        assert_eq!(parse_form(b"code=a%2Bb").ok().and_then(|m| m.get("code").cloned()), Some("a+b".to_owned()));
    }

    #[test]
    fn tokens_are_random_and_digests_stable() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(digest("x"), digest("x"));
        assert_ne!(digest("x"), digest("y"));
    }
}
