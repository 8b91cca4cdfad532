//! Storage for levd. `Store` is the one interface services use; all SQL lives in this crate,
//! one module per table family. SQLite (embedded, WAL) is the default backend.
#![deny(clippy::unwrap_used, clippy::expect_used)]

/// `format!` for SQL text built only from constant fragments (column lists, fixed clauses);
/// values always go through bind parameters.
macro_rules! sqlf {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}

mod accounts;
mod crm;
mod deal_data;
mod deals;
mod directory;
mod idempotency;
mod keys;
mod notes;
mod oauth;
mod ops;
mod placements;
mod rate;

use std::time::Duration;

use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::{Any, AnyPool, Arguments, Encode, Executor, Type};

pub use accounts::{AccountRow, MembershipRow, TeamMemberRow, UserRow};
pub use deals::{DealPipelineRow, DealPropertyRow, DealTeamRow};
pub use idempotency::{CURRENT_CLAIM, Claim, ClaimContext};
pub use keys::{KeyAuthRow, KeyRow, NewKey};
pub use notes::NoteRow;
pub use oauth::{ClientRow, CodeRow, GrantRow, InteractionRow, Redemption, RefreshRow, SigningKeyRow};
pub use ops::{DbState, TableStats, latest_migration};
pub use rate::RateLease;

pub(crate) type Db = Any;

/// Which database a `Store` talks to. The SQL is shared; the few places that differ ask this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url: {0}")]
    UnsupportedUrl(String),
    #[error("{0} already exists")]
    Duplicate(&'static str),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("the API key ceiling of the account is reached")]
    KeyCeilingReached,
    #[error("unknown pipeline")]
    UnknownPipeline,
    #[error("{0}")]
    SchemaNotReady(String),
}

impl StoreError {
    /// Maps a unique-constraint violation to `Duplicate(what)`; other errors pass through.
    pub(crate) fn on_unique(e: sqlx::Error, what: &'static str) -> StoreError {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate(what),
            _ => StoreError::Database(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Default location: `lev.db` in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://lev.db";

static DRIVERS: std::sync::Once = std::sync::Once::new();

impl Store {
    /// Opens (creating if missing) the database named by `url`: `postgres://…` (or
    /// `postgresql://…`) for PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a bare file path for
    /// SQLite.
    pub async fn open(url: &str) -> Result<Store> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let (backend, url) = normalize_url(url)?;
        let sqlite = backend == Backend::Sqlite;
        let max = if sqlite { 8 } else { 16 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if sqlite {
                        // Pages freed by purges go back to the file system (new databases: this
                        // must come before the first write, which switching to WAL is; an older
                        // one needs `levd migrate` once), and a checkpointed log does not keep
                        // its largest size. A read-only database refuses the setting; that is
                        // for the readiness check to report, not a reason to fail the connection.
                        let _ = conn.execute("PRAGMA auto_vacuum = INCREMENTAL").await;
                        // WAL: readers never block the writer. NORMAL sync in WAL mode keeps every
                        // committed transaction across a crash of the process.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")))
                            .await?;
                        conn.execute("PRAGMA journal_size_limit = 67108864").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending migration of this backend (they are embedded in the binary).
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }

    /// Checks that every migration this binary knows has been applied (for `--no-migrate`).
    pub async fn check_schema(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_all(&self.pool)
            .await
            .map_err(|_| StoreError::SchemaNotReady("no migrations applied; run `levd migrate`".into()))?;
        for m in migrator.iter() {
            if !applied.contains(&m.version) {
                return Err(StoreError::SchemaNotReady(format!(
                    "migration {} ({}) not applied; run `levd migrate`",
                    m.version, m.description
                )));
            }
        }
        Ok(())
    }

    /// Opens and migrates: what `levd serve` and `levd admin` do.
    pub async fn open_and_migrate(url: &str) -> Result<Store> {
        let s = Store::open(url).await?;
        s.migrate().await?;
        Ok(s)
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Current value of the credential-cache epoch (see the `auth_epoch` table).
    pub async fn auth_epoch(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT value FROM auth_epoch WHERE id = 1").fetch_one(&self.pool).await?)
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// SQL text with `$n` placeholders (understood by SQLite and PostgreSQL alike) and its
/// arguments, built piece by piece. Values only ever enter through `push_bind`.
pub(crate) struct Sql {
    text: String,
    args: AnyArguments,
}

impl Sql {
    pub(crate) fn new(text: impl Into<String>) -> Sql {
        Sql { text: text.into(), args: AnyArguments::default() }
    }

    /// Appends constant SQL text.
    pub(crate) fn push(&mut self, text: impl std::fmt::Display) -> &mut Sql {
        use std::fmt::Write;
        let _ = write!(self.text, "{text}");
        self
    }

    /// Appends a placeholder for `value`. Encoding the plain values used here (integers,
    /// floats, text, options of them) into the driver-neutral buffer cannot fail.
    pub(crate) fn push_bind<T>(&mut self, value: T) -> &mut Sql
    where
        T: for<'e> Encode<'e, Any> + Type<Any> + Send + 'static,
    {
        let _ = self.args.add(value);
        let n = self.args.len();
        self.push(format_args!("${n}"))
    }

    /// A nullable float: a bind for a value, the literal `NULL` otherwise. (Binding a `None`
    /// float makes PostgreSQL prepare the parameter as `float4`, which later `float8` values of
    /// the same cached statement then fail to match.)
    pub(crate) fn push_opt_f64(&mut self, value: Option<f64>) -> &mut Sql {
        match value {
            Some(v) => self.push_bind(v),
            None => self.push("NULL"),
        }
    }

    /// `$a, $b, …` for each id.
    pub(crate) fn push_ids(&mut self, ids: &[i64]) -> &mut Sql {
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(*id);
        }
        self
    }

    pub(crate) fn build(self) -> sqlx::query::Query<'static, Any, AnyArguments> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.text), self.args)
    }

    pub(crate) fn build_query_as<R>(self) -> sqlx::query::QueryAs<'static, Any, R, AnyArguments>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as_with(sqlx::AssertSqlSafe(self.text), self.args)
    }

    pub(crate) fn build_query_scalar<T>(self) -> sqlx::query::QueryScalar<'static, Any, T, AnyArguments>
    where
        (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_scalar_with(sqlx::AssertSqlSafe(self.text), self.args)
    }
}

/// How long a SQLite statement waits for a lock held by another connection, in milliseconds.
pub(crate) const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

/// The write of the readiness probe: touches one row without changing it (rolled back anyway).
pub(crate) const PROBE_WRITE: &str = "UPDATE auth_epoch SET value = value WHERE id = 1";

/// Statement that bumps the credential-cache epoch; run in the same transaction as the change.
pub(crate) const BUMP_EPOCH: &str = "UPDATE auth_epoch SET value = value + 1 WHERE id = 1";

/// Picks the backend of a database URL and puts SQLite URLs in the form the driver expects
/// (creating the file when missing).
fn normalize_url(url: &str) -> Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string()));
    }
    let path = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") {
        return Err(StoreError::UnsupportedUrl(redact_url(url)));
    } else {
        url
    };
    if path.is_empty() {
        return Err(StoreError::UnsupportedUrl("empty SQLite path".into()));
    }
    if path == ":memory:" {
        return Ok((Backend::Sqlite, "sqlite::memory:".into()));
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mode = if query.split('&').any(|p| p.starts_with("mode=")) { String::new() } else { "mode=rwc".into() };
    let q = [query, &mode].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join("&");
    Ok((Backend::Sqlite, format!("sqlite://{path}?{q}")))
}

/// A URL fit for an error message: credentials removed.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(normalize_url("sqlite://lev.db").unwrap(), (Backend::Sqlite, "sqlite://lev.db?mode=rwc".into()));
        assert_eq!(normalize_url("sqlite:/tmp/x.db").unwrap(), (Backend::Sqlite, "sqlite:///tmp/x.db?mode=rwc".into()));
        assert_eq!(normalize_url("lev.db").unwrap(), (Backend::Sqlite, "sqlite://lev.db?mode=rwc".into()));
        assert_eq!(normalize_url("sqlite://x.db?mode=ro").unwrap(), (Backend::Sqlite, "sqlite://x.db?mode=ro".into()));
        assert_eq!(normalize_url("postgres://u@h/db").unwrap().0, Backend::Postgres);
        assert!(matches!(normalize_url("mysql://u:p@h/db"), Err(StoreError::UnsupportedUrl(u)) if !u.contains(":p@")));
    }
}
