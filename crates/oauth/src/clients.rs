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
/// What a caller learns about any failed metadata-document fetch.
const METADATA_DOCUMENT_FAILED: &str = "its client metadata document could not be fetched or is not acceptable";

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
            // Text one backend cannot store is refused on every backend, as in the form.
            if !levd_domain::input::storable(&id) || !levd_domain::input::storable(&secret) {
                return Err(OAuthError::invalid_request("client credentials must not contain NUL characters"));
            }
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
        // One message for every failure: telling a caller why a fetch failed (refused
        // address, connection refused, timeout, status) would let it probe the network
        // levd runs in. The reason goes to the log.
        let client = self.fetch(client_id).await.map_err(|why| {
            tracing::warn!(%client_id, %why, "client metadata document refused");
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_client", METADATA_DOCUMENT_FAILED)
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
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            _ => tokio::time::timeout(FETCH_TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
                .await
                .map_err(|_| "name resolution timed out".to_owned())?
                .map_err(|e| format!("cannot resolve the host: {e}"))?
                .collect(),
        };
        let addr = *addrs.first().ok_or("the host has no address")?;
        // Every address the name has must be public, not only the one connected to.
        if !self.allow_private
            && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip()))
        {
            return Err(format!("the host resolves to the special-purpose address {}", bad.ip()));
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

/// IPv4 ranges of the IANA special-purpose registry (and multicast, reserved and broadcast):
/// none of them is a public web server's address.
const SPECIAL_V4: [([u8; 4], u8); 18] = [
    ([0, 0, 0, 0], 8),       // "this network"
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // shared address space (carrier-grade NAT)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local (cloud metadata services live here)
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation
    ([192, 31, 196, 0], 24), // AS112
    ([192, 52, 193, 0], 24), // AMT
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([192, 175, 48, 0], 24), // AS112 direct delegation
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation
    ([203, 0, 113, 0], 24),  // documentation
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and the limited broadcast 255.255.255.255
];

/// IPv6 ranges inside global unicast (2000::/3) that are special-purpose nonetheless.
const SPECIAL_V6: [([u16; 8], u8); 5] = [
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments, Teredo (2001::/32)
    ([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32), // documentation
    ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), // 6to4
    ([0x2620, 0x004f, 0x8000, 0, 0, 0, 0, 0], 48), // AS112
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation
];

fn v4_in(addr: u32, net: [u8; 4], len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    addr & mask == u32::from_be_bytes(net) & mask
}

fn v6_in(addr: u128, net: [u16; 8], len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    addr & mask == u128::from(std::net::Ipv6Addr::from(net)) & mask
}

fn is_public_v4(ip: std::net::Ipv4Addr) -> bool {
    let a = u32::from(ip);
    !SPECIAL_V4.iter().any(|(net, len)| v4_in(a, *net, *len))
}

/// Whether an address may be fetched from: outside every special-purpose range of the IANA
/// IPv4 and IPv6 registries. An IPv4 address embedded in IPv6 (IPv4-mapped, or behind the
/// well-known NAT64 prefix 64:ff9b::/96) is judged as that IPv4 address; IPv6 outside global
/// unicast (2000::/3) is never public, which covers the unspecified and loopback addresses,
/// IPv4-compatible and IPv4-translated forms, the local-use NAT64 prefix, discard-only,
/// unique-local, link-local, site-local and multicast; 6to4 and Teredo, which tunnel to an
/// IPv4 address, are refused whole.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let a = u128::from(v6);
            if v6_in(a, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
                // The low 32 bits are the IPv4 address.
                return is_public_v4(std::net::Ipv4Addr::from(u32::try_from(a & 0xffff_ffff).unwrap_or(0)));
            }
            v6_in(a, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) && !SPECIAL_V6.iter().any(|(net, len)| v6_in(a, *net, *len))
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
    fn special_purpose_addresses_are_not_public() {
        let special = [
            // IPv4 special-purpose registry, multicast, reserved, broadcast.
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.255",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.2.1",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.168.1.1",
            "192.175.48.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.254",
            "255.255.255.255",
            // IPv6: unspecified, loopback, mapped and compatible forms of special IPv4.
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:0:8.8.8.8",
            // NAT64 with a special IPv4 inside, and the local-use NAT64 prefix.
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.1.2.3",
            "64:ff9b:1::8.8.8.8",
            // Discard-only, IETF assignments, Teredo, benchmarking, ORCHID, documentation.
            "100::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:10::1",
            "2001:1ff::1",
            "2001:db8::1",
            "3fff::1",
            // 6to4, whatever it wraps.
            "2002:7f00:1::1",
            "2002:808:808::1",
            // AS112, unique-local, link-local, site-local, multicast, reserved.
            "2620:4f:8000::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "4000::1",
            "5f00::1",
        ];
        for ip in special {
            let parsed: IpAddr = ip.parse().unwrap_or_else(|_| panic!("{ip} parses"));
            assert!(!is_public(parsed), "{ip} must not be public");
        }
        let public = [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.88.98.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2001:200::1",
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "2a00:1450::1",
        ];
        for ip in public {
            let parsed: IpAddr = ip.parse().unwrap_or_else(|_| panic!("{ip} parses"));
            assert!(is_public(parsed), "{ip} is public");
        }
    }
}
