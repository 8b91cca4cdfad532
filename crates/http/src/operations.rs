//! The operation table (see CONTRIBUTING.md, "Adding an operation"): one row per operation of the REST
//! API, and the only place an operation is described. The router, the route policy the request
//! path applies (credential, account, per-address limits, idempotency), the OpenAPI document and
//! the MCP tool catalogue are all derived from these rows.
//!
//! A row names the method and path template, the OpenAPI facts (id, summary, scope, answer,
//! parameters), who may call it, the call into the service (`run!`), and, when the operation is
//! also an MCP tool, the tool's name, effect and arguments. REST and MCP run the same `run`
//! function on the same [`Input`], so validation, scope checks and messages cannot drift apart.
use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::routing::{MethodFilter, MethodRouter, on};
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, Method, Uri};
use levd_domain::ApiError;
use levd_domain::api_key::ApiKeyRevocation;
use levd_domain::crm::{COMPANY_LIST, CONTACT_LIST};
use levd_domain::deal::DEAL_LIST;
use levd_domain::directory::DIRECTORY_LIST;
use levd_domain::headers::parse_bearer;
use levd_domain::input::parse_optional_object;
use levd_domain::placements::{CURSOR_LIST, OFFSET_LIST, PLACEMENT_LIST};
use levd_domain::query::ListSpec;
use levd_domain::scope::AccountScope;
use levd_service::notes::NoteParent;
use levd_service::{Page, Record, Service};
use serde_json::Value;

use crate::envelope::{HandlerResult, Reply};
use crate::mcp::tools::{
    Arg, Effect, account_slug, checklist_query, company_fields, contact_fields, deal, deal_fields, deal_read,
    document_query, document_read, fact_update, fact_values, id, index_observations, index_search, list, memo_query,
    memo_read, metric_query, note_parent, note_text, on_deal, pipeline_move, placement_fields, task_fields,
    term_sheet_fields, with,
};
use crate::middleware::PREFIX;
use crate::routes::{Ctx, path_id};
use crate::{AppState, Site};

// ---------------------------------------------------------------------------------------------
// What a row says

/// How a route is authenticated and scoped (`docs/auth.md#admission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No credential; limited per IP. `origin` says whether `X-Origin-App` is required.
    Public { per_ip: PublicLimit, origin: bool },
    /// Credential required; an account is used when one resolves (`GET /me`).
    AccountOptional,
    /// Credential required; no account needed (`/me/accounts`, `/me/active-account`).
    UserOnly,
    /// Credential and a resolved account required.
    Account,
}

/// The per-address bucket of a public route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicLimit {
    /// The health check and the document (`--rate-limits` sets the figure).
    Health,
    /// Key validation (`--rate-limits` sets the figure).
    ValidateKey,
    /// A bucket of its own with a fixed figure per minute.
    Fixed { bucket: &'static str, per_minute: u32 },
}

/// Signed, expiring file links (document downloads, memo PDFs): the signature is the
/// credential, so they carry no bearer token and no origin header.
const FILES: PublicLimit = PublicLimit::Fixed { bucket: "files", per_minute: 600 };

/// How an operation answers on success.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    One(&'static str),
    List(&'static str),
    Created(&'static str),
    Deleted,
}

/// A service result, before its envelope.
pub enum Output {
    One(Record),
    List(Page),
}

/// A boxed future of a service call.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The call into the service behind an operation.
pub type Run = for<'a> fn(&'a Service, &'a Input) -> BoxFuture<'a, Result<Output, ApiError>>;

/// What serves an operation.
#[derive(Clone, Copy)]
pub enum Handler {
    /// A service call, answered in the JSON envelope (REST) or as a tool result (MCP).
    Service(Run),
    /// A route with an answer of its own (files, the health check, the document itself).
    Route(fn() -> MethodRouter<AppState>),
}

/// An operation that is also an MCP tool.
pub(crate) struct Tool {
    pub(crate) name: &'static str,
    pub(crate) about: &'static str,
    pub(crate) effect: Effect,
    pub(crate) args: Vec<Arg>,
}

/// One row of the table.
pub struct Operation {
    pub method: Method,
    /// Route template after `/api/external/v2`, e.g. `/deals/{deal_id}`.
    pub path: &'static str,
    pub id: &'static str,
    pub summary: &'static str,
    pub policy: Policy,
    /// The scope that gates the operation (stated in the document; the service checks it).
    pub scope: Option<&'static str>,
    pub answer: Answer,
    /// Query parameters: a list grammar, extra names, or both.
    pub list: Option<&'static ListSpec>,
    pub query: &'static [(&'static str, &'static str)],
    /// A request body is expected.
    pub body: bool,
    /// Error statuses beyond the ones every operation of its kind may answer.
    pub errors: &'static [u16],
    /// The answer holds signed links, built on the API root the client reached.
    pub links: bool,
    /// The parent of the notes this operation reads or writes.
    pub note_parent: Option<NoteParent>,
    /// Left out of the OpenAPI document (the document's own route).
    pub hidden: bool,
    /// Adds the schemas of the answer's record to the document (records named by their type).
    pub schemas: Vec<fn(&mut serde_json::Map<String, Value>)>,
    pub handler: Handler,
    pub(crate) tool: Option<Tool>,
}

impl Operation {
    /// Writes with a credential honour `Idempotency-Key` (`docs/api.md#idempotency`).
    pub fn honours_idempotency(&self) -> bool {
        !matches!(self.policy, Policy::Public { .. })
            && matches!(self.method, Method::POST | Method::PATCH | Method::DELETE)
    }

    /// Whether the operation needs a resolved account.
    pub fn needs_account(&self) -> bool {
        self.policy == Policy::Account
    }

    /// `METHOD /template`, the name of the per-endpoint rate-limit bucket.
    pub fn endpoint(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn scope(mut self, s: &'static str) -> Operation {
        self.scope = Some(s);
        self
    }
    fn public(mut self, per_ip: PublicLimit, origin: bool) -> Operation {
        self.policy = Policy::Public { per_ip, origin };
        self
    }
    fn user_only(mut self) -> Operation {
        self.policy = Policy::UserOnly;
        self
    }
    fn account_optional(mut self) -> Operation {
        self.policy = Policy::AccountOptional;
        self
    }
    fn one(mut self, s: &'static str) -> Operation {
        self.answer = Answer::One(s);
        self
    }
    fn list(mut self, s: &'static str) -> Operation {
        self.answer = Answer::List(s);
        self
    }
    fn created(mut self, s: &'static str) -> Operation {
        self.answer = Answer::Created(s);
        self.body = true;
        self
    }
    fn deleted(mut self) -> Operation {
        self.answer = Answer::Deleted;
        self
    }
    /// Answers one record of type `T`, whose schema the document takes from the type.
    fn one_typed<T: utoipa::ToSchema>(mut self) -> Operation {
        let name = match T::name() {
            std::borrow::Cow::Borrowed(n) => n,
            std::borrow::Cow::Owned(n) => Box::leak(n.into_boxed_str()),
        };
        self.answer = Answer::One(name);
        self.schemas.push(crate::openapi::add::<T>);
        self
    }
    fn spec(mut self, s: &'static ListSpec) -> Operation {
        self.list = Some(s);
        self
    }
    fn query(mut self, q: &'static [(&'static str, &'static str)]) -> Operation {
        self.query = q;
        self
    }
    fn body(mut self) -> Operation {
        self.body = true;
        self
    }
    fn errors(mut self, e: &'static [u16]) -> Operation {
        self.errors = e;
        self
    }
    fn links(mut self) -> Operation {
        self.links = true;
        self
    }
    fn hidden(mut self) -> Operation {
        self.hidden = true;
        self
    }
    fn run(mut self, run: Run) -> Operation {
        self.handler = Handler::Service(run);
        self
    }
    fn route(mut self, route: fn() -> MethodRouter<AppState>) -> Operation {
        self.handler = Handler::Route(route);
        self
    }
    fn tool(mut self, name: &'static str, effect: Effect, args: Vec<Arg>, about: &'static str) -> Operation {
        self.tool = Some(Tool { name, about, effect, args });
        self
    }
}

fn op(method: Method, path: &'static str, id: &'static str, summary: &'static str) -> Operation {
    Operation {
        method,
        path,
        id,
        summary,
        policy: Policy::Account,
        scope: None,
        answer: Answer::One("Object"),
        list: None,
        query: &[],
        body: false,
        errors: &[],
        links: false,
        note_parent: None,
        hidden: false,
        schemas: Vec::new(),
        handler: Handler::Service(unserved),
        tool: None,
    }
}

fn unserved<'a>(_: &'a Service, _: &'a Input) -> BoxFuture<'a, Result<Output, ApiError>> {
    Box::pin(async { Err(ApiError::not_found("Route not found")) })
}

/// A service call as a [`Run`]: `run!(s, i => expr)` where `expr` is an [`Output`], with `s`
/// the service and `i` the [`Input`].
macro_rules! run {
    ($s:ident, $i:ident => $body:expr) => {{
        fn run<'a>($s: &'a Service, $i: &'a Input) -> BoxFuture<'a, Result<Output, ApiError>> {
            Box::pin(async move { Ok($body) })
        }
        run as Run
    }};
}

// ---------------------------------------------------------------------------------------------
// What a call receives

/// One call of an operation, from REST (path, query, body of the request) or from MCP (the
/// tool's arguments turned into the same pieces).
#[derive(Default)]
pub struct Input {
    pub scope: Option<AccountScope>,
    pub user_id: i64,
    /// Path parameters by name, as sent.
    pub params: Vec<(String, String)>,
    pub query: Option<String>,
    pub body: Bytes,
    /// Root of the signed links the answer may hold.
    pub api_base: String,
    /// The bearer token of the request (public key validation reads it).
    pub bearer: Option<String>,
    /// The record whose notes the call reads or writes.
    pub note_parent: Option<(NoteParent, i64)>,
}

impl Input {
    /// The resolved account; the request path guarantees it on account routes.
    pub fn scope(&self) -> Result<&AccountScope, ApiError> {
        self.scope.as_ref().ok_or_else(|| ApiError::bad_request(levd_auth::MSG_ACTIVE_ACCOUNT_REQUIRED))
    }

    /// A numeric path id; anything else becomes 0, which names nothing (404 after the scope
    /// check, as for any missing id).
    pub fn id(&self, name: &str) -> i64 {
        path_id(self.text(name))
    }

    /// A `422` naming the first path parameter whose text holds a NUL character: text no
    /// backend can store is refused wherever it arrives, path segments included
    /// (`docs/api.md#bodies`), before a service reads an id or looks a text key up.
    pub fn reject_nul_in_params(&self) -> Result<(), ApiError> {
        match self.params.iter().find(|(_, v)| !levd_domain::input::storable(v)) {
            Some((name, _)) => Err(ApiError::invalid_field(name, levd_domain::input::NUL_PROBLEM)),
            None => Ok(()),
        }
    }

    /// A path parameter as text ("" when absent).
    pub fn text(&self, name: &str) -> &str {
        self.params.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

// ---------------------------------------------------------------------------------------------
// Shared steps of several rows

/// The parent of a note, after the check every note operation makes: the parent's scope, and
/// that the parent exists in the account. `write`: the call changes notes.
async fn checked_note_parent(s: &Service, i: &Input, write: bool) -> Result<(NoteParent, i64), ApiError> {
    let (parent, id) = i.note_parent.ok_or_else(|| ApiError::not_found("Route not found"))?;
    let scope = i.scope()?;
    match parent {
        NoteParent::Deal => s.deal_for_notes(scope, id, write).await?,
        NoteParent::Contact => s.contact_for_notes(scope, id, write).await?,
        NoteParent::Company => s.company_for_notes(scope, id, write).await?,
        NoteParent::Placement => s.placement_for_notes(scope, id, write).await?,
        NoteParent::ChecklistTask => s.task_for_notes(scope, id, write).await?,
    }
    Ok((parent, id))
}

/// `POST /auth/validate-api-key`: the key comes from the body (`api_key`); with no body, from a
/// `Bearer lev_sk_…` header (`docs/auth.md#api-keys`).
async fn validate_key(s: &Service, i: &Input) -> Result<Output, ApiError> {
    let obj = parse_optional_object(i.body())?;
    let token = match obj.get("api_key") {
        Some(Value::String(k)) => k.clone(),
        Some(_) => return Err(ApiError::bad_request("api_key must be a string")),
        None => match &i.bearer {
            Some(t) if obj.is_empty() => t.clone(),
            _ => return Err(ApiError::bad_request("api_key is required")),
        },
    };
    Ok(Output::One(s.validate_api_key(&token).await?.into()))
}

/// Note parents with the path prefix of their REST routes and the scopes their notes use.
pub const NOTE_PARENTS: [(NoteParent, &str, &str); 5] = [
    (NoteParent::Deal, "/deals/{deal_id}", "deals"),
    (NoteParent::Contact, "/contacts/{contact_id}", "contacts"),
    (NoteParent::Company, "/companies/{company_id}", "companies"),
    (NoteParent::Placement, "/placements/{placement_id}", "deals"),
    (NoteParent::ChecklistTask, "/checklist-tasks/{task_id}", "deals"),
];

/// The four note operations of one parent. The deal's carry the MCP note tools, which name
/// their parent in an argument.
fn note_rows(parent: NoteParent, prefix: &'static str, scope: &'static str) -> Vec<Operation> {
    let label = parent.type_name().replace('_', " ");
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let camel: String = prefix
        .split(['/', '{', '}', '-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        })
        .collect();
    let path = |tail: &str| leak(format!("{prefix}{tail}"));
    let read = leak(format!("{scope}:read"));
    let write = leak(format!("{scope}:write"));
    let mut rows = vec![
        op(Method::GET, path("/notes"), leak(format!("get{camel}Notes")), leak(format!("Notes of a {label}")))
            .scope(read)
            .query(CURSOR)
            .list("Note")
            .run(run!(s, i => {
                let (parent, id) = checked_note_parent(s, i, false).await?;
                Output::List(s.list_notes(i.scope()?, parent, id, i.query()).await?)
            })),
        op(Method::POST, path("/notes"), leak(format!("post{camel}Notes")), leak(format!("Add a {label} note")))
            .scope(write)
            .created("Note")
            .run(run!(s, i => {
                let (parent, id) = checked_note_parent(s, i, true).await?;
                Output::One(s.create_note(i.scope()?, parent, id, i.body()).await?)
            })),
        op(
            Method::PATCH,
            path("/notes/{note_id}"),
            leak(format!("patch{camel}NotesNoteId")),
            leak(format!("Edit a {label} note")),
        )
        .scope(write)
        .body()
        .one("Note")
        .run(run!(s, i => {
            let (parent, id) = checked_note_parent(s, i, true).await?;
            Output::One(s.update_note(i.scope()?, parent, id, i.id("note_id"), i.body()).await?)
        })),
        op(
            Method::DELETE,
            path("/notes/{note_id}"),
            leak(format!("delete{camel}NotesNoteId")),
            leak(format!("Delete a {label} note")),
        )
        .scope(write)
        .deleted()
        .run(run!(s, i => {
            let (parent, id) = checked_note_parent(s, i, true).await?;
            Output::One(s.delete_note(i.scope()?, parent, id, i.id("note_id")).await?.into())
        })),
    ];
    for r in &mut rows {
        r.note_parent = Some(parent);
    }
    if parent == NoteParent::Deal {
        use Effect::{Add, Change, Read};
        let tools = [
            (
                "list_notes",
                Read,
                with(note_parent(), list(&CURSOR_LIST)),
                "Notes on a deal, contact, company, placement or checklist task.",
            ),
            (
                "create_note",
                Add,
                with(note_parent(), note_text("The note.")),
                "Add a note to a deal, contact, company, placement or checklist task.",
            ),
            (
                "update_note",
                Change,
                with(note_parent(), with(id("note_id"), note_text("The new text."))),
                "Rewrite a note.",
            ),
            ("delete_note", Change, with(note_parent(), id("note_id")), "Delete a note for good."),
        ];
        for (row, (name, effect, args, about)) in rows.iter_mut().zip(tools) {
            row.tool = Some(Tool { name, about, effect, args });
        }
    }
    rows
}

const CURSOR: &[(&str, &str)] = &[("limit", "integer"), ("cursor", "string")];
const OFFSET: &[(&str, &str)] = &[("limit", "integer"), ("offset", "integer")];

// ---------------------------------------------------------------------------------------------
// The table

/// Every operation levd serves (paths after `/api/external/v2`).
#[rustfmt::skip]
fn table() -> Vec<Operation> {
    use Effect::{Add, Change, Read};
    use Method as M;
    use Output::{List, One};
    let mut rows = vec![
        // Platform.
        op(M::GET, "/health", "getHealth", "Liveness and database check")
            .public(PublicLimit::Health, false).one("Health")
            .route(|| axum::routing::get(crate::routes::health::health)),
        op(M::GET, "/openapi.json", "getOpenapi", "This document")
            .public(PublicLimit::Health, false).hidden()
            .route(|| axum::routing::get(crate::routes::docs::openapi)),
        op(M::POST, "/auth/validate-api-key", "postAuthValidateApiKey", "Check an API key")
            .public(PublicLimit::ValidateKey, true).body().one("ApiKeyValidation")
            .run(|s, i| Box::pin(validate_key(s, i))),
        op(M::GET, "/me", "getMe", "The caller, its account and platform limits")
            .account_optional().one("Me")
            .run(run!(s, i => One(s.me(i.user_id, i.scope.as_ref()).await?.into())))
            .tool("get_my_profile", Read, vec![],
                "Who you are: user, active account, role, API tier, limits and granted scopes."),
        op(M::GET, "/me/accounts", "getMeAccounts", "Accounts of the caller")
            .user_only().one("MyAccounts")
            .run(run!(s, i => One(s.my_accounts(i.user_id, i.scope.as_ref()).await?.into())))
            .tool("list_available_accounts", Read, vec![], "The accounts you belong to, and which one is active."),
        op(M::PATCH, "/me/active-account", "patchMeActiveAccount", "Save the default account")
            .user_only().body().one("ActiveAccount")
            .run(run!(s, i => One(s.set_active_account(i.user_id, i.scope.as_ref(), i.body()).await?.into())))
            .tool("switch_account", Change, account_slug(),
                "Make another of your accounts the active one; the choice is saved for later sessions."),
        op(M::GET, "/account/team", "getAccountTeam", "Members of the account")
            .query(OFFSET).list("AccountTeamMember")
            .run(run!(s, i => List(s.team(i.scope()?, i.query()).await?)))
            .tool("list_team_members", Read, list(&OFFSET_LIST), "Members of the active account."),
        op(M::POST, "/api-keys", "postApiKeys", "Create an API key (admins)")
            .created("ApiKey")
            .run(run!(s, i => One(s.create_api_key(i.scope()?, i.body()).await?.into()))),
        op(M::GET, "/api-keys", "getApiKeys", "API keys of the caller")
            .query(&[("limit", "integer"), ("offset", "integer"), ("scope", "string")]).list("ApiKey")
            .run(run!(s, i => List(s.list_api_keys(i.scope()?, i.query()).await?))),
        op(M::POST, "/api-keys/revoke", "postApiKeysRevoke", "Revoke a leaked API key (levd extension)")
            .public(PublicLimit::Fixed { bucket: "revoke", per_minute: 10 }, false).body().one_typed::<ApiKeyRevocation>()
            .run(run!(s, i => One(s.revoke_leaked_api_key(i.body()).await?.into()))),
        op(M::DELETE, "/api-keys/{key_id}", "deleteApiKeysKeyId", "Revoke an API key")
            .deleted()
            .run(run!(s, i => One(s.revoke_api_key(i.scope()?, i.id("key_id")).await?.into()))),
        // Billing.
        op(M::GET, "/billing/summary", "getBillingSummary", "Subscription and credits")
            .scope("billing:read").one("BillingSummary")
            .run(run!(s, i => One(s.billing_summary(i.scope()?).await?)))
            .tool("get_my_billing_summary", Read, vec![], "Subscription and credit balance of the active account."),
        op(M::GET, "/billing/credits/balance", "getBillingCreditsBalance", "Credit balance")
            .scope("billing:read").one("Credits")
            .run(run!(s, i => One(s.credit_balance(i.scope()?).await?))),
        // CRM.
        op(M::GET, "/companies", "getCompanies", "List companies")
            .scope("companies:read").spec(&COMPANY_LIST).list("Company")
            .run(run!(s, i => List(s.list_companies(i.scope()?, i.query()).await?)))
            .tool("list_companies", Read, list(&COMPANY_LIST), "Companies (lenders and sponsors) of the account."),
        op(M::POST, "/companies", "postCompanies", "Create a company")
            .scope("companies:write").created("Company")
            .run(run!(s, i => One(s.create_company(i.scope()?, i.body()).await?)))
            .tool("create_company", Add, company_fields(true), "Create a company."),
        op(M::GET, "/companies/{company_id}", "getCompaniesCompanyId", "Get a company")
            .scope("companies:read").one("Company")
            .run(run!(s, i => One(s.get_company(i.scope()?, i.id("company_id")).await?)))
            .tool("get_company", Read, id("company_id"), "One company."),
        op(M::PATCH, "/companies/{company_id}", "patchCompaniesCompanyId", "Update a company")
            .scope("companies:write").body().one("Company")
            .run(run!(s, i => One(s.update_company(i.scope()?, i.id("company_id"), i.body()).await?)))
            .tool("update_company", Change, with(id("company_id"), company_fields(false)),
                "Change a company; null clears a field."),
        op(M::GET, "/contacts", "getContacts", "List contacts")
            .scope("contacts:read").spec(&CONTACT_LIST).list("Contact")
            .run(run!(s, i => List(s.list_contacts(i.scope()?, i.query()).await?)))
            .tool("list_contacts", Read, list(&CONTACT_LIST), "Contacts of the account."),
        op(M::POST, "/contacts", "postContacts", "Create a contact")
            .scope("contacts:write").created("Contact")
            .run(run!(s, i => One(s.create_contact(i.scope()?, i.body()).await?)))
            .tool("create_contact", Add, contact_fields(true), "Create a contact at a company."),
        op(M::GET, "/contacts/{contact_id}", "getContactsContactId", "Get a contact")
            .scope("contacts:read").one("Contact")
            .run(run!(s, i => One(s.get_contact(i.scope()?, i.id("contact_id")).await?)))
            .tool("get_contact", Read, id("contact_id"), "One contact."),
        op(M::PATCH, "/contacts/{contact_id}", "patchContactsContactId", "Update a contact")
            .scope("contacts:write").body().one("Contact")
            .run(run!(s, i => One(s.update_contact(i.scope()?, i.id("contact_id"), i.body()).await?)))
            .tool("update_contact", Change, with(id("contact_id"), contact_fields(false)),
                "Change a contact; null clears a field."),
        op(M::POST, "/contacts/{contact_id}/actions/unlock", "postContactsContactIdActionsUnlock", "Unlock a contact")
            .scope("ai:actions").body().one("Contact").errors(&[402])
            .run(run!(s, i => One(s.unlock_contact(i.scope()?, i.id("contact_id"), i.body()).await?)))
            .tool("unlock_contact", Change, id("contact_id"),
                "Reveal an AI-recommended contact; spends account credits once."),
        // Deals.
        op(M::GET, "/deals", "getDeals", "List deals")
            .scope("deals:read").spec(&DEAL_LIST).list("DealRecord")
            .run(run!(s, i => List(s.list_deals(i.scope()?, i.query()).await?)))
            .tool("list_deals", Read, list(&DEAL_LIST), "List the account's deals: filter, search, sort and page."),
        op(M::POST, "/deals", "postDeals", "Create a deal")
            .scope("deals:write").created("DealRecord")
            .run(run!(s, i => One(s.create_deal(i.scope()?, i.body()).await?)))
            .tool("create_deal", Add, deal_fields(true), "Create a deal."),
        op(M::GET, "/deals/{deal_id}", "getDealsDealId", "Get a deal")
            .scope("deals:read").query(&[("include", "string"), ("fields", "string")]).one("DealRecord")
            .run(run!(s, i => One(s.get_deal(i.scope()?, i.id("deal_id"), i.query()).await?)))
            .tool("get_deal", Read, deal_read(),
                "One deal, optionally with its financials, properties, team and pipelines."),
        op(M::PATCH, "/deals/{deal_id}", "patchDealsDealId", "Update a deal")
            .scope("deals:write").body().one("DealRecord")
            .run(run!(s, i => One(s.update_deal(i.scope()?, i.id("deal_id"), i.body()).await?)))
            .tool("update_deal", Change, on_deal(deal_fields(false)), "Change fields of a deal; null clears a field."),
        op(M::DELETE, "/deals/{deal_id}", "deleteDealsDealId", "Archive a deal")
            .scope("deals:write").deleted()
            .run(run!(s, i => One(s.archive_deal(i.scope()?, i.id("deal_id")).await?.into())))
            .tool("delete_deal", Change, deal(), "Archive a deal (soft delete)."),
        op(M::GET, "/deals/{deal_id}/financials", "getDealsDealIdFinancials", "Financials of a deal")
            .scope("deals:read").one("DealFinancials")
            .run(run!(s, i => One(s.deal_financials(i.scope()?, i.id("deal_id")).await?.into()))),
        op(M::GET, "/deals/{deal_id}/properties", "getDealsDealIdProperties", "Properties of a deal")
            .scope("deals:read").query(OFFSET).list("DealPropertyRow")
            .run(run!(s, i => List(s.deal_properties(i.scope()?, i.id("deal_id"), i.query()).await?))),
        op(M::GET, "/deals/{deal_id}/team", "getDealsDealIdTeam", "Team of a deal")
            .scope("deals:read").query(OFFSET).list("DealTeamRow")
            .run(run!(s, i => List(s.deal_team(i.scope()?, i.id("deal_id"), i.query()).await?))),
        op(M::POST, "/deals/{deal_id}/pipeline", "postDealsDealIdPipeline", "Move a deal to a pipeline stage")
            .scope("deals:write").body().one("DealPipelineStage")
            .run(run!(s, i => One(s.move_deal_to_pipeline(i.scope()?, i.id("deal_id"), i.body()).await?)))
            .tool("move_deal_to_pipeline_status", Change, pipeline_move(),
                "Put a deal in a pipeline stage (the first stage unless one is named)."),
        // Deal index.
        op(M::POST, "/deals/{deal_id}/index/search", "postDealsDealIdIndexSearch", "Search the deal index")
            .scope("deals:read").body().one("DealIndexSearchResult").errors(&[503]).links()
            .run(run!(s, i => List(s.search_index(i.scope()?, i.id("deal_id"), i.body(), &i.api_base).await?)))
            .tool("search_deal_index", Read, index_search(),
                "Full-text search over the facts extracted from a deal's documents."),
        op(M::POST, "/deals/{deal_id}/index/observations", "postDealsDealIdIndexObservations", "Observations of facts")
            .scope("deals:read").body().list("DealIndexObservation").errors(&[503]).links()
            .run(run!(s, i => List(s.list_observations(i.scope()?, i.id("deal_id"), i.body(), &i.api_base).await?)))
            .tool("list_deal_index_observations", Read, index_observations(),
                "Every observation behind a fact or metric of a deal's index."),
        op(M::PATCH, "/deals/{deal_id}/index/facts", "patchDealsDealIdIndexFacts", "Set the value of a fact")
            .scope("deals:write").body().one("DealIndexFact").errors(&[503])
            .run(run!(s, i => One(s.update_fact(i.scope()?, i.id("deal_id"), i.body()).await?)))
            .tool("update_deal_index_fact", Change, fact_update(),
                "Set the value of a fact in a deal's index, directly or from one of its observations."),
        op(M::POST, "/deals/{deal_id}/index/facts", "postDealsDealIdIndexFacts", "Record facts")
            .scope("deals:write").body().one("DealIndexFactInsertResponse").errors(&[503])
            .run(run!(s, i => One(s.record_facts(i.scope()?, i.id("deal_id"), i.body()).await?)))
            .tool("record_deal_facts", Add, fact_values(), "Record metric values as facts of a deal."),
        op(M::GET, "/deals/{deal_id}/index/metric-definitions", "getDealsDealIdIndexMetricDefinitions",
            "Metric definitions")
            .scope("deals:read")
            .query(&[("metric_label", "string"), ("category_id", "integer"), ("page", "integer"), ("limit", "integer")])
            .list("DealIndexMetricDefinition").errors(&[503])
            .run(run!(s, i => List(s.metric_definitions(i.scope()?, i.id("deal_id"), i.query()).await?)))
            .tool("list_deal_index_metric_definitions", Read, metric_query(),
                "The metrics a deal's index knows, by label and category."),
        op(M::GET, "/deals/{deal_id}/index/entities", "getDealsDealIdIndexEntities", "Entities of the deal index")
            .scope("deals:read").list("DealIndexEntity").errors(&[503])
            .run(run!(s, i => List(s.index_entities(i.scope()?, i.id("deal_id")).await?))),
        // Vaults, documents, checklists, memos.
        op(M::GET, "/deals/{deal_id}/vaults", "getDealsDealIdVaults", "Vaults of a deal")
            .scope("documents:read").list("Vault")
            .run(run!(s, i => List(s.list_vaults(i.scope()?, i.id("deal_id")).await?)))
            .tool("list_deal_vaults", Read, deal(), "The vaults (resources, Deal Room) of a deal."),
        op(M::GET, "/deals/{deal_id}/documents", "getDealsDealIdDocuments", "Documents of a deal")
            .scope("documents:read")
            .query(&[("limit", "integer"), ("cursor", "string"), ("search", "string"), ("extension", "string"),
                ("folder_id", "integer"), ("vault_id", "integer"), ("fields", "string")])
            .list("DealDocument")
            .run(run!(s, i => List(s.list_documents(i.scope()?, i.id("deal_id"), i.query()).await?)))
            .tool("list_deal_documents", Read, document_query(), "Documents filed for a deal."),
        op(M::GET, "/deals/{deal_id}/documents/{document_id}", "getDealsDealIdDocumentsDocumentId", "Get a document")
            .scope("documents:read").query(&[("fields", "string")]).one("DealDocument")
            .run(run!(s, i => One(s.get_document(i.scope()?, i.id("deal_id"), i.id("document_id"), i.query()).await?)))
            .tool("get_deal_document", Read, document_read(), "One document of a deal."),
        op(M::GET, "/deals/{deal_id}/documents/{document_id}/download", "getDealsDealIdDocumentsDocumentIdDownload",
            "A signed, short-lived download link")
            .scope("documents:read").one("DealDocumentDownload").links()
            .run(run!(s, i => One(s.document_download(i.scope()?, i.id("deal_id"), i.id("document_id"),
                &i.api_base).await?))),
        op(M::GET, "/deals/{deal_id}/checklists", "getDealsDealIdChecklists", "Checklists of a deal")
            .scope("checklists:read").query(&[("vault_id", "integer")]).list("DealChecklist")
            .run(run!(s, i => List(s.list_checklists(i.scope()?, i.id("deal_id"), i.query()).await?)))
            .tool("get_deal_checklist", Read, checklist_query(),
                "The due-diligence checklists of a deal, with sections, tasks and subtasks."),
        op(M::GET, "/deals/{deal_id}/memos", "getDealsDealIdMemos", "Memos of a deal")
            .scope("deals:read")
            .query(&[("limit", "integer"), ("offset", "integer"), ("search", "string"), ("filter[title]", "string"),
                ("filter[status]", "string"), ("filter[memo_type]", "string"), ("filter[pdf_ready]", "boolean"),
                ("vault_id", "integer")])
            .list("DealMemo").links()
            .run(run!(s, i => List(s.list_memos(i.scope()?, i.id("deal_id"), i.query(), &i.api_base).await?)))
            .tool("list_deal_memos", Read, memo_query(), "Memos of a deal (offering memoranda, credit memos…)."),
        op(M::GET, "/deals/{deal_id}/memos/{memo_uuid}", "getDealsDealIdMemosMemoUuid", "A memo with its PDF link")
            .scope("deals:read").query(&[("quality", "string")]).one("DealMemoDetail").links()
            .run(run!(s, i => One(s.get_memo(i.scope()?, i.id("deal_id"), i.text("memo_uuid"), i.query(),
                &i.api_base).await?)))
            .tool("get_deal_memo", Read, memo_read(), "One memo with a short-lived link to its PDF."),
        op(M::POST, "/checklist-tasks", "postChecklistTasks", "Create a checklist task")
            .scope("checklists:write").created("ChecklistTask")
            .run(run!(s, i => One(s.create_task(i.scope()?, i.body()).await?)))
            .tool("create_checklist_task", Add, task_fields(true),
                "Add a task to a checklist section or checklist, or a subtask to a task."),
        op(M::PATCH, "/checklist-tasks/{task_id}", "patchChecklistTasksTaskId", "Update a checklist task")
            .scope("checklists:write").body().one("ChecklistTask")
            .run(run!(s, i => One(s.update_task(i.scope()?, i.id("task_id"), i.body()).await?)))
            .tool("update_checklist_task", Change, with(id("task_id"), task_fields(false)), "Change a checklist task."),
        op(M::POST, "/checklist-tasks/{task_id}/complete", "postChecklistTasksTaskIdComplete", "Complete a checklist task")
            .scope("checklists:write").body().one("ChecklistTask")
            .run(run!(s, i => One(s.complete_task(i.scope()?, i.id("task_id"), i.body()).await?)))
            .tool("complete_checklist_task", Change, id("task_id"), "Mark a checklist task complete."),
        op(M::GET, "/files/{token}", "getFilesToken", "Download through a signed link (levd extension)")
            .public(FILES, false).one("Object")
            .route(|| axum::routing::get(crate::routes::files::file)),
        // Lender directory and market data.
        op(M::GET, "/lenders/directory", "getLendersDirectory", "The lender directory")
            .scope("lenders:read").spec(&DIRECTORY_LIST).query(&[("name", "string")]).list("LenderSummary")
            .run(run!(s, i => List(s.list_lender_directory(i.scope()?, i.query()).await?))),
        op(M::GET, "/lenders/{org_id}", "getLendersOrgId", "A lender")
            .scope("lenders:read").one("LenderDetail")
            .run(run!(s, i => One(s.get_lender(i.scope()?, i.id("org_id")).await?)))
            .tool("get_lender", Read, id("org_id"), "A lender of the directory with its programs."),
        op(M::GET, "/lenders/{org_id}/programs", "getLendersOrgIdPrograms", "Programs of a lender")
            .scope("lenders:read").query(CURSOR).list("LenderProgram")
            .run(run!(s, i => List(s.list_lender_programs(i.scope()?, i.id("org_id"), i.query()).await?))),
        op(M::GET, "/market/base-rates", "getMarketBaseRates", "Benchmark rates")
            .scope("lenders:read").list("BaseRate")
            .run(run!(s, i => One(s.list_base_rates(i.scope()?).await?)))
            .tool("get_base_rates", Read, vec![], "Benchmark rates (SOFR, Treasuries…) with their values and dates."),
        op(M::GET, "/market/asset-types", "getMarketAssetTypes", "Asset types")
            .scope("lenders:read").list("AssetType")
            .run(run!(s, i => One(s.list_asset_types(i.scope()?).await?)))
            .tool("get_asset_types", Read, vec![], "The asset types deals and lenders are classified by."),
        // Pipelines, placements, term sheets.
        op(M::GET, "/pipelines", "getPipelines", "Pipelines of the account")
            .scope("deals:read").query(OFFSET).list("Pipeline")
            .run(run!(s, i => List(s.list_pipelines(i.scope()?, i.query()).await?)))
            .tool("list_pipelines", Read, list(&OFFSET_LIST), "The account's pipelines with their ordered stages."),
        op(M::GET, "/pipelines/{pipeline_id}", "getPipelinesPipelineId", "A pipeline")
            .scope("deals:read").one("Pipeline")
            .run(run!(s, i => One(s.get_pipeline(i.scope()?, i.id("pipeline_id")).await?))),
        op(M::GET, "/placements", "getPlacements", "List placements")
            .scope("deals:read").spec(&PLACEMENT_LIST).list("Placement")
            .run(run!(s, i => List(s.list_placements(i.scope()?, i.query()).await?)))
            .tool("list_placements", Read, list(&PLACEMENT_LIST), "Lender outreach (placements) of the account's deals."),
        op(M::POST, "/placements", "postPlacements", "Create a placement")
            .scope("deals:write").created("Placement")
            .run(run!(s, i => One(s.create_placement(i.scope()?, i.body()).await?)))
            .tool("create_placement", Add, placement_fields(true), "Start outreach to a lender for a deal."),
        op(M::GET, "/placements/{placement_id}", "getPlacementsPlacementId", "Get a placement")
            .scope("deals:read").one("Placement")
            .run(run!(s, i => One(s.get_placement(i.scope()?, i.id("placement_id")).await?)))
            .tool("get_placement", Read, id("placement_id"), "One placement."),
        op(M::PATCH, "/placements/{placement_id}", "patchPlacementsPlacementId", "Update or archive a placement")
            .scope("deals:write").body().one("Placement")
            .run(run!(s, i => One(s.update_placement(i.scope()?, i.id("placement_id"), i.body()).await?)))
            .tool("update_placement", Change, with(id("placement_id"), placement_fields(false)),
                "Change a placement's status, visibility or details; status archived archives it."),
        op(M::GET, "/deals/{deal_id}/term-sheets", "getDealsDealIdTermSheets", "Term sheets of a deal")
            .scope("deals:read").query(CURSOR).list("TermSheet")
            .run(run!(s, i => List(s.list_term_sheets(i.scope()?, i.id("deal_id"), i.query()).await?)))
            .tool("list_term_sheets", Read, on_deal(list(&CURSOR_LIST)), "Lender quotes (term sheets) of a deal."),
        op(M::POST, "/deals/{deal_id}/term-sheets", "postDealsDealIdTermSheets", "Add a term sheet")
            .scope("deals:write").created("TermSheet")
            .run(run!(s, i => One(s.create_term_sheet(i.scope()?, i.id("deal_id"), i.body()).await?)))
            .tool("create_term_sheet", Add, on_deal(term_sheet_fields(true)), "Record a lender's quote for a deal."),
        op(M::GET, "/deals/{deal_id}/term-sheets/{term_sheet_id}", "getDealsDealIdTermSheetsTermSheetId",
            "Get a term sheet")
            .scope("deals:read").one("TermSheet")
            .run(run!(s, i => One(s.get_term_sheet(i.scope()?, i.id("deal_id"), i.id("term_sheet_id")).await?)))
            .tool("get_term_sheet", Read, on_deal(id("term_sheet_id")), "One term sheet."),
        op(M::PATCH, "/deals/{deal_id}/term-sheets/{term_sheet_id}", "patchDealsDealIdTermSheetsTermSheetId",
            "Update a term sheet")
            .scope("deals:write").body().one("TermSheet")
            .run(run!(s, i => One(s.update_term_sheet(i.scope()?, i.id("deal_id"), i.id("term_sheet_id"),
                i.body()).await?)))
            .tool("update_term_sheet", Change, on_deal(with(id("term_sheet_id"), term_sheet_fields(false))),
                "Change a term sheet; null clears an optional field."),
        op(M::DELETE, "/deals/{deal_id}/term-sheets/{term_sheet_id}", "deleteDealsDealIdTermSheetsTermSheetId",
            "Delete a term sheet (soft)")
            .scope("deals:write").deleted()
            .run(run!(s, i => One(s.delete_term_sheet(i.scope()?, i.id("deal_id"), i.id("term_sheet_id")).await?.into())))
            .tool("delete_term_sheet", Change, on_deal(id("term_sheet_id")), "Delete a term sheet (soft delete)."),
    ];
    for (parent, prefix, scope) in NOTE_PARENTS {
        rows.extend(note_rows(parent, prefix, scope));
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Derived: the index, the router

struct Table {
    rows: Vec<Operation>,
    /// Row numbers by route template, then method.
    by_route: HashMap<&'static str, Vec<(Method, usize)>>,
    /// The segments of each row's template, split once.
    shapes: Vec<Vec<&'static str>>,
    /// Row numbers by segment count and first segment (every template starts with a literal).
    by_head: HashMap<(usize, &'static str), Vec<usize>>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let rows = table();
    let mut by_route: HashMap<&'static str, Vec<(Method, usize)>> = HashMap::new();
    for (n, o) in rows.iter().enumerate() {
        by_route.entry(o.path).or_default().push((o.method.clone(), n));
    }
    let shapes: Vec<Vec<&'static str>> = rows.iter().map(|o| o.path.split('/').collect()).collect();
    let mut by_head: HashMap<(usize, &'static str), Vec<usize>> = HashMap::new();
    for (n, shape) in shapes.iter().enumerate() {
        by_head.entry((shape.len(), shape.get(1).copied().unwrap_or(""))).or_default().push(n);
    }
    Table { rows, by_route, shapes, by_head }
});

/// Every operation.
pub fn all() -> &'static [Operation] {
    &TABLE.rows
}

/// The operation of a method and route template (`HEAD` finds the `GET` operation).
pub fn find(method: &Method, template: &str) -> Option<&'static Operation> {
    let method = if method == Method::HEAD { &Method::GET } else { method };
    let (_, n) = TABLE.by_route.get(template)?.iter().find(|(m, _)| m == method)?;
    Some(&TABLE.rows[*n])
}

/// The template of the operation a concrete path (after the API prefix) names, for requests
/// the router did not match (a refusal before routing, an unknown method).
pub fn matching(method: &Method, path: &str) -> Option<&'static str> {
    let method = if method == Method::HEAD { &Method::GET } else { method };
    let count = path.split('/').count();
    let head = path.split('/').nth(1).unwrap_or("");
    let fits = |shape: &[&str]| {
        shape.iter().zip(path.split('/')).all(|(t, s)| *t == s || (t.starts_with('{') && !s.is_empty()))
    };
    // Prefer the row of this method; any row of the path names the route.
    let mut first = None;
    for &n in TABLE.by_head.get(&(count, head)).map_or(&[][..], Vec::as_slice) {
        let (o, shape) = (&TABLE.rows[n], &TABLE.shapes[n]);
        if fits(shape) {
            if o.method == *method {
                return Some(o.path);
            }
            first.get_or_insert(o.path);
        }
    }
    first
}

/// The route policy of a method and template (see [`policy_of`]).
pub fn policy_for(method: &Method, template: &str) -> Policy {
    policy_of(find(method, template))
}

/// The route policy of an operation; routes outside the table (unknown paths and methods) are
/// treated as account routes, so they authenticate before they are refused.
pub fn policy_of(operation: Option<&Operation>) -> Policy {
    operation.map_or(Policy::Account, |o| o.policy)
}

/// The routes of every operation under `prefix`.
pub fn router(prefix: &str) -> Router<AppState> {
    let mut router = Router::new();
    for o in all() {
        let route = match o.handler {
            Handler::Route(make) => make(),
            Handler::Service(_) => {
                let filter = MethodFilter::try_from(o.method.clone()).unwrap_or(MethodFilter::GET);
                on(filter, move |state: State<AppState>, req: axum::extract::Request| rest(o, state, req))
            }
        };
        router = router.route(&format!("{prefix}{}", o.path), route);
    }
    router
}

/// A REST call of a service operation: the request's pieces become an [`Input`], the result
/// its envelope. The request is taken whole and read in place (its headers are not copied).
async fn rest(o: &'static Operation, State(state): State<AppState>, req: axum::extract::Request) -> HandlerResult {
    let Handler::Service(run) = o.handler else { return Err(ApiError::not_found("Route not found").into()) };
    let (mut parts, body) = req.into_parts();
    let ctx = Ctx::from_request_parts(&mut parts, &state).await?;
    let params = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .map_err(|_| ApiError::bad_request("The path could not be read"))?;
    // The request path has already read and bounded the body (`middleware::MAX_BODY`).
    let body = axum::body::to_bytes(body, crate::middleware::MAX_BODY)
        .await
        .map_err(|_| ApiError::bad_request("The request body could not be read"))?;
    let (headers, uri) = (&parts.headers, &parts.uri);
    let service = ctx.service(&state);
    let caller = &ctx.0;
    let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let note_parent = o.note_parent.map(|p| (p, params.first().map_or(0, |(_, v)| path_id(v))));
    let input = Input {
        user_id: caller.principal.as_ref().map_or(0, |p| p.user_id()),
        scope: caller.scope.clone(),
        params,
        query: uri.query().map(str::to_owned),
        body,
        api_base: if o.links { api_base(&state.site, headers, uri) } else { String::new() },
        // Only public operations read a bearer token themselves (key validation); the others
        // were authenticated by the request path.
        bearer: matches!(o.policy, Policy::Public { .. })
            .then(|| headers.get(AUTHORIZATION).and_then(|h| parse_bearer(h.as_bytes())).map(str::to_owned))
            .flatten(),
        note_parent,
    };
    input.reject_nul_in_params()?;
    Ok(match run(service, &input).await? {
        Output::List(page) => Reply::page(page),
        Output::One(v) if matches!(o.answer, Answer::Created(_)) => Reply::created(v),
        Output::One(v) => Reply::ok(v),
    })
}

/// A host as it may appear in a URL: name or address and an optional port, nothing else, so a
/// forged `Host` cannot smuggle a path or a second URL into the links.
fn clean_host(host: &str) -> Option<&str> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then_some(host)
}

/// The API root signed links are built on (`docs/resources.md#documents`): the configured public
/// URL's, else the one this client reached, e.g. `http://127.0.0.1:8080/api/external/v2`.
///
/// Without `--public-url` the scheme is `https` when the request carries
/// `X-Forwarded-Proto: https` (levd behind a TLS proxy), else `http`; the host is the request's
/// `Host` header (or HTTP/2 authority), reduced to a bare host and port. A proxy in front of
/// levd must pass `Host` through unchanged, and a deployment reachable under names it does not
/// control should set `--public-url`.
pub fn api_base(site: &Site, headers: &HeaderMap, uri: &Uri) -> String {
    if site.public_url_configured {
        return format!("{}{PREFIX}", site.public_url);
    }
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(clean_host)
        .or_else(|| uri.authority().map(|a| a.as_str()).and_then(clean_host))
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    format!("{}://{host}{PREFIX}", if https { "https" } else { "http" })
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn every_route_is_described_once() {
        let mut seen = std::collections::HashSet::new();
        for o in all() {
            assert!(seen.insert((o.method.clone(), o.path)), "{} {} twice", o.method, o.path);
            assert!(find(&o.method, o.path).is_some_and(|f| std::ptr::eq(f, o)));
        }
        let mut ids: Vec<&str> = all().iter().map(|o| o.id).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "operation ids are unique");
        let tools: Vec<&str> = all().iter().filter_map(|o| o.tool.as_ref().map(|t| t.name)).collect();
        let mut unique = tools.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), tools.len(), "tool names are unique");
    }

    #[test]
    fn policies_follow_the_rows() {
        assert_eq!(policy_for(&Method::HEAD, "/files/{token}"), policy_for(&Method::GET, "/files/{token}"));
        assert!(matches!(policy_for(&Method::GET, "/health"), Policy::Public { origin: false, .. }));
        assert_eq!(policy_for(&Method::GET, "/me"), Policy::AccountOptional);
        assert_eq!(policy_for(&Method::PATCH, "/me/active-account"), Policy::UserOnly);
        assert_eq!(policy_for(&Method::PUT, "/deals"), Policy::Account);
        assert!(find(&Method::POST, "/deals").is_some_and(Operation::honours_idempotency));
        assert!(!find(&Method::POST, "/auth/validate-api-key").is_some_and(Operation::honours_idempotency));
    }

    #[test]
    fn links_use_the_request_host_and_refuse_odd_ones() {
        let mut h = HeaderMap::new();
        let uri: Uri = "/x".parse().unwrap_or_default();
        h.insert(HOST, HeaderValue::from_static("api.example.test:8443"));
        let derived = Site::at("http://127.0.0.1:8080");
        assert_eq!(api_base(&derived, &h, &uri), "http://api.example.test:8443/api/external/v2");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(api_base(&derived, &h, &uri), "https://api.example.test:8443/api/external/v2");
        h.insert(HOST, HeaderValue::from_static("evil.test/phish?"));
        assert_eq!(api_base(&derived, &h, &uri), "https://localhost/api/external/v2");
    }

    #[test]
    fn a_configured_public_url_wins_over_host_and_forwarded_proto() {
        let mut site = Site::at("https://lev.example.com/");
        site.public_url_configured = true;
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("evil.test"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        let uri: Uri = "http://evil.test/x".parse().unwrap_or_default();
        assert_eq!(api_base(&site, &h, &uri), "https://lev.example.com/api/external/v2");
    }

    #[test]
    fn a_concrete_path_matches_its_template_preferring_the_method() {
        assert_eq!(matching(&Method::GET, "/deals/12/notes"), Some("/deals/{deal_id}/notes"));
        assert_eq!(matching(&Method::HEAD, "/deals/12"), Some("/deals/{deal_id}"));
        // No row of this method: any row of the path names the route.
        assert_eq!(matching(&Method::PUT, "/deals/12"), Some("/deals/{deal_id}"));
        assert_eq!(matching(&Method::GET, "/deals"), Some("/deals"));
        // A parameter is never empty, and the segment count must agree.
        assert_eq!(matching(&Method::GET, "/deals//notes"), None);
        assert_eq!(matching(&Method::GET, "/deals/12/notes/3/x"), None);
        assert_eq!(matching(&Method::GET, "/nothing"), None);
        // The lookup by first segment relies on every template starting with a literal.
        assert!(all().iter().all(|o| !o.path.split('/').nth(1).unwrap_or("{").starts_with('{')));
        for o in all() {
            let concrete = o.path.replace('{', "x").replace('}', "");
            assert!(matching(&o.method, &concrete).is_some(), "{}", o.path);
        }
    }
}
