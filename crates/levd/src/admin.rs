//! `levd admin`: works directly on the database (also beside a running server), prints one
//! JSON object on success, a message on stderr and a non-zero exit on failure.
use std::process::ExitCode;
use std::sync::Arc;

use levd_domain::headers::is_valid_slug;
use levd_domain::limits::RateLimitConfig;
use levd_domain::scope::{KeyPermission, Role, Tier};
use levd_domain::time_fmt::{now_rfc3339, unix_now};
use levd_service::Service;
use levd_store::{Store, StoreError};
use serde_json::{Value, json};

use crate::config::{
    AccountCommand, AccountType, AdminCommand, Global, JwtCommand, KeyCommand, MemberCommand, OauthCommand, RoleArg,
    SecretKeyCommand, TierArg, UserCommand,
};
use crate::secret_key::SecretKeySource;

pub async fn run(cmd: AdminCommand, global: &Global) -> ExitCode {
    let result = async {
        // These two work on files and must not create or migrate the database they name.
        match &cmd {
            AdminCommand::Backup { to, data_dir } => {
                return crate::backup::backup(&global.database_url, to, data_dir).await;
            }
            AdminCommand::Restore { from, data_dir, force } => {
                return crate::backup::restore(&global.database_url, from, data_dir, *force).await;
            }
            _ => {}
        }
        let store = Store::open_and_migrate(&global.database_url)
            .await
            .map_err(|e| format!("cannot open database {}: {e}", levd_store::redact_url(&global.database_url)))?
            .with_builtin_lenders(crate::demo::lenders::builtin_lenders);
        if let AdminCommand::SecretKey(SecretKeyCommand::Rotate { data_dir }) = &cmd {
            let source = SecretKeySource::from_settings(global.secret_key_file.as_deref(), data_dir, false)?;
            let out = crate::secret_key::rotate(&store, &source).await;
            store.close().await;
            return out;
        }
        // Commands that touch secrets at rest need the key; the others work without it.
        let data_dir = std::env::var_os("LEV_DATA_DIR").map_or_else(|| "lev-data".into(), std::path::PathBuf::from);
        let store = match SecretKeySource::from_settings(global.secret_key_file.as_deref(), &data_dir, false)
            .and_then(|s| s.load())
        {
            Ok(keys) => store.with_secret_keys(keys),
            Err(e) => {
                tracing::debug!(error = %e, "no secret key loaded");
                store
            }
        };
        let out = execute(&store, cmd).await;
        store.close().await;
        out
    }
    .await;
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("levd admin: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The first line of standard input, without its line ending. Passwords never travel as
/// arguments (they would show in the process list and shell history).
fn read_password_line() -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Password (input is shown; pipe it in to avoid that): ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(password)
}

fn tier(t: TierArg) -> Tier {
    match t {
        TierArg::Free => Tier::Free,
        TierArg::Standard => Tier::Standard,
        TierArg::Enterprise => Tier::Enterprise,
    }
}

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Admin => Role::Admin,
        RoleArg::Member => Role::Member,
        RoleArg::Viewer => Role::Viewer,
    }
}

fn account_type(t: AccountType) -> &'static str {
    match t {
        AccountType::Brokerage => "brokerage",
        AccountType::Borrower => "borrower",
        AccountType::Lender => "lender",
        AccountType::Credit => "credit",
    }
}

fn store_err(e: StoreError) -> String {
    e.to_string()
}

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && e.len() <= 254
        && !e.contains(char::is_whitespace)
}

async fn user_id(store: &Store, email: &str) -> Result<i64, String> {
    store
        .user_by_email(&email.to_lowercase())
        .await
        .map_err(store_err)?
        .map(|u| u.id)
        .ok_or(format!("no user with email {email}"))
}

async fn account(store: &Store, slug: &str) -> Result<levd_store::AccountRow, String> {
    store.account_by_slug(slug).await.map_err(store_err)?.ok_or(format!("no account with slug {slug}"))
}

pub async fn execute(store: &Store, cmd: AdminCommand) -> Result<Value, String> {
    match cmd {
        AdminCommand::Account(AccountCommand::Create { slug, name, account_type: t, tier: tr }) => {
            if !is_valid_slug(&slug) {
                return Err(
                    "--slug must be 2-64 characters of a-z, 0-9 and '-', not starting or ending with '-'".into()
                );
            }
            if name.trim().is_empty() || name.len() > 255 {
                return Err("--name must be 1-255 characters".into());
            }
            let uuid = uuid::Uuid::new_v4().to_string();
            let a = store
                .create_account(&uuid, &slug, name.trim(), t.map(account_type), tier(tr))
                .await
                .map_err(store_err)?;
            Ok(
                json!({ "id": a.id, "uuid": a.uuid, "slug": a.slug, "name": a.name, "account_type": a.account_type, "tier": a.api_tier, "created_at": a.created_at }),
            )
        }
        AdminCommand::User(UserCommand::Create { email, first_name, last_name, subject }) => {
            if !valid_email(&email) {
                return Err(format!("--email {email:?} is not an email address"));
            }
            if subject.as_deref().is_some_and(|s| s.trim().is_empty() || s.len() > 255) {
                return Err("--subject must be 1-255 characters".into());
            }
            let uuid = uuid::Uuid::new_v4().to_string();
            let u = store
                .create_user(
                    &uuid,
                    &email.to_lowercase(),
                    first_name.as_deref(),
                    last_name.as_deref(),
                    subject.as_deref(),
                )
                .await
                .map_err(store_err)?;
            Ok(
                json!({ "id": u.id, "uuid": u.uuid, "email": u.email, "first_name": u.first_name, "last_name": u.last_name, "subject": u.subject, "created_at": u.created_at }),
            )
        }
        AdminCommand::User(UserCommand::SetPassword { email }) => {
            let user = store
                .user_by_email(&email.to_lowercase())
                .await
                .map_err(store_err)?
                .ok_or(format!("no user with email {email}"))?;
            let password = read_password_line()?;
            let hash = tokio::task::spawn_blocking(move || levd_oauth::password::hash(&password))
                .await
                .map_err(|e| e.to_string())??;
            let subject = format!("levd|{}", user.uuid);
            store.set_password(user.id, &hash, &subject).await.map_err(store_err)?;
            let user = store.user_by_id(user.id).await.map_err(store_err)?.ok_or("the user disappeared")?;
            Ok(json!({ "id": user.id, "email": user.email, "subject": user.subject, "password": "set" }))
        }
        AdminCommand::Jwt(JwtCommand::Rotate { access_token_ttl }) => {
            let keep = i64::try_from(access_token_ttl).unwrap_or(86_400) + 120;
            let ring = levd_oauth::KeyRing::new(store.clone(), keep);
            let now = unix_now();
            let key = ring.rotate(now).await?;
            let published = ring.jwks(now).await?;
            let kids: Vec<Value> =
                published["keys"].as_array().map(|k| k.iter().map(|k| k["kid"].clone()).collect()).unwrap_or_default();
            Ok(json!({ "signing_kid": key.kid, "published_kids": kids }))
        }
        AdminCommand::Oauth(OauthCommand::Grants { email }) => {
            let uid = user_id(store, &email).await?;
            let grants = store.active_grants_of(uid).await.map_err(store_err)?;
            Ok(Value::Array(
                grants
                    .iter()
                    .map(|(g, name)| {
                        json!({ "grant_id": g.id, "client_id": g.client_id, "client_name": name, "scope": g.scope, "audience": g.audience, "created_at": g.created_at })
                    })
                    .collect(),
            ))
        }
        AdminCommand::Oauth(OauthCommand::Revoke { email, client_id }) => {
            let uid = user_id(store, &email).await?;
            let n = store.revoke_grants_of(uid, client_id.as_deref(), unix_now()).await.map_err(store_err)?;
            Ok(json!({ "revoked": n }))
        }
        AdminCommand::Jwt(JwtCommand::List) => {
            let keys = store.signing_key_ids().await.map_err(store_err)?;
            Ok(Value::Array(
                keys.iter()
                    .map(|(kid, created_at, retired_at)| json!({ "kid": kid, "created_at": created_at, "retired_at": retired_at, "signing": retired_at.is_none() }))
                    .collect(),
            ))
        }
        AdminCommand::Member(MemberCommand::Add { email, account: slug, role: r }) => {
            let uid = user_id(store, &email).await?;
            let a = account(store, &slug).await?;
            store.upsert_membership(uid, a.id, role(r)).await.map_err(store_err)?;
            Ok(json!({ "user_id": uid, "account_id": a.id, "account": a.slug, "role": role(r).as_str() }))
        }
        AdminCommand::Member(MemberCommand::Remove { email, account: slug }) => {
            let uid = user_id(store, &email).await?;
            let a = account(store, &slug).await?;
            if !store.remove_membership(uid, a.id).await.map_err(store_err)? {
                return Err(format!("{email} is not an active member of {slug}"));
            }
            Ok(json!({ "user_id": uid, "account_id": a.id, "removed": true }))
        }
        AdminCommand::Key(KeyCommand::Create { email, account: slug, label, read_only }) => {
            let uid = user_id(store, &email).await?;
            let a = account(store, &slug).await?;
            let memberships = store.memberships_of(uid).await.map_err(store_err)?;
            if !memberships.iter().any(|m| m.account_id == a.id) {
                return Err(format!(
                    "{email} is not an active member of {slug}; add them first with `levd admin member add`"
                ));
            }
            if label.trim().is_empty() || label.chars().count() > 255 {
                return Err("--label must be 1-255 characters".into());
            }
            let permission = if read_only { KeyPermission::ReadOnly } else { KeyPermission::FullAccess };
            let service = Service::new(store.clone(), Arc::new(RateLimitConfig::default()), Arc::new(|| {}));
            let issued =
                service.issue_key(uid, a.id, a.tier(), &label, permission).await.map_err(|e| e.message.clone())?;
            let role = memberships.iter().find(|m| m.account_id == a.id).map(|m| m.role()).unwrap_or(Role::Viewer);
            Ok(json!({
                "id": issued.row.id,
                "api_key": issued.secret.expose(),
                "key_prefix": issued.row.key_prefix,
                "label": issued.row.label,
                "permission": issued.row.permission,
                "account": a.slug,
                "user_id": uid,
                "scopes": permission.scopes().intersect(role.scopes()).names(),
                "created_at": issued.row.created_at,
            }))
        }
        AdminCommand::SecretKey(SecretKeyCommand::Rotate { .. }) => Err("secret-key rotate runs on its own".into()),
        AdminCommand::Backup { .. } | AdminCommand::Restore { .. } => Err("not a database command".into()),
        AdminCommand::Stats => stats(store).await,
        AdminCommand::Document(cmd) => crate::admin_documents::execute(store, cmd).await,
        AdminCommand::Directory(cmd) => crate::admin_directory::execute(store, cmd).await,
        AdminCommand::Key(KeyCommand::Revoke { id }) => {
            if !store.revoke_key(id, None, None, &now_rfc3339()).await.map_err(store_err)? {
                return Err(format!("no active API key with id {id}"));
            }
            Ok(json!({ "id": id, "revoked": true }))
        }
    }
}

/// `levd admin stats`: every table with its row count (and bytes where the backend tells), the
/// size of the database and, on SQLite, the pages the next incremental vacuum gives back.
async fn stats(store: &Store) -> Result<Value, String> {
    let tables = store.table_stats().await.map_err(store_err)?;
    let mut out = json!({
        "backend": match store.backend() { levd_store::Backend::Sqlite => "sqlite", levd_store::Backend::Postgres => "postgres" },
        "schema_version": store.schema_version().await.map_err(store_err)?,
        "database_bytes": store.database_bytes().await.map_err(store_err)?,
        "tables": tables,
    });
    if let Some(free) = store.free_pages().await.map_err(store_err)? {
        out["free_pages"] = json!(free);
        let mode = store.auto_vacuum_mode().await.map_err(store_err)?;
        out["auto_vacuum"] = json!(match mode {
            Some(2) => "incremental",
            Some(1) => "full",
            _ => "none",
        });
    }
    Ok(out)
}
