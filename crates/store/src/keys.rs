//! API keys: stored by SHA-256 digest only, never in plain text.
use levd_domain::scope::{KeyPermission, Role, Tier};
use sqlx::FromRow;

use crate::{BUMP_EPOCH, Backend, Result, Sql, Store, StoreError};

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct KeyRow {
    pub id: i64,
    pub user_id: i64,
    pub account_id: i64,
    pub label: String,
    pub key_prefix: String,
    pub permission: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What authenticating with a key needs: the key, its account and the user's current role there
/// (`None` when the membership is gone).
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct KeyAuthRow {
    pub key_id: i64,
    pub user_id: i64,
    pub account_id: i64,
    pub account_slug: String,
    pub api_tier: String,
    pub permission: String,
    pub role: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

impl KeyAuthRow {
    pub fn permission(&self) -> KeyPermission {
        KeyPermission::parse(&self.permission).unwrap_or(KeyPermission::ReadOnly)
    }
    pub fn role(&self) -> Option<Role> {
        self.role.as_deref().and_then(Role::parse)
    }
    pub fn tier(&self) -> Tier {
        Tier::parse(&self.api_tier).unwrap_or(Tier::Free)
    }
}

pub struct NewKey<'a> {
    pub user_id: i64,
    pub account_id: i64,
    pub label: &'a str,
    pub key_prefix: &'a str,
    pub digest_hex: &'a str,
    pub permission: KeyPermission,
    pub created_at: &'a str,
}

const KEY_COLUMNS: &str =
    "id, user_id, account_id, label, key_prefix, permission, created_at, last_used_at, revoked_at";

pub(crate) const COUNT_ACTIVE_KEYS: &str = "SELECT COUNT(*) FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL";

impl Store {
    /// Inserts a key unless the account already holds `ceiling` active keys. The count and the
    /// insert are one statement, so two concurrent creations cannot both pass the check.
    pub async fn insert_api_key(&self, k: NewKey<'_>, ceiling: i64) -> Result<KeyRow> {
        let mut tx = self.begin_write().await?;
        if self.backend() == Backend::Postgres {
            // Under READ COMMITTED two inserts could both see room below the ceiling; a lock
            // per account serialises them. (SQLite runs one writer at a time anyway.)
            sqlx::query("SELECT pg_advisory_xact_lock(7001, CAST($1 AS INTEGER))")
                .bind(k.account_id)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query_as::<_, KeyRow>(sqlf!(
            "INSERT INTO api_keys (user_id, account_id, label, key_prefix, key_digest, permission, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE (SELECT COUNT(*) FROM api_keys WHERE account_id = $8 AND revoked_at IS NULL) < $9 \
             RETURNING {KEY_COLUMNS}"
        ))
        .bind(k.user_id)
        .bind(k.account_id)
        .bind(k.label)
        .bind(k.key_prefix)
        .bind(k.digest_hex)
        .bind(k.permission.as_str())
        .bind(k.created_at)
        .bind(k.account_id)
        .bind(ceiling)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "api key"))?;
        let row = row.ok_or(StoreError::KeyCeilingReached)?;
        tx.commit().await?;
        Ok(row)
    }

    /// Looks a key up by the digest of the presented secret.
    pub async fn key_for_auth(&self, digest_hex: &str) -> Result<Option<KeyAuthRow>> {
        Ok(sqlx::query_as::<_, KeyAuthRow>(
            "SELECT k.id AS key_id, k.user_id, k.account_id, a.slug AS account_slug, a.api_tier, k.permission, \
                    m.role, k.revoked_at, k.last_used_at \
             FROM api_keys k JOIN accounts a ON a.id = k.account_id \
             LEFT JOIN memberships m ON m.user_id = k.user_id AND m.account_id = k.account_id AND m.status = 'active' \
             WHERE k.key_digest = $1",
        )
        .bind(digest_hex)
        .fetch_optional(&mut *self.conn().await?)
        .await?)
    }

    pub async fn count_active_keys(&self, account_id: i64) -> Result<i64> {
        self.read_i64(Sql::new(COUNT_ACTIVE_KEYS).arg(account_id)).await
    }

    /// Active keys of an account, optionally only those of one user, by id.
    pub async fn list_keys(
        &self,
        account_id: i64,
        user_id: Option<i64>,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<KeyRow>, i64)> {
        let filter = |sql: &mut Sql| {
            sql.push(" WHERE account_id = ").push_bind(account_id).push(" AND revoked_at IS NULL");
            if let Some(u) = user_id {
                sql.push(" AND user_id = ").push_bind(u);
            }
        };
        let mut q = Sql::new(format!("SELECT {KEY_COLUMNS} FROM api_keys"));
        filter(&mut q);
        q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        q.push(" OFFSET ").push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let rows: Vec<KeyRow> = q.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        let mut c = Sql::new("SELECT COUNT(*) FROM api_keys");
        filter(&mut c);
        let total: i64 = c.build_query_scalar().fetch_one(&mut *self.conn().await?).await?;
        Ok((rows, total))
    }

    /// Revokes an active key of the account (and of `user_id` when given). `false` when no such
    /// active key exists.
    pub async fn revoke_key(
        &self,
        key_id: i64,
        account_id: Option<i64>,
        user_id: Option<i64>,
        at: &str,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let mut q = Sql::new("UPDATE api_keys SET revoked_at = ");
        q.push_bind(at.to_string()).push(" WHERE id = ").push_bind(key_id).push(" AND revoked_at IS NULL");
        if let Some(a) = account_id {
            q.push(" AND account_id = ").push_bind(a);
        }
        if let Some(u) = user_id {
            q.push(" AND user_id = ").push_bind(u);
        }
        let n = q.build().execute(&mut *tx).await?.rows_affected();
        if n > 0 {
            sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Records a use of the key.
    pub async fn touch_key(&self, key_id: i64, at: &str, origin_app: &str) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1, last_origin_app = $2 WHERE id = $3")
            .bind(at)
            .bind(origin_app)
            .bind(key_id)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }
}
