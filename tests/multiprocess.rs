//! Real processes sharing a pool: children made by fork() and by exec +
//! attach, a child SIGKILLed in mid-request, and the rolling budget held
//! across processes with no master code running.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use support::{example, fork_child, temp_path, wait};
use workerlife::{EventKind, Policy, Pool};

#[test]
fn forked_children_record_requests_the_parent_sees() {
    let pool = Pool::shared(&Policy::parse("max_requests=100000").unwrap(), 3).unwrap();
    let mut pids = Vec::new();
    for i in 0..3u64 {
        let pool = &pool;
        pids.push((
            fork_child(move || {
                let w = pool.claim(std::process::id()).unwrap();
                for _ in 0..(500 + i) {
                    w.begin();
                    w.end();
                }
                0
            }),
            500 + i,
        ));
    }
    for &(pid, _) in &pids {
        assert_eq!(wait(pid), 0);
    }
    let st = pool.stats();
    for &(pid, n) in &pids {
        let slot = st
            .per_slot
            .iter()
            .find(|s| s.pid == pid)
            .expect("child claimed a slot");
        assert_eq!(slot.requests, n, "pid {pid}");
        assert_eq!(slot.in_flight, 0);
    }
    for &(pid, _) in &pids {
        pool.exited(pid, 0).unwrap();
    }
    assert_eq!(pool.stats().vacant, 3);
    assert_eq!(pool.stats().requests_total, 500 + 501 + 502);
}

#[test]
fn exec_children_attach_by_path() {
    let path = temp_path("attach");
    let pool = Pool::create(&path, &Policy::parse("max_requests=300").unwrap(), 2).unwrap();
    let mut children = Vec::new();
    for n in [250, 400] {
        children.push(
            Command::new(example("attach_worker"))
                .arg(&path)
                .arg(n.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    let mut outputs = Vec::new();
    for c in children {
        let pid = c.id();
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push((pid, String::from_utf8(out.stdout).unwrap()));
    }
    let st = pool.stats();
    for (pid, out) in &outputs {
        let slot = st.per_slot.iter().find(|s| s.pid == *pid).unwrap();
        assert!(
            out.contains(&format!("requests={}", slot.requests)),
            "{out}"
        );
    }
    let mut served: Vec<u64> = st.per_slot.iter().map(|s| s.requests).collect();
    served.sort();
    assert_eq!(served, vec![250, 400]);
    // The one past max_requests=300 was told to exit; the other was not.
    assert!(outputs
        .iter()
        .any(|(_, o)| o.contains("requests=400 exit=true")));
    assert!(outputs
        .iter()
        .any(|(_, o)| o.contains("requests=250 exit=false")));
    assert_eq!(st.draining, 1);
    let file_mode = std::fs::metadata(&path).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o777
    });
    assert_eq!(file_mode.unwrap(), 0o600);
    assert!(
        Pool::create(&path, &Policy::new(), 1).is_err(),
        "an existing file is never replaced"
    );
    drop(pool);
    assert!(!path.exists(), "the creator removes the file");
}

#[test]
fn a_child_killed_mid_request_leaves_a_whole_slot_that_is_reclaimed() {
    let path = temp_path("sigkill");
    let pool = Pool::create(&path, &Policy::new(), 1).unwrap();
    let mut child = Command::new(example("attach_worker"))
        .arg(&path)
        .arg("77")
        .arg("hang")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let pid = child.id();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let st = pool.stats();
    let slot = &st.per_slot[0];
    assert_eq!(
        (slot.pid, slot.requests, slot.in_flight),
        (pid, 77, 1),
        "nothing torn or lost"
    );
    // Every slot is taken by a dead process: claiming reclaims it.
    let w = pool.claim(std::process::id()).unwrap();
    assert_eq!(w.index(), 0);
    assert_eq!(w.requests(), 0);
    let st = pool.stats();
    assert_eq!(st.per_slot[0].pid, std::process::id());
    assert_eq!(st.per_slot[0].in_flight, 0);
    assert_eq!(st.requests_total, 77);
}

#[test]
fn the_master_notices_a_killed_child_and_respawns() {
    let pool = Pool::shared(&Policy::new(), 1).unwrap();
    let spawn = pool.tick();
    assert_eq!(spawn.len(), 1);
    let (rfd, wfd) = {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        (fds[0], fds[1])
    };
    let pref = &pool;
    let pid = fork_child(move || {
        let w = pref.worker(0).unwrap();
        for _ in 0..10 {
            w.begin();
            w.end();
        }
        w.begin();
        // SAFETY: writing one byte to our pipe.
        unsafe { libc::write(wfd, b"x".as_ptr().cast(), 1) };
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    });
    pool.spawned(0, pid).unwrap();
    let mut b = [0u8; 1];
    // SAFETY: reading one byte from our pipe.
    assert_eq!(unsafe { libc::read(rfd, b.as_mut_ptr().cast(), 1) }, 1);
    // SAFETY: pid is our child.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait(pid);
    assert_eq!(pool.reap_dead(), vec![0], "the dead pid is found");
    let events = pool.events();
    let exit = events.iter().find(|e| e.kind == EventKind::Exited).unwrap();
    assert_eq!((exit.pid, exit.requests, exit.crash), (pid, 10, true));
    let actions = pool.tick();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].kind, workerlife::ActionKind::Spawn);
    assert_eq!(pool.stats().crashes, 1);
}

#[test]
fn the_rolling_budget_holds_across_processes_without_a_master() {
    // Shared scratch counters for the children, outside the pool.
    // SAFETY: a fresh shared anonymous mapping of two u64s.
    let scratch = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            16,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(scratch, libc::MAP_FAILED);
    // SAFETY: the mapping holds two aligned u64s, used only atomically.
    let (holding, worst) = unsafe {
        let p = scratch.cast::<AtomicU64>();
        (&*p, &*p.add(1))
    };
    // Nobody replaces these workers: with `ready_timeout=0` each permit goes
    // back as its worker leaves instead of waiting for a replacement.
    let policy = Policy::parse(
        "max_requests=200,max_requests_jitter=0,max_concurrent_recycles=1,ready_timeout=0",
    )
    .unwrap();
    let pool = Pool::shared(&policy, 4).unwrap();
    let pref = &pool;
    let pids: Vec<u32> = (0..4)
        .map(|_| {
            fork_child(move || {
                let w = pref.claim(std::process::id()).unwrap();
                loop {
                    w.begin();
                    if w.end() {
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        worst.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        holding.fetch_sub(1, Ordering::SeqCst);
                        w.exiting();
                        return 0;
                    }
                }
            })
        })
        .collect();
    for pid in &pids {
        assert_eq!(wait(*pid), 0);
    }
    assert_eq!(
        worst.load(Ordering::SeqCst),
        1,
        "never more than one drained at once"
    );
    let st = pool.stats();
    assert_eq!(st.exiting, 4);
    assert_eq!(st.permits_held, 0);
    assert!(st.per_slot.iter().all(|s| s.requests >= 200));
}

#[test]
fn damaged_pool_files_are_errors_not_crashes() {
    let path = temp_path("damaged");
    let pool = Pool::create(&path, &Policy::parse("max_rss=1GiB").unwrap(), 4).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let bad = temp_path("damaged-copy");
    let check = |content: &[u8], want: &str| {
        let _ = std::fs::remove_file(&bad);
        std::fs::write(&bad, content).unwrap();
        let err = Pool::attach(&bad)
            .err()
            .unwrap_or_else(|| panic!("attached {want}"))
            .to_string();
        assert!(err.contains(want), "{err}");
    };
    check(&bytes[..100], "truncated");
    check(&bytes[..bytes.len() - 128], "size");
    check(b"hello, this is not a pool at all", "truncated");
    let mut other = bytes.clone();
    other[0] = b'X';
    check(&other, "magic");
    let mut flipped = bytes.clone();
    flipped[100] ^= 0xFF; // inside the policy
    check(&flipped, "checksum");
    let mut version = bytes.clone();
    version[8] = 99;
    // The refusal names both builds: the writer's version sits at bytes
    // 12..28 in every layout since 9.
    let this = env!("CARGO_PKG_VERSION");
    check(
        &version,
        &format!(
            "layout version 99 (made by workerlife {this}; this library, workerlife {this}, reads {})",
            workerlife::LAYOUT_VERSION
        ),
    );
    version[12..28].copy_from_slice(b"9.10.11-rc.1\0\0\0\0");
    check(&version, "made by workerlife 9.10.11-rc.1;");
    // A file of layout 8 or older held other fields there.
    version[12..28].copy_from_slice(&[0x80, 1, 0, 0, 0x40, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    check(&version, "made by an older workerlife;");
    check(&vec![0u8; bytes.len()], "magic");
    let _ = std::fs::remove_file(&bad);
    assert!(Pool::attach(temp_path("missing")).is_err());
    // A symlink is refused (O_NOFOLLOW).
    let link = temp_path("link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(Pool::attach(&link).is_err());
    assert!(Pool::create(&link, &Policy::new(), 1).is_err());
    let _ = std::fs::remove_file(&link);
    // The good file still attaches and sees the same policy.
    assert_eq!(Pool::attach(&path).unwrap().policy(), pool.policy());
}

#[test]
fn a_child_taking_its_slot_by_number_races_its_masters_report_and_both_win() {
    // The child's worker(slot) starts the generation while the master's
    // spawned(slot, pid) runs: whichever comes first, the master takes the
    // child on (no "slot busy"), with the child's requests counted.
    let pool = Pool::shared(&Policy::parse("max_requests=1000").unwrap(), 1).unwrap();
    for round in 0..200 {
        let pool_ref = &pool;
        let pid = fork_child(move || {
            let w = pool_ref.worker(0).unwrap();
            w.begin();
            w.end();
            0
        });
        let reported = pool.spawned(0, pid);
        let status = wait(pid);
        assert_eq!(status, 0, "round {round}");
        assert!(reported.is_ok(), "round {round}: {reported:?}");
        assert_eq!(pool.stats().per_slot[0].pid, pid, "round {round}");
        pool.exited(pid, status).unwrap();
    }
}

/// A pool file left by a maker killed outright is made anew by the next
/// `create`; one a live process holds (its maker, or a worker attached to
/// it) is refused and left as it is; so is a file that is not a pool.
#[test]
fn create_makes_a_stale_pool_file_anew_and_refuses_a_held_one() {
    let path = temp_path("stale.pool");
    let _ = std::fs::remove_file(&path);
    let old = Policy::parse("max_requests=7").unwrap();
    let new = Policy::parse("max_requests=9").unwrap();

    // The maker is SIGKILLed while holding its pool: the file stays.
    let (ready_r, ready_w) = pipe();
    let p = path.clone();
    let maker = fork_child(move || {
        let _pool = Pool::create(&p, &old, 2).unwrap();
        signal_ready(ready_w);
        std::thread::sleep(std::time::Duration::from_secs(60));
        0
    });
    wait_ready(ready_r, ready_w);
    // While it lives, its file is refused, and left whole.
    let Err(e) = Pool::create(&path, &new, 2) else {
        panic!("a held file is refused")
    };
    assert!(e.to_string().contains("a live process holds"), "{e}");
    assert_eq!(
        Pool::attach(&path).unwrap().policy().to_string(),
        "max_requests=7"
    );
    // SAFETY: our own child.
    unsafe { libc::kill(maker as i32, libc::SIGKILL) };
    wait(maker);
    assert!(path.exists(), "a killed maker cannot remove its file");

    // A worker attached to it holds it too, its maker gone.
    let (ready_r, ready_w) = pipe();
    let p = path.clone();
    let worker = fork_child(move || {
        let _pool = Pool::attach(&p).unwrap();
        signal_ready(ready_w);
        std::thread::sleep(std::time::Duration::from_secs(60));
        0
    });
    wait_ready(ready_r, ready_w);
    assert!(Pool::create(&path, &new, 2).is_err(), "held by a worker");
    // SAFETY: our own child.
    unsafe { libc::kill(worker as i32, libc::SIGKILL) };
    wait(worker);

    // Nobody holds it now: made anew, with the new policy.
    let pool = Pool::create(&path, &new, 3).unwrap();
    let attached = Pool::attach(&path).unwrap();
    assert_eq!(attached.policy().to_string(), "max_requests=9");
    assert_eq!(attached.slot_count(), 3);
    drop(attached);
    drop(pool);
    assert!(!path.exists(), "its maker's handle removes it");

    // Not a pool: refused, and left as it is.
    std::fs::write(&path, b"somebody's data").unwrap();
    let Err(e) = Pool::create(&path, &new, 1) else {
        panic!("not a pool")
    };
    assert!(e.to_string().contains("not a workerlife pool"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"somebody's data");
    std::fs::remove_file(&path).unwrap();
    // A symlink: refused, its target untouched.
    let target = temp_path("stale.target");
    std::fs::write(&target, b"target").unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    assert!(Pool::create(&path, &new, 1).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"target");
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&target).unwrap();
}

/// A maker that exits with a worker's watchdog still running (the thread
/// holds the pool's memory) removes its file: when it frees its pool
/// handle, and, if it never does, at exit.
#[test]
fn a_maker_exiting_with_a_watchdog_running_removes_its_file() {
    for free_first in [true, false] {
        let path = temp_path(&format!("watchdog-exit-{free_first}.pool"));
        let _ = std::fs::remove_file(&path);
        let p = path.clone();
        let child = fork_child(move || {
            let pool = Pool::create(&p, &Policy::parse("max_requests=5").unwrap(), 1).unwrap();
            let worker = pool.claim(std::process::id()).unwrap();
            let dog = worker.watchdog(Default::default()).unwrap();
            std::mem::forget(dog); // runs for the life of the process
            if free_first {
                drop(pool);
                if p.exists() {
                    return 3;
                }
            } else {
                std::mem::forget(pool);
            }
            // A normal exit: atexit handlers run, as when a host returns from
            // main or calls exit().
            // SAFETY: ends this forked child.
            unsafe { libc::exit(0) }
        });
        let status = wait(child);
        assert!(libc::WIFEXITED(status), "status {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "free_first={free_first}");
        assert!(
            !path.exists(),
            "free_first={free_first}: {} left behind",
            path.display()
        );
    }
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

fn signal_ready(w: i32) {
    // SAFETY: writes one byte from a valid buffer to our pipe.
    unsafe { libc::write(w, b"r".as_ptr().cast(), 1) };
}

/// Waits for the child's byte; a child that died first gives EOF, and the
/// test fails here rather than hanging.
fn wait_ready(r: i32, w: i32) {
    // SAFETY: the parent's copy of the write end, closed once, so that a
    // child that dies gives EOF.
    unsafe { libc::close(w) };
    let mut b = [0u8; 1];
    // SAFETY: reads one byte into a valid buffer from our pipe.
    let n = unsafe { libc::read(r, b.as_mut_ptr().cast(), 1) };
    assert_eq!(n, 1, "the child died before it was ready");
    // SAFETY: our descriptor, closed once.
    unsafe { libc::close(r) };
}
