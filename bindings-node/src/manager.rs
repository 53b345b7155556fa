//! `CopyManager` (IBackgroundCopyManager).

use crate::args;
use crate::error::OrThrow;
use crate::job::CopyJob;
use crate::types::{Event, manager_options};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What every JS handle of one manager shares. The core manager closes when the last
/// holder lets go: the JS `CopyManager` and every JS `CopyJob` hold it, so a job
/// keeps transferring while the script still holds the job, even if it dropped the
/// manager.
pub(crate) struct Mgr {
    pub core: bgcopy::CopyManager,
    /// Set before the core closes: a notification waiting for the JS thread gives up
    /// (the JS thread may be the one closing, waiting for the notification thread).
    pub closing: Arc<AtomicBool>,
}

impl Drop for Mgr {
    fn drop(&mut self) {
        // The core's own Drop (next) closes it.
        self.closing.store(true, Ordering::SeqCst);
    }
}

/// The durable job manager (IBackgroundCopyManager): open it on a state directory,
/// create jobs, find them again after a restart.
#[napi]
pub struct CopyManager {
    mgr: Arc<Mgr>,
}

#[napi]
impl CopyManager {
    /// Open (or create) the durable job store in `stateDir` and recover every job in
    /// it; queued jobs start transferring. `stateDir` must be absolute; omitted or
    /// `null`: the platform default (`$BGCOPY_STATE_DIR`, else
    /// `$XDG_DATA_HOME/bgcopy`, else `~/.local/share/bgcopy`; macOS
    /// `~/Library/Application Support/bgcopy`). Any number of managers, in any
    /// processes, share one directory and see one queue; one of them at a time runs the
    /// transfers.
    #[napi]
    pub fn open(
        env: &Env,
        #[napi(ts_arg_type = "string | null")] state_dir: Option<Unknown>,
        #[napi(ts_arg_type = "ManagerOptions | null")] options: Option<Unknown>,
    ) -> Result<CopyManager> {
        crate::debug_log_from_env();
        let dir = args::opt_string(env, state_dir, "stateDir")?;
        let opts = manager_options(env, options)?;
        let core = bgcopy::CopyManager::open_with(dir.as_deref().map(std::path::Path::new), opts)
            .or_throw(env)?;
        Ok(CopyManager {
            mgr: Arc::new(Mgr {
                core,
                closing: Arc::new(AtomicBool::new(false)),
            }),
        })
    }

    /// The state directory this manager owns (absolute, symlinks resolved).
    #[napi(getter)]
    pub fn state_dir(&self) -> String {
        self.mgr.core.state_dir().to_string_lossy().into_owned()
    }

    /// Create a job (state `Suspended`) with a fresh UUID. `displayName` ≤ 256
    /// characters (else `STRING_TOO_LONG`); `jobType` defaults to `JobType.Download`
    /// (the only type built: others throw `NOT_IMPLEMENTED`).
    ///
    /// Instead of the type, an options object sets the job up in the same call:
    /// `createJob('nightly', { files: [[url, path]], priority: Priority.Low,
    /// description: '…', type: JobType.Download })`. All or nothing: when one is refused
    /// the new job is cancelled and the error thrown.
    #[napi]
    pub fn create_job(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] display_name: Unknown,
        #[napi(ts_arg_type = "JobType | CreateJobOptions | null")] job_type: Option<Unknown>,
    ) -> Result<CopyJob> {
        let name = args::string(env, display_name, "displayName")?;
        let job_type_of = |v: Unknown, what: &str| {
            args::enum_value(env, v, what, bgcopy::JobType::try_from_number)
        };
        let mut setup = bgcopy::JobSetup::default();
        match job_type.filter(|v| !args::is_nullish(v)) {
            Some(v) if v.get_type()? == ValueType::Object => {
                let obj = args::object(env, v, "options")?;
                for key in Object::keys(&obj)? {
                    let val: Unknown = obj.get_named_property(&key)?;
                    let given = !args::is_nullish(&val);
                    let what = format!("options.{key}");
                    match key.as_str() {
                        "type" if given => setup.job_type = Some(job_type_of(val, &what)?),
                        "files" if given => setup.files = args::file_pairs(env, val, &what)?,
                        "priority" if given => {
                            setup.priority = Some(args::enum_value(env, val, &what, |w, n| {
                                bgcopy::Priority::try_from_number(w, n)
                            })?)
                        }
                        "description" if given => {
                            setup.description = Some(args::string(env, val, &what)?)
                        }
                        // `null` / `undefined`: the default.
                        "type" | "files" | "priority" | "description" => {}
                        _ => {
                            return Err(crate::error::invalid_arg(
                                env,
                                format!("unknown createJob option {key:?}"),
                            ));
                        }
                    }
                }
            }
            Some(v) => setup.job_type = Some(job_type_of(v, "jobType")?),
            None => {}
        }
        let job = self.mgr.core.create_job_with(&name, setup).or_throw(env)?;
        Ok(CopyJob::new(job, self.mgr.clone()))
    }

    /// The job with this id (canonical UUID text; `{…}` braces and the 32-digit form
    /// are accepted). `NOT_FOUND` if there is none or it is final (acknowledged or
    /// cancelled); `INVALID_ARG` if `id` is not a UUID.
    #[napi]
    pub fn get_job(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] id: Unknown,
    ) -> Result<CopyJob> {
        let id = args::string(env, id, "id")?;
        let job = self.mgr.core.get_job(&id).or_throw(env)?;
        Ok(CopyJob::new(job, self.mgr.clone()))
    }

    /// Change the bandwidth limit shared by every HIGH, NORMAL and LOW transfer of the
    /// queue (bytes per second; 0: none) while they run: it applies within a second,
    /// whichever process runs the transfers, and stays with the state directory.
    /// FOREGROUND jobs are never limited by it.
    #[napi]
    pub fn set_background_bandwidth_limit(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "number")] bytes_per_second: Unknown,
    ) -> Result<()> {
        const SAFE: f64 = 9_007_199_254_740_991.0; // Number.MAX_SAFE_INTEGER
        let n = args::integer(env, &bytes_per_second, "bytesPerSecond", 0.0, SAFE)? as u64;
        self.mgr
            .core
            .set_background_bandwidth_limit(n)
            .or_throw(env)
    }

    /// The background bandwidth limit in bytes per second (0: none): the one stored
    /// for the state directory, else the `backgroundBandwidthLimit` option.
    #[napi]
    pub fn get_background_bandwidth_limit(&self, env: &Env) -> Result<f64> {
        self.mgr
            .core
            .get_background_bandwidth_limit()
            .map(|n| n as f64)
            .or_throw(env)
    }

    /// The durable event journal: up to `limit` (1..=10000) entries numbered above
    /// `cursor`, oldest first (start with 0, then pass the last entry's `seq`). Every
    /// process sees the same numbers; a job's entries are kept while it is live and
    /// for 7 days after it became final.
    #[napi]
    pub fn events_since(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "number")] cursor: Unknown,
        #[napi(ts_arg_type = "number")] limit: Unknown,
    ) -> Result<Vec<Event>> {
        const SAFE: f64 = 9_007_199_254_740_991.0; // Number.MAX_SAFE_INTEGER
        let cursor = args::integer(env, &cursor, "cursor", 0.0, SAFE)? as u64;
        let limit = args::uint32(env, limit, "limit")?;
        let events = self.mgr.core.events_since(cursor, limit).or_throw(env)?;
        Ok(events.into_iter().map(Event::from).collect())
    }

    /// Serve the queue like `bgcopy run` (`npx bgcopy run`), on a thread of its own:
    /// transfers run in this process while it holds the engine, and each state change
    /// and error of any job, from any process, is logged on stderr (unless `quiet`).
    /// Resolves `'idle'` (with `untilIdle`, once no job is queued, running or waiting
    /// for a retry) or `'stopped'` (after `close()`).
    #[napi(ts_return_type = "Promise<'idle' | 'stopped'>")]
    pub fn serve<'e>(
        &self,
        env: &'e Env,
        #[napi(ts_arg_type = "{ untilIdle?: boolean, quiet?: boolean } | null")] options: Option<
            Unknown,
        >,
    ) -> Result<Object<'e>> {
        let (mut until_idle, mut quiet) = (false, false);
        if let Some(v) = options.filter(|v| !args::is_nullish(v)) {
            let obj = args::object(env, v, "options")?;
            for key in Object::keys(&obj)? {
                let val: Unknown = obj.get_named_property(&key)?;
                if args::is_nullish(&val) {
                    continue;
                }
                let what = format!("options.{key}");
                match key.as_str() {
                    "untilIdle" => until_idle = args::boolean(env, &val, &what)?,
                    "quiet" => quiet = args::boolean(env, &val, &what)?,
                    _ => {
                        return Err(crate::error::invalid_arg(
                            env,
                            format!("unknown serve option {key:?}"),
                        ));
                    }
                }
            }
        }
        let (deferred, promise) = env.create_deferred()?;
        let mgr = self.mgr.clone();
        std::thread::Builder::new()
            .name("bgcopy-serve".into())
            .spawn(move || {
                let mut log = |line: &str| {
                    if !quiet {
                        eprintln!("{} {line}", bgcopy::rfc3339(std::time::SystemTime::now()));
                    }
                };
                let r = mgr.core.serve(until_idle, &|| false, &mut log);
                drop(mgr);
                deferred.resolve(move |env| match r {
                    Ok(bgcopy::ServeEnd::Idle { .. }) => Ok("idle"),
                    Ok(bgcopy::ServeEnd::Stopped) => Ok("stopped"),
                    Err(e) => Err(crate::error::to_js(&env, &e)),
                });
            })
            .map_err(|e| Error::from_reason(format!("start the serving thread: {e}")))?;
        Ok(promise)
    }

    /// Every job that is not acknowledged or cancelled, in creation order.
    #[napi]
    pub fn enum_jobs(&self, env: &Env) -> Result<Vec<CopyJob>> {
        let jobs = self.mgr.core.enum_jobs().or_throw(env)?;
        Ok(jobs
            .into_iter()
            .map(|j| CopyJob::new(j, self.mgr.clone()))
            .collect())
    }

    /// Stop every transfer (each checkpoints where it is), flush the store, release
    /// every notification handler and the state directory. Jobs continue on the next
    /// `open`. Idempotent; afterwards every method of the manager and its jobs throws
    /// `INVALID_STATE`, except the getters of `CopyJob`. Takes at most about 2 s (a
    /// transfer blocked in a read is left to exit by itself).
    #[napi]
    pub fn close(&self, env: &Env) -> Result<()> {
        self.mgr.closing.store(true, Ordering::SeqCst);
        self.mgr.core.close().or_throw(env)
    }
}
