//! `/me`, `/me/accounts`, `/me/active-account`, `/account/team`, account resolution (`docs/auth.md#active-account`) and
//! roles (`docs/auth.md#roles`).
use levd_domain::scope::{KeyPermission, Role, Tier};
use serde_json::json;

use crate::common::*;

const ACTIVE_REQUIRED: &str = "Active account required. Provide X-Active-Account header or use an API key.";

#[tokio::test]
async fn me_with_an_api_key_is_scoped_and_complete() {
    let app = spawn().await;
    let t = app.tenant_with("acme", Tier::Standard, Role::Admin).await;
    let (s, b) = parts(app.get("/me", &t.key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let d = &b["data"];
    for k in ["id", "uuid", "email", "first_name", "last_name", "full_name", "role", "photo_url", "last_login_at"] {
        assert!(d["user"].get(k).is_some(), "user.{k} missing: {d}");
    }
    assert_eq!(d["user"]["id"], t.user_id);
    assert_eq!(d["user"]["full_name"], "Test User");
    assert_eq!(d["user"]["role"], "admin");
    assert_eq!(
        d["account"],
        json!({"id": t.account.id, "name": "acme name", "slug": "acme", "account_type": "brokerage"})
    );
    assert!(d["profile"].is_object());
    assert_eq!(d["subscription"]["status"], "active");
    let p = &d["platform"];
    assert_eq!(p["api_tier"], "standard");
    assert_eq!(p["api_keys"], json!({"current_count": 1, "max_allowed": 10}));
    assert_eq!(p["rate_limits"]["requests_per_minute"], 100);
    assert_eq!(p["rate_limits"]["requests_per_minute_per_endpoint"], 20);
    assert_eq!(p["granted_scopes"].as_array().unwrap().len(), 12);
}

#[tokio::test]
async fn read_only_keys_and_viewers_hold_read_scopes_only() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let ro = app.key(t.user_id, &t.account, KeyPermission::ReadOnly).await;
    let (_, b) = parts(app.get("/me", &ro).send().await.unwrap()).await;
    let scopes: Vec<String> = serde_json::from_value(b["data"]["platform"]["granted_scopes"].clone()).unwrap();
    assert!(scopes.iter().all(|s| s.ends_with(":read")), "{scopes:?}");
    assert!(scopes.contains(&"deals:read".to_string()));
    let (s, b) = parts(app.post_json("/deals", &ro, &json!({"title": "x"})).send().await.unwrap()).await;
    assert_eq!(s, 403);
    assert_eq!(assert_error(&b, 403, "forbidden")["message"], "Missing required scope: deals:write");
    // The scope check comes before any lookup, even of an id that cannot exist.
    for path in ["/deals/999", "/deals/abc"] {
        let (s, _) = parts(app.patch_json(path, &ro, &json!({"title": "x"})).send().await.unwrap()).await;
        assert_eq!(s, 403, "{path}");
        let (s, _) = parts(app.delete(path, &ro).send().await.unwrap()).await;
        assert_eq!(s, 403, "{path}");
    }
}

#[tokio::test]
async fn a_demoted_users_keys_shrink_at_once_and_a_removed_member_gets_401() {
    let app = spawn().await;
    let t = app.tenant_with("acme", Tier::Enterprise, Role::Member).await;
    assert_eq!(app.post_json("/deals", &t.key, &json!({"title": "a"})).send().await.unwrap().status(), 201);
    app.member(t.user_id, t.account.id, Role::Viewer).await;
    // The change was made in the database by another party: the epoch poll picks it up.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(app.post_json("/deals", &t.key, &json!({"title": "b"})).send().await.unwrap().status(), 403);
    assert_eq!(app.get("/deals", &t.key).send().await.unwrap().status(), 200);
    app.store.remove_membership(t.user_id, t.account.id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (s, b) = parts(app.get("/deals", &t.key).send().await.unwrap()).await;
    assert_eq!(s, 401);
    assert_error(&b, 401, "unauthorized");
}

async fn two_account_user(app: &TestApp) -> (Tenant, Tenant, String) {
    let a = app.tenant("alpha").await;
    let b = app.tenant("beta").await;
    let uid = app.user("multi@x.test", Some("sub-multi")).await;
    app.member(uid, a.account.id, Role::Admin).await;
    app.member(uid, b.account.id, Role::Viewer).await;
    (a, b, jwt_for("sub-multi"))
}

#[tokio::test]
async fn multi_account_jwt_users_must_name_an_account() {
    let app = spawn().await;
    let (a, b, jwt) = two_account_user(&app).await;
    app.create_deal(&a.key, json!({"title": "in alpha"})).await;
    app.create_deal(&b.key, json!({"title": "in beta"})).await;

    let (s, body) = parts(app.get("/deals", &jwt).send().await.unwrap()).await;
    assert_eq!(s, 400);
    assert_eq!(assert_error(&body, 400, "bad_request")["message"], ACTIVE_REQUIRED);

    let (s, body) = parts(app.get("/deals", &jwt).header("X-Active-Account", "alpha").send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(body["data"][0]["title"], "in alpha");
    let (_, body) = parts(app.get("/deals", &jwt).header("X-Active-Account", "beta").send().await.unwrap()).await;
    assert_eq!(body["data"][0]["title"], "in beta");
    // Viewer on beta: cannot write there, can write on alpha.
    let r =
        app.post_json("/deals", &jwt, &json!({"title": "x"})).header("X-Active-Account", "beta").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r =
        app.post_json("/deals", &jwt, &json!({"title": "x"})).header("X-Active-Account", "alpha").send().await.unwrap();
    assert_eq!(r.status(), 201);

    // Foreign and unknown slugs get one and the same answer.
    app.tenant("gamma").await;
    let (s1, b1) = parts(app.get("/deals", &jwt).header("X-Active-Account", "gamma").send().await.unwrap()).await;
    let (s2, b2) =
        parts(app.get("/deals", &jwt).header("X-Active-Account", "no-such-acct").send().await.unwrap()).await;
    assert_eq!((s1, s2), (403, 403));
    assert_eq!(b1["error"]["message"], b2["error"]["message"]);
}

#[tokio::test]
async fn api_keys_ignore_x_active_account() {
    let app = spawn().await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("beta").await;
    app.create_deal(&b.key, json!({"title": "beta deal"})).await;
    let (s, body) = parts(app.get("/deals", &a.key).header("X-Active-Account", "beta").send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
    let (_, me) = parts(app.get("/me", &a.key).header("X-Active-Account", "beta").send().await.unwrap()).await;
    assert_eq!(me["data"]["account"]["slug"], "alpha");
}

#[tokio::test]
async fn single_account_jwt_users_need_no_header() {
    let app = spawn().await;
    let t = app.tenant("solo").await;
    let jwt = jwt_for(&t.subject);
    let (s, b) = parts(app.get("/me", &jwt).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["account"]["slug"], "solo");
    assert_eq!(app.get("/deals", &jwt).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn me_unscoped_lists_accounts_and_active_account_preference_sticks() {
    let app = spawn().await;
    let (_, _, jwt) = two_account_user(&app).await;
    let (s, b) = parts(app.get("/me", &jwt).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert!(b["data"]["user"]["email"].is_string());
    let slugs: Vec<&str> =
        b["data"]["available_accounts"].as_array().unwrap().iter().map(|a| a["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["alpha", "beta"]);
    assert!(b["data"].get("platform").is_none());

    let (s, b) = parts(app.get("/me/accounts", &jwt).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["accounts"].as_array().unwrap().len(), 2);

    let (s, b) = parts(app.patch_json("/me/active-account", &jwt, &json!({})).send().await.unwrap()).await;
    assert_eq!(s, 400);
    assert_eq!(b["error"]["message"], "slug is required");
    let (s, b) =
        parts(app.patch_json("/me/active-account", &jwt, &json!({"slug": "gamma"})).send().await.unwrap()).await;
    assert_eq!(s, 404);
    assert_eq!(b["error"]["message"], "Account not found or user is not a member");
    let (s, b) =
        parts(app.patch_json("/me/active-account", &jwt, &json!({"slug": "beta"})).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["active_account"]["slug"], "beta");

    // Now requests without the header act for beta; the header still wins.
    let (s, me) = parts(app.get("/me", &jwt).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(me["data"]["account"]["slug"], "beta");
    assert_eq!(app.get("/deals", &jwt).send().await.unwrap().status(), 200);
    let (_, me) = parts(app.get("/me", &jwt).header("X-Active-Account", "alpha").send().await.unwrap()).await;
    assert_eq!(me["data"]["account"]["slug"], "alpha");
}

#[tokio::test]
async fn team_lists_active_members_of_the_account_only() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let other = app.tenant("other").await;
    let u2 = app.user("second@acme.test", None).await;
    app.member(u2, t.account.id, Role::Viewer).await;
    let (s, b) = parts(app.get("/account/team?limit=10", &t.key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let items = b["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["user_id"], t.user_id);
    assert_eq!(items[0]["id"], t.user_id);
    assert_eq!(items[1]["role"], "viewer");
    for k in ["first_name", "last_name", "email", "photo_url", "title"] {
        assert!(items[0].get(k).is_some(), "{k}");
    }
    assert!(items.iter().all(|i| i["user_id"] != other.user_id));
    assert_eq!(b["pagination"]["total"], 2);
    let (_, b) = parts(app.get("/account/team?limit=1", &t.key).send().await.unwrap()).await;
    assert_eq!(b["data"].as_array().unwrap().len(), 1);
    assert_eq!(b["pagination"]["has_more"], true);
}
