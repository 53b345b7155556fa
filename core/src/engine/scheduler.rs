//! The scheduler: queues due retries, gives background slots by priority (round robin
//! among equals by time slice), pre-empts lower priorities, and starts a worker for
//! each job that should run. FOREGROUND jobs always run.

use super::EngineCtx;
use crate::error::codes;
use crate::record::{ErrorRec, JobRec, RunCtl};
use crate::store::Store;
use crate::types::*;
use crate::wake::Wake;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// Run stamps the scheduler hands out.
#[derive(Default)]
struct Counters {
    /// Each run of a job gets a new generation; a worker's outcome counts only for its
    /// own run.
    generation: u64,
    /// Round robin: when a job last got a slot, in pass order.
    stamp: u64,
}

/// Body of the `bgcopy-scheduler` thread: a pass, then sleep until woken or until the
/// time the pass asked for (an hour at most).
pub(super) fn run(ctx: &Arc<EngineCtx>) {
    let mut counters = Counters::default();
    while !ctx.shutdown.load(Ordering::SeqCst) {
        let sleep = match pass(ctx, &mut counters) {
            Some(at) => {
                Duration::from_millis(at.saturating_sub(now_ms()).clamp(0, 3_600_000) as u64)
            }
            None => Duration::from_secs(3600),
        };
        ctx.table.scheduler.wait(sleep);
    }
}

/// One scheduling pass: queue due retries, give slots by priority, pre-empt, start
/// workers. Returns when it wants to run again.
fn pass(ctx: &Arc<EngineCtx>, counters: &mut Counters) -> Option<i64> {
    let (next, changed) = ctx.table.with_all(Wake::NONE, |mut all| {
        if all.closed {
            return (None, false);
        }
        // The candidates, wherever they were queued (any process); the pass visits
        // only them.
        let Ok(candidates) = all.load_states(&[
            JobState::Queued,
            JobState::Connecting,
            JobState::Transferring,
            JobState::TransientError,
        ]) else {
            return (Some(now_ms() + 1000), false);
        };
        assign(ctx, counters, all.jobs, &candidates, all.store)
    });
    if changed {
        ctx.table.wake(Wake::ENGINE);
    }
    next
}

/// The pass itself, under the table's lock: returns when to run again and whether a
/// job changed.
fn assign(
    ctx: &Arc<EngineCtx>,
    counters: &mut Counters,
    jobs: &mut HashMap<Uuid, JobRec>,
    candidates: &[Uuid],
    store: &mut Store,
) -> (Option<i64>, bool) {
    let now = now_ms();
    let mut next: Option<i64> = None;
    let mut soonest = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
    let mut changed = false;

    for id in candidates {
        let Some(job) = jobs.get_mut(id) else {
            continue;
        };
        if job.state != JobState::TransientError {
            continue;
        }
        match job.retry_at_ms {
            Some(at) if at > now => soonest(at),
            _ => {
                let expired = job.no_progress_timeout != 0
                    && job.no_progress_since_ms.is_some_and(|s| {
                        now.saturating_sub(s) >= i64::from(job.no_progress_timeout) * 1000
                    });
                job.retry_at_ms = None;
                if expired {
                    let last = job.error.clone().unwrap_or_else(|| {
                        ErrorRec::general(ErrorContext::GeneralTransport, codes::NO_PROGRESS, "")
                    });
                    crate::policy::fail_no_progress(job, last, now);
                } else {
                    job.set_state(JobState::Queued, now);
                }
                let _ = store.save_job(job);
                changed = true;
            }
        }
    }

    let slice = ctx.opts.time_slice.as_millis() as i64;
    let mut background: Vec<(Priority, bool, u64, i64, Uuid)> = candidates
        .iter()
        .filter_map(|id| jobs.get(id))
        .filter(|j| j.state.is_active() && j.priority != Priority::Foreground)
        .map(|j| {
            let protected = j.run.is_some() && now < j.slot_since_ms.saturating_add(slice);
            (j.priority, !protected, j.slot_stamp, j.seq, j.id)
        })
        .collect();
    background.sort();
    let slots = ctx.opts.background_slots;
    let mut wanted: Vec<Uuid> = candidates
        .iter()
        .filter_map(|id| jobs.get(id))
        .filter(|j| j.state.is_active() && j.priority == Priority::Foreground)
        .map(|j| j.id)
        .collect();
    wanted.extend(background.iter().take(slots).map(|b| b.4));
    // Round robin: a waiting job of the same priority as a protected runner gets its
    // turn when that runner's slice ends.
    if let Some(waiting) = background.get(slots) {
        for b in background.iter().take(slots) {
            if b.0 == waiting.0 && !b.1 {
                soonest(jobs[&b.4].slot_since_ms.saturating_add(slice));
            }
        }
    }

    for id in candidates {
        let Some(job) = jobs.get_mut(id) else {
            continue;
        };
        if !job.state.is_active() {
            continue;
        }
        let want = wanted.contains(&job.id);
        if want && job.run.is_none() && !job.worker_alive {
            counters.generation += 1;
            counters.stamp += 1;
            let generation = counters.generation;
            let stop = Arc::new(AtomicBool::new(false));
            job.run = Some(RunCtl {
                generation,
                stop: stop.clone(),
            });
            job.worker_alive = true;
            job.slot_stamp = counters.stamp;
            job.slot_since_ms = now;
            job.set_state(JobState::Connecting, now);
            // Counted from now also for a job stored as TRANSFERRING by an engine that
            // is gone (the state did not change here).
            job.active_since_ms.get_or_insert(now);
            let _ = store.save_job(job);
            changed = true;
            if let Err(e) = super::worker::spawn(ctx.clone(), job.id, generation, stop) {
                job.run = None;
                job.worker_alive = false;
                job.error = Some(ErrorRec::general(
                    ErrorContext::GeneralQueueManager,
                    codes::E_UNEXPECTED,
                    format!("cannot start a transfer thread: {e}"),
                ));
                job.retry_at_ms = Some(now.saturating_add(1000));
                job.set_state(JobState::TransientError, now);
                let _ = store.save_job(job);
                soonest(now.saturating_add(1000));
            }
        } else if !want && job.run.is_some() {
            job.stop_run();
            job.set_state(JobState::Queued, now);
            let _ = store.save_job(job);
            changed = true;
        }
    }
    // The maximum download time (BITS Job4): time CONNECTING or TRANSFERRING since the
    // last resume (after the starts above, so a job started now is timed from now).
    for id in candidates {
        let Some(job) = jobs.get_mut(id) else {
            continue;
        };
        if job.max_download_time == 0 || job.active_since_ms.is_none() {
            continue;
        }
        let limit = i64::from(job.max_download_time) * 1000;
        let elapsed = job.download_elapsed(now);
        if elapsed < limit {
            soonest(now + (limit - elapsed));
            continue;
        }
        job.stop_run();
        job.error = Some(ErrorRec::general(
            ErrorContext::GeneralQueueManager,
            codes::MAXDOWNLOAD_TIMEOUT,
            format!(
                "the job spent its maximum download time ({} s) connecting and transferring",
                job.max_download_time
            ),
        ));
        job.retry_at_ms = None;
        job.set_state(JobState::Error, now);
        let _ = store.save_job(job);
        changed = true;
    }

    (next, changed)
}
