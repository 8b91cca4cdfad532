//! Command line, environment and configuration file: flags first, then `LEV_*` variables,
//! then the file named by `--config` / `LEV_CONFIG`, then defaults that work on a fresh
//! machine.
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use levd_domain::net::TrustedProxies;

#[derive(Debug, Parser)]
#[command(name = "levd", version, about = "A self-hostable server for the Lev External API v2")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// A TOML file of settings: the long flags of `levd serve` as keys, `_` for `-`
    /// (`bind = "0.0.0.0:8080"`). Flags and environment variables win over it.
    #[arg(long, env = "LEV_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Database: `sqlite://PATH` or a file path (created if missing), or `postgres://…`.
    #[arg(long, env = "LEV_DATABASE_URL", global = true, default_value = levd_store::DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// File holding the key that encrypts secrets at rest (signing keys, the file-link
    /// secret). `LEV_SECRET_KEY` may hold the key itself instead. Without either, `serve`
    /// uses `secret.key` in the data directory and creates it on the first start.
    #[arg(long, env = "LEV_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate,
    /// Administer accounts, users, memberships and API keys directly in the database.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "LEV_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Trusted JWT issuer (`iss`); JWTs are refused while none is configured.
    #[arg(long, env = "LEV_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Audience (`aud`) JWTs of the issuer must carry.
    #[arg(long, env = "LEV_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// JWKS of the issuer, fetched over HTTP(S) and cached.
    #[arg(long, env = "LEV_JWKS_URL", conflicts_with = "jwks_file")]
    pub jwks_url: Option<String>,
    /// JWKS of the issuer, read from a file.
    #[arg(long, env = "LEV_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// Turn rate limiting off (`off`) or on (`on`, the default).
    #[arg(long, env = "LEV_RATE_LIMITS", value_enum, default_value = "on")]
    pub rate_limits: Switch,
    /// On an empty database, create a demo account, users, deals and an API key.
    #[arg(long, env = "LEV_DEMO")]
    pub demo: bool,
    /// Log format.
    #[arg(long, env = "LEV_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Seconds a client has to send a whole request head (from connecting, or from the first
    /// byte of a later request on a kept-alive connection); then the connection is closed.
    #[arg(long, env = "LEV_HEADER_READ_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request before it is closed.
    #[arg(long, env = "LEV_IDLE_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout: u64,
    /// Connections served at once; one more is answered 503 and closed.
    #[arg(long, env = "LEV_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = parse_max_connections)]
    pub max_connections: usize,
    /// What to log: a level (`error`, `warn`, `info`, `debug`, `trace`) and per-module
    /// levels, comma-separated (`info,levd_http=debug`).
    #[arg(long, env = "LEV_LOG", default_value = DEFAULT_LOG, value_parser = parse_log_filter)]
    pub log_level: String,
    /// Reverse proxies whose `X-Forwarded-For` names the client, comma-separated addresses or
    /// CIDR networks (`10.0.0.0/8,127.0.0.1`). Default: none (the header is ignored).
    #[arg(long, env = "LEV_TRUSTED_PROXIES", value_parser = parse_proxies)]
    pub trusted_proxies: Option<TrustedProxies>,
    /// Longest time a request may run, in seconds; it also bounds how long a shutdown waits
    /// for open requests.
    #[arg(long, env = "LEV_REQUEST_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub request_timeout: u64,
    /// Seconds an `Idempotency-Key` and its recorded answer are kept.
    #[arg(long, env = "LEV_IDEMPOTENCY_WINDOW", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(3_600..=2_592_000))]
    pub idempotency_window: u64,
    /// `GET /metrics` in the Prometheus text format: `on` serves it on the main listener, `off`
    /// nowhere, an address (`127.0.0.1:9100`) on a listener of its own, away from the API.
    #[arg(long, env = "LEV_METRICS", default_value = "on", value_parser = parse_metrics)]
    pub metrics: MetricsExposure,
    /// Directory for document files (created if missing).
    #[arg(long, env = "LEV_DATA_DIR", default_value = "lev-data")]
    pub data_dir: PathBuf,
    /// Do not apply migrations on start (rolling deploys: run `levd migrate` once, then start
    /// nodes with this flag). The schema must already be current.
    #[arg(long, env = "LEV_NO_MIGRATE")]
    pub no_migrate: bool,
    /// Public base URL clients reach this server at (issuer of the built-in authorization
    /// server, root of the OAuth and MCP URLs). Default: `http://<bound address>`.
    #[arg(long, env = "LEV_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Extra `Host` values accepted on `/mcp`, comma-separated (the public URL's host always is).
    #[arg(long, env = "LEV_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub mcp_allowed_hosts: Vec<String>,
    /// Extra browser origins accepted on `/mcp`, comma-separated (the public URL's always is).
    #[arg(long, env = "LEV_MCP_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub mcp_allowed_origins: Vec<String>,
    /// The built-in OAuth 2.1 authorization server (sign-in for MCP clients).
    #[arg(long, env = "LEV_AUTH_SERVER", value_enum, default_value = "on")]
    pub auth_server: Switch,
    /// Lifetime of its access tokens, in seconds.
    #[arg(long, env = "LEV_ACCESS_TOKEN_TTL", default_value_t = 900, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub access_token_ttl: u64,
    /// Let client-ID metadata documents be fetched from private or loopback addresses (and
    /// over plain http on loopback). For development only.
    #[arg(long, env = "LEV_ALLOW_PRIVATE_CLIENT_METADATA")]
    pub allow_private_client_metadata: bool,
    /// Days after which a registered OAuth client without a grant in use is deleted.
    #[arg(long, env = "LEV_OAUTH_CLIENT_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub oauth_client_retention_days: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccountType {
    Brokerage,
    Borrower,
    Lender,
    Credit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TierArg {
    Free,
    Standard,
    Enterprise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Admin,
    Member,
    Viewer,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// Memberships of users in accounts.
    #[command(subcommand)]
    Member(MemberCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Deal documents (files in the data directory).
    #[command(subcommand)]
    Document(crate::admin_documents::Command),
    /// The global lender directory and market data.
    #[command(subcommand)]
    Directory(crate::admin_directory::Command),
    /// Signing keys of the built-in authorization server.
    #[command(subcommand)]
    Jwt(JwtCommand),
    /// The key that encrypts secrets at rest.
    #[command(subcommand)]
    SecretKey(SecretKeyCommand),
    /// What users allowed OAuth clients (MCP clients) to do, and taking it back.
    #[command(subcommand)]
    Oauth(OauthCommand),
    /// Write one archive of the database (a consistent snapshot, taken while levd runs) and the
    /// data directory, with a manifest of versions and checksums.
    Backup {
        /// The archive to write (`.tar`, or gzip-compressed when it ends in `.gz` or `.tgz`).
        #[arg(long)]
        to: PathBuf,
        /// Directory holding document files; the same one as `levd serve`.
        #[arg(long, env = "LEV_DATA_DIR", default_value = "lev-data")]
        data_dir: PathBuf,
    },
    /// Restore an archive of `levd admin backup` into the database and data directory named
    /// (stop every levd using them first).
    Restore {
        /// The archive to read.
        #[arg(long)]
        from: PathBuf,
        /// Directory for document files; the same one as `levd serve`.
        #[arg(long, env = "LEV_DATA_DIR", default_value = "lev-data")]
        data_dir: PathBuf,
        /// Replace a database or data directory that already holds data.
        #[arg(long)]
        force: bool,
    },
    /// Row counts and sizes of the tables, and the size of the database.
    Stats,
}

#[derive(Debug, Subcommand)]
pub enum OauthCommand {
    /// The active grants (consents) of a user: which clients hold tokens for it.
    Grants {
        #[arg(long)]
        email: String,
    },
    /// Revoke a user's grants (all, or one client's): their access and refresh tokens stop
    /// working on every node within a second.
    Revoke {
        #[arg(long)]
        email: String,
        /// Only this client's grants.
        #[arg(long)]
        client_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretKeyCommand {
    /// Make a new key and encrypt every secret with it; the key file then holds only the new
    /// key. Run it while no server uses the database.
    Rotate {
        /// The data directory whose `secret.key` is used when no key file or key is given.
        #[arg(long, env = "LEV_DATA_DIR", default_value = "lev-data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum JwtCommand {
    /// Add a new signing key; the previous keys stop signing but stay in the JWKS until the
    /// tokens they signed have expired.
    Rotate {
        /// Longest access-token lifetime in use (seconds), to know how long old keys stay.
        #[arg(long, default_value_t = 900)]
        access_token_ttl: u64,
    },
    /// List the signing keys (public parts only).
    List,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long = "type", value_enum)]
        account_type: Option<AccountType>,
        #[arg(long, value_enum, default_value = "standard")]
        tier: TierArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        /// The JWT `sub` that identifies this user.
        #[arg(long)]
        subject: Option<String>,
    },
    /// Set the password used on the sign-in page of the built-in authorization server
    /// (read from standard input, first line; at least 10 characters). A user without a
    /// subject gets one, which tokens of the built-in server carry as `sub`.
    SetPassword {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a user to an account (or change the role of a member).
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        account: String,
        #[arg(long, value_enum, default_value = "member")]
        role: RoleArg,
    },
    /// Remove a user from an account; the user's keys on it stop working.
    Remove {
        #[arg(long)]
        email: String,
        #[arg(long)]
        account: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Issue an API key for a user on an account (the secret is printed once).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        account: String,
        #[arg(long)]
        label: String,
        #[arg(long)]
        read_only: bool,
    },
    /// Revoke an API key; running servers stop accepting it within a second.
    Revoke {
        #[arg(long)]
        id: i64,
    },
}

/// Default of `--log-level`.
pub const DEFAULT_LOG: &str = "info,sqlx=warn";

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `--log-level` / `LEV_LOG`: directives as `tracing` reads them, with one more rule: a bare
/// word must be a level (a lone `verbose` or `warning` is a mistake, not a module name).
pub fn parse_log_filter(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(format!("is empty; use a level ({}) or module=level pairs", LEVELS.join(", ")));
    }
    for directive in raw.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !directive.contains(['=', '[']) && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            return Err(format!("'{directive}' is not a log level; use one of {} or module=level", LEVELS.join(", ")));
        }
    }
    tracing_subscriber::EnvFilter::builder().parse(raw).map_err(|e| format!("'{raw}': {e}"))?;
    Ok(raw.to_owned())
}

fn parse_proxies(raw: &str) -> Result<TrustedProxies, String> {
    levd_domain::net::parse_trusted_proxies(raw)
}

/// Why the command line could not be read.
#[derive(Debug)]
pub enum ConfigError {
    /// Flags or environment (clap prints these itself, with usage).
    Cli(clap::Error),
    /// The configuration file.
    File(String),
}

/// Reads the command line, the environment and the configuration file, in that order of
/// precedence. The file's values become the defaults of the flags they name, so they sit
/// below both flags and environment variables, and every long flag of `levd serve` (and the
/// global ones) can be set in the file without code of its own.
pub fn parse_args(args: Vec<OsString>) -> Result<Cli, ConfigError> {
    let mut command = Cli::command();
    if let Some(path) = config_path(&args) {
        command = apply_file(command, &path).map_err(ConfigError::File)?;
    }
    let matches = command.try_get_matches_from(args).map_err(ConfigError::Cli)?;
    Cli::from_arg_matches(&matches).map_err(ConfigError::Cli)
}

/// `--config FILE` / `--config=FILE` from the arguments, else `LEV_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("LEV_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn apply_file(mut command: clap::Command, path: &Path) -> Result<clap::Command, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {shown}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| format!("config file {shown} is not valid TOML: {e}"))?;
    let settable =
        |arg: &clap::Arg| arg.get_long().is_some() && !matches!(arg.get_id().as_str(), "config" | "help" | "version");
    let global: Vec<String> = command.get_arguments().filter(|a| settable(a)).map(|a| a.get_id().to_string()).collect();
    let serve: Vec<String> = command
        .find_subcommand("serve")
        .map(|sc| sc.get_arguments().filter(|a| settable(a)).map(|a| a.get_id().to_string()).collect())
        .unwrap_or_default();
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let values = match value {
            toml::Value::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
            other => scalar(other).map(|v| vec![v]),
        }
        .ok_or_else(|| format!("config file {shown}: key '{key}' must be a string, number, boolean or list of them"))?;
        if global.contains(&id) {
            command = command.mut_arg(&id, |a| a.default_values(values));
        } else if serve.contains(&id) {
            command = command.mut_subcommand("serve", |sc| sc.mut_arg(&id, |a| a.default_values(values)));
        } else {
            return Err(format!(
                "config file {shown}: unknown key '{key}' (keys are the long flags of `levd serve` with '_' for '-', e.g. bind, database_url)"
            ));
        }
    }
    Ok(command)
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `--public-url`: an `http` or `https` origin (levd serves its routes at the root, so a path,
/// query or fragment would name URLs that do not exist).
fn parse_max_connections(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err("must be a whole number from 1 to 1000000".into()),
    }
}

fn parse_public_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) || rest.contains(char::is_whitespace) {
        return Err("must be a scheme and host (and port) only, e.g. https://lev.example.com".into());
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters_must_name_levels() {
        assert_eq!(parse_log_filter(" info,sqlx=warn ").as_deref(), Ok("info,sqlx=warn"));
        assert!(parse_log_filter("DEBUG").is_ok());
        assert!(parse_log_filter("levd_http=debug,warn").is_ok());
        for bad in ["", "verbose", "warning", "info,levd=loud"] {
            assert!(parse_log_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_config_file_fills_in_below_flags() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("levd.toml");
        std::fs::write(
            &file,
            "database_url = \"sqlite://x.db\"\nbind = \"127.0.0.9:1\"\ndemo = true\nmcp_allowed_hosts = [\"a\", \"b\"]\nrequest_timeout = 5\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let args = |extra: &[&str]| {
            let mut v: Vec<OsString> = vec!["levd".into(), "serve".into(), "--config".into(), file.clone().into()];
            v.extend(extra.iter().map(OsString::from));
            v
        };
        let Ok(cli) = parse_args(args(&[])) else { panic!("file not applied") };
        assert_eq!(cli.global.database_url, "sqlite://x.db");
        let Command::Serve(serve) = cli.command else { panic!("not serve") };
        assert_eq!(serve.bind, "127.0.0.9:1");
        assert!(serve.demo);
        assert_eq!(serve.mcp_allowed_hosts, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(serve.request_timeout, 5);
        let Ok(cli) = parse_args(args(&["--bind", "127.0.0.1:2", "--database-url", "sqlite://y.db"])) else {
            panic!("flags refused")
        };
        assert_eq!(cli.global.database_url, "sqlite://y.db");
        let Command::Serve(serve) = cli.command else { panic!("not serve") };
        assert_eq!(serve.bind, "127.0.0.1:2");
    }

    #[test]
    fn public_urls_are_origins() {
        assert_eq!(parse_public_url("https://lev.example.com/").as_deref(), Ok("https://lev.example.com"));
        assert_eq!(parse_public_url("http://127.0.0.1:8080").as_deref(), Ok("http://127.0.0.1:8080"));
        for bad in ["lev.example.com", "ftp://x", "https://", "https://x/levd", "https://x?a=1", "https://u@x"] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}

/// Where `GET /metrics` is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsExposure {
    On,
    Off,
    At(std::net::SocketAddr),
}

fn parse_metrics(s: &str) -> Result<MetricsExposure, String> {
    match s {
        "on" => Ok(MetricsExposure::On),
        "off" => Ok(MetricsExposure::Off),
        other => other
            .parse()
            .map(MetricsExposure::At)
            .map_err(|_| format!("'{other}' is not on, off or an address such as 127.0.0.1:9100")),
    }
}
