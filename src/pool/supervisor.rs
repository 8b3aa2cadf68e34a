//! Supervision: the master's private record of its children, and what it
//! does with it: spawns, exits, crash backoff, the actions `tick()` returns
//! and the events it files.

use super::{ActionKind, Pool, PoolAction, CLAIM_WAIT, EVENT_CAPACITY};
use crate::error::{Error, Result};
use crate::os::clock::ClockMode;
use crate::os::fork::AfterFork;
use crate::os::process::{self, Liveness, ProcHandle};
use crate::policy::Key;
use crate::pool::event::{Event, EventKind};
use crate::rules::decision::{Action, Decision, Reason};
use crate::rules::liveness::holds_dead_process;
use crate::table::layout::{flag, state, GenState, NONE};
use crate::worker::{Health, Worker};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::Duration;

/// A child of the master: a pid it spawned or adopted, with the start time
/// it read itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Child {
    pub(super) pid: u32,
    pub(super) identity: u64,
}

#[derive(Default)]
pub(super) struct SlotSup {
    /// The master's child that holds this slot's generation, when the slot's
    /// pid is one of them; actions name this pid and identity only.
    pub(super) child: Option<Child>,
    /// Bit per reason code: refusals already filed for this generation.
    pub(super) refused: u16,
    /// The generation last seen in the slot (0: none yet).
    pub(super) generation: u32,
    pub(super) pid: u32,
    pub(super) recycle_returned: bool,
    /// Bit per reason code: kills already returned for this generation.
    pub(super) kills_returned: u16,
    pub(super) spawn_returned: bool,
    pub(super) not_before: u64,
    pub(super) crashes: VecDeque<u64>,
    pub(super) backoff_level: u32,
    pub(super) failures_seen: u32,
    /// The pid of the last worker the pool found gone by itself (sampling,
    /// `reap_dead`) before the host reported its exit: the host's later
    /// `exited(pid)` is answered with this slot instead of an error.
    pub(super) found_gone: u32,
    /// When sampling first found the master's own child gone and already
    /// reaped (pool time): its host is between `waitpid` and reporting the
    /// exit with its status, which is waited for (`EXIT_REPORT_WAIT`)
    /// before the slot is retired without one.
    pub(super) reaped_since: Option<u64>,
    /// Not respawned when vacant: a slot kept for replacements
    /// (`max_surge`; see `surge.rs`).
    pub(super) parked: bool,
    /// On a worker waiting to retire: the slot of its replacement.
    pub(super) replacement: Option<u32>,
    /// On a replacement: the slot of the worker it replaces, when it was
    /// started and by when it must be ready.
    pub(super) replaces: Option<u32>,
    pub(super) replace_started: u64,
    pub(super) replace_deadline: u64,
    /// When the master bound its child to this generation (pool time): the
    /// age it judges `max_lifetime` by, whatever the slot says.
    pub(super) bound_at: u64,
    /// The master's own latest reading of the child (its sampling): the
    /// memory and FDs it judges the limits by, whatever the slot says.
    pub(super) measured: Health,
    /// Since when each of the master's readings (rss, uss, pss, fds) has
    /// been at or over its limit without a break, by its own sampling.
    pub(super) over_since: [Option<u64>; 4],
    /// When the first of those readings over its limit has been so for
    /// `memory_sustain` (at once without it): from then on the master holds
    /// the worker to it.
    pub(super) measured_due: Option<u64>,
    /// Since when a worker over a limit the master measures has claimed to
    /// be leaving (EXITING) without going: killed after `drain_timeout`.
    pub(super) exiting_since: Option<u64>,
    /// When the master first saw this generation waiting for a replacement
    /// (`max_surge`): the order replacements start in.
    pub(super) surge_seen: Option<u64>,
    /// Since when the slot has been vacant and marked as being filled
    /// (CLAIMING): a fill takes a few stores, so a mark that stays was
    /// written, and is cleared.
    pub(super) claiming_since: Option<u64>,
}

pub(super) struct Supervisor {
    pub(super) slots: Vec<SlotSup>,
    /// The master's private record of its children (see `spawned`,
    /// `adopt`). Shared memory is writable by every worker, so whom to
    /// signal is taken from here, never from a slot.
    pub(super) children: Vec<Child>,
    pub(super) events: VecDeque<Event>,
    pub(super) dropped_events: u64,
    /// Kept-open `/proc` files of each slot's process, for sampling.
    pub(super) handles: Vec<Option<ProcHandle>>,
    pub(super) last_sample: Option<u64>,
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
        self.handles.iter_mut().for_each(|h| *h = None);
        self.events.clear();
        self.dropped_events = 0;
        self.children.clear();
        for ss in &mut self.slots {
            ss.child = None;
        }
    }
}

impl Pool {
    /// The master started `pid` in `slot`. A slot still holding a live
    /// process is refused; one whose process is gone is retired first.
    ///
    /// The pid joins the master's private record of its children, with the
    /// start time read now: actions for the slot name this pid and identity.
    /// A pid whose process is already gone is recorded with identity 0, which
    /// never authorises a signal.
    pub fn spawned(&self, slot: u32, pid: u32) -> Result<()> {
        self.check_slot(slot)?;
        if pid == 0 {
            return Err(Error::NoSuchProcess(0));
        }
        let identity = process::identity(pid);
        let now = self.core.now();
        let mut sup = self.sup();
        self.core.master_pid.store(std::process::id(), Relaxed);
        let s = &self.core.slots()[slot as usize];
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
                    self.note_generation(&mut sup, slot, now);
                    record_child(&mut sup, slot, Child { pid, identity });
                    return Ok(());
                }
                if process::liveness(held, s.identity.load(Relaxed)) == Liveness::Alive {
                    return Err(Error::SlotBusy { slot, pid: held });
                }
                self.on_exit(&mut sup, slot, None, now);
                continue;
            }
            if self.core.try_claim(slot) {
                self.core.start_generation(slot, pid, identity, now);
                self.note_generation(&mut sup, slot, now);
                record_child(&mut sup, slot, Child { pid, identity });
                return Ok(());
            }
            std::thread::yield_now();
        }
        Err(Error::SlotBusy { slot, pid: 0 })
    }

    /// Takes `pid` as one of the master's own workers, for hosts whose
    /// server starts them (gunicorn's arbiter): the worker then claims a
    /// slot itself, and actions for that slot name this pid. The process
    /// must be a live child of the calling process; its start time is read
    /// now. Calling it again for a known pid changes nothing.
    pub fn adopt(&self, pid: u32) -> Result<()> {
        let me = std::process::id();
        let (parent, identity) = match process::identity::parent_and_start(pid) {
            Some(found) => found,
            None if cfg!(target_os = "linux") => return Err(Error::NoSuchProcess(pid)),
            None => return Err(Error::NotSupported("reading a process's parent (no /proc)")),
        };
        if parent != me {
            return Err(Error::NotAChild { pid, parent });
        }
        let mut sup = self.sup();
        self.core.master_pid.store(me, Relaxed);
        match sup.child(pid) {
            Some(c) if c.identity == identity => return Ok(()),
            Some(_) => sup.forget_child(pid),
            None => {}
        }
        // Children that left without an exit report (they never claimed a
        // slot) would pile up: drop the dead once the record grows.
        if sup.children.len() >= 2 * sup.slots.len() + 16 {
            sup.children
                .retain(|c| process::liveness(c.pid, c.identity) == Liveness::Alive);
        }
        sup.children.push(Child { pid, identity });
        Ok(())
    }

    /// Notes a new generation in the supervisor and files its spawned event.
    pub(super) fn note_generation(&self, sup: &mut Supervisor, slot: u32, now: u64) {
        let s = &self.core.slots()[slot as usize];
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        let pid = s.pid.load(Relaxed);
        let child = sup.child(pid);
        let ss = &mut sup.slots[slot as usize];
        if ss.generation == gs.generation && ss.pid != 0 {
            return;
        }
        ss.generation = gs.generation;
        ss.pid = pid;
        ss.recycle_returned = false;
        ss.kills_returned = 0;
        ss.spawn_returned = false;
        ss.failures_seen = 0;
        ss.refused = 0;
        // The same child in a new generation (a generation number written
        // over) keeps its age: no write restarts its lifetime.
        if child.is_none() || ss.child != child {
            ss.bound_at = now;
        }
        ss.child = child;
        ss.measured = Health::default();
        ss.over_since = [None; 4];
        ss.measured_due = None;
        ss.exiting_since = None;
        ss.surge_seen = None;
        ss.reaped_since = None;
        let ev = self.event(EventKind::Spawned, slot, None, now);
        push_event(sup, ev);
    }

    pub(super) fn event(
        &self,
        kind: EventKind,
        slot: u32,
        reason: Option<Reason>,
        now: u64,
    ) -> Event {
        let s = &self.core.slots()[slot as usize];
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        let rss = s.rss.load(Relaxed);
        Event {
            kind,
            slot,
            pid: s.pid.load(Relaxed),
            generation: gs.generation,
            reason,
            at: Duration::from_micros(now),
            uptime: Duration::from_micros(now.saturating_sub(s.spawned_at.load(Relaxed))),
            requests: s.requests.load(Relaxed),
            rss: (rss != NONE).then_some(rss),
            status: None,
            crash: false,
            delay: None,
            decision: None,
            growth: match kind {
                EventKind::RecycleRequested | EventKind::Killed | EventKind::Exited => {
                    crate::rules::growth::estimate(&self.core, s)
                }
                _ => None,
            },
        }
    }

    /// The worker `pid` exited (the host reaped it with `waitpid`). Returns
    /// its slot. Exits the pool did not ask for count as crashes. A worker
    /// the pool already found gone by itself (sampling, `reap_dead`) is
    /// answered with its slot once, with nothing more recorded.
    ///
    /// The pid leaves the master's record of its children either way.
    pub fn exited(&self, pid: u32, status: i32) -> Result<u32> {
        let now = self.core.now();
        let mut sup = self.sup();
        let found = self.slot_of_child(&sup, pid);
        sup.forget_child(pid);
        let Some(slot) = found else {
            let found = sup
                .slots
                .iter()
                .position(|ss| pid != 0 && ss.found_gone == pid)
                .ok_or(Error::UnknownPid(pid))?;
            sup.slots[found].found_gone = 0;
            return Ok(found as u32);
        };
        self.on_exit(&mut sup, slot, Some(status), now);
        Ok(slot)
    }

    /// The slot the master bound child `pid` to, if it still holds that
    /// generation; else the slot claiming the pid.
    pub(super) fn slot_of_child(&self, sup: &Supervisor, pid: u32) -> Option<u32> {
        let bound = sup.slots.iter().enumerate().position(|(i, ss)| {
            let gs = GenState::unpack(self.core.slots()[i].gen_state.load(Acquire));
            pid != 0
                && ss.child.is_some_and(|c| c.pid == pid)
                && ss.generation == gs.generation
                && gs.state != state::VACANT
        });
        bound.map(|i| i as u32).or_else(|| self.slot_of(pid))
    }

    /// The host's server asked worker `pid` to leave on its own account (its
    /// graceful restart, scale-down or shutdown): its exit will not count as
    /// a crash, and its recycle permit, if it held one, goes back now. What
    /// `Worker::exiting` is for the worker, by pid for the master. Returns
    /// the slot.
    pub fn exiting(&self, pid: u32) -> Result<u32> {
        let slot = self
            .slot_of_child(&self.sup(), pid)
            .ok_or(Error::UnknownPid(pid))?;
        // The server's own call (scale-down, shutdown, its restart): a
        // permit it held goes back now, none waits for a replacement.
        Worker::new(self.core.clone(), slot).exiting_because(None, true);
        Ok(slot)
    }

    /// The worker in `slot` exited.
    pub fn exited_slot(&self, slot: u32, status: i32) -> Result<()> {
        self.check_slot(slot)?;
        let now = self.core.now();
        let mut sup = self.sup();
        self.on_exit(&mut sup, slot, Some(status), now);
        Ok(())
    }

    /// Checks the pid of every occupied slot and retires those whose process
    /// is gone (or whose pid now belongs to another process). Returns their
    /// slots. Costs a `kill(pid, 0)` and a `/proc` read per worker, so hosts
    /// call it at a sampling interval, not on every tick.
    pub fn reap_dead(&self) -> Vec<u32> {
        // The checks read `/proc` and the shared slots only: made without
        // the supervisor's lock, then confirmed under it.
        let dead: Vec<(u32, u32)> = (self.core.slots().iter().enumerate())
            .filter(|(_, s)| holds_dead_process(s))
            .map(|(i, s)| (i as u32, s.pid.load(Relaxed)))
            .collect();
        let now = self.core.now();
        let mut sup = self.sup();
        let mut gone = Vec::new();
        for (i, pid) in dead {
            let s = &self.core.slots()[i as usize];
            if s.pid.load(Relaxed) == pid && holds_dead_process(s) {
                self.on_exit(&mut sup, i, None, now);
                gone.push(i);
            }
        }
        gone
    }

    pub(super) fn on_exit(&self, sup: &mut Supervisor, slot: u32, status: Option<i32>, now: u64) {
        let s = &self.core.slots()[slot as usize];
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        if gs.state == state::VACANT {
            return;
        }
        if sup.slots[slot as usize].generation != gs.generation {
            self.note_generation(sup, slot, now);
        }
        let ss = &sup.slots[slot as usize];
        let killed = (ss.kills_returned != 0).then(|| {
            Reason::ALL
                .iter()
                .copied()
                .find(|r| ss.kills_returned & (1 << *r as u8) != 0)
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
            && !sup.slots[slot as usize].recycle_returned
        {
            // Granted by the worker itself and gone before a tick returned
            // it: the recycle is still filed, dated from the grant, so every
            // recycle has its event.
            let d = self.core.decide(s, now);
            if d.action == Action::Recycle {
                let at = match s.recycle_at.load(Acquire) {
                    NONE => now,
                    granted => granted.min(now),
                };
                let mut ev = self.event(EventKind::RecycleRequested, slot, d.reason, at);
                ev.decision = Some(d);
                push_event(sup, ev);
            }
        }
        let mut ev = self.event(EventKind::Exited, slot, reason, now);
        ev.status = status;
        ev.crash = !asked;
        sup.slots[slot as usize].found_gone = if status.is_none() { ev.pid } else { 0 };
        let uptime = now.saturating_sub(s.spawned_at.load(Relaxed));
        self.core.retire(slot, now);
        // The master knows more than the slot did: its own kills and crashes.
        s.last_exit.store(
            match reason {
                Some(r) => r as u64,
                None if asked => crate::table::layout::last_exit::LEFT,
                None => crate::table::layout::last_exit::CRASH,
            },
            Relaxed,
        );
        self.surge_on_exit(sup, slot, now);
        if let Some(child) = sup.slots[slot as usize].child.take() {
            sup.forget_child(child.pid);
        }
        push_event(sup, ev.clone());

        let p = &self.core.policy;
        let ss = &mut sup.slots[slot as usize];
        ss.generation = gs.generation;
        ss.pid = 0;
        ss.spawn_returned = false;
        ss.not_before = now;
        if uptime >= p.raw(Key::MinUptime) {
            ss.crashes.clear();
            ss.backoff_level = 0;
        }
        if asked {
            return;
        }
        self.core.header().counters.crashes.fetch_add(1, Relaxed);
        let window = p.raw(Key::RestartWindow);
        ss.crashes.push_back(now);
        while ss
            .crashes
            .front()
            .is_some_and(|&t| window > 0 && now.saturating_sub(t) >= window)
        {
            ss.crashes.pop_front();
        }
        let max_restarts = p.raw(Key::MaxRestarts);
        if max_restarts > 0 && ss.crashes.len() as u64 > max_restarts {
            let delay = p
                .raw(Key::BackoffInitial)
                .checked_shl(ss.backoff_level)
                .unwrap_or(u64::MAX)
                .min(p.raw(Key::BackoffMax));
            ss.backoff_level = ss.backoff_level.saturating_add(1).min(63);
            ss.not_before = now.saturating_add(delay);
            self.core
                .header()
                .counters
                .crash_loops
                .fetch_add(1, Relaxed);
            let mut ev = ev;
            ev.kind = EventKind::CrashLoop;
            ev.delay = Some(Duration::from_micros(delay));
            push_event(sup, ev);
        }
    }

    /// What the master should do now: recycles and kills (each once per
    /// generation and reason) and due respawns (once per vacancy).
    pub fn tick(&self) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.tick_into(&mut out);
        out
    }

    /// `tick`, appending to a caller's vector (no allocation once it has
    /// room). One round, in phases: sample the workers when due, recount the
    /// permits from the slots, replace before retiring, then for each slot
    /// respawn (or re-seat) a vacancy, or file its health events, decide
    /// from the master's own record, and act.
    pub fn tick_into(&self, out: &mut Vec<PoolAction>) {
        let now = self.core.now();
        // Phase 1, sampling when due, reads `/proc` without the lock.
        let due = {
            let mut sup = self.sup();
            self.sampling_due(&mut sup, now)
        };
        let read = due.map(|targets| self.read_targets(targets));
        let mut sup = self.sup();
        let sup = &mut *sup;
        self.core.master_pid.store(std::process::id(), Relaxed);
        if let Some(read) = read {
            self.apply_samples(sup, read, now);
        }
        self.core.recount_permits(now, false);
        self.surge_round(sup, now, out);
        for (i, s) in self.core.slots().iter().enumerate() {
            let slot = i as u32;
            let gs = GenState::unpack(s.gen_state.load(Acquire));
            if gs.state == state::VACANT {
                self.fill_vacancy(sup, slot, gs, now, out);
                continue;
            }
            if s.pid.load(Relaxed) == 0 {
                // Occupied by no process (a word written over): vacant.
                self.core.retire(slot, now);
                continue;
            }
            self.hold_to_record(sup, slot);
            if sup.slots[i].generation != gs.generation || sup.slots[i].pid == 0 {
                self.note_generation(sup, slot, now);
            }
            self.file_health_events(sup, slot, now);
            let d = self.master_decision(sup, slot, now);
            self.act(sup, slot, gs, d, now, out);
        }
    }

    /// Phase 1: every `sample_interval`, the workers to read (see
    /// `sampling.rs`: read without the lock, applied under it).
    fn sampling_due(&self, sup: &mut Supervisor, now: u64) -> Option<Vec<super::sampling::Target>> {
        let interval = self.core.policy.raw(Key::SampleInterval);
        let due = self.core.clock == ClockMode::Monotonic
            && interval > 0
            && sup
                .last_sample
                .map_or(true, |t| now.saturating_sub(t) >= interval);
        if !due {
            return None;
        }
        sup.last_sample = Some(now);
        Some(self.sampling_targets(sup))
    }

    /// A vacant slot: a respawn when due (once per vacancy). A slot that
    /// says vacant while the master's child bound to it lives (a worker
    /// wrote its slot) is given back to that child instead: a vacancy
    /// nobody left would start a process for every such write.
    fn fill_vacancy(
        &self,
        sup: &mut Supervisor,
        slot: u32,
        gs: GenState,
        now: u64,
        out: &mut Vec<PoolAction>,
    ) {
        let i = slot as usize;
        if let Some(child) = sup.slots[i].child.take() {
            let s = &self.core.slots()[i];
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
            if alive && self.core.try_claim(slot) {
                let bound_at = sup.slots[i].bound_at;
                self.core
                    .start_generation(slot, child.pid, child.identity, now);
                self.note_generation(sup, slot, now);
                let ss = &mut sup.slots[i];
                ss.child = Some(child);
                ss.bound_at = bound_at.min(now);
                return;
            }
            if alive {
                sup.slots[i].child = Some(child);
                return;
            }
        }
        let ss = &mut sup.slots[i];
        if gs.has(flag::CLAIMING) {
            let since = *ss.claiming_since.get_or_insert(now);
            if now.saturating_sub(since) >= CLAIM_WAIT.as_micros() as u64 {
                let s = &self.core.slots()[i];
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
                ss.claiming_since = None;
            }
        } else {
            ss.claiming_since = None;
        }
        if ss.pid != 0 {
            // Retired by another process of the pool.
            ss.pid = 0;
            ss.spawn_returned = false;
            ss.not_before = now;
        }
        if !ss.spawn_returned && !ss.parked && !gs.has(flag::CLAIMING) && now >= ss.not_before {
            ss.spawn_returned = true;
            out.push(PoolAction {
                kind: ActionKind::Spawn,
                slot,
                pid: 0,
                identity: 0,
                generation: gs.generation,
                reason: None,
                not_before: Duration::from_micros(ss.not_before),
                replaces: None,
            });
        }
    }

    /// A slot that names another process than the live child the master
    /// bound to it, and not one of its children either, was written over:
    /// the child's pid and identity go back, so no write takes a worker out
    /// of supervision.
    fn hold_to_record(&self, sup: &Supervisor, slot: u32) {
        let Some(child) = sup.slots[slot as usize].child else {
            return;
        };
        let s = &self.core.slots()[slot as usize];
        let pid = s.pid.load(Relaxed);
        if pid == child.pid || sup.child(pid).is_some() {
            return;
        }
        if process::liveness(child.pid, child.identity) == Liveness::Alive {
            s.pid.store(child.pid, Relaxed);
            s.identity.store(child.identity, Relaxed);
        }
    }

    /// A health check failed since the last round: one event each.
    fn file_health_events(&self, sup: &mut Supervisor, slot: u32, now: u64) {
        let failures = self.core.slots()[slot as usize]
            .health_failures
            .load(Relaxed);
        let ss = &mut sup.slots[slot as usize];
        if failures > ss.failures_seen {
            ss.failures_seen = failures;
            let ev = self.event(
                EventKind::HealthCheckFailed,
                slot,
                Some(Reason::HealthCheck),
                now,
            );
            push_event(sup, ev);
        } else if failures < ss.failures_seen {
            ss.failures_seen = failures;
        }
    }

    /// The slot's decision, held to what the master measured itself: a
    /// worker of its own over a memory or FD limit by the master's reading,
    /// or past its lifetime by the master's clock, is decided from those
    /// (its slot's readings and start put back) whatever the slot says; one
    /// that claims to be leaving (EXITING) while over such a limit is killed
    /// once it has not left within `drain_timeout`.
    fn master_decision(&self, sup: &mut Supervisor, slot: u32, now: u64) -> Decision {
        let s = &self.core.slots()[slot as usize];
        let d = self.core.decide(s, now);
        let ss = &mut sup.slots[slot as usize];
        if d.action != Action::Continue
            || !ss.child.is_some_and(|c| c.pid == s.pid.load(Relaxed))
            || !self.measured_over(ss, s, now)
        {
            ss.exiting_since = None;
            return d;
        }
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        if gs.has(flag::EXITING) {
            let since = *ss.exiting_since.get_or_insert(now);
            let limit = self.core.limits.drain_timeout;
            let waited = now.saturating_sub(since);
            if limit > 0 && waited >= limit {
                return Decision::tripped(Reason::DrainTimeout, waited, limit);
            }
            return d;
        }
        let m = ss.measured;
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
        if s.spawned_at.load(Relaxed) > ss.bound_at {
            s.spawned_at.store(ss.bound_at, Relaxed);
        }
        if gs.has(flag::WAITING) {
            // In line since its start at the latest: no date it wrote puts
            // it behind workers due after it.
            let since = s.recycle_at.load(Relaxed);
            s.recycle_at.store(since.min(ss.bound_at), Relaxed);
        }
        for (since, at) in s.over_since.iter().zip(ss.over_since) {
            since.store(at.unwrap_or(NONE), Relaxed);
        }
        s.read_at.store(now, Relaxed);
        self.core.decide(s, now)
    }

    /// Whether a limit the master measures itself is reached by its own
    /// record: memory and FDs by its last sampling (held `memory_sustain` by
    /// its own dates: `measured_due`, worked out when it samples, so a tick
    /// compares one time), lifetime from when it bound the child.
    fn measured_over(&self, ss: &SlotSup, s: &crate::table::layout::Slot, now: u64) -> bool {
        if ss.measured_due.is_some_and(|at| now >= at) {
            return true;
        }
        self.core.limits.max_lifetime > 0
            && now.saturating_sub(ss.bound_at) >= self.core.lifetime_limit(s)
    }

    /// Turns a decision into the action to return (once per generation and
    /// reason) and its event; whom to signal comes from the master's record,
    /// never from the slot.
    fn act(
        &self,
        sup: &mut Supervisor,
        slot: u32,
        gs: GenState,
        d: Decision,
        now: u64,
        out: &mut Vec<PoolAction>,
    ) {
        let Some(reason) = d.reason else { return };
        let s = &self.core.slots()[slot as usize];
        // The slot's pid only says which of the master's children it is.
        let slot_pid = s.pid.load(Relaxed);
        let known = sup.child(slot_pid);
        let ss = &mut sup.slots[slot as usize];
        if ss.child.map(|c| c.pid) != Some(slot_pid) {
            ss.child = known;
        }
        let (kind, event) = match d.action {
            // A worker already told to die needs no recycle as well.
            Action::Recycle if !ss.recycle_returned && ss.kills_returned == 0 => {
                (ActionKind::Recycle, EventKind::RecycleRequested)
            }
            Action::Kill if ss.kills_returned & (1 << reason as u8) == 0 => {
                (ActionKind::Kill, EventKind::Killed)
            }
            _ => return,
        };
        let Some(child) = ss.child else {
            // Held back, not dropped: a worker the server lists later
            // (`adopt`) still gets it.
            if ss.refused & (1 << reason as u8) == 0 {
                ss.refused |= 1 << reason as u8;
                let ev = self.event(EventKind::Refused, slot, Some(reason), now);
                push_event(sup, ev);
            }
            return;
        };
        match kind {
            ActionKind::Kill => {
                ss.kills_returned |= 1 << reason as u8;
                self.core.header().counters.by_reason[reason as usize].fetch_add(1, Relaxed);
            }
            _ => ss.recycle_returned = true,
        }
        out.push(PoolAction {
            kind,
            slot,
            pid: child.pid,
            identity: child.identity,
            generation: gs.generation,
            reason: Some(reason),
            not_before: Duration::ZERO,
            replaces: None,
        });
        // A recycle may have been granted earlier, by the worker itself:
        // date the event (and the uptime in it) from the grant.
        let at = match event {
            EventKind::RecycleRequested => match s.recycle_at.load(Acquire) {
                NONE => now,
                granted => granted.min(now),
            },
            _ => now,
        };
        let mut ev = self.event(event, slot, Some(reason), at);
        ev.decision = Some(d);
        push_event(sup, ev);
    }

    /// How long until the next respawn held back by crash backoff is due, if
    /// one is.
    pub fn next_spawn_in(&self) -> Option<Duration> {
        let now = self.core.now();
        let sup = self.sup();
        self.core
            .slots()
            .iter()
            .zip(sup.slots.iter())
            .filter(|(s, ss)| {
                GenState::unpack(s.gen_state.load(Acquire)).state == state::VACANT
                    && !ss.spawn_returned
            })
            .map(|(_, ss)| Duration::from_micros(ss.not_before.saturating_sub(now)))
            .min()
    }
}

/// Puts `child` in the master's record and binds it to `slot`.
fn record_child(sup: &mut Supervisor, slot: u32, child: Child) {
    sup.forget_child(child.pid);
    sup.children.push(child);
    sup.slots[slot as usize].child = Some(child);
}

pub(super) fn push_event(sup: &mut Supervisor, ev: Event) {
    if sup.events.len() >= EVENT_CAPACITY {
        sup.events.pop_front();
        sup.dropped_events += 1;
    }
    sup.events.push_back(ev);
}
