//! The reasons: which rule a slot's worker has tripped, with the value
//! that tripped it and the limit it passed. Kills (`kill`) are checked
//! apart from soft recycles (`soft`) because the hot path after a request
//! can skip them; the soft reasons go in the documented priority order,
//! first that trips wins. Everything here reads the slot and decides
//! nothing: granting is the permits', acting on it `decide`'s.

use crate::rules::decision::{Decision, Reason};
use crate::rules::growth;
use crate::rules::limits::Limits;
use crate::rules::shared::Shared;
use crate::rules::time::LazyNow;
use crate::table::layout::{flag, state, Activity, GenState, Slot, NONE};
use std::sync::atomic::Ordering::{Acquire, Relaxed};

/// The kill a slot's worker has earned, if any: a request or heartbeat
/// timeout, or a drain that lasted too long; among the rules that act
/// (`acting`), or among those only rehearsed (`enforce`).
pub(crate) fn kill(
    l: &Limits,
    slot: &Slot,
    gs: GenState,
    now: u64,
    acting: bool,
) -> Option<Decision> {
    let wanted = |r: Reason| l.enforces(r) == acting;
    // The cells are read only for a rule that needs them (they are a
    // cache line of their own, and tick reads every slot).
    let activity = if l.request_timeout > 0 {
        Some(Activity::of(slot))
    } else {
        None
    };
    if let Some(oldest) = activity.and_then(|a| a.oldest) {
        let age = now.saturating_sub(oldest);
        if age >= l.request_timeout
            && wanted(Reason::RequestTimeout)
            && (!gs.has(flag::LOOP) || loop_stalled(slot, now, l.request_timeout))
        {
            return Some(Decision::tripped(
                Reason::RequestTimeout,
                age,
                l.request_timeout,
            ));
        }
    }
    if l.heartbeat_timeout > 0
        && now.saturating_sub(slot.last_beat.load(Relaxed)) >= l.heartbeat_timeout
        && wanted(Reason::HeartbeatTimeout)
    {
        // Silent since its last beat or its last activity, whichever
        // came later.
        let t = activity.unwrap_or_else(|| Activity::of(slot)).time();
        let silent = now.saturating_sub(t.max(slot.last_beat.load(Relaxed)));
        if silent >= l.heartbeat_timeout {
            return Some(Decision::tripped(
                Reason::HeartbeatTimeout,
                silent,
                l.heartbeat_timeout,
            ));
        }
    }
    if gs.state == state::DRAINING && l.drain_timeout > 0 && acting {
        let at = slot.recycle_at.load(Acquire);
        if at != NONE {
            let draining = now.saturating_sub(at);
            if draining >= l.drain_timeout {
                return Some(Decision::tripped(
                    Reason::DrainTimeout,
                    draining,
                    l.drain_timeout,
                ));
            }
        }
    }
    None
}

/// The reason `slot`'s worker is due for a recycle now, if any (for
/// the master's `recycle_waiting` event; decides nothing).
pub(crate) fn due(s: &Shared, slot: &Slot, now: u64) -> Option<Reason> {
    let gs = GenState::unpack(slot.gen_state.load(Acquire));
    if gs.has(flag::MANUAL) {
        return Some(Reason::Manual);
    }
    if gs.has(flag::CONTAINER) {
        return Some(Reason::ContainerMemory);
    }
    soft(s, slot, &LazyNow::at(s.clock, now), 0, true).map(|(r, _, _)| r)
}

/// The first soft reason that trips, in priority order, with its value
/// and limit, among the rules that act (`acting`) or among those only
/// rehearsed (`enforce`): a rehearsed rule never hides one that acts.
/// `pending`: requests in flight counted as served.
pub(crate) fn soft(
    s: &Shared,
    slot: &Slot,
    now: &LazyNow,
    pending: u64,
    acting: bool,
) -> Option<(Reason, u64, u64)> {
    let l = s.limits;
    let m = s.memory();
    // Each rule is asked only once it trips, so the hot path pays nothing.
    let wanted = |r: Reason| l.enforces(r) == acting;
    let over = |v: u64, limit: u64| limit > 0 && v != NONE && v >= limit;
    // With memory_sustain, reading `i` must have been over its limit
    // without a break for that long, as of the latest reading.
    let sustained = |i: usize| {
        if l.memory_sustain == 0 {
            return true;
        }
        let since = slot.over_since[i].load(Relaxed);
        since != NONE && slot.read_at.load(Relaxed).saturating_sub(since) >= l.memory_sustain
    };
    let rss = slot.rss.load(Relaxed);
    if over(rss, m.rss) && sustained(0) && wanted(Reason::MemoryRss) {
        return Some((Reason::MemoryRss, rss, m.rss));
    }
    let uss = slot.uss.load(Relaxed);
    if over(uss, m.uss) && sustained(1) && wanted(Reason::MemoryUss) {
        return Some((Reason::MemoryUss, uss, m.uss));
    }
    let pss = slot.pss.load(Relaxed);
    if over(pss, m.pss) && sustained(2) && wanted(Reason::MemoryPss) {
        return Some((Reason::MemoryPss, pss, m.pss));
    }
    let fds = slot.fds.load(Relaxed);
    if over(fds, l.max_fds) && sustained(3) && wanted(Reason::OpenFds) {
        return Some((Reason::OpenFds, fds, l.max_fds));
    }
    let failures = u64::from(slot.health_failures.load(Relaxed));
    if over(failures, l.max_health_failures) && wanted(Reason::HealthCheck) {
        return Some((Reason::HealthCheck, failures, l.max_health_failures));
    }
    let requests = slot.requests.load(Relaxed).saturating_add(pending);
    let request_limit = request_limit(l, slot);
    if over(requests, request_limit) && wanted(Reason::MaxRequests) {
        return Some((Reason::MaxRequests, requests, request_limit));
    }
    let lifetime_limit = lifetime_limit(l, slot);
    if lifetime_limit > 0 {
        let age = now.get().saturating_sub(slot.spawned_at.load(Relaxed));
        if over(age, lifetime_limit) && wanted(Reason::MaxLifetime) {
            return Some((Reason::MaxLifetime, age, lifetime_limit));
        }
    }
    if l.max_idle > 0 && wanted(Reason::Idle) {
        if let Some(idle) = Activity::idle_for(slot, now.get(), l.max_idle) {
            return Some((Reason::Idle, idle, l.max_idle));
        }
    }
    // Set from the latest reading's estimate (`store_health`), so the
    // hot path reads one bit; the estimate is made again only now.
    if l.memory_forecast > 0
        && GenState::unpack(slot.gen_state.load(Relaxed)).has(flag::FORECAST)
        && wanted(Reason::MemoryForecast)
    {
        let left = growth::estimate(l, &m, slot)
            .and_then(|g| g.to_limit)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        return Some((Reason::MemoryForecast, left, l.memory_forecast));
    }
    None
}

/// True while `min_lifetime` holds a soft recycle of `slot` back.
pub(crate) fn held_by_min_lifetime(l: &Limits, slot: &Slot, now: &LazyNow) -> bool {
    l.min_lifetime > 0 && now.get().saturating_sub(slot.spawned_at.load(Relaxed)) < l.min_lifetime
}

/// This generation's request limit, as drawn at its start; a value the
/// worker wrote outside `max_requests + [0, jitter]` is taken as the
/// nearest bound (0 only when the policy has no limit).
#[inline]
pub(crate) fn request_limit(l: &Limits, slot: &Slot) -> u64 {
    within(
        slot.request_limit.load(Relaxed),
        l.max_requests,
        l.max_requests_jitter,
    )
}

/// This generation's lifetime limit (µs), bounded as `request_limit`.
pub(crate) fn lifetime_limit(l: &Limits, slot: &Slot) -> u64 {
    within(
        slot.lifetime_limit.load(Relaxed),
        l.max_lifetime,
        l.lifetime_jitter,
    )
}

/// The limit a reason compares against, for displaying a sticky decision.
pub(crate) fn limit_of(s: &Shared, slot: &Slot, reason: Reason) -> u64 {
    let l = s.limits;
    match reason {
        Reason::RequestTimeout => l.request_timeout,
        Reason::HeartbeatTimeout => l.heartbeat_timeout,
        Reason::DrainTimeout => l.drain_timeout,
        Reason::Manual => 0,
        Reason::MemoryRss => s.memory().rss,
        Reason::MemoryUss => s.memory().uss,
        Reason::MemoryPss => s.memory().pss,
        Reason::OpenFds => l.max_fds,
        Reason::HealthCheck => l.max_health_failures,
        Reason::MaxRequests => request_limit(l, slot),
        Reason::MaxLifetime => lifetime_limit(l, slot),
        Reason::Idle => l.max_idle,
        Reason::ReadyTimeout => l.ready_timeout,
        Reason::MemoryForecast => l.memory_forecast,
        Reason::ContainerMemory => s.header.container.threshold.load(Relaxed),
    }
}

/// A per-generation limit drawn as `base + [0, jitter]`, read back from a
/// word any worker can write: clamped into that range (0 when `base` is 0,
/// the rule off).
#[inline]
fn within(value: u64, base: u64, jitter: u64) -> u64 {
    if base == 0 {
        0
    } else {
        value.clamp(base, base.saturating_add(jitter))
    }
}

/// Whether the event loop of a worker that ends its own timed-out requests
/// (`flag::LOOP`) has stopped: no beat for half of `request_timeout`. While
/// it beats it cancels a request at its timeout itself, and one slow
/// request must not cost the worker; a handler that blocks the loop stops
/// the beats, and the worker is killed as any other, by the time its
/// request is `request_timeout` old and the loop has been still for half
/// that (a loop blocked from the request's start: at `request_timeout`).
fn loop_stalled(slot: &Slot, now: u64, request_timeout: u64) -> bool {
    now.saturating_sub(slot.last_beat.load(Relaxed)) >= (request_timeout / 2).max(1)
}
