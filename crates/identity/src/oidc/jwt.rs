//! JSON Web Tokens (RFC 7519) signed with RS256 or ES256 (RFC 7518), on
//! `ring`. The protocol is ours; the cryptography is not.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use serde_json::Value;

/// A private signing key.
pub enum KeyPair {
    Rs256(RsaKeyPair),
    Es256(EcdsaKeyPair),
}

impl KeyPair {
    pub fn alg(&self) -> &'static str {
        match self {
            KeyPair::Rs256(_) => "RS256",
            KeyPair::Es256(_) => "ES256",
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            KeyPair::Rs256(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("RSA signing succeeds");
                sig
            }
            // The FIXED encoding is JOSE's R || S.
            KeyPair::Es256(k) => k
                .sign(&rng, message)
                .expect("ECDSA signing succeeds")
                .as_ref()
                .to_vec(),
        }
    }
}

/// Signs `claims` with `key`, naming it `kid`; `typ` is `JWT`, `at+jwt`
/// (RFC 9068) or `logout+jwt`.
pub fn sign(key: &KeyPair, kid: &str, typ: &str, claims: &Value) -> String {
    let header = serde_json::json!({ "alg": key.alg(), "kid": kid, "typ": typ });
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(sig))
}

/// A token's parts before verification.
pub struct Parsed {
    pub header: Value,
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

pub fn parse(token: &str) -> Option<Parsed> {
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&B64.decode(h).ok()?).ok()?;
    let claims: Value = serde_json::from_slice(&B64.decode(c).ok()?).ok()?;
    Some(Parsed {
        header,
        claims,
        signing_input: format!("{h}.{c}"),
        signature: B64.decode(s).ok()?,
    })
}

/// Checks the signature against a public JWK (RSA `n`/`e` or EC P-256 `x`/`y`).
pub fn verify(parsed: &Parsed, jwk: &Value) -> bool {
    let b = |k: &str| jwk[k].as_str().and_then(|v| B64.decode(v).ok());
    match (parsed.header["alg"].as_str(), jwk["kty"].as_str()) {
        (Some("RS256"), Some("RSA")) => {
            let (Some(n), Some(e)) = (b("n"), b("e")) else {
                return false;
            };
            signature::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    parsed.signing_input.as_bytes(),
                    &parsed.signature,
                )
                .is_ok()
        }
        (Some("ES256"), Some("EC")) => {
            let (Some(x), Some(y)) = (b("x"), b("y")) else {
                return false;
            };
            let mut point = vec![4u8];
            point.extend(x);
            point.extend(y);
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(parsed.signing_input.as_bytes(), &parsed.signature)
                .is_ok()
        }
        _ => false,
    }
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}
