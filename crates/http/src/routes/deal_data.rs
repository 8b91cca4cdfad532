//! Deal data routes: the deal index, memos, vaults, documents and downloads, checklists,
//! checklist tasks and their notes, and `GET /files/{token}`, which serves the signed links the
//! others hand out.
//!
//! Signed links are absolute URLs. With `--public-url` they are built on that URL and nothing in
//! the request changes them. Without it they are built from the request itself: the scheme is
//! `https` when the request carries `X-Forwarded-Proto: https` (levd behind a TLS proxy), else
//! `http`; the host is the request's `Host` header (or HTTP/2 authority), reduced to a bare host
//! and port. A client therefore gets links on the host it called; a proxy in front of levd must
//! pass `Host` through unchanged, and a deployment reachable under names it does not control
//! should set `--public-url`.
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::{get, patch, post};
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri};
use levd_domain::ApiError;
use levd_domain::deal_data::content_disposition;
use levd_service::notes::NoteParent;

use super::{Ctx, path_id};
use crate::envelope::{HandlerResult, Reply, error_response};
use crate::middleware::PREFIX;
use crate::{AppState, Site};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deals/{deal_id}/index/search", post(index_search))
        .route("/deals/{deal_id}/index/observations", post(index_observations))
        .route("/deals/{deal_id}/index/facts", post(record_facts).patch(update_fact))
        .route("/deals/{deal_id}/index/metric-definitions", get(metric_definitions))
        .route("/deals/{deal_id}/index/entities", get(index_entities))
        .route("/deals/{deal_id}/memos", get(list_memos))
        .route("/deals/{deal_id}/memos/{memo_uuid}", get(get_memo))
        .route("/deals/{deal_id}/vaults", get(list_vaults))
        .route("/deals/{deal_id}/documents", get(list_documents))
        .route("/deals/{deal_id}/documents/{document_id}", get(get_document))
        .route("/deals/{deal_id}/documents/{document_id}/download", get(download))
        .route("/deals/{deal_id}/checklists", get(list_checklists))
        .route("/checklist-tasks", post(create_task))
        .route("/checklist-tasks/{task_id}", patch(update_task))
        .route("/checklist-tasks/{task_id}/complete", post(complete_task))
        .route("/checklist-tasks/{task_id}/notes", get(list_notes).post(create_note))
        .route("/checklist-tasks/{task_id}/notes/{note_id}", patch(update_note).delete(delete_note))
        .route("/files/{token}", get(file))
}

/// A host as it may appear in a URL: name or address and an optional port, nothing else, so a
/// forged `Host` cannot smuggle a path or a second URL into the links.
fn clean_host(host: &str) -> Option<&str> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then_some(host)
}

/// The API root signed links are built on: the configured public URL's, else the one this client
/// reached, e.g. `http://127.0.0.1:8080/api/external/v2`.
fn api_base(site: &Site, headers: &HeaderMap, uri: &Uri) -> String {
    if site.public_url_configured {
        return format!("{}{PREFIX}", site.public_url);
    }
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(clean_host)
        .or_else(|| uri.authority().map(|a| a.as_str()).and_then(clean_host))
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    format!("{}://{host}{PREFIX}", if https { "https" } else { "http" })
}

// --- deal index

async fn index_search(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(deal): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::page(
        ctx.service(&s).search_index(scope, path_id(&deal), &body, &api_base(&s.site, &headers, &uri)).await?,
    ))
}

async fn index_observations(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(deal): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::page(
        ctx.service(&s).list_observations(scope, path_id(&deal), &body, &api_base(&s.site, &headers, &uri)).await?,
    ))
}

async fn record_facts(State(s): State<AppState>, ctx: Ctx, Path(deal): Path<String>, body: Bytes) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(ctx.service(&s).record_facts(scope, path_id(&deal), &body).await?))
}

async fn update_fact(State(s): State<AppState>, ctx: Ctx, Path(deal): Path<String>, body: Bytes) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(ctx.service(&s).update_fact(scope, path_id(&deal), &body).await?))
}

async fn metric_definitions(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(deal): Path<String>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::page(ctx.service(&s).metric_definitions(scope, path_id(&deal), q.as_deref()).await?))
}

async fn index_entities(State(s): State<AppState>, ctx: Ctx, Path(deal): Path<String>) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::page(ctx.service(&s).index_entities(scope, path_id(&deal)).await?))
}

// --- memos

async fn list_memos(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(deal): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    uri: Uri,
) -> HandlerResult {
    let scope = ctx.scope()?;
    let base = api_base(&s.site, &headers, &uri);
    Ok(Reply::page(ctx.service(&s).list_memos(scope, path_id(&deal), q.as_deref(), &base).await?))
}

async fn get_memo(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((deal, memo)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    uri: Uri,
) -> HandlerResult {
    let scope = ctx.scope()?;
    let base = api_base(&s.site, &headers, &uri);
    Ok(Reply::ok(ctx.service(&s).get_memo(scope, path_id(&deal), &memo, q.as_deref(), &base).await?))
}

// --- vaults and documents

async fn list_vaults(State(s): State<AppState>, ctx: Ctx, Path(deal): Path<String>) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::page(ctx.service(&s).list_vaults(scope, path_id(&deal)).await?))
}

async fn list_documents(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(deal): Path<String>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::page(ctx.service(&s).list_documents(scope, path_id(&deal), q.as_deref()).await?))
}

async fn get_document(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((deal, doc)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(ctx.service(&s).get_document(scope, path_id(&deal), path_id(&doc), q.as_deref()).await?))
}

async fn download(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((deal, doc)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> HandlerResult {
    let scope = ctx.scope()?;
    let base = api_base(&s.site, &headers, &uri);
    Ok(Reply::ok(ctx.service(&s).document_download(scope, path_id(&deal), path_id(&doc), &base).await?))
}

/// `GET /files/{token}`: the bytes of a signed link, or the error envelope.
async fn file(State(s): State<AppState>, Path(token): Path<String>) -> Response {
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

// --- checklists and tasks

async fn list_checklists(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(deal): Path<String>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::page(ctx.service(&s).list_checklists(scope, path_id(&deal), q.as_deref()).await?))
}

async fn create_task(State(s): State<AppState>, ctx: Ctx, body: Bytes) -> HandlerResult {
    Ok(Reply::created(ctx.service(&s).create_task(ctx.scope()?, &body).await?))
}

async fn update_task(State(s): State<AppState>, ctx: Ctx, Path(task): Path<String>, body: Bytes) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(ctx.service(&s).update_task(scope, path_id(&task), &body).await?))
}

async fn complete_task(State(s): State<AppState>, ctx: Ctx, Path(task): Path<String>) -> HandlerResult {
    let scope = ctx.scope()?;
    Ok(Reply::ok(ctx.service(&s).complete_task(scope, path_id(&task)).await?))
}

// --- task notes (the shared notes service)

async fn list_notes(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(task): Path<String>,
    RawQuery(q): RawQuery,
) -> HandlerResult {
    let (scope, task) = (ctx.scope()?, path_id(&task));
    ctx.service(&s).task_for_notes(scope, task, false).await?;
    Ok(Reply::page(ctx.service(&s).list_notes(scope, NoteParent::ChecklistTask, task, q.as_deref()).await?))
}

async fn create_note(State(s): State<AppState>, ctx: Ctx, Path(task): Path<String>, body: Bytes) -> HandlerResult {
    let (scope, task) = (ctx.scope()?, path_id(&task));
    ctx.service(&s).task_for_notes(scope, task, true).await?;
    Ok(Reply::created(ctx.service(&s).create_note(scope, NoteParent::ChecklistTask, task, &body).await?))
}

async fn update_note(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((task, note)): Path<(String, String)>,
    body: Bytes,
) -> HandlerResult {
    let (scope, task) = (ctx.scope()?, path_id(&task));
    ctx.service(&s).task_for_notes(scope, task, true).await?;
    Ok(Reply::ok(ctx.service(&s).update_note(scope, NoteParent::ChecklistTask, task, path_id(&note), &body).await?))
}

async fn delete_note(State(s): State<AppState>, ctx: Ctx, Path((task, note)): Path<(String, String)>) -> HandlerResult {
    let (scope, task) = (ctx.scope()?, path_id(&task));
    ctx.service(&s).task_for_notes(scope, task, true).await?;
    Ok(Reply::ok(ctx.service(&s).delete_note(scope, NoteParent::ChecklistTask, task, path_id(&note)).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_use_the_request_host_and_refuse_odd_ones() {
        let mut h = HeaderMap::new();
        let uri: Uri = "/x".parse().unwrap_or_default();
        h.insert(HOST, HeaderValue::from_static("api.example.test:8443"));
        let derived = Site::at("http://127.0.0.1:8080");
        assert_eq!(api_base(&derived, &h, &uri), "http://api.example.test:8443/api/external/v2");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(api_base(&derived, &h, &uri), "https://api.example.test:8443/api/external/v2");
        h.insert(HOST, HeaderValue::from_static("evil.test/phish?"));
        assert_eq!(api_base(&derived, &h, &uri), "https://localhost/api/external/v2");
    }

    #[test]
    fn a_configured_public_url_wins_over_host_and_forwarded_proto() {
        let mut site = Site::at("https://lev.example.com/");
        site.public_url_configured = true;
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("evil.test"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        let uri: Uri = "http://evil.test/x".parse().unwrap_or_default();
        assert_eq!(api_base(&site, &h, &uri), "https://lev.example.com/api/external/v2");
    }
}
