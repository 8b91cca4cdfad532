//! `levd admin document …`: puts files into deals' vaults. The API has no upload operation, so
//! this is how documents reach levd. The bytes are copied into the data directory under their
//! SHA-256 (never under the given name, so no name can point outside it); the file name is kept
//! as metadata only.
use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use levd_domain::deal_data::MAX_FILE_BYTES;
use levd_domain::limits::RateLimitConfig;
use levd_service::Service;
use levd_store::Store;
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add a file to a deal: into the vault titled --vault (a new Deal Room when the deal has no
    /// vault of that title), else into the deal's private Resources vault.
    Add {
        /// Id of the deal.
        #[arg(long)]
        deal: i64,
        /// The file to copy in.
        #[arg(long)]
        file: PathBuf,
        /// Title of the vault (e.g. "Deal Room", "Closing").
        #[arg(long)]
        vault: Option<String>,
        /// Folder inside the vault, e.g. "Financials/2026".
        #[arg(long)]
        folder: Option<String>,
        /// Name to show for the document (default: the file's own name).
        #[arg(long)]
        name: Option<String>,
        /// Directory holding document files; use the same one as `levd serve`.
        #[arg(long, env = "LEV_DATA_DIR", default_value = "lev-data")]
        data_dir: PathBuf,
    },
}

pub async fn execute(store: &Store, cmd: Command) -> Result<Value, String> {
    match cmd {
        Command::Add { deal, file, vault, folder, name, data_dir } => {
            let meta = std::fs::metadata(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            if !meta.is_file() {
                return Err(format!("{} is not a regular file", file.display()));
            }
            if meta.len() > MAX_FILE_BYTES {
                return Err(format!("{} is larger than the {MAX_FILE_BYTES}-byte limit", file.display()));
            }
            let file_name = match name {
                Some(n) => n,
                None => file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_string)
                    .ok_or_else(|| format!("{} has no usable file name; pass --name", file.display()))?,
            };
            let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            levd_store::private_dir(&data_dir)
                .map_err(|e| format!("cannot create data directory {}: {e}", data_dir.display()))?;
            let service = Service::new(store.clone(), Arc::new(RateLimitConfig::default()), Arc::new(|| {}))
                .with_data_dir(data_dir);
            let added = service
                .add_document(deal, vault.as_deref(), folder.as_deref(), &file_name, &bytes, None)
                .await
                .map_err(|e| match e.status() {
                    404 => format!("no deal with id {deal}"),
                    _ => match e.details.get("fields").and_then(Value::as_object) {
                        Some(f) => f
                            .iter()
                            .map(|(k, v)| format!("--{k} {}", v.as_str().unwrap_or("is invalid")))
                            .collect::<Vec<_>>()
                            .join("; "),
                        None => e.details.get("reason").and_then(Value::as_str).unwrap_or(&e.message).to_string(),
                    },
                })?;
            let mut out = match added.document {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            out.insert("deal_id".into(), json!(added.deal_id));
            out.insert("content_id".into(), json!(added.content_id));
            out.insert("vault_created".into(), json!(added.vault_created));
            Ok(Value::Object(out))
        }
    }
}
