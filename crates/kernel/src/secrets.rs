//! The master key: secrets at rest (signing keys, OPS-7) are sealed with it
//! (AES-256-GCM). With PostgreSQL every node must use the same key, so it
//! comes from configuration; the embedded SQLite installation (one node)
//! creates one in its data directory when there is none.

use std::path::Path;
use std::sync::Arc;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

#[derive(Clone)]
pub struct MasterKey(Arc<LessSafeKey>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<MasterKey> {
        if bytes.len() != 32 {
            anyhow::bail!("the master key must be 32 bytes, found {}", bytes.len());
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| anyhow::anyhow!("invalid master key"))?;
        Ok(MasterKey(Arc::new(LessSafeKey::new(key))))
    }

    /// A fresh random key (tests).
    pub fn random() -> MasterKey {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).expect("random source");
        MasterKey::from_bytes(&bytes).expect("32 bytes")
    }

    /// Reads the key file (32 raw bytes); creates it (mode 600) when absent
    /// and `create` is true.
    pub fn load(path: &Path, create: bool) -> anyhow::Result<MasterKey> {
        match std::fs::read(path) {
            Ok(bytes) => MasterKey::from_bytes(&bytes)
                .map_err(|e| anyhow::anyhow!("master key file {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut bytes = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| anyhow::anyhow!("no random source"))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                write_private(path, &bytes)?;
                tracing::warn!(path = %path.display(), "created a new master key: back it up with the data");
                MasterKey::from_bytes(&bytes)
            }
            Err(e) => Err(anyhow::anyhow!(
                "cannot read the master key file {}: {e} (give one with --master-key-file: 32 random bytes, e.g. `head -c 32 /dev/urandom > master.key`; every node must use the same)",
                path.display()
            )),
        }
    }

    /// Seals `plaintext`: a random nonce, then the ciphertext and its tag.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("random source");
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .expect("sealing succeeds");
        let mut out = nonce.to_vec();
        out.extend(buf);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            anyhow::bail!("sealed secret too short");
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("bad nonce"))?;
        let mut buf = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::empty(), &mut buf)
            .map_err(|_| {
                anyhow::anyhow!("a secret does not open with this master key (wrong key file?)")
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = MasterKey::random();
        let sealed = key.seal(b"private key bytes");
        assert_ne!(&sealed[12..], b"private key bytes");
        assert_eq!(key.open(&sealed).unwrap(), b"private key bytes");
        assert!(MasterKey::random().open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(key.open(&tampered).is_err());
    }

    #[test]
    fn a_key_file_is_created_once_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        assert!(MasterKey::load(&path, false).is_err());
        let a = MasterKey::load(&path, true).unwrap();
        let b = MasterKey::load(&path, false).unwrap();
        assert_eq!(b.open(&a.seal(b"x")).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
