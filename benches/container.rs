//! One reading of this process's memory cgroup (what a pool with
//! `container_memory` takes once per `sample_interval`, not per worker):
//! files kept open and re-read with `pread`, against opening them by path
//! each time, against the baseline of one read of `/proc/self/status`.
//! Prints ratios; asserts nothing about time. Goal: at most 20 µs.

use std::hint::black_box;
use workerlife::cgroup::Cgroup;

mod timing;
use timing::best_ns;

fn main() {
    let cgroup = match Cgroup::of_self() {
        Ok(c) => c,
        Err(e) => {
            println!("container reading: {e} (nothing to measure here)");
            return;
        }
    };
    let iters = 5_000;
    let mut reader = cgroup.reader();
    let kept = best_ns(5, iters, |n| {
        for _ in 0..n {
            black_box(reader.read().unwrap());
        }
    });
    let reopen = best_ns(5, iters, |n| {
        for _ in 0..n {
            black_box(cgroup.read().unwrap());
        }
    });
    let status = best_ns(5, iters, |n| {
        for _ in 0..n {
            black_box(std::fs::read_to_string("/proc/self/status").unwrap());
        }
    });
    println!(
        "container reading ({:?}, {}):",
        cgroup.version(),
        cgroup.dir().display()
    );
    println!(
        "  /proc/self/status read (baseline)  {:>8.2} us",
        status / 1e3
    );
    println!(
        "  files kept open (pread)             {:>8.2} us   = {:.2}x the baseline (goal <= 20 us)",
        kept / 1e3,
        kept / status
    );
    println!(
        "  files opened each time              {:>8.2} us   = {:.2}x the baseline",
        reopen / 1e3,
        reopen / status
    );
}
