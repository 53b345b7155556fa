//! The records behind the public handles, as the store persists them, and their state
//! machine: a job's state changes, its modification stamp, a file's restart.

use crate::sys::FileId;
use crate::types::*;
use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
            description: crate::redact::redact_text(&description.into()).into_owned(),
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
    /// Bytes in the temp file (live: more than the store holds while data moves).
    pub done_bytes: u64,
    /// Where those bytes are when they are not the prefix `[0, done_bytes)` (a
    /// segmented download): sorted, disjoint ranges (live, like `done_bytes`).
    pub parts: Option<crate::ranges::Ranges>,
    /// What the store holds of `done_bytes` and `parts`: only what a checkpoint made
    /// durable (or what recovery proved). `save_file` writes these, never the live
    /// values, so no call that saves a file can record bytes that are not synced.
    pub synced: u64,
    pub synced_parts: Option<crate::ranges::Ranges>,
    /// The server refused a segment's range once: the file uses one connection from
    /// then on (stored; a server that does ranges for some requests only).
    pub one_stream: bool,
    /// The validator (strong ETag, else Last-Modified) the bytes were fetched under.
    pub validator: Option<String>,
    /// Every byte is in the temp file.
    pub done: bool,
    /// `complete()` renamed it into place.
    pub completed: bool,
    /// Restart counter (not persisted): checkpoints from before a restart are void.
    pub epoch: u32,
    /// Name of the hidden temporary file in the local path's directory: random,
    /// chosen when the file is added (and again if something else took the name).
    pub temp_name: String,
    /// Identity of the temporary file once bgcopy created it (recorded in the store's
    /// temp ledger before any byte is written).
    pub temp_id: Option<FileId>,
    /// Restarts because the remote file changed (persisted; reset when the file is
    /// done and by `resume()` from ERROR).
    pub changed_restarts: u32,
    /// Live progress the engine published for other processes (not durable, never
    /// trusted by recovery): progress shows the larger of it and `done_bytes`.
    pub published: u64,
    /// The URL the last response came from (after redirects); saved with the file's
    /// next checkpoint.
    pub final_url: Option<String>,
    /// The last response's header lines (`Name: value`, secrets of the job shown as
    /// `***`); saved with the file's next checkpoint.
    pub response_headers: Vec<String>,
    /// The content's expected digest, `sha256:<64 lower-case hex digits>`.
    pub expected_hash: Option<String>,
    /// The URL whose origin the job's custom headers and credentials go to, when it is
    /// not `remote` any more: ALLOW_REPORT made a redirect's target on another origin
    /// the remote name, and that server must not receive them.
    pub auth_url: Option<String>,
    /// The app said the bytes are valid (BITS File3 `SetValidationState(TRUE)`);
    /// false until it does, and again once the file starts over.
    pub validated: bool,
}

impl FileRec {
    /// A new file of a job, nothing transferred yet, with temporary file name
    /// `temp_name` ([`new_temp_name`]).
    pub fn new(remote: String, local: PathBuf, temp_name: String) -> FileRec {
        FileRec {
            remote,
            local,
            total: None,
            done_bytes: 0,
            parts: None,
            synced: 0,
            synced_parts: None,
            one_stream: false,
            validator: None,
            done: false,
            completed: false,
            epoch: 0,
            temp_name,
            temp_id: None,
            changed_restarts: 0,
            published: 0,
            final_url: None,
            response_headers: Vec::new(),
            expected_hash: None,
            auth_url: None,
            validated: false,
        }
    }

    /// The hidden temporary file that holds the bytes until `complete()`.
    pub fn temp_path(&self) -> PathBuf {
        self.local.with_file_name(&self.temp_name)
    }

    /// [`FileRec::reset`] under a new epoch, so that checkpoints of the bytes dropped
    /// are void; returns the new epoch.
    pub fn start_over(&mut self) -> u32 {
        self.reset();
        self.epoch += 1;
        self.epoch
    }

    /// Forget the bytes: the file starts over from 0 (same temporary file).
    pub fn reset(&mut self) {
        self.validated = false;
        self.done_bytes = 0;
        self.parts = None;
        self.synced = 0;
        self.synced_parts = None;
        self.published = 0;
        self.done = false;
        self.validator = None;
        self.total = None;
    }

    /// Start over under a new temporary name, the old path abandoned (something
    /// bgcopy did not create is there, or its file vanished).
    pub fn abandon_temp(&mut self) {
        self.reset();
        self.temp_id = None;
        self.temp_name = new_temp_name(&self.local);
    }

    /// Where the durable bytes end: the temporary file must be at least this long.
    pub fn synced_end(&self) -> u64 {
        match &self.synced_parts {
            Some(p) => p.last().map_or(0, |r| r.1),
            None => self.synced,
        }
    }

    /// The bytes progress reports: durable ones, or more when the engine published
    /// live progress.
    pub fn shown_bytes(&self) -> u64 {
        let live = match self.total {
            Some(t) => self.published.min(t),
            None => self.published,
        };
        self.done_bytes.max(live)
    }

    pub fn progress(&self) -> FileProgress {
        FileProgress {
            bytes_total: self.total.unwrap_or(BYTES_UNKNOWN),
            bytes_transferred: self.shown_bytes(),
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

/// A journal entry not yet written to the store: it is appended in the transaction
/// that saves the change it records.
#[derive(Clone, Debug)]
pub(crate) struct PendingEvent {
    pub kind: EventKind,
    pub state: JobState,
    pub time_ms: i64,
    pub file: Option<usize>,
    pub error: Option<ErrorRec>,
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
    /// `complete()` began moving files into place: the next open (or `complete()`)
    /// finishes it.
    pub completing: bool,
    /// The notify command line, if set.
    pub notify_cmd: Option<NotifyCmdLine>,
    /// Custom header lines (`Name: value`) sent with every request of the job.
    pub custom_headers: Vec<String>,
    /// The custom headers can no longer be read back (BITS HttpOptions3).
    pub headers_write_only: bool,
    /// BITS security flags (redirect policy, https→http).
    pub security_flags: u32,
    /// Credentials (write-only), at most one per target and scheme, the newest last.
    pub credentials: Vec<crate::request::Credential>,
    /// Which proxy the job's requests use.
    pub proxy: crate::proxy::ProxySettings,
    /// The TLS client certificate and key files (PEM) the job presents.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Longest time the job may spend CONNECTING or TRANSFERRING (s; 0 = no limit).
    pub max_download_time: u32,
    /// Time spent CONNECTING or TRANSFERRING since the last `resume()` (ms), up to the
    /// last time the job left those states (see [`JobRec::download_elapsed`]).
    pub download_ms: i64,
    /// Connections one file may use at once (segmented download; 0: the manager's
    /// `max_connections_per_file`).
    pub max_connections_per_file: u32,
    /// The job's bandwidth limit over all its connections (B/s; 0: none).
    pub bandwidth_limit: u64,
    /// The state (TRANSFERRED or ERROR) whose command line is still to run.
    pub cmd_due: Option<JobState>,
    /// After a failed run of the command line: not again before this time (ms).
    pub cmd_retry_at_ms: Option<i64>,
    pub files: Vec<FileRec>,
    /// Journal entries waiting for the transaction that saves this job.
    pub journal: Vec<PendingEvent>,
    /// Counts [`JobRec::touch`] (a call that changed the job, seen by `JobTable`).
    pub touches: u64,
    // --- run time only ---
    /// The callback object (a `handles::CallbackSlot`, type-erased so that records do
    /// not depend on the handles).
    pub callback: Option<Arc<dyn Any + Send + Sync>>,
    pub notify: NotifyState,
    /// The transfer the scheduler wants running.
    pub run: Option<RunCtl>,
    /// A worker thread for this job has not exited yet.
    pub worker_alive: bool,
    /// When the job last entered CONNECTING or TRANSFERRING (ms) while in them here.
    pub active_since_ms: Option<i64>,
    /// Round-robin stamp: when the job last got a slot.
    pub slot_stamp: u64,
    /// When the job last got a slot (ms), for time slicing.
    pub slot_since_ms: i64,
    /// Current backoff for transient errors (ms).
    pub backoff_ms: i64,
}

/// Defaults of a new job (docs/spec.md §1).
pub(crate) mod defaults {
    /// 14 days.
    pub const NO_PROGRESS_TIMEOUT_S: u32 = 1_209_600;
    /// 10 minutes.
    pub const MIN_RETRY_DELAY_S: u32 = 600;
}

impl JobRec {
    /// A new job: SUSPENDED, NORMAL priority, default flags and timeouts, no files.
    pub fn new(id: Uuid, seq: i64, job_type: JobType, display_name: String, now: i64) -> JobRec {
        JobRec {
            id,
            seq,
            job_type,
            display_name,
            description: String::new(),
            priority: Priority::Normal,
            notify_flags: notify::DEFAULT,
            no_progress_timeout: defaults::NO_PROGRESS_TIMEOUT_S,
            min_retry_delay: defaults::MIN_RETRY_DELAY_S,
            state: JobState::Suspended,
            error: None,
            error_count: 0,
            creation_ms: now,
            modification_ms: now,
            completion_ms: None,
            retry_at_ms: None,
            no_progress_since_ms: None,
            completing: false,
            notify_cmd: None,
            custom_headers: Vec::new(),
            headers_write_only: false,
            security_flags: 0,
            credentials: Vec::new(),
            proxy: Default::default(),
            client_cert: None,
            max_download_time: 0,
            download_ms: 0,
            max_connections_per_file: 0,
            bandwidth_limit: 0,
            cmd_due: None,
            cmd_retry_at_ms: None,
            files: Vec::new(),
            journal: Vec::new(),
            touches: 0,
            callback: None,
            notify: NotifyState::default(),
            run: None,
            worker_alive: false,
            active_since_ms: None,
            slot_stamp: 0,
            slot_since_ms: 0,
            backoff_ms: 0,
        }
    }

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
            p.bytes_transferred += f.shown_bytes();
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

    /// The temporary files bgcopy created for files `complete()` has not moved into
    /// place, with their identities.
    pub fn unfinished_temps(&self) -> Vec<(PathBuf, FileId)> {
        self.files
            .iter()
            .filter(|f| !f.completed)
            .filter_map(|f| f.temp_id.map(|id| (f.temp_path(), id)))
            .collect()
    }

    /// Bytes moved: the no-progress clock and the retry backoff start over.
    pub fn made_progress(&mut self) {
        self.no_progress_since_ms = None;
        self.backoff_ms = 0;
    }

    /// Change the state, stamping times and queueing notifications.
    pub fn set_state(&mut self, state: JobState, now: i64) {
        if self.state == state {
            return;
        }
        let downloading = |s: JobState| matches!(s, JobState::Connecting | JobState::Transferring);
        match (downloading(self.state), downloading(state)) {
            (false, true) => self.active_since_ms = Some(now),
            (true, false) => {
                self.download_ms = self.download_elapsed(now);
                self.active_since_ms = None;
            }
            _ => {}
        }
        match (&self.error, state) {
            (Some(e), JobState::Error | JobState::TransientError) => log::info!(
                target: "bgcopy::job",
                "job {}: {} -> {state}: {} (0x{:08X}): {}",
                self.id,
                self.state,
                crate::codes::symbol(e.code),
                e.code,
                e.description
            ),
            _ => log::info!(target: "bgcopy::job", "job {}: {} -> {state}", self.id, self.state),
        }
        self.state = state;
        self.touch(now);
        self.record(EventKind::StateChanged, now, None);
        if matches!(state, JobState::Error | JobState::TransientError)
            && let Some(e) = &self.error
        {
            let file = e.file;
            self.record(EventKind::Error, now, file);
        }
        self.notify.transferred_due = None;
        self.notify.error_due = None;
        match state {
            JobState::Transferred => {
                self.completion_ms = Some(now);
                self.notify.transferred_due = Some(now);
            }
            JobState::Error => self.notify.error_due = Some(now),
            _ => {}
        }
        // The command line runs once for each TRANSFERRED or ERROR the flags ask for;
        // any other state makes a pending run moot.
        let wanted = match state {
            JobState::Transferred => notify::JOB_TRANSFERRED,
            JobState::Error => notify::JOB_ERROR,
            _ => 0,
        };
        self.cmd_retry_at_ms = None;
        self.cmd_due = (self.notify_cmd.is_some()
            && self.notify_flags & wanted != 0
            && self.notify_flags & notify::DISABLE == 0)
            .then_some(state);
        if !matches!(state, JobState::Error | JobState::TransientError) {
            self.error = None;
        }
    }

    /// Time spent CONNECTING or TRANSFERRING since the last `resume()`, at `now` (ms).
    pub fn download_elapsed(&self, now: i64) -> i64 {
        self.download_ms.saturating_add(
            self.active_since_ms
                .map_or(0, |s| now.saturating_sub(s).max(0)),
        )
    }

    /// Queue a journal entry of `kind` (with the job's state, and its error for ERROR).
    pub fn record(&mut self, kind: EventKind, now: i64, file: Option<usize>) {
        let error = match kind {
            EventKind::Error => self.error.clone(),
            _ => None,
        };
        self.journal.push(PendingEvent {
            kind,
            state: self.state,
            time_ms: now,
            file,
            error,
        });
    }

    /// Bump the modification time and queue a JOB_MODIFICATION.
    pub fn touch(&mut self, now: i64) {
        self.touches = self.touches.wrapping_add(1);
        self.modification_ms = self.modification_ms.max(now);
        self.notify.modification = true;
    }

    /// Stop a running transfer (its worker exits at its next check).
    pub fn stop_run(&mut self) {
        if let Some(run) = self.run.take() {
            run.stop.store(true, Ordering::SeqCst);
        }
    }

    /// Fail with `error` (ERROR, counted), e.g. a file a local attacker replaced.
    pub fn fail(&mut self, error: ErrorRec, now: i64) {
        self.error_count = self.error_count.saturating_add(1);
        self.error = Some(error);
        self.retry_at_ms = None;
        self.set_state(JobState::Error, now);
    }

    /// Take what another process stored for this job (`fresh`, read again because its
    /// revision grew), keeping what only this process knows: the callback, the
    /// notification bookkeeping, the run, and, for a job this process is transferring,
    /// the live state of its files (the engine owns those). Stops a run the change
    /// ended and queues a JOB_MODIFICATION (the other notifications come from the
    /// event journal).
    pub fn merge_stored(&mut self, fresh: JobRec) {
        let was = self.state;
        let running_here = self.run.is_some() || self.worker_alive;
        let JobRec {
            seq,
            job_type,
            display_name,
            description,
            priority,
            notify_flags,
            no_progress_timeout,
            min_retry_delay,
            state,
            error,
            error_count,
            creation_ms,
            modification_ms,
            completion_ms,
            retry_at_ms,
            no_progress_since_ms,
            completing,
            notify_cmd,
            custom_headers,
            headers_write_only,
            security_flags,
            credentials,
            proxy,
            client_cert,
            max_download_time,
            download_ms,
            max_connections_per_file,
            bandwidth_limit,
            cmd_due,
            cmd_retry_at_ms,
            files,
            ..
        } = fresh;
        self.credentials = credentials;
        self.proxy = proxy;
        self.client_cert = client_cert;
        self.max_download_time = max_download_time;
        self.download_ms = download_ms;
        self.max_connections_per_file = max_connections_per_file;
        self.bandwidth_limit = bandwidth_limit;
        self.notify_cmd = notify_cmd;
        self.custom_headers = custom_headers;
        self.headers_write_only = headers_write_only;
        self.security_flags = security_flags;
        self.cmd_due = cmd_due;
        self.cmd_retry_at_ms = cmd_retry_at_ms;
        self.seq = seq;
        self.job_type = job_type;
        self.display_name = display_name;
        self.description = description;
        self.priority = priority;
        self.notify_flags = notify_flags;
        self.no_progress_timeout = no_progress_timeout;
        self.min_retry_delay = min_retry_delay;
        self.error = error;
        self.error_count = error_count;
        self.creation_ms = creation_ms;
        self.modification_ms = self.modification_ms.max(modification_ms);
        self.completion_ms = completion_ms;
        self.retry_at_ms = retry_at_ms;
        self.no_progress_since_ms = no_progress_since_ms;
        self.completing = completing;
        for (idx, f) in files.into_iter().enumerate() {
            match self.files.get_mut(idx) {
                Some(mine) if running_here && !state.is_final() => {
                    // The engine here owns the transfer state; others only complete
                    // files or reset their restart count.
                    mine.completed = f.completed;
                    mine.changed_restarts = f.changed_restarts;
                }
                Some(mine) => {
                    let epoch = mine.epoch;
                    *mine = f;
                    mine.epoch = epoch;
                }
                None => self.files.push(f),
            }
        }
        if state != was {
            self.state = state;
            if !state.is_active() {
                self.stop_run();
            }
        }
        self.notify.modification = true;
    }

    /// Whether the record holds nothing but what the store has (so the cache may drop
    /// it and read it again): no callback, run, pending journal entry or notification
    /// a later callback would still get, and not in a state the scheduler keeps
    /// in-memory bookkeeping for (backoff, round robin).
    pub fn only_stored_values(&self) -> bool {
        self.callback.is_none()
            && self.run.is_none()
            && !self.worker_alive
            && self.journal.is_empty()
            && self.notify.transferred_due.is_none()
            && self.notify.error_due.is_none()
            && !self.state.is_active()
            && self.state != JobState::TransientError
    }

    /// Whether someone listens for JOB_MODIFICATION.
    pub fn listens_for_modifications(&self) -> bool {
        self.callback.is_some()
            && self.notify_flags & notify::JOB_MODIFICATION != 0
            && self.notify_flags & notify::DISABLE == 0
    }
}

/// The error of a file whose temporary path holds something bgcopy did not create.
pub(crate) fn foreign_error(idx: usize, what: &str) -> ErrorRec {
    ErrorRec {
        context: ErrorContext::LocalFile,
        code: crate::error::codes::ACCESS_DENIED,
        description: format!(
            "{what}: bgcopy never follows, writes or deletes a file it did not create, so \
             it left it untouched; resume() downloads the file again under a new \
             temporary name"
        ),
        file: Some(idx),
        protocol: None,
    }
}

/// Suffix of every temporary file.
pub(crate) const TEMP_SUFFIX: &str = ".bgcopy-part";

/// Random characters in a temporary name (128 bits from the OS's generator, hex).
const TEMP_RANDOM: usize = 32;

/// A fresh temporary name for `local`: `.<name>.<random>.bgcopy-part`, where the name
/// is cut (by bytes, on a character boundary) so the whole fits in the directory's
/// `NAME_MAX`, and the random part cannot be predicted from anything visible.
pub(crate) fn new_temp_name(local: &Path) -> String {
    temp_name_within(local, local.parent().map_or(255, crate::sys::name_max))
}

/// [`new_temp_name`] for a directory whose `NAME_MAX` is known.
pub(crate) fn temp_name_within(local: &Path, max: usize) -> String {
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let max = max.min(255);
    let budget = max.saturating_sub(2 + TEMP_RANDOM + TEMP_SUFFIX.len());
    let mut cut = name.len().min(budget);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let random = Uuid::new_v4().simple().to_string();
    format!(".{}.{random}{TEMP_SUFFIX}", &name[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_random_and_fit_name_max() {
        let a = new_temp_name(Path::new("/tmp/a.b.iso"));
        let b = new_temp_name(Path::new("/tmp/a.b.iso"));
        assert!(
            a.starts_with(".a.b.iso.") && a.ends_with(TEMP_SUFFIX),
            "{a}"
        );
        assert_ne!(a, b);
        // 210 bytes of two-byte characters: cut on a character boundary.
        let long = "é".repeat(105);
        let t = new_temp_name(&Path::new("/tmp").join(&long));
        assert!(t.len() <= 255, "{} bytes", t.len());
        assert!(t.starts_with(&format!(".{}", "é".repeat(10))));
    }
}
