//! `/deals` and its sub-resources.
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;

use levd_service::notes::NoteParent;

use super::{Ctx, path_id};
use crate::AppState;
use crate::envelope::{HandlerResult, Reply};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deals", get(list).post(create))
        .route("/deals/{deal_id}", get(read).patch(update).delete(archive))
        .route("/deals/{deal_id}/financials", get(financials))
        .merge(notes_router())
}

async fn list(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).list_deals(ctx.scope()?, q.as_deref()).await?))
}

async fn create(State(s): State<AppState>, ctx: Ctx, body: Bytes) -> HandlerResult {
    Ok(Reply::created(ctx.service(&s).create_deal(ctx.scope()?, &body).await?))
}

async fn read(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, RawQuery(q): RawQuery) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(ctx.service(&s).get_deal(scope, path_id(&id), q.as_deref()).await?))
}

async fn update(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(ctx.service(&s).update_deal(scope, path_id(&id), &body).await?))
}

async fn archive(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(ctx.service(&s).archive_deal(scope, path_id(&id)).await?))
}

async fn financials(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(ctx.service(&s).deal_financials(scope, path_id(&id)).await?))
}

/// `/deals/{deal_id}/notes` and `/deals/{deal_id}/notes/{note_id}`.
pub fn notes_router() -> Router<AppState> {
    Router::new()
        .route("/deals/{deal_id}/notes", get(list_notes).post(create_note))
        .route("/deals/{deal_id}/notes/{note_id}", axum::routing::patch(update_note).delete(delete_note))
}

async fn list_notes(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    let (scope, deal) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).deal_for_notes(scope, deal, false).await?;
    Ok(Reply::page(ctx.service(&s).list_notes(scope, NoteParent::Deal, deal, q.as_deref()).await?))
}

async fn create_note(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> HandlerResult {
    let (scope, deal) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).deal_for_notes(scope, deal, true).await?;
    Ok(Reply::created(ctx.service(&s).create_note(scope, NoteParent::Deal, deal, &body).await?))
}

async fn update_note(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, note)): Path<(String, String)>,
    body: Bytes,
) -> HandlerResult {
    let (scope, deal) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).deal_for_notes(scope, deal, true).await?;
    Ok(Reply::ok(ctx.service(&s).update_note(scope, NoteParent::Deal, deal, path_id(&note), &body).await?))
}

async fn delete_note(State(s): State<AppState>, ctx: Ctx, Path((id, note)): Path<(String, String)>) -> HandlerResult {
    let (scope, deal) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).deal_for_notes(scope, deal, true).await?;
    Ok(Reply::ok(ctx.service(&s).delete_note(scope, NoteParent::Deal, deal, path_id(&note)).await?))
}
