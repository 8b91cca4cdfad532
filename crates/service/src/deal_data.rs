//! (owned by the deal_data work) Operations of this domain.
#[allow(unused_imports)]
use crate::Service;
