//! Parsers for the request headers the API reads: `Authorization`, `X-Origin-App`,
//! `X-Active-Account` and `Idempotency-Key`.
use crate::error::ApiError;

/// `Bearer <token>` (scheme case-insensitive). `None` when the header is not a bearer
/// credential; an empty or space-containing token is not one either.
pub fn parse_bearer(value: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(value).ok()?;
    let (scheme, token) = s.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_matches(' ');
    if token.is_empty() || token.contains(|c: char| c.is_whitespace() || !c.is_ascii_graphic()) {
        return None;
    }
    Some(token)
}

fn visible_ascii(value: &[u8], max: usize) -> Option<&str> {
    if value.is_empty() || value.len() > max || !value.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return None;
    }
    std::str::from_utf8(value).ok()
}

/// `X-Origin-App` (`docs/api.md#origin-app`): 1–128 visible ASCII characters.
pub fn parse_origin_app(value: Option<&[u8]>) -> Result<&str, ApiError> {
    match value {
        None => Err(ApiError::bad_request("X-Origin-App header is required")),
        Some(v) if v.iter().all(|b| *b == b' ' || *b == b'\t') => {
            Err(ApiError::bad_request("X-Origin-App header is required"))
        }
        Some(v) => visible_ascii(v, 128)
            .ok_or_else(|| ApiError::bad_request("X-Origin-App must be 1-128 visible ASCII characters")),
    }
}

/// `Idempotency-Key` (`docs/api.md#idempotency`): 1–255 visible ASCII characters.
pub fn parse_idempotency_key(value: &[u8]) -> Result<&str, ApiError> {
    visible_ascii(value, 255)
        .ok_or_else(|| ApiError::bad_request("Idempotency-Key must be 1-255 visible ASCII characters"))
}

/// `X-Active-Account`: an account slug. Anything that cannot be a slug is treated like an
/// unknown slug by the caller (403), so slugs cannot be probed by shape either.
pub fn parse_account_slug(value: &[u8]) -> Option<&str> {
    let s = visible_ascii(value, 100)?;
    is_valid_slug(s).then_some(s)
}

/// Slugs: 2–64 characters of `a-z`, `0-9` and `-`, not starting or ending with `-`.
pub fn is_valid_slug(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bearer() {
        assert_eq!(parse_bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(parse_bearer(b"bearer abc"), Some("abc"));
        assert_eq!(parse_bearer(b"Basic abc"), None);
        assert_eq!(parse_bearer(b"Bearer "), None);
        assert_eq!(parse_bearer(b"Bearer a b"), None);
        assert_eq!(parse_bearer(b"Bearer\xff"), None);
    }

    #[test]
    fn origin_app() {
        assert_eq!(parse_origin_app(Some(b"my-integration")).unwrap(), "my-integration");
        assert_eq!(parse_origin_app(None).unwrap_err().message, "X-Origin-App header is required");
        assert_eq!(parse_origin_app(Some(b"")).unwrap_err().message, "X-Origin-App header is required");
        assert!(parse_origin_app(Some(b"has space")).is_err());
        assert!(parse_origin_app(Some("é".as_bytes())).is_err());
        assert!(parse_origin_app(Some(&[b'a'; 129])).is_err());
        assert!(parse_origin_app(Some(&[b'a'; 128])).is_ok());
    }

    #[test]
    fn idempotency_and_slug() {
        assert!(parse_idempotency_key(b"7d4b0f3a-2c61-4e8e-9d55-0c9a51f2b6aa").is_ok());
        assert!(parse_idempotency_key(&[b'k'; 256]).is_err());
        assert!(parse_idempotency_key(b"").is_err());
        assert_eq!(parse_account_slug(b"broker-magicians"), Some("broker-magicians"));
        assert_eq!(parse_account_slug(b"Broker"), None);
        assert_eq!(parse_account_slug(b"-x"), None);
    }

    proptest! {
        #[test]
        fn header_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_bearer(&bytes);
            let _ = parse_origin_app(Some(&bytes));
            let _ = parse_idempotency_key(&bytes);
            let _ = parse_account_slug(&bytes);
        }

        #[test]
        fn visible_ascii_keys_are_accepted(k in "[!-~]{1,255}") {
            prop_assert_eq!(parse_idempotency_key(k.as_bytes()).unwrap(), k.as_str());
        }
    }
}
