//! The global lender directory (lenders and their lending programs) and the market reference
//! data (base rates, asset types): the records as the API shows them, the grammar of the
//! directory list, validation of the files `levd admin directory` loads (JSON or CSV), and the
//! built-in data set levd ships with.
//!
//! None of this belongs to an account: every authenticated caller with `lenders:read` sees the
//! same directory. Lender ids are organization ids (`org_id`), referenced by CRM companies and
//! term sheets, so they come with the data instead of being assigned by the database.
use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::deal::{LOAN_TYPES, fold_case};
use crate::error::ApiError;
use crate::query::{FilterKind, FilterSpec, FilterValue, ListQuery, ListSpec, parse_pairs};
use crate::time_fmt::{parse_date, parse_timestamp};

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

fn state_name(code: &str) -> &'static str {
    US_STATES.iter().find(|(c, _)| *c == code).map_or("", |(_, n)| *n)
}

// ---------------------------------------------------------------------------------------------
// Load files

/// A lender as a load file gives it (and as `export` writes it): the detail record, with
/// optional timestamps and program ids. `programs: None` leaves a merged lender's programs as
/// they are; `Some` replaces them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewLender {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programs: Option<Vec<NewProgram>>,
}

/// A program in a load file; without `id` one is assigned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewProgram {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
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

/// What a load did, printed by `levd admin directory`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    pub dataset: &'static str,
    /// `merge` (upsert by id/key) or `replace` (the file becomes the whole data set).
    pub mode: &'static str,
    pub source: String,
    /// Records in the file.
    pub loaded: usize,
    pub inserted: usize,
    pub updated: usize,
    pub removed: usize,
    /// Records in the data set afterwards.
    pub total: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programs_loaded: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_programs: Option<i64>,
}

/// State of one reference data set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetStatus {
    pub dataset: String,
    /// `builtin` or the file it was last loaded from.
    pub source: String,
    pub loaded_at: String,
    pub records: i64,
}

/// The reference data sets, as named in `reference_datasets` and in admin output.
pub const DATASET_LENDERS: &str = "lenders";
pub const DATASET_BASE_RATES: &str = "base_rates";
pub const DATASET_ASSET_TYPES: &str = "asset_types";
pub const DATASETS: [&str; 3] = [DATASET_LENDERS, DATASET_BASE_RATES, DATASET_ASSET_TYPES];

pub const PROGRAM_STATUSES: &[&str] = &["active", "inactive"];

/// Bounds of load files: enough for any real directory, small enough that a wrong file cannot
/// exhaust memory or lock the database for long.
pub const MAX_LENDERS: usize = 100_000;
pub const MAX_PROGRAMS_PER_LENDER: usize = 100;
pub const MAX_BASE_RATES: usize = 500;
pub const MAX_ASSET_TYPES: usize = 1_000;
/// Problems listed in a failed load; the rest are counted.
const MAX_REPORTED_PROBLEMS: usize = 20;

/// Why a load file was refused: the first problems, each naming its record and field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadError {
    pub problems: Vec<String>,
    pub total: usize,
}

impl LoadError {
    fn one(message: impl Into<String>) -> LoadError {
        LoadError { problems: vec![message.into()], total: 1 }
    }
    fn add(&mut self, message: String) {
        self.total += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(message);
        }
    }
    fn into_result<T>(self, value: T) -> Result<T, LoadError> {
        if self.total == 0 { Ok(value) } else { Err(self) }
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.problems.join("; "))?;
        if self.total > self.problems.len() {
            write!(f, " (and {} more problems)", self.total - self.problems.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Reads the members of one record, recording each problem under `where_`.
struct Reader<'a> {
    obj: &'a Map<String, Value>,
    where_: String,
    errors: &'a mut LoadError,
}

impl<'a> Reader<'a> {
    fn problem(&mut self, field: &str, message: &str) {
        let w = format!("{}.{field}: {message}", self.where_);
        self.errors.add(w);
    }

    /// The member, with `null` and blank strings read as absent (CSV cells are strings).
    fn get(&self, field: &str) -> Option<&'a Value> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => Some(v),
        }
    }

    fn text(&mut self, field: &str, max: usize) -> Option<String> {
        match self.get(field)? {
            Value::String(s) => {
                let t = s.trim();
                if t.chars().count() > max {
                    self.problem(field, &format!("must be at most {max} characters"));
                    None
                } else if t.chars().any(char::is_control) && field != "about" {
                    self.problem(field, "must not contain control characters");
                    None
                } else {
                    Some(t.to_string())
                }
            }
            _ => {
                self.problem(field, "must be a string");
                None
            }
        }
    }

    fn required_text(&mut self, field: &str, max: usize) -> Option<String> {
        if self.get(field).is_none() {
            self.problem(field, "is required");
            return None;
        }
        self.text(field, max)
    }

    fn url(&mut self, field: &str) -> Option<String> {
        let u = self.text(field, 2048)?;
        let lower = u.to_ascii_lowercase();
        if (lower.starts_with("https://") || lower.starts_with("http://")) && !u.contains(char::is_whitespace) {
            Some(u)
        } else {
            self.problem(field, "must be an http(s) URL");
            None
        }
    }

    /// A positive integer; CSV gives it as digits.
    fn id(&mut self, field: &str) -> Option<i64> {
        let v = self.get(field)?;
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.problem(field, "must be a positive integer");
                None
            }
        }
    }

    fn required_id(&mut self, field: &str) -> Option<i64> {
        if self.get(field).is_none() {
            self.problem(field, "is required");
            return None;
        }
        self.id(field)
    }

    fn number(&mut self, field: &str, min: f64, max: f64) -> Option<f64> {
        let v = self.get(field)?;
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(x) if x.is_finite() && (min..=max).contains(&x) => Some(x),
            _ => {
                self.problem(field, &format!("must be a number between {min} and {max}"));
                None
            }
        }
    }

    /// An array of short strings; CSV gives it as one cell with `|` between items. Blank items
    /// are dropped and repeats removed.
    fn list(&mut self, field: &str, max_items: usize, max_chars: usize) -> Option<Vec<String>> {
        let v = self.get(field)?;
        let raw: Vec<String> = match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    match it {
                        Value::String(s) => out.push(s.clone()),
                        _ => {
                            self.problem(field, "must be an array of strings");
                            return None;
                        }
                    }
                }
                out
            }
            Value::String(s) => s.split('|').map(str::to_string).collect(),
            _ => {
                self.problem(field, "must be an array of strings");
                return None;
            }
        };
        let mut out: Vec<String> = Vec::new();
        for item in raw {
            let t = item.trim();
            if t.is_empty() || out.iter().any(|o| o == t) {
                continue;
            }
            if t.chars().count() > max_chars || t.chars().any(char::is_control) {
                self.problem(field, &format!("items must be at most {max_chars} characters of text"));
                return None;
            }
            out.push(t.to_string());
        }
        if out.len() > max_items {
            self.problem(field, &format!("must have at most {max_items} items"));
            return None;
        }
        Some(out)
    }

    fn list_of(&mut self, field: &str, allowed: &[&str]) -> Option<Vec<String>> {
        let items = self.list(field, allowed.len(), 64)?;
        if let Some(bad) = items.iter().find(|i| !allowed.contains(&i.as_str())) {
            let msg = format!("contains '{}'; allowed: {}", cut(bad), allowed.join(", "));
            self.problem(field, &msg);
            return None;
        }
        Some(items)
    }

    fn states(&mut self, field: &str) -> Option<Vec<String>> {
        let items = self.list(field, US_STATES.len(), 64)?;
        let mut out = Vec::with_capacity(items.len());
        for i in &items {
            match normalize_state(i) {
                Some(code) if !out.iter().any(|o: &String| o == code) => out.push(code.to_string()),
                Some(_) => {}
                None => {
                    let msg = format!("contains '{}', which is not a US state", cut(i));
                    self.problem(field, &msg);
                    return None;
                }
            }
        }
        Some(out)
    }

    fn state(&mut self, field: &str) -> Option<String> {
        let s = self.text(field, 64)?;
        match normalize_state(&s) {
            Some(code) => Some(code.to_string()),
            None => {
                self.problem(field, "must be a two-letter US state code or a state name");
                None
            }
        }
    }

    fn one_of(&mut self, field: &str, allowed: &[&str]) -> Option<String> {
        let s = self.text(field, 64)?;
        let lower = s.to_ascii_lowercase();
        if allowed.contains(&lower.as_str()) {
            Some(lower)
        } else {
            self.problem(field, &format!("must be one of: {}", allowed.join(", ")));
            None
        }
    }

    fn timestamp(&mut self, field: &str) -> Option<String> {
        let s = self.text(field, 64)?;
        match parse_timestamp(&s).or_else(|| parse_date(&s).map(|d| format!("{d}T00:00:00Z"))) {
            Some(t) => Some(t),
            None => {
                self.problem(field, "must be an RFC 3339 date-time or a YYYY-MM-DD date");
                None
            }
        }
    }

    fn date(&mut self, field: &str) -> Option<String> {
        let s = self.text(field, 64)?;
        match parse_date(&s) {
            Some(d) => Some(d),
            None => {
                self.problem(field, "must be a YYYY-MM-DD date");
                None
            }
        }
    }
}

/// Text echoed in a problem, cut so a huge value cannot bloat the message.
fn cut(s: &str) -> String {
    if s.chars().count() <= 40 { s.to_string() } else { format!("{}…", s.chars().take(40).collect::<String>()) }
}

fn read_lender(r: &mut Reader<'_>) -> Option<NewLender> {
    let id = r.required_id("id");
    let name = r.required_text("name", 255);
    let aliases = r.list("aliases", 20, 255);
    let domains = r.list("domains", 20, 253);
    if let Some(bad) = domains.iter().flatten().find(|d| !d.contains('.') || d.contains(['/', '@', ' '])) {
        let msg = format!("contains '{}', which is not a domain name", cut(bad));
        r.problem("domains", &msg);
    }
    let lender = NewLender {
        id: id.unwrap_or(0),
        name: name.unwrap_or_default(),
        website: r.url("website"),
        logo_url: r.url("logo_url"),
        address: r.text("address", 255),
        city: r.text("city", 100),
        state: r.state("state"),
        zip: r.text("zip", 16),
        about: r.text("about", 5_000),
        lender_type: r.list("lender_type", 10, 64),
        category: r.text("category", 100),
        linkedin_url: r.url("linkedin_url"),
        aliases,
        domains,
        square_logo_url: r.url("square_logo_url"),
        created_at: r.timestamp("created_at"),
        updated_at: r.timestamp("updated_at"),
        programs: None,
    };
    (lender.id > 0 && !lender.name.is_empty()).then_some(lender)
}

fn read_program(r: &mut Reader<'_>) -> NewProgram {
    let min = r.number("min_loan_amount", 0.0, 1e12);
    let max = r.number("max_loan_amount", 0.0, 1e12);
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        r.problem("min_loan_amount", "must not exceed max_loan_amount");
    }
    NewProgram {
        id: r.id("id"),
        title: r.text("title", 255),
        loan_types: r.list_of("loan_types", LOAN_TYPES),
        recourse_types: r.list("recourse_types", 10, 64),
        min_loan_amount: min,
        max_loan_amount: max,
        capital_source_type: r.text("capital_source_type", 64),
        positions: r.list("positions", 10, 64),
        sponsor_states: r.states("sponsor_states"),
        status: r.one_of("status", PROGRAM_STATUSES),
    }
}

/// The records of a JSON load file: a top-level array, or an object holding the array under
/// one of `keys` (so an API response's `data` loads too).
fn json_records<'v>(value: &'v Value, keys: &[&str], max: usize) -> Result<&'v Vec<Value>, LoadError> {
    let arr = match value {
        Value::Array(a) => a,
        Value::Object(m) => match keys.iter().find_map(|k| m.get(*k)) {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(LoadError::one(format!(
                    "expected an array of records, or an object with an array under \"{}\"",
                    keys.join("\" or \"")
                )));
            }
        },
        _ => return Err(LoadError::one("expected an array of records or an object")),
    };
    if arr.len() > max {
        return Err(LoadError::one(format!("too many records: {} (at most {max})", arr.len())));
    }
    Ok(arr)
}

fn parse_json(text: &str) -> Result<Value, LoadError> {
    serde_json::from_str(text).map_err(|e| LoadError::one(format!("not valid JSON: {e}")))
}

/// Checks ids across a lender file: lender ids and program ids must be unique.
fn check_unique_ids(lenders: &[NewLender], errors: &mut LoadError) {
    let mut seen = HashSet::new();
    let mut programs = HashSet::new();
    for l in lenders {
        if !seen.insert(l.id) {
            errors.add(format!("lender id {} appears more than once", l.id));
        }
        for p in l.programs.iter().flatten() {
            if let Some(id) = p.id
                && !programs.insert(id)
            {
                errors.add(format!("program id {id} appears more than once"));
            }
        }
    }
}

/// Parses a lender file in JSON: an array of lender objects (each may hold `programs`), or an
/// object with it under `lenders` or `data`.
pub fn parse_lenders_json(text: &str) -> Result<Vec<NewLender>, LoadError> {
    let value = parse_json(text)?;
    let records = json_records(&value, &["lenders", "data"], MAX_LENDERS)?;
    let mut errors = LoadError::default();
    let mut out = Vec::with_capacity(records.len());
    for (i, rec) in records.iter().enumerate() {
        let Value::Object(obj) = rec else {
            errors.add(format!("lenders[{i}]: must be an object"));
            continue;
        };
        let mut r = Reader { obj, where_: format!("lenders[{i}]"), errors: &mut errors };
        let lender = read_lender(&mut r);
        let programs = match obj.get("programs") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if items.len() <= MAX_PROGRAMS_PER_LENDER => {
                let mut ps = Vec::with_capacity(items.len());
                for (j, p) in items.iter().enumerate() {
                    match p {
                        Value::Object(pobj) => {
                            let mut pr = Reader {
                                obj: pobj,
                                where_: format!("lenders[{i}].programs[{j}]"),
                                errors: &mut errors,
                            };
                            ps.push(read_program(&mut pr));
                        }
                        _ => errors.add(format!("lenders[{i}].programs[{j}]: must be an object")),
                    }
                }
                Some(ps)
            }
            Some(Value::Array(_)) => {
                errors.add(format!("lenders[{i}].programs: must have at most {MAX_PROGRAMS_PER_LENDER} items"));
                None
            }
            Some(_) => {
                errors.add(format!("lenders[{i}].programs: must be an array of objects"));
                None
            }
        };
        if let Some(mut l) = lender {
            l.programs = programs;
            out.push(l);
        }
    }
    check_unique_ids(&out, &mut errors);
    errors.into_result(out)
}

const LENDER_COLUMNS: &[&str] = &[
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
    "linkedin_url",
    "aliases",
    "domains",
    "square_logo_url",
    "created_at",
    "updated_at",
];
const PROGRAM_COLUMNS: &[&str] = &[
    "org_id",
    "id",
    "title",
    "loan_types",
    "recourse_types",
    "min_loan_amount",
    "max_loan_amount",
    "capital_source_type",
    "positions",
    "sponsor_states",
    "status",
];
const BASE_RATE_COLUMNS: &[&str] = &["key", "code", "name", "rate", "as_of"];
const ASSET_TYPE_COLUMNS: &[&str] = &["id", "description", "property_sub_types"];

/// Parses lenders from CSV (one row per lender, list cells with `|` between items) and,
/// optionally, their programs from a second CSV whose `org_id` column names the lender. With
/// a programs file, every lender of the first file gets exactly the programs listed for it.
pub fn parse_lenders_csv(lenders: &str, programs: Option<&str>) -> Result<Vec<NewLender>, LoadError> {
    let rows = csv_records(lenders, "lenders", LENDER_COLUMNS, &["id", "name"], MAX_LENDERS)?;
    let mut errors = LoadError::default();
    let mut out = Vec::with_capacity(rows.len());
    for (line, obj) in &rows {
        let mut r = Reader { obj, where_: format!("lenders line {line}"), errors: &mut errors };
        if let Some(l) = read_lender(&mut r) {
            out.push(l);
        }
    }
    if let Some(text) = programs {
        let rows = csv_records(text, "programs", PROGRAM_COLUMNS, &["org_id"], MAX_LENDERS * 4)?;
        for l in &mut out {
            l.programs = Some(Vec::new());
        }
        for (line, obj) in &rows {
            let mut r = Reader { obj, where_: format!("programs line {line}"), errors: &mut errors };
            let org = r.required_id("org_id");
            let p = read_program(&mut r);
            let Some(org) = org else { continue };
            match out.iter_mut().find(|l| l.id == org) {
                Some(l) => {
                    let ps = l.programs.get_or_insert_with(Vec::new);
                    if ps.len() >= MAX_PROGRAMS_PER_LENDER {
                        errors.add(format!(
                            "programs line {line}: lender {org} has more than {MAX_PROGRAMS_PER_LENDER} programs"
                        ));
                    } else {
                        ps.push(p);
                    }
                }
                None => errors.add(format!("programs line {line}.org_id: no lender {org} in the lenders file")),
            }
        }
    }
    check_unique_ids(&out, &mut errors);
    errors.into_result(out)
}

fn read_base_rate(r: &mut Reader<'_>, default_as_of: Option<&str>) -> Option<BaseRate> {
    let code = r.text("code", 100);
    let name = r.text("name", 255);
    let key = match r.text("key", 64) {
        Some(k) if k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') => Some(k),
        Some(_) => {
            r.problem("key", "must be lower-case letters, digits and '_'");
            None
        }
        None => code.as_deref().or(name.as_deref()).map(rate_key_from_label),
    };
    let rate = r.number("rate", -100.0, 100.0);
    let as_of = match r.date("as_of") {
        Some(d) => Some(d),
        None if r.get("as_of").is_some() => None,
        None => match default_as_of {
            Some(d) => Some(d.to_string()),
            None => {
                r.problem("as_of", "is required (per rate, or as a top-level \"as_of\")");
                None
            }
        },
    };
    if code.is_none() && name.is_none() {
        r.problem("code", "is required (or name)");
    }
    let (code, name) = match (code, name) {
        (Some(c), Some(n)) => (c, n),
        (Some(c), None) => (c.clone(), c),
        (None, Some(n)) => (n.clone(), n),
        (None, None) => return None,
    };
    match (key, as_of) {
        (Some(key), Some(as_of)) if !key.is_empty() => Some(BaseRate { code, name, rate, as_of, key }),
        _ => None,
    }
}

/// `Treasury 5-Yr` → `treasury_5_yr`: the key of a rate whose file gives none.
pub fn rate_key_from_label(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out.truncate(64);
    out
}

fn check_rates(rates: &[BaseRate], errors: &mut LoadError) {
    let (mut keys, mut codes) = (HashSet::new(), HashSet::new());
    for r in rates {
        if !keys.insert(r.key.as_str()) {
            errors.add(format!("base rate key '{}' appears more than once", r.key));
        }
        if !codes.insert(r.code.as_str()) {
            errors.add(format!("base rate code '{}' appears more than once", cut(&r.code)));
        }
    }
}

/// Parses base rates from JSON: an array of `{key?, code, name, rate, as_of}`, or an object
/// with it under `base_rates`, `rates` or `data` and an optional top-level `as_of` that rates
/// without one take.
pub fn parse_base_rates_json(text: &str) -> Result<Vec<BaseRate>, LoadError> {
    let value = parse_json(text)?;
    let records = json_records(&value, &["base_rates", "rates", "data"], MAX_BASE_RATES)?;
    let mut errors = LoadError::default();
    let default_as_of = match value.get("as_of") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match parse_date(s) {
            Some(d) => Some(d),
            None => {
                errors.add("as_of: must be a YYYY-MM-DD date".into());
                None
            }
        },
        Some(_) => {
            errors.add("as_of: must be a YYYY-MM-DD date".into());
            None
        }
    };
    let mut out = Vec::with_capacity(records.len());
    for (i, rec) in records.iter().enumerate() {
        let Value::Object(obj) = rec else {
            errors.add(format!("base_rates[{i}]: must be an object"));
            continue;
        };
        let mut r = Reader { obj, where_: format!("base_rates[{i}]"), errors: &mut errors };
        if let Some(rate) = read_base_rate(&mut r, default_as_of.as_deref()) {
            out.push(rate);
        }
    }
    check_rates(&out, &mut errors);
    errors.into_result(out)
}

/// Parses base rates from CSV with columns `key, code, name, rate, as_of`.
pub fn parse_base_rates_csv(text: &str) -> Result<Vec<BaseRate>, LoadError> {
    let rows = csv_records(text, "base rates", BASE_RATE_COLUMNS, &["as_of"], MAX_BASE_RATES)?;
    let mut errors = LoadError::default();
    let mut out = Vec::with_capacity(rows.len());
    for (line, obj) in &rows {
        let mut r = Reader { obj, where_: format!("line {line}"), errors: &mut errors };
        if let Some(rate) = read_base_rate(&mut r, None) {
            out.push(rate);
        }
    }
    check_rates(&out, &mut errors);
    errors.into_result(out)
}

fn read_asset_type(r: &mut Reader<'_>) -> Option<AssetType> {
    let id = r.required_id("id");
    let description = r.required_text("description", 255);
    let property_sub_types = match r.get("property_sub_types") {
        Some(Value::Array(_)) => r.list("property_sub_types", 50, 100).map(|v| v.join(", ")),
        _ => r.text("property_sub_types", 2_000),
    };
    Some(AssetType { id: id?, description: Some(description?), property_sub_types })
}

fn check_asset_types(types: &[AssetType], errors: &mut LoadError) {
    let mut ids = HashSet::new();
    for t in types {
        if !ids.insert(t.id) {
            errors.add(format!("asset type id {} appears more than once", t.id));
        }
    }
}

/// Parses asset types from JSON: an array of `{id, description, property_sub_types}` (the
/// sub-types as one string or an array of names), or an object with it under `asset_types`
/// or `data`.
pub fn parse_asset_types_json(text: &str) -> Result<Vec<AssetType>, LoadError> {
    let value = parse_json(text)?;
    let records = json_records(&value, &["asset_types", "data"], MAX_ASSET_TYPES)?;
    let mut errors = LoadError::default();
    let mut out = Vec::with_capacity(records.len());
    for (i, rec) in records.iter().enumerate() {
        let Value::Object(obj) = rec else {
            errors.add(format!("asset_types[{i}]: must be an object"));
            continue;
        };
        let mut r = Reader { obj, where_: format!("asset_types[{i}]"), errors: &mut errors };
        if let Some(t) = read_asset_type(&mut r) {
            out.push(t);
        }
    }
    check_asset_types(&out, &mut errors);
    errors.into_result(out)
}

/// Parses asset types from CSV with columns `id, description, property_sub_types`.
pub fn parse_asset_types_csv(text: &str) -> Result<Vec<AssetType>, LoadError> {
    let rows = csv_records(text, "asset types", ASSET_TYPE_COLUMNS, &["id", "description"], MAX_ASSET_TYPES)?;
    let mut errors = LoadError::default();
    let mut out = Vec::with_capacity(rows.len());
    for (line, obj) in &rows {
        let mut r = Reader { obj, where_: format!("line {line}"), errors: &mut errors };
        if let Some(t) = read_asset_type(&mut r) {
            out.push(t);
        }
    }
    check_asset_types(&out, &mut errors);
    errors.into_result(out)
}

// ---------------------------------------------------------------------------------------------
// CSV (RFC 4180)

/// Splits CSV text into records, each with the line it starts on. Fields are separated by
/// commas; a field in double quotes may hold commas, line breaks and `""` for a quote.
/// Lines that are entirely empty are skipped; a leading byte-order mark is ignored.
pub fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    // Whether the current field started with a quote (and so may only be followed by a
    // separator or the end of the record once the quote closes).
    let mut quoted = false;
    let mut line = 1usize;
    let mut record_line = 1usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !quoted => {
                in_quotes = true;
                quoted = true;
            }
            '"' => return Err(format!("line {line}: unexpected quote inside an unquoted field")),
            ',' => {
                record.push(std::mem::take(&mut field));
                quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                record.push(std::mem::take(&mut field));
                quoted = false;
                if !(record.len() == 1 && record[0].is_empty()) {
                    records.push((record_line, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                record_line = line;
            }
            _ if quoted => return Err(format!("line {line}: text after a closing quote")),
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("line {record_line}: quoted field is not closed"));
    }
    record.push(field);
    if !(record.len() == 1 && record[0].is_empty()) {
        records.push((record_line, record));
    }
    Ok(records)
}

/// CSV data rows as objects keyed by the header, each with the line it starts on.
type CsvRows = Vec<(usize, Map<String, Value>)>;

/// CSV rows as objects keyed by the header, each with its line. Unknown columns are refused
/// (a misspelt column would otherwise be silently dropped); empty cells are `null`.
fn csv_records(
    text: &str,
    what: &str,
    columns: &[&str],
    required: &[&str],
    max_rows: usize,
) -> Result<CsvRows, LoadError> {
    let mut rows = parse_csv(text).map_err(|e| LoadError::one(format!("{what} file: {e}")))?.into_iter();
    let Some((_, header)) = rows.next() else {
        return Err(LoadError::one(format!("{what} file is empty: a header row is required")));
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let mut errors = LoadError::default();
    for (i, h) in header.iter().enumerate() {
        if !columns.contains(&h.as_str()) {
            errors.add(format!("{what} file: unknown column '{}'; allowed: {}", cut(h), columns.join(", ")));
        } else if header[..i].contains(h) {
            errors.add(format!("{what} file: column '{h}' appears more than once"));
        }
    }
    for r in required {
        if !header.iter().any(|h| h == r) {
            errors.add(format!("{what} file: required column '{r}' is missing"));
        }
    }
    if errors.total > 0 {
        return Err(errors);
    }
    let mut out = Vec::new();
    for (line, cells) in rows {
        if out.len() >= max_rows {
            return Err(LoadError::one(format!("{what} file: too many rows (at most {max_rows})")));
        }
        if cells.len() != header.len() {
            errors.add(format!("{what} line {line}: {} cells, but the header has {}", cells.len(), header.len()));
            continue;
        }
        let obj: Map<String, Value> = header
            .iter()
            .zip(cells)
            .map(|(h, c)| (h.clone(), if c.trim().is_empty() { Value::Null } else { Value::String(c) }))
            .collect();
        out.push((line, obj));
    }
    errors.into_result(out)
}

// ---------------------------------------------------------------------------------------------
// The built-in data set

/// Date of the built-in base rates.
pub const BUILTIN_RATES_AS_OF: &str = "2026-03-13";

/// The benchmark rates levd ships with: key, display code, long name, value in percent.
/// The values are made up, but consistent with each other (Prime = Fed Funds upper bound + 3).
const BUILTIN_RATES: &[(&str, &str, &str, f64)] = &[
    ("sofr", "SOFR", "Secured Overnight Financing Rate", 3.62),
    ("sofr_m1", "SOFR 30-Day Avg", "30-Day Average SOFR", 3.64),
    ("sofr_m3", "SOFR 90-Day Avg", "90-Day Average SOFR", 3.69),
    ("sofr_m6", "SOFR 180-Day Avg", "180-Day Average SOFR", 3.78),
    ("term_sofr_m1", "Term SOFR 1-Mo", "One-Month Term SOFR", 3.66),
    ("term_sofr_m3", "Term SOFR 3-Mo", "Three-Month Term SOFR", 3.68),
    ("fed_funds", "Fed Funds", "Effective Federal Funds Rate", 3.63),
    ("prime_rate", "Prime Rate", "U.S. Prime Rate", 6.75),
    ("treasury_y1", "Treasury 1-Yr", "1-Year U.S. Treasury (constant maturity)", 3.58),
    ("treasury_y2", "Treasury 2-Yr", "2-Year U.S. Treasury (constant maturity)", 3.49),
    ("treasury_y3", "Treasury 3-Yr", "3-Year U.S. Treasury (constant maturity)", 3.52),
    ("treasury_y5", "Treasury 5-Yr", "5-Year U.S. Treasury (constant maturity)", 3.71),
    ("treasury_y7", "Treasury 7-Yr", "7-Year U.S. Treasury (constant maturity)", 3.90),
    ("treasury_y10", "Treasury 10-Yr", "10-Year U.S. Treasury (constant maturity)", 4.11),
    ("treasury_y30", "Treasury 30-Yr", "30-Year U.S. Treasury (constant maturity)", 4.69),
    ("swap_y5", "SOFR Swap 5-Yr", "5-Year SOFR Swap Rate", 3.45),
    ("swap_y10", "SOFR Swap 10-Yr", "10-Year SOFR Swap Rate", 3.72),
];

pub fn builtin_base_rates() -> Vec<BaseRate> {
    BUILTIN_RATES
        .iter()
        .map(|(key, code, name, rate)| BaseRate {
            code: (*code).to_string(),
            name: (*name).to_string(),
            rate: Some(*rate),
            as_of: BUILTIN_RATES_AS_OF.to_string(),
            key: (*key).to_string(),
        })
        .collect()
}

/// The asset-type catalogue: id, name, sub-types. Ids are stable (deal properties refer to
/// them).
const BUILTIN_ASSET_TYPES: &[(i64, &str, &str)] = &[
    (1, "Multifamily", "Garden, Mid-Rise, High-Rise, Affordable / LIHTC, Workforce Housing"),
    (2, "Office", "Central Business District, Suburban, Medical Office, Creative / Flex"),
    (3, "Retail", "Grocery-Anchored, Strip Center, Single-Tenant Net Lease, Regional Mall, Lifestyle Center"),
    (4, "Industrial", "Warehouse / Distribution, Flex, Manufacturing, Cold Storage, Industrial Outdoor Storage"),
    (5, "Hospitality", "Full-Service, Select-Service, Extended Stay, Resort, Limited-Service"),
    (6, "Mixed-Use", "Residential over Retail, Office / Retail, Live-Work"),
    (7, "Self Storage", "Climate-Controlled, Drive-Up, Boat & RV"),
    (8, "Senior Housing", "Independent Living, Assisted Living, Memory Care, Skilled Nursing, CCRC"),
    (9, "Healthcare", "Medical Office, Ambulatory Surgery, Behavioral Health, Hospital"),
    (10, "Student Housing", "Purpose-Built, Pedestrian-to-Campus, Drive-to-Campus"),
    (11, "Land", "Entitled, Unentitled, Infill Lots, Master-Planned Community"),
    (12, "Single-Family Rental", "Build-to-Rent, Scattered-Site Portfolio"),
    (13, "Manufactured Housing", "All-Age Community, 55+ Community, RV Park"),
    (14, "Data Center", "Hyperscale, Colocation, Powered Shell"),
    (15, "Life Science", "Lab / R&D, GMP Manufacturing"),
    (16, "Special Purpose", "Parking, Entertainment, Education, Marina"),
];

pub fn builtin_asset_types() -> Vec<AssetType> {
    BUILTIN_ASSET_TYPES
        .iter()
        .map(|(id, d, s)| AssetType {
            id: *id,
            description: Some((*d).to_string()),
            property_sub_types: Some((*s).to_string()),
        })
        .collect()
}

/// First lender id of the built-in directory (ids are organization ids).
pub const BUILTIN_FIRST_LENDER_ID: i64 = 7001;

/// SplitMix64: tiny, fast and fully determined by its seed, so every levd build ships the
/// same directory.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NationalBank,
    RegionalBank,
    CommunityBank,
    CreditUnion,
    DebtFund,
    LifeCompany,
    Cmbs,
    Agency,
    MortgageReit,
    PrivateLender,
}

/// How many lenders of each kind the built-in directory holds (300 in all).
const MIX: &[(Kind, usize)] = &[
    (Kind::NationalBank, 8),
    (Kind::RegionalBank, 42),
    (Kind::CommunityBank, 70),
    (Kind::CreditUnion, 30),
    (Kind::DebtFund, 60),
    (Kind::LifeCompany, 20),
    (Kind::Cmbs, 18),
    (Kind::Agency, 22),
    (Kind::MortgageReit, 12),
    (Kind::PrivateLender, 18),
];

/// Lending regions: how descriptions name them ("across …") and their states.
const REGIONS: &[(&str, &[&str])] = &[
    ("New England", &["CT", "ME", "MA", "NH", "RI", "VT"]),
    ("the Mid-Atlantic", &["DE", "DC", "MD", "NJ", "NY", "PA"]),
    ("the Southeast", &["AL", "FL", "GA", "KY", "MS", "NC", "SC", "TN", "VA", "WV"]),
    ("the Midwest", &["IL", "IN", "IA", "MI", "MN", "MO", "OH", "WI"]),
    ("the Great Plains", &["KS", "NE", "ND", "SD"]),
    ("the South Central states", &["AR", "LA", "OK", "TX"]),
    ("the Mountain West", &["AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY"]),
    ("the Pacific states", &["AK", "CA", "HI", "OR", "WA"]),
];

fn region_of(state: &str) -> (&'static str, &'static [&'static str]) {
    REGIONS.iter().find(|(_, states)| states.contains(&state)).copied().unwrap_or(REGIONS[0])
}

/// Headquarters: city, state, ZIP, and whether it is a financial centre (where funds, insurers
/// and conduits sit).
const CITIES: &[(&str, &str, &str, bool)] = &[
    ("Boston", "MA", "02110", true),
    ("Worcester", "MA", "01608", false),
    ("Springfield", "MA", "01103", false),
    ("Hartford", "CT", "06103", true),
    ("Greenwich", "CT", "06830", true),
    ("New Haven", "CT", "06510", false),
    ("Providence", "RI", "02903", false),
    ("Portland", "ME", "04101", false),
    ("Manchester", "NH", "03101", false),
    ("Burlington", "VT", "05401", false),
    ("New York", "NY", "10017", true),
    ("New York", "NY", "10022", true),
    ("Buffalo", "NY", "14202", false),
    ("Rochester", "NY", "14604", false),
    ("Albany", "NY", "12207", false),
    ("Philadelphia", "PA", "19103", true),
    ("Pittsburgh", "PA", "15222", false),
    ("Harrisburg", "PA", "17101", false),
    ("Newark", "NJ", "07102", false),
    ("Princeton", "NJ", "08540", false),
    ("Baltimore", "MD", "21202", false),
    ("Bethesda", "MD", "20814", true),
    ("Wilmington", "DE", "19801", false),
    ("Washington", "DC", "20006", true),
    ("Charlotte", "NC", "28202", true),
    ("Raleigh", "NC", "27601", false),
    ("Atlanta", "GA", "30303", true),
    ("Savannah", "GA", "31401", false),
    ("Miami", "FL", "33131", true),
    ("Tampa", "FL", "33602", false),
    ("Orlando", "FL", "32801", false),
    ("Jacksonville", "FL", "32202", false),
    ("Nashville", "TN", "37203", false),
    ("Memphis", "TN", "38103", false),
    ("Birmingham", "AL", "35203", false),
    ("Louisville", "KY", "40202", false),
    ("Richmond", "VA", "23219", false),
    ("Charleston", "SC", "29401", false),
    ("Jackson", "MS", "39201", false),
    ("Charleston", "WV", "25301", false),
    ("Chicago", "IL", "60603", true),
    ("Columbus", "OH", "43215", false),
    ("Cleveland", "OH", "44114", false),
    ("Cincinnati", "OH", "45202", false),
    ("Detroit", "MI", "48226", false),
    ("Grand Rapids", "MI", "49503", false),
    ("Indianapolis", "IN", "46204", false),
    ("Milwaukee", "WI", "53202", true),
    ("Madison", "WI", "53703", false),
    ("Minneapolis", "MN", "55402", true),
    ("St. Louis", "MO", "63101", false),
    ("Kansas City", "MO", "64105", false),
    ("Des Moines", "IA", "50309", true),
    ("Omaha", "NE", "68102", true),
    ("Wichita", "KS", "67202", false),
    ("Sioux Falls", "SD", "57104", false),
    ("Fargo", "ND", "58102", false),
    ("Dallas", "TX", "75201", true),
    ("Houston", "TX", "77002", true),
    ("Austin", "TX", "78701", false),
    ("San Antonio", "TX", "78205", false),
    ("Oklahoma City", "OK", "73102", false),
    ("Tulsa", "OK", "74103", false),
    ("Little Rock", "AR", "72201", false),
    ("New Orleans", "LA", "70130", false),
    ("Baton Rouge", "LA", "70801", false),
    ("Denver", "CO", "80202", true),
    ("Phoenix", "AZ", "85004", false),
    ("Scottsdale", "AZ", "85251", false),
    ("Salt Lake City", "UT", "84101", false),
    ("Boise", "ID", "83702", false),
    ("Las Vegas", "NV", "89101", false),
    ("Reno", "NV", "89501", false),
    ("Albuquerque", "NM", "87102", false),
    ("Billings", "MT", "59101", false),
    ("Cheyenne", "WY", "82001", false),
    ("Los Angeles", "CA", "90071", true),
    ("San Francisco", "CA", "94111", true),
    ("San Diego", "CA", "92101", false),
    ("Irvine", "CA", "92618", true),
    ("Newport Beach", "CA", "92660", true),
    ("Sacramento", "CA", "95814", false),
    ("Seattle", "WA", "98101", true),
    ("Spokane", "WA", "99201", false),
    ("Portland", "OR", "97204", false),
    ("Honolulu", "HI", "96813", false),
    ("Anchorage", "AK", "99501", false),
    ("San Juan", "PR", "00901", false),
];

/// Made-up place names are built from these halves ("Fernbrook", "Larchmere", …).
const PLACE_HEADS: &[&str] = &[
    "Alder", "Ash", "Birch", "Bramble", "Cedar", "Clover", "Copper", "Elk", "Fern", "Flint", "Glen", "Granite", "Hawk",
    "Heron", "Juniper", "Keel", "Kestrel", "Lantern", "Larch", "Laurel", "Linden", "Marsh", "Meadow", "Mill", "Oak",
    "Orchard", "Osprey", "Pine", "Prairie", "Quarry", "Raven", "Reed", "Rook", "Sage", "Shore", "Sparrow", "Spruce",
    "Tallow", "Thorn", "Tide", "Timber", "Wren",
];
const PLACE_TAILS: &[&str] = &[
    "brook", "crest", "dale", "field", "ford", "haven", "hurst", "land", "mere", "moor", "point", "ridge", "stead",
    "ton", "vale", "water", "wick", "wood",
];
const SURNAMES: &[&str] = &[
    "Ashcombe",
    "Bellamy",
    "Calloway",
    "Davenport",
    "Ellery",
    "Fairbourne",
    "Garrick",
    "Hadley",
    "Iverson",
    "Jessop",
    "Kingsford",
    "Lowell",
    "Marlow",
    "Norwood",
    "Oakes",
    "Pemberton",
    "Quill",
    "Radford",
    "Sayer",
    "Thackeray",
    "Underhill",
    "Vantner",
    "Whitcombe",
    "Yardley",
    "Winslow",
    "Crane",
    "Holloway",
    "Prescott",
    "Sinclair",
    "Talbot",
    "Ainsley",
    "Brennan",
    "Corwin",
    "Dunmore",
    "Everly",
    "Fenwick",
];
const NOUNS: &[&str] = &[
    "Harbor",
    "Summit",
    "Keystone",
    "Meridian",
    "Beacon",
    "Anchor",
    "Compass",
    "Lodestar",
    "Bastion",
    "Cornerstone",
    "Trestle",
    "Ironwood",
    "Northlight",
    "Waypoint",
    "Tidewater",
    "Bluestem",
    "Highline",
    "Fieldstone",
];

/// Asset-type names used in lender descriptions.
const FOCUS: &[&str] = &[
    "multifamily",
    "industrial",
    "retail",
    "office",
    "hospitality",
    "self storage",
    "senior housing",
    "student housing",
    "mixed-use",
    "manufactured housing",
    "build-to-rent",
    "medical office",
];

fn place(rng: &mut Rng) -> String {
    format!("{}{}", rng.pick(PLACE_HEADS), rng.pick(PLACE_TAILS))
}

fn lender_name(kind: Kind, rng: &mut Rng, city: &str) -> String {
    let p = place(rng);
    let s = *rng.pick(SURNAMES);
    let n = *rng.pick(NOUNS);
    match kind {
        Kind::NationalBank => match rng.below(3) {
            0 => format!("{p} National Bank"),
            1 => format!("{s} {n} Bank"),
            _ => format!("United {p} Bank"),
        },
        Kind::RegionalBank => match rng.below(4) {
            0 => format!("{p} Bank"),
            1 => format!("{p} Bank & Trust"),
            2 => format!("{n} {p} Bank"),
            _ => format!("{s} Bank"),
        },
        Kind::CommunityBank => match rng.below(5) {
            0 => format!("First {p} Bank"),
            1 => format!("{p} Savings Bank"),
            2 => format!("{p} Community Bank"),
            3 => format!("{city} {p} Bank"),
            _ => format!("{p} Federal Savings"),
        },
        Kind::CreditUnion => match rng.below(3) {
            0 => format!("{p} Federal Credit Union"),
            1 => format!("{p} Community Credit Union"),
            _ => format!("{city} {p} Credit Union"),
        },
        Kind::DebtFund => match rng.below(5) {
            0 => format!("{s} {n} Capital"),
            1 => format!("{p} Credit Partners"),
            2 => format!("{s} Real Estate Credit"),
            3 => format!("{n} Bridge Lending"),
            _ => format!("{p} Structured Finance"),
        },
        Kind::LifeCompany => match rng.below(3) {
            0 => format!("{s} Mutual Life"),
            1 => format!("{p} Life Insurance Company"),
            _ => format!("{s} Life & Annuity"),
        },
        Kind::Cmbs => match rng.below(3) {
            0 => format!("{s} Commercial Mortgage"),
            1 => format!("{p} Conduit Capital"),
            _ => format!("{n} Securitized Lending"),
        },
        Kind::Agency => match rng.below(3) {
            0 => format!("{s} Multifamily Finance"),
            1 => format!("{p} Agency Lending"),
            _ => format!("{s} {n} Housing Capital"),
        },
        Kind::MortgageReit => match rng.below(2) {
            0 => format!("{p} Realty Finance Trust"),
            _ => format!("{s} Mortgage Trust"),
        },
        Kind::PrivateLender => match rng.below(3) {
            0 => format!("{p} Private Lending"),
            1 => format!("{s} Asset-Based Lending"),
            _ => format!("{city} {n} Funding"),
        },
    }
}

/// Lower-case words joined by `-`: used for made-up web and mail domains.
fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// Words that describe the kind of firm rather than name it.
const GENERIC_WORDS: &[&str] = &[
    "Bank",
    "Trust",
    "&",
    "Savings",
    "Community",
    "Federal",
    "Credit",
    "Union",
    "Capital",
    "Partners",
    "Lending",
    "Finance",
    "Mutual",
    "Life",
    "Insurance",
    "Company",
    "Annuity",
    "Commercial",
    "Mortgage",
    "Conduit",
    "National",
    "Real",
    "Estate",
    "Structured",
    "Securitized",
    "Agency",
    "Multifamily",
    "Housing",
    "Realty",
    "Private",
    "Funding",
    "Asset-Based",
    "Bridge",
    "First",
    "United",
];

fn aliases_for(name: &str, rng: &mut Rng) -> Vec<String> {
    let words: Vec<&str> = name.split(' ').collect();
    let mut out = Vec::new();
    let short: Vec<&str> = words.iter().copied().filter(|w| !GENERIC_WORDS.contains(w)).collect();
    if !short.is_empty() && short.len() < words.len() && rng.chance(70) {
        out.push(short.join(" "));
    }
    let initials: String =
        words.iter().filter(|w| **w != "&").filter_map(|w| w.chars().next()).filter(char::is_ascii_uppercase).collect();
    if initials.len() >= 3 && rng.chance(50) {
        out.push(initials);
    }
    out
}

struct ProgramTemplate {
    title: &'static str,
    loan_types: &'static [&'static str],
    recourse: &'static [&'static str],
    positions: &'static [&'static str],
    /// Candidate minimum and maximum loan amounts, in dollars.
    mins: &'static [f64],
    maxes: &'static [f64],
    /// Percent chance that a lender of the kind offers it (the first template is always
    /// offered).
    chance: u64,
}

const NR: &[&str] = &["non_recourse"];
const PR: &[&str] = &["partial_recourse", "full_recourse"];
const FR: &[&str] = &["full_recourse"];
const SENIOR: &[&str] = &["senior"];

const fn t(
    title: &'static str,
    loan_types: &'static [&'static str],
    recourse: &'static [&'static str],
    positions: &'static [&'static str],
    mins: &'static [f64],
    maxes: &'static [f64],
    chance: u64,
) -> ProgramTemplate {
    ProgramTemplate { title, loan_types, recourse, positions, mins, maxes, chance }
}

const NATIONAL_BANK: &[ProgramTemplate] = &[
    t(
        "CRE Term Loan",
        &["permanent"],
        &["non_recourse", "partial_recourse"],
        SENIOR,
        &[5e6, 10e6],
        &[150e6, 250e6],
        100,
    ),
    t("Construction Lending", &["construction"], PR, SENIOR, &[10e6, 15e6], &[200e6, 300e6], 85),
    t("Bridge & Repositioning", &["light_bridge"], &["partial_recourse"], SENIOR, &[10e6], &[100e6, 150e6], 60),
];
const REGIONAL_BANK: &[ProgramTemplate] = &[
    t("Commercial Real Estate Term Loan", &["permanent"], PR, SENIOR, &[1e6, 2e6], &[35e6, 50e6, 75e6], 100),
    t("Construction Loan", &["construction"], PR, SENIOR, &[2e6, 3e6], &[40e6, 60e6], 75),
    t("Light Bridge Loan", &["light_bridge"], PR, SENIOR, &[2e6], &[25e6, 40e6], 45),
];
const COMMUNITY_BANK: &[ProgramTemplate] = &[
    t("Investor Real Estate Loan", &["permanent"], FR, SENIOR, &[250e3, 500e3], &[7.5e6, 10e6, 15e6], 100),
    t("Construction & Land Development", &["construction", "land"], FR, SENIOR, &[250e3, 500e3], &[5e6, 8e6], 60),
    t("Owner-Occupied CRE", &["permanent"], FR, SENIOR, &[100e3, 250e3], &[5e6], 50),
];
const CREDIT_UNION: &[ProgramTemplate] = &[
    t("Member Business CRE Loan", &["permanent"], FR, SENIOR, &[100e3, 250e3], &[3e6, 5e6], 100),
    t("Small-Balance Construction", &["construction"], FR, SENIOR, &[250e3], &[2.5e6, 4e6], 35),
];
const DEBT_FUND: &[ProgramTemplate] = &[
    t(
        "Transitional Bridge",
        &["heavy_bridge", "light_bridge"],
        NR,
        SENIOR,
        &[5e6, 10e6, 15e6],
        &[75e6, 150e6, 250e6],
        100,
    ),
    t(
        "Mezzanine & Preferred Equity",
        &["heavy_bridge", "light_bridge", "permanent"],
        NR,
        &["mezzanine", "preferred_equity"],
        &[3e6, 5e6],
        &[50e6, 75e6],
        50,
    ),
    t(
        "Construction Lending",
        &["construction"],
        &["non_recourse", "partial_recourse"],
        SENIOR,
        &[10e6, 20e6],
        &[150e6, 250e6],
        45,
    ),
    t("Land & Predevelopment", &["land", "predevelopment"], PR, SENIOR, &[3e6, 5e6], &[30e6, 50e6], 25),
];
const LIFE_COMPANY: &[ProgramTemplate] = &[
    t("Fixed-Rate Permanent", &["permanent"], NR, SENIOR, &[5e6, 10e6], &[100e6, 150e6, 250e6], 100),
    t("Forward Commitment", &["permanent", "construction"], NR, SENIOR, &[10e6], &[75e6, 100e6], 40),
    t("Credit Tenant Lease Financing", &["permanent"], NR, SENIOR, &[5e6], &[60e6], 30),
];
const CMBS: &[ProgramTemplate] = &[
    t("Conduit Fixed-Rate", &["permanent"], NR, SENIOR, &[2e6, 3e6], &[75e6, 100e6], 100),
    t("Single Asset / Single Borrower", &["permanent"], NR, &["senior", "b_note"], &[100e6], &[750e6, 1e9], 40),
    t("Floating-Rate Bridge for Securitization", &["light_bridge"], NR, SENIOR, &[10e6], &[100e6], 30),
];
const AGENCY: &[ProgramTemplate] = &[
    t("Fannie Mae DUS Multifamily", &["permanent"], NR, SENIOR, &[3e6, 5e6], &[150e6, 250e6], 100),
    t("Freddie Mac Small Balance", &["permanent"], NR, SENIOR, &[1e6], &[7.5e6], 70),
    t("FHA 223(f) Refinance & Acquisition", &["permanent"], NR, SENIOR, &[2e6], &[100e6, 150e6], 60),
    t("FHA 221(d)(4) Construction", &["construction"], NR, SENIOR, &[5e6], &[100e6, 150e6], 45),
];
const MORTGAGE_REIT: &[ProgramTemplate] = &[
    t("Floating-Rate Bridge", &["light_bridge", "heavy_bridge"], NR, SENIOR, &[15e6, 20e6], &[200e6, 300e6], 100),
    t("Construction Mezzanine", &["construction"], NR, &["mezzanine"], &[10e6], &[75e6], 45),
];
const PRIVATE_LENDER: &[ProgramTemplate] = &[
    t("Fix-and-Flip Bridge", &["heavy_bridge"], FR, SENIOR, &[250e3, 500e3], &[5e6, 10e6], 100),
    t("Land Acquisition", &["land", "predevelopment"], FR, SENIOR, &[500e3], &[7.5e6, 10e6], 55),
    t("Rescue Capital", &["heavy_bridge", "light_bridge"], PR, &["senior", "mezzanine"], &[1e6], &[15e6], 35),
];

struct KindProfile {
    lender_type: &'static [&'static str],
    category: &'static str,
    capital_source: &'static str,
    programs: &'static [ProgramTemplate],
    /// Headquarters in a financial centre.
    big_city: bool,
    /// Percent chance of a nationwide footprint (else regional or local).
    national: u64,
}

fn profile(kind: Kind) -> KindProfile {
    let p = |lender_type, category, capital_source, programs, big_city, national| KindProfile {
        lender_type,
        category,
        capital_source,
        programs,
        big_city,
        national,
    };
    match kind {
        Kind::NationalBank => p(&["bank"][..], "National Bank", "balance_sheet", NATIONAL_BANK, true, 100),
        Kind::RegionalBank => p(&["bank"][..], "Regional Bank", "balance_sheet", REGIONAL_BANK, false, 0),
        Kind::CommunityBank => p(&["bank"][..], "Community Bank", "balance_sheet", COMMUNITY_BANK, false, 0),
        Kind::CreditUnion => p(&["credit_union"][..], "Credit Union", "balance_sheet", CREDIT_UNION, false, 0),
        Kind::DebtFund => p(&["debt_fund"][..], "Debt Fund", "private_fund", DEBT_FUND, true, 70),
        Kind::LifeCompany => p(&["life_company"][..], "Life Insurance Company", "insurance", LIFE_COMPANY, true, 100),
        Kind::Cmbs => p(&["cmbs"][..], "CMBS Conduit", "cmbs", CMBS, true, 100),
        Kind::Agency => p(&["agency"][..], "Agency Lender", "agency", AGENCY, true, 100),
        Kind::MortgageReit => p(&["mortgage_reit", "debt_fund"][..], "Mortgage REIT", "reit", MORTGAGE_REIT, true, 100),
        Kind::PrivateLender => {
            p(&["private_lender"][..], "Private Lender", "private_capital", PRIVATE_LENDER, false, 0)
        }
    }
}

fn about(kind: Kind, city: &str, state: &str, region: &str, national: bool, focus: &str) -> String {
    let st = state_name(state);
    let reach = if national { "nationwide".to_string() } else { format!("across {region}") };
    let first = match kind {
        Kind::NationalBank => format!(
            "Commercial bank headquartered in {city}, {st}, with a real estate finance group lending {reach} on stabilized and transitional properties."
        ),
        Kind::RegionalBank => format!(
            "Regional bank based in {city}, {st}, serving commercial real estate investors and developers {reach}."
        ),
        Kind::CommunityBank => format!(
            "Community bank in {city}, {st}, making relationship-based investor and owner-occupied real estate loans close to home."
        ),
        Kind::CreditUnion => format!(
            "Member-owned credit union in {city}, {st}, with a member business lending program for small-balance commercial real estate."
        ),
        Kind::DebtFund => format!(
            "Real estate credit manager based in {city}, {st}, providing non-recourse bridge, construction and subordinate financing {reach}."
        ),
        Kind::LifeCompany => format!(
            "Insurance company general-account lender in {city}, {st}, offering low-leverage, long-term fixed-rate loans on high-quality stabilized assets {reach}."
        ),
        Kind::Cmbs => format!(
            "Conduit lender in {city}, {st}, originating fixed-rate loans for securitization on stabilized commercial properties {reach}."
        ),
        Kind::Agency => format!(
            "Multifamily finance company in {city}, {st}, originating Fannie Mae, Freddie Mac and FHA-insured loans for apartment, senior and student housing owners {reach}."
        ),
        Kind::MortgageReit => format!(
            "Commercial mortgage REIT based in {city}, {st}, lending floating-rate bridge loans on transitional assets {reach}."
        ),
        Kind::PrivateLender => format!(
            "Private lender in {city}, {st}, making short-term, asset-based loans to investors and developers {reach}."
        ),
    };
    format!("{first} Preferred asset types: {focus}.")
}

/// Rounds a loan amount to a figure a lender would publish.
fn round_amount(x: f64) -> f64 {
    let step = if x < 1e6 {
        50e3
    } else if x < 10e6 {
        250e3
    } else {
        1e6
    };
    (x / step).round() * step
}

fn timestamp_from(day: time::Date, seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    format!("{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}Z", day.year(), u8::from(day.month()), day.day())
}

/// The built-in lender directory: 300 made-up lenders of every kind (banks, credit unions,
/// debt funds, life companies, CMBS conduits, agency lenders, mortgage REITs, private lenders)
/// with their programs. Deterministic: the same on every build and every node.
pub fn builtin_lenders() -> Vec<NewLender> {
    let mut rng = Rng(0x4C45_5644_0001_2026);
    let mut kinds: Vec<Kind> = MIX.iter().flat_map(|(k, n)| std::iter::repeat_n(*k, *n)).collect();
    // Fisher–Yates, so ids do not run in blocks of one kind.
    for i in (1..kinds.len()).rev() {
        let j = rng.below(i + 1);
        kinds.swap(i, j);
    }
    let big: Vec<&(&str, &str, &str, bool)> = CITIES.iter().filter(|c| c.3).collect();
    let first_day = time::macros::date!(2021 - 01 - 04);
    let last_day = time::macros::date!(2026 - 02 - 27);
    let span = (last_day - first_day).whole_days().max(1) as usize;
    let all_states: Vec<String> = US_STATES.iter().map(|(c, _)| (*c).to_string()).filter(|c| c != "PR").collect();

    let mut names: HashSet<String> = HashSet::new();
    let mut program_id = 0i64;
    let mut out = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.into_iter().enumerate() {
        let prof = profile(kind);
        let (city, state, zip, _) = if prof.big_city { **rng.pick(&big) } else { *rng.pick(CITIES) };
        let mut name = lender_name(kind, &mut rng, city);
        for _ in 0..20 {
            if !names.contains(&name) {
                break;
            }
            name = lender_name(kind, &mut rng, city);
        }
        if names.contains(&name) {
            name = format!("{name} of {city}");
        }
        names.insert(name.clone());
        let id = BUILTIN_FIRST_LENDER_ID + i as i64;
        let s = slug(&name);
        let (region, region_states) = region_of(state);
        let national = rng.chance(prof.national);
        let footprint: Vec<String> = if national {
            all_states.clone()
        } else if matches!(kind, Kind::CommunityBank | Kind::CreditUnion) {
            let mut f = vec![state.to_string()];
            for _ in 0..rng.below(3) {
                let other = *rng.pick(region_states);
                if !f.iter().any(|x| x == other) {
                    f.push(other.to_string());
                }
            }
            f
        } else {
            let mut f: Vec<String> = region_states.iter().map(|s| (*s).to_string()).collect();
            if !f.iter().any(|x| x == state) {
                f.push(state.to_string());
            }
            f
        };
        let mut focus: Vec<&str> = Vec::new();
        for _ in 0..(2 + rng.below(3)) {
            let f = *rng.pick(FOCUS);
            if !focus.contains(&f) {
                focus.push(f);
            }
        }
        let focus_text = match focus.as_slice() {
            [one] => (*one).to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
            [] => "multifamily".to_string(),
        };

        let mut programs = Vec::new();
        for (n, tpl) in prof.programs.iter().enumerate() {
            if n > 0 && !rng.chance(tpl.chance) {
                continue;
            }
            program_id += 1;
            // Lenders of one kind differ a little in size: scale the published bounds.
            let scale = 0.8 + (rng.below(5) as f64) * 0.1;
            let min = round_amount(rng.pick(tpl.mins) * scale);
            let max = round_amount(rng.pick(tpl.maxes) * scale).max(min);
            let recourse_n = 1 + rng.below(tpl.recourse.len());
            programs.push(NewProgram {
                id: Some(program_id),
                title: Some(tpl.title.to_string()),
                loan_types: Some(tpl.loan_types.iter().map(|s| (*s).to_string()).collect()),
                recourse_types: Some(tpl.recourse[..recourse_n].iter().map(|s| (*s).to_string()).collect()),
                min_loan_amount: Some(min),
                max_loan_amount: Some(max),
                capital_source_type: Some(prof.capital_source.to_string()),
                positions: Some(tpl.positions.iter().map(|s| (*s).to_string()).collect()),
                sponsor_states: Some(footprint.clone()),
                status: Some(if rng.chance(92) { "active" } else { "inactive" }.to_string()),
            });
        }

        let created = first_day + time::Duration::days(rng.below(span * 3 / 4) as i64);
        let remaining = (last_day - created).whole_days().max(1) as usize;
        let updated = created + time::Duration::days(rng.below(remaining) as i64);
        let has_logo = rng.chance(75);
        let logo = |file: &str| format!("https://assets.levd.example/lenders/{id}/{file}");
        let street_no = 10 + rng.below(2_490);
        let street = format!(
            "{street_no} {} {}",
            rng.pick(PLACE_HEADS),
            rng.pick(&["Street", "Avenue", "Boulevard", "Plaza", "Way", "Place", "Drive"])
        );
        let suite = if rng.chance(60) { format!(", Suite {}", 100 + rng.below(30) * 100) } else { String::new() };
        let mut lender_type: Vec<String> = prof.lender_type.iter().map(|s| (*s).to_string()).collect();
        if matches!(kind, Kind::RegionalBank | Kind::NationalBank) && rng.chance(15) {
            lender_type.push("agency".to_string());
        }
        let created_at = timestamp_from(created, rng.next() % 86_400);
        let updated_at = timestamp_from(updated, rng.next() % 86_400).max(created_at.clone());
        out.push(NewLender {
            id,
            website: Some(format!("https://www.{s}.example")),
            logo_url: has_logo.then(|| logo("logo.png")),
            address: Some(format!("{street}{suite}")),
            city: Some(city.to_string()),
            state: Some(state.to_string()),
            zip: Some(zip.to_string()),
            about: Some(about(kind, city, state, region, national, &focus_text)),
            lender_type: Some(lender_type),
            category: Some(prof.category.to_string()),
            linkedin_url: rng.chance(85).then(|| format!("https://www.linkedin.com/company/{s}-example")),
            aliases: Some(aliases_for(&name, &mut rng)),
            domains: Some(vec![format!("{s}.example")]),
            square_logo_url: (has_logo && rng.chance(80)).then(|| logo("logo-square.png")),
            created_at: Some(created_at),
            updated_at: Some(updated_at),
            programs: Some(programs),
            name,
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn builtin_directory_is_deterministic_and_varied() {
        let a = builtin_lenders();
        assert_eq!(a, builtin_lenders());
        assert_eq!(a.len(), 300);
        let names: HashSet<&str> = a.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names.len(), a.len(), "names are unique");
        for kind in ["bank", "credit_union", "debt_fund", "life_company", "cmbs", "agency", "mortgage_reit"] {
            assert!(a.iter().any(|l| l.lender_type.as_ref().unwrap().iter().any(|t| t == kind)), "{kind}");
        }
        let programs: usize = a.iter().map(|l| l.programs.as_ref().unwrap().len()).sum();
        assert!(programs > 500, "{programs}");
        for l in &a {
            assert!(l.created_at <= l.updated_at);
            assert!(normalize_state(l.state.as_deref().unwrap()).is_some());
            for p in l.programs.as_ref().unwrap() {
                assert!(p.min_loan_amount <= p.max_loan_amount, "{p:?}");
                assert!(p.loan_types.as_ref().unwrap().iter().all(|t| LOAN_TYPES.contains(&t.as_str())));
            }
        }
        let states: HashSet<&str> = a.iter().filter_map(|l| l.state.as_deref()).collect();
        assert!(states.len() > 35, "{}", states.len());
    }

    #[test]
    fn builtin_directory_passes_its_own_validation() {
        let a = builtin_lenders();
        let json = serde_json::to_string(&serde_json::json!({ "lenders": a })).unwrap();
        let back = parse_lenders_json(&json).unwrap();
        assert_eq!(back, a);
        let rates = builtin_base_rates();
        let back = parse_base_rates_json(&serde_json::to_string(&rates).unwrap()).unwrap();
        assert_eq!(back, rates);
        let types = builtin_asset_types();
        assert_eq!(parse_asset_types_json(&serde_json::to_string(&types).unwrap()).unwrap(), types);
    }

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
    fn csv_reader_handles_quotes_and_line_breaks() {
        let text = "\u{feff}a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n\n2,\"multi\nline\",\n";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], (2, vec!["1".into(), "x, y".into(), "say \"hi\"".into()]));
        assert_eq!(rows[2], (4, vec!["2".into(), "multi\nline".into(), String::new()]));
        assert!(parse_csv("a,\"b").is_err());
        assert!(parse_csv("a,b\"c").is_err());
        assert!(parse_csv("\"a\"b,c").is_err());
    }

    #[test]
    fn lender_csv_with_programs() {
        let lenders =
            "id,name,state,lender_type,aliases\n9001,Test Bank,ny,bank|agency,TB\n9002,Other Fund,Texas,debt_fund,\n";
        let programs = "org_id,title,loan_types,min_loan_amount,max_loan_amount,sponsor_states,status\n\
                        9001,Bridge,light_bridge|heavy_bridge,1000000,5000000,NY|nj,active\n";
        let out = parse_lenders_csv(lenders, Some(programs)).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].state.as_deref(), Some("NY"));
        assert_eq!(out[0].lender_type.as_deref().unwrap(), ["bank", "agency"]);
        let p = &out[0].programs.as_ref().unwrap()[0];
        assert_eq!(p.sponsor_states.as_deref().unwrap(), ["NY", "NJ"]);
        assert_eq!(p.max_loan_amount, Some(5e6));
        assert_eq!(out[1].state.as_deref(), Some("TX"));
        assert_eq!(out[1].programs.as_deref(), Some(&[][..]));
    }

    #[test]
    fn bad_files_name_every_problem() {
        let e = parse_lenders_json(
            r#"[{"id": 1, "name": "A", "state": "ZZ", "website": "ftp://x", "programs": [{"loan_types": ["bridge"], "min_loan_amount": 5, "max_loan_amount": 1}]},
               {"name": "no id"}, {"id": 1, "name": "dup"}, 7]"#,
        )
        .unwrap_err();
        let text = e.to_string();
        for needle in [
            "lenders[0].state",
            "lenders[0].website",
            "lenders[0].programs[0].loan_types",
            "lenders[0].programs[0].min_loan_amount",
            "lenders[1].id: is required",
            "lender id 1 appears more than once",
            "lenders[3]: must be an object",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert!(parse_lenders_json("{").unwrap_err().to_string().contains("not valid JSON"));
        assert!(parse_lenders_json("{\"x\": []}").is_err());
        let e = parse_lenders_csv("id,name,colour\n1,A,red\n", None).unwrap_err();
        assert!(e.to_string().contains("unknown column 'colour'"), "{e}");
        let e = parse_lenders_csv("id,name\n1,A,extra\n", None).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse_lenders_csv("id,name\n1,A\n", Some("org_id,title\n2,X\n")).unwrap_err();
        assert!(e.to_string().contains("no lender 2"), "{e}");
    }

    #[test]
    fn problem_lists_are_bounded() {
        let many: Vec<Value> = (0..100).map(|_| serde_json::json!({"name": "x"})).collect();
        let e = parse_lenders_json(&Value::Array(many).to_string()).unwrap_err();
        assert_eq!(e.problems.len(), MAX_REPORTED_PROBLEMS);
        assert_eq!(e.total, 100);
        assert!(e.to_string().ends_with("(and 80 more problems)"));
    }

    #[test]
    fn base_rate_files() {
        let r = parse_base_rates_json(
            r#"{"as_of": "2026-04-01", "rates": [{"code": "Treasury 5-Yr", "name": "5-Year Treasury", "rate": 3.9},
                {"key": "prime_rate", "code": "Prime Rate", "rate": null, "as_of": "2026-03-31T12:00:00Z"}]}"#,
        )
        .unwrap();
        assert_eq!(r[0].key, "treasury_5_yr");
        assert_eq!(r[0].as_of, "2026-04-01");
        assert_eq!(r[1].name, "Prime Rate");
        assert_eq!(r[1].rate, None);
        assert_eq!(r[1].as_of, "2026-03-31");
        let e = parse_base_rates_json(r#"[{"code": "X", "rate": 1}]"#).unwrap_err();
        assert!(e.to_string().contains("as_of: is required"), "{e}");
        let e = parse_base_rates_json(
            r#"[{"code": "X", "rate": "high", "as_of": "2026-01-01"}, {"code": "X", "as_of": "2026-01-01"}]"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("rate: must be a number"), "{e}");
        assert!(e.to_string().contains("appears more than once"), "{e}");
        let csv = parse_base_rates_csv("key,code,name,rate,as_of\nsofr,SOFR,Overnight SOFR,3.6,2026-03-02\n").unwrap();
        assert_eq!(csv[0].rate, Some(3.6));
    }

    #[test]
    fn asset_type_files() {
        let t = parse_asset_types_json(
            r#"[{"id": 1, "description": "Multifamily", "property_sub_types": ["Garden", "High-Rise"]}]"#,
        )
        .unwrap();
        assert_eq!(t[0].property_sub_types.as_deref(), Some("Garden, High-Rise"));
        assert!(parse_asset_types_json(r#"[{"id": 1}]"#).is_err());
        assert!(parse_asset_types_csv("id,description\n1,A\n1,B\n").is_err());
    }

    #[test]
    fn states_normalise() {
        assert_eq!(normalize_state(" ma "), Some("MA"));
        assert_eq!(normalize_state("district of columbia"), Some("DC"));
        assert_eq!(normalize_state("M"), None);
        assert_eq!(US_STATES.len(), 52);
    }
}
