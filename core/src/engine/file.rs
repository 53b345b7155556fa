//! `FileTransfer`: one file from its request to its checkpoints. It opens the file's
//! temporary file (only if it is the one bgcopy created), asks for the bytes it lacks
//! (Range + If-Range with the validator), decides what an answer means (a resume, a
//! restart of a changed file, a refused range), and streams the body (`stream.rs`).

use super::EngineCtx;
use super::checkpoint::Checkpoint;
use super::classify::Blame;
use super::http::{content_length, parse_content_range, range_total, scheme_of, validator_of};
use super::pool::Pool;
use crate::error::codes;
use crate::policy::Failure;
use crate::record::foreign_error;
use crate::request::security;
use crate::sys::{FileId, TempError};
use crate::types::*;
use crate::wake::Wake;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

/// Restarts of one file because its remote content changed (new validator or size)
/// before the job goes to ERROR with REMOTE_FILE_CHANGED: a server whose content
/// changes on every attempt must not make an endless download-again cycle.
pub(crate) const MAX_CHANGED_RESTARTS: u32 = 5;

/// Range answers that cannot be used, in a row, before INSUFFICIENT_RANGE_SUPPORT.
const MAX_BAD_RANGES: u32 = 3;

/// One file's transfer, with what it knows of the file (read once, under the lock).
pub(super) struct FileTransfer<'a> {
    pub(super) ctx: &'a EngineCtx,
    pub(super) id: Uuid,
    pub(super) idx: usize,
    pub(super) stop: &'a AtomicBool,
    pub(super) buf: &'a mut super::direct::Buf,
    pub(super) url: String,
    /// Restart counter: checkpoints from before a restart are void.
    pub(super) epoch: u32,
    pub(super) temp: PathBuf,
    temp_id: Option<FileId>,
    /// Bytes already in the temporary file.
    pub(super) offset: u64,
    pub(super) validator: Option<String>,
    pub(super) total: Option<u64>,
    /// Not FOREGROUND: the background bandwidth limit applies.
    pub(super) background: bool,
    /// `http`/`https` of the URL in use (after redirects).
    pub(super) proto: &'static str,
    /// What goes to the file URL's origin only (custom headers, `Authorization`), the
    /// URL of that origin, and the security flags.
    headers: Vec<(String, String)>,
    headers_origin: String,
    flags: u32,
    /// The job's proxy settings and credentials.
    proxy: crate::ProxySettings,
    creds: Vec<crate::request::Credential>,
    client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// The content's expected SHA-256 digest, checked before the file counts as
    /// transferred.
    pub(super) expected: Option<[u8; 32]>,
    /// Values no response header may show (credentials, the `Authorization` sent).
    secrets: Vec<String>,
    /// Where the bytes in the temporary file are when not the prefix `[0, offset)`.
    pub(super) parts: Option<crate::ranges::Ranges>,
    /// Connections this file may use (segmented download).
    pub(super) max_connections: usize,
    /// The connection threads of the job's round (to let others join a segmented
    /// file); `None` outside a round.
    pub(super) pool: Option<&'a Pool>,
    /// The job's bandwidth limit (B/s, 0: none), as last read.
    pub(super) job_limit: u64,
    /// This connection holds a slot of the file's host (its first connection).
    pub(super) holds_host: bool,
    /// Bytes this connection wrote since its last checkpoint, and when that was.
    pub(super) ck: (u64, std::time::Instant),
    /// The temporary file is the one this round just created, handed over open: empty,
    /// at offset 0 (no length to check, nothing to truncate).
    pub(super) fresh: bool,
}

impl<'a> FileTransfer<'a> {
    /// The transfer of file `idx` of job `id`, or `None` when it is gone.
    pub fn start(
        ctx: &'a EngineCtx,
        id: Uuid,
        idx: usize,
        stop: &'a AtomicBool,
        buf: &'a mut super::direct::Buf,
        pool: Option<&'a Pool>,
    ) -> Option<FileTransfer<'a>> {
        ctx.table
            .read_running(id, |j| {
                let f = j.files.get(idx)?;
                let headers_origin = f.auth_url.clone().unwrap_or_else(|| f.remote.clone());
                let headers = crate::request::origin_headers(
                    &j.custom_headers,
                    &j.credentials,
                    &headers_origin,
                );
                let secrets = secrets_of(j, &headers, &headers_origin);
                Some(FileTransfer {
                    ctx,
                    id,
                    idx,
                    stop,
                    buf,
                    url: f.remote.clone(),
                    epoch: f.epoch,
                    temp: f.temp_path(),
                    temp_id: f.temp_id,
                    offset: f.done_bytes,
                    validator: f.validator.clone(),
                    total: f.total,
                    background: j.priority != Priority::Foreground,
                    proto: scheme_of(&f.remote),
                    headers,
                    headers_origin,
                    flags: j.security_flags,
                    proxy: j.proxy.clone(),
                    creds: j.credentials.clone(),
                    client_cert: j.client_cert.clone(),
                    expected: f
                        .expected_hash
                        .as_deref()
                        .and_then(crate::request::sha256_bytes),
                    secrets,
                    parts: f.parts.clone(),
                    max_connections: match j.max_connections_per_file {
                        _ if f.one_stream => 1,
                        0 => ctx.opts.max_connections_per_file,
                        n => n as usize,
                    },
                    pool,
                    job_limit: j.bandwidth_limit,
                    holds_host: false,
                    ck: (0, std::time::Instant::now()),
                    fresh: false,
                })
            })
            .ok()?
    }

    /// The request for `[offset, end)` of this file (`end` None: to its end), with the
    /// job's headers, credentials, proxy and certificate.
    pub(super) fn ask(&self, offset: u64, end: Option<u64>) -> super::fetch::Ask<'_> {
        super::fetch::Ask {
            url: &self.url,
            offset,
            end,
            validator: self.validator.as_deref(),
            file: self.idx,
            headers: &self.headers,
            headers_origin: &self.headers_origin,
            flags: self.flags,
            proxy: &self.proxy,
            creds: &self.creds,
            client_cert: self.client_cert.as_ref(),
        }
    }

    /// Which file an error is about.
    pub(super) fn blame(&self) -> Blame {
        Blame {
            file: self.idx,
            protocol: Some(self.proto),
        }
    }

    /// Transfer the file to its temporary file, resuming where its checkpoint says.
    /// `Ok` when it is done or was stopped (the caller checks the stop flag).
    pub fn run(mut self) -> Result<(), Failure> {
        let Some(file) = self.open()? else {
            return Ok(());
        };
        let host = super::hosts::host_of(&self.url);
        let Some(_slot) = self.ctx.hosts.acquire(&host, self.stop) else {
            return Ok(());
        };
        self.holds_host = true;
        if self.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if self.parts.is_some() {
            if self.max_connections > 1 && self.pool.is_some() {
                return self.run_parts(&file);
            }
            self.continue_as_one_stream(&file)?;
        }
        let len = match self.fresh {
            true => 0,
            false => file
                .metadata()
                .map_err(|e| self.blame().local("stat temp file", &e))?
                .len(),
        };
        if len != self.offset {
            if len < self.offset {
                self.offset = 0;
                self.validator = None;
            }
            file.set_len(self.offset)
                .map_err(|e| self.blame().local("truncate temp file", &e))?;
        }
        if self.offset > 0 && self.total == Some(self.offset) {
            // Every byte is here (stopped just before the file was marked done).
            if let Some(want) = self.expected {
                let digest = self.hash_prefix(&file, self.offset)?;
                self.verify(digest.finish(), want)?;
            }
            let validator = self.validator.clone();
            self.mark_done(&file, self.offset, validator);
            return Ok(());
        }
        // Without a validator (strong ETag or Last-Modified) a change of the remote
        // file cannot be detected: never splice old and new bytes, fetch the whole file
        // again (the restart is recorded when the new answer arrives; its size tells
        // whether the file changed).
        let mut from_zero = None;
        if self.offset > 0 && self.validator.is_none() {
            from_zero = Some(self.total);
            self.offset = 0;
        }
        let mut bad_ranges = 0;
        loop {
            let ranged = self.offset > 0;
            let ctx = self.ctx;
            let (resp, final_url) = super::fetch::fetch(ctx, self.ask(self.offset, None))?;
            self.proto = scheme_of(&final_url);
            self.note_response(&resp, &final_url);
            if final_url != self.url
                && self.flags & security::REDIRECT_POLICY_MASK == security::REDIRECT_ALLOW_REPORT
            {
                self.report_final_url(final_url);
            }
            let status = resp.status().as_u16();
            let validator = validator_of(&resp);
            let (start, total) = match status {
                200 => {
                    let len = content_length(&resp);
                    if ranged || from_zero.is_some() {
                        // The server ignored the range, the file changed, or it has no
                        // validator: restart at 0 with this body.
                        let before = from_zero.unwrap_or(self.total);
                        let changed = self.validator.is_some() && validator != self.validator
                            || before.is_some() && len.is_some() && len != before;
                        self.restart(changed)?;
                    }
                    (0, len)
                }
                206 => {
                    let Some((first, _, size)) =
                        super::http::header(&resp, "content-range").and_then(parse_content_range)
                    else {
                        return Err(self.blame().remote(
                            codes::INVALID_SERVER_RESPONSE,
                            "206 response without a valid Content-Range",
                        ));
                    };
                    if !ranged {
                        return Err(self.blame().remote(
                            codes::INSUFFICIENT_RANGE_SUPPORT,
                            "the server sent a partial response to a request for the whole file",
                        ));
                    }
                    let changed = self.validator.is_some() && validator != self.validator
                        || self.total.is_some() && size.is_some() && size != self.total;
                    if first != self.offset || changed {
                        if !changed {
                            bad_ranges += 1;
                        }
                        self.start_over(&file, bad_ranges, changed, "answering ranges wrongly")?;
                        continue;
                    }
                    (self.offset, size.or(self.total))
                }
                416 => {
                    if self.total == Some(self.offset) || range_total(&resp) == Some(self.offset) {
                        let validator = self.validator.clone();
                        self.mark_done(&file, self.offset, validator);
                        return Ok(());
                    }
                    bad_ranges += 1;
                    self.start_over(&file, bad_ranges, false, "refusing the range")?;
                    continue;
                }
                s => return Err(self.blame().status(s, &resp)),
            };
            if total.is_some_and(|t| i64::try_from(t).is_err()) {
                return Err(self.blame().remote(
                    codes::INVALID_SERVER_RESPONSE,
                    "the server announced a size beyond 2^63 bytes",
                ));
            }
            if self.set_meta(total, validator.clone()) {
                self.mark_transferring();
            }
            if let Some(t) = total
                && self.can_split(&resp, status, start, t, validator.as_deref())
            {
                self.validator = validator;
                self.total = total;
                return self.run_split(resp, &file, start, t);
            }
            return self.stream(resp, &file, start, total, validator);
        }
    }

    /// Open the temporary file bgcopy created for this file. `None` when it vanished
    /// (the file starts over under a new name in the next round) or was never made.
    fn open(&mut self) -> Result<Option<Arc<File>>, Failure> {
        let Some(temp_id) = self.temp_id else {
            // Not created yet (the next round of the job creates it).
            return Ok(None);
        };
        if self.offset == 0
            && self.parts.is_none()
            && let Some(f) = self
                .pool
                .and_then(|p| p.take_created(self.idx, temp_id, &self.temp))
        {
            self.fresh = true;
            return Ok(Some(Arc::new(f)));
        }
        match crate::sys::open_temp(&self.temp, temp_id) {
            Ok(f) => Ok(Some(Arc::new(f))),
            Err(TempError::Foreign(what)) => {
                Err(foreign_temp(self.ctx, self.id, self.idx, &self.temp, &what))
            }
            Err(TempError::Missing) => {
                // Deleted behind our back: the file starts over under a new name.
                let (id, idx, temp) = (self.id, self.idx, &self.temp);
                super::crashlog::remove(&self.ctx.table.state_dir, id, idx);
                self.ctx.table.update(id, Wake::ENGINE, |job, store| {
                    job.files[idx].abandon_temp();
                    job.files[idx].epoch += 1;
                    let _ = store.save_file(id, idx, &job.files[idx]);
                    let _ = store.forget_temps([temp.as_path()]);
                    job.touch(now_ms());
                });
                Ok(None)
            }
            Err(TempError::Io(e)) => Err(self
                .blame()
                .local(&format!("open {}", self.temp.display()), &e)),
        }
    }

    /// The file must start over: its bytes are dropped, the restart is recorded (error
    /// count, modification) at once, and older checkpoints of it become void. When
    /// the remote file `changed` once more than [`MAX_CHANGED_RESTARTS`] allows, the
    /// job fails with REMOTE_FILE_CHANGED.
    pub(super) fn restart(&mut self, changed: bool) -> Result<(), Failure> {
        let (id, idx) = (self.id, self.idx);
        log::info!(
            target: "bgcopy::transfer",
            "job {id} file {idx}: starting the file again from byte 0 ({})",
            if changed { "the remote file changed" } else { "its bytes cannot be resumed" }
        );
        super::crashlog::remove(&self.ctx.table.state_dir, id, idx);
        let restarted = self.ctx.table.update(id, Wake::ENGINE, |job, store| {
            let f = &mut job.files[idx];
            if changed {
                f.changed_restarts = f.changed_restarts.saturating_add(1);
            }
            let too_often = f.changed_restarts > MAX_CHANGED_RESTARTS;
            let epoch = f.start_over();
            let _ = store.save_file(id, idx, f);
            job.error_count = job.error_count.saturating_add(1);
            job.touch(now_ms());
            let _ = store.save_job(job);
            (!too_often).then_some(epoch)
        });
        match restarted.flatten() {
            Some(epoch) => {
                self.epoch = epoch;
                Ok(())
            }
            None => Err(self.blame().remote(
                codes::REMOTE_FILE_CHANGED,
                &format!(
                    "the remote file changed (a new validator or size) on {} attempts in a \
                     row; resume() tries again",
                    MAX_CHANGED_RESTARTS + 1
                ),
            )),
        }
    }

    /// Start over from 0 after a range answer that can't be used (recorded as a
    /// restart); after [`MAX_BAD_RANGES`] in a row the server can't do ranges well
    /// enough: INSUFFICIENT_RANGE_SUPPORT.
    fn start_over(
        &mut self,
        file: &File,
        bad_ranges: u32,
        changed: bool,
        why: &str,
    ) -> Result<(), Failure> {
        if bad_ranges > MAX_BAD_RANGES {
            return Err(self.blame().remote(
                codes::INSUFFICIENT_RANGE_SUPPORT,
                &format!("the server keeps {why}"),
            ));
        }
        self.restart(changed)?;
        file.set_len(0)
            .map_err(|e| self.blame().local("truncate temp file", &e))?;
        self.offset = 0;
        self.validator = None;
        self.total = None;
        Ok(())
    }

    /// Keep the response's headers (`get_response_headers()`) and the URL it came from
    /// (`get_final_url()`): in memory, saved with the file's next checkpoint (or at once
    /// when the run fails), so a request costs no transaction of its own.
    pub(super) fn note_response(&self, resp: &ureq::http::Response<ureq::Body>, final_url: &str) {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let lines = crate::request::response_lines(resp.headers(), &secrets);
        let idx = self.idx;
        self.ctx.table.update_live(self.id, Wake::NONE, |job| {
            let f = &mut job.files[idx];
            f.response_headers = lines;
            if f.final_url.as_deref() != Some(final_url) {
                f.final_url = Some(final_url.to_string());
            }
        });
    }

    /// SHA-256 of the first `len` bytes of the temporary file (a resume hashes what an
    /// earlier run wrote, once, then goes on with the new bytes).
    pub(super) fn hash_prefix(
        &mut self,
        file: &File,
        len: u64,
    ) -> Result<ring::digest::Context, Failure> {
        use std::os::unix::fs::FileExt;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        self.buf.grow(1 << 20);
        let mut at = 0u64;
        while at < len {
            let want = (len - at).min(self.buf.len() as u64) as usize;
            let n = file
                .read_at(&mut self.buf[..want], at)
                .map_err(|e| self.blame().local("read temp file", &e))?;
            if n == 0 {
                break;
            }
            ctx.update(&self.buf[..n]);
            at += n as u64;
        }
        Ok(ctx)
    }

    /// The bytes' digest against the expected one: a mismatch drops the bytes (the
    /// file starts over from zero at the next `resume()`) and fails the job with
    /// VALIDATION_FAILED on this file.
    pub(super) fn verify(
        &mut self,
        got: ring::digest::Digest,
        want: [u8; 32],
    ) -> Result<(), Failure> {
        if got.as_ref() == want {
            return Ok(());
        }
        let (id, idx) = (self.id, self.idx);
        super::crashlog::remove(&self.ctx.table.state_dir, id, idx);
        if let Some(epoch) = self.ctx.table.update(id, Wake::ENGINE, |job, store| {
            let f = &mut job.files[idx];
            let epoch = f.start_over();
            let _ = store.save_file(id, idx, f);
            epoch
        }) {
            self.epoch = epoch;
        }
        Err(self.blame().remote(
            codes::VALIDATION_FAILED,
            &format!(
                "the file's sha256 is {}, not the expected {}; its bytes were dropped and \
                 resume() fetches it again",
                crate::request::to_hex(got.as_ref()),
                crate::request::to_hex(&want)
            ),
        ))
    }

    /// Redirect policy ALLOW_REPORT: the final URL becomes the file's remote name (at
    /// once, so every process sees it), and the rest of this transfer uses it.
    pub(super) fn report_final_url(&mut self, url: String) {
        let (id, idx, epoch) = (self.id, self.idx, self.epoch);
        self.ctx.table.update(id, Wake::ENGINE, |job, store| {
            let f = &mut job.files[idx];
            if f.epoch == epoch {
                // The job's headers and credentials stay with the origin the app chose.
                if f.auth_url.is_none() && !crate::request::same_origin(&f.remote, &url) {
                    f.auth_url = Some(f.remote.clone());
                }
                f.remote = url.clone();
                let _ = store.save_file(id, idx, f);
                job.touch(now_ms());
                let _ = store.save_job(job);
            }
        });
        self.url = url;
    }

    /// The size and validator the server gave (made durable with the next checkpoint).
    /// `true` while the job is still CONNECTING (see [`FileTransfer::mark_transferring`]):
    /// read under the same lock, so the other files pay for no second look.
    pub(super) fn set_meta(&self, total: Option<u64>, validator: Option<String>) -> bool {
        let idx = self.idx;
        // Nobody waits for a file's size: only a callback of this process hears it.
        self.ctx
            .table
            .update_live(self.id, Wake::NOTIFIER, |job| {
                let f = &mut job.files[idx];
                if f.total != total || f.validator != validator {
                    f.total = total;
                    f.validator = validator;
                    job.touch(now_ms());
                }
                job.state == JobState::Connecting && job.run.is_some()
            })
            .unwrap_or(false)
    }

    pub(super) fn mark_transferring(&self) {
        // Only the job's first file changes the state: the others must not pay for a
        // write transaction (nor carry the journal entries waiting for the next
        // checkpoint into a commit of their own).
        let first = self.ctx.table.update_live(self.id, Wake::NONE, |job| {
            job.state == JobState::Connecting && job.run.is_some()
        });
        if first != Some(true) {
            return;
        }
        self.ctx.table.update(self.id, Wake::ENGINE, |job, store| {
            if job.state == JobState::Connecting && job.run.is_some() {
                job.set_state(JobState::Transferring, now_ms());
                // Every process sees it.
                let _ = store.save_job(job);
            }
        });
    }

    /// Every byte is in the temporary file: the file is done (recorded once synced).
    pub(super) fn mark_done(&self, file: &Arc<File>, size: u64, validator: Option<String>) {
        let (idx, epoch) = (self.idx, self.epoch);
        // A file's end changes no job state (waiters sleep on): only a callback of this
        // process hears it.
        let live = self.ctx.table.update_live(self.id, Wake::NOTIFIER, |job| {
            let f = &mut job.files[idx];
            if f.epoch != epoch {
                return false;
            }
            f.done_bytes = size;
            f.total = Some(size);
            f.validator = validator;
            f.done = true;
            f.changed_restarts = 0;
            job.notify.files.push(idx);
            job.made_progress();
            let now = now_ms();
            job.touch(now);
            job.record(EventKind::FileTransferred, now, Some(idx));
            true
        });
        if live == Some(true) {
            // A large file's end is recorded at once (its crash-only record goes now);
            // small files' ends are batched.
            let large = size >= super::crashlog::AFTER;
            self.checkpoint(file, size, true, large);
            if large {
                super::crashlog::remove(&self.ctx.table.state_dir, self.id, idx);
            }
        }
    }

    /// Ask the checkpointer to make `offset` durable.
    pub(super) fn checkpoint(&self, file: &Arc<File>, offset: u64, done: bool, urgent: bool) {
        self.ctx.checkpoints.submit(
            Checkpoint {
                job: self.id,
                idx: self.idx,
                epoch: self.epoch,
                offset,
                parts: None,
                done,
                file: file.clone(),
            },
            urgent,
        );
    }

    /// Live progress (not yet durable): `bytes` in the temporary file, at `parts` when
    /// they are not the prefix `[0, bytes)`, for this epoch only; wakes the notifier
    /// only when someone listens. Reads the job's bandwidth limit on the way (it may
    /// change while bytes move).
    pub(super) fn progress(&mut self, bytes: u64, parts: Option<crate::ranges::Ranges>) {
        let idx = self.idx;
        let epoch = self.epoch;
        let seen = self.ctx.table.update_live(self.id, Wake::NONE, |job| {
            let f = &mut job.files[idx];
            if f.epoch == epoch && !f.done {
                f.parts = parts;
                f.done_bytes = bytes;
                job.made_progress();
                job.touch(now_ms());
            }
            (job.listens_for_modifications(), job.bandwidth_limit)
        });
        if let Some((listening, limit)) = seen {
            self.job_limit = limit;
            if listening {
                self.ctx.table.wake(Wake::NOTIFIER);
            }
        }
    }
}

/// Something bgcopy did not create is at file `idx`'s temporary path: never followed
/// or written; the file moves to a fresh name (so `resume()` works) and the job fails
/// with ACCESS_DENIED on it.
pub(super) fn foreign_temp(
    ctx: &EngineCtx,
    id: Uuid,
    idx: usize,
    path: &Path,
    what: &str,
) -> Failure {
    super::crashlog::remove(&ctx.table.state_dir, id, idx);
    ctx.table.update(id, Wake::ENGINE, |job, store| {
        job.files[idx].abandon_temp();
        let _ = store.save_file(id, idx, &job.files[idx]);
        let _ = store.forget_temps([path]);
        job.touch(now_ms());
    });
    Failure {
        error: foreign_error(idx, what),
        transient: false,
        retry_after: None,
    }
}

/// What no response header shown to the app may contain: the job's credential secrets,
/// every header value it sends to `url`'s origin (custom ones, the `Authorization`),
/// and the password of `url`'s userinfo.
fn secrets_of(j: &crate::record::JobRec, headers: &[(String, String)], url: &str) -> Vec<String> {
    let mut out: Vec<String> = j.credentials.iter().map(|c| c.secret.clone()).collect();
    out.extend(headers.iter().map(|(_, v)| v.clone()));
    if url.contains('@')
        && let Ok(u) = url::Url::parse(url)
        && let Some(p) = u.password()
    {
        out.push(
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned(),
        );
    }
    out.retain(|s| s.len() >= 4);
    out
}
