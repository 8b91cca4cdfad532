//! Black-box tests: a real levd server on 127.0.0.1:0 per test, driven over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod accounts;
mod admin_cli;
mod api_keys;
mod backup;
mod cluster;
mod crash_replay;
mod crm;
mod deal_data;
mod deal_notes;
mod deals;
mod demo;
mod directory;
mod docs_links;
mod fuzz;
mod idempotency;
mod jwt;
mod mcp;
mod metrics;
mod nul_text;
mod oauth;
mod oauth_hardening;
mod openapi;
mod operations;
mod placements;
mod platform;
mod rate_limits;
mod reference;
mod request_path;
mod shaping;
mod upkeep;
