//! Test harness: `spawn` starts a server on a fresh database; helpers create accounts, users,
//! keys and JWTs directly in the store, so each test sees only its own data.
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use levd::secret_key::SecretKeySource;
use levd::server::{Running, ServerConfig, start};
use levd_auth::{IssuerConfig, JwksSource};
use levd_domain::limits::RateLimitConfig;
use levd_domain::scope::{KeyPermission, Role, Tier};
use levd_store::{AccountRow, DealPropertyRow, Store};
use reqwest::{Method, RequestBuilder, Response};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://issuer.levd.test/";
pub const AUDIENCE: &str = "https://api.levd.test";
pub const KID: &str = "test-key-1";
/// The key that encrypts secrets at rest in test servers (and `levd admin` run by tests).
pub const TEST_SECRET_KEY: &str = "dGVzdHMtb2YtbGV2ZC1zZWNyZXRzLWF0LXJlc3QhISE=";

/// `levd serve`'s defaults for a server of a test's own, on `database_url`, with the secret key
/// every test server uses (so it opens what `spawn` sealed).
pub fn server_config(database_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> ServerConfig {
    let mut cfg = ServerConfig::new(database_url, data_dir);
    cfg.secret_key = SecretKeySource::Inline(TEST_SECRET_KEY.into());
    cfg
}

pub struct RsaKit {
    pub private_der: Vec<u8>,
    pub public_pem: String,
    pub n: String,
    pub e: String,
}

fn gen_key() -> RsaKit {
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let public = RsaPublicKey::from(&private);
    RsaKit {
        private_der: private.to_pkcs1_der().unwrap().as_bytes().to_vec(),
        public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
        n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    }
}

/// The issuer's signing key, generated once per test binary.
pub fn signing_key() -> &'static RsaKit {
    static K: OnceLock<RsaKit> = OnceLock::new();
    K.get_or_init(gen_key)
}

/// A key nobody trusts.
pub fn rogue_key() -> &'static RsaKit {
    static K: OnceLock<RsaKit> = OnceLock::new();
    K.get_or_init(gen_key)
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn sign(key: &RsaKit, kid: Option<&str>, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_der(&key.private_der)).unwrap()
}

/// A valid token for `sub` from the trusted issuer.
pub fn jwt_for(sub: &str) -> String {
    sign(
        signing_key(),
        Some(KID),
        &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now(), "exp": now() + 600, "jti": uuid::Uuid::new_v4().to_string()}),
    )
}

pub struct Options {
    pub rate_limits: RateLimitConfig,
    pub jwt: bool,
    /// The built-in authorization server (on, with loopback client metadata allowed).
    pub oauth: Option<levd_oauth::OAuthSettings>,
    /// Seed the demo data set (`--demo`) on the fresh database.
    pub demo: bool,
    /// `--public-url`; `None` serves on the bound address.
    pub public_url: Option<String>,
    /// Request-head and idle time limits and the connection cap.
    pub connection: levd_http::conn::ConnectionLimits,
    /// Trusted proxies and timings of the request path.
    pub tuning: levd_http::middleware::Tuning,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rate_limits: RateLimitConfig { enabled: false, ..RateLimitConfig::default() },
            jwt: true,
            oauth: Some(levd_oauth::OAuthSettings { allow_private_client_metadata: true, ..Default::default() }),
            demo: false,
            public_url: None,
            connection: levd_http::conn::ConnectionLimits::default(),
            tuning: levd_http::middleware::Tuning::default(),
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub origin: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub db_path: PathBuf,
    pub db_url: String,
    /// Keeps the database directory alive for the life of the test.
    pub _dir: tempfile::TempDir,
    running: Option<Running>,
}

pub async fn spawn() -> TestApp {
    spawn_with(Options::default()).await
}

/// The backend under test: PostgreSQL when `LEV_TEST_DATABASE_URL` names a server (each test
/// gets a database of its own on it), else a SQLite file in the test's directory.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("LEV_TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres"))
}

pub async fn fresh_database(dir: &std::path::Path) -> (String, PathBuf) {
    let db_path = dir.join("lev.db");
    let Some(admin) = postgres_admin_url() else {
        return (format!("sqlite://{}", db_path.display()), db_path);
    };
    use sqlx::{Connection, Executor};
    let name = format!("levd_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap();
    conn.close().await.unwrap();
    let (base, query) = admin.split_once('?').map_or((admin.as_str(), None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").unwrap() + 3;
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let url = format!("{}/{name}{}", &base[..host_end], query.map(|q| format!("?{q}")).unwrap_or_default());
    (url, db_path)
}

pub async fn spawn_with(opts: Options) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (db_url, db_path) = fresh_database(dir.path()).await;
    let mut issuers = Vec::new();
    if opts.jwt {
        let k = signing_key();
        let jwks = json!({"keys": [{"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig", "n": k.n, "e": k.e}]});
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, jwks.to_string()).unwrap();
        issuers.push(IssuerConfig {
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            jwks: JwksSource::File(path),
        });
    }
    let running = start(ServerConfig {
        issuers,
        rate_limits: opts.rate_limits,
        demo: opts.demo,
        public_url: opts.public_url,
        oauth: opts.oauth,
        connection: opts.connection,
        tuning: opts.tuning,
        ..server_config(db_url.clone(), dir.path().join("data"))
    })
    .await
    .unwrap();
    TestApp {
        base: format!("http://{}", running.addr),
        origin: "levd-tests".into(),
        client: reqwest::Client::new(),
        store: running.store.clone(),
        db_path,
        db_url,
        _dir: dir,
        running: Some(running),
    }
}

/// An account with one admin user (subject `sub-<slug>`) and a full-access key.
pub struct Tenant {
    pub account: AccountRow,
    pub user_id: i64,
    pub subject: String,
    pub key: String,
}

impl TestApp {
    /// What `--demo` made (with `Options::demo`).
    pub fn demo(&self) -> Option<&levd::demo::DemoSummary> {
        self.running.as_ref().and_then(|r| r.demo.as_ref())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/external/v2{}", self.base, path)
    }

    /// A request with the credential and `X-Origin-App` set.
    pub fn req(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(token).header("X-Origin-App", &self.origin)
    }

    pub fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.req(Method::GET, path, token)
    }

    pub fn post_json(&self, path: &str, token: &str, body: &Value) -> RequestBuilder {
        self.req(Method::POST, path, token).json(body)
    }

    pub fn patch_json(&self, path: &str, token: &str, body: &Value) -> RequestBuilder {
        self.req(Method::PATCH, path, token).json(body)
    }

    pub fn delete(&self, path: &str, token: &str) -> RequestBuilder {
        self.req(Method::DELETE, path, token)
    }

    /// A request with a raw body declared as JSON (for bodies that are not valid JSON, or not an
    /// object).
    pub fn raw_json(&self, method: Method, path: &str, token: &str, body: impl Into<reqwest::Body>) -> RequestBuilder {
        self.req(method, path, token).header("content-type", "application/json").body(body)
    }

    /// A JSON-RPC POST of `body` to `/mcp` as a Streamable HTTP client sends it; the caller adds
    /// the credential and protocol revision it needs.
    pub fn mcp_post(&self, body: &Value) -> RequestBuilder {
        self.client
            .post(format!("{}/mcp", self.base))
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(body.to_string())
    }

    pub async fn account(&self, slug: &str, tier: Tier) -> AccountRow {
        self.store
            .create_account(&uuid::Uuid::new_v4().to_string(), slug, &format!("{slug} name"), Some("brokerage"), tier)
            .await
            .unwrap()
    }

    pub async fn user(&self, email: &str, subject: Option<&str>) -> i64 {
        self.store
            .create_user(&uuid::Uuid::new_v4().to_string(), email, Some("Test"), Some("User"), subject)
            .await
            .unwrap()
            .id
    }

    pub async fn member(&self, user_id: i64, account_id: i64, role: Role) {
        self.store.upsert_membership(user_id, account_id, role).await.unwrap();
    }

    pub async fn key(&self, user_id: i64, account: &AccountRow, permission: KeyPermission) -> String {
        let svc = levd_service::Service::new(
            self.store.clone(),
            std::sync::Arc::new(RateLimitConfig::default()),
            std::sync::Arc::new(|| {}),
        );
        let k = svc.issue_key(user_id, account.id, account.tier(), "test key", permission).await.unwrap();
        k.secret.expose().to_string()
    }

    /// A fresh account with an admin and a key.
    pub async fn tenant(&self, slug: &str) -> Tenant {
        self.tenant_with(slug, Tier::Enterprise, Role::Admin).await
    }

    pub async fn tenant_with(&self, slug: &str, tier: Tier, role: Role) -> Tenant {
        let account = self.account(slug, tier).await;
        let subject = format!("sub-{slug}");
        let user_id = self.user(&format!("admin@{slug}.test"), Some(&subject)).await;
        self.member(user_id, account.id, role).await;
        let key = self.key(user_id, &account, KeyPermission::FullAccess).await;
        Tenant { account, user_id, subject, key }
    }

    pub async fn create_deal(&self, token: &str, body: Value) -> Value {
        let r = self.post_json("/deals", token, &body).send().await.unwrap();
        assert_eq!(r.status(), 201, "create deal");
        r.json::<Value>().await.unwrap()["data"].clone()
    }

    /// A second node on the same database (as behind a load balancer).
    pub async fn second_node(&self, opts: Options) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let running = start(ServerConfig {
            rate_limits: opts.rate_limits,
            no_migrate: true,
            // Behind one load balancer: one public URL, so one issuer for every node.
            public_url: Some(self.base.clone()),
            oauth: opts.oauth,
            connection: opts.connection,
            tuning: opts.tuning,
            ..server_config(self.db_url.clone(), self._dir.path().join("data"))
        })
        .await
        .unwrap();
        TestApp {
            base: format!("http://{}", running.addr),
            origin: self.origin.clone(),
            client: reqwest::Client::new(),
            store: running.store.clone(),
            db_path: self.db_path.clone(),
            db_url: self.db_url.clone(),
            _dir: dir,
            running: Some(running),
        }
    }

    /// Stops this server and starts another on the same address, database and data directory with
    /// the secret key from `secret_key` (and the built-in authorization server on); the error
    /// is the start-up failure.
    pub async fn restart_with(&mut self, secret_key: SecretKeySource) -> Result<(), String> {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
        let running = start(ServerConfig {
            // The same address, so the issuer (and every URL levd publishes) stays the same.
            bind: self.base.trim_start_matches("http://").to_string(),
            rate_limits: RateLimitConfig { enabled: false, ..RateLimitConfig::default() },
            oauth: Some(levd_oauth::OAuthSettings { allow_private_client_metadata: true, ..Default::default() }),
            secret_key,
            ..ServerConfig::new(self.db_url.clone(), self._dir.path().join("data"))
        })
        .await?;
        self.store = running.store.clone();
        self.running = Some(running);
        Ok(())
    }

    /// Stops the server, keeping the database and directories for a later `restart_with`.
    pub async fn halt(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
    }
}

/// Status and JSON body (panics if the body is not JSON: every response must be).
pub async fn parts(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = r.text().await.unwrap();
    assert!(ct.starts_with("application/json"), "non-JSON response {status}: {ct} {text}");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid JSON ({e}): {text}")))
}

/// Asserts the error envelope of `docs/api.md#errors` and returns the `error` object.
pub fn assert_error(body: &Value, status: u16, type_name: &str) -> Value {
    let e = &body["error"];
    assert_eq!(e["status"], status, "{body}");
    assert_eq!(e["type"], type_name, "{body}");
    assert!(e["code"].as_str().unwrap().chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{body}");
    assert!(e["message"].is_string(), "{body}");
    assert!(e["details"].is_object(), "{body}");
    assert!(uuid::Uuid::parse_str(body["request_id"].as_str().unwrap()).is_ok(), "{body}");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");
    e.clone()
}

/// Sends `r`: the status and the JSON body.
pub async fn send(r: RequestBuilder) -> (u16, Value) {
    parts(r.send().await.unwrap()).await
}

/// Sends, expects `status`, returns the whole body.
pub async fn expect(r: RequestBuilder, status: u16) -> Value {
    let (s, b) = send(r).await;
    assert_eq!(s, status, "{b}");
    b
}

/// Sends, expects 200, returns the whole body.
pub async fn ok(r: RequestBuilder) -> Value {
    expect(r, 200).await
}

/// Sends, expects the given error, returns the `error` object.
pub async fn fail(r: RequestBuilder, status: u16, type_name: &str) -> Value {
    let b = expect(r, status).await;
    assert_error(&b, status, type_name)
}

/// Sends `r` and reads its body as JSON, whatever the status and content type.
pub async fn body_json(r: RequestBuilder) -> Value {
    r.send().await.unwrap().json().await.unwrap()
}

/// The member names of a JSON object.
pub fn keys(v: &Value) -> HashSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

pub fn set(names: &[&str]) -> HashSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The `id`s of a list's `data`, in order.
pub fn ids(body: &Value) -> Vec<i64> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array: {body}"))
        .iter()
        .map(|v| v["id"].as_i64().unwrap_or_else(|| panic!("no integer id: {v}")))
        .collect()
}

/// A property of `deal_id` (the API has no endpoint that adds one): 120 units in Portland, ME.
pub fn property_row(deal_id: i64, name: &str) -> DealPropertyRow {
    DealPropertyRow {
        deal_id,
        id: 0,
        name: Some(name.into()),
        address: Some("40 Quay St".into()),
        city: Some("Portland".into()),
        state: Some("ME".into()),
        zip: Some("04101".into()),
        asset_type_id: Some(3),
        units: Some(120),
        square_footage: Some(98_000.0),
        year_built: Some(1987),
    }
}

/// A fresh server and one tenant (`acme`) on it.
pub async fn setup() -> (TestApp, Tenant) {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    (app, t)
}

/// `levd serve --demo` as its own process on `db`, with JSON logs at `info` on its piped standard
/// error and its standard output piped; data directory and working directory inside `dir`.
pub fn demo_server_with_json_logs(dir: &std::path::Path, db: &str) -> tokio::process::Child {
    levd_serve(dir, &["--demo", "--log-format", "json", "--database-url", db])
        .env("LEV_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// `levd serve ARGS` on a free port of 127.0.0.1 with its data directory and working directory
/// inside `dir` (so nothing lands in the source tree), its standard output piped and its
/// standard error dropped; killed when dropped.
pub fn levd_serve(dir: &std::path::Path, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_levd"));
    c.arg("serve")
        .args(args)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    c
}

/// Runs `levd admin ARGS --database-url DB` as its own process, with `stdin` on its standard input.
pub fn levd_admin(db_url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_levd"))
        .arg("admin")
        .args(args)
        .args(["--database-url", db_url])
        .env_remove("LEV_DATABASE_URL")
        .env_remove("LEV_SECRET_KEY_FILE")
        .env("LEV_SECRET_KEY", TEST_SECRET_KEY)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}
