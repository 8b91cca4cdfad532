//! Notes on deals, contacts, companies, placements and checklist tasks: one implementation,
//! with the parent's own scope and not-found message. Domain services check that the parent
//! exists in the account and then call these.
use levd_domain::input::parse_object;
use levd_domain::query::{ListQuery, ListSpec, Paging, encode_cursor};
use levd_domain::scope::{AccountScope, Scope};
use levd_domain::time_fmt::now_rfc3339;
use levd_domain::{ApiError, ErrorKind};
use levd_store::NoteRow;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Page, Record, Service, cursor_pagination, written_items, written_record};

const NOTE_LIST: ListSpec =
    ListSpec { filters: &[], sorts: &[], fields: &[], includes: &[], search: false, cursor: true, offset: false };

/// Longest note text accepted.
pub const MAX_NOTE_TEXT: usize = 20_000;

/// What a note hangs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteParent {
    Deal,
    Contact,
    Company,
    Placement,
    ChecklistTask,
}

impl NoteParent {
    pub fn type_name(self) -> &'static str {
        match self {
            NoteParent::Deal => "deal",
            NoteParent::Contact => "contact",
            NoteParent::Company => "company",
            NoteParent::Placement => "placement",
            NoteParent::ChecklistTask => "checklist_task",
        }
    }

    /// Scopes that gate reading and writing notes of this parent (`docs/auth.md#scopes`).
    pub fn scopes(self) -> (Scope, Scope) {
        match self {
            NoteParent::Deal | NoteParent::Placement | NoteParent::ChecklistTask => {
                (Scope::DealsRead, Scope::DealsWrite)
            }
            NoteParent::Contact => (Scope::ContactsRead, Scope::ContactsWrite),
            NoteParent::Company => (Scope::CompaniesRead, Scope::CompaniesWrite),
        }
    }

    /// Message for a missing parent.
    pub fn not_found(self) -> &'static str {
        match self {
            NoteParent::Deal => "Deal not found",
            NoteParent::Contact => "Contact not found",
            NoteParent::Company => "Company not found",
            NoteParent::Placement => "Placement not found",
            NoteParent::ChecklistTask => "Checklist task not found",
        }
    }

    /// Message for a note missing under an existing parent.
    pub fn note_not_found(self) -> String {
        let p = self.not_found().trim_end_matches(" not found");
        format!("{p} or note not found")
    }
}

/// A note as the API shows it: its author (`null` when the note has none) as `{id, name}`.
#[derive(Serialize)]
struct NoteView<'a> {
    id: i64,
    text: &'a str,
    created_by: Option<NoteAuthor<'a>>,
    created_at: &'a str,
    updated_at: &'a str,
}

#[derive(Serialize)]
struct NoteAuthor<'a> {
    id: i64,
    name: Option<&'a str>,
}

impl<'a> From<&'a NoteRow> for NoteView<'a> {
    fn from(n: &'a NoteRow) -> NoteView<'a> {
        NoteView {
            id: n.id,
            text: &n.text,
            created_by: n.created_by_user_id.map(|id| NoteAuthor { id, name: n.created_by_name.as_deref() }),
            created_at: &n.created_at,
            updated_at: &n.updated_at,
        }
    }
}

fn note_record(n: &NoteRow) -> Result<Record, ApiError> {
    written_record("a note", &NoteView::from(n))
}

/// The `text` of a note body: an edit to `""` is 400 (as the reference lists it); missing,
/// whitespace only, too long or not a string is a 422 naming `text`.
fn note_text(body: &[u8], create: bool) -> Result<String, ApiError> {
    let obj = parse_object(body)?;
    match obj.get("text") {
        Some(Value::String(s)) if s.is_empty() && !create => Err(ApiError::bad_request("text cannot be empty")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(ApiError::invalid_field("text", "must not be blank")),
        Some(Value::String(s)) if s.chars().count() > MAX_NOTE_TEXT => {
            Err(ApiError::invalid_field("text", format!("must be at most {MAX_NOTE_TEXT} characters")))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::invalid_field("text", "must be a string")),
        None => Err(ApiError::invalid_field("text", "is required")),
    }
}

impl Service {
    /// Checks the read or write scope of a parent kind; call before looking the parent up.
    pub fn note_scope(scope: &AccountScope, parent: NoteParent, write: bool) -> Result<(), ApiError> {
        let (r, w) = parent.scopes();
        scope.require(if write { w } else { r }).map(|_| ())
    }

    /// Lists the notes of a parent that the caller has checked exists in the account.
    pub async fn list_notes(
        &self,
        scope: &AccountScope,
        parent: NoteParent,
        parent_id: i64,
        raw_query: Option<&str>,
    ) -> Result<Page, ApiError> {
        let q = ListQuery::parse(raw_query, &NOTE_LIST)?;
        let (after, raw) = match &q.paging {
            Paging::Cursor { after_id, raw } => (*after_id, raw.clone()),
            Paging::Offset { .. } => (None, None),
        };
        let (mut rows, total) =
            self.store.list_notes(scope.account_id, parent.type_name(), parent_id, after, q.limit).await?;
        let has_more = rows.len() > q.limit as usize;
        rows.truncate(q.limit as usize);
        let next = if has_more { rows.last().map(|n| encode_cursor(n.id)) } else { None };
        Ok(Page {
            items: written_items("a page of notes", &rows.iter().map(NoteView::from).collect::<Vec<_>>())?,
            pagination: cursor_pagination(total, q.limit, raw.as_deref(), has_more, next),
        })
    }

    pub async fn create_note(
        &self,
        scope: &AccountScope,
        parent: NoteParent,
        parent_id: i64,
        body: &[u8],
    ) -> Result<Record, ApiError> {
        let text = note_text(body, true)?;
        let row = self
            .store
            .insert_note(scope.account_id, parent.type_name(), parent_id, scope.user_id, &text, &now_rfc3339())
            .await?;
        note_record(&row)
    }

    pub async fn update_note(
        &self,
        scope: &AccountScope,
        parent: NoteParent,
        parent_id: i64,
        note_id: i64,
        body: &[u8],
    ) -> Result<Record, ApiError> {
        let text = note_text(body, false)?;
        let row = self
            .store
            .update_note(scope.account_id, parent.type_name(), parent_id, note_id, &text, &now_rfc3339())
            .await?
            .ok_or_else(|| ApiError::new(ErrorKind::NotFound, parent.note_not_found()))?;
        note_record(&row)
    }

    pub async fn delete_note(
        &self,
        scope: &AccountScope,
        parent: NoteParent,
        parent_id: i64,
        note_id: i64,
    ) -> Result<Value, ApiError> {
        let done = self.store.delete_note(scope.account_id, parent.type_name(), parent_id, note_id).await?;
        if !done {
            return Err(ApiError::new(ErrorKind::NotFound, parent.note_not_found()));
        }
        Ok(json!({ "deleted": true }))
    }

    /// Deal notes: the deal must be the account's (archived deals included).
    pub async fn deal_for_notes(&self, scope: &AccountScope, deal_id: i64, write: bool) -> Result<(), ApiError> {
        Self::note_scope(scope, NoteParent::Deal, write)?;
        self.store
            .deal(scope.account_id, deal_id)
            .await?
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(NoteParent::Deal.not_found()))
    }
}
