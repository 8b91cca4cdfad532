//! `GET /health` (`docs/api.md#health`), and the probes at the server root: `GET /livez` and
//! `GET /readyz` (`docs/operations.md#probes`).
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use levd_domain::ApiError;
use serde_json::json;

use crate::AppState;
use crate::envelope::{Failure, HandlerResult, Reply};

/// `GET /health`.
pub async fn health(State(s): State<AppState>) -> HandlerResult {
    let version = env!("CARGO_PKG_VERSION");
    let database = s.service.health().await;
    match database.reason() {
        None => Ok(Reply::ok(json!({ "status": "ok", "version": version, "database": "ok" }))),
        Some(_) => Err(Failure(
            ApiError::unavailable(if database.as_str() == "read_only" {
                "Database is read-only"
            } else {
                "Database unavailable"
            })
            .with_detail("status", "unavailable")
            .with_detail("version", version)
            .with_detail("database", database.as_str()),
        )),
    }
}

/// `GET /livez`: the process is serving requests. Touches nothing else.
pub async fn livez() -> Response {
    plain(StatusCode::OK, json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database takes a write (rolled back) within two seconds and its
/// schema is the one this binary expects; 503 with the reason otherwise.
pub async fn readyz(State(s): State<AppState>) -> Response {
    let r = s.service.readiness().await;
    let schema = if r.database.reason().is_some() {
        "unknown"
    } else if r.schema_problem.is_some() {
        "outdated"
    } else {
        "current"
    };
    match r.reason() {
        None => plain(StatusCode::OK, json!({ "status": "ready", "database": "ok", "schema": schema })),
        Some(reason) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "not_ready", "database": r.database.as_str(), "schema": schema, "reason": reason }),
        ),
    }
}

/// A small JSON document outside the API envelope (probes are read by orchestrators).
fn plain(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    r.extensions_mut().insert(crate::envelope::Rendered);
    r
}

/// `GET /metrics` (`docs/operations.md#metrics`): the Prometheus/OpenMetrics text exposition.
pub async fn metrics(State(s): State<AppState>) -> Response {
    let body = s.metrics.render(s.service.store.pool_stats());
    let mut r = Response::new(axum::body::Body::from(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    r.extensions_mut().insert(crate::envelope::Rendered);
    r
}
