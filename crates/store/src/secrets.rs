//! Encryption at rest for the secrets levd keeps in its database: the authorization server's
//! signing private keys and the secret that signs file links.
//!
//! Each value is sealed with ChaCha20-Poly1305 under a 256-bit key that never enters the
//! database, with a fresh random nonce per value and the value's purpose (table and row) as
//! associated data, so a sealed value cannot be moved to another row. A sealed value reads
//! `enc:v1:<key id>:<base64url(nonce | ciphertext)>`; the key id (the first four bytes of the
//! key's SHA-256, in hex) says which key sealed it, so a key ring can hold old keys during a
//! rotation and a wrong key is recognised at once instead of producing fresh secrets.
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 12;

/// One 256-bit key and its id.
#[derive(Clone)]
struct RingKey {
    id: String,
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for RingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RingKey({})", self.id)
    }
}

/// The keys levd seals secrets with: the first seals, every one may open.
#[derive(Clone, Debug)]
pub struct SecretKeys {
    keys: Vec<RingKey>,
}

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the value was encrypted with secret key {0}, which is not among the configured secret keys")]
    UnknownKey(String),
    #[error("the value does not decrypt with secret key {0} (corrupted, or moved from another row)")]
    Corrupt(String),
    #[error("the sealed value is malformed")]
    Malformed,
}

impl SecretKeys {
    /// Parses one or more keys, each the standard or URL-safe base64 of 32 bytes, separated by
    /// newlines, commas or spaces; `#` starts a comment line. The first key is the current one.
    pub fn parse(text: &str) -> Result<SecretKeys, String> {
        let mut keys = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
            for word in line.split([',', ' ', '\t']).map(str::trim).filter(|w| !w.is_empty()) {
                let bytes = STANDARD
                    .decode(word)
                    .or_else(|_| URL_SAFE_NO_PAD.decode(word.trim_end_matches('=')))
                    .map_err(|_| "a secret key must be the base64 of 32 bytes".to_string())?;
                let raw: [u8; 32] =
                    bytes.try_into().map_err(|_| "a secret key must be the base64 of exactly 32 bytes".to_string())?;
                keys.push(Self::ring_key(&raw));
            }
        }
        if keys.is_empty() {
            return Err("no secret key given".into());
        }
        Ok(SecretKeys { keys })
    }

    /// A new random key, as the text `parse` reads (one line).
    pub fn generate_text() -> Result<String, String> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| format!("the operating system's random source failed: {e}"))?;
        Ok(format!("{}\n", STANDARD.encode(raw)))
    }

    fn ring_key(raw: &[u8; 32]) -> RingKey {
        let id = hex_prefix(&Sha256::digest(raw)[..4]);
        RingKey { id, cipher: ChaCha20Poly1305::new(&Key::from(*raw)) }
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    /// The ids of every key, current first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// Whether `stored` is a sealed value (rather than plaintext from an older version).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// The id of the key that sealed `stored`, if it is sealed.
    pub fn sealed_with(stored: &str) -> Option<&str> {
        stored.strip_prefix(PREFIX)?.split_once(':').map(|(id, _)| id)
    }

    /// Seals `plain` for `purpose` with the current key.
    pub fn seal(&self, plain: &str, purpose: &str) -> Result<String, String> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| format!("the operating system's random source failed: {e}"))?;
        let ct = key
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plain.as_bytes(), aad: purpose.as_bytes() })
            .map_err(|_| "encryption failed".to_string())?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}:{}", key.id, URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens a sealed value of `purpose`.
    pub fn open(&self, stored: &str, purpose: &str) -> Result<String, SealError> {
        let rest = stored.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let (id, body) = rest.split_once(':').ok_or(SealError::Malformed)?;
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| SealError::UnknownKey(id.to_string()))?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        let plain = key
            .cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad: purpose.as_bytes() })
            .map_err(|_| SealError::Corrupt(id.to_string()))?;
        String::from_utf8(plain).map_err(|_| SealError::Malformed)
    }
}

/// What `Store::seal_secrets_at_rest` changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Values found in plaintext (written by an older version) and sealed now.
    pub sealed: u64,
    /// Values sealed with an older key of the ring and sealed again with the current one.
    pub resealed: u64,
}

impl crate::Store {
    /// Checks every secret kept in the database against the configured keys, in one
    /// transaction: plaintext left by an older version is sealed, values sealed with an older
    /// key of the ring are sealed again with the current key, and a value no configured key
    /// opens stops everything with an error that says so (levd never replaces secrets it
    /// cannot read).
    pub async fn seal_secrets_at_rest(&self) -> crate::Result<SealReport> {
        let keys = self.secret_keys()?;
        let mut report = SealReport::default();
        let mut tx = self.begin_write().await?;
        let mut items: Vec<(&'static str, String, String)> = Vec::new();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT kid, private_pem FROM oauth_signing_keys").fetch_all(&mut *tx).await?;
        for (kid, stored) in rows {
            items.push(("signing key", kid, stored));
        }
        let link: Option<String> = sqlx::query_scalar("SELECT secret_hex FROM file_link_secrets WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(stored) = link {
            items.push(("file-link secret", String::new(), stored));
        }
        for (what, kid, stored) in items {
            let purpose = if kid.is_empty() {
                crate::deal_data::LINK_SECRET_PURPOSE.to_string()
            } else {
                crate::oauth::signing_key_purpose(&kid)
            };
            let plain = if SecretKeys::is_sealed(&stored) {
                if SecretKeys::sealed_with(&stored) == Some(keys.current_id()) {
                    keys.open(&stored, &purpose).map_err(|e| wrong_key(what, &e, keys))?;
                    continue;
                }
                report.resealed += 1;
                keys.open(&stored, &purpose).map_err(|e| wrong_key(what, &e, keys))?
            } else {
                report.sealed += 1;
                stored
            };
            let sealed = keys.seal(&plain, &purpose).map_err(crate::StoreError::Secret)?;
            if kid.is_empty() {
                sqlx::query("UPDATE file_link_secrets SET secret_hex = $1 WHERE id = 1")
                    .bind(sealed)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query("UPDATE oauth_signing_keys SET private_pem = $1 WHERE kid = $2")
                    .bind(sealed)
                    .bind(&kid)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}

fn wrong_key(what: &str, e: &SealError, keys: &SecretKeys) -> crate::StoreError {
    crate::StoreError::Secret(format!(
        "cannot open the {what} stored in the database: {e}; the configured secret keys are {}. \
         Start levd with the secret key the database was sealed with (--secret-key-file or LEV_SECRET_KEY)",
        keys.ids().join(", ")
    ))
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ring() -> SecretKeys {
        SecretKeys::parse(&SecretKeys::generate_text().unwrap()).unwrap()
    }

    #[test]
    fn seals_with_a_fresh_nonce_and_opens_only_for_the_same_purpose() {
        let k = ring();
        let a = k.seal("secret text", "row:1").unwrap();
        let b = k.seal("secret text", "row:1").unwrap();
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(!a.contains("secret"));
        assert!(SecretKeys::is_sealed(&a));
        assert_eq!(SecretKeys::sealed_with(&a), Some(k.current_id()));
        assert_eq!(k.open(&a, "row:1").unwrap(), "secret text");
        assert_eq!(k.open(&a, "row:2"), Err(SealError::Corrupt(k.current_id().to_string())));
        let mut tampered = a.clone();
        tampered.pop();
        tampered.push(if a.ends_with('A') { 'B' } else { 'A' });
        assert!(k.open(&tampered, "row:1").is_err());
    }

    #[test]
    fn a_ring_opens_values_of_old_keys_and_names_unknown_ones() {
        let old = ring();
        let new = ring();
        let sealed = old.seal("x", "p").unwrap();
        assert_eq!(new.open(&sealed, "p"), Err(SealError::UnknownKey(old.current_id().to_string())));
        let both = SecretKeys::parse(&format!(
            "# new first\n{}\n{}",
            SecretKeys::generate_text().unwrap().trim(),
            STANDARD.encode([7u8; 32])
        ))
        .unwrap();
        assert_eq!(both.ids().len(), 2);
        let seven = SecretKeys::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap();
        assert_eq!(both.open(&seven.seal("y", "p").unwrap(), "p").unwrap(), "y");
    }

    #[test]
    fn bad_key_text_is_refused() {
        assert!(SecretKeys::parse("").is_err());
        assert!(SecretKeys::parse("not base64!").is_err());
        assert!(SecretKeys::parse(&STANDARD.encode([1u8; 16])).is_err());
    }
}
