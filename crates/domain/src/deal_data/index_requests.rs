//! Request bodies and parameters of the deal index operations.

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};
use crate::input::{BodyReader, Patch};
use crate::query::{PlainParams, clamp_limit, clamped_limit, parse_integer, positive_param, search_param};

use super::{MAX_REF, SotRef, parse_sot_ref, read_id, rule_error, valid_ref};

const MAX_CONTEXT: usize = 4000;
const MAX_FACT_VALUE: usize = 1000;
const MAX_FACT_ITEMS: usize = 100;

fn read_bool(obj: &Map<String, Value>, field: &str, errors: &mut FieldErrors) -> Option<bool> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.add(field, "must be a boolean");
            None
        }
    }
}

/// An integer member that is clamped into 1–200 (the documented behaviour of the index lists).
fn read_clamped_limit(obj: &Map<String, Value>, default: u32, errors: &mut FieldErrors) -> u32 {
    match obj.get("limit") {
        None | Some(Value::Null) => default,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => clamp_limit(n.as_i64().unwrap_or(i64::MAX)),
        Some(_) => {
            errors.add("limit", "must be an integer");
            default
        }
    }
}

fn read_page(obj: &Map<String, Value>, errors: &mut FieldErrors) -> u32 {
    match obj.get("page") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_i64() {
            Some(p) if p >= 1 => u32::try_from(p).unwrap_or(u32::MAX),
            _ => {
                errors.add("page", "must be an integer greater than or equal to 1");
                1
            }
        },
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchInput {
    pub context: String,
    pub min_score: f64,
    pub limit: u32,
    pub include_signed_urls: bool,
}

/// Validates a `POST /deals/{deal_id}/index/search` body.
pub fn parse_search(body: &Map<String, Value>) -> Result<SearchInput, ApiError> {
    let mut r = BodyReader::new(body);
    let context = r.string("context", MAX_CONTEXT, true);
    r.required("context", &context);
    let min_score = match r.number("min_score", Some(0.0)) {
        Patch::Value(x) if x > 1.0 => {
            r.errors.add("min_score", "must be between 0 and 1");
            0.3
        }
        Patch::Value(x) => x,
        _ => 0.3,
    };
    let mut errors = r.errors;
    let limit = read_clamped_limit(body, 20, &mut errors);
    let include_signed_urls = read_bool(body, "include_signed_urls", &mut errors).unwrap_or(false);
    errors.finish()?;
    Ok(SearchInput { context: context.value().unwrap_or_default(), min_score, limit, include_signed_urls })
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservationsInput {
    pub sot: Option<SotRef>,
    pub metric_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub page: u32,
    pub limit: u32,
    pub include_signed_urls: bool,
}

fn read_sot(obj: &Map<String, Value>, errors: &mut FieldErrors) -> Patch<SotRef> {
    match obj.get("sot_id") {
        None => Patch::Absent,
        Some(Value::Null) => Patch::Null,
        Some(Value::String(s)) => match parse_sot_ref(s) {
            Some(r) => Patch::Value(r),
            None => {
                errors.add("sot_id", "must be a prefixed SOT id such as d:5362");
                Patch::Absent
            }
        },
        Some(_) => {
            errors.add("sot_id", "must be a string");
            Patch::Absent
        }
    }
}

/// Validates a `POST /deals/{deal_id}/index/observations` body. With both `sot_id` and
/// `metric_id`, the fact named by `sot_id` decides.
pub fn parse_observations(body: &Map<String, Value>) -> Result<ObservationsInput, ApiError> {
    let mut errors = FieldErrors::default();
    let sot = read_sot(body, &mut errors).value();
    let metric_id = read_id(body, "metric_id", &mut errors).value();
    let entity_ref = match body.get("entity_ref") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if valid_ref(s) => Some(s.clone()),
        Some(_) => {
            errors.add("entity_ref", "must be an entity reference such as property:690");
            None
        }
    };
    let page = read_page(body, &mut errors);
    let limit = read_clamped_limit(body, 20, &mut errors);
    let include_signed_urls = read_bool(body, "include_signed_urls", &mut errors).unwrap_or(false);
    errors.finish()?;
    if sot.is_none() && metric_id.is_none() {
        return Err(rule_error(
            "Provide at least one of sot_id or metric_id",
            &[("sot_id", "one of sot_id or metric_id is required")],
        ));
    }
    Ok(ObservationsInput { sot, metric_id, entity_ref, page, limit, include_signed_urls })
}

/// The change a `PATCH /deals/{deal_id}/index/facts` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum FactChange {
    Value(String),
    Observation(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FactPatch {
    pub sot: SotRef,
    pub change: FactChange,
}

pub fn parse_fact_patch(body: &Map<String, Value>) -> Result<FactPatch, ApiError> {
    let mut errors = FieldErrors::default();
    let sot = read_sot(body, &mut errors);
    if !errors.contains("sot_id") && !matches!(sot, Patch::Value(_)) {
        errors.add("sot_id", "is required");
    }
    let mut r = BodyReader::new(body);
    let value = r.string("value", MAX_FACT_VALUE, true);
    for (f, p) in r_errors(r) {
        errors.add(&f, p);
    }
    let observation = read_id(body, "observation_id", &mut errors);
    errors.finish()?;
    let change = match (value, observation) {
        (Patch::Value(v), Patch::Absent | Patch::Null) => FactChange::Value(v.trim().to_string()),
        (Patch::Absent | Patch::Null, Patch::Value(o)) => FactChange::Observation(o),
        _ => {
            return Err(rule_error(
                "Provide exactly one of value or observation_id",
                &[("value", "exactly one of value or observation_id is required")],
            ));
        }
    };
    let Patch::Value(sot) = sot else {
        return Err(ApiError::invalid_field("sot_id", "is required"));
    };
    Ok(FactPatch { sot, change })
}

/// The problems a `BodyReader` collected, as pairs (to merge with other checks).
fn r_errors(r: BodyReader<'_>) -> Vec<(String, String)> {
    match r.finish() {
        Ok(()) => Vec::new(),
        Err(e) => e
            .details
            .get("fields")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("is invalid").to_string())).collect())
            .unwrap_or_default(),
    }
}

/// One value of a `POST /deals/{deal_id}/index/facts`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFactValue {
    pub metric_id: i64,
    pub value: String,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
}

pub fn parse_fact_insert(body: &Map<String, Value>) -> Result<Vec<NewFactValue>, ApiError> {
    let items = match body.get("values") {
        None | Some(Value::Null) => return Err(ApiError::invalid_field("values", "is required")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::invalid_field("values", "must be an array")),
    };
    if items.is_empty() {
        return Err(ApiError::invalid_field("values", "must contain at least one item"));
    }
    if items.len() > MAX_FACT_ITEMS {
        return Err(ApiError::invalid_field("values", format!("must have at most {MAX_FACT_ITEMS} items")));
    }
    let mut errors = FieldErrors::default();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else {
            errors.add(&format!("values[{i}]"), "must be an object");
            continue;
        };
        let metric_id = match obj.get("metric_id") {
            None | Some(Value::Null) => {
                errors.add(&format!("values[{i}].metric_id"), "is required");
                0
            }
            Some(v) => match v.as_i64() {
                Some(id) if id > 0 => id,
                _ => {
                    errors.add(&format!("values[{i}].metric_id"), "must be a positive integer");
                    0
                }
            },
        };
        let value = match obj.get("value") {
            Some(Value::String(s)) if s.trim().is_empty() => {
                errors.add(&format!("values[{i}].value"), "must not be blank");
                String::new()
            }
            Some(Value::String(s)) if s.chars().count() > MAX_FACT_VALUE => {
                errors.add(&format!("values[{i}].value"), format!("must be at most {MAX_FACT_VALUE} characters"));
                String::new()
            }
            Some(Value::String(s)) => s.trim().to_string(),
            None | Some(Value::Null) => {
                errors.add(&format!("values[{i}].value"), "is required");
                String::new()
            }
            Some(_) => {
                errors.add(&format!("values[{i}].value"), "must be a string");
                String::new()
            }
        };
        let mut reference = |field: &str| match obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if valid_ref(s) => Some(s.clone()),
            Some(_) => {
                errors.add(
                    &format!("values[{i}].{field}"),
                    format!("must be at most {MAX_REF} characters of letters, digits, ':', '_' and '-'"),
                );
                None
            }
        };
        let entity_ref = reference("entity_ref");
        let group_ref = reference("group_ref");
        out.push(NewFactValue { metric_id, value, entity_ref, group_ref });
    }
    errors.finish()?;
    Ok(out)
}

/// `GET /deals/{deal_id}/index/metric-definitions` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub metric_label: Option<String>,
    pub category_id: Option<i64>,
    pub page: u32,
    pub limit: u32,
}

pub fn parse_metric_query(raw_query: Option<&str>) -> Result<MetricQuery, ApiError> {
    let params = PlainParams::parse(raw_query)?;
    let mut q = MetricQuery { metric_label: None, category_id: None, page: 1, limit: 100 };
    for (key, value) in &params.pairs {
        match key.as_str() {
            "metric_label" => q.metric_label = search_param("metric_label", value)?,
            "category_id" => q.category_id = Some(positive_param("category_id", value)?),
            "page" => {
                q.page = parse_integer(value)
                    .filter(|p| *p >= 1)
                    .map(|p| u32::try_from(p).unwrap_or(u32::MAX))
                    .ok_or_else(|| ApiError::invalid_field("page", "must be an integer greater than or equal to 1"))?
            }
            "limit" => q.limit = clamped_limit(value)?,
            _ => {}
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn index_bodies() {
        let s = parse_search(&obj(json!({"context": "noi", "limit": 5000}))).unwrap();
        assert_eq!((s.limit, s.min_score, s.include_signed_urls), (200, 0.3, false));
        assert_eq!(parse_search(&obj(json!({"context": "noi", "limit": -4}))).unwrap().limit, 1);
        let e = parse_search(&obj(json!({"context": "  "}))).unwrap_err();
        assert_eq!(e.message, "context must not be blank");
        assert_eq!(parse_search(&obj(json!({"context": "x", "min_score": 2}))).unwrap_err().status(), 422);
        assert_eq!(parse_search(&obj(json!({"context": "x", "limit": 2.5}))).unwrap_err().status(), 422);

        let e = parse_observations(&obj(json!({"page": 2}))).unwrap_err();
        assert_eq!(e.message, "Provide at least one of sot_id or metric_id");
        assert_eq!(parse_observations(&obj(json!({"sot_id": "bad"}))).unwrap_err().status(), 422);
        let o = parse_observations(&obj(json!({"metric_id": 3, "limit": 0}))).unwrap();
        assert_eq!((o.metric_id, o.limit, o.page), (Some(3), 1, 1));

        let e = parse_fact_patch(&obj(json!({"sot_id": "d:1", "value": "x", "observation_id": 2}))).unwrap_err();
        assert_eq!(e.message, "Provide exactly one of value or observation_id");
        assert_eq!(parse_fact_patch(&obj(json!({"sot_id": "d:1"}))).unwrap_err().status(), 422);
        assert_eq!(parse_fact_patch(&obj(json!({"value": "x"}))).unwrap_err().status(), 422);
        let p = parse_fact_patch(&obj(json!({"sot_id": "d:1", "observation_id": 2}))).unwrap();
        assert_eq!(p.change, FactChange::Observation(2));

        let e = parse_fact_insert(&obj(json!({"values": []}))).unwrap_err();
        assert_eq!(e.message, "values must contain at least one item");
        let e =
            parse_fact_insert(&obj(json!({"values": [{"metric_id": 1, "value": " "}, {"value": "x"}]}))).unwrap_err();
        let f = e.details["fields"].as_object().unwrap();
        assert!(f.contains_key("values[0].value") && f.contains_key("values[1].metric_id"), "{f:?}");
        let v =
            parse_fact_insert(&obj(json!({"values": [{"metric_id": 1, "value": "5", "entity_ref": "property:2"}]})))
                .unwrap();
        assert_eq!(v[0].entity_ref.as_deref(), Some("property:2"));
    }
}
