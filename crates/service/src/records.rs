//! Small pieces every domain's service shares: turning records into JSON, keeping the fields a
//! caller asked for, and checking that a deal named in a path is the caller's.

use levd_domain::ApiError;
use levd_domain::scope::Grant;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::Service;

/// A record as JSON; `null` when it cannot be serialized (no record type of this crate fails).
pub(crate) fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A record as a JSON object; empty when it does not serialize to one.
pub(crate) fn to_map<T: Serialize>(record: &T) -> Map<String, Value> {
    match serde_json::to_value(record) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Keeps the requested members (with `id`) of a serialized record; all of them without a
/// `fields` list.
pub(crate) fn select_fields(mut v: Map<String, Value>, fields: Option<&[&'static str]>) -> Map<String, Value> {
    if let Some(fields) = fields {
        v.retain(|k, _| k == "id" || fields.contains(&k.as_str()));
    }
    v
}

pub(crate) fn deal_not_found() -> ApiError {
    ApiError::not_found("Deal not found")
}

impl Service {
    /// The account of `grant`, once the deal `deal_id` is known to belong to it (else `404`).
    pub(crate) async fn deal_account(&self, grant: &Grant<'_>, deal_id: i64) -> Result<i64, ApiError> {
        let account = grant.account_id();
        self.store.deal(account, deal_id).await?.ok_or_else(deal_not_found)?;
        Ok(account)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn select_fields_keeps_the_id_and_the_named_members() {
        let Value::Object(m) = json!({"id": 1, "name": "a", "city": "b"}) else { unreachable!() };
        assert_eq!(Value::Object(select_fields(m.clone(), Some(&["city"]))), json!({"id": 1, "city": "b"}));
        assert_eq!(select_fields(m.clone(), None), m);
    }
}
