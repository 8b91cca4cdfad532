//! Domain layer of levd: resource types, enums, validation, scopes, list-query parsing and
//! errors as values. Nothing here performs I/O.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod api_key;
pub mod canonical_json;
pub mod crm;
pub mod deal;
pub mod deal_data;
pub mod directory;
pub mod error;
pub mod headers;
pub mod input;
pub mod limits;
pub mod net;
pub mod placements;
pub mod query;
pub mod scope;
pub mod time_fmt;

pub use error::{ApiError, ErrorKind};
