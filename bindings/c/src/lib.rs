//! The C ABI (`include/workerlife.h`): plain `extern "C"` functions over the
//! engine. This layer holds only pointer, panic and error plumbing:
//!
//! - every fallible call returns a `wl_result` (`WL_OK` = 0) and writes its
//!   results through out-pointers; the message of the last failure on the
//!   calling thread is read with `wl_last_error_message`;
//! - every export runs inside a panic boundary;
//! - objects are opaque handles (`wl_policy`, `wl_pool`, `wl_worker`,
//!   `wl_ledger`) made by `*_new`-style calls and released by `*_free`, which
//!   accept NULL; a freed, double-freed or foreign handle is
//!   `WL_INVALID_HANDLE` (see `handles`).

#![allow(non_camel_case_types)]

mod buffers;
mod handles;
pub mod host;
pub mod metrics;
pub mod names;
pub mod policy;
pub mod pool;
pub mod process;
mod result;
pub mod types;
pub mod version;
pub mod worker;

pub mod watchdog;

pub use result::wl_result;

use handles::Registry;
use workerlife::fork::{AfterFork, ForkMutex};

/// A policy (opaque). Made by `wl_policy_new` or `wl_policy_parse`,
/// released by `wl_policy_free`.
pub struct wl_policy {
    _opaque: [u8; 0],
}

/// A pool of worker slots (opaque). Made by `wl_pool_new` and friends,
/// released by `wl_pool_free`. Worker handles stay usable after their pool
/// is freed.
pub struct wl_pool {
    _opaque: [u8; 0],
}

/// One worker's handle on its slot (opaque). Made by `wl_pool_worker` or
/// `wl_pool_claim`, released by `wl_worker_free`.
pub struct wl_worker {
    _opaque: [u8; 0],
}

/// An orphan ledger opened for this run (opaque). Made by
/// `wl_ledger_open`, released by `wl_ledger_free`.
pub struct wl_ledger {
    _opaque: [u8; 0],
}

/// A worker's running watchdog thread (opaque). Made by
/// `wl_worker_watchdog`, stopped and released by `wl_watchdog_free`.
pub struct wl_watchdog {
    _opaque: [u8; 0],
}

/// A running stats endpoint (opaque). Made by `wl_metrics_serve`,
/// stopped and released by `wl_metrics_free`.
pub struct wl_metrics {
    _opaque: [u8; 0],
}

pub(crate) struct PoolObj {
    pub pool: workerlife::Pool,
    /// Actions and events a caller's array had no room for, handed out first
    /// by the next call.
    /// Never held while calling into the pool (see `workerlife::fork`).
    pub pending_actions: ForkMutex<Pending<workerlife::PoolAction>>,
    pub pending_events: ForkMutex<Pending<workerlife::Event>>,
    /// Slots found gone that a caller's array had no room for.
    pub pending_gone: ForkMutex<Pending<u32>>,
}

/// What a caller's array had no room for. A forked child drops its parent's.
pub(crate) struct Pending<T>(pub std::collections::VecDeque<T>);

impl<T> Pending<T> {
    pub fn new() -> Self {
        Pending(std::collections::VecDeque::new())
    }
}

/// Checks the caller's out-array (`name`, room for `cap`) and `n` first, so
/// that a failing call changes nothing; then takes `fresh()` from the pool,
/// queues it behind what earlier calls had no room for, and hands out as
/// much as the array holds (`*n` gets how many); the rest stays queued for
/// the next call. The queue's lock is never held while the pool works (see
/// `workerlife::fork`).
pub(crate) fn hand_out<S: Send + 'static, T: From<S>, I: IntoIterator<Item = S>>(
    queue: &ForkMutex<Pending<S>>,
    fresh: impl FnOnce() -> I,
    array: *mut T,
    cap: usize,
    n: *mut usize,
    name: &str,
) -> Result<(), wl_result> {
    buffers::out(n, "n")?;
    buffers::array_out(array, cap, name)?;
    let fresh = fresh();
    let mut pending = queue.lock();
    pending.0.extend(fresh);
    buffers::drain_into(&mut pending.0, array, cap, n)
}

impl<T: Send> AfterFork for Pending<T> {
    fn after_fork_in_child(&mut self) {
        self.0.clear();
    }
}

pub(crate) static POLICIES: Registry<ForkMutex<workerlife::Policy>> = Registry::new(1);
pub(crate) static POOLS: Registry<PoolObj> = Registry::new(2);
pub(crate) static WORKERS: Registry<workerlife::Worker> = Registry::new(3);
pub(crate) static LEDGERS: Registry<workerlife::process::Ledger> = Registry::new(4);
pub(crate) static WATCHDOGS: Registry<workerlife::Watchdog> = Registry::new(5);
pub(crate) static METRICS: Registry<workerlife::MetricsServer> = Registry::new(6);

/// Looks a handle up in its registry; NULL and dead handles are errors.
#[inline(always)]
pub(crate) fn lookup<'a, T: Sync, H>(
    registry: &'a Registry<T>,
    handle: *const H,
    name: &str,
) -> Result<&'a T, wl_result> {
    if handle.is_null() {
        return Err(buffers::null(name));
    }
    registry
        .get(handle as u64)
        .ok_or_else(|| invalid_handle(name))
}

#[cold]
pub(crate) fn invalid_handle(name: &str) -> wl_result {
    result::fail(
        wl_result::WL_INVALID_HANDLE,
        &format!(
            "argument `{name}` is not a live handle of its type (freed, or not from workerlife)"
        ),
    )
}

/// Stores a new object and writes its handle to `*out`.
pub(crate) fn publish<T, H>(
    registry: &'static Registry<T>,
    value: T,
    out: *mut *mut H,
) -> Result<(), wl_result> {
    let out = buffers::out(out, "out")?;
    let handle = registry
        .insert(value)
        .ok_or_else(|| result::fail(wl_result::WL_IO, "too many live handles of this type"))?;
    *out = handle as *mut H;
    Ok(())
}

/// Frees a handle: NULL is fine, a dead handle is an error.
pub(crate) fn release<T, H>(
    registry: &'static Registry<T>,
    handle: *mut H,
    name: &str,
) -> wl_result {
    result::guard(|| {
        if handle.is_null() {
            return Ok(());
        }
        registry
            .remove(handle as u64)
            .map(drop)
            .ok_or_else(|| invalid_handle(name))
    })
}

/// The name of a result code as the header spells it (`"WL_UNKNOWN_PID"`):
/// a static NUL-terminated string owned by the library, or NULL for a
/// number that is no result. A binding reads its constants here instead of
/// copying the header: every code is below 1000. Any thread.
#[no_mangle]
pub extern "C" fn wl_result_name(result: u32) -> *const std::ffi::c_char {
    result::guard_value(std::ptr::null(), || {
        wl_result::from_u32(result).map_or(std::ptr::null(), |r| r.name().as_ptr())
    })
}

/// Writes the fixed text of `result` into `buf` (`len` bytes, NUL
/// included); `*needed` (may be NULL) gets the size needed.
///
/// Returns `WL_BUFFER_TOO_SMALL` when `buf` is too short (it then holds an
/// empty string), `WL_INVALID_ARGUMENT` for a number that is no result. Any
/// thread.
///
/// # Safety
///
/// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
/// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_result_text(
    result: u32,
    buf: *mut std::ffi::c_char,
    len: usize,
    needed: *mut usize,
) -> wl_result {
    result::guard(|| {
        let r = wl_result::from_u32(result).ok_or_else(|| {
            result::fail(
                wl_result::WL_INVALID_ARGUMENT,
                &format!("{result} is not a wl_result"),
            )
        })?;
        buffers::write_str(r.text(), buf, len, needed)
    })
}

/// The message of the last call that failed on the calling thread, in one
/// call: a NUL-terminated string owned by the library, valid until this
/// thread's next `wl_last_error_text` or `wl_decision_string`; `""` when no
/// call has failed. Never NULL. Thread-local, so any thread. (For FFIs:
/// `wl_last_error_message` is the same into the caller's buffer.)
#[no_mangle]
pub extern "C" fn wl_last_error_text() -> *const std::ffi::c_char {
    result::guard_value(c"".as_ptr(), || {
        buffers::static_text(&result::last_error(|m| m.to_string()))
    })
}

/// Writes the message of the last call that failed on the calling thread
/// (it names what was wrong, e.g. the bad key and value) into `buf`;
/// `*needed` (may be NULL) gets the size needed. Successful calls leave it
/// as it was. Thread-local, so any thread.
///
/// # Safety
///
/// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
/// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_last_error_message(
    buf: *mut std::ffi::c_char,
    len: usize,
    needed: *mut usize,
) -> wl_result {
    result::guard(|| {
        let msg = result::last_error(|m| m.to_string());
        let written = buffers::write_str(&msg, buf, len, needed);
        // Asking for the size must not replace the message being asked for.
        result::fail(wl_result::WL_OK, &msg);
        written
    })
}

/// Writes the number of live handles of every type (policies, pools,
/// workers, ledgers) made in this process to `*count`: what tests use to
/// show that objects free their handles. `count` must not be NULL.
/// Thread-safe.
///
/// # Safety
///
/// - `count` must not be NULL: valid for writing one `u64`.
#[no_mangle]
pub unsafe extern "C" fn wl_live_handles(count: *mut u64) -> wl_result {
    result::guard(|| {
        let out = buffers::out(count, "count")?;
        *out = POLICIES.live() + POOLS.live() + WORKERS.live() + LEDGERS.live() + WATCHDOGS.live();
        Ok(())
    })
}
