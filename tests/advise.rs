//! `workerlife advise` on live pools of real processes with known growth:
//! forked workers that each boot to a known size, then one pool leaks 1 MiB
//! per request and another 5 MiB per minute of its life (time scaled 12x:
//! 1 MiB a second), each with workers serving at different rates with idle
//! spells. The master ticks (sampling each worker's USS) while the pool
//! file is read as `advise --pool` reads it; the analysis must tell the two
//! apart and advise `max_requests` / `max_lifetime` within 10 % of the
//! truth for a per-worker ceiling.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};
use support::{fork_child, temp_path};
use workerlife::advise::{self, Driver, Series, Target, EXIT_NOT_YET};
use workerlife::{Policy, Pool};

const MIB: u64 = 1 << 20;

/// What each worker's app holds once booted.
const BOOT: usize = 20 << 20;

/// How long a worker takes from its spawn to its first request.
const BOOT_TIME: Duration = Duration::from_millis(500);

/// How long the pools are watched.
const WATCH: Duration = Duration::from_secs(12);

/// How often the pool file is read (`advise --interval`).
const EVERY: Duration = Duration::from_millis(250);

/// Children killed and reaped when the test ends, passed or not.
struct Children(Vec<u32>);

impl Drop for Children {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: our own children.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
                libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// How an app leaks.
#[derive(Clone, Copy)]
enum Leak {
    /// These many bytes each request.
    PerRequest(usize),
    /// `bytes` every `every` of its life, whatever it serves.
    Timed { bytes: usize, every: Duration },
}

/// A worker in `slot` that boots (holds `BOOT`, written to, and says its
/// USS on `report`), then from `BOOT_TIME` serves `rate` requests a second
/// during the first half of every `period` and none in the second, leaking
/// as `leak` says, until `WATCH` is over; then it waits to be killed.
fn worker(pool: &Pool, slot: u32, leak: Leak, rate: f64, period: f64, report: i32) -> u32 {
    fork_child(|| {
        let start = Instant::now();
        let w = pool.worker(slot).unwrap();
        let mut kept: Vec<Vec<u8>> = vec![vec![1u8; BOOT]];
        let uss = workerlife::process::sample_self(true)
            .unwrap()
            .uss
            .value()
            .unwrap();
        // SAFETY: a pipe's write end, 8 bytes.
        unsafe { libc::write(report, uss.to_ne_bytes().as_ptr().cast(), 8) };
        let mut next_request = BOOT_TIME.as_secs_f64();
        let mut next_leak = match leak {
            Leak::Timed { every, .. } => every.as_secs_f64(),
            Leak::PerRequest(_) => f64::INFINITY,
        };
        while start.elapsed() < WATCH + Duration::from_secs(2) {
            // Requests only in the first half of each period.
            while (next_request / period).fract() >= 0.5 {
                next_request = ((next_request / period).floor() + 1.0) * period;
            }
            let at = next_request.min(next_leak);
            if let Some(wait) = Duration::from_secs_f64(at).checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            if at == next_leak {
                if let Leak::Timed { bytes, every } = leak {
                    kept.push(vec![1u8; bytes]);
                    next_leak += every.as_secs_f64();
                }
            } else {
                w.begin();
                if let Leak::PerRequest(bytes) = leak {
                    kept.push(vec![1u8; bytes]);
                }
                w.end();
                next_request += 1.0 / rate;
            }
        }
        std::thread::sleep(Duration::from_secs(60));
        0
    })
}

/// A pool file with four workers leaking as `leak` says, at different rates
/// with different idle spells; the workers' USS at boot, read from a pipe.
struct LivePool {
    pool: Pool,
    path: std::path::PathBuf,
    boot_uss: Vec<u64>,
}

fn live_pool(name: &str, leak: Leak, children: &mut Children) -> LivePool {
    let path = temp_path(name);
    let _ = std::fs::remove_file(&path);
    // max_uss (far off) so the master's sampling reads USS.
    let policy = Policy::parse("max_uss=64GiB,sample_interval=100ms").unwrap();
    let pool = Pool::create(&path, &policy, 4).unwrap();
    let mut fds = [0; 2];
    // SAFETY: a pipe for the children's boot readings.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // (requests a second, period in seconds): served in half of each period.
    let loads = [(3.0, 1.0), (6.0, 2.0), (9.0, 3.0), (12.0, 1.5)];
    for (slot, (rate, period)) in loads.into_iter().enumerate() {
        let pid = worker(&pool, slot as u32, leak, rate, period, fds[1]);
        children.0.push(pid);
        pool.spawned(slot as u32, pid).unwrap();
    }
    // SAFETY: our pipe's ends.
    unsafe { libc::close(fds[1]) };
    let mut pipe = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    let mut buf = [0u8; 32];
    pipe.read_exact(&mut buf).unwrap();
    let boot_uss = buf
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    LivePool {
        pool,
        path,
        boot_uss,
    }
}

fn median(v: &[u64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    (v[1] + v[2]) as f64 / 2.0
}

fn within(advised: f64, truth: f64, what: &str) {
    println!("{what}: advised {advised:.0}, truth {truth:.0}");
    assert!(
        (advised - truth).abs() <= 0.1 * truth,
        "{what}: advised {advised:.0}, truth {truth:.0}"
    );
}

#[test]
fn growth_per_request_and_per_minute_are_told_apart_and_limits_advised_within_ten_percent() {
    let mut children = Children(Vec::new());
    let by_request = live_pool(
        "advise-requests",
        Leak::PerRequest(MIB as usize),
        &mut children,
    );
    let by_time = live_pool(
        "advise-time",
        // 5 MiB a minute, at 12x: 256 KiB every 250 ms.
        Leak::Timed {
            bytes: 256 << 10,
            every: Duration::from_millis(250),
        },
        &mut children,
    );
    let readers = [
        Pool::attach(&by_request.path).unwrap(),
        Pool::attach(&by_time.path).unwrap(),
    ];
    let mut series = [Series::new(), Series::new()];
    let mut early = Series::new();
    let start = Instant::now();
    let mut next_sample = start;
    while start.elapsed() < WATCH {
        for p in [&by_request.pool, &by_time.pool] {
            p.tick();
        }
        if Instant::now() >= next_sample {
            for (s, r) in series.iter_mut().zip(&readers) {
                s.push_json(&r.stats_json_occupied()).unwrap();
            }
            // Before any worker has served: too early to tell.
            let doc = readers[0].stats_json_occupied();
            let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
            if v["requests_total"] == 0 {
                early.push_json(&doc).unwrap();
            }
            next_sample += EVERY;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, text) = advise::report(&early, Target::PerWorker(128 * MIB), "early");
    assert_eq!(code, EXIT_NOT_YET, "{text}");
    assert!(text.contains("cannot tell yet"), "{text}");

    // Growth per request: max_requests holds a 128 MiB ceiling.
    let ceiling = 128 * MIB;
    let (code, text) = advise::report(&series[0], Target::PerWorker(ceiling), "requests");
    println!("{text}");
    assert_eq!(code, 0, "{text}");
    let a = advise::advise(&series[0], Target::PerWorker(ceiling)).unwrap();
    assert_eq!(a.findings.driver, Driver::Requests, "{text}");
    assert_eq!(a.findings.metric, "uss", "{text}");
    let start = median(&by_request.boot_uss);
    within(a.findings.start.median, start, "start size, bytes");
    within(
        a.findings.fitted_per_request,
        MIB as f64,
        "bytes per request",
    );
    let truth = (ceiling as f64 - start) / MIB as f64;
    within(a.max_requests.unwrap() as f64, truth, "max_requests");
    assert!(
        text.contains(&format!(
            "policy: max_uss=128MiB,max_requests={}",
            a.max_requests.unwrap()
        )),
        "{text}"
    );
    // Every worker was seen from its spawn to its first request.
    let (boot, seen) = a.findings.replacement.expect("a replacement time");
    assert_eq!(seen, 4, "{text}");
    // Never before the boot, to within a sample (load can only delay it:
    // no upper bound is held).
    println!(
        "seconds to first request: measured {boot:.2}, truth {:.2}",
        BOOT_TIME.as_secs_f64()
    );
    assert!(boot >= (BOOT_TIME - EVERY).as_secs_f64(), "{boot}: {text}");

    // Growth per second: max_lifetime holds a 64 MiB ceiling.
    let ceiling = 64 * MIB;
    let (code, text) = advise::report(&series[1], Target::PerWorker(ceiling), "time");
    println!("{text}");
    assert_eq!(code, 0, "{text}");
    let a = advise::advise(&series[1], Target::PerWorker(ceiling)).unwrap();
    assert_eq!(a.findings.driver, Driver::Time, "{text}");
    let start = median(&by_time.boot_uss);
    within(a.findings.fitted_per_second, MIB as f64, "bytes per second");
    let truth = (ceiling as f64 - start) / MIB as f64;
    within(
        a.max_lifetime_secs.unwrap() as f64,
        truth,
        "max_lifetime, seconds",
    );
    assert!(a.max_requests.is_none(), "{text}");
    for p in [&by_request.path, &by_time.path] {
        let _ = std::fs::remove_file(p);
    }
}
