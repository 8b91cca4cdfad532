//! `levd admin`, run as a separate process against the database of a running server.
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

fn levd(db_url: &str, args: &[&str]) -> Output {
    levd_admin(db_url, args, "")
}

fn ok_json(out: Output) -> Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "one JSON object expected: {text}");
    serde_json::from_str(text.trim()).unwrap()
}

#[tokio::test]
async fn admin_builds_a_tenant_whose_key_works_and_revocation_reaches_the_server() {
    let app = spawn().await;
    let db = app.db_url.clone();
    let a = ok_json(levd(
        &db,
        &["account", "create", "--slug", "cli-co", "--name", "CLI Co", "--type", "lender", "--tier", "free"],
    ));
    assert_eq!(a["slug"], "cli-co");
    assert_eq!(a["tier"], "free");
    let u = ok_json(levd(
        &db,
        &["user", "create", "--email", "Ops@Cli.test", "--first-name", "Op", "--subject", "auth0|ops"],
    ));
    assert_eq!(u["email"], "ops@cli.test");
    let m = ok_json(levd(&db, &["member", "add", "--email", "ops@cli.test", "--account", "cli-co", "--role", "admin"]));
    assert_eq!(m["role"], "admin");
    let k = ok_json(levd(&db, &["key", "create", "--email", "ops@cli.test", "--account", "cli-co", "--label", "ci"]));
    let secret = k["api_key"].as_str().unwrap().to_string();
    assert_eq!(k["key_prefix"].as_str().unwrap(), &secret[..11]);
    assert!(k["id"].is_i64());
    assert_eq!(k["scopes"].as_array().unwrap().len(), 12);
    let ro = ok_json(levd(
        &db,
        &["key", "create", "--email", "ops@cli.test", "--account", "cli-co", "--label", "ro", "--read-only"],
    ));
    assert!(ro["scopes"].as_array().unwrap().iter().all(|s| s.as_str().unwrap().ends_with(":read")));

    // The free tier's ceiling of two keys counts CLI keys.
    let third = levd(&db, &["key", "create", "--email", "ops@cli.test", "--account", "cli-co", "--label", "x"]);
    assert!(!third.status.success());
    assert!(String::from_utf8_lossy(&third.stderr).contains("limit"));

    let (s, me) = parts(app.get("/me", &secret).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(me["data"]["account"]["slug"], "cli-co");
    // JWT for the subject given on the command line maps to this user.
    let (s, _) = parts(app.get("/me", &jwt_for("auth0|ops")).send().await.unwrap()).await;
    assert_eq!(s, 200);

    // Revoked by another process while the server runs (and has the key cached): refused
    // within 2 s.
    let id = k["id"].as_i64().unwrap().to_string();
    let r = ok_json(levd(&db, &["key", "revoke", "--id", &id]));
    assert_eq!(r["revoked"], true);
    let start = Instant::now();
    loop {
        let s = app.get("/me", &secret).send().await.unwrap().status();
        if s == 401 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(2), "key still accepted after {:?}", start.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = levd(&db, &["key", "revoke", "--id", &id]);
    assert!(!again.status.success());
}

#[tokio::test]
async fn admin_errors_go_to_stderr_with_a_failing_status() {
    let app = spawn().await;
    let db = app.db_url.clone();
    ok_json(levd(&db, &["account", "create", "--slug", "dup", "--name", "Dup"]));
    let cases: Vec<Vec<&str>> = vec![
        vec!["account", "create", "--slug", "dup", "--name", "Again"],
        vec!["account", "create", "--slug", "Bad Slug", "--name", "x"],
        vec!["user", "create", "--email", "not-an-email"],
        vec!["member", "add", "--email", "nobody@x.test", "--account", "dup"],
        vec!["key", "create", "--email", "nobody@x.test", "--account", "dup", "--label", "x"],
        vec!["key", "revoke", "--id", "999"],
        vec!["account", "create", "--slug", "x1", "--name", "x", "--tier", "platinum"],
    ];
    for args in cases {
        let out = levd(&db, &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        assert!(!out.stderr.is_empty(), "{args:?} gave no message");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_levd"))
        .args(["admin", "account", "create", "--slug", "x2", "--name", "x", "--database-url", "mysql://u:secret@h/db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("secret"));
}

#[tokio::test]
async fn serve_prints_its_address_and_the_demo_key_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let mut child = levd_serve(dir.path(), &["--demo", "--database-url", &db]).spawn().unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut addr, mut key) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while (addr.is_none() || key.is_none()) && Instant::now() < deadline {
        let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await else { break };
        if let Some(i) = line.find("listening on http://") {
            addr = Some(line[i + "listening on http://".len()..].trim().to_string());
        }
        if let Some(i) = line.find("lev_sk_") {
            key = Some(line[i..].split_whitespace().next().unwrap().trim_matches('\'').to_string());
        }
    }
    let (addr, key) = (addr.expect("address line"), key.expect("demo key"));
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/api/external/v2/deals?limit=5"))
        .bearer_auth(&key)
        .header("X-Origin-App", "curl")
        .send()
        .await
        .unwrap();
    let (s, b) = parts(r).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"].as_array().unwrap().len(), 5);
    assert!(b["pagination"]["total"].as_i64().unwrap() >= 40);
    // SIGTERM: graceful stop with a zero exit.
    let pid = child.id().unwrap();
    std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn migrate_then_serve_without_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = fresh_database(dir.path()).await;
    let bin = env!("CARGO_BIN_EXE_levd");
    let early = std::process::Command::new(bin)
        .args(["serve", "--no-migrate", "--bind", "127.0.0.1:0", "--database-url", &db])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!early.status.success());
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("levd migrate"),
        "{}",
        String::from_utf8_lossy(&early.stderr)
    );
    let m = std::process::Command::new(bin).args(["migrate", "--database-url", &db]).output().unwrap();
    assert!(m.status.success());
    assert_eq!(String::from_utf8_lossy(&m.stdout).trim(), r#"{"migrated":true}"#);
    let mut child = levd_serve(dir.path(), &["--no-migrate", "--database-url", &db]).spawn().unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    assert!(line.contains("listening on http://"), "{line}");
    child.kill().await.unwrap();
}

/// Request logs carry request id, method, route template, status, latency, origin app and
/// account — and never the credential.
#[tokio::test]
async fn request_logs_are_structured_and_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = fresh_database(dir.path()).await;
    let mut child = demo_server_with_json_logs(dir.path(), &db);
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut addr, mut key) = (None, None);
    while addr.is_none() || key.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
        if let Some(i) = line.find("listening on http://") {
            addr = Some(line[i + "listening on http://".len()..].trim().to_string());
        }
        if let Some(i) = line.find("lev_sk_") {
            key = Some(line[i..].split_whitespace().next().unwrap().to_string());
        }
    }
    let (addr, key) = (addr.unwrap(), key.unwrap());
    let client = reqwest::Client::new();
    let r = client
        .get(format!("http://{addr}/api/external/v2/deals/1?fields=title"))
        .bearer_auth(&key)
        .header("X-Origin-App", "log-probe")
        .send()
        .await
        .unwrap();
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(r.status(), 200);
    let r =
        client.get(format!("http://{addr}/api/external/v2/deals")).bearer_auth("lev_sk_wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::process::Command::new("kill").args(["-TERM", &child.id().unwrap().to_string()]).status().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).await.unwrap();
    assert!(!logs.contains(&key[7..]), "a log line holds the API key");
    assert!(!logs.contains("lev_sk_wrong"), "a log line holds a presented token");
    assert!(!logs.to_lowercase().contains("authorization"), "a log line names the Authorization header");
    let line = logs.lines().find(|l| l.contains(&request_id)).expect("a log line for the request");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["route"], "/api/external/v2/deals/{deal_id}");
    assert_eq!(v["status"], 200);
    assert_eq!(v["origin_app"], "log-probe");
    assert!(v["account_id"].is_i64());
    assert!(v["latency_ms"].is_number(), "{line}");
}

#[tokio::test]
async fn removing_a_member_revokes_their_keys_so_re_adding_them_does_not_revive_the_keys() {
    let app = spawn().await;
    let db = app.db_url.clone();
    ok_json(levd(&db, &["account", "create", "--slug", "rejoin-co", "--name", "Rejoin", "--type", "lender"]));
    ok_json(levd(&db, &["user", "create", "--email", "leaver@cli.test"]));
    ok_json(levd(&db, &["user", "create", "--email", "stayer@cli.test"]));
    for email in ["leaver@cli.test", "stayer@cli.test"] {
        ok_json(levd(&db, &["member", "add", "--email", email, "--account", "rejoin-co", "--role", "admin"]));
    }
    let key = |email: &str| {
        let k = ok_json(levd(&db, &["key", "create", "--email", email, "--account", "rejoin-co", "--label", "k"]));
        k["api_key"].as_str().unwrap().to_string()
    };
    let (old, other) = (key("leaver@cli.test"), key("stayer@cli.test"));
    assert_eq!(app.get("/me", &old).send().await.unwrap().status(), 200);

    let r = ok_json(levd(&db, &["member", "remove", "--email", "leaver@cli.test", "--account", "rejoin-co"]));
    assert_eq!(r["removed"], true);
    ok_json(levd(&db, &["member", "add", "--email", "leaver@cli.test", "--account", "rejoin-co", "--role", "admin"]));

    // The server learns of the change within its credential-cache bound; the old key must stay
    // refused once it has (and never come back).
    let start = Instant::now();
    loop {
        let s = app.get("/me", &old).send().await.unwrap().status();
        if s == 401 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(3), "the removed member's old key still works ({s})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.get("/me", &old).send().await.unwrap().status(), 401);
    // Keys of other members are untouched, and the re-added member can make a new key.
    assert_eq!(app.get("/me", &other).send().await.unwrap().status(), 200);
    let fresh = key("leaver@cli.test");
    assert_eq!(app.get("/me", &fresh).send().await.unwrap().status(), 200);
}
