//! `CopyManager`: the durable queue, recovery at open, and the scheduler.

use crate::error::{Error, Result, codes};
use crate::job::CopyJob;
use crate::lock::DirLock;
use crate::model::{ErrorRec, JobRec, RunCtl, set_state, stop_run};
use crate::store::Store;
use crate::transfer;
use crate::types::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use uuid::Uuid;

/// Manager-wide settings. Build with `ManagerOptions::default()` and change fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ManagerOptions {
    /// Transfer slots shared by HIGH/NORMAL/LOW jobs (FOREGROUND jobs always run). Default 2.
    pub background_slots: usize,
    /// Files of one job transferred at once. Default 8.
    pub connections_per_job: usize,
    /// A connection idle this long is a transient error. Default 60 s.
    pub read_timeout: Duration,
    /// Connecting (TCP + TLS) may take this long. Default 30 s.
    pub connect_timeout: Duration,
    /// Checkpoint after this many bytes of a file. Default 8 MiB.
    pub checkpoint_bytes: u64,
    /// Checkpoint at least this often while data moves. Default 1 s.
    pub checkpoint_interval: Duration,
    /// At most one JOB_MODIFICATION per job per this interval. Default 500 ms.
    pub notify_interval: Duration,
    /// Bytes per second shared by all HIGH/NORMAL/LOW transfers; `None` = unlimited.
    pub background_bandwidth_limit: Option<u64>,
    /// How long a background job keeps its slot before an equal-priority job waiting
    /// for one takes its turn (round robin). Default 30 s.
    pub time_slice: Duration,
    /// Redirects followed per request. Default 10.
    pub max_redirects: u32,
    /// Follow a redirect from https to http. Default false (refused: fatal error).
    pub allow_https_to_http_redirect: bool,
    /// PEM files of the only root certificates to trust, like curl's `--cacert`.
    /// `None` (default) trusts the Mozilla roots bundled with the library.
    pub tls_root_certs: Option<Vec<PathBuf>>,
    /// The User-Agent header.
    pub user_agent: String,
    /// Run transfers in this process (default true). `false` opens the store for
    /// inspection and changes only: queued jobs wait for a manager that transfers.
    pub start_transfers: bool,
}

impl ManagerOptions {
    /// E_INVALIDARG for settings no manager can run with: slot and connection counts
    /// outside 1..=1024, a zero read or connect timeout, a bandwidth limit of 0 (use
    /// `None` for unlimited), a User-Agent with control characters (CR/LF injection).
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: &str| Err(Error::invalid_arg(format!("options: {msg}")));
        if !(1..=1024).contains(&self.background_slots) {
            return bad("background_slots must be 1 to 1024");
        }
        if !(1..=1024).contains(&self.connections_per_job) {
            return bad("connections_per_job must be 1 to 1024");
        }
        if self.read_timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad("read_timeout and connect_timeout must not be 0");
        }
        if self.background_bandwidth_limit == Some(0) {
            return bad("background_bandwidth_limit must be at least 1 byte/s (None: unlimited)");
        }
        if self.user_agent.chars().any(char::is_control) {
            return bad("user_agent contains CR, LF or another control character");
        }
        Ok(())
    }
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            background_slots: 2,
            connections_per_job: 8,
            read_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            checkpoint_bytes: 8 << 20,
            checkpoint_interval: Duration::from_secs(1),
            notify_interval: Duration::from_millis(500),
            background_bandwidth_limit: None,
            time_slice: Duration::from_secs(30),
            max_redirects: 10,
            allow_https_to_http_redirect: false,
            tls_root_certs: None,
            user_agent: format!("bgcopy/{}", env!("CARGO_PKG_VERSION")),
            start_transfers: true,
        }
    }
}

/// How long `close()` waits for transfers to stop before returning.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Everything behind the mutex.
pub(crate) struct Inner {
    pub store: Store,
    pub jobs: HashMap<Uuid, JobRec>,
    pub closed: bool,
    pub next_seq: i64,
    pub next_generation: u64,
    pub next_stamp: u64,
}

/// What the handles, the scheduler, the workers and the notifier share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Signalled on every state change (for `wait`).
    pub changed: Condvar,
    pub opts: ManagerOptions,
    pub sched_wake: tokio::sync::Notify,
    pub notify_wake: tokio::sync::Notify,
    pub shutdown: AtomicBool,
    pub agent: ureq::Agent,
    pub limiter: Option<transfer::RateLimiter>,
    pub state_dir: PathBuf,
    /// The directory lock. Each worker holds a clone, so the directory stays locked
    /// until `close()` has let go of it and the last worker (maybe blocked in a read
    /// until the read timeout) has exited.
    pub dir_lock: Mutex<Option<Arc<DirLock>>>,
    /// Makes transferred bytes durable off the download threads.
    pub checkpoints: crate::durable::Checkpointer,
}

impl Shared {
    /// Lock the state; a poisoned lock is recovered (no invariant spans a panic point).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wake everyone who reacts to changes: waiters, scheduler, notifier.
    pub fn kick(&self) {
        self.changed.notify_all();
        self.sched_wake.notify_one();
        self.notify_wake.notify_one();
    }

    /// Run `f` on a live (non-final) job of an open manager, then wake everyone.
    pub fn mutate<R>(
        &self,
        id: Uuid,
        f: impl FnOnce(&mut JobRec, &mut Store) -> Result<R>,
    ) -> Result<R> {
        let r = {
            let mut g = self.lock();
            if g.closed {
                return Err(closed_error());
            }
            let Inner { store, jobs, .. } = &mut *g;
            let job = jobs
                .get_mut(&id)
                .ok_or_else(|| Error::new(codes::NOT_FOUND, format!("job {id} not found")))?;
            if job.state.is_final() {
                return Err(Error::invalid_state(format!(
                    "job {id} is {}: it can no longer change",
                    job.state
                )));
            }
            f(job, store)
        };
        self.kick();
        r
    }

    /// Delete temporary files of a final job (each only if it is still the file bgcopy
    /// created) and forget them in the ledger.
    pub fn remove_temps(&self, temps: Vec<(PathBuf, crate::sys::FileId)>) {
        let gone: Vec<PathBuf> = temps
            .into_iter()
            .filter(|(path, id)| crate::sys::remove_ours(path, *id).unwrap_or(false))
            .map(|(path, _)| path)
            .collect();
        if !gone.is_empty() {
            let mut g = self.lock();
            let _ = g
                .store
                .atomic(|s| s.forget_temps(gone.iter().map(PathBuf::as_path)));
        }
    }

    /// Read from a job (works in every state, and after close).
    pub fn read<R>(&self, id: Uuid, f: impl FnOnce(&JobRec) -> R) -> Result<R> {
        let g = self.lock();
        g.jobs
            .get(&id)
            .map(f)
            .ok_or_else(|| Error::new(codes::NOT_FOUND, format!("job {id} not found")))
    }

    /// A worker ended: record its outcome if it is still the job's current run.
    pub fn finish(&self, id: Uuid, generation: u64, outcome: transfer::Outcome) {
        if matches!(outcome, transfer::Outcome::Done) {
            // TRANSFERRED is recorded only after every file's bytes are.
            self.checkpoints.flush();
        }
        {
            let mut g = self.lock();
            let Inner { store, jobs, .. } = &mut *g;
            if let Some(job) = jobs.get_mut(&id) {
                job.worker_alive = false;
                let current = job.run.as_ref().is_some_and(|r| r.generation == generation);
                if current && !job.state.is_final() {
                    job.run = None;
                    apply_outcome(job, outcome, now_ms());
                    let _ = store.save_job(job);
                }
            }
        }
        self.kick();
    }
}

pub(crate) fn closed_error() -> Error {
    Error::invalid_state("the manager is closed")
}

pub(crate) fn apply_outcome(job: &mut JobRec, outcome: transfer::Outcome, now: i64) {
    use crate::policy::{Retry, RetryInput, next_retry};
    use transfer::Outcome;
    match outcome {
        Outcome::Done => {
            job.made_progress();
            set_state(job, JobState::Transferred, now);
        }
        Outcome::Stopped => {
            if job.state.is_active() {
                set_state(job, JobState::Queued, now);
            }
        }
        Outcome::Failed(f) => {
            job.error_count = job.error_count.saturating_add(1);
            if f.transient && job.no_progress_timeout != 0 {
                let since = *job.no_progress_since_ms.get_or_insert(now);
                let retry = next_retry(RetryInput {
                    now_ms: now,
                    backoff_ms: job.backoff_ms,
                    min_retry_delay_s: job.min_retry_delay,
                    retry_after_s: f.retry_after,
                    no_progress_since_ms: since,
                    no_progress_timeout_s: job.no_progress_timeout,
                });
                match retry {
                    Retry::GiveUp => fail_no_progress(job, f.error, now),
                    Retry::At { at_ms, backoff_ms } => {
                        job.backoff_ms = backoff_ms;
                        job.retry_at_ms = Some(at_ms);
                        job.error = Some(f.error);
                        set_state(job, JobState::TransientError, now);
                    }
                }
            } else {
                job.error = Some(f.error);
                job.retry_at_ms = None;
                set_state(job, JobState::Error, now);
            }
        }
    }
}

fn fail_no_progress(job: &mut JobRec, last: ErrorRec, now: i64) {
    job.error = Some(ErrorRec {
        code: codes::NO_PROGRESS,
        description: format!(
            "no progress for {} s; last error: {}",
            job.no_progress_timeout, last.description
        ),
        ..last
    });
    job.retry_at_ms = None;
    set_state(job, JobState::Error, now);
}

/// The durable job manager (IBackgroundCopyManager). Dropping it closes it.
pub struct CopyManager {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
    /// The process that opened it: a forked child has none of its threads.
    pid: u32,
}

impl std::fmt::Debug for CopyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyManager")
            .field("state_dir", &self.shared.state_dir)
            .finish()
    }
}

/// The platform's default state directory: `$BGCOPY_STATE_DIR`, else
/// `$XDG_DATA_HOME/bgcopy`, else `~/.local/share/bgcopy` (macOS:
/// `~/Library/Application Support/bgcopy`).
pub fn default_state_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("BGCOPY_STATE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("bgcopy"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid_arg("no state directory given and $HOME is not set"))?;
    let base = PathBuf::from(home);
    Ok(if cfg!(target_os = "macos") {
        base.join("Library/Application Support/bgcopy")
    } else {
        base.join(".local/share/bgcopy")
    })
}

impl CopyManager {
    /// Open (or create) the job store in `state_dir` (`None`: [`default_state_dir`]) with
    /// default options, recover every job and start transferring the queued ones.
    pub fn open(state_dir: Option<&Path>) -> Result<CopyManager> {
        Self::open_with(state_dir, ManagerOptions::default())
    }

    /// [`CopyManager::open`] with options.
    pub fn open_with(state_dir: Option<&Path>, opts: ManagerOptions) -> Result<CopyManager> {
        let dir = match state_dir {
            Some(d) => {
                crate::job::check_text("state_dir", &d.to_string_lossy())?;
                if !d.is_absolute() {
                    return Err(Error::invalid_arg(format!(
                        "the state directory {} is not an absolute path",
                        d.display()
                    )));
                }
                d.to_path_buf()
            }
            None => default_state_dir()?,
        };
        opts.validate()?;
        crate::sys::secure_state_dir(&dir)?;
        let dir = dir
            .canonicalize()
            .map_err(|e| Error::from_io(&format!("open {}", dir.display()), &e))?;
        let lock = DirLock::acquire(&dir)?;
        let mut store = Store::open(&dir.join("bgcopy.db"))?;
        let agent = transfer::make_agent(&opts)?;
        let mut loaded = store.load()?;
        let next_seq = loaded
            .iter()
            .map(|j| j.seq.saturating_add(1))
            .max()
            .unwrap_or(1)
            .max(1);
        crate::recovery::recover(&mut loaded, &mut store)?;
        let jobs: HashMap<Uuid, JobRec> = loaded.into_iter().map(|j| (j.id, j)).collect();
        let limiter = opts
            .background_bandwidth_limit
            .map(transfer::RateLimiter::new);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                store,
                jobs,
                closed: false,
                next_seq,
                next_generation: 1,
                next_stamp: 1,
            }),
            changed: Condvar::new(),
            opts,
            sched_wake: tokio::sync::Notify::new(),
            notify_wake: tokio::sync::Notify::new(),
            shutdown: AtomicBool::new(false),
            agent,
            limiter,
            state_dir: dir,
            dir_lock: Mutex::new(Some(Arc::new(lock))),
            checkpoints: Default::default(),
        });
        let ck = shared.clone();
        let checkpointer = std::thread::Builder::new()
            .name("bgcopy-checkpoint".into())
            .spawn(move || crate::durable::Checkpointer::run(ck))
            .map_err(|e| Error::new(codes::E_UNEXPECTED, format!("start checkpointer: {e}")))?;
        let threads = vec![
            spawn_loop("bgcopy-scheduler", shared.clone(), scheduler_pass, |s| {
                &s.sched_wake
            })?,
            spawn_loop(
                "bgcopy-notify",
                shared.clone(),
                crate::delivery::delivery_pass,
                |s| &s.notify_wake,
            )?,
        ];
        Ok(CopyManager {
            shared,
            threads: Mutex::new(threads),
            checkpointer: Mutex::new(Some(checkpointer)),
            pid: std::process::id(),
        })
    }

    /// The state directory this manager owns.
    pub fn state_dir(&self) -> &Path {
        &self.shared.state_dir
    }

    /// Create a job (state SUSPENDED) with a fresh UUID.
    pub fn create_job(&self, display_name: &str, job_type: JobType) -> Result<CopyJob> {
        crate::job::check_len("display_name", display_name, 256)?;
        if job_type != JobType::Download {
            return Err(Error::new(
                codes::E_NOTIMPL,
                format!("{job_type} jobs are not built yet; only DOWNLOAD"),
            ));
        }
        let now = now_ms();
        let id = Uuid::new_v4();
        let mut g = self.shared.lock();
        if g.closed {
            return Err(closed_error());
        }
        let seq = g.next_seq;
        let job = JobRec::new(id, seq, job_type, display_name.to_string(), now);
        g.store.save_job(&job)?;
        g.next_seq += 1;
        g.jobs.insert(id, job);
        drop(g);
        Ok(CopyJob::new(self.shared.clone(), id))
    }

    /// The job with this id (canonical UUID text), or NOT_FOUND (also for final jobs).
    pub fn get_job(&self, id: &str) -> Result<CopyJob> {
        crate::job::check_text("job id", id)?;
        let bare = id
            .strip_prefix('{')
            .and_then(|x| x.strip_suffix('}'))
            .unwrap_or(id);
        let uuid = Uuid::try_parse(bare)
            .ok()
            .filter(|_| bare.len() == 36 || bare.len() == 32)
            .ok_or_else(|| Error::invalid_arg(format!("{id:?} is not a job id (a UUID)")))?;
        let g = self.shared.lock();
        if g.closed {
            return Err(closed_error());
        }
        match g.jobs.get(&uuid) {
            Some(j) if !j.state.is_final() => Ok(CopyJob::new(self.shared.clone(), uuid)),
            _ => Err(Error::new(
                codes::NOT_FOUND,
                format!("job {uuid} not found"),
            )),
        }
    }

    /// Every job not ACKNOWLEDGED or CANCELLED, in creation order.
    pub fn enum_jobs(&self) -> Result<Vec<CopyJob>> {
        let g = self.shared.lock();
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
        Ok(live
            .into_iter()
            .map(|(_, id)| CopyJob::new(self.shared.clone(), id))
            .collect())
    }

    /// Stop every transfer (each checkpoints where it is), flush the store and release
    /// the state directory. Jobs continue on the next `open`. Idempotent.
    pub fn close(&self) -> Result<()> {
        if self.pid != std::process::id() {
            return Err(Error::invalid_state(
                "this manager was opened by the parent process before fork(); open a new one",
            ));
        }
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        if threads.is_empty() {
            return Ok(());
        }
        let callbacks: Vec<_> = {
            let mut g = self.shared.lock();
            g.closed = true;
            g.jobs
                .values_mut()
                .filter_map(|job| {
                    if let Some(run) = &job.run {
                        run.stop.store(true, Ordering::SeqCst);
                    }
                    job.callback.take()
                })
                .collect()
        };
        // Released outside the lock: a callback's destructor may call the library.
        drop(callbacks);
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.kick();
        let me = std::thread::current().id();
        for t in threads.drain(..) {
            // close() may run on the notification thread (from a callback, or when a
            // callback held the last reference): that thread ends by itself.
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        // Wait (briefly) for the workers: each checkpoints and exits at its next read.
        // One blocked in a stalled read exits at the read timeout and keeps the
        // directory locked until then.
        let deadline = std::time::Instant::now() + CLOSE_WAIT;
        let lock = self
            .shared
            .dir_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(lock) = lock {
            // Every worker holds a clone until its thread ends.
            while Arc::strong_count(&lock) > 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        // Record what the stopped transfers checkpointed, then stop the checkpointer.
        self.shared.checkpoints.flush();
        self.shared.checkpoints.shutdown();
        if let Some(t) = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = t.join();
        }
        Ok(())
    }
}

impl Drop for CopyManager {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            // A copy inherited through fork(): its threads exist only in the parent and
            // its locks may be held forever. Leave everything untouched; the child
            // opens managers of its own.
            let threads = std::mem::take(self.threads.get_mut().unwrap_or_else(|p| p.into_inner()));
            std::mem::forget(threads);
            std::mem::forget(
                self.checkpointer
                    .get_mut()
                    .unwrap_or_else(|p| p.into_inner())
                    .take(),
            );
            if let Ok(mut slot) = self.shared.dir_lock.try_lock()
                && let Some(lock) = slot.take()
            {
                lock.close_inherited();
                std::mem::forget(lock);
            }
            std::mem::forget(self.shared.clone());
            return;
        }
        let _ = self.close();
    }
}

type Pass = fn(&Arc<Shared>) -> Option<i64>;

/// A dedicated thread running a current-thread tokio runtime: call `pass`, then sleep
/// until woken or until the deadline it returned.
fn spawn_loop(
    name: &str,
    shared: Arc<Shared>,
    pass: Pass,
    wake: fn(&Shared) -> &tokio::sync::Notify,
) -> Result<JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| Error::new(codes::E_UNEXPECTED, format!("start {name}: {e}")))?;
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            rt.block_on(async move {
                while !shared.shutdown.load(Ordering::SeqCst) {
                    let deadline = pass(&shared);
                    let sleep = match deadline {
                        Some(at) => Duration::from_millis(
                            at.saturating_sub(now_ms()).clamp(0, 3_600_000) as u64,
                        ),
                        None => Duration::from_secs(3600),
                    };
                    tokio::select! {
                        _ = wake(&shared).notified() => {}
                        _ = tokio::time::sleep(sleep) => {}
                    }
                }
            });
        })
        .map_err(|e| Error::new(codes::E_UNEXPECTED, format!("start {name}: {e}")))
}

/// One scheduling pass: queue due retries, give slots by priority, pre-empt, start
/// workers. Returns when it wants to run again.
fn scheduler_pass(shared: &Arc<Shared>) -> Option<i64> {
    let mut g = shared.lock();
    if g.closed || !shared.opts.start_transfers {
        return None;
    }
    let now = now_ms();
    let mut next: Option<i64> = None;
    let mut soonest = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
    let mut changed = false;
    let Inner {
        store,
        jobs,
        next_generation,
        next_stamp,
        ..
    } = &mut *g;

    for job in jobs.values_mut() {
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
                    fail_no_progress(job, last, now);
                } else {
                    set_state(job, JobState::Queued, now);
                }
                let _ = store.save_job(job);
                changed = true;
            }
        }
    }

    let slice = shared.opts.time_slice.as_millis() as i64;
    let mut background: Vec<(Priority, bool, u64, i64, Uuid)> = jobs
        .values()
        .filter(|j| j.state.is_active() && j.priority != Priority::Foreground)
        .map(|j| {
            let protected = j.run.is_some() && now < j.slot_since_ms.saturating_add(slice);
            (j.priority, !protected, j.slot_stamp, j.seq, j.id)
        })
        .collect();
    background.sort();
    let slots = shared.opts.background_slots;
    let mut wanted: Vec<Uuid> = jobs
        .values()
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

    for job in jobs.values_mut() {
        if !job.state.is_active() {
            continue;
        }
        let want = wanted.contains(&job.id);
        if want && job.run.is_none() && !job.worker_alive {
            let generation = *next_generation;
            *next_generation += 1;
            *next_stamp += 1;
            let stop = Arc::new(AtomicBool::new(false));
            job.run = Some(RunCtl {
                generation,
                stop: stop.clone(),
            });
            job.worker_alive = true;
            job.slot_stamp = *next_stamp;
            job.slot_since_ms = now;
            set_state(job, JobState::Connecting, now);
            changed = true;
            let sh = shared.clone();
            let id = job.id;
            let dir_lock = shared
                .dir_lock
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let spawned = std::thread::Builder::new()
                .name("bgcopy-job".into())
                .spawn(move || {
                    transfer::run_job(sh, id, generation, stop);
                    drop(dir_lock);
                });
            if let Err(e) = spawned {
                job.run = None;
                job.worker_alive = false;
                job.error = Some(ErrorRec::general(
                    ErrorContext::GeneralQueueManager,
                    codes::E_UNEXPECTED,
                    format!("cannot start a transfer thread: {e}"),
                ));
                job.retry_at_ms = Some(now.saturating_add(1000));
                set_state(job, JobState::TransientError, now);
                soonest(now.saturating_add(1000));
            }
        } else if !want && job.run.is_some() {
            stop_run(job);
            set_state(job, JobState::Queued, now);
            changed = true;
        }
    }
    drop(g);
    if changed {
        shared.changed.notify_all();
        shared.notify_wake.notify_one();
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::{Failure, Outcome};

    fn job(min_retry_delay: u32, no_progress_timeout: u32) -> JobRec {
        let mut j = JobRec::new(Uuid::new_v4(), 1, JobType::Download, String::new(), 0);
        j.min_retry_delay = min_retry_delay;
        j.no_progress_timeout = no_progress_timeout;
        j.state = JobState::Transferring;
        j
    }

    fn transient(code: u32, retry_after: Option<u64>) -> Outcome {
        Outcome::Failed(Failure {
            error: ErrorRec {
                context: ErrorContext::RemoteFile,
                code,
                description: codes::symbol(code),
                file: Some(0),
                protocol: Some("http".into()),
            },
            transient: true,
            retry_after,
        })
    }

    /// The delay of the retry scheduled by a transient error at `now`.
    fn fail_at(j: &mut JobRec, now: i64, retry_after: Option<u64>) -> i64 {
        j.state = JobState::Transferring;
        apply_outcome(j, transient(codes::http(503), retry_after), now);
        assert_eq!(j.state, JobState::TransientError);
        j.retry_at_ms.unwrap() - now
    }

    #[test]
    fn backoff_starts_at_one_second_doubles_and_caps_at_the_retry_delay() {
        let mut j = job(10, 1_000_000);
        let delays: Vec<i64> = (0..6).map(|i| fail_at(&mut j, i * 100_000, None)).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(j.error_count, 6);
        // Progress resets the backoff (the engine clears it when bytes move).
        j.made_progress();
        assert_eq!(fail_at(&mut j, 700_000, None), 1000);
    }

    #[test]
    fn retry_after_lengthens_the_delay() {
        let mut j = job(600, 1_000_000);
        assert_eq!(fail_at(&mut j, 0, Some(30)), 30_000);
        assert_eq!(fail_at(&mut j, 100_000, Some(0)), 2000);
    }

    #[test]
    fn a_zero_retry_delay_still_waits_a_second() {
        let mut j = job(0, 1_000_000);
        assert_eq!(fail_at(&mut j, 0, None), 1000);
        assert_eq!(fail_at(&mut j, 10_000, None), 1000);
    }

    #[test]
    fn no_progress_timeout_ends_in_error() {
        let mut j = job(600, 5);
        // The retry is never scheduled past the no-progress deadline.
        assert_eq!(fail_at(&mut j, 0, Some(60)), 5000);
        j.state = JobState::Transferring;
        apply_outcome(&mut j, transient(codes::http(503), None), 5000);
        assert_eq!(j.state, JobState::Error);
        let e = j.error.as_ref().unwrap();
        assert_eq!(e.code, codes::NO_PROGRESS);
        assert!(e.description.contains("HTTP_503"), "{}", e.description);
    }

    #[test]
    fn zero_no_progress_timeout_makes_the_first_error_fatal_with_its_code() {
        let mut j = job(600, 0);
        apply_outcome(&mut j, transient(codes::TIMEOUT, None), 0);
        assert_eq!(j.state, JobState::Error);
        assert_eq!(j.error.as_ref().unwrap().code, codes::TIMEOUT);
        assert_eq!(j.error_count, 1);
    }
}
