//! Wire format of time: UTC RFC 3339 with whole seconds and `Z`, and `YYYY-MM-DD` dates.
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};

/// Now, in whole seconds since the Unix epoch (token lifetimes, key ages, windows).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Now, formatted for the wire and for storage (`2026-06-02T09:14:07Z`).
pub fn now_rfc3339() -> String {
    // Every response carries a timestamp with whole seconds: format each second once per
    // thread instead of once per response.
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = OffsetDateTime::now_utc();
    let second = now.unix_timestamp();
    LAST.with(|cell| {
        let mut last = cell.borrow_mut();
        if last.0 != second {
            *last = (second, format_timestamp(now));
        }
        last.1.clone()
    })
}

/// The wire form of the instant `ago` before now.
pub fn rfc3339_before_now(ago: std::time::Duration) -> String {
    format_timestamp(OffsetDateTime::now_utc() - ago)
}

pub fn format_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&fmt).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// Parses an RFC 3339 date-time (any offset) into the stored UTC form.
pub fn parse_timestamp(s: &str) -> Option<String> {
    OffsetDateTime::parse(s, &Rfc3339).ok().map(format_timestamp)
}

/// Parses a calendar date `YYYY-MM-DD`; also accepts an RFC 3339 date-time and keeps its date.
pub fn parse_date(s: &str) -> Option<String> {
    let fmt = format_description!("[year]-[month]-[day]");
    if let Ok(d) = Date::parse(s, &fmt) {
        return d.format(&fmt).ok();
    }
    OffsetDateTime::parse(s, &Rfc3339).ok().and_then(|t| t.date().format(&fmt).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_normalise_to_utc() {
        assert_eq!(parse_timestamp("2026-06-02T11:14:07.5+02:00").as_deref(), Some("2026-06-02T09:14:07Z"));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_date("2026-09-30").as_deref(), Some("2026-09-30"));
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("2026-09-30T10:00:00Z").as_deref(), Some("2026-09-30"));
        assert_eq!(now_rfc3339().len(), 20);
    }
}
