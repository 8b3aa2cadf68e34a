//! The pool: the slot table of one server plus its supervision (tick,
//! respawn, drain escalation, crash backoff, events).
//!
//! Supervision state that only the master needs (which actions were already
//! returned, crash history, the event queue) is private to this handle; all
//! that workers need is in the shared slots and header.

use crate::clock::{self, ClockMode};
use crate::core::Core;
use crate::decision::{Action, Decision, Reason};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::fork::{AfterFork, ForkGuard, ForkMutex};
use crate::layout::{flag, state, GenState, Slot, NONE};
use crate::policy::{Key, Policy};
use crate::process::{self, Liveness, ProcHandle};
use crate::region::{Region, Sharing};
use crate::worker::Worker;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::Duration;

crate::names::named_enum! {
    /// What `tick()` tells the master to do.
    pub enum ActionKind {
        /// Ask the worker to finish what is in flight and exit (graceful signal).
        Recycle = 1 => "recycle",
        /// Stop the worker now.
        Kill = 2 => "kill",
        /// Start a worker in the slot, then call `spawned`.
        Spawn = 3 => "spawn",
    }
}

/// One thing for the master to do now. Each is returned once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolAction {
    pub kind: ActionKind,
    pub slot: u32,
    /// The worker's pid (0 for spawn), from the master's own record of its
    /// children, never from shared memory.
    pub pid: u32,
    /// The worker's process start time as the master read it, for
    /// identity-checked signals (0: unknown, and `process::signal` refuses
    /// it).
    pub identity: u64,
    pub generation: u32,
    pub reason: Option<Reason>,
    /// For spawn: the time (since the pool's epoch) it was due.
    pub not_before: Duration,
}

/// How to make a pool.
#[derive(Clone, Debug)]
pub struct PoolBuilder {
    policy: Policy,
    slots: u32,
    seed: Option<u64>,
    manual_clock: bool,
    sharing: Sharing,
    path: Option<PathBuf>,
}

impl PoolBuilder {
    /// The number of worker slots (default 1).
    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }
    /// The jitter seed (default: drawn from the clock and pid).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Run on a manual clock that only `advance` moves (tests).
    pub fn manual_clock(mut self, manual: bool) -> Self {
        self.manual_clock = manual;
        self
    }
    /// Share the memory with children forked after creation.
    pub fn shared(mut self) -> Self {
        self.sharing = Sharing::Shared;
        self.path = None;
        self
    }
    /// Keep the pool in a new file at `path` (created 0600, never replacing
    /// an existing file) that other processes attach; removed when this
    /// process drops the pool.
    pub fn named(mut self, path: impl AsRef<Path>) -> Self {
        self.sharing = Sharing::Named;
        self.path = Some(path.as_ref().to_path_buf());
        self
    }

    pub fn build(self) -> Result<Pool> {
        let epoch_ns = clock::coarse_ns();
        let seed = self
            .seed
            .unwrap_or_else(|| clock::precise_ns() ^ (u64::from(std::process::id()) << 40));
        let mode = if self.manual_clock {
            ClockMode::Manual
        } else {
            ClockMode::Monotonic
        };
        let region = Region::create(
            self.sharing,
            self.path.as_deref(),
            self.slots,
            &self.policy,
            seed,
            mode,
            epoch_ns,
        )?;
        Ok(Pool::from_region(region))
    }
}

/// A child of the master: a pid it spawned or adopted, with the start time
/// it read itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Child {
    pid: u32,
    identity: u64,
}

#[derive(Default)]
struct SlotSup {
    /// The master's child that holds this slot's generation, when the slot's
    /// pid is one of them; actions name this pid and identity only.
    child: Option<Child>,
    /// Bit per reason code: refusals already filed for this generation.
    refused: u16,
    /// The generation last seen in the slot (0: none yet).
    generation: u32,
    pid: u32,
    recycle_returned: bool,
    /// Bit per reason code: kills already returned for this generation.
    kills_returned: u16,
    spawn_returned: bool,
    not_before: u64,
    crashes: VecDeque<u64>,
    backoff_level: u32,
    failures_seen: u32,
    /// The pid of the last worker the pool found gone by itself (sampling,
    /// `reap_dead`) before the host reported its exit: the host's later
    /// `exited(pid)` is answered with this slot instead of an error.
    found_gone: u32,
}

struct Supervisor {
    slots: Vec<SlotSup>,
    /// The master's private record of its children (see `spawned`,
    /// `adopt`). Shared memory is writable by every worker, so whom to
    /// signal is taken from here, never from a slot.
    children: Vec<Child>,
    events: VecDeque<Event>,
    dropped_events: u64,
    /// Kept-open `/proc` files of each slot's process, for sampling.
    handles: Vec<Option<ProcHandle>>,
    last_sample: Option<u64>,
}

impl Supervisor {
    fn child(&self, pid: u32) -> Option<Child> {
        self.children.iter().copied().find(|c| c.pid == pid)
    }

    fn forget_child(&mut self, pid: u32) {
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

/// What one round of master-side sampling found.
#[derive(Debug, Default)]
pub struct SampleReport {
    /// Workers whose readings were updated.
    pub sampled: u32,
    /// Slots whose process was gone; they were retired as by `reap_dead`.
    pub gone: Vec<u32>,
    /// Slots whose process could not be read (for instance out of file
    /// descriptors), and why; their readings stay as they were.
    pub errors: Vec<(u32, Error)>,
}

/// The most events kept before the oldest are dropped (and counted).
pub const EVENT_CAPACITY: usize = 4096;

/// A pool of worker slots. Thread-safe: the hot path goes through `Worker`
/// handles and touches no lock; supervision calls take a short lock.
pub struct Pool {
    core: Arc<Core>,
    sup: ForkMutex<Supervisor>,
}

impl Pool {
    /// A builder for a private pool with one slot; see its methods.
    pub fn builder(policy: &Policy) -> PoolBuilder {
        PoolBuilder {
            policy: policy.clone(),
            slots: 1,
            seed: None,
            manual_clock: false,
            sharing: Sharing::Private,
            path: None,
        }
    }

    /// A pool private to this process.
    pub fn new(policy: &Policy, slots: u32) -> Result<Pool> {
        Pool::builder(policy).slots(slots).build()
    }

    /// A pool in shared memory, to be created before `fork()`.
    pub fn shared(policy: &Policy, slots: u32) -> Result<Pool> {
        Pool::builder(policy).slots(slots).shared().build()
    }

    /// A pool in a new named file.
    pub fn create(path: impl AsRef<Path>, policy: &Policy, slots: u32) -> Result<Pool> {
        Pool::builder(policy).slots(slots).named(path).build()
    }

    /// Attaches a pool file made by `create` (in a worker started by exec).
    pub fn attach(path: impl AsRef<Path>) -> Result<Pool> {
        Ok(Pool::from_region(Region::attach(path.as_ref())?))
    }

    fn from_region(region: Region) -> Pool {
        let core = Arc::new(Core::new(region));
        let n = core.slots().len();
        let mut slots = Vec::with_capacity(n);
        slots.resize_with(n, SlotSup::default);
        Pool {
            core,
            sup: ForkMutex::new(Supervisor {
                slots,
                children: Vec::new(),
                events: VecDeque::new(),
                dropped_events: 0,
                handles: (0..n).map(|_| None).collect(),
                last_sample: None,
            }),
        }
    }

    fn sup(&self) -> ForkGuard<'_, Supervisor> {
        self.sup.lock()
    }

    fn check_slot(&self, slot: u32) -> Result<()> {
        let slots = self.slot_count();
        if slot >= slots {
            return Err(Error::SlotOutOfRange { slot, slots });
        }
        Ok(())
    }

    /// The pool's policy.
    pub fn policy(&self) -> &Policy {
        &self.core.policy
    }

    /// The number of slots.
    pub fn slot_count(&self) -> u32 {
        self.core.slots().len() as u32
    }

    /// How the memory is shared.
    pub fn sharing(&self) -> Sharing {
        self.core.region.sharing
    }

    /// The file of a named pool.
    pub fn path(&self) -> Option<&Path> {
        self.core.region.path.as_deref()
    }

    /// The pool's time: since its epoch.
    pub fn now(&self) -> Duration {
        Duration::from_micros(self.core.now())
    }

    /// Moves a manual clock forward (every process of the pool sees it).
    pub fn advance(&self, by: Duration) -> Result<()> {
        if self.core.clock != ClockMode::Manual {
            return Err(Error::NotSupported(
                "advance needs a pool made with a manual clock",
            ));
        }
        let us = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        let _ = self
            .core
            .header()
            .manual_now
            .fetch_update(Release, Acquire, |t| {
                Some(t.saturating_add(us).min(crate::layout::TIME_MASK))
            });
        Ok(())
    }

    /// The handle of slot `slot`, for hosts that number their workers.
    pub fn worker(&self, slot: u32) -> Result<Worker> {
        self.check_slot(slot)?;
        Ok(Worker::new(self.core.clone(), slot))
    }

    /// The slot of `pid`: the one already holding it, else a vacant one, else
    /// one whose process is gone (reclaimed). For hosts that do not number
    /// their workers (gunicorn, Starman): the worker calls it with its own pid.
    /// A slot holding the same pid for another process (the pid was reused)
    /// is not inherited: its generation ends and a new one starts, with no
    /// requests, recycle or permit of the old one.
    pub fn claim(&self, pid: u32) -> Result<Worker> {
        let identity = process::identity(pid);
        let now = self.core.now();
        if let Some(i) = self.slot_of(pid) {
            let held = self.core.slots()[i as usize].identity.load(Relaxed);
            if held == identity {
                return Ok(Worker::new(self.core.clone(), i));
            }
            self.core.retire(i, now);
        }
        let take = |i: u32| {
            self.core.try_claim(i).then(|| {
                self.core.start_generation(i, pid, identity, now);
                Worker::new(self.core.clone(), i)
            })
        };
        let n = self.slot_count();
        if let Some(w) = (0..n).find_map(take) {
            return Ok(w);
        }
        for (i, slot) in self.core.slots().iter().enumerate() {
            if holds_dead_process(slot) {
                self.core.retire(i as u32, now);
                if let Some(w) = take(i as u32) {
                    return Ok(w);
                }
            }
        }
        Err(Error::NoFreeSlot(n))
    }

    fn slot_of(&self, pid: u32) -> Option<u32> {
        if pid == 0 {
            return None;
        }
        self.core
            .slots()
            .iter()
            .position(|s| {
                GenState::unpack(s.gen_state.load(Acquire)).state != state::VACANT
                    && s.pid.load(Relaxed) == pid
            })
            .map(|i| i as u32)
    }

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
        let s = &self.core.slots()[slot as usize];
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
        }
        if !self.core.try_claim(slot) {
            return Err(Error::SlotBusy { slot, pid: 0 });
        }
        self.core.start_generation(slot, pid, identity, now);
        self.note_generation(&mut sup, slot, now);
        record_child(&mut sup, slot, Child { pid, identity });
        Ok(())
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
    fn note_generation(&self, sup: &mut Supervisor, slot: u32, now: u64) {
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
        ss.child = child;
        let ev = self.event(EventKind::Spawned, slot, None, now);
        push_event(sup, ev);
    }

    fn event(&self, kind: EventKind, slot: u32, reason: Option<Reason>, now: u64) -> Event {
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
    fn slot_of_child(&self, sup: &Supervisor, pid: u32) -> Option<u32> {
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
        Worker::new(self.core.clone(), slot).exiting();
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
        let now = self.core.now();
        let mut sup = self.sup();
        let mut gone = Vec::new();
        for (i, s) in self.core.slots().iter().enumerate() {
            if holds_dead_process(s) {
                self.on_exit(&mut sup, i as u32, None, now);
                gone.push(i as u32);
            }
        }
        gone
    }

    /// Samples every worker's memory and FDs from `/proc` now (USS and PSS
    /// too when the policy limits them) and feeds the readings to the
    /// decisions; workers whose process is gone are retired. `tick()` does
    /// this itself every `sample_interval` (except with a manual clock).
    pub fn sample(&self) -> SampleReport {
        let now = self.core.now();
        let mut sup = self.sup();
        sup.last_sample = Some(now);
        self.sample_locked(&mut sup, now)
    }

    fn sample_locked(&self, sup: &mut Supervisor, now: u64) -> SampleReport {
        let p = &self.core.policy;
        let uss = p.raw(Key::MaxUss) > 0 || p.raw(Key::MaxPss) > 0;
        let mut report = SampleReport::default();
        for (i, s) in self.core.slots().iter().enumerate() {
            let held = &mut sup.handles[i];
            let pid = s.pid.load(Relaxed);
            if GenState::unpack(s.gen_state.load(Acquire)).state == state::VACANT || pid == 0 {
                *held = None;
                continue;
            }
            let identity = s.identity.load(Relaxed);
            let current =
                |h: &ProcHandle| h.pid() == pid && (identity == 0 || h.start_time() == identity);
            if !held.as_ref().is_some_and(current) {
                *held = match ProcHandle::open(pid) {
                    Ok(h) => Some(h),
                    Err(Error::NoSuchProcess(_)) => None,
                    Err(e) => {
                        report.errors.push((i as u32, e));
                        continue;
                    }
                };
            }
            let sample = match held.as_mut().filter(|h| current(h)) {
                Some(h) => h.sample(uss),
                None => Err(Error::NoSuchProcess(pid)),
            };
            match sample {
                Ok(sample) => {
                    crate::worker::store_health(s, sample.health());
                    report.sampled += 1;
                }
                Err(Error::NoSuchProcess(_)) => {
                    sup.handles[i] = None;
                    // Our own child's exit is reported by the host with its
                    // status once it reaps it; anyone else's is retired now.
                    if !process::identity::unreaped_child(pid) {
                        self.on_exit(sup, i as u32, None, now);
                        report.gone.push(i as u32);
                    }
                }
                Err(e) => report.errors.push((i as u32, e)),
            }
        }
        report
    }

    fn on_exit(&self, sup: &mut Supervisor, slot: u32, status: Option<i32>, now: u64) {
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
            None if gs.state == state::DRAINING => Reason::from_code(gs.reason),
            None => None,
        };
        let asked = killed.is_some() || gs.state == state::DRAINING || gs.has(flag::EXITING);
        let mut ev = self.event(EventKind::Exited, slot, reason, now);
        ev.status = status;
        ev.crash = !asked;
        sup.slots[slot as usize].found_gone = if status.is_none() { ev.pid } else { 0 };
        let uptime = now.saturating_sub(s.spawned_at.load(Relaxed));
        self.core.retire(slot, now);
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

    /// Asks for a manual recycle of the worker in `slot` (not held back by
    /// `min_lifetime` or the budget, but counted in the budget).
    pub fn recycle(&self, slot: u32) -> Result<()> {
        self.check_slot(slot)?;
        let s = &self.core.slots()[slot as usize];
        let _ = s.gen_state.fetch_update(Release, Acquire, |w| {
            let gs = GenState::unpack(w);
            (gs.state == state::RUNNING).then(|| {
                GenState {
                    flags: gs.flags | flag::MANUAL,
                    ..gs
                }
                .pack()
            })
        });
        self.core.decide(s, self.core.now());
        Ok(())
    }

    /// The current decision for `slot`.
    pub fn decision(&self, slot: u32) -> Result<Decision> {
        self.check_slot(slot)?;
        Ok(self
            .core
            .decide(&self.core.slots()[slot as usize], self.core.now()))
    }

    /// What the master should do now: recycles and kills (each once per
    /// generation and reason) and due respawns (once per vacancy).
    pub fn tick(&self) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.tick_into(&mut out);
        out
    }

    /// `tick`, appending to a caller's vector (no allocation once it has
    /// room).
    pub fn tick_into(&self, out: &mut Vec<PoolAction>) {
        let now = self.core.now();
        let mut sup = self.sup();
        let sup = &mut *sup;
        let interval = self.core.policy.raw(Key::SampleInterval);
        if self.core.clock == ClockMode::Monotonic
            && interval > 0
            && sup
                .last_sample
                .map_or(true, |t| now.saturating_sub(t) >= interval)
        {
            sup.last_sample = Some(now);
            self.sample_locked(sup, now);
        }
        for (i, s) in self.core.slots().iter().enumerate() {
            let slot = i as u32;
            let gs = GenState::unpack(s.gen_state.load(Acquire));
            if gs.state == state::VACANT {
                let ss = &mut sup.slots[i];
                if ss.pid != 0 {
                    // Retired by another process of the pool.
                    ss.pid = 0;
                    ss.spawn_returned = false;
                    ss.not_before = now;
                }
                if !ss.spawn_returned && !gs.has(flag::CLAIMING) && now >= ss.not_before {
                    ss.spawn_returned = true;
                    out.push(PoolAction {
                        kind: ActionKind::Spawn,
                        slot,
                        pid: 0,
                        identity: 0,
                        generation: gs.generation,
                        reason: None,
                        not_before: Duration::from_micros(ss.not_before),
                    });
                }
                continue;
            }
            if sup.slots[i].generation != gs.generation || sup.slots[i].pid == 0 {
                self.note_generation(sup, slot, now);
            }
            let failures = s.health_failures.load(Relaxed);
            let ss = &mut sup.slots[i];
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
            let d = self.core.decide(s, now);
            let Some(reason) = d.reason else { continue };
            // Whom to signal comes from the master's record, never from the
            // slot: the slot's pid only says which of its children it is.
            let slot_pid = s.pid.load(Relaxed);
            let known = sup.child(slot_pid);
            let ss = &mut sup.slots[i];
            if ss.child.map(|c| c.pid) != Some(slot_pid) {
                ss.child = known;
            }
            let (kind, event) = match d.action {
                Action::Recycle if !ss.recycle_returned => {
                    (ActionKind::Recycle, EventKind::RecycleRequested)
                }
                Action::Kill if ss.kills_returned & (1 << reason as u8) == 0 => {
                    (ActionKind::Kill, EventKind::Killed)
                }
                _ => continue,
            };
            let Some(child) = ss.child else {
                // Held back, not dropped: a worker the server lists later
                // (`adopt`) still gets it.
                if ss.refused & (1 << reason as u8) == 0 {
                    ss.refused |= 1 << reason as u8;
                    let ev = self.event(EventKind::Refused, slot, Some(reason), now);
                    push_event(sup, ev);
                }
                continue;
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
            let ev = self.event(event, slot, Some(reason), at);
            push_event(sup, ev);
        }
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

    /// Takes every queued event, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.sup().events.drain(..).collect()
    }

    /// Events dropped because the queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.sup().dropped_events
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }
}

/// An occupied slot whose process is gone, or whose pid now names another
/// process (costs a `kill(pid, 0)` and a `/proc` read). A dead child of
/// this process not yet reaped is not: the host reports its exit, with the
/// status, when it reaps it.
fn holds_dead_process(slot: &Slot) -> bool {
    let pid = slot.pid.load(Relaxed);
    GenState::unpack(slot.gen_state.load(Acquire)).state != state::VACANT
        && process::liveness(pid, slot.identity.load(Relaxed)) == Liveness::Gone
        && !process::identity::unreaped_child(pid)
}

/// Puts `child` in the master's record and binds it to `slot`.
fn record_child(sup: &mut Supervisor, slot: u32, child: Child) {
    sup.forget_child(child.pid);
    sup.children.push(child);
    sup.slots[slot as usize].child = Some(child);
}

fn push_event(sup: &mut Supervisor, ev: Event) {
    if sup.events.len() >= EVENT_CAPACITY {
        sup.events.pop_front();
        sup.dropped_events += 1;
    }
    sup.events.push_back(ev);
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("slots", &self.slot_count())
            .field("sharing", &self.sharing())
            .field("policy", self.policy())
            .finish()
    }
}
