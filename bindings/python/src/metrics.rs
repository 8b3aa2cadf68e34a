//! `workerlife.MetricsServer`: the library's stats endpoint (see
//! `workerlife::MetricsServer`), which every Python host's master serves at
//! `WORKERLIFE_METRICS` (gunicorn, Celery).

use crate::errors::OrRaise;
use pyo3::prelude::*;
use std::net::SocketAddr;
use std::sync::Mutex;
use workerlife::{MetricsServer, Pool};

/// A running stats endpoint: Prometheus text at `/metrics` (and `/`), the
/// stats JSON at `/stats`, served by a native thread that never takes the
/// GIL. A child forked afterwards holds none of its sockets (the library
/// closes them at the fork). Stopped by `stop()`, by leaving its `with`
/// block, or when collected.
#[pyclass(frozen, module = "workerlife", name = "MetricsServer")]
pub struct PyMetricsServer {
    inner: Mutex<Option<MetricsServer>>,
    address: SocketAddr,
}

impl PyMetricsServer {
    /// Binds `address` and serves `pool`'s stats from now on; the GIL is
    /// released meanwhile (resolving a name may take a while).
    pub fn start(py: Python<'_>, pool: &Pool, address: &str) -> PyResult<Self> {
        let server = py
            .detach(|| MetricsServer::start(pool, address))
            .or_raise(py)?;
        Ok(PyMetricsServer {
            address: server.address(),
            inner: Mutex::new(Some(server)),
        })
    }

    fn take(&self) -> Option<MetricsServer> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

#[pymethods]
impl PyMetricsServer {
    /// Where it listens, `HOST:PORT` (`[IPv6]:PORT`), with the port chosen
    /// when 0 was asked for.
    #[getter]
    fn address(&self) -> String {
        self.address.to_string()
    }

    /// The port it listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.address.port()
    }

    /// Whether it has not been stopped (in a forked child it serves nothing:
    /// its sockets were closed at the fork).
    #[getter]
    fn running(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Stops serving, closes the port and waits for the thread (a tenth of
    /// a second, or the end of the answer being written), without the GIL.
    /// Idempotent; in a forked child it only lets go.
    fn stop(&self, py: Python<'_>) {
        let server = self.take();
        py.detach(move || drop(server));
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
        let state = if self.running() { "" } else { " stopped" };
        format!("<MetricsServer http://{}/metrics{state}>", self.address)
    }
}

// Collected: the server's own Drop stops it (the thread needs no GIL, so
// the wait is bounded as for `stop`).
