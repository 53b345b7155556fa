//! What the connection threads of one round of a job share (`worker.rs` runs them):
//! the files taken and running, the job's bandwidth limiter, and the segmented files
//! (`Shared`: a segment board, the temporary file, its crash-only record) that free
//! connections can join (`segmented.rs`).

use super::EngineCtx;
use super::crashlog::CrashLog;
use super::ratelimit::RateLimiter;
use super::segments::{Board, Closed};
use crate::sys::FileId;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// The file opened for writes past the page cache (`direct.rs`), when it can be.
    pub direct: Option<Arc<File>>,
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
    /// Temporary files are still being created (the files after the first one without
    /// one wait for them).
    preparing: AtomicBool,
    boards: Mutex<Vec<Arc<Shared>>>,
    /// How often the bell rang (a waiter that saw a number waits only if it is the
    /// same), and how many threads wait for it.
    bell: Mutex<(u64, usize)>,
    rung: Condvar,
    /// The job's bandwidth limit, over all its connections.
    pub(super) limiter: RateLimiter,
    /// Temporary files this round created and nobody wrote to yet, still open: the
    /// connection that takes the file uses the descriptor instead of opening the path
    /// again (and proving it ours again). Within [`HANDOFF`] (or the test's budget).
    created: Mutex<HashMap<usize, (FileId, Kept)>>,
    budget: BudgetRef,
}

/// How many descriptors of created temporary files are kept open for their
/// connections, over the whole process (every job and manager in it), and how many may:
/// beyond that a file is closed at once and opened again when its turn comes. A job of
/// 100,000 files, or many jobs at once, must not run the process out of descriptors (a
/// soft limit of 1,024 is common). 256 keeps the first batch and one batch of
/// `TEMPS_BATCH` ahead of the default 8 connections open.
pub(super) struct Budget {
    used: AtomicUsize,
    max: usize,
}

/// The process's [`Budget`].
static HANDOFF: Budget = Budget {
    used: AtomicUsize::new(0),
    max: KEPT_MAX,
};

/// The most created temporary files kept open over the process ([`HANDOFF`]).
pub(super) const KEPT_MAX: usize = 256;

impl Budget {
    /// One more descriptor, if the budget has room.
    fn reserve(&'static self, file: File) -> Option<Kept> {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Kept {
                file: Some(file),
                budget: self,
            })
    }
}

struct BudgetRef(&'static Budget);

impl Default for BudgetRef {
    fn default() -> Self {
        BudgetRef(&HANDOFF)
    }
}

/// A kept descriptor: closing it gives its place in the budget back.
pub(super) struct Kept {
    /// `None` only once taken by [`Kept::into_file`].
    file: Option<File>,
    budget: &'static Budget,
}

impl Kept {
    fn into_file(mut self) -> Option<File> {
        self.file.take()
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Pool {
    /// A pending file no thread has taken yet (taken by this call).
    pub(super) fn next_file(&self, ctx: &EngineCtx, id: Uuid) -> Option<usize> {
        ctx.table
            .read_running(id, |j| {
                let mut t = self.taken.lock().unwrap_or_else(|p| p.into_inner());
                let idx = (t.1..j.files.len())
                    .find(|i| !j.files[*i].done && !t.0.contains(i))
                    // Its temporary file is not made yet: the next batch makes it.
                    .filter(|i| j.files[*i].temp_id.is_some() || !self.preparing());
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

    /// A place in the process's budget for the just-created temporary file `file`,
    /// or `None` (the file is closed) when the budget has no room.
    pub(super) fn reserve(&self, file: File) -> Option<Kept> {
        self.budget.0.reserve(file)
    }

    /// Keep the just-created temporary file of file `idx` (identity `fid`, nothing
    /// written to it) for the connection that takes the file.
    pub(super) fn hand_over(&self, idx: usize, fid: FileId, kept: Kept) {
        let mut m = self.created.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(idx, (fid, kept));
    }

    /// The temporary file of file `idx` this round created, if it is still kept, is
    /// the file `fid` (the one the job records) and `path` still names it (a file
    /// deleted or replaced behind our back is opened by name instead, which notices).
    pub(super) fn take_created(&self, idx: usize, fid: FileId, path: &Path) -> Option<File> {
        let got = self
            .created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&idx);
        match got {
            Some((got, kept)) if got == fid => {
                let file = kept.into_file()?;
                crate::sys::is_ours(path, fid)
                    .unwrap_or(false)
                    .then_some(file)
            }
            _ => None,
        }
    }

    /// Temporary files are still being created (see `next_file`).
    pub(super) fn temps_pending(&self) {
        self.preparing.store(true, Ordering::SeqCst);
    }

    /// Every temporary file of the round is made (or making them failed).
    pub(super) fn temps_ready(&self) {
        self.preparing.store(false, Ordering::SeqCst);
        self.wake();
    }

    fn preparing(&self) -> bool {
        self.preparing.load(Ordering::SeqCst)
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
    /// become segmented), a segmented file may still split, or temporary files are
    /// still being made.
    pub(super) fn may_get_work(&self) -> bool {
        self.running.load(Ordering::SeqCst) > 0 || self.preparing()
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
        let mut g = self.bell.lock().unwrap_or_else(|p| p.into_inner());
        g.0 = g.0.wrapping_add(1);
        if g.1 > 0 {
            self.rung.notify_all();
        }
    }

    /// How often the bell rang so far: read before looking for work, so that
    /// [`Pool::wait`] does not sleep through a ring that came after the look.
    pub(super) fn rings(&self) -> u64 {
        self.bell.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Wait for work (a file registered as segmented, a segment given up, a file's
    /// end, temporary files made), at most [`IDLE_LOOK`]; at once if the bell rang
    /// since `seen` ([`Pool::rings`]).
    pub(super) fn wait(&self, seen: u64) {
        let mut g = self.bell.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 == seen {
            g.1 += 1;
            let mut g = self
                .rung
                .wait_timeout(g, IDLE_LOOK)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            g.1 -= 1;
        }
    }
}

/// How often an idle connection thread looks for work without being rung.
const IDLE_LOOK: std::time::Duration = std::time::Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_ring_after_the_look_is_not_slept_through() {
        let pool = Pool::default();
        let seen = pool.rings();
        pool.wake();
        let t = Instant::now();
        pool.wait(seen);
        assert!(t.elapsed() < IDLE_LOOK / 2, "{:?}", t.elapsed());
        // Nothing rang since: a waiter sleeps until rung (or IDLE_LOOK).
        let seen = pool.rings();
        std::thread::scope(|s| {
            s.spawn(|| {
                while pool.bell.lock().unwrap().1 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                pool.wake();
            });
            let t = Instant::now();
            pool.wait(seen);
            assert!(t.elapsed() < IDLE_LOOK, "{:?}", t.elapsed());
        });
        assert_eq!(pool.bell.lock().unwrap().1, 0);
    }

    #[test]
    fn a_created_file_goes_only_to_its_file_and_identity_within_one_budget_for_all_pools() {
        let dir = std::env::temp_dir().join(format!(
            "bgcopy-pool-unit-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // A budget of this test's own (the process's is shared with other tests).
        let budget: &'static Budget = Box::leak(Box::new(Budget {
            used: AtomicUsize::new(0),
            max: 4,
        }));
        let pool = || Pool {
            budget: BudgetRef(budget),
            ..Pool::default()
        };
        let (a, b) = (pool(), pool());
        let path = |i: usize| dir.join(format!("t{i}"));
        let made = |i: usize| crate::sys::create_temp(&path(i)).unwrap();
        // Keep the file in `p`'s budget and hand it over as file `idx`; whether it was kept.
        let keep = |p: &Pool, idx: usize, i: usize| -> (crate::sys::FileId, bool) {
            let (f, id) = made(i);
            match p.reserve(f) {
                Some(k) => {
                    p.hand_over(idx, id, k);
                    (id, true)
                }
                None => (id, false),
            }
        };
        let (id0, _) = keep(&a, 0, 0);
        let (_, id1) = made(1);
        assert!(
            a.take_created(0, id1, &path(0)).is_none(),
            "another identity"
        );
        assert!(
            a.take_created(0, id0, &path(0)).is_none(),
            "given up once asked wrongly"
        );
        let (id0, _) = keep(&a, 0, 2);
        assert!(a.take_created(1, id0, &path(2)).is_none(), "another file");
        assert!(a.take_created(0, id0, &path(2)).is_some());
        assert!(a.take_created(0, id0, &path(2)).is_none(), "taken once");
        assert_eq!(
            budget.used.load(Ordering::SeqCst),
            0,
            "every place given back"
        );
        // A file deleted, or replaced by another, behind our back is not handed over
        // (opened by name instead, which notices).
        let (id, _) = keep(&a, 3, 3);
        std::fs::remove_file(path(3)).unwrap();
        assert!(a.take_created(3, id, &path(3)).is_none());
        let (id, _) = keep(&a, 4, 4);
        std::fs::remove_file(path(4)).unwrap();
        std::fs::write(path(4), b"planted").unwrap();
        assert!(a.take_created(4, id, &path(4)).is_none());
        assert_eq!(budget.used.load(Ordering::SeqCst), 0);
        // The budget holds over both pools; a file made again replaces the old one.
        for i in 0..3 {
            assert!(keep(&a, i, 10 + i).1);
        }
        assert!(keep(&a, 0, 20).1, "replacing gives the old place back");
        assert_eq!(budget.used.load(Ordering::SeqCst), 3);
        let kept: Vec<bool> = (0..3).map(|i| keep(&b, i, 30 + i).1).collect();
        assert_eq!(kept, [true, false, false], "one place was left");
        assert_eq!(b.created.lock().unwrap().len(), 1);
        assert_eq!(budget.used.load(Ordering::SeqCst), 4);
        // A round that ends gives its places back.
        drop(a);
        assert_eq!(budget.used.load(Ordering::SeqCst), 1);
        drop(b);
        assert_eq!(budget.used.load(Ordering::SeqCst), 0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn files_without_a_temporary_file_wait_while_temporary_files_are_made() {
        let pool = Pool::default();
        assert!(!pool.may_get_work());
        pool.temps_pending();
        assert!(pool.may_get_work(), "a thread waits for the next batch");
        pool.temps_ready();
        assert!(!pool.may_get_work());
    }
}
