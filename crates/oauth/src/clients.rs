//! Clients: RFC 7591 dynamic registration, client-ID metadata documents, and client
//! authentication at the token and revocation endpoints.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use levd_store::ClientRow;
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::{AuthServer, OAuthError, digest, no_store, random_token, store_failure, unix_now};

/// Largest registration request and metadata document.
const MAX_METADATA_BYTES: usize = 16 * 1024;
const MAX_REDIRECT_URIS: usize = 10;
const MAX_URI_LEN: usize = 2000;
const MAX_NAME_LEN: usize = 200;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const DOC_CACHE_TTL: Duration = Duration::from_secs(300);

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    SecretPost,
    SecretBasic,
}

impl AuthMethod {
    fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "none" => Some(AuthMethod::None),
            "client_secret_post" => Some(AuthMethod::SecretPost),
            "client_secret_basic" => Some(AuthMethod::SecretBasic),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::SecretPost => "client_secret_post",
            AuthMethod::SecretBasic => "client_secret_basic",
        }
    }
    fn is_confidential(self) -> bool {
        self != AuthMethod::None
    }
}

/// A client as the flows need it.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub method: AuthMethod,
    secret_digest: Option<String>,
}

fn registration_error(error: &'static str, d: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, error, d)
}

/// A redirect URI a client may register: `https`, `http` on a loopback host (native apps,
/// RFC 8252), or a private-use scheme of a native app (`cursor://…`). No fragment, no
/// credentials, no schemes that run code in the browser.
pub fn valid_redirect_uri(raw: &str) -> Result<(), String> {
    if raw.len() > MAX_URI_LEN {
        return Err("redirect URI too long".into());
    }
    let url = url::Url::parse(raw).map_err(|_| format!("`{raw}` is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err("redirect URIs must not contain a fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("redirect URIs must not contain credentials".into());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host() {
            Some(url::Host::Domain("localhost")) => Ok(()),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            _ => Err("plain http redirect URIs are allowed only on loopback hosts".into()),
        },
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ftp" | "ws" | "wss" => {
            Err(format!("the `{}` scheme is not allowed for redirect URIs", url.scheme()))
        }
        // Private-use schemes of native apps must contain a dot or be app-specific; anything
        // else that parsed is a custom scheme the operating system hands to the app.
        _ => Ok(()),
    }
}

fn string_field<'a>(m: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, OAuthError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(registration_error("invalid_client_metadata", format!("`{name}` must be a string"))),
    }
}

fn string_list(m: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    registration_error("invalid_client_metadata", format!("`{name}` must be an array of strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(registration_error("invalid_client_metadata", format!("`{name}` must be an array of strings"))),
    }
}

/// What client metadata says, checked and normalised.
struct Checked {
    redirect_uris: Vec<String>,
    method: AuthMethod,
    name: Option<String>,
    /// The members echoed back in a registration response.
    echo: Map<String, Value>,
}

/// Checks client metadata (a registration request or a metadata document).
fn check_metadata(m: &Map<String, Value>) -> Result<Checked, OAuthError> {
    // Text one backend cannot store is refused on every backend.
    if levd_domain::input::reject_nul_in_object(m).is_err() {
        return Err(registration_error("invalid_client_metadata", "client metadata must not contain NUL characters"));
    }
    let redirect_uris = string_list(m, "redirect_uris")?
        .filter(|l| !l.is_empty())
        .ok_or_else(|| registration_error("invalid_redirect_uri", "`redirect_uris` must list at least one URI"))?;
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(registration_error("invalid_redirect_uri", format!("at most {MAX_REDIRECT_URIS} redirect URIs")));
    }
    for uri in &redirect_uris {
        valid_redirect_uri(uri).map_err(|e| registration_error("invalid_redirect_uri", e))?;
    }
    // RFC 7591's default is client_secret_basic.
    let method = match string_field(m, "token_endpoint_auth_method")? {
        None => AuthMethod::SecretBasic,
        Some(s) => AuthMethod::parse(s).ok_or_else(|| {
            registration_error(
                "invalid_client_metadata",
                "`token_endpoint_auth_method` must be none, client_secret_post or client_secret_basic",
            )
        })?,
    };
    let grant_types = string_list(m, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if let Some(g) = grant_types.iter().find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token")) {
        return Err(registration_error("invalid_client_metadata", format!("grant type `{g}` is not supported")));
    }
    let response_types = string_list(m, "response_types")?.unwrap_or_else(|| vec!["code".to_owned()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(registration_error("invalid_client_metadata", "only the `code` response type is supported"));
    }
    let name = string_field(m, "client_name")?.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    if name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME_LEN) {
        return Err(registration_error("invalid_client_metadata", "`client_name` is too long"));
    }
    if let Some(scope) = string_field(m, "scope")?
        && let Some(bad) = scope.split(' ').filter(|s| !s.is_empty()).find(|s| !crate::SCOPES.contains(s))
    {
        return Err(registration_error("invalid_client_metadata", format!("scope `{bad}` is not supported")));
    }
    // Echo what we understood; informational members pass through if they are strings.
    let mut echo = Map::new();
    echo.insert("redirect_uris".into(), json!(redirect_uris));
    echo.insert("token_endpoint_auth_method".into(), json!(method.as_str()));
    echo.insert("grant_types".into(), json!(grant_types));
    echo.insert("response_types".into(), json!(response_types));
    for k in
        ["client_name", "client_uri", "logo_uri", "scope", "software_id", "software_version", "tos_uri", "policy_uri"]
    {
        if let Some(Value::String(v)) = m.get(k)
            && v.len() <= MAX_URI_LEN
        {
            echo.insert(k.into(), json!(v));
        }
    }
    Ok(Checked { redirect_uris, method, name, echo })
}

/// `POST /oidc/register` (RFC 7591). Open registration, as MCP clients expect.
pub async fn register(State(s): State<Arc<AuthServer>>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return OAuthError::invalid_request("the registration request must be application/json").into_response();
    }
    if body.len() > MAX_METADATA_BYTES {
        return registration_error("invalid_client_metadata", "the registration request is too large").into_response();
    }
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&body) else {
        return registration_error("invalid_client_metadata", "the body must be a JSON object").into_response();
    };
    let Checked { redirect_uris, method, name, mut echo } = match check_metadata(&m) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let client_id = format!("levd_{}", &random_token()[..32]);
    let secret = method.is_confidential().then(random_token);
    let now = unix_now();
    echo.insert("client_id".into(), json!(client_id));
    echo.insert("client_id_issued_at".into(), json!(now));
    let row = ClientRow {
        client_id: client_id.clone(),
        secret_digest: secret.as_deref().map(digest),
        auth_method: method.as_str().to_owned(),
        client_name: name,
        redirect_uris: json!(redirect_uris).to_string(),
        metadata: Value::Object(echo.clone()).to_string(),
        created_at: now,
    };
    if let Err(e) = s.store.insert_client(&row).await {
        return store_failure(e).into_response();
    }
    if let Some(secret) = secret {
        echo.insert("client_secret".into(), json!(secret));
        echo.insert("client_secret_expires_at".into(), json!(0));
    }
    tracing::info!(%client_id, method = method.as_str(), "OAuth client registered");
    let mut r = (StatusCode::CREATED, axum::Json(Value::Object(echo))).into_response();
    no_store(&mut r);
    r
}

/// Whether a `client_id` names a metadata document rather than a registered client.
fn is_metadata_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

impl AuthServer {
    /// Looks a client up: registered clients from the database, URL client ids by fetching
    /// their metadata document. `Ok(None)` when there is no such client.
    pub(crate) async fn client(&self, client_id: &str) -> Result<Option<Client>, OAuthError> {
        if client_id.is_empty() || client_id.len() > MAX_URI_LEN {
            return Ok(None);
        }
        if is_metadata_url(client_id) {
            return self.client_docs.get(client_id).await.map(Some);
        }
        let Some(row) = self.store.client(client_id).await.map_err(store_failure)? else {
            return Ok(None);
        };
        Ok(Some(Client {
            redirect_uris: serde_json::from_str(&row.redirect_uris).unwrap_or_default(),
            method: AuthMethod::parse(&row.auth_method).unwrap_or(AuthMethod::SecretBasic),
            client_id: row.client_id,
            name: row.client_name,
            secret_digest: row.secret_digest,
        }))
    }

    /// Authenticates the client of a token or revocation request (RFC 6749 §2.3): HTTP Basic,
    /// or `client_id` (+ `client_secret`) in the form.
    pub(crate) async fn authenticate_client(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<Client, OAuthError> {
        let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| rest.trim().to_owned())
        });
        let (client_id, secret, used) = if let Some(b64) = basic {
            let fail =
                || OAuthError { basic_challenge: true, ..OAuthError::invalid_client("malformed Basic credentials") };
            let decoded = STANDARD.decode(b64).map_err(|_| fail())?;
            let text = String::from_utf8(decoded).map_err(|_| fail())?;
            let (id, secret) = text.split_once(':').ok_or_else(fail)?;
            let id = url_decode(id).ok_or_else(fail)?;
            let secret = url_decode(secret).ok_or_else(fail)?;
            if form.get("client_id").is_some_and(|f| *f != id) {
                return Err(OAuthError::invalid_request("client_id differs from the Basic credentials"));
            }
            (id, Some(secret), AuthMethod::SecretBasic)
        } else {
            let id =
                form.get("client_id").cloned().ok_or_else(|| OAuthError::invalid_client("client_id is required"))?;
            match form.get("client_secret") {
                Some(secret) => (id, Some(secret.clone()), AuthMethod::SecretPost),
                None => (id, None, AuthMethod::None),
            }
        };
        let unknown = || OAuthError {
            basic_challenge: used == AuthMethod::SecretBasic,
            ..OAuthError::invalid_client("client authentication failed")
        };
        let client = self.client(&client_id).await?.ok_or_else(unknown)?;
        match (client.method.is_confidential(), secret, &client.secret_digest) {
            (false, None, _) => Ok(client),
            (true, Some(secret), Some(stored)) => {
                let ok: bool = digest(&secret).as_bytes().ct_eq(stored.as_bytes()).into();
                if ok { Ok(client) } else { Err(unknown()) }
            }
            _ => Err(unknown()),
        }
    }
}

fn url_decode(s: &str) -> Option<String> {
    // Basic credentials are form-encoded before base64 (RFC 6749 §2.3.1).
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.into_iter().next().map(|(_, v)| v)
}

/// Client-ID metadata documents, fetched with bounds and cached briefly.
pub struct MetadataDocuments {
    allow_private: bool,
    cache: Mutex<HashMap<String, (Instant, Client)>>,
}

impl MetadataDocuments {
    pub fn new(allow_private: bool) -> MetadataDocuments {
        MetadataDocuments { allow_private, cache: Mutex::new(HashMap::new()) }
    }

    async fn get(&self, client_id: &str) -> Result<Client, OAuthError> {
        if let Some((at, c)) = self.cache.lock().get(client_id)
            && at.elapsed() < DOC_CACHE_TTL
        {
            return Ok(c.clone());
        }
        let client = self.fetch(client_id).await.map_err(|why| {
            tracing::info!(%client_id, %why, "client metadata document refused");
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_client", format!("client metadata document: {why}"))
        })?;
        let mut cache = self.cache.lock();
        if cache.len() > 1000 {
            cache.clear();
        }
        cache.insert(client_id.to_owned(), (Instant::now(), client.clone()));
        Ok(client)
    }

    async fn fetch(&self, client_id: &str) -> Result<Client, String> {
        let url = url::Url::parse(client_id).map_err(|_| "the client id is not a URL".to_owned())?;
        if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err("the client id URL must not carry a fragment or credentials".into());
        }
        if url.path() == "/" || url.path().is_empty() {
            return Err("the client id URL must have a path".into());
        }
        let host = url.host_str().ok_or("the client id URL has no host")?.to_owned();
        let port = url.port_or_known_default().ok_or("the client id URL has no port")?;
        let addrs: Vec<SocketAddr> =
            tokio::time::timeout(FETCH_TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
                .await
                .map_err(|_| "name resolution timed out".to_owned())?
                .map_err(|e| format!("cannot resolve the host: {e}"))?
                .collect();
        let addr = *addrs.first().ok_or("the host has no address")?;
        let private = addrs.iter().any(|a| !is_public(a.ip()));
        if private && !self.allow_private {
            return Err("the host resolves to a private address".into());
        }
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private && addrs.iter().all(|a| a.ip().is_loopback()) => {}
            _ => return Err("the client id must be an https URL".into()),
        }
        // Connect to the address that was checked, so a second resolution cannot swap it.
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&host, addr)
            .user_agent(concat!("levd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let mut response = client
            .get(url.clone())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("fetch failed: {e}"))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("the document answered {} (redirects are not followed)", response.status()));
        }
        if response.content_length().is_some_and(|n| n > MAX_METADATA_BYTES as u64) {
            return Err("the document is too large".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading failed: {e}"))? {
            if body.len() + chunk.len() > MAX_METADATA_BYTES {
                return Err("the document is too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&body) else {
            return Err("the document is not a JSON object".into());
        };
        if m.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err("the document's client_id differs from its URL".into());
        }
        let Checked { redirect_uris, method, name, .. } = check_metadata(&m).map_err(|e| e.description)?;
        if method != AuthMethod::None {
            return Err("documents may describe public clients only (token_endpoint_auth_method none)".into());
        }
        Ok(Client { client_id: client_id.to_owned(), name, redirect_uris, method, secret_digest: None })
    }
}

/// Whether an address is reachable on the public internet.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
                || v4.octets()[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:33418/callback",
            "http://localhost:8080/cb",
            "http://[::1]/cb",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
        ] {
            assert!(valid_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example/cb",
            "https://app.example/cb#frag",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://user:pw@app.example/cb",
            "/relative",
            "",
        ] {
            assert!(valid_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "100.64.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))), "{ip}");
        }
        assert!(is_public("93.184.216.34".parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))));
    }
}
