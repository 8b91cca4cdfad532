//! The `levd` program: configuration, `serve`, `admin` and the demo data set. The library form
//! lets the black-box tests start the same server on a free port.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod admin_directory;
pub mod admin_documents;
pub mod backup;
pub mod config;
pub mod demo;
pub mod secret_key;
pub mod server;
