//! The worker's handle: what one worker calls on its hot path. Atomics only:
//! no lock, no allocation, and no syscall beyond a vDSO clock read (made
//! only when a rule needs the time).

use crate::os::process::Health;
use crate::rules::core::{Core, LazyNow};
use crate::rules::decision::{Action, Decision};
use crate::rules::event::{Event, EventKind};
use crate::table::layout::{busy, flag, state, GenState, Slot, NONE};
use crate::worker::watchdog::{Watchdog, WatchdogOptions};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::Arc;

/// Writes a worker's readings, by the worker itself or by the master's
/// sampling; the latest reading wins. The fitted memory reading goes to the
/// growth fit; with `memory_sustain` it also keeps, for each reading, since
/// when it has been over its limit (an absent reading changes nothing).
pub(crate) fn store_health(core: &Core, slot: &Slot, health: Health) {
    let put = |cell: &std::sync::atomic::AtomicU64, v: Option<u64>| {
        if let Some(v) = v {
            cell.store(v.min(NONE - 1), Relaxed);
        }
    };
    put(&slot.rss, health.rss);
    put(&slot.uss, health.uss);
    put(&slot.pss, health.pss);
    put(&slot.fds, health.fds);
    let now = core.now();
    let l = &core.limits;
    let fitted = match crate::rules::growth::Metric::of(l).0 {
        crate::rules::growth::Metric::Rss => health.rss,
        crate::rules::growth::Metric::Uss => health.uss,
        crate::rules::growth::Metric::Pss => health.pss,
    };
    if let Some(v) = fitted {
        crate::rules::growth::record(slot, now, v);
        if l.memory_forecast > 0 {
            forecast(core, slot);
        }
    }
    if l.memory_sustain > 0 {
        for (over, since) in over_limits(l, health).into_iter().zip(&slot.over_since) {
            match over {
                Some(true) => {
                    let _ = since.compare_exchange(NONE, now, Relaxed, Relaxed);
                }
                Some(false) => since.store(NONE, Relaxed),
                None => {}
            }
        }
    }
    slot.read_at.store(now, Relaxed);
}

/// Whether each reading of `health` is at or over its limit, in the order
/// of `Slot::over_since` (rss, uss, pss, fds); None where there is no
/// reading (a limit that is off is never reached).
pub(crate) fn over_limits(l: &crate::rules::core::Limits, health: Health) -> [Option<bool>; 4] {
    [
        (health.rss, l.max_rss),
        (health.uss, l.max_uss),
        (health.pss, l.max_pss),
        (health.fds, l.max_fds),
    ]
    .map(|(v, limit)| v.map(|v| limit > 0 && v >= limit))
}

/// With `memory_forecast`: flags the slot when its growth estimate, as of
/// the reading just kept, has it reaching its memory limit within the span
/// (and not there yet: then the limit itself decides).
fn forecast(core: &Core, slot: &Slot) {
    // The time to the limit a waiting worker is ranked by: 0 is at the
    // limit already, MAX no limit or no estimate.
    let left = core.urgency(slot);
    let due = left > 0 && left != u64::MAX && left <= core.limits.memory_forecast;
    let _ = slot.gen_state.fetch_update(AcqRel, Acquire, |w| {
        let gs = GenState::unpack(w);
        if gs.state == state::VACANT || gs.has(flag::FORECAST) == due {
            return None;
        }
        let flags = if due {
            gs.flags | flag::FORECAST
        } else {
            gs.flags & !flag::FORECAST
        };
        Some(GenState { flags, ..gs }.pack())
    });
}

/// One worker's handle on its slot. Cheap to clone; usable from any thread,
/// and in a forked child.
pub struct Worker {
    core: Arc<Core>,
    /// Points into `core`'s mapping, which lives as long as the Arc; cached
    /// so the hot path skips the bounds check and header read.
    slot: NonNull<Slot>,
    index: u32,
    /// When `sample_if_due` last found it due (pool time, µs; `NONE`:
    /// never).
    last_sample: AtomicU64,
}

impl Clone for Worker {
    fn clone(&self) -> Self {
        Worker {
            core: self.core.clone(),
            slot: self.slot,
            index: self.index,
            last_sample: AtomicU64::new(self.last_sample.load(Relaxed)),
        }
    }
}

// SAFETY: a Slot is all atomics and Core is Sync; the pointer stays valid
// while `core` is held.
unsafe impl Send for Worker {}
// SAFETY: as above.
unsafe impl Sync for Worker {}

impl Worker {
    /// `index` must be in range (the pool checks it).
    pub(crate) fn new(core: Arc<Core>, index: u32) -> Self {
        let slot = NonNull::from(&core.slots()[index as usize]);
        Worker {
            core,
            slot,
            index,
            last_sample: AtomicU64::new(NONE),
        }
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    #[inline]
    pub(crate) fn slot(&self) -> &Slot {
        // SAFETY: see the field's comment.
        unsafe { self.slot.as_ref() }
    }

    /// The slot index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// A request starts. True when it should be the worker's last: it
    /// reaches `max_requests` and the recycle was granted, so the worker
    /// should take no new work and leave once it has finished (hosts that
    /// can act only after a request, ignore it: `end()` says the same).
    #[inline]
    pub fn begin(&self) -> bool {
        // The start time matters only to rules that time activity.
        let now = if self.core.limits.activity_clock {
            self.core.now()
        } else {
            0
        };
        let slot = self.slot();
        let before = slot
            .busy
            .fetch_update(Release, Relaxed, |w| {
                let n = busy::in_flight(w);
                Some(if n == 0 {
                    busy::pack(1, now)
                } else {
                    busy::pack((n + 1).min(0xFFFF), busy::time(w))
                })
            })
            .unwrap_or_else(|w| w);
        // A new worker serving returns the permit it inherited (one load of
        // a word on this cache line when it holds none).
        self.core.serving(slot);
        // Requests ended plus those in flight, this one included: when that
        // reaches the limit, this is the last request to take.
        let begun = busy::in_flight(before) + 1;
        let limit = slot.request_limit.load(Relaxed);
        limit > 0
            && slot.requests.load(Relaxed).saturating_add(begun) >= limit
            && self
                .core
                .decide_before_last(slot, begun, &LazyNow::later(&self.core))
    }

    /// A request ends, whatever its outcome; true when the worker should exit
    /// after this request (finish the response, then leave).
    ///
    /// With several requests in flight (threads), the one that ended cannot be
    /// told apart from the others, so the request timer restarts from now: a
    /// worker whose threads keep finishing requests is never killed by
    /// `request_timeout`, at the cost of missing one hung thread among busy
    /// ones.
    #[inline]
    pub fn end(&self) -> bool {
        // The clock is read only if the end time matters (rules that time
        // activity) or the decision needs it (lifetime, a tripped limit).
        let now = LazyNow::later(&self.core);
        let slot = self.slot();
        let stamp = if self.core.limits.activity_clock {
            now.get()
        } else {
            0
        };
        let _ = slot.busy.fetch_update(Release, Relaxed, |w| {
            Some(busy::pack(busy::in_flight(w).saturating_sub(1), stamp))
        });
        slot.requests.fetch_add(1, Relaxed);
        self.core.decide_after_end(slot, &now)
    }

    /// A liveness beat.
    #[inline]
    pub fn heartbeat(&self) {
        self.slot().last_beat.store(self.core.now(), Relaxed);
    }

    /// Says this worker serves from an event loop that ends its own
    /// requests at `request_timeout` (cancels them) and calls `heartbeat`
    /// from that loop well within half of `request_timeout`. From then on a
    /// request past its timeout costs the worker its life (a kill, by its
    /// watchdog or its master) only once the loop has also not beaten for
    /// half of `request_timeout`: one slow request is the loop's to end, a
    /// blocked loop is still killed. Beats now. Holds for this generation
    /// of the slot; a vacant slot is left as it is.
    pub fn on_event_loop(&self) {
        self.heartbeat();
        let slot = self.slot();
        let mut word = slot.gen_state.load(Acquire);
        loop {
            let gs = GenState::unpack(word);
            if gs.state == state::VACANT || gs.has(flag::LOOP) {
                return;
            }
            let marked = GenState {
                flags: gs.flags | flag::LOOP,
                ..gs
            };
            match slot
                .gen_state
                .compare_exchange(word, marked.pack(), AcqRel, Acquire)
            {
                Ok(_) => return,
                Err(w) => word = w,
            }
        }
    }

    /// Reports the worker's own health; absent readings stay as they were.
    #[inline]
    pub fn report_health(&self, health: Health) {
        store_health(&self.core, self.slot(), health);
    }

    /// Samples this process from `/proc` and reports the readings (USS and
    /// PSS too when `uss`). Returns the sample.
    pub fn sample_self(&self, uss: bool) -> crate::Result<crate::os::process::Sample> {
        let sample = crate::os::process::sample_self(uss)?;
        self.report_health(sample.health());
        Ok(sample)
    }

    /// For hosts with no master to sample them (Starman, Starlet): whether
    /// `sample_interval` has passed since this handle last found it due, or
    /// it never has. When it is due, and the policy limits memory or FDs,
    /// the process samples itself (USS and PSS too when the policy limits
    /// them) and reports the readings. With `sample_interval=0` (sampling
    /// off) it is due every second and samples nothing. Hosts use a `true`
    /// for their other periodic chores (`reap_dead`). An error of the
    /// sampling is returned; the next call is due an interval later all the
    /// same.
    pub fn sample_if_due(&self) -> crate::Result<bool> {
        let l = &self.core.limits;
        let interval = self.core.policy.raw(crate::policy::Key::SampleInterval);
        let every = if interval == 0 { 1_000_000 } else { interval };
        let now = self.core.now();
        let last = self.last_sample.load(Relaxed);
        if last != NONE && now.saturating_sub(last) < every {
            return Ok(false);
        }
        self.last_sample.store(now, Relaxed);
        let limited = l.max_rss > 0 || l.max_uss > 0 || l.max_pss > 0 || l.max_fds > 0;
        if interval > 0 && limited {
            self.sample_self(l.max_uss > 0 || l.max_pss > 0)?;
        }
        Ok(true)
    }

    /// The result of one health check: a failure adds one, an ok resets.
    pub fn check(&self, ok: bool) {
        let failures = &self.slot().health_failures;
        if ok {
            failures.store(0, Relaxed);
        } else {
            failures.fetch_add(1, Relaxed);
        }
    }

    /// What the worker should do now.
    pub fn decision(&self) -> Decision {
        self.core.decide(self.slot(), self.core.now())
    }

    /// The event every host logs for decision `d` of this worker (from
    /// `decision()`): `killed` for a kill, `recycle_requested` for a
    /// recycle, with the value and limit that tripped; None for continue.
    /// For hosts with no master to file events (the watchdog, a middleware
    /// whose worker leaves after this request): the same line a master
    /// logs. Allocates nothing.
    pub fn event_for(&self, d: Decision) -> Option<Event> {
        let kind = match d.action {
            Action::Recycle => EventKind::RecycleRequested,
            Action::Kill => EventKind::Killed,
            Action::Continue => return None,
        };
        let mut ev = Event::of_slot(&self.core, kind, self.index, d.reason, self.core.now());
        ev.decision = Some(d);
        Some(ev)
    }

    /// Requests served in this generation.
    pub fn requests(&self) -> u64 {
        self.slot().requests.load(Relaxed)
    }

    /// Starts this worker's watchdog thread (see `Watchdog`): kill
    /// decisions end this process even with no master running.
    pub fn watchdog(&self, options: WatchdogOptions) -> crate::Result<Watchdog> {
        Watchdog::start(self.clone(), options)
    }

    /// Marks the slot on the way out: its exit is not a crash. A recycle
    /// permit it holds stays with the slot until the worker that takes the
    /// slot next serves: the budget counts workers missing, and this one
    /// soon is.
    pub fn exiting(&self) {
        self.exiting_because(None, false);
    }

    /// `exiting`, noting why (a kill the watchdog carries out) for the exit
    /// the master reports. With `for_good` (the server is shrinking or
    /// stopping: nobody replaces it) the permit goes back now.
    pub(crate) fn exiting_because(
        &self,
        reason: Option<crate::rules::decision::Reason>,
        for_good: bool,
    ) {
        let slot = self.slot();
        let mut word = slot.gen_state.load(Acquire);
        loop {
            let gs = GenState::unpack(word);
            if gs.state == state::VACANT || gs.has(flag::EXITING) {
                return;
            }
            // With `ready_timeout=0` no permit waits for a replacement.
            let release = (for_good || self.core.limits.ready_timeout == 0) && gs.has(flag::PERMIT);
            let dropped = if release {
                flag::PERMIT | flag::INHERITED
            } else {
                0
            };
            let marked = GenState {
                flags: (gs.flags | flag::EXITING) & !dropped,
                reason: reason.map_or(gs.reason, |r| r as u8),
                ..gs
            };
            match slot
                .gen_state
                .compare_exchange(word, marked.pack(), AcqRel, Acquire)
            {
                Ok(_) => {
                    if release {
                        crate::table::budget::release(&self.core.header().budget);
                    }
                    return;
                }
                Err(w) => word = w,
            }
        }
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("slot", &self.index)
            .field("requests", &self.requests())
            .finish()
    }
}
