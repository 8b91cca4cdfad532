//! `GET /health` (`docs/api.md#health`).
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use levd_domain::ApiError;
use serde_json::json;

use crate::AppState;
use crate::envelope::{Failure, HandlerResult, Reply};

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(s): State<AppState>) -> HandlerResult {
    let version = env!("CARGO_PKG_VERSION");
    match s.service.health().await {
        Ok(()) => Ok(Reply::ok(json!({ "status": "ok", "version": version, "database": "ok" }))),
        Err(_) => Err(Failure(
            ApiError::unavailable("Database unavailable")
                .with_detail("status", "unavailable")
                .with_detail("version", version)
                .with_detail("database", "unavailable"),
        )),
    }
}
