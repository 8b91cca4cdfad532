//! The MCP server at `/mcp` (`docs/auth.md#mcp`): Streamable HTTP through the `rmcp` SDK, in
//! stateless mode with JSON answers, so every request stands alone and any levd node behind a
//! load balancer can serve any request of a client. In front of the SDK: bearer
//! authentication (`auth`), and a layer that turns the SDK's plain-text refusals into JSON.
//! The tools themselves (`tools`) are thin wrappers over the same service functions REST uses.
pub mod auth;
pub mod breaker;
pub(crate) mod tools;

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use http_body_util::BodyExt;
use levd_domain::{ApiError, ErrorKind};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

pub use auth::McpCaller;
pub use tools::rest_body_schemas;

use crate::AppState;
use crate::envelope::error_response;
use crate::middleware::MAX_BODY;

const INSTRUCTIONS: &str = "Deals, contacts, companies, placements, term sheets, pipelines, deal documents and \
     market data of the signed-in Lev user's account. Every tool answers with JSON text; lists carry total, \
     showing and has_more. Users who belong to several accounts pick one with list_available_accounts and \
     switch_account. Write tools change data: confirm with the user before running them.";

/// The `/mcp` endpoint as one service, ready for `Router::route_service`.
pub fn service(state: &AppState) -> BoxCloneSyncService<Request, Response, Infallible> {
    let site = &state.site;
    // An empty list would switch the SDK's Host check off; keep its loopback default instead.
    let mut config = StreamableHttpServerConfig::default();
    if !site.mcp_allowed_hosts.is_empty() {
        config = config.with_allowed_hosts(site.mcp_allowed_hosts.iter().cloned());
    }
    let config = config
        .with_allowed_origins(site.mcp_allowed_origins.iter().map(|o| exact_origin(o)))
        .enforce_origin_validation()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(MAX_BODY);
    let handler = LevdMcp { state: state.clone() };
    let mcp = StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(NeverSessionManager::default()), config);
    let svc = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(json_refusals))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_bearer))
        .layer(axum::middleware::from_fn(parse_errors))
        .service(mcp);
    BoxCloneSyncService::new(svc)
}

/// An origin with its port spelled out: `https://lev.example.com` means port 443 only (RFC 6454),
/// while the SDK reads a port-less entry as any port. `null` and `…:*` entries stay as they are.
fn exact_origin(origin: &str) -> String {
    match url::Url::parse(origin) {
        Ok(u) if u.port().is_none() && !origin.ends_with(":*") => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", u.scheme()),
            _ => origin.to_string(),
        },
        _ => origin.to_string(),
    }
}

/// The SDK answers transport-level refusals (a `Host` or `Origin` that is not allowed, a
/// missing `Accept`, a wrong method) in plain text; levd answers every error in JSON.
async fn json_refusals(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = http_body_util::Limited::new(body, 4096).collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let message = plain_message(status, &text);
    let mut out = error_response(ApiError::new(ErrorKind::from_status(status.as_u16()), message));
    // Keep what the SDK said about the method (`Allow`) and the like.
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != http::header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// A JSON body that is not JSON is a JSON-RPC parse error (code -32700, HTTP 400), which the SDK
/// would answer as an unsupported media type. Other bodies go on to the SDK as they came.
async fn parse_errors(req: Request, next: Next) -> Response {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if req.method() != http::Method::POST || !is_json {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            let err = if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                ApiError::new(ErrorKind::PayloadTooLarge, "Request body exceeds the 1 MiB limit")
            } else {
                ApiError::bad_request("The request body could not be read")
            };
            return error_response(err);
        }
    };
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": -32700, "message": format!("Parse error: the body is not valid JSON ({e})") },
        });
        let mut r = Response::new(axum::body::Body::from(body.to_string()));
        *r.status_mut() = StatusCode::BAD_REQUEST;
        r.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        r.extensions_mut().insert(crate::envelope::Rendered);
        return r;
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// The SDK's text without its leading reason phrase (`Forbidden: Origin header is not allowed`).
fn plain_message(status: StatusCode, text: &str) -> String {
    let text = text.trim();
    let reason = status.canonical_reason().unwrap_or_default();
    let text = text.strip_prefix(reason).and_then(|t| t.strip_prefix(':')).map_or(text, str::trim);
    if text.is_empty() { reason.to_string() } else { text.chars().take(300).collect() }
}

/// `GET /health`: the MCP server's own health (`docs/auth.md#mcp`), distinct from the REST
/// `GET /api/external/v2/health`. `lev_api` says whether the data behind the tools (the
/// database) answers; `503` when it does not. Limited per client address like the REST one.
pub async fn health(axum::extract::State(state): axum::extract::State<AppState>, req: Request) -> Response {
    use axum::response::IntoResponse;
    if state.limits.enabled {
        let bucket = crate::ratelimit::Bucket {
            key: format!("ip:health:{}", crate::middleware::client_ip(&req)),
            per_minute: state.limits.health_per_ip,
            limit_type: "ip",
        };
        if state.limiter.check(std::slice::from_ref(&bucket)).await.is_err() {
            return error_response(ApiError::new(ErrorKind::RateLimited, "Too many health checks from this address"));
        }
    }
    let reachable = state.service.health().await == levd_store::DbState::Ok;
    let breaker = state.mcp_breaker.phase();
    let ok = reachable && breaker == breaker::Phase::Closed;
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "lev_api": if reachable { "reachable" } else { "unreachable" },
        "circuit_breaker": breaker.as_str(),
    });
    let status = if reachable { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut r = (status, axum::Json(body)).into_response();
    r.extensions_mut().insert(crate::envelope::Rendered);
    r
}

/// The MCP server handler: server information and the tool catalogue.
#[derive(Clone)]
struct LevdMcp {
    state: AppState,
}

impl ServerHandler for LevdMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("levd", env!("CARGO_PKG_VERSION")).with_title("levd (Lev API)"))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::tools().to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools::tools().iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<McpCaller>())
            .cloned()
            .ok_or_else(|| ErrorData::internal_error("the request carries no authenticated caller", None))?;
        tools::call(&self.state, &caller, request).await.map(CallToolResponse::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_name_their_port() {
        assert_eq!(exact_origin("https://lev.example.com"), "https://lev.example.com:443");
        assert_eq!(exact_origin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(exact_origin("http://localhost:*"), "http://localhost:*");
        assert_eq!(exact_origin("null"), "null");
    }

    #[test]
    fn sdk_refusals_lose_their_reason_phrase() {
        assert_eq!(
            plain_message(StatusCode::FORBIDDEN, "Forbidden: Origin header is not allowed"),
            "Origin header is not allowed"
        );
        assert_eq!(plain_message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"), "Method Not Allowed");
        assert_eq!(plain_message(StatusCode::BAD_REQUEST, ""), "Bad Request");
    }
}
