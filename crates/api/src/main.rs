//! The `tessera` binary: the command line of `tessera_api::cli` on a multi-threaded runtime.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unreachable,
        clippy::indexing_slicing,
        clippy::await_holding_lock
    )
)]

use clap::Parser;
use tessera_api::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    return_large_blocks_to_the_system();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tessera: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tessera: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc's malloc raises its mmap threshold to the largest block freed so far (up to 32 MiB).
/// After the first password hash, every 19 MiB argon2 work area therefore came from a heap
/// arena and stayed there when freed, one per arena: resident memory reached 500 MiB after a
/// login burst and never came back (docs/benchmarks.md). A fixed threshold keeps blocks of
/// 1 MiB and more in their own mappings, unmapped on free; two arenas bound what idle threads of
/// the blocking pool can hold on to.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_large_blocks_to_the_system() {
    // SAFETY: mallopt only sets allocator parameters (it takes the allocator's own locks); it
    // reads and writes no memory of ours. Called first in main, before any other thread exists.
    // A refused setting (return value 0) leaves glibc's defaults, which are merely less frugal.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_blocks_to_the_system() {}
