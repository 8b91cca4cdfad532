//! Deals and the sub-resources deals embed (financials, properties, team, pipelines).
use std::collections::HashMap;

use levd_domain::deal::{
    Deal, DealChanges, FINANCIAL_FIELDS, FinancialKind, FinancialsWrite, NewDeal, fold_case, search_text,
};
use levd_domain::input::Patch;
use levd_domain::query::{Filter, FilterOp, FilterValue, ListQuery, Paging};
use serde_json::{Map, Value};
use sqlx::{FromRow, Row};

use crate::{Result, Sql, Store, StoreError, WriteTx, pg, readers};

#[derive(Debug, Clone, FromRow)]
struct DealRow {
    id: i64,
    owner_account_id: i64,
    title: String,
    loan_amount: Option<f64>,
    loan_type: Option<String>,
    transaction_type: Option<String>,
    business_plan: Option<String>,
    description: Option<String>,
    estimated_close_date: Option<String>,
    close_date: Option<String>,
    created_at: String,
    updated_at: String,
    archived: i64,
    archived_at: Option<String>,
}

crate::readers::from_sqlite!(DealRow {
    id,
    owner_account_id,
    title,
    loan_amount,
    loan_type,
    transaction_type,
    business_plan,
    description,
    estimated_close_date,
    close_date,
    created_at,
    updated_at,
    archived,
    archived_at,
});

impl From<DealRow> for Deal {
    fn from(r: DealRow) -> Deal {
        Deal {
            id: r.id,
            title: r.title,
            loan_amount: r.loan_amount,
            loan_type: r.loan_type,
            transaction_type: r.transaction_type,
            business_plan: r.business_plan,
            description: r.description,
            estimated_close_date: r.estimated_close_date,
            close_date: r.close_date,
            owner_account_id: r.owner_account_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            archived: r.archived != 0,
            archived_at: r.archived_at,
        }
    }
}

#[derive(Debug, Clone, FromRow, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct DealPropertyRow {
    #[serde(skip)]
    pub deal_id: i64,
    pub id: i64,
    pub name: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub asset_type_id: Option<i64>,
    pub units: Option<i64>,
    pub square_footage: Option<f64>,
    pub year_built: Option<i64>,
}

#[derive(Debug, Clone, FromRow, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct DealTeamRow {
    #[serde(skip)]
    pub deal_id: i64,
    pub id: i64,
    pub user_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub deal_role: Option<String>,
    #[serde(serialize_with = "flag")]
    #[schema(value_type = bool)]
    pub is_primary: i64,
    pub permission: Option<String>,
    pub photo_url: Option<String>,
}

#[derive(Debug, Clone, FromRow, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct DealPipelineRow {
    #[serde(skip)]
    pub deal_id: i64,
    pub pipeline_id: i64,
    pub status_name: String,
    pub updated_at: String,
}

const DEAL_COLUMNS: &str = "id, owner_account_id, title, loan_amount, loan_type, transaction_type, business_plan, \
     description, estimated_close_date, close_date, created_at, updated_at, archived, archived_at";

/// Column for a filter or sort name; names come from the list grammar, this match is the
/// second fence that keeps anything else out of SQL text.
fn deal_column(name: &str) -> Option<&'static str> {
    Some(match name {
        "title" => "title",
        "loan_amount" => "loan_amount",
        "loan_type" => "loan_type",
        "transaction_type" => "transaction_type",
        "business_plan" => "business_plan",
        "archived" => "archived",
        "created_at" => "created_at",
        "updated_at" => "updated_at",
        _ => return None,
    })
}

fn push_filter(qb: &mut Sql, f: &Filter) {
    let Some(col) = deal_column(f.field) else { return };
    let op = match f.op {
        FilterOp::Eq => "=",
        FilterOp::Gte => ">=",
        FilterOp::Lte => "<=",
        FilterOp::Gt => ">",
        FilterOp::Lt => "<",
    };
    qb.push(format_args!(" AND {col} {op} "));
    match &f.value {
        FilterValue::Text(s) | FilterValue::DateTime(s) => qb.push_bind(s.clone()),
        FilterValue::Bool(b) => qb.push_bind(i64::from(*b)),
        FilterValue::Number(n) => qb.push_bind(*n),
    };
}

/// The largest offset of a deal page still read on the calling thread (see `list_deals`).
const INLINE_OFFSET_MAX: u64 = 1000;

/// The maintained count that answers a deal list's total without counting rows: every deal of
/// the account (`None`), or those archived or not (`Some`). Other filters and searches count.
fn maintained_total(q: &ListQuery) -> Option<Option<bool>> {
    if q.search.is_some() {
        return None;
    }
    match q.filters.as_slice() {
        [] => Some(None),
        [Filter { field: "archived", op: FilterOp::Eq, value: FilterValue::Bool(b) }] => Some(Some(*b)),
        _ => None,
    }
}

/// `INSERT INTO deals … RETURNING` the new deal's columns.
fn push_insert(q: &mut Sql, account_id: i64, d: &NewDeal, now: &str) {
    q.push(
        "INSERT INTO deals (owner_account_id, title, loan_amount, loan_type, transaction_type, business_plan, \
         description, estimated_close_date, created_at, updated_at, archived, search_text) VALUES (",
    );
    q.push_bind(account_id).push(", ").push_bind(d.title.clone()).push(", ");
    q.push_opt_f64(d.loan_amount).push(", ");
    q.push_bind(d.loan_type.map(str::to_string)).push(", ");
    q.push_bind(d.transaction_type.map(str::to_string)).push(", ");
    q.push_bind(d.business_plan.map(str::to_string)).push(", ");
    q.push_bind(d.description.clone()).push(", ");
    q.push_bind(d.estimated_close_date.clone()).push(", ");
    q.push_bind(now.to_string()).push(", ").push_bind(now.to_string()).push(", 0, ");
    q.push_bind(search_text(&d.title, d.description.as_deref()));
    q.push(format_args!(") RETURNING {DEAL_COLUMNS}"));
}

/// The `WHERE`, order, limit and offset of a page of deals (after `SELECT … FROM deals`).
fn push_page(qb: &mut Sql, account_id: i64, q: &ListQuery) {
    push_where(qb, account_id, q);
    if let Paging::Cursor { after_id: Some(after), .. } = q.paging {
        qb.push(" AND id > ").push_bind(after);
    }
    qb.push(" ORDER BY ");
    for k in &q.sort {
        if let Some(col) = deal_column(k.field) {
            // Nulls last in both directions, the same on every backend.
            let dir = if k.descending { "DESC" } else { "ASC" };
            qb.push(format_args!("({col} IS NULL) ASC, {col} {dir}, "));
        }
    }
    qb.push("id ASC LIMIT ").push_bind(i64::from(q.limit) + 1);
    if let Paging::Offset { offset } = q.paging {
        qb.push(" OFFSET ").push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
    }
}

fn push_where(qb: &mut Sql, account_id: i64, q: &ListQuery) {
    qb.push(" WHERE owner_account_id = ").push_bind(account_id);
    for f in &q.filters {
        push_filter(qb, f);
    }
    if let Some(s) = &q.search {
        qb.push_contains("search_text", &fold_case(s));
    }
}

impl Store {
    /// One page of the account's deals and the number of deals matching the filters.
    /// Returns one row more than `limit` when a further page exists.
    pub async fn list_deals(&self, account_id: i64, q: &ListQuery) -> Result<(Vec<Deal>, i64)> {
        let maintained = maintained_total(q);
        // Either way one row of (all, archived): the counts triggers keep (migration 0014), one
        // row whatever the account's size; or a count of the matching deals.
        let count = match maintained {
            Some(_) => Sql::new("SELECT total, archived FROM deal_counts WHERE account_id = $1").arg(account_id),
            None => {
                let mut c = Sql::new("SELECT COUNT(*), CAST(0 AS BIGINT) FROM deals");
                push_where(&mut c, account_id, q);
                c
            }
        };
        let archived = maintained.flatten();
        let total_of = move |row: Option<(i64, i64)>| {
            let (all, archived_n) = row.unwrap_or((0, 0));
            match archived {
                None => all,
                Some(true) => archived_n,
                Some(false) => all - archived_n,
            }
        };

        if self.pg().is_some() {
            // PostgreSQL: the total rides on the page's rows, one statement (one round trip, one
            // snapshot); only an empty page asks for it on its own.
            let mut one = Sql::new(format!("SELECT {DEAL_COLUMNS}, "));
            match maintained {
                Some(archived) => {
                    let n = match archived {
                        None => "total",
                        Some(true) => "archived",
                        Some(false) => "total - archived",
                    };
                    one.push(format_args!("COALESCE((SELECT {n} FROM deal_counts WHERE account_id = "));
                    one.push_bind(account_id).push("), 0)");
                }
                None => {
                    one.push("(SELECT COUNT(*) FROM deals");
                    push_where(&mut one, account_id, q);
                    one.push(")");
                }
            }
            one.push(" AS lev_total FROM deals");
            push_page(&mut one, account_id, q);
            let mut c = self.pg_conn().await?;
            let rows = c.all(one).await?;
            let total = match rows.first() {
                Some(row) => pg::get(row, "lev_total")?,
                None => total_of(c.optional(count).await?.as_ref().map(pg::decode_one).transpose()?),
            };
            let rows: Vec<DealRow> = pg::decode(&rows)?;
            return Ok((rows.into_iter().map(Deal::from).collect(), total));
        }

        let mut qb = Sql::new(format!("SELECT {DEAL_COLUMNS} FROM deals"));
        push_page(&mut qb, account_id, q);

        if let Some(readers) = self.readers() {
            // Total and page on one connection (one snapshot). Unfiltered pages in id order read
            // the maintained count and at most `limit + 1` (+ a small offset) entries of the
            // (owner_account_id, id) index: bounded, so they may run on this thread.
            let bounded = maintained == Some(None)
                && q.sort.is_empty()
                && !matches!(q.paging, Paging::Offset { offset } if offset > INLINE_OFFSET_MAX);
            let read = move |c: &rusqlite::Connection| {
                let total = total_of(readers::first(c, &count)?);
                let rows: Vec<DealRow> = readers::query(c, &qb, |rows| rows.collect())?;
                Ok((total, rows))
            };
            let (total, rows) = if bounded { readers.bounded(read).await? } else { readers.run(read).await? };
            return Ok((rows.into_iter().map(Deal::from).collect(), total));
        }
        let total = total_of(count.build_query_as().fetch_optional(&mut *self.conn().await?).await?);
        let rows: Vec<DealRow> = qb.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        Ok((rows.into_iter().map(Deal::from).collect(), total))
    }

    /// A deal of the account, archived or not; `None` when missing or another account's.
    pub async fn deal(&self, account_id: i64, deal_id: i64) -> Result<Option<Deal>> {
        let mut sql = Sql::new(format!("SELECT {DEAL_COLUMNS} FROM deals WHERE id = "));
        sql.push_bind(deal_id).push(" AND owner_account_id = ").push_bind(account_id);
        let row: Option<DealRow> = self.read_optional(sql).await?;
        Ok(row.map(Deal::from))
    }

    /// Creates a deal with its pipeline rows and financials in one transaction.
    pub async fn insert_deal(&self, account_id: i64, d: &NewDeal, now: &str) -> Result<Deal> {
        if self.pg().is_some() && d.pipeline_ids.is_empty() && d.financials.is_none() {
            // PostgreSQL, outside a unit, nothing but the deal: the deal and its empty
            // financials record in one statement, atomic on its own, on a typed connection (one
            // round trip instead of five with the pool's test of the connection, and the
            // account's `deal_counts` row stays locked only until the commit).
            let mut q = Sql::new("WITH d AS (");
            push_insert(&mut q, account_id, d, now);
            q.push("), f AS (INSERT INTO deal_financials (deal_id, updated_at) SELECT id, ");
            q.push_bind(now.to_string()).push(format_args!(" FROM d) SELECT {DEAL_COLUMNS} FROM d"));
            let row = self.pg_conn().await?.one(q).await?;
            return Ok(Deal::from(pg::decode_one::<DealRow>(&row)?));
        }
        if let Some(writer) = self.readers()
            && d.pipeline_ids.is_empty()
            && d.financials.is_none()
        {
            // SQLite, outside a unit, nothing but the deal: the deal and its empty financials
            // record in one write transaction on the writer connection, in one hop to its
            // thread (through the pool, each statement is a hop to the connection's worker).
            let turn = self.writer_turn().await?;
            let mut q = Sql::new("");
            push_insert(&mut q, account_id, d, now);
            let financials = Sql::new("INSERT INTO deal_financials (deal_id, updated_at) VALUES ($1, $2)");
            let now = now.to_string();
            let row: DealRow = writer
                .write(turn, move |c| {
                    let row: DealRow = readers::first(c, &q)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                    let financials = financials.arg(row.id).arg(now);
                    readers::first::<i64>(c, &financials)?;
                    Ok(row)
                })
                .await?;
            return Ok(Deal::from(row));
        }
        let mut tx = self.begin_write().await?;
        let mut q = Sql::new("");
        push_insert(&mut q, account_id, d, now);
        let row: DealRow = q.build_query_as().fetch_one(&mut *tx).await?;
        for pid in &d.pipeline_ids {
            let n = sqlx::query(
                "INSERT INTO deal_pipelines (deal_id, pipeline_id, status_id, updated_at) \
                 SELECT $1, p.id, s.id, $2 FROM pipelines p \
                 JOIN pipeline_statuses s ON s.id = (SELECT id FROM pipeline_statuses WHERE pipeline_id = p.id ORDER BY position, id LIMIT 1) \
                 WHERE p.id = $3 AND p.owner_account_id = $4",
            )
            .bind(row.id)
            .bind(now)
            .bind(pid)
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::UnknownPipeline);
            }
        }
        // Every deal has its financials record from creation, all values null until set.
        sqlx::query("INSERT INTO deal_financials (deal_id, updated_at) VALUES ($1, $2)")
            .bind(row.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Some(f) = &d.financials {
            write_financials(&mut tx, row.id, f, now).await?;
        }
        tx.commit().await?;
        Ok(Deal::from(row))
    }

    /// Applies a partial update; `None` when the deal is not the account's.
    pub async fn update_deal(&self, account_id: i64, deal_id: i64, c: &DealChanges, now: &str) -> Result<Option<Deal>> {
        // Nothing to change: nothing is written, `updated_at` included.
        if c.is_empty() {
            return self.deal(account_id, deal_id).await;
        }
        let mut tx = self.begin_write().await?;
        let mut qb = Sql::new("UPDATE deals SET updated_at = ");
        qb.push_bind(now.to_string());
        if let Some(t) = &c.title {
            qb.push(", title = ").push_bind(t.clone());
        }
        push_patch(&mut qb, "loan_amount", &c.loan_amount);
        push_patch(&mut qb, "loan_type", &c.loan_type.clone().map_static());
        push_patch(&mut qb, "transaction_type", &c.transaction_type.clone().map_static());
        push_patch(&mut qb, "business_plan", &c.business_plan.clone().map_static());
        push_patch(&mut qb, "description", &c.description);
        push_patch(&mut qb, "estimated_close_date", &c.estimated_close_date);
        qb.push(" WHERE id = ").push_bind(deal_id).push(" AND owner_account_id = ").push_bind(account_id);
        qb.push(format_args!(" RETURNING {DEAL_COLUMNS}"));
        let row: Option<DealRow> = qb.build_query_as().fetch_optional(&mut *tx).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        if c.touches_search() {
            sqlx::query("UPDATE deals SET search_text = $1 WHERE id = $2")
                .bind(search_text(&row.title, row.description.as_deref()))
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(f) = &c.financials {
            write_financials(&mut tx, deal_id, f, now).await?;
        }
        tx.commit().await?;
        Ok(Some(row.into()))
    }

    /// Archives a deal (soft delete). Archiving an archived deal keeps its first `archived_at`.
    /// `false` when the deal is not the account's.
    pub async fn archive_deal(&self, account_id: i64, deal_id: i64, now: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE deals SET archived = 1, archived_at = COALESCE(archived_at, $1), \
             updated_at = CASE WHEN archived = 1 THEN updated_at ELSE $2 END \
             WHERE id = $3 AND owner_account_id = $4",
        )
        .bind(now)
        .bind(now)
        .bind(deal_id)
        .bind(account_id)
        .execute(&mut *self.conn().await?)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Full financials of the given deals, as JSON objects keyed by deal id.
    pub async fn financials_of(&self, deal_ids: &[i64]) -> Result<HashMap<i64, Map<String, Value>>> {
        if deal_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let cols: Vec<&str> = FINANCIAL_FIELDS.iter().map(|(n, _)| *n).collect();
        let mut qb = Sql::new(format!(
            "SELECT id, deal_id, {}, updated_at FROM deal_financials WHERE deal_id IN (",
            cols.join(", ")
        ));
        qb.push_ids(deal_ids);
        qb.push(")");
        let rows = qb.build().fetch_all(&mut *self.conn().await?).await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let deal_id: i64 = row.try_get("deal_id")?;
            let mut m = Map::new();
            m.insert("id".into(), Value::from(row.try_get::<i64, _>("id")?));
            m.insert("deal_id".into(), Value::from(deal_id));
            for (name, kind) in FINANCIAL_FIELDS {
                let v = match kind {
                    FinancialKind::Number => row.try_get::<Option<f64>, _>(*name)?.map(Value::from),
                    FinancialKind::Integer => row.try_get::<Option<i64>, _>(*name)?.map(Value::from),
                    FinancialKind::Date => row.try_get::<Option<String>, _>(*name)?.map(Value::from),
                    FinancialKind::Flag => row.try_get::<Option<i64>, _>(*name)?.map(|f| Value::from(f != 0)),
                };
                m.insert((*name).into(), v.unwrap_or(Value::Null));
            }
            m.insert(
                "updated_at".into(),
                row.try_get::<Option<String>, _>("updated_at")?.map_or(Value::Null, Value::from),
            );
            out.insert(deal_id, m);
        }
        Ok(out)
    }

    /// The rows `select` (ending in `deal_id IN (`) finds for `deal_ids`, in `order`; none
    /// for no deals.
    async fn rows_of_deals<R>(&self, select: &'static str, deal_ids: &[i64], order: &'static str) -> Result<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        if deal_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = Sql::new(select);
        push_ids(&mut qb, deal_ids);
        qb.push(") ").push(order);
        Ok(qb.build_query_as().fetch_all(&mut *self.conn().await?).await?)
    }

    pub async fn properties_of(&self, deal_ids: &[i64]) -> Result<Vec<DealPropertyRow>> {
        self.rows_of_deals(
            "SELECT deal_id, id, name, address, city, state, zip, asset_type_id, units, square_footage, year_built \
             FROM deal_properties WHERE deal_id IN (",
            deal_ids,
            "ORDER BY deal_id, id",
        )
        .await
    }

    pub async fn team_of(&self, deal_ids: &[i64]) -> Result<Vec<DealTeamRow>> {
        self.rows_of_deals(
            "SELECT t.deal_id, t.id, t.user_id, u.first_name, u.last_name, u.email, t.deal_role, t.is_primary, \
             t.permission, u.photo_url FROM deal_team t JOIN users u ON u.id = t.user_id WHERE t.deal_id IN (",
            deal_ids,
            "ORDER BY t.deal_id, t.id",
        )
        .await
    }

    /// Current pipeline rows of the deals, most recently moved first. `status_name` is the
    /// stage's status key, the value clients join with a pipeline's `statuses[].status`.
    pub async fn pipelines_of(&self, deal_ids: &[i64]) -> Result<Vec<DealPipelineRow>> {
        self.rows_of_deals(
            "SELECT dp.deal_id, dp.pipeline_id, s.key AS status_name, dp.updated_at \
             FROM deal_pipelines dp JOIN pipeline_statuses s ON s.id = dp.status_id WHERE dp.deal_id IN (",
            deal_ids,
            "ORDER BY dp.deal_id, dp.updated_at DESC, dp.pipeline_id",
        )
        .await
    }

    /// Creates a pipeline with its ordered statuses (`(key, name)`); returns its id.
    pub async fn insert_pipeline(
        &self,
        account_id: i64,
        name: &str,
        pipeline_type: &str,
        statuses: &[(&str, &str)],
        now: &str,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO pipelines (owner_account_id, name, pipeline_type, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(account_id)
        .bind(name)
        .bind(pipeline_type)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for (pos, (key, sname)) in statuses.iter().enumerate() {
            sqlx::query("INSERT INTO pipeline_statuses (pipeline_id, key, name, position) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(*key)
                .bind(*sname)
                .bind(i64::try_from(pos).unwrap_or(0))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Puts a deal of the account in a pipeline at the status at `position` (demo data).
    pub async fn place_deal_in_pipeline(&self, deal_id: i64, pipeline_id: i64, position: i64, at: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO deal_pipelines (deal_id, pipeline_id, status_id, updated_at) \
             SELECT $1, $2, id, $3 FROM pipeline_statuses WHERE pipeline_id = $4 AND position = $5 \
             ON CONFLICT (deal_id, pipeline_id) DO UPDATE SET status_id = excluded.status_id, updated_at = excluded.updated_at",
        )
        .bind(deal_id)
        .bind(pipeline_id)
        .bind(at)
        .bind(pipeline_id)
        .bind(position)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    pub async fn insert_property(&self, deal_id: i64, p: &DealPropertyRow) -> Result<i64> {
        let mut q = Sql::new(
            "INSERT INTO deal_properties (deal_id, name, address, city, state, zip, asset_type_id, units, square_footage, year_built) VALUES (",
        );
        q.push_bind(deal_id).push(", ").push_bind(p.name.clone()).push(", ").push_bind(p.address.clone()).push(", ");
        q.push_bind(p.city.clone())
            .push(", ")
            .push_bind(p.state.clone())
            .push(", ")
            .push_bind(p.zip.clone())
            .push(", ");
        q.push_bind(p.asset_type_id).push(", ").push_bind(p.units).push(", ");
        q.push_opt_f64(p.square_footage).push(", ").push_bind(p.year_built).push(") RETURNING id");
        Ok(q.build_query_scalar().fetch_one(&mut *self.conn().await?).await?)
    }

    pub async fn insert_team_member(
        &self,
        deal_id: i64,
        user_id: i64,
        deal_role: &str,
        is_primary: bool,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO deal_team (deal_id, user_id, deal_role, is_primary, permission) VALUES ($1, $2, $3, $4, 'edit') RETURNING id",
        )
        .bind(deal_id)
        .bind(user_id)
        .bind(deal_role)
        .bind(i64::from(is_primary))
        .fetch_one(&mut *self.conn().await?)
        .await?)
    }

    /// Gives a deal of the account its (all-null) financials record if it has none, stamped
    /// with the deal's creation time. Safe to race: the record is unique per deal.
    pub async fn ensure_financials(&self, account_id: i64, deal_id: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO deal_financials (deal_id, updated_at) \
             SELECT id, created_at FROM deals WHERE id = $1 AND owner_account_id = $2 \
             ON CONFLICT (deal_id) DO NOTHING",
        )
        .bind(deal_id)
        .bind(account_id)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    /// Sets arbitrary financial values of a deal (demo data); names must be financial fields.
    pub async fn set_financial_values(&self, deal_id: i64, values: &[(&'static str, Value)], now: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO deal_financials (deal_id, updated_at) VALUES ($1, $2) ON CONFLICT (deal_id) DO NOTHING",
        )
        .bind(deal_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (name, v) in values {
            if !FINANCIAL_FIELDS.iter().any(|(n, _)| n == name) {
                continue;
            }
            let mut qb = Sql::new(format!("UPDATE deal_financials SET {name} = "));
            match v {
                Value::Number(n) if n.is_i64() => qb.push_bind(n.as_i64()),
                Value::Number(n) => qb.push_bind(n.as_f64()),
                Value::Bool(b) => qb.push_bind(i64::from(*b)),
                Value::String(s) => qb.push_bind(s.clone()),
                _ => qb.push_bind(None::<String>),
            };
            qb.push(" WHERE deal_id = ").push_bind(deal_id);
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets when a deal was last changed (demo data, which spreads its history over months).
    pub async fn set_deal_updated_at(&self, deal_id: i64, at: &str) -> Result<()> {
        sqlx::query("UPDATE deals SET updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(deal_id)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }
}

fn push_ids(qb: &mut Sql, ids: &[i64]) {
    qb.push_ids(ids);
}

trait MapStatic {
    fn map_static(self) -> Patch<String>;
}

impl MapStatic for Patch<&'static str> {
    fn map_static(self) -> Patch<String> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(v.to_string()),
        }
    }
}

trait BindPatch {
    fn push_set(&self, qb: &mut Sql, col: &str);
}

impl BindPatch for Patch<f64> {
    fn push_set(&self, qb: &mut Sql, col: &str) {
        match self {
            Patch::Absent => {}
            Patch::Null => {
                qb.push(format_args!(", {col} = NULL"));
            }
            Patch::Value(v) => {
                qb.push(format_args!(", {col} = ")).push_bind(*v);
            }
        }
    }
}

impl BindPatch for Patch<String> {
    fn push_set(&self, qb: &mut Sql, col: &str) {
        match self {
            Patch::Absent => {}
            Patch::Null => {
                qb.push(format_args!(", {col} = NULL"));
            }
            Patch::Value(v) => {
                qb.push(format_args!(", {col} = ")).push_bind(v.clone());
            }
        }
    }
}

fn push_patch<P: BindPatch>(qb: &mut Sql, col: &str, p: &P) {
    p.push_set(qb, col);
}

/// Writes `DealFinancialsWrite` values into the deal's record (created first should the deal
/// predate the rule that every deal has one).
async fn write_financials(tx: &mut WriteTx, deal_id: i64, f: &FinancialsWrite, now: &str) -> Result<()> {
    sqlx::query("INSERT INTO deal_financials (deal_id, updated_at) VALUES ($1, $2) ON CONFLICT (deal_id) DO NOTHING")
        .bind(deal_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    let mut qb = Sql::new("UPDATE deal_financials SET updated_at = ");
    qb.push_bind(now.to_string());
    for (name, v) in &f.values {
        // Names are from FINANCIALS_WRITE_FIELDS, a fixed list.
        qb.push(format_args!(", {name} = ")).push_opt_f64(*v);
    }
    qb.push(" WHERE deal_id = ").push_bind(deal_id);
    qb.build().execute(&mut **tx).await?;
    Ok(())
}

/// Flags are stored as integers (portable across backends) and shown as booleans.
fn flag<S: serde::Serializer>(v: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_bool(*v != 0)
}
