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

/// Text with NUL and other control characters, as a client may send it anywhere.
const CONTROL_TEXTS: [&str; 4] = ["\u{0}", "a\u{0}b", "\u{1}\u{8}\u{1b}\u{1f}\u{7f}", "\t\r\n\u{85}\u{2028}\u{202e}"];

fn is_envelope(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object())
}

/// The object schema a request body of `op` names, with `$ref`s into the components resolved.
fn body_properties<'a>(doc: &'a serde_json::Value, op: &'a serde_json::Value) -> Vec<(String, &'a serde_json::Value)> {
    let resolve = |s: &'a serde_json::Value| -> &'a serde_json::Value {
        match s.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => doc.pointer(&r.replacen('#', "", 1)).unwrap_or(s),
            None => s,
        }
    };
    let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else { return Vec::new() };
    let schema = resolve(schema);
    let mut out = Vec::new();
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, p) in props {
            let p = resolve(p);
            out.push((name.clone(), p));
            // One level down: objects inside the body (e.g. financials).
            if let Some(inner) = p.get("properties").and_then(|i| i.as_object()) {
                for (n2, p2) in inner {
                    out.push((format!("{name}.{n2}"), resolve(p2)));
                }
            }
        }
    }
    out
}

/// Every string member of every write body levd documents, every query parameter of every
/// read, and every MCP tool argument, filled with NUL and other control characters: never a
/// 5xx, always the JSON envelope (on both backends, as the whole suite runs on each).
#[tokio::test]
async fn control_characters_in_every_text_field_and_parameter_never_yield_5xx() {
    let app = spawn().await;
    let t = app.tenant("ctl").await;
    let deal = app.create_deal(&t.key, serde_json::json!({"title": "Seed"})).await;
    let deal_id = deal["id"].to_string();
    let doc: serde_json::Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut sent = 0;
    for (path, item) in paths {
        let concrete =
            path.split('/').map(|s| if s.starts_with('{') { deal_id.as_str() } else { s }).collect::<Vec<_>>();
        let url = format!("{}{}", app.base, concrete.join("/"));
        for (method, op) in item.as_object().unwrap() {
            let m = match method.as_str() {
                "post" => Method::POST,
                "patch" => Method::PATCH,
                "put" => Method::PUT,
                "get" => Method::GET,
                _ => continue,
            };
            let mut requests: Vec<(String, Option<String>)> = Vec::new();
            for (field, schema) in body_properties(&doc, op) {
                if schema.get("type").is_some_and(|ty| ty != "string" && ty != "object") {
                    continue;
                }
                for text in CONTROL_TEXTS {
                    let mut body = serde_json::json!({"title": "t", "text": "t", "label": "k"});
                    match field.split_once('.') {
                        Some((outer, inner)) => body[outer] = serde_json::json!({ inner: text }),
                        None => body[field.as_str()] = serde_json::json!(text),
                    }
                    requests.push((url.clone(), Some(body.to_string())));
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] != "query" {
                    continue;
                }
                let name = p["name"].as_str().unwrap();
                for text in CONTROL_TEXTS {
                    let q: String =
                        url::form_urlencoded::Serializer::new(String::new()).append_pair(name, text).finish();
                    requests.push((format!("{url}?{q}"), None));
                }
            }
            for (u, body) in requests {
                let mut req = app.client.request(m.clone(), &u).bearer_auth(&t.key).header("X-Origin-App", "fuzz");
                if let Some(b) = body {
                    req = req.header("content-type", "application/json").body(b);
                }
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap();
                assert!(status < 500, "{m} {u} -> {status}: {text}");
                assert!(is_envelope(&text), "{m} {u} -> {status}: {text}");
                sent += 1;
            }
        }
    }
    assert!(sent > 200, "the document names the write bodies and parameters ({sent} requests)");

    // MCP: every string argument of every tool.
    let mcp =
        |body: serde_json::Value| app.mcp_post(&body).header("MCP-Protocol-Version", "2025-11-25").bearer_auth(&t.key);
    let list = body_json(mcp(serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))).await;
    for tool in list["result"]["tools"].as_array().unwrap() {
        let name = tool["name"].as_str().unwrap();
        for (arg, schema) in tool["inputSchema"]["properties"].as_object().into_iter().flatten() {
            if schema["type"] != "string" {
                continue;
            }
            let args = serde_json::json!({ arg: "a\u{0}b", "deal_id": deal["id"], "title": "t" });
            let call = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": args}});
            let resp = mcp(call).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{name}.{arg}");
            let body: serde_json::Value = resp.json().await.unwrap();
            let status = body["result"]["structuredContent"]["error"]["status"].as_u64().unwrap_or(200);
            assert!(status < 500, "{name}.{arg}: {body}");
        }
    }
    let health: serde_json::Value =
        app.client.get(format!("{}/health", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["circuit_breaker"], "closed", "{health}");
}

/// Every header levd reads, carrying control characters: values a client library would send
/// (tab, bytes above 0x7f) reach levd and get the envelope; raw NUL and other control bytes,
/// sent over a bare socket, are refused by the HTTP parser — never with a 5xx.
#[tokio::test]
async fn control_characters_in_every_header_never_yield_5xx() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn().await;
    let t = app.tenant("hdr").await;
    const HEADERS: [&str; 9] = [
        "Authorization",
        "X-Origin-App",
        "X-Active-Account",
        "Idempotency-Key",
        "Content-Type",
        "Accept",
        "Origin",
        "MCP-Protocol-Version",
        "Cookie",
    ];
    let addr = app.base.trim_start_matches("http://").to_string();
    for header in HEADERS {
        for (path, method) in [("/api/external/v2/deals", Method::POST), ("/api/external/v2/me", Method::GET)] {
            // Through a client: tab and obs-text are valid header bytes.
            let value = reqwest::header::HeaderValue::from_bytes(b"a\tb\x80\xff").unwrap();
            let mut req = app.client.request(method.clone(), format!("{}{path}", app.base));
            if header != "Authorization" {
                req = req.bearer_auth(&t.key);
            }
            if header != "X-Origin-App" {
                req = req.header("X-Origin-App", "fuzz");
            }
            let resp = req.header(header, value).body("{\"title\":\"h\"}").send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            assert!(status < 500 && is_envelope(&text), "{header} on {path}: {status} {text}");

            // Over a bare socket: NUL, other C0 controls and DEL in the value.
            for raw in [&b"a\x00b"[..], b"\x01\x1b\x7f", b"x\rinjected"] {
                let mut msg = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
                if header != "Authorization" {
                    msg.extend_from_slice(format!("Authorization: Bearer {}\r\n", t.key).as_bytes());
                }
                msg.extend_from_slice(header.as_bytes());
                msg.extend_from_slice(b": ");
                msg.extend_from_slice(raw);
                msg.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
                let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
                sock.write_all(&msg).await.unwrap();
                let mut answer = Vec::new();
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), sock.read_to_end(&mut answer)).await;
                let answer = String::from_utf8_lossy(&answer);
                let status: u16 = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                assert!((400..500).contains(&status), "{header}: {raw:?} -> {answer}");
                // Also what the HTTP parser refuses on its own carries the envelope.
                let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                assert!(is_envelope(body), "{header}: {raw:?} -> {answer}");
            }
        }
    }
}
