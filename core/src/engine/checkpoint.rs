//! The checkpointer: makes transferred bytes durable off the download threads.
//!
//! Workers submit checkpoints (file, offset, done) without blocking. The
//! `bgcopy-checkpoint` thread takes every pending checkpoint at once, syncs the data
//! (`fdatasync` per file, or one `syncfs` per filesystem when many files are pending),
//! then records all their offsets in one store transaction. So a checkpoint is only
//! ever recorded after its bytes are on disk, the network side never waits for the
//! disk, and a job of a thousand small files costs one sync and one commit, not a
//! thousand of each.
//!
//! A batch runs at once for an urgent checkpoint (every `checkpoint_bytes` of a file,
//! or a stopped transfer) and once the files ended since the last batch hold
//! `checkpoint_bytes` together (many small files: their data goes to the disk while
//! the next ones arrive, not all at the job's end), else once the oldest pending one
//! is `checkpoint_interval` old. `flush()` waits until everything submitted before it is recorded.

use crate::policy::{Outcome, apply_outcome};
use crate::table::JobTable;
use crate::wake::Wake;
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A request to record `offset` (and `done`) for a file once its bytes are synced.
pub(crate) struct Checkpoint {
    pub job: Uuid,
    pub idx: usize,
    /// The file's restart epoch when the bytes were written; a restart since then
    /// makes this checkpoint void.
    pub epoch: u32,
    /// The bytes written: the prefix `[0, offset)`, or `parts` (whose sum `offset` is)
    /// for a segmented download.
    pub offset: u64,
    pub parts: Option<crate::ranges::Ranges>,
    pub done: bool,
    pub file: Arc<File>,
}

#[derive(Default)]
struct State {
    pending: HashMap<(Uuid, usize), Checkpoint>,
    oldest: Option<Instant>,
    urgent: bool,
    submitted: u64,
    recorded: u64,
    /// Bytes of the files that ended since the last batch.
    ended: u64,
    shutdown: bool,
}

/// Pending checkpoints and the batch bookkeeping.
pub(crate) struct Checkpointer {
    /// The files that ended since the last batch make one now once they hold this
    /// many bytes (`checkpoint_bytes`).
    batch_bytes: u64,
    state: Mutex<State>,
    wake: Condvar,
    batch_done: Condvar,
}

/// Pending checkpoints that make a batch run even before the interval.
const BATCH_MAX: usize = 1024;

impl Checkpointer {
    pub fn new(batch_bytes: u64) -> Checkpointer {
        Checkpointer {
            batch_bytes,
            state: Mutex::default(),
            wake: Condvar::new(),
            batch_done: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a checkpoint; `urgent` runs a batch now.
    pub fn submit(&self, c: Checkpoint, urgent: bool) {
        let mut s = self.lock();
        if s.shutdown {
            return;
        }
        s.submitted += 1;
        s.oldest.get_or_insert_with(Instant::now);
        if c.done {
            s.ended = s.ended.saturating_add(c.offset);
        }
        s.urgent |= urgent || s.pending.len() + 1 >= BATCH_MAX || s.ended >= self.batch_bytes;
        // The newest checkpoint of a file supersedes older ones.
        s.pending.insert((c.job, c.idx), c);
        if s.urgent {
            self.wake.notify_all();
        }
    }

    /// Run a batch now if checkpoints wait (a round has no file left to start: its last
    /// files need not wait for the interval, nor for its threads to end).
    pub fn kick(&self) {
        let mut s = self.lock();
        if !s.pending.is_empty() && !s.urgent {
            s.urgent = true;
            self.wake.notify_all();
        }
    }

    /// Block until every checkpoint submitted so far is recorded (or the manager shut
    /// the checkpointer down).
    pub fn flush(&self) {
        let mut s = self.lock();
        let target = s.submitted;
        if s.recorded >= target {
            return;
        }
        s.urgent = true;
        self.wake.notify_all();
        while s.recorded < target && !s.shutdown {
            s = self.batch_done.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Stop the thread after a last batch.
    pub fn shutdown(&self) {
        let mut s = self.lock();
        s.shutdown = true;
        self.wake.notify_all();
        self.batch_done.notify_all();
    }

    /// Body of the `bgcopy-checkpoint` thread: batches every `interval` (at once for
    /// urgent ones) until shut down.
    pub fn run(&self, table: &JobTable, interval: Duration) {
        let ck = self;
        loop {
            let (batch, upto) = {
                let mut s = ck.lock();
                loop {
                    if !s.pending.is_empty() {
                        let age = s.oldest.map_or(Duration::ZERO, |o| o.elapsed());
                        if s.urgent || s.shutdown || age >= interval {
                            break;
                        }
                        let left = interval - age;
                        s = ck
                            .wake
                            .wait_timeout(s, left)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    } else if s.shutdown {
                        s.recorded = s.submitted;
                        ck.batch_done.notify_all();
                        return;
                    } else {
                        s = ck.wake.wait(s).unwrap_or_else(|p| p.into_inner());
                    }
                }
                s.urgent = false;
                s.oldest = None;
                s.ended = 0;
                let batch: Vec<Checkpoint> = s.pending.drain().map(|(_, c)| c).collect();
                (batch, s.submitted)
            };
            let synced = sync(batch);
            record(table, &synced);
            let mut s = ck.lock();
            s.recorded = s.recorded.max(upto);
            ck.batch_done.notify_all();
        }
    }
}

/// Make the batch's bytes durable; returns the checkpoints whose sync succeeded.
fn sync(batch: Vec<Checkpoint>) -> Vec<Checkpoint> {
    #[cfg(target_os = "linux")]
    if batch.len() > 8 {
        // One syncfs per filesystem instead of one fdatasync per file.
        let mut by_dev: HashMap<u64, Vec<Checkpoint>> = HashMap::new();
        for c in batch {
            let dev = {
                use std::os::unix::fs::MetadataExt;
                c.file.metadata().map(|m| m.dev()).unwrap_or(0)
            };
            by_dev.entry(dev).or_default().push(c);
        }
        let mut ok = Vec::new();
        for (_, group) in by_dev {
            // SAFETY: syncfs on a valid open descriptor.
            let rc = unsafe { libc::syncfs(group[0].file.as_raw_fd()) };
            if rc == 0 {
                ok.extend(group);
            }
        }
        return ok;
    }
    batch
        .into_iter()
        .filter(|c| c.file.sync_data().is_ok())
        .collect()
}

/// Record synced checkpoints in one transaction. If the store cannot record them
/// (the state disk is full, …), each job concerned stops with TRANSIENT_ERROR carrying
/// the store's code and is retried like a network error: its bytes stay in its
/// temporary file, and a progress that was not recorded is never reported as durable.
fn record(table: &JobTable, batch: &[Checkpoint]) {
    if batch.is_empty() {
        return;
    }
    let result = table.try_with_all(|all| {
        for c in batch {
            let Some(job) = all.jobs.get_mut(&c.job).filter(|j| !j.state.is_final()) else {
                continue;
            };
            let Some(f) = job.files.get_mut(c.idx).filter(|f| f.epoch == c.epoch) else {
                continue;
            };
            f.synced = c.offset;
            f.synced_parts = c.parts.clone();
            let mut durable = f.clone();
            durable.done = c.done;
            all.store.save_file(c.job, c.idx, &durable)?;
        }
        Ok(())
    });
    let Err(e) = result else { return };
    // Not recorded: the jobs stop with the store's error, in memory at least (the
    // store may not take even that).
    let failed = table.with_cached(Wake::NONE, |all| {
        let now = crate::types::now_ms();
        let mut failed = false;
        for c in batch {
            let Some(job) = all.jobs.get_mut(&c.job) else {
                continue;
            };
            if job.state.is_final() || job.run.is_none() {
                continue;
            }
            job.stop_run();
            let failure = crate::policy::Failure::store(&e);
            apply_outcome(job, Outcome::Failed(failure), now);
            let _ = all.store.save_job(job);
            failed = true;
        }
        failed
    });
    if failed {
        table.wake(Wake::ALL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ck(ck: &Checkpointer, idx: usize, bytes: u64, done: bool) {
        let file = Arc::new(tempfile_in_tmp());
        ck.submit(
            Checkpoint {
                job: Uuid::nil(),
                idx,
                epoch: 0,
                offset: bytes,
                parts: None,
                done,
                file,
            },
            false,
        );
    }

    fn tempfile_in_tmp() -> File {
        let p = std::env::temp_dir().join(format!("bgcopy-ck-unit-{}", Uuid::new_v4().simple()));
        let f = File::create(&p).unwrap();
        let _ = std::fs::remove_file(&p);
        f
    }

    #[test]
    fn files_that_ended_make_a_batch_once_they_hold_checkpoint_bytes() {
        let c = Checkpointer::new(100);
        ck(&c, 0, 60, true);
        assert!(!c.lock().urgent, "60 of 100 bytes: wait for the interval");
        // Progress of a running file does not count (its own every-N-bytes rule does).
        ck(&c, 1, 500, false);
        assert!(!c.lock().urgent);
        ck(&c, 2, 40, true);
        assert!(c.lock().urgent, "100 bytes of ended files: a batch now");
        // A batch starts the count again.
        {
            let mut s = c.lock();
            s.urgent = false;
            s.ended = 0;
            s.pending.clear();
        }
        ck(&c, 3, 99, true);
        assert!(!c.lock().urgent);
    }
}
