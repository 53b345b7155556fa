//! Notification delivery (SPEC §3), run by the dedicated `bgcopy-notify` thread.
//!
//! Each pass takes, under the lock, what is due for every job, then calls the
//! callbacks with no lock held. TRANSFERRED and ERROR stay pending until a callback
//! accepts them (a callback set later still gets them; a failure is retried after the
//! job's minimum retry delay). JOB_MODIFICATION is coalesced to one per job per
//! `notify_interval`, and the pending one is never dropped. After a final state only
//! the modification reporting it is delivered, then the callback is released.

use crate::job::{CallbackResult, CopyCallback, CopyError, CopyFile, CopyJob};
use crate::manager::Shared;
use crate::model::ErrorRec;
use crate::types::{JobState, notify, now_ms};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use uuid::Uuid;

enum What {
    Transferred,
    Error(ErrorRec),
    Modification,
    File(usize),
}

struct Delivery {
    job: Uuid,
    callback: Arc<dyn CopyCallback>,
    what: What,
}

/// One delivery pass; returns when the next one is due.
pub(crate) fn delivery_pass(shared: &Arc<Shared>) -> Option<i64> {
    let now = now_ms();
    let interval = shared.opts.notify_interval.as_millis() as i64;
    let mut next: Option<i64> = None;
    let mut soonest = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
    let mut out = Vec::new();
    // Callbacks let go of are dropped after the lock is released (their destructors
    // may call the library).
    let mut released = Vec::new();
    {
        let mut g = shared.lock();
        if g.closed {
            return None;
        }
        for job in g.jobs.values_mut() {
            let n = &mut job.notify;
            if n.finished {
                continue;
            }
            let flags = job.notify_flags;
            let Some(cb) = job
                .callback
                .clone()
                .filter(|_| flags & notify::DISABLE == 0)
            else {
                n.modification = false;
                n.files.clear();
                if job.state.is_final() {
                    n.finished = true;
                    released.extend(job.callback.take());
                }
                continue;
            };
            let mut push = |what| {
                out.push(Delivery {
                    job: job.id,
                    callback: cb.clone(),
                    what,
                })
            };
            if job.state.is_final() {
                if n.modification && flags & notify::JOB_MODIFICATION != 0 {
                    push(What::Modification);
                }
                n.modification = false;
                n.files.clear();
                n.finished = true;
                released.extend(job.callback.take());
                continue;
            }
            if flags & notify::FILE_TRANSFERRED != 0 {
                for idx in n.files.drain(..) {
                    push(What::File(idx));
                }
            } else {
                n.files.clear();
            }
            if n.modification {
                if flags & notify::JOB_MODIFICATION == 0 {
                    n.modification = false;
                } else if n.last_modification + interval <= now {
                    n.modification = false;
                    n.last_modification = now;
                    push(What::Modification);
                } else {
                    soonest(n.last_modification + interval);
                }
            }
            if let Some(due) = n.transferred_due
                && flags & notify::JOB_TRANSFERRED != 0
                && job.state == JobState::Transferred
            {
                if due <= now {
                    n.transferred_due = None;
                    push(What::Transferred);
                } else {
                    soonest(due);
                }
            }
            if let Some(due) = n.error_due
                && flags & notify::JOB_ERROR != 0
                && job.state == JobState::Error
            {
                if due <= now {
                    n.error_due = None;
                    push(What::Error(job.error.clone().unwrap_or_else(|| {
                        ErrorRec::general(
                            crate::ErrorContext::Unknown,
                            crate::codes::E_UNEXPECTED,
                            "",
                        )
                    })));
                } else {
                    soonest(due);
                }
            }
        }
    }

    drop(released);
    let mut failed = Vec::new();
    for d in out {
        let job = CopyJob::new(shared.clone(), d.job);
        let cb = &d.callback;
        let result = catch_unwind(AssertUnwindSafe(|| -> CallbackResult {
            match &d.what {
                What::Transferred => cb.job_transferred(&job),
                What::Error(rec) => {
                    cb.job_error(&job, &CopyError::new(shared.clone(), d.job, rec.clone()))
                }
                What::Modification => cb.job_modification(&job),
                What::File(idx) => {
                    cb.file_transferred(&job, &CopyFile::new(shared.clone(), d.job, *idx))
                }
            }
        }));
        let ok = matches!(result, Ok(Ok(())));
        if !ok {
            match d.what {
                What::Transferred => failed.push((d.job, JobState::Transferred)),
                What::Error(_) => failed.push((d.job, JobState::Error)),
                _ => {}
            }
        }
    }
    if !failed.is_empty() {
        let now = now_ms();
        let mut g = shared.lock();
        for (id, state) in failed {
            if let Some(job) = g.jobs.get_mut(&id).filter(|j| j.state == state) {
                let due = now + (job.min_retry_delay as i64 * 1000).max(1000);
                match state {
                    JobState::Transferred => job.notify.transferred_due = Some(due),
                    _ => job.notify.error_due = Some(due),
                }
                soonest(due);
            }
        }
    }
    next
}
