//! Idempotency records (D16): claimed atomically, completed with the response, released when
//! the response must not be stored.
use crate::{Result, Store};

/// Outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This request owns the key and must execute.
    Claimed,
    /// Another request with this key is still executing.
    InProgress,
    /// The same request completed before: replay its status and body.
    Replay { status: u16, body: String },
    /// The key was used for a different request.
    Mismatch,
}

impl Store {
    /// Claims `(account, user, key)` for a request with `fingerprint`. Records created before
    /// `expired_before`, and claims still running since before `abandoned_before` (their server
    /// died mid-request), are forgotten first.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_idempotency_key(
        &self,
        account_id: i64,
        user_id: i64,
        key: &str,
        fingerprint: &str,
        now: &str,
        expired_before: &str,
        abandoned_before: &str,
    ) -> Result<Claim> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE account_id = $1 AND user_id = $2 AND idem_key = $3 \
             AND (created_at < $4 OR (state = 'running' AND created_at < $5))",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(key)
        .bind(expired_before)
        .bind(abandoned_before)
        .execute(self.pool())
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (account_id, user_id, idem_key, fingerprint, state, created_at) \
             VALUES ($1, $2, $3, $4, 'running', $5) ON CONFLICT (account_id, user_id, idem_key) DO NOTHING",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(key)
        .bind(fingerprint)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Claimed);
        }
        let row: Option<(String, String, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT fingerprint, state, status, body FROM idempotency_keys WHERE account_id = $1 AND user_id = $2 AND idem_key = $3",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            // Released between our insert and select: treat as still busy; the client retries.
            None => Claim::InProgress,
            Some((fp, _, _, _)) if fp != fingerprint => Claim::Mismatch,
            Some((_, state, Some(status), Some(body))) if state == "done" => {
                Claim::Replay { status: u16::try_from(status).unwrap_or(500), body }
            }
            Some(_) => Claim::InProgress,
        })
    }

    pub async fn complete_idempotency_key(
        &self,
        account_id: i64,
        user_id: i64,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE idempotency_keys SET state = 'done', status = $1, body = $2 WHERE account_id = $3 AND user_id = $4 AND idem_key = $5")
            .bind(i64::from(status))
            .bind(body)
            .bind(account_id)
            .bind(user_id)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn release_idempotency_key(&self, account_id: i64, user_id: i64, key: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE account_id = $1 AND user_id = $2 AND idem_key = $3 AND state = 'running'",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(key)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Drops every record older than `expired_before`; run periodically.
    pub async fn purge_idempotency_keys(&self, expired_before: &str) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(expired_before)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}
