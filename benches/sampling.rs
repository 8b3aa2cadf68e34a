//! Sampling another process: kept-open `/proc` files re-read with `pread`
//! (what the pool does for every worker) against opening the files by path
//! for each sample, and against the usual by-path read of
//! `/proc/PID/statm` plus a listing of `/proc/PID/fd` (what psutil's
//! `memory_info()` + `num_fds()` do underneath). Prints ratios; asserts
//! nothing about time.

use std::hint::black_box;
use std::time::{Duration, Instant};
use workerlife::process::{self, ProcHandle};
use workerlife::{Policy, Pool};

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
    lock_wait();
}

/// How long a host thread's `exited()` waits for the supervisor's lock
/// while another thread's `tick()` samples 64 live workers (RSS, FDs and
/// USS, every tick, a tick a millisecond), against the same calls with no
/// tick running; and what one sampling round takes (what the wait was
/// when rounds read `/proc` under the lock).
fn lock_wait() {
    let mut children: Vec<_> = (0..64)
        .map(|_| {
            std::process::Command::new("sleep")
                .arg("600")
                .spawn()
                .expect("start sleep")
        })
        .collect();
    let policy = Policy::parse("sample_interval=1ms,max_uss=64GiB").unwrap();
    let pool = Pool::new(&policy, 64).unwrap();
    for (slot, c) in children.iter().enumerate() {
        pool.spawned(slot as u32, c.id()).unwrap();
    }
    // A pid no slot holds: the call takes the lock, finds nothing, returns.
    let unknown = u32::MAX / 2;
    let waits = |pool: &Pool, run: Duration| {
        let mut ns = Vec::new();
        let end = Instant::now() + run;
        while Instant::now() < end {
            let t = Instant::now();
            black_box(pool.exited(unknown, 0).is_err());
            ns.push(t.elapsed().as_nanos() as f64);
            std::thread::sleep(Duration::from_micros(200));
        }
        ns.sort_by(f64::total_cmp);
        ns
    };
    let quiet = waits(&pool, Duration::from_millis(500));
    let round = best_ns(3, 20, |n| {
        for _ in 0..n {
            black_box(pool.sample());
        }
    });
    let mut ticks = 0u64;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let busy = std::thread::scope(|scope| {
        let ticker = scope.spawn(|| {
            let mut n = 0u64;
            // A master's loop: a tick every millisecond, each sampling
            // every worker (sample_interval=1ms).
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                black_box(pool.tick());
                n += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            n
        });
        let busy = waits(&pool, Duration::from_secs(2));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        ticks = ticker.join().unwrap();
        busy
    });
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let pct = |v: &[f64], p: f64| v[((v.len() - 1) as f64 * p) as usize] / 1e3;
    println!();
    println!("another thread's exited() while tick() samples 64 workers (µs)");
    println!("                                         p50      p99      max  calls");
    println!(
        "no tick running                     {:8.2} {:8.2} {:8.2} {:6}",
        pct(&quiet, 0.5),
        pct(&quiet, 0.99),
        pct(&quiet, 1.0),
        quiet.len()
    );
    println!(
        "tick() sampling all the while       {:8.2} {:8.2} {:8.2} {:6}   ({ticks} ticks; goal p99 < 50 µs)",
        pct(&busy, 0.5),
        pct(&busy, 0.99),
        pct(&busy, 1.0),
        busy.len()
    );
    println!(
        "one sampling round of the 64 workers {:8.0} µs (the wait when it held the lock)",
        round / 1e3
    );
}
