//! The container the master runs in (`container_memory`): its memory cgroup
//! read once per sampling round (outside the supervisor's lock, as `/proc`
//! is), and the phase of `tick` that recycles before the kernel's OOM
//! killer picks a worker at random.
//!
//! - Working set at or above the limit minus `container_headroom`: the
//!   worker whose recycle frees the most (its USS, else RSS; ties to the
//!   fastest grower) is recycled, ahead of the line for permits (flag
//!   `CONTAINER`), one at a time by the master's own record.
//! - Still rising to the limit minus half the headroom while that worker
//!   drains: it is killed, so the kernel never chooses.
//! - A worker that dies by SIGKILL, unasked, while the cgroup's OOM kill
//!   count rose, was OOM-killed, and its exit says so.
//!
//! The master decides from its own reading, never from the header's
//! container words, which it only publishes (any worker can write them).

use super::record::SlotSup;
use crate::os::cgroup::{Cgroup, MemoryReading, Reader};
use crate::policy::{Key, CONTAINER_AUTO, HEADROOM_PERCENT};
use crate::rules::core::Core;
use crate::rules::decision::{Action, Decision, Reason};
use crate::rules::event::{Event, EventKind};
use crate::table::layout::{container_state, flag, state, GenState, NONE};
use crate::worker::Health;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// How many recent workers' start sizes the surge check takes the median
/// of.
const START_SIZES: usize = 16;

/// The master's record of the container.
#[derive(Default)]
pub(super) struct Container {
    /// The cgroup's files, kept open; None until first needed, and while
    /// out of the supervisor for a read.
    reader: Option<Reader>,
    /// The cgroup could not be found (a process does not move to another
    /// hierarchy: not looked for again).
    no_cgroup: bool,
    /// The OOM kill count's baseline was read (or tried).
    baseline_read: bool,
    /// The latest reading (the cgroup's, or a host's `report_container`).
    pub(super) latest: Option<MemoryReading>,
    /// The cgroup's OOM kill count when last read: an exit by SIGKILL with
    /// a higher count since was the kernel's.
    oom_seen: Option<u64>,
    /// The worker picked to free memory, by slot and generation: one at a
    /// time, whatever the slots say.
    target: Option<(u32, u32)>,
    /// Its kill is due (the working set reached limit minus half the
    /// headroom).
    kill: bool,
    /// Readings taken so far, and how many there were when the last target
    /// left: the next pick needs a reading taken since, which no longer
    /// counts the memory that worker freed.
    readings: u64,
    fresh_after: u64,
    /// The first RSS readings of recent workers of ours.
    start_sizes: VecDeque<u64>,
    /// A `container_too_small` event was filed for the working set's
    /// current run at or above the threshold.
    too_small_said: bool,
}

impl Container {
    /// The median of recent workers' start sizes (RSS), if any is known.
    fn median_start_size(&self) -> Option<u64> {
        let mut sizes: Vec<u64> = self.start_sizes.iter().copied().collect();
        sizes.sort_unstable();
        sizes.get(sizes.len() / 2).copied()
    }
}

/// The master's own latest reading of the worker in slot `s` (generation
/// `gs`). Its record is of this generation only once it saw it: a worker
/// that just took the slot inherits nothing.
fn own_reading(s: &crate::table::layout::Slot, ss: &SlotSup, gs: GenState) -> Health {
    if ss.describes(gs.generation, s.pid.load(Relaxed)) {
        ss.this_gen.measured
    } else {
        Health::default()
    }
}

/// A reading taken without the lock: the reader goes out and comes back.
pub(super) struct ContainerRead {
    reader: Option<Reader>,
    result: Option<crate::Result<MemoryReading>>,
}

/// The limit and thresholds a reading comes to under the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Bounds {
    pub limit: u64,
    pub headroom: u64,
    /// Working set at which a worker is recycled.
    pub recycle_at: u64,
    /// Working set at which that worker is killed instead of drained.
    pub kill_at: u64,
}

/// The bounds for `reading` under `container_memory` and
/// `container_headroom` raw values; None when off or no limit is known.
pub(super) fn bounds(memory: u64, headroom: u64, reading: &MemoryReading) -> Option<Bounds> {
    let limit = match memory {
        0 => return None,
        CONTAINER_AUTO => reading.limit?,
        size => size,
    };
    let headroom = if headroom & HEADROOM_PERCENT != 0 {
        let bp = headroom & !HEADROOM_PERCENT;
        (u128::from(limit) * u128::from(bp) / 10_000) as u64
    } else {
        headroom
    }
    .min(limit);
    Some(Bounds {
        limit,
        headroom,
        recycle_at: limit - headroom,
        kill_at: limit - headroom / 2,
    })
}

/// The bounds for `reading` under `core`'s policy.
fn bounds_of(core: &Core, reading: &MemoryReading) -> Option<Bounds> {
    let p = &core.policy;
    bounds(
        p.raw(Key::ContainerMemory),
        p.raw(Key::ContainerHeadroom),
        reading,
    )
}

/// What the start-up line says of `container_memory=auto`: the limit it
/// found, or that it found none (the container rules then act on nothing
/// until a limit is set), so "auto" never silently means "off".
pub(super) fn auto_note(policy: &crate::policy::Policy) -> Option<String> {
    if policy.raw(Key::ContainerMemory) != CONTAINER_AUTO {
        return None;
    }
    let found = Cgroup::of_self().and_then(|c| c.read().map(|r| (c, r)));
    Some(match found {
        Ok((c, r)) => match r.limit {
            Some(limit) => format!(
                "container_memory=auto: limit {} (cgroup {})",
                crate::units::HumanSize(limit),
                c.dir().display()
            ),
            None => format!(
                "container_memory=auto: no memory limit on cgroup {}: the container rules wait for one",
                c.dir().display()
            ),
        },
        Err(e) => format!("container_memory=auto: {e}: the container rules are off"),
    })
}

impl Container {
    fn wanted(core: &Core) -> bool {
        core.policy.raw(Key::ContainerMemory) != 0
    }

    /// The reader of this process's cgroup, found the first time it is
    /// needed; None when there is none (looked for once: a process does
    /// not change its cgroup hierarchy).
    fn reader(&mut self) -> Option<&mut Reader> {
        if self.reader.is_none() && !self.no_cgroup {
            match Cgroup::of_self() {
                Ok(c) => self.reader = Some(c.reader()),
                Err(_) => self.no_cgroup = true,
            }
        }
        self.reader.as_mut()
    }

    /// Under the lock, when a sampling round is due: the reader to read
    /// with, if the policy asks for the container. Without a cgroup the
    /// stats say "failed".
    pub(super) fn take_for_read(&mut self, core: &Core) -> Option<ContainerRead> {
        if !Self::wanted(core) {
            return None;
        }
        if self.reader().is_none() {
            core.header()
                .container
                .state
                .store(container_state::FAILED, Relaxed);
            return None;
        }
        Some(ContainerRead {
            reader: self.reader.take(),
            result: None,
        })
    }
}

impl Container {
    /// The picked worker is gone: the next pick waits for a fresh reading.
    pub(super) fn end_target(&mut self) {
        self.target = None;
        self.kill = false;
        self.fresh_after = self.readings;
    }

    /// `slot`'s worker is gone: if it was the target, that ends it.
    pub(super) fn on_exit(&mut self, slot: u32) {
        if self.target.is_some_and(|(s, _)| s == slot) {
            self.end_target();
        }
    }
}

impl ContainerRead {
    /// Without the lock: the reading.
    pub(super) fn read(mut self) -> ContainerRead {
        self.result = self.reader.as_mut().map(Reader::read);
        self
    }
}

impl Container {
    /// Under the lock again: the reader back, the reading kept.
    pub(super) fn apply(&mut self, core: &Core, read: ContainerRead, now: u64) {
        self.reader = read.reader;
        match read.result {
            Some(Ok(r)) => self.note(core, r, now),
            Some(Err(_)) => {
                self.latest = None;
                core.header()
                    .container
                    .state
                    .store(container_state::FAILED, Relaxed);
            }
            None => {}
        }
    }

    /// A reading from the cgroup or the host (`Pool::report_container`):
    /// kept, and published in the header for people watching.
    pub(super) fn note(&mut self, core: &Core, r: MemoryReading, now: u64) {
        if self.oom_seen.is_none() {
            self.oom_seen = r.oom_kills;
        }
        self.latest = Some(r);
        self.readings += 1;
        let b = bounds_of(core, &r);
        let w = &core.header().container;
        let or_none = |v: Option<u64>| v.unwrap_or(NONE);
        w.limit
            .store(or_none(b.map(|b| b.limit).or(r.limit)), Relaxed);
        w.working_set.store(r.working_set, Relaxed);
        w.anon.store(or_none(r.anon), Relaxed);
        w.file.store(or_none(r.file), Relaxed);
        w.headroom.store(or_none(b.map(|b| b.headroom)), Relaxed);
        w.threshold.store(or_none(b.map(|b| b.recycle_at)), Relaxed);
        w.oom_kills.store(or_none(r.oom_kills), Relaxed);
        w.pressure.store(
            or_none(r.pressure_some_avg10.map(|p| (p * 100.0).round() as u64)),
            Relaxed,
        );
        w.read_at.store(now, Relaxed);
        w.state.store(container_state::READ, Relaxed);
    }

    /// Phase "container" of `tick`: the worker to recycle (or kill) for
    /// the container, from the latest reading and the master's `records`.
    /// Returns the `container_too_small` event to file, if one is due.
    pub(super) fn phase(&mut self, core: &Core, records: &[SlotSup], now: u64) -> Option<Event> {
        // The target's generation ended (it left, or its slot was taken
        // before its exit was reported): done.
        if let Some((slot, generation)) = self.target {
            let gs = GenState::unpack(core.slots()[slot as usize].gen_state.load(Acquire));
            if gs.state == state::VACANT || gs.generation != generation {
                self.end_target();
            }
        }
        let r = self.latest?;
        let b = bounds_of(core, &r)?;
        if r.working_set < b.recycle_at {
            self.too_small_said = false;
            return None;
        }
        if self.target.is_some() {
            self.kill |= r.working_set >= b.kill_at;
            return None;
        }
        if self.readings <= self.fresh_after {
            return None;
        }
        let slot = largest_worker(core, records)?;
        if self.recycle_frees_nothing(core, records, slot) {
            // The largest worker is no bigger than a fresh one: recycling
            // it would free nothing, and the next pick would be its
            // successor, for ever. Said once per run over the threshold;
            // the limit cannot hold this pool.
            if self.too_small_said {
                return None;
            }
            self.too_small_said = true;
            let mut ev = Event::of_slot(
                core,
                EventKind::ContainerTooSmall,
                slot,
                Some(Reason::ContainerMemory),
                now,
            );
            ev.decision = Some(Decision {
                action: Action::Continue,
                reason: Some(Reason::ContainerMemory),
                value: r.working_set,
                limit: b.recycle_at,
            });
            return Some(ev);
        }
        let s = &core.slots()[slot as usize];
        let picked = s.gen_state.fetch_update(AcqRel, Acquire, |w| {
            let gs = GenState::unpack(w);
            (gs.state == state::RUNNING && !gs.has(flag::EXITING)).then(|| {
                GenState {
                    flags: gs.flags | flag::CONTAINER,
                    ..gs
                }
                .pack()
            })
        });
        if let Ok(w) = picked {
            self.target = Some((slot, GenState::unpack(w).generation));
            self.kill = r.working_set >= b.kill_at;
        }
        None
    }

    /// Whether `slot`'s worker is no bigger than a fresh one, by RSS (what
    /// the start sizes are): at most a tenth over the median recent start
    /// size. False while no start size or no reading is known.
    fn recycle_frees_nothing(&self, core: &Core, records: &[SlotSup], slot: u32) -> bool {
        let Some(median) = self.median_start_size() else {
            return false;
        };
        let s = &core.slots()[slot as usize];
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        let rss = own_reading(s, &records[slot as usize], gs)
            .rss
            .or_else(|| Some(s.rss.load(Relaxed)).filter(|&v| v != NONE));
        rss.is_some_and(|rss| rss <= median.saturating_add(median / 10))
    }

    /// Whether the master's kill of `slot`'s worker (generation
    /// `generation`) for the container is due (its own record).
    pub(super) fn kill_due(&self, slot: u32, generation: u32) -> bool {
        self.kill && self.target == Some((slot, generation))
    }

    /// A first reading of a new worker of ours: its start size, for the
    /// surge check.
    pub(super) fn note_start_size(&mut self, rss: u64) {
        if self.start_sizes.len() == START_SIZES {
            self.start_sizes.pop_front();
        }
        self.start_sizes.push_back(rss);
    }

    /// With a container limit: whether a replacement of the median recent
    /// start size fits under the limit minus the headroom. True when
    /// nothing is known (no limit, no reading, no start size yet).
    pub(super) fn replacement_fits(&self, core: &Core) -> bool {
        let (Some(r), Some(median)) = (self.latest, self.median_start_size()) else {
            return true;
        };
        let Some(b) = bounds_of(core, &r) else {
            return true;
        };
        r.working_set.saturating_add(median) < b.recycle_at
    }

    /// An exit by SIGKILL that nobody of ours asked for: whether the
    /// cgroup's OOM kill count rose since last seen (read now; a cgroup
    /// that cannot be read says no).
    pub(super) fn oom_killed(&mut self) -> bool {
        let Some(Ok(now)) = self.reader().map(|r| r.read().map(|r| r.oom_kills)) else {
            return false;
        };
        let rose = matches!((self.oom_seen, now), (Some(before), Some(after)) if after > before);
        if now.is_some() {
            self.oom_seen = now;
        }
        rose
    }

    /// The baseline of the OOM kill count, before any exit needs it.
    pub(super) fn oom_baseline(&mut self) {
        if self.baseline_read {
            return;
        }
        self.baseline_read = true;
        if let Some(reader) = self.reader() {
            self.oom_seen = reader.read().ok().and_then(|r| r.oom_kills);
        }
    }
}

/// The running worker whose recycle frees the most: by the master's own
/// latest reading of it (USS, else RSS), else by the worker's own report;
/// ties to the fastest grower.
fn largest_worker(core: &Core, records: &[SlotSup]) -> Option<u32> {
    let mut best: Option<(u64, f64, u32)> = None;
    for (i, (s, ss)) in core.slots().iter().zip(records).enumerate() {
        let gs = GenState::unpack(s.gen_state.load(Acquire));
        if gs.state != state::RUNNING || gs.has(flag::EXITING) || gs.has(flag::SURGE) {
            continue;
        }
        let reported =
            |w: &std::sync::atomic::AtomicU64| Some(w.load(Relaxed)).filter(|&v| v != NONE);
        let measured = own_reading(s, ss, gs);
        let size = (measured.uss.or(measured.rss))
            .or_else(|| reported(&s.uss).or_else(|| reported(&s.rss)))
            .unwrap_or(0);
        let growth = core.growth(s).map_or(0.0, |g| g.per_second);
        let better = best.map_or(true, |(bs, bg, _)| size > bs || (size == bs && growth > bg));
        if better {
            best = Some((size, growth, i as u32));
        }
    }
    best.map(|(_, _, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(limit: Option<u64>, ws: u64) -> MemoryReading {
        MemoryReading {
            limit,
            usage: ws,
            working_set: ws,
            ..MemoryReading::default()
        }
    }

    #[test]
    fn bounds_from_auto_size_and_percent() {
        const M: u64 = 1 << 20;
        let r = reading(Some(400 * M), 0);
        let b = bounds(CONTAINER_AUTO, HEADROOM_PERCENT | 1000, &r).unwrap();
        assert_eq!((b.limit, b.headroom), (400 * M, 40 * M));
        assert_eq!((b.recycle_at, b.kill_at), (360 * M, 380 * M));
        // A size overrides the cgroup's limit, and a byte headroom is bytes.
        let b = bounds(200 * M, 50 * M, &r).unwrap();
        assert_eq!((b.recycle_at, b.kill_at), (150 * M, 175 * M));
        // Off, or auto with no limit: nothing to hold to.
        assert_eq!(bounds(0, HEADROOM_PERCENT | 1000, &r), None);
        assert_eq!(bounds(CONTAINER_AUTO, 10 * M, &reading(None, 5)), None);
        // A headroom past the limit is the whole limit, never an underflow.
        let b = bounds(CONTAINER_AUTO, 999 * M, &r).unwrap();
        assert_eq!((b.recycle_at, b.kill_at), (0, 200 * M));
    }
}
