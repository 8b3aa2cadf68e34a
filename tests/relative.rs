//! Memory limits relative to the parent (`max_uss=3x`): the setting, the
//! parent's reading (the master's own process, a reading the host gives),
//! the limit resolved from it in decisions, stats and `top`, and a rule
//! that waits while there is no reading.

mod support;

use serde_json::Value;
use support::Holder;
use workerlife::{Action, ActionKind, Health, Key, Policy, Pool, Reason};

const MIB: u64 = 1 << 20;

fn manual(spec: &str, slots: u32) -> Pool {
    Pool::builder(&Policy::parse(spec).unwrap())
        .slots(slots)
        .manual_clock(true)
        .build()
        .unwrap()
}

fn stats(pool: &Pool) -> Value {
    serde_json::from_str(&pool.stats_json()).unwrap()
}

#[test]
fn a_relative_limit_is_written_as_a_multiple_and_checked() {
    let p = Policy::parse("max_uss=3x,max_pss=2.5X,max_rss=512MiB").unwrap();
    assert_eq!(p.to_string(), "max_rss=512MiB,max_uss=3x,max_pss=2.5x");
    assert_eq!(Policy::parse(&p.to_string()).unwrap(), p);
    assert!(!Key::MaxUss.is_number(p.raw(Key::MaxUss)));
    assert!(Key::MaxRss.is_number(p.raw(Key::MaxRss)));
    assert_eq!(p.raw(Key::MaxUss), workerlife::RELATIVE_LIMIT | 300);
    for (spec, needle) in [
        ("max_uss=0x", "0.01x to 1000x"),
        ("max_uss=1001x", "0.01x to 1000x"),
        ("max_uss=x", "max_uss"),
        ("max_uss=-2x", "max_uss"),
        ("max_uss=3xx", "max_uss"),
        ("max_fds=3x", "max_fds"),
        ("max_requests=3x", "max_requests"),
        ("max_rss=5EiB", "max_rss"),
    ] {
        let e = Policy::parse(spec).map(|p| p.to_string());
        let e = e.expect_err(spec).to_string();
        assert!(e.contains(needle), "{spec}: {e}");
    }
    let mut raw = *Policy::new().raw_values();
    raw[Key::MaxPss as usize] = workerlife::RELATIVE_LIMIT | 200_000;
    assert!(
        Policy::from_raw_values(raw).is_err(),
        "2000x is out of range"
    );
}

#[test]
fn with_no_reading_of_the_parent_the_rule_waits_and_says_why() {
    let pool = manual("max_rss=2x", 1);
    pool.spawned(0, 1_111_111).unwrap();
    let w = pool.worker(0).unwrap();
    w.report_health(Health {
        rss: Some(u64::MAX / 4),
        ..Default::default()
    });
    // A manual-clock pool reads nothing on its own: no reading, no trip.
    assert!(pool.tick().is_empty());
    assert_eq!(w.decision().action, Action::Continue);
    let st = stats(&pool);
    assert_eq!(st["memory_limits"]["max_rss"]["setting"], "2x");
    assert!(st["memory_limits"]["max_rss"]["bytes"].is_null(), "{st}");
    assert!(st["parent"].is_null());
    let table = workerlife::top::render(&st, "test").unwrap();
    assert!(
        table.contains("limits: max_rss 2x: waiting for a reading of the parent"),
        "{table}"
    );
}

#[test]
fn a_reading_of_the_parent_resolves_the_limit_in_decisions_stats_and_top() {
    let pool = manual("max_rss=2x,max_uss=1.5x", 1);
    pool.spawned(0, 1_111_111).unwrap();
    pool.report_parent(
        4021,
        Health {
            rss: Some(100 * MIB),
            uss: Some(40 * MIB),
            ..Default::default()
        },
    );
    let w = pool.worker(0).unwrap();
    w.report_health(Health {
        rss: Some(200 * MIB - 1),
        uss: Some(60 * MIB - 1),
        ..Default::default()
    });
    assert_eq!(w.decision().action, Action::Continue);
    w.report_health(Health {
        uss: Some(60 * MIB),
        ..Default::default()
    });
    let d = w.decision();
    assert_eq!(
        (d.action, d.reason),
        (Action::Recycle, Some(Reason::MemoryUss))
    );
    assert_eq!((d.value, d.limit), (60 * MIB, 60 * MIB));
    let st = stats(&pool);
    assert_eq!(st["memory_limits"]["max_rss"]["bytes"], 200 * MIB);
    assert_eq!(st["memory_limits"]["max_uss"]["bytes"], 60 * MIB);
    assert_eq!(st["parent"]["pid"], 4021);
    assert_eq!(st["parent"]["uss_bytes"], 40 * MIB);
    assert!(st["parent"]["pss_bytes"].is_null());
    let table = workerlife::top::render(&st, "test").unwrap();
    assert!(
        table.contains("max_uss 1.5x = 60MiB (the parent, pid 4021: uss 40MiB)"),
        "{table}"
    );
    let actions = pool.tick();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].reason, Some(Reason::MemoryUss));
}

#[test]
fn the_master_reads_its_own_process_and_holds_a_worker_to_the_multiple() {
    // Monotonic clock: the master's first round reads its own process.
    let pool = Pool::new(
        &Policy::parse("max_rss=4x,sample_interval=0,max_concurrent_recycles=0").unwrap(),
        2,
    )
    .unwrap();
    assert!(pool.tick().iter().all(|a| a.kind == ActionKind::Spawn));
    let st = stats(&pool);
    assert_eq!(st["parent"]["pid"], std::process::id(), "{st}");
    let parent_rss = st["parent"]["rss_bytes"].as_u64().unwrap();
    let limit = st["memory_limits"]["max_rss"]["bytes"].as_u64().unwrap();
    assert_eq!(limit, parent_rss * 4);
    // Read again when the host says its app has booted.
    let again = pool.read_parent().unwrap();
    assert!(again.rss.unwrap() > 0 && again.uss.is_some() && again.pss.is_some());

    let limit = stats(&pool)["memory_limits"]["max_rss"]["bytes"]
        .as_u64()
        .unwrap();
    let big_mib = (limit / MIB + 16).to_string();
    let big = Holder::start(&["--mib", &big_mib]);
    let small = Holder::start(&[]);
    pool.spawned(0, big.pid).unwrap();
    pool.spawned(1, small.pid).unwrap();
    let report = pool.sample();
    assert_eq!(report.sampled, 2, "{report:?}");
    let actions = pool.tick();
    let recycled: Vec<_> = actions
        .iter()
        .filter(|a| a.kind == ActionKind::Recycle)
        .map(|a| (a.slot, a.reason))
        .collect();
    assert_eq!(recycled, vec![(0, Some(Reason::MemoryRss))], "{actions:?}");
    let d = pool.decision(0).unwrap();
    assert_eq!(d.limit, limit, "{d}");
    drop(big);
    drop(small);
}

#[test]
fn a_master_first_read_after_it_forked_keeps_only_its_rss() {
    let pool = Pool::new(
        &Policy::parse("max_rss=4x,max_uss=3x,sample_interval=0").unwrap(),
        2,
    )
    .unwrap();
    let worker = Holder::start(&[]);
    // The host forked before the pool's first round and never said when
    // its app booted: the master's USS is shared with its workers now.
    pool.spawned(0, worker.pid).unwrap();
    pool.tick();
    let st = stats(&pool);
    assert!(st["parent"]["rss_bytes"].as_u64().unwrap() > 0, "{st}");
    assert!(st["parent"]["uss_bytes"].is_null(), "{st}");
    assert!(st["memory_limits"]["max_rss"]["bytes"].as_u64().is_some());
    assert!(
        st["memory_limits"]["max_uss"]["bytes"].is_null(),
        "max_uss waits: {st}"
    );
    // A reading the host asks for holds them all.
    pool.read_parent().unwrap();
    assert!(stats(&pool)["memory_limits"]["max_uss"]["bytes"]
        .as_u64()
        .is_some());
}
