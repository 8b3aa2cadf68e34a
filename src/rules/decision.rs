//! What a worker should do now, and why.

pub use crate::policy::reason::{Action, Reason};
use crate::policy::Unit;
use std::fmt;

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

    /// This decision as a rule rehearsed (`enforce`) leaves it: continue,
    /// keeping the reason and the figures that tripped.
    pub(crate) fn would(self) -> Decision {
        Decision {
            action: Action::Continue,
            ..self
        }
    }

    /// True when a rule tripped but does not act (`enforce`): the worker
    /// continues, and `reason.action()` is what it would have done.
    pub fn is_would(&self) -> bool {
        self.action == Action::Continue && self.reason.is_some()
    }

    /// True when the worker should stop taking requests.
    pub fn must_exit(&self) -> bool {
        self.action != Action::Continue
    }
}

/// `continue`, `manual`, or `max_requests: 1000 >= 1000`, `request_timeout: 31.5s >= 30s`;
/// a rule rehearsed: `continue (would recycle: max_requests: 1000 >= 1000)`.
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            None => f.write_str("continue"),
            Some(r) if self.is_would() => {
                write!(
                    f,
                    "continue (would {}: {r}: {})",
                    r.action(),
                    self.comparison()
                )
            }
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
