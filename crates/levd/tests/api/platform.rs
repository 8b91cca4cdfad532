//! Envelopes, errors, headers and routing: the rules every endpoint shares.
use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn health_is_public_and_reports_the_database() {
    let app = spawn().await;
    let r = app.client.get(app.url("/health")).send().await.unwrap();
    let header_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let (status, body) = parts(r).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["status"], "ok");
    assert_eq!(body["data"]["database"], "ok");
    assert!(body["data"]["version"].is_string());
    assert_eq!(body["request_id"], header_id.as_str());
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    app.stop().await;
}

#[tokio::test]
async fn health_reports_503_when_the_database_is_gone() {
    let app = spawn().await;
    app.store.close().await;
    let (status, body) = parts(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, 503);
    let e = assert_error(&body, 503, "service_unavailable");
    assert_eq!(e["details"]["database"], "unavailable");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_envelopes() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let (s, b) = parts(app.get("/no-such-thing", &t.key).send().await.unwrap()).await;
    assert_eq!(s, 404);
    assert_error(&b, 404, "not_found");
    let (s, b) = parts(app.client.get(format!("{}/elsewhere", app.base)).send().await.unwrap()).await;
    assert_eq!(s, 404);
    assert_error(&b, 404, "not_found");

    let r = app.req(Method::PUT, "/deals", &t.key).send().await.unwrap();
    let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let (s, b) = parts(r).await;
    assert_eq!(s, 405);
    assert_error(&b, 405, "method_not_allowed");
    assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow}");
}

#[tokio::test]
async fn missing_and_bad_credentials_are_401_with_challenge() {
    let app = spawn().await;
    let r = app.client.get(app.url("/deals")).header("X-Origin-App", "t").send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let (s, b) = parts(r).await;
    assert_eq!(s, 401);
    let e = assert_error(&b, 401, "unauthorized");
    assert_eq!(e["code"], "UNAUTHORIZED");
    assert_eq!(e["message"], "Authentication required");

    for auth in [
        "Bearer lev_sk_not-a-real-key",
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer a b",
    ] {
        let r = app
            .client
            .get(app.url("/deals"))
            .header("Authorization", auth)
            .header("X-Origin-App", "t")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["www-authenticate"], "Bearer error=\"invalid_token\"", "{auth}");
        let (s, b) = parts(r).await;
        assert_eq!(s, 401, "{auth}");
        assert_eq!(assert_error(&b, 401, "unauthorized")["message"], "Invalid or expired authentication token");
    }
}

#[tokio::test]
async fn authentication_comes_before_the_origin_header() {
    let app = spawn().await;
    let r = app.client.get(app.url("/deals")).bearer_auth("lev_sk_bogus").send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn x_origin_app_is_required_and_bounded() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let (s, b) = parts(app.client.get(app.url("/deals")).bearer_auth(&t.key).send().await.unwrap()).await;
    assert_eq!(s, 400);
    assert_eq!(assert_error(&b, 400, "bad_request")["message"], "X-Origin-App header is required");
    for bad in ["", "  ", "has space", &"x".repeat(129)] {
        let (s, b) = parts(
            app.client.get(app.url("/deals")).bearer_auth(&t.key).header("X-Origin-App", bad).send().await.unwrap(),
        )
        .await;
        assert_eq!(s, 400, "{bad:?}");
        assert_error(&b, 400, "bad_request");
    }
    let r = app
        .client
        .get(app.url("/deals"))
        .bearer_auth(&t.key)
        .header("X-Origin-App", "x".repeat(128))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Health alone needs no origin header.
    assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn bodies_must_be_json_objects_within_one_mib() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let post = |ct: &'static str, body: Vec<u8>| {
        app.req(Method::POST, "/deals", &t.key).header("content-type", ct).body(body).send()
    };
    let (s, b) = parts(post("application/json", b"{not json".to_vec()).await.unwrap()).await;
    assert_eq!(s, 400);
    assert_error(&b, 400, "bad_request");
    let (s, _) = parts(post("application/json", b"[1,2]".to_vec()).await.unwrap()).await;
    assert_eq!(s, 400);
    let (s, _) = parts(post("application/json", Vec::new()).await.unwrap()).await;
    assert_eq!(s, 400);
    let (s, b) = parts(post("text/plain", br#"{"title":"x"}"#.to_vec()).await.unwrap()).await;
    assert_eq!(s, 415);
    assert_error(&b, 415, "unsupported_media_type");
    let (s, _) = parts(post("application/json; charset=utf-8", br#"{"title":"x"}"#.to_vec()).await.unwrap()).await;
    assert_eq!(s, 201);
    let mut big = br#"{"title":"x","description":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024 + 10));
    big.extend(br#""}"#);
    let (s, b) = parts(post("application/json", big.clone()).await.unwrap()).await;
    assert_eq!(s, 413);
    assert_error(&b, 413, "payload_too_large");
    // Without a Content-Length (chunked), the limit still holds.
    let stream =
        futures::stream::iter(big.chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
    let r = app
        .req(Method::POST, "/deals", &t.key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn build_alias_answers_like_the_canonical_route() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    app.create_deal(&t.key, json!({"title": "Alias"})).await;
    let (s1, a) = parts(app.get("/deals", &t.key).send().await.unwrap()).await;
    let (s2, b) = parts(app.get("/build/deals", &t.key).send().await.unwrap()).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(a["data"], b["data"]);
    assert_eq!(a["pagination"], b["pagination"]);
    let (s, _) = parts(app.client.get(app.url("/build/health")).send().await.unwrap()).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn request_ids_are_uuids_and_adopted_when_valid() {
    let app = spawn().await;
    let mine = "0b6f1c1e-7b0e-4a51-9d0c-3f1f0c9d2a11";
    let r = app.client.get(app.url("/health")).header("X-Request-Id", mine).send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], mine);
    let r = app.client.get(app.url("/health")).header("X-Request-Id", "<script>").send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let (_, b1) = parts(app.client.get(app.url("/health")).send().await.unwrap()).await;
    let (_, b2) = parts(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_ne!(b1["request_id"], b2["request_id"]);
}

/// No input of any shape yields a 5xx or a non-JSON body.
#[tokio::test]
async fn odd_inputs_never_produce_500_or_non_json() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let paths = [
        "/deals?limit=-1",
        "/deals?limit=99999999999999999999",
        "/deals?cursor=%FF%FE",
        "/deals?sort=%00",
        "/deals?filter[loan_amount][gte]=NaN",
        "/deals?filter[created_at][gte]=2026-99-99",
        "/deals?filter[[x]]=1",
        "/deals?fields=",
        "/deals?include=%2C%2C",
        "/deals/0",
        "/deals/-5",
        "/deals/99999999999999999999999",
        "/deals/1/financials",
        "/deals/%F0%9F%92%A3",
        "/api-keys?limit=0",
        "/api-keys/abc",
        "/account/team?offset=-2",
        "/deals?search=%25%5F%5C",
        "/deals?offset=18446744073709551616&sort=title",
        "/me?x=%",
    ];
    for p in paths {
        let r = app.get(p, &t.key).send().await.unwrap();
        let (s, _) = parts(r).await;
        assert!(s < 500, "{p} -> {s}");
    }
    let bodies = [
        "null",
        "1",
        "\"s\"",
        "{\"title\": {\"a\": []}}",
        "{\"title\": 1e999}",
        "{\"loan_amount\": 1e308, \"title\": \"x\"}",
        "\u{feff}{}",
        "{\"title\":\"\\ud800\"}",
    ];
    for b in bodies {
        for (m, p) in [
            (Method::POST, "/deals"),
            (Method::PATCH, "/deals/1"),
            (Method::POST, "/api-keys"),
            (Method::PATCH, "/me/active-account"),
        ] {
            let r =
                app.req(m.clone(), p, &t.key).header("content-type", "application/json").body(b).send().await.unwrap();
            let (s, _) = parts(r).await;
            assert!(s < 500, "{m} {p} {b} -> {s}");
        }
    }
}

/// HEAD is answered wherever GET is: same status and headers, no body (public, authenticated
/// and refused requests alike).
#[tokio::test]
async fn head_is_answered_wherever_get_is() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let deal = app.create_deal(&t.key, json!({"title": "Headed"})).await["id"].as_i64().unwrap();
    let deal_path = format!("/deals/{deal}");
    let paths = ["/health", "/openapi.json", "/deals", deal_path.as_str(), "/me", "/lenders/directory?limit=1"];
    for path in paths {
        // The public documents are asked for without a credential.
        let send = |m: Method| match path {
            "/health" | "/openapi.json" => app.client.request(m, app.url(path)).send(),
            _ => app.req(m, path, &t.key).send(),
        };
        let g = send(Method::GET).await.unwrap();
        let h = send(Method::HEAD).await.unwrap();
        assert_eq!(g.status(), 200, "{path}");
        assert_eq!(h.status(), g.status(), "{path}");
        assert_eq!(h.headers().get("content-type"), g.headers().get("content-type"), "{path}");
        assert!(h.headers().get("x-request-id").is_some(), "{path}");
        assert!(h.bytes().await.unwrap().is_empty(), "{path}");
    }
    // Refusals are the same too.
    let h = app.client.head(app.url("/deals")).header("X-Origin-App", "t").send().await.unwrap();
    assert_eq!(h.status(), 401);
    let h = app.req(Method::HEAD, "/deals/999999", &t.key).send().await.unwrap();
    assert_eq!(h.status(), 404);
}
