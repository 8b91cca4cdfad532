//! Reading request bodies: the JSON must be an object (else `400`); each field is then checked
//! and every problem is collected, so a `422` names all offending fields at once (`docs/api.md#validation`).
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};

/// A member of a PATCH body: absent (leave unchanged), `null` (clear) or a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch<T> {
    Absent,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    pub fn value(self) -> Option<T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }
}

/// Parses a request body that must be a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request("Request body is required"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => {
            reject_nul_in_object(&m)?;
            Ok(m)
        }
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("Request body is not valid JSON: {e}"))),
    }
}

/// The problem reported for text that contains a NUL character: PostgreSQL cannot store it in
/// a text or JSON column, so neither backend accepts it.
pub const NUL_PROBLEM: &str = "must not contain NUL characters";

/// Whether a piece of text can be stored by every backend.
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// `422` naming every member (dotted path, `[i]` for array items) whose text, or whose name,
/// contains a NUL character, anywhere in the body.
pub fn reject_nul_in_object(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let mut errors = FieldErrors::default();
    walk_object(obj, "", &mut errors);
    errors.finish()
}

fn walk_object(obj: &Map<String, Value>, prefix: &str, errors: &mut FieldErrors) {
    for (key, value) in obj {
        let name = if storable(key) { key.clone() } else { key.replace('\0', "\u{FFFD}") };
        let path = if prefix.is_empty() { name } else { format!("{prefix}.{name}") };
        if !storable(key) {
            errors.add(&path, NUL_PROBLEM);
            continue;
        }
        walk_value(value, &path, errors);
    }
}

fn walk_value(value: &Value, path: &str, errors: &mut FieldErrors) {
    match value {
        Value::String(s) if !storable(s) => errors.add(path, NUL_PROBLEM),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(item, &format!("{path}[{i}]"), errors);
            }
        }
        Value::Object(m) => walk_object(m, path, errors),
        _ => {}
    }
}

/// Parses an optional body: empty means an empty object.
pub fn parse_optional_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    parse_object(body)
}

/// Field-by-field reader over a body object. Unknown members are ignored (`docs/api.md#validation`).
pub struct BodyReader<'a> {
    obj: &'a Map<String, Value>,
    pub errors: FieldErrors,
}

impl<'a> BodyReader<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        BodyReader { obj, errors: FieldErrors::default() }
    }

    fn get(&self, field: &str) -> Patch<&'a Value> {
        match self.obj.get(field) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(v) => Patch::Value(v),
        }
    }

    /// A string of at most `max` characters; `non_blank` rejects empty or whitespace-only text.
    pub fn string(&mut self, field: &str, max: usize, non_blank: bool) -> Patch<String> {
        match self.get(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::String(s)) => {
                if non_blank && s.trim().is_empty() {
                    self.errors.add(field, "must not be blank");
                    Patch::Absent
                } else if s.chars().count() > max {
                    self.errors.add(field, format!("must be at most {max} characters"));
                    Patch::Absent
                } else {
                    Patch::Value(s.clone())
                }
            }
            Patch::Value(_) => {
                self.errors.add(field, "must be a string");
                Patch::Absent
            }
        }
    }

    /// A finite number, optionally with a lower bound.
    pub fn number(&mut self, field: &str, min: Option<f64>) -> Patch<f64> {
        match self.get(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() && min.is_none_or(|m| x >= m) => Patch::Value(x),
                Some(_) if min.is_some() => {
                    self.errors.add(field, format!("must be a number >= {}", min.unwrap_or(0.0)));
                    Patch::Absent
                }
                _ => {
                    self.errors.add(field, "must be a finite number");
                    Patch::Absent
                }
            },
            Patch::Value(_) => {
                self.errors.add(field, "must be a number");
                Patch::Absent
            }
        }
    }

    /// One of the allowed lower-case enum values.
    pub fn enumeration(&mut self, field: &str, allowed: &'static [&'static str]) -> Patch<&'static str> {
        match self.get(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::String(s)) => match allowed.iter().find(|a| **a == s.as_str()) {
                Some(a) => Patch::Value(*a),
                None => {
                    self.errors.add(field, format!("must be one of: {}", allowed.join(", ")));
                    Patch::Absent
                }
            },
            Patch::Value(_) => {
                self.errors.add(field, format!("must be one of: {}", allowed.join(", ")));
                Patch::Absent
            }
        }
    }

    /// A calendar date (`YYYY-MM-DD`; an RFC 3339 date-time keeps its date).
    pub fn date(&mut self, field: &str) -> Patch<String> {
        match self.get(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::String(s)) => match crate::time_fmt::parse_date(s) {
                Some(d) => Patch::Value(d),
                None => {
                    self.errors.add(field, "must be an ISO 8601 date (YYYY-MM-DD)");
                    Patch::Absent
                }
            },
            Patch::Value(_) => {
                self.errors.add(field, "must be an ISO 8601 date (YYYY-MM-DD)");
                Patch::Absent
            }
        }
    }

    /// An array of positive integer ids, at most `max_len` long, duplicates removed.
    pub fn id_array(&mut self, field: &str, max_len: usize) -> Patch<Vec<i64>> {
        match self.get(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::Array(items)) => {
                if items.len() > max_len {
                    self.errors.add(field, format!("must have at most {max_len} items"));
                    return Patch::Absent;
                }
                let mut out: Vec<i64> = Vec::with_capacity(items.len());
                for it in items {
                    match it.as_i64() {
                        Some(id) if id > 0 => {
                            if !out.contains(&id) {
                                out.push(id)
                            }
                        }
                        _ => {
                            self.errors.add(field, "must be an array of positive integers");
                            return Patch::Absent;
                        }
                    }
                }
                Patch::Value(out)
            }
            Patch::Value(_) => {
                self.errors.add(field, "must be an array of positive integers");
                Patch::Absent
            }
        }
    }

    /// A nested object.
    pub fn object(&mut self, field: &str) -> Patch<&'a Map<String, Value>> {
        match self.get(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::Object(m)) => Patch::Value(m),
            Patch::Value(_) => {
                self.errors.add(field, "must be an object");
                Patch::Absent
            }
        }
    }

    /// Records that a required member is missing.
    pub fn required<T>(&mut self, field: &str, v: &Patch<T>) {
        if !matches!(v, Patch::Value(_)) && !self.has_error(field) {
            self.errors.add(field, "is required");
        }
    }

    pub fn has_error(&self, field: &str) -> bool {
        self.errors.contains(field)
    }

    pub fn finish(self) -> Result<(), ApiError> {
        self.errors.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_shapes() {
        assert_eq!(parse_object(b"").unwrap_err().status(), 400);
        assert_eq!(parse_object(b"[1]").unwrap_err().status(), 400);
        assert_eq!(parse_object(b"{").unwrap_err().status(), 400);
        assert!(parse_object(b"{\"a\":1}").is_ok());
        assert!(parse_optional_object(b"  ").unwrap().is_empty());
    }

    #[test]
    fn reader_collects_every_problem() {
        let v = json!({"title": "  ", "loan_amount": "x", "loan_type": "bridge", "ids": [1, -2], "d": "2026-13-01", "extra": 1});
        let m = v.as_object().unwrap();
        let mut r = BodyReader::new(m);
        let t = r.string("title", 255, true);
        r.required("title", &t);
        r.number("loan_amount", Some(0.0));
        r.enumeration("loan_type", &["permanent"]);
        r.id_array("ids", 10);
        r.date("d");
        let missing = r.string("missing", 10, true);
        r.required("missing", &missing);
        let e = r.finish().unwrap_err();
        assert_eq!(e.status(), 422);
        let f = e.details["fields"].as_object().unwrap();
        assert_eq!(f.len(), 6);
        assert_eq!(f["title"], "must not be blank");
        assert_eq!(f["missing"], "is required");
    }

    #[test]
    fn nul_anywhere_in_a_body_is_refused_naming_the_member() {
        let e =
            parse_object(br#"{"title":"a\u0000b","ok":"fine","tags":["x","\u0000"],"f":{"n":"\u0000"},"k\u0000":1}"#)
                .unwrap_err();
        assert_eq!(e.status(), 422);
        let f = e.details["fields"].as_object().unwrap();
        assert_eq!(f.len(), 4, "{f:?}");
        assert_eq!(f["title"], NUL_PROBLEM);
        assert_eq!(f["tags[1]"], NUL_PROBLEM);
        assert_eq!(f["f.n"], NUL_PROBLEM);
        assert_eq!(f["k\u{FFFD}"], NUL_PROBLEM);
        assert!(parse_object(br#"{"title":"tab\there \u0001 ok"}"#).is_ok());
        assert_eq!(parse_optional_object(br#"{"a":"\u0000"}"#).unwrap_err().status(), 422);
    }

    #[test]
    fn patch_states() {
        let v = json!({"a": null, "b": 5});
        let m = v.as_object().unwrap();
        let mut r = BodyReader::new(m);
        assert_eq!(r.number("a", None), Patch::Null);
        assert_eq!(r.number("b", Some(0.0)), Patch::Value(5.0));
        assert_eq!(r.number("c", None), Patch::Absent);
        assert!(r.finish().is_ok());
    }
}
