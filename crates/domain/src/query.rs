//! List-query parsing: `limit`, `cursor`/`offset`, `sort`, `fields`, `include`, `search` and
//! `filter[...]`, checked against what one list endpoint accepts ([`ListSpec`]).
//!
//! Bad syntax (undecodable query, repeated parameter, malformed filter brackets, pagination
//! styles mixed, undecodable cursor) is a `400`; a well-formed parameter whose content breaks a
//! rule is a `422` naming the parameter in `details.fields` and, where there is a closed set of
//! names, listing it in `details.allowed` (`docs/api.md#validation`, `docs/api.md#lists`).
use std::collections::HashSet;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::error::{ApiError, ErrorKind};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

const MAX_SEARCH_CHARS: usize = 200;
const MAX_TEXT_FILTER_CHARS: usize = 255;
/// Real cursors are about 20 characters; refusing long ones early bounds the work a caller can
/// make us do on a token we will reject anyway.
const MAX_CURSOR_LEN: usize = 128;
/// Names echoed back in messages are cut so a huge parameter cannot bloat the error body.
const MAX_ECHO_CHARS: usize = 64;
const RANGE_OPERATORS: [&str; 4] = ["gte", "lte", "gt", "lt"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Gte,
    Lte,
    Gt,
    Lt,
}

impl FilterOp {
    fn from_segment(segment: &str) -> Option<FilterOp> {
        match segment {
            "gte" => Some(FilterOp::Gte),
            "lte" => Some(FilterOp::Lte),
            "gt" => Some(FilterOp::Gt),
            "lt" => Some(FilterOp::Lt),
            _ => None,
        }
    }
}

/// What values a filter takes, and so which operators make sense for it.
#[derive(Debug, Clone, Copy)]
pub enum FilterKind {
    /// Exact match against one of these lower-case wire values.
    Enum(&'static [&'static str]),
    Bool,
    Number,
    /// Range operators only; values are normalised to UTC.
    DateTime,
    Text,
}

#[derive(Debug, Clone, Copy)]
pub struct FilterSpec {
    pub name: &'static str,
    pub kind: FilterKind,
}

/// Everything one list endpoint accepts.
#[derive(Debug, Clone, Copy)]
pub struct ListSpec {
    pub filters: &'static [FilterSpec],
    pub sorts: &'static [&'static str],
    pub fields: &'static [&'static str],
    pub includes: &'static [&'static str],
    pub search: bool,
    pub cursor: bool,
    pub offset: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Text(String),
    Bool(bool),
    Number(f64),
    /// Always `YYYY-MM-DDTHH:MM:SSZ`, so stored timestamps compare as strings.
    DateTime(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: &'static str,
    pub op: FilterOp,
    pub value: FilterValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: &'static str,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// Keyset on `id` ascending; `after_id` is `None` on a first page and `raw` echoes the
    /// token as the client sent it.
    Cursor {
        after_id: Option<i64>,
        raw: Option<String>,
    },
    Offset {
        offset: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub limit: u32,
    pub paging: Paging,
    /// Empty when the client gave no `sort` (default order: `id` ascending).
    pub sort: Vec<SortKey>,
    /// In order of appearance in the query string.
    pub filters: Vec<Filter>,
    /// `None` means every field; otherwise `id` comes first.
    pub fields: Option<Vec<&'static str>>,
    pub includes: Vec<&'static str>,
    pub search: Option<String>,
}

impl ListQuery {
    /// Parses the raw query string (without `?`) of a list request against `spec`.
    pub fn parse(raw_query: Option<&str>, spec: &ListSpec) -> Result<ListQuery, ApiError> {
        let pairs = match raw_query {
            Some(q) => parse_pairs(q)?,
            None => Vec::new(),
        };
        RawParams::collect(pairs, spec)?.into_query(spec)
    }
}

/// Base64 (standard alphabet, padded) of `{"id":N}`: the documented token shape, a keyset
/// position on `id`. Such tokens only ever contain `[A-Za-z0-9=]`: every input byte is ASCII
/// and none is `>`, `?`, `~` or DEL, the only bytes that can yield `+` or `/`, so a token
/// needs no escaping in a URL.
pub fn encode_cursor(last_id: i64) -> String {
    STANDARD.encode(format!("{{\"id\":{last_id}}}"))
}

/// Decoding accepts missing padding because clients and proxies strip it.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Inverse of [`encode_cursor`]; `None` for anything that is not such a token with `id ≥ 0`.
pub fn decode_cursor(token: &str) -> Option<i64> {
    if token.is_empty() || token.len() > MAX_CURSOR_LEN {
        return None;
    }
    // Clients that re-encode tokens may use the URL-safe alphabet; mapping it onto the standard
    // one accepts both spellings.
    let normalized: String = token
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    let bytes = LENIENT_BASE64.decode(normalized).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    let id = object.get("id")?.as_i64()?;
    (id >= 0).then_some(id)
}

/// Splits an `application/x-www-form-urlencoded` string into decoded pairs, in order.
/// A segment without `=` has an empty value; empty segments (`a=1&&b=2`) are skipped.
pub fn parse_pairs(raw_query: &str) -> Result<Vec<(String, String)>, ApiError> {
    raw_query
        .split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
            let (key, value) = (form_decode(key)?, form_decode(value)?);
            // Text PostgreSQL cannot store is refused here, where every query string is read,
            // so no parameter (filter, search, sort, cursor) can carry it further.
            if !crate::input::storable(&key) || !crate::input::storable(&value) {
                let name = key.replace('\0', "\u{FFFD}");
                return Err(ApiError::invalid_field(&name, crate::input::NUL_PROBLEM));
            }
            Ok((key, value))
        })
        .collect()
}

fn form_decode(encoded: &str) -> Result<String, ApiError> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let high = bytes.get(i + 1).and_then(|b| hex_digit(*b));
                let low = bytes.get(i + 2).and_then(|b| hex_digit(*b));
                match (high, low) {
                    (Some(h), Some(l)) => out.push((h << 4) | l),
                    // Passing a stray '%' through (as browsers do) would silently change what
                    // the client meant; `docs/api.md#validation` makes bad query syntax a 400.
                    _ => {
                        return Err(ApiError::bad_request("Malformed percent-encoding in query string"));
                    }
                }
                i += 3;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("Query string is not valid UTF-8 after percent-decoding"))
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One `filter[...]` parameter before its content is checked.
struct RawFilter {
    param: String,
    name: String,
    op: Option<String>,
    value: String,
}

/// The recognised parameters as sent; a first pass so every syntax error (400) is reported
/// before any content error (422).
#[derive(Default)]
struct RawParams {
    limit: Option<String>,
    cursor: Option<String>,
    offset: Option<String>,
    sort: Option<String>,
    fields: Option<String>,
    include: Option<String>,
    search: Option<String>,
    filters: Vec<RawFilter>,
}

impl RawParams {
    fn collect(pairs: Vec<(String, String)>, spec: &ListSpec) -> Result<RawParams, ApiError> {
        let mut params = RawParams::default();
        let mut seen_filters: HashSet<String> = HashSet::new();
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "limit" => &mut params.limit,
                "cursor" => &mut params.cursor,
                "offset" if spec.offset => &mut params.offset,
                "sort" => &mut params.sort,
                "fields" => &mut params.fields,
                "include" => &mut params.include,
                "search" if spec.search => &mut params.search,
                k if k == "filter" || k.starts_with("filter[") => {
                    let Some((name, op)) = split_filter_key(k) else {
                        return Err(ApiError::bad_request(
                            "Malformed filter parameter; expected filter[field]=value or \
                             filter[field][operator]=value",
                        )
                        .with_detail("parameter", echo(k)));
                    };
                    let (name, op) = (name.to_string(), op.map(str::to_string));
                    if !seen_filters.insert(key.clone()) {
                        return Err(duplicate(&key));
                    }
                    params.filters.push(RawFilter { param: key, name, op, value });
                    continue;
                }
                // Unknown parameters are ignored so clients may add their own (cache busters,
                // tracing) without breaking.
                _ => continue,
            };
            if slot.is_some() {
                return Err(duplicate(&key));
            }
            *slot = Some(value);
        }
        Ok(params)
    }

    fn into_query(self, spec: &ListSpec) -> Result<ListQuery, ApiError> {
        if self.cursor.is_some() {
            if !spec.cursor {
                return Err(ApiError::bad_request("This endpoint does not support cursor pagination"));
            }
            if self.sort.is_some() {
                return Err(ApiError::bad_request(
                    "cursor and sort cannot be combined; use offset pagination when sorting",
                ));
            }
            if self.offset.is_some() {
                return Err(ApiError::bad_request("cursor and offset cannot be combined; use one pagination style"));
            }
        }
        let cursor = match self.cursor {
            Some(raw) => match decode_cursor(&raw) {
                Some(id) => Some((id, raw)),
                None => return Err(ApiError::bad_request("Invalid cursor")),
            },
            None => None,
        };

        let limit = match self.limit {
            Some(v) => parse_limit(&v)?,
            None => DEFAULT_LIMIT,
        };
        let offset = self.offset.map(|v| parse_offset(&v)).transpose()?;
        let sort_given = self.sort.is_some();
        let sort = match self.sort {
            Some(v) => parse_sort(&v, spec)?,
            None => Vec::new(),
        };
        let fields = self.fields.map(|v| parse_fields(&v, spec)).transpose()?;
        let includes = match self.include {
            Some(v) => parse_includes(&v, spec)?,
            None => Vec::new(),
        };
        let search = self.search.map(|v| parse_search(&v)).transpose()?.flatten();
        let filters = self.filters.into_iter().map(|f| parse_filter(f, spec)).collect::<Result<Vec<_>, _>>()?;

        let paging = match cursor {
            Some((id, raw)) => Paging::Cursor { after_id: Some(id), raw: Some(raw) },
            None if !spec.cursor || sort_given || offset.is_some() => Paging::Offset { offset: offset.unwrap_or(0) },
            None => Paging::Cursor { after_id: None, raw: None },
        };

        Ok(ListQuery { limit, paging, sort, filters, fields, includes, search })
    }
}

/// `filter[name]` → `(name, None)`, `filter[name][op]` → `(name, Some(op))`; `None` for any
/// other shape (missing or empty brackets, trailing text, nested brackets).
fn split_filter_key(key: &str) -> Option<(&str, Option<&str>)> {
    let rest = key.strip_prefix("filter[")?;
    let (name, rest) = rest.split_once(']')?;
    if name.is_empty() || name.contains('[') {
        return None;
    }
    if rest.is_empty() {
        return Some((name, None));
    }
    let op = rest.strip_prefix('[')?.strip_suffix(']')?;
    if op.is_empty() || op.contains('[') || op.contains(']') {
        return None;
    }
    Some((name, Some(op)))
}

fn duplicate(key: &str) -> ApiError {
    duplicate_shown(&echo(key))
}

fn duplicate_shown(shown: &str) -> ApiError {
    ApiError::bad_request(format!("Parameter {shown} given more than once")).with_detail("parameter", shown)
}

pub(crate) fn echo(text: &str) -> String {
    if text.chars().count() <= MAX_ECHO_CHARS {
        text.to_string()
    } else {
        let mut cut = cut(text);
        cut.push('…');
        cut
    }
}

/// A 422 about a name outside a closed set, listing the set (`docs/api.md#lists`).
fn not_allowed(param: &str, problem: impl Into<String>, allowed: Vec<&str>) -> ApiError {
    ApiError::invalid_field(param, problem).with_detail("parameter", echo(param)).with_detail("allowed", allowed)
}

/// Plain decimal digits only: `u64::from_str` would also take a sign, which no client means.
pub(crate) fn parse_digits(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn parse_limit(value: &str) -> Result<u32, ApiError> {
    parse_digits(value)
        .filter(|n| (1..=u64::from(MAX_LIMIT)).contains(n))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ApiError::invalid_field("limit", format!("must be an integer between 1 and {MAX_LIMIT}")))
}

fn parse_offset(value: &str) -> Result<u64, ApiError> {
    parse_digits(value)
        .ok_or_else(|| ApiError::invalid_field("offset", "must be an integer greater than or equal to 0"))
}

/// Comma-separated names, each trimmed (so `sort=+title`, whose '+' decodes to a space, still
/// means ascending); an empty entry is an error rather than silently skipped.
fn split_names<'a>(param: &str, value: &'a str) -> Result<Vec<&'a str>, ApiError> {
    value
        .split(',')
        .map(|item| {
            let item = item.trim();
            if item.is_empty() {
                Err(ApiError::invalid_field(param, "must be a comma-separated list of names with no empty entries"))
            } else {
                Ok(item)
            }
        })
        .collect()
}

fn lookup(param: &str, name: &str, allowed: &'static [&'static str]) -> Result<&'static str, ApiError> {
    allowed
        .iter()
        .copied()
        .find(|candidate| *candidate == name)
        .ok_or_else(|| not_allowed(param, format!("contains unknown name '{}'", echo(name)), allowed.to_vec()))
}

fn parse_sort(value: &str, spec: &ListSpec) -> Result<Vec<SortKey>, ApiError> {
    let mut keys: Vec<SortKey> = Vec::new();
    for item in split_names("sort", value)? {
        let (descending, name) = match item.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, item),
        };
        if name.is_empty() {
            return Err(ApiError::invalid_field("sort", "contains '-' without a field name"));
        }
        let field = lookup("sort", name, spec.sorts)?;
        // Sorting twice by one field is contradictory or redundant; either way the client erred.
        if keys.iter().any(|k| k.field == field) {
            return Err(ApiError::invalid_field("sort", format!("names '{field}' more than once")));
        }
        keys.push(SortKey { field, descending });
    }
    Ok(keys)
}

fn parse_fields(value: &str, spec: &ListSpec) -> Result<Vec<&'static str>, ApiError> {
    let mut fields = vec!["id"];
    for name in split_names("fields", value)? {
        // `id` is always returned, so asking for it is fine even where it is not listed.
        if name == "id" {
            continue;
        }
        let field = lookup("fields", name, spec.fields)?;
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    Ok(fields)
}

fn parse_includes(value: &str, spec: &ListSpec) -> Result<Vec<&'static str>, ApiError> {
    // `include=` asks for nothing extra, which is unambiguous (unlike an empty `fields=`).
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut includes = Vec::new();
    for name in split_names("include", value)? {
        let include = lookup("include", name, spec.includes)?;
        if !includes.contains(&include) {
            includes.push(include);
        }
    }
    Ok(includes)
}

fn parse_search(value: &str) -> Result<Option<String>, ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::invalid_field("search", format!("must be at most {MAX_SEARCH_CHARS} characters")));
    }
    Ok(Some(trimmed.to_string()))
}

fn parse_filter(raw: RawFilter, spec: &ListSpec) -> Result<Filter, ApiError> {
    let param = raw.param.as_str();
    let Some(filter_spec) = spec.filters.iter().find(|f| f.name == raw.name) else {
        let names: Vec<&str> = spec.filters.iter().map(|f| f.name).collect();
        let problem = if names.is_empty() {
            "is not accepted: this endpoint does not accept filter parameters"
        } else {
            "is not a filter this endpoint accepts"
        };
        return Err(not_allowed(param, problem, names));
    };
    let op = match raw.op.as_deref() {
        None => FilterOp::Eq,
        Some(segment) => FilterOp::from_segment(segment).ok_or_else(|| {
            not_allowed(param, format!("uses unknown operator '{}'", echo(segment)), RANGE_OPERATORS.to_vec())
        })?,
    };
    let value = raw.value;
    let parsed = match filter_spec.kind {
        FilterKind::Enum(values) => {
            require_eq(param, op)?;
            match values.iter().find(|candidate| **candidate == value) {
                Some(v) => FilterValue::Text((*v).to_string()),
                None => {
                    return Err(not_allowed(param, format!("must be one of: {}", values.join(", ")), values.to_vec()));
                }
            }
        }
        FilterKind::Bool => {
            require_eq(param, op)?;
            match value.as_str() {
                "true" | "1" => FilterValue::Bool(true),
                "false" | "0" => FilterValue::Bool(false),
                _ => return Err(ApiError::invalid_field(param, "must be true or false")),
            }
        }
        FilterKind::Number => match value.parse::<f64>() {
            Ok(n) if n.is_finite() => FilterValue::Number(n),
            _ => return Err(ApiError::invalid_field(param, "must be a finite number")),
        },
        FilterKind::DateTime => {
            // Equality on a timestamp almost never matches anything; a range is what is meant.
            if op == FilterOp::Eq {
                return Err(not_allowed(
                    param,
                    "needs an operator, e.g. filter[field][gte]=2026-01-01",
                    RANGE_OPERATORS.to_vec(),
                ));
            }
            match normalize_datetime(&value) {
                Some(utc) => FilterValue::DateTime(utc),
                None => {
                    return Err(ApiError::invalid_field(param, "must be an RFC 3339 date-time or a YYYY-MM-DD date"));
                }
            }
        }
        FilterKind::Text => {
            require_eq(param, op)?;
            if value.chars().count() > MAX_TEXT_FILTER_CHARS {
                return Err(ApiError::invalid_field(
                    param,
                    format!("must be at most {MAX_TEXT_FILTER_CHARS} characters"),
                ));
            }
            FilterValue::Text(value)
        }
    };
    Ok(Filter { field: filter_spec.name, op, value: parsed })
}

fn require_eq(param: &str, op: FilterOp) -> Result<(), ApiError> {
    if op == FilterOp::Eq {
        Ok(())
    } else {
        Err(ApiError::invalid_field(param, "does not take an operator; use filter[field]=value"))
    }
}

/// RFC 3339 (any offset) or a bare date (midnight UTC), as a whole-second UTC string.
fn normalize_datetime(value: &str) -> Option<String> {
    let parsed = OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .or_else(|| {
            Date::parse(value, format_description!("[year]-[month]-[day]")).ok().map(|d| d.midnight().assume_utc())
        })
        // An unescaped '+' in an offset (`…T10:00:00+02:00`) arrives as a space.
        .or_else(|| {
            if value.contains(' ') { OffsetDateTime::parse(&value.replace(' ', "+"), &Rfc3339).ok() } else { None }
        })?;
    let utc = parsed.checked_to_offset(UtcOffset::UTC)?;
    // Shifting to UTC can leave the four-digit years RFC 3339 allows.
    if !(0..=9999).contains(&utc.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    ))
}

// ---------------------------------------------------------------------------------------------
// Plain parameters
// ---------------------------------------------------------------------------------------------
// The deal-data endpoints take a few named parameters instead of the list grammar above. They
// share its decoding; a repeated name is a 400 there too, even for a name they ignore, and
// `limit` is clamped into 1–200 rather than refused (`docs/api.md#lists`).

/// Decoded query pairs in which every name appears at most once.
pub(crate) struct PlainParams {
    pub(crate) pairs: Vec<(String, String)>,
}

impl PlainParams {
    pub(crate) fn parse(raw: Option<&str>) -> Result<PlainParams, ApiError> {
        let pairs = match raw {
            Some(q) => parse_pairs(q)?,
            None => Vec::new(),
        };
        let mut seen: HashSet<&str> = HashSet::new();
        for (k, _) in &pairs {
            if !seen.insert(k.as_str()) {
                return Err(duplicate_shown(&cut(k)));
            }
        }
        Ok(PlainParams { pairs })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A name cut to the length echoed back, without a mark where it was cut.
pub(crate) fn cut(text: &str) -> String {
    text.chars().take(MAX_ECHO_CHARS).collect()
}

/// An integer in decimal, sign allowed; huge magnitudes saturate (they are clamped anyway).
pub(crate) fn parse_integer(value: &str) -> Option<i64> {
    let (neg, body) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = body.parse::<i64>().unwrap_or(i64::MAX);
    Some(if neg { -magnitude } else { magnitude })
}

/// `limit` where it is clamped: any integer is accepted and brought into 1–200; anything else
/// is a 422.
pub(crate) fn clamped_limit(value: &str) -> Result<u32, ApiError> {
    let n = parse_integer(value).ok_or_else(|| {
        ApiError::new(ErrorKind::Validation, "limit must be an integer")
            .with_detail("fields", serde_json::json!({"limit": "must be an integer"}))
    })?;
    Ok(clamp_limit(n))
}

pub(crate) fn clamp_limit(n: i64) -> u32 {
    u32::try_from(n.clamp(1, i64::from(MAX_LIMIT))).unwrap_or(1)
}

pub(crate) fn positive_param(name: &str, value: &str) -> Result<i64, ApiError> {
    parse_integer(value).filter(|n| *n > 0).ok_or_else(|| ApiError::invalid_field(name, "must be a positive integer"))
}

/// A free-text parameter: at most 200 characters as sent; blank means absent.
pub(crate) fn search_param(name: &str, value: &str) -> Result<Option<String>, ApiError> {
    if value.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::invalid_field(name, format!("must be at most {MAX_SEARCH_CHARS} characters")));
    }
    let t = value.trim();
    Ok(if t.is_empty() { None } else { Some(t.to_string()) })
}

pub(crate) fn enum_param(name: &str, value: &str, allowed: &'static [&'static str]) -> Result<&'static str, ApiError> {
    allowed.iter().copied().find(|a| *a == value).ok_or_else(|| {
        ApiError::invalid_field(name, format!("must be one of: {}", allowed.join(", "))).with_detail("allowed", allowed)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::deal::{DEAL_LIST, LOAN_TYPES};
    use proptest::prelude::*;

    /// The grammar of `GET /deals`: enum, boolean, number and date-time filters, sorts, fields,
    /// includes, search and both paging styles.
    const DEALS: ListSpec = DEAL_LIST;
    const SORTS: &[&str] = DEAL_LIST.sorts;

    /// The deal list with one text filter, `title`, in place of its own filters (it has none of
    /// that kind).
    const TITLED: ListSpec = ListSpec { filters: &[FilterSpec { name: "title", kind: FilterKind::Text }], ..DEAL_LIST };

    /// Shaped like `GET /api-keys`: limit and offset only.
    const OFFSET_ONLY: ListSpec =
        ListSpec { filters: &[], sorts: &[], fields: &[], includes: &[], search: false, cursor: false, offset: true };

    const NO_OFFSET: ListSpec = ListSpec { offset: false, ..DEALS };

    fn ok(q: &str) -> ListQuery {
        match ListQuery::parse(Some(q), &DEALS) {
            Ok(query) => query,
            Err(e) => panic!("{q:?} should parse, got {e}"),
        }
    }

    fn err(q: &str) -> ApiError {
        err_with(q, &DEALS)
    }

    fn err_with(q: &str, spec: &ListSpec) -> ApiError {
        match ListQuery::parse(Some(q), spec) {
            Ok(query) => panic!("{q:?} should fail, got {query:?}"),
            Err(e) => e,
        }
    }

    fn assert_400(q: &str) -> ApiError {
        let e = err(q);
        assert_eq!(e.kind, ErrorKind::BadRequest, "{q:?}: {e}");
        e
    }

    fn assert_422(q: &str, field: &str) -> ApiError {
        assert_422_with(q, field, &DEALS)
    }

    fn assert_422_with(q: &str, field: &str, spec: &ListSpec) -> ApiError {
        let e = err_with(q, spec);
        assert_eq!(e.kind, ErrorKind::Validation, "{q:?}: {e}");
        assert!(e.details["fields"].get(field).is_some(), "{q:?}: {:?}", e.details);
        e
    }

    fn allowed(e: &ApiError) -> Vec<String> {
        e.details["allowed"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    // --- defaults and parameter handling

    #[test]
    fn empty_and_missing_queries_give_defaults() {
        for q in [None, Some(""), Some("&&")] {
            let parsed = ListQuery::parse(q, &DEALS).unwrap();
            assert_eq!(parsed.limit, DEFAULT_LIMIT);
            assert_eq!(parsed.paging, Paging::Cursor { after_id: None, raw: None });
            assert!(parsed.sort.is_empty() && parsed.filters.is_empty() && parsed.includes.is_empty());
            assert_eq!(parsed.fields, None);
            assert_eq!(parsed.search, None);
        }
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        let parsed = ok("foo=bar&_=123&limit=5&bar&filterx=1");
        assert_eq!(parsed.limit, 5);
    }

    #[test]
    fn repeated_parameter_is_400() {
        let e = assert_400("limit=5&limit=6");
        assert_eq!(e.message, "Parameter limit given more than once");
        assert_400("sort=title&sort=-title");
        assert_400("filter[loan_type]=land&filter[loan_type]=tbd");
        assert_400("filter[loan_amount][gte]=1&filter%5Bloan_amount%5D%5Bgte%5D=2");
        // Different operators on one field are different parameters.
        let parsed = ok("filter[loan_amount][gte]=1&filter[loan_amount][lte]=2");
        assert_eq!(parsed.filters.len(), 2);
    }

    #[test]
    fn repeated_ignored_parameter_is_not_an_error() {
        ok("foo=1&foo=2");
        let parsed = ListQuery::parse(Some("search=a&search=b&limit=3"), &OFFSET_ONLY).unwrap();
        assert_eq!(parsed.limit, 3);
    }

    // --- parse_pairs

    #[test]
    fn nul_in_a_query_parameter_is_a_validation_error_naming_it() {
        let e = parse_pairs("a=1&filter%5Btitle%5D=x%00y").unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(e.details["fields"]["filter[title]"], crate::input::NUL_PROBLEM);
        let e = parse_pairs("q%00=1").unwrap_err();
        assert_eq!(e.status(), 422);
        assert!(e.details["fields"].get("q\u{FFFD}").is_some());
        assert!(parse_pairs("q=%01%1F").is_ok(), "other control characters are storable");
    }

    #[test]
    fn pairs_are_form_decoded() {
        let pairs = parse_pairs("a=1+2&b=%41%62%2B&c&d=&=e&x=y=z&%E2%82%AC=%e2%82%ac").unwrap();
        let expected: Vec<(String, String)> =
            [("a", "1 2"), ("b", "Ab+"), ("c", ""), ("d", ""), ("", "e"), ("x", "y=z"), ("€", "€")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn invalid_utf8_and_bad_escapes_are_400() {
        for q in ["a=%FF", "a=%C3", "%80=1", "a=%", "a=%4", "a=%zz", "a=%%41"] {
            let e = parse_pairs(q).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadRequest, "{q}");
        }
        assert_eq!(err("search=%FF").kind, ErrorKind::BadRequest);
    }

    // --- limit and offset

    #[test]
    fn limit_bounds() {
        assert_eq!(ok("limit=1").limit, 1);
        assert_eq!(ok("limit=200").limit, 200);
        assert_eq!(ok("limit=007").limit, 7);
        for bad in ["0", "201", "-1", "1.5", "abc", "", "+5", " 5", "99999999999999999999999"] {
            let e = assert_422(&format!("limit={}", bad.replace('+', "%2B")), "limit");
            assert_eq!(e.details["fields"]["limit"], "must be an integer between 1 and 200");
        }
    }

    #[test]
    fn offset_rules() {
        assert_eq!(ok("offset=0").paging, Paging::Offset { offset: 0 });
        assert_eq!(ok("offset=40").paging, Paging::Offset { offset: 40 });
        for bad in ["-1", "x", "", "1e3", "18446744073709551616"] {
            assert_422(&format!("offset={bad}"), "offset");
        }
    }

    #[test]
    fn offset_is_ignored_where_not_supported() {
        let q = ListQuery::parse(Some("offset=abc&offset=1"), &NO_OFFSET).unwrap();
        assert_eq!(q.paging, Paging::Cursor { after_id: None, raw: None });
    }

    // --- cursor

    #[test]
    fn cursor_round_trips_and_documented_example_decodes() {
        assert_eq!(encode_cursor(10), "eyJpZCI6MTB9");
        assert_eq!(decode_cursor("eyJpZCI6MTB9"), Some(10));
        // The documented example, with a space after the colon and padding.
        assert_eq!(decode_cursor("eyJpZCI6IDEwfQ=="), Some(10));
        assert_eq!(decode_cursor("eyJpZCI6IDEwfQ"), Some(10));
    }

    #[test]
    fn cursor_accepts_url_safe_alphabet_and_missing_padding() {
        use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
        for n in [0, 7, 10, 12_345, i64::MAX] {
            let json = format!("{{\"id\":{n}}}");
            assert_eq!(decode_cursor(&URL_SAFE.encode(&json)), Some(n));
            assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode(&json)), Some(n));
        }
        // '-' and '_' only ever stand for '+' and '/', which no valid payload produces.
        assert_eq!(decode_cursor("eyJpZCI6MTB-"), None);
        assert_eq!(decode_cursor("eyJpZCI6MTB_"), None);
    }

    #[test]
    fn malformed_cursors_decode_to_none() {
        let b64 = |s: &str| STANDARD.encode(s);
        for token in [
            String::new(),
            "!!!!".to_string(),
            "eyJpZCI6MTB9x".to_string(),
            b64("{\"id\":-1}"),
            b64("{\"id\":1.5}"),
            b64("{\"id\":\"1\"}"),
            b64("{\"id\":1,\"x\":2}"),
            b64("{\"ID\":1}"),
            b64("[1]"),
            b64("10"),
            b64("{\"id\":99999999999999999999}"),
            "A".repeat(200),
        ] {
            assert_eq!(decode_cursor(&token), None, "{token}");
        }
    }

    #[test]
    fn cursor_paging() {
        let token = encode_cursor(42);
        let q = ok(&format!("cursor={token}&limit=10"));
        assert_eq!(q.paging, Paging::Cursor { after_id: Some(42), raw: Some(token) });
        let e = assert_400("cursor=nope");
        assert_eq!(e.message, "Invalid cursor");
        assert_400("cursor=");
    }

    #[test]
    fn cursor_with_sort_is_the_documented_400() {
        let token = encode_cursor(1);
        for q in [format!("cursor={token}&sort=title"), format!("sort=-title&cursor={token}")] {
            let e = assert_400(&q);
            assert_eq!(e.message, "cursor and sort cannot be combined; use offset pagination when sorting");
        }
        // Even an invalid cursor or sort: the combination itself is the error.
        let e = assert_400("cursor=zz&sort=nonsense");
        assert!(e.message.starts_with("cursor and sort"));
    }

    #[test]
    fn cursor_with_offset_is_400() {
        let e = assert_400(&format!("cursor={}&offset=0", encode_cursor(1)));
        assert!(e.message.contains("cursor and offset"));
    }

    #[test]
    fn cursor_on_offset_only_endpoint_is_400() {
        let e = err_with(&format!("cursor={}", encode_cursor(1)), &OFFSET_ONLY);
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert_eq!(e.message, "This endpoint does not support cursor pagination");
    }

    #[test]
    fn offset_only_endpoint_defaults_to_offset_paging() {
        let q = ListQuery::parse(None, &OFFSET_ONLY).unwrap();
        assert_eq!(q.paging, Paging::Offset { offset: 0 });
        let q = ListQuery::parse(Some("limit=20&offset=20"), &OFFSET_ONLY).unwrap();
        assert_eq!((q.limit, q.paging), (20, Paging::Offset { offset: 20 }));
    }

    // --- sort

    #[test]
    fn sort_switches_to_offset_and_keeps_order() {
        let q = ok("sort=-loan_amount,title&offset=10");
        assert_eq!(
            q.sort,
            vec![SortKey { field: "loan_amount", descending: true }, SortKey { field: "title", descending: false },]
        );
        assert_eq!(q.paging, Paging::Offset { offset: 10 });
        assert_eq!(ok("sort=title").paging, Paging::Offset { offset: 0 });
        // An unescaped '+' becomes a space, which is trimmed: ascending.
        assert_eq!(ok("sort=+title").sort, vec![SortKey { field: "title", descending: false }]);
    }

    #[test]
    fn unknown_sort_lists_allowed() {
        let e = assert_422("sort=-nope", "sort");
        assert_eq!(e.details["parameter"], "sort");
        assert_eq!(allowed(&e), SORTS);
        let e = err_with("sort=title", &OFFSET_ONLY);
        assert_eq!(e.kind, ErrorKind::Validation);
        assert!(allowed(&e).is_empty());
        assert!(e.details["allowed"].is_array());
    }

    #[test]
    fn empty_or_repeated_sort_keys_are_422() {
        for q in
            ["sort=", "sort=title,", "sort=,title", "sort=-", "sort=title,-title", "sort=title,title", "sort=--title"]
        {
            assert_422(q, "sort");
        }
    }

    // --- fields and include

    #[test]
    fn fields_always_start_with_id() {
        assert_eq!(ok("fields=title,loan_amount").fields, Some(vec!["id", "title", "loan_amount"]));
        assert_eq!(ok("fields=title,id,title").fields, Some(vec!["id", "title"]));
        assert_eq!(ok("fields=id").fields, Some(vec!["id"]));
        assert_eq!(ok("fields=title%2C%20loan_amount").fields, Some(vec!["id", "title", "loan_amount"]));
    }

    #[test]
    fn bad_fields_are_422() {
        let e = assert_422("fields=title,secret", "fields");
        assert_eq!(e.details["parameter"], "fields");
        assert_eq!(allowed(&e), DEALS.fields);
        assert_422("fields=", "fields");
        assert_422("fields=title,,id", "fields");
    }

    #[test]
    fn includes_dedup_and_validate() {
        assert_eq!(ok("include=team,financials,team").includes, vec!["team", "financials"]);
        assert!(ok("include=").includes.is_empty());
        let e = assert_422("include=financials,owner", "include");
        assert_eq!(e.details["parameter"], "include");
        assert_eq!(allowed(&e), DEALS.includes);
        assert_422("include=team,", "include");
    }

    // --- search

    #[test]
    fn search_is_trimmed_and_bounded() {
        assert_eq!(ok("search=+harbor+point+").search.as_deref(), Some("harbor point"));
        assert_eq!(ok("search=%20%20").search, None);
        assert_eq!(ok("search=").search, None);
        assert_eq!(ok(&format!("search={}", "é".repeat(200))).search.map(|s| s.chars().count()), Some(200));
        assert_422(&format!("search={}", "a".repeat(201)), "search");
        // Ignored where the endpoint has no search.
        let q = ListQuery::parse(Some("search=x"), &OFFSET_ONLY).unwrap();
        assert_eq!(q.search, None);
    }

    // --- filters

    #[test]
    fn filters_parse_in_order_of_appearance() {
        let q = ok("filter[archived]=false&filter%5Bloan_type%5D=permanent\
                    &filter[loan_amount][gte]=1e6&filter[created_at][lt]=2026-01-01\
                    &filter[updated_at][gte]=2026-02-01");
        assert_eq!(
            q.filters,
            vec![
                Filter { field: "archived", op: FilterOp::Eq, value: FilterValue::Bool(false) },
                Filter { field: "loan_type", op: FilterOp::Eq, value: FilterValue::Text("permanent".into()) },
                Filter { field: "loan_amount", op: FilterOp::Gte, value: FilterValue::Number(1_000_000.0) },
                Filter {
                    field: "created_at",
                    op: FilterOp::Lt,
                    value: FilterValue::DateTime("2026-01-01T00:00:00Z".into())
                },
                Filter {
                    field: "updated_at",
                    op: FilterOp::Gte,
                    value: FilterValue::DateTime("2026-02-01T00:00:00Z".into())
                },
            ]
        );
        // Filters do not change the paging mode.
        assert_eq!(q.paging, Paging::Cursor { after_id: None, raw: None });
    }

    #[test]
    fn malformed_filter_syntax_is_400() {
        for key in [
            "filter",
            "filter[",
            "filter[]",
            "filter[a",
            "filter[a]x",
            "filter[a][",
            "filter[a][]",
            "filter[a][gte",
            "filter[a][gte]x",
            "filter[a][gte][lte]",
            "filter[a[b]]",
            "filter[a][b[c]",
        ] {
            let e = assert_400(&format!("{key}=1"));
            assert_eq!(e.details["parameter"], key);
        }
    }

    #[test]
    fn unknown_filter_lists_allowed_names() {
        let e = assert_422("filter[status]=open", "filter[status]");
        assert_eq!(e.details["parameter"], "filter[status]");
        assert_eq!(
            allowed(&e),
            ["loan_type", "transaction_type", "business_plan", "archived", "loan_amount", "created_at", "updated_at"]
        );
        let e = err_with("filter[x]=1", &OFFSET_ONLY);
        assert_eq!(e.kind, ErrorKind::Validation);
        assert!(e.message.contains("does not accept filter parameters"));
    }

    #[test]
    fn unknown_operator_lists_allowed_operators() {
        for op in ["eq", "ne", "GTE", "between"] {
            let param = format!("filter[loan_amount][{op}]");
            let e = assert_422(&format!("{param}=1"), &param);
            assert_eq!(allowed(&e), ["gte", "lte", "gt", "lt"]);
        }
    }

    #[test]
    fn enum_filters() {
        for v in LOAN_TYPES {
            assert_eq!(ok(&format!("filter[loan_type]={v}")).filters[0].value, FilterValue::Text(v.to_string()));
        }
        let e = assert_422("filter[loan_type]=Permanent", "filter[loan_type]");
        assert_eq!(allowed(&e), LOAN_TYPES);
        assert_422("filter[loan_type]=", "filter[loan_type]");
        assert_422("filter[loan_type]=land,tbd", "filter[loan_type]");
        assert_422("filter[loan_type][gte]=land", "filter[loan_type][gte]");
        assert_422("filter[business_plan]=permanent", "filter[business_plan]");
    }

    #[test]
    fn bool_filters() {
        for (raw, expected) in [("true", true), ("1", true), ("false", false), ("0", false)] {
            assert_eq!(ok(&format!("filter[archived]={raw}")).filters[0].value, FilterValue::Bool(expected));
        }
        for bad in ["TRUE", "yes", "", "2"] {
            assert_422(&format!("filter[archived]={bad}"), "filter[archived]");
        }
        assert_422("filter[archived][lt]=true", "filter[archived][lt]");
    }

    #[test]
    fn number_filters() {
        let ops = [
            ("", FilterOp::Eq),
            ("[gte]", FilterOp::Gte),
            ("[lte]", FilterOp::Lte),
            ("[gt]", FilterOp::Gt),
            ("[lt]", FilterOp::Lt),
        ];
        for (segment, op) in ops {
            let q = ok(&format!("filter[loan_amount]{segment}=-12.5"));
            assert_eq!(q.filters[0].op, op);
            assert_eq!(q.filters[0].value, FilterValue::Number(-12.5));
        }
        for bad in ["", "abc", "NaN", "inf", "-infinity", "1e400", "1,000", "0x10"] {
            assert_422(&format!("filter[loan_amount][gte]={bad}"), "filter[loan_amount][gte]");
        }
    }

    #[test]
    fn datetime_filters_normalize_to_utc() {
        let cases = [
            ("2026-03-01", "2026-03-01T00:00:00Z"),
            ("2026-03-01T10:20:30Z", "2026-03-01T10:20:30Z"),
            ("2026-03-01T10:20:30.987654Z", "2026-03-01T10:20:30Z"),
            ("2026-03-01T01:00:00%2B02:00", "2026-02-28T23:00:00Z"),
            ("2026-03-01T23:30:00-01:00", "2026-03-02T00:30:00Z"),
            // '+' left unescaped by the client arrives as a space.
            ("2026-03-01T01:00:00+02:00", "2026-02-28T23:00:00Z"),
        ];
        for (raw, expected) in cases {
            let q = ok(&format!("filter[created_at][gte]={raw}"));
            assert_eq!(q.filters[0].value, FilterValue::DateTime(expected.into()), "{raw}");
        }
    }

    #[test]
    fn bad_datetime_filters_are_422() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-3-1",
            "2026-03-01T10:00",
            "0000-01-01T00:00:00%2B01:00",
            "9999-12-31T23:00:00-02:00",
        ] {
            assert_422(&format!("filter[created_at][lte]={bad}"), "filter[created_at][lte]");
        }
        let e = assert_422("filter[created_at]=2026-01-01", "filter[created_at]");
        assert_eq!(allowed(&e), ["gte", "lte", "gt", "lt"]);
    }

    #[test]
    fn text_filters() {
        let long = "x".repeat(255);
        let q = ListQuery::parse(Some(&format!("filter[title]={long}")), &TITLED).unwrap();
        assert_eq!(q.filters, [Filter { field: "title", op: FilterOp::Eq, value: FilterValue::Text(long) }]);
        assert_422_with(&format!("filter[title]={}", "x".repeat(256)), "filter[title]", &TITLED);
        assert_422_with("filter[title][gte]=a", "filter[title][gte]", &TITLED);
    }

    #[test]
    fn syntax_errors_win_over_content_errors() {
        // A 422-worthy limit does not hide a later repeated parameter.
        assert_400("limit=0&sort=title&sort=title");
        assert_400("filter[nope]=1&filter[=2");
    }

    #[test]
    fn long_echoed_names_are_cut() {
        let name = "n".repeat(5000);
        let e = assert_422(&format!("sort={name}"), "sort");
        assert!(e.message.len() < 200, "{}", e.message);
    }

    // --- properties

    const PLAUSIBLE_KEYS: &[&str] = &[
        "limit",
        "cursor",
        "offset",
        "sort",
        "fields",
        "include",
        "search",
        "filter",
        "filter[",
        "filter[]",
        "filter[loan_type]",
        "filter[archived]",
        "filter[title]",
        "filter[loan_amount]",
        "filter[loan_amount][gte]",
        "filter[loan_amount][eq]",
        "filter[created_at]",
        "filter[created_at][lt]",
        "filter[created_at][gte]x",
        "filter%5Bloan_type%5D",
        "filter[x][y][z]",
        "unknown",
        "",
    ];
    const PLAUSIBLE_VALUES: &[&str] = &[
        "",
        "0",
        "1",
        "50",
        "200",
        "201",
        "-1",
        "1.5",
        "true",
        "permanent",
        "title,-loan_amount",
        "-",
        ",",
        "id,title",
        "team,team",
        "2026-01-01",
        "2026-01-01T00:00:00Z",
        "eyJpZCI6MTB9",
        "eyJpZCI6IDEwfQ==",
        "%",
        "%FF",
        "+",
        "NaN",
        "1e999",
    ];

    fn plausible_pair() -> impl Strategy<Value = String> {
        (
            prop::sample::select(PLAUSIBLE_KEYS),
            prop_oneof![
                3 => prop::sample::select(PLAUSIBLE_VALUES).prop_map(str::to_string),
                1 => "[a-z0-9%+=,\\-\\[\\]]{0,12}",
            ],
        )
            .prop_map(|(k, v)| format!("{k}={v}"))
    }

    fn check_no_panic(q: &str) {
        for spec in [&DEALS, &OFFSET_ONLY, &NO_OFFSET] {
            if let Err(e) = ListQuery::parse(Some(q), spec) {
                assert!(matches!(e.kind, ErrorKind::BadRequest | ErrorKind::Validation), "{q:?}: {e}");
            }
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_strings(q in any::<String>()) {
            check_no_panic(&q);
        }

        #[test]
        fn parse_never_panics_on_query_like_strings(q in "[a-z%\\[\\]=&+,\\-0-9A-F.]{0,80}") {
            check_no_panic(&q);
        }

        #[test]
        fn parse_never_panics_on_plausible_pairs(
            pairs in prop::collection::vec(plausible_pair(), 0..8),
        ) {
            check_no_panic(&pairs.join("&"));
        }

        #[test]
        fn cursor_round_trip(n in 0..=i64::MAX) {
            prop_assert_eq!(decode_cursor(&encode_cursor(n)), Some(n));
            let token = encode_cursor(n);
            let url_safe = token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'=');
            prop_assert!(url_safe, "{}", token);
            let q = ListQuery::parse(Some(&format!("cursor={token}")), &DEALS).unwrap();
            prop_assert_eq!(q.paging, Paging::Cursor { after_id: Some(n), raw: Some(token) });
        }

        #[test]
        fn valid_limits_parse_to_themselves(n in 1u32..=MAX_LIMIT) {
            let q = ListQuery::parse(Some(&format!("limit={n}")), &DEALS).unwrap();
            prop_assert_eq!(q.limit, n);
        }

        #[test]
        fn other_limits_are_422(bad in prop_oneof![
            Just("0".to_string()),
            (201u64..).prop_map(|n| n.to_string()),
            (i64::MIN..0).prop_map(|n| n.to_string()),
            "[0-9]{1,3}\\.[0-9]{1,3}",
            "[a-zA-Z ]{1,6}",
            Just(String::new()),
        ]) {
            let e = ListQuery::parse(Some(&format!("limit={bad}")), &DEALS).unwrap_err();
            prop_assert_eq!(e.kind, ErrorKind::Validation);
            prop_assert!(e.details["fields"].get("limit").is_some());
        }

        #[test]
        fn sort_round_trip(
            keys in prop::sample::subsequence(SORTS.to_vec(), 1..=SORTS.len()).prop_shuffle(),
            directions in prop::collection::vec(any::<bool>(), SORTS.len()),
        ) {
            let expected: Vec<SortKey> = keys
                .iter()
                .zip(&directions)
                .map(|(field, descending)| SortKey { field, descending: *descending })
                .collect();
            let raw: Vec<String> = expected
                .iter()
                .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field))
                .collect();
            let q = ListQuery::parse(Some(&format!("sort={}", raw.join(","))), &DEALS).unwrap();
            prop_assert_eq!(q.sort, expected);
            prop_assert_eq!(q.paging, Paging::Offset { offset: 0 });
        }
    }
}
