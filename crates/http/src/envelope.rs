//! Success and error envelopes. Handlers return `Reply` or `ApiError` values; `finalize` renders
//! them with the request id and timestamp, and turns any other error response (routing,
//! framework rejections) into the same error envelope, so no response is ever bare text.
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, StatusCode};
use levd_domain::time_fmt::now_rfc3339;
use levd_domain::{ApiError, ErrorKind};
use levd_service::{Items, Page, Record};
use serde_json::{Map, Value, json};

/// A successful result waiting for its envelope.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub data: Data,
    pub pagination: Option<Value>,
}

/// The `data` of a success envelope: the service's answer, a JSON value or JSON already written
/// from typed records (a page's items become one array).
pub type Data = Record;

impl Reply {
    pub fn ok(data: impl Into<Data>) -> Reply {
        Reply { status: StatusCode::OK, data: data.into(), pagination: None }
    }
    pub fn created(data: impl Into<Data>) -> Reply {
        Reply { status: StatusCode::CREATED, data: data.into(), pagination: None }
    }
    pub fn page(p: Page) -> Reply {
        let data = match p.items {
            Items::Values(v) => Record::Value(Value::Array(v)),
            Items::Written(raw) => Record::Written(raw),
        };
        Reply { status: StatusCode::OK, data, pagination: Some(p.pagination) }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = self.status;
        r.extensions_mut().insert(self);
        r
    }
}

/// Wrapper so handlers can `?` an `ApiError`.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        error_response(self.0)
    }
}

pub fn error_response(e: ApiError) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.extensions_mut().insert(e);
    r
}

pub type HandlerResult = Result<Reply, Failure>;

/// Marker: the response body is final (rendered or replayed).
#[derive(Debug, Clone, Copy)]
pub struct Rendered;

/// The success envelope, serialised straight from the reply (no intermediate JSON tree).
#[derive(serde::Serialize)]
struct SuccessEnvelope<'a> {
    request_id: &'a str,
    timestamp: &'a str,
    data: &'a Data,
    #[serde(skip_serializing_if = "Option::is_none")]
    pagination: Option<&'a Value>,
}

fn json_response<T: serde::Serialize>(status: StatusCode, headers: HeaderMap, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().remove(http::header::CONTENT_LENGTH);
    // No `Rendered` marker: a rendered answer is JSON with no reply or error attached, which
    // `finalize` passes through as it is.
    r
}

pub fn error_body(request_id: &str, e: &ApiError) -> Value {
    let mut err = Map::new();
    err.insert("code".into(), Value::from(e.kind.code()));
    err.insert("type".into(), Value::from(e.kind.type_name()));
    err.insert("status".into(), Value::from(e.kind.status()));
    err.insert("message".into(), Value::from(e.message.clone()));
    err.insert("details".into(), Value::Object(e.details.clone()));
    for (k, v) in &e.extra {
        err.insert(k.clone(), v.clone());
    }
    json!({ "request_id": request_id, "timestamp": now_rfc3339(), "error": err })
}

fn generic_error(status: StatusCode) -> ApiError {
    let kind = ErrorKind::from_status(status.as_u16());
    let message = match status.as_u16() {
        404 => "Route not found",
        405 => "Method not allowed for this route",
        413 => "Request body exceeds the 1 MiB limit",
        414 => "The request target is too long",
        431 => "The request headers are too many or too large",
        415 => "Content-Type must be application/json",
        408 | 503 => "The service is temporarily unavailable",
        s if s >= 500 => "An unexpected error occurred",
        _ => "The request could not be processed",
    };
    ApiError::new(kind, message)
}

/// Renders whatever the inner layers produced into the final JSON response.
pub fn finalize(mut resp: Response, request_id: &str) -> Response {
    if resp.extensions().get::<Rendered>().is_some() {
        return resp;
    }
    let status = resp.status();
    if let Some(reply) = resp.extensions_mut().remove::<Reply>() {
        let timestamp = now_rfc3339();
        let body = SuccessEnvelope {
            request_id,
            timestamp: &timestamp,
            data: &reply.data,
            pagination: reply.pagination.as_ref(),
        };
        let headers = std::mem::take(resp.headers_mut());
        return json_response(reply.status, headers, &body);
    }
    if let Some(e) = resp.extensions_mut().remove::<ApiError>() {
        let headers = std::mem::take(resp.headers_mut());
        return json_response(status, headers, &error_body(request_id, &e));
    }
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let e = generic_error(status);
        let headers = std::mem::take(resp.headers_mut());
        return json_response(status, headers, &error_body(request_id, &e));
    }
    resp
}
