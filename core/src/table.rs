//! `JobTable`: the one way in and out of job state, for the handles, the engine and the
//! notifier alike. It is the store plus a cache: every job's record is held in memory
//! and written through to the store by the entry points below, which also decide who
//! is woken:
//!
//! - [`read`](JobTable::read): a getter (every state, also after close);
//! - [`mutate`](JobTable::mutate): a user call (refused after close and on final jobs;
//!   wakes waiters, scheduler and notifier);
//! - [`update`](JobTable::update): the engine's change of a live job (wakes whom it says);
//! - [`wait`](JobTable::wait): block until a job's state ends a wait, saying why it ended;
//! - [`with_all`](JobTable::with_all): one pass over every job (scheduler, notifier,
//!   checkpointer).
//!
//! Every public entry point first checks that the table was not inherited through
//! `fork()` (its threads exist only in the parent, so a lock may be held forever).

use crate::error::{Error, Result, codes};
use crate::record::JobRec;
use crate::store::Store;
use crate::types::*;
use crate::wake::{Signal, Wake};
use std::any::Any;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Why [`JobTable::wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitEnd {
    /// The job reached a state that ends a wait (TRANSFERRED, ERROR, final).
    Reached,
    /// The timeout passed first.
    TimedOut,
    /// The manager was closed.
    Closed,
}

/// The jobs and the store, as one pass over all of them sees them.
pub(crate) struct AllJobs<'a> {
    /// Every job of the store, by id.
    pub jobs: &'a mut HashMap<Uuid, JobRec>,
    /// The store.
    pub store: &'a mut Store,
    /// Whether the manager is closed.
    pub closed: bool,
}

struct Inner {
    store: Store,
    jobs: HashMap<Uuid, JobRec>,
    closed: bool,
    next_seq: i64,
}

/// The jobs of one open state directory (see the module documentation).
pub(crate) struct JobTable {
    inner: Mutex<Inner>,
    /// Signalled on every change a waiter may care about.
    changed: Condvar,
    /// Wakes the scheduler.
    pub scheduler: Signal,
    /// Wakes the notifier.
    pub notifier: Signal,
    /// The state directory (absolute, resolved).
    pub state_dir: PathBuf,
    /// The process that opened it.
    pid: u32,
    /// Makes every transferred byte durable before `complete()` moves files (installed
    /// by the engine when this process runs transfers).
    barrier: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// INVALID_STATE for calls after `close()`.
pub(crate) fn closed_error() -> Error {
    Error::invalid_state("the manager is closed")
}

fn not_found(id: Uuid) -> Error {
    Error::new(codes::NOT_FOUND, format!("job {id} not found"))
}

impl JobTable {
    /// A table over `store` holding `jobs` (recovered), for `state_dir`.
    pub fn new(store: Store, jobs: Vec<JobRec>, state_dir: PathBuf) -> JobTable {
        let next_seq = jobs
            .iter()
            .map(|j| j.seq.saturating_add(1))
            .max()
            .unwrap_or(1)
            .max(1);
        JobTable {
            inner: Mutex::new(Inner {
                store,
                jobs: jobs.into_iter().map(|j| (j.id, j)).collect(),
                closed: false,
                next_seq,
            }),
            changed: Condvar::new(),
            scheduler: Signal::default(),
            notifier: Signal::default(),
            state_dir,
            pid: crate::sys::pid(),
            barrier: OnceLock::new(),
        }
    }

    /// INVALID_STATE when this table was inherited through `fork()`.
    #[inline]
    pub fn check_fork(&self) -> Result<()> {
        if self.pid == crate::sys::pid() {
            Ok(())
        } else {
            Err(Error::invalid_state(format!(
                "this manager was opened by process {} and inherited through fork(); open a \
                 new one in this process",
                self.pid
            )))
        }
    }

    /// Whether this process opened the table (not a copy inherited through `fork()`).
    pub fn owned_here(&self) -> bool {
        self.pid == crate::sys::pid()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock is recovered: no invariant spans a panic point.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wake the threads a change concerns.
    pub fn wake(&self, who: Wake) {
        if who.waiters {
            self.changed.notify_all();
        }
        if who.scheduler {
            self.scheduler.raise();
        }
        if who.notifier {
            self.notifier.raise();
        }
    }

    /// Read a job (every state, and after close).
    pub fn read<R>(&self, id: Uuid, f: impl FnOnce(&JobRec) -> R) -> Result<R> {
        self.check_fork()?;
        self.lock()
            .jobs
            .get(&id)
            .map(f)
            .ok_or_else(|| not_found(id))
    }

    /// A user call's change of a live job: refused after close (INVALID_STATE), for an
    /// unknown job (NOT_FOUND) and for a final one (INVALID_STATE). Wakes everyone.
    pub fn mutate<R>(
        &self,
        id: Uuid,
        f: impl FnOnce(&mut JobRec, &mut Store) -> Result<R>,
    ) -> Result<R> {
        self.check_fork()?;
        let r = {
            let mut g = self.lock();
            if g.closed {
                return Err(closed_error());
            }
            let Inner { store, jobs, .. } = &mut *g;
            let job = jobs.get_mut(&id).ok_or_else(|| not_found(id))?;
            if job.state.is_final() {
                return Err(Error::invalid_state(format!(
                    "job {id} is {}: it can no longer change",
                    job.state
                )));
            }
            f(job, store)
        };
        self.wake(Wake::ALL);
        r
    }

    /// The engine's change of a live (non-final) job; `None` when the job is gone or
    /// final. Wakes `who`.
    pub fn update<R>(
        &self,
        id: Uuid,
        who: Wake,
        f: impl FnOnce(&mut JobRec, &mut Store) -> R,
    ) -> Option<R> {
        let r = {
            let mut g = self.lock();
            let Inner { store, jobs, .. } = &mut *g;
            match jobs.get_mut(&id) {
                Some(job) if !job.state.is_final() => Some(f(job, store)),
                _ => None,
            }
        };
        self.wake(who);
        r
    }

    /// One pass over every job; wakes `who` afterwards.
    pub fn with_all<R>(&self, who: Wake, f: impl FnOnce(AllJobs<'_>) -> R) -> R {
        let r = {
            let mut g = self.lock();
            let Inner {
                store,
                jobs,
                closed,
                ..
            } = &mut *g;
            f(AllJobs {
                jobs,
                store,
                closed: *closed,
            })
        };
        self.wake(who);
        r
    }

    /// Create a job with `f` building its record from (id, seq), save it.
    pub fn create(&self, f: impl FnOnce(Uuid, i64) -> JobRec) -> Result<Uuid> {
        self.check_fork()?;
        let mut g = self.lock();
        if g.closed {
            return Err(closed_error());
        }
        let id = Uuid::new_v4();
        let job = f(id, g.next_seq);
        g.store.save_job(&job)?;
        g.next_seq += 1;
        g.jobs.insert(id, job);
        Ok(id)
    }

    /// `Ok` when `id` is a live (non-final) job of an open manager, else NOT_FOUND (or
    /// INVALID_STATE after close).
    pub fn find_live(&self, id: Uuid) -> Result<()> {
        self.check_fork()?;
        let g = self.lock();
        if g.closed {
            return Err(closed_error());
        }
        match g.jobs.get(&id) {
            Some(j) if !j.state.is_final() => Ok(()),
            _ => Err(not_found(id)),
        }
    }

    /// The live jobs, in creation order.
    pub fn live_ids(&self) -> Result<Vec<Uuid>> {
        self.check_fork()?;
        let g = self.lock();
        if g.closed {
            return Err(closed_error());
        }
        let mut live: Vec<(i64, Uuid)> = g
            .jobs
            .values()
            .filter(|j| !j.state.is_final())
            .map(|j| (j.seq, j.id))
            .collect();
        live.sort();
        Ok(live.into_iter().map(|(_, id)| id).collect())
    }

    /// Block until the job is TRANSFERRED, ERROR, ACKNOWLEDGED or CANCELLED, the
    /// `timeout` passes (`None`: forever) or the manager closes; the state then, and why.
    pub fn wait(&self, id: Uuid, timeout: Option<Duration>) -> Result<(JobState, WaitEnd)> {
        self.check_fork()?;
        // A timeout too large to represent is forever.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut g = self.lock();
        loop {
            let state = g.jobs.get(&id).ok_or_else(|| not_found(id))?.state;
            if state.ends_wait() {
                return Ok((state, WaitEnd::Reached));
            }
            if g.closed {
                return Ok((state, WaitEnd::Closed));
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(l) if !l.is_zero() => l,
                    _ => return Ok((state, WaitEnd::TimedOut)),
                },
                None => Duration::from_secs(3600),
            };
            g = self
                .changed
                .wait_timeout(g, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Whether `close()` ran.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Close: later user calls fail, every running transfer is told to stop, and the
    /// callbacks are handed back to be dropped outside the lock (their destructors may
    /// call the library). `None` when it was closed already.
    pub fn close(&self) -> Option<Vec<Arc<dyn Any + Send + Sync>>> {
        let callbacks = {
            let mut g = self.lock();
            if g.closed {
                return None;
            }
            g.closed = true;
            g.jobs
                .values_mut()
                .filter_map(|job| {
                    if let Some(run) = &job.run {
                        run.stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    job.callback.take()
                })
                .collect()
        };
        self.wake(Wake::ALL);
        Some(callbacks)
    }

    /// Install the durability barrier (once).
    pub fn set_barrier(&self, f: Box<dyn Fn() + Send + Sync>) {
        let _ = self.barrier.set(f);
    }

    /// Make every transferred byte durable (a no-op without an engine here).
    pub fn barrier(&self) {
        if let Some(f) = self.barrier.get() {
            f();
        }
    }
}
