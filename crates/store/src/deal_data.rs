//! (owned by the deal_data work) SQL of this domain.
#[allow(unused_imports)]
use crate::{Result, Sql, Store};
