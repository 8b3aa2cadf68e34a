//! The C-visible enums and structs. Enum values cross the boundary as
//! `uint32_t` fields and parameters (a C caller may pass any number, and an
//! out-of-range Rust enum would be undefined behaviour); the enums give the
//! header its named constants.

#![allow(non_camel_case_types)]

use std::ffi::c_char;
use workerlife::process::{Reading, Sample};
use workerlife::{Action, Decision, Reason};
use workerlife::{Event, PoolAction};

/// A reading that is absent (`wl_health`, `wl_event.rss`), or not asked for
/// (`wl_sample`).
pub const WL_NO_READING: u64 = u64::MAX;
/// In a `wl_sample`: the kernel refused (another user's process).
pub const WL_READING_DENIED: u64 = u64::MAX - 1;
/// In a `wl_sample`: the platform cannot read it (no `/proc`).
pub const WL_READING_UNSUPPORTED: u64 = u64::MAX - 2;

/// What a worker should do.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wl_action {
    WL_ACTION_CONTINUE = 0,
    /// Finish what is in flight, then exit.
    WL_ACTION_RECYCLE = 1,
    /// Stop now.
    WL_ACTION_KILL = 2,
}

/// Why; the numbers are also the priority order.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wl_reason {
    WL_REASON_NONE = 0,
    WL_REASON_REQUEST_TIMEOUT = 1,
    WL_REASON_HEARTBEAT_TIMEOUT = 2,
    WL_REASON_DRAIN_TIMEOUT = 3,
    WL_REASON_MANUAL = 4,
    WL_REASON_MEMORY_RSS = 5,
    WL_REASON_MEMORY_USS = 6,
    WL_REASON_MEMORY_PSS = 7,
    WL_REASON_OPEN_FDS = 8,
    WL_REASON_HEALTH_CHECK = 9,
    WL_REASON_MAX_REQUESTS = 10,
    WL_REASON_MAX_LIFETIME = 11,
    WL_REASON_IDLE = 12,
    /// A replacement not ready within `ready_timeout` (kill).
    WL_REASON_READY_TIMEOUT = 13,
    /// Predicted to reach its memory limit within `memory_forecast` (recycle).
    WL_REASON_MEMORY_FORECAST = 14,
    /// Picked to free memory before the container's limit
    /// (`container_memory`): recycled ahead of the line, killed if the
    /// working set keeps rising.
    WL_REASON_CONTAINER_MEMORY = 15,
}

/// What `wl_pool_tick` tells the master to do.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wl_pool_action_kind {
    /// Send the worker its graceful signal.
    WL_DO_RECYCLE = 1,
    /// Send the worker its forceful signal.
    WL_DO_KILL = 2,
    /// Start a worker for the slot (then call `wl_pool_spawned`).
    WL_DO_SPAWN = 3,
}

/// What an event records.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wl_event_kind {
    WL_EVENT_SPAWNED = 1,
    WL_EVENT_RECYCLE_REQUESTED = 2,
    WL_EVENT_KILLED = 3,
    WL_EVENT_EXITED = 4,
    WL_EVENT_CRASH_LOOP = 5,
    WL_EVENT_HEALTH_CHECK_FAILED = 6,
    /// A recycle or kill was due for a slot whose pid is not one of the
    /// master's children (`wl_pool_spawned`, `wl_pool_adopt`): nothing to
    /// signal was returned.
    WL_EVENT_REFUSED = 7,
    /// A replacement was started for a worker due to retire (`max_surge`).
    WL_EVENT_REPLACING = 8,
    /// A replacement became ready (`delay_us`: how long it took).
    WL_EVENT_READY = 9,
    /// No replacement was started (`max_surge`): a fresh worker would not
    /// fit under the container's limit minus its headroom; the worker
    /// retires first.
    WL_EVENT_RETIRE_FIRST = 10,
    /// A worker due for a soft recycle waits for a permit of the rolling
    /// budget and serves on meanwhile; once per generation.
    WL_EVENT_RECYCLE_WAITING = 11,
    /// The container's working set is at its threshold but its largest
    /// worker is no bigger than a fresh one: none is recycled for it (the
    /// limit cannot hold this pool). Once per run over the threshold.
    WL_EVENT_CONTAINER_TOO_SMALL = 12,
    /// A rule that does not act (`enforce`) tripped: the worker would have
    /// been recycled, and serves on. Once per generation and reason.
    WL_EVENT_WOULD_RECYCLE = 13,
    /// A kill rule that does not act (`enforce`) tripped: the worker would
    /// have been killed, and serves on. Once per generation and reason.
    WL_EVENT_WOULD_KILL = 14,
    /// The workers' mean share of the parent's memory fell below
    /// `min_sharing` (`value`, `limit`: hundredths of a percent). Again only
    /// after it recovered.
    WL_EVENT_SHARING_LOW = 15,
}

/// A policy key, in spec-string order (see docs/policy.md for each default).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wl_key {
    WL_KEY_REQUEST_TIMEOUT = 0,
    WL_KEY_HEARTBEAT_TIMEOUT = 1,
    WL_KEY_MAX_RSS = 2,
    WL_KEY_MAX_USS = 3,
    WL_KEY_MAX_PSS = 4,
    WL_KEY_MAX_FDS = 5,
    WL_KEY_MAX_HEALTH_FAILURES = 6,
    WL_KEY_MAX_REQUESTS = 7,
    WL_KEY_MAX_REQUESTS_JITTER = 8,
    WL_KEY_MAX_LIFETIME = 9,
    WL_KEY_LIFETIME_JITTER = 10,
    WL_KEY_MAX_IDLE = 11,
    WL_KEY_MIN_LIFETIME = 12,
    WL_KEY_DRAIN_TIMEOUT = 13,
    WL_KEY_MAX_CONCURRENT_RECYCLES = 14,
    WL_KEY_MIN_RECYCLE_INTERVAL = 15,
    WL_KEY_MIN_UPTIME = 16,
    WL_KEY_MAX_RESTARTS = 17,
    WL_KEY_RESTART_WINDOW = 18,
    WL_KEY_BACKOFF_INITIAL = 19,
    WL_KEY_BACKOFF_MAX = 20,
    WL_KEY_SAMPLE_INTERVAL = 21,
    WL_KEY_MAX_SURGE = 22,
    WL_KEY_READY_TIMEOUT = 23,
    WL_KEY_MAX_POOL_RSS = 24,
    WL_KEY_MEMORY_SUSTAIN = 25,
    WL_KEY_MEMORY_FORECAST = 26,
    WL_KEY_CONTAINER_MEMORY = 27,
    WL_KEY_CONTAINER_HEADROOM = 28,
    WL_KEY_ENFORCE = 29,
    WL_KEY_MIN_SHARING = 30,
}

/// How a key's raw value is counted.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wl_unit {
    WL_UNIT_BYTES = 0,
    WL_UNIT_MICROSECONDS = 1,
    WL_UNIT_COUNT = 2,
}

/// Where a pool's memory lives.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wl_sharing {
    /// This process only.
    WL_SHARING_PRIVATE = 0,
    /// Shared anonymous memory: create before `fork()`.
    WL_SHARING_SHARED = 1,
    /// A named file (`path`), attached by workers started with exec.
    WL_SHARING_NAMED = 2,
}

/// What reaping did to one orphan.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wl_reap_outcome {
    WL_REAP_TERMINATED = 1,
    WL_REAP_KILLED = 2,
    WL_REAP_ALREADY_GONE = 3,
    /// The pid names another process now; nothing was sent.
    WL_REAP_PID_REUSED = 4,
    /// The kernel refused the signal (`error_number`).
    WL_REAP_REFUSED = 5,
    /// The record has no start time: a bare pid is never signalled.
    WL_REAP_UNKNOWN_IDENTITY = 6,
}

/// What `wl_wait_released` found still held.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wl_held_kind {
    WL_HELD_NOTHING = 0,
    WL_HELD_PROCESS = 1,
    WL_HELD_PORT = 2,
}

/// A decision: `action` is a `wl_action`, `reason` a `wl_reason`; `value`
/// and `limit` are what tripped (bytes, microseconds or a count). Act on
/// `action` alone: `WL_ACTION_CONTINUE` with a reason is a rule rehearsed
/// (`enforce`), what would have been done, and the worker serves on.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wl_decision {
    pub action: u32,
    pub reason: u32,
    pub value: u64,
    pub limit: u64,
}

/// A worker's own readings; `WL_NO_READING` leaves the previous one.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wl_health {
    pub rss: u64,
    pub uss: u64,
    pub pss: u64,
    pub fds: u64,
}

/// No slot (`wl_pool_action.replaces` of an action that replaces none).
pub const WL_NO_SLOT: u32 = u32::MAX;
/// Set in a ticket (`wl_worker_begin_ticket`) when the request should be
/// the worker's last; `wl_worker_end_ticket` ignores it.
pub const WL_TICKET_LAST: u64 = 0x0010_0000_0000_0000;
/// Requests a worker's slot times at once (`wl_worker_begin_ticket`).
pub const WL_TICKETS: u32 = 16;

/// `container_memory=auto`, as `wl_policy_get_raw` gives it.
pub const WL_CONTAINER_AUTO: u64 = u64::MAX;

/// A `container_headroom` that is a percentage, as `wl_policy_get_raw`
/// gives it: this bit, with hundredths of a percent below it.
pub const WL_HEADROOM_PERCENT: u64 = 0x8000_0000_0000_0000;

/// A memory limit (`max_rss`, `max_uss`, `max_pss`) relative to the
/// parent's reading, as `wl_policy_get_raw` gives it: this bit, with the
/// multiple in hundredths below it (`3x`: 300).
pub const WL_RELATIVE_LIMIT: u64 = 0x8000_0000_0000_0000;

/// `enforce=all` (the default), as `wl_policy_get_raw` gives it; any other
/// value has bit `1 << reason` set for each `wl_reason` whose rule acts.
pub const WL_ENFORCE_ALL: u64 = u64::MAX;

/// A reading of the container's memory cgroup, for
/// `wl_pool_report_container`: bytes, or `WL_NO_READING` where unknown;
/// `pressure_some_avg10` in percent, NaN where unknown.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wl_container_reading {
    pub limit: u64,
    pub working_set: u64,
    pub anon: u64,
    pub file: u64,
    pub oom_kills: u64,
    pub pressure_some_avg10: f64,
}

/// One thing for the master to do. `kind` is a `wl_pool_action_kind`,
/// `reason` a `wl_reason`. `identity` is the worker's start time: pass it to
/// `wl_signal`. `not_before_us` is when a held-back respawn was due. For a
/// spawn, `replaces` is the slot whose worker the new one replaces
/// (`max_surge`: that worker retires once this one is ready), else
/// `WL_NO_SLOT`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wl_pool_action {
    pub kind: u32,
    pub slot: u32,
    pub pid: u32,
    pub reason: u32,
    pub generation: u32,
    pub replaces: u32,
    pub identity: u64,
    pub not_before_us: u64,
}

/// One event. `kind` is a `wl_event_kind`, `reason` a `wl_reason`. `rss` and
/// `delay_us` are `WL_NO_READING` when absent; `status` is meaningful when
/// `has_status`. For recycles, kills and exits, `growth_per_request` and
/// `growth_per_second` are how fast the worker's memory grew (bytes, a
/// Theil–Sen fit over its generation); NaN when not known, and then
/// `growth_requests` 0 and `growth_seconds` NaN too (requests and seconds
/// between the first and last reading fitted). `value` and `limit` are what
/// tripped, for recycles and kills (as in `wl_decision`); `WL_NO_READING`
/// otherwise. `wl_event_string` gives the line every host logs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wl_event {
    pub kind: u32,
    pub slot: u32,
    pub pid: u32,
    pub generation: u32,
    pub reason: u32,
    pub status: i32,
    pub has_status: bool,
    pub crash: bool,
    /// For exits: a crash by the kernel's OOM killer.
    pub oom_killed: bool,
    pub at_us: u64,
    pub uptime_us: u64,
    pub requests: u64,
    pub rss: u64,
    pub delay_us: u64,
    pub growth_per_request: f64,
    pub growth_per_second: f64,
    pub growth_requests: u64,
    pub growth_seconds: f64,
    pub value: u64,
    pub limit: u64,
}

/// One sample of a process: values, or `WL_NO_READING` (not asked for),
/// `WL_READING_DENIED`, `WL_READING_UNSUPPORTED`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wl_sample {
    pub pid: u32,
    pub start_time: u64,
    pub rss: u64,
    pub fds: u64,
    pub uss: u64,
    pub pss: u64,
}

/// How to build a pool: `sharing` is a `wl_sharing`; `path` is used (and
/// required) for `WL_SHARING_NAMED`; `seed` is used when `has_seed`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wl_pool_options {
    pub slots: u32,
    pub sharing: u32,
    pub path: *const c_char,
    pub manual_clock: bool,
    pub has_seed: bool,
    pub seed: u64,
}

/// One line of a reap report. `outcome` is a `wl_reap_outcome`; `found` is
/// the start time found for `WL_REAP_PID_REUSED`; `error_number` the errno
/// for `WL_REAP_REFUSED`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wl_reaped {
    pub pid: u32,
    pub outcome: u32,
    pub run_id: u64,
    pub start_time: u64,
    pub found: u64,
    pub error_number: i32,
}

pub(crate) fn reason_code(r: Option<Reason>) -> u32 {
    r.map_or(0, |r| r as u32)
}

impl From<Decision> for wl_decision {
    fn from(d: Decision) -> Self {
        wl_decision {
            action: u32::from(d.action.code()),
            reason: reason_code(d.reason),
            value: d.value,
            limit: d.limit,
        }
    }
}

impl wl_decision {
    /// Back to the engine's type; `None` for numbers that are no action.
    pub(crate) fn to_decision(self) -> Option<Decision> {
        let action = Action::from_code(u8::try_from(self.action).ok()?)?;
        let reason = match self.reason {
            0 => None,
            n => Some(Reason::from_code(u8::try_from(n).ok()?)?),
        };
        Some(Decision {
            action,
            reason,
            value: self.value,
            limit: self.limit,
        })
    }
}

impl From<PoolAction> for wl_pool_action {
    fn from(a: PoolAction) -> Self {
        wl_pool_action {
            kind: u32::from(a.kind.code()),
            slot: a.slot,
            pid: a.pid,
            reason: reason_code(a.reason),
            generation: a.generation,
            replaces: a.replaces.unwrap_or(WL_NO_SLOT),
            identity: a.identity,
            not_before_us: micros(a.not_before),
        }
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl From<Event> for wl_event {
    fn from(e: Event) -> Self {
        wl_event {
            kind: u32::from(e.kind.code()),
            slot: e.slot,
            pid: e.pid,
            generation: e.generation,
            reason: reason_code(e.reason),
            status: e.status.unwrap_or(0),
            has_status: e.status.is_some(),
            crash: e.crash,
            oom_killed: e.oom_killed,
            at_us: micros(e.at),
            uptime_us: micros(e.uptime),
            requests: e.requests,
            rss: e.rss.unwrap_or(WL_NO_READING),
            delay_us: e.delay.map_or(WL_NO_READING, micros),
            growth_per_request: e.growth.and_then(|g| g.per_request).unwrap_or(f64::NAN),
            growth_per_second: e.growth.map_or(f64::NAN, |g| g.per_second),
            growth_requests: e.growth.map_or(0, |g| g.requests),
            growth_seconds: e.growth.map_or(f64::NAN, |g| g.seconds),
            value: e.decision.map_or(WL_NO_READING, |d| d.value),
            limit: e.decision.map_or(WL_NO_READING, |d| d.limit),
        }
    }
}

impl wl_event {
    /// Back to the engine's type, as far as its line needs; `None` for
    /// numbers that are no event kind or reason.
    pub(crate) fn to_event(self) -> Option<Event> {
        let kind = workerlife::EventKind::from_code(u8::try_from(self.kind).ok()?)?;
        let reason = match self.reason {
            0 => None,
            n => Some(Reason::from_code(u8::try_from(n).ok()?)?),
        };
        let known = |v: u64| (v != WL_NO_READING).then_some(v);
        let decision = match (reason, known(self.value), known(self.limit)) {
            (Some(r), Some(value), Some(limit)) => Some(Decision {
                action: r.action(),
                reason: Some(r),
                value,
                limit,
            }),
            _ => None,
        };
        let growth = (!self.growth_per_second.is_nan()).then(|| workerlife::Growth {
            metric: workerlife::Metric::Rss,
            per_request: (!self.growth_per_request.is_nan()).then_some(self.growth_per_request),
            per_second: self.growth_per_second,
            requests: self.growth_requests,
            seconds: self.growth_seconds,
            samples: 0,
            to_limit: None,
            requests_to_limit: None,
        });
        let us = std::time::Duration::from_micros;
        Some(Event {
            kind,
            slot: self.slot,
            pid: self.pid,
            generation: self.generation,
            reason,
            at: us(self.at_us),
            uptime: us(self.uptime_us),
            requests: self.requests,
            rss: known(self.rss),
            status: self.has_status.then_some(self.status),
            crash: self.crash,
            oom_killed: self.oom_killed,
            delay: known(self.delay_us).map(us),
            decision,
            growth,
        })
    }
}

fn reading(r: Reading) -> u64 {
    match r {
        Reading::Value(v) => v.min(WL_READING_UNSUPPORTED - 1),
        Reading::NotRequested => WL_NO_READING,
        Reading::Denied => WL_READING_DENIED,
        Reading::Unsupported => WL_READING_UNSUPPORTED,
    }
}

impl From<&Sample> for wl_sample {
    fn from(s: &Sample) -> Self {
        wl_sample {
            pid: s.pid,
            start_time: reading(s.start_time),
            rss: reading(s.rss),
            fds: reading(s.fds),
            uss: reading(s.uss),
            pss: reading(s.pss),
        }
    }
}

/// Lists each public struct with its fields, in declaration order, and
/// makes from that one list the tables `wl_struct_size` and
/// `wl_struct_offset` answer from. A struct pattern without `..` must name
/// every field, so a field added to a struct and not here does not compile;
/// a struct missing here fails the header test.
macro_rules! layouts {
    ($($ty:ident { $($field:ident),* $(,)? })*) => {
        /// Every public struct's name in the header and its size.
        pub(crate) const STRUCT_SIZES: &[(&str, usize)] =
            &[$((stringify!($ty), std::mem::size_of::<$ty>()),)*];

        /// Every public struct's fields: (struct, field, offset).
        pub(crate) const STRUCT_FIELDS: &[(&str, &str, usize)] =
            &[$($((stringify!($ty), stringify!($field), std::mem::offset_of!($ty, $field)),)*)*];

        #[allow(dead_code)]
        fn every_field_is_listed() {
            $(let _ = |v: &$ty| {
                let $ty { $($field: _),* } = v;
            };)*
        }
    };
}

layouts! {
    wl_decision { action, reason, value, limit }
    wl_health { rss, uss, pss, fds }
    wl_container_reading { limit, working_set, anon, file, oom_kills, pressure_some_avg10 }
    wl_pool_action { kind, slot, pid, reason, generation, replaces, identity, not_before_us }
    wl_event {
        kind, slot, pid, generation, reason, status, has_status, crash, oom_killed, at_us,
        uptime_us, requests, rss, delay_us, growth_per_request, growth_per_second,
        growth_requests, growth_seconds, value, limit,
    }
    wl_sample { pid, start_time, rss, fds, uss, pss }
    wl_pool_options { slots, sharing, path, manual_clock, has_seed, seed }
    wl_reaped { pid, outcome, run_id, start_time, found, error_number }
}

/// The header's numeric `#define`s by name, for `wl_constant` (a test
/// holds this list to the header: every define but the version's).
pub(crate) const CONSTANTS: &[(&str, u64)] = {
    use crate::host::*;
    use crate::version::WL_ABI_VERSION;
    macro_rules! named {
        ($($name:ident),* $(,)?) => { &[$((stringify!($name), $name as u64)),*] };
    }
    named![
        WL_HOST_HEARTBEAT,
        WL_HOST_SURGE,
        WL_HOST_CANCEL,
        WL_HOST_CONCURRENT,
        WL_HOST_MASTER_KILLS,
        WL_HOST_WATCHDOG_KILLS,
        WL_HOST_NUMBERED,
        WL_HOST_TICKETS,
        WL_STATS_JSON,
        WL_STATS_JSON_OCCUPIED,
        WL_STATS_PROMETHEUS,
        WL_SEVERITY_INFO,
        WL_SEVERITY_WARNING,
        WL_SEVERITY_ERROR,
        WL_NO_READING,
        WL_READING_DENIED,
        WL_READING_UNSUPPORTED,
        WL_NO_SLOT,
        WL_TICKET_LAST,
        WL_TICKETS,
        WL_CONTAINER_AUTO,
        WL_HEADROOM_PERCENT,
        WL_ENFORCE_ALL,
        WL_RELATIVE_LIMIT,
        WL_ABI_VERSION,
    ]
};
