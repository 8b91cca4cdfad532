//! CSV (RFC 4180) load files as rows keyed by their header.

use serde_json::{Map, Value};

use super::{LoadError, cut};

/// Splits CSV text into records, each with the line it starts on. Fields are separated by
/// commas; a field in double quotes may hold commas, line breaks and `""` for a quote.
/// Lines that are entirely empty are skipped; a leading byte-order mark is ignored.
///
/// The `csv` crate reads the records. It takes stray or unclosed quotes as text, where a load
/// file with them is almost always broken (an unclosed quote swallows every row after it), so
/// each record is also checked to be written the way its fields were read.
pub fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records = Vec::new();
    let mut record = csv::StringRecord::new();
    // Line breaks are counted up to `counted`, always the first byte of a record (never the
    // middle of a `\r\n`); `line` is the line that byte is on.
    let (mut line, mut counted) = (1usize, 0usize);
    loop {
        if !reader.read_record(&mut record).map_err(|e| format!("line {line}: {e}"))? {
            break;
        }
        let end = usize::try_from(reader.position().byte()).unwrap_or(text.len()).min(text.len());
        let start = record.position().map_or(counted, |p| usize::try_from(p.byte()).unwrap_or(counted));
        // A record's span starts with the line breaks skipped before it.
        let raw = text.get(start.min(end)..end).unwrap_or_default();
        let body = raw.trim_start_matches(['\r', '\n']);
        let body_start = end - body.len();
        line += line_breaks(text.get(counted..body_start).unwrap_or_default());
        counted = body_start;
        check_written_as_read(body.trim_end_matches(['\r', '\n']), &record)
            .map_err(|problem| format!("line {line}: {problem}"))?;
        if !(record.len() == 1 && record.get(0).is_some_and(str::is_empty)) {
            records.push((line, record.iter().map(str::to_string).collect()));
        }
    }
    Ok(records)
}

/// Line breaks in `text`: `\r\n`, `\n` and a lone `\r` each count once.
fn line_breaks(text: &str) -> usize {
    text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count()
}

/// Whether `raw`, one record as written, is its fields as read: each field plain (no quote in
/// it) or entirely in quotes with inner quotes doubled, separated by commas.
fn check_written_as_read(raw: &str, record: &csv::StringRecord) -> Result<(), &'static str> {
    let mut rest = raw;
    for (i, value) in record.iter().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(',').ok_or("text after a closing quote")?;
        }
        if rest.starts_with('"') {
            let written = format!("\"{}\"", value.replace('"', "\"\""));
            rest = match rest.strip_prefix(written.as_str()) {
                Some(after) => after,
                None if rest.len() < written.len() => return Err("quoted field is not closed"),
                None => return Err("text after a closing quote"),
            };
        } else if value.contains('"') {
            return Err("unexpected quote inside an unquoted field");
        } else {
            rest = rest.strip_prefix(value).ok_or("unexpected quote inside an unquoted field")?;
        }
    }
    if rest.is_empty() { Ok(()) } else { Err("text after a closing quote") }
}

/// CSV data rows as objects keyed by the header, each with the line it starts on.
type CsvRows = Vec<(usize, Map<String, Value>)>;

/// CSV rows as objects keyed by the header, each with its line. Unknown columns are refused
/// (a misspelt column would otherwise be silently dropped); empty cells are `null`.
pub(super) fn csv_records(
    text: &str,
    what: &str,
    columns: &[&str],
    required: &[&str],
    max_rows: usize,
) -> Result<CsvRows, LoadError> {
    let mut rows = parse_csv(text).map_err(|e| LoadError::one(format!("{what} file: {e}")))?.into_iter();
    let Some((_, header)) = rows.next() else {
        return Err(LoadError::one(format!("{what} file is empty: a header row is required")));
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let mut errors = LoadError::default();
    for (i, h) in header.iter().enumerate() {
        if !columns.contains(&h.as_str()) {
            errors.add(format!("{what} file: unknown column '{}'; allowed: {}", cut(h), columns.join(", ")));
        } else if header[..i].contains(h) {
            errors.add(format!("{what} file: column '{h}' appears more than once"));
        }
    }
    for r in required {
        if !header.iter().any(|h| h == r) {
            errors.add(format!("{what} file: required column '{r}' is missing"));
        }
    }
    if errors.total > 0 {
        return Err(errors);
    }
    let mut out = Vec::new();
    for (line, cells) in rows {
        if out.len() >= max_rows {
            return Err(LoadError::one(format!("{what} file: too many rows (at most {max_rows})")));
        }
        if cells.len() != header.len() {
            errors.add(format!("{what} line {line}: {} cells, but the header has {}", cells.len(), header.len()));
            continue;
        }
        let obj: Map<String, Value> = header
            .iter()
            .zip(cells)
            .map(|(h, c)| (h.clone(), if c.trim().is_empty() { Value::Null } else { Value::String(c) }))
            .collect();
        out.push((line, obj));
    }
    errors.into_result(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn csv_reader_handles_quotes_and_line_breaks() {
        let text = "\u{feff}a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n\n2,\"multi\nline\",\n";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], (2, vec!["1".into(), "x, y".into(), "say \"hi\"".into()]));
        assert_eq!(rows[2], (4, vec!["2".into(), "multi\nline".into(), String::new()]));
        assert!(parse_csv("a,\"b").is_err());
        assert!(parse_csv("a,b\"c").is_err());
        assert!(parse_csv("\"a\"b,c").is_err());
    }
    #[test]
    fn csv_lines_and_quote_problems_are_reported_as_before() {
        let rows = parse_csv("h\r\n\r\na\rb\n\"two\nlines\"\n\"\"\nlast").unwrap();
        let lines: Vec<usize> = rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [1, 3, 4, 5, 8]);
        assert_eq!(rows[3].1, ["two\nlines"]);
        assert_eq!(parse_csv("a,b\n1,\"x\n2,y\n").unwrap_err(), "line 2: quoted field is not closed");
        assert_eq!(parse_csv("a\n\nb\"c\n").unwrap_err(), "line 3: unexpected quote inside an unquoted field");
        assert_eq!(parse_csv("a,b\r\n\"x\"y,z\r\n").unwrap_err(), "line 2: text after a closing quote");
        assert_eq!(parse_csv("\"a\",\"b\"\"c\"\n").unwrap(), [(1, vec!["a".to_string(), "b\"c".to_string()])]);
        assert!(parse_csv("").unwrap().is_empty());
    }
}
