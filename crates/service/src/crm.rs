//! CRM and billing operations: contacts (list, create, read, update, unlock), companies (list,
//! create, read, update), the parent checks of their notes, and the two billing reads.
use levd_domain::crm::{
    BillingSummary, COMPANY_LIST, CONTACT_LIST, Company, Contact, ContactOrigin, ContactUpdate, Credits,
    EMAIL_CHANGE_MESSAGE, Subscription, UNLOCK_COST, UPGRADE_URL, Unlock, default_credit_grant, parse_company_changes,
    parse_contact_changes, parse_new_company, parse_new_contact,
};
use levd_domain::input::{parse_object, parse_optional_object};
use levd_domain::query::{ListQuery, Paging, encode_cursor};
use levd_domain::scope::{AccountScope, Grant, Role, Scope};
use levd_domain::time_fmt::now_rfc3339;
use levd_domain::{ApiError, ErrorKind};
use levd_store::StoreError;
use serde::Serialize;
use serde_json::json;

use crate::notes::NoteParent;
use crate::shape::Shaped;
use crate::{Page, Record, Service, cursor_pagination, written_items, written_record};

fn contact_not_found() -> ApiError {
    ApiError::not_found(NoteParent::Contact.not_found())
}

fn company_not_found() -> ApiError {
    ApiError::not_found(NoteParent::Company.not_found())
}

/// A contact as the API shows it (a locked one masked).
fn contact_record(c: Contact) -> Result<Record, ApiError> {
    written_record("a contact", &c.for_display())
}

/// Creating CRM records is refused to viewers with the reference's own message ("User not
/// authorized to create …"); the scope check then covers read-only keys of other roles.
fn require_creator<'a>(scope: &'a AccountScope, needed: Scope, what: &str) -> Result<Grant<'a>, ApiError> {
    if scope.role == Role::Viewer {
        return Err(ApiError::forbidden(format!("User not authorized to create {what}")));
    }
    scope.require(needed)
}

/// Cursor page from rows fetched with one extra row, each shown as `show` makes it with the
/// members `fields=` selected.
fn page<T, V: Serialize>(
    what: &'static str,
    mut rows: Vec<T>,
    total: i64,
    q: &ListQuery,
    id: impl Fn(&T) -> i64,
    show: impl Fn(T) -> V,
) -> Result<Page, ApiError> {
    let has_more = rows.len() > q.limit as usize;
    rows.truncate(q.limit as usize);
    let next = if has_more { rows.last().map(|r| encode_cursor(id(r))) } else { None };
    let raw = match &q.paging {
        Paging::Cursor { raw, .. } => raw.clone(),
        Paging::Offset { .. } => None,
    };
    let shown: Vec<V> = rows.into_iter().map(show).collect();
    let shaped: Vec<Shaped<'_, V>> =
        shown.iter().map(|record| Shaped { record, fields: q.fields.as_deref(), extra: &[] }).collect();
    let items = written_items(what, &shaped)?;
    Ok(Page { items, pagination: cursor_pagination(total, q.limit, raw.as_deref(), has_more, next) })
}

/// The 402 of an unlock the pool cannot pay, saying what would let it succeed.
fn insufficient_credits(credits: Credits) -> ApiError {
    let prerequisite = match credits.balance {
        Some(balance) if credits.enabled => {
            format!(
                "Add credits to the account: unlocking a contact costs {UNLOCK_COST} credits, {balance} are available"
            )
        }
        _ => "Enable credit billing for the account".to_string(),
    };
    ApiError::new(ErrorKind::PaymentRequired, "Insufficient credits to unlock this contact")
        .with_detail("credits_required", UNLOCK_COST)
        .with_detail("credits_available", credits.balance)
        .with_extra("prerequisites", json!([prerequisite]))
        .with_extra("upgrade_url", UPGRADE_URL)
}

impl Service {
    // --- contacts ----------------------------------------------------------------------------

    /// `GET /contacts`.
    pub async fn list_contacts(&self, scope: &AccountScope, raw_query: Option<&str>) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::ContactsRead)?;
        let q = ListQuery::parse(raw_query, &CONTACT_LIST)?;
        let (rows, total) = self.store.list_contacts(grant.account_id(), &q).await?;
        page("a page of contacts", rows, total, &q, |c| c.id, Contact::for_display)
    }

    /// `GET /contacts/{contact_id}`: a locked AI-recommended contact is shown masked.
    pub async fn get_contact(&self, scope: &AccountScope, contact_id: i64) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::ContactsRead)?;
        let contact = self.store.contact(grant.account_id(), contact_id).await?.ok_or_else(contact_not_found)?;
        contact_record(contact)
    }

    /// `POST /contacts`.
    pub async fn create_contact(&self, scope: &AccountScope, body: &[u8]) -> Result<Record, ApiError> {
        let grant = require_creator(scope, Scope::ContactsWrite, "contact")?;
        let input = parse_new_contact(&parse_object(body)?)?;
        let contact =
            self.store.insert_contact(grant.account_id(), &input, ContactOrigin::Crm, &now_rfc3339()).await.map_err(
                |e| match e {
                    StoreError::NotFound("company") => {
                        ApiError::invalid_field("company_id", "does not name a company of this account")
                    }
                    other => other.into(),
                },
            )?;
        contact_record(contact)
    }

    /// `PATCH /contacts/{contact_id}` (the body is optional; an empty one changes nothing).
    pub async fn update_contact(&self, scope: &AccountScope, contact_id: i64, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::ContactsWrite)?;
        let changes = parse_contact_changes(&parse_optional_object(body)?)?;
        match self.store.update_contact(grant.account_id(), contact_id, &changes, &now_rfc3339()).await? {
            ContactUpdate::Updated(c) => contact_record(*c),
            ContactUpdate::NotFound => Err(contact_not_found()),
            ContactUpdate::EmailChange => Err(ApiError::conflict(EMAIL_CHANGE_MESSAGE)),
            // Editing a contact whose identity is withheld would reveal or overwrite what the
            // unlock sells; unlock first.
            ContactUpdate::Locked => Err(ApiError::conflict(
                "This AI-recommended contact is locked; unlock it (POST /contacts/{contact_id}/actions/unlock) before editing it",
            )),
        }
    }

    /// `POST /contacts/{contact_id}/actions/unlock`: reveals a locked AI-recommended contact and
    /// charges [`UNLOCK_COST`] credits in the same transaction. A contact with nothing to reveal
    /// (never locked, or unlocked before) is returned as it is and costs nothing, so a repeat is
    /// harmless even without an `Idempotency-Key`. The body names nothing, but it is read like
    /// any other (`docs/api.md#bodies`): a JSON object when present, no NUL in its text.
    pub async fn unlock_contact(&self, scope: &AccountScope, contact_id: i64, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::AiActions)?;
        parse_optional_object(body)?;
        let outcome = self
            .store
            .unlock_contact(
                grant.account_id(),
                grant.user_id(),
                contact_id,
                UNLOCK_COST,
                default_credit_grant(scope.tier),
                &now_rfc3339(),
            )
            .await?;
        match outcome {
            Unlock::Unlocked { contact, balance } => {
                tracing::info!(account_id = grant.account_id(), contact_id, balance, "contact unlocked");
                contact_record(*contact)
            }
            Unlock::AlreadyVisible(contact) => contact_record(*contact),
            Unlock::NotFound => Err(contact_not_found()),
            Unlock::Insufficient(pool) => Err(insufficient_credits(pool.into())),
        }
    }

    /// Contact notes: the contact must be the account's (locked ones included: a note reveals
    /// nothing about the person).
    pub async fn contact_for_notes(&self, scope: &AccountScope, contact_id: i64, write: bool) -> Result<(), ApiError> {
        Self::note_scope(scope, NoteParent::Contact, write)?;
        self.store.contact(scope.account_id, contact_id).await?.map(|_| ()).ok_or_else(contact_not_found)
    }

    // --- companies ---------------------------------------------------------------------------

    /// `GET /companies`.
    pub async fn list_companies(&self, scope: &AccountScope, raw_query: Option<&str>) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::CompaniesRead)?;
        let q = ListQuery::parse(raw_query, &COMPANY_LIST)?;
        let (rows, total) = self.store.list_companies(grant.account_id(), &q).await?;
        page("a page of companies", rows, total, &q, |c| c.id, |c: Company| c)
    }

    /// `GET /companies/{company_id}`.
    pub async fn get_company(&self, scope: &AccountScope, company_id: i64) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::CompaniesRead)?;
        let company = self.store.company(grant.account_id(), company_id).await?.ok_or_else(company_not_found)?;
        written_record("a company", &company)
    }

    /// `POST /companies`. `org_id` is stored as given: the directory is global reference data
    /// and a link to an organization it does not (yet) list does no harm.
    pub async fn create_company(&self, scope: &AccountScope, body: &[u8]) -> Result<Record, ApiError> {
        let grant = require_creator(scope, Scope::CompaniesWrite, "company")?;
        let input = parse_new_company(&parse_object(body)?)?;
        let company = self.store.insert_company(grant.account_id(), &input, &now_rfc3339()).await?;
        written_record("a company", &company)
    }

    /// `PATCH /companies/{company_id}`: the create members, each optional.
    pub async fn update_company(&self, scope: &AccountScope, company_id: i64, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::CompaniesWrite)?;
        let changes = parse_company_changes(&parse_optional_object(body)?)?;
        let company = self
            .store
            .update_company(grant.account_id(), company_id, &changes, &now_rfc3339())
            .await?
            .ok_or_else(company_not_found)?;
        written_record("a company", &company)
    }

    /// Company notes: the company must be the account's.
    pub async fn company_for_notes(&self, scope: &AccountScope, company_id: i64, write: bool) -> Result<(), ApiError> {
        Self::note_scope(scope, NoteParent::Company, write)?;
        self.store.company(scope.account_id, company_id).await?.map(|_| ()).ok_or_else(company_not_found)
    }

    // --- billing -----------------------------------------------------------------------------

    async fn credits(&self, scope: &AccountScope) -> Result<Credits, ApiError> {
        Ok(match self.store.credit_pool(scope.account_id).await? {
            Some(pool) => pool.into(),
            None => Credits::default_for(scope.tier),
        })
    }

    /// `GET /billing/summary`.
    pub async fn billing_summary(&self, scope: &AccountScope) -> Result<Record, ApiError> {
        scope.require(Scope::BillingRead)?;
        let summary =
            BillingSummary { subscription: Subscription::for_tier(scope.tier), credits: self.credits(scope).await? };
        written_record("a billing summary", &summary)
    }

    /// `GET /billing/credits/balance`.
    pub async fn credit_balance(&self, scope: &AccountScope) -> Result<Record, ApiError> {
        scope.require(Scope::BillingRead)?;
        written_record("a credit balance", &self.credits(scope).await?)
    }
}
