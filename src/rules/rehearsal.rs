//! The dress rehearsal (`enforce`): a rule that trips but does not act is
//! decided as ever, then turned into a "would" decision (continue, with the
//! reason and the figures that tripped it), marked on the slot and counted
//! once per generation and reason. The worker serves on; nothing is granted,
//! no permit is taken and no line for one is joined.

use crate::rules::decision::Decision;
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
