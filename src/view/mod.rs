//! Read-only views of a pool: its stats (a struct, JSON, Prometheus text),
//! the endpoint that serves them, `workerlife top`'s table and
//! `workerlife advise`'s analysis of a series of stats.

pub mod advise;
pub mod serve;
pub(crate) mod stats;
pub mod top;
