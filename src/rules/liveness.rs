//! Whether a slot's process still lives: what a claim, a take-back, the
//! master and the watchdogs ask before they retire a slot or take its
//! permit.

use crate::os::process::{self, Liveness};
use crate::table::layout::{state, GenState, Slot};
use std::sync::atomic::Ordering::{Acquire, Relaxed};

/// An occupied slot whose process is gone, or whose pid now names another
/// process (costs a `kill(pid, 0)` and a `/proc` read). A dead worker not
/// yet reaped (a zombie) is not: its parent reaps it soon, and when that is
/// a master of ours it reports the exit, with the status.
pub(crate) fn holds_dead_process(slot: &Slot) -> bool {
    let pid = slot.pid.load(Relaxed);
    let identity = slot.identity.load(Relaxed);
    GenState::unpack(slot.gen_state.load(Acquire)).state != state::VACANT
        && process::liveness(pid, identity) == Liveness::Gone
        && !process::identity::zombie_of(pid, identity)
}
