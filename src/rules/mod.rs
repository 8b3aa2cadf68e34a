//! The rules: what a worker must do and why (`decision`), the slot
//! lifecycle, permits and decide (`core`), the policy's limits in rule
//! units (`limits`), growth estimates
//! (`growth`), per-generation jitter (`jitter`) and whether a slot's
//! process still lives (`liveness`).

pub(crate) mod core;
pub(crate) mod decision;
pub(crate) mod event;
pub(crate) mod growth;
pub(crate) mod jitter;
pub(crate) mod limits;
pub(crate) mod liveness;
