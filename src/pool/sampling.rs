//! Master-side sampling: every worker's memory and FDs from kept-open
//! `/proc` files, fed to the decisions.

use super::record::{GenerationNotes, SlotSup};
use crate::error::Error;
use crate::os::clock::ClockMode;
use crate::os::process::{self, ProcHandle};
use crate::policy::Key;
use crate::rules::core::Core;
use crate::table::layout::{state, GenState};
use crate::worker::Health;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::Duration;

/// How long sampling leaves the slot of the master's own child that is gone
/// and already reaped for its host to report the exit with its wait status
/// (so the exit is told a crash or not by the status, not by a guess).
pub(super) const EXIT_REPORT_WAIT: Duration = Duration::from_secs(2);

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

/// One sampling round: the workers to read, and the container when the
/// policy asks for it; taken under the supervisor's lock, read without it,
/// applied under it again.
pub(super) struct Round {
    pub(super) targets: Vec<Target>,
    pub(super) container: Option<super::container::ContainerRead>,
}

impl Round {
    /// Without the lock: every reading of the round.
    pub(super) fn read(self, core: &Core) -> Round {
        Round {
            targets: read_targets(core, self.targets),
            container: self.container.map(|c| c.read()),
        }
    }
}

/// One worker to read in a sampling round: taken under the supervisor's
/// lock, read without it, applied under it again.
pub(super) struct Target {
    slot: u32,
    pid: u32,
    identity: u64,
    /// Its kept-open `/proc` files, out of the supervisor for the read.
    handle: Option<ProcHandle>,
    read: Read,
}

enum Read {
    Pending,
    Health(Health),
    /// Gone; `unreaped`: a zombie of this process, whose exit its host
    /// reports once it reaps it.
    Gone {
        unreaped: bool,
    },
    Failed(Error),
}

/// The master's sampler: the kept-open `/proc` files of each slot's
/// process, and when it last sampled.
pub(super) struct Sampler {
    handles: Vec<Option<ProcHandle>>,
    last: Option<u64>,
}

/// What applying a round's readings came to, for the supervisor to act on.
pub(super) struct Applied {
    /// `gone` lists the slots to retire: their process is gone.
    pub(super) report: SampleReport,
    /// The first reading (RSS) of each new worker of the master's: start
    /// sizes, for the container's surge check.
    pub(super) start_sizes: Vec<u64>,
}

impl Sampler {
    /// A sampler for `slots` slots, with no file open yet.
    pub(super) fn new(slots: usize) -> Sampler {
        Sampler {
            handles: (0..slots).map(|_| None).collect(),
            last: None,
        }
    }

    /// Whether a round is due: every `sample_interval` of the pool's
    /// monotonic clock (a host-driven clock never samples by itself).
    pub(super) fn due(&self, core: &Core, now: u64) -> bool {
        let interval = core.policy.raw(Key::SampleInterval);
        core.clock == ClockMode::Monotonic
            && interval > 0
            && self
                .last
                .map_or(true, |t| now.saturating_sub(t) >= interval)
    }

    /// In a forked child, which is not the master: the parent's files go
    /// (they would count as its own open FDs).
    pub(super) fn forget_all(&mut self) {
        self.handles.iter_mut().for_each(|h| *h = None);
    }

    /// Under the lock, as a round begins: every occupied slot's pid, with
    /// its kept files.
    pub(super) fn targets(&mut self, core: &Core, now: u64) -> Vec<Target> {
        self.last = Some(now);
        let mut targets = Vec::new();
        for (i, s) in core.slots().iter().enumerate() {
            let pid = s.pid.load(Relaxed);
            if GenState::unpack(s.gen_state.load(Acquire)).state == state::VACANT || pid == 0 {
                self.handles[i] = None;
                continue;
            }
            targets.push(Target {
                slot: i as u32,
                pid,
                identity: s.identity.load(Relaxed),
                handle: self.handles[i].take(),
                read: Read::Pending,
            });
        }
        targets
    }

    /// Under the lock again: the readings of the slots that still hold the
    /// process read (a slot refilled meanwhile keeps its new worker's),
    /// stored in the slots and in the master's own `records`.
    pub(super) fn apply(
        &mut self,
        core: &Core,
        targets: Vec<Target>,
        records: &mut [SlotSup],
        now: u64,
    ) -> Applied {
        let mut report = SampleReport::default();
        let mut start_sizes = Vec::new();
        for t in targets {
            let i = t.slot as usize;
            let s = &core.slots()[i];
            let same = s.pid.load(Relaxed) == t.pid
                && s.identity.load(Relaxed) == t.identity
                && GenState::unpack(s.gen_state.load(Acquire)).state != state::VACANT;
            if !same {
                continue;
            }
            if self.handles[i].is_none() {
                self.handles[i] = t.handle;
            }
            let ss = &mut records[i];
            match t.read {
                Read::Pending => {}
                Read::Health(health) => {
                    crate::worker::store_health(core, s, health);
                    // The master's own record of its child, which no write
                    // to the slot changes (see `master_decision`).
                    if ss.holds(t.pid) {
                        let first = note_reading(&mut ss.this_gen, core, health, now);
                        if let (true, Some(rss)) = (first, health.rss) {
                            start_sizes.push(rss);
                        }
                    }
                    report.sampled += 1;
                }
                Read::Gone { unreaped } => {
                    self.handles[i] = None;
                    // Our own child's exit is reported by the host with its
                    // status once it reaps it (a zombie until then), and
                    // soon after if it has just reaped it (a host that
                    // samples on another thread, as the gunicorn hook does,
                    // sees the gap); anyone else's is retired now.
                    if unreaped {
                        continue;
                    }
                    if ss.holds(t.pid) {
                        let since = *ss.this_gen.reaped_since.get_or_insert(now);
                        if now.saturating_sub(since) < EXIT_REPORT_WAIT.as_micros() as u64 {
                            continue;
                        }
                    }
                    report.gone.push(t.slot);
                }
                Read::Failed(e) => report.errors.push((t.slot, e)),
            }
        }
        Applied {
            report,
            start_sizes,
        }
    }
}

/// The master's own reading of its child, noted: the limits it is over
/// and since when, and when that is held long enough (`memory_sustain`).
/// True for the generation's first reading.
fn note_reading(notes: &mut GenerationNotes, core: &Core, health: Health, now: u64) -> bool {
    let limits = &core.limits;
    let first = notes.measured == Health::default();
    notes.measured = health;
    let over = crate::worker::over_limits(&core.memory(), limits.max_fds, health);
    for (over, since) in over.into_iter().zip(&mut notes.over_since) {
        match over {
            Some(true) => {
                since.get_or_insert(now);
            }
            Some(false) => *since = None,
            None => {}
        }
    }
    notes.measured_due = notes
        .over_since
        .iter()
        .flatten()
        .map(|t| t.saturating_add(limits.memory_sustain))
        .min();
    first
}

/// Without the lock: each target's `/proc` files.
pub(super) fn read_targets(core: &Core, mut targets: Vec<Target>) -> Vec<Target> {
    let uss = core.limits.reads_uss();
    for t in &mut targets {
        let (pid, identity) = (t.pid, t.identity);
        let current =
            |h: &ProcHandle| h.pid() == pid && (identity == 0 || h.start_time() == identity);
        if !t.handle.as_ref().is_some_and(current) {
            t.handle = match ProcHandle::open(pid) {
                Ok(h) => Some(h),
                Err(Error::NoSuchProcess(_)) => None,
                Err(e) => {
                    t.read = Read::Failed(e);
                    continue;
                }
            };
        }
        let sample = match t.handle.as_mut().filter(|h| current(h)) {
            Some(h) => h.sample(uss),
            None => Err(Error::NoSuchProcess(pid)),
        };
        t.read = match sample {
            Ok(sample) => Read::Health(sample.health()),
            Err(Error::NoSuchProcess(_)) => {
                t.handle = None;
                Read::Gone {
                    unreaped: process::identity::unreaped_child(pid),
                }
            }
            Err(e) => Read::Failed(e),
        };
    }
    targets
}
