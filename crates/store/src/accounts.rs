//! Accounts, users and memberships.
use levd_domain::scope::{Role, Tier};
use levd_domain::time_fmt::now_rfc3339;
use sqlx::FromRow;

use crate::{BUMP_EPOCH, Result, Sql, Store, StoreError};

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct AccountRow {
    pub id: i64,
    pub uuid: String,
    pub slug: String,
    pub name: String,
    pub account_type: Option<String>,
    pub api_tier: String,
    pub created_at: String,
}

crate::readers::from_sqlite!(AccountRow { id, uuid, slug, name, account_type, api_tier, created_at });
crate::readers::from_sqlite!(UserRow {
    id,
    uuid,
    email,
    first_name,
    last_name,
    title,
    photo_url,
    subject,
    active_account_id,
    last_login_at,
    created_at,
});
crate::readers::from_sqlite!(MembershipRow { account_id, slug, name, account_type, api_tier, role });

impl AccountRow {
    pub fn tier(&self) -> Tier {
        Tier::parse(&self.api_tier).unwrap_or(Tier::Free)
    }
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct UserRow {
    pub id: i64,
    pub uuid: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub photo_url: Option<String>,
    pub subject: Option<String>,
    pub active_account_id: Option<i64>,
    pub last_login_at: Option<String>,
    pub created_at: String,
}

/// An active membership together with its account.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct MembershipRow {
    pub account_id: i64,
    pub slug: String,
    pub name: String,
    pub account_type: Option<String>,
    pub api_tier: String,
    pub role: String,
}

impl MembershipRow {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Viewer)
    }
    pub fn tier(&self) -> Tier {
        Tier::parse(&self.api_tier).unwrap_or(Tier::Free)
    }
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct TeamMemberRow {
    pub user_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub role: String,
    pub photo_url: Option<String>,
    pub title: Option<String>,
}

const ACCOUNT_BY_ID: &str =
    "SELECT id, uuid, slug, name, account_type, api_tier, created_at FROM accounts WHERE id = $1";

const USER_COLUMNS: &str =
    "id, uuid, email, first_name, last_name, title, photo_url, subject, active_account_id, last_login_at, created_at";

impl Store {
    pub async fn create_account(
        &self,
        uuid: &str,
        slug: &str,
        name: &str,
        account_type: Option<&str>,
        tier: Tier,
    ) -> Result<AccountRow> {
        sqlx::query_as::<_, AccountRow>(
            "INSERT INTO accounts (uuid, slug, name, account_type, api_tier, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, uuid, slug, name, account_type, api_tier, created_at",
        )
        .bind(uuid)
        .bind(slug)
        .bind(name)
        .bind(account_type)
        .bind(tier.as_str())
        .bind(now_rfc3339())
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(|e| StoreError::on_unique(e, "account slug"))
    }

    pub async fn account_by_slug(&self, slug: &str) -> Result<Option<AccountRow>> {
        Ok(sqlx::query_as::<_, AccountRow>(
            "SELECT id, uuid, slug, name, account_type, api_tier, created_at FROM accounts WHERE slug = $1",
        )
        .bind(slug)
        .fetch_optional(&mut *self.conn().await?)
        .await?)
    }

    pub async fn account_by_id(&self, id: i64) -> Result<Option<AccountRow>> {
        self.read_optional(Sql::new(ACCOUNT_BY_ID).arg(id)).await
    }

    /// What `GET /me` reads for a caller acting in an account: the user, the account and the
    /// account's count of active keys. On SQLite the three statements share one read
    /// transaction on one reader connection (the database is locked for reading once, not three
    /// times, and all three see one snapshot); elsewhere they are the three reads of their own.
    pub async fn me_facts(&self, user_id: i64, account_id: i64) -> Result<(Option<UserRow>, Option<AccountRow>, i64)> {
        if let Some(r) = self.readers() {
            let user = Sql::new(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")).arg(user_id);
            let account = Sql::new(ACCOUNT_BY_ID).arg(account_id);
            let keys = Sql::new(crate::keys::COUNT_ACTIVE_KEYS).arg(account_id);
            return r
                .bounded(move |c| {
                    crate::readers::together(c, |c| {
                        let count: Option<i64> = crate::readers::first(c, &keys)?;
                        Ok((crate::readers::first(c, &user)?, crate::readers::first(c, &account)?, count.unwrap_or(0)))
                    })
                })
                .await;
        }
        Ok((
            self.user_by_id(user_id).await?,
            self.account_by_id(account_id).await?,
            self.count_active_keys(account_id).await?,
        ))
    }

    pub async fn count_accounts(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&mut *self.conn().await?).await?)
    }

    pub async fn create_user(
        &self,
        uuid: &str,
        email: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
        subject: Option<&str>,
    ) -> Result<UserRow> {
        sqlx::query_as::<_, UserRow>(sqlf!(
            "INSERT INTO users (uuid, email, first_name, last_name, subject, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {USER_COLUMNS}"
        ))
        .bind(uuid)
        .bind(email)
        .bind(first_name)
        .bind(last_name)
        .bind(subject)
        .bind(now_rfc3339())
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(|e| StoreError::on_unique(e, "user (email or subject)"))
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>> {
        self.read_optional(Sql::new(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")).arg(id)).await
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as::<_, UserRow>(sqlf!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(&mut *self.conn().await?)
            .await?)
    }

    pub async fn user_by_subject(&self, subject: &str) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as::<_, UserRow>(sqlf!("SELECT {USER_COLUMNS} FROM users WHERE subject = $1"))
            .bind(subject)
            .fetch_optional(&mut *self.conn().await?)
            .await?)
    }

    pub async fn touch_last_login(&self, user_id: i64, at: &str) -> Result<()> {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(at)
            .bind(user_id)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    /// Adds the user to the account, or changes the role of an existing membership.
    pub async fn upsert_membership(&self, user_id: i64, account_id: i64, role: Role) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO memberships (user_id, account_id, role, status, created_at) VALUES ($1, $2, $3, 'active', $4) \
             ON CONFLICT (user_id, account_id) DO UPDATE SET role = excluded.role, status = 'active'",
        )
        .bind(user_id)
        .bind(account_id)
        .bind(role.as_str())
        .bind(now_rfc3339())
        .execute(&mut *tx)
        .await?;
        sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a membership and revokes, in the same transaction, every key the user holds on
    /// that account, so adding the user back later does not bring old keys back to life.
    pub async fn remove_membership(&self, user_id: i64, account_id: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE memberships SET status = 'removed' WHERE user_id = $1 AND account_id = $2 AND status = 'active'",
        )
        .bind(user_id)
        .bind(account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND account_id = $3 AND revoked_at IS NULL",
        )
        .bind(now_rfc3339())
        .bind(user_id)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Every active membership of the user, in account id order.
    pub async fn memberships_of(&self, user_id: i64) -> Result<Vec<MembershipRow>> {
        self.read_all(
            Sql::new(
                "SELECT a.id AS account_id, a.slug, a.name, a.account_type, a.api_tier, m.role \
                 FROM memberships m JOIN accounts a ON a.id = m.account_id \
                 WHERE m.user_id = $1 AND m.status = 'active' ORDER BY a.id",
            )
            .arg(user_id),
        )
        .await
    }

    /// Saves the user's active-account preference; cached principals on every node refresh.
    pub async fn set_active_account(&self, user_id: i64, account_id: Option<i64>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET active_account_id = $1 WHERE id = $2")
            .bind(account_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Active members of an account, by user id, with the total count.
    pub async fn team(&self, account_id: i64, limit: u32, offset: u64) -> Result<(Vec<TeamMemberRow>, i64)> {
        let rows = sqlx::query_as::<_, TeamMemberRow>(
            "SELECT u.id AS user_id, u.first_name, u.last_name, u.email, m.role, u.photo_url, u.title \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.account_id = $1 AND m.status = 'active' ORDER BY u.id LIMIT $2 OFFSET $3",
        )
        .bind(account_id)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *self.conn().await?)
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND status = 'active'")
                .bind(account_id)
                .fetch_one(&mut *self.conn().await?)
                .await?;
        Ok((rows, total))
    }
}
