//! The shared test-vector runner (docs/design.md, "Test vectors"): reads every
//! case under tests/vectors/ and under $WORKERLIFE_VECTORS, runs it against a
//! `Driver`, and reports every failing case by file and name.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

/// What a vector needs from an implementation (the Rust API, the C ABI...).
pub trait Driver {
    fn new_pool(&mut self, policy: &str, slots: u32, seed: u64) -> Result<(), String>;
    fn begin(&mut self, slot: u32) -> Result<(), String>;
    fn end(&mut self, slot: u32) -> Result<bool, String>;
    /// A request begins with a ticket; returns the ticket's number.
    fn begin_ticket(&mut self, slot: u32) -> Result<u64, String>;
    /// The request of ticket `ticket` ends; whether the worker should exit.
    fn end_ticket(&mut self, slot: u32, ticket: u64) -> Result<bool, String>;
    /// The tickets of the slot's requests past request_timeout.
    fn overdue(&mut self, slot: u32) -> Result<Vec<u64>, String>;
    fn advance_us(&mut self, us: u64) -> Result<(), String>;
    fn health(
        &mut self,
        slot: u32,
        rss: Option<u64>,
        uss: Option<u64>,
        pss: Option<u64>,
        fds: Option<u64>,
    ) -> Result<(), String>;
    fn heartbeat(&mut self, slot: u32) -> Result<(), String>;
    /// The worker says it serves from an event loop (`on_event_loop`).
    fn on_event_loop(&mut self, slot: u32) -> Result<(), String>;
    fn check(&mut self, slot: u32, ok: bool) -> Result<(), String>;
    fn recycle(&mut self, slot: u32) -> Result<(), String>;
    fn exiting(&mut self, slot: u32) -> Result<(), String>;
    fn spawned(&mut self, slot: u32, pid: u32) -> Result<(), String>;
    /// A worker claims a slot by pid; returns the slot it got.
    fn claim(&mut self, pid: u32) -> Result<u32, String>;
    fn exited(&mut self, slot: u32, status: i32) -> Result<(), String>;
    /// (action, reason) of the slot's decision.
    fn decision(&mut self, slot: u32) -> Result<(String, Option<String>), String>;
    /// (action, slot, reason, replaced slot) of every action tick returns now.
    fn tick(&mut self) -> Result<Vec<TickAction>, String>;
    /// The host says the worker in `slot` is ready.
    fn ready(&mut self, slot: u32) -> Result<(), String>;
    /// Seconds until the next held-back respawn, if any.
    fn next_spawn_us(&mut self) -> Result<Option<u64>, String>;
    /// The pool's stats JSON.
    fn stats_json(&mut self) -> Result<String, String>;
    /// A reading of the container (`Pool::report_container`): its limit
    /// (None: none) and working set, in bytes.
    fn container(&mut self, limit: Option<u64>, working_set: u64) -> Result<(), String>;
}

/// The fields of a growth estimate a vector may expect, compared to 1e-9
/// relative (the fit is computed in f64 the same way everywhere).
pub const GROWTH_FIELDS: [&str; 5] = [
    "bytes_per_request",
    "bytes_per_second",
    "seconds_to_limit",
    "requests_to_limit",
    "samples",
];

fn same_number(got: &Value, want: &Value) -> bool {
    match (got.as_f64(), want.as_f64()) {
        (Some(g), Some(w)) => (g - w).abs() <= 1e-9 * w.abs().max(1.0),
        _ => got.is_null() && want.is_null(),
    }
}

/// (action, slot, reason, replaced slot) of one action `tick` returned.
pub type TickAction = (String, u32, Option<String>, Option<u32>);

pub fn vector_files() -> Vec<PathBuf> {
    // The repository's tests/vectors, found from whichever crate runs this.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("tests/vectors").is_dir())
        .expect("tests/vectors above the crate");
    let mut dirs = vec![root.join("tests/vectors")];
    if let Ok(extra) = std::env::var("WORKERLIFE_VECTORS") {
        if !extra.is_empty() {
            dirs.push(PathBuf::from(extra));
        }
    }
    let mut files = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut found: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

fn slot_of(step: &Value) -> u32 {
    step.get("slot").and_then(Value::as_u64).unwrap_or(0) as u32
}

fn opt_u64(step: &Value, key: &str) -> Option<u64> {
    step.get(key).and_then(Value::as_u64)
}

/// A step's pid: a number, or "self" for the process running the vectors
/// (alive, for cases that need a live worker).
fn pid_of(step: &Value) -> Option<u32> {
    match step.get("pid") {
        Some(Value::String(s)) if s == "self" => Some(std::process::id()),
        v => v.and_then(Value::as_u64).map(|p| p as u32),
    }
}

/// Runs one case; Err names the step that failed.
pub fn run_case(driver: &mut dyn Driver, case: &Value) -> Result<(), String> {
    let policy = case["policy"].as_str().unwrap_or("");
    let slots = case.get("slots").and_then(Value::as_u64).unwrap_or(1) as u32;
    let seed = case.get("seed").and_then(Value::as_u64).unwrap_or(0);
    let steps = case["steps"].as_array().ok_or("case has no steps")?;
    driver.new_pool(policy, slots, seed)?;
    // Tickets by the name the vector gave them.
    let mut tickets: std::collections::HashMap<String, u64> = Default::default();
    if slots == 1 && !steps.iter().any(|s| s["op"] == "spawned") {
        driver.spawned(0, std::process::id())?;
    }
    for (i, step) in steps.iter().enumerate() {
        let slot = slot_of(step);
        let op = step["op"].as_str().unwrap_or("");
        let fail = |msg: String| format!("step {i} ({step}): {msg}");
        match op {
            "request" => {
                for _ in 0..opt_u64(step, "n").unwrap_or(1) {
                    driver.begin(slot).map_err(fail)?;
                    driver.end(slot).map_err(fail)?;
                }
            }
            "begin" => match step.get("ticket").and_then(Value::as_str) {
                None => driver.begin(slot).map_err(fail)?,
                Some(name) => {
                    let t = driver.begin_ticket(slot).map_err(fail)?;
                    if let Some(want) = step.get("last").and_then(Value::as_bool) {
                        if (t & (1 << 52) != 0) != want {
                            return Err(fail(format!("last is {}, expected {want}", !want)));
                        }
                    }
                    tickets.insert(name.to_string(), t);
                }
            },
            "end" => match step.get("ticket").and_then(Value::as_str) {
                None => {
                    driver.end(slot).map_err(fail)?;
                }
                Some(name) => {
                    // A name never issued is the number the step gives.
                    let t = match (tickets.get(name), opt_u64(step, "raw")) {
                        (Some(&t), _) | (None, Some(t)) => t,
                        (None, None) => return Err(fail(format!("no ticket {name:?}"))),
                    };
                    let refused = step.get("refused").and_then(Value::as_bool) == Some(true);
                    match (driver.end_ticket(slot, t), refused) {
                        (Ok(_), false) | (Err(_), true) => {}
                        (Ok(_), true) => return Err(fail("ended, expected refused".into())),
                        (Err(e), false) => return Err(fail(e)),
                    }
                }
            },
            "overdue" => {
                let got = driver.overdue(slot).map_err(fail)?;
                let mut names: Vec<&str> = tickets
                    .iter()
                    .filter(|(_, t)| got.contains(&(*t & !(1u64 << 52))))
                    .map(|(n, _)| n.as_str())
                    .collect();
                names.sort_unstable();
                let mut want: Vec<&str> = step["expect"]
                    .as_array()
                    .ok_or_else(|| fail("overdue needs expect".into()))?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                want.sort_unstable();
                if names != want || got.len() != want.len() {
                    return Err(fail(format!(
                        "overdue {names:?} ({} tickets), expected {want:?}",
                        got.len()
                    )));
                }
            }
            "advance" => {
                let secs = step["secs"]
                    .as_f64()
                    .ok_or_else(|| fail("advance needs secs".into()))?;
                // Rounded to the nearest microsecond, the pool's unit.
                driver
                    .advance_us((secs * 1e6).round() as u64)
                    .map_err(fail)?;
            }
            "health" => driver
                .health(
                    slot,
                    opt_u64(step, "rss"),
                    opt_u64(step, "uss"),
                    opt_u64(step, "pss"),
                    opt_u64(step, "fds"),
                )
                .map_err(fail)?,
            "container" => driver
                .container(
                    opt_u64(step, "limit"),
                    opt_u64(step, "working_set")
                        .ok_or_else(|| fail("container needs working_set".into()))?,
                )
                .map_err(fail)?,
            "heartbeat" => driver.heartbeat(slot).map_err(fail)?,
            "on_event_loop" => driver.on_event_loop(slot).map_err(fail)?,
            "check" => driver
                .check(
                    slot,
                    step["ok"]
                        .as_bool()
                        .ok_or_else(|| fail("check needs ok".into()))?,
                )
                .map_err(fail)?,
            "recycle" => driver.recycle(slot).map_err(fail)?,
            "exiting" => driver.exiting(slot).map_err(fail)?,
            "ready" => driver.ready(slot).map_err(fail)?,
            "spawned" => driver
                .spawned(
                    slot,
                    pid_of(step).ok_or_else(|| fail("spawned needs pid".into()))?,
                )
                .map_err(fail)?,
            "claim" => {
                let pid = pid_of(step).ok_or_else(|| fail("claim needs pid".into()))?;
                let got = driver.claim(pid).map_err(fail)?;
                if step.get("slot").is_some() && got != slot {
                    return Err(fail(format!("claimed slot {got}, expected {slot}")));
                }
            }
            "exited" => driver
                .exited(
                    slot,
                    step.get("status").and_then(Value::as_i64).unwrap_or(0) as i32,
                )
                .map_err(fail)?,
            "expect" => {
                let (action, reason) = driver.decision(slot).map_err(fail)?;
                let want = step["action"].as_str().unwrap_or("");
                if action != want {
                    return Err(fail(format!(
                        "action is {action} (reason {reason:?}), expected {want}"
                    )));
                }
                if let Some(want_reason) = step.get("reason").and_then(Value::as_str) {
                    if reason.as_deref() != Some(want_reason) {
                        return Err(fail(format!(
                            "reason is {reason:?}, expected {want_reason}"
                        )));
                    }
                }
            }
            "tick" => {
                let mut got = driver.tick().map_err(fail)?;
                let want = step["expect"]
                    .as_array()
                    .ok_or_else(|| fail("tick needs expect".into()))?;
                let got_all = got.clone();
                for w in want {
                    let (wa, ws, wr) = (
                        w["action"].as_str().unwrap_or(""),
                        slot_of(w),
                        w.get("reason").and_then(Value::as_str),
                    );
                    let wp = w.get("replaces").and_then(Value::as_u64).map(|r| r as u32);
                    let pos = got.iter().position(|(a, s, r, p)| {
                        a == wa
                            && *s == ws
                            && (wr.is_none() || r.as_deref() == wr)
                            && (wp.is_none() || *p == wp)
                    });
                    match pos {
                        Some(p) => {
                            got.remove(p);
                        }
                        None => {
                            return Err(fail(format!("tick returned {got_all:?}, missing {w}")))
                        }
                    }
                }
                if !got.is_empty() {
                    return Err(fail(format!(
                        "tick returned {got_all:?}, unexpected {got:?}"
                    )));
                }
            }
            "next_spawn" => {
                let got = driver.next_spawn_us().map_err(fail)?;
                let want = step
                    .get("secs")
                    .and_then(Value::as_f64)
                    .map(|s| (s * 1e6).round() as u64);
                if got != want {
                    return Err(fail(format!("next spawn in {got:?} µs, expected {want:?}")));
                }
            }
            "growth" => {
                let json = driver.stats_json().map_err(fail)?;
                let stats: Value = serde_json::from_str(&json).map_err(|e| fail(e.to_string()))?;
                let got = &stats["per_slot"][slot as usize]["growth"];
                if step.get("none").and_then(Value::as_bool) == Some(true) {
                    if !got.is_null() {
                        return Err(fail(format!("growth is {got}, expected none")));
                    }
                } else {
                    for key in GROWTH_FIELDS {
                        if let Some(want) = step.get(key) {
                            if !same_number(&got[key], want) {
                                return Err(fail(format!(
                                    "growth {key} is {}, expected {want}",
                                    got[key]
                                )));
                            }
                        }
                    }
                }
            }
            other => return Err(fail(format!("unknown op {other:?}"))),
        }
    }
    Ok(())
}

/// Runs every case of every vector file; panics listing each failure.
pub fn run_all(make: &mut dyn FnMut() -> Box<dyn Driver>) -> usize {
    let mut failures = Vec::new();
    let mut count = 0;
    for file in vector_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let cases: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for case in cases
            .as_array()
            .unwrap_or_else(|| panic!("{}: not an array", file.display()))
        {
            count += 1;
            let name = case["name"].as_str().unwrap_or("<unnamed>");
            let mut driver = make();
            if let Err(e) = run_case(driver.as_mut(), case) {
                failures.push(format!(
                    "{}: {name}: {e}",
                    file.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} vector cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    count
}
