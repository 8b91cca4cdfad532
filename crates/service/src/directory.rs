//! The lender directory (`/lenders/...`) and market data (`/market/...`): global reference
//! data, the same for every account, read with `lenders:read` (`docs/auth.md#scopes`: market data falls under
//! it too). Nothing here is filtered by account because nothing here belongs to one.
//!
//! The data sets are loaded from levd's built-in data the first time any of these operations
//! runs on a database that never had them (see `Store::ensure_reference_data`), so a plain
//! `levd serve` answers with a full directory without `--demo` and without any network.
use levd_domain::ApiError;
use levd_domain::directory::{LenderSummary, PROGRAM_LIST, parse_directory_query};
use levd_domain::query::{ListQuery, Paging, encode_cursor};
use levd_domain::scope::{AccountScope, Scope};

use crate::shape::Shaped;
use crate::{Page, Record, Service, cursor_pagination, offset_pagination, written_items, written_record};

fn lender_not_found() -> ApiError {
    ApiError::not_found("Lender not found")
}

impl Service {
    /// Loads the built-in reference data where none was ever loaded (one small query when it
    /// was). Public so other domains that read reference data (term sheets resolving a base
    /// rate, companies naming an `org_id`) can make sure it is there.
    pub async fn ensure_reference_data(&self) -> Result<(), ApiError> {
        self.store.ensure_reference_data().await.map_err(ApiError::from)
    }

    /// `GET /lenders/directory`: `name` (case-insensitive, name or alias), `filter[state]`
    /// (headquarters state), `sort=name|-name` (offset paging), `fields`, `limit`, `cursor`.
    pub async fn list_lender_directory(&self, scope: &AccountScope, raw_query: Option<&str>) -> Result<Page, ApiError> {
        scope.require(Scope::LendersRead)?;
        let q = parse_directory_query(raw_query)?;
        self.ensure_reference_data().await?;
        let (mut rows, total) = self.store.list_directory(&q).await?;
        let limit = q.list.limit;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let shaped: Vec<Shaped<'_, LenderSummary>> =
            rows.iter().map(|record| Shaped { record, fields: q.list.fields.as_deref(), extra: &[] }).collect();
        let items = written_items("a page of the lender directory", &shaped)?;
        let pagination = match &q.list.paging {
            Paging::Cursor { raw, .. } => {
                let next = if has_more { rows.last().map(|l| encode_cursor(l.id)) } else { None };
                cursor_pagination(total, limit, raw.as_deref(), has_more, next)
            }
            Paging::Offset { offset } => offset_pagination(total, limit, *offset, has_more),
        };
        Ok(Page { items, pagination })
    }

    /// `GET /lenders/{org_id}`: the lender with every member and its programs.
    pub async fn get_lender(&self, scope: &AccountScope, org_id: i64) -> Result<Record, ApiError> {
        scope.require(Scope::LendersRead)?;
        self.ensure_reference_data().await?;
        let lender = self.store.directory_lender(org_id).await?.ok_or_else(lender_not_found)?;
        written_record("a lender", &lender)
    }

    /// `GET /lenders/{org_id}/programs`: the lender's programs by id, active and inactive
    /// (each carries its `status`), cursor-paged (`limit`, `cursor`).
    pub async fn list_lender_programs(
        &self,
        scope: &AccountScope,
        org_id: i64,
        raw_query: Option<&str>,
    ) -> Result<Page, ApiError> {
        scope.require(Scope::LendersRead)?;
        let q = ListQuery::parse(raw_query, &PROGRAM_LIST)?;
        self.ensure_reference_data().await?;
        if !self.store.directory_lender_exists(org_id).await? {
            return Err(lender_not_found());
        }
        let (raw, after) = match &q.paging {
            Paging::Cursor { raw, after_id } => (raw.as_deref(), *after_id),
            Paging::Offset { .. } => (None, None),
        };
        let (mut rows, total) = self.store.lender_programs(org_id, after, q.limit).await?;
        let has_more = rows.len() > q.limit as usize;
        rows.truncate(q.limit as usize);
        let next = if has_more { rows.last().map(|p| encode_cursor(p.id)) } else { None };
        let items = written_items("a page of lender programs", &rows)?;
        Ok(Page { items, pagination: cursor_pagination(total, q.limit, raw, has_more, next) })
    }

    /// `GET /market/base-rates`: every benchmark with its value in percent and `as_of` date.
    pub async fn list_base_rates(&self, scope: &AccountScope) -> Result<Record, ApiError> {
        scope.require(Scope::LendersRead)?;
        self.ensure_reference_data().await?;
        written_record("the base rates", &self.store.base_rates().await?)
    }

    /// `GET /market/asset-types`: the asset-type catalogue by id.
    pub async fn list_asset_types(&self, scope: &AccountScope) -> Result<Record, ApiError> {
        scope.require(Scope::LendersRead)?;
        self.ensure_reference_data().await?;
        written_record("the asset types", &self.store.asset_types().await?)
    }
}
