//! The worker's own watchdog, with real processes and no master: a worker
//! stuck in C code is killed at `request_timeout`, a granted recycle sends
//! the server's graceful signal, dead workers' permits are freed; and the
//! shared pool file that masterless servers open.

mod support;

use std::io::Read;
use std::os::fd::FromRawFd;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
use support::{fork_child, temp_path, wait};
use workerlife::{Action, Error, Policy, Pool, Reason, WatchdogOptions};

/// Forks `body` with its stderr on a pipe; returns the pid, the wait status
/// and what it wrote to stderr.
fn run_child(body: impl FnOnce() -> i32) -> (i32, String, Duration) {
    let mut fds = [0; 2];
    // SAFETY: a valid array for pipe().
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let started = Instant::now();
    let pid = fork_child(|| {
        // SAFETY: plain syscalls in the child.
        unsafe {
            libc::dup2(fds[1], 2);
            libc::close(fds[0]);
        }
        body()
    });
    // SAFETY: closing our copy of the write end; the read end is ours.
    unsafe { libc::close(fds[1]) };
    let status = wait(pid);
    let took = started.elapsed();
    let mut err = String::new();
    // SAFETY: fds[0] is an open descriptor we own from here.
    let _ = unsafe { std::fs::File::from_raw_fd(fds[0]) }.read_to_string(&mut err);
    (status, err, took)
}

fn signalled(status: i32) -> Option<i32> {
    libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status))
}

#[test]
fn a_worker_stuck_in_c_code_is_killed_at_request_timeout_with_no_master() {
    let pool = Pool::shared(&Policy::parse("request_timeout=300ms").unwrap(), 2).unwrap();
    let (status, err, took) = run_child(|| {
        let w = pool.claim(std::process::id()).unwrap();
        // Detached: no handle left, the thread runs on.
        w.watchdog(WatchdogOptions::default()).unwrap().detach();
        w.begin();
        // SAFETY: a C-level sleep: nothing of ours runs on this thread.
        unsafe { libc::sleep(30) };
        0
    });
    assert_eq!(
        signalled(status),
        Some(libc::SIGKILL),
        "status {status:#x}, stderr {err:?}"
    );
    assert!(took >= Duration::from_millis(300), "killed after {took:?}");
    assert!(took < Duration::from_secs(20), "killed after {took:?}");
    assert!(
        err.contains("workerlife: killed slot=0 ")
            && err.contains(" reason=request_timeout (")
            && err.contains(">= 0.3s) "),
        "stderr: {err:?}"
    );
}

#[test]
fn an_idle_worker_is_not_killed_and_a_busy_one_that_ends_in_time_is_not_either() {
    let pool = Pool::shared(&Policy::parse("request_timeout=300ms").unwrap(), 2).unwrap();
    let (status, err, _) = run_child(|| {
        let w = pool.claim(std::process::id()).unwrap();
        let _dog = w.watchdog(WatchdogOptions::default()).unwrap();
        std::thread::sleep(Duration::from_millis(600)); // idle
        for _ in 0..5 {
            w.begin();
            std::thread::sleep(Duration::from_millis(100));
            w.end();
        }
        7
    });
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7,
        "status {status:#x}, {err:?}"
    );
    assert!(err.is_empty(), "stderr: {err:?}");
}

#[test]
fn a_rehearsed_kill_leaves_the_worker_alive_and_is_said_once_per_reason() {
    let policy = Policy::parse("request_timeout=200ms,max_requests=1,enforce=off").unwrap();
    let pool = Pool::shared(&policy, 2).unwrap();
    let (status, err, _) = run_child(|| {
        let w = pool.claim(std::process::id()).unwrap();
        let _dog = w
            .watchdog(WatchdogOptions {
                // A graceful signal would end the child: none is sent.
                recycle_signal: Some(libc::SIGTERM),
                interval: Some(Duration::from_millis(20)),
            })
            .unwrap();
        w.begin();
        assert!(!w.end(), "a rehearsed max_requests says serve on");
        w.begin();
        // Held well past request_timeout, in C code: the watchdog looks
        // about 40 times meanwhile.
        // SAFETY: a C-level sleep.
        unsafe { libc::usleep(800_000) };
        w.end();
        7
    });
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7,
        "status {status:#x}, {err:?}"
    );
    let lines: Vec<&str> = err.lines().collect();
    let kills: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("workerlife: would_kill slot="))
        .collect();
    let recycles: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("workerlife: would_recycle slot="))
        .collect();
    assert_eq!(kills.len(), 1, "{err:?}");
    assert!(kills[0].contains(" reason=request_timeout"), "{err:?}");
    assert_eq!(recycles.len(), 1, "{err:?}");
    assert!(recycles[0].contains(" reason=max_requests"), "{err:?}");
    assert_eq!(lines.len(), 2, "nothing else is said: {err:?}");
}

#[test]
fn with_a_master_running_the_watchdog_leaves_would_lines_to_it() {
    let pool = Pool::shared(&Policy::parse("max_requests=1,enforce=off").unwrap(), 2).unwrap();
    // This process runs the master's rounds.
    pool.tick();
    let (status, err, _) = run_child(|| {
        let w = pool.claim(std::process::id()).unwrap();
        let _dog = w
            .watchdog(WatchdogOptions {
                recycle_signal: None,
                interval: Some(Duration::from_millis(20)),
            })
            .unwrap();
        w.begin();
        w.end();
        // About 15 looks of the watchdog.
        std::thread::sleep(Duration::from_millis(300));
        7
    });
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7,
        "status {status:#x}, {err:?}"
    );
    assert!(
        err.is_empty(),
        "the master files it, the watchdog says nothing: {err:?}"
    );
    pool.tick();
    assert!(
        pool.events()
            .iter()
            .any(|e| e.kind == workerlife::EventKind::WouldRecycle),
        "the master files the would_recycle"
    );
}

#[test]
fn a_master_that_ran_no_round_lately_leaves_would_lines_to_the_watchdog() {
    // Unicorn's master runs a round only when a worker starts or exits.
    let pool = Pool::builder(&Policy::parse("max_requests=1,enforce=off").unwrap())
        .slots(2)
        .shared()
        .manual_clock(true)
        .build()
        .unwrap();
    pool.tick();
    pool.advance(Duration::from_secs(3)).unwrap();
    let (status, err, _) = run_child(|| {
        let w = pool.claim(std::process::id()).unwrap();
        let _dog = w
            .watchdog(WatchdogOptions {
                recycle_signal: None,
                interval: Some(Duration::from_millis(20)),
            })
            .unwrap();
        w.begin();
        w.end();
        std::thread::sleep(Duration::from_millis(300));
        7
    });
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7,
        "status {status:#x}, {err:?}"
    );
    assert!(
        err.starts_with("workerlife: would_recycle slot=")
            && err.contains("reason=max_requests (1 >= 1)"),
        "{err:?}"
    );
}

#[test]
fn a_granted_recycle_sends_the_graceful_signal_once() {
    let pool = Pool::shared(&Policy::parse("max_requests=1").unwrap(), 2).unwrap();
    let (status, err, _) = run_child(|| {
        let w = pool.claim(std::process::id()).unwrap();
        let options = WatchdogOptions {
            recycle_signal: Some(libc::SIGTERM),
            ..Default::default()
        };
        let dog = w.watchdog(options).unwrap();
        w.begin();
        if w.end() {
            dog.wake();
        }
        std::thread::sleep(Duration::from_secs(30));
        0
    });
    assert_eq!(
        signalled(status),
        Some(libc::SIGTERM),
        "status {status:#x}, {err:?}"
    );
    assert_eq!(
        err.matches("workerlife: recycle_requested slot=0 ")
            .filter(|_| err.contains(" reason=max_requests (1 >= 1) "))
            .count(),
        1,
        "{err:?}"
    );
}

#[test]
fn the_watchdog_frees_the_permit_of_a_worker_that_died_without_saying_so() {
    let path = temp_path("dead-permit.pool");
    let _ = std::fs::remove_file(&path);
    // Nobody replaces the dead worker here: its permit comes back
    // `ready_timeout` after its slot is retired.
    let policy =
        Policy::parse("max_requests=1,max_concurrent_recycles=1,ready_timeout=2s").unwrap();
    let pool = Pool::open(&path, &policy, 4).unwrap();
    let me = pool.claim(std::process::id()).unwrap();
    // A worker of another process takes the only permit and dies holding
    // it, as a worker ended by its server with no master to report it.
    let dead = fork_child(|| {
        let pool = Pool::open(&path, &policy, 4).unwrap();
        let w = pool.claim(std::process::id()).unwrap();
        w.begin();
        i32::from(!w.end())
    });
    assert_eq!(wait(dead), 0, "the first worker was granted its recycle");
    me.begin();
    assert!(!me.end(), "the permit is still held by the dead worker");
    let dog = me.watchdog(WatchdogOptions::default()).unwrap();
    // Both, each in its own time: the watchdog's second look retires the
    // slot, and the permit comes back ready_timeout after its grant.
    let retired = || pool.stats().per_slot.iter().all(|s| s.pid != dead);
    let deadline = Instant::now() + Duration::from_secs(10);
    while (me.decision().action != Action::Recycle || !retired()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(dog);
    assert_eq!(me.decision().reason, Some(Reason::MaxRequests));
    assert!(
        pool.stats().per_slot.iter().all(|s| s.pid != dead),
        "dead worker's slot retired"
    );
    assert!(pool.remove_if_last().unwrap());
    assert!(!path.exists());
}

#[test]
fn a_watchdog_checks_its_options_and_stops() {
    let pool = Pool::new(&Policy::default(), 1).unwrap();
    let w = pool.claim(std::process::id()).unwrap();
    for bad in [0, -1, libc::SIGKILL, libc::SIGSTOP, 65] {
        let options = WatchdogOptions {
            recycle_signal: Some(bad),
            ..Default::default()
        };
        let e = w.watchdog(options).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{bad}: {e}");
        assert!(
            e.to_string().contains(&format!("recycle_signal {bad}")),
            "{e}"
        );
    }
    for bad in [Duration::ZERO, Duration::from_secs(61)] {
        let options = WatchdogOptions {
            interval: Some(bad),
            ..Default::default()
        };
        assert!(matches!(
            w.watchdog(options),
            Err(Error::InvalidArgument(_))
        ));
    }
    let mut dog = w.watchdog(WatchdogOptions::default()).unwrap();
    assert!(dog.running());
    dog.stop();
    assert!(!dog.running());
    dog.stop();
}

#[test]
fn processes_that_open_one_path_share_one_pool_and_the_last_removes_it() {
    let path = temp_path("open.pool");
    let _ = std::fs::remove_file(&path);
    let policy = Policy::parse("max_requests=100").unwrap();
    let pool = Pool::open(&path, &policy, 4).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // One pipe each way, so that no one reads back their own byte.
    let (mut up, mut down) = ([0; 2], [0; 2]);
    // SAFETY: valid arrays for pipe().
    assert_eq!(
        unsafe { libc::pipe(up.as_mut_ptr()) + libc::pipe(down.as_mut_ptr()) },
        0
    );
    // A second process opens the same path, serves 3 requests and waits.
    let child = fork_child(|| {
        let pool = Pool::open(&path, &policy, 4).unwrap();
        let w = pool.claim(std::process::id()).unwrap();
        for _ in 0..3 {
            w.begin();
            w.end();
        }
        // SAFETY: telling the parent, then waiting for its word.
        unsafe {
            libc::write(up[1], b"x".as_ptr().cast(), 1);
            let mut b = 0u8;
            libc::read(down[0], (&mut b as *mut u8).cast(), 1);
        }
        i32::from(pool.remove_if_last().unwrap())
    });
    let mut b = 0u8;
    // SAFETY: reading one byte from our pipe.
    unsafe { libc::read(up[0], (&mut b as *mut u8).cast(), 1) };
    let theirs = pool
        .stats()
        .per_slot
        .iter()
        .find(|s| s.pid == child)
        .map(|s| s.requests);
    assert_eq!(theirs, Some(3), "the child's slot is in our pool");
    // Held by another process: another policy is refused, the file stays.
    let e = Pool::open(&path, &Policy::parse("max_requests=5").unwrap(), 4).unwrap_err();
    assert!(e.to_string().contains("in use with another policy"), "{e}");
    // We are done first: we give up our hold, and the child still has it.
    assert!(!pool.remove_if_last().unwrap(), "the child still holds it");
    assert!(path.exists());
    assert!(
        !pool.remove_if_last().unwrap(),
        "a second call does nothing"
    );
    // SAFETY: releasing the child.
    unsafe { libc::write(down[1], b"x".as_ptr().cast(), 1) };
    let status = wait(child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 1,
        "the child was last"
    );
    assert!(!path.exists());
    // SAFETY: our pipe ends.
    unsafe {
        for fd in up.into_iter().chain(down) {
            libc::close(fd);
        }
    }
    drop(pool);
    // A worker that dies without removing it leaves the file: stale, so
    // the next open makes it anew, with its own policy.
    let left = fork_child(|| {
        let pool = Pool::open(&path, &policy, 4).unwrap();
        pool.claim(std::process::id()).unwrap().begin();
        0
    });
    assert_eq!(wait(left), 0);
    assert!(path.exists());
    let again = Pool::open(&path, &Policy::parse("max_requests=5").unwrap(), 2).unwrap();
    assert_eq!(again.slot_count(), 2);
    assert!(again.stats().per_slot.iter().all(|s| s.pid == 0));
    assert!(again.remove_if_last().unwrap());
    assert!(!path.exists());
}

#[test]
fn open_leaves_files_that_are_not_ours_to_make() {
    let policy = Policy::parse("max_requests=100").unwrap();
    let foreign = temp_path("foreign.pool");
    std::fs::write(&foreign, b"precious data, not a pool").unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = Pool::open(&foreign, &policy, 2).unwrap_err();
    assert!(e.to_string().contains("not a workerlife pool"), "{e}");
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        b"precious data, not a pool"
    );
    std::fs::remove_file(&foreign).unwrap();

    let open_to_all = temp_path("writable.pool");
    let _ = std::fs::remove_file(&open_to_all);
    drop(Pool::open(&open_to_all, &policy, 2).unwrap());
    std::fs::set_permissions(&open_to_all, std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = Pool::open(&open_to_all, &policy, 2).unwrap_err();
    assert!(matches!(e, Error::UnsafeFile { .. }), "{e}");
    std::fs::remove_file(&open_to_all).unwrap();

    let link = temp_path("link.pool");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    assert!(Pool::open(&link, &policy, 2).is_err());
    std::fs::remove_file(&link).unwrap();

    let e = Pool::open(temp_path("zero.pool"), &policy, 0).unwrap_err();
    assert!(matches!(e, Error::InvalidSlotCount(0)), "{e}");
}
