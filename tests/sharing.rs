//! Copy-on-write kept in view, with a real forked worker: the share of the
//! parent's memory it keeps, in stats, Prometheus and `top`, and the
//! `sharing_low` event once it writes to what it inherited.

mod support;

use serde_json::Value;
use support::{fork_child, wait};
use workerlife::{EventKind, Policy, Pool};

const MIB: usize = 1 << 20;
const PAGE: usize = 4096;

#[test]
fn a_worker_that_writes_to_inherited_memory_stops_sharing_it_and_the_master_says_so() {
    // What the workers inherit: 96 MiB the parent touched before forking.
    let mut inherited = vec![0u8; 96 * MIB];
    for i in (0..inherited.len()).step_by(PAGE) {
        inherited[i] = 1;
    }
    let base = inherited.as_mut_ptr() as usize;
    let len = inherited.len();

    let policy =
        Policy::parse("min_sharing=50%,sample_interval=0,max_concurrent_recycles=0").unwrap();
    let pool = Pool::shared(&policy, 2).unwrap();
    let parent = pool.read_parent().unwrap();
    assert!(parent.rss.unwrap() >= 96 * MIB as u64);

    // The child writes every inherited page when told (a byte on its pipe),
    // says so (a byte back), and lives until its pipe closes.
    let (mut to_child, mut from_child) = ([0; 2], [0; 2]);
    // SAFETY: valid arrays for pipe().
    unsafe {
        assert_eq!(libc::pipe(to_child.as_mut_ptr()), 0);
        assert_eq!(libc::pipe(from_child.as_mut_ptr()), 0);
    }
    let pid = fork_child(move || {
        let mut b = 0u8;
        // SAFETY: plain reads and writes on our pipes and on the pages this
        // process inherited (its own copy once written).
        unsafe {
            libc::close(to_child[1]);
            libc::close(from_child[0]);
            if libc::read(to_child[0], (&mut b as *mut u8).cast(), 1) != 1 {
                return 1;
            }
            for i in (0..len).step_by(PAGE) {
                *((base + i) as *mut u8) = 2;
            }
            libc::write(from_child[1], (&b as *const u8).cast(), 1);
            libc::read(to_child[0], (&mut b as *mut u8).cast(), 1);
        }
        0
    });
    // SAFETY: closing our copies of the child's ends.
    unsafe {
        libc::close(to_child[0]);
        libc::close(from_child[1]);
    }
    pool.spawned(0, pid).unwrap();

    let stats = |pool: &Pool| -> Value { serde_json::from_str(&pool.stats_json()).unwrap() };
    assert_eq!(pool.sample().sampled, 1);
    let before = stats(&pool);
    let share = before["sharing"].as_f64().unwrap();
    assert!(share > 0.8, "a fresh fork shares nearly all: {before}");
    assert!(before["per_slot"][0]["shared"].as_u64().unwrap() >= 90 * MIB as u64);
    pool.tick();
    assert!(!pool
        .events()
        .iter()
        .any(|e| e.kind == EventKind::SharingLow));

    let mut b = 1u8;
    // SAFETY: our pipe ends.
    unsafe {
        assert_eq!(libc::write(to_child[1], (&b as *const u8).cast(), 1), 1);
        assert_eq!(libc::read(from_child[0], (&mut b as *mut u8).cast(), 1), 1);
    }
    assert_eq!(pool.sample().sampled, 1);
    let after = stats(&pool);
    let low = after["sharing"].as_f64().unwrap();
    assert!(low < 0.5, "written pages are copied: {after}");
    pool.tick();
    let events = pool.events();
    let ev = events
        .iter()
        .find(|e| e.kind == EventKind::SharingLow)
        .expect("sharing_low");
    let line = ev.to_string();
    assert!(
        line.contains(" sharing=") && line.contains("% < 50%"),
        "{line}"
    );
    assert_eq!(ev.severity().as_str(), "warning");
    // Said once until it recovers.
    pool.sample();
    pool.tick();
    assert!(!pool
        .events()
        .iter()
        .any(|e| e.kind == EventKind::SharingLow));

    let prom = pool.prometheus();
    assert!(prom.contains("workerlife_sharing_ratio "), "{prom}");
    assert!(
        prom.contains("workerlife_slot_shared_bytes{slot=\"0\"}"),
        "{prom}"
    );
    let table = workerlife::top::render(&after, "test").unwrap();
    assert!(
        table.contains("sharing: the workers still share "),
        "{table}"
    );
    assert!(table
        .lines()
        .any(|l| l.starts_with("SLOT") && l.contains("SHARED")));

    // SAFETY: closing the child's pipe ends it.
    unsafe {
        libc::close(to_child[1]);
        libc::close(from_child[0]);
    }
    assert!(libc::WIFEXITED(wait(pid)));
    drop(inherited);
}

#[test]
fn min_sharing_takes_a_percentage_and_names_itself_in_errors() {
    let p = Policy::parse("min_sharing=62.5%").unwrap();
    assert_eq!(p.to_string(), "min_sharing=62.5%");
    assert_eq!(p.raw(workerlife::Key::MinSharing), 6250);
    assert_eq!(Policy::parse("min_sharing=off").unwrap(), Policy::new());
    for spec in [
        "min_sharing=60",
        "min_sharing=0%",
        "min_sharing=101%",
        "min_sharing=-5%",
        "min_sharing=x%",
    ] {
        let e = Policy::parse(spec).unwrap_err().to_string();
        assert!(e.contains("min_sharing"), "{spec}: {e}");
    }
    let mut p = Policy::new();
    assert!(p.set_number("min_sharing", 0.5).is_err());
    assert_eq!(p, Policy::new());
}
