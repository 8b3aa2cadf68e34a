//! The process toolkit: samples, identity-checked signals, the orphan
//! ledger and waiting for release. Each call that waits or reads /proc lets
//! other Python threads run meanwhile.

use crate::errors::{self, OrRaise};
use crate::records::PySample;
use crate::seconds;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

use workerlife::fork::ForkMutex;
use workerlife::process::{self, Entry, ProcHandle, ReapOutcome};

/// Samples `pid` once: RSS and open FDs, and USS/PSS with uss=True.
#[pyfunction]
#[pyo3(signature = (pid, uss=false))]
pub fn sample(py: Python<'_>, pid: u32, uss: bool) -> PyResult<PySample> {
    let inner = py.detach(|| process::sample(pid, uss)).or_raise(py)?;
    Ok(PySample::from(inner))
}

/// The identity of `pid` (its start time), for `kill`.
#[pyfunction]
pub fn identity(py: Python<'_>, pid: u32) -> PyResult<u64> {
    match process::identity(pid) {
        0 => Err(errors::to_py(py, workerlife::Error::NoSuchProcess(pid))),
        id => Ok(id),
    }
}

/// Sends `sig` to `pid` only if it is still the process whose identity is
/// `identity`. A pid that now names another process raises PidReused, an
/// identity of 0 (unknown) UnknownIdentity; either way nothing is sent.
#[pyfunction]
pub fn kill(py: Python<'_>, pid: u32, sig: i32, identity: u64) -> PyResult<()> {
    process::signal(pid, identity, sig).map_err(|r| errors::refused(py, pid, r))
}

/// Waits until `pid` is gone and TCP `port` can be bound again; raises
/// StillHeld naming what is still held after `timeout` seconds.
#[pyfunction]
#[pyo3(signature = (pid=None, port=None, timeout=30.0))]
pub fn wait_released(
    py: Python<'_>,
    pid: Option<u32>,
    port: Option<u16>,
    timeout: f64,
) -> PyResult<()> {
    let timeout = seconds(timeout, "timeout")?;
    py.detach(|| process::wait_released(pid, port, timeout))
        .map_err(|h| errors::held(py, h))
}

/// A process kept open for repeated samples: its /proc files stay open and
/// are re-read, and the handle stays bound to that process even if its pid
/// is later reused.
#[pyclass(frozen, module = "workerlife", name = "Process")]
pub struct PyProcess {
    /// Fork-safe: a child forked while another thread samples can sample.
    inner: ForkMutex<ProcHandle>,
    pid: u32,
    start_time: u64,
}

#[pymethods]
impl PyProcess {
    #[new]
    fn new(py: Python<'_>, pid: u32) -> PyResult<Self> {
        let h = py.detach(|| ProcHandle::open(pid)).or_raise(py)?;
        Ok(PyProcess {
            pid: h.pid(),
            start_time: h.start_time(),
            inner: ForkMutex::new(h),
        })
    }
    #[getter]
    fn pid(&self) -> u32 {
        self.pid
    }
    /// The start time read when the handle was opened.
    #[getter]
    fn start_time(&self) -> u64 {
        self.start_time
    }
    /// Reads the process again.
    #[pyo3(signature = (uss=false))]
    fn sample(&self, py: Python<'_>, uss: bool) -> PyResult<PySample> {
        let inner = py
            .detach(|| {
                let mut h = self.inner.lock();
                h.sample(uss)
            })
            .or_raise(py)?;
        Ok(PySample::from(inner))
    }
    fn __repr__(&self) -> String {
        format!("<Process pid={}>", self.pid)
    }
}

fn entry_dict<'py>(py: Python<'py>, e: &Entry) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("run_id", e.run_id)?;
    d.set_item("master_pid", e.master_pid)?;
    d.set_item("master_start", e.master_start)?;
    d.set_item("pid", e.pid)?;
    d.set_item("start_time", e.start_time)?;
    Ok(d)
}

/// The orphan ledger: a file where a master records the workers it starts,
/// so the next run can end what a crashed master left behind.
#[pyclass(frozen, module = "workerlife", name = "Ledger")]
pub struct PyLedger {
    inner: process::Ledger,
}

#[pymethods]
impl PyLedger {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        Ok(PyLedger {
            inner: process::Ledger::open(&path).or_raise(py)?,
        })
    }
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path().to_path_buf()
    }
    #[getter]
    fn run_id(&self) -> u64 {
        self.inner.run_id()
    }
    /// Records a worker this run started (with its start time when known).
    #[pyo3(signature = (pid, start_time=None))]
    fn record(&self, py: Python<'_>, pid: u32, start_time: Option<u64>) -> PyResult<()> {
        match start_time {
            Some(t) => self.inner.record_with(pid, t),
            None => self.inner.record(pid),
        }
        .or_raise(py)
    }
    /// Drops the record of a worker of this run that ended normally.
    fn forget(&self, py: Python<'_>, pid: u32) -> PyResult<()> {
        self.inner.forget(pid).or_raise(py)
    }
    /// Every record, of every run, as dicts.
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let entries = self.inner.entries().or_raise(py)?;
        entries.iter().map(|e| entry_dict(py, e)).collect()
    }
    /// Ends the workers of earlier runs whose master is gone: SIGTERM, then
    /// SIGKILL after `grace` seconds, identity-checked. Returns one dict per
    /// record with "outcome": "terminated", "killed", "already_gone",
    /// "pid_reused" (with "found") or "refused" (with "errno").
    #[pyo3(signature = (grace=5.0))]
    fn reap<'py>(&self, py: Python<'py>, grace: f64) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let grace = seconds(grace, "grace")?;
        let reaped = py.detach(|| self.inner.reap(grace)).or_raise(py)?;
        reaped
            .iter()
            .map(|r| {
                let d = entry_dict(py, &r.entry)?;
                let outcome = match r.outcome {
                    ReapOutcome::Terminated => "terminated",
                    ReapOutcome::Killed => "killed",
                    ReapOutcome::AlreadyGone => "already_gone",
                    ReapOutcome::PidReused { found } => {
                        d.set_item("found", found)?;
                        "pid_reused"
                    }
                    ReapOutcome::UnknownIdentity => "unknown_identity",
                    ReapOutcome::Refused(errno) => {
                        d.set_item("errno", errno)?;
                        "refused"
                    }
                };
                d.set_item("outcome", outcome)?;
                Ok(d)
            })
            .collect()
    }
    fn __repr__(&self) -> String {
        format!("<Ledger {}>", self.inner.path().display())
    }
}

/// `workerlife top`'s table for a stats JSON document (`Pool.stats_json()`
/// or a stats endpoint's body); ValueError when it is not one.
#[pyfunction]
pub fn render_top(stats_json: &str, source: &str) -> PyResult<String> {
    let stats: serde_json::Value = serde_json::from_str(stats_json)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("not stats JSON: {e}")))?;
    workerlife::top::render(&stats, source).map_err(pyo3::exceptions::PyValueError::new_err)
}
