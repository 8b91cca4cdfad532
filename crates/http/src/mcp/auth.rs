//! Bearer authentication in front of `/mcp`. Every MCP request carries its own credential (the
//! transport is stateless): an RS256 JWT or, as a levd extension, a `lev_sk_…` API key. A request
//! without a usable one is refused with `401` and a challenge naming the RFC 9728 metadata of
//! the endpoint, so an MCP client can discover where to sign in.
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use levd_auth::{AuthError, MSG_AUTH_REQUIRED, MSG_INVALID_TOKEN, Principal};
use levd_domain::headers::parse_bearer;
use serde_json::json;

use crate::AppState;
use crate::admission::{self, CredentialRefused, Resource};
use crate::envelope::{Rendered, error_response};

/// `X-Origin-App` of every call made through MCP (what REST callers send in the header).
pub const ORIGIN_APP: &str = "mcp";

/// The authenticated caller of one MCP request, in the request extensions (and so in the
/// `http::request::Parts` that each tool call receives).
#[derive(Debug, Clone)]
pub struct McpCaller {
    pub principal: Principal,
    pub origin_app: &'static str,
}

/// The OAuth scope a token of the built-in authorization server needs on `/mcp`.
pub use crate::admission::MCP_SCOPE as REQUIRED_SCOPE;

/// Message of the `403` for a token that lacks [`REQUIRED_SCOPE`].
const MSG_INSUFFICIENT_SCOPE: &str = "The token lacks the openid scope this endpoint requires";

/// Middleware: authenticates the request or answers `401` with the challenge.
pub async fn require_bearer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        return challenge(&state, None);
    };
    let Some(token) = parse_bearer(header.as_bytes()) else {
        return challenge(&state, Some(MSG_INVALID_TOKEN));
    };
    match admission::authenticate(&state, token, Resource::Mcp).await {
        Ok(principal) => {
            if let Principal::ApiKey(key) = &principal {
                state.auth.record_key_use(key, ORIGIN_APP);
            }
            req.extensions_mut().insert(McpCaller { principal, origin_app: ORIGIN_APP });
            next.run(req).await
        }
        Err(CredentialRefused::Auth(AuthError::InvalidToken)) => challenge(&state, Some(MSG_INVALID_TOKEN)),
        Err(CredentialRefused::InsufficientScope) => insufficient_scope(&state),
        // The credential could not be checked (database unavailable): not the caller's fault.
        Err(CredentialRefused::Auth(e)) => error_response(e.into()),
    }
}

/// Where the protected-resource metadata of `/mcp` lives.
pub fn resource_metadata_url(state: &AppState) -> String {
    format!("{}/.well-known/oauth-protected-resource/mcp", state.site.public_url)
}

/// `403` for a valid token without the scope `/mcp` needs (RFC 6750 §3.1): the client may
/// ask the user again with that scope.
fn insufficient_scope(state: &AppState) -> Response {
    let value = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{REQUIRED_SCOPE}\", resource_metadata=\"{}\"",
        resource_metadata_url(state)
    );
    let body = json!({ "error": "insufficient_scope", "error_description": MSG_INSUFFICIENT_SCOPE });
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    r.extensions_mut().insert(Rendered);
    r
}

/// `401` with `WWW-Authenticate` (RFC 6750 §3, RFC 9728 §5.1) and a small OAuth-style body.
/// `rejected` is the reason a sent credential was refused; `None` when none was sent.
fn challenge(state: &AppState, rejected: Option<&str>) -> Response {
    let mut value = format!("Bearer resource_metadata=\"{}\"", resource_metadata_url(state));
    if rejected.is_some() {
        value.push_str(", error=\"invalid_token\"");
    }
    let body = match rejected {
        Some(reason) => json!({ "error": "invalid_token", "error_description": reason }),
        None => json!({ "error": "unauthorized", "error_description": MSG_AUTH_REQUIRED }),
    };
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    r.extensions_mut().insert(Rendered);
    r
}
