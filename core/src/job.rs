//! The handles: `CopyJob`, `CopyFile`, `CopyError`, and the `CopyCallback` trait.

use crate::error::{Error, Result, codes};
use crate::manager::{Shared, closed_error};
use crate::model::{ErrorRec, FileRec, JobRec};
use crate::model::{set_state, stop_run, touch};
use crate::types::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What a callback returns: `Err` (or a panic) counts as a failed delivery (SPEC §3).
pub type CallbackResult = std::result::Result<(), String>;

/// Receives a job's notifications (IBackgroundCopyCallback). Every method has a default
/// that does nothing, so implement only what you need. Called on the library's
/// notification thread, never while the library holds a lock: a callback may call any
/// method, including `complete()` on its own job.
pub trait CopyCallback: Send + Sync {
    /// The job reached TRANSFERRED (flag JOB_TRANSFERRED). Redelivered after the job's
    /// minimum retry delay while it returns `Err`.
    fn job_transferred(&self, _job: &CopyJob) -> CallbackResult {
        Ok(())
    }
    /// The job reached ERROR (flag JOB_ERROR). Redelivered like `job_transferred`.
    fn job_error(&self, _job: &CopyJob, _error: &CopyError) -> CallbackResult {
        Ok(())
    }
    /// The job changed (flag JOB_MODIFICATION); coalesced, the last is never lost.
    fn job_modification(&self, _job: &CopyJob) -> CallbackResult {
        Ok(())
    }
    /// One file's bytes are all transferred (flag FILE_TRANSFERRED).
    fn file_transferred(&self, _job: &CopyJob, _file: &CopyFile) -> CallbackResult {
        Ok(())
    }
}

/// How `complete()` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Every file is at its local path (S_OK).
    All,
    /// Some files were not transferred and were deleted (PARTIAL_COMPLETE).
    Partial,
}

impl Completion {
    /// S_OK or PARTIAL_COMPLETE.
    pub fn code(self) -> u32 {
        match self {
            Completion::All => codes::S_OK,
            Completion::Partial => codes::PARTIAL_COMPLETE,
        }
    }
}

pub(crate) fn check_text(what: &str, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(Error::invalid_arg(format!(
            "{what} contains a NUL character"
        )));
    }
    Ok(())
}

pub(crate) fn check_len(what: &str, s: &str, max: usize) -> Result<()> {
    check_text(what, s)?;
    let n = s.chars().count();
    if n > max {
        return Err(Error::new(
            codes::STRING_TOO_LONG,
            format!("{what} is {n} characters; at most {max} are allowed"),
        ));
    }
    Ok(())
}

/// Check a local path given to `add_file`: absolute, naming a file (its name within
/// the file system's `NAME_MAX` bytes) in an existing directory that is not inside
/// the state directory `state_dir`. Returns it with the directory resolved.
pub(crate) fn check_local(local: &str, state_dir: &Path) -> Result<PathBuf> {
    check_len("local path", local, 4096)?;
    let path = PathBuf::from(local);
    if !path.is_absolute() {
        return Err(Error::invalid_arg(format!(
            "local path {local:?} is not absolute"
        )));
    }
    if local.ends_with('/') || path.file_name().is_none() {
        return Err(Error::invalid_arg(format!(
            "local path {local:?} does not name a file"
        )));
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or_default();
    if name == ".." || name == "." {
        return Err(Error::invalid_arg(format!(
            "local path {local:?} does not name a file"
        )));
    }
    // The directory as the kernel resolves it (symlinks, `..`), so that two spellings
    // of one file are one file.
    let parent = match parent.canonicalize() {
        Ok(p) if p.is_dir() => p,
        _ => {
            return Err(Error::invalid_arg(format!(
                "the directory of local path {local:?} does not exist"
            )));
        }
    };
    if parent.starts_with(state_dir) {
        return Err(Error::invalid_arg(format!(
            "local path {local:?} is inside the state directory {}: bgcopy never writes \
             its downloads among its own files",
            state_dir.display()
        )));
    }
    let bytes = name.len();
    let max = crate::sys::name_max(&parent);
    if bytes > max {
        return Err(Error::new(
            codes::STRING_TOO_LONG,
            format!(
                "the file name of local path {local:?} is {bytes} bytes; the file system \
                 of {} allows at most {max}",
                parent.display()
            ),
        ));
    }
    let path = parent.join(name);
    if path.is_dir() {
        return Err(Error::invalid_arg(format!(
            "local path {local:?} is a directory"
        )));
    }
    Ok(path)
}

/// A transfer job (IBackgroundCopyJob). Cheap to clone; every clone is the same job.
#[derive(Clone)]
pub struct CopyJob {
    shared: Arc<Shared>,
    id: Uuid,
}

impl std::fmt::Debug for CopyJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CopyJob({})", self.id)
    }
}

impl PartialEq for CopyJob {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl CopyJob {
    pub(crate) fn new(shared: Arc<Shared>, id: Uuid) -> Self {
        CopyJob { shared, id }
    }

    /// Append a file: `remote_url` http(s), `local_path` absolute in an existing directory.
    pub fn add_file(&self, remote_url: &str, local_path: &str) -> Result<()> {
        self.add_file_set(&[(remote_url, local_path)])
    }

    /// Append several files, all or none.
    pub fn add_file_set<R: AsRef<str>, L: AsRef<str>>(&self, files: &[(R, L)]) -> Result<()> {
        let mut new = Vec::with_capacity(files.len());
        let mut seen = std::collections::HashSet::with_capacity(files.len());
        for (remote, local) in files {
            let (remote, local) = (remote.as_ref(), local.as_ref());
            let url = crate::urls::parse_remote(remote)?;
            let path = check_local(local, &self.shared.state_dir)?;
            if !seen.insert(path.clone()) {
                return Err(Error::invalid_arg(format!(
                    "local path {local:?} appears twice"
                )));
            }
            new.push(FileRec::new(url.into(), path));
        }
        self.shared.mutate(self.id, |job, store| {
            let existing: std::collections::HashSet<&Path> =
                job.files.iter().map(|f| f.local.as_path()).collect();
            for f in &new {
                if existing.contains(f.local.as_path()) {
                    return Err(Error::invalid_arg(format!(
                        "local path {:?} is already a file of this job",
                        f.local
                    )));
                }
            }
            let first = job.files.len();
            let id = job.id;
            store.atomic(|s| {
                for (i, f) in new.iter().enumerate() {
                    s.save_file(id, first + i, f)?;
                }
                Ok(())
            })?;
            job.files.extend(new);
            touch(job, now_ms());
            Ok(())
        })
    }

    /// The job's files, in order.
    pub fn enum_files(&self) -> Result<Vec<CopyFile>> {
        let n = self.shared.read(self.id, |j| j.files.len())?;
        Ok((0..n)
            .map(|idx| CopyFile {
                shared: self.shared.clone(),
                job: self.id,
                idx,
            })
            .collect())
    }

    /// Stop transferring (→ SUSPENDED); progress is kept.
    pub fn suspend(&self) -> Result<()> {
        self.shared.mutate(self.id, |job, store| {
            if job.state == JobState::Suspended {
                return Ok(());
            }
            stop_run(job);
            set_state(job, JobState::Suspended, now_ms());
            job.retry_at_ms = None;
            store.save_job(job)
        })
    }

    /// Queue the job (→ QUEUED) from SUSPENDED, ERROR, TRANSIENT_ERROR, or TRANSFERRED
    /// with new files; clears the error. EMPTY when the job has no files.
    pub fn resume(&self) -> Result<()> {
        self.shared.mutate(self.id, |job, store| {
            if job.files.is_empty() {
                return Err(Error::new(
                    codes::EMPTY,
                    "the job has no files: add_file first",
                ));
            }
            if job.state.is_active() {
                return Ok(());
            }
            if job.state == JobState::Transferred && job.files.iter().all(|f| f.done) {
                return Ok(());
            }
            job.retry_at_ms = None;
            job.made_progress();
            job.error = None;
            let id = job.id;
            let mut reset = Vec::new();
            if job.state == JobState::Error {
                // A new round for files that kept changing.
                for (i, f) in job.files.iter_mut().enumerate() {
                    if f.changed_restarts != 0 {
                        f.changed_restarts = 0;
                        reset.push(i);
                    }
                }
            }
            set_state(job, JobState::Queued, now_ms());
            let (files, rec) = (&job.files, &*job);
            store.atomic(|s| {
                for &i in &reset {
                    s.save_file(id, i, &files[i])?;
                }
                s.save_job(rec)
            })
        })
    }

    /// End the job (→ CANCELLED, final) and delete every temporary file.
    pub fn cancel(&self) -> Result<()> {
        let temps = self.shared.mutate(self.id, |job, store| {
            store.atomic(|s| s.delete_job(job.id))?;
            stop_run(job);
            set_state(job, JobState::Cancelled, now_ms());
            Ok(job.unfinished_temps())
        })?;
        self.shared.remove_temps(temps);
        Ok(())
    }

    /// End the job (→ ACKNOWLEDGED, final): every fully transferred file is renamed
    /// into place atomically (its data synced first, the directory after); the others are deleted
    /// ([`Completion::Partial`]). If a rename fails the job stays as it was and the
    /// error is returned; calling again finishes the rest.
    pub fn complete(&self) -> Result<Completion> {
        // Every transferred byte is durable before anything is renamed.
        self.shared.checkpoints.flush();
        self.shared.mutate(self.id, crate::complete::complete)
    }

    /// The job's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The job's id as canonical UUID text.
    pub fn get_id(&self) -> String {
        self.id.to_string()
    }

    /// The job's type.
    pub fn get_type(&self) -> Result<JobType> {
        self.shared.read(self.id, |j| j.job_type)
    }

    /// The job's state.
    pub fn get_state(&self) -> Result<JobState> {
        self.shared.read(self.id, |j| j.state)
    }

    /// The job's progress.
    pub fn get_progress(&self) -> Result<JobProgress> {
        self.shared.read(self.id, JobRec::progress)
    }

    /// The job's time stamps.
    pub fn get_times(&self) -> Result<JobTimes> {
        self.shared.read(self.id, JobRec::times)
    }

    /// The error, in ERROR / TRANSIENT_ERROR; else ERROR_INFORMATION_UNAVAILABLE.
    pub fn get_error(&self) -> Result<CopyError> {
        let rec = self.shared.read(self.id, |j| {
            if matches!(j.state, JobState::Error | JobState::TransientError) {
                j.error.clone()
            } else {
                None
            }
        })?;
        rec.map(|rec| CopyError {
            shared: self.shared.clone(),
            job: self.id,
            rec,
        })
        .ok_or_else(|| {
            Error::new(
                codes::ERROR_INFORMATION_UNAVAILABLE,
                "the job is not in ERROR or TRANSIENT_ERROR",
            )
        })
    }

    /// The display name.
    pub fn get_display_name(&self) -> Result<String> {
        self.shared.read(self.id, |j| j.display_name.clone())
    }

    /// Set the display name (≤ 256 characters).
    pub fn set_display_name(&self, name: &str) -> Result<()> {
        check_len("display name", name, 256)?;
        self.set(|j| &mut j.display_name, name.to_string())
    }

    /// The description.
    pub fn get_description(&self) -> Result<String> {
        self.shared.read(self.id, |j| j.description.clone())
    }

    /// Set the description (≤ 1024 characters).
    pub fn set_description(&self, text: &str) -> Result<()> {
        check_len("description", text, 1024)?;
        self.set(|j| &mut j.description, text.to_string())
    }

    /// The priority (default NORMAL).
    pub fn get_priority(&self) -> Result<Priority> {
        self.shared.read(self.id, |j| j.priority)
    }

    /// Set the priority; the scheduler re-evaluates at once.
    pub fn set_priority(&self, priority: Priority) -> Result<()> {
        self.set(|j| &mut j.priority, priority)
    }

    /// The notification flags (default JOB_TRANSFERRED | JOB_ERROR).
    pub fn get_notify_flags(&self) -> Result<u32> {
        self.shared.read(self.id, |j| j.notify_flags)
    }

    /// Set the notification flags; unknown bits are E_INVALIDARG.
    pub fn set_notify_flags(&self, flags: u32) -> Result<()> {
        if flags & !notify::ALL != 0 {
            return Err(Error::invalid_arg(format!(
                "notify flags {flags:#x} have unknown bits (known: {:#x})",
                notify::ALL
            )));
        }
        self.set(|j| &mut j.notify_flags, flags)
    }

    /// The callback object, if one is set.
    pub fn get_notify_interface(&self) -> Result<Option<Arc<dyn CopyCallback>>> {
        self.shared.read(self.id, |j| j.callback.clone())
    }

    /// Set (or with `None` clear) the callback object. Not persisted.
    pub fn set_notify_interface(&self, callback: Option<Arc<dyn CopyCallback>>) -> Result<()> {
        let old = self.shared.mutate(self.id, |job, _| {
            Ok(std::mem::replace(&mut job.callback, callback))
        })?;
        // The old callback is released here, outside the library's lock.
        drop(old);
        Ok(())
    }

    /// Seconds without progress before a transient error becomes ERROR (default 14 days).
    pub fn get_no_progress_timeout(&self) -> Result<u32> {
        self.shared.read(self.id, |j| j.no_progress_timeout)
    }

    /// Set the no-progress timeout in seconds; 0 makes every error fatal.
    pub fn set_no_progress_timeout(&self, seconds: u32) -> Result<()> {
        self.set(|j| &mut j.no_progress_timeout, seconds)
    }

    /// The minimum retry delay in seconds (default 600).
    pub fn get_minimum_retry_delay(&self) -> Result<u32> {
        self.shared.read(self.id, |j| j.min_retry_delay)
    }

    /// Set the minimum retry delay in seconds: the cap of the transient-error backoff
    /// (which starts at 1 s and doubles) and the callback redelivery delay.
    pub fn set_minimum_retry_delay(&self, seconds: u32) -> Result<()> {
        self.set(|j| &mut j.min_retry_delay, seconds)
    }

    /// Errors seen (transient and fatal, plus restarts of changed files); never reset.
    pub fn get_error_count(&self) -> Result<u32> {
        self.shared.read(self.id, |j| j.error_count)
    }

    /// Block until the job is TRANSFERRED, ERROR, ACKNOWLEDGED or CANCELLED, or the
    /// timeout passes (`None`: forever, or until the manager closes); returns the state.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<JobState> {
        // A timeout too large to represent is forever.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut g = self.shared.lock();
        loop {
            let job = g.jobs.get(&self.id).ok_or_else(|| {
                Error::new(codes::NOT_FOUND, format!("job {} not found", self.id))
            })?;
            if job.state.ends_wait() || g.closed {
                return Ok(job.state);
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(l) if !l.is_zero() => l,
                    _ => return Ok(job.state),
                },
                None => Duration::from_secs(3600),
            };
            g = self
                .shared
                .changed
                .wait_timeout(g, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn set<T>(&self, field: impl Fn(&mut JobRec) -> &mut T, value: T) -> Result<()> {
        self.shared.mutate(self.id, |job, store| {
            let old = std::mem::replace(field(job), value);
            let old_mod = job.modification_ms;
            touch(job, now_ms());
            if let Err(e) = store.save_job(job) {
                *field(job) = old;
                job.modification_ms = old_mod;
                return Err(e);
            }
            Ok(())
        })
    }
}

/// One file of a job (IBackgroundCopyFile).
#[derive(Clone)]
pub struct CopyFile {
    shared: Arc<Shared>,
    job: Uuid,
    idx: usize,
}

impl std::fmt::Debug for CopyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CopyFile({}#{})", self.job, self.idx)
    }
}

impl CopyFile {
    pub(crate) fn new(shared: Arc<Shared>, job: Uuid, idx: usize) -> Self {
        CopyFile { shared, job, idx }
    }

    fn with<R>(&self, f: impl FnOnce(&FileRec) -> R) -> Result<R> {
        self.shared
            .read(self.job, |j| j.files.get(self.idx).map(f))?
            .ok_or_else(|| Error::new(codes::NOT_FOUND, "file not found"))
    }

    /// The file's position in its job.
    pub fn index(&self) -> usize {
        self.idx
    }

    /// The remote URL, with the password of its userinfo (or a lone user name, where
    /// services put tokens) shown as `***`: the secret is used, never shown.
    pub fn get_remote_name(&self) -> Result<String> {
        self.with(|f| crate::urls::redact_url(&f.remote))
    }

    /// The local path.
    pub fn get_local_name(&self) -> Result<String> {
        self.with(|f| f.local.to_string_lossy().into_owned())
    }

    /// The file's progress.
    pub fn get_progress(&self) -> Result<FileProgress> {
        self.with(FileRec::progress)
    }

    /// The hidden temporary file that holds the bytes until `complete()` (BITS File3
    /// `GetTemporaryName`): in the local path's directory, named
    /// `.<name>.<random>.bgcopy-part`. It exists once the transfer started.
    pub fn get_temporary_name(&self) -> Result<String> {
        self.with(|f| f.temp_path().to_string_lossy().into_owned())
    }
}

/// The error of a job in ERROR / TRANSIENT_ERROR (IBackgroundCopyError), a snapshot
/// taken by `get_error()`.
#[derive(Clone)]
pub struct CopyError {
    shared: Arc<Shared>,
    job: Uuid,
    rec: ErrorRec,
}

impl std::fmt::Debug for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CopyError({}, {}, {:?})",
            self.rec.context,
            codes::symbol(self.rec.code),
            self.rec.description
        )
    }
}

impl CopyError {
    pub(crate) fn new(shared: Arc<Shared>, job: Uuid, rec: ErrorRec) -> Self {
        CopyError { shared, job, rec }
    }

    /// Where it came from and its code.
    pub fn get_error(&self) -> (ErrorContext, u32) {
        (self.rec.context, self.rec.code)
    }

    /// The file it is about, or FILE_NOT_AVAILABLE.
    pub fn get_file(&self) -> Result<CopyFile> {
        match self.rec.file {
            Some(idx) => Ok(CopyFile::new(self.shared.clone(), self.job, idx)),
            None => Err(Error::new(
                codes::FILE_NOT_AVAILABLE,
                "the error is not about a file",
            )),
        }
    }

    /// What went wrong, for people.
    pub fn get_error_description(&self) -> String {
        crate::urls::redact_text(&self.rec.description).into_owned()
    }

    /// What the context means, for people.
    pub fn get_error_context_description(&self) -> String {
        match self.rec.context {
            ErrorContext::None => "No error",
            ErrorContext::Unknown => "The origin of the error is unknown",
            ErrorContext::GeneralQueueManager => "The error occurred in the job manager",
            ErrorContext::QueueManagerNotification => {
                "The error occurred while delivering a notification"
            }
            ErrorContext::LocalFile => "The error occurred while writing the local file",
            ErrorContext::RemoteFile => "The error occurred while processing the remote file",
            ErrorContext::GeneralTransport => "The error occurred in the network transport",
            ErrorContext::RemoteApplication => "The server application reported an error",
        }
        .to_string()
    }

    /// "http" or "https", or PROTOCOL_NOT_AVAILABLE.
    pub fn get_protocol(&self) -> Result<String> {
        self.rec.protocol.clone().ok_or_else(|| {
            Error::new(
                codes::PROTOCOL_NOT_AVAILABLE,
                "the error is not about a transfer",
            )
        })
    }
}

impl From<&CopyError> for Error {
    fn from(e: &CopyError) -> Error {
        Error::new(e.rec.code, e.rec.description.clone())
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn f<T: Send + Sync>() {}
    f::<CopyJob>();
    f::<CopyFile>();
    f::<CopyError>();
    let _ = closed_error;
}
