//! (owned by the directory work) SQL of this domain.
#[allow(unused_imports)]
use crate::{Result, Sql, Store};
