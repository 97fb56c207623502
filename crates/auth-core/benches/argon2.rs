//! Raw argon2id cost with the default parameters (m=19456 KiB, t=2, p=1): one hash on one thread,
//! and throughput with one hashing thread per core (what the server's blocking pool can do at
//! best, since it allows one hash per core). Each thread keeps its argon2 work area between
//! verifications, as the server does under load, so the numbers are the best this machine can do
//! (a fresh 19 MiB area per hash adds thousands of page faults; see docs/benchmarks.md).
//! `make bench` compares login throughput with the second number. Run with
//! `cargo bench -p tessera-auth-core --bench argon2`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_auth_core::password::{Argon2Params, PasswordHasher, WorkArea};

const PASSWORD: &str = "correct horse battery staple 42";

fn argon2id(c: &mut Criterion) {
    let hasher = PasswordHasher::new(Argon2Params::default()).unwrap_or_else(|e| panic!("hasher: {e}"));
    let stored = hasher.hash(PASSWORD).unwrap_or_else(|e| panic!("hash: {e}"));
    let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(1);

    let mut group = c.benchmark_group("argon2id_default");
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    group.bench_function("hash/1_thread", |b| b.iter(|| hasher.hash(black_box(PASSWORD))));
    group.bench_function("verify/1_thread", |b| {
        let mut area = WorkArea::default();
        b.iter(|| hasher.verify_in(black_box(PASSWORD), black_box(&stored), &mut area))
    });
    // Every thread verifies `iters` times; the wall time divided by the thread count is the time
    // per verification at full parallelism, so 1 / estimate = hashes per second on all cores.
    group.bench_function(format!("verify/{threads}_threads_per_hash"), |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        let mut area = WorkArea::default();
                        for _ in 0..iters {
                            black_box(hasher.verify_in(black_box(PASSWORD), &stored, &mut area)).ok();
                        }
                    });
                }
            });
            started.elapsed() / u32::try_from(threads).unwrap_or(1)
        })
    });
    group.finish();
}

criterion_group!(benches, argon2id);
criterion_main!(benches);
