//! The global lender directory (lenders and their lending programs) and the market reference
//! data (base rates, asset types): the records as the API shows them, the grammar of the
//! directory list, validation of the files `levd admin directory` loads (JSON or CSV), and the
//! built-in data set levd ships with.
//!
//! None of this belongs to an account: every authenticated caller with `lenders:read` sees the
//! same directory. Lender ids are organization ids (`org_id`), referenced by CRM companies and
//! term sheets, so they come with the data instead of being assigned by the database.
mod builtin;
mod csv_rows;
mod load;

pub use builtin::*;
pub use csv_rows::*;
pub use load::*;

use serde::Serialize;

use crate::deal::fold_case;
use crate::error::ApiError;
use crate::query::{FilterKind, FilterSpec, FilterValue, ListQuery, ListSpec, parse_pairs};

// ---------------------------------------------------------------------------------------------
// Records as the API shows them

/// A lender in `GET /lenders/directory`: the list members only. The detail-only members
/// (`linkedin_url`, `aliases`, `domains`, `square_logo_url` and the programs) are at
/// `GET /lenders/{org_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LenderSummary {
    pub id: i64,
    pub name: String,
    pub website: Option<String>,
    pub logo_url: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub about: Option<String>,
    pub lender_type: Option<Vec<String>>,
    pub category: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A lender in `GET /lenders/{org_id}`: every member, with its programs.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LenderDetail {
    pub id: i64,
    pub name: String,
    pub website: Option<String>,
    pub logo_url: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub about: Option<String>,
    pub lender_type: Option<Vec<String>>,
    pub category: Option<String>,
    pub linkedin_url: Option<String>,
    pub aliases: Option<Vec<String>>,
    pub domains: Option<Vec<String>>,
    pub square_logo_url: Option<String>,
    pub programs: Vec<LenderProgram>,
    pub created_at: String,
    pub updated_at: String,
}

/// A lending program (`LenderProgram`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LenderProgram {
    pub id: i64,
    pub title: Option<String>,
    pub loan_types: Option<Vec<String>>,
    pub recourse_types: Option<Vec<String>>,
    pub min_loan_amount: Option<f64>,
    pub max_loan_amount: Option<f64>,
    pub capital_source_type: Option<String>,
    pub positions: Option<Vec<String>>,
    pub sponsor_states: Option<Vec<String>>,
    pub status: Option<String>,
}

/// One benchmark rate (`BaseRates`). `code` is the display label term sheets quote (as the
/// reference describes it); `key` (the internal name term-sheet writes also accept) and
/// `as_of` (the date the value was observed) are levd additions.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BaseRate {
    pub code: String,
    pub name: String,
    /// Percent, e.g. `4.31`.
    pub rate: Option<f64>,
    /// `YYYY-MM-DD`.
    pub as_of: String,
    pub key: String,
}

/// One asset type (`AssetTypes`); `DealProperty.asset_type_id` refers to `id`. The reference
/// types `property_sub_types` as a string: a comma-separated list of sub-type names.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AssetType {
    pub id: i64,
    pub description: Option<String>,
    pub property_sub_types: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// List grammar

/// Members of a directory list item, the names `fields=` accepts.
pub const LENDER_LIST_FIELDS: &[&str] = &[
    "id",
    "name",
    "website",
    "logo_url",
    "address",
    "city",
    "state",
    "zip",
    "about",
    "lender_type",
    "category",
    "created_at",
    "updated_at",
];

/// `GET /lenders/directory`. Cursor paging by id by default; `sort=name` (or `-name`) switches
/// to offset paging like every other list, so `offset` is accepted here too.
pub const DIRECTORY_LIST: ListSpec = ListSpec {
    filters: &[FilterSpec { name: "state", kind: FilterKind::Text }],
    sorts: &["name"],
    fields: LENDER_LIST_FIELDS,
    includes: &[],
    search: false,
    cursor: true,
    offset: true,
};

/// `GET /lenders/{org_id}/programs`: `limit` and `cursor` only.
pub const PROGRAM_LIST: ListSpec =
    ListSpec { filters: &[], sorts: &[], fields: &[], includes: &[], search: false, cursor: true, offset: false };

const MAX_NAME_QUERY_CHARS: usize = 200;

/// A parsed directory query: the common list parameters plus `name` and `filter[state]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryQuery {
    pub list: ListQuery,
    /// Case-folded search text (substring of the name or an alias).
    pub name: Option<String>,
    /// Two-letter code of the headquarters state.
    pub state: Option<&'static str>,
}

/// Parses the query string of `GET /lenders/directory`. Syntax errors (400) come before
/// content errors (422), as for every list.
pub fn parse_directory_query(raw_query: Option<&str>) -> Result<DirectoryQuery, ApiError> {
    let mut name: Option<String> = None;
    if let Some(q) = raw_query {
        for (key, value) in parse_pairs(q)? {
            if key == "name" {
                if name.is_some() {
                    return Err(
                        ApiError::bad_request("Parameter name given more than once").with_detail("parameter", "name")
                    );
                }
                name = Some(value);
            }
        }
    }
    let mut list = ListQuery::parse(raw_query, &DIRECTORY_LIST)?;
    let name = match name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(n) if n.chars().count() > MAX_NAME_QUERY_CHARS => {
            return Err(ApiError::invalid_field("name", format!("must be at most {MAX_NAME_QUERY_CHARS} characters")));
        }
        Some(n) => Some(fold_case(n)),
    };
    let mut state = None;
    for f in list.filters.drain(..) {
        if let ("state", FilterValue::Text(v)) = (f.field, &f.value) {
            state = Some(normalize_state(v).ok_or_else(|| {
                ApiError::invalid_field("filter[state]", "must be a two-letter US state code (e.g. MA) or a state name")
            })?);
        }
    }
    Ok(DirectoryQuery { list, name, state })
}

/// What `name=` matches: the case-folded name and aliases, one per line.
pub fn name_search_text(name: &str, aliases: Option<&[String]>) -> String {
    let mut out = fold_case(name);
    for a in aliases.unwrap_or_default() {
        out.push('\n');
        out.push_str(&fold_case(a));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// States

/// US states, DC and Puerto Rico: code and name.
pub const US_STATES: &[(&str, &str)] = &[
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("DC", "District of Columbia"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("PR", "Puerto Rico"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
];

/// The two-letter code for a code or a state name, in any case and with surrounding blanks.
pub fn normalize_state(s: &str) -> Option<&'static str> {
    let t = s.trim();
    US_STATES
        .iter()
        .find(|(code, name)| code.eq_ignore_ascii_case(t) || name.eq_ignore_ascii_case(t))
        .map(|(code, _)| *code)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn directory_query_parameters() {
        let q = parse_directory_query(Some("name=%20Bank%20&filter[state]=ma&limit=2")).unwrap();
        assert_eq!(q.name.as_deref(), Some("bank"));
        assert_eq!(q.state, Some("MA"));
        assert_eq!(q.list.limit, 2);
        assert!(q.list.filters.is_empty());
        assert_eq!(parse_directory_query(Some("filter[state]=New%20York")).unwrap().state, Some("NY"));
        let e = parse_directory_query(Some("filter[state]=Atlantis")).unwrap_err();
        assert_eq!(e.status(), 422);
        assert!(e.details["fields"].get("filter[state]").is_some());
        assert_eq!(parse_directory_query(Some("name=a&name=b")).unwrap_err().status(), 400);
        assert_eq!(parse_directory_query(Some(&format!("name={}", "x".repeat(201)))).unwrap_err().status(), 422);
        assert_eq!(parse_directory_query(Some("name=")).unwrap().name, None);
        assert_eq!(parse_directory_query(Some("sort=name&cursor=eyJpZCI6MTB9")).unwrap_err().status(), 400);
        assert_eq!(parse_directory_query(Some("sort=city")).unwrap_err().status(), 422);
        assert_eq!(parse_directory_query(Some("fields=linkedin")).unwrap_err().status(), 422);
        assert_eq!(parse_directory_query(Some("filter[city]=Boston")).unwrap_err().status(), 422);
    }

    #[test]
    fn states_normalise() {
        assert_eq!(normalize_state(" ma "), Some("MA"));
        assert_eq!(normalize_state("district of columbia"), Some("DC"));
        assert_eq!(normalize_state("M"), None);
        assert_eq!(US_STATES.len(), 52);
    }
}
