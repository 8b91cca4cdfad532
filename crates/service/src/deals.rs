//! Deals: list, create, read, update, archive, financials.
use std::collections::HashMap;

use levd_domain::ApiError;
use levd_domain::deal::{DEAL_LIST, Deal, EMBEDDED_FINANCIAL_FIELDS, parse_deal_changes, parse_new_deal};
use levd_domain::input::parse_object;
use levd_domain::query::{ListQuery, ListSpec, Paging, encode_cursor};
use levd_domain::scope::{AccountScope, Scope};
use levd_domain::time_fmt::now_rfc3339;
use levd_store::StoreError;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::records::deal_not_found;
use crate::shape::Shaped;
use crate::{Page, Record, Service, cursor_pagination, offset_pagination, write, written_items, written_record};

/// `include` and `fields` of a single-deal read.
const DEAL_GET: ListSpec = ListSpec {
    filters: &[],
    sorts: &[],
    fields: DEAL_LIST.fields,
    includes: DEAL_LIST.includes,
    search: false,
    cursor: false,
    offset: false,
};

/// Maximum pipeline rows embedded per deal.
const MAX_PIPELINE_ROWS: usize = 10;

impl Service {
    /// The requested sub-resources of each deal of `ids`, in `includes` order (the query parser
    /// has removed repeats), written as members to add to the deal.
    async fn embedded(&self, ids: &[i64], includes: &[&'static str]) -> Result<Vec<Extra>, ApiError> {
        let mut out: Vec<Extra> = ids.iter().map(|_| Vec::new()).collect();
        for inc in includes {
            let (mut by_deal, empty) = match *inc {
                "financials" => {
                    let mut by_deal = HashMap::new();
                    for (id, f) in self.store.financials_of(ids).await? {
                        let keys =
                            ["id", "deal_id"].iter().chain(EMBEDDED_FINANCIAL_FIELDS).chain(["updated_at"].iter());
                        let members = Members(keys.map(|k| (*k, f.get(*k).unwrap_or(&Value::Null))).collect());
                        by_deal.insert(id, write("embedded financials", &members)?);
                    }
                    (by_deal, Value::Null)
                }
                "properties" => (
                    grouped(self.store.properties_of(ids).await?, |p| p.deal_id, usize::MAX)?,
                    Value::Array(Vec::new()),
                ),
                "team" => {
                    (grouped(self.store.team_of(ids).await?, |t| t.deal_id, usize::MAX)?, Value::Array(Vec::new()))
                }
                "pipelines" => (
                    grouped(self.store.pipelines_of(ids).await?, |p| p.deal_id, MAX_PIPELINE_ROWS)?,
                    Value::Array(Vec::new()),
                ),
                _ => continue,
            };
            let empty = write("an empty embedded member", &empty)?;
            for (d, id) in out.iter_mut().zip(ids) {
                d.push((*inc, by_deal.remove(id).unwrap_or_else(|| empty.clone())));
            }
        }
        Ok(out)
    }

    /// `GET /deals`.
    pub async fn list_deals(&self, scope: &AccountScope, raw_query: Option<&str>) -> Result<Page, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let q = ListQuery::parse(raw_query, &DEAL_LIST)?;
        let (mut rows, total) = self.store.list_deals(grant.account_id(), &q).await?;
        let has_more = rows.len() > q.limit as usize;
        rows.truncate(q.limit as usize);
        let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
        let extras = self.embedded(&ids, &q.includes).await?;
        // Written straight from the records: no JSON tree of the page.
        let shaped: Vec<Shaped<'_, Deal>> = rows
            .iter()
            .zip(&extras)
            .map(|(record, extra)| Shaped { record, fields: q.fields.as_deref(), extra })
            .collect();
        let items = written_items("a page of deals", &shaped)?;
        let pagination = match &q.paging {
            Paging::Cursor { raw, .. } => {
                let next = if has_more { ids.last().map(|id| encode_cursor(*id)) } else { None };
                cursor_pagination(total, q.limit, raw.as_deref(), has_more, next)
            }
            Paging::Offset { offset } => offset_pagination(total, q.limit, *offset, has_more),
        };
        Ok(Page { items, pagination })
    }

    /// `GET /deals/{deal_id}`.
    pub async fn get_deal(
        &self,
        scope: &AccountScope,
        deal_id: i64,
        raw_query: Option<&str>,
    ) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let q = ListQuery::parse(raw_query, &DEAL_GET)?;
        let deal = self.store.deal(grant.account_id(), deal_id).await?.ok_or_else(deal_not_found)?;
        let extra = self.embedded(&[deal.id], &q.includes).await?.pop().unwrap_or_default();
        written_record("a deal", &Shaped { record: &deal, fields: q.fields.as_deref(), extra: &extra })
    }

    /// `POST /deals`.
    pub async fn create_deal(&self, scope: &AccountScope, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        let input = parse_new_deal(&parse_object(body)?)?;
        let deal = self.store.insert_deal(grant.account_id(), &input, &now_rfc3339()).await.map_err(|e| match e {
            StoreError::UnknownPipeline => {
                ApiError::invalid_field("pipeline_ids", "contains a pipeline that does not exist or is not accessible")
            }
            other => other.into(),
        })?;
        written_record("a deal", &deal)
    }

    /// `PATCH /deals/{deal_id}`.
    pub async fn update_deal(&self, scope: &AccountScope, deal_id: i64, body: &[u8]) -> Result<Record, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        let changes = parse_deal_changes(&parse_object(body)?)?;
        let deal = self
            .store
            .update_deal(grant.account_id(), deal_id, &changes, &now_rfc3339())
            .await?
            .ok_or_else(deal_not_found)?;
        written_record("a deal", &deal)
    }

    /// `DELETE /deals/{deal_id}`: archives; repeating it answers the same (`docs/api.md#deletes`).
    pub async fn archive_deal(&self, scope: &AccountScope, deal_id: i64) -> Result<Value, ApiError> {
        let grant = scope.require(Scope::DealsWrite)?;
        if !self.store.archive_deal(grant.account_id(), deal_id, &now_rfc3339()).await? {
            return Err(deal_not_found());
        }
        Ok(json!({ "deleted": true }))
    }

    /// `GET /deals/{deal_id}/financials`: the full record. Every deal has one from creation; a
    /// deal stored before that rule gets its (all-null) record on first read.
    pub async fn deal_financials(&self, scope: &AccountScope, deal_id: i64) -> Result<Value, ApiError> {
        let grant = scope.require(Scope::DealsRead)?;
        let account_id = self.deal_account(&grant, deal_id).await?;
        if let Some(m) = self.store.financials_of(&[deal_id]).await?.remove(&deal_id) {
            return Ok(Value::Object(m));
        }
        self.store.ensure_financials(account_id, deal_id).await?;
        let mut all = self.store.financials_of(&[deal_id]).await?;
        all.remove(&deal_id).map(Value::Object).ok_or_else(deal_not_found)
    }
}

/// The members a deal embeds (`include=`), each written.
type Extra = Vec<(&'static str, Box<RawValue>)>;

/// Named members written as a JSON object, in their order.
struct Members<'a>(Vec<(&'a str, &'a Value)>);

impl Serialize for Members<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().copied())
    }
}

/// `rows` grouped by deal (at most `max` a deal, in the order read), each group written as an
/// array.
fn grouped<T: Serialize>(
    rows: Vec<T>,
    deal_of: impl Fn(&T) -> i64,
    max: usize,
) -> Result<HashMap<i64, Box<RawValue>>, ApiError> {
    let mut groups: HashMap<i64, Vec<T>> = HashMap::new();
    for row in rows {
        let group = groups.entry(deal_of(&row)).or_default();
        if group.len() < max {
            group.push(row);
        }
    }
    groups.into_iter().map(|(id, g)| Ok((id, write("embedded rows of a deal", &g)?))).collect()
}
