//! API key secrets: `lev_sk_` + 43 base62 characters holding 32 random bytes + a 6-character
//! base62 CRC32 of those 43 characters.
//!
//! The checksum lets a mistyped or truncated key be refused without a store lookup and lets
//! secret scanners recognise real keys. Only the SHA-256 [`ApiKeySecret::digest`] is stored:
//! 256 random bits need no slow hash, and lookup by digest means no secret is ever compared as
//! a string.
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "lev_sk_";

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_BYTES: usize = 32;
/// 62^43 > 2^256 (43 · log2 62 ≈ 256.03), so 43 digits hold any 32-byte value: the encoding is
/// injective and the body keeps all 256 bits of the random input. 42 digits would not.
const BODY_LEN: usize = 43;
/// 62^6 ≈ 5.7e10 > 2^32, so any CRC32 fits.
const CHECKSUM_LEN: usize = 6;
const PREFIX_LEN: usize = API_KEY_PREFIX.len();
const TOKEN_LEN: usize = PREFIX_LEN + BODY_LEN + CHECKSUM_LEN;
/// Body characters shown in `key_prefix` (the documented `lev_sk_abc1` shape).
const VISIBLE_BODY_CHARS: usize = 4;

/// A full API key. Deliberately neither `Display` nor `Serialize`, and `Debug` shows only the
/// non-secret prefix, so the secret cannot reach a log or a response by accident; the one
/// place that needs it calls [`ApiKeySecret::expose`].
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<ApiKeySecret, getrandom::Error> {
        let mut bytes = [0u8; RANDOM_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self::from_random(&bytes))
    }

    fn from_random(bytes: &[u8; RANDOM_BYTES]) -> ApiKeySecret {
        let body: [u8; BODY_LEN] = base62_fixed(bytes);
        let check = checksum(&body);
        let mut token = String::with_capacity(TOKEN_LEN);
        token.push_str(API_KEY_PREFIX);
        // Both arrays hold only alphabet bytes, which are ASCII.
        token.extend(body.iter().chain(check.iter()).map(|b| char::from(*b)));
        ApiKeySecret(token)
    }

    /// Accepts exactly the generated format with a matching checksum; `None` otherwise.
    pub fn parse(token: &str) -> Option<ApiKeySecret> {
        let bytes = token.as_bytes();
        if bytes.len() != TOKEN_LEN {
            return None;
        }
        let (prefix, rest) = bytes.split_at(PREFIX_LEN);
        let (body, check) = rest.split_at(BODY_LEN);
        // Every part is checked whatever the others gave (non-short-circuit `&`), so timing
        // does not reveal which part of a presented token was wrong.
        let prefix_ok = prefix == API_KEY_PREFIX.as_bytes();
        let alphabet_ok = rest.iter().fold(true, |ok, b| ok & b.is_ascii_alphanumeric());
        let checksum_ok = checksum(body) == check;
        if prefix_ok & alphabet_ok & checksum_ok { Some(ApiKeySecret(token.to_string())) } else { None }
    }

    /// The full secret: for the single response that creates the key, nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the full secret: what is stored and looked up.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// `lev_sk_` + the first four body characters: shown in listings to tell keys apart.
    pub fn key_prefix(&self) -> String {
        shown_prefix(&self.0).to_string()
    }
}

/// The non-secret prefix of a key that [`ApiKeySecret::parse`] accepted, without parsing it
/// again (the request log's `key_prefix`).
pub fn shown_prefix(key: &str) -> &str {
    // Always ASCII of fixed length by construction; `get` only avoids a panic path.
    key.get(..PREFIX_LEN + VISIBLE_BODY_CHARS).unwrap_or(API_KEY_PREFIX)
}

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.key_prefix())
    }
}

/// Whether a bearer token is to be treated as an API key rather than a JWT (`docs/auth.md#credentials`).
/// Says nothing about validity.
pub fn is_api_key_token(token: &str) -> bool {
    token.starts_with(API_KEY_PREFIX)
}

/// Lower-case hex of a digest, for storage and logs that must identify a key without holding it.
pub fn digest_hex(digest: &[u8; 32]) -> String {
    hex::encode(digest)
}

/// CRC32 of the body as 6 base62 characters.
fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    base62_fixed(&crc32fast::hash(body).to_be_bytes())
}

/// Base62 of a big-endian number as exactly `N` digits, most significant first, zero-padded.
/// Repeated long division by 62 over the bytes; callers pick `N` with 62^N > 256^len so
/// nothing is lost.
fn base62_fixed<const N: usize>(big_endian: &[u8]) -> [u8; N] {
    let mut number = big_endian.to_vec();
    let mut digits = [ALPHABET[0]; N];
    for digit in digits.iter_mut().rev() {
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            // acc < 62 · 256, so the quotient fits in a byte.
            *byte = (acc / 62) as u8;
            remainder = acc % 62;
        }
        *digit = ALPHABET[remainder as usize];
    }
    debug_assert!(number.iter().all(|b| *b == 0), "{N} base62 digits too few");
    digits
}

/// The answer of `POST /api-keys/revoke`: whether a live key was revoked by this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ApiKeyRevocation {
    pub revoked: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Inverse of `base62_fixed` for 32-byte values; `None` on overflow or a foreign character.
    fn base62_decode_32(digits: &[u8]) -> Option<[u8; 32]> {
        let mut number = [0u8; 32];
        for d in digits {
            let mut carry = u32::try_from(ALPHABET.iter().position(|a| a == d)?).ok()?;
            for byte in number.iter_mut().rev() {
                let acc = u32::from(*byte) * 62 + carry;
                *byte = (acc & 0xff) as u8;
                carry = acc >> 8;
            }
            if carry != 0 {
                return None;
            }
        }
        Some(number)
    }

    fn body(key: &ApiKeySecret) -> &str {
        &key.expose()[PREFIX_LEN..PREFIX_LEN + BODY_LEN]
    }

    #[test]
    fn generated_key_has_the_documented_shape_and_parses() {
        let key = ApiKeySecret::generate().unwrap();
        let s = key.expose();
        assert_eq!(s.len(), 56);
        assert!(s.starts_with("lev_sk_"));
        assert!(s[PREFIX_LEN..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(is_api_key_token(s));
        let parsed = ApiKeySecret::parse(s).unwrap();
        assert_eq!(parsed.expose(), s);
        assert_eq!(parsed.digest(), key.digest());
        assert_eq!(key.key_prefix(), &s[..11]);
    }

    #[test]
    fn two_generated_keys_differ() {
        let a = ApiKeySecret::generate().unwrap();
        let b = ApiKeySecret::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn known_vectors() {
        let zero = ApiKeySecret::from_random(&[0; 32]);
        assert!(zero.expose().starts_with(&format!("lev_sk_{}", "0".repeat(43))));
        assert_eq!(&zero.expose()[50..], std::str::from_utf8(&checksum(&[b'0'; 43])).unwrap());
        // 2^256 - 1 still fits in 43 digits (checked against an independent computation).
        let max = ApiKeySecret::from_random(&[0xff; 32]);
        assert_eq!(body(&max), "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1");
        assert_eq!(base62_decode_32(body(&max).as_bytes()), Some([0xff; 32]));
        assert_eq!(base62_fixed::<6>(&u32::MAX.to_be_bytes()), *b"4gfFC3");
        assert_eq!(base62_fixed::<3>(&[0, 62]), *b"010");
    }

    #[test]
    fn body_holds_256_bits() {
        assert!(BODY_LEN as f64 * 62f64.log2() > 256.0);
        assert!((BODY_LEN - 1) as f64 * 62f64.log2() < 256.0);
        assert!(62u64.pow(CHECKSUM_LEN as u32) > u64::from(u32::MAX));
    }

    #[test]
    fn digest_is_sha256_of_the_whole_secret() {
        let key = ApiKeySecret::from_random(&[7; 32]);
        let expected: [u8; 32] = Sha256::digest(key.expose().as_bytes()).into();
        assert_eq!(key.digest(), expected);
        let hex = digest_hex(&key.digest());
        assert_eq!(hex.len(), 64);
        assert_eq!(hex, hex.to_lowercase());
        assert_eq!(digest_hex(&[0xab; 32]), "ab".repeat(32));
    }

    #[test]
    fn debug_shows_only_the_prefix() {
        let key = ApiKeySecret::generate().unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, format!("ApiKeySecret({}…)", key.key_prefix()));
        assert!(!shown.contains(&body(&key)[VISIBLE_BODY_CHARS..]));
        assert!(!shown.contains(key.expose()));
        assert!(!format!("{key:#?}").contains(key.expose()));
    }

    #[test]
    fn length_and_prefix_mutations_are_rejected() {
        let key = ApiKeySecret::generate().unwrap();
        let s = key.expose();
        let candidates = [
            String::new(),
            "lev_sk_".to_string(),
            s[..s.len() - 1].to_string(),
            format!("{s}0"),
            format!("0{s}"),
            format!(" {s}"),
            format!("{s}\n"),
            s.replacen("lev_sk_", "lev_pk_", 1),
            s.replacen("lev_sk_", "LEV_SK_", 1),
            s.replacen("lev_sk_", "lev-sk-", 1),
            s.replacen("lev_sk_", "", 1),
            // The right characters without the checksum, or with it doubled.
            s[..PREFIX_LEN + BODY_LEN].to_string(),
            format!("{s}{}", &s[PREFIX_LEN + BODY_LEN..]),
        ];
        for c in candidates {
            assert!(ApiKeySecret::parse(&c).is_none(), "{c:?}");
        }
    }

    #[test]
    fn jwts_are_not_api_keys() {
        assert!(!is_api_key_token("eyJhbGciOiJSUzI1NiJ9.e30.sig"));
        assert!(!is_api_key_token("LEV_SK_abc"));
        assert!(is_api_key_token("lev_sk_"));
    }

    fn replacement_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => prop::sample::select(ALPHABET.to_vec()).prop_map(char::from),
            1 => prop::sample::select(vec!['_', '-', ' ', '+', '/', '=', '\0', 'é', '€']),
            1 => any::<char>(),
        ]
    }

    proptest! {
        #[test]
        fn base62_is_injective(bytes in any::<[u8; 32]>()) {
            let digits: [u8; BODY_LEN] = base62_fixed(&bytes);
            prop_assert_eq!(base62_decode_32(&digits), Some(bytes));
        }

        #[test]
        fn any_random_input_round_trips(bytes in any::<[u8; 32]>()) {
            let key = ApiKeySecret::from_random(&bytes);
            let parsed = ApiKeySecret::parse(key.expose()).unwrap();
            prop_assert_eq!(parsed.expose(), key.expose());
        }

        #[test]
        fn any_single_character_change_is_rejected(
            bytes in any::<[u8; 32]>(),
            position in 0..TOKEN_LEN,
            replacement in replacement_char(),
        ) {
            let key = ApiKeySecret::from_random(&bytes);
            let mut chars: Vec<char> = key.expose().chars().collect();
            prop_assume!(chars[position] != replacement);
            chars[position] = replacement;
            let mutated: String = chars.into_iter().collect();
            prop_assert!(ApiKeySecret::parse(&mutated).is_none(), "{}", mutated);
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = ApiKeySecret::parse(&s);
            let _ = ApiKeySecret::parse(&format!("lev_sk_{s}"));
        }

        #[test]
        fn parse_never_panics_on_right_length_strings(s in "\\PC{49}") {
            let token = format!("lev_sk_{s}");
            if let Some(key) = ApiKeySecret::parse(&token) {
                prop_assert_eq!(key.expose(), token.as_str());
            }
        }
    }
}
