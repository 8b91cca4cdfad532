//! Storage for levd. `Store` is the one interface services use; all SQL lives in this crate,
//! one module per table family. SQLite (embedded, WAL) is the default backend.
#![deny(clippy::unwrap_used, clippy::expect_used)]

/// `format!` for SQL text built only from constant fragments (column lists, fixed clauses);
/// values always go through bind parameters.
macro_rules! sqlf {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}

mod accounts;
mod deals;
mod idempotency;
mod keys;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use accounts::{AccountRow, MembershipRow, TeamMemberRow, UserRow};
pub use deals::{DealPipelineRow, DealPropertyRow, DealTeamRow};
pub use idempotency::Claim;
pub use keys::{KeyAuthRow, KeyRow, NewKey};

pub(crate) type Db = sqlx::Sqlite;

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
    pool: SqlitePool,
}

/// Default location: `lev.db` in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://lev.db";

impl Store {
    /// Opens (creating if missing) the database named by `url`. Accepts `sqlite://PATH`,
    /// `sqlite:PATH` and a bare file path.
    pub async fn open(url: &str) -> Result<Store> {
        let opts = sqlite_options(url)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        Ok(Store { pool })
    }

    /// Applies every pending migration (they are embedded in the binary).
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
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

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Statement that bumps the credential-cache epoch; run in the same transaction as the change.
pub(crate) const BUMP_EPOCH: &str = "UPDATE auth_epoch SET value = value + 1 WHERE id = 1";

fn sqlite_options(url: &str) -> Result<SqliteConnectOptions> {
    let path = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") {
        return Err(StoreError::UnsupportedUrl(redact_url(url)));
    } else {
        url
    };
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let base = if path == ":memory:" {
        SqliteConnectOptions::from_str("sqlite::memory:")?
    } else {
        SqliteConnectOptions::new().filename(path)
    };
    let mut opts = base
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL in WAL mode keeps every committed transaction across a crash of the process.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if pair == "mode=ro" {
            opts = opts.read_only(true);
        }
    }
    Ok(opts)
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
        assert!(sqlite_options("sqlite://lev.db").is_ok());
        assert!(sqlite_options("sqlite:lev.db").is_ok());
        assert!(sqlite_options("lev.db").is_ok());
        assert!(matches!(sqlite_options("mysql://u:p@h/db"), Err(StoreError::UnsupportedUrl(u)) if !u.contains(":p@")));
    }
}
