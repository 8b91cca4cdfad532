//! Randomised requests: whatever the path, query, headers or body, the answer is JSON and never
//! a 5xx. Inputs are generated with proptest from fragments that reach deep into the parsers.
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::Method;

use crate::common::*;

fn path_strategy() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("deals".to_string()),
        Just("api-keys".to_string()),
        Just("me".to_string()),
        Just("accounts".to_string()),
        Just("active-account".to_string()),
        Just("account".to_string()),
        Just("team".to_string()),
        Just("financials".to_string()),
        Just("notes".to_string()),
        Just("build".to_string()),
        Just("auth".to_string()),
        Just("validate-api-key".to_string()),
        Just("health".to_string()),
        (-3i64..5).prop_map(|n| n.to_string()),
        Just("99999999999999999999".to_string()),
        "[a-zA-Z0-9%._~-]{0,12}",
    ];
    proptest::collection::vec(segment, 1..5).prop_map(|s| s.join("/"))
}

fn query_strategy() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("limit"),
        Just("cursor"),
        Just("offset"),
        Just("sort"),
        Just("fields"),
        Just("include"),
        Just("search"),
        Just("scope"),
        Just("filter[loan_type]"),
        Just("filter[archived]"),
        Just("filter[loan_amount][gte]"),
        Just("filter[created_at][lt]"),
        Just("filter[x][y][z]"),
        Just("filter["),
    ];
    let value = prop_oneof![
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("201".to_string()),
        Just("eyJpZCI6MTB9".to_string()),
        Just("-loan_amount,title".to_string()),
        Just("financials,team".to_string()),
        Just("2026-01-01T00:00:00Z".to_string()),
        Just("%FF".to_string()),
        "[ -~]{0,16}".prop_map(|s| s.replace(['&', '#', ' '], "%20")),
    ];
    proptest::collection::vec((key, value), 0..5)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"))
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"{}".to_vec()),
        Just(br#"{"title":"Fuzz","loan_amount":-1}"#.to_vec()),
        Just(br#"{"title":"Fuzz","deal_financials":{"land_cost":null}}"#.to_vec()),
        Just(br#"{"label":"k","permission":"read_only"}"#.to_vec()),
        Just(br#"{"slug":"acme"}"#.to_vec()),
        Just(br#"{"text":"   "}"#.to_vec()),
        Just(br#"{"title":[],"pipeline_ids":[1,"x"],"estimated_close_date":"2026-02-30"}"#.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..64),
        "[ -~]{0,64}".prop_map(String::into_bytes),
    ]
}

#[tokio::test]
async fn random_requests_never_yield_5xx_or_non_json() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    app.create_deal(&t.key, serde_json::json!({"title": "Seed"})).await;
    let methods = [Method::GET, Method::POST, Method::PATCH, Method::DELETE, Method::PUT];
    let strategy = (0usize..5, path_strategy(), query_strategy(), body_strategy(), any::<bool>(), any::<u8>());
    let mut runner = TestRunner::deterministic();
    for _ in 0..400 {
        let (m, path, query, body, json_ct, variant) = strategy.new_tree(&mut runner).unwrap().current();
        let url = format!("{}/api/external/v2/{path}?{query}", app.base);
        let mut req = app.client.request(methods[m].clone(), &url).body(body.clone());
        req = match variant % 4 {
            0 => req.bearer_auth(&t.key).header("X-Origin-App", "fuzz"),
            1 => req.bearer_auth(&t.key),
            2 => req.bearer_auth("lev_sk_garbage").header("X-Origin-App", "fuzz"),
            _ => req.header("X-Origin-App", "fuzz").header("X-Active-Account", "acme"),
        };
        if json_ct {
            req = req.header("content-type", "application/json");
        }
        if variant % 7 == 0 {
            req = req.header("Idempotency-Key", format!("fuzz-{}", variant % 3));
        }
        let Ok(resp) = req.send().await else {
            // The client refused to build the request (e.g. an invalid URL): nothing was sent.
            continue;
        };
        let status = resp.status().as_u16();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = resp.text().await.unwrap();
        assert!(status < 500, "{} {url} -> {status}: {text}", methods[m]);
        assert!(ct.starts_with("application/json"), "{} {url} -> {status} {ct}: {text}", methods[m]);
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{url}: {text}");
    }
}
