//! The private extension behind `import workerlife`. Thin: each class wraps
//! an engine type and converts arguments, results and errors; the rules
//! live in the `workerlife` crate.

mod advise;
mod errors;
mod host;
mod metrics;
mod policy;
mod pool;
mod records;
mod toolkit;
mod worker;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::time::Duration;

/// The longest wait or step any call takes, in seconds (about 31 years):
/// more is a mistake, not a wish to wait forever.
const MAX_SECONDS: f64 = 1e9;

/// Seconds from Python as a Duration; ValueError naming `what` otherwise.
pub(crate) fn seconds(secs: f64, what: &str) -> PyResult<Duration> {
    if secs <= MAX_SECONDS {
        if let Ok(d) = Duration::try_from_secs_f64(secs) {
            return Ok(d);
        }
    }
    Err(PyValueError::new_err(format!(
        "{what} must be a finite number of seconds between 0 and {MAX_SECONDS:e}, not {secs}"
    )))
}

/// The names of every enum that crosses a language line, each in number
/// order, from the engine's one table of it.
fn tables(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    use workerlife::{Action, ActionKind, Caps, EventKind, Reason, Severity, Sharing};
    let t = pyo3::types::PyDict::new(py);
    t.set_item(
        "action",
        Action::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
    )?;
    t.set_item(
        "reason",
        Reason::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
    )?;
    t.set_item(
        "pool_action",
        ActionKind::ALL
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>(),
    )?;
    t.set_item(
        "event",
        EventKind::ALL
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>(),
    )?;
    t.set_item(
        "sharing",
        Sharing::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
    )?;
    t.set_item(
        "severity",
        Severity::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
    )?;
    t.set_item(
        "capability",
        Caps::NAMED.iter().map(|(_, n, _)| *n).collect::<Vec<_>>(),
    )?;
    Ok(t)
}

#[pymodule]
fn _workerlife(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("TABLES", tables(m.py())?)?;
    m.add("TICKET_LAST", workerlife::Ticket::LAST)?;
    m.add("TICKETS", workerlife::TICKETS)?;
    m.add_class::<policy::PyPolicy>()?;
    m.add_class::<host::PyHost>()?;
    m.add_class::<pool::PyPool>()?;
    m.add_class::<metrics::PyMetricsServer>()?;
    m.add_class::<worker::PyWorker>()?;
    m.add_class::<worker::PyWatchdog>()?;
    m.add_class::<records::PyDecision>()?;
    m.add_class::<records::PyAction>()?;
    m.add_class::<records::PyEvent>()?;
    m.add_class::<records::PySample>()?;
    m.add_class::<toolkit::PyProcess>()?;
    m.add_class::<toolkit::PyLedger>()?;
    m.add_class::<advise::PyAdviseSeries>()?;
    m.add_function(wrap_pyfunction!(toolkit::sample, m)?)?;
    m.add_function(wrap_pyfunction!(toolkit::identity, m)?)?;
    m.add_function(wrap_pyfunction!(toolkit::kill, m)?)?;
    m.add_function(wrap_pyfunction!(toolkit::wait_released, m)?)?;
    m.add_function(wrap_pyfunction!(toolkit::render_top, m)?)?;
    Ok(())
}
