//! Storage for levd. `Store` is the one interface services use; all SQL lives in this crate,
//! one module per table family. SQLite (embedded, WAL) is the default backend.
#![deny(clippy::unwrap_used, clippy::expect_used)]

/// `format!` for SQL text built only from constant fragments (column lists, fixed clauses);
/// values always go through bind parameters.
macro_rules! sqlf {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}

mod accounts;
mod api_error;
mod crm;
mod deal_data;
mod deals;
mod directory;
mod idempotency;
mod keys;
mod notes;
mod oauth;
mod ops;
mod pg;
mod placements;
mod rate;
mod readers;
mod secrets;
mod unit;

use std::time::Duration;

use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::{Any, AnyPool, Arguments, Executor};

pub use accounts::{AccountRow, MembershipRow, TeamMemberRow, UserRow};
pub use deals::{DealPipelineRow, DealPropertyRow, DealTeamRow};
pub use idempotency::Claim;
pub use keys::{KeyAuthRow, KeyRow, NewKey};
pub use notes::NoteRow;
pub use oauth::{
    AttemptRule, ClientRow, CodeRow, GrantRow, InteractionRow, Redemption, RefreshRow, SigninBucketRow, SigningKeyRow,
};
pub use ops::{DbState, TableStats, latest_migration};
pub use rate::RateLease;
pub use secrets::{SealError, SealReport, SecretKeys};
pub use unit::Unit;
pub(crate) use unit::WriteTx;

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
    Database(sqlx::Error),
    /// A failure of a read on a SQLite reader connection (`readers.rs`).
    #[error("database error: {0}")]
    Read(rusqlite::Error),
    /// The database refused a text value it cannot hold (PostgreSQL: a NUL character in text
    /// or JSON). A fault of the input, not of the server.
    #[error("the database cannot store a text value of the request (NUL character)")]
    UnstorableText,
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
    /// A secret kept in the database cannot be sealed or opened with the configured keys.
    #[error("{0}")]
    Secret(String),
    #[error("the database file {0} is read-only: levd must be able to write it (and create files beside it)")]
    ReadOnly(String),
    #[error("{0}")]
    File(String),
    /// A store bound to a unit of work was used after the unit ended, or asked to begin a unit
    /// inside its own.
    #[error("the unit of work has ended, or a unit was begun inside another")]
    UnitEnded,
}

/// SQLSTATEs of PostgreSQL for text it cannot hold: `22021` (a byte sequence invalid in the
/// encoding, which is what a NUL in a text value gives) and `22P05` (a `\u0000` escape in JSON).
const UNSTORABLE_TEXT_CODES: [&str; 2] = ["22021", "22P05"];

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::Database(d) if d.code().is_some_and(|c| UNSTORABLE_TEXT_CODES.contains(&c.as_ref())) => {
                StoreError::UnstorableText
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// Maps a unique-constraint violation to `Duplicate(what)`; other errors pass through.
    pub(crate) fn on_unique(e: sqlx::Error, what: &'static str) -> StoreError {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate(what),
            _ => StoreError::from(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The keys that seal secrets at rest (signing keys, the file-link secret).
    secret_keys: Option<std::sync::Arc<SecretKeys>>,
    /// Makes the built-in lender directory; see [`Store::with_builtin_lenders`].
    builtin_lenders: Option<BuiltinLenders>,
    /// The unit of work this handle is bound to (`Store::unit`), if any.
    unit: Option<unit::Shared>,
    /// SQLite: the process's one writer turn (one permit): units of work and write
    /// transactions take it in arrival order, so waiting writers hold no connection and never
    /// sleep in SQLite's busy handler (`Store::writer_turn`).
    unit_turns: std::sync::Arc<tokio::sync::Semaphore>,
    /// Idempotency keys held by this process's units of work.
    in_flight: idempotency::InFlight,
    /// How often and how long statements waited for a pooled connection.
    waits: std::sync::Arc<PoolWaits>,
    /// SQLite files: the reader connections that serve reads outside units of work in one
    /// hop (`readers.rs`). `None` on PostgreSQL and for in-memory databases.
    readers: Option<std::sync::Arc<readers::Readers>>,
    /// PostgreSQL: the typed connections that serve reads outside units of work (`pg.rs`), and
    /// the one-statement deal insert. `None` on SQLite.
    pg: Option<std::sync::Arc<pg::Readers>>,
}

/// A record a read outside a unit of work decodes: from a SQLite reader row, a typed
/// PostgreSQL row, or a driver-neutral row (inside a unit, in-memory SQLite). `from_sqlite!`
/// declares the first two at once.
pub(crate) trait Record:
    readers::FromSqlite + pg::FromPg + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Unpin
{
}

impl<R> Record for R where R: readers::FromSqlite + pg::FromPg + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Unpin {}

/// Makes the built-in lender directory (the program generates it; it is not kept here).
pub type BuiltinLenders = fn() -> Vec<levd_domain::directory::NewLender>;

/// The connection pool as `GET /metrics` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Idle connections among them.
    pub idle: usize,
    /// Times a statement found no idle connection and waited for one (since start).
    pub waits: u64,
    /// Time spent in those waits, in seconds.
    pub wait_seconds: f64,
}

/// Counters of the waits for a pooled connection.
#[derive(Debug, Default)]
pub(crate) struct PoolWaits {
    count: std::sync::atomic::AtomicU64,
    nanos: std::sync::atomic::AtomicU64,
}

impl PoolWaits {
    pub(crate) fn record(&self, waited: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.count.fetch_add(1, Relaxed);
        self.nanos.fetch_add(u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }
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
        if sqlite {
            let file = sqlite_file(&url);
            if let Some(file) = &file {
                prepare_sqlite_file(file, &url)?;
            }
            // One connection first: the pool retries failed connections until its timeout and
            // then reports only that, so a read-only or corrupt file is reported here at once.
            use sqlx::Connection;
            let mut conn = sqlx::AnyConnection::connect(&url).await?;
            let setup = sqlite_setup(&mut conn).await;
            let _ = conn.close().await;
            setup.map_err(|e| match &file {
                Some(f) if e.to_string().contains("readonly") => StoreError::ReadOnly(f.display().to_string()),
                _ => StoreError::Database(e),
            })?;
        }
        let max = if sqlite { 8 } else { 16 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            // A connection still inside a transaction (one whose owner failed before ending it,
            // its rollback not yet run) is closed rather than handed to the next user.
            .after_release(|conn, _meta| Box::pin(async move { Ok(unit::outside_transactions(conn)) }))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if sqlite {
                        sqlite_setup(conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let mut store = Store::on_pool(pool, backend);
        if backend == Backend::Postgres {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(pg::READ_CONNECTIONS)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect(&url)
                .await?;
            store.pg = Some(std::sync::Arc::new(pg::Readers::new(pool)));
        }
        if let Some(file) = sqlite.then(|| sqlite_file(&url)).flatten() {
            // The WAL and shared-memory files now exist; they hold the same data.
            for f in [file.clone(), with_suffix(&file, "-wal"), with_suffix(&file, "-shm")] {
                tighten(&f);
            }
            match readers::Readers::open(&file) {
                Ok(r) => store.readers = Some(std::sync::Arc::new(r)),
                // Reads then go through the pool: slower, not different.
                Err(e) => tracing::warn!(error = %e, "cannot open the SQLite reader connections"),
            }
        }
        Ok(store)
    }

    /// A handle on an open pool, bound to no unit of work.
    pub(crate) fn on_pool(pool: AnyPool, backend: Backend) -> Store {
        Store {
            pool,
            backend,
            secret_keys: None,
            builtin_lenders: None,
            unit: None,
            unit_turns: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
            in_flight: idempotency::InFlight::default(),
            waits: std::sync::Arc::default(),
            readers: None,
            pg: None,
        }
    }

    /// The rows of `sql`: in one hop on a reader connection where there is one (SQLite), on a
    /// typed connection on PostgreSQL, else through the pool (in-memory SQLite, or inside a
    /// unit of work).
    pub(crate) async fn read_all<R>(&self, sql: Sql) -> Result<Vec<R>>
    where
        R: Record,
    {
        if let Some(r) = self.readers() {
            return r.all(sql).await;
        }
        if self.pg().is_some() {
            let rows = self.pg_conn().await?.all(sql).await?;
            return Ok(pg::decode(&rows)?);
        }
        Ok(sql.build_query_as().fetch_all(&mut *self.conn().await?).await?)
    }

    /// The first row of `sql`, if any; see [`Store::read_all`].
    pub(crate) async fn read_optional<R>(&self, sql: Sql) -> Result<Option<R>>
    where
        R: Record,
    {
        if let Some(r) = self.readers() {
            return r.optional(sql).await;
        }
        if self.pg().is_some() {
            let row = self.pg_conn().await?.optional(sql).await?;
            return Ok(row.as_ref().map(pg::decode_one).transpose()?);
        }
        Ok(sql.build_query_as().fetch_optional(&mut *self.conn().await?).await?)
    }

    /// The one integer `sql` selects (a count); see [`Store::read_all`].
    pub(crate) async fn read_i64(&self, sql: Sql) -> Result<i64> {
        if let Some(r) = self.readers() {
            return r.one(sql).await;
        }
        if self.pg().is_some() {
            let row = self.pg_conn().await?.one(sql).await?;
            return Ok(pg::get(&row, 0)?);
        }
        Ok(sql.build_query_scalar().fetch_one(&mut *self.conn().await?).await?)
    }

    /// The reader connections, for a read outside a unit of work on a SQLite file.
    pub(crate) fn readers(&self) -> Option<&std::sync::Arc<readers::Readers>> {
        if self.unit.is_some() { None } else { self.readers.as_ref() }
    }

    /// The typed read connections, for a read outside a unit of work on PostgreSQL.
    pub(crate) fn pg(&self) -> Option<&std::sync::Arc<pg::Readers>> {
        if self.unit.is_some() { None } else { self.pg.as_ref() }
    }

    /// A typed read connection (PostgreSQL, outside units of work); waits for one are counted
    /// with those of the main pool.
    pub(crate) async fn pg_conn(&self) -> Result<pg::Reader<'_>> {
        self.pg().ok_or(StoreError::UnitEnded)?.take(&self.waits).await
    }

    /// This handle with the maker of the built-in lender directory, loaded the first time the
    /// directory is used. Without it the lender data set is only ever loaded from a file.
    pub fn with_builtin_lenders(mut self, make: BuiltinLenders) -> Store {
        self.builtin_lenders = Some(make);
        self
    }

    /// This handle with the keys that seal secrets at rest.
    pub fn with_secret_keys(mut self, keys: SecretKeys) -> Store {
        self.secret_keys = Some(std::sync::Arc::new(keys));
        self
    }

    /// The keys that seal secrets at rest, or an error naming what is missing.
    pub(crate) fn secret_keys(&self) -> Result<&SecretKeys> {
        self.secret_keys.as_deref().ok_or_else(|| {
            StoreError::Secret("no secret key is configured (--secret-key-file or LEV_SECRET_KEY)".into())
        })
    }

    /// Opens a stored secret of `purpose`; plaintext from older versions is returned as is
    /// (start-up seals it, see `seal_secrets_at_rest`).
    pub(crate) fn open_secret(&self, stored: String, purpose: &str) -> Result<String> {
        if !SecretKeys::is_sealed(&stored) {
            return Ok(stored);
        }
        self.secret_keys()?.open(&stored, purpose).map_err(|e| StoreError::Secret(e.to_string()))
    }

    pub(crate) fn seal_secret(&self, plain: &str, purpose: &str) -> Result<String> {
        self.secret_keys()?.seal(plain, purpose).map_err(StoreError::Secret)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// One page in id order: how many rows `count` matches, and the rows of `select` after id
    /// `after` (`id_column > after`), at most `limit + 1` (a further row tells that another page
    /// exists). `narrow` adds the conditions both share to each.
    pub(crate) async fn keyset_page<R>(
        &self,
        mut count: Sql,
        mut select: Sql,
        narrow: impl Fn(&mut Sql),
        id_column: &'static str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<R>, i64)>
    where
        R: Record + Send,
    {
        narrow(&mut count);
        narrow(&mut select);
        if let Some(after) = after {
            select.push(format_args!(" AND {id_column} > ")).push_bind(after);
        }
        select.push(format_args!(" ORDER BY {id_column} LIMIT ")).push_bind(i64::from(limit) + 1);
        if let Some(r) = self.readers() {
            // Filters may scan: count and page on a blocking thread, on one connection.
            return r
                .run(move |c| {
                    let total: i64 = readers::first(c, &count)?.unwrap_or(0);
                    let rows: Vec<R> = readers::query(c, &select, |rows| rows.collect())?;
                    Ok((rows, total))
                })
                .await;
        }
        if self.pg().is_some() {
            // Both statements on one connection.
            let mut c = self.pg_conn().await?;
            let total: i64 = pg::get(&c.one(count).await?, 0)?;
            let rows = c.all(select).await?;
            return Ok((pg::decode(&rows)?, total));
        }
        let total: i64 = count.build_query_scalar().fetch_one(&mut *self.conn().await?).await?;
        let rows = select.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        Ok((rows, total))
    }

    /// Applies every pending migration of this backend (they are embedded in the binary).
    pub async fn migrate(&self) -> Result<()> {
        let run = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await,
        };
        run.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::SchemaNotReady(format!(
                "the database has migration {v}, which this levd does not know: a newer levd migrated it. \
                 Run a levd at least as new as that one, or restore a backup taken before the upgrade"
            )),
            other => StoreError::Migrate(other),
        })
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

    /// The pools now (on PostgreSQL the typed read pool's connections count too), and the
    /// waits for their connections so far.
    pub fn pool_stats(&self) -> PoolStats {
        use std::sync::atomic::Ordering::Relaxed;
        let (pg_size, pg_idle) = self.pg.as_ref().map_or((0, 0), |p| p.stats());
        PoolStats {
            size: self.pool.size() + pg_size,
            idle: self.pool.num_idle() + pg_idle,
            waits: self.waits.count.load(Relaxed),
            wait_seconds: Duration::from_nanos(self.waits.nanos.load(Relaxed)).as_secs_f64(),
        }
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
        self.pool.close().await;
    }

    /// Current value of the credential-cache epoch (see the `auth_epoch` table).
    pub async fn auth_epoch(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT value FROM auth_epoch WHERE id = 1").fetch_one(&self.pool).await?)
    }
}

/// Connection settings of every SQLite connection. WAL: readers never block the writer. NORMAL
/// sync in WAL mode keeps every committed transaction across a crash of the process.
async fn sqlite_setup(conn: &mut sqlx::AnyConnection) -> std::result::Result<(), sqlx::Error> {
    // Pages freed by purges go back to the file system (new databases: this must come before
    // the first write, which switching to WAL is; an older one needs `levd migrate` once), and a
    // checkpointed log does not keep its largest size. A read-only database refuses the setting;
    // that is for the readiness check to report, not a reason to fail the connection.
    let _ = conn.execute("PRAGMA auto_vacuum = INCREMENTAL").await;
    // WAL: readers never block the writer. NORMAL sync in WAL mode keeps every committed
    // transaction across a crash of the process.
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))).await?;
    conn.execute("PRAGMA journal_size_limit = 67108864").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    Ok(())
}

/// The file of a normalized SQLite URL (`None` for an in-memory database).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    (!path.is_empty() && !path.starts_with(':')).then(|| std::path::PathBuf::from(path))
}

fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    std::path::PathBuf::from(s)
}

/// The database holds signing keys and secrets: a new file is created readable by its owner
/// only, whatever the umask (SQLite gives its WAL and shared-memory files the database file's
/// mode), and an existing one levd may write is tightened. A file levd may not write is
/// reported as such.
fn prepare_sqlite_file(file: &std::path::Path, url: &str) -> Result<()> {
    let read_only = url.contains("mode=ro") || url.contains("immutable=1");
    if !file.exists() {
        if url.contains("mode=rwc") {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(file) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(StoreError::File(format!("cannot create the database file {}: {e}", file.display())));
                }
            }
        }
        return Ok(());
    }
    if read_only {
        return Ok(());
    }
    if let Err(e) = std::fs::OpenOptions::new().write(true).open(file)
        && e.kind() == std::io::ErrorKind::PermissionDenied
    {
        return Err(StoreError::ReadOnly(format!("{} ({e})", file.display())));
    }
    tighten(file);
    Ok(())
}

/// Takes group and other permissions away from a file levd created, saying so.
fn tighten(file: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(file) else { return };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return;
        }
        match std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700)) {
            Ok(()) => {
                tracing::warn!(file = %file.display(), from = format!("{mode:o}"), "made the database file private (owner only)")
            }
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "the database file is readable by others and could not be made private")
            }
        }
    }
}

/// Creates a directory levd owns (document files) readable by its owner only, whatever the
/// umask; an existing one with wider permissions is tightened, with a warning.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))?;
            tracing::warn!(dir = %dir.display(), from = format!("{mode:o}"), "made the data directory private (owner only)");
        }
    }
    Ok(())
}

/// SQL text with `$n` placeholders (understood by SQLite and PostgreSQL alike) and its
/// arguments, built piece by piece. Values only ever enter through `push_bind`. The text and
/// arguments run either through sqlx ([`Sql::build`] and friends) or, for SQLite reads, on a
/// reader connection ([`readers::Readers`]).
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

/// One bound value of a [`Sql`], typed as it is bound (an absent float stays a float, see
/// [`Sql::push_opt_f64`]).
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

macro_rules! arg_from {
    ($($t:ty => $variant:ident $(as $via:ty)?),* $(,)?) => {$(
        impl From<$t> for Arg {
            fn from(v: $t) -> Arg {
                Arg::$variant(Some(v $(as $via)?))
            }
        }
        impl From<Option<$t>> for Arg {
            fn from(v: Option<$t>) -> Arg {
                Arg::$variant(v.map(|v| v $(as $via)?))
            }
        }
    )*};
}
arg_from!(i64 => Int, i32 => Int as i64, f64 => Float, String => Text, bool => Bool);

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_string()))
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        Arg::Text(v.map(str::to_string))
    }
}

impl Sql {
    pub(crate) fn new(text: impl Into<String>) -> Sql {
        Sql { text: text.into(), args: Vec::new() }
    }

    /// `text`, whose placeholders `$1`, `$2`, … are already written, with its next argument.
    pub(crate) fn arg(mut self, value: impl Into<Arg>) -> Sql {
        self.args.push(value.into());
        self
    }

    /// Appends constant SQL text.
    pub(crate) fn push(&mut self, text: impl std::fmt::Display) -> &mut Sql {
        use std::fmt::Write;
        let _ = write!(self.text, "{text}");
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn push_bind(&mut self, value: impl Into<Arg>) -> &mut Sql {
        self.args.push(value.into());
        let n = self.args.len();
        self.push(format_args!("${n}"))
    }

    /// ` AND <column> LIKE <pattern>`: rows whose `column` contains `text` literally (its `%`,
    /// `_` and `\` match themselves).
    pub(crate) fn push_contains(&mut self, column: &'static str, text: &str) -> &mut Sql {
        self.push(format_args!(" AND {column} LIKE "));
        self.push_bind(format!("%{}%", escape_like(text)));
        self.push(" ESCAPE '\\'")
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

    /// The arguments in sqlx's driver-neutral buffer. Encoding these plain values cannot fail.
    fn any_arguments(args: Vec<Arg>) -> AnyArguments {
        let mut out = AnyArguments::default();
        for a in args {
            let _ = match a {
                Arg::Int(v) => out.add(v),
                Arg::Float(v) => out.add(v),
                Arg::Text(v) => out.add(v),
                Arg::Bool(v) => out.add(v),
            };
        }
        out
    }

    pub(crate) fn build(self) -> sqlx::query::Query<'static, Any, AnyArguments> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.text), Sql::any_arguments(self.args))
    }

    pub(crate) fn build_query_as<R>(self) -> sqlx::query::QueryAs<'static, Any, R, AnyArguments>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as_with(sqlx::AssertSqlSafe(self.text), Sql::any_arguments(self.args))
    }

    pub(crate) fn build_query_scalar<T>(self) -> sqlx::query::QueryScalar<'static, Any, T, AnyArguments>
    where
        (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_scalar_with(sqlx::AssertSqlSafe(self.text), Sql::any_arguments(self.args))
    }
}

/// `s` with the wildcards of `LIKE` (and the escape character `\`) escaped by `\`.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off\\x"), "50\\%\\_off\\\\x");
        assert_eq!(escape_like("plain"), "plain");
    }

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
