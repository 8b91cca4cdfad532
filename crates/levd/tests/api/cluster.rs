//! Two nodes on one database: revocation, idempotency and (on PostgreSQL) rate limits hold
//! across them.
use std::time::{Duration, Instant};

use levd_domain::limits::RateLimitConfig;
use levd_domain::scope::{Role, Tier};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_key_revoked_on_one_node_fails_on_the_other_within_a_second() {
    let a = spawn().await;
    let b = a.second_node(Options::default()).await;
    let t = a.tenant("acme").await;
    let (_, k) = parts(a.post_json("/api-keys", &t.key, &json!({"label": "x"})).send().await.unwrap()).await;
    let (id, key) = (k["data"]["id"].as_i64().unwrap(), k["data"]["api_key"].as_str().unwrap().to_string());
    assert_eq!(b.get("/me", &key).send().await.unwrap().status(), 200);
    assert_eq!(a.delete(&format!("/api-keys/{id}"), &t.key).send().await.unwrap().status(), 200);
    let start = Instant::now();
    while b.get("/me", &key).send().await.unwrap().status() != 401 {
        assert!(start.elapsed() < Duration::from_secs(1), "still accepted on node B after {:?}", start.elapsed());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn one_idempotency_key_executes_once_across_nodes() {
    let a = spawn().await;
    let b = a.second_node(Options::default()).await;
    let t = a.tenant("acme").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        let req = node.post_json("/deals", &t.key, &json!({"title": "Across"})).header("Idempotency-Key", "x-node");
        tasks.push(tokio::spawn(async move { parts(req.send().await.unwrap()).await }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        let (s, body) = task.await.unwrap();
        assert!(s == 201 || s == 409, "{s} {body}");
        if s == 201 {
            ids.push(body["data"]["id"].clone());
        }
    }
    assert!(!ids.is_empty() && ids.iter().all(|i| *i == ids[0]));
    let (_, list) = parts(b.get("/deals", &t.key).send().await.unwrap()).await;
    assert_eq!(list["pagination"]["total"], 1);
}

#[tokio::test]
async fn rate_limit_buckets_are_shared_across_nodes_on_postgres() {
    if postgres_admin_url().is_none() {
        // One SQLite file serves one node; its buckets live in memory.
        return;
    }
    let limited = || Options { rate_limits: RateLimitConfig::default(), jwt: false, ..Options::default() };
    let a = spawn_with(limited()).await;
    let b = a.second_node(limited()).await;
    let t = a.tenant_with("small", Tier::Free, Role::Admin).await;
    let mut accepted = 0;
    for i in 0..30 {
        let node = if i % 2 == 0 { &a } else { &b };
        if node.get("/deals", &t.key).send().await.unwrap().status() == 200 {
            accepted += 1;
        }
    }
    // The free tier's endpoint figure is ten a minute for the account, whichever node answers.
    assert_eq!(accepted, 10);
}
