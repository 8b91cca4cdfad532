//! Every `docs/<page>.md#<anchor>` cited in the code, the README or the docs themselves names a
//! page of `docs/` and an anchor (`<a id="…">`) on it, so a citation never dangles.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "md") && !path.ends_with(file!()) {
            out.push(path);
        }
    }
}

/// `docs/api.md#idempotency` → ("api.md", Some("idempotency")).
fn citations(text: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("docs/") {
        rest = &rest[i + "docs/".len()..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || "-_.#/".contains(c))).unwrap_or(rest.len());
        let cite = rest[..end].trim_end_matches('.');
        let (page, anchor) = match cite.split_once('#') {
            Some((p, a)) => (p, Some(a.to_string())),
            None => (cite, None),
        };
        if page.ends_with(".md") {
            found.push((page.to_string(), anchor));
        }
    }
    found
}

fn anchors(page: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let mut rest = page;
    while let Some(i) = rest.find("<a id=\"") {
        rest = &rest[i + "<a id=\"".len()..];
        set.insert(rest[..rest.find('"').unwrap()].to_string());
    }
    set
}

#[test]
fn citations_read_anchors() {
    assert_eq!(
        citations("see `docs/api.md#idempotency`. And docs/auth.md, (docs/x.md#a-b)"),
        vec![
            ("api.md".into(), Some("idempotency".into())),
            ("auth.md".into(), None),
            ("x.md".into(), Some("a-b".into()))
        ]
    );
    assert_eq!(anchors("<a id=\"one\"></a>\n## One\n<a id=\"two\"></a>"), ["one", "two"].map(String::from).into());
}

#[test]
fn every_docs_citation_names_an_existing_page_and_anchor() {
    let root = repo_root();
    let docs = root.join("docs");
    let pages: BTreeMap<String, BTreeSet<String>> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            (p.file_name().unwrap().to_string_lossy().into_owned(), anchors(&std::fs::read_to_string(&p).unwrap()))
        })
        .collect();
    let mut sources = vec![root.join("README.md")];
    files(&root.join("crates"), &mut sources);
    files(&docs, &mut sources);
    let mut checked = 0;
    let mut dangling = Vec::new();
    for source in sources {
        let text = std::fs::read_to_string(&source).unwrap();
        let in_docs = source.starts_with(&docs);
        for (page, anchor) in citations(&text) {
            checked += 1;
            match (pages.get(&page), anchor) {
                (None, _) => dangling.push(format!("{}: docs/{page}", source.display())),
                (Some(a), Some(anchor)) if !a.contains(&anchor) => {
                    dangling.push(format!("{}: docs/{page}#{anchor}", source.display()))
                }
                _ => {}
            }
        }
        // Links between the docs pages themselves: `(api.md#deletes)`.
        if in_docs {
            for (page, anchor) in citations(&text.replace("](", "](docs/")) {
                if let (Some(a), Some(anchor)) = (pages.get(&page), anchor)
                    && !a.contains(&anchor)
                {
                    dangling.push(format!("{}: {page}#{anchor}", source.display()));
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} citations found");
    assert!(dangling.is_empty(), "citations without a target:\n{}", dangling.join("\n"));
}
