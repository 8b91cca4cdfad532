//! Lists and single reads written from typed records: `fields=` keeps `id` (and what a
//! resource always keeps) plus the named members, in the record's own order and with the
//! record's own values; `include=` still embeds; a record read alone reads as its list item.
//! Run on the demo data set, which has every kind of record.

use serde_json::{Value, json};

use crate::common::*;

/// The demo server and its printed API key (the brokerage account).
async fn demo() -> (TestApp, String) {
    let app = spawn_with(Options { demo: true, ..Options::default() }).await;
    let key = app.demo().expect("demo data seeded").api_key.clone();
    (app, key)
}

/// The member names of an object, in order.
fn names(v: &Value) -> Vec<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

/// `full` with only the members `keep` names, in `full`'s order.
fn only(full: &Value, keep: &[&str]) -> Value {
    let m = full.as_object().unwrap_or_else(|| panic!("not an object: {full}"));
    Value::Object(m.iter().filter(|(k, _)| keep.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn data(body: &Value) -> Vec<Value> {
    body["data"].as_array().unwrap_or_else(|| panic!("no data array: {body}")).clone()
}

fn join(path: &str, query: &str) -> String {
    if path.contains('?') { format!("{path}&{query}") } else { format!("{path}?{query}") }
}

/// Every item of `path` with `fields=` is the same item of the full list cut down to `kept`
/// (`id` and whatever the resource always keeps) and `named`, member order included.
async fn check_list_fields(app: &TestApp, key: &str, path: &str, named: &[&str], kept: &[&str]) {
    let full = data(&ok(app.get(path, key)).await);
    assert!(!full.is_empty(), "{path}: the demo data has none");
    let shaped = data(&ok(app.get(&join(path, &format!("fields={}", named.join(","))), key)).await);
    assert_eq!(shaped.len(), full.len(), "{path}");
    let keep: Vec<&str> = kept.iter().chain(named).copied().collect();
    for (s, f) in shaped.iter().zip(&full) {
        assert_eq!(s, &only(f, &keep), "{path}");
        assert_eq!(names(s), names(&only(f, &keep)), "{path}: member order");
        assert!(names(s).len() == keep.len(), "{path}: {s}");
    }
}

#[tokio::test]
async fn fields_keep_the_id_and_the_named_members_on_every_list_and_read() {
    let (app, key) = demo().await;
    let deals = data(&ok(app.get("/deals?limit=100", &key)).await);
    let deal = deals[0]["id"].as_i64().unwrap();

    check_list_fields(&app, &key, "/deals?limit=100", &["loan_amount", "title"], &["id"]).await;
    check_list_fields(&app, &key, "/contacts?limit=50", &["email", "first_name"], &["id"]).await;
    check_list_fields(&app, &key, "/companies?limit=50", &["name", "city"], &["id"]).await;
    check_list_fields(&app, &key, "/placements?limit=50", &["status", "lender_name"], &["id"]).await;
    check_list_fields(&app, &key, "/lenders/directory?limit=20", &["name", "state"], &["id"]).await;
    check_list_fields(&app, &key, &format!("/deals/{deal}/documents"), &["file_name", "extension"], &["id", "vault"])
        .await;

    // `fields=id` alone: the id and nothing else.
    for path in ["/deals", "/contacts", "/companies", "/placements", "/lenders/directory?limit=5"] {
        for item in data(&ok(app.get(&join(path, "fields=id"), &key)).await) {
            assert_eq!(names(&item), ["id"], "{path}");
        }
    }

    // Single reads: a deal and a document.
    let full = ok(app.get(&format!("/deals/{deal}"), &key)).await["data"].clone();
    let slim = ok(app.get(&format!("/deals/{deal}?fields=title,loan_amount"), &key)).await["data"].clone();
    assert_eq!(slim, only(&full, &["id", "title", "loan_amount"]));
    assert_eq!(names(&slim), names(&only(&full, &["id", "title", "loan_amount"])));
    let docs = data(&ok(app.get(&format!("/deals/{deal}/documents"), &key)).await);
    let doc = docs[0]["id"].as_i64().unwrap();
    let full = ok(app.get(&format!("/deals/{deal}/documents/{doc}"), &key)).await["data"].clone();
    let slim = ok(app.get(&format!("/deals/{deal}/documents/{doc}?fields=extension"), &key)).await["data"].clone();
    assert_eq!(slim, only(&full, &["id", "vault", "extension"]));
    app.stop().await;
}

#[tokio::test]
async fn include_embeds_after_the_selected_members_on_the_list_and_the_read() {
    let (app, key) = demo().await;
    let all = "include=financials,properties,team,pipelines";
    let listed = data(&ok(app.get(&format!("/deals?limit=100&fields=title&{all}"), &key)).await);
    assert!(!listed.is_empty());
    let mut with_properties = 0;
    for item in &listed {
        let id = item["id"].as_i64().unwrap();
        assert_eq!(names(item), ["id", "title", "financials", "properties", "team", "pipelines"], "{item}");
        // The read of one deal embeds the same.
        let one = ok(app.get(&format!("/deals/{id}?fields=title&{all}"), &key)).await["data"].clone();
        assert_eq!(&one, item);
        // Embedded rows are the sub-resources' own rows.
        let properties = data(&ok(app.get(&format!("/deals/{id}/properties?limit=100"), &key)).await);
        assert_eq!(item["properties"], Value::Array(properties.clone()), "deal {id}");
        with_properties += usize::from(!properties.is_empty());
        let team = data(&ok(app.get(&format!("/deals/{id}/team?limit=100"), &key)).await);
        assert_eq!(item["team"], Value::Array(team), "deal {id}");
        // The embedded financials are members of the full record, `id` first.
        let fin = ok(app.get(&format!("/deals/{id}/financials"), &key)).await["data"].clone();
        let embedded = &item["financials"];
        assert_eq!(names(embedded).first().map(String::as_str), Some("id"), "{embedded}");
        assert_eq!(names(embedded).last().map(String::as_str), Some("updated_at"), "{embedded}");
        for (k, v) in embedded.as_object().unwrap() {
            assert_eq!(&fin[k], v, "deal {id} financials.{k}");
        }
        assert!(item["pipelines"].as_array().is_some_and(|p| p.len() <= 10), "{item}");
    }
    assert!(with_properties > 0, "the demo deals have properties");
    // Without `fields=`, the members embedded follow the whole record.
    let whole = ok(app.get(&format!("/deals/{}?include=team", listed[0]["id"]), &key)).await["data"].clone();
    let plain = ok(app.get(&format!("/deals/{}", listed[0]["id"]), &key)).await["data"].clone();
    let mut expected = names(&plain);
    expected.push("team".into());
    assert_eq!(names(&whole), expected);
    app.stop().await;
}

/// `path`'s list items and the read of each (`read(id)`) are the same record.
async fn check_reads(app: &TestApp, key: &str, path: &str, read: impl Fn(&Value) -> String) -> usize {
    let items = data(&ok(app.get(path, key)).await);
    for item in &items {
        let one = ok(app.get(&read(item), key)).await["data"].clone();
        assert_eq!(&one, item, "{path}");
        assert_eq!(names(&one), names(item), "{path}: member order");
    }
    items.len()
}

#[tokio::test]
async fn a_record_read_alone_reads_as_its_list_item() {
    let (app, key) = demo().await;
    let deals = data(&ok(app.get("/deals?limit=100", &key)).await);
    assert!(check_reads(&app, &key, "/deals?limit=100", |d| format!("/deals/{}", d["id"])).await > 0);
    assert!(check_reads(&app, &key, "/placements?limit=100", |p| format!("/placements/{}", p["id"])).await > 0);
    assert!(check_reads(&app, &key, "/contacts?limit=100", |c| format!("/contacts/{}", c["id"])).await > 0);
    assert!(check_reads(&app, &key, "/companies?limit=100", |c| format!("/companies/{}", c["id"])).await > 0);
    assert!(check_reads(&app, &key, "/pipelines?limit=100", |p| format!("/pipelines/{}", p["id"])).await > 0);
    let (mut term_sheets, mut documents, mut memos) = (0, 0, 0);
    for d in &deals {
        let deal = d["id"].as_i64().unwrap();
        term_sheets += check_reads(&app, &key, &format!("/deals/{deal}/term-sheets?limit=100"), |t| {
            format!("/deals/{deal}/term-sheets/{}", t["id"])
        })
        .await;
        documents += check_reads(&app, &key, &format!("/deals/{deal}/documents?limit=100"), |x| {
            format!("/deals/{deal}/documents/{}", x["id"])
        })
        .await;
        // A memo read adds its PDF links to the members of the list item.
        for memo in data(&ok(app.get(&format!("/deals/{deal}/memos"), &key)).await) {
            let uuid = memo["uuid"].as_str().unwrap();
            let one = ok(app.get(&format!("/deals/{deal}/memos/{uuid}"), &key)).await["data"].clone();
            assert_eq!(only(&one, &names(&memo).iter().map(String::as_str).collect::<Vec<_>>()), memo);
            assert_eq!(names(&one)[..names(&memo).len()], names(&memo)[..]);
            memos += 1;
        }
    }
    assert!(term_sheets > 0 && documents > 0 && memos > 0, "{term_sheets} {documents} {memos}");

    // A note answers its create as it is listed.
    let deal = deals[0]["id"].as_i64().unwrap();
    let created = expect(app.post_json(&format!("/deals/{deal}/notes"), &key, &json!({"text": "typed"})), 201).await;
    let listed = data(&ok(app.get(&format!("/deals/{deal}/notes?limit=100"), &key)).await);
    let note = listed.iter().find(|n| n["id"] == created["data"]["id"]).expect("the new note is listed");
    assert_eq!(note, &created["data"]);
    assert_eq!(names(note), ["id", "text", "created_by", "created_at", "updated_at"]);
    assert_eq!(names(&note["created_by"]), ["id", "name"]);
    app.stop().await;
}
