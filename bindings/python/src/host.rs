//! `workerlife.Host`: what a server can carry out, checked against a policy.

use crate::errors::OrRaise;
use crate::policy::PyPolicy;
use pyo3::prelude::*;
use workerlife::{Caps, Host};

/// A host (gunicorn, uvicorn, Celery...): its name and what it can carry
/// out. A policy rule it cannot carry out is refused (NotForHost) naming
/// the key, the host and what to do instead.
#[pyclass(frozen, eq, module = "workerlife", name = "Host")]
#[derive(Clone, PartialEq, Eq)]
pub struct PyHost {
    pub inner: Host,
}

#[pymethods]
impl PyHost {
    #[new]
    #[pyo3(signature = (name, *, heartbeat=false, surge=false, cancel=false, concurrent=false, master_kills=false, watchdog_kills=false, numbered=false, tickets=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: &str,
        heartbeat: bool,
        surge: bool,
        cancel: bool,
        concurrent: bool,
        master_kills: bool,
        watchdog_kills: bool,
        numbered: bool,
        tickets: bool,
    ) -> PyResult<Self> {
        let caps = [
            (heartbeat, Caps::HEARTBEAT),
            (surge, Caps::SURGE),
            (cancel, Caps::CANCEL),
            (concurrent, Caps::CONCURRENT),
            (master_kills, Caps::MASTER_KILLS),
            (watchdog_kills, Caps::WATCHDOG_KILLS),
            (numbered, Caps::NUMBERED),
            (tickets, Caps::TICKETS),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .fold(Caps::NONE, |all, (_, c)| all | c);
        Ok(PyHost {
            inner: Host::new(name, caps).or_raise(py)?,
        })
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// The capabilities held, by name ("heartbeat", "surge", ...), in the
    /// library's order.
    #[getter]
    fn capabilities(&self) -> Vec<&'static str> {
        let caps = self.inner.caps();
        Caps::NAMED
            .iter()
            .filter(|(c, _, _)| caps.contains(*c))
            .map(|(_, name, _)| *name)
            .collect()
    }

    /// NotForHost for the first rule of `policy` this host cannot carry
    /// out; None when it can carry out all of them.
    fn check(&self, py: Python<'_>, policy: &PyPolicy) -> PyResult<()> {
        self.inner.check(&policy.inner).or_raise(py)
    }

    /// The slots a pool for `workers` workers needs under `policy` here.
    fn slots(&self, workers: u32, policy: &PyPolicy) -> u32 {
        self.inner.slots(workers, &policy.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "<Host {:?} {}>",
            self.inner.name(),
            self.capabilities().join(",")
        )
    }
}
