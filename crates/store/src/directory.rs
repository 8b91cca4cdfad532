//! The global lender directory and market reference data: `directory_lenders`,
//! `directory_programs`, `market_base_rates`, `market_asset_types` and `reference_datasets`.
//!
//! None of these tables belongs to an account. Each data set is loaded whole: the first time
//! levd needs it (from the built-in data set) or by `levd admin directory` (from a file), always
//! in one transaction, so readers see either the old or the new data, never a mix.
use std::collections::{HashMap, HashSet};

use levd_domain::directory::{
    AssetType, BaseRate, DATASET_ASSET_TYPES, DATASET_BASE_RATES, DATASET_LENDERS, DATASETS, DatasetStatus,
    DirectoryQuery, LenderDetail, LenderProgram, LenderSummary, LoadReport, MAX_PROGRAMS_PER_LENDER, NewLender,
    NewProgram, builtin_asset_types, builtin_base_rates, name_search_text,
};
use levd_domain::query::Paging;
use sqlx::FromRow;

use crate::{Result, Sql, Store, StoreError};

type Tx = crate::WriteTx;

const LENDER_COLUMNS: &str = "id, name, website, logo_url, address, city, state, zip, about, lender_type, category, \
     linkedin_url, aliases, domains, square_logo_url, created_at, updated_at";
const PROGRAM_COLUMNS: &str = "id, lender_id, title, loan_types, recourse_types, min_loan_amount, max_loan_amount, \
     capital_source_type, positions, sponsor_states, status";

/// Rows per multi-row INSERT: few round trips, and far below both backends' bind limits
/// (19 columns × 100 rows).
const CHUNK: usize = 100;

#[derive(Debug, Clone, FromRow)]
struct LenderRow {
    id: i64,
    name: String,
    website: Option<String>,
    logo_url: Option<String>,
    address: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    about: Option<String>,
    lender_type: Option<String>,
    category: Option<String>,
    linkedin_url: Option<String>,
    aliases: Option<String>,
    domains: Option<String>,
    square_logo_url: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Clone, FromRow)]
struct ProgramRow {
    id: i64,
    lender_id: i64,
    title: Option<String>,
    loan_types: Option<String>,
    recourse_types: Option<String>,
    min_loan_amount: Option<f64>,
    max_loan_amount: Option<f64>,
    capital_source_type: Option<String>,
    positions: Option<String>,
    sponsor_states: Option<String>,
    status: Option<String>,
}

#[derive(Debug, Clone, FromRow)]
struct BaseRateRow {
    rate_key: String,
    code: String,
    name: String,
    rate: Option<f64>,
    as_of: String,
}

#[derive(Debug, Clone, FromRow)]
struct AssetTypeRow {
    id: i64,
    description: Option<String>,
    property_sub_types: Option<String>,
}

/// A stored list (JSON array of strings); anything unreadable shows as `null` rather than
/// failing the request.
fn list(v: Option<String>) -> Option<Vec<String>> {
    v.and_then(|s| serde_json::from_str(&s).ok())
}

fn list_text(v: &Option<Vec<String>>) -> Option<String> {
    v.as_ref().and_then(|items| serde_json::to_string(items).ok())
}

impl From<LenderRow> for LenderSummary {
    fn from(r: LenderRow) -> LenderSummary {
        LenderSummary {
            id: r.id,
            name: r.name,
            website: r.website,
            logo_url: r.logo_url,
            address: r.address,
            city: r.city,
            state: r.state,
            zip: r.zip,
            about: r.about,
            lender_type: list(r.lender_type),
            category: r.category,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl LenderRow {
    fn into_detail(self, programs: Vec<LenderProgram>) -> LenderDetail {
        LenderDetail {
            id: self.id,
            name: self.name,
            website: self.website,
            logo_url: self.logo_url,
            address: self.address,
            city: self.city,
            state: self.state,
            zip: self.zip,
            about: self.about,
            lender_type: list(self.lender_type),
            category: self.category,
            linkedin_url: self.linkedin_url,
            aliases: list(self.aliases),
            domains: list(self.domains),
            square_logo_url: self.square_logo_url,
            programs,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

impl From<ProgramRow> for LenderProgram {
    fn from(r: ProgramRow) -> LenderProgram {
        LenderProgram {
            id: r.id,
            title: r.title,
            loan_types: list(r.loan_types),
            recourse_types: list(r.recourse_types),
            min_loan_amount: r.min_loan_amount,
            max_loan_amount: r.max_loan_amount,
            capital_source_type: r.capital_source_type,
            positions: list(r.positions),
            sponsor_states: list(r.sponsor_states),
            status: r.status,
        }
    }
}

impl From<BaseRateRow> for BaseRate {
    fn from(r: BaseRateRow) -> BaseRate {
        BaseRate { code: r.code, name: r.name, rate: r.rate, as_of: r.as_of, key: r.rate_key }
    }
}

impl From<AssetTypeRow> for AssetType {
    fn from(r: AssetTypeRow) -> AssetType {
        AssetType { id: r.id, description: r.description, property_sub_types: r.property_sub_types }
    }
}

fn push_directory_where(qb: &mut Sql, q: &DirectoryQuery) {
    qb.push(" WHERE 1 = 1");
    if let Some(state) = q.state {
        qb.push(" AND state = ").push_bind(state.to_string());
    }
    if let Some(name) = &q.name {
        qb.push_contains("name_search", name);
    }
}

/// What one write of a data set changed.
#[derive(Debug, Default)]
struct Written {
    inserted: usize,
    updated: usize,
    removed: usize,
    programs: usize,
}

async fn count(tx: &mut Tx, table: &'static str) -> Result<i64> {
    Ok(sqlx::query_scalar(sqlf!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut **tx).await?)
}

async fn mark_loaded(tx: &mut Tx, dataset: &str, source: &str, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO reference_datasets (name, source, loaded_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET source = excluded.source, loaded_at = excluded.loaded_at",
    )
    .bind(dataset)
    .bind(source)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims a never-loaded data set for the built-in load; `false` when it is already loaded (or
/// another process is loading it right now and wins).
async fn claim_builtin(tx: &mut Tx, dataset: &str, now: &str) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO reference_datasets (name, source, loaded_at) VALUES ($1, 'builtin', $2) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(dataset)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

async fn write_lenders(tx: &mut Tx, lenders: &[NewLender], replace: bool, now: &str) -> Result<Written> {
    let existing: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, created_at FROM directory_lenders").fetch_all(&mut **tx).await?;
    let existing: HashMap<i64, String> = existing.into_iter().collect();
    let mut w = Written::default();
    if replace {
        let keep: HashSet<i64> = lenders.iter().map(|l| l.id).collect();
        w.removed = existing.keys().filter(|id| !keep.contains(id)).count();
        sqlx::query("DELETE FROM directory_programs").execute(&mut **tx).await?;
        sqlx::query("DELETE FROM directory_lenders").execute(&mut **tx).await?;
    }
    for chunk in lenders.chunks(CHUNK) {
        let mut qb = Sql::new(
            "INSERT INTO directory_lenders (id, name, name_search, name_sort, website, logo_url, address, city, state, \
             zip, about, lender_type, category, linkedin_url, aliases, domains, square_logo_url, created_at, updated_at) \
             VALUES ",
        );
        for (i, l) in chunk.iter().enumerate() {
            if existing.contains_key(&l.id) {
                w.updated += 1;
            } else {
                w.inserted += 1;
            }
            // A merged lender keeps its creation time unless the file gives one.
            let created_at = l.created_at.clone().or_else(|| existing.get(&l.id).cloned()).unwrap_or(now.to_string());
            qb.push(if i == 0 { "(" } else { ", (" });
            qb.push_bind(l.id).push(", ");
            qb.push_bind(l.name.clone()).push(", ");
            qb.push_bind(name_search_text(&l.name, l.aliases.as_deref())).push(", ");
            qb.push_bind(levd_domain::deal::fold_case(&l.name)).push(", ");
            qb.push_bind(l.website.clone()).push(", ");
            qb.push_bind(l.logo_url.clone()).push(", ");
            qb.push_bind(l.address.clone()).push(", ");
            qb.push_bind(l.city.clone()).push(", ");
            qb.push_bind(l.state.clone()).push(", ");
            qb.push_bind(l.zip.clone()).push(", ");
            qb.push_bind(l.about.clone()).push(", ");
            qb.push_bind(list_text(&l.lender_type)).push(", ");
            qb.push_bind(l.category.clone()).push(", ");
            qb.push_bind(l.linkedin_url.clone()).push(", ");
            qb.push_bind(list_text(&l.aliases)).push(", ");
            qb.push_bind(list_text(&l.domains)).push(", ");
            qb.push_bind(l.square_logo_url.clone()).push(", ");
            qb.push_bind(created_at).push(", ");
            qb.push_bind(l.updated_at.clone().unwrap_or(now.to_string())).push(")");
        }
        qb.push(
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_search = excluded.name_search, \
             name_sort = excluded.name_sort, website = excluded.website, logo_url = excluded.logo_url, \
             address = excluded.address, city = excluded.city, state = excluded.state, zip = excluded.zip, \
             about = excluded.about, lender_type = excluded.lender_type, category = excluded.category, \
             linkedin_url = excluded.linkedin_url, aliases = excluded.aliases, domains = excluded.domains, \
             square_logo_url = excluded.square_logo_url, created_at = excluded.created_at, \
             updated_at = excluded.updated_at",
        );
        qb.build().execute(&mut **tx).await?;
    }

    // Programs: a lender that comes with a program list gets exactly that list.
    let with_programs: Vec<&NewLender> = lenders.iter().filter(|l| l.programs.is_some()).collect();
    if !replace {
        for chunk in with_programs.chunks(CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|l| l.id).collect();
            let mut qb = Sql::new("DELETE FROM directory_programs WHERE lender_id IN (");
            qb.push_ids(&ids).push(")");
            qb.build().execute(&mut **tx).await?;
        }
    }
    let stored_max: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM directory_programs").fetch_one(&mut **tx).await?;
    let file_max = with_programs.iter().flat_map(|l| l.programs.iter().flatten()).filter_map(|p| p.id).max();
    let mut next_id = stored_max.max(file_max.unwrap_or(0));
    let rows: Vec<(i64, &NewProgram)> =
        with_programs.iter().flat_map(|l| l.programs.iter().flatten().map(move |p| (l.id, p))).collect();
    w.programs = rows.len();
    for chunk in rows.chunks(CHUNK * 2) {
        let mut qb = Sql::new(format!("INSERT INTO directory_programs ({PROGRAM_COLUMNS}) VALUES "));
        for (i, (lender_id, p)) in chunk.iter().enumerate() {
            let id = match p.id {
                Some(id) => id,
                None => {
                    next_id += 1;
                    next_id
                }
            };
            qb.push(if i == 0 { "(" } else { ", (" });
            qb.push_bind(id).push(", ");
            qb.push_bind(*lender_id).push(", ");
            qb.push_bind(p.title.clone()).push(", ");
            qb.push_bind(list_text(&p.loan_types)).push(", ");
            qb.push_bind(list_text(&p.recourse_types)).push(", ");
            qb.push_bind(p.min_loan_amount).push(", ");
            qb.push_bind(p.max_loan_amount).push(", ");
            qb.push_bind(p.capital_source_type.clone()).push(", ");
            qb.push_bind(list_text(&p.positions)).push(", ");
            qb.push_bind(list_text(&p.sponsor_states)).push(", ");
            qb.push_bind(p.status.clone()).push(")");
        }
        qb.build().execute(&mut **tx).await.map_err(|e| {
            StoreError::on_unique(e, "a program with one of the file's program ids (on another lender)")
        })?;
    }
    Ok(w)
}

async fn write_base_rates(tx: &mut Tx, rates: &[BaseRate], replace: bool, now: &str) -> Result<Written> {
    let existing: Vec<String> =
        sqlx::query_scalar("SELECT rate_key FROM market_base_rates").fetch_all(&mut **tx).await?;
    let existing: HashSet<String> = existing.into_iter().collect();
    let mut w = Written::default();
    if replace {
        let keep: HashSet<&str> = rates.iter().map(|r| r.key.as_str()).collect();
        w.removed = existing.iter().filter(|k| !keep.contains(k.as_str())).count();
        sqlx::query("DELETE FROM market_base_rates").execute(&mut **tx).await?;
    }
    let mut position: i64 = if replace {
        0
    } else {
        sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM market_base_rates").fetch_one(&mut **tx).await?
    };
    for r in rates {
        let dup = |e| StoreError::on_unique(e, "a base rate with this code (under another key)");
        if !replace && existing.contains(&r.key) {
            w.updated += 1;
            // A merged rate keeps its place in the list.
            sqlx::query(
                "UPDATE market_base_rates SET code = $1, name = $2, rate = $3, as_of = $4, updated_at = $5 \
                 WHERE rate_key = $6",
            )
            .bind(&r.code)
            .bind(&r.name)
            .bind(r.rate)
            .bind(&r.as_of)
            .bind(now)
            .bind(&r.key)
            .execute(&mut **tx)
            .await
            .map_err(dup)?;
            continue;
        }
        if existing.contains(&r.key) {
            w.updated += 1;
        } else {
            w.inserted += 1;
        }
        position += 1;
        sqlx::query(
            "INSERT INTO market_base_rates (rate_key, code, name, rate, as_of, position, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.key)
        .bind(&r.code)
        .bind(&r.name)
        .bind(r.rate)
        .bind(&r.as_of)
        .bind(position)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(dup)?;
    }
    Ok(w)
}

async fn write_asset_types(tx: &mut Tx, types: &[AssetType], replace: bool, now: &str) -> Result<Written> {
    let existing: Vec<i64> = sqlx::query_scalar("SELECT id FROM market_asset_types").fetch_all(&mut **tx).await?;
    let existing: HashSet<i64> = existing.into_iter().collect();
    let mut w = Written::default();
    if replace {
        let keep: HashSet<i64> = types.iter().map(|t| t.id).collect();
        w.removed = existing.iter().filter(|id| !keep.contains(id)).count();
        sqlx::query("DELETE FROM market_asset_types").execute(&mut **tx).await?;
    }
    for t in types {
        if existing.contains(&t.id) {
            w.updated += 1;
        } else {
            w.inserted += 1;
        }
        sqlx::query(
            "INSERT INTO market_asset_types (id, description, property_sub_types, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET description = excluded.description, \
             property_sub_types = excluded.property_sub_types, updated_at = excluded.updated_at",
        )
        .bind(t.id)
        .bind(&t.description)
        .bind(&t.property_sub_types)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(w)
}

async fn report(
    tx: &mut Tx,
    dataset: &'static str,
    replace: bool,
    source: &str,
    loaded: usize,
    w: Written,
) -> Result<LoadReport> {
    let (table, programs) = match dataset {
        DATASET_LENDERS => ("directory_lenders", true),
        DATASET_BASE_RATES => ("market_base_rates", false),
        _ => ("market_asset_types", false),
    };
    let total = count(tx, table).await?;
    let total_programs = if programs { Some(count(tx, "directory_programs").await?) } else { None };
    Ok(LoadReport {
        dataset,
        mode: mode(replace),
        source: source.to_string(),
        loaded,
        inserted: w.inserted,
        updated: w.updated,
        removed: w.removed,
        total,
        programs_loaded: programs.then_some(w.programs),
        total_programs,
    })
}

fn mode(replace: bool) -> &'static str {
    if replace { "replace" } else { "merge" }
}

impl Store {
    /// Loads the built-in data set of every reference data set that has never been loaded.
    /// Cheap when all are loaded (one small query); safe when several requests or nodes race
    /// (one of them loads, the others find the data set claimed).
    pub async fn ensure_reference_data(&self) -> Result<()> {
        let loaded: Vec<String> =
            sqlx::query_scalar("SELECT name FROM reference_datasets").fetch_all(&mut *self.conn().await?).await?;
        for dataset in DATASETS {
            let has_builtin = dataset != DATASET_LENDERS || self.builtin_lenders.is_some();
            if has_builtin && !loaded.iter().any(|l| l == dataset) {
                self.load_builtin(dataset, false).await?;
            }
        }
        Ok(())
    }

    /// Loads the built-in version of `dataset`. Without `force`, only when it was never loaded
    /// (and `None` is returned if it was); with `force`, it replaces whatever is there.
    pub async fn load_builtin(&self, dataset: &str, force: bool) -> Result<Option<LoadReport>> {
        // Generated before the write transaction begins, so it is not held open meanwhile.
        let lenders = match (dataset, self.builtin_lenders) {
            (DATASET_LENDERS, Some(make)) => make(),
            (DATASET_LENDERS, None) => return Err(StoreError::NotFound("built-in lender directory")),
            _ => Vec::new(),
        };
        let now = levd_domain::time_fmt::now_rfc3339();
        let mut tx = self.begin_write().await?;
        if force {
            mark_loaded(&mut tx, dataset, "builtin", &now).await?;
        } else if !claim_builtin(&mut tx, dataset, &now).await? {
            return Ok(None);
        }
        let report = match dataset {
            DATASET_LENDERS => {
                let w = write_lenders(&mut tx, &lenders, true, &now).await?;
                report(&mut tx, DATASET_LENDERS, true, "builtin", lenders.len(), w).await?
            }
            DATASET_BASE_RATES => {
                let rates = builtin_base_rates();
                let w = write_base_rates(&mut tx, &rates, true, &now).await?;
                report(&mut tx, DATASET_BASE_RATES, true, "builtin", rates.len(), w).await?
            }
            DATASET_ASSET_TYPES => {
                let types = builtin_asset_types();
                let w = write_asset_types(&mut tx, &types, true, &now).await?;
                report(&mut tx, DATASET_ASSET_TYPES, true, "builtin", types.len(), w).await?
            }
            _ => return Err(StoreError::NotFound("reference data set")),
        };
        tx.commit().await?;
        if !force {
            tracing::info!(dataset, records = report.total, "built-in reference data loaded");
        }
        Ok(Some(report))
    }

    /// Merges lenders (upsert by id; a lender given with programs gets exactly those) or, with
    /// `replace`, makes them the whole directory. One transaction.
    pub async fn load_lenders(&self, lenders: &[NewLender], replace: bool, source: &str) -> Result<LoadReport> {
        let now = levd_domain::time_fmt::now_rfc3339();
        let mut tx = self.begin_write().await?;
        let w = write_lenders(&mut tx, lenders, replace, &now).await?;
        mark_loaded(&mut tx, DATASET_LENDERS, source, &now).await?;
        let report = report(&mut tx, DATASET_LENDERS, replace, source, lenders.len(), w).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Merges base rates (by key) or, with `replace`, makes them the whole list.
    pub async fn load_base_rates(&self, rates: &[BaseRate], replace: bool, source: &str) -> Result<LoadReport> {
        let now = levd_domain::time_fmt::now_rfc3339();
        let mut tx = self.begin_write().await?;
        let w = write_base_rates(&mut tx, rates, replace, &now).await?;
        mark_loaded(&mut tx, DATASET_BASE_RATES, source, &now).await?;
        let report = report(&mut tx, DATASET_BASE_RATES, replace, source, rates.len(), w).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Merges asset types (by id) or, with `replace`, makes them the whole catalogue.
    pub async fn load_asset_types(&self, types: &[AssetType], replace: bool, source: &str) -> Result<LoadReport> {
        let now = levd_domain::time_fmt::now_rfc3339();
        let mut tx = self.begin_write().await?;
        let w = write_asset_types(&mut tx, types, replace, &now).await?;
        mark_loaded(&mut tx, DATASET_ASSET_TYPES, source, &now).await?;
        let report = report(&mut tx, DATASET_ASSET_TYPES, replace, source, types.len(), w).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Each reference data set that has been loaded, with its source and record count.
    pub async fn reference_status(&self) -> Result<Vec<DatasetStatus>> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT name, source, loaded_at FROM reference_datasets ORDER BY name")
                .fetch_all(&mut *self.conn().await?)
                .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (dataset, source, loaded_at) in rows {
            let table = match dataset.as_str() {
                DATASET_LENDERS => "directory_lenders",
                DATASET_BASE_RATES => "market_base_rates",
                DATASET_ASSET_TYPES => "market_asset_types",
                _ => continue,
            };
            let records: i64 =
                sqlx::query_scalar(sqlf!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut *self.conn().await?).await?;
            out.push(DatasetStatus { dataset, source, loaded_at, records });
        }
        Ok(out)
    }

    /// One page of the directory and the number of lenders matching. Returns one row more than
    /// `limit` when a further page exists.
    pub async fn list_directory(&self, q: &DirectoryQuery) -> Result<(Vec<LenderSummary>, i64)> {
        let mut count = Sql::new("SELECT COUNT(*) FROM directory_lenders");
        push_directory_where(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(&mut *self.conn().await?).await?;

        let mut qb = Sql::new(format!("SELECT {LENDER_COLUMNS} FROM directory_lenders"));
        push_directory_where(&mut qb, q);
        if let Paging::Cursor { after_id: Some(after), .. } = q.list.paging {
            qb.push(" AND id > ").push_bind(after);
        }
        qb.push(" ORDER BY ");
        for k in &q.list.sort {
            // `name` is the only sort key; ordering by the folded copy makes it case-blind
            // and the same on both backends (byte order; the PostgreSQL column is COLLATE "C").
            if k.field == "name" {
                qb.push(if k.descending { "name_sort DESC, " } else { "name_sort ASC, " });
            }
        }
        qb.push("id ASC LIMIT ").push_bind(i64::from(q.list.limit) + 1);
        if let Paging::Offset { offset } = q.list.paging {
            qb.push(" OFFSET ").push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        }
        let rows: Vec<LenderRow> = qb.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        Ok((rows.into_iter().map(LenderSummary::from).collect(), total))
    }

    /// A lender with its programs (by id), or `None`.
    pub async fn directory_lender(&self, id: i64) -> Result<Option<LenderDetail>> {
        let row: Option<LenderRow> =
            sqlx::query_as(sqlf!("SELECT {LENDER_COLUMNS} FROM directory_lenders WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let programs: Vec<ProgramRow> = sqlx::query_as(sqlf!(
            "SELECT {PROGRAM_COLUMNS} FROM directory_programs WHERE lender_id = $1 ORDER BY id LIMIT $2"
        ))
        .bind(id)
        .bind(MAX_PROGRAMS_PER_LENDER as i64)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok(Some(row.into_detail(programs.into_iter().map(LenderProgram::from).collect())))
    }

    pub async fn directory_lender_exists(&self, id: i64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM directory_lenders WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *self.conn().await?)
            .await?;
        Ok(n > 0)
    }

    /// One page (by id) of a lender's programs, and how many it has. One row more than `limit`
    /// when a further page exists.
    /// Programs of several lenders at once (a directory page), by lender.
    pub async fn programs_of(&self, lender_ids: &[i64]) -> Result<std::collections::HashMap<i64, Vec<LenderProgram>>> {
        let mut out: std::collections::HashMap<i64, Vec<LenderProgram>> = std::collections::HashMap::new();
        if lender_ids.is_empty() {
            return Ok(out);
        }
        let mut q = Sql::new(format!("SELECT {PROGRAM_COLUMNS} FROM directory_programs WHERE lender_id IN ("));
        q.push_ids(lender_ids).push(") ORDER BY lender_id, id");
        let rows: Vec<ProgramRow> = q.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        for r in rows {
            out.entry(r.lender_id).or_default().push(LenderProgram::from(r));
        }
        Ok(out)
    }

    pub async fn lender_programs(
        &self,
        lender_id: i64,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<LenderProgram>, i64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM directory_programs WHERE lender_id = $1")
            .bind(lender_id)
            .fetch_one(&mut *self.conn().await?)
            .await?;
        let rows: Vec<ProgramRow> = sqlx::query_as(sqlf!(
            "SELECT {PROGRAM_COLUMNS} FROM directory_programs WHERE lender_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(lender_id)
        .bind(after_id.unwrap_or(0))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok((rows.into_iter().map(LenderProgram::from).collect(), total))
    }

    /// Every base rate, in list order.
    pub async fn base_rates(&self) -> Result<Vec<BaseRate>> {
        let rows: Vec<BaseRateRow> = sqlx::query_as(
            "SELECT rate_key, code, name, rate, as_of FROM market_base_rates ORDER BY position, rate_key",
        )
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok(rows.into_iter().map(BaseRate::from).collect())
    }

    /// A base rate by key (`sofr_m1`) or by code (`SOFR 30-Day Avg`): how term sheets resolve
    /// the benchmark they quote.
    pub async fn base_rate(&self, key_or_code: &str) -> Result<Option<BaseRate>> {
        let row: Option<BaseRateRow> = sqlx::query_as(
            "SELECT rate_key, code, name, rate, as_of FROM market_base_rates WHERE rate_key = $1 OR code = $1 \
             ORDER BY position LIMIT 1",
        )
        .bind(key_or_code)
        .fetch_optional(&mut *self.conn().await?)
        .await?;
        Ok(row.map(BaseRate::from))
    }

    /// Every asset type, by id.
    pub async fn asset_types(&self) -> Result<Vec<AssetType>> {
        let rows: Vec<AssetTypeRow> =
            sqlx::query_as("SELECT id, description, property_sub_types FROM market_asset_types ORDER BY id")
                .fetch_all(&mut *self.conn().await?)
                .await?;
        Ok(rows.into_iter().map(AssetType::from).collect())
    }

    /// The whole directory in load-file form (lenders with their programs), for `export`.
    pub async fn export_lenders(&self) -> Result<Vec<NewLender>> {
        let rows: Vec<LenderRow> = sqlx::query_as(sqlf!("SELECT {LENDER_COLUMNS} FROM directory_lenders ORDER BY id"))
            .fetch_all(&mut *self.conn().await?)
            .await?;
        let programs: Vec<ProgramRow> =
            sqlx::query_as(sqlf!("SELECT {PROGRAM_COLUMNS} FROM directory_programs ORDER BY lender_id, id"))
                .fetch_all(&mut *self.conn().await?)
                .await?;
        let mut by_lender: HashMap<i64, Vec<NewProgram>> = HashMap::new();
        for p in programs {
            let lender_id = p.lender_id;
            let p = LenderProgram::from(p);
            by_lender.entry(lender_id).or_default().push(NewProgram {
                id: Some(p.id),
                title: p.title,
                loan_types: p.loan_types,
                recourse_types: p.recourse_types,
                min_loan_amount: p.min_loan_amount,
                max_loan_amount: p.max_loan_amount,
                capital_source_type: p.capital_source_type,
                positions: p.positions,
                sponsor_states: p.sponsor_states,
                status: p.status,
            });
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let programs = by_lender.remove(&r.id).unwrap_or_default();
                let d = r.into_detail(Vec::new());
                NewLender {
                    id: d.id,
                    name: d.name,
                    website: d.website,
                    logo_url: d.logo_url,
                    address: d.address,
                    city: d.city,
                    state: d.state,
                    zip: d.zip,
                    about: d.about,
                    lender_type: d.lender_type,
                    category: d.category,
                    linkedin_url: d.linkedin_url,
                    aliases: d.aliases,
                    domains: d.domains,
                    square_logo_url: d.square_logo_url,
                    created_at: Some(d.created_at),
                    updated_at: Some(d.updated_at),
                    programs: Some(programs),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_lender() -> Vec<NewLender> {
        let json = r#"[{"id": 42, "name": "Only Bank"}]"#;
        levd_domain::directory::parse_lenders_json(json).expect("lender")
    }

    /// A store without a maker of built-in lenders loads the other data sets but leaves the
    /// lenders unclaimed, so a store that has one loads them later.
    #[tokio::test]
    async fn lenders_load_only_where_a_maker_is_given() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("lev.db").display());
        let bare = Store::open_and_migrate(&url).await.expect("open");
        bare.ensure_reference_data().await.expect("reference data");
        let names = |s: Vec<DatasetStatus>| s.into_iter().map(|d| d.dataset).collect::<Vec<_>>();
        assert_eq!(names(bare.reference_status().await.expect("status")), [DATASET_ASSET_TYPES, DATASET_BASE_RATES]);
        assert!(matches!(bare.load_builtin(DATASET_LENDERS, true).await, Err(StoreError::NotFound(_))));

        let full = bare.clone().with_builtin_lenders(one_lender);
        full.ensure_reference_data().await.expect("reference data");
        let status = full.reference_status().await.expect("status");
        let lenders = status.iter().find(|d| d.dataset == DATASET_LENDERS).expect("lenders loaded");
        assert_eq!((lenders.source.as_str(), lenders.records), ("builtin", 1));
    }
}
