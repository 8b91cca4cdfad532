//! Shared rate-limit buckets: atomic GCRA leases, so several nodes can enforce one limit.
use crate::{Backend, Result, Store};

/// The outcome of asking a bucket for tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLease {
    /// Tokens granted (0 when the bucket is empty).
    pub granted: u32,
    /// Database clock at the time of the lease, seconds since the epoch.
    pub now: f64,
    /// The bucket's theoretical arrival time after the lease.
    pub tat: f64,
}

impl Store {
    /// Takes up to `want` tokens from `bucket`, which admits one request every `interval`
    /// seconds with a burst of `period / interval`. The database clock is used, so nodes with
    /// skewed clocks still agree.
    pub async fn lease_rate_tokens(&self, bucket: &str, interval: f64, want: u32, period: f64) -> Result<RateLease> {
        let mut tx = self.begin_write().await?;
        // Writing first takes SQLite's write lock at once; on PostgreSQL the row lock below
        // serialises concurrent leases of one bucket.
        sqlx::query("INSERT INTO rate_buckets (bucket, tat) VALUES ($1, 0) ON CONFLICT (bucket) DO NOTHING")
            .bind(bucket)
            .execute(&mut *tx)
            .await?;
        let select = match self.backend() {
            Backend::Postgres => {
                "SELECT tat, CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION) FROM rate_buckets \
                 WHERE bucket = $1 FOR UPDATE"
            }
            Backend::Sqlite => {
                "SELECT tat, (julianday('now') - 2440587.5) * 86400.0 FROM rate_buckets WHERE bucket = $1"
            }
        };
        let (tat, now): (f64, f64) = sqlx::query_as(select).bind(bucket).fetch_one(&mut *tx).await?;
        let base = tat.max(now);
        let room = ((now + period - base) / interval + 1e-9).floor().max(0.0);
        let granted = room.min(f64::from(want)) as u32;
        let new_tat = base + f64::from(granted) * interval;
        if granted > 0 {
            sqlx::query("UPDATE rate_buckets SET tat = $1 WHERE bucket = $2")
                .bind(new_tat)
                .bind(bucket)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(RateLease { granted, now, tat: if granted > 0 { new_tat } else { tat } })
    }

    /// Forgets buckets idle since before `before` (epoch seconds).
    pub async fn purge_rate_buckets(&self, before: f64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM rate_buckets WHERE tat < $1")
            .bind(before)
            .execute(&mut *self.conn().await?)
            .await?
            .rows_affected())
    }
}
