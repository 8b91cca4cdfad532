//! `/api-keys` and the public `/auth/validate-api-key`.
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{delete, post};
use http::HeaderMap;
use http::header::AUTHORIZATION;
use levd_domain::ApiError;
use levd_domain::headers::parse_bearer;
use levd_domain::input::parse_optional_object;
use serde_json::Value;

use super::{Ctx, path_id};
use crate::AppState;
use crate::envelope::{Failure, HandlerResult, Reply};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api-keys", post(create).get(list))
        .route("/api-keys/{key_id}", delete(revoke))
        .route("/auth/validate-api-key", post(validate))
}

async fn create(State(s): State<AppState>, ctx: Ctx, body: Bytes) -> HandlerResult {
    Ok(Reply::created(ctx.service(&s).create_api_key(ctx.scope()?, &body).await?))
}

async fn list(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).list_api_keys(ctx.scope()?, q.as_deref()).await?))
}

async fn revoke(State(s): State<AppState>, ctx: Ctx, Path(key_id): Path<String>) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).revoke_api_key(ctx.scope()?, path_id(&key_id)).await?))
}

/// The key comes from the body (`api_key`); with no body, from a `Bearer lev_sk_…` header (`docs/auth.md#api-keys`).
async fn validate(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> HandlerResult {
    let obj = parse_optional_object(&body).map_err(Failure)?;
    let token = match obj.get("api_key") {
        Some(Value::String(k)) => k.clone(),
        Some(_) => return Err(Failure(ApiError::bad_request("api_key must be a string"))),
        None => match headers.get(AUTHORIZATION).and_then(|h| parse_bearer(h.as_bytes())) {
            Some(t) if obj.is_empty() => t.to_string(),
            _ => return Err(Failure(ApiError::bad_request("api_key is required"))),
        },
    };
    Ok(Reply::ok(s.service.validate_api_key(&token).await?))
}
