//! Streaming a response body into the temporary file: large writes, writeback started
//! early, live progress, checkpoints every `checkpoint_bytes` or `checkpoint_interval`,
//! the background bandwidth limit, and a stop checked between reads.

use super::classify::io_class;
use super::crashlog::{self, CrashLog};
use super::direct::{self, READ_BUF};
use super::file::FileTransfer;
use crate::error::codes;
use crate::policy::Failure;
use std::fs::File;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use ureq::http::Response;

impl FileTransfer<'_> {
    /// Write the body from offset `start` (a total of `total` bytes when known); the
    /// file is done at its end.
    pub(super) fn stream(
        &mut self,
        resp: Response<ureq::Body>,
        file: &Arc<File>,
        start: u64,
        total: Option<u64>,
        validator: Option<String>,
    ) -> Result<(), Failure> {
        let blame = self.blame();
        self.validator.clone_from(&validator);
        // A temporary file just created and handed over is empty.
        let fresh = std::mem::take(&mut self.fresh) && start == 0;
        // A restart from 0 drops what the file held (a new file has nothing: fstat is
        // cheaper than a truncation).
        if start == 0 && !fresh && file.metadata().map_or(true, |m| m.len() > 0) {
            file.set_len(0)
                .map_err(|e| blame.local("truncate temp file", &e))?;
        }
        // The content's digest, from what an earlier run wrote (read once) and then
        // every byte as it is written.
        let mut digest = match self.expected {
            Some(_) => Some(self.hash_prefix(file, start)?),
            None => None,
        };
        let mut reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
        let left = total.map(|t| t.saturating_sub(start));
        // A body of known length goes past the page cache (`direct.rs`; this
        // connection is the descriptor's only writer), unless it is so small that
        // switching costs more than the copy.
        let sink = if left.is_some_and(|n| n >= direct::MIN_BODY) {
            direct::Sink::switched(file, start)
        } else {
            direct::Sink::new(None, start)
        };
        let (mut sink, room) = self.sink(sink, left);
        let opts = &self.ctx.opts;
        let mut submitted = start;
        let mut written_back = start;
        let mut last = Instant::now();
        let mut log: Option<CrashLog> = None;
        loop {
            // Why the loop ends after this round's write, if it does.
            let mut end: Option<Result<(), Failure>> = None;
            let mut n = 0;
            let stopped = self.stop.load(Ordering::SeqCst);
            if stopped {
                end = Some(Ok(()));
            } else {
                let want = sink.room(self.chunk(), room, self.buf);
                let held = sink.held;
                match reader.read(&mut self.buf[held..held + want]) {
                    Ok(0) => end = Some(Ok(())),
                    Ok(k) => n = k,
                    Err(e) => {
                        let (transient, code) = io_class(&e);
                        let at = sink.at + held as u64;
                        end = Some(Err(blame.transport(
                            transient,
                            code,
                            &format!("the transfer broke off at byte {at}: {e}"),
                        )));
                    }
                }
                if total.is_some_and(|t| sink.at + (held + n) as u64 > t) {
                    return Err(blame.remote(
                        codes::INVALID_SERVER_RESPONSE,
                        "the server sent more bytes than the file's size",
                    ));
                }
                if let Some(d) = &mut digest {
                    d.update(&self.buf[held..held + n]);
                }
                sink.add(n);
            }
            // The body's last byte, a stop or a break: everything held is written.
            let all = end.is_some() || total == Some(sink.at + sink.held as u64);
            let wrote = sink
                .flush(self.buf, file, all)
                .map_err(|e| blame.local("write temp file", &e))?;
            if n > 0 {
                self.throttle(n);
            }
            // Every byte before `sink.at` is in the file.
            let offset = sink.at;
            if wrote > 0 {
                if let Some(t) = total
                    && log.is_none()
                    && offset - start >= crashlog::AFTER
                {
                    log = self.crash_log(file, t);
                }
                if let Some(l) = &mut log {
                    l.write(&[(0, offset)], offset);
                }
                if !sink.is_direct() && offset - written_back >= WRITEBACK_STEP {
                    start_writeback(file, written_back, offset);
                    written_back = offset;
                }
                // The last read of a file: its end (`mark_done`) publishes it.
                if total != Some(offset) {
                    self.progress(offset, None);
                }
            }
            match end {
                // A stop, or a break: what was written is checkpointed.
                Some(r) if r.is_err() || stopped => {
                    self.checkpoint(file, offset, false, true);
                    return r;
                }
                Some(_) => break,
                None => {}
            }
            if offset - submitted >= opts.checkpoint_bytes
                || last.elapsed() >= opts.checkpoint_interval
            {
                self.checkpoint(file, offset, false, true);
                submitted = offset;
                last = Instant::now();
            }
        }
        let (offset, direct) = (sink.at, sink.is_direct());
        // The descriptor goes back to ordinary writes (the checkpoint and a later
        // restart use it).
        drop(sink);
        if let Some(t) = total
            && offset < t
        {
            self.checkpoint(file, offset, false, true);
            return Err(blame.transport(
                true,
                codes::CONNECTION_CLOSED,
                &format!("the connection closed at byte {offset} of {t}"),
            ));
        }
        if let (Some(d), Some(want)) = (digest, self.expected) {
            self.verify(d.finish(), want)?;
        }
        // Start writing a large file's last bytes back now: the sync that makes it count
        // as transferred (the job's end) then finds them on their way to the disk. A
        // small file (never written back on the way) is left to its batch's one sync:
        // starting each one's write-back alone cost a tenth of a thousand small files'
        // time (one I/O submission per file instead of one per batch).
        if !direct && written_back > 0 && offset > written_back {
            start_writeback(file, written_back, offset);
        }
        self.mark_done(file, offset, validator);
        Ok(())
    }

    /// Start this transfer's crash-only progress record (see `crashlog.rs`).
    pub(super) fn crash_log(&self, file: &File, total: u64) -> Option<CrashLog> {
        CrashLog::create(
            &self.ctx.table.state_dir,
            self.id,
            self.idx,
            file,
            total,
            self.validator.as_deref(),
        )
    }

    /// Wait as long as the bandwidth limits require for `n` bytes: the job's own limit
    /// (shared by all its connections) and, for a background job, the manager's.
    pub(super) fn throttle(&self, n: usize) {
        if let Some(pool) = self.pool {
            pool.limiter.set_rate(self.job_limit);
            pool.limiter.take(n, self.stop);
        }
        if self.background {
            self.ctx.limiter.take(n, self.stop);
        }
    }

    /// `sink` for a body of `left` bytes (unknown: `None`), with the read buffer made
    /// ready for it; and how much to read at once at most.
    pub(super) fn sink(&mut self, sink: direct::Sink, left: Option<u64>) -> (direct::Sink, usize) {
        if sink.is_direct() {
            self.buf.grow(direct::buffer_for(left));
            (sink, READ_BUF)
        } else {
            (sink, self.read_room(left))
        }
    }

    /// Make the read buffer ready for a body of `left` bytes (unknown: `None`) and
    /// return how much of it to use: [`READ_BUF`], or less for a smaller body. A
    /// connection's buffer grows only as far as its bodies need: zero-filling 256 KiB
    /// on each of 16 connections for 64 KiB files was a thousand page faults a run.
    pub(super) fn read_room(&mut self, left: Option<u64>) -> usize {
        let want = buffer_for(left);
        self.buf.grow(want);
        self.buf.len().min(READ_BUF)
    }

    /// How much to read at once: less under a bandwidth limit, so that the job's
    /// connections share it evenly.
    pub(super) fn chunk(&self) -> usize {
        let mut c = READ_BUF;
        if let Some(pool) = self.pool {
            pool.limiter.set_rate(self.job_limit);
            c = pool.limiter.chunk(c);
        }
        if self.background {
            c = self.ctx.limiter.chunk(c);
        }
        c
    }
}

/// The read buffer grows in steps of this size (see `read_room`).
const MIN_READ_BUF: usize = 16 * 1024;

/// The read buffer a body of `left` bytes needs (unknown: [`READ_BUF`]): one byte
/// more than the body (a read past its end is how its end shows), in steps of
/// [`MIN_READ_BUF`], at most [`READ_BUF`].
fn buffer_for(left: Option<u64>) -> usize {
    match left {
        Some(n) => usize::try_from(n)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .div_ceil(MIN_READ_BUF)
            .saturating_mul(MIN_READ_BUF)
            .min(READ_BUF),
        None => READ_BUF,
    }
}

// A kill inside one write leaves the file longer than its crash-only record by at most
// this much, which recovery accepts.
const _: () = assert!(direct::MAX_BUF as u64 <= crashlog::IN_FLIGHT);

/// Start writing back every this many new bytes, so the checkpoint syncs (and the one
/// before `complete()`) find little left to write.
pub(super) const WRITEBACK_STEP: u64 = 2 << 20;

/// Ask the kernel to start writing `[from, to)` to disk now, without waiting for it.
pub(super) fn start_writeback(file: &File, from: u64, to: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: sync_file_range on a valid descriptor; it only starts I/O.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                from as libc::off64_t,
                (to - from) as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, to);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_body_gets_a_small_buffer_and_none_more_than_read_buf() {
        assert_eq!(buffer_for(Some(0)), MIN_READ_BUF);
        assert_eq!(buffer_for(Some(64 * 1024)), 80 * 1024);
        assert_eq!(buffer_for(Some(64 * 1024 - 1)), 64 * 1024);
        assert_eq!(buffer_for(Some(1 << 30)), READ_BUF);
        assert_eq!(buffer_for(Some(u64::MAX)), READ_BUF);
        assert_eq!(buffer_for(None), READ_BUF);
    }
}
