//! One running job: a `bgcopy-job` thread creates the job's temporary files, then runs
//! up to `connections_per_job` of its files at once on scoped threads, and records how
//! the run ended.

use super::EngineCtx;
use super::classify::Blame;
use super::file::{FileTransfer, foreign_temp};
use super::pool::Pool;
use crate::error::{Error, codes};
use crate::policy::{Failure, Outcome, apply_outcome};
use crate::sys::{self, TempError};
use crate::types::*;
use crate::wake::Wake;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Start the worker thread of run `generation` of job `id`.
pub(super) fn spawn(
    ctx: Arc<EngineCtx>,
    id: Uuid,
    generation: u64,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    // Each worker holds the directory lock until its thread ends.
    let lock = ctx.lock_clone();
    // The first worker starts the progress publisher (the wake thread).
    if ctx.workers.fetch_add(1, Ordering::SeqCst) == 0
        && let Some(w) = &ctx.wakeups
    {
        w.interrupt();
    }
    let c = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("bgcopy-job".into())
        .spawn(move || {
            run_job(&c, id, generation, &stop);
            c.workers.fetch_sub(1, Ordering::SeqCst);
            drop(lock);
        });
    if spawned.is_err() {
        ctx.workers.fetch_sub(1, Ordering::SeqCst);
    }
    spawned.map(|_| ())
}

/// Body of a `bgcopy-job` thread.
fn run_job(ctx: &EngineCtx, id: Uuid, generation: u64, stop: &AtomicBool) {
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_files(ctx, id, stop)))
            .unwrap_or_else(|_| Outcome::Failed(Failure::panic()));
    finish(ctx, id, generation, outcome);
    cleanup_if_final(ctx, id);
}

/// Record the run's outcome if it is still the job's current run.
fn finish(ctx: &EngineCtx, id: Uuid, generation: u64, outcome: Outcome) {
    if matches!(outcome, Outcome::Done) {
        // TRANSFERRED is recorded only after every file's bytes are.
        ctx.checkpoints.flush();
    }
    ctx.table.with_all(Wake::ALL, |all| {
        if let Some(job) = all.jobs.get_mut(&id) {
            job.worker_alive = false;
            let current = job.run.as_ref().is_some_and(|r| r.generation == generation);
            if current && !job.state.is_final() {
                job.run = None;
                // A failed request's answer (status, headers, final URL) is what the
                // app reads to decide (a new URL, a token): record it now.
                if let Outcome::Failed(f) = &outcome
                    && let Some(idx) = f.error.file
                    && let Some(file) = job.files.get(idx)
                {
                    let _ = all.store.save_response(id, idx, file);
                }
                apply_outcome(job, outcome, now_ms());
                let _ = all.store.save_job(job);
            }
        }
    });
}

/// A worker may have recreated a temp file of a job that became final meanwhile.
fn cleanup_if_final(ctx: &EngineCtx, id: Uuid) {
    let temps = ctx
        .table
        .read(id, |j| {
            if j.state.is_final() {
                j.unfinished_temps()
            } else {
                Vec::new()
            }
        })
        .unwrap_or_default();
    crate::complete::remove_temps(&ctx.table, temps);
}

fn run_files(ctx: &EngineCtx, id: Uuid, stop: &AtomicBool) -> Outcome {
    loop {
        let Ok(pending) = ctx
            .table
            .read(id, |j| j.files.iter().filter(|f| !f.done).count())
        else {
            return Outcome::Stopped;
        };
        if stop.load(Ordering::SeqCst) {
            return Outcome::Stopped;
        }
        if pending == 0 {
            return Outcome::Done;
        }
        // As many connections as the files may use (a job's own setting wins over the
        // manager's), within connections_per_job.
        let per_file = ctx
            .table
            .read(id, |j| match j.max_connections_per_file {
                0 => ctx.opts.max_connections_per_file,
                n => n as usize,
            })
            .unwrap_or(1);
        let threads = ctx
            .opts
            .connections_per_job
            .min(pending * per_file.max(1))
            .max(1);
        let pool = Pool::default();
        // The first files' temporary files now; the rest while those transfer.
        let more = match prepare_temps(ctx, id, threads * 2, &pool) {
            Ok(more) => more,
            Err(f) => return Outcome::Failed(f),
        };
        let first_error: Mutex<Option<Failure>> = Mutex::new(None);
        let halt = AtomicBool::new(false);
        let fail = |f: Failure| {
            halt.store(true, Ordering::SeqCst);
            pool.abort_boards();
            let mut e = first_error.lock().unwrap_or_else(|p| p.into_inner());
            if e.is_none() {
                *e = Some(f);
            }
        };
        let worker = || {
            // Throughput threads: no wake-up pre-emption (`sys/sched.rs`).
            sys::batch_thread();
            let mut buf = super::direct::Buf::new();
            loop {
                if stop.load(Ordering::SeqCst) || halt.load(Ordering::SeqCst) {
                    return;
                }
                let seen = pool.rings();
                if let Some(idx) = pool.next_file(ctx, id) {
                    let done = FileTransfer::start(ctx, id, idx, stop, &mut buf, Some(&pool))
                        .map_or(Ok(()), FileTransfer::run);
                    pool.file_ended();
                    if let Err(f) = done {
                        return fail(f);
                    }
                    continue;
                }
                if let Some(shared) = pool.board_with_work() {
                    let helped =
                        FileTransfer::start(ctx, id, shared.idx, stop, &mut buf, Some(&pool))
                            .filter(|t| t.epoch == shared.epoch)
                            .map_or(Ok(false), |mut t| t.help(&shared));
                    match helped {
                        Err(f) => return fail(f),
                        // Nothing after all (the host's slots are taken, another
                        // connection was faster): wait instead of asking again at once.
                        Ok(false) => pool.wait(seen),
                        Ok(true) => {}
                    }
                    continue;
                }
                if !pool.may_get_work() {
                    // The round's last files ended: their checkpoints go now.
                    ctx.checkpoints.kick();
                    return;
                }
                pool.wait(seen);
            }
        };
        // Creates the other files' temporary files, a batch at a time.
        let preparer = || {
            while !stop.load(Ordering::SeqCst) && !halt.load(Ordering::SeqCst) {
                match prepare_temps(ctx, id, TEMPS_BATCH, &pool) {
                    Ok(true) => pool.wake(),
                    Ok(false) => break,
                    Err(f) => {
                        pool.temps_ready();
                        return fail(f);
                    }
                }
            }
            pool.temps_ready();
        };
        if more {
            pool.temps_pending();
        }
        std::thread::scope(|s| {
            if more {
                s.spawn(preparer);
            }
            for _ in 1..threads {
                // A thread the system refuses: the job runs on the connections it has.
                let spawned = std::thread::Builder::new()
                    .name("bgcopy-conn".into())
                    .spawn_scoped(s, worker);
                if spawned.is_err() {
                    break;
                }
            }
            worker();
        });
        if let Some(f) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Outcome::Failed(f);
        }
    }
}

/// Temporary files created and recorded at once while a job's first files transfer.
const TEMPS_BATCH: usize = 128;

/// Create the temporary files of (at most `limit` of) the job's pending files that have
/// none yet (`O_CREAT|O_EXCL|O_NOFOLLOW`, 0600), in file order, and record their
/// identities in the store's ledger in one transaction, before any byte is written to
/// them; the open files go to `pool` for the connections that take them.
/// `Ok(true)` when files without one remain.
fn prepare_temps(ctx: &EngineCtx, id: Uuid, limit: usize, pool: &Pool) -> Result<bool, Failure> {
    let wanted: Vec<(usize, PathBuf, String)> = ctx
        .table
        .read(id, |j| {
            if j.state.is_final() {
                return Vec::new();
            }
            j.files
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.done && f.temp_id.is_none())
                .take(limit + 1)
                .map(|(i, f)| (i, f.temp_path(), f.temp_name.clone()))
                .collect()
        })
        .unwrap_or_default();
    let more = wanted.len() > limit;
    if wanted.is_empty() || limit == 0 {
        return Ok(more);
    }
    let wanted = wanted.into_iter().take(limit);
    let mut created = Vec::with_capacity(limit.min(TEMPS_BATCH * 8));
    let mut failed = None;
    for (idx, path, name) in wanted {
        match sys::create_temp(&path) {
            // Kept open for its connection while the process's budget has room (the
            // batch holds them until recorded), else closed at once.
            Ok((file, fid)) => created.push((idx, path, name, fid, pool.reserve(file))),
            Err(e) => {
                failed = Some((idx, path, e));
                break;
            }
        }
    }
    let recorded = ctx.table.update(id, Wake::NONE, |job, store| {
        // Only files still waiting for this very name take it.
        created.retain(|(idx, path, name, fid, _)| {
            let f = &job.files[*idx];
            let keep = f.temp_name == *name && f.temp_id.is_none();
            if !keep {
                let _ = sys::remove_ours(path, *fid);
            }
            keep
        });
        let entries: Vec<_> = created
            .iter()
            .map(|(_, p, _, f, _)| (p.clone(), *f))
            .collect();
        store.atomic(|s| s.record_temps(id, &entries)).map(|()| {
            for (idx, _, _, fid, kept) in &mut created {
                job.files[*idx].temp_id = Some(*fid);
                // Visible to the connections together with the record (this lock).
                if let Some(kept) = kept.take() {
                    pool.hand_over(*idx, *fid, kept);
                }
            }
        })
    });
    let recorded = recorded.unwrap_or_else(|| Err(Error::invalid_state("the job ended")));
    if let Err(e) = recorded {
        // Nothing of it was committed: no connection may take these files any more.
        ctx.table.update_live(id, Wake::NONE, |job| {
            for (idx, _, _, fid, _) in &created {
                if job.files[*idx].temp_id == Some(*fid) {
                    job.files[*idx].temp_id = None;
                }
            }
        });
        for (idx, path, _, fid, _) in &created {
            drop(pool.take_created(*idx, *fid, path));
            let _ = sys::remove_ours(path, *fid);
        }
        if e.code() == codes::INVALID_STATE {
            return Ok(false);
        }
        return Err(Failure::store(&e));
    }
    if !created.is_empty() {
        sys::crash_point("engine:temps-recorded");
    }
    let Some((idx, path, e)) = failed else {
        return Ok(more);
    };
    let blame = Blame {
        file: idx,
        protocol: None,
    };
    Err(match e {
        TempError::Foreign(what) => foreign_temp(ctx, id, idx, &path, &what),
        TempError::Missing => blame.local(
            "create the temporary file",
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        ),
        TempError::Io(e) => blame.local(&format!("create {}", path.display()), &e),
    })
}
