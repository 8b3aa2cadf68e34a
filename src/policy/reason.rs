//! What the worker should do and why: the actions, and the reasons (one
//! per rule). Here, below the rules, because the policy names reasons too
//! (`enforce`); `rules::decision` re-exports both.

use crate::policy::{Key, Unit};
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

    /// What acts whatever `enforce` says: no rule starts it (a manual
    /// recycle is asked for), or it ends a recycle already under way (a
    /// drain past `drain_timeout`, a replacement past `ready_timeout`).
    pub fn always_enforced(self) -> bool {
        matches!(
            self,
            Reason::Manual | Reason::DrainTimeout | Reason::ReadyTimeout
        )
    }

    /// The policy key whose limit this reason passed (`max_rss` for
    /// `memory_rss`); None for `manual`, which no key starts.
    pub fn key(self) -> Option<Key> {
        Some(match self {
            Reason::RequestTimeout => Key::RequestTimeout,
            Reason::HeartbeatTimeout => Key::HeartbeatTimeout,
            Reason::DrainTimeout => Key::DrainTimeout,
            Reason::Manual => return None,
            Reason::MemoryRss => Key::MaxRss,
            Reason::MemoryUss => Key::MaxUss,
            Reason::MemoryPss => Key::MaxPss,
            Reason::OpenFds => Key::MaxFds,
            Reason::HealthCheck => Key::MaxHealthFailures,
            Reason::MaxRequests => Key::MaxRequests,
            Reason::MaxLifetime => Key::MaxLifetime,
            Reason::Idle => Key::MaxIdle,
            Reason::ReadyTimeout => Key::ReadyTimeout,
            Reason::MemoryForecast => Key::MemoryForecast,
            Reason::ContainerMemory => Key::ContainerMemory,
        })
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
