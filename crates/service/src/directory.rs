//! (owned by the directory work) Operations of this domain.
#[allow(unused_imports)]
use crate::Service;
