//! The bounds of bench/oidc, measured on this machine:
//! - signatures per second of `ring` 0.17 (what Mutualis signs JWTs with):
//!   ECDSA P-256 SHA-256 (FIXED encoding, as JOSE's ES256) and RSA PKCS#1
//!   SHA-256 with a 2048-bit key (RS256), on 1 thread and on N threads;
//! - the time of one argon2id hash (m = 19456 KiB, t = 2, p = 1) with each
//!   implementation available to Rust here.
//!
//! Usage: bounds [--seconds S] [--threads N] [--argon2-min-hashes K]
//! Prints one JSON object on stdout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::json;

const M_KIB: u32 = 19 * 1024;
const T: u32 = 2;
const P: u32 = 1;
const PASSWORD: &[u8] = b"une phrase de passe solide";
const SALT: &[u8] = b"0123456789abcdef"; // 16 bytes, as Mutualis

/// A signing input the size of an RFC 9068 access token's.
fn signing_input() -> Vec<u8> {
    let header = r#"{"alg":"ES256","kid":"AAAAAAAAAAAAAAAA","typ":"at+jwt"}"#;
    let claims = r#"{"aud":"bench-client-000000000","client_id":"bench-client-000000000","exp":1900000600,"iat":1900000000,"iss":"http://127.0.0.1:8080","jti":"AAAAAAAAAAAAAAAAAAAAAA","scope":"","sub":"bench-client-000000000"}"#;
    use base64::Engine;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}", b.encode(header), b.encode(claims)).into_bytes()
}

/// Runs `f` on `threads` threads for `seconds`; operations per second.
fn rate<F>(threads: usize, seconds: f64, f: F) -> f64
where
    F: Fn() + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let f = f.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    f();
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

fn rsa_pkcs8() -> Vec<u8> {
    use rsa::pkcs8::EncodePrivateKey;
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("RSA key");
    private.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec()
}

fn argon2_rust_owasp() -> argon2_rust::Argon2 {
    use argon2_rust::{Algorithm, Argon2, Params, Version, params::Memory};
    let params = Params::builder()
        .memory(Memory::kib(M_KIB.into()))
        .passes(T)
        .lanes(P)
        .build()
        .unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Median milliseconds of one hash by `f` (which returns the 32-byte output),
/// after one unmeasured hash; at least `min` hashes and about `budget` seconds.
fn time_hash(min: usize, budget: f64, f: &dyn Fn() -> Vec<u8>) -> (f64, Vec<f64>, Vec<u8>) {
    let out = f();
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < min || start.elapsed().as_secs_f64() < budget {
        let t = Instant::now();
        let o = f();
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(o, out, "deterministic output");
        if samples.len() >= 200 {
            break;
        }
    }
    (median(samples.clone()), samples, out)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: f64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<f64>().expect("a number"))
            .unwrap_or(default)
    };
    let seconds = arg("--seconds", 1.5);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = arg("--threads", cores as f64) as usize;
    let min_hashes = arg("--argon2-min-hashes", 8.0) as usize;
    let argon2_budget = arg("--argon2-seconds", 1.0);

    // --- ring signing
    let msg = Arc::new(signing_input());
    let rng = SystemRandom::new();
    let ec_der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = Arc::new(
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_der.as_ref(), &rng).unwrap(),
    );
    let rsa = Arc::new(RsaKeyPair::from_pkcs8(&rsa_pkcs8()).unwrap());
    let es = |n: usize| {
        let (ec, msg) = (ec.clone(), msg.clone());
        rate(n, seconds, move || {
            // A SystemRandom per signature, as jwt.rs does.
            let rng = SystemRandom::new();
            std::hint::black_box(ec.sign(&rng, &msg).unwrap());
        })
    };
    let rs = |n: usize| {
        let (rsa, msg) = (rsa.clone(), msg.clone());
        rate(n, seconds, move || {
            let rng = SystemRandom::new();
            let mut sig = vec![0u8; rsa.public().modulus_len()];
            rsa.sign(&RSA_PKCS1_SHA256, &rng, &msg, &mut sig).unwrap();
            std::hint::black_box(sig);
        })
    };
    let es1 = es(1);
    let esn = es(threads);
    let rs1 = rs(1);
    let rsn = rs(threads);

    // --- argon2id candidates
    let mut candidates = Vec::new();
    let mut push = |name: &str, what: &str, f: &dyn Fn() -> Vec<u8>| {
        let (ms, samples, out) = time_hash(min_hashes, argon2_budget, f);
        candidates.push(json!({
            "name": name, "what": what, "ms_per_hash": ms,
            "samples_ms": samples, "output_hex_prefix": out[..8].iter().map(|b| format!("{b:02x}")).collect::<String>(),
        }));
    };

    // argon2-rust 1.1: a Hasher keeps its arena between hashes, as each
    // thread of crates/kernel/src/password.rs does.
    {
        let h = std::cell::RefCell::new(argon2_rust_owasp().hasher());
        push("argon2-rust 1.1, reused memory", "what Mutualis uses (kernel/src/password.rs)", &|| {
            let mut out = vec![0u8; 32];
            h.borrow_mut().hash_into(PASSWORD, SALT, &mut out).unwrap();
            out
        });
        let a = argon2_rust_owasp();
        push("argon2-rust 1.1, fresh memory", "one-shot hash_into: maps 19 MiB per hash", &|| {
            let mut out = vec![0u8; 32];
            a.hash_into(PASSWORD, SALT, &mut out).unwrap();
            out
        });
    }
    // RustCrypto argon2 0.5, reused working memory.
    {
        use argon2::{Algorithm, Argon2, Block, Params, Version};
        let params = Params::new(M_KIB, T, P, Some(32)).unwrap();
        let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mem = std::cell::RefCell::new(vec![Block::default(); params.block_count()]);
        push("argon2 0.5 (RustCrypto), reused memory", "Mutualis used it until 2026-11", &|| {
            let mut out = vec![0u8; 32];
            a.hash_password_into_with_memory(PASSWORD, SALT, &mut out, &mut mem.borrow_mut()[..])
                .unwrap();
            out
        });
        push("argon2 0.5 (RustCrypto), fresh memory", "hash_password_into: allocates 19 MiB per hash", &|| {
            let mut out = vec![0u8; 32];
            a.hash_password_into(PASSWORD, SALT, &mut out).unwrap();
            out
        });
    }
    // rust-argon2 3.
    {
        let config = rust_argon2::Config {
            ad: &[],
            hash_length: 32,
            lanes: P,
            mem_cost: M_KIB,
            secret: &[],
            thread_mode: rust_argon2::ThreadMode::Sequential,
            time_cost: T,
            variant: rust_argon2::Variant::Argon2id,
            version: rust_argon2::Version::Version13,
        };
        push("rust-argon2 3", "pure Rust (blake2b_simd)", &|| {
            rust_argon2::hash_raw(PASSWORD, SALT, &config).unwrap()
        });
    }
    // argon2-sys 0.1: the C reference implementation (opt.c, built with
    // -march=native by its `simd` feature), through its raw binding.
    push(
        "argon2-sys 0.1 (C reference, opt.c, -march=native)",
        "C bindings (cc, no bindgen)",
        &|| {
            let mut out = vec![0u8; 32];
            let rc = unsafe {
                argon2_sys::argon2id_hash_raw(
                    T,
                    M_KIB,
                    P,
                    PASSWORD.as_ptr().cast(),
                    PASSWORD.len(),
                    SALT.as_ptr().cast(),
                    SALT.len(),
                    out.as_mut_ptr().cast(),
                    out.len(),
                )
            };
            assert_eq!(rc, 0, "argon2id_hash_raw");
            out
        },
    );

    // All implementations must agree (same algorithm, same inputs).
    let outs: Vec<&str> = candidates.iter().map(|c| c["output_hex_prefix"].as_str().unwrap()).collect();
    let agree = outs.windows(2).all(|w| w[0] == w[1]);

    // The fastest, and its measured throughput on `threads` threads (info).
    let fastest = candidates
        .iter()
        .min_by(|a, b| a["ms_per_hash"].as_f64().partial_cmp(&b["ms_per_hash"].as_f64()).unwrap())
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    // Throughput of argon2-rust on `threads` threads, reused memory (info).
    let ar_parallel = rate(threads, argon2_budget.max(2.0), move || {
        thread_local! {
            static H: std::cell::RefCell<argon2_rust::Hasher> =
                std::cell::RefCell::new(argon2_rust_owasp().hasher());
        }
        H.with(|h| {
            let mut out = [0u8; 32];
            h.borrow_mut().hash_into(PASSWORD, SALT, &mut out).unwrap();
        });
    });

    println!(
        "{}",
        json!({
            "cores": cores,
            "threads": threads,
            "seconds_per_rate": seconds,
            "ring": {
                "es256_per_s_1": es1, "es256_per_s_n": esn,
                "rs256_per_s_1": rs1, "rs256_per_s_n": rsn,
                "message_bytes": msg.len(),
            },
            "argon2": {
                "params": {"m_kib": M_KIB, "t": T, "p": P, "out": 32, "salt_bytes": SALT.len()},
                "candidates": candidates,
                "outputs_agree": agree,
                "fastest": fastest,
                "argon2_rust_reused_hashes_per_s_n_threads": ar_parallel,
            }
        })
    );
}
