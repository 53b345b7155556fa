//! Python notification objects as core [`CopyCallback`]s.
//!
//! The core calls a callback on its `bgcopy-notify` thread with no lock held; the GIL is
//! taken only for the Python call. A raised exception is reported through
//! `sys.unraisablehook` and counts as a failed delivery (TRANSFERRED and ERROR are
//! offered again after the job's minimum retry delay); it never reaches a transfer.

use crate::handles::{PyCopyError, PyCopyFile, PyCopyJob};
use crate::manager::{Owner, SHUTTING_DOWN};
use bgcopy::{CallbackResult, CopyCallback, CopyError, CopyFile, CopyJob};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

/// The method names a notification object may have.
pub const METHODS: [&str; 4] = [
    "job_transferred",
    "job_error",
    "job_modification",
    "file_transferred",
];

/// A Python object with some of `job_transferred(job)`, `job_error(job, error)`,
/// `job_modification(job)`, `file_transferred(job, file)`.
pub struct PyCallback {
    obj: Py<PyAny>,
    owner: Weak<Owner>,
}

impl PyCallback {
    /// Wrap `obj` for the manager `owner`.
    pub fn new(obj: Py<PyAny>, owner: &Arc<Owner>) -> Arc<PyCallback> {
        Arc::new(PyCallback {
            obj,
            owner: Arc::downgrade(owner),
        })
    }

    /// The Python object (what `get_notify_interface` returns).
    pub fn object(&self, py: Python<'_>) -> Py<PyAny> {
        self.obj.clone_ref(py)
    }

    fn deliver(
        &self,
        name: &'static str,
        args: impl FnOnce(Python<'_>, &Arc<Owner>) -> PyResult<Vec<Py<PyAny>>>,
    ) -> CallbackResult {
        if SHUTTING_DOWN.load(Ordering::SeqCst) {
            return Err("the Python interpreter is shutting down".into());
        }
        // No manager object left: it is closing, nothing to deliver to.
        let Some(owner) = self.owner.upgrade() else {
            return Ok(());
        };
        let result = Python::try_attach(|py| -> CallbackResult {
            let obj = self.obj.bind(py);
            let method = match obj.getattr_opt(name) {
                Ok(Some(m)) if !m.is_none() => m,
                Ok(_) => return Ok(()),
                Err(e) => {
                    let msg = e.to_string();
                    e.write_unraisable(py, Some(obj));
                    return Err(format!("{name}: {msg}"));
                }
            };
            let called = args(py, &owner)
                .and_then(|a| PyTuple::new(py, a))
                .and_then(|a| method.call1(a));
            match called {
                Ok(_) => Ok(()),
                Err(e) => {
                    let msg = e.to_string();
                    e.write_unraisable(py, Some(&method));
                    Err(format!("{name} raised {msg}"))
                }
            }
        })
        .unwrap_or_else(|| Err("the Python interpreter is not available".into()));
        drop(owner);
        result
    }
}

fn job_obj(py: Python<'_>, job: &CopyJob, owner: &Arc<Owner>) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyCopyJob::new(job.clone(), owner.clone()))?.into_any())
}

impl CopyCallback for PyCallback {
    fn job_transferred(&self, job: &CopyJob) -> CallbackResult {
        self.deliver("job_transferred", |py, o| Ok(vec![job_obj(py, job, o)?]))
    }

    fn job_error(&self, job: &CopyJob, error: &CopyError) -> CallbackResult {
        self.deliver("job_error", |py, o| {
            let e = Py::new(py, PyCopyError::new(error.clone(), o.clone()))?.into_any();
            Ok(vec![job_obj(py, job, o)?, e])
        })
    }

    fn job_modification(&self, job: &CopyJob) -> CallbackResult {
        self.deliver("job_modification", |py, o| Ok(vec![job_obj(py, job, o)?]))
    }

    fn file_transferred(&self, job: &CopyJob, file: &CopyFile) -> CallbackResult {
        self.deliver("file_transferred", |py, o| {
            let f = Py::new(py, PyCopyFile::new(file.clone(), o.clone()))?.into_any();
            Ok(vec![job_obj(py, job, o)?, f])
        })
    }
}
