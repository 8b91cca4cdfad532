//! Running levd: the probes at the server root, the health check under a failing database, and
//! the upkeep that keeps the database small (purges, vacuum, checkpoints, stats).
use std::time::{Duration, Instant};

use levd::server::start;
use serde_json::Value;
use sqlx::{Connection, Executor};

use crate::common::*;

async fn get_root(app_base: &str, path: &str) -> (u16, Value) {
    parts(reqwest::get(format!("{app_base}{path}")).await.unwrap()).await
}

/// Polls `path` until it answers `status` (probe results are reused for up to a second).
async fn wait_for(base: &str, path: &str, status: u16, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (s, body) = get_root(base, path).await;
        if s == status {
            return body;
        }
        assert!(started.elapsed() < within, "{path} still {s} after {within:?}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn livez_and_readyz_answer_at_the_server_root() {
    let app = spawn().await;
    let (s, body) = get_root(&app.base, "/livez").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "ok");
    let (s, body) = get_root(&app.base, "/readyz").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["schema"], "current");
    let (s, body) = get_root(&app.base, "/api/external/v2/health").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["database"], "ok");
}

/// Another connection holds the write lock for longer than the probe's bound: the probes say
/// so within about two seconds instead of hanging, and recover once the lock is gone.
#[tokio::test]
async fn readyz_and_health_fail_fast_while_the_database_is_locked_and_recover() {
    let app = spawn().await;
    wait_for(&app.base, "/readyz", 200, Duration::from_secs(5)).await;
    // Let the cached good result expire.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let mut sqlite_lock = None;
    let mut pg_lock = None;
    if postgres_admin_url().is_some() {
        let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
        c.execute("BEGIN").await.unwrap();
        c.execute("LOCK TABLE auth_epoch IN ACCESS EXCLUSIVE MODE").await.unwrap();
        pg_lock = Some(c);
    } else {
        let mut c = sqlx::SqliteConnection::connect(&app.db_url).await.unwrap();
        c.execute("BEGIN EXCLUSIVE").await.unwrap();
        sqlite_lock = Some(c);
    }

    let started = Instant::now();
    let (s, body) = get_root(&app.base, "/readyz").await;
    assert!(started.elapsed() < Duration::from_millis(2600), "readyz took {:?}", started.elapsed());
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["database"], "unavailable");
    assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()), "{body}");

    let started = Instant::now();
    let (s, body) = get_root(&app.base, "/api/external/v2/health").await;
    assert!(started.elapsed() < Duration::from_millis(2600), "health took {:?}", started.elapsed());
    assert_eq!(s, 503, "{body}");
    let e = assert_error(&body, 503, "service_unavailable");
    assert_eq!(e["details"]["database"], "unavailable");

    if let Some(mut c) = sqlite_lock {
        c.execute("ROLLBACK").await.unwrap();
    }
    if let Some(mut c) = pg_lock {
        c.execute("ROLLBACK").await.unwrap();
    }
    let body = wait_for(&app.base, "/readyz", 200, Duration::from_secs(6)).await;
    assert_eq!(body["database"], "ok");
    let (s, _) = get_root(&app.base, "/api/external/v2/health").await;
    assert_eq!(s, 200);
}

/// A database that refuses writes: `/readyz` and the health check say `read_only` (not "ok"),
/// and `/readyz` turns 200 once writes are possible again.
#[tokio::test]
async fn readyz_reports_a_read_only_database_and_recovers_once_it_is_fixed() {
    let app = spawn().await;
    if postgres_admin_url().is_some() {
        // A read-only database on the server side, reached by the running node's next
        // connections.
        let db = app.db_url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
        let mut admin = sqlx::PgConnection::connect(&postgres_admin_url().unwrap()).await.unwrap();
        let kick = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        );
        admin
            .execute(sqlx::AssertSqlSafe(format!("ALTER DATABASE {db} SET default_transaction_read_only = on")))
            .await
            .unwrap();
        admin.execute(sqlx::AssertSqlSafe(kick.clone())).await.unwrap();
        let body = wait_for(&app.base, "/readyz", 503, Duration::from_secs(6)).await;
        assert_eq!(body["database"], "read_only", "{body}");
        let (s, body) = get_root(&app.base, "/api/external/v2/health").await;
        assert_eq!(s, 503, "{body}");
        assert_eq!(body["error"]["details"]["database"], "read_only", "{body}");

        admin
            .execute(sqlx::AssertSqlSafe(format!("ALTER DATABASE {db} RESET default_transaction_read_only")))
            .await
            .unwrap();
        admin.execute(sqlx::AssertSqlSafe(kick)).await.unwrap();
        wait_for(&app.base, "/readyz", 200, Duration::from_secs(6)).await;
        return;
    }
    // SQLite: the same file opened read-only (as levd sees a file it may not write), then the
    // server on the writable file.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = server_config(format!("{}?mode=ro", app.db_url), dir.path().join("data"));
    cfg.no_migrate = true;
    let ro = start(cfg).await.unwrap();
    let ro_base = format!("http://{}", ro.addr);
    let (s, body) = get_root(&ro_base, "/readyz").await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["database"], "read_only", "{body}");
    let (s, body) = get_root(&ro_base, "/api/external/v2/health").await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["error"]["details"]["database"], "read_only", "{body}");
    ro.stop().await.unwrap();

    let mut cfg = server_config(app.db_url.clone(), dir.path().join("data"));
    cfg.no_migrate = true;
    let fixed = start(cfg).await.unwrap();
    let (s, body) = get_root(&format!("http://{}", fixed.addr), "/readyz").await;
    assert_eq!(s, 200, "{body}");
    fixed.stop().await.unwrap();
}

/// A TCP relay in front of PostgreSQL that can be cut: the database "goes down" under a
/// running server.
struct Relay {
    addr: std::net::SocketAddr,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let t = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                t.lock().unwrap().push(h);
            }
        });
        tasks.lock().unwrap().push(accept);
        Relay { addr, tasks }
    }

    /// Closes the listening socket and every relayed connection.
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test]
async fn readyz_answers_503_within_two_seconds_when_postgres_goes_down() {
    if postgres_admin_url().is_none() {
        // The SQLite counterpart (a database that does not answer in time) is the lock test.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = fresh_database(dir.path()).await;
    let scheme_end = url.find("://").unwrap() + 3;
    let host_start = url[scheme_end..].find('@').map_or(scheme_end, |i| scheme_end + i + 1);
    let host_end = host_start + url[host_start..].find('/').unwrap();
    let relay = Relay::start(url[host_start..host_end].to_string()).await;
    let relayed = format!("{}{}{}", &url[..host_start], relay.addr, &url[host_end..]);
    let server = start(server_config(relayed, dir.path().join("data"))).await.unwrap();
    let base = format!("http://{}", server.addr);
    wait_for(&base, "/readyz", 200, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    relay.cut();
    let started = Instant::now();
    let (s, body) = get_root(&base, "/readyz").await;
    assert!(started.elapsed() < Duration::from_millis(2600), "readyz took {:?}", started.elapsed());
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["database"], "unavailable", "{body}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    let (s, body) = get_root(&base, "/api/external/v2/health").await;
    assert!(started.elapsed() < Duration::from_millis(2600), "health took {:?}", started.elapsed());
    assert_eq!(s, 503, "{body}");
    drop(server);
}

fn client_row(id: &str, created_at: i64) -> levd_store::ClientRow {
    levd_store::ClientRow {
        client_id: id.into(),
        secret_digest: None,
        auth_method: "none".into(),
        client_name: Some(id.into()),
        redirect_uris: r#"["http://127.0.0.1:9/cb"]"#.into(),
        metadata: "{}".into(),
        created_at,
    }
}

#[tokio::test]
async fn unused_oauth_client_registrations_are_purged_and_clients_in_use_stay() {
    let app = spawn().await;
    let day = 86_400;
    let (now, cutoff) = (now(), now() - 30 * day);
    let user = app.user("owner@purge.test", Some("sub-purge")).await;
    for (grant, client, revoked) in [("g1", "old-granted", None), ("g2", "old-revoked-lately", Some(now - 2 * day))] {
        let g = levd_store::GrantRow {
            id: grant.into(),
            client_id: client.into(),
            user_id: user,
            scope: "deals:read".into(),
            audience: "https://api.levd.test".into(),
            created_at: now - 35 * day,
            revoked_at: None,
        };
        let code = levd_store::CodeRow {
            grant_id: grant.into(),
            redirect_uri: "http://127.0.0.1:9/cb".into(),
            code_challenge: "x".repeat(43),
            expires_at: now + 60,
        };
        app.store.insert_grant_with_code(&g, &format!("digest-{grant}"), &code).await.unwrap();
        if let Some(at) = revoked {
            app.store.revoke_grants_of(user, Some(client), at).await.unwrap();
        }
    }

    // Registered after their grants: the server's own purge runs at start too, and must not
    // see an old client before its grant.
    for (id, created) in [
        ("old-unused", now - 40 * day),
        ("old-granted", now - 40 * day),
        ("new-unused", now),
        ("old-revoked-lately", now - 40 * day),
    ] {
        app.store.insert_client(&client_row(id, created)).await.unwrap();
    }
    // The server's own purge (run at start, then hourly) may have been first.
    assert!(app.store.purge_unused_clients(cutoff).await.unwrap() <= 1);
    assert!(app.store.client("old-unused").await.unwrap().is_none());
    for kept in ["old-granted", "new-unused", "old-revoked-lately"] {
        assert!(app.store.client(kept).await.unwrap().is_some(), "{kept} was purged");
    }
    // Idempotent: a second run (another node) finds nothing more.
    assert_eq!(app.store.purge_unused_clients(cutoff).await.unwrap(), 0);
}

#[tokio::test]
async fn admin_stats_lists_every_table_with_its_row_count() {
    let app = spawn().await;
    let t = app.tenant("stats-co").await;
    for i in 0..3 {
        app.create_deal(&t.key, serde_json::json!({"title": format!("Deal {i}")})).await;
    }
    let out = levd_admin(&app.db_url, &["stats"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tables = v["tables"].as_array().unwrap();
    let row = |name: &str| tables.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no {name}: {v}"));
    assert_eq!(row("deals")["rows"], 3, "{v}");
    assert_eq!(row("accounts")["rows"], 1, "{v}");
    assert!(row("oauth_clients")["rows"].is_i64(), "{v}");
    assert!(v["database_bytes"].as_i64().unwrap() > 0, "{v}");
    assert!(row("deals")["bytes"].as_i64().unwrap() > 0, "{v}");
    if postgres_admin_url().is_none() {
        assert_eq!(v["auto_vacuum"], "incremental", "{v}");
    }
}

/// SQLite: the file gives back the pages of expired idempotency records, and the write-ahead log
/// is truncated by the upkeep.
#[tokio::test]
async fn the_sqlite_file_shrinks_after_a_purge_and_the_log_is_truncated() {
    if postgres_admin_url().is_some() {
        return;
    }
    let app = spawn().await;
    let t = app.tenant("growth-co").await;
    for i in 0..150 {
        let r = app
            .post_json("/deals", &t.key, &serde_json::json!({"title": format!("{i} {}", "x".repeat(240))}))
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let wal = std::path::PathBuf::from(format!("{}-wal", app.db_path.display()));
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);

    let before = app.store.database_bytes().await.unwrap();
    let removed = app.store.purge_idempotency_keys("9999-12-31T00:00:00Z").await.unwrap();
    assert!(removed >= 150, "{removed}");
    assert!(app.store.free_pages().await.unwrap().unwrap() > 0);

    // Upkeep gives way to other connections; the server's own background reads are brief.
    let started = Instant::now();
    loop {
        let log = app.store.maintain().await.unwrap();
        if log == Some(0) && std::fs::metadata(&wal).unwrap().len() == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "log not truncated: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.store.free_pages().await.unwrap(), Some(0));
    let after = app.store.database_bytes().await.unwrap();
    assert!(after < before, "database did not shrink: {before} -> {after}");
    let file = std::fs::metadata(&app.db_path).unwrap().len();
    assert_eq!(file as i64, after, "the file holds exactly the pages in use");
}

/// A SQLite file made without incremental vacuum (by an older levd) is rewritten once by
/// `levd migrate`, after which it can shrink.
#[tokio::test]
async fn levd_migrate_turns_on_incremental_vacuum_for_an_older_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    c.execute("CREATE TABLE leftover (x INTEGER)").await.unwrap();
    let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum").fetch_one(&mut c).await.unwrap();
    assert_eq!(mode, 0);
    c.close().await.unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_levd"))
        .args(["migrate", "--database-url", &url])
        .env_remove("LEV_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stats = levd_admin(&url, &["stats"], "");
    let v: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(v["auto_vacuum"], "incremental", "{v}");
}
