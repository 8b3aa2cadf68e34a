//! Property tests: priority order, jitter range and spread, exact request
//! counting under threads, and the rolling budget.

use proptest::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use workerlife::{Action, Health, Policy, Pool, Reason};

#[allow(clippy::too_many_arguments)]
/// The soft reasons in the order docs/design.md ranks them, computed here
/// independently of the engine.
fn expected_soft(
    p: &Policy,
    rss: u64,
    uss: u64,
    pss: u64,
    fds: u64,
    failures: u64,
    requests: u64,
    age_s: u64,
) -> Option<Reason> {
    let over = |v: u64, limit: u64| limit > 0 && v >= limit;
    let order = [
        (over(rss, p.max_rss()), Reason::MemoryRss),
        (over(uss, p.max_uss()), Reason::MemoryUss),
        (over(pss, p.max_pss()), Reason::MemoryPss),
        (over(fds, p.max_fds()), Reason::OpenFds),
        (over(failures, p.max_health_failures()), Reason::HealthCheck),
        (over(requests, p.max_requests()), Reason::MaxRequests),
        (over(age_s, p.max_lifetime().as_secs()), Reason::MaxLifetime),
        // Requests are made at time 0, so the worker has been idle for its age.
        (over(age_s, p.max_idle().as_secs()), Reason::Idle),
    ];
    order.iter().find(|(tripped, _)| *tripped).map(|(_, r)| *r)
}

proptest! {
    #[test]
    fn the_first_tripping_reason_in_priority_order_wins(
        limits in proptest::collection::vec(0u64..6, 8),
        rss in 0u64..8, uss in 0u64..8, pss in 0u64..8, fds in 0u64..8,
        failures in 0u64..8, requests in 0u64..8, age_s in 0u64..8,
    ) {
        let mut p = Policy::new();
        p.set_max_rss(limits[0]).set_max_uss(limits[1]).set_max_pss(limits[2]).set_max_fds(limits[3])
            .set_max_health_failures(limits[4]).set_max_requests(limits[5])
            .set_max_lifetime(Duration::from_secs(limits[6])).set_max_idle(Duration::from_secs(limits[7]))
            // Let every reading land before anything is granted.
            .set_min_lifetime(Duration::from_secs(age_s.max(1)));
        let pool = Pool::builder(&p).manual_clock(true).seed(1).build().unwrap();
        pool.spawned(0, std::process::id()).unwrap();
        let w = pool.worker(0).unwrap();
        for _ in 0..requests { w.begin(); w.end(); }
        w.report_health(Health { rss: Some(rss), uss: Some(uss), pss: Some(pss), fds: Some(fds) });
        for _ in 0..failures { w.check(false); }
        pool.advance(Duration::from_secs(age_s.max(1))).unwrap();
        let age = age_s.max(1);
        let d = w.decision();
        let want = expected_soft(&p, rss, uss, pss, fds, failures, requests, age);
        prop_assert_eq!(d.reason, want, "decision {}", d);
        prop_assert_eq!(d.action, if want.is_some() { Action::Recycle } else { Action::Continue });
    }

    #[test]
    fn jitter_stays_in_range_and_spreads_workers(
        max in 1u64..50, jitter in 0u64..40, slots in 1u32..8, seed in any::<u64>(),
    ) {
        let policy = Policy::parse(&format!(
            "max_requests={max},max_requests_jitter={jitter},max_concurrent_recycles=0"
        )).unwrap();
        let pool = Pool::builder(&policy).slots(slots).seed(seed).manual_clock(true).build().unwrap();
        let mut limits = Vec::new();
        for slot in 0..slots {
            pool.spawned(slot, 1_000_000 + slot).unwrap();
            let w = pool.worker(slot).unwrap();
            let mut n = 0;
            loop {
                w.begin();
                n += 1;
                if w.end() { break; }
                prop_assert!(n <= max + jitter, "slot {} passed {} + {}", slot, max, jitter);
            }
            prop_assert!(n >= max && n <= max + jitter, "limit {} outside [{}, {}]", n, max, max + jitter);
            limits.push(n);
        }
        limits.sort();
        limits.dedup();
        if jitter + 1 >= u64::from(slots) {
            prop_assert_eq!(limits.len(), slots as usize, "workers started together got equal limits");
        }
    }

    #[test]
    fn the_budget_is_never_exceeded(
        budget in 1u64..4, slots in 2u32..7,
        ops in proptest::collection::vec((0u32..7, 0u8..4), 1..200),
    ) {
        let policy = Policy::parse(&format!("max_requests=2,max_concurrent_recycles={budget}")).unwrap();
        let pool = Pool::builder(&policy).slots(slots).seed(3).manual_clock(true).build().unwrap();
        for s in 0..slots { pool.spawned(s, 2_000_000 + s).unwrap(); }
        let mut next_pid = 3_000_000;
        for (slot, op) in ops {
            let slot = slot % slots;
            match op {
                0 | 1 => { let w = pool.worker(slot).unwrap(); w.begin(); w.end(); }
                2 => { pool.tick(); }
                _ => {
                    // The worker leaves: reported, then respawned.
                    if pool.stats().per_slot[slot as usize].state != "vacant" {
                        pool.exited_slot(slot, 0).unwrap();
                    }
                    next_pid += 1;
                    pool.spawned(slot, next_pid).unwrap();
                }
            }
            let st = pool.stats();
            prop_assert!(u64::from(st.draining) <= budget, "{} draining, budget {}", st.draining, budget);
            prop_assert!(st.permits_held <= budget);
        }
    }
}

#[test]
fn no_request_is_lost_or_counted_twice_under_threads() {
    let pool = Pool::new(&Policy::new(), 1).unwrap();
    let w = pool.claim(std::process::id()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let w = w.clone();
            std::thread::spawn(move || {
                for _ in 0..50_000 {
                    w.begin();
                    w.end();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let st = pool.stats();
    assert_eq!(w.requests(), 400_000);
    assert_eq!(st.per_slot[0].in_flight, 0);
    assert_eq!(st.requests_total, 400_000);
}

#[test]
fn workers_racing_for_permits_never_exceed_the_budget() {
    const BUDGET: u64 = 2;
    let policy = Policy::parse("max_requests=50,max_requests_jitter=20").unwrap();
    let mut policy = policy;
    policy.set_max_concurrent_recycles(BUDGET);
    let pool = Arc::new(Pool::builder(&policy).slots(6).build().unwrap());
    let holding = Arc::new(AtomicU64::new(0));
    let worst = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..6u32)
        .map(|slot| {
            let (pool, holding, worst) = (pool.clone(), holding.clone(), worst.clone());
            std::thread::spawn(move || {
                pool.spawned(slot, 4_000_000 + slot).unwrap();
                let mut generations = 0;
                while generations < 40 {
                    let w = pool.worker(slot).unwrap();
                    w.begin();
                    if w.end() {
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        worst.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        holding.fetch_sub(1, Ordering::SeqCst);
                        w.exiting();
                        pool.exited_slot(slot, 0).unwrap();
                        pool.spawned(slot, 5_000_000 + slot * 100 + generations)
                            .unwrap();
                        generations += 1;
                    }
                }
                // The last replacement serves too: the permit it inherited
                // goes back (held until then, as one worker is missing).
                pool.ready(slot).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let worst = worst.load(Ordering::SeqCst);
    assert!(
        (1..=BUDGET).contains(&worst),
        "{worst} workers held permits at once, budget {BUDGET}"
    );
    assert_eq!(pool.stats().permits_held, 0);
}

fn raw_value(key: workerlife::Key) -> BoxedStrategy<u64> {
    use workerlife::{Key, Unit};
    match (key, key.unit()) {
        (Key::MaxConcurrentRecycles, _) => (0u64..=65_535).boxed(),
        // Off, auto or a size; a headroom below any such size, or a
        // percentage (their encodings: docs/policy.md).
        (Key::ContainerMemory, _) => prop_oneof![
            Just(0),
            Just(workerlife::CONTAINER_AUTO),
            (1u64 << 21)..(1 << 40)
        ]
        .boxed(),
        // All, off, or a set of the reasons it can name.
        (Key::Enforce, _) => prop_oneof![
            Just(workerlife::ENFORCE_ALL),
            Just(0),
            proptest::sample::subsequence(
                workerlife::Reason::ALL
                    .iter()
                    .filter(|r| !r.always_enforced())
                    .map(|r| 1u64 << *r as u8)
                    .collect::<Vec<_>>(),
                1..8
            )
            .prop_map(|bits| bits.into_iter().fold(0, |a, b| a | b))
        ]
        .boxed(),
        // Off or a percentage, in hundredths.
        (Key::MinSharing, _) => (0u64..=10_000).boxed(),
        // A size up to 4 EiB, or a multiple of the parent's reading.
        (Key::MaxRss | Key::MaxUss | Key::MaxPss, _) => prop_oneof![
            0u64..=(1 << 62),
            (1u64..=100_000).prop_map(|h| workerlife::RELATIVE_LIMIT | h)
        ]
        .boxed(),
        (Key::ContainerHeadroom, _) => prop_oneof![
            (1u64..10_000).prop_map(|bp| workerlife::HEADROOM_PERCENT | bp),
            1u64..(1 << 20)
        ]
        .boxed(),
        (_, Unit::Duration) => prop_oneof![0u64..10_000_000, 0u64..(1 << 48)].boxed(),
        (_, Unit::Size) => prop_oneof![Just(512u64 << 20), 0u64..u64::MAX].boxed(),
        (_, Unit::Count) => any::<u64>().boxed(),
    }
}

proptest! {
    #[test]
    fn a_policy_prints_as_a_spec_that_parses_back_to_it(
        values in workerlife::Key::ALL.iter().map(|k| raw_value(*k)).collect::<Vec<_>>()
    ) {
        use workerlife::Key;
        let mut p = Policy::new();
        for (k, v) in Key::ALL.iter().zip(values) {
            p.set_raw(*k, v);
        }
        if p.backoff_initial() > p.backoff_max() {
            let max = p.backoff_max();
            p.set_backoff_initial(max);
        }
        p.validate().unwrap();
        let spec = p.to_string();
        prop_assert_eq!(Policy::parse(&spec).unwrap(), p, "spec {}", spec);
    }
}
