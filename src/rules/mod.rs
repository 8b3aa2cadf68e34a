//! The rules: what a worker must do and why (`decision`), one file per
//! mechanism: pool time (`time`), the slot lifecycle (`lifecycle`),
//! `decide`, the permits (`permits`) and the `reasons`, with the `Core`
//! that holds the pool's memory and lends the parts they read (`shared`).
//! Beside them: the policy's limits in rule units (`limits`), growth
//! estimates (`growth`), per-generation jitter (`jitter`), whether a
//! slot's process still lives (`liveness`), the pool's events
//! (`event`), the dress rehearsal of rules that do not act
//! (`rehearsal`) and the copy-on-write sharing the workers keep
//! (`sharing`).

pub(crate) mod core;
pub(crate) mod decide;
pub(crate) mod decision;
pub(crate) mod event;
pub(crate) mod growth;
pub(crate) mod jitter;
pub(crate) mod lifecycle;
pub(crate) mod limits;
pub(crate) mod liveness;
pub(crate) mod permits;
pub(crate) mod reasons;
pub(crate) mod rehearsal;
pub(crate) mod shared;
pub(crate) mod sharing;
pub(crate) mod time;
