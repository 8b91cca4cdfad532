//! API keys: create, list, revoke, ceilings, validation, usage tracking and storage (`docs/auth.md#api-keys`).
use levd_domain::limits::RateLimitConfig;
use levd_domain::scope::{KeyPermission, Role, Tier};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn create_shows_the_secret_once_and_it_works() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let (s, b) =
        parts(app.post_json("/api-keys", &t.key, &json!({"label": "Nightly sync"})).send().await.unwrap()).await;
    assert_eq!(s, 201);
    let d = &b["data"];
    let secret = d["api_key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("lev_sk_") && secret.len() >= 50, "{secret}");
    assert_eq!(d["key_prefix"].as_str().unwrap(), &secret[..11]);
    assert_eq!(d["label"], "Nightly sync");
    assert_eq!(d["last_used_at"], Value::Null);
    assert!(d["id"].is_i64());
    // The new key authenticates, for the same account.
    let (s, me) = parts(app.get("/me", &secret).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(me["data"]["account"]["slug"], "acme");
    // Listed without its secret.
    let (s, list) = parts(app.get("/api-keys", &t.key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|k| k.get("api_key").is_none()));
    assert_eq!(list["pagination"]["total"], 2);
}

#[tokio::test]
async fn create_validates_and_checks_role_and_permission() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    for body in [
        json!({}),
        json!({"label": ""}),
        json!({"label": "x".repeat(256)}),
        json!({"label": 5}),
        json!({"label": "ok", "permission": "root"}),
    ] {
        let (s, b) = parts(app.post_json("/api-keys", &t.key, &body).send().await.unwrap()).await;
        assert_eq!(s, 422, "{body}");
        assert_error(&b, 422, "validation_error");
    }
    let (s, b) = parts(
        app.post_json("/api-keys", &t.key, &json!({"label": "ro", "permission": "read_only"})).send().await.unwrap(),
    )
    .await;
    assert_eq!(s, 201);
    let ro = b["data"]["api_key"].as_str().unwrap().to_string();
    let (_, me) = parts(app.get("/me", &ro).send().await.unwrap()).await;
    assert!(
        me["data"]["platform"]["granted_scopes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.as_str().unwrap().ends_with(":read"))
    );
    // A read_only key creates nothing; a non-admin member neither.
    let (s, _) = parts(app.post_json("/api-keys", &ro, &json!({"label": "x"})).send().await.unwrap()).await;
    assert_eq!(s, 403);
    let m = app.tenant_with("members", Tier::Enterprise, Role::Member).await;
    let (s, b) = parts(app.post_json("/api-keys", &m.key, &json!({"label": "x"})).send().await.unwrap()).await;
    assert_eq!(s, 403);
    assert_error(&b, 403, "forbidden");
    let (s, _) = parts(app.delete(&format!("/api-keys/{}", 1), &m.key).send().await.unwrap()).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn tier_ceilings_count_active_keys_only() {
    let app = spawn().await;
    let t = app.tenant_with("small", Tier::Free, Role::Admin).await; // one key already (harness)
    let (s, b) = parts(app.post_json("/api-keys", &t.key, &json!({"label": "second"})).send().await.unwrap()).await;
    assert_eq!(s, 201);
    let second_id = b["data"]["id"].as_i64().unwrap();
    let (s, b) = parts(app.post_json("/api-keys", &t.key, &json!({"label": "third"})).send().await.unwrap()).await;
    assert_eq!(s, 422);
    assert_error(&b, 422, "validation_error");
    let (_, me) = parts(app.get("/me", &t.key).send().await.unwrap()).await;
    assert_eq!(me["data"]["platform"]["api_keys"], json!({"current_count": 2, "max_allowed": 2}));
    // Revoking frees a slot.
    assert_eq!(app.delete(&format!("/api-keys/{second_id}"), &t.key).send().await.unwrap().status(), 200);
    let (s, _) = parts(app.post_json("/api-keys", &t.key, &json!({"label": "third"})).send().await.unwrap()).await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn revocation_is_effective_on_the_next_request() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let (_, b) = parts(app.post_json("/api-keys", &t.key, &json!({"label": "victim"})).send().await.unwrap()).await;
    let id = b["data"]["id"].as_i64().unwrap();
    let victim = b["data"]["api_key"].as_str().unwrap().to_string();
    // Warm every cache with the key first.
    for _ in 0..3 {
        assert_eq!(app.get("/me", &victim).send().await.unwrap().status(), 200);
    }
    let (s, b) = parts(app.delete(&format!("/api-keys/{id}"), &t.key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"], json!({"deleted": true}));
    let (s, b) = parts(app.get("/me", &victim).send().await.unwrap()).await;
    assert_eq!(s, 401);
    assert_eq!(b["error"]["message"], "Invalid or expired authentication token");
    // Gone from the list; a second revoke is 404.
    let (_, list) = parts(app.get("/api-keys", &t.key).send().await.unwrap()).await;
    assert!(list["data"].as_array().unwrap().iter().all(|k| k["id"] != id));
    let (s, _) = parts(app.delete(&format!("/api-keys/{id}"), &t.key).send().await.unwrap()).await;
    assert_eq!(s, 404);
    // A key can revoke itself.
    let (s, _) = parts(app.delete(&format!("/api-keys/{}", 1), &t.key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(app.get("/me", &t.key).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn keys_of_other_accounts_are_invisible() {
    let app = spawn().await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("beta").await;
    let (_, list) = parts(app.get("/api-keys", &b.key).send().await.unwrap()).await;
    let b_key_id = list["data"][0]["id"].as_i64().unwrap();
    let (s, body) = parts(app.delete(&format!("/api-keys/{b_key_id}"), &a.key).send().await.unwrap()).await;
    assert_eq!(s, 404);
    assert_error(&body, 404, "not_found");
    assert_eq!(app.get("/me", &b.key).send().await.unwrap().status(), 200);
    let (_, la) = parts(app.get("/api-keys?scope=account", &a.key).send().await.unwrap()).await;
    assert!(la["data"].as_array().unwrap().iter().all(|k| k["id"] != b_key_id));
}

#[tokio::test]
async fn list_shows_own_keys_unless_an_admin_asks_for_the_account() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let u2 = app.user("member@acme.test", None).await;
    app.member(u2, t.account.id, Role::Member).await;
    let member_key = app.key(u2, &t.account, KeyPermission::FullAccess).await;
    let (_, own) = parts(app.get("/api-keys", &t.key).send().await.unwrap()).await;
    assert_eq!(own["data"].as_array().unwrap().len(), 1);
    let (_, all) = parts(app.get("/api-keys?scope=account", &t.key).send().await.unwrap()).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    let (s, _) = parts(app.get("/api-keys?scope=account", &member_key).send().await.unwrap()).await;
    assert_eq!(s, 403);
    let (s, mine) = parts(app.get("/api-keys", &member_key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    let (s, _) = parts(app.get("/api-keys?limit=500", &t.key).send().await.unwrap()).await;
    assert_eq!(s, 422);
    let (_, page) = parts(app.get("/api-keys?scope=account&limit=1&offset=1", &t.key).send().await.unwrap()).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["pagination"]["offset"], 1);
    assert_eq!(page["pagination"]["has_more"], false);
}

#[tokio::test]
async fn last_used_at_is_recorded() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let (_, b) = parts(app.post_json("/api-keys", &t.key, &json!({"label": "used"})).send().await.unwrap()).await;
    let (id, k) = (b["data"]["id"].clone(), b["data"]["api_key"].as_str().unwrap().to_string());
    app.get("/deals", &k).send().await.unwrap();
    let mut seen = Value::Null;
    for _ in 0..50 {
        let (_, list) = parts(app.get("/api-keys", &t.key).send().await.unwrap()).await;
        seen = list["data"].as_array().unwrap().iter().find(|x| x["id"] == id).unwrap()["last_used_at"].clone();
        if !seen.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen.as_str().unwrap().ends_with('Z'), "{seen}");
}

#[tokio::test]
async fn validate_api_key_reports_validity_without_auth() {
    let app = spawn().await;
    let t = app.tenant_with("acme", Tier::Standard, Role::Admin).await;
    let url = app.url("/auth/validate-api-key");
    let post = |body: Value| app.client.post(&url).header("X-Origin-App", "t").json(&body).send();
    let (s, b) = parts(post(json!({"api_key": t.key})).await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["valid"], true);
    assert_eq!(b["data"]["user_id"], t.user_id);
    assert_eq!(b["data"]["account_id"], t.account.id);
    assert_eq!(b["data"]["tier"], "standard");
    assert_eq!(b["data"]["scopes"].as_array().unwrap().len(), 12);
    for bad in [json!({"api_key": "lev_sk_nope"}), json!({"api_key": "eyJ.x.y"}), json!({"api_key": ""})] {
        let (s, b) = parts(post(bad).await.unwrap()).await;
        assert_eq!((s, b["data"].clone()), (200, json!({"valid": false})));
    }
    let (s, b) = parts(post(json!({"api_key": 7})).await.unwrap()).await;
    assert_eq!(s, 400);
    assert_error(&b, 400, "bad_request");
    let (s, _) = parts(
        app.client
            .post(&url)
            .header("X-Origin-App", "t")
            .header("content-type", "application/json")
            .body("{oops")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    // No body: the bearer header is the key.
    let (s, b) =
        parts(app.client.post(&url).header("X-Origin-App", "t").bearer_auth(&t.key).send().await.unwrap()).await;
    assert_eq!((s, b["data"]["valid"].clone()), (200, json!(true)));
    // Revoked keys are invalid.
    app.store.revoke_key(1, None, None, "2026-01-01T00:00:00Z").await.unwrap();
    let (_, b) = parts(post(json!({"api_key": t.key})).await.unwrap()).await;
    assert_eq!(b["data"], json!({"valid": false}));
    // X-Origin-App is still required (`docs/api.md#origin-app`).
    let (s, _) = parts(app.client.post(&url).json(&json!({"api_key": "x"})).send().await.unwrap()).await;
    assert_eq!(s, 400);
}

/// Whoever holds a key may revoke it, without any other credential and without learning whose
/// key it was; the key stops working on the next request.
#[tokio::test]
async fn a_leaked_key_is_revoked_by_whoever_holds_it() {
    let app = spawn().await;
    let t = app.tenant_with("acme", Tier::Standard, Role::Admin).await;
    let (s, b) = parts(app.post_json("/api-keys", &t.key, &json!({"label": "leaky"})).send().await.unwrap()).await;
    assert_eq!(s, 201, "{b}");
    let leaked = b["data"]["api_key"].as_str().unwrap().to_string();
    let url = app.url("/api-keys/revoke");
    // No credential and no X-Origin-App needed.
    let revoke = |body: Value| app.client.post(&url).json(&body).send();
    let (s, b) = parts(revoke(json!({"api_key": leaked})).await.unwrap()).await;
    assert_eq!((s, b["data"].clone()), (200, json!({"revoked": true})), "{b}");
    let (s, _) = parts(app.get("/me", &leaked).send().await.unwrap()).await;
    assert_eq!(s, 401, "the revoked key no longer authenticates");
    let (s, _) = parts(app.get("/me", &t.key).send().await.unwrap()).await;
    assert_eq!(s, 200, "the other keys of the account keep working");
    // Already revoked, unknown and malformed keys answer the same shape with false.
    for other in [json!(leaked), json!("lev_sk_nope"), json!("eyJ.x.y")] {
        let (s, b) = parts(revoke(json!({"api_key": other})).await.unwrap()).await;
        assert_eq!((s, b["data"].clone()), (200, json!({"revoked": false})), "{other}");
    }
    // A body without the key names the missing field.
    let (s, b) = parts(revoke(json!({})).await.unwrap()).await;
    assert_eq!(s, 422, "{b}");
    assert!(b["error"]["details"]["fields"].get("api_key").is_some(), "{b}");
    // The operation is in levd's own document, as a public one.
    let (s, doc) = parts(app.client.get(app.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let op = &doc["paths"]["/api/external/v2/api-keys/revoke"]["post"];
    assert_eq!(op["security"], json!([]), "{op}");
    assert!(doc["components"]["schemas"]["ApiKeyRevocation"]["properties"]["revoked"].is_object());
}

/// The public revocation endpoint is limited per client address.
#[tokio::test]
async fn leaked_key_revocation_is_limited_per_address() {
    let app = spawn_with(Options { rate_limits: RateLimitConfig::default(), ..Options::default() }).await;
    let url = app.url("/api-keys/revoke");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = app.client.post(&url).json(&json!({"api_key": "lev_sk_nope"})).send().await.unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

/// Only digests are stored: no database file ever holds a key in plain text.
#[tokio::test]
async fn database_files_never_contain_a_plaintext_key() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let mut secrets = vec![t.key.clone()];
    for i in 0..3 {
        let (_, b) =
            parts(app.post_json("/api-keys", &t.key, &json!({"label": format!("k{i}")})).send().await.unwrap()).await;
        secrets.push(b["data"]["api_key"].as_str().unwrap().to_string());
    }
    for s in &secrets {
        assert_eq!(app.get("/me", s).send().await.unwrap().status(), 200);
        let _ = app
            .client
            .post(app.url("/auth/validate-api-key"))
            .header("X-Origin-App", "t")
            .json(&json!({"api_key": s}))
            .send()
            .await
            .unwrap();
    }
    if postgres_admin_url().is_some() {
        // On PostgreSQL, read every row of every table back as text.
        use sqlx::{Connection, Row};
        let mut conn = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert!(tables.contains(&"api_keys".to_string()));
        for t in tables {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT t::text FROM {t} t")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            for row in rows {
                let text: String = row.get(0);
                for s in &secrets {
                    assert!(!text.contains(&s["lev_sk_".len()..]), "table {t} holds key material");
                }
            }
        }
        return;
    }
    let dir = app.db_path.parent().unwrap().to_path_buf();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("lev.db") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        checked += 1;
        for s in &secrets {
            let body = &s["lev_sk_".len()..];
            for needle in [s.as_bytes(), body.as_bytes(), &body.as_bytes()[..24]] {
                assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{} holds key material", path.display());
            }
        }
    }
    assert!(checked >= 2, "expected the database and its WAL, saw {checked} files");
}
