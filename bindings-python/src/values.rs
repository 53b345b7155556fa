//! The read-only value objects: `JobProgress`, `FileProgress`, `JobTimes`, `Event`.

use crate::convert;
use pyo3::prelude::*;

fn total(n: u64) -> String {
    if n == bgcopy::BYTES_UNKNOWN {
        "BYTES_UNKNOWN".to_string()
    } else {
        n.to_string()
    }
}

/// Progress of a whole job (BG_JOB_PROGRESS). ``bytes_total`` is ``BYTES_UNKNOWN``
/// until every file's size is known, 0 for a job without files.
#[pyclass(frozen, eq, hash, module = "bgcopy", name = "JobProgress")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyJobProgress {
    /// Sum of the file sizes, or ``BYTES_UNKNOWN``.
    #[pyo3(get)]
    pub bytes_total: u64,
    /// Bytes transferred so far.
    #[pyo3(get)]
    pub bytes_transferred: u64,
    /// Number of files.
    #[pyo3(get)]
    pub files_total: u32,
    /// Number of files whose bytes are all transferred.
    #[pyo3(get)]
    pub files_transferred: u32,
}

impl From<bgcopy::JobProgress> for PyJobProgress {
    #[inline]
    fn from(p: bgcopy::JobProgress) -> Self {
        PyJobProgress {
            bytes_total: p.bytes_total,
            bytes_transferred: p.bytes_transferred,
            files_total: p.files_total,
            files_transferred: p.files_transferred,
        }
    }
}

#[pymethods]
impl PyJobProgress {
    /// A progress value (for tests and type stubs; the library makes these).
    #[new]
    #[pyo3(signature = (bytes_total, bytes_transferred, files_total, files_transferred))]
    fn new(
        bytes_total: u64,
        bytes_transferred: u64,
        files_total: u32,
        files_transferred: u32,
    ) -> Self {
        PyJobProgress {
            bytes_total,
            bytes_transferred,
            files_total,
            files_transferred,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "JobProgress(bytes_total={}, bytes_transferred={}, files_total={}, files_transferred={})",
            total(self.bytes_total),
            self.bytes_transferred,
            self.files_total,
            self.files_transferred
        )
    }
}

/// Progress of one file (BG_FILE_PROGRESS). ``completed`` is true only after
/// ``CopyJob.complete()`` made the file visible at its local path.
#[pyclass(frozen, eq, hash, module = "bgcopy", name = "FileProgress")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyFileProgress {
    /// The file's size, or ``BYTES_UNKNOWN``.
    #[pyo3(get)]
    pub bytes_total: u64,
    /// Bytes transferred so far.
    #[pyo3(get)]
    pub bytes_transferred: u64,
    /// True once the file is at its local path.
    #[pyo3(get)]
    pub completed: bool,
}

impl From<bgcopy::FileProgress> for PyFileProgress {
    #[inline]
    fn from(p: bgcopy::FileProgress) -> Self {
        PyFileProgress {
            bytes_total: p.bytes_total,
            bytes_transferred: p.bytes_transferred,
            completed: p.completed,
        }
    }
}

#[pymethods]
impl PyFileProgress {
    /// A progress value (for tests and type stubs; the library makes these).
    #[new]
    #[pyo3(signature = (bytes_total, bytes_transferred, completed))]
    fn new(bytes_total: u64, bytes_transferred: u64, completed: bool) -> Self {
        PyFileProgress {
            bytes_total,
            bytes_transferred,
            completed,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "FileProgress(bytes_total={}, bytes_transferred={}, completed={})",
            total(self.bytes_total),
            self.bytes_transferred,
            if self.completed { "True" } else { "False" }
        )
    }
}

/// Time stamps of a job (BG_JOB_TIMES), as aware UTC ``datetime`` objects
/// (millisecond precision). ``transfer_completion_time`` is None until the job first
/// reaches TRANSFERRED.
#[pyclass(frozen, eq, hash, module = "bgcopy", name = "JobTimes")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyJobTimes {
    creation_ms: i64,
    modification_ms: i64,
    completion_ms: Option<i64>,
}

impl From<bgcopy::JobTimes> for PyJobTimes {
    fn from(t: bgcopy::JobTimes) -> Self {
        PyJobTimes {
            creation_ms: t.creation_ms(),
            modification_ms: t.modification_ms(),
            completion_ms: t.transfer_completion_ms(),
        }
    }
}

#[pymethods]
impl PyJobTimes {
    /// When the job was created.
    #[getter]
    fn creation_time(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::datetime(py, self.creation_ms)
    }

    /// Bumped by every change, state change and transferred bytes.
    #[getter]
    fn modification_time(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::datetime(py, self.modification_ms)
    }

    /// When the job last reached TRANSFERRED, or None.
    #[getter]
    fn transfer_completion_time(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.completion_ms
            .map(|ms| convert::datetime(py, ms))
            .transpose()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let show = |v: Option<Py<PyAny>>| -> PyResult<String> {
            match v {
                Some(d) => Ok(d.bind(py).call_method0("isoformat")?.to_string()),
                None => Ok("None".to_string()),
            }
        };
        Ok(format!(
            "JobTimes(creation_time={}, modification_time={}, transfer_completion_time={})",
            show(Some(self.creation_time(py)?))?,
            show(Some(self.modification_time(py)?))?,
            show(self.transfer_completion_time(py)?)?
        ))
    }
}

/// One entry of the durable event journal (``CopyManager.events_since``): ``seq`` (the
/// cursor for the next call), ``job_id``, ``kind`` (``EventKind``), ``state`` (the job's
/// state after it), ``time`` (aware UTC ``datetime``), ``file_index`` (or None), and for
/// ``EventKind.ERROR`` the ``error_code``, ``error_context`` and ``error_description``
/// (else None).
#[pyclass(frozen, eq, hash, module = "bgcopy", name = "Event")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyEvent(pub bgcopy::Event);

#[pymethods]
impl PyEvent {
    /// The sequence number.
    #[getter]
    fn seq(&self) -> u64 {
        self.0.seq
    }

    /// The job's id.
    #[getter]
    fn job_id(&self) -> &str {
        &self.0.job_id
    }

    /// What happened (``EventKind``).
    #[getter]
    fn kind(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::event_kind(py, self.0.kind)
    }

    /// The job's state after the event (``JobState``).
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::state(py, self.0.state)
    }

    /// When it happened (aware UTC ``datetime``).
    #[getter]
    fn time(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::datetime(py, self.0.time_ms())
    }

    /// The file concerned, by index, or None.
    #[getter]
    fn file_index(&self) -> Option<u32> {
        self.0.file_index
    }

    /// ERROR: the BITS HRESULT code (unsigned), else None.
    #[getter]
    fn error_code(&self) -> Option<u32> {
        self.0.error_code
    }

    /// ERROR: where it came from (``ErrorContext``), else None.
    #[getter]
    fn error_context(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.0
            .error_context
            .map(|c| convert::context(py, c))
            .transpose()
    }

    /// ERROR: the description, else None.
    #[getter]
    fn error_description(&self) -> Option<&str> {
        self.0.error_description.as_deref()
    }

    fn __repr__(&self) -> String {
        let e = &self.0;
        let mut s = format!(
            "Event(seq={}, job_id='{}', kind=EventKind.{}, state=JobState.{}",
            e.seq,
            e.job_id,
            e.kind.name(),
            e.state.name()
        );
        if let Some(i) = e.file_index {
            s.push_str(&format!(", file_index={i}"));
        }
        if let Some(code) = e.error_code {
            s.push_str(&format!(", error_code={code:#010x}"));
        }
        s.push(')');
        s
    }
}
