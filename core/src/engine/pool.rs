//! What the connection threads of one round of a job share (`worker.rs` runs them):
//! the files taken and running, the job's bandwidth limiter, and the segmented files
//! (`Shared`: a segment board, the temporary file, its crash-only record) that free
//! connections can join (`segmented.rs`).

use super::EngineCtx;
use super::crashlog::CrashLog;
use super::ratelimit::RateLimiter;
use super::segments::{Board, Closed};
use std::collections::HashSet;
use std::fs::File;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use uuid::Uuid;

/// A segmented file of one round, shared by the job's connection threads.
pub(crate) struct Shared {
    pub idx: usize,
    /// The file's restart epoch when the board was made.
    pub epoch: u32,
    pub board: Board,
    pub file: Arc<File>,
    /// Held while a checkpoint is taken and submitted, so that an older snapshot never
    /// replaces a newer one.
    pub ck: Mutex<()>,
    /// The crash-only progress record (`crashlog.rs`), once made.
    pub log: Mutex<Record>,
    /// The temporary file's length (the end of the furthest write).
    pub len: AtomicU64,
    /// Bytes written in this run.
    pub written: AtomicU64,
}

/// A segmented file's crash-only record, once made; `retired` once the file restarted
/// (no record of the old bytes may be written again).
#[derive(Default)]
pub(crate) struct Record {
    pub log: Option<CrashLog>,
    pub retired: bool,
}

impl Record {
    pub fn retire(&mut self) {
        self.log = None;
        self.retired = true;
    }
}

/// What the connection threads of one round of a job share: the files taken, the
/// files running, and the segmented files other connections can join.
#[derive(Default)]
pub(super) struct Pool {
    /// The files taken, and where to look for the next one (every file before it is
    /// done or taken: a job of many files is not scanned from the start each time).
    taken: Mutex<(HashSet<usize>, usize)>,
    running: AtomicUsize,
    boards: Mutex<Vec<Arc<Shared>>>,
    bell: Mutex<()>,
    rung: Condvar,
    /// The job's bandwidth limit, over all its connections.
    pub(super) limiter: RateLimiter,
}

impl Pool {
    /// A pending file no thread has taken yet (taken by this call).
    pub(super) fn next_file(&self, ctx: &EngineCtx, id: Uuid) -> Option<usize> {
        ctx.table
            .read_running(id, |j| {
                let mut t = self.taken.lock().unwrap_or_else(|p| p.into_inner());
                let idx = (t.1..j.files.len()).find(|i| !j.files[*i].done && !t.0.contains(i));
                if let Some(i) = idx {
                    t.0.insert(i);
                    t.1 = i + 1;
                    self.running.fetch_add(1, Ordering::SeqCst);
                }
                idx
            })
            .ok()
            .flatten()
    }

    pub(super) fn file_ended(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.wake();
    }

    /// A segmented file other connections can join.
    pub(super) fn register(&self, shared: Arc<Shared>) {
        self.boards
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(shared);
        self.wake();
    }

    pub(super) fn board_with_work(&self) -> Option<Arc<Shared>> {
        let mut boards = self.boards.lock().unwrap_or_else(|p| p.into_inner());
        boards.retain(|s| s.board.closed() == Closed::Open);
        boards.iter().find(|s| s.board.has_work()).cloned()
    }

    /// Whether a thread with nothing to do should wait: a file still runs (it may
    /// become segmented) or a segmented file may still split.
    pub(super) fn may_get_work(&self) -> bool {
        self.running.load(Ordering::SeqCst) > 0
    }

    /// The run stops: every segmented file's connections return.
    pub(super) fn abort_boards(&self) {
        for s in self.boards.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            s.board.abort();
        }
        self.wake();
    }

    /// Ring the threads waiting for work.
    pub(super) fn wake(&self) {
        let _g = self.bell.lock().unwrap_or_else(|p| p.into_inner());
        self.rung.notify_all();
    }

    /// Wait for work (a file registered as segmented, a segment given up, a file's
    /// end), at most [`IDLE_LOOK`].
    pub(super) fn wait(&self) {
        let g = self.bell.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.rung.wait_timeout(g, IDLE_LOOK);
    }
}

/// How often an idle connection thread looks for work without being rung.
const IDLE_LOOK: std::time::Duration = std::time::Duration::from_millis(100);
