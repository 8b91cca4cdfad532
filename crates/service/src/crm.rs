//! (owned by the crm work) Operations of this domain.
#[allow(unused_imports)]
use crate::Service;
