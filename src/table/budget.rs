//! The rolling budget: at most `max_concurrent_recycles` workers draining at
//! once and at least `min_recycle_interval` between two recycle starts.
//!
//! Both live in one 64-bit word of the shared header so that a worker can take
//! a permit with a single compare-and-swap, in any process, with no master:
//! draining count (16 bits) | time of the last start in µs + 1 (48 bits; 0 =
//! never).

use crate::policy::TIME_MASK;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) use crate::policy::MAX_BUDGET;

fn unpack(word: u64) -> (u64, Option<u64>) {
    let last = word & TIME_MASK;
    (word >> 48, if last == 0 { None } else { Some(last - 1) })
}

fn pack(draining: u64, last_start: u64) -> u64 {
    (draining << 48) | ((last_start + 1) & TIME_MASK)
}

/// Takes a permit at `now` if the budget allows. A `forced` (manual) recycle
/// is not held back, but still counts against the budget of the others.
pub(crate) fn try_acquire(
    word: &AtomicU64,
    max_concurrent: u64,
    min_interval: u64,
    now: u64,
    forced: bool,
) -> bool {
    word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
        let (draining, last) = unpack(w);
        // Any worker can write the word: a last start in the future (which
        // would hold every recycle back for as long) counts as none.
        let last = last.filter(|&t| t <= now);
        if !forced {
            if max_concurrent > 0 && draining >= max_concurrent {
                return None;
            }
            if let Some(last) = last {
                if min_interval > 0 && now.saturating_sub(last) < min_interval {
                    return None;
                }
            }
        }
        Some(pack((draining + 1).min(MAX_BUDGET), now))
    })
    .is_ok()
}

/// Whether `min_interval` is over at `now` since the last recycle start
/// (a start in the future, written over, counts as none).
pub(crate) fn interval_over(word: &AtomicU64, min_interval: u64, now: u64) -> bool {
    let (_, last) = unpack(word.load(Ordering::Acquire));
    match last.filter(|&t| t <= now) {
        Some(last) => min_interval == 0 || now.saturating_sub(last) >= min_interval,
        None => true,
    }
}

/// Dates a recycle start at `now` for a permit already held (inherited
/// from a worker that left), if `min_interval` allows: the count of
/// permits held does not change.
pub(crate) fn start_held(word: &AtomicU64, min_interval: u64, now: u64) -> bool {
    word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
        let (draining, last) = unpack(w);
        if let Some(last) = last.filter(|&t| t <= now) {
            if min_interval > 0 && now.saturating_sub(last) < min_interval {
                return None;
            }
        }
        Some(pack(draining, now))
    })
    .is_ok()
}

/// Returns a permit. The caller guarantees it held one (the slot's PERMIT flag
/// is cleared by a compare-and-swap first, so each permit returns once).
pub(crate) fn release(word: &AtomicU64) {
    let _ = word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
        Some(w - (u64::from(w >> 48 > 0) << 48))
    });
}

/// Sets the count of permits held to `held` (the pool's recount of its
/// slots), keeping the last start.
pub(crate) fn set_held(word: &AtomicU64, held: u64) {
    let _ = word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
        Some((held.min(MAX_BUDGET) << 48) | (w & TIME_MASK))
    });
}

/// Workers currently holding a permit.
pub(crate) fn draining(word: &AtomicU64) -> u64 {
    unpack(word.load(Ordering::Acquire)).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_and_interval() {
        let w = AtomicU64::new(0);
        assert!(try_acquire(&w, 1, 10, 0, false));
        assert!(!try_acquire(&w, 1, 10, 100, false), "budget of 1 is full");
        release(&w);
        assert!(!try_acquire(&w, 1, 10, 5, false), "interval not yet over");
        assert!(
            try_acquire(&w, 1, 10, 10, false),
            "interval over at exactly 10"
        );
        assert!(try_acquire(&w, 1, 10, 10, true), "forced ignores limits");
        assert_eq!(draining(&w), 2);
        release(&w);
        release(&w);
        release(&w); // never goes below zero
        assert_eq!(draining(&w), 0);
    }
}
