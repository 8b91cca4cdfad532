//! The MCP server at `/mcp`: protocol revisions, the tool catalogue, tool results and errors,
//! account switching, rate limits, and the refusals of the transport (401, Origin, Host).
use levd_domain::limits::RateLimitConfig;
use levd_domain::scope::{Role, Tier};
use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::common::*;

const V2025: &str = "2025-11-25";
const V2026: &str = "2026-07-28";

/// A JSON-RPC POST to `/mcp` as a Streamable HTTP client sends it.
fn post(app: &TestApp, token: Option<&str>, version: Option<&str>, body: &Value) -> RequestBuilder {
    let mut r = app.mcp_post(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(v) = version {
        r = r.header("MCP-Protocol-Version", v);
    }
    r
}

async fn rpc(app: &TestApp, token: &str, method: &str, params: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params });
    let (status, body) = parts(post(app, Some(token), Some(V2025), &body).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], 7, "{body}");
    body
}

/// `tools/call` under 2025-11-25; returns the tool result.
async fn call(app: &TestApp, token: &str, tool: &str, args: Value) -> Value {
    let body = rpc(app, token, "tools/call", json!({ "name": tool, "arguments": args })).await;
    let result = body["result"].clone();
    assert!(result.is_object(), "{body}");
    result
}

/// The JSON of a successful tool result (its text and its structured content agree).
fn ok(result: &Value) -> Value {
    assert_eq!(result["isError"], false, "{result}");
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, result["structuredContent"], "{result}");
    text
}

/// The text and `error` object of a failed tool result.
fn failed(result: &Value) -> (String, Value) {
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap().to_string();
    let error = result["structuredContent"]["error"].clone();
    let rid = error["request_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(rid).is_ok(), "{result}");
    assert!(text.ends_with(&format!("(request id {rid})")), "{text}");
    for k in ["type", "code", "status", "message", "details"] {
        assert!(error.get(k).is_some(), "error.{k} missing: {result}");
    }
    (text, error)
}

fn titles(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn initialize_with_2025_11_25_is_answered_without_a_session() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": V2025, "capabilities": {}, "clientInfo": { "name": "tests", "version": "1" } } });
    let r = post(&app, Some(&t.key), None, &init).send().await.unwrap();
    assert!(r.headers().get("mcp-session-id").is_none(), "stateless: no session");
    let (s, body) = parts(r).await;
    assert_eq!(s, 200);
    let res = &body["result"];
    assert_eq!(res["protocolVersion"], V2025);
    assert_eq!(res["serverInfo"]["name"], "levd");
    assert_eq!(res["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(res["capabilities"]["tools"].is_object(), "{body}");
    assert!(res["instructions"].as_str().unwrap().contains("switch_account"));

    let note = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let r = post(&app, Some(&t.key), Some(V2025), &note).send().await.unwrap();
    assert_eq!(r.status(), 202);

    // Each later request stands alone (any node can answer it).
    let body = rpc(&app, &t.key, "tools/list", json!({})).await;
    assert!(body["result"]["tools"].as_array().unwrap().len() > 40);
}

#[tokio::test]
async fn protocol_2026_07_28_works_through_discovery_and_per_request_metadata() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    app.create_deal(&t.key, json!({"title": "Maple Court"})).await;

    // 2026-07-28 has no handshake: an initialize naming it is answered with the newest
    // revision that has one.
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": V2026, "capabilities": {}, "clientInfo": { "name": "tests", "version": "1" } } });
    let (s, body) = parts(post(&app, Some(&t.key), None, &init).send().await.unwrap()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["result"]["protocolVersion"], V2025);

    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": V2026,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "tests", "version": "1" },
    });
    let discover = json!({ "jsonrpc": "2.0", "id": 2, "method": "server/discover", "params": { "_meta": meta } });
    let r = post(&app, Some(&t.key), Some(V2026), &discover).header("Mcp-Method", "server/discover");
    let (s, body) = parts(r.send().await.unwrap()).await;
    assert_eq!(s, 200, "{body}");
    let versions = body["result"]["supportedVersions"].as_array().unwrap();
    assert!(versions.contains(&json!(V2026)) && versions.contains(&json!(V2025)), "{body}");
    assert_eq!(body["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "levd");

    let call = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "list_deals", "arguments": {}, "_meta": meta } });
    let r = post(&app, Some(&t.key), Some(V2026), &call)
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", "list_deals");
    let (s, body) = parts(r.send().await.unwrap()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(titles(&ok(&body["result"])), ["Maple Court"]);
}

#[tokio::test]
async fn tools_list_describes_each_tool_with_an_object_schema() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let body = rpc(&app, &t.key, "tools/list", json!({})).await;
    let tools = body["result"]["tools"].as_array().unwrap();
    let tool = |name: &str| tools.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} missing"));
    assert_eq!(tools.len(), 51, "the catalogue minus the tools with no REST operation");
    for t in tools {
        let s = &t["inputSchema"];
        assert_eq!(s["type"], "object", "{t}");
        assert!(s["properties"].is_object(), "{t}");
        assert!(s.get("additionalProperties").is_none(), "{t}");
        assert!(t["description"].as_str().is_some_and(|d| !d.is_empty()), "{t}");
    }
    for name in ["list_deals", "create_deal", "get_deal", "switch_account"] {
        tool(name);
    }
    assert_eq!(tool("get_deal")["inputSchema"]["required"], json!(["deal_id"]));
    assert_eq!(tool("create_deal")["inputSchema"]["required"], json!(["title"]));
    assert_eq!(tool("switch_account")["inputSchema"]["required"], json!(["account_slug"]));
    let loan_types = &tool("list_deals")["inputSchema"]["properties"]["loan_type"]["enum"];
    assert!(loan_types.as_array().unwrap().contains(&json!("permanent")), "{loan_types}");
    assert!(tool("list_deals")["inputSchema"]["properties"]["min_loan_amount"].is_object());
    assert_eq!(tool("list_deals")["annotations"]["readOnlyHint"], true);
    assert_eq!(tool("create_deal")["annotations"]["readOnlyHint"], false);
    assert_eq!(tool("create_deal")["annotations"]["destructiveHint"], false);
    assert_eq!(tool("delete_deal")["annotations"]["destructiveHint"], true);
    assert!(tools.iter().all(|t| t["name"] != "show_deal" && t["name"] != "summarize_deal"));

    // An unknown tool is a protocol error, not a tool result.
    let body = rpc(&app, &t.key, "tools/call", json!({ "name": "no_such_tool", "arguments": {} })).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
}

#[tokio::test]
async fn list_deals_shows_the_callers_account_only() {
    let app = spawn().await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("beta").await;
    app.create_deal(&a.key, json!({"title": "A1", "loan_type": "permanent", "loan_amount": 9000000})).await;
    app.create_deal(&a.key, json!({"title": "A2", "loan_type": "light_bridge", "loan_amount": 1000000})).await;
    let foreign = app.create_deal(&b.key, json!({"title": "B1", "loan_type": "permanent"})).await;

    let list = ok(&call(&app, &a.key, "list_deals", json!({})).await);
    assert_eq!(titles(&list), ["A1", "A2"]);
    assert_eq!(list["total"], 2);
    assert_eq!(list["showing"], 2);
    assert_eq!(list["has_more"], false);
    assert_eq!(list["limit"], 50);

    // Filters become the REST query; enum values are folded to lower case.
    let list = ok(&call(&app, &a.key, "list_deals", json!({"loan_type": "PERMANENT"})).await);
    assert_eq!(titles(&list), ["A1"]);
    let list = ok(&call(&app, &a.key, "list_deals", json!({"min_loan_amount": 5000000})).await);
    assert_eq!(titles(&list), ["A1"]);
    let list = ok(&call(&app, &a.key, "list_deals", json!({"limit": 1, "sort": "-title"})).await);
    assert_eq!(
        (titles(&list), list["has_more"].clone(), list["offset"].clone()),
        (vec!["A2".into()], json!(true), json!(0))
    );
    // REST's own validation speaks through the tool.
    let (text, error) = failed(&call(&app, &a.key, "list_deals", json!({"sort": "colour"})).await);
    assert_eq!(error["type"], "validation_error");
    assert!(text.starts_with("Validation failed: "), "{text}");

    // Another account's deal is not found, exactly as over REST.
    let (text, error) = failed(&call(&app, &a.key, "get_deal", json!({"deal_id": foreign["id"]})).await);
    assert!(text.starts_with("Not found: Deal not found (request id "), "{text}");
    assert_eq!(
        (error["type"].clone(), error["status"].clone(), error["code"].clone()),
        (json!("not_found"), json!(404), json!("NOT_FOUND"))
    );
}

#[tokio::test]
async fn create_deal_then_get_deal_round_trip() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let created = ok(&call(
        &app,
        &t.key,
        "create_deal",
        json!({"title": "Harbor Point", "loan_amount": 4200000, "loan_type": "Light_Bridge",
               "deal_financials": {"purchase_price": 5000000}}),
    )
    .await);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["loan_type"], "light_bridge");

    let got = ok(&call(&app, &t.key, "get_deal", json!({"deal_id": id, "include": ["financials"]})).await);
    assert_eq!(got["title"], "Harbor Point");
    assert_eq!(got["loan_amount"], 4200000.0);
    assert_eq!(got["financials"]["purchase_price"], 5000000.0);

    // The same record over REST.
    let (s, b) = parts(app.get(&format!("/deals/{id}"), &t.key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["title"], "Harbor Point");

    // Ids given as strings name the same deal.
    let archived = ok(&call(&app, &t.key, "delete_deal", json!({"deal_id": id.to_string()})).await);
    assert_eq!(archived, json!({"deleted": true}));
    let (_, b) = parts(app.get(&format!("/deals/{id}"), &t.key).send().await.unwrap()).await;
    assert_eq!(b["data"]["archived"], true);
}

#[tokio::test]
async fn a_validation_failure_is_a_tool_error() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let (text, error) = failed(&call(&app, &t.key, "create_deal", json!({"loan_amount": -5})).await);
    assert_eq!(error["type"], "validation_error");
    assert_eq!(error["status"], 422);
    assert_eq!(error["details"]["fields"]["title"], "is required");
    assert!(text.starts_with("Validation failed: "), "{text}");
    assert!(text.contains("title is required") && text.contains("loan_amount"), "{text}");
    let list = ok(&call(&app, &t.key, "list_deals", json!({})).await);
    assert_eq!(list["total"], 0, "nothing was created");
}

#[tokio::test]
async fn a_viewer_cannot_write() {
    let app = spawn().await;
    let t = app.tenant_with("acme", Tier::Standard, Role::Viewer).await;
    let (text, error) = failed(&call(&app, &t.key, "create_deal", json!({"title": "x"})).await);
    assert_eq!(error["type"], "forbidden");
    assert_eq!(
        text,
        format!(
            "Forbidden: Missing required scope: deals:write (request id {})",
            error["request_id"].as_str().unwrap()
        )
    );
    ok(&call(&app, &t.key, "list_deals", json!({})).await);
}

#[tokio::test]
async fn switch_account_saves_the_choice() {
    let app = spawn().await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("beta").await;
    let uid = app.user("multi@x.test", Some("sub-multi")).await;
    app.member(uid, a.account.id, Role::Admin).await;
    app.member(uid, b.account.id, Role::Viewer).await;
    app.create_deal(&a.key, json!({"title": "in alpha"})).await;
    app.create_deal(&b.key, json!({"title": "in beta"})).await;
    let jwt = jwt_for("sub-multi");

    let (text, error) = failed(&call(&app, &jwt, "list_deals", json!({})).await);
    assert!(text.contains("switch_account"), "{text}");
    assert_eq!(error["details"]["available_accounts"], json!(["alpha", "beta"]));
    let accounts = ok(&call(&app, &jwt, "list_available_accounts", json!({})).await);
    assert_eq!(accounts["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(accounts["active_account"], Value::Null);

    let (text, _) = failed(&call(&app, &jwt, "switch_account", json!({"account_slug": "gamma"})).await);
    assert!(text.starts_with("Not found: "), "{text}");
    let switched = ok(&call(&app, &jwt, "switch_account", json!({"account_slug": "beta"})).await);
    assert_eq!(switched["active_account"]["slug"], "beta");

    assert_eq!(titles(&ok(&call(&app, &jwt, "list_deals", json!({})).await)), ["in beta"]);
    let profile = ok(&call(&app, &jwt, "get_my_profile", json!({})).await);
    assert_eq!(profile["account"]["slug"], "beta");
    // Viewer on beta.
    let (text, _) = failed(&call(&app, &jwt, "create_deal", json!({"title": "x"})).await);
    assert!(text.starts_with("Forbidden: "), "{text}");
    // The choice is the user's saved preference, for REST too.
    let (s, me) = parts(app.get("/me", &jwt).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(me["data"]["account"]["slug"], "beta");
}

#[tokio::test]
async fn tool_calls_spend_the_rest_rate_limits() {
    let app = spawn_with(Options { rate_limits: RateLimitConfig::default(), ..Options::default() }).await;
    let t = app.tenant_with("small", Tier::Free, Role::Admin).await;
    // The free tier allows ten calls a minute to one endpoint, whichever way they come.
    for _ in 0..5 {
        assert_eq!(app.get("/deals", &t.key).send().await.unwrap().status(), 200);
    }
    for _ in 0..5 {
        ok(&call(&app, &t.key, "list_deals", json!({})).await);
    }
    let (text, error) = failed(&call(&app, &t.key, "list_deals", json!({})).await);
    assert!(text.starts_with("Rate limited: ") && text.contains("Retry in"), "{text}");
    assert_eq!(error["type"], "rate_limit_exceeded");
    assert_eq!(error["limit_type"], "endpoint");
    assert!(error["retry_after_seconds"].as_u64().unwrap() >= 1);
    assert_eq!(app.get("/deals", &t.key).send().await.unwrap().status(), 429);
    // Another operation still has budget.
    ok(&call(&app, &t.key, "get_my_profile", json!({})).await);
}

#[tokio::test]
async fn requests_without_a_valid_token_get_the_challenge() {
    let app = spawn().await;
    let metadata = format!("{}/.well-known/oauth-protected-resource/mcp", app.base);
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });

    let r = post(&app, None, Some(V2025), &list).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], format!("Bearer resource_metadata=\"{metadata}\"").as_str());
    let (s, body) = parts(r).await;
    assert_eq!(s, 401);
    assert_eq!(body["error"], "unauthorized");
    assert!(body["error_description"].is_string());

    for token in ["not-a-real-token", "lev_sk_0000000000000000000000000000000000000000000000000"] {
        let r = post(&app, Some(token), Some(V2025), &list).send().await.unwrap();
        assert_eq!(
            r.headers()["www-authenticate"],
            format!("Bearer resource_metadata=\"{metadata}\", error=\"invalid_token\"").as_str()
        );
        let (s, body) = parts(r).await;
        assert_eq!(s, 401);
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(body["error_description"], "Invalid or expired authentication token");
    }
}

#[tokio::test]
async fn browser_origins_not_allowed_are_refused() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    let r = post(&app, Some(&t.key), Some(V2025), &list).header("Origin", "https://evil.example").send().await.unwrap();
    let (s, body) = parts(r).await;
    assert_eq!(s, 403);
    let e = assert_error(&body, 403, "forbidden");
    assert!(e["message"].as_str().unwrap().contains("Origin"), "{body}");

    // The server's own origin is welcome.
    let r = post(&app, Some(&t.key), Some(V2025), &list).header("Origin", app.base.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn hosts_not_allowed_are_refused() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    let r = post(&app, Some(&t.key), Some(V2025), &list).header("Host", "rebound.evil.example").send().await.unwrap();
    let (s, body) = parts(r).await;
    assert_eq!(s, 403);
    let e = assert_error(&body, 403, "forbidden");
    assert!(e["message"].as_str().unwrap().contains("Host"), "{body}");
}

#[tokio::test]
async fn the_mcp_health_document_reports_the_store_and_the_breaker() {
    let app = spawn().await;
    let r = app.client.get(format!("{}/health", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["lev_api"], "reachable");
    assert_eq!(body["circuit_breaker"], "closed");
    app.stop().await;
}
