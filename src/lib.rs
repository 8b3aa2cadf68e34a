//! workerlife decides when a server's worker processes must be recycled, why,
//! and how. Host servers report requests and health through [`Worker`]
//! handles; the master calls [`Pool::tick`] and acts on what it returns.
//!
//! ```
//! use workerlife::{Policy, Pool};
//! let policy = Policy::parse("max_requests=2").unwrap();
//! let pool = Pool::new(&policy, 1).unwrap();
//! let worker = pool.claim(std::process::id()).unwrap();
//! worker.begin();
//! assert!(!worker.end());
//! worker.begin();
//! assert!(worker.end(), "the second request trips max_requests=2");
//! assert_eq!(worker.decision().to_string(), "max_requests: 2 >= 2");
//! ```
//!
//! # A master and its workers
//!
//! The pool is made before `fork()` (`Pool::shared`), so that every worker
//! sees the same slots. The master calls [`Pool::tick`] every few tens of
//! milliseconds and does what it returns; a worker brackets each request
//! with [`Worker::begin`] and [`Worker::end`], and leaves when `end` says
//! so. Here the workers are stand-in processes (`sleep`), so the example
//! runs as it is:
//!
//! ```
//! use std::os::unix::process::ExitStatusExt;
//! use std::process::Command;
//! use workerlife::{process, ActionKind, Policy, Pool};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::parse("max_requests=1000,max_requests_jitter=100,max_rss=512MiB")?;
//! let pool = Pool::shared(&policy, 2)?;
//! let mut children = Vec::new();
//! for action in pool.tick() {
//!     match action.kind {
//!         ActionKind::Spawn => {
//!             // fork() and serve in the child; here another program.
//!             let child = Command::new("sleep").arg("30").spawn()?;
//!             pool.spawned(action.slot, child.id())?;
//!             children.push(child);
//!         }
//!         // Signals go to the pid and start time the master recorded,
//!         // never to a pid taken from shared memory (see `process::signal`).
//!         ActionKind::Recycle => {
//!             let _ = process::signal(action.pid, action.identity, 15); // SIGTERM
//!         }
//!         ActionKind::Kill => {
//!             let _ = process::signal(action.pid, action.identity, 9); // SIGKILL
//!         }
//!     }
//! }
//! assert_eq!(children.len(), 2, "an empty pool starts a worker per slot");
//!
//! // In a worker, for each request (slot 0's handle, taken here):
//! let worker = pool.worker(0)?;
//! worker.begin();
//! /* serve */
//! let must_exit = worker.end(); // true: finish the response, then exit
//! assert!(!must_exit);
//!
//! // The master reports each exit after `waitpid`, with its status:
//! // an exit nobody asked for counts as a crash.
//! for mut child in children {
//!     child.kill()?;
//!     let status = child.wait()?;
//!     let slot = pool.exited(child.id(), status.into_raw())?;
//!     assert!(slot < 2);
//! }
//! assert_eq!(pool.stats().crashes, 2);
//! # Ok(())
//! # }
//! ```
//!
//! The exit of a child the master reported is the host's to report, with
//! its wait status: that status is how an exit is told a crash or not.
//! While the child is a zombie the pool waits for the report. Once the host
//! has reaped it (sampling finds it gone), the pool waits 2 s more, because
//! a host that ticks on another thread, as the gunicorn hook does, may
//! sample between its `waitpid` and its report. After that the slot is
//! retired without a status. A late report is still answered with its slot,
//! once.
//!
//! # Where a pool lives
//!
//! In private memory ([`Pool::new`]), in shared memory made before `fork()`
//! ([`Pool::shared`]), or in a named file ([`Pool::create`]) that workers
//! started with `exec` attach ([`Pool::attach`]; [`Pool::open`] makes it or
//! attaches it, whichever applies):
//!
//! ```
//! use workerlife::{Policy, Pool};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("wl-doc-{}", std::process::id()));
//! std::fs::create_dir(&dir)?;
//! let path = dir.join("pool");
//! let policy = Policy::parse("max_requests=100")?;
//! let master = Pool::create(&path, &policy, 4)?;
//! // In a worker started with exec (another process: same file, same slots):
//! let attached = Pool::attach(&path)?;
//! assert_eq!(attached.slot_count(), 4);
//! assert_eq!(attached.policy().to_string(), master.policy().to_string());
//! // Another live maker at the path is refused (EEXIST); the file is kept.
//! assert!(Pool::create(&path, &policy, 4).is_err());
//! drop(attached);
//! drop(master); // the maker removes its file
//! assert!(!path.exists());
//! std::fs::remove_dir(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! Named files are made whole under an unpredictable temporary name (`0600`,
//! `O_EXCL | O_NOFOLLOW`) and then linked at the path, so nobody sees one
//! half made. Every process that made or attached a pool file holds a shared
//! lock on it (an open file description lock, dropped by the kernel when the
//! process dies). So a file at the path that no live process holds (its
//! maker was SIGKILLed or OOM-killed) is stale and `create` makes it anew. A
//! file that a live process holds is refused (`EEXIST`, "a live process
//! holds the one there"), and so is a file that is not a workerlife pool, a
//! symlink, or a file another user owns or can write; each is left as it
//! is. The maker removes the file when it drops its pool handle, even while
//! worker handles or a watchdog thread keep the memory. If the maker never
//! drops the handle, the file is removed when the process exits normally
//! (an `atexit` handler). Attaching checks the magic, layout version, sizes
//! and a header checksum: a truncated, extended or corrupted file is an
//! error naming what is wrong (another layout version: `layout version 11
//! (made by workerlife 0.2.0; this library, workerlife 0.1.0, reads 10)`).
//!
//! A pool file is one format for every language: a file made from Rust, C,
//! Python or Perl is attached and used from each of the others, with the
//! same decisions and stats. A worker that takes a slot by number
//! ([`Pool::worker`]) that nobody started starts its generation for the
//! calling process, as if its master had reported it with
//! `spawned(slot, getpid())` (the master's later report of that pid takes it
//! on): its requests always count under limits. So a master reporting for
//! its workers (health checks) takes a slot's handle after `spawned()`, not
//! on a slot that may be vacant, which it would take for itself.
//!
//! # Layout
//!
//! The crate is in layers, each using only those before it, and no two
//! files of one folder use each other (a test, `tests/layers.rs`, holds
//! every file to both):
//!
//! 1. `error`, `names`, `units`: the vocabulary (errors, named enums, sizes
//!    and durations in text);
//! 2. `os`: operating-system plumbing (clocks, fork safety, trusted files,
//!    other processes: `/proc`, signals, ledgers);
//! 3. `policy`: the policy, its keys and their limits;
//! 4. `table`: the shared table (every shared-memory word format, the
//!    mapping, the rolling budget's word);
//! 5. `rules`: one file per mechanism: the pool's clock, the policy's
//!    limits in rule units, the slot lifecycle, decide and its reasons,
//!    permits, growth, jitter, whether a slot's process lives;
//! 6. `worker`: a worker's handle and its watchdog;
//! 7. `host`: the host contract (what a server can carry out, checked
//!    against the policy) and the chores every host's master shares;
//! 8. `pool`: the pool and the master's supervision of it: its record of
//!    each slot, sampling, the container, surge, crash backoff, events;
//! 9. `view`: read-only views (stats, the stats endpoint, `workerlife top`).

mod error;
mod names;
mod units;

mod os;

mod policy;

mod table;

mod rules;

mod worker;

pub mod host;

mod pool;

mod view;

pub use os::cgroup::MemoryReading;
pub use os::{cgroup, fork, process};
pub use view::advise;
pub use view::serve::MetricsServer;
pub use view::top;

pub use error::{Error, Result};
pub use host::{Caps, Host};
pub use os::clock::{coarse_ns as clock_ns_coarse, precise_ns as clock_ns_precise, ClockMode};
pub use policy::{
    Key, Policy, Unit, CONTAINER_AUTO, ENFORCE_ALL, HEADROOM_PERCENT, RELATIVE_LIMIT,
};
pub use pool::{ActionKind, Adopted, Pool, PoolAction, PoolBuilder, SampleReport, EVENT_CAPACITY};
pub use rules::decision::{Action, Decision, Reason};
pub use rules::event::{Event, EventKind, Severity};
pub use rules::growth::{Growth, Metric};
pub use table::layout::{LAYOUT_VERSION, MAX_SLOTS, SLOT_BYTES, TICKETS};
pub use table::region::Sharing;
pub use view::stats::{ContainerStats, Histogram, LimitStats, ParentStats, SlotStats, Stats};
pub use worker::watchdog::{Watchdog, WatchdogOptions};
pub use worker::{Health, Ticket, Worker};
