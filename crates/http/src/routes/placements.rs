//! `/placements` (with notes), `/deals/{deal_id}/term-sheets`, `/pipelines`, and the deal
//! sub-resources `/deals/{deal_id}/pipeline`, `/properties` and `/team`.
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, patch, post};

use levd_service::notes::NoteParent;

use super::{Ctx, path_id};
use crate::AppState;
use crate::envelope::{HandlerResult, Reply};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/placements", get(list_placements).post(create_placement))
        .route("/placements/{placement_id}", get(read_placement).patch(update_placement))
        .route("/placements/{placement_id}/notes", get(list_notes).post(create_note))
        .route("/placements/{placement_id}/notes/{note_id}", patch(update_note).delete(delete_note))
        .route("/deals/{deal_id}/term-sheets", get(list_term_sheets).post(create_term_sheet))
        .route(
            "/deals/{deal_id}/term-sheets/{term_sheet_id}",
            get(read_term_sheet).patch(update_term_sheet).delete(delete_term_sheet),
        )
        .route("/pipelines", get(list_pipelines))
        .route("/pipelines/{pipeline_id}", get(read_pipeline))
        .route("/deals/{deal_id}/pipeline", post(move_deal))
        .route("/deals/{deal_id}/properties", get(properties))
        .route("/deals/{deal_id}/team", get(team))
}

// ---------------------------------------------------------------------------------------------
// Placements

async fn list_placements(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).list_placements(ctx.scope()?, q.as_deref()).await?))
}

async fn create_placement(State(s): State<AppState>, ctx: Ctx, body: Bytes) -> HandlerResult {
    Ok(Reply::created(ctx.service(&s).create_placement(ctx.scope()?, &body).await?))
}

async fn read_placement(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).get_placement(ctx.scope()?, path_id(&id)).await?))
}

async fn update_placement(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).update_placement(ctx.scope()?, path_id(&id), &body).await?))
}

async fn list_notes(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    let (scope, placement) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).placement_for_notes(scope, placement, false).await?;
    Ok(Reply::page(ctx.service(&s).list_notes(scope, NoteParent::Placement, placement, q.as_deref()).await?))
}

async fn create_note(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> HandlerResult {
    let (scope, placement) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).placement_for_notes(scope, placement, true).await?;
    Ok(Reply::created(ctx.service(&s).create_note(scope, NoteParent::Placement, placement, &body).await?))
}

async fn update_note(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, note)): Path<(String, String)>,
    body: Bytes,
) -> HandlerResult {
    let (scope, placement) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).placement_for_notes(scope, placement, true).await?;
    Ok(Reply::ok(ctx.service(&s).update_note(scope, NoteParent::Placement, placement, path_id(&note), &body).await?))
}

async fn delete_note(State(s): State<AppState>, ctx: Ctx, Path((id, note)): Path<(String, String)>) -> HandlerResult {
    let (scope, placement) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).placement_for_notes(scope, placement, true).await?;
    Ok(Reply::ok(ctx.service(&s).delete_note(scope, NoteParent::Placement, placement, path_id(&note)).await?))
}

// ---------------------------------------------------------------------------------------------
// Term sheets

async fn list_term_sheets(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(deal): Path<String>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).list_term_sheets(ctx.scope()?, path_id(&deal), q.as_deref()).await?))
}

async fn create_term_sheet(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(deal): Path<String>,
    body: Bytes,
) -> HandlerResult {
    Ok(Reply::created(ctx.service(&s).create_term_sheet(ctx.scope()?, path_id(&deal), &body).await?))
}

async fn read_term_sheet(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((deal, id)): Path<(String, String)>,
) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).get_term_sheet(ctx.scope()?, path_id(&deal), path_id(&id)).await?))
}

async fn update_term_sheet(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((deal, id)): Path<(String, String)>,
    body: Bytes,
) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).update_term_sheet(ctx.scope()?, path_id(&deal), path_id(&id), &body).await?))
}

async fn delete_term_sheet(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((deal, id)): Path<(String, String)>,
) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).delete_term_sheet(ctx.scope()?, path_id(&deal), path_id(&id)).await?))
}

// ---------------------------------------------------------------------------------------------
// Pipelines and deal sub-resources

async fn list_pipelines(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).list_pipelines(ctx.scope()?, q.as_deref()).await?))
}

async fn read_pipeline(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).get_pipeline(ctx.scope()?, path_id(&id)).await?))
}

async fn move_deal(State(s): State<AppState>, ctx: Ctx, Path(deal): Path<String>, body: Bytes) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).move_deal_to_pipeline(ctx.scope()?, path_id(&deal), &body).await?))
}

async fn properties(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(deal): Path<String>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).deal_properties(ctx.scope()?, path_id(&deal), q.as_deref()).await?))
}

async fn team(State(s): State<AppState>, ctx: Ctx, Path(deal): Path<String>, RawQuery(q): RawQuery) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).deal_team(ctx.scope()?, path_id(&deal), q.as_deref()).await?))
}
