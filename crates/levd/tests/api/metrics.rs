//! `GET /metrics` (`docs/operations.md#metrics`): request counts and latencies per route
//! template and status, rate-limit refusals, idempotent replays, the database pool; on the main
//! listener, on a listener of its own, or nowhere.
use levd::server::{ServerConfig, start};
use levd_domain::limits::RateLimitConfig;
use levd_http::middleware::Tuning;
use serde_json::json;

use crate::common::*;

/// The value of the sample whose line starts with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn counts_requests_by_route_template_and_status_refusals_and_replays() {
    let limits = RateLimitConfig { enabled: true, ..RateLimitConfig::default() };
    let app = spawn_with(Options { rate_limits: limits, ..Options::default() }).await;
    let t = app.tenant_with("acme", levd_domain::scope::Tier::Free, levd_domain::scope::Role::Admin).await;
    for _ in 0..3 {
        assert_eq!(app.get("/me", &t.key).send().await.unwrap().status(), 200);
    }
    for id in [999_001, 999_002] {
        assert_eq!(app.get(&format!("/deals/{id}"), &t.key).send().await.unwrap().status(), 404);
    }
    let create =
        || app.post_json("/deals", &t.key, &json!({"title": "Metered"})).header("Idempotency-Key", "metrics-1").send();
    assert_eq!(create().await.unwrap().status(), 201);
    let replay = create().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    // The free tier allows 10 calls a minute per endpoint: the rest are refused.
    let mut refused = 0;
    for _ in 0..12 {
        if app.get("/pipelines", &t.key).send().await.unwrap().status() == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 2, "{refused}");

    let r = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    let count = |labels: &str| sample(&text, &format!("levd_http_request_duration_seconds_count{{{labels}}}"));
    assert_eq!(count(r#"route="/me",method="GET",status="200""#), Some(3.0), "{text}");
    // Both ids count under one template: no label holds a value the client chose.
    assert_eq!(count(r#"route="/deals/{deal_id}",method="GET",status="404""#), Some(2.0), "{text}");
    assert!(!text.contains("999001"), "{text}");
    assert_eq!(count(r#"route="/deals",method="POST",status="201""#), Some(2.0), "{text}");
    assert_eq!(sample(&text, "levd_idempotent_replays_total"), Some(1.0), "{text}");
    let refusals = sample(&text, r#"levd_rate_limit_refusals_total{limit_type="endpoint"}"#).unwrap_or(0.0)
        + sample(&text, r#"levd_rate_limit_refusals_total{limit_type="account"}"#).unwrap_or(0.0);
    assert_eq!(refusals, f64::from(refused), "{text}");
    assert!(sample(&text, "levd_db_pool_connections").is_some_and(|n| n >= 1.0), "{text}");
    assert!(text.contains(r#"levd_http_request_duration_seconds_bucket{le="0.0001","#), "{text}");
}

#[tokio::test]
async fn metrics_move_to_their_own_listener_or_go_away() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("lev.db").display());
    let running = start(ServerConfig {
        metrics_bind: Some("127.0.0.1:0".parse().unwrap()),
        tuning: Tuning { metrics_on_main: false, ..Tuning::default() },
        ..server_config(db, dir.path().join("data"))
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let main = client.get(format!("http://{}/metrics", running.addr)).send().await.unwrap();
    assert_eq!(main.status(), 404, "not on the API's listener");
    let own = running.metrics_addr.expect("a listener of its own");
    let r = client.get(format!("http://{own}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("levd_http_request_duration_seconds"));
    let other = client.get(format!("http://{own}/api/external/v2/me")).send().await.unwrap();
    assert_eq!(other.status(), 404, "the metrics listener serves nothing else");
    running.stop().await.unwrap();
}
