//! The routes with answers of their own (the health check, the OpenAPI document and its page,
//! signed file links), and the extractor every operation's handler uses. The operations
//! themselves are rows of `crate::operations`.
pub mod docs;
pub mod files;
pub mod health;

use axum::extract::FromRequestParts;
use axum::response::Response;
use http::request::Parts;
use levd_domain::ApiError;

use crate::AppState;
use crate::envelope::{Failure, error_response};
use crate::middleware::{Caller, UnitService};
use levd_service::Service;

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
}

/// A numeric id from the path. Anything else names no resource, so it becomes id 0, which
/// never exists: the service then answers 404 after its scope check, as for any missing id.
pub fn path_id(raw: &str) -> i64 {
    raw.parse::<i64>().ok().filter(|id| *id > 0).unwrap_or(0)
}
