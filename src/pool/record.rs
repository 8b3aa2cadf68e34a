//! The master's private record of each slot (`SlotSup`), grouped by how long
//! each part lasts, so that a new master-side feature touches one group:
//!
//! - [`Binding`]: which process the record describes (generation, pid, the
//!   master's own child) and since when; moves on at each generation.
//! - [`GenerationNotes`]: what the master noted of one generation alone;
//!   a new generation starts from `Default`, as the shared slot does, so
//!   nothing noted of a worker is carried into its successor.
//! - [`Respawn`]: the vacancy's state (a spawn returned, crash backoff);
//!   lasts across generations, as backoff must.
//! - [`SurgeRole`]: the slot's part in replacing before retiring
//!   (`max_surge`, `surge.rs`).
//!
//! Nothing here reads the shared table: shared memory is writable by every
//! worker, and this record is what the master trusts instead.

use super::backoff::CrashBackoff;
use crate::worker::Health;

/// A child of the master: a pid it spawned or adopted, with the start time
/// it read itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Child {
    pub(super) pid: u32,
    pub(super) identity: u64,
}

/// The master's record of one slot.
#[derive(Default)]
pub(super) struct SlotSup {
    pub(super) bound: Binding,
    pub(super) this_gen: GenerationNotes,
    pub(super) respawn: Respawn,
    pub(super) surge: SurgeRole,
}

/// Which process the record describes.
#[derive(Default)]
pub(super) struct Binding {
    /// The generation last seen in the slot (0: none yet).
    pub(super) generation: u32,
    /// Its pid as the slot said when the generation was noted (0: vacant).
    pub(super) pid: u32,
    /// The master's child that holds this slot's generation, when the slot's
    /// pid is one of them; actions name this pid and identity only.
    pub(super) child: Option<Child>,
    /// When the master bound its child to this generation (pool time): the
    /// age it judges `max_lifetime` by, whatever the slot says.
    pub(super) bound_at: u64,
    /// The pid of the last worker the pool found gone by itself (sampling,
    /// `reap_dead`) before the host reported its exit: the host's later
    /// `exited(pid)` is answered with this slot instead of an error, even
    /// once the slot holds a successor.
    pub(super) found_gone: u32,
}

/// What the master noted of the slot's current generation.
#[derive(Default)]
pub(super) struct GenerationNotes {
    /// Bit per reason code: refusals already filed.
    pub(super) refused: u16,
    /// Its wait for a permit was filed.
    pub(super) waiting_filed: bool,
    /// Rules rehearsed (`enforce`) filed as events, and those waiting a
    /// round for their figures.
    pub(super) would: crate::rules::rehearsal::Marks,
    /// A recycle was returned.
    pub(super) recycle_returned: bool,
    /// Bit per reason code: kills already returned.
    pub(super) kills_returned: u16,
    /// The slot's failed health checks already filed as events.
    pub(super) failures_seen: u32,
    /// When sampling first found the master's own child gone and already
    /// reaped (pool time): its host is between `waitpid` and reporting the
    /// exit with its status, which is waited for (`EXIT_REPORT_WAIT`)
    /// before the slot is retired without one.
    pub(super) reaped_since: Option<u64>,
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
}

/// The slot's vacancy: whether its respawn was returned, and when one may be.
#[derive(Default)]
pub(super) struct Respawn {
    /// A spawn was returned for the current vacancy (once per vacancy).
    pub(super) spawn_returned: bool,
    /// No respawn before this (pool time): crash backoff's delay.
    pub(super) not_before: u64,
    /// Its recent crashes (crash backoff).
    pub(super) backoff: CrashBackoff,
    /// Since when the slot has been vacant and marked as being filled
    /// (CLAIMING): a fill takes a few stores, so a mark that stays was
    /// written, and is cleared.
    pub(super) claiming_since: Option<u64>,
}

/// The slot's part in replacing before retiring (`max_surge`).
#[derive(Default)]
pub(super) struct SurgeRole {
    /// Not respawned when vacant: a slot kept for replacements.
    pub(super) parked: bool,
    /// On a worker waiting to retire: the slot of its replacement.
    pub(super) replacement: Option<u32>,
    /// On a replacement: the slot of the worker it replaces, when it was
    /// started and by when it must be ready.
    pub(super) replaces: Option<u32>,
    pub(super) replace_started: u64,
    pub(super) replace_deadline: u64,
}

impl SlotSup {
    /// Whether the master's child bound to this slot is `pid`.
    pub(super) fn holds(&self, pid: u32) -> bool {
        self.bound.child.is_some_and(|c| c.pid == pid)
    }

    /// Whether the record describes generation `generation` of process
    /// `pid` (a worker that just took the slot inherits nothing).
    pub(super) fn describes(&self, generation: u32, pid: u32) -> bool {
        self.bound.generation == generation && self.bound.pid == pid
    }

    /// A new generation of the slot, held by `pid` (`child` when it is the
    /// master's): everything noted of the last one goes. The same child in
    /// a new generation (a generation number written over) keeps its age:
    /// no write restarts its lifetime.
    pub(super) fn new_generation(
        &mut self,
        generation: u32,
        pid: u32,
        child: Option<Child>,
        now: u64,
    ) {
        let b = &mut self.bound;
        b.generation = generation;
        b.pid = pid;
        if child.is_none() || b.child != child {
            b.bound_at = now;
        }
        b.child = child;
        self.this_gen = GenerationNotes::default();
        self.respawn.spawn_returned = false;
    }

    /// The slot was left vacant (its worker retired, by this master or
    /// another process of the pool): a respawn may be returned from `now`.
    pub(super) fn vacated(&mut self, now: u64) {
        self.bound.pid = 0;
        self.respawn.spawn_returned = false;
        self.respawn.not_before = now;
    }
}
