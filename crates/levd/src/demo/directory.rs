//! Demo data of the directory and market data. Both are global reference data that every
//! database gets from levd's built-in data set (on first use, `--demo` or not); the demo loads
//! it up front so the first request is fast and the demo database is complete on disk.
use levd_store::Store;

use super::DemoContext;

pub async fn seed(store: &Store, _ctx: &DemoContext) -> Result<(), String> {
    store.ensure_reference_data().await.map_err(|e| format!("cannot load the lender directory: {e}"))
}
