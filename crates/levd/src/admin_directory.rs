//! `levd admin directory …`: load, replace, restore, inspect and export the global reference
//! data (lender directory with programs, base rates, asset types).
//!
//! Files are JSON or CSV (chosen by `--format`, else by the file extension). Every file is
//! validated completely before anything is written; a load is one transaction. Without
//! `--replace` a load merges (upsert by id, or by key for base rates) into the current data,
//! which on a fresh database is the built-in data set; with `--replace` the file becomes the
//! whole data set.
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use levd_domain::directory::{
    DATASET_ASSET_TYPES, DATASET_BASE_RATES, DATASET_LENDERS, DATASETS, LoadError, parse_asset_types_csv,
    parse_asset_types_json, parse_base_rates_csv, parse_base_rates_json, parse_lenders_csv, parse_lenders_json,
};
use levd_store::Store;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dataset {
    Lenders,
    BaseRates,
    AssetTypes,
}

impl Dataset {
    fn name(self) -> &'static str {
        match self {
            Dataset::Lenders => DATASET_LENDERS,
            Dataset::BaseRates => DATASET_BASE_RATES,
            Dataset::AssetTypes => DATASET_ASSET_TYPES,
        }
    }
}

/// What every load names: the file, its format, and how to apply it.
#[derive(Debug, Args)]
pub struct LoadFile {
    /// The file to load.
    #[arg(long)]
    file: PathBuf,
    /// File format; by default `csv` for a `.csv` file, else `json`.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Make the file the whole data set (the directory, the base-rate list, the asset-type
    /// catalogue): records not in it are removed.
    #[arg(long)]
    replace: bool,
    /// Validate and count only; write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load lenders and their programs into the directory.
    ///
    /// JSON: an array of lender objects (or {"lenders": [...]}), each with an optional
    /// "programs" array. CSV: one row per lender, list cells separated by '|'; programs come
    /// from --programs. Prints what changed as JSON.
    Load {
        #[command(flatten)]
        load: LoadFile,
        /// CSV of programs, with an `org_id` column naming the lender (CSV only). Each lender of
        /// --file then gets exactly the programs listed for it.
        #[arg(long)]
        programs: Option<PathBuf>,
    },
    /// Load base rates (each with its `as_of` date).
    ///
    /// JSON: an array of {key, code, name, rate, as_of}, or {"as_of": DATE, "rates": [...]}
    /// where the top-level date applies to rates without one. CSV: those columns. A rate
    /// without `key` gets one made from its code.
    LoadBaseRates(LoadFile),
    /// Load asset types.
    ///
    /// JSON: an array of {id, description, property_sub_types} (or {"asset_types": [...]}),
    /// sub-types as one string or an array of names. CSV: those columns.
    LoadAssetTypes(LoadFile),
    /// Replace reference data with levd's built-in data set (all of it, or one data set).
    Reset {
        /// Only this data set.
        #[arg(long, value_enum)]
        dataset: Option<Dataset>,
    },
    /// Show each data set's source, load time and record count.
    Status,
    /// Print a data set as one JSON object in load-file form (edit it, load it back).
    Export {
        /// Which data set.
        #[arg(long, value_enum, default_value = "lenders")]
        dataset: Dataset,
    },
}

/// Files larger than this are refused before reading: far above any real directory export.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

fn read_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{} is larger than {} MiB", path.display(), MAX_FILE_BYTES / (1024 * 1024)));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

fn format_of(path: &Path, given: Option<Format>) -> Format {
    given.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => Format::Csv,
        _ => Format::Json,
    })
}

fn invalid(path: &Path, e: LoadError) -> String {
    format!("{} is not valid ({} problem{}): {e}", path.display(), e.total, if e.total == 1 { "" } else { "s" })
}

fn store_err(e: levd_store::StoreError) -> String {
    e.to_string()
}

/// `serde_json::to_value`, with its (practically impossible) failure as a message.
macro_rules! to_json {
    ($v:expr) => {
        serde_json::to_value($v).map_err(|e| e.to_string())
    };
}

fn dry_run(dataset: &str, source: &str, records: usize, programs: Option<usize>) -> Value {
    let mut v = json!({ "dataset": dataset, "mode": "dry_run", "source": source, "valid": true, "loaded": records });
    if let Some(p) = programs {
        v["programs_loaded"] = json!(p);
    }
    v
}

/// A file of one small table (JSON or CSV, read with that format's parser): its records and the
/// source name a load records.
fn read_table<T>(
    file: &Path,
    format: Option<Format>,
    json: fn(&str) -> Result<Vec<T>, LoadError>,
    csv: fn(&str) -> Result<Vec<T>, LoadError>,
) -> Result<(Vec<T>, String), String> {
    let text = read_file(file)?;
    let parse = match format_of(file, format) {
        Format::Json => json,
        Format::Csv => csv,
    };
    Ok((parse(&text).map_err(|e| invalid(file, e))?, file.display().to_string()))
}

/// The dry run's report when there is one; else runs `load` and answers its report. A load
/// starts from what the server would show, which is the built-in data set until something else
/// was loaded (so the counts of a first `--replace` are honest).
async fn dry_or_load<R: serde::Serialize>(
    store: &Store,
    dry_report: Option<Value>,
    load: impl std::future::Future<Output = levd_store::Result<R>>,
) -> Result<Value, String> {
    if let Some(report) = dry_report {
        return Ok(report);
    }
    store.ensure_reference_data().await.map_err(store_err)?;
    to_json!(&load.await.map_err(store_err)?)
}

pub async fn execute(store: &Store, cmd: Command) -> Result<Value, String> {
    match cmd {
        Command::Load { load: LoadFile { file, format, replace, dry_run: dry }, programs } => {
            let text = read_file(&file)?;
            let (lenders, source) = match format_of(&file, format) {
                Format::Json => {
                    if programs.is_some() {
                        return Err(
                            "--programs is for CSV files; in JSON each lender carries a \"programs\" array".into()
                        );
                    }
                    (parse_lenders_json(&text).map_err(|e| invalid(&file, e))?, file.display().to_string())
                }
                Format::Csv => {
                    let programs_text = programs.as_deref().map(read_file).transpose()?;
                    let lenders = parse_lenders_csv(&text, programs_text.as_deref()).map_err(|e| match &programs {
                        Some(p) => format!("{} / {}: {e}", file.display(), p.display()),
                        None => invalid(&file, e),
                    })?;
                    let source = match &programs {
                        Some(p) => format!("{} + {}", file.display(), p.display()),
                        None => file.display().to_string(),
                    };
                    (lenders, source)
                }
            };
            let n = lenders.iter().map(|l| l.programs.as_ref().map_or(0, Vec::len)).sum();
            let dry_report = dry_run(DATASET_LENDERS, &source, lenders.len(), Some(n));
            dry_or_load(store, dry.then_some(dry_report), store.load_lenders(&lenders, replace, &source)).await
        }
        Command::LoadBaseRates(LoadFile { file, format, replace, dry_run: dry }) => {
            let (rates, source) = read_table(&file, format, parse_base_rates_json, parse_base_rates_csv)?;
            let dry_report = dry.then(|| dry_run(DATASET_BASE_RATES, &source, rates.len(), None));
            dry_or_load(store, dry_report, store.load_base_rates(&rates, replace, &source)).await
        }
        Command::LoadAssetTypes(LoadFile { file, format, replace, dry_run: dry }) => {
            let (types, source) = read_table(&file, format, parse_asset_types_json, parse_asset_types_csv)?;
            let dry_report = dry.then(|| dry_run(DATASET_ASSET_TYPES, &source, types.len(), None));
            dry_or_load(store, dry_report, store.load_asset_types(&types, replace, &source)).await
        }
        Command::Reset { dataset } => {
            let names: Vec<&str> = match dataset {
                Some(d) => vec![d.name()],
                None => DATASETS.to_vec(),
            };
            let mut reports = Vec::new();
            for name in names {
                if let Some(r) = store.load_builtin(name, true).await.map_err(store_err)? {
                    reports.push(to_json!(&r)?);
                }
            }
            Ok(json!({ "reset": reports }))
        }
        Command::Status => {
            store.ensure_reference_data().await.map_err(store_err)?;
            let datasets = store.reference_status().await.map_err(store_err)?;
            let as_of: Vec<String> = {
                let mut d: Vec<String> =
                    store.base_rates().await.map_err(store_err)?.into_iter().map(|r| r.as_of).collect();
                d.sort();
                d.dedup();
                d
            };
            Ok(json!({ "datasets": to_json!(&datasets)?, "base_rates_as_of": as_of }))
        }
        Command::Export { dataset } => {
            store.ensure_reference_data().await.map_err(store_err)?;
            Ok(match dataset {
                Dataset::Lenders => json!({ "lenders": to_json!(&store.export_lenders().await.map_err(store_err)?)? }),
                Dataset::BaseRates => json!({ "base_rates": to_json!(&store.base_rates().await.map_err(store_err)?)? }),
                Dataset::AssetTypes => {
                    json!({ "asset_types": to_json!(&store.asset_types().await.map_err(store_err)?)? })
                }
            })
        }
    }
}
