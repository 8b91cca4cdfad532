//! What levd's request path costs, in process: one trivial handler behind the full middleware
//! stack (request id, time limit, authentication, origin check, account resolution, rate limits,
//! envelope) against the same handler in a bare router, driven with `tower::ServiceExt::oneshot`
//! so no socket or HTTP parsing blurs the difference.
//!
//! Cases: `baseline` (bare router), `api_key`, `jwt_repeat` (one token over and over: the
//! verified-token cache answers) and `jwt_first` (a token never seen before on every request:
//! full RS256 check plus the last-login write it triggers). A request's time includes the
//! tasks it spawns (those writes), which the summary also shows on their own.
//!
//! After criterion's own report the bench prints each case as `baseline / case`, computed from
//! the samples criterion measured in this very run, so the ratios never mix runs.
//!
//! ```text
//! cargo bench -p levd --bench middleware
//! ```

/// The allocator levd's binary uses (`src/main.rs`), so the bench measures what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::cell::RefCell;
use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, SamplingMode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use levd_auth::{IssuerConfig, JwksSource};
use levd_domain::limits::{RateLimitConfig, TierLimits};
use levd_domain::scope::{KeyPermission, Role, Tier};
use levd_http::AppState;
use levd_http::envelope::Reply;
use levd_store::Store;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::json;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const PING: &str = "/api/external/v2/bench/ping";
const ISSUER: &str = "https://idp.bench.invalid/";
const AUDIENCE: &str = "levd-bench";
const SUBJECT: &str = "bench|owner";
const KID: &str = "bench-key";
const ORIGIN: &str = "levd-bench";
/// Every rate-limit figure: high enough that the limiter does all its work but never refuses.
const UNLIMITED: u32 = 1_000_000_000;
/// Samples per case. Set on each group (a group setting beats `--sample-size`), so the summary
/// knows that the last this-many timings of a case are criterion's measurement samples.
const SAMPLES: usize = 30;

/// Names and order of the cases; the first is the denominator of every ratio.
const CASES: [&str; 4] = ["baseline", "api_key", "jwt_repeat", "jwt_first"];

struct Fixture {
    rt: Runtime,
    /// The full application with `/bench/ping` merged in.
    full: Router,
    /// The same handler with nothing around it.
    bare: Router,
    api_key: String,
    /// PKCS#1 DER of the issuer's signing key.
    signing_key: Vec<u8>,
    _dir: tempfile::TempDir,
}

async fn ping() -> Reply {
    Reply::ok(json!({ "pong": true }))
}

fn limits() -> RateLimitConfig {
    let tier = TierLimits { account_per_minute: UNLIMITED, endpoint_per_minute: UNLIMITED };
    RateLimitConfig {
        enabled: true,
        free: tier,
        standard: tier,
        enterprise: tier,
        validate_key_per_ip: UNLIMITED,
        health_per_ip: UNLIMITED,
    }
}

/// Writes the JWKS of a fresh 2048-bit key and returns the private key for minting.
fn issuer_key(jwks_path: &Path) -> Vec<u8> {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key generation");
    let public = RsaPublicKey::from(&private);
    let jwks = json!({ "keys": [{
        "kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    }]});
    std::fs::write(jwks_path, jwks.to_string()).expect("write JWKS");
    private.to_pkcs1_der().expect("encode RSA key").as_bytes().to_vec()
}

fn fixture() -> Fixture {
    // One thread: every bit of work a request causes, including tasks it spawns, is done on
    // the thread being timed, so nothing escapes the measurement onto an idle core.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let jwks_path = dir.path().join("jwks.json");
    let signing_key = issuer_key(&jwks_path);
    let database_url = format!("sqlite://{}", dir.path().join("bench.db").display());

    let (state, api_key) = rt.block_on(async {
        let store = Store::open_and_migrate(&database_url).await.expect("open database");
        let uuid = || uuid::Uuid::new_v4().to_string();
        let account = store
            .create_account(&uuid(), "bench-co", "Bench Co", Some("brokerage"), Tier::Enterprise)
            .await
            .expect("account");
        let user = store
            .create_user(&uuid(), "owner@bench.invalid", Some("Bench"), Some("Owner"), Some(SUBJECT))
            .await
            .expect("user");
        store.upsert_membership(user.id, account.id, Role::Admin).await.expect("membership");
        let issuers = vec![IssuerConfig {
            issuer: ISSUER.to_owned(),
            audiences: vec![AUDIENCE.to_owned()],
            jwks: JwksSource::File(jwks_path.clone()),
        }];
        let state = levd::server::build_state(store, issuers, limits());
        // What `levd serve` does before accepting connections.
        state.auth.jwt().preload().await.expect("JWKS preload");
        state.auth.sync_epoch().await.expect("credential epoch");
        let issued = state
            .service
            .issue_key(user.id, account.id, Tier::Enterprise, "bench", KeyPermission::FullAccess)
            .await
            .expect("API key");
        (state, issued.secret.expose().to_owned())
    });

    let extra: Router<AppState> = Router::new().route(PING, get(ping));
    let full = levd_http::app_with(state, extra);
    // The same JSON document as `data`, so both sides serialise a body and the difference is
    // what the stack adds: the envelope, the request id, the checks.
    let bare = Router::new().route(PING, get(|| async { axum::Json(json!({ "pong": true })) }));
    Fixture { rt, full, bare, api_key, signing_key, _dir: dir }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs()
}

/// Never reused across the whole run, so every minted token is distinct.
static NEXT_JTI: AtomicU64 = AtomicU64::new(0);

fn mint(signing_key: &[u8]) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.to_owned());
    let now = unix_now();
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "iat": now, "exp": now + 3600,
        "jti": format!("bench-{}", NEXT_JTI.fetch_add(1, Ordering::Relaxed)),
    });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(signing_key)).expect("mint JWT")
}

/// `n` distinct tokens, signed on every core: RSA signing costs far more than verifying, and
/// it happens outside the timed section anyway.
fn mint_many(signing_key: &[u8], n: usize) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get()).min(n.max(1));
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let count = per.min(n.saturating_sub(t * per));
                s.spawn(move || (0..count).map(|_| mint(signing_key)).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("minting thread")).collect()
    })
}

fn request(token: &str) -> Request<Body> {
    Request::builder()
        .uri(PING)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-origin-app", ORIGIN)
        .body(Body::empty())
        .expect("request")
}

/// Wall time of one timed call: all of it, and the part spent waiting for spawned tasks.
struct Timing {
    total: Duration,
    spawned: Duration,
}

/// Sends one request per token (cycling when there are fewer tokens than `iters`), reads each
/// body to the end, then waits for the tasks the requests spawned.
fn drive(rt: &Runtime, router: &Router, tokens: &[String], iters: u64) -> Timing {
    let background = rt.metrics().num_alive_tasks();
    let handle = rt.handle().clone();
    let start = Instant::now();
    let spawned = rt.block_on(async {
        for (_, token) in (0..iters).zip(tokens.iter().cycle()) {
            let resp = router.clone().oneshot(request(token)).await.expect("infallible router");
            assert_eq!(resp.status(), StatusCode::OK, "the bench route must succeed");
            black_box(axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body"));
        }
        // The last-login and last-use writes a request spawns are part of what it costs, even
        // though the response does not wait for them; timed apart so the report can say so.
        let drained = Instant::now();
        while handle.metrics().num_alive_tasks() > background {
            tokio::task::yield_now().await;
        }
        drained.elapsed()
    });
    Timing { total: start.elapsed(), spawned }
}

/// Per-request seconds (total, spawned work) of every timed call, by case.
#[derive(Default)]
struct Recorder(RefCell<HashMap<&'static str, Vec<(f64, f64)>>>);

impl Recorder {
    fn record(&self, case: &'static str, iters: u64, t: &Timing) {
        let n = iters.max(1) as f64;
        self.0.borrow_mut().entry(case).or_default().push((t.total.as_secs_f64() / n, t.spawned.as_secs_f64() / n));
    }

    /// Medians over the measurement samples: criterion calls the routine during warm-up first,
    /// then exactly `SAMPLES` times, so those are the last `SAMPLES` entries.
    fn medians(&self, case: &str) -> Option<(f64, f64)> {
        let all = self.0.borrow();
        let times = all.get(case)?;
        let measured = times.get(times.len().checked_sub(SAMPLES)?..)?;
        Some((median(measured.iter().map(|t| t.0).collect()), median(measured.iter().map(|t| t.1).collect())))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] }
}

fn bench_fixed(c: &mut Criterion, rec: &Recorder, case: &'static str, rt: &Runtime, router: &Router, token: &str) {
    let tokens = [token.to_owned()];
    let mut group = c.benchmark_group(case);
    group.sample_size(SAMPLES);
    group.bench_function("ping", |b| {
        b.iter_custom(|iters| {
            let timing = drive(rt, router, &tokens, iters);
            rec.record(case, iters, &timing);
            timing.total
        })
    });
    group.finish();
}

fn bench_first_seen(c: &mut Criterion, rec: &Recorder, f: &Fixture) {
    let case = "jwt_first";
    let mut group = c.benchmark_group(case);
    group.sample_size(SAMPLES);
    // Every iteration needs a freshly signed token (about 1 ms of RSA signing). Criterion plans
    // iteration counts from the routine's whole wall time, minting included, so these windows
    // bound the run at roughly their length and time a few thousand requests. Flat sampling
    // gives every sample the same number of them.
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(10));
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("ping", |b| {
        b.iter_custom(|iters| {
            let tokens = mint_many(&f.signing_key, usize::try_from(iters).expect("iteration count"));
            let timing = drive(&f.rt, &f.full, &tokens, iters);
            rec.record(case, iters, &timing);
            timing.total
        })
    });
    group.finish();
}

fn print_summary(rec: &Recorder) {
    let Some((base, _)) = rec.medians("baseline") else {
        println!("\nsummary: the baseline was not measured in this run (filtered out or --test); no ratios");
        return;
    };
    println!("\nmiddleware summary (medians of the {SAMPLES} criterion samples of each case, this run)");
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        // Other work on the machine shows up in these figures; say how much there was.
        println!("load average (1/5/15 min) at the end: {}", load.split(' ').take(3).collect::<Vec<_>>().join(" "));
    }
    println!("| case | time per request | of which spawned work | overhead vs baseline | baseline / case |");
    println!("|---|---:|---:|---:|---:|");
    for case in CASES {
        match rec.medians(case) {
            Some((t, spawned)) => println!(
                "| {case} | {:.2} µs | {:.2} µs | {:+.2} µs | {:.3} |",
                t * 1e6,
                spawned * 1e6,
                (t - base) * 1e6,
                base / t
            ),
            None => println!("| {case} | not run | | | |"),
        }
    }
}

fn main() {
    let f = fixture();
    // Token verified once so `jwt_repeat` measures the cached path from the first sample on.
    let repeat_token = mint(&f.signing_key);
    drive(&f.rt, &f.full, std::slice::from_ref(&repeat_token), 1);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let rec = Recorder::default();
    bench_fixed(&mut c, &rec, "baseline", &f.rt, &f.bare, &f.api_key);
    bench_fixed(&mut c, &rec, "api_key", &f.rt, &f.full, &f.api_key);
    bench_fixed(&mut c, &rec, "jwt_repeat", &f.rt, &f.full, &repeat_token);
    bench_first_seen(&mut c, &rec, &f);
    c.final_summary();
    print_summary(&rec);
}
