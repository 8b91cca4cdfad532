//! (owned by the placements work) Operations of this domain.
#[allow(unused_imports)]
use crate::Service;
