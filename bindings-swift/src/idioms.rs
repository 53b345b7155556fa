//! The building blocks of the Kotlin and Swift idioms (`Idioms.kt`, `Idioms.swift`): a
//! job's event stream and the one-call download, both the core's. Their waits are
//! blocking calls with a timeout, which the hand-written layers run off the main thread
//! (Kotlin `Dispatchers.IO`, a Swift detached task) in short slices, so that cancelling
//! the consumer is heard within one.

use crate::error::{BgCopyError, guard};
use crate::objects::{CopyJob, CopyManager};
use crate::types::*;
use bgcopy as bg;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Result<T> = std::result::Result<T, BgCopyError>;

/// What a [`JobEvent`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum JobEventKind {
    /// The job's state changed (a stream's first event is the state it started in).
    StateChanged,
    /// Bytes moved (at most every 200 ms).
    Progress,
    /// All bytes of one file arrived (`fileIndex`).
    FileTransferred,
    /// An error: the job went to ERROR (the stream's end) or TRANSIENT_ERROR.
    Error,
}

/// One event of a job's stream.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct JobEvent {
    /// What it reports.
    pub kind: JobEventKind,
    /// The job's state with this event.
    pub state: JobState,
    /// The job's progress when the event was delivered.
    pub progress: JobProgress,
    /// FILE_TRANSFERRED (and an ERROR about one file): the file's index.
    pub file_index: Option<i32>,
    /// ERROR: what failed: the BITS code, its symbol, the message, the kind (`HTTP`,
    /// `NETWORK`, …, the same names in every language) and an HTTP error's status.
    pub error_code: Option<i64>,
    pub error_symbol: Option<String>,
    pub error_detail: Option<String>,
    pub error_kind: Option<String>,
    pub error_status: Option<i32>,
    /// The journal entry's number (0 for progress and the first state).
    pub seq: i64,
    /// When it happened.
    pub time: std::time::SystemTime,
}

impl From<bg::JobEvent> for JobEvent {
    fn from(e: bg::JobEvent) -> Self {
        let err = e.error.as_ref();
        JobEvent {
            kind: match e.kind {
                bg::JobEventKind::StateChanged => JobEventKind::StateChanged,
                bg::JobEventKind::Progress => JobEventKind::Progress,
                bg::JobEventKind::FileTransferred => JobEventKind::FileTransferred,
                _ => JobEventKind::Error,
            },
            state: e.state.into(),
            progress: e.progress.into(),
            file_index: e.file_index.map(signed32),
            error_code: err.map(|e| i64::from(e.code())),
            error_symbol: err.map(|e| e.symbol()),
            error_detail: err.map(|e| e.message().to_string()),
            error_kind: err.map(|e| e.kind().name().to_string()),
            error_status: err.and_then(|e| e.http_status()).map(i32::from),
            seq: signed64(e.seq),
            time: e.time,
        }
    }
}

/// A job's event stream (`CopyJob.eventStream()`; Kotlin `job.events()` and Swift
/// `job.events` read it).
#[derive(uniffi::Object)]
pub struct JobEventStream(Mutex<Option<bg::JobEvents>>);

impl JobEventStream {
    pub(crate) fn wrap(s: bg::JobEvents) -> Arc<JobEventStream> {
        Arc::new(JobEventStream(Mutex::new(Some(s))))
    }
}

#[uniffi::export]
impl JobEventStream {
    /// The next event within `timeoutMs`, or null/nil (the time passed, or the stream
    /// ended: `ended()`).
    pub fn next_event(&self, timeout_ms: i32) -> Result<Option<JobEvent>> {
        guard(|| {
            let timeout_ms = unsigned32(timeout_ms, "timeout_ms")?;
            let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
            match g.as_mut() {
                Some(s) => s
                    .next_event(Some(Duration::from_millis(timeout_ms.into())))
                    .map(|e| e.map(JobEvent::from)),
                None => Ok(None),
            }
        })
    }

    /// The stream delivered its last event. (Releasing the object releases the stream:
    /// Kotlin `close()`/`use {}`, Swift when the last reference goes.)
    pub fn ended(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_none_or(|s| s.is_ended())
    }
}

/// What `DownloadTask.nextStep` gives: an event, or the end (`done`: the paths, or
/// `cancelled`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DownloadStep {
    pub event: Option<JobEvent>,
    pub done: bool,
    pub cancelled: bool,
    pub paths: Vec<String>,
}

/// A one-call download running on a thread of its own (`CopyManager.startDownload`;
/// Kotlin `manager.download(...)` and Swift `manager.download(from:to:)` read it): the
/// core's background download.
#[derive(uniffi::Object)]
pub struct DownloadTask(bg::Background);

#[uniffi::export]
impl DownloadTask {
    /// The next event or the end within `timeoutMs`, or null/nil; throws the job's
    /// error when it failed (its job cancelled).
    pub fn next_step(&self, timeout_ms: i32) -> Result<Option<DownloadStep>> {
        let timeout_ms = guard(|| unsigned32(timeout_ms, "timeout_ms"))?;
        let Some(step) = self.0.next_step(Duration::from_millis(timeout_ms.into())) else {
            return Ok(None);
        };
        Ok(Some(match step {
            bg::Step::Event(e) => DownloadStep {
                event: Some(e.into()),
                done: false,
                cancelled: false,
                paths: Vec::new(),
            },
            bg::Step::Done(r) => {
                let r = r.map_err(BgCopyError::from)?;
                DownloadStep {
                    event: None,
                    done: true,
                    cancelled: r.is_none(),
                    paths: r
                        .unwrap_or_default()
                        .into_iter()
                        .map(|p| p.to_string_lossy().into_owned())
                        .collect(),
                }
            }
        }))
    }

    /// Stop: the job is cancelled, and the end comes as `cancelled`.
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

#[uniffi::export]
impl CopyJob {
    /// This job's event stream (Kotlin `job.events()` and Swift `job.events` read it):
    /// its state now, then every state change, file transferred, error and (at most
    /// every 200 ms) progress, until the first state `wait()` returns on.
    pub fn event_stream(&self) -> Result<Arc<JobEventStream>> {
        guard(|| self.0.events()).map(JobEventStream::wrap)
    }
}

#[uniffi::export]
impl CopyManager {
    /// Start the one-call download of `urls` into `dest` with this manager (Kotlin
    /// `manager.download(...)` and Swift `manager.download(from:to:)` read it): one
    /// FOREGROUND job, followed, completed; cancelled on failure or `cancel()`.
    pub fn start_download(self: Arc<Self>, urls: Vec<String>, dest: String) -> Arc<DownloadTask> {
        Arc::new(DownloadTask(bg::Background::spawn(
            move |on_event, stop| {
                let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
                self.0.download_until(
                    &refs,
                    std::path::Path::new(&dest),
                    &bg::DownloadOptions::default(),
                    on_event,
                    stop,
                )
            },
        )))
    }
}
