//! Deals: enums, the record as the API shows it, create/update input and the list grammar.
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::input::{BodyReader, Patch};
use crate::query::{FilterKind, FilterSpec, ListSpec};

pub const LOAN_TYPES: &[&str] =
    &["construction", "heavy_bridge", "light_bridge", "permanent", "land", "predevelopment", "tbd"];
pub const TRANSACTION_TYPES: &[&str] = &["tbd", "acquisition", "refinance", "new_construction"];
pub const BUSINESS_PLANS: &[&str] = &["stabilized", "value_add", "construction", "land"];

/// Fields a client may name in `fields=`.
pub const DEAL_FIELDS: &[&str] = &[
    "id",
    "title",
    "loan_amount",
    "loan_type",
    "transaction_type",
    "business_plan",
    "description",
    "estimated_close_date",
    "close_date",
    "owner_account_id",
    "created_at",
    "updated_at",
    "archived",
    "archived_at",
];

pub const DEAL_INCLUDES: &[&str] = &["financials", "properties", "team", "pipelines"];

pub const DEAL_LIST: ListSpec = ListSpec {
    filters: &[
        FilterSpec { name: "loan_type", kind: FilterKind::Enum(LOAN_TYPES) },
        FilterSpec { name: "transaction_type", kind: FilterKind::Enum(TRANSACTION_TYPES) },
        FilterSpec { name: "business_plan", kind: FilterKind::Enum(BUSINESS_PLANS) },
        FilterSpec { name: "archived", kind: FilterKind::Bool },
        FilterSpec { name: "loan_amount", kind: FilterKind::Number },
        FilterSpec { name: "created_at", kind: FilterKind::DateTime },
        FilterSpec { name: "updated_at", kind: FilterKind::DateTime },
    ],
    sorts: &["title", "loan_amount", "created_at", "updated_at"],
    fields: DEAL_FIELDS,
    includes: DEAL_INCLUDES,
    search: true,
    cursor: true,
    offset: true,
};

/// A deal as stored and shown (embedded sub-resources are added by the service on request).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Deal {
    pub id: i64,
    pub title: String,
    pub loan_amount: Option<f64>,
    pub loan_type: Option<String>,
    pub transaction_type: Option<String>,
    pub business_plan: Option<String>,
    pub description: Option<String>,
    pub estimated_close_date: Option<String>,
    pub close_date: Option<String>,
    pub owner_account_id: i64,
    pub created_at: String,
    pub updated_at: String,
    pub archived: bool,
    pub archived_at: Option<String>,
}

/// What `search` matches: title and description, case-folded the same way as search terms.
pub fn search_text(title: &str, description: Option<&str>) -> String {
    format!("{}\n{}", fold_case(title), fold_case(description.unwrap_or("")))
}

/// Unicode-aware case folding used for search on every backend.
pub fn fold_case(s: &str) -> String {
    s.to_lowercase()
}

/// The five financial values writable through deals (`DealFinancialsWrite`).
pub const FINANCIALS_WRITE_FIELDS: &[&str] =
    &["purchase_price", "estimated_value", "total_cost", "total_cost_basis", "land_cost"];

/// A validated `deal_financials` member: each writable field absent, cleared or set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FinancialsWrite {
    pub values: Vec<(&'static str, Option<f64>)>,
}

impl FinancialsWrite {
    /// True when the write carries at least one non-null value (only then may it create the
    /// financials record).
    pub fn has_value(&self) -> bool {
        self.values.iter().any(|(_, v)| v.is_some())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDeal {
    pub title: String,
    pub loan_amount: Option<f64>,
    pub loan_type: Option<&'static str>,
    pub transaction_type: Option<&'static str>,
    pub business_plan: Option<&'static str>,
    pub description: Option<String>,
    pub estimated_close_date: Option<String>,
    pub pipeline_ids: Vec<i64>,
    pub financials: Option<FinancialsWrite>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DealChanges {
    pub title: Option<String>,
    pub loan_amount: Patch<f64>,
    pub loan_type: Patch<&'static str>,
    pub transaction_type: Patch<&'static str>,
    pub business_plan: Patch<&'static str>,
    pub description: Patch<String>,
    pub estimated_close_date: Patch<String>,
    pub financials: Option<FinancialsWrite>,
}

const MAX_TITLE: usize = 255;
const MAX_DESCRIPTION: usize = 20_000;

fn read_financials(r: &mut BodyReader<'_>) -> Option<FinancialsWrite> {
    let obj = match r.object("deal_financials") {
        Patch::Value(m) => m,
        Patch::Null => {
            r.errors.add("deal_financials", "must be an object");
            return None;
        }
        Patch::Absent => return None,
    };
    if obj.is_empty() {
        r.errors.add(
            "deal_financials",
            "must contain at least one of: purchase_price, estimated_value, total_cost, total_cost_basis, land_cost",
        );
        return None;
    }
    let mut out = FinancialsWrite::default();
    for (k, v) in obj {
        let name = format!("deal_financials.{k}");
        let Some(field) = FINANCIALS_WRITE_FIELDS.iter().find(|f| **f == k.as_str()) else {
            r.errors.add(&name, "is not an allowed member");
            continue;
        };
        match v {
            Value::Null => out.values.push((field, None)),
            Value::Number(n) => match n.as_f64() {
                Some(x) if x.is_finite() && x >= 0.0 => out.values.push((field, Some(x))),
                _ => r.errors.add(&name, "must be a number >= 0"),
            },
            _ => r.errors.add(&name, "must be a number >= 0 or null"),
        }
    }
    Some(out)
}

/// Validates a `POST /deals` body.
pub fn parse_new_deal(body: &Map<String, Value>) -> Result<NewDeal, ApiError> {
    let mut r = BodyReader::new(body);
    let title = match r.string("title", MAX_TITLE, false) {
        Patch::Value(t) if t.trim().is_empty() => Patch::Absent,
        t => t,
    };
    if !r.has_error("title") && !matches!(title, Patch::Value(_)) {
        r.errors.add("title", "is required");
    }
    let loan_amount = r.number("loan_amount", Some(0.0));
    let loan_type = r.enumeration("loan_type", LOAN_TYPES);
    let transaction_type = r.enumeration("transaction_type", TRANSACTION_TYPES);
    let business_plan = r.enumeration("business_plan", BUSINESS_PLANS);
    let description = r.string("description", MAX_DESCRIPTION, false);
    let estimated_close_date = r.date("estimated_close_date");
    let pipeline_ids = r.id_array("pipeline_ids", 50);
    let financials = read_financials(&mut r);
    r.finish()?;
    Ok(NewDeal {
        title: title.value().unwrap_or_default(),
        loan_amount: loan_amount.value(),
        loan_type: loan_type.value(),
        transaction_type: transaction_type.value(),
        business_plan: business_plan.value(),
        description: description.value(),
        estimated_close_date: estimated_close_date.value(),
        pipeline_ids: pipeline_ids.value().unwrap_or_default(),
        financials,
    })
}

/// Validates a `PATCH /deals/{id}` body. `title` cannot be cleared; other members may be
/// `null` to clear them.
pub fn parse_deal_changes(body: &Map<String, Value>) -> Result<DealChanges, ApiError> {
    let mut r = BodyReader::new(body);
    let title = match r.string("title", MAX_TITLE, true) {
        Patch::Null => {
            r.errors.add("title", "must not be null");
            None
        }
        p => p.value(),
    };
    let changes = DealChanges {
        title,
        loan_amount: r.number("loan_amount", Some(0.0)),
        loan_type: r.enumeration("loan_type", LOAN_TYPES),
        transaction_type: r.enumeration("transaction_type", TRANSACTION_TYPES),
        business_plan: r.enumeration("business_plan", BUSINESS_PLANS),
        description: r.string("description", MAX_DESCRIPTION, false),
        estimated_close_date: r.date("estimated_close_date"),
        financials: read_financials(&mut r),
    };
    r.finish()?;
    Ok(changes)
}

impl DealChanges {
    /// True when the body named nothing to change.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.loan_amount.is_absent()
            && self.loan_type.is_absent()
            && self.transaction_type.is_absent()
            && self.business_plan.is_absent()
            && self.description.is_absent()
            && self.estimated_close_date.is_absent()
            && self.financials.is_none()
    }

    /// True when `search_text` must be recomputed.
    pub fn touches_search(&self) -> bool {
        self.title.is_some() || !self.description.is_absent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn create_requires_title() {
        let e = parse_new_deal(&obj(json!({"loan_amount": 5}))).unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(e.message, "title is required");
        let e = parse_new_deal(&obj(json!({"title": "  "}))).unwrap_err();
        assert_eq!(e.details["fields"]["title"], "is required");
    }

    #[test]
    fn create_parses_everything() {
        let d = parse_new_deal(&obj(json!({
            "title": "Maple Court", "loan_amount": 9200000, "loan_type": "light_bridge",
            "transaction_type": "acquisition", "business_plan": "value_add", "pipeline_ids": [3, 3],
            "estimated_close_date": "2026-09-30", "deal_financials": {"purchase_price": 11500000, "land_cost": null},
            "unknown": true
        })))
        .unwrap();
        assert_eq!(d.loan_type, Some("light_bridge"));
        assert_eq!(d.pipeline_ids, vec![3]);
        let f = d.financials.unwrap();
        assert!(f.has_value());
        assert_eq!(f.values.len(), 2);
    }

    #[test]
    fn financials_rules() {
        for bad in [json!({}), json!({"noi": 5}), json!({"land_cost": -1}), json!({"land_cost": "1"}), json!([1])] {
            let e = parse_new_deal(&obj(json!({"title": "x", "deal_financials": bad}))).unwrap_err();
            assert_eq!(e.status(), 422, "{e:?}");
        }
        let d = parse_new_deal(&obj(json!({"title": "x", "deal_financials": {"land_cost": null}}))).unwrap();
        assert!(!d.financials.unwrap().has_value());
    }

    #[test]
    fn patch_semantics() {
        let c = parse_deal_changes(&obj(json!({"description": null, "loan_amount": 7}))).unwrap();
        assert_eq!(c.description, Patch::Null);
        assert_eq!(c.loan_amount, Patch::Value(7.0));
        assert_eq!(c.loan_type, Patch::Absent);
        assert!(parse_deal_changes(&obj(json!({"title": null}))).is_err());
        assert!(parse_deal_changes(&obj(json!({"loan_type": "bridge"}))).is_err());
    }
}

/// Kind of a financials column, for reading it out of storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinancialKind {
    Number,
    Integer,
    Date,
    Flag,
}

/// Every value field of `DealFinancials`, in the order of the schema.
pub const FINANCIAL_FIELDS: &[(&str, FinancialKind)] = {
    use FinancialKind::*;
    &[
        ("purchase_price", Number),
        ("asking_price", Number),
        ("estimated_value", Number),
        ("in_place_noi", Number),
        ("stabilized_noi", Number),
        ("stabilized_value", Number),
        ("stabilized_occupancy", Number),
        ("going_in_cap_rate", Number),
        ("going_in_cap_rate_as_of_date", Date),
        ("capex", Number),
        ("historical_capex", Number),
        ("land_cost", Number),
        ("total_cost", Number),
        ("total_cost_basis", Number),
        ("cost_basis_to_date", Number),
        ("imputed_land_value", Number),
        ("existing_debt", Number),
        ("estimated_cost_basis_if_refinance", Number),
        ("exchange_amount", Number),
        ("exchange_required_closing_date", Date),
        ("outstanding_loan_amount_at_closing", Number),
        ("investment_sales_brokerage_fee", Number),
        ("debt_placement_brokerage_fee", Number),
        ("environmental_cost", Number),
        ("appraisal_cost", Number),
        ("survey_cost", Number),
        ("snda_and_estoppel_cost", Number),
        ("estimated_borrower_counsel_cost", Number),
        ("estimated_lender_counsel_cost", Number),
        ("other_closing_costs", Integer),
        ("date_of_purchase_if_refinance", Date),
        ("construction_start_date", Date),
        ("construction_completion_date", Date),
        ("debt_maturity_date", Date),
        ("cash_out", Flag),
        ("recent_phase_available", Flag),
        ("recent_appraisal_available", Flag),
        ("survey_available", Flag),
        ("borrower_counsel_engaged", Flag),
    ]
};

/// Members of the reduced financials object embedded by `include=financials`.
pub const EMBEDDED_FINANCIAL_FIELDS: &[&str] = &[
    "purchase_price",
    "estimated_value",
    "total_cost",
    "total_cost_basis",
    "land_cost",
    "in_place_noi",
    "stabilized_noi",
    "going_in_cap_rate",
];
