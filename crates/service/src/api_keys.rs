//! API keys: create, list, revoke (`docs/auth.md#api-keys`) and the public validation endpoint (`docs/auth.md#api-keys`).
use levd_domain::api_key::{ApiKeyRevocation, ApiKeySecret, digest_hex};
use levd_domain::input::{BodyReader, parse_object};
use levd_domain::query::{ListQuery, ListSpec, Paging};
use levd_domain::scope::{AccountScope, CredentialKind, KeyPermission, Role, Tier};
use levd_domain::time_fmt::now_rfc3339;
use levd_domain::{ApiError, ErrorKind};
use levd_store::{KeyRow, NewKey, StoreError};
use serde_json::{Value, json};

use crate::{Page, Service, offset_pagination};

const KEY_LIST: ListSpec =
    ListSpec { filters: &[], sorts: &[], fields: &[], includes: &[], search: false, cursor: false, offset: true };

/// A key just issued: the row and the secret, which is shown this once.
pub struct IssuedKey {
    pub row: KeyRow,
    pub secret: ApiKeySecret,
}

pub fn key_json(row: &KeyRow, secret: Option<&ApiKeySecret>) -> Value {
    let mut v = json!({
        "id": row.id,
        "label": row.label,
        "key_prefix": row.key_prefix,
        "permission": row.permission,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
    });
    if let (Some(s), Some(m)) = (secret, v.as_object_mut()) {
        m.insert("api_key".into(), Value::from(s.expose()));
    }
    v
}

fn require_key_admin(scope: &AccountScope) -> Result<(), ApiError> {
    if let CredentialKind::ApiKey { permission: KeyPermission::ReadOnly, .. } = scope.credential {
        return Err(ApiError::forbidden("A read_only API key cannot manage API keys"));
    }
    if scope.role != Role::Admin {
        return Err(ApiError::forbidden("Only account admins can manage API keys"));
    }
    Ok(())
}

impl Service {
    /// Issues a key for a user on an account, within the tier's ceiling (also used by the admin CLI).
    pub async fn issue_key(
        &self,
        user_id: i64,
        account_id: i64,
        tier: Tier,
        label: &str,
        permission: KeyPermission,
    ) -> Result<IssuedKey, ApiError> {
        let secret = ApiKeySecret::generate().map_err(|e| {
            tracing::error!(error = %e, "no randomness for a new API key");
            ApiError::internal()
        })?;
        let prefix = secret.key_prefix();
        let digest = digest_hex(&secret.digest());
        let now = now_rfc3339();
        let row = self
            .store
            .insert_api_key(
                NewKey {
                    user_id,
                    account_id,
                    label,
                    key_prefix: &prefix,
                    digest_hex: &digest,
                    permission,
                    created_at: &now,
                },
                tier.max_api_keys(),
            )
            .await
            .map_err(|e| match e {
                StoreError::KeyCeilingReached => ApiError::new(
                    ErrorKind::Validation,
                    format!(
                        "API key limit reached: the {} tier allows at most {} active keys per account",
                        tier.as_str(),
                        tier.max_api_keys()
                    ),
                )
                .with_detail("max_allowed", tier.max_api_keys()),
                other => other.into(),
            })?;
        Ok(IssuedKey { row, secret })
    }

    /// `POST /api-keys`.
    pub async fn create_api_key(&self, scope: &AccountScope, body: &[u8]) -> Result<Value, ApiError> {
        require_key_admin(scope)?;
        let body = parse_object(body)?;
        let mut r = BodyReader::new(&body);
        let label = r.string("label", 255, true);
        r.required("label", &label);
        let permission = r.enumeration("permission", &["full_access", "read_only"]);
        r.finish()?;
        let label = label.value().unwrap_or_default();
        let permission = permission.value().and_then(KeyPermission::parse).unwrap_or(KeyPermission::FullAccess);
        let issued = self.issue_key(scope.user_id, scope.account_id, scope.tier, &label, permission).await?;
        Ok(key_json(&issued.row, Some(&issued.secret)))
    }

    /// `GET /api-keys`: the caller's active keys; `?scope=account` (admins) lists the account's.
    pub async fn list_api_keys(&self, scope: &AccountScope, raw_query: Option<&str>) -> Result<Page, ApiError> {
        let q = ListQuery::parse(raw_query, &KEY_LIST)?;
        let pairs = levd_domain::query::parse_pairs(raw_query.unwrap_or(""))?;
        let whole_account = match pairs.iter().find(|(k, _)| k == "scope").map(|(_, v)| v.as_str()) {
            None | Some("own") => false,
            Some("account") => {
                if scope.role != Role::Admin {
                    return Err(ApiError::forbidden("Only account admins can list every key of the account"));
                }
                true
            }
            Some(_) => return Err(ApiError::invalid_field("scope", "must be one of: own, account")),
        };
        let offset = match q.paging {
            Paging::Offset { offset } => offset,
            Paging::Cursor { .. } => 0,
        };
        let user = if whole_account { None } else { Some(scope.user_id) };
        let (rows, total) = self.store.list_keys(scope.account_id, user, q.limit, offset).await?;
        let has_more = offset.saturating_add(rows.len() as u64) < u64::try_from(total).unwrap_or(0);
        Ok(Page {
            items: rows.iter().map(|r| key_json(r, None)).collect::<Vec<_>>().into(),
            pagination: offset_pagination(total, q.limit, offset, has_more),
        })
    }

    /// `DELETE /api-keys/{key_id}`: revokes an active key of the account (admins only).
    pub async fn revoke_api_key(&self, scope: &AccountScope, key_id: i64) -> Result<Value, ApiError> {
        require_key_admin(scope)?;
        let done = self.store.revoke_key(key_id, Some(scope.account_id), None, &now_rfc3339()).await?;
        if !done {
            return Err(ApiError::not_found("API key not found"));
        }
        self.credentials_changed();
        Ok(json!({ "deleted": true }))
    }

    /// `POST /api-keys/revoke` (public, `docs/auth.md#revoke-leaked-key`): whoever holds a key
    /// may revoke it. `{revoked: true}` for a live key; `{revoked: false}` for anything else
    /// (malformed, unknown, already revoked), never saying whose key it was.
    pub async fn revoke_leaked_api_key(&self, body: &[u8]) -> Result<Value, ApiError> {
        let obj = parse_object(body)?;
        let mut r = BodyReader::new(&obj);
        let key = r.string("api_key", 1024, true);
        r.required("api_key", &key);
        r.finish()?;
        let revoked = match key.value().as_deref().and_then(ApiKeySecret::parse) {
            None => false,
            Some(secret) => match self.store.key_for_auth(&digest_hex(&secret.digest())).await? {
                Some(row) if row.revoked_at.is_none() => {
                    self.store.revoke_key(row.key_id, None, None, &now_rfc3339()).await?
                }
                _ => false,
            },
        };
        if revoked {
            self.credentials_changed();
        }
        Ok(serde_json::to_value(ApiKeyRevocation { revoked }).unwrap_or_default())
    }

    /// `POST /auth/validate-api-key`: `{valid: false}` for anything that does not authenticate.
    pub async fn validate_api_key(&self, token: &str) -> Result<Value, ApiError> {
        let invalid = json!({ "valid": false });
        let Some(secret) = ApiKeySecret::parse(token) else {
            return Ok(invalid);
        };
        let Some(row) = self.store.key_for_auth(&digest_hex(&secret.digest())).await? else {
            return Ok(invalid);
        };
        let Some(role) = row.role() else {
            return Ok(invalid);
        };
        if row.revoked_at.is_some() {
            return Ok(invalid);
        }
        let scopes = row.permission().scopes().intersect(role.scopes());
        Ok(json!({
            "valid": true,
            "user_id": row.user_id,
            "account_id": row.account_id,
            "scopes": scopes.names(),
            "tier": row.tier().as_str(),
        }))
    }
}
