//! Records of what happened in a pool, pulled from a queue by the host,
//! and their one line format. Here, beside the decisions, so that a
//! worker's watchdog (with no master to file events) says what happens in
//! the same line as every master.

use crate::policy::Unit;
use crate::rules::core::Core;
use crate::rules::decision::{Decision, Reason};
use crate::rules::growth::Growth;
use crate::table::layout::{GenState, NONE};
use std::fmt;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::Duration;

crate::names::named_enum! {
    /// What happened.
    pub enum EventKind {
        /// A worker started in a slot (reported, or seen claiming it).
        Spawned = 1 => "spawned",
        /// The pool asked a worker to recycle.
        RecycleRequested = 2 => "recycle_requested",
        /// The pool decided to kill a worker.
        Killed = 3 => "killed",
        /// A worker is gone; `crash` if nobody asked for it.
        Exited = 4 => "exited",
        /// Crashes put a slot's respawn into backoff.
        CrashLoop = 5 => "crash_loop",
        /// A worker's health check failed.
        HealthCheckFailed = 6 => "health_check_failed",
        /// A recycle or kill was due for a slot whose pid is not one of the
        /// master's children (spawned or adopted): nothing was returned to
        /// signal. Filed once per generation and reason.
        Refused = 7 => "refused",
        /// A replacement was started for a worker due to retire
        /// (`max_surge`); on the retiring worker's slot.
        Replacing = 8 => "replacing",
        /// A replacement became ready (`delay`: how long it took); on its
        /// slot. The worker it replaces drains now.
        Ready = 9 => "ready",
        /// No replacement was started before a retirement (`max_surge`):
        /// one of the recent workers' median start size would not fit under
        /// the container's limit minus its headroom (reason
        /// `container_memory`); the worker retires first, then is respawned.
        RetireFirst = 10 => "retire_first",
        /// A worker due for a soft recycle waits for a permit of the
        /// rolling budget (`max_concurrent_recycles`,
        /// `min_recycle_interval`): it serves on meanwhile. Filed once per
        /// generation, when the master first sees it waiting, so a limit
        /// that seems not to work says why.
        RecycleWaiting = 11 => "recycle_waiting",
        /// The container's working set is at its threshold
        /// (`container_memory`), but its largest worker (the slot named) is
        /// no bigger than a fresh one: recycling would free nothing, so
        /// none is recycled for it. The value and limit are the working
        /// set and the threshold. Filed once per run over the threshold.
        ContainerTooSmall = 12 => "container_too_small",
        /// A rule that does not act (`enforce`) tripped: the worker would
        /// have been recycled, and serves on. With the value and limit;
        /// filed once per generation and reason.
        WouldRecycle = 13 => "would_recycle",
        /// A kill rule that does not act (`enforce`) tripped: the worker
        /// would have been killed, and serves on. Filed as `WouldRecycle`.
        WouldKill = 14 => "would_kill",
        /// The workers' mean share of the parent's memory fell below
        /// `min_sharing` (value and limit: hundredths of a percent); on the
        /// slot of the worker that shares least. Filed again only after it
        /// recovered.
        SharingLow = 15 => "sharing_low",
    }
}

impl EventKind {
    /// The event of a rule rehearsed (`enforce`): what it would have done.
    pub(crate) fn would(reason: Reason) -> EventKind {
        match reason.action() {
            crate::rules::decision::Action::Kill => EventKind::WouldKill,
            _ => EventKind::WouldRecycle,
        }
    }
}

/// One event, with the worker's figures at that moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub slot: u32,
    pub pid: u32,
    pub generation: u32,
    /// Why, for recycle, kill and exits that followed either.
    pub reason: Option<Reason>,
    /// Time since the pool's epoch.
    pub at: Duration,
    pub uptime: Duration,
    pub requests: u64,
    /// The latest RSS reading, if any.
    pub rss: Option<u64>,
    /// The exit status, for exits.
    pub status: Option<i32>,
    /// For exits, and the crash loop an exit starts: whether the pool
    /// counted the exit as a crash (a crash loop's respawn delay is
    /// `delay`).
    pub crash: bool,
    /// For exits: a crash the kernel's OOM killer caused (SIGKILL from
    /// nobody of ours while the cgroup's OOM kill count rose).
    pub oom_killed: bool,
    pub delay: Option<Duration>,
    /// For recycles and kills: the decision, with the value and limit that
    /// tripped it.
    pub decision: Option<Decision>,
    /// For recycles, kills and exits: how fast the worker's memory grew over
    /// its generation, once there were enough readings.
    pub growth: Option<Growth>,
}

/// The one line format of every host's log: each fact once, as
/// `key=value` words that logs are searched by, the reason with the value
/// and limit that tripped it, sizes for people.
///
/// `recycle_requested slot=0 pid=4242 gen=3 reason=max_requests (100 >= 100) uptime=12.300s requests=100 rss=45.2MiB`
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} slot={} pid={} gen={}",
            self.kind.as_str(),
            self.slot,
            self.pid,
            self.generation
        )?;
        if let Some(r) = self.reason {
            write!(f, " reason={r}")?;
            let compared = self
                .decision
                .filter(|d| d.reason == Some(r) && r != Reason::Manual);
            // `memory_rss (301MiB >= 300MiB, grew 6.4 KiB/request over
            // 48000 requests)`: how it got there, where it is a size.
            let growth = self.growth.filter(|_| r.unit() == Unit::Size);
            match (compared, growth) {
                (Some(d), Some(g)) => write!(f, " ({}, {g})", d.comparison())?,
                (Some(d), None) => write!(f, " ({})", d.comparison())?,
                (None, Some(g)) => write!(f, " ({g})")?,
                (None, None) => {}
            }
        }
        if let (EventKind::SharingLow, Some(d)) = (self.kind, self.decision) {
            write!(
                f,
                " sharing={}% < {}%",
                crate::units::format_hundredths(d.value),
                crate::units::format_hundredths(d.limit)
            )?;
        }
        write!(
            f,
            " uptime={:.3}s requests={}",
            self.uptime.as_secs_f64(),
            self.requests
        )?;
        if let Some(rss) = self.rss {
            write!(f, " rss={}", crate::units::HumanSize(rss))?;
        }
        if let Some(s) = self.status {
            write!(f, " status={s}")?;
        }
        if self.oom_killed {
            f.write_str(" oom_killed")?;
        } else if self.crash {
            f.write_str(" crash")?;
        }
        if let Some(d) = self.delay {
            write!(f, " delay={:.3}s", d.as_secs_f64())?;
        }
        Ok(())
    }
}

crate::names::named_enum! {
    /// How loud an event is in the host's log.
    pub enum Severity {
        /// The pool working as meant (spawns, recycles, replacements).
        Info = 1 => "info",
        /// A worker killed, a crash, a failed health check, a refusal.
        Warning = 2 => "warning",
        /// A crash loop, or the kernel's OOM killer.
        Error = 3 => "error",
    }
}

impl Event {
    /// An event about `slot`'s worker as its slot shows it now (pool time
    /// `now`), with no decision and, but for recycles, kills and exits, no
    /// growth.
    pub(crate) fn of_slot(
        core: &Core,
        kind: EventKind,
        slot: u32,
        reason: Option<Reason>,
        now: u64,
    ) -> Event {
        let s = &core.slots()[slot as usize];
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        let rss = s.rss.load(Relaxed);
        Event {
            kind,
            slot,
            pid: s.pid.load(Relaxed),
            generation: gs.generation,
            reason,
            at: Duration::from_micros(now),
            uptime: Duration::from_micros(now.saturating_sub(s.spawned_at.load(Relaxed))),
            requests: s.requests.load(Relaxed),
            rss: (rss != NONE).then_some(rss),
            status: None,
            crash: false,
            oom_killed: false,
            delay: None,
            decision: None,
            growth: match kind {
                EventKind::RecycleRequested
                | EventKind::Killed
                | EventKind::Exited
                | EventKind::WouldRecycle
                | EventKind::WouldKill => core.growth(s),
                _ => None,
            },
        }
    }

    /// How loud this event is: what every host logs it at.
    pub fn severity(&self) -> Severity {
        match self.kind {
            _ if self.oom_killed => Severity::Error,
            EventKind::CrashLoop => Severity::Error,
            EventKind::ContainerTooSmall => Severity::Error,
            EventKind::Killed
            | EventKind::HealthCheckFailed
            | EventKind::Refused
            | EventKind::WouldKill
            | EventKind::SharingLow => Severity::Warning,
            EventKind::Exited if self.crash => Severity::Warning,
            _ => Severity::Info,
        }
    }
}
