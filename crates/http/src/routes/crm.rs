//! `/contacts`, `/companies` (with their notes), the contact unlock action and `/billing`.
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
        .route("/contacts", get(list_contacts).post(create_contact))
        .route("/contacts/{contact_id}", get(read_contact).patch(update_contact))
        .route("/contacts/{contact_id}/actions/unlock", post(unlock_contact))
        .route("/contacts/{contact_id}/notes", get(list_contact_notes).post(create_contact_note))
        .route("/contacts/{contact_id}/notes/{note_id}", patch(update_contact_note).delete(delete_contact_note))
        .route("/companies", get(list_companies).post(create_company))
        .route("/companies/{company_id}", get(read_company).patch(update_company))
        .route("/companies/{company_id}/notes", get(list_company_notes).post(create_company_note))
        .route("/companies/{company_id}/notes/{note_id}", patch(update_company_note).delete(delete_company_note))
        .route("/billing/summary", get(billing_summary))
        .route("/billing/credits/balance", get(credit_balance))
}

// --- contacts ------------------------------------------------------------------------------

async fn list_contacts(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).list_contacts(ctx.scope()?, q.as_deref()).await?))
}

async fn create_contact(State(s): State<AppState>, ctx: Ctx, body: Bytes) -> HandlerResult {
    Ok(Reply::created(ctx.service(&s).create_contact(ctx.scope()?, &body).await?))
}

async fn read_contact(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).get_contact(ctx.scope()?, path_id(&id)).await?))
}

async fn update_contact(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).update_contact(ctx.scope()?, path_id(&id), &body).await?))
}

/// Takes no body; one sent anyway is ignored.
async fn unlock_contact(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).unlock_contact(ctx.scope()?, path_id(&id)).await?))
}

async fn list_contact_notes(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    let (scope, contact) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).contact_for_notes(scope, contact, false).await?;
    Ok(Reply::page(ctx.service(&s).list_notes(scope, NoteParent::Contact, contact, q.as_deref()).await?))
}

async fn create_contact_note(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> HandlerResult {
    let (scope, contact) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).contact_for_notes(scope, contact, true).await?;
    Ok(Reply::created(ctx.service(&s).create_note(scope, NoteParent::Contact, contact, &body).await?))
}

async fn update_contact_note(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, note)): Path<(String, String)>,
    body: Bytes,
) -> HandlerResult {
    let (scope, contact) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).contact_for_notes(scope, contact, true).await?;
    Ok(Reply::ok(ctx.service(&s).update_note(scope, NoteParent::Contact, contact, path_id(&note), &body).await?))
}

async fn delete_contact_note(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, note)): Path<(String, String)>,
) -> HandlerResult {
    let (scope, contact) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).contact_for_notes(scope, contact, true).await?;
    Ok(Reply::ok(ctx.service(&s).delete_note(scope, NoteParent::Contact, contact, path_id(&note)).await?))
}

// --- companies -----------------------------------------------------------------------------

async fn list_companies(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> HandlerResult {
    Ok(Reply::page(ctx.service(&s).list_companies(ctx.scope()?, q.as_deref()).await?))
}

async fn create_company(State(s): State<AppState>, ctx: Ctx, body: Bytes) -> HandlerResult {
    Ok(Reply::created(ctx.service(&s).create_company(ctx.scope()?, &body).await?))
}

async fn read_company(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).get_company(ctx.scope()?, path_id(&id)).await?))
}

async fn update_company(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).update_company(ctx.scope()?, path_id(&id), &body).await?))
}

async fn list_company_notes(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    let (scope, company) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).company_for_notes(scope, company, false).await?;
    Ok(Reply::page(ctx.service(&s).list_notes(scope, NoteParent::Company, company, q.as_deref()).await?))
}

async fn create_company_note(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> HandlerResult {
    let (scope, company) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).company_for_notes(scope, company, true).await?;
    Ok(Reply::created(ctx.service(&s).create_note(scope, NoteParent::Company, company, &body).await?))
}

async fn update_company_note(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, note)): Path<(String, String)>,
    body: Bytes,
) -> HandlerResult {
    let (scope, company) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).company_for_notes(scope, company, true).await?;
    Ok(Reply::ok(ctx.service(&s).update_note(scope, NoteParent::Company, company, path_id(&note), &body).await?))
}

async fn delete_company_note(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, note)): Path<(String, String)>,
) -> HandlerResult {
    let (scope, company) = (ctx.scope()?, path_id(&id));
    ctx.service(&s).company_for_notes(scope, company, true).await?;
    Ok(Reply::ok(ctx.service(&s).delete_note(scope, NoteParent::Company, company, path_id(&note)).await?))
}

// --- billing -------------------------------------------------------------------------------

async fn billing_summary(State(s): State<AppState>, ctx: Ctx) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).billing_summary(ctx.scope()?).await?))
}

async fn credit_balance(State(s): State<AppState>, ctx: Ctx) -> HandlerResult {
    Ok(Reply::ok(ctx.service(&s).credit_balance(ctx.scope()?).await?))
}
