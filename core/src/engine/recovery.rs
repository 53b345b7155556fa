//! What a process does with a store when it takes the engine lock, before anything
//! runs: queue the jobs a dead engine was running, finish the `complete()` calls a
//! crash interrupted, reconcile every temporary file with its checkpoint, and delete
//! the temporary files of jobs that are gone. Only files the temp ledger proves bgcopy
//! created (same path, device and inode) are ever truncated or deleted; anything else
//! at a temporary path is left untouched and reported. Each job is one transaction,
//! so other processes' calls interleave safely.

use super::crashlog;
use crate::complete;
use crate::error::Result;
use crate::record::{JobRec, foreign_error};
use crate::store::Store;
use crate::sys::{self, TempError};
use crate::table::JobTable;
use crate::types::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Bring every job of the store to a state consistent with its files. Only the jobs
/// that may need it are visited (left running, completing, owning temporary files), so
/// a queue of any size opens in the time its unfinished transfers take.
pub(crate) fn recover(table: &JobTable) -> Result<()> {
    let now = now_ms();
    let mut live = HashSet::new();
    let mut records = HashSet::new();
    let (ids, legacy) = match table.recovery_candidates()? {
        Some(ids) => (ids, false),
        None => (table.stored_ids(&[])?, true),
    };
    for id in ids {
        table.with_stored(id, |job, store| {
            if job.completing {
                complete::roll_forward(job, store);
                return Ok(());
            }
            // Nothing runs before this engine starts: a running state is a dead
            // engine's.
            if job.state.is_active() && job.run.is_none() {
                job.state = JobState::Queued;
                store.save_job(job)?;
            }
            recover_files(job, store, now, &table.state_dir)?;
            let temps: Vec<PathBuf> = job
                .files
                .iter()
                .filter(|f| !f.completed && f.temp_id.is_some())
                .map(|f| f.temp_path())
                .collect();
            if legacy {
                // A ledger from before it named jobs: name them, once.
                store.name_temps(job.id, &temps)?;
            }
            live.extend(temps);
            records.extend(
                job.files
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !f.completed && f.temp_id.is_some() && !job.state.is_final())
                    .map(|(i, _)| (job.id, i)),
            );
            Ok(())
        })?;
    }
    table.with_all(crate::wake::Wake::NONE, |all| {
        remove_strays(&live, all.store)
    });
    // Every job owning a temporary file was visited: the records of all others are
    // stale.
    crashlog::sweep(&table.state_dir, &records);
    Ok(())
}

/// Check each unfinished file's temporary file against its checkpoint.
fn recover_files(job: &mut JobRec, store: &mut Store, now: i64, dir: &Path) -> Result<()> {
    let mut forget: Vec<PathBuf> = Vec::new();
    let mut changed = Vec::new();
    let mut foreign = None;
    for idx in 0..job.files.len() {
        let f = &mut job.files[idx];
        if f.completed {
            continue;
        }
        let path = f.temp_path();
        let Some(id) = f.temp_id else {
            // Never created (or created in the instant before a crash, before it was
            // recorded): nothing of ours can be there. Whatever is there stays; the
            // file uses a fresh name.
            if f.done_bytes > 0 || f.done || std::fs::symlink_metadata(&path).is_ok() {
                f.abandon_temp();
                changed.push(idx);
            }
            continue;
        };
        match sys::open_temp(&path, id) {
            Ok(file) => {
                // What a crashed process wrote beyond its checkpoint, if its record
                // proves it (made durable here before it counts).
                let synced = match &f.synced_parts {
                    Some(p) => p.clone(),
                    None if f.synced > 0 => vec![(0, f.synced)],
                    None => Vec::new(),
                };
                if let Some(rec) = crashlog::read(dir, job.id, idx)
                    && let Some(r) =
                        crashlog::trusted(&rec, &file, f.total, f.validator.as_deref(), &synced)
                    && file.sync_data().is_ok()
                {
                    f.total = Some(rec.total);
                    f.validator = Some(rec.validator);
                    f.synced = crate::ranges::sum(&r);
                    f.synced_parts = crate::ranges::as_list(r);
                    f.done_bytes = f.synced;
                    f.parts = f.synced_parts.clone();
                    changed.push(idx);
                }
                let want = f.synced_end();
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                if len < want || (len > want && file.set_len(want).is_err()) {
                    // Shorter than its checkpoint (or cannot be cut back): start over.
                    let _ = file.set_len(0);
                    f.reset();
                    crashlog::remove(dir, job.id, idx);
                    changed.push(idx);
                }
            }
            Err(TempError::Missing) => {
                forget.push(path);
                f.abandon_temp();
                changed.push(idx);
            }
            Err(TempError::Foreign(what)) => {
                forget.push(path);
                f.abandon_temp();
                changed.push(idx);
                foreign.get_or_insert((idx, what));
            }
            // Unreadable for now (permissions, I/O): the transfer reports it.
            Err(TempError::Io(_)) => {}
        }
    }
    if let Some((idx, what)) = foreign
        && !job.state.is_final()
    {
        job.fail(foreign_error(idx, &what), now);
        store.save_job(job)?;
    }
    let id = job.id;
    let files = &job.files;
    if !changed.is_empty() || !forget.is_empty() {
        store.atomic(|s| {
            for &idx in &changed {
                s.save_file(id, idx, &files[idx])?;
            }
            s.forget_temps(forget.iter().map(PathBuf::as_path))
        })?;
    }
    Ok(())
}

/// Delete the temporary files the ledger records for files that no longer need them
/// (their job is gone or final, or the file moved to a new name) — and only those.
fn remove_strays(live: &HashSet<PathBuf>, store: &mut Store) {
    let Ok(ledger) = store.temps() else { return };
    let gone: Vec<PathBuf> = ledger
        .into_iter()
        .filter(|(path, _)| !live.contains(path))
        .filter(|(path, id)| sys::remove_ours(path, *id).unwrap_or(false))
        .map(|(path, _)| path)
        .collect();
    if !gone.is_empty() {
        let _ = store.atomic(|s| s.forget_temps(gone.iter().map(PathBuf::as_path)));
    }
}
