//! `/authorize`: validates the request, signs the user in with levd's own page, asks for
//! consent and sends the code back to the client.
//!
//! Errors about the client or its redirect URI are shown to the user and never redirected
//! (that would be an open redirect). Later errors of the request go back to the client's
//! redirect URI only once some user has consented to that client; before that, anyone could
//! have registered it with any URI, so the error is shown on levd's own page instead. Errors
//! after the user signed in and saw the consent page go back to the client.
use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use levd_store::{AttemptRule, CodeRow, GrantRow, InteractionRow, MembershipRow};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::pages::{self, Page};
use crate::password;
use crate::{AuthServer, CODE_TTL_SECS, INTERACTION_TTL_SECS, digest, is_form, parse_form, random_token, unix_now};

const CSRF_COOKIE: &str = "levd_oauth_csrf";

/// A validated authorization request, kept with the interaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub scope: String,
    pub audience: String,
    pub form_post: bool,
}

/// `GET /authorize`.
pub async fn start(State(s): State<Arc<AuthServer>>, RawQuery(q): RawQuery) -> Response {
    let params = match parse_form(q.as_deref().unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, &e),
    };
    let request = match s.validate(&params).await {
        Ok(r) => r,
        Err(Refusal::Show(status, msg)) => return pages::error(status, &msg),
        Err(Refusal::Redirect(target, error, description)) => {
            let client_id = params.get("client_id").map(String::as_str).unwrap_or_default();
            if s.approved(client_id).await {
                return s.redirect_error(&target, error, &description);
            }
            // Nobody has consented to this client yet: its redirect URI is whatever its
            // registrant wrote, so sending people there would make levd an open redirector.
            return pages::error(
                StatusCode::BAD_REQUEST,
                &format!("The application sent an invalid request ({error}): {description}."),
            );
        }
    };
    let handle = random_token();
    let csrf = random_token();
    let row = InteractionRow {
        csrf_digest: digest(&csrf),
        request: serde_json::to_string(&request).unwrap_or_default(),
        user_id: None,
        expires_at: unix_now() + INTERACTION_TTL_SECS,
    };
    if let Err(e) = s.store.insert_interaction(&digest(&handle), &row).await {
        tracing::error!(error = %e, "cannot store the sign-in interaction");
        return pages::error(StatusCode::SERVICE_UNAVAILABLE, "The server cannot start a sign-in right now.");
    }
    let mut r = pages::sign_in(&Page { handle: &handle, csrf: &csrf, request: &request }, None, StatusCode::OK);
    let secure = if s.base.starts_with("https://") { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={csrf}; Path=/authorize; HttpOnly; SameSite=Strict; Max-Age={INTERACTION_TTL_SECS}{secure}"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

enum Refusal {
    /// Shown to the user: the redirect target cannot be trusted.
    Show(StatusCode, String),
    /// Sent back to the (validated) redirect URI: (target, error code, description).
    Redirect(Target, &'static str, String),
}

/// Where an answer goes once the redirect URI is known good.
pub struct Target {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub form_post: bool,
}

impl AuthServer {
    async fn validate(&self, p: &HashMap<String, String>) -> Result<AuthRequest, Refusal> {
        let show = |m: &str| Refusal::Show(StatusCode::BAD_REQUEST, m.to_owned());
        let client_id = p.get("client_id").ok_or_else(|| show("The request names no client (client_id)."))?;
        let client = match self.client(client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(show("The application is not registered with this server.")),
            Err(e) => return Err(show(&format!("The application could not be verified: {}", e.description))),
        };
        let redirect_uri = match p.get("redirect_uri") {
            Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.clone(),
            Some(_) => return Err(show("The redirect URI is not registered for this application.")),
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => return Err(show("The request must name one of the application's redirect URIs.")),
        };
        let form_post = match p.get("response_mode").map(String::as_str) {
            None | Some("query") => false,
            Some("form_post") => true,
            Some(_) => {
                return Err(Refusal::Redirect(
                    Target { redirect_uri, state: p.get("state").cloned(), form_post: false },
                    "invalid_request",
                    "response_mode must be query or form_post".into(),
                ));
            }
        };
        let target = || Target { redirect_uri: redirect_uri.clone(), state: p.get("state").cloned(), form_post };
        let refuse = |error: &'static str, d: &str| Refusal::Redirect(target(), error, d.to_owned());
        if p.get("state").is_some_and(|s| s.len() > 2000) {
            return Err(refuse("invalid_request", "state is too long"));
        }
        match p.get("response_type").map(String::as_str) {
            Some("code") => {}
            None => return Err(refuse("invalid_request", "response_type is required")),
            Some(_) => return Err(refuse("unsupported_response_type", "only response_type=code is supported")),
        }
        let challenge = p
            .get("code_challenge")
            .ok_or_else(|| refuse("invalid_request", "PKCE is required: send code_challenge with method S256"))?;
        match p.get("code_challenge_method").map(String::as_str) {
            Some("S256") => {}
            // RFC 7636: an absent method means plain, which this server does not accept.
            None | Some("plain") => {
                return Err(refuse("invalid_request", "code_challenge_method must be S256 (plain is not accepted)"));
            }
            Some(_) => return Err(refuse("invalid_request", "code_challenge_method must be S256")),
        }
        if challenge.len() != 43 || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(refuse("invalid_request", "code_challenge must be a base64url SHA-256 digest (43 characters)"));
        }
        let scope = match p.get("scope") {
            None => "openid email offline_access".to_owned(),
            Some(s) => {
                let requested: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
                if let Some(bad) = requested.iter().find(|x| !crate::SCOPES.contains(x)) {
                    return Err(refuse("invalid_scope", &format!("scope `{bad}` is not supported")));
                }
                let mut kept: Vec<&str> = crate::SCOPES.iter().copied().filter(|x| requested.contains(x)).collect();
                kept.dedup();
                kept.join(" ")
            }
        };
        let audience = match p.get("resource") {
            None => self.issuer(),
            Some(r) => self.canonical_resource(r).ok_or_else(|| {
                refuse("invalid_target", "resource must be this server's URL, its /mcp endpoint or its REST API")
            })?,
        };
        Ok(AuthRequest {
            client_id: client.client_id,
            client_name: client.name,
            redirect_uri,
            state: p.get("state").cloned(),
            code_challenge: challenge.clone(),
            scope,
            audience,
            form_post,
        })
    }

    /// The audience for a `resource` parameter, if it names one of levd's resources.
    pub(crate) fn canonical_resource(&self, r: &str) -> Option<String> {
        let trimmed = r.trim_end_matches('/');
        if trimmed == self.base {
            return Some(self.issuer());
        }
        self.resources().into_iter().find(|known| known == trimmed)
    }

    fn redirect_error(&self, target: &Target, error: &str, description: &str) -> Response {
        self.redirect(target, &[("error", error), ("error_description", description)])
    }

    /// Sends parameters back to the client: a 303 to the redirect URI, or a self-submitting
    /// form for `form_post`. Always carries `state` and `iss` (RFC 9207).
    fn redirect(&self, target: &Target, params: &[(&str, &str)]) -> Response {
        let issuer = self.issuer();
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = &target.state {
            all.push(("state", state));
        }
        all.push(("iss", &issuer));
        if target.form_post {
            return pages::form_post(&target.redirect_uri, &all);
        }
        let Ok(mut url) = url::Url::parse(&target.redirect_uri) else {
            return pages::error(StatusCode::BAD_REQUEST, "The redirect URI is not usable.");
        };
        url.query_pairs_mut().extend_pairs(all.iter());
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(url.as_str()) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        crate::no_store(&mut r);
        r
    }

    /// Checks the CSRF cookie and field against the interaction and returns it.
    async fn interaction(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<(String, InteractionRow, AuthRequest), Response> {
        let expired = || {
            pages::error(
                StatusCode::BAD_REQUEST,
                "This sign-in form has expired or was opened elsewhere. Start again from your application.",
            )
        };
        let handle = form.get("interaction").ok_or_else(expired)?;
        let field = form.get("csrf").ok_or_else(expired)?;
        let cookie = cookie_value(headers, CSRF_COOKIE).ok_or_else(expired)?;
        let same: bool = field.as_bytes().ct_eq(cookie.as_bytes()).into();
        if !same {
            return Err(expired());
        }
        let id = digest(handle);
        let row = match self.store.interaction(&id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(expired()),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the sign-in interaction");
                return Err(pages::error(StatusCode::SERVICE_UNAVAILABLE, "The server cannot continue right now."));
            }
        };
        let csrf_ok: bool = digest(field).as_bytes().ct_eq(row.csrf_digest.as_bytes()).into();
        if !csrf_ok || row.expires_at < unix_now() {
            return Err(expired());
        }
        let request: AuthRequest = serde_json::from_str(&row.request).map_err(|_| expired())?;
        Ok((id, row, request))
    }

    async fn memberships(&self, user_id: i64) -> Result<Vec<MembershipRow>, Response> {
        self.store.memberships_of(user_id).await.map_err(|e| {
            tracing::error!(error = %e, "cannot read memberships");
            pages::error(StatusCode::SERVICE_UNAVAILABLE, "The server cannot continue right now.")
        })
    }

    /// Whether `/authorize` may send errors to this client's redirect URI: some user has
    /// consented to it.
    async fn approved(&self, client_id: &str) -> bool {
        match self.store.client_has_active_grant(client_id).await {
            Ok(yes) => yes,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the grants of a client");
                false
            }
        }
    }

    /// Reserves a sign-in attempt in every bucket, before any password is checked. On refusal
    /// the buckets already reserved are given back.
    async fn reserve_attempt(&self, buckets: &[(String, AttemptRule)]) -> Result<(), Throttle> {
        let now = unix_now();
        for (i, (bucket, rule)) in buckets.iter().enumerate() {
            let refused = match self.store.reserve_signin_attempt(bucket, now, rule).await {
                Ok(Some(_)) => continue,
                Ok(None) => {
                    let retry_at = match self.store.signin_bucket(bucket).await {
                        Ok(Some(b)) if b.failures >= rule.limit => (b.window_start + rule.window).max(b.not_before),
                        Ok(Some(b)) => b.not_before,
                        _ => now + 1,
                    };
                    Throttle::Wait((retry_at - now).max(1))
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot reserve a sign-in attempt");
                    Throttle::Unavailable
                }
            };
            self.release_attempt(&buckets[..i]).await;
            return Err(refused);
        }
        Ok(())
    }

    /// Gives back reserved attempts that were never checked.
    async fn release_attempt(&self, buckets: &[(String, AttemptRule)]) {
        for (bucket, _) in buckets {
            if let Err(e) = self.store.release_signin_attempt(bucket).await {
                tracing::error!(error = %e, "cannot give back a sign-in attempt");
            }
        }
    }
}

/// Why a sign-in attempt was not checked.
enum Throttle {
    /// Too many failures: come back in this many seconds.
    Wait(i64),
    Unavailable,
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// The client address as sign-in throttling counts it: IPv4 as is (also when it arrives
/// IPv4-mapped), IPv6 by its /64, the block one subscriber usually holds whole.
fn address_key(ip: std::net::IpAddr) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{}/64", std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// Longest e-mail address (RFC 5321 path limit); longer ones cannot belong to anyone.
const MAX_EMAIL_LEN: usize = 320;

fn retry_after(r: &mut Response, seconds: i64) {
    if let Ok(v) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, Response> {
    if !is_form(headers) || body.len() > 16 * 1024 {
        return Err(pages::error(StatusCode::BAD_REQUEST, "The form could not be read."));
    }
    parse_form(body).map_err(|e| pages::error(StatusCode::BAD_REQUEST, &e))
}

/// `POST /authorize/sign-in`: checks the password, then shows the consent page.
pub async fn sign_in(State(s): State<Arc<AuthServer>>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    // The client address the outermost layer resolved (through trusted proxies).
    let peer =
        parts.extensions.get::<levd_domain::net::ClientAddr>().map_or_else(|| "local".to_owned(), |c| address_key(c.0));
    let headers = parts.headers;
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
        return pages::error(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.");
    };
    let form = match read_form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (id, _row, request) = match s.interaction(&headers, &form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (handle, csrf) = (&form["interaction"], &form["csrf"]);
    let page = Page { handle, csrf, request: &request };
    let email = form.get("email").map(|e| e.trim().to_lowercase()).unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    if email.len() > MAX_EMAIL_LEN {
        return pages::sign_in(&page, Some("The e-mail address or password is incorrect."), StatusCode::UNAUTHORIZED);
    }
    let settings = &s.settings;
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let window = secs(settings.signin_window);
    let counted = |limit| AttemptRule { window, limit, free_failures: i64::MAX, base_delay: 0, max_delay: 0 };
    let pair_bucket = format!("email-from:{peer} {email}");
    let email_bucket = format!("email:{email}");
    // Hard limits only where they hurt nobody but the caller: one e-mail address from one
    // client address, and one client address. Across addresses, an e-mail address only slows
    // down, so failures elsewhere cannot lock its user out.
    let buckets = [
        (pair_bucket.clone(), counted(settings.signin_failures_per_email_and_address)),
        (format!("ip:{peer}"), counted(settings.signin_failures_per_ip)),
        (
            email_bucket.clone(),
            AttemptRule {
                window,
                limit: i64::MAX,
                free_failures: settings.signin_free_failures_per_email,
                base_delay: secs(settings.signin_delay_base),
                max_delay: secs(settings.signin_delay_max),
            },
        ),
    ];
    match s.reserve_attempt(&buckets).await {
        Ok(()) => {}
        Err(Throttle::Wait(seconds)) => {
            let when =
                if seconds < 120 { format!("{seconds} seconds") } else { format!("{} minutes", (seconds + 59) / 60) };
            let mut r = pages::sign_in(
                &page,
                Some(&format!("Too many failed sign-ins. Try again in {when}.")),
                StatusCode::TOO_MANY_REQUESTS,
            );
            retry_after(&mut r, seconds);
            return r;
        }
        Err(Throttle::Unavailable) => {
            return pages::error(StatusCode::SERVICE_UNAVAILABLE, "The server cannot continue right now.");
        }
    }
    let user = match s.store.user_by_email(&email).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the user");
            s.release_attempt(&buckets).await;
            return pages::error(StatusCode::SERVICE_UNAVAILABLE, "The server cannot continue right now.");
        }
    };
    let stored = match &user {
        Some(u) => s.store.password_hash(u.id).await.ok().flatten(),
        None => None,
    };
    let ok = match s.passwords.verify(password, stored).await {
        Ok(ok) => ok,
        Err(password::Busy) => {
            s.release_attempt(&buckets).await;
            tracing::warn!("every password-check slot stayed busy; sign-in refused");
            let wait = secs(settings.password_wait).max(1);
            let mut r = pages::sign_in(
                &page,
                Some("The server is busy. Try again in a few seconds."),
                StatusCode::SERVICE_UNAVAILABLE,
            );
            retry_after(&mut r, wait);
            return r;
        }
    };
    let user = match (ok, user) {
        (true, Some(u)) if u.subject.is_some() => u,
        _ => {
            // The reserved attempts stay counted: they are this failure's record.
            tracing::info!(client_id = %request.client_id, "failed sign-in");
            return pages::sign_in(
                &page,
                Some("The e-mail address or password is incorrect."),
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    for bucket in [&pair_bucket, &email_bucket] {
        if let Err(e) = s.store.clear_signin_failures(bucket).await {
            tracing::error!(error = %e, "cannot clear failed sign-ins");
        }
    }
    let memberships = match s.memberships(user.id).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if memberships.is_empty() {
        return pages::error(StatusCode::FORBIDDEN, "Your user is not an active member of any account.");
    }
    if let Err(e) = s.store.set_interaction_user(&id, user.id).await {
        tracing::error!(error = %e, "cannot record the sign-in");
        return pages::error(StatusCode::SERVICE_UNAVAILABLE, "The server cannot continue right now.");
    }
    let preferred = user.active_account_id;
    pages::consent(&page, &user.email, &memberships, preferred)
}

/// `POST /authorize/consent`: the user allowed or denied; the code (or the refusal) goes back
/// to the client.
pub async fn consent(State(s): State<Arc<AuthServer>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match read_form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (id, row, request) = match s.interaction(&headers, &form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(user_id) = row.user_id else {
        return pages::error(StatusCode::BAD_REQUEST, "Sign in first.");
    };
    // Single use: a double submit or a replayed form finds nothing.
    match s.store.take_interaction(&id).await {
        Ok(true) => {}
        Ok(false) => return pages::error(StatusCode::BAD_REQUEST, "This consent was already answered."),
        Err(e) => {
            tracing::error!(error = %e, "cannot end the sign-in interaction");
            return pages::error(StatusCode::SERVICE_UNAVAILABLE, "The server cannot continue right now.");
        }
    }
    let target = Target {
        redirect_uri: request.redirect_uri.clone(),
        state: request.state.clone(),
        form_post: request.form_post,
    };
    if form.get("decision").map(String::as_str) != Some("allow") {
        return s.redirect_error(&target, "access_denied", "the user denied the request");
    }
    let memberships = match s.memberships(user_id).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let chosen = form.get("account").and_then(|slug| memberships.iter().find(|m| &m.slug == slug));
    let Some(account) = chosen else {
        return pages::error(StatusCode::BAD_REQUEST, "Choose one of your accounts.");
    };
    // The chosen account becomes the user's saved preference (as PATCH /me/active-account).
    if let Err(e) = s.store.set_active_account(user_id, Some(account.account_id)).await {
        tracing::error!(error = %e, "cannot save the active account");
        return pages::error(StatusCode::SERVICE_UNAVAILABLE, "The server cannot continue right now.");
    }
    s.auth.invalidate();
    let now = unix_now();
    let grant = GrantRow {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: request.client_id.clone(),
        user_id,
        scope: request.scope.clone(),
        audience: request.audience.clone(),
        created_at: now,
        revoked_at: None,
    };
    let code = random_token();
    let code_row = CodeRow {
        grant_id: grant.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        expires_at: now + CODE_TTL_SECS,
    };
    if let Err(e) = s.store.insert_grant_with_code(&grant, &digest(&code), &code_row).await {
        tracing::error!(error = %e, "cannot store the issued code");
        return s.redirect_error(&target, "server_error", "the authorization could not be recorded");
    }
    tracing::info!(client_id = %request.client_id, user_id, account = %account.slug, "consent given, code issued");
    s.redirect(&target, &[("code", &code)])
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn throttling_keys_ipv6_clients_by_their_64() {
        let key = |s: &str| address_key(s.parse().unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)));
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb:cccc:dddd:eeee"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}
