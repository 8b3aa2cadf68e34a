//! `workerlife.Policy`.

use crate::errors::OrRaise;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};
use workerlife::{Key, Reason, Unit};

/// The limits and pool settings. Immutable; `replace()` makes a changed copy.
#[pyclass(frozen, eq, hash, module = "workerlife", name = "Policy")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyPolicy {
    pub inner: workerlife::Policy,
}

/// Sets one keyword argument: ints and floats are bytes, counts or seconds
/// by the key's unit (numbers stay numbers: no text in between), strings
/// are read as in a spec string, None is off.
fn set_value(policy: &mut workerlife::Policy, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = value.py();
    if value.is_none() {
        return policy.set(key, "off").map(|_| ()).or_raise(py);
    }
    if value.is_instance_of::<PyBool>() {
        let bad = workerlife::Error::InvalidValue {
            key: key.into(),
            value: value.str()?.to_string(),
            why: "expected a number or a string, not a bool".into(),
        };
        return Err(crate::errors::to_py(py, bad));
    }
    if value.is_instance_of::<PyInt>() {
        return match value.extract::<u64>() {
            Ok(n) => policy.set_whole(key, n).map(|_| ()).or_raise(py),
            Err(_) => policy
                .set(key, &value.repr()?.to_string())
                .map(|_| ())
                .or_raise(py),
        };
    }
    if value.is_instance_of::<PyFloat>() {
        let f: f64 = value.extract()?;
        return policy.set_number(key, f).map(|_| ()).or_raise(py);
    }
    if let Ok(s) = value.cast::<PyString>() {
        return policy.set(key, &s.to_string()).map(|_| ()).or_raise(py);
    }
    let bad = workerlife::Error::InvalidValue {
        key: key.into(),
        value: value.repr()?.to_string(),
        why: "expected a number, a string or None".into(),
    };
    Err(crate::errors::to_py(py, bad))
}

fn apply(
    py: Python<'_>,
    policy: &mut workerlife::Policy,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    if let Some(kwargs) = kwargs {
        for (k, v) in kwargs.iter() {
            let key: String = k.extract()?;
            set_value(policy, &key, &v)?;
        }
    }
    policy.validate().or_raise(py)
}

fn key_of(name: &str) -> PyResult<Key> {
    Key::from_name(name).ok_or_else(|| PyKeyError::new_err(format!("unknown policy key {name:?}")))
}

/// A value in Python terms: seconds as float for durations, else int; a
/// value the spec writes as a word (`auto`, `10%`) as that text.
fn value_obj(py: Python<'_>, key: Key, raw: u64) -> PyResult<Py<PyAny>> {
    if !key.is_number(raw) {
        return Ok(key.format_value(raw).into_pyobject(py)?.into_any().unbind());
    }
    Ok(match key.unit() {
        Unit::Duration => (raw as f64 / 1e6).into_pyobject(py)?.into_any().unbind(),
        _ => raw.into_pyobject(py)?.into_any().unbind(),
    })
}

#[pymethods]
impl PyPolicy {
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn new(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut inner = workerlife::Policy::new();
        apply(py, &mut inner, kwargs)?;
        Ok(PyPolicy { inner })
    }

    /// Parses a spec string such as "max_requests=1000,max_rss=300MiB".
    #[staticmethod]
    fn parse(py: Python<'_>, spec: &str) -> PyResult<Self> {
        Ok(PyPolicy {
            inner: workerlife::Policy::parse(spec).or_raise(py)?,
        })
    }

    /// Every key's name, in a fixed order.
    #[staticmethod]
    fn keys() -> Vec<&'static str> {
        Key::ALL.iter().map(|k| k.name()).collect()
    }

    /// A copy with the given keys changed.
    #[pyo3(signature = (**kwargs))]
    fn replace(&self, py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut inner = self.inner.clone();
        apply(py, &mut inner, kwargs)?;
        Ok(PyPolicy { inner })
    }

    /// Every key and its value (seconds for durations, bytes, counts).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for k in Key::ALL {
            d.set_item(k.name(), value_obj(py, *k, self.inner.raw(*k))?)?;
        }
        Ok(d)
    }

    fn __getitem__(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        let k = key_of(key)?;
        value_obj(py, k, self.inner.raw(k))
    }

    /// Whether a rule acts (`enforce`), named by its reason
    /// (`"memory_rss"`) or its key (`"max_rss"`) as `enforce` names it; a
    /// rule not enforced is rehearsed. True for what always acts
    /// (`manual`, `drain_timeout`, `ready_timeout`); KeyError for a name
    /// that is neither.
    fn enforces(&self, rule: &str) -> PyResult<bool> {
        let by_key = || {
            let key = Key::from_name(rule)?;
            Reason::ALL.iter().copied().find(|r| r.key() == Some(key))
        };
        let reason = Reason::from_name(rule).or_else(by_key).ok_or_else(|| {
            PyKeyError::new_err(format!("no rule {rule:?}: a reason or the key of one"))
        })?;
        Ok(self.inner.enforces(reason))
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Policy.parse({:?})", self.inner.to_string())
    }

    fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, (String,))> {
        let parse = py.get_type::<PyPolicy>().getattr("parse")?.unbind();
        Ok((parse, (self.inner.to_string(),)))
    }
}
