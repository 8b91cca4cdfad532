//! Rate limits (`docs/api.md#rate-limits`): per account, per endpoint, per IP; headers on every response.
use levd_domain::limits::{RateLimitConfig, TierLimits};
use levd_domain::scope::{Role, Tier};
use serde_json::json;

use crate::common::*;

fn limited() -> Options {
    Options { rate_limits: RateLimitConfig::default(), jwt: true, ..Options::default() }
}

#[tokio::test]
async fn the_endpoint_bucket_of_the_free_tier_allows_ten_per_minute() {
    let app = spawn_with(limited()).await;
    let t = app.tenant_with("small", Tier::Free, Role::Admin).await;
    for i in 0..10 {
        let r = app.get("/deals", &t.key).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(r.headers()["ratelimit-limit"], "10");
        assert_eq!(r.headers()["ratelimit-remaining"].to_str().unwrap(), (9 - i).to_string());
        assert!(r.headers().contains_key("ratelimit-reset"));
    }
    let r = app.get("/deals", &t.key).send().await.unwrap();
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    let (s, b) = parts(r).await;
    assert_eq!(s, 429);
    let e = assert_error(&b, 429, "rate_limit_exceeded");
    assert_eq!(e["code"], "RATE_LIMITED");
    assert_eq!(e["limit_type"], "endpoint");
    assert_eq!(e["retry_after_seconds"], retry);
    // Another endpoint of the same account still has budget.
    assert_eq!(app.get("/me", &t.key).send().await.unwrap().status(), 200);
    // The /build alias is the same endpoint.
    assert_eq!(app.get("/build/deals", &t.key).send().await.unwrap().status(), 429);
    // HEAD is GET without the body: it draws on the same bucket, not a fresh one.
    assert_eq!(app.req(reqwest::Method::HEAD, "/deals", &t.key).send().await.unwrap().status(), 429);
}

#[tokio::test]
async fn the_account_bucket_spans_endpoints() {
    let cfg = RateLimitConfig {
        free: TierLimits { account_per_minute: 5, endpoint_per_minute: 100 },
        ..RateLimitConfig::default()
    };
    let app = spawn_with(Options { rate_limits: cfg, jwt: true, ..Options::default() }).await;
    let t = app.tenant_with("small", Tier::Free, Role::Admin).await;
    let paths = ["/deals", "/me", "/api-keys", "/account/team", "/me/accounts"];
    for p in paths {
        assert_eq!(app.get(p, &t.key).send().await.unwrap().status(), 200, "{p}");
    }
    let (s, b) = parts(app.get("/deals", &t.key).send().await.unwrap()).await;
    assert_eq!(s, 429);
    assert_eq!(b["error"]["limit_type"], "account");
    // Accounts do not share buckets.
    let other = app.tenant_with("other", Tier::Free, Role::Admin).await;
    assert_eq!(app.get("/deals", &other.key).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn validate_api_key_is_limited_per_ip_to_ten_per_minute() {
    let app = spawn_with(limited()).await;
    let url = app.url("/auth/validate-api-key");
    for _ in 0..10 {
        let r = app
            .client
            .post(&url)
            .header("X-Origin-App", "t")
            .json(&json!({"api_key": "lev_sk_x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let (s, b) = parts(
        app.client.post(&url).header("X-Origin-App", "t").json(&json!({"api_key": "lev_sk_x"})).send().await.unwrap(),
    )
    .await;
    assert_eq!(s, 429);
    assert_eq!(b["error"]["limit_type"], "ip");
}

#[tokio::test]
async fn health_is_limited_per_ip_to_a_hundred_per_minute() {
    let app = spawn_with(limited()).await;
    // The bucket refills one request every 0.6 s, so a slow machine may see a few more than
    // 100 pass before the first 429: as many as the time taken has refilled, and no more.
    let started = std::time::Instant::now();
    let mut allowed = 0;
    loop {
        let status = app.client.get(app.url("/health")).send().await.unwrap().status();
        if status == 429 {
            break;
        }
        assert_eq!(status, 200);
        allowed += 1;
        assert!(allowed <= 400, "no 429 after {allowed} requests");
    }
    let refilled = (started.elapsed().as_secs_f64() / 0.6).ceil() as usize;
    assert!(allowed >= 100, "only {allowed} allowed");
    assert!(allowed <= 100 + refilled, "{allowed} allowed in {:?}", started.elapsed());
}

#[tokio::test]
async fn limits_off_means_no_limit_and_no_headers() {
    let app = spawn().await;
    let t = app.tenant_with("small", Tier::Free, Role::Admin).await;
    for _ in 0..25 {
        let r = app.get("/deals", &t.key).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(!r.headers().contains_key("ratelimit-limit"));
    }
    let (_, me) = parts(app.get("/me", &t.key).send().await.unwrap()).await;
    assert_eq!(me["data"]["platform"]["rate_limits"]["enabled"], false);
}
