//! `GET /files/{token}`: the signed, expiring links the deal-data operations hand out
//! (`docs/resources.md#documents`). The signature is the credential.
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderName, HeaderValue};
use levd_domain::ApiError;
use levd_domain::deal_data::content_disposition;

use crate::AppState;
use crate::envelope::error_response;

/// `GET /files/{token}`: the bytes of a signed link, or the error envelope.
pub async fn file(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    let linked = match s.service.open_file_link(&token).await {
        Ok(f) => f,
        Err(e) => return error_response(e),
    };
    let bytes = match tokio::fs::read(&linked.path).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "signed file could not be read");
            return error_response(ApiError::not_found("File not found"));
        }
    };
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(linked.content_type));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&linked.file_name)) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    // The link is a bearer secret in the URL: keep it out of caches and referrers, and never
    // let a browser run what it downloads in our origin.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer"));
    h.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    h.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    r
}
