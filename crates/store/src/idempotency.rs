//! Idempotency records (`docs/api.md#idempotency`): claimed atomically, completed with the response, released when
//! the response must not be stored.
//!
//! A claim whose request died with its server (process killed between the write and the
//! recording of the answer) is never taken over and executed again when nothing can tell
//! whether its write committed: it answers "in progress" until it expires. Writes that record
//! their answer inside their own transaction (`complete_claim_in`) are *recoverable*: if they
//! committed, the retry replays the recorded answer; if their claim is still running long
//! after it was taken, the write cannot have committed and the claim is taken over.
use crate::{Db, Result, Store};

/// The idempotency claim the current request holds, for writes that record their answer in
/// their own transaction.
#[derive(Debug, Clone)]
pub struct ClaimContext {
    pub account_id: i64,
    pub user_id: i64,
    pub key: String,
    pub request_id: String,
}

tokio::task_local! {
    /// Set by the request path around a handler that holds an idempotency claim.
    pub static CURRENT_CLAIM: ClaimContext;
}

/// Records, inside the write's own transaction, the answer the request is about to give
/// (`status` and the success envelope around `data`), so a retry after a crash replays it
/// rather than executing the write again. No-op when the request holds no claim.
pub(crate) async fn complete_claim_in<T: serde::Serialize>(
    tx: &mut sqlx::Transaction<'_, Db>,
    status: u16,
    data: &T,
) -> Result<()> {
    let Ok(claim) = CURRENT_CLAIM.try_with(Clone::clone) else {
        return Ok(());
    };
    let body = serde_json::json!({
        "request_id": claim.request_id,
        "timestamp": levd_domain::time_fmt::now_rfc3339(),
        "data": data,
    });
    sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', status = $1, body = $2 \
         WHERE account_id = $3 AND user_id = $4 AND idem_key = $5 AND state = 'running'",
    )
    .bind(i64::from(status))
    .bind(body.to_string())
    .bind(claim.account_id)
    .bind(claim.user_id)
    .bind(claim.key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

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
    /// `expired_before` are forgotten first, and so are recoverable claims still running since
    /// before `abandoned_before`. `recoverable`: the write records its answer in its own
    /// transaction.
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
        recoverable: bool,
    ) -> Result<Claim> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE account_id = $1 AND user_id = $2 AND idem_key = $3 \
             AND (created_at < $4 OR (state = 'running' AND recoverable = 1 AND created_at < $5))",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(key)
        .bind(expired_before)
        .bind(abandoned_before)
        .execute(self.pool())
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (account_id, user_id, idem_key, fingerprint, state, created_at, recoverable) \
             VALUES ($1, $2, $3, $4, 'running', $5, $6) ON CONFLICT (account_id, user_id, idem_key) DO NOTHING",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(key)
        .bind(fingerprint)
        .bind(now)
        .bind(i64::from(recoverable))
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
