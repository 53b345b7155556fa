//! Python notification objects as core [`CopyCallback`]s (SPEC §3).
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
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

/// The method names a notification object may have.
pub const METHODS: [&str; 4] = [
    "job_transferred",
    "job_error",
    "job_modification",
    "file_transferred",
];

/// Maps the address of each live [`PyCallback`] to itself, so that
/// `get_notify_interface` can return the Python object behind the core's
/// `Arc<dyn CopyCallback>`.
#[derive(Default)]
pub struct CallbackMap(Mutex<HashMap<usize, Weak<PyCallback>>>);

impl CallbackMap {
    /// The Python object of the callback at `addr`, if it is one of ours and alive.
    pub fn find(&self, py: Python<'_>, addr: usize) -> Option<Py<PyAny>> {
        let found = {
            let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            map.get(&addr).and_then(Weak::upgrade)
        };
        // `found` is dropped after the map's lock (its drop may take the lock).
        found
            .filter(|cb| Arc::as_ptr(cb) as usize == addr)
            .map(|cb| cb.obj.clone_ref(py))
    }
}

/// A Python object with some of `job_transferred(job)`, `job_error(job, error)`,
/// `job_modification(job)`, `file_transferred(job, file)`.
pub struct PyCallback {
    obj: Py<PyAny>,
    owner: Weak<Owner>,
    map: Arc<CallbackMap>,
}

impl PyCallback {
    /// Wrap `obj` for the manager `owner` and register it for lookups.
    pub fn new(obj: Py<PyAny>, owner: &Arc<Owner>) -> Arc<PyCallback> {
        let cb = Arc::new(PyCallback {
            obj,
            owner: Arc::downgrade(owner),
            map: owner.callbacks.clone(),
        });
        let addr = Arc::as_ptr(&cb) as usize;
        owner
            .callbacks
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr, Arc::downgrade(&cb));
        cb
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

impl Drop for PyCallback {
    fn drop(&mut self) {
        let addr = self as *const PyCallback as usize;
        let mut map = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&addr).is_some_and(|w| w.strong_count() == 0) {
            map.remove(&addr);
        }
        // `self.obj` is released by pyo3: at once when this thread is attached to the
        // interpreter, else at the next attach (never under the core's lock).
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
