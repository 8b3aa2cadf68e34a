//! Sampling another process: kept-open `/proc` files re-read with `pread`
//! (what the pool does for every worker) against opening the files by path
//! for each sample, and against the usual by-path read of
//! `/proc/PID/statm` plus a listing of `/proc/PID/fd` (what psutil's
//! `memory_info()` + `num_fds()` do underneath). Prints ratios; asserts
//! nothing about time.

use std::hint::black_box;
use workerlife::process::{self, ProcHandle};

mod timing;
use timing::best_ns;

fn main() {
    // A child with a realistic handful of mappings and descriptors.
    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("start sleep");
    let pid = child.id();
    let iters = 20_000;

    let mut handle = ProcHandle::open(pid).unwrap();
    let kept = best_ns(5, iters, |n| {
        for _ in 0..n {
            black_box(handle.sample(false).unwrap());
        }
    });
    let reopen = best_ns(5, iters, |n| {
        for _ in 0..n {
            black_box(process::sample(pid, false).unwrap());
        }
    });
    let by_path = best_ns(5, iters, |n| {
        for _ in 0..n {
            let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap();
            let rss: u64 = statm.split(' ').nth(1).unwrap().parse().unwrap();
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .count();
            black_box((rss, fds));
        }
    });
    let kept_uss = best_ns(5, iters / 4, |n| {
        for _ in 0..n {
            black_box(handle.sample(true).unwrap());
        }
    });
    let reopen_uss = best_ns(5, iters / 4, |n| {
        for _ in 0..n {
            black_box(process::sample(pid, true).unwrap());
        }
    });
    let smaps_by_path = best_ns(5, iters / 4, |n| {
        for _ in 0..n {
            let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
            let pss: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap();
            black_box(pss);
        }
    });
    let _ = child.kill();
    let _ = child.wait();

    println!("sample of another pid                    ns/op    ratio");
    println!("RSS + FDs, kept-open files, pread      {kept:8.0}     1.00");
    println!(
        "RSS + FDs, opened by path each time    {reopen:8.0}  {:7.2}x slower",
        reopen / kept
    );
    println!(
        "statm + listing fd/ by path (psutil's) {by_path:8.0}  {:7.2}x slower",
        by_path / kept
    );
    println!("+ USS/PSS (smaps_rollup), kept-open    {kept_uss:8.0}     1.00");
    println!(
        "+ USS/PSS, opened by path each time    {reopen_uss:8.0}  {:7.2}x slower",
        reopen_uss / kept_uss
    );
    println!(
        "smaps_rollup read by path, Pss only    {smaps_by_path:8.0}  {:7.2}x slower",
        smaps_by_path / kept_uss
    );
}
