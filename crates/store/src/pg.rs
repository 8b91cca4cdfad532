//! PostgreSQL reads outside units of work, on a pool of sqlx's own PostgreSQL connections: the
//! statements are prepared once per connection (sqlx's statement cache), the arguments are
//! bound with their PostgreSQL types, and the rows are decoded straight into typed records.
//! Through the `Any` pool every row is first copied into a driver-neutral row (each text value
//! into a new string) and then converted again.
//!
//! The records are the ones of the SQLite readers (`readers.rs`): one `from_sqlite!`
//! declaration gives both decoders. Members are found by column name once per statement, not
//! once per row. Values are decoded as through the `Any` driver, so both paths read the same SQL
//! the same way: an integer column of any width is an `i64` (an `integer` literal, a `smallint`),
//! a `f64` is a `double precision` only, a NULL of any type is an absent value.
//!
//! The connections come from a `PgPool` but are kept checked out between reads ([`Readers`]):
//! sqlx's pool tests a connection with a round trip to the server every time it is given back
//! (and when one is taken after a wait), which doubled the round trips of a one-statement read.
//!
//! Reads inside a unit of work stay on the unit's connection: they must see its own
//! uncommitted writes.

use std::sync::Mutex;

use sqlx::error::BoxDynError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgRow, PgValueRef, Postgres};
use sqlx::{Arguments, Column, Decode, Row, Type, ValueRef};

use crate::{Arg, PoolWaits, Sql, StoreError};

/// Connections of the read pool (besides the `Any` pool's, which serve units and the writes but
/// for the one-statement deal insert).
pub(crate) const READ_CONNECTIONS: u32 = 8;

/// The typed read connections: a `PgPool` of [`READ_CONNECTIONS`] and the ones of them held
/// between reads. A read takes a held one (or a new one from the pool) and hands it back when
/// its statements completed; a connection whose read failed other than by the server's refusal
/// of a statement, or was abandoned midway (the request dropped), goes back to the pool
/// instead, which tests it and closes it if it is broken.
#[derive(Debug)]
pub(crate) struct Readers {
    pool: sqlx::PgPool,
    idle: Mutex<Vec<PoolConnection<Postgres>>>,
    turns: tokio::sync::Semaphore,
}

impl Readers {
    pub(crate) fn new(pool: sqlx::PgPool) -> Readers {
        Readers { pool, idle: Mutex::new(Vec::new()), turns: tokio::sync::Semaphore::new(READ_CONNECTIONS as usize) }
    }

    /// A connection for the statements of one read; a wait for a free one is counted in `waits`.
    pub(crate) async fn take(&self, waits: &PoolWaits) -> crate::Result<Reader<'_>> {
        let permit = match self.turns.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                let started = std::time::Instant::now();
                let p = self.turns.acquire().await.map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
                waits.record(started.elapsed());
                p
            }
        };
        let held = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let conn = match held {
            Some(c) => c,
            None => self.pool.acquire().await?,
        };
        Ok(Reader { conn: Some(conn), reusable: false, readers: self, _permit: permit })
    }

    /// Open connections and idle ones among them.
    pub(crate) fn stats(&self) -> (u32, usize) {
        let held = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        (self.pool.size(), self.pool.num_idle() + held)
    }

    pub(crate) async fn close(&self) {
        self.turns.close();
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        self.pool.close().await;
    }
}

/// One read's connection (see [`Readers`]).
pub(crate) struct Reader<'a> {
    conn: Option<PoolConnection<Postgres>>,
    /// Whether the last statement completed, leaving the connection ready for the next.
    reusable: bool,
    readers: &'a Readers,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take()
            && self.reusable
        {
            self.readers.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(c);
        }
    }
}

/// Whether a connection is fit for the next statement after one that ended with `r`: it
/// completed, or the server refused it (the connection then waits for the next command).
fn completed<T>(r: &sqlx::Result<T>) -> bool {
    matches!(r, Ok(_) | Err(sqlx::Error::Database(_) | sqlx::Error::RowNotFound))
}

impl Reader<'_> {
    async fn run<'c, T, F>(&'c mut self, f: impl FnOnce(&'c mut sqlx::PgConnection) -> F) -> sqlx::Result<T>
    where
        F: Future<Output = sqlx::Result<T>> + 'c,
    {
        self.reusable = false;
        let conn = self.conn.as_mut().ok_or(sqlx::Error::PoolClosed)?;
        let out = f(conn).await;
        self.reusable = completed(&out);
        out
    }

    /// Every row of `sql`.
    pub(crate) async fn all(&mut self, sql: Sql) -> crate::Result<Vec<PgRow>> {
        let q = sql.build_pg()?;
        Ok(self.run(|c| q.fetch_all(c)).await?)
    }

    /// The first row of `sql`, if any.
    pub(crate) async fn optional(&mut self, sql: Sql) -> crate::Result<Option<PgRow>> {
        let q = sql.build_pg()?;
        Ok(self.run(|c| q.fetch_optional(c)).await?)
    }

    /// The first row of `sql`; an error when there is none.
    pub(crate) async fn one(&mut self, sql: Sql) -> crate::Result<PgRow> {
        let q = sql.build_pg()?;
        Ok(self.run(|c| q.fetch_one(c)).await?)
    }
}

/// A record read from one PostgreSQL row. Its members are found by column name; [`decode`]
/// looks the names up once per statement.
pub(crate) trait FromPg: Sized {
    /// The column names the record reads, in the order `from_pg` takes them; empty for a
    /// record read by position (a scalar, a tuple).
    const COLUMNS: &'static [&'static str];
    /// The record of `row`; `at[i]` is the position of `COLUMNS[i]` in the row.
    fn from_pg(row: &PgRow, at: &[usize]) -> sqlx::Result<Self>;
}

impl FromPg for i64 {
    const COLUMNS: &'static [&'static str] = &[];
    fn from_pg(row: &PgRow, _: &[usize]) -> sqlx::Result<i64> {
        get(row, 0)
    }
}

impl FromPg for (i64, i64) {
    const COLUMNS: &'static [&'static str] = &[];
    fn from_pg(row: &PgRow, _: &[usize]) -> sqlx::Result<(i64, i64)> {
        Ok((get(row, 0)?, get(row, 1)?))
    }
}

/// A value of one column, decoded as the `Any` driver would decode it from PostgreSQL.
pub(crate) trait PgField: Sized {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError>;
}

/// `Ok(())` when `value` is not NULL (a NULL needs an `Option`).
fn not_null(value: &PgValueRef<'_>) -> Result<(), BoxDynError> {
    if value.is_null() { Err(Box::new(sqlx::error::UnexpectedNullError)) } else { Ok(()) }
}

fn mismatch<T>(value: &PgValueRef<'_>, want: &str) -> Result<T, BoxDynError> {
    Err(format!("mismatched types; Rust type `{want}` is not compatible with SQL type `{}`", value.type_info()).into())
}

impl PgField for i64 {
    fn decode(value: PgValueRef<'_>) -> Result<i64, BoxDynError> {
        not_null(&value)?;
        let ty = value.type_info().into_owned();
        if <i64 as Type<Postgres>>::compatible(&ty) {
            <i64 as Decode<Postgres>>::decode(value)
        } else if <i32 as Type<Postgres>>::compatible(&ty) {
            <i32 as Decode<Postgres>>::decode(value).map(i64::from)
        } else if <i16 as Type<Postgres>>::compatible(&ty) {
            <i16 as Decode<Postgres>>::decode(value).map(i64::from)
        } else {
            mismatch(&value, "i64")
        }
    }
}

/// Fields decoded from their own PostgreSQL type only, as through `Any` (which, for one, refuses
/// a `real` for a `f64`).
macro_rules! strict_field {
    ($($ty:ty),*) => {$(
        impl PgField for $ty {
            fn decode(value: PgValueRef<'_>) -> Result<$ty, BoxDynError> {
                not_null(&value)?;
                if <$ty as Type<Postgres>>::compatible(&value.type_info()) {
                    <$ty as Decode<Postgres>>::decode(value)
                } else {
                    mismatch(&value, stringify!($ty))
                }
            }
        }
    )*};
}
strict_field!(f64, String, bool);

impl<T: PgField> PgField for Option<T> {
    fn decode(value: PgValueRef<'_>) -> Result<Option<T>, BoxDynError> {
        if value.is_null() { Ok(None) } else { T::decode(value).map(Some) }
    }
}

/// The value of column `index` (a position or a name) of `row`.
pub(crate) fn get<T: PgField, I: sqlx::ColumnIndex<PgRow> + std::fmt::Debug + Copy>(
    row: &PgRow,
    index: I,
) -> sqlx::Result<T> {
    let value = row.try_get_raw(index)?;
    T::decode(value).map_err(|source| sqlx::Error::ColumnDecode { index: format!("{index:?}"), source })
}

/// The position of each of `R`'s columns among the columns of `row` (names compared without
/// regard to case, as SQLite's readers compare them).
fn positions<R: FromPg>(row: &PgRow) -> sqlx::Result<Vec<usize>> {
    let columns = row.columns();
    R::COLUMNS
        .iter()
        .map(|want| {
            columns
                .iter()
                .position(|c| c.name().eq_ignore_ascii_case(want))
                .ok_or_else(|| sqlx::Error::ColumnNotFound((*want).to_string()))
        })
        .collect()
}

/// `rows` (of one statement) decoded.
pub(crate) fn decode<R: FromPg>(rows: &[PgRow]) -> sqlx::Result<Vec<R>> {
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let at = positions::<R>(first)?;
    rows.iter().map(|row| R::from_pg(row, &at)).collect()
}

/// One row decoded.
pub(crate) fn decode_one<R: FromPg>(row: &PgRow) -> sqlx::Result<R> {
    R::from_pg(row, &positions::<R>(row)?)
}

impl Sql {
    /// The arguments with their PostgreSQL types: `bigint`, `double precision`, `text`,
    /// `boolean`, a NULL typed as its kind. The `Any` driver binds the same types (but for an
    /// absent float, which it binds as `real`: see [`Sql::push_opt_f64`]).
    fn pg_arguments(args: Vec<Arg>) -> sqlx::Result<PgArguments> {
        let mut out = PgArguments::default();
        for a in args {
            match a {
                Arg::Int(v) => out.add(v),
                Arg::Float(v) => out.add(v),
                Arg::Text(v) => out.add(v),
                Arg::Bool(v) => out.add(v),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(out)
    }

    /// The statement for sqlx's PostgreSQL driver (prepared once per connection and cached).
    pub(crate) fn build_pg(self) -> sqlx::Result<sqlx::query::Query<'static, Postgres, PgArguments>> {
        let args = Sql::pg_arguments(self.args)?;
        Ok(sqlx::query_with(sqlx::AssertSqlSafe(self.text), args))
    }
}

/// Implements [`FromPg`] for a struct whose fields are named like the columns of its `SELECT`
/// (in any order); `from_sqlite!` invokes it.
macro_rules! from_pg {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        impl $crate::pg::FromPg for $ty {
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];
            fn from_pg(row: &sqlx::postgres::PgRow, at: &[usize]) -> sqlx::Result<Self> {
                let mut at = at.iter();
                Ok(Self {
                    $($field: $crate::pg::get(
                        row,
                        *at.next().ok_or_else(|| sqlx::Error::ColumnNotFound(stringify!($field).into()))?,
                    )?,)*
                })
            }
        }
    };
}
pub(crate) use from_pg;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use sqlx::Executor;

    use crate::{Backend, Sql, Store, StoreError};

    /// A record of every kind of value the records hold, from columns of other widths too.
    #[derive(Debug, PartialEq, sqlx::FromRow)]
    struct Probe {
        id: i64,
        small: i64,
        name: Option<String>,
        r: Option<f64>,
        d: f64,
        flag: bool,
    }
    crate::readers::from_sqlite!(Probe { id, small, name, r, d, flag });

    /// A store on a new database of the server `LEV_TEST_DATABASE_URL` names
    /// (`scripts/with-postgres.sh` starts one); `None` without one.
    async fn postgres() -> Option<Store> {
        let admin = std::env::var("LEV_TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres"))?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("levd_s_{}_{nanos}", std::process::id());
        let admin_store = Store::open(&admin).await.unwrap();
        admin_store.pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap();
        admin_store.close().await;
        let (base, query) = admin.split_once('?').map_or((admin.as_str(), None), |(b, q)| (b, Some(q)));
        let scheme_end = base.find("://").unwrap() + 3;
        let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
        let url = format!("{}/{name}{}", &base[..host_end], query.map(|q| format!("?{q}")).unwrap_or_default());
        let store = Store::open(&url).await.unwrap();
        assert!(store.pg.is_some(), "a PostgreSQL store opens the typed read pool");
        store
            .pool
            .execute(
                "CREATE TABLE probe (id BIGINT PRIMARY KEY, small INTEGER NOT NULL, name TEXT, r DOUBLE PRECISION, \
                 d DOUBLE PRECISION NOT NULL, flag BOOLEAN NOT NULL); \
                 INSERT INTO probe VALUES (1, 7, 'a', 2.5, 1.25, TRUE), (2, -3, NULL, NULL, 3, FALSE)",
            )
            .await
            .unwrap();
        Some(store)
    }

    /// The same store reading through the `Any` pool only.
    fn through_any(s: &Store) -> Store {
        Store::on_pool(s.pool.clone(), Backend::Postgres)
    }

    #[tokio::test]
    async fn typed_reads_decode_and_bind_as_the_any_driver_does() {
        let Some(s) = postgres().await else {
            eprintln!("no PostgreSQL server named (LEV_TEST_DATABASE_URL): nothing to compare");
            return;
        };
        let any = through_any(&s);
        assert!(any.pg().is_none());
        // Columns in another order and case than the fields; an INTEGER widens.
        let all = || Sql::new("SELECT FLAG, d, r, name, small, id FROM probe ORDER BY id");
        let typed: Vec<Probe> = s.read_all(all()).await.unwrap();
        assert_eq!(typed, any.read_all::<Probe>(all()).await.unwrap());
        assert_eq!(
            typed,
            vec![
                Probe { id: 1, small: 7, name: Some("a".into()), r: Some(2.5), d: 1.25, flag: true },
                Probe { id: 2, small: -3, name: None, r: None, d: 3.0, flag: false },
            ]
        );
        // Every kind of argument, absent ones too, binds with its type.
        let args = || {
            let mut q = Sql::new("SELECT id, small, name, r, d, flag FROM probe WHERE (name = ");
            q.push_bind(Some("a")).push(" OR ").push_bind(None::<String>).push(" IS NULL) AND d > ");
            q.push_bind(1.0).push(" AND flag = ").push_bind(true).push(" AND id >= ").push_bind(1);
            q.push(" AND ").push_bind(None::<i64>).push(" IS NULL AND ").push_bind(None::<bool>).push(" IS NULL");
            q
        };
        let one: Option<Probe> = s.read_optional(args()).await.unwrap();
        assert_eq!(one.as_ref().map(|p| p.id), Some(1));
        assert_eq!(one, any.read_optional(args()).await.unwrap());
        // Counts of every integer width, and a pair.
        for sql in ["SELECT COUNT(*) FROM probe", "SELECT CAST(COUNT(*) AS INTEGER) FROM probe", "SELECT 2"] {
            assert_eq!(s.read_i64(Sql::new(sql)).await.unwrap(), 2, "{sql}");
            assert_eq!(any.read_i64(Sql::new(sql)).await.unwrap(), 2, "{sql}");
        }
        let (rows, total): (Vec<(i64, i64)>, i64) = s
            .keyset_page(
                Sql::new("SELECT COUNT(*) FROM probe WHERE TRUE"),
                Sql::new("SELECT id, small FROM probe WHERE TRUE"),
                |q| {
                    q.push(" AND d > ").push_bind(0.5);
                },
                "id",
                Some(1),
                10,
            )
            .await
            .unwrap();
        assert_eq!((rows, total), (vec![(2, -3)], 2));
        // A NULL of another type is an absent value; text read as a number, and a NULL where
        // the record has no room for one, fail alike.
        let null = || Sql::new("SELECT id, small, r AS name, name AS r, d, flag FROM probe WHERE id = 2");
        let absent: Option<Probe> = s.read_optional(null()).await.unwrap();
        assert_eq!(absent.as_ref().map(|p| (&p.name, p.r)), Some((&None, None)));
        assert_eq!(absent, any.read_optional(null()).await.unwrap());
        let bad = || Sql::new("SELECT name AS id, small, name, r, d, flag FROM probe WHERE id = 1");
        assert!(matches!(s.read_optional::<Probe>(bad()).await, Err(StoreError::Database(_))));
        assert!(matches!(any.read_optional::<Probe>(bad()).await, Err(StoreError::Database(_))));
        let missing = || Sql::new("SELECT NULL::BIGINT AS id, small, name, r, d, flag FROM probe WHERE id = 1");
        assert!(s.read_optional::<Probe>(missing()).await.is_err());
        assert!(any.read_optional::<Probe>(missing()).await.is_err());
        let narrow = || Sql::new("SELECT id, small, name, CAST(r AS REAL) AS r, d, flag FROM probe WHERE id = 1");
        assert!(s.read_optional::<Probe>(narrow()).await.is_err());
        assert!(any.read_optional::<Probe>(narrow()).await.is_err());
        s.close().await;
    }

    #[tokio::test]
    async fn reads_inside_a_unit_see_its_writes_and_others_do_not() {
        let Some(s) = postgres().await else {
            eprintln!("no PostgreSQL server named (LEV_TEST_DATABASE_URL): nothing to compare");
            return;
        };
        let unit = s.unit().await.unwrap();
        let bound = unit.store();
        assert!(bound.pg().is_none(), "a unit's reads stay on its connection");
        sqlx::query("INSERT INTO probe VALUES (3, 0, 'c', NULL, 0, TRUE)")
            .execute(&mut *bound.conn().await.unwrap())
            .await
            .unwrap();
        let count = || Sql::new("SELECT COUNT(*) FROM probe");
        assert_eq!(bound.read_i64(count()).await.unwrap(), 3);
        assert_eq!(s.read_i64(count()).await.unwrap(), 2);
        unit.commit().await.unwrap();
        assert_eq!(s.read_i64(count()).await.unwrap(), 3);
        s.close().await;
    }
}
