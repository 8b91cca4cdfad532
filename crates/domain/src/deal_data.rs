//! Deal data: vaults, documents and their signed download links, checklists and checklist
//! tasks, memos (deal books) and the deal index (facts, observations, metric definitions,
//! entities). The records as the API shows them, request parsing for every operation of the
//! domain, the signed-link token format and a small PDF writer for memos. No I/O.
use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorKind, FieldErrors};
use crate::input::{BodyReader, Patch};
use crate::query::{decode_cursor, parse_pairs};

// ---------------------------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------------------------

pub const VAULT_RESOURCES: &str = "resources";
pub const VAULT_SHARED: &str = "shared";

pub const TASK_STATUSES: &[&str] = &["to_do", "requested", "reviewing", "updates_needed", "approved", "cancelled"];
pub const TEAM_TYPES: &[&str] = &["account", "private_company"];
pub const FILE_ORIGINS: &[&str] = &["auto_match", "manually_added"];

pub const MEMO_STATUSES: &[&str] = &["draft", "published"];
pub const MEMO_TYPES: &[&str] = &[
    "debt_financing_om",
    "credit_memo",
    "investment_sales",
    "debt_brokerage",
    "equity_raise",
    "broker_opinion_of_value",
    "investment_committee",
    "invoice",
    "other",
];
pub const MEMO_QUALITIES: &[&str] = &["original", "high", "medium", "low"];
/// `pdf_generation_status` of a memo whose PDF can be served.
pub const PDF_COMPLETED: &str = "completed";

/// Entity kinds facts attach to.
pub const ENTITY_DEAL: &str = "deal";
pub const ENTITY_PROPERTY: &str = "property";
pub const ENTITY_SPONSOR: &str = "sponsor";

/// How a canonical value came to be (`DealIndexFact.origin`).
pub const ORIGIN_EXTRACTED: &str = "extracted";
pub const ORIGIN_USER_INPUT: &str = "user_input";
pub const ORIGIN_MANUAL: &str = "manual";
pub const ORIGIN_PROMOTED: &str = "promoted";

/// Kind of source behind a value (`source.type`, `source_type`).
pub const SOURCE_DOCUMENT: &str = "document";
pub const SOURCE_USER_INPUT: &str = "user_input";
pub const SOURCE_MANUAL: &str = "manual";

/// Weight of a value a user recorded through the API: above any extraction (at most 90), so
/// the promotion rule prefers what a person typed over what a parser read.
pub const USER_INPUT_WEIGHT: i64 = 100;
/// Extractions below this confidence leave the fact flagged `needs_review`.
pub const REVIEW_CONFIDENCE: f64 = 0.75;

/// Lifetime of a signed file link.
pub const FILE_LINK_TTL_SECS: u64 = 300;

// Bounds on inputs.
const MAX_CONTEXT: usize = 4000;
const MAX_FACT_VALUE: usize = 1000;
const MAX_FACT_ITEMS: usize = 100;
const MAX_REF: usize = 64;
const MAX_SEARCH: usize = 200;
const MAX_TITLE: usize = 255;
const MAX_DESCRIPTION: usize = 20_000;
const MAX_DOCUMENT_TYPES: usize = 50;
const MAX_SEARCH_TERMS: usize = 24;
const MAX_LIMIT: i64 = 200;
/// Longest file name accepted by `levd admin document add`.
pub const MAX_FILE_NAME: usize = 255;
/// Largest file accepted by `levd admin document add` (downloads are read into memory).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Vaults and documents
// ---------------------------------------------------------------------------------------------

/// Compact vault reference: `VaultTag`, `DocumentVaultRef` and `ChecklistVaultRef` share it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VaultRef {
    pub id: i64,
    #[serde(rename = "type")]
    pub vault_type: String,
    pub title: Option<String>,
}

/// `Vault`, as listed for a deal.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Vault {
    pub id: i64,
    #[serde(rename = "type")]
    pub vault_type: String,
    pub title: Option<String>,
    pub is_default: bool,
    pub document_count: i64,
}

impl Vault {
    pub fn reference(&self) -> VaultRef {
        VaultRef { id: self.id, vault_type: self.vault_type.clone(), title: self.title.clone() }
    }
}

/// `DealDocument`. The content id (the file's name in the data directory) never leaves the
/// server.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealDocument {
    pub id: i64,
    pub file_name: Option<String>,
    pub extension: Option<String>,
    pub size_bytes: Option<i64>,
    pub folder_path: Option<String>,
    pub uploaded_at: Option<String>,
    pub vault: VaultRef,
    #[serde(skip)]
    pub deal_id: i64,
    #[serde(skip)]
    pub content_id: Option<String>,
    #[serde(skip)]
    pub document_type: Option<String>,
}

pub const DOCUMENT_FIELDS: &[&str] =
    &["id", "file_name", "extension", "size_bytes", "folder_path", "uploaded_at", "vault"];

/// `DealDocumentDownload`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealDocumentDownload {
    pub file_name: Option<String>,
    pub download_url: String,
    pub expires_in: u64,
}

/// A document to add (admin command, demo data).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    pub file_name: String,
    pub extension: Option<String>,
    pub size_bytes: i64,
    pub folder_path: Option<String>,
    pub content_id: String,
    pub document_type_id: Option<i64>,
}

/// The extension of a file name, lower case, without the dot; `None` when there is none.
pub fn file_extension(file_name: &str) -> Option<String> {
    let (stem, ext) = file_name.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() || ext.len() > 16 || !ext.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

/// Checks a user-supplied file name: kept as metadata only (files are stored by content id),
/// but it still appears in headers and listings, so control characters and separators are out.
pub fn valid_file_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= MAX_FILE_NAME
        && !name.chars().any(|c| c.is_control() || c == '/' || c == '\\')
}

/// Normalises a folder path (`Financials/2026`): trimmed segments, no empty, `.` or `..` ones.
pub fn normalize_folder_path(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').map(str::trim).filter(|s| !s.is_empty()).collect();
    if segments.is_empty()
        || segments.len() > 16
        || segments.iter().any(|s| *s == "." || *s == ".." || s.chars().any(char::is_control) || s.len() > 128)
    {
        return None;
    }
    Some(segments.join("/"))
}

/// SHA-256 of file content, in lower-case hex: the file's name in the data directory.
pub fn content_id(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// True for a string that can only be a content id (so it is safe as a file name).
pub fn is_content_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Media type announced when serving a file, by extension.
pub fn content_type_for(extension: Option<&str>) -> &'static str {
    match extension.unwrap_or("") {
        "pdf" => "application/pdf",
        "csv" => "text/csv; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xls" => "application/vnd.ms-excel",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "doc" => "application/msword",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// `Content-Disposition` for a download: an ASCII fallback name plus the exact UTF-8 name
/// (RFC 6266 / RFC 8187), so no user-supplied byte can break the header.
pub fn content_disposition(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

// ---------------------------------------------------------------------------------------------
// Checklists
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealChecklist {
    pub id: i64,
    pub vault: VaultRef,
    pub sections: Vec<ChecklistSection>,
    pub tasks: Vec<ChecklistTask>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistSection {
    pub id: i64,
    pub name: String,
    pub position: i64,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub tasks: Vec<ChecklistTask>,
    #[serde(skip)]
    pub checklist_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistTask {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub is_completed: bool,
    pub position: i64,
    pub due_date: Option<String>,
    pub role: Option<String>,
    pub assignee: Option<ChecklistAssignee>,
    pub assigned_team: Option<ChecklistAssignedTeam>,
    pub collaborators: Vec<ChecklistCollaborator>,
    pub document_types: Vec<ChecklistDocumentType>,
    pub files: Vec<ChecklistTaskFile>,
    #[schema(no_recursion)]
    pub subtasks: Vec<ChecklistTask>,
    #[serde(skip)]
    pub checklist_id: i64,
    #[serde(skip)]
    pub section_id: Option<i64>,
    #[serde(skip)]
    pub parent_task_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistAssignee {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistAssignedTeam {
    pub id: i64,
    #[serde(rename = "type")]
    pub team_type: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistCollaborator {
    pub id: Option<i64>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistDocumentType {
    pub id: i64,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistTaskFile {
    pub vault_resource_id: i64,
    pub document_id: Option<i64>,
    pub name: Option<String>,
    pub origin: String,
}

/// A checklist without its tree: id and Deal Room.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecklistHead {
    pub id: i64,
    pub vault: VaultRef,
}

/// Builds each checklist's tree from flat rows: sections in position order with their tasks,
/// root tasks, and subtasks under their parent. Rows must come in display order (position,
/// then id); a subtask whose parent is missing is dropped rather than shown at the wrong level.
pub fn assemble_checklists(
    heads: Vec<ChecklistHead>,
    sections: Vec<ChecklistSection>,
    tasks: Vec<ChecklistTask>,
) -> Vec<DealChecklist> {
    let mut subtasks: HashMap<i64, Vec<ChecklistTask>> = HashMap::new();
    let mut top: Vec<ChecklistTask> = Vec::new();
    for t in tasks {
        match t.parent_task_id {
            Some(p) => subtasks.entry(p).or_default().push(t),
            None => top.push(t),
        }
    }
    let mut in_section: HashMap<i64, Vec<ChecklistTask>> = HashMap::new();
    let mut at_root: HashMap<i64, Vec<ChecklistTask>> = HashMap::new();
    for mut t in top {
        t.subtasks = subtasks.remove(&t.id).unwrap_or_default();
        match t.section_id {
            Some(s) => in_section.entry(s).or_default().push(t),
            None => at_root.entry(t.checklist_id).or_default().push(t),
        }
    }
    let mut sections_of: HashMap<i64, Vec<ChecklistSection>> = HashMap::new();
    for mut s in sections {
        s.tasks = in_section.remove(&s.id).unwrap_or_default();
        sections_of.entry(s.checklist_id).or_default().push(s);
    }
    heads
        .into_iter()
        .map(|h| DealChecklist {
            id: h.id,
            vault: h.vault,
            sections: sections_of.remove(&h.id).unwrap_or_default(),
            tasks: at_root.remove(&h.id).unwrap_or_default(),
        })
        .collect()
}

/// Where a new task goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskParent {
    Section(i64),
    Checklist(i64),
    Task(i64),
}

/// How a task sits in its checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskPlace {
    pub checklist_id: i64,
    pub section_id: Option<i64>,
    pub parent_task_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub parent: TaskParent,
    pub title: String,
    pub description: Option<String>,
    pub status: &'static str,
    pub assigned_user_id: Option<i64>,
    pub due_date: Option<String>,
    pub document_type_ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskChanges {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<&'static str>,
    pub assigned_user_id: Option<Option<i64>>,
    pub due_date: Option<Option<String>>,
    /// Only ever `Some(false)`: reopening.
    pub reopen: bool,
    pub document_type_ids: Option<Vec<i64>>,
}

impl TaskChanges {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.status.is_none()
            && self.assigned_user_id.is_none()
            && self.due_date.is_none()
            && !self.reopen
            && self.document_type_ids.is_none()
    }
}

fn patch_to_option<T>(p: Patch<T>) -> Option<Option<T>> {
    match p {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(v) => Some(Some(v)),
    }
}

/// A positive integer id member; `Absent` when missing, 422 for anything else.
fn read_id(obj: &Map<String, Value>, field: &str, errors: &mut FieldErrors) -> Patch<i64> {
    match obj.get(field) {
        None => Patch::Absent,
        Some(Value::Null) => Patch::Null,
        Some(v) => match v.as_i64() {
            Some(id) if id > 0 => Patch::Value(id),
            _ => {
                errors.add(field, "must be a positive integer");
                Patch::Absent
            }
        },
    }
}

/// A 422 with a message of its own (the reference's wording) and the fields it concerns.
fn rule_error(message: &str, fields: &[(&str, &str)]) -> ApiError {
    let mut m = Map::new();
    for (f, p) in fields {
        m.insert((*f).to_string(), Value::from(*p));
    }
    ApiError::new(ErrorKind::Validation, message).with_detail("fields", Value::Object(m))
}

/// Validates a `POST /checklist-tasks` body.
pub fn parse_new_task(body: &Map<String, Value>) -> Result<NewTask, ApiError> {
    let mut r = BodyReader::new(body);
    let title = r.string("title", MAX_TITLE, true);
    r.required("title", &title);
    let description = r.string("description", MAX_DESCRIPTION, false);
    let status = r.enumeration("status", TASK_STATUSES);
    let due_date = r.date("due_date");
    let document_type_ids = r.id_array("document_type_ids", MAX_DOCUMENT_TYPES);
    let mut errors = r.errors;
    let section = read_id(body, "section_id", &mut errors);
    let checklist = read_id(body, "checklist_id", &mut errors);
    let parent = read_id(body, "parent_task_id", &mut errors);
    let assignee = read_id(body, "assigned_user_id", &mut errors);
    errors.finish()?;
    let parents: Vec<TaskParent> = [
        section.value().map(TaskParent::Section),
        checklist.value().map(TaskParent::Checklist),
        parent.value().map(TaskParent::Task),
    ]
    .into_iter()
    .flatten()
    .collect();
    let [parent] = parents.as_slice() else {
        return Err(rule_error(
            "Provide exactly one of section_id, checklist_id, or parent_task_id",
            &[("section_id", "exactly one of section_id, checklist_id, parent_task_id is required")],
        ));
    };
    Ok(NewTask {
        parent: *parent,
        title: title.value().unwrap_or_default().trim().to_string(),
        description: description.value(),
        status: status.value().unwrap_or("to_do"),
        assigned_user_id: assignee.value(),
        due_date: due_date.value(),
        document_type_ids: document_type_ids.value().unwrap_or_default(),
    })
}

/// Validates a `PATCH /checklist-tasks/{task_id}` body.
pub fn parse_task_changes(body: &Map<String, Value>) -> Result<TaskChanges, ApiError> {
    if let Some(v) = body.get("is_completed") {
        match v {
            Value::Bool(false) => {}
            Value::Bool(true) => {
                return Err(rule_error(
                    "is_completed accepts false only; to mark a task complete use the complete endpoint",
                    &[("is_completed", "accepts false only")],
                ));
            }
            _ => return Err(ApiError::invalid_field("is_completed", "must be false")),
        }
    }
    let mut r = BodyReader::new(body);
    let title = match r.string("title", MAX_TITLE, true) {
        Patch::Null => {
            r.errors.add("title", "must not be null");
            None
        }
        p => p.value().map(|t| t.trim().to_string()),
    };
    let description = patch_to_option(r.string("description", MAX_DESCRIPTION, false));
    let status = match r.enumeration("status", TASK_STATUSES) {
        Patch::Null => {
            r.errors.add("status", "must not be null");
            None
        }
        p => p.value(),
    };
    let due_date = patch_to_option(r.date("due_date"));
    let document_type_ids = match r.id_array("document_type_ids", MAX_DOCUMENT_TYPES) {
        Patch::Absent => None,
        Patch::Null => Some(Vec::new()),
        Patch::Value(v) => Some(v),
    };
    let mut errors = r.errors;
    let assigned_user_id = patch_to_option(read_id(body, "assigned_user_id", &mut errors));
    errors.finish()?;
    Ok(TaskChanges {
        title,
        description,
        status,
        assigned_user_id,
        due_date,
        reopen: body.get("is_completed") == Some(&Value::Bool(false)),
        document_type_ids,
    })
}

// ---------------------------------------------------------------------------------------------
// Memos
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MemoAuthor {
    pub id: Option<i64>,
    pub name: Option<String>,
}

/// `DealMemo`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealMemo {
    pub uuid: Option<String>,
    pub title: Option<String>,
    pub memo_type: Option<String>,
    pub status: Option<String>,
    pub published_at: Option<String>,
    pub updated_at: Option<String>,
    pub created_by: Option<MemoAuthor>,
    pub pdf_generation_status: Option<String>,
    pub pdf_ready: Option<bool>,
    pub memo_url: Option<String>,
    pub vaults: Vec<VaultRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MemoPdfVersion {
    pub quality: Option<String>,
    pub status: Option<String>,
    pub pdf_url: Option<String>,
}

/// `DealMemoDetail`: every `DealMemo` member plus the PDF links.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealMemoDetail {
    #[serde(flatten)]
    pub memo: DealMemo,
    pub pdf_url: Option<String>,
    pub pdf_versions: Vec<MemoPdfVersion>,
}

/// A memo as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoRecord {
    pub id: i64,
    pub uuid: String,
    pub deal_id: i64,
    pub title: String,
    pub memo_type: String,
    pub status: String,
    pub body: String,
    pub published_at: Option<String>,
    pub updated_at: String,
    pub created_by_user_id: Option<i64>,
    pub created_by_name: Option<String>,
    pub pdf_generation_status: String,
    pub pdf_content_id: Option<String>,
    pub vaults: Vec<VaultRef>,
}

impl MemoRecord {
    pub fn pdf_ready(&self) -> bool {
        self.pdf_generation_status == PDF_COMPLETED
    }

    /// The memo as listed; `memo_url` is its detail route on the API.
    pub fn to_memo(&self, api_base: &str) -> DealMemo {
        DealMemo {
            uuid: Some(self.uuid.clone()),
            title: Some(self.title.clone()),
            memo_type: Some(self.memo_type.clone()),
            status: Some(self.status.clone()),
            published_at: self.published_at.clone(),
            updated_at: Some(self.updated_at.clone()),
            created_by: Some(MemoAuthor { id: self.created_by_user_id, name: self.created_by_name.clone() }),
            pdf_generation_status: Some(self.pdf_generation_status.clone()),
            pdf_ready: Some(self.pdf_ready()),
            memo_url: Some(format!("{api_base}/deals/{}/memos/{}", self.deal_id, self.uuid)),
            vaults: self.vaults.clone(),
        }
    }
}

/// A memo to store (demo data, tests).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemo {
    pub uuid: String,
    pub title: String,
    pub memo_type: &'static str,
    pub status: &'static str,
    pub body: String,
    pub created_by_user_id: Option<i64>,
    pub vault_ids: Vec<i64>,
}

/// `quality` of a memo detail request: `original` when absent; anything else is a 400.
pub fn parse_memo_quality(raw_query: Option<&str>) -> Result<&'static str, ApiError> {
    let params = QueryParams::parse(raw_query)?;
    match params.get("quality") {
        None => Ok("original"),
        Some(q) => MEMO_QUALITIES.iter().copied().find(|a| *a == q).ok_or_else(|| {
            let shown: String = q.chars().take(64).collect();
            ApiError::bad_request(format!("Invalid quality: {shown}. Allowed: original, high, medium, low"))
        }),
    }
}

/// `GET /deals/{deal_id}/memos` parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemoQuery {
    pub limit: u32,
    pub offset: u64,
    pub search: Option<String>,
    pub title: Option<String>,
    pub status: Option<&'static str>,
    pub memo_type: Option<&'static str>,
    pub pdf_ready: Option<bool>,
    pub vault_id: Option<i64>,
}

const MEMO_FILTERS: &[&str] = &["title", "status", "memo_type", "pdf_ready"];

pub fn parse_memo_query(raw_query: Option<&str>) -> Result<MemoQuery, ApiError> {
    let params = QueryParams::parse(raw_query)?;
    let mut q = MemoQuery { limit: 50, ..MemoQuery::default() };
    for (key, value) in &params.pairs {
        match key.as_str() {
            "limit" => q.limit = clamped_limit(value)?,
            "offset" => {
                q.offset = digits(value)
                    .ok_or_else(|| ApiError::invalid_field("offset", "must be an integer greater than or equal to 0"))?
            }
            "search" => q.search = search_param("search", value)?,
            "vault_id" => q.vault_id = Some(positive_param("vault_id", value)?),
            "filter[title]" => {
                if value.chars().count() > MAX_TITLE {
                    return Err(ApiError::invalid_field(key, format!("must be at most {MAX_TITLE} characters")));
                }
                q.title = Some(value.clone());
            }
            "filter[status]" => q.status = Some(enum_param(key, value, MEMO_STATUSES)?),
            "filter[memo_type]" => q.memo_type = Some(enum_param(key, value, MEMO_TYPES)?),
            "filter[pdf_ready]" => {
                q.pdf_ready = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::invalid_field(key, "must be true or false")),
                })
            }
            k if k == "filter" || k.starts_with("filter[") => {
                return Err(ApiError::invalid_field(k, "is not a supported filter")
                    .with_detail("parameter", echo(k))
                    .with_detail("allowed", MEMO_FILTERS.iter().map(|f| format!("filter[{f}]")).collect::<Vec<_>>()));
            }
            _ => {}
        }
    }
    Ok(q)
}

// ---------------------------------------------------------------------------------------------
// Query-string helpers
// ---------------------------------------------------------------------------------------------

/// Decoded query pairs, each name at most once (a repeated name is a 400, as on every list).
struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    fn parse(raw: Option<&str>) -> Result<QueryParams, ApiError> {
        let pairs = match raw {
            Some(q) => parse_pairs(q)?,
            None => Vec::new(),
        };
        let mut seen: Vec<&str> = Vec::new();
        for (k, _) in &pairs {
            if seen.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!("Parameter {} given more than once", echo(k)))
                    .with_detail("parameter", echo(k)));
            }
            seen.push(k);
        }
        Ok(QueryParams { pairs })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn echo(text: &str) -> String {
    text.chars().take(64).collect()
}

fn digits(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// An integer in decimal, sign allowed; huge magnitudes saturate (they are clamped anyway).
fn integer(value: &str) -> Option<i64> {
    let (neg, body) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = body.parse::<i64>().unwrap_or(i64::MAX);
    Some(if neg { -magnitude } else { magnitude })
}

/// `limit` on the endpoints documented to clamp: any integer is accepted and brought into
/// 1–200; anything else is a 422.
fn clamped_limit(value: &str) -> Result<u32, ApiError> {
    let n = integer(value).ok_or_else(|| {
        ApiError::new(ErrorKind::Validation, "limit must be an integer")
            .with_detail("fields", serde_json::json!({"limit": "must be an integer"}))
    })?;
    Ok(clamp_limit(n))
}

fn clamp_limit(n: i64) -> u32 {
    u32::try_from(n.clamp(1, MAX_LIMIT)).unwrap_or(1)
}

fn positive_param(name: &str, value: &str) -> Result<i64, ApiError> {
    integer(value).filter(|n| *n > 0).ok_or_else(|| ApiError::invalid_field(name, "must be a positive integer"))
}

fn search_param(name: &str, value: &str) -> Result<Option<String>, ApiError> {
    if value.chars().count() > MAX_SEARCH {
        return Err(ApiError::invalid_field(name, format!("must be at most {MAX_SEARCH} characters")));
    }
    let t = value.trim();
    Ok(if t.is_empty() { None } else { Some(t.to_string()) })
}

fn enum_param(name: &str, value: &str, allowed: &'static [&'static str]) -> Result<&'static str, ApiError> {
    allowed.iter().copied().find(|a| *a == value).ok_or_else(|| {
        ApiError::invalid_field(name, format!("must be one of: {}", allowed.join(", "))).with_detail("allowed", allowed)
    })
}

fn parse_fields(value: &str) -> Result<Vec<&'static str>, ApiError> {
    let mut out = vec!["id", "vault"];
    for item in value.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(ApiError::invalid_field(
                "fields",
                "must be a comma-separated list of names with no empty entries",
            ));
        }
        match DOCUMENT_FIELDS.iter().copied().find(|f| *f == item) {
            Some(f) => {
                if !out.contains(&f) {
                    out.push(f)
                }
            }
            None => {
                return Err(ApiError::invalid_field("fields", format!("unknown field {}", echo(item)))
                    .with_detail("allowed", DOCUMENT_FIELDS));
            }
        }
    }
    Ok(out)
}

/// `GET /deals/{deal_id}/documents` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentQuery {
    pub limit: u32,
    /// Keyset position and the token as sent.
    pub cursor: Option<(i64, String)>,
    pub search: Option<String>,
    pub extension: Option<String>,
    pub folder_id: Option<i64>,
    pub vault_id: Option<i64>,
    /// `None`: every field; otherwise always with `id` and `vault`.
    pub fields: Option<Vec<&'static str>>,
}

pub fn parse_document_query(raw_query: Option<&str>) -> Result<DocumentQuery, ApiError> {
    let params = QueryParams::parse(raw_query)?;
    let mut q = DocumentQuery {
        limit: 50,
        cursor: None,
        search: None,
        extension: None,
        folder_id: None,
        vault_id: None,
        fields: None,
    };
    for (key, value) in &params.pairs {
        match key.as_str() {
            "limit" => q.limit = clamped_limit(value)?,
            "cursor" => match decode_cursor(value) {
                Some(id) => q.cursor = Some((id, value.clone())),
                None => return Err(ApiError::bad_request("Invalid cursor")),
            },
            "search" => q.search = search_param("search", value)?,
            "extension" => {
                let ext = value.trim().trim_start_matches('.').to_ascii_lowercase();
                if ext.is_empty() || ext.len() > 16 || !ext.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(ApiError::invalid_field("extension", "must be a file extension such as pdf or xlsx"));
                }
                q.extension = Some(ext);
            }
            "folder_id" => q.folder_id = Some(positive_param("folder_id", value)?),
            "vault_id" => q.vault_id = Some(positive_param("vault_id", value)?),
            "fields" => q.fields = Some(parse_fields(value)?),
            k if k == "filter" || k.starts_with("filter[") => {
                // The field is named like any other refused name; no filter names are accepted
                // (the narrowing parameters are plain: extension, folder_id, vault_id, search).
                let mut fields = Map::new();
                fields.insert(
                    echo(k),
                    Value::from(
                        "is not accepted: this endpoint takes extension, folder_id, vault_id and search as plain \
                         query parameters",
                    ),
                );
                return Err(ApiError::new(ErrorKind::Validation, "This endpoint does not accept filter parameters")
                    .with_detail("fields", Value::Object(fields))
                    .with_detail("parameter", echo(k))
                    .with_detail("allowed", Value::Array(Vec::new())));
            }
            _ => {}
        }
    }
    Ok(q)
}

/// `fields` of a single-document read.
pub fn parse_document_fields(raw_query: Option<&str>) -> Result<Option<Vec<&'static str>>, ApiError> {
    let params = QueryParams::parse(raw_query)?;
    params.get("fields").map(parse_fields).transpose()
}

/// `vault_id` of the checklist list.
pub fn parse_checklist_query(raw_query: Option<&str>) -> Result<Option<i64>, ApiError> {
    let params = QueryParams::parse(raw_query)?;
    params.get("vault_id").map(|v| positive_param("vault_id", v)).transpose()
}

/// Serialises a document keeping only the requested fields.
pub fn document_json(d: &DealDocument, fields: Option<&[&'static str]>) -> Value {
    let mut v = match serde_json::to_value(d) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(fields) = fields {
        v.retain(|k, _| fields.contains(&k.as_str()));
    }
    Value::Object(v)
}

// ---------------------------------------------------------------------------------------------
// Deal index: records
// ---------------------------------------------------------------------------------------------

/// A metric of the catalog, with what the index needs beyond the API's view.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDefinition {
    pub id: i64,
    pub metric_key: String,
    pub metric_label: String,
    pub value_type: String,
    pub category_id: i64,
    pub category_label: String,
    /// Which kind of entity its values attach to (`deal`, `property`, `sponsor`).
    pub entity_type: String,
    pub editable: bool,
    /// Its value names the entity (a property's name, a sponsor's name).
    pub identifying: bool,
    pub support_multiple_values: bool,
}

/// `DealIndexMetricDefinition`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexMetricDefinition {
    pub id: Option<i64>,
    pub metric_key: Option<String>,
    pub metric_label: Option<String>,
    pub value_type: Option<String>,
    pub category_id: Option<i64>,
}

impl From<&MetricDefinition> for DealIndexMetricDefinition {
    fn from(m: &MetricDefinition) -> Self {
        DealIndexMetricDefinition {
            id: Some(m.id),
            metric_key: Some(m.metric_key.clone()),
            metric_label: Some(m.metric_label.clone()),
            value_type: Some(m.value_type.clone()),
            category_id: Some(m.category_id),
        }
    }
}

/// The document (if any) behind a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceDocument {
    pub document_id: Option<i64>,
    pub document_type: Option<String>,
    pub file_name: Option<String>,
    pub file_extension: Option<String>,
    pub pages: Vec<i64>,
}

/// `DealIndexSearchSource` (also the `source` of observations).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexSource {
    #[serde(rename = "type")]
    pub source_type: Option<String>,
    pub document_id: Option<i64>,
    pub document_type: Option<String>,
    pub file_name: Option<String>,
    pub file_extension: Option<String>,
    pub pages: Option<Vec<i64>>,
    pub observation_count: Option<i64>,
    pub signed_url: Option<String>,
    pub signed_url_error: Option<String>,
}

/// A canonical value as stored, with its metric and source.
#[derive(Debug, Clone, PartialEq)]
pub struct FactRecord {
    pub sot_id: i64,
    pub deal_id: i64,
    pub metric: MetricDefinition,
    pub value_text: String,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub context: Option<String>,
    pub summary: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub source_type: String,
    pub source_id: Option<String>,
    pub observation_id: Option<i64>,
    pub weight: Option<i64>,
    pub origin: String,
    pub needs_review: bool,
    pub document: SourceDocument,
    pub observation_count: i64,
}

/// `DealIndexFact`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexFact {
    pub id: Option<String>,
    pub sot_id: Option<i64>,
    pub metric_key: Option<String>,
    pub metric_id: Option<i64>,
    pub value_text: Option<String>,
    pub value_type: Option<String>,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub category_id: Option<i64>,
    pub source_type: Option<String>,
    pub source_id: Option<String>,
    pub observation_id: Option<i64>,
    pub weight: Option<i64>,
    pub origin: Option<String>,
    pub editable: Option<bool>,
}

/// `DealIndexSearchResult`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexSearchResult {
    pub id: Option<String>,
    pub sot_id: Option<i64>,
    pub metric_key: Option<String>,
    pub metric_id: Option<i64>,
    pub metric_label: Option<String>,
    pub value_text: Option<String>,
    pub value_type: Option<String>,
    pub context: Option<String>,
    pub summary: Option<String>,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub category_id: Option<i64>,
    pub category_label: Option<String>,
    pub needs_review: Option<bool>,
    pub score: Option<f64>,
    pub source: DealIndexSource,
}

impl FactRecord {
    /// The prefixed SOT string of this fact.
    pub fn sot_ref(&self) -> String {
        sot_string(self.sot_id, self.entity_ref.as_deref(), self.group_ref.as_deref())
    }

    pub fn to_fact(&self) -> DealIndexFact {
        DealIndexFact {
            id: Some(self.sot_ref()),
            sot_id: Some(self.sot_id),
            metric_key: Some(self.metric.metric_key.clone()),
            metric_id: Some(self.metric.id),
            value_text: Some(self.value_text.clone()),
            value_type: Some(self.metric.value_type.clone()),
            period_type: self.period_type.clone(),
            period_value: self.period_value.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            entity_ref: self.entity_ref.clone(),
            group_ref: self.group_ref.clone(),
            category_id: Some(self.metric.category_id),
            source_type: Some(self.source_type.clone()),
            source_id: self.source_id.clone(),
            observation_id: self.observation_id,
            weight: self.weight,
            origin: Some(self.origin.clone()),
            editable: Some(self.metric.editable),
        }
    }

    /// The source without a signed URL (the service adds one on request).
    pub fn source(&self) -> DealIndexSource {
        let doc = &self.document;
        DealIndexSource {
            source_type: Some(self.source_type.clone()),
            document_id: doc.document_id,
            document_type: doc.document_type.clone(),
            file_name: doc.file_name.clone(),
            file_extension: doc.file_extension.clone(),
            pages: if doc.document_id.is_some() { Some(doc.pages.clone()) } else { None },
            observation_count: Some(self.observation_count),
            signed_url: None,
            signed_url_error: None,
        }
    }

    pub fn to_search_result(&self, score: f64) -> DealIndexSearchResult {
        DealIndexSearchResult {
            id: Some(self.sot_ref()),
            sot_id: Some(self.sot_id),
            metric_key: Some(self.metric.metric_key.clone()),
            metric_id: Some(self.metric.id),
            metric_label: Some(self.metric.metric_label.clone()),
            value_text: Some(self.value_text.clone()),
            value_type: Some(self.metric.value_type.clone()),
            context: self.context.clone(),
            summary: self.summary.clone(),
            period_type: self.period_type.clone(),
            period_value: self.period_value.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            entity_ref: self.entity_ref.clone(),
            group_ref: self.group_ref.clone(),
            category_id: Some(self.metric.category_id),
            category_label: Some(self.metric.category_label.clone()),
            needs_review: Some(self.needs_review),
            score: Some(score),
            source: self.source(),
        }
    }
}

/// One candidate value as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRecord {
    pub id: i64,
    pub deal_id: i64,
    pub metric: MetricDefinition,
    pub value_text: String,
    pub original_text: Option<String>,
    pub context: Option<String>,
    pub summary: Option<String>,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub confidence: Option<f64>,
    pub weight: i64,
    pub source_type: String,
    pub document: SourceDocument,
    pub created_at: String,
}

/// `DealIndexObservation`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexObservation {
    pub id: Option<i64>,
    pub metric_key: Option<String>,
    pub metric_id: Option<i64>,
    pub value_text: Option<String>,
    pub value_type: Option<String>,
    pub original_text: Option<String>,
    pub context: Option<String>,
    pub summary: Option<String>,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub category_id: Option<i64>,
    pub confidence: Option<f64>,
    pub weight: Option<i64>,
    pub source: DealIndexSource,
}

impl ObservationRecord {
    pub fn to_observation(&self) -> DealIndexObservation {
        let doc = &self.document;
        DealIndexObservation {
            id: Some(self.id),
            metric_key: Some(self.metric.metric_key.clone()),
            metric_id: Some(self.metric.id),
            value_text: Some(self.value_text.clone()),
            value_type: Some(self.metric.value_type.clone()),
            original_text: self.original_text.clone(),
            context: self.context.clone(),
            summary: self.summary.clone(),
            period_type: self.period_type.clone(),
            period_value: self.period_value.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            entity_ref: self.entity_ref.clone(),
            group_ref: self.group_ref.clone(),
            category_id: Some(self.metric.category_id),
            confidence: self.confidence,
            weight: Some(self.weight),
            source: DealIndexSource {
                source_type: Some(self.source_type.clone()),
                document_id: doc.document_id,
                document_type: doc.document_type.clone(),
                file_name: doc.file_name.clone(),
                file_extension: doc.file_extension.clone(),
                pages: if doc.document_id.is_some() { Some(doc.pages.clone()) } else { None },
                observation_count: None,
                signed_url: None,
                signed_url_error: None,
            },
        }
    }
}

/// `DealIndexEntity`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexEntity {
    pub entity_ref: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub group_ref: Option<String>,
    pub identifying_metrics: Vec<IdentifyingMetric>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IdentifyingMetric {
    pub metric_key: Option<String>,
    pub metric_label: Option<String>,
    pub value_text: Option<String>,
    pub support_multiple_values: Option<bool>,
}

/// A candidate value to record: extracted from a document, or typed by a user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewObservation {
    pub metric_id: i64,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub value_text: String,
    pub original_text: Option<String>,
    pub context: Option<String>,
    pub summary: Option<String>,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub confidence: Option<f64>,
    pub weight: i64,
    pub source_type: &'static str,
    pub document_id: Option<i64>,
    pub pages: Vec<i64>,
    pub created_by_user_id: Option<i64>,
}

impl NewObservation {
    pub fn slot(&self) -> String {
        fact_slot(self.entity_ref.as_deref(), self.group_ref.as_deref())
    }
}

/// What recording an observation did to the canonical value of its slot.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedObservation {
    pub observation_id: i64,
    /// The canonical value afterwards.
    pub fact: FactRecord,
    /// Whether the canonical value was created or changed.
    pub fact_written: bool,
}

/// Page numbers as stored (`1,2,5`).
pub fn pages_to_text(pages: &[i64]) -> Option<String> {
    if pages.is_empty() { None } else { Some(pages.iter().map(i64::to_string).collect::<Vec<_>>().join(",")) }
}

pub fn pages_from_text(text: Option<&str>) -> Vec<i64> {
    text.map(|t| t.split(',').filter_map(|p| p.trim().parse().ok()).collect()).unwrap_or_default()
}

/// One entry of `results` of a fact insert.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FactInsertResult {
    pub index: Option<i64>,
    pub metric_id: Option<i64>,
    pub success: Option<bool>,
    pub sot: Option<DealIndexFact>,
    pub error: Option<String>,
}

/// `DealIndexFactInsertResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexFactInsertResponse {
    pub success: Option<bool>,
    pub error: Option<String>,
    pub metric_sot_values: Vec<DealIndexFact>,
    pub results: Vec<FactInsertResult>,
}

/// Where a value sits: one canonical value per metric and slot (the entity, a pending group,
/// or the deal itself).
pub fn fact_slot(entity_ref: Option<&str>, group_ref: Option<&str>) -> String {
    match (entity_ref, group_ref) {
        (Some(e), _) => e.to_string(),
        (None, Some(g)) => format!("group:{g}"),
        (None, None) => ENTITY_DEAL.to_string(),
    }
}

/// The prefixed SOT string: `d:<sot>` for a deal-level value, `a:<sot>:<entity_ref>` for a
/// value attached to an entity, `g:<sot>:<group_ref>` for one waiting on a new entity.
pub fn sot_string(sot_id: i64, entity_ref: Option<&str>, group_ref: Option<&str>) -> String {
    match (entity_ref, group_ref) {
        (Some(e), _) => format!("a:{sot_id}:{e}"),
        (None, Some(g)) => format!("g:{sot_id}:{g}"),
        (None, None) => format!("d:{sot_id}"),
    }
}

/// A parsed prefixed SOT string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SotRef {
    pub sot_id: i64,
    /// The whole string, compared with the fact's own form once it is found.
    pub raw: String,
}

/// `^[A-Za-z]+:[A-Za-z0-9:_-]+$` whose second segment is the numeric id.
pub fn parse_sot_ref(s: &str) -> Option<SotRef> {
    if s.len() > 160 {
        return None;
    }
    let (prefix, rest) = s.split_once(':')?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-')) {
        return None;
    }
    let id = rest.split(':').next()?;
    let sot_id = id.parse::<i64>().ok().filter(|n| *n > 0)?;
    Some(SotRef { sot_id, raw: s.to_string() })
}

/// `entity_ref` (`property:690`) or `group_ref` text: bounded, the SOT alphabet only (both end
/// up inside prefixed SOT strings).
fn valid_ref(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_REF
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// Splits `type:id` into its parts.
pub fn split_entity_ref(s: &str) -> Option<(&str, i64)> {
    let (t, id) = s.split_once(':')?;
    let id = id.parse::<i64>().ok().filter(|n| *n > 0)?;
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')).then_some((t, id))
}

/// Checks a recorded value against the metric's type; `Err` says why it does not fit.
/// Money and numbers may carry `$`, `,` and `%` as people type them.
pub fn check_value(value_type: &str, value: &str) -> Result<(), String> {
    let cleaned: String = value.chars().filter(|c| !matches!(c, '$' | ',' | '%' | ' ' | '_')).collect();
    match value_type {
        "currency" | "number" | "percent" => match cleaned.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(()),
            _ => Err(format!("value must be a number for a {value_type} metric")),
        },
        "integer" => match cleaned.parse::<i64>() {
            Ok(_) => Ok(()),
            Err(_) => Err("value must be a whole number for an integer metric".into()),
        },
        "date" => crate::time_fmt::parse_date(value.trim())
            .map(|_| ())
            .ok_or_else(|| "value must be a date (YYYY-MM-DD) for a date metric".into()),
        _ => Ok(()),
    }
}

/// What the index's full-text search matches for a fact: its metric's names and category, the
/// value, the text around it and its period. Underscores become spaces so `noi_t12` matches
/// `NOI` and `T12` on every backend's tokenizer.
pub fn fact_search_text(
    metric: &MetricDefinition,
    value: &str,
    context: Option<&str>,
    summary: Option<&str>,
    period: Option<&str>,
) -> String {
    [
        metric.metric_label.as_str(),
        &metric.metric_key.replace('_', " "),
        metric.category_label.as_str(),
        value,
        context.unwrap_or(""),
        summary.unwrap_or(""),
        period.unwrap_or(""),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" \n")
}

// ---------------------------------------------------------------------------------------------
// Deal index: requests
// ---------------------------------------------------------------------------------------------

fn read_bool(obj: &Map<String, Value>, field: &str, errors: &mut FieldErrors) -> Option<bool> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.add(field, "must be a boolean");
            None
        }
    }
}

/// An integer member that is clamped into 1–200 (the documented behaviour of the index lists).
fn read_clamped_limit(obj: &Map<String, Value>, default: u32, errors: &mut FieldErrors) -> u32 {
    match obj.get("limit") {
        None | Some(Value::Null) => default,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => clamp_limit(n.as_i64().unwrap_or(i64::MAX)),
        Some(_) => {
            errors.add("limit", "must be an integer");
            default
        }
    }
}

fn read_page(obj: &Map<String, Value>, errors: &mut FieldErrors) -> u32 {
    match obj.get("page") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_i64() {
            Some(p) if p >= 1 => u32::try_from(p).unwrap_or(u32::MAX),
            _ => {
                errors.add("page", "must be an integer greater than or equal to 1");
                1
            }
        },
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchInput {
    pub context: String,
    pub min_score: f64,
    pub limit: u32,
    pub include_signed_urls: bool,
}

/// Validates a `POST /deals/{deal_id}/index/search` body.
pub fn parse_search(body: &Map<String, Value>) -> Result<SearchInput, ApiError> {
    let mut r = BodyReader::new(body);
    let context = r.string("context", MAX_CONTEXT, true);
    r.required("context", &context);
    let min_score = match r.number("min_score", Some(0.0)) {
        Patch::Value(x) if x > 1.0 => {
            r.errors.add("min_score", "must be between 0 and 1");
            0.3
        }
        Patch::Value(x) => x,
        _ => 0.3,
    };
    let mut errors = r.errors;
    let limit = read_clamped_limit(body, 20, &mut errors);
    let include_signed_urls = read_bool(body, "include_signed_urls", &mut errors).unwrap_or(false);
    errors.finish()?;
    Ok(SearchInput { context: context.value().unwrap_or_default(), min_score, limit, include_signed_urls })
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservationsInput {
    pub sot: Option<SotRef>,
    pub metric_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub page: u32,
    pub limit: u32,
    pub include_signed_urls: bool,
}

fn read_sot(obj: &Map<String, Value>, errors: &mut FieldErrors) -> Patch<SotRef> {
    match obj.get("sot_id") {
        None => Patch::Absent,
        Some(Value::Null) => Patch::Null,
        Some(Value::String(s)) => match parse_sot_ref(s) {
            Some(r) => Patch::Value(r),
            None => {
                errors.add("sot_id", "must be a prefixed SOT id such as d:5362");
                Patch::Absent
            }
        },
        Some(_) => {
            errors.add("sot_id", "must be a string");
            Patch::Absent
        }
    }
}

/// Validates a `POST /deals/{deal_id}/index/observations` body. With both `sot_id` and
/// `metric_id`, the fact named by `sot_id` decides.
pub fn parse_observations(body: &Map<String, Value>) -> Result<ObservationsInput, ApiError> {
    let mut errors = FieldErrors::default();
    let sot = read_sot(body, &mut errors).value();
    let metric_id = read_id(body, "metric_id", &mut errors).value();
    let entity_ref = match body.get("entity_ref") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if valid_ref(s) => Some(s.clone()),
        Some(_) => {
            errors.add("entity_ref", "must be an entity reference such as property:690");
            None
        }
    };
    let page = read_page(body, &mut errors);
    let limit = read_clamped_limit(body, 20, &mut errors);
    let include_signed_urls = read_bool(body, "include_signed_urls", &mut errors).unwrap_or(false);
    errors.finish()?;
    if sot.is_none() && metric_id.is_none() {
        return Err(rule_error(
            "Provide at least one of sot_id or metric_id",
            &[("sot_id", "one of sot_id or metric_id is required")],
        ));
    }
    Ok(ObservationsInput { sot, metric_id, entity_ref, page, limit, include_signed_urls })
}

/// The change a `PATCH /deals/{deal_id}/index/facts` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum FactChange {
    Value(String),
    Observation(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FactPatch {
    pub sot: SotRef,
    pub change: FactChange,
}

pub fn parse_fact_patch(body: &Map<String, Value>) -> Result<FactPatch, ApiError> {
    let mut errors = FieldErrors::default();
    let sot = read_sot(body, &mut errors);
    if !errors.contains("sot_id") && !matches!(sot, Patch::Value(_)) {
        errors.add("sot_id", "is required");
    }
    let mut r = BodyReader::new(body);
    let value = r.string("value", MAX_FACT_VALUE, true);
    for (f, p) in r_errors(r) {
        errors.add(&f, p);
    }
    let observation = read_id(body, "observation_id", &mut errors);
    errors.finish()?;
    let change = match (value, observation) {
        (Patch::Value(v), Patch::Absent | Patch::Null) => FactChange::Value(v.trim().to_string()),
        (Patch::Absent | Patch::Null, Patch::Value(o)) => FactChange::Observation(o),
        _ => {
            return Err(rule_error(
                "Provide exactly one of value or observation_id",
                &[("value", "exactly one of value or observation_id is required")],
            ));
        }
    };
    let Patch::Value(sot) = sot else {
        return Err(ApiError::invalid_field("sot_id", "is required"));
    };
    Ok(FactPatch { sot, change })
}

/// The problems a `BodyReader` collected, as pairs (to merge with other checks).
fn r_errors(r: BodyReader<'_>) -> Vec<(String, String)> {
    match r.finish() {
        Ok(()) => Vec::new(),
        Err(e) => e
            .details
            .get("fields")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("is invalid").to_string())).collect())
            .unwrap_or_default(),
    }
}

/// One value of a `POST /deals/{deal_id}/index/facts`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFactValue {
    pub metric_id: i64,
    pub value: String,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
}

pub fn parse_fact_insert(body: &Map<String, Value>) -> Result<Vec<NewFactValue>, ApiError> {
    let items = match body.get("values") {
        None | Some(Value::Null) => return Err(ApiError::invalid_field("values", "is required")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::invalid_field("values", "must be an array")),
    };
    if items.is_empty() {
        return Err(ApiError::invalid_field("values", "must contain at least one item"));
    }
    if items.len() > MAX_FACT_ITEMS {
        return Err(ApiError::invalid_field("values", format!("must have at most {MAX_FACT_ITEMS} items")));
    }
    let mut errors = FieldErrors::default();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else {
            errors.add(&format!("values[{i}]"), "must be an object");
            continue;
        };
        let metric_id = match obj.get("metric_id") {
            None | Some(Value::Null) => {
                errors.add(&format!("values[{i}].metric_id"), "is required");
                0
            }
            Some(v) => match v.as_i64() {
                Some(id) if id > 0 => id,
                _ => {
                    errors.add(&format!("values[{i}].metric_id"), "must be a positive integer");
                    0
                }
            },
        };
        let value = match obj.get("value") {
            Some(Value::String(s)) if s.trim().is_empty() => {
                errors.add(&format!("values[{i}].value"), "must not be blank");
                String::new()
            }
            Some(Value::String(s)) if s.chars().count() > MAX_FACT_VALUE => {
                errors.add(&format!("values[{i}].value"), format!("must be at most {MAX_FACT_VALUE} characters"));
                String::new()
            }
            Some(Value::String(s)) => s.trim().to_string(),
            None | Some(Value::Null) => {
                errors.add(&format!("values[{i}].value"), "is required");
                String::new()
            }
            Some(_) => {
                errors.add(&format!("values[{i}].value"), "must be a string");
                String::new()
            }
        };
        let mut reference = |field: &str| match obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if valid_ref(s) => Some(s.clone()),
            Some(_) => {
                errors.add(
                    &format!("values[{i}].{field}"),
                    format!("must be at most {MAX_REF} characters of letters, digits, ':', '_' and '-'"),
                );
                None
            }
        };
        let entity_ref = reference("entity_ref");
        let group_ref = reference("group_ref");
        out.push(NewFactValue { metric_id, value, entity_ref, group_ref });
    }
    errors.finish()?;
    Ok(out)
}

/// `GET /deals/{deal_id}/index/metric-definitions` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub metric_label: Option<String>,
    pub category_id: Option<i64>,
    pub page: u32,
    pub limit: u32,
}

pub fn parse_metric_query(raw_query: Option<&str>) -> Result<MetricQuery, ApiError> {
    let params = QueryParams::parse(raw_query)?;
    let mut q = MetricQuery { metric_label: None, category_id: None, page: 1, limit: 100 };
    for (key, value) in &params.pairs {
        match key.as_str() {
            "metric_label" => q.metric_label = search_param("metric_label", value)?,
            "category_id" => q.category_id = Some(positive_param("category_id", value)?),
            "page" => {
                q.page = integer(value)
                    .filter(|p| *p >= 1)
                    .map(|p| u32::try_from(p).unwrap_or(u32::MAX))
                    .ok_or_else(|| ApiError::invalid_field("page", "must be an integer greater than or equal to 1"))?
            }
            "limit" => q.limit = clamped_limit(value)?,
            _ => {}
        }
    }
    Ok(q)
}

/// Page-based `pagination` (index observations and metric definitions).
pub fn page_pagination(page: u32, limit: u32, total: i64) -> Value {
    let limit_i = i64::from(limit.max(1));
    let pages = (total + limit_i - 1) / limit_i;
    serde_json::json!({
        "page": page,
        "limit": limit,
        "total": total,
        "total_pages": pages,
        "has_more": i64::from(page) < pages,
    })
}

/// `pagination` of the lists that return everything at once.
pub fn whole_list_pagination(total: usize) -> Value {
    serde_json::json!({ "total": total, "has_more": false })
}

// ---------------------------------------------------------------------------------------------
// Deal index: full-text terms and scores
// ---------------------------------------------------------------------------------------------

/// English stop words (the Snowball list that PostgreSQL's `english` configuration also drops),
/// so both backends score a question against the same terms.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// The distinct search terms of a natural-language question: lower-case runs of letters and
/// digits, stop words and single letters dropped, at most 24, in order of appearance. Terms
/// hold only alphanumeric characters, so they are safe inside an FTS5 phrase.
pub fn search_terms(context: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in context.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let w = word.to_lowercase();
        let single_letter = w.chars().count() == 1 && !w.chars().all(|c| c.is_ascii_digit());
        if single_letter || STOP_WORDS.contains(&w.as_str()) || out.contains(&w) {
            continue;
        }
        out.push(w);
        if out.len() == MAX_SEARCH_TERMS {
            break;
        }
    }
    out
}

/// Score of a fact for a question, 0–1: mostly the share of the question's terms the fact
/// matches, plus the engine's own rank (BM25 on SQLite, `ts_rank` on PostgreSQL) relative to
/// the best candidate, so facts that match the same terms are still told apart.
pub fn blend_score(matched: usize, total: usize, strength: f64, best_strength: f64) -> f64 {
    if total == 0 || matched == 0 {
        return 0.0;
    }
    let coverage = matched.min(total) as f64 / total as f64;
    let relative =
        if best_strength > 0.0 && strength.is_finite() { (strength / best_strength).clamp(0.0, 1.0) } else { 0.0 };
    let s = 0.75 * coverage + 0.25 * relative;
    (s * 10_000.0).round() / 10_000.0
}

// ---------------------------------------------------------------------------------------------
// Signed file links
// ---------------------------------------------------------------------------------------------

/// What a signed link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTarget {
    Document(i64),
    MemoPdf { memo_id: i64, quality: &'static str },
}

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Malformed,
    BadSignature,
    Expired,
}

/// The key that signs file links. Kept in the database so every node shares it; `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkSecret([u8; 32]);

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret(..)")
    }
}

impl LinkSecret {
    pub fn generate() -> Result<LinkSecret, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(LinkSecret(bytes))
    }
    pub fn from_hex(s: &str) -> Option<LinkSecret> {
        let bytes = hex::decode(s).ok()?;
        Some(LinkSecret(bytes.try_into().ok()?))
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn quality_code(q: &str) -> Option<char> {
    Some(match q {
        "original" => 'o',
        "high" => 'h',
        "medium" => 'm',
        "low" => 'l',
        _ => return None,
    })
}

fn quality_from_code(c: &str) -> Option<&'static str> {
    Some(match c {
        "o" => "original",
        "h" => "high",
        "m" => "medium",
        "l" => "low",
        _ => return None,
    })
}

/// A link token: `v1.<kind>.<id>.<expires>.<mac>`, where kind is `d` (document) or `m` plus a
/// quality letter (memo PDF), `expires` is Unix seconds and `mac` the URL-safe base64 of the
/// HMAC-SHA256 of everything before it. Every character is URL-safe.
pub fn sign_file_link(secret: &LinkSecret, target: FileTarget, expires_at: u64) -> String {
    let payload = match target {
        FileTarget::Document(id) => format!("v1.d.{id}.{expires_at}"),
        FileTarget::MemoPdf { memo_id, quality } => {
            format!("v1.m{}.{memo_id}.{expires_at}", quality_code(quality).unwrap_or('o'))
        }
    };
    let mac = hmac_sha256(&secret.0, payload.as_bytes());
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// Checks a token: well-formed, signed with `secret`, not expired at `now` (Unix seconds).
/// The signature is checked before the expiry is believed.
pub fn verify_file_link(secret: &LinkSecret, token: &str, now: u64) -> Result<FileTarget, LinkError> {
    if token.len() > 160 {
        return Err(LinkError::Malformed);
    }
    let (payload, mac) = token.rsplit_once('.').ok_or(LinkError::Malformed)?;
    let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| LinkError::Malformed)?;
    let parts: Vec<&str> = payload.split('.').collect();
    let [version, kind, id, expires] = parts.as_slice() else {
        return Err(LinkError::Malformed);
    };
    if *version != "v1" {
        return Err(LinkError::Malformed);
    }
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    let id = number(id).and_then(|n| i64::try_from(n).ok()).filter(|n| *n > 0).ok_or(LinkError::Malformed)?;
    let expires = number(expires).ok_or(LinkError::Malformed)?;
    let target = match *kind {
        "d" => FileTarget::Document(id),
        k => match k.strip_prefix('m').and_then(quality_from_code) {
            Some(quality) => FileTarget::MemoPdf { memo_id: id, quality },
            None => return Err(LinkError::Malformed),
        },
    };
    let expected = hmac_sha256(&secret.0, payload.as_bytes());
    if !constant_time_eq(&expected, &mac) {
        return Err(LinkError::BadSignature);
    }
    if now >= expires {
        return Err(LinkError::Expired);
    }
    Ok(target)
}

// ---------------------------------------------------------------------------------------------
// Memo PDF
// ---------------------------------------------------------------------------------------------

const PDF_PAGE_W: u32 = 612;
const PDF_PAGE_H: u32 = 792;
const PDF_MARGIN: u32 = 54;
const PDF_LEADING: u32 = 14;
const PDF_WRAP: usize = 92;
const PDF_MAX_PAGES: usize = 40;

/// A character in the PDF's WinAnsi text encoding (what the standard Helvetica font uses);
/// characters it lacks become `?`.
fn win_ansi(c: char) -> u8 {
    match c {
        '\t' => b' ',
        ' '..='~' => c as u8,
        '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
        '\u{2014}' => 0x97,
        '\u{2013}' => 0x96,
        '\u{2018}' => 0x91,
        '\u{2019}' => 0x92,
        '\u{201c}' => 0x93,
        '\u{201d}' => 0x94,
        '\u{2022}' => 0x95,
        '\u{2026}' => 0x85,
        '\u{20ac}' => 0x80,
        _ => b'?',
    }
}

/// A PDF string literal: parentheses and backslashes escaped, bytes outside ASCII in octal.
fn pdf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('(');
    for c in text.chars() {
        let b = win_ansi(c);
        match b {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push(')');
    out
}

/// Word-wraps a paragraph to at most `width` characters per line (long words are cut).
fn wrap(paragraph: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in paragraph.split_whitespace() {
        let mut word: String = word.to_string();
        while word.chars().count() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
        }
        let needed =
            if line.is_empty() { word.chars().count() } else { line.chars().count() + 1 + word.chars().count() };
        if needed > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A small, valid PDF 1.4 document of the memo: the title in bold, a subtitle line, then the
/// text, word-wrapped over as many Letter pages as it needs (at most 40). Standard fonts only,
/// so nothing is embedded.
pub fn render_memo_pdf(title: &str, subtitle: &str, body: &str) -> Vec<u8> {
    // (font, size, text) per line; the title and subtitle open the first page.
    let mut lines: Vec<(&str, u32, String)> = Vec::new();
    for l in wrap(title, 60) {
        lines.push(("F2", 16, l));
    }
    lines.push(("F1", 9, subtitle.to_string()));
    lines.push(("F1", 10, String::new()));
    for paragraph in body.lines() {
        for l in wrap(paragraph, PDF_WRAP) {
            lines.push(("F1", 10, l));
        }
    }
    let per_page = ((PDF_PAGE_H - 2 * PDF_MARGIN) / PDF_LEADING) as usize;
    let pages: Vec<&[(&str, u32, String)]> = lines.chunks(per_page).take(PDF_MAX_PAGES).collect();

    // Objects: 1 catalog, 2 page tree, 3 Helvetica, 4 Helvetica-Bold, then a page and its
    // content stream for each page.
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let kids: Vec<String> = (0..pages.len()).map(|i| format!("{} 0 R", 5 + 2 * i)).collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), pages.len()).into_bytes());
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec());
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_vec());
    for (i, page) in pages.iter().enumerate() {
        let mut content = format!("BT\n{} TL\n{} {} Td\n", PDF_LEADING, PDF_MARGIN, PDF_PAGE_H - PDF_MARGIN);
        for (font, size, text) in page.iter() {
            content.push_str(&format!("/{font} {size} Tf\n{} Tj\nT*\n", pdf_string(text)));
        }
        content.push_str("ET\n");
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PDF_PAGE_W} {PDF_PAGE_H}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                6 + 2 * i
            )
            .into_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(content.as_bytes());
        stream.extend_from_slice(b"endstream");
        objects.push(stream);
    }

    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref_at = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

/// Groups rows by a key, keeping their order (used to attach child rows to parents).
pub fn group_by<K: Ord, V>(rows: Vec<V>, key: impl Fn(&V) -> K) -> BTreeMap<K, Vec<V>> {
    let mut out: BTreeMap<K, Vec<V>> = BTreeMap::new();
    for r in rows {
        out.entry(key(&r)).or_default().push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // Case 6: a key longer than the block is hashed first.
        let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn links_round_trip_and_refuse_tampering_and_expiry() {
        let secret = LinkSecret::generate().unwrap();
        let t = sign_file_link(&secret, FileTarget::Document(42), 1_000);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{t}");
        assert_eq!(verify_file_link(&secret, &t, 999), Ok(FileTarget::Document(42)));
        assert_eq!(verify_file_link(&secret, &t, 1_000), Err(LinkError::Expired));
        let other = LinkSecret::generate().unwrap();
        assert_eq!(verify_file_link(&other, &t, 10), Err(LinkError::BadSignature));
        // Changing the id or the expiry breaks the signature.
        let forged = t.replacen(".42.", ".43.", 1);
        assert_eq!(verify_file_link(&secret, &forged, 10), Err(LinkError::BadSignature));
        let extended = t.replacen(".1000.", ".9999999999.", 1);
        assert_eq!(verify_file_link(&secret, &extended, 10), Err(LinkError::BadSignature));
        for bad in [
            "",
            "v1.d.42.1000",
            "v2.d.42.1000.AAAA",
            "v1.x.42.1000.AAAA",
            "v1.d.-1.1000.AAAA",
            "v1.d.42.10e3.AAAA",
            "v1.d.42.1000.!!",
        ] {
            assert_eq!(verify_file_link(&secret, bad, 10), Err(LinkError::Malformed), "{bad}");
        }
        let m = sign_file_link(&secret, FileTarget::MemoPdf { memo_id: 7, quality: "medium" }, 50);
        assert_eq!(verify_file_link(&secret, &m, 1), Ok(FileTarget::MemoPdf { memo_id: 7, quality: "medium" }));
        assert_eq!(LinkSecret::from_hex(&secret.to_hex()), Some(secret.clone()));
        assert_eq!(format!("{secret:?}"), "LinkSecret(..)");
    }

    #[test]
    fn sot_refs() {
        assert_eq!(parse_sot_ref("d:5362").map(|r| r.sot_id), Some(5362));
        assert_eq!(parse_sot_ref("a:123:property:690").map(|r| r.sot_id), Some(123));
        for bad in ["", "5362", "d:", ":1", "d:abc", "d:0", "d 1:2", "d:1/2", "1:2"] {
            assert!(parse_sot_ref(bad).is_none(), "{bad}");
        }
        assert_eq!(sot_string(9, Some("property:4"), None), "a:9:property:4");
        assert_eq!(sot_string(9, None, Some("new-sponsor")), "g:9:new-sponsor");
        assert_eq!(sot_string(9, None, None), "d:9");
        assert_eq!(fact_slot(None, Some("x")), "group:x");
        assert_eq!(split_entity_ref("property:690"), Some(("property", 690)));
        assert_eq!(split_entity_ref("property:x"), None);
    }

    #[test]
    fn search_terms_drop_stop_words_and_repeats() {
        assert_eq!(
            search_terms("What is the in-place NOI for the trailing twelve months?"),
            ["place", "noi", "trailing", "twelve", "months"]
        );
        assert_eq!(search_terms("T-12 NOI noi"), ["12", "noi"]);
        assert!(search_terms("the of and").is_empty());
        assert_eq!(search_terms(&"word ".repeat(100)).len(), 1);
        let many: String = (0..100).map(|i| format!("w{i} ")).collect();
        assert_eq!(search_terms(&many).len(), MAX_SEARCH_TERMS);
    }

    #[test]
    fn scores_stay_in_range_and_reward_coverage() {
        assert_eq!(blend_score(0, 3, 1.0, 1.0), 0.0);
        assert_eq!(blend_score(3, 3, 2.0, 2.0), 1.0);
        assert!(blend_score(2, 3, 1.0, 2.0) < blend_score(3, 3, 1.0, 2.0));
        assert!(blend_score(1, 1, f64::NAN, 1.0) <= 1.0);
    }

    #[test]
    fn pdf_is_well_formed() {
        let body = "Sponsor: Harbor (Point) LLC \\ café — “quoted” €\n\n".repeat(200);
        let pdf = render_memo_pdf("Harbor Point — Financing Memorandum", "Published 2026-05-20", &body);
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let find = |needle: &[u8], from: usize| -> usize {
            from + pdf[from..].windows(needle.len()).position(|w| w == needle).unwrap()
        };
        let line_at = |at: usize| -> String {
            let end = find(b"\n", at);
            String::from_utf8(pdf[at..end].to_vec()).unwrap()
        };
        // Every xref entry points at the start of its object.
        let sx = find(b"startxref\n", 0) + 10;
        let xref_at: usize = line_at(sx).parse().unwrap();
        assert_eq!(&pdf[xref_at..xref_at + 5], b"xref\n");
        let count: usize = line_at(xref_at + 5).split(' ').nth(1).unwrap().parse().unwrap();
        assert!(count >= 7, "{count}");
        let first_entry = find(b"65535 f \n", xref_at) + 9;
        for i in 1..count {
            let entry = &pdf[first_entry + (i - 1) * 20..first_entry + i * 20];
            assert!(entry.ends_with(b" 00000 n \n"), "{:?}", String::from_utf8_lossy(entry));
            let off: usize = std::str::from_utf8(&entry[..10]).unwrap().parse().unwrap();
            assert!(pdf[off..].starts_with(format!("{i} 0 obj").as_bytes()), "object {i}");
        }
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Count "));
        assert!(text.contains("\\(Point\\)"));
        assert!(text.contains("caf\\351"));
        // Stream lengths are exact.
        let first = find(b"/Length ", 0);
        let len: usize = line_at(first + 8).split(' ').next().unwrap().parse().unwrap();
        let start = find(b"stream\n", first) + 7;
        assert_eq!(&pdf[start + len..start + len + 9], b"endstream");
    }

    #[test]
    fn wrap_respects_width() {
        let lines = wrap(&"abc ".repeat(50), 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20));
        assert_eq!(wrap(&"x".repeat(45), 20).len(), 3);
        assert_eq!(wrap("", 20), [""]);
    }

    #[test]
    fn task_bodies() {
        let t = parse_new_task(&obj(json!({"title": " Rent roll ", "section_id": 4}))).unwrap();
        assert_eq!((t.parent, t.title.as_str(), t.status), (TaskParent::Section(4), "Rent roll", "to_do"));
        let e = parse_new_task(&obj(json!({"title": "x", "section_id": 4, "checklist_id": 2}))).unwrap_err();
        assert_eq!(e.message, "Provide exactly one of section_id, checklist_id, or parent_task_id");
        let e = parse_new_task(&obj(json!({"title": "x"}))).unwrap_err();
        assert_eq!(e.status(), 422);
        let e = parse_new_task(&obj(json!({"title": " ", "checklist_id": "1", "status": "done"}))).unwrap_err();
        let f = e.details["fields"].as_object().unwrap();
        assert!(f.contains_key("title") && f.contains_key("checklist_id") && f.contains_key("status"), "{f:?}");

        let c =
            parse_task_changes(&obj(json!({"description": null, "due_date": null, "assigned_user_id": 3}))).unwrap();
        assert_eq!(c.description, Some(None));
        assert_eq!(c.assigned_user_id, Some(Some(3)));
        assert!(parse_task_changes(&Map::new()).unwrap().is_empty());
        let e = parse_task_changes(&obj(json!({"is_completed": true}))).unwrap_err();
        assert!(e.message.starts_with("is_completed accepts false only"));
        assert!(parse_task_changes(&obj(json!({"is_completed": false}))).unwrap().reopen);
        assert_eq!(parse_task_changes(&obj(json!({"title": null}))).unwrap_err().status(), 422);
        assert_eq!(
            parse_task_changes(&obj(json!({"document_type_ids": null}))).unwrap().document_type_ids,
            Some(vec![])
        );
    }

    #[test]
    fn index_bodies() {
        let s = parse_search(&obj(json!({"context": "noi", "limit": 5000}))).unwrap();
        assert_eq!((s.limit, s.min_score, s.include_signed_urls), (200, 0.3, false));
        assert_eq!(parse_search(&obj(json!({"context": "noi", "limit": -4}))).unwrap().limit, 1);
        let e = parse_search(&obj(json!({"context": "  "}))).unwrap_err();
        assert_eq!(e.message, "context must not be blank");
        assert_eq!(parse_search(&obj(json!({"context": "x", "min_score": 2}))).unwrap_err().status(), 422);
        assert_eq!(parse_search(&obj(json!({"context": "x", "limit": 2.5}))).unwrap_err().status(), 422);

        let e = parse_observations(&obj(json!({"page": 2}))).unwrap_err();
        assert_eq!(e.message, "Provide at least one of sot_id or metric_id");
        assert_eq!(parse_observations(&obj(json!({"sot_id": "bad"}))).unwrap_err().status(), 422);
        let o = parse_observations(&obj(json!({"metric_id": 3, "limit": 0}))).unwrap();
        assert_eq!((o.metric_id, o.limit, o.page), (Some(3), 1, 1));

        let e = parse_fact_patch(&obj(json!({"sot_id": "d:1", "value": "x", "observation_id": 2}))).unwrap_err();
        assert_eq!(e.message, "Provide exactly one of value or observation_id");
        assert_eq!(parse_fact_patch(&obj(json!({"sot_id": "d:1"}))).unwrap_err().status(), 422);
        assert_eq!(parse_fact_patch(&obj(json!({"value": "x"}))).unwrap_err().status(), 422);
        let p = parse_fact_patch(&obj(json!({"sot_id": "d:1", "observation_id": 2}))).unwrap();
        assert_eq!(p.change, FactChange::Observation(2));

        let e = parse_fact_insert(&obj(json!({"values": []}))).unwrap_err();
        assert_eq!(e.message, "values must contain at least one item");
        let e =
            parse_fact_insert(&obj(json!({"values": [{"metric_id": 1, "value": " "}, {"value": "x"}]}))).unwrap_err();
        let f = e.details["fields"].as_object().unwrap();
        assert!(f.contains_key("values[0].value") && f.contains_key("values[1].metric_id"), "{f:?}");
        let v =
            parse_fact_insert(&obj(json!({"values": [{"metric_id": 1, "value": "5", "entity_ref": "property:2"}]})))
                .unwrap();
        assert_eq!(v[0].entity_ref.as_deref(), Some("property:2"));
    }

    #[test]
    fn list_parameters() {
        let q = parse_document_query(Some("limit=900&extension=.PDF&fields=file_name")).unwrap();
        assert_eq!((q.limit, q.extension.as_deref()), (200, Some("pdf")));
        assert_eq!(q.fields.unwrap(), ["id", "vault", "file_name"]);
        assert_eq!(parse_document_query(Some("limit=0")).unwrap().limit, 1);
        let e = parse_document_query(Some("limit=ten")).unwrap_err();
        assert_eq!((e.status(), e.message.as_str()), (422, "limit must be an integer"));
        let e = parse_document_query(Some("filter[extension]=pdf")).unwrap_err();
        assert_eq!(e.message, "This endpoint does not accept filter parameters");
        assert_eq!(parse_document_query(Some("fields=nope")).unwrap_err().status(), 422);
        assert_eq!(parse_document_query(Some("cursor=zzz")).unwrap_err().status(), 400);
        assert_eq!(parse_document_query(Some("limit=1&limit=2")).unwrap_err().status(), 400);

        let m = parse_memo_query(Some("filter[status]=draft&filter[pdf_ready]=false&offset=5")).unwrap();
        assert_eq!((m.status, m.pdf_ready, m.offset, m.limit), (Some("draft"), Some(false), 5, 50));
        assert_eq!(parse_memo_query(Some("filter[status]=final")).unwrap_err().status(), 422);
        assert_eq!(parse_memo_query(Some("filter[owner]=x")).unwrap_err().status(), 422);
        assert_eq!(parse_memo_query(Some("offset=-1")).unwrap_err().status(), 422);

        assert_eq!(parse_memo_quality(None).unwrap(), "original");
        let e = parse_memo_quality(Some("quality=bogus")).unwrap_err();
        assert_eq!(
            (e.status(), e.message.as_str()),
            (400, "Invalid quality: bogus. Allowed: original, high, medium, low")
        );

        let mq = parse_metric_query(Some("metric_label=noi&limit=1000&page=2")).unwrap();
        assert_eq!((mq.limit, mq.page, mq.metric_label.as_deref()), (200, 2, Some("noi")));
        assert_eq!(parse_metric_query(None).unwrap().limit, 100);
        assert_eq!(parse_metric_query(Some("category_id=0")).unwrap_err().status(), 422);
        assert_eq!(parse_metric_query(Some("page=0")).unwrap_err().status(), 422);
    }

    #[test]
    fn values_are_checked_against_metric_types() {
        assert!(check_value("currency", "$615,000").is_ok());
        assert!(check_value("percent", "93%").is_ok());
        assert!(check_value("currency", "a lot").is_err());
        assert!(check_value("integer", "12.5").is_err());
        assert!(check_value("date", "2026-02-30").is_err());
        assert!(check_value("text", "anything").is_ok());
    }

    #[test]
    fn file_names_and_folders() {
        assert_eq!(file_extension("Rent Roll May.PDF").as_deref(), Some("pdf"));
        assert_eq!(file_extension("README"), None);
        assert_eq!(file_extension(".env"), None);
        assert!(valid_file_name("T12 (2026).xlsx"));
        assert!(!valid_file_name("../etc/passwd"));
        assert!(!valid_file_name("a\nb"));
        assert_eq!(normalize_folder_path(" Financials / 2026/ ").as_deref(), Some("Financials/2026"));
        assert_eq!(normalize_folder_path("a/../b"), None);
        assert!(is_content_id(&content_id(b"x")));
        assert!(!is_content_id("../../etc/passwd"));
        let cd = content_disposition("Rent \"Roll\"\r\n é.pdf");
        assert!(cd.is_ascii() && !cd.contains('\r') && !cd.contains('\n'), "{cd}");
        assert!(cd.contains("filename*=UTF-8''Rent%20%22Roll%22%0D%0A%20%C3%A9.pdf"), "{cd}");
    }

    #[test]
    fn checklists_assemble_into_trees() {
        let task = |id: i64, section: Option<i64>, parent: Option<i64>| ChecklistTask {
            id,
            title: format!("t{id}"),
            description: None,
            status: "to_do".into(),
            is_completed: false,
            position: id,
            due_date: None,
            role: None,
            assignee: None,
            assigned_team: None,
            collaborators: vec![],
            document_types: vec![],
            files: vec![],
            subtasks: vec![],
            checklist_id: 1,
            section_id: section,
            parent_task_id: parent,
        };
        let heads = vec![ChecklistHead { id: 1, vault: VaultRef { id: 9, vault_type: "shared".into(), title: None } }];
        let sections = vec![ChecklistSection {
            id: 5,
            name: "Financials".into(),
            position: 1,
            start_date: None,
            end_date: None,
            tasks: vec![],
            checklist_id: 1,
        }];
        let tasks =
            vec![task(1, Some(5), None), task(2, None, None), task(3, Some(5), Some(1)), task(4, None, Some(99))];
        let out = assemble_checklists(heads, sections, tasks);
        assert_eq!(out[0].sections[0].tasks[0].id, 1);
        assert_eq!(out[0].sections[0].tasks[0].subtasks[0].id, 3);
        assert_eq!(out[0].tasks.iter().map(|t| t.id).collect::<Vec<_>>(), [2]);
    }
}
