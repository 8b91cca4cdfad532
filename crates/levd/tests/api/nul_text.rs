//! Text no backend may store (a NUL character) is a validation error wherever it arrives —
//! JSON bodies, query parameters, MCP tool arguments — on SQLite and PostgreSQL alike, and a
//! client's bad input never counts towards the MCP circuit breaker, which is per tenant.
use levd_domain::scope::KeyPermission;
use serde_json::{Value, json};

use crate::common::*;

const NUL_PROBLEM: &str = "must not contain NUL characters";

/// A `tools/call` on `/mcp`; returns the tool result.
async fn mcp_call(app: &TestApp, token: &str, tool: &str, args: Value) -> Value {
    let body =
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": tool, "arguments": args } });
    let (status, body) =
        send(app.mcp_post(&body).header("MCP-Protocol-Version", "2025-11-25").bearer_auth(token)).await;
    assert_eq!(status, 200, "{body}");
    body["result"].clone()
}

fn tool_error(result: &Value) -> Value {
    assert_eq!(result["isError"], true, "{result}");
    result["structuredContent"]["error"].clone()
}

async fn mcp_health(app: &TestApp) -> Value {
    let r = app.client.get(format!("{}/health", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn assert_nul_refused(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 422, "{body}");
    let e = assert_error(body, 422, "validation_error");
    assert_eq!(e["details"]["fields"][field], NUL_PROBLEM, "{body}");
}

#[tokio::test]
async fn nul_in_rest_bodies_and_query_parameters_is_a_422_naming_the_field() {
    let app = spawn().await;
    let t = app.tenant("nul-rest").await;
    let (s, b) = parts(app.post_json("/deals", &t.key, &json!({"title": "a\u{0}b"})).send().await.unwrap()).await;
    assert_nul_refused(s, &b, "title");

    let deal = app.create_deal(&t.key, json!({"title": "clean"})).await;
    let path = format!("/deals/{}", deal["id"]);
    let (s, b) =
        parts(app.patch_json(&path, &t.key, &json!({"title": "x\u{0}", "description": "fine"})).send().await.unwrap())
            .await;
    assert_nul_refused(s, &b, "title");
    let (_, b) = parts(app.get(&path, &t.key).send().await.unwrap()).await;
    assert_eq!(b["data"]["title"], "clean", "nothing was changed");

    let notes = format!("{path}/notes");
    let (s, b) = parts(app.post_json(&notes, &t.key, &json!({"text": "note\u{0}"})).send().await.unwrap()).await;
    assert_nul_refused(s, &b, "text");

    for (query, field) in
        [("filter%5Btitle%5D=a%00b", "filter[title]"), ("search=%00", "search"), ("sort=title%00", "sort")]
    {
        let (s, b) = parts(app.get(&format!("/deals?{query}"), &t.key).send().await.unwrap()).await;
        assert_nul_refused(s, &b, field);
    }
    let (s, b) = parts(app.get("/contacts?search=x%00", &t.key).send().await.unwrap()).await;
    assert_nul_refused(s, &b, "search");
    // Other control characters are ordinary text that both backends store.
    let d = app.create_deal(&t.key, json!({"title": "tab\there \u{1}\u{1f}"})).await;
    assert_eq!(d["title"], "tab\there \u{1}\u{1f}");
    app.stop().await;
}

#[tokio::test]
async fn nul_in_mcp_tool_arguments_is_a_validation_error_that_never_opens_the_breaker() {
    let app = spawn().await;
    let t = app.tenant("nul-mcp").await;
    let ro = app.key(t.user_id, &t.account, KeyPermission::ReadOnly).await;
    for _ in 0..7 {
        let e = tool_error(&mcp_call(&app, &ro, "list_deals", json!({"search": "a\u{0}"})).await);
        assert_eq!(e["status"], 422, "{e}");
        assert_eq!(e["details"]["fields"]["search"], NUL_PROBLEM, "{e}");
    }
    for _ in 0..6 {
        let e = tool_error(&mcp_call(&app, &t.key, "create_deal", json!({"title": "t\u{0}"})).await);
        assert_eq!(e["status"], 422, "{e}");
        assert_eq!(e["details"]["fields"]["title"], NUL_PROBLEM, "{e}");
    }
    let h = mcp_health(&app).await;
    assert_eq!((h["status"].clone(), h["circuit_breaker"].clone()), (json!("ok"), json!("closed")), "{h}");
    let r = mcp_call(&app, &ro, "list_deals", json!({})).await;
    assert_eq!(r["isError"], false, "{r}");
    app.stop().await;
}

/// Runs SQL on the test's database from outside the server.
async fn raw_sql(app: &TestApp, statements: &[&str]) {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.db_url).await.unwrap();
    for s in statements {
        conn.execute(sqlx::AssertSqlSafe(s.to_string())).await.unwrap();
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn server_faults_of_one_tenant_open_only_that_tenants_breaker() {
    let app = spawn().await;
    let a = app.tenant("fault-a").await;
    let b = app.tenant("fault-b").await;
    // Every deal insert of tenant A fails inside the database: a server fault (5xx).
    let id = a.account.id;
    if postgres_admin_url().is_some() {
        raw_sql(
            &app,
            &[
                "CREATE FUNCTION levd_test_fault() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'induced fault'; END $$ LANGUAGE plpgsql",
                &format!(
                    "CREATE TRIGGER levd_test_fault BEFORE INSERT ON deals FOR EACH ROW \
                     WHEN (NEW.owner_account_id = {id}) EXECUTE FUNCTION levd_test_fault()"
                ),
            ],
        )
        .await;
    } else {
        raw_sql(
            &app,
            &[&format!(
                "CREATE TRIGGER levd_test_fault BEFORE INSERT ON deals WHEN NEW.owner_account_id = {id} \
                 BEGIN SELECT RAISE(ABORT, 'induced fault'); END"
            )],
        )
        .await;
    }
    for _ in 0..5 {
        let e = tool_error(&mcp_call(&app, &a.key, "create_deal", json!({"title": "x"})).await);
        assert_eq!(e["status"], 500, "{e}");
    }
    // A's breaker is open: A's next call is refused at once, even a read.
    let e = tool_error(&mcp_call(&app, &a.key, "list_deals", json!({})).await);
    assert_eq!(e["status"], 503, "{e}");
    // B is not affected, for reads and writes.
    let r = mcp_call(&app, &b.key, "create_deal", json!({"title": "b's deal"})).await;
    assert_eq!(r["isError"], false, "{r}");
    let r = mcp_call(&app, &b.key, "list_deals", json!({})).await;
    assert_eq!(r["isError"], false, "{r}");
    // The node's health names the open breaker, so an operator sees the faults.
    assert_eq!(mcp_health(&app).await["circuit_breaker"], "open");
    app.stop().await;
}

/// The last line of defence: text the database refuses is reported as the client's fault —
/// by the store as its own error, by the OAuth endpoints (whose JSON registration body is read
/// outside the REST body parser) as a 400, never a 500.
#[tokio::test]
async fn text_the_database_refuses_is_a_client_error_not_a_server_fault() {
    let app = spawn().await;
    let stored = app.store.create_user(&uuid::Uuid::new_v4().to_string(), "nul\u{0}@x.test", None, None, None).await;
    if postgres_admin_url().is_some() {
        assert!(matches!(stored, Err(levd_store::StoreError::UnstorableText)), "{stored:?}");
    } else {
        assert!(stored.is_ok(), "SQLite stores it; the API refuses it before it gets here");
    }
    let r = app
        .client
        .post(format!("{}/oidc/register", app.base))
        .json(&json!({"client_name": "bad\u{0}name", "redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert!((400..500).contains(&status), "{status}: {body}");
    app.stop().await;
}
