//! `CopyJob` (IBackgroundCopyJob) and the `CopyCallback` trait it takes (the two refer
//! to each other, so they live together).

use super::error::CopyError;
use super::file::CopyFile;
use crate::args::{LocalPaths, check_len, check_text};
use crate::error::{Error, Result, codes};
use crate::record::{FileRec, JobRec};
use crate::table::JobTable;
use crate::types::*;
use std::any::Any;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// What a callback returns: `Err` (or a panic) counts as a failed delivery (docs/spec.md §3).
pub type CallbackResult = std::result::Result<(), String>;

/// Receives a job's notifications (IBackgroundCopyCallback). Every method has a default
/// that does nothing, so implement only what you need. Called on the library's
/// notification thread, never while the library holds a lock: a callback may call any
/// method, including `complete()` on its own job. A binding gets its own object back
/// with [`CopyJob::get_notify_interface_as`].
pub trait CopyCallback: Any + Send + Sync {
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

/// How a callback is held in a job's record (type-erased there, so that records do not
/// depend on the handles).
pub(crate) struct CallbackSlot(pub Arc<dyn CopyCallback>);

impl CallbackSlot {
    /// The callback held in a record's slot.
    pub fn of(slot: &Option<Arc<dyn Any + Send + Sync>>) -> Option<Arc<dyn CopyCallback>> {
        slot.as_ref()
            .and_then(|s| s.downcast_ref::<CallbackSlot>())
            .map(|s| s.0.clone())
    }
}

/// A transfer job (IBackgroundCopyJob). Cheap to clone; every clone is the same job.
#[derive(Clone)]
pub struct CopyJob {
    pub(super) table: Arc<JobTable>,
    pub(super) id: Uuid,
}

impl std::fmt::Debug for CopyJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CopyJob({})", self.id)
    }
}

impl PartialEq for CopyJob {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && Arc::ptr_eq(&self.table, &other.table)
    }
}

impl CopyJob {
    pub(crate) fn new(table: Arc<JobTable>, id: Uuid) -> Self {
        CopyJob { table, id }
    }

    /// Append a file: `remote_url` http(s), `local_path` absolute in an existing directory.
    pub fn add_file(&self, remote_url: &str, local_path: &str) -> Result<()> {
        self.add_file_set(&[(remote_url, local_path)])
    }

    /// Append several files, all or none.
    pub fn add_file_set<R: AsRef<str>, L: AsRef<str>>(&self, files: &[(R, L)]) -> Result<()> {
        let mut new = Vec::with_capacity(files.len());
        let mut seen = std::collections::HashSet::with_capacity(files.len());
        let mut paths = LocalPaths::new(&self.table.state_dir, files.len());
        for (remote, local) in files {
            let (remote, local) = (remote.as_ref(), local.as_ref());
            let url = crate::urls::parse_remote(remote)?;
            let (path, name_max) = paths.check(local)?;
            if !seen.insert(path.clone()) {
                return Err(Error::invalid_arg(format!(
                    "local path {local:?} appears twice"
                )));
            }
            let temp = crate::record::temp_name_within(&path, name_max);
            new.push(FileRec::new(url.into(), path, temp));
        }
        self.table.mutate(self.id, |job, store| {
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
                    s.insert_file(id, first + i, f)?;
                }
                Ok(())
            })?;
            job.files.extend(new);
            job.touch(now_ms());
            Ok(())
        })
    }

    /// The job's files, in order.
    pub fn enum_files(&self) -> Result<Vec<CopyFile>> {
        let n = self.table.read(self.id, |j| j.files.len())?;
        Ok((0..n)
            .map(|idx| CopyFile::new(self.table.clone(), self.id, idx))
            .collect())
    }

    /// Stop transferring (→ SUSPENDED); progress is kept.
    pub fn suspend(&self) -> Result<()> {
        self.table.mutate(self.id, |job, store| {
            if job.state == JobState::Suspended {
                return Ok(());
            }
            job.stop_run();
            job.set_state(JobState::Suspended, now_ms());
            job.retry_at_ms = None;
            store.save_job(job)
        })
    }

    /// Queue the job (→ QUEUED) from SUSPENDED, ERROR, TRANSIENT_ERROR, or TRANSFERRED
    /// with new files; clears the error. EMPTY when the job has no files.
    pub fn resume(&self) -> Result<()> {
        self.table.mutate(self.id, |job, store| {
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
            // The maximum download time counts from each resume (BITS Job4).
            job.download_ms = 0;
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
            job.set_state(JobState::Queued, now_ms());
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
        let temps = self.table.mutate(self.id, |job, store| {
            let now = now_ms();
            store.atomic(|s| s.finish_job(job.id, JobState::Cancelled, now))?;
            job.stop_run();
            job.set_state(JobState::Cancelled, now);
            Ok(job.unfinished_temps())
        })?;
        crate::complete::remove_temps(&self.table, temps);
        Ok(())
    }

    /// End the job (→ ACKNOWLEDGED, final): every fully transferred file is renamed
    /// into place atomically (its data synced first, the directory after); the others are deleted
    /// ([`Completion::Partial`]). If a rename fails the job stays as it was and the
    /// error is returned; calling again finishes the rest.
    pub fn complete(&self) -> Result<Completion> {
        // Every transferred byte is durable before anything is renamed.
        self.table.barrier();
        self.table.mutate(self.id, crate::complete::complete)
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
        self.table.read(self.id, |j| j.job_type)
    }

    /// The job's state.
    pub fn get_state(&self) -> Result<JobState> {
        self.table.read(self.id, |j| j.state)
    }

    /// The job's progress.
    pub fn get_progress(&self) -> Result<JobProgress> {
        self.table.read(self.id, JobRec::progress)
    }

    /// The job's time stamps.
    pub fn get_times(&self) -> Result<JobTimes> {
        self.table.read(self.id, JobRec::times)
    }

    /// The error, in ERROR / TRANSIENT_ERROR; else ERROR_INFORMATION_UNAVAILABLE.
    pub fn get_error(&self) -> Result<CopyError> {
        let rec = self.table.read(self.id, |j| {
            if matches!(j.state, JobState::Error | JobState::TransientError) {
                j.error.clone()
            } else {
                None
            }
        })?;
        rec.map(|rec| CopyError::new(self.table.clone(), self.id, rec))
            .ok_or_else(|| {
                Error::new(
                    codes::ERROR_INFORMATION_UNAVAILABLE,
                    "the job is not in ERROR or TRANSIENT_ERROR",
                )
            })
    }

    /// The display name.
    pub fn get_display_name(&self) -> Result<String> {
        self.table.read(self.id, |j| j.display_name.clone())
    }

    /// Set the display name (≤ 256 characters).
    pub fn set_display_name(&self, name: &str) -> Result<()> {
        check_len("display name", name, 256)?;
        self.set(|j| &mut j.display_name, name.to_string())
    }

    /// The description.
    pub fn get_description(&self) -> Result<String> {
        self.table.read(self.id, |j| j.description.clone())
    }

    /// Set the description (≤ 1024 characters).
    pub fn set_description(&self, text: &str) -> Result<()> {
        check_len("description", text, 1024)?;
        self.set(|j| &mut j.description, text.to_string())
    }

    /// The notify command line (`None` when not set).
    pub fn get_notify_cmd_line(&self) -> Result<Option<NotifyCmdLine>> {
        self.table.read(self.id, |j| j.notify_cmd.clone())
    }

    /// Set the notify command line (BITS `SetNotifyCmdLine`): whichever process runs
    /// the engine runs `program` with `args` (no shell; `BGCOPY_JOB_ID` in its
    /// environment, stdin/stdout/stderr on /dev/null) once each time the job reaches
    /// TRANSFERRED or ERROR with the matching notification flag set, and again after
    /// the minimum retry delay while it exits non-zero or cannot start. `program` must
    /// be an absolute path (≤ 4096 characters); the arguments may not hold NUL and
    /// together hold at most 32768 characters. An empty `program` clears it.
    pub fn set_notify_cmd_line(&self, program: &str, args: &[String]) -> Result<()> {
        let cmd = if program.is_empty() {
            None
        } else {
            check_len("program", program, 4096)?;
            if !std::path::Path::new(program).is_absolute() {
                return Err(Error::invalid_arg(format!(
                    "program {program:?} is not an absolute path"
                )));
            }
            let mut total = 0;
            for a in args {
                check_text("argument", a)?;
                total += a.chars().count();
            }
            if total > 32768 {
                return Err(Error::new(
                    codes::STRING_TOO_LONG,
                    format!("the arguments are {total} characters; at most 32768 are allowed"),
                ));
            }
            Some(NotifyCmdLine {
                program: program.to_string(),
                args: args.to_vec(),
            })
        };
        self.set(|j| &mut j.notify_cmd, cmd)
    }

    /// The priority (default NORMAL).
    pub fn get_priority(&self) -> Result<Priority> {
        self.table.read(self.id, |j| j.priority)
    }

    /// Set the priority; the scheduler re-evaluates at once.
    pub fn set_priority(&self, priority: Priority) -> Result<()> {
        self.set(|j| &mut j.priority, priority)
    }

    /// The notification flags (default JOB_TRANSFERRED | JOB_ERROR).
    pub fn get_notify_flags(&self) -> Result<u32> {
        self.table.read(self.id, |j| j.notify_flags)
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
        self.table.read(self.id, |j| CallbackSlot::of(&j.callback))
    }

    /// The callback object as the type `T` it was set as (a binding's own wrapper),
    /// or `None` when none is set or it is another type.
    pub fn get_notify_interface_as<T: CopyCallback>(&self) -> Result<Option<Arc<T>>> {
        Ok(self.get_notify_interface()?.and_then(|cb| {
            let any: Arc<dyn Any + Send + Sync> = cb;
            any.downcast::<T>().ok()
        }))
    }

    /// Set (or with `None` clear) the callback object. Not persisted.
    pub fn set_notify_interface(&self, callback: Option<Arc<dyn CopyCallback>>) -> Result<()> {
        let slot = callback.map(|cb| Arc::new(CallbackSlot(cb)) as Arc<dyn Any + Send + Sync>);
        let old = self.table.mutate(self.id, |job, _| {
            Ok(std::mem::replace(&mut job.callback, slot))
        })?;
        // The old callback is released here, outside the library's lock.
        drop(old);
        Ok(())
    }

    /// Seconds without progress before a transient error becomes ERROR (default 14 days).
    pub fn get_no_progress_timeout(&self) -> Result<u32> {
        self.table.read(self.id, |j| j.no_progress_timeout)
    }

    /// Set the no-progress timeout in seconds; 0 makes every error fatal.
    pub fn set_no_progress_timeout(&self, seconds: u32) -> Result<()> {
        self.set(|j| &mut j.no_progress_timeout, seconds)
    }

    /// The minimum retry delay in seconds (default 600).
    pub fn get_minimum_retry_delay(&self) -> Result<u32> {
        self.table.read(self.id, |j| j.min_retry_delay)
    }

    /// Set the minimum retry delay in seconds: the cap of the transient-error backoff
    /// (which starts at 1 s and doubles) and the callback redelivery delay.
    pub fn set_minimum_retry_delay(&self, seconds: u32) -> Result<()> {
        self.set(|j| &mut j.min_retry_delay, seconds)
    }

    /// Errors seen (transient and fatal, plus restarts of changed files); never reset.
    pub fn get_error_count(&self) -> Result<u32> {
        self.table.read(self.id, |j| j.error_count)
    }

    pub(super) fn set<T>(&self, field: impl Fn(&mut JobRec) -> &mut T, value: T) -> Result<()> {
        self.table.mutate(self.id, |job, store| {
            let old = std::mem::replace(field(job), value);
            let old_mod = job.modification_ms;
            job.touch(now_ms());
            if let Err(e) = store.save_job(job) {
                *field(job) = old;
                job.modification_ms = old_mod;
                return Err(e);
            }
            Ok(())
        })
    }
}
