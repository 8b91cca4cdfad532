//! Scopes, roles, key permissions and API tiers, and the `AccountScope` every handler receives.
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    DealsRead,
    DealsWrite,
    DocumentsRead,
    ChecklistsRead,
    ChecklistsWrite,
    ContactsRead,
    ContactsWrite,
    CompaniesRead,
    CompaniesWrite,
    LendersRead,
    BillingRead,
    AiActions,
}

impl Scope {
    pub const ALL: [Scope; 12] = [
        Scope::DealsRead,
        Scope::DealsWrite,
        Scope::DocumentsRead,
        Scope::ChecklistsRead,
        Scope::ChecklistsWrite,
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::CompaniesRead,
        Scope::CompaniesWrite,
        Scope::LendersRead,
        Scope::BillingRead,
        Scope::AiActions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DealsRead => "deals:read",
            Scope::DealsWrite => "deals:write",
            Scope::DocumentsRead => "documents:read",
            Scope::ChecklistsRead => "checklists:read",
            Scope::ChecklistsWrite => "checklists:write",
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::CompaniesRead => "companies:read",
            Scope::CompaniesWrite => "companies:write",
            Scope::LendersRead => "lenders:read",
            Scope::BillingRead => "billing:read",
            Scope::AiActions => "ai:actions",
        }
    }

    pub fn is_read(self) -> bool {
        self.as_str().ends_with(":read")
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of scopes as a bit set: intersection on every request is one AND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet(u16);

impl ScopeSet {
    pub fn all() -> ScopeSet {
        ScopeSet(Scope::ALL.iter().fold(0, |acc, s| acc | s.bit()))
    }
    pub fn read_only() -> ScopeSet {
        ScopeSet(Scope::ALL.iter().filter(|s| s.is_read()).fold(0, |acc, s| acc | s.bit()))
    }
    pub fn contains(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }
    pub fn intersect(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }
    pub fn names(self) -> Vec<&'static str> {
        Scope::ALL.iter().filter(|s| self.contains(**s)).map(|s| s.as_str()).collect()
    }
}

/// Role of a user on an account (`docs/auth.md#roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Member,
    Viewer,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }
    pub fn scopes(self) -> ScopeSet {
        match self {
            Role::Admin | Role::Member => ScopeSet::all(),
            Role::Viewer => ScopeSet::read_only(),
        }
    }
}

/// Grant level of an API key (`docs/auth.md#api-keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPermission {
    FullAccess,
    ReadOnly,
}

impl KeyPermission {
    pub fn parse(s: &str) -> Option<KeyPermission> {
        match s {
            "full_access" => Some(KeyPermission::FullAccess),
            "read_only" => Some(KeyPermission::ReadOnly),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPermission::FullAccess => "full_access",
            KeyPermission::ReadOnly => "read_only",
        }
    }
    pub fn scopes(self) -> ScopeSet {
        match self {
            KeyPermission::FullAccess => ScopeSet::all(),
            KeyPermission::ReadOnly => ScopeSet::read_only(),
        }
    }
}

/// API tier of an account: key ceilings and rate limits follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Free,
    Standard,
    Enterprise,
}

impl Tier {
    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "free" => Some(Tier::Free),
            "standard" => Some(Tier::Standard),
            "enterprise" => Some(Tier::Enterprise),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Standard => "standard",
            Tier::Enterprise => "enterprise",
        }
    }
    pub fn max_api_keys(self) -> i64 {
        match self {
            Tier::Free => 2,
            Tier::Standard => 10,
            Tier::Enterprise => 50,
        }
    }
}

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey { key_id: i64, permission: KeyPermission },
    Jwt,
}

/// The resolved account of a request: who, on which account, with which scopes.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountScope {
    pub account_id: i64,
    pub account_slug: String,
    pub tier: Tier,
    pub user_id: i64,
    pub role: Role,
    pub scopes: ScopeSet,
    pub credential: CredentialKind,
}

impl AccountScope {
    /// The only way to obtain a `Grant`: services that need a scope take one, so a handler
    /// cannot reach them without passing this check.
    pub fn require(&self, scope: Scope) -> Result<Grant<'_>, ApiError> {
        if self.scopes.contains(scope) {
            Ok(Grant { scope: self })
        } else {
            Err(ApiError::forbidden(format!("Missing required scope: {}", scope.as_str())))
        }
    }
}

/// Proof that the scope check of an operation passed.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Grant<'a> {
    pub scope: &'a AccountScope,
}

impl Grant<'_> {
    pub fn account_id(&self) -> i64 {
        self.scope.account_id
    }
    pub fn user_id(&self) -> i64 {
        self.scope.user_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_and_read_only_hold_read_scopes_only() {
        let r = Role::Viewer.scopes();
        assert!(r.contains(Scope::DealsRead));
        assert!(!r.contains(Scope::DealsWrite));
        assert!(!r.contains(Scope::AiActions));
        assert_eq!(KeyPermission::ReadOnly.scopes(), r);
        assert_eq!(ScopeSet::all().names().len(), 12);
        let eff = KeyPermission::FullAccess.scopes().intersect(Role::Viewer.scopes());
        assert_eq!(eff, ScopeSet::read_only());
    }

    #[test]
    fn missing_scope_is_forbidden_naming_it() {
        let s = AccountScope {
            account_id: 1,
            account_slug: "a".into(),
            tier: Tier::Free,
            user_id: 1,
            role: Role::Viewer,
            scopes: Role::Viewer.scopes(),
            credential: CredentialKind::Jwt,
        };
        let e = s.require(Scope::DealsWrite).unwrap_err();
        assert_eq!(e.status(), 403);
        assert_eq!(e.message, "Missing required scope: deals:write");
        assert!(s.require(Scope::DealsRead).is_ok());
    }
}
