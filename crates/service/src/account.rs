//! `/me`, `/me/accounts`, `/me/active-account` and `/account/team`.
use levd_domain::ApiError;
use levd_domain::query::{ListQuery, ListSpec};
use levd_domain::scope::{AccountScope, CredentialKind, KeyPermission, Tier};
use levd_store::{AccountRow, MembershipRow, UserRow};
use serde_json::{Map, Value, json};

use crate::{Page, Service, offset_pagination};

const TEAM_LIST: ListSpec =
    ListSpec { filters: &[], sorts: &[], fields: &[], includes: &[], search: false, cursor: false, offset: true };

fn full_name(u: &UserRow) -> String {
    [u.first_name.as_deref(), u.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")
}

fn user_json(u: &UserRow, role: Option<&str>) -> Value {
    json!({
        "id": u.id,
        "uuid": u.uuid,
        "email": u.email,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "full_name": full_name(u),
        "role": role,
        "photo_url": u.photo_url,
        "last_login_at": u.last_login_at,
    })
}

fn account_json(a: &AccountRow) -> Value {
    json!({ "id": a.id, "name": a.name, "slug": a.slug, "account_type": a.account_type })
}

fn membership_json(m: &MembershipRow) -> Value {
    json!({ "id": m.account_id, "name": m.name, "slug": m.slug, "account_type": m.account_type, "role": m.role })
}

/// The subscription follows the API tier; billing reports the same record.
fn subscription_json(tier: Tier) -> Value {
    serde_json::to_value(levd_domain::crm::Subscription::for_tier(tier)).unwrap_or(Value::Null)
}

impl Service {
    async fn user(&self, user_id: i64) -> Result<UserRow, ApiError> {
        self.store
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("Invalid or expired authentication token"))
    }

    /// `GET /me`: the scoped branch when an account is resolved, else the user and the
    /// accounts to choose from.
    pub async fn me(&self, user_id: i64, scope: Option<&AccountScope>) -> Result<Value, ApiError> {
        let Some(scope) = scope else {
            let user = self.user(user_id).await?;
            let accounts = self.store.memberships_of(user_id).await?;
            return Ok(json!({
                "user": user_json(&user, None),
                "available_accounts": accounts.iter().map(membership_json).collect::<Vec<_>>(),
            }));
        };
        let (user, account, key_count) = self.store.me_facts(user_id, scope.account_id).await?;
        let user = user.ok_or_else(|| ApiError::unauthorized("Invalid or expired authentication token"))?;
        let account = account.ok_or_else(|| ApiError::not_found("Account not found"))?;
        let limits = self.limits.for_tier(scope.tier);
        let mut rate_limits = Map::new();
        rate_limits.insert("enabled".into(), Value::from(self.limits.enabled));
        rate_limits.insert("requests_per_minute".into(), Value::from(limits.account_per_minute));
        rate_limits.insert("requests_per_minute_per_endpoint".into(), Value::from(limits.endpoint_per_minute));
        Ok(json!({
            "user": user_json(&user, Some(scope.role.as_str())),
            "account": account_json(&account),
            "profile": {
                "title": user.title,
                "photo_url": user.photo_url,
                "time_zone": "UTC",
            },
            "subscription": subscription_json(scope.tier),
            "platform": {
                "api_tier": scope.tier.as_str(),
                "rate_limits": rate_limits,
                "api_keys": { "current_count": key_count, "max_allowed": scope.tier.max_api_keys() },
                "granted_scopes": scope.scopes.names(),
            },
        }))
    }

    /// `GET /me/accounts`: every account the user is an active member of.
    pub async fn my_accounts(&self, user_id: i64, scope: Option<&AccountScope>) -> Result<Value, ApiError> {
        let user = self.user(user_id).await?;
        let accounts = self.store.memberships_of(user_id).await?;
        let saved = user.active_account_id.and_then(|id| accounts.iter().find(|m| m.account_id == id));
        Ok(json!({
            "accounts": accounts.iter().map(membership_json).collect::<Vec<_>>(),
            "active_account": scope.map(|s| s.account_slug.clone()),
            "saved_active_account": saved.map(|m| m.slug.clone()),
        }))
    }

    /// `PATCH /me/active-account`: saves the preferred account of the user. The choice changes
    /// what the user's other sessions act in, so it is a write: a read-only key may not make it.
    pub async fn set_active_account(
        &self,
        user_id: i64,
        scope: Option<&AccountScope>,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        if let Some(CredentialKind::ApiKey { permission: KeyPermission::ReadOnly, .. }) = scope.map(|s| s.credential) {
            return Err(ApiError::forbidden("A read_only API key cannot change the active account"));
        }
        let body = levd_domain::input::parse_object(body)?;
        let slug = match body.get("slug") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
            _ => return Err(ApiError::bad_request("slug is required")),
        };
        let accounts = self.store.memberships_of(user_id).await?;
        let m = accounts
            .iter()
            .find(|m| m.slug == slug)
            .ok_or_else(|| ApiError::not_found("Account not found or user is not a member"))?;
        self.store.set_active_account(user_id, Some(m.account_id)).await?;
        self.credentials_changed();
        Ok(json!({ "active_account": membership_json(m) }))
    }

    /// `GET /account/team`: active members of the account.
    pub async fn team(&self, scope: &AccountScope, raw_query: Option<&str>) -> Result<Page, ApiError> {
        let q = ListQuery::parse(raw_query, &TEAM_LIST)?;
        let offset = match q.paging {
            levd_domain::query::Paging::Offset { offset } => offset,
            levd_domain::query::Paging::Cursor { .. } => 0,
        };
        let (rows, total) = self.store.team(scope.account_id, q.limit, offset).await?;
        let has_more = offset.saturating_add(rows.len() as u64) < u64::try_from(total).unwrap_or(0);
        let items = rows
            .iter()
            .map(|r| {
                json!({
                    "id": r.user_id, "user_id": r.user_id, "first_name": r.first_name, "last_name": r.last_name,
                    "email": r.email, "role": r.role, "photo_url": r.photo_url, "title": r.title,
                })
            })
            .collect::<Vec<_>>()
            .into();
        Ok(Page { items, pagination: offset_pagination(total, q.limit, offset, has_more) })
    }
}
