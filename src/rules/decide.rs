//! Decide: what a slot's worker must do now. A kill first (when asked for:
//! the hot path after a request skips them), then a recycle already
//! granted, then a manual, container or soft reason, which needs a permit:
//! with one in hand (inherited from the worker it replaced, or just taken
//! from the budget) the recycle is granted, unless a more urgent waiter
//! takes it; without one the worker waits in line. Whoever asks decides
//! for the slot (the worker as a request begins or ends, its watchdog, the
//! master's tick), so with no master running the workers coordinate among
//! themselves through the shared words alone.

use crate::rules::decision::{Action, Decision, Reason};
use crate::rules::permits::{budget_limited, Grant, Inherited, Permits};
use crate::rules::reasons;
use crate::rules::shared::Shared;
use crate::rules::time::LazyNow;
use crate::table::layout::{flag, state, GenState, Slot};
use std::sync::atomic::Ordering::{Acquire, Relaxed};

/// The slot's decision, granting a pending recycle if the budget allows.
/// `kills`: check the kill reasons too. `pending`: requests in flight
/// that the decision counts as served (from `decide_before_last`; 0
/// otherwise).
pub(crate) fn decide(
    s: &Shared,
    permits: &Permits,
    slot: &Slot,
    now: &LazyNow,
    kills: bool,
    pending: u64,
) -> Decision {
    let mut word = slot.gen_state.load(Acquire);
    loop {
        let gs = GenState::unpack(word);
        if gs.state == state::VACANT {
            return Decision::CONTINUE;
        }
        if kills {
            if let Some(kill) = reasons::kill(s.limits, slot, gs, now.get()) {
                return kill;
            }
        }
        if gs.state == state::DRAINING {
            let reason = Reason::from_code(gs.reason).unwrap_or(Reason::Manual);
            return Decision {
                action: Action::Recycle,
                reason: Some(reason),
                value: slot.trip_value.load(Relaxed),
                limit: reasons::limit_of(s, slot, reason),
            };
        }
        if gs.has(flag::EXITING) {
            // Already leaving on its own: no permit to take.
            return Decision::CONTINUE;
        }
        if gs.has(flag::SURGE) {
            // Granted, but serving on until its replacement is ready.
            return Decision::CONTINUE;
        }
        let (reason, value, limit) = if gs.has(flag::MANUAL) {
            (Reason::Manual, 0, 0)
        } else if gs.has(flag::CONTAINER) {
            let c = &s.header.container;
            let (ws, at) = (c.working_set.load(Relaxed), c.threshold.load(Relaxed));
            (Reason::ContainerMemory, ws, at)
        } else {
            match reasons::soft(s.limits, slot, now, pending) {
                None => {
                    if gs.has(flag::WAITING) {
                        // No longer due: out of the line for a permit.
                        permits.set_waiting(s, slot, word, false);
                    }
                    return Decision::CONTINUE;
                }
                Some(t) => t,
            }
        };
        let forced = reason.is_forced();
        if !forced && reasons::held_by_min_lifetime(s.limits, slot, now) {
            return Decision::CONTINUE;
        }
        // A worker that never served holds the permit of the one it
        // replaced: its own recycle goes on with that permit. A forced
        // one keeps it on the slot; a soft one takes it in hand, as if
        // just acquired, so that it waits out `min_recycle_interval`
        // and goes to a longer waiter first like any other.
        let mut have = gs.has(flag::INHERITED);
        if have && !forced {
            match permits.take_inherited(s, slot, word, gs, now) {
                Inherited::InHand(w) => {
                    (word, have) = (w, false);
                }
                Inherited::Held => {
                    if !gs.has(flag::WAITING) {
                        permits.set_waiting(s, slot, word, true);
                    }
                    return Decision::CONTINUE;
                }
                Inherited::Changed(w) => {
                    word = w;
                    continue;
                }
            }
        } else if !have && !permits.acquire(s, now, forced) {
            if !gs.has(flag::WAITING) {
                permits.set_waiting(s, slot, word, true);
            }
            return Decision::CONTINUE;
        }
        let gs = GenState::unpack(word);
        // The permit goes to the waiter predicted to reach its memory
        // limit first, whoever asked.
        if !have && !forced && budget_limited(s.limits) && permits.hand_over(s, slot, now) {
            if !gs.has(flag::WAITING) {
                permits.set_waiting(s, slot, word, true);
            }
            return Decision::CONTINUE;
        }
        let grant = Grant {
            slot,
            word,
            reason,
            value,
            pending,
        };
        match permits.grant(s, grant, now) {
            Ok(false) => return Decision::tripped(reason, value, limit),
            Ok(true) => return Decision::CONTINUE,
            Err(w) => {
                // Someone changed the slot meanwhile (granted it, retired
                // it, flagged it): give the permit back and look again.
                if !have {
                    permits.release(s);
                }
                word = w;
            }
        }
    }
}
