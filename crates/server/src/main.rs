//! `mutualis`: the platform's one binary.

use clap::Parser;

fn main() -> std::process::ExitCode {
    large_blocks_from_mmap();
    let cli = server::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    match runtime.block_on(server::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc serves large blocks from mmap only until the first one is freed;
/// then it raises its threshold and serves the 19 MiB argon2 buffers from
/// its heaps, which fragment and keep the memory after a burst of logins.
/// A fixed threshold keeps every block of 1 MiB or more on mmap, so a freed
/// argon2 buffer goes back to the system at once (ID-1, measured by
/// bench/oidc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn large_blocks_from_mmap() {
    // SAFETY: mallopt only sets an allocator parameter; it runs first in
    // main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn large_blocks_from_mmap() {}
