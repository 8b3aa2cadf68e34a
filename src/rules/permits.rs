//! The permits: the rolling budget's turns (`max_concurrent_recycles`,
//! `min_recycle_interval`) as the slots hold them. A soft recycle needs
//! one; a slot's `PERMIT` flag says it holds one, and the budget's word
//! counts them. Any process may take, grant, pass on or give back a permit
//! (workers coordinate with no master running), so every change is a
//! compare-and-swap on the slot's word, and the budget's word moves only
//! after the slot's did: each permit is counted once and returns once.
//!
//! A permit outlives its worker on purpose: the budget counts workers
//! missing, not draining, so it stays with the slot (or passes to whoever
//! replaces the worker) until the next worker serves, at most
//! `ready_timeout`. The recount takes back what no worker can return.
//!
//! `Permits` owns the one state of this process's own (when it last
//! recounted, and what it saw); the rest is in the shared memory.

use crate::rules::decision::Reason;
use crate::rules::growth;
use crate::rules::limits::{Limits, Memory};
use crate::rules::liveness::holds_dead_process;
use crate::rules::reasons;
use crate::rules::shared::Shared;
use crate::rules::time::LazyNow;
use crate::table::budget;
use crate::table::layout::{
    flag, state, Activity, GenState, Header, Slot, NONE, REQUEST_BUCKETS, UPTIME_BUCKETS,
};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// How often (µs of pool time) a process with no master of ours looks for
/// permits held by the gone when it finds the budget full.
const TAKE_BACK_EVERY: u64 = 100_000;

/// This process's side of the permits: the recount (see `recount`).
pub(crate) struct Permits {
    /// When this process last made a take-back recount (pool time + 1;
    /// 0 never).
    recounted_at: AtomicU64,
    /// The excess of the budget word over the permits found that the last
    /// recount saw (as i64 bits).
    recount_excess: AtomicU64,
}

/// What became of an inherited permit a soft recycle wanted to use.
pub(crate) enum Inherited {
    /// Taken off the slot (whose word is now this): the caller holds it.
    InHand(u64),
    /// Left on the slot: `min_recycle_interval` is not over.
    Held,
    /// The slot's word changed meanwhile (to this): look again.
    Changed(u64),
}

/// A recycle to grant with a permit the caller holds.
pub(crate) struct Grant<'s> {
    pub slot: &'s Slot,
    /// The slot's word as the caller last read it: the grant fails if it
    /// changed since.
    pub word: u64,
    pub reason: Reason,
    /// The value that tripped `reason`.
    pub value: u64,
    /// Requests in flight the decision counted as served (for the
    /// histograms; see `decide_before_last`).
    pub pending: u64,
}

impl Permits {
    pub fn new() -> Self {
        Permits {
            recounted_at: AtomicU64::new(0),
            recount_excess: AtomicU64::new(0),
        }
    }

    /// For a soft recycle of `slot`, whose word `word` holds an inherited
    /// permit: once `min_recycle_interval` is over since the last recycle
    /// start, takes the permit off the slot into the caller's hand (and
    /// dates a start now); the caller then grants or hands it over, or
    /// returns it to the budget if the grant fails.
    pub fn take_inherited(
        &self,
        s: &Shared,
        slot: &Slot,
        word: u64,
        gs: GenState,
        now: &LazyNow,
    ) -> Inherited {
        let budget = &s.header.budget;
        let interval = s.limits.min_interval;
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
    pub fn acquire(&self, s: &Shared, now: &LazyNow, forced: bool) -> bool {
        let budget = &s.header.budget;
        let (max, interval) = (s.limits.max_concurrent, s.limits.min_interval);
        if budget::try_acquire(budget, max, interval, now.get(), forced) {
            return true;
        }
        if max == 0 || budget::draining(budget) < max || s.is_master() {
            return false;
        }
        let t = now.get();
        let last = self.recounted_at.load(Relaxed);
        if last != 0 && t.saturating_sub(last - 1) < TAKE_BACK_EVERY && t >= last - 1 {
            return false;
        }
        self.recounted_at.store(t.saturating_add(1), Relaxed);
        self.recount(s, t, true);
        budget::try_acquire(budget, max, interval, t, forced)
    }

    /// A permit in hand that was not used goes back to the budget.
    pub fn release(&self, s: &Shared) {
        budget::release(&s.header.budget);
    }

    /// For a worker that has just started in `to` with the budget full:
    /// takes over the permit of a worker that is leaving (it marked its
    /// exit, and may still finish its last requests) or died holding one
    /// (no exit reported yet, perhaps never), which then comes back once
    /// this worker serves, as an inherited permit does. The dead worker's
    /// slot is left as it is, for its master to report. True if it took one.
    pub fn take_over(&self, s: &Shared, to: &Slot) -> bool {
        let max = s.limits.max_concurrent;
        if max == 0 || budget::draining(&s.header.budget) < max {
            return false;
        }
        for from in s.slots {
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
                || !(gs.has(flag::EXITING) || holds_dead_process(from))
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
            let now = s.now();
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
            budget::release(&s.header.budget);
            return false;
        }
        false
    }

    /// The worker in `slot` serves (ready, or a request begun): the permit
    /// it inherited goes back. Costs nothing unless it holds one.
    #[inline]
    pub fn serving(&self, s: &Shared, slot: &Slot) {
        let word = slot.gen_state.load(Acquire);
        if GenState::unpack(word).has(flag::INHERITED) {
            give_back(s, slot, word, flag::PERMIT | flag::INHERITED);
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
    pub fn recount(&self, s: &Shared, now: u64, check_alive: bool) -> u64 {
        let l = s.limits;
        let mut held = 0u64;
        for slot in s.slots {
            let word = slot.gen_state.load(Acquire);
            let gs = GenState::unpack(word);
            if !gs.has(flag::PERMIT) {
                continue;
            }
            let at = slot.recycle_at.load(Relaxed);
            if gs.state == state::VACANT {
                if carried_too_long(s, at, now) {
                    give_back(s, slot, word, flag::PERMIT);
                } else {
                    held += 1;
                }
                continue;
            }
            if check_alive && holds_dead_process(slot) {
                // A worker missing: its permit waits for the worker that
                // takes its place (`take_over`), at most `ready_timeout`
                // from its grant. The slot itself is left for its master to
                // report, with the exit status (or for the watchdogs'
                // second look).
                if carried_too_long(s, at, now) {
                    give_back(s, slot, word, flag::PERMIT | flag::INHERITED);
                } else {
                    held += 1;
                }
                continue;
            }
            if gs.has(flag::INHERITED) {
                if serves(slot, gs) || carried_too_long(s, at, now) {
                    give_back(s, slot, word, flag::PERMIT | flag::INHERITED);
                } else {
                    held += 1;
                }
                continue;
            }
            // A grant dated after `now` may be one made since `now` was read
            // (another process's, a moment ago): only a date after the
            // clock read afresh is one written over.
            let future = at > now && at > s.now();
            if gs.state == state::DRAINING
                && (future || now.saturating_sub(at) >= l.drain_timeout.saturating_mul(2))
                && l.drain_timeout > 0
            {
                // Told to leave twice its drain_timeout ago and still here
                // (a worker no master of ours can kill, that ignores its
                // recycle): it no longer holds the pool's turn.
                give_back(s, slot, word, flag::PERMIT);
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
        let budget = &s.header.budget;
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

    /// Sets or clears `slot`'s WAITING flag (in line for a permit), if its
    /// word is still `word` (a change meanwhile means someone else decided
    /// it).
    pub fn set_waiting(&self, s: &Shared, slot: &Slot, word: u64, waiting: bool) {
        let gs = GenState::unpack(word);
        // While it waits, `recycle_at` says since when: equally urgent
        // waiters are granted in that order.
        if waiting {
            slot.recycle_at.store(s.now(), Relaxed);
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

    /// Grants `g.slot` the recycle for `g.reason` with a permit the caller
    /// holds: Ok(true) when it waits for a replacement (`max_surge`),
    /// Ok(false) when it drains now, Err(the slot's word) if it changed
    /// since `g.word`.
    pub fn grant(&self, s: &Shared, g: Grant, now: &LazyNow) -> Result<bool, u64> {
        let Grant {
            slot,
            word,
            reason,
            value,
            pending,
        } = g;
        let gs = GenState::unpack(word);
        // With max_surge a soft recycle waits for a replacement (the master
        // starts it); a manual one retires at once.
        let surge = !reason.is_forced() && s.limits.max_surge > 0;
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
        observe_recycle(s.header, slot, reason, now.get(), pending);
        // For a surge, when it was granted: replacements go in that order
        // (the drain is dated again when it starts).
        slot.recycle_at.store(now.get(), Release);
        Ok(surge)
    }

    /// With a permit in hand for `slot`: gives it to the most urgent other
    /// waiter, if one is strictly more urgent and can take it now. True if
    /// it did (the caller keeps waiting).
    pub fn hand_over(&self, s: &Shared, slot: &Slot, now: &LazyNow) -> bool {
        let m = s.memory();
        let mine = urgency(s.limits, &m, slot);
        if mine == 0 {
            return false; // nobody is more urgent than a worker at its limit
        }
        // Then, among the equally urgent, whoever has waited longest: a
        // worker that just became due does not pass one kept waiting.
        let since = |o: &Slot| {
            if GenState::unpack(o.gen_state.load(Acquire)).has(flag::WAITING) {
                // A date in the future (a word written over) is now.
                o.recycle_at.load(Relaxed).min(now.get())
            } else {
                NONE
            }
        };
        let mine = (mine, since(slot));
        let mut best: Option<(&Slot, (u64, u64))> = None;
        for other in s.slots {
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
            let u = (urgency(s.limits, &m, other), since(other));
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
        let Some((reason, value, _)) = reasons::soft(s, other, now, 0, true) else {
            self.set_waiting(s, other, word, false);
            return false;
        };
        if reasons::held_by_min_lifetime(s.limits, other, now) {
            return false;
        }
        let grant = Grant {
            slot: other,
            word,
            reason,
            value,
            pending: 0,
        };
        self.grant(s, grant, now).is_ok()
    }

    /// Ends a surge: the worker that waited for its replacement now drains
    /// (its decision becomes the recycle it was granted). With `replaced`
    /// (its replacement serves) its permit goes back now: no worker is
    /// missing; otherwise it keeps it, as a plain recycle does. False if it
    /// was not waiting.
    pub fn promote(&self, s: &Shared, slot: &Slot, now: u64, replaced: bool) -> bool {
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
                        budget::release(&s.header.budget);
                    }
                    return true;
                }
                Err(w) => word = w,
            }
        }
    }
}

/// Whether a permit carried since `left_at` waited for a serving worker
/// as long as it may (`ready_timeout`; 0: it never waits). A date in the
/// future (a word someone wrote) has waited long enough; one after a
/// `now` read a moment ago may be another process's since, so the
/// clock is read again before taking it for written over.
pub(crate) fn carried_too_long(s: &Shared, left_at: u64, now: u64) -> bool {
    let limit = s.limits.ready_timeout;
    if left_at > now {
        return limit == 0 || left_at > s.now();
    }
    limit == 0 || now - left_at >= limit
}

/// Whether the rolling budget can make a worker wait at all.
pub(crate) fn budget_limited(l: &Limits) -> bool {
    l.max_concurrent > 0 || l.min_interval > 0
}

/// How urgent a waiting worker is: microseconds until its memory
/// reading reaches its limit (0 when there already; `u64::MAX` with no
/// memory limit or no growth estimate yet).
pub(crate) fn urgency(l: &Limits, m: &Memory, slot: &Slot) -> u64 {
    let (metric, limit) = growth::Metric::of(l, m);
    if limit == 0 {
        return u64::MAX;
    }
    let latest = metric.latest(slot);
    if latest != NONE && latest >= limit {
        return 0;
    }
    growth::estimate(l, m, slot)
        .and_then(|g| g.to_limit)
        .map_or(u64::MAX, |d| {
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
        })
}

/// Whether the worker in an occupied slot serves: the host said it is
/// ready, or it has begun a request. What a replacement (`max_surge`) and an
/// inherited permit wait for.
pub(crate) fn serves(slot: &Slot, gs: GenState) -> bool {
    gs.has(flag::READY) || slot.requests.load(Relaxed) > 0 || Activity::of(slot).in_flight > 0
}

/// Clears `flags` (which include `PERMIT`) from `slot` if it still holds
/// the permit, then returns it to the budget: each permit returns once.
fn give_back(s: &Shared, slot: &Slot, mut word: u64, flags: u16) {
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
                budget::release(&s.header.budget);
                return;
            }
            Err(w) => word = w,
        }
    }
}

/// Counts a granted recycle and files its requests and uptime in the
/// histograms.
fn observe_recycle(header: &Header, slot: &Slot, reason: Reason, now: u64, pending: u64) {
    let c = &header.counters;
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
