//! `/deals` and its sub-resources.
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;

use super::{Ctx, path_id};
use crate::AppState;
use crate::envelope::{HandlerResult, Reply};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deals", get(list).post(create))
        .route("/deals/{deal_id}", get(read).patch(update).delete(archive))
        .route("/deals/{deal_id}/financials", get(financials))
}

async fn list(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> HandlerResult {
    Ok(Reply::page(s.service.list_deals(ctx.scope()?, q.as_deref()).await?))
}

async fn create(State(s): State<AppState>, ctx: Ctx, body: Bytes) -> HandlerResult {
    Ok(Reply::created(s.service.create_deal(ctx.scope()?, &body).await?))
}

async fn read(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, RawQuery(q): RawQuery) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(s.service.get_deal(scope, path_id(&id), q.as_deref()).await?))
}

async fn update(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(s.service.update_deal(scope, path_id(&id), &body).await?))
}

async fn archive(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(s.service.archive_deal(scope, path_id(&id)).await?))
}

async fn financials(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(s.service.deal_financials(scope, path_id(&id)).await?))
}
