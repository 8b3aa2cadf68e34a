//! The pool's memory together with what every process needs to use it: the
//! policy (cached out of the shared header), the clock, the permits' own
//! state and the rules that decide. Shared by the `Pool` and its `Worker`
//! handles, which reach every mechanism through it; the mechanisms are in
//! files of their own (`lifecycle`, `decide`, `permits`, `reasons`, `time`)
//! and take the parts they read (`Shared`, or only the limits or a slot),
//! never the `Core`, so they hold no circle with it. Its methods here only
//! lend those parts.

use crate::os::clock::ClockMode;
use crate::policy::Policy;
use crate::rules::decide;
use crate::rules::decision::{Decision, Reason};
use crate::rules::lifecycle;
use crate::rules::limits::Limits;
use crate::rules::permits::{self, Permits};
use crate::rules::reasons;
use crate::rules::shared::Shared;
use crate::rules::time::Clock;
use crate::table::layout::{GenState, Header, Slot};
use crate::table::region::Region;
use std::sync::atomic::AtomicU32;

pub(crate) use crate::rules::permits::serves;
pub(crate) use crate::rules::time::LazyNow;

pub(crate) struct Core {
    pub region: Region,
    pub policy: Policy,
    pub limits: Limits,
    pub clock: ClockMode,
    pub epoch_ns: u64,
    pub seed: u64,
    /// The process whose `Pool` supervises (it recorded a child or ticked).
    /// Process memory, not shared: no worker can claim to be the master.
    pub master_pid: AtomicU32,
    permits: Permits,
}

impl<'a> LazyNow<'a> {
    /// The pool's time, to be read when first needed.
    #[inline]
    pub fn later(core: &'a Core) -> Self {
        LazyNow::unread(core.pool_clock())
    }
}

impl Core {
    pub fn new(region: Region) -> Self {
        let fixed = region.header().fixed;
        // The policy was validated when the region was created or attached.
        let policy = Policy::from_raw_values(fixed.policy).unwrap_or_default();
        Core {
            limits: Limits::from(&policy),
            policy,
            clock: if fixed.clock_mode == ClockMode::Manual as u32 {
                ClockMode::Manual
            } else {
                ClockMode::Monotonic
            },
            epoch_ns: fixed.epoch_ns,
            seed: fixed.seed,
            region,
            master_pid: AtomicU32::new(0),
            permits: Permits::new(),
        }
    }

    /// Whether the pool runs on a manual clock (tests, the vectors): it
    /// samples nothing on its own.
    pub(crate) fn manual_clock(&self) -> bool {
        self.clock == ClockMode::Manual
    }

    #[inline]
    pub fn header(&self) -> &Header {
        self.region.header()
    }

    #[inline]
    pub fn slots(&self) -> &[Slot] {
        self.region.slots()
    }

    #[inline]
    fn pool_clock(&self) -> Clock<'_> {
        Clock::new(self.clock, self.epoch_ns, &self.header().manual_now)
    }

    /// The parts the mechanisms read, for one call.
    #[inline]
    fn shared(&self) -> Shared<'_> {
        Shared {
            header: self.header(),
            slots: self.slots(),
            limits: &self.limits,
            clock: self.pool_clock(),
            master_pid: &self.master_pid,
        }
    }

    /// Microseconds since the pool's epoch.
    #[inline]
    pub fn now(&self) -> u64 {
        self.pool_clock().now()
    }

    /// The occupied slot holding `pid` (never for pid 0).
    pub(crate) fn slot_of(&self, pid: u32) -> Option<u32> {
        lifecycle::slot_of(self.slots(), pid)
    }

    /// See `lifecycle::try_claim`.
    pub fn try_claim(&self, index: u32) -> bool {
        lifecycle::try_claim(&self.slots()[index as usize])
    }

    /// See `lifecycle::start_generation`.
    pub fn start_generation(&self, index: u32, pid: u32, identity: u64, now: u64) -> u32 {
        lifecycle::start_generation(&self.shared(), self.seed, index, pid, identity, now)
    }

    /// See `lifecycle::retire`.
    pub fn retire(&self, index: u32, now: u64) -> Option<GenState> {
        lifecycle::retire(&self.shared(), index, now)
    }

    /// The slot's decision now, granting a pending soft recycle if the budget
    /// allows (this is how workers coordinate with no master running).
    pub fn decide(&self, slot: &Slot, now: u64) -> Decision {
        let s = self.shared();
        decide::decide(&s, &self.permits, slot, &LazyNow::at(s.clock, now), true, 0)
    }

    /// The memory limits in bytes as they stand now: a relative one resolved
    /// against the parent's reading (`Limits::memory`).
    pub(crate) fn memory(&self) -> crate::rules::limits::Memory {
        self.limits.memory(&self.header().parent)
    }

    /// The growth estimate of `slot`'s generation, against the memory
    /// limits as they stand now.
    pub(crate) fn growth(&self, slot: &Slot) -> Option<crate::rules::growth::Growth> {
        crate::rules::growth::estimate(&self.limits, &self.memory(), slot)
    }

    /// `d`, a recycle or kill decided outside the rules (the master's
    /// container kill), if its rule acts; else its "would" decision, marked
    /// and counted as `decide` does (`enforce`).
    pub fn rehearse(&self, slot: &Slot, d: Decision) -> Decision {
        crate::rules::rehearsal::rehearse(&self.shared(), slot, d)
    }

    /// `decide` for `end()`: right after a request ended, neither timeout
    /// can have tripped (the end is fresh activity and restarts the request
    /// timer), and a drain timeout only ever applies to a worker already told
    /// to exit, so the kill checks are skipped on this hot path.
    #[inline]
    pub fn decide_after_end(&self, slot: &Slot, now: &LazyNow) -> bool {
        decide::decide(&self.shared(), &self.permits, slot, now, false, 0).must_exit()
    }

    /// `decide` for `begin()` of the request that reaches the request
    /// limit, counting the `begun` requests in flight as if they had ended,
    /// so the worker can stop taking new work now and leave once they are
    /// done (gunicorn's own max_requests counts at the start of a request).
    pub fn decide_before_last(&self, slot: &Slot, begun: u64, now: &LazyNow) -> bool {
        decide::decide(&self.shared(), &self.permits, slot, now, false, begun).must_exit()
    }

    /// See `reasons::due`.
    pub fn due_reason(&self, slot: &Slot, now: u64) -> Option<Reason> {
        reasons::due(&self.shared(), slot, now)
    }

    /// See `reasons::lifetime_limit`.
    pub fn lifetime_limit(&self, slot: &Slot) -> u64 {
        reasons::lifetime_limit(&self.limits, slot)
    }

    /// See `permits::urgency`.
    pub fn urgency(&self, slot: &Slot) -> u64 {
        permits::urgency(&self.limits, &self.memory(), slot)
    }

    /// See `Permits::take_over`.
    pub fn take_over_permit(&self, to: &Slot) -> bool {
        self.permits.take_over(&self.shared(), to)
    }

    /// See `Permits::serving`.
    #[inline]
    pub fn serving(&self, slot: &Slot) {
        self.permits.serving(&self.shared(), slot)
    }

    /// See `Permits::recount`.
    pub fn recount_permits(&self, now: u64, check_alive: bool) -> u64 {
        self.permits.recount(&self.shared(), now, check_alive)
    }

    /// See `Permits::promote`.
    pub fn promote(&self, slot: &Slot, now: u64, replaced: bool) -> bool {
        self.permits.promote(&self.shared(), slot, now, replaced)
    }
}
