//! API keys: stored by SHA-256 digest only, never in plain text.
use levd_domain::scope::{KeyPermission, Role, Tier};
use sqlx::FromRow;

use crate::{BUMP_EPOCH, Result, Store, StoreError};

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

impl Store {
    /// Inserts a key unless the account already holds `ceiling` active keys. The count and the
    /// insert are one statement, so two concurrent creations cannot both pass the check.
    pub async fn insert_api_key(&self, k: NewKey<'_>, ceiling: i64) -> Result<KeyRow> {
        let row = sqlx::query_as::<_, KeyRow>(sqlf!(
            "INSERT INTO api_keys (user_id, account_id, label, key_prefix, key_digest, permission, created_at) \
             SELECT ?, ?, ?, ?, ?, ?, ? \
             WHERE (SELECT COUNT(*) FROM api_keys WHERE account_id = ? AND revoked_at IS NULL) < ? \
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
        .fetch_optional(self.pool())
        .await
        .map_err(|e| StoreError::on_unique(e, "api key"))?;
        row.ok_or(StoreError::KeyCeilingReached)
    }

    /// Looks a key up by the digest of the presented secret.
    pub async fn key_for_auth(&self, digest_hex: &str) -> Result<Option<KeyAuthRow>> {
        Ok(sqlx::query_as::<_, KeyAuthRow>(
            "SELECT k.id AS key_id, k.user_id, k.account_id, a.slug AS account_slug, a.api_tier, k.permission, \
                    m.role, k.revoked_at, k.last_used_at \
             FROM api_keys k JOIN accounts a ON a.id = k.account_id \
             LEFT JOIN memberships m ON m.user_id = k.user_id AND m.account_id = k.account_id AND m.status = 'active' \
             WHERE k.key_digest = ?",
        )
        .bind(digest_hex)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn count_active_keys(&self, account_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE account_id = ? AND revoked_at IS NULL")
            .bind(account_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Active keys of an account, optionally only those of one user, by id.
    pub async fn list_keys(
        &self,
        account_id: i64,
        user_id: Option<i64>,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<KeyRow>, i64)> {
        let filter = "account_id = ? AND revoked_at IS NULL AND (? IS NULL OR user_id = ?)";
        let rows = sqlx::query_as::<_, KeyRow>(sqlf!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE {filter} ORDER BY id LIMIT ? OFFSET ?"
        ))
        .bind(account_id)
        .bind(user_id)
        .bind(user_id)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        let total = sqlx::query_scalar(sqlf!("SELECT COUNT(*) FROM api_keys WHERE {filter}"))
            .bind(account_id)
            .bind(user_id)
            .bind(user_id)
            .fetch_one(self.pool())
            .await?;
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
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL \
             AND (? IS NULL OR account_id = ?) AND (? IS NULL OR user_id = ?)",
        )
        .bind(at)
        .bind(key_id)
        .bind(account_id)
        .bind(account_id)
        .bind(user_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Records a use of the key.
    pub async fn touch_key(&self, key_id: i64, at: &str, origin_app: &str) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = ?, last_origin_app = ? WHERE id = ?")
            .bind(at)
            .bind(origin_app)
            .bind(key_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
