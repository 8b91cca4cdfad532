//! Passwords for the sign-in page: argon2id (PHC strings), with the crate's recommended cost.
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

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

/// Largest memory cost (KiB) a stored hash may ask for; anything larger is refused rather than
/// allocated.
const MAX_M_COST: u32 = 64 * 1024;

/// The hash checked when there is no real one (unknown user, no password set), so the answer
/// takes as long either way.
fn dummy() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("levd-dummy-password").unwrap_or_default())
}

/// Verifies `password` against a stored hash. With no hash (unknown user, no password set) a
/// dummy hash is checked instead, so the answer takes as long either way.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    verify_with(password, stored, &mut Vec::new())
}

/// [`verify`] with the argon2 working memory passed in, so a caller can reuse it.
fn verify_with(password: &str, stored: Option<&str>, memory: &mut Vec<Block>) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (dummy(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST {
        tracing::warn!(m_cost = params.m_cost(), "a stored password hash asks for too much memory");
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let ok = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok();
    let same: bool = out.as_slice().ct_eq(expected.as_bytes()).into();
    ok && same && real
}

/// Why a password could not be checked: every hashing slot stayed busy for the whole wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Checks passwords off the async runtime, a few at a time. Each check needs argon2's working
/// memory (about 19 MiB with the default cost); at most `slots` checks run at once, each on a
/// memory block kept in a pool and reused, so a burst of sign-ins costs at most `slots` blocks
/// for the life of the process instead of one fresh allocation per request. A request that
/// cannot get a slot within the wait is answered [`Busy`].
pub struct Checker {
    slots: Arc<Semaphore>,
    wait: Duration,
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Checker {
    pub fn new(slots: usize, wait: Duration) -> Checker {
        Checker { slots: Arc::new(Semaphore::new(slots.max(1))), wait, memory: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Slots for this machine: its cores, at least two, at most four.
    pub fn default_slots() -> usize {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get).clamp(2, 4)
    }

    /// [`verify`] in a slot.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, Busy> {
        let permit = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => return Err(Busy),
        };
        let memory = self.memory.clone();
        // The permit moves into the blocking task: if the request is dropped meanwhile, the
        // slot stays taken until the hashing really ends.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut block = memory.lock().pop().unwrap_or_default();
            let ok = verify_with(&password, stored.as_deref(), &mut block);
            memory.lock().push(block);
            ok
        })
        .await
        .map_err(|_| Busy)
    }
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
    fn reused_memory_gives_the_same_answers() {
        let h = hash("correct horse battery").unwrap_or_default();
        let mut memory = Vec::new();
        for _ in 0..2 {
            assert!(verify_with("correct horse battery", Some(&h), &mut memory));
            assert!(!verify_with("correct horse batterY", Some(&h), &mut memory));
        }
        assert_eq!(memory.len(), Params::default().block_count());
    }

    #[tokio::test]
    async fn the_checker_answers_busy_when_every_slot_stays_taken() {
        let h = hash("correct horse battery").unwrap_or_default();
        let checker = Checker::new(1, Duration::from_millis(1));
        let held = checker.slots.clone().acquire_owned().await;
        assert!(held.is_ok());
        assert_eq!(checker.verify("correct horse battery".into(), Some(h.clone())).await, Err(Busy));
        drop(held);
        assert_eq!(checker.verify("correct horse battery".into(), Some(h)).await, Ok(true));
    }

    #[test]
    fn policy() {
        assert!(hash("short").is_err());
        assert!(hash(&"x".repeat(MAX_LEN + 1)).is_err());
    }
}
