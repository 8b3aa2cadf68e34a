//! Growth estimates from real processes: forked workers that leak a known
//! amount per request, sampled from /proc by the master, estimated within
//! 10 %, and carried by the recycle event.

mod support;

use std::time::{Duration, Instant};
use support::fork_child;
use workerlife::{EventKind, Policy, Pool, Reason};

const KIB: u64 = 1024;

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

/// A worker that serves `requests` requests, one every `pace` (absolute
/// deadlines), each leaking `leak` bytes it writes to, then waits to be
/// killed.
fn leaking_worker(pool: &Pool, slot: u32, leak: usize, pace: Duration, requests: u32) -> u32 {
    fork_child(|| {
        let w = pool.worker(slot).unwrap();
        let mut kept: Vec<Vec<u8>> = Vec::new();
        let start = Instant::now();
        for i in 1..=requests {
            w.begin();
            kept.push(vec![1u8; leak]);
            w.end();
            if let Some(wait) = (start + pace * i).checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        std::thread::sleep(Duration::from_secs(60));
        0
    })
}

/// Ticks the pool (which samples every `sample_interval`) until `done`.
fn supervise(pool: &Pool, mut done: impl FnMut(&Pool) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(pool) {
        assert!(Instant::now() < deadline, "gave up waiting");
        pool.tick();
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn within(estimate: f64, truth: f64, what: &str) {
    assert!(
        (estimate - truth).abs() <= 0.1 * truth,
        "{what}: estimated {estimate:.0}, true {truth:.0}"
    );
}

#[test]
fn growth_per_request_and_per_second_of_real_leaking_workers_within_ten_percent() {
    let pool = Pool::shared(
        &Policy::parse("max_rss=8GiB,sample_interval=50ms").unwrap(),
        2,
    )
    .unwrap();
    let leaks = [
        (64 * KIB, Duration::from_millis(4)),
        (16 * KIB, Duration::from_millis(3)),
    ];
    let requests = 600;
    let mut children = Children(Vec::new());
    for (slot, &(leak, pace)) in leaks.iter().enumerate() {
        let slot = slot as u32;
        let pid = leaking_worker(&pool, slot, leak as usize, pace, requests);
        children.0.push(pid);
        pool.spawned(slot, pid).unwrap();
    }
    supervise(&pool, |pool| {
        pool.stats()
            .per_slot
            .iter()
            .all(|s| s.requests == u64::from(requests))
    });
    let st = pool.stats();
    for (s, &(leak, pace)) in st.per_slot.iter().zip(&leaks) {
        let g = s
            .growth
            .unwrap_or_else(|| panic!("slot {}: no estimate", s.slot));
        assert!(g.samples >= 3, "{g:?}");
        within(g.per_request.unwrap(), leak as f64, "bytes per request");
        // Requests came on a fixed schedule, so while they came the memory
        // grew by `leak` every `pace` (the faster worker then idles until
        // the other is done: a flat tail the robust fit does not follow).
        within(
            g.per_second,
            leak as f64 / pace.as_secs_f64(),
            "bytes per second",
        );
        assert!(
            g.requests >= u64::from(requests) / 2,
            "the fit spans the run: {g:?}"
        );
        // No limit is near: the prediction is far away but finite (in time,
        // only while requests still come: an idle worker does not grow).
        let left = (8u64 << 30) - s.rss.unwrap();
        let requests_left = g.requests_to_limit.unwrap() as f64;
        within(
            requests_left,
            left as f64 / leak as f64,
            "requests to the limit",
        );
        assert!(
            g.to_limit.map_or(true, |t| t > Duration::from_secs(60)),
            "{g:?}"
        );
    }
    // The same figures in the JSON and the Prometheus text.
    let json: serde_json::Value = serde_json::from_str(&pool.stats_json()).unwrap();
    let g0 = &json["per_slot"][0]["growth"];
    assert_eq!(g0["metric"], "rss");
    within(
        g0["bytes_per_request"].as_f64().unwrap(),
        (64 * KIB) as f64,
        "JSON",
    );
    let prom = pool.prometheus();
    let line = prom
        .lines()
        .find(|l| {
            l.starts_with(
                "workerlife_slot_memory_growth_bytes_per_request{slot=\"1\",metric=\"rss\"}",
            )
        })
        .expect("per-request growth of slot 1");
    let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    within(v, (16 * KIB) as f64, "Prometheus");
    assert!(prom.contains("workerlife_slot_memory_seconds_to_limit{slot=\"0\",metric=\"rss\"}"));
}

#[test]
fn a_memory_recycle_event_says_how_fast_the_worker_grew() {
    let leak = 64 * KIB;
    // The limit: the forked child's RSS (the test's own, at fork) plus 24 MiB,
    // so it trips after about 384 requests.
    let base = workerlife::process::sample_self(false)
        .unwrap()
        .rss
        .value()
        .unwrap();
    let limit = base + 24 * 1024 * KIB;
    let pool = Pool::shared(
        &Policy::parse(&format!("max_rss={limit},sample_interval=50ms")).unwrap(),
        1,
    )
    .unwrap();
    let pid = leaking_worker(&pool, 0, leak as usize, Duration::from_millis(3), 2_000);
    let _children = Children(vec![pid]);
    pool.spawned(0, pid).unwrap();
    let mut predicted = None;
    let mut recycle = None;
    supervise(&pool, |pool| {
        if predicted.is_none() {
            predicted = pool.stats().per_slot[0]
                .growth
                .and_then(|g| g.requests_to_limit);
        }
        recycle = pool
            .events()
            .into_iter()
            .find(|e| e.kind == EventKind::RecycleRequested);
        recycle.is_some()
    });
    let ev = recycle.unwrap();
    assert_eq!(ev.reason, Some(Reason::MemoryRss));
    let g = ev.growth.expect("the recycle event carries the growth");
    within(
        g.per_request.unwrap(),
        leak as f64,
        "bytes per request at recycle",
    );
    assert_eq!(g.to_limit, Some(Duration::ZERO), "at the limit: {g:?}");
    let line = ev.to_string();
    assert!(
        line.contains(" reason=memory_rss (") && line.contains(" KiB/request over "),
        "{line}"
    );
    assert!(predicted.is_some(), "a prediction before the limit");
}
