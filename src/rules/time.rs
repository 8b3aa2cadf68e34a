//! Pool time: microseconds since the pool's epoch, the one time every rule
//! compares. Every process of a pool reads the same clock (the coarse
//! monotonic one, or in a manual pool the header's word that tests move),
//! so a date one process writes is one every other can compare.
//!
//! `LazyNow` reads it at most once per decision and only if a rule asks:
//! most policies decide `end()` without reading a clock at all.

use crate::os::clock::{self, ClockMode};
use std::cell::Cell;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Acquire;

/// The pool's clock, borrowed from the pool for as long as it is read.
#[derive(Clone, Copy)]
pub(crate) struct Clock<'a> {
    mode: ClockMode,
    epoch_ns: u64,
    /// The header's word a manual pool's time is (read only in that mode).
    manual_now: &'a AtomicU64,
}

impl<'a> Clock<'a> {
    #[inline]
    pub fn new(mode: ClockMode, epoch_ns: u64, manual_now: &'a AtomicU64) -> Self {
        Clock {
            mode,
            epoch_ns,
            manual_now,
        }
    }

    /// Microseconds since the pool's epoch.
    #[inline]
    pub fn now(&self) -> u64 {
        match self.mode {
            ClockMode::Monotonic => clock::coarse_ns().saturating_sub(self.epoch_ns) / 1_000,
            ClockMode::Manual => self.manual_now.load(Acquire),
        }
    }
}

/// The pool's time, read from the clock at most once and only if a rule
/// asks for it.
pub(crate) struct LazyNow<'a> {
    clock: Clock<'a>,
    now: Cell<Option<u64>>,
}

impl<'a> LazyNow<'a> {
    /// The time `now`, already read.
    #[inline]
    pub fn at(clock: Clock<'a>, now: u64) -> Self {
        LazyNow {
            clock,
            now: Cell::new(Some(now)),
        }
    }

    /// The time, to be read when first needed.
    #[inline]
    pub fn unread(clock: Clock<'a>) -> Self {
        LazyNow {
            clock,
            now: Cell::new(None),
        }
    }

    #[inline]
    pub fn get(&self) -> u64 {
        match self.now.get() {
            Some(t) => t,
            None => {
                let t = self.clock.now();
                self.now.set(Some(t));
                t
            }
        }
    }
}
