//! ID-3: signing keys. One RS256 and one ES256 key are active; they are
//! generated at first start, sealed with the master key in the database,
//! rotated by `mutualis keys rotate`; a retired key's public half stays in
//! the JWKS for the overlap window, so tokens signed before a rotation still
//! verify.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use kernel::secrets::MasterKey;
use kernel::{Db, clock, random};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{Value, json};
use sqlx::Row;

use super::jwt::{KeyPair, b64};

/// How long a retired key stays published: longer than any token it signed.
pub const OVERLAP_MS: i64 = 7 * 24 * 3600 * 1000;

pub struct Key {
    pub kid: String,
    pub pair: KeyPair,
    pub public_jwk: Value,
    pub retired_at: Option<i64>,
}

/// The keys of a node, reloaded from the database now and then so that a
/// rotation reaches every node.
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    /// The active key of `alg` (`RS256` or `ES256`).
    pub fn signing(&self, alg: &str) -> Option<&Key> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.retired_at.is_none() && k.pair.alg() == alg)
    }

    pub fn by_kid(&self, kid: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The JWKS: every active key and the retired ones still in overlap.
    pub fn jwks(&self) -> Value {
        let now = clock::now_ms();
        let keys: Vec<&Value> = self
            .keys
            .iter()
            .filter(|k| k.retired_at.is_none_or(|r| now - r < OVERLAP_MS))
            .map(|k| &k.public_jwk)
            .collect();
        json!({ "keys": keys })
    }
}

fn generate_rsa() -> anyhow::Result<(Vec<u8>, Value, RsaKeyPair)> {
    use rsa::pkcs8::EncodePrivateKey;
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)?;
    let der = private.to_pkcs8_der()?.as_bytes().to_vec();
    let pair =
        RsaKeyPair::from_pkcs8(&der).map_err(|e| anyhow::anyhow!("RSA key rejected: {e}"))?;
    let jwk = json!({
        "kty": "RSA",
        "n": b64(&private.n().to_bytes_be()),
        "e": b64(&private.e().to_bytes_be()),
    });
    Ok((der, jwk, pair))
}

fn generate_ec() -> anyhow::Result<(Vec<u8>, Value, EcdsaKeyPair)> {
    let rng = SystemRandom::new();
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("EC key generation failed"))?
        .as_ref()
        .to_vec();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
        .map_err(|e| anyhow::anyhow!("EC key rejected: {e}"))?;
    let point = pair.public_key().as_ref();
    let jwk =
        json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]) });
    Ok((der, jwk, pair))
}

fn open_pair(alg: &str, der: &[u8]) -> anyhow::Result<KeyPair> {
    Ok(match alg {
        "RS256" => KeyPair::Rs256(
            RsaKeyPair::from_pkcs8(der).map_err(|e| anyhow::anyhow!("RSA key rejected: {e}"))?,
        ),
        _ => KeyPair::Es256(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map_err(|e| anyhow::anyhow!("EC key rejected: {e}"))?,
        ),
    })
}

/// Creates and stores a new key of `alg`; returns its kid.
async fn create_key(db: &Db, master: &MasterKey, alg: &str) -> anyhow::Result<String> {
    let kid = random::token(12);
    let (der, mut jwk) = match alg {
        "RS256" => {
            let (der, jwk, _) = tokio::task::spawn_blocking(generate_rsa).await??;
            (der, jwk)
        }
        _ => {
            let (der, jwk, _) = generate_ec()?;
            (der, jwk)
        }
    };
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(alg);
    jwk["use"] = json!("sig");
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&kid)
        .bind(alg)
        .bind(master.seal(&der))
        .bind(jwk.to_string())
        .bind(clock::now_ms())
        .execute(&mut *tx)
        .await?;
    kernel::audit::append(
        &mut tx,
        &kernel::audit::Event::new(
            kernel::audit::Actor::System,
            "keys.create",
            format!("key:{kid}"),
        )
        .with(json!({ "alg": alg })),
    )
    .await?;
    tx.commit().await?;
    Ok(kid)
}

/// Makes sure one active key of each algorithm exists (first start).
pub async fn ensure_keys(db: &Db, master: &MasterKey) -> anyhow::Result<()> {
    for alg in ["RS256", "ES256"] {
        let active =
            sqlx::query("SELECT kid FROM signing_keys WHERE alg = $1 AND retired_at IS NULL")
                .bind(alg)
                .fetch_optional(db.pool())
                .await?;
        if active.is_none() {
            create_key(db, master, alg).await?;
        }
    }
    Ok(())
}

/// `mutualis keys rotate`: new keys become active, the current ones are
/// retired (still published for the overlap window). Returns the new kids.
pub async fn rotate(db: &Db, master: &MasterKey) -> anyhow::Result<Vec<String>> {
    let mut new = Vec::new();
    for alg in ["RS256", "ES256"] {
        let old: Vec<String> =
            sqlx::query("SELECT kid FROM signing_keys WHERE alg = $1 AND retired_at IS NULL")
                .bind(alg)
                .fetch_all(db.pool())
                .await?
                .iter()
                .map(|r| r.try_get("kid"))
                .collect::<Result<_, _>>()?;
        new.push(create_key(db, master, alg).await?);
        let mut tx = db.begin().await?;
        for kid in old {
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid = $2")
                .bind(clock::now_ms())
                .bind(&kid)
                .execute(&mut *tx)
                .await?;
            kernel::audit::append(
                &mut tx,
                &kernel::audit::Event::new(
                    kernel::audit::Actor::Cli,
                    "keys.retire",
                    format!("key:{kid}"),
                ),
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(new)
}

pub async fn load(db: &Db, master: &MasterKey) -> anyhow::Result<KeyRing> {
    let rows = sqlx::query("SELECT kid, alg, private_key, public_jwk, retired_at FROM signing_keys ORDER BY created_at")
        .fetch_all(db.pool())
        .await?;
    let mut keys = Vec::new();
    for r in &rows {
        let alg: String = r.try_get("alg")?;
        let sealed: Vec<u8> = r.try_get("private_key")?;
        let jwk: String = r.try_get("public_jwk")?;
        keys.push(Key {
            kid: r.try_get("kid")?,
            pair: open_pair(&alg, &master.open(&sealed)?)?,
            public_jwk: serde_json::from_str(&jwk)?,
            retired_at: r.try_get("retired_at")?,
        });
    }
    Ok(KeyRing { keys })
}

/// The node's keys, refreshed from the database every minute.
#[derive(Clone)]
pub struct KeyStore {
    db: Db,
    master: MasterKey,
    cache: Arc<RwLock<(Instant, Arc<KeyRing>)>>,
}

const REFRESH: Duration = Duration::from_secs(60);

impl KeyStore {
    pub async fn open(db: &Db, master: &MasterKey) -> anyhow::Result<KeyStore> {
        ensure_keys(db, master).await?;
        let ring = load(db, master).await?;
        Ok(KeyStore {
            db: db.clone(),
            master: master.clone(),
            cache: Arc::new(RwLock::new((Instant::now(), Arc::new(ring)))),
        })
    }

    pub async fn ring(&self) -> Arc<KeyRing> {
        let (loaded, ring) = self.cache.read().expect("key cache lock").clone();
        if loaded.elapsed() < REFRESH {
            return ring;
        }
        {
            // One caller reloads; the others keep signing with the current
            // ring meanwhile instead of each reloading (and unsealing) it.
            let mut cache = self.cache.write().expect("key cache lock");
            if cache.0.elapsed() < REFRESH {
                return cache.1.clone();
            }
            cache.0 = Instant::now();
        }
        match load(&self.db, &self.master).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.cache.write().expect("key cache lock") = (Instant::now(), fresh.clone());
                fresh
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "reloading signing keys failed; keeping the loaded ones");
                ring
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::jwt;
    use super::*;

    #[test]
    fn generated_keys_sign_tokens_that_verify_with_their_jwk() {
        let (_, rsa_jwk, rsa) = generate_rsa().unwrap();
        let (_, ec_jwk, ec) = generate_ec().unwrap();
        for (pair, jwk) in [(KeyPair::Rs256(rsa), rsa_jwk), (KeyPair::Es256(ec), ec_jwk)] {
            let token = jwt::sign(
                &pair,
                "k1",
                "JWT",
                &json!({ "sub": "abc", "aud": "toodego" }),
            );
            let parsed = jwt::parse(&token).unwrap();
            assert_eq!(parsed.header["alg"], pair.alg());
            assert_eq!(parsed.claims["sub"], "abc");
            assert!(jwt::verify(&parsed, &jwk));
            // One byte changed in the payload: the signature no longer holds.
            let mut forged = token.clone();
            let dot = forged.find('.').unwrap() + 3;
            forged.replace_range(
                dot..dot + 1,
                if &forged[dot..dot + 1] == "A" {
                    "B"
                } else {
                    "A"
                },
            );
            if let Some(p) = jwt::parse(&forged) {
                assert!(!jwt::verify(&p, &jwk));
            }
        }
    }
}
