//! The process toolkit against real processes: readings compared with
//! `/proc`, shared pages, gone processes, master-side sampling in a pool,
//! the orphan ledger and release waits.

mod support;

use std::time::{Duration, Instant};
use support::{fd_count, status_kib, temp_path, Holder};
use workerlife::process::{self, wait_released, Held, Ledger, ProcHandle, Reading, ReapOutcome};
use workerlife::{ActionKind, Error, EventKind, Policy, Pool, Reason};

const MIB: u64 = 1 << 20;

#[test]
fn readings_match_proc_and_follow_the_process() {
    let mut h = Holder::start(&["--mib", "64", "--fds", "40"]);
    let mut handle = ProcHandle::open(h.pid).unwrap();
    let s = handle.sample(false).unwrap();
    let rss = s.rss.value().unwrap();
    assert!(rss >= 64 * MIB, "rss {rss} holds the 64 MiB touched");
    let status_rss = status_kib(h.pid, "VmRSS:");
    assert!(
        rss.abs_diff(status_rss) <= MIB,
        "rss {rss} vs VmRSS {status_rss}"
    );
    assert_eq!(s.fds, Reading::Value(fd_count(h.pid)));
    assert!(s.fds.value().unwrap() >= 43, "stdio + 40 /dev/null");
    assert_eq!(s.uss, Reading::NotRequested);
    assert_eq!(s.pss, Reading::NotRequested);
    assert_eq!(s.start_time, Reading::Value(process::identity(h.pid)));

    // The same open files, read again, give the new values.
    h.command("grow 32");
    h.command("fds 10");
    let s2 = handle.sample(false).unwrap();
    let grown = s2.rss.value().unwrap() - rss;
    assert!(
        (31 * MIB..=34 * MIB).contains(&grown),
        "grew by {grown} bytes, not ~32 MiB"
    );
    assert_eq!(s2.fds.value().unwrap(), s.fds.value().unwrap() + 10);
    assert_eq!(s2.fds, Reading::Value(fd_count(h.pid)));

    // The one-shot function reads the same.
    let once = process::sample(h.pid, false).unwrap();
    assert_eq!(once.fds, s2.fds);
}

#[test]
fn uss_pss_rss_order_for_a_child_sharing_pages() {
    let h = Holder::start(&["--mib", "48", "--fork"]);
    assert!(h.forked > 0);
    let s = process::sample(h.forked, true).unwrap();
    let (uss, pss, rss) = (
        s.uss.value().unwrap(),
        s.pss.value().unwrap(),
        s.rss.value().unwrap(),
    );
    assert!(uss <= pss && pss <= rss, "uss {uss} pss {pss} rss {rss}");
    // The 48 MiB are shared with the parent until written: the child maps
    // them all (RSS) but owns none of them alone (USS) and half of each (PSS).
    assert!(rss >= 48 * MIB, "rss {rss}");
    assert!(
        rss - uss >= 40 * MIB,
        "uss {uss} should exclude shared pages"
    );
    assert!(
        pss <= rss - 20 * MIB,
        "pss {pss} counts shared pages by half"
    );
    // smaps_rollup agrees with what the kernel reports in status.
    let status_rss = status_kib(h.forked, "VmRSS:");
    assert!(rss.abs_diff(status_rss) <= MIB, "{rss} vs {status_rss}");
}

#[test]
fn self_sample_and_gone_processes() {
    let s = process::sample_self(true).unwrap();
    assert_eq!(s.pid, std::process::id());
    assert!(s.rss.value().unwrap() > 0 && s.fds.value().unwrap() >= 3);
    assert!(s.uss.value().unwrap() <= s.pss.value().unwrap());

    let h = Holder::start(&[]);
    let pid = h.pid;
    let mut handle = ProcHandle::open(pid).unwrap();
    handle.sample(false).unwrap();
    // SAFETY: pid is our child; the zombie stays until we wait.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while process::liveness(pid, 0) == process::Liveness::Alive && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    // A zombie is gone, through the kept-open files and by path.
    assert!(matches!(handle.sample(false), Err(Error::NoSuchProcess(p)) if p == pid));
    assert!(matches!(
        process::sample(pid, false),
        Err(Error::NoSuchProcess(_))
    ));
    drop(h); // reaped
    assert!(matches!(handle.sample(true), Err(Error::NoSuchProcess(_))));
    let e = process::sample(pid, false).unwrap_err();
    assert!(matches!(e, Error::NoSuchProcess(_)), "{e}");
    assert_eq!(e.to_string(), format!("no such process: pid {pid}"));
    assert!(matches!(
        process::sample(0, false),
        Err(Error::NoSuchProcess(0))
    ));
    assert!(matches!(
        process::sample(u32::MAX, false),
        Err(Error::NoSuchProcess(_))
    ));
}

#[test]
fn a_pool_samples_workers_that_report_nothing() {
    let policy =
        Policy::parse("max_rss=64MiB,max_fds=100,sample_interval=0,max_concurrent_recycles=0")
            .unwrap();
    let pool = Pool::new(&policy, 3).unwrap();
    let big = Holder::start(&["--mib", "96"]);
    let mut small = Holder::start(&["--mib", "8"]);
    let doomed = Holder::start(&[]);
    let doomed_pid = doomed.pid;
    pool.spawned(0, big.pid).unwrap();
    pool.spawned(1, small.pid).unwrap();
    pool.spawned(2, doomed.pid).unwrap();
    drop(doomed); // killed and reaped before the first sample

    let report = pool.sample();
    assert_eq!(report.sampled, 2, "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");
    // A child its host reaped is left a moment for the host's report (with
    // its wait status), then retired by sampling (polled with a deadline).
    assert!(report.gone.is_empty(), "{report:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut gone = Vec::new();
    while gone.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        gone = pool.sample().gone;
    }
    assert_eq!(gone, vec![2]);
    let stats = pool.stats();
    assert!(stats.per_slot[0].rss.unwrap() >= 96 * MIB);
    assert_eq!(stats.per_slot[1].fds, Some(fd_count(small.pid)));

    let actions = pool.tick();
    let recycle = actions
        .iter()
        .find(|a| a.kind == ActionKind::Recycle)
        .expect("the big worker is recycled");
    assert_eq!(
        (recycle.slot, recycle.pid, recycle.reason),
        (0, big.pid, Some(Reason::MemoryRss))
    );
    assert!(actions
        .iter()
        .any(|a| a.kind == ActionKind::Spawn && a.slot == 2));
    let d = pool.decision(0).unwrap();
    assert!(d.to_string().starts_with("memory_rss: "), "{d}");
    assert!(pool
        .events()
        .iter()
        .any(|e| e.kind == EventKind::Exited && e.slot == 2));
    // The host's own report of that exit, late, still finds the slot, once,
    // and records nothing more.
    assert_eq!(pool.exited(doomed_pid, 9).unwrap(), 2);
    assert!(pool.events().is_empty());
    assert!(matches!(
        pool.exited(doomed_pid, 9),
        Err(workerlife::Error::UnknownPid(p)) if p == doomed_pid
    ));

    // The small worker crosses max_fds later; the next sample sees it.
    small.command("fds 120");
    pool.sample();
    let d = pool.decision(1).unwrap();
    assert_eq!(d.reason, Some(Reason::OpenFds), "{d}");
}

#[test]
fn tick_samples_at_the_interval_and_uss_limits_read_smaps() {
    let policy = Policy::parse("max_uss=32MiB,sample_interval=50ms").unwrap();
    let pool = Pool::new(&policy, 1).unwrap();
    let h = Holder::start(&["--mib", "64"]);
    pool.spawned(0, h.pid).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut actions = Vec::new();
    while Instant::now() < deadline {
        actions = pool.tick();
        if actions.iter().any(|a| a.kind == ActionKind::Recycle) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let recycle = actions
        .iter()
        .find(|a| a.kind == ActionKind::Recycle)
        .expect("tick sampled USS on its own and recycled");
    assert_eq!(recycle.reason, Some(Reason::MemoryUss));
    let slot = &pool.stats().per_slot[0];
    assert!(slot.uss.unwrap() >= 64 * MIB && slot.pss.unwrap() >= slot.uss.unwrap());

    // A manual-clock pool never samples by itself.
    let manual = Pool::builder(&Policy::parse("max_rss=1MiB").unwrap())
        .manual_clock(true)
        .build()
        .unwrap();
    manual.spawned(0, h.pid).unwrap();
    manual.advance(Duration::from_secs(10)).unwrap();
    assert!(manual.tick().is_empty());
    assert_eq!(manual.stats().per_slot[0].rss, None);
}

#[test]
fn orphans_of_a_dead_master_are_reaped_by_the_next_run() {
    let path = temp_path("ledger-orphans");
    let _ = std::fs::remove_file(&path);
    // A "master" that starts a worker, records it and dies without
    // stopping it: the worker is re-parented and lives on.
    let polite = orphan(&path, &[]);
    let stubborn = orphan(&path, &["--ignore-term"]);
    assert_eq!(process::liveness(polite, 0), process::Liveness::Alive);

    // A record from a master that is still alive (this process): kept.
    let live = Ledger::open(&path).unwrap();
    let bystander = Holder::start(&[]);
    live.record(bystander.pid).unwrap();
    // A record whose pid now names another process: never signalled.
    let mut text = std::fs::read_to_string(&path).unwrap();
    let stranger = Holder::start(&[]);
    text.push_str(&format!(
        "00000000000000aa 1 1 {} {}\n",
        stranger.pid,
        process::identity(stranger.pid) + 1
    ));
    std::fs::write(&path, text).unwrap();

    let next = Ledger::open(&path).unwrap();
    let report = next.reap(Duration::from_millis(300)).unwrap();
    let outcome = |pid: u32| {
        report
            .iter()
            .find(|r| r.entry.pid == pid)
            .map(|r| r.outcome)
    };
    assert_eq!(outcome(polite), Some(ReapOutcome::Terminated), "{report:?}");
    assert_eq!(outcome(stubborn), Some(ReapOutcome::Killed), "{report:?}");
    assert!(
        matches!(outcome(stranger.pid), Some(ReapOutcome::PidReused { .. })),
        "{report:?}"
    );
    assert_eq!(outcome(bystander.pid), None, "a live master's worker");
    assert_eq!(report.len(), 3);
    for pid in [polite, stubborn] {
        assert_eq!(process::liveness(pid, 0), process::Liveness::Gone);
    }
    assert_eq!(
        process::liveness(stranger.pid, 0),
        process::Liveness::Alive,
        "the process behind a reused pid lives on"
    );
    // What is left: the live master's record only.
    let left = next.entries().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].pid, bystander.pid);
    // Reaping again finds nothing to do.
    assert!(next.reap(Duration::from_millis(10)).unwrap().is_empty());
    std::fs::remove_file(&path).unwrap();
}

/// Runs a short-lived master that leaves one recorded worker behind.
fn orphan(ledger: &std::path::Path, extra: &[&str]) -> u32 {
    let out = std::process::Command::new(support::example("hold_resources"))
        .arg("--orphan")
        .arg(ledger)
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim()
        .strip_prefix("orphan=")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{text:?}"))
}

#[test]
fn a_damaged_ledger_is_set_aside_with_a_clear_error() {
    let path = temp_path("ledger-damaged");
    let aside = std::path::PathBuf::from(format!("{}.corrupt", path.display()));
    for (name, bytes) in [
        ("garbage", &b"\x00\xff garbage"[..]),
        ("no header", b"0000000000000001 1 1 2 2\n"),
        (
            "cut short",
            b"# workerlife ledger 1: run master_pid master_start pid start\n0000000000000001 1 1 2",
        ),
        (
            "bad field",
            b"# workerlife ledger 1: run master_pid master_start pid start\n0000000000000001 1 x 2 2\n",
        ),
    ] {
        let _ = std::fs::remove_file(&aside);
        std::fs::write(&path, bytes).unwrap();
        let ledger = Ledger::open(&path).unwrap();
        let e = ledger.reap(Duration::ZERO).unwrap_err();
        let Error::BadLedger { moved_to, .. } = &e else {
            panic!("{name}: {e}")
        };
        assert_eq!(moved_to.as_deref(), Some(aside.as_path()), "{name}");
        let msg = e.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains(".corrupt"),
            "{name}: {msg}"
        );
        assert_eq!(std::fs::read(&aside).unwrap(), bytes, "{name}: kept as found");
        // The ledger starts afresh and works.
        ledger.record(std::process::id()).unwrap();
        assert_eq!(ledger.entries().unwrap().len(), 1, "{name}");
        std::fs::remove_file(&path).unwrap();
    }
    std::fs::remove_file(&aside).unwrap();

    // A symlink in the ledger's place is refused, not followed.
    let target = temp_path("ledger-target");
    std::fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let e = Ledger::open(&path).unwrap_err();
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&target).unwrap();
}

#[test]
fn concurrent_writers_lose_nothing() {
    let path = temp_path("ledger-concurrent");
    let _ = std::fs::remove_file(&path);
    let me = std::process::id();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let ledger = Ledger::open(&path).unwrap();
                for i in 0..100 {
                    // Records with made-up start times; forget rewrites the
                    // file (rename) under the other writers' feet.
                    ledger.record_with(me, 1 + 1_000 * t + i).unwrap();
                    if i % 10 == 0 {
                        ledger.forget(0).unwrap();
                        ledger.record_with(me, 7).unwrap();
                        ledger.forget(me).unwrap();
                    }
                }
                ledger.run_id()
            })
        })
        .collect();
    let runs: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let entries = Ledger::open(&path).unwrap().entries().unwrap();
    // Each thread forgot its own records at every tenth step (the last at
    // i = 90), keeping the nine recorded after it.
    for run in runs {
        let n = entries.iter().filter(|e| e.run_id == run).count();
        assert_eq!(n, 9, "run {run:x}");
    }
    assert_eq!(entries.len(), 36);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn release_waits_name_what_is_held() {
    let h = Holder::start(&["--port", "0"]);
    let port = h.port;
    assert!(port > 0);
    assert_eq!(
        wait_released(None, Some(port), Duration::from_millis(50)),
        Err(Held::Port(port))
    );
    assert_eq!(
        wait_released(Some(h.pid), None, Duration::from_millis(50)),
        Err(Held::Process(h.pid))
    );
    assert_eq!(
        Held::Port(port).to_string(),
        format!("TCP port {port} is still bound")
    );
    let pid = h.pid;
    // Closed from another thread while we wait: both come free.
    let closer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        h.finish();
    });
    let started = Instant::now();
    assert_eq!(
        wait_released(Some(pid), Some(port), Duration::from_secs(10)),
        Ok(())
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    closer.join().unwrap();
    // Nothing to wait for.
    assert_eq!(wait_released(None, None, Duration::ZERO), Ok(()));
    // A port of a listener in this process.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    assert_eq!(
        wait_released(None, Some(p), Duration::ZERO),
        Err(Held::Port(p))
    );
    drop(l);
    assert_eq!(wait_released(None, Some(p), Duration::from_secs(5)), Ok(()));
}

#[test]
fn a_worker_samples_itself_when_due() {
    let spec = "max_rss=1GiB,sample_interval=2s";
    let pool = Pool::builder(&Policy::parse(spec).unwrap())
        .manual_clock(true)
        .build()
        .unwrap();
    let w = pool.claim(std::process::id()).unwrap();
    assert!(w.sample_if_due().unwrap(), "never sampled: due");
    let rss = pool.stats().per_slot[0].rss.expect("a reading");
    assert!(rss > 0);
    assert!(!w.sample_if_due().unwrap());
    pool.advance(Duration::from_millis(1999)).unwrap();
    assert!(!w.sample_if_due().unwrap());
    pool.advance(Duration::from_millis(1)).unwrap();
    assert!(w.sample_if_due().unwrap());
    // Sampling off: due every second for the host's chores, no reading.
    let off = Pool::builder(&Policy::parse("max_rss=1GiB,sample_interval=0").unwrap())
        .manual_clock(true)
        .build()
        .unwrap();
    let w = off.claim(std::process::id()).unwrap();
    assert!(w.sample_if_due().unwrap());
    assert_eq!(off.stats().per_slot[0].rss, None);
    off.advance(Duration::from_millis(999)).unwrap();
    assert!(!w.sample_if_due().unwrap());
    off.advance(Duration::from_millis(1)).unwrap();
    assert!(w.sample_if_due().unwrap());
}
