//! The pool's memory together with what every process needs to use it: the
//! policy (cached out of the shared header), the clock and the rules that
//! decide. Shared by the `Pool` and its `Worker` handles.

use crate::os::clock::{self, ClockMode};
use crate::policy::Policy;
use crate::rules::decision::{Action, Decision, Reason};
use crate::rules::jitter::{self, Which};
use crate::rules::limits::Limits;
use crate::table::budget;
use crate::table::layout::{
    cell, flag, last_exit, state, Activity, GenState, Header, Slot, NONE, REQUEST_BUCKETS,
    UPTIME_BUCKETS,
};
use crate::table::region::Region;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// How often (µs of pool time) a process with no master of ours looks for
/// permits held by the gone when it finds the budget full.
const TAKE_BACK_EVERY: u64 = 100_000;

/// The pool's time, read from the clock at most once and only if a rule
/// asks for it: most policies decide `end()` without it.
pub(crate) struct LazyNow<'a> {
    core: &'a Core,
    now: std::cell::Cell<Option<u64>>,
}

impl<'a> LazyNow<'a> {
    /// The time `now`, already read.
    #[inline]
    pub fn at(core: &'a Core, now: u64) -> Self {
        LazyNow {
            core,
            now: std::cell::Cell::new(Some(now)),
        }
    }

    /// The time, to be read when first needed.
    #[inline]
    pub fn later(core: &'a Core) -> Self {
        LazyNow {
            core,
            now: std::cell::Cell::new(None),
        }
    }

    #[inline]
    pub fn get(&self) -> u64 {
        match self.now.get() {
            Some(t) => t,
            None => {
                let t = self.core.now();
                self.now.set(Some(t));
                t
            }
        }
    }
}

pub(crate) struct Core {
    pub region: Region,
    pub policy: Policy,
    pub limits: Limits,
    pub clock: ClockMode,
    pub epoch_ns: u64,
    pub seed: u64,
    /// The process whose `Pool` supervises (it recorded a child or ticked).
    /// Process memory, not shared: no worker can claim to be the master.
    pub master_pid: AtomicU32,
    /// The permit recount (see `recount_permits`): when this process last
    /// made one (pool time + 1; 0 never) and the excess of the budget word
    /// over the permits found it saw then (as i64 bits).
    recounted_at: AtomicU64,
    recount_excess: AtomicU64,
}

/// What became of an inherited permit a soft recycle wanted to use.
enum Inherited {
    /// Taken off the slot (whose word is now this): the caller holds it.
    InHand(u64),
    /// Left on the slot: `min_recycle_interval` is not over.
    Held,
    /// The slot's word changed meanwhile (to this): look again.
    Changed(u64),
}

impl Core {
    /// The occupied slot holding `pid` (never for pid 0).
    pub(crate) fn slot_of(&self, pid: u32) -> Option<u32> {
        if pid == 0 {
            return None;
        }
        self.slots()
            .iter()
            .position(|s| {
                GenState::unpack(s.gen_state.load(Acquire)).state != state::VACANT
                    && s.pid.load(Relaxed) == pid
            })
            .map(|i| i as u32)
    }

    pub fn new(region: Region) -> Self {
        let fixed = region.header().fixed;
        // The policy was validated when the region was created or attached.
        let policy = Policy::from_raw_values(fixed.policy).unwrap_or_default();
        Core {
            limits: Limits::from(&policy),
            policy,
            clock: if fixed.clock_mode == ClockMode::Manual as u32 {
                ClockMode::Manual
            } else {
                ClockMode::Monotonic
            },
            epoch_ns: fixed.epoch_ns,
            seed: fixed.seed,
            region,
            master_pid: AtomicU32::new(0),
            recounted_at: AtomicU64::new(0),
            recount_excess: AtomicU64::new(0),
        }
    }

    #[inline]
    pub fn header(&self) -> &Header {
        self.region.header()
    }

    #[inline]
    pub fn slots(&self) -> &[Slot] {
        self.region.slots()
    }

    /// Microseconds since the pool's epoch.
    #[inline]
    pub fn now(&self) -> u64 {
        match self.clock {
            ClockMode::Monotonic => clock::coarse_ns().saturating_sub(self.epoch_ns) / 1_000,
            ClockMode::Manual => self.header().manual_now.load(Acquire),
        }
    }

    /// Starts a new generation in a slot the caller has won (VACANT with the
    /// CLAIMING flag, see `try_claim`): fills the fields, then publishes
    /// RUNNING. Counters were zeroed when the last worker left, so
    /// requests a child served before the master recorded it still count.
    pub fn start_generation(&self, index: u32, pid: u32, identity: u64, now: u64) -> u32 {
        let slot = &self.slots()[index as usize];
        let gs = GenState::unpack(slot.gen_state.load(Acquire));
        let generation = gs.generation.wrapping_add(1);
        // The permit of the recycle this generation follows, if the slot
        // carries one: held until this worker serves (see `flag::INHERITED`).
        let inherited = gs.has(flag::PERMIT);
        let left_at = slot.recycle_at.load(Relaxed).min(now);
        let slots = self.slots().len() as u32;
        let l = &self.limits;
        let request_limit = if l.max_requests == 0 {
            0
        } else {
            l.max_requests.saturating_add(jitter::draw(
                self.seed,
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
                self.seed,
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
        self.header().counters.spawns.fetch_add(1, Relaxed);
        generation
    }

    /// Wins a vacant slot for a new generation, so that no one else fills it
    /// at the same time.
    pub fn try_claim(&self, index: u32) -> bool {
        let slot = &self.slots()[index as usize];
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

    /// Ends a generation: zeroes the slot and makes it vacant. A recycle
    /// permit the worker held stays with the slot until the next worker
    /// there serves (the budget counts workers missing, not draining), or
    /// goes back now when `ready_timeout` is 0 or it was carried that long
    /// already. Returns the state the slot had, or None if it was already
    /// vacant.
    pub fn retire(&self, index: u32, now: u64) -> Option<GenState> {
        let slot = &self.slots()[index as usize];
        let c = &self.header().counters;
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
            let carry = gs.has(flag::PERMIT) && !self.carried_too_long(left_at, now);
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
                        budget::release(&self.header().budget);
                    }
                    c.retired_requests.fetch_add(requests, Relaxed);
                    c.exits.fetch_add(1, Relaxed);
                    return Some(gs);
                }
                Err(w) => word = w,
            }
        }
    }

    /// The slot's decision now, granting a pending soft recycle if the budget
    /// allows (this is how workers coordinate with no master running).
    pub fn decide(&self, slot: &Slot, now: u64) -> Decision {
        self.decide_with(slot, &LazyNow::at(self, now), true, 0)
    }

    /// `decide` for `end()`: right after a request ended, neither timeout
    /// can have tripped (the end is fresh activity and restarts the request
    /// timer), and a drain timeout only ever applies to a worker already told
    /// to exit, so the kill checks are skipped on this hot path.
    #[inline]
    pub fn decide_after_end(&self, slot: &Slot, now: &LazyNow) -> bool {
        self.decide_with(slot, now, false, 0).must_exit()
    }

    /// `decide` for `begin()` of the request that reaches the request
    /// limit, counting the `begun` requests in flight as if they had ended,
    /// so the worker can stop taking new work now and leave once they are
    /// done (gunicorn's own max_requests counts at the start of a request).
    pub fn decide_before_last(&self, slot: &Slot, begun: u64, now: &LazyNow) -> bool {
        self.decide_with(slot, now, false, begun).must_exit()
    }

    /// `pending`: requests in flight that the decision counts as served
    /// (from `decide_before_last`; 0 otherwise).
    fn decide_with(&self, slot: &Slot, now: &LazyNow, kills: bool, pending: u64) -> Decision {
        let mut word = slot.gen_state.load(Acquire);
        loop {
            let gs = GenState::unpack(word);
            if gs.state == state::VACANT {
                return Decision::CONTINUE;
            }
            if kills {
                if let Some(kill) = self.kill_reason(slot, gs, now.get()) {
                    return kill;
                }
            }
            if gs.state == state::DRAINING {
                let reason = Reason::from_code(gs.reason).unwrap_or(Reason::Manual);
                return Decision {
                    action: Action::Recycle,
                    reason: Some(reason),
                    value: slot.trip_value.load(Relaxed),
                    limit: self.limit_of(slot, reason),
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
                let c = &self.header().container;
                let (ws, at) = (c.working_set.load(Relaxed), c.threshold.load(Relaxed));
                (Reason::ContainerMemory, ws, at)
            } else {
                match self.soft_reason(slot, now, pending) {
                    None => {
                        if gs.has(flag::WAITING) {
                            // No longer due: out of the line for a permit.
                            self.set_waiting(slot, word, false);
                        }
                        return Decision::CONTINUE;
                    }
                    Some(t) => t,
                }
            };
            let forced = reason.is_forced();
            if !forced && self.held_by_min_lifetime(slot, now) {
                return Decision::CONTINUE;
            }
            // A worker that never served holds the permit of the one it
            // replaced: its own recycle goes on with that permit. A forced
            // one keeps it on the slot; a soft one takes it in hand, as if
            // just acquired, so that it waits out `min_recycle_interval`
            // and goes to a longer waiter first like any other.
            let mut have = gs.has(flag::INHERITED);
            let budget = &self.header().budget;
            if have && !forced {
                match self.take_inherited(slot, word, gs, now) {
                    Inherited::InHand(w) => {
                        (word, have) = (w, false);
                    }
                    Inherited::Held => {
                        if !gs.has(flag::WAITING) {
                            self.set_waiting(slot, word, true);
                        }
                        return Decision::CONTINUE;
                    }
                    Inherited::Changed(w) => {
                        word = w;
                        continue;
                    }
                }
            } else if !have && !self.acquire(now, forced) {
                if !gs.has(flag::WAITING) {
                    self.set_waiting(slot, word, true);
                }
                return Decision::CONTINUE;
            }
            let gs = GenState::unpack(word);
            // The permit goes to the waiter predicted to reach its memory
            // limit first, whoever asked.
            if !have && !forced && self.budget_limited() && self.hand_over(slot, now) {
                if !gs.has(flag::WAITING) {
                    self.set_waiting(slot, word, true);
                }
                return Decision::CONTINUE;
            }
            match self.grant(slot, word, gs, reason, value, now, pending) {
                Ok(false) => return Decision::tripped(reason, value, limit),
                Ok(true) => return Decision::CONTINUE,
                Err(w) => {
                    // Someone changed the slot meanwhile (granted it, retired
                    // it, flagged it): give the permit back and look again.
                    if !have {
                        budget::release(budget);
                    }
                    word = w;
                }
            }
        }
    }

    /// For a soft recycle of `slot`, whose word `word` holds an inherited
    /// permit: once `min_recycle_interval` is over since the last recycle
    /// start, takes the permit off the slot into the caller's hand (and
    /// dates a start now); the caller then grants or hands it over, or
    /// returns it to the budget if the grant fails.
    fn take_inherited(&self, slot: &Slot, word: u64, gs: GenState, now: &LazyNow) -> Inherited {
        let budget = &self.header().budget;
        let interval = self.limits.min_interval;
        if !budget::interval_over(budget, interval, now.get()) {
            return Inherited::Held;
        }
        let without = GenState {
            flags: gs.flags & !(flag::PERMIT | flag::INHERITED),
            ..gs
        }
        .pack();
        if let Err(w) = slot
            .gen_state
            .compare_exchange(word, without, AcqRel, Acquire)
        {
            return Inherited::Changed(w);
        }
        if budget::start_held(budget, interval, now.get()) {
            return Inherited::InHand(without);
        }
        // Another recycle started in between: the permit goes back on the
        // slot, or to the budget if the slot changed meanwhile.
        if slot
            .gen_state
            .compare_exchange(without, word, AcqRel, Acquire)
            .is_err()
        {
            budget::release(budget);
        }
        Inherited::Held
    }

    /// Takes a permit from the rolling budget. With the budget full and no
    /// master of ours in this process, first takes back the permits of the
    /// gone (at most every `TAKE_BACK_EVERY`): no permit outlives its holder,
    /// whether or not anyone reports its exit.
    fn acquire(&self, now: &LazyNow, forced: bool) -> bool {
        let budget = &self.header().budget;
        let (max, interval) = (self.limits.max_concurrent, self.limits.min_interval);
        if budget::try_acquire(budget, max, interval, now.get(), forced) {
            return true;
        }
        if max == 0 || budget::draining(budget) < max || self.is_master() {
            return false;
        }
        let t = now.get();
        let last = self.recounted_at.load(Relaxed);
        if last != 0 && t.saturating_sub(last - 1) < TAKE_BACK_EVERY && t >= last - 1 {
            return false;
        }
        self.recounted_at.store(t.saturating_add(1), Relaxed);
        self.recount_permits(t, true);
        budget::try_acquire(budget, max, interval, t, forced)
    }

    /// For a worker that has just started in `to` with the budget full:
    /// takes over the permit of a worker that is leaving (it marked its
    /// exit, and may still finish its last requests) or died holding one
    /// (no exit reported yet, perhaps never), which then comes back once
    /// this worker serves, as an inherited permit does. The dead worker's slot is left
    /// as it is, for its master to report. True if it took one.
    pub fn take_over_permit(&self, to: &Slot) -> bool {
        let max = self.limits.max_concurrent;
        if max == 0 || budget::draining(&self.header().budget) < max {
            return false;
        }
        for from in self.slots() {
            if std::ptr::eq(from, to) {
                continue;
            }
            let word = from.gen_state.load(Acquire);
            let gs = GenState::unpack(word);
            // A holder on its way out (it marked its exit) or gone: in a
            // server whose workers claim any free slot, the new worker is
            // its replacement, whichever slot it took.
            if gs.state == state::VACANT
                || !gs.has(flag::PERMIT)
                || !(gs.has(flag::EXITING) || crate::rules::liveness::holds_dead_process(from))
            {
                continue;
            }
            let without = GenState {
                flags: gs.flags & !(flag::PERMIT | flag::INHERITED),
                ..gs
            };
            if from
                .gen_state
                .compare_exchange(word, without.pack(), AcqRel, Acquire)
                .is_err()
            {
                continue;
            }
            let left_at = from.recycle_at.load(Relaxed);
            let now = self.now();
            let taken = to.gen_state.fetch_update(AcqRel, Acquire, |w| {
                let g = GenState::unpack(w);
                (g.state == state::RUNNING && !g.has(flag::PERMIT)).then(|| {
                    GenState {
                        flags: g.flags | flag::PERMIT | flag::INHERITED,
                        ..g
                    }
                    .pack()
                })
            });
            if taken.is_ok() {
                to.recycle_at.store(left_at.min(now), Relaxed);
                return true;
            }
            // This worker holds one already, or is gone: the permit goes back.
            budget::release(&self.header().budget);
            return false;
        }
        false
    }

    /// Whether this process supervises the pool (its `Pool` recorded a
    /// child or ticked); a forked child is not, whatever it inherited.
    pub fn is_master(&self) -> bool {
        self.master_pid.load(Relaxed) == std::process::id()
    }

    /// Whether a permit carried since `left_at` waited for a serving worker
    /// as long as it may (`ready_timeout`; 0: it never waits). A date in the
    /// future (a word someone wrote) has waited long enough; one after a
    /// `now` read a moment ago may be another process's since, so the
    /// clock is read again before taking it for written over.
    fn carried_too_long(&self, left_at: u64, now: u64) -> bool {
        let limit = self.limits.ready_timeout;
        if left_at > now {
            return limit == 0 || left_at > self.now();
        }
        limit == 0 || now - left_at >= limit
    }

    /// The worker in `slot` serves (ready, or a request begun): the permit
    /// it inherited goes back. Costs nothing unless it holds one.
    #[inline]
    pub fn serving(&self, slot: &Slot) {
        let word = slot.gen_state.load(Acquire);
        if GenState::unpack(word).has(flag::INHERITED) {
            self.give_back(slot, word, flag::PERMIT | flag::INHERITED);
        }
    }

    /// Clears `flags` (which include `PERMIT`) from `slot` if it still holds
    /// the permit, then returns it to the budget: each permit returns once.
    fn give_back(&self, slot: &Slot, mut word: u64, flags: u16) {
        loop {
            let gs = GenState::unpack(word);
            if !gs.has(flag::PERMIT) {
                return;
            }
            let without = GenState {
                flags: gs.flags & !flags,
                ..gs
            };
            match slot
                .gen_state
                .compare_exchange(word, without.pack(), AcqRel, Acquire)
            {
                Ok(_) => {
                    budget::release(&self.header().budget);
                    return;
                }
                Err(w) => word = w,
            }
        }
    }

    /// Counts the permits the slots hold, and takes back the ones no worker
    /// can return: carried too long, inherited by a worker that serves or
    /// never did in time, a flag on a slot that was never granted (clearing
    /// only that), and, with `check_alive`, held by a process that is gone
    /// (its slot is retired; the permit then waits for the next worker).
    /// Then repairs the shared budget word when it disagrees with the count
    /// on two recounts in a row by this process (a permit being taken sits
    /// in the word an instant before its slot shows it; a disagreement that
    /// lasts is a word someone wrote). Returns the permits held.
    pub fn recount_permits(&self, now: u64, check_alive: bool) -> u64 {
        let mut held = 0u64;
        for slot in self.slots() {
            let word = slot.gen_state.load(Acquire);
            let gs = GenState::unpack(word);
            if !gs.has(flag::PERMIT) {
                continue;
            }
            let at = slot.recycle_at.load(Relaxed);
            if gs.state == state::VACANT {
                if self.carried_too_long(at, now) {
                    self.give_back(slot, word, flag::PERMIT);
                } else {
                    held += 1;
                }
                continue;
            }
            if check_alive && crate::rules::liveness::holds_dead_process(slot) {
                // A worker missing: its permit waits for the worker that
                // takes its place (`take_over_permit`), at most
                // `ready_timeout` from its grant. The slot itself is left
                // for its master to report, with the exit status (or for the
                // watchdogs' second look).
                if self.carried_too_long(at, now) {
                    self.give_back(slot, word, flag::PERMIT | flag::INHERITED);
                } else {
                    held += 1;
                }
                continue;
            }
            if gs.has(flag::INHERITED) {
                if serves(slot, gs) || self.carried_too_long(at, now) {
                    self.give_back(slot, word, flag::PERMIT | flag::INHERITED);
                } else {
                    held += 1;
                }
                continue;
            }
            // A grant dated after `now` may be one made since `now` was read
            // (another process's, a moment ago): only a date after the
            // clock read afresh is one written over.
            let future = at > now && at > self.now();
            if gs.state == state::DRAINING
                && (future || now.saturating_sub(at) >= self.limits.drain_timeout.saturating_mul(2))
                && self.limits.drain_timeout > 0
            {
                // Told to leave twice its drain_timeout ago and still here
                // (a worker no master of ours can kill, that ignores its
                // recycle): it no longer holds the pool's turn.
                self.give_back(slot, word, flag::PERMIT);
                continue;
            }
            if gs.state == state::DRAINING || gs.has(flag::SURGE) {
                held += 1;
                continue;
            }
            // PERMIT on a worker never granted: not a permit of the budget's.
            let _ = slot.gen_state.compare_exchange(
                word,
                GenState {
                    flags: gs.flags & !flag::PERMIT,
                    ..gs
                }
                .pack(),
                AcqRel,
                Relaxed,
            );
        }
        let budget = &self.header().budget;
        let counted = budget::draining(budget);
        let excess = counted as i64 - held as i64;
        let before = self.recount_excess.swap(excess as u64, Relaxed) as i64;
        if excess != 0 && before != 0 && (excess > 0) == (before > 0) {
            // Off the same way twice: trust the slots, by the smaller error.
            let fix = if excess > 0 {
                excess.min(before)
            } else {
                excess.max(before)
            };
            budget::set_held(budget, (counted as i64 - fix).max(0) as u64);
            self.recount_excess.store(0, Relaxed);
        }
        held
    }

    /// True while `min_lifetime` holds a soft recycle of `slot` back.
    fn held_by_min_lifetime(&self, slot: &Slot, now: &LazyNow) -> bool {
        self.limits.min_lifetime > 0
            && now.get().saturating_sub(slot.spawned_at.load(Relaxed)) < self.limits.min_lifetime
    }

    /// Whether the rolling budget can make a worker wait at all.
    fn budget_limited(&self) -> bool {
        self.limits.max_concurrent > 0 || self.limits.min_interval > 0
    }

    /// Sets or clears `slot`'s WAITING flag, if its word is still `word`
    /// (a change meanwhile means someone else decided it).
    fn set_waiting(&self, slot: &Slot, word: u64, waiting: bool) {
        let gs = GenState::unpack(word);
        // While it waits, `recycle_at` says since when: equally urgent
        // waiters are granted in that order.
        if waiting {
            slot.recycle_at.store(self.now(), Relaxed);
        } else {
            slot.recycle_at.store(NONE, Relaxed);
        }
        let flags = if waiting {
            gs.flags | flag::WAITING
        } else {
            gs.flags & !flag::WAITING
        };
        let _ =
            slot.gen_state
                .compare_exchange(word, GenState { flags, ..gs }.pack(), AcqRel, Relaxed);
    }

    /// Grants `slot` the soft recycle for `reason` with a permit the caller
    /// holds: Ok(true) when it waits for a replacement (`max_surge`),
    /// Ok(false) when it drains now, Err(the slot's word) if it changed since
    /// `word`.
    #[allow(clippy::too_many_arguments)]
    fn grant(
        &self,
        slot: &Slot,
        word: u64,
        gs: GenState,
        reason: Reason,
        value: u64,
        now: &LazyNow,
        pending: u64,
    ) -> Result<bool, u64> {
        // With max_surge a soft recycle waits for a replacement (the master
        // starts it); a manual one retires at once.
        let surge = !reason.is_forced() && self.limits.max_surge > 0;
        let flags = (gs.flags | flag::PERMIT) & !(flag::MANUAL | flag::WAITING | flag::INHERITED);
        let granted = if surge {
            GenState {
                flags: flags | flag::SURGE,
                reason: reason as u8,
                ..gs
            }
        } else {
            GenState {
                flags,
                reason: reason as u8,
                state: state::DRAINING,
                ..gs
            }
        };
        slot.gen_state
            .compare_exchange(word, granted.pack(), AcqRel, Acquire)?;
        slot.trip_value.store(value, Relaxed);
        self.observe_recycle(slot, reason, now.get(), pending);
        // For a surge, when it was granted: replacements go in that order
        // (the drain is dated again when it starts).
        slot.recycle_at.store(now.get(), Release);
        Ok(surge)
    }

    /// How urgent a waiting worker is: microseconds until its memory
    /// reading reaches its limit (0 when there already; `u64::MAX` with no
    /// memory limit or no growth estimate yet).
    pub fn urgency(&self, slot: &Slot) -> u64 {
        let (metric, limit) = crate::rules::growth::Metric::of(&self.limits);
        if limit == 0 {
            return u64::MAX;
        }
        let latest = metric.latest(slot);
        if latest != NONE && latest >= limit {
            return 0;
        }
        crate::rules::growth::estimate(&self.limits, slot)
            .and_then(|g| g.to_limit)
            .map_or(u64::MAX, |d| {
                u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
            })
    }

    /// With a permit in hand for `slot`: gives it to the most urgent other
    /// waiter, if one is strictly more urgent and can take it now. True if
    /// it did (the caller keeps waiting).
    fn hand_over(&self, slot: &Slot, now: &LazyNow) -> bool {
        let mine = self.urgency(slot);
        if mine == 0 {
            return false; // nobody is more urgent than a worker at its limit
        }
        // Then, among the equally urgent, whoever has waited longest: a
        // worker that just became due does not pass one kept waiting.
        let since = |s: &Slot| {
            if GenState::unpack(s.gen_state.load(Acquire)).has(flag::WAITING) {
                // A date in the future (a word written over) is now.
                s.recycle_at.load(Relaxed).min(now.get())
            } else {
                NONE
            }
        };
        let mine = (mine, since(slot));
        let mut best: Option<(&Slot, (u64, u64))> = None;
        for other in self.slots() {
            if std::ptr::eq(other, slot) {
                continue;
            }
            let gs = GenState::unpack(other.gen_state.load(Acquire));
            if gs.state != state::RUNNING
                || !gs.has(flag::WAITING)
                || gs.has(flag::EXITING | flag::SURGE | flag::INHERITED)
            {
                continue;
            }
            let u = (self.urgency(other), since(other));
            if u < mine && best.map_or(true, |(_, b)| u < b) {
                best = Some((other, u));
            }
        }
        let Some((other, _)) = best else {
            return false;
        };
        let word = other.gen_state.load(Acquire);
        let gs = GenState::unpack(word);
        if gs.state != state::RUNNING || !gs.has(flag::WAITING) {
            return false;
        }
        let Some((reason, value, _)) = self.soft_reason(other, now, 0) else {
            self.set_waiting(other, word, false);
            return false;
        };
        if self.held_by_min_lifetime(other, now) {
            return false;
        }
        self.grant(other, word, gs, reason, value, now, 0).is_ok()
    }

    /// Ends a surge: the worker that waited for its replacement now drains
    /// (its decision becomes the recycle it was granted). With `replaced`
    /// (its replacement serves) its permit goes back now: no worker is
    /// missing; otherwise it keeps it, as a plain recycle does. False if it
    /// was not waiting.
    pub fn promote(&self, slot: &Slot, now: u64, replaced: bool) -> bool {
        let mut word = slot.gen_state.load(Acquire);
        loop {
            let gs = GenState::unpack(word);
            if gs.state != state::RUNNING || !gs.has(flag::SURGE) {
                return false;
            }
            slot.recycle_at.store(now, Release);
            let release = replaced && gs.has(flag::PERMIT);
            let draining = GenState {
                flags: gs.flags & !(flag::SURGE | if release { flag::PERMIT } else { 0 }),
                state: state::DRAINING,
                ..gs
            };
            match slot
                .gen_state
                .compare_exchange(word, draining.pack(), AcqRel, Acquire)
            {
                Ok(_) => {
                    if release {
                        budget::release(&self.header().budget);
                    }
                    return true;
                }
                Err(w) => word = w,
            }
        }
    }

    fn kill_reason(&self, slot: &Slot, gs: GenState, now: u64) -> Option<Decision> {
        let l = &self.limits;
        // The cells are read only for a rule that needs them (they are a
        // cache line of their own, and tick reads every slot).
        let activity = if l.request_timeout > 0 {
            Some(Activity::of(slot))
        } else {
            None
        };
        if let Some(oldest) = activity.and_then(|a| a.oldest) {
            let age = now.saturating_sub(oldest);
            if age >= l.request_timeout
                && (!gs.has(flag::LOOP) || loop_stalled(slot, now, l.request_timeout))
            {
                return Some(Decision::tripped(
                    Reason::RequestTimeout,
                    age,
                    l.request_timeout,
                ));
            }
        }
        if l.heartbeat_timeout > 0
            && now.saturating_sub(slot.last_beat.load(Relaxed)) >= l.heartbeat_timeout
        {
            // Silent since its last beat or its last activity, whichever
            // came later.
            let t = activity.unwrap_or_else(|| Activity::of(slot)).time();
            let silent = now.saturating_sub(t.max(slot.last_beat.load(Relaxed)));
            if silent >= l.heartbeat_timeout {
                return Some(Decision::tripped(
                    Reason::HeartbeatTimeout,
                    silent,
                    l.heartbeat_timeout,
                ));
            }
        }
        if gs.state == state::DRAINING && l.drain_timeout > 0 {
            let at = slot.recycle_at.load(Acquire);
            if at != NONE {
                let draining = now.saturating_sub(at);
                if draining >= l.drain_timeout {
                    return Some(Decision::tripped(
                        Reason::DrainTimeout,
                        draining,
                        l.drain_timeout,
                    ));
                }
            }
        }
        None
    }

    /// The reason `slot`'s worker is due for a recycle now, if any (for
    /// the master's `recycle_waiting` event; decides nothing).
    pub fn due_reason(&self, slot: &Slot, now: u64) -> Option<Reason> {
        let gs = GenState::unpack(slot.gen_state.load(Acquire));
        if gs.has(flag::MANUAL) {
            return Some(Reason::Manual);
        }
        if gs.has(flag::CONTAINER) {
            return Some(Reason::ContainerMemory);
        }
        self.soft_reason(slot, &LazyNow::at(self, now), 0)
            .map(|(r, _, _)| r)
    }

    /// The first soft reason that trips, in priority order, with its value
    /// and limit.
    fn soft_reason(&self, slot: &Slot, now: &LazyNow, pending: u64) -> Option<(Reason, u64, u64)> {
        let l = &self.limits;
        let over = |v: u64, limit: u64| limit > 0 && v != NONE && v >= limit;
        // With memory_sustain, reading `i` must have been over its limit
        // without a break for that long, as of the latest reading.
        let sustained = |i: usize| {
            if l.memory_sustain == 0 {
                return true;
            }
            let since = slot.over_since[i].load(Relaxed);
            since != NONE && slot.read_at.load(Relaxed).saturating_sub(since) >= l.memory_sustain
        };
        let rss = slot.rss.load(Relaxed);
        if over(rss, l.max_rss) && sustained(0) {
            return Some((Reason::MemoryRss, rss, l.max_rss));
        }
        let uss = slot.uss.load(Relaxed);
        if over(uss, l.max_uss) && sustained(1) {
            return Some((Reason::MemoryUss, uss, l.max_uss));
        }
        let pss = slot.pss.load(Relaxed);
        if over(pss, l.max_pss) && sustained(2) {
            return Some((Reason::MemoryPss, pss, l.max_pss));
        }
        let fds = slot.fds.load(Relaxed);
        if over(fds, l.max_fds) && sustained(3) {
            return Some((Reason::OpenFds, fds, l.max_fds));
        }
        let failures = u64::from(slot.health_failures.load(Relaxed));
        if over(failures, l.max_health_failures) {
            return Some((Reason::HealthCheck, failures, l.max_health_failures));
        }
        let requests = slot.requests.load(Relaxed).saturating_add(pending);
        let request_limit = self.request_limit(slot);
        if over(requests, request_limit) {
            return Some((Reason::MaxRequests, requests, request_limit));
        }
        let lifetime_limit = self.lifetime_limit(slot);
        if lifetime_limit > 0 {
            let age = now.get().saturating_sub(slot.spawned_at.load(Relaxed));
            if over(age, lifetime_limit) {
                return Some((Reason::MaxLifetime, age, lifetime_limit));
            }
        }
        if l.max_idle > 0 {
            if let Some(idle) = Activity::idle_for(slot, now.get(), l.max_idle) {
                return Some((Reason::Idle, idle, l.max_idle));
            }
        }
        // Set from the latest reading's estimate (`store_health`), so the
        // hot path reads one bit; the estimate is made again only now.
        if l.memory_forecast > 0
            && GenState::unpack(slot.gen_state.load(Relaxed)).has(flag::FORECAST)
        {
            let left = crate::rules::growth::estimate(&self.limits, slot)
                .and_then(|g| g.to_limit)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            return Some((Reason::MemoryForecast, left, l.memory_forecast));
        }
        None
    }

    /// This generation's request limit, as drawn at its start; a value the
    /// worker wrote outside `max_requests + [0, jitter]` is taken as the
    /// nearest bound (0 only when the policy has no limit).
    #[inline]
    pub fn request_limit(&self, slot: &Slot) -> u64 {
        let l = &self.limits;
        within(
            slot.request_limit.load(Relaxed),
            l.max_requests,
            l.max_requests_jitter,
        )
    }

    /// This generation's lifetime limit (µs), bounded as `request_limit`.
    pub fn lifetime_limit(&self, slot: &Slot) -> u64 {
        let l = &self.limits;
        within(
            slot.lifetime_limit.load(Relaxed),
            l.max_lifetime,
            l.lifetime_jitter,
        )
    }

    /// The limit a reason compares against, for displaying a sticky decision.
    fn limit_of(&self, slot: &Slot, reason: Reason) -> u64 {
        let l = &self.limits;
        match reason {
            Reason::RequestTimeout => l.request_timeout,
            Reason::HeartbeatTimeout => l.heartbeat_timeout,
            Reason::DrainTimeout => l.drain_timeout,
            Reason::Manual => 0,
            Reason::MemoryRss => l.max_rss,
            Reason::MemoryUss => l.max_uss,
            Reason::MemoryPss => l.max_pss,
            Reason::OpenFds => l.max_fds,
            Reason::HealthCheck => l.max_health_failures,
            Reason::MaxRequests => self.request_limit(slot),
            Reason::MaxLifetime => self.lifetime_limit(slot),
            Reason::Idle => l.max_idle,
            Reason::ReadyTimeout => l.ready_timeout,
            Reason::MemoryForecast => l.memory_forecast,
            Reason::ContainerMemory => self.header().container.threshold.load(Relaxed),
        }
    }

    /// Counts a granted recycle and files its requests and uptime in the
    /// histograms.
    fn observe_recycle(&self, slot: &Slot, reason: Reason, now: u64, pending: u64) {
        let c = &self.header().counters;
        c.by_reason[reason as usize].fetch_add(1, Relaxed);
        let requests = slot.requests.load(Relaxed).saturating_add(pending);
        let bucket = REQUEST_BUCKETS
            .iter()
            .position(|&b| requests <= b)
            .unwrap_or(REQUEST_BUCKETS.len());
        c.requests_hist[bucket].fetch_add(1, Relaxed);
        let _ = c
            .requests_sum
            .fetch_update(Relaxed, Relaxed, |s| Some(s.saturating_add(requests)));
        let uptime = now.saturating_sub(slot.spawned_at.load(Relaxed));
        let secs = uptime / 1_000_000;
        let bucket = UPTIME_BUCKETS
            .iter()
            .position(|&b| secs < b || (secs == b && uptime % 1_000_000 == 0))
            .unwrap_or(UPTIME_BUCKETS.len());
        c.uptime_hist[bucket].fetch_add(1, Relaxed);
        c.uptime_sum_us.fetch_add(uptime, Relaxed);
    }
}

/// Whether the worker in an occupied slot serves: the host said it is
/// ready, or it has begun a request. What a replacement (`max_surge`) and an
/// inherited permit wait for.
pub(crate) fn serves(slot: &Slot, gs: GenState) -> bool {
    gs.has(flag::READY) || slot.requests.load(Relaxed) > 0 || Activity::of(slot).in_flight > 0
}

/// A per-generation limit drawn as `base + [0, jitter]`, read back from a
/// word any worker can write: clamped into that range (0 when `base` is 0,
/// the rule off).
#[inline]
fn within(value: u64, base: u64, jitter: u64) -> u64 {
    if base == 0 {
        0
    } else {
        value.clamp(base, base.saturating_add(jitter))
    }
}

/// Whether the event loop of a worker that ends its own timed-out requests
/// (`flag::LOOP`) has stopped: no beat for half of `request_timeout`. While
/// it beats it cancels a request at its timeout itself, and one slow
/// request must not cost the worker; a handler that blocks the loop stops
/// the beats, and the worker is killed as any other, by the time its
/// request is `request_timeout` old and the loop has been still for half
/// that (a loop blocked from the request's start: at `request_timeout`).
pub(crate) fn loop_stalled(slot: &Slot, now: u64, request_timeout: u64) -> bool {
    now.saturating_sub(slot.last_beat.load(Relaxed)) >= (request_timeout / 2).max(1)
}
