//! `CopyManager` (IBackgroundCopyManager): open and close orchestration. Any number of
//! managers, in any processes, open one state directory and share its store. Opening
//! makes the directory private, opens the store and starts the notifier; a manager
//! with `start_transfers` stands for election: whoever holds the engine lock
//! (`sys::EngineLock`) recovers the jobs and runs the engine, and the others wait for
//! it to go (`sys::Candidate`) so that one takes over when the engine's process exits,
//! dies or closes its manager. Closing stops them in the reverse order.

mod serve;

pub use serve::ServeEnd;

use super::job::CopyJob;
use crate::args::{check_len, check_text};
use crate::engine::Engine;
use crate::error::{Error, Result, codes};
use crate::notifier::Notifier;
use crate::options::ManagerOptions;
use crate::record::JobRec;
use crate::store::Store;
use crate::sys::{Candidate, EngineLock, StopSignal};
use crate::table::JobTable;
use crate::types::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use uuid::Uuid;

/// What [`CopyManager::create_job_with`] sets on a new job; every field is optional
/// (`JobSetup::default()` is `create_job(name, DOWNLOAD)`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobSetup {
    /// The job type (default DOWNLOAD).
    pub job_type: Option<JobType>,
    /// Files as (remote URL, local path), added in one `add_file_set`.
    pub files: Vec<(String, String)>,
    /// The priority (default NORMAL).
    pub priority: Option<Priority>,
    /// The description (default empty).
    pub description: Option<String>,
}

/// The most entries one `events_since` call returns.
pub const MAX_EVENTS: u32 = 10_000;

/// The engine, once this process runs it (set by open or by the election thread).
type EngineSlot = Arc<Mutex<Option<Engine>>>;

/// A manager's candidacy: the thread that takes over when the engine goes away.
struct Election {
    stop: Arc<(AtomicBool, StopSignal)>,
    thread: Option<JoinHandle<()>>,
}

/// The durable job manager (IBackgroundCopyManager). Dropping it closes it.
pub struct CopyManager {
    table: Arc<JobTable>,
    engine: EngineSlot,
    election: Mutex<Option<Election>>,
    notifier: Mutex<Option<Notifier>>,
    /// `background_bandwidth_limit` of the options it was opened with (0: none).
    bandwidth_option: u64,
}

impl std::fmt::Debug for CopyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyManager")
            .field("state_dir", &self.table.state_dir)
            .finish()
    }
}

/// The process that runs the transfers of `state_dir` now (holds its engine lock), if
/// any: for status displays (`bgcopy service status`). Opens nothing else.
pub fn engine_pid(state_dir: &Path) -> Option<u32> {
    crate::sys::engine_pid(state_dir)
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

fn poisoned<T>(p: std::sync::PoisonError<T>) -> T {
    p.into_inner()
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
                check_text("state_dir", &d.to_string_lossy())?;
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
        let table = {
            let _fork = crate::sys::StoreGuard::enter();
            let store = Store::open(&dir.join("bgcopy.db"))?;
            Arc::new(JobTable::new(store, dir)?)
        };
        let _ = table
            .file_connections
            .set(opts.max_connections_per_file.min(u32::MAX as usize) as u32);
        let engine: EngineSlot = Arc::new(Mutex::new(None));
        // The engine lock, if no other process holds it: recover, then run the engine
        // (or, without start_transfers, let go again for a manager that transfers).
        if let Some(lock) = EngineLock::try_acquire(&table.state_dir)? {
            crate::engine::recovery::recover(&table)?;
            if opts.start_transfers {
                let e = Engine::start(table.clone(), opts.clone(), Arc::new(lock))?;
                *engine.lock().unwrap_or_else(poisoned) = Some(e);
            }
        }
        let election = if opts.start_transfers && engine.lock().unwrap_or_else(poisoned).is_none() {
            Some(Election::start(
                table.clone(),
                opts.clone(),
                engine.clone(),
            )?)
        } else {
            None
        };
        let notifier = match Notifier::start(table.clone(), opts.notify_interval) {
            Ok(n) => n,
            Err(e) => {
                // A manager that failed to open leaves nothing running.
                drop(table.close());
                if let Some(el) = election {
                    el.stop();
                }
                if let Some(mut en) = engine.lock().unwrap_or_else(poisoned).take() {
                    en.stop();
                }
                return Err(e);
            }
        };
        Ok(CopyManager {
            table,
            engine,
            election: Mutex::new(election),
            notifier: Mutex::new(Some(notifier)),
            bandwidth_option: opts.background_bandwidth_limit.unwrap_or(0),
        })
    }

    /// Whether this manager's process runs the directory's transfers now.
    pub fn is_engine(&self) -> bool {
        self.engine.lock().unwrap_or_else(poisoned).is_some()
    }

    /// The state directory this manager owns.
    pub fn state_dir(&self) -> &Path {
        &self.table.state_dir
    }

    /// Whether `close()` ran (or the manager was inherited through `fork()`).
    pub fn is_closed(&self) -> bool {
        !self.table.owned_here() || self.table.is_closed()
    }

    /// Whether this process opened the manager: `false` for a copy inherited through
    /// `fork()`, whose every call fails with INVALID_STATE and whose drop leaves the
    /// parent's threads and state alone.
    pub fn opened_here(&self) -> bool {
        self.table.owned_here()
    }

    /// Create a job (state SUSPENDED) with a fresh UUID.
    pub fn create_job(&self, display_name: &str, job_type: JobType) -> Result<CopyJob> {
        self.table.check_fork()?;
        check_len("display_name", display_name, 256)?;
        if job_type != JobType::Download {
            return Err(Error::new(
                codes::E_NOTIMPL,
                format!("{job_type} jobs are not built yet; only DOWNLOAD"),
            ));
        }
        let now = now_ms();
        let id = self
            .table
            .create(|id, seq| JobRec::new(id, seq, job_type, display_name.to_string(), now))?;
        Ok(CopyJob::new(self.table.clone(), id))
    }

    /// Create a job and set it up in one call (the idiomatic `create_job(name, files=…,
    /// priority=…, description=…)` of the bindings): `create_job`, then `add_file_set`,
    /// `set_priority` and `set_description` for what `setup` gives. All or nothing: when
    /// a step fails the new job is cancelled and the step's error returned. The job is
    /// SUSPENDED, like `create_job`'s; `resume()` starts it.
    pub fn create_job_with(&self, display_name: &str, setup: JobSetup) -> Result<CopyJob> {
        if let Some(text) = &setup.description {
            check_len("description", text, 1024)?;
        }
        let job = self.create_job(display_name, setup.job_type.unwrap_or(JobType::Download))?;
        let applied = (|| {
            if !setup.files.is_empty() {
                job.add_file_set(&setup.files)?;
            }
            if let Some(p) = setup.priority {
                job.set_priority(p)?;
            }
            if let Some(text) = &setup.description {
                job.set_description(text)?;
            }
            Ok(())
        })();
        match applied {
            Ok(()) => Ok(job),
            Err(e) => {
                // The step's error is what the caller needs; a cancel that fails too
                // (the manager closing meanwhile) leaves a SUSPENDED job, said here.
                if let Err(c) = job.cancel() {
                    log::warn!(
                        target: "bgcopy::job",
                        "job {} was set up only in part ({e}) and could not be cancelled: {c}",
                        job.get_id()
                    );
                }
                Err(e)
            }
        }
    }

    /// The job with this id (canonical UUID text), or NOT_FOUND (also for final jobs).
    pub fn get_job(&self, id: &str) -> Result<CopyJob> {
        self.table.check_fork()?;
        check_text("job id", id)?;
        let bare = id
            .strip_prefix('{')
            .and_then(|x| x.strip_suffix('}'))
            .unwrap_or(id);
        let uuid = Uuid::try_parse(bare)
            .ok()
            .filter(|_| bare.len() == 36 || bare.len() == 32)
            .ok_or_else(|| Error::invalid_arg(format!("{id:?} is not a job id (a UUID)")))?;
        self.table.find_live(uuid)?;
        Ok(CopyJob::new(self.table.clone(), uuid))
    }

    /// The live jobs (not ACKNOWLEDGED or CANCELLED) with a file whose local path is
    /// `local`, in creation order: how a tool finds the job an earlier, interrupted
    /// run left (`bgcopy get` continues it, like `curl -C -`).
    pub fn jobs_with_local_file(&self, local: &str) -> Result<Vec<CopyJob>> {
        Ok(self
            .table
            .jobs_with_local(local)?
            .into_iter()
            .map(|id| CopyJob::new(self.table.clone(), id))
            .collect())
    }

    /// The number of the newest entry of the event journal (0 when empty): where a
    /// reader that wants only what happens from now on starts.
    pub fn journal_end(&self) -> Result<u64> {
        self.table.check_fork()?;
        self.table.last_event()
    }

    /// The durable event journal: up to `limit` (1..=10000) entries numbered above
    /// `cursor`, oldest first. Start with 0; pass the last entry's `seq` to go on.
    /// Every process sees the same numbers. A job's entries are kept while it is live
    /// and for 7 days after it became final. `limit` 0 or above 10000 is E_INVALIDARG.
    pub fn events_since(&self, cursor: u64, limit: u32) -> Result<Vec<Event>> {
        if !(1..=MAX_EVENTS).contains(&limit) {
            return Err(Error::invalid_arg(format!(
                "limit must be 1..={MAX_EVENTS}, not {limit}"
            )));
        }
        self.table.events_since(cursor, limit)
    }

    /// Change the bandwidth limit shared by every HIGH, NORMAL and LOW transfer of the
    /// queue (bytes per second; 0: none) while they run: it applies within a second,
    /// whichever process runs the transfers, and stays for this state directory (it
    /// replaces the `background_bandwidth_limit` option of every manager opened on it
    /// from now on). FOREGROUND jobs are never limited by it; a job's own limit is
    /// `set_bandwidth_limit`.
    pub fn set_background_bandwidth_limit(&self, bytes_per_second: u64) -> Result<()> {
        let v = i64::try_from(bytes_per_second).map_err(|_| {
            Error::invalid_arg(format!(
                "bytes_per_second {bytes_per_second} is too large (at most {})",
                i64::MAX
            ))
        })?;
        self.table.check_fork()?;
        self.table
            .try_with_all(|all| all.store.set_setting(crate::store::BACKGROUND_LIMIT, v))?;
        if let Some(e) = self.engine.lock().unwrap_or_else(poisoned).as_ref() {
            e.set_background_limit(bytes_per_second);
        }
        Ok(())
    }

    /// The bandwidth limit of background transfers (bytes per second; 0: none): the
    /// one `set_background_bandwidth_limit` stored for this state directory, else this
    /// manager's `background_bandwidth_limit` option.
    pub fn get_background_bandwidth_limit(&self) -> Result<u64> {
        Ok(match self.table.setting(crate::store::BACKGROUND_LIMIT)? {
            Some(v) => v.max(0) as u64,
            None => self.bandwidth_option,
        })
    }

    /// Every job not ACKNOWLEDGED or CANCELLED, in creation order.
    pub fn enum_jobs(&self) -> Result<Vec<CopyJob>> {
        Ok(self
            .table
            .live_ids()?
            .into_iter()
            .map(|id| CopyJob::new(self.table.clone(), id))
            .collect())
    }

    /// Stop every transfer (each checkpoints where it is), flush the store and release
    /// the state directory. Jobs continue on the next `open`. Idempotent; allowed from
    /// a callback and from a callback's destructor, even one that runs inside another
    /// `close()` (the notification thread is then not waited for; a nested call leaves
    /// what the outer call already took to the outer call).
    pub fn close(&self) -> Result<()> {
        self.table.check_fork()?;
        // Released outside the lock: a callback's destructor may call the library.
        drop(self.table.close());
        // Each part is taken out of its mutex first and stopped with no guard held:
        // stopping joins threads that may run a callback destructor calling close().
        let election = self.election.lock().unwrap_or_else(poisoned).take();
        if let Some(e) = election {
            e.stop();
        }
        let notifier = self.notifier.lock().unwrap_or_else(poisoned).take();
        if let Some(mut n) = notifier {
            n.stop();
        }
        let engine = self.engine.lock().unwrap_or_else(poisoned).take();
        if let Some(mut e) = engine {
            e.stop();
        }
        // The log lines of what just stopped reach stderr before a program exits.
        crate::logging::flush(std::time::Duration::from_millis(500));
        Ok(())
    }
}

impl Election {
    /// Stand for election: try the engine lock whenever the engine may have gone
    /// ([`Candidate::wait_turn`]); once taken,
    /// recover the jobs and start the engine in `slot`.
    fn start(table: Arc<JobTable>, opts: ManagerOptions, slot: EngineSlot) -> Result<Election> {
        let signal = StopSignal::new()
            .map_err(|e| Error::new(codes::E_UNEXPECTED, format!("start the election: {e}")))?;
        let stop = Arc::new((AtomicBool::new(false), signal));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bgcopy-elect".into())
            .spawn(move || {
                let mut candidate = Candidate::new(&table.state_dir);
                while !s.0.load(Ordering::SeqCst) {
                    if let Ok(Some(lock)) = candidate.try_take() {
                        let started = crate::engine::recovery::recover(&table).and_then(|()| {
                            Engine::start(table.clone(), opts.clone(), Arc::new(lock))
                        });
                        if let Ok(engine) = started {
                            let mut e = slot.lock().unwrap_or_else(poisoned);
                            if s.0.load(Ordering::SeqCst) {
                                drop(e);
                                let mut engine = engine;
                                engine.stop();
                            } else {
                                log::info!(
                                    target: "bgcopy::engine",
                                    "this process (pid {}) is now the engine of {}",
                                    std::process::id(),
                                    table.state_dir.display()
                                );
                                *e = Some(engine);
                                // The jobs the dead engine left: schedule them now.
                                table.scheduler.raise();
                            }
                            return;
                        }
                    }
                    candidate.wait_turn(&s.1);
                }
            })
            .map_err(|e| Error::new(codes::E_UNEXPECTED, format!("start the election: {e}")))?;
        Ok(Election {
            stop,
            thread: Some(thread),
        })
    }

    /// Withdraw: the thread ends (an engine it just started is stopped).
    fn stop(mut self) {
        self.stop.0.store(true, Ordering::SeqCst);
        self.stop.1.raise();
        if let Some(t) = self.thread.take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

impl Drop for CopyManager {
    fn drop(&mut self) {
        if !self.table.owned_here() {
            // A copy inherited through fork(): its threads exist only in the parent and
            // its locks may be held forever. Leave everything untouched; only the
            // child's copy of the directory lock's descriptor is closed (so the lock
            // ends with the parent's manager). The child opens managers of its own.
            fn take<T>(m: &mut Mutex<Option<T>>) -> Option<T> {
                m.get_mut().unwrap_or_else(poisoned).take()
            }
            if let Some(e) = self.engine.try_lock().ok().and_then(|mut e| e.take()) {
                Engine::abandon(e);
            }
            if let Some(e) = take(&mut self.election) {
                std::mem::forget(e);
            }
            if let Some(n) = take(&mut self.notifier) {
                Notifier::abandon(n);
            }
            std::mem::forget(self.table.clone());
            std::mem::forget(self.engine.clone());
            return;
        }
        let _ = self.close();
    }
}
