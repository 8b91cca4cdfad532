//! `ApiError`: every failure the API can report, as a value. The HTTP layer turns it into the
//! error envelope; services and parsers only build it.
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    PaymentRequired,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation,
    RateLimited,
    Internal,
    Unavailable,
    /// The request target is longer than the server reads.
    UriTooLong,
    /// The request head has more or larger header fields than the server reads.
    HeaderFieldsTooLarge,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::PaymentRequired => 402,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::Validation => 422,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
            ErrorKind::UriTooLong => 414,
            ErrorKind::HeaderFieldsTooLarge => 431,
        }
    }

    /// Lower-case `type` of the errors page.
    pub fn type_name(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::PaymentRequired => "payment_required",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::Validation => "validation_error",
            ErrorKind::RateLimited => "rate_limit_exceeded",
            ErrorKind::Internal => "internal_error",
            ErrorKind::Unavailable => "service_unavailable",
            ErrorKind::UriTooLong => "uri_too_long",
            ErrorKind::HeaderFieldsTooLarge => "request_header_fields_too_large",
        }
    }

    /// Upper-case `code` of the authentication page.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "BAD_REQUEST",
            ErrorKind::Unauthorized => "UNAUTHORIZED",
            ErrorKind::PaymentRequired => "PAYMENT_REQUIRED",
            ErrorKind::Forbidden => "FORBIDDEN",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorKind::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorKind::Validation => "VALIDATION_ERROR",
            ErrorKind::RateLimited => "RATE_LIMITED",
            ErrorKind::Internal => "INTERNAL_ERROR",
            ErrorKind::Unavailable => "SERVICE_UNAVAILABLE",
            ErrorKind::UriTooLong => "URI_TOO_LONG",
            ErrorKind::HeaderFieldsTooLarge => "REQUEST_HEADER_FIELDS_TOO_LARGE",
        }
    }

    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Unauthorized,
            402 => ErrorKind::PaymentRequired,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            409 => ErrorKind::Conflict,
            413 => ErrorKind::PayloadTooLarge,
            414 => ErrorKind::UriTooLong,
            415 => ErrorKind::UnsupportedMediaType,
            422 => ErrorKind::Validation,
            429 => ErrorKind::RateLimited,
            431 => ErrorKind::HeaderFieldsTooLarge,
            503 | 504 | 408 => ErrorKind::Unavailable,
            s if s >= 500 => ErrorKind::Internal,
            _ => ErrorKind::BadRequest,
        }
    }
}

/// One API failure: kind, human message, `details` (always an object) and optional extra
/// members of `error` (`prerequisites`, `upgrade_url`, `limit_type`, `retry_after_seconds`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub details: Map<String, Value>,
    pub extra: Map<String, Value>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError { kind, message: message.into(), details: Map::new(), extra: Map::new() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn internal() -> Self {
        Self::new(ErrorKind::Internal, "An unexpected error occurred")
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// `422` with `details.fields` mapping each offending field to its problem.
    pub fn validation(fields: FieldErrors) -> Self {
        let message = fields.summary();
        let mut e = Self::new(ErrorKind::Validation, message);
        e.details.insert("fields".into(), Value::Object(fields.into_map()));
        e
    }
    /// `422` about one field.
    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        let mut f = FieldErrors::default();
        f.add(field, problem);
        Self::validation(f)
    }
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }
    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
    pub fn status(&self) -> u16 {
        self.kind.status()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.kind.status(), self.kind.type_name(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// Problems found while validating a request body, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldErrors {
    items: Vec<(String, String)>,
}

impl FieldErrors {
    pub fn add(&mut self, field: &str, problem: impl Into<String>) {
        if !self.items.iter().any(|(f, _)| f == field) {
            self.items.push((field.to_string(), problem.into()));
        }
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn contains(&self, field: &str) -> bool {
        self.items.iter().any(|(f, _)| f == field)
    }
    /// `Err(422)` when any problem was recorded.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.is_empty() { Ok(()) } else { Err(ApiError::validation(self)) }
    }
    fn summary(&self) -> String {
        match self.items.as_slice() {
            [] => "Validation failed".to_string(),
            [(f, p)] => format!("{f} {p}"),
            [(f, p), rest @ ..] => format!("{f} {p} (and {} more problems)", rest.len()),
        }
    }
    fn into_map(self) -> Map<String, Value> {
        self.items.into_iter().map(|(f, p)| (f, Value::String(p))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_documented_triples() {
        assert_eq!(ErrorKind::RateLimited.code(), "RATE_LIMITED");
        assert_eq!(ErrorKind::RateLimited.type_name(), "rate_limit_exceeded");
        assert_eq!(ErrorKind::Validation.status(), 422);
        assert_eq!(ErrorKind::from_status(415), ErrorKind::UnsupportedMediaType);
    }

    #[test]
    fn validation_lists_fields() {
        let mut f = FieldErrors::default();
        f.add("title", "is required");
        f.add("loan_amount", "must be a number");
        let e = ApiError::validation(f);
        assert_eq!(e.kind, ErrorKind::Validation);
        assert_eq!(e.message, "title is required (and 1 more problems)");
        assert_eq!(e.details["fields"]["loan_amount"], "must be a number");
    }
}
