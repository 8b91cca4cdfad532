//! Operations on the database as a whole: the write probe behind the readiness and health
//! checks, periodic upkeep (checkpoint, incremental vacuum) and table sizes for `levd admin stats`.
use std::time::Duration;

use serde::Serialize;
use sqlx::{Acquire, Executor, Row};

use crate::{Backend, Result, Store};

/// What a write probe found out about the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    /// A write was accepted (and rolled back).
    Ok,
    /// The database answers but refuses writes (read-only file, mount or server).
    ReadOnly(String),
    /// The database could not be reached, or did not take the write in time (locked, disk full,
    /// server down).
    Unavailable(String),
}

impl DbState {
    /// The value of the `database` field in health documents.
    pub fn as_str(&self) -> &'static str {
        match self {
            DbState::Ok => "ok",
            DbState::ReadOnly(_) => "read_only",
            DbState::Unavailable(_) => "unavailable",
        }
    }

    /// Why the database is not usable; `None` when it is.
    pub fn reason(&self) -> Option<&str> {
        match self {
            DbState::Ok => None,
            DbState::ReadOnly(r) | DbState::Unavailable(r) => Some(r),
        }
    }
}

/// Sorts a failed probe write into read-only or unavailable, with a reason for the operator.
fn classify(e: &sqlx::Error) -> DbState {
    if let sqlx::Error::Database(d) = e {
        let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
        let message = d.message().to_owned();
        // SQLite reports its extended result code; the primary code is the low byte.
        let sqlite_primary = code.parse::<i64>().ok().map(|n| n & 0xff);
        return match (sqlite_primary, code.as_str()) {
            (Some(8), _) | (_, "25006") => DbState::ReadOnly(format!("the database refuses writes: {message}")),
            (Some(5 | 6), _) | (_, "55P03" | "57014") => {
                DbState::Unavailable(format!("the database is busy: {message}"))
            }
            (Some(13), _) | (_, "53100") => DbState::Unavailable(format!("the disk is full: {message}")),
            _ => DbState::Unavailable(format!("the database failed a write: {message}")),
        };
    }
    DbState::Unavailable(format!("the database cannot be reached: {e}"))
}

/// Longest time a probe write may wait for a lock inside the database. Shorter than the probe's
/// own bound so a probe that gives up also releases its connection soon after.
const PROBE_LOCK_WAIT_MS: u64 = 1000;

/// Lock wait of the periodic upkeep, in milliseconds.
const MAINTENANCE_LOCK_WAIT_MS: u64 = 200;

/// Table sizes as `levd admin stats` prints them.
#[derive(Debug, Clone, Serialize)]
pub struct TableStats {
    pub name: String,
    pub rows: i64,
    /// Bytes on disk (table and its indexes) where the backend can tell.
    pub bytes: Option<i64>,
}

/// Highest migration this binary carries for `backend`.
pub fn latest_migration(backend: Backend) -> i64 {
    let migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

impl Store {
    /// Writes to the database and rolls the write back, giving up after `within`. The write
    /// (a no-op update of the credential epoch) takes the same locks a real write would.
    pub async fn probe_write(&self, within: Duration) -> DbState {
        let store = self.clone();
        // The probe runs in a task of its own: when it outlasts `within` the caller gets its
        // answer at once while the task still finishes cleanly (rollback, lock wait restored)
        // and hands its connection back.
        let task = tokio::spawn(async move { store.probe_write_inner().await });
        match tokio::time::timeout(within, task).await {
            Ok(Ok(Ok(()))) => DbState::Ok,
            Ok(Ok(Err(e))) => classify(&e),
            Ok(Err(_)) => DbState::Unavailable("the probe failed".into()),
            Err(_) => {
                DbState::Unavailable(format!("the database did not take a write within {} ms", within.as_millis()))
            }
        }
    }

    async fn probe_write_inner(&self) -> std::result::Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        match self.backend {
            Backend::Sqlite => {
                conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {PROBE_LOCK_WAIT_MS}"))).await?;
                let outcome = async {
                    let mut tx = conn.begin().await?;
                    tx.execute(crate::PROBE_WRITE).await?;
                    tx.rollback().await
                }
                .await;
                conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {}", crate::SQLITE_BUSY_TIMEOUT_MS)))
                    .await?;
                outcome
            }
            Backend::Postgres => {
                let mut tx = conn.begin().await?;
                // LOCAL: both settings end with the transaction.
                tx.execute(sqlx::AssertSqlSafe(format!(
                    "SET LOCAL lock_timeout = {PROBE_LOCK_WAIT_MS}; SET LOCAL statement_timeout = {PROBE_LOCK_WAIT_MS}"
                )))
                .await?;
                tx.execute(crate::PROBE_WRITE).await?;
                tx.rollback().await
            }
        }
    }

    /// Periodic upkeep of a SQLite database: gives the pages freed by purges back to the file
    /// system (incremental vacuum) and folds the write-ahead log into the database, truncating
    /// it. Returns the size of the log afterwards in bytes (0 when the checkpoint completed).
    /// Does nothing on PostgreSQL, whose autovacuum does this work.
    pub async fn maintain(&self) -> Result<Option<i64>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let mut conn = self.pool.acquire().await?;
        // Upkeep never queues behind requests: a short lock wait, and it gives way when busy.
        conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {MAINTENANCE_LOCK_WAIT_MS}"))).await?;
        let outcome = async {
            if let Err(e) = conn.execute("PRAGMA incremental_vacuum").await {
                tracing::debug!(error = %e, "incremental vacuum skipped: the database is busy");
            }
            // Columns: busy (1 when readers or a writer kept the checkpoint from finishing),
            // pages in the log, pages copied back.
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await?;
            Ok::<_, sqlx::Error>((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?))
        }
        .await;
        conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {}", crate::SQLITE_BUSY_TIMEOUT_MS))).await?;
        let (busy, log_pages) = outcome?;
        if busy != 0 {
            tracing::debug!(log_pages, "checkpoint did not complete: the database was in use");
        }
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&mut *conn).await?;
        Ok(Some(if busy == 0 { 0 } else { log_pages.max(0) * page_size }))
    }

    /// Row counts of every table of levd's schema (and bytes on disk where the backend tells).
    pub async fn table_stats(&self) -> Result<Vec<TableStats>> {
        let names: Vec<String> =
            match self.backend {
                Backend::Sqlite => sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?,
                Backend::Postgres => {
                    sqlx::query_scalar(
                        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename",
                    )
                    .fetch_all(&self.pool)
                    .await?
                }
            };
        let sizes = self.table_bytes().await;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            // Names come from the catalogue; quoting keeps any of them a single identifier.
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            let rows: i64 = sqlx::query_scalar(sqlf!("SELECT COUNT(*) FROM {quoted}")).fetch_one(&self.pool).await?;
            let bytes = sizes.as_ref().and_then(|s| s.iter().find(|(n, _)| *n == name).map(|(_, b)| *b));
            out.push(TableStats { name, rows, bytes });
        }
        Ok(out)
    }

    /// Bytes per table including its indexes: `pg_total_relation_size` on PostgreSQL, the
    /// `dbstat` table on SQLite when the library was built with it (else `None`).
    async fn table_bytes(&self) -> Option<Vec<(String, i64)>> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT m.tbl_name, CAST(SUM(s.pgsize) AS INTEGER) FROM dbstat s \
                 JOIN sqlite_master m ON m.name = s.name GROUP BY m.tbl_name"
            }
            Backend::Postgres => {
                "SELECT tablename::text, pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)::bigint \
                 FROM pg_tables WHERE schemaname = current_schema()"
            }
        };
        match sqlx::query_as::<_, (String, i64)>(sql).fetch_all(&self.pool).await {
            Ok(rows) => Some(rows),
            Err(e) => {
                tracing::debug!(error = %e, "table sizes in bytes are not available");
                None
            }
        }
    }

    /// Size of the database in bytes: the SQLite file (pages in use and free), or
    /// `pg_database_size` of the current PostgreSQL database.
    pub async fn database_bytes(&self) -> Result<i64> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&self.pool).await?;
                let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&self.pool).await?;
                pages * size
            }
            Backend::Postgres => {
                sqlx::query_scalar("SELECT pg_database_size(current_database())::bigint").fetch_one(&self.pool).await?
            }
        })
    }

    /// Pages of a SQLite database that are free (given back to the file system by the next
    /// incremental vacuum); `None` on PostgreSQL.
    pub async fn free_pages(&self) -> Result<Option<i64>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        Ok(Some(sqlx::query_scalar("PRAGMA freelist_count").fetch_one(&self.pool).await?))
    }

    /// SQLite's `auto_vacuum` mode of the database: 0 none, 1 full, 2 incremental.
    pub async fn auto_vacuum_mode(&self) -> Result<Option<i64>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        Ok(Some(sqlx::query_scalar("PRAGMA auto_vacuum").fetch_one(&self.pool).await?))
    }

    /// Rewrites a SQLite database whose pages cannot be given back (created before incremental
    /// vacuum was the default) so that they can: sets the mode and runs one `VACUUM`, which needs
    /// the database to itself for a while. Returns whether anything was done.
    pub async fn enable_incremental_vacuum(&self) -> Result<bool> {
        if self.auto_vacuum_mode().await? != Some(0) {
            return Ok(false);
        }
        let mut conn = self.pool.acquire().await?;
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL").await?;
        conn.execute("VACUUM").await?;
        Ok(true)
    }

    /// Highest migration applied to the database; `None` when levd's tables are not there yet.
    pub async fn schema_version(&self) -> Result<Option<i64>> {
        match sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&self.pool)
            .await
        {
            Ok(v) => Ok(v),
            Err(sqlx::Error::Database(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Copies a consistent snapshot of a SQLite database to `dest` (a new file) while other
    /// connections go on reading and writing.
    pub async fn snapshot_sqlite_into(&self, dest: &std::path::Path) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Err(crate::StoreError::UnsupportedUrl("a snapshot file needs SQLite".into()));
        }
        let dest = dest.to_str().ok_or(crate::StoreError::UnsupportedUrl("snapshot path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(dest.to_owned()).execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_probe_that_cannot_connect_answers_within_its_bound() {
        // A port nobody listens on: the pool keeps retrying until its own acquire timeout, far
        // beyond the probe's bound.
        super::super::DRIVERS.call_once(sqlx::any::install_default_drivers);
        let pool = sqlx::any::AnyPoolOptions::new().connect_lazy("postgres://levd@127.0.0.1:9/levd").expect("url");
        let store = Store::on_pool(pool, Backend::Postgres);
        let started = std::time::Instant::now();
        let state = store.probe_write(Duration::from_millis(300)).await;
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
        assert_eq!(state.as_str(), "unavailable", "{state:?}");
    }

    #[tokio::test]
    async fn a_locked_database_is_unavailable_and_a_read_only_one_is_read_only() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("p.db");
        let url = format!("sqlite://{}", path.display());
        let store = Store::open_and_migrate(&url).await.expect("open");
        assert_eq!(store.probe_write(Duration::from_secs(2)).await, DbState::Ok);

        let ro = Store::open(&format!("{url}?mode=ro")).await.expect("open ro");
        let state = ro.probe_write(Duration::from_secs(2)).await;
        assert_eq!(state.as_str(), "read_only", "{state:?}");
        ro.close().await;

        let other = Store::open(&url).await.expect("second handle");
        let mut conn = other.pool.acquire().await.expect("conn");
        conn.execute("BEGIN EXCLUSIVE").await.expect("lock");
        let started = std::time::Instant::now();
        let state = store.probe_write(Duration::from_secs(2)).await;
        assert!(started.elapsed() < Duration::from_millis(2500), "took {:?}", started.elapsed());
        assert_eq!(state.as_str(), "unavailable", "{state:?}");
        conn.execute("ROLLBACK").await.expect("unlock");
        assert_eq!(store.probe_write(Duration::from_secs(2)).await, DbState::Ok);
    }
}
