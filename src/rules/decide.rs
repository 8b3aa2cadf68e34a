//! Decide: what a slot's worker must do now. A kill first (when asked for:
//! the hot path after a request skips them), then a recycle already
//! granted, then a manual, container or soft reason, which needs a permit:
//! with one in hand (inherited from the worker it replaced, or just taken
//! from the budget) the recycle is granted, unless a more urgent waiter
//! takes it; without one the worker waits in line. Whoever asks decides
//! for the slot (the worker as a request begins or ends, its watchdog, the
//! master's tick), so with no master running the workers coordinate among
//! themselves through the shared words alone. A rule that does not act
//! (`enforce`) is decided the same way and turned into a "would" decision
//! (`rehearsal`) before anything is granted: a rehearsed kill lets the
//! soft rules still be decided, and is what is left if none acts.

use crate::policy::ENFORCE_ALL;
use crate::rules::decision::{Action, Decision, Reason};
use crate::rules::permits::{budget_limited, Grant, Inherited, Permits};
use crate::rules::reasons;
use crate::rules::rehearsal::rehearse;
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
    // Some rule does not act (`enforce`): what it would do is looked for
    // once nothing that acts is found, and is the decision then.
    let rehearsing = s.limits.enforce != ENFORCE_ALL;
    let mut would = None;
    let rest = |would: Option<Decision>| would.unwrap_or(Decision::CONTINUE);
    loop {
        let gs = GenState::unpack(word);
        if gs.state == state::VACANT {
            return Decision::CONTINUE;
        }
        if kills && would.is_none() {
            if let Some(kill) = reasons::kill(s.limits, slot, gs, now.get(), true) {
                return kill;
            }
            if rehearsing {
                would = reasons::kill(s.limits, slot, gs, now.get(), false)
                    .map(|kill| rehearse(s, slot, kill));
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
            return rest(would);
        }
        if gs.has(flag::SURGE) {
            // Granted, but serving on until its replacement is ready.
            return rest(would);
        }
        let container = gs.has(flag::CONTAINER).then(|| {
            let c = &s.header.container;
            let (ws, at) = (c.working_set.load(Relaxed), c.threshold.load(Relaxed));
            (Reason::ContainerMemory, ws, at)
        });
        let acting = if gs.has(flag::MANUAL) {
            Some((Reason::Manual, 0, 0))
        } else {
            container
                .filter(|_| s.limits.enforces(Reason::ContainerMemory))
                .or_else(|| reasons::soft(s, slot, now, pending, true))
        };
        let Some((reason, value, limit)) = acting else {
            if gs.has(flag::WAITING) {
                // No longer due: out of the line for a permit.
                permits.set_waiting(s, slot, word, false);
            }
            if rehearsing && would.is_none() {
                // A rehearsed kill is the graver; then the container's pick.
                would = container
                    .or_else(|| reasons::soft(s, slot, now, pending, false))
                    .map(|(r, v, l)| rehearse(s, slot, Decision::tripped(r, v, l)));
            }
            return rest(would);
        };
        let forced = reason.is_forced();
        if !forced && reasons::held_by_min_lifetime(s.limits, slot, now) {
            return rest(would);
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
                    return rest(would);
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
            return rest(would);
        }
        let gs = GenState::unpack(word);
        // The permit goes to the waiter predicted to reach its memory
        // limit first, whoever asked.
        if !have && !forced && budget_limited(s.limits) && permits.hand_over(s, slot, now) {
            if !gs.has(flag::WAITING) {
                permits.set_waiting(s, slot, word, true);
            }
            return rest(would);
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
            Ok(true) => return rest(would),
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
