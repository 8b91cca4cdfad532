//! Services: one function per operation, `(scope, input) -> Result<output, ApiError>`, used by
//! the REST handlers (and later MCP tools) alike. Every query is filtered by the caller's account.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod account;
pub mod api_keys;
pub mod crm;
pub mod deal_data;
pub mod deals;
pub mod directory;
pub mod notes;
pub mod placements;

use std::sync::Arc;

use levd_domain::ApiError;
use levd_domain::limits::RateLimitConfig;
use levd_store::{Store, StoreError};
use serde_json::Value;

/// A page of a list: the items and the `pagination` object.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Value>,
    pub pagination: Value,
}

/// Called after a change that must invalidate cached credentials on this node.
pub type CredentialsChanged = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
pub struct Service {
    pub store: Store,
    pub limits: Arc<RateLimitConfig>,
    /// Directory holding document files.
    pub data_dir: Arc<std::path::PathBuf>,
    credentials_changed: CredentialsChanged,
}

impl Service {
    pub fn new(store: Store, limits: Arc<RateLimitConfig>, credentials_changed: CredentialsChanged) -> Service {
        Service { store, limits, data_dir: Arc::new("lev-data".into()), credentials_changed }
    }

    /// Uses `dir` for document files.
    pub fn with_data_dir(mut self, dir: std::path::PathBuf) -> Service {
        self.data_dir = Arc::new(dir);
        self
    }

    pub(crate) fn credentials_changed(&self) {
        (self.credentials_changed)()
    }

    /// `GET /health` (`docs/api.md#health`): `Err` when the database cannot be reached.
    pub async fn health(&self) -> Result<(), ApiError> {
        self.store.ping().await.map_err(|e| {
            tracing::error!(error = %e, "health check: database unavailable");
            ApiError::unavailable("Database unavailable")
        })
    }
}

/// Logs a store failure and hides it behind a generic 500.
/// Text a backend refused to store (a NUL that slipped past input validation) is the
/// client's fault: a `422`, never a `500`.
pub(crate) fn internal(e: StoreError) -> ApiError {
    if matches!(e, StoreError::UnstorableText) {
        tracing::warn!("the database refused text of a request (NUL character)");
        return ApiError::invalid_field("body", levd_domain::input::NUL_PROBLEM);
    }
    tracing::error!(error = %e, "store failure");
    ApiError::internal()
}

/// Cursor-mode pagination object.
pub(crate) fn cursor_pagination(
    total: i64,
    limit: u32,
    cursor: Option<&str>,
    has_more: bool,
    next: Option<String>,
) -> Value {
    serde_json::json!({
        "total": total,
        "limit": limit,
        "cursor": cursor,
        "has_more": has_more,
        "next_cursor": next,
    })
}

/// Offset-mode pagination object.
pub(crate) fn offset_pagination(total: i64, limit: u32, offset: u64, has_more: bool) -> Value {
    serde_json::json!({ "total": total, "limit": limit, "offset": offset, "has_more": has_more })
}
