//! `workerlife.Worker`: one worker's handle on its slot. Its methods only
//! touch atomics in the pool's memory; none allocates on the Rust side.

use crate::errors::OrRaise;
use crate::records::{PyDecision, PySample};
use pyo3::prelude::*;
use workerlife::Health;

/// A worker's handle on its slot. Usable from any thread, and in a child
/// forked after it was made.
#[pyclass(frozen, module = "workerlife", name = "Worker")]
pub struct PyWorker {
    pub inner: workerlife::Worker,
}

#[pymethods]
impl PyWorker {
    /// The slot index.
    #[getter]
    fn slot(&self) -> u32 {
        self.inner.index()
    }

    /// Requests served in this generation.
    #[getter]
    fn requests(&self) -> u64 {
        self.inner.requests()
    }

    /// A request starts; True when it should be the last this worker takes
    /// (it reaches max_requests): accept nothing new, finish, then leave.
    fn begin(&self) -> bool {
        self.inner.begin()
    }

    /// A request ended; True when the worker should exit now.
    fn end(&self) -> bool {
        self.inner.end()
    }

    /// `with worker.request():` wraps begin/end; afterwards `must_exit`
    /// says whether to leave. Returns the worker itself (nothing allocated).
    fn request<'py>(slf: &Bound<'py, Self>) -> Bound<'py, Self> {
        slf.clone()
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> Bound<'py, Self> {
        slf.get().inner.begin();
        slf.clone()
    }

    #[pyo3(signature = (_exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.inner.end();
        false
    }

    /// True when the worker should stop taking requests.
    #[getter]
    fn must_exit(&self) -> bool {
        self.inner.decision().must_exit()
    }

    /// The worker is alive (for heartbeat_timeout while idle).
    fn heartbeat(&self) {
        self.inner.heartbeat();
    }

    /// The worker's own readings, in bytes and a count; None leaves a
    /// reading as it was.
    #[pyo3(signature = (rss=None, uss=None, pss=None, fds=None))]
    fn report_health(
        &self,
        rss: Option<u64>,
        uss: Option<u64>,
        pss: Option<u64>,
        fds: Option<u64>,
    ) {
        self.inner.report_health(Health { rss, uss, pss, fds });
    }

    /// Reads this process's RSS and FDs (and USS/PSS with uss=True) from
    /// /proc, reports them, and returns the sample.
    #[pyo3(signature = (uss=false))]
    fn sample_self(&self, py: Python<'_>, uss: bool) -> PyResult<PySample> {
        let inner = py.detach(|| self.inner.sample_self(uss)).or_raise(py)?;
        Ok(PySample { inner })
    }

    /// For servers with no master to sample them: whether sample_interval
    /// has passed since this handle last found it due (every second, sampling
    /// nothing, when it is 0); when it has, and the policy limits memory or
    /// FDs, this process samples itself and reports the readings.
    fn sample_if_due(&self, py: Python<'_>) -> PyResult<bool> {
        py.detach(|| self.inner.sample_if_due()).or_raise(py)
    }

    /// One health check's result: failures in a row count toward
    /// max_health_failures; an ok resets them.
    fn check(&self, ok: bool) {
        self.inner.check(ok);
    }

    /// What this worker should do now.
    fn decision(&self) -> PyDecision {
        PyDecision {
            inner: self.inner.decision(),
        }
    }

    /// Marks the worker as leaving, so its recycle permit returns at once.
    fn exiting(&self) {
        self.inner.exiting();
    }

    fn __repr__(&self) -> String {
        format!(
            "<Worker slot={} requests={}>",
            self.inner.index(),
            self.inner.requests()
        )
    }
}
