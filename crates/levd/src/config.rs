//! Command line and environment: flags first, then `LEV_*` variables, then defaults that work
//! on a fresh machine.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Database: `sqlite://PATH` or a file path (created if missing), or `postgres://…`.
    #[arg(long, env = "LEV_DATABASE_URL", global = true, default_value = levd_store::DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve(ServeArgs),
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

/// `--public-url`: an `http` or `https` origin (levd serves its routes at the root, so a path,
/// query or fragment would name URLs that do not exist).
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
    use super::parse_public_url;

    #[test]
    fn public_urls_are_origins() {
        assert_eq!(parse_public_url("https://lev.example.com/").as_deref(), Ok("https://lev.example.com"));
        assert_eq!(parse_public_url("http://127.0.0.1:8080").as_deref(), Ok("http://127.0.0.1:8080"));
        for bad in ["lev.example.com", "ftp://x", "https://", "https://x/levd", "https://x?a=1", "https://u@x"] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
