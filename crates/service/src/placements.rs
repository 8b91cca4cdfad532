//! Placements (with their notes), term sheets, pipelines and the deal sub-resources read
//! alongside them (properties, team, the pipeline move). Scopes are `deals:read` /
//! `deals:write` throughout (`docs/auth.md#scopes`); what a caller sees of a placement follows
//! [`levd_domain::placements`] (owners, `hidden`, `masked`).
use levd_domain::ApiError;
use levd_domain::input::{Patch, parse_object};
use levd_domain::placements::{
    ARCHIVED, BaseRateInput, BaseRateSetting, CURSOR_LIST, Cell, LenderCheck, MSG_DUPLICATE_PLACEMENT, MSG_NO_FIELDS,
    MSG_PIPELINE_NOT_FOUND, MSG_PIPELINE_STATUS_NOT_FOUND, OFFSET_LIST, PLACEMENT_LIST, Placement, PlacementInsert,
    StoredPlacement, Viewer, contact_match_status, parse_new_placement, parse_new_term_sheet, parse_pipeline_move,
    parse_placement_changes, parse_term_sheet_changes, status_stamps, unknown_base_rate,
};
use levd_domain::query::{ListQuery, Paging, encode_cursor};
use levd_domain::scope::{AccountScope, Scope};
use levd_domain::time_fmt::now_rfc3339;
use levd_store::StoreError;
use serde::Serialize;
use serde_json::{Value, json};

use crate::notes::NoteParent;
use crate::shape::Shaped;
use crate::{Page, Record, Service, cursor_pagination, offset_pagination, written_items, written_record};

fn placement_not_found() -> ApiError {
    ApiError::not_found("Placement not found")
}

fn term_sheet_not_found() -> ApiError {
    ApiError::not_found("Term sheet not found")
}

/// A linkage member a PATCH may echo but never change.
fn fixed_field(name: &str) -> ApiError {
    ApiError::invalid_field(name, "is fixed at creation; archive this record and create another to change it")
}

/// `(after_id, raw cursor)` of a cursor-mode query.
fn cursor_of(q: &ListQuery) -> (Option<i64>, Option<String>) {
    match &q.paging {
        Paging::Cursor { after_id, raw } => (*after_id, raw.clone()),
        Paging::Offset { .. } => (None, None),
    }
}

fn offset_of(q: &ListQuery) -> u64 {
    match q.paging {
        Paging::Offset { offset } => offset,
        Paging::Cursor { .. } => 0,
    }
}

/// One page of a small in-memory list in offset mode.
fn offset_page<T: Serialize>(rows: &[T], q: &ListQuery) -> Result<Page, ApiError> {
    let offset = offset_of(q);
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(rows.len());
    let end = start.saturating_add(q.limit as usize).min(rows.len());
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    Ok(Page {
        items: written_items("a page of deal rows", &rows[start..end])?,
        pagination: offset_pagination(total, q.limit, offset, end < rows.len()),
    })
}

impl Service {
    /// A page of the rows `load` reads for a deal, once the caller may read the deal; `limit` and
    /// `offset` page the rows.
    async fn deal_rows<T: Serialize>(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        raw_query: Option<&str>,
        load: impl Future<Output = levd_store::Result<Vec<T>>>,
    ) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        self.deal_account(&grant, deal_id).await?;
        let q = ListQuery::parse(raw_query, &OFFSET_LIST)?;
        offset_page(&load.await?, &q)
    }

    /// A term sheet as its viewer sees it (soft-deleted ones included), or `404`.
    async fn term_sheet_record(&self, viewer: &Viewer, deal_id: i64, id: i64) -> Result<Record, ApiError> {
        let stored = self.store.term_sheet(viewer, deal_id, id).await?.ok_or_else(term_sheet_not_found)?;
        written_record("a term sheet", &stored.for_viewer())
    }

    /// The benchmark setting a term-sheet write asks for (`None`: leave it), looked up in the
    /// market base rates.
    async fn base_rate_setting(&self, input: &Patch<BaseRateInput>) -> Result<Option<BaseRateSetting>, ApiError> {
        match input {
            Patch::Absent | Patch::Null => Ok(None),
            Patch::Value(BaseRateInput::Fixed) => Ok(Some(BaseRateSetting::Fixed)),
            Patch::Value(BaseRateInput::Named(name)) => {
                // The market data is loaded on first use; a fresh database may not have it yet.
                self.store.ensure_reference_data().await?;
                let b = self.store.benchmark(name).await?.ok_or_else(unknown_base_rate)?;
                Ok(Some(BaseRateSetting::Benchmark(b)))
            }
        }
    }

    async fn visible_placement(&self, viewer: &Viewer, placement_id: i64) -> Result<StoredPlacement, ApiError> {
        self.store.placement(viewer, placement_id).await?.ok_or_else(placement_not_found)
    }

    /// A placement as its viewer sees it (masked for non-owners), or `404`.
    async fn placement_record(&self, viewer: &Viewer, placement_id: i64) -> Result<Record, ApiError> {
        written_record("a placement", &self.visible_placement(viewer, placement_id).await?.for_viewer())
    }

    // -----------------------------------------------------------------------------------------
    // Placements

    /// `GET /placements`: the account's placements across deals, archived ones included (filter
    /// with `filter[archived]=false`), masked for non-owners, hidden ones left out for them.
    pub async fn list_placements(&self, scope: &AccountScope, raw_query: Option<&str>) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let q = ListQuery::parse(raw_query, &PLACEMENT_LIST)?;
        let viewer = Viewer::of(grant.scope);
        let (after, raw) = cursor_of(&q);
        let (mut rows, total) = self.store.list_placements(&viewer, &q.filters, after, q.limit).await?;
        let has_more = rows.len() > q.limit as usize;
        rows.truncate(q.limit as usize);
        let next = if has_more { rows.last().map(|p| encode_cursor(p.placement.id)) } else { None };
        let views: Vec<Placement> = rows.iter().map(StoredPlacement::for_viewer).collect();
        let shaped: Vec<Shaped<'_, Placement>> =
            views.iter().map(|record| Shaped { record, fields: q.fields.as_deref(), extra: &[] }).collect();
        Ok(Page {
            items: written_items("a page of placements", &shaped)?,
            pagination: cursor_pagination(total, q.limit, raw.as_deref(), has_more, next),
        })
    }

    /// `POST /placements`. The deal must be the account's and the lender a lender company of
    /// the account; a named contact must work at that lender. With no contact named, the
    /// contact match runs at once: the lender's first AI-recommended (locked) contact not yet
    /// approached on this deal is assigned, its name withheld until unlocked; without one the
    /// placement stays without a contact. `contact_match_status` records which happened.
    pub async fn create_placement(&self, scope: &AccountScope, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        let input = parse_new_placement(&parse_object(body)?)?;
        let account_id = self.deal_account(&grant, input.deal_id).await?;
        let now = now_rfc3339();
        let stamps = status_stamps("new", input.status, input.outreach_date.is_some(), false);
        // Two creates racing for the same recommended contact: the loser matches again and
        // gets the next one (or none), rather than failing as a duplicate.
        let mut attempts_left = 3;
        let id = loop {
            attempts_left -= 1;
            let check =
                self.store.check_lender(account_id, input.deal_id, input.private_company_id, input.contact_id).await?;
            let (lender_name, org_id, contact_id, contact_name) = match check {
                LenderCheck::CompanyMissing => return Err(ApiError::not_found("Private company not found")),
                LenderCheck::ContactMissing => return Err(ApiError::not_found("Contact not found")),
                LenderCheck::NotALender => {
                    return Err(ApiError::invalid_field(
                        "private_company_id",
                        "must be a lender company (this company is not a lender)",
                    ));
                }
                LenderCheck::Found { lender_name, org_id, contact_id, contact_name } => {
                    (lender_name, org_id, contact_id, contact_name)
                }
            };
            let matched = input.contact_id.is_none() && contact_id.is_some();
            let match_status = contact_match_status(input.contact_id.is_some(), contact_id);
            let record = PlacementInsert {
                deal_id: input.deal_id,
                private_company_id: input.private_company_id,
                contact_id,
                org_id,
                lender_name: Some(lender_name),
                contact_name,
                status: input.status.to_string(),
                lender_status: input.lender_status.map(str::to_string),
                description: input.description.clone(),
                lev_score: None,
                score: input.score,
                outreach_date: input.outreach_date.clone().or_else(|| stamps.outreach_date.then(|| now.clone())),
                outreach_source: Some(levd_domain::placements::DIRECT_OUTREACH.to_string()),
                last_communication_date: stamps.last_communication_date.then(|| now.clone()),
                lender_first_response_date: stamps.lender_first_response_date.then(|| now.clone()),
                visibility: input.visibility.to_string(),
            };
            match self
                .store
                .insert_placement_matched(account_id, grant.user_id(), &record, Some(match_status), &now)
                .await
            {
                Ok(id) => break id,
                Err(StoreError::Duplicate(_)) if matched && attempts_left > 0 => continue,
                Err(StoreError::Duplicate(_)) => return Err(ApiError::bad_request(MSG_DUPLICATE_PLACEMENT)),
                Err(other) => return Err(other.into()),
            }
        };
        self.placement_record(&Viewer::of(grant.scope), id).await
    }

    /// `GET /placements/{placement_id}`.
    pub async fn get_placement(&self, scope: &AccountScope, placement_id: i64) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        self.placement_record(&Viewer::of(grant.scope), placement_id).await
    }

    /// `PATCH /placements/{placement_id}`: status (`archived` removes, any other status
    /// restores), visibility (owners only), description (each change is also logged as a note
    /// by the caller), score, outreach date, lender status. Status moves stamp the outreach,
    /// first-response and last-communication dates (see `status_stamps`).
    pub async fn update_placement(
        &self,
        scope: &AccountScope,
        placement_id: i64,
        body: &[u8],
    ) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        let viewer = Viewer::of(grant.scope);
        let current = self.visible_placement(&viewer, placement_id).await?;
        let changes = parse_placement_changes(&parse_object(body)?)?;
        let stored = &current.placement;
        for (name, sent) in &changes.fixed {
            let actual = match *name {
                "deal_id" => Some(stored.deal_id),
                "private_company_id" => stored.private_company_id,
                _ => stored.contact_id,
            };
            // A masked view must not confirm or deny the hidden linkage either.
            if *sent != actual || (current.masked() && *name != "deal_id") {
                return Err(fixed_field(name));
            }
        }
        if changes.visibility.is_some_and(|v| v != stored.visibility) && !current.viewer_owns {
            return Err(ApiError::forbidden("Only an owner of the placement can change its visibility"));
        }
        if changes.is_empty() {
            return Err(ApiError::bad_request(MSG_NO_FIELDS));
        }
        let now = now_rfc3339();
        let text = |v: Option<String>| Cell::Text(v);
        let mut sets: Vec<(&'static str, Cell)> = Vec::new();
        if let Some(status) = changes.status {
            sets.push(("status", text(Some(status.to_string()))));
            let outreach_given = !changes.outreach_date.is_absent();
            let stamps = status_stamps(
                &stored.status,
                status,
                stored.outreach_date.is_some() || outreach_given,
                stored.lender_first_response_date.is_some(),
            );
            if stamps.outreach_date {
                sets.push(("outreach_date", text(Some(now.clone()))));
            }
            if stamps.lender_first_response_date {
                sets.push(("lender_first_response_date", text(Some(now.clone()))));
            }
            if stamps.last_communication_date {
                sets.push(("last_communication_date", text(Some(now.clone()))));
            }
        }
        if let Some(v) = changes.visibility {
            sets.push(("visibility", text(Some(v.to_string()))));
        }
        let mut note: Option<String> = None;
        match &changes.description {
            Patch::Absent => {}
            Patch::Null => {
                sets.push(("description", text(None)));
                if stored.description.is_some() {
                    note = Some("Description cleared.".to_string());
                }
            }
            Patch::Value(d) => {
                sets.push(("description", text(Some(d.clone()))));
                if stored.description.as_deref() != Some(d.as_str()) {
                    note = Some(if d.trim().is_empty() { "Description cleared.".to_string() } else { d.clone() });
                }
            }
        }
        match changes.score {
            Patch::Absent => {}
            Patch::Null => sets.push(("score", Cell::Real(None))),
            Patch::Value(s) => sets.push(("score", Cell::Real(Some(s)))),
        }
        match &changes.outreach_date {
            Patch::Absent => {}
            Patch::Null => sets.push(("outreach_date", text(None))),
            Patch::Value(d) => sets.push(("outreach_date", text(Some(d.clone())))),
        }
        match changes.lender_status {
            Patch::Absent => {}
            Patch::Null => sets.push(("lender_status", text(None))),
            Patch::Value(s) => sets.push(("lender_status", text(Some(s.to_string())))),
        }
        let note = note.as_deref().map(|n| (n, grant.user_id()));
        let done = self.store.update_placement(grant.account_id(), placement_id, &sets, note, &now).await?;
        if !done {
            return Err(placement_not_found());
        }
        self.placement_record(&viewer, placement_id).await
    }

    /// Placement notes: checks the scope of the operation, then that the placement is one the
    /// caller may see; the notes themselves go through the shared notes service.
    pub async fn placement_for_notes(
        &self,
        scope: &AccountScope,
        placement_id: i64,
        write: bool,
    ) -> Result<(), ApiError> {
        Self::note_scope(scope, NoteParent::Placement, write)?;
        self.visible_placement(&Viewer::of(scope), placement_id).await.map(|_| ())
    }

    // -----------------------------------------------------------------------------------------
    // Term sheets

    /// `GET /deals/{deal_id}/term-sheets`: the deal's live term sheets (soft-deleted ones are
    /// left out of lists and stay readable by id).
    pub async fn list_term_sheets(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        raw_query: Option<&str>,
    ) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        self.deal_account(&grant, deal_id).await?;
        let q = ListQuery::parse(raw_query, &CURSOR_LIST)?;
        let viewer = Viewer::of(grant.scope);
        let (after, raw) = cursor_of(&q);
        let (mut rows, total) = self.store.list_term_sheets(&viewer, deal_id, after, q.limit).await?;
        let has_more = rows.len() > q.limit as usize;
        rows.truncate(q.limit as usize);
        let next = if has_more { rows.last().map(|t| encode_cursor(t.term_sheet.id)) } else { None };
        Ok(Page {
            items: written_items("a page of term sheets", &rows.iter().map(|t| t.for_viewer()).collect::<Vec<_>>())?,
            pagination: cursor_pagination(total, q.limit, raw.as_deref(), has_more, next),
        })
    }

    /// `POST /deals/{deal_id}/term-sheets`: a quote against a live placement of the deal.
    pub async fn create_term_sheet(&self, scope: &AccountScope, deal_id: i64, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        let account_id = self.deal_account(&grant, deal_id).await?;
        let input = parse_new_term_sheet(&parse_object(body)?)?;
        let viewer = Viewer::of(grant.scope);
        let placement = self.visible_placement(&viewer, input.placement_id).await?;
        if placement.placement.deal_id != deal_id {
            return Err(placement_not_found());
        }
        if placement.placement.status == ARCHIVED {
            return Err(ApiError::invalid_field(
                "placement_id",
                "refers to an archived placement; restore it with PATCH /placements/{placement_id} first",
            ));
        }
        let base_rate = self.base_rate_setting(&input.base_rate).await?.unwrap_or(BaseRateSetting::Fixed);
        let id = self
            .store
            .insert_term_sheet(account_id, deal_id, grant.user_id(), &input, &base_rate, &now_rfc3339())
            .await?;
        self.term_sheet_record(&viewer, deal_id, id).await
    }

    /// `GET /deals/{deal_id}/term-sheets/{term_sheet_id}`, soft-deleted ones included (`docs/api.md#deletes`).
    pub async fn get_term_sheet(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        term_sheet_id: i64,
    ) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let viewer = Viewer::of(grant.scope);
        self.term_sheet_record(&viewer, deal_id, term_sheet_id).await
    }

    /// `PATCH /deals/{deal_id}/term-sheets/{term_sheet_id}`. `total_rate` is read against the
    /// benchmark the quote has after the change; naming a benchmark takes a fresh snapshot of
    /// its value. A soft-deleted term sheet can no longer be changed (404).
    pub async fn update_term_sheet(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        term_sheet_id: i64,
        body: &[u8],
    ) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        let viewer = Viewer::of(grant.scope);
        let current = self
            .store
            .term_sheet(&viewer, deal_id, term_sheet_id)
            .await?
            .filter(|t| t.term_sheet.deleted_at.is_none())
            .ok_or_else(term_sheet_not_found)?;
        let changes = parse_term_sheet_changes(&parse_object(body)?)?;
        for (name, sent) in &changes.fixed {
            let actual = match *name {
                "deal_id" => current.term_sheet.deal_id,
                _ => current.term_sheet.placement_id,
            };
            if *sent != Some(actual) {
                return Err(fixed_field(name));
            }
        }
        if changes.is_empty() {
            return Err(ApiError::bad_request(MSG_NO_FIELDS));
        }
        let base_rate = self.base_rate_setting(&changes.base_rate).await?;
        let done = self
            .store
            .update_term_sheet(grant.account_id(), deal_id, term_sheet_id, &changes, base_rate.as_ref(), &now_rfc3339())
            .await?;
        if !done {
            return Err(term_sheet_not_found());
        }
        self.term_sheet_record(&viewer, deal_id, term_sheet_id).await
    }

    /// `DELETE /deals/{deal_id}/term-sheets/{term_sheet_id}`: soft delete; repeating it answers
    /// the same (`docs/api.md#deletes`).
    pub async fn delete_term_sheet(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        term_sheet_id: i64,
    ) -> Result<Value, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        let viewer = Viewer::of(grant.scope);
        self.store.term_sheet(&viewer, deal_id, term_sheet_id).await?.ok_or_else(term_sheet_not_found)?;
        let done = self.store.delete_term_sheet(grant.account_id(), deal_id, term_sheet_id, &now_rfc3339()).await?;
        if !done {
            return Err(term_sheet_not_found());
        }
        Ok(json!({ "deleted": true }))
    }

    // -----------------------------------------------------------------------------------------
    // Pipelines

    /// `GET /pipelines`: the account's pipelines with their statuses, in display order; offset
    /// paging (`limit`, `offset`).
    pub async fn list_pipelines(&self, scope: &AccountScope, raw_query: Option<&str>) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let q = ListQuery::parse(raw_query, &OFFSET_LIST)?;
        let offset = offset_of(&q);
        let (rows, total) = self.store.list_pipelines(grant.account_id(), q.limit, offset).await?;
        let has_more = offset.saturating_add(rows.len() as u64) < u64::try_from(total).unwrap_or(0);
        Ok(Page {
            items: written_items("a page of pipelines", &rows)?,
            pagination: offset_pagination(total, q.limit, offset, has_more),
        })
    }

    /// `GET /pipelines/{pipeline_id}`.
    pub async fn get_pipeline(&self, scope: &AccountScope, pipeline_id: i64) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let p = self
            .store
            .pipeline_by_id(grant.account_id(), pipeline_id)
            .await?
            .ok_or_else(|| ApiError::not_found(MSG_PIPELINE_NOT_FOUND))?;
        written_record("a pipeline", &p)
    }

    /// `POST /deals/{deal_id}/pipeline`: puts the deal at a stage of one of the account's
    /// pipelines (its first stage by default). Other pipelines the deal is in are untouched.
    pub async fn move_deal_to_pipeline(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        body: &[u8],
    ) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        let account_id = self.deal_account(&grant, deal_id).await?;
        let input = parse_pipeline_move(&parse_object(body)?)?;
        let pipeline = self
            .store
            .pipeline_by_id(account_id, input.pipeline_id)
            .await?
            .ok_or_else(|| ApiError::bad_request(MSG_PIPELINE_NOT_FOUND))?;
        let status = match input.pipeline_status_id {
            Some(id) => pipeline
                .statuses
                .iter()
                .find(|s| s.id == id)
                .ok_or_else(|| ApiError::bad_request(MSG_PIPELINE_STATUS_NOT_FOUND))?,
            None => pipeline
                .statuses
                .first()
                .ok_or_else(|| ApiError::invalid_field("pipeline_id", "names a pipeline that has no statuses"))?,
        };
        let stage = self.store.move_deal_to_stage(deal_id, pipeline.id, status.id, &now_rfc3339()).await?;
        written_record("a pipeline stage", &stage)
    }

    // -----------------------------------------------------------------------------------------
    // Deal sub-resources

    /// `GET /deals/{deal_id}/properties`, in id order; `limit`/`offset` page it.
    pub async fn deal_properties(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        raw_query: Option<&str>,
    ) -> Result<Page, ApiError> {
        self.deal_rows(scope, deal_id, raw_query, self.store.properties_of(&[deal_id])).await
    }

    /// `GET /deals/{deal_id}/team`, in assignment order; `limit`/`offset` page it.
    pub async fn deal_team(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        raw_query: Option<&str>,
    ) -> Result<Page, ApiError> {
        self.deal_rows(scope, deal_id, raw_query, self.store.team_of(&[deal_id])).await
    }
}
