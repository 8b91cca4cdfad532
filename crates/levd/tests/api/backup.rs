//! `levd admin backup` / `restore` run as separate processes beside a server under write load.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use levd::server::start;
use serde_json::{Value, json};

use crate::common::*;

fn levd_cli(args: &[&str], db_url: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_levd"))
        .arg("admin")
        .args(args)
        .args(["--database-url", db_url])
        .env_remove("LEV_DATABASE_URL")
        .env_remove("LEV_DATA_DIR")
        .output()
        .unwrap()
}

fn ok_json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn a_backup_taken_under_write_load_restores_every_acknowledged_write_and_the_documents() {
    let app = spawn().await;
    let t = app.tenant("backup-co").await;
    let data = app._dir.path().join("data");

    // A document in the data directory, before the backup.
    let first = app.create_deal(&t.key, json!({"title": "With a document"})).await;
    let deal_id = first["id"].as_i64().unwrap();
    let src = app._dir.path().join("Appraisal.pdf");
    std::fs::write(&src, b"%PDF-1.4 appraisal of the property").unwrap();
    let doc = ok_json(&levd_cli(
        &[
            "document",
            "add",
            "--deal",
            &deal_id.to_string(),
            "--file",
            src.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &app.db_url,
    ));

    // Steady writes: each acknowledged deal is recorded with the moment its 201 arrived.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, url, key, origin, stop) =
            (app.client.clone(), app.url("/deals"), t.key.clone(), app.origin.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acked: Vec<(Instant, i64)> = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let r = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header("X-Origin-App", &origin)
                    .json(&json!({"title": format!("Load {n}")}))
                    .send()
                    .await
                    .unwrap();
                if r.status() == 201 {
                    let id = r.json::<Value>().await.unwrap()["data"]["id"].as_i64().unwrap();
                    acked.push((Instant::now(), id));
                }
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;

    let archive = app._dir.path().join("backup.tar.gz");
    let began = Instant::now();
    let (db_url, archive_s, data_s) =
        (app.db_url.clone(), archive.to_str().unwrap().to_string(), data.to_str().unwrap().to_string());
    let out =
        tokio::task::spawn_blocking(move || levd_cli(&["backup", "--to", &archive_s, "--data-dir", &data_s], &db_url))
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let acked = writer.await.unwrap();

    let pg = postgres_admin_url().is_some();
    let b = ok_json(&out);
    if pg && b["database_included"] == false {
        // Without pg_dump the command names the step; nothing more to check here.
        assert!(b["database_step"].as_str().unwrap().contains("pg_dump"), "{b}");
        return;
    }
    assert_eq!(b["database_included"], true, "{b}");
    let before: Vec<i64> = acked.iter().filter(|(at, _)| *at < began).map(|(_, id)| *id).collect();
    assert!(before.len() >= 5, "too few writes before the backup: {}", before.len());
    assert!(acked.len() > before.len(), "no writes during the backup");

    // Restore into a fresh place and serve it.
    let target = tempfile::tempdir().unwrap();
    let (restored_url, _) = fresh_database(target.path()).await;
    let restored_data = target.path().join("data");
    let r = ok_json(&levd_cli(
        &["restore", "--from", archive.to_str().unwrap(), "--data-dir", restored_data.to_str().unwrap()],
        &restored_url,
    ));
    assert!(r["files"].as_u64().unwrap() >= 2, "{r}");

    let mut cfg = server_config(restored_url.clone(), restored_data.clone());
    cfg.rate_limits.enabled = false;
    let server = start(cfg).await.unwrap();
    let base = format!("http://{}/api/external/v2", server.addr);
    let client = reqwest::Client::new();
    let get = |path: String| {
        client.get(format!("{base}{path}")).bearer_auth(&t.key).header("X-Origin-App", "levd-tests").send()
    };
    for id in &before {
        let (s, body) = parts(get(format!("/deals/{id}")).await.unwrap()).await;
        assert_eq!(s, 200, "deal {id} acknowledged before the backup is missing: {body}");
    }
    // The document comes back with its bytes.
    let (s, body) = parts(get(format!("/deals/{deal_id}/documents/{}/download", doc["id"])).await.unwrap()).await;
    assert_eq!(s, 200, "{body}");
    let link = body["data"]["download_url"].as_str().unwrap().to_string();
    let bytes = client.get(&link).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], b"%PDF-1.4 appraisal of the property");
    server.stop().await.unwrap();

    // A target that holds data is refused without --force, and replaced with it.
    let again = levd_cli(
        &["restore", "--from", archive.to_str().unwrap(), "--data-dir", restored_data.to_str().unwrap()],
        &restored_url,
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"), "{}", String::from_utf8_lossy(&again.stderr));
    let forced = levd_cli(
        &["restore", "--from", archive.to_str().unwrap(), "--data-dir", restored_data.to_str().unwrap(), "--force"],
        &restored_url,
    );
    ok_json(&forced);
}

#[tokio::test]
async fn restore_refuses_an_archive_that_is_not_a_levd_backup() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.tar");
    std::fs::write(&bogus, b"this is not a tar archive at all").unwrap();
    let url = format!("sqlite://{}", dir.path().join("lev.db").display());
    let out = levd_cli(
        &["restore", "--from", bogus.to_str().unwrap(), "--data-dir", dir.path().join("d").to_str().unwrap()],
        &url,
    );
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty());
    assert!(!dir.path().join("lev.db").exists(), "a failed restore must not create the database");
}
