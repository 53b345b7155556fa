//! The Python idioms over the core's event stream and one-call download: `JobEvent`,
//! `JobEvents` (what `job.watch()` returns: a blocking iterator; `job.events()` wraps it
//! as an async iterator in `bgcopy._idioms`), and `bgcopy.download()`.

use crate::convert;
use crate::errors::{self, OrRaise};
use crate::manager::Owner;
use crate::values::PyJobProgress;
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a blocking call sleeps before Python runs its signal handlers.
const SLICE: Duration = Duration::from_millis(100);

static EVENT_KIND: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// One event of a job's stream: ``kind`` (``JobEventKind``), ``state`` (``JobState``),
/// ``progress`` (``JobProgress`` when delivered), ``file_index`` (FILE_TRANSFERRED),
/// ``error`` (ERROR: the typed exception, e.g. ``HttpError`` with ``status``), ``seq``
/// (the journal's number; 0 for progress and the first state) and ``time``.
#[pyclass(frozen, module = "bgcopy", name = "JobEvent")]
pub struct PyJobEvent(bgcopy::JobEvent);

#[pymethods]
impl PyJobEvent {
    /// What it reports (``JobEventKind``).
    #[getter]
    fn kind(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let cls = EVENT_KIND.import(py, "bgcopy._types", "JobEventKind")?;
        Ok(cls.call1((self.0.kind.name(),))?.unbind())
    }

    /// The job's state with this event (``JobState``).
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::state(py, self.0.state)
    }

    /// The job's progress when the event was delivered (``JobProgress``).
    #[getter]
    fn progress(&self) -> PyJobProgress {
        self.0.progress.into()
    }

    /// FILE_TRANSFERRED (and an ERROR about one file): the file's index, else None.
    #[getter]
    fn file_index(&self) -> Option<u32> {
        self.0.file_index
    }

    /// ERROR: the error as its typed exception (``HttpError``, ``NetworkError``, …).
    #[getter]
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.0
            .error
            .as_ref()
            .map(|e| errors::core(py, e).into_value(py).into_any())
    }

    /// The journal entry's number (0 for progress and the first state).
    #[getter]
    fn seq(&self) -> u64 {
        self.0.seq
    }

    /// When it happened (an aware UTC ``datetime``).
    #[getter]
    fn time(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::datetime(py, bgcopy::to_ms(self.0.time))
    }

    fn __repr__(&self) -> String {
        let e = &self.0;
        let mut s = format!("JobEvent({}, state={}", e.kind.name(), e.state);
        if let Some(i) = e.file_index {
            s.push_str(&format!(", file_index={i}"));
        }
        if e.kind == bgcopy::JobEventKind::Progress {
            s.push_str(&format!(", bytes={}", e.progress.bytes_transferred));
        }
        if let Some(err) = &e.error {
            s.push_str(&format!(", error={err}"));
        }
        s.push(')');
        s
    }
}

/// A job's events (``job.watch()``): iterate it (``for ev in job.watch()``); it ends
/// after the first state ``wait()`` returns on. ``close()`` (or leaving a ``with``
/// block, or dropping it) releases it.
#[pyclass(weakref, module = "bgcopy", name = "JobEvents")]
pub struct PyJobEvents {
    stream: Arc<Mutex<Option<bgcopy::JobEvents>>>,
    _owner: Arc<Owner>,
}

impl PyJobEvents {
    pub fn new(stream: bgcopy::JobEvents, owner: Arc<Owner>) -> Self {
        PyJobEvents {
            stream: Arc::new(Mutex::new(Some(stream))),
            _owner: owner,
        }
    }

    /// The next event within `timeout` (`None`: no limit), the GIL released, Python's
    /// signal handlers run between slices (Ctrl-C raises here).
    fn next_within(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
    ) -> PyResult<Option<bgcopy::JobEvent>> {
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        loop {
            let slice = match deadline {
                Some(d) => d
                    .saturating_duration_since(std::time::Instant::now())
                    .min(SLICE),
                None => SLICE,
            };
            let stream = self.stream.clone();
            let got = py.detach(move || {
                let mut g = stream.lock().unwrap_or_else(|p| p.into_inner());
                match g.as_mut() {
                    Some(s) => s.next_event(Some(slice)).map(|e| (e, s.is_ended())),
                    None => Ok((None, true)),
                }
            });
            let (event, ended) = got.or_raise(py)?;
            if event.is_some() || ended {
                return Ok(event);
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }
}

#[pymethods]
impl PyJobEvents {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<PyJobEvent> {
        match self.next_within(py, None)? {
            Some(e) => Ok(PyJobEvent(e)),
            None => Err(PyStopIteration::new_err(())),
        }
    }

    /// The next event, waiting at most ``timeout`` seconds (None: no limit); None when
    /// the time passed or the stream ended (``ended``).
    #[pyo3(signature = (timeout=None))]
    fn next_event(
        &self,
        py: Python<'_>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<PyJobEvent>> {
        let timeout = match timeout.filter(|t| !t.is_none()) {
            Some(t) => convert::seconds(t, "timeout", true)?,
            None => None,
        };
        Ok(self.next_within(py, timeout)?.map(PyJobEvent))
    }

    /// The stream delivered its last event (or was closed).
    #[getter]
    fn ended(&self) -> bool {
        self.stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_none_or(|s| s.is_ended())
    }

    /// Release the stream (idempotent; waits for a `next_event` running on another
    /// thread to return, at most a tenth of a second).
    fn close(&self, py: Python<'_>) {
        let stream = self.stream.clone();
        let taken = py.detach(move || stream.lock().unwrap_or_else(|p| p.into_inner()).take());
        drop(taken);
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Option<&Bound<'_, PyAny>>,
        _v: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.close(py);
        false
    }
}

/// ``bgcopy.download(urls, dest, *, state_dir=None, priority=Priority.FOREGROUND,
/// progress=None)``: see `bgcopy/__init__.py` (the wrapper that takes one URL or many
/// and returns ``pathlib.Path`` objects).
#[pyfunction]
#[pyo3(name = "_download", signature = (urls, dest, state_dir=None, priority=None, display_name=None, progress=None, stop=None))]
#[allow(clippy::too_many_arguments)]
pub fn download(
    py: Python<'_>,
    urls: Vec<String>,
    dest: &Bound<'_, PyAny>,
    state_dir: Option<&Bound<'_, PyAny>>,
    priority: Option<&Bound<'_, PyAny>>,
    display_name: Option<String>,
    progress: Option<Py<PyAny>>,
    stop: Option<Py<PyAny>>,
) -> PyResult<Option<Vec<String>>> {
    let dest = convert::path(dest, "dest")?;
    let mut opts = bgcopy::DownloadOptions::default();
    if let Some(d) = state_dir.filter(|d| !d.is_none()) {
        opts.state_dir = Some(convert::path(d, "state_dir")?.into());
    }
    if let Some(p) = priority.filter(|p| !p.is_none()) {
        opts.priority = convert::priority_arg(p)?;
    }
    opts.display_name = display_name;
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    // A Python exception from the callback, the stop check or a signal stops the
    // download (the job is cancelled) and is raised here.
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let keep = |e: PyErr| {
        raised
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(e);
    };
    let out = py.detach(|| {
        let mut on_event = |ev: &bgcopy::JobEvent| {
            let Some(cb) = progress.as_ref() else { return };
            Python::attach(|py| {
                if let Err(e) = cb.call1(py, (PyJobEvent(ev.clone()),)) {
                    keep(e);
                }
            });
        };
        let should_stop = || {
            if raised.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                return true;
            }
            Python::attach(|py| {
                let asked = match stop.as_ref() {
                    Some(s) => s.call0(py).and_then(|v| v.is_truthy(py)),
                    None => Ok(false),
                };
                let r = asked.and_then(|a| py.check_signals().map(|()| a));
                match r {
                    Ok(a) => a,
                    Err(e) => {
                        keep(e);
                        true
                    }
                }
            })
        };
        bgcopy::download_until(
            &refs,
            std::path::Path::new(&dest),
            &opts,
            &mut on_event,
            &should_stop,
        )
    });
    if let Some(e) = raised.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(out.or_raise(py)?.map(|paths| {
        paths
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }))
}

/// The kind name of `code` and its HTTP status (for an exception made in Python).
#[pyfunction]
#[pyo3(name = "_error_kind")]
pub fn error_kind(code: u32) -> (&'static str, Option<u16>) {
    (
        bgcopy::ErrorKind::of(code, None).name(),
        bgcopy::codes::http_status(code),
    )
}
