//! Handlers, one module per resource; each exposes its routes through `router()`.
mod account;
mod api_keys;
mod crm;
mod deal_data;
mod deals;
mod directory;
pub mod docs;
pub mod health;
mod placements;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::response::Response;
use http::request::Parts;
use levd_domain::ApiError;
use levd_domain::scope::AccountScope;

use crate::AppState;
use crate::envelope::{Failure, error_response};
use crate::middleware::{Caller, UnitService};
use levd_service::Service;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(account::router())
        .merge(api_keys::router())
        .merge(deals::router())
        .merge(crm::router())
        .merge(placements::router())
        .merge(deal_data::router())
        .merge(directory::router())
        .merge(docs::router())
}

pub async fn not_found() -> Response {
    error_response(ApiError::not_found("Route not found"))
}

/// The caller as resolved by the request path, and the service bound to the request's unit of
/// work when it has one (a write with an `Idempotency-Key`, `docs/api.md#idempotency`).
pub struct Ctx(pub Caller, Option<Service>);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let caller = parts.extensions.remove::<Caller>().ok_or_else(|| Failure(ApiError::internal()))?;
        let unit = parts.extensions.remove::<UnitService>().map(|u| u.0);
        Ok(Ctx(caller, unit))
    }
}

impl Ctx {
    /// The service this request runs on: bound to its unit of work, or the shared one.
    pub fn service<'a>(&'a self, state: &'a AppState) -> &'a Service {
        self.1.as_ref().unwrap_or(&state.service)
    }

    /// The resolved account; the request path guarantees it on account routes.
    pub fn scope(&self) -> Result<&AccountScope, Failure> {
        self.0.scope.as_ref().ok_or_else(|| Failure(ApiError::bad_request(levd_auth::MSG_ACTIVE_ACCOUNT_REQUIRED)))
    }

    pub fn user_id(&self) -> Result<i64, Failure> {
        self.0.principal.as_ref().map(|p| p.user_id()).ok_or_else(|| Failure(ApiError::internal()))
    }
}

/// A numeric id from the path. Anything else names no resource, so it becomes id 0, which
/// never exists: the service then answers 404 after its scope check, as for any missing id.
pub fn path_id(raw: &str) -> i64 {
    raw.parse::<i64>().ok().filter(|id| *id > 0).unwrap_or(0)
}
