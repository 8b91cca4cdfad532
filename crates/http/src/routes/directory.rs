//! `/lenders/directory`, `/lenders/{org_id}`, `/lenders/{org_id}/programs`, and the market
//! data under `/market`: read-only, global reference data.
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;

use super::{Ctx, path_id};
use crate::AppState;
use crate::envelope::{HandlerResult, Reply};

pub fn router() -> Router<AppState> {
    Router::new()
        // The literal segment wins over `{org_id}`, so `directory` is never read as an id.
        .route("/lenders/directory", get(directory))
        .route("/lenders/{org_id}", get(lender))
        .route("/lenders/{org_id}/programs", get(programs))
        .route("/market/base-rates", get(base_rates))
        .route("/market/asset-types", get(asset_types))
}

async fn directory(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).list_lender_directory(ctx.scope()?, q.as_deref()).await?))
}

async fn lender(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(ctx.service(&s).get_lender(scope, path_id(&id)).await?))
}

async fn programs(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, RawQuery(q): RawQuery) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::page(ctx.service(&s).list_lender_programs(scope, path_id(&id), q.as_deref()).await?))
}

async fn base_rates(State(s): State<AppState>, ctx: Ctx) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).list_base_rates(ctx.scope()?).await?))
}

async fn asset_types(State(s): State<AppState>, ctx: Ctx) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).list_asset_types(ctx.scope()?).await?))
}
