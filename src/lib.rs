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
//! # Layout
//!
//! The crate is in layers, each using only those before it (a test,
//! `tests/layers.rs`, holds every file to it):
//!
//! 1. `error`, `names`, `units`: the vocabulary (errors, named enums, sizes
//!    and durations in text);
//! 2. `os`: operating-system plumbing (clocks, fork safety, trusted files,
//!    other processes: `/proc`, signals, ledgers);
//! 3. `policy`: the policy, its keys and their limits;
//! 4. `table`: the shared table (every shared-memory word format, the
//!    mapping, the rolling budget's word);
//! 5. `rules`: decisions and reasons, the slot lifecycle, permits, growth,
//!    jitter, whether a slot's process lives;
//! 6. `worker`: a worker's handle and its watchdog;
//! 7. `pool`: the pool and its supervision (surge, sampling, events);
//! 8. `view`: read-only views (stats, `workerlife top`).

mod error;
mod names;
mod units;

mod os;

mod policy;

mod table;

mod rules;

mod worker;

mod pool;

mod view;

pub use os::{fork, process};
pub use view::top;

pub use error::{Error, Result};
pub use os::clock::{coarse_ns as clock_ns_coarse, precise_ns as clock_ns_precise, ClockMode};
pub use policy::{Key, Policy, Unit};
pub use pool::event::{Event, EventKind};
pub use pool::{ActionKind, Pool, PoolAction, PoolBuilder, SampleReport, EVENT_CAPACITY};
pub use rules::decision::{Action, Decision, Reason};
pub use rules::growth::{Growth, Metric};
pub use table::layout::{LAYOUT_VERSION, MAX_SLOTS, SLOT_BYTES};
pub use table::region::Sharing;
pub use view::stats::{Histogram, SlotStats, Stats};
pub use worker::watchdog::{Watchdog, WatchdogOptions};
pub use worker::{Health, Worker};
