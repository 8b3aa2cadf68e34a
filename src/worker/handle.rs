//! The worker's handle: what one worker calls on its hot path. Atomics only:
//! no lock, no allocation, and no syscall beyond a vDSO clock read (made
//! only when a rule needs the time).

use crate::os::process::Health;
use crate::rules::core::{Core, LazyNow};
use crate::rules::decision::{Action, Decision, Reason};
use crate::rules::event::{Event, EventKind};
use crate::table::layout::{cell, flag, state, Activity, GenState, Slot, NONE, TICKETS};
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
    let m = core.memory();
    let fitted = match crate::rules::growth::Metric::of(l, &m).0 {
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
        for (over, since) in over_limits(&m, l.max_fds, health)
            .into_iter()
            .zip(&slot.over_since)
        {
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
pub(crate) fn over_limits(
    m: &crate::rules::limits::Memory,
    max_fds: u64,
    health: Health,
) -> [Option<bool>; 4] {
    [
        (health.rss, m.rss),
        (health.uss, m.uss),
        (health.pss, m.pss),
        (health.fds, max_fds),
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

/// The untimed requests a slot counts (`Slot::untimed`).
const UNTIMED_MAX: u64 = u16::MAX as u64;
/// The cell index of an untimed request's ticket.
const UNTIMED: u64 = Ticket::INDEX_MASK;
const _: () = assert!((TICKETS as u64) < UNTIMED);

/// Takes the first free cell for a request begun at `now`: its index and
/// sequence; None when all are in use.
#[inline]
fn take_cell(slot: &Slot, now: u64) -> Option<(usize, u64)> {
    for (i, c) in slot.cells.iter().enumerate() {
        let mut w = c.load(Relaxed);
        while !cell::used(w) {
            let taken = cell::taken(w, now);
            match c.compare_exchange_weak(w, taken, Release, Relaxed) {
                Ok(_) => return Some((i, cell::seq(taken))),
                Err(now_w) => w = now_w,
            }
        }
    }
    None
}

/// Frees the oldest cell in use (`end()` without a ticket); false when none
/// is.
fn free_oldest(slot: &Slot, stamp: u64) -> bool {
    loop {
        let oldest = slot
            .cells
            .iter()
            .map(|c| (c, c.load(Relaxed)))
            .filter(|(_, w)| cell::used(*w))
            .min_by_key(|(_, w)| cell::time(*w));
        let Some((c, w)) = oldest else {
            return false;
        };
        if c.compare_exchange(w, cell::free(w, stamp), Release, Relaxed)
            .is_ok()
        {
            return true;
        }
    }
}

/// A request in flight, as `Worker::begin_ticket` gave it: an opaque number
/// below 2^53 (a JavaScript number holds it exactly), valid for the worker
/// that issued it until `end_ticket` takes it back. Its bits: the cell (5)
/// | the cell's sequence (15) | the slot's tag (32) | `LAST` (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket(u64);

impl Ticket {
    /// Set when the request should be the worker's last (`max_requests`);
    /// `end_ticket` ignores it.
    pub const LAST: u64 = 1 << 52;
    const INDEX_MASK: u64 = 0x1F;
    const SEQ_SHIFT: u32 = 5;
    const TAG_SHIFT: u32 = 20;
    const TAG_MASK: u64 = 0xFFFF_FFFF << Self::TAG_SHIFT;

    fn of(tag: u64, index: u64, seq: u64) -> Ticket {
        Ticket(tag | (seq << Self::SEQ_SHIFT) | index)
    }

    /// The slot's tag, in place: a ticket of another slot (or pool) does
    /// not carry it.
    fn tag(seed: u64, index: u32) -> u64 {
        use rand_core::{RngCore, SeedableRng};
        // The pool's seed and the slot give every process the same tag.
        let mut rng =
            rand_pcg::Pcg64Mcg::seed_from_u64(seed ^ (u64::from(index) << 32 | 0x7469_636B));
        (rng.next_u64() >> 32) << Self::TAG_SHIFT
    }

    /// The number, for a host to keep and give back.
    pub fn raw(self) -> u64 {
        self.0
    }

    /// A number a host kept (`raw`); `end_ticket` checks it.
    pub fn from_raw(raw: u64) -> Ticket {
        Ticket(raw)
    }

    /// Whether this should be the worker's last request.
    pub fn last(self) -> bool {
        self.0 & Self::LAST != 0
    }
}

/// One worker's handle on its slot. Cheap to clone; usable from any thread,
/// and in a forked child.
pub struct Worker {
    core: Arc<Core>,
    /// Points into `core`'s mapping, which lives as long as the Arc; cached
    /// so the hot path skips the bounds check and header read.
    slot: NonNull<Slot>,
    index: u32,
    /// The slot's ticket tag (`Ticket::tag`).
    tag: u64,
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
            tag: self.tag,
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
        let tag = Ticket::tag(core.seed, index);
        Worker {
            core,
            slot,
            index,
            tag,
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

    /// A request starts, and gets its ticket, for `end_ticket` (any
    /// thread): the slot times each request in flight on its own, so one
    /// stuck among many that keep ending is still caught by
    /// `request_timeout`. The ticket says (`Ticket::last`) whether this
    /// should be the worker's last request: it reaches `max_requests` and
    /// the recycle was granted, so the worker should take no new work and
    /// leave once it has finished.
    ///
    /// A slot times `TICKETS` requests at once; beyond that a request is
    /// counted (max_requests, in flight) but not timed, and past 65,535 of
    /// those it is refused (`Error::TooManyInFlight`, nothing changed).
    #[inline]
    pub fn begin_ticket(&self) -> crate::Result<Ticket> {
        // The start time matters only to rules that time activity.
        let now = if self.core.limits.activity_clock {
            self.core.now()
        } else {
            0
        };
        let slot = self.slot();
        let ticket = match take_cell(slot, now) {
            Some((index, seq)) => Ticket::of(self.tag, index as u64, seq),
            None => {
                slot.untimed
                    .fetch_update(Release, Relaxed, |n| (n < UNTIMED_MAX).then_some(n + 1))
                    .map_err(|_| crate::Error::TooManyInFlight {
                        timed: TICKETS,
                        untimed: UNTIMED_MAX,
                    })?;
                Ticket::of(self.tag, UNTIMED, 0)
            }
        };
        // A new worker serving returns the permit it inherited (one load of
        // a word on this cache line when it holds none).
        self.core.serving(slot);
        Ok(if self.last_to_take(slot) {
            Ticket(ticket.0 | Ticket::LAST)
        } else {
            ticket
        })
    }

    /// Requests ended plus those in flight, the one just begun included:
    /// when that reaches the limit, it is the last request to take. The
    /// cells are counted only near the limit.
    #[inline]
    fn last_to_take(&self, slot: &Slot) -> bool {
        let limit = slot.request_limit.load(Relaxed);
        if limit == 0 {
            return false;
        }
        let served = slot.requests.load(Relaxed);
        let most = TICKETS as u64 + slot.untimed.load(Relaxed).min(UNTIMED_MAX);
        if served.saturating_add(most) < limit {
            return false;
        }
        let begun = Activity::of(slot).in_flight.max(1);
        served.saturating_add(begun) >= limit
            && self
                .core
                .decide_before_last(slot, begun, &LazyNow::later(&self.core))
    }

    /// The request of `ticket` ended, whatever its outcome; true when the
    /// worker should exit after it (finish the response, then leave). A
    /// ticket this worker does not have in flight (ended already, never
    /// issued, another worker's) is `Error::BadTicket`, and changes
    /// nothing.
    #[inline]
    pub fn end_ticket(&self, ticket: Ticket) -> crate::Result<bool> {
        let now = LazyNow::later(&self.core);
        let slot = self.slot();
        let raw = ticket.0 & !Ticket::LAST;
        let bad = || crate::Error::BadTicket(ticket.0);
        if raw & Ticket::TAG_MASK != self.tag {
            return Err(bad());
        }
        let index = raw & Ticket::INDEX_MASK;
        if index == UNTIMED {
            slot.untimed
                .fetch_update(Release, Relaxed, |n| n.checked_sub(1))
                .map_err(|_| bad())?;
        } else {
            let c = slot.cells.get(index as usize).ok_or_else(bad)?;
            let w = c.load(Relaxed);
            if !cell::used(w) || cell::seq(w) != (raw >> Ticket::SEQ_SHIFT) & cell::SEQ_MASK {
                return Err(bad());
            }
            let stamp = if self.core.limits.activity_clock {
                now.get()
            } else {
                0
            };
            // Lost only to another end of the same ticket.
            c.compare_exchange(w, cell::free(w, stamp), Release, Relaxed)
                .map_err(|_| bad())?;
        }
        slot.requests.fetch_add(1, Relaxed);
        Ok(self.core.decide_after_end(slot, &now))
    }

    /// The requests in flight past `request_timeout` (none when it is off),
    /// into `out`; returns how many there are (at most `TICKETS`, more than
    /// were written when `out` is short). For hosts that can end one
    /// request alone (an event loop): they end these, then `end_ticket`
    /// them. Allocates nothing. With `request_timeout` only rehearsed
    /// (`enforce`), none is returned: the slot is marked with what would
    /// have been done (a `would_kill` for the oldest), and nothing is
    /// cancelled.
    pub fn overdue(&self, out: &mut [Ticket]) -> usize {
        let timeout = self.core.limits.request_timeout;
        if timeout == 0 {
            return 0;
        }
        let acting = self.core.limits.enforces(Reason::RequestTimeout);
        let now = self.core.now();
        let (mut n, mut oldest) = (0, 0);
        for (i, c) in self.slot().cells.iter().enumerate() {
            let w = c.load(Relaxed);
            let age = now.saturating_sub(cell::time(w));
            if cell::used(w) && age >= timeout {
                oldest = oldest.max(age);
                if !acting {
                    continue;
                }
                if let Some(o) = out.get_mut(n) {
                    *o = Ticket::of(self.tag, i as u64, cell::seq(w));
                }
                n += 1;
            }
        }
        if !acting && oldest > 0 {
            let kill = Decision::tripped(Reason::RequestTimeout, oldest, timeout);
            self.core.rehearse(self.slot(), kill);
        }
        n
    }

    /// A request starts, with no ticket (hosts that run one request at a
    /// time in a worker). True when it should be the worker's last, as
    /// `Ticket::last`. Past the most a slot counts, it is not counted.
    #[inline]
    pub fn begin(&self) -> bool {
        self.begin_ticket().is_ok_and(|t| t.last())
    }

    /// A request with no ticket ends, whatever its outcome; true when the
    /// worker should exit after this request (finish the response, then
    /// leave).
    ///
    /// It ends the oldest request in flight: with several in flight
    /// (threads) and no tickets, the one that ended cannot be told apart
    /// from the others, so a worker whose threads keep finishing requests is
    /// never killed by `request_timeout`. Hosts that run several requests at
    /// once use `begin_ticket`/`end_ticket`.
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
        if !free_oldest(slot, stamp) {
            let _ = slot
                .untimed
                .fetch_update(Release, Relaxed, |n| n.checked_sub(1));
        }
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
        let limited = l.max_rss > 0 || l.reads_uss() || l.max_fds > 0;
        if interval > 0 && limited {
            self.sample_self(l.reads_uss())?;
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
    /// recycle, `would_kill` or `would_recycle` for a rule rehearsed
    /// (`enforce`), with the value and limit that tripped; None for
    /// continue.
    /// For hosts with no master to file events (the watchdog, a middleware
    /// whose worker leaves after this request): the same line a master
    /// logs. Allocates nothing.
    pub fn event_for(&self, d: Decision) -> Option<Event> {
        let kind = match (d.action, d.reason) {
            (Action::Recycle, _) => EventKind::RecycleRequested,
            (Action::Kill, _) => EventKind::Killed,
            // A rule rehearsed (`enforce`): what it would have done.
            (Action::Continue, Some(r)) => EventKind::would(r),
            (Action::Continue, None) => return None,
        };
        let mut ev = Event::of_slot(&self.core, kind, self.index, d.reason, self.core.now());
        ev.decision = Some(d);
        Some(ev)
    }

    /// The `would_kill` or `would_recycle` event of rule `reason`, rehearsed
    /// (`enforce`), without its figures: for a mark on the slot whose
    /// decision has passed.
    pub(crate) fn would_event(&self, reason: Reason) -> Event {
        Event::of_slot(
            &self.core,
            EventKind::would(reason),
            self.index,
            Some(reason),
            self.core.now(),
        )
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
