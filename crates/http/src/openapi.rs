//! levd's own OpenAPI 3.1 document, built from the code: response schemas come from the
//! `ToSchema` derives on the records the services return, list parameters from the `ListSpec`
//! grammars the parsers use, path parameters from the route templates, and the request path's
//! rules (credentials, headers, envelopes, errors) from one place below. Served at
//! `/api/external/v2/openapi.json`; `/docs` renders it.
use std::sync::LazyLock;

use levd_domain::crm::{BillingSummary, Company, Contact, Credits};
use levd_domain::deal::{Deal, FINANCIAL_FIELDS, FinancialKind};
use levd_domain::deal_data::{
    ChecklistTask, DealChecklist, DealDocument, DealDocumentDownload, DealIndexEntity, DealIndexFact,
    DealIndexFactInsertResponse, DealIndexMetricDefinition, DealIndexObservation, DealIndexSearchResult, DealMemo,
    DealMemoDetail, Vault,
};
use levd_domain::directory::{AssetType, BaseRate, LenderDetail, LenderProgram, LenderSummary};
use levd_domain::placements::{DealPipelineStage, Pipeline, Placement, TermSheet};
use levd_domain::query::{FilterKind, ListSpec};
use levd_store::{DealPropertyRow, DealTeamRow};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use http::Method;

use crate::middleware::PREFIX;
use crate::operations::{self, Answer, Operation, Policy};

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

/// Schemas of the records whose JSON the services assemble themselves.
fn assembled_schemas() -> Vec<(&'static str, Value)> {
    let obj = |props: Value| json!({ "type": "object", "properties": props });
    let mut financials = Map::new();
    financials.insert("id".into(), nullable("integer"));
    financials.insert("deal_id".into(), json!({ "type": "integer" }));
    for (name, kind) in FINANCIAL_FIELDS {
        let t = match kind {
            FinancialKind::Number => nullable("number"),
            FinancialKind::Integer => nullable("integer"),
            FinancialKind::Date => json!({ "type": ["string", "null"], "format": "date" }),
            FinancialKind::Flag => nullable("boolean"),
        };
        financials.insert((*name).into(), t);
    }
    financials.insert("updated_at".into(), json!({ "type": ["string", "null"], "format": "date-time" }));
    let user = obj(json!({
        "id": {"type": "integer"}, "uuid": string(), "email": string(), "first_name": nullable("string"),
        "last_name": nullable("string"), "full_name": string(), "role": nullable("string"),
        "photo_url": nullable("string"), "last_login_at": nullable("string"),
    }));
    let account = obj(json!({
        "id": {"type": "integer"}, "name": string(), "slug": string(), "account_type": nullable("string"),
    }));
    let membership = obj(json!({
        "id": {"type": "integer"}, "name": string(), "slug": string(), "account_type": nullable("string"), "role": string(),
    }));
    vec![
        ("Object", json!({ "type": "object" })),
        (
            "DealRecord",
            json!({ "allOf": [
                { "$ref": "#/components/schemas/Deal" },
                { "type": "object", "description": "Present only when named in `include`.", "properties": {
                    "financials": { "type": ["object", "null"] },
                    "properties": { "type": "array", "items": { "$ref": "#/components/schemas/DealPropertyRow" } },
                    "team": { "type": "array", "items": { "$ref": "#/components/schemas/DealTeamRow" } },
                    "pipelines": { "type": "array", "items": { "type": "object", "properties": {
                        "pipeline_id": {"type": "integer"}, "status_name": string(), "updated_at": string() } } },
                } }
            ] }),
        ),
        ("DealFinancials", json!({ "type": "object", "properties": financials })),
        (
            "Note",
            obj(json!({
                "id": {"type": "integer"}, "text": string(),
                "created_by": { "type": ["object", "null"], "properties": { "id": {"type": "integer"}, "name": nullable("string") } },
                "created_at": string(), "updated_at": string(),
            })),
        ),
        (
            "ApiKey",
            obj(json!({
                "id": {"type": "integer"}, "label": string(), "key_prefix": string(), "permission": string(),
                "api_key": { "type": "string", "description": "The secret: only in the creation response." },
                "created_at": string(), "last_used_at": nullable("string"),
            })),
        ),
        (
            "ApiKeyValidation",
            obj(json!({
                "valid": {"type": "boolean"}, "user_id": {"type": "integer"}, "account_id": {"type": "integer"},
                "scopes": {"type": "array", "items": string()}, "tier": string(),
            })),
        ),
        ("Health", obj(json!({ "status": string(), "version": string(), "database": string() }))),
        (
            "Me",
            obj(json!({
                "user": user, "account": account, "profile": {"type": "object"}, "subscription": {"type": "object"},
                "platform": obj(json!({
                    "api_tier": string(), "rate_limits": {"type": "object"},
                    "api_keys": obj(json!({"current_count": {"type": "integer"}, "max_allowed": {"type": "integer"}})),
                    "granted_scopes": {"type": "array", "items": string()},
                })),
                "available_accounts": {"type": "array", "items": membership.clone(),
                    "description": "Only for a multi-account user who named no account."},
            })),
        ),
        (
            "MyAccounts",
            obj(json!({
                "accounts": {"type": "array", "items": membership.clone()},
                "active_account": nullable("string"), "saved_active_account": nullable("string"),
            })),
        ),
        ("ActiveAccount", obj(json!({ "active_account": membership }))),
        (
            "AccountTeamMember",
            obj(json!({
                "id": {"type": "integer"}, "user_id": {"type": "integer"}, "first_name": nullable("string"),
                "last_name": nullable("string"), "email": string(), "role": string(), "photo_url": nullable("string"),
                "title": nullable("string"),
            })),
        ),
        ("BooleanDeleteResult", obj(json!({ "deleted": {"type": "boolean"} }))),
        (
            "Pagination",
            obj(json!({
                "total": {"type": "integer"}, "limit": {"type": "integer"}, "has_more": {"type": "boolean"},
                "cursor": nullable("string"), "next_cursor": nullable("string"), "offset": {"type": "integer"},
            })),
        ),
        (
            "ApiError",
            obj(json!({
                "code": string(), "type": string(), "status": {"type": "integer"}, "message": string(),
                "details": {"type": "object"}, "prerequisites": {"type": "array", "items": string()},
                "upgrade_url": string(), "limit_type": string(), "retry_after_seconds": {"type": "integer"},
            })),
        ),
        (
            "ApiErrorEnvelope",
            obj(json!({
                "request_id": string(), "timestamp": string(), "error": {"$ref": "#/components/schemas/ApiError"},
            })),
        ),
    ]
}

/// Adds `T` and everything it refers to.
pub(crate) fn add<T: ToSchema>(schemas: &mut Map<String, Value>) {
    let mut deps = Vec::new();
    T::schemas(&mut deps);
    deps.push((T::name().into_owned(), T::schema()));
    for (name, schema) in deps {
        if let Ok(v) = serde_json::to_value(schema) {
            schemas.insert(name, v);
        }
    }
}

fn derived_schemas() -> Map<String, Value> {
    let mut s = Map::new();
    for add in operations::all().iter().flat_map(|o| &o.schemas) {
        add(&mut s);
    }
    add::<Deal>(&mut s);
    add::<DealPropertyRow>(&mut s);
    add::<DealTeamRow>(&mut s);
    add::<DealPipelineStage>(&mut s);
    add::<Company>(&mut s);
    add::<Contact>(&mut s);
    add::<Credits>(&mut s);
    add::<BillingSummary>(&mut s);
    add::<Vault>(&mut s);
    add::<DealDocument>(&mut s);
    add::<DealDocumentDownload>(&mut s);
    add::<DealChecklist>(&mut s);
    add::<ChecklistTask>(&mut s);
    add::<DealMemo>(&mut s);
    add::<DealMemoDetail>(&mut s);
    add::<DealIndexSearchResult>(&mut s);
    add::<DealIndexObservation>(&mut s);
    add::<DealIndexFact>(&mut s);
    add::<DealIndexFactInsertResponse>(&mut s);
    add::<DealIndexMetricDefinition>(&mut s);
    add::<DealIndexEntity>(&mut s);
    add::<LenderSummary>(&mut s);
    add::<LenderDetail>(&mut s);
    add::<LenderProgram>(&mut s);
    add::<BaseRate>(&mut s);
    add::<AssetType>(&mut s);
    add::<Pipeline>(&mut s);
    add::<Placement>(&mut s);
    add::<TermSheet>(&mut s);
    s
}

fn param(name: &str, location: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": location, "required": required, "schema": schema, "description": description })
}

fn query_type(t: &str) -> Value {
    match t {
        "integer" => json!({ "type": "integer" }),
        "boolean" => json!({ "type": "boolean" }),
        _ => string(),
    }
}

/// Query parameters of a list grammar.
fn list_params(spec: &ListSpec) -> Vec<Value> {
    let mut out = vec![param(
        "limit",
        "query",
        false,
        json!({"type": "integer", "minimum": 1, "maximum": 200}),
        "Page size (default 50).",
    )];
    if spec.cursor {
        out.push(param(
            "cursor",
            "query",
            false,
            string(),
            "Opaque cursor from `pagination.next_cursor`; not with `sort`.",
        ));
    }
    if spec.offset {
        out.push(param("offset", "query", false, json!({"type": "integer", "minimum": 0}), "Offset (offset paging)."));
    }
    if !spec.sorts.is_empty() {
        let d = format!("Comma-separated keys, `-` for descending: {}.", spec.sorts.join(", "));
        out.push(param("sort", "query", false, string(), &d));
    }
    if !spec.fields.is_empty() {
        out.push(param("fields", "query", false, string(), "Comma-separated fields to return (`id` always)."));
    }
    if !spec.includes.is_empty() {
        let d = format!("Sub-resources to embed: {}.", spec.includes.join(", "));
        out.push(param("include", "query", false, string(), &d));
    }
    if spec.search {
        out.push(param("search", "query", false, string(), "Case-insensitive text search."));
    }
    for f in spec.filters {
        let (eq, ranges, schema) = match f.kind {
            FilterKind::Enum(values) => (true, false, json!({ "type": "string", "enum": values })),
            FilterKind::Bool => (true, false, json!({ "type": "boolean" })),
            FilterKind::Text => (true, false, string()),
            FilterKind::Number => (true, true, json!({ "type": "number" })),
            FilterKind::DateTime => (false, true, json!({ "type": "string", "format": "date-time" })),
        };
        if eq {
            out.push(param(&format!("filter[{}]", f.name), "query", false, schema.clone(), "Equals."));
        }
        if ranges {
            for op in ["gte", "lte", "gt", "lt"] {
                out.push(param(&format!("filter[{}][{op}]", f.name), "query", false, schema.clone(), "Range bound."));
            }
        }
    }
    out
}

fn error_response(status: u16) -> Value {
    let description = match status {
        400 => "Malformed request",
        401 => "Missing, invalid or expired credential",
        402 => "Not enough credits",
        403 => "Credential lacks the scope or role",
        404 => "Not found (or not visible to the caller)",
        405 => "Method not allowed",
        409 => "Conflict (idempotency key reuse, or a rule of the resource)",
        413 => "Body over 1 MiB",
        415 => "Body is not application/json",
        422 => "Validation failed; `error.details.fields` names each field",
        429 => "Rate limited",
        503 => "Temporarily unavailable",
        _ => "Unexpected error",
    };
    json!({ "description": description, "content": { "application/json": {
        "schema": { "$ref": "#/components/schemas/ApiErrorEnvelope" } } } })
}

fn envelope(data: Value, list: bool) -> Value {
    let mut props = json!({
        "request_id": { "type": "string", "format": "uuid" },
        "timestamp": { "type": "string", "format": "date-time" },
        "data": data,
    });
    if list && let Some(m) = props.as_object_mut() {
        m.insert("pagination".into(), json!({ "$ref": "#/components/schemas/Pagination" }));
    }
    json!({ "type": "object", "properties": props })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn operation(o: &Operation, bodies: &std::collections::HashMap<String, Value>) -> Value {
    let mut params = Vec::new();
    for seg in o.path.split('/').filter(|s| s.starts_with('{')) {
        let name = seg.trim_matches(|c| c == '{' || c == '}');
        let schema = match name {
            "memo_uuid" => json!({ "type": "string", "format": "uuid" }),
            "token" => string(),
            _ => json!({ "type": "integer", "minimum": 1 }),
        };
        params.push(param(name, "path", true, schema, "Identifier."));
    }
    if let Some(spec) = o.list {
        params.extend(list_params(spec));
    }
    for (name, t) in o.query {
        if !params.iter().any(|p| p["name"] == *name && p["in"] == "query") {
            params.push(param(name, "query", false, query_type(t), ""));
        }
    }
    let public = matches!(o.policy, Policy::Public { .. });
    let origin_required = !matches!(o.policy, Policy::Public { origin: false, .. });
    if origin_required {
        params.push(param(
            "X-Origin-App",
            "header",
            true,
            json!({ "type": "string", "pattern": "^[!-~]{1,128}$" }),
            "Name of the calling application.",
        ));
    }
    if !public {
        params.push(param(
            "X-Active-Account",
            "header",
            false,
            string(),
            "Account slug, for JWT users with several accounts (ignored for API keys).",
        ));
    }
    if o.honours_idempotency() {
        params.push(param(
            "Idempotency-Key",
            "header",
            false,
            json!({ "type": "string", "pattern": "^[!-~]{1,255}$" }),
            "Replays the first response for 24 h.",
        ));
    }
    let (status, data, list) = match o.answer {
        Answer::One(s) => ("200", schema_ref(s), false),
        Answer::Created(s) => ("201", schema_ref(s), false),
        Answer::List(s) => ("200", json!({ "type": "array", "items": schema_ref(s) }), true),
        Answer::Deleted => ("200", schema_ref("BooleanDeleteResult"), false),
    };
    let mut responses = Map::new();
    responses.insert(
        status.into(),
        json!({ "description": "Success", "content": { "application/json": { "schema": envelope(data, list) } } }),
    );
    let mut errors: Vec<u16> = vec![400, 405, 429, 500];
    if !public {
        errors.extend([401, 403]);
    }
    if o.path.contains('{') {
        errors.push(404);
    }
    if o.body || o.method == Method::PATCH {
        errors.extend([409, 413, 415, 422]);
    }
    errors.extend(o.errors);
    errors.sort_unstable();
    errors.dedup();
    for e in errors {
        responses.insert(e.to_string(), error_response(e));
    }
    let mut op = json!({
        "operationId": o.id,
        "summary": o.summary,
        "tags": [o.path.trim_start_matches('/').split('/').next().unwrap_or("")],
        "parameters": params,
        "responses": responses,
    });
    if let Some(m) = op.as_object_mut() {
        if public {
            m.insert("security".into(), json!([]));
        } else if let Some(scope) = o.scope {
            m.insert("description".into(), Value::from(format!("Requires the `{scope}` scope.")));
        }
        if o.body || matches!(o.method, Method::POST | Method::PATCH) {
            // Typed where the MCP catalogue describes the same operation's body; else any object.
            let key = o.endpoint();
            let schema = bodies.get(&key).cloned().unwrap_or_else(|| json!({ "type": "object" }));
            m.insert(
                "requestBody".into(),
                json!({ "required": o.method != Method::POST || o.body, "content": { "application/json": {
                    "schema": schema } } }),
            );
        }
    }
    op
}

fn build() -> Value {
    let mut paths = Map::new();
    let bodies = crate::mcp::rest_body_schemas();
    for o in operations::all().iter().filter(|o| !o.hidden) {
        let path = format!("{PREFIX}{}", o.path);
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        if let Some(m) = entry.as_object_mut() {
            m.insert(o.method.as_str().to_ascii_lowercase(), operation(o, &bodies));
        }
    }
    let mut schemas = derived_schemas();
    for (name, v) in assembled_schemas() {
        schemas.insert(name.into(), v);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "levd — Lev External API v2",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "levd's own description of the API it serves, generated from its code. \
                Every path is also served under /api/external/v2/build/…",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearerAuth": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "bearerFormat": "API key (lev_sk_…) or RS256 JWT" }
            },
            "schemas": schemas,
        },
    })
}

/// The document, built once.
pub fn document() -> &'static Value {
    // The literal schema trees are deep; unoptimised builds need more stack to assemble them
    // than a runtime worker thread has, so the one-time build runs on a thread of its own.
    static DOC: LazyLock<Value> = LazyLock::new(|| {
        std::thread::Builder::new()
            .stack_size(32 * 1024 * 1024)
            .spawn(build)
            .ok()
            .and_then(|h| h.join().ok())
            .unwrap_or_else(
                || json!({ "openapi": "3.1.0", "info": { "title": "levd", "version": "unavailable" }, "paths": {} }),
            )
    });
    &DOC
}

/// The number of operations described (for tests).
pub fn operation_count() -> usize {
    operations::all().iter().filter(|o| !o.hidden).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_request_bodies_name_real_operations() {
        let ops: Vec<String> = operations::all().iter().map(Operation::endpoint).collect();
        let bodies = crate::mcp::rest_body_schemas();
        assert!(bodies.len() >= 20, "{} typed bodies", bodies.len());
        for key in bodies.keys() {
            assert!(ops.contains(key), "{key} is no operation of the document");
        }
        let doc = document();
        let create =
            &doc["paths"]["/api/external/v2/deals"]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(create["required"], serde_json::json!(["title"]));
        assert!(create["properties"]["loan_type"]["enum"].as_array().is_some_and(|e| !e.is_empty()), "{create}");
        assert!(create.get("additionalProperties").is_none(), "unknown members are ignored, not refused");
    }

    #[test]
    fn every_referenced_schema_exists() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("#/components/schemas/") {
            rest = &rest[i + "#/components/schemas/".len()..];
            let name: String = rest.chars().take_while(|c| *c != '"').collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
    }
}
