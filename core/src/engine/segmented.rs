//! One file over several connections. When the first answer shows that the server
//! honours ranges for this content (a 206, or `Accept-Ranges: bytes`, with a size and
//! a validator) and the file is large enough, the file gets a segment board
//! (`segments.rs`): the first connection goes on with its answer as the first
//! segment, and free connections of the job take the second half of the largest
//! remaining segment, each asking `Range: bytes=a-b` with `If-Range` and writing at its
//! offset (`pwrite`). A checkpoint records every segment's done range.
//!
//! What a segment answer can mean: a 206 for exactly the range asked, with the same
//! validator and size, is used; a 200 or 206 with another validator or size means the
//! content changed (the file restarts, as for one stream); a 200 with the same
//! validator, a 416 or a wrong `Content-Range` means the server will not do this range
//! (the file goes on over one connection, no error); a broken connection gives the
//! segment back to be fetched again (at most [`MAX_SEGMENT_FAILURES`] per run); any
//! other status (429, 503, …) stops the whole file with that error, `Retry-After`
//! honoured by the job's retry.

use super::checkpoint::Checkpoint;
use super::classify::io_class;
use super::crashlog;
use super::file::FileTransfer;
use super::http::{content_length, header, parse_content_range, validator_of};
use super::pool::Shared;
use super::segments::{Board, Closed, MAX_SEGMENT_FAILURES, MIN_SEGMENT, Released, Slot};
use super::stream::{WRITEBACK_STEP, start_writeback};
use crate::error::codes;
use crate::policy::Failure;
use crate::wake::Wake;
use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use ureq::http::Response;

/// How a segment request ended.
enum SegEnd {
    /// The segment is complete (or the board closed, or it was cut).
    Done,
    /// The job stops.
    Stopped,
    /// The connection broke: the segment is fetched again.
    Broken(Failure),
    /// The server will not do this range: one stream from now on.
    Refused,
    /// The content changed (`true`) or its answers cannot be used: the file restarts.
    Restart(bool),
    /// An error that ends the run (a status such as 429 or 503, a local error).
    Fatal(Failure),
    /// A request's piece ended here; the segment is not complete yet.
    Piece(u64),
}

/// Bytes one segment request asks for at most (like aria2's pieces): a long segment is
/// several requests on one kept-alive connection, so a server that paces each request
/// (nginx's `limit_rate` allows every new request a second's worth at once) and a
/// connection that must give way are both served.
const PIECE: u64 = 4 << 20;

impl FileTransfer<'_> {
    /// Whether the first answer lets the rest of the file come over several
    /// connections.
    pub(super) fn can_split(
        &self,
        resp: &Response<ureq::Body>,
        status: u16,
        start: u64,
        total: u64,
        validator: Option<&str>,
    ) -> bool {
        let ranges = status == 206
            || header(resp, "accept-ranges")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("bytes"));
        self.pool.is_some()
            && self.max_connections > 1
            && validator.is_some()
            && ranges
            && total.saturating_sub(start) >= 2 * MIN_SEGMENT
    }

    /// Go on with the first answer as the first segment of a new board, others joining.
    pub(super) fn run_split(
        mut self,
        resp: Response<ureq::Body>,
        file: &Arc<File>,
        start: u64,
        total: u64,
    ) -> Result<(), Failure> {
        let done = if start > 0 {
            vec![(0, start)]
        } else {
            Vec::new()
        };
        // Nothing past `start` is ours any more (a restart from 0 keeps the old, maybe
        // longer, file until here).
        let len = file
            .metadata()
            .map_err(|e| self.blame().local("stat temp file", &e))?
            .len();
        if len > start {
            file.set_len(start)
                .map_err(|e| self.blame().local("truncate temp file", &e))?;
        }
        let shared = self.share(
            file,
            Board::new(total, done, Some(start), self.max_connections),
        );
        let slot = Slot {
            key: start,
            from: start,
            end: total,
        };
        let end = self.body(&shared, slot, resp);
        if self.settle(&shared, slot, end)? {
            self.help(&shared)?;
        }
        Ok(())
    }

    /// A file with done ranges that may use one connection only (its job says so, or
    /// its server refused a range): it goes on as one stream from its first hole; the
    /// ranges after it are fetched again (their bytes are cut off).
    pub(super) fn continue_as_one_stream(&mut self, file: &Arc<File>) -> Result<(), Failure> {
        let parts = self.parts.take().unwrap_or_default();
        let offset = match parts.first() {
            Some(&(0, e)) => e,
            _ => 0,
        };
        // The crash-only record and the checkpoint may name ranges past the cut: the
        // record goes before the bytes do, and the cut is checkpointed at once (until
        // it is recorded the file is shorter than the old checkpoint, which recovery
        // takes as a restart, and `share` does not lengthen it).
        crashlog::remove(&self.ctx.table.state_dir, self.id, self.idx);
        file.set_len(offset)
            .map_err(|e| self.blame().local("truncate temp file", &e))?;
        self.checkpoint(file, offset, false, true);
        let (idx, epoch) = (self.idx, self.epoch);
        self.ctx.table.update_live(self.id, Wake::NONE, |job| {
            let f = &mut job.files[idx];
            if f.epoch == epoch {
                f.parts = None;
                f.done_bytes = offset;
            }
        });
        self.offset = offset;
        Ok(())
    }

    /// Resume a file whose done bytes are not a prefix: every hole is a segment.
    pub(super) fn run_parts(mut self, file: &Arc<File>) -> Result<(), Failure> {
        let parts = self.parts.clone().unwrap_or_default();
        let end = parts.last().map_or(0, |r| r.1);
        let len = file
            .metadata()
            .map_err(|e| self.blame().local("stat temp file", &e))?
            .len();
        let (Some(total), Some(_)) = (self.total, self.validator.as_ref()) else {
            return self.lost_parts(file);
        };
        if len < end || end > total {
            return self.lost_parts(file);
        }
        let shared = self.share(file, Board::new(total, parts, None, self.max_connections));
        if shared.board.closed() == Closed::Done {
            // Every byte is here (stopped just before the file was marked done).
            return self.finish(&shared);
        }
        self.help(&shared).map(|_| ())
    }

    /// The ranges cannot be trusted (the temporary file is shorter than they say):
    /// the file starts over.
    fn lost_parts(&mut self, file: &File) -> Result<(), Failure> {
        self.restart(false)?;
        file.set_len(0)
            .map_err(|e| self.blame().local("truncate temp file", &e))?;
        Ok(())
    }

    fn share(&self, file: &Arc<File>, board: Board) -> Arc<Shared> {
        // The whole file's blocks at once: the connections' direct writes then land in
        // allocated blocks, which the file system lets them write side by side. Only
        // when no checkpoint names bytes past the file's end (a file cut back whose cut
        // is not recorded yet: lengthened, its zeros would pass for those bytes), and
        // without a crash-only record of an earlier run (this run makes its own).
        let known = file.metadata().map(|m| m.len()).ok();
        let mut len = known.unwrap_or(0);
        let (idx, epoch) = (self.idx, self.epoch);
        let synced_end = self
            .ctx
            .table
            .read_running(self.id, |j| {
                j.files
                    .get(idx)
                    .filter(|f| f.epoch == epoch)
                    .map(|f| f.synced_end())
            })
            .ok()
            .flatten();
        if known.is_some() && synced_end.is_some_and(|end| end <= len) && len < board.total() {
            crashlog::remove(&self.ctx.table.state_dir, self.id, self.idx);
            len = super::direct::preallocate(file, len, board.total());
        }
        let shared = Arc::new(Shared {
            idx: self.idx,
            epoch: self.epoch,
            board,
            file: file.clone(),
            ck: Mutex::new(()),
            direct: super::direct::reopen_direct(file).map(Arc::new),
            log: Mutex::new(Default::default()),
            len: AtomicU64::new(len),
            written: AtomicU64::new(0),
        });
        if let Some(pool) = self.pool {
            pool.register(shared.clone());
        }
        shared
    }

    /// A connection works on a segmented file until there is nothing left for it.
    /// `Ok(false)` when it found nothing to do at all.
    pub(super) fn help(&mut self, shared: &Arc<Shared>) -> Result<bool, Failure> {
        let mut worked = false;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(worked);
            }
            // The file's first connection holds a slot of the host already; every
            // other one needs its own, free now and wanted by nobody else (asked for
            // before a segment is split off, so no split waits for a slot).
            let held = if self.holds_host {
                None
            } else {
                let host = super::hosts::host_of(&self.url);
                match self.ctx.hosts.try_acquire(&host) {
                    Some(h) => Some(h),
                    None => return Ok(worked),
                }
            };
            let Some(slot) = shared.board.take() else {
                return Ok(worked);
            };
            worked = true;
            let end = self.segment(shared, slot);
            drop(held);
            let more = self.settle(shared, slot, end);
            if let Some(pool) = self.pool {
                pool.wake();
            }
            if !more? {
                return Ok(true);
            }
        }
    }

    /// After a segment: give it back and act on how it ended. `Ok(true)`: look for
    /// more work on this file.
    fn settle(&mut self, shared: &Arc<Shared>, slot: Slot, end: SegEnd) -> Result<bool, Failure> {
        let board = &shared.board;
        match end {
            // (`segment` turns the end of a piece into its next request.)
            SegEnd::Done | SegEnd::Piece(_) => {
                if board.release(slot.key, false, false) == Released::Finish {
                    self.finish(shared)?;
                    return Ok(false);
                }
                if board.closed() == Closed::Aborted {
                    // The run stops: what this connection wrote is recorded.
                    self.checkpoint_parts(shared, true);
                    return Ok(false);
                }
                Ok(true)
            }
            SegEnd::Stopped => {
                board.release(slot.key, false, false);
                self.checkpoint_parts(shared, true);
                Ok(false)
            }
            SegEnd::Broken(f) => {
                log::debug!(
                    target: "bgcopy::transfer",
                    "job {} file {}: a segment broke off ({}); asking again",
                    self.id,
                    self.idx,
                    f.error.description
                );
                self.checkpoint_parts(shared, true);
                board.release(slot.key, true, false);
                // Fetched again at once, but counted like any transient error.
                self.ctx.table.update(self.id, Wake::NONE, |job, store| {
                    job.error_count = job.error_count.saturating_add(1);
                    let _ = store.save_job(job);
                });
                if board.failures() > MAX_SEGMENT_FAILURES {
                    board.abort();
                    return Err(f);
                }
                Ok(true)
            }
            SegEnd::Refused => {
                log::info!(
                    target: "bgcopy::transfer",
                    "job {} file {}: the server refused a range request; going on over one stream",
                    self.id,
                    self.idx
                );
                self.one_stream();
                match board.release(slot.key, false, true) {
                    Released::Finish => {
                        self.finish(shared)?;
                        Ok(false)
                    }
                    // Nobody could take the rest back: the connections stop, and the
                    // next round goes on over one stream from the first hole.
                    Released::OneStream => {
                        self.checkpoint_parts(shared, true);
                        Ok(false)
                    }
                    Released::Others => Ok(true),
                }
            }
            SegEnd::Restart(changed) => {
                let first = board.abort();
                board.release(slot.key, false, false);
                // The next round of the job fetches the file from its start (one
                // restart however many segments saw the change).
                if first {
                    // No crash-only record of the old bytes may be written after the
                    // restart removes it.
                    shared
                        .log
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .retire();
                    self.restart(changed)?;
                }
                Ok(false)
            }
            SegEnd::Fatal(f) => {
                board.abort();
                board.release(slot.key, false, false);
                self.checkpoint_parts(shared, true);
                Err(f)
            }
        }
    }

    /// Record that the server refused a segment's range: the file keeps to one
    /// connection (no error; `bgcopy info` shows it).
    fn one_stream(&self) {
        let idx = self.idx;
        self.ctx.table.update(self.id, Wake::NONE, |job, store| {
            let f = &mut job.files[idx];
            if !f.one_stream {
                f.one_stream = true;
                let _ = store.save_file(job.id, idx, f);
            }
        });
    }

    /// Every byte is in: check the digest (read back once: segments arrive out of
    /// order) and mark the file done.
    fn finish(&mut self, shared: &Shared) -> Result<(), Failure> {
        let total = shared.board.total();
        let len = shared
            .file
            .metadata()
            .map_err(|e| self.blame().local("stat temp file", &e))?
            .len();
        if len != total {
            // Every range is in, so the file is at least this long; never longer.
            shared
                .file
                .set_len(total)
                .map_err(|e| self.blame().local("truncate temp file", &e))?;
        }
        if let Some(want) = self.expected {
            let digest = self.hash_prefix(&shared.file, total)?;
            self.verify(digest.finish(), want)?;
        }
        let validator = self.validator.clone();
        self.mark_done(&shared.file, total, validator);
        Ok(())
    }

    /// Ask for one segment, a piece of at most [`PIECE`] bytes per request (on one
    /// kept-alive connection), and write what comes.
    fn segment(&mut self, shared: &Shared, slot: Slot) -> SegEnd {
        let mut from = slot.from;
        loop {
            let piece = Slot {
                from,
                end: slot.end.min(from.saturating_add(PIECE)),
                ..slot
            };
            match self.piece(shared, piece) {
                SegEnd::Piece(next) if next > from => from = next,
                SegEnd::Piece(_) => return SegEnd::Done,
                end => return end,
            }
        }
    }

    /// One request of a segment: `[slot.from, slot.end)`.
    fn piece(&mut self, shared: &Shared, slot: Slot) -> SegEnd {
        let ctx = self.ctx;
        let (resp, final_url) = match super::fetch::fetch(ctx, self.ask(slot.from, Some(slot.end)))
        {
            Ok(r) => r,
            Err(f) if f.transient => return SegEnd::Broken(f),
            Err(f) => return SegEnd::Fatal(f),
        };
        self.note_response(&resp, &final_url);
        let total = shared.board.total();
        let validator = validator_of(&resp);
        // A 206 to an If-Range request is the server saying the validator still holds;
        // it need not repeat a Last-Modified.
        let status = resp.status().as_u16();
        let same = validator == self.validator || status == 206 && validator.is_none();
        match status {
            206 => {
                let range = header(&resp, "content-range").and_then(parse_content_range);
                match range {
                    Some((_, _, size)) if !same || size.is_some_and(|s| s != total) => {
                        SegEnd::Restart(true)
                    }
                    Some((first, last, _)) if first == slot.from && last >= first => {
                        self.mark_transferring();
                        self.body(shared, slot, resp)
                    }
                    _ => SegEnd::Refused,
                }
            }
            200 if !same || content_length(&resp).is_some_and(|n| n != total) => {
                SegEnd::Restart(true)
            }
            200 | 416 => SegEnd::Refused,
            s => SegEnd::Fatal(self.blame().status(s, &resp)),
        }
    }

    /// Write a segment's body at its offsets until the segment is complete (its end
    /// may move down while it runs: another connection took the rest). Bytes read are
    /// reserved on the board at once and count once written (a direct write gathers
    /// them first: `direct.rs`).
    fn body(&mut self, shared: &Shared, slot: Slot, resp: Response<ureq::Body>) -> SegEnd {
        let blame = self.blame();
        let board = &shared.board;
        let mut reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
        let (mut sink, room) = self.sink(
            super::direct::Sink::new(shared.direct.clone(), slot.from),
            Some(slot.end - slot.from),
        );
        let mut written_back = slot.from;
        loop {
            let mut end = None;
            if self.stop.load(Ordering::SeqCst) {
                end = Some(SegEnd::Stopped);
            }
            let mut n = 0;
            if end.is_none() {
                let want = sink.room(self.chunk(), room, self.buf);
                let held = sink.held;
                match reader.read(&mut self.buf[held..held + want]) {
                    Ok(0) => {}
                    Ok(k) => n = k,
                    Err(e) => {
                        let (transient, code) = io_class(&e);
                        let f = blame.transport(
                            transient,
                            code,
                            &format!("a segment broke off at byte {}: {e}", sink.at),
                        );
                        end = Some(if transient {
                            SegEnd::Broken(f)
                        } else {
                            SegEnd::Fatal(f)
                        });
                    }
                }
            }
            // The bytes read that belong to the segment (its end may have moved
            // below them: then it is complete with them).
            let mut complete = false;
            if n > 0 {
                let k = board.reserve(slot.key, n as u64);
                // Before the write: the record never claims a shorter file than there is.
                shared
                    .len
                    .fetch_max(sink.at + (sink.held as u64) + k, Ordering::SeqCst);
                sink.add(k as usize);
                complete = k < n as u64;
            }
            let all = n == 0 || complete || end.is_some();
            // A board closed for a restart or an error: what is held is dropped, not
            // written (the file may be starting over; what was written counted).
            if all && sink.held > 0 && board.closed() == Closed::Aborted {
                return end.unwrap_or(SegEnd::Done);
            }
            let wrote = match sink.flush(self.buf, &shared.file, all) {
                Ok(w) => w,
                Err(e) => return SegEnd::Fatal(blame.local("write temp file", &e)),
            };
            if wrote > 0 {
                let (now_at, done) = board.advance(slot.key, wrote);
                complete |= done;
                self.log_parts(shared, wrote);
                // Counted per connection across its pieces (a piece is much shorter
                // than a checkpoint interval).
                self.ck.0 += wrote;
                if !sink.is_direct() && now_at - written_back >= WRITEBACK_STEP {
                    start_writeback(&shared.file, written_back, now_at);
                    written_back = now_at;
                }
                self.progress_parts(shared);
                let opts = &self.ctx.opts;
                if self.ck.0 >= opts.checkpoint_bytes
                    || self.ck.1.elapsed() >= opts.checkpoint_interval
                {
                    self.checkpoint_parts(shared, true);
                    self.ck = (0, Instant::now());
                }
            }
            if n > 0 {
                self.throttle(n);
            }
            if let Some(end) = end {
                return end;
            }
            if complete {
                return SegEnd::Done;
            }
            if n == 0 {
                if board.unclaimed(slot.key) == 0 {
                    return SegEnd::Done;
                }
                if sink.at >= slot.end {
                    // This request's piece is in; the segment goes on with the next.
                    return SegEnd::Piece(sink.at);
                }
                return SegEnd::Broken(blame.transport(
                    true,
                    codes::CONNECTION_CLOSED,
                    &format!("the connection closed at byte {} within a segment", sink.at),
                ));
            }
        }
    }

    /// Rewrite the crash-only record after a write of `n` bytes (made once the run
    /// wrote [`crashlog::AFTER`] bytes).
    fn log_parts(&self, shared: &Shared, n: u64) {
        let written = shared.written.fetch_add(n, Ordering::Relaxed) + n;
        let mut log = shared.log.lock().unwrap_or_else(|p| p.into_inner());
        if shared.board.closed() != Closed::Open || log.retired {
            return;
        }
        if log.log.is_none() {
            if written < crashlog::AFTER {
                return;
            }
            log.log = self.crash_log(&shared.file, shared.board.total());
        }
        if let Some(l) = log.log.as_mut() {
            let done = shared.board.done().0;
            l.write(&done, shared.len.load(Ordering::SeqCst));
        }
    }

    /// Live progress of a segmented file: its done ranges and their sum, together (a
    /// new run here starts from them).
    fn progress_parts(&mut self, shared: &Shared) {
        let (done, sum) = shared.board.done();
        self.progress(sum, crate::ranges::as_list(done));
    }

    /// Ask the checkpointer to record the board's done ranges once synced (and keep
    /// them as the file's live ranges, so a new run here goes on from them).
    fn checkpoint_parts(&self, shared: &Shared, urgent: bool) {
        let _one = shared.ck.lock().unwrap_or_else(|p| p.into_inner());
        let (done, sum) = shared.board.done();
        let parts = crate::ranges::as_list(done);
        let (idx, epoch) = (self.idx, self.epoch);
        let live = parts.clone();
        self.ctx.table.update_live(self.id, Wake::NONE, |job| {
            let f = &mut job.files[idx];
            if f.epoch == epoch && !f.done {
                f.parts = live;
                f.done_bytes = sum;
            }
        });
        self.ctx.checkpoints.submit(
            Checkpoint {
                job: self.id,
                idx,
                epoch,
                offset: sum,
                parts,
                done: false,
                file: shared.file.clone(),
            },
            urgent,
        );
    }
}
