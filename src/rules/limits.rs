//! The policy's limits in the units the rules compare, read once from the
//! policy: what every rule (and the growth estimate) reads, owned by none.

use crate::policy::reason::Reason;
use crate::policy::{Key, Policy};

/// The policy's numbers, in the units the rules compare (µs, bytes, counts).
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub request_timeout: u64,
    pub heartbeat_timeout: u64,
    pub drain_timeout: u64,
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
    /// Whether a rule reads the time of a worker's last begin or end
    /// (request_timeout, heartbeat_timeout, max_idle); without one, the hot
    /// path skips its clock reads.
    pub activity_clock: bool,
}

impl Limits {
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
            activity_clock: p.raw(Key::RequestTimeout) > 0
                || p.raw(Key::HeartbeatTimeout) > 0
                || p.raw(Key::MaxIdle) > 0,
        }
    }
}
