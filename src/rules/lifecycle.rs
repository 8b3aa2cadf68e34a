//! The slot lifecycle: a vacant slot is claimed (`try_claim`), a generation
//! starts in it (`start_generation`: its limits drawn, RUNNING published
//! last) and ends (`retire`: zeroed, VACANT published last). Each step is
//! one compare-and-swap on the slot's word, so any process (a master, a
//! worker claiming its own slot, a watchdog) may take it, and a reader sees
//! a generation whole or not at all. A permit the worker held may stay with
//! the slot across the change; when it may is the permits' rule.

use crate::rules::jitter::{self, Which};
use crate::rules::permits::carried_too_long;
use crate::rules::shared::Shared;
use crate::table::budget;
use crate::table::layout::{cell, flag, last_exit, state, GenState, Slot, NONE};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// The occupied slot holding `pid` (never for pid 0).
pub(crate) fn slot_of(slots: &[Slot], pid: u32) -> Option<u32> {
    if pid == 0 {
        return None;
    }
    slots
        .iter()
        .position(|s| {
            GenState::unpack(s.gen_state.load(Acquire)).state != state::VACANT
                && s.pid.load(Relaxed) == pid
        })
        .map(|i| i as u32)
}

/// Wins a vacant slot for a new generation, so that no one else fills it
/// at the same time.
pub(crate) fn try_claim(slot: &Slot) -> bool {
    let word = slot.gen_state.load(Acquire);
    let gs = GenState::unpack(word);
    if gs.state != state::VACANT || gs.has(flag::CLAIMING) {
        return false;
    }
    // A carried permit stays with the slot for the generation to come.
    let claiming = GenState {
        flags: flag::CLAIMING | (gs.flags & flag::PERMIT),
        ..gs
    };
    slot.gen_state
        .compare_exchange(word, claiming.pack(), AcqRel, Acquire)
        .is_ok()
}

/// Starts a new generation in a slot the caller has won (VACANT with the
/// CLAIMING flag, see `try_claim`): fills the fields, then publishes
/// RUNNING. Counters were zeroed when the last worker left, so
/// requests a child served before the master recorded it still count.
/// `seed`: the pool's, for the jitter draws.
pub(crate) fn start_generation(
    s: &Shared,
    seed: u64,
    index: u32,
    pid: u32,
    identity: u64,
    now: u64,
) -> u32 {
    let slot = &s.slots[index as usize];
    let gs = GenState::unpack(slot.gen_state.load(Acquire));
    let generation = gs.generation.wrapping_add(1);
    // The permit of the recycle this generation follows, if the slot
    // carries one: held until this worker serves (see `flag::INHERITED`).
    let inherited = gs.has(flag::PERMIT);
    let left_at = slot.recycle_at.load(Relaxed).min(now);
    let slots = s.slots.len() as u32;
    let l = s.limits;
    let request_limit = if l.max_requests == 0 {
        0
    } else {
        l.max_requests.saturating_add(jitter::draw(
            seed,
            index,
            slots,
            generation,
            Which::Requests,
            l.max_requests_jitter,
        ))
    };
    let lifetime_limit = if l.max_lifetime == 0 {
        0
    } else {
        l.max_lifetime.saturating_add(jitter::draw(
            seed,
            index,
            slots,
            generation,
            Which::Lifetime,
            l.lifetime_jitter,
        ))
    };
    slot.pid.store(pid, Relaxed);
    slot.identity.store(identity, Relaxed);
    slot.spawned_at.store(now, Relaxed);
    slot.last_beat.store(now, Relaxed);
    slot.request_limit.store(request_limit, Relaxed);
    slot.lifetime_limit.store(lifetime_limit, Relaxed);
    slot.recycle_at
        .store(if inherited { left_at } else { NONE }, Relaxed);
    slot.trip_value.store(0, Relaxed);
    // Idle from now: the free cells date the last activity (a cell in
    // use keeps its request's start).
    for c in &slot.cells {
        let _ = c.fetch_update(Relaxed, Relaxed, |w| {
            (!cell::used(w)).then(|| cell::free(w, now))
        });
    }
    slot.gen_state.store(
        GenState {
            generation,
            flags: if inherited {
                flag::PERMIT | flag::INHERITED
            } else {
                0
            },
            reason: 0,
            state: state::RUNNING,
        }
        .pack(),
        Release,
    );
    s.header.counters.spawns.fetch_add(1, Relaxed);
    generation
}

/// Ends a generation: zeroes the slot and makes it vacant. A recycle
/// permit the worker held stays with the slot until the next worker
/// there serves (the budget counts workers missing, not draining), or
/// goes back now when `ready_timeout` is 0 or it was carried that long
/// already. Returns the state the slot had, or None if it was already
/// vacant.
pub(crate) fn retire(s: &Shared, index: u32, now: u64) -> Option<GenState> {
    let slot = &s.slots[index as usize];
    let c = &s.header.counters;
    let requests = slot.requests.swap(0, Relaxed);
    let mut word = slot.gen_state.load(Acquire);
    loop {
        let gs = GenState::unpack(word);
        if gs.state == state::VACANT {
            slot.requests.fetch_add(requests, Relaxed);
            return None;
        }
        // Carried since the worker it replaces left: an inherited permit
        // keeps its first date, so a slot that never serves cannot hold
        // it beyond `ready_timeout`.
        let left_at = if gs.has(flag::INHERITED) {
            slot.recycle_at.load(Relaxed).min(now)
        } else {
            now
        };
        let carry = gs.has(flag::PERMIT) && !carried_too_long(s, left_at, now);
        let vacant = GenState {
            generation: gs.generation,
            flags: if carry { flag::PERMIT } else { 0 },
            reason: 0,
            state: state::VACANT,
        };
        // Zero before publishing VACANT so a new claimer starts clean.
        slot.reset(now);
        if carry {
            slot.recycle_at.store(left_at, Relaxed);
        }
        let asked = gs.state == state::DRAINING || gs.has(flag::EXITING);
        slot.last_exit.store(
            match gs.reason {
                0 if asked => last_exit::LEFT,
                0 => last_exit::CRASH,
                r => u64::from(r),
            },
            Relaxed,
        );
        match slot
            .gen_state
            .compare_exchange(word, vacant.pack(), AcqRel, Acquire)
        {
            Ok(_) => {
                if gs.has(flag::PERMIT) && !carry {
                    budget::release(&s.header.budget);
                }
                c.retired_requests.fetch_add(requests, Relaxed);
                c.exits.fetch_add(1, Relaxed);
                return Some(gs);
            }
            Err(w) => word = w,
        }
    }
}
