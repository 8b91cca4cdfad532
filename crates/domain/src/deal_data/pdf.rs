//! A small PDF writer for memos: one standard font, WinAnsi text, word-wrapped Letter pages.
//! Written here rather than taken from a PDF crate: the crates that write PDF bring dozens of
//! dependencies (encryption, compression, image and font code) for what is a hundred lines of
//! plain objects and a cross-reference table.

const PDF_PAGE_W: u32 = 612;
const PDF_PAGE_H: u32 = 792;
const PDF_MARGIN: u32 = 54;
const PDF_LEADING: u32 = 14;
const PDF_WRAP: usize = 92;
const PDF_MAX_PAGES: usize = 40;

/// A character in the PDF's WinAnsi text encoding (what the standard Helvetica font uses);
/// characters it lacks become `?`.
fn win_ansi(c: char) -> u8 {
    match c {
        '\t' => b' ',
        ' '..='~' => c as u8,
        '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
        '\u{2014}' => 0x97,
        '\u{2013}' => 0x96,
        '\u{2018}' => 0x91,
        '\u{2019}' => 0x92,
        '\u{201c}' => 0x93,
        '\u{201d}' => 0x94,
        '\u{2022}' => 0x95,
        '\u{2026}' => 0x85,
        '\u{20ac}' => 0x80,
        _ => b'?',
    }
}

/// A PDF string literal: parentheses and backslashes escaped, bytes outside ASCII in octal.
fn pdf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('(');
    for c in text.chars() {
        let b = win_ansi(c);
        match b {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push(')');
    out
}

/// Word-wraps a paragraph to at most `width` characters per line (long words are cut).
fn wrap(paragraph: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in paragraph.split_whitespace() {
        let mut word: String = word.to_string();
        while word.chars().count() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
        }
        let needed =
            if line.is_empty() { word.chars().count() } else { line.chars().count() + 1 + word.chars().count() };
        if needed > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A small, valid PDF 1.4 document of the memo: the title in bold, a subtitle line, then the
/// text, word-wrapped over as many Letter pages as it needs (at most 40). Standard fonts only,
/// so nothing is embedded.
pub fn render_memo_pdf(title: &str, subtitle: &str, body: &str) -> Vec<u8> {
    // (font, size, text) per line; the title and subtitle open the first page.
    let mut lines: Vec<(&str, u32, String)> = Vec::new();
    for l in wrap(title, 60) {
        lines.push(("F2", 16, l));
    }
    lines.push(("F1", 9, subtitle.to_string()));
    lines.push(("F1", 10, String::new()));
    for paragraph in body.lines() {
        for l in wrap(paragraph, PDF_WRAP) {
            lines.push(("F1", 10, l));
        }
    }
    let per_page = ((PDF_PAGE_H - 2 * PDF_MARGIN) / PDF_LEADING) as usize;
    let pages: Vec<&[(&str, u32, String)]> = lines.chunks(per_page).take(PDF_MAX_PAGES).collect();

    // Objects: 1 catalog, 2 page tree, 3 Helvetica, 4 Helvetica-Bold, then a page and its
    // content stream for each page.
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let kids: Vec<String> = (0..pages.len()).map(|i| format!("{} 0 R", 5 + 2 * i)).collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), pages.len()).into_bytes());
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec());
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_vec());
    for (i, page) in pages.iter().enumerate() {
        let mut content = format!("BT\n{} TL\n{} {} Td\n", PDF_LEADING, PDF_MARGIN, PDF_PAGE_H - PDF_MARGIN);
        for (font, size, text) in page.iter() {
            content.push_str(&format!("/{font} {size} Tf\n{} Tj\nT*\n", pdf_string(text)));
        }
        content.push_str("ET\n");
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PDF_PAGE_W} {PDF_PAGE_H}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                6 + 2 * i
            )
            .into_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(content.as_bytes());
        stream.extend_from_slice(b"endstream");
        objects.push(stream);
    }

    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref_at = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_is_well_formed() {
        let body = "Sponsor: Harbor (Point) LLC \\ café — “quoted” €\n\n".repeat(200);
        let pdf = render_memo_pdf("Harbor Point — Financing Memorandum", "Published 2026-05-20", &body);
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let find = |needle: &[u8], from: usize| -> usize {
            from + pdf[from..].windows(needle.len()).position(|w| w == needle).unwrap()
        };
        let line_at = |at: usize| -> String {
            let end = find(b"\n", at);
            String::from_utf8(pdf[at..end].to_vec()).unwrap()
        };
        // Every xref entry points at the start of its object.
        let sx = find(b"startxref\n", 0) + 10;
        let xref_at: usize = line_at(sx).parse().unwrap();
        assert_eq!(&pdf[xref_at..xref_at + 5], b"xref\n");
        let count: usize = line_at(xref_at + 5).split(' ').nth(1).unwrap().parse().unwrap();
        assert!(count >= 7, "{count}");
        let first_entry = find(b"65535 f \n", xref_at) + 9;
        for i in 1..count {
            let entry = &pdf[first_entry + (i - 1) * 20..first_entry + i * 20];
            assert!(entry.ends_with(b" 00000 n \n"), "{:?}", String::from_utf8_lossy(entry));
            let off: usize = std::str::from_utf8(&entry[..10]).unwrap().parse().unwrap();
            assert!(pdf[off..].starts_with(format!("{i} 0 obj").as_bytes()), "object {i}");
        }
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Count "));
        assert!(text.contains("\\(Point\\)"));
        assert!(text.contains("caf\\351"));
        // Stream lengths are exact.
        let first = find(b"/Length ", 0);
        let len: usize = line_at(first + 8).split(' ').next().unwrap().parse().unwrap();
        let start = find(b"stream\n", first) + 7;
        assert_eq!(&pdf[start + len..start + len + 9], b"endstream");
    }

    #[test]
    fn wrap_respects_width() {
        let lines = wrap(&"abc ".repeat(50), 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20));
        assert_eq!(wrap(&"x".repeat(45), 20).len(), 3);
        assert_eq!(wrap("", 20), [""]);
    }
}
