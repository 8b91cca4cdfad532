//! The built-in authorization server, end to end over HTTP: metadata, registration, sign-in,
//! consent, tokens, refresh rotation, revocation, and every refusal that protects them.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::*;
use levd::secret_key::SecretKeySource;
use levd_domain::scope::{Role, Tier};

pub const PASSWORD: &str = "correct horse battery staple";

/// A browser-like client that does not follow redirects.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

pub fn verifier() -> String {
    URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()) + &URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no hidden field {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(url).unwrap();
    u.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

pub struct Flow {
    pub base: String,
    pub http: reqwest::Client,
    pub client_id: String,
    pub redirect_uri: String,
    pub email: String,
}

/// A tenant whose admin can sign in with [`PASSWORD`]; returns (tenant, e-mail).
pub async fn signin_tenant(app: &TestApp, slug: &str) -> (Tenant, String) {
    let t = app.tenant(slug).await;
    let user = app.store.user_by_id(t.user_id).await.unwrap().unwrap();
    let hash = levd_oauth::password::hash(PASSWORD).unwrap();
    app.store.set_password(t.user_id, &hash, "unused").await.unwrap();
    (t, user.email)
}

pub async fn register(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let r = app.client.post(format!("{}/oidc/register", app.base)).json(&body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

impl Flow {
    pub async fn public(app: &TestApp, email: &str) -> Flow {
        let redirect_uri = "http://127.0.0.1:9/callback".to_string();
        let (status, body) = register(
            app,
            json!({"client_name": "Test Client", "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body.get("client_secret").is_none());
        Flow {
            base: app.base.clone(),
            http: browser(),
            client_id: body["client_id"].as_str().unwrap().to_string(),
            redirect_uri,
            email: email.to_string(),
        }
    }

    pub fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let mut u = url::Url::parse(&format!("{}/authorize", self.base)).unwrap();
        {
            let mut q = u.query_pairs_mut();
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        u.to_string()
    }

    pub(crate) fn standard(&self, challenge: &str) -> Vec<(String, String)> {
        vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), self.client_id.clone()),
            ("redirect_uri".into(), self.redirect_uri.clone()),
            ("state".into(), "st-123".into()),
            ("code_challenge".into(), challenge.into()),
            ("code_challenge_method".into(), "S256".into()),
        ]
    }

    /// Opens the sign-in page; returns (status, cookie, html, location).
    pub async fn open(&self, params: &[(String, String)]) -> (StatusCode, Option<String>, String, Option<String>) {
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = self.http.get(self.authorize_url(&pairs)).send().await.unwrap();
        let status = r.status();
        let cookie = r.headers().get("set-cookie").map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
        let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        (status, cookie, r.text().await.unwrap(), location)
    }

    /// Opens the sign-in page of a valid request.
    pub async fn begin(&self, params: &[(String, String)]) -> Interaction<'_> {
        let (status, cookie, html, _) = self.open(params).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        Interaction {
            flow: self,
            cookie: cookie.expect("csrf cookie"),
            interaction: hidden(&html, "interaction"),
            csrf: hidden(&html, "csrf"),
            page: html,
        }
    }

    /// Signs in and allows; returns the redirect location.
    pub async fn consent_with(&self, params: &[(String, String)], password: &str) -> String {
        let i = self.begin(params).await;
        let r = i.sign_in(password).await;
        assert_eq!(r.status(), StatusCode::OK);
        let account = hidden_option(&r.text().await.unwrap());
        let r = i.consent("allow", &account).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        r.headers()["location"].to_str().unwrap().to_string()
    }

    /// The whole browser part; returns (code, verifier).
    pub async fn code(&self, extra: &[(&str, &str)]) -> (String, String) {
        let v = verifier();
        let mut params = self.standard(&challenge(&v));
        params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let location = self.consent_with(&params, PASSWORD).await;
        assert!(location.starts_with(&self.redirect_uri), "{location}");
        assert_eq!(query_param(&location, "state").as_deref(), Some("st-123"));
        assert_eq!(query_param(&location, "iss").as_deref(), Some(format!("{}/", self.base).as_str()));
        (query_param(&location, "code").expect("code"), v)
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut all: Vec<(&str, &str)> = form.to_vec();
        all.push(("client_id", &self.client_id));
        let r = self.http.post(format!("{}/oauth/token", self.base)).form(&all).send().await.unwrap();
        let status = r.status();
        assert_eq!(r.headers()["cache-control"], "no-store");
        (status, r.json().await.unwrap())
    }

    pub async fn exchange(&self, code: &str, verifier: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", &self.redirect_uri),
        ])
        .await
    }

    /// Access and refresh token through the whole flow.
    pub async fn tokens(&self) -> Value {
        let (code, v) = self.code(&[]).await;
        let (status, body) = self.exchange(&code, &v).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// A sign-in in progress: the CSRF cookie and the hidden fields of its forms.
pub struct Interaction<'a> {
    flow: &'a Flow,
    cookie: String,
    interaction: String,
    csrf: String,
    /// The sign-in page as served.
    page: String,
}

impl Interaction<'_> {
    /// The same interaction (cookie, CSRF field) continued through `flow`, e.g. on another node.
    pub(crate) fn via<'b>(&self, flow: &'b Flow) -> Interaction<'b> {
        Interaction {
            flow,
            cookie: self.cookie.clone(),
            interaction: self.interaction.clone(),
            csrf: self.csrf.clone(),
            page: self.page.clone(),
        }
    }

    /// Posts a form of this interaction with the given cookie and CSRF field.
    async fn post(&self, path: &str, cookie: &str, csrf: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![("interaction", self.interaction.as_str()), ("csrf", csrf)];
        form.extend_from_slice(fields);
        let url = format!("{}{path}", self.flow.base);
        self.flow.http.post(url).header("cookie", cookie).form(&form).send().await.unwrap()
    }

    pub(crate) async fn sign_in(&self, password: &str) -> reqwest::Response {
        let fields = [("email", self.flow.email.as_str()), ("password", password)];
        self.post("/authorize/sign-in", &self.cookie, &self.csrf, &fields).await
    }

    /// Signs in with another e-mail address (owned arguments, for bursts of parallel calls).
    pub(crate) async fn sign_in_as(&self, email: String, password: String) -> reqwest::Response {
        let fields = [("email", email.as_str()), ("password", password.as_str())];
        self.post("/authorize/sign-in", &self.cookie, &self.csrf, &fields).await
    }

    async fn consent(&self, decision: &str, account: &str) -> reqwest::Response {
        self.post("/authorize/consent", &self.cookie, &self.csrf, &[("decision", decision), ("account", account)]).await
    }
}

/// The payload of a JWT (already verified by whoever issued it).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The value of the selected (or first) account option on the consent page.
fn hidden_option(html: &str) -> String {
    let start = html.find("<option value=\"").expect("an account option") + "<option value=\"".len();
    html[start..].split('"').next().unwrap().to_string()
}

async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    parts(app.get("/me", token).send().await.unwrap()).await
}

#[tokio::test]
async fn metadata_documents_carry_every_member_with_levd_urls() {
    let app = spawn().await;
    let b = &app.base;
    let r = app.client.get(format!("{b}/.well-known/oauth-authorization-server")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["issuer"], format!("{b}/"));
    assert_eq!(m["authorization_endpoint"], format!("{b}/authorize"));
    assert_eq!(m["token_endpoint"], format!("{b}/oauth/token"));
    assert_eq!(m["registration_endpoint"], format!("{b}/oidc/register"));
    assert_eq!(m["revocation_endpoint"], format!("{b}/oauth/revoke"));
    assert_eq!(m["jwks_uri"], format!("{b}/.well-known/jwks.json"));
    assert_eq!(m["scopes_supported"], json!(["openid", "email", "offline_access"]));
    assert_eq!(m["response_types_supported"], json!(["code"]));
    assert_eq!(m["response_modes_supported"], json!(["query", "form_post"]));
    assert_eq!(m["grant_types_supported"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_post", "client_secret_basic"])
    );

    let pr: Value =
        app.client.get(format!("{b}/.well-known/oauth-protected-resource")).send().await.unwrap().json().await.unwrap();
    assert_eq!(pr["resource"], format!("{b}/"));
    assert_eq!(pr["authorization_servers"], json!([format!("{b}/")]));
    let pr = body_json(app.client.get(format!("{b}/.well-known/oauth-protected-resource/mcp"))).await;
    assert_eq!(pr["resource"], format!("{b}/mcp"));
    assert_eq!(pr["authorization_servers"], json!([format!("{b}/")]));

    let jwks: Value = app.client.get(format!("{b}/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["alg"], "RS256");
    assert!(keys[0].get("d").is_none(), "private material must never be published");

    // Browser-based clients may call the machine endpoints cross-origin (no cookies involved).
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{b}/oauth/token"))
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = app.client.get(format!("{b}/.well-known/oauth-authorization-server")).send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    // The sign-in pages are not cross-origin resources.
    let r = app.client.get(format!("{b}/authorize")).send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

#[tokio::test]
async fn full_flow_token_works_on_the_rest_api_and_refresh_rotates() {
    let app = spawn().await;
    let (t, email) = signin_tenant(&app, "oauth-flow").await;
    let flow = Flow::public(&app, &email).await;
    let tokens = flow.tokens().await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().unwrap();

    // The claims the issue asks for.
    let claims = claims_of(access);
    for c in ["iss", "aud", "sub", "exp", "iat", "jti", "scope"] {
        assert!(claims.get(c).is_some(), "claim {c} missing: {claims}");
    }
    assert_eq!(claims["iss"], format!("{}/", app.base));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);

    let (status, body) = me(&app, access).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["user"]["email"], email.as_str());
    assert_eq!(body["data"]["account"]["slug"], t.account.slug.as_str(), "the consented account is active");
    let (status, deals) = parts(app.get("/deals", access).send().await.unwrap()).await;
    assert_eq!(status, 200, "{deals}");

    // Refresh: a new pair; the old refresh token is spent.
    let old_refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let (status, fresh) = flow.token(&[("grant_type", "refresh_token"), ("refresh_token", &old_refresh)]).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    assert_ne!(fresh["refresh_token"], tokens["refresh_token"]);
    let new_access = fresh["access_token"].as_str().unwrap().to_string();
    assert_eq!(me(&app, &new_access).await.0, 200);

    // Reusing the old refresh token revokes the whole family, including the new tokens.
    let (status, body) = flow.token(&[("grant_type", "refresh_token"), ("refresh_token", &old_refresh)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(me(&app, &new_access).await.0, 401);
    let (status, _) = flow
        .token(&[("grant_type", "refresh_token"), ("refresh_token", fresh["refresh_token"].as_str().unwrap())])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the rotated refresh token dies with its family");
    app.stop().await;
}

#[tokio::test]
async fn pkce_is_required_and_only_s256() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-pkce").await;
    let flow = Flow::public(&app, &email).await;
    let v = verifier();
    let base = flow.standard(&challenge(&v));

    // Missing challenge, plain method, missing method (= plain): refused back to the client
    // (once a user has consented to it; before that the error is only shown).
    let _ = flow.code(&[]).await;
    let without: Vec<_> = base.iter().filter(|(k, _)| !k.starts_with("code_challenge")).cloned().collect();
    let mut plain = base.clone();
    plain.retain(|(k, _)| k != "code_challenge_method");
    let no_method = plain.clone();
    plain.push(("code_challenge_method".into(), "plain".into()));
    for params in [without, plain, no_method] {
        let (status, cookie, _, location) = flow.open(&params).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(cookie.is_none(), "no sign-in may start");
        let location = location.unwrap();
        assert_eq!(query_param(&location, "error").as_deref(), Some("invalid_request"));
        assert_eq!(query_param(&location, "state").as_deref(), Some("st-123"));
        assert!(query_param(&location, "code").is_none());
    }

    // A wrong verifier does not get a token.
    let (code, _right) = flow.code(&[]).await;
    let (status, body) = flow.exchange(&code, &verifier()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    // Nor a missing one.
    let (code, _) = flow.code(&[]).await;
    let (status, body) = flow
        .token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &flow.redirect_uri)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    app.stop().await;
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_issued() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-reuse").await;
    let flow = Flow::public(&app, &email).await;
    let (code, v) = flow.code(&[]).await;
    let (status, first) = flow.exchange(&code, &v).await;
    assert_eq!(status, StatusCode::OK);
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(me(&app, access).await.0, 200);

    let (status, body) = flow.exchange(&code, &v).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(me(&app, access).await.0, 401, "tokens issued from a replayed code are revoked");
    let (status, _) = flow
        .token(&[("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn redirect_uris_must_match_exactly_and_never_become_open_redirects() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-redirect").await;
    let flow = Flow::public(&app, &email).await;
    let v = verifier();
    for bad in [
        "https://evil.example/callback",
        "http://127.0.0.1:9/callback/extra",
        "http://127.0.0.1:9/callback?x=1",
        "http://127.0.0.1:9/Callback",
        "http://127.0.0.1:10/callback",
    ] {
        let mut params = flow.standard(&challenge(&v));
        params.retain(|(k, _)| k != "redirect_uri");
        params.push(("redirect_uri".into(), bad.into()));
        let (status, cookie, html, location) = flow.open(&params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(location.is_none(), "never redirect to an unregistered URI: {bad}");
        assert!(cookie.is_none());
        assert!(html.contains("not registered"), "{html}");
    }
    // Unknown client: shown, not redirected.
    let mut params = flow.standard(&challenge(&v));
    params.retain(|(k, _)| k != "client_id");
    params.push(("client_id".into(), "levd_unknown".into()));
    let (status, _, _, location) = flow.open(&params).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(location.is_none());

    // The token endpoint checks the redirect URI again.
    let (code, v) = flow.code(&[]).await;
    let (status, body) = flow
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &v),
            ("redirect_uri", "https://evil.example/callback"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    // Registration refuses dangerous redirect URIs.
    for bad in ["javascript:alert(1)", "http://evil.example/cb", "https://a.example/cb#frag", "not a uri"] {
        let (status, body) =
            register(&app, json!({"redirect_uris": [bad], "token_endpoint_auth_method": "none"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"], "invalid_redirect_uri");
    }
    app.stop().await;
}

/// Signs claims with the server's own current key, read from its database.
async fn sign_with_server_key(app: &TestApp, claims: &Value) -> String {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let keys = app.store.signing_keys().await.unwrap();
    let key = keys.iter().find(|k| k.retired_at.is_none()).expect("a signing key");
    let der = rsa::RsaPrivateKey::from_pkcs8_pem(&key.private_pem).unwrap().to_pkcs1_der().unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&h, claims, &jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
}

#[tokio::test]
async fn expired_revoked_foreign_audience_and_untrusted_tokens_are_refused() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-neg").await;
    let flow = Flow::public(&app, &email).await;
    let tokens = flow.tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(me(&app, access).await.0, 200);

    // Expired (beyond the leeway), signed with the real key.
    let mut expired = claims.clone();
    expired["iat"] = json!(now() - 4000);
    expired["nbf"] = json!(now() - 4000);
    expired["exp"] = json!(now() - 3000);
    expired["jti"] = json!(uuid::Uuid::new_v4().to_string());
    let expired = sign_with_server_key(&app, &expired).await;
    assert_eq!(me(&app, &expired).await.0, 401);
    // The control: the same construction, unexpired, is accepted.
    let mut live = claims.clone();
    live["jti"] = json!(uuid::Uuid::new_v4().to_string());
    assert_eq!(me(&app, &sign_with_server_key(&app, &live).await).await.0, 200);

    // Another audience.
    let mut foreign = claims.clone();
    foreign["aud"] = json!("https://other.example/");
    foreign["jti"] = json!(uuid::Uuid::new_v4().to_string());
    assert_eq!(me(&app, &sign_with_server_key(&app, &foreign).await).await.0, 401);

    // Our issuer, an untrusted key (same kid).
    let kid = app.store.signing_keys().await.unwrap()[0].kid.clone();
    let forged = sign(rogue_key(), Some(&kid), &live);
    assert_eq!(me(&app, &forged).await.0, 401);
    // An issuer nobody configured.
    let mut other_iss = live.clone();
    other_iss["iss"] = json!("https://idp.untrusted.example/");
    assert_eq!(me(&app, &sign(rogue_key(), Some("x"), &other_iss)).await.0, 401);

    // Revoked through RFC 7009: the access token and its refresh token stop working.
    let r = flow
        .http
        .post(format!("{}/oauth/revoke", app.base))
        .form(&[("token", access), ("client_id", &flow.client_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(me(&app, access).await.0, 401);
    let (status, _) = flow
        .token(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Revoking by refresh token works too.
    let tokens = flow.tokens().await;
    let r = flow
        .http
        .post(format!("{}/oauth/revoke", app.base))
        .form(&[("token", tokens["refresh_token"].as_str().unwrap()), ("client_id", flow.client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(me(&app, tokens["access_token"].as_str().unwrap()).await.0, 401);
    app.stop().await;
}

#[tokio::test]
async fn resource_parameter_binds_the_audience() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-aud").await;
    let flow = Flow::public(&app, &email).await;
    let rest = format!("{}/api/external/v2", app.base);
    let (code, v) = flow.code(&[("resource", &rest)]).await;
    let (status, tokens) = flow.exchange(&code, &v).await;
    assert_eq!(status, StatusCode::OK);
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], rest);

    // A resource that is not levd's is refused at /authorize.
    let mut params = flow.standard(&challenge(&verifier()));
    params.push(("resource".into(), "https://other.example/api".into()));
    let (status, _, _, location) = flow.open(&params).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(query_param(&location.unwrap(), "error").as_deref(), Some("invalid_target"));
    app.stop().await;
}

#[tokio::test]
async fn sign_in_needs_the_csrf_cookie_and_failures_are_rate_limited() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-csrf").await;
    let flow = Flow::public(&app, &email).await;
    let i = flow.begin(&flow.standard(&challenge(&verifier()))).await;
    // Without the cookie (a cross-site post), and with a wrong field: refused.
    let credentials = [("email", email.as_str()), ("password", PASSWORD)];
    let r = i.post("/authorize/sign-in", "levd_oauth_csrf=wrong", &i.csrf, &credentials).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = i.post("/authorize/sign-in", &i.cookie, "forged", &credentials).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));

    // Wrong passwords: five are answered 401, then even the right one is held back.
    for _ in 0..5 {
        let r = i.sign_in("wrong password!").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.text().await.unwrap().contains("incorrect"));
    }
    assert_eq!(i.sign_in(PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[tokio::test]
async fn consent_shows_the_client_and_account_and_deny_returns_access_denied() {
    let app = spawn().await;
    let (t, email) = signin_tenant(&app, "oauth-deny").await;
    let second = app.account("oauth-deny-two", Tier::Standard).await;
    app.member(t.user_id, second.id, Role::Member).await;
    let flow = Flow::public(&app, &email).await;
    let i = flow.begin(&flow.standard(&challenge(&verifier()))).await;
    assert!(i.page.contains("Test Client"), "the client name is shown");
    let html = i.sign_in(PASSWORD).await.text().await.unwrap();
    assert!(html.contains("oauth-deny-two") && html.contains(&format!("value=\"{}\"", t.account.slug)), "{html}");
    let r = i.consent("deny", "oauth-deny-two").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(query_param(&location, "error").as_deref(), Some("access_denied"));
    assert!(query_param(&location, "code").is_none());
    // The interaction is spent.
    assert_eq!(i.consent("allow", "oauth-deny-two").await.status(), StatusCode::BAD_REQUEST);

    // Allowing with the second account makes it the active one for the token's user.
    let location = flow.consent_with(&params_with_fresh_challenge(&flow), PASSWORD).await;
    assert!(query_param(&location, "code").is_some());
    app.stop().await;
}

fn params_with_fresh_challenge(flow: &Flow) -> Vec<(String, String)> {
    flow.standard(&challenge(&verifier()))
}

#[tokio::test]
async fn confidential_clients_authenticate_with_basic_or_post() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-conf").await;
    let (status, reg) = register(
        &app,
        json!({"client_name": "Server App", "redirect_uris": ["https://app.example/cb"], "grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    let flow = Flow {
        base: app.base.clone(),
        http: browser(),
        client_id: reg["client_id"].as_str().unwrap().to_string(),
        redirect_uri: "https://app.example/cb".into(),
        email,
    };
    let (code, v) = flow.code(&[]).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("code_verifier", v.as_str())];
    // No secret, then a wrong one: invalid_client (401), and the code is not spent by it.
    let r = flow
        .http
        .post(format!("{}/oauth/token", app.base))
        .form(&[form.as_slice(), &[("client_id", flow.client_id.as_str())]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = flow
        .http
        .post(format!("{}/oauth/token", app.base))
        .basic_auth(&flow.client_id, Some("not-the-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_some());
    let r = flow
        .http
        .post(format!("{}/oauth/token", app.base))
        .basic_auth(&flow.client_id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    // client_secret_post for the refresh.
    let r = flow
        .http
        .post(format!("{}/oauth/token", app.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ("client_id", flow.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn client_id_metadata_documents_are_fetched_and_checked() {
    use axum::routing::get;
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-cimd").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let doc_base = format!("http://{}", listener.local_addr().unwrap());
    let good_id = format!("{doc_base}/client.json");
    let liar_id = format!("{doc_base}/liar.json");
    let (g, l) = (good_id.clone(), liar_id.clone());
    let docs = axum::Router::new()
        .route(
            "/client.json",
            get(move || {
                let g = g.clone();
                async move {
                    axum::Json(json!({"client_id": g, "client_name": "Doc Client", "redirect_uris": ["http://127.0.0.1:9/callback"], "token_endpoint_auth_method": "none"}))
                }
            }),
        )
        .route(
            "/liar.json",
            get(move || {
                let _ = l.clone();
                async move {
                    axum::Json(json!({"client_id": "https://someone.else/client.json", "redirect_uris": ["http://127.0.0.1:9/callback"], "token_endpoint_auth_method": "none"}))
                }
            }),
        )
        .route("/redirect.json", get(|| async { axum::response::Redirect::temporary("http://127.0.0.1:1/x") }));
    tokio::spawn(async move { axum::serve(listener, docs).await.unwrap() });

    let flow = Flow {
        base: app.base.clone(),
        http: browser(),
        client_id: good_id.clone(),

        redirect_uri: "http://127.0.0.1:9/callback".into(),
        email: email.clone(),
    };
    let (code, v) = flow.code(&[]).await;
    let (status, body) = flow.exchange(&code, &v).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for bad in [liar_id, format!("{doc_base}/redirect.json"), format!("{doc_base}/missing.json")] {
        let f = Flow {
            client_id: bad.clone(),
            ..Flow {
                http: browser(),
                base: app.base.clone(),
                redirect_uri: flow.redirect_uri.clone(),
                email: email.clone(),
                client_id: String::new(),
            }
        };
        let (status, _, _, location) = f.open(&f.standard(&challenge(&verifier()))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(location.is_none());
    }

    // Without the operator's permission, a document on a private address is never fetched.
    let strict = spawn_with(Options { oauth: Some(levd_oauth::OAuthSettings::default()), ..Options::default() }).await;
    let f = Flow {
        base: strict.base.clone(),
        http: browser(),
        client_id: good_id,
        redirect_uri: flow.redirect_uri.clone(),
        email,
    };
    let (status, _, html, location) = f.open(&f.standard(&challenge(&verifier()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(location.is_none());
    assert!(html.contains("could not be fetched or is not acceptable"), "{html}");
    strict.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-rotate").await;
    let flow = Flow::public(&app, &email).await;
    let before = flow.tokens().await;
    let old_kid = app.store.signing_keys().await.unwrap()[0].kid.clone();
    let ring = levd_oauth::KeyRing::new(app.store.clone(), 1020);
    let new_key = ring.rotate(now()).await.unwrap();
    let jwks: Value =
        app.client.get(format!("{}/.well-known/jwks.json", app.base)).send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_key.kid.as_str()), "{kids:?}");
    assert_eq!(me(&app, before["access_token"].as_str().unwrap()).await.0, 200, "old tokens live on");
    let after = flow.tokens().await;
    let header = jsonwebtoken::decode_header(after["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_key.kid.as_str()));
    assert_eq!(me(&app, after["access_token"].as_str().unwrap()).await.0, 200, "the verifier picks up the new key");
    app.stop().await;
}

#[tokio::test]
async fn form_post_response_mode_posts_the_code() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-formpost").await;
    let flow = Flow::public(&app, &email).await;
    let mut params = flow.standard(&challenge(&verifier()));
    params.push(("response_mode".into(), "form_post".into()));
    let i = flow.begin(&params).await;
    let account = hidden_option(&i.sign_in(PASSWORD).await.text().await.unwrap());
    let r = i.consent("allow", &account).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("action=\"http://127.0.0.1:9/callback\""), "{html}");
    assert!(!hidden(&html, "code").is_empty());
    assert_eq!(hidden(&html, "state"), "st-123");
    app.stop().await;
}

/// One MCP request (`initialize`, revision 2025-11-25) with a bearer token.
async fn mcp_initialize(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/mcp", app.base))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "levd-tests", "version": "0"}}}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn mcp_accepts_tokens_minted_for_it_and_refuses_other_audiences_and_missing_scopes() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-mcp").await;
    let flow = Flow::public(&app, &email).await;
    let metadata = format!("resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"", app.base);

    // Minted for /mcp: accepted there, refused on REST as a token for another audience.
    let mcp_resource = format!("{}/mcp", app.base);
    let (code, v) = flow.code(&[("resource", &mcp_resource)]).await;
    let (_, tokens) = flow.exchange(&code, &v).await;
    let for_mcp = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(mcp_initialize(&app, &for_mcp).await.status(), 200);
    let (status, refused) = me(&app, &for_mcp).await;
    assert_eq!(status, 401, "{refused}");
    assert_error(&refused, 401, "unauthorized");

    // Minted for the REST API only: fine on REST, refused on /mcp as a token for another audience.
    let rest = format!("{}/api/external/v2", app.base);
    let (code, v) = flow.code(&[("resource", &rest)]).await;
    let (_, tokens) = flow.exchange(&code, &v).await;
    let for_rest = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(me(&app, &for_rest).await.0, 200);
    let r = mcp_initialize(&app, &for_rest).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.contains("error=\"invalid_token\"") && challenge.contains(&metadata), "{challenge}");

    // A refresh narrowed to `email` drops `openid`: 403 insufficient_scope with a challenge.
    let (status, narrowed) = flow
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("scope", "email"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{narrowed}");
    let (code, v) = flow.code(&[("resource", &mcp_resource)]).await;
    let (_, tokens) = flow.exchange(&code, &v).await;
    let (_, narrowed) = flow
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("scope", "email"),
        ])
        .await;
    let r = mcp_initialize(&app, narrowed["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"openid\""),
        "{challenge}"
    );

    // A JWT from an issuer nobody trusts, and no token at all.
    let forged = sign(
        rogue_key(),
        Some("k"),
        &json!({"iss": format!("{}/", app.base), "aud": mcp_resource, "sub": "x", "exp": now() + 600}),
    );
    assert_eq!(mcp_initialize(&app, &forged).await.status(), 401);
    let r = app.client.post(format!("{}/mcp", app.base)).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains(&metadata));
    app.stop().await;
}

#[tokio::test]
async fn admin_sets_passwords_from_stdin_and_rotates_signing_keys() {
    let app = spawn().await;
    let t = app.tenant("oauth-admin").await;
    let email = app.store.user_by_id(t.user_id).await.unwrap().unwrap().email;

    let short = levd_admin(&app.db_url, &["user", "set-password", "--email", &email], "short\n");
    assert!(!short.status.success(), "a short password is refused");
    let out = levd_admin(&app.db_url, &["user", "set-password", "--email", &email], &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(!printed.contains(PASSWORD), "the password is never echoed");
    let stored = app.store.password_hash(t.user_id).await.unwrap().unwrap();
    assert!(stored.starts_with("$argon2id$") && !stored.contains(PASSWORD));

    // The password works on the sign-in page.
    let flow = Flow::public(&app, &email).await;
    let tokens = flow.tokens().await;
    assert_eq!(me(&app, tokens["access_token"].as_str().unwrap()).await.0, 200);

    // Rotation from the command line: the new key signs, the old one stays published.
    let old_kid = app.store.signing_keys().await.unwrap()[0].kid.clone();
    let out = levd_admin(&app.db_url, &["jwt", "rotate"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(v["signing_kid"], old_kid.as_str());
    let published: Vec<String> =
        v["published_kids"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    assert!(published.contains(&old_kid));
    assert_eq!(me(&app, tokens["access_token"].as_str().unwrap()).await.0, 200, "tokens of the old key live on");
    let fresh = flow.tokens().await;
    let header = jsonwebtoken::decode_header(fresh["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), v["signing_kid"].as_str());
    app.stop().await;
}

#[tokio::test]
async fn two_nodes_share_keys_grants_and_revocations() {
    let node_a = spawn().await;
    let (_t, email) = signin_tenant(&node_a, "oauth-nodes").await;
    let flow = Flow::public(&node_a, &email).await;
    let tokens = flow.tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    // Node B: same database, same public URL (one load balancer), keys read from the database.
    let node_b = node_a.second_node(Options::default()).await;
    assert_eq!(me(&node_b, access).await.0, 200);
    // A refresh at node B rotates the family node A issued.
    let r = flow
        .http
        .post(format!("{}/oauth/token", node_b.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", flow.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let fresh: Value = r.json().await.unwrap();
    let fresh_access = fresh["access_token"].as_str().unwrap();
    assert_eq!(me(&node_a, fresh_access).await.0, 200);
    assert_eq!(me(&node_b, fresh_access).await.0, 200, "node B has now cached the grant as active");
    // Revoked at node A: refused at node B within the epoch poll (twice a second).
    let r = flow
        .http
        .post(format!("{}/oauth/revoke", node_a.base))
        .form(&[("token", fresh_access), ("client_id", flow.client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let status = me(&node_b, fresh_access).await.0;
        if status == 401 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "node B still accepts a revoked token");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    node_b.stop().await;
    node_a.stop().await;
}

#[tokio::test]
async fn the_authorization_endpoints_are_limited_per_address() {
    use levd_domain::limits::RateLimitConfig;
    let app = spawn_with(Options { rate_limits: RateLimitConfig::default(), ..Options::default() }).await;
    let body = json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"});
    let mut limited = None;
    for n in 0..80 {
        let r = app.client.post(format!("{}/oidc/register", app.base)).json(&body).send().await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().get("retry-after").is_some());
            limited = Some(n);
            break;
        }
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let n = limited.expect("registrations are rate limited");
    assert!((55..=61).contains(&n), "limited after {n} registrations");
    // The metadata stays readable.
    let r = app.client.get(format!("{}/.well-known/oauth-authorization-server", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn admin_lists_a_users_grants_and_revokes_them_on_the_running_server() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-grants").await;
    let flow = Flow::public(&app, &email).await;
    let tokens = flow.tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(me(&app, access).await.0, 200);

    let out = levd_admin(&app.db_url, &["oauth", "grants", "--email", &email], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let grants: Value = serde_json::from_slice(&out.stdout).unwrap();
    let grants = grants.as_array().unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["client_id"], flow.client_id.as_str());
    assert_eq!(grants[0]["client_name"], "Test Client");

    // Another client's grants are left alone by a targeted revocation.
    let out = levd_admin(&app.db_url, &["oauth", "revoke", "--email", &email, "--client-id", "levd_other"], "");
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["revoked"], 0);
    assert_eq!(me(&app, access).await.0, 200);

    let out = levd_admin(&app.db_url, &["oauth", "revoke", "--email", &email], "");
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["revoked"], 1);
    // The running server learns of it through the epoch (polled twice a second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while me(&app, access).await.0 != 401 {
        assert!(std::time::Instant::now() < deadline, "the revoked token still works");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, _) = flow
        .token(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let out = levd_admin(&app.db_url, &["oauth", "grants", "--email", &email], "");
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), json!([]));
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Secrets at rest: the signing private keys and the file-link secret are encrypted with the
// secret key, which never enters the database.

/// The stored signing keys and file-link secret, read straight from the database.
async fn stored_secrets(app: &TestApp) -> Vec<String> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.db_url).await.unwrap();
    let mut out: Vec<String> = sqlx::query("SELECT private_pem FROM oauth_signing_keys")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    out.extend(
        sqlx::query("SELECT secret_hex FROM file_link_secrets")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0)),
    );
    conn.close().await.unwrap();
    out
}

async fn raw_exec(app: &TestApp, sql: &str, binds: &[&str]) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.db_url).await.unwrap();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for b in binds {
        q = q.bind(b.to_string());
    }
    q.execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// Makes the signing key and the file-link secret; returns (private PEM, link secret hex).
async fn make_secrets(app: &TestApp) -> (String, String) {
    levd_oauth::KeyRing::new(app.store.clone(), 0).ensure(now()).await.unwrap();
    let link = levd_domain::deal_data::LinkSecret::generate().unwrap().to_hex();
    let link = app.store.init_file_link_secret(&link, "2026-01-01T00:00:00Z").await.unwrap();
    let pem = app.store.signing_keys().await.unwrap()[0].private_pem.clone();
    assert!(pem.contains("PRIVATE KEY"), "the store hands out the opened key");
    (pem, link)
}

/// A link to a document that does not exist, signed with `secret_hex`: 404 when levd accepts
/// the signature, 403 when it does not.
async fn link_status(app: &TestApp, secret_hex: &str) -> u16 {
    use levd_domain::deal_data::{FileTarget, LinkSecret, sign_file_link};
    let secret = LinkSecret::from_hex(secret_hex).unwrap();
    let token = sign_file_link(&secret, FileTarget::Document(999_999), now() as u64 + 600);
    app.client.get(app.url(&format!("/files/{token}"))).send().await.unwrap().status().as_u16()
}

fn assert_sealed(stored: &[String], pem: &str, link: &str) {
    assert_eq!(stored.len(), 2, "one signing key and the link secret");
    let pem_body: String = pem.lines().filter(|l| !l.starts_with("-----")).take(2).collect();
    for v in stored {
        assert!(v.starts_with("enc:v1:"), "{v}");
        assert!(!v.contains("PRIVATE KEY") && !v.contains(&pem_body[..40]) && !v.contains(link), "{v}");
    }
}

#[tokio::test]
async fn signing_keys_and_the_link_secret_are_encrypted_at_rest_and_survive_a_restart() {
    let mut app = spawn().await;
    let (pem, link) = make_secrets(&app).await;
    let (_t, email) = signin_tenant(&app, "sealed").await;
    let access = Flow::public(&app, &email).await.tokens().await["access_token"].as_str().unwrap().to_string();
    assert_eq!(me(&app, &access).await.0, 200);
    assert_eq!(link_status(&app, &link).await, 404);
    assert_sealed(&stored_secrets(&app).await, &pem, &link);
    if postgres_admin_url().is_none() {
        // Nothing on disk holds the plaintext: the database file and its write-ahead log.
        let der_hint: String = pem.lines().filter(|l| !l.starts_with("-----")).take(1).collect();
        for path in [app.db_path.clone(), app.db_path.with_extension("db-wal")] {
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("PRIVATE KEY") && !text.contains(&der_hint),
                "{} holds the private key",
                path.display()
            );
            assert!(!text.contains(&link), "{} holds the link secret", path.display());
        }
    }

    // The same key after a restart: old tokens and links keep working, nothing is replaced.
    app.restart_with(SecretKeySource::Inline(TEST_SECRET_KEY.into())).await.unwrap();
    assert_eq!(me(&app, &access).await.0, 200);
    assert_eq!(link_status(&app, &link).await, 404);
    assert_eq!(app.store.signing_keys().await.unwrap()[0].private_pem, pem);
    assert_eq!(link_status(&app, &levd_domain::deal_data::LinkSecret::generate().unwrap().to_hex()).await, 403);
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_key_stops_the_start_with_a_clear_message() {
    let mut app = spawn().await;
    make_secrets(&app).await;
    let before = stored_secrets(&app).await;
    let other = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let e = app.restart_with(SecretKeySource::Inline(other.into())).await.expect_err("a wrong key must not start");
    assert!(e.contains("secret key") && e.contains("not among the configured secret keys"), "{e}");
    // Nothing was replaced, and the right key still starts.
    assert_eq!(stored_secrets(&app).await, before);
    app.restart_with(SecretKeySource::Inline(TEST_SECRET_KEY.into())).await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn plaintext_secrets_of_older_versions_are_encrypted_on_start_and_keep_working() {
    let mut app = spawn().await;
    let (pem, link) = make_secrets(&app).await;
    let (_t, email) = signin_tenant(&app, "legacy").await;
    let access = Flow::public(&app, &email).await.tokens().await["access_token"].as_str().unwrap().to_string();
    // What an older version left: the same secrets in plaintext.
    raw_exec(&app, "UPDATE oauth_signing_keys SET private_pem = $1", &[&pem]).await;
    raw_exec(&app, "UPDATE file_link_secrets SET secret_hex = $1", &[&link]).await;
    assert!(stored_secrets(&app).await.iter().all(|v| !v.starts_with("enc:")));

    app.restart_with(SecretKeySource::Inline(TEST_SECRET_KEY.into())).await.unwrap();
    assert_sealed(&stored_secrets(&app).await, &pem, &link);
    assert_eq!(me(&app, &access).await.0, 200);
    assert_eq!(link_status(&app, &link).await, 404);
    app.stop().await;
}

#[tokio::test]
async fn without_a_key_levd_creates_a_private_key_file_and_admin_rotation_reseals_everything() {
    // No authorization server at first, so nothing is sealed before levd makes its own key.
    let mut app = spawn_with(Options { oauth: None, ..Options::default() }).await;
    let data = app._dir.path().join("data");
    // Start with the key file levd generates in its data directory.
    app.restart_with(SecretKeySource::DataDir { dir: data.clone(), generate: true }).await.unwrap();
    let key_file = data.join("secret.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (pem, link) = make_secrets(&app).await;
    let (_t, email) = signin_tenant(&app, "rotated").await;
    let access = Flow::public(&app, &email).await.tokens().await["access_token"].as_str().unwrap().to_string();
    let first = stored_secrets(&app).await;
    assert_sealed(&first, &pem, &link);
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    app.halt().await;

    // Rotation while the server is stopped.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_levd"))
        .args(["admin", "secret-key", "rotate", "--database-url", &app.db_url, "--secret-key-file"])
        .arg(&key_file)
        .env_remove("LEV_SECRET_KEY")
        .env_remove("LEV_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["resealed"], 2, "{report}");
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(new_key.trim().lines().count(), 1, "the file keeps only the new key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let second = stored_secrets(&app).await;
    assert_sealed(&second, &pem, &link);
    assert_ne!(first, second);

    // The new key opens everything: old tokens and links keep working.
    app.restart_with(SecretKeySource::File(key_file.clone())).await.unwrap();
    assert_eq!(me(&app, &access).await.0, 200);
    assert_eq!(link_status(&app, &link).await, 404);
    app.halt().await;
    // The old key opens nothing any more.
    let e = app.restart_with(SecretKeySource::Inline(old_key.trim().into())).await.expect_err("the old key is refused");
    assert!(e.contains("not among the configured secret keys"), "{e}");
}
