//! Placements, term sheets, and the pipeline reads and moves the API offers.
//!
//! Visibility is decided here, in SQL, so pages and totals agree with what the caller may see:
//! every query takes a [`Viewer`] and computes whether the caller owns each placement (creator,
//! member of the deal's team, or account admin), leaves out `hidden` placements (and their term
//! sheets) for everyone else, and ranks each placement's lender among the lenders of its deal
//! for the `Lender A` labels of masked views.
//!
//! Lender names are read from the CRM (`companies`, `contacts`) when the row is there, so a
//! renamed company or an unlocked contact shows at once; the copy kept on the placement is the
//! fallback.
use levd_domain::placements::{
    BaseRateSetting, Benchmark, CONTACT_MATCH_NOT_REQUESTED, CONTACT_NO_MATCH, Cell, DealPipelineStage, LenderCheck,
    Pipeline, PipelineStatus, Placement, PlacementInsert, StoredPlacement, StoredTermSheet, TERM_FIELDS, TermSheet,
    TermSheetWrite, Viewer, base_rate_display, effective_spread, find_benchmark,
};
use levd_domain::query::{Filter, FilterValue};
use sqlx::FromRow;

use crate::{Result, Sql, Store, StoreError, WriteTx};

/// Columns of `placements` that [`Store::update_placement`] may set: a fence that keeps
/// anything else out of SQL text.
const PLACEMENT_WRITABLE: &[&str] = &[
    "status",
    "visibility",
    "description",
    "score",
    "outreach_date",
    "lender_status",
    "lev_score",
    "outreach_source",
    "last_communication_date",
    "lender_first_response_date",
];

/// Rank of the lender of placement `p` on its deal: lenders are ordered by their first
/// placement, so labels never change once given.
const LENDER_RANK: &str = "(SELECT COUNT(DISTINCT q.private_company_id) FROM placements q \
     WHERE q.deal_id = p.deal_id AND q.id <= (SELECT MIN(r.id) FROM placements r \
     WHERE r.deal_id = p.deal_id AND r.private_company_id = p.private_company_id))";

/// Lender and contact names, live from the CRM when the rows exist. A locked (AI-recommended,
/// not yet unlocked) contact has no name.
const PLACEMENT_NAMES: &str = "COALESCE(co.name, p.lender_name) AS lender_name, \
     CASE WHEN ct.id IS NULL THEN p.contact_name WHEN ct.is_locked <> 0 THEN NULL \
     ELSE NULLIF(TRIM(COALESCE(ct.first_name, '') || ' ' || COALESCE(ct.last_name, '')), '') END AS contact_name, \
     COALESCE(co.org_id, p.org_id) AS org_id";

const PLACEMENT_JOINS: &str = " LEFT JOIN companies co ON co.id = p.private_company_id AND co.owner_account_id = p.account_id \
     LEFT JOIN contacts ct ON ct.id = p.contact_id AND ct.owner_account_id = p.account_id";

#[derive(Debug, Clone, FromRow)]
struct PlacementRow {
    id: i64,
    deal_id: i64,
    private_company_id: i64,
    contact_id: Option<i64>,
    contact_match_status: Option<String>,
    lender_name: Option<String>,
    contact_name: Option<String>,
    org_id: Option<i64>,
    status: String,
    lender_status: Option<String>,
    description: Option<String>,
    lev_score: Option<f64>,
    score: Option<f64>,
    outreach_date: Option<String>,
    outreach_source: Option<String>,
    last_communication_date: Option<String>,
    lender_first_response_date: Option<String>,
    visibility: String,
    created_at: String,
    updated_at: String,
    is_owner: i64,
    lender_rank: i64,
}

crate::readers::from_sqlite!(PlacementRow {
    id,
    deal_id,
    private_company_id,
    contact_id,
    contact_match_status,
    lender_name,
    contact_name,
    org_id,
    status,
    lender_status,
    description,
    lev_score,
    score,
    outreach_date,
    outreach_source,
    last_communication_date,
    lender_first_response_date,
    visibility,
    created_at,
    updated_at,
    is_owner,
    lender_rank
});

impl From<PlacementRow> for StoredPlacement {
    fn from(r: PlacementRow) -> StoredPlacement {
        StoredPlacement {
            placement: Placement {
                id: r.id,
                deal_id: r.deal_id,
                private_company_id: Some(r.private_company_id),
                lender_name: r.lender_name,
                contact_id: r.contact_id,
                contact_name: r.contact_name,
                // Rows recorded without an outcome (created before it was kept, or loaded as
                // demo data) show the one their contact implies.
                contact_match_status: Some(r.contact_match_status.unwrap_or_else(|| {
                    let implied = if r.contact_id.is_some() { CONTACT_MATCH_NOT_REQUESTED } else { CONTACT_NO_MATCH };
                    implied.to_string()
                })),
                status: r.status,
                lender_status: r.lender_status,
                description: r.description,
                lev_score: r.lev_score,
                score: r.score,
                outreach_date: r.outreach_date,
                outreach_source: r.outreach_source,
                last_communication_date: r.last_communication_date,
                lender_first_response_date: r.lender_first_response_date,
                visibility: r.visibility,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
            org_id: r.org_id,
            viewer_owns: r.is_owner != 0,
            lender_rank: r.lender_rank,
        }
    }
}

/// Appends `1` or `0`: whether the viewer owns placement `p`.
fn push_owner(q: &mut Sql, v: &Viewer) {
    if v.owns_all {
        q.push("CAST(1 AS BIGINT)");
    } else {
        q.push("CASE WHEN ");
        push_owner_condition(q, v);
        q.push(" THEN 1 ELSE 0 END");
    }
}

fn push_owner_condition(q: &mut Sql, v: &Viewer) {
    q.push("(p.created_by_user_id = ").push_bind(v.user_id);
    q.push(" OR EXISTS (SELECT 1 FROM deal_team t WHERE t.deal_id = p.deal_id AND t.user_id = ")
        .push_bind(v.user_id)
        .push("))");
}

/// The account filter on `p`, and for non-owners the exclusion of hidden placements.
fn push_visible(q: &mut Sql, v: &Viewer) {
    q.push(" WHERE p.account_id = ").push_bind(v.account_id);
    if !v.owns_all {
        q.push(" AND (p.visibility <> 'hidden' OR ");
        push_owner_condition(q, v);
        q.push(")");
    }
}

fn placement_select(v: &Viewer) -> Sql {
    let mut q = Sql::new(
        "SELECT p.id, p.deal_id, p.private_company_id, p.contact_id, p.contact_match_status, p.status, \
         p.lender_status, p.description, \
         p.lev_score, p.score, p.outreach_date, p.outreach_source, p.last_communication_date, \
         p.lender_first_response_date, p.visibility, p.created_at, p.updated_at, ",
    );
    q.push(PLACEMENT_NAMES).push(", ");
    push_owner(&mut q, v);
    q.push(format_args!(" AS is_owner, {LENDER_RANK} AS lender_rank FROM placements p{PLACEMENT_JOINS}"));
    push_visible(&mut q, v);
    q
}

fn push_placement_filter(q: &mut Sql, f: &Filter) {
    match (f.field, &f.value) {
        ("deal_id", FilterValue::Number(n)) => {
            // Ids are whole numbers: a fractional one matches nothing.
            let id = if n.fract() == 0.0 && n.abs() < 9.0e15 { *n as i64 } else { -1 };
            let op = match f.op {
                levd_domain::query::FilterOp::Eq => "=",
                levd_domain::query::FilterOp::Gte => ">=",
                levd_domain::query::FilterOp::Lte => "<=",
                levd_domain::query::FilterOp::Gt => ">",
                levd_domain::query::FilterOp::Lt => "<",
            };
            q.push(format_args!(" AND p.deal_id {op} ")).push_bind(id);
        }
        ("status", FilterValue::Text(s)) => {
            q.push(" AND p.status = ").push_bind(s.clone());
        }
        ("visibility", FilterValue::Text(s)) => {
            q.push(" AND p.visibility = ").push_bind(s.clone());
        }
        ("archived", FilterValue::Bool(b)) => {
            q.push(if *b { " AND p.status = 'archived'" } else { " AND p.status <> 'archived'" });
        }
        _ => {}
    }
}

#[derive(Debug, Clone, FromRow)]
struct TermSheetRow {
    id: i64,
    deal_id: i64,
    placement_id: i64,
    title: Option<String>,
    quote_type: String,
    rate_type: String,
    initial_funding: i64,
    total_rate: f64,
    base_rate: Option<String>,
    base_rate_label: Option<String>,
    base_rate_value: Option<f64>,
    rate_floor: Option<f64>,
    floor_type: Option<String>,
    max_ltv: Option<f64>,
    max_ltc: Option<f64>,
    min_dscr: Option<f64>,
    min_debt_yield: Option<f64>,
    origination_fee: Option<f64>,
    exit_fee: Option<f64>,
    good_faith_deposit: Option<f64>,
    term: Option<i64>,
    amortization: Option<i64>,
    io_period: Option<i64>,
    extension_one: Option<i64>,
    extension_two: Option<i64>,
    extension_three: Option<i64>,
    recourse: Option<String>,
    recourse_type: Option<String>,
    prepayment_penalty: Option<String>,
    prepayment_penalty_details: Option<String>,
    payment_method: Option<String>,
    capital_source_type: Option<String>,
    notes: Option<String>,
    ir_details: Option<String>,
    winning: i64,
    is_visible_to_borrower: i64,
    created_at: String,
    updated_at: String,
    deleted_at: Option<String>,
    lender_name: Option<String>,
    org_id: Option<i64>,
    placement_visibility: String,
    is_owner: i64,
    lender_rank: i64,
}

crate::readers::from_sqlite!(TermSheetRow {
    id,
    deal_id,
    placement_id,
    title,
    quote_type,
    rate_type,
    initial_funding,
    total_rate,
    base_rate,
    base_rate_label,
    base_rate_value,
    rate_floor,
    floor_type,
    max_ltv,
    max_ltc,
    min_dscr,
    min_debt_yield,
    origination_fee,
    exit_fee,
    good_faith_deposit,
    term,
    amortization,
    io_period,
    extension_one,
    extension_two,
    extension_three,
    recourse,
    recourse_type,
    prepayment_penalty,
    prepayment_penalty_details,
    payment_method,
    capital_source_type,
    notes,
    ir_details,
    winning,
    is_visible_to_borrower,
    created_at,
    updated_at,
    deleted_at,
    lender_name,
    org_id,
    placement_visibility,
    is_owner,
    lender_rank
});

impl From<TermSheetRow> for StoredTermSheet {
    fn from(r: TermSheetRow) -> StoredTermSheet {
        let masked = r.is_owner == 0 && r.placement_visibility != "shared";
        StoredTermSheet {
            masked,
            lender_rank: r.lender_rank,
            term_sheet: TermSheet {
                id: r.id,
                deal_id: r.deal_id,
                title: r.title,
                lender_name: r.lender_name,
                quote_type: r.quote_type,
                initial_funding: r.initial_funding,
                total_rate: r.total_rate,
                base_rate: base_rate_display(r.base_rate.as_deref(), r.base_rate_label.as_deref()),
                base_rate_value: r.base_rate_value,
                effective_spread: effective_spread(r.base_rate.as_deref(), r.total_rate),
                rate_type: r.rate_type,
                term: r.term,
                io_period: r.io_period,
                recourse: r.recourse,
                max_ltv: r.max_ltv,
                max_ltc: r.max_ltc,
                origination_fee: r.origination_fee,
                exit_fee: r.exit_fee,
                org_id: r.org_id,
                placement_id: r.placement_id,
                winning: r.winning != 0,
                is_visible_to_borrower: r.is_visible_to_borrower != 0,
                notes: r.notes,
                created_at: r.created_at,
                updated_at: r.updated_at,
                capital_source_type: r.capital_source_type,
                recourse_type: r.recourse_type,
                payment_method: r.payment_method,
                prepayment_penalty: r.prepayment_penalty,
                prepayment_penalty_details: r.prepayment_penalty_details,
                amortization: r.amortization,
                extension_one: r.extension_one,
                extension_two: r.extension_two,
                extension_three: r.extension_three,
                floor: r.rate_floor,
                floor_type: r.floor_type,
                good_faith_deposit: r.good_faith_deposit,
                min_dscr: r.min_dscr,
                min_debt_yield: r.min_debt_yield,
                ir_details: r.ir_details,
                deleted_at: r.deleted_at,
            },
        }
    }
}

const TERM_SHEET_COLUMNS: &str = "ts.id, ts.deal_id, ts.placement_id, ts.title, ts.quote_type, ts.rate_type, \
     ts.initial_funding, ts.total_rate, ts.base_rate, ts.base_rate_label, ts.base_rate_value, ts.rate_floor, ts.floor_type, ts.max_ltv, \
     ts.max_ltc, ts.min_dscr, ts.min_debt_yield, ts.origination_fee, ts.exit_fee, ts.good_faith_deposit, ts.term, \
     ts.amortization, ts.io_period, ts.extension_one, ts.extension_two, ts.extension_three, ts.recourse, \
     ts.recourse_type, ts.prepayment_penalty, ts.prepayment_penalty_details, ts.payment_method, \
     ts.capital_source_type, ts.notes, ts.ir_details, ts.winning, ts.is_visible_to_borrower, ts.created_at, \
     ts.updated_at, ts.deleted_at";

/// Term sheets of one deal with their placement's lender, visible to `v`.
fn term_sheet_select(v: &Viewer, deal_id: i64) -> Sql {
    let mut q = Sql::new(format!(
        "SELECT {TERM_SHEET_COLUMNS}, COALESCE(co.name, p.lender_name) AS lender_name, \
         COALESCE(co.org_id, p.org_id) AS org_id, p.visibility AS placement_visibility, "
    ));
    push_owner(&mut q, v);
    q.push(format_args!(
        " AS is_owner, {LENDER_RANK} AS lender_rank FROM term_sheets ts JOIN placements p ON p.id = ts.placement_id \
         LEFT JOIN companies co ON co.id = p.private_company_id AND co.owner_account_id = p.account_id"
    ));
    push_visible(&mut q, v);
    q.push(" AND ts.account_id = ").push_bind(v.account_id);
    q.push(" AND ts.deal_id = ").push_bind(deal_id);
    q
}

fn push_cell(q: &mut Sql, c: &Cell) {
    match c {
        Cell::Int(v) => q.push_bind(*v),
        Cell::Real(v) => push_real(q, *v),
        Cell::Text(v) => q.push_bind(v.clone()),
    };
}

/// A nullable float. A missing value is written as a literal `NULL`: sqlx's driver-neutral
/// arguments hand PostgreSQL a `None::<f64>` typed as `float4`, which a statement prepared for
/// `float8` rejects ("incorrect binary data format").
fn push_real(q: &mut Sql, v: Option<f64>) -> &mut Sql {
    match v {
        Some(x) => q.push_bind(x),
        None => q.push("NULL"),
    }
}

/// `(key, display value, snapshot)` stored for a benchmark setting.
fn benchmark_columns(setting: &BaseRateSetting) -> (Option<String>, Option<String>, Option<f64>) {
    match setting {
        BaseRateSetting::Fixed => (None, None, None),
        BaseRateSetting::Benchmark(b) => (Some(b.key.clone()), Some(b.label.clone()), b.rate),
    }
}

#[derive(Debug, Clone, FromRow)]
struct PipelineRow {
    id: i64,
    owner_account_id: Option<i64>,
    name: String,
    pipeline_type: Option<String>,
    description: Option<String>,
    display_order: Option<i64>,
}

#[derive(Debug, Clone, FromRow)]
struct StatusRow {
    id: i64,
    pipeline_id: i64,
    key: String,
    custom_status_name: Option<String>,
    description: Option<String>,
    position: i64,
    icon: Option<String>,
}

#[derive(Debug, Clone, FromRow)]
struct StageRow {
    deal_id: i64,
    pipeline_id: i64,
    status_id: i64,
    key: String,
    updated_at: String,
}

const PIPELINE_COLUMNS: &str = "id, owner_account_id, name, pipeline_type, description, display_order";

impl Store {
    // -----------------------------------------------------------------------------------------
    // Placements

    /// One page of the placements `v` may see (keyset on id), and how many match in all.
    /// Returns one row more than `limit` when a further page exists.
    pub async fn list_placements(
        &self,
        v: &Viewer,
        filters: &[Filter],
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<StoredPlacement>, i64)> {
        let mut count = Sql::new("SELECT COUNT(*) FROM placements p");
        push_visible(&mut count, v);
        let narrow = |q: &mut Sql| {
            for f in filters {
                push_placement_filter(q, f);
            }
        };
        let (rows, total): (Vec<PlacementRow>, i64) =
            self.keyset_page(count, placement_select(v), narrow, "p.id", after_id, limit).await?;
        Ok((rows.into_iter().map(StoredPlacement::from).collect(), total))
    }

    /// A placement `v` may see; `None` when missing, another account's, or hidden from `v`.
    pub async fn placement(&self, v: &Viewer, placement_id: i64) -> Result<Option<StoredPlacement>> {
        let mut q = placement_select(v);
        q.push(" AND p.id = ").push_bind(placement_id);
        let row: Option<PlacementRow> = q.build_query_as().fetch_optional(&mut *self.conn().await?).await?;
        Ok(row.map(StoredPlacement::from))
    }

    /// Checks a lender company of the account (and the named contact, which must work there).
    /// With no contact named, picks the lender's first AI-recommended (locked) contact that no
    /// placement of this deal and lender uses yet; none leaves the contact open.
    pub async fn check_lender(
        &self,
        account_id: i64,
        deal_id: i64,
        company_id: i64,
        contact_id: Option<i64>,
    ) -> Result<LenderCheck> {
        let company: Option<(String, String, Option<i64>)> =
            sqlx::query_as("SELECT name, company_type, org_id FROM companies WHERE id = $1 AND owner_account_id = $2")
                .bind(company_id)
                .bind(account_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        let Some((lender_name, company_type, org_id)) = company else {
            return Ok(LenderCheck::CompanyMissing);
        };
        if company_type != "lender" {
            return Ok(LenderCheck::NotALender);
        }
        let contact: Option<(i64, Option<String>, Option<String>, i64)> = match contact_id {
            Some(id) => {
                let found = sqlx::query_as(
                    "SELECT id, first_name, last_name, is_locked FROM contacts \
                     WHERE id = $1 AND owner_account_id = $2 AND company_id = $3",
                )
                .bind(id)
                .bind(account_id)
                .bind(company_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
                if found.is_none() {
                    return Ok(LenderCheck::ContactMissing);
                }
                found
            }
            None => {
                sqlx::query_as(
                    "SELECT c.id, c.first_name, c.last_name, c.is_locked FROM contacts c \
                     WHERE c.owner_account_id = $1 AND c.company_id = $2 AND c.is_locked <> 0 \
                     AND NOT EXISTS (SELECT 1 FROM placements p WHERE p.deal_id = $3 \
                     AND p.private_company_id = c.company_id AND p.contact_id = c.id) \
                     ORDER BY c.id LIMIT 1",
                )
                .bind(account_id)
                .bind(company_id)
                .bind(deal_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?
            }
        };
        let (contact_id, contact_name) = match contact {
            Some((id, first, last, locked)) => {
                let name = [first, last].into_iter().flatten().collect::<Vec<_>>().join(" ");
                let name = name.trim().to_string();
                (Some(id), (locked == 0 && !name.is_empty()).then_some(name))
            }
            None => (None, None),
        };
        Ok(LenderCheck::Found { lender_name, org_id, contact_id, contact_name })
    }

    /// Creates a placement by `user_id` at `now`. A second placement for the same deal, lender
    /// and contact is `Duplicate("placement")`.
    pub async fn insert_placement(&self, account_id: i64, user_id: i64, p: &PlacementInsert, now: &str) -> Result<i64> {
        self.insert_placement_matched(account_id, user_id, p, None, now).await
    }

    /// `insert_placement` recording the outcome of the contact match (`contact_match_status`).
    pub async fn insert_placement_matched(
        &self,
        account_id: i64,
        user_id: i64,
        p: &PlacementInsert,
        contact_match_status: Option<&str>,
        now: &str,
    ) -> Result<i64> {
        let mut q = Sql::new(
            "INSERT INTO placements (account_id, deal_id, private_company_id, contact_id, org_id, lender_name, \
             contact_name, status, lender_status, description, lev_score, score, outreach_date, outreach_source, \
             last_communication_date, lender_first_response_date, visibility, created_by_user_id, created_at, \
             updated_at, contact_match_status) VALUES (",
        );
        q.push_bind(account_id).push(", ");
        q.push_bind(p.deal_id).push(", ");
        q.push_bind(p.private_company_id).push(", ");
        q.push_bind(p.contact_id).push(", ");
        q.push_bind(p.org_id).push(", ");
        q.push_bind(p.lender_name.clone()).push(", ");
        q.push_bind(p.contact_name.clone()).push(", ");
        q.push_bind(p.status.clone()).push(", ");
        q.push_bind(p.lender_status.clone()).push(", ");
        q.push_bind(p.description.clone()).push(", ");
        push_real(&mut q, p.lev_score).push(", ");
        push_real(&mut q, p.score).push(", ");
        q.push_bind(p.outreach_date.clone()).push(", ");
        q.push_bind(p.outreach_source.clone()).push(", ");
        q.push_bind(p.last_communication_date.clone()).push(", ");
        q.push_bind(p.lender_first_response_date.clone()).push(", ");
        q.push_bind(p.visibility.clone()).push(", ");
        q.push_bind(user_id).push(", ");
        q.push_bind(now.to_string()).push(", ");
        q.push_bind(now.to_string()).push(", ");
        q.push_bind(contact_match_status.map(str::to_string)).push(") RETURNING id");
        // Its own (nested) transaction: a caller may retry after a duplicate, and inside a unit
        // of work a failed statement must not spoil the statements after it.
        let mut tx = self.begin_write().await?;
        let id = q.build_query_scalar().fetch_one(&mut *tx).await.map_err(|e| StoreError::on_unique(e, "placement"))?;
        tx.commit().await?;
        Ok(id)
    }

    /// Sets columns of a placement of the account (names from a fixed list) and, in the same
    /// transaction, adds `note` to its notes by `user_id`. `false` when there is no such
    /// placement.
    pub async fn update_placement(
        &self,
        account_id: i64,
        placement_id: i64,
        sets: &[(&'static str, Cell)],
        note: Option<(&str, i64)>,
        now: &str,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let mut q = Sql::new("UPDATE placements SET updated_at = ");
        q.push_bind(now.to_string());
        for (col, cell) in sets {
            if PLACEMENT_WRITABLE.contains(col) {
                q.push(format_args!(", {col} = "));
                push_cell(&mut q, cell);
            }
        }
        q.push(" WHERE id = ").push_bind(placement_id).push(" AND account_id = ").push_bind(account_id);
        if q.build().execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some((text, user_id)) = note {
            sqlx::query(
                "INSERT INTO notes (account_id, parent_type, parent_id, text, created_by_user_id, created_at, updated_at) \
                 VALUES ($1, 'placement', $2, $3, $4, $5, $5)",
            )
            .bind(account_id)
            .bind(placement_id)
            .bind(text)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    // -----------------------------------------------------------------------------------------
    // Term sheets

    /// One page of a deal's live (not deleted) term sheets visible to `v`, and their number.
    /// Returns one row more than `limit` when a further page exists.
    pub async fn list_term_sheets(
        &self,
        v: &Viewer,
        deal_id: i64,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<StoredTermSheet>, i64)> {
        let mut count = Sql::new("SELECT COUNT(*) FROM term_sheets ts JOIN placements p ON p.id = ts.placement_id");
        push_visible(&mut count, v);
        count.push(" AND ts.account_id = ").push_bind(v.account_id);
        count.push(" AND ts.deal_id = ").push_bind(deal_id);
        let live = |q: &mut Sql| {
            q.push(" AND ts.deleted_at IS NULL");
        };
        let (rows, total): (Vec<TermSheetRow>, i64) =
            self.keyset_page(count, term_sheet_select(v, deal_id), live, "ts.id", after_id, limit).await?;
        Ok((rows.into_iter().map(StoredTermSheet::from).collect(), total))
    }

    /// A term sheet of the deal visible to `v`, soft-deleted ones included.
    pub async fn term_sheet(&self, v: &Viewer, deal_id: i64, term_sheet_id: i64) -> Result<Option<StoredTermSheet>> {
        let mut q = term_sheet_select(v, deal_id);
        q.push(" AND ts.id = ").push_bind(term_sheet_id);
        let row: Option<TermSheetRow> = q.build_query_as().fetch_optional(&mut *self.conn().await?).await?;
        Ok(row.map(StoredTermSheet::from))
    }

    /// Creates a term sheet; a winning one takes the flag from the deal's other term sheets in
    /// the same transaction (a deal has at most one winner).
    pub async fn insert_term_sheet(
        &self,
        account_id: i64,
        deal_id: i64,
        user_id: i64,
        w: &TermSheetWrite,
        base_rate: &BaseRateSetting,
        now: &str,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let winning = w.winning.unwrap_or(false);
        if winning {
            clear_winner(&mut tx, account_id, deal_id, None, now).await?;
        }
        let (key, label, snapshot) = benchmark_columns(base_rate);
        let mut q = Sql::new("INSERT INTO term_sheets (account_id, deal_id, placement_id, created_by_user_id, ");
        q.push("base_rate, base_rate_label, base_rate_value, winning, is_visible_to_borrower, created_at, updated_at");
        for (col, _) in known_columns(w) {
            q.push(format_args!(", {col}"));
        }
        q.push(") VALUES (");
        q.push_bind(account_id).push(", ");
        q.push_bind(deal_id).push(", ");
        q.push_bind(w.placement_id).push(", ");
        q.push_bind(user_id).push(", ");
        q.push_bind(key).push(", ");
        q.push_bind(label).push(", ");
        push_real(&mut q, snapshot).push(", ");
        q.push_bind(i64::from(winning)).push(", ");
        q.push_bind(i64::from(w.is_visible_to_borrower.unwrap_or(true))).push(", ");
        q.push_bind(now.to_string()).push(", ");
        q.push_bind(now.to_string());
        for (_, cell) in known_columns(w) {
            q.push(", ");
            push_cell(&mut q, cell);
        }
        q.push(") RETURNING id");
        let id: i64 = q.build_query_scalar().fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The market base rate named by `name`: its key, code or display name in any letter case
    /// (matched in Rust so both backends fold case the same way; the list is short).
    pub async fn benchmark(&self, name: &str) -> Result<Option<Benchmark>> {
        let rates = self.base_rates().await?;
        Ok(find_benchmark(&rates, name).map(|r| Benchmark { key: r.key.clone(), label: r.code.clone(), rate: r.rate }))
    }

    /// Applies a partial update to a live term sheet of the deal; `false` when there is none.
    pub async fn update_term_sheet(
        &self,
        account_id: i64,
        deal_id: i64,
        term_sheet_id: i64,
        w: &TermSheetWrite,
        base_rate: Option<&BaseRateSetting>,
        now: &str,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if w.winning == Some(true) {
            clear_winner(&mut tx, account_id, deal_id, Some(term_sheet_id), now).await?;
        }
        let mut q = Sql::new("UPDATE term_sheets SET updated_at = ");
        q.push_bind(now.to_string());
        for (col, cell) in known_columns(w) {
            q.push(format_args!(", {col} = "));
            push_cell(&mut q, cell);
        }
        if let Some(setting) = base_rate {
            let (key, label, snapshot) = benchmark_columns(setting);
            q.push(", base_rate = ").push_bind(key);
            q.push(", base_rate_label = ").push_bind(label);
            q.push(", base_rate_value = ");
            push_real(&mut q, snapshot);
        }
        if let Some(b) = w.winning {
            q.push(", winning = ").push_bind(i64::from(b));
        }
        if let Some(b) = w.is_visible_to_borrower {
            q.push(", is_visible_to_borrower = ").push_bind(i64::from(b));
        }
        q.push(" WHERE id = ").push_bind(term_sheet_id);
        q.push(" AND account_id = ").push_bind(account_id);
        q.push(" AND deal_id = ").push_bind(deal_id);
        q.push(" AND deleted_at IS NULL");
        if q.build().execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Soft-deletes a term sheet of the deal; deleting it again keeps the first `deleted_at`.
    /// A deleted quote cannot stay the winner. `false` when there is no such term sheet.
    pub async fn delete_term_sheet(
        &self,
        account_id: i64,
        deal_id: i64,
        term_sheet_id: i64,
        now: &str,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE term_sheets SET deleted_at = COALESCE(deleted_at, $1), winning = 0, \
             updated_at = CASE WHEN deleted_at IS NULL THEN $1 ELSE updated_at END \
             WHERE id = $2 AND account_id = $3 AND deal_id = $4",
        )
        .bind(now)
        .bind(term_sheet_id)
        .bind(account_id)
        .bind(deal_id)
        .execute(&mut *self.conn().await?)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    // -----------------------------------------------------------------------------------------
    // Pipelines

    /// A page of the account's pipelines with their statuses, in display order, and their number.
    pub async fn list_pipelines(&self, account_id: i64, limit: u32, offset: u64) -> Result<(Vec<Pipeline>, i64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pipelines WHERE owner_account_id = $1")
            .bind(account_id)
            .fetch_one(&mut *self.conn().await?)
            .await?;
        let rows: Vec<PipelineRow> = sqlx::query_as(sqlf!(
            "SELECT {PIPELINE_COLUMNS} FROM pipelines WHERE owner_account_id = $1 \
             ORDER BY (display_order IS NULL) ASC, display_order ASC, id ASC LIMIT $2 OFFSET $3"
        ))
        .bind(account_id)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok((self.with_statuses(rows).await?, total))
    }

    /// A pipeline of the account with its statuses.
    pub async fn pipeline_by_id(&self, account_id: i64, pipeline_id: i64) -> Result<Option<Pipeline>> {
        let rows: Vec<PipelineRow> =
            sqlx::query_as(sqlf!("SELECT {PIPELINE_COLUMNS} FROM pipelines WHERE id = $1 AND owner_account_id = $2"))
                .bind(pipeline_id)
                .bind(account_id)
                .fetch_all(&mut *self.conn().await?)
                .await?;
        Ok(self.with_statuses(rows).await?.pop())
    }

    async fn with_statuses(&self, rows: Vec<PipelineRow>) -> Result<Vec<Pipeline>> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut statuses: Vec<StatusRow> = Vec::new();
        if !ids.is_empty() {
            let mut q = Sql::new(
                "SELECT id, pipeline_id, key, custom_status_name, description, position, icon \
                 FROM pipeline_statuses WHERE pipeline_id IN (",
            );
            q.push_ids(&ids);
            q.push(") ORDER BY pipeline_id, position, id");
            statuses = q.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        }
        Ok(rows
            .into_iter()
            .map(|r| Pipeline {
                id: r.id,
                pipeline_type: r.pipeline_type,
                pipeline_name: Some(r.name),
                description: r.description,
                owner_account_id: r.owner_account_id,
                order: r.display_order,
                statuses: statuses
                    .iter()
                    .filter(|s| s.pipeline_id == r.id)
                    .map(|s| PipelineStatus {
                        id: s.id,
                        status: s.key.clone(),
                        custom_status_name: s.custom_status_name.clone(),
                        description: s.description.clone(),
                        order: Some(s.position + 1),
                        icon: s.icon.clone(),
                    })
                    .collect(),
            })
            .collect())
    }

    /// Puts a deal in a pipeline at a status (the caller has checked that the deal, pipeline
    /// and status belong together and to the account). Moving to the stage it is already in
    /// changes nothing.
    pub async fn move_deal_to_stage(
        &self,
        deal_id: i64,
        pipeline_id: i64,
        status_id: i64,
        now: &str,
    ) -> Result<DealPipelineStage> {
        sqlx::query(
            "INSERT INTO deal_pipelines (deal_id, pipeline_id, status_id, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (deal_id, pipeline_id) DO UPDATE SET status_id = excluded.status_id, \
             updated_at = CASE WHEN deal_pipelines.status_id = excluded.status_id THEN deal_pipelines.updated_at \
             ELSE excluded.updated_at END",
        )
        .bind(deal_id)
        .bind(pipeline_id)
        .bind(status_id)
        .bind(now)
        .execute(&mut *self.conn().await?)
        .await?;
        let row: StageRow = sqlx::query_as(
            "SELECT dp.deal_id, dp.pipeline_id, dp.status_id, s.key, dp.updated_at \
             FROM deal_pipelines dp JOIN pipeline_statuses s ON s.id = dp.status_id \
             WHERE dp.deal_id = $1 AND dp.pipeline_id = $2",
        )
        .bind(deal_id)
        .bind(pipeline_id)
        .fetch_one(&mut *self.conn().await?)
        .await?;
        Ok(DealPipelineStage {
            deal_id: row.deal_id,
            pipeline_id: row.pipeline_id,
            pipeline_status_id: row.status_id,
            status_name: row.key.clone(),
            status: row.key,
            updated_at: row.updated_at,
        })
    }

    /// Sets the display members of a pipeline of the account (demo data, administration).
    pub async fn set_pipeline_display(
        &self,
        account_id: i64,
        pipeline_id: i64,
        description: Option<&str>,
        order: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE pipelines SET description = $1, display_order = $2 WHERE id = $3 AND owner_account_id = $4",
        )
        .bind(description)
        .bind(order)
        .bind(pipeline_id)
        .bind(account_id)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    /// Sets the display members of the status `key` of a pipeline of the account.
    pub async fn set_pipeline_status_display(
        &self,
        account_id: i64,
        pipeline_id: i64,
        key: &str,
        custom_status_name: Option<&str>,
        description: Option<&str>,
        icon: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE pipeline_statuses SET custom_status_name = $1, description = $2, icon = $3 \
             WHERE key = $4 AND pipeline_id = (SELECT id FROM pipelines WHERE id = $5 AND owner_account_id = $6)",
        )
        .bind(custom_status_name)
        .bind(description)
        .bind(icon)
        .bind(key)
        .bind(pipeline_id)
        .bind(account_id)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    /// The first contact of a company of the account whose name is known (not locked).
    pub async fn named_contact_at(&self, account_id: i64, company_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM contacts WHERE owner_account_id = $1 AND company_id = $2 AND is_locked = 0 ORDER BY id LIMIT 1",
        )
        .bind(account_id)
        .bind(company_id)
        .fetch_optional(&mut *self.conn().await?)
        .await?)
    }

    /// Lender companies of the account (id, name), oldest first: what demo placements use.
    pub async fn lender_companies(&self, account_id: i64) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, name FROM companies WHERE owner_account_id = $1 AND company_type = 'lender' ORDER BY id",
        )
        .bind(account_id)
        .fetch_all(&mut *self.conn().await?)
        .await?)
    }
}

/// The term-sheet columns a write names, in [`TERM_FIELDS`] order (a fixed list of
/// identifiers, so only those ever reach SQL text).
fn known_columns(w: &TermSheetWrite) -> impl Iterator<Item = &(&'static str, Cell)> {
    w.columns.iter().filter(|(col, _)| TERM_FIELDS.iter().any(|f| f.column == *col))
}

async fn clear_winner(tx: &mut WriteTx, account_id: i64, deal_id: i64, except: Option<i64>, now: &str) -> Result<()> {
    sqlx::query(
        "UPDATE term_sheets SET winning = 0, updated_at = $1 \
         WHERE account_id = $2 AND deal_id = $3 AND winning <> 0 AND id <> $4",
    )
    .bind(now)
    .bind(account_id)
    .bind(deal_id)
    .bind(except.unwrap_or(0))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
