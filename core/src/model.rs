//! The in-memory records behind the public handles, as the store persists them.

use crate::types::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use uuid::Uuid;

/// The error a job holds in ERROR / TRANSIENT_ERROR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ErrorRec {
    pub context: ErrorContext,
    pub code: u32,
    pub description: String,
    /// Index of the file the error is about.
    pub file: Option<usize>,
    /// "http" / "https" when the error came from a transfer.
    pub protocol: Option<String>,
}

impl ErrorRec {
    /// An error not about a file or a protocol.
    pub fn general(context: ErrorContext, code: u32, description: impl Into<String>) -> Self {
        ErrorRec {
            context,
            code,
            description: description.into(),
            file: None,
            protocol: None,
        }
    }
}

/// One file of a job.
#[derive(Clone, Debug)]
pub(crate) struct FileRec {
    pub remote: String,
    pub local: PathBuf,
    /// None until the server told the size.
    pub total: Option<u64>,
    /// Bytes in the temp file (checkpointed value after a restart).
    pub done_bytes: u64,
    /// The validator (strong ETag, else Last-Modified) the bytes were fetched under.
    pub validator: Option<String>,
    /// Every byte is in the temp file.
    pub done: bool,
    /// `complete()` renamed it into place.
    pub completed: bool,
    /// Restart counter (not persisted): checkpoints from before a restart are void.
    pub epoch: u32,
}

impl FileRec {
    pub fn progress(&self) -> FileProgress {
        FileProgress {
            bytes_total: self.total.unwrap_or(BYTES_UNKNOWN),
            bytes_transferred: self.done_bytes,
            completed: self.completed,
        }
    }
}

/// Per-job notification bookkeeping (not persisted).
#[derive(Default)]
pub(crate) struct NotifyState {
    /// TRANSFERRED to deliver, not before this time (ms).
    pub transferred_due: Option<i64>,
    /// ERROR to deliver, not before this time (ms).
    pub error_due: Option<i64>,
    /// A modification is waiting.
    pub modification: bool,
    /// When the last modification was delivered (ms).
    pub last_modification: i64,
    /// Files whose FILE_TRANSFERRED is waiting.
    pub files: Vec<usize>,
    /// The final state's modification went out; drop the callback.
    pub finished: bool,
}

/// A running transfer of a job.
pub(crate) struct RunCtl {
    pub generation: u64,
    pub stop: Arc<AtomicBool>,
}

/// A job: persisted fields plus run-time bookkeeping.
pub(crate) struct JobRec {
    pub id: Uuid,
    pub seq: i64,
    pub job_type: JobType,
    pub display_name: String,
    pub description: String,
    pub priority: Priority,
    pub notify_flags: u32,
    pub no_progress_timeout: u32,
    pub min_retry_delay: u32,
    pub state: JobState,
    pub error: Option<ErrorRec>,
    pub error_count: u32,
    pub creation_ms: i64,
    pub modification_ms: i64,
    pub completion_ms: Option<i64>,
    /// TRANSIENT_ERROR: when to queue again (ms).
    pub retry_at_ms: Option<i64>,
    /// Start of the current stretch without progress (ms).
    pub no_progress_since_ms: Option<i64>,
    pub files: Vec<FileRec>,
    // --- run time only ---
    pub callback: Option<Arc<dyn crate::CopyCallback>>,
    pub notify: NotifyState,
    /// The transfer the scheduler wants running.
    pub run: Option<RunCtl>,
    /// A worker thread for this job has not exited yet.
    pub worker_alive: bool,
    /// Round-robin stamp: when the job last got a slot.
    pub slot_stamp: u64,
    /// When the job last got a slot (ms), for time slicing.
    pub slot_since_ms: i64,
    /// Current backoff for transient errors (ms).
    pub backoff_ms: i64,
}

impl JobRec {
    pub fn progress(&self) -> JobProgress {
        let mut p = JobProgress {
            bytes_total: 0,
            bytes_transferred: 0,
            files_total: self.files.len() as u32,
            files_transferred: 0,
        };
        let mut unknown = false;
        for f in &self.files {
            match f.total {
                Some(t) => p.bytes_total = p.bytes_total.saturating_add(t),
                None => unknown = true,
            }
            p.bytes_transferred += f.done_bytes;
            if f.done {
                p.files_transferred += 1;
            }
        }
        if unknown {
            p.bytes_total = BYTES_UNKNOWN;
        }
        p
    }

    pub fn times(&self) -> JobTimes {
        JobTimes {
            creation_time: from_ms(self.creation_ms),
            modification_time: from_ms(self.modification_ms),
            transfer_completion_time: self.completion_ms.map(from_ms),
        }
    }

    /// The hidden temporary file that holds file `idx`'s bytes until `complete()`.
    pub fn temp_path(&self, idx: usize) -> PathBuf {
        temp_path(self.id, idx, &self.files[idx].local)
    }

    /// The temporary files of the files `complete()` has not moved into place.
    pub fn unfinished_temps(&self) -> Vec<PathBuf> {
        (0..self.files.len())
            .filter(|&i| !self.files[i].completed)
            .map(|i| self.temp_path(i))
            .collect()
    }

    /// Bytes moved: the no-progress clock and the retry backoff start over.
    pub fn made_progress(&mut self) {
        self.no_progress_since_ms = None;
        self.backoff_ms = 0;
    }
}

/// Suffix of every temporary file.
pub(crate) const TEMP_SUFFIX: &str = ".bgcopy-part";

/// `.<name>.<job id>-<idx>.bgcopy-part` beside `local`.
pub(crate) fn temp_path(job: Uuid, idx: usize, local: &Path) -> PathBuf {
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let short: String = name.chars().take(100).collect();
    local.with_file_name(format!(".{short}.{}-{idx}{TEMP_SUFFIX}", job.simple()))
}

/// The job id a temporary file name belongs to, if it is one of ours.
pub(crate) fn temp_owner(file_name: &str) -> Option<Uuid> {
    let stem = file_name.strip_suffix(TEMP_SUFFIX)?;
    let (rest, _idx) = stem.rsplit_once('-')?;
    let (_, id) = rest.rsplit_once('.')?;
    Uuid::try_parse(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_round_trip() {
        let id = Uuid::new_v4();
        let p = temp_path(id, 7, Path::new("/tmp/x/a.b.iso"));
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".a.b.iso."));
        assert_eq!(temp_owner(name), Some(id));
        assert_eq!(temp_owner("a.iso"), None);
    }
}
