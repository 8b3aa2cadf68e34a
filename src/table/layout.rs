//! The memory layout of a pool: a header and one cache-padded slot per
//! worker. The same bytes serve a private pool, a shared-anonymous one and a
//! named file, so every field that changes after creation is an atomic.

use crate::policy::KEY_COUNT;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// The first eight bytes of every pool.
pub const MAGIC: [u8; 8] = *b"WRKRLIFE";
/// Bumped whenever the layout changes; attach refuses other versions. The
/// magic, this number and the writer's version (the first 28 bytes) keep
/// their place in every layout, so that a refusal can name both builds.
pub const LAYOUT_VERSION: u32 = 10;
/// Bytes of the writer's version in the header (NUL-padded text).
pub const WRITER_BYTES: usize = 16;
/// The most slots one pool can hold.
pub const MAX_SLOTS: u32 = 1 << 20;
/// A missing reading.
pub(crate) const NONE: u64 = u64::MAX;

/// Written once by the creator before anyone else can see the pool, then only
/// read; covered by the checksum. No padding, so its bytes are well defined.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct HeaderStatic {
    pub magic: [u8; 8],
    pub layout_version: u32,
    /// The workerlife version that made the pool ("0.1.0"), NUL-padded.
    pub writer: [u8; WRITER_BYTES],
    pub header_size: u32,
    pub slot_size: u32,
    pub slot_count: u32,
    pub clock_mode: u32,
    pub key_count: u32,
    pub seed: u64,
    pub epoch_ns: u64,
    pub policy: [u64; KEY_COUNT],
}

impl HeaderStatic {
    /// This library's version as the header holds it (cut to 16 bytes).
    pub fn this_writer() -> [u8; WRITER_BYTES] {
        let mut out = [0u8; WRITER_BYTES];
        let v = env!("CARGO_PKG_VERSION").as_bytes();
        let n = v.len().min(WRITER_BYTES);
        out[..n].copy_from_slice(&v[..n]);
        out
    }

    pub fn checksum(&self) -> u32 {
        // SAFETY: HeaderStatic is repr(C) of integers laid out without padding.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (self as *const Self).cast::<u8>(),
                std::mem::size_of::<Self>(),
            )
        };
        crc32fast::hash(bytes)
    }
}

/// Histogram bucket bounds for requests served at recycle.
pub const REQUEST_BUCKETS: [u64; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
/// Histogram bucket bounds for uptime at recycle, in seconds.
pub const UPTIME_BUCKETS: [u64; 8] = [1, 10, 60, 300, 900, 3_600, 14_400, 86_400];

/// Pool-wide counters, shared by every process of the pool.
#[repr(C)]
pub(crate) struct Counters {
    /// Recycles granted and kills decided, indexed by reason code.
    pub by_reason: [AtomicU64; 16],
    pub spawns: AtomicU64,
    pub exits: AtomicU64,
    pub crashes: AtomicU64,
    pub crash_loops: AtomicU64,
    /// Replacements started before a retirement (`max_surge`).
    pub replacements: AtomicU64,
    /// Replacements killed for not being ready within `ready_timeout`.
    pub ready_timeouts: AtomicU64,
    /// Requests served by workers that have exited.
    pub retired_requests: AtomicU64,
    /// Cumulative-free buckets (one per bound, plus +Inf); Prometheus sums them.
    pub requests_hist: [AtomicU64; REQUEST_BUCKETS.len() + 1],
    pub requests_sum: AtomicU64,
    pub uptime_hist: [AtomicU64; UPTIME_BUCKETS.len() + 1],
    pub uptime_sum_us: AtomicU64,
    /// Workers the kernel's OOM killer ended (a SIGKILL nobody of ours
    /// sent while the cgroup's OOM kill count rose).
    pub oom_kills: AtomicU64,
    /// Claims refused because every slot held a live worker: each such
    /// worker runs unsupervised.
    pub no_free_slot: AtomicU64,
    /// `enforce`: generations that tripped a rule only rehearsed (once per
    /// generation and reason), indexed by reason code.
    pub would_by_reason: [AtomicU64; 16],
}

/// `ContainerWords::state`.
pub(crate) mod container_state {
    /// Not read (`container_memory` off, or no sampling yet).
    pub const UNREAD: u64 = 0;
    /// The words hold the latest reading.
    pub const READ: u64 = 1;
    /// The latest reading failed (no memory cgroup, an unreadable file, a
    /// limit of 0): the words are stale, and nothing is recycled for it.
    pub const FAILED: u64 = 2;
}

/// The container's latest reading, as the master took it (`container_memory`),
/// for people watching the pool: stats, Prometheus, `workerlife top`. Any
/// worker can write them, so the master decides from its own copy, never
/// from these. Sizes in bytes; `NONE` where unknown.
#[repr(C)]
pub(crate) struct ContainerWords {
    pub state: AtomicU64,
    pub limit: AtomicU64,
    pub working_set: AtomicU64,
    pub anon: AtomicU64,
    pub file: AtomicU64,
    /// The headroom in bytes, and the working set at which a worker is
    /// recycled (limit minus headroom).
    pub headroom: AtomicU64,
    pub threshold: AtomicU64,
    /// The cgroup's own count of OOM kills (all its processes).
    pub oom_kills: AtomicU64,
    /// `memory.pressure` some avg10, in hundredths of a percent.
    pub pressure: AtomicU64,
    /// When it was read (pool time, µs).
    pub read_at: AtomicU64,
}

/// The memory of the process the workers were forked from, for limits
/// relative to it (`max_uss=3x`): read by the master of its own process
/// (before its first worker, when the host does not say when), or, with no
/// master of ours, by a worker of its parent. 0 where not read.
#[repr(C)]
pub(crate) struct ParentWords {
    /// The process read.
    pub pid: AtomicU64,
    pub rss: AtomicU64,
    pub uss: AtomicU64,
    pub pss: AtomicU64,
    /// When it was read (pool time, µs).
    pub read_at: AtomicU64,
}

/// `Header::master_pid`'s word: `pid`, and pool time `now` (µs) in
/// milliseconds, wrapping in 32 bits.
pub(crate) fn master_word(pid: u32, now: u64) -> u64 {
    ((now / 1_000) as u32 as u64) << 32 | u64::from(pid)
}

impl ParentWords {
    /// Puts a reading of process `pid` (pool time `at`) in the words, each
    /// 0 where not read; a word that already holds its value is not
    /// written (the master puts its record back every round).
    pub fn store(&self, pid: u32, health: crate::os::process::Health, at: u64) {
        for (cell, v) in [
            (&self.rss, health.rss),
            (&self.uss, health.uss),
            (&self.pss, health.pss),
            (&self.pid, Some(u64::from(pid))),
            (&self.read_at, Some(at)),
        ] {
            let v = v.unwrap_or(0);
            if cell.load(Relaxed) != v {
                cell.store(v, Relaxed);
            }
        }
    }
}

#[repr(C, align(128))]
pub(crate) struct Header {
    pub fixed: HeaderStatic,
    pub checksum: u32,
    pub _pad: u32,
    /// The manual clock's time in microseconds, when `clock_mode` is manual.
    pub manual_now: AtomicU64,
    /// The rolling budget, see `table/budget.rs`.
    pub budget: AtomicU64,
    /// Who last ran a round, and when: the pid (low 32 bits) and the pool
    /// time in milliseconds (high 32, wrapping). Any worker can write it,
    /// so it only ever decides what is said, never what is done: a
    /// worker's watchdog leaves its `would_*` lines to a master that ran a
    /// round lately (`master_word`).
    pub master_pid: AtomicU64,
    pub counters: Counters,
    pub container: ContainerWords,
    pub parent: ParentWords,
}

/// Slot states, in the low byte of `Slot::gen_state`.
pub(crate) mod state {
    pub const VACANT: u8 = 0;
    pub const RUNNING: u8 = 1;
    pub const DRAINING: u8 = 2;
}

/// Flag bits, in bits 16..32 of `Slot::gen_state`.
pub(crate) mod flag {
    /// Someone asked for a manual recycle.
    pub const MANUAL: u16 = 1;
    /// The slot holds one of the rolling budget's permits.
    pub const PERMIT: u16 = 2;
    /// The worker marked its slot on the way out.
    pub const EXITING: u16 = 4;
    /// A vacant slot being filled by whoever won it (claim or spawn).
    pub const CLAIMING: u16 = 8;
    /// A granted soft recycle waiting for its replacement to be ready
    /// (`max_surge`): the worker keeps serving and holds its permit.
    pub const SURGE: u16 = 16;
    /// The host said this worker is ready (`Pool::ready`).
    pub const READY: u16 = 32;
    /// A vacant slot kept for a replacement the master asked for: a worker
    /// that claims by pid takes it first (servers that start their workers
    /// themselves, like gunicorn).
    pub const RESERVED: u16 = 64;
    /// A soft recycle is due but the rolling budget had no permit: the
    /// worker waits in line (see `Core::urgency`).
    pub const WAITING: u16 = 128;
    /// With `memory_forecast`: the latest reading's growth estimate says the
    /// worker reaches its memory limit within that span.
    pub const FORECAST: u16 = 256;
    /// A new generation holding the permit of the recycle it follows (with
    /// `PERMIT`): the pool still misses a worker until this one serves (its
    /// `ready()` or first `begin()`), when the permit goes back. On a vacant
    /// slot, `PERMIT` alone means the same for the next generation, dated by
    /// `Slot::recycle_at`.
    pub const INHERITED: u16 = 512;
    /// The worker serves from an event loop that ends its own requests at
    /// `request_timeout` and beats while it runs (`Worker::on_event_loop`):
    /// a request past its timeout is a kill only once the loop has stopped
    /// beating too (`loop_stalled` in `rules/reasons.rs`).
    pub const LOOP: u16 = 1024;
    /// The master picked this worker to free memory for the container
    /// (`container_memory`): a recycle ahead of the line, as a manual one.
    pub const CONTAINER: u16 = 2048;
}

/// One worker. Exactly 384 bytes: six cache lines, and never shares one with
/// another slot, so workers do not slow each other down.
#[repr(C, align(128))]
pub(crate) struct Slot {
    /// generation (32) | flags (16) | reason (8) | state (8).
    pub gen_state: AtomicU64,
    pub pid: AtomicU32,
    /// Consecutive failed health checks.
    pub health_failures: AtomicU32,
    /// Requests in flight beyond the ticket cells (`TICKETS`): counted, not
    /// timed.
    pub untimed: AtomicU64,
    /// Requests ended in this generation.
    pub requests: AtomicU64,
    /// Last explicit heartbeat, µs.
    pub last_beat: AtomicU64,
    /// When this generation started, µs.
    pub spawned_at: AtomicU64,
    /// Process start time of the pid (identity against pid reuse); 0 unknown.
    pub identity: AtomicU64,
    /// This generation's request limit (max_requests + draw); 0 off.
    pub request_limit: AtomicU64,
    /// This generation's lifetime limit in µs (max_lifetime + draw); 0 off.
    pub lifetime_limit: AtomicU64,
    /// Latest readings; `NONE` when missing.
    pub rss: AtomicU64,
    pub uss: AtomicU64,
    pub pss: AtomicU64,
    pub fds: AtomicU64,
    /// When the recycle was granted, µs; on a generation or vacant slot
    /// holding an inherited permit, when that permit's worker left.
    pub recycle_at: AtomicU64,
    /// The value that tripped the recycle.
    pub trip_value: AtomicU64,
    /// With `memory_sustain`: since when (µs) each reading (rss, uss, pss,
    /// fds) has been at or above its limit without a break; `NONE`: it is
    /// not.
    pub over_since: [AtomicU64; 4],
    /// When the latest reading arrived (µs).
    pub read_at: AtomicU64,
    /// The growth fit's state and points (see `rules/growth.rs`).
    pub fit: AtomicU64,
    pub fit_points: Points,
    /// How the previous generation ended (`last_exit` codes); kept across
    /// generations, for people watching the pool.
    pub last_exit: AtomicU64,
    /// `enforce`: a bit (`1 << reason code`) for each rule this generation
    /// tripped that was only rehearsed, not carried out.
    pub would: AtomicU64,
    /// One cell per request in flight (see `cell`): when each began, so the
    /// oldest is timed whatever the others do.
    pub cells: [AtomicU64; TICKETS],
}

impl Slot {
    /// Zeroes the per-generation counters and readings (the slot's memory,
    /// before a new generation or when one ends).
    pub fn reset(&self, now: u64) {
        self.requests.store(0, Relaxed);
        self.health_failures.store(0, Relaxed);
        self.untimed.store(0, Relaxed);
        for c in &self.cells {
            // The sequence goes on, so a ticket of an earlier generation
            // stays refused.
            c.store(cell::free(c.load(Relaxed), now), Relaxed);
        }
        self.rss.store(NONE, Relaxed);
        self.uss.store(NONE, Relaxed);
        self.pss.store(NONE, Relaxed);
        self.fds.store(NONE, Relaxed);
        self.pid.store(0, Relaxed);
        self.identity.store(0, Relaxed);
        self.recycle_at.store(NONE, Relaxed);
        self.trip_value.store(0, Relaxed);
        self.request_limit.store(0, Relaxed);
        self.lifetime_limit.store(0, Relaxed);
        for since in &self.over_since {
            since.store(NONE, Relaxed);
        }
        self.read_at.store(0, Relaxed);
        self.fit.store(0, Relaxed);
        self.would.store(0, Relaxed);
    }
}

const _: () = assert!(std::mem::size_of::<Slot>() == 384);
// No padding: the checksum reads every byte.
const _: () = assert!(std::mem::size_of::<HeaderStatic>() == 64 + 8 * KEY_COUNT);

/// `Slot::last_exit`: 0 none yet, a reason code, or one of these.
pub(crate) mod last_exit {
    /// It left on its own account (`exiting()`, the server's own restart).
    pub const LEFT: u64 = 254;
    /// An exit nobody asked for.
    pub const CRASH: u64 = 255;
    /// Ended by the kernel's OOM killer.
    pub const OOM_KILLED: u64 = 253;
}

/// The growth fit's readings kept per generation (`Slot::fit_points`).
pub(crate) const POINTS: usize = 6;
/// One kept reading: milliseconds since the generation started, requests
/// served by then, and the reading in KiB (pages are 4 KiB, so nothing is
/// lost); each saturates at `u32::MAX`.
pub(crate) type Points = [[AtomicU32; 3]; POINTS];

/// `Slot::fit`: readings seen (32) | level (8): one reading in 2^level is
/// kept | count (8) | sequence (16): odd while a writer changes the points.
pub(crate) mod fit_word {
    pub fn seen(w: u64) -> u32 {
        (w >> 32) as u32
    }
    pub fn level(w: u64) -> u32 {
        ((w >> 24) & 0xff) as u32
    }
    pub fn count(w: u64) -> usize {
        ((w >> 16) & 0xff) as usize
    }
    pub fn seq(w: u64) -> u16 {
        w as u16
    }
    pub fn pack(seen: u32, level: u32, count: usize, seq: u16) -> u64 {
        (u64::from(seen) << 32) | (u64::from(level) << 24) | ((count as u64) << 16) | u64::from(seq)
    }
}

/// Packs and unpacks `Slot::gen_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GenState {
    pub generation: u32,
    pub flags: u16,
    pub reason: u8,
    pub state: u8,
}

impl GenState {
    pub fn unpack(word: u64) -> Self {
        GenState {
            generation: (word >> 32) as u32,
            flags: (word >> 16) as u16,
            reason: (word >> 8) as u8,
            // Any worker can write the word: a state no code of ours writes
            // reads as vacant (the master refills the slot, or gives it back
            // to its live child).
            state: match word as u8 {
                s @ (state::RUNNING | state::DRAINING) => s,
                _ => state::VACANT,
            },
        }
    }

    pub fn pack(self) -> u64 {
        (u64::from(self.generation) << 32)
            | (u64::from(self.flags) << 16)
            | (u64::from(self.reason) << 8)
            | u64::from(self.state)
    }

    pub fn has(self, f: u16) -> bool {
        self.flags & f != 0
    }
}

pub(crate) use crate::policy::TIME_MASK;

/// Requests a slot times at once (`Slot::cells`); more are counted in
/// `Slot::untimed`.
pub const TICKETS: usize = 16;

/// Packs and unpacks one `Slot::cells` word: in use (1) | sequence (15) |
/// time in µs (48). In use, the time is when the request began; free, when
/// the last request of the cell ended (or the generation started). The
/// sequence counts the cell's requests, so a ticket ended twice, or kept
/// from an earlier request, no longer matches.
pub(crate) mod cell {
    use super::TIME_MASK;
    const USED: u64 = 1 << 63;
    pub const SEQ_MASK: u64 = 0x7FFF;
    pub fn used(word: u64) -> bool {
        word & USED != 0
    }
    pub fn seq(word: u64) -> u64 {
        (word >> 48) & SEQ_MASK
    }
    pub fn time(word: u64) -> u64 {
        word & TIME_MASK
    }
    /// The word of the next request in a free cell.
    pub fn taken(free: u64, now: u64) -> u64 {
        USED | (((seq(free) + 1) & SEQ_MASK) << 48) | (now & TIME_MASK)
    }
    /// The cell freed at `now`, keeping its sequence.
    pub fn free(word: u64, now: u64) -> u64 {
        (seq(word) << 48) | (now & TIME_MASK)
    }
}

/// What the cells of a slot say: requests in flight (cells in use plus the
/// untimed ones), when the oldest timed one began, and when the last one
/// ended (the latest free cell's time). Any worker can write the words: a
/// forged one only misstates its own slot's activity, as it could before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Activity {
    pub in_flight: u64,
    pub oldest: Option<u64>,
    pub last_end: u64,
}

impl Activity {
    pub fn of(slot: &Slot) -> Activity {
        let mut a = Activity {
            in_flight: slot.untimed.load(Relaxed).min(u64::from(u16::MAX)),
            ..Activity::default()
        };
        for c in &slot.cells {
            let w = c.load(Relaxed);
            let t = cell::time(w);
            if cell::used(w) {
                a.in_flight += 1;
                a.oldest = Some(a.oldest.map_or(t, |o| o.min(t)));
            } else {
                a.last_end = a.last_end.max(t);
            }
        }
        a
    }

    /// How long the slot has been idle, when that is `max_idle` or more:
    /// nothing in flight and no request ended since. Stops at the first
    /// cell that says otherwise (most often the first).
    pub fn idle_for(slot: &Slot, now: u64, max_idle: u64) -> Option<u64> {
        if slot.untimed.load(Relaxed) != 0 {
            return None;
        }
        let mut last_end = 0;
        for c in &slot.cells {
            let w = c.load(Relaxed);
            if cell::used(w) || now.saturating_sub(cell::time(w)) < max_idle {
                return None;
            }
            last_end = last_end.max(cell::time(w));
        }
        Some(now.saturating_sub(last_end))
    }

    /// The time the old single word held: when busy, when the oldest timed
    /// request began (the last end when only untimed ones are in flight);
    /// when idle, when the last request ended.
    pub fn time(&self) -> u64 {
        self.oldest.unwrap_or(self.last_end)
    }
}

/// Bytes a pool of `slots` slots takes.
pub(crate) fn pool_size(slots: u32) -> usize {
    std::mem::size_of::<Header>() + slots as usize * std::mem::size_of::<Slot>()
}

/// Bytes of one slot (for the benchmarks and docs/benchmarks.md).
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

#[cfg(test)]
mod tests {
    #[test]
    fn the_slot_count_error_names_max_slots() {
        let text = crate::Error::InvalidSlotCount(0).to_string();
        assert!(
            text.ends_with(&format!("between 1 and {}", super::MAX_SLOTS)),
            "{text}"
        );
    }
}
