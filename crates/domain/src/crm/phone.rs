//! E.164 normalisation of phone numbers as people type them: NANP numbers in any of the usual
//! spellings, `+`-prefixed (or `00`/`011`-prefixed) international numbers, and national numbers
//! of a handful of common regions with their trunk prefix and length rules. Numbers of other
//! regions are accepted in international form under the general E.164 rules.

/// Longest extension accepted.
pub const MAX_EXTENSION_DIGITS: usize = 10;
/// E.164 allows at most 15 digits after the `+`.
const MAX_E164_DIGITS: usize = 15;
/// Shortest international number in service (small island networks) is 7 digits.
const MIN_E164_DIGITS: usize = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    /// Characters that no phone spelling uses (letters other than an extension marker…).
    BadCharacters,
    /// An extension marker without 1–10 digits after it.
    BadExtension,
    /// A number without `+` for a region with no numbering rules here.
    UnsupportedRegion,
    /// Wrong length or digits for its region.
    Invalid,
}

impl PhoneError {
    pub fn message(self) -> &'static str {
        match self {
            PhoneError::BadCharacters => "is not a phone number (only digits, spaces, + ( ) - . / and an extension)",
            PhoneError::BadExtension => "has an extension marker without 1 to 10 digits after it",
            PhoneError::UnsupportedRegion => {
                "has no numbering rules for national numbers; send the number in international form (+...)"
            }
            PhoneError::Invalid => "is not a valid phone number for its region",
        }
    }
}

/// A normalised number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// `+` and 7–15 digits.
    pub e164: String,
    /// ISO region of the number, when it is known.
    pub region: Option<String>,
    /// Extension written into the number (`x12`, `ext. 12`, `#12`).
    pub extension: Option<String>,
}

/// Numbering rules of one region.
#[derive(Debug)]
struct Region {
    iso: &'static str,
    calling_code: &'static str,
    /// Digit dialled before national numbers, dropped in international form.
    trunk: Option<u8>,
    /// Prefix for dialling abroad from this region.
    international_prefix: &'static str,
    /// Length bounds of the national significant number.
    min_len: usize,
    max_len: usize,
    /// Digits a national significant number may start with.
    first_digits: &'static [u8],
    /// North American area/exchange code rules.
    nanp: bool,
}

const fn nanp(iso: &'static str) -> Region {
    Region {
        iso,
        calling_code: "1",
        trunk: Some(b'1'),
        international_prefix: "011",
        min_len: 10,
        max_len: 10,
        first_digits: b"23456789",
        nanp: true,
    }
}

const fn plan(
    iso: &'static str,
    calling_code: &'static str,
    trunk: Option<u8>,
    len: (usize, usize),
    first_digits: &'static [u8],
) -> Region {
    Region {
        iso,
        calling_code,
        trunk,
        international_prefix: "00",
        min_len: len.0,
        max_len: len.1,
        first_digits,
        nanp: false,
    }
}

/// The first region of each calling code is the one reported for international input
/// unless the caller's region shares the code.
const REGIONS: &[Region] = &[
    nanp("US"),
    nanp("CA"),
    nanp("PR"),
    nanp("VI"),
    nanp("GU"),
    nanp("AS"),
    nanp("MP"),
    nanp("BS"),
    nanp("BB"),
    nanp("BM"),
    nanp("JM"),
    nanp("KY"),
    nanp("TT"),
    nanp("DO"),
    plan("GB", "44", Some(b'0'), (9, 10), b"1235789"),
    plan("IE", "353", Some(b'0'), (7, 9), b"123456789"),
    plan("DE", "49", Some(b'0'), (6, 13), b"123456789"),
    plan("FR", "33", Some(b'0'), (9, 9), b"123456789"),
    plan("ES", "34", None, (9, 9), b"6789"),
    // Italian landline numbers keep their leading 0 in international form: no trunk.
    plan("IT", "39", None, (6, 11), b"038"),
    plan("NL", "31", Some(b'0'), (9, 9), b"123456789"),
    plan("CH", "41", Some(b'0'), (9, 9), b"23456789"),
    plan("AU", "61", Some(b'0'), (9, 9), b"23478"),
    plan("IN", "91", Some(b'0'), (10, 10), b"23456789"),
    plan("JP", "81", Some(b'0'), (9, 10), b"123456789"),
    plan("SG", "65", None, (8, 8), b"3689"),
    plan("HK", "852", None, (8, 8), b"2356789"),
    plan("MX", "52", None, (10, 10), b"123456789"),
    plan("BR", "55", Some(b'0'), (10, 11), b"123456789"),
    plan("AE", "971", Some(b'0'), (8, 9), b"234679"),
];

fn region(iso: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.iso.eq_ignore_ascii_case(iso))
}

/// The region whose calling code starts `digits`; calling codes are prefix-free, so at most
/// one code matches.
fn region_by_calling_code(digits: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|r| digits.starts_with(r.calling_code))
}

/// Characters people use to group digits.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')' | '/' | '\t' | '\u{a0}' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// `Some(digits)` for 1–10 ASCII digits.
pub fn parse_extension(s: &str) -> Option<String> {
    (!s.is_empty() && s.len() <= MAX_EXTENSION_DIGITS && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_string())
}

/// Splits `raw` into the number and an extension written after a marker.
fn split_extension(raw: &str) -> Result<(&str, Option<String>), PhoneError> {
    let Some((at, _)) = raw.char_indices().find(|(_, c)| c.is_alphabetic() || matches!(c, '#' | ';' | ',')) else {
        return Ok((raw, None));
    };
    let (number, tail) = raw.split_at(at);
    let tail = tail.to_lowercase();
    const MARKERS: &[&str] = &[";ext=", "extension", "ext.", "ext", "x.", "x", "#", ","];
    let Some(rest) = MARKERS.iter().find_map(|m| tail.strip_prefix(m)) else {
        return Err(PhoneError::BadCharacters);
    };
    let digits = rest.trim_start_matches([' ', ':', '.', ',', '=', '#']).trim_end();
    parse_extension(digits).map(|e| (number, Some(e))).ok_or(PhoneError::BadExtension)
}

/// Checks a national significant number against its region.
fn valid_nsn(r: &Region, nsn: &str) -> bool {
    let b = nsn.as_bytes();
    if b.len() < r.min_len || b.len() > r.max_len || !b.first().is_some_and(|d| r.first_digits.contains(d)) {
        return false;
    }
    if r.nanp {
        // NPA-NXX-XXXX: area code N11 is a service code, exchanges start with 2-9.
        let service_area = b.get(1) == Some(&b'1') && b.get(2) == Some(&b'1');
        let exchange_ok = b.get(3).is_some_and(|d| (b'2'..=b'9').contains(d));
        return !service_area && exchange_ok;
    }
    true
}

fn finish(r: &Region, nsn: &str) -> Result<String, PhoneError> {
    let e164 = format!("+{}{nsn}", r.calling_code);
    if e164.len() - 1 > MAX_E164_DIGITS || !valid_nsn(r, nsn) {
        return Err(PhoneError::Invalid);
    }
    Ok(e164)
}

/// International digits (after `+`, `00` or `011`).
fn international(digits: &str, hint: Option<&str>) -> Result<Normalized, PhoneError> {
    if let Some(r) = region_by_calling_code(digits) {
        let mut nsn = &digits[r.calling_code.len()..];
        // "+44 (0)20 …": the national trunk digit written inside an international number.
        if r.trunk == Some(b'0') && nsn.starts_with('0') {
            nsn = &nsn[1..];
        }
        let e164 = finish(r, nsn)?;
        // The caller's region wins when it shares the calling code (+1: US or CA …).
        let reported = hint.and_then(region).filter(|h| h.calling_code == r.calling_code).unwrap_or(r);
        return Ok(Normalized { e164, region: Some(reported.iso.to_string()), extension: None });
    }
    let len = digits.len();
    if !(MIN_E164_DIGITS..=MAX_E164_DIGITS).contains(&len) || digits.starts_with('0') {
        return Err(PhoneError::Invalid);
    }
    Ok(Normalized { e164: format!("+{digits}"), region: hint.map(str::to_ascii_uppercase), extension: None })
}

/// Normalises `raw` to E.164. `region` (two letters) says how to read a number without `+`;
/// `None` means `US`.
pub fn normalize(raw: &str, region_hint: Option<&str>) -> Result<Normalized, PhoneError> {
    let (number, extension) = split_extension(raw.trim())?;
    let number = number.trim();
    let (plus, body) = match number.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let mut digits = String::with_capacity(body.len());
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !is_separator(c) {
            return Err(PhoneError::BadCharacters);
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Invalid);
    }
    let mut out = if plus {
        international(&digits, region_hint)?
    } else {
        let r = region(region_hint.unwrap_or("US")).ok_or(PhoneError::UnsupportedRegion)?;
        match digits.strip_prefix(r.international_prefix) {
            Some(rest) if !rest.is_empty() => international(rest, region_hint)?,
            _ => {
                let nsn = match r.trunk {
                    // NANP: "1 617 555 0142" carries the trunk 1 before ten digits.
                    Some(t) if r.nanp => match digits.strip_prefix(char::from(t)) {
                        Some(rest) if digits.len() == r.max_len + 1 => rest,
                        _ => digits.as_str(),
                    },
                    Some(t) => digits.strip_prefix(char::from(t)).unwrap_or(&digits),
                    None => digits.as_str(),
                };
                Normalized { e164: finish(r, nsn)?, region: Some(r.iso.to_string()), extension: None }
            }
        }
    };
    out.extension = extension;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e164(raw: &str, region: Option<&str>) -> String {
        normalize(raw, region).unwrap_or_else(|e| panic!("{raw:?} ({region:?}): {e:?}")).e164
    }

    #[test]
    fn us_spellings() {
        for raw in [
            "(617) 555-0142",
            "617-555-0142",
            "617.555.0142",
            "617 555 0142",
            "6175550142",
            "1 617 555 0142",
            "1-617-555-0142",
            "+1 (617) 555-0142",
            "+16175550142",
            "011 1 617 555 0142",
            " (617)\u{a0}555\u{2013}0142 ",
        ] {
            assert_eq!(e164(raw, None), "+16175550142", "{raw}");
        }
        let n = normalize("(617) 555-0142", None).unwrap();
        assert_eq!(n.region.as_deref(), Some("US"));
    }

    #[test]
    fn nanp_rules() {
        for bad in [
            "555-0142",
            "617-555-014",
            "617-555-01422",
            "(117) 555-0142",
            "(611) 555-0142",
            "(617) 155-0142",
            "2 617 555 0142",
        ] {
            assert_eq!(normalize(bad, None), Err(PhoneError::Invalid), "{bad}");
        }
        // Canada shares +1; the caller's region is kept.
        let n = normalize("+1 416 555 0199", Some("CA")).unwrap();
        assert_eq!((n.e164.as_str(), n.region.as_deref()), ("+14165550199", Some("CA")));
        let n = normalize("+1 416 555 0199", Some("GB")).unwrap();
        assert_eq!(n.region.as_deref(), Some("US"));
    }

    #[test]
    fn extensions() {
        for raw in [
            "617-555-0142 x12",
            "617-555-0142 ext. 12",
            "617-555-0142 Ext 12",
            "617-555-0142#12",
            "617-555-0142;ext=12",
            "617 555 0142, 12",
            "617-555-0142 extension: 12",
        ] {
            let n = normalize(raw, None).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
            assert_eq!((n.e164.as_str(), n.extension.as_deref()), ("+16175550142", Some("12")), "{raw}");
        }
        assert_eq!(normalize("617-555-0142 x", None), Err(PhoneError::BadExtension));
        assert_eq!(normalize("617-555-0142 x12345678901", None), Err(PhoneError::BadExtension));
        assert_eq!(normalize("1-800-FLOWERS", None), Err(PhoneError::BadCharacters));
        assert_eq!(normalize("call me", None), Err(PhoneError::BadCharacters));
    }

    #[test]
    fn international_regions() {
        let cases: &[(&str, Option<&str>, &str, &str)] = &[
            ("020 7946 0958", Some("GB"), "+442079460958", "GB"),
            ("+44 (0)20 7946 0958", None, "+442079460958", "GB"),
            ("0044 20 7946 0958", Some("DE"), "+442079460958", "GB"),
            ("07700 900123", Some("gb"), "+447700900123", "GB"),
            ("030 123456", Some("DE"), "+4930123456", "DE"),
            ("01 23 45 67 89", Some("FR"), "+33123456789", "FR"),
            ("612 345 678", Some("ES"), "+34612345678", "ES"),
            ("06 1234 5678", Some("IT"), "+390612345678", "IT"),
            ("+39 06 1234 5678", None, "+390612345678", "IT"),
            ("020 123 4567", Some("NL"), "+31201234567", "NL"),
            ("044 668 18 00", Some("CH"), "+41446681800", "CH"),
            ("(02) 9876 5432", Some("AU"), "+61298765432", "AU"),
            ("0412 345 678", Some("AU"), "+61412345678", "AU"),
            ("098765 43210", Some("IN"), "+919876543210", "IN"),
            ("03-1234-5678", Some("JP"), "+81312345678", "JP"),
            ("6123 4567", Some("SG"), "+6561234567", "SG"),
            ("2123 4567", Some("HK"), "+85221234567", "HK"),
            ("55 1234 5678", Some("MX"), "+525512345678", "MX"),
            ("(11) 91234-5678", Some("BR"), "+5511912345678", "BR"),
            ("01 234 5678", Some("IE"), "+35312345678", "IE"),
            ("04 123 4567", Some("AE"), "+97141234567", "AE"),
        ];
        for (raw, region, expected, iso) in cases {
            let n = normalize(raw, *region).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
            assert_eq!((n.e164.as_str(), n.region.as_deref()), (*expected, Some(*iso)), "{raw}");
        }
    }

    #[test]
    fn other_codes_follow_the_general_rules() {
        let n = normalize("+7 495 123-45-67", None).unwrap();
        assert_eq!((n.e164.as_str(), n.region), ("+74951234567", None));
        let n = normalize("+7 495 123-45-67", Some("ru")).unwrap();
        assert_eq!(n.region.as_deref(), Some("RU"));
        assert_eq!(normalize("+0 123 4567", None), Err(PhoneError::Invalid));
        assert_eq!(normalize("+7 12", None), Err(PhoneError::Invalid));
        assert_eq!(normalize("+7 1234 5678 9012 3456", None), Err(PhoneError::Invalid));
        assert_eq!(normalize("495 123 4567", Some("RU")), Err(PhoneError::UnsupportedRegion));
    }

    #[test]
    fn region_rules_reject() {
        for (raw, region) in [
            ("020 7946 09", "GB"),
            ("+44 20 7946 09581", "GB"),
            ("+44 4 1234 5678", "GB"),
            ("512 345 678", "ES"),
            ("0412 345 67", "AU"),
            ("+61 5 1234 5678", "AU"),
            ("1234 5678", "SG"),
            ("+", "US"),
            ("", "US"),
            ("++1 617 555 0142", "US"),
            ("617+555+0142", "US"),
        ] {
            assert!(normalize(raw, Some(region)).is_err(), "{raw} ({region})");
        }
    }

    fn nanp_number() -> impl Strategy<Value = (String, String, String)> {
        (
            (2u8..=9, 0u8..=9, 0u8..=9)
                .prop_filter("N11 area codes are service codes", |(_, b, c)| !(*b == 1 && *c == 1)),
            (2u8..=9, 0u8..=9, 0u8..=9),
            0u16..=9999,
        )
            .prop_map(|((a, b, c), (d, e, f), line)| (format!("{a}{b}{c}"), format!("{d}{e}{f}"), format!("{line:04}")))
    }

    proptest! {
        #[test]
        fn every_us_spelling_gives_one_e164((area, exchange, line) in nanp_number(), style in 0usize..7) {
            let raw = match style {
                0 => format!("({area}) {exchange}-{line}"),
                1 => format!("{area}-{exchange}-{line}"),
                2 => format!("{area}.{exchange}.{line}"),
                3 => format!("{area}{exchange}{line}"),
                4 => format!("1 {area} {exchange} {line}"),
                5 => format!("+1 ({area}) {exchange}-{line}"),
                _ => format!("+1{area}{exchange}{line}"),
            };
            let n = normalize(&raw, None).unwrap();
            prop_assert_eq!(n.e164, format!("+1{area}{exchange}{line}"));
        }

        #[test]
        fn output_is_canonical_and_stable(raw in "[+]?[0-9 ()./-]{0,24}", region in prop::sample::select(vec!["US", "GB", "DE", "FR", "AU", "JP", "IT", "ZZ"])) {
            if let Ok(n) = normalize(&raw, Some(region)) {
                let digits = &n.e164[1..];
                prop_assert!(n.e164.starts_with('+'));
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!((MIN_E164_DIGITS..=MAX_E164_DIGITS).contains(&digits.len()), "{}", n.e164);
                prop_assert!(!digits.starts_with('0'));
                // Normalising the output again changes nothing.
                let again = normalize(&n.e164, n.region.as_deref()).unwrap();
                prop_assert_eq!(&again.e164, &n.e164);
                prop_assert_eq!(again.region, n.region);
            }
        }

        #[test]
        fn never_panics(raw in any::<String>(), region in "[A-Za-z]{2}") {
            let _ = normalize(&raw, Some(&region));
        }
    }
}
