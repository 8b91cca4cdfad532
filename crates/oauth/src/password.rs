//! Passwords for the sign-in page: argon2id (PHC strings), with the crate's recommended cost.
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password `levd admin user set-password` accepts.
pub const MIN_LEN: usize = 10;
/// Longest accepted (hashing cost grows with length; nobody types more).
pub const MAX_LEN: usize = 256;

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Checks the policy and hashes.
pub fn hash(password: &str) -> Result<String, String> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(format!("the password must have at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_LEN {
        return Err(format!("the password must have at most {MAX_LEN} bytes"));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Ok(hasher().hash_password(password.as_bytes(), &salt).map_err(|e| e.to_string())?.to_string())
}

/// Verifies `password` against a stored hash. With no hash (unknown user, no password set) a
/// dummy hash is checked instead, so the answer takes as long either way.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if password.len() > MAX_LEN {
        return false;
    }
    let dummy = DUMMY.get_or_init(|| hash("levd-dummy-password").unwrap_or_default());
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    hasher().verify_password(password.as_bytes(), &parsed).is_ok() && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash("correct horse battery").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&h)));
        assert!(!verify("correct horse batterY", Some(&h)));
        assert!(!verify("correct horse battery", None));
        assert!(!verify("anything", Some("not a hash")));
    }

    #[test]
    fn policy() {
        assert!(hash("short").is_err());
        assert!(hash(&"x".repeat(MAX_LEN + 1)).is_err());
    }
}
