//! Running levd in production: the binary's configuration (file, environment, flags), its
//! logs, the modes of the files it creates, and client addresses behind reverse proxies.
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use levd_domain::limits::RateLimitConfig;
use levd_domain::net::parse_trusted_proxies;
use levd_http::middleware::Tuning;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::process::{Child, Command};

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_levd");

/// `levd` with a clean environment (no `LEV_*` of the caller), run in `dir`.
fn levd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).current_dir(dir).kill_on_drop(true);
    c
}

/// `levd serve` in `dir` with its database and data directory there.
fn serve(dir: &Path, extra: &[&str]) -> Command {
    let mut c = levd(dir);
    c.arg("serve").args(["--database-url", &db_url(dir), "--data-dir"]).arg(dir.join("data")).args(extra);
    c
}

fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("lev.db").display())
}

struct Server {
    child: Child,
    addr: String,
    /// Standard output up to and including the address line.
    stdout: Vec<String>,
    stdout_lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    /// Standard error, read all along (a full pipe would stall the server).
    stderr: tokio::task::JoinHandle<String>,
}

/// Starts the command (stdout and stderr piped) and waits for its address line.
async fn started(mut c: Command) -> Server {
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout_lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut pipe = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut err = String::new();
        let _ = pipe.read_to_string(&mut err).await;
        err
    });
    let mut stdout = Vec::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), stdout_lines.next_line()).await;
        let Ok(Ok(Some(line))) = line else {
            let _ = child.kill().await;
            panic!("levd did not start: {}", stderr.await.unwrap());
        };
        stdout.push(line.clone());
        if let Some(i) = line.find("listening on http://") {
            let addr = line[i + "listening on http://".len()..].trim().to_string();
            return Server { child, addr, stdout, stdout_lines, stderr };
        }
    }
}

impl Server {
    /// Stops the server (SIGTERM) and returns what it wrote to standard error.
    async fn stop(mut self) -> String {
        std::process::Command::new("kill").args(["-TERM", &self.child.id().unwrap().to_string()]).status().unwrap();
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
        self.stderr.await.unwrap()
    }

    /// The rest of standard output up to `needle` (e.g. the demo key line).
    async fn stdout_until(&mut self, needle: &str) -> String {
        if let Some(l) = self.stdout.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), self.stdout_lines.next_line()).await;
            let line = line.unwrap().unwrap().unwrap_or_else(|| panic!("no line with {needle}"));
            self.stdout.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
}

/// Runs a command that is expected to end by itself within a bounded time.
async fn finished(mut c: Command, within: Duration) -> Output {
    let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    tokio::time::timeout(within, child.wait_with_output()).await.expect("levd did not exit in time").unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

fn with_suffix(p: &Path, s: &str) -> PathBuf {
    let mut o = p.as_os_str().to_owned();
    o.push(s);
    PathBuf::from(o)
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// The database (and its WAL and shared-memory files) holds signing keys: whatever the umask,
/// levd creates it and its data directory for the owner only, and tightens looser ones.
#[cfg(unix)]
#[tokio::test]
async fn files_levd_creates_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // `sh` sets the umask, then becomes levd.
    let start = || {
        let mut sh = Command::new("sh");
        sh.args(["-c", "umask 022; exec \"$0\" \"$@\"", BIN, "serve", "--bind", "127.0.0.1:0"])
            .args(["--database-url", &db_url(dir.path()), "--data-dir"])
            .arg(dir.path().join("data"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(dir.path())
            .kill_on_drop(true);
        sh
    };
    let db = dir.path().join("lev.db");
    let server = started(start()).await;
    for f in [db.clone(), with_suffix(&db, "-wal"), with_suffix(&db, "-shm")] {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    server.stop().await;

    // Files left with wider modes (by an older levd) are made private on the next start.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.path().join("data"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = started(start()).await;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    let logs = server.stop().await;
    assert!(logs.contains("private"), "{logs}");
}

/// A database file levd may not write stops the start at once, naming the cause (not a pool
/// timeout ten seconds later).
#[cfg(unix)]
#[tokio::test]
async fn a_read_only_database_fails_at_once_with_the_cause() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let m = finished(
        {
            let mut c = levd(dir.path());
            c.args(["migrate", "--database-url", &db_url(dir.path())]);
            c
        },
        Duration::from_secs(30),
    )
    .await;
    assert!(m.status.success(), "{}", text(&m.stderr));
    let db = dir.path().join("lev.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = serve(dir.path(), &["--bind", "127.0.0.1:0"]);
    // Permissions do not bind root: run as an unprivileged user then.
    let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    if root {
        c.as_std_mut().uid(65534).gid(65534);
    }
    // Well under the pool's 10 s acquire timeout.
    let out = finished(c, Duration::from_secs(8)).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("read-only"), "{err}");
    assert!(!err.contains("timed out"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// A wrong `--bind` is reported before any database or data directory is created.
#[tokio::test]
async fn a_bad_bind_fails_before_a_database_exists() {
    let dir = tempfile::tempdir().unwrap();
    let out = finished(serve(dir.path(), &["--bind", "nonsense"]), Duration::from_secs(30)).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot bind nonsense"), "{}", text(&out.stderr));
    assert!(!dir.path().join("lev.db").exists());
    assert!(!dir.path().join("data").exists());
}

/// The configuration file sets any long flag; environment variables win over it, flags over
/// both. Loopback addresses tell which source won.
#[tokio::test]
async fn config_file_values_sit_below_environment_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("levd.toml");
    std::fs::write(
        &file,
        format!(
            "bind = \"127.0.0.2:0\"\ndatabase_url = \"{}\"\ndata-dir = \"{}\"\ndemo = true\nrate_limits = \"off\"\n\
             access_token_ttl = 600\nmcp_allowed_hosts = [\"a.example\", \"b.example\"]\n",
            db_url(dir.path()),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let cfg = file.to_str().unwrap();

    // The file alone: its address, database and demo switch.
    let mut c = levd(dir.path());
    c.args(["serve", "--config", cfg]);
    let mut s = started(c).await;
    assert!(s.addr.starts_with("127.0.0.2:"), "{}", s.addr);
    s.stdout_until("Demo API key").await;
    s.stop().await;
    assert!(dir.path().join("lev.db").exists());
    assert!(dir.path().join("data").is_dir());

    // The environment wins over the file (the file named by LEV_CONFIG this time).
    let mut c = levd(dir.path());
    c.arg("serve").env("LEV_CONFIG", cfg).env("LEV_BIND", "127.0.0.3:0");
    let s = started(c).await;
    assert!(s.addr.starts_with("127.0.0.3:"), "{}", s.addr);
    s.stop().await;

    // A flag wins over both.
    let mut c = levd(dir.path());
    c.args(["serve", "--config", cfg, "--bind", "127.0.0.4:0"]).env("LEV_BIND", "127.0.0.3:0");
    let s = started(c).await;
    assert!(s.addr.starts_with("127.0.0.4:"), "{}", s.addr);
    s.stop().await;
}

#[tokio::test]
async fn config_file_mistakes_are_errors_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("levd.toml");
    let run = |body: &str| {
        std::fs::write(&file, body).unwrap();
        let mut c = levd(dir.path());
        c.args(["serve", "--config", file.to_str().unwrap()]);
        finished(c, Duration::from_secs(30))
    };
    let out = run("bind = \"127.0.0.1:0\"\nbnid = \"127.0.0.1:0\"\n").await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown key 'bnid'"), "{}", text(&out.stderr));
    let out = run("bind = { host = \"x\" }\n").await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("'bind'"), "{}", text(&out.stderr));
    let out = run("bind = \n").await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not valid TOML"), "{}", text(&out.stderr));
    // Values are checked like flags.
    let out = run("request_timeout = 0\n").await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("request-timeout"), "{}", text(&out.stderr));
    let mut c = levd(dir.path());
    c.args(["serve", "--config", dir.path().join("missing.toml").to_str().unwrap()]);
    let out = finished(c, Duration::from_secs(30)).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("missing.toml"), "{}", text(&out.stderr));
    assert!(!dir.path().join("lev.db").exists());
}

/// The idempotency window has bounds.
#[tokio::test]
async fn an_idempotency_window_out_of_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        finished(serve(dir.path(), &["--bind", "127.0.0.1:0", "--idempotency-window", "60"]), Duration::from_secs(30))
            .await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("idempotency-window"), "{}", text(&out.stderr));
}

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_invalid_log_level_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["verbose", "info,levd_http=loud"] {
        let mut c = serve(dir.path(), &["--bind", "127.0.0.1:0"]);
        c.env("LEV_LOG", bad);
        let out = finished(c, Duration::from_secs(30)).await;
        assert!(!out.status.success(), "{bad}");
        let err = text(&out.stderr);
        assert!(err.contains("log-level") && err.contains(bad.rsplit('=').next().unwrap()), "{bad}: {err}");
    }
    let out =
        finished(serve(dir.path(), &["--bind", "127.0.0.1:0", "--log-level", "warning"]), Duration::from_secs(30))
            .await;
    assert!(!out.status.success());
    assert!(!dir.path().join("lev.db").exists());
}

/// JSON request logs: numeric latency, the client address (through a trusted proxy), the
/// request id, the key's prefix and user; lines logged while a request runs carry its id.
#[tokio::test]
async fn json_request_logs_carry_client_key_prefix_and_numeric_latency() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = serve(
        dir.path(),
        &["--bind", "127.0.0.1:0", "--demo", "--log-format", "json", "--trusted-proxies", "127.0.0.1"],
    );
    c.env("LEV_LOG", "info,sqlx::query=debug");
    let mut s = started(c).await;
    let line = s.stdout_until("Demo API key").await;
    let key = line[line.find("lev_sk_").unwrap()..].trim().to_string();
    let r = reqwest::Client::new()
        .get(format!("http://{}/api/external/v2/deals?limit=1", s.addr))
        .bearer_auth(&key)
        .header("X-Origin-App", "log-probe")
        .header("X-Forwarded-For", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let logs = s.stop().await;
    assert!(!logs.contains(&key), "a log line holds the API key");
    let lines: Vec<serde_json::Value> =
        logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let req = lines
        .iter()
        .find(|v| v["target"] == "levd::request" && v["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no request line in {logs}"));
    assert!(req["latency_ms"].is_number(), "{req}");
    assert_eq!(req["client"], "203.0.113.7", "{req}");
    assert_eq!(req["status"], 200);
    assert!(req["user_id"].is_i64(), "{req}");
    let prefix = req["key_prefix"].as_str().unwrap();
    assert!(prefix.starts_with("lev_sk_") && key.starts_with(prefix) && prefix.len() < key.len(), "{req}");
    // Lines written while the request ran (here the queries) carry its id.
    let inside = lines.iter().filter(|v| v["span"]["request_id"] == request_id.as_str()).count();
    assert!(inside > 0, "no line inside the request carries its id: {logs}");
}

/// Text logs written to a pipe carry no colour codes.
#[tokio::test]
async fn text_logs_through_a_pipe_have_no_colours() {
    let dir = tempfile::tempdir().unwrap();
    let s = started(serve(dir.path(), &["--bind", "127.0.0.1:0"])).await;
    let r = reqwest::get(format!("http://{}/api/external/v2/health", s.addr)).await.unwrap();
    assert_eq!(r.status(), 200);
    let logs = s.stop().await;
    assert!(logs.contains("request"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "ANSI escapes in piped logs: {logs:?}");
}

/// The all-interfaces warning is for a missing public URL only; a plain-http public URL on an
/// address other machines reach gets its own warning.
#[tokio::test]
async fn reachability_warnings_match_the_setup() {
    let dir = tempfile::tempdir().unwrap();
    let logs = started(serve(dir.path(), &["--bind", "0.0.0.0:0"])).await.stop().await;
    assert!(logs.contains("without --public-url"), "{logs}");
    let logs = started(serve(dir.path(), &["--bind", "0.0.0.0:0", "--public-url", "http://lev.example.com"]))
        .await
        .stop()
        .await;
    assert!(!logs.contains("without --public-url"), "{logs}");
    assert!(logs.contains("plain http"), "{logs}");
    let logs = started(serve(dir.path(), &["--bind", "0.0.0.0:0", "--public-url", "https://lev.example.com"]))
        .await
        .stop()
        .await;
    assert!(!logs.contains("without --public-url") && !logs.contains("plain http"), "{logs}");
    let logs = started(serve(dir.path(), &["--bind", "127.0.0.1:0"])).await.stop().await;
    assert!(!logs.contains("without --public-url") && !logs.contains("plain http"), "{logs}");
}

// ---------------------------------------------------------------------------------------------
// Trusted proxies
// ---------------------------------------------------------------------------------------------

async fn limited_app(trusted: &str) -> TestApp {
    spawn_with(Options {
        rate_limits: RateLimitConfig::default(),
        tuning: Tuning { trusted_proxies: parse_trusted_proxies(trusted).unwrap(), ..Tuning::default() },
        ..Options::default()
    })
    .await
}

/// `POST /auth/validate-api-key` from a client that says it is `forwarded_for`.
async fn validate_from(app: &TestApp, forwarded_for: &str) -> u16 {
    app.client
        .post(app.url("/auth/validate-api-key"))
        .header("X-Origin-App", "proxy-test")
        .header("X-Forwarded-For", forwarded_for)
        .json(&serde_json::json!({"api_key": "lev_sk_nothing"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Without trusted proxies `X-Forwarded-For` is ignored: forging it buys no fresh bucket.
#[tokio::test]
async fn forged_forwarded_for_changes_nothing_without_trusted_proxies() {
    let app = limited_app("").await;
    for i in 0..10 {
        assert_ne!(validate_from(&app, &format!("198.51.100.{i}")).await, 429, "request {i}");
    }
    assert_eq!(validate_from(&app, "198.51.100.200").await, 429);
}

/// Behind a trusted proxy each forwarded client has its own bucket.
#[tokio::test]
async fn each_client_behind_a_trusted_proxy_has_its_own_bucket() {
    let app = limited_app("127.0.0.1").await;
    for i in 0..10 {
        assert_ne!(validate_from(&app, "198.51.100.1").await, 429, "request {i}");
    }
    assert_eq!(validate_from(&app, "198.51.100.1").await, 429);
    assert_ne!(validate_from(&app, "198.51.100.2").await, 429);
}

/// In a chain, the right-most address that is not a trusted proxy is the client: entries a
/// client put in front of it do not move it to another bucket.
#[tokio::test]
async fn the_right_most_untrusted_address_of_a_chain_is_the_client() {
    let app = limited_app("127.0.0.0/8, 10.0.0.0/8").await;
    for i in 0..10 {
        let chain = format!("192.0.2.{i}, 198.51.100.9, 10.1.2.3");
        assert_ne!(validate_from(&app, &chain).await, 429, "request {i}");
    }
    assert_eq!(validate_from(&app, "192.0.2.77, 198.51.100.9, 10.1.2.3").await, 429);
    assert_eq!(validate_from(&app, "198.51.100.9").await, 429);
    assert_ne!(validate_from(&app, "198.51.100.10, 10.1.2.3").await, 429);
}

/// A database migrated by a newer levd (a migration this binary does not know) is refused
/// with a message that says so and what to do.
#[tokio::test]
async fn a_migration_from_a_newer_levd_is_named_plainly() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let migrate = || {
        let mut c = levd(dir.path());
        c.args(["migrate", "--database-url", &db_url(dir.path())]);
        finished(c, Duration::from_secs(30))
    };
    assert!(migrate().await.status.success());
    let mut conn = sqlx::SqliteConnection::connect(&db_url(dir.path())).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (9999, 'from the future', CURRENT_TIMESTAMP, TRUE, X'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let out = migrate().await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("9999") && err.contains("newer levd"), "{err}");
}
