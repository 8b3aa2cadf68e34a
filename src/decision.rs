//! What a worker should do now, and why.

use crate::policy::Unit;
use std::fmt;

/// What the worker should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Action {
    /// Keep serving.
    Continue = 0,
    /// Finish what is in flight, then exit; the host respawns.
    Recycle = 1,
    /// Stop it now.
    Kill = 2,
}

impl Action {
    /// The action's name: `continue`, `recycle` or `kill`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Continue => "continue",
            Action::Recycle => "recycle",
            Action::Kill => "kill",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why. The order is the decision priority (DESIGN.md's table); the numbers
/// are stored in shared memory and exported through the C ABI, so they are
/// never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reason {
    RequestTimeout = 1,
    HeartbeatTimeout = 2,
    DrainTimeout = 3,
    Manual = 4,
    MemoryRss = 5,
    MemoryUss = 6,
    MemoryPss = 7,
    OpenFds = 8,
    HealthCheck = 9,
    MaxRequests = 10,
    MaxLifetime = 11,
    Idle = 12,
}

impl Reason {
    /// Every reason, in priority order.
    pub const ALL: [Reason; 12] = [
        Reason::RequestTimeout,
        Reason::HeartbeatTimeout,
        Reason::DrainTimeout,
        Reason::Manual,
        Reason::MemoryRss,
        Reason::MemoryUss,
        Reason::MemoryPss,
        Reason::OpenFds,
        Reason::HealthCheck,
        Reason::MaxRequests,
        Reason::MaxLifetime,
        Reason::Idle,
    ];

    /// The reason's name as used in vectors, events and stats.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RequestTimeout => "request_timeout",
            Reason::HeartbeatTimeout => "heartbeat_timeout",
            Reason::DrainTimeout => "drain_timeout",
            Reason::Manual => "manual",
            Reason::MemoryRss => "memory_rss",
            Reason::MemoryUss => "memory_uss",
            Reason::MemoryPss => "memory_pss",
            Reason::OpenFds => "open_fds",
            Reason::HealthCheck => "health_check",
            Reason::MaxRequests => "max_requests",
            Reason::MaxLifetime => "max_lifetime",
            Reason::Idle => "idle",
        }
    }

    /// Looks a reason up by name.
    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == name)
    }

    /// Decodes a stored reason code; anything unknown is `None`.
    pub fn from_code(code: u8) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| *r as u8 == code)
    }

    /// The action this reason calls for.
    pub fn action(self) -> Action {
        match self {
            Reason::RequestTimeout | Reason::HeartbeatTimeout | Reason::DrainTimeout => {
                Action::Kill
            }
            _ => Action::Recycle,
        }
    }

    /// Soft reasons wait for `min_lifetime` and the rolling budget.
    pub fn is_soft(self) -> bool {
        self.action() == Action::Recycle && self != Reason::Manual
    }

    /// What a decision's value and limit measure for this reason:
    /// microseconds, bytes, or a count (requests, FDs, failures; 0 for manual).
    pub fn unit(self) -> Unit {
        match self {
            Reason::RequestTimeout
            | Reason::HeartbeatTimeout
            | Reason::DrainTimeout
            | Reason::MaxLifetime
            | Reason::Idle => Unit::Duration,
            Reason::MemoryRss | Reason::MemoryUss | Reason::MemoryPss => Unit::Size,
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
            Some(r) => match r.unit() {
                Unit::Duration => write!(
                    f,
                    "{}: {}s >= {}s",
                    r,
                    self.value as f64 / 1e6,
                    self.limit as f64 / 1e6
                ),
                Unit::Size => write!(
                    f,
                    "{}: {} >= {}",
                    r,
                    crate::units::human_size(self.value),
                    crate::units::human_size(self.limit)
                ),
                Unit::Count => write!(f, "{}: {} >= {}", r, self.value, self.limit),
            },
        }
    }
}
