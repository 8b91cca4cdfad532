//! Deal data operations: vaults, documents and signed download links, checklists and tasks
//! (task notes use the shared notes service), memos with their PDFs, and the deal index.
//!
//! Every operation checks its scope first, then finds the deal (or task) in the caller's
//! account — another account's record is a 404 like a missing one — then applies its rules.
//!
//! Files live in the data directory under `objects/<2 hex>/<content id>`, named by the SHA-256
//! of their bytes, never by a caller's file name. They leave the server only through
//! `GET /files/{token}`: a short-lived link signed with HMAC-SHA256 under a secret kept in the
//! database, so any node can check a link another node issued.
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use levd_domain::deal_data::{
    DealDocument, DealDocumentDownload, DealIndexEntity, DealIndexFactInsertResponse, DealIndexMetricDefinition,
    DealMemoDetail, ENTITY_DEAL, ENTITY_PROPERTY, ENTITY_SPONSOR, FILE_LINK_TTL_SECS, FactChange, FactInsertResult,
    FactRecord, FileTarget, IdentifyingMetric, LinkError, LinkSecret, MAX_FILE_BYTES, MEMO_QUALITIES, MemoPdfVersion,
    MemoRecord, NewDocument, NewObservation, RecordedObservation, SOURCE_USER_INPUT, TaskParent, TaskPlace,
    USER_INPUT_WEIGHT, VAULT_RESOURCES, VAULT_SHARED, Vault, blend_score, check_value, content_id, content_type_for,
    fact_slot, file_extension, is_content_id, normalize_folder_path, page_pagination, parse_checklist_query,
    parse_document_fields, parse_document_query, parse_fact_insert, parse_fact_patch, parse_memo_quality,
    parse_memo_query, parse_metric_query, parse_new_task, parse_observations, parse_search, parse_task_changes,
    render_memo_pdf, search_terms, sign_file_link, valid_file_name, verify_file_link, whole_list_pagination,
};
use levd_domain::input::{parse_object, parse_optional_object};
use levd_domain::query::encode_cursor;
use levd_domain::scope::{AccountScope, Scope};
use levd_domain::time_fmt::now_rfc3339;
use levd_domain::{ApiError, ErrorKind};
use levd_store::StoreError;
use serde::Serialize;
use serde_json::{Value, json};

use crate::notes::NoteParent;
use crate::records::deal_not_found;
use crate::shape::Shaped;
use crate::{Page, Record, Service, cursor_pagination, offset_pagination, written_items, written_record};

/// A file a valid link opens: where it is and how to present it. The path stays inside the
/// server.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedFile {
    pub path: PathBuf,
    pub file_name: String,
    pub content_type: &'static str,
}

/// What `levd admin document add` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddedDocument {
    pub deal_id: i64,
    pub document: Value,
    pub content_id: String,
    pub vault_created: bool,
}

/// Messages of the index operations when the store fails (the reference's 503 texts).
const SEARCH_UNAVAILABLE: &str = "Deal data search is temporarily unavailable. Try again shortly.";
const OBSERVATIONS_UNAVAILABLE: &str = "Deal observations are temporarily unavailable. Please try again shortly.";
const FACT_UPDATE_UNAVAILABLE: &str = "Deal fact update is temporarily unavailable. Please try again shortly.";
const FACT_INSERT_UNAVAILABLE: &str = "Deal fact insert is temporarily unavailable. Please try again shortly.";
const METRICS_UNAVAILABLE: &str = "Deal metric definitions are temporarily unavailable. Please try again shortly.";
const ENTITIES_UNAVAILABLE: &str = "Deal entities are temporarily unavailable. Please try again shortly.";

fn unavailable(message: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| {
        tracing::error!(error = %e, "deal index store failure");
        ApiError::unavailable(message)
    }
}

fn task_not_found() -> ApiError {
    ApiError::not_found("Checklist task not found")
}

fn vault_not_found() -> ApiError {
    ApiError::not_found("Vault not found")
}

/// Documents with the members `fields=` selected (the parser always keeps `id` and `vault`).
fn shaped_documents<'a>(docs: &'a [DealDocument], fields: Option<&'a [&'static str]>) -> Vec<Shaped<'a, DealDocument>> {
    docs.iter().map(|record| Shaped { record, fields, extra: &[] }).collect()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `<api_base>/files/<token>`; `api_base` is the canonical API root as the client reached it
/// (scheme and `Host` of the request, see the HTTP handlers).
fn file_url(api_base: &str, token: &str) -> String {
    format!("{api_base}/files/{token}")
}

/// A link to `target` valid for [`FILE_LINK_TTL_SECS`].
fn signed_url_with(secret: &LinkSecret, api_base: &str, target: FileTarget) -> String {
    file_url(api_base, &sign_file_link(secret, target, unix_now() + FILE_LINK_TTL_SECS))
}

impl Service {
    // -----------------------------------------------------------------------------------------
    // Shared steps
    // -----------------------------------------------------------------------------------------

    /// The secret signing file links, made on first use and shared by every node.
    async fn link_secret(&self) -> Result<LinkSecret, ApiError> {
        let stored = match self.store.file_link_secret().await? {
            Some(s) => s,
            None => {
                let candidate = LinkSecret::generate().map_err(|e| {
                    tracing::error!(error = %e, "no randomness for the file-link secret");
                    ApiError::internal()
                })?;
                self.store.init_file_link_secret(&candidate.to_hex(), &now_rfc3339()).await?
            }
        };
        LinkSecret::from_hex(&stored).ok_or_else(|| {
            tracing::error!("stored file-link secret is not 32 bytes of hex");
            ApiError::internal()
        })
    }

    async fn signed_url(&self, api_base: &str, target: FileTarget) -> Result<String, ApiError> {
        Ok(signed_url_with(&self.link_secret().await?, api_base, target))
    }

    /// Where the file with this content id lives (`None` for anything that is not a content id,
    /// so no caller-influenced text ever becomes a path).
    fn content_path(&self, content_id: &str) -> Option<PathBuf> {
        is_content_id(content_id).then(|| self.data_dir.join("objects").join(&content_id[..2]).join(content_id))
    }

    /// Stores bytes in the data directory under their content id (written to a temporary name
    /// and renamed, so a reader never sees half a file); returns the content id. The files are
    /// small (memo PDFs, admin uploads), so plain blocking I/O is used.
    pub fn store_content(&self, bytes: &[u8]) -> std::io::Result<String> {
        let id = content_id(bytes);
        let Some(path) = self.content_path(&id) else {
            return Err(std::io::Error::other("content id is not hex"));
        };
        if path.is_file() {
            return Ok(id);
        }
        if let Some(dir) = path.parent() {
            levd_store::private_dir(dir)?;
        }
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let tmp = path.with_extension(format!("tmp-{}-{nanos}", std::process::id()));
        // Owner-only, like every file levd creates.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(&tmp)?, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(id)
    }

    // -----------------------------------------------------------------------------------------
    // Vaults and documents
    // -----------------------------------------------------------------------------------------

    /// `GET /deals/{deal_id}/vaults`.
    pub async fn list_vaults(&self, scope: &AccountScope, deal_id: i64) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DocumentsRead)?;
        let account = self.deal_account(&grant, deal_id).await?;
        self.store.ensure_deal_vaults(account, deal_id, &now_rfc3339()).await?;
        let vaults = self.store.list_vaults(account, deal_id).await?;
        Ok(Page {
            pagination: whole_list_pagination(vaults.len()),
            items: written_items("the vaults of a deal", &vaults)?,
        })
    }

    /// The vault named by `vault_id`, which must belong to the deal.
    async fn deal_vault(&self, account: i64, deal_id: i64, vault_id: i64) -> Result<Vault, ApiError> {
        self.store.vault(account, deal_id, vault_id).await?.ok_or_else(vault_not_found)
    }

    /// The document named by `document_id`, which must belong to the deal.
    async fn deal_document(&self, account: i64, deal_id: i64, document_id: i64) -> Result<DealDocument, ApiError> {
        self.store
            .document(account, deal_id, document_id)
            .await?
            .ok_or_else(|| ApiError::not_found("Document not found"))
    }

    /// `GET /deals/{deal_id}/documents`.
    pub async fn list_documents(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        raw_query: Option<&str>,
    ) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DocumentsRead)?;
        let q = parse_document_query(raw_query)?;
        let account = self.deal_account(&grant, deal_id).await?;
        if let Some(v) = q.vault_id {
            self.store.ensure_deal_vaults(account, deal_id, &now_rfc3339()).await?;
            self.deal_vault(account, deal_id, v).await?;
        }
        let (mut docs, total) = self.store.list_documents(account, deal_id, &q).await?;
        let has_more = docs.len() > q.limit as usize;
        docs.truncate(q.limit as usize);
        let next = if has_more { docs.last().map(|d| encode_cursor(d.id)) } else { None };
        let raw = q.cursor.as_ref().map(|(_, raw)| raw.as_str());
        Ok(Page {
            items: written_items("a page of documents", &shaped_documents(&docs, q.fields.as_deref()))?,
            pagination: cursor_pagination(total, q.limit, raw, has_more, next),
        })
    }

    /// `GET /deals/{deal_id}/documents/{document_id}`.
    pub async fn get_document(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        document_id: i64,
        raw_query: Option<&str>,
    ) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DocumentsRead)?;
        let fields = parse_document_fields(raw_query)?;
        let account = self.deal_account(&grant, deal_id).await?;
        let doc = self.deal_document(account, deal_id, document_id).await?;
        written_record("a document", &Shaped { record: &doc, fields: fields.as_deref(), extra: &[] })
    }

    /// `GET /deals/{deal_id}/documents/{document_id}/download`: a link valid for five minutes.
    pub async fn document_download(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        document_id: i64,
        api_base: &str,
    ) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DocumentsRead)?;
        let account = self.deal_account(&grant, deal_id).await?;
        let doc = self.deal_document(account, deal_id, document_id).await?;
        let download_url = self.signed_url(api_base, FileTarget::Document(doc.id)).await?;
        let download = DealDocumentDownload { file_name: doc.file_name, download_url, expires_in: FILE_LINK_TTL_SECS };
        written_record("a download link", &download)
    }

    /// `GET /files/{token}`: checks the link (well-formed, signed by us, not expired) and finds
    /// the file it opens. No credential: the signature is the authorisation.
    pub async fn open_file_link(&self, token: &str) -> Result<LinkedFile, ApiError> {
        // A link is never made with a NUL, but the token is text of the request like any other
        // path segment (`docs/api.md#bodies`).
        if !levd_domain::input::storable(token) {
            return Err(ApiError::invalid_field("token", levd_domain::input::NUL_PROBLEM));
        }
        let secret = self.link_secret().await?;
        let target = verify_file_link(&secret, token, unix_now()).map_err(|e| match e {
            LinkError::Expired => ApiError::forbidden("This file link has expired; request a new one"),
            LinkError::Malformed | LinkError::BadSignature => ApiError::forbidden("Invalid file link signature"),
        })?;
        let gone = || ApiError::not_found("File not found");
        match target {
            FileTarget::Document(id) => {
                let doc = self.store.document_for_link(id).await?.ok_or_else(gone)?;
                let path = doc.content_id.as_deref().and_then(|c| self.content_path(c)).ok_or_else(gone)?;
                if !path.is_file() {
                    tracing::warn!(document_id = id, "document file missing from the data directory");
                    return Err(gone());
                }
                Ok(LinkedFile {
                    path,
                    file_name: doc.file_name.clone().unwrap_or_else(|| format!("document-{id}")),
                    content_type: content_type_for(doc.extension.as_deref()),
                })
            }
            FileTarget::MemoPdf { memo_id, quality } => {
                let memo = self.store.memo_for_link(memo_id).await?.ok_or_else(gone)?;
                if !memo.pdf_ready() {
                    return Err(gone());
                }
                let path = self.memo_pdf(&memo).await?;
                let suffix = if quality == "original" { String::new() } else { format!(" ({quality})") };
                Ok(LinkedFile {
                    path,
                    file_name: format!("{}{suffix}.pdf", memo.title.replace(['/', '\\'], "-")),
                    content_type: content_type_for(Some("pdf")),
                })
            }
        }
    }

    /// `levd admin document add`: stores the bytes and records the document in a vault of the
    /// deal — the named vault (matched case-insensitively; a new Deal Room when no vault has
    /// that title) or, without a name, the deal's Resources vault.
    pub async fn add_document(
        &self,
        deal_id: i64,
        vault_title: Option<&str>,
        folder: Option<&str>,
        file_name: &str,
        bytes: &[u8],
        document_type_id: Option<i64>,
    ) -> Result<AddedDocument, ApiError> {
        if !valid_file_name(file_name) {
            return Err(ApiError::invalid_field("file_name", "must be 1-255 characters without '/', '\\' or controls"));
        }
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ApiError::invalid_field("file", format!("must be at most {MAX_FILE_BYTES} bytes")));
        }
        let folder = match folder {
            Some(f) => Some(normalize_folder_path(f).ok_or_else(|| {
                ApiError::invalid_field("folder", "must be a path like Financials/2026 without '.' or '..' segments")
            })?),
            None => None,
        };
        let account = self.store.deal_owner(deal_id).await?.ok_or_else(deal_not_found)?;
        let now = now_rfc3339();
        self.store.ensure_deal_vaults(account, deal_id, &now).await?;
        let vaults = self.store.list_vaults(account, deal_id).await?;
        let wanted = vault_title.map(str::trim).filter(|t| !t.is_empty());
        let (vault, vault_created) = match wanted {
            None => {
                let v = vaults.into_iter().find(|v| v.vault_type == VAULT_RESOURCES).ok_or_else(vault_not_found)?;
                (v, false)
            }
            Some(title) => {
                let found = vaults
                    .into_iter()
                    .find(|v| v.title.as_deref().is_some_and(|t| t.to_lowercase() == title.to_lowercase()));
                match found {
                    Some(v) => (v, false),
                    None => {
                        if title.chars().count() > 255 {
                            return Err(ApiError::invalid_field("vault", "must be at most 255 characters"));
                        }
                        (self.store.insert_vault(account, deal_id, VAULT_SHARED, title, &now).await?, true)
                    }
                }
            }
        };
        let folder_id = match &folder {
            Some(path) => Some(self.store.folder_id(account, vault.id, path).await?),
            None => None,
        };
        let content_id = self.store_content(bytes).map_err(|e| {
            tracing::error!(error = %e, dir = %self.data_dir.display(), "cannot write to the data directory");
            ApiError::internal().with_detail("reason", format!("cannot write to the data directory: {e}"))
        })?;
        let new = NewDocument {
            file_name: file_name.trim().to_string(),
            extension: file_extension(file_name.trim()),
            size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            folder_path: folder,
            content_id: content_id.clone(),
            document_type_id,
        };
        let doc = self.store.insert_document(account, deal_id, vault.id, folder_id, &new, &now).await?;
        // The command prints the outcome as JSON; the document is a tree there.
        let document = serde_json::to_value(&doc).map_err(|e| {
            tracing::error!(error = %e, "cannot serialise a document");
            ApiError::internal()
        })?;
        Ok(AddedDocument { deal_id, document, content_id, vault_created })
    }

    // -----------------------------------------------------------------------------------------
    // Checklists and tasks
    // -----------------------------------------------------------------------------------------

    /// `GET /deals/{deal_id}/checklists`.
    pub async fn list_checklists(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        raw_query: Option<&str>,
    ) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::ChecklistsRead)?;
        let vault_id = parse_checklist_query(raw_query)?;
        let account = self.deal_account(&grant, deal_id).await?;
        self.store.ensure_deal_vaults(account, deal_id, &now_rfc3339()).await?;
        if let Some(v) = vault_id {
            self.deal_vault(account, deal_id, v).await?;
        }
        let lists = self.store.list_checklists(account, deal_id, vault_id).await?;
        Ok(Page {
            pagination: whole_list_pagination(lists.len()),
            items: written_items("the checklists of a deal", &lists)?,
        })
    }

    /// Document type ids must name catalog entries; an assignee must be an active member.
    async fn check_task_refs(
        &self,
        account: i64,
        document_type_ids: Option<&[i64]>,
        assignee: Option<i64>,
    ) -> Result<(), ApiError> {
        if let Some(ids) = document_type_ids {
            let unknown = self.store.unknown_document_types(ids).await?;
            if !unknown.is_empty() {
                let list: Vec<String> = unknown.iter().map(i64::to_string).collect();
                return Err(ApiError::invalid_field(
                    "document_type_ids",
                    format!("contains unknown document type ids: {}", list.join(", ")),
                ));
            }
        }
        if let Some(user) = assignee
            && !self.store.is_active_member(account, user).await?
        {
            return Err(ApiError::bad_request("assigned_user_id must belong to an active user in your account"));
        }
        Ok(())
    }

    async fn task_record(&self, account: i64, task_id: i64) -> Result<Record, ApiError> {
        let task = self.store.task(account, task_id).await?.ok_or_else(task_not_found)?;
        written_record("a checklist task", &task)
    }

    /// `POST /checklist-tasks`.
    pub async fn create_task(&self, scope: &AccountScope, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::ChecklistsWrite)?;
        let account = grant.account_id();
        let input = parse_new_task(&parse_object(body)?)?;
        let missing = || ApiError::not_found("Section, checklist, or parent task not found");
        let place = match input.parent {
            TaskParent::Section(id) => {
                let checklist_id = self.store.section_checklist(account, id).await?.ok_or_else(missing)?;
                TaskPlace { checklist_id, section_id: Some(id), parent_task_id: None }
            }
            TaskParent::Checklist(id) => {
                if !self.store.checklist_exists(account, id).await? {
                    return Err(missing());
                }
                TaskPlace { checklist_id: id, section_id: None, parent_task_id: None }
            }
            TaskParent::Task(id) => {
                let parent = self.store.task_place(account, id).await?.ok_or_else(missing)?;
                if parent.parent_task_id.is_some() {
                    return Err(ApiError::invalid_field(
                        "parent_task_id",
                        "must name a top-level task; subtasks are one level deep",
                    ));
                }
                TaskPlace { checklist_id: parent.checklist_id, section_id: parent.section_id, parent_task_id: Some(id) }
            }
        };
        self.check_task_refs(account, Some(&input.document_type_ids), input.assigned_user_id).await?;
        let id = self.store.insert_task(account, place, &input, &now_rfc3339()).await?;
        self.task_record(account, id).await
    }

    /// `PATCH /checklist-tasks/{task_id}`. An empty body changes nothing and returns the task.
    pub async fn update_task(&self, scope: &AccountScope, task_id: i64, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::ChecklistsWrite)?;
        let account = grant.account_id();
        let changes = parse_task_changes(&parse_optional_object(body)?)?;
        self.store.task_place(account, task_id).await?.ok_or_else(task_not_found)?;
        if !changes.is_empty() {
            self.check_task_refs(account, changes.document_type_ids.as_deref(), changes.assigned_user_id.flatten())
                .await?;
            if !self.store.update_task(account, task_id, &changes, &now_rfc3339()).await? {
                return Err(task_not_found());
            }
        }
        self.task_record(account, task_id).await
    }

    /// `POST /checklist-tasks/{task_id}/complete`: sets `is_completed`, leaves `status` alone
    /// (the two are independent); completing a completed task answers the same. The body names
    /// nothing, but it is read like any other (`docs/api.md#bodies`): a JSON object when
    /// present, no NUL in its text.
    pub async fn complete_task(&self, scope: &AccountScope, task_id: i64, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::ChecklistsWrite)?;
        parse_optional_object(body)?;
        let account = grant.account_id();
        if !self.store.complete_task(account, task_id, &now_rfc3339()).await? {
            return Err(task_not_found());
        }
        self.task_record(account, task_id).await
    }

    /// Task notes: the scope of the notes family, then the task must be the account's.
    pub async fn task_for_notes(&self, scope: &AccountScope, task_id: i64, write: bool) -> Result<(), ApiError> {
        Self::note_scope(scope, NoteParent::ChecklistTask, write)?;
        self.store
            .task_place(scope.account_id, task_id)
            .await?
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(NoteParent::ChecklistTask.not_found()))
    }

    // -----------------------------------------------------------------------------------------
    // Memos
    // -----------------------------------------------------------------------------------------

    /// `GET /deals/{deal_id}/memos`.
    pub async fn list_memos(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        raw_query: Option<&str>,
        api_base: &str,
    ) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let q = parse_memo_query(raw_query)?;
        let account = self.deal_account(&grant, deal_id).await?;
        if let Some(v) = q.vault_id {
            self.deal_vault(account, deal_id, v).await?;
        }
        let (mut memos, total) = self.store.list_memos(account, deal_id, &q).await?;
        let has_more = memos.len() > q.limit as usize;
        memos.truncate(q.limit as usize);
        Ok(Page {
            items: written_items("a page of memos", &memos.iter().map(|m| m.to_memo(api_base)).collect::<Vec<_>>())?,
            pagination: offset_pagination(total, q.limit, q.offset, has_more),
        })
    }

    /// `GET /deals/{deal_id}/memos/{memo_uuid}`: the memo with a signed link to each rendered
    /// variant. A memo whose PDF has not rendered (a draft) has no links.
    pub async fn get_memo(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        memo_uuid: &str,
        raw_query: Option<&str>,
        api_base: &str,
    ) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let quality = parse_memo_quality(raw_query)?;
        let account = self.deal_account(&grant, deal_id).await?;
        let memo =
            if memo_uuid.len() <= 64 { self.store.memo_by_uuid(account, deal_id, memo_uuid).await? } else { None };
        let memo = memo.ok_or_else(|| ApiError::not_found("Memo not found"))?;
        let mut versions = Vec::with_capacity(MEMO_QUALITIES.len());
        let mut pdf_url = None;
        if memo.pdf_ready() {
            // The PDF is written to the data directory on the first request that needs it.
            self.memo_pdf(&memo).await?;
        }
        let secret = if memo.pdf_ready() { Some(self.link_secret().await?) } else { None };
        for q in MEMO_QUALITIES {
            let url = secret
                .as_ref()
                .map(|s| signed_url_with(s, api_base, FileTarget::MemoPdf { memo_id: memo.id, quality: q }));
            if *q == quality {
                pdf_url = url.clone();
            }
            versions.push(MemoPdfVersion {
                quality: Some((*q).to_string()),
                status: Some(memo.pdf_generation_status.clone()),
                pdf_url: url,
            });
        }
        let detail = DealMemoDetail { memo: memo.to_memo(api_base), pdf_url, pdf_versions: versions };
        written_record("a memo", &detail)
    }

    /// The path of a memo's PDF, rendering and storing it first when needed.
    async fn memo_pdf(&self, memo: &MemoRecord) -> Result<PathBuf, ApiError> {
        if let Some(path) = memo.pdf_content_id.as_deref().and_then(|c| self.content_path(c))
            && path.is_file()
        {
            return Ok(path);
        }
        let subtitle = format!(
            "{} - {} - {}",
            memo.memo_type.replace('_', " "),
            memo.status,
            memo.published_at.as_deref().unwrap_or(&memo.updated_at)
        );
        let pdf = render_memo_pdf(&memo.title, &subtitle, &memo.body);
        let id = self.store_content(&pdf).map_err(|e| {
            tracing::error!(error = %e, dir = %self.data_dir.display(), "cannot write a memo PDF");
            ApiError::internal()
        })?;
        self.store.set_memo_pdf(memo.id, &id).await?;
        self.content_path(&id).ok_or_else(ApiError::internal)
    }

    // -----------------------------------------------------------------------------------------
    // Deal index
    // -----------------------------------------------------------------------------------------

    /// Adds a signed link to each document-backed source when asked.
    async fn sign_sources(
        &self,
        api_base: &str,
        sources: Vec<&mut levd_domain::deal_data::DealIndexSource>,
    ) -> Result<(), ApiError> {
        let secret = self.link_secret().await?;
        let mut has_file: std::collections::HashMap<i64, bool> = std::collections::HashMap::new();
        for s in sources {
            let Some(doc_id) = s.document_id else { continue };
            let available = match has_file.get(&doc_id) {
                Some(a) => *a,
                None => {
                    let doc = self.store.document_for_link(doc_id).await?;
                    let a = doc.and_then(|d| d.content_id).is_some();
                    has_file.insert(doc_id, a);
                    a
                }
            };
            if available {
                s.signed_url = Some(signed_url_with(&secret, api_base, FileTarget::Document(doc_id)));
            } else {
                s.signed_url_error = Some("document_file_unavailable".to_string());
            }
        }
        Ok(())
    }

    /// `POST /deals/{deal_id}/index/search`: the deal's facts ranked against the question by
    /// the database's full-text engine (see `Store::search_facts`), scored 0–1.
    pub async fn search_index(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        body: &[u8],
        api_base: &str,
    ) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let input = parse_search(&parse_object(body)?)?;
        let account = self.deal_account(&grant, deal_id).await?;
        let terms = search_terms(&input.context);
        let hits = self.store.search_facts(account, deal_id, &terms).await.map_err(unavailable(SEARCH_UNAVAILABLE))?;
        let best = hits.iter().map(|h| h.strength).fold(0.0_f64, f64::max);
        let mut scored: Vec<(i64, f64)> = hits
            .iter()
            .map(|h| (h.fact_id, blend_score(h.matched_terms, terms.len(), h.strength, best)))
            .filter(|(_, s)| *s > 0.0 && *s >= input.min_score)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let total = scored.len();
        scored.truncate(input.limit as usize);
        let ids: Vec<i64> = scored.iter().map(|(id, _)| *id).collect();
        let facts = self.store.facts(account, deal_id, Some(&ids)).await.map_err(unavailable(SEARCH_UNAVAILABLE))?;
        let mut results: Vec<_> = scored
            .iter()
            .filter_map(|(id, score)| facts.iter().find(|f| f.sot_id == *id).map(|f| f.to_search_result(*score)))
            .collect();
        if input.include_signed_urls {
            self.sign_sources(api_base, results.iter_mut().map(|r| &mut r.source).collect()).await?;
        }
        Ok(Page {
            pagination: json!({ "total": total, "limit": input.limit, "has_more": total > results.len() }),
            items: written_items("deal index search results", &results)?,
        })
    }

    /// A fact named by a prefixed SOT string: the number must name a fact of the deal and the
    /// whole string must be that fact's own.
    async fn fact_by_ref(
        &self,
        account: i64,
        deal_id: i64,
        sot: &levd_domain::deal_data::SotRef,
        on_error: &'static str,
    ) -> Result<FactRecord, ApiError> {
        let fact = self.store.fact(account, deal_id, sot.sot_id).await.map_err(unavailable(on_error))?;
        fact.filter(|f| f.sot_ref() == sot.raw).ok_or_else(|| ApiError::not_found("Fact not found"))
    }

    /// `POST /deals/{deal_id}/index/observations`.
    pub async fn list_observations(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        body: &[u8],
        api_base: &str,
    ) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let input = parse_observations(&parse_object(body)?)?;
        let account = self.deal_account(&grant, deal_id).await?;
        let (metric_id, slot, entity_ref) = match &input.sot {
            Some(sot) => {
                let fact = self.fact_by_ref(account, deal_id, sot, OBSERVATIONS_UNAVAILABLE).await?;
                (fact.metric.id, Some(fact_slot(fact.entity_ref.as_deref(), fact.group_ref.as_deref())), None)
            }
            None => {
                let metric_id = input.metric_id.unwrap_or(0);
                let known = self.store.metrics(&[metric_id]).await.map_err(unavailable(OBSERVATIONS_UNAVAILABLE))?;
                if known.is_empty() {
                    return Err(ApiError::invalid_field("metric_id", "does not name a metric definition"));
                }
                (metric_id, None, input.entity_ref.clone())
            }
        };
        let (rows, total) = self
            .store
            .list_observations(
                account,
                deal_id,
                metric_id,
                slot.as_deref(),
                entity_ref.as_deref(),
                (input.page, input.limit),
            )
            .await
            .map_err(unavailable(OBSERVATIONS_UNAVAILABLE))?;
        let mut items: Vec<_> = rows.iter().map(|o| o.to_observation()).collect();
        if input.include_signed_urls {
            self.sign_sources(api_base, items.iter_mut().map(|o| &mut o.source).collect()).await?;
        }
        Ok(Page {
            items: written_items("a page of observations", &items)?,
            pagination: page_pagination(input.page, input.limit, total),
        })
    }

    /// `PATCH /deals/{deal_id}/index/facts`: free text (a manual value, without provenance) or
    /// the promotion of one of the fact's own observations (keeping its provenance).
    pub async fn update_fact(&self, scope: &AccountScope, deal_id: i64, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        let input = parse_fact_patch(&parse_object(body)?)?;
        let account = self.deal_account(&grant, deal_id).await?;
        let fail = unavailable(FACT_UPDATE_UNAVAILABLE);
        let fact = self.fact_by_ref(account, deal_id, &input.sot, FACT_UPDATE_UNAVAILABLE).await?;
        if !fact.metric.editable {
            return Err(ApiError::new(ErrorKind::Validation, "Metric is not editable")
                .with_detail("fields", json!({"sot_id": "names a fact of a metric that is not editable"})));
        }
        let now = now_rfc3339();
        match input.change {
            FactChange::Value(v) => {
                check_value(&fact.metric.value_type, &v).map_err(|p| ApiError::invalid_field("value", p))?;
                self.store.set_fact_value(account, deal_id, &fact, &v, &now).await.map_err(&fail)?;
            }
            FactChange::Observation(obs_id) => {
                let obs = self
                    .store
                    .observation(account, deal_id, obs_id)
                    .await
                    .map_err(&fail)?
                    .ok_or_else(|| ApiError::not_found("Observation not found"))?;
                let same_slot = fact_slot(obs.entity_ref.as_deref(), obs.group_ref.as_deref())
                    == fact_slot(fact.entity_ref.as_deref(), fact.group_ref.as_deref());
                if obs.metric.id != fact.metric.id || !same_slot {
                    return Err(ApiError::invalid_field("observation_id", "is not an observation of this fact"));
                }
                self.store.promote_observation(account, deal_id, fact.sot_id, obs.id, &now).await.map_err(&fail)?;
            }
        }
        let updated = self.store.fact(account, deal_id, fact.sot_id).await.map_err(&fail)?;
        // `null` when the fact is gone by now.
        written_record("a fact", &updated.map(|f| f.to_fact()))
    }

    /// `POST /deals/{deal_id}/index/facts`: each value becomes a user-input observation, which
    /// the promotion rule makes canonical unless a person fixed the value by hand. Values that
    /// cannot be recorded (unknown metric, wrong entity, value of the wrong type) fail one by
    /// one in `results`; the others are still recorded.
    pub async fn record_facts(&self, scope: &AccountScope, deal_id: i64, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        let user = grant.user_id();
        let values = parse_fact_insert(&parse_object(body)?)?;
        let account = self.deal_account(&grant, deal_id).await?;
        let fail = unavailable(FACT_INSERT_UNAVAILABLE);
        let mut ids: Vec<i64> = values.iter().map(|v| v.metric_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let metrics = self.store.metrics(&ids).await.map_err(&fail)?;
        let entities = self.entities_of(account, deal_id).await.map_err(&fail)?;
        let now = now_rfc3339();
        let mut results = Vec::with_capacity(values.len());
        let mut written = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let index = Some(i64::try_from(i).unwrap_or(i64::MAX));
            let outcome: Result<RecordedObservation, String> = async {
                let metric = metrics.iter().find(|m| m.id == v.metric_id).ok_or("Unknown metric_id")?;
                if !metric.editable {
                    return Err("Metric is not editable".to_string());
                }
                check_value(&metric.value_type, &v.value)?;
                let (entity_type, entity_id, entity_ref, group_ref) = match (&v.entity_ref, &v.group_ref) {
                    (Some(_), Some(_)) => return Err("Provide entity_ref or group_ref, not both".into()),
                    (Some(r), None) => {
                        let e = entities
                            .iter()
                            .find(|e| e.entity_ref.as_deref() == Some(r.as_str()))
                            .ok_or_else(|| format!("entity_ref {r} is not an entity of this deal"))?;
                        let et = e.entity_type.clone().unwrap_or_default();
                        if et != metric.entity_type {
                            return Err(format!(
                                "entity_ref {r} is a {et}, but metric {} records values of a {}",
                                metric.metric_key, metric.entity_type
                            ));
                        }
                        // The deal is where deal-level values already live.
                        if et == ENTITY_DEAL {
                            (Some(et), e.entity_id, None, None)
                        } else {
                            (Some(et), e.entity_id, Some(r.clone()), None)
                        }
                    }
                    (None, Some(_)) if metric.entity_type == ENTITY_DEAL => {
                        return Err(format!("group_ref does not apply to deal-level metric {}", metric.metric_key));
                    }
                    (None, Some(g)) => (Some(metric.entity_type.clone()), None, None, Some(g.clone())),
                    (None, None) if metric.entity_type == ENTITY_DEAL => {
                        (Some(ENTITY_DEAL.to_string()), Some(deal_id), None, None)
                    }
                    (None, None) => {
                        return Err(format!(
                            "entity_ref (or group_ref for a new {}) is required for metric {}",
                            metric.entity_type, metric.metric_key
                        ));
                    }
                };
                let obs = NewObservation {
                    metric_id: metric.id,
                    entity_type,
                    entity_id,
                    entity_ref,
                    group_ref,
                    value_text: v.value.clone(),
                    original_text: Some(v.value.clone()),
                    context: None,
                    summary: Some("Recorded through the API".to_string()),
                    period_type: None,
                    period_value: None,
                    confidence: None,
                    weight: USER_INPUT_WEIGHT,
                    source_type: SOURCE_USER_INPUT,
                    document_id: None,
                    pages: Vec::new(),
                    created_by_user_id: Some(user),
                };
                self.store.record_observation(account, deal_id, &obs, &now).await.map_err(|e| {
                    tracing::error!(error = %e, "recording a fact value failed");
                    "The value could not be recorded".to_string()
                })
            }
            .await;
            match outcome {
                Ok(r) => {
                    let fact = r.fact.to_fact();
                    if r.fact_written {
                        written.push(fact.clone());
                    }
                    results.push(FactInsertResult {
                        index,
                        metric_id: Some(v.metric_id),
                        success: Some(true),
                        sot: Some(fact),
                        error: None,
                    });
                }
                Err(e) => results.push(FactInsertResult {
                    index,
                    metric_id: Some(v.metric_id),
                    success: Some(false),
                    sot: None,
                    error: Some(e),
                }),
            }
        }
        let failed = results.iter().filter(|r| r.success != Some(true)).count();
        let response = DealIndexFactInsertResponse {
            success: Some(failed == 0),
            error: (failed > 0).then(|| format!("{failed} of {} values could not be recorded", results.len())),
            metric_sot_values: written,
            results,
        };
        written_record("recorded facts", &response)
    }

    /// `GET /deals/{deal_id}/index/metric-definitions`: the catalog (the same for every deal).
    pub async fn metric_definitions(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        raw_query: Option<&str>,
    ) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let q = parse_metric_query(raw_query)?;
        self.deal_account(&grant, deal_id).await?;
        let (rows, total) = self.store.metric_definitions(&q).await.map_err(unavailable(METRICS_UNAVAILABLE))?;
        Ok(Page {
            items: written_items(
                "a page of metric definitions",
                &rows.iter().map(DealIndexMetricDefinition::from).collect::<Vec<_>>(),
            )?,
            pagination: page_pagination(q.page, q.limit, total),
        })
    }

    /// `GET /deals/{deal_id}/index/entities`.
    pub async fn index_entities(&self, scope: &AccountScope, deal_id: i64) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let account = self.deal_account(&grant, deal_id).await?;
        let entities = self.entities_of(account, deal_id).await.map_err(unavailable(ENTITIES_UNAVAILABLE))?;
        Ok(Page {
            pagination: whole_list_pagination(entities.len()),
            items: written_items("the entities of a deal index", &entities)?,
        })
    }

    /// What facts of a deal can attach to: the deal, its properties, its sponsors, and groups
    /// of values recorded for an entity that does not exist yet. Each carries the values of its
    /// identifying metrics (from the index, else from the deal record).
    async fn entities_of(&self, account: i64, deal_id: i64) -> Result<Vec<DealIndexEntity>, StoreError> {
        let deal = self.store.deal(account, deal_id).await?;
        let identifying = self.store.identifying_metrics().await?;
        let facts = self.store.facts(account, deal_id, None).await?;
        let value_of = |metric: &str, slot: &str| -> Option<String> {
            facts
                .iter()
                .find(|f| {
                    f.metric.metric_key == metric && fact_slot(f.entity_ref.as_deref(), f.group_ref.as_deref()) == slot
                })
                .map(|f| f.value_text.clone())
        };
        let metrics_for = |entity_type: &str, slot: &str, fallback: &dyn Fn(&str) -> Option<String>| {
            identifying
                .iter()
                .filter(|m| m.entity_type == entity_type)
                .map(|m| IdentifyingMetric {
                    metric_key: Some(m.metric_key.clone()),
                    metric_label: Some(m.metric_label.clone()),
                    value_text: value_of(&m.metric_key, slot).or_else(|| fallback(&m.metric_key)),
                    support_multiple_values: Some(m.support_multiple_values),
                })
                .collect::<Vec<_>>()
        };
        let mut out = Vec::new();
        let title = deal.as_ref().map(|d| d.title.clone());
        out.push(DealIndexEntity {
            entity_ref: Some(format!("{ENTITY_DEAL}:{deal_id}")),
            entity_type: Some(ENTITY_DEAL.to_string()),
            entity_id: Some(deal_id),
            group_ref: None,
            identifying_metrics: metrics_for(ENTITY_DEAL, ENTITY_DEAL, &|k: &str| {
                (k == "deal_name").then(|| title.clone()).flatten()
            }),
        });
        for p in self.store.properties_of(&[deal_id]).await? {
            let r = format!("{ENTITY_PROPERTY}:{}", p.id);
            let address = [p.address.clone(), p.city.clone(), p.state.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let fallback = |k: &str| match k {
                "property_name" => p.name.clone(),
                "property_address" => (!address.is_empty()).then(|| address.clone()),
                _ => None,
            };
            out.push(DealIndexEntity {
                identifying_metrics: metrics_for(ENTITY_PROPERTY, &r, &fallback),
                entity_ref: Some(r),
                entity_type: Some(ENTITY_PROPERTY.to_string()),
                entity_id: Some(p.id),
                group_ref: None,
            });
        }
        for e in self.store.index_entities(account, deal_id).await? {
            let r = format!("{}:{}", e.entity_type, e.id);
            let name = e.name.clone();
            let fallback = move |k: &str| (k == "sponsor_name").then(|| name.clone()).flatten();
            out.push(DealIndexEntity {
                identifying_metrics: metrics_for(&e.entity_type, &r, &fallback),
                entity_ref: Some(r),
                entity_type: Some(e.entity_type.clone()),
                entity_id: Some(e.id),
                group_ref: None,
            });
        }
        for (group, entity_type) in self.store.pending_groups(account, deal_id).await? {
            let slot = fact_slot(None, Some(&group));
            let et = entity_type.unwrap_or_else(|| ENTITY_SPONSOR.to_string());
            out.push(DealIndexEntity {
                identifying_metrics: metrics_for(&et, &slot, &|_: &str| None),
                entity_ref: None,
                entity_type: Some(et),
                entity_id: None,
                group_ref: Some(group),
            });
        }
        Ok(out)
    }

    /// Records a value extracted from a document (demo data and tests; extraction itself is
    /// outside this server). `entity_ref` is checked by the caller.
    pub async fn record_extraction(
        &self,
        account_id: i64,
        deal_id: i64,
        observation: &NewObservation,
    ) -> Result<RecordedObservation, ApiError> {
        self.store.record_observation(account_id, deal_id, observation, &now_rfc3339()).await.map_err(ApiError::from)
    }
}
