//! (owned by the documents work) `levd admin documents …` commands.
use clap::Subcommand;
use levd_store::Store;
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub enum Command {}

pub async fn execute(_store: &Store, cmd: Command) -> Result<Value, String> {
    match cmd {}
}
