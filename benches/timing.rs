//! The timing helper the Rust benchmarks share.

use std::time::Instant;

/// Best (lowest) nanoseconds per iteration over several rounds; one round
/// when BENCH_QUICK=1 (CI: each ratio still has its baseline from the same
/// run, only noisier).
pub fn best_ns(rounds: usize, iters: u64, mut f: impl FnMut(u64)) -> f64 {
    let quick = std::env::var_os("BENCH_QUICK").is_some_and(|v| v == "1");
    (0..if quick { 1 } else { rounds })
        .map(|_| {
            let t = Instant::now();
            f(iters);
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}
