//! Replacing before retiring (`max_surge`). A soft recycle granted with
//! `max_surge` > 0 leaves its worker X serving (flag `SURGE`, holding its
//! permit); the master then returns a spawn for a parked slot Y marked as
//! X's replacement. When Y is ready (the host's `ready(Y)`, or Y has begun
//! a request) X drains: its decision becomes the recycle it was granted.
//! Y not ready within `ready_timeout`, or gone, and X retires the plain way;
//! so does X when the pool has no slot for replacements (every slot is a
//! position) or `max_pool_rss` leaves no headroom.
//! Every path ends with X draining.
//!
//! Positions: with `max_surge` = k the last k slots start parked (never
//! respawned when vacant). A ready replacement takes X's position: Y is
//! unparked and X's slot parked, so the pool's worker count holds.

use super::container::Container;
use super::queue::EventQueue;
use super::record::{Child, SlotSup};
use super::{ActionKind, PoolAction};
use crate::rules::core::Core;
use crate::rules::decision::Reason;
use crate::rules::event::{Event, EventKind};
use crate::table::layout::{flag, state, GenState, NONE};
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::Duration;

/// Marks a vacant slot as kept for a replacement (or no longer); a slot
/// someone filled meanwhile is left alone.
fn set_reserved(slot: &crate::table::layout::Slot, on: bool) {
    use std::sync::atomic::Ordering::Release;
    let _ = slot.gen_state.fetch_update(Release, Acquire, |w| {
        let gs = GenState::unpack(w);
        (gs.state == state::VACANT && !gs.has(flag::CLAIMING) && gs.has(flag::RESERVED) != on).then(
            || {
                GenState {
                    flags: if on {
                        gs.flags | flag::RESERVED
                    } else {
                        gs.flags & !flag::RESERVED
                    },
                    ..gs
                }
                .pack()
            },
        )
    });
}

/// Whether slot `i` starts parked in a pool of `n` slots with this surge.
pub(super) fn parked_at_start(i: usize, n: usize, max_surge: u64) -> bool {
    let k = usize::try_from(max_surge)
        .unwrap_or(usize::MAX)
        .min(n.saturating_sub(1));
    i >= n - k
}

/// What replacing before retiring works on, borrowed from the master's
/// supervisor for a call: the shared table, the master's records of the
/// slots (their `SurgeRole` above all), its children (replacements start
/// for its own only), the container (whether one fits) and the event queue.
pub(super) struct Surge<'a> {
    pub(super) core: &'a Core,
    pub(super) slots: &'a mut [SlotSup],
    pub(super) children: &'a [Child],
    pub(super) container: &'a Container,
    pub(super) events: &'a mut EventQueue,
}

impl Surge<'_> {
    fn is_child(&self, pid: u32) -> bool {
        self.children.iter().any(|c| c.pid == pid)
    }

    /// One round of replacements, before `tick()` looks at decisions: ends
    /// the surges whose replacement is ready, late or gone, and starts
    /// replacements for workers newly waiting for one.
    pub(super) fn round(&mut self, now: u64, out: &mut Vec<PoolAction>) {
        let core = self.core;
        let l = &core.limits;
        if l.max_surge == 0 {
            return;
        }
        let slots = core.slots();
        for (y, ys) in slots.iter().enumerate() {
            let Some(x) = self.slots[y].surge.replaces else {
                continue;
            };
            let gs = GenState::unpack(ys.gen_state.load(Acquire));
            if gs.state != state::VACANT && crate::rules::core::serves(ys, gs) {
                self.end(x, y as u32, now, true);
                continue;
            }
            if now < self.slots[y].surge.replace_deadline {
                continue;
            }
            // Late: the replacement goes, the old worker retires plainly.
            self.end(x, y as u32, now, false);
            core.header().counters.ready_timeouts.fetch_add(1, Relaxed);
            if gs.state != state::VACANT {
                let ss = &mut self.slots[y];
                ss.this_gen.kills_returned |= 1 << Reason::ReadyTimeout as u8;
                match ss.bound.child {
                    Some(child) => {
                        core.header().counters.by_reason[Reason::ReadyTimeout as usize]
                            .fetch_add(1, Relaxed);
                        out.push(PoolAction {
                            kind: ActionKind::Kill,
                            slot: y as u32,
                            pid: child.pid,
                            identity: child.identity,
                            generation: gs.generation,
                            reason: Some(Reason::ReadyTimeout),
                            not_before: Duration::ZERO,
                            replaces: None,
                        });
                        let ev = Event::of_slot(
                            core,
                            EventKind::Killed,
                            y as u32,
                            Some(Reason::ReadyTimeout),
                            now,
                        );
                        self.events.push(ev);
                    }
                    None => {
                        let ev = Event::of_slot(
                            core,
                            EventKind::Refused,
                            y as u32,
                            Some(Reason::ReadyTimeout),
                            now,
                        );
                        self.events.push(ev);
                    }
                }
            }
        }
        let in_flight = self
            .slots
            .iter()
            .filter(|ss| ss.surge.replacement.is_some())
            .count() as u64;
        let mut room = l.max_surge.saturating_sub(in_flight);
        // Workers waiting for a replacement, longest-waiting first, so that
        // none is passed over for ever: by when the master first saw each
        // wait (its own record: a grant date in the slot can be written
        // over), then by when it was granted.
        let mut waiting: Vec<((u64, u64), usize)> = Vec::new();
        for (x, (xs, ss)) in slots.iter().zip(self.slots.iter_mut()).enumerate() {
            let gs = GenState::unpack(xs.gen_state.load(Acquire));
            if gs.state == state::RUNNING && gs.has(flag::SURGE) && ss.surge.replacement.is_none() {
                let seen = *ss.this_gen.surge_seen.get_or_insert(now);
                waiting.push(((seen, xs.recycle_at.load(Acquire).min(now)), x));
            }
        }
        waiting.sort_unstable();
        for (_, x) in waiting {
            let gs = GenState::unpack(slots[x].gen_state.load(Acquire));
            if !self.is_child(slots[x].pid.load(Relaxed)) {
                // Replacements start only for the master's own children: a
                // slot any worker marks "waiting for a replacement" starts
                // no process; it retires the plain way.
                core.promote(&slots[x], now, false);
                continue;
            }
            if l.max_pool_rss > 0 {
                let rss = |i: usize| match slots[i].rss.load(Relaxed) {
                    NONE => 0,
                    v => v,
                };
                let pool: u64 = (0..slots.len())
                    .filter(|&i| {
                        GenState::unpack(slots[i].gen_state.load(Acquire)).state != state::VACANT
                    })
                    .map(rss)
                    .sum();
                if pool.saturating_add(rss(x)) > l.max_pool_rss {
                    core.promote(&slots[x], now, false);
                    continue;
                }
            }
            if !self.container.replacement_fits(core) {
                // A fresh worker would not fit under the container's limit
                // minus its headroom: retire first, and say so.
                core.promote(&slots[x], now, false);
                let ev = Event::of_slot(
                    core,
                    EventKind::RetireFirst,
                    x as u32,
                    Some(Reason::ContainerMemory),
                    now,
                );
                self.events.push(ev);
                continue;
            }
            if room == 0 {
                continue; // waits, serving, for a surge to end
            }
            let free = (0..slots.len()).find(|&y| {
                let ss: &SlotSup = &self.slots[y];
                let gy = GenState::unpack(slots[y].gen_state.load(Acquire));
                ss.surge.parked
                    && ss.surge.replaces.is_none()
                    && gy.state == state::VACANT
                    && !gy.has(flag::CLAIMING)
            });
            let Some(y) = free else {
                // A kept slot held by a worker on its way out (draining after
                // its own replacement) frees soon: wait for it. Otherwise
                // (none kept, or each held by a worker that stays, as one that
                // claimed it) retire the plain way.
                let soon = (0..slots.len()).any(|z| {
                    let gz = GenState::unpack(slots[z].gen_state.load(Acquire));
                    self.slots[z].surge.parked
                        && (gz.state == state::DRAINING || gz.has(flag::EXITING))
                        && self.is_child(slots[z].pid.load(Relaxed))
                });
                if !soon {
                    core.promote(&slots[x], now, false);
                }
                continue;
            };
            room -= 1;
            set_reserved(&slots[y], true);
            let ys = &mut self.slots[y];
            ys.surge.replaces = Some(x as u32);
            ys.surge.replace_started = now;
            ys.surge.replace_deadline = now.saturating_add(l.ready_timeout);
            ys.respawn.spawn_returned = true;
            self.slots[x].surge.replacement = Some(y as u32);
            core.header().counters.replacements.fetch_add(1, Relaxed);
            out.push(PoolAction {
                kind: ActionKind::Spawn,
                slot: y as u32,
                pid: 0,
                identity: 0,
                generation: GenState::unpack(slots[y].gen_state.load(Acquire)).generation,
                reason: Reason::from_code(gs.reason),
                not_before: Duration::from_micros(now),
                replaces: Some(x as u32),
            });
            let ev = Event::of_slot(
                core,
                EventKind::Replacing,
                x as u32,
                Reason::from_code(gs.reason),
                now,
            );
            self.events.push(ev);
        }
    }

    /// Ends the surge of worker `x` with replacement `y`: `x` drains either
    /// way; a ready `y` takes `x`'s position.
    pub(super) fn end(&mut self, x: u32, y: u32, now: u64, ready: bool) {
        let core = self.core;
        let (xi, yi) = (x as usize, y as usize);
        self.slots[yi].surge.replaces = None;
        set_reserved(&core.slots()[yi], false);
        if self.slots[xi].surge.replacement == Some(y) {
            self.slots[xi].surge.replacement = None;
        }
        core.promote(&core.slots()[xi], now, ready);
        if ready {
            self.slots[yi].surge.parked = false;
            self.slots[xi].surge.parked = true;
            let mut ev = Event::of_slot(core, EventKind::Ready, y, None, now);
            ev.delay = Some(Duration::from_micros(
                now.saturating_sub(self.slots[yi].surge.replace_started),
            ));
            self.events.push(ev);
        }
    }

    /// A slot's worker is gone: a replacement that never became ready lets
    /// its worker retire plainly; a worker gone while its replacement was on
    /// the way leaves its position to it.
    pub(super) fn on_exit(&mut self, slot: u32, now: u64) {
        let i = slot as usize;
        if let Some(x) = self.slots[i].surge.replaces {
            self.end(x, slot, now, false);
        }
        if let Some(y) = self.slots[i].surge.replacement.take() {
            let ys = &mut self.slots[y as usize];
            ys.surge.replaces = None;
            ys.surge.parked = false;
            self.slots[i].surge.parked = true;
        }
    }
}
