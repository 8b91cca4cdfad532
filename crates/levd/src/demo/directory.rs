//! (owned by the directory work) Demo data of this domain.
use levd_store::Store;

use super::DemoContext;

pub async fn seed(_store: &Store, _ctx: &DemoContext) -> Result<(), String> {
    Ok(())
}
