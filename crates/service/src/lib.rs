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
mod records;
pub mod shape;

use std::sync::Arc;

use levd_domain::ApiError;
use levd_domain::limits::RateLimitConfig;
use levd_store::Store;
use serde_json::Value;

/// A page of a list: the items and the `pagination` object.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Items,
    pub pagination: Value,
}

/// The items of a page: JSON values, or the array already written from typed records (see
/// [`shape::Shaped`]), which the REST answer embeds as it is.
#[derive(Debug, Clone)]
pub enum Items {
    Values(Vec<Value>),
    Written(Box<serde_json::value::RawValue>),
}

impl Items {
    /// The items as JSON values (reads a written array back).
    pub fn into_values(self) -> Vec<Value> {
        match self {
            Items::Values(v) => v,
            Items::Written(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
        }
    }
}

impl From<Vec<Value>> for Items {
    fn from(v: Vec<Value>) -> Items {
        Items::Values(v)
    }
}

/// A single-record answer: a JSON value, or the record already written from its type (see
/// [`shape::Shaped`]), which the REST answer embeds as it is.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum Record {
    Value(Value),
    Written(Box<serde_json::value::RawValue>),
}

impl Record {
    /// The record as a JSON value (reads a written record back).
    pub fn into_value(self) -> Value {
        match self {
            Record::Value(v) => v,
            Record::Written(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

impl From<Value> for Record {
    fn from(v: Value) -> Record {
        Record::Value(v)
    }
}

/// `value` written as JSON text; `what` names it in the log should that ever fail (no record
/// type of levd fails to serialise).
pub(crate) fn write<T: serde::Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<Box<serde_json::value::RawValue>, ApiError> {
    serde_json::value::to_raw_value(value).map_err(|e| {
        tracing::error!(error = %e, what, "cannot write an answer");
        ApiError::internal()
    })
}

/// A record written from its type.
pub(crate) fn written_record<T: serde::Serialize + ?Sized>(what: &'static str, value: &T) -> Result<Record, ApiError> {
    write(what, value).map(Record::Written)
}

/// The items of a page written from their type.
pub(crate) fn written_items<T: serde::Serialize>(what: &'static str, items: &[T]) -> Result<Items, ApiError> {
    write(what, items).map(Items::Written)
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
    /// The last database check and when it was made (see `readiness`).
    last_check: Arc<tokio::sync::Mutex<Option<(std::time::Instant, Readiness)>>>,
}

/// How long the database check may take before it answers "unavailable". Health and readiness
/// answer within two seconds; the rest of the request (routing, a shared rate-limit lease) gets
/// the remainder.
pub const CHECK_BOUND: std::time::Duration = std::time::Duration::from_millis(1500);

/// How long one check's result answers further probes: a flood of unauthenticated probes costs
/// the database at most one write-and-rollback per second.
const CHECK_REUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether this node can serve: the database takes writes and its schema is the one this
/// binary expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub database: levd_store::DbState,
    /// `None` when every migration of this binary is applied, else what is missing.
    pub schema_problem: Option<String>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.database == levd_store::DbState::Ok && self.schema_problem.is_none()
    }

    /// Why the node is not ready; `None` when it is.
    pub fn reason(&self) -> Option<String> {
        self.database.reason().map(str::to_owned).or_else(|| self.schema_problem.clone())
    }
}

impl Service {
    pub fn new(store: Store, limits: Arc<RateLimitConfig>, credentials_changed: CredentialsChanged) -> Service {
        Service {
            store,
            limits,
            data_dir: Arc::new("lev-data".into()),
            credentials_changed,
            last_check: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// This service on `store` (a store bound to a request's unit of work), sharing
    /// everything else.
    pub fn bound(&self, store: Store) -> Service {
        Service { store, ..self.clone() }
    }

    /// Uses `dir` for document files.
    pub fn with_data_dir(mut self, dir: std::path::PathBuf) -> Service {
        self.data_dir = Arc::new(dir);
        self
    }

    pub(crate) fn credentials_changed(&self) {
        (self.credentials_changed)()
    }

    /// The health endpoints' view (`docs/api.md#health`) of the database: a write-and-rollback, answered within
    /// `CHECK_BOUND`.
    pub async fn health(&self) -> levd_store::DbState {
        self.readiness().await.database
    }

    /// Checks the database (a write that is rolled back, within `CHECK_BOUND`) and the schema.
    /// Concurrent callers share one check, and a result younger than a second is reused.
    pub async fn readiness(&self) -> Readiness {
        let mut last = self.last_check.lock().await;
        if let Some((at, r)) = last.as_ref()
            && at.elapsed() < CHECK_REUSE
        {
            return r.clone();
        }
        let started = std::time::Instant::now();
        let database = self.store.probe_write(CHECK_BOUND).await;
        let left = CHECK_BOUND.saturating_sub(started.elapsed());
        let schema_problem = if database == levd_store::DbState::Ok {
            match tokio::time::timeout(left, self.store.check_schema()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("the schema could not be read in time".into()),
            }
        } else {
            None
        };
        let r = Readiness { database, schema_problem };
        if let Some(reason) = r.reason() {
            tracing::warn!(reason, "database check failed");
        }
        *last = Some((std::time::Instant::now(), r.clone()));
        r
    }
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
