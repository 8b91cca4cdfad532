//! The request path against an attacker: time limits for request heads and idle connections,
//! the connection cap, the envelope on refusals hyper makes before levd sees a request,
//! repeated credential headers, token audiences, read-only keys and the active account, and
//! the origin of signed links. Raw sockets where reqwest would not send what is tested.
use std::time::Duration;

use levd::admin_documents::{Command as DocumentCommand, execute as document_admin};
use levd_domain::scope::KeyPermission;
use levd_http::conn::ConnectionLimits;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// A bound on every wait for the server in this file; what is tested happens well within it.
const PATIENCE: Duration = Duration::from_secs(10);

async fn with_limits(limits: ConnectionLimits) -> TestApp {
    spawn_with(Options { connection: limits, ..Options::default() }).await
}

/// A server that closes a connection idle for a second (and waits long for a request head).
async fn idle_after_one_second() -> TestApp {
    with_limits(ConnectionLimits {
        header_read_timeout: Duration::from_secs(300),
        idle_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap()
}

/// One response read off a raw connection: status, headers (lower-case names) and body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as the error envelope; asserts its shape and the status it names.
    fn envelope(&self, code: &str) -> Value {
        assert!(self.header("content-type").unwrap_or_default().starts_with("application/json"), "{:?}", self.headers);
        let v: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)));
        assert_eq!(v["error"]["code"], code, "{v}");
        assert_eq!(v["error"]["status"], self.status, "{v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert!(v["error"]["details"].is_object(), "{v}");
        let rid = v["request_id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(rid).is_ok(), "{v}");
        assert_eq!(self.header("x-request-id"), Some(rid));
        v
    }
}

/// Reads one response with a `Content-Length` body from `stream`.
async fn read_response(stream: &mut TcpStream) -> Raw {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await.expect("no answer in time").unwrap();
        assert!(n > 0, "connection closed before a response: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let len: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await.expect("body in time").unwrap();
        assert!(n > 0, "connection closed inside a body");
        body.extend_from_slice(&chunk[..n]);
    }
    Raw { status, headers, body }
}

/// Sends `request` on a fresh connection and reads the answer.
async fn exchange(app: &TestApp, request: &[u8]) -> Raw {
    let mut s = connect(app).await;
    s.write_all(request).await.unwrap();
    read_response(&mut s).await
}

/// Waits (bounded) until the server closes `stream`; true when it did.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut sink = [0u8; 1024];
    let outcome = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    outcome.is_ok()
}

const HEALTH: &[u8] = b"GET /api/external/v2/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[tokio::test]
async fn a_stalled_request_head_is_cut_off_after_the_header_timeout() {
    let app = with_limits(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(300),
        ..ConnectionLimits::default()
    })
    .await;
    // Half a head, then nothing.
    let mut s = connect(&app).await;
    s.write_all(b"GET /api/external/v2/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    assert!(closed_by_server(&mut s).await, "a stalled head must be cut off");
    // A connection that sends nothing at all is cut off the same way.
    let mut silent = connect(&app).await;
    assert!(closed_by_server(&mut silent).await);
    // A whole head is answered.
    assert_eq!(exchange(&app, HEALTH).await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = idle_after_one_second().await;
    let mut s = connect(&app).await;
    // Keep-alive works: two requests on one connection.
    for _ in 0..2 {
        s.write_all(HEALTH).await.unwrap();
        let r = read_response(&mut s).await;
        assert_eq!(r.status, 200);
        assert_ne!(r.header("connection"), Some("close"));
    }
    assert!(closed_by_server(&mut s).await, "an idle keep-alive connection must be closed");
    app.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_answered_503_with_the_envelope() {
    let app = with_limits(ConnectionLimits { max_connections: 2, ..ConnectionLimits::default() }).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = connect(&app).await;
        s.write_all(HEALTH).await.unwrap();
        assert_eq!(read_response(&mut s).await.status, 200);
        held.push(s);
    }
    let refused = exchange(&app, HEALTH).await;
    assert_eq!(refused.status, 503);
    refused.envelope("SERVICE_UNAVAILABLE");
    assert_eq!(refused.header("connection"), Some("close"));

    // Once a held connection closes, a new one is served again.
    drop(held.pop());
    let served = tokio::time::timeout(PATIENCE, async {
        loop {
            if exchange(&app, HEALTH).await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "a freed slot must be usable");
    app.stop().await;
}

#[tokio::test]
async fn requests_hyper_cannot_take_are_refused_with_the_envelope() {
    let app = spawn().await;
    // A 100 KB request target.
    let long = format!("GET /api/external/v2/health?pad={} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "a".repeat(100_000));
    let r = exchange(&app, long.as_bytes()).await;
    assert_eq!(r.status, 414);
    r.envelope("URI_TOO_LONG");

    // 200 header fields.
    let mut many = String::from("GET /api/external/v2/health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-Field-{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    let r = exchange(&app, many.as_bytes()).await;
    assert_eq!(r.status, 431);
    r.envelope("REQUEST_HEADER_FIELDS_TOO_LARGE");

    // A control character inside a header value.
    let r = exchange(&app, b"GET /api/external/v2/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Odd: a\x01b\r\n\r\n").await;
    assert_eq!(r.status, 400);
    r.envelope("BAD_REQUEST");

    // Not HTTP at all.
    let r = exchange(&app, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n").await;
    assert_eq!(r.status, 400);
    r.envelope("BAD_REQUEST");

    // After a normal answer on a kept-alive connection, a malformed request still gets the
    // envelope, and the normal answer before it is untouched.
    let mut s = connect(&app).await;
    s.write_all(HEALTH).await.unwrap();
    let ok = read_response(&mut s).await;
    assert_eq!(ok.status, 200);
    let health: Value = serde_json::from_slice(&ok.body).unwrap();
    assert!(health["data"].is_object(), "{health}");
    s.write_all(b"GET /api/external/v2/health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: x\r\n\r\n").await.unwrap();
    let r = read_response(&mut s).await;
    assert_eq!(r.status, 400);
    r.envelope("BAD_REQUEST");
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_on_mcp_is_a_json_rpc_parse_error() {
    let app = spawn().await;
    let t = app.tenant("mcp-parse").await;
    let r = app
        .mcp_post(&json!({}))
        .bearer_auth(&t.key)
        .header("MCP-Protocol-Version", "2025-11-25")
        .body("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = parts(r).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["code"], -32700, "{body}");
    assert_eq!(body["id"], Value::Null);
    // Well-formed JSON still reaches the MCP server.
    let tools_list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    let (status, body) =
        send(app.mcp_post(&tools_list).bearer_auth(&t.key).header("MCP-Protocol-Version", "2025-11-25")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"]["tools"].is_array(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn repeated_credential_account_and_idempotency_headers_are_refused() {
    let app = spawn().await;
    let t = app.tenant("twice").await;
    let other = app.tenant("twice-other").await;
    let url = app.url("/deals");

    // Two Authorization headers, either order, even when both are valid.
    for (first, second) in [(&t.key, &other.key), (&other.key, &t.key), (&t.key, &t.key)] {
        let r = app
            .client
            .get(&url)
            .header("Authorization", format!("Bearer {first}"))
            .header("Authorization", format!("Bearer {second}"))
            .header("X-Origin-App", "tests")
            .send()
            .await
            .unwrap();
        let (s, body) = parts(r).await;
        assert_eq!(s, 400, "{body}");
        let e = assert_error(&body, 400, "bad_request");
        assert_eq!(e["details"]["header"], "authorization");
    }
    // Two X-Active-Account headers.
    let jwt = jwt_for(&t.subject);
    let r = app
        .get("/deals", &jwt)
        .header("X-Active-Account", "twice")
        .header("X-Active-Account", "twice-other")
        .send()
        .await
        .unwrap();
    let (s, body) = parts(r).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(assert_error(&body, 400, "bad_request")["details"]["header"], "x-active-account");
    // Two Idempotency-Key headers: refused, and nothing is created.
    let r = app
        .post_json("/deals", &t.key, &json!({"title": "twice"}))
        .header("Idempotency-Key", "k-1")
        .header("Idempotency-Key", "k-2")
        .send()
        .await
        .unwrap();
    let (s, body) = parts(r).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(assert_error(&body, 400, "bad_request")["details"]["header"], "idempotency-key");
    let (_, list) = parts(app.get("/deals", &t.key).send().await.unwrap()).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    // The same on /mcp.
    let r = app
        .mcp_post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .header("Authorization", format!("Bearer {}", t.key))
        .header("Authorization", format!("Bearer {}", other.key));
    let (s, body) = send(r).await;
    assert_eq!(s, 400, "{body}");
    assert_error(&body, 400, "bad_request");
    // One of each is fine.
    assert_eq!(app.get("/deals", &t.key).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_read_only_key_cannot_switch_the_active_account() {
    let app = spawn().await;
    let t = app.tenant("ro-switch").await;
    let read_only = app.key(t.user_id, &t.account, KeyPermission::ReadOnly).await;
    let body = json!({"slug": "ro-switch"});

    let (s, e) = parts(app.patch_json("/me/active-account", &read_only, &body).send().await.unwrap()).await;
    assert_eq!(s, 403, "{e}");
    assert_error(&e, 403, "forbidden");
    // The refusal is the one read-only keys get for other writes.
    let (s, write) = parts(app.post_json("/deals", &read_only, &json!({"title": "x"})).send().await.unwrap()).await;
    assert_eq!(s, 403);
    assert_eq!(write["error"]["code"], e["error"]["code"]);
    // Nothing was saved.
    let user = app.store.user_by_id(t.user_id).await.unwrap().unwrap();
    assert_eq!(user.active_account_id, None);

    // Through MCP: a tool error with the same status.
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "switch_account", "arguments": {"account_slug": "ro-switch"}}});
    let (s, rpc) = send(app.mcp_post(&call).bearer_auth(&read_only).header("MCP-Protocol-Version", "2025-11-25")).await;
    assert_eq!(s, 200, "{rpc}");
    assert_eq!(rpc["result"]["isError"], true, "{rpc}");
    assert_eq!(rpc["result"]["structuredContent"]["error"]["status"], 403, "{rpc}");
    let user = app.store.user_by_id(t.user_id).await.unwrap().unwrap();
    assert_eq!(user.active_account_id, None);

    // A full-access key may.
    let (s, ok) = parts(app.patch_json("/me/active-account", &t.key, &body).send().await.unwrap()).await;
    assert_eq!(s, 200, "{ok}");
    assert_eq!(ok["data"]["active_account"]["slug"], "ro-switch");
    app.stop().await;
}

/// A deal with one document; returns the document's download link as the server builds it for
/// a request naming `host`.
async fn download_link(app: &TestApp, key: &str, host: &str) -> String {
    let deal = app.create_deal(key, json!({"title": "Linked"})).await["id"].as_i64().unwrap();
    let src = app._dir.path().join("uploads").join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&src).unwrap();
    let file = src.join("upload.bin");
    std::fs::write(&file, b"unit,rent\n101,1450\n").unwrap();
    let doc = document_admin(
        &app.store,
        DocumentCommand::Add {
            deal,
            file,
            vault: None,
            folder: None,
            name: Some("rent.csv".into()),
            data_dir: app._dir.path().join("data"),
        },
    )
    .await
    .unwrap();
    let id = doc["id"].as_i64().unwrap();
    let r = app
        .get(&format!("/deals/{deal}/documents/{id}/download"), key)
        .header("Host", host)
        .header("X-Forwarded-Proto", "http")
        .send()
        .await
        .unwrap();
    let (s, body) = parts(r).await;
    assert_eq!(s, 200, "{body}");
    body["data"]["download_url"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn signed_links_are_built_on_the_public_url_whatever_the_host_header() {
    let app = spawn_with(Options { public_url: Some("https://lev.example.com".into()), ..Options::default() }).await;
    let t = app.tenant("links-public").await;
    let url = download_link(&app, &t.key, "evil.example").await;
    assert!(url.starts_with("https://lev.example.com/api/external/v2/files/"), "{url}");
    // The link is good: served at this node under its path.
    let path = url.strip_prefix("https://lev.example.com").unwrap();
    let r = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"unit,rent\n101,1450\n");
    app.stop().await;

    // Without --public-url the link follows the Host the client used (documented behaviour).
    let app = spawn().await;
    let t = app.tenant("links-derived").await;
    let url = download_link(&app, &t.key, "files.example:8443").await;
    assert!(url.starts_with("http://files.example:8443/api/external/v2/files/"), "{url}");
    app.stop().await;
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let app = idle_after_one_second().await;
    // HTTP/2 with prior knowledge: the preface and an empty SETTINGS frame, then silence.
    let mut s = connect(&app).await;
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    assert!(closed_by_server(&mut s).await, "an idle HTTP/2 connection must be closed");

    // Requests over HTTP/2 are served.
    let client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let r = client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    app.stop().await;
}
