//! Where the key that seals secrets at rest comes from: `LEV_SECRET_KEY` (the key itself),
//! `--secret-key-file` / `LEV_SECRET_KEY_FILE` (a file holding it), or else `secret.key` in the
//! data directory, which `levd serve` creates on its first start (mode 0600, in a directory it
//! creates with mode 0700).
//!
//! A key text holds one or more keys (base64 of 32 bytes), one a line (or comma-separated in
//! the environment variable): the first seals, the others are only read. That is what makes a
//! rotation possible without losing what the old key sealed.
use std::io::Write;
use std::path::{Path, PathBuf};

use levd_store::SecretKeys;

/// The name of the generated key file inside the data directory.
pub const DEFAULT_FILE_NAME: &str = "secret.key";

/// The environment variable that holds the key itself.
pub const ENV_INLINE: &str = "LEV_SECRET_KEY";

#[derive(Debug, Clone)]
pub enum SecretKeySource {
    /// The key text itself (from `LEV_SECRET_KEY`).
    Inline(String),
    /// A file holding the key text; it must exist.
    File(PathBuf),
    /// `secret.key` in this data directory, created when missing if `generate` is set.
    DataDir { dir: PathBuf, generate: bool },
}

impl SecretKeySource {
    /// The source named by the environment and flags: `LEV_SECRET_KEY` and a key file cannot
    /// both be given.
    pub fn from_settings(file: Option<&Path>, data_dir: &Path, generate: bool) -> Result<SecretKeySource, String> {
        let inline = std::env::var(ENV_INLINE).ok().filter(|v| !v.trim().is_empty());
        match (inline, file) {
            (Some(_), Some(_)) => Err(format!("give either {ENV_INLINE} or --secret-key-file, not both")),
            (Some(text), None) => Ok(SecretKeySource::Inline(text)),
            (None, Some(f)) => Ok(SecretKeySource::File(f.to_path_buf())),
            (None, None) => Ok(SecretKeySource::DataDir { dir: data_dir.to_path_buf(), generate }),
        }
    }

    /// The key file this source reads, if it is a file.
    pub fn file(&self) -> Option<PathBuf> {
        match self {
            SecretKeySource::Inline(_) => None,
            SecretKeySource::File(f) => Some(f.clone()),
            SecretKeySource::DataDir { dir, .. } => Some(dir.join(DEFAULT_FILE_NAME)),
        }
    }

    /// Reads (or, for a data directory, creates) the keys.
    pub fn load(&self) -> Result<SecretKeys, String> {
        match self {
            SecretKeySource::Inline(text) => SecretKeys::parse(text).map_err(|e| format!("{ENV_INLINE}: {e}")),
            SecretKeySource::File(path) => read_key_file(path),
            SecretKeySource::DataDir { dir, generate } => {
                let path = dir.join(DEFAULT_FILE_NAME);
                if path.exists() || !generate {
                    return read_key_file(&path);
                }
                create_private_dir(dir)?;
                match write_new_file(&path, &SecretKeys::generate_text()?) {
                    Ok(()) => {
                        tracing::info!(file = %path.display(), "created the secret key that encrypts secrets at rest; back it up");
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(format!("cannot create secret key file {}: {e}", path.display())),
                }
                read_key_file(&path)
            }
        }
    }
}

fn read_key_file(path: &Path) -> Result<SecretKeys, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read secret key file {}: {e}", path.display()))?;
    SecretKeys::parse(&text).map_err(|e| format!("secret key file {}: {e}", path.display()))
}

/// Creates `dir` (and missing parents) with mode 0700 when it does not exist.
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    levd_store::private_dir(dir).map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))
}

/// Creates `path` (which must not exist) readable and writable by its owner only, whatever the
/// umask, and writes `text` into it.
pub fn write_new_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    // The umask can only take bits away; set the mode explicitly so it is exactly 0600.
    set_mode(path, 0o600)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Replaces `path` with `text` atomically (a private temporary file renamed over it).
pub fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    write_new_file(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// `levd admin secret-key rotate`: a new key seals every secret again. The key file first
/// holds the new key followed by the old ones (so a crash at any point leaves every value
/// readable), the values are sealed again in one transaction, and then the file keeps only
/// the new key. Run it while no levd server uses the database: a server still holding only
/// the old key cannot open what the new one sealed.
pub async fn rotate(store: &levd_store::Store, source: &SecretKeySource) -> Result<serde_json::Value, String> {
    let Some(path) = source.file() else {
        return Err(format!(
            "the secret key comes from {ENV_INLINE}: put a new key first in it, keep the old one after a comma, \
             start levd once (it seals everything again with the new key), then drop the old key"
        ));
    };
    let old_text =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read secret key file {}: {e}", path.display()))?;
    let old = SecretKeys::parse(&old_text).map_err(|e| format!("secret key file {}: {e}", path.display()))?;
    let new_line = SecretKeys::generate_text()?;
    let both = format!("{new_line}{}\n", old_text.trim_end());
    replace_file(&path, &both).map_err(|e| format!("cannot write secret key file {}: {e}", path.display()))?;
    let ring = SecretKeys::parse(&both)?;
    let report = store
        .clone()
        .with_secret_keys(ring.clone())
        .seal_secrets_at_rest()
        .await
        .map_err(|e| format!("{e} (the key file now holds the new key first and the old ones after it)"))?;
    replace_file(&path, &new_line).map_err(|e| format!("cannot write secret key file {}: {e}", path.display()))?;
    Ok(serde_json::json!({
        "key_file": path.display().to_string(),
        "key_id": ring.current_id(),
        "retired_key_ids": old.ids(),
        "resealed": report.resealed + report.sealed,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_generated_key_file_and_the_data_directory_it_creates_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("data");
        let src = SecretKeySource::DataDir { dir: dir.clone(), generate: true };
        let keys = src.load().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join(DEFAULT_FILE_NAME)), 0o600);
        assert_eq!(mode(&dir), 0o700);
        // A second load reads the same key instead of making another.
        assert_eq!(src.load().unwrap().current_id(), keys.current_id());
        let missing = SecretKeySource::DataDir { dir: tmp.path().join("none"), generate: false };
        assert!(missing.load().unwrap_err().contains("cannot read secret key file"));
    }
}
