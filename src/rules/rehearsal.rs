//! The dress rehearsal (`enforce`): a rule that trips but does not act is
//! decided as ever, then turned into a "would" decision (continue, with the
//! reason and the figures that tripped it), marked on the slot and counted
//! once per generation and reason. The worker serves on; nothing is granted,
//! no permit is taken and no line for one is joined.

use crate::rules::decision::{Decision, Reason};
use crate::rules::shared::Shared;
use crate::table::layout::Slot;
use std::sync::atomic::Ordering::Relaxed;

/// `d` (a recycle or a kill that tripped) if its rule acts; otherwise its
/// "would" decision, marked on `slot` and counted.
#[inline]
pub(crate) fn rehearse(s: &Shared, slot: &Slot, d: Decision) -> Decision {
    match d.reason {
        Some(reason) if !s.limits.enforces(reason) => {
            let bit = 1u64 << reason as u8;
            // Read first: a rule that stays tripped (every `end` past
            // max_requests) writes the shared line once, not per request.
            if slot.would.load(Relaxed) & bit == 0 && slot.would.fetch_or(bit, Relaxed) & bit == 0 {
                s.header.counters.would_by_reason[reason as usize].fetch_add(1, Relaxed);
            }
            d.would()
        }
        _ => d,
    }
}

/// What a reader of the marks (the master, or a watchdog where no master
/// runs) has said of one generation: each mark once, with its figures when
/// the decision shows the same reason. A mark the decision does not show yet
/// (the worker counted the request in flight that reached `max_requests`,
/// the decision of the reader waits for its end) waits one look for them;
/// one that never shows (a timeout that ended) is said without them at the
/// next.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Marks {
    said: u64,
    unshown: u64,
}

impl Marks {
    /// The reasons of `slot`'s marks to say now, given the reader's decision
    /// `d`; `said` records them once said.
    pub(crate) fn due(&mut self, slot: &Slot, d: &Decision) -> u64 {
        let shown = d
            .reason
            .filter(|_| d.is_would())
            .map_or(0, |r| 1u64 << r as u8);
        let pending = (slot.would.load(Relaxed) | shown) & !self.said;
        let due = pending & (shown | self.unshown);
        self.unshown = pending & !due;
        due
    }

    pub(crate) fn said(&mut self, bits: u64) {
        self.said |= bits;
    }
}

/// The reasons whose bits are set in `bits`, in priority order.
pub(crate) fn reasons(bits: u64) -> impl Iterator<Item = Reason> {
    Reason::ALL
        .iter()
        .copied()
        .filter(move |r| bits & (1 << *r as u8) != 0)
}
