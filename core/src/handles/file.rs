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
        let mut f = job
            .files
            .get(idx)
            .ok_or_else(|| Error::new(codes::NOT_FOUND, "file not found"))?
            .clone();
        f.remote = url;
        f.final_url = None;
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
    let now = now_ms();
    if job.run.is_some() {
        job.stop_run();
        job.set_state(JobState::Queued, now);
    }
    job.touch(now);
    store.save_job(job)
}
