//! The pool: the slot table of one server plus its supervision (tick,
//! respawn, drain escalation, crash backoff, events).
//!
//! Supervision state that only the master needs (its record of its
//! children, which actions were already returned, crash history, the event
//! queue) is private to this handle; all that workers need is in the shared
//! slots and header. `Pool` is the whole public surface, in this file: it
//! takes the supervisor's lock and delegates. `Supervisor` (`supervisor.rs`)
//! owns what the master does (spawns, exits, the phases of `tick`, events)
//! and takes the shared table by reference; `surge.rs` holds its
//! replacements, `sampling.rs` its `/proc` reads (made without the lock),
//! `backoff.rs` crash backoff (a pure type) and `builder.rs` makes pools.

mod backoff;
mod builder;
mod container;
mod parent;
mod queue;
mod record;
mod sampling;
mod supervisor;
mod surge;

pub use builder::PoolBuilder;
use queue::EventQueue;
use record::{Child, SlotSup};
pub use sampling::SampleReport;
use sampling::Sampler;
use supervisor::Supervisor;

use crate::error::{Error, Result};
use crate::host::errors::RoundErrors;
use crate::host::Host;
use crate::os::cgroup::MemoryReading;
use crate::os::clock::ClockMode;
use crate::os::fork::{ForkGuard, ForkMutex};
use crate::os::process::{self, Health};
use crate::policy::Policy;
use crate::rules::core::Core;
use crate::rules::decision::{Decision, Reason};
use crate::rules::event::Event;
use crate::rules::liveness::holds_dead_process;
use crate::table::layout::{flag, state, GenState};
use crate::table::region::{Region, Sharing};
use crate::worker::Worker;
use std::path::Path;
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
    /// For spawn: the slot whose worker this one replaces (`max_surge`);
    /// that worker retires once this one is ready.
    pub replaces: Option<u32>,
}

/// How long `worker(slot)` and `spawned` wait for another process that is
/// filling the same slot at that moment (a few stores, unless preempted).
pub(crate) const CLAIM_WAIT: Duration = Duration::from_secs(1);

/// The most events kept before the oldest are dropped (and counted).
pub const EVENT_CAPACITY: usize = 4096;

/// A pool of worker slots. Thread-safe: the hot path goes through `Worker`
/// handles and touches no lock; supervision calls take a short lock.
pub struct Pool {
    core: Arc<Core>,
    sup: ForkMutex<Supervisor>,
    host: ForkMutex<HostRecord>,
}

/// What the pool keeps of its host: the contract it declared, its round
/// errors, and the pids of the server's list already adopted (so a round
/// reads `/proc` only for new ones).
#[derive(Debug, Default)]
struct HostRecord {
    host: Option<Host>,
    errors: RoundErrors,
    adopted: std::collections::HashSet<u32>,
}

impl crate::os::fork::AfterFork for HostRecord {
    /// A forked child is not the master: it keeps the contract (the same
    /// server) but none of the master's errors or adopted pids.
    fn after_fork_in_child(&mut self) {
        self.errors = RoundErrors::new();
        self.adopted.clear();
    }
}

/// What `Pool::adopt_all` did with a server's list of workers.
#[derive(Debug, Default)]
pub struct Adopted {
    /// Pids taken on in this call.
    pub new: Vec<u32>,
    /// Pids refused, each with why (not a child of this process): nothing
    /// is ever signalled for them.
    pub refused: Vec<(u32, Error)>,
}

impl Drop for Pool {
    /// The maker's handle going is when its pool file goes, even while
    /// worker handles or a watchdog keep the memory mapped (they never did
    /// drop it in hosts that exit with a watchdog running).
    fn drop(&mut self) {
        self.core.region.remove_if_owner();
    }
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

    /// A pool in a new named file (see `PoolBuilder::named`).
    pub fn create(path: impl AsRef<Path>, policy: &Policy, slots: u32) -> Result<Pool> {
        Pool::builder(policy).slots(slots).named(path).build()
    }

    /// Attaches a pool file made by `create` (in a worker started by exec).
    pub fn attach(path: impl AsRef<Path>) -> Result<Pool> {
        Ok(Pool::from_region(Region::attach(path.as_ref())?))
    }

    /// Opens the pool file at `path` shared by processes that no master of
    /// ours starts (uvicorn's workers, each started afresh): attaches it
    /// while another process holds it, else (missing, or left behind by
    /// processes now gone) makes it anew with `slots` slots and `policy`.
    /// While held, its policy must be `policy` (`BadPoolFile` otherwise). A
    /// file that is not a workerlife pool is an error and left as it is.
    /// Needs Linux (open file description locks); elsewhere an I/O error says so.
    pub fn open(path: impl AsRef<Path>, policy: &Policy, slots: u32) -> Result<Pool> {
        let seed = crate::os::clock::precise_ns() ^ (u64::from(std::process::id()) << 40);
        let region = Region::open(
            path.as_ref(),
            slots,
            policy,
            seed,
            ClockMode::Monotonic,
            crate::os::clock::coarse_ns(),
        )?;
        Ok(Pool::from_region(region))
    }

    /// For a pool from `open`, when this process is done with it (its
    /// server shuts down): gives up its hold on the file, then removes the
    /// file if no other process holds it, so that the last of the workers
    /// leaves none behind. True if it was removed; later calls do nothing.
    /// (A file left by workers that were killed is found stale by the next
    /// `open` and made anew.)
    pub fn remove_if_last(&self) -> Result<bool> {
        self.core.region.remove_if_last()
    }

    fn from_region(region: Region) -> Pool {
        let core = Arc::new(Core::new(region));
        let n = core.slots().len();
        let mut slots = Vec::with_capacity(n);
        slots.resize_with(n, SlotSup::default);
        let surge = core.limits.max_surge;
        for (i, ss) in slots.iter_mut().enumerate() {
            ss.surge.parked = surge::parked_at_start(i, n, surge);
        }
        Pool {
            core,
            sup: ForkMutex::new(Supervisor {
                slots,
                children: Vec::new(),
                events: EventQueue::default(),
                sampler: Sampler::new(n),
                container: Default::default(),
                parent: Default::default(),
                sharing_low: false,
            }),
            host: ForkMutex::new(HostRecord::default()),
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
        if !self.core.manual_clock() {
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
                Some(t.saturating_add(us).min(crate::table::layout::TIME_MASK))
            });
        Ok(())
    }

    /// The handle of slot `slot`, for hosts that number their workers. A
    /// vacant slot gets a generation first, for the calling process (as if
    /// its master had reported it with `spawned(slot, getpid())`; a master
    /// that does so later takes it on): requests counted in no generation
    /// would be counted without limits.
    pub fn worker(&self, slot: u32) -> Result<Worker> {
        self.check_slot(slot)?;
        let s = &self.core.slots()[slot as usize];
        // A claimer preempted mid-fill (a loaded machine) may take a while:
        // bounded by time, not by a count of tries.
        let deadline = std::time::Instant::now() + CLAIM_WAIT;
        while std::time::Instant::now() < deadline {
            let gs = GenState::unpack(s.gen_state.load(Acquire));
            if gs.state != state::VACANT {
                return Ok(Worker::new(self.core.clone(), slot));
            }
            if self.core.try_claim(slot) {
                let pid = std::process::id();
                let identity = process::identity(pid);
                self.core
                    .start_generation(slot, pid, identity, self.core.now());
                return Ok(Worker::new(self.core.clone(), slot));
            }
            // Another process is filling it (CLAIMING) right now.
            std::thread::yield_now();
        }
        Err(Error::SlotBusy { slot, pid: 0 })
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
        if let Some(i) = self.core.slot_of(pid) {
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
        // A slot kept for a replacement first (with a server that starts its
        // workers itself, the next new worker is the replacement), then one
        // carrying the permit of a worker that left (this one replaces it),
        // then any.
        let take = |i: u32| {
            take(i).inspect(|w| {
                // With the budget full, a worker that died holding a permit
                // (a crash, the OOM killer; no word from anyone) hands it to
                // this one, which returns it once it serves.
                if !GenState::unpack(w.slot().gen_state.load(Acquire)).has(flag::INHERITED) {
                    self.core.take_over_permit(w.slot());
                }
            })
        };
        let rank = |i: &u32| {
            let gs = GenState::unpack(self.core.slots()[*i as usize].gen_state.load(Acquire));
            if gs.has(flag::RESERVED) {
                0
            } else if gs.has(flag::PERMIT) {
                1
            } else {
                2
            }
        };
        let order = (0..3u8).flat_map(|r| (0..n).filter(move |i| rank(i) == r));
        if let Some(w) = order.into_iter().find_map(take) {
            return Ok(w);
        }
        for (i, slot) in self.core.slots().iter().enumerate() {
            if crate::rules::liveness::holds_dead_process(slot) {
                self.core.retire(i as u32, now);
                if let Some(w) = take(i as u32) {
                    return Ok(w);
                }
            }
        }
        // Counted, so a pool too small for its server shows in the stats
        // and metrics, not only in the line a host logs.
        self.core
            .header()
            .counters
            .no_free_slot
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Err(Error::NoFreeSlot(n))
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
        let child = Child {
            pid,
            identity: process::identity(pid),
        };
        let now = self.core.now();
        self.sup().spawned(&self.core, slot, child, now)
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
        sup.adopt(Child { pid, identity });
        Ok(())
    }

    /// The worker `pid` exited (the host reaped it with `waitpid`). Returns
    /// its slot. Exits the pool did not ask for count as crashes. A worker
    /// the pool already found gone by itself (sampling, `reap_dead`) is
    /// answered with its slot once, with nothing more recorded.
    ///
    /// The pid leaves the master's record of its children either way.
    pub fn exited(&self, pid: u32, status: i32) -> Result<u32> {
        self.host.lock().adopted.remove(&pid);
        let now = self.core.now();
        self.sup().exited(&self.core, pid, status, now)
    }

    /// The worker in `slot` exited.
    pub fn exited_slot(&self, slot: u32, status: i32) -> Result<()> {
        self.check_slot(slot)?;
        let now = self.core.now();
        self.sup().on_exit(&self.core, slot, Some(status), now);
        Ok(())
    }

    /// The host's server asked worker `pid` to leave on its own account (its
    /// graceful restart, scale-down or shutdown): its exit will not count as
    /// a crash, and its recycle permit, if it held one, goes back now. What
    /// `Worker::exiting` is for the worker, by pid for the master. Returns
    /// the slot.
    pub fn exiting(&self, pid: u32) -> Result<u32> {
        let slot = self
            .sup()
            .slot_of_child(&self.core, pid)
            .ok_or(Error::UnknownPid(pid))?;
        // The server's own call (scale-down, shutdown, its restart): a
        // permit it held goes back now, none waits for a replacement.
        Worker::new(self.core.clone(), slot).exiting_because(None, true);
        Ok(slot)
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
        self.sup().reap(&self.core, dead, now)
    }

    /// Samples every worker's memory and FDs from `/proc` now (USS and PSS
    /// too when the policy limits them), and the container's memory cgroup
    /// with `container_memory`, and feeds the readings to the decisions;
    /// workers whose process is gone are retired. `tick()` does
    /// this itself every `sample_interval` (except with a manual clock).
    /// The `/proc` files are read without the supervisor's lock: a host
    /// thread reporting an exit meanwhile does not wait for the round.
    pub fn sample(&self) -> SampleReport {
        let now = self.core.now();
        let round = self.sup().start_round(&self.core, now);
        let read = round.read(&self.core);
        self.sup().apply_round(&self.core, read, now)
    }

    /// What the master should do now: recycles and kills (each once per
    /// generation and reason) and due respawns (once per vacancy).
    pub fn tick(&self) -> Vec<PoolAction> {
        let mut out = Vec::new();
        self.tick_into(&mut out);
        out
    }

    /// `tick`, appending to a caller's vector (no allocation once it has
    /// room). The workers due for sampling (every `sample_interval`) are
    /// read without the supervisor's lock; the round itself runs under it
    /// (`Supervisor::tick`: sample, surge, spawn, decide, refuse, date).
    pub fn tick_into(&self, out: &mut Vec<PoolAction>) {
        let now = self.core.now();
        let due = self.sup().sampling_due(&self.core, now);
        let read = due.map(|round| round.read(&self.core));
        self.sup().tick(&self.core, read, now, out);
    }

    /// Reads this process's memory now as the parent's, for limits relative
    /// to it (`max_uss=3x`): call it once the app has booted and before the
    /// first worker is forked (after a pre-fork preload), so the reading
    /// holds what the workers start from. Without this call the master's
    /// first `tick()` reads it (on a monotonic clock); a new master process
    /// reads its own again. An unreadable `/proc` is an error and leaves
    /// the relative limits waiting (they never trip on no reading).
    pub fn read_parent(&self) -> Result<Health> {
        let now = self.core.now();
        self.sup().parent.read_self(&self.core, now, false)
    }

    /// Gives the pool a reading of the workers' parent `pid`, as a host
    /// whose workers' parent is another process (or a test) would: the
    /// master holds relative limits to it from now on.
    pub fn report_parent(&self, pid: u32, health: Health) {
        let now = self.core.now();
        let reading = parent::Reading {
            pid,
            health,
            at: now,
        };
        self.sup().parent.note(&self.core, reading);
    }

    /// Gives the pool a reading of its container, as a host that reads the
    /// cgroup itself (or a test) would: used by the next `tick()` as the
    /// master's own reading (`container_memory`). With `auto` the reading's
    /// limit is the limit; a size in the policy overrides it.
    pub fn report_container(&self, reading: MemoryReading) {
        let now = self.core.now();
        self.sup().container.note(&self.core, reading, now);
    }

    /// How long until the next respawn held back by crash backoff is due, if
    /// one is.
    pub fn next_spawn_in(&self) -> Option<Duration> {
        let now = self.core.now();
        self.sup().next_spawn_in(&self.core, now)
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

    /// The worker in `slot` is ready to serve (booted, app loaded): what a
    /// replacement waits for before the worker it replaces drains
    /// (`max_surge`). A worker's first request counts as ready too. A vacant
    /// slot is left as it is.
    pub fn ready(&self, slot: u32) -> Result<()> {
        self.check_slot(slot)?;
        let s = &self.core.slots()[slot as usize];
        let _ = s.gen_state.fetch_update(Release, Acquire, |w| {
            let gs = GenState::unpack(w);
            (gs.state != state::VACANT && !gs.has(flag::READY)).then(|| {
                GenState {
                    flags: gs.flags | flag::READY,
                    ..gs
                }
                .pack()
            })
        });
        // Serving: a permit it inherited goes back.
        self.core.serving(s);
        Ok(())
    }

    /// The current decision for `slot`.
    pub fn decision(&self, slot: u32) -> Result<Decision> {
        self.check_slot(slot)?;
        Ok(self
            .core
            .decide(&self.core.slots()[slot as usize], self.core.now()))
    }

    /// Takes every queued event, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.sup().events.take()
    }

    /// Events dropped because the queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.sup().events.dropped()
    }

    /// The host declares what it can carry out. The pool's policy is
    /// checked against it: a rule the host cannot carry out is an error
    /// naming the key, the host and what to do instead, and nothing is
    /// recorded. Declaring again replaces the host.
    pub fn set_host(&self, host: Host) -> Result<()> {
        host.check(self.policy())?;
        self.host.lock().host = Some(host);
        Ok(())
    }

    /// The host declared with `set_host`, if any.
    pub fn host(&self) -> Option<Host> {
        self.host.lock().host.clone()
    }

    /// The line a host logs once at start: workerlife is on, for which host,
    /// under which policy, what is refused there, and with
    /// `container_memory=auto`, the limit found (or that none was).
    pub fn startup_line(&self) -> String {
        let host = self.host().unwrap_or_else(|| {
            Host::new("this host", crate::host::Caps::NONE).expect("a valid name")
        });
        let mut line = host.startup_line(self.policy(), self.slot_count());
        if let Some(note) = container::auto_note(self.policy()) {
            line.push_str("; ");
            line.push_str(&note);
        }
        line
    }

    /// Notes an error of the host's supervision round; returns the line to
    /// log now, if any (each distinct text once, then with its count at
    /// 10, 100, 1000... occurrences).
    pub fn round_error(&self, text: &str) -> Option<String> {
        self.host.lock().errors.note(text)
    }

    /// Adopts the workers of the server's own list (gunicorn's `WORKERS`,
    /// billiard's `_pool`, Puma's workers): each pid not adopted before is
    /// taken as `adopt` does; a pid that is gone already is passed over (its
    /// exit is the host's to report); a pid that is not a child of this
    /// process is refused and reported, never signalled. Pids not in the
    /// list are forgotten from the list's record, so a reused pid is
    /// adopted anew.
    pub fn adopt_all(&self, pids: &[u32]) -> Adopted {
        let mut out = Adopted::default();
        let unseen: Vec<u32> = {
            let mut rec = self.host.lock();
            rec.adopted.retain(|p| pids.contains(p));
            pids.iter()
                .copied()
                .filter(|p| !rec.adopted.contains(p))
                .collect()
        };
        for pid in unseen {
            match self.adopt(pid) {
                Ok(()) => {
                    self.host.lock().adopted.insert(pid);
                    out.new.push(pid);
                }
                Err(Error::NoSuchProcess(_)) => {}
                Err(e) => out.refused.push((pid, e)),
            }
        }
        out
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// The pool's memory, for a view that outlives this handle (a stats
    /// server): it stays mapped while the view holds it.
    pub(crate) fn shared_core(&self) -> Arc<Core> {
        Arc::clone(&self.core)
    }
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
