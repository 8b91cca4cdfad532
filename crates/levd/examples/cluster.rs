//! Load and fault harness: several levd nodes on one PostgreSQL database, on loopback only.
//!
//! ```text
//! bench/cluster.sh                # the checks below, on a throw-away PostgreSQL
//! bench/cluster.sh --compare      # load figures: SQLite vs PostgreSQL, one vs two nodes
//! target/release/examples/cluster --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! `--database-url` names a PostgreSQL server the harness may create databases on; every run
//! works in a fresh `levd_cluster_<random>` database (dropped at the end unless `--keep`), so
//! a run never sees another run's rows. The database is migrated with `levd migrate` and seeded
//! with `levd admin`; nodes are `levd serve --no-migrate --bind 127.0.0.1:0` child processes,
//! killed when the harness ends, however it ends.
//!
//! Nodes: one pair with `--rate-limits off` for checks a–d, because the enterprise figures
//! (500/min per account, 60/min per endpoint) would turn a load test into a test of 429s; and
//! one pair with rate limits on (the default) for check e, with free-tier accounts.
//!
//! Checks, each reported as `PASS name: detail` or `FAIL name: detail`:
//!
//! - a: mixed load over both nodes (70 % list, 10 % read, 20 % idempotent create): count,
//!   errors, requests/s, p50 and p99 per class.
//! - b1: SIGKILL node A while writers are in flight (one Idempotency-Key per logical write; a
//!   connection error or 5xx is retried with the same key on the other node), restart it with
//!   `--no-migrate`: every write acknowledged with 2xx is readable, no title exists twice.
//! - c: 50 concurrent identical creates with one Idempotency-Key across both nodes: one deal.
//! - d: a key created and revoked on node A is refused (401) on node B one second later.
//! - e1–e3: free-tier accounts hammered across both nodes: the requests accepted in 20 s stay
//!   within the bound README.md states for shared buckets (e3: one node, for reference).
//! - b2: writes whose claim died with node A (the server takes such claims over only after
//!   120 s) are retried with their keys once that has passed: they succeed, still no duplicate.
//!
//! Exit status 0 when every check passes, 1 when one fails, 2 when the harness could not run.
//!
//! `--compare` runs only the mixed load of check a, with the same client and settings, on one
//! node on SQLite, one node on PostgreSQL and two nodes on PostgreSQL, and prints one table.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use reqwest::{Client, Method};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const API: &str = "/api/external/v2";
const ORIGIN: &str = "levd-cluster";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Same figure as IDEMPOTENCY_ABANDONED in crates/http/src/middleware.rs: a claim left
/// "running" by a killed node is taken over by a retry only once it is this old.
const ABANDONED_AFTER: Duration = Duration::from_secs(120);
const RATE_WINDOW: Duration = Duration::from_secs(20);
const CLASSES: [&str; 3] = ["GET /deals?limit=50", "GET /deals/{id}", "POST /deals"];

#[derive(Debug, Parser)]
#[command(about = "Load and fault checks for several levd nodes on one PostgreSQL database")]
struct Args {
    /// The levd binary.
    #[arg(long, default_value = "target/release/levd")]
    levd: PathBuf,
    /// A PostgreSQL server URL; each run creates its own database on it.
    #[arg(long, env = "LEV_TEST_DATABASE_URL")]
    database_url: String,
    /// Seconds of mixed load (check a; each setup with --compare).
    #[arg(long, default_value_t = 15)]
    duration: u64,
    /// Concurrent requests of the mixed load.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Lifetime in seconds of a node's rate-limit lease (README, "Many nodes on PostgreSQL"):
    /// across nodes a bucket admits in W seconds at most what one bucket admits in W + this.
    #[arg(long, default_value_t = 2)]
    lease_secs: u64,
    /// Measure instead of check: the mixed load on SQLite, PostgreSQL, and two PostgreSQL nodes.
    #[arg(long)]
    compare: bool,
    /// Keep the databases and node logs after the run.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.database_url.starts_with("postgres://") && !args.database_url.starts_with("postgresql://") {
        eprintln!("cluster: --database-url must be a postgres:// URL");
        return ExitCode::from(2);
    }
    // A hard ceiling on the whole run: dropping the run future drops every Node, and
    // kill_on_drop takes the child processes with it.
    let budget = if args.compare {
        Duration::from_secs(3 * (args.duration + 30) + 120)
    } else {
        Duration::from_secs(args.duration) + ABANDONED_AFTER + Duration::from_secs(240)
    };
    let outcome =
        tokio::time::timeout(budget, async { if args.compare { compare(&args).await } else { checks(&args).await } })
            .await;
    match outcome {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::from(1),
        Ok(Err(e)) => {
            eprintln!("cluster: {e}");
            ExitCode::from(2)
        }
        Err(_) => {
            eprintln!("cluster: gave up after {} s", budget.as_secs());
            ExitCode::from(2)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and databases

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// A child inherits no `LEV_*` variable, so a developer's shell cannot change what is measured.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LEV_") {
            cmd.env_remove(k);
        }
    }
}

/// Runs `levd --database-url DB ARGS…` and returns the JSON object it prints last.
async fn levd_cmd(levd: &Path, db: &str, args: &[&str]) -> Result<Value, String> {
    let mut cmd = Command::new(levd);
    cmd.arg("--database-url").arg(db).args(args).stdin(Stdio::null()).kill_on_drop(true);
    clean_env(&mut cmd);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| format!("levd {} took over 60 s", args.join(" ")))?
        .map_err(|e| format!("cannot run {}: {e}", levd.display()))?;
    if !out.status.success() {
        return Err(format!("levd {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    serde_json::from_str(last).map_err(|e| format!("levd {}: unexpected output {last:?}: {e}", args.join(" ")))
}

struct Tenant {
    key: String,
}

/// One admin user, member (admin role: check d creates and revokes keys) of each account.
async fn seed(levd: &Path, db: &str, accounts: &[(&str, &str)]) -> Result<HashMap<String, Tenant>, String> {
    levd_cmd(levd, db, &["migrate"]).await?;
    let email = "harness@cluster.invalid";
    levd_cmd(levd, db, &["admin", "user", "create", "--email", email, "--first-name", "Harness"]).await?;
    let mut out = HashMap::new();
    for (slug, tier) in accounts {
        levd_cmd(levd, db, &["admin", "account", "create", "--slug", slug, "--name", slug, "--tier", tier]).await?;
        levd_cmd(levd, db, &["admin", "member", "add", "--email", email, "--account", slug, "--role", "admin"]).await?;
        let k =
            levd_cmd(levd, db, &["admin", "key", "create", "--email", email, "--account", slug, "--label", "harness"])
                .await?;
        let key = k["api_key"].as_str().ok_or("levd admin key create printed no api_key")?.to_string();
        out.insert(slug.to_string(), Tenant { key });
    }
    Ok(out)
}

struct Node {
    name: String,
    child: Child,
    addr: String,
    db: String,
    rate_limits: bool,
    log: PathBuf,
}

impl Node {
    async fn start(
        levd: &Path,
        name: &str,
        db: &str,
        bind: &str,
        rate_limits: bool,
        dir: &Path,
    ) -> Result<Node, String> {
        let log = dir.join(format!("{name}.log"));
        // Appending keeps the log of a node's first life when it is restarted.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let mut cmd = Command::new(levd);
        cmd.arg("--database-url")
            .arg(db)
            .args(["serve", "--no-migrate", "--bind", bind, "--rate-limits", if rate_limits { "on" } else { "off" }])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        clean_env(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", levd.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, rest)) = line.split_once("listening on http://") {
                    return Some(rest.trim().to_string());
                }
            }
            None
        })
        .await;
        let Ok(Some(addr)) = found else {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(format!("node {name} did not start; last log lines:\n{}", tail(&log, 10)));
        };
        // Nothing more is expected on stdout, but a full pipe would stall the node if it came.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Node { name: name.to_string(), child, addr, db: db.to_string(), rate_limits, log })
    }

    fn base(&self) -> String {
        format!("http://{}{API}", self.addr)
    }

    async fn kill9(&mut self) {
        // tokio's kill is SIGKILL: no graceful drain, no chance to finish claimed requests.
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// A fresh process on the same address, so clients that knew the node find it again.
    async fn restart(&mut self, levd: &Path) -> Result<(), String> {
        let dir = self.log.parent().unwrap_or(Path::new(".")).to_path_buf();
        let node = match Node::start(levd, &self.name, &self.db, &self.addr, self.rate_limits, &dir).await {
            Ok(n) => n,
            Err(first) => {
                eprintln!("  restart on {} failed ({first}); trying a new port", self.addr);
                Node::start(levd, &self.name, &self.db, "127.0.0.1:0", self.rate_limits, &dir).await?
            }
        };
        *self = node;
        Ok(())
    }
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The URL of database `name` on the server of `url` (same credentials and options).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[host_start..].find('/').map_or(base.len(), |i| i + host_start);
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}/{name}{query}", &base[..host_end])
}

/// Databases created by this run, dropped at the end.
struct Databases {
    admin_url: String,
    names: Vec<String>,
}

impl Databases {
    async fn create(&mut self, name: &str) -> Result<String, String> {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", redact(&self.admin_url)))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        let _ = conn.close().await;
        self.names.push(name.to_string());
        Ok(with_database(&self.admin_url, name))
    }

    async fn drop_all(&mut self) {
        let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await else { return };
        for name in self.names.drain(..) {
            // FORCE: connections of killed nodes may not have been noticed by the server yet.
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                eprintln!("cluster: could not drop database {name}: {e}");
            }
        }
        let _ = conn.close().await;
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[derive(Clone)]
struct Api {
    http: Client,
}

struct Reply {
    status: u16,
    body: Value,
    replayed: bool,
}

impl Api {
    fn new() -> Result<Api, String> {
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            // Loopback only: a proxy from the environment must not see (or break) the traffic.
            .no_proxy()
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Api { http })
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        key: &str,
        body: Option<&Value>,
        idem: Option<&str>,
    ) -> Result<Reply, String> {
        let mut rb = self.http.request(method, url).bearer_auth(key).header("X-Origin-App", ORIGIN);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        if let Some(k) = idem {
            rb = rb.header("Idempotency-Key", k);
        }
        let resp = rb.send().await.map_err(|e| chain(&e))?;
        let status = resp.status().as_u16();
        let replayed = resp.headers().get("idempotent-replayed").is_some();
        let bytes = resp.bytes().await.map_err(|e| chain(&e))?;
        Ok(Reply { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), replayed })
    }

    async fn get(&self, url: &str, key: &str) -> Result<Reply, String> {
        self.call(Method::GET, url, key, None, None).await
    }
}

/// The error with its causes: reqwest's own message alone hides "connection refused".
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn in_progress(r: &Reply) -> bool {
    r.status == 409 && r.body["error"]["message"].as_str().is_some_and(|m| m.contains("in progress"))
}

fn brief(r: &Reply) -> String {
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    format!("{} {msg}", r.status).trim().to_string()
}

/// Every deal of the account whose title contains `needle`, by title.
async fn deals_matching(api: &Api, base: &str, key: &str, needle: &str) -> Result<BTreeMap<String, Vec<i64>>, String> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/deals?limit=200&search={needle}");
        if let Some(c) = &cursor {
            url.push_str("&cursor=");
            url.push_str(c);
        }
        let r = api.get(&url, key).await?;
        if r.status != 200 {
            return Err(format!("GET /deals?search={needle}: {}", brief(&r)));
        }
        for d in r.body["data"].as_array().into_iter().flatten() {
            let title = d["title"].as_str().unwrap_or("").to_string();
            out.entry(title).or_default().push(d["id"].as_i64().unwrap_or(-1));
        }
        match r.body["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok(out),
        }
    }
}

/// Creates `n` deals through the API (spread over the nodes) for the readers of the load.
async fn preseed(api: &Api, bases: &[String], key: &str, n: usize, tag: &str) -> Result<Vec<i64>, String> {
    let results: Vec<Result<i64, String>> = futures::stream::iter(0..n)
        .map(|i| {
            let url = format!("{}/deals", bases[i % bases.len()]);
            let body = deal_body(&format!("{tag}-seed-{i}"));
            async move {
                let r = api.call(Method::POST, &url, key, Some(&body), None).await?;
                r.body["data"]["id"].as_i64().filter(|_| r.status == 201).ok_or_else(|| brief(&r))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<_>, _>>().map_err(|e| format!("seeding deals: {e}"))
}

fn deal_body(title: &str) -> Value {
    json!({
        "title": title,
        "loan_amount": 1_250_000,
        "loan_type": "permanent",
        "transaction_type": "acquisition",
        "description": "Created by the cluster harness",
    })
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// xorshift64*: the request mix needs cheap, decent randomness, not a dependency.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        Rng(uuid::Uuid::new_v4().as_u128() as u64 | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

#[derive(Default, Clone)]
struct ClassStats {
    ok: u64,
    errors: u64,
    /// Microseconds of every answered request, errors included, as wrk counts them.
    latencies: Vec<u32>,
    first_errors: Vec<String>,
}

impl ClassStats {
    fn record(&mut self, started: Instant, result: Result<Reply, String>, expect: u16) {
        let us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        let failure = match result {
            Ok(r) if r.status == expect => {
                self.ok += 1;
                self.latencies.push(us);
                None
            }
            Ok(r) => {
                self.latencies.push(us);
                Some(brief(&r))
            }
            Err(e) => Some(e),
        };
        if let Some(f) = failure {
            self.errors += 1;
            if self.first_errors.len() < 3 {
                self.first_errors.push(f);
            }
        }
    }

    fn merge(&mut self, o: ClassStats) {
        self.ok += o.ok;
        self.errors += o.errors;
        self.latencies.extend(o.latencies);
        for e in o.first_errors {
            if self.first_errors.len() < 3 {
                self.first_errors.push(e);
            }
        }
    }

    fn count(&self) -> u64 {
        self.ok + self.errors
    }
}

/// Nearest-rank percentile in milliseconds of sorted microseconds.
fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

struct LoadReport {
    classes: [ClassStats; 3],
    elapsed: Duration,
}

impl LoadReport {
    fn rows(&mut self, setup: &str) -> Vec<String> {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut all = ClassStats::default();
        let mut rows = Vec::new();
        for (name, c) in CLASSES.iter().zip(self.classes.iter_mut()) {
            c.latencies.sort_unstable();
            rows.push(row(setup, name, c, secs));
            all.merge(c.clone());
        }
        all.latencies.sort_unstable();
        rows.push(row(setup, "all", &all, secs));
        rows
    }

    fn errors(&self) -> (u64, Vec<String>) {
        let n = self.classes.iter().map(|c| c.errors).sum();
        let first = self.classes.iter().flat_map(|c| c.first_errors.iter().cloned()).take(3).collect();
        (n, first)
    }
}

fn row(setup: &str, class: &str, c: &ClassStats, secs: f64) -> String {
    format!(
        "| {setup} | {class} | {} | {} | {:.0} | {:.2} | {:.2} |",
        c.count(),
        c.errors,
        c.count() as f64 / secs,
        percentile(&c.latencies, 0.50),
        percentile(&c.latencies, 0.99)
    )
}

const TABLE_HEAD: &str =
    "| setup | class | requests | errors | req/s | p50 ms | p99 ms |\n|---|---|---:|---:|---:|---:|---:|";

/// Closed-loop mixed load: `concurrency` workers, each sending its next request as soon as the
/// previous one is answered, to the nodes in turn.
async fn mixed_load(
    api: &Api,
    bases: &[String],
    key: &str,
    ids: &Arc<Vec<i64>>,
    duration: Duration,
    concurrency: usize,
    tag: &str,
) -> LoadReport {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (api, bases, key, ids, tag) = (api.clone(), bases.to_vec(), key.to_string(), ids.clone(), tag.to_string());
        workers.push(tokio::spawn(async move {
            let mut rng = Rng::new();
            let mut stats: [ClassStats; 3] = Default::default();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let base = &bases[(w + n) % bases.len()];
                n += 1;
                let roll = rng.below(100);
                let t = Instant::now();
                if roll < 70 {
                    let r = api.get(&format!("{base}/deals?limit=50"), &key).await;
                    stats[0].record(t, r, 200);
                } else if roll < 80 {
                    let id = ids[rng.below(ids.len())];
                    let r = api.get(&format!("{base}/deals/{id}"), &key).await;
                    stats[1].record(t, r, 200);
                } else {
                    let body = deal_body(&format!("{tag}-w{w}-{n}"));
                    let idem = uuid::Uuid::new_v4().to_string();
                    let r = api.call(Method::POST, &format!("{base}/deals"), &key, Some(&body), Some(&idem)).await;
                    stats[2].record(t, r, 201);
                }
            }
            stats
        }));
    }
    let mut classes: [ClassStats; 3] = Default::default();
    for w in workers {
        if let Ok(stats) = w.await {
            for (into, from) in classes.iter_mut().zip(stats) {
                into.merge(from);
            }
        }
    }
    LoadReport { classes, elapsed: started.elapsed() }
}

// ---------------------------------------------------------------------------------------------
// Reporting

struct Outcome {
    name: &'static str,
    pass: bool,
    detail: String,
}

fn report(results: &mut Vec<Outcome>, name: &'static str, pass: bool, detail: String) {
    println!("{} {name}: {detail}", if pass { "PASS" } else { "FAIL" });
    results.push(Outcome { name, pass, detail });
}

fn progress(msg: &str) {
    eprintln!("-- {msg}");
}

// ---------------------------------------------------------------------------------------------
// The checks

async fn checks(args: &Args) -> Result<bool, String> {
    let run = short_id();
    let dir = std::env::temp_dir().join(format!("levd-cluster-{run}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut dbs = Databases { admin_url: args.database_url.clone(), names: Vec::new() };
    let result = run_checks(args, &run, &dir, &mut dbs).await;
    let passed = matches!(result, Ok(true));
    if args.keep || !passed {
        eprintln!("cluster: node logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if args.keep {
        eprintln!("cluster: databases kept: {}", dbs.names.join(", "));
    } else {
        dbs.drop_all().await;
    }
    result
}

async fn run_checks(args: &Args, run: &str, dir: &Path, dbs: &mut Databases) -> Result<bool, String> {
    let levd = args.levd.as_path();
    let db = dbs.create(&format!("levd_cluster_{run}")).await?;
    progress(&format!("database {}", redact(&db)));
    let tenants = seed(
        levd,
        &db,
        &[("load", "enterprise"), ("free-endpoint", "free"), ("free-account", "free"), ("free-reference", "free")],
    )
    .await?;
    let load_key = tenants["load"].key.clone();

    let mut a = Node::start(levd, "node-a", &db, "127.0.0.1:0", false, dir).await?;
    let b = Node::start(levd, "node-b", &db, "127.0.0.1:0", false, dir).await?;
    let ra = Node::start(levd, "limited-a", &db, "127.0.0.1:0", true, dir).await?;
    let rb = Node::start(levd, "limited-b", &db, "127.0.0.1:0", true, dir).await?;
    progress(&format!(
        "nodes (rate limits off) A {} B {}; nodes (rate limits on) {} {}; logs in {}",
        a.addr,
        b.addr,
        ra.addr,
        rb.addr,
        dir.display()
    ));
    let api = Api::new()?;
    let ids = Arc::new(preseed(&api, &[a.base(), b.base()], &load_key, 100, &format!("load-{run}")).await?);

    let mut results = Vec::new();

    // a. Mixed load.
    progress(&format!("a: mixed load for {} s, {} concurrent requests, both nodes", args.duration, args.concurrency));
    let mut load = mixed_load(
        &api,
        &[a.base(), b.base()],
        &load_key,
        &ids,
        Duration::from_secs(args.duration),
        args.concurrency,
        &format!("load-{run}"),
    )
    .await;
    println!("{TABLE_HEAD}");
    for r in load.rows("PostgreSQL, 2 nodes") {
        println!("{r}");
    }
    let (errors, first) = load.errors();
    let total: u64 = load.classes.iter().map(|c| c.count()).sum();
    report(
        &mut results,
        "a mixed load",
        errors == 0 && total > 0,
        format!("{total} requests in {:.1} s, {errors} errors{}", load.elapsed.as_secs_f64(), examples(&first)),
    );

    // b1. SIGKILL mid-write.
    progress("b: writers on both nodes; SIGKILL node A after 2 s, restart it 1 s later");
    let kill = kill_and_restart(&api, levd, &mut a, &b, &load_key, run).await?;
    report(&mut results, "b1 kill -9 and restart", kill.pass, kill.detail.clone());

    // c. One idempotency key, 50 concurrent requests.
    progress("c: 50 concurrent creates with one Idempotency-Key, alternating nodes");
    let (pass, detail) = one_key_many_requests(&api, &[a.base(), b.base()], &load_key, run).await;
    report(&mut results, "c one key, 50 concurrent requests", pass, detail);

    // d. Revocation across nodes.
    progress("d: key created and revoked on A, used on B");
    let (pass, detail) = revoke_across_nodes(&api, &a.base(), &b.base(), &load_key).await;
    report(&mut results, "d revoke on A, refused on B", pass, detail);

    // e. Rate limits across nodes, three accounts at once (buckets are per account).
    progress(&format!("e: free-tier accounts as fast as possible for {} s", RATE_WINDOW.as_secs()));
    let two = [ra.base(), rb.base()];
    let one = [ra.base()];
    let endpoint_paths = ["/deals?limit=1"];
    let account_paths = ["/deals?limit=1", "/me", "/me/accounts", "/api-keys", "/account/team"];
    let (e1, e2, e3) = tokio::join!(
        hammer(&api, &two, &tenants["free-endpoint"].key, &endpoint_paths),
        hammer(&api, &two, &tenants["free-account"].key, &account_paths),
        hammer(&api, &one, &tenants["free-reference"].key, &endpoint_paths),
    );
    for (name, tally, per_minute, nodes, what) in [
        ("e1 rate limit, endpoint bucket, 2 nodes", e1, 10, 2, "GET /deals (10/min)"),
        ("e2 rate limit, account bucket, 2 nodes", e2, 30, 2, "5 endpoints (account 30/min)"),
        ("e3 rate limit, endpoint bucket, 1 node (reference)", e3, 10, 1, "GET /deals (10/min)"),
    ] {
        let (bound, why) = rate_bound(per_minute, nodes, args.lease_secs);
        report(
            &mut results,
            name,
            tally.other == 0 && tally.ok <= bound,
            format!(
                "{what}: {} accepted, {} refused (429), {} other in {} s; bound {bound}: {why}{}",
                tally.ok,
                tally.limited,
                tally.other,
                RATE_WINDOW.as_secs(),
                examples(&tally.first_other),
            ),
        );
    }

    // b2. Writes whose claim died with node A.
    let (pass, detail) = resolve_pending(&api, &[a.base(), b.base()], &load_key, kill).await;
    report(&mut results, "b2 retries after the abandoned-claim timeout", pass, detail);

    let failed: Vec<&str> = results.iter().filter(|o| !o.pass).map(|o| o.name).collect();
    println!();
    println!("summary: {} checks, {} passed, {} failed", results.len(), results.len() - failed.len(), failed.len());
    for o in &results {
        if !o.pass {
            println!("  failed: {} ({})", o.name, o.detail);
        }
    }
    drop((a, b, ra, rb));
    Ok(failed.is_empty())
}

fn examples(errors: &[String]) -> String {
    if errors.is_empty() { String::new() } else { format!(" (e.g. {})", errors.join("; ")) }
}

// --- b

struct Write {
    title: String,
    key: String,
    body: Value,
    /// Index of the node the write goes to first; retries alternate from there.
    first: usize,
}

enum WriteResult {
    Acked {
        id: i64,
        replayed: bool,
    },
    /// Still refused as "in progress" when patience ran out: the claim of a request that died.
    Pending,
    Refused(String),
}

#[derive(Default)]
struct WriteCounters {
    /// Refused connections: the node was down.
    refused: AtomicU64,
    /// Connections that broke with the request sent: in flight when the node died.
    broken: AtomicU64,
    server_errors: AtomicU64,
    in_progress: AtomicU64,
}

/// One logical write: the same key and body until a definite answer or `patience` runs out.
async fn write_once(
    api: &Api,
    bases: &RwLock<Vec<String>>,
    key: &str,
    w: &Write,
    patience: Duration,
    counters: &WriteCounters,
    in_flight: Option<&[AtomicI64; 2]>,
) -> WriteResult {
    let started = Instant::now();
    let mut target = w.first;
    loop {
        if started.elapsed() > patience {
            return WriteResult::Pending;
        }
        let node = target % 2;
        let url = format!("{}/deals", bases.read().map(|b| b[node].clone()).unwrap_or_default());
        if let Some(f) = in_flight {
            f[node].fetch_add(1, Ordering::SeqCst);
        }
        let r = api.call(Method::POST, &url, key, Some(&w.body), Some(&w.key)).await;
        if let Some(f) = in_flight {
            f[node].fetch_sub(1, Ordering::SeqCst);
        }
        match r {
            Ok(r) if r.status == 201 => match r.body["data"]["id"].as_i64() {
                Some(id) => return WriteResult::Acked { id, replayed: r.replayed },
                None => return WriteResult::Refused(format!("201 without an id: {}", r.body)),
            },
            Ok(r) if in_progress(&r) => {
                counters.in_progress.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(r) if r.status >= 500 => {
                counters.server_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(r) => return WriteResult::Refused(brief(&r)),
            Err(e) => {
                let counter = if e.contains("refused") { &counters.refused } else { &counters.broken };
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        target += 1;
    }
}

struct KillOutcome {
    pass: bool,
    detail: String,
    killed_at: Instant,
    tag: String,
    acked: Vec<(String, i64)>,
    pending: Vec<Write>,
    /// Pending writes whose deal was already stored at the end of the kill phase.
    committed: usize,
    titles: Vec<String>,
}

const WRITERS: usize = 8;

async fn kill_and_restart(
    api: &Api,
    levd: &Path,
    a: &mut Node,
    b: &Node,
    key: &str,
    run: &str,
) -> Result<KillOutcome, String> {
    let tag = format!("kill-{run}");
    let bases = Arc::new(RwLock::new(vec![a.base(), b.base()]));
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(WriteCounters::default());
    let in_flight = Arc::new([AtomicI64::new(0), AtomicI64::new(0)]);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (api, bases, stop, counters, in_flight, key, tag) = (
            api.clone(),
            bases.clone(),
            stop.clone(),
            counters.clone(),
            in_flight.clone(),
            key.to_string(),
            tag.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            let mut seq = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let title = format!("{tag}-w{w}-{seq}");
                let write = Write {
                    key: format!("{title}-{}", short_id()),
                    body: deal_body(&title),
                    title,
                    first: (w + seq) % 2,
                };
                seq += 1;
                let r =
                    write_once(&api, &bases, &key, &write, Duration::from_secs(5), &counters, Some(&in_flight)).await;
                done.push((write, r));
            }
            done
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Kill at a moment when A has requests in flight (bounded: after 1 s, kill anyway).
    let aim = Instant::now() + Duration::from_secs(1);
    while in_flight[0].load(Ordering::SeqCst) < (WRITERS / 4) as i64 && Instant::now() < aim {
        tokio::task::yield_now().await;
    }
    let flying = in_flight[0].load(Ordering::SeqCst);
    a.kill9().await;
    let killed_at = Instant::now();
    progress(&format!("b: node A killed with {flying} of its requests in flight"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.restart(levd).await?;
    if let Ok(mut list) = bases.write() {
        list[0] = a.base();
    }
    progress(&format!("b: node A restarted on {}", a.addr));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);

    let mut acked = Vec::new();
    let mut pending = Vec::new();
    let mut refused = Vec::new();
    let mut titles = Vec::new();
    let mut replayed = 0;
    for w in writers {
        for (write, r) in w.await.map_err(|e| format!("writer failed: {e}"))? {
            titles.push(write.title.clone());
            match r {
                WriteResult::Acked { id, replayed: rp } => {
                    replayed += u64::from(rp);
                    acked.push((write.title, id));
                }
                WriteResult::Pending => pending.push(write),
                WriteResult::Refused(why) => refused.push(format!("{}: {why}", write.title)),
            }
        }
    }

    let bases_now = [a.base(), b.base()];
    let Verification { missing, duplicates, stored } =
        verify_writes(api, &bases_now, key, &tag, &acked, &titles).await?;
    // A pending write already stored committed before the kill (with its answer, in one
    // transaction): the retry (b2) shows whether it then runs a second time.
    let committed = pending.iter().filter(|w| stored.contains_key(&w.title)).count();
    let pass = missing.is_empty() && duplicates.is_empty() && refused.is_empty() && !acked.is_empty();
    let mut detail = format!(
        "{} logical writes by {WRITERS} writers, {} acknowledged ({replayed} as replays), {} pending on a claim of \
         the killed node ({committed} of them already stored); {flying} requests in flight on A at the kill; retried: {} broken connections, {} refused \
         connections, {} 5xx, {} in-progress 409s; every acknowledged write readable: {}; duplicates: {}",
        titles.len(),
        acked.len(),
        pending.len(),
        counters.broken.load(Ordering::Relaxed),
        counters.refused.load(Ordering::Relaxed),
        counters.server_errors.load(Ordering::Relaxed),
        counters.in_progress.load(Ordering::Relaxed),
        if missing.is_empty() {
            "yes".to_string()
        } else {
            format!("NO, {} missing ({})", missing.len(), missing.join("; "))
        },
        if duplicates.is_empty() { "none".to_string() } else { duplicates.join("; ") },
    );
    if !refused.is_empty() {
        detail.push_str(&format!("; refused: {}", refused.join("; ")));
    }
    Ok(KillOutcome { pass, detail, killed_at, tag, acked, pending, committed, titles })
}

/// Acknowledged writes that cannot be read back (by id, with their title), and titles that
/// exist more than once.
async fn verify_writes(
    api: &Api,
    bases: &[String],
    key: &str,
    tag: &str,
    acked: &[(String, i64)],
    titles: &[String],
) -> Result<Verification, String> {
    let missing: Vec<String> = futures::stream::iter(acked.iter().enumerate())
        .map(|(i, (title, id))| async move {
            let url = format!("{}/deals/{id}", bases[i % bases.len()]);
            match api.get(&url, key).await {
                Ok(r) if r.status == 200 && r.body["data"]["title"] == *title => None,
                Ok(r) => Some(format!("{title} (id {id}): {}", brief(&r))),
                Err(e) => Some(format!("{title} (id {id}): {e}")),
            }
        })
        .buffer_unordered(16)
        .filter_map(|m| async move { m })
        .collect()
        .await;
    let stored = deals_matching(api, &bases[1], key, tag).await?;
    let mut duplicates: Vec<String> = stored
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(t, ids)| format!("{t} ×{} (ids {ids:?})", ids.len()))
        .collect();
    for (title, _) in acked {
        if !stored.contains_key(title) {
            duplicates.push(format!("{title} acknowledged but not found by search"));
        }
    }
    let known: std::collections::HashSet<&String> = titles.iter().collect();
    for t in stored.keys() {
        if !known.contains(t) {
            duplicates.push(format!("{t}: stored but never written"));
        }
    }
    Ok(Verification { missing, duplicates, stored })
}

struct Verification {
    /// Acknowledged writes not readable by id with their title.
    missing: Vec<String>,
    /// Titles stored more than once, acknowledged but not listed, or listed but never written.
    duplicates: Vec<String>,
    stored: BTreeMap<String, Vec<i64>>,
}

async fn resolve_pending(api: &Api, bases: &[String], key: &str, kill: KillOutcome) -> (bool, String) {
    if kill.pending.is_empty() {
        return (true, "no write was left pending by the kill; nothing to retry".into());
    }
    let ready = kill.killed_at + ABANDONED_AFTER + Duration::from_secs(2);
    let wait = ready.saturating_duration_since(Instant::now());
    progress(&format!(
        "b2: {} writes wait for their abandoned claims; retrying in {} s",
        kill.pending.len(),
        wait.as_secs()
    ));
    tokio::time::sleep(wait).await;
    let shared = RwLock::new(bases.to_vec());
    let counters = WriteCounters::default();
    let mut acked = kill.acked.clone();
    let mut problems = Vec::new();
    let mut replays = 0;
    for w in &kill.pending {
        match write_once(api, &shared, key, w, Duration::from_secs(10), &counters, None).await {
            WriteResult::Acked { id, replayed } => {
                replays += u64::from(replayed);
                acked.push((w.title.clone(), id));
            }
            WriteResult::Pending => problems.push(format!("{}: still in progress", w.title)),
            WriteResult::Refused(why) => problems.push(format!("{}: {why}", w.title)),
        }
    }
    match verify_writes(api, bases, key, &kill.tag, &acked, &kill.titles).await {
        Ok(Verification { missing, duplicates, .. }) => {
            let pass = problems.is_empty() && missing.is_empty() && duplicates.is_empty();
            let mut detail = format!(
                "{} pending writes retried {} s after the kill: {} acknowledged ({replays} as replays); all {} \
                 acknowledged writes readable: {}; duplicates: {}",
                kill.pending.len(),
                kill.killed_at.elapsed().as_secs(),
                kill.pending.len() - problems.len(),
                acked.len(),
                if missing.is_empty() { "yes".to_string() } else { format!("NO ({})", missing.join("; ")) },
                if duplicates.is_empty() { "none".to_string() } else { duplicates.join("; ") },
            );
            if !problems.is_empty() {
                detail.push_str(&format!("; not resolved: {}", problems.join("; ")));
            }
            if !duplicates.is_empty() && kill.committed > 0 {
                detail.push_str(&format!(
                    " — {} of the pending writes had committed before the kill with their claim left \
                     \"running\"; the retry that took the abandoned claim over ran the write again",
                    kill.committed
                ));
            }
            (pass, detail)
        }
        Err(e) => (false, e),
    }
}

// --- c

async fn one_key_many_requests(api: &Api, bases: &[String], key: &str, run: &str) -> (bool, String) {
    const N: usize = 50;
    let title = format!("idem-{run}");
    let idem = format!("idem-key-{run}");
    let body = deal_body(&title);
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let mut tasks = Vec::new();
    for i in 0..N {
        let (api, barrier, body, idem, key) =
            (api.clone(), barrier.clone(), body.clone(), idem.clone(), key.to_string());
        let url = format!("{}/deals", bases[i % bases.len()]);
        tasks.push(tokio::spawn(async move {
            // Released together, so the requests really overlap.
            barrier.wait().await;
            api.call(Method::POST, &url, &key, Some(&body), Some(&idem)).await
        }));
    }
    let (mut created, mut replayed, mut busy) = (0, 0, 0);
    let mut ids = std::collections::BTreeSet::new();
    let mut other = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(r)) if r.status == 201 => {
                if r.replayed {
                    replayed += 1;
                } else {
                    created += 1;
                }
                ids.insert(r.body["data"]["id"].as_i64().unwrap_or(-1));
            }
            Ok(Ok(r)) if in_progress(&r) => busy += 1,
            Ok(Ok(r)) => other.push(brief(&r)),
            Ok(Err(e)) => other.push(e),
            Err(e) => other.push(e.to_string()),
        }
    }
    // After the race, the key must keep answering with the one stored deal.
    let after = api.call(Method::POST, &format!("{}/deals", bases[0]), key, Some(&body), Some(&idem)).await;
    let after_ok = matches!(&after, Ok(r) if r.status == 201 && r.replayed && ids.len() == 1
        && ids.contains(&r.body["data"]["id"].as_i64().unwrap_or(-2)));
    let stored = match deals_matching(api, &bases[1], key, &title).await {
        Ok(m) => m.values().map(Vec::len).sum::<usize>(),
        Err(e) => {
            other.push(e);
            usize::MAX
        }
    };
    let pass = stored == 1 && created == 1 && ids.len() == 1 && other.is_empty() && after_ok;
    (
        pass,
        format!(
            "{stored} deal stored; {created} 201 created, {replayed} 201 replayed, {busy} 409 in progress, {} other; \
             ids of the 201s: {ids:?}; a later repeat replays it: {}{}",
            other.len(),
            if after_ok { "yes" } else { "NO" },
            examples(&other.into_iter().take(3).collect::<Vec<_>>()),
        ),
    )
}

// --- d

async fn revoke_across_nodes(api: &Api, a: &str, b: &str, admin_key: &str) -> (bool, String) {
    let step = async {
        let body = json!({"label": "revocation check"});
        let r = api.call(Method::POST, &format!("{a}/api-keys"), admin_key, Some(&body), None).await?;
        if r.status != 201 {
            return Err(format!("POST /api-keys on A: {}", brief(&r)));
        }
        let id = r.body["data"]["id"].as_i64().ok_or("no key id")?;
        let secret = r.body["data"]["api_key"].as_str().ok_or("no api_key")?.to_string();
        let before = api.get(&format!("{b}/me"), &secret).await?.status;
        let del = api.call(Method::DELETE, &format!("{a}/api-keys/{id}"), admin_key, None, None).await?;
        if del.status != 200 {
            return Err(format!("DELETE /api-keys/{id} on A: {}", brief(&del)));
        }
        let on_a = api.get(&format!("{a}/me"), &secret).await?.status;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = api.get(&format!("{b}/me"), &secret).await?.status;
        Ok::<_, String>((before, on_a, after))
    };
    match step.await {
        Ok((before, on_a, after)) => (
            before == 200 && on_a == 401 && after == 401,
            format!("new key on B before revocation: {before}; on A right after: {on_a}; on B 1 s later: {after}"),
        ),
        Err(e) => (false, e),
    }
}

// --- e

/// The documented bound (README, "Many nodes on PostgreSQL"): over a window of W seconds the
/// nodes together accept at most what one GCRA bucket accepts over W + the lease lifetime, i.e.
/// the burst plus one request per interval. The looser "figure in the window + nodes × lease"
/// is printed beside it for comparison.
fn rate_bound(per_minute: u32, nodes: u32, lease_secs: u64) -> (u64, String) {
    let w = RATE_WINDOW.as_secs();
    let per = u64::from(per_minute);
    let bound = per + (w + lease_secs) * per / 60;
    let in_window = per + w * per / 60;
    let lease = (per_minute / 10).clamp(1, 50);
    let loose = in_window + u64::from(nodes * lease);
    let why = format!(
        "one bucket over {w} s + {lease_secs} s lease lifetime = burst {per} + {} s × {per}/60 \
         (figure in the window + nodes × lease = {in_window} + {nodes} × {lease} = {loose})",
        w + lease_secs
    );
    (bound, why)
}

#[derive(Default)]
struct Tally {
    ok: u64,
    limited: u64,
    other: u64,
    first_other: Vec<String>,
}

/// Two workers send requests back to back for the window, each to the nodes in turn and
/// cycling through `paths`.
async fn hammer(api: &Api, bases: &[String], key: &str, paths: &[&str]) -> Tally {
    let end = Instant::now() + RATE_WINDOW;
    let workers = (0..2).map(|w| async move {
        let mut t = Tally::default();
        let mut n = w;
        while Instant::now() < end {
            let url = format!("{}{}", bases[n % bases.len()], paths[(n / bases.len()) % paths.len()]);
            n += 1;
            match api.get(&url, key).await {
                Ok(r) if (200..300).contains(&r.status) => t.ok += 1,
                Ok(r) if r.status == 429 => t.limited += 1,
                Ok(r) => {
                    t.other += 1;
                    if t.first_other.len() < 3 {
                        t.first_other.push(brief(&r));
                    }
                }
                Err(e) => {
                    t.other += 1;
                    if t.first_other.len() < 3 {
                        t.first_other.push(e);
                    }
                }
            }
        }
        t
    });
    let mut total = Tally::default();
    for t in futures::future::join_all(workers).await {
        total.ok += t.ok;
        total.limited += t.limited;
        total.other += t.other;
        total.first_other.extend(t.first_other);
    }
    total.first_other.truncate(3);
    total
}

// ---------------------------------------------------------------------------------------------
// --compare

async fn compare(args: &Args) -> Result<bool, String> {
    let run = short_id();
    let dir = std::env::temp_dir().join(format!("levd-cluster-{run}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut dbs = Databases { admin_url: args.database_url.clone(), names: Vec::new() };
    let result = run_compare(args, &run, &dir, &mut dbs).await;
    if args.keep || result.is_err() {
        eprintln!("cluster: node logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if !args.keep {
        dbs.drop_all().await;
    }
    result
}

async fn run_compare(args: &Args, run: &str, dir: &Path, dbs: &mut Databases) -> Result<bool, String> {
    let levd = args.levd.as_path();
    let api = Api::new()?;
    let setups: [(&str, bool, usize); 3] =
        [("SQLite, 1 node", false, 1), ("PostgreSQL, 1 node", true, 1), ("PostgreSQL, 2 nodes", true, 2)];
    let mut rows = Vec::new();
    let mut clean = true;
    for (i, (label, postgres, nodes)) in setups.into_iter().enumerate() {
        // A fresh database per setup: the list pages count the account's deals, so a database
        // that grew during an earlier setup would make a later one look slower.
        let db = if postgres {
            dbs.create(&format!("levd_cluster_{run}_{i}")).await?
        } else {
            format!("sqlite://{}", dir.join(format!("compare-{i}.db")).display())
        };
        let tenants = seed(levd, &db, &[("load", "enterprise")]).await?;
        let key = tenants["load"].key.clone();
        let mut started = Vec::new();
        for n in 0..nodes {
            started.push(Node::start(levd, &format!("compare-{i}-{n}"), &db, "127.0.0.1:0", false, dir).await?);
        }
        let bases: Vec<String> = started.iter().map(Node::base).collect();
        let ids = Arc::new(preseed(&api, &bases, &key, 100, &format!("cmp-{run}")).await?);
        progress(&format!("{label}: 2 s warm-up, then {} s of mixed load", args.duration));
        mixed_load(&api, &bases, &key, &ids, Duration::from_secs(2), args.concurrency, &format!("warm-{run}")).await;
        let mut load = mixed_load(
            &api,
            &bases,
            &key,
            &ids,
            Duration::from_secs(args.duration),
            args.concurrency,
            &format!("cmp-{run}"),
        )
        .await;
        let (errors, first) = load.errors();
        if errors > 0 {
            clean = false;
            eprintln!("cluster: {label}: {errors} errors{}", examples(&first));
        }
        rows.extend(load.rows(label));
        drop(started);
    }
    println!(
        "mixed load: 70 % GET /deals?limit=50, 10 % GET /deals/{{id}}, 20 % POST /deals with Idempotency-Key; \
         {} concurrent requests, {} s per setup after a 2 s warm-up; rate limits off",
        args.concurrency, args.duration
    );
    println!("{TABLE_HEAD}");
    for r in rows {
        println!("{r}");
    }
    Ok(clean)
}
