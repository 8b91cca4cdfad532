//! Admission (`docs/auth.md#admission`): the one path from a credential to what a call may do —
//! credential → principal → account → scope → rate-limit buckets. The REST request path
//! (`middleware::pipeline`) and every MCP tool call go through these two functions, so both
//! resolve accounts, refuse and charge alike; each only renders the refusal in its own format.
use levd_auth::{AuthError, Principal, Resolution};
use levd_domain::scope::AccountScope;
use levd_domain::{ApiError, ErrorKind};

use crate::AppState;
use crate::operations::{Policy, PublicLimit};
use crate::ratelimit::{Bucket, Quota, Rejection};

/// The OAuth scope a token of the built-in authorization server needs on `/mcp`.
pub const MCP_SCOPE: &str = "openid";

/// Where a credential is presented: each accepts only tokens minted for it (or for the whole
/// server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Rest,
    Mcp,
}

/// Why a credential is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialRefused {
    Auth(AuthError),
    /// A valid token of the built-in server without the scope the resource needs.
    InsufficientScope,
}

/// Authenticates a bearer token presented to `resource`. Tokens of levd's own authorization
/// server name the resource they were minted for (RFC 8707): the REST API accepts those minted
/// for it or for the whole server, `/mcp` those minted for it or the server, with the `openid`
/// scope. Other issuers' audiences were checked against their configuration by the verifier.
pub async fn authenticate(state: &AppState, token: &str, resource: Resource) -> Result<Principal, CredentialRefused> {
    // A credential seen before is answered from the caches without waiting; the full path
    // (database, key fetch, signature) is boxed so that this future, which every request
    // carries, stays small.
    let (principal, claims) = match state.auth.authenticate_cached(token) {
        Some(found) => found,
        None => Box::pin(state.auth.authenticate_with_claims(token)).await.map_err(CredentialRefused::Auth)?,
    };
    if let (Some(server), Some(claims)) = (&state.oauth, &claims)
        && claims.issuer == server.issuer()
    {
        let accepted = match resource {
            Resource::Rest => server.rest_audiences(),
            Resource::Mcp => server.mcp_audiences(),
        };
        if !claims.audiences.iter().any(|a| accepted.contains(a)) {
            tracing::debug!(?resource, "token minted for another resource refused");
            return Err(CredentialRefused::Auth(AuthError::InvalidToken));
        }
        if resource == Resource::Mcp && !claims.scopes.iter().any(|s| s == MCP_SCOPE) {
            return Err(CredentialRefused::InsufficientScope);
        }
    }
    Ok(principal)
}

/// What an admitted call acts for.
#[derive(Debug, Default)]
pub struct Admitted {
    pub scope: Option<AccountScope>,
    /// The tightest bucket charged, for the `RateLimit-*` headers.
    pub quota: Option<Quota>,
}

/// Why a call is not admitted.
#[derive(Debug)]
pub enum Refused {
    /// The account choice was refused (`X-Active-Account` names no account of the user, or the
    /// user belongs to none).
    Auth(AuthError),
    /// The operation needs an account and the user, a member of several, has chosen none.
    AccountRequired,
    RateLimited(Rejection),
}

/// The refusal of a call over its rate limit (`docs/api.md#rate-limits`).
pub fn rate_limited(r: &Rejection) -> ApiError {
    ApiError::new(
        ErrorKind::RateLimited,
        "Per-minute API rate limit reached. Contact help@lev.com if you need a higher tier.",
    )
    .with_extra("limit_type", r.limit_type)
    .with_extra("retry_after_seconds", r.retry_after_seconds)
}

/// Resolves the account a call acts for (`docs/auth.md#active-account`) and charges its
/// rate-limit buckets. `principal` is `None` on public routes; `account_header` is the
/// `X-Active-Account` sent (MCP sends none); `endpoint` is `METHOD /template`; `client` the
/// client address public routes are counted by.
pub async fn admit(
    state: &AppState,
    principal: Option<&Principal>,
    account_header: Option<&[u8]>,
    policy: Policy,
    endpoint: &str,
    client: &str,
) -> Result<Admitted, Refused> {
    let mut scope = None;
    if let Some(p) = principal {
        let header = if policy == Policy::UserOnly { None } else { account_header };
        match state.auth.resolve(p, header) {
            Ok(Resolution::Scoped(s)) => scope = Some(s),
            Ok(Resolution::Unresolved) if policy == Policy::Account => return Err(Refused::AccountRequired),
            Ok(Resolution::Unresolved) => {}
            // A user with no membership may still read their profile and accounts.
            Err(AuthError::NoMembership) if policy != Policy::Account => {}
            Err(e) => return Err(Refused::Auth(e)),
        }
    }
    let quota = charge(state, principal, scope.as_ref(), policy, endpoint, client).await?;
    Ok(Admitted { scope, quota })
}

/// The per-minute buckets of a call: the client address's on public routes; the account's and
/// the endpoint's for an account; the user's own (at the lowest tier's figure) for a
/// multi-account user who has chosen no account.
async fn charge(
    state: &AppState,
    principal: Option<&Principal>,
    scope: Option<&AccountScope>,
    policy: Policy,
    endpoint: &str,
    client: &str,
) -> Result<Option<Quota>, Refused> {
    if !state.limits.enabled {
        return Ok(None);
    }
    let buckets = match (policy, scope, principal) {
        (Policy::Public { per_ip, .. }, _, _) => {
            let (name, n) = match per_ip {
                PublicLimit::Health => ("health", state.limits.health_per_ip),
                PublicLimit::ValidateKey => ("validate", state.limits.validate_key_per_ip),
                PublicLimit::Fixed { bucket, per_minute } => (bucket, per_minute),
            };
            vec![Bucket { key: format!("ip:{name}:{client}"), per_minute: n, limit_type: "ip" }]
        }
        (_, Some(s), _) => {
            let t = state.limits.for_tier(s.tier);
            vec![
                Bucket { key: format!("a:{}", s.account_id), per_minute: t.account_per_minute, limit_type: "account" },
                Bucket {
                    key: format!("e:{}:{endpoint}", s.account_id),
                    per_minute: t.endpoint_per_minute,
                    limit_type: "endpoint",
                },
            ]
        }
        (_, None, Some(p)) => vec![Bucket {
            key: format!("u:{}", p.user_id()),
            per_minute: state.limits.free.account_per_minute,
            limit_type: "account",
        }],
        _ => Vec::new(),
    };
    state.limiter.check(&buckets).await.map_err(|rejection| {
        state.metrics.rate_limited(rejection.limit_type);
        Refused::RateLimited(rejection)
    })
}
