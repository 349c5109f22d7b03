//! ID-1: passwords hashed with argon2id at OWASP's parameters (m = 19 MiB,
//! t = 2, p = 1). Hashing runs on a pool of one thread per core, so that a
//! burst of logins waits in line instead of allocating 19 MiB per request:
//! memory stays near (cores × 19 MiB) during a burst and is given back when
//! no login waits. The hash is computed by the C reference implementation
//! (through `argon2-sys`), about twice as fast here as RustCrypto's, which
//! still parses and formats the PHC strings (docs/decisions.md).

use std::sync::{Arc, Mutex};

#[cfg(test)]
use argon2::Argon2;
use argon2::password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Params, Version};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

fn owasp_params() -> Params {
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("OWASP parameters are valid")
}

/// A thread's argon2 working memory: 2 MiB-aligned and, on Linux, backed by
/// transparent huge pages, so that allocating it again after an idle period
/// costs ten page faults instead of five thousand (bench/oidc measured the
/// small-page faults at about a tenth of a login's CPU).
struct Memory {
    ptr: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
}

impl Memory {
    const ALIGN: usize = 2 << 20;

    fn new(bytes: usize) -> Option<Memory> {
        let layout = std::alloc::Layout::from_size_align(bytes.max(1), Self::ALIGN).ok()?;
        // SAFETY: the layout has a non-zero size.
        let ptr = std::ptr::NonNull::new(unsafe { std::alloc::alloc(layout) })?;
        #[cfg(target_os = "linux")]
        // SAFETY: the range is the allocation just made; the advice only
        // changes how the kernel backs it.
        unsafe {
            libc::madvise(ptr.as_ptr().cast(), bytes, libc::MADV_HUGEPAGE);
        }
        Some(Memory { ptr, layout })
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

thread_local! {
    /// The thread's argon2 working memory, reused while logins wait in the
    /// queue and freed when none does: a fresh 19 MiB per hash on many
    /// threads fragmented the allocator's heap (measured: +220 MiB after 20
    /// logins). Freeing returns it to the system only because the binary
    /// keeps large blocks on mmap (see `main`).
    static MEMORY: std::cell::RefCell<Option<Memory>> = const { std::cell::RefCell::new(None) };
}

/// argon2's allocation callback: hands out this thread's reused memory.
/// The C code calls it on the calling thread (one lane, one thread).
unsafe extern "C" fn lend_memory(memory: *mut *mut u8, bytes: libc::size_t) -> libc::c_int {
    MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.as_ref().is_none_or(|m| m.layout.size() != bytes) {
            *m = Memory::new(bytes);
        }
        match m.as_ref() {
            Some(m) => {
                // SAFETY: argon2 passes a valid out-pointer; the memory
                // outlives the hash (it is the thread's and only this thread
                // hashes).
                unsafe { *memory = m.ptr.as_ptr() };
                0
            }
            // ARGON2_MEMORY_ALLOCATION_ERROR
            None => -22,
        }
    })
}

/// argon2's release callback: the memory stays with the thread (wiped by
/// argon2 before this call) until `release_memory`.
unsafe extern "C" fn keep_memory(_memory: *mut u8, _bytes: libc::size_t) {}

/// Argon2 of `password` with `salt` (raw bytes) into `out`, with the C
/// reference implementation (the fastest here: about twice RustCrypto's
/// speed, measured by bench/oidc) in this thread's reused working memory.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> password_hash::Result<()> {
    // Lengths beyond u32 cannot come through the forms (they bound sizes).
    let len = |n: usize| u32::try_from(n).map_err(|_| password_hash::Error::Crypto);
    let mut context = argon2_sys::Argon2_Context {
        out: out.as_mut_ptr(),
        outlen: len(out.len())?,
        // The C API takes mutable pointers but reads these only (no
        // CLEAR_PASSWORD flag).
        pwd: password.as_ptr().cast_mut(),
        pwdlen: len(password.len())?,
        salt: salt.as_ptr().cast_mut(),
        saltlen: len(salt.len())?,
        secret: std::ptr::null_mut(),
        secretlen: 0,
        ad: std::ptr::null_mut(),
        adlen: 0,
        t_cost: params.t_cost(),
        m_cost: params.m_cost(),
        lanes: params.p_cost(),
        threads: 1,
        version: version as u32,
        allocate_cbk: Some(lend_memory),
        free_cbk: Some(keep_memory),
        flags: argon2_sys::ARGON2_DEFAULT_FLAGS,
    };
    let kind = match algorithm {
        Algorithm::Argon2d => argon2_sys::Argon2_d,
        Algorithm::Argon2i => argon2_sys::Argon2_i,
        Algorithm::Argon2id => argon2_sys::Argon2_id,
    };
    // SAFETY: every pointer of the context is valid for the lengths given,
    // for the duration of the call.
    match unsafe { argon2_sys::argon2_ctx(&mut context, kind) } {
        0 => Ok(()),
        _ => Err(password_hash::Error::Crypto),
    }
}

/// Frees this thread's working memory (the next hash allocates it again).
fn release_memory() {
    MEMORY.with(|memory| *memory.borrow_mut() = None);
}

/// The PHC string of `password` hashed with argon2id, `params` and `salt`.
fn phc<'a>(
    params: &Params,
    password: &[u8],
    salt: Salt<'a>,
) -> password_hash::Result<PasswordHash<'a>> {
    let mut raw = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut raw)?;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(len, |out| {
        compute(
            Algorithm::Argon2id,
            Version::V0x13,
            params,
            password,
            salt_bytes,
            out,
        )
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Hashes a password now, on the calling thread (command line, benchmarks).
pub fn hash_blocking(password: &str) -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source is available");
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt");
    phc(&owasp_params(), password.as_bytes(), salt.as_salt())
        .expect("argon2 hashing with valid parameters")
        .to_string()
}

/// Checks a password against a stored PHC string, on the calling thread.
/// Hashes made with other argon2 parameters are checked with theirs.
pub fn verify_blocking(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.version.map(Version::try_from).transpose(),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let mut raw = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut raw) else {
        return false;
    };
    match Output::init_with(expected.len(), |out| {
        let version = version.unwrap_or_default();
        compute(
            algorithm,
            version,
            &params,
            password.as_bytes(),
            salt_bytes,
            out,
        )
    }) {
        // `Output`'s equality is constant-time.
        Ok(computed) => computed == expected,
        Err(_) => false,
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

    #[test]
    fn hashes_agree_with_rustcryptos_implementation() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // Ours (the C reference code) verifies with RustCrypto's verifier…
        let ours = hash_blocking("mot de passe de test");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::new(Algorithm::Argon2id, Version::V0x13, owasp_params())
                .verify_password(b"mot de passe de test", &parsed)
                .is_ok()
        );
        // …and a hash made by RustCrypto with other parameters verifies with ours.
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 3, 1, None).unwrap(),
        )
        .hash_password(b"ancien mot de passe", &salt)
        .unwrap()
        .to_string();
        assert!(verify_blocking("ancien mot de passe", &other));
        assert!(!verify_blocking("ancien mot de passf", &other));
        // And back to the usual parameters on the same thread.
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
