//! Worker exports: the hot path and the worker's own reports.

use crate::buffers::{arg, out};
use crate::result::{check, fail, guard};
use crate::types::{wl_decision, wl_health, wl_sample, WL_NO_READING};
use crate::{lookup, release, wl_result, wl_worker, WORKERS};
use workerlife::{Health, Ticket, Worker};

#[inline(always)]
fn worker<'a>(w: *const wl_worker) -> Result<&'a Worker, wl_result> {
    lookup(&WORKERS, w, "worker")
}

/// Releases a worker handle. NULL is a no-op; a freed or foreign handle is
/// `WL_INVALID_HANDLE`. The slot is not retired (the master learns of the
/// exit). Do not free a handle another thread is using.
#[no_mangle]
pub extern "C" fn wl_worker_free(worker: *mut wl_worker) -> wl_result {
    release(&WORKERS, worker, "worker")
}

/// A request begins. Lock-free and allocation-free; any thread of the
/// worker; after `fork()` too. (`wl_worker_begin_last` also says whether it
/// is the last request to take; a host that ignores that learns the same
/// from `wl_worker_end`.)
#[no_mangle]
pub extern "C" fn wl_worker_begin(worker: *const wl_worker) -> wl_result {
    guard(|| {
        self::worker(worker)?.begin();
        Ok(())
    })
}

/// A request begins, and `*last` gets whether it should be the worker's
/// last: it reaches `max_requests` (requests ended plus those in flight)
/// and the recycle was granted, so the worker should accept no new work,
/// finish what it has, and leave. `last` must not be NULL. Lock-free and
/// allocation-free; any thread; after `fork()` too.
///
/// # Safety
///
/// - `last` must not be NULL: valid for writing one `bool`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_begin_last(
    worker: *const wl_worker,
    last: *mut bool,
) -> wl_result {
    guard(|| {
        let w = self::worker(worker)?;
        let last = out(last, "last")?;
        *last = w.begin();
        Ok(())
    })
}

/// A request ended. `*exit` gets whether the worker should exit after this
/// request (finish the response, then leave). `exit` must not be NULL.
/// Lock-free and allocation-free; any thread.
///
/// # Safety
///
/// - `exit` must not be NULL: valid for writing one `bool`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_end(worker: *const wl_worker, exit: *mut bool) -> wl_result {
    guard(|| {
        let w = self::worker(worker)?;
        let exit = out(exit, "exit")?;
        *exit = w.end();
        Ok(())
    })
}

/// `wl_worker_begin_last` with its answer as the return value, for FFIs
/// where an out-parameter costs a marshalled allocation per call (Node's
/// koffi, Ruby's ffi): 1 when this request should be the worker's last, 0
/// when not, or a failure's `wl_result` negated (`-WL_INVALID_HANDLE`; the
/// message as for any failure). Lock-free and allocation-free; any thread.
#[no_mangle]
pub extern "C" fn wl_worker_begin_flag(worker: *const wl_worker) -> i32 {
    flag(|| Ok(self::worker(worker)?.begin()))
}

/// `wl_worker_end` with its answer as the return value (see
/// `wl_worker_begin_flag`): 1 when the worker should exit after this
/// request, 0 when not, or a failure's `wl_result` negated. Lock-free and
/// allocation-free; any thread.
#[no_mangle]
pub extern "C" fn wl_worker_end_flag(worker: *const wl_worker) -> i32 {
    flag(|| Ok(self::worker(worker)?.end()))
}

/// `f`'s answer, run inside the panic boundary: for the exports that
/// answer as their return value (a failure there is its code negated).
fn answer<T: Default>(f: impl FnOnce() -> Result<T, wl_result>) -> Result<T, wl_result> {
    let mut answer = T::default();
    match guard(|| {
        answer = f()?;
        Ok(())
    }) {
        wl_result::WL_OK => Ok(answer),
        failed => Err(failed),
    }
}

/// A boolean answer or a failure, as one `int32_t`.
fn flag(f: impl FnOnce() -> Result<bool, wl_result>) -> i32 {
    answer(f).map_or_else(|failed| -(failed as i32), i32::from)
}

/// A request begins, and `*ticket` gets its ticket, for
/// `wl_worker_end_ticket` from any thread: the slot times each request in
/// flight on its own, so one stuck among many that keep ending is still
/// caught by `request_timeout` (hosts that run several requests at once in
/// a worker: threads, an event loop). The ticket is a number below 2^53;
/// `WL_TICKET_LAST` set in it says this should be the worker's last request
/// (as `wl_worker_begin_last`). A slot times `WL_TICKETS` requests at once;
/// more are counted but not timed, and past 65,535 of those the call
/// fails with `WL_TOO_MANY_IN_FLIGHT` and changes nothing. `ticket` must not
/// be NULL. Lock-free and allocation-free; any thread; after `fork()` too.
///
/// # Safety
///
/// - `ticket` must not be NULL: valid for writing one `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_begin_ticket(
    worker: *const wl_worker,
    ticket: *mut u64,
) -> wl_result {
    guard(|| {
        let w = self::worker(worker)?;
        let ticket = out(ticket, "ticket")?;
        *ticket = check(w.begin_ticket())?.raw();
        Ok(())
    })
}

/// The request of `ticket` ended, whatever its outcome; `*exit` gets
/// whether the worker should exit after it. A ticket this worker does not
/// have in flight (ended already, never issued, another worker's) fails
/// with `WL_BAD_TICKET` and changes nothing. `exit` must not be NULL.
/// Lock-free and allocation-free; any thread.
///
/// # Safety
///
/// - `exit` must not be NULL: valid for writing one `bool`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_end_ticket(
    worker: *const wl_worker,
    ticket: u64,
    exit: *mut bool,
) -> wl_result {
    guard(|| {
        let w = self::worker(worker)?;
        let exit = out(exit, "exit")?;
        *exit = check(w.end_ticket(Ticket::from_raw(ticket)))?;
        Ok(())
    })
}

/// `wl_worker_begin_ticket` with the ticket as the return value (see
/// `wl_worker_begin_flag`): the ticket (0 or more, below 2^53 so a
/// JavaScript number holds it), or a failure's `wl_result` negated.
/// Lock-free and allocation-free; any thread.
#[no_mangle]
pub extern "C" fn wl_worker_begin_ticket_value(worker: *const wl_worker) -> i64 {
    // A ticket is below 2^53: it never reads as a negative number.
    answer(|| Ok(check(self::worker(worker)?.begin_ticket())?.raw()))
        .map_or_else(|failed| -(failed as i64), |ticket| ticket as i64)
}

/// `wl_worker_end_ticket` with its answer as the return value (see
/// `wl_worker_begin_flag`): 1 when the worker should exit after this
/// request, 0 when not, or a failure's `wl_result` negated. Lock-free and
/// allocation-free; any thread.
#[no_mangle]
pub extern "C" fn wl_worker_end_ticket_flag(worker: *const wl_worker, ticket: u64) -> i32 {
    flag(|| check(self::worker(worker)?.end_ticket(Ticket::from_raw(ticket))))
}

/// The tickets of this worker's requests past `request_timeout` (none when
/// it is off), for a host that can end one request alone (an event loop):
/// it ends each, then gives its ticket back with `wl_worker_end_ticket`.
/// Up to `capacity` are written to `tickets` (which may be NULL when
/// `capacity` is 0); `*count` gets how many there are (at most
/// `WL_TICKETS`, more than written when `capacity` is short). `count` must
/// not be NULL. Lock-free and allocation-free; any thread.
///
/// # Safety
///
/// - `tickets` may be NULL when `capacity` is 0; otherwise valid for
///   writing `capacity` `uint64_t`s.
/// - `count` must not be NULL: valid for writing one `size_t`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_overdue(
    worker: *const wl_worker,
    tickets: *mut u64,
    capacity: usize,
    count: *mut usize,
) -> wl_result {
    guard(|| {
        let w = self::worker(worker)?;
        let count = out(count, "count")?;
        crate::buffers::aligned(tickets, "tickets")?;
        if tickets.is_null() && capacity > 0 {
            return Err(fail(wl_result::WL_NULL_ARGUMENT, "tickets is NULL"));
        }
        let mut found = [Ticket::from_raw(0); workerlife::TICKETS];
        let n = w.overdue(&mut found);
        if capacity > 0 {
            // SAFETY: the caller's promise above, checked non-NULL.
            let dst = std::slice::from_raw_parts_mut(tickets, capacity);
            for (d, t) in dst.iter_mut().zip(&found[..n.min(found.len())]) {
                *d = t.raw();
            }
        }
        *count = n;
        Ok(())
    })
}

/// A liveness beat (for `heartbeat_timeout`). Lock-free; any thread.
#[no_mangle]
pub extern "C" fn wl_worker_heartbeat(worker: *const wl_worker) -> wl_result {
    guard(|| {
        self::worker(worker)?.heartbeat();
        Ok(())
    })
}

/// The worker serves from an event loop that ends its own requests at
/// `request_timeout` and calls `wl_worker_heartbeat` from that loop well
/// within half of it (beats now): a request past its timeout is then a
/// kill only once the loop has also been still for half of
/// `request_timeout`. For this generation of the slot. Lock-free; any
/// thread.
#[no_mangle]
pub extern "C" fn wl_worker_on_event_loop(worker: *const wl_worker) -> wl_result {
    guard(|| {
        self::worker(worker)?.on_event_loop();
        Ok(())
    })
}

/// Reports the worker's own readings; a field set to `WL_NO_READING` leaves
/// the previous reading. `health` is borrowed for the call. Lock-free.
///
/// # Safety
///
/// - `health` must not be NULL: valid for reading one `wl_health`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_report_health(
    worker: *const wl_worker,
    health: *const wl_health,
) -> wl_result {
    guard(|| {
        let w = self::worker(worker)?;
        let h = arg(health, "health")?;
        let some = |v: u64| (v != WL_NO_READING).then_some(v);
        w.report_health(Health {
            rss: some(h.rss),
            uss: some(h.uss),
            pss: some(h.pss),
            fds: some(h.fds),
        });
        Ok(())
    })
}

/// For hosts with no master to sample them: `*due` gets whether
/// `sample_interval` has passed since this handle last found it due (every
/// second, sampling nothing, when it is 0); when it has, and the policy
/// limits memory or FDs, the calling process samples itself and reports the
/// readings. `*due` is written even
/// when the sampling fails (the error is returned), so a host can still do
/// its other periodic work. Thread-safe.
///
/// # Safety
///
/// - `due` must not be NULL: valid for writing one `bool`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_sample_if_due(
    worker: *const wl_worker,
    due: *mut bool,
) -> wl_result {
    guard(|| {
        let w = self::worker(worker)?;
        let out = crate::buffers::out(due, "due")?;
        *out = false;
        match w.sample_if_due() {
            Ok(d) => {
                *out = d;
                Ok(())
            }
            Err(e) => {
                *out = true;
                check(Err(e))
            }
        }
    })
}

/// Samples the calling process from `/proc` (USS and PSS too when `uss`),
/// reports the readings for this worker, and writes the sample to `*sample`
/// (may be NULL). Thread-safe.
///
/// # Safety
///
/// - `sample` may be NULL (nothing is written there), else valid for writing one `wl_sample`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_sample_self(
    worker: *const wl_worker,
    uss: bool,
    sample: *mut wl_sample,
) -> wl_result {
    guard(|| {
        let w = self::worker(worker)?;
        let o = crate::buffers::opt_out(sample, "sample")?;
        let s = check(w.sample_self(uss))?;
        if let Some(o) = o {
            *o = (&s).into();
        }
        Ok(())
    })
}

/// The result of one health check: `ok` false adds a failure, true resets.
#[no_mangle]
pub extern "C" fn wl_worker_check(worker: *const wl_worker, ok: bool) -> wl_result {
    guard(|| {
        self::worker(worker)?.check(ok);
        Ok(())
    })
}

/// What the worker should do now, into `*decision`. Thread-safe.
///
/// # Safety
///
/// - `decision` must not be NULL: valid for writing one `wl_decision`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_decision(
    worker: *const wl_worker,
    decision: *mut wl_decision,
) -> wl_result {
    guard(|| {
        let d = self::worker(worker)?.decision();
        *out(decision, "decision")? = d.into();
        Ok(())
    })
}

/// Requests served in this generation, into `*requests`.
///
/// # Safety
///
/// - `requests` must not be NULL: valid for writing one `u64`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_requests(
    worker: *const wl_worker,
    requests: *mut u64,
) -> wl_result {
    guard(|| {
        let n = self::worker(worker)?.requests();
        *out(requests, "requests")? = n;
        Ok(())
    })
}

/// The worker's slot index, into `*slot`.
///
/// # Safety
///
/// - `slot` must not be NULL: valid for writing one `u32`.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_slot(worker: *const wl_worker, slot: *mut u32) -> wl_result {
    guard(|| {
        let i = self::worker(worker)?.index();
        *out(slot, "slot")? = i;
        Ok(())
    })
}

/// Marks the slot on the way out (call just before exiting): the recycle
/// permit goes back at once, so the next worker may start draining.
#[no_mangle]
pub extern "C" fn wl_worker_exiting(worker: *const wl_worker) -> wl_result {
    guard(|| {
        self::worker(worker)?.exiting();
        Ok(())
    })
}

/// Writes the text of a decision (`"max_requests: 1000 >= 1000"`,
/// `"continue"`) into `buf` (`len` bytes); `*needed` (may be NULL) gets the
/// size needed. A decision with numbers that are no action or reason is
/// `WL_INVALID_ARGUMENT`. Any thread.
///
/// # Safety
///
/// - `decision` must not be NULL: valid for reading one `wl_decision`.
/// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
/// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_decision_text(
    decision: *const wl_decision,
    buf: *mut std::ffi::c_char,
    len: usize,
    needed: *mut usize,
) -> wl_result {
    guard(|| {
        let d = arg(decision, "decision")?.to_decision().ok_or_else(|| {
            crate::result::fail(
                wl_result::WL_INVALID_ARGUMENT,
                "the decision's action or reason is out of range",
            )
        })?;
        crate::buffers::write_str(&d.to_string(), buf, len, needed)
    })
}

/// A decision's text in one call (`"max_requests: 1000 >= 1000"`,
/// `"continue"`): a NUL-terminated string owned by the library, valid until
/// this thread's next `wl_decision_string` or `wl_last_error_text`; NULL for
/// a NULL decision or one whose numbers are no action or reason. Any thread.
///
/// # Safety
///
/// - `decision` may be NULL (the answer is NULL), else valid for reading one `wl_decision`.
#[no_mangle]
pub unsafe extern "C" fn wl_decision_string(
    decision: *const wl_decision,
) -> *const std::ffi::c_char {
    crate::result::guard_value(std::ptr::null(), || {
        match arg(decision, "decision").ok().and_then(|d| d.to_decision()) {
            Some(d) => crate::buffers::static_text(&d.to_string()),
            None => std::ptr::null(),
        }
    })
}

/// What a decision's `value` and `limit` measure for a `wl_reason` (a
/// `wl_unit`: microseconds, bytes or a count), or `UINT32_MAX` for
/// `WL_REASON_NONE` and numbers that are no reason. Any thread.
#[no_mangle]
pub extern "C" fn wl_reason_unit(reason: u32) -> u32 {
    crate::result::guard_value(u32::MAX, || {
        u8::try_from(reason)
            .ok()
            .and_then(workerlife::Reason::from_code)
            .map_or(u32::MAX, |r| crate::policy::unit_c(r.unit()))
    })
}

/// The event line of what this worker's decision comes to, the line every
/// master logs (`recycle_requested slot=1 pid=4242 gen=3
/// reason=max_requests (100 >= 100) uptime=12.300s requests=100`, or
/// `killed ...`), for hosts with no master to file events (a middleware
/// whose worker leaves after this request): a NUL-terminated string owned
/// by the library, valid until this thread's next `wl_worker_event_string`,
/// `wl_event_string`, `wl_decision_string` or `wl_last_error_text`; NULL
/// while the worker may continue, and for a NULL, freed or foreign handle.
/// Any thread.
///
/// # Safety
///
/// - `worker` may be NULL (the answer is NULL).
#[no_mangle]
pub unsafe extern "C" fn wl_worker_event_string(
    worker: *const wl_worker,
) -> *const std::ffi::c_char {
    crate::result::guard_value(std::ptr::null(), || {
        let Ok(w) = self::worker(worker) else {
            return std::ptr::null();
        };
        match w.event_for(w.decision()) {
            Some(ev) => crate::buffers::static_text(&ev.to_string()),
            None => std::ptr::null(),
        }
    })
}
