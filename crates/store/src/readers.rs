//! SQLite reads in one hop: a few reader connections (rusqlite on the same bundled SQLite
//! library sqlx links) that run a store function's statements on one blocking thread, from
//! statements prepared once per connection, and decode the rows there straight into typed
//! records. sqlx's SQLite driver instead runs each connection on a worker thread and hands
//! every row to the async side through a channel, boxing each value into its driver-neutral
//! row on the way (see `BENCHMARKS.md`, "The data path against the machine").
//!
//! Reads bounded by an index (a row by its key, one user's memberships, the first page of one
//! account in id order) run on the calling thread when a reader connection is idle: they take a
//! few microseconds, less than handing them to another thread and waking the caller again
//! (which, measured, was most of the CPU of `GET /me`). They run without SQLite's busy handler;
//! a read that would have to wait for a lock is handed to a blocking thread instead, where it
//! may wait. Every other read is handed over at once ([`Readers::run`]).
//!
//! Only reads outside a unit of work go here: a unit's reads must see its own uncommitted
//! writes, so they stay on the unit's connection. Writes keep the one writer turn
//! (`Store::writer_turn`). In WAL mode readers and the writer do not block each other; a reader
//! sees what was committed when its statement began, as a pooled sqlx connection would.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use rusqlite::{Connection, OpenFlags, Row};

use crate::{Arg, Result, SQLITE_BUSY_TIMEOUT_MS, Sql, StoreError};

/// Reader connections kept open; a read waits for a free one.
const READERS: usize = 4;
/// Prepared statements kept per connection (the hot reads are a few dozen distinct texts).
const STATEMENTS_PER_CONNECTION: usize = 128;

/// A record read from one SQLite row. Its members are found by column name, as sqlx's
/// `FromRow` finds them: [`query`] looks the names up once per statement, not once per row.
pub(crate) trait FromSqlite: Sized + Send + 'static {
    /// The column names the record reads, in the order `from_row` takes them; empty for a
    /// record read by position (a scalar, a tuple).
    const COLUMNS: &'static [&'static str];
    /// The record of `row`; `at[i]` is the position of `COLUMNS[i]` in the row.
    fn from_row(row: &Row<'_>, at: &[usize]) -> rusqlite::Result<Self>;
}

impl FromSqlite for i64 {
    const COLUMNS: &'static [&'static str] = &[];
    fn from_row(row: &Row<'_>, _: &[usize]) -> rusqlite::Result<i64> {
        row.get(0)
    }
}

impl FromSqlite for (i64, i64) {
    const COLUMNS: &'static [&'static str] = &[];
    fn from_row(row: &Row<'_>, _: &[usize]) -> rusqlite::Result<(i64, i64)> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

/// Implements [`FromSqlite`] for a struct whose fields are named like the columns of its
/// `SELECT` (in any order), and its PostgreSQL twin [`crate::pg::FromPg`].
macro_rules! from_sqlite {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        $crate::pg::from_pg!($ty { $($field),* });
        impl $crate::readers::FromSqlite for $ty {
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];
            fn from_row(row: &rusqlite::Row<'_>, at: &[usize]) -> rusqlite::Result<Self> {
                let mut at = at.iter();
                Ok(Self {
                    $($field: row.get(*at.next().ok_or(rusqlite::Error::InvalidColumnIndex(usize::MAX))?)?,)*
                })
            }
        }
    };
}
pub(crate) use from_sqlite;

/// The reader connections of one SQLite file.
pub(crate) struct Readers {
    idle: Mutex<Vec<Connection>>,
    turns: Arc<tokio::sync::Semaphore>,
    /// The writer connection for writes that run alone (outside units of work), taken under the
    /// store's writer turn; opened at the first such write, and again after one it could not
    /// bring back out of its transaction.
    writer: Mutex<Option<Connection>>,
    file: std::path::PathBuf,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").field("available", &self.turns.available_permits()).finish()
    }
}

impl Readers {
    /// Opens the reader connections of `file` (already in WAL mode). They refuse writes.
    pub(crate) fn open(file: &Path) -> rusqlite::Result<Readers> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut idle = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let c = Connection::open_with_flags(file, flags)?;
            // No busy handler while idle: reads on the calling thread never wait (see above).
            c.busy_timeout(std::time::Duration::ZERO)?;
            c.pragma_update(None, "query_only", true)?;
            c.set_prepared_statement_cache_capacity(STATEMENTS_PER_CONNECTION);
            idle.push(c);
        }
        Ok(Readers {
            idle: Mutex::new(idle),
            turns: Arc::new(tokio::sync::Semaphore::new(READERS)),
            writer: Mutex::new(None),
            file: file.to_path_buf(),
        })
    }

    /// Runs `f` on a reader connection, on a blocking thread: every statement of `f` and the
    /// decoding of its rows happen there, in one hop from the async side.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let permit = self.turns.clone().acquire_owned().await.map_err(|_| none_idle())?;
        let readers = self.clone();
        tokio::task::spawn_blocking(move || {
            // One permit per connection: a permit always finds one.
            let conn = readers.take().ok_or_else(none_idle)?;
            // Here a read may wait for a lock, as long as any other statement of levd.
            let out =
                conn.busy_timeout(std::time::Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS)).and_then(|()| f(&conn));
            // Back to never waiting before the connection is idle again; one that cannot be
            // reset is closed rather than reused.
            if conn.busy_timeout(std::time::Duration::ZERO).is_ok() {
                readers.give(conn);
            } else {
                permit.forget();
            }
            out.map_err(StoreError::Read)
        })
        .await
        .map_err(|e| StoreError::File(format!("a database read stopped: {e}")))?
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE` … `COMMIT`) on the writer
    /// connection, on a blocking thread: its statements and the decoding of what they return
    /// happen there, in one hop. `turn` is the store's writer turn; it is released when the
    /// transaction has ended, even if the caller stopped waiting. Whatever `f` answers, the
    /// connection leaves the transaction: committed on success, rolled back otherwise.
    pub(crate) async fn write<T, F>(
        self: &Arc<Self>,
        turn: Option<tokio::sync::OwnedSemaphorePermit>,
        f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let mut slot = this.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(open_writer(&this.file).map_err(StoreError::Read)?);
            }
            let Some(conn) = slot.as_ref() else { return Err(StoreError::File("no SQLite writer connection".into())) };
            let out = conn.prepare_cached("BEGIN IMMEDIATE").and_then(|mut b| b.execute([])).and_then(|_| {
                let v = f(conn)?;
                conn.prepare_cached("COMMIT")?.execute([])?;
                Ok(v)
            });
            if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
                // Never reused inside a transaction it could not end: closing it ends that, and
                // the next write opens a new one.
                *slot = None;
            }
            out.map_err(StoreError::Read)
        })
        .await
        .map_err(|e| StoreError::File(format!("a database write stopped: {e}")))?
    }

    /// An idle connection (the caller holds a permit for it).
    fn take(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop()
    }

    /// A connection back to the idle ones.
    fn give(&self, conn: Connection) {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(conn);
    }

    /// `f` on an idle reader connection on this thread, if one is idle and `f` need not wait
    /// for a lock; `None` otherwise (then hand `f` to [`Readers::run`]). Only for reads bounded
    /// by an index.
    fn inline<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<Result<T>> {
        let _permit = self.turns.try_acquire().ok()?;
        let conn = self.take()?;
        let out = f(&conn);
        self.give(conn);
        match out {
            Err(e) if is_busy(&e) => None,
            out => Some(out.map_err(StoreError::Read)),
        }
    }

    /// `f`, a read bounded by an index: on this thread when it can (see [`Readers::inline`]),
    /// else on a blocking thread.
    pub(crate) async fn bounded<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        match self.inline(&f) {
            Some(out) => out,
            None => self.run(f).await,
        }
    }

    /// Every row of `sql` (a read bounded by an index), decoded.
    pub(crate) async fn all<R: FromSqlite>(self: &Arc<Self>, sql: Sql) -> Result<Vec<R>> {
        self.bounded(move |c| query(c, &sql, |rows| rows.collect())).await
    }

    /// The first row of `sql` (a read bounded by an index), if any.
    pub(crate) async fn optional<R: FromSqlite>(self: &Arc<Self>, sql: Sql) -> Result<Option<R>> {
        self.bounded(move |c| first(c, &sql)).await
    }

    /// The first row of `sql` (a read bounded by an index); an error when it returns none.
    pub(crate) async fn one<R: FromSqlite>(self: &Arc<Self>, sql: Sql) -> Result<R> {
        self.bounded(move |c| first(c, &sql)?.ok_or(rusqlite::Error::QueryReturnedNoRows)).await
    }
}

/// The writer connection of `file`, with the settings of every writing connection of levd
/// (`sqlite_setup`: WAL is already the file's mode).
fn open_writer(file: &Path) -> rusqlite::Result<Connection> {
    let w = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    w.busy_timeout(std::time::Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))?;
    w.pragma_update(None, "synchronous", "NORMAL")?;
    w.pragma_update(None, "journal_size_limit", 67_108_864)?;
    w.pragma_update(None, "foreign_keys", true)?;
    w.set_prepared_statement_cache_capacity(STATEMENTS_PER_CONNECTION);
    Ok(w)
}

/// A permit without a connection: cannot happen while each connection has one permit.
fn none_idle() -> StoreError {
    StoreError::File("no SQLite reader connection is available".into())
}

/// Whether `e` says the statement would have had to wait for another connection's lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// Runs `sql` on `c` (its statement prepared once per connection) and hands `take` the
/// decoded rows.
pub(crate) fn query<R: FromSqlite, T>(
    c: &Connection,
    sql: &Sql,
    take: impl FnOnce(&mut dyn Iterator<Item = rusqlite::Result<R>>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let mut stmt = c.prepare_cached(&sql.text)?;
    let names = stmt.column_names();
    let at = R::COLUMNS
        .iter()
        .map(|want| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(want))
                .ok_or_else(|| rusqlite::Error::InvalidColumnName((*want).to_string()))
        })
        .collect::<rusqlite::Result<Vec<usize>>>()?;
    for (i, a) in sql.args.iter().enumerate() {
        // `$n` are named parameters to SQLite; bind each by its name, whatever the order the
        // text uses them in.
        if let Some(index) = stmt.parameter_index(&format!("${}", i + 1))? {
            stmt.raw_bind_parameter(index, a)?;
        }
    }
    let mut rows = stmt.raw_query();
    let mut iter = std::iter::from_fn(|| match rows.next() {
        Ok(Some(row)) => Some(R::from_row(row, &at)),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    });
    take(&mut iter)
}

/// `f`'s statements in one read transaction on `c`: the database is locked for reading once,
/// and every statement sees the same snapshot. The transaction ends whatever `f` answers, so a
/// connection never keeps an old snapshot for its next read.
pub(crate) fn together<T>(c: &Connection, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    c.prepare_cached("BEGIN")?.execute([])?;
    let out = f(c);
    let end = c.prepare_cached("COMMIT").and_then(|mut s| s.execute([]).map(drop));
    if !c.is_autocommit() {
        // COMMIT failed: ROLLBACK ends a read transaction whatever held it.
        c.execute_batch("ROLLBACK")?;
    }
    let out = out?;
    end?;
    Ok(out)
}

/// The first row of `sql` on `c`, if any.
pub(crate) fn first<R: FromSqlite>(c: &Connection, sql: &Sql) -> rusqlite::Result<Option<R>> {
    query(c, sql, |rows| rows.next().transpose())
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(v) => v.map_or(ToSqlOutput::Owned(SqlValue::Null), |v| ToSqlOutput::Owned(SqlValue::Integer(v))),
            Arg::Float(v) => v.map_or(ToSqlOutput::Owned(SqlValue::Null), |v| ToSqlOutput::Owned(SqlValue::Real(v))),
            Arg::Text(v) => match v {
                Some(s) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(s.as_bytes())),
                None => ToSqlOutput::Owned(SqlValue::Null),
            },
            Arg::Bool(v) => {
                v.map_or(ToSqlOutput::Owned(SqlValue::Null), |v| ToSqlOutput::Owned(SqlValue::Integer(i64::from(v))))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn database() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.db");
        let c = Connection::open(&file).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n REAL); INSERT INTO t VALUES (1, 'a', 2.5), (2, NULL, 3)")
            .unwrap();
        (dir, file)
    }

    #[tokio::test]
    async fn rows_are_decoded_with_arguments_bound_by_name() {
        let (_dir, file) = database();
        let r = Arc::new(Readers::open(&file).unwrap());
        // `$2` before `$1` in the text: each is bound by its name.
        let sql = Sql::new("SELECT id FROM t WHERE name IS $2 OR id = $1").arg(2).arg(Some("a"));
        let mut ids: Vec<i64> = r.all(sql).await.unwrap();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2]);
        let n: i64 = r.one(Sql::new("SELECT COUNT(*) FROM t WHERE n > $1").arg(2.6)).await.unwrap();
        assert_eq!(n, 1);
        let none: Option<i64> = r.optional(Sql::new("SELECT id FROM t WHERE id = $1").arg(9)).await.unwrap();
        assert_eq!(none, None);
    }

    #[tokio::test]
    async fn reads_together_share_a_snapshot_and_always_end_their_transaction() {
        let (_dir, file) = database();
        let r = Arc::new(Readers::open(&file).unwrap());
        let writer = Connection::open(&file).unwrap();
        // A write committed between two reads of one transaction is seen by neither.
        let (before, after) = r
            .run(move |c| {
                together(c, |c| {
                    let before = first::<i64>(c, &Sql::new("SELECT COUNT(*) FROM t"))?;
                    writer.execute("INSERT INTO t VALUES (3, 'c', 1)", [])?;
                    let after = first::<i64>(c, &Sql::new("SELECT COUNT(*) FROM t"))?;
                    Ok((before, after))
                })
            })
            .await
            .unwrap();
        assert_eq!((before, after), (Some(2), Some(2)));
        // A failing statement inside ends the transaction too: the connection reads the
        // present afterwards, not the snapshot of the failed read.
        for _ in 0..READERS {
            let e = r.run(|c| together(c, |c| first::<i64>(c, &Sql::new("SELECT nope FROM t")))).await;
            assert!(e.is_err());
        }
        for _ in 0..READERS {
            let (n, autocommit) = r
                .run(|c| Ok((first::<i64>(c, &Sql::new("SELECT COUNT(*) FROM t"))?, c.is_autocommit())))
                .await
                .unwrap();
            assert_eq!((n, autocommit), (Some(3), true));
        }
    }

    #[tokio::test]
    async fn the_writer_commits_what_succeeds_and_rolls_back_what_fails() {
        let (_dir, file) = database();
        let r = Arc::new(Readers::open(&file).unwrap());
        let insert = |id: i64| Sql::new("INSERT INTO t (id, name) VALUES ($1, 'w') RETURNING id").arg(id);
        let q = insert(3);
        let id: Option<i64> = r.write(None, move |c| first(c, &q)).await.unwrap();
        assert_eq!(id, Some(3));
        // The second statement fails (id 3 exists): the first one's row is rolled back too.
        let (a, b) = (insert(4), insert(3));
        let e = r.write(None, move |c| {
            first::<i64>(c, &a)?;
            first::<i64>(c, &b)
        });
        assert!(e.await.is_err());
        let ids: Vec<i64> = r.all(Sql::new("SELECT id FROM t ORDER BY id")).await.unwrap();
        assert_eq!(ids, vec![1, 2, 3]);
        // And the writer goes on writing afterwards.
        let q = insert(5);
        assert_eq!(r.write(None, move |c| first::<i64>(c, &q)).await.unwrap(), Some(5));
    }

    #[tokio::test]
    async fn readers_refuse_writes() {
        let (_dir, file) = database();
        let r = Arc::new(Readers::open(&file).unwrap());
        let e = r.run(|c| c.execute("DELETE FROM t", [])).await;
        assert!(e.is_err());
        let n: i64 = r.one(Sql::new("SELECT COUNT(*) FROM t")).await.unwrap();
        assert_eq!(n, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_that_must_wait_for_a_lock_waits_on_a_blocking_thread() {
        let (_dir, file) = database();
        let r = Arc::new(Readers::open(&file).unwrap());
        // Another connection takes the database for itself (exclusive locking mode and a write).
        let holder = std::thread::spawn({
            let file = file.clone();
            move || {
                let c = Connection::open(&file).unwrap();
                c.pragma_update(None, "locking_mode", "EXCLUSIVE").unwrap();
                c.execute("UPDATE t SET n = n + 1", []).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(300));
                drop(c);
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        // On this thread the read cannot run (it would have to wait): it is handed over and
        // waits there until the lock is released, then sees the committed write.
        assert!(r.inline(|c| first::<i64>(c, &Sql::new("SELECT COUNT(*) FROM t"))).is_none());
        let sum: i64 = r.one(Sql::new("SELECT CAST(SUM(n) * 10 AS INTEGER) FROM t")).await.unwrap();
        assert_eq!(sum, 75);
        holder.join().unwrap();
        // Afterwards reads run on the calling thread again.
        assert!(r.inline(|c| first::<i64>(c, &Sql::new("SELECT COUNT(*) FROM t"))).is_some());
    }
}
