//! What a worker should do now, and why.

use crate::policy::Unit;
use std::fmt;

crate::names::named_enum! {
    /// What the worker should do.
    #[derive(PartialOrd, Ord)]
    pub enum Action {
        /// Keep serving.
        Continue = 0 => "continue",
        /// Finish what is in flight, then exit; the host respawns.
        Recycle = 1 => "recycle",
        /// Stop it now.
        Kill = 2 => "kill",
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::names::named_enum! {
    /// Why. The order is the decision priority (docs/design.md's table); the
    /// numbers are stored in shared memory and cross every binding, so they
    /// are never reused.
    #[derive(PartialOrd, Ord)]
    pub enum Reason {
        RequestTimeout = 1 => "request_timeout",
        HeartbeatTimeout = 2 => "heartbeat_timeout",
        DrainTimeout = 3 => "drain_timeout",
        Manual = 4 => "manual",
        MemoryRss = 5 => "memory_rss",
        MemoryUss = 6 => "memory_uss",
        MemoryPss = 7 => "memory_pss",
        OpenFds = 8 => "open_fds",
        HealthCheck = 9 => "health_check",
        MaxRequests = 10 => "max_requests",
        MaxLifetime = 11 => "max_lifetime",
        Idle = 12 => "idle",
        /// A replacement not ready within `ready_timeout` (kill).
        ReadyTimeout = 13 => "ready_timeout",
        /// Predicted to reach its memory limit within `memory_forecast`.
        MemoryForecast = 14 => "memory_forecast",
        /// Picked to free memory before the container's limit
        /// (`container_memory`): recycled ahead of the line, killed if the
        /// working set keeps rising.
        ContainerMemory = 15 => "container_memory",
    }
}

impl Reason {
    /// The action this reason calls for.
    pub fn action(self) -> Action {
        match self {
            Reason::RequestTimeout
            | Reason::HeartbeatTimeout
            | Reason::DrainTimeout
            | Reason::ReadyTimeout => Action::Kill,
            _ => Action::Recycle,
        }
    }

    /// Soft reasons wait for `min_lifetime` and the rolling budget.
    pub fn is_soft(self) -> bool {
        self.action() == Action::Recycle && !self.is_forced()
    }

    /// Recycles that neither `min_lifetime` nor the line for permits holds
    /// back (they still count in the budget).
    pub fn is_forced(self) -> bool {
        matches!(self, Reason::Manual | Reason::ContainerMemory)
    }

    /// What a decision's value and limit measure for this reason:
    /// microseconds, bytes, or a count (requests, FDs, failures; 0 for manual).
    pub fn unit(self) -> Unit {
        match self {
            Reason::RequestTimeout
            | Reason::HeartbeatTimeout
            | Reason::DrainTimeout
            | Reason::MaxLifetime
            | Reason::Idle
            | Reason::ReadyTimeout
            | Reason::MemoryForecast => Unit::Duration,
            Reason::MemoryRss | Reason::MemoryUss | Reason::MemoryPss | Reason::ContainerMemory => {
                Unit::Size
            }
            Reason::Manual | Reason::OpenFds | Reason::HealthCheck | Reason::MaxRequests => {
                Unit::Count
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision: the action, and for anything but continue the reason and the
/// value and limit that tripped it (durations in microseconds, sizes in
/// bytes, counts as counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub reason: Option<Reason>,
    pub value: u64,
    pub limit: u64,
}

impl Decision {
    /// Keep serving.
    pub const CONTINUE: Decision = Decision {
        action: Action::Continue,
        reason: None,
        value: 0,
        limit: 0,
    };

    pub(crate) fn tripped(reason: Reason, value: u64, limit: u64) -> Decision {
        Decision {
            action: reason.action(),
            reason: Some(reason),
            value,
            limit,
        }
    }

    /// True when the worker should stop taking requests.
    pub fn must_exit(&self) -> bool {
        self.action != Action::Continue
    }
}

/// `continue`, `manual`, or `max_requests: 1000 >= 1000`, `request_timeout: 31.5s >= 30s`.
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            None => f.write_str("continue"),
            Some(Reason::Manual) => f.write_str("manual"),
            Some(r) => write!(f, "{r}: {}", self.comparison()),
        }
    }
}

impl Decision {
    /// The value against the limit that tripped, without the reason
    /// (`100 >= 100`, `301MiB >= 300MiB`); empty for continue and manual.
    pub fn comparison(&self) -> Comparison {
        Comparison(*self)
    }
}

/// A decision's value against its limit, as text (see
/// [`Decision::comparison`]).
pub struct Comparison(Decision);

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        match d.reason {
            None | Some(Reason::Manual) => Ok(()),
            // The one rule that trips below its limit: time left to it.
            Some(Reason::MemoryForecast) => write!(
                f,
                "memory limit in {}s <= {}s",
                d.value as f64 / 1e6,
                d.limit as f64 / 1e6
            ),
            Some(r) => match r.unit() {
                Unit::Duration => {
                    write!(f, "{}s >= {}s", d.value as f64 / 1e6, d.limit as f64 / 1e6)
                }
                Unit::Size => write!(
                    f,
                    "{} >= {}",
                    crate::units::HumanSize(d.value),
                    crate::units::HumanSize(d.limit)
                ),
                Unit::Count => write!(f, "{} >= {}", d.value, d.limit),
            },
        }
    }
}

/// How a slot's previous worker ended (`Slot::last_exit`): a reason's
/// name, `left`, `crash`, or None (none ended yet, or a code out of range).
pub(crate) fn last_exit_name(code: u64) -> Option<&'static str> {
    match code {
        0 => None,
        crate::table::layout::last_exit::LEFT => Some("left"),
        crate::table::layout::last_exit::CRASH => Some("crash"),
        crate::table::layout::last_exit::OOM_KILLED => Some("oom_killed"),
        // A word any worker can write: a code out of range names nothing.
        c => u8::try_from(c)
            .ok()
            .and_then(Reason::from_code)
            .map(|r| r.as_str()),
    }
}
