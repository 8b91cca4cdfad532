//! Signed file links: the token format and its HMAC-SHA256 signature.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Lifetime of a signed file link.
pub const FILE_LINK_TTL_SECS: u64 = 300;

/// What a signed link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTarget {
    Document(i64),
    MemoPdf { memo_id: i64, quality: &'static str },
}

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Malformed,
    BadSignature,
    Expired,
}

/// The key that signs file links. Kept in the database so every node shares it; `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkSecret([u8; 32]);

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret(..)")
    }
}

impl LinkSecret {
    pub fn generate() -> Result<LinkSecret, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(LinkSecret(bytes))
    }
    pub fn from_hex(s: &str) -> Option<LinkSecret> {
        let bytes = hex::decode(s).ok()?;
        Some(LinkSecret(bytes.try_into().ok()?))
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

type HmacSha256 = Hmac<Sha256>;

/// A MAC over `message` ready to be finished or checked.
fn mac_of(key: &[u8], message: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    mac_of(key, message).finalize().into_bytes().into()
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn quality_code(q: &str) -> Option<char> {
    Some(match q {
        "original" => 'o',
        "high" => 'h',
        "medium" => 'm',
        "low" => 'l',
        _ => return None,
    })
}

fn quality_from_code(c: &str) -> Option<&'static str> {
    Some(match c {
        "o" => "original",
        "h" => "high",
        "m" => "medium",
        "l" => "low",
        _ => return None,
    })
}

/// A link token: `v1.<kind>.<id>.<expires>.<mac>`, where kind is `d` (document) or `m` plus a
/// quality letter (memo PDF), `expires` is Unix seconds and `mac` the URL-safe base64 of the
/// HMAC-SHA256 of everything before it. Every character is URL-safe.
pub fn sign_file_link(secret: &LinkSecret, target: FileTarget, expires_at: u64) -> String {
    let payload = match target {
        FileTarget::Document(id) => format!("v1.d.{id}.{expires_at}"),
        FileTarget::MemoPdf { memo_id, quality } => {
            format!("v1.m{}.{memo_id}.{expires_at}", quality_code(quality).unwrap_or('o'))
        }
    };
    let mac = hmac_sha256(&secret.0, payload.as_bytes());
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// Checks a token: well-formed, signed with `secret`, not expired at `now` (Unix seconds).
/// The signature is checked before the expiry is believed.
pub fn verify_file_link(secret: &LinkSecret, token: &str, now: u64) -> Result<FileTarget, LinkError> {
    if token.len() > 160 {
        return Err(LinkError::Malformed);
    }
    let (payload, mac) = token.rsplit_once('.').ok_or(LinkError::Malformed)?;
    let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| LinkError::Malformed)?;
    let parts: Vec<&str> = payload.split('.').collect();
    let [version, kind, id, expires] = parts.as_slice() else {
        return Err(LinkError::Malformed);
    };
    if *version != "v1" {
        return Err(LinkError::Malformed);
    }
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    let id = number(id).and_then(|n| i64::try_from(n).ok()).filter(|n| *n > 0).ok_or(LinkError::Malformed)?;
    let expires = number(expires).ok_or(LinkError::Malformed)?;
    let target = match *kind {
        "d" => FileTarget::Document(id),
        k => match k.strip_prefix('m').and_then(quality_from_code) {
            Some(quality) => FileTarget::MemoPdf { memo_id: id, quality },
            None => return Err(LinkError::Malformed),
        },
    };
    mac_of(&secret.0, payload.as_bytes()).verify_slice(&mac).map_err(|_| LinkError::BadSignature)?;
    if now >= expires {
        return Err(LinkError::Expired);
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // Case 6: a key longer than the block is hashed first.
        let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn links_round_trip_and_refuse_tampering_and_expiry() {
        let secret = LinkSecret::generate().unwrap();
        let t = sign_file_link(&secret, FileTarget::Document(42), 1_000);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{t}");
        assert_eq!(verify_file_link(&secret, &t, 999), Ok(FileTarget::Document(42)));
        assert_eq!(verify_file_link(&secret, &t, 1_000), Err(LinkError::Expired));
        let other = LinkSecret::generate().unwrap();
        assert_eq!(verify_file_link(&other, &t, 10), Err(LinkError::BadSignature));
        // Changing the id or the expiry breaks the signature.
        let forged = t.replacen(".42.", ".43.", 1);
        assert_eq!(verify_file_link(&secret, &forged, 10), Err(LinkError::BadSignature));
        let extended = t.replacen(".1000.", ".9999999999.", 1);
        assert_eq!(verify_file_link(&secret, &extended, 10), Err(LinkError::BadSignature));
        for bad in [
            "",
            "v1.d.42.1000",
            "v2.d.42.1000.AAAA",
            "v1.x.42.1000.AAAA",
            "v1.d.-1.1000.AAAA",
            "v1.d.42.10e3.AAAA",
            "v1.d.42.1000.!!",
        ] {
            assert_eq!(verify_file_link(&secret, bad, 10), Err(LinkError::Malformed), "{bad}");
        }
        let m = sign_file_link(&secret, FileTarget::MemoPdf { memo_id: 7, quality: "medium" }, 50);
        assert_eq!(verify_file_link(&secret, &m, 1), Ok(FileTarget::MemoPdf { memo_id: 7, quality: "medium" }));
        assert_eq!(LinkSecret::from_hex(&secret.to_hex()), Some(secret.clone()));
        assert_eq!(format!("{secret:?}"), "LinkSecret(..)");
    }
    /// Tokens signed before the signature moved to the `hmac` crate: links already handed out
    /// must stay valid, so the MAC bytes may never change.
    #[test]
    fn links_signed_earlier_still_verify() {
        let secret = LinkSecret::from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").unwrap();
        let doc = "v1.d.42.1000.oiftSLxolwiRrAqxOV_a5pPxHf8HeOEihnmFFT7-MM8";
        assert_eq!(sign_file_link(&secret, FileTarget::Document(42), 1_000), doc);
        assert_eq!(verify_file_link(&secret, doc, 999), Ok(FileTarget::Document(42)));
        let memo = "v1.mm.7.1767225600.pCRjBVbYMnVQFnyt4jZpazppc_ab7K9bl1VUWnkjP7s";
        let target = FileTarget::MemoPdf { memo_id: 7, quality: "medium" };
        assert_eq!(sign_file_link(&secret, target, 1_767_225_600), memo);
        assert_eq!(verify_file_link(&secret, memo, 1_767_225_599), Ok(target));
    }
}
