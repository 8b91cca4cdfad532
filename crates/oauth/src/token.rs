//! `/oauth/token` (authorization_code, refresh_token) and `/oauth/revoke` (RFC 7009).
use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use levd_store::{GrantRow, Redemption};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clients::Client;
use crate::{AuthServer, OAuthError, digest, is_form, no_store, parse_form, random_token, store_failure, unix_now};

fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    if !is_form(headers) {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    if body.len() > 16 * 1024 {
        return Err(OAuthError::invalid_request("the request is too large"));
    }
    parse_form(body).map_err(OAuthError::invalid_request)
}

/// `POST /oauth/token`.
pub async fn token(State(s): State<Arc<AuthServer>>, headers: HeaderMap, body: Bytes) -> Response {
    match token_inner(&s, &headers, &body).await {
        Ok(v) => {
            let mut r = axum::Json(v).into_response();
            no_store(&mut r);
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn token_inner(s: &AuthServer, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let form = read_form(headers, body)?;
    let grant_type = form.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !matches!(grant_type.as_str(), "authorization_code" | "refresh_token") {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ));
    }
    let client = s.authenticate_client(headers, &form).await?;
    match grant_type.as_str() {
        "authorization_code" => exchange_code(s, &client, &form).await,
        _ => refresh(s, &client, &form).await,
    }
}

/// Whether `verifier` (RFC 7636: 43–128 unreserved characters) hashes to `challenge`.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

async fn exchange_code(s: &AuthServer, client: &Client, form: &HashMap<String, String>) -> Result<Value, OAuthError> {
    let code = form.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier =
        form.get("code_verifier").ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let now = unix_now();
    let row = match s.store.redeem_code(&digest(code), now).await.map_err(store_failure)? {
        Redemption::Fresh(row) => row,
        Redemption::Replayed => {
            // RFC 6749 §4.1.2: a code used twice revokes what it issued.
            tracing::warn!(client_id = %client.client_id, "code replayed; its grant is revoked");
            s.auth.invalidate();
            return Err(OAuthError::invalid_grant("the authorization code was already used"));
        }
        Redemption::Unknown => return Err(OAuthError::invalid_grant("the authorization code is not valid")),
    };
    let grant = active_grant(s, &row.grant_id).await?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
    }
    if row.expires_at < now {
        return Err(OAuthError::invalid_grant("the authorization code has expired"));
    }
    if form.get("redirect_uri").is_some_and(|r| *r != row.redirect_uri) {
        return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request"));
    }
    if !pkce_matches(verifier, &row.code_challenge) {
        return Err(OAuthError::invalid_grant("code_verifier does not match the code challenge"));
    }
    check_resource(s, form, &grant)?;
    issue(s, &grant, &grant.scope, now).await
}

async fn refresh(s: &AuthServer, client: &Client, form: &HashMap<String, String>) -> Result<Value, OAuthError> {
    let token = form.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let token_digest = digest(token);
    // The owner is checked before the token is used, so another client cannot burn it.
    let Some(grant_id) = s.store.refresh_token_grant(&token_digest).await.map_err(store_failure)? else {
        return Err(OAuthError::invalid_grant("the refresh token is not valid"));
    };
    let grant = active_grant(s, &grant_id).await?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
    }
    let now = unix_now();
    let row = match s.store.redeem_refresh_token(&token_digest, now).await.map_err(store_failure)? {
        Redemption::Fresh(row) => row,
        Redemption::Replayed => {
            tracing::warn!(client_id = %client.client_id, "refresh token reused; its grant is revoked");
            s.auth.invalidate();
            return Err(OAuthError::invalid_grant("the refresh token was already used"));
        }
        Redemption::Unknown => return Err(OAuthError::invalid_grant("the refresh token is not valid")),
    };
    if row.expires_at < now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    check_resource(s, form, &grant)?;
    let scope = match form.get("scope") {
        None => grant.scope.clone(),
        Some(requested) => {
            let granted: Vec<&str> = grant.scope.split(' ').collect();
            if let Some(bad) = requested.split(' ').filter(|x| !x.is_empty()).find(|x| !granted.contains(x)) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!("scope `{bad}` was not granted"),
                ));
            }
            requested.split(' ').filter(|x| !x.is_empty()).collect::<Vec<_>>().join(" ")
        }
    };
    issue(s, &grant, &scope, now).await
}

async fn active_grant(s: &AuthServer, id: &str) -> Result<GrantRow, OAuthError> {
    match s.store.grant(id).await.map_err(store_failure)? {
        Some(g) if g.revoked_at.is_none() => Ok(g),
        _ => Err(OAuthError::invalid_grant("the authorization was revoked")),
    }
}

/// A `resource` at the token endpoint may only repeat the grant's audience.
fn check_resource(s: &AuthServer, form: &HashMap<String, String>, grant: &GrantRow) -> Result<(), OAuthError> {
    match form.get("resource") {
        None => Ok(()),
        Some(r) if s.canonical_resource(r).as_deref() == Some(grant.audience.as_str()) => Ok(()),
        Some(_) => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "resource differs from the one the user authorized",
        )),
    }
}

/// Mints an access token and a fresh refresh token for a grant.
async fn issue(s: &AuthServer, grant: &GrantRow, scope: &str, now: i64) -> Result<Value, OAuthError> {
    let user = s.store.user_by_id(grant.user_id).await.map_err(store_failure)?;
    let Some(subject) = user.and_then(|u| u.subject) else {
        return Err(OAuthError::invalid_grant("the user no longer exists"));
    };
    let ttl = i64::try_from(s.settings.access_token_ttl.as_secs()).unwrap_or(900);
    let claims = json!({
        "iss": s.issuer(),
        "sub": subject,
        "aud": grant.audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid::Uuid::new_v4().to_string(),
        "scope": scope,
        "client_id": grant.client_id,
        "sid": grant.id,
    });
    let access = s.keys.sign(&claims, now).await.map_err(|e| {
        tracing::error!(error = %e, "cannot sign an access token");
        OAuthError::server()
    })?;
    let refresh = format!("levd_rt_{}", random_token());
    let refresh_ttl = i64::try_from(s.settings.refresh_token_ttl.as_secs()).unwrap_or(30 * 86400);
    s.store.insert_refresh_token(&digest(&refresh), &grant.id, now + refresh_ttl).await.map_err(store_failure)?;
    Ok(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ttl,
        "refresh_token": refresh,
        "scope": scope,
    }))
}

/// `POST /oauth/revoke` (RFC 7009): revoking a refresh token or an access token ends the whole
/// grant. Unknown tokens, and tokens of other clients, are answered 200 all the same.
pub async fn revoke(State(s): State<Arc<AuthServer>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let form = read_form(&headers, &body)?;
        let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let client = s.authenticate_client(&headers, &form).await?;
        let grant_id = match s.store.refresh_token_grant(&digest(token)).await.map_err(store_failure)? {
            Some(id) => Some(id),
            None => access_token_grant(&s, token).await,
        };
        if let Some(id) = grant_id
            && let Some(grant) = s.store.grant(&id).await.map_err(store_failure)?
            && grant.client_id == client.client_id
        {
            s.store.revoke_grant(&id, unix_now()).await.map_err(store_failure)?;
            s.auth.invalidate();
            tracing::info!(client_id = %client.client_id, "grant revoked on request");
        }
        Ok::<(), OAuthError>(())
    }
    .await;
    match result {
        Ok(()) => {
            let mut r = StatusCode::OK.into_response();
            no_store(&mut r);
            r
        }
        Err(e) => e.into_response(),
    }
}

/// The grant (`sid`) of an access token this server signed, checked by signature only
/// (revoking an expired token is allowed and harmless).
async fn access_token_grant(s: &AuthServer, token: &str) -> Option<String> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let kid = header.kid?;
    let set = s.keys.jwks(unix_now()).await.ok()?;
    let jwk = set["keys"].as_array()?.iter().find(|k| k["kid"].as_str() == Some(kid.as_str()))?;
    let key = jsonwebtoken::DecodingKey::from_rsa_components(jwk["n"].as_str()?, jwk["e"].as_str()?).ok()?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.set_issuer(&[s.issuer()]);
    v.set_required_spec_claims(&["iss"]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).ok()?;
    data.claims["sid"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256() {
        // Challenge computed independently (Python hashlib) for this verifier.
        let verifier = "levd-pkce-test-verifier-0123456789abcdefghijk";
        let challenge = "sDdN1CaIOL1OFORdqq9n15suywDPRNUTsItCa9X-zks";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("levd-pkce-test-verifier-0123456789abcdefghijK", challenge));
        assert!(!pkce_matches("short", challenge));
        assert!(!pkce_matches("levd pkce test verifier 0123456789abcdefghijk", challenge), "spaces are not allowed");
        assert!(!pkce_matches(challenge, challenge));
    }
}
