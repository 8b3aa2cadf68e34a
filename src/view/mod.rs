//! Read-only views of a pool: its stats (a struct, JSON, Prometheus text)
//! and `workerlife top`'s table.

pub(crate) mod stats;
pub mod top;
