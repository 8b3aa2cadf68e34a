//! Pool exports: building, slots, supervision, events and stats.

use crate::buffers::{arg, opt_out, out, path_arg, write_str};
use crate::result::{check, fail, guard};
use crate::types::{
    wl_decision, wl_event, wl_health, wl_pool_action, wl_pool_options, WL_NO_READING,
};
use crate::{hand_out, Pending};
use crate::{
    lookup, publish, release, wl_policy, wl_pool, wl_result, wl_worker, PoolObj, POOLS, WORKERS,
};
use std::ffi::c_char;
use std::time::Duration;
use workerlife::fork::ForkMutex;
use workerlife::{Pool, PoolBuilder, Sharing};

fn pool<'a>(p: *const wl_pool) -> Result<&'a PoolObj, wl_result> {
    lookup(&POOLS, p, "pool")
}

fn finish(builder: PoolBuilder, out: *mut *mut wl_pool) -> Result<(), wl_result> {
    publish_pool(check(builder.build())?, out)
}

fn publish_pool(pool: Pool, out: *mut *mut wl_pool) -> Result<(), wl_result> {
    publish(
        &POOLS,
        PoolObj {
            pool,
            pending_actions: ForkMutex::new(Pending::new()),
            pending_events: ForkMutex::new(Pending::new()),
            pending_gone: ForkMutex::new(Pending::new()),
        },
        out,
    )
}

/// Makes a pool private to this process with `slots` slots under a copy of
/// `policy`; `*out` gets its handle (owned by the caller, released with
/// `wl_pool_free`). A slot count outside 1..2^20 is `WL_INVALID_SLOT_COUNT`.
/// NULL arguments are `WL_NULL_ARGUMENT`. Any thread.
///
/// # Safety
///
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_new(
    policy: *const wl_policy,
    slots: u32,
    out: *mut *mut wl_pool,
) -> wl_result {
    guard(|| {
        crate::buffers::out(out, "out")?;
        let p = crate::policy::snapshot(policy)?;
        finish(Pool::builder(&p).slots(slots), out)
    })
}

/// As `wl_pool_new`, in shared memory: create it before `fork()` and the
/// children see the same slots (and use them through their own copy of the
/// handle).
///
/// # Safety
///
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_new_shared(
    policy: *const wl_policy,
    slots: u32,
    out: *mut *mut wl_pool,
) -> wl_result {
    guard(|| {
        crate::buffers::out(out, "out")?;
        let p = crate::policy::snapshot(policy)?;
        finish(Pool::builder(&p).slots(slots).shared(), out)
    })
}

/// As `wl_pool_new`, in a new file at `path` (mode 0600), for workers
/// started with exec, which call `wl_pool_attach`. A pool file there that
/// no live process holds (its maker was killed) is made anew; one a live
/// process holds is `WL_IO` (`EEXIST`), and a symlink, a file that is no
/// pool or one another user could write is refused and left as it is. The
/// creating process removes the file when its handle
/// is freed. `path` is a NUL-terminated path, borrowed.
///
/// # Safety
///
/// - `path` must not be NULL: a NUL-terminated string, readable up to its NUL.
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_create(
    path: *const c_char,
    policy: *const wl_policy,
    slots: u32,
    out: *mut *mut wl_pool,
) -> wl_result {
    guard(|| {
        crate::buffers::out(out, "out")?;
        let path = path_arg(path, "path")?;
        let p = crate::policy::snapshot(policy)?;
        finish(Pool::builder(&p).slots(slots).named(path), out)
    })
}

/// Attaches the pool file at `path` made by `wl_pool_create`. A file that is
/// not a workerlife pool, or is damaged, is `WL_BAD_POOL_FILE` (never a
/// crash). The caller owns the new handle. Any thread.
///
/// # Safety
///
/// - `path` must not be NULL: a NUL-terminated string, readable up to its NUL.
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_attach(path: *const c_char, out: *mut *mut wl_pool) -> wl_result {
    guard(|| {
        crate::buffers::out(out, "out")?;
        let path = path_arg(path, "path")?;
        publish_pool(check(Pool::attach(path))?, out)
    })
}

/// Opens the pool file at `path` that the processes of one server share
/// when no master of ours starts them (each worker opens it itself): it is
/// attached while another process holds it, else (missing, or left behind
/// by processes now gone) made anew, mode 0600, with `slots` slots and
/// `policy`. While held its policy must equal `policy`, else
/// `WL_BAD_POOL_FILE`; a file that is not a workerlife pool is
/// `WL_BAD_POOL_FILE` and left as it is; one another user owns or may write
/// is `WL_UNSAFE_FILE`. The file stays until `wl_pool_remove_if_last`.
/// Linux only (`WL_IO` elsewhere). `path` and `policy` are borrowed; the
/// caller owns the new handle. Any thread.
///
/// # Safety
///
/// - `path` must not be NULL: a NUL-terminated string, readable up to its NUL.
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_open(
    path: *const c_char,
    policy: *const wl_policy,
    slots: u32,
    out: *mut *mut wl_pool,
) -> wl_result {
    guard(|| {
        let path = path_arg(path, "path")?;
        let p = crate::policy::snapshot(policy)?;
        crate::buffers::out(out, "out")?;
        publish_pool(check(Pool::open(path, &p, slots))?, out)
    })
}

/// For a pool from `wl_pool_open`, when this process is done with it (its
/// server shuts down): gives up this process's hold on the file, then
/// removes the file if no other process holds it, so the last worker leaves
/// none behind; `*removed` gets whether it did. Later calls, and other
/// pools: `*removed` is false. Thread-safe.
///
/// # Safety
///
/// - `removed` must not be NULL: valid for writing one `bool`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_remove_if_last(
    pool: *const wl_pool,
    removed: *mut bool,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        let removed = crate::buffers::out(removed, "removed")?;
        *removed = check(p.pool.remove_if_last())?;
        Ok(())
    })
}

/// Makes a pool from options: slot count, sharing, path (named pools), a
/// manual clock (for tests: time moves only by `wl_pool_advance`) and a
/// fixed jitter seed. `options` is borrowed for the call. An unknown
/// `sharing` is `WL_INVALID_ARGUMENT`.
///
/// # Safety
///
/// - `options` must not be NULL: valid for reading one `wl_pool_options`.
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_build(
    policy: *const wl_policy,
    options: *const wl_pool_options,
    out: *mut *mut wl_pool,
) -> wl_result {
    guard(|| {
        crate::buffers::out(out, "out")?;
        let p = crate::policy::snapshot(policy)?;
        let o = arg(options, "options")?;
        let mut b = Pool::builder(&p)
            .slots(o.slots)
            .manual_clock(o.manual_clock);
        if o.has_seed {
            b = b.seed(o.seed);
        }
        b = match o.sharing {
            s if s == u32::from(Sharing::Private.code()) => b,
            s if s == u32::from(Sharing::Shared.code()) => b.shared(),
            s if s == u32::from(Sharing::Named.code()) => {
                b.named(path_arg(o.path, "options.path")?)
            }
            s => {
                return Err(fail(
                    wl_result::WL_INVALID_ARGUMENT,
                    &format!("{s} is not a wl_sharing"),
                ))
            }
        };
        finish(b, out)
    })
}

/// Releases a pool handle. NULL is a no-op; a freed or foreign handle is
/// `WL_INVALID_HANDLE`. Worker handles from the pool stay valid (they keep
/// the memory mapped). Do not free a handle another thread is using.
#[no_mangle]
pub extern "C" fn wl_pool_free(pool: *mut wl_pool) -> wl_result {
    release(&POOLS, pool, "pool")
}

/// Writes the number of slots to `*slots`. Thread-safe.
///
/// # Safety
///
/// - `slots` may be NULL only when `cap` is 0, else valid for writing one `u32`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_slot_count(pool: *const wl_pool, slots: *mut u32) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        *out(slots, "slots")? = p.pool.slot_count();
        Ok(())
    })
}

/// Makes a new policy handle holding a copy of the pool's policy (as stored
/// in the pool; an attached pool's comes from its file). The caller owns it.
///
/// # Safety
///
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_policy(
    pool: *const wl_pool,
    out: *mut *mut wl_policy,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?.pool.policy().clone();
        publish(&crate::POLICIES, ForkMutex::new(p), out)
    })
}

/// A worker handle for slot `slot`, for hosts that number their workers.
/// A vacant slot gets a generation first, for the calling process (as
/// `wl_pool_spawned(pool, slot, getpid())` would; the master's later report
/// of that pid takes it on), so its limits hold. The caller owns it
/// (`wl_worker_free`). Thread-safe.
///
/// # Safety
///
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_worker(
    pool: *const wl_pool,
    slot: u32,
    out: *mut *mut wl_worker,
) -> wl_result {
    guard(|| {
        // Checked first: a call that fails must not leave a slot taken.
        crate::buffers::out(out, "out")?;
        let w = check(self::pool(pool)?.pool.worker(slot))?;
        publish(&WORKERS, w, out)
    })
}

/// The slot of `pid` (usually the caller's own `getpid()`): the one already
/// holding it, else a vacant one, else one whose process is gone. Full is
/// `WL_NO_FREE_SLOT`. The caller owns the worker handle. Thread-safe.
///
/// # Safety
///
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_claim(
    pool: *const wl_pool,
    pid: u32,
    out: *mut *mut wl_worker,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        // Checked first: a call that fails must not leave a slot claimed.
        crate::buffers::out(out, "out")?;
        let w = check(p.pool.claim(pid))?;
        publish(&WORKERS, w, out)
    })
}

/// The master started `pid` in `slot`. A slot still holding a live process
/// is `WL_SLOT_BUSY`. Thread-safe.
#[no_mangle]
pub extern "C" fn wl_pool_spawned(pool: *const wl_pool, slot: u32, pid: u32) -> wl_result {
    guard(|| check(self::pool(pool)?.pool.spawned(slot, pid)))
}

/// The worker in `slot` is ready to serve (booted, app loaded): what a
/// replacement waits for before the worker it replaces drains
/// (`max_surge`); a worker's first request counts as ready too. A vacant
/// slot is left as it is. `WL_SLOT_OUT_OF_RANGE` past the end. Thread-safe.
#[no_mangle]
pub extern "C" fn wl_pool_ready(pool: *const wl_pool, slot: u32) -> wl_result {
    guard(|| check(self::pool(pool)?.pool.ready(slot)))
}

/// The server asked worker `pid` to leave on its own account (graceful
/// restart, scale-down, shutdown): its exit will not count as a crash, and a
/// recycle permit it held goes back now. `*slot` (may be NULL) gets its
/// slot. No slot holding `pid` is `WL_UNKNOWN_PID`. Thread-safe.
///
/// # Safety
///
/// - `slot` may be NULL (nothing is written there), else valid for writing one `u32`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_exiting(
    pool: *const wl_pool,
    pid: u32,
    slot: *mut u32,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        let out = opt_out(slot, "slot")?;
        let s = check(p.pool.exiting(pid))?;
        if let Some(out) = out {
            *out = s;
        }
        Ok(())
    })
}

/// Takes `pid` as one of this master's own workers, for servers that start
/// workers themselves (the worker then claims a slot by pid): recycles and
/// kills for a slot are returned only when its pid is a child the master
/// reported with `wl_pool_spawned` or here. `pid` must be a live child of
/// the calling process (else `WL_NOT_A_CHILD`, or `WL_NO_SUCH_PROCESS`); its
/// start time is read now. Adopting a known pid again changes nothing.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn wl_pool_adopt(pool: *const wl_pool, pid: u32) -> wl_result {
    guard(|| check(self::pool(pool)?.pool.adopt(pid)))
}

/// The process `pid` exited with wait status `status` (as from `waitpid`);
/// `*slot` (may be NULL) gets its slot. A worker the pool already found
/// gone by itself (sampling in `wl_pool_tick`, `wl_pool_reap_dead`) is
/// answered with its slot once, with nothing more recorded. A pid no slot
/// holds is `WL_UNKNOWN_PID`. Thread-safe.
///
/// # Safety
///
/// - `slot` may be NULL (nothing is written there), else valid for writing one `u32`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_exited(
    pool: *const wl_pool,
    pid: u32,
    status: i32,
    slot: *mut u32,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        // Checked before the pool changes: a failing call changes nothing.
        let out = opt_out(slot, "slot")?;
        let s = check(p.pool.exited(pid, status))?;
        if let Some(out) = out {
            *out = s;
        }
        Ok(())
    })
}

/// Retires every slot whose process is gone (or whose pid now names another
/// process); their slots go into `slots` (room for `cap`), `*n` gets how
/// many were written. Slots that did not fit stay queued for the next call
/// (of this or `wl_pool_sample`), as with `wl_pool_tick`. Thread-safe.
///
/// # Safety
///
/// - `slots` may be NULL only when `cap` is 0, else valid for writing `cap` items of its type.
/// - `n` must not be NULL: valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_reap_dead(
    pool: *const wl_pool,
    slots: *mut u32,
    cap: usize,
    n: *mut usize,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        hand_out(
            &p.pending_gone,
            || p.pool.reap_dead(),
            slots,
            cap,
            n,
            "slots",
        )
    })
}

/// Samples every worker's memory and FDs from `/proc` now (also done by
/// `wl_pool_tick` every `sample_interval`): `*sampled` (may be NULL) gets
/// how many were read; the slots found gone (and retired) go into `gone`
/// (room for `cap`), `*n` gets how many were written, and those that did
/// not fit stay queued as with `wl_pool_reap_dead`: the same result as
/// Python's and Perl's `sample()`. Thread-safe.
///
/// # Safety
///
/// - `sampled` may be NULL (nothing is written there), else valid for writing one `u32`.
/// - `gone` may be NULL only when `cap` is 0, else valid for writing `cap` items of its type.
/// - `n` must not be NULL: valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_sample(
    pool: *const wl_pool,
    sampled: *mut u32,
    gone: *mut u32,
    cap: usize,
    n: *mut usize,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        let sampled = opt_out(sampled, "sampled")?;
        let sample = || {
            let report = p.pool.sample();
            if let Some(s) = sampled {
                *s = report.sampled;
            }
            report.gone
        };
        hand_out(&p.pending_gone, sample, gone, cap, n, "gone")
    })
}

/// Asks for a manual recycle of the worker in `slot`. Thread-safe.
#[no_mangle]
pub extern "C" fn wl_pool_recycle(pool: *const wl_pool, slot: u32) -> wl_result {
    guard(|| check(self::pool(pool)?.pool.recycle(slot)))
}

/// The current decision for `slot`, into `*decision`. Thread-safe.
///
/// # Safety
///
/// - `decision` must not be NULL: valid for writing one `wl_decision`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_decision(
    pool: *const wl_pool,
    slot: u32,
    decision: *mut wl_decision,
) -> wl_result {
    guard(|| {
        let d = check(self::pool(pool)?.pool.decision(slot))?;
        *out(decision, "decision")? = d.into();
        Ok(())
    })
}

/// What the master should do now: recycles and kills (each once per worker
/// generation and reason) and due respawns, written into `actions` (room
/// for `cap`); `*n` gets how many. Actions that did not fit are kept and
/// returned first by the next call, so call again while `*n == cap`.
/// Thread-safe.
///
/// # Safety
///
/// - `actions` may be NULL only when `cap` is 0, else valid for writing `cap` items of its type.
/// - `n` must not be NULL: valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_tick(
    pool: *const wl_pool,
    actions: *mut wl_pool_action,
    cap: usize,
    n: *mut usize,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        let tick = || {
            let mut fresh = Vec::new();
            p.pool.tick_into(&mut fresh);
            fresh
        };
        hand_out(&p.pending_actions, tick, actions, cap, n, "actions")
    })
}

/// Takes queued events, oldest first, into `events` (room for `cap`); `*n`
/// gets how many. Events that did not fit stay queued for the next call.
/// Thread-safe.
///
/// # Safety
///
/// - `events` may be NULL only when `cap` is 0, else valid for writing `cap` items of its type.
/// - `n` must not be NULL: valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_events(
    pool: *const wl_pool,
    events: *mut wl_event,
    cap: usize,
    n: *mut usize,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        hand_out(
            &p.pending_events,
            || p.pool.events(),
            events,
            cap,
            n,
            "events",
        )
    })
}

/// Writes the pool's stats as JSON into `buf` (`len` bytes); `*needed` (may
/// be NULL) gets the size needed, NUL included. A short buffer is
/// `WL_BUFFER_TOO_SMALL`; the text of a live pool can grow between two calls
/// (a counter gains a digit), so retry with room to spare. Thread-safe.
///
/// # Safety
///
/// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
/// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_stats_json(
    pool: *const wl_pool,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> wl_result {
    guard(|| write_str(&self::pool(pool)?.pool.stats_json(), buf, len, needed))
}

/// As `wl_pool_stats_json`, with only the slots a worker holds in
/// `per_slot` (vacant ones counted in `workers.vacant`): for views of large
/// pools, whose text then grows with their workers, not their slots.
///
/// # Safety
///
/// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
/// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_stats_json_occupied(
    pool: *const wl_pool,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        write_str(&p.pool.stats_json_occupied(), buf, len, needed)
    })
}

/// Writes the pool's stats in the Prometheus text format into `buf`, as
/// `wl_pool_stats_json` does.
///
/// # Safety
///
/// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
/// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_prometheus(
    pool: *const wl_pool,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> wl_result {
    guard(|| write_str(&self::pool(pool)?.pool.prometheus(), buf, len, needed))
}

/// Gives the pool a reading of its container, for a host that reads the
/// cgroup itself (or a test): the next `wl_pool_tick` takes it as the
/// master's own reading (`container_memory`). `working_set` must be known;
/// `limit` `WL_NO_READING` means none. Refused (`WL_INVALID_ARGUMENT`) with
/// nothing kept: an unknown working set, a pressure that is negative or
/// infinite. Thread-safe.
///
/// # Safety
///
/// - `reading` must not be NULL: valid for reading one `wl_container_reading`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_report_container(
    pool: *const wl_pool,
    reading: *const crate::types::wl_container_reading,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        let r = arg(reading, "reading")?;
        let known = |v: u64| (v < crate::types::WL_READING_UNSUPPORTED).then_some(v);
        let pressure = r.pressure_some_avg10;
        let bad = |why: &str| {
            Err(fail(
                wl_result::WL_INVALID_ARGUMENT,
                &format!("wl_pool_report_container: {why}"),
            ))
        };
        let Some(working_set) = known(r.working_set) else {
            return bad("the working set must be known");
        };
        if !(pressure.is_nan() || (pressure.is_finite() && pressure >= 0.0)) {
            return bad("the pressure must be NaN (unknown) or a finite number >= 0");
        }
        p.pool.report_container(workerlife::MemoryReading {
            limit: known(r.limit),
            usage: working_set,
            working_set,
            anon: known(r.anon),
            file: known(r.file),
            oom_kills: known(r.oom_kills),
            pressure_some_avg10: (!pressure.is_nan()).then_some(pressure),
        });
        Ok(())
    })
}

/// Reads this process's memory now as the workers' parent's, for memory
/// limits relative to it (`max_uss=3x`): call it once the app has booted
/// and before the first worker is forked. Without it the master's first
/// `wl_pool_tick` reads it. `out` (may be NULL) gets the reading
/// (`WL_NO_READING` where unknown). An unreadable `/proc` is an error and
/// leaves the relative limits waiting. Thread-safe.
///
/// # Safety
///
/// - `out` may be NULL (nothing is written there), else valid for writing one `wl_health`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_read_parent(
    pool: *const wl_pool,
    out: *mut wl_health,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        let out = opt_out(out, "out")?;
        let h = check(p.pool.read_parent())?;
        if let Some(out) = out {
            *out = wl_health {
                rss: h.rss.unwrap_or(WL_NO_READING),
                uss: h.uss.unwrap_or(WL_NO_READING),
                pss: h.pss.unwrap_or(WL_NO_READING),
                fds: h.fds.unwrap_or(WL_NO_READING),
            };
        }
        Ok(())
    })
}

/// Gives the pool a reading of the workers' parent `pid` (a host whose
/// workers' parent is another process, or a test): relative memory limits
/// resolve against it from now on. A field `WL_NO_READING` is not known
/// (its relative limit waits). Thread-safe.
///
/// # Safety
///
/// - `health` must not be NULL: valid for reading one `wl_health`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_report_parent(
    pool: *const wl_pool,
    pid: u32,
    health: *const wl_health,
) -> wl_result {
    guard(|| {
        let p = self::pool(pool)?;
        let h = arg(health, "health")?;
        let some = |v: u64| (v != WL_NO_READING && v != 0).then_some(v);
        p.pool.report_parent(
            pid,
            workerlife::Health {
                rss: some(h.rss),
                uss: some(h.uss),
                pss: some(h.pss),
                fds: some(h.fds),
            },
        );
        Ok(())
    })
}

/// Moves a manual-clock pool's time forward by `us` microseconds (tests). A
/// pool on the real clock is `WL_NOT_SUPPORTED`. Thread-safe.
#[no_mangle]
pub extern "C" fn wl_pool_advance(pool: *const wl_pool, us: u64) -> wl_result {
    guard(|| check(self::pool(pool)?.pool.advance(Duration::from_micros(us))))
}

/// The pool's time now, in microseconds since it was made, into `*us`.
///
/// # Safety
///
/// - `us` must not be NULL: valid for writing one `u64`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_now_us(pool: *const wl_pool, us: *mut u64) -> wl_result {
    guard(|| {
        let now = self::pool(pool)?.pool.now();
        *out(us, "us")? = u64::try_from(now.as_micros()).unwrap_or(u64::MAX);
        Ok(())
    })
}

/// When the next respawn held back by crash backoff is due: `*due` gets
/// whether there is one, `*us` how long until then. Thread-safe.
///
/// # Safety
///
/// - `due` must not be NULL: valid for writing one `bool`.
/// - `us` must not be NULL: valid for writing one `u64`.
#[no_mangle]
pub unsafe extern "C" fn wl_pool_next_spawn_in(
    pool: *const wl_pool,
    due: *mut bool,
    us: *mut u64,
) -> wl_result {
    guard(|| {
        let next = self::pool(pool)?.pool.next_spawn_in();
        let (due, us) = (out(due, "due")?, out(us, "us")?);
        *due = next.is_some();
        *us = next.map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        Ok(())
    })
}

/// The worker in `slot` exited with wait status `status` (for hosts that
/// know the slot rather than the pid). Thread-safe.
#[no_mangle]
pub extern "C" fn wl_pool_exited_slot(pool: *const wl_pool, slot: u32, status: i32) -> wl_result {
    guard(|| check(self::pool(pool)?.pool.exited_slot(slot, status)))
}
