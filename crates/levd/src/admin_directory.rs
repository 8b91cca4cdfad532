//! (owned by the directory work) `levd admin directory …` commands.
use clap::Subcommand;
use levd_store::Store;
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub enum Command {}

pub async fn execute(_store: &Store, cmd: Command) -> Result<Value, String> {
    match cmd {}
}
