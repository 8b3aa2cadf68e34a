//! The policy's limits in the units the rules compare, read once from the
//! policy: what every rule (and the growth estimate) reads, owned by none.

use crate::policy::reason::Reason;
use crate::policy::{Key, Policy, RELATIVE_LIMIT};
use crate::table::layout::ParentWords;
use std::sync::atomic::Ordering::Relaxed;

/// The policy's numbers, in the units the rules compare (µs, bytes, counts).
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub request_timeout: u64,
    pub heartbeat_timeout: u64,
    pub drain_timeout: u64,
    /// Raw: bytes, or `RELATIVE_LIMIT` | a multiple in hundredths; compare
    /// against `memory()`, never these.
    pub max_rss: u64,
    pub max_uss: u64,
    pub max_pss: u64,
    pub max_fds: u64,
    pub max_health_failures: u64,
    pub max_requests: u64,
    pub max_requests_jitter: u64,
    pub max_lifetime: u64,
    pub lifetime_jitter: u64,
    pub max_idle: u64,
    pub min_lifetime: u64,
    pub max_concurrent: u64,
    pub min_interval: u64,
    pub max_surge: u64,
    pub ready_timeout: u64,
    pub max_pool_rss: u64,
    pub memory_sustain: u64,
    pub memory_forecast: u64,
    /// `enforce`: which reasons act (see `enforces`).
    pub enforce: u64,
    /// `min_sharing`, hundredths of a percent (0: off).
    pub min_sharing: u64,
    /// Whether a rule reads the time of a worker's last begin or end
    /// (request_timeout, heartbeat_timeout, max_idle); without one, the hot
    /// path skips its clock reads.
    pub activity_clock: bool,
}

/// The memory limits in bytes as they stand now: a relative one
/// (`max_uss=3x`) resolved against the parent's reading, 0 (no limit: the
/// rule waits) while there is none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Memory {
    pub rss: u64,
    pub uss: u64,
    pub pss: u64,
}

impl Limits {
    /// The memory limits resolved against the parent's reading (`parent`,
    /// the header's words: any worker can write them, and the master puts
    /// its own reading back before it decides).
    #[inline]
    pub(crate) fn memory(&self, parent: &ParentWords) -> Memory {
        let resolve = |raw: u64, reading: &std::sync::atomic::AtomicU64| {
            if raw & RELATIVE_LIMIT == 0 {
                return raw;
            }
            let base = reading.load(Relaxed);
            // Never 0 unless unread: 0 leaves the rule off.
            base.saturating_mul(raw & !RELATIVE_LIMIT) / 100
        };
        Memory {
            rss: resolve(self.max_rss, &parent.rss),
            uss: resolve(self.max_uss, &parent.uss),
            pss: resolve(self.max_pss, &parent.pss),
        }
    }

    /// Whether samples read USS and PSS (a page-table walk each): for
    /// `max_uss`, `max_pss` and the copy-on-write view (`min_sharing`).
    pub(crate) fn reads_uss(&self) -> bool {
        self.max_uss > 0 || self.max_pss > 0 || self.min_sharing > 0
    }

    /// Whether the parent's reading is wanted: relative limits, or the
    /// share of its memory the workers keep (`min_sharing`).
    pub(crate) fn wants_parent(&self) -> bool {
        self.relative() || self.min_sharing > 0
    }

    /// Whether any memory limit is relative to the parent's reading.
    pub(crate) fn relative(&self) -> bool {
        [self.max_rss, self.max_uss, self.max_pss]
            .iter()
            .any(|raw| raw & RELATIVE_LIMIT != 0)
    }

    /// Whether `reason` acts; one that does not is rehearsed
    /// (`rules::rehearsal`).
    #[inline]
    pub(crate) fn enforces(&self, reason: Reason) -> bool {
        crate::policy::enforces(self.enforce, reason)
    }

    pub(crate) fn from(p: &Policy) -> Self {
        Limits {
            request_timeout: p.raw(Key::RequestTimeout),
            heartbeat_timeout: p.raw(Key::HeartbeatTimeout),
            drain_timeout: p.raw(Key::DrainTimeout),
            max_rss: p.raw(Key::MaxRss),
            max_uss: p.raw(Key::MaxUss),
            max_pss: p.raw(Key::MaxPss),
            max_fds: p.raw(Key::MaxFds),
            max_health_failures: p.raw(Key::MaxHealthFailures),
            max_requests: p.raw(Key::MaxRequests),
            max_requests_jitter: p.raw(Key::MaxRequestsJitter),
            max_lifetime: p.raw(Key::MaxLifetime),
            lifetime_jitter: p.raw(Key::LifetimeJitter),
            max_idle: p.raw(Key::MaxIdle),
            min_lifetime: p.raw(Key::MinLifetime),
            max_concurrent: p.raw(Key::MaxConcurrentRecycles),
            min_interval: p.raw(Key::MinRecycleInterval),
            max_surge: p.raw(Key::MaxSurge),
            ready_timeout: p.raw(Key::ReadyTimeout),
            max_pool_rss: p.raw(Key::MaxPoolRss),
            memory_sustain: p.raw(Key::MemorySustain),
            memory_forecast: p.raw(Key::MemoryForecast),
            enforce: p.raw(Key::Enforce),
            min_sharing: p.raw(Key::MinSharing),
            activity_clock: p.raw(Key::RequestTimeout) > 0
                || p.raw(Key::HeartbeatTimeout) > 0
                || p.raw(Key::MaxIdle) > 0,
        }
    }
}
