//! Placements, term sheets and pipelines: their enums, the records as the API shows them,
//! create/update input, the masking of placements for callers who do not own them, and the
//! benchmark (`base_rate`) model of term sheets.
//!
//! Choices where the specification leaves room (each is documented where it is made):
//! * Ownership: a caller owns a placement when they created it, sit on its deal's team, or
//!   administer the account. Non-owners never see `hidden` placements (nor their term sheets)
//!   and see `masked` ones with the lender replaced by a per-deal label (`Lender A`, …).
//! * New placements default to `masked` visibility: lender identities stay with the deal team
//!   until someone shares them.
//! * Fixed term sheets carry no benchmark (stored as none, shown as `none-fixed`); benchmark
//!   quotes name one of the market data's base rates and keep its key, display value and a
//!   snapshot of its rate, taken whenever a write names the benchmark.
//! * Lists of term sheets leave soft-deleted ones out; they stay readable by id (`docs/api.md#deletes`).
//! * A deal has at most one winning term sheet: marking one clears the others, and a deleted
//!   quote is no longer the winner.
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};
use crate::input::{BodyReader, Patch};
use crate::query::{FilterKind, FilterSpec, ListSpec};
use crate::scope::{AccountScope, Role};

// ---------------------------------------------------------------------------------------------
// Enumerations

/// Placement statuses, roughly in the order an outreach moves through them; `archived` removes
/// a placement (there is no DELETE).
pub const PLACEMENT_STATUSES: &[&str] =
    &["new", "sent", "lender_reviewing", "terms_received", "negotiating", "declined", "closed", "archived"];
pub const ARCHIVED: &str = "archived";
/// Statuses that mean the lender has answered (the first one stamps
/// `lender_first_response_date`).
const LENDER_RESPONSE_STATUSES: &[&str] = &["lender_reviewing", "terms_received", "negotiating", "declined", "closed"];
/// Lender-side pipeline of a placement.
pub const LENDER_STATUSES: &[&str] =
    &["lead_qualification", "under_review", "in_underwriting", "term_sheet_issued", "approved", "declined"];
pub const VISIBILITIES: &[&str] = &["hidden", "masked", "shared"];
pub const DEFAULT_VISIBILITY: &str = "masked";
/// `outreach_source` of placements created through the API.
pub const DIRECT_OUTREACH: &str = "direct";

pub const QUOTE_TYPES: &[&str] = &["guidance", "indication", "soft_quote", "hard_quote", "term_sheet"];
pub const RATE_TYPES: &[&str] = &["fixed", "floating"];
pub const FLOOR_TYPES: &[&str] = &["base_rate", "total_rate"];
pub const RECOURSE: &[&str] = &["full_recourse", "partial_recourse", "non_recourse"];
pub const RECOURSE_TYPES: &[&str] =
    &["carve_outs_only", "completion_guaranty", "repayment_guaranty", "carry_guaranty", "burn_down"];
pub const PREPAYMENT_PENALTIES: &[&str] =
    &["none", "open", "step_down", "yield_maintenance", "defeasance", "minimum_interest", "lockout"];
pub const PAYMENT_METHODS: &[&str] = &["interest_only", "principal_and_interest", "partial_interest_only"];
pub const CAPITAL_SOURCE_TYPES: &[&str] =
    &["bank", "credit_union", "debt_fund", "life_company", "cmbs", "agency", "private_lender", "sba", "hud"];

// ---------------------------------------------------------------------------------------------
// Benchmarks

/// The `base_rate` of a quote with no benchmark.
pub const NONE_FIXED: &str = "none-fixed";
const MAX_BASE_RATE: usize = 100;

/// What a `base_rate` input asks for, before the benchmark is looked up in the market data.
#[derive(Debug, Clone, PartialEq)]
pub enum BaseRateInput {
    /// No benchmark (`null` or `none-fixed`): `total_rate` is the whole coupon.
    Fixed,
    /// A benchmark key (`sofr_m1`), code (`SOFR 30-Day Avg`) or name (`30-Day Average SOFR`).
    Named(String),
}

impl BaseRateInput {
    pub fn parse(input: &str) -> BaseRateInput {
        let s = input.trim();
        if s.eq_ignore_ascii_case(NONE_FIXED) { BaseRateInput::Fixed } else { BaseRateInput::Named(s.to_string()) }
    }
}

/// A benchmark as the market data lists it (`GET /market/base-rates`).
#[derive(Debug, Clone, PartialEq)]
pub struct Benchmark {
    pub key: String,
    /// Display value (`code` of the market data).
    pub label: String,
    /// Current value in percent, if known; a quote keeps the value it was priced against.
    pub rate: Option<f64>,
}

/// The listed benchmark a `base_rate` input names: its key, its code or its display name, in
/// any letter case (keys win over codes, codes over names, should two rates share a spelling).
pub fn find_benchmark<'a>(
    rates: &'a [crate::directory::BaseRate],
    input: &str,
) -> Option<&'a crate::directory::BaseRate> {
    let wanted = input.trim().to_lowercase();
    let same = |s: &str| s.trim().to_lowercase() == wanted;
    rates
        .iter()
        .find(|r| same(&r.key))
        .or_else(|| rates.iter().find(|r| same(&r.code)))
        .or_else(|| rates.iter().find(|r| same(&r.name)))
}

/// The benchmark setting a write stores.
#[derive(Debug, Clone, PartialEq)]
pub enum BaseRateSetting {
    Fixed,
    Benchmark(Benchmark),
}

/// `422` for a benchmark the market data does not list, with the reference's message.
pub fn unknown_base_rate() -> ApiError {
    let mut e = ApiError::invalid_field("base_rate", BASE_RATE_PROBLEM);
    if let Some(message) = documented_message("base_rate") {
        e.message = message.to_string();
    }
    e
}

const BASE_RATE_PROBLEM: &str = "must be the key (e.g. sofr_m1), code (e.g. SOFR 30-Day Avg) or name (e.g. \
     30-Day Average SOFR) of a rate listed by GET /market/base-rates, in any letter case, or none-fixed";

// ---------------------------------------------------------------------------------------------
// Who is looking

/// The caller, as far as placement visibility is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub account_id: i64,
    pub user_id: i64,
    /// Account admins own every placement of the account.
    pub owns_all: bool,
}

impl Viewer {
    pub fn of(scope: &AccountScope) -> Viewer {
        Viewer { account_id: scope.account_id, user_id: scope.user_id, owns_all: scope.role == Role::Admin }
    }
}

/// `Lender A` … `Lender Z`, `Lender AA`, …: the borrower-portal label of the `rank`-th lender
/// (1-based) approached on a deal.
pub fn lender_label(rank: i64) -> String {
    let mut n = rank.max(1);
    let mut letters = Vec::new();
    while n > 0 {
        let rem = u8::try_from((n - 1) % 26).unwrap_or(0);
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.reverse();
    format!("Lender {}", letters.into_iter().collect::<String>())
}

// ---------------------------------------------------------------------------------------------
// Placements

/// A placement as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Placement {
    pub id: i64,
    pub deal_id: i64,
    pub private_company_id: Option<i64>,
    pub lender_name: Option<String>,
    pub contact_id: Option<i64>,
    pub contact_name: Option<String>,
    /// What the contact match did when the placement was created: `matched` (a recommended
    /// contact at the lender was assigned), `no_match` (none was available; the placement
    /// stays without a contact) or `not_requested` (the creator named the contact). Null in a
    /// masked view.
    pub contact_match_status: Option<String>,
    pub status: String,
    pub lender_status: Option<String>,
    pub description: Option<String>,
    pub lev_score: Option<f64>,
    pub score: Option<f64>,
    pub outreach_date: Option<String>,
    pub outreach_source: Option<String>,
    pub last_communication_date: Option<String>,
    pub lender_first_response_date: Option<String>,
    pub visibility: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `contact_match_status`: a recommended contact was assigned.
pub const CONTACT_MATCHED: &str = "matched";
/// `contact_match_status`: no recommended contact was available.
pub const CONTACT_NO_MATCH: &str = "no_match";
/// `contact_match_status`: the creator named the contact, so no match ran.
pub const CONTACT_MATCH_NOT_REQUESTED: &str = "not_requested";

/// The outcome of the contact match of a new placement: whether a contact was named, and
/// whether the match found one.
pub fn contact_match_status(named: bool, contact_id: Option<i64>) -> &'static str {
    match (named, contact_id) {
        (true, _) => CONTACT_MATCH_NOT_REQUESTED,
        (false, Some(_)) => CONTACT_MATCHED,
        (false, None) => CONTACT_NO_MATCH,
    }
}

/// A stored placement with what masking needs to know about the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlacement {
    pub placement: Placement,
    /// Lender identity as stored, whatever the caller may see.
    pub org_id: Option<i64>,
    pub viewer_owns: bool,
    /// 1-based order of this placement's lender among the lenders approached on the deal.
    pub lender_rank: i64,
}

impl StoredPlacement {
    /// True when the caller sees this placement with its lender hidden.
    pub fn masked(&self) -> bool {
        !self.viewer_owns && self.placement.visibility != "shared"
    }

    /// The placement as this caller may see it.
    pub fn for_viewer(&self) -> Placement {
        let mut p = self.placement.clone();
        if self.masked() {
            p.private_company_id = None;
            p.contact_id = None;
            p.contact_name = None;
            p.contact_match_status = None;
            p.lender_name = Some(lender_label(self.lender_rank));
        }
        p
    }
}

pub const PLACEMENT_FIELDS: &[&str] = &[
    "id",
    "deal_id",
    "private_company_id",
    "lender_name",
    "contact_id",
    "contact_name",
    "contact_match_status",
    "status",
    "lender_status",
    "description",
    "lev_score",
    "score",
    "outreach_date",
    "outreach_source",
    "last_communication_date",
    "lender_first_response_date",
    "visibility",
    "created_at",
    "updated_at",
];

/// `GET /placements`: cursor paging, plus (an extension) filters by deal, status, visibility
/// and archived state, and `fields`.
pub const PLACEMENT_LIST: ListSpec = ListSpec {
    filters: &[
        FilterSpec { name: "deal_id", kind: FilterKind::Number },
        FilterSpec { name: "status", kind: FilterKind::Enum(PLACEMENT_STATUSES) },
        FilterSpec { name: "visibility", kind: FilterKind::Enum(VISIBILITIES) },
        FilterSpec { name: "archived", kind: FilterKind::Bool },
    ],
    sorts: &[],
    fields: PLACEMENT_FIELDS,
    includes: &[],
    search: false,
    cursor: true,
    offset: false,
};

/// Cursor-paged lists with no other parameter (term sheets).
pub const CURSOR_LIST: ListSpec =
    ListSpec { filters: &[], sorts: &[], fields: &[], includes: &[], search: false, cursor: true, offset: false };

/// Small unpaged collections that still accept `limit` and `offset` (pipelines, deal
/// properties, deal team).
pub const OFFSET_LIST: ListSpec =
    ListSpec { filters: &[], sorts: &[], fields: &[], includes: &[], search: false, cursor: false, offset: true };

const MAX_DESCRIPTION: usize = 20_000;
const MAX_SCORE: f64 = 100.0;

/// A validated `POST /placements` body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlacement {
    pub deal_id: i64,
    pub private_company_id: i64,
    pub contact_id: Option<i64>,
    pub status: &'static str,
    pub visibility: &'static str,
    pub description: Option<String>,
    pub score: Option<f64>,
    pub outreach_date: Option<String>,
    pub lender_status: Option<&'static str>,
}

/// Every stored member of a new placement, as the service (or demo data) settles them.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementInsert {
    pub deal_id: i64,
    pub private_company_id: i64,
    pub contact_id: Option<i64>,
    pub org_id: Option<i64>,
    pub lender_name: Option<String>,
    pub contact_name: Option<String>,
    pub status: String,
    pub lender_status: Option<String>,
    pub description: Option<String>,
    pub lev_score: Option<f64>,
    pub score: Option<f64>,
    pub outreach_date: Option<String>,
    pub outreach_source: Option<String>,
    pub last_communication_date: Option<String>,
    pub lender_first_response_date: Option<String>,
    pub visibility: String,
}

/// A validated `PATCH /placements/{id}` body.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementChanges {
    pub status: Option<&'static str>,
    pub visibility: Option<&'static str>,
    pub description: Patch<String>,
    pub score: Patch<f64>,
    pub outreach_date: Patch<String>,
    pub lender_status: Patch<&'static str>,
    /// Linkage members sent with the body; accepted only when equal to the stored values.
    pub fixed: Vec<(&'static str, Option<i64>)>,
}

impl PlacementChanges {
    /// True when nothing updatable was named.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.visibility.is_none()
            && self.description.is_absent()
            && self.score.is_absent()
            && self.outreach_date.is_absent()
            && self.lender_status.is_absent()
    }
}

pub const MSG_NO_FIELDS: &str = "Request body must contain at least one field to update";
pub const MSG_ARCHIVED_ON_CREATE: &str =
    "Cannot create a placement with status='archived'; create an active placement and PATCH to archive";
pub const MSG_DUPLICATE_PLACEMENT: &str =
    "A placement already exists for this deal, contact, and lender; use PATCH to update it";

/// Messages the reference documents for one-field validation failures; a 422 about exactly one
/// of these fields carries the documented message (`details.fields` keeps the explanation).
fn documented_message(field: &str) -> Option<&'static str> {
    Some(match field {
        "status" => "status: input is not a valid enum member",
        "quote_type" => "quote_type: input is not a valid enum member",
        "base_rate" => "base_rate: not a valid BaseRateNames member",
        "winning" => {
            "winning cannot be null. Send true or false to update it, or omit the field to leave it unchanged."
        }
        _ => return None,
    })
}

fn finish(errors: FieldErrors) -> Result<(), ApiError> {
    errors.finish().map_err(|mut e| {
        if let Some(Value::Object(fields)) = e.details.get("fields")
            && fields.len() == 1
            && let Some(msg) = fields.keys().next().and_then(|f| documented_message(f))
        {
            e.message = msg.to_string();
        }
        e
    })
}

/// Field reader with the integer, boolean and bounded-number readers these bodies need, over
/// the shared [`BodyReader`].
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    r: BodyReader<'a>,
}

impl<'a> Fields<'a> {
    fn new(obj: &'a Map<String, Value>) -> Self {
        Fields { obj, r: BodyReader::new(obj) }
    }

    fn raw(&self, field: &str) -> Patch<&'a Value> {
        match self.obj.get(field) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(v) => Patch::Value(v),
        }
    }

    /// A whole number in `min..=max` (`5.0` counts as whole).
    fn int(&mut self, field: &str, min: i64, max: i64, problem: &str) -> Patch<i64> {
        match self.raw(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => {
                let n = v
                    .as_i64()
                    .or_else(|| v.as_f64().filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15).map(|x| x as i64));
                match n {
                    Some(n) if (min..=max).contains(&n) => Patch::Value(n),
                    _ => {
                        self.r.errors.add(field, problem);
                        Patch::Absent
                    }
                }
            }
        }
    }

    fn id(&mut self, field: &str) -> Patch<i64> {
        self.int(field, 1, i64::MAX, "must be a positive integer id")
    }

    /// A finite number in `min..=max`.
    fn bounded(&mut self, field: &str, min: f64, max: f64, problem: &str) -> Patch<f64> {
        match self.raw(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => match v.as_f64() {
                Some(x) if x.is_finite() && x >= min && x <= max => Patch::Value(x),
                _ => {
                    self.r.errors.add(field, problem);
                    Patch::Absent
                }
            },
        }
    }

    fn boolean(&mut self, field: &str) -> Patch<bool> {
        match self.raw(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::Bool(b)) => Patch::Value(*b),
            Patch::Value(_) => {
                self.r.errors.add(field, "must be true or false");
                Patch::Absent
            }
        }
    }

    /// An ISO 8601 timestamp (a bare date means its midnight UTC), stored as UTC.
    fn timestamp(&mut self, field: &str) -> Patch<String> {
        match self.raw(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::String(s)) => {
                let parsed = crate::time_fmt::parse_timestamp(s).or_else(|| {
                    (s.len() == 10).then(|| crate::time_fmt::parse_date(s)).flatten().map(|d| format!("{d}T00:00:00Z"))
                });
                match parsed {
                    Some(t) => Patch::Value(t),
                    None => {
                        self.r.errors.add(field, "must be an ISO 8601 timestamp (e.g. 2026-05-03T14:00:00Z)");
                        Patch::Absent
                    }
                }
            }
            Patch::Value(_) => {
                self.r.errors.add(field, "must be an ISO 8601 timestamp (e.g. 2026-05-03T14:00:00Z)");
                Patch::Absent
            }
        }
    }

    fn not_null<T>(&mut self, field: &str, p: Patch<T>) -> Option<T> {
        match p {
            Patch::Null => {
                self.r.errors.add(field, "must not be null");
                None
            }
            p => p.value(),
        }
    }

    fn required<T>(&mut self, field: &str, p: &Patch<T>) {
        self.r.required(field, p);
    }

    fn finish(self) -> Result<(), ApiError> {
        finish(self.r.errors)
    }
}

const SCORE_PROBLEM: &str = "must be a number between 0 and 100";

/// Validates a `POST /placements` body.
pub fn parse_new_placement(body: &Map<String, Value>) -> Result<NewPlacement, ApiError> {
    let mut f = Fields::new(body);
    let deal_id = f.id("deal_id");
    f.required("deal_id", &deal_id);
    let private_company_id = f.id("private_company_id");
    f.required("private_company_id", &private_company_id);
    // `null` is read as "omitted": the contact is then left to a later match.
    let contact_id = f.id("contact_id");
    let status = f.r.enumeration("status", PLACEMENT_STATUSES);
    let status = f.not_null("status", status);
    let visibility = f.r.enumeration("visibility", VISIBILITIES);
    let visibility = f.not_null("visibility", visibility);
    let description = f.r.string("description", MAX_DESCRIPTION, false);
    let score = f.bounded("score", 0.0, MAX_SCORE, SCORE_PROBLEM);
    let outreach_date = f.timestamp("outreach_date");
    let lender_status = f.r.enumeration("lender_status", LENDER_STATUSES);
    f.finish()?;
    let status = status.unwrap_or("new");
    if status == ARCHIVED {
        return Err(ApiError::bad_request(MSG_ARCHIVED_ON_CREATE));
    }
    Ok(NewPlacement {
        deal_id: deal_id.value().unwrap_or(0),
        private_company_id: private_company_id.value().unwrap_or(0),
        contact_id: contact_id.value(),
        status,
        visibility: visibility.unwrap_or(DEFAULT_VISIBILITY),
        description: description.value(),
        score: score.value(),
        outreach_date: outreach_date.value(),
        lender_status: lender_status.value(),
    })
}

/// Validates a `PATCH /placements/{id}` body. `status` and `visibility` cannot be cleared; the
/// other members may be `null` to clear them. The linkage (`deal_id`, `private_company_id`,
/// `contact_id`) is fixed: it may be echoed back unchanged, which the service checks.
pub fn parse_placement_changes(body: &Map<String, Value>) -> Result<PlacementChanges, ApiError> {
    let mut f = Fields::new(body);
    let status = f.r.enumeration("status", PLACEMENT_STATUSES);
    let visibility = f.r.enumeration("visibility", VISIBILITIES);
    let mut c = PlacementChanges {
        status: f.not_null("status", status),
        visibility: f.not_null("visibility", visibility),
        description: f.r.string("description", MAX_DESCRIPTION, false),
        score: f.bounded("score", 0.0, MAX_SCORE, SCORE_PROBLEM),
        outreach_date: f.timestamp("outreach_date"),
        lender_status: f.r.enumeration("lender_status", LENDER_STATUSES),
        fixed: Vec::new(),
    };
    for name in ["deal_id", "private_company_id", "contact_id"] {
        match f.raw(name) {
            Patch::Absent => {}
            Patch::Null => c.fixed.push((name, None)),
            Patch::Value(_) => {
                if let Patch::Value(id) = f.id(name) {
                    c.fixed.push((name, Some(id)));
                }
            }
        }
    }
    f.finish()?;
    if c.is_empty() && c.fixed.is_empty() {
        return Err(ApiError::bad_request(MSG_NO_FIELDS));
    }
    Ok(c)
}

/// Timestamps a status change stamps on a placement, given what is already recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusStamps {
    pub outreach_date: bool,
    pub lender_first_response_date: bool,
    pub last_communication_date: bool,
}

/// The lifecycle of a placement: leaving `new` (other than to `archived`) means the lender was
/// contacted, so an empty `outreach_date` is stamped; the first status that means the lender
/// answered stamps `lender_first_response_date`; every move between active statuses is a
/// communication. Archiving and restoring stamp nothing.
pub fn status_stamps(from: &str, to: &str, has_outreach: bool, has_first_response: bool) -> StatusStamps {
    if from == to || to == ARCHIVED || from == ARCHIVED {
        return StatusStamps::default();
    }
    StatusStamps {
        outreach_date: to != "new" && !has_outreach,
        lender_first_response_date: LENDER_RESPONSE_STATUSES.contains(&to) && !has_first_response,
        last_communication_date: to != "new",
    }
}

// ---------------------------------------------------------------------------------------------
// Term sheets

/// A term sheet as the API shows it (`deleted_at` is set on soft-deleted ones, `docs/api.md#deletes`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TermSheet {
    pub id: i64,
    pub deal_id: i64,
    pub title: Option<String>,
    pub lender_name: Option<String>,
    pub quote_type: String,
    pub initial_funding: i64,
    pub total_rate: f64,
    pub base_rate: String,
    pub base_rate_value: Option<f64>,
    pub effective_spread: Option<f64>,
    pub rate_type: String,
    pub term: Option<i64>,
    pub io_period: Option<i64>,
    pub recourse: Option<String>,
    pub max_ltv: Option<f64>,
    pub max_ltc: Option<f64>,
    pub origination_fee: Option<f64>,
    pub exit_fee: Option<f64>,
    pub org_id: Option<i64>,
    pub placement_id: i64,
    pub winning: bool,
    pub is_visible_to_borrower: bool,
    pub notes: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub capital_source_type: Option<String>,
    pub recourse_type: Option<String>,
    pub payment_method: Option<String>,
    pub prepayment_penalty: Option<String>,
    pub prepayment_penalty_details: Option<String>,
    pub amortization: Option<i64>,
    pub extension_one: Option<i64>,
    pub extension_two: Option<i64>,
    pub extension_three: Option<i64>,
    pub floor: Option<f64>,
    pub floor_type: Option<String>,
    pub good_faith_deposit: Option<f64>,
    pub min_dscr: Option<f64>,
    pub min_debt_yield: Option<f64>,
    pub ir_details: Option<String>,
    pub deleted_at: Option<String>,
}

/// Shows a stored benchmark as the API does: its display value (the key if none was kept), or
/// `none-fixed` for a fixed quote.
pub fn base_rate_display(key: Option<&str>, label: Option<&str>) -> String {
    match (key, label) {
        (None, _) => NONE_FIXED.to_string(),
        (Some(_), Some(l)) => l.to_string(),
        (Some(k), None) => k.to_string(),
    }
}

/// The spread a quote is priced at: `total_rate` for a benchmark quote; a fixed quote has none.
pub fn effective_spread(base_rate: Option<&str>, total_rate: f64) -> Option<f64> {
    base_rate.map(|_| total_rate)
}

/// How a term-sheet value is checked and stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TermKind {
    Text(usize),
    Enum(&'static [&'static str]),
    /// Decimal ratio, 0–1 (`0.70` = 70 %).
    Ratio,
    /// Percent, 0–100 (`5.85` = 5.85 %).
    Percent,
    /// Percent that may be negative (a spread below the benchmark).
    SignedPercent,
    /// Plain multiple, 0–10 (`1.25`).
    Multiple,
    /// Whole months, 0–1200.
    Months,
    /// Whole dollars, ≥ 0.
    Dollars,
    /// Any amount ≥ 0.
    Amount,
}

/// One writable term-sheet member: its name on the wire, its column, its kind, and whether a
/// create must carry it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TermField {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: TermKind,
    pub required: bool,
}

const fn tf(name: &'static str, column: &'static str, kind: TermKind, required: bool) -> TermField {
    TermField { name, column, kind, required }
}

/// Every term-sheet member written as a plain column (the benchmark, the flags and the
/// placement are handled apart). Names are the wire names; columns are fixed SQL identifiers.
pub const TERM_FIELDS: &[TermField] = {
    use TermKind::*;
    &[
        tf("quote_type", "quote_type", Enum(QUOTE_TYPES), true),
        tf("rate_type", "rate_type", Enum(RATE_TYPES), true),
        tf("total_rate", "total_rate", SignedPercent, true),
        tf("initial_funding", "initial_funding", Dollars, true),
        tf("title", "title", Text(255), false),
        tf("additional_funding", "additional_funding", Dollars, false),
        tf("max_ltv", "max_ltv", Ratio, false),
        tf("max_ltc", "max_ltc", Ratio, false),
        tf("floor", "rate_floor", Percent, false),
        tf("floor_type", "floor_type", Enum(FLOOR_TYPES), false),
        tf("term", "term", Months, false),
        tf("amortization", "amortization", Months, false),
        tf("io_period", "io_period", Months, false),
        tf("extension_one", "extension_one", Months, false),
        tf("extension_two", "extension_two", Months, false),
        tf("extension_three", "extension_three", Months, false),
        tf("recourse", "recourse", Enum(RECOURSE), false),
        tf("recourse_type", "recourse_type", Enum(RECOURSE_TYPES), false),
        tf("prepayment_penalty", "prepayment_penalty", Enum(PREPAYMENT_PENALTIES), false),
        tf("prepayment_penalty_details", "prepayment_penalty_details", Text(5_000), false),
        tf("payment_method", "payment_method", Enum(PAYMENT_METHODS), false),
        tf("capital_source_type", "capital_source_type", Enum(CAPITAL_SOURCE_TYPES), false),
        tf("min_dscr", "min_dscr", Multiple, false),
        tf("min_debt_yield", "min_debt_yield", Ratio, false),
        tf("origination_fee", "origination_fee", Ratio, false),
        tf("extension_fee", "extension_fee", Ratio, false),
        tf("exit_fee", "exit_fee", Ratio, false),
        tf("good_faith_deposit", "good_faith_deposit", Amount, false),
        tf("notes", "notes", Text(20_000), false),
        tf("ir_details", "ir_details", Text(5_000), false),
    ]
};

/// A value for one column; nulls keep their type, which PostgreSQL needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
}

const MAX_DOLLARS: i64 = 1_000_000_000_000_000;

fn read_term_field(f: &mut Fields<'_>, field: &TermField) -> Patch<Cell> {
    use TermKind::*;
    let name = field.name;
    let (value, null) = match field.kind {
        Text(max) => (f.r.string(name, max, false).value().map(|s| Cell::Text(Some(s))), Cell::Text(None)),
        Enum(values) => {
            (f.r.enumeration(name, values).value().map(|s| Cell::Text(Some(s.to_string()))), Cell::Text(None))
        }
        Ratio => (
            f.bounded(name, 0.0, 1.0, "must be a decimal ratio between 0 and 1 (0.70 means 70%)")
                .value()
                .map(|x| Cell::Real(Some(x))),
            Cell::Real(None),
        ),
        Percent => (
            f.bounded(name, 0.0, 100.0, "must be a percent between 0 and 100 (5.85 means 5.85%)")
                .value()
                .map(|x| Cell::Real(Some(x))),
            Cell::Real(None),
        ),
        SignedPercent => (
            f.bounded(name, -100.0, 100.0, "must be a percent between -100 and 100 (5.85 means 5.85%)")
                .value()
                .map(|x| Cell::Real(Some(x))),
            Cell::Real(None),
        ),
        Multiple => (
            f.bounded(name, 0.0, 10.0, "must be a number between 0 and 10 (e.g. 1.25)")
                .value()
                .map(|x| Cell::Real(Some(x))),
            Cell::Real(None),
        ),
        Months => (
            f.int(name, 0, 1200, "must be a whole number of months between 0 and 1200")
                .value()
                .map(|x| Cell::Int(Some(x))),
            Cell::Int(None),
        ),
        Dollars => (
            f.int(name, 0, MAX_DOLLARS, "must be a whole number of dollars, at least 0")
                .value()
                .map(|x| Cell::Int(Some(x))),
            Cell::Int(None),
        ),
        Amount => (
            f.bounded(name, 0.0, MAX_DOLLARS as f64, "must be an amount of at least 0")
                .value()
                .map(|x| Cell::Real(Some(x))),
            Cell::Real(None),
        ),
    };
    match (f.raw(name), value) {
        (Patch::Absent, _) => Patch::Absent,
        // A typed null, so clearing a column binds the column's type.
        (Patch::Null, _) => Patch::Value(null),
        (Patch::Value(_), Some(v)) => Patch::Value(v),
        // The reader recorded the problem.
        (Patch::Value(_), None) => Patch::Absent,
    }
}

/// A validated term-sheet write (create or update).
#[derive(Debug, Clone, PartialEq)]
pub struct TermSheetWrite {
    /// Only on create.
    pub placement_id: i64,
    /// Column assignments from [`TERM_FIELDS`], in that order.
    pub columns: Vec<(&'static str, Cell)>,
    /// `Absent`: leave the benchmark; `Value(choice)`: set it (`null` means fixed).
    pub base_rate: Patch<BaseRateInput>,
    pub winning: Option<bool>,
    pub is_visible_to_borrower: Option<bool>,
    /// `deal_id` / `placement_id` echoed in an update; accepted only when unchanged.
    pub fixed: Vec<(&'static str, Option<i64>)>,
}

impl TermSheetWrite {
    fn empty(placement_id: i64) -> TermSheetWrite {
        TermSheetWrite {
            placement_id,
            columns: Vec::new(),
            base_rate: Patch::Absent,
            winning: None,
            is_visible_to_borrower: None,
            fixed: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
            && self.base_rate.is_absent()
            && self.winning.is_none()
            && self.is_visible_to_borrower.is_none()
    }

    /// The value written to a column, if any.
    pub fn column(&self, column: &str) -> Option<&Cell> {
        self.columns.iter().find(|(c, _)| *c == column).map(|(_, v)| v)
    }
}

fn read_base_rate(f: &mut Fields<'_>) -> Patch<BaseRateInput> {
    match f.raw("base_rate") {
        Patch::Absent => Patch::Absent,
        Patch::Null => Patch::Value(BaseRateInput::Fixed),
        Patch::Value(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= MAX_BASE_RATE => {
            Patch::Value(BaseRateInput::parse(s))
        }
        Patch::Value(_) => {
            f.r.errors.add("base_rate", BASE_RATE_PROBLEM);
            Patch::Absent
        }
    }
}

/// A stored term sheet with what masking needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTermSheet {
    pub term_sheet: TermSheet,
    /// Whether the caller sees the lender replaced by its label.
    pub masked: bool,
    pub lender_rank: i64,
}

impl StoredTermSheet {
    /// The term sheet as this caller may see it.
    pub fn for_viewer(&self) -> TermSheet {
        let mut t = self.term_sheet.clone();
        if self.masked {
            t.lender_name = Some(lender_label(self.lender_rank));
            t.org_id = None;
        }
        t
    }
}

/// What the CRM says about the lender (and contact) of a new placement.
#[derive(Debug, Clone, PartialEq)]
pub enum LenderCheck {
    CompanyMissing,
    NotALender,
    ContactMissing,
    /// The company (and contact, if one was named or matched) exist in the account.
    Found {
        lender_name: String,
        org_id: Option<i64>,
        contact_id: Option<i64>,
        contact_name: Option<String>,
    },
}

/// Validates a `POST /deals/{deal_id}/term-sheets` body.
pub fn parse_new_term_sheet(body: &Map<String, Value>) -> Result<TermSheetWrite, ApiError> {
    let mut f = Fields::new(body);
    let placement_id = f.id("placement_id");
    f.required("placement_id", &placement_id);
    let mut w = TermSheetWrite::empty(placement_id.value().unwrap_or(0));
    for field in TERM_FIELDS {
        match read_term_field(&mut f, field) {
            Patch::Value(v) if field.required && is_null_cell(&v) => {
                f.r.errors.add(field.name, "is required");
            }
            Patch::Value(v) => w.columns.push((field.column, v)),
            Patch::Absent | Patch::Null => {
                if field.required && !f.r.has_error(field.name) {
                    f.r.errors.add(field.name, "is required");
                }
            }
        }
    }
    w.base_rate = match read_base_rate(&mut f) {
        Patch::Absent if !f.r.has_error("base_rate") => Patch::Value(BaseRateInput::Fixed),
        p => p,
    };
    // On create a `null` flag takes its default.
    w.winning = f.boolean("winning").value();
    w.is_visible_to_borrower = f.boolean("is_visible_to_borrower").value();
    f.finish()?;
    Ok(w)
}

/// Validates a `PATCH /deals/{deal_id}/term-sheets/{id}` body: every create member but
/// `placement_id` may be sent; `null` clears optional members, while the required ones and the
/// flags cannot be null.
pub fn parse_term_sheet_changes(body: &Map<String, Value>) -> Result<TermSheetWrite, ApiError> {
    let mut f = Fields::new(body);
    let mut w = TermSheetWrite::empty(0);
    for field in TERM_FIELDS {
        match read_term_field(&mut f, field) {
            Patch::Value(v) if field.required && is_null_cell(&v) => f.r.errors.add(field.name, "must not be null"),
            Patch::Value(v) => w.columns.push((field.column, v)),
            Patch::Absent | Patch::Null => {}
        }
    }
    w.base_rate = read_base_rate(&mut f);
    match f.boolean("winning") {
        Patch::Null => f
            .r
            .errors
            .add("winning", "cannot be null; send true or false to update it, or omit the field to leave it unchanged"),
        p => w.winning = p.value(),
    }
    let visible = f.boolean("is_visible_to_borrower");
    w.is_visible_to_borrower = f.not_null("is_visible_to_borrower", visible);
    for name in ["deal_id", "placement_id"] {
        match f.raw(name) {
            Patch::Absent => {}
            Patch::Null => w.fixed.push((name, None)),
            Patch::Value(_) => {
                if let Patch::Value(id) = f.id(name) {
                    w.fixed.push((name, Some(id)));
                }
            }
        }
    }
    f.finish()?;
    if w.is_empty() && w.fixed.is_empty() {
        return Err(ApiError::bad_request(MSG_NO_FIELDS));
    }
    Ok(w)
}

fn is_null_cell(c: &Cell) -> bool {
    matches!(c, Cell::Int(None) | Cell::Real(None) | Cell::Text(None))
}

// ---------------------------------------------------------------------------------------------
// Pipelines

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PipelineStatus {
    pub id: i64,
    /// Key of the stage (`new`, `quoting`, …).
    pub status: String,
    pub custom_status_name: Option<String>,
    pub description: Option<String>,
    /// 1-based position within the pipeline.
    pub order: Option<i64>,
    pub icon: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Pipeline {
    pub id: i64,
    pub pipeline_type: Option<String>,
    pub pipeline_name: Option<String>,
    pub description: Option<String>,
    pub owner_account_id: Option<i64>,
    pub order: Option<i64>,
    pub statuses: Vec<PipelineStatus>,
}

/// Result of `POST /deals/{deal_id}/pipeline`: the deal's row in that pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealPipelineStage {
    pub deal_id: i64,
    pub pipeline_id: i64,
    pub pipeline_status_id: i64,
    /// Key of the stage.
    pub status: String,
    /// The stage as `include=pipelines` names it: its status key, like `status`.
    pub status_name: String,
    pub updated_at: String,
}

/// A validated move request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineMove {
    pub pipeline_id: i64,
    pub pipeline_status_id: Option<i64>,
}

pub const MSG_PIPELINE_NOT_FOUND: &str = "Pipeline not found";
pub const MSG_PIPELINE_STATUS_NOT_FOUND: &str = "Pipeline status not found";

/// Validates a `POST /deals/{deal_id}/pipeline` body.
pub fn parse_pipeline_move(body: &Map<String, Value>) -> Result<PipelineMove, ApiError> {
    let mut f = Fields::new(body);
    let pipeline_id = f.id("pipeline_id");
    f.required("pipeline_id", &pipeline_id);
    let pipeline_status_id = f.id("pipeline_status_id");
    f.finish()?;
    Ok(PipelineMove { pipeline_id: pipeline_id.value().unwrap_or(0), pipeline_status_id: pipeline_status_id.value() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn lender_labels() {
        assert_eq!(lender_label(1), "Lender A");
        assert_eq!(lender_label(2), "Lender B");
        assert_eq!(lender_label(26), "Lender Z");
        assert_eq!(lender_label(27), "Lender AA");
        assert_eq!(lender_label(0), "Lender A");
    }

    #[test]
    fn benchmarks_are_found_by_key_code_or_name_in_any_case() {
        let rates = crate::directory::builtin_base_rates();
        let sofr = rates.iter().find(|r| r.key == "sofr_m1").expect("sofr_m1 is built in");
        for input in
            ["sofr_m1", "SOFR_M1", &sofr.code, &sofr.code.to_uppercase(), &sofr.name, &sofr.name.to_lowercase()]
        {
            assert_eq!(find_benchmark(&rates, input).map(|r| r.key.as_str()), Some("sofr_m1"), "{input}");
        }
        assert!(find_benchmark(&rates, "sofr_m7").is_none());
        assert!(find_benchmark(&rates, "").is_none());
        // Every listed rate is reachable by each of its three spellings.
        for r in &rates {
            for input in [&r.key, &r.code, &r.name] {
                assert_eq!(find_benchmark(&rates, input).map(|f| &f.key), Some(&r.key), "{input}");
            }
        }
    }

    #[test]
    fn base_rate_inputs_and_display() {
        assert_eq!(BaseRateInput::parse("none-fixed"), BaseRateInput::Fixed);
        assert_eq!(BaseRateInput::parse(" None-Fixed "), BaseRateInput::Fixed);
        assert_eq!(BaseRateInput::parse("SOFR 30-Day Avg"), BaseRateInput::Named("SOFR 30-Day Avg".into()));
        assert_eq!(base_rate_display(None, None), "none-fixed");
        assert_eq!(base_rate_display(Some("prime_rate"), Some("Prime Rate")), "Prime Rate");
        assert_eq!(effective_spread(Some("sofr_m1"), 2.75), Some(2.75));
        assert_eq!(effective_spread(None, 6.4), None);
        assert_eq!(unknown_base_rate().message, "base_rate: not a valid BaseRateNames member");
    }

    #[test]
    fn placement_create_rules() {
        let p = parse_new_placement(&obj(json!({"deal_id": 8801, "private_company_id": 230, "score": 55}))).unwrap();
        assert_eq!((p.status, p.visibility, p.contact_id, p.score), ("new", "masked", None, Some(55.0)));
        let e = parse_new_placement(&obj(json!({"deal_id": 1, "private_company_id": 2, "status": "archived"})))
            .unwrap_err();
        assert_eq!((e.status(), e.message.as_str()), (400, MSG_ARCHIVED_ON_CREATE));
        let e =
            parse_new_placement(&obj(json!({"deal_id": 1, "private_company_id": 2, "status": "bogus"}))).unwrap_err();
        assert_eq!((e.status(), e.message.as_str()), (422, "status: input is not a valid enum member"));
        let e = parse_new_placement(&obj(json!({"score": 101, "deal_id": "x", "outreach_date": "soon"}))).unwrap_err();
        let fields = e.details["fields"].as_object().unwrap();
        for k in ["score", "deal_id", "private_company_id", "outreach_date"] {
            assert!(fields.contains_key(k), "{k}: {e:?}");
        }
        let p = parse_new_placement(&obj(
            json!({"deal_id": 1, "private_company_id": 2, "outreach_date": "2026-05-03", "contact_id": null}),
        ))
        .unwrap();
        assert_eq!(p.outreach_date.as_deref(), Some("2026-05-03T00:00:00Z"));
    }

    #[test]
    fn placement_patch_rules() {
        let e = parse_placement_changes(&obj(json!({"unknown": 1}))).unwrap_err();
        assert_eq!((e.status(), e.message.as_str()), (400, MSG_NO_FIELDS));
        let c = parse_placement_changes(&obj(json!({"status": "archived", "score": null}))).unwrap();
        assert_eq!((c.status, c.score), (Some("archived"), Patch::Null));
        assert!(parse_placement_changes(&obj(json!({"visibility": null}))).is_err());
        let c = parse_placement_changes(&obj(json!({"deal_id": 4}))).unwrap();
        assert!(c.is_empty());
        assert_eq!(c.fixed, vec![("deal_id", Some(4))]);
    }

    #[test]
    fn lifecycle_stamps() {
        let s = status_stamps("new", "sent", false, false);
        assert!(s.outreach_date && s.last_communication_date && !s.lender_first_response_date);
        let s = status_stamps("sent", "terms_received", true, false);
        assert!(!s.outreach_date && s.lender_first_response_date);
        assert_eq!(status_stamps("sent", "archived", false, false), StatusStamps::default());
        assert_eq!(status_stamps("closed", "closed", false, false), StatusStamps::default());
    }

    #[test]
    fn term_sheet_create_rules() {
        let w = parse_new_term_sheet(&obj(json!({
            "placement_id": 4501, "quote_type": "hard_quote", "rate_type": "floating", "base_rate": "sofr_m1",
            "total_rate": 2.75, "initial_funding": 18000000, "term": 36, "max_ltv": 0.65, "floor": 4.0,
            "floor_type": "base_rate", "origination_fee": 0.0075
        })))
        .unwrap();
        assert_eq!(w.placement_id, 4501);
        assert_eq!(w.base_rate, Patch::Value(BaseRateInput::Named("sofr_m1".into())));
        assert_eq!(w.column("rate_floor"), Some(&Cell::Real(Some(4.0))));
        assert_eq!(w.column("initial_funding"), Some(&Cell::Int(Some(18_000_000))));
        let e = parse_new_term_sheet(&obj(json!({}))).unwrap_err();
        let fields = e.details["fields"].as_object().unwrap();
        for k in ["placement_id", "quote_type", "rate_type", "total_rate", "initial_funding"] {
            assert_eq!(fields[k], "is required", "{k}");
        }
        // Percent given where a ratio is expected, fractional dollars, unknown benchmark.
        let e = parse_new_term_sheet(&obj(json!({
            "placement_id": 1, "quote_type": "term_sheet", "rate_type": "fixed", "total_rate": 6.1,
            "initial_funding": 100.5, "max_ltv": 70, "base_rate": 5
        })))
        .unwrap_err();
        let fields = e.details["fields"].as_object().unwrap();
        assert_eq!(fields.len(), 3, "{e:?}");
        let e = parse_new_term_sheet(&obj(json!({
            "placement_id": 1, "quote_type": "firm", "rate_type": "fixed", "total_rate": 6.1, "initial_funding": 100
        })))
        .unwrap_err();
        assert_eq!(e.message, "quote_type: input is not a valid enum member");
    }

    #[test]
    fn term_sheet_patch_rules() {
        let e = parse_term_sheet_changes(&obj(json!({"winning": null}))).unwrap_err();
        assert_eq!(e.status(), 422);
        assert!(e.message.starts_with("winning cannot be null."));
        let e = parse_term_sheet_changes(&obj(json!({"base_rate": ""}))).unwrap_err();
        assert_eq!(e.message, "base_rate: not a valid BaseRateNames member");
        let w = parse_term_sheet_changes(&obj(json!({"base_rate": null, "total_rate": 6.4, "term": null}))).unwrap();
        assert_eq!(w.base_rate, Patch::Value(BaseRateInput::Fixed));
        assert_eq!(w.column("term"), Some(&Cell::Int(None)));
        assert!(parse_term_sheet_changes(&obj(json!({"total_rate": null}))).is_err());
        assert_eq!(parse_term_sheet_changes(&obj(json!({"nothing": 1}))).unwrap_err().status(), 400);
    }

    #[test]
    fn pipeline_move_body() {
        assert_eq!(
            parse_pipeline_move(&obj(json!({"pipeline_id": 3, "pipeline_status_id": 12}))).unwrap(),
            PipelineMove { pipeline_id: 3, pipeline_status_id: Some(12) }
        );
        assert_eq!(parse_pipeline_move(&obj(json!({}))).unwrap_err().status(), 422);
        assert_eq!(parse_pipeline_move(&obj(json!({"pipeline_id": "3"}))).unwrap_err().status(), 422);
    }
}
