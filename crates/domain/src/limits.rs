//! Rate-limit figures (`docs/api.md#rate-limits`): per account and per endpoint by tier, per IP for the public routes.
use serde::Serialize;

use crate::scope::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TierLimits {
    /// Requests per minute for the whole account.
    pub account_per_minute: u32,
    /// Requests per minute for one endpoint (method + route template) of the account.
    pub endpoint_per_minute: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub free: TierLimits,
    pub standard: TierLimits,
    pub enterprise: TierLimits,
    pub validate_key_per_ip: u32,
    pub health_per_ip: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            free: TierLimits { account_per_minute: 30, endpoint_per_minute: 10 },
            standard: TierLimits { account_per_minute: 100, endpoint_per_minute: 20 },
            enterprise: TierLimits { account_per_minute: 500, endpoint_per_minute: 60 },
            validate_key_per_ip: 10,
            health_per_ip: 100,
        }
    }
}

impl RateLimitConfig {
    pub fn for_tier(&self, tier: Tier) -> TierLimits {
        match tier {
            Tier::Free => self.free,
            Tier::Standard => self.standard,
            Tier::Enterprise => self.enterprise,
        }
    }
}
