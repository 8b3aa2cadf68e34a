//! The worker's own watchdog: a native thread that carries out kill
//! decisions where no master of ours runs (uvicorn's supervisor, Starman,
//! Starlet), and frees what dead workers held.
//!
//! It needs no interpreter lock, and the only lock it takes is the one
//! guarding this process's own `/proc` files while it samples itself, which
//! no host code holds; so a worker stuck in C code or in a loop holding
//! Python's GIL is still ended at `request_timeout`. It signals only its own process: a kill decision for
//! its slot ends it (SIGKILL, after a line on stderr), and, when asked, a
//! granted recycle sends it the server's graceful signal once; a rule
//! rehearsed (`enforce`) gets its `would_*` line, once, where no master of
//! ours runs to file it. It also
//! samples its process every `sample_interval`, and retires the slots of
//! workers found gone at two looks a second apart, so that no permit waits
//! for ever on a worker that died without saying so.

use crate::error::{Error, Result};
use crate::os::fork::OwnThread;
use crate::rules::decision::{Action, Decision};
use crate::rules::event::Event;
use crate::rules::rehearsal::{reasons, Marks};
use crate::table::layout::{state, GenState};
use crate::worker::Worker;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Arc;
use std::time::Duration;

/// How a watchdog acts; `Default` is kills only, at the derived interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchdogOptions {
    /// The signal to send the process once when its recycle is granted (the
    /// server's graceful exit: SIGTERM for uvicorn, SIGQUIT for Starman's
    /// children); `None` leaves recycles to the host.
    pub recycle_signal: Option<i32>,
    /// Time between two looks at the slot; `None`: a tenth of the shortest
    /// of `request_timeout` and `heartbeat_timeout`, within 10 ms..100 ms
    /// (100 ms when neither is set).
    pub interval: Option<Duration>,
}

/// How often a watchdog looks for dead workers (µs).
const REAP_EVERY: u64 = 1_000_000;

/// A running watchdog. Stopped (and joined) by `stop` or when dropped,
/// unless `detach`ed (then it runs as long as the process); in a forked
/// child, which does not have the thread, both do nothing.
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: OwnThread,
}

struct Shared {
    stop: AtomicBool,
    /// Generation whose recycle was already signalled, plus one (0: none).
    signalled: AtomicU32,
}

impl Watchdog {
    pub(crate) fn start(worker: Worker, options: WatchdogOptions) -> Result<Watchdog> {
        if let Some(sig) = options.recycle_signal {
            if !(1..=64).contains(&sig) || sig == libc::SIGKILL || sig == libc::SIGSTOP {
                return Err(Error::InvalidArgument(format!(
                    "recycle_signal {sig}: expected a catchable signal number (1..=64, not SIGKILL or SIGSTOP)"
                )));
            }
        }
        let interval = match options.interval {
            Some(d) if d.is_zero() || d > Duration::from_secs(60) => {
                return Err(Error::InvalidArgument(format!(
                    "watchdog interval {d:?}: expected more than 0 and at most 60 s"
                )))
            }
            Some(d) => d,
            None => default_interval(&worker),
        };
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            signalled: AtomicU32::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("workerlife-watchdog".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let mut reap = Reap::default();
                let mut said = Said::default();
                while !s.stop.load(Acquire) {
                    // Nothing in the shared table may end the guard: a round
                    // that panics (a bug, or a slot no writer of ours made)
                    // is skipped, and the next one runs.
                    let round = std::panic::AssertUnwindSafe(|| {
                        watch(&worker, options.recycle_signal, &s, &mut reap, &mut said)
                    });
                    let _ = std::panic::catch_unwind(round);
                    std::thread::park_timeout(interval);
                }
            })
            .map_err(|e| Error::io("starting the watchdog thread", e))?;
        Ok(Watchdog {
            shared,
            thread: OwnThread::new(thread),
        })
    }

    /// Looks at the slot now rather than at the next interval (after a
    /// request that said the worker should leave, say).
    pub fn wake(&self) {
        if let Some(t) = self.thread.here() {
            t.thread().unpark();
        }
    }

    /// Whether the thread runs (in this process).
    pub fn running(&self) -> bool {
        self.thread.here().is_some_and(|t| !t.is_finished())
    }

    /// Lets the thread run on for the life of the process, with no handle
    /// left to stop it (what a binding does when its object is collected:
    /// `worker.watchdog()` with the result unused still guards the worker).
    pub fn detach(mut self) {
        self.thread.detach();
    }

    /// Stops the thread and waits for it (a round takes microseconds).
    pub fn stop(&mut self) {
        let shared = &self.shared;
        self.thread.stop(|t| {
            shared.stop.store(true, Release);
            t.thread().unpark();
        });
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog")
            .field("running", &self.running())
            .finish()
    }
}

fn default_interval(worker: &Worker) -> Duration {
    let l = &worker.core().limits;
    let shortest = [l.request_timeout, l.heartbeat_timeout]
        .into_iter()
        .filter(|t| *t > 0)
        .min();
    Duration::from_micros(shortest.map_or(100_000, |t| (t / 10).clamp(10_000, 100_000)))
}

/// What the watchdog remembers between its looks for dead workers.
#[derive(Default)]
struct Reap {
    /// Pool time of the last look (None: none yet, so the first is at
    /// the watchdog's start).
    last: Option<u64>,
    /// Slots (and their generation) found holding a dead process at the last
    /// look: retired if still so at the next.
    suspects: Vec<(u32, u32)>,
}

/// The rules rehearsed (`enforce`) whose line the watchdog wrote: a bit
/// per reason code, for one generation.
#[derive(Default)]
struct Said {
    generation: u32,
    marks: Marks,
}

/// One look at the slot.
fn watch(
    worker: &Worker,
    recycle_signal: Option<i32>,
    shared: &Shared,
    reap: &mut Reap,
    said: &mut Said,
) {
    let core = worker.core();
    let me = std::process::id();
    let now = core.now();
    let slot = worker.slot();
    let gs = GenState::unpack(slot.gen_state.load(Acquire));
    // Only the slot this process holds is ours to act on.
    if gs.state != state::VACANT && slot.pid.load(Relaxed) == me {
        // Sampled whether or not a master samples it too: whether a master is
        // present is not taken from a word any worker can write (an
        // unreadable /proc leaves the last readings, tried again next time).
        let _ = worker.sample_if_due();
        let d = worker.decision();
        match d.action {
            Action::Kill => {
                say(worker, d);
                worker.exiting_because(d.reason, false);
                // SAFETY: signalling our own process.
                unsafe { libc::kill(me as libc::pid_t, libc::SIGKILL) };
            }
            Action::Recycle => {
                if let Some(sig) = recycle_signal {
                    let mark = gs.generation.wrapping_add(1).max(1);
                    if shared.signalled.swap(mark, Relaxed) != mark {
                        say(worker, d);
                        // SAFETY: signalling our own process.
                        unsafe { libc::kill(me as libc::pid_t, sig) };
                    }
                }
            }
            Action::Continue => say_would(worker, d, gs.generation, said),
        }
    }
    if reap
        .last
        .map_or(true, |last| now < last || now - last >= REAP_EVERY)
    {
        reap.last = Some(now);
        if core.limits.wants_parent() {
            read_parent(core, now);
        }
        // A worker dead at two looks a second apart is retired (which
        // frees its slot and, once the next worker there serves, its
        // permit): a master of ours reports its children's exits well
        // within that, so the two never retire the same worker.
        let before = std::mem::take(&mut reap.suspects);
        for (i, s) in core.slots().iter().enumerate() {
            if i as u32 == worker.index() || !crate::rules::liveness::holds_dead_process(s) {
                continue;
            }
            let generation = GenState::unpack(s.gen_state.load(Acquire)).generation;
            if before.contains(&(i as u32, generation)) {
                core.retire(i as u32, now);
            } else if reap.suspects.len() < MAX_SUSPECTS {
                reap.suspects.push((i as u32, generation));
            }
        }
    }
}

/// Limits relative to the parent (`max_uss=3x`) where no master of ours
/// reads its own process (uvicorn's supervisor, Starman's master): the
/// worker's parent, read once, and again if the worker finds another
/// parent (a new one; not init, which adopts orphans). A master of ours is
/// its workers' parent and has put its own pid there.
fn read_parent(core: &crate::rules::core::Core, now: u64) {
    // SAFETY: getppid has no preconditions.
    let ppid = unsafe { libc::getppid() };
    let Ok(ppid) = u32::try_from(ppid) else {
        return;
    };
    let words = &core.header().parent;
    let seen = words.pid.load(Relaxed);
    // One worker of the pool reads it (the others find the pid there).
    if ppid <= 1
        || seen == u64::from(ppid)
        || words
            .pid
            .compare_exchange(seen, u64::from(ppid), Relaxed, Relaxed)
            .is_err()
    {
        return;
    }
    // Only RSS: read after the fork, the parent's unique and proportional
    // memory are shared with its workers now (a 59 MiB app's master had a
    // USS of 3 MiB), so a multiple of them would recycle every worker;
    // max_uss/max_pss multiples wait for a master that reads itself
    // before it forks.
    if let Ok(sample) = crate::os::process::sample(ppid, false) {
        let h = crate::os::process::Health {
            rss: sample.rss.value(),
            ..Default::default()
        };
        words.store(ppid, h, now);
        // Said, since it is not the process a master of ours would read.
        let mut line = Line::default();
        let _ = writeln!(
            line,
            "workerlife: relative memory limits read the workers' parent, pid {ppid}, after it forked (no master of workerlife runs): rss={}; max_uss and max_pss multiples wait (its unique memory is shared with the workers now)",
            crate::units::HumanSize(h.rss.unwrap_or(0))
        );
        let bytes = &line.buf[..line.len];
        // SAFETY: writing our own buffer to fd 2.
        unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
    }
}

/// The most dead workers one look remembers (their slots are retired at the
/// next look; any more, at a later one).
const MAX_SUSPECTS: usize = 64;

/// The event line of what the watchdog does (`killed ...` before its
/// SIGKILL, `recycle_requested ...` before its recycle signal), the line
/// every master logs, on stderr: written with no lock and no allocation (a
/// decision's sizes are written by `HumanSize` in place; the growth, whose
/// text allocates, is left out): the thread it runs beside may hold any
/// lock there is, the allocator's included.
/// Rules rehearsed (`enforce`) that tripped in this generation: a
/// `would_*` line for each, once (no master of ours files them here). The
/// slot's marks count too, for a rule another look tripped (an event
/// loop's `overdue`); the figures come with the decision when it shows the
/// same reason.
fn say_would(worker: &Worker, d: Decision, generation: u32, said: &mut Said) {
    if said.generation != generation {
        *said = Said {
            generation,
            ..Said::default()
        };
    }
    let due = said.marks.due(worker.slot(), &d);
    if due == 0 {
        return;
    }
    if master_runs(worker) {
        // A master of ours files these as events in its own log; looked at
        // again while it does not (it stops running rounds).
        return;
    }
    said.marks.said(due);
    for r in reasons(due) {
        let ev = if d.reason == Some(r) {
            worker.event_for(d)
        } else {
            Some(worker.would_event(r))
        };
        if let Some(ev) = ev {
            write_line(ev);
        }
    }
}

/// Whether a master of ours runs rounds: the process that last ran one did
/// so within `MASTER_LATELY` and is alive, and is not this one (a word any
/// worker can write: it decides only which log a line goes to). A master
/// that runs a round only when a worker starts or exits (Unicorn's hooks)
/// would file a rehearsal late or never: the watchdog says it.
fn master_runs(worker: &Worker) -> bool {
    let core = worker.core();
    let word = core.header().master_pid.load(Relaxed);
    let (pid, at_ms) = (word as u32, (word >> 32) as u32);
    let now_ms = (core.now() / 1_000) as u32;
    if now_ms.wrapping_sub(at_ms) > MASTER_LATELY_MS {
        return false;
    }
    match pid {
        pid if pid > 0 && pid != std::process::id() => {
            // SAFETY: signal 0 only checks that the process exists.
            let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
            // A root master of a worker that dropped privileges: EPERM.
            r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }
        _ => false,
    }
}

/// How lately a master's round must have run for the watchdog to leave
/// its lines to it (masters tick every few tens of milliseconds).
const MASTER_LATELY_MS: u32 = 2_000;

fn say(worker: &Worker, d: Decision) {
    if let Some(ev) = worker.event_for(d) {
        write_line(ev);
    }
}

fn write_line(mut ev: Event) {
    ev.growth = None;
    let mut line = Line::default();
    let _ = writeln!(line, "workerlife: {ev}");
    let bytes = &line.buf[..line.len];
    // SAFETY: writing our own buffer to fd 2.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

struct Line {
    buf: [u8; 512],
    len: usize,
    cut: bool,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            buf: [0; 512],
            len: 0,
            cut: false,
        }
    }
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.cut {
            return Ok(());
        }
        // A line too long is cut, keeping room for its newline.
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            self.buf[self.len] = b'\n';
            self.len += 1;
            self.cut = true;
        }
        Ok(())
    }
}
