//! Deal notes: list, add, edit, delete for good; parent and account checks.
use levd_domain::scope::KeyPermission;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn deal_notes_lifecycle() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let d = app.create_deal(&t.key, json!({"title": "Noted"})).await;
    let base = format!("/deals/{}/notes", d["id"]);
    let (s, n) =
        parts(app.post_json(&base, &t.key, &json!({"text": "Lender call moved to Friday."})).send().await.unwrap())
            .await;
    assert_eq!(s, 201);
    let note = &n["data"];
    assert_eq!(note["text"], "Lender call moved to Friday.");
    assert_eq!(note["created_by"]["id"], t.user_id);
    assert_eq!(note["created_by"]["name"], "Test User");
    assert!(note["created_at"].as_str().unwrap().ends_with('Z'));
    let id = note["id"].as_i64().unwrap();
    for i in 0..3 {
        app.post_json(&base, &t.key, &json!({"text": format!("n{i}")})).send().await.unwrap();
    }
    let (_, page) = parts(app.get(&format!("{base}?limit=2"), &t.key).send().await.unwrap()).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["pagination"]["total"], 4);
    assert_eq!(page["pagination"]["has_more"], true);
    let next = page["pagination"]["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = parts(app.get(&format!("{base}?limit=2&cursor={next}"), &t.key).send().await.unwrap()).await;
    assert_eq!(page2["data"][1]["text"], "n2");
    assert_eq!(page2["pagination"]["has_more"], false);

    let (s, e) =
        parts(app.patch_json(&format!("{base}/{id}"), &t.key, &json!({"text": "Monday."})).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(e["data"]["text"], "Monday.");
    let (s, _) =
        parts(app.patch_json(&format!("{base}/{id}"), &t.key, &json!({"text": ""})).send().await.unwrap()).await;
    assert_eq!(s, 400);
    let (s, b) =
        parts(app.patch_json(&format!("{base}/{id}"), &t.key, &json!({"text": "   "})).send().await.unwrap()).await;
    assert_eq!(s, 422);
    assert_error(&b, 422, "validation_error");
    let (s, _) = parts(app.post_json(&base, &t.key, &json!({})).send().await.unwrap()).await;
    assert_eq!(s, 422);
    // An edit without the required `text` is a 422 that names the field.
    let (s, b) = parts(app.patch_json(&format!("{base}/{id}"), &t.key, &json!({})).send().await.unwrap()).await;
    assert_eq!(s, 422, "{b}");
    assert_error(&b, 422, "validation_error");
    assert_eq!(b["error"]["details"]["fields"]["text"], "is required", "{b}");

    let (s, del) = parts(app.delete(&format!("{base}/{id}"), &t.key).send().await.unwrap()).await;
    assert_eq!((s, del["data"].clone()), (200, json!({"deleted": true})));
    let (s, _) = parts(app.delete(&format!("{base}/{id}"), &t.key).send().await.unwrap()).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn deal_notes_respect_parent_account_and_scope() {
    let app = spawn().await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("beta").await;
    let da = app.create_deal(&a.key, json!({"title": "A"})).await;
    let db = app.create_deal(&b.key, json!({"title": "B"})).await;
    let (_, n) = parts(
        app.post_json(&format!("/deals/{}/notes", db["id"]), &b.key, &json!({"text": "secret"})).send().await.unwrap(),
    )
    .await;
    let nid = n["data"]["id"].as_i64().unwrap();
    // Another account's deal, and a note under the wrong deal: 404, note unchanged.
    for (m, path) in [
        ("GET", format!("/deals/{}/notes", db["id"])),
        ("POST", format!("/deals/{}/notes", db["id"])),
        ("PATCH", format!("/deals/{}/notes/{nid}", db["id"])),
        ("DELETE", format!("/deals/{}/notes/{nid}", db["id"])),
        ("PATCH", format!("/deals/{}/notes/{nid}", da["id"])),
        ("DELETE", format!("/deals/{}/notes/{nid}", da["id"])),
    ] {
        let req = app.req(m.parse().unwrap(), &path, &a.key).json(&json!({"text": "x"}));
        let (s, body) = parts(req.send().await.unwrap()).await;
        assert_eq!(s, 404, "{m} {path}: {body}");
    }
    let (_, list) = parts(app.get(&format!("/deals/{}/notes", db["id"]), &b.key).send().await.unwrap()).await;
    assert_eq!(list["data"][0]["text"], "secret");
    // A read-only key reads notes but cannot write them.
    let ro = app.key(a.user_id, &a.account, KeyPermission::ReadOnly).await;
    assert_eq!(app.get(&format!("/deals/{}/notes", da["id"]), &ro).send().await.unwrap().status(), 200);
    let (s, b2) =
        parts(app.post_json(&format!("/deals/{}/notes", da["id"]), &ro, &json!({"text": "x"})).send().await.unwrap())
            .await;
    assert_eq!(s, 403);
    assert_eq!(b2["error"]["message"], "Missing required scope: deals:write");
}
