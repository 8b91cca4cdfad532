//! How a storage failure reaches a caller of the API: services write `?` on store results and
//! this conversion picks the answer.

use levd_domain::ApiError;

use crate::StoreError;

impl From<StoreError> for ApiError {
    /// Text a backend refused to hold (a NUL that slipped past input validation) is the
    /// client's fault: a `422` on `body`. A missing row is a `404` and a unique-key clash a
    /// `409`. Anything else is logged here, once, and hidden behind a generic `500`.
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::UnstorableText => {
                tracing::warn!("the database refused text of a request (NUL character)");
                ApiError::invalid_field("body", levd_domain::input::NUL_PROBLEM)
            }
            StoreError::NotFound(what) => ApiError::not_found(format!("{} not found", capitalized(what))),
            StoreError::Duplicate(what) => ApiError::conflict(format!("{} already exists", capitalized(what))),
            e => {
                tracing::error!(error = %e, "store failure");
                ApiError::internal()
            }
        }
    }
}

/// `what` with its first letter in upper case ("note" → "Note").
fn capitalized(what: &str) -> String {
    let mut chars = what.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use levd_domain::ErrorKind;

    use super::*;

    #[test]
    fn unstorable_text_is_a_422_on_the_body() {
        let e = ApiError::from(StoreError::UnstorableText);
        assert_eq!(e.status(), 422);
        assert_eq!(e.details["fields"]["body"], levd_domain::input::NUL_PROBLEM);
    }

    #[test]
    fn missing_and_duplicate_rows_name_what() {
        let e = ApiError::from(StoreError::NotFound("note"));
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "Note not found"));
        let e = ApiError::from(StoreError::Duplicate("placement"));
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Conflict, "Placement already exists"));
    }

    #[test]
    fn other_failures_are_a_generic_500() {
        for e in [StoreError::UnknownPipeline, StoreError::File("disk".into()), StoreError::Secret("key".into())] {
            assert_eq!(ApiError::from(e), ApiError::internal());
        }
    }
}
