//! `CopyManager` and the [`Owner`] every handle shares.

use crate::convert;
use crate::errors::{self, OrRaise};
use crate::handles::PyCopyJob;
use bgcopy::{CopyManager, JobType, ManagerOptions, OptionKind, OptionValue};
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::mem::ManuallyDrop;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

/// Set by `close_all` (the `atexit` hook): library threads stop calling into Python.
pub static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Every manager opened in this process, for `close_all`. Touched only while attached to
/// the interpreter, so a `fork()` (which holds the GIL) never copies it locked.
static OPEN: Mutex<Vec<Weak<Owner>>> = Mutex::new(Vec::new());

/// One open core manager, shared by the Python `CopyManager` and every handle made from
/// it: a handle keeps its manager open. Dropping the last reference closes the manager
/// with the GIL released (its notification thread may be waiting for the GIL).
pub struct Owner {
    manager: ManuallyDrop<CopyManager>,
}

impl Owner {
    /// The core manager.
    pub fn manager(&self) -> &CopyManager {
        &self.manager
    }

    /// Whether `close()` was called (or the manager was inherited through `fork()`).
    pub fn is_closed(&self) -> bool {
        self.manager.is_closed()
    }

    fn close(self: &Arc<Self>, py: Python<'_>) -> PyResult<()> {
        // From a callback too: the core's close() never joins the thread it runs on.
        py.detach(|| self.manager.close()).or_raise(py)
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // SAFETY: taken exactly once, here; `self.manager` is not used afterwards.
        let manager = unsafe { ManuallyDrop::take(&mut self.manager) };
        if !manager.opened_here() {
            // Inherited through fork(): the core leaves the parent's threads and state
            // alone and only lets go of the child's copy of the directory lock.
            drop(manager);
            return;
        }
        let thread = std::thread::current();
        if thread.name().is_some_and(|n| n.starts_with("bgcopy-")) {
            // One of the library's own threads (e.g. the last reference went away in a
            // callback): never attached to the interpreter here.
            drop(manager);
            return;
        }
        // Close with the GIL released: the notification thread may be waiting for it.
        let mut manager = Some(manager);
        let _ = Python::try_attach(|py| py.detach(|| drop(manager.take())));
        drop(manager);
    }
}

fn opt<'py>(v: &'py Option<Bound<'py, PyAny>>) -> Option<&'py Bound<'py, PyAny>> {
    v.as_ref().filter(|b| !b.is_none())
}

/// A Python value for a manager option of `kind` (the core's option table): whole
/// numbers, seconds (int, float or ``timedelta``), booleans, text, a list of paths.
fn option_value(
    py: Python<'_>,
    kind: OptionKind,
    v: &Bound<'_, PyAny>,
    name: &str,
) -> PyResult<OptionValue> {
    Ok(match kind {
        OptionKind::Count { max, .. } | OptionKind::OptionalCount { max, .. } => {
            OptionValue::Count(convert::uint(v, name, max)?)
        }
        OptionKind::Duration { .. } => {
            OptionValue::Duration(convert::seconds(v, name, false)?.unwrap_or_default())
        }
        OptionKind::Bool => OptionValue::Bool(convert::boolean(v, name)?),
        OptionKind::Text => OptionValue::Text(convert::string(v, name)?),
        OptionKind::Paths => {
            let not_list = || {
                errors::wrong_type(
                    py,
                    format!(
                        "{name} must be a list of paths, not {}",
                        convert::type_name(v)
                    ),
                )
            };
            if v.is_instance_of::<pyo3::types::PyString>() {
                return Err(not_list());
            }
            let mut paths = Vec::new();
            for item in v.try_iter().map_err(|_| not_list())? {
                paths.push(convert::path(&item?, &format!("{name} item"))?.into());
            }
            OptionValue::Paths(paths)
        }
        _ => {
            return Err(errors::wrong_type(
                py,
                format!("option {name} is not supported"),
            ));
        }
    })
}

/// The durable job manager (IBackgroundCopyManager). Open it with
/// ``CopyManager.open(state_dir)``; use it as a context manager (``with ... as m:``) or
/// call ``close()``. It stays open while you hold it or any of its jobs, files or
/// errors; the last reference closes it (so does interpreter exit). Jobs continue on the
/// next ``open`` of the same directory.
#[pyclass(frozen, weakref, module = "bgcopy", name = "CopyManager")]
pub struct PyCopyManager {
    owner: Arc<Owner>,
}

#[pymethods]
impl PyCopyManager {
    /// Open (or create) the durable job store in ``state_dir`` (None: the platform
    /// default, see ``default_state_dir()``), recover every job in it and start
    /// transferring the queued ones. Any number of processes may have one directory open:
    /// they see one queue, and one of them at a time (the engine) transfers.
    ///
    /// Keyword options (None keeps the default): ``background_slots`` (2) transfer
    /// slots shared by non-FOREGROUND jobs; ``connections_per_job`` (8);
    /// ``max_connections_per_file`` (8; 1 = one stream per file);
    /// ``connections_per_host`` (16);
    /// ``read_timeout`` (60 s) and ``connect_timeout`` (30 s) in seconds;
    /// ``checkpoint_bytes`` (8 MiB) and ``checkpoint_interval`` (1 s);
    /// ``notify_interval`` (0.5 s) JOB_MODIFICATION coalescing; ``time_slice`` (30 s)
    /// round robin among equal priorities; ``max_redirects`` (10);
    /// ``allow_https_to_http_redirect`` (False); ``background_bandwidth_limit``
    /// (bytes/s, unlimited); ``tls_root_certs`` (PEM paths trusted instead of the
    /// bundled Mozilla roots); ``user_agent``; ``start_transfers`` (True; False opens
    /// the store for inspection and changes only).
    #[staticmethod]
    #[pyo3(signature = (state_dir=None, **options))]
    fn open(
        py: Python<'_>,
        state_dir: Option<Bound<'_, PyAny>>,
        options: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Self> {
        let dir = opt(&state_dir)
            .map(|d| convert::path(d, "state_dir"))
            .transpose()?;
        let mut o = ManagerOptions::default();
        for (key, value) in options.into_iter().flatten() {
            let name = key.extract::<String>()?;
            let spec = ManagerOptions::spec(&name).or_raise(py)?;
            if value.is_none() {
                continue;
            }
            o.set(&name, option_value(py, spec.kind, &value, &name)?)
                .or_raise(py)?;
        }
        // Make sure the Python half is importable before any thread may need it.
        convert::values(py)?;
        let manager = py
            .detach(|| CopyManager::open_with(dir.as_deref().map(Path::new), o))
            .or_raise(py)?;
        let owner = Arc::new(Owner {
            manager: ManuallyDrop::new(manager),
        });
        {
            let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
            open.retain(|w| w.strong_count() > 0);
            open.push(Arc::downgrade(&owner));
        }
        Ok(PyCopyManager { owner })
    }

    /// Create a job (state SUSPENDED, priority NORMAL) with a fresh UUID id.
    /// ``job_type`` defaults to ``JobType.DOWNLOAD`` (the only type built; others raise
    /// ``UnsupportedError``). ``display_name`` is at most 256 characters.
    ///
    /// The keywords set the job up in the same call: ``files`` (``(remote_url,
    /// local_path)`` pairs, as ``add_file_set``), ``priority`` and ``description``. All
    /// or nothing: when one is refused the new job is cancelled and the error raised.
    #[pyo3(signature = (display_name, job_type=None, *, files=None, priority=None, description=None))]
    fn create_job<'py>(
        &self,
        py: Python<'py>,
        display_name: &Bound<'py, PyAny>,
        job_type: Option<&Bound<'py, PyAny>>,
        files: Option<&Bound<'py, PyAny>>,
        priority: Option<&Bound<'py, PyAny>>,
        description: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyCopyJob> {
        let name = convert::string(display_name, "display_name")?;
        fn given<'a, 'py>(o: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
            o.filter(|v| !v.is_none())
        }
        let setup = bgcopy::JobSetup {
            job_type: given(job_type).map(convert::job_type_arg).transpose()?,
            files: match given(files) {
                Some(f) => convert::file_pairs(py, f)?,
                None => Vec::new(),
            },
            priority: given(priority).map(convert::priority_arg).transpose()?,
            description: given(description)
                .map(|d| convert::string(d, "description"))
                .transpose()?,
        };
        let m = self.owner.manager();
        let job = py.detach(|| m.create_job_with(&name, setup)).or_raise(py)?;
        Ok(PyCopyJob::new(job, self.owner.clone()))
    }

    /// The job with this id (its canonical UUID text), or ``NotFoundError`` (also for a
    /// job that is ACKNOWLEDGED or CANCELLED).
    #[pyo3(signature = (job_id))]
    fn get_job(&self, py: Python<'_>, job_id: &Bound<'_, PyAny>) -> PyResult<PyCopyJob> {
        let id = convert::job_id(job_id)?;
        let job = self.owner.manager().get_job(&id).or_raise(py)?;
        Ok(PyCopyJob::new(job, self.owner.clone()))
    }

    /// Change the bandwidth limit shared by every HIGH, NORMAL and LOW transfer of the
    /// queue (bytes per second; 0: none) while they run: it applies within a second,
    /// whichever process runs the transfers, and stays with the state directory.
    /// FOREGROUND jobs are never limited by it.
    #[pyo3(signature = (bytes_per_second))]
    fn set_background_bandwidth_limit(
        &self,
        py: Python<'_>,
        bytes_per_second: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let n = convert::uint(bytes_per_second, "bytes_per_second", i64::MAX as u64)?;
        let m = self.owner.manager();
        py.detach(|| m.set_background_bandwidth_limit(n))
            .or_raise(py)
    }

    /// The background bandwidth limit in bytes per second (0: none): the one stored for
    /// the state directory, else the ``background_bandwidth_limit`` option.
    fn get_background_bandwidth_limit(&self, py: Python<'_>) -> PyResult<u64> {
        let m = self.owner.manager();
        py.detach(|| m.get_background_bandwidth_limit())
            .or_raise(py)
    }

    /// The durable event journal: up to ``limit`` (1..=10000) ``Event`` entries
    /// numbered above ``cursor``, oldest first (start with 0, then pass the last
    /// entry's ``seq``). Every process sees the same numbers; a job's entries are kept
    /// while it is live and for 7 days after it became final.
    #[pyo3(signature = (cursor, limit))]
    fn events_since<'py>(
        &self,
        py: Python<'py>,
        cursor: &Bound<'py, PyAny>,
        limit: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let cursor = convert::uint(cursor, "cursor", u64::MAX)?;
        let limit = convert::u32_arg(limit, "limit")?;
        let m = self.owner.manager();
        let events = py.detach(|| m.events_since(cursor, limit)).or_raise(py)?;
        PyList::new(py, events.into_iter().map(crate::values::PyEvent))
    }

    /// Every job that is not ACKNOWLEDGED or CANCELLED, in creation order.
    fn enum_jobs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let jobs = self.owner.manager().enum_jobs().or_raise(py)?;
        PyList::new(
            py,
            jobs.into_iter()
                .map(|j| PyCopyJob::new(j, self.owner.clone())),
        )
    }

    /// Iterating a manager yields its jobs (those of ``enum_jobs()``).
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
        self.enum_jobs(py)?.as_any().try_iter()
    }

    /// Serve the queue like ``bgcopy run`` (``python -m bgcopy run``): transfers run here
    /// while this process holds the engine; ``log`` (a callable taking one str, or
    /// None) gets a line for each state change and error of any job, from any process.
    /// Returns ``"idle"`` (with ``until_idle``, once no job is queued, running or
    /// waiting for a retry) or ``"stopped"`` (the manager was closed); an exception —
    /// a signal's (``KeyboardInterrupt``) or one ``log`` raised — ends it and is raised.
    /// Releases the GIL.
    #[pyo3(signature = (until_idle=false, log=None))]
    fn serve(
        &self,
        py: Python<'_>,
        until_idle: bool,
        log: Option<Py<PyAny>>,
    ) -> PyResult<&'static str> {
        let m = self.owner.manager();
        // The first exception — a signal's (KeyboardInterrupt), or one `log` raised, also
        // a signal handler's run while `log` ran — ends serving and is raised.
        let raised: Mutex<Option<PyErr>> = Mutex::new(None);
        let keep = |e: PyErr| {
            raised
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(e);
        };
        let stop = || {
            if raised.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                return true;
            }
            Python::attach(|py| match py.check_signals() {
                Ok(()) => false,
                Err(e) => {
                    keep(e);
                    true
                }
            })
        };
        let mut write = |line: &str| {
            if let Some(f) = &log {
                Python::attach(|py| {
                    if let Err(e) = f.call1(py, (line,)) {
                        keep(e);
                    }
                });
            }
        };
        let end = py.detach(|| m.serve(until_idle, &stop, &mut write));
        if let Some(e) = raised.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok(match end.or_raise(py)? {
            bgcopy::ServeEnd::Idle { .. } => "idle",
            bgcopy::ServeEnd::Stopped => "stopped",
        })
    }

    /// Stop every transfer (each keeps its checkpoint), flush the store and release the
    /// state directory; jobs continue on the next ``open``. Idempotent. Afterwards the
    /// manager's methods and the jobs' mutators raise ``InvalidStateError``; getters keep
    /// answering. Releases the GIL while it waits for the library's threads.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.owner.close(py)
    }

    /// The state directory this manager holds (absolute), a ``pathlib.Path``.
    #[getter]
    fn state_dir(&self) -> std::path::PathBuf {
        self.owner.manager().state_dir().to_path_buf()
    }

    /// True once ``close()`` was called (and in a child process that inherited the
    /// manager through ``fork()``: it is unusable there).
    #[getter]
    fn closed(&self) -> bool {
        self.owner.is_closed()
    }

    /// ``with CopyManager.open(...) as m:`` gives the manager.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The end of the ``with`` block closes the manager (exceptions propagate).
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.owner.close(py)
    }

    fn __repr__(&self) -> String {
        format!(
            "CopyManager(state_dir={}{})",
            convert::str_repr(&self.owner.manager().state_dir().to_string_lossy()),
            if self.owner.is_closed() {
                ", closed"
            } else {
                ""
            }
        )
    }
}

/// Close every manager still open in this process (run by ``atexit``), so no library
/// thread calls into Python while the interpreter shuts down.
#[pyfunction]
#[pyo3(name = "_close_all")]
pub fn close_all(py: Python<'_>) {
    // First, so that callbacks and async waiters woken by the closing below stay out.
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
    let owners: Vec<Arc<Owner>> = OPEN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
        .filter_map(|w| w.upgrade())
        .collect();
    for o in &owners {
        if o.manager.opened_here() {
            py.detach(|| {
                let _ = o.manager.close();
            });
        }
    }
    drop(owners);
}

/// Benchmark helper: create `n` jobs with one file each (`url`, `<out_dir>/f<i>`)
/// through the core directly, with the GIL released; returns the seconds it took.
#[pyfunction]
#[pyo3(name = "_bench_create_jobs")]
pub fn bench_create_jobs(
    py: Python<'_>,
    manager: &PyCopyManager,
    n: usize,
    url: String,
    out_dir: String,
) -> PyResult<f64> {
    let m = manager.owner.manager();
    py.detach(|| -> bgcopy::Result<f64> {
        let start = Instant::now();
        for i in 0..n {
            let job = m.create_job(&format!("job {i}"), JobType::Download)?;
            job.add_file(&url, &format!("{out_dir}/f{i}"))?;
        }
        Ok(start.elapsed().as_secs_f64())
    })
    .or_raise(py)
}
