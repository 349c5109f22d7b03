//! ID-1: passwords hashed with argon2id at OWASP's parameters (m = 19 MiB,
//! t = 2, p = 1). Hashing runs on a pool of one thread per core, so that a
//! burst of logins waits in line instead of allocating 19 MiB per request:
//! memory stays near (cores × 19 MiB) during a burst and is given back when
//! no login waits. The hash is `argon2-rust`'s (the fastest implementation
//! measured here, with SIMD chosen at run time; docs/decisions.md).

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use argon2_rust::params::Memory;
use argon2_rust::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

fn owasp() -> Argon2 {
    let params = Params::builder()
        .memory(Memory::kib(MEMORY_KIB.into()))
        .passes(ITERATIONS)
        .lanes(PARALLELISM)
        .build()
        .expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

thread_local! {
    /// The thread's hasher and its 19 MiB working memory (mmap'd, huge
    /// pages on Linux), reused while logins wait in the queue and given back
    /// when none does: a fresh 19 MiB per hash on many threads fragmented
    /// the allocator's heap (measured: +220 MiB after 20 logins).
    static HASHER: RefCell<argon2_rust::Hasher> = RefCell::new(owasp().hasher());
}

/// Gives this thread's working memory back (the next hash takes it again).
fn release_memory() {
    HASHER.with(|h| h.borrow_mut().clear());
}

/// Hashes a password now, on the calling thread (command line, benchmarks).
pub fn hash_blocking(password: &str) -> String {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .expect("the system random source is available");
    HASHER.with(|h| {
        h.borrow_mut()
            .hash_password(password.as_bytes(), &salt)
            .expect("argon2 hashing with valid parameters")
    })
}

/// Checks a password against a stored PHC string, on the calling thread, in
/// constant time. Hashes made with other argon2 parameters are checked with
/// theirs (in the reused memory when they need no more, in memory freed at
/// once when they need more).
pub fn verify_blocking(password: &str, stored: &str) -> bool {
    let Some(algorithm) = algorithm_of(stored) else {
        return false;
    };
    HASHER.with(|h| {
        h.borrow_mut()
            .verify_password(stored, password.as_bytes(), algorithm)
            .is_ok()
    })
}

/// The algorithm a PHC string names (`$argon2id$…`).
fn algorithm_of(phc: &str) -> Option<Algorithm> {
    match phc.split('$').nth(1)? {
        "argon2id" => Some(Algorithm::Argon2id),
        "argon2i" => Some(Algorithm::Argon2i),
        "argon2d" => Some(Algorithm::Argon2d),
        _ => None,
    }
}

/// A hash that no password matches, verified when the account does not exist
/// so that a login takes as long whether or not the e-mail is known.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_blocking(&crate::random::token(24)))
}

type Job = Box<dyn FnOnce() + Send>;

/// The bounded hashing pool shared by a node: a fixed set of threads, one per
/// core, fed by a queue. Each argon2 computation allocates its 19 MiB on one
/// of these threads, so the memory the allocator keeps is bounded by the
/// number of threads, whatever the number of parallel logins (tokio's own
/// blocking pool would spread the work over many threads, each keeping its
/// own 19 MiB arena).
#[derive(Clone)]
pub struct Hasher {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    pub fn new(slots: usize) -> Hasher {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..slots.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while taking the next job.
                        let job = match queue.lock() {
                            Ok(q) => match q.try_recv() {
                                Ok(job) => Ok(job),
                                Err(_) => {
                                    // Nothing waiting: give the 19 MiB back
                                    // before sleeping, so that an idle node
                                    // holds no argon2 memory; a burst keeps
                                    // reusing it.
                                    release_memory();
                                    q.recv()
                                }
                            },
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            // Every Hasher was dropped: the pool ends.
                            Err(_) => return,
                        }
                    }
                })
                .expect("argon2 worker thread starts");
        }
        Hasher { jobs }
    }

    /// One slot per core.
    pub fn per_core() -> Hasher {
        Hasher::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        )
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
        });
        self.jobs
            .send(job)
            .expect("argon2 workers are alive while a Hasher exists");
        answer.await.expect("argon2 worker answers")
    }

    pub async fn hash(&self, password: String) -> String {
        self.run(move || hash_blocking(&password)).await
    }

    /// `None` for an unknown account still costs one verification.
    pub async fn verify(&self, password: String, phc: Option<String>) -> bool {
        self.run(move || match phc {
            Some(phc) => verify_blocking(&password, &phc),
            None => {
                let _ = verify_blocking(&password, decoy_hash());
                false
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash_blocking("correct horse battery staple");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_blocking("correct horse battery staple", &phc));
        assert!(!verify_blocking("correct horse battery stapl", &phc));
        assert!(!verify_blocking("x", "not a phc string"));
    }

    /// Two independent implementations agree: RustCrypto's `argon2` (a
    /// test dependency) verifies our hashes and we verify its, including
    /// with other parameters.
    #[test]
    fn hashes_agree_with_rustcryptos_implementation() {
        use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
        let ours = hash_blocking("mot de passe de test");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(b"mot de passe de test", &parsed)
                .is_ok()
        );
        assert!(
            argon2::Argon2::default()
                .verify_password(b"mot de passe de tesu", &parsed)
                .is_err()
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let other = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 3, 1, None).unwrap(),
        )
        .hash_password(b"ancien mot de passe", &salt)
        .unwrap()
        .to_string();
        assert!(verify_blocking("ancien mot de passe", &other));
        assert!(!verify_blocking("ancien mot de passf", &other));
        // A hash that needs more memory than the thread keeps, then the
        // usual parameters again on the same thread.
        let bigger = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(32 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"ancien mot de passe", &salt)
        .unwrap()
        .to_string();
        assert!(verify_blocking("ancien mot de passe", &bigger));
        assert!(verify_blocking("mot de passe de test", &ours));
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    #[tokio::test]
    async fn the_pool_hashes_and_verifies_in_parallel_callers() {
        let hasher = Hasher::new(2);
        let phc = hasher.hash("une phrase de passe".into()).await;
        let mut checks = Vec::new();
        for n in 0..6 {
            let (h, phc) = (hasher.clone(), phc.clone());
            let guess = if n % 2 == 0 {
                "une phrase de passe"
            } else {
                "autre chose"
            };
            checks.push(tokio::spawn(async move {
                h.verify(guess.into(), Some(phc)).await
            }));
        }
        let mut results = Vec::new();
        for c in checks {
            results.push(c.await.unwrap());
        }
        assert_eq!(results, vec![true, false, true, false, true, false]);
        assert!(
            !hasher.verify("x".into(), None).await,
            "unknown account never matches"
        );
    }
}
