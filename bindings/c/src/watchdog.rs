//! Watchdog exports: a worker's own thread that carries out kill decisions
//! where no master runs.

use crate::buffers::out;
use crate::result::{check, guard};
use crate::{lookup, publish, release, wl_result, wl_watchdog, wl_worker, WATCHDOGS, WORKERS};
use std::time::Duration;
use workerlife::WatchdogOptions;

/// Starts the worker's watchdog: a native thread (no lock of the host's
/// needed) that looks at the worker's slot every `interval_ms` (0: a tenth
/// of the shortest of `request_timeout` and `heartbeat_timeout`, within
/// 10..100 ms). On a kill decision (`request_timeout`, `heartbeat_timeout`,
/// `drain_timeout`) it writes a line to stderr and ends this process with
/// SIGKILL; on a granted recycle it sends `recycle_signal` to this process
/// once (0: none, recycles are the host's). While no master calls
/// `wl_pool_tick`, it also samples this process every `sample_interval` and
/// retires the slots of workers that are gone, returning their recycle
/// permits. It only ever signals its own process. `recycle_signal` must be
/// 0 or a catchable signal (`WL_INVALID_ARGUMENT` otherwise, as is an
/// `interval_ms` over 60000). The caller owns the new handle; a child
/// forked later does not have the thread (start one there). Thread-safe.
///
/// # Safety
///
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_worker_watchdog(
    worker: *const wl_worker,
    recycle_signal: i32,
    interval_ms: u32,
    out: *mut *mut wl_watchdog,
) -> wl_result {
    guard(|| {
        let w = lookup(&WORKERS, worker, "worker")?;
        self::out(out, "out")?;
        let options = WatchdogOptions {
            recycle_signal: (recycle_signal != 0).then_some(recycle_signal),
            interval: (interval_ms != 0).then(|| Duration::from_millis(u64::from(interval_ms))),
        };
        let dog = check(w.watchdog(options))?;
        publish(&WATCHDOGS, dog, out)
    })
}

/// Makes the watchdog look at its slot now rather than at its next
/// interval (after `wl_worker_end` said the worker should leave, say).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn wl_watchdog_wake(watchdog: *const wl_watchdog) -> wl_result {
    guard(|| {
        lookup(&WATCHDOGS, watchdog, "watchdog")?.wake();
        Ok(())
    })
}

/// Releases the handle and leaves the thread running for the life of the
/// process (for a binding whose object is collected; nothing can stop the
/// thread afterwards). NULL is a no-op; a freed or foreign handle is
/// `WL_INVALID_HANDLE`. Do not detach a handle another thread is using.
#[no_mangle]
pub extern "C" fn wl_watchdog_detach(watchdog: *mut wl_watchdog) -> wl_result {
    guard(|| {
        if watchdog.is_null() {
            return Ok(());
        }
        match WATCHDOGS.remove(watchdog as u64) {
            Some(dog) => {
                dog.detach();
                Ok(())
            }
            None => Err(crate::invalid_handle("watchdog")),
        }
    })
}

/// Stops the watchdog thread, waits for it (a look takes microseconds) and
/// releases the handle. NULL is a no-op; a freed or foreign handle is
/// `WL_INVALID_HANDLE`. In a forked child it only releases the handle. Do
/// not free a handle another thread is using.
#[no_mangle]
pub extern "C" fn wl_watchdog_free(watchdog: *mut wl_watchdog) -> wl_result {
    release(&WATCHDOGS, watchdog, "watchdog")
}
