//! JWT bearer-token verification against the JWKS of one or more trusted issuers.
//!
//! Policy (`docs/auth.md#credentials`, `docs/auth.md#jwt`):
//! * RS256 only. The header's `alg` is checked against that allow-list before anything else, so
//!   `none`, the HS* family (including the "RSA public key as HMAC secret" confusion attack) and
//!   every other algorithm are refused without touching a key.
//! * The token's unverified `iss` only *routes* it to a configured issuer; the token is then
//!   verified in full against that issuer's own keys, issuer and audience.
//! * Keys are chosen by `kid` from a cached JWKS. An unknown `kid` triggers a re-read of the JWKS,
//!   at most once per refetch interval per issuer, so a flood of tokens with invented kids cannot
//!   turn into a flood of requests to the identity provider.
//! * `exp` (required) and `nbf` (when present) are checked with a 60 s leeway; `aud` must contain
//!   the issuer's audience; `sub` must be a non-empty string (it names the user, `docs/auth.md#jwt`).
//! * A verified token is remembered, keyed by the SHA-256 of the token, until it would expire
//!   anyway, so a client repeating the same bearer token costs one hash instead of an RSA check.
//!
//! Tokens are never logged, and the cache never holds a token, only its digest.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use levd_domain::time_fmt::unix_now;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::{Mutex, RwLock};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 60;
/// The same leeway, for arithmetic on claim values.
const LEEWAY_SECS_I64: i64 = 60;
/// Minimum time between two JWKS loads of one issuer unless the caller shortens it (tests).
const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// A JWKS endpoint that does not answer within this is treated as unavailable.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Real JWKS documents are a few KiB; the bound keeps a broken or hostile endpoint (or a wrong
/// file path) from making us buffer without limit.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;
/// Real JWTs are well under 4 KiB; anything far larger is refused before hashing or parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Upper bound on remembered verified tokens.
const VERIFIED_CACHE_CAPACITY: usize = 10_000;
/// RSA keys shorter than this are not trusted even if an issuer publishes them.
const MIN_RSA_MODULUS_BITS: usize = 2048;

/// Where an issuer's JSON Web Key Set comes from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// A local file, re-read when a token names an unknown key.
    File(PathBuf),
    /// An HTTP(S) URL, re-fetched when a token names an unknown key.
    Url(String),
    /// Supplied by the application (the built-in authorization server keeps its keys in the
    /// database); asked again whenever a token names an unknown key.
    Loader(SharedLoader),
}

/// Produces a JWKS document on demand.
pub trait JwksLoader: Send + Sync + 'static {
    fn load(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, String>> + Send + '_>>;
}

/// A [`JwksLoader`] that can sit in a cloned configuration.
#[derive(Clone)]
pub struct SharedLoader(pub Arc<dyn JwksLoader>);

impl fmt::Debug for SharedLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedLoader")
    }
}

/// One trusted token issuer.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// Exact value expected in the `iss` claim.
    pub issuer: String,
    /// Values of which the `aud` claim (string or array) must contain at least one.
    pub audiences: Vec<String>,
    /// Where this issuer's signing keys are published.
    pub jwks: JwksSource,
}

/// The outcome of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The issuer that vouched for the token (its configured `issuer`).
    pub issuer: String,
    /// The `sub` claim: the user's subject at that issuer.
    pub subject: String,
    /// The `exp` claim, seconds since the Unix epoch.
    pub expires_at: i64,
    /// `true` when this verifier had not seen this exact token before (full signature check),
    /// `false` when it was answered from the verified-token cache.
    pub first_seen: bool,
    /// The `aud` claim, as a list.
    pub audiences: Vec<String>,
    /// The `sid` claim when present: for tokens of the built-in authorization server, the
    /// grant the token was issued from (its revocation ends the token).
    pub session: Option<String>,
    /// The OAuth scopes of the `scope` claim (space-delimited), if any.
    pub scopes: Vec<String>,
}

/// Why a token was refused. Every variant means "401" to the HTTP layer except, arguably,
/// `JwksUnavailable` and `NoIssuerConfigured`, which are the server's problem rather than the
/// client's. No variant carries any part of the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// No issuer is configured, so no JWT can be accepted.
    #[error("JWT authentication is not configured")]
    NoIssuerConfigured,
    /// Not a compact JWS with a parsable header and payload.
    #[error("token is not a well-formed JWT")]
    Malformed,
    /// The header names an algorithm other than RS256.
    #[error("token algorithm is not allowed")]
    UnsupportedAlgorithm,
    /// The `iss` claim matches no configured issuer.
    #[error("token issuer is not trusted")]
    UnknownIssuer,
    /// No usable key of the issuer matches the token's `kid`.
    #[error("token signing key is unknown")]
    UnknownKey,
    /// The signature does not verify with the selected key.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not yet valid")]
    NotYetValid,
    /// `aud` does not contain the issuer's audience.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// A required claim is absent, of the wrong type, or empty.
    #[error("token lacks required claim `{0}`")]
    MissingClaim(&'static str),
    /// The issuer's JWKS has never been loaded successfully.
    #[error("signing keys of the token issuer are unavailable")]
    JwksUnavailable,
}

/// Verifies bearer JWTs. Cheap to share: the server keeps one behind an `Arc`.
pub struct JwtVerifier {
    /// Configured issuers, keyed by their exact `iss` value.
    issuers: HashMap<String, IssuerState>,
    refetch_interval: Duration,
    /// Built on first use so that `new` does no I/O and cannot fail.
    http: OnceLock<reqwest::Client>,
    verified: Mutex<VerifiedCache>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .field("refetch_interval", &self.refetch_interval)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Builds a verifier for the given issuers. Does no I/O: keys are loaded by [`preload`]
    /// or, failing that, on the first token of each issuer.
    ///
    /// [`preload`]: JwtVerifier::preload
    pub fn new(issuers: Vec<IssuerConfig>) -> JwtVerifier {
        // jsonwebtoken picks its crypto backend from crate features and panics at first use if
        // feature unification ever enables both backends; naming ours explicitly rules that out.
        // An `Err` only means a provider is already installed, which is just as good.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
        let mut map = HashMap::with_capacity(issuers.len());
        for config in issuers {
            let name = config.issuer.clone();
            if map.insert(name.clone(), IssuerState::new(config)).is_some() {
                tracing::warn!(issuer = %name, "issuer configured twice; the last entry wins");
            }
        }
        JwtVerifier {
            issuers: map,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            http: OnceLock::new(),
            verified: Mutex::new(VerifiedCache::new(VERIFIED_CACHE_CAPACITY)),
        }
    }

    /// Sets the minimum time between two JWKS loads of one issuer (default 30 s).
    #[must_use]
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// `false` when no issuer is configured, i.e. every JWT will be refused.
    pub fn is_enabled(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// Loads every issuer's JWKS once, at server start.
    ///
    /// A JWKS file that cannot be loaded is a configuration error and makes this return
    /// `Err(JwksUnavailable)` (after trying every issuer). A URL that fails is only logged: the
    /// identity provider may be briefly unreachable, and its keys are fetched again, rate-limited,
    /// when a token arrives.
    ///
    /// # Errors
    ///
    /// `JwksUnavailable` when some issuer's JWKS file could not be loaded.
    pub async fn preload(&self) -> Result<(), JwtError> {
        let mut result = Ok(());
        for state in self.issuers.values() {
            // Serialise with token-triggered reloads of the same issuer.
            let _reload = state.reload.lock().await;
            if let Err(reason) = self.load(state).await {
                match &state.config.jwks {
                    JwksSource::File(path) => {
                        tracing::error!(
                            issuer = %state.config.issuer,
                            path = %path.display(),
                            %reason,
                            "cannot load JWKS file"
                        );
                        result = Err(JwtError::JwksUnavailable);
                    }
                    JwksSource::Loader(_) => {
                        tracing::warn!(issuer = %state.config.issuer, %reason, "cannot load signing keys");
                    }
                    JwksSource::Url(url) => {
                        tracing::warn!(
                            issuer = %state.config.issuer,
                            %url,
                            %reason,
                            "cannot fetch JWKS; will retry when a token arrives"
                        );
                    }
                }
            }
        }
        result
    }

    /// Verifies a bearer token and returns who it names.
    ///
    /// # Errors
    ///
    /// Any [`JwtError`] explaining why the token is refused; all of them mean `401` to a client
    /// except `NoIssuerConfigured` and `JwksUnavailable`, which the caller may also treat so.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, JwtError> {
        let result = self.verify_inner(token).await;
        if let Err(error) = &result {
            // The reason only: the token itself is a credential and never logged.
            tracing::debug!(%error, "JWT rejected");
        }
        result
    }

    /// A token this verifier has already verified and that is still valid, found without
    /// waiting; `None` when [`JwtVerifier::verify`] must run. The same checks gate the lookup as
    /// the full path: size, shape, algorithm.
    pub fn verified_before(&self, token: &str) -> Option<VerifiedToken> {
        if self.issuers.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let parts = CompactParts::split(token).ok()?;
        parse_header(parts.header).ok()?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.verified.lock().get(&digest, unix_now())
    }

    async fn verify_inner(&self, token: &str) -> Result<VerifiedToken, JwtError> {
        if self.issuers.is_empty() {
            return Err(JwtError::NoIssuerConfigured);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed);
        }
        let parts = CompactParts::split(token)?;
        // The algorithm allow-list comes first: nothing below may run for an `alg` we refuse.
        let header = parse_header(parts.header)?;

        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = unix_now();
        if let Some(hit) = self.verified.lock().get(&digest, now) {
            return Ok(hit);
        }

        let issuer = unverified_issuer(parts.payload)?;
        let state = self.issuers.get(&issuer).ok_or(JwtError::UnknownIssuer)?;
        let key = self.key_for(state, header.kid.as_deref()).await?;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &state.validation)
            .map_err(|e| map_jwt_error(&e))?
            .claims;

        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(JwtError::MissingClaim("sub")),
        };
        let expires_at = claims.get("exp").and_then(numeric_date).ok_or(JwtError::MissingClaim("exp"))?;

        let audiences = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        let session = claims.get("sid").and_then(Value::as_str).map(str::to_owned);
        let scopes = claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split(' ').filter(|x| !x.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let verified = VerifiedToken {
            issuer: state.config.issuer.clone(),
            subject,
            expires_at,
            first_seen: true,
            audiences,
            session,
            scopes,
        };
        let first_seen = self.verified.lock().insert(digest, &verified, unix_now());
        Ok(VerifiedToken { first_seen, ..verified })
    }

    /// Finds the key for `kid`, re-reading the JWKS (rate-limited) when it is not known.
    async fn key_for(&self, state: &IssuerState, kid: Option<&str>) -> Result<Arc<DecodingKey>, JwtError> {
        if let Some(key) = state.select(kid) {
            return Ok(key);
        }
        // One reload at a time per issuer: concurrent misses queue here and then find either
        // the fresh keys or a closed rate-limit window, so a flood costs at most one load.
        let _reload = state.reload.lock().await;
        if let Some(key) = state.select(kid) {
            return Ok(key);
        }
        let interval = match state.config.jwks {
            // A read of a small local table, not a request to a third party: done whenever a
            // token names a key not seen yet (a key made or rotated moments ago, possibly by
            // another node). Loads are serialised by the lock above.
            JwksSource::Loader(_) => Duration::ZERO,
            _ => self.refetch_interval,
        };
        if !state.reload_due(interval) {
            return Err(state.missing_key_error());
        }
        if let Err(reason) = self.load(state).await {
            tracing::warn!(issuer = %state.config.issuer, %reason, "JWKS reload failed");
        }
        state.select(kid).ok_or_else(|| state.missing_key_error())
    }

    /// Reads and installs one issuer's JWKS. Counts as an attempt for the rate limit whether
    /// or not it succeeds, so an unreachable provider is not hammered either. On failure the
    /// previous keys stay in force.
    async fn load(&self, state: &IssuerState) -> Result<(), String> {
        *state.last_load.lock() = Some(Instant::now());
        let bytes = match &state.config.jwks {
            JwksSource::File(path) => read_jwks_file(path).await?,
            JwksSource::Url(url) => self.fetch_jwks(url).await?,
            JwksSource::Loader(loader) => loader.0.load().await?,
        };
        let keys = parse_jwks(&bytes)?;
        if keys.all.is_empty() {
            tracing::warn!(issuer = %state.config.issuer, "JWKS holds no usable RS256 signing key");
        } else {
            tracing::debug!(
                issuer = %state.config.issuer,
                keys = keys.all.len(),
                "JWKS loaded"
            );
        }
        *state.keys.write() = Some(Arc::new(keys));
        Ok(())
    }

    async fn fetch_jwks(&self, url: &str) -> Result<Vec<u8>, String> {
        let client = self.http_client()?;
        let mut response = client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("unexpected status {}", response.status()));
        }
        let content_type =
            response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !is_json_media_type(content_type) {
            return Err(format!("unexpected content type {content_type:?}"));
        }
        if response.content_length().is_some_and(|len| len > MAX_JWKS_BYTES) {
            return Err("response too large".to_owned());
        }
        // Content-Length may be absent or wrong, so the bound is enforced while reading too.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading body failed: {e}"))? {
            if (body.len() + chunk.len()) as u64 > MAX_JWKS_BYTES {
                return Err("response too large".to_owned());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn http_client(&self) -> Result<&reqwest::Client, String> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // Only a direct 200 is accepted; a redirect is treated as a misconfigured URL.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("levd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        // A concurrent first use may have won the race; either client is equally good.
        Ok(self.http.get_or_init(|| client))
    }
}

/// Per-issuer configuration, validation rules and key cache.
struct IssuerState {
    config: IssuerConfig,
    validation: Validation,
    /// `None` until a JWKS has been loaded successfully once.
    keys: RwLock<Option<Arc<KeySet>>>,
    /// When the last load was attempted (successful or not), for the refetch rate limit.
    last_load: Mutex<Option<Instant>>,
    /// Held (across the load's awaits, hence an async mutex) while a load is in progress.
    reload: tokio::sync::Mutex<()>,
}

impl IssuerState {
    fn new(config: IssuerConfig) -> IssuerState {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_audience(&config.audiences);
        IssuerState {
            config,
            validation,
            keys: RwLock::new(None),
            last_load: Mutex::new(None),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    fn select(&self, kid: Option<&str>) -> Option<Arc<DecodingKey>> {
        let keys = self.keys.read().clone()?;
        keys.select(kid)
    }

    /// Whether the rate limit allows another load now.
    fn reload_due(&self, interval: Duration) -> bool {
        match *self.last_load.lock() {
            Some(at) => at.elapsed() >= interval,
            None => true,
        }
    }

    fn missing_key_error(&self) -> JwtError {
        if self.keys.read().is_some() { JwtError::UnknownKey } else { JwtError::JwksUnavailable }
    }
}

/// The usable keys of one JWKS document.
#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<DecodingKey>>,
    /// Every usable key, with or without a kid; consulted only for tokens without a kid.
    all: Vec<Arc<DecodingKey>>,
}

impl KeySet {
    fn select(&self, kid: Option<&str>) -> Option<Arc<DecodingKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            // Without a kid the choice is only unambiguous when there is a single key.
            None => match self.all.as_slice() {
                [only] => Some(Arc::clone(only)),
                _ => None,
            },
        }
    }
}

/// The JWK members this module looks at; everything else is ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<Value>,
}

/// Parses a JWKS document, keeping only RSA keys usable for RS256 signatures. Entries that are
/// malformed or meant for something else are skipped rather than failing the whole set, so one
/// exotic key published next to ours does not lock everyone out.
fn parse_jwks(bytes: &[u8]) -> Result<KeySet, String> {
    let doc: RawJwks = serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut set = KeySet::default();
    for entry in doc.keys {
        let Ok(jwk) = serde_json::from_value::<RawJwk>(entry) else {
            continue;
        };
        let Some(key) = usable_rs256_key(&jwk) else {
            continue;
        };
        let key = Arc::new(key);
        if let Some(kid) = jwk.kid {
            if set.by_kid.contains_key(&kid) {
                // Two keys under one kid would make selection ambiguous; keep the first.
                tracing::warn!(%kid, "JWKS lists the same kid twice; ignoring the later key");
                continue;
            }
            set.by_kid.insert(kid, Arc::clone(&key));
        }
        set.all.push(key);
    }
    Ok(set)
}

fn usable_rs256_key(jwk: &RawJwk) -> Option<DecodingKey> {
    if jwk.kty.as_deref() != Some("RSA") {
        return None;
    }
    if jwk.alg.as_deref().is_some_and(|alg| alg != "RS256") {
        return None;
    }
    if jwk.key_use.as_deref().is_some_and(|key_use| key_use != "sig") {
        return None;
    }
    if jwk.key_ops.as_ref().is_some_and(|ops| !ops.iter().any(|op| op == "verify")) {
        return None;
    }
    let n = decode_b64url(jwk.n.as_deref()?)?;
    let e = decode_b64url(jwk.e.as_deref()?)?;
    if modulus_bits(&n) < MIN_RSA_MODULUS_BITS || e.is_empty() {
        return None;
    }
    Some(DecodingKey::from_rsa_raw_components(&n, &e))
}

/// JWK members are base64url without padding (RFC 7517); tolerate stray padding anyway.
fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

fn modulus_bits(n: &[u8]) -> usize {
    match n.iter().position(|&b| b != 0) {
        Some(first) => (n.len() - first) * 8 - n[first].leading_zeros() as usize,
        None => 0,
    }
}

/// Accepts `application/json` and structured `+json` types such as `application/jwk-set+json`.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_jwks_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta = tokio::fs::metadata(path).await.map_err(|e| format!("cannot stat file: {e}"))?;
    if meta.len() > MAX_JWKS_BYTES {
        return Err("file too large".to_owned());
    }
    let bytes = tokio::fs::read(path).await.map_err(|e| format!("cannot read file: {e}"))?;
    // The file may have grown between stat and read.
    if bytes.len() as u64 > MAX_JWKS_BYTES {
        return Err("file too large".to_owned());
    }
    Ok(bytes)
}

/// The three base64url segments of a compact JWS.
struct CompactParts<'a> {
    header: &'a str,
    payload: &'a str,
}

impl<'a> CompactParts<'a> {
    fn split(token: &'a str) -> Result<CompactParts<'a>, JwtError> {
        let mut parts = token.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(header), Some(payload), Some(_signature), None) if !header.is_empty() && !payload.is_empty() => {
                Ok(CompactParts { header, payload })
            }
            _ => Err(JwtError::Malformed),
        }
    }
}

/// The header members this module acts on. Parsed here rather than by `jsonwebtoken` so that
/// an algorithm it does not know (`none`) is still reported as an algorithm problem.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

fn parse_header(segment: &str) -> Result<RawHeader, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| JwtError::Malformed)?;
    let header: RawHeader = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    if header.alg != "RS256" {
        return Err(JwtError::UnsupportedAlgorithm);
    }
    // RFC 7515 §4.1.11: extensions listed in `crit` must be understood; we understand none.
    if header.crit.is_some() {
        return Err(JwtError::Malformed);
    }
    Ok(header)
}

/// Reads `iss` from the payload without verifying anything: used only to pick the issuer whose
/// keys and rules then verify the token in full.
fn unverified_issuer(segment: &str) -> Result<String, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| JwtError::Malformed)?;
    let payload: Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    let Value::Object(claims) = payload else {
        return Err(JwtError::Malformed);
    };
    match claims.get("iss") {
        Some(Value::String(iss)) => Ok(iss.clone()),
        _ => Err(JwtError::MissingClaim("iss")),
    }
}

fn map_jwt_error(error: &jsonwebtoken::errors::Error) -> JwtError {
    match error.kind() {
        // A published key the crypto backend rejects cannot vouch for any token either.
        ErrorKind::InvalidSignature | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            JwtError::BadSignature
        }
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::InvalidIssuer => JwtError::UnknownIssuer,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => JwtError::UnsupportedAlgorithm,
        ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim(static_claim(claim)),
        _ => JwtError::Malformed,
    }
}

fn static_claim(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "unknown",
    }
}

/// A JWT `NumericDate` as whole seconds (fractions are allowed by RFC 7519 and rounded).
fn numeric_date(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite())
            // Saturating float-to-int cast; absurd dates fail the `exp` check anyway.
            .map(|f| {
                #[allow(clippy::cast_possible_truncation)]
                let seconds = f.round() as i64;
                seconds
            })
    })
}

/// A verified token, remembered by digest.
struct CachedToken {
    token: VerifiedToken,
}

impl CachedToken {
    /// Served only while a fresh verification would still accept the token (exp + leeway).
    fn is_live(&self, now: i64) -> bool {
        now <= self.token.expires_at.saturating_add(LEEWAY_SECS_I64)
    }
}

/// Verified tokens keyed by SHA-256 of the token string.
struct VerifiedCache {
    entries: HashMap<[u8; 32], CachedToken>,
    capacity: usize,
}

impl VerifiedCache {
    fn new(capacity: usize) -> VerifiedCache {
        VerifiedCache { entries: HashMap::new(), capacity }
    }

    fn get(&mut self, digest: &[u8; 32], now: i64) -> Option<VerifiedToken> {
        let entry = self.entries.get(digest)?;
        if !entry.is_live(now) {
            self.entries.remove(digest);
            return None;
        }
        Some(VerifiedToken { first_seen: false, ..entry.token.clone() })
    }

    /// Remembers a freshly verified token. Returns whether this is its first sighting: `false`
    /// when a concurrent verification of the same token got here first.
    fn insert(&mut self, digest: [u8; 32], token: &VerifiedToken, now: i64) -> bool {
        if self.entries.get(&digest).is_some_and(|e| e.is_live(now)) {
            return false;
        }
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, e| e.is_live(now));
            if self.entries.len() >= self.capacity {
                // All live: dropping everything costs only one extra RSA check per token,
                // and keeps memory bounded without LRU bookkeeping on every hit.
                self.entries.clear();
            }
        }
        self.entries.insert(digest, CachedToken { token: token.clone() });
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn token(subject: &str, expires_at: i64) -> VerifiedToken {
        VerifiedToken {
            issuer: "iss".to_owned(),
            subject: subject.to_owned(),
            expires_at,
            first_seen: true,
            audiences: Vec::new(),
            session: None,
            scopes: Vec::new(),
        }
    }

    fn digest(i: u32) -> [u8; 32] {
        Sha256::digest(i.to_be_bytes()).into()
    }

    #[test]
    fn verifier_is_send_sync_and_verify_future_is_send() {
        fn assert_send_sync<T: Send + Sync>() {}
        fn assert_send<T: Send>(_: &T) {}
        assert_send_sync::<JwtVerifier>();
        let verifier = JwtVerifier::new(Vec::new());
        let future = verifier.verify("a.b.c");
        assert_send(&future);
        assert_send(&verifier.preload());
    }

    #[test]
    fn cache_serves_until_exp_plus_leeway_only() {
        let mut cache = VerifiedCache::new(10);
        let now = 1_000_000;
        assert!(cache.insert(digest(1), &token("a", now + 10), now));
        let hit = cache.get(&digest(1), now + 10 + 60).unwrap();
        assert!(!hit.first_seen);
        assert_eq!(hit.subject, "a");
        assert!(cache.get(&digest(1), now + 10 + 61).is_none());
        // The expired entry was dropped on the miss.
        assert!(cache.entries.is_empty());
    }

    #[test]
    fn cache_insert_of_live_duplicate_is_not_first_seen() {
        let mut cache = VerifiedCache::new(10);
        assert!(cache.insert(digest(1), &token("a", 2_000), 1_000));
        assert!(!cache.insert(digest(1), &token("a", 2_000), 1_001));
    }

    #[test]
    fn full_cache_drops_expired_entries_first() {
        let mut cache = VerifiedCache::new(4);
        let now = 1_000_000;
        cache.insert(digest(1), &token("old1", now - 120), now - 200);
        cache.insert(digest(2), &token("old2", now - 120), now - 200);
        cache.insert(digest(3), &token("live", now + 100), now);
        cache.insert(digest(4), &token("live", now + 100), now);
        assert!(cache.insert(digest(5), &token("new", now + 100), now));
        assert_eq!(cache.entries.len(), 3);
        assert!(cache.get(&digest(3), now).is_some());
        assert!(cache.get(&digest(5), now).is_some());
    }

    #[test]
    fn full_cache_of_live_entries_is_cleared() {
        let mut cache = VerifiedCache::new(3);
        let now = 1_000_000;
        for i in 0..3 {
            cache.insert(digest(i), &token("live", now + 100), now);
        }
        assert!(cache.insert(digest(9), &token("new", now + 100), now));
        assert_eq!(cache.entries.len(), 1);
        assert!(cache.get(&digest(9), now).is_some());
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn fake_modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xffu8; bits / 8];
        n.insert(0, 0); // leading zero byte, as some encoders emit
        n
    }

    #[test]
    fn jwks_parsing_keeps_only_rs256_signature_keys() {
        let n = b64(&fake_modulus(2048));
        let small = b64(&fake_modulus(1024));
        let e = b64(&[1, 0, 1]);
        let doc = serde_json::json!({ "keys": [
            { "kty": "RSA", "kid": "ok", "alg": "RS256", "use": "sig", "n": n, "e": e },
            { "kty": "RSA", "kid": "no-alg-no-use", "n": n, "e": e },
            { "kty": "RSA", "kid": "rs384", "alg": "RS384", "use": "sig", "n": n, "e": e },
            { "kty": "RSA", "kid": "enc", "alg": "RS256", "use": "enc", "n": n, "e": e },
            { "kty": "RSA", "kid": "ops", "key_ops": ["encrypt"], "n": n, "e": e },
            { "kty": "RSA", "kid": "small", "alg": "RS256", "n": small, "e": e },
            { "kty": "RSA", "kid": "no-n", "alg": "RS256", "e": e },
            { "kty": "RSA", "kid": "bad-b64", "alg": "RS256", "n": "!!", "e": e },
            { "kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA" },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "RSA", "kid": 7, "n": n, "e": e },
            "not an object",
            { "kty": "RSA", "kid": "ok", "alg": "RS256", "n": n, "e": e },
        ]});
        let set = parse_jwks(doc.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = set.by_kid.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["no-alg-no-use", "ok"]);
        assert_eq!(set.all.len(), 2);
        // Two usable keys: a token without kid is ambiguous.
        assert!(set.select(None).is_none());
        assert!(set.select(Some("ok")).is_some());
        assert!(set.select(Some("rs384")).is_none());
    }

    #[test]
    fn jwks_parsing_rejects_non_documents() {
        assert!(parse_jwks(b"not json").is_err());
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"[]").is_err());
        assert!(parse_jwks(br#"{"keys": []}"#).unwrap().all.is_empty());
    }

    #[test]
    fn modulus_bit_length() {
        assert_eq!(modulus_bits(&[]), 0);
        assert_eq!(modulus_bits(&[0, 0]), 0);
        assert_eq!(modulus_bits(&[0, 1]), 1);
        assert_eq!(modulus_bits(&[0x80, 0]), 16);
        assert_eq!(modulus_bits(&fake_modulus(2048)), 2048);
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(is_json_media_type("application/jwk-set+json"));
        assert!(!is_json_media_type("text/html"));
        assert!(!is_json_media_type(""));
        assert!(!is_json_media_type("text/json+html"));
    }

    #[test]
    fn header_checks() {
        let enc = |v: Value| b64(v.to_string().as_bytes());
        assert!(parse_header(&enc(serde_json::json!({"alg": "RS256", "kid": "k"}))).is_ok());
        for alg in ["none", "HS256", "RS384", "PS256", "ES256", "EdDSA", "rs256", ""] {
            assert_eq!(
                parse_header(&enc(serde_json::json!({ "alg": alg }))).err(),
                Some(JwtError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        assert_eq!(
            parse_header(&enc(serde_json::json!({"alg": "RS256", "crit": ["exp"]}))).err(),
            Some(JwtError::Malformed)
        );
        assert_eq!(parse_header(&enc(serde_json::json!({}))).err(), Some(JwtError::Malformed));
        assert_eq!(parse_header(&enc(serde_json::json!({"alg": "RS256", "kid": 3}))).err(), Some(JwtError::Malformed));
        assert_eq!(parse_header("%%%").err(), Some(JwtError::Malformed));
        // Duplicate members could let two parsers disagree about the algorithm.
        assert_eq!(parse_header(&b64(br#"{"alg":"RS256","alg":"none"}"#)).err(), Some(JwtError::Malformed));
    }

    #[test]
    fn compact_split() {
        assert!(CompactParts::split("a.b.c").is_ok());
        assert!(CompactParts::split("a.b.").is_ok());
        for bad in ["", "a", "a.b", "a.b.c.d", ".b.c", "a..c", "...."] {
            assert!(CompactParts::split(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_dates() {
        assert_eq!(numeric_date(&serde_json::json!(5)), Some(5));
        assert_eq!(numeric_date(&serde_json::json!(5.6)), Some(6));
        assert_eq!(numeric_date(&serde_json::json!("5")), None);
    }
}
