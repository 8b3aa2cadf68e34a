//! The pool: the slot table of one server plus its supervision (tick,
//! respawn, drain escalation, crash backoff, events).
//!
//! Supervision state that only the master needs (its record of its
//! children, which actions were already returned, crash history, the event
//! queue) is private to this handle; all that workers need is in the shared
//! slots and header. This file is the facade (making, attaching, claiming,
//! deciding); `builder.rs` makes pools, `supervisor.rs` holds what the
//! master does (spawns, exits, `tick`, events) and `sampling.rs` reads the
//! workers' `/proc`.

mod builder;
pub(crate) mod event;
mod sampling;
mod supervisor;
mod surge;

pub use builder::PoolBuilder;
pub use sampling::SampleReport;
use supervisor::{SlotSup, Supervisor};

use crate::error::{Error, Result};
use crate::os::clock::ClockMode;
use crate::os::fork::{ForkGuard, ForkMutex};
use crate::os::process;
use crate::policy::Policy;
use crate::pool::event::Event;
use crate::rules::core::Core;
use crate::rules::decision::{Decision, Reason};
use crate::table::layout::{flag, state, GenState};
use crate::table::region::{Region, Sharing};
use crate::worker::Worker;
use std::collections::VecDeque;
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
            ss.parked = surge::parked_at_start(i, n, surge);
        }
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

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("slots", &self.slot_count())
            .field("sharing", &self.sharing())
            .field("policy", self.policy())
            .finish()
    }
}
