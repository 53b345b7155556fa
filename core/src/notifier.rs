//! Notification delivery (the contract's notification rules), run by the dedicated
//! `bgcopy-notify` thread of each manager.
//!
//! Each pass takes, under the lock, what is due for every job, then calls the
//! callbacks with no lock held. TRANSFERRED and ERROR stay pending until a callback
//! accepts them (a callback set later still gets them; a failure is retried after the
//! job's minimum retry delay). JOB_MODIFICATION is coalesced to one per job per
//! `notify_interval`, and the pending one is never dropped. After a final state only
//! the modification reporting it is delivered, then the callback is released.
//!
//! Changes made by other processes (the engine's transfers, another client's calls)
//! reach the callbacks of this process through the store's event journal: each pass
//! reads the entries other managers appended since the last one, so a file
//! transferred or an ERROR reached between two passes is never missed.

use crate::error::{Result, codes};
use crate::handles::{CallbackResult, CallbackSlot, CopyCallback, CopyError, CopyFile, CopyJob};
use crate::record::ErrorRec;
use crate::table::JobTable;
use crate::types::{ErrorContext, EventKind, JobState, notify, now_ms};
use crate::wake::Wake;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use uuid::Uuid;

/// How often a notifier with callbacks looks for other processes' changes.
const FOREIGN_POLL: Duration = Duration::from_millis(250);

/// The running notifier of a manager.
pub(crate) struct Notifier {
    stop: Arc<AtomicBool>,
    table: Arc<JobTable>,
    thread: Option<JoinHandle<()>>,
}

impl Notifier {
    /// Start the `bgcopy-notify` thread.
    pub fn start(table: Arc<JobTable>, interval: Duration) -> Result<Notifier> {
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (table.clone(), stop.clone());
        let mut cursor = Cursor {
            seq: table.last_event()?,
            version: None,
        };
        let thread = std::thread::Builder::new()
            .name("bgcopy-notify".into())
            .spawn(move || {
                while !s.load(Ordering::SeqCst) {
                    let mut sleep = match delivery_pass(&t, interval, &mut cursor) {
                        Some(at) => Duration::from_millis(
                            at.saturating_sub(now_ms()).clamp(0, 3_600_000) as u64,
                        ),
                        None => Duration::from_secs(3600),
                    };
                    // Changes by other processes arrive through the store: with a
                    // callback to feed, look for them often.
                    if t.has_callbacks() {
                        sleep = sleep.min(FOREIGN_POLL);
                    }
                    t.notifier.wait(sleep);
                }
            })
            .map_err(|e| {
                crate::Error::new(codes::E_UNEXPECTED, format!("start the notifier: {e}"))
            })?;
        Ok(Notifier {
            stop,
            table,
            thread: Some(thread),
        })
    }

    /// Stop the thread and wait for it, unless this runs on it (`close()` from a
    /// callback, or a callback held the last reference): it then ends by itself.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.table.notifier.raise();
        if let Some(t) = self.thread.take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }

    /// In a child process after `fork()`: the thread exists only in the parent.
    pub fn abandon(self) {
        std::mem::forget(self);
    }
}

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

/// How many journal entries one read takes.
const JOURNAL_BATCH: u32 = 1000;

/// Where the notifier is in the journal.
struct Cursor {
    /// The last entry read.
    seq: u64,
    /// The store's `data_version` then: entries of other managers move it, so while
    /// it stays the same there is nothing to read.
    version: Option<i64>,
}

/// Queue the notifications the journal entries other managers appended after the
/// cursor call for (on the jobs this process holds), and move the cursor.
fn read_journal(all: &mut crate::table::AllJobs<'_>, cursor: &mut Cursor, now: i64) {
    let version = all.store.data_version().ok();
    if version.is_some() && version == cursor.version {
        return;
    }
    cursor.version = version;
    loop {
        let Ok(batch) = all.store.events_since(cursor.seq, JOURNAL_BATCH) else {
            cursor.version = None;
            return;
        };
        let full = batch.len() == JOURNAL_BATCH as usize;
        for e in batch {
            cursor.seq = e.event.seq;
            if e.origin == all.origin {
                continue;
            }
            let Some(job) = all.jobs.get_mut(&e.job) else {
                continue;
            };
            let n = &mut job.notify;
            match (e.event.kind, e.event.state) {
                (EventKind::StateChanged, JobState::Transferred) => {
                    n.transferred_due.get_or_insert(now);
                }
                (EventKind::StateChanged, JobState::Error) => {
                    n.error_due.get_or_insert(now);
                }
                (EventKind::FileTransferred, _) => {
                    if let Some(idx) = e.event.file_index {
                        n.files.push(idx as usize);
                    }
                }
                _ => {}
            }
            n.modification = true;
        }
        if !full {
            return;
        }
    }
}

/// One delivery pass; returns when the next one is due.
fn delivery_pass(table: &Arc<JobTable>, interval: Duration, cursor: &mut Cursor) -> Option<i64> {
    let now = now_ms();
    let interval = interval.as_millis() as i64;
    let mut next: Option<i64> = None;
    let mut soonest = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
    let mut out = Vec::new();
    // Callbacks let go of are dropped after the lock is released (their destructors
    // may call the library).
    let mut released = Vec::new();
    let open = table.with_cached(Wake::NONE, |mut all| {
        if all.closed {
            return false;
        }
        read_journal(&mut all, cursor, now);
        for job in all.jobs.values_mut() {
            let n = &mut job.notify;
            if n.finished {
                continue;
            }
            let flags = job.notify_flags;
            let Some(cb) = CallbackSlot::of(&job.callback).filter(|_| flags & notify::DISABLE == 0)
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
                        ErrorRec::general(ErrorContext::Unknown, codes::E_UNEXPECTED, "")
                    })));
                } else {
                    soonest(due);
                }
            }
        }
        true
    });
    if !open {
        return None;
    }

    drop(released);
    let mut failed = Vec::new();
    for d in out {
        let job = CopyJob::new(table.clone(), d.job);
        let cb = &d.callback;
        let result = catch_unwind(AssertUnwindSafe(|| -> CallbackResult {
            match &d.what {
                What::Transferred => cb.job_transferred(&job),
                What::Error(rec) => {
                    cb.job_error(&job, &CopyError::new(table.clone(), d.job, rec.clone()))
                }
                What::Modification => cb.job_modification(&job),
                What::File(idx) => {
                    cb.file_transferred(&job, &CopyFile::new(table.clone(), d.job, *idx))
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
        table.with_cached(Wake::NONE, |all| {
            for (id, state) in failed {
                if let Some(job) = all.jobs.get_mut(&id).filter(|j| j.state == state) {
                    let due = now + (job.min_retry_delay as i64 * 1000).max(1000);
                    match state {
                        JobState::Transferred => job.notify.transferred_due = Some(due),
                        _ => job.notify.error_due = Some(due),
                    }
                    soonest(due);
                }
            }
        });
    }
    next
}
