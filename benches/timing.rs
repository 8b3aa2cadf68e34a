//! The timing helper the Rust benchmarks share.

use std::time::Instant;

/// Best (lowest) nanoseconds per iteration over several rounds.
pub fn best_ns(rounds: usize, iters: u64, mut f: impl FnMut(u64)) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f(iters);
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}
