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

mod budget;
mod clock;
mod core;
mod decision;
mod error;
mod event;
mod files;
pub mod fork;
mod growth;
mod jitter;
mod layout;
mod names;
mod policy;
mod pool;
pub mod process;
mod region;
mod stats;
pub mod top;
mod units;
mod watchdog;
mod worker;

pub use clock::{coarse_ns as clock_ns_coarse, precise_ns as clock_ns_precise, ClockMode};
pub use decision::{Action, Decision, Reason};
pub use error::{Error, Result};
pub use event::{Event, EventKind};
pub use growth::{Growth, Metric};
pub use layout::{LAYOUT_VERSION, MAX_SLOTS, SLOT_BYTES};
pub use policy::{Key, Policy, Unit};
pub use pool::{ActionKind, Pool, PoolAction, PoolBuilder, SampleReport, EVENT_CAPACITY};
pub use region::Sharing;
pub use stats::{Histogram, SlotStats, Stats};
pub use watchdog::{Watchdog, WatchdogOptions};
pub use worker::{Health, Worker};
