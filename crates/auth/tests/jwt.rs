//! Integration tests for `levd_auth::jwt`: real RS256 tokens minted with freshly generated RSA
//! keys, JWKS served from temp files and from a local HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use levd_auth::jwt::{IssuerConfig, JwksSource, JwtError, JwtVerifier, VerifiedToken};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};

const ISS: &str = "https://auth.example.test/";
const AUD: &str = "https://api.example.test";

struct TestKey {
    /// PKCS#1 DER of the private key, for signing.
    private_der: Vec<u8>,
    /// SPKI PEM of the public key, for the HMAC confusion attack.
    public_pem: String,
    n: String,
    e: String,
}

fn generate_key() -> TestKey {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let public = RsaPublicKey::from(&private);
    TestKey {
        private_der: private.to_pkcs1_der().unwrap().as_bytes().to_vec(),
        public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
        n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    }
}

/// The main signing key, generated once per test binary.
fn key_a() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(generate_key)
}

/// A second key: the "attacker" key, and the second issuer's key.
fn key_b() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(generate_key)
}

fn jwk(key: &TestKey, kid: &str) -> Value {
    json!({ "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": key.n, "e": key.e })
}

fn jwks(entries: &[Value]) -> String {
    json!({ "keys": entries }).to_string()
}

fn write_file(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap();
}

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn claims(exp_offset: i64) -> Value {
    json!({ "iss": ISS, "aud": AUD, "sub": "auth0|user-1", "iat": now(), "exp": now() + exp_offset })
}

fn mint_with(key: &TestKey, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&key.private_der)).unwrap()
}

fn mint(key: &TestKey, kid: Option<&str>, claims: &Value) -> String {
    mint_with(key, Algorithm::RS256, kid, claims)
}

fn b64json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A verifier for one issuer whose JWKS (key A under kid "k1") lives in a temp file.
struct FileFixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    verifier: JwtVerifier,
}

fn file_fixture(jwks_json: &str, refetch: Duration) -> FileFixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    write_file(&path, jwks_json);
    let verifier = JwtVerifier::new(vec![IssuerConfig {
        issuer: ISS.to_owned(),
        audiences: vec![AUD.to_owned()],
        jwks: JwksSource::File(path.clone()),
    }])
    .with_refetch_interval(refetch);
    FileFixture { _dir: dir, path, verifier }
}

async fn default_fixture() -> FileFixture {
    let fixture = file_fixture(&jwks(&[jwk(key_a(), "k1")]), Duration::from_secs(30));
    fixture.verifier.preload().await.unwrap();
    fixture
}

#[tokio::test]
async fn valid_token_is_accepted_then_served_from_cache() {
    let f = default_fixture().await;
    assert!(f.verifier.is_enabled());
    let claims = claims(600);
    let token = mint(key_a(), Some("k1"), &claims);

    let first = f.verifier.verify(&token).await.unwrap();
    assert_eq!(
        first,
        VerifiedToken {
            issuer: ISS.to_owned(),
            subject: "auth0|user-1".to_owned(),
            expires_at: claims["exp"].as_i64().unwrap(),
            first_seen: true,
            audiences: vec![AUD.to_owned()],
            session: None,
            scopes: Vec::new(),
        }
    );
    let second = f.verifier.verify(&token).await.unwrap();
    assert_eq!(second, VerifiedToken { first_seen: false, ..first.clone() });

    // A different token for the same user is a first sighting again.
    let mut other = claims.clone();
    other["jti"] = json!("another");
    let token2 = mint(key_a(), Some("k1"), &other);
    assert!(f.verifier.verify(&token2).await.unwrap().first_seen);
}

#[tokio::test]
async fn cached_token_is_not_served_after_it_expires() {
    let f = default_fixture().await;
    // exp 58 s ago: inside the 60 s leeway for about two more seconds.
    let token = mint(key_a(), Some("k1"), &claims(-58));
    assert!(f.verifier.verify(&token).await.unwrap().first_seen);
    assert!(!f.verifier.verify(&token).await.unwrap().first_seen);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::Expired));
}

#[tokio::test]
async fn no_issuer_configured_rejects_everything() {
    let verifier = JwtVerifier::new(Vec::new());
    assert!(!verifier.is_enabled());
    assert_eq!(verifier.preload().await, Ok(()));
    let token = mint(key_a(), Some("k1"), &claims(600));
    assert_eq!(verifier.verify(&token).await, Err(JwtError::NoIssuerConfigured));
    assert_eq!(verifier.verify("garbage").await, Err(JwtError::NoIssuerConfigured));
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let f = default_fixture().await;
    let payload = b64json(&claims(600));
    for header in
        [json!({ "alg": "none", "typ": "JWT" }), json!({ "alg": "none", "kid": "k1" }), json!({ "alg": "None" })]
    {
        let token = format!("{}.{}.", b64json(&header), payload);
        assert_eq!(f.verifier.verify(&token).await, Err(JwtError::UnsupportedAlgorithm));
    }
    // alg none with a copied valid RS256 signature is still refused.
    let valid = mint(key_a(), Some("k1"), &claims(600));
    let signature = valid.rsplit('.').next().unwrap();
    let token = format!("{}.{}.{}", b64json(&json!({"alg": "none"})), payload, signature);
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::UnsupportedAlgorithm));
    // Missing alg altogether.
    let token = format!("{}.{}.{}", b64json(&json!({"kid": "k1"})), payload, signature);
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::Malformed));
}

#[tokio::test]
async fn hs256_signed_with_public_key_is_rejected() {
    let f = default_fixture().await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    for secret in [key_a().public_pem.as_bytes(), key_a().n.as_bytes()] {
        let token = jsonwebtoken::encode(&header, &claims(600), &EncodingKey::from_secret(secret)).unwrap();
        assert_eq!(f.verifier.verify(&token).await, Err(JwtError::UnsupportedAlgorithm));
    }
}

#[tokio::test]
async fn other_asymmetric_algorithms_are_rejected() {
    let f = default_fixture().await;
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        let token = mint_with(key_a(), alg, Some("k1"), &claims(600));
        assert_eq!(f.verifier.verify(&token).await, Err(JwtError::UnsupportedAlgorithm), "{alg:?}");
    }
    // ES256 header (no EC key needed: the header alone decides).
    let payload = b64json(&claims(600));
    let token = format!("{}.{}.AAAA", b64json(&json!({"alg": "ES256", "kid": "k1"})), payload);
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::UnsupportedAlgorithm));
}

#[tokio::test]
async fn different_key_with_same_kid_is_rejected() {
    let f = default_fixture().await;
    let token = mint(key_b(), Some("k1"), &claims(600));
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::BadSignature));
}

#[tokio::test]
async fn tampered_payload_is_rejected() {
    let f = default_fixture().await;
    let token = mint(key_a(), Some("k1"), &claims(600));
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims(600);
    forged["sub"] = json!("auth0|admin");
    let forged_payload = b64json(&forged);
    parts[1] = &forged_payload;
    assert_eq!(f.verifier.verify(&parts.join(".")).await, Err(JwtError::BadSignature));
    // Another token's (well-formed) signature does not fit this header and payload.
    let other = mint(key_a(), Some("k1"), &claims(601));
    let (message, _) = token.rsplit_once('.').unwrap();
    let (_, other_signature) = other.rsplit_once('.').unwrap();
    let swapped = format!("{message}.{other_signature}");
    assert_eq!(f.verifier.verify(&swapped).await, Err(JwtError::BadSignature));
    // A truncated or empty signature fails too.
    assert!(f.verifier.verify(&token[..token.len() - 4]).await.is_err());
    assert!(f.verifier.verify(&format!("{message}.")).await.is_err());
}

#[tokio::test]
async fn unknown_kid_is_rejected() {
    let f = default_fixture().await;
    let token = mint(key_a(), Some("nope"), &claims(600));
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::UnknownKey));
}

#[tokio::test]
async fn expiry_is_checked_with_leeway() {
    let f = default_fixture().await;
    let expired = mint(key_a(), Some("k1"), &claims(-120));
    assert_eq!(f.verifier.verify(&expired).await, Err(JwtError::Expired));
    let within_leeway = mint(key_a(), Some("k1"), &claims(-30));
    assert!(f.verifier.verify(&within_leeway).await.is_ok());

    let mut no_exp = claims(600);
    no_exp.as_object_mut().unwrap().remove("exp");
    let token = mint(key_a(), Some("k1"), &no_exp);
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::MissingClaim("exp")));

    let mut string_exp = claims(600);
    string_exp["exp"] = json!("tomorrow");
    let token = mint(key_a(), Some("k1"), &string_exp);
    assert!(f.verifier.verify(&token).await.is_err());
}

#[tokio::test]
async fn not_before_is_checked_with_leeway() {
    let f = default_fixture().await;
    let mut future = claims(600);
    future["nbf"] = json!(now() + 120);
    let token = mint(key_a(), Some("k1"), &future);
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::NotYetValid));

    let mut skewed = claims(600);
    skewed["nbf"] = json!(now() + 30);
    let token = mint(key_a(), Some("k1"), &skewed);
    assert!(f.verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn wrong_issuer_is_rejected() {
    let f = default_fixture().await;
    for iss in ["https://evil.example.test/", "https://auth.example.test", ""] {
        let mut c = claims(600);
        c["iss"] = json!(iss);
        let token = mint(key_a(), Some("k1"), &c);
        assert_eq!(f.verifier.verify(&token).await, Err(JwtError::UnknownIssuer), "{iss}");
    }
    let mut no_iss = claims(600);
    no_iss.as_object_mut().unwrap().remove("iss");
    let token = mint(key_a(), Some("k1"), &no_iss);
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::MissingClaim("iss")));
    // An array `iss` is not a valid issuer claim.
    let mut array_iss = claims(600);
    array_iss["iss"] = json!([ISS]);
    let token = mint(key_a(), Some("k1"), &array_iss);
    assert!(f.verifier.verify(&token).await.is_err());
}

#[tokio::test]
async fn audience_must_contain_the_issuers_audience() {
    let f = default_fixture().await;
    let mut wrong = claims(600);
    wrong["aud"] = json!("https://other.example.test");
    let token = mint(key_a(), Some("k1"), &wrong);
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::WrongAudience));

    let mut wrong_array = claims(600);
    wrong_array["aud"] = json!(["a", "b"]);
    let token = mint(key_a(), Some("k1"), &wrong_array);
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::WrongAudience));

    let mut array = claims(600);
    array["aud"] = json!(["https://auth.example.test/userinfo", AUD]);
    let token = mint(key_a(), Some("k1"), &array);
    assert!(f.verifier.verify(&token).await.is_ok());

    let mut missing = claims(600);
    missing.as_object_mut().unwrap().remove("aud");
    let token = mint(key_a(), Some("k1"), &missing);
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::MissingClaim("aud")));
}

#[tokio::test]
async fn subject_is_required_and_non_empty() {
    let f = default_fixture().await;
    let mut missing = claims(600);
    missing.as_object_mut().unwrap().remove("sub");
    let token = mint(key_a(), Some("k1"), &missing);
    assert_eq!(f.verifier.verify(&token).await, Err(JwtError::MissingClaim("sub")));

    for bad in [json!(""), json!(42), json!(null)] {
        let mut c = claims(600);
        c["sub"] = bad.clone();
        let token = mint(key_a(), Some("k1"), &c);
        assert_eq!(f.verifier.verify(&token).await, Err(JwtError::MissingClaim("sub")), "{bad}");
    }
    // An array `sub` trips jsonwebtoken's claim parser first; any refusal will do.
    let mut c = claims(600);
    c["sub"] = json!(["a"]);
    let token = mint(key_a(), Some("k1"), &c);
    assert!(f.verifier.verify(&token).await.is_err());
}

#[tokio::test]
async fn garbage_is_rejected() {
    let f = default_fixture().await;
    let valid = mint(key_a(), Some("k1"), &claims(600));
    let header_b64 = valid.split('.').next().unwrap().to_owned();
    let long = "a".repeat(100_000);
    let cases = [
        String::new(),
        " ".to_owned(),
        "garbage".to_owned(),
        "a.b".to_owned(),
        "a.b.c".to_owned(),
        "....".to_owned(),
        "lev_sk_something".to_owned(),
        format!("{header_b64}.bm90IGpzb24.c2ln"), // payload is not JSON
        format!("{header_b64}.WzEsMl0.c2ln"),     // payload is a JSON array
        format!("{header_b64}.%%%.c2ln"),         // payload is not base64url
        format!("{valid}.extra"),
        format!(" {valid}"),
        format!("{long}.{long}"),
        format!("{header_b64}.{long}.{long}"),
        "\u{0}\u{1}.\u{2}.\u{3}".to_owned(),
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.".to_owned(),
    ];
    for case in &cases {
        assert!(f.verifier.verify(case).await.is_err(), "{case:.40}");
    }
    assert_eq!(f.verifier.verify("garbage").await, Err(JwtError::Malformed));
    assert_eq!(f.verifier.verify("").await, Err(JwtError::Malformed));
    // The verifier still works afterwards.
    assert!(f.verifier.verify(&valid).await.is_ok());
}

#[tokio::test]
async fn token_without_kid_needs_a_single_key() {
    let single = file_fixture(&jwks(&[jwk(key_a(), "k1")]), Duration::from_secs(30));
    let token = mint(key_a(), None, &claims(600));
    assert!(single.verifier.verify(&token).await.is_ok());

    let two = file_fixture(&jwks(&[jwk(key_a(), "k1"), jwk(key_b(), "k2")]), Duration::from_secs(30));
    assert_eq!(two.verifier.verify(&token).await, Err(JwtError::UnknownKey));
    // Both keys stay usable by kid.
    let t1 = mint(key_a(), Some("k1"), &claims(600));
    let t2 = mint(key_b(), Some("k2"), &claims(600));
    assert!(two.verifier.verify(&t1).await.is_ok());
    assert!(two.verifier.verify(&t2).await.is_ok());
}

#[tokio::test]
async fn jwks_entries_for_other_algorithms_or_uses_are_skipped() {
    let mut rs384 = jwk(key_a(), "k-rs384");
    rs384["alg"] = json!("RS384");
    let mut enc = jwk(key_a(), "k-enc");
    enc["use"] = json!("enc");
    let mut no_alg = jwk(key_b(), "k-plain");
    no_alg.as_object_mut().unwrap().remove("alg");
    no_alg.as_object_mut().unwrap().remove("use");
    let f = file_fixture(&jwks(&[rs384, enc, no_alg]), Duration::from_secs(30));
    f.verifier.preload().await.unwrap();

    for kid in ["k-rs384", "k-enc"] {
        let token = mint(key_a(), Some(kid), &claims(600));
        assert_eq!(f.verifier.verify(&token).await, Err(JwtError::UnknownKey), "{kid}");
    }
    let token = mint(key_b(), Some("k-plain"), &claims(600));
    assert!(f.verifier.verify(&token).await.is_ok());
    // Only one usable key remains, so a kid-less token signed by it is accepted.
    let token = mint(key_b(), None, &claims(600));
    assert!(f.verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn jwks_file_is_reread_for_new_kid_only_after_the_interval() {
    let f = file_fixture(&jwks(&[jwk(key_a(), "k1")]), Duration::from_secs(2));
    f.verifier.preload().await.unwrap();

    // Rotate: the issuer starts signing with key B under a new kid.
    write_file(&f.path, &jwks(&[jwk(key_a(), "k1"), jwk(key_b(), "k2")]));
    let rotated = mint(key_b(), Some("k2"), &claims(600));
    // Within the interval since the preload, the file is not re-read.
    assert_eq!(f.verifier.verify(&rotated).await, Err(JwtError::UnknownKey));
    assert_eq!(f.verifier.verify(&rotated).await, Err(JwtError::UnknownKey));

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let verified = f.verifier.verify(&rotated).await.unwrap();
    assert!(verified.first_seen);
    // The old key still works too.
    assert!(f.verifier.verify(&mint(key_a(), Some("k1"), &claims(600))).await.is_ok());
}

#[tokio::test]
async fn broken_rewrite_keeps_previous_keys() {
    let f = file_fixture(&jwks(&[jwk(key_a(), "k1")]), Duration::from_millis(10));
    f.verifier.preload().await.unwrap();
    write_file(&f.path, "{ half-written");
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Unknown kid forces a re-read, which fails to parse; the known key survives.
    let unknown = mint(key_a(), Some("k9"), &claims(600));
    assert_eq!(f.verifier.verify(&unknown).await, Err(JwtError::UnknownKey));
    assert!(f.verifier.verify(&mint(key_a(), Some("k1"), &claims(600))).await.is_ok());
}

#[tokio::test]
async fn missing_jwks_file_fails_preload_and_verification() {
    let dir = tempfile::tempdir().unwrap();
    let verifier = JwtVerifier::new(vec![IssuerConfig {
        issuer: ISS.to_owned(),
        audiences: vec![AUD.to_owned()],
        jwks: JwksSource::File(dir.path().join("absent.json")),
    }]);
    assert_eq!(verifier.preload().await, Err(JwtError::JwksUnavailable));
    let token = mint(key_a(), Some("k1"), &claims(600));
    assert_eq!(verifier.verify(&token).await, Err(JwtError::JwksUnavailable));
}

#[tokio::test]
async fn keys_load_lazily_without_preload() {
    let f = file_fixture(&jwks(&[jwk(key_a(), "k1")]), Duration::from_secs(30));
    let token = mint(key_a(), Some("k1"), &claims(600));
    assert!(f.verifier.verify(&token).await.unwrap().first_seen);
}

#[tokio::test]
async fn two_issuers_each_verify_their_own_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path_a = dir.path().join("a.json");
    let path_b = dir.path().join("b.json");
    write_file(&path_a, &jwks(&[jwk(key_a(), "shared-kid")]));
    write_file(&path_b, &jwks(&[jwk(key_b(), "shared-kid")]));
    let iss_b = "https://levd.example.test";
    let verifier = JwtVerifier::new(vec![
        IssuerConfig { issuer: ISS.to_owned(), audiences: vec![AUD.to_owned()], jwks: JwksSource::File(path_a) },
        IssuerConfig {
            issuer: iss_b.to_owned(),
            audiences: vec!["levd-api".to_owned()],
            jwks: JwksSource::File(path_b),
        },
    ]);
    verifier.preload().await.unwrap();

    let token_a = mint(key_a(), Some("shared-kid"), &claims(600));
    let verified_a = verifier.verify(&token_a).await.unwrap();
    assert_eq!(verified_a.issuer, ISS);

    let mut claims_b = claims(600);
    claims_b["iss"] = json!(iss_b);
    claims_b["aud"] = json!("levd-api");
    claims_b["sub"] = json!("user-42");
    let token_b = mint(key_b(), Some("shared-kid"), &claims_b);
    let verified_b = verifier.verify(&token_b).await.unwrap();
    assert_eq!((verified_b.issuer.as_str(), verified_b.subject.as_str()), (iss_b, "user-42"));

    // Issuer B's claims signed with issuer A's key: routed to B, refused by B's key.
    let cross = mint(key_a(), Some("shared-kid"), &claims_b);
    assert_eq!(verifier.verify(&cross).await, Err(JwtError::BadSignature));
    // Issuer A's audience is not accepted for issuer B.
    let mut wrong_aud = claims_b.clone();
    wrong_aud["aud"] = json!(AUD);
    let token = mint(key_b(), Some("shared-kid"), &wrong_aud);
    assert_eq!(verifier.verify(&token).await, Err(JwtError::WrongAudience));
}

/// A tiny JWKS server on 127.0.0.1 that counts requests.
struct JwksServer {
    body: Mutex<String>,
    status: Mutex<StatusCode>,
    content_type: Mutex<&'static str>,
    hits: AtomicUsize,
}

impl JwksServer {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_jwks(server: State<Arc<JwksServer>>) -> impl IntoResponse {
    server.hits.fetch_add(1, Ordering::SeqCst);
    let status = *server.status.lock().unwrap();
    let content_type = *server.content_type.lock().unwrap();
    let body = server.body.lock().unwrap().clone();
    (status, [(header::CONTENT_TYPE, content_type)], body)
}

async fn start_jwks_server(body: String) -> (Arc<JwksServer>, String) {
    let server = Arc::new(JwksServer {
        body: Mutex::new(body),
        status: Mutex::new(StatusCode::OK),
        content_type: Mutex::new("application/json"),
        hits: AtomicUsize::new(0),
    });
    let app = Router::new().route("/.well-known/jwks.json", get(serve_jwks)).with_state(Arc::clone(&server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (server, format!("http://{addr}/.well-known/jwks.json"))
}

fn url_verifier(url: &str, refetch: Duration) -> Arc<JwtVerifier> {
    Arc::new(
        JwtVerifier::new(vec![IssuerConfig {
            issuer: ISS.to_owned(),
            audiences: vec![AUD.to_owned()],
            jwks: JwksSource::Url(url.to_owned()),
        }])
        .with_refetch_interval(refetch),
    )
}

async fn flood_unknown_kids(verifier: &Arc<JwtVerifier>, round: usize) {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let token = mint(key_a(), Some(&format!("random-{round}-{i}")), &claims(600));
        let verifier = Arc::clone(verifier);
        tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), Err(JwtError::UnknownKey));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_over_http_is_fetched_and_refetch_is_rate_limited() {
    let (server, url) = start_jwks_server(jwks(&[jwk(key_a(), "k1")])).await;
    let verifier = url_verifier(&url, Duration::from_secs(2));
    verifier.preload().await.unwrap();
    assert_eq!(server.hits(), 1);

    let token = mint(key_a(), Some("k1"), &claims(600));
    assert!(verifier.verify(&token).await.unwrap().first_seen);
    assert!(!verifier.verify(&token).await.unwrap().first_seen);
    assert_eq!(server.hits(), 1, "known kid must not fetch");

    // Right after the preload, a flood of unknown kids causes no fetch at all.
    flood_unknown_kids(&verifier, 0).await;
    assert_eq!(server.hits(), 1);

    // Once the interval has passed, a flood causes exactly one refetch.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    flood_unknown_kids(&verifier, 1).await;
    assert_eq!(server.hits(), 2);

    // Rotation over HTTP: the new kid is picked up after the next interval.
    *server.body.lock().unwrap() = jwks(&[jwk(key_a(), "k1"), jwk(key_b(), "k2")]);
    let rotated = mint(key_b(), Some("k2"), &claims(600));
    assert_eq!(verifier.verify(&rotated).await, Err(JwtError::UnknownKey));
    assert_eq!(server.hits(), 2);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(verifier.verify(&rotated).await.is_ok());
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn failing_jwks_url_is_not_fatal_and_is_retried_later() {
    let (server, url) = start_jwks_server(jwks(&[jwk(key_a(), "k1")])).await;
    *server.status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
    let verifier = url_verifier(&url, Duration::from_secs(1));
    assert_eq!(verifier.preload().await, Ok(()));
    assert_eq!(server.hits(), 1);

    let token = mint(key_a(), Some("k1"), &claims(600));
    // Still inside the interval: no new fetch, keys were never loaded.
    assert_eq!(verifier.verify(&token).await, Err(JwtError::JwksUnavailable));
    assert_eq!(server.hits(), 1);

    *server.status.lock().unwrap() = StatusCode::OK;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn jwks_url_must_answer_json() {
    let (server, url) = start_jwks_server(jwks(&[jwk(key_a(), "k1")])).await;
    *server.content_type.lock().unwrap() = "text/html";
    let verifier = url_verifier(&url, Duration::from_secs(30));
    verifier.preload().await.unwrap();
    let token = mint(key_a(), Some("k1"), &claims(600));
    assert_eq!(verifier.verify(&token).await, Err(JwtError::JwksUnavailable));

    // `application/jwk-set+json` is a JSON type and accepted.
    *server.content_type.lock().unwrap() = "application/jwk-set+json; charset=utf-8";
    let verifier = url_verifier(&url, Duration::from_secs(30));
    verifier.preload().await.unwrap();
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn oversized_jwks_response_is_refused() {
    let mut big = jwk(key_a(), "k1");
    big["padding"] = json!("x".repeat(2 * 1024 * 1024));
    let (_server, url) = start_jwks_server(jwks(&[big])).await;
    let verifier = url_verifier(&url, Duration::from_secs(30));
    verifier.preload().await.unwrap();
    let token = mint(key_a(), Some("k1"), &claims(600));
    assert_eq!(verifier.verify(&token).await, Err(JwtError::JwksUnavailable));
}

#[tokio::test]
async fn unreachable_jwks_url_is_not_fatal() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let verifier = url_verifier(&format!("http://{addr}/jwks.json"), Duration::from_secs(30));
    assert_eq!(verifier.preload().await, Ok(()));
    let token = mint(key_a(), Some("k1"), &claims(600));
    assert_eq!(verifier.verify(&token).await, Err(JwtError::JwksUnavailable));
}
