//! What every mechanism of the rules reads: the pool's memory (header and
//! slots), the policy's limits, the pool's clock and who supervises,
//! borrowed from the `Core` for one call. The mechanisms take this rather
//! than the `Core` so that the `Core` can hold them (the permits' state)
//! and call them without a circle, and each says by its arguments what it
//! touches beyond it.

use crate::rules::limits::{Limits, Memory};
use crate::rules::time::Clock;
use crate::table::layout::{Header, Slot};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;

#[derive(Clone, Copy)]
pub(crate) struct Shared<'a> {
    pub header: &'a Header,
    pub slots: &'a [Slot],
    pub limits: &'a Limits,
    pub clock: Clock<'a>,
    /// The process whose `Pool` supervises (see `Core::master_pid`).
    pub master_pid: &'a AtomicU32,
}

impl Shared<'_> {
    /// The memory limits in bytes as they stand now (`Limits::memory`).
    #[inline]
    pub fn memory(&self) -> Memory {
        self.limits.memory(&self.header.parent)
    }

    /// Microseconds since the pool's epoch.
    #[inline]
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Whether this process supervises the pool (its `Pool` recorded a
    /// child or ticked); a forked child is not, whatever it inherited.
    #[inline]
    pub fn is_master(&self) -> bool {
        self.master_pid.load(Relaxed) == std::process::id()
    }
}
