//! Signing keys of the authorization server: RSA 2048, kept in the database so every node signs
//! and verifies with the same set. The newest unretired key signs; retired keys stay in the
//! JWKS until every token they signed has expired.
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use levd_auth::JwksLoader;
use levd_store::{SigningKeyRow, Store};
use parking_lot::Mutex;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};

const KEY_BITS: usize = 2048;

/// A freshly generated key pair, ready to store.
pub fn generate(now: i64) -> Result<SigningKeyRow, String> {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS).map_err(|e| e.to_string())?;
    let public = RsaPublicKey::from(&private);
    let kid = format!("levd-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?.to_string();
    let jwk = json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    });
    Ok(SigningKeyRow { kid, private_pem, public_jwk: jwk.to_string(), created_at: now, retired_at: None })
}

/// The signing form of a stored key (PKCS#8 PEM in the database, PKCS#1 DER for the signer).
fn encoding_key(pem: &str) -> Result<EncodingKey, String> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let private = RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?;
    let der = private.to_pkcs1_der().map_err(|e| e.to_string())?;
    Ok(EncodingKey::from_rsa_der(der.as_bytes()))
}

/// Signs tokens with the current key and publishes the key set.
pub struct KeyRing {
    store: Store,
    /// Keys stay published this long after retirement (the longest access-token lifetime
    /// plus leeway).
    keep_retired_secs: i64,
    parsed: Mutex<HashMap<String, Arc<EncodingKey>>>,
    /// Serialises first-key creation on this node.
    create: tokio::sync::Mutex<()>,
}

impl KeyRing {
    /// A key ring whose retired keys stay published as long as the settings' tokens live.
    pub fn for_settings(store: Store, settings: &crate::OAuthSettings) -> KeyRing {
        let keep = i64::try_from(settings.access_token_ttl.as_secs()).unwrap_or(i64::MAX / 4) + 120;
        KeyRing::new(store, keep)
    }

    pub fn new(store: Store, keep_retired_secs: i64) -> KeyRing {
        KeyRing { store, keep_retired_secs, parsed: Mutex::new(HashMap::new()), create: tokio::sync::Mutex::new(()) }
    }

    /// Makes sure a signing key exists, generating one on first use.
    pub async fn ensure(&self, now: i64) -> Result<SigningKeyRow, String> {
        if let Some(k) = self.current().await? {
            return Ok(k);
        }
        let _guard = self.create.lock().await;
        if let Some(k) = self.current().await? {
            return Ok(k);
        }
        let row = tokio::task::spawn_blocking(move || generate(now)).await.map_err(|e| e.to_string())??;
        self.store.add_signing_key(&row, false).await.map_err(|e| e.to_string())?;
        tracing::info!(kid = %row.kid, "token signing key created");
        Ok(row)
    }

    /// Adds a new signing key; older keys stop signing but stay published.
    pub async fn rotate(&self, now: i64) -> Result<SigningKeyRow, String> {
        let row = tokio::task::spawn_blocking(move || generate(now)).await.map_err(|e| e.to_string())??;
        self.store.add_signing_key(&row, true).await.map_err(|e| e.to_string())?;
        let purged = self.store.purge_signing_keys(now - self.keep_retired_secs).await.map_err(|e| e.to_string())?;
        if purged > 0 {
            tracing::info!(removed = purged, "expired signing keys removed");
        }
        Ok(row)
    }

    async fn current(&self) -> Result<Option<SigningKeyRow>, String> {
        let keys = self.store.signing_keys().await.map_err(|e| e.to_string())?;
        Ok(keys.into_iter().find(|k| k.retired_at.is_none()))
    }

    /// Signs `claims` with the current key.
    pub async fn sign(&self, claims: &Value, now: i64) -> Result<String, String> {
        let key = self.ensure(now).await?;
        let encoding = {
            let cached = self.parsed.lock().get(&key.kid).cloned();
            match cached {
                Some(e) => e,
                None => {
                    let e = Arc::new(encoding_key(&key.private_pem)?);
                    self.parsed.lock().insert(key.kid.clone(), e.clone());
                    e
                }
            }
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, claims, &encoding).map_err(|e| e.to_string())
    }

    /// The published key set: every key still signing or retired recently enough that
    /// tokens it signed may be alive.
    pub async fn jwks(&self, now: i64) -> Result<Value, String> {
        let keys = self.store.signing_keys().await.map_err(|e| e.to_string())?;
        let published: Vec<Value> = keys
            .iter()
            .filter(|k| k.retired_at.is_none_or(|at| at + self.keep_retired_secs >= now))
            .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
            .collect();
        Ok(json!({ "keys": published }))
    }
}

/// Feeds the verifier the key set from the database.
pub struct StoreJwks(pub Arc<KeyRing>);

impl JwksLoader for StoreJwks {
    fn load(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, String>> + Send + '_>> {
        Box::pin(async move {
            let set = self.0.jwks(crate::unix_now()).await?;
            Ok(set.to_string().into_bytes())
        })
    }
}
