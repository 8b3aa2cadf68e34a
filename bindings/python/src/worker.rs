//! `workerlife.Worker`: one worker's handle on its slot. Its methods only
//! touch atomics in the pool's memory; none allocates on the Rust side.

use crate::errors::OrRaise;
use crate::records::{PyDecision, PySample};
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};
use std::sync::Mutex;
use workerlife::{Health, Ticket, TICKETS};

/// A ticket from Python: an int from 0 to 2^64 - 1, never a bool (True
/// would be ticket 1); TypeError or OverflowError otherwise, naming it.
fn ticket_of(v: &Bound<'_, PyAny>) -> PyResult<Ticket> {
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "a ticket is the int begin_ticket() returned, not {}",
            v.get_type().name()?
        )));
    }
    v.extract::<u64>().map(Ticket::from_raw).map_err(|_| {
        PyOverflowError::new_err(format!(
            "ticket {v} is out of range: begin_ticket() returns an int from 0 to 2**53"
        ))
    })
}

/// A worker's running watchdog (see `Worker.watchdog`). Stopped by `stop()`
/// or by leaving its `with` block; an object collected unstopped leaves the
/// thread running for the life of the process.
#[pyclass(frozen, module = "workerlife", name = "Watchdog")]
pub struct PyWatchdog {
    inner: Mutex<Option<workerlife::Watchdog>>,
}

impl Drop for PyWatchdog {
    fn drop(&mut self) {
        let dog = self
            .inner
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(dog) = dog {
            dog.detach();
        }
    }
}

#[pymethods]
impl PyWatchdog {
    /// Look at the slot now rather than at the next interval.
    fn wake(&self) {
        if let Some(d) = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            d.wake();
        }
    }

    /// Whether the thread runs in this process (a forked child does not
    /// have its parent's).
    #[getter]
    fn running(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|d| d.running())
    }

    /// Stops the thread and waits for it (microseconds). Idempotent.
    fn stop(&self, py: Python<'_>) {
        let dog = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        py.detach(move || drop(dog));
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> Bound<'py, Self> {
        slf.clone()
    }

    #[pyo3(signature = (_exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.stop(py);
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "<Watchdog running={}>",
            if self.running() { "True" } else { "False" }
        )
    }
}

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

    /// A request starts, with a ticket of its own to give back to
    /// `end_ticket` (from any thread): the slot times each request in flight
    /// on its own. `ticket & TICKET_LAST` says it should be the last this
    /// worker takes (max_requests). Past TICKETS in flight a request is
    /// counted, not timed; past 65,535 more, TooManyInFlight.
    fn begin_ticket(&self, py: Python<'_>) -> PyResult<u64> {
        self.inner.begin_ticket().map(Ticket::raw).or_raise(py)
    }

    /// The request of `ticket` ended, whatever its outcome; True when the
    /// worker should exit now. A ticket not in flight here (ended already,
    /// never issued, another worker's) raises BadTicket and changes nothing.
    fn end_ticket(&self, py: Python<'_>, ticket: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.inner.end_ticket(ticket_of(ticket)?).or_raise(py)
    }

    /// The tickets of this worker's requests past request_timeout (empty
    /// when it is off), for a host that ends each alone (then
    /// `end_ticket`). Without TICKET_LAST.
    fn overdue(&self) -> Vec<u64> {
        let mut out = [Ticket::from_raw(0); TICKETS];
        let n = self.inner.overdue(&mut out).min(TICKETS);
        out[..n].iter().map(|t| t.raw()).collect()
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

    /// The worker serves from an event loop that cancels its own requests at
    /// request_timeout and beats (`heartbeat`) from that loop well within
    /// half of it: a request past its timeout then kills the worker only
    /// once the loop has also been still for half of request_timeout.
    fn on_event_loop(&self) {
        self.inner.on_event_loop();
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
        Ok(PySample::from(inner))
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
    fn decision(&self, py: Python<'_>) -> PyResult<PyDecision> {
        PyDecision::new(py, self.inner.decision())
    }

    /// Marks the worker as leaving, so its recycle permit returns at once.
    fn exiting(&self) {
        self.inner.exiting();
    }

    /// Starts this worker's watchdog: a native thread, which needs no GIL,
    /// that looks at the slot every `interval` seconds (None: a tenth of the
    /// shortest of request_timeout and heartbeat_timeout, within 10..100
    /// ms). On a kill decision it writes a line to stderr and ends this
    /// process with SIGKILL, even while Python is stuck; on a granted
    /// recycle it sends `recycle_signal` to this process once (None: leave
    /// recycles to the caller). While no master ticks the pool it also
    /// samples this process every sample_interval and frees the slots and
    /// permits of workers that are gone. It signals only its own process.
    /// It runs until `stop()`, even if the returned object is dropped.
    #[pyo3(signature = (recycle_signal=None, interval=None))]
    fn watchdog(
        &self,
        py: Python<'_>,
        recycle_signal: Option<i32>,
        interval: Option<f64>,
    ) -> PyResult<PyWatchdog> {
        let interval = interval
            .map(|s| crate::seconds(s, "interval"))
            .transpose()?;
        let options = workerlife::WatchdogOptions {
            recycle_signal,
            interval,
        };
        let dog = self.inner.watchdog(options).or_raise(py)?;
        Ok(PyWatchdog {
            inner: Mutex::new(Some(dog)),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "<Worker slot={} requests={}>",
            self.inner.index(),
            self.inner.requests()
        )
    }
}
