//! `CopyFile` (IBackgroundCopyFile): one file of a job.

use crate::error::{Error, Result, codes};
use crate::record::{FileRec, JobRec};
use crate::store::Store;
use crate::table::JobTable;
use crate::types::{FileProgress, JobState, now_ms};
use std::sync::Arc;
use uuid::Uuid;

/// One file of a job (IBackgroundCopyFile).
#[derive(Clone)]
pub struct CopyFile {
    table: Arc<JobTable>,
    job: Uuid,
    idx: usize,
}

impl std::fmt::Debug for CopyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CopyFile({}#{})", self.job, self.idx)
    }
}

impl CopyFile {
    pub(crate) fn new(table: Arc<JobTable>, job: Uuid, idx: usize) -> Self {
        CopyFile { table, job, idx }
    }

    fn with<R>(&self, f: impl FnOnce(&FileRec) -> R) -> Result<R> {
        self.table
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
        self.with(|f| crate::redact::redact_url(&f.remote))
    }

    /// Give the file a new remote URL (BITS File2 `SetRemoteName`): an expired signed
    /// URL, a new token in the query, a mirror. Checked like `add_file`'s; allowed in
    /// every state but the final ones. The bytes already fetched are kept when the new
    /// URL answers the stored validator (If-Range) with the same content; otherwise
    /// the file starts over (counted like a changed remote file). A running transfer
    /// starts again with the new URL; a job in ERROR waits for `resume()`.
    pub fn set_remote_name(&self, url: &str) -> Result<()> {
        let url = String::from(crate::urls::parse_remote(url)?);
        let idx = self.idx;
        self.table.mutate(self.job, |job, store| {
            retarget(job, store, vec![(idx, url)])
        })
    }

    /// The last response's header lines (`Name: value`, in the server's order; empty
    /// before any response). A value that holds one of the job's secrets (its
    /// credentials, the `Authorization` it sent) shows as `***`. Saved with the
    /// file's next checkpoint, so other processes see them a moment later.
    pub fn get_response_headers(&self) -> Result<Vec<String>> {
        self.with(|f| f.response_headers.clone())
    }

    /// Check the content before the file counts as transferred (Delivery
    /// Optimization's integrity check): `algorithm` `sha256`, `hex` its 64 hexadecimal
    /// digits. The digest is computed while the bytes are written (a resume reads what
    /// is already in the temporary file once). A mismatch drops the file's bytes and
    /// puts the job in ERROR with VALIDATION_FAILED on this file; `resume()` fetches
    /// it again from zero. An empty `algorithm` removes the check. Not on a file whose
    /// bytes are all transferred (INVALID_STATE): set it before. A running transfer
    /// starts again to include it.
    pub fn set_expected_hash(&self, algorithm: &str, hex: &str) -> Result<()> {
        let hash = if algorithm.is_empty() {
            None
        } else {
            Some(crate::request::check_expected_hash(algorithm, hex)?)
        };
        let idx = self.idx;
        self.table.mutate(self.job, |job, store| {
            let f = file_at(job, idx)?;
            if f.done {
                return Err(Error::invalid_state(
                    "the file's bytes are all transferred: set the expected hash before",
                ));
            }
            let mut changed = f.clone();
            changed.expected_hash = hash;
            store.save_file(job.id, idx, &changed)?;
            job.files[idx] = changed;
            restart_run(job);
            store.save_job(job)
        })
    }

    /// The expected digest as `(algorithm, hex)`, if one is set.
    pub fn get_expected_hash(&self) -> Result<Option<(String, String)>> {
        self.with(|f| {
            f.expected_hash.as_deref().and_then(|h| {
                h.split_once(':')
                    .map(|(a, x)| (a.to_string(), x.to_string()))
            })
        })
    }

    /// The app's verdict on the bytes (BITS File3 `SetValidationState`), once the file
    /// is transferred: `true` marks them valid; `false` drops them and puts the job in
    /// ERROR with VALIDATION_FAILED on this file (`resume()` fetches it again from
    /// zero). Before the bytes are all transferred: INVALID_STATE.
    pub fn set_validation_state(&self, valid: bool) -> Result<()> {
        let idx = self.idx;
        self.table.mutate(self.job, |job, store| {
            let f = file_at(job, idx)?;
            if !f.done {
                return Err(Error::invalid_state(
                    "the file cannot be validated before its bytes are all transferred",
                ));
            }
            let mut changed = f.clone();
            let now = now_ms();
            if valid {
                changed.validated = true;
            } else {
                changed.start_over();
                // A crash-only progress record must not bring the dropped bytes back.
                crate::engine::crashlog::remove(&self.table.state_dir, job.id, idx);
            }
            store.save_file(job.id, idx, &changed)?;
            job.files[idx] = changed;
            if !valid {
                job.stop_run();
                job.error = Some(crate::record::ErrorRec {
                    file: Some(idx),
                    ..crate::record::ErrorRec::general(
                        crate::types::ErrorContext::RemoteFile,
                        codes::VALIDATION_FAILED,
                        "the application found the file's bytes invalid \
                         (set_validation_state(false)); resume() fetches it again",
                    )
                });
                job.retry_at_ms = None;
                job.set_state(JobState::Error, now);
            }
            job.touch(now);
            store.save_job(job)
        })
    }

    /// Whether the app marked the bytes valid (`false` until it does, and again once
    /// the file starts over).
    pub fn get_validation_state(&self) -> Result<bool> {
        self.with(|f| f.validated)
    }

    /// The local path.
    pub fn get_local_name(&self) -> Result<String> {
        self.with(|f| f.local.to_string_lossy().into_owned())
    }

    /// The URL the file's last response came from, after redirects (`None` before any
    /// response), with any userinfo password redacted like the remote name's. The
    /// remote name changes to it only under the redirect policy ALLOW_REPORT.
    pub fn get_final_url(&self) -> Result<Option<String>> {
        // Credentials in the URL (userinfo) are never shown, as for the remote name.
        self.with(|f| f.final_url.as_deref().map(crate::redact::redact_url))
    }

    /// The file's progress.
    pub fn get_progress(&self) -> Result<FileProgress> {
        self.with(FileRec::progress)
    }

    /// The hidden temporary file that holds the bytes until `complete()` (BITS File3
    /// `GetTemporaryName`): in the local path's directory, named
    /// `.<name>.<random>.bgcopy-part`. It exists once the transfer started and until
    /// `complete()` or `cancel()`; an app may read it to inspect the bytes.
    pub fn get_temporary_name(&self) -> Result<String> {
        self.with(|f| f.temp_path().to_string_lossy().into_owned())
    }
}

/// Give files new remote URLs (`(index, url)`, checked): each keeps its bytes and
/// validator, so the next request resumes with If-Range; a running transfer stops and
/// the job is queued again to use them.
pub(super) fn retarget(
    job: &mut JobRec,
    store: &mut Store,
    changes: Vec<(usize, String)>,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let id = job.id;
    let mut updated = Vec::with_capacity(changes.len());
    for (idx, url) in changes {
        let mut f = file_at(job, idx)?.clone();
        f.remote = url;
        f.final_url = None;
        // The app chose this URL: its origin gets the job's headers and credentials.
        f.auth_url = None;
        updated.push((idx, f));
    }
    store.atomic(|s| {
        for (idx, f) in &updated {
            s.save_file(id, *idx, f)?;
        }
        Ok(())
    })?;
    for (idx, f) in updated {
        job.files[idx] = f;
    }
    restart_run(job);
    store.save_job(job)
}

/// File `idx` of `job` (NOT_FOUND when there is none).
fn file_at(job: &JobRec, idx: usize) -> Result<&FileRec> {
    job.files
        .get(idx)
        .ok_or_else(|| Error::new(codes::NOT_FOUND, "file not found"))
}

/// A running transfer of `job` stops and the job is queued again (it restarts with
/// what changed); the job is touched either way.
fn restart_run(job: &mut JobRec) {
    let now = now_ms();
    if job.run.is_some() {
        job.stop_run();
        job.set_state(JobState::Queued, now);
    }
    job.touch(now);
}
