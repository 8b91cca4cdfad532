//! JWT authentication over HTTP: RS256 from the configured issuer only, strict claims (`docs/auth.md#jwt`).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::common::*;

fn claims(sub: &str) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now(), "exp": now() + 600})
}

async fn status_with(app: &TestApp, token: &str) -> (u16, Value) {
    parts(app.get("/me", token).send().await.unwrap()).await
}

#[tokio::test]
async fn a_valid_token_of_a_known_subject_authenticates() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let token = sign(signing_key(), Some(KID), &claims(&t.subject));
    let (s, b) = status_with(&app, &token).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["user"]["id"], t.user_id);
    // Seen again: answered from the cache, same result.
    let (s, _) = status_with(&app, &token).await;
    assert_eq!(s, 200);
    // The first sight of a token records a sign-in.
    let mut last_login = Value::Null;
    for _ in 0..50 {
        last_login =
            app.store.user_by_id(t.user_id).await.unwrap().unwrap().last_login_at.map_or(Value::Null, Value::from);
        if !last_login.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(last_login.is_string());
}

#[tokio::test]
async fn every_forged_or_wrong_token_is_401() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let sub = t.subject.clone();
    let mut cases: Vec<(&str, String)> = Vec::new();

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(&sub).to_string());
    cases.push(("alg none", format!("{header_none}.{payload}.")));

    let hs = jsonwebtoken::encode(
        &{
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(KID.into());
            h
        },
        &claims(&sub),
        &EncodingKey::from_secret(signing_key().public_pem.as_bytes()),
    )
    .unwrap();
    cases.push(("HS256 keyed with the public key", hs));
    cases.push(("signed by another key, same kid", sign(rogue_key(), Some(KID), &claims(&sub))));
    cases.push(("unknown kid", sign(signing_key(), Some("other-kid"), &claims(&sub))));
    let mut c = claims(&sub);
    c["exp"] = json!(now() - 120);
    cases.push(("expired beyond leeway", sign(signing_key(), Some(KID), &c)));
    let mut c = claims(&sub);
    c["nbf"] = json!(now() + 300);
    cases.push(("not yet valid", sign(signing_key(), Some(KID), &c)));
    let mut c = claims(&sub);
    c["iss"] = json!("https://evil.example/");
    cases.push(("wrong issuer", sign(signing_key(), Some(KID), &c)));
    let mut c = claims(&sub);
    c["aud"] = json!("https://someone-else.example");
    cases.push(("wrong audience", sign(signing_key(), Some(KID), &c)));
    let mut c = claims(&sub);
    c.as_object_mut().unwrap().remove("exp");
    cases.push(("no exp", sign(signing_key(), Some(KID), &c)));
    cases.push(("unknown subject", sign(signing_key(), Some(KID), &claims("sub-nobody"))));
    let good = sign(signing_key(), Some(KID), &claims(&sub));
    let mut tampered = good.clone();
    let mid = tampered.find('.').unwrap() + 5;
    tampered.replace_range(mid..mid + 1, if &good[mid..mid + 1] == "A" { "B" } else { "A" });
    cases.push(("tampered payload", tampered));
    cases.push(("garbage", "not.a.jwt".into()));

    for (name, token) in cases {
        let r = app.get("/me", &token).send().await.unwrap();
        assert_eq!(r.headers()["www-authenticate"], "Bearer error=\"invalid_token\"", "{name}");
        let (s, b) = parts(r).await;
        assert_eq!(s, 401, "{name}: {b}");
        assert_eq!(b["error"]["message"], "Invalid or expired authentication token", "{name}");
    }
    // Within the 60 s leeway an expired token still passes.
    let mut c = claims(&sub);
    c["exp"] = json!(now() - 20);
    assert_eq!(status_with(&app, &sign(signing_key(), Some(KID), &c)).await.0, 200);
}

#[tokio::test]
async fn jwts_are_refused_when_no_issuer_is_configured() {
    let app = spawn_with(Options { jwt: false, ..Options::default() }).await;
    let t = app.tenant("acme").await;
    let (s, _) = status_with(&app, &jwt_for(&t.subject)).await;
    assert_eq!(s, 401);
    assert_eq!(status_with(&app, &t.key).await.0, 200);
}
