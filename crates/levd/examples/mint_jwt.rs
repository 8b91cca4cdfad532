//! Mints a throwaway RS256 identity for trying out (and load-testing) JWT authentication
//! without an identity provider: writes the JWKS of a freshly generated RSA key to `--jwks`
//! and prints one JWT signed with that key, valid for an hour, on stdout.
//!
//! ```text
//! cargo run --release -p levd --example mint_jwt -- \
//!     --jwks /tmp/jwks.json --iss https://idp.example/ --aud levd --sub 'demo|ana'
//! levd serve --jwt-issuer https://idp.example/ --jwt-audience levd --jwks-file /tmp/jwks.json
//! ```
//!
//! The private key lives only in this process, so each run invalidates the tokens of the
//! previous one once the server reads the new JWKS.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::json;

/// Lifetime of the printed token: long enough for a load test, short enough to be harmless.
const LIFETIME_SECS: u64 = 3600;
/// The server refuses shorter RSA keys.
const KEY_BITS: usize = 2048;

#[derive(Debug, Parser)]
#[command(about = "Write a fresh JWKS and print one RS256 JWT signed by its key")]
struct Args {
    /// Where to write the JWKS (overwritten).
    #[arg(long)]
    jwks: PathBuf,
    /// `iss` claim; pass the same value to `levd serve --jwt-issuer`.
    #[arg(long)]
    iss: String,
    /// `aud` claim; pass the same value to `levd serve --jwt-audience`.
    #[arg(long)]
    aud: String,
    /// `sub` claim: the subject of an existing levd user.
    #[arg(long)]
    sub: String,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mint_jwt: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<String, String> {
    // Same choice as the server makes: with the backend named, jsonwebtoken cannot end up
    // without one if feature unification ever changes.
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);

    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS).map_err(|e| e.to_string())?;
    let public = RsaPublicKey::from(&private);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    // A kid derived from the creation time lets a server log tell two minted keys apart.
    let kid = format!("mint-{now}");

    let jwks = json!({ "keys": [{
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    }]});
    std::fs::write(&args.jwks, format!("{jwks:#}\n"))
        .map_err(|e| format!("cannot write {}: {e}", args.jwks.display()))?;

    let der = private.to_pkcs1_der().map_err(|e| e.to_string())?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid);
    let claims = json!({
        "iss": args.iss,
        "aud": args.aud,
        "sub": args.sub,
        "iat": now,
        "exp": now + LIFETIME_SECS,
    });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(der.as_bytes())).map_err(|e| e.to_string())
}
