//! Small pieces every domain's service shares: checking that a deal named in a path is the
//! caller's.

use levd_domain::ApiError;
use levd_domain::scope::Grant;

use crate::Service;

pub(crate) fn deal_not_found() -> ApiError {
    ApiError::not_found("Deal not found")
}

impl Service {
    /// The account of `grant`, once the deal `deal_id` is known to belong to it (else `404`).
    pub(crate) async fn deal_account(&self, grant: &Grant<'_>, deal_id: i64) -> Result<i64, ApiError> {
        let account = grant.account_id();
        self.store.deal(account, deal_id).await?.ok_or_else(deal_not_found)?;
        Ok(account)
    }
}
