//! `levd admin backup` and `levd admin restore`: one archive (tar, gzip-compressed when the
//! file name ends in `.gz` or `.tgz`) holding a consistent snapshot of the database taken while
//! the server runs, the data directory, and `manifest.json` (versions, and the size and SHA-256
//! of every file), written last. Restore checks every file against the manifest before it
//! replaces anything.
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use levd_store::{Backend, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Archive format written by this binary; restore refuses formats it does not know.
const FORMAT: &str = "levd-backup";
const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const SQLITE_ENTRY: &str = "database/lev.db";
const PG_DUMP_ENTRY: &str = "database/lev.pgdump";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    format_version: u32,
    levd_version: String,
    created_at: String,
    backend: String,
    /// Highest migration applied to the database when it was copied.
    schema_version: Option<i64>,
    /// Whether the archive holds the database (always on SQLite; on PostgreSQL when `pg_dump`
    /// was available).
    database_included: bool,
    files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    path: String,
    bytes: u64,
    sha256: String,
}

/// What to do when PostgreSQL's own tool is missing: the operator runs it beside the archive.
fn pg_dump_step() -> &'static str {
    "pg_dump --format=custom --no-owner --file lev.pgdump \"$LEV_DATABASE_URL\""
}

fn pg_restore_step() -> &'static str {
    "pg_restore --no-owner --dbname \"$LEV_DATABASE_URL\" lev.pgdump"
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

fn sha256_of(path: &Path) -> Result<(u64, String), String> {
    let mut f = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex::encode(h.finalize())))
}

/// Regular files under `dir`, as paths relative to it, sorted; symbolic links are skipped.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let rd = match std::fs::read_dir(dir.join(&rel)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && rel.as_os_str().is_empty() => return Ok(out),
            Err(e) => return Err(format!("cannot list {}: {e}", dir.join(&rel).display())),
        };
        for entry in rd {
            let entry = entry.map_err(|e| e.to_string())?;
            let kind = entry.file_type().map_err(|e| e.to_string())?;
            let child = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(child);
            } else if kind.is_file() {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The file of a SQLite URL (as `Store::open` reads it), `None` for PostgreSQL or memory.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn create_private(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path)
}

fn gzipped_name(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".gz") || name.ends_with(".tgz")
}

/// A staging directory beside `near` (same file system, so the final renames are atomic).
fn staging_beside(near: &Path) -> Result<tempfile::TempDir, String> {
    let parent = near.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(".levd-staging-")
        .tempdir_in(parent)
        .map_err(|e| format!("cannot create a staging directory in {}: {e}", parent.display()))
}

pub async fn backup(database_url: &str, to: &Path, data_dir: &Path) -> Result<Value, String> {
    if let Some(db) = sqlite_path(database_url)
        && !db.is_file()
    {
        return Err(format!("no database at {}", db.display()));
    }
    let store = Store::open(database_url)
        .await
        .map_err(|e| format!("cannot open database {}: {e}", levd_store::redact_url(database_url)))?;
    let result = backup_with(&store, database_url, to, data_dir).await;
    store.close().await;
    result
}

async fn backup_with(store: &Store, database_url: &str, to: &Path, data_dir: &Path) -> Result<Value, String> {
    let staging = staging_beside(to)?;
    let schema_version = store.schema_version().await.map_err(|e| e.to_string())?;
    // The database first: every document a snapshot row names was written before that row, so
    // it is in the data directory when the directory is copied afterwards.
    let mut db_entry: Option<(&str, PathBuf)> = None;
    let mut step = None;
    match store.backend() {
        Backend::Sqlite => {
            let snap = staging.path().join("lev.db");
            store.snapshot_sqlite_into(&snap).await.map_err(|e| format!("database snapshot failed: {e}"))?;
            db_entry = Some((SQLITE_ENTRY, snap));
        }
        Backend::Postgres => {
            if on_path("pg_dump") {
                let dump = staging.path().join("lev.pgdump");
                let out = tokio::process::Command::new("pg_dump")
                    .args(["--format=custom", "--no-owner", "--file"])
                    .arg(&dump)
                    .arg(database_url)
                    .output()
                    .await
                    .map_err(|e| format!("cannot run pg_dump: {e}"))?;
                if !out.status.success() {
                    return Err(format!("pg_dump failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
                }
                db_entry = Some((PG_DUMP_ENTRY, dump));
            } else {
                step = Some(pg_dump_step());
            }
        }
    }
    let to = to.to_path_buf();
    let data_dir = data_dir.to_path_buf();
    let backend = match store.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let staging_path = staging.path().to_path_buf();
    let written = tokio::task::spawn_blocking(move || {
        write_archive(&to, &staging_path, db_entry, &data_dir, backend, schema_version)
    })
    .await
    .map_err(|e| e.to_string())??;
    drop(staging);
    let mut out = json!({
        "archive": written.0,
        "bytes": written.1,
        "files": written.2,
        "backend": backend,
        "schema_version": schema_version,
        "database_included": step.is_none(),
    });
    if let Some(step) = step {
        out["database_step"] = json!(format!("pg_dump is not on the PATH; dump the database yourself: {step}"));
    }
    Ok(out)
}

/// Writes the archive to a temporary name beside `to` and renames it into place.
fn write_archive(
    to: &Path,
    staging: &Path,
    db_entry: Option<(&str, PathBuf)>,
    data_dir: &Path,
    backend: &str,
    schema_version: Option<i64>,
) -> Result<(String, u64, usize), String> {
    let partial = staging.join("archive.partial");
    let file = create_private(&partial).map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let sink: Box<dyn Write> = if gzipped_name(to) {
        Box::new(flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::default()))
    } else {
        Box::new(BufWriter::new(file))
    };
    let mut tar = tar::Builder::new(sink);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut files = Vec::new();
    let mut add = |tar: &mut tar::Builder<Box<dyn Write>>, name: String, path: &Path| -> Result<(), String> {
        let (bytes, sha256) = sha256_of(path)?;
        let mut f = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes);
        h.set_mode(0o600);
        h.set_entry_type(tar::EntryType::Regular);
        // The file may grow while it is copied (a document being written); exactly `bytes`
        // bytes are archived, the ones the checksum covers.
        tar.append_data(&mut h, &name, (&mut f).take(bytes)).map_err(|e| format!("cannot write the archive: {e}"))?;
        files.push(FileEntry { path: name, bytes, sha256 });
        Ok(())
    };
    if let Some((name, path)) = &db_entry {
        add(&mut tar, (*name).to_owned(), path)?;
    }
    for rel in files_under(data_dir)? {
        let name = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>();
        add(&mut tar, format!("data/{}", name.join("/")), &data_dir.join(&rel))?;
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        levd_version: env!("CARGO_PKG_VERSION").into(),
        created_at: levd_domain::time_fmt::now_rfc3339(),
        backend: backend.into(),
        schema_version,
        database_included: db_entry.is_some(),
        files,
    };
    let count = manifest.files.len();
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    let mut h = tar::Header::new_gnu();
    h.set_size(text.len() as u64);
    h.set_mode(0o600);
    tar.append_data(&mut h, MANIFEST, text.as_slice()).map_err(|e| format!("cannot write the archive: {e}"))?;
    let mut sink = tar.into_inner().map_err(|e| format!("cannot write the archive: {e}"))?;
    sink.flush().map_err(|e| format!("cannot write the archive: {e}"))?;
    drop(sink);
    File::open(&partial).and_then(|f| f.sync_all()).map_err(|e| format!("cannot sync the archive: {e}"))?;
    std::fs::rename(&partial, to).map_err(|e| format!("cannot move the archive to {}: {e}", to.display()))?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok((to.display().to_string(), bytes, count))
}

/// An archive path that stays inside its directory: plain names only, no `..`, no root.
fn safe_relative(name: &Path) -> bool {
    name.components().all(|c| matches!(c, Component::Normal(_))) && name.components().next().is_some()
}

/// Unpacks the archive into `into`, checks it against its manifest and returns the manifest.
fn unpack_and_verify(from: &Path, into: &Path) -> Result<Manifest, String> {
    let mut file = BufReader::new(File::open(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?);
    let mut magic = [0u8; 2];
    let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let file = File::open(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let source: Box<dyn Read> =
        if gz { Box::new(flate2::read::GzDecoder::new(BufReader::new(file))) } else { Box::new(BufReader::new(file)) };
    let mut archive = tar::Archive::new(source);
    let mut seen = Vec::new();
    for entry in archive.entries().map_err(|e| format!("not a levd backup: {e}"))? {
        let mut entry = entry.map_err(|e| format!("the archive is damaged: {e}"))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err("the archive holds something other than plain files".into());
        }
        let name = entry.path().map_err(|e| format!("the archive is damaged: {e}"))?.into_owned();
        let text = name.to_string_lossy().into_owned();
        let allowed = text == MANIFEST || text == SQLITE_ENTRY || text == PG_DUMP_ENTRY || text.starts_with("data/");
        if !allowed || !safe_relative(&name) {
            return Err(format!("unexpected entry {text:?} in the archive"));
        }
        let dest = into.join(&name);
        if let Some(parent) = dest.parent() {
            create_private_dir(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut out = create_private(&dest).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| format!("the archive is damaged: {e}"))?;
        seen.push(text);
    }
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(into.join(MANIFEST)).map_err(|_| "the archive has no manifest.json: not a levd backup")?,
    )
    .map_err(|e| format!("manifest.json is not valid: {e}"))?;
    if manifest.format != FORMAT || manifest.format_version > FORMAT_VERSION {
        return Err(format!(
            "archive format {} {} is not one this levd ({}) reads",
            manifest.format,
            manifest.format_version,
            env!("CARGO_PKG_VERSION")
        ));
    }
    for f in &manifest.files {
        if !safe_relative(Path::new(&f.path)) {
            return Err(format!("manifest.json names {:?}, outside the archive", f.path));
        }
        let (bytes, sha256) = sha256_of(&into.join(&f.path)).map_err(|_| format!("{} is missing", f.path))?;
        if bytes != f.bytes || sha256 != f.sha256 {
            return Err(format!("{} does not match its checksum: the archive is damaged", f.path));
        }
    }
    if let Some(extra) = seen.iter().find(|s| *s != MANIFEST && !manifest.files.iter().any(|f| &f.path == *s)) {
        return Err(format!("{extra} is not listed in the manifest"));
    }
    Ok(manifest)
}

fn dir_is_empty(dir: &Path) -> Result<bool, String> {
    match std::fs::read_dir(dir) {
        Ok(mut rd) => Ok(rd.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(format!("cannot read {}: {e}", dir.display())),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Replaces `target` (a directory) by `staged`, which lives on the same file system.
fn swap_dir(staged: &Path, target: &Path) -> Result<(), String> {
    if target.exists() {
        std::fs::remove_dir_all(target).map_err(|e| format!("cannot clear {}: {e}", target.display()))?;
    }
    if staged.exists() {
        std::fs::rename(staged, target).map_err(|e| format!("cannot move the data directory into place: {e}"))
    } else {
        create_private_dir(target).map_err(|e| format!("cannot create {}: {e}", target.display()))
    }
}

pub async fn restore(database_url: &str, from: &Path, data_dir: &Path, force: bool) -> Result<Value, String> {
    let staging = staging_beside(data_dir)?;
    let (from_owned, staging_path) = (from.to_path_buf(), staging.path().to_path_buf());
    let manifest = tokio::task::spawn_blocking(move || unpack_and_verify(&from_owned, &staging_path))
        .await
        .map_err(|e| e.to_string())??;
    let known = levd_store::latest_migration(if sqlite_path(database_url).is_some() {
        Backend::Sqlite
    } else {
        Backend::Postgres
    });
    if manifest.schema_version.is_some_and(|v| v > known) {
        return Err(format!(
            "the backup was made by a newer levd ({}, schema {}); restore it with that version",
            manifest.levd_version,
            manifest.schema_version.unwrap_or_default()
        ));
    }
    let data_empty = dir_is_empty(data_dir)?;
    let staged_data = staging.path().join("data");
    let mut out = json!({
        "restored_from": from.display().to_string(),
        "levd_version": manifest.levd_version,
        "schema_version": manifest.schema_version,
        "files": manifest.files.len(),
        "data_dir": data_dir.display().to_string(),
    });
    match sqlite_path(database_url) {
        Some(db) => {
            if manifest.backend != "sqlite" {
                return Err(format!("this is a backup of a {} database; the target is SQLite", manifest.backend));
            }
            let db_in_use = std::fs::metadata(&db).is_ok_and(|m| m.len() > 0)
                || std::fs::metadata(with_suffix(&db, "-wal")).is_ok_and(|m| m.len() > 0);
            if (db_in_use || !data_empty) && !force {
                return Err(format!(
                    "the target is not empty ({}); stop every levd using it and pass --force to replace it",
                    if db_in_use { db.display().to_string() } else { data_dir.display().to_string() }
                ));
            }
            // The snapshot goes next to the database file first, then replaces it in one rename;
            // the old log files would otherwise be replayed into the restored database.
            if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
                create_private_dir(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            let incoming = with_suffix(&db, ".restoring");
            std::fs::copy(staging.path().join(SQLITE_ENTRY), &incoming)
                .map_err(|e| format!("cannot write {}: {e}", incoming.display()))?;
            File::open(&incoming).and_then(|f| f.sync_all()).map_err(|e| e.to_string())?;
            for suffix in ["-wal", "-shm"] {
                let p = with_suffix(&db, suffix);
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
                }
            }
            std::fs::rename(&incoming, &db).map_err(|e| format!("cannot move the database into place: {e}"))?;
            swap_dir(&staged_data, data_dir)?;
            out["database"] = json!(db.display().to_string());
        }
        None => {
            if manifest.backend != "postgres" {
                return Err(format!("this is a backup of a {} database; the target is PostgreSQL", manifest.backend));
            }
            let store = Store::open(database_url)
                .await
                .map_err(|e| format!("cannot open database {}: {e}", levd_store::redact_url(database_url)))?;
            let db_in_use = store.schema_version().await.map_err(|e| e.to_string())?.is_some();
            store.close().await;
            if (db_in_use || !data_empty) && !force {
                return Err(format!(
                    "the target is not empty ({}); stop every levd using it and pass --force to replace it",
                    if db_in_use { "the database has levd's tables" } else { "the data directory has files" }
                ));
            }
            if manifest.database_included && on_path("pg_restore") {
                let mut cmd = tokio::process::Command::new("pg_restore");
                cmd.args(["--no-owner", "--single-transaction", "--exit-on-error"]);
                if db_in_use {
                    cmd.args(["--clean", "--if-exists"]);
                }
                let result = cmd
                    .arg("--dbname")
                    .arg(database_url)
                    .arg(staging.path().join(PG_DUMP_ENTRY))
                    .output()
                    .await
                    .map_err(|e| format!("cannot run pg_restore: {e}"))?;
                if !result.status.success() {
                    return Err(format!("pg_restore failed: {}", String::from_utf8_lossy(&result.stderr).trim()));
                }
                out["database"] = json!("restored with pg_restore");
            } else if manifest.database_included {
                let kept = with_suffix(from, ".pgdump");
                std::fs::copy(staging.path().join(PG_DUMP_ENTRY), &kept).map_err(|e| e.to_string())?;
                out["database_step"] = json!(format!(
                    "pg_restore is not on the PATH; the dump is at {}; load it yourself: {}",
                    kept.display(),
                    pg_restore_step()
                ));
            } else {
                out["database_step"] = json!(format!(
                    "the archive holds no database dump; load the one taken with it: {}",
                    pg_restore_step()
                ));
            }
            swap_dir(&staged_data, data_dir)?;
        }
    }
    drop(staging);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_stay_inside() {
        assert!(safe_relative(Path::new("data/objects/ab/abcd")));
        for bad in ["../x", "/etc/passwd", "data/../../x", ""] {
            assert!(!safe_relative(Path::new(bad)), "{bad}");
        }
    }

    #[test]
    fn sqlite_paths_of_urls() {
        assert_eq!(sqlite_path("sqlite:///tmp/a.db?mode=rwc"), Some(PathBuf::from("/tmp/a.db")));
        assert_eq!(sqlite_path("sqlite://lev.db"), Some(PathBuf::from("lev.db")));
        assert_eq!(sqlite_path("lev.db"), Some(PathBuf::from("lev.db")));
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[test]
    fn a_tampered_archive_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("objects")).expect("mkdir");
        std::fs::write(data.join("objects/f"), b"document bytes").expect("write");
        let db = dir.path().join("snap.db");
        std::fs::write(&db, b"not really a database").expect("write");
        let staging = dir.path().join("stage");
        std::fs::create_dir_all(&staging).expect("mkdir");
        let archive = dir.path().join("b.tar");
        write_archive(&archive, &staging, Some((SQLITE_ENTRY, db)), &data, "sqlite", Some(9)).expect("backup");
        let out = dir.path().join("out1");
        let m = unpack_and_verify(&archive, &out).expect("verify");
        assert_eq!(m.files.len(), 2);
        assert_eq!(std::fs::read(out.join("data/objects/f")).expect("read"), b"document bytes");

        // Flip one byte of the document inside the archive.
        let mut bytes = std::fs::read(&archive).expect("read");
        let at = bytes.windows(14).position(|w| w == b"document bytes").expect("found");
        bytes[at] = b'D';
        std::fs::write(&archive, &bytes).expect("write");
        let err = unpack_and_verify(&archive, &dir.path().join("out2")).expect_err("tampered");
        assert!(err.contains("checksum"), "{err}");
    }
}
