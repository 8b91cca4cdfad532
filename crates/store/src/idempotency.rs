//! Idempotency records (`docs/api.md#idempotency`). A record holds the answer of a completed
//! request; it is written in the unit of work of the request's own writes, so both become
//! visible together or not at all. A request that is still running has no committed record:
//! this process knows its own requests in flight (see the request path), and on PostgreSQL the
//! unit also holds a transaction-scoped advisory lock on the key, which other nodes test and
//! which ends with the transaction, also when its server dies.
use sha2::{Digest, Sha256};

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::{Backend, Result, Store, Unit};

enum Found {
    /// Another node's unit holds the key.
    Busy,
    Nothing,
    Record {
        fingerprint: String,
        answer: Option<(u16, String)>,
    },
}

/// Outcome of claiming an idempotency key.
#[derive(Debug)]
pub enum Claim {
    /// No answer is recorded for the key: this request executes in the unit of work, which
    /// holds the key until it ends.
    Claimed(Unit),
    /// Another request with this key is still executing.
    InProgress,
    /// The same request completed before: replay its status and body.
    Replay { status: u16, body: String },
    /// The key was used for a different request.
    Mismatch,
}

/// The key a unit of work holds, and the request it was claimed for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct HeldKey {
    account_id: i64,
    user_id: i64,
    key: String,
}

/// The keys of this process's requests in flight.
pub(crate) type InFlight = Arc<Mutex<HashSet<HeldKey>>>;

/// A key of `InFlight`, removed when dropped (with the unit that holds it).
#[derive(Debug)]
pub(crate) struct KeyInFlight {
    set: InFlight,
    pub(crate) held: HeldKey,
    pub(crate) fingerprint: String,
}

impl Drop for KeyInFlight {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.held);
    }
}

/// The advisory-lock number of a key: the first 8 bytes of a hash of its three parts.
fn lock_id(account_id: i64, user_id: i64, key: &str) -> i64 {
    let mut h = Sha256::new();
    h.update(b"idempotency\0");
    h.update(account_id.to_be_bytes());
    h.update(user_id.to_be_bytes());
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    i64::from_be_bytes(first)
}

impl Store {
    /// Claims `(account, user, key)` for a request with `fingerprint`: answers at once when the
    /// key is in use or answered, or begins the unit of work the request runs in. A record
    /// created before `expired_before` is forgotten first.
    pub async fn claim_idempotency_key(
        &self,
        account_id: i64,
        user_id: i64,
        key: &str,
        fingerprint: &str,
        expired_before: &str,
    ) -> Result<Claim> {
        let held = HeldKey { account_id, user_id, key: key.to_string() };
        if !self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(held.clone()) {
            return Ok(Claim::InProgress);
        }
        let in_flight = KeyInFlight { set: self.in_flight.clone(), held, fingerprint: fingerprint.to_string() };
        let unit = self.unit().await?;
        let found = unit.store().find_idempotent_answer(account_id, user_id, key, expired_before).await?;
        let claim = match found {
            Found::Busy => Claim::InProgress,
            Found::Nothing => {
                unit.mark().await?;
                return Ok(Claim::Claimed(unit.holding(in_flight)));
            }
            Found::Record { fingerprint: fp, .. } if fp != fingerprint => Claim::Mismatch,
            Found::Record { answer: Some((status, body)), .. } => Claim::Replay { status, body },
            // A claim an older levd left running: its write may have committed, so it is not
            // executed again before it expires.
            Found::Record { answer: None, .. } => Claim::InProgress,
        };
        unit.rollback().await?;
        Ok(claim)
    }

    /// What the database holds for a key, on a store bound to a unit of work. On PostgreSQL
    /// the unit first takes the key's advisory lock: `Busy` when another node's unit holds it.
    async fn find_idempotent_answer(
        &self,
        account_id: i64,
        user_id: i64,
        key: &str,
        expired_before: &str,
    ) -> Result<Found> {
        if self.backend() == Backend::Postgres {
            let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(lock_id(account_id, user_id, key))
                .fetch_one(&mut *self.conn().await?)
                .await?;
            if !free {
                return Ok(Found::Busy);
            }
        }
        let mut conn = self.conn().await?;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE account_id = $1 AND user_id = $2 AND idem_key = $3 AND created_at < $4",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(key)
        .bind(expired_before)
        .execute(&mut *conn)
        .await?;
        let row: Option<(String, String, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT fingerprint, state, status, body FROM idempotency_keys WHERE account_id = $1 AND user_id = $2 AND idem_key = $3",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(match row {
            None => Found::Nothing,
            Some((fingerprint, state, status, body)) => {
                let answer = match (state.as_str(), status, body) {
                    ("done", Some(status), Some(body)) => Some((u16::try_from(status).unwrap_or(500), body)),
                    _ => None,
                };
                Found::Record { fingerprint, answer }
            }
        })
    }

    /// Records the answer to the request that claimed `held` (in its unit of work).
    pub(crate) async fn record_idempotent_answer(
        &self,
        held: &KeyInFlight,
        now: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO idempotency_keys (account_id, user_id, idem_key, fingerprint, state, status, body, created_at) \
             VALUES ($1, $2, $3, $4, 'done', $5, $6, $7)",
        )
        .bind(held.held.account_id)
        .bind(held.held.user_id)
        .bind(held.held.key.clone())
        .bind(held.fingerprint.clone())
        .bind(i64::from(status))
        .bind(body.to_string())
        .bind(now.to_string())
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    /// Drops every record older than `expired_before`; run periodically.
    pub async fn purge_idempotency_keys(&self, expired_before: &str) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(expired_before)
            .execute(&mut *self.conn().await?)
            .await?
            .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::lock_id;

    #[test]
    fn lock_ids_differ_by_each_part() {
        let base = lock_id(1, 2, "k");
        assert_eq!(base, lock_id(1, 2, "k"));
        assert_ne!(base, lock_id(2, 2, "k"));
        assert_ne!(base, lock_id(1, 3, "k"));
        assert_ne!(base, lock_id(1, 2, "l"));
    }
}
