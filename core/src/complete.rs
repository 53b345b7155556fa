//! `complete()`, crash- and failure-atomic: the intent is recorded durably before the
//! first rename, so a crash or a failed commit at any step is finished by the next
//! open (or the next `complete()`), and a file once placed is never downloaded or
//! placed again.
//!
//! 1. Prove every temporary file to be moved is the one bgcopy created.
//! 2. Record `completing` (durable). Fails (e.g. DISK_FULL): nothing moved.
//! 3. Rename each transferred file into place (its bytes were synced by its
//!    checkpoint), then sync the directories. A failed rename: the files moved so far
//!    are recorded as completed, the intent is cleared, the job stays as it was.
//! 4. Delete the partial files' temporaries, then delete the job's rows (→ ACKNOWLEDGED).
//!
//! Recovery of an interrupted step 3 or 4 ([`roll_forward`]): a temporary file still
//! ours is renamed; one already gone was placed before the crash (or lost) and is
//! counted as completed, never fetched again.

use crate::error::{Error, Result};
use crate::record::{JobRec, foreign_error};
use crate::store::Store;
use crate::sys::{self, FileId, crash_point};
use crate::table::JobTable;
use crate::types::*;
use crate::wake::Wake;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Complete `job` (any non-final state) against `store`.
pub(crate) fn complete(job: &mut JobRec, store: &mut Store) -> Result<Completion> {
    job.stop_run();
    // A complete() that died half-way (in any process): finish it as recovery would.
    if job.completing && roll_forward(job, store) {
        return Ok(if job.files.iter().any(|f| !f.completed) {
            Completion::Partial
        } else {
            Completion::All
        });
    }
    let now = now_ms();
    // 1. Every file to be moved must still be ours (asked relative to its folder,
    // held open while the files are in it, as `place` renames them).
    let mut held = sys::HeldDir::default();
    for idx in 0..job.files.len() {
        let f = &job.files[idx];
        if f.completed || !f.done {
            continue;
        }
        let parent = f.local.parent().unwrap_or(Path::new("/"));
        let ours = f.temp_id.is_some_and(|id| {
            match held.at(parent) {
                Some(d) => d.is_ours(f.temp_name.as_ref(), id),
                None => sys::is_ours(&f.temp_path(), id),
            }
            .unwrap_or(false)
        });
        if !ours {
            let path = f.temp_path();
            return Err(refuse_foreign(job, store, idx, path, now));
        }
    }
    // 2. The intent, durable before anything moves.
    if !job.completing {
        job.completing = true;
        // What follows needs no sync of its own: after a power loss the intent
        // makes recovery finish the job from the files as they are.
        if let Err(e) = store
            .save_job(job)
            .and_then(|()| store.commit_now_then_relax())
        {
            job.completing = false;
            return Err(e);
        }
    }
    crash_point("complete:after-intent");
    // 3. Move.
    if let Err(e) = place(job) {
        // The job stays as it was, and that is what a power loss must find too.
        let _ = store.end_relax();
        job.completing = false;
        let id = job.id;
        let (files, rec) = (&job.files, &*job);
        let _ = store.atomic(|s| {
            for (i, f) in files.iter().enumerate().filter(|(_, f)| f.completed) {
                s.save_file(id, i, f)?;
            }
            s.forget_temps(
                files
                    .iter()
                    .filter(|f| f.completed)
                    .map(|f| f.temp_path())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(PathBuf::as_path),
            )?;
            s.save_job(rec)
        });
        job.touch(now);
        return Err(e);
    }
    crash_point("complete:after-renames");
    // 4. Finish.
    let partial = job.files.iter().any(|f| !f.completed);
    let now = now_ms();
    finish(job, store, now)?;
    job.set_state(JobState::Acknowledged, now);
    Ok(if partial {
        Completion::Partial
    } else {
        Completion::All
    })
}

/// A transferred file's temporary path holds something else: nothing is moved; that
/// file starts over under a new name and the job goes to ERROR (ACCESS_DENIED,
/// LOCAL_FILE), so `resume()` fetches it again.
fn refuse_foreign(
    job: &mut JobRec,
    store: &mut Store,
    idx: usize,
    path: PathBuf,
    now: i64,
) -> Error {
    let what = format!(
        "the temporary file {} of {} is not the file bgcopy created",
        path.display(),
        job.files[idx].local.display()
    );
    let rec = foreign_error(idx, &what);
    let err = Error::new(rec.code, rec.description.clone());
    job.files[idx].abandon_temp();
    job.fail(rec, now);
    let id = job.id;
    let (file, rec) = (&job.files[idx], &*job);
    let _ = store.atomic(|s| {
        s.save_file(id, idx, file)?;
        s.forget_temps([path.as_path()])?;
        s.save_job(rec)
    });
    err
}

/// Rename every transferred, not yet completed file into place (its temporary file
/// is in the same directory: renamed relative to that directory, held open), then
/// sync the directories. Stops at the first failure.
fn place(job: &mut JobRec) -> Result<()> {
    // One directory held open at a time (a job may have files in thousands of
    // directories): synced when the next file is elsewhere. Directories renamed into
    // by path (the descriptor could not be opened) are synced at the end.
    let mut held: Option<(PathBuf, sys::Dir)> = None;
    let mut by_path: HashSet<PathBuf> = HashSet::new();
    let mut failure = None;
    let mut first = true;
    for f in job.files.iter_mut().filter(|f| f.done && !f.completed) {
        let parent = f.local.parent().unwrap_or(Path::new("/"));
        if held.as_ref().is_none_or(|(p, _)| p != parent) {
            if let Some((_, d)) = held.take() {
                let _ = d.sync();
            }
            held = sys::Dir::open(parent)
                .ok()
                .map(|d| (parent.to_path_buf(), d));
        }
        let moved = match (&held, f.local.file_name()) {
            (Some((_, d)), Some(name)) => d.rename(f.temp_name.as_ref(), name),
            _ => {
                by_path.insert(parent.to_path_buf());
                std::fs::rename(f.temp_path(), &f.local)
            }
        };
        match moved {
            Ok(()) => {
                f.completed = true;
                if first {
                    first = false;
                    crash_point("complete:after-first-rename");
                }
            }
            Err(e) => {
                failure = Some(Error::from_io(
                    &format!("move {} into place", f.local.display()),
                    &e,
                ));
                break;
            }
        }
    }
    if let Some((_, d)) = held.take() {
        let _ = d.sync();
    }
    for path in &by_path {
        let _ = sys::Dir::open(path).and_then(|d| d.sync());
    }
    failure.map_or(Ok(()), Err)
}

/// Delete what is left (the partial files' temporaries, only if ours), then the job's
/// rows and their ledger entries, in one transaction.
fn finish(job: &JobRec, store: &mut Store, now: i64) -> Result<()> {
    let mut forget = Vec::new();
    for f in &job.files {
        let path = f.temp_path();
        if !f.completed
            && let Some(id) = f.temp_id
            && !sys::remove_ours(&path, id).unwrap_or(false)
        {
            continue;
        }
        forget.push(path);
    }
    let id = job.id;
    store.atomic(|s| {
        s.finish_job(id, JobState::Acknowledged, now)?;
        s.forget_temps(forget.iter().map(PathBuf::as_path))
    })
}

/// Finish a `complete()` a crash (or a failed commit) interrupted. `true` when the job
/// is done (ACKNOWLEDGED, gone from the store); `false` leaves it as it is, with its
/// intent cleared, for the next `complete()` to report what fails.
pub(crate) fn roll_forward(job: &mut JobRec, store: &mut Store) -> bool {
    for f in job.files.iter_mut().filter(|f| f.done && !f.completed) {
        let ours = f
            .temp_id
            .is_some_and(|id| sys::is_ours(&f.temp_path(), id).unwrap_or(false));
        if !ours {
            // Renamed before the crash (or lost): placed once, never again.
            f.completed = true;
        }
    }
    let now = now_ms();
    if place(job).is_ok() && finish(job, store, now).is_ok() {
        job.set_state(JobState::Acknowledged, now);
        return true;
    }
    job.completing = false;
    let id = job.id;
    let (files, rec) = (&job.files, &*job);
    let _ = store.atomic(|s| {
        for (i, f) in files.iter().enumerate() {
            s.save_file(id, i, f)?;
        }
        s.save_job(rec)
    });
    false
}

/// Delete temporary files of a final job (each only if it is still the file bgcopy
/// created) and forget them in the ledger.
pub(crate) fn remove_temps(table: &JobTable, temps: Vec<(PathBuf, FileId)>) {
    let gone: Vec<PathBuf> = temps
        .into_iter()
        .filter(|(path, id)| sys::remove_ours(path, *id).unwrap_or(false))
        .map(|(path, _)| path)
        .collect();
    if !gone.is_empty() {
        table.with_all(Wake::NONE, |all| {
            let _ = all
                .store
                .atomic(|s| s.forget_temps(gone.iter().map(PathBuf::as_path)));
        });
    }
}
