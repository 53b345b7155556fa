//! `CopyManager` (IBackgroundCopyManager): open and close orchestration. Opening makes
//! the state directory private, takes its lock, opens the store, recovers every job
//! and starts the notifier and (with `start_transfers`) the engine; closing stops them
//! in the reverse order.

use super::job::CopyJob;
use crate::args::{check_len, check_text};
use crate::engine::Engine;
use crate::error::{Error, Result, codes};
use crate::notifier::Notifier;
use crate::options::ManagerOptions;
use crate::record::JobRec;
use crate::store::Store;
use crate::sys::DirLock;
use crate::table::JobTable;
use crate::types::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The durable job manager (IBackgroundCopyManager). Dropping it closes it.
pub struct CopyManager {
    table: Arc<JobTable>,
    engine: Mutex<Option<Engine>>,
    notifier: Mutex<Option<Notifier>>,
    lock: Mutex<Option<Arc<DirLock>>>,
}

impl std::fmt::Debug for CopyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyManager")
            .field("state_dir", &self.table.state_dir)
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
        let lock = Arc::new(DirLock::acquire(&dir)?);
        let mut store = Store::open(&dir.join("bgcopy.db"))?;
        let mut jobs = store.load()?;
        crate::engine::recovery::recover(&mut jobs, &mut store)?;
        let table = Arc::new(JobTable::new(store, jobs, dir));
        let notifier = Notifier::start(table.clone(), opts.notify_interval)?;
        let engine = if opts.start_transfers {
            Some(Engine::start(table.clone(), opts, lock.clone())?)
        } else {
            None
        };
        Ok(CopyManager {
            table,
            engine: Mutex::new(engine),
            notifier: Mutex::new(Some(notifier)),
            lock: Mutex::new(Some(lock)),
        })
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
        let notifier = self.notifier.lock().unwrap_or_else(poisoned).take();
        if let Some(mut n) = notifier {
            n.stop();
        }
        let engine = self.engine.lock().unwrap_or_else(poisoned).take();
        if let Some(mut e) = engine {
            e.stop();
        }
        let lock = self.lock.lock().unwrap_or_else(poisoned).take();
        drop(lock);
        Ok(())
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
            if let Some(e) = take(&mut self.engine) {
                Engine::abandon(e);
            }
            if let Some(n) = take(&mut self.notifier) {
                Notifier::abandon(n);
            }
            if let Some(lock) = take(&mut self.lock) {
                lock.close_inherited();
                std::mem::forget(lock);
            }
            std::mem::forget(self.table.clone());
            return;
        }
        let _ = self.close();
    }
}
