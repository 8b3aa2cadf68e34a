//! `workerlife.AdviseSeries`: the library's `advise` analysis (see
//! `workerlife::advise`) for `python -m workerlife advise`, which watches,
//! saves and reads the series itself and prints what this returns: the
//! same report as the `workerlife` binary's.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use workerlife::advise::{self, Series, Target};

/// A series of stats documents and the advice from it.
#[pyclass(module = "workerlife", name = "AdviseSeries")]
pub struct PyAdviseSeries {
    inner: Series,
}

#[pymethods]
impl PyAdviseSeries {
    #[new]
    fn new() -> Self {
        PyAdviseSeries {
            inner: Series::new(),
        }
    }

    /// Adds one stats document (JSON text); ValueError saying what is wrong
    /// with it (the caller names the file and line), and nothing added.
    fn push(&mut self, stats_json: &str) -> PyResult<()> {
        self.inner
            .push_json(stats_json)
            .map_err(PyValueError::new_err)
    }

    /// Documents taken in.
    #[getter]
    fn samples(&self) -> usize {
        self.inner.samples()
    }

    /// The report and its exit status (0, or `EXIT_NOT_YET` when it cannot
    /// tell yet), for a target: `max_worker` bytes, or `container` bytes
    /// with an optional `workers`; ValueError for a target that is not one.
    #[pyo3(signature = (source, max_worker=None, container=None, workers=None))]
    fn report(
        &self,
        source: &str,
        max_worker: Option<u64>,
        container: Option<u64>,
        workers: Option<u32>,
    ) -> PyResult<(u8, String)> {
        let target = Target::of(max_worker, container, workers).map_err(PyValueError::new_err)?;
        Ok(advise::report(&self.inner, target, source))
    }

    /// A size as `--max-worker` and `--container` take it, in bytes.
    #[staticmethod]
    fn size(text: &str) -> PyResult<u64> {
        advise::parse_size(text).map_err(PyValueError::new_err)
    }

    /// A duration as `--for` and `--interval` take it, in seconds.
    #[staticmethod]
    fn seconds(text: &str) -> PyResult<f64> {
        advise::parse_seconds(text).map_err(PyValueError::new_err)
    }

    /// The exit status when it cannot tell yet.
    #[classattr]
    const EXIT_NOT_YET: u8 = advise::EXIT_NOT_YET;

    fn __repr__(&self) -> String {
        format!("<AdviseSeries of {} samples>", self.inner.samples())
    }
}
