//! `JobTable`: the one way in and out of job state, for the handles, the engine and the
//! notifier alike. The store is the truth, shared by every process that opened the
//! state directory; the table keeps a cache of the jobs this process touched, and
//! validates it before every use: when another process committed (SQLite's
//! `data_version` moved), the jobs whose revision grew are read again
//! ([`JobRec::merge_stored`]). Jobs are loaded when first used, never all at once.
//!
//! - [`read`](JobTable::read): a getter (every state, also after close);
//! - [`mutate`](JobTable::mutate): a user call, one write transaction (refused after
//!   close and on final jobs; wakes waiters, scheduler and notifier here, and the
//!   engine wherever it runs);
//! - [`update`](JobTable::update): the engine's change of a live job, one write
//!   transaction; [`update_live`](JobTable::update_live): its in-memory progress;
//! - [`wait`](JobTable::wait): block until a job's state ends a wait, saying why it
//!   ended (changes by other processes are seen within [`POLL`]);
//! - [`with_all`](JobTable::with_all): one pass over the cached jobs in a write
//!   transaction (scheduler, checkpointer); [`with_cached`](JobTable::with_cached)
//!   without one (notifier).
//!
//! Every public entry point first checks that the table was not inherited through
//! `fork()` (its threads exist only in the parent, so a lock may be held forever).

use crate::error::{Error, Result, codes};
use crate::record::JobRec;
use crate::store::Store;
use crate::sys::{StoreGuard, WakeSender};
use crate::types::*;
use crate::wake::{Signal, Wake};
use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How many jobs a process keeps cached before it drops the ones that hold nothing
/// but stored values.
const CACHE_MAX: usize = 4096;

/// How often a waiter looks for changes made by other processes.
pub(crate) const POLL: Duration = Duration::from_millis(100);

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

/// The cached jobs and the store, as one pass sees them.
pub(crate) struct AllJobs<'a> {
    /// The jobs this process holds, by id.
    pub jobs: &'a mut HashMap<Uuid, JobRec>,
    /// The store.
    pub store: &'a mut Store,
    /// Whether the manager is closed.
    pub closed: bool,
    /// The number this table's journal entries carry (see [`JobTable::origin`]).
    pub origin: i64,
}

impl AllJobs<'_> {
    /// Bring every job whose stored state is one of `states` into the cache and
    /// return their ids, in creation order (the scheduler's candidates: its pass costs
    /// what they cost, whatever the size of the queue).
    pub fn load_states(&mut self, states: &[JobState]) -> Result<Vec<Uuid>> {
        let ids = self.store.job_ids(Some(states))?;
        for id in &ids {
            if !self.jobs.contains_key(id)
                && let Some(job) = self.store.load_job(*id)?
            {
                self.jobs.insert(*id, job);
            }
        }
        Ok(ids)
    }
}

struct Inner {
    store: Store,
    /// The jobs this process touched.
    jobs: HashMap<Uuid, JobRec>,
    closed: bool,
    /// The store's `data_version` when the cache was last validated.
    version: i64,
    /// The newest job revision the cache has seen.
    rev: i64,
    /// What this table's journal entries carry as their writer.
    origin: i64,
    /// A refresh saw another connection's commit that `poll_foreign` has not reported
    /// yet (whichever thread refreshed: the engine must not miss it).
    foreign: bool,
    /// The cached jobs whose row is newer than the store's: saving it failed (a full
    /// state disk, …) after the engine changed it. A stored value never replaces such
    /// a job in the cache, and every write transaction saves it again until one
    /// commits.
    unsaved: HashSet<Uuid>,
}

/// What a transaction does when `f` or the commit fails (see [`Inner::transaction`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Commit what `f` wrote even when it fails; undo in the cache what the store
    /// refused.
    Commit,
    /// Commit what `f` wrote even when it fails; keep in the cache what the store
    /// refused, to save it later.
    Keep,
    /// Roll everything back when `f` fails.
    AllOrNothing,
}

/// Which cached jobs a transaction may have given journal entries.
#[derive(Clone, Copy)]
enum Scope {
    One(Uuid),
    All,
}

impl Inner {
    /// Validate the cache: if another connection committed since the last look, read
    /// again the cached jobs it changed.
    fn refresh(&mut self) -> Result<()> {
        let version = self.store.data_version()?;
        if version == self.version {
            return Ok(());
        }
        let (changed, newest) = self.store.changed_since(self.rev)?;
        for id in changed {
            if !self.unsaved.contains(&id)
                && let Some(job) = self.jobs.get_mut(&id)
                && let Some(fresh) = self.store.load_job(id)?
            {
                job.merge_stored(fresh);
            }
        }
        self.version = version;
        self.rev = newest;
        self.foreign = true;
        Ok(())
    }

    /// The cached jobs and the store, as a pass sees them.
    fn all(&mut self) -> AllJobs<'_> {
        AllJobs {
            jobs: &mut self.jobs,
            store: &mut self.store,
            closed: self.closed,
            origin: self.origin,
        }
    }

    /// The job, loaded into the cache if needed.
    fn job(&mut self, id: Uuid) -> Result<&mut JobRec> {
        if !self.jobs.contains_key(&id) {
            let job = self.store.load_job(id)?.ok_or_else(|| not_found(id))?;
            self.trim();
            self.jobs.insert(id, job);
        }
        Ok(self.jobs.get_mut(&id).expect("just loaded"))
    }

    /// Keep the cache bounded: past [`CACHE_MAX`] jobs, drop those that hold nothing
    /// but stored values (they are read again when used) down to half of it.
    fn trim(&mut self) {
        if self.jobs.len() < CACHE_MAX {
            return;
        }
        let mut excess = self.jobs.len() - CACHE_MAX / 2;
        let unsaved = &self.unsaved;
        self.jobs.retain(|id, j| {
            if excess > 0 && j.only_stored_values() && !unsaved.contains(id) {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }

    /// Run `f` in a write transaction on a validated cache; what `f` wrote is
    /// committed whether it succeeds or not (it keeps its own writes consistent), with
    /// the journal entries of the jobs in `scope`. A user call's change the store
    /// refuses is undone in the cache (the call fails).
    fn transaction<R>(
        &mut self,
        scope: Scope,
        f: impl FnOnce(&mut Inner) -> Result<R>,
    ) -> Result<R> {
        self.run_transaction(scope, Mode::Commit, f)
    }

    /// [`Inner::transaction`] for the engine: what it changed happened (a run ended, a
    /// state moved), so a job row the store refuses stays in the cache as it is,
    /// marked unsaved ([`Inner::unsaved`]), with its journal entries, and is saved again by the
    /// next write transaction.
    fn engine_transaction<R>(
        &mut self,
        scope: Scope,
        f: impl FnOnce(&mut Inner) -> Result<R>,
    ) -> Result<R> {
        self.run_transaction(scope, Mode::Keep, f)
    }

    /// [`Inner::transaction`], but a failure of `f` rolls everything back.
    fn all_or_nothing<R>(
        &mut self,
        scope: Scope,
        f: impl FnOnce(&mut Inner) -> Result<R>,
    ) -> Result<R> {
        self.run_transaction(scope, Mode::AllOrNothing, f)
    }

    fn run_transaction<R>(
        &mut self,
        scope: Scope,
        mode: Mode,
        f: impl FnOnce(&mut Inner) -> Result<R>,
    ) -> Result<R> {
        let keep = mode == Mode::Keep;
        self.store.begin()?;
        let r = self
            .refresh()
            .and_then(|()| self.save_unsaved(keep))
            .and_then(|()| f(self));
        if r.is_err() && mode == Mode::AllOrNothing {
            self.store.rollback();
            // What the entries recorded did not happen.
            self.take_journal(scope);
            self.settle(false, false);
            return r;
        }
        let journal = self.take_journal(scope);
        let mut done = Ok(());
        for (id, events) in &journal {
            done = done.and(self.store.append_events(*id, events, self.origin));
        }
        if done.is_err() {
            self.store.rollback();
        } else {
            // Our own commit does not move `data_version`; its revisions are seen.
            if let Ok(rev) = self.store.max_rev() {
                self.rev = rev;
            }
            done = self.store.commit();
        }
        let committed = done.is_ok();
        self.settle(committed, keep);
        if !committed {
            // The entries of a change the cache keeps are appended with its row.
            for (id, events) in journal {
                if self.unsaved.contains(&id)
                    && let Some(job) = self.jobs.get_mut(&id)
                {
                    job.journal.splice(0..0, events);
                }
            }
        }
        r.and_then(|v| done.map(|()| v))
    }

    /// Before a transaction's own work: save again the rows the store refused before.
    /// For a user call, a refusal fails the call (the store still takes nothing).
    fn save_unsaved(&mut self, keep: bool) -> Result<()> {
        for id in &self.unsaved {
            let Some(job) = self.jobs.get(id) else {
                continue;
            };
            let r = self.store.save_job(job);
            if !keep {
                r?;
            }
        }
        Ok(())
    }

    /// After a transaction (`committed` or not) or autocommitted writes: each job row
    /// written is saved, or, where the store refused it, kept as unsaved (`keep`, and
    /// a job that already was) or read again from the store.
    fn settle(&mut self, committed: bool, keep: bool) {
        let mut revert = !committed;
        let saves: HashMap<Uuid, bool> = self.store.take_saves().into_iter().collect();
        for (id, ok) in saves {
            if !self.jobs.contains_key(&id) {
                continue;
            }
            if committed && ok {
                self.unsaved.remove(&id);
            } else if keep {
                self.unsaved.insert(id);
            } else if !self.unsaved.contains(&id) {
                revert = true;
            }
        }
        if revert {
            self.resync();
        }
    }

    /// The journal entries waiting in the jobs of `scope`, taken.
    fn take_journal(&mut self, scope: Scope) -> Vec<(Uuid, Vec<crate::record::PendingEvent>)> {
        let take = |j: &mut JobRec| (j.id, std::mem::take(&mut j.journal));
        match scope {
            Scope::One(id) if self.unsaved.is_empty() => {
                self.jobs.get_mut(&id).map(take).into_iter().collect()
            }
            // And those of the unsaved jobs, saved again in every transaction.
            Scope::One(id) => std::iter::once(id)
                .chain(self.unsaved.iter().copied().filter(|u| *u != id))
                .collect::<Vec<_>>()
                .into_iter()
                .filter_map(|id| self.jobs.get_mut(&id).map(take))
                .collect(),
            Scope::All => self
                .jobs
                .values_mut()
                .filter(|j| !j.journal.is_empty())
                .map(take)
                .collect(),
        }
    }

    /// After a rollback: what the cache took from the rolled-back writes is replaced by
    /// the store's values again (every cached job is read again, but an unsaved one).
    fn resync(&mut self) {
        self.version = i64::MIN;
        self.rev = 0;
        let _ = self.refresh();
    }
}

/// The table's lock held, with the store guard (dropped after it).
struct Locked<'a> {
    inner: MutexGuard<'a, Inner>,
    _fork: StoreGuard,
}

impl std::ops::Deref for Locked<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.inner
    }
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
    /// Tells the engine (in whichever process it runs) that a job changed.
    engine: Option<WakeSender>,
    /// This table's own engine runs (its scheduler is woken directly).
    engine_here: std::sync::atomic::AtomicBool,
    /// The process that opened it.
    pid: u32,
    /// Makes every transferred byte durable before `complete()` moves files (installed
    /// by the engine when this process runs transfers).
    barrier: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// The manager's `max_connections_per_file` option (what a job without its own
    /// setting reports).
    pub file_connections: OnceLock<u32>,
}

/// INVALID_STATE for calls after `close()`.
pub(crate) fn closed_error() -> Error {
    Error::invalid_state("the manager is closed")
}

fn not_found(id: Uuid) -> Error {
    Error::new(codes::NOT_FOUND, format!("job {id} not found"))
}

fn final_error(id: Uuid, state: JobState) -> Error {
    Error::invalid_state(format!("job {id} is {state}: it can no longer change"))
}

impl JobTable {
    /// A table over `store`, for `state_dir`.
    pub fn new(store: Store, state_dir: PathBuf) -> Result<JobTable> {
        let version = store.data_version()?;
        let rev = store.max_rev()?;
        Ok(JobTable {
            inner: Mutex::new(Inner {
                store,
                jobs: HashMap::new(),
                closed: false,
                version,
                rev,
                origin: (Uuid::new_v4().as_u64_pair().0 >> 1) as i64,
                foreign: false,
                unsaved: HashSet::new(),
            }),
            changed: Condvar::new(),
            scheduler: Signal::default(),
            notifier: Signal::default(),
            engine: WakeSender::new(&state_dir),
            engine_here: std::sync::atomic::AtomicBool::new(false),
            state_dir,
            pid: crate::sys::pid(),
            barrier: OnceLock::new(),
            file_connections: OnceLock::new(),
        })
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

    /// The table's lock; while it is held the store may be used, so a `fork()` waits
    /// for it to be released (see `sys::StoreGuard`).
    fn lock(&self) -> Locked<'_> {
        let fork = StoreGuard::enter();
        // A poisoned lock is recovered: no invariant spans a panic point.
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Locked { inner, _fork: fork }
    }

    /// Wake the threads `who` names (in this process).
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

    /// Read a job (every state, and after close). Changes by other processes are seen.
    pub fn read<R>(&self, id: Uuid, f: impl FnOnce(&JobRec) -> R) -> Result<R> {
        self.check_fork()?;
        let mut g = self.lock();
        // A store that cannot be read right now: answer from the cache.
        let fresh = g.refresh();
        match g.job(id) {
            Ok(job) => Ok(f(job)),
            Err(e) => Err(fresh.err().unwrap_or(e)),
        }
    }

    /// The engine's read of a job it runs, from the cache without asking the store
    /// whether another process changed something: such a change stops the run (the
    /// wake thread's refresh sees it), so what a run reads of its own job is current.
    /// A job not in the cache is read as [`JobTable::read`] reads it.
    pub fn read_running<R>(&self, id: Uuid, f: impl FnOnce(&JobRec) -> R) -> Result<R> {
        let mut g = self.lock();
        if g.jobs.get(&id).is_some_and(|j| j.run.is_some()) {
            return Ok(f(&g.jobs[&id]));
        }
        let fresh = g.refresh();
        match g.job(id) {
            Ok(job) => Ok(f(job)),
            Err(e) => Err(fresh.err().unwrap_or(e)),
        }
    }

    /// A user call's change of a live job, in one write transaction: refused after
    /// close (INVALID_STATE), for an unknown job (NOT_FOUND) and for a final one
    /// (INVALID_STATE). Wakes everyone, and the engine wherever it runs.
    pub fn mutate<R>(
        &self,
        id: Uuid,
        f: impl FnOnce(&mut JobRec, &mut Store) -> Result<R>,
    ) -> Result<R> {
        self.check_fork()?;
        let mut who = Wake::ALL;
        let r = {
            let mut g = self.lock();
            if g.closed {
                return Err(closed_error());
            }
            g.transaction(Scope::One(id), |g| {
                let state = g.job(id)?.state;
                if state.is_final() {
                    return Err(final_error(id, state));
                }
                let Inner { store, jobs, .. } = g;
                let job = jobs.get_mut(&id).expect("loaded");
                let (before, entries, priority) = (job.touches, job.journal.len(), job.priority);
                let r = f(job, store);
                // A change that recorded nothing itself is a modification.
                if job.touches != before && job.journal.len() == entries {
                    job.record(EventKind::Modified, job.modification_ms, None);
                }
                // Only what can change the schedule wakes the scheduler, and only a
                // job with a callback the notifier.
                let schedulable = |s: JobState| s.is_active() || s == JobState::TransientError;
                who.scheduler =
                    job.state != state || job.priority != priority || schedulable(job.state);
                who.notifier = job.callback.is_some() || job.state != state;
                r
            })
        };
        self.wake(who);
        self.wake_engine();
        r
    }

    /// The engine's change of a live (non-final) job, in one write transaction; `None`
    /// when the job is gone or final. Wakes `who`.
    pub fn update<R>(
        &self,
        id: Uuid,
        who: Wake,
        f: impl FnOnce(&mut JobRec, &mut Store) -> R,
    ) -> Option<R> {
        let r = {
            let mut g = self.lock();
            g.engine_transaction(Scope::One(id), |g| {
                let Inner { store, jobs, .. } = g;
                Ok(match jobs.get_mut(&id) {
                    Some(job) if !job.state.is_final() => Some(f(job, store)),
                    _ => None,
                })
            })
            .ok()
            .flatten()
        };
        self.wake(who);
        r
    }

    /// The engine's in-memory change of a job it runs (live progress): no store
    /// access. `None` when the job is gone or final. Wakes `who`, the notifier only
    /// for a job with a callback (it delivers nothing else of this job).
    pub fn update_live<R>(
        &self,
        id: Uuid,
        who: Wake,
        f: impl FnOnce(&mut JobRec) -> R,
    ) -> Option<R> {
        let (r, heard) = {
            let mut g = self.lock();
            match g.jobs.get_mut(&id) {
                Some(job) if !job.state.is_final() => {
                    let heard = job.callback.is_some();
                    (Some(f(job)), heard)
                }
                _ => (None, false),
            }
        };
        self.wake(Wake {
            notifier: who.notifier && heard,
            ..who
        });
        r
    }

    /// One pass over the cached jobs in a write transaction; wakes `who` afterwards.
    pub fn with_all<R>(&self, who: Wake, f: impl FnOnce(AllJobs<'_>) -> R) -> R {
        let r = {
            let mut g = self.lock();
            let mut out = None;
            let mut f = Some(f);
            let _ = g.engine_transaction(Scope::All, |g| {
                out = Some((f.take().expect("once"))(g.all()));
                Ok(())
            });
            // Without a transaction (the store could not be validated) the pass sees
            // the cache as it is, and what it saves is committed at once.
            out.unwrap_or_else(|| {
                let r = (f.take().expect("once"))(g.all());
                g.settle(true, true);
                r
            })
        };
        self.wake(who);
        r
    }

    /// One pass over the cached jobs in a write transaction that `f` fails as a whole:
    /// an error of `f` rolls back what it wrote, and a failed commit is returned.
    pub fn try_with_all<R>(&self, f: impl FnOnce(AllJobs<'_>) -> Result<R>) -> Result<R> {
        let mut g = self.lock();
        g.all_or_nothing(Scope::All, |g| f(g.all()))
    }

    /// One pass over the cached jobs, validated but without a write transaction (the
    /// notifier: it changes only what this process keeps in memory).
    pub fn with_cached<R>(&self, who: Wake, f: impl FnOnce(AllJobs<'_>) -> R) -> R {
        let r = {
            let mut g = self.lock();
            let _ = g.refresh();
            let r = f(g.all());
            // What it saved is committed at once; what the store refused is kept.
            g.settle(true, true);
            r
        };
        self.wake(who);
        r
    }

    /// Apply `f` to job `id` as stored, in a write transaction, without keeping it in
    /// the cache unless it already was there (recovery: every job once, none kept).
    pub fn with_stored(
        &self,
        id: Uuid,
        f: impl FnOnce(&mut JobRec, &mut Store) -> Result<()>,
    ) -> Result<()> {
        let mut g = self.lock();
        g.transaction(Scope::One(id), |g| {
            let Inner {
                store,
                jobs,
                origin,
                ..
            } = g;
            match jobs.get_mut(&id) {
                Some(job) => f(job, store),
                None => match store.load_job(id)? {
                    Some(mut job) => {
                        let r = f(&mut job, store);
                        store.append_events(id, &job.journal, *origin)?;
                        r
                    }
                    None => Ok(()),
                },
            }
        })
    }

    /// The live jobs with a file at local path `local`.
    pub fn jobs_with_local(&self, local: &str) -> Result<Vec<Uuid>> {
        self.check_fork()?;
        let g = self.lock();
        if g.closed {
            return Err(closed_error());
        }
        g.store.jobs_with_local(local)
    }

    /// The jobs recovery must visit (`None`: every live job).
    pub fn recovery_candidates(&self) -> Result<Option<Vec<Uuid>>> {
        self.lock().store.recovery_candidates()
    }

    /// Ids of the stored jobs in `states` (`&[]`: every live job), in creation order.
    pub fn stored_ids(&self, states: &[JobState]) -> Result<Vec<Uuid>> {
        self.lock().store.job_ids(Some(states))
    }

    /// Create a job with `f` building its record from (id, seq), save it.
    pub fn create(&self, f: impl FnOnce(Uuid, i64) -> JobRec) -> Result<Uuid> {
        self.check_fork()?;
        let id = {
            let mut g = self.lock();
            if g.closed {
                return Err(closed_error());
            }
            // Time-ordered (version 7): new jobs' rows and index entries land at the
            // end of their B-trees instead of on a random page each, so a call writes
            // the same few pages whatever the queue size.
            let id = Uuid::now_v7();
            g.transaction(Scope::One(id), |g| {
                let mut job = f(id, g.store.next_seq()?);
                job.record(EventKind::StateChanged, job.creation_ms, None);
                g.store.save_job(&job)?;
                g.trim();
                g.jobs.insert(id, job);
                Ok(id)
            })?
        };
        self.wake_engine();
        Ok(id)
    }

    /// `Ok` when `id` is a live (non-final) job of an open manager, else NOT_FOUND (or
    /// INVALID_STATE after close).
    pub fn find_live(&self, id: Uuid) -> Result<()> {
        self.check_fork()?;
        let mut g = self.lock();
        if g.closed {
            return Err(closed_error());
        }
        g.refresh()?;
        match g.job(id) {
            Ok(j) if !j.state.is_final() => Ok(()),
            Ok(_) => Err(not_found(id)),
            Err(e) => Err(e),
        }
    }

    /// The live jobs, in creation order.
    pub fn live_ids(&self) -> Result<Vec<Uuid>> {
        self.check_fork()?;
        let g = self.lock();
        if g.closed {
            return Err(closed_error());
        }
        g.store.job_ids(Some(&[]))
    }

    /// Block until the job is TRANSFERRED, ERROR, ACKNOWLEDGED or CANCELLED, the
    /// `timeout` passes (`None`: forever) or the manager closes; the state then, and why.
    pub fn wait(&self, id: Uuid, timeout: Option<Duration>) -> Result<(JobState, WaitEnd)> {
        self.check_fork()?;
        // A timeout too large to represent is forever.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut g = self.lock();
        loop {
            let _ = g.refresh();
            let state = g.job(id)?.state;
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
                None => POLL,
            };
            // Wait with neither the store guard (a fork may proceed) nor, after the
            // wake-up, the lock taken out of order.
            let Locked { inner, _fork } = g;
            drop(_fork);
            let inner = self
                .changed
                .wait_timeout(inner, left.min(POLL))
                .unwrap_or_else(|p| p.into_inner())
                .0;
            drop(inner);
            g = self.lock();
        }
    }

    /// Up to `limit` journal entries numbered above `cursor`, oldest first (refused
    /// after close, like every manager call).
    /// The manager's `max_connections_per_file` option.
    pub fn options_max_connections_per_file(&self) -> u32 {
        self.file_connections.get().copied().unwrap_or(8)
    }

    /// A setting of the queue as stored (`None`: never set).
    pub fn setting(&self, name: &str) -> Result<Option<i64>> {
        self.check_fork()?;
        let g = self.lock();
        if g.closed {
            return Err(closed_error());
        }
        g.store.setting(name)
    }

    pub fn events_since(&self, cursor: u64, limit: u32) -> Result<Vec<Event>> {
        self.check_fork()?;
        let g = self.lock();
        if g.closed {
            return Err(closed_error());
        }
        Ok(g.store
            .events_since(cursor, limit)?
            .into_iter()
            .map(|e| e.event)
            .collect())
    }

    /// Jobs whose notify command line is due at `now`.
    pub fn due_commands(&self, now: i64) -> Result<Vec<Uuid>> {
        self.lock().store.due_commands(now)
    }

    /// The newest journal entry's number (0 when the journal is empty).
    pub fn last_event(&self) -> Result<u64> {
        // An error, not 0: a reader starting from 0 would replay the whole journal.
        self.lock().store.last_event()
    }

    /// Look for changes other processes made (also those another thread's refresh saw
    /// first); wakes `who` when there were any.
    pub fn poll_foreign(&self, who: Wake) {
        let changed = {
            let mut g = self.lock();
            let _ = g.refresh();
            std::mem::take(&mut g.foreign)
        };
        if changed {
            self.wake(who);
        }
    }

    /// Tell the engine, wherever it runs, that something changed (in this table's
    /// own engine, the scheduler's wake-up is enough).
    pub fn wake_engine(&self) {
        if self.engine_here.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if let Some(s) = &self.engine {
            s.send();
        }
    }

    /// Whether this table's process runs the engine for it (set by the engine).
    pub fn set_engine_here(&self, here: bool) {
        self.engine_here
            .store(here, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether `close()` ran.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Whether any job this process holds has a callback (the notifier then looks for
    /// other processes' changes often).
    pub fn has_callbacks(&self) -> bool {
        self.lock().jobs.values().any(|j| j.callback.is_some())
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
