//! Units of work: one write transaction a whole request runs on (`docs/api.md#idempotency`).
//!
//! `Store::unit` begins a write transaction and `Unit::store` gives a `Store` bound to it:
//! every query of the bound store runs on that transaction, and a store function's own
//! transaction (`begin_write`) becomes a savepoint inside it. Nothing is visible to others
//! until `Unit::commit`.
//!
//! Store functions reach the database through `Store::conn` (one statement or a short series)
//! or `Store::begin_write`; on a bound store both wait for the unit's single connection, so a
//! function must not hold one of them while calling another store function.
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::AnyConnection;
use sqlx::any::AnyTransactionManager;
use sqlx::pool::PoolConnection;
use sqlx_core::transaction::TransactionManager;
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard, OwnedSemaphorePermit};

use crate::idempotency::KeyInFlight;
use crate::{Backend, Db, Result, Store, StoreError};

/// The transaction of a unit, shared by the bound stores; `None` once it ended.
pub(crate) type Shared = Arc<Mutex<Option<sqlx::Transaction<'static, Db>>>>;

type Bound = OwnedMappedMutexGuard<Option<sqlx::Transaction<'static, Db>>, AnyConnection>;

/// A connection for a few statements: from the pool, or the unit's transaction.
pub(crate) enum Conn {
    Pooled(PoolConnection<Db>),
    Bound(Bound),
}

impl Deref for Conn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Bound(c) => c,
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Bound(c) => c,
        }
    }
}

/// A store function's write transaction: its own, or a savepoint in the unit's transaction.
/// Dropped without `commit`, its writes are undone either way.
pub(crate) enum WriteTx {
    /// Its own transaction; on SQLite with the process's writer turn, held until it ends.
    Own(sqlx::Transaction<'static, Db>, Option<OwnedSemaphorePermit>),
    Savepoint(Savepoint),
}

pub(crate) struct Savepoint {
    conn: Bound,
    open: bool,
}

impl Drop for Savepoint {
    fn drop(&mut self) {
        if self.open {
            AnyTransactionManager::start_rollback(&mut self.conn);
        }
    }
}

impl WriteTx {
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        match self {
            WriteTx::Own(tx, _turn) => tx.commit().await,
            WriteTx::Savepoint(mut s) => {
                AnyTransactionManager::commit(&mut s.conn).await?;
                s.open = false;
                Ok(())
            }
        }
    }

    pub(crate) async fn rollback(self) -> std::result::Result<(), sqlx::Error> {
        match self {
            WriteTx::Own(tx, _turn) => tx.rollback().await,
            WriteTx::Savepoint(mut s) => {
                AnyTransactionManager::rollback(&mut s.conn).await?;
                s.open = false;
                Ok(())
            }
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            WriteTx::Own(t, _) => t,
            WriteTx::Savepoint(s) => &s.conn,
        }
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WriteTx::Own(t, _) => t,
            WriteTx::Savepoint(s) => &mut s.conn,
        }
    }
}

/// One open write transaction and the stores bound to it. Dropped without `commit`, it is
/// rolled back.
pub struct Unit {
    store: Store,
    tx: Shared,
    /// SQLite: the one unit of this process that may hold the write lock (waiting units hold
    /// no connection).
    _turn: Option<OwnedSemaphorePermit>,
    /// The idempotency key the unit holds, released when it ends.
    held: Option<KeyInFlight>,
}

impl std::fmt::Debug for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unit").finish_non_exhaustive()
    }
}

impl Store {
    /// Begins a unit of work (SQLite: it takes the write lock at once).
    pub async fn unit(&self) -> Result<Unit> {
        // Units do not nest (on SQLite the inner one would wait for the outer one's turn).
        if self.unit.is_some() {
            return Err(StoreError::UnitEnded);
        }
        let turn = match self.backend {
            Backend::Sqlite => Some(self.unit_turns.clone().acquire_owned().await.map_err(|_| StoreError::UnitEnded)?),
            Backend::Postgres => None,
        };
        let tx: Shared = Arc::new(Mutex::new(Some(self.begin_own().await?)));
        let mut store = self.clone();
        store.unit = Some(tx.clone());
        Ok(Unit { store, tx, _turn: turn, held: None })
    }

    /// A connection for a few statements: pooled, or the unit's on a bound store. Hold it
    /// only for this function's own statements.
    pub(crate) async fn conn(&self) -> Result<Conn> {
        match &self.unit {
            None => {
                if let Some(c) = self.pool.try_acquire() {
                    return Ok(Conn::Pooled(c));
                }
                // No idle connection: the wait is what `GET /metrics` reports as pool waits.
                let started = std::time::Instant::now();
                let c = self.pool.acquire().await?;
                self.waits.record(started.elapsed());
                Ok(Conn::Pooled(c))
            }
            Some(shared) => Ok(Conn::Bound(lock(shared).await?)),
        }
    }

    /// Begins a transaction that may write (a savepoint on a bound store). On SQLite it takes
    /// the write lock at once (`BEGIN IMMEDIATE`): a deferred transaction that reads first and
    /// writes later cannot wait for the lock when another writer committed in between (its
    /// snapshot is stale), and would fail with "database is locked" instead of queueing
    /// behind it.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx> {
        match &self.unit {
            None => {
                let turn = self.writer_turn().await?;
                Ok(WriteTx::Own(self.begin_own().await?, turn))
            }
            Some(shared) => {
                let mut conn = lock(shared).await?;
                AnyTransactionManager::begin(&mut conn, None).await?;
                Ok(WriteTx::Savepoint(Savepoint { conn, open: true }))
            }
        }
    }

    /// SQLite has one writer at a time: write transactions and units of this process take
    /// turns in arrival order (a fair semaphore) instead of racing for the lock and sleeping in
    /// SQLite's busy handler. A turn not given within the busy timeout is an error, as a lock
    /// not taken in that time is (a write that waited on its own unit would otherwise wait
    /// forever). PostgreSQL takes no turn: its writers lock rows, not the database.
    pub(crate) async fn writer_turn(&self) -> Result<Option<OwnedSemaphorePermit>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let wait = std::time::Duration::from_millis(crate::SQLITE_BUSY_TIMEOUT_MS);
        match tokio::time::timeout(wait, self.unit_turns.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_)) => Err(StoreError::UnitEnded),
            Err(_) => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
    }

    async fn begin_own(&self) -> Result<sqlx::Transaction<'static, Db>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

/// Whether a connection is outside any transaction (fit to go back to the pool).
pub(crate) fn outside_transactions(conn: &AnyConnection) -> bool {
    AnyTransactionManager::get_transaction_depth(conn) == 0
}

async fn lock(shared: &Shared) -> Result<Bound> {
    let guard: OwnedMutexGuard<_> = shared.clone().lock_owned().await;
    OwnedMutexGuard::try_map(guard, |t| t.as_deref_mut()).map_err(|_| StoreError::UnitEnded)
}

impl Unit {
    /// A store whose every query runs in this unit.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    pub(crate) fn holding(mut self, key: KeyInFlight) -> Unit {
        self.held = Some(key);
        self
    }

    /// Ends a unit that holds an idempotency key (see `Store::claim_idempotency_key`): keeps
    /// or undoes the writes of the request, records its answer (`status`, `body`) and commits.
    pub async fn commit_with_answer(self, keep_writes: bool, status: u16, body: &str, now: &str) -> Result<()> {
        if keep_writes {
            self.keep_mark().await?;
        } else {
            self.undo_to_mark().await?;
        }
        if let Some(held) = &self.held {
            self.store.record_idempotent_answer(held, now, status, body).await?;
        }
        self.commit().await
    }

    /// Marks the point `undo_to_mark` returns to (a savepoint).
    pub(crate) async fn mark(&self) -> Result<()> {
        let mut conn = lock(&self.tx).await?;
        AnyTransactionManager::begin(&mut conn, None).await?;
        Ok(())
    }

    /// Undoes every write made since `mark`, which stays the point to return to no more.
    pub(crate) async fn undo_to_mark(&self) -> Result<()> {
        let mut conn = lock(&self.tx).await?;
        AnyTransactionManager::rollback(&mut conn).await?;
        Ok(())
    }

    /// Keeps the writes made since `mark` (releases the savepoint).
    pub(crate) async fn keep_mark(&self) -> Result<()> {
        let mut conn = lock(&self.tx).await?;
        AnyTransactionManager::commit(&mut conn).await?;
        Ok(())
    }

    /// Makes every write of the unit visible at once (savepoints still open are kept).
    pub async fn commit(self) -> Result<()> {
        let Some(mut tx) = self.tx.lock().await.take() else {
            return Err(StoreError::UnitEnded);
        };
        while AnyTransactionManager::get_transaction_depth(&tx) > 1 {
            AnyTransactionManager::commit(&mut tx).await?;
        }
        Ok(tx.commit().await?)
    }

    /// Undoes every write of the unit.
    pub async fn rollback(self) -> Result<()> {
        let tx = self.tx.lock().await.take();
        if let Some(mut tx) = tx {
            while AnyTransactionManager::get_transaction_depth(&tx) > 1 {
                AnyTransactionManager::rollback(&mut tx).await?;
            }
            tx.rollback().await?;
        }
        Ok(())
    }
}

impl Drop for Unit {
    /// Ended neither way (its task failed): every level of the transaction is rolled back
    /// before the connection goes back to the pool.
    fn drop(&mut self) {
        let Ok(mut slot) = self.tx.try_lock() else { return };
        if let Some(mut tx) = slot.take() {
            for _ in 1..AnyTransactionManager::get_transaction_depth(&tx) {
                AnyTransactionManager::start_rollback(&mut tx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::time::Duration;

    use crate::{Claim, Store, StoreError};

    const LONG_AGO: &str = "1970-01-01T00:00:00Z";
    const NOW: &str = "2026-01-01T00:00:00Z";

    async fn store(dir: &tempfile::TempDir) -> Store {
        Store::open_and_migrate(&format!("sqlite://{}", dir.path().join("lev.db").display())).await.unwrap()
    }

    async fn claim(s: &Store, key: &str) -> Claim {
        s.claim_idempotency_key(1, 2, key, "fp", LONG_AGO).await.unwrap()
    }

    #[tokio::test]
    async fn a_committed_answer_replays_and_a_dropped_unit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let Claim::Claimed(unit) = claim(&s, "k").await else { panic!("free key") };
        assert!(matches!(claim(&s, "k").await, Claim::InProgress));
        drop(unit);
        let Claim::Claimed(unit) = claim(&s, "k").await else { panic!("a dropped unit kept its key") };
        unit.commit_with_answer(true, 201, "{}", NOW).await.unwrap();
        assert!(matches!(claim(&s, "k").await, Claim::Replay { status: 201, body } if body == "{}"));
        assert!(matches!(s.claim_idempotency_key(1, 2, "k", "other", LONG_AGO).await.unwrap(), Claim::Mismatch));
    }

    #[tokio::test]
    async fn units_do_not_nest_and_a_bound_store_dies_with_its_unit() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let unit = s.unit().await.unwrap();
        let bound = unit.store();
        let nested = tokio::time::timeout(Duration::from_secs(5), bound.unit()).await.expect("no deadlock");
        assert!(matches!(nested, Err(StoreError::UnitEnded)));
        unit.rollback().await.unwrap();
        assert!(matches!(bound.purge_idempotency_keys(NOW).await, Err(StoreError::UnitEnded)));
    }
}
