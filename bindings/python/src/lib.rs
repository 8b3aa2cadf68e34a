//! The private extension behind `import workerlife`. Thin: each class wraps
//! an engine type and converts arguments, results and errors; the rules
//! live in the `workerlife` crate.

mod errors;
mod policy;
mod pool;
mod records;
mod toolkit;
mod worker;

use pyo3::prelude::*;

#[pymodule]
fn _workerlife(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<policy::PyPolicy>()?;
    m.add_class::<pool::PyPool>()?;
    m.add_class::<worker::PyWorker>()?;
    m.add_class::<records::PyDecision>()?;
    m.add_class::<records::PyAction>()?;
    m.add_class::<records::PyEvent>()?;
    m.add_class::<records::PySample>()?;
    m.add_class::<toolkit::PyProcess>()?;
    m.add_class::<toolkit::PyLedger>()?;
    m.add_function(wrap_pyfunction!(toolkit::sample, m)?)?;
    m.add_function(wrap_pyfunction!(toolkit::identity, m)?)?;
    m.add_function(wrap_pyfunction!(toolkit::kill, m)?)?;
    m.add_function(wrap_pyfunction!(toolkit::wait_released, m)?)?;
    Ok(())
}
