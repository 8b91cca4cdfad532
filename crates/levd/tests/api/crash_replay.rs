//! Crashes around idempotent writes (`docs/api.md#idempotency`): the real `levd` binary is
//! made to exit right after a write's unit of work committed, or right before it would, and
//! a retry with the same key on a restarted server either replays the answer (the write
//! happened once) or executes (nothing had happened).
use std::path::Path;
use std::time::Duration;

use levd_domain::crm::{ContactOrigin, NewCompany, NewContact};
use levd_domain::time_fmt::now_rfc3339;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::common::*;

/// Exit status of a server stopped by an injected fault (`levd_http::middleware::FAULT_EXIT_CODE`).
const FAULT_EXIT: i32 = levd_http::middleware::FAULT_EXIT_CODE;

/// `levd serve` as its own process on `db`, with `LEVD_FAULT` set to `fault` when given.
struct Node {
    child: tokio::process::Child,
    base: String,
    /// Kept open: the server may still write to its standard output.
    _stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

async fn node(dir: &Path, db: &str, fault: Option<&str>) -> Node {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_levd"));
    c.args(["serve", "--bind", "127.0.0.1:0", "--database-url", db])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .current_dir(dir)
        .env("LEV_SECRET_KEY", TEST_SECRET_KEY)
        .env("LEV_LOG", "warn")
        .env_remove("LEV_SECRET_KEY_FILE")
        .env_remove("LEV_DATABASE_URL")
        .env_remove("LEVD_FAULT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(f) = fault {
        c.env("LEVD_FAULT", f);
    }
    let mut child = c.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap();
        let line = line.expect("levd exited before listening");
        if let Some(i) = line.find("listening on http://") {
            let base = format!("http://{}/api/external/v2", line[i + "listening on http://".len()..].trim());
            return Node { child, base, _stdout: lines };
        }
    }
}

impl Node {
    fn send(&self, w: &Write, key: &str) -> reqwest::RequestBuilder {
        let mut r = reqwest::Client::new()
            .request(w.method.clone(), format!("{}{}", self.base, w.path))
            .bearer_auth(key)
            .header("X-Origin-App", "crash-tests")
            .header("Idempotency-Key", &w.idem_key);
        if let Some(b) = &w.body {
            r = r.json(b);
        }
        r
    }

    /// Waits for the process to end by itself and returns its exit status.
    async fn exited(mut self) -> Option<i32> {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.unwrap().unwrap().code()
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// One kind of write: the request, the table whose row count it changes by `delta`, and a
/// check of the answer's data.
struct Write {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    idem_key: String,
    status: u16,
    table: &'static str,
    delta: i64,
    check: fn(&Value) -> bool,
}

fn write(name: &'static str, method: Method, path: String, body: Option<Value>, status: u16) -> Write {
    Write {
        name,
        method,
        path,
        body,
        idem_key: format!("crash-{name}"),
        status,
        table: "idempotency_keys",
        delta: 1,
        check: |_| true,
    }
}

impl Write {
    fn changes(mut self, table: &'static str, delta: i64) -> Write {
        self.table = table;
        self.delta = delta;
        self
    }

    fn answers(mut self, check: fn(&Value) -> bool) -> Write {
        self.check = check;
        self
    }
}

async fn rows(db: &str, table: &str) -> i64 {
    let store = levd_store::Store::open(db).await.unwrap();
    let stats = store.table_stats().await.unwrap();
    store.close().await;
    stats.iter().find(|t| t.name == table).unwrap_or_else(|| panic!("no table {table}")).rows
}

/// A tenant with one of everything the writes below act on, made through a server in this
/// process, which is then stopped: the database is left to the `levd` processes.
struct World {
    app: TestApp,
    key: String,
    writes: Vec<Write>,
}

async fn world() -> World {
    let mut app = spawn().await;
    let t = app.tenant("crash").await;
    let key = t.key.clone();
    let now = now_rfc3339();
    let deal = app.create_deal(&key, json!({"title": "Harbor Point"})).await["id"].as_i64().unwrap();
    let company = NewCompany { name: "Northbay Bank".into(), company_type: "lender", texts: vec![], org_id: None };
    let lender = app.store.insert_company(t.account.id, &company, &now).await.unwrap().id;
    let contact = |first: &str| NewContact {
        contact_type: "lender_contact",
        company_id: lender,
        email: None,
        texts: vec![("first_name", first.to_string()), ("last_name", "Shah".to_string())],
        phones: vec![],
        is_primary: false,
    };
    let known = app.store.insert_contact(t.account.id, &contact("Priya"), ContactOrigin::Crm, &now).await.unwrap().id;
    let locked = app
        .store
        .insert_contact(t.account.id, &contact("Hidden"), ContactOrigin::AiRecommended, &now)
        .await
        .unwrap()
        .id;
    let created = |r: reqwest::RequestBuilder| async move {
        let (s, b) = parts(r.send().await.unwrap()).await;
        assert_eq!(s, 201, "{b}");
        b["data"]["id"].as_i64().unwrap()
    };
    let placement = created(app.post_json(
        "/placements",
        &key,
        &json!({"deal_id": deal, "private_company_id": lender, "contact_id": known}),
    ))
    .await;
    let quote = json!({
        "placement_id": placement, "quote_type": "hard_quote", "rate_type": "floating",
        "base_rate": "sofr_m1", "total_rate": 2.75, "initial_funding": 18_000_000, "term": 36,
        "io_period": 36, "max_ltv": 0.65, "origination_fee": 0.0075, "floor": 4.0, "floor_type": "base_rate"
    });
    let term_sheet = created(app.post_json(&format!("/deals/{deal}/term-sheets"), &key, &quote)).await;
    let note = created(app.post_json(&format!("/deals/{deal}/notes"), &key, &json!({"text": "first call"}))).await;
    let (s, lists) = parts(app.get(&format!("/deals/{deal}/checklists"), &key).send().await.unwrap()).await;
    assert_eq!(s, 200, "{lists}");
    let checklist = lists["data"][0]["id"].as_i64().unwrap();
    let task =
        created(app.post_json("/checklist-tasks", &key, &json!({"title": "Rent roll", "checklist_id": checklist})))
            .await;
    app.halt().await;

    let post = Method::POST;
    let writes = vec![
        write("deal", post.clone(), "/deals".into(), Some(json!({"title": "Crash-safe deal"})), 201)
            .changes("deals", 1)
            .answers(|d| d["title"] == "Crash-safe deal"),
        write(
            "contact",
            post.clone(),
            "/contacts".into(),
            Some(json!({"contact_type": "lender_contact", "company_id": lender, "first_name": "Bea"})),
            201,
        )
        .changes("contacts", 1)
        .answers(|d| d["first_name"] == "Bea"),
        write("note", post.clone(), format!("/deals/{deal}/notes"), Some(json!({"text": "after the crash"})), 201)
            .changes("notes", 1)
            .answers(|d| d["text"] == "after the crash"),
        write(
            "task",
            post.clone(),
            "/checklist-tasks".into(),
            Some(json!({"title": "Operating statement", "checklist_id": checklist})),
            201,
        )
        .changes("checklist_tasks", 1)
        .answers(|d| d["title"] == "Operating statement"),
        write(
            "placement",
            post.clone(),
            "/placements".into(),
            Some(json!({"deal_id": deal, "private_company_id": lender, "contact_id": locked})),
            201,
        )
        .changes("placements", 1),
        write("term-sheet", post.clone(), format!("/deals/{deal}/term-sheets"), Some(quote.clone()), 201)
            .changes("term_sheets", 1),
        write("update", Method::PATCH, format!("/deals/{deal}"), Some(json!({"title": "Harbor Point II"})), 200)
            .changes("deals", 0)
            .answers(|d| d["title"] == "Harbor Point II"),
        // A term sheet is deleted by a mark: the recorded answer is what shows the commit.
        write("delete-term-sheet", Method::DELETE, format!("/deals/{deal}/term-sheets/{term_sheet}"), None, 200),
        write("delete-note", Method::DELETE, format!("/deals/{deal}/notes/{note}"), None, 200).changes("notes", -1),
        write("complete", post.clone(), format!("/checklist-tasks/{task}/complete"), Some(json!({})), 200)
            .answers(|d| d["is_completed"] == true),
        // The account's first charge: its opening grant and the charge enter the ledger.
        write("unlock", post.clone(), format!("/contacts/{locked}/actions/unlock"), None, 200)
            .changes("credit_ledger", 2),
        write("active-account", Method::PATCH, "/me/active-account".into(), Some(json!({"slug": "crash"})), 200)
            .answers(|d| d["active_account"]["slug"] == "crash"),
        write("api-key", post.clone(), "/api-keys".into(), Some(json!({"label": "after the crash"})), 201)
            .changes("api_keys", 1),
    ];
    World { app, key, writes }
}

/// Every kind of write: the server exits right after the unit of work committed, so the client
/// sees its connection close without an answer; the retry on a restarted server replays the
/// answer, and the write happened exactly once.
#[tokio::test]
async fn a_crash_after_the_commit_replays_every_kind_of_write() {
    let World { app, key, writes } = world().await;
    let (dir, db) = (app._dir.path(), app.db_url.as_str());
    for w in &writes {
        let before = rows(db, w.table).await;
        let crashing = node(dir, db, Some("exit-after-commit")).await;
        let lost = crashing.send(w, &key).send().await;
        assert!(lost.is_err(), "{}: the crashing server answered: {lost:?}", w.name);
        assert_eq!(crashing.exited().await, Some(FAULT_EXIT), "{}", w.name);
        assert_eq!(rows(db, w.table).await, before + w.delta, "{}: the write committed before the crash", w.name);

        let restarted = node(dir, db, None).await;
        let r = restarted.send(w, &key).send().await.unwrap();
        let replayed = r.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_string());
        let (s, b) = parts(r).await;
        assert_eq!(s, w.status, "{}: {b}", w.name);
        assert_eq!(replayed.as_deref(), Some("true"), "{}: {b}", w.name);
        assert!((w.check)(&b["data"]), "{}: {b}", w.name);
        assert_eq!(rows(db, w.table).await, before + w.delta, "{}: the retry wrote again", w.name);
        restarted.stop().await;
    }
}

/// The server exits just before the unit of work would commit: nothing of the write remains,
/// the key is free, and the retry executes (a 201, not a 409 "in progress").
#[tokio::test]
async fn a_crash_before_the_commit_leaves_nothing_and_the_retry_executes() {
    let World { app, key, writes } = world().await;
    let (dir, db) = (app._dir.path(), app.db_url.as_str());
    for name in ["deal", "unlock"] {
        let w = writes.iter().find(|w| w.name == name).unwrap();
        let before = rows(db, w.table).await;
        let answers_before = rows(db, "idempotency_keys").await;
        let crashing = node(dir, db, Some("exit-before-commit")).await;
        let lost = crashing.send(w, &key).send().await;
        assert!(lost.is_err(), "{name}: the crashing server answered: {lost:?}");
        assert_eq!(crashing.exited().await, Some(FAULT_EXIT), "{name}");
        assert_eq!(rows(db, w.table).await, before, "{name}: a write outlived the crash");
        assert_eq!(rows(db, "idempotency_keys").await, answers_before, "{name}: a claim outlived the crash");

        let restarted = node(dir, db, None).await;
        let r = restarted.send(w, &key).send().await.unwrap();
        assert!(r.headers().get("idempotent-replayed").is_none(), "{name}");
        let (s, b) = parts(r).await;
        assert_eq!(s, w.status, "{name}: {b}");
        assert!((w.check)(&b["data"]), "{name}: {b}");
        assert_eq!(rows(db, w.table).await, before + w.delta, "{name}");
        restarted.stop().await;
    }
}
