//! The container rules that need real processes: with `max_surge` a
//! replacement starts only if the median start size of recent workers
//! (the master's own first readings of them) fits under the container's
//! limit minus its headroom; otherwise the worker retires first, and an
//! event says so. And the stats show what the master last read.

use std::process::{Child, Command};
use workerlife::{EventKind, MemoryReading, Policy, Pool, Reason};

/// Stand-in workers, killed and reaped when dropped.
struct Sleepers(Vec<Child>);

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn sleepers(n: usize) -> Sleepers {
    Sleepers(
        (0..n)
            .map(|_| Command::new("sleep").arg("60").spawn().expect("sleep"))
            .collect(),
    )
}

const M: u64 = 1 << 20;

fn reading(limit: u64, working_set: u64) -> MemoryReading {
    MemoryReading {
        limit: Some(limit),
        usage: working_set,
        working_set,
        ..Default::default()
    }
}

/// A pool of 3 slots (the last kept for a replacement) whose two workers
/// are sampled once (their start sizes), and slot 0's worker due for a
/// soft recycle.
fn surge_pool(kids: &Sleepers) -> Pool {
    let policy =
        Policy::parse("max_requests=1,max_surge=1,container_memory=auto,container_headroom=10%")
            .unwrap();
    let pool = Pool::builder(&policy)
        .slots(3)
        .manual_clock(true)
        .build()
        .unwrap();
    for (slot, kid) in kids.0.iter().enumerate() {
        pool.spawned(slot as u32, kid.id()).unwrap();
    }
    assert_eq!(pool.sample().sampled, 2, "the master reads its workers");
    let w = pool.worker(0).unwrap();
    w.begin();
    w.end();
    pool
}

#[test]
fn a_replacement_that_would_not_fit_is_not_started() {
    let kids = sleepers(2);
    let pool = surge_pool(&kids);
    // 400 MiB, recycle at 360: a byte under it, so no container recycle,
    // and any start size (a sleep's is some hundreds of KiB, at least a
    // page) does not fit.
    pool.report_container(reading(400 * M, 360 * M - 1));
    let actions = pool.tick();
    assert!(
        actions.iter().all(|a| a.replaces.is_none()),
        "no replacement: {actions:?}"
    );
    let events = pool.events();
    let retire = events.iter().find(|e| e.kind == EventKind::RetireFirst);
    let retire = retire.unwrap_or_else(|| panic!("a retire_first event: {events:?}"));
    assert_eq!(
        (retire.slot, retire.reason),
        (0, Some(Reason::ContainerMemory))
    );
    let d = pool.decision(0).unwrap();
    assert_eq!(
        d.reason,
        Some(Reason::MaxRequests),
        "it retires the plain way: {d}"
    );
}

#[test]
fn a_replacement_that_fits_is_started() {
    let kids = sleepers(2);
    let pool = surge_pool(&kids);
    pool.report_container(reading(400 * M, 100 * M));
    let actions = pool.tick();
    assert!(
        actions.iter().any(|a| a.replaces == Some(0)),
        "a replacement for slot 0: {actions:?}"
    );
    assert!(pool
        .events()
        .iter()
        .all(|e| e.kind != EventKind::RetireFirst));
}

#[test]
fn stats_show_the_container_as_the_master_read_it() {
    let policy = Policy::parse("container_memory=auto,container_headroom=64MiB").unwrap();
    let pool = Pool::builder(&policy)
        .slots(1)
        .manual_clock(true)
        .build()
        .unwrap();
    assert_eq!(pool.stats().container, None, "nothing read yet");
    pool.report_container(MemoryReading {
        anon: Some(200 * M),
        file: Some(50 * M),
        oom_kills: Some(3),
        pressure_some_avg10: Some(0.5),
        ..reading(512 * M, 250 * M)
    });
    let c = pool.stats().container.expect("a container");
    assert!(c.known);
    assert_eq!((c.limit, c.working_set), (Some(512 * M), Some(250 * M)));
    assert_eq!((c.headroom, c.recycle_at), (Some(64 * M), Some(448 * M)));
    assert_eq!(
        (c.anon, c.file, c.oom_kills),
        (Some(200 * M), Some(50 * M), Some(3))
    );
    assert_eq!(c.pressure_some_avg10, Some(0.5));
    let text = pool.prometheus();
    for line in [
        "workerlife_container_memory_working_set_bytes 262144000",
        "workerlife_container_spec_memory_limit_bytes 536870912",
        "workerlife_container_oom_events_total 3",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&pool.stats_json()).unwrap();
    assert_eq!(json["container"]["recycle_at_bytes"], 448 * M);
    let top = workerlife::top::render(&json, "test").unwrap();
    assert!(
        top.contains("container: working set 250MiB of 512MiB (recycle at 448MiB)"),
        "{top}"
    );
}

#[test]
fn a_limit_that_cannot_hold_a_fresh_worker_is_said_once_and_recycles_nobody() {
    // Both workers are their start size: recycling the largest would free
    // nothing and its successor would be picked next, for ever.
    let kids = sleepers(2);
    let policy = Policy::parse("container_memory=auto,container_headroom=10%").unwrap();
    let pool = Pool::builder(&policy)
        .slots(2)
        .manual_clock(true)
        .build()
        .unwrap();
    for (slot, kid) in kids.0.iter().enumerate() {
        pool.spawned(slot as u32, kid.id()).unwrap();
    }
    assert_eq!(pool.sample().sampled, 2, "the start sizes");
    let too_small = |pool: &Pool| {
        pool.events()
            .into_iter()
            .filter(|e| e.kind == EventKind::ContainerTooSmall)
            .collect::<Vec<_>>()
    };
    for _ in 0..5 {
        pool.report_container(reading(400 * M, 399 * M));
        let actions = pool.tick();
        assert!(
            actions.is_empty(),
            "nothing recycled or killed: {actions:?}"
        );
    }
    let said = too_small(&pool);
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert_eq!(said[0].reason, Some(Reason::ContainerMemory));
    let line = said[0].to_string();
    assert!(
        line.contains("reason=container_memory (399MiB >= 360MiB)"),
        "{line}"
    );
    assert_eq!(said[0].severity(), workerlife::Severity::Error);
    // Below the threshold, then over it again: a new run, said again.
    pool.report_container(reading(400 * M, 100 * M));
    pool.tick();
    pool.report_container(reading(400 * M, 399 * M));
    assert!(pool.tick().is_empty());
    assert_eq!(too_small(&pool).len(), 1);
}

/// `container_memory=auto` says at start what it found in this process's
/// cgroup (a limit, no limit, or no cgroup), never nothing; with a size,
/// or off, the line says nothing of the cgroup.
#[test]
fn the_start_up_line_says_what_auto_found() {
    use workerlife::cgroup::Cgroup;
    let line = |spec: &str| {
        Pool::builder(&Policy::parse(spec).unwrap())
            .slots(2)
            .build()
            .unwrap()
            .startup_line()
    };
    let auto = line("container_memory=auto");
    let said = auto.split_once("; container_memory=auto: ").map(|(_, s)| s);
    let Some(said) = said else {
        panic!("nothing said of container_memory=auto: {auto}");
    };
    match Cgroup::of_self().and_then(|c| c.read().map(|r| (c, r))) {
        Ok((c, r)) => {
            let dir = c.dir().display().to_string();
            assert!(said.contains(&dir), "{said}");
            match r.limit {
                Some(_) => assert!(said.starts_with("limit "), "{said}"),
                None => assert!(said.starts_with("no memory limit on cgroup"), "{said}"),
            }
        }
        Err(e) => assert!(
            said.contains(&e.to_string()) && said.ends_with("off"),
            "{said}"
        ),
    }
    for spec in ["container_memory=512MiB", "max_requests=5"] {
        let l = line(spec);
        assert!(!l.contains("cgroup"), "{spec}: {l}");
    }
}

/// A host that samples on its own (`Pool::sample`, no `tick`) reads the
/// container too: a round starts one way, whoever starts it.
#[test]
fn a_hosts_own_sample_reads_the_container_as_tick_does() {
    let policy = Policy::parse("container_memory=auto").unwrap();
    let pool = Pool::builder(&policy).slots(1).build().unwrap();
    assert_eq!(pool.stats().container, None, "nothing read yet");
    pool.sample();
    // This process's memory cgroup, or a reading that failed and says so:
    // either way the container was looked at.
    let c = pool.stats().container.expect("the container looked at");
    let readable = workerlife::cgroup::Cgroup::of_self().is_ok_and(|g| g.read().is_ok());
    assert_eq!(c.known, readable, "{c:?}");
}
