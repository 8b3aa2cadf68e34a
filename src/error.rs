//! The one error type of the engine.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong; each message names what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A spec string or setter named a key that does not exist.
    #[error("unknown policy key \"{key}\" (with value \"{value}\")")]
    UnknownKey { key: String, value: String },
    /// A policy value did not parse or is out of range.
    #[error("invalid value \"{value}\" for {key}: {why}")]
    InvalidValue {
        key: String,
        value: String,
        why: String,
    },
    /// A pool needs at least one slot, and at most [`crate::MAX_SLOTS`].
    // 2^20 is `MAX_SLOTS` (a table test holds the text to it).
    #[error("invalid slot count {0}: must be between 1 and 1048576")]
    InvalidSlotCount(u64),
    /// A slot index past the end of the pool.
    #[error("slot {slot} is out of range: the pool has {slots} slots")]
    SlotOutOfRange { slot: u32, slots: u32 },
    /// Every slot is taken by a live worker.
    #[error("no free slot: all {0} slots hold live workers")]
    NoFreeSlot(u32),
    /// A pid that no slot holds.
    #[error("no slot holds pid {0}")]
    UnknownPid(u32),
    /// A slot that already holds a live worker was given another.
    #[error("slot {slot} already holds pid {pid}")]
    SlotBusy { slot: u32, pid: u32 },
    /// A pool file that is not a workerlife pool, or is damaged.
    #[error("{path}: not a usable workerlife pool: {why}")]
    BadPoolFile { path: PathBuf, why: String },
    /// No process has this pid (or it is a zombie).
    #[error("no such process: pid {0}")]
    NoSuchProcess(u32),
    /// An orphan ledger that cannot be read; it was renamed to `moved_to`.
    #[error("{path}: damaged workerlife ledger ({why}){}", moved_to.as_ref().map(|p| format!("; set aside as {}", p.display())).unwrap_or_default())]
    BadLedger {
        path: PathBuf,
        why: String,
        moved_to: Option<PathBuf>,
    },
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A process the master was asked to adopt is not its child.
    #[error("pid {pid} is not a child of this process (its parent is {parent}): the master signals only its own children")]
    NotAChild { pid: u32, parent: u32 },
    /// A pool file or ledger that another user could have written.
    #[error("{path}: refused: {why}")]
    UnsafeFile { path: PathBuf, why: String },
    /// An argument no call could act on safely.
    #[error("{0}")]
    InvalidArgument(String),
    /// No memory cgroup to read, or one whose files say nothing usable.
    #[error("no usable memory cgroup: {0}")]
    NoCgroup(String),
    /// A policy rule the host cannot carry out (see the `host` module).
    #[error("{key}={value}: {host} {why}; {instead}")]
    NotForHost {
        key: String,
        value: String,
        host: String,
        why: String,
        instead: String,
    },
    /// A request ticket this worker does not have in flight: ended already,
    /// never issued, or another worker's.
    #[error("ticket {0} is not a request in flight in this worker: ended already, never issued, or another worker's")]
    BadTicket(u64),
    /// More requests in flight in one worker than a slot counts.
    #[error(
        "too many requests in flight in one worker: a slot times {timed} and counts {untimed} more"
    )]
    TooManyInFlight { timed: usize, untimed: u64 },
    /// The platform lacks what the call needs.
    #[error("not supported on this platform: {0}")]
    NotSupported(&'static str),
}

impl Error {
    pub(crate) fn invalid_value(key: &str, value: &str, why: &str) -> Self {
        Error::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            why: why.to_string(),
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// `Result` with the engine's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
