//! `workerlife.Pool`.

use crate::errors::OrRaise;
use crate::host::PyHost;
use crate::metrics::PyMetricsServer;
use crate::policy::PyPolicy;
use crate::records::{PyAction, PyDecision, PyEvent};
use crate::seconds;
use crate::worker::PyWorker;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};
use pyo3::types::{PyDict, PyList, PyString};
use std::path::PathBuf;

use workerlife::{Pool, PoolBuilder};

/// An int argument in `lo..=hi` (bool is not one); TypeError or
/// OverflowError naming `name` otherwise.
fn int_arg(v: &Bound<'_, PyAny>, name: &str, lo: u64, hi: u64) -> PyResult<u64> {
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, not {}",
            v.get_type().name()?
        )));
    }
    match v.extract::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(PyOverflowError::new_err(format!(
            "{name} must be an int from {lo} to {hi}, not {v}"
        ))),
    }
}

/// A Policy, a spec string, or None (the default policy).
fn policy_arg(py: Python<'_>, policy: Option<&Bound<'_, PyAny>>) -> PyResult<workerlife::Policy> {
    match policy {
        None => Ok(workerlife::Policy::new()),
        Some(p) if p.is_none() => Ok(workerlife::Policy::new()),
        Some(p) => {
            if let Ok(p) = p.cast::<PyPolicy>() {
                Ok(p.get().inner.clone())
            } else if let Ok(s) = p.cast::<PyString>() {
                workerlife::Policy::parse(&s.to_string()).or_raise(py)
            } else {
                Err(PyTypeError::new_err(format!(
                    "policy must be a workerlife.Policy, a spec string or None, not {}",
                    p.get_type().name()?
                )))
            }
        }
    }
}

/// The pool `Pool()` and `Pool.create()` make; `place` says where it lives.
fn build(
    py: Python<'_>,
    policy: Option<&Bound<'_, PyAny>>,
    slots: u32,
    seed: Option<u64>,
    manual_clock: bool,
    place: impl FnOnce(PoolBuilder) -> PoolBuilder,
) -> PyResult<PyPool> {
    let policy = policy_arg(py, policy)?;
    let mut b = place(
        Pool::builder(&policy)
            .slots(slots)
            .manual_clock(manual_clock),
    );
    if let Some(seed) = seed {
        b = b.seed(seed);
    }
    Ok(PyPool {
        inner: b.build().or_raise(py)?,
    })
}

/// A pool of worker slots and its supervision.
#[pyclass(frozen, module = "workerlife", name = "Pool")]
pub struct PyPool {
    inner: Pool,
}

#[pymethods]
impl PyPool {
    /// A pool private to this process, or with shared=True one that children
    /// forked afterwards share.
    #[new]
    #[pyo3(signature = (policy=None, slots=1, *, shared=false, seed=None, manual_clock=false))]
    fn new(
        py: Python<'_>,
        policy: Option<&Bound<'_, PyAny>>,
        slots: u32,
        shared: bool,
        seed: Option<u64>,
        manual_clock: bool,
    ) -> PyResult<Self> {
        build(py, policy, slots, seed, manual_clock, |b| {
            if shared {
                b.shared()
            } else {
                b
            }
        })
    }

    /// A pool in a new file at `path` (0600; an existing file is an error)
    /// that other processes attach. Removed when this pool is dropped.
    #[staticmethod]
    #[pyo3(signature = (path, policy=None, slots=1, *, seed=None, manual_clock=false))]
    fn create(
        py: Python<'_>,
        path: PathBuf,
        policy: Option<&Bound<'_, PyAny>>,
        slots: u32,
        seed: Option<u64>,
        manual_clock: bool,
    ) -> PyResult<Self> {
        build(py, policy, slots, seed, manual_clock, |b| b.named(&path))
    }

    /// Opens the pool file that the workers of one server share when no
    /// master of ours starts them (`uvicorn --workers N`): attached while
    /// another process holds it, else (missing, or left by processes now
    /// gone) made anew with `slots` slots and `policy`. While held, its
    /// policy must be `policy` (BadPoolFile otherwise); a file that is not a
    /// workerlife pool is an error and left as it is. Linux only.
    #[staticmethod]
    #[pyo3(signature = (path, policy=None, slots=64))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        policy: Option<&Bound<'_, PyAny>>,
        slots: u32,
    ) -> PyResult<Self> {
        let policy = policy_arg(py, policy)?;
        Ok(PyPool {
            inner: py
                .detach(|| Pool::open(&path, &policy, slots))
                .or_raise(py)?,
        })
    }

    /// For a pool from `open`, when this process is done with it: gives up
    /// its hold on the file, then removes the file if no other process holds
    /// it (the last worker leaves none behind). True if it did.
    fn remove_if_last(&self, py: Python<'_>) -> PyResult<bool> {
        self.inner.remove_if_last().or_raise(py)
    }

    /// Attaches the pool file another process created.
    #[staticmethod]
    fn attach(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        Ok(PyPool {
            inner: Pool::attach(&path).or_raise(py)?,
        })
    }

    #[getter]
    fn policy(&self) -> PyPolicy {
        PyPolicy {
            inner: self.inner.policy().clone(),
        }
    }

    /// The number of slots.
    #[getter]
    fn slots(&self) -> u32 {
        self.inner.slot_count()
    }

    fn __len__(&self) -> usize {
        self.inner.slot_count() as usize
    }

    /// "private", "shared" or "named".
    #[getter]
    fn sharing(&self) -> &'static str {
        self.inner.sharing().as_str()
    }

    /// The pool file of a named pool.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.inner.path().map(|p| p.to_path_buf())
    }

    /// Seconds on the pool's clock.
    #[getter]
    fn now(&self) -> f64 {
        self.inner.now().as_secs_f64()
    }

    /// Moves a manual clock forward (pools made with manual_clock=True).
    fn advance(&self, py: Python<'_>, secs: f64) -> PyResult<()> {
        self.inner.advance(seconds(secs, "advance")?).or_raise(py)
    }

    /// The worker handle of the slot holding `pid` (default: this process),
    /// claiming a free or stale slot for it if none does. Call it in the
    /// worker process.
    #[pyo3(signature = (pid=None))]
    fn claim(&self, py: Python<'_>, pid: Option<u32>) -> PyResult<PyWorker> {
        let pid = pid.unwrap_or_else(std::process::id);
        Ok(PyWorker {
            inner: py.detach(|| self.inner.claim(pid)).or_raise(py)?,
        })
    }

    /// The worker handle of slot `index`, for hosts that number workers. A
    /// vacant slot gets a generation first, for this process (its master's
    /// later `spawned(index, pid)` takes it on), so its limits hold.
    fn slot(&self, py: Python<'_>, index: u32) -> PyResult<PyWorker> {
        Ok(PyWorker {
            inner: py.detach(|| self.inner.worker(index)).or_raise(py)?,
        })
    }

    /// The master started `pid` in `slot`; the pid joins the master's own
    /// record of its children (whom actions may name).
    fn spawned(&self, py: Python<'_>, slot: u32, pid: u32) -> PyResult<()> {
        py.detach(|| self.inner.spawned(slot, pid)).or_raise(py)
    }

    /// The worker in `slot` is ready to serve: what a replacement waits for
    /// before the worker it replaces drains (max_surge). Its first request
    /// counts as ready too.
    fn ready(&self, py: Python<'_>, slot: u32) -> PyResult<()> {
        py.detach(|| self.inner.ready(slot)).or_raise(py)
    }

    /// Takes `pid`, a live child of this process that the server started
    /// (gunicorn's arbiter), as one of the master's workers: actions for the
    /// slot it claims may then name it. NotAChild for any other process.
    fn adopt(&self, py: Python<'_>, pid: u32) -> PyResult<()> {
        py.detach(|| self.inner.adopt(pid)).or_raise(py)
    }

    /// The server asked worker `pid` to leave on its own account (graceful
    /// restart, scale-down, shutdown): its exit is not a crash. Returns its
    /// slot.
    fn exiting(&self, py: Python<'_>, pid: u32) -> PyResult<u32> {
        py.detach(|| self.inner.exiting(pid)).or_raise(py)
    }

    /// The master reaped `pid` with wait status `status`; returns its slot.
    #[pyo3(signature = (pid, status=0))]
    fn exited(&self, py: Python<'_>, pid: u32, status: i32) -> PyResult<u32> {
        py.detach(|| self.inner.exited(pid, status)).or_raise(py)
    }

    /// As `exited`, by slot.
    #[pyo3(signature = (slot, status=0))]
    fn exited_slot(&self, py: Python<'_>, slot: u32, status: i32) -> PyResult<()> {
        py.detach(|| self.inner.exited_slot(slot, status))
            .or_raise(py)
    }

    /// Asks for a recycle of `slot` (reason "manual").
    fn recycle(&self, py: Python<'_>, slot: u32) -> PyResult<()> {
        py.detach(|| self.inner.recycle(slot)).or_raise(py)
    }

    /// What the worker in `slot` should do now.
    fn decision(&self, py: Python<'_>, slot: u32) -> PyResult<PyDecision> {
        let d = py.detach(|| self.inner.decision(slot)).or_raise(py)?;
        PyDecision::new(py, d)
    }

    /// What the master should do now: each action is returned once. Also
    /// samples the workers every sample_interval.
    fn tick<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let actions = py.detach(|| self.inner.tick());
        PyList::new(py, actions.into_iter().map(PyAction::from))
    }

    /// Samples every live worker's memory and FDs now; returns
    /// {"sampled": n, "gone": [slots], "errors": [(slot, message)]}.
    fn sample<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let report = py.detach(|| self.inner.sample());
        let d = PyDict::new(py);
        d.set_item("sampled", report.sampled)?;
        d.set_item("gone", report.gone)?;
        let errors: Vec<(u32, String)> = report
            .errors
            .into_iter()
            .map(|(slot, e)| (slot, e.to_string()))
            .collect();
        d.set_item("errors", errors)?;
        Ok(d)
    }

    /// Retires slots whose process is gone without an `exited` call;
    /// returns their indexes.
    fn reap_dead(&self, py: Python<'_>) -> Vec<u32> {
        py.detach(|| self.inner.reap_dead())
    }

    /// Gives the pool a reading of its container (bytes; limit None: no
    /// limit), as a host that reads the cgroup itself or a test would: the
    /// next tick() takes it as the master's own reading (container_memory).
    #[pyo3(signature = (working_set, limit=None, anon=None, file=None, oom_kills=None, pressure_some_avg10=None))]
    #[allow(clippy::too_many_arguments)]
    fn report_container(
        &self,
        py: Python<'_>,
        working_set: u64,
        limit: Option<u64>,
        anon: Option<u64>,
        file: Option<u64>,
        oom_kills: Option<u64>,
        pressure_some_avg10: Option<f64>,
    ) -> PyResult<()> {
        if pressure_some_avg10.is_some_and(|p| !(p.is_finite() && p >= 0.0)) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "pressure_some_avg10 must be a finite number >= 0, not {pressure_some_avg10:?}"
            )));
        }
        let reading = workerlife::MemoryReading {
            limit,
            usage: working_set,
            working_set,
            anon,
            file,
            oom_kills,
            pressure_some_avg10,
        };
        py.detach(|| self.inner.report_container(reading));
        Ok(())
    }

    /// Reads this process's memory now as the workers' parent's, for memory
    /// limits relative to it (max_uss=3x) and the sharing figures: call it
    /// in the master once the app has booted (after a pre-fork preload),
    /// before the first fork; without it the master's first tick() reads it.
    /// Returns {"rss", "uss", "pss"} in bytes (None where unknown); an
    /// unreadable /proc raises and leaves the relative limits waiting.
    fn read_parent<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = py.detach(|| self.inner.read_parent()).or_raise(py)?;
        let d = PyDict::new(py);
        d.set_item("rss", h.rss)?;
        d.set_item("uss", h.uss)?;
        d.set_item("pss", h.pss)?;
        Ok(d)
    }

    /// Gives the pool a reading of the workers' parent `pid` (bytes; None:
    /// not known, its relative limit waits), for a host whose workers'
    /// parent is another process, or a test: relative limits resolve
    /// against it from now on. A bad argument is refused, naming it, and
    /// nothing is kept.
    #[pyo3(signature = (pid, rss=None, uss=None, pss=None))]
    fn report_parent(
        &self,
        py: Python<'_>,
        pid: &Bound<'_, PyAny>,
        rss: Option<&Bound<'_, PyAny>>,
        uss: Option<&Bound<'_, PyAny>>,
        pss: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        // A pid is a positive pid_t.
        let pid = int_arg(pid, "pid", 1, i32::MAX as u64)? as u32;
        let bytes = |v: Option<&Bound<'_, PyAny>>, name: &str| {
            v.filter(|v| !v.is_none())
                .map(|v| int_arg(v, name, 0, u64::MAX))
                .transpose()
        };
        let health = workerlife::Health {
            rss: bytes(rss, "rss")?,
            uss: bytes(uss, "uss")?,
            pss: bytes(pss, "pss")?,
            fds: None,
        };
        py.detach(|| self.inner.report_parent(pid, health));
        Ok(())
    }

    /// Seconds until the next held-back respawn, if any.
    fn next_spawn_in(&self, py: Python<'_>) -> Option<f64> {
        py.detach(|| self.inner.next_spawn_in())
            .map(|d| d.as_secs_f64())
    }

    /// The events since the last call, oldest first.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let events = py.detach(|| self.inner.events());
        PyList::new(py, events.into_iter().map(PyEvent::from))
    }

    /// Events dropped because nobody read them in time.
    #[getter]
    fn dropped_events(&self, py: Python<'_>) -> u64 {
        py.detach(|| self.inner.dropped_events())
    }

    /// A snapshot of counters and slots as a dict; `vacant=False` lists
    /// only the occupied slots in `per_slot` (vacant ones are counted).
    #[pyo3(signature = (*, vacant = true))]
    fn stats<'py>(&self, py: Python<'py>, vacant: bool) -> PyResult<Bound<'py, PyAny>> {
        let json = self.stats_json(vacant);
        py.import("json")?.call_method1("loads", (json,))
    }

    /// The same snapshot as JSON text.
    #[pyo3(signature = (*, vacant = true))]
    fn stats_json(&self, vacant: bool) -> String {
        if vacant {
            self.inner.stats_json()
        } else {
            self.inner.stats_json_occupied()
        }
    }

    /// The stats in Prometheus text exposition format.
    fn prometheus(&self) -> String {
        self.inner.prometheus()
    }

    /// Serves this pool's stats at `address` (`HOST:PORT`; port 0 picks a
    /// free one) from a native thread: Prometheus text at `/metrics` and
    /// `/`, the stats JSON at `/stats`. Bound now: InvalidArgument for an
    /// address that does not parse or resolve, OSFailure for one that
    /// cannot be bound (in use, not this machine's); each names it.
    fn serve_metrics(&self, py: Python<'_>, address: &str) -> PyResult<PyMetricsServer> {
        PyMetricsServer::start(py, &self.inner, address)
    }

    /// The host declares what it can carry out: the pool's policy is
    /// checked against it (NotForHost naming the key, the host and what to
    /// do instead; nothing recorded then). Declaring again replaces it.
    fn set_host(&self, py: Python<'_>, host: &PyHost) -> PyResult<()> {
        let host = host.inner.clone();
        py.detach(|| self.inner.set_host(host)).or_raise(py)
    }

    /// The host declared with `set_host`, if any.
    #[getter]
    fn host(&self) -> Option<PyHost> {
        self.inner.host().map(|inner| PyHost { inner })
    }

    /// The line a host logs once at start: workerlife is on, for which
    /// host, under which policy, and what is refused there.
    fn startup_line(&self) -> String {
        self.inner.startup_line()
    }

    /// Notes an error of the master's round (its text); returns the line to
    /// log now, or None (just counted): each distinct text the first time,
    /// then with its count at 10, 100, 1000... occurrences.
    fn round_error(&self, text: &str) -> Option<String> {
        self.inner.round_error(text)
    }

    /// Adopts the workers of the server's own list of pids (gunicorn's
    /// WORKERS, billiard's children): pids adopted before are skipped, dead
    /// ones passed over, and a pid that is not a child of this process is
    /// refused, never signalled. Returns (the pids adopted now, [(pid,
    /// why refused)]).
    fn adopt_all(&self, py: Python<'_>, pids: Vec<u32>) -> (Vec<u32>, Vec<(u32, String)>) {
        let done = py.detach(|| self.inner.adopt_all(&pids));
        let refused = done
            .refused
            .into_iter()
            .map(|(pid, e)| (pid, e.to_string()))
            .collect();
        (done.new, refused)
    }

    fn __repr__(&self) -> String {
        format!(
            "<Pool {} slots={} policy={:?}>",
            self.sharing(),
            self.inner.slot_count(),
            self.inner.policy().to_string()
        )
    }
}
