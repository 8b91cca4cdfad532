//! Tables of the built-in OAuth 2.1 authorization server. Codes, refresh tokens, interaction
//! handles and client secrets arrive here as SHA-256 digests (hex); nothing stored can be
//! replayed. Times are epoch seconds.
use sqlx::FromRow;

use crate::{BUMP_EPOCH, Result, Store, StoreError};

/// One signing key pair of the authorization server.
#[derive(Debug, Clone, FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub private_pem: String,
    /// The public half as a JWK (JSON text).
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// A registered client (dynamic registration). Clients identified by a metadata-document URL
/// are not stored.
#[derive(Debug, Clone, FromRow)]
pub struct ClientRow {
    pub client_id: String,
    pub secret_digest: Option<String>,
    pub auth_method: String,
    pub client_name: Option<String>,
    /// JSON array of strings.
    pub redirect_uris: String,
    /// The registration response (JSON), returned again on reads.
    pub metadata: String,
    pub created_at: i64,
}

/// A sign-in and consent in progress.
#[derive(Debug, Clone, FromRow)]
pub struct InteractionRow {
    pub csrf_digest: String,
    /// The validated authorization request (JSON).
    pub request: String,
    /// Set once the user has signed in.
    pub user_id: Option<i64>,
    pub expires_at: i64,
}

/// A consent: the family of every code and token issued from it.
#[derive(Debug, Clone, FromRow)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub user_id: i64,
    pub scope: String,
    pub audience: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// What redeeming a code or a refresh token found.
#[derive(Debug, Clone)]
pub enum Redemption<T> {
    /// First use: the row, now marked used.
    Fresh(T),
    /// Known but already used: a replay. The grant has been revoked.
    Replayed,
    /// Unknown.
    Unknown,
}

#[derive(Debug, Clone, FromRow)]
pub struct CodeRow {
    pub grant_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: i64,
}

/// How a sign-in bucket admits attempts: at most `limit` per window of `window` seconds, and,
/// once `free_failures` are counted in the window, a wait before each further attempt that
/// starts at `base_delay` seconds and doubles with every failure up to `max_delay`.
#[derive(Debug, Clone, Copy)]
pub struct AttemptRule {
    pub window: i64,
    pub limit: i64,
    pub free_failures: i64,
    pub base_delay: i64,
    pub max_delay: i64,
}

/// A sign-in bucket as stored.
#[derive(Debug, Clone, FromRow)]
pub struct SigninBucketRow {
    pub window_start: i64,
    pub failures: i64,
    /// No attempt before this time (epoch seconds).
    pub not_before: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct RefreshRow {
    pub grant_id: String,
    pub expires_at: i64,
}

/// Rows issued from a grant.
trait OfGrant {
    fn grant_id(&self) -> &str;
}

impl OfGrant for CodeRow {
    fn grant_id(&self) -> &str {
        &self.grant_id
    }
}

impl OfGrant for RefreshRow {
    fn grant_id(&self) -> &str {
        &self.grant_id
    }
}

/// The associated data a signing key's private half is sealed with: its row.
pub(crate) fn signing_key_purpose(kid: &str) -> String {
    format!("oauth_signing_keys:{kid}")
}

const KEY_COLUMNS: &str = "kid, private_pem, public_jwk, created_at, retired_at";
const CLIENT_COLUMNS: &str = "client_id, secret_digest, auth_method, client_name, redirect_uris, metadata, created_at";
const GRANT_COLUMNS: &str = "id, client_id, user_id, scope, audience, created_at, revoked_at";

impl Store {
    // -----------------------------------------------------------------------------------------
    // Passwords
    // -----------------------------------------------------------------------------------------

    /// Sets a user's password hash (PHC string), and gives the user a subject when it has none
    /// yet, so tokens of the built-in server can name it (`docs/auth.md#jwt`).
    pub async fn set_password(&self, user_id: i64, password_hash: &str, default_subject: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE users SET password_hash = $1, subject = COALESCE(subject, $2) WHERE id = $3")
            .bind(password_hash)
            .bind(default_subject)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The password hash of a user, if one was set.
    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, Option<String>>("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?
            .flatten())
    }

    // -----------------------------------------------------------------------------------------
    // Signing keys
    // -----------------------------------------------------------------------------------------

    /// Every key, newest first.
    ///
    /// The private keys are stored sealed with the secret key and returned opened.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>> {
        let rows = sqlx::query_as::<_, SigningKeyRow>(sqlf!(
            "SELECT {KEY_COLUMNS} FROM oauth_signing_keys ORDER BY created_at DESC, kid DESC"
        ))
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.into_iter()
            .map(|mut r| {
                r.private_pem = self.open_secret(std::mem::take(&mut r.private_pem), &signing_key_purpose(&r.kid))?;
                Ok(r)
            })
            .collect()
    }

    /// The kid of every signing key, newest first, without opening any private key.
    pub async fn signing_key_ids(&self) -> Result<Vec<(String, i64, Option<i64>)>> {
        Ok(sqlx::query_as::<_, (String, i64, Option<i64>)>(
            "SELECT kid, created_at, retired_at FROM oauth_signing_keys ORDER BY created_at DESC, kid DESC",
        )
        .fetch_all(&mut *self.conn().await?)
        .await?)
    }

    /// Adds a key; with `retire_others`, every older key stops signing (it stays published
    /// until the tokens it signed have expired).
    pub async fn add_signing_key(&self, key: &SigningKeyRow, retire_others: bool) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if retire_others {
            sqlx::query("UPDATE oauth_signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO oauth_signing_keys (kid, private_pem, public_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(&key.kid)
        .bind(self.seal_secret(&key.private_pem, &signing_key_purpose(&key.kid))?)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes keys retired before `before`.
    pub async fn purge_signing_keys(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM oauth_signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
            .bind(before)
            .execute(&mut *self.conn().await?)
            .await?
            .rows_affected())
    }

    // -----------------------------------------------------------------------------------------
    // Clients
    // -----------------------------------------------------------------------------------------

    pub async fn insert_client(&self, c: &ClientRow) -> Result<()> {
        sqlx::query(sqlf!("INSERT INTO oauth_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(&c.client_id)
            .bind(c.secret_digest.as_deref())
            .bind(&c.auth_method)
            .bind(c.client_name.as_deref())
            .bind(&c.redirect_uris)
            .bind(&c.metadata)
            .bind(c.created_at)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(|e| StoreError::on_unique(e, "client"))?;
        Ok(())
    }

    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRow>> {
        Ok(sqlx::query_as::<_, ClientRow>(sqlf!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1"))
            .bind(client_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?)
    }

    // -----------------------------------------------------------------------------------------
    // Interactions (sign-in and consent in progress)
    // -----------------------------------------------------------------------------------------

    pub async fn insert_interaction(&self, id_digest: &str, row: &InteractionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_interactions (id_digest, csrf_digest, request, user_id, expires_at) VALUES ($1, $2, $3, NULL, $4)",
        )
        .bind(id_digest)
        .bind(&row.csrf_digest)
        .bind(&row.request)
        .bind(row.expires_at)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    pub async fn interaction(&self, id_digest: &str) -> Result<Option<InteractionRow>> {
        Ok(sqlx::query_as::<_, InteractionRow>(
            "SELECT csrf_digest, request, user_id, expires_at FROM oauth_interactions WHERE id_digest = $1",
        )
        .bind(id_digest)
        .fetch_optional(&mut *self.conn().await?)
        .await?)
    }

    pub async fn set_interaction_user(&self, id_digest: &str, user_id: i64) -> Result<()> {
        sqlx::query("UPDATE oauth_interactions SET user_id = $1 WHERE id_digest = $2")
            .bind(user_id)
            .bind(id_digest)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    /// Ends an interaction; `true` for the one caller that ended it (a double submit gets
    /// `false`).
    pub async fn take_interaction(&self, id_digest: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM oauth_interactions WHERE id_digest = $1")
            .bind(id_digest)
            .execute(&mut *self.conn().await?)
            .await?
            .rows_affected()
            == 1)
    }

    // -----------------------------------------------------------------------------------------
    // Grants, codes, refresh tokens
    // -----------------------------------------------------------------------------------------

    /// Records a consent and its authorization code in one transaction.
    pub async fn insert_grant_with_code(&self, grant: &GrantRow, code_digest: &str, code: &CodeRow) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(sqlf!("INSERT INTO oauth_grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)"))
            .bind(&grant.id)
            .bind(&grant.client_id)
            .bind(grant.user_id)
            .bind(&grant.scope)
            .bind(&grant.audience)
            .bind(grant.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_codes (code_digest, grant_id, redirect_uri, code_challenge, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(code_digest)
        .bind(&code.grant_id)
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(code.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether some user has an active consent for this client.
    pub async fn client_has_active_grant(&self, client_id: &str) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT 1 FROM oauth_grants WHERE client_id = $1 AND revoked_at IS NULL LIMIT 1",
        )
        .bind(client_id)
        .fetch_optional(&mut *self.conn().await?)
        .await?
        .is_some())
    }

    pub async fn grant(&self, id: &str) -> Result<Option<GrantRow>> {
        Ok(sqlx::query_as::<_, GrantRow>(sqlf!("SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await?)
    }

    /// Revokes a grant: every token issued from it stops working (on this node at once, on
    /// the others at their next epoch check). `true` when it was active.
    pub async fn revoke_grant(&self, id: &str, now: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE oauth_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// A user's active grants, newest first, with the name of their client when it registered one.
    pub async fn active_grants_of(&self, user_id: i64) -> Result<Vec<(GrantRow, Option<String>)>> {
        #[derive(FromRow)]
        struct Named {
            #[sqlx(flatten)]
            grant: GrantRow,
            client_name: Option<String>,
        }
        let rows = sqlx::query_as::<_, Named>(
            "SELECT g.id, g.client_id, g.user_id, g.scope, g.audience, g.created_at, g.revoked_at, c.client_name \
             FROM oauth_grants g LEFT JOIN oauth_clients c ON c.client_id = g.client_id \
             WHERE g.user_id = $1 AND g.revoked_at IS NULL ORDER BY g.created_at DESC, g.id",
        )
        .bind(user_id)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok(rows.into_iter().map(|r| (r.grant, r.client_name)).collect())
    }

    /// Revokes every active grant of a user (of one client only, when given). Returns how many.
    pub async fn revoke_grants_of(&self, user_id: i64, client_id: Option<&str>, now: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let n = match client_id {
            Some(c) => sqlx::query(
                "UPDATE oauth_grants SET revoked_at = $1 WHERE user_id = $2 AND client_id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(user_id)
            .bind(c)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            None => sqlx::query("UPDATE oauth_grants SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
        };
        if n > 0 {
            sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Marks a code used; a second redemption revokes its grant.
    pub async fn redeem_code(&self, code_digest: &str, now: i64) -> Result<Redemption<CodeRow>> {
        self.redeem(
            "UPDATE oauth_codes SET used_at = $1 WHERE code_digest = $2 AND used_at IS NULL",
            "SELECT grant_id, redirect_uri, code_challenge, expires_at FROM oauth_codes WHERE code_digest = $1",
            code_digest,
            now,
        )
        .await
    }

    pub async fn insert_refresh_token(&self, digest: &str, grant_id: &str, expires_at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_refresh_tokens (token_digest, grant_id, expires_at, used_at) VALUES ($1, $2, $3, NULL)",
        )
        .bind(digest)
        .bind(grant_id)
        .bind(expires_at)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    /// Marks a refresh token used (rotation); reuse of a used one revokes its grant.
    pub async fn redeem_refresh_token(&self, digest: &str, now: i64) -> Result<Redemption<RefreshRow>> {
        self.redeem(
            "UPDATE oauth_refresh_tokens SET used_at = $1 WHERE token_digest = $2 AND used_at IS NULL",
            "SELECT grant_id, expires_at FROM oauth_refresh_tokens WHERE token_digest = $1",
            digest,
            now,
        )
        .await
    }

    /// Single use of a code or refresh token: `claim` marks the row used only if it was not,
    /// `read` fetches it. A known row that was already used is a replay: its grant is revoked.
    async fn redeem<T>(&self, claim: &'static str, read: &'static str, digest: &str, now: i64) -> Result<Redemption<T>>
    where
        T: OfGrant + for<'r> FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let claimed =
            sqlx::query(claim).bind(now).bind(digest).execute(&mut *self.conn().await?).await?.rows_affected();
        let row = sqlx::query_as::<_, T>(read).bind(digest).fetch_optional(&mut *self.conn().await?).await?;
        Ok(match (claimed, row) {
            (1, Some(row)) => Redemption::Fresh(row),
            (_, Some(row)) => {
                self.revoke_grant(row.grant_id(), now).await?;
                Redemption::Replayed
            }
            (_, None) => Redemption::Unknown,
        })
    }

    /// The grant a refresh token belongs to, without using the token (revocation).
    pub async fn refresh_token_grant(&self, digest: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT grant_id FROM oauth_refresh_tokens WHERE token_digest = $1")
            .bind(digest)
            .fetch_optional(&mut *self.conn().await?)
            .await?)
    }

    /// Drops expired interactions, codes and refresh tokens.
    pub async fn purge_oauth(&self, now: i64) -> Result<u64> {
        let mut n = 0;
        for sql in [
            "DELETE FROM oauth_interactions WHERE expires_at < $1",
            "DELETE FROM oauth_codes WHERE expires_at < $1",
            "DELETE FROM oauth_refresh_tokens WHERE expires_at < $1",
            "DELETE FROM oauth_signin_failures WHERE window_start < $1 - 86400",
        ] {
            n += sqlx::query(sql).bind(now).execute(&mut *self.conn().await?).await?.rows_affected();
        }
        Ok(n)
    }

    /// Deletes client registrations made before `cutoff` (unix seconds) that have no grant in
    /// use: none that is still active, and none created or revoked since `cutoff`. A purged
    /// client registers again when it next needs to. Idempotent, so every node may run it.
    pub async fn purge_unused_clients(&self, cutoff: i64) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM oauth_clients WHERE created_at < $1 AND NOT EXISTS (
                 SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.client_id
                 AND (g.revoked_at IS NULL OR g.revoked_at >= $1 OR g.created_at >= $1))",
        )
        .bind(cutoff)
        .execute(&mut *self.conn().await?)
        .await?
        .rows_affected())
    }

    // -----------------------------------------------------------------------------------------
    // Failed sign-ins
    // -----------------------------------------------------------------------------------------

    /// Reserves one sign-in attempt in `bucket` before the password is checked, in a single
    /// statement, so parallel attempts (on any node) cannot all pass a count read before any of
    /// them was recorded. Returns the attempt's number in the window, or `None` when the bucket
    /// refuses it (its limit is reached or its delay has not passed). A reserved attempt counts
    /// as a failure until [`Store::clear_signin_failures`] or [`Store::release_signin_attempt`].
    ///
    /// A bucket without a running delay keeps `not_before` at 0: parallel requests read the
    /// clock before they reach the database, so one whose `now` is a second behind another's
    /// must not be refused for a delay nobody set.
    pub async fn reserve_signin_attempt(&self, bucket: &str, now: i64, rule: &AttemptRule) -> Result<Option<i64>> {
        const EXPIRED: &str = "oauth_signin_failures.window_start < $3";
        let delay = format!(
            "CASE WHEN {EXPIRED} THEN $6 WHEN oauth_signin_failures.failures + 1 < $5 THEN 0 \
             WHEN oauth_signin_failures.delay_secs = 0 THEN $7 \
             WHEN oauth_signin_failures.delay_secs * 2 > $8 THEN $8 \
             ELSE oauth_signin_failures.delay_secs * 2 END"
        );
        let sql = sqlf!(
            "INSERT INTO oauth_signin_failures (bucket, window_start, failures, delay_secs, not_before) \
             VALUES ($1, $2, 1, $6, CASE WHEN $6 = 0 THEN 0 ELSE $2 + $6 END) \
             ON CONFLICT (bucket) DO UPDATE SET \
               window_start = CASE WHEN {EXPIRED} THEN $2 ELSE oauth_signin_failures.window_start END, \
               failures = CASE WHEN {EXPIRED} THEN 1 ELSE oauth_signin_failures.failures + 1 END, \
               delay_secs = {delay}, \
               not_before = CASE WHEN {delay} = 0 THEN 0 ELSE $2 + {delay} END \
             WHERE {EXPIRED} OR (oauth_signin_failures.failures < $4 AND oauth_signin_failures.not_before <= $2) \
             RETURNING failures"
        );
        let first_delay = if rule.free_failures <= 1 { rule.base_delay.min(rule.max_delay) } else { 0 };
        Ok(sqlx::query_scalar::<_, i64>(sql)
            .bind(bucket)
            .bind(now)
            .bind(now - rule.window)
            .bind(rule.limit)
            .bind(rule.free_failures)
            .bind(first_delay)
            .bind(rule.base_delay.min(rule.max_delay))
            .bind(rule.max_delay)
            .fetch_optional(&mut *self.conn().await?)
            .await?)
    }

    /// Gives back an attempt reserved in `bucket` that was never checked (another bucket
    /// refused it).
    pub async fn release_signin_attempt(&self, bucket: &str) -> Result<()> {
        sqlx::query("UPDATE oauth_signin_failures SET failures = failures - 1 WHERE bucket = $1 AND failures > 0")
            .bind(bucket)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    /// The state of a bucket, to tell a refused caller when to come back.
    pub async fn signin_bucket(&self, bucket: &str) -> Result<Option<SigninBucketRow>> {
        Ok(sqlx::query_as::<_, SigninBucketRow>(
            "SELECT window_start, failures, not_before FROM oauth_signin_failures WHERE bucket = $1",
        )
        .bind(bucket)
        .fetch_optional(&mut *self.conn().await?)
        .await?)
    }

    pub async fn clear_signin_failures(&self, bucket: &str) -> Result<()> {
        sqlx::query("DELETE FROM oauth_signin_failures WHERE bucket = $1")
            .bind(bucket)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }
}
