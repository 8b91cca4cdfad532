//! Idempotency keys (`docs/api.md#idempotency`): replay, conflicts, races, scope.
use levd_domain::scope::{KeyPermission, Role};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

async fn deal_count(app: &TestApp, key: &str) -> i64 {
    let (_, b) = parts(app.get("/deals?limit=1", key).send().await.unwrap()).await;
    b["pagination"]["total"].as_i64().unwrap()
}

#[tokio::test]
async fn a_repeat_replays_the_first_response() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let send = || app.post_json("/deals", &t.key, &json!({"title": "Once"})).header("Idempotency-Key", "k-1").send();
    let r1 = send().await.unwrap();
    assert!(r1.headers().get("idempotent-replayed").is_none());
    let (s1, b1) = parts(r1).await;
    let r2 = send().await.unwrap();
    assert_eq!(r2.headers()["idempotent-replayed"], "true");
    let (s2, b2) = parts(r2).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(b1, b2);
    assert_eq!(deal_count(&app, &t.key).await, 1);
    // Through the /build alias it is the same request.
    let r3 = app
        .post_json("/build/deals", &t.key, &json!({"title": "Once"}))
        .header("Idempotency-Key", "k-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r3.headers()["idempotent-replayed"], "true");
    assert_eq!(deal_count(&app, &t.key).await, 1);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_a_conflict() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let r =
        app.post_json("/deals", &t.key, &json!({"title": "A"})).header("Idempotency-Key", "k").send().await.unwrap();
    assert_eq!(r.status(), 201);
    let (s, b) = parts(
        app.post_json("/deals", &t.key, &json!({"title": "B"})).header("Idempotency-Key", "k").send().await.unwrap(),
    )
    .await;
    assert_eq!(s, 409);
    assert_error(&b, 409, "conflict");
    let (s, _) = parts(
        app.patch_json("/deals/1", &t.key, &json!({"title": "A"})).header("Idempotency-Key", "k").send().await.unwrap(),
    )
    .await;
    assert_eq!(s, 409);
    assert_eq!(deal_count(&app, &t.key).await, 1);
}

/// The same JSON value sent with other white space, member order or number spelling is the
/// same request; a different value under the key is still a conflict.
#[tokio::test]
async fn a_reserialised_body_replays_and_another_value_conflicts() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let send = |body: &'static str| {
        app.req(Method::POST, "/deals", &t.key)
            .header("content-type", "application/json")
            .header("Idempotency-Key", "same-value")
            .body(body)
            .send()
    };
    let (s1, b1) = parts(send(r#"{"title":"Same","loan_amount":2500000}"#).await.unwrap()).await;
    assert_eq!(s1, 201, "{b1}");
    for variant in [
        "{ \"loan_amount\" : 2500000 ,\n  \"title\" : \"Same\" }",
        r#"{"title":"Same","loan_amount":2500000.0}"#,
        r#"{"loan_amount":2.5e6,"title":"S\u0061me"}"#,
    ] {
        let r = send(variant).await.unwrap();
        assert_eq!(r.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"), "{variant}");
        let (s, b) = parts(r).await;
        assert_eq!((s, &b["data"]["id"]), (201, &b1["data"]["id"]), "{variant}");
    }
    let (s, b) = parts(send(r#"{"title":"Same","loan_amount":2500001}"#).await.unwrap()).await;
    assert_eq!(s, 409, "{b}");
    assert_error(&b, 409, "conflict");
    assert_eq!(deal_count(&app, &t.key).await, 1);
}

#[tokio::test]
async fn client_errors_are_stored_and_replayed_too() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let send = || app.post_json("/deals", &t.key, &json!({"title": ""})).header("Idempotency-Key", "bad").send();
    let (s1, b1) = parts(send().await.unwrap()).await;
    let r2 = send().await.unwrap();
    assert_eq!(r2.headers()["idempotent-replayed"], "true");
    let (s2, b2) = parts(r2).await;
    assert_eq!((s1, s2), (422, 422));
    assert_eq!(b1, b2);
}

#[tokio::test]
async fn racing_duplicates_execute_exactly_once() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let req = app.post_json("/deals", &t.key, &json!({"title": "Race"})).header("Idempotency-Key", "race-1");
        tasks.push(tokio::spawn(async move { parts(req.send().await.unwrap()).await }));
    }
    let mut created_ids = Vec::new();
    for task in tasks {
        let (s, b) = task.await.unwrap();
        match s {
            201 => created_ids.push(b["data"]["id"].clone()),
            409 => assert!(b["error"]["message"].as_str().unwrap().contains("in progress"), "{b}"),
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert!(!created_ids.is_empty());
    assert!(created_ids.iter().all(|id| *id == created_ids[0]), "{created_ids:?}");
    assert_eq!(deal_count(&app, &t.key).await, 1);
}

#[tokio::test]
async fn keys_are_scoped_per_account_and_user() {
    let app = spawn().await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("beta").await;
    let u2 = app.user("second@alpha.test", None).await;
    app.member(u2, a.account.id, Role::Member).await;
    let a2 = app.key(u2, &a.account, KeyPermission::FullAccess).await;
    for key in [&a.key, &b.key, &a2] {
        let (s, _) = parts(
            app.post_json("/deals", key, &json!({"title": "Same"}))
                .header("Idempotency-Key", "shared")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 201);
    }
    assert_eq!(deal_count(&app, &a.key).await, 2);
    assert_eq!(deal_count(&app, &b.key).await, 1);
}

#[tokio::test]
async fn malformed_keys_are_rejected_and_deletes_are_covered() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    for bad in ["x".repeat(256), "has space".to_string()] {
        let (s, b) = parts(
            app.post_json("/deals", &t.key, &json!({"title": "A"}))
                .header("Idempotency-Key", bad.as_str())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 400, "{bad}");
        assert_error(&b, 400, "bad_request");
    }
    assert_eq!(deal_count(&app, &t.key).await, 0);
    let d = app.create_deal(&t.key, json!({"title": "To archive"})).await;
    let path = format!("/deals/{}", d["id"]);
    let first = body_json(app.req(Method::DELETE, &path, &t.key).header("Idempotency-Key", "del")).await;
    let r = app.req(Method::DELETE, &path, &t.key).header("Idempotency-Key", "del").send().await.unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let second: Value = r.json().await.unwrap();
    assert_eq!(first, second);
}

fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    match levd_domain::canonical_json::canonical_json(body) {
        Some(c) => {
            h.update(b"json\0");
            h.update(c.as_bytes());
        }
        None => {
            h.update(b"raw\0");
            h.update(body);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A key claimed by a request still running (here: a unit of work opened through the store of
/// this node, or on PostgreSQL of another node, which only the key's advisory lock tells) is
/// "in progress"; once that unit ends without committing, nothing of it remains and the key
/// executes.
#[tokio::test]
async fn a_running_claim_is_in_progress_and_a_dead_one_leaves_nothing() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let body = serde_json::to_vec(&json!({"title": "Held"})).unwrap();
    let fp = fingerprint("POST", "/deals", &body);
    let holder = if postgres_admin_url().is_some() {
        levd_store::Store::open(&app.db_url).await.unwrap()
    } else {
        app.store.clone()
    };
    let claim = holder.claim_idempotency_key(t.account.id, t.user_id, "held-1", &fp, "1970-01-01T00:00:00Z").await;
    let levd_store::Claim::Claimed(unit) = claim.unwrap() else { panic!("the key was free") };
    let send = || {
        app.req(Method::POST, "/deals", &t.key)
            .header("content-type", "application/json")
            .header("Idempotency-Key", "held-1")
            .body(body.clone())
            .send()
    };
    let (s, b) = parts(send().await.unwrap()).await;
    assert_eq!(s, 409, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("in progress"), "{b}");
    // The holder dies: its unit ends without a commit.
    drop(unit);
    let r = send().await.unwrap();
    assert!(r.headers().get("idempotent-replayed").is_none());
    let (s, b) = parts(r).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(deal_count(&app, &t.key).await, 1);
}

/// A refusal recorded for a key leaves none of the writes made before it: the unit keeps the
/// answer and undoes the rest, and the retry replays the refusal.
#[tokio::test]
async fn a_refusal_keeps_no_write_made_before_it() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let body = serde_json::to_vec(&json!({"title": "Half done"})).unwrap();
    let fp = fingerprint("POST", "/deals", &body);
    let claim = app.store.claim_idempotency_key(t.account.id, t.user_id, "half-1", &fp, "1970-01-01T00:00:00Z").await;
    let levd_store::Claim::Claimed(unit) = claim.unwrap() else { panic!("the key was free") };
    let now = levd_domain::time_fmt::now_rfc3339();
    let input = levd_domain::deal::parse_new_deal(&serde_json::from_slice(&body).unwrap()).unwrap();
    unit.store().insert_deal(t.account.id, &input, &now).await.unwrap();
    let refusal = r#"{"error":{"status":422}}"#;
    unit.commit_with_answer(false, 422, refusal, &now).await.unwrap();
    assert_eq!(deal_count(&app, &t.key).await, 0);
    let r = app
        .req(Method::POST, "/deals", &t.key)
        .header("content-type", "application/json")
        .header("Idempotency-Key", "half-1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(r.status(), 422);
    assert_eq!(r.text().await.unwrap(), refusal);
    assert_eq!(deal_count(&app, &t.key).await, 0);
}
