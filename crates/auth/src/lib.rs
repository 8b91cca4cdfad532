//! Authentication for levd: turns a bearer token into a `Principal` (API key or JWT user) and a
//! principal plus `X-Active-Account` into an `AccountScope`. Lookups are cached; every change
//! that affects credentials bumps an epoch in the database, and a running server clears its
//! caches when it sees the epoch move.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod jwt;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use levd_domain::api_key::{ApiKeySecret, digest_hex, is_api_key_token};
use levd_domain::scope::{AccountScope, CredentialKind, KeyPermission, Role, ScopeSet, Tier};
use levd_domain::{ApiError, time_fmt};
use levd_store::{MembershipRow, Store, UserRow};
use parking_lot::Mutex;

pub use jwt::{IssuerConfig, JwksLoader, JwksSource, JwtVerifier, SharedLoader, VerifiedToken};

pub const MSG_AUTH_REQUIRED: &str = "Authentication required";
pub const MSG_INVALID_TOKEN: &str = "Invalid or expired authentication token";
pub const MSG_ACTIVE_ACCOUNT_REQUIRED: &str =
    "Active account required. Provide X-Active-Account header or use an API key.";
pub const MSG_ACCOUNT_FORBIDDEN: &str = "You do not have access to the requested account";

/// A caller authenticated by an API key: bound to one account.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPrincipal {
    pub key_id: i64,
    pub user_id: i64,
    pub account_id: i64,
    pub account_slug: String,
    pub tier: Tier,
    pub permission: KeyPermission,
    pub role: Role,
}

/// A caller authenticated by a JWT: a user with zero or more memberships.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPrincipal {
    pub user: UserRow,
    pub memberships: Vec<MembershipRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    ApiKey(Arc<KeyPrincipal>),
    Jwt(Arc<UserPrincipal>),
}

impl Principal {
    pub fn user_id(&self) -> i64 {
        match self {
            Principal::ApiKey(k) => k.user_id,
            Principal::Jwt(u) => u.user.id,
        }
    }
}

/// Outcome of resolving the active account of a JWT user with no usable header.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    Scoped(AccountScope),
    /// A multi-account user named no account and saved no preference.
    Unresolved,
}

/// How often `last_used_at` is rewritten for a key in steady use.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

pub struct Authenticator {
    store: Store,
    jwt: JwtVerifier,
    keys: Mutex<HashMap<[u8; 32], Arc<KeyPrincipal>>>,
    /// When this node last wrote each key's `last_used_at`.
    touched: Mutex<HashMap<i64, Instant>>,
    users: Mutex<HashMap<String, Arc<UserPrincipal>>>,
    /// Incremented by every invalidation; a lookup that started before an invalidation does
    /// not fill the cache, so a revoked key cannot slip back in.
    generation: AtomicU64,
    epoch: AtomicI64,
    /// Issuer of the built-in authorization server: its tokens name their grant (`sid`), and
    /// a revoked grant ends them.
    own_issuer: Option<String>,
    /// Whether each grant seen is still active (cleared with the other caches).
    grants: Mutex<HashMap<String, bool>>,
}

impl Authenticator {
    pub fn new(store: Store, jwt: JwtVerifier) -> Authenticator {
        Authenticator {
            store,
            jwt,
            keys: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            epoch: AtomicI64::new(i64::MIN),
            own_issuer: None,
            grants: Mutex::new(HashMap::new()),
        }
    }

    /// Names the built-in authorization server's issuer, whose tokens are checked against
    /// their grant on every request.
    #[must_use]
    pub fn with_own_issuer(mut self, issuer: String) -> Authenticator {
        self.own_issuer = Some(issuer);
        self
    }

    pub fn jwt(&self) -> &JwtVerifier {
        &self.jwt
    }

    /// Drops every cached credential; the next request reads the database.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.keys.lock().clear();
        self.users.lock().clear();
        self.grants.lock().clear();
    }

    /// Compares the database epoch with the last one seen and clears the caches when it moved
    /// (a revocation or role change made by another process).
    pub async fn sync_epoch(&self) -> Result<(), levd_store::StoreError> {
        let now = self.store.auth_epoch().await?;
        if self.epoch.swap(now, Ordering::SeqCst) != now {
            self.invalidate();
        }
        Ok(())
    }

    /// Authenticates a bearer token.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        self.authenticate_with_claims(token).await.map(|(p, _)| p)
    }

    /// Like [`authenticate`](Self::authenticate), also returning the verified claims of a JWT.
    pub async fn authenticate_with_claims(&self, token: &str) -> Result<(Principal, Option<VerifiedToken>), AuthError> {
        if is_api_key_token(token) {
            self.authenticate_key(token).await.map(|k| (Principal::ApiKey(k), None))
        } else {
            self.authenticate_jwt(token).await.map(|(u, v)| (Principal::Jwt(u), Some(v)))
        }
    }

    /// The principal of a credential this node has checked before and still holds in its
    /// caches, found without waiting (no database, no key fetch, no signature check); `None`
    /// when [`Authenticator::authenticate_with_claims`] must run, which also answers refusals.
    pub fn authenticate_cached(&self, token: &str) -> Option<(Principal, Option<VerifiedToken>)> {
        if is_api_key_token(token) {
            let secret = ApiKeySecret::parse(token)?;
            let key = self.keys.lock().get(&secret.digest()).cloned()?;
            return Some((Principal::ApiKey(key), None));
        }
        let verified = self.jwt.verified_before(token)?;
        if self.own_issuer.as_deref() == Some(verified.issuer.as_str()) {
            let grant = verified.session.as_deref()?;
            if !(*self.grants.lock().get(grant)?) {
                return None;
            }
        }
        let cache_key = format!("{}\u{0}{}", verified.issuer, verified.subject);
        let user = self.users.lock().get(&cache_key).cloned()?;
        Some((Principal::Jwt(user), Some(verified)))
    }

    /// Whether a grant of the built-in authorization server is still active.
    async fn grant_active(&self, grant_id: &str) -> Result<bool, AuthError> {
        if let Some(active) = self.grants.lock().get(grant_id) {
            return Ok(*active);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let grant = self.store.grant(grant_id).await.map_err(store_error)?;
        let active = grant.is_some_and(|g| g.revoked_at.is_none());
        let mut grants = self.grants.lock();
        if self.generation.load(Ordering::SeqCst) == generation {
            if grants.len() > 100_000 {
                grants.clear();
            }
            grants.insert(grant_id.to_owned(), active);
        }
        Ok(active)
    }

    async fn authenticate_key(&self, token: &str) -> Result<Arc<KeyPrincipal>, AuthError> {
        let secret = ApiKeySecret::parse(token).ok_or_else(invalid_token)?;
        let digest = secret.digest();
        if let Some(c) = self.keys.lock().get(&digest) {
            return Ok(c.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let row = self.store.key_for_auth(&digest_hex(&digest)).await.map_err(store_error)?;
        let row = row.ok_or_else(invalid_token)?;
        if row.revoked_at.is_some() {
            return Err(invalid_token());
        }
        // A key whose user left the account authenticates nothing (`docs/auth.md#roles`).
        let role = row.role().ok_or_else(invalid_token)?;
        let p = Arc::new(KeyPrincipal {
            key_id: row.key_id,
            user_id: row.user_id,
            account_id: row.account_id,
            account_slug: row.account_slug.clone(),
            tier: row.tier(),
            permission: row.permission(),
            role,
        });
        let mut keys = self.keys.lock();
        if self.generation.load(Ordering::SeqCst) == generation {
            if keys.len() > 100_000 {
                keys.clear();
            }
            keys.insert(digest, p.clone());
        }
        Ok(p)
    }

    async fn authenticate_jwt(&self, token: &str) -> Result<(Arc<UserPrincipal>, VerifiedToken), AuthError> {
        let verified = self.jwt.verify(token).await.map_err(|e| {
            tracing::debug!(reason = %e, "jwt rejected");
            invalid_token()
        })?;
        if self.own_issuer.as_deref() == Some(verified.issuer.as_str()) {
            let grant = verified.session.as_deref().ok_or_else(invalid_token)?;
            if !self.grant_active(grant).await? {
                tracing::debug!("token of a revoked grant");
                return Err(invalid_token());
            }
        }
        let cache_key = format!("{}\u{0}{}", verified.issuer, verified.subject);
        let cached = self.users.lock().get(&cache_key).cloned();
        let principal = match cached {
            Some(p) => p,
            None => {
                let generation = self.generation.load(Ordering::SeqCst);
                let user = self.store.user_by_subject(&verified.subject).await.map_err(store_error)?;
                let user = user.ok_or_else(invalid_token)?;
                let memberships = self.store.memberships_of(user.id).await.map_err(store_error)?;
                let p = Arc::new(UserPrincipal { user, memberships });
                let mut users = self.users.lock();
                if self.generation.load(Ordering::SeqCst) == generation {
                    if users.len() > 100_000 {
                        users.clear();
                    }
                    users.insert(cache_key, p.clone());
                }
                p
            }
        };
        if verified.first_seen {
            let store = self.store.clone();
            let uid = principal.user.id;
            tokio::spawn(async move {
                if let Err(e) = store.touch_last_login(uid, &time_fmt::now_rfc3339()).await {
                    tracing::warn!(error = %e, "could not record last_login_at");
                }
            });
        }
        Ok((principal, verified))
    }

    /// Records a use of a key (`last_used_at`, origin app), writing at most once a minute per
    /// key and node so steady traffic does not turn every read into a write.
    pub fn record_key_use(&self, key: &KeyPrincipal, origin_app: &str) {
        let due = {
            let mut touched = self.touched.lock();
            let due = touched.get(&key.key_id).is_none_or(|t| t.elapsed() >= TOUCH_EVERY);
            if due {
                if touched.len() > 100_000 {
                    touched.clear();
                }
                touched.insert(key.key_id, Instant::now());
            }
            due
        };
        if due {
            let store = self.store.clone();
            let (id, origin) = (key.key_id, origin_app.to_string());
            tokio::spawn(async move {
                if let Err(e) = store.touch_key(id, &time_fmt::now_rfc3339(), &origin).await {
                    tracing::warn!(error = %e, "could not record key use");
                }
            });
        }
    }

    /// The account a request acts for (`docs/auth.md#active-account`). API keys: their own account, header ignored.
    /// JWT users: header, else saved preference, else the only membership.
    pub fn resolve(&self, principal: &Principal, header: Option<&[u8]>) -> Result<Resolution, AuthError> {
        match principal {
            Principal::ApiKey(k) => Ok(Resolution::Scoped(key_scope(k))),
            Principal::Jwt(u) => resolve_user(u, header),
        }
    }
}

pub fn key_scope(k: &KeyPrincipal) -> AccountScope {
    AccountScope {
        account_id: k.account_id,
        account_slug: k.account_slug.clone(),
        tier: k.tier,
        user_id: k.user_id,
        role: k.role,
        scopes: k.permission.scopes().intersect(k.role.scopes()),
        credential: CredentialKind::ApiKey { key_id: k.key_id, permission: k.permission },
    }
}

fn member_scope(u: &UserPrincipal, m: &MembershipRow) -> AccountScope {
    let role = m.role();
    AccountScope {
        account_id: m.account_id,
        account_slug: m.slug.clone(),
        tier: m.tier(),
        user_id: u.user.id,
        role,
        scopes: role.scopes().intersect(ScopeSet::all()),
        credential: CredentialKind::Jwt,
    }
}

fn resolve_user(u: &UserPrincipal, header: Option<&[u8]>) -> Result<Resolution, AuthError> {
    if let Some(h) = header {
        // One answer for unknown slugs and foreign ones, so slugs cannot be probed.
        let slug = levd_domain::headers::parse_account_slug(h).ok_or(AuthError::AccountForbidden)?;
        let m = u.memberships.iter().find(|m| m.slug == slug).ok_or(AuthError::AccountForbidden)?;
        return Ok(Resolution::Scoped(member_scope(u, m)));
    }
    if let Some(m) = u.user.active_account_id.and_then(|pref| u.memberships.iter().find(|m| m.account_id == pref)) {
        return Ok(Resolution::Scoped(member_scope(u, m)));
    }
    match u.memberships.as_slice() {
        [only] => Ok(Resolution::Scoped(member_scope(u, only))),
        [] => Err(AuthError::NoMembership),
        _ => Ok(Resolution::Unresolved),
    }
}

fn invalid_token() -> AuthError {
    AuthError::InvalidToken
}

fn store_error(e: levd_store::StoreError) -> AuthError {
    if matches!(e, levd_store::StoreError::UnstorableText) {
        return AuthError::UnstorableText;
    }
    tracing::error!(error = %e, "store failure during authentication");
    AuthError::Unavailable
}

/// Why a credential or an account choice was refused. Callers match on the kind (a `401`
/// challenge, a `403`, an outage); `ApiError::from` gives the envelope each one answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The credential is unknown, expired, revoked, forged or not meant for this server.
    #[error("{MSG_INVALID_TOKEN}")]
    InvalidToken,
    /// `X-Active-Account` names an account the user does not belong to (or none at all).
    #[error("{MSG_ACCOUNT_FORBIDDEN}")]
    AccountForbidden,
    /// The user is an active member of no account.
    #[error("The user is not an active member of any account")]
    NoMembership,
    /// The credential holds text the database cannot store (a NUL character).
    #[error("The request contains text that cannot be stored")]
    UnstorableText,
    /// The credential could not be checked: the database is unavailable.
    #[error("The service is temporarily unavailable")]
    Unavailable,
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        let message = e.to_string();
        match e {
            AuthError::InvalidToken => ApiError::unauthorized(message),
            AuthError::AccountForbidden | AuthError::NoMembership => ApiError::forbidden(message),
            AuthError::UnstorableText => ApiError::bad_request(message),
            AuthError::Unavailable => ApiError::unavailable(message),
        }
    }
}
