//! One spelling per JSON value, so two bodies that carry the same value compare equal however
//! a client serialised them: object members sorted by name, no white space, strings escaped
//! one way, and numbers written by value (`1`, `1.0` and `1e0` are all `1`).
use serde_json::{Number, Value};

/// The canonical text of `body` when it is JSON; `None` when it is not (compare those bytes as
/// they are).
pub fn canonical_json(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let mut out = String::with_capacity(body.len());
    write_value(&value, &mut out);
    Some(out)
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // Serialising a string cannot fail; the fallback keeps the function total.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// Whole numbers (however written) as plain integers; anything else as the shortest decimal
/// that reads back as the same double.
fn write_number(n: &Number, out: &mut String) {
    // Doubles below this bound convert to an integer exactly.
    const WHOLE_BOUND: f64 = 1.8e19;
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        if f.fract() == 0.0 && f.abs() < WHOLE_BOUND {
            // Exact: `f` is a whole number well inside the range of i128.
            #[allow(clippy::cast_possible_truncation)]
            out.push_str(&(f as i128).to_string());
        } else {
            out.push_str(&format!("{f:?}"));
        }
    } else {
        out.push_str(&n.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_json;

    fn canon(s: &str) -> String {
        canonical_json(s.as_bytes()).unwrap_or_else(|| panic!("not JSON: {s}"))
    }

    #[test]
    fn white_space_and_member_order_do_not_matter() {
        assert_eq!(canon(r#"{"text":"a","n":1}"#), canon("{ \"n\" : 1 ,\n \"text\" : \"a\" }"));
        assert_eq!(canon(r#"{"b":{"y":1,"x":[1,2]},"a":null}"#), r#"{"a":null,"b":{"x":[1,2],"y":1}}"#);
    }

    #[test]
    fn numbers_compare_by_value() {
        for same in ["1", "1.0", "1e0", "10e-1", "1.00"] {
            assert_eq!(canon(same), "1", "{same}");
        }
        assert_eq!(canon("-0.0"), "0");
        assert_eq!(canon("2.50"), canon("2.5"));
        assert_eq!(canon("1e17"), canon("100000000000000000"));
        assert_ne!(canon("1.5"), canon("1.25"));
        assert_eq!(canon("18446744073709551615"), "18446744073709551615");
    }

    #[test]
    fn strings_are_compared_as_text_not_as_escapes() {
        assert_eq!(canon(r#""\u0061""#), canon(r#""a""#));
        assert_ne!(canon(r#""a""#), canon(r#""A""#));
        // Array order is part of the value.
        assert_ne!(canon("[1,2]"), canon("[2,1]"));
    }

    #[test]
    fn non_json_is_none() {
        assert!(canonical_json(b"text=a").is_none());
        assert!(canonical_json(b"").is_none());
        assert!(canonical_json(b"{\"a\":1} x").is_none());
    }
}
