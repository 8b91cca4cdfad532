//! Randomised requests: whatever the path, query, headers or body, the answer is JSON and never
//! a 5xx. Inputs are generated with proptest from fragments that reach deep into the parsers.
use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::{Value, json};

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

/// What a 422 says of a member or parameter holding a NUL character (`docs/api.md#bodies`).
const NUL_PROBLEM: &str = "must not contain NUL characters";

fn is_envelope(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object())
}

/// The members levd reads from the write bodies its document leaves untyped (`{type: object}`),
/// taken from the parsers behind them: `validate_key` in crates/http/src/operations.rs,
/// `create_api_key` and `revoke_leaked_api_key` in crates/service/src/api_keys.rs; unlocking a
/// contact and completing a task read no member. The test checks the table against the
/// document both ways, so a new untyped body cannot go unfuzzed.
const UNTYPED_BODIES: [(&str, &str, &[&str]); 5] = [
    ("post", "/auth/validate-api-key", &["api_key"]),
    ("post", "/api-keys", &["label", "permission"]),
    ("post", "/api-keys/revoke", &["api_key"]),
    ("post", "/contacts/{contact_id}/actions/unlock", &[]),
    ("post", "/checklist-tasks/{task_id}/complete", &[]),
];

/// A member no operation reads: unknown members are ignored (`docs/api.md#validation`), but
/// text in them is still text of the request, so NUL there is refused like anywhere else.
const UNKNOWN_MEMBER: &str = "fuzz_unknown";

/// One step from a body (or tool arguments) down to a member.
#[derive(Debug, Clone)]
enum Step {
    Member(String),
    /// The first item of an array.
    Item,
}

/// The name a 422 gives a member: dotted members, `[0]` for array items.
fn field_name(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Member(m) if out.is_empty() => out.push_str(m),
            Step::Member(m) => {
                out.push('.');
                out.push_str(m);
            }
            Step::Item => out.push_str("[0]"),
        }
    }
    out
}

/// Sets the member at `path` to `leaf`, making the objects and arrays on the way.
fn put(target: &mut Value, path: &[Step], leaf: Value) {
    match path.split_first() {
        None => *target = leaf,
        Some((Step::Member(m), rest)) => {
            if !target.is_object() {
                *target = json!({});
            }
            let slot = target.as_object_mut().unwrap().entry(m.clone()).or_insert(Value::Null);
            put(slot, rest, leaf);
        }
        Some((Step::Item, rest)) => {
            if target.as_array().is_none_or(|a| a.is_empty()) {
                *target = json!([null]);
            }
            put(&mut target[0], rest, leaf);
        }
    }
}

/// A schema with a `$ref` into the document's components resolved.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(&r.replacen('#', "", 1)).unwrap_or(schema),
        None => schema,
    }
}

/// The `type` of a schema as a list (`"string"` or `["string", "null"]`).
fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Every member of a schema that may hold text, at any depth: object members, array items,
/// and members without a type.
fn text_members(doc: &Value, schema: &Value, prefix: &[Step], out: &mut Vec<Vec<Step>>) {
    let schema = resolve(doc, schema);
    let step = |s: Step| {
        let mut p = prefix.to_vec();
        p.push(s);
        p
    };
    if prefix.len() > 8 {
        return;
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            text_members(doc, p, &step(Step::Member(name.clone())), out);
        }
        return;
    }
    let ts = types(schema);
    if let Some(items) = schema.get("items") {
        text_members(doc, items, &step(Step::Item), out);
    } else if !prefix.is_empty() && (ts.is_empty() || ts.contains(&"string")) {
        out.push(prefix.to_vec());
    }
}

/// The records the fuzzed requests name, so each reaches the validation of its input rather
/// than a 404: ids by path parameter name, and one note per note parent.
struct Records {
    ids: BTreeMap<String, Value>,
    /// Note ids by the template of their parent, e.g. `/deals/{deal_id}`.
    notes: BTreeMap<String, Value>,
}

impl Records {
    /// The value of a path parameter (or of a member naming a record) in `template`.
    fn id(&self, template: &str, param: &str) -> Value {
        if param == "note_id" {
            let parent = template.split("/notes/").next().unwrap().trim_start_matches(PREFIX);
            return self.notes.get(parent).unwrap_or_else(|| panic!("no note on {parent}")).clone();
        }
        let name = if param == "private_company_id" { "company_id" } else { param };
        self.ids.get(name).unwrap_or_else(|| panic!("no record for {{{param}}} in {template}")).clone()
    }

    /// `template` with each parameter replaced by its record, and `nul_in` (a parameter name)
    /// with a NUL character after it.
    fn path(&self, template: &str, nul_in: Option<&str>) -> String {
        template
            .split('/')
            .map(|seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => {
                    let v = self.id(template, param);
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    if nul_in == Some(param) { format!("{text}%00") } else { text }
                }
                None => seg.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

const PREFIX: &str = "/api/external/v2";

/// The `data` of a GET that must succeed.
async fn data(app: &TestApp, key: &str, path: &str) -> Vec<Value> {
    let (s, b) = send(app.get(path, key)).await;
    assert_eq!(s, 200, "GET {path}: {b}");
    b["data"].as_array().cloned().unwrap_or_default()
}

/// One record of each kind a request may name. The API cannot make documents, memos,
/// checklist tasks, lenders or pipelines, so those come from the demo data set's brokerage (a
/// deal that has documents, memos and tasks); the company, contact, placement, term sheet and
/// notes are made through the API, each with the required members of its documented body.
async fn records(app: &TestApp, key: &str, doc: &Value) -> Records {
    let mut ids = BTreeMap::new();
    let first = |items: Vec<Value>, what: &str| items.first().cloned().unwrap_or_else(|| panic!("no {what}"));
    let mut chosen = None;
    for deal in data(app, key, "/deals?limit=50").await {
        let d = deal["id"].clone();
        let docs = data(app, key, &format!("/deals/{d}/documents?limit=1")).await;
        let memos = data(app, key, &format!("/deals/{d}/memos?limit=1")).await;
        let lists = data(app, key, &format!("/deals/{d}/checklists")).await;
        let task = lists.iter().flat_map(|l| {
            let direct = l["tasks"].as_array().into_iter().flatten();
            let sections = l["sections"].as_array().into_iter().flatten();
            direct
                .chain(sections.flat_map(|s| s["tasks"].as_array().into_iter().flatten()))
                .cloned()
                .collect::<Vec<_>>()
        });
        if let (Some(doc), Some(memo), Some(task)) = (docs.first(), memos.first(), task.into_iter().next()) {
            chosen = Some((d, doc["id"].clone(), memo["uuid"].clone(), task["id"].clone()));
            break;
        }
    }
    let (deal, document, memo, task) = chosen.expect("a demo deal with documents, memos and checklist tasks");
    ids.insert("deal_id".to_string(), deal);
    ids.insert("document_id".to_string(), document);
    ids.insert("memo_uuid".to_string(), memo);
    ids.insert("task_id".to_string(), task);
    ids.insert("org_id".to_string(), first(data(app, key, "/lenders/directory?limit=1").await, "lender")["id"].clone());
    ids.insert("pipeline_id".to_string(), first(data(app, key, "/pipelines?limit=1").await, "pipeline")["id"].clone());
    ids.insert("key_id".to_string(), first(data(app, key, "/api-keys?limit=1").await, "API key")["id"].clone());
    let download = format!("/deals/{}/documents/{}/download", ids["deal_id"], ids["document_id"]);
    let (s, link) = send(app.get(&download, key)).await;
    assert_eq!(s, 200, "{link}");
    let token = link["data"]["download_url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    ids.insert("token".to_string(), json!(token));
    let mut records = Records { ids, notes: BTreeMap::new() };

    // Made through the API, in the order they name each other.
    let made = [
        ("company_id", "/companies", json!({"company_type": "lender"})),
        ("contact_id", "/contacts", json!({"contact_type": "lender_contact"})),
        ("placement_id", "/placements", json!({})),
        ("term_sheet_id", "/deals/{deal_id}/term-sheets", json!({})),
    ];
    for (id, template, fixed) in made {
        let schema = &doc["paths"][format!("{PREFIX}{template}")]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        let mut body = base_object(doc, &records, template, schema);
        for (k, v) in fixed.as_object().unwrap() {
            body[k] = v.clone();
        }
        let path = records.path(template, None);
        let (s, b) = send(app.post_json(&path, key, &body)).await;
        assert_eq!(s, 201, "POST {path} {body}: {b}");
        records.ids.insert(id.to_string(), b["data"]["id"].clone());
    }
    for parent in [
        "/deals/{deal_id}",
        "/contacts/{contact_id}",
        "/companies/{company_id}",
        "/placements/{placement_id}",
        "/checklist-tasks/{task_id}",
    ] {
        let path = format!("{}/notes", records.path(parent, None));
        let (s, b) = send(app.post_json(&path, key, &json!({"text": "seed"}))).await;
        assert_eq!(s, 201, "POST {path}: {b}");
        records.notes.insert(parent.to_string(), b["data"]["id"].clone());
    }
    for (name, v) in &records.ids {
        assert!(v.is_i64() || v.is_string(), "{name}: {v}");
    }
    records
}

/// A plausible value for a required member, so that a request gets past "is required" and
/// its fuzzed member is read.
fn sample(records: &Records, template: &str, name: &str, schema: &Value) -> Value {
    let ts = types(schema);
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if ts.contains(&"integer")
        && name.ends_with("_id")
        && (records.ids.contains_key(name) || name == "private_company_id")
    {
        return records.id(template, name);
    }
    match ts.first().copied() {
        Some("integer") | Some("number") => json!(1),
        Some("boolean") => json!(false),
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => match schema["format"].as_str() {
            Some("date") => json!("2026-03-01"),
            Some("date-time") => json!("2026-03-01T00:00:00Z"),
            _ => json!("fuzz"),
        },
    }
}

/// A body (or tool arguments) with every required member of `schema` set.
fn base_object(doc: &Value, records: &Records, template: &str, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    let mut out = json!({});
    for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let member = resolve(doc, &schema["properties"][name]);
        out[name] = sample(records, template, name, member);
    }
    out
}

/// Sends one request with the demo key; the status and the body text.
async fn call(app: &TestApp, key: &str, m: &Method, url: &str, body: Option<&Value>) -> (u16, String) {
    let mut req = app.client.request(m.clone(), url).bearer_auth(key).header("X-Origin-App", "fuzz");
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// Asserts an answer to text that is not refused as such: never a 5xx, and the JSON envelope
/// (`docs/api.md#errors` when refused).
fn assert_answered(what: &str, status: u16, text: &str) {
    assert!(status < 500 && is_envelope(text), "{what} -> {status}: {text}");
    if status >= 400 {
        let body: Value = serde_json::from_str(text).unwrap();
        let kind = body["error"]["type"].as_str().unwrap_or_default().to_string();
        assert_error(&body, status, &kind);
    }
}

/// Asserts the 422 levd answers for NUL in `field`: the validation envelope naming it.
fn assert_nul_refused(what: &str, status: u16, text: &str, field: &str) {
    let body: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{what} -> {status}: {text}"));
    assert_eq!(status, 422, "{what}: {text}");
    let e = assert_error(&body, 422, "validation_error");
    assert_eq!(e["details"]["fields"][field], NUL_PROBLEM, "{what}: {text}");
}

/// Every text member of every write body at any depth (the document's types, the members
/// levd reads from the untyped ones, and a member nobody reads), every query parameter and
/// every path parameter of every operation, and every text argument of every MCP tool at any
/// depth, filled with NUL and other control characters. Each request names real records (the
/// demo data set), so it reaches the validation of its input. NUL is a 422 naming the member
/// or parameter (`docs/api.md#bodies`); other control characters are accepted or refused
/// depending on the field, never with a 5xx and always in the envelope (on both backends, as
/// the whole suite runs on each).
#[tokio::test]
async fn control_characters_in_every_text_field_and_parameter_never_yield_5xx() {
    let app = spawn_with(Options { demo: true, ..Options::default() }).await;
    let key = app.demo().expect("demo data seeded").api_key.clone();
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let records = records(&app, &key, &doc).await;
    let paths = doc["paths"].as_object().unwrap();

    // The table of untyped bodies against the document, both ways.
    let untyped: BTreeMap<(String, String), &[&str]> =
        UNTYPED_BODIES.iter().map(|(m, p, members)| ((m.to_string(), format!("{PREFIX}{p}")), *members)).collect();
    for (template, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else { continue };
            let is_untyped = resolve(&doc, schema).get("properties").is_none();
            let listed = untyped.contains_key(&(method.clone(), template.clone()));
            assert_eq!(
                is_untyped, listed,
                "{method} {template}: untyped body {is_untyped}, in UNTYPED_BODIES {listed}"
            );
        }
    }

    let (mut bodies, mut queries, mut params) = (0, 0, 0);
    for (template, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let what = |detail: &str| format!("{m} {template} {detail}");
            let url = format!("{}{}", app.base, records.path(template, None));

            // Body members.
            if let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") {
                let mut members = Vec::new();
                text_members(&doc, schema, &[], &mut members);
                if let Some(extra) = untyped.get(&(method.clone(), template.clone())) {
                    members.extend(extra.iter().map(|n| vec![Step::Member(n.to_string())]));
                }
                members.push(vec![Step::Member(UNKNOWN_MEMBER.into())]);
                let base = base_object(&doc, &records, template, schema);
                for member in &members {
                    let field = field_name(member);
                    for text in CONTROL_TEXTS {
                        let mut body = base.clone();
                        put(&mut body, member, json!(text));
                        let (status, answer) = call(&app, &key, &m, &url, Some(&body)).await;
                        let what = what(&format!("{body}"));
                        if text.contains('\0') {
                            assert_nul_refused(&what, status, &answer, &field);
                        } else {
                            assert_answered(&what, status, &answer);
                        }
                        bodies += 1;
                    }
                }
            }

            // Query parameters (with the body a write needs).
            let base = op
                .pointer("/requestBody/content/application~1json/schema")
                .map(|s| base_object(&doc, &records, template, s));
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] != "query" {
                    continue;
                }
                let name = p["name"].as_str().unwrap();
                for text in CONTROL_TEXTS {
                    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair(name, text).finish();
                    let u = format!("{url}?{q}");
                    let (status, answer) = call(&app, &key, &m, &u, base.as_ref()).await;
                    if text.contains('\0') {
                        assert_nul_refused(&what(&q), status, &answer, name);
                    } else {
                        assert_answered(&what(&q), status, &answer);
                    }
                    queries += 1;
                }
            }

            // Path parameters: a NUL after the record's id.
            for param in template.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
                let u = format!("{}{}", app.base, records.path(template, Some(param)));
                let (status, answer) = call(&app, &key, &m, &u, base.as_ref()).await;
                assert_nul_refused(&what(&u), status, &answer, param);
                params += 1;
            }
        }
    }
    assert!(bodies > 400 && queries > 300 && params > 60, "{bodies} body, {queries} query, {params} path requests");

    // MCP: every text argument of every tool, at any depth, with the same records.
    let mcp = |body: Value| app.mcp_post(&body).header("MCP-Protocol-Version", "2025-11-25").bearer_auth(&key);
    let list = body_json(mcp(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))).await;
    let mut calls = 0;
    for tool in list["result"]["tools"].as_array().unwrap() {
        let name = tool["name"].as_str().unwrap();
        let schema = &tool["inputSchema"];
        // The records the tool names, as its REST operation would have them in its path; a
        // note tool names the deal as the note's parent.
        let mut base = base_object(&Value::Null, &records, name, schema);
        for (arg, s) in schema["properties"].as_object().into_iter().flatten() {
            let id = match arg.as_str() {
                "parent_type" => Some(json!("deal")),
                "parent_id" => Some(records.id("", "deal_id")),
                "note_id" => Some(records.id("/deals/{deal_id}/notes/{note_id}", "note_id")),
                a if records.ids.contains_key(a) && (types(s).contains(&"integer") || a == "memo_uuid") => {
                    Some(records.id(name, a))
                }
                _ => None,
            };
            if let Some(id) = id {
                base[arg] = id;
            }
        }
        let mut members = Vec::new();
        text_members(&Value::Null, schema, &[], &mut members);
        for member in members {
            for text in CONTROL_TEXTS {
                let mut args = base.clone();
                put(&mut args, &member, json!(text));
                let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": args}});
                let resp = mcp(call).send().await.unwrap();
                assert_eq!(resp.status(), 200, "{name} {args}");
                let body: Value = resp.json().await.unwrap();
                let result = &body["result"];
                let error = &result["structuredContent"]["error"];
                if text.contains('\0') {
                    assert_eq!(result["isError"], true, "{name} {args}: {body}");
                    assert_eq!(error["status"], 422, "{name} {args}: {body}");
                    // The problem names the member (under its REST name); a note's parent
                    // type is first of all not one of the kinds.
                    let fields = error["details"]["fields"].as_object().cloned().unwrap_or_default();
                    let parent_type = matches!(member.first(), Some(Step::Member(m)) if m == "parent_type");
                    assert!(
                        fields.values().any(|p| p == NUL_PROBLEM) || parent_type && !fields.is_empty(),
                        "{name}: {body}"
                    );
                } else {
                    assert!(result.is_object(), "{name} {args}: {body}");
                    assert!(error["status"].as_u64().unwrap_or(200) < 500, "{name} {args}: {body}");
                }
                calls += 1;
            }
        }
    }
    assert!(calls > 300, "{calls} tool calls");
    let health: Value = app.client.get(format!("{}/health", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["circuit_breaker"], "closed", "{health}");
    app.stop().await;
}

/// How an endpoint answers what it refuses.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answers {
    /// The JSON envelope of `docs/api.md#errors`.
    Envelope,
    /// `/mcp`: JSON-RPC, or the JSON envelope for refusals of the transport.
    Mcp,
    /// `/authorize`: levd's own HTML pages.
    Html,
}

/// Every header levd reads: the request path's (crates/http/src: `Authorization`,
/// `X-Origin-App`, `X-Active-Account`, `Idempotency-Key`, `Content-Type`, `Content-Length`,
/// `Host`, `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Request-Id`), the OAuth pages' `Cookie`,
/// and those the MCP transport reads (`Accept`, `Origin`, `MCP-Protocol-Version`,
/// `Mcp-Session-Id`, `Last-Event-Id`, `Mcp-Method`, `Mcp-Name`).
const HEADERS: [&str; 18] = [
    "Authorization",
    "X-Origin-App",
    "X-Active-Account",
    "Idempotency-Key",
    "Content-Type",
    "Content-Length",
    "Host",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Request-Id",
    "Cookie",
    "Accept",
    "Origin",
    "MCP-Protocol-Version",
    "Mcp-Session-Id",
    "Last-Event-Id",
    "Mcp-Method",
    "Mcp-Name",
];

/// Every header levd reads, carrying control characters, on the REST API, `/mcp` and
/// `/authorize`: values a client library would send (tab, bytes above 0x7f) reach levd and get
/// the endpoint's own answer; raw NUL and other control bytes, sent over a bare socket, are
/// refused by the HTTP parser with the JSON envelope — never with a 5xx.
#[tokio::test]
async fn control_characters_in_every_header_never_yield_5xx() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn().await;
    let t = app.tenant("hdr").await;
    let flow = crate::oauth::Flow::public(&app, "nobody@hdr.test").await;
    let authorize = flow.standard(&crate::oauth::challenge(&crate::oauth::verifier()));
    let authorize: Vec<(&str, &str)> = authorize.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let authorize = flow.authorize_url(&authorize).trim_start_matches(&app.base).to_string();
    let bearer = format!("Bearer {}", t.key);
    let tools_list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    // (method, path and query, body, the headers a well-behaved client sends, answers)
    type Endpoint<'a> = (Method, &'a str, &'a str, Vec<(&'a str, &'a str)>, Answers);
    let endpoints: [Endpoint; 4] = [
        (
            Method::POST,
            "/api/external/v2/deals",
            "{\"title\":\"h\"}",
            vec![("Authorization", bearer.as_str()), ("X-Origin-App", "fuzz"), ("Content-Type", "application/json")],
            Answers::Envelope,
        ),
        (
            Method::GET,
            "/api/external/v2/me",
            "",
            vec![("Authorization", bearer.as_str()), ("X-Origin-App", "fuzz")],
            Answers::Envelope,
        ),
        (
            Method::POST,
            "/mcp",
            tools_list.as_str(),
            vec![
                ("Authorization", bearer.as_str()),
                ("Accept", "application/json, text/event-stream"),
                ("Content-Type", "application/json"),
                ("MCP-Protocol-Version", "2025-11-25"),
            ],
            Answers::Mcp,
        ),
        (Method::GET, authorize.as_str(), "", vec![], Answers::Html),
    ];
    let addr = app.base.trim_start_matches("http://").to_string();
    for header in HEADERS {
        for (method, path, body, defaults, answers) in &endpoints {
            let defaults = defaults.iter().filter(|(name, _)| !name.eq_ignore_ascii_case(header));
            // Through a client: tab and obs-text are valid header bytes. (A client computes
            // Content-Length itself.)
            if header != "Content-Length" {
                let value = reqwest::header::HeaderValue::from_bytes(b"a\tb\x80\xff").unwrap();
                let mut req = app.client.request(method.clone(), format!("{}{path}", app.base)).body(body.to_string());
                for (name, v) in defaults.clone() {
                    req = req.header(*name, *v);
                }
                let resp = req.header(header, value).send().await.unwrap();
                let status = resp.status().as_u16();
                let ct =
                    resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                let text = resp.text().await.unwrap();
                let what = format!("{header} on {method} {path}: {status} {ct} {text}");
                assert!(status < 500, "{what}");
                match answers {
                    Answers::Envelope => {
                        assert!(ct.starts_with("application/json") && is_envelope(&text), "{what}");
                        if status >= 400 {
                            let v: Value = serde_json::from_str(&text).unwrap();
                            assert_eq!(v["error"]["status"], status, "{what}");
                        }
                    }
                    Answers::Mcp => {
                        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}"));
                        assert!(ct.starts_with("application/json") && v.is_object(), "{what}");
                        if status == 401 {
                            // The resource server's bearer challenge (RFC 6750 §3.1).
                            assert!(v["error"] == "invalid_token" || v["error"] == "invalid_request", "{what}");
                        } else if status >= 400 {
                            assert!(v["error"].is_object(), "{what}");
                        } else {
                            assert!(v["result"]["tools"].is_array(), "{what}");
                        }
                    }
                    Answers::Html => {
                        // None of these headers matters to opening the sign-in page.
                        assert_eq!(status, 200, "{what}");
                        assert_eq!(ct, "text/html; charset=utf-8", "{what}");
                        assert!(text.starts_with("<!doctype html>") && text.contains("name=\"csrf\""), "{what}");
                    }
                }
            }

            // Over a bare socket: NUL, other C0 controls and DEL in the value.
            for raw in [&b"a\x00b"[..], b"\x01\x1b\x7f", b"x\rinjected"] {
                let mut msg = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n").into_bytes();
                if header != "Host" {
                    msg.extend_from_slice(format!("Host: {addr}\r\n").as_bytes());
                }
                if header != "Content-Length" {
                    msg.extend_from_slice(b"Content-Length: 0\r\n");
                }
                for (name, v) in defaults.clone() {
                    msg.extend_from_slice(format!("{name}: {v}\r\n").as_bytes());
                }
                msg.extend_from_slice(header.as_bytes());
                msg.extend_from_slice(b": ");
                msg.extend_from_slice(raw);
                msg.extend_from_slice(b"\r\n\r\n");
                let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
                sock.write_all(&msg).await.unwrap();
                let mut answer = Vec::new();
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), sock.read_to_end(&mut answer)).await;
                let answer = String::from_utf8_lossy(&answer);
                let status: u16 = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                assert_eq!(status, 400, "{header} on {path}: {raw:?} -> {answer}");
                // What the HTTP parser refuses on its own carries the envelope, whatever the path.
                let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                assert!(is_envelope(body), "{header} on {path}: {raw:?} -> {answer}");
            }
        }
    }
    app.stop().await;
}

/// `params` with `name` set to `value` (replaced, or added last).
fn with(params: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = params.iter().filter(|(k, _)| k != name).cloned().collect();
    out.push((name.to_string(), value.to_string()));
    out
}

/// Opens a sign-in page: the CSRF cookie and the hidden fields of its forms.
async fn open(flow: &crate::oauth::Flow, params: &[(String, String)]) -> (String, String, String) {
    let (status, cookie, html, _) = flow.open(params).await;
    assert_eq!(status, 200, "{html}");
    (cookie.unwrap(), crate::oauth::hidden(&html, "interaction"), crate::oauth::hidden(&html, "csrf"))
}

/// An answer of an OAuth endpoint: status, content type, `Location`, body.
async fn oauth_answer(r: reqwest::RequestBuilder) -> (u16, String, String, String) {
    let resp = r.send().await.unwrap();
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let (status, ct, location) = (resp.status().as_u16(), header("content-type"), header("location"));
    (status, ct, location, resp.text().await.unwrap())
}

/// An HTML page of the sign-in flow (`crates/oauth/src/pages.rs`); NUL anywhere in the request
/// is the error page's 400.
fn assert_page(what: &str, text: &str, answer: &(u16, String, String, String), redirect_uri: &str) {
    let (status, ct, location, body) = answer;
    let what = format!("{what} -> {status} {ct} {location} {body}");
    assert!(*status < 500, "{what}");
    if text.contains('\0') {
        assert_eq!(*status, 400, "{what}");
    }
    if *status == 303 {
        // Consent answered: back to the client's registered redirect URI.
        assert!(location.starts_with(redirect_uri), "{what}");
    } else {
        assert_eq!(ct, "text/html; charset=utf-8", "{what}");
        assert!(body.starts_with("<!doctype html>"), "{what}");
        if text.contains('\0') {
            assert!(body.contains("must not contain NUL characters"), "{what}");
        }
    }
}

/// A JSON answer of `/oauth/token`, `/oauth/revoke` or `/oidc/register`: an OAuth error object
/// when refused (RFC 6749 §5.2, RFC 7591 §3.2.2), `invalid_request` (or `nul_error`) for NUL.
fn assert_oauth_json(what: &str, text: &str, answer: &(u16, String, String, String), nul_error: &str) {
    let (status, ct, _, body) = answer;
    let what = format!("{what} -> {status} {ct} {body}");
    assert!(*status < 500, "{what}");
    if *status >= 400 || text.contains('\0') {
        assert!(ct.starts_with("application/json"), "{what}");
        let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}"));
        assert!(v["error"].is_string(), "{what}");
        if text.contains('\0') {
            assert_eq!((*status, v["error"].as_str().unwrap()), (400, nul_error), "{what}");
            assert!(v.get("client_id").is_none(), "{what}");
        }
    }
}

/// The built-in authorization server's inputs (`crates/oauth/src`): every `/authorize` query
/// parameter, every field of the sign-in and consent forms, of `/oauth/token` and
/// `/oauth/revoke`, and every member of a `/oidc/register` body, with NUL and other control
/// characters. Never a 5xx; the pages answer in HTML, the others with OAuth's JSON errors; NUL
/// is refused with a 400 everywhere, and no registration with NUL is stored.
#[tokio::test]
async fn control_characters_in_every_oauth_input_never_yield_5xx() {
    use base64::Engine;

    use crate::oauth::{Flow, PASSWORD, challenge, signin_tenant, verifier};
    let app = spawn().await;
    let (_tenant, email) = signin_tenant(&app, "oauth-fuzz").await;
    let flow = Flow::public(&app, &email).await;
    let standard = flow.standard(&challenge(&verifier()));

    // `/authorize`: each parameter of a valid request in turn.
    for name in [
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
        "scope",
        "resource",
        "response_mode",
        UNKNOWN_MEMBER,
    ] {
        for text in CONTROL_TEXTS {
            let params = with(&standard, name, text);
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let answer = oauth_answer(flow.http.get(flow.authorize_url(&pairs))).await;
            assert_page(&format!("/authorize {name}={text:?}"), text, &answer, &flow.redirect_uri);
        }
    }

    let post = |path: &'static str, cookie: &str, form: Vec<(String, String)>| {
        flow.http.post(format!("{}{path}", flow.base)).header("cookie", cookie.to_string()).form(&form)
    };

    // The consent form, each after a sign-in of its own (an answered consent is used up).
    for name in ["interaction", "csrf", "decision", "account", UNKNOWN_MEMBER] {
        for text in CONTROL_TEXTS {
            let (cookie, interaction, csrf) = open(&flow, &standard).await;
            let signin = vec![
                ("interaction".to_string(), interaction.clone()),
                ("csrf".to_string(), csrf.clone()),
                ("email".to_string(), email.clone()),
                ("password".to_string(), PASSWORD.to_string()),
            ];
            let (status, _, _, page) = oauth_answer(post("/authorize/sign-in", &cookie, signin)).await;
            assert_eq!(status, 200, "{page}");
            let start = page.find("<option value=\"").expect("an account to choose") + "<option value=\"".len();
            let account = page[start..].split('"').next().unwrap().to_string();
            let form = vec![
                ("interaction".to_string(), interaction),
                ("csrf".to_string(), csrf),
                ("decision".to_string(), "allow".to_string()),
                ("account".to_string(), account),
            ];
            let answer = oauth_answer(post("/authorize/consent", &cookie, with(&form, name, text))).await;
            assert_page(&format!("consent {name}={text:?}"), text, &answer, &flow.redirect_uri);
        }
    }

    // The sign-in form, on one interaction (a refused sign-in leaves it open).
    let (cookie, interaction, csrf) = open(&flow, &standard).await;
    let form = vec![
        ("interaction".to_string(), interaction),
        ("csrf".to_string(), csrf),
        ("email".to_string(), email.clone()),
        ("password".to_string(), PASSWORD.to_string()),
    ];
    for name in ["interaction", "csrf", "email", "password", UNKNOWN_MEMBER] {
        for text in CONTROL_TEXTS {
            let answer = oauth_answer(post("/authorize/sign-in", &cookie, with(&form, name, text))).await;
            assert_page(&format!("sign-in {name}={text:?}"), text, &answer, &flow.redirect_uri);
        }
    }

    // `/oauth/token` (both grants) and `/oauth/revoke`.
    let code = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), "no-such-code".to_string()),
        ("code_verifier".to_string(), verifier()),
        ("redirect_uri".to_string(), flow.redirect_uri.clone()),
        ("client_id".to_string(), flow.client_id.clone()),
    ];
    let refresh = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), "levd_rt_unknown".to_string()),
        ("client_id".to_string(), flow.client_id.clone()),
    ];
    let revoke = vec![("token".to_string(), "unknown".to_string()), ("client_id".to_string(), flow.client_id.clone())];
    let forms = [
        (
            "/oauth/token",
            &code,
            &[
                "grant_type",
                "code",
                "code_verifier",
                "redirect_uri",
                "client_id",
                "client_secret",
                "resource",
                UNKNOWN_MEMBER,
            ][..],
        ),
        ("/oauth/token", &refresh, &["refresh_token", "scope", "resource"][..]),
        ("/oauth/revoke", &revoke, &["token", "token_type_hint", "client_id", "client_secret", UNKNOWN_MEMBER][..]),
    ];
    for (path, base, names) in forms {
        for name in names {
            for text in CONTROL_TEXTS {
                let r = flow.http.post(format!("{}{path}", flow.base)).form(&with(base, name, text));
                let answer = oauth_answer(r).await;
                assert_oauth_json(&format!("{path} {name}={text:?}"), text, &answer, "invalid_request");
            }
        }
    }

    // Client credentials in a Basic header (RFC 6749 §2.3.1): once decoded, the id and the
    // secret are text of the request like the form's.
    for text in CONTROL_TEXTS {
        let encoded = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        for (id, secret) in [(text.to_string(), "secret".to_string()), (flow.client_id.clone(), text.to_string())] {
            for raw in [format!("{}:{}", encoded(&id), encoded(&secret)), format!("{id}:{secret}")] {
                let basic = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
                for (path, form) in [("/oauth/token", &code), ("/oauth/revoke", &revoke)] {
                    let form: Vec<_> = form.iter().filter(|(k, _)| k != "client_id").cloned().collect();
                    let r = flow
                        .http
                        .post(format!("{}{path}", flow.base))
                        .header("authorization", format!("Basic {basic}"));
                    let answer = oauth_answer(r.form(&form)).await;
                    assert_oauth_json(&format!("{path} Basic {raw:?}"), text, &answer, "invalid_request");
                }
            }
        }
    }

    // `/oidc/register`: every member levd reads or echoes, an unknown one, nested text.
    let registration = json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"});
    let members: Vec<Vec<Step>> = [
        "redirect_uris[]",
        "token_endpoint_auth_method",
        "grant_types[]",
        "response_types[]",
        "client_name",
        "client_uri",
        "logo_uri",
        "scope",
        "software_id",
        "software_version",
        "tos_uri",
        "policy_uri",
        "contacts[]",
        UNKNOWN_MEMBER,
        "jwks.keys[].kid",
    ]
    .iter()
    .map(|m| {
        m.split('.')
            .flat_map(|part| match part.strip_suffix("[]") {
                Some(name) => vec![Step::Member(name.to_string()), Step::Item],
                None => vec![Step::Member(part.to_string())],
            })
            .collect()
    })
    .collect();
    for member in &members {
        for text in CONTROL_TEXTS {
            let mut body = registration.clone();
            put(&mut body, member, json!(text));
            let r = app.client.post(format!("{}/oidc/register", app.base)).json(&body);
            let answer = oauth_answer(r).await;
            assert_oauth_json(&format!("register {body}"), text, &answer, "invalid_client_metadata");
        }
    }
    // Nothing with a NUL reached the database.
    sqlx::any::install_default_drivers();
    use sqlx::{Connection, Row};
    let mut conn = sqlx::AnyConnection::connect(&app.db_url).await.unwrap();
    let rows = sqlx::query("SELECT client_id, COALESCE(client_name, ''), redirect_uris, metadata FROM oauth_clients")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(rows.len() > 10, "the registrations without NUL are stored ({})", rows.len());
    for row in rows {
        for i in 0..4 {
            let text: String = row.get(i);
            assert!(!text.contains('\0') && !text.contains("\\u0000"), "stored: {text:?}");
        }
    }
    conn.close().await.unwrap();
    app.stop().await;
}
