//! The files `levd admin directory` loads (JSON or CSV): their validation into lenders,
//! programs, base rates and asset types, with every problem named by record and field.
use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::deal::LOAN_TYPES;
use crate::time_fmt::{parse_date, parse_timestamp};

use super::{AssetType, BaseRate, US_STATES, csv_records, normalize_state};

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
    pub(super) fn one(message: impl Into<String>) -> LoadError {
        LoadError { problems: vec![message.into()], total: 1 }
    }
    pub(super) fn add(&mut self, message: String) {
        self.total += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(message);
        }
    }
    pub(super) fn into_result<T>(self, value: T) -> Result<T, LoadError> {
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
pub(super) fn cut(s: &str) -> String {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
}
