//! Copy-on-write kept in view: how much of the parent's memory the workers
//! still share. A worker's shared memory is its RSS less its USS (pages
//! another process maps too); its share is that over the parent's RSS (what
//! it was forked with, read once the app booted), at most 1. The pool's
//! figure is the mean over the workers with both readings. Preloading buys
//! sharing; a worker that writes to inherited pages (Python's collector
//! touching every object's header, a refcount) copies them and its share
//! falls.

use crate::rules::core::Core;
use crate::table::layout::{state, GenState, NONE};
use std::sync::atomic::Ordering::{Acquire, Relaxed};

/// The pool's sharing now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sharing {
    /// The mean share, 0.0..=1.0.
    pub ratio: f64,
    /// Workers it is the mean of.
    pub workers: u32,
    /// The worker that shares least (for the event's line).
    pub lowest: u32,
}

/// A worker's shared memory: RSS less USS, when both are read.
pub(crate) fn shared(rss: u64, uss: u64) -> Option<u64> {
    (rss != NONE && uss != NONE).then(|| rss.saturating_sub(uss))
}

/// The pool's sharing, or None without the parent's RSS or any worker with
/// both readings.
pub(crate) fn of(core: &Core) -> Option<Sharing> {
    let parent = core.header().parent.rss.load(Relaxed);
    if parent == 0 {
        return None;
    }
    let (mut sum, mut n, mut lowest) = (0.0, 0u32, (f64::INFINITY, 0u32));
    for (i, s) in core.slots().iter().enumerate() {
        if GenState::unpack(s.gen_state.load(Acquire)).state == state::VACANT {
            continue;
        }
        let Some(sh) = shared(s.rss.load(Relaxed), s.uss.load(Relaxed)) else {
            continue;
        };
        let share = (sh as f64 / parent as f64).min(1.0);
        sum += share;
        n += 1;
        if share < lowest.0 {
            lowest = (share, i as u32);
        }
    }
    (n > 0).then(|| Sharing {
        ratio: sum / f64::from(n),
        workers: n,
        lowest: lowest.1,
    })
}
