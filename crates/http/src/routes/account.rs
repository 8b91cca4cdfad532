//! `/me`, `/me/accounts`, `/me/active-account`, `/account/team`.
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::routing::{get, patch};

use super::Ctx;
use crate::AppState;
use crate::envelope::{HandlerResult, Reply};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/me/accounts", get(my_accounts))
        .route("/me/active-account", patch(set_active_account))
        .route("/account/team", get(team))
}

async fn me(State(s): State<AppState>, ctx: Ctx) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).me(ctx.user_id()?, ctx.0.scope.as_ref()).await?))
}

async fn my_accounts(State(s): State<AppState>, ctx: Ctx) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).my_accounts(ctx.user_id()?, ctx.0.scope.as_ref()).await?))
}

async fn set_active_account(State(s): State<AppState>, ctx: Ctx, body: Bytes) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).set_active_account(ctx.user_id()?, ctx.0.scope.as_ref(), &body).await?))
}

async fn team(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).team(ctx.scope()?, q.as_deref()).await?))
}
