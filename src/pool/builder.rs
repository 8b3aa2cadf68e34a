//! How to make a pool: slots, sharing, a seed and the clock.

use super::Pool;
use crate::error::Result;
use crate::os::clock::{self, ClockMode};
use crate::policy::Policy;
use crate::table::region::{Region, Sharing};
use std::path::{Path, PathBuf};

/// How to make a pool.
#[derive(Clone, Debug)]
pub struct PoolBuilder {
    pub(super) policy: Policy,
    pub(super) slots: u32,
    pub(super) seed: Option<u64>,
    pub(super) manual_clock: bool,
    pub(super) sharing: Sharing,
    pub(super) path: Option<PathBuf>,
}

impl PoolBuilder {
    /// The number of worker slots (default 1).
    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }
    /// The jitter seed (default: drawn from the clock and pid).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Run on a manual clock that only `advance` moves (tests).
    pub fn manual_clock(mut self, manual: bool) -> Self {
        self.manual_clock = manual;
        self
    }
    /// Share the memory with children forked after creation.
    pub fn shared(mut self) -> Self {
        self.sharing = Sharing::Shared;
        self.path = None;
        self
    }
    /// Keep the pool in a new file at `path` (created 0600) that other
    /// processes attach. A pool file there that no live process holds is
    /// made anew; anything else there is refused. Removed when this
    /// process drops the pool, or at its exit.
    pub fn named(mut self, path: impl AsRef<Path>) -> Self {
        self.sharing = Sharing::Named;
        self.path = Some(path.as_ref().to_path_buf());
        self
    }

    pub fn build(self) -> Result<Pool> {
        let epoch_ns = clock::coarse_ns();
        let seed = self
            .seed
            .unwrap_or_else(|| clock::precise_ns() ^ (u64::from(std::process::id()) << 40));
        let mode = if self.manual_clock {
            ClockMode::Manual
        } else {
            ClockMode::Monotonic
        };
        let region = Region::create(
            self.sharing,
            self.path.as_deref(),
            self.slots,
            &self.policy,
            seed,
            mode,
            epoch_ns,
        )?;
        Ok(Pool::from_region(region))
    }
}
