//! The read-only records the API returns: decisions, tick actions, events,
//! process samples. Each is a frozen class of plain fields in Python units,
//! filled once from the engine's record (`new`); pyo3 generates every
//! attribute (`#[pyo3(get)]`). The engine's record is kept, unpublished,
//! for what is built from it: the text (`str()`), equality and `missing()`.
//! (`get_all` would publish it too: pyo3 has no way to leave a field out.)

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

fn reason_name(r: Option<Reason>) -> Option<&'static str> {
    r.map(Reason::as_str)
}

/// What a worker should do now.
#[pyclass(frozen, module = "workerlife", name = "Decision")]
pub struct PyDecision {
    /// "continue", "recycle" or "kill".
    #[pyo3(get)]
    action: &'static str,
    /// The reason's name, or None for continue.
    #[pyo3(get)]
    reason: Option<&'static str>,
    /// The reading that tripped the limit (seconds for times).
    #[pyo3(get)]
    value: Py<PyAny>,
    /// The limit it tripped (seconds for times).
    #[pyo3(get)]
    limit: Py<PyAny>,
    /// True when the worker should stop taking requests.
    #[pyo3(get)]
    must_exit: bool,
    /// True when a rule the policy does not enforce (`enforce`) tripped:
    /// the action is "continue", with the reason, value and limit of what
    /// would have been done; the worker serves on.
    #[pyo3(get)]
    would: bool,
    inner: Decision,
}

impl PyDecision {
    pub fn new(py: Python<'_>, d: Decision) -> PyResult<PyDecision> {
        Ok(PyDecision {
            action: d.action.as_str(),
            reason: reason_name(d.reason),
            value: amount(py, d.reason, d.value)?,
            limit: amount(py, d.reason, d.limit)?,
            must_exit: d.must_exit(),
            would: d.is_would(),
            inner: d,
        })
    }
}

#[pymethods]
impl PyDecision {
    fn __bool__(&self) -> bool {
        self.must_exit
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
#[pyclass(frozen, get_all, module = "workerlife", name = "Action")]
pub struct PyAction {
    /// "recycle" (graceful signal), "kill" (now) or "spawn".
    action: &'static str,
    slot: u32,
    /// The worker's pid (0 for spawn).
    pid: u32,
    /// The worker's start time, for `workerlife.kill` (0 when unknown).
    identity: u64,
    generation: u32,
    reason: Option<&'static str>,
    /// For spawn: when it was due, in seconds on the pool's clock.
    not_before: f64,
    /// For spawn with max_surge: the slot whose worker the new one replaces
    /// (it retires once this one is ready), else None.
    replaces: Option<u32>,
}

impl From<PoolAction> for PyAction {
    fn from(a: PoolAction) -> PyAction {
        PyAction {
            action: a.kind.as_str(),
            slot: a.slot,
            pid: a.pid,
            identity: a.identity,
            generation: a.generation,
            reason: reason_name(a.reason),
            not_before: a.not_before.as_secs_f64(),
            replaces: a.replaces,
        }
    }
}

#[pymethods]
impl PyAction {
    fn __repr__(&self) -> String {
        let reason = self
            .reason
            .map(|r| format!(" reason={r}"))
            .unwrap_or_default();
        format!(
            "<Action {} slot={} pid={}{reason}>",
            self.action, self.slot, self.pid
        )
    }
}

/// Something that happened in a pool.
#[pyclass(frozen, module = "workerlife", name = "Event")]
pub struct PyEvent {
    /// The kind's name, from the library's table (`TABLES["event"]`):
    /// "spawned", "recycle_requested", "killed", "exited", "would_recycle",
    /// "would_kill", ...
    #[pyo3(get)]
    kind: &'static str,
    #[pyo3(get)]
    slot: u32,
    #[pyo3(get)]
    pid: u32,
    #[pyo3(get)]
    generation: u32,
    #[pyo3(get)]
    reason: Option<&'static str>,
    /// Seconds on the pool's clock.
    #[pyo3(get)]
    at: f64,
    #[pyo3(get)]
    uptime: f64,
    #[pyo3(get)]
    requests: u64,
    #[pyo3(get)]
    rss: Option<u64>,
    #[pyo3(get)]
    status: Option<i32>,
    #[pyo3(get)]
    crash: bool,
    /// For exits: a crash by the kernel's OOM killer (a SIGKILL nobody of
    /// ours sent while the container's OOM kill count rose).
    #[pyo3(get)]
    oom_killed: bool,
    /// For crash loops: the respawn delay in seconds; for ready: how long
    /// the replacement took.
    #[pyo3(get)]
    delay: Option<f64>,
    /// For recycles, kills and exits: how fast the worker's memory grew, in
    /// bytes per request (None when unknown).
    #[pyo3(get)]
    growth_per_request: Option<f64>,
    /// Likewise in bytes per second.
    #[pyo3(get)]
    growth_per_second: Option<f64>,
    inner: Event,
}

impl From<Event> for PyEvent {
    fn from(e: Event) -> PyEvent {
        PyEvent {
            kind: e.kind.as_str(),
            slot: e.slot,
            pid: e.pid,
            generation: e.generation,
            reason: reason_name(e.reason),
            at: e.at.as_secs_f64(),
            uptime: e.uptime.as_secs_f64(),
            requests: e.requests,
            rss: e.rss,
            status: e.status,
            crash: e.crash,
            oom_killed: e.oom_killed,
            delay: e.delay.map(|d| d.as_secs_f64()),
            growth_per_request: e.growth.and_then(|g| g.per_request),
            growth_per_second: e.growth.map(|g| g.per_second),
            inner: e,
        }
    }
}

#[pymethods]
impl PyEvent {
    /// How loud it is in the host's log: "info", "warning" or "error".
    #[getter]
    fn severity(&self) -> &'static str {
        self.inner.severity().as_str()
    }
    /// The library's one line for it, what every host logs.
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
    #[pyo3(get)]
    pid: u32,
    /// The start time in clock ticks since boot (the process's identity).
    #[pyo3(get)]
    start_time: Option<u64>,
    /// Resident set size, bytes.
    #[pyo3(get)]
    rss: Option<u64>,
    /// Open file descriptors.
    #[pyo3(get)]
    fds: Option<u64>,
    /// Unique set size, bytes (only when asked for with uss=True).
    #[pyo3(get)]
    uss: Option<u64>,
    /// Proportional set size, bytes (only when asked for with uss=True).
    #[pyo3(get)]
    pss: Option<u64>,
    inner: Sample,
}

impl From<Sample> for PySample {
    fn from(s: Sample) -> PySample {
        PySample {
            pid: s.pid,
            start_time: s.start_time.value(),
            rss: s.rss.value(),
            fds: s.fds.value(),
            uss: s.uss.value(),
            pss: s.pss.value(),
            inner: s,
        }
    }
}

#[pymethods]
impl PySample {
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
        let f = |r: Option<u64>| r.map_or("None".to_string(), |v| v.to_string());
        format!(
            "<Sample pid={} rss={} fds={} uss={} pss={}>",
            self.pid,
            f(self.rss),
            f(self.fds),
            f(self.uss),
            f(self.pss)
        )
    }
}
