//! `levd serve`: opens the store, builds the application and serves it until SIGINT/SIGTERM.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use levd_auth::{Authenticator, IssuerConfig, JwksSource, JwtVerifier};
use levd_domain::limits::RateLimitConfig;
use levd_domain::time_fmt::{rfc3339_before_now, unix_now};
use levd_http::conn::ConnectionLimits;
use levd_http::middleware::{Fault, Tuning};
use levd_http::{AppState, Site};
use levd_oauth::OAuthSettings;
use levd_service::Service;
use levd_store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Global, LogFormat, MetricsExposure, ServeArgs, Switch};

/// How often the SQLite database is checkpointed and vacuumed incrementally.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(300);

/// Everything `start` needs; built from flags by `run`, directly by tests.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub database_url: String,
    pub bind: String,
    pub issuers: Vec<IssuerConfig>,
    pub rate_limits: RateLimitConfig,
    pub demo: bool,
    /// Skip migrations on start (`--no-migrate`).
    pub no_migrate: bool,
    /// Where document files live (`--data-dir`).
    pub data_dir: std::path::PathBuf,
    /// Public base URL (`--public-url`); `http://<bound address>` when unset.
    pub public_url: Option<String>,
    /// Extra `Host` values `/mcp` accepts beside the public URL's.
    pub mcp_allowed_hosts: Vec<String>,
    /// Extra browser origins `/mcp` accepts beside the public URL's.
    pub mcp_allowed_origins: Vec<String>,
    /// The built-in authorization server, or `None` when it is turned off.
    pub oauth: Option<OAuthSettings>,
    /// Time limits for request heads and idle connections, and the connection cap.
    pub connection: ConnectionLimits,
    /// Where the key that encrypts secrets at rest comes from.
    pub secret_key: crate::secret_key::SecretKeySource,
    /// Trusted proxies, request time limit and idempotency timings.
    pub tuning: Tuning,
    /// A listener of its own for `GET /metrics` (`--metrics ADDR`).
    pub metrics_bind: Option<SocketAddr>,
}

impl ServerConfig {
    /// A loopback server on a free port with the defaults of `levd serve` (rate limits on, the
    /// built-in authorization server off, no trusted JWT issuer).
    /// The secret key is `secret.key` in the data directory, made on first start.
    pub fn new(database_url: impl Into<String>, data_dir: impl Into<std::path::PathBuf>) -> ServerConfig {
        let data_dir = data_dir.into();
        ServerConfig {
            database_url: database_url.into(),
            bind: "127.0.0.1:0".into(),
            issuers: Vec::new(),
            rate_limits: RateLimitConfig::default(),
            demo: false,
            no_migrate: false,
            secret_key: crate::secret_key::SecretKeySource::DataDir { dir: data_dir.clone(), generate: true },
            data_dir,
            public_url: None,
            mcp_allowed_hosts: Vec::new(),
            mcp_allowed_origins: Vec::new(),
            oauth: None,
            connection: ConnectionLimits::default(),
            tuning: Tuning::default(),
            metrics_bind: None,
        }
    }
}

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    /// Where `GET /metrics` listens when it has a listener of its own.
    pub metrics_addr: Option<SocketAddr>,
    pub store: Store,
    pub demo: Option<crate::demo::DemoSummary>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting connections, finishes open requests and closes the database.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let r = (&mut self.handle).await.unwrap_or(Ok(()));
        for b in &self.background {
            b.abort();
        }
        self.store.close().await;
        r
    }
}

pub fn build_state(store: Store, issuers: Vec<IssuerConfig>, limits: RateLimitConfig) -> AppState {
    build_state_in(store, issuers, limits, None, Site::at("http://127.0.0.1"), None)
}

/// Like `build_state`, with the directory for document files.
pub fn build_state_in(
    store: Store,
    issuers: Vec<IssuerConfig>,
    limits: RateLimitConfig,
    data_dir: Option<std::path::PathBuf>,
    site: Site,
    oauth: Option<OAuthSettings>,
) -> AppState {
    let mut issuers = issuers;
    // The built-in authorization server's tokens are verified like any trusted issuer's,
    // with its keys read from the database.
    let own = oauth.map(|settings| {
        let keys = Arc::new(levd_oauth::KeyRing::for_settings(store.clone(), &settings));
        let issuer = levd_oauth::issuer_config(&site.public_url, keys.clone());
        if issuers.iter().any(|i| i.issuer == issuer.issuer) {
            tracing::warn!(issuer = %issuer.issuer, "an external issuer has the built-in server's issuer; the built-in one wins");
            issuers.retain(|i| i.issuer != issuer.issuer);
        }
        issuers.push(issuer.clone());
        (settings, keys, issuer.issuer)
    });
    let mut authenticator = Authenticator::new(store.clone(), JwtVerifier::new(issuers));
    if let Some((_, _, issuer)) = &own {
        authenticator = authenticator.with_own_issuer(issuer.clone());
    }
    let auth = Arc::new(authenticator);
    let oauth = own.map(|(settings, keys, _)| {
        Arc::new(levd_oauth::AuthServer::new(store.clone(), auth.clone(), &site.public_url, settings, keys))
    });
    let limits = Arc::new(limits);
    let hook_auth = auth.clone();
    let mut service = Service::new(store, limits.clone(), Arc::new(move || hook_auth.invalidate()));
    if let Some(dir) = data_dir {
        service = service.with_data_dir(dir);
    }
    AppState::new(service, auth, limits, site, oauth)
}

/// Opens the database, seeds demo data when asked, binds and serves in the background.
pub async fn start(cfg: ServerConfig) -> Result<Running, String> {
    // The address first: a wrong `--bind` must not leave a new database behind.
    let listener =
        tokio::net::TcpListener::bind(&cfg.bind).await.map_err(|e| format!("cannot bind {}: {e}", cfg.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let redacted = levd_store::redact_url(&cfg.database_url);
    let store = Store::open(&cfg.database_url)
        .await
        .map_err(|e| format!("cannot open database {redacted}: {e}"))?
        .with_builtin_lenders(crate::demo::lenders::builtin_lenders);
    if cfg.no_migrate {
        store.check_schema().await.map_err(|e| format!("database {redacted} is not ready: {e}"))?;
    } else {
        store.migrate().await.map_err(|e| format!("cannot migrate database {redacted}: {e}"))?;
    }
    levd_store::private_dir(&cfg.data_dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", cfg.data_dir.display()))?;
    // Secrets at rest: a key that opens nothing stored stops the start (levd never replaces
    // secrets it cannot read); plaintext left by an older version is encrypted now.
    let keys = cfg.secret_key.load()?;
    let store = store.with_secret_keys(keys);
    let sealed = store.seal_secrets_at_rest().await.map_err(|e| format!("secret key: {e}"))?;
    if sealed.sealed > 0 || sealed.resealed > 0 {
        tracing::info!(
            plaintext = sealed.sealed,
            older_key = sealed.resealed,
            "secrets at rest encrypted with the current secret key"
        );
    }
    let demo = if cfg.demo { crate::demo::seed_if_empty(&store, &cfg.data_dir).await? } else { None };
    if cfg.oauth.is_some() {
        // The built-in issuer's first signing key is made before its key set is first read
        // (the preload below), so a first start finds a key instead of an empty set.
        levd_oauth::KeyRing::new(store.clone(), 0).ensure(unix_now()).await?;
    }
    let default_url =
        if addr.ip().is_unspecified() { format!("http://127.0.0.1:{}", addr.port()) } else { format!("http://{addr}") };
    warn_about_reachability(addr, cfg.public_url.as_deref());
    let mut site = Site::at(cfg.public_url.as_deref().unwrap_or(&default_url));
    site.public_url_configured = cfg.public_url.is_some();
    site.mcp_allowed_hosts.extend(cfg.mcp_allowed_hosts.iter().cloned());
    site.mcp_allowed_origins.extend(cfg.mcp_allowed_origins.iter().cloned());
    let state = build_state_in(
        store.clone(),
        cfg.issuers,
        cfg.rate_limits,
        Some(cfg.data_dir.clone()),
        site,
        cfg.oauth.clone(),
    )
    .with_tuning(cfg.tuning.clone());
    if state.auth.jwt().is_enabled()
        && let Err(e) = state.auth.jwt().preload().await
    {
        tracing::warn!(error = %e, "JWKS not loaded yet; it will be fetched on first use");
    }
    state.auth.sync_epoch().await.map_err(|e| format!("database not usable: {e}"))?;

    let mut background = Vec::new();
    // Revocations and role changes made by other processes (levd admin, other nodes) reach
    // this node's caches through the epoch, checked twice a second.
    let auth = state.auth.clone();
    background.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            if let Err(e) = auth.sync_epoch().await {
                tracing::warn!(error = %e, "could not read the credential epoch");
            }
        }
    }));
    let purge_store = store.clone();
    let idempotency_window = cfg.tuning.idempotency_window;
    let client_retention = cfg.oauth.as_ref().map(|o| o.unused_client_retention);
    background.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match purge_store.purge_idempotency_keys(&rfc3339_before_now(idempotency_window)).await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "expired idempotency records removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "idempotency purge failed"),
            }
            let hour_ago = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64() - 3600.0);
            if let Err(e) = purge_store.purge_rate_buckets(hour_ago).await {
                tracing::warn!(error = %e, "rate bucket purge failed");
            }
            #[allow(clippy::cast_possible_truncation)]
            if let Err(e) = purge_store.purge_oauth(hour_ago as i64 + 3600).await {
                tracing::warn!(error = %e, "purge of expired sign-ins, codes and refresh tokens failed");
            }
            if let Some(keep) = client_retention {
                #[allow(clippy::cast_possible_wrap)]
                let cutoff = unix_now() - keep.as_secs() as i64;
                match purge_store.purge_unused_clients(cutoff).await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "unused OAuth client registrations removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purge of unused OAuth clients failed"),
                }
            }
        }
    }));

    // SQLite upkeep: pages freed by the purges go back to the file system and the write-ahead
    // log is folded back and truncated whenever nothing is in the way.
    let upkeep_store = store.clone();
    background.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = upkeep_store.maintain().await {
                tracing::debug!(error = %e, "database upkeep skipped");
            }
        }
    }));

    let mut metrics_addr = None;
    if let Some(at) = cfg.metrics_bind {
        let l = tokio::net::TcpListener::bind(at).await.map_err(|e| format!("cannot bind --metrics {at}: {e}"))?;
        metrics_addr = l.local_addr().ok();
        let router = levd_http::metrics_router(state.clone());
        // Runs until the server stops (it is aborted with the other background tasks).
        background.push(tokio::spawn(async move {
            let forever = std::future::pending::<()>();
            if let Err(e) = levd_http::conn::serve_with_limits(l, router, forever, ConnectionLimits::default()).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        }));
    }
    let router = levd_http::app(state);
    let (tx, rx) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = rx.await;
    };
    let handle = tokio::spawn(levd_http::conn::serve_with_limits(listener, router, shutdown, cfg.connection));
    Ok(Running { addr, metrics_addr, store, demo, shutdown: Some(tx), handle, background })
}

/// Says what a listener on `addr` with this public URL exposes that an operator may not mean
/// to: OAuth and MCP URLs naming 127.0.0.1 while other machines can connect, or an issuer on
/// plain http reachable from other machines (tokens and passwords cross the network in clear).
fn warn_about_reachability(addr: SocketAddr, public_url: Option<&str>) {
    match public_url {
        None if addr.ip().is_unspecified() => {
            tracing::warn!("listening on all interfaces without --public-url: OAuth and MCP URLs name 127.0.0.1");
        }
        Some(url) if url.starts_with("http://") && !addr.ip().is_loopback() => {
            tracing::warn!(
                public_url = url,
                "the public URL is plain http on an address other machines can reach: terminate TLS in front of levd and give its https URL"
            );
        }
        _ => {}
    }
}

/// Logs to standard error; colours only when it is a terminal.
fn init_tracing(format: LogFormat, filter: &str) -> Result<(), String> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map_err(|e| format!("invalid log level '{filter}': {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_span_list(false).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    Ok(())
}

/// The tuning `levd serve`'s flags describe, checked against each other.
pub fn tuning_from(args: &ServeArgs) -> Result<Tuning, String> {
    Ok(Tuning {
        trusted_proxies: args.trusted_proxies.clone().unwrap_or_default(),
        request_timeout: Duration::from_secs(args.request_timeout),
        idempotency_window: Duration::from_secs(args.idempotency_window),
        metrics_on_main: args.metrics == MetricsExposure::On,
        fault: fault_from_env(),
    })
}

/// The fault a test asked for through `LEVD_FAULT` (see `levd_http::middleware::Fault`); an
/// unknown value is refused loudly rather than ignored.
fn fault_from_env() -> Option<Fault> {
    let value = std::env::var("LEVD_FAULT").ok().filter(|v| !v.is_empty())?;
    let fault = Fault::parse(&value);
    match fault {
        Some(_) => tracing::warn!(fault = %value, "LEVD_FAULT is set: this process will exit on purpose (tests only)"),
        None => tracing::warn!(fault = %value, "LEVD_FAULT names no known fault; ignored"),
    }
    fault
}

pub fn issuers_from(args: &ServeArgs) -> Result<Vec<IssuerConfig>, String> {
    let Some(issuer) = args.jwt_issuer.clone() else {
        if args.jwt_audience.is_some() || args.jwks_url.is_some() || args.jwks_file.is_some() {
            return Err("--jwt-audience/--jwks-url/--jwks-file need --jwt-issuer".into());
        }
        return Ok(Vec::new());
    };
    let audience = args.jwt_audience.clone().ok_or("--jwt-issuer needs --jwt-audience (LEV_JWT_AUDIENCE)")?;
    let jwks = match (&args.jwks_url, &args.jwks_file) {
        (Some(u), None) => JwksSource::Url(u.clone()),
        (None, Some(f)) => JwksSource::File(f.clone()),
        _ => return Err("--jwt-issuer needs exactly one of --jwks-url or --jwks-file".into()),
    };
    Ok(vec![IssuerConfig { issuer, audiences: vec![audience], jwks }])
}

pub async fn run(args: ServeArgs, global: &Global) -> Result<(), String> {
    init_tracing(args.log_format, &args.log_level)?;
    let issuers = issuers_from(&args)?;
    let tuning = tuning_from(&args)?;
    let rate_limits = RateLimitConfig { enabled: args.rate_limits == Switch::On, ..RateLimitConfig::default() };
    let cfg = ServerConfig {
        database_url: global.database_url.clone(),
        bind: args.bind.clone(),
        issuers,
        rate_limits,
        demo: args.demo,
        no_migrate: args.no_migrate,
        data_dir: args.data_dir.clone(),
        public_url: args.public_url.clone(),
        mcp_allowed_hosts: args.mcp_allowed_hosts.clone(),
        mcp_allowed_origins: args.mcp_allowed_origins.clone(),
        oauth: (args.auth_server == Switch::On).then(|| OAuthSettings {
            access_token_ttl: Duration::from_secs(args.access_token_ttl),
            allow_private_client_metadata: args.allow_private_client_metadata,
            unused_client_retention: Duration::from_secs(args.oauth_client_retention_days * 24 * 3600),
            ..OAuthSettings::default()
        }),
        connection: ConnectionLimits {
            header_read_timeout: Duration::from_secs(args.header_read_timeout),
            idle_timeout: Duration::from_secs(args.idle_timeout),
            max_connections: args.max_connections,
        },
        secret_key: crate::secret_key::SecretKeySource::from_settings(
            global.secret_key_file.as_deref(),
            &args.data_dir,
            true,
        )?,
        tuning,
        metrics_bind: match args.metrics {
            MetricsExposure::At(a) => Some(a),
            _ => None,
        },
    };
    let auth_server_on = cfg.oauth.is_some();
    let public_url = cfg.public_url.clone();
    let running = start(cfg).await?;
    let base = public_url.unwrap_or_else(|| {
        if running.addr.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", running.addr.port())
        } else {
            format!("http://{}", running.addr)
        }
    });
    println!("levd {} listening on http://{}", env!("CARGO_PKG_VERSION"), running.addr);
    if auth_server_on {
        println!(
            "MCP endpoint: {}/mcp (sign-in through the built-in authorization server)",
            base.trim_end_matches('/')
        );
    }
    if let Some(d) = &running.demo {
        println!();
        println!("Demo data created: account '{}' with {} deals.", d.account_slug, d.deal_count);
        println!("Demo API key (shown once): {}", d.api_key);
        println!("Try it:");
        println!(
            "  curl -s 'http://{}/api/external/v2/deals?limit=5' -H 'Authorization: Bearer {}' -H 'X-Origin-App: curl'",
            running.addr, d.api_key
        );
        if auth_server_on {
            println!("Demo sign-in for MCP clients (shown once): {} / {}", d.sign_in.0, d.sign_in.1);
        }
        println!();
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing open requests");
    running.stop().await.map_err(|e| e.to_string())
}

pub async fn migrate_only(global: &Global) -> Result<(), String> {
    let store = Store::open_and_migrate(&global.database_url)
        .await
        .map_err(|e| format!("cannot migrate {}: {e}", levd_store::redact_url(&global.database_url)))?;
    // A SQLite database made before incremental vacuum was on cannot shrink until it is rewritten
    // once; `levd migrate` is the step run with the servers stopped, so it does that here.
    let rewritten =
        store.enable_incremental_vacuum().await.map_err(|e| format!("cannot enable incremental vacuum: {e}"))?;
    store.close().await;
    if rewritten {
        eprintln!("levd: the SQLite database was rewritten once so that it can shrink (incremental vacuum)");
    }
    println!("{{\"migrated\":true}}");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
