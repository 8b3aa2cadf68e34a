//! Read-only views of a pool: its stats (a struct, JSON, Prometheus text),
//! the endpoint that serves them, and `workerlife top`'s table.

pub mod serve;
pub(crate) mod stats;
pub mod top;
