//! Engine errors as the Python exceptions of `workerlife._errors` (defined in
//! Python, because several derive from two builtins, e.g. `Error` and
//! `ValueError`, which `create_exception!` cannot express).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;
use pyo3::IntoPyObjectExt;
use workerlife::process::{Held, SignalRefused};
use workerlife::Error;

fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    ERRORS
        .get_or_try_init(py, || Ok(py.import("workerlife._errors")?.unbind()))
        .map(|m| m.bind(py))
}

/// An instance of the named exception class with the message (and errno,
/// for the OSError kinds) and attributes.
fn raise<'py>(
    py: Python<'py>,
    class: &str,
    msg: String,
    errno: Option<i32>,
    attrs: &[(&str, Bound<'py, PyAny>)],
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = module(py)?.getattr(class)?;
        let exc = match errno {
            Some(errno) => cls.call1((errno, msg))?,
            None => cls.call1((msg,))?,
        };
        for (name, value) in attrs {
            exc.setattr(*name, value)?;
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

fn obj<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> Bound<'py, PyAny> {
    v.into_bound_py_any(py)
        .unwrap_or_else(|_| py.None().into_bound(py))
}

/// The Python exception for an engine error.
pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::UnknownKey { key, value } | Error::InvalidValue { key, value, .. } => raise(
            py,
            "PolicyError",
            msg,
            None,
            &[("key", obj(py, key)), ("value", obj(py, value))],
        ),
        Error::NotForHost {
            ref key,
            ref value,
            ref host,
            ..
        } => {
            let attrs = [
                ("key", obj(py, key.clone())),
                ("value", obj(py, value.clone())),
                ("host", obj(py, host.clone())),
            ];
            raise(py, "NotForHost", msg, None, &attrs)
        }
        Error::InvalidSlotCount(_) | Error::SlotOutOfRange { .. } | Error::SlotBusy { .. } => {
            raise(py, "SlotError", msg, None, &[])
        }
        Error::NoFreeSlot(_) => raise(py, "PoolFullError", msg, None, &[]),
        Error::UnknownPid(pid) => raise(py, "UnknownPidError", msg, None, &[("pid", obj(py, pid))]),
        Error::BadPoolFile { path, .. } => {
            raise(py, "BadPoolFile", msg, None, &[("path", obj(py, path))])
        }
        Error::NoSuchProcess(pid) => {
            raise(py, "NoSuchProcess", msg, None, &[("pid", obj(py, pid))])
        }
        Error::BadLedger { path, moved_to, .. } => raise(
            py,
            "BadLedger",
            msg,
            None,
            &[("path", obj(py, path)), ("moved_to", obj(py, moved_to))],
        ),
        Error::Io { source, .. } => {
            let errno = source.raw_os_error().unwrap_or(0);
            raise(py, "OSFailure", msg, Some(errno), &[])
        }
        Error::NotSupported(_) | Error::NoCgroup(_) => raise(py, "NotSupported", msg, None, &[]),
        Error::NotAChild { pid, parent } => raise(
            py,
            "NotAChild",
            msg,
            None,
            &[("pid", obj(py, pid)), ("parent", obj(py, parent))],
        ),
        Error::UnsafeFile { path, .. } => {
            raise(py, "UnsafeFile", msg, None, &[("path", obj(py, path))])
        }
        Error::InvalidArgument(_) => raise(py, "InvalidArgument", msg, None, &[]),
        Error::BadTicket(ticket) => {
            raise(py, "BadTicket", msg, None, &[("ticket", obj(py, ticket))])
        }
        Error::TooManyInFlight { .. } => raise(py, "TooManyInFlight", msg, None, &[]),
        _ => raise(py, "Error", msg, None, &[]),
    }
}

/// The Python exception for a refused signal.
pub fn refused(py: Python<'_>, pid: u32, r: SignalRefused) -> PyErr {
    let msg = format!("pid {pid}: {r}");
    match r {
        SignalRefused::Gone => raise(py, "NoSuchProcess", msg, None, &[("pid", obj(py, pid))]),
        SignalRefused::IdentityMismatch { expected, found } => raise(
            py,
            "PidReused",
            msg,
            None,
            &[
                ("pid", obj(py, pid)),
                ("expected", obj(py, expected)),
                ("found", obj(py, found)),
            ],
        ),
        SignalRefused::UnknownIdentity => {
            raise(py, "UnknownIdentity", msg, None, &[("pid", obj(py, pid))])
        }
        SignalRefused::Os(errno) => raise(py, "OSFailure", msg, Some(errno), &[]),
    }
}

/// The Python exception for what `wait_released` found still held.
pub fn held(py: Python<'_>, h: Held) -> PyErr {
    let msg = h.to_string();
    let (what, pid, port) = match h {
        Held::Process(pid) => ("process", Some(pid), None),
        Held::Port(port) => ("port", None, Some(port)),
    };
    raise(
        py,
        "StillHeld",
        msg,
        None,
        &[
            ("what", obj(py, what)),
            ("pid", obj(py, pid)),
            ("port", obj(py, port)),
        ],
    )
}

/// `?` for engine results inside `#[pymethods]`.
pub trait OrRaise<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, Error> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}
