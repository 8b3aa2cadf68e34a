//! Operating-system plumbing: the clocks, fork safety, memory cgroups, files another user
//! must not plant or change, and other processes (`/proc`, signals, orphan
//! ledgers, waiting for a pid or a port to be released). Nothing here knows
//! of policies, pools or workers.

pub mod cgroup;
pub(crate) mod clock;
pub(crate) mod files;
pub mod fork;
pub mod process;
