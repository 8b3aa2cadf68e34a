//! Host exports: the host contract (what a server can carry out, checked
//! against the policy at start) and the chores every host's master shares
//! (the pool-size rule, the start-up line, round errors logged once,
//! adopting the server's list of workers, event lines, stats text the
//! library allocates). A binding calls these rather than writing its own.

use crate::buffers::{arg, out, str_arg};
use crate::result::{check, fail, fail_with, guard, guard_value};
use crate::types::wl_event;
use crate::{lookup, wl_policy, wl_pool, wl_result, PoolObj, POOLS};
use std::ffi::{c_char, CString};
use workerlife::{Caps, Host};

/// The host beats (`wl_worker_heartbeat`) from the loop that serves
/// requests, so a missing beat proves that loop stuck: `heartbeat_timeout`
/// can hold there and nowhere else.
pub const WL_HOST_HEARTBEAT: u32 = 1;
/// The host starts a worker when a spawn action asks (one that replaces
/// another): `max_surge` can hold.
pub const WL_HOST_SURGE: u32 = 1 << 1;
/// The host can cancel one request alone (an event loop's 504).
pub const WL_HOST_CANCEL: u32 = 1 << 2;
/// One worker runs several requests at once (threads, an event loop).
pub const WL_HOST_CONCURRENT: u32 = 1 << 3;
/// The master carries out kills (it ticks the pool, signals its children).
pub const WL_HOST_MASTER_KILLS: u32 = 1 << 4;
/// Each worker's watchdog carries out its own slot's kills.
pub const WL_HOST_WATCHDOG_KILLS: u32 = 1 << 5;
/// The master starts each worker into the slot a spawn action names (rather
/// than workers claiming a free slot by pid).
pub const WL_HOST_NUMBERED: u32 = 1 << 6;
/// Each request in flight holds a ticket (`wl_worker_begin_ticket`), so a
/// worker that runs several at once has each timed on its own:
/// `request_timeout` can hold with threads.
pub const WL_HOST_TICKETS: u32 = 1 << 7;

/// `wl_pool_stats_text` formats.
pub const WL_STATS_JSON: u32 = 0;
/// JSON with only the slots a worker holds (see `wl_pool_stats_json_occupied`).
pub const WL_STATS_JSON_OCCUPIED: u32 = 1;
/// The Prometheus text format.
pub const WL_STATS_PROMETHEUS: u32 = 2;

/// `wl_event_severity` answers.
pub const WL_SEVERITY_INFO: u32 = 1;
pub const WL_SEVERITY_WARNING: u32 = 2;
pub const WL_SEVERITY_ERROR: u32 = 3;

/// The `WL_HOST_*` bit named `name` (`"heartbeat"`, `"surge"`, `"cancel"`,
/// `"concurrent"`, `"master_kills"`, `"watchdog_kills"`, `"numbered"`), for
/// bindings that read the bits from the library rather than copying them;
/// 0 for NULL or any other name. Any thread.
///
/// # Safety
///
/// - `name` may be NULL (the answer is 0), else a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn wl_host_capability(name: *const c_char) -> u32 {
    guard_value(0, || {
        if name.is_null() {
            return 0;
        }
        // SAFETY: a non-NULL name is NUL-terminated (documented).
        let name = unsafe { std::ffi::CStr::from_ptr(name) };
        name.to_str()
            .ok()
            .and_then(Caps::from_name)
            .map_or(0, |c| c.bits())
    })
}

fn pool<'a>(p: *const wl_pool) -> Result<&'a PoolObj, wl_result> {
    lookup(&POOLS, p, "pool")
}

fn host(name: *const c_char, caps: u32) -> Result<Host, wl_result> {
    let name = str_arg(name, "name")?;
    let caps = check(Caps::from_bits(caps))?;
    check(Host::new(name, caps))
}

/// Hands `text` to the caller as a string it owns (freed with
/// `wl_string_free`). A NUL inside cuts the text there.
fn give(text: &str, out: &mut *mut c_char) {
    let end = text.find('\0').unwrap_or(text.len());
    *out = CString::new(&text[..end]).unwrap_or_default().into_raw();
}

/// Checks `policy` against what the host named `name` can carry out
/// (`caps`, `WL_HOST_*` bits), before any pool is made: a rule it cannot
/// is `WL_NOT_FOR_HOST`, with a message naming the key, its value, the
/// host and what to do instead. `name`: 1 to 64 bytes of UTF-8 with no
/// control characters, else `WL_INVALID_ARGUMENT`; unknown bits are
/// `WL_INVALID_ARGUMENT` too. Any thread.
///
/// # Safety
///
/// - `name` must not be NULL: a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn wl_policy_check_host(
    policy: *const wl_policy,
    name: *const c_char,
    caps: u32,
) -> wl_result {
    guard(|| {
        let p = crate::policy::snapshot(policy)?;
        let h = host(name, caps)?;
        check(h.check(&p))
    })
}

/// The host named `name` declares what it can carry out (`caps`,
/// `WL_HOST_*` bits) for this pool. The pool's policy is checked as
/// `wl_policy_check_host` does; a refusal records nothing. Declaring again
/// replaces the host. Thread-safe.
///
/// # Safety
///
/// - `name` must not be NULL: a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_set_host(
    pool: *const wl_pool,
    name: *const c_char,
    caps: u32,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        let h = host(name, caps)?;
        check(p.pool.set_host(h))
    })
}

/// `*slots` gets how many slots a pool for `workers` workers of a host with
/// `caps` needs under `policy`: workers plus `max_surge` where the master
/// numbers its workers (`WL_HOST_NUMBERED`); else twice the workers plus
/// `max_surge` plus 8 (a leaving worker holds its slot until its exit is
/// seen, while its successor claims one). At most 2^20. Any thread.
///
/// # Safety
///
/// - `slots` must not be NULL: valid for writing one `uint32_t`.
#[no_mangle]
pub unsafe extern "C" fn wl_host_slots(
    caps: u32,
    workers: u32,
    policy: *const wl_policy,
    slots: *mut u32,
) -> wl_result {
    guard(|| {
        let o = out(slots, "slots")?;
        let p = crate::policy::snapshot(policy)?;
        let caps = check(Caps::from_bits(caps))?;
        let h = check(Host::new("host", caps))?;
        *o = h.slots(workers, &p);
        Ok(())
    })
}

/// `*line` gets the line a host logs once at start (workerlife is on, for
/// which host, the policy, the slots, what the host can do and what is
/// refused there), owned by the caller: free it with `wl_string_free`.
/// Thread-safe.
///
/// # Safety
///
/// - `line` must not be NULL: valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_startup_line(
    pool: *const wl_pool,
    line: *mut *mut c_char,
) -> wl_result {
    guard(|| {
        let o = out(line, "line")?;
        let p = self::pool(pool)?;
        give(&p.pool.startup_line(), o);
        Ok(())
    })
}

/// Notes an error of the host's supervision round (`text`): `*line` gets
/// the line to log now, owned by the caller (free it with
/// `wl_string_free`), or NULL when this error was logged already and is
/// only counted (each distinct text is logged once, then with its count at
/// 10, 100, 1000... occurrences; at most 256 distinct texts are
/// remembered, each cut to 1024 bytes). Thread-safe.
///
/// # Safety
///
/// - `text` must not be NULL: a NUL-terminated string.
/// - `line` must not be NULL: valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_round_error(
    pool: *const wl_pool,
    text: *const c_char,
    line: *mut *mut c_char,
) -> wl_result {
    guard(|| {
        let o = out(line, "line")?;
        let p = self::pool(pool)?;
        let text = str_arg(text, "text")?;
        *o = std::ptr::null_mut();
        if let Some(l) = p.pool.round_error(text) {
            give(&l, o);
        }
        Ok(())
    })
}

/// Adopts the workers of the server's own list (`pids`, `n` of them): each
/// pid not adopted before is read (parent, start time) and taken as
/// `wl_pool_adopt` does; a pid already gone is passed over (its exit is the
/// host's to report); pids not in the list are forgotten, so a reused pid
/// is adopted anew. `*adopted` (may be NULL) gets how many were taken on
/// now. Each pid stands on its own: when one is not a child of this
/// process, the others are still adopted, it is never signalled, and the
/// call answers `WL_NOT_A_CHILD` with a message naming it. Thread-safe.
///
/// # Safety
///
/// - `pids` may be NULL only when `n` is 0, else valid for reading `n` `uint32_t`s.
/// - `adopted` may be NULL (nothing is written there), else valid for writing one `size_t`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_adopt_all(
    pool: *const wl_pool,
    pids: *const u32,
    n: usize,
    adopted: *mut usize,
) -> wl_result {
    guard(|| {
        let adopted = crate::buffers::opt_out(adopted, "adopted")?;
        let p = self::pool(pool)?;
        let list: &[u32] = if n == 0 {
            &[]
        } else {
            crate::buffers::aligned(pids, "pids")?;
            if pids.is_null() {
                return Err(crate::buffers::null("pids"));
            }
            if n > workerlife::MAX_SLOTS as usize * 4 {
                return Err(fail(
                    wl_result::WL_INVALID_ARGUMENT,
                    &format!("{n} pids: more than a server's list can hold"),
                ));
            }
            // SAFETY: non-NULL, aligned, and `n` readable items (documented).
            unsafe { std::slice::from_raw_parts(pids, n) }
        };
        let done = p.pool.adopt_all(list);
        if let Some(a) = adopted {
            *a = done.new.len();
        }
        match done.refused.first() {
            Some((_, e)) => Err(fail_with(e)),
            None => Ok(()),
        }
    })
}

/// `*text` gets the pool's stats in `format` (`WL_STATS_JSON`,
/// `WL_STATS_JSON_OCCUPIED` or `WL_STATS_PROMETHEUS`; another number is
/// `WL_INVALID_ARGUMENT`), allocated by the library and owned by the
/// caller: free it with `wl_string_free`. One call, so a counter that gains
/// a digit meanwhile cannot make it fail (as a size query then a fill can).
/// Thread-safe.
///
/// # Safety
///
/// - `text` must not be NULL: valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_stats_text(
    pool: *const wl_pool,
    format: u32,
    text: *mut *mut c_char,
) -> wl_result {
    guard(|| {
        let o = out(text, "text")?;
        let p = self::pool(pool)?;
        let s = match format {
            WL_STATS_JSON => p.pool.stats_json(),
            WL_STATS_JSON_OCCUPIED => p.pool.stats_json_occupied(),
            WL_STATS_PROMETHEUS => p.pool.prometheus(),
            other => {
                return Err(fail(
                    wl_result::WL_INVALID_ARGUMENT,
                    &format!("stats format {other}: not WL_STATS_JSON, WL_STATS_JSON_OCCUPIED or WL_STATS_PROMETHEUS"),
                ))
            }
        };
        give(&s, o);
        Ok(())
    })
}

/// Frees a string the library handed to the caller (`wl_pool_stats_text`,
/// `wl_pool_startup_line`, `wl_pool_round_error`). NULL is accepted and
/// does nothing. A pointer the library did not hand out, or one freed
/// already, is undefined behaviour (the strings are plain allocations, not
/// handles). Any thread.
///
/// # Safety
///
/// - `text` may be NULL, else a string from one of the calls above, not freed before.
#[no_mangle]
pub unsafe extern "C" fn wl_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: handed out by `CString::into_raw` in `give` (documented).
        drop(unsafe { CString::from_raw(text) });
    }
}

/// An event's line, the one every host logs (`recycle_requested slot=0
/// pid=4242 gen=3 reason=max_requests (100 >= 100) uptime=12.300s
/// requests=100 rss=45.2MiB`): a NUL-terminated string owned by the
/// library, valid until this thread's next `wl_event_string`,
/// `wl_decision_string` or `wl_last_error_text`; NULL for a NULL event or
/// one whose numbers are no event kind or reason. Any thread.
///
/// # Safety
///
/// - `event` may be NULL (the answer is NULL), else valid for reading one `wl_event`.
#[no_mangle]
pub unsafe extern "C" fn wl_event_string(event: *const wl_event) -> *const c_char {
    guard_value(std::ptr::null(), || {
        match arg(event, "event").ok().and_then(|e| e.to_event()) {
            Some(e) => crate::buffers::static_text(&e.to_string()),
            None => std::ptr::null(),
        }
    })
}

/// How loud an event is in the host's log: `WL_SEVERITY_INFO`, `_WARNING`
/// (a kill, a crash, a failed health check, a refusal) or `_ERROR` (a crash
/// loop, the kernel's OOM killer); 0 for a NULL event or one whose numbers
/// are no event kind or reason. Any thread.
///
/// # Safety
///
/// - `event` may be NULL (the answer is 0), else valid for reading one `wl_event`.
#[no_mangle]
pub unsafe extern "C" fn wl_event_severity(event: *const wl_event) -> u32 {
    guard_value(0, || {
        arg(event, "event")
            .ok()
            .and_then(|e| e.to_event())
            .map_or(0, |e| u32::from(e.severity().code()))
    })
}
