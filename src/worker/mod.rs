//! The worker side: a worker's handle on its slot (`handle`: requests,
//! health, decisions) and its watchdog thread (`watchdog`: kills and
//! recycles where no master acts).

mod handle;
pub(crate) mod watchdog;

pub use crate::os::process::Health;
pub(crate) use handle::{over_limits, store_health};
pub use handle::{Ticket, Worker};
