//! The host contract: what a server that runs workerlife (gunicorn, uvicorn,
//! Celery, Starman, Starlet, Puma, Node's `cluster`, Unicorn, a C or Rust
//! master) can carry out, declared once when it makes or attaches its pool,
//! and the policy checked against it. A rule the host cannot carry out is
//! refused at start with one error naming the key, the host and what to do
//! instead: never accepted and left to fire on healthy workers, never
//! silently ignored.
//!
//! Also here: what every host's master needs beyond the rules, so bindings
//! stay thin and cannot drift: the pool-size rule ([`Host::slots`]), the
//! start-up line ([`Host::startup_line`]) and round errors logged once
//! ([`errors::RoundErrors`]). Event text and severity live with the event.

pub mod errors;

use crate::error::{Error, Result};
use crate::policy::{Key, Policy};

/// What a host can do, as bits (the C ABI's `WL_HOST_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Caps(u32);

impl Caps {
    /// The host beats (`Worker::heartbeat`) from the loop that serves
    /// requests, so a missing beat proves that loop stuck (gunicorn's
    /// `notify`, a timer on Node's event loop): `heartbeat_timeout` can hold.
    pub const HEARTBEAT: Caps = Caps(1);
    /// The host can start a worker when the pool asks (a spawn action that
    /// replaces another): `max_surge` can hold.
    pub const SURGE: Caps = Caps(1 << 1);
    /// The host can cancel one request alone (an event loop's 504).
    pub const CANCEL: Caps = Caps(1 << 2);
    /// One worker runs several requests at once (threads, an event loop).
    pub const CONCURRENT: Caps = Caps(1 << 3);
    /// The master carries out kills (a supervisor that ticks the pool and
    /// signals its own children).
    pub const MASTER_KILLS: Caps = Caps(1 << 4);
    /// Each worker's watchdog thread carries out its own slot's kills.
    pub const WATCHDOG_KILLS: Caps = Caps(1 << 5);
    /// The master starts each worker into the slot the pool names (a spawn
    /// action), rather than workers claiming a free slot by pid.
    pub const NUMBERED: Caps = Caps(1 << 6);
    /// Each request in flight holds a ticket (`Worker::begin_ticket`), so a
    /// worker that runs several at once has each timed on its own:
    /// `request_timeout` catches one stuck among others that keep ending.
    pub const TICKETS: Caps = Caps(1 << 7);

    /// Every bit this library knows.
    pub const ALL: Caps = Caps((1 << 8) - 1);

    /// No capability.
    pub const NONE: Caps = Caps(0);

    /// The capabilities in `bits`; a bit this library does not know is an
    /// error naming it (a host built against a newer header).
    pub fn from_bits(bits: u32) -> Result<Caps> {
        if bits & !Caps::ALL.0 != 0 {
            return Err(Error::InvalidArgument(format!(
                "unknown host capability bits {:#x}",
                bits & !Caps::ALL.0
            )));
        }
        Ok(Caps(bits))
    }

    pub fn bits(self) -> u32 {
        self.0
    }

    pub fn contains(self, other: Caps) -> bool {
        self.0 & other.0 == other.0
    }

    /// Someone carries out kill decisions.
    pub fn kills(self) -> bool {
        self.0 & (Caps::MASTER_KILLS.0 | Caps::WATCHDOG_KILLS.0) != 0
    }

    /// Every capability: its bit, the name bindings use for it, and how
    /// the start-up line says it.
    pub const NAMED: [(Caps, &'static str, &'static str); 8] = [
        (Caps::HEARTBEAT, "heartbeat", "heartbeats"),
        (Caps::SURGE, "surge", "surge"),
        (Caps::CANCEL, "cancel", "cancels requests"),
        (Caps::CONCURRENT, "concurrent", "concurrent requests"),
        (Caps::MASTER_KILLS, "master_kills", "master kills"),
        (Caps::WATCHDOG_KILLS, "watchdog_kills", "watchdog kills"),
        (Caps::NUMBERED, "numbered", "numbered workers"),
        (Caps::TICKETS, "tickets", "times each request"),
    ];

    /// The capability named `name` (`heartbeat`, `surge`, `cancel`,
    /// `concurrent`, `master_kills`, `watchdog_kills`, `numbered`,
    /// `tickets`).
    pub fn from_name(name: &str) -> Option<Caps> {
        Caps::NAMED
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(c, _, _)| *c)
    }

    /// How the start-up line says the capabilities held.
    fn names(self) -> Vec<&'static str> {
        Caps::NAMED
            .iter()
            .filter(|(c, _, _)| self.contains(*c))
            .map(|(_, _, said)| *said)
            .collect()
    }
}

impl std::ops::BitOr for Caps {
    type Output = Caps;
    fn bitor(self, rhs: Caps) -> Caps {
        Caps(self.0 | rhs.0)
    }
}

/// The keys a host may be unable to carry out, in the order the start-up
/// line names them.
const REFUSABLE: [Key; 3] = [Key::HeartbeatTimeout, Key::RequestTimeout, Key::MaxSurge];

/// The longest host name kept (bytes).
pub const HOST_NAME_MAX: usize = 64;

/// A host: its name (for errors and the start-up line) and what it can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    name: String,
    caps: Caps,
}

impl Host {
    /// A host named `name` (1 to 64 printable characters: `gunicorn (sync)`,
    /// `Puma`, `Node cluster`) with `caps`.
    pub fn new(name: &str, caps: Caps) -> Result<Host> {
        if name.is_empty() || name.len() > HOST_NAME_MAX || name.chars().any(|c| c.is_control()) {
            return Err(Error::InvalidArgument(format!(
                "host name {name:?}: must be 1 to {HOST_NAME_MAX} bytes with no control characters"
            )));
        }
        Ok(Host {
            name: name.to_string(),
            caps,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Checks `policy` against what this host can carry out: the first key
    /// it cannot is an error naming the key, its value, the host and what
    /// to do instead.
    pub fn check(&self, policy: &Policy) -> Result<()> {
        match self.refusals(policy).into_iter().next() {
            Some(r) => Err(r.into_error(policy, &self.name)),
            None => Ok(()),
        }
    }

    /// Every rule of `policy` this host cannot carry out, in key order.
    fn refusals(&self, policy: &Policy) -> Vec<Refusal> {
        let on = |k: Key| policy.raw(k) != 0;
        // A worker that runs several requests at once with no ticket each,
        // none of which it can end alone, has its requests timed together
        // (`end` frees the oldest): one stuck among busy ones would never
        // be caught.
        let timed_together = self.caps.contains(Caps::CONCURRENT)
            && !self.caps.contains(Caps::CANCEL)
            && !self.caps.contains(Caps::TICKETS);
        let mut out = Vec::new();
        if on(Key::HeartbeatTimeout) && !self.caps.contains(Caps::HEARTBEAT) {
            out.push(Refusal {
                key: Key::HeartbeatTimeout,
                short: "no heartbeat",
                why: "sends no heartbeat from the loop that serves requests, so every idle worker would be killed",
                instead: if timed_together || !self.caps.kills() {
                    "leave heartbeat_timeout off"
                } else {
                    "leave heartbeat_timeout off; request_timeout catches a stuck request"
                },
            });
        }
        if on(Key::RequestTimeout) && timed_together && self.caps.kills() {
            out.push(Refusal {
                key: Key::RequestTimeout,
                short: "requests timed together",
                why: "runs several requests at once in a worker with no ticket for each, so they are timed together: one stuck among busy ones would never be caught",
                instead: if self.caps.contains(Caps::HEARTBEAT) {
                    "give each request a ticket (begin_ticket/end_ticket), run one request at a time per worker, or leave it off; heartbeat_timeout catches a stuck loop"
                } else {
                    "give each request a ticket (begin_ticket/end_ticket), run one request at a time per worker, or leave it off"
                },
            });
        }
        if !self.caps.kills() {
            for key in [Key::RequestTimeout, Key::HeartbeatTimeout] {
                if on(key) && !out.iter().any(|r| r.key == key) {
                    out.push(Refusal {
                        key,
                        short: "nobody to carry out a kill",
                        why: "has no master and no watchdog to carry out a kill",
                        instead: "leave it off, or start the worker's watchdog",
                    });
                }
            }
        }
        if on(Key::MaxSurge) && !self.caps.contains(Caps::SURGE) {
            out.push(Refusal {
                key: Key::MaxSurge,
                short: "cannot start a replacement",
                why: "cannot start a replacement before a worker retires",
                instead:
                    "use max_surge=0: the worker retires first and the server starts its successor",
            });
        }
        out.sort_by_key(|r| r.key as u8);
        out
    }

    /// How many slots a pool for `workers` workers needs under `policy`.
    /// A master that starts each worker into a named slot needs one per
    /// worker plus `max_surge`. Where workers claim a free slot by pid, a
    /// leaving worker keeps its slot until its exit is seen while its
    /// successor already claims one: twice the workers, plus `max_surge`,
    /// plus 8 for exits the server reports late. At most `MAX_SLOTS`.
    pub fn slots(&self, workers: u32, policy: &Policy) -> u32 {
        let surge = u32::try_from(policy.raw(Key::MaxSurge)).unwrap_or(u32::MAX);
        let n = if self.caps.contains(Caps::NUMBERED) {
            u64::from(workers) + u64::from(surge)
        } else {
            2 * u64::from(workers) + u64::from(surge) + 8
        };
        n.clamp(1, u64::from(crate::table::layout::MAX_SLOTS)) as u32
    }

    /// One line saying workerlife is on, for the host to log at start: the
    /// host, what it can do, the policy (the defaults left out), and what is
    /// off because the host cannot carry it out.
    pub fn startup_line(&self, policy: &Policy, slots: u32) -> String {
        let spec = policy.to_string();
        let caps = self.caps.names();
        let mut line = format!(
            "workerlife on for {}: {}, {} slots; the host has {}",
            self.name,
            if spec.is_empty() {
                "the default policy".to_string()
            } else {
                format!("policy {spec}")
            },
            slots,
            if caps.is_empty() {
                "no capability".to_string()
            } else {
                caps.join(", ")
            }
        );
        // What the host refuses, from the refusals themselves: every key
        // the contract can refuse, turned on.
        let mut probe = Policy::default();
        for key in REFUSABLE {
            probe.set_raw(key, 1);
        }
        let refused = self.refusals(&probe);
        let off: Vec<String> = REFUSABLE
            .iter()
            .filter_map(|k| refused.iter().find(|r| r.key == *k))
            .map(|r| format!("{} ({})", r.key.name(), r.short))
            .collect();
        if !off.is_empty() {
            line.push_str("; refused here: ");
            line.push_str(&off.join(", "));
        }
        line
    }
}

/// One rule a host cannot carry out.
struct Refusal {
    key: Key,
    /// What the start-up line says of it.
    short: &'static str,
    why: &'static str,
    instead: &'static str,
}

impl Refusal {
    fn into_error(self, policy: &Policy, host: &str) -> Error {
        Error::NotForHost {
            key: self.key.name().to_string(),
            value: self.key.format_value(policy.raw(self.key)),
            host: host.to_string(),
            why: self.why.to_string(),
            instead: self.instead.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(caps: Caps) -> Host {
        Host::new("Test host", caps).unwrap()
    }

    #[test]
    fn a_heartbeat_nobody_feeds_is_refused_naming_key_host_and_alternative() {
        let p = Policy::parse("heartbeat_timeout=2s").unwrap();
        let e = host(Caps::MASTER_KILLS).check(&p).unwrap_err().to_string();
        assert!(e.starts_with("heartbeat_timeout=2s"), "{e}");
        assert!(e.contains("Test host"), "{e}");
        assert!(e.contains("request_timeout"), "{e}");
        host(Caps::MASTER_KILLS | Caps::HEARTBEAT)
            .check(&p)
            .unwrap();
    }

    #[test]
    fn surge_needs_a_host_that_starts_workers() {
        let p = Policy::parse("max_surge=1").unwrap();
        let e = host(Caps::MASTER_KILLS).check(&p).unwrap_err().to_string();
        assert!(e.starts_with("max_surge=1"), "{e}");
        assert!(e.contains("max_surge=0"), "{e}");
        host(Caps::SURGE).check(&p).unwrap();
    }

    #[test]
    fn kills_need_someone_to_carry_them_out() {
        let p = Policy::parse("request_timeout=1s").unwrap();
        let e = host(Caps::NONE).check(&p).unwrap_err().to_string();
        assert!(e.starts_with("request_timeout=1s"), "{e}");
        host(Caps::WATCHDOG_KILLS).check(&p).unwrap();
        host(Caps::MASTER_KILLS).check(&p).unwrap();
    }

    #[test]
    fn requests_timed_together_are_refused_where_one_can_hide_among_others() {
        let p = Policy::parse("request_timeout=1s").unwrap();
        let threads = host(Caps::CONCURRENT | Caps::MASTER_KILLS);
        let e = threads.check(&p).unwrap_err().to_string();
        assert!(
            e.starts_with("request_timeout=1s: Test host runs several"),
            "{e}"
        );
        assert!(e.contains("one request at a time"), "{e}");
        assert!(e.contains("begin_ticket"), "{e}");
        // One at a time, or a host that cancels one request alone: it holds.
        host(Caps::MASTER_KILLS).check(&p).unwrap();
        host(Caps::CONCURRENT | Caps::CANCEL | Caps::WATCHDOG_KILLS)
            .check(&p)
            .unwrap();
        let e = host(Caps::CONCURRENT | Caps::HEARTBEAT | Caps::MASTER_KILLS)
            .check(&p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("heartbeat_timeout catches a stuck loop"), "{e}");
        // Threads that give each request a ticket are timed one by one.
        host(Caps::CONCURRENT | Caps::TICKETS | Caps::MASTER_KILLS)
            .check(&p)
            .unwrap();
    }

    #[test]
    fn the_first_refusal_is_in_key_order() {
        let p = Policy::parse("max_surge=1,heartbeat_timeout=5s").unwrap();
        let e = host(Caps::NONE).check(&p).unwrap_err().to_string();
        assert!(e.starts_with("heartbeat_timeout=5s"), "{e}");
    }

    #[test]
    fn the_default_policy_suits_every_host() {
        host(Caps::NONE).check(&Policy::default()).unwrap();
    }

    #[test]
    fn unknown_bits_and_bad_names_are_refused() {
        assert!(Caps::from_bits(1 << 20).is_err());
        assert_eq!(Caps::from_name("surge"), Some(Caps::SURGE));
        assert_eq!(Caps::from_name("nope"), None);
        let all = Caps::NAMED.iter().fold(Caps::NONE, |a, (c, _, _)| a | *c);
        assert_eq!(all, Caps::ALL);
        assert_eq!(Caps::from_bits(3).unwrap(), Caps::HEARTBEAT | Caps::SURGE);
        assert!(Host::new("", Caps::NONE).is_err());
        assert!(Host::new("a\nb", Caps::NONE).is_err());
        assert!(Host::new(&"x".repeat(65), Caps::NONE).is_err());
    }

    #[test]
    fn slots_follow_who_numbers_the_workers() {
        let p = Policy::parse("max_surge=1").unwrap();
        assert_eq!(host(Caps::NUMBERED).slots(4, &p), 5);
        assert_eq!(host(Caps::NONE).slots(4, &p), 17);
        assert_eq!(host(Caps::NONE).slots(4, &Policy::default()), 16);
        assert_eq!(
            host(Caps::NONE).slots(u32::MAX, &p),
            crate::table::layout::MAX_SLOTS
        );
    }

    #[test]
    fn the_startup_line_names_host_policy_and_what_is_off() {
        let p = Policy::parse("max_requests=5").unwrap();
        let line = host(Caps::MASTER_KILLS | Caps::SURGE).startup_line(&p, 3);
        assert!(line.contains("Test host"), "{line}");
        assert!(line.contains("max_requests=5"), "{line}");
        assert!(line.contains("3 slots"), "{line}");
        assert!(line.contains("heartbeat_timeout"), "{line}");
        assert!(!line.contains("max_surge ("), "{line}");
        let nobody = host(Caps::NONE).startup_line(&p, 1);
        assert!(
            nobody.ends_with("refused here: heartbeat_timeout (no heartbeat), request_timeout (nobody to carry out a kill), max_surge (cannot start a replacement)"),
            "{nobody}"
        );
        let threads = host(Caps::CONCURRENT | Caps::MASTER_KILLS | Caps::SURGE | Caps::HEARTBEAT)
            .startup_line(&p, 1);
        assert!(
            threads.ends_with("refused here: request_timeout (requests timed together)"),
            "{threads}"
        );
    }
}
