//! Pool statistics, as a struct, as JSON and as Prometheus text exposition.

use crate::policy::Key;
use crate::pool::Pool;
use crate::rules::core::Core;
use crate::rules::decision::{Action, Reason};
use crate::rules::growth::Growth;
use crate::table::layout::{
    flag, state, Activity, GenState, NONE, REQUEST_BUCKETS, UPTIME_BUCKETS,
};
use serde_json::json;
use std::fmt::Write;
use std::sync::atomic::Ordering::{Acquire, Relaxed};

/// A histogram: counts per bucket (not cumulative), the last one +Inf.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
    pub sum: f64,
}

impl Histogram {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// One slot's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotStats {
    pub slot: u32,
    pub state: &'static str,
    pub pid: u32,
    pub generation: u32,
    pub requests: u64,
    pub in_flight: u64,
    pub uptime_secs: f64,
    pub rss: Option<u64>,
    pub uss: Option<u64>,
    pub pss: Option<u64>,
    pub fds: Option<u64>,
    /// Memory it shares with other processes (RSS less USS), when both
    /// are read: what copy-on-write still keeps of the parent's.
    pub shared: Option<u64>,
    /// How fast its memory grows, once it has three readings.
    pub growth: Option<Growth>,
    /// How the slot's previous worker ended: a reason name, `left` (on its
    /// own account) or `crash`; None before any ended.
    pub last_exit: Option<&'static str>,
    /// Due for a soft recycle, waiting in line for a budget permit.
    pub waiting: bool,
    /// The rules rehearsed (`enforce`) that tripped in this generation:
    /// what would have been done to it, by reason name.
    pub would: Vec<&'static str>,
}

/// The container the master runs in, as it last read it
/// (`container_memory`). Sizes in bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerStats {
    /// False when the latest reading failed (no memory cgroup, an
    /// unreadable file, a limit of 0): the figures are then unknown, and
    /// nothing is recycled for the container.
    pub known: bool,
    pub limit: Option<u64>,
    pub working_set: Option<u64>,
    pub anon: Option<u64>,
    pub file: Option<u64>,
    pub headroom: Option<u64>,
    /// The working set at which a worker is recycled (limit minus headroom).
    pub recycle_at: Option<u64>,
    /// The cgroup's own count of OOM kills (any of its processes).
    pub oom_kills: Option<u64>,
    /// Memory pressure: the share of the last 10 s some task waited for
    /// memory, in percent (cgroup v2 only).
    pub pressure_some_avg10: Option<f64>,
}

/// A memory limit as it stands: the setting, and the bytes it is now (a
/// relative one resolved against the parent's reading; None while there
/// is no reading: the rule waits).
#[derive(Clone, Debug, PartialEq)]
pub struct LimitStats {
    pub key: &'static str,
    pub setting: String,
    pub bytes: Option<u64>,
}

/// The parent's reading that relative limits resolve against.
#[derive(Clone, Debug, PartialEq)]
pub struct ParentStats {
    pub pid: u32,
    pub rss: Option<u64>,
    pub uss: Option<u64>,
    pub pss: Option<u64>,
    /// Seconds since the pool's epoch.
    pub read_at: f64,
}

/// A snapshot of a pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub slots: u32,
    pub vacant: u32,
    pub running: u32,
    pub draining: u32,
    /// Workers that marked their slot on the way out.
    pub exiting: u32,
    pub requests_total: u64,
    pub spawns: u64,
    pub exits: u64,
    pub crashes: u64,
    pub crash_loops: u64,
    /// Crashes the kernel's OOM killer caused (in `crashes` too).
    pub oom_kills: u64,
    /// Workers refused a slot because every slot held a live worker (they
    /// run unsupervised: the pool is too small for the server).
    pub no_free_slot: u64,
    /// Replacements started before a retirement (`max_surge`).
    pub replacements: u64,
    /// Replacements killed for not being ready within `ready_timeout`.
    pub ready_timeouts: u64,
    /// Rolling-budget permits held now (workers draining under a permit).
    pub permits_held: u64,
    /// Recycles granted and kills decided, by reason.
    pub recycles: Vec<(Reason, u64)>,
    /// `enforce`, as the spec string writes it (`all`, `off`,
    /// `request_timeout+max_rss`).
    pub enforce: String,
    /// Rules rehearsed (`enforce`) that tripped, by reason: once per
    /// generation and reason, what would have been recycled or killed.
    pub would: Vec<(Reason, u64)>,
    pub requests_at_recycle: Histogram,
    pub uptime_at_recycle: Histogram,
    pub per_slot: Vec<SlotStats>,
    /// None until the master has read its container (`container_memory`).
    pub container: Option<ContainerStats>,
    /// The memory limits set (`max_rss`, `max_uss`, `max_pss`).
    pub memory_limits: Vec<LimitStats>,
    /// The parent's reading, once read (relative limits, `min_sharing`).
    pub parent: Option<ParentStats>,
    /// The workers' mean share of the parent's memory (0..=1), once the
    /// parent and a worker's USS are read (`rules/sharing.rs`).
    pub sharing: Option<f64>,
}

fn reading(v: u64) -> Option<u64> {
    (v != NONE).then_some(v)
}

/// The container words as stats; None before any reading.
fn container(w: &crate::table::layout::ContainerWords) -> Option<ContainerStats> {
    use crate::table::layout::container_state;
    let known = match w.state.load(Relaxed) {
        container_state::UNREAD => return None,
        container_state::READ => true,
        // FAILED, or a word written over: unknown.
        _ => false,
    };
    let get = |a: &std::sync::atomic::AtomicU64| reading(a.load(Relaxed)).filter(|_| known);
    Some(ContainerStats {
        known,
        limit: get(&w.limit),
        working_set: get(&w.working_set),
        anon: get(&w.anon),
        file: get(&w.file),
        headroom: get(&w.headroom),
        recycle_at: get(&w.threshold),
        oom_kills: get(&w.oom_kills),
        pressure_some_avg10: get(&w.pressure).map(|p| p as f64 / 100.0),
    })
}

impl Pool {
    /// A snapshot of the pool's counters and slots.
    pub fn stats(&self) -> Stats {
        self.snapshot(true)
    }

    /// A snapshot whose `per_slot` lists only the slots a worker holds
    /// (vacant ones are counted in `vacant`): what a view of a pool of a
    /// million slots needs, in time and memory bounded by its workers.
    pub fn stats_occupied(&self) -> Stats {
        self.snapshot(false)
    }

    fn snapshot(&self, list_vacant: bool) -> Stats {
        snapshot(self.core(), list_vacant)
    }

    /// The stats as a JSON document.
    pub fn stats_json(&self) -> String {
        stats_json(&self.stats())
    }

    /// `stats_json` with only the occupied slots in `per_slot` (the vacant
    /// ones counted in `workers.vacant`); see `stats_occupied`.
    pub fn stats_json_occupied(&self) -> String {
        stats_json(&self.stats_occupied())
    }

    /// The stats in Prometheus text exposition format (version 0.0.4).
    ///
    /// Growth, per slot with an estimate (label `metric`: the reading
    /// fitted): `workerlife_slot_memory_growth_bytes_per_request`,
    /// `workerlife_slot_memory_growth_bytes_per_second`,
    /// `workerlife_slot_memory_seconds_to_limit`.
    pub fn prometheus(&self) -> String {
        prometheus(&self.stats())
    }
}

/// A snapshot in Prometheus text exposition format (see `Pool::prometheus`).
pub(crate) fn prometheus(st: &Stats) -> String {
    let mut o = String::new();
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(
            o,
            "# HELP workerlife_{name} {help}\n# TYPE workerlife_{name} {kind}"
        );
    };
    family(
        &mut o,
        "recycles_total",
        "counter",
        "Workers told to recycle or killed, by reason.",
    );
    for (r, n) in &st.recycles {
        let _ = writeln!(o, "workerlife_recycles_total{{reason=\"{r}\"}} {n}");
    }
    // A dress rehearsal's counts (`enforce`), split as the actions are.
    for (action, name, help) in [
        (
            Action::Recycle,
            "would_recycle_total",
            "Workers a rule not enforced would have recycled (once per generation and reason), by reason.",
        ),
        (
            Action::Kill,
            "would_kill_total",
            "Workers a rule not enforced would have killed (once per generation and reason), by reason.",
        ),
    ] {
        family(&mut o, name, "counter", help);
        for (r, n) in st.would.iter().filter(|(r, _)| r.action() == action && !r.always_enforced()) {
            let _ = writeln!(o, "workerlife_{name}{{reason=\"{r}\"}} {n}");
        }
    }
    family(&mut o, "workers", "gauge", "Worker slots by state.");
    for (name, n) in [
        ("vacant", st.vacant),
        ("running", st.running),
        ("draining", st.draining),
        ("exiting", st.exiting),
    ] {
        let _ = writeln!(o, "workerlife_workers{{state=\"{name}\"}} {n}");
    }
    for (name, help, v) in [
        (
            "requests_total",
            "Requests ended in every worker.",
            st.requests_total,
        ),
        ("spawns_total", "Workers started.", st.spawns),
        ("exits_total", "Workers gone.", st.exits),
        (
            "crashes_total",
            "Exits the pool did not ask for.",
            st.crashes,
        ),
        (
            "crash_loops_total",
            "Respawns put into backoff.",
            st.crash_loops,
        ),
        (
            "oom_kills_total",
            "Workers the kernel's OOM killer ended (counted in crashes_total too).",
            st.oom_kills,
        ),
        (
            "no_free_slot_total",
            "Workers refused a slot because every slot held a live worker (they run unsupervised).",
            st.no_free_slot,
        ),
        (
            "replacements_total",
            "Replacements started before a worker retired (max_surge).",
            st.replacements,
        ),
        (
            "ready_timeouts_total",
            "Replacements killed for not being ready within ready_timeout.",
            st.ready_timeouts,
        ),
    ] {
        family(&mut o, name, "counter", help);
        let _ = writeln!(o, "workerlife_{name} {v}");
    }
    for (name, help, h) in [
        (
            "requests_at_recycle",
            "Requests a worker had served when told to recycle.",
            &st.requests_at_recycle,
        ),
        (
            "uptime_at_recycle_seconds",
            "Worker age when told to recycle.",
            &st.uptime_at_recycle,
        ),
    ] {
        family(&mut o, name, "histogram", help);
        let mut cumulative = 0;
        for (i, n) in h.counts.iter().enumerate() {
            cumulative += n;
            let le = h
                .bounds
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(o, "workerlife_{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(
            o,
            "workerlife_{name}_sum {}\nworkerlife_{name}_count {cumulative}",
            h.sum
        );
    }
    family(
        &mut o,
        "recycle_permits",
        "gauge",
        "Rolling-budget permits held by draining workers.",
    );
    let _ = writeln!(o, "workerlife_recycle_permits {}", st.permits_held);
    family(
        &mut o,
        "slot_requests",
        "gauge",
        "Requests served by the slot's current worker.",
    );
    for s in &st.per_slot {
        let _ = writeln!(
            o,
            "workerlife_slot_requests{{slot=\"{}\"}} {}",
            s.slot, s.requests
        );
    }
    for (name, help, pick) in [
        (
            "slot_rss_bytes",
            "The slot worker's latest RSS reading.",
            (|s: &SlotStats| s.rss) as fn(&SlotStats) -> Option<u64>,
        ),
        (
            "slot_uss_bytes",
            "The slot worker's latest USS reading.",
            |s| s.uss,
        ),
        (
            "slot_pss_bytes",
            "The slot worker's latest PSS reading.",
            |s| s.pss,
        ),
        (
            "slot_open_fds",
            "The slot worker's latest open FD count.",
            |s| s.fds,
        ),
    ] {
        family(&mut o, name, "gauge", help);
        for s in &st.per_slot {
            if let Some(v) = pick(s) {
                let _ = writeln!(o, "workerlife_{name}{{slot=\"{}\"}} {v}", s.slot);
            }
        }
    }
    if let Some(c) = st.container.as_ref().filter(|c| c.known) {
        // Named as cAdvisor names them (dashboards graph
        // container_memory_working_set_bytes), under this exporter's
        // prefix: the same names unprefixed would collide with the
        // kubelet's own series.
        for (name, help, v) in [
            (
                "container_spec_memory_limit_bytes",
                "The container's memory limit (cgroup).",
                c.limit.map(|v| v as f64),
            ),
            (
                "container_memory_working_set_bytes",
                "The container's working set: usage minus inactive file cache.",
                c.working_set.map(|v| v as f64),
            ),
            (
                "container_memory_rss",
                "The container's anonymous memory.",
                c.anon.map(|v| v as f64),
            ),
            (
                "container_memory_cache",
                "The container's page cache.",
                c.file.map(|v| v as f64),
            ),
            (
                "container_memory_headroom_bytes",
                "How far below the limit the working set may rise (container_headroom).",
                c.headroom.map(|v| v as f64),
            ),
            (
                "container_memory_pressure_some_avg10",
                "Share of the last 10 s some task waited for memory, percent (cgroup v2).",
                c.pressure_some_avg10,
            ),
        ] {
            if let Some(v) = v {
                family(&mut o, name, "gauge", help);
                let _ = writeln!(o, "workerlife_{name} {v}");
            }
        }
        if let Some(v) = c.oom_kills {
            family(
                &mut o,
                "container_oom_events_total",
                "counter",
                "OOM kills in the container's cgroup (any process).",
            );
            let _ = writeln!(o, "workerlife_container_oom_events_total {v}");
        }
    }
    if let Some(v) = st.sharing {
        family(
            &mut o,
            "sharing_ratio",
            "gauge",
            "The workers' mean share of the parent's memory still shared (copy-on-write), 0 to 1.",
        );
        let _ = writeln!(o, "workerlife_sharing_ratio {v}");
    }
    family(
        &mut o,
        "slot_shared_bytes",
        "gauge",
        "Memory the slot worker shares with other processes (RSS less USS).",
    );
    for s in &st.per_slot {
        if let Some(v) = s.shared {
            let _ = writeln!(o, "workerlife_slot_shared_bytes{{slot=\"{}\"}} {v}", s.slot);
        }
    }
    for (name, help, pick) in [
        (
            "slot_memory_growth_bytes_per_request",
            "How fast the slot worker's memory grows per request (Theil-Sen fit over its life).",
            (|g: &Growth| g.per_request) as fn(&Growth) -> Option<f64>,
        ),
        (
            "slot_memory_growth_bytes_per_second",
            "How fast the slot worker's memory grows per second (Theil-Sen fit over its life).",
            |g| Some(g.per_second),
        ),
        (
            "slot_memory_seconds_to_limit",
            "Predicted seconds until the slot worker's memory reaches its limit.",
            |g| g.to_limit.map(|d| d.as_secs_f64()),
        ),
    ] {
        family(&mut o, name, "gauge", help);
        for s in &st.per_slot {
            if let Some(v) = s.growth.as_ref().and_then(pick) {
                let metric = s.growth.map_or("rss", |g| g.metric.as_str());
                let _ = writeln!(
                    o,
                    "workerlife_{name}{{slot=\"{}\",metric=\"{metric}\"}} {v}",
                    s.slot
                );
            }
        }
    }
    o
}

/// A snapshot of the pool `core` holds: the pool handle's, or a stats
/// server's that outlives the handle.
pub(crate) fn snapshot(core: &Core, list_vacant: bool) -> Stats {
    let c = &core.header().counters;
    let now = core.now();
    let mut st = Stats {
        slots: core.slots().len() as u32,
        vacant: 0,
        running: 0,
        draining: 0,
        exiting: 0,
        requests_total: c.retired_requests.load(Relaxed),
        spawns: c.spawns.load(Relaxed),
        exits: c.exits.load(Relaxed),
        crashes: c.crashes.load(Relaxed),
        crash_loops: c.crash_loops.load(Relaxed),
        oom_kills: c.oom_kills.load(Relaxed),
        no_free_slot: c.no_free_slot.load(Relaxed),
        replacements: c.replacements.load(Relaxed),
        ready_timeouts: c.ready_timeouts.load(Relaxed),
        permits_held: crate::table::budget::draining(&core.header().budget),
        recycles: Reason::ALL
            .iter()
            .map(|r| (*r, c.by_reason[*r as usize].load(Relaxed)))
            .collect(),
        enforce: Key::Enforce.format_value(core.limits.enforce),
        would: Reason::ALL
            .iter()
            .map(|r| (*r, c.would_by_reason[*r as usize].load(Relaxed)))
            .collect(),
        requests_at_recycle: Histogram {
            bounds: REQUEST_BUCKETS.iter().map(|&b| b as f64).collect(),
            counts: c.requests_hist.iter().map(|a| a.load(Relaxed)).collect(),
            sum: c.requests_sum.load(Relaxed) as f64,
        },
        uptime_at_recycle: Histogram {
            bounds: UPTIME_BUCKETS.iter().map(|&b| b as f64).collect(),
            counts: c.uptime_hist.iter().map(|a| a.load(Relaxed)).collect(),
            sum: c.uptime_sum_us.load(Relaxed) as f64 / 1e6,
        },
        // Every slot's row, or only the workers' (grown as they come).
        per_slot: Vec::with_capacity(if list_vacant { core.slots().len() } else { 0 }),
        container: container(&core.header().container),
        memory_limits: memory_limits(core),
        parent: parent(&core.header().parent),
        sharing: crate::rules::sharing::of(core).map(|s| s.ratio),
    };
    for (i, s) in core.slots().iter().enumerate() {
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        let requests = s.requests.load(Relaxed);
        st.requests_total = st.requests_total.saturating_add(requests);
        let name = match gs.state {
            state::RUNNING | state::DRAINING if gs.has(flag::EXITING) => {
                st.exiting += 1;
                "exiting"
            }
            state::RUNNING => {
                st.running += 1;
                "running"
            }
            state::DRAINING => {
                st.draining += 1;
                "draining"
            }
            _ => {
                st.vacant += 1;
                "vacant"
            }
        };
        let live = gs.state != state::VACANT;
        if !live && !list_vacant {
            continue;
        }
        st.per_slot.push(SlotStats {
            slot: i as u32,
            state: name,
            pid: if live { s.pid.load(Relaxed) } else { 0 },
            generation: gs.generation,
            requests,
            in_flight: Activity::of(s).in_flight,
            uptime_secs: if live {
                now.saturating_sub(s.spawned_at.load(Relaxed)) as f64 / 1e6
            } else {
                0.0
            },
            rss: reading(s.rss.load(Relaxed)),
            uss: reading(s.uss.load(Relaxed)),
            pss: reading(s.pss.load(Relaxed)),
            fds: reading(s.fds.load(Relaxed)),
            shared: crate::rules::sharing::shared(s.rss.load(Relaxed), s.uss.load(Relaxed)),
            last_exit: crate::rules::decision::last_exit_name(s.last_exit.load(Relaxed)),
            waiting: live && gs.state == state::RUNNING && gs.has(flag::WAITING),
            // A word any worker can write: bits that name no reason are left
            // out. Most slots have none (looked at first: a pool may have a
            // million slots).
            would: match s.would.load(Relaxed) {
                bits if live && bits != 0 => crate::rules::rehearsal::reasons(bits)
                    .map(Reason::as_str)
                    .collect(),
                _ => Vec::new(),
            },
            growth: if live { core.growth(s) } else { None },
        });
    }
    st
}

/// The memory limits set, as they stand now.
fn memory_limits(core: &Core) -> Vec<LimitStats> {
    let m = core.memory();
    [
        (Key::MaxRss, m.rss),
        (Key::MaxUss, m.uss),
        (Key::MaxPss, m.pss),
    ]
    .into_iter()
    .filter(|(k, _)| core.policy.raw(*k) != 0)
    .map(|(k, bytes)| LimitStats {
        key: k.name(),
        setting: k.format_value(core.policy.raw(k)),
        bytes: (bytes > 0).then_some(bytes),
    })
    .collect()
}

fn parent(w: &crate::table::layout::ParentWords) -> Option<ParentStats> {
    let pid = w.pid.load(Relaxed);
    let some = |v: u64| (v > 0).then_some(v);
    (pid > 0).then(|| ParentStats {
        pid: u32::try_from(pid).unwrap_or(0),
        rss: some(w.rss.load(Relaxed)),
        uss: some(w.uss.load(Relaxed)),
        pss: some(w.pss.load(Relaxed)),
        read_at: w.read_at.load(Relaxed) as f64 / 1e6,
    })
}

/// Writes `$v` as serde_json does (numbers, strings escaped, non-finite
/// floats as null). A macro: serde's Serialize, which a generic function
/// would need to name, is not a dependency of this crate. Writing into a Vec
/// cannot fail.
macro_rules! put {
    ($out:expr, $v:expr) => {
        serde_json::to_writer(&mut *$out, $v).expect("writing JSON into a Vec")
    };
}

/// The JSON document of a snapshot (see `Pool::stats_json`): the keys of
/// each object sorted, as a `serde_json::Value` writes them. The summary is
/// such a Value; `per_slot` is written straight into the buffer, slot by
/// slot, in its sorted place: a Value per slot (a map of 14 keys, each an
/// allocated String) made a pool of a million slots take tens of seconds,
/// most of it in malloc and page faults.
pub(crate) fn stats_json(st: &Stats) -> String {
    let serde_json::Value::Object(summary) = summary_json(st) else {
        unreachable!("summary_json makes an object")
    };
    // About 250 bytes per slot (a vacant one is ~230).
    let mut out = Vec::with_capacity(1024 + 256 * st.per_slot.len());
    out.push(b'{');
    let mut slots_written = false;
    for (i, (key, value)) in summary.iter().enumerate() {
        if !slots_written && key.as_str() > "per_slot" {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"\"per_slot\":");
            per_slot_json(&mut out, &st.per_slot);
            slots_written = true;
        }
        if i > 0 || slots_written {
            out.push(b',');
        }
        put!(&mut out, key);
        out.push(b':');
        put!(&mut out, value);
    }
    if !slots_written {
        if !summary.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"per_slot\":");
        per_slot_json(&mut out, &st.per_slot);
    }
    out.push(b'}');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The `per_slot` array: each slot's object with its keys in sorted order,
/// the order of a `serde_json::Value`'s map.
fn per_slot_json(out: &mut Vec<u8>, slots: &[SlotStats]) {
    out.push(b'[');
    for (i, s) in slots.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"fds\":");
        put!(out, &s.fds);
        out.extend_from_slice(b",\"generation\":");
        put!(out, &s.generation);
        out.extend_from_slice(b",\"growth\":");
        match &s.growth {
            Some(g) => put!(out, &growth_json(g)),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"in_flight\":");
        put!(out, &s.in_flight);
        out.extend_from_slice(b",\"last_exit\":");
        put!(out, &s.last_exit);
        out.extend_from_slice(b",\"pid\":");
        put!(out, &s.pid);
        out.extend_from_slice(b",\"pss\":");
        put!(out, &s.pss);
        out.extend_from_slice(b",\"requests\":");
        put!(out, &s.requests);
        out.extend_from_slice(b",\"rss\":");
        put!(out, &s.rss);
        out.extend_from_slice(b",\"shared\":");
        put!(out, &s.shared);
        out.extend_from_slice(b",\"slot\":");
        put!(out, &s.slot);
        out.extend_from_slice(b",\"state\":");
        put!(out, s.state);
        out.extend_from_slice(b",\"uptime\":");
        put!(out, &s.uptime_secs);
        out.extend_from_slice(b",\"uss\":");
        put!(out, &s.uss);
        out.extend_from_slice(b",\"waiting\":");
        put!(out, &s.waiting);
        out.extend_from_slice(b",\"would\":");
        put!(out, &s.would);
        out.push(b'}');
    }
    out.push(b']');
}

/// Everything in the document but `per_slot`.
fn summary_json(st: &Stats) -> serde_json::Value {
    let hist = |h: &Histogram| {
        json!({
            "bounds": h.bounds,
            "counts": h.counts,
            "count": h.count(),
            "sum": h.sum,
        })
    };
    let recycles: serde_json::Map<String, serde_json::Value> = st
        .recycles
        .iter()
        .map(|(r, n)| (r.as_str().to_string(), json!(n)))
        .collect();
    let would: serde_json::Map<String, serde_json::Value> = st
        .would
        .iter()
        .map(|(r, n)| (r.as_str().to_string(), json!(n)))
        .collect();
    json!({
        "slots": st.slots,
        "workers": {"vacant": st.vacant, "running": st.running, "draining": st.draining, "exiting": st.exiting},
        "requests_total": st.requests_total,
        "spawns": st.spawns,
        "exits": st.exits,
        "crashes": st.crashes,
        "crash_loops": st.crash_loops,
        "oom_kills": st.oom_kills,
        "no_free_slot": st.no_free_slot,
        "replacements": st.replacements,
        "ready_timeouts": st.ready_timeouts,
        "permits_held": st.permits_held,
        "recycles": recycles,
        "enforce": st.enforce,
        "would": would,
        "requests_at_recycle": hist(&st.requests_at_recycle),
        "uptime_at_recycle_seconds": hist(&st.uptime_at_recycle),
        "memory_limits": st.memory_limits.iter().map(|l| (l.key.to_string(), json!({
            "setting": l.setting,
            "bytes": l.bytes,
        }))).collect::<serde_json::Map<_, _>>(),
        "sharing": st.sharing,
        "parent": st.parent.as_ref().map(|p| json!({
            "pid": p.pid,
            "rss_bytes": p.rss,
            "uss_bytes": p.uss,
            "pss_bytes": p.pss,
            "read_at_seconds": p.read_at,
        })),
        "container": st.container.as_ref().map(|c| json!({
            "known": c.known,
            "limit_bytes": c.limit,
            "working_set_bytes": c.working_set,
            "anon_bytes": c.anon,
            "file_bytes": c.file,
            "headroom_bytes": c.headroom,
            "recycle_at_bytes": c.recycle_at,
            "oom_kills": c.oom_kills,
            "pressure_some_avg10": c.pressure_some_avg10,
        })),
    })
}

/// One worker's growth estimate as JSON (bytes, seconds; null when not
/// known).
pub(crate) fn growth_json(g: &Growth) -> serde_json::Value {
    json!({
        "metric": g.metric.as_str(),
        "bytes_per_request": g.per_request,
        "bytes_per_second": g.per_second,
        "requests": g.requests,
        "seconds": g.seconds,
        "samples": g.samples,
        "seconds_to_limit": g.to_limit.map(|d| d.as_secs_f64()),
        "requests_to_limit": g.requests_to_limit,
        "text": g.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::growth::Metric;
    use std::time::Duration;

    /// The document as it was built before `per_slot` was written slot by
    /// slot: the whole of it one `serde_json::Value`.
    fn as_one_value(st: &Stats) -> String {
        let serde_json::Value::Object(mut doc) = summary_json(st) else {
            unreachable!()
        };
        let slots: Vec<_> = st
            .per_slot
            .iter()
            .map(|s| {
                json!({
                    "slot": s.slot, "state": s.state, "pid": s.pid,
                    "generation": s.generation, "requests": s.requests,
                    "in_flight": s.in_flight, "uptime": s.uptime_secs,
                    "rss": s.rss, "uss": s.uss, "pss": s.pss, "fds": s.fds,
                    "shared": s.shared,
                    "growth": s.growth.map(|g| growth_json(&g)),
                    "last_exit": s.last_exit,
                    "waiting": s.waiting,
                    "would": s.would,
                })
            })
            .collect();
        doc.insert("per_slot".into(), json!(slots));
        serde_json::Value::Object(doc).to_string()
    }

    fn slot(i: u32) -> SlotStats {
        SlotStats {
            slot: i,
            state: "vacant",
            pid: 0,
            generation: i,
            requests: 0,
            in_flight: 0,
            uptime_secs: 0.0,
            rss: None,
            uss: None,
            pss: None,
            fds: None,
            shared: None,
            growth: None,
            last_exit: None,
            waiting: false,
            would: Vec::new(),
        }
    }

    fn stats(per_slot: Vec<SlotStats>, container: Option<ContainerStats>) -> Stats {
        Stats {
            slots: per_slot.len() as u32,
            vacant: 1,
            running: 2,
            draining: 3,
            exiting: 4,
            requests_total: u64::MAX,
            spawns: 5,
            exits: 6,
            crashes: 7,
            crash_loops: 8,
            oom_kills: 9,
            no_free_slot: 10,
            replacements: 11,
            ready_timeouts: 12,
            permits_held: 13,
            recycles: Reason::ALL.iter().map(|r| (*r, *r as u64 * 3)).collect(),
            enforce: "request_timeout+max_rss".into(),
            would: Reason::ALL.iter().map(|r| (*r, *r as u64 * 5)).collect(),
            requests_at_recycle: Histogram {
                bounds: vec![1.0, 10.0],
                counts: vec![1, 2, 3],
                sum: 12.5,
            },
            uptime_at_recycle: Histogram {
                bounds: vec![0.5],
                counts: vec![0, 4],
                sum: 1e300,
            },
            per_slot,
            container,
            memory_limits: vec![LimitStats {
                key: "max_uss",
                setting: "3x".into(),
                bytes: None,
            }],
            parent: None,
            sharing: Some(0.5),
        }
    }

    #[test]
    fn the_json_is_the_document_one_value_gives() {
        let growth = Growth {
            metric: Metric::Pss,
            per_request: Some(6553.6),
            per_second: -0.25,
            requests: 48_000,
            seconds: 1e-7,
            samples: 9,
            to_limit: Some(Duration::from_millis(1500)),
            requests_to_limit: Some(u64::MAX),
        };
        let slots = vec![
            slot(0),
            SlotStats {
                state: "running",
                pid: 4242,
                requests: 17,
                in_flight: 2,
                uptime_secs: 3.000001,
                rss: Some(1 << 30),
                uss: Some(0),
                pss: Some(u64::MAX),
                fds: Some(12),
                growth: Some(growth),
                last_exit: Some("max_rss"),
                waiting: true,
                shared: Some(1 << 30),
                would: vec!["max_requests", "idle"],
                ..slot(1)
            },
            SlotStats {
                state: "draining",
                uptime_secs: f64::NAN,
                growth: Some(Growth {
                    per_request: None,
                    per_second: f64::INFINITY,
                    to_limit: None,
                    requests_to_limit: None,
                    ..growth
                }),
                last_exit: Some("crash"),
                ..slot(u32::MAX)
            },
            SlotStats {
                state: "exiting",
                uptime_secs: -0.0,
                ..slot(3)
            },
        ];
        let container = ContainerStats {
            known: true,
            limit: Some(1 << 31),
            working_set: Some(5),
            anon: None,
            file: Some(0),
            headroom: Some(7),
            recycle_at: None,
            oom_kills: Some(1),
            pressure_some_avg10: Some(0.07),
        };
        for st in [
            stats(slots.clone(), Some(container)),
            stats(slots[..1].to_vec(), None),
            stats(Vec::new(), None),
        ] {
            assert_eq!(stats_json(&st), as_one_value(&st));
        }
        // And a real pool's, vacant slots and a worker.
        let pool = Pool::shared(&crate::Policy::parse("max_rss=1GiB").unwrap(), 3).unwrap();
        let _w = pool.claim(std::process::id()).unwrap();
        for st in [pool.stats(), pool.stats_occupied()] {
            assert_eq!(stats_json(&st), as_one_value(&st));
        }
    }
}
