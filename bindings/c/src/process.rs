//! Process-toolkit exports: sampling, identity-checked signals, the orphan
//! ledger and release waits.

use crate::buffers::{out, path_arg};
use crate::result::{check, fail, fail_with, guard};
use crate::types::{wl_held_kind, wl_reap_outcome, wl_reaped, wl_sample};
use crate::{lookup, publish, release, wl_ledger, wl_result, LEDGERS};
use std::ffi::c_char;
use std::time::Duration;
use workerlife::process::{self, Held, Ledger, ReapOutcome, SignalRefused};
use workerlife::Error;

/// Samples process `pid` once from `/proc`: RSS, open FDs and start time,
/// and USS and PSS when `uss` (costlier: a page-table walk). A pid that is
/// gone (or a zombie) is `WL_NO_SUCH_PROCESS`. `sample` must not be NULL.
/// Thread-safe.
///
/// # Safety
///
/// - `sample` must not be NULL: valid for writing one `wl_sample`.
#[no_mangle]
pub unsafe extern "C" fn wl_process_sample(
    pid: u32,
    uss: bool,
    sample: *mut wl_sample,
) -> wl_result {
    guard(|| {
        let o = out(sample, "sample")?;
        let s = check(process::sample(pid, uss))?;
        *o = (&s).into();
        Ok(())
    })
}

/// The start time of process `pid` (clock ticks since boot; with the pid,
/// its identity), into `*start_time`. Gone, or a zombie, is
/// `WL_NO_SUCH_PROCESS`; without `/proc`, `WL_NOT_SUPPORTED`.
///
/// # Safety
///
/// - `start_time` must not be NULL: valid for writing one `u64`.
#[no_mangle]
pub unsafe extern "C" fn wl_process_identity(pid: u32, start_time: *mut u64) -> wl_result {
    guard(|| {
        let o = out(start_time, "start_time")?;
        match process::identity(pid) {
            0 if cfg!(target_os = "linux") => Err(fail_with(&Error::NoSuchProcess(pid))),
            0 => Err(fail_with(&Error::NotSupported(
                "process start times (no /proc)",
            ))),
            id => {
                *o = id;
                Ok(())
            }
        }
    })
}

/// Sends signal `sig` to `pid` only if it is still the process that started
/// at `start_time` (0, unknown, is refused with `WL_UNKNOWN_IDENTITY`),
/// pinned by a pidfd where the kernel has them, so a reused pid is never hit. A mismatch is
/// `WL_IDENTITY_MISMATCH` and nothing is sent; a gone process is
/// `WL_NO_SUCH_PROCESS`; a refusal by the kernel is `WL_IO`. Thread-safe.
#[no_mangle]
pub extern "C" fn wl_signal(pid: u32, start_time: u64, sig: i32) -> wl_result {
    guard(|| match process::signal(pid, start_time, sig) {
        Ok(()) => Ok(()),
        Err(refused) => {
            let code = match refused {
                SignalRefused::Gone => wl_result::WL_NO_SUCH_PROCESS,
                SignalRefused::IdentityMismatch { .. } => wl_result::WL_IDENTITY_MISMATCH,
                SignalRefused::UnknownIdentity => wl_result::WL_UNKNOWN_IDENTITY,
                SignalRefused::Os(_) => wl_result::WL_IO,
            };
            Err(fail(
                code,
                &format!("signal {sig} to pid {pid} refused: {refused}"),
            ))
        }
    })
}

/// Opens (creating, mode 0600) the orphan ledger at `path` for a new run of
/// this process; `*out` gets its handle (owned by the caller,
/// `wl_ledger_free`). A symlink at `path` is refused. Any thread.
///
/// # Safety
///
/// - `path` must not be NULL: a NUL-terminated string, readable up to its NUL.
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_ledger_open(
    path: *const c_char,
    out: *mut *mut wl_ledger,
) -> wl_result {
    guard(|| {
        let path = path_arg(path, "path")?;
        crate::buffers::out(out, "out")?;
        let ledger = check(Ledger::open(path))?;
        publish(&LEDGERS, ledger, out)
    })
}

/// Releases a ledger handle (the file stays). NULL is a no-op; a freed or
/// foreign handle is `WL_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn wl_ledger_free(ledger: *mut wl_ledger) -> wl_result {
    release(&LEDGERS, ledger, "ledger")
}

/// Records a worker this run started (reads its start time). A gone pid is
/// `WL_NO_SUCH_PROCESS`. Serialised with other writers by `flock`.
#[no_mangle]
pub extern "C" fn wl_ledger_record(ledger: *const wl_ledger, pid: u32) -> wl_result {
    guard(|| check(lookup(&LEDGERS, ledger, "ledger")?.record(pid)))
}

/// Drops the record of a worker of this run that ended normally.
#[no_mangle]
pub extern "C" fn wl_ledger_forget(ledger: *const wl_ledger, pid: u32) -> wl_result {
    guard(|| check(lookup(&LEDGERS, ledger, "ledger")?.forget(pid)))
}

/// Ends what earlier runs left alive: SIGTERM to each recorded worker of a
/// run whose master is gone, `grace_us` microseconds to exit, then SIGKILL;
/// processes whose identity does not match are never signalled. Writes up
/// to `cap` report lines into `reaped`; `*n` gets the total number of lines
/// (more than `cap` means some were not written; the reaping happened
/// regardless). A damaged ledger is set aside and is `WL_BAD_LEDGER`.
/// Blocks for up to the grace period plus a few seconds.
///
/// # Safety
///
/// - `reaped` may be NULL only when `cap` is 0, else valid for writing `cap` items of its type.
/// - `n` must not be NULL: valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_ledger_reap(
    ledger: *const wl_ledger,
    grace_us: u64,
    reaped: *mut wl_reaped,
    cap: usize,
    n: *mut usize,
) -> wl_result {
    guard(|| {
        let l = lookup(&LEDGERS, ledger, "ledger")?;
        let total = out(n, "n")?;
        // Checked before any process is signalled.
        crate::buffers::array_out(reaped, cap, "reaped")?;
        let report = check(l.reap(Duration::from_micros(grace_us)))?;
        *total = report.len();
        let mut lines: std::collections::VecDeque<wl_reaped> = report
            .iter()
            .map(|r| {
                let (outcome, found, errno) = match r.outcome {
                    ReapOutcome::Terminated => (wl_reap_outcome::WL_REAP_TERMINATED, 0, 0),
                    ReapOutcome::Killed => (wl_reap_outcome::WL_REAP_KILLED, 0, 0),
                    ReapOutcome::AlreadyGone => (wl_reap_outcome::WL_REAP_ALREADY_GONE, 0, 0),
                    ReapOutcome::PidReused { found } => {
                        (wl_reap_outcome::WL_REAP_PID_REUSED, found, 0)
                    }
                    ReapOutcome::Refused(e) => (wl_reap_outcome::WL_REAP_REFUSED, 0, e),
                    ReapOutcome::UnknownIdentity => {
                        (wl_reap_outcome::WL_REAP_UNKNOWN_IDENTITY, 0, 0)
                    }
                };
                wl_reaped {
                    pid: r.entry.pid,
                    outcome: outcome as u32,
                    run_id: r.entry.run_id,
                    start_time: r.entry.start_time,
                    found,
                    error_number: errno,
                }
            })
            .collect();
        let mut written = 0;
        crate::buffers::drain_into(&mut lines, reaped, cap, &mut written)?;
        Ok(())
    })
}

/// Waits until process `pid` (0: none) is gone and TCP `port` (0: none) can
/// be bound again, for at most `timeout_us` microseconds. `WL_OK` when both
/// are released; else `WL_STILL_HELD`, with `*held` (may be NULL) set to a
/// `wl_held_kind` naming which. Blocks the calling thread.
///
/// # Safety
///
/// - `held` may be NULL (nothing is written there), else valid for writing one `u32`.
#[no_mangle]
pub unsafe extern "C" fn wl_wait_released(
    pid: u32,
    port: u16,
    timeout_us: u64,
    held: *mut u32,
) -> wl_result {
    guard(|| {
        let held = crate::buffers::opt_out(held, "held")?;
        let r = process::wait_released(
            (pid != 0).then_some(pid),
            (port != 0).then_some(port),
            Duration::from_micros(timeout_us),
        );
        let kind = match r {
            Ok(()) => wl_held_kind::WL_HELD_NOTHING,
            Err(Held::Process(_)) => wl_held_kind::WL_HELD_PROCESS,
            Err(Held::Port(_)) => wl_held_kind::WL_HELD_PORT,
        };
        if let Some(h) = held {
            *h = kind as u32;
        }
        match r {
            Ok(()) => Ok(()),
            Err(what) => Err(fail(wl_result::WL_STILL_HELD, &what.to_string())),
        }
    })
}
