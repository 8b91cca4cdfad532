//! The sign-in and client-registration defences of the authorization server under attack:
//! parallel password guessing, bursts of password checks, lock-out attempts, redirects through
//! unapproved clients and metadata-document URLs aimed at special-purpose addresses.
use std::time::Duration;

use levd_oauth::OAuthSettings;
use levd_store::AttemptRule;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::oauth::{Flow, PASSWORD, browser, challenge, query_param, register, signin_tenant, verifier};

/// Settings for these tests: loopback metadata allowed, and a wait for a hashing slot long
/// enough that a loaded test machine never turns a check into a 503.
fn settings() -> OAuthSettings {
    OAuthSettings {
        allow_private_client_metadata: true,
        password_wait: Duration::from_secs(120),
        ..OAuthSettings::default()
    }
}

async fn spawn_oauth(settings: OAuthSettings) -> TestApp {
    spawn_with(Options { oauth: Some(settings), ..Options::default() }).await
}

/// A browser whose connections come from another loopback address, so the server sees a
/// different client address.
fn browser_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(Some(ip.parse().unwrap()))
        .build()
        .unwrap()
}

/// Statuses of `n` sign-ins sent at once on one interaction, each with its own e-mail from
/// `email(i)` and a wrong password.
async fn burst(flow: &Flow, n: usize, email: impl Fn(usize) -> String) -> Vec<StatusCode> {
    let i = flow.begin(&flow.standard(&challenge(&verifier()))).await;
    let sends = (0..n).map(|k| i.sign_in_as(email(k), "wrong password!".into()));
    futures::future::join_all(sends).await.into_iter().map(|r| r.status()).collect()
}

fn count(statuses: &[StatusCode], s: StatusCode) -> usize {
    statuses.iter().filter(|x| **x == s).count()
}

#[tokio::test]
async fn parallel_wrong_passwords_are_checked_at_most_the_allowed_number_of_times() {
    let app = spawn_oauth(OAuthSettings { signin_failures_per_ip: 8, ..settings() }).await;
    let (_t, email) = signin_tenant(&app, "oauth-burst").await;
    let flow = Flow::public(&app, &email).await;

    // One e-mail address: five failures per (e-mail, address), then a growing delay.
    let statuses = burst(&flow, 15, |_| email.clone()).await;
    let (checked, refused) =
        (count(&statuses, StatusCode::UNAUTHORIZED), count(&statuses, StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(checked + refused, 15, "{statuses:?}");
    assert!((1..=5).contains(&checked), "{checked} parallel guesses were checked: {statuses:?}");

    // One client address, a different e-mail each time: at most its limit is checked. The
    // five failures above count towards it too.
    let statuses = burst(&flow, 20, |k| format!("nobody-{k}@example.com")).await;
    let checked_now = count(&statuses, StatusCode::UNAUTHORIZED);
    assert_eq!(checked_now + count(&statuses, StatusCode::TOO_MANY_REQUESTS), 20, "{statuses:?}");
    assert!(checked + checked_now <= 8, "{checked} + {checked_now} guesses from one address were checked");
    app.stop().await;
}

/// Two nodes on one database: parallel wrong passwords for one e-mail, half through each node,
/// are still checked at most the allowed number of times (the reservation is one statement in
/// the shared database).
#[tokio::test]
async fn parallel_wrong_passwords_across_two_nodes_are_checked_at_most_the_allowed_number_of_times() {
    let a = spawn_oauth(settings()).await;
    let b = a.second_node(Options { oauth: Some(settings()), ..Options::default() }).await;
    let (_t, email) = signin_tenant(&a, "oauth-nodes").await;
    let on_a = Flow::public(&a, &email).await;
    let on_b = Flow {
        base: b.base.clone(),
        http: browser(),
        client_id: on_a.client_id.clone(),
        redirect_uri: on_a.redirect_uri.clone(),
        email: email.clone(),
    };
    let first = on_a.begin(&on_a.standard(&challenge(&verifier()))).await;
    let second = first.via(&on_b);
    let sends = (0..16).map(|k| {
        let i = if k % 2 == 0 { &first } else { &second };
        i.sign_in_as(email.clone(), "wrong password!".into())
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(sends).await.into_iter().map(|r| r.status()).collect();
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    assert_eq!(checked + count(&statuses, StatusCode::TOO_MANY_REQUESTS), 16, "{statuses:?}");
    assert!((1..=5).contains(&checked), "{checked} parallel guesses were checked on two nodes: {statuses:?}");
    a.stop().await;
}

/// Resident memory of this process (the server runs in it), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_burst_of_sign_ins_keeps_memory_bounded() {
    let app = spawn_oauth(OAuthSettings {
        signin_failures_per_ip: 1000,
        signin_failures_per_email_and_address: 1000,
        ..settings()
    })
    .await;
    let (_t, email) = signin_tenant(&app, "oauth-rss").await;
    let flow = Flow::public(&app, &email).await;
    // Warm up: the first check builds the dummy hash and the first working-memory block.
    let warm = burst(&flow, 2, |k| format!("warm-{k}@example.com")).await;
    assert_eq!(count(&warm, StatusCode::UNAUTHORIZED), 2);
    let before = rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            // Bounded: stops when the burst is over, or after two minutes at the latest.
            for _ in 0..6000 {
                peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // Forty parallel sign-ins of unknown users: every one is a full argon2id check.
    let statuses = burst(&flow, 40, |k| format!("stranger-{k}@example.com")).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.await.unwrap();
    assert_eq!(count(&statuses, StatusCode::UNAUTHORIZED), 40, "{statuses:?}");
    let grown_mib = (peak.load(std::sync::atomic::Ordering::Relaxed).max(rss_kib()) - before) / 1024;
    // Forty checks at once would need about 760 MiB of working memory; a few slots need a few
    // blocks of 19 MiB. Other tests share the process, hence the generous bound.
    assert!(grown_mib < 250, "resident memory grew by {grown_mib} MiB during 40 sign-ins");
    app.stop().await;
}

#[tokio::test]
async fn failures_from_one_address_only_delay_a_correct_sign_in_from_another() {
    let app = spawn_oauth(OAuthSettings { signin_delay_base: Duration::from_secs(3), ..settings() }).await;
    let (_t, email) = signin_tenant(&app, "oauth-lockout").await;
    let attacker = Flow::public(&app, &email).await;
    let a = attacker.begin(&attacker.standard(&challenge(&verifier()))).await;
    for _ in 0..5 {
        assert_eq!(a.sign_in("wrong password!").await.status(), StatusCode::UNAUTHORIZED);
    }
    // The guessing address is held back, even with the right password.
    let r = a.sign_in(PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());

    // The user, from another address, waits out the delay and gets in.
    let user = Flow { http: browser_from("127.0.0.2"), ..Flow::public(&app, &email).await };
    let b = user.begin(&user.standard(&challenge(&verifier()))).await;
    let first = b.sign_in(PASSWORD).await;
    let r = if first.status() == StatusCode::TOO_MANY_REQUESTS {
        let wait: u64 = first.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=3).contains(&wait), "the first delay is the base delay, not a lock-out: {wait}");
        tokio::time::sleep(Duration::from_secs(wait)).await;
        b.sign_in(PASSWORD).await
    } else {
        first
    };
    assert_eq!(r.status(), StatusCode::OK, "the user signs in from elsewhere after the delay");
    assert!(r.text().await.unwrap().contains("<option value="), "the consent page is shown");

    // The guessing address stays limited for this e-mail address.
    assert_eq!(a.sign_in(PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[tokio::test]
async fn attempt_reservations_count_limit_and_delay_per_bucket() {
    let app = spawn().await;
    let store = &app.store;
    // Real time: the server's purge task drops buckets a day old.
    let now =
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap();
    // A hard limit per bucket; another bucket (another client address) is untouched.
    let limited = AttemptRule { window: 900, limit: 2, free_failures: i64::MAX, base_delay: 0, max_delay: 0 };
    assert_eq!(store.reserve_signin_attempt("email-from:10.0.0.1 a@x", now, &limited).await.unwrap(), Some(1));
    assert_eq!(store.reserve_signin_attempt("email-from:10.0.0.1 a@x", now, &limited).await.unwrap(), Some(2));
    assert_eq!(store.reserve_signin_attempt("email-from:10.0.0.1 a@x", now, &limited).await.unwrap(), None);
    assert_eq!(store.reserve_signin_attempt("email-from:10.0.0.2 a@x", now, &limited).await.unwrap(), Some(1));
    // Parallel requests read the clock before they reach the database: one whose clock is a
    // second behind the last writer's is not refused where no delay runs.
    assert_eq!(store.reserve_signin_attempt("ip:10.0.0.3", now + 1, &limited).await.unwrap(), Some(1));
    assert_eq!(store.reserve_signin_attempt("ip:10.0.0.3", now, &limited).await.unwrap(), Some(2));
    // A released attempt can be taken again; a new window starts over.
    store.release_signin_attempt("email-from:10.0.0.1 a@x").await.unwrap();
    assert_eq!(store.reserve_signin_attempt("email-from:10.0.0.1 a@x", now, &limited).await.unwrap(), Some(2));
    assert_eq!(store.reserve_signin_attempt("email-from:10.0.0.1 a@x", now + 901, &limited).await.unwrap(), Some(1));

    // Growing delays: two free failures, then 10 s, 20 s, 40 s, and 40 s again (the cap).
    let delayed = AttemptRule { window: 10_000, limit: i64::MAX, free_failures: 2, base_delay: 10, max_delay: 40 };
    let b = "email:a@x";
    assert_eq!(store.reserve_signin_attempt(b, now, &delayed).await.unwrap(), Some(1));
    assert_eq!(store.reserve_signin_attempt(b, now, &delayed).await.unwrap(), Some(2));
    assert_eq!(store.reserve_signin_attempt(b, now + 9, &delayed).await.unwrap(), None);
    assert_eq!(store.signin_bucket(b).await.unwrap().unwrap().not_before, now + 10);
    assert_eq!(store.reserve_signin_attempt(b, now + 10, &delayed).await.unwrap(), Some(3));
    assert_eq!(store.reserve_signin_attempt(b, now + 29, &delayed).await.unwrap(), None);
    assert_eq!(store.reserve_signin_attempt(b, now + 30, &delayed).await.unwrap(), Some(4));
    assert_eq!(store.reserve_signin_attempt(b, now + 69, &delayed).await.unwrap(), None);
    assert_eq!(store.reserve_signin_attempt(b, now + 70, &delayed).await.unwrap(), Some(5));
    assert_eq!(store.signin_bucket(b).await.unwrap().unwrap().not_before, now + 110);
    store.clear_signin_failures(b).await.unwrap();
    assert_eq!(store.reserve_signin_attempt(b, now + 71, &delayed).await.unwrap(), Some(1));
    app.stop().await;
}

#[tokio::test]
async fn authorize_errors_of_a_client_nobody_approved_are_shown_not_redirected() {
    let app = spawn().await;
    let (_t, email) = signin_tenant(&app, "oauth-open-redirect").await;
    // Anyone can register a client that points anywhere.
    let target = "https://attacker.example/landing";
    let (status, body) = register(&app, json!({"redirect_uris": [target], "token_endpoint_auth_method": "none"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let flow = Flow {
        base: app.base.clone(),
        http: browser(),
        client_id: body["client_id"].as_str().unwrap().to_string(),
        redirect_uri: target.to_string(),
        email,
    };
    let good = flow.standard(&challenge(&verifier()));
    let without = |name: &str| good.iter().filter(|(k, _)| k != name).cloned().collect::<Vec<_>>();
    let with = |name: &str, value: &str| {
        let mut p = without(name);
        p.push((name.into(), value.into()));
        p
    };
    let bad_requests = [
        with("code_challenge_method", "plain"),
        without("code_challenge_method"),
        without("code_challenge"),
        with("response_type", "token"),
        with("scope", "admin"),
        with("response_mode", "fragment"),
        with("resource", "https://other.example/api"),
    ];
    for params in &bad_requests {
        let (status, cookie, html, location) = flow.open(params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}");
        assert!(location.is_none(), "redirected to an unapproved client: {location:?}");
        assert!(cookie.is_none());
        assert!(html.contains("invalid"), "{html}");
        assert!(!html.contains("attacker.example"), "{html}");
    }

    // Once a user has consented to the client, its errors go back to it.
    let _ = flow.code(&[]).await;
    for params in &bad_requests {
        let (status, _, _, location) = flow.open(params).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{params:?}");
        let location = location.unwrap();
        assert!(location.starts_with(target), "{location}");
        assert!(query_param(&location, "error").is_some());
    }
    app.stop().await;
}

/// Opens `/authorize` for a client id; returns (status, page, location).
async fn open_for(app: &TestApp, client_id: &str) -> (StatusCode, String, Option<String>) {
    let flow = Flow {
        base: app.base.clone(),
        http: browser(),
        client_id: client_id.to_string(),
        redirect_uri: "http://127.0.0.1:9/callback".into(),
        email: String::new(),
    };
    let (status, _, html, location) = flow.open(&flow.standard(&challenge(&verifier()))).await;
    (status, html, location)
}

/// Every refusal carries the same page: no reason, no fetch error text.
async fn assert_refused_alike(app: &TestApp, ids: &[String]) {
    let mut first: Option<String> = None;
    for id in ids {
        let (status, html, location) = open_for(app, id).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}");
        assert!(location.is_none(), "{id}");
        assert!(html.contains("could not be fetched or is not acceptable"), "{id}: {html}");
        for leak in ["resolve", "refused", "private", "special", "answered", "timed out", "error sending", "404"] {
            assert!(!html.contains(leak), "{id} leaks `{leak}`: {html}");
        }
        match &first {
            None => first = Some(html),
            Some(f) => assert_eq!(f, &html, "{id} is told apart from {}", ids[0]),
        }
    }
}

fn strict() -> OAuthSettings {
    OAuthSettings { allow_private_client_metadata: false, ..settings() }
}

#[tokio::test]
async fn metadata_urls_with_special_purpose_ipv4_literals_are_refused() {
    let app = spawn_oauth(strict()).await;
    let ids: Vec<String> = [
        "198.18.0.1",
        "198.19.255.1",
        "192.0.0.8",
        "240.0.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "100.64.0.1",
        "0.0.0.0",
        "127.0.0.1",
        "169.254.169.254",
    ]
    .iter()
    .map(|ip| format!("https://{ip}/client.json"))
    .collect();
    assert_refused_alike(&app, &ids).await;
    app.stop().await;
}

#[tokio::test]
async fn metadata_urls_with_ipv4_embedded_in_ipv6_are_refused() {
    let app = spawn_oauth(strict()).await;
    let ids: Vec<String> = [
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::808:808",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "2002:7f00:1::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "ff02::1",
        "fe80::1",
        "::1",
    ]
    .iter()
    .map(|ip| format!("https://[{ip}]/client.json"))
    .collect();
    assert_refused_alike(&app, &ids).await;
    app.stop().await;
}

#[tokio::test]
async fn metadata_urls_whose_names_resolve_to_special_addresses_are_refused() {
    let app = spawn_oauth(strict()).await;
    let ids = ["https://localhost/client.json".to_string(), "https://localhost:8443/client.json".to_string()];
    assert_refused_alike(&app, &ids).await;
    app.stop().await;
}

#[tokio::test]
async fn metadata_fetch_failures_show_one_generic_message() {
    use axum::routing::get;
    // Loopback documents are allowed here, so the fetches really happen and fail in
    // different ways; the page must not tell them apart.
    let app = spawn_oauth(settings()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let doc_base = format!("http://{}", listener.local_addr().unwrap());
    let docs = axum::Router::new()
        .route("/liar.json", get(|| async { axum::Json(json!({"client_id": "https://someone.else/c.json"})) }))
        .route("/slow.json", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }));
    tokio::spawn(async move { axum::serve(listener, docs).await.unwrap() });
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let ids = [
        format!("{doc_base}/missing.json"),
        format!("{doc_base}/liar.json"),
        format!("{doc_base}/slow.json"),
        format!("http://{closed}/client.json"),
        "https://name.invalid/client.json".to_string(),
    ];
    assert_refused_alike(&app, &ids).await;
    app.stop().await;
}
