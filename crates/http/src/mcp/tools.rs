//! The MCP tool catalogue (`docs/auth.md#mcp`) and the one dispatcher behind it. Each tool is one
//! row: name, a short description, what it does to the account (read, add, change), the REST
//! operation it mirrors, and its arguments. A call turns the arguments into what that REST
//! operation would receive — path ids, the raw query string, the JSON body bytes — and calls the
//! same service function, so validation, scope checks (`docs/auth.md#scopes`), tenant isolation and messages are
//! those of REST.
//!
//! Tools of the catalogue that levd leaves out, because its REST API has no operation for them:
//! - `show_deal`: draws a deal as an MCP Apps widget; levd serves no widgets (`get_deal` returns
//!   the record).
//! - `summarize_deal`, `summarize_pipeline`, `summarize_term_sheets`: prose written by a language
//!   model on Lev's side; there is no summary operation to wrap.
//! - `browse_deal_vaults`: an interactive vault browser (MCP Apps); `list_deal_vaults` and
//!   `list_deal_documents` return its data.
//! - `recommend_lenders_for_deal`, `get_lender_recommendations`: lender matching is no operation
//!   of the API levd serves.
//! - `read_memo_pdf_bytes`, `read_deal_document_bytes`: feed file bytes to MCP Apps widgets; levd
//!   hands out signed, expiring links instead (`get_deal_memo`, document downloads).
use std::sync::LazyLock;
use std::time::Instant;

use levd_auth::Principal;
use levd_domain::ApiError;
use levd_domain::crm::{COMPANY_TEXT_FIELDS, COMPANY_TYPES, CONTACT_TEXT_FIELDS, CONTACT_TYPES, PHONE_TYPES};
use levd_domain::deal::{
    BUSINESS_PLANS, DEAL_FIELDS, DEAL_INCLUDES, FINANCIALS_WRITE_FIELDS, LOAN_TYPES, TRANSACTION_TYPES,
};
use levd_domain::deal_data::{DOCUMENT_FIELDS, MEMO_QUALITIES, MEMO_STATUSES, MEMO_TYPES, TASK_STATUSES};
use levd_domain::placements::{LENDER_STATUSES, PLACEMENT_STATUSES, TERM_FIELDS, TermKind, VISIBILITIES};
use levd_domain::query::{FilterKind, ListSpec, MAX_LIMIT};
use levd_domain::scope::AccountScope;
use levd_service::notes::NoteParent;
use rmcp::ErrorData;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use super::auth::McpCaller;
use super::breaker::Tenant;
use crate::AppState;
use crate::admission::{self, Refused};
use crate::middleware::PREFIX;
use crate::operations::{self, Handler, Input, NOTE_PARENTS, Operation, Output};

// ---------------------------------------------------------------------------------------------
// The catalogue

/// What a tool does to the account: the R/W column, with writes split into those that only
/// add records and those that change or remove existing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Read,
    Add,
    Change,
}

/// Where an argument goes in the REST request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum To {
    /// Names the resource (a path parameter, or the parent of a note): taken out of the body.
    Path,
    /// A query parameter under this key.
    Query(String),
    /// A body member, under another name when given.
    Body(Option<&'static str>),
}

#[derive(Debug, Clone)]
pub(crate) struct Arg {
    name: String,
    to: To,
    required: bool,
    schema: Value,
}

impl Arg {
    fn required(mut self) -> Arg {
        self.required = true;
        self
    }

    /// Enumerated values are lower-case on the wire (`docs/api.md#lists`): what a model sends is folded.
    fn folds_case(&self) -> bool {
        self.schema.get("enum").is_some() || self.schema.pointer("/items/enum").is_some()
    }
}

/// A tool: the row of the operation table it calls, and its MCP description.
struct Def {
    op: &'static Operation,
    name: &'static str,
    effect: Effect,
    args: &'static [Arg],
}

impl Def {
    fn arg(&self, name: &str) -> Option<&Arg> {
        self.args.iter().find(|a| a.name == name)
    }

    fn tool(&self, about: &'static str) -> Tool {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for a in self.args {
            properties.insert(a.name.clone(), a.schema.clone());
            if a.required {
                required.push(Value::from(a.name.clone()));
            }
        }
        let mut schema = Map::new();
        schema.insert("type".into(), Value::from("object"));
        schema.insert("properties".into(), Value::Object(properties));
        if !required.is_empty() {
            schema.insert("required".into(), Value::Array(required));
        }
        let annotations = ToolAnnotations::new()
            .read_only(self.effect == Effect::Read)
            .destructive(self.effect == Effect::Change)
            .idempotent(self.effect == Effect::Read)
            .open_world(false);
        Tool::new(self.name, about, schema).with_annotations(annotations)
    }
}

struct Catalogue {
    defs: Vec<Def>,
    tools: Vec<Tool>,
}

/// The catalogue: every row of the operation table that is also a tool.
static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    let rows = operations::all().iter().filter_map(|op| op.tool.as_ref().map(|t| (op, t)));
    let (defs, tools) = rows
        .map(|(op, t)| {
            let def = Def { op, name: t.name, effect: t.effect, args: &t.args };
            let tool = def.tool(t.about);
            (def, tool)
        })
        .unzip();
    Catalogue { defs, tools }
});

/// Request-body schemas of the REST operations the tools mirror, keyed by `METHOD /template`
/// (template after the API prefix): the body members of each tool, under their REST names. The
/// OpenAPI document uses them, so REST clients and MCP clients read one description.
pub fn rest_body_schemas() -> std::collections::HashMap<String, Value> {
    let mut out = std::collections::HashMap::new();
    for def in &CATALOGUE.defs {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for a in def.args {
            if let To::Body(alias) = &a.to {
                let name = alias.map_or_else(|| a.name.clone(), str::to_owned);
                properties.insert(name.clone(), a.schema.clone());
                if a.required {
                    required.push(Value::from(name));
                }
            }
        }
        if properties.is_empty() {
            continue;
        }
        let mut schema = json!({ "type": "object", "properties": properties });
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        // The note tools describe the note operations of every parent.
        let templates: Vec<String> = match def.op.note_parent {
            Some(_) => NOTE_PARENTS
                .iter()
                .map(|(_, prefix, _)| {
                    format!("{} {}", def.op.method, def.op.path.replacen("/deals/{deal_id}", prefix, 1))
                })
                .collect(),
            None => vec![def.op.endpoint()],
        };
        for t in templates {
            out.entry(t).or_insert_with(|| schema.clone());
        }
    }
    out
}

/// Every tool, as `tools/list` shows them.
pub fn tools() -> &'static [Tool] {
    &CATALOGUE.tools
}

// --- schema pieces

fn typed(t: &str, about: &str) -> Value {
    json!({ "type": t, "description": about })
}

fn choice(values: &[&str], about: &str) -> Value {
    json!({ "type": "string", "enum": values, "description": about })
}

fn many(values: &[&str], about: &str) -> Value {
    json!({ "type": "array", "items": { "type": "string", "enum": values }, "description": about })
}

fn bounded(t: &str, min: impl Into<Value>, max: impl Into<Value>, about: &str) -> Value {
    json!({ "type": t, "minimum": min.into(), "maximum": max.into(), "description": about })
}

fn date(about: &str) -> Value {
    json!({ "type": "string", "format": "date", "description": about })
}

fn id_list(about: &str) -> Value {
    json!({ "type": "array", "items": { "type": "integer", "minimum": 1 }, "description": about })
}

/// `deal_id` → "the deal"; `term_sheet_id` → "the term sheet".
fn thing(name: &str) -> String {
    format!("the {}", name.trim_end_matches("_id").replace('_', " "))
}

// --- argument builders

fn path(name: &str) -> Arg {
    let schema = json!({ "type": "integer", "minimum": 1, "description": format!("Id of {}.", thing(name)) });
    Arg { name: name.into(), to: To::Path, required: true, schema }
}

fn path_text(name: &str, schema: Value) -> Arg {
    Arg { name: name.into(), to: To::Path, required: true, schema }
}

fn query(name: &str, schema: Value) -> Arg {
    query_as(name, name, schema)
}

fn query_as(name: &str, key: &str, schema: Value) -> Arg {
    Arg { name: name.into(), to: To::Query(key.into()), required: false, schema }
}

fn field(name: &str, schema: Value) -> Arg {
    Arg { name: name.into(), to: To::Body(None), required: false, schema }
}

fn field_as(name: &str, member: &'static str, schema: Value) -> Arg {
    Arg { name: name.into(), to: To::Body(Some(member)), required: false, schema }
}

fn limit() -> Arg {
    let about = format!("Page size, 1 to {MAX_LIMIT}.");
    query("limit", json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": about }))
}

/// The arguments of a list grammar: paging, `sort`, `fields`, `include`, `search`, and one
/// argument per filter. Id filters match exactly; other numbers take bounds (`min_loan_amount`
/// → `filter[loan_amount][gte]`); timestamps take `…_after` / `…_before`.
pub(crate) fn list(spec: &ListSpec) -> Vec<Arg> {
    let mut out = vec![limit()];
    if spec.cursor {
        out.push(query("cursor", typed("string", "next_cursor of the previous page (not together with sort).")));
    }
    if spec.offset {
        out.push(query("offset", json!({ "type": "integer", "minimum": 0, "description": "Records to skip." })));
    }
    if !spec.sorts.is_empty() {
        let about = format!("Comma-separated sort keys, '-' first for descending: {}.", spec.sorts.join(", "));
        out.push(query("sort", typed("string", &about)));
    }
    if !spec.fields.is_empty() {
        out.push(query("fields", many(spec.fields, "Fields to return (id always comes).")));
    }
    if !spec.includes.is_empty() {
        out.push(query("include", many(spec.includes, "Related records to embed.")));
    }
    if spec.search {
        out.push(query("search", typed("string", "Case-insensitive text search.")));
    }
    for f in spec.filters {
        let key = format!("filter[{}]", f.name);
        let about = format!("Only records whose {} is this.", f.name.replace('_', " "));
        match f.kind {
            FilterKind::Enum(values) => out.push(query_as(f.name, &key, choice(values, &about))),
            FilterKind::Bool => out.push(query_as(f.name, &key, typed("boolean", &about))),
            FilterKind::Text => out.push(query_as(f.name, &key, typed("string", &about))),
            FilterKind::Number if f.name.ends_with("_id") => out.push(query_as(f.name, &key, typed("integer", &about))),
            FilterKind::Number => {
                let words = f.name.replace('_', " ");
                out.push(query_as(
                    &format!("min_{}", f.name),
                    &format!("{key}[gte]"),
                    typed("number", &format!("Smallest {words}.")),
                ));
                out.push(query_as(
                    &format!("max_{}", f.name),
                    &format!("{key}[lte]"),
                    typed("number", &format!("Largest {words}.")),
                ));
            }
            FilterKind::DateTime => {
                let stem = f.name.strip_suffix("_at").unwrap_or(f.name);
                let words = f.name.replace('_', " ");
                let stamp = |about: String| json!({ "type": "string", "format": "date-time", "description": about });
                out.push(query_as(
                    &format!("{stem}_after"),
                    &format!("{key}[gte]"),
                    stamp(format!("Earliest {words}.")),
                ));
                out.push(query_as(
                    &format!("{stem}_before"),
                    &format!("{key}[lte]"),
                    stamp(format!("Latest {words}.")),
                ));
            }
        }
    }
    out
}

pub(crate) fn with(mut first: Vec<Arg>, rest: Vec<Arg>) -> Vec<Arg> {
    first.extend(rest);
    first
}

pub(crate) fn deal_fields(create: bool) -> Vec<Arg> {
    let title = field("title", typed("string", "Title of the deal (at most 255 characters)."));
    let financials: Map<String, Value> = FINANCIALS_WRITE_FIELDS
        .iter()
        .map(|f| ((*f).to_string(), json!({ "type": ["number", "null"], "minimum": 0 })))
        .collect();
    let mut out = vec![
        if create { title.required() } else { title },
        field("loan_amount", json!({ "type": "number", "minimum": 0, "description": "Loan amount in dollars." })),
        field("loan_type", choice(LOAN_TYPES, "Kind of loan.")),
        field("transaction_type", choice(TRANSACTION_TYPES, "Kind of transaction.")),
        field("business_plan", choice(BUSINESS_PLANS, "Business plan for the asset.")),
        field("description", typed("string", "Free text.")),
        field("estimated_close_date", date("Expected closing date (YYYY-MM-DD).")),
        field(
            "deal_financials",
            json!({ "type": "object", "properties": financials, "description": "Headline financials in dollars." }),
        ),
    ];
    if create {
        out.push(field("pipeline_ids", id_list("Pipelines to place the deal in, at their first stage.")));
    }
    out
}

pub(crate) fn contact_fields(create: bool) -> Vec<Arg> {
    let mut out = Vec::new();
    if create {
        out.push(field("contact_type", choice(CONTACT_TYPES, "Kind of contact.")).required());
        out.push(field("company_id", typed("integer", "Company the contact works for.")).required());
    }
    out.push(field("email", json!({ "type": "string", "format": "email", "description": "Email address." })));
    for (name, max) in CONTACT_TEXT_FIELDS {
        out.push(field(name, typed("string", &format!("{} (at most {max} characters).", name.replace('_', " ")))));
    }
    out.push(field(
        "phones",
        json!({ "type": "array", "description": "Phone numbers (the whole list replaces the old one).", "items": {
            "type": "object", "required": ["raw"], "properties": {
                "type": { "type": "string", "enum": PHONE_TYPES },
                "raw": { "type": "string", "description": "The number as written." },
                "country": { "type": "string", "description": "2-letter region code for a national number." },
                "extension": { "type": "string" },
            } } }),
    ));
    out.push(field("is_primary", typed("boolean", "Primary contact of the company.")));
    out
}

pub(crate) fn company_fields(create: bool) -> Vec<Arg> {
    let name = field("name", typed("string", "Company name."));
    let kind = field("company_type", choice(COMPANY_TYPES, "Lender or sponsor."));
    let mut out = if create { vec![name.required(), kind.required()] } else { vec![name, kind] };
    for (name, max) in COMPANY_TEXT_FIELDS {
        out.push(field(name, typed("string", &format!("{} (at most {max} characters).", name.replace('_', " ")))));
    }
    out.push(field("org_id", typed("integer", "Lender directory organisation this company is.")));
    out
}

pub(crate) fn placement_fields(create: bool) -> Vec<Arg> {
    let mut out = Vec::new();
    if create {
        out.push(field("deal_id", typed("integer", "Deal being placed.")).required());
        out.push(field("private_company_id", typed("integer", "Lender company (from list_companies).")).required());
        out.push(field("contact_id", typed("integer", "Contact at the lender.")));
    }
    out.extend([
        field("status", choice(PLACEMENT_STATUSES, "Outreach status; archived removes the placement from lists.")),
        field("visibility", choice(VISIBILITIES, "Who sees the lender: hidden, masked (Lender A…) or shared.")),
        field("description", typed("string", "Free text.")),
        field("score", bounded("number", 0.0, 100.0, "Fit score, 0 to 100.")),
        field(
            "outreach_date",
            json!({ "type": "string", "format": "date-time", "description": "When the lender was contacted." }),
        ),
        field("lender_status", choice(LENDER_STATUSES, "Where the deal is on the lender's side.")),
    ]);
    out
}

pub(crate) fn term_sheet_fields(create: bool) -> Vec<Arg> {
    let mut out = Vec::new();
    if create {
        out.push(
            field("placement_id", typed("integer", "Placement (lender outreach) the quote came from.")).required(),
        );
    }
    for f in TERM_FIELDS {
        let words = f.name.replace('_', " ");
        let schema = match f.kind {
            TermKind::Text(max) => typed("string", &format!("{words} (at most {max} characters).")),
            TermKind::Enum(values) => choice(values, &format!("{words}.")),
            TermKind::Ratio => bounded("number", 0.0, 1.0, &format!("{words}, a ratio (0.70 = 70%).")),
            TermKind::Percent => bounded("number", 0.0, 100.0, &format!("{words}, in percent (5.85 = 5.85%).")),
            TermKind::SignedPercent => {
                bounded("number", -100.0, 100.0, &format!("{words}, in percent (5.85 = 5.85%)."))
            }
            TermKind::Multiple => bounded("number", 0.0, 10.0, &format!("{words}, a multiple (1.25).")),
            TermKind::Months => bounded("integer", 0, 1200, &format!("{words}, in months.")),
            TermKind::Dollars => {
                json!({ "type": "integer", "minimum": 0, "description": format!("{words}, in dollars.") })
            }
            TermKind::Amount => {
                json!({ "type": "number", "minimum": 0, "description": format!("{words}, in dollars.") })
            }
        };
        let arg = field(f.name, schema);
        out.push(if create && f.required { arg.required() } else { arg });
    }
    out.extend([
        field(
            "base_rate",
            typed(
                "string",
                "Benchmark of a floating quote: a key such as sofr_m1 (see get_base_rates), or none-fixed.",
            ),
        ),
        field("winning", typed("boolean", "The winning quote of the deal (at most one).")),
        field("is_visible_to_borrower", typed("boolean", "Shown to the borrower.")),
    ]);
    out
}

pub(crate) fn task_fields(create: bool) -> Vec<Arg> {
    let title = field("title", typed("string", "Task title."));
    let mut out = if create {
        vec![
            field(
                "section_id",
                typed("integer", "Checklist section to add the task to (or checklist_id, or parent_task_id)."),
            ),
            field("checklist_id", typed("integer", "Checklist to add the task to.")),
            field("parent_task_id", typed("integer", "Task to add a subtask to.")),
            title.required(),
        ]
    } else {
        vec![title]
    };
    out.extend([
        field("description", typed("string", "Free text.")),
        field("status", choice(TASK_STATUSES, "Task state.")),
        field("due_date", date("Due date (YYYY-MM-DD).")),
        field("assigned_user_id", typed("integer", "Team member responsible (see list_team_members).")),
        field("document_type_ids", id_list("Document types the task asks for.")),
    ]);
    if !create {
        out.push(field(
            "is_completed",
            typed("boolean", "false reopens a completed task (complete with complete_checklist_task)."),
        ));
    }
    out
}

pub(crate) fn note_parent() -> Vec<Arg> {
    let kinds: Vec<&str> = NOTE_PARENTS.iter().map(|(p, _, _)| p.type_name()).collect();
    vec![
        path_text("parent_type", choice(&kinds, "What the note belongs to.")),
        path_text("parent_id", json!({ "type": "integer", "minimum": 1, "description": "Id of that record." })),
    ]
}

fn index_paging() -> Vec<Arg> {
    vec![
        field("limit", bounded("integer", 1, MAX_LIMIT, "Results to return (default 20).")),
        field("include_signed_urls", typed("boolean", "Add short-lived links to the source documents.")),
    ]
}

/// A tool argument per path id.
pub(crate) fn id(name: &str) -> Vec<Arg> {
    vec![path(name)]
}

pub(crate) fn deal() -> Vec<Arg> {
    vec![path("deal_id")]
}

pub(crate) fn on_deal(rest: Vec<Arg>) -> Vec<Arg> {
    with(deal(), rest)
}

pub(crate) fn deal_read() -> Vec<Arg> {
    on_deal(vec![
        query("include", many(DEAL_INCLUDES, "Related records to embed.")),
        query("fields", many(DEAL_FIELDS, "Fields to return.")),
    ])
}

pub(crate) fn pipeline_move() -> Vec<Arg> {
    on_deal(vec![
        field("pipeline_id", typed("integer", "Pipeline (see list_pipelines).")).required(),
        field("pipeline_status_id", typed("integer", "Stage of that pipeline.")),
    ])
}

fn page_number() -> Value {
    json!({ "type": "integer", "minimum": 1, "description": "Page number." })
}

pub(crate) fn index_search() -> Vec<Arg> {
    on_deal(with(
        vec![
            field("context", typed("string", "What to look for, in plain words.")).required(),
            field("min_score", bounded("number", 0.0, 1.0, "Lowest relevance to keep, 0 to 1 (default 0.3).")),
        ],
        index_paging(),
    ))
}

pub(crate) fn index_observations() -> Vec<Arg> {
    on_deal(with(
        vec![
            field("sot_id", typed("string", "Fact id such as d:5362 (or give metric_id).")),
            field("metric_id", typed("integer", "Metric whose observations to list.")),
            field("entity_ref", typed("string", "Only observations about this entity, e.g. property:690.")),
            field("page", page_number()),
        ],
        index_paging(),
    ))
}

pub(crate) fn fact_update() -> Vec<Arg> {
    on_deal(vec![
        field("sot_id", typed("string", "Fact id such as d:5362.")).required(),
        field("value", typed("string", "New value (or give observation_id).")),
        field("observation_id", typed("integer", "Observation whose value to adopt.")),
    ])
}

pub(crate) fn fact_values() -> Vec<Arg> {
    let item = json!({ "type": "object", "required": ["metric_id", "value"], "properties": {
        "metric_id": { "type": "integer", "minimum": 1 },
        "value": { "type": "string" },
        "entity_ref": { "type": "string", "description": "Entity the value is about, e.g. property:690." },
        "group_ref": { "type": "string" },
    } });
    let values = json!({ "type": "array", "minItems": 1, "items": item, "description": "Values to record." });
    on_deal(vec![field("values", values).required()])
}

pub(crate) fn metric_query() -> Vec<Arg> {
    on_deal(vec![
        query("metric_label", typed("string", "Text the label contains.")),
        query("category_id", typed("integer", "Only this category.")),
        query("page", page_number()),
        limit(),
    ])
}

pub(crate) fn memo_query() -> Vec<Arg> {
    on_deal(vec![
        limit(),
        query("offset", json!({ "type": "integer", "minimum": 0, "description": "Records to skip." })),
        query("search", typed("string", "Text in the title or body.")),
        query_as("title", "filter[title]", typed("string", "Exact title.")),
        query_as("status", "filter[status]", choice(MEMO_STATUSES, "Only memos in this state.")),
        query_as("memo_type", "filter[memo_type]", choice(MEMO_TYPES, "Only memos of this kind.")),
        query_as("pdf_ready", "filter[pdf_ready]", typed("boolean", "Only memos whose PDF can be served.")),
        query("vault_id", typed("integer", "Only memos filed in this vault.")),
    ])
}

pub(crate) fn memo_read() -> Vec<Arg> {
    on_deal(vec![
        path_text("memo_uuid", json!({ "type": "string", "format": "uuid", "description": "Memo uuid." })),
        query("quality", choice(MEMO_QUALITIES, "PDF image quality (default original).")),
    ])
}

pub(crate) fn document_query() -> Vec<Arg> {
    on_deal(vec![
        limit(),
        query("cursor", typed("string", "next_cursor of the previous page.")),
        query("search", typed("string", "Text in the file name.")),
        query("extension", typed("string", "File extension such as pdf or xlsx.")),
        query("folder_id", typed("integer", "Only this folder.")),
        query("vault_id", typed("integer", "Only this vault.")),
        query("fields", many(DOCUMENT_FIELDS, "Fields to return.")),
    ])
}

pub(crate) fn document_read() -> Vec<Arg> {
    on_deal(vec![path("document_id"), query("fields", many(DOCUMENT_FIELDS, "Fields to return."))])
}

pub(crate) fn checklist_query() -> Vec<Arg> {
    on_deal(vec![query("vault_id", typed("integer", "Only the checklist of this vault."))])
}

pub(crate) fn note_text(about: &str) -> Vec<Arg> {
    vec![field("text", typed("string", about)).required()]
}

pub(crate) fn account_slug() -> Vec<Arg> {
    let slug = typed("string", "Slug of the account (see list_available_accounts).");
    vec![field_as("account_slug", "slug", slug).required()]
}

// ---------------------------------------------------------------------------------------------
// Calls

/// One tool call, with its arguments turned into the pieces of a REST request.
struct Call<'a> {
    def: &'a Def,
    args: &'a Map<String, Value>,
    scope: Option<AccountScope>,
    user_id: i64,
    /// Root of the signed links the services hand out.
    api_base: String,
}

impl Call<'_> {
    /// A numeric id. Anything that is not a positive integer names no resource and becomes 0,
    /// which the service answers with its 404, as REST does for such a path.
    fn id(&self, name: &str) -> Result<i64, ApiError> {
        let id = match self.args.get(name) {
            None | Some(Value::Null) => return Err(ApiError::invalid_field(name, "is required")),
            Some(Value::Number(n)) => {
                n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
            }
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        Ok(id.filter(|id| *id > 0).unwrap_or(0))
    }

    fn text(&self, name: &str) -> Result<&str, ApiError> {
        match self.args.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(Value::Null) | None => Err(ApiError::invalid_field(name, "is required")),
            Some(_) => Err(ApiError::invalid_field(name, "must be a string")),
        }
    }

    fn note_parent(&self) -> Result<(NoteParent, i64), ApiError> {
        let kind = self.text("parent_type")?.trim().to_ascii_lowercase();
        let parent = NOTE_PARENTS.iter().map(|(p, _, _)| *p).find(|p| p.type_name() == kind).ok_or_else(|| {
            let kinds: Vec<&str> = NOTE_PARENTS.iter().map(|(p, _, _)| p.type_name()).collect();
            ApiError::invalid_field("parent_type", format!("must be one of: {}", kinds.join(", ")))
        })?;
        Ok((parent, self.id("parent_id")?))
    }

    /// The operation the call runs: the tool's row or, for a note tool, the row of the named
    /// parent's notes.
    fn operation(&self) -> Result<&'static Operation, ApiError> {
        let op = self.def.op;
        if op.note_parent.is_none() {
            return Ok(op);
        }
        let (parent, _) = self.note_parent()?;
        let prefix = NOTE_PARENTS.iter().find(|(p, _, _)| *p == parent).map_or("", |(_, prefix, _)| prefix);
        operations::find(&op.method, &op.path.replacen("/deals/{deal_id}", prefix, 1)).ok_or_else(ApiError::internal)
    }

    /// The REST operation, e.g. `GET /deals/{deal_id}/notes`: it names the per-endpoint
    /// rate-limit bucket the call shares with REST.
    fn endpoint(&self) -> String {
        self.operation().map_or_else(|_| self.def.op.endpoint(), Operation::endpoint)
    }

    /// What the operation receives: the path ids, the query and the body REST would send.
    fn input(&self) -> Result<Input, ApiError> {
        let mut params = Vec::new();
        for a in self.def.args.iter().filter(|a| a.to == To::Path) {
            match a.name.as_str() {
                "parent_type" | "parent_id" => {}
                name if a.schema["type"] == "integer" => params.push((name.to_owned(), self.id(name)?.to_string())),
                name => params.push((name.to_owned(), self.text(name)?.to_owned())),
            }
        }
        let note_parent = if self.def.op.note_parent.is_some() { Some(self.note_parent()?) } else { None };
        Ok(Input {
            scope: self.scope.clone(),
            user_id: self.user_id,
            params,
            query: self.query(),
            body: self.body().into(),
            api_base: self.api_base.clone(),
            bearer: None,
            note_parent,
        })
    }

    /// The raw query string REST would receive, built from the query arguments in catalogue order.
    fn query(&self) -> Option<String> {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        let mut any = false;
        for a in self.def.args {
            if let To::Query(key) = &a.to
                && let Some(value) = self.args.get(&a.name).and_then(|v| query_value(v, a.folds_case()))
            {
                q.append_pair(key, &value);
                any = true;
            }
        }
        any.then(|| q.finish())
    }

    /// The JSON body REST would receive: every argument but those naming the resource or
    /// going to the query, under its REST name. Unknown members pass through, and the
    /// service ignores them as it does for REST.
    fn body(&self) -> Vec<u8> {
        let mut out = Map::new();
        for (name, value) in self.args {
            match self.def.arg(name) {
                Some(Arg { to: To::Path | To::Query(_), .. }) => {}
                Some(a @ Arg { to: To::Body(member), .. }) => {
                    let value = if a.folds_case() { lowercase(value) } else { value.clone() };
                    out.insert(member.map_or_else(|| name.clone(), str::to_string), value);
                }
                None => {
                    out.insert(name.clone(), value.clone());
                }
            }
        }
        serde_json::to_vec(&Value::Object(out)).unwrap_or_else(|_| b"{}".to_vec())
    }
}

fn lowercase(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.to_lowercase()),
        Value::Array(items) => Value::Array(items.iter().map(lowercase).collect()),
        other => other.clone(),
    }
}

/// An argument as a query-string value; arrays become comma-separated lists.
fn query_value(v: &Value, fold: bool) -> Option<String> {
    let text = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items.iter().filter_map(|i| query_value(i, false)).collect::<Vec<_>>().join(","),
        Value::Object(_) => v.to_string(),
    };
    Some(if fold { text.to_lowercase() } else { text })
}

/// What every tool answers while the circuit breaker is open.
const BREAKER_OPEN: &str = "circuit breaker open after repeated server errors; retry after 30 seconds";

/// Runs `tools/call`. Failures of the operation are tool results with `isError` (the model
/// reads them); only an unknown tool is a protocol error.
pub async fn call(
    state: &AppState,
    caller: &McpCaller,
    request: CallToolRequestParams,
) -> Result<CallToolResult, ErrorData> {
    let name = request.name.as_ref();
    let Some(def) = CATALOGUE.defs.iter().find(|d| d.name == name) else {
        return Err(ErrorData::invalid_params(format!("tool not found: {name}"), None));
    };
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let args = request.arguments.unwrap_or_default();
    let (account_id, result) = execute(state, caller, def, &args).await;
    let latency_ms = format!("{:.2}", started.elapsed().as_secs_f64() * 1000.0);
    match result {
        Ok(value) => {
            tracing::info!(
                target: "levd::mcp",
                request_id = %request_id,
                tool = def.name,
                account_id,
                origin_app = caller.origin_app,
                outcome = "ok",
                latency_ms,
                "tool call"
            );
            Ok(CallToolResult::structured(value))
        }
        Err(e) => {
            tracing::info!(
                target: "levd::mcp",
                request_id = %request_id,
                tool = def.name,
                account_id,
                origin_app = caller.origin_app,
                outcome = "error",
                status = e.status(),
                latency_ms,
                "tool call"
            );
            Ok(failure(&e, &request_id))
        }
    }
}

/// Admits the call through the path REST requests take (`docs/auth.md#admission`: the account,
/// with no header — saved preference, else the only membership — and the rate limits REST
/// charges for the same operation), asks the tenant's breaker, then runs the operation.
/// Returns the account acted for.
async fn execute(
    state: &AppState,
    caller: &McpCaller,
    def: &Def,
    args: &Map<String, Value>,
) -> (Option<i64>, Result<Value, ApiError>) {
    let principal = &caller.principal;
    let api_base = format!("{}{PREFIX}", state.site.public_url);
    let mut call = Call { def, args, scope: None, user_id: principal.user_id(), api_base };
    let policy = call.operation().map_or(def.op.policy, |o| o.policy);
    let endpoint = call.endpoint();
    let admitted = match admission::admit(state, Some(principal), None, policy, &endpoint, "").await {
        Ok(a) => a,
        Err(r) => {
            let e = match r {
                Refused::Auth(e) => e.into(),
                Refused::AccountRequired => account_required(principal),
                Refused::RateLimited(rej) => admission::rate_limited(&rej),
            };
            return (None, Err(e));
        }
    };
    call.scope = admitted.scope;
    let account_id = call.scope.as_ref().map(|s| s.account_id);
    // The breaker of the tenant acted for: one tenant's failures never stop another's calls.
    let tenant = match account_id {
        Some(id) => Tenant::Account(id),
        None => Tenant::User(principal.user_id()),
    };
    if !state.mcp_breaker.admit(tenant) {
        return (account_id, Err(ApiError::unavailable(BREAKER_OPEN)));
    }
    let result = run(state, &call).await;
    state.mcp_breaker.record(tenant, result.as_ref().map_or_else(|e| e.status(), |_| 200));
    (account_id, result)
}

/// Runs the operation of an admitted call.
async fn run(state: &AppState, call: &Call<'_>) -> Result<Value, ApiError> {
    let Handler::Service(run) = call.operation()?.handler else {
        return Err(ApiError::internal());
    };
    let input = call.input()?;
    input.reject_nul_in_params()?;
    run(&state.service, &input).await.map(present)
}

/// A multi-account user with no saved choice: say how to choose.
fn account_required(principal: &Principal) -> ApiError {
    let mut e = ApiError::bad_request(
        "You belong to several accounts and none is active. Call list_available_accounts to see them, then \
         switch_account with the slug of the account to work in.",
    )
    .with_detail("action", "switch_account");
    if let Principal::Jwt(user) = principal {
        let slugs: Vec<String> = user.memberships.iter().map(|m| m.slug.clone()).collect();
        e = e.with_detail("available_accounts", slugs);
    }
    e
}

// ---------------------------------------------------------------------------------------------
// Results

/// Lists as `{total, showing, has_more, data}` with the page position; one record as itself.
fn present(out: Output) -> Value {
    match out {
        Output::List(page) => list_result(page.items.into_values(), Some(&page.pagination)),
        Output::One(record) => match record.into_value() {
            Value::Array(items) => list_result(items, None),
            v => v,
        },
    }
}

fn list_result(items: Vec<Value>, pagination: Option<&Value>) -> Value {
    let get = |k: &str| pagination.and_then(|p| p.get(k)).filter(|v| !v.is_null()).cloned();
    let mut m = Map::new();
    m.insert("total".into(), get("total").unwrap_or_else(|| Value::from(items.len())));
    m.insert("showing".into(), Value::from(items.len()));
    m.insert("has_more".into(), get("has_more").unwrap_or(Value::Bool(false)));
    for k in ["limit", "offset", "cursor", "next_cursor", "page", "total_pages"] {
        if let Some(v) = get(k) {
            m.insert(k.into(), v);
        }
    }
    m.insert("data".into(), Value::Array(items));
    Value::Object(m)
}

/// The plain-language label of an error class.
fn prefix(e: &ApiError) -> &'static str {
    if e.details.get("action").and_then(Value::as_str) == Some("switch_account") {
        return "Account selection required";
    }
    match e.status() {
        400 | 422 => "Validation failed",
        401 => "Unauthorized",
        402 => "Payment required",
        403 => "Forbidden",
        404 => "Not found",
        409 => "Conflict",
        429 => "Rate limited",
        _ => "Request failed",
    }
}

/// A failed operation as a tool error: a sentence for the model and, as structured content,
/// the members of the REST error envelope.
fn failure(e: &ApiError, request_id: &str) -> CallToolResult {
    // Every offending field, not only the first the message names.
    let problem = e
        .details
        .get("fields")
        .and_then(Value::as_object)
        .filter(|f| !f.is_empty())
        .map(|fields| {
            fields
                .iter()
                .map(|(f, p)| format!("{f} {}", p.as_str().unwrap_or("is invalid")))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_else(|| e.message.clone());
    let text = match e.status() {
        s if s >= 500 => format!(
            "Upstream service is temporarily unavailable. Please retry in a few seconds. ({}; request id {request_id})",
            e.message
        ),
        429 => {
            let wait = e.extra.get("retry_after_seconds").and_then(Value::as_u64).unwrap_or(1);
            format!(
                "Rate limited: {problem} Retry in {wait} seconds or later, with some random delay; do not retry in a \
                 tight loop. (request id {request_id})"
            )
        }
        _ => format!("{}: {problem} (request id {request_id})", prefix(e)),
    };
    let mut error = Map::new();
    error.insert("type".into(), Value::from(e.kind.type_name()));
    error.insert("code".into(), Value::from(e.kind.code()));
    error.insert("status".into(), Value::from(e.status()));
    error.insert("message".into(), Value::from(e.message.clone()));
    error.insert("request_id".into(), Value::from(request_id));
    error.insert("details".into(), Value::Object(e.details.clone()));
    for (k, v) in &e.extra {
        error.insert(k.clone(), v.clone());
    }
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    result.structured_content = Some(json!({ "error": error }));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sound() {
        let defs = &CATALOGUE.defs;
        let mut names: Vec<&str> = defs.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), defs.len(), "tool names are unique");
        for d in defs {
            let mut args: Vec<&str> = d.args.iter().map(|a| a.name.as_str()).collect();
            args.sort_unstable();
            args.dedup();
            assert_eq!(args.len(), d.args.len(), "{}: argument names are unique", d.name);
            // Every path parameter of the REST template is an argument of the tool.
            let rest = d.op.endpoint();
            let rest = if d.op.note_parent.is_some() { rest.replacen("/deals/{deal_id}", "", 1) } else { rest };
            for seg in rest.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                assert!(d.arg(name).is_some_and(|a| a.to == To::Path), "{}: {name}", d.name);
            }
            let read_by_post = rest.ends_with("/index/search") || rest.ends_with("/index/observations");
            assert_eq!(d.effect == Effect::Read, rest.starts_with("GET") || read_by_post, "{}", d.name);
        }
    }

    #[test]
    fn list_filters_become_the_query_rest_receives() {
        let def = CATALOGUE.defs.iter().find(|d| d.name == "list_deals").unwrap();
        let args = json!({"loan_type": "Permanent", "min_loan_amount": 5000000, "search": "maple & co",
            "include": ["financials", "team"], "unknown": 1, "archived": false});
        let args = args.as_object().unwrap();
        let c = Call { def, args, scope: None, user_id: 1, api_base: String::new() };
        let q = c.query().unwrap();
        assert_eq!(
            q,
            "include=financials%2Cteam&search=maple+%26+co&filter%5Bloan_type%5D=permanent&filter%5Barchived%5D=false\
             &filter%5Bloan_amount%5D%5Bgte%5D=5000000"
        );
        let pairs = levd_domain::query::parse_pairs(&q).unwrap();
        assert!(pairs.contains(&("filter[loan_amount][gte]".into(), "5000000".into())));
        assert!(pairs.contains(&("search".into(), "maple & co".into())));
    }

    #[test]
    fn bodies_drop_routing_arguments_and_rename_members() {
        let def = CATALOGUE.defs.iter().find(|d| d.name == "update_deal").unwrap();
        let args = json!({"deal_id": 7, "loan_type": "LIGHT_BRIDGE", "title": "T", "extra": true});
        let c = Call { def, args: args.as_object().unwrap(), scope: None, user_id: 1, api_base: String::new() };
        let body: Value = serde_json::from_slice(&c.body()).unwrap();
        assert_eq!(body, json!({"loan_type": "light_bridge", "title": "T", "extra": true}));
        assert_eq!(c.id("deal_id").unwrap(), 7);

        let def = CATALOGUE.defs.iter().find(|d| d.name == "switch_account").unwrap();
        let args = json!({"account_slug": "beta"});
        let c = Call { def, args: args.as_object().unwrap(), scope: None, user_id: 1, api_base: String::new() };
        assert_eq!(serde_json::from_slice::<Value>(&c.body()).unwrap(), json!({"slug": "beta"}));
    }

    #[test]
    fn ids_that_name_nothing_become_zero() {
        let def = CATALOGUE.defs.iter().find(|d| d.name == "get_deal").unwrap();
        for (v, id) in [(json!("12"), 12), (json!(-3), 0), (json!("x"), 0), (json!(4.0), 4), (json!(true), 0)] {
            let args = json!({ "deal_id": v });
            let c = Call { def, args: args.as_object().unwrap(), scope: None, user_id: 1, api_base: String::new() };
            assert_eq!(c.id("deal_id").unwrap(), id);
        }
        let args = Map::new();
        let c = Call { def, args: &args, scope: None, user_id: 1, api_base: String::new() };
        assert_eq!(c.id("deal_id").unwrap_err().status(), 422);
    }

    #[test]
    fn note_tools_share_the_rest_endpoint_of_their_parent() {
        let def = CATALOGUE.defs.iter().find(|d| d.name == "update_note").unwrap();
        let args = json!({"parent_type": "Placement", "parent_id": 3, "note_id": 4});
        let c = Call { def, args: args.as_object().unwrap(), scope: None, user_id: 1, api_base: String::new() };
        assert_eq!(c.endpoint(), "PATCH /placements/{placement_id}/notes/{note_id}");
    }

    #[test]
    fn errors_read_as_sentences() {
        let mut f = levd_domain::error::FieldErrors::default();
        f.add("title", "is required");
        f.add("loan_amount", "must be a number");
        let r = failure(&ApiError::validation(f), "rid");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["isError"], true);
        assert_eq!(
            v["content"][0]["text"],
            "Validation failed: title is required; loan_amount must be a number (request id rid)"
        );
        assert_eq!(v["structuredContent"]["error"]["type"], "validation_error");
        let r = failure(&ApiError::internal(), "rid");
        let text = serde_json::to_value(&r).unwrap()["content"][0]["text"].as_str().unwrap().to_string();
        assert!(text.starts_with("Upstream service is temporarily unavailable. Please retry in a few seconds."));
    }
}
