//! Secrets made from the system's random source.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// `bytes` random bytes, URL-safe base64 without padding (32 bytes = 256 bits).
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the system random source is available");
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 in hex: how session tokens are stored (a database leak does not
/// hand out live sessions), and the checksum of files and archives.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes.as_ref()))
}

/// Compares two secrets without leaking where they differ: the digests are
/// compared, so timing tells nothing about the secret's bytes.
pub fn same_secret(a: &str, b: &str) -> bool {
    let da = digest::digest(&digest::SHA256, a.as_bytes());
    let db = digest::digest(&digest::SHA256, b.as_bytes());
    da.as_ref() == db.as_ref()
}
