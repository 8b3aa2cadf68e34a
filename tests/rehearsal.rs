//! The dress rehearsal (`enforce`): rules not enforced are decided, marked,
//! counted and filed as `would_*` events, and nothing is done to a worker.

use serde_json::Value;
use std::time::Duration;
use workerlife::{Action, EventKind, Health, Key, Policy, Pool, Reason};

fn pool(spec: &str, slots: u32) -> Pool {
    Pool::builder(&Policy::parse(spec).unwrap())
        .slots(slots)
        .seed(1)
        .manual_clock(true)
        .build()
        .unwrap()
}

fn stats(pool: &Pool) -> Value {
    serde_json::from_str(&pool.stats_json()).unwrap()
}

#[test]
fn enforce_takes_all_off_and_rules_by_reason_or_by_key() {
    let p = Policy::parse("enforce=off").unwrap();
    assert!(!p.enforces(Reason::MaxRequests) && !p.enforces(Reason::RequestTimeout));
    assert!(p.enforces(Reason::Manual), "a manual recycle always acts");
    assert!(p.enforces(Reason::DrainTimeout) && p.enforces(Reason::ReadyTimeout));
    assert_eq!(p.to_string(), "enforce=off");
    assert!(Policy::new().enforces(Reason::MemoryRss));
    assert_eq!(Policy::parse("enforce=all").unwrap(), Policy::new());

    let p = Policy::parse("enforce=request_timeout + max_rss").unwrap();
    assert!(p.enforces(Reason::RequestTimeout) && p.enforces(Reason::MemoryRss));
    assert!(!p.enforces(Reason::MaxRequests) && !p.enforces(Reason::HeartbeatTimeout));
    // Written back by reason, in priority order; it parses to the same.
    assert_eq!(p.to_string(), "enforce=request_timeout+memory_rss");
    assert_eq!(Policy::parse(&p.to_string()).unwrap(), p);
    assert_eq!(
        Key::Enforce.format_value(p.raw(Key::Enforce)),
        "request_timeout+memory_rss"
    );
}

#[test]
fn a_bad_enforce_names_the_key_and_the_value_and_changes_nothing() {
    for (spec, needle) in [
        ("enforce=max_rs", "\"max_rs\" names no rule"),
        ("enforce=", "an empty rule name"),
        ("enforce=request_timeout+", "an empty rule name"),
        ("enforce=drain_timeout", "drain_timeout always acts"),
        ("enforce=manual", "manual always acts"),
        ("enforce=ready_timeout", "ready_timeout always acts"),
        ("enforce=on", "\"on\" names no rule"),
    ] {
        let e = Policy::parse(spec).unwrap_err().to_string();
        assert!(e.contains("enforce") && e.contains(needle), "{spec}: {e}");
    }
    let e = Policy::parse("enforce=max_rs").unwrap_err().to_string();
    assert!(
        e.contains("max_rss (memory_rss)"),
        "the rules are listed: {e}"
    );
    let mut p = Policy::parse("enforce=max_requests").unwrap();
    let before = p.clone();
    assert!(p.set_number("enforce", 3.0).is_err());
    assert!(p.set_whole("enforce", 3).is_err());
    assert!(p.set("enforce", "bogus").is_err());
    assert_eq!(p, before, "a call that fails changes nothing");
    // Bits no rule has (a header written by hand) are refused.
    let mut raw = *Policy::new().raw_values();
    raw[Key::Enforce as usize] = 1 << 40;
    let e = Policy::from_raw_values(raw).unwrap_err().to_string();
    assert!(e.contains("enforce"), "{e}");
}

#[test]
fn a_rehearsed_recycle_is_filed_once_per_generation_with_its_figures_and_counted() {
    let pool = pool("max_requests=2,enforce=off", 2);
    pool.spawned(0, 1_111_111).unwrap();
    let w = pool.worker(0).unwrap();
    for _ in 0..5 {
        w.begin();
        assert!(!w.end(), "the worker serves on");
    }
    let d = w.decision();
    assert_eq!(
        (d.action, d.reason),
        (Action::Continue, Some(Reason::MaxRequests))
    );
    assert!(d.is_would() && !d.must_exit());
    assert_eq!(
        d.to_string(),
        "continue (would recycle: max_requests: 5 >= 2)"
    );
    assert!(
        pool.tick().iter().all(|a| a.slot != 0),
        "nothing to do to slot 0"
    );
    pool.tick();
    let would: Vec<_> = pool
        .events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::WouldRecycle | EventKind::WouldKill))
        .collect();
    assert_eq!(would.len(), 1, "{would:?}");
    let line = would[0].to_string();
    assert!(
        line.starts_with("would_recycle slot=0 pid=1111111 gen=")
            && line.contains("reason=max_requests (5 >= 2)"),
        "{line}"
    );
    assert_eq!(would[0].severity().as_str(), "info");

    let st = stats(&pool);
    assert_eq!(st["enforce"], "off");
    assert_eq!(st["would"]["max_requests"], 1);
    assert_eq!(st["recycles"]["max_requests"], 0);
    assert_eq!(
        st["per_slot"][0]["would"],
        serde_json::json!(["max_requests"])
    );
    let prom = pool.prometheus();
    assert!(
        prom.contains("workerlife_would_recycle_total{reason=\"max_requests\"} 1"),
        "{prom}"
    );
    assert!(
        prom.contains("workerlife_would_kill_total{reason=\"request_timeout\"} 0"),
        "{prom}"
    );
    assert!(!prom.contains("workerlife_would_kill_total{reason=\"max_requests\"}"));

    // The next generation starts with nothing rehearsed, and counts again.
    pool.exited(1_111_111, 0).unwrap();
    pool.tick();
    pool.spawned(0, 1_111_112).unwrap();
    assert_eq!(stats(&pool)["per_slot"][0]["would"], serde_json::json!([]));
    for _ in 0..2 {
        w.begin();
        w.end();
    }
    pool.tick();
    assert_eq!(stats(&pool)["would"]["max_requests"], 2);
    assert_eq!(
        pool.events()
            .iter()
            .filter(|e| e.kind == EventKind::WouldRecycle)
            .count(),
        1
    );
}

#[test]
fn a_rehearsed_timeout_that_ended_between_two_ticks_is_still_filed() {
    let pool = pool("request_timeout=5s,enforce=off", 1);
    pool.spawned(0, 1_111_111).unwrap();
    let w = pool.worker(0).unwrap();
    w.begin();
    pool.advance(Duration::from_secs(6)).unwrap();
    // The worker's own look (its watchdog's, or a decision) marks it ...
    let d = w.decision();
    assert_eq!(
        (d.action, d.reason),
        (Action::Continue, Some(Reason::RequestTimeout))
    );
    assert_eq!(
        d.to_string(),
        "continue (would kill: request_timeout: 6s >= 5s)"
    );
    w.end();
    // ... and the master, which never saw it in flight, files it at its
    // next round (a round later than one it sees, waiting for figures).
    assert!(pool.tick().is_empty());
    assert!(!pool.events().iter().any(|e| e.kind == EventKind::WouldKill));
    assert!(pool.tick().is_empty());
    let events = pool.events();
    let ev = events
        .iter()
        .find(|e| e.kind == EventKind::WouldKill)
        .expect("a would_kill event");
    assert_eq!(ev.reason, Some(Reason::RequestTimeout));
    assert_eq!(ev.severity().as_str(), "warning");
    assert_eq!(stats(&pool)["would"]["request_timeout"], 1);
    let e = w.event_for(d).unwrap();
    assert_eq!(e.kind, EventKind::WouldKill);
}

#[test]
fn a_rehearsed_rule_never_hides_one_that_acts() {
    // max_requests comes first in priority, and is only rehearsed.
    let pool = pool("max_requests=1,max_rss=1MiB,enforce=max_rss", 1);
    pool.spawned(0, 1_111_111).unwrap();
    let w = pool.worker(0).unwrap();
    w.begin();
    w.end();
    assert_eq!(w.decision().reason, Some(Reason::MaxRequests));
    w.report_health(Health {
        rss: Some(2 << 20),
        ..Default::default()
    });
    let d = w.decision();
    assert_eq!(
        (d.action, d.reason),
        (Action::Recycle, Some(Reason::MemoryRss))
    );
    let actions = pool.tick();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].reason, Some(Reason::MemoryRss));
}

#[test]
fn top_marks_what_would_be_done() {
    let pool = pool("max_requests=1,enforce=off", 1);
    pool.spawned(0, std::process::id()).unwrap();
    let w = pool.worker(0).unwrap();
    w.begin();
    w.end();
    let table = workerlife::top::render(&stats(&pool), "test").unwrap();
    assert!(
        table.contains("rehearsal: enforce=off | would: max_requests 1"),
        "{table}"
    );
    let header = table.lines().find(|l| l.starts_with("SLOT")).unwrap();
    assert!(header.trim_end().ends_with("WOULD"), "{table}");
    let row = table.lines().last().unwrap();
    assert!(row.trim_end().ends_with("recycle:max_requests"), "{table}");
}

#[test]
fn an_event_loop_cancels_nothing_for_a_rehearsed_request_timeout_and_the_master_files_it() {
    let pool = pool("request_timeout=5s,enforce=off", 1);
    pool.spawned(0, 1_111_111).unwrap();
    let w = pool.worker(0).unwrap();
    w.on_event_loop();
    let t = w.begin_ticket().unwrap();
    pool.advance(Duration::from_secs(6)).unwrap();
    w.heartbeat();
    let mut out = [workerlife::Ticket::from_raw(0); workerlife::TICKETS];
    assert_eq!(w.overdue(&mut out), 0, "nothing to cancel");
    assert!(pool.tick().is_empty());
    assert!(pool.tick().is_empty());
    let events = pool.events();
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::WouldKill && e.reason == Some(Reason::RequestTimeout)),
        "{events:?}"
    );
    assert_eq!(stats(&pool)["would"]["request_timeout"], 1);
    assert!(!w.end_ticket(t).unwrap());
}

#[test]
fn a_would_recycle_decided_with_its_last_request_in_flight_is_filed_with_its_figures() {
    let pool = pool("max_requests=3,enforce=off", 1);
    pool.spawned(0, 1_111_111).unwrap();
    let w = pool.worker(0).unwrap();
    for _ in 0..2 {
        w.begin();
        w.end();
    }
    // The third request counts as served as it begins: the worker marks
    // the rule; the master's decision shows it once the request ended.
    w.begin();
    pool.tick();
    w.end();
    pool.tick();
    let events = pool.events();
    let would: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::WouldRecycle)
        .collect();
    assert_eq!(would.len(), 1, "{events:?}");
    assert!(
        would[0]
            .to_string()
            .contains("reason=max_requests (3 >= 3)"),
        "{}",
        would[0]
    );
}
