//! The transfer engine of the one process that runs a directory's transfers (it holds
//! the engine lock; see `handles/manager.rs` for the election): the wake thread hears
//! other processes' changes (`sys::WakeReceiver`, plus a periodic look), the
//! scheduler thread (`scheduler.rs`) gives jobs slots and starts one worker thread per
//! running job (`worker.rs`), which runs its files (`file.rs`) over one HTTP agent
//! (`http.rs`); errors are classified in `classify.rs`, bandwidth shared in
//! `ratelimit.rs`, transferred bytes made durable by the checkpointer thread
//! (`checkpoint.rs`). `recovery.rs` reconciles a store with its files at open;
//! `command.rs` runs the notify command lines.
//!
//! The engine reaches job state only through the `JobTable`.

mod checkpoint;
mod classify;
mod command;
pub(crate) mod crashlog;
mod direct;
mod fetch;
mod file;
mod hosts;
mod http;
mod pool;
mod ratelimit;
pub(crate) mod recovery;
mod scheduler;
mod segmented;
mod segments;
mod stream;
mod worker;

use crate::error::{Error, Result, codes};
use crate::options::ManagerOptions;
use crate::sys::{EngineLock, WakeReceiver};
use crate::table::JobTable;
use crate::wake::Wake;
use checkpoint::Checkpointer;
use ratelimit::RateLimiter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How long `stop()` waits for running transfers to checkpoint and exit.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// What the engine's threads share.
pub(crate) struct EngineCtx {
    table: Arc<JobTable>,
    opts: ManagerOptions,
    agent: ureq::Agent,
    /// The agents of jobs with a TLS client certificate, by the certificate's files
    /// and their modification times (a renewed certificate gets a new agent).
    cert_agents: Mutex<std::collections::HashMap<CertKey, ureq::Agent>>,
    /// The manager's bandwidth limit for background jobs (rate 0: none).
    limiter: RateLimiter,
    /// The per-host connection cap.
    hosts: hosts::HostSlots,
    checkpoints: Arc<Checkpointer>,
    shutdown: AtomicBool,
    /// Worker threads that have not exited yet.
    workers: AtomicUsize,
    /// The engine lock. Each worker holds a clone until its thread ends, so no other
    /// process becomes the engine while a worker (maybe blocked in a read until the
    /// read timeout) could still write.
    lock: Mutex<Option<Arc<EngineLock>>>,
    /// Other processes' wake-ups (`None`: the wake thread polls the store instead).
    wakeups: Option<WakeReceiver>,
    /// The notify command lines running now.
    commands: Arc<command::Running>,
}

/// A client certificate's files and when each was last modified.
type CertKey = (PathBuf, PathBuf, Option<SystemTime>, Option<SystemTime>);

impl EngineCtx {
    /// The agent for a job's requests: the shared one, or the one of its client
    /// certificate (files that can no longer be read: SECURE_FAILURE, fatal).
    fn agent_for(
        &self,
        cert: Option<&(PathBuf, PathBuf)>,
    ) -> std::result::Result<ureq::Agent, crate::Error> {
        let Some((c, k)) = cert else {
            return Ok(self.agent.clone());
        };
        let mtime = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let key = (c.clone(), k.clone(), mtime(c), mtime(k));
        let mut agents = self.cert_agents.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = agents.get(&key) {
            return Ok(a.clone());
        }
        let client = crate::request::load_client_cert(c, k)
            .map_err(|e| crate::Error::new(crate::codes::SECURE_FAILURE, e.message()))?;
        let agent = http::make_agent(&self.opts, Some(client))?;
        agents.retain(|(c2, k2, ..), _| (c2, k2) != (c, k));
        agents.insert(key, agent.clone());
        Ok(agent)
    }
}

/// How often the wake thread looks at the store when no wake-up came (with a
/// wake-up socket; without one it looks every `table::POLL`).
const LOOK: Duration = Duration::from_secs(1);

/// How often the engine publishes live progress while bytes move (the contract: at
/// least every 500 ms).
const PUBLISH: Duration = Duration::from_millis(400);

/// Descriptors the engine may hold at once, made room for when it starts: the
/// temporary files kept open for their connections (`pool::KEPT_MAX` over the
/// process) and as many again for the sockets, the store's and the crash records'
/// files.
const DESCRIPTORS: usize = 2 * pool::KEPT_MAX;

/// How often the engine prunes jobs final for longer than the journal's retention.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

impl EngineCtx {
    fn lock_clone(&self) -> Option<Arc<EngineLock>> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A running engine; [`Engine::stop`] ends it.
pub(crate) struct Engine {
    ctx: Arc<EngineCtx>,
    scheduler: Option<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
    waker: Option<JoinHandle<()>>,
}

fn thread_error(what: &str, e: std::io::Error) -> Error {
    Error::new(codes::E_UNEXPECTED, format!("start {what}: {e}"))
}

impl Engine {
    /// Start the checkpointer and the scheduler for `table`; installs the table's
    /// durability barrier (used by `complete()`).
    pub fn start(
        table: Arc<JobTable>,
        opts: ManagerOptions,
        lock: Arc<EngineLock>,
    ) -> Result<Engine> {
        // Before any thread of the engine runs (`sys/fdtable.rs`).
        crate::sys::reserve_descriptors(std::os::fd::AsFd::as_fd(&*lock), DESCRIPTORS);
        let agent = http::make_agent(&opts, None)?;
        let limiter = RateLimiter::new(opts.background_bandwidth_limit.unwrap_or(0));
        let hosts = hosts::HostSlots::new(opts.connections_per_host);
        let checkpoints = Arc::new(Checkpointer::new(opts.checkpoint_bytes));
        let ctx = Arc::new(EngineCtx {
            table: table.clone(),
            opts,
            agent,
            cert_agents: Mutex::default(),
            limiter,
            hosts,
            checkpoints: checkpoints.clone(),
            shutdown: AtomicBool::new(false),
            workers: AtomicUsize::new(0),
            wakeups: WakeReceiver::bind(&table.state_dir),
            commands: Arc::default(),
            lock: Mutex::new(Some(lock)),
        });
        let barrier = checkpoints.clone();
        table.set_barrier(Box::new(move || barrier.flush()));
        table.set_engine_here(true);
        read_settings(&ctx);
        let c = ctx.clone();
        let checkpointer = std::thread::Builder::new()
            .name("bgcopy-checkpoint".into())
            .spawn(move || c.checkpoints.run(&c.table, c.opts.checkpoint_interval))
            .map_err(|e| thread_error("the checkpointer", e))?;
        let c = ctx.clone();
        let scheduler = std::thread::Builder::new()
            .name("bgcopy-scheduler".into())
            .spawn(move || scheduler::run(&c))
            .map_err(|e| thread_error("the scheduler", e))?;
        let c = ctx.clone();
        let waker = std::thread::Builder::new()
            .name("bgcopy-wake".into())
            .spawn(move || listen(&c))
            .map_err(|e| thread_error("the wake-up listener", e))?;
        Ok(Engine {
            ctx,
            scheduler: Some(scheduler),
            checkpointer: Some(checkpointer),
            waker: Some(waker),
        })
    }

    /// Stop: the scheduler ends, every running transfer checkpoints and exits (waited
    /// for at most [`STOP_WAIT`]; one blocked in a stalled read exits at the read
    /// timeout), what they checkpointed is recorded, the checkpointer ends. The table
    /// must be closed first (that tells the transfers to stop). Idempotent.
    pub fn stop(&mut self) {
        self.ctx.table.set_engine_here(false);
        self.ctx.shutdown.store(true, Ordering::SeqCst);
        self.ctx.table.scheduler.raise();
        if let Some(w) = &self.ctx.wakeups {
            w.interrupt();
        }
        if let Some(t) = self.waker.take() {
            let _ = t.join();
        }
        if let Some(t) = self.scheduler.take() {
            let _ = t.join();
        }
        let deadline = Instant::now() + STOP_WAIT;
        drop(
            self.ctx
                .lock
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        while self.ctx.workers.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(t) = self.checkpointer.take() {
            self.ctx.checkpoints.flush();
            self.ctx.checkpoints.shutdown();
            let _ = t.join();
        }
    }

    /// A new bandwidth limit for background transfers (0: none), at once.
    pub fn set_background_limit(&self, bytes_per_second: u64) {
        self.ctx.limiter.set_rate(bytes_per_second);
    }

    /// In a child process after `fork()`: the engine's threads exist only in the
    /// parent; let go of everything without joining or locking.
    pub fn abandon(self) {
        // Close this process's copy of the engine lock's descriptor, so the lock ends
        // with the parent's engine and not with the child.
        if let Ok(l) = self.ctx.lock.try_lock()
            && let Some(lock) = l.as_ref()
        {
            lock.close_inherited();
        }
        std::mem::forget(self);
    }
}

/// Body of the `bgcopy-wake` thread: on another process's wake-up (or every [`LOOK`])
/// read what changed in the store and wake whom it concerns; while transfers run,
/// publish their live progress every [`PUBLISH`]; prune old final jobs every
/// [`PRUNE_EVERY`].
fn listen(ctx: &EngineCtx) {
    let mut published = Instant::now();
    let mut pruned: Option<Instant> = None;
    while !ctx.shutdown.load(Ordering::SeqCst) {
        let busy = ctx.workers.load(Ordering::SeqCst) > 0;
        let wait = if busy {
            PUBLISH.saturating_sub(published.elapsed())
        } else {
            LOOK
        };
        match &ctx.wakeups {
            Some(w) => {
                w.wait(wait);
            }
            None => std::thread::sleep(wait.min(crate::table::POLL)),
        }
        if ctx.shutdown.load(Ordering::SeqCst) {
            break;
        }
        ctx.table.poll_foreign(Wake::ALL);
        // The settings matter while bytes move (and an idle engine stays idle).
        if busy {
            read_settings(ctx);
        }
        if busy && published.elapsed() >= PUBLISH {
            publish(&ctx.table);
            published = Instant::now();
        }
        command::run_due(&ctx.table, &ctx.commands);
        if pruned.is_none_or(|p| p.elapsed() >= PRUNE_EVERY) {
            let now = crate::types::now_ms();
            let _ = ctx.table.try_with_all(|all| all.store.prune(now));
            pruned = Some(Instant::now());
        }
    }
}

/// Apply the queue's settings another process (or this one) stored: the background
/// bandwidth limit.
fn read_settings(ctx: &EngineCtx) {
    if let Ok(Some(v)) = ctx.table.setting(crate::store::BACKGROUND_LIMIT) {
        ctx.limiter.set_rate(v.max(0) as u64);
    }
}

/// Write the live progress of every running file to the store (for other processes:
/// never trusted by recovery), with the journal entries waiting.
fn publish(table: &JobTable) {
    let _ = table.try_with_all(|all| {
        for job in all.jobs.values_mut() {
            if job.run.is_none() || job.state.is_final() {
                continue;
            }
            for (idx, f) in job.files.iter_mut().enumerate() {
                if f.done_bytes != f.published {
                    all.store.publish_progress(job.id, idx, f.done_bytes)?;
                    f.published = f.done_bytes;
                }
            }
        }
        Ok(())
    });
}
