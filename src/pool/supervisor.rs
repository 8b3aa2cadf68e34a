//! Supervision: the master's private record of its children, and what it
//! does with it: spawns, exits, the actions `tick()` returns and the events
//! it files. `Pool` holds a `Supervisor` behind a lock and calls it with
//! the shared table (`Core`); nothing here locks.

use super::backoff::BackoffRules;
use super::container::Container;
use super::parent::Parent;
use super::queue::EventQueue;
use super::record::{Child, SlotSup};
use super::sampling::{Round, Sampler};
use super::surge::Surge;
use super::{ActionKind, PoolAction, CLAIM_WAIT};
use crate::error::{Error, Result};
use crate::os::fork::AfterFork;
use crate::os::process::{self, Liveness};
use crate::rules::core::Core;
use crate::rules::decision::{Action, Decision, Reason};
use crate::rules::event::{Event, EventKind};
use crate::rules::liveness::holds_dead_process;
use crate::table::layout::{flag, state, GenState, Slot, NONE};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::Duration;

pub(super) struct Supervisor {
    pub(super) slots: Vec<SlotSup>,
    /// The master's private record of its children (see `spawned`,
    /// `adopt`). Shared memory is writable by every worker, so whom to
    /// signal is taken from here, never from a slot.
    pub(super) children: Vec<Child>,
    /// Events for the host to take (`queue.rs`).
    pub(super) events: EventQueue,
    /// Master-side sampling: each process's kept-open `/proc` files
    /// (`sampling.rs`).
    pub(super) sampler: Sampler,
    /// The container the master runs in (`container_memory`; `container.rs`).
    pub(super) container: Container,
    /// The parent's reading, for relative memory limits (`parent.rs`).
    pub(super) parent: Parent,
    /// A `sharing_low` event was filed and sharing has not recovered since.
    pub(super) sharing_low: bool,
}

impl Supervisor {
    pub(super) fn child(&self, pid: u32) -> Option<Child> {
        self.children.iter().copied().find(|c| c.pid == pid)
    }

    pub(super) fn forget_child(&mut self, pid: u32) {
        self.children.retain(|c| c.pid != pid);
    }
}

impl AfterFork for Supervisor {
    /// A forked child is not the master: it drops the parent's `/proc`
    /// files (they would count as its own open FDs), its events and its
    /// record of children (so it signals nobody on the parent's word).
    fn after_fork_in_child(&mut self) {
        self.sampler.forget_all();
        self.events.clear();
        self.children.clear();
        self.parent.forget();
        for ss in &mut self.slots {
            ss.bound.child = None;
        }
    }
}

impl Supervisor {
    /// The master started `child` in `slot` (see `Pool::spawned`).
    pub(super) fn spawned(&mut self, core: &Core, slot: u32, child: Child, now: u64) -> Result<()> {
        let Child { pid, .. } = child;
        core.master_pid.store(std::process::id(), Relaxed);
        let s = &core.slots()[slot as usize];
        // A child taking its slot by number (`worker(slot)`) may be filling
        // it right now (CLAIMING, a few stores): wait for it, then look again.
        // A claimer preempted mid-fill (a loaded machine) may take a while:
        // bounded by time, not by a count of tries.
        let deadline = std::time::Instant::now() + CLAIM_WAIT;
        while std::time::Instant::now() < deadline {
            let gs = GenState::unpack(s.gen_state.load(Acquire));
            if gs.state != state::VACANT {
                let held = s.pid.load(Relaxed);
                if held == pid {
                    // The child claimed it first; just take it on.
                    self.note_generation(core, slot, now);
                    self.record_child(slot, child);
                    return Ok(());
                }
                if process::liveness(held, s.identity.load(Relaxed)) == Liveness::Alive {
                    return Err(Error::SlotBusy { slot, pid: held });
                }
                self.on_exit(core, slot, None, now);
                continue;
            }
            if core.try_claim(slot) {
                core.start_generation(slot, pid, child.identity, now);
                self.note_generation(core, slot, now);
                self.record_child(slot, child);
                return Ok(());
            }
            std::thread::yield_now();
        }
        Err(Error::SlotBusy { slot, pid: 0 })
    }

    /// Takes `child`, a live child of this process, into the record (see
    /// `Pool::adopt`).
    pub(super) fn adopt(&mut self, child: Child) {
        let Child { pid, identity } = child;
        match self.child(pid) {
            Some(c) if c.identity == identity => return,
            Some(_) => self.forget_child(pid),
            None => {}
        }
        // Children that left without an exit report (they never claimed a
        // slot) would pile up: drop the dead once the record grows.
        if self.children.len() >= 2 * self.slots.len() + 16 {
            self.children
                .retain(|c| process::liveness(c.pid, c.identity) == Liveness::Alive);
        }
        self.children.push(child);
    }

    /// Notes a new generation in the supervisor and files its spawned event.
    pub(super) fn note_generation(&mut self, core: &Core, slot: u32, now: u64) {
        let s = &core.slots()[slot as usize];
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        let pid = s.pid.load(Relaxed);
        let child = self.child(pid);
        let ss = &mut self.slots[slot as usize];
        if ss.bound.generation == gs.generation && ss.bound.pid != 0 {
            return;
        }
        ss.new_generation(gs.generation, pid, child, now);
        let ev = Event::of_slot(core, EventKind::Spawned, slot, None, now);
        self.push_event(ev);
    }
}

impl Supervisor {
    /// Worker `pid` exited with `status` (see `Pool::exited`).
    pub(super) fn exited(&mut self, core: &Core, pid: u32, status: i32, now: u64) -> Result<u32> {
        let found = self.slot_of_child(core, pid);
        self.forget_child(pid);
        let Some(slot) = found else {
            let found = self
                .slots
                .iter()
                .position(|ss| pid != 0 && ss.bound.found_gone == pid)
                .ok_or(Error::UnknownPid(pid))?;
            self.slots[found].bound.found_gone = 0;
            return Ok(found as u32);
        };
        self.on_exit(core, slot, Some(status), now);
        Ok(slot)
    }

    /// The slot the master bound child `pid` to, if it still holds that
    /// generation; else the slot claiming the pid.
    pub(super) fn slot_of_child(&self, core: &Core, pid: u32) -> Option<u32> {
        let bound = self.slots.iter().enumerate().position(|(i, ss)| {
            let gs = GenState::unpack(core.slots()[i].gen_state.load(Acquire));
            pid != 0
                && ss.holds(pid)
                && ss.bound.generation == gs.generation
                && gs.state != state::VACANT
        });
        bound.map(|i| i as u32).or_else(|| core.slot_of(pid))
    }

    /// Retires the slots of `dead` (slot, pid: found gone without the lock)
    /// that still hold that gone process; returns them.
    pub(super) fn reap(&mut self, core: &Core, dead: Vec<(u32, u32)>, now: u64) -> Vec<u32> {
        let mut gone = Vec::new();
        for (i, pid) in dead {
            let s = &core.slots()[i as usize];
            if s.pid.load(Relaxed) == pid && holds_dead_process(s) {
                self.on_exit(core, i, None, now);
                gone.push(i);
            }
        }
        gone
    }

    /// The worker in `slot` is gone, with `status` when its host reported
    /// it: its exit event, the slot retired, and crash backoff.
    pub(super) fn on_exit(&mut self, core: &Core, slot: u32, status: Option<i32>, now: u64) {
        let s = &core.slots()[slot as usize];
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        if gs.state == state::VACANT {
            return;
        }
        if self.slots[slot as usize].bound.generation != gs.generation {
            self.note_generation(core, slot, now);
        }
        let ss = &self.slots[slot as usize];
        let killed = (ss.this_gen.kills_returned != 0).then(|| {
            Reason::ALL
                .iter()
                .copied()
                .find(|r| ss.this_gen.kills_returned & (1 << *r as u8) != 0)
        });
        let reason = match killed.flatten() {
            Some(r) => Some(r),
            // Draining, or killed by its own watchdog (which noted why).
            None if gs.state == state::DRAINING || gs.has(flag::EXITING) => {
                Reason::from_code(gs.reason)
            }
            None => None,
        };
        let asked = killed.is_some() || gs.state == state::DRAINING || gs.has(flag::EXITING);
        if gs.state == state::DRAINING
            && killed.is_none()
            && !self.slots[slot as usize].this_gen.recycle_returned
        {
            // Granted by the worker itself and gone before a tick returned
            // it: the recycle is still filed, dated from the grant, so every
            // recycle has its event.
            let d = core.decide(s, now);
            if d.action == Action::Recycle {
                let at = recycle_granted_at(s, now);
                let mut ev = Event::of_slot(core, EventKind::RecycleRequested, slot, d.reason, at);
                ev.decision = Some(d);
                self.push_event(ev);
            }
        }
        let mut ev = Event::of_slot(core, EventKind::Exited, slot, reason, now);
        ev.status = status;
        ev.crash = !asked;
        // SIGKILL from nobody of ours while the cgroup's OOM kill count rose.
        let sigkill = status.is_some_and(|st| st & 0x7f == 9);
        ev.oom_killed = !asked && sigkill && self.container.oom_killed();
        self.slots[slot as usize].bound.found_gone = if status.is_none() { ev.pid } else { 0 };
        let uptime = now.saturating_sub(s.spawned_at.load(Relaxed));
        core.retire(slot, now);
        // The master knows more than the slot did: its own kills and crashes.
        s.last_exit.store(
            match reason {
                Some(r) => r as u64,
                None if asked => crate::table::layout::last_exit::LEFT,
                None if ev.oom_killed => crate::table::layout::last_exit::OOM_KILLED,
                None => crate::table::layout::last_exit::CRASH,
            },
            Relaxed,
        );
        if ev.oom_killed {
            core.header().counters.oom_kills.fetch_add(1, Relaxed);
        }
        self.surge(core).on_exit(slot, now);
        self.container.on_exit(slot);
        if let Some(child) = self.slots[slot as usize].bound.child.take() {
            self.forget_child(child.pid);
        }
        self.push_event(ev.clone());

        let ss = &mut self.slots[slot as usize];
        ss.bound.generation = gs.generation;
        ss.vacated(now);
        let rules = BackoffRules::of(&core.policy);
        let delay = ss.respawn.backoff.on_exit(&rules, now, uptime, !asked);
        if asked {
            return;
        }
        let counters = &core.header().counters;
        counters.crashes.fetch_add(1, Relaxed);
        if let Some(delay) = delay {
            ss.respawn.not_before = now.saturating_add(delay);
            counters.crash_loops.fetch_add(1, Relaxed);
            let mut ev = ev;
            ev.kind = EventKind::CrashLoop;
            ev.delay = Some(Duration::from_micros(delay));
            self.push_event(ev);
        }
    }

    /// One round of `Pool::tick` under the lock, once the workers (and the
    /// container) due for sampling were `read`, in named phases: sample,
    /// container, surge, then for each slot spawn (a vacancy) or decide, and
    /// refuse or return-and-date.
    pub(super) fn tick(
        &mut self,
        core: &Core,
        read: Option<Round>,
        now: u64,
        out: &mut Vec<PoolAction>,
    ) {
        core.master_pid.store(std::process::id(), Relaxed);
        core.header().master_pid.store(
            crate::table::layout::master_word(std::process::id(), now),
            Relaxed,
        );
        let forked = !self.children.is_empty();
        self.parent.phase(core, now, forked);
        self.sample(core, read, now);
        if let Some(ev) = self.container.phase(core, &self.slots, now) {
            self.push_event(ev);
        }
        self.surge(core).round(now, out);
        for (i, s) in core.slots().iter().enumerate() {
            let slot = i as u32;
            let gs = GenState::unpack(s.gen_state.load(Acquire));
            if gs.state == state::VACANT {
                self.spawn(core, slot, gs, now, out);
                continue;
            }
            let Some(d) = self.decide(core, slot, gs, now) else {
                continue;
            };
            match self.order(core, slot, gs, &d) {
                Order::Nothing => {}
                Order::Refuse(reason) => self.refuse(core, slot, reason, now),
                Order::Return(action, kind) => {
                    out.push(action);
                    self.date(core, slot, kind, d, now);
                }
            }
        }
    }

    /// Phase "sample": the readings taken without the lock applied, then
    /// the permits recounted from the slots.
    fn sample(&mut self, core: &Core, read: Option<Round>, now: u64) {
        if let Some(round) = read {
            self.apply_round(core, round, now);
        } else {
            self.container.oom_baseline();
        }
        core.recount_permits(now, false);
    }

    /// `min_sharing`: once a round of readings shows the workers' mean
    /// share of the parent's memory below it, a `sharing_low` event; again
    /// only after a round at or above it.
    fn file_sharing(&mut self, core: &Core, now: u64) {
        let min = core.limits.min_sharing;
        if min == 0 {
            return;
        }
        let Some(sh) = crate::rules::sharing::of(core) else {
            return;
        };
        let ratio = (sh.ratio * 10_000.0).round() as u64;
        if ratio >= min {
            self.sharing_low = false;
            return;
        }
        if self.sharing_low {
            return;
        }
        self.sharing_low = true;
        let mut ev = Event::of_slot(core, EventKind::SharingLow, sh.lowest, None, now);
        ev.decision = Some(Decision {
            action: Action::Continue,
            reason: None,
            value: ratio,
            limit: min,
        });
        self.push_event(ev);
    }

    /// Before a round, every `sample_interval`: the workers to read (see
    /// `sampling.rs`: read without the lock, applied under it).
    pub(super) fn sampling_due(&mut self, core: &Core, now: u64) -> Option<Round> {
        self.sampler
            .due(core, now)
            .then(|| self.start_round(core, now))
    }

    /// A sampling round begins (`tick` when one is due, or the host's own
    /// `Pool::sample`): every worker to read, and the container when the
    /// policy asks for it. The one way to start a round.
    pub(super) fn start_round(&mut self, core: &Core, now: u64) -> Round {
        Round {
            targets: self.sampler.targets(core, now),
            container: self.container.take_for_read(core),
        }
    }

    /// A round read (without the lock) is applied: the container's reading,
    /// then each worker's; the slots whose process is gone are retired.
    pub(super) fn apply_round(
        &mut self,
        core: &Core,
        round: Round,
        now: u64,
    ) -> super::SampleReport {
        if let Some(c) = round.container {
            self.container.apply(core, c, now);
        }
        let applied = self
            .sampler
            .apply(core, round.targets, &mut self.slots, now);
        for rss in applied.start_sizes {
            self.container.note_start_size(rss);
        }
        for &slot in &applied.report.gone {
            self.on_exit(core, slot, None, now);
        }
        self.file_sharing(core, now);
        applied.report
    }

    /// Phase "spawn", for a vacant slot: a respawn when due (once per vacancy). A slot that
    /// says vacant while the master's child bound to it lives (a worker
    /// wrote its slot) is given back to that child instead: a vacancy
    /// nobody left would start a process for every such write.
    fn spawn(&mut self, core: &Core, slot: u32, gs: GenState, now: u64, out: &mut Vec<PoolAction>) {
        let i = slot as usize;
        if let Some(child) = self.slots[i].bound.child.take() {
            let s = &core.slots()[i];
            let alive = process::liveness(child.pid, child.identity) == Liveness::Alive;
            if alive {
                // No one fills a slot the master's live child holds: the
                // word was written over, and is made a plain vacancy.
                let clean = GenState {
                    generation: gs.generation,
                    flags: 0,
                    reason: 0,
                    state: state::VACANT,
                };
                s.gen_state.store(clean.pack(), Release);
            }
            if alive && core.try_claim(slot) {
                let bound_at = self.slots[i].bound.bound_at;
                core.start_generation(slot, child.pid, child.identity, now);
                self.note_generation(core, slot, now);
                let ss = &mut self.slots[i];
                ss.bound.child = Some(child);
                ss.bound.bound_at = bound_at.min(now);
                return;
            }
            if alive {
                self.slots[i].bound.child = Some(child);
                return;
            }
        }
        let ss = &mut self.slots[i];
        if gs.has(flag::CLAIMING) {
            let since = *ss.respawn.claiming_since.get_or_insert(now);
            if now.saturating_sub(since) >= CLAIM_WAIT.as_micros() as u64 {
                let s = &core.slots()[i];
                let _ = s.gen_state.compare_exchange(
                    gs.pack(),
                    GenState {
                        flags: gs.flags & !flag::CLAIMING,
                        ..gs
                    }
                    .pack(),
                    AcqRel,
                    Relaxed,
                );
                ss.respawn.claiming_since = None;
            }
        } else {
            ss.respawn.claiming_since = None;
        }
        if ss.bound.pid != 0 {
            // Retired by another process of the pool.
            ss.vacated(now);
        }
        if !ss.respawn.spawn_returned
            && !ss.surge.parked
            && !gs.has(flag::CLAIMING)
            && now >= ss.respawn.not_before
        {
            ss.respawn.spawn_returned = true;
            out.push(PoolAction {
                kind: ActionKind::Spawn,
                slot,
                pid: 0,
                identity: 0,
                generation: gs.generation,
                reason: None,
                not_before: Duration::from_micros(ss.respawn.not_before),
                replaces: None,
            });
        }
    }

    /// Phase "decide", for an occupied slot: the master's record brought up
    /// to date (the child it bound, a new generation, failed health checks)
    /// and the decision held to it. None for a slot that names no process
    /// (a word written over): it is made vacant.
    fn decide(&mut self, core: &Core, slot: u32, gs: GenState, now: u64) -> Option<Decision> {
        if core.slots()[slot as usize].pid.load(Relaxed) == 0 {
            core.retire(slot, now);
            return None;
        }
        self.hold_to_record(core, slot);
        let ss = &self.slots[slot as usize];
        if ss.bound.generation != gs.generation || ss.bound.pid == 0 {
            self.note_generation(core, slot, now);
        }
        self.file_health_events(core, slot, now);
        let d = self.master_decision(core, slot, now);
        self.file_waiting(core, slot, now);
        self.file_would(core, slot, &d, now);
        Some(d)
    }

    /// Rules rehearsed (`enforce`) that tripped for the slot's generation:
    /// one `would_recycle` or `would_kill` event per reason. The slot marks
    /// each as it is decided, whoever decided it (a timeout that tripped
    /// and ended between two ticks too), so the master files the marks; the
    /// figures come with the master's own decision when it shows the same
    /// reason. A worker can write marks, and so costs at most one line per
    /// reason and generation.
    fn file_would(&mut self, core: &Core, slot: u32, d: &Decision, now: u64) {
        let marks = &mut self.slots[slot as usize].this_gen.would;
        let due = marks.due(&core.slots()[slot as usize], d);
        marks.said(due);
        for r in crate::rules::rehearsal::reasons(due) {
            let mut ev = Event::of_slot(core, EventKind::would(r), slot, Some(r), now);
            ev.decision = (d.reason == Some(r)).then_some(*d);
            self.push_event(ev);
        }
    }

    /// A worker due for a soft recycle that waits for a permit: one event
    /// per generation, with the reason it is due for.
    fn file_waiting(&mut self, core: &Core, slot: u32, now: u64) {
        let s = &core.slots()[slot as usize];
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        let ss = &mut self.slots[slot as usize];
        if !gs.has(flag::WAITING) || ss.this_gen.waiting_filed {
            return;
        }
        ss.this_gen.waiting_filed = true;
        let reason = core.due_reason(s, now);
        self.push_event(Event::of_slot(
            core,
            EventKind::RecycleWaiting,
            slot,
            reason,
            now,
        ));
    }

    /// A slot that names another process than the live child the master
    /// bound to it, and not one of its children either, was written over:
    /// the child's pid and identity go back, so no write takes a worker out
    /// of supervision.
    fn hold_to_record(&self, core: &Core, slot: u32) {
        let Some(child) = self.slots[slot as usize].bound.child else {
            return;
        };
        let s = &core.slots()[slot as usize];
        let pid = s.pid.load(Relaxed);
        if pid == child.pid || self.child(pid).is_some() {
            return;
        }
        if process::liveness(child.pid, child.identity) == Liveness::Alive {
            s.pid.store(child.pid, Relaxed);
            s.identity.store(child.identity, Relaxed);
        }
    }

    /// A health check failed since the last round: one event each.
    fn file_health_events(&mut self, core: &Core, slot: u32, now: u64) {
        let failures = core.slots()[slot as usize].health_failures.load(Relaxed);
        let ss = &mut self.slots[slot as usize];
        if failures > ss.this_gen.failures_seen {
            ss.this_gen.failures_seen = failures;
            let ev = Event::of_slot(
                core,
                EventKind::HealthCheckFailed,
                slot,
                Some(Reason::HealthCheck),
                now,
            );
            self.push_event(ev);
        } else if failures < ss.this_gen.failures_seen {
            ss.this_gen.failures_seen = failures;
        }
    }

    /// The slot's decision, held to what the master measured itself: a
    /// worker of its own over a memory or FD limit by the master's reading,
    /// or past its lifetime by the master's clock, is decided from those
    /// (its slot's readings and start put back) whatever the slot says; one
    /// that claims to be leaving (EXITING) while over such a limit is killed
    /// once it has not left within `drain_timeout`.
    fn master_decision(&mut self, core: &Core, slot: u32, now: u64) -> Decision {
        let s = &core.slots()[slot as usize];
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        if self.container.kill_due(slot, gs.generation) {
            // The working set kept rising while it drained: killed now, so
            // the kernel never picks a worker at random.
            let w = &core.header().container;
            let kill = Decision {
                action: Action::Kill,
                reason: Some(Reason::ContainerMemory),
                value: self.container.latest.map_or(0, |r| r.working_set),
                limit: w.threshold.load(Relaxed),
            };
            return core.rehearse(s, kill);
        }
        let d = core.decide(s, now);
        let ss = &mut self.slots[slot as usize];
        if d.action != Action::Continue
            || !ss.holds(s.pid.load(Relaxed))
            || !measured_over(core, ss, s, now)
        {
            ss.this_gen.exiting_since = None;
            return d;
        }
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        if gs.has(flag::EXITING) {
            let since = *ss.this_gen.exiting_since.get_or_insert(now);
            let limit = core.limits.drain_timeout;
            let waited = now.saturating_sub(since);
            if limit > 0 && waited >= limit {
                return Decision::tripped(Reason::DrainTimeout, waited, limit);
            }
            return d;
        }
        let m = ss.this_gen.measured;
        for (cell, v) in [
            (&s.rss, m.rss),
            (&s.uss, m.uss),
            (&s.pss, m.pss),
            (&s.fds, m.fds),
        ] {
            if let Some(v) = v {
                cell.store(v.min(NONE - 1), Relaxed);
            }
        }
        if s.spawned_at.load(Relaxed) > ss.bound.bound_at {
            s.spawned_at.store(ss.bound.bound_at, Relaxed);
        }
        if gs.has(flag::WAITING) {
            // In line since its start at the latest: no date it wrote puts
            // it behind workers due after it.
            let since = s.recycle_at.load(Relaxed);
            s.recycle_at.store(since.min(ss.bound.bound_at), Relaxed);
        }
        for (since, at) in s.over_since.iter().zip(ss.this_gen.over_since) {
            since.store(at.unwrap_or(NONE), Relaxed);
        }
        s.read_at.store(now, Relaxed);
        core.decide(s, now)
    }

    /// Turns a decision into the action to return (once per generation and
    /// reason) and its event; whom to signal comes from the master's record,
    /// never from the slot.
    fn order(&mut self, core: &Core, slot: u32, gs: GenState, d: &Decision) -> Order {
        let Some(reason) = d.reason else {
            return Order::Nothing;
        };
        // The slot's pid only says which of the master's children it is.
        let slot_pid = core.slots()[slot as usize].pid.load(Relaxed);
        let known = self.child(slot_pid);
        let ss = &mut self.slots[slot as usize];
        if ss.bound.child.map(|c| c.pid) != Some(slot_pid) {
            ss.bound.child = known;
        }
        let (kind, event) = match d.action {
            // A worker already told to die needs no recycle as well.
            Action::Recycle if !ss.this_gen.recycle_returned && ss.this_gen.kills_returned == 0 => {
                (ActionKind::Recycle, EventKind::RecycleRequested)
            }
            Action::Kill if ss.this_gen.kills_returned & (1 << reason as u8) == 0 => {
                (ActionKind::Kill, EventKind::Killed)
            }
            _ => return Order::Nothing,
        };
        let Some(child) = ss.bound.child else {
            return Order::Refuse(reason);
        };
        match kind {
            ActionKind::Kill => {
                ss.this_gen.kills_returned |= 1 << reason as u8;
                core.header().counters.by_reason[reason as usize].fetch_add(1, Relaxed);
            }
            _ => ss.this_gen.recycle_returned = true,
        }
        let action = PoolAction {
            kind,
            slot,
            pid: child.pid,
            identity: child.identity,
            generation: gs.generation,
            reason: Some(reason),
            not_before: Duration::ZERO,
            replaces: None,
        };
        Order::Return(action, event)
    }

    /// Phase "refuse": a signal due to a worker that is none of the
    /// master's children is filed once per generation and reason, and held
    /// back, not dropped: a worker the server lists later (`adopt`) still
    /// gets it.
    fn refuse(&mut self, core: &Core, slot: u32, reason: Reason, now: u64) {
        let ss = &mut self.slots[slot as usize];
        if ss.this_gen.refused & (1 << reason as u8) == 0 {
            ss.this_gen.refused |= 1 << reason as u8;
            self.push_event(Event::of_slot(
                core,
                EventKind::Refused,
                slot,
                Some(reason),
                now,
            ));
        }
    }

    /// Phase "date": the event of a returned action. A recycle may have
    /// been granted earlier, by the worker itself: its event (and the uptime
    /// in it) is dated from the grant.
    fn date(&mut self, core: &Core, slot: u32, kind: EventKind, d: Decision, now: u64) {
        let at = match kind {
            EventKind::RecycleRequested => recycle_granted_at(&core.slots()[slot as usize], now),
            _ => now,
        };
        let mut ev = Event::of_slot(core, kind, slot, d.reason, at);
        ev.decision = Some(d);
        self.push_event(ev);
    }

    /// How long until the next respawn held back by crash backoff is due.
    pub(super) fn next_spawn_in(&self, core: &Core, now: u64) -> Option<Duration> {
        core.slots()
            .iter()
            .zip(self.slots.iter())
            .filter(|(s, ss)| {
                GenState::unpack(s.gen_state.load(Acquire)).state == state::VACANT
                    && !ss.respawn.spawn_returned
            })
            .map(|(_, ss)| Duration::from_micros(ss.respawn.not_before.saturating_sub(now)))
            .min()
    }

    /// Puts `child` in the master's record and binds it to `slot`.
    fn record_child(&mut self, slot: u32, child: Child) {
        self.forget_child(child.pid);
        self.children.push(child);
        self.slots[slot as usize].bound.child = Some(child);
    }

    /// Replacing before retiring (`surge.rs`), on this master's record.
    fn surge<'a>(&'a mut self, core: &'a Core) -> Surge<'a> {
        Surge {
            core,
            slots: &mut self.slots,
            children: &self.children,
            container: &self.container,
            events: &mut self.events,
        }
    }

    /// Files an event (see `EventQueue`).
    pub(super) fn push_event(&mut self, ev: Event) {
        self.events.push(ev);
    }
}

/// When the recycle of `s`'s worker was granted (at the latest `now`).
fn recycle_granted_at(s: &Slot, now: u64) -> u64 {
    match s.recycle_at.load(Acquire) {
        NONE => now,
        granted => granted.min(now),
    }
}

/// What a decision comes to for the master (`Supervisor::order`).
enum Order {
    /// Nothing to return: no reason, or returned already this generation.
    Nothing,
    /// A signal is due, but the slot's worker is none of the master's
    /// children.
    Refuse(Reason),
    /// An action to return, and the event it is filed as.
    Return(PoolAction, EventKind),
}

/// Whether a limit the master measures itself is reached by its own
/// record: memory and FDs by its last sampling (held `memory_sustain` by
/// its own dates: `measured_due`, worked out when it samples, so a tick
/// compares one time), lifetime from when it bound the child.
fn measured_over(core: &Core, ss: &SlotSup, s: &Slot, now: u64) -> bool {
    if ss.this_gen.measured_due.is_some_and(|at| now >= at) {
        return true;
    }
    core.limits.max_lifetime > 0 && now.saturating_sub(ss.bound.bound_at) >= core.lifetime_limit(s)
}
