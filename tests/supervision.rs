//! Events, stats JSON and Prometheus text, as a host would read them.

use std::time::Duration;
use workerlife::{process, ActionKind, EventKind, Policy, Pool, Reason};

fn pool(spec: &str, slots: u32) -> Pool {
    Pool::builder(&Policy::parse(spec).unwrap())
        .slots(slots)
        .seed(1)
        .manual_clock(true)
        .build()
        .unwrap()
}

#[test]
fn events_record_each_step_of_a_workers_life() {
    let pool = pool("max_requests=2,max_health_failures=5,request_timeout=10s,max_restarts=1,backoff_initial=2s", 2);
    pool.spawned(0, 1_111_111).unwrap();
    pool.spawned(1, 1_111_112).unwrap();
    let w0 = pool.worker(0).unwrap();
    w0.report_health(workerlife::Health {
        rss: Some(4096),
        ..Default::default()
    });
    w0.begin();
    w0.end();
    pool.advance(Duration::from_secs(3)).unwrap();
    assert!({
        w0.begin();
        w0.end()
    });
    let w1 = pool.worker(1).unwrap();
    w1.check(false);
    w1.begin();
    pool.advance(Duration::from_secs(10)).unwrap();
    let actions = pool.tick();
    let kinds: Vec<_> = actions.iter().map(|a| (a.kind, a.slot, a.reason)).collect();
    assert_eq!(
        kinds,
        vec![
            (ActionKind::Recycle, 0, Some(Reason::MaxRequests)),
            (ActionKind::Kill, 1, Some(Reason::RequestTimeout))
        ]
    );
    assert_eq!(actions[1].pid, 1_111_112);
    pool.exited(1_111_111, 0).unwrap();
    pool.exited(1_111_112, 9).unwrap();
    // Two crashes of slot 1 in a row: the second starts backoff.
    pool.tick();
    pool.spawned(1, 1_111_113).unwrap();
    pool.exited(1_111_113, 1).unwrap();
    pool.spawned(1, 1_111_114).unwrap();
    pool.exited(1_111_114, 1).unwrap();
    // Slot 0's respawn was returned by the tick above; slot 1's waits 2 s.
    assert_eq!(pool.next_spawn_in(), Some(Duration::from_secs(2)));

    let events = pool.events();
    let seq: Vec<_> = events.iter().map(|e| (e.kind, e.slot)).collect();
    assert_eq!(
        seq,
        vec![
            (EventKind::Spawned, 0),
            (EventKind::Spawned, 1),
            (EventKind::RecycleRequested, 0),
            (EventKind::HealthCheckFailed, 1),
            (EventKind::Killed, 1),
            (EventKind::Exited, 0),
            (EventKind::Exited, 1),
            (EventKind::Spawned, 1),
            (EventKind::Exited, 1),
            (EventKind::Spawned, 1),
            (EventKind::Exited, 1),
            (EventKind::CrashLoop, 1),
        ]
    );
    let recycle = &events[2];
    assert_eq!(
        (recycle.pid, recycle.requests, recycle.rss),
        (1_111_111, 2, Some(4096))
    );
    assert_eq!(recycle.uptime, Duration::from_secs(3));
    let exit0 = &events[5];
    assert_eq!(
        (exit0.reason, exit0.status, exit0.crash),
        (Some(Reason::MaxRequests), Some(0), false)
    );
    let exit1 = &events[6];
    assert_eq!(
        (exit1.reason, exit1.status, exit1.crash),
        (Some(Reason::RequestTimeout), Some(9), false)
    );
    assert!(events[8].crash && events[10].crash);
    assert_eq!(events[11].delay, Some(Duration::from_secs(2)));
    assert!(pool.events().is_empty(), "events are taken once");
    assert!(events[2].to_string().contains("reason=max_requests"));
}

#[test]
fn stats_json_and_prometheus_agree() {
    let pool = pool("max_requests=3", 3);
    pool.spawned(0, 1_222_221).unwrap();
    pool.spawned(1, 1_222_222).unwrap();
    let w = pool.worker(0).unwrap();
    for _ in 0..3 {
        w.begin();
        w.end();
    }
    pool.worker(1).unwrap().report_health(workerlife::Health {
        rss: Some(1 << 20),
        fds: Some(12),
        ..Default::default()
    });
    let st = pool.stats();
    assert_eq!((st.vacant, st.running, st.draining), (1, 1, 1));
    assert_eq!(st.requests_total, 3);
    assert_eq!(
        st.recycles
            .iter()
            .find(|(r, _)| *r == Reason::MaxRequests)
            .unwrap()
            .1,
        1
    );
    assert_eq!(st.requests_at_recycle.count(), 1);

    let json: serde_json::Value = serde_json::from_str(&pool.stats_json()).unwrap();
    assert_eq!(json["workers"]["draining"], 1);
    assert_eq!(json["recycles"]["max_requests"], 1);
    assert_eq!(json["per_slot"][1]["rss"], 1 << 20);
    assert_eq!(json["per_slot"][2]["rss"], serde_json::Value::Null);
    assert_eq!(json["requests_at_recycle"]["sum"], 3.0);

    let text = pool.prometheus();
    for line in [
        "workerlife_recycles_total{reason=\"max_requests\"} 1",
        "workerlife_workers{state=\"draining\"} 1",
        "workerlife_requests_total 3",
        "workerlife_requests_at_recycle_bucket{le=\"1\"} 0",
        "workerlife_requests_at_recycle_bucket{le=\"10\"} 1",
        "workerlife_requests_at_recycle_bucket{le=\"+Inf\"} 1",
        "workerlife_requests_at_recycle_count 1",
        "workerlife_slot_rss_bytes{slot=\"1\"} 1048576",
        "workerlife_slot_open_fds{slot=\"1\"} 12",
        "# TYPE workerlife_recycles_total counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    // Every sample line belongs to a declared family.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let name = l.split(['{', ' ']).next().unwrap();
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{name} undeclared"
        );
    }
}

#[test]
fn bad_calls_are_errors() {
    let pool = pool("", 2);
    assert!(pool
        .worker(2)
        .unwrap_err()
        .to_string()
        .contains("slot 2 is out of range"));
    assert!(pool.spawned(5, 1).is_err());
    assert!(pool
        .exited(424_242, 0)
        .unwrap_err()
        .to_string()
        .contains("424242"));
    assert!(pool.recycle(9).is_err());
    pool.spawned(0, std::process::id()).unwrap();
    let e = pool.spawned(0, 1).unwrap_err().to_string();
    assert!(e.contains("already holds"), "{e}");
    assert!(Pool::new(&Policy::new(), 0).is_err());
    assert!(Pool::new(&Policy::new(), workerlife::MAX_SLOTS + 1).is_err());
    let real = Pool::new(&Policy::new(), 1).unwrap();
    assert!(
        real.advance(Duration::from_secs(1)).is_err(),
        "only a manual clock moves"
    );
    // A full pool of live workers has no slot to claim.
    let one = Pool::new(&Policy::new(), 1).unwrap();
    one.claim(std::process::id()).unwrap();
    assert!(one
        .claim(1)
        .unwrap_err()
        .to_string()
        .contains("no free slot"));
}

#[test]
fn a_dead_child_is_left_for_the_host_to_report_with_its_status() {
    let pool = Pool::new(&Policy::parse("").unwrap(), 1).unwrap();
    // SAFETY: the child exits at once with status 3.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe { libc::_exit(3) };
    }
    let pid = pid as u32;
    pool.spawned(0, pid).unwrap();
    // Dead, not yet reaped: a zombie whose status is ours to collect.
    while process::identity(pid) != 0 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(pool.sample().gone.is_empty(), "left for the host");
    assert!(pool.reap_dead().is_empty(), "left for the host");
    let mut status = 0;
    // SAFETY: reaping our own child.
    assert_eq!(
        unsafe { libc::waitpid(pid as i32, &mut status, 0) },
        pid as i32
    );
    assert_eq!(pool.exited(pid, status).unwrap(), 0);
    let exit = pool
        .events()
        .into_iter()
        .find(|e| e.kind == EventKind::Exited)
        .unwrap();
    assert_eq!(exit.status, Some(status));
    assert!(exit.crash, "an exit nobody asked for");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 3);
}

/// gunicorn's arbiter reaps a worker, then calls `child_exit`; the hook's
/// tick thread can sample in between. The exit must still be the host's to
/// report, with its status (a SIGKILL is a crash), and a host that never
/// reports it has the slot retired a little later.
#[test]
fn a_child_its_host_reaped_waits_for_the_hosts_report() {
    let pool = Pool::new(&Policy::parse("").unwrap(), 2).unwrap();
    let mut pids = Vec::new();
    for slot in 0..2 {
        // SAFETY: the child only sleeps until it is killed.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe {
                libc::sleep(60);
                libc::_exit(0)
            };
        }
        pool.spawned(slot, pid as u32).unwrap();
        pids.push(pid);
    }
    let mut statuses = Vec::new();
    for &pid in &pids {
        let mut status = 0;
        // SAFETY: killing and reaping our own children.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        statuses.push(status);
    }
    // Reaped, not yet reported: sampling leaves both slots.
    assert!(pool.sample().gone.is_empty(), "left for the host's report");
    pool.exited(pids[0] as u32, statuses[0]).unwrap();
    let exit = pool
        .events()
        .into_iter()
        .find(|e| e.kind == EventKind::Exited && e.slot == 0)
        .unwrap();
    assert_eq!(exit.status, Some(libc::SIGKILL));
    assert!(exit.crash);
    // The other is never reported: retired by sampling once the wait is
    // over (polled, with a deadline well past it).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let gone = loop {
        let gone = pool.sample().gone;
        if !gone.is_empty() || std::time::Instant::now() > deadline {
            break gone;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(gone, [1]);
    // Its late report is answered with its slot, recording nothing more.
    assert_eq!(pool.exited(pids[1] as u32, statuses[1]).unwrap(), 1);
}

#[test]
fn a_recycle_the_worker_took_and_left_between_ticks_still_has_its_event() {
    let pool = pool("max_requests=1", 1);
    pool.spawned(0, 1_111_111).unwrap();
    let _ = pool.events();
    let w = pool.worker(0).unwrap();
    w.begin();
    assert!(w.end(), "granted by the worker itself");
    pool.advance(Duration::from_secs(2)).unwrap();
    pool.exited(1_111_111, 0).unwrap(); // before any tick returned the recycle
    let events = pool.events();
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.reason)).collect();
    assert_eq!(
        kinds,
        vec![
            (EventKind::RecycleRequested, Some(Reason::MaxRequests)),
            (EventKind::Exited, Some(Reason::MaxRequests)),
        ]
    );
    assert_eq!(events[0].uptime, Duration::ZERO, "dated from the grant");
    assert_eq!(
        events[0].decision.unwrap().to_string(),
        "max_requests: 1 >= 1"
    );
    assert!(!events[1].crash);
}

#[test]
fn a_due_worker_kept_waiting_for_a_permit_says_so_once() {
    // Two workers due at once under a budget of one: the second waits,
    // serving on, and the pool says why once (not on every tick).
    let pool = pool("max_requests=1", 2);
    pool.spawned(0, 1_111_121).unwrap();
    pool.spawned(1, 1_111_122).unwrap();
    let (w0, w1) = (pool.worker(0).unwrap(), pool.worker(1).unwrap());
    w0.begin();
    assert!(w0.end(), "the first due worker takes the one permit");
    w1.begin();
    assert!(!w1.end(), "the second waits for it");
    for _ in 0..3 {
        pool.tick();
    }
    let waiting: Vec<_> = pool
        .events()
        .into_iter()
        .filter(|e| e.kind == EventKind::RecycleWaiting)
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0].slot, 1);
    assert_eq!(waiting[0].reason, Some(Reason::MaxRequests));
    assert!(
        waiting[0]
            .to_string()
            .starts_with("recycle_waiting slot=1 "),
        "{}",
        waiting[0]
    );
}

/// With no master (workers claim any free slot: Starman, Starlet, uvicorn,
/// PAGI), the recycle permit of a worker that marked its way out, still
/// finishing, goes to the worker that claims next, whichever slot it
/// takes, and comes back when that one serves; it does not wait in the
/// leaving worker's slot for `ready_timeout`.
#[test]
fn with_no_master_a_leaving_workers_permit_follows_the_next_worker_to_claim() {
    struct Kids(Vec<std::process::Child>);
    impl Drop for Kids {
        fn drop(&mut self) {
            for k in &mut self.0 {
                let _ = k.kill();
                let _ = k.wait();
            }
        }
    }
    let kids = Kids(
        (0..3)
            .map(|_| {
                std::process::Command::new("sleep")
                    .arg("60")
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let pool = Pool::builder(&Policy::parse("max_requests=1").unwrap())
        .slots(6)
        .build()
        .unwrap();
    let (leaving, waiting) = (
        pool.claim(kids.0[0].id()).unwrap(),
        pool.claim(kids.0[1].id()).unwrap(),
    );
    leaving.begin();
    assert!(leaving.end(), "due, and the budget's one permit is free");
    waiting.begin();
    assert!(!waiting.end(), "due too, but the permit is taken");
    leaving.exiting(); // on its way out, alive
    let next = pool.claim(kids.0[2].id()).unwrap();
    assert_ne!(next.index(), leaving.index(), "a slot of its own");
    waiting.begin();
    assert!(
        !waiting.end(),
        "the permit is the new worker's until it serves"
    );
    next.begin();
    assert!(!next.end());
    waiting.begin();
    assert!(waiting.end(), "the new worker served: the permit came back");
}

#[test]
fn a_claim_refused_for_want_of_a_slot_is_counted_in_stats_and_metrics() {
    let pool = pool("max_requests=100", 1);
    // This test process and its parent: both alive, so neither slot frees.
    let me = std::process::id();
    pool.claim(me).unwrap();
    let parent = std::os::unix::process::parent_id();
    assert!(matches!(
        pool.claim(parent),
        Err(workerlife::Error::NoFreeSlot(1))
    ));
    assert_eq!(pool.stats().no_free_slot, 1);
    let json: serde_json::Value = serde_json::from_str(&pool.stats_json()).unwrap();
    assert_eq!(json["no_free_slot"], 1);
    assert!(
        pool.prometheus()
            .contains("workerlife_no_free_slot_total 1"),
        "{}",
        pool.prometheus()
    );
}
