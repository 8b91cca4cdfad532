//! levd's OpenAPI document against Lev's published one (`tests/data/lev-openapi-2026-03.json`):
//! every reference operation is served, with every query parameter the reference names and every
//! top-level field of its 2xx answer's `data` (or of the list items).
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common::*;

const PREFIX: &str = "/api/external/v2";

/// Fields the reference's shared schema names for an operation that, by Lev's documentation,
/// leaves them out: the lender directory list and detail share `LenderDirectoryLender`, whose
/// detail-only members list items omit (`docs/resources.md#directory`).
const NOT_IN_ANSWER: &[(&str, &str, &str)] = &[
    ("GET", "/lenders/directory", "linkedin_url"),
    ("GET", "/lenders/directory", "aliases"),
    ("GET", "/lenders/directory", "domains"),
    ("GET", "/lenders/directory", "square_logo_url"),
    ("GET", "/lenders/directory", "programs"),
];
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/lev-openapi-2026-03.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `/api/external/v2/deals/{deal_id}` and `/deals/{id}` are the same operation.
fn template(path: &str) -> String {
    let path = path.strip_prefix(PREFIX).unwrap_or(path).trim_end_matches('/');
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    if out.is_empty() { "/".into() } else { out }
}

/// Follows local `$ref`s to the schema they name.
fn resolve<'a>(doc: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..20 {
        let Some(r) = node.get("$ref").and_then(Value::as_str) else { break };
        let Some(pointer) = r.strip_prefix('#') else { return &Value::Null };
        node = doc.pointer(pointer).unwrap_or(&Value::Null);
    }
    node
}

fn properties(doc: &Value, schema: &Value, out: &mut BTreeSet<String>) {
    let schema = resolve(doc, schema);
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        out.extend(p.keys().cloned());
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for sub in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            properties(doc, sub, out);
        }
    }
}

struct Operation {
    query: BTreeSet<String>,
    fields: BTreeSet<String>,
}

fn operations(doc: &Value) -> BTreeMap<(String, String), Operation> {
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let params = item.get("parameters").and_then(Value::as_array).into_iter().flatten();
            let params = params.chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten());
            let query = params
                .map(|p| resolve(doc, p))
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            let mut fields = BTreeSet::new();
            let responses = op.get("responses").and_then(Value::as_object);
            if let Some((_, resp)) = responses.into_iter().flatten().find(|(s, _)| s.starts_with('2')) {
                let schema = resolve(doc, &resolve(doc, resp)["content"]["application/json"]["schema"]);
                let mut data = resolve(doc, &schema["properties"]["data"]);
                if data["type"] == "array" || data.get("items").is_some() {
                    data = resolve(doc, &data["items"]);
                }
                properties(doc, data, &mut fields);
            }
            ops.insert((method.to_uppercase(), template(path)), Operation { query, fields });
        }
    }
    ops
}

#[test]
fn templates_ignore_prefix_and_parameter_names() {
    assert_eq!(template("/api/external/v2/deals/{deal_id}/notes/{note_id}"), "/deals/{}/notes/{}");
    assert_eq!(template("/deals/{id}/notes/{id2}/"), "/deals/{}/notes/{}");
    assert_eq!(template("/api/external/v2"), "/");
}

#[tokio::test]
async fn levd_document_covers_the_reference_document() {
    let app = spawn().await;
    let ours: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let reference = reference();
    let (ours, theirs) = (operations(&ours), operations(&reference));
    assert!(theirs.len() >= 80, "the reference document lists {} operations", theirs.len());
    let mut problems = Vec::new();
    for (key, op) in &theirs {
        let Some(mine) = ours.get(key) else {
            problems.push(format!("missing {} {}", key.0, key.1));
            continue;
        };
        let query: Vec<_> = op.query.difference(&mine.query).collect();
        let fields: Vec<_> = op
            .fields
            .difference(&mine.fields)
            .filter(|f| !NOT_IN_ANSWER.contains(&(key.0.as_str(), key.1.as_str(), f.as_str())))
            .collect();
        if !query.is_empty() || !fields.is_empty() {
            problems.push(format!("{} {}: query {query:?}, data fields {fields:?}", key.0, key.1));
        }
    }
    assert!(problems.is_empty(), "levd's document lacks what the reference names:\n{}", problems.join("\n"));
}
