//! Deal data: vaults, documents and signed download links, checklists and tasks (with notes),
//! memos and their PDFs, and the deal index (search, observations, facts, metrics, entities).
//! Fixtures that the API cannot create (files, memos, extracted values, sections) are made
//! with `levd admin document add` and directly in the store.
use std::path::PathBuf;

use levd::admin_documents::{Command as DocumentCommand, execute as document_admin};
use levd_domain::deal_data::{
    ENTITY_DEAL, ENTITY_PROPERTY, FileTarget, LinkSecret, NewMemo, NewObservation, SOURCE_DOCUMENT, sign_file_link,
};
use levd_domain::scope::{KeyPermission, Role, Tier};
use levd_store::DealPropertyRow;
use serde_json::{Value, json};

use crate::common::*;

/// A tenant with one deal.
struct Room {
    app: TestApp,
    t: Tenant,
    deal: i64,
}

async fn room(slug: &str) -> Room {
    let app = spawn().await;
    let t = app.tenant(slug).await;
    let d = app.create_deal(&t.key, json!({"title": "Harbor Point Acquisition", "loan_amount": 9_000_000})).await;
    let deal = d["id"].as_i64().unwrap();
    Room { app, t, deal }
}

fn data_dir(app: &TestApp) -> PathBuf {
    app._dir.path().join("data")
}

/// Adds a file to a deal the way an operator does, returning the command's JSON.
async fn add_doc(
    app: &TestApp,
    deal: i64,
    vault: Option<&str>,
    folder: Option<&str>,
    name: &str,
    bytes: &[u8],
) -> Value {
    let src = app._dir.path().join("uploads").join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&src).unwrap();
    let file = src.join("upload.bin");
    std::fs::write(&file, bytes).unwrap();
    document_admin(
        &app.store,
        DocumentCommand::Add {
            deal,
            file,
            vault: vault.map(str::to_string),
            folder: folder.map(str::to_string),
            name: Some(name.to_string()),
            data_dir: data_dir(app),
        },
    )
    .await
    .unwrap()
}

async fn get(app: &TestApp, path: &str, key: &str) -> (u16, Value) {
    parts(app.get(path, key).send().await.unwrap()).await
}

async fn post(app: &TestApp, path: &str, key: &str, body: Value) -> (u16, Value) {
    parts(app.post_json(path, key, &body).send().await.unwrap()).await
}

async fn patch(app: &TestApp, path: &str, key: &str, body: Value) -> (u16, Value) {
    parts(app.patch_json(path, key, &body).send().await.unwrap()).await
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// The members of an observation or a fact: those both carry (the value, its metric and what it
/// is about) and `own`, sorted.
fn value_keys(own: &[&str]) -> Vec<String> {
    let both = ["category_id", "entity_id", "entity_ref", "entity_type", "group_ref", "id", "metric_id", "metric_key"];
    let value = ["period_type", "period_value", "value_text", "value_type", "weight"];
    let mut k: Vec<String> = both.iter().chain(&value).chain(own).map(|s| s.to_string()).collect();
    k.sort();
    k
}

/// A property on the deal (the API has no endpoint for it), returning its id.
async fn add_property(app: &TestApp, deal: i64, name: &str) -> i64 {
    app.store
        .insert_property(
            deal,
            &DealPropertyRow { asset_type_id: None, square_footage: None, ..property_row(deal, name) },
        )
        .await
        .unwrap()
}

#[allow(clippy::too_many_arguments)]
fn extracted(
    metric_id: i64,
    entity: Option<(&str, i64)>,
    value: &str,
    context: &str,
    confidence: f64,
    weight: i64,
    doc: i64,
) -> NewObservation {
    let (entity_type, entity_id, entity_ref) = match entity {
        Some((t, id)) => (t.to_string(), id, Some(format!("{t}:{id}"))),
        None => (ENTITY_DEAL.to_string(), 0, None),
    };
    // A value read from pages 1 and 2 of `doc`, as the extraction pipeline records one.
    NewObservation {
        source_type: SOURCE_DOCUMENT,
        document_id: Some(doc),
        pages: vec![1, 2],
        created_by_user_id: None,
        metric_id,
        value_text: value.into(),
        original_text: Some(value.into()),
        context: Some(context.into()),
        confidence: Some(confidence),
        weight,
        entity_type: Some(entity_type),
        entity_id: Some(entity_id),
        entity_ref,
        group_ref: None,
        summary: None,
        period_type: None,
        period_value: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Vaults and documents
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_deal_has_resources_and_a_default_deal_room() {
    let r = room("vaults").await;
    let (app, key) = (&r.app, &r.t.key);
    let (s, body) = get(app, &format!("/deals/{}/vaults", r.deal), key).await;
    assert_eq!(s, 200, "{body}");
    let v = body["data"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(keys(&v[0]), ["document_count", "id", "is_default", "title", "type"]);
    assert_eq!((v[0]["type"].as_str(), v[0]["is_default"].as_bool()), (Some("resources"), Some(false)));
    assert_eq!((v[1]["type"].as_str(), v[1]["is_default"].as_bool()), (Some("shared"), Some(true)));
    assert_eq!(v[1]["title"], "Deal Room");
    assert_eq!(body["pagination"]["total"], 2);
    // Asking again creates nothing more.
    let (_, again) = get(app, &format!("/deals/{}/vaults", r.deal), key).await;
    assert_eq!(ids(&again), ids(&body));

    add_doc(app, r.deal, Some("deal room"), None, "a.pdf", b"%PDF-1.4 a").await;
    let closing = add_doc(app, r.deal, Some("Closing"), None, "b.pdf", b"%PDF-1.4 b").await;
    assert_eq!(closing["vault_created"], true);
    assert_eq!(closing["vault"]["type"], "shared");
    let (_, body) = get(app, &format!("/deals/{}/vaults", r.deal), key).await;
    let counts: Vec<(String, i64)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["title"].as_str().unwrap().to_string(), v["document_count"].as_i64().unwrap()))
        .collect();
    assert_eq!(counts, [("Deal Resources".into(), 0), ("Deal Room".into(), 1), ("Closing".into(), 1)]);
    // The new Deal Room got its own checklist.
    let (_, lists) = get(app, &format!("/deals/{}/checklists", r.deal), key).await;
    assert_eq!(lists["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn documents_list_filter_page_and_select_fields() {
    let r = room("docs").await;
    let (app, key, deal) = (&r.app, &r.t.key, r.deal);
    let rent = add_doc(app, deal, Some("Deal Room"), Some("Financials/2026"), "Rent Roll May.PDF", &[7u8; 2048]).await;
    add_doc(app, deal, Some("Deal Room"), Some("Financials/2026"), "T12 2026.xlsx", b"xlsx").await;
    add_doc(app, deal, None, None, "Sponsor notes.txt", b"notes").await;
    let room_id = rent["vault"]["id"].as_i64().unwrap();

    let (s, all) = get(app, &format!("/deals/{deal}/documents"), key).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["pagination"]["total"], 3);
    assert_eq!(all["pagination"]["has_more"], false);
    let first = &all["data"][0];
    assert_eq!(keys(first), ["extension", "file_name", "folder_path", "id", "size_bytes", "uploaded_at", "vault"]);
    assert_eq!(first["file_name"], "Rent Roll May.PDF");
    assert_eq!(first["extension"], "pdf");
    assert_eq!(first["size_bytes"], 2048);
    assert_eq!(first["folder_path"], "Financials/2026");
    assert!(first["uploaded_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(first["vault"], json!({"id": room_id, "type": "shared", "title": "Deal Room"}));
    assert_eq!(all["data"][2]["folder_path"], Value::Null);
    assert_eq!(all["data"][2]["vault"]["type"], "resources");

    let q = |query: &str| format!("/deals/{deal}/documents?{query}");
    let (_, by_vault) = get(app, &q(&format!("vault_id={room_id}")), key).await;
    assert_eq!(by_vault["data"].as_array().unwrap().len(), 2);
    let (_, pdfs) = get(app, &q("extension=.pdf"), key).await;
    assert_eq!(ids(&pdfs), [rent["id"].as_i64().unwrap()]);
    let (_, found) = get(app, &q("search=ROLL"), key).await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    let (_, none) = get(app, &q("search=50%25"), key).await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    let (_, slim) = get(app, &q("fields=file_name"), key).await;
    assert_eq!(keys(&slim["data"][0]), ["file_name", "id", "vault"]);
    let (_, folder) = get(app, &q("folder_id=999999"), key).await;
    assert_eq!(folder["data"].as_array().unwrap().len(), 0);

    // Cursor paging; out-of-range limits are clamped.
    let (_, p1) = get(app, &q("limit=2"), key).await;
    assert_eq!((p1["pagination"]["has_more"].as_bool(), p1["pagination"]["limit"].as_i64()), (Some(true), Some(2)));
    let next = p1["pagination"]["next_cursor"].as_str().unwrap().to_string();
    let (_, p2) = get(app, &q(&format!("limit=2&cursor={next}")), key).await;
    assert_eq!(p2["data"].as_array().unwrap().len(), 1);
    assert_eq!(p2["pagination"]["cursor"], next.as_str());
    let (_, one) = get(app, &q("limit=0"), key).await;
    assert_eq!(one["pagination"]["limit"], 1);
    let (_, many) = get(app, &q("limit=5000"), key).await;
    assert_eq!(many["pagination"]["limit"], 200);

    for (query, status, message) in [
        ("limit=ten", 422, Some("limit must be an integer")),
        ("filter[extension]=pdf", 422, Some("This endpoint does not accept filter parameters")),
        ("fields=owner", 422, None),
        ("vault_id=abc", 422, None),
        ("cursor=%%%", 400, None),
        ("vault_id=999999", 404, Some("Vault not found")),
    ] {
        let (s, e) = get(app, &q(query), key).await;
        assert_eq!(s, status, "{query}: {e}");
        if let Some(m) = message {
            assert_eq!(e["error"]["message"], m, "{query}");
        }
    }

    // A filter parameter is refused like every other unknown name: the field is named and the
    // accepted filter names (none here) are listed.
    let (s, e) = get(app, &q("filter[extension]=pdf"), key).await;
    assert_eq!(s, 422);
    let details = &e["error"]["details"];
    assert!(details["fields"]["filter[extension]"].is_string(), "{e}");
    assert_eq!(details["parameter"], "filter[extension]", "{e}");
    assert_eq!(details["allowed"], json!([]), "{e}");

    let doc_id = rent["id"].as_i64().unwrap();
    let (s, one) = get(app, &format!("/deals/{deal}/documents/{doc_id}"), key).await;
    assert_eq!(s, 200);
    assert_eq!(one["data"], all["data"][0]);
    let (_, slim) = get(app, &format!("/deals/{deal}/documents/{doc_id}?fields=extension"), key).await;
    assert_eq!(keys(&slim["data"]), ["extension", "id", "vault"]);
    // A document of another deal of the same account is not under this deal.
    let other = app.create_deal(key, json!({"title": "Other"})).await["id"].as_i64().unwrap();
    let (s, e) = get(app, &format!("/deals/{other}/documents/{doc_id}"), key).await;
    assert_eq!((s, e["error"]["message"].as_str()), (404, Some("Document not found")));
    let (s, e) = get(app, "/deals/999999/documents", key).await;
    assert_eq!((s, e["error"]["message"].as_str()), (404, Some("Deal not found")));
    let (s, _) = get(app, &format!("/deals/{deal}/documents/abc"), key).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn download_links_serve_the_file_and_refuse_tampering_and_expiry() {
    let r = room("files").await;
    let (app, key, deal) = (&r.app, &r.t.key, r.deal);
    let content = "unit,rent\n101,1450\n".repeat(50);
    let doc = add_doc(app, deal, Some("Deal Room"), None, "Rent Roll \"May\" é.csv", content.as_bytes()).await;
    let id = doc["id"].as_i64().unwrap();

    let (s, body) = get(app, &format!("/deals/{deal}/documents/{id}/download"), key).await;
    assert_eq!(s, 200, "{body}");
    let d = &body["data"];
    assert_eq!(keys(d), ["download_url", "expires_in", "file_name"]);
    assert_eq!(d["expires_in"], 300);
    assert_eq!(d["file_name"], "Rent Roll \"May\" é.csv");
    let url = d["download_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/api/external/v2/files/", app.base)), "{url}");
    assert!(!url.contains(&doc["content_id"].as_str().unwrap()[..16]), "the storage name must not leak");

    // No credential, no origin header: the signature is the authorisation.
    let resp = app.client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let disposition = resp.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(
        disposition.starts_with("attachment;")
            && disposition.contains("filename*=UTF-8''Rent%20Roll%20%22May%22%20%C3%A9.csv"),
        "{disposition}"
    );
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    let get_headers = resp.headers().clone();
    assert_eq!(resp.bytes().await.unwrap(), content.as_bytes());

    // HEAD answers like GET, without the body and without a credential.
    let head = app.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    for name in ["content-type", "content-disposition", "cache-control", "content-length"] {
        assert_eq!(head.headers().get(name), get_headers.get(name), "{name}");
    }
    assert_eq!(head.headers()["content-length"], content.len().to_string().as_str());
    assert!(head.bytes().await.unwrap().is_empty());
    // A bad link is refused to HEAD as it is to GET.
    let head_bad = app.client.head(app.url("/files/nonsense")).send().await.unwrap();
    assert_eq!(head_bad.status(), 403);

    // The same link works on another node of the same database (shared secret).
    let node_b = app.second_node(Options::default()).await;
    let b_url = url.replacen(&app.base, &node_b.base, 1);
    assert_eq!(app.client.get(&b_url).send().await.unwrap().bytes().await.unwrap(), content.as_bytes());

    // Tampering: another signature, another document id, garbage.
    let token = url.rsplit('/').next().unwrap().to_string();
    let (payload, mac) = token.rsplit_once('.').unwrap();
    let flipped = format!("{payload}.{}{}", if mac.starts_with('A') { "B" } else { "A" }, &mac[1..]);
    let other_doc = add_doc(app, deal, None, None, "secret.txt", b"secret").await["id"].as_i64().unwrap();
    let swapped = token.replacen(&format!(".d.{id}."), &format!(".d.{other_doc}."), 1);
    assert_ne!(swapped, token);
    let forged = sign_file_link(&LinkSecret::generate().unwrap(), FileTarget::Document(other_doc), u64::MAX / 2);
    for bad in [flipped.as_str(), swapped.as_str(), forged.as_str(), "nonsense", "v1.d.1.1.x"] {
        let (s, e) = parts(app.client.get(app.url(&format!("/files/{bad}"))).send().await.unwrap()).await;
        assert_eq!(s, 403, "{bad}: {e}");
        assert_error(&e, 403, "forbidden");
        assert_eq!(e["error"]["message"], "Invalid file link signature");
    }

    // Expired: a correctly signed link whose time is up.
    let secret = LinkSecret::from_hex(&app.store.file_link_secret().await.unwrap().unwrap()).unwrap();
    let past = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 1;
    let expired = sign_file_link(&secret, FileTarget::Document(id), past);
    let (s, e) = parts(app.client.get(app.url(&format!("/files/{expired}"))).send().await.unwrap()).await;
    assert_eq!(s, 403);
    assert!(e["error"]["message"].as_str().unwrap().contains("expired"), "{e}");
    // The same secret with a future expiry is accepted (so the expiry is what failed above).
    let fresh = sign_file_link(&secret, FileTarget::Document(id), past + 120);
    assert_eq!(app.client.get(app.url(&format!("/files/{fresh}"))).send().await.unwrap().status(), 200);

    // A file gone from the data directory is a 404, not a 500.
    let cid = doc["content_id"].as_str().unwrap();
    std::fs::remove_file(data_dir(app).join("objects").join(&cid[..2]).join(cid)).unwrap();
    let (s, e) = parts(app.client.get(&url).send().await.unwrap()).await;
    assert_eq!((s, e["error"]["message"].as_str()), (404, Some("File not found")));
    node_b.stop().await;
}

#[tokio::test]
async fn admin_command_adds_documents_from_the_command_line() {
    let r = room("cli-docs").await;
    let (app, key, deal) = (&r.app, &r.t.key, r.deal);
    let src = app._dir.path().join("Appraisal.pdf");
    std::fs::write(&src, b"%PDF-1.4 appraisal").unwrap();
    let data = data_dir(app);
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_levd"))
            .args(["admin", "document", "add"])
            .args(args)
            .args(["--database-url", &app.db_url, "--data-dir", data.to_str().unwrap()])
            .env_remove("LEV_DATABASE_URL")
            .env_remove("LEV_DATA_DIR")
            .output()
            .unwrap()
    };
    let deal_s = deal.to_string();
    let out =
        run(&["--deal", &deal_s, "--file", src.to_str().unwrap(), "--vault", "Closing", "--folder", "Reports/2026"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["file_name"].as_str(), v["vault"]["title"].as_str()), (Some("Appraisal.pdf"), Some("Closing")));
    assert_eq!((v["vault_created"].as_bool(), v["folder_path"].as_str()), (Some(true), Some("Reports/2026")));
    let (_, docs) = get(app, &format!("/deals/{deal}/documents"), key).await;
    assert_eq!(docs["data"][0]["id"], v["id"]);
    // The bytes are in the data directory under their digest, not under the given name.
    let cid = v["content_id"].as_str().unwrap();
    assert_eq!(std::fs::read(data.join("objects").join(&cid[..2]).join(cid)).unwrap(), b"%PDF-1.4 appraisal");

    let again = run(&["--deal", &deal_s, "--file", src.to_str().unwrap(), "--vault", "closing"]);
    let v2: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!((v2["vault_created"].as_bool(), v2["vault"]["id"].clone()), (Some(false), v["vault"]["id"].clone()));

    for args in [
        vec!["--deal", "999999", "--file", src.to_str().unwrap()],
        vec!["--deal", &deal_s, "--file", "/nonexistent/file.pdf"],
        vec!["--deal", &deal_s, "--file", data.to_str().unwrap()],
        vec!["--deal", &deal_s, "--file", src.to_str().unwrap(), "--name", "../../etc/passwd"],
        vec!["--deal", &deal_s, "--file", src.to_str().unwrap(), "--folder", "a/../../b"],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(!out.stderr.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Memos
// ---------------------------------------------------------------------------------------------

async fn add_memo(
    app: &TestApp,
    t: &Tenant,
    deal: i64,
    title: &str,
    memo_type: &'static str,
    status: &'static str,
    vaults: Vec<i64>,
) -> String {
    let uuid = uuid::Uuid::new_v4().to_string();
    app.store
        .insert_memo(
            t.account.id,
            deal,
            &NewMemo {
                uuid: uuid.clone(),
                title: title.into(),
                memo_type,
                status,
                body: "Executive summary\nThe sponsor requests (bridge) financing.\n\nRequest\nFive years.".into(),
                created_by_user_id: Some(t.user_id),
                vault_ids: vaults,
            },
            "2026-05-20T16:00:00Z",
        )
        .await
        .unwrap();
    uuid
}

#[tokio::test]
async fn memos_list_with_filters_and_offset_paging() {
    let r = room("memos").await;
    let (app, key, deal) = (&r.app, &r.t.key, r.deal);
    let (_, vaults) = get(app, &format!("/deals/{deal}/vaults"), key).await;
    let room_id = vaults["data"][1]["id"].as_i64().unwrap();
    let om = add_memo(
        app,
        &r.t,
        deal,
        "Harbor Point - Financing Memorandum",
        "debt_financing_om",
        "published",
        vec![room_id],
    )
    .await;
    add_memo(app, &r.t, deal, "Harbor Point - Credit Memo", "credit_memo", "draft", vec![]).await;
    add_memo(app, &r.t, deal, "IC Memo", "investment_committee", "published", vec![]).await;

    let q = |query: &str| format!("/deals/{deal}/memos?{query}");
    let (s, all) = get(app, &q(""), key).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["pagination"], json!({"total": 3, "limit": 50, "offset": 0, "has_more": false}));
    let m = &all["data"][0];
    assert_eq!(
        keys(m),
        [
            "created_by",
            "memo_type",
            "memo_url",
            "pdf_generation_status",
            "pdf_ready",
            "published_at",
            "status",
            "title",
            "updated_at",
            "uuid",
            "vaults"
        ]
    );
    assert_eq!(m["uuid"], om.as_str());
    assert_eq!(m["created_by"], json!({"id": r.t.user_id, "name": "Test User"}));
    assert_eq!((m["pdf_ready"].as_bool(), m["published_at"].as_str()), (Some(true), Some("2026-05-20T16:00:00Z")));
    assert_eq!(m["vaults"], json!([{"id": room_id, "type": "shared", "title": "Deal Room"}]));
    assert!(m["memo_url"].as_str().unwrap().ends_with(&format!("/api/external/v2/deals/{deal}/memos/{om}")));
    assert_eq!(all["data"][1]["pdf_ready"], false);
    assert_eq!(all["data"][1]["vaults"], json!([]));

    let count = |v: &Value| v["data"].as_array().unwrap().len();
    for (query, n) in [
        ("filter[status]=draft", 1),
        ("filter[memo_type]=debt_financing_om", 1),
        ("filter[pdf_ready]=true", 2),
        ("filter[title]=IC%20Memo", 1),
        ("filter[title]=IC", 0),
        ("search=harbor%20POINT", 2),
        (&format!("vault_id={room_id}"), 1),
        ("limit=2", 2),
        ("limit=2&offset=2", 1),
        ("limit=0", 1),
    ] {
        let (s, v) = get(app, &q(query), key).await;
        assert_eq!((s, count(&v)), (200, n), "{query}: {v}");
    }
    let (_, p) = get(app, &q("limit=2"), key).await;
    assert_eq!(p["pagination"]["has_more"], true);
    for (query, status) in [
        ("filter[status]=final", 422),
        ("filter[memo_type]=teaser", 422),
        ("filter[pdf_ready]=yes", 422),
        ("filter[owner]=me", 422),
        ("offset=-1", 422),
        ("limit=x", 422),
        ("vault_id=999999", 404),
    ] {
        let (s, e) = get(app, &q(query), key).await;
        assert_eq!(s, status, "{query}: {e}");
    }
}

#[tokio::test]
async fn memo_detail_links_to_a_rendered_pdf() {
    let r = room("memo-pdf").await;
    let (app, key, deal) = (&r.app, &r.t.key, r.deal);
    let om = add_memo(app, &r.t, deal, "Harbor Point (Financing) Memorandum", "debt_financing_om", "published", vec![])
        .await;
    let draft = add_memo(app, &r.t, deal, "Draft memo", "credit_memo", "draft", vec![]).await;

    let (s, body) = get(app, &format!("/deals/{deal}/memos/{om}?quality=medium"), key).await;
    assert_eq!(s, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["uuid"], om.as_str());
    assert_eq!(d["title"], "Harbor Point (Financing) Memorandum");
    let versions = d["pdf_versions"].as_array().unwrap();
    let qualities: Vec<&str> = versions.iter().map(|v| v["quality"].as_str().unwrap()).collect();
    assert_eq!(qualities, ["original", "high", "medium", "low"]);
    assert_eq!(d["pdf_url"], versions[2]["pdf_url"]);
    assert_ne!(versions[0]["pdf_url"], versions[2]["pdf_url"]);
    let url = d["pdf_url"].as_str().unwrap();
    let resp = app.client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert!(resp.headers()["content-disposition"].to_str().unwrap().contains("(medium).pdf"));
    let pdf = resp.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4") && pdf.ends_with(b"%%EOF\n"));
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("Harbor Point \\(Financing\\) Memorandum"), "the title is in the PDF");
    assert!(text.contains("Executive summary"));
    // The PDF was stored once; the original-quality link serves the same bytes.
    let original =
        app.client.get(versions[0]["pdf_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(original, pdf);

    let (_, d) = get(app, &format!("/deals/{deal}/memos/{draft}"), key).await;
    assert_eq!((d["data"]["pdf_ready"].as_bool(), d["data"]["pdf_url"].clone()), (Some(false), Value::Null));
    assert!(d["data"]["pdf_versions"].as_array().unwrap().iter().all(|v| v["pdf_url"].is_null()));

    let (s, e) = get(app, &format!("/deals/{deal}/memos/{om}?quality=bogus"), key).await;
    assert_eq!(
        (s, e["error"]["message"].as_str()),
        (400, Some("Invalid quality: bogus. Allowed: original, high, medium, low"))
    );
    for missing in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".into(), "x".repeat(300)] {
        let (s, e) = get(app, &format!("/deals/{deal}/memos/{missing}"), key).await;
        assert_eq!((s, e["error"]["message"].as_str()), (404, Some("Memo not found")));
    }
    // Under another deal of the same account the memo does not exist.
    let other = app.create_deal(key, json!({"title": "Other"})).await["id"].as_i64().unwrap();
    let (s, _) = get(app, &format!("/deals/{other}/memos/{om}"), key).await;
    assert_eq!(s, 404);
}

// ---------------------------------------------------------------------------------------------
// Checklists, tasks and task notes
// ---------------------------------------------------------------------------------------------

/// The deal's default checklist id and a "Financials" section in it.
async fn checklist(app: &TestApp, t: &Tenant, deal: i64) -> (i64, i64) {
    let (s, lists) = get(app, &format!("/deals/{deal}/checklists"), &t.key).await;
    assert_eq!(s, 200, "{lists}");
    let id = lists["data"][0]["id"].as_i64().unwrap();
    let section = app
        .store
        .insert_checklist_section(t.account.id, id, "Financials", 1, (None, Some("2026-06-30")))
        .await
        .unwrap();
    (id, section)
}

#[tokio::test]
async fn checklist_tasks_are_created_nested_updated_and_completed() {
    let r = room("tasks").await;
    let (app, key, deal) = (&r.app, &r.t.key, r.deal);
    let (s, lists) = get(app, &format!("/deals/{deal}/checklists"), key).await;
    assert_eq!(s, 200);
    let c = &lists["data"][0];
    assert_eq!(keys(c), ["id", "sections", "tasks", "vault"]);
    assert_eq!((c["vault"]["type"].as_str(), c["vault"]["title"].as_str()), (Some("shared"), Some("Deal Room")));
    let (checklist_id, section) = checklist(app, &r.t, deal).await;

    let (s, t) = post(
        app,
        "/checklist-tasks",
        key,
        json!({"title": "Upload 2025 operating statement", "section_id": section, "assigned_user_id": r.t.user_id,
               "due_date": "2026-06-20", "document_type_ids": [2, 1], "description": "Trailing twelve months"}),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let task = &t["data"];
    assert_eq!(
        keys(task),
        [
            "assigned_team",
            "assignee",
            "collaborators",
            "description",
            "document_types",
            "due_date",
            "files",
            "id",
            "is_completed",
            "position",
            "role",
            "status",
            "subtasks",
            "title"
        ]
    );
    assert_eq!(
        (task["status"].as_str(), task["is_completed"].as_bool(), task["position"].as_i64()),
        (Some("to_do"), Some(false), Some(1))
    );
    assert_eq!(
        task["assignee"],
        json!({"id": r.t.user_id, "first_name": "Test", "last_name": "User", "email": "admin@tasks.test"})
    );
    assert_eq!(
        task["document_types"],
        json!([{"id": 1, "name": "Rent roll"}, {"id": 2, "name": "Operating statement"}])
    );
    assert_eq!(task["due_date"], "2026-06-20");
    let task_id = task["id"].as_i64().unwrap();

    let (s, second) =
        post(app, "/checklist-tasks", key, json!({"title": "Second", "section_id": section, "status": "requested"}))
            .await;
    assert_eq!(
        (s, second["data"]["position"].as_i64(), second["data"]["status"].as_str()),
        (201, Some(2), Some("requested"))
    );
    // Creation honours Idempotency-Key: the retry replays the first answer, no second task.
    let create_root = || {
        app.post_json("/checklist-tasks", key, &json!({"title": "Kick-off call", "checklist_id": checklist_id}))
            .header("Idempotency-Key", "3f1e6a52-9d1b-4c43-a0c5-52f3f4d1a001")
    };
    let (s, root) = parts(create_root().send().await.unwrap()).await;
    let replay = create_root().send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(parts(replay).await.1["data"]["id"], root["data"]["id"]);
    assert_eq!(s, 201, "{root}");
    let (s, sub) = post(app, "/checklist-tasks", key, json!({"title": "Signed copy", "parent_task_id": task_id})).await;
    assert_eq!(s, 201, "{sub}");
    let sub_id = sub["data"]["id"].as_i64().unwrap();
    let (s, e) = post(app, "/checklist-tasks", key, json!({"title": "Too deep", "parent_task_id": sub_id})).await;
    assert_eq!(s, 422, "{e}");

    let (_, lists) = get(app, &format!("/deals/{deal}/checklists"), key).await;
    let c = &lists["data"][0];
    let sec = &c["sections"][0];
    assert_eq!(
        (sec["name"].as_str(), sec["position"].as_i64(), sec["end_date"].as_str()),
        (Some("Financials"), Some(1), Some("2026-06-30"))
    );
    assert_eq!(ids(&json!({"data": sec["tasks"]})), [task_id, second["data"]["id"].as_i64().unwrap()]);
    assert_eq!(sec["tasks"][0]["subtasks"][0]["id"], sub_id);
    assert_eq!(c["tasks"][0]["id"], root["data"]["id"]);
    let (_, filtered) = get(app, &format!("/deals/{deal}/checklists?vault_id={}", c["vault"]["id"]), key).await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    let (s, _) = get(app, &format!("/deals/{deal}/checklists?vault_id=999999"), key).await;
    assert_eq!(s, 404);

    // Update, complete, reopen.
    let path = format!("/checklist-tasks/{task_id}");
    let (s, u) = patch(app, &path, key, json!({"status": "reviewing", "due_date": null, "description": null, "document_type_ids": [3], "title": "Upload T-12"})).await;
    assert_eq!(s, 200, "{u}");
    let d = &u["data"];
    assert_eq!((d["status"].as_str(), d["title"].as_str()), (Some("reviewing"), Some("Upload T-12")));
    assert_eq!((d["due_date"].clone(), d["description"].clone()), (Value::Null, Value::Null));
    assert_eq!(d["document_types"], json!([{"id": 3, "name": "Appraisal"}]));
    assert_eq!(d["subtasks"][0]["id"], sub_id);
    let (s, u) = patch(app, &path, key, json!({"assigned_user_id": null, "document_type_ids": null})).await;
    assert_eq!((s, u["data"]["assignee"].clone(), u["data"]["document_types"].clone()), (200, Value::Null, json!([])));
    let (s, e) = patch(app, &path, key, json!({"is_completed": true})).await;
    assert_eq!(
        (s, e["error"]["message"].as_str()),
        (422, Some("is_completed accepts false only; to mark a task complete use the complete endpoint"))
    );
    let (s, done) = post(app, &format!("{path}/complete"), key, json!({})).await;
    assert_eq!(
        (s, done["data"]["is_completed"].as_bool(), done["data"]["status"].as_str()),
        (200, Some(true), Some("reviewing"))
    );
    let (s, done) = parts(app.req(reqwest::Method::POST, &format!("{path}/complete"), key).send().await.unwrap()).await;
    assert_eq!((s, done["data"]["is_completed"].as_bool()), (200, Some(true)), "completing twice answers the same");
    let (s, open) = patch(app, &path, key, json!({"is_completed": false})).await;
    assert_eq!((s, open["data"]["is_completed"].as_bool()), (200, Some(false)));
    let empty = parts(app.req(reqwest::Method::PATCH, &path, key).send().await.unwrap()).await;
    assert_eq!((empty.0, empty.1["data"]["title"].as_str()), (200, Some("Upload T-12")));

    // Validation and lookups.
    let outsider = app.user("outsider@elsewhere.test", None).await;
    for (body, status, message) in [
        (
            json!({"title": "x", "section_id": section, "checklist_id": checklist_id}),
            422,
            Some("Provide exactly one of section_id, checklist_id, or parent_task_id"),
        ),
        (json!({"title": "x"}), 422, Some("Provide exactly one of section_id, checklist_id, or parent_task_id")),
        (json!({"title": "  ", "section_id": section}), 422, Some("title must not be blank")),
        (json!({"section_id": section}), 422, Some("title is required")),
        (json!({"title": "x", "section_id": section, "status": "done"}), 422, None),
        (json!({"title": "x", "section_id": section, "due_date": "2026-02-30"}), 422, None),
        (json!({"title": "x", "section_id": section, "document_type_ids": [999]}), 422, None),
        (
            json!({"title": "x", "section_id": section, "assigned_user_id": outsider}),
            400,
            Some("assigned_user_id must belong to an active user in your account"),
        ),
        (json!({"title": "x", "section_id": 999999}), 404, Some("Section, checklist, or parent task not found")),
        (json!({"title": "x", "checklist_id": 999999}), 404, None),
        (json!({"title": "x", "parent_task_id": 999999}), 404, None),
    ] {
        let (s, e) = post(app, "/checklist-tasks", key, body.clone()).await;
        assert_eq!(s, status, "{body}: {e}");
        if let Some(m) = message {
            assert_eq!(e["error"]["message"], m, "{body}");
        }
    }
    let (s, _) = send(app.raw_json(reqwest::Method::POST, "/checklist-tasks", key, "[1]")).await;
    assert_eq!(s, 400);
    let (s, _) = patch(app, &path, key, json!({"assigned_user_id": outsider})).await;
    assert_eq!(s, 400);
    let (s, _) = patch(app, &path, key, json!({"status": null})).await;
    assert_eq!(s, 422);
    for p in ["/checklist-tasks/999999", "/checklist-tasks/abc"] {
        let (s, e) = patch(app, p, key, json!({"title": "x"})).await;
        assert_eq!((s, e["error"]["message"].as_str()), (404, Some("Checklist task not found")));
        let (s, _) = post(app, &format!("{p}/complete"), key, json!({})).await;
        assert_eq!(s, 404);
    }
}

/// Writes that read before they write (a task's position is the end of its siblings) queue for
/// the database instead of failing when others write at the same moment.
#[tokio::test]
async fn parallel_task_creations_all_succeed_with_distinct_positions() {
    let r = room("tasks-parallel").await;
    let (checklist_id, _) = checklist(&r.app, &r.t, r.deal).await;
    let calls = (0..24).map(|i| {
        let (app, key) = (&r.app, &r.t.key);
        async move {
            post(app, "/checklist-tasks", key, json!({"title": format!("Task {i}"), "checklist_id": checklist_id}))
                .await
        }
    });
    let answers = futures::future::join_all(calls).await;
    for (s, body) in &answers {
        assert_eq!(*s, 201, "{body}");
    }
    let (s, lists) = get(&r.app, &format!("/deals/{}/checklists", r.deal), &r.t.key).await;
    assert_eq!(s, 200);
    let tasks = lists["data"][0]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 24, "{lists}");
    let mut positions: Vec<i64> = tasks.iter().map(|t| t["position"].as_i64().unwrap()).collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=24).collect::<Vec<i64>>());
}

#[tokio::test]
async fn checklist_task_notes_lifecycle() {
    let r = room("task-notes").await;
    let (app, key, deal) = (&r.app, &r.t.key, r.deal);
    let (_, section) = checklist(app, &r.t, deal).await;
    let (_, a) = post(app, "/checklist-tasks", key, json!({"title": "A", "section_id": section})).await;
    let (_, b) = post(app, "/checklist-tasks", key, json!({"title": "B", "section_id": section})).await;
    let (ta, tb) = (a["data"]["id"].as_i64().unwrap(), b["data"]["id"].as_i64().unwrap());
    let base = format!("/checklist-tasks/{ta}/notes");

    let (s, n) = post(app, &base, key, json!({"text": "Borrower says the file arrives Monday."})).await;
    assert_eq!(s, 201, "{n}");
    assert_eq!(keys(&n["data"]), ["created_at", "created_by", "id", "text", "updated_at"]);
    assert_eq!(n["data"]["created_by"]["id"], r.t.user_id);
    let id = n["data"]["id"].as_i64().unwrap();
    for i in 0..2 {
        post(app, &base, key, json!({"text": format!("n{i}")})).await;
    }
    let (_, page) = get(app, &format!("{base}?limit=2"), key).await;
    assert_eq!((page["pagination"]["total"].as_i64(), page["pagination"]["has_more"].as_bool()), (Some(3), Some(true)));
    let next = page["pagination"]["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = get(app, &format!("{base}?limit=2&cursor={next}"), key).await;
    assert_eq!(page2["data"][0]["text"], "n1");
    let (_, other) = get(app, &format!("/checklist-tasks/{tb}/notes"), key).await;
    assert_eq!(other["pagination"]["total"], 0);

    let (s, e) = patch(app, &format!("{base}/{id}"), key, json!({"text": "Monday, confirmed."})).await;
    assert_eq!((s, e["data"]["text"].as_str()), (200, Some("Monday, confirmed.")));
    assert_eq!(patch(app, &format!("{base}/{id}"), key, json!({"text": ""})).await.0, 400);
    let (s, e) = patch(app, &format!("{base}/{id}"), key, json!({"text": "   "})).await;
    assert_eq!((s, e["error"]["message"].as_str()), (422, Some("text must not be blank")));
    assert_eq!(post(app, &base, key, json!({"text": " "})).await.0, 422);
    // The note is not under the other task.
    let (s, e) = patch(app, &format!("/checklist-tasks/{tb}/notes/{id}"), key, json!({"text": "x"})).await;
    assert_eq!((s, e["error"]["message"].as_str()), (404, Some("Checklist task or note not found")));
    assert_eq!(parts(app.delete(&format!("/checklist-tasks/{tb}/notes/{id}"), key).send().await.unwrap()).await.0, 404);

    let (s, del) = parts(app.delete(&format!("{base}/{id}"), key).send().await.unwrap()).await;
    assert_eq!((s, del["data"].clone()), (200, json!({"deleted": true})));
    assert_eq!(parts(app.delete(&format!("{base}/{id}"), key).send().await.unwrap()).await.0, 404);
    let (s, e) = get(app, "/checklist-tasks/999999/notes", key).await;
    assert_eq!((s, e["error"]["message"].as_str()), (404, Some("Checklist task not found")));
}

// ---------------------------------------------------------------------------------------------
// Deal index
// ---------------------------------------------------------------------------------------------

/// A deal with a property, two documents and extracted values; returns (property, t12 doc,
/// appraisal doc).
async fn indexed(r: &Room) -> (i64, i64, i64) {
    let (app, deal, account) = (&r.app, r.deal, r.t.account.id);
    let property = add_property(app, deal, "Harbor Point").await;
    let t12 = add_doc(app, deal, Some("Deal Room"), None, "T12_2026.xlsx", b"t12").await["id"].as_i64().unwrap();
    let appraisal =
        add_doc(app, deal, Some("Deal Room"), None, "Appraisal.pdf", b"%PDF-1.4").await["id"].as_i64().unwrap();
    let p = Some((ENTITY_PROPERTY, property));
    for o in [
        extracted(
            33,
            p,
            "610,000",
            "Net operating income for the trailing twelve months ended April 2026",
            0.95,
            85,
            t12,
        ),
        extracted(33, p, "598,500", "NOI used in the appraisal income approach", 0.7, 60, appraisal),
        extracted(40, p, "93%", "Physical occupancy on the rent roll", 0.96, 80, t12),
        extracted(5, None, "5.8%", "Capitalisation rate applied in the income approach", 0.9, 80, appraisal),
        extracted(4, None, "$10,500,000", "Reconciled as-is market value", 0.97, 85, appraisal),
        extracted(6, None, "64.3%", "Loan-to-value on the appraised value", 0.99, 90, appraisal),
        extracted(20, p, "Harbor Point Apartments", "Subject property named in the appraisal", 0.99, 90, appraisal),
    ] {
        let mut o = o;
        if o.entity_ref.is_none() {
            o.entity_id = Some(deal);
        }
        app.store.record_observation(account, deal, &o, "2026-05-01T00:00:00Z").await.unwrap();
    }
    (property, t12, appraisal)
}

#[tokio::test]
async fn index_search_ranks_facts_by_full_text_relevance() {
    let r = room("search").await;
    let (app, key, deal) = (&r.app, &r.t.key, r.deal);
    let (property, t12, _) = indexed(&r).await;
    let path = format!("/deals/{deal}/index/search");

    let (s, body) = post(
        app,
        &path,
        key,
        json!({"context": "in-place NOI for the trailing twelve months", "include_signed_urls": true}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let results = body["data"].as_array().unwrap();
    assert!(!results.is_empty());
    let top = &results[0];
    assert_eq!(top["metric_key"], "noi_t12");
    assert_eq!(top["metric_label"], "NOI (T-12)");
    assert_eq!(top["value_text"], "610,000");
    assert_eq!(top["id"], format!("a:{}:property:{property}", top["sot_id"]));
    assert_eq!(top["entity_ref"], format!("property:{property}"));
    assert_eq!(top["category_label"], "Income and expenses");
    assert_eq!(top["needs_review"], true, "two documents disagree on NOI");
    let score = top["score"].as_f64().unwrap();
    assert!(score > 0.3 && score <= 1.0, "{score}");
    let scores: Vec<f64> = results.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "ranked: {scores:?}");
    let src = &top["source"];
    assert_eq!((src["type"].as_str(), src["document_id"].as_i64()), (Some("document"), Some(t12)));
    assert_eq!((src["file_name"].as_str(), src["file_extension"].as_str()), (Some("T12_2026.xlsx"), Some("xlsx")));
    assert_eq!(src["pages"], json!([1, 2]));
    assert_eq!(src["observation_count"], 2);
    let signed = src["signed_url"].as_str().unwrap();
    assert_eq!(app.client.get(signed).send().await.unwrap().bytes().await.unwrap(), b"t12".as_ref());

    // Other questions find other facts; signed URLs only on request.
    let (_, occ) = post(app, &path, key, json!({"context": "What is the physical occupancy?"})).await;
    assert_eq!(occ["data"][0]["metric_key"], "occupancy_physical");
    assert_eq!(occ["data"][0]["source"]["signed_url"], Value::Null);
    let (_, cap) = post(app, &path, key, json!({"context": "cap rate", "limit": 1})).await;
    assert_eq!(cap["data"].as_array().unwrap().len(), 1);
    assert_eq!(cap["data"][0]["metric_key"], "going_in_cap_rate");
    let (_, clamped) = post(app, &path, key, json!({"context": "rate value income", "limit": 0, "min_score": 0})).await;
    assert_eq!((clamped["data"].as_array().unwrap().len(), clamped["pagination"]["limit"].as_i64()), (1, Some(1)));
    let (_, nothing) = post(app, &path, key, json!({"context": "elevator maintenance contract"})).await;
    assert_eq!(nothing["data"], json!([]));
    let (_, strict) = post(app, &path, key, json!({"context": "occupancy noi", "min_score": 1})).await;
    assert!(strict["data"].as_array().unwrap().iter().all(|r| r["score"].as_f64().unwrap() >= 1.0));

    for (body, status, message) in [
        (json!({"context": "   "}), 422, Some("context must not be blank")),
        (json!({}), 422, Some("context is required")),
        (json!({"context": "x".repeat(4001)}), 422, None),
        (json!({"context": "noi", "min_score": 1.5}), 422, None),
        (json!({"context": "noi", "limit": "ten"}), 422, None),
        (json!({"context": "noi", "include_signed_urls": "yes"}), 422, None),
    ] {
        let (s, e) = post(app, &path, key, body.clone()).await;
        assert_eq!(s, status, "{body}: {e}");
        if let Some(m) = message {
            assert_eq!(e["error"]["message"], m);
        }
    }
    let (s, _) = send(app.raw_json(reqwest::Method::POST, &path, key, "\"noi\"")).await;
    assert_eq!(s, 400);
    let (s, e) = post(app, "/deals/999999/index/search", key, json!({"context": "noi"})).await;
    assert_eq!((s, e["error"]["message"].as_str()), (404, Some("Deal not found")));
}

#[tokio::test]
async fn index_observations_and_fact_promotion() {
    let r = room("observe").await;
    let (app, key, deal) = (&r.app, &r.t.key, r.deal);
    let (property, t12, appraisal) = indexed(&r).await;
    let (_, found) = post(app, &format!("/deals/{deal}/index/search"), key, json!({"context": "noi trailing"})).await;
    let noi = found["data"][0].clone();
    assert_eq!(noi["metric_key"], "noi_t12");
    let sot = noi["id"].as_str().unwrap().to_string();
    let obs_path = format!("/deals/{deal}/index/observations");

    let (s, list) = post(app, &obs_path, key, json!({"sot_id": sot})).await;
    assert_eq!(s, 200, "{list}");
    let rows = list["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(keys(&rows[0]), value_keys(&["confidence", "context", "original_text", "source", "summary"]));
    assert_eq!(
        (rows[0]["value_text"].as_str(), rows[0]["source"]["document_id"].as_i64()),
        (Some("610,000"), Some(t12))
    );
    assert_eq!(
        (rows[1]["value_text"].as_str(), rows[1]["source"]["document_id"].as_i64()),
        (Some("598,500"), Some(appraisal))
    );
    assert_eq!(rows[1]["confidence"], 0.7);
    assert_eq!(list["pagination"]["total"], 2);
    let (_, paged) = post(app, &obs_path, key, json!({"sot_id": sot, "limit": 1, "page": 2})).await;
    assert_eq!(paged["data"][0]["id"], rows[1]["id"]);
    assert_eq!(paged["pagination"]["has_more"], false);
    let (_, by_metric) = post(
        app,
        &obs_path,
        key,
        json!({"metric_id": 33, "entity_ref": format!("property:{property}"), "include_signed_urls": true}),
    )
    .await;
    assert_eq!(by_metric["data"].as_array().unwrap().len(), 2);
    assert!(by_metric["data"][0]["source"]["signed_url"].as_str().unwrap().contains("/files/"));
    let (_, elsewhere) = post(app, &obs_path, key, json!({"metric_id": 33, "entity_ref": "property:999999"})).await;
    assert_eq!(elsewhere["data"], json!([]));

    for (body, status, message) in [
        (json!({"page": 1}), 422, Some("Provide at least one of sot_id or metric_id")),
        (json!({"sot_id": "5362"}), 422, None),
        (json!({"metric_id": 0}), 422, None),
        (json!({"metric_id": 999}), 422, None),
        (json!({"sot_id": "d:999999"}), 404, Some("Fact not found")),
        (json!({"sot_id": sot.replacen("a:", "d:", 1)}), 404, Some("Fact not found")),
    ] {
        let (s, e) = post(app, &obs_path, key, body.clone()).await;
        assert_eq!(s, status, "{body}: {e}");
        if let Some(m) = message {
            assert_eq!(e["error"]["message"], m);
        }
    }

    // Promote the appraisal's reading: the fact keeps that observation's provenance.
    let facts = format!("/deals/{deal}/index/facts");
    let lower = rows[1]["id"].as_i64().unwrap();
    let (s, f) = patch(app, &facts, key, json!({"sot_id": sot, "observation_id": lower})).await;
    assert_eq!(s, 200, "{f}");
    let fact = &f["data"];
    let fact_only = ["editable", "observation_id", "origin", "sot_id", "source_id", "source_type"];
    assert_eq!(keys(fact), value_keys(&fact_only));
    assert_eq!((fact["value_text"].as_str(), fact["observation_id"].as_i64()), (Some("598,500"), Some(lower)));
    assert_eq!((fact["origin"].as_str(), fact["source_type"].as_str()), (Some("promoted"), Some("document")));
    assert_eq!(
        (fact["source_id"].clone(), fact["weight"].as_i64(), fact["editable"].as_bool()),
        (json!(appraisal.to_string()), Some(60), Some(true))
    );
    assert_eq!(fact["id"], sot.as_str());

    // Free text: a manual value without provenance, which later extractions do not replace.
    let (s, f) = patch(app, &facts, key, json!({"sot_id": sot, "value": "$615,000"})).await;
    assert_eq!(s, 200, "{f}");
    assert_eq!((f["data"]["value_text"].as_str(), f["data"]["origin"].as_str()), (Some("$615,000"), Some("manual")));
    assert_eq!((f["data"]["observation_id"].clone(), f["data"]["source_type"].as_str()), (Value::Null, Some("manual")));
    let (_, again) =
        post(app, &format!("/deals/{deal}/index/search"), key, json!({"context": "noi trailing twelve"})).await;
    assert_eq!(
        (again["data"][0]["value_text"].as_str(), again["data"][0]["needs_review"].as_bool()),
        (Some("$615,000"), Some(false))
    );

    let (_, ltv) = post(app, &format!("/deals/{deal}/index/search"), key, json!({"context": "loan to value"})).await;
    let ltv_sot = ltv["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(ltv["data"][0]["metric_key"], "loan_to_value");
    let (_, occ) = post(app, &obs_path, key, json!({"metric_id": 40})).await;
    let occ_obs = occ["data"][0]["id"].as_i64().unwrap();
    for (body, status, message) in [
        (
            json!({"sot_id": sot, "value": "1", "observation_id": lower}),
            422,
            Some("Provide exactly one of value or observation_id"),
        ),
        (json!({"sot_id": sot}), 422, Some("Provide exactly one of value or observation_id")),
        (json!({"value": "1"}), 422, None),
        (json!({"sot_id": sot, "value": "  "}), 422, None),
        (json!({"sot_id": sot, "value": "lots"}), 422, None),
        (json!({"sot_id": ltv_sot, "value": "60%"}), 422, Some("Metric is not editable")),
        (json!({"sot_id": sot, "observation_id": occ_obs}), 422, None),
        (json!({"sot_id": sot, "observation_id": 999999}), 404, Some("Observation not found")),
        (json!({"sot_id": "d:999999", "value": "1"}), 404, Some("Fact not found")),
    ] {
        let (s, e) = patch(app, &facts, key, body.clone()).await;
        assert_eq!(s, status, "{body}: {e}");
        if let Some(m) = message {
            assert_eq!(e["error"]["message"], m);
        }
    }
}

#[tokio::test]
async fn index_records_values_and_lists_metrics_and_entities() {
    let r = room("record").await;
    let (app, key, deal) = (&r.app, &r.t.key, r.deal);
    let property = add_property(app, deal, "Harbor Point").await;
    let sponsor = app
        .store
        .insert_index_entity(r.t.account.id, deal, "sponsor", "Quayside Partners", "2026-05-01T00:00:00Z")
        .await
        .unwrap();

    // Metric catalog.
    let defs = format!("/deals/{deal}/index/metric-definitions");
    let (s, all) = get(app, &defs, key).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(keys(&all["data"][0]), ["category_id", "id", "metric_key", "metric_label", "value_type"]);
    assert_eq!(all["pagination"]["limit"], 100);
    assert_eq!(all["pagination"]["page"], 1);
    let total = all["pagination"]["total"].as_i64().unwrap();
    assert_eq!(all["data"].as_array().unwrap().len() as i64, total);
    let (_, noi) = get(app, &format!("{defs}?metric_label=NOI"), key).await;
    let labels: Vec<&str> = noi["data"].as_array().unwrap().iter().map(|m| m["metric_key"].as_str().unwrap()).collect();
    assert_eq!(labels, ["noi_t12", "noi_underwritten"]);
    let (_, cat) = get(app, &format!("{defs}?category_id=7"), key).await;
    assert!(cat["data"].as_array().unwrap().iter().all(|m| m["category_id"] == 7));
    let (_, p2) = get(app, &format!("{defs}?limit=5&page=2"), key).await;
    assert_eq!(p2["data"][0]["id"], all["data"][5]["id"]);
    assert_eq!(p2["pagination"]["has_more"], true);
    let (_, big) = get(app, &format!("{defs}?limit=1000"), key).await;
    assert_eq!(big["pagination"]["limit"], 200);
    for (query, status, message) in
        [("limit=abc", 422, Some("limit must be an integer")), ("category_id=0", 422, None), ("page=0", 422, None)]
    {
        let (s, e) = get(app, &format!("{defs}?{query}"), key).await;
        assert_eq!(s, status, "{query}: {e}");
        if let Some(m) = message {
            assert_eq!(e["error"]["message"], m);
        }
    }

    // Entities: the deal, its property, its sponsor.
    let entities = format!("/deals/{deal}/index/entities");
    let (s, ents) = get(app, &entities, key).await;
    assert_eq!(s, 200, "{ents}");
    let list = ents["data"].as_array().unwrap();
    let refs: Vec<&str> = list.iter().map(|e| e["entity_ref"].as_str().unwrap()).collect();
    assert_eq!(refs, [format!("deal:{deal}"), format!("property:{property}"), format!("sponsor:{sponsor}")]);
    assert_eq!(keys(&list[1]), ["entity_id", "entity_ref", "entity_type", "group_ref", "identifying_metrics"]);
    let name = list[1]["identifying_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric_key"] == "property_name")
        .unwrap()
        .clone();
    assert_eq!(
        name,
        json!({"metric_key": "property_name", "metric_label": "Property name", "value_text": "Harbor Point", "support_multiple_values": false})
    );
    assert_eq!(list[0]["identifying_metrics"][0]["value_text"], "Harbor Point Acquisition");

    // Recording values: good ones are written, bad ones fail one by one.
    let facts = format!("/deals/{deal}/index/facts");
    let p = format!("property:{property}");
    let (s, out) = post(
        app,
        &facts,
        key,
        json!({"values": [
            {"metric_id": 33, "value": "615000", "entity_ref": p},
            {"metric_id": 40, "value": "0.93", "entity_ref": p},
            {"metric_id": 6, "value": "60%"},
            {"metric_id": 999, "value": "1"},
            {"metric_id": 22, "value": "many", "entity_ref": p},
            {"metric_id": 33, "value": "1", "entity_ref": format!("sponsor:{sponsor}")},
            {"metric_id": 33, "value": "1"},
            {"metric_id": 50, "value": "Beacon Holdings", "group_ref": "new-sponsor"},
            {"metric_id": 51, "value": "$40,000,000", "group_ref": "new-sponsor"},
            {"metric_id": 3, "value": "$11,500,000"},
        ]}),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    let d = &out["data"];
    assert_eq!(keys(d), ["error", "metric_sot_values", "results", "success"]);
    assert_eq!(d["success"], false);
    assert_eq!(d["error"], "5 of 10 values could not be recorded");
    let results = d["results"].as_array().unwrap();
    let ok: Vec<bool> = results.iter().map(|r| r["success"].as_bool().unwrap()).collect();
    assert_eq!(ok, [true, true, false, false, false, false, false, true, true, true]);
    assert!(results.iter().enumerate().all(|(i, r)| r["index"] == i as i64));
    assert_eq!(results[2]["error"], "Metric is not editable");
    assert_eq!(results[3]["error"], "Unknown metric_id");
    assert_eq!(results[2]["sot"], Value::Null);
    let sot = &results[0]["sot"];
    assert_eq!(
        (sot["value_text"].as_str(), sot["origin"].as_str(), sot["source_type"].as_str()),
        (Some("615000"), Some("user_input"), Some("user_input"))
    );
    assert_eq!(sot["entity_ref"], p.as_str());
    assert_eq!(results[7]["sot"]["group_ref"], "new-sponsor");
    assert_eq!(results[7]["sot"]["id"], format!("g:{}:new-sponsor", results[7]["sot"]["sot_id"]));
    assert_eq!(results[9]["sot"]["id"], format!("d:{}", results[9]["sot"]["sot_id"]));
    assert_eq!(d["metric_sot_values"].as_array().unwrap().len(), 5);

    // The grouped values show as an entity waiting to be created.
    let (_, ents) = get(app, &entities, key).await;
    let pending = ents["data"].as_array().unwrap().iter().find(|e| e["group_ref"] == "new-sponsor").unwrap().clone();
    assert_eq!((pending["entity_ref"].clone(), pending["entity_type"].as_str()), (Value::Null, Some("sponsor")));
    assert_eq!(pending["identifying_metrics"][0]["value_text"], "Beacon Holdings");

    // A person's manual value stands against later recorded values.
    let noi_sot = results[0]["sot"]["id"].as_str().unwrap().to_string();
    assert_eq!(patch(app, &facts, key, json!({"sot_id": noi_sot, "value": "620000"})).await.0, 200);
    let (_, again) =
        post(app, &facts, key, json!({"values": [{"metric_id": 33, "value": "630000", "entity_ref": p}]})).await;
    assert_eq!(again["data"]["success"], true);
    assert_eq!(again["data"]["results"][0]["sot"]["value_text"], "620000");
    assert_eq!(again["data"]["metric_sot_values"], json!([]));
    let (_, obs) = post(app, &format!("/deals/{deal}/index/observations"), key, json!({"sot_id": noi_sot})).await;
    assert_eq!(obs["data"].as_array().unwrap().len(), 2, "the value is still recorded as a candidate");

    for (body, message) in [
        (json!({"values": []}), "values must contain at least one item"),
        (json!({}), "values is required"),
        (json!({"values": [{"metric_id": 33, "value": " "}]}), "values[0].value must not be blank"),
        (json!({"values": [{"value": "1"}]}), "values[0].metric_id is required"),
        (json!({"values": [{"metric_id": 33, "value": "1", "entity_ref": "bad ref!"}]}), ""),
    ] {
        let (s, e) = post(app, &facts, key, body.clone()).await;
        assert_eq!(s, 422, "{body}: {e}");
        if !message.is_empty() {
            assert_eq!(e["error"]["message"], message);
        }
    }
    let many: Vec<Value> = (0..101).map(|_| json!({"metric_id": 33, "value": "1"})).collect();
    assert_eq!(post(app, &facts, key, json!({"values": many})).await.0, 422);
}

// ---------------------------------------------------------------------------------------------
// Scopes and tenancy
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn read_only_keys_and_viewers_read_but_cannot_write() {
    let r = room("scopes").await;
    let (app, deal) = (&r.app, r.deal);
    let (_, section) = checklist(app, &r.t, deal).await;
    let (_, task) = post(app, "/checklist-tasks", &r.t.key, json!({"title": "A", "section_id": section})).await;
    let task = task["data"]["id"].as_i64().unwrap();
    indexed(&r).await;
    let ro = app.key(r.t.user_id, &r.t.account, KeyPermission::ReadOnly).await;
    let viewer = {
        let u = app.user("viewer@scopes.test", None).await;
        app.member(u, r.t.account.id, Role::Viewer).await;
        app.key(u, &r.t.account, KeyPermission::FullAccess).await
    };

    for key in [&ro, &viewer] {
        for path in [
            format!("/deals/{deal}/vaults"),
            format!("/deals/{deal}/documents"),
            format!("/deals/{deal}/checklists"),
            format!("/deals/{deal}/memos"),
            format!("/deals/{deal}/index/metric-definitions"),
            format!("/deals/{deal}/index/entities"),
            format!("/checklist-tasks/{task}/notes"),
        ] {
            let (s, b) = get(app, &path, key).await;
            assert_eq!(s, 200, "{path}: {b}");
        }
        let (s, _) = post(app, &format!("/deals/{deal}/index/search"), key, json!({"context": "noi"})).await;
        assert_eq!(s, 200, "search is a read");
        let (s, _) = post(app, &format!("/deals/{deal}/index/observations"), key, json!({"metric_id": 33})).await;
        assert_eq!(s, 200, "observations are a read");

        // Writes: 403 naming the scope, before any lookup (a missing task is still 403).
        for (method, path, body, scope) in [
            ("POST", "/checklist-tasks".to_string(), json!({"title": "x", "section_id": section}), "checklists:write"),
            ("PATCH", format!("/checklist-tasks/{task}"), json!({"title": "x"}), "checklists:write"),
            ("PATCH", "/checklist-tasks/999999".to_string(), json!({"title": "x"}), "checklists:write"),
            ("POST", format!("/checklist-tasks/{task}/complete"), json!({}), "checklists:write"),
            ("POST", format!("/checklist-tasks/{task}/notes"), json!({"text": "x"}), "deals:write"),
            ("PATCH", format!("/checklist-tasks/{task}/notes/1"), json!({"text": "x"}), "deals:write"),
            ("DELETE", format!("/checklist-tasks/{task}/notes/1"), json!({}), "deals:write"),
            (
                "POST",
                format!("/deals/{deal}/index/facts"),
                json!({"values": [{"metric_id": 33, "value": "1"}]}),
                "deals:write",
            ),
            ("PATCH", format!("/deals/{deal}/index/facts"), json!({"sot_id": "d:1", "value": "1"}), "deals:write"),
            ("PATCH", "/deals/999999/index/facts".to_string(), json!({}), "deals:write"),
        ] {
            let req = app.req(method.parse().unwrap(), &path, key).json(&body);
            let (s, e) = parts(req.send().await.unwrap()).await;
            assert_eq!(s, 403, "{method} {path}: {e}");
            assert_error(&e, 403, "forbidden");
            assert_eq!(e["error"]["message"], format!("Missing required scope: {scope}"));
        }
    }
    // Nothing was written.
    let (_, t) = get(app, &format!("/deals/{deal}/checklists"), &r.t.key).await;
    assert_eq!(t["data"][0]["sections"][0]["tasks"][0]["title"], "A");
    assert_eq!(t["data"][0]["sections"][0]["tasks"][0]["is_completed"], false);
}

#[tokio::test]
async fn other_accounts_deal_data_is_invisible_and_untouched() {
    let r = room("owner").await;
    let (app, deal) = (&r.app, r.deal);
    let intruder = app.tenant_with("intruder", Tier::Enterprise, Role::Admin).await;
    let own_deal = app.create_deal(&intruder.key, json!({"title": "Mine"})).await["id"].as_i64().unwrap();
    let doc = add_doc(app, deal, Some("Deal Room"), None, "secret.pdf", b"secret").await;
    let doc_id = doc["id"].as_i64().unwrap();
    let vault_id = doc["vault"]["id"].as_i64().unwrap();
    let memo = add_memo(app, &r.t, deal, "Secret memo", "credit_memo", "published", vec![]).await;
    let (_, section) = checklist(app, &r.t, deal).await;
    let (_, task) = post(app, "/checklist-tasks", &r.t.key, json!({"title": "Private", "section_id": section})).await;
    let task = task["data"]["id"].as_i64().unwrap();
    let (_, note) = post(app, &format!("/checklist-tasks/{task}/notes"), &r.t.key, json!({"text": "mine"})).await;
    let note = note["data"]["id"].as_i64().unwrap();
    indexed(&r).await;
    let (_, found) = post(app, &format!("/deals/{deal}/index/search"), &r.t.key, json!({"context": "noi"})).await;
    let sot = found["data"][0]["id"].as_str().unwrap().to_string();
    let lists = app.store.list_checklists(r.t.account.id, deal, None).await.unwrap();
    let checklist_id = lists[0].id;

    let k = &intruder.key;
    for (method, path, body) in [
        ("GET", format!("/deals/{deal}/vaults"), Value::Null),
        ("GET", format!("/deals/{deal}/documents"), Value::Null),
        ("GET", format!("/deals/{deal}/documents/{doc_id}"), Value::Null),
        ("GET", format!("/deals/{deal}/documents/{doc_id}/download"), Value::Null),
        ("GET", format!("/deals/{own_deal}/documents/{doc_id}"), Value::Null),
        ("GET", format!("/deals/{own_deal}/documents/{doc_id}/download"), Value::Null),
        ("GET", format!("/deals/{own_deal}/documents?vault_id={vault_id}"), Value::Null),
        ("GET", format!("/deals/{deal}/checklists"), Value::Null),
        ("GET", format!("/deals/{deal}/memos"), Value::Null),
        ("GET", format!("/deals/{deal}/memos/{memo}"), Value::Null),
        ("GET", format!("/deals/{own_deal}/memos/{memo}"), Value::Null),
        ("GET", format!("/deals/{deal}/index/metric-definitions"), Value::Null),
        ("GET", format!("/deals/{deal}/index/entities"), Value::Null),
        ("POST", format!("/deals/{deal}/index/search"), json!({"context": "noi"})),
        ("POST", format!("/deals/{deal}/index/observations"), json!({"sot_id": sot})),
        ("POST", format!("/deals/{own_deal}/index/observations"), json!({"sot_id": sot})),
        ("POST", format!("/deals/{deal}/index/facts"), json!({"values": [{"metric_id": 33, "value": "1"}]})),
        ("PATCH", format!("/deals/{deal}/index/facts"), json!({"sot_id": sot, "value": "1"})),
        ("PATCH", format!("/deals/{own_deal}/index/facts"), json!({"sot_id": sot, "value": "1"})),
        ("POST", "/checklist-tasks".to_string(), json!({"title": "x", "section_id": section})),
        ("POST", "/checklist-tasks".to_string(), json!({"title": "x", "checklist_id": checklist_id})),
        ("POST", "/checklist-tasks".to_string(), json!({"title": "x", "parent_task_id": task})),
        ("PATCH", format!("/checklist-tasks/{task}"), json!({"title": "stolen", "is_completed": false})),
        ("POST", format!("/checklist-tasks/{task}/complete"), json!({})),
        ("GET", format!("/checklist-tasks/{task}/notes"), Value::Null),
        ("POST", format!("/checklist-tasks/{task}/notes"), json!({"text": "x"})),
        ("PATCH", format!("/checklist-tasks/{task}/notes/{note}"), json!({"text": "x"})),
        ("DELETE", format!("/checklist-tasks/{task}/notes/{note}"), Value::Null),
    ] {
        let mut req = app.req(method.parse().unwrap(), &path, k);
        if !body.is_null() {
            req = req.json(&body);
        }
        let (s, e) = parts(req.send().await.unwrap()).await;
        assert_eq!(s, 404, "{method} {path}: {e}");
        assert_error(&e, 404, "not_found");
    }

    // Everything is as the owner left it.
    let key = &r.t.key;
    let (_, lists) = get(app, &format!("/deals/{deal}/checklists"), key).await;
    let t = &lists["data"][0]["sections"][0]["tasks"];
    assert_eq!(t.as_array().unwrap().len(), 1);
    assert_eq!((t[0]["title"].as_str(), t[0]["is_completed"].as_bool()), (Some("Private"), Some(false)));
    let (_, notes) = get(app, &format!("/checklist-tasks/{task}/notes"), key).await;
    assert_eq!(notes["data"][0]["text"], "mine");
    let (_, again) = post(app, &format!("/deals/{deal}/index/search"), key, json!({"context": "noi"})).await;
    assert_eq!(again["data"][0]["value_text"], found["data"][0]["value_text"]);
    assert_eq!(again["data"][0]["needs_review"], found["data"][0]["needs_review"]);
    let (_, docs) = get(app, &format!("/deals/{own_deal}/documents"), k).await;
    assert_eq!(docs["data"], json!([]));
}
