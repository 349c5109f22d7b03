//! ID-7: time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second
//! steps, 6 digits), as authenticator apps expect them.

use ring::hmac;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;

/// The code of a time step (RFC 4226 dynamic truncation).
pub fn code(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &(step as u64).to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[19] & 0x0f) as usize;
    let binary = (u32::from(mac[offset]) & 0x7f) << 24
        | u32::from(mac[offset + 1]) << 16
        | u32::from(mac[offset + 2]) << 8
        | u32::from(mac[offset + 3]);
    binary % 10u32.pow(DIGITS)
}

pub fn step_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The step a typed code matches, one step of clock drift allowed either
/// way; the caller refuses steps already used (no replay).
pub fn matching_step(secret: &[u8], typed: &str, unix_seconds: i64) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = typed.parse().ok()?;
    let now = step_of(unix_seconds);
    (now - 1..=now + 1).find(|s| code(secret, *s) == value)
}

/// Base32 (RFC 4648, no padding), as authenticator apps read secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push(((buffer >> (bits - 8)) & 0xff) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app reads from the QR code.
pub fn otpauth_uri(secret: &[u8], account: &str) -> String {
    let label = format!("Mutualis:{account}")
        .replace(' ', "%20")
        .replace('@', "%40");
    format!(
        "otpauth://totp/{label}?secret={}&issuer=Mutualis&algorithm=SHA1&digits=6&period=30",
        base32(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_test_vectors_sha1() {
        // RFC 6238 appendix B, SHA1 with the 20-byte ASCII secret; the RFC
        // prints 8 digits, the last 6 are ours.
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
        ] {
            assert_eq!(code(secret, step_of(time)), eight % 1_000_000, "t={time}");
        }
    }

    #[test]
    fn codes_match_within_one_step_of_drift() {
        let secret = b"12345678901234567890";
        let t = 1111111111;
        let c = format!("{:06}", code(secret, step_of(t)));
        assert_eq!(matching_step(secret, &c, t), Some(step_of(t)));
        assert_eq!(
            matching_step(secret, &c, t + 30),
            Some(step_of(t)),
            "one step late"
        );
        assert_eq!(matching_step(secret, &c, t + 90), None, "three steps late");
        assert_eq!(matching_step(secret, "12a456", t), None);
        assert_eq!(
            matching_step(secret, &format!("{} {}", &c[..3], &c[3..]), t),
            Some(step_of(t)),
            "spaces are fine"
        );
    }

    #[test]
    fn base32_round_trips() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(from_base32("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(from_base32("mzxw 6ytb oi").unwrap(), b"foobar");
        assert!(otpauth_uri(b"12345678901234567890", "a@b.fr").starts_with(
            "otpauth://totp/Mutualis:a%40b.fr?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        ));
    }
}
