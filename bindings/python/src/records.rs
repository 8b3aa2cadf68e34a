//! The read-only records the API returns: decisions, tick actions, events,
//! process samples.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use workerlife::process::{Reading, Sample};
use workerlife::{Decision, Event, PoolAction, Reason, Unit};

/// A decision's value or limit in Python units: seconds for the reasons
/// that measure time, else bytes or a count.
fn amount(py: Python<'_>, reason: Option<Reason>, raw: u64) -> PyResult<Py<PyAny>> {
    Ok(if reason.is_some_and(|r| r.unit() == Unit::Duration) {
        (raw as f64 / 1e6).into_pyobject(py)?.into_any().unbind()
    } else {
        raw.into_pyobject(py)?.into_any().unbind()
    })
}

/// What a worker should do now.
#[pyclass(frozen, module = "workerlife", name = "Decision")]
pub struct PyDecision {
    pub inner: Decision,
}

#[pymethods]
impl PyDecision {
    /// "continue", "recycle" or "kill".
    #[getter]
    fn action(&self) -> &'static str {
        self.inner.action.as_str()
    }
    /// The reason's name, or None for continue.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.inner.reason.map(Reason::as_str)
    }
    /// The reading that tripped the limit (seconds for times).
    #[getter]
    fn value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        amount(py, self.inner.reason, self.inner.value)
    }
    /// The limit it tripped (seconds for times).
    #[getter]
    fn limit(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        amount(py, self.inner.reason, self.inner.limit)
    }
    /// True when the worker should stop taking requests.
    #[getter]
    fn must_exit(&self) -> bool {
        self.inner.must_exit()
    }
    fn __bool__(&self) -> bool {
        self.inner.must_exit()
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyDecision>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }
    fn __hash__(&self) -> u64 {
        let d = &self.inner;
        (d.action as u64) << 56 ^ (d.reason.map_or(0, |r| r as u64) << 48) ^ d.value ^ d.limit
    }
    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        format!("<Decision {}>", self.inner)
    }
}

/// One thing `Pool.tick()` tells the master to do.
#[pyclass(frozen, module = "workerlife", name = "Action")]
pub struct PyAction {
    pub inner: PoolAction,
}

#[pymethods]
impl PyAction {
    /// "recycle" (graceful signal), "kill" (now) or "spawn".
    #[getter]
    fn action(&self) -> &'static str {
        self.inner.kind.as_str()
    }
    #[getter]
    fn slot(&self) -> u32 {
        self.inner.slot
    }
    /// The worker's pid (0 for spawn).
    #[getter]
    fn pid(&self) -> u32 {
        self.inner.pid
    }
    /// The worker's start time, for `workerlife.kill` (0 when unknown).
    #[getter]
    fn identity(&self) -> u64 {
        self.inner.identity
    }
    #[getter]
    fn generation(&self) -> u32 {
        self.inner.generation
    }
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.inner.reason.map(Reason::as_str)
    }
    /// For spawn: when it was due, in seconds on the pool's clock.
    #[getter]
    fn not_before(&self) -> f64 {
        self.inner.not_before.as_secs_f64()
    }
    /// For spawn with max_surge: the slot whose worker the new one replaces
    /// (it retires once this one is ready), else None.
    #[getter]
    fn replaces(&self) -> Option<u32> {
        self.inner.replaces
    }
    fn __repr__(&self) -> String {
        let a = &self.inner;
        let reason = a.reason.map(|r| format!(" reason={r}")).unwrap_or_default();
        format!(
            "<Action {} slot={} pid={}{reason}>",
            a.kind.as_str(),
            a.slot,
            a.pid
        )
    }
}

/// Something that happened in a pool.
#[pyclass(frozen, module = "workerlife", name = "Event")]
pub struct PyEvent {
    pub inner: Event,
}

#[pymethods]
impl PyEvent {
    /// "spawned", "recycle_requested", "killed", "exited", "crash_loop" or
    /// "health_check_failed".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.as_str()
    }
    #[getter]
    fn slot(&self) -> u32 {
        self.inner.slot
    }
    #[getter]
    fn pid(&self) -> u32 {
        self.inner.pid
    }
    #[getter]
    fn generation(&self) -> u32 {
        self.inner.generation
    }
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.inner.reason.map(Reason::as_str)
    }
    /// Seconds on the pool's clock.
    #[getter]
    fn at(&self) -> f64 {
        self.inner.at.as_secs_f64()
    }
    #[getter]
    fn uptime(&self) -> f64 {
        self.inner.uptime.as_secs_f64()
    }
    #[getter]
    fn requests(&self) -> u64 {
        self.inner.requests
    }
    #[getter]
    fn rss(&self) -> Option<u64> {
        self.inner.rss
    }
    #[getter]
    fn status(&self) -> Option<i32> {
        self.inner.status
    }
    #[getter]
    fn crash(&self) -> bool {
        self.inner.crash
    }
    /// For crash loops: the respawn delay in seconds.
    #[getter]
    fn delay(&self) -> Option<f64> {
        self.inner.delay.map(|d| d.as_secs_f64())
    }
    /// For recycles, kills and exits: how fast the worker's memory grew, in
    /// bytes per request (None when unknown).
    #[getter]
    fn growth_per_request(&self) -> Option<f64> {
        self.inner.growth.and_then(|g| g.per_request)
    }
    /// Likewise in bytes per second.
    #[getter]
    fn growth_per_second(&self) -> Option<f64> {
        self.inner.growth.map(|g| g.per_second)
    }
    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        format!("<Event {}>", self.inner)
    }
}

/// One reading of a process's memory and open FDs; None where there is no
/// reading (not asked for, denied, or not supported here).
#[pyclass(frozen, module = "workerlife", name = "Sample")]
pub struct PySample {
    pub inner: Sample,
}

#[pymethods]
impl PySample {
    #[getter]
    fn pid(&self) -> u32 {
        self.inner.pid
    }
    /// The start time in clock ticks since boot (the process's identity).
    #[getter]
    fn start_time(&self) -> Option<u64> {
        self.inner.start_time.value()
    }
    /// Resident set size, bytes.
    #[getter]
    fn rss(&self) -> Option<u64> {
        self.inner.rss.value()
    }
    /// Open file descriptors.
    #[getter]
    fn fds(&self) -> Option<u64> {
        self.inner.fds.value()
    }
    /// Unique set size, bytes (only when asked for with uss=True).
    #[getter]
    fn uss(&self) -> Option<u64> {
        self.inner.uss.value()
    }
    /// Proportional set size, bytes (only when asked for with uss=True).
    #[getter]
    fn pss(&self) -> Option<u64> {
        self.inner.pss.value()
    }
    /// Why each missing reading is missing: {"fds": "denied", ...}.
    fn missing<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let s = &self.inner;
        for (name, r) in [
            ("start_time", s.start_time),
            ("rss", s.rss),
            ("fds", s.fds),
            ("uss", s.uss),
            ("pss", s.pss),
        ] {
            let why = match r {
                Reading::Value(_) => continue,
                Reading::NotRequested => "not_requested",
                Reading::Denied => "denied",
                Reading::Unsupported => "unsupported",
            };
            d.set_item(name, why)?;
        }
        Ok(d)
    }
    fn __repr__(&self) -> String {
        let s = &self.inner;
        let f = |r: Reading| r.value().map_or("None".to_string(), |v| v.to_string());
        format!(
            "<Sample pid={} rss={} fds={} uss={} pss={}>",
            s.pid,
            f(s.rss),
            f(s.fds),
            f(s.uss),
            f(s.pss)
        )
    }
}
