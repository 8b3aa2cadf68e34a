//! The process toolkit: which process a pid really is, identity-checked
//! signals, current memory and FD readings from `/proc`, the orphan ledger
//! and release waits. Linux reads `/proc`; elsewhere readings are marked
//! unsupported.

pub(crate) mod identity;
mod ledger;
mod procfs;
mod release;
mod sample;

pub use identity::{identity, liveness, signal, Liveness, SignalRefused};
pub use ledger::{Entry, Ledger, ReapOutcome, Reaped};
pub use release::{wait_released, Held};
pub use sample::{sample, sample_self, Health, ProcHandle, Reading, Sample};
