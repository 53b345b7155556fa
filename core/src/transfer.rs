//! The HTTP transfer engine: one `bgcopy-job` thread per running job, which runs up to
//! `connections_per_job` files at once on scoped threads over the agent's keep-alive
//! pool. Bytes go to the file's hidden temporary file in large writes; a checkpoint is
//! submitted to the checkpointer (`durable.rs`: sync, then record offset and validator)
//! at least every `checkpoint_bytes` or `checkpoint_interval`, at the end of each file,
//! and whenever a transfer stops or fails.

use crate::durable::Checkpoint;
use crate::error::{Error, codes};
use crate::manager::{ManagerOptions, Shared};
use crate::model::ErrorRec;
use crate::model::{set_state, touch};
use crate::types::*;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ureq::http::Response;
use uuid::Uuid;

/// How a job's run ended.
pub(crate) enum Outcome {
    /// Every file is transferred.
    Done,
    /// Stopped from outside (suspend, pre-emption, close, cancel, complete).
    Stopped,
    /// An error; `transient` ones are retried.
    Failed(Failure),
}

/// A transfer error with its retry policy.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: ErrorRec,
    pub transient: bool,
    /// Seconds from a Retry-After header.
    pub retry_after: Option<u64>,
}

/// `Ok` when the file is done or its transfer was stopped (the caller checks the stop
/// flag either way), `Err` on failure.
type FileResult = Result<(), Failure>;

fn failure(
    transient: bool,
    context: ErrorContext,
    code: u32,
    description: String,
    file: usize,
    protocol: Option<&str>,
) -> Failure {
    Failure {
        error: ErrorRec {
            context,
            code,
            description: crate::urls::redact_text(&description).into_owned(),
            file: Some(file),
            protocol: protocol.map(str::to_string),
        },
        transient,
        retry_after: None,
    }
}

/// The HTTP agent every transfer of a manager shares (its connection pool).
pub(crate) fn make_agent(opts: &ManagerOptions) -> crate::Result<ureq::Agent> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(paths) = &opts.tls_root_certs {
        let mut certs = Vec::new();
        for p in paths {
            let pem = std::fs::read(p)
                .map_err(|e| Error::from_io(&format!("read {}", p.display()), &e))?;
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(Error::invalid_arg(format!(
                            "{} is not a PEM certificate file: {e}",
                            p.display()
                        )));
                    }
                }
            }
        }
        if certs.is_empty() {
            return Err(Error::invalid_arg("tls_root_certs holds no certificate"));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let pool = (opts.connections_per_job * opts.background_slots.max(1) * 2).max(16);
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(opts.user_agent.as_str())
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_recv_response(Some(opts.read_timeout))
        .timeout_per_read(Some(opts.read_timeout))
        .timeout_send_request(Some(opts.read_timeout))
        .max_idle_connections(pool)
        .max_idle_connections_per_host(pool)
        .input_buffer_size(256 * 1024)
        .tls_config(tls.build())
        .build();
    Ok(config.into())
}

/// A token bucket shared by background transfers.
pub(crate) struct RateLimiter {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(bytes_per_second: u64) -> Self {
        RateLimiter {
            rate: bytes_per_second.max(1) as f64,
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    /// Account for `n` bytes, sleeping as long as the budget requires.
    pub fn take(&self, n: usize) {
        let wait = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let burst = (self.rate / 4.0).max(16384.0);
            s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(burst);
            s.1 = now;
            s.0 -= n as f64;
            if s.0 < 0.0 { -s.0 / self.rate } else { 0.0 }
        };
        if wait > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(wait));
        }
    }
}

/// Body of a `bgcopy-job` thread.
pub(crate) fn run_job(shared: Arc<Shared>, id: Uuid, generation: u64, stop: Arc<AtomicBool>) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_files(&shared, id, &stop)
    }))
    .unwrap_or_else(|_| {
        Outcome::Failed(Failure {
            error: ErrorRec::general(
                ErrorContext::Unknown,
                codes::E_UNEXPECTED,
                "internal error in the transfer engine (a panic)",
            ),
            transient: false,
            retry_after: None,
        })
    });
    shared.finish(id, generation, outcome);
    cleanup_if_final(&shared, id);
}

/// A worker may have recreated a temp file of a job that became final meanwhile.
fn cleanup_if_final(shared: &Shared, id: Uuid) {
    let temps = {
        let g = shared.lock();
        match g.jobs.get(&id) {
            Some(j) if j.state.is_final() => j.unfinished_temps(),
            _ => Vec::new(),
        }
    };
    shared.remove_temps(temps);
}

/// Create the temporary files of the job's pending files that have none yet
/// (`O_CREAT|O_EXCL|O_NOFOLLOW`, 0600) and record their identities in the store's
/// ledger in one transaction, before any byte is written to them.
fn prepare_temps(shared: &Shared, id: Uuid) -> Result<(), Failure> {
    let wanted: Vec<(usize, PathBuf, String)> = {
        let g = shared.lock();
        match g.jobs.get(&id) {
            Some(j) if !j.state.is_final() => j
                .files
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.done && f.temp_id.is_none())
                .map(|(i, f)| (i, f.temp_path(), f.temp_name.clone()))
                .collect(),
            _ => return Ok(()),
        }
    };
    if wanted.is_empty() {
        return Ok(());
    }
    let mut created = Vec::with_capacity(wanted.len());
    let mut failed = None;
    for (idx, path, name) in wanted {
        match crate::sys::create_temp(&path) {
            Ok((_, fid)) => created.push((idx, path, name, fid)),
            Err(e) => {
                failed = Some((idx, path, e));
                break;
            }
        }
    }
    let mut g = shared.lock();
    let inner = &mut *g;
    let live = inner.jobs.get_mut(&id).filter(|j| !j.state.is_final());
    let recorded = match live {
        Some(job) => {
            // Only files still waiting for this very name take it.
            created.retain(|(idx, path, name, fid)| {
                let keep = job.files[*idx].temp_name == *name && job.files[*idx].temp_id.is_none();
                if !keep {
                    let _ = crate::sys::remove_ours(path, *fid);
                }
                keep
            });
            let entries: Vec<_> = created
                .iter()
                .map(|(_, p, _, fid)| (p.clone(), *fid))
                .collect();
            match inner.store.atomic(|s| s.record_temps(&entries)) {
                Ok(()) => {
                    for (idx, _, _, fid) in &created {
                        job.files[*idx].temp_id = Some(*fid);
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        None => Err(Error::invalid_state("the job ended")),
    };
    if let Err(e) = recorded {
        drop(g);
        for (_, path, _, fid) in &created {
            let _ = crate::sys::remove_ours(path, *fid);
        }
        if e.code() == codes::INVALID_STATE {
            return Ok(());
        }
        return Err(store_failure(&e));
    }
    drop(g);
    match failed {
        None => Ok(()),
        Some((idx, path, crate::sys::TempError::Foreign(what))) => {
            Err(foreign_temp(shared, id, idx, &path, &what))
        }
        Some((idx, _, crate::sys::TempError::Missing)) => Err(local_failure(
            idx,
            "create the temporary file",
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        )),
        Some((idx, path, crate::sys::TempError::Io(e))) => Err(local_failure(
            idx,
            &format!("create {}", path.display()),
            &e,
        )),
    }
}

/// Something bgcopy did not create is at file `idx`'s temporary path: never followed
/// or written; the file moves to a fresh name (so `resume()` works) and the job fails
/// with ACCESS_DENIED on it.
fn foreign_temp(
    shared: &Shared,
    id: Uuid,
    idx: usize,
    path: &std::path::Path,
    what: &str,
) -> Failure {
    with_job(shared, id, |job, store| {
        job.files[idx].abandon_temp();
        let _ = store.save_file(id, idx, &job.files[idx]);
        let _ = store.forget_temps([path]);
        touch(job, now_ms());
    });
    Failure {
        error: crate::recovery::foreign_error(idx, what),
        transient: false,
        retry_after: None,
    }
}

/// The job store could not record something the transfer needs: TRANSIENT_ERROR with
/// the store's code (DISK_FULL, IO_ERROR, …), retried like a network error.
pub(crate) fn store_failure(e: &Error) -> Failure {
    Failure {
        error: ErrorRec::general(
            ErrorContext::GeneralQueueManager,
            e.code(),
            format!(
                "the job store could not record the transfer: {}",
                e.message()
            ),
        ),
        transient: true,
        retry_after: None,
    }
}

fn run_files(shared: &Arc<Shared>, id: Uuid, stop: &AtomicBool) -> Outcome {
    loop {
        let pending = {
            let g = shared.lock();
            match g.jobs.get(&id) {
                Some(j) => j.files.iter().filter(|f| !f.done).count(),
                None => return Outcome::Stopped,
            }
        };
        if stop.load(Ordering::SeqCst) {
            return Outcome::Stopped;
        }
        if pending == 0 {
            return Outcome::Done;
        }
        if let Err(f) = prepare_temps(shared, id) {
            return Outcome::Failed(f);
        }
        let taken = Mutex::new(HashSet::new());
        let first_error: Mutex<Option<Failure>> = Mutex::new(None);
        let halt = AtomicBool::new(false);
        let worker = || {
            let mut buf = Vec::new();
            loop {
                if stop.load(Ordering::SeqCst) || halt.load(Ordering::SeqCst) {
                    return;
                }
                let next = {
                    let g = shared.lock();
                    let mut t = taken.lock().unwrap_or_else(|p| p.into_inner());
                    let idx = g.jobs.get(&id).and_then(|j| {
                        (0..j.files.len()).find(|i| !j.files[*i].done && !t.contains(i))
                    });
                    if let Some(i) = idx {
                        t.insert(i);
                    }
                    idx
                };
                let Some(idx) = next else { return };
                match transfer_file(shared, id, idx, stop, &mut buf) {
                    Ok(()) => {}
                    Err(f) => {
                        halt.store(true, Ordering::SeqCst);
                        let mut e = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        if e.is_none() {
                            *e = Some(f);
                        }
                        return;
                    }
                }
            }
        };
        let threads = pending.min(shared.opts.connections_per_job).max(1);
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(worker);
            }
            worker();
        });
        if let Some(f) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Outcome::Failed(f);
        }
    }
}

/// What the worker needs to know about a file, read under the lock.
struct FileJob {
    url: String,
    epoch: u32,
    temp: PathBuf,
    temp_id: Option<crate::sys::FileId>,
    offset: u64,
    validator: Option<String>,
    total: Option<u64>,
    background: bool,
}

fn snapshot(shared: &Shared, id: Uuid, idx: usize) -> Option<FileJob> {
    let g = shared.lock();
    let j = g.jobs.get(&id)?;
    let f = j.files.get(idx)?;
    Some(FileJob {
        url: f.remote.clone(),
        epoch: f.epoch,
        temp: f.temp_path(),
        temp_id: f.temp_id,
        offset: f.done_bytes,
        validator: f.validator.clone(),
        total: f.total,
        background: j.priority != Priority::Foreground,
    })
}

fn scheme_of(url: &str) -> &'static str {
    if url.len() >= 8 && url[..8].eq_ignore_ascii_case("https://") {
        "https"
    } else {
        "http"
    }
}

/// Transfer one file to its temp file, resuming where its checkpoint says.
fn transfer_file(
    shared: &Shared,
    id: Uuid,
    idx: usize,
    stop: &AtomicBool,
    buf: &mut Vec<u8>,
) -> FileResult {
    let Some(mut fj) = snapshot(shared, id, idx) else {
        return Ok(());
    };
    let proto = Some(scheme_of(&fj.url));
    let local_err = |what: &str, e: std::io::Error| local_failure(idx, what, &e);
    let Some(temp_id) = fj.temp_id else {
        // Not created yet (the next round of the job creates it).
        return Ok(());
    };
    let file = match crate::sys::open_temp(&fj.temp, temp_id) {
        Ok(f) => Arc::new(f),
        Err(crate::sys::TempError::Foreign(what)) => {
            return Err(foreign_temp(shared, id, idx, &fj.temp, &what));
        }
        Err(crate::sys::TempError::Missing) => {
            // Deleted behind our back: the file starts over under a new name.
            with_job(shared, id, |job, store| {
                job.files[idx].abandon_temp();
                job.files[idx].epoch += 1;
                let _ = store.save_file(id, idx, &job.files[idx]);
                let _ = store.forget_temps([fj.temp.as_path()]);
                touch(job, now_ms());
            });
            return Ok(());
        }
        Err(crate::sys::TempError::Io(e)) => {
            return Err(local_err(&format!("open {}", fj.temp.display()), e));
        }
    };
    if stop.load(Ordering::SeqCst) {
        return Ok(());
    }
    let len = file
        .metadata()
        .map_err(|e| local_err("stat temp file", e))?
        .len();
    if len != fj.offset {
        if len < fj.offset {
            fj.offset = 0;
            fj.validator = None;
        }
        file.set_len(fj.offset)
            .map_err(|e| local_err("truncate temp file", e))?;
    }
    if fj.offset > 0 && fj.total == Some(fj.offset) {
        // Every byte is here (stopped just before the file was marked done).
        mark_done(
            shared,
            id,
            idx,
            fj.epoch,
            &file,
            fj.offset,
            fj.validator.clone(),
        );
        return Ok(());
    }
    // Without a validator (strong ETag or Last-Modified) a change of the remote file
    // cannot be detected: never splice old and new bytes, fetch the whole file again
    // (the restart is recorded when the new answer arrives; its size tells whether
    // the file changed).
    let mut from_zero = None;
    if fj.offset > 0 && fj.validator.is_none() {
        from_zero = Some(fj.total);
        fj.offset = 0;
    }
    let mut restarts = 0;
    loop {
        let ranged = fj.offset > 0;
        let (resp, final_url) = fetch(shared, &fj, idx)?;
        let proto = Some(scheme_of(&final_url)).or(proto);
        let status = resp.status().as_u16();
        let validator = validator_of(&resp);
        let start;
        let total;
        match status {
            200 => {
                let len = content_length(&resp);
                if ranged || from_zero.is_some() {
                    // The server ignored the range, the file changed, or it has no
                    // validator: restart at 0 with this body.
                    let before = from_zero.unwrap_or(fj.total);
                    let changed = fj.validator.is_some() && validator != fj.validator
                        || before.is_some() && len.is_some() && len != before;
                    fj.epoch = restart_file(shared, id, idx, changed)
                        .ok_or_else(|| changed_too_often(idx, proto))?;
                }
                start = 0;
                total = len;
            }
            206 => {
                let cr = resp
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_content_range);
                let Some((first, _last, size)) = cr else {
                    return Err(failure(
                        false,
                        ErrorContext::RemoteFile,
                        codes::INVALID_SERVER_RESPONSE,
                        "206 response without a valid Content-Range".into(),
                        idx,
                        proto,
                    ));
                };
                if !ranged {
                    return Err(failure(
                        false,
                        ErrorContext::RemoteFile,
                        codes::INSUFFICIENT_RANGE_SUPPORT,
                        "the server sent a partial response to a request for the whole file".into(),
                        idx,
                        proto,
                    ));
                }
                let changed = fj.validator.is_some() && validator != fj.validator
                    || fj.total.is_some() && size.is_some() && size != fj.total;
                if first != fj.offset || changed {
                    if !changed {
                        restarts += 1;
                    }
                    start_over(
                        shared,
                        id,
                        idx,
                        &mut fj,
                        &file,
                        restarts,
                        changed,
                        proto,
                        "answering ranges wrongly",
                    )?;
                    continue;
                }
                start = fj.offset;
                total = size.or(fj.total);
            }
            416 => {
                if fj.total == Some(fj.offset) || range_total(&resp) == Some(fj.offset) {
                    mark_done(
                        shared,
                        id,
                        idx,
                        fj.epoch,
                        &file,
                        fj.offset,
                        fj.validator.clone(),
                    );
                    return Ok(());
                }
                restarts += 1;
                start_over(
                    shared,
                    id,
                    idx,
                    &mut fj,
                    &file,
                    restarts,
                    false,
                    proto,
                    "refusing the range",
                )?;
                continue;
            }
            s => return Err(status_failure(s, &resp, idx, proto)),
        }
        set_file_meta(shared, id, idx, total, validator.clone());
        mark_transferring(shared, id);
        return stream_body(
            shared,
            id,
            idx,
            fj.epoch,
            stop,
            resp,
            &file,
            start,
            total,
            validator,
            fj.background,
            buf,
            proto,
        );
    }
}

/// An error of the local file system.
fn local_failure(idx: usize, what: &str, e: &std::io::Error) -> Failure {
    let err = Error::from_io(what, e);
    failure(
        false,
        ErrorContext::LocalFile,
        err.code(),
        err.message().to_string(),
        idx,
        None,
    )
}

/// Start file `idx` over from 0 after a range answer that can't be used (recorded as a
/// restart); after more than 3 in a row the server can't do ranges well enough:
/// INSUFFICIENT_RANGE_SUPPORT.
#[allow(clippy::too_many_arguments)]
fn start_over(
    shared: &Shared,
    id: Uuid,
    idx: usize,
    fj: &mut FileJob,
    file: &File,
    restarts: u32,
    changed: bool,
    proto: Option<&str>,
    why: &str,
) -> Result<(), Failure> {
    if restarts > 3 {
        return Err(failure(
            false,
            ErrorContext::RemoteFile,
            codes::INSUFFICIENT_RANGE_SUPPORT,
            format!("the server keeps {why}"),
            idx,
            proto,
        ));
    }
    fj.epoch =
        restart_file(shared, id, idx, changed).ok_or_else(|| changed_too_often(idx, proto))?;
    file.set_len(0)
        .map_err(|e| local_failure(idx, "truncate temp file", &e))?;
    fj.offset = 0;
    fj.validator = None;
    fj.total = None;
    Ok(())
}

fn status_failure(s: u16, resp: &Response<ureq::Body>, idx: usize, proto: Option<&str>) -> Failure {
    let transient = s == 408 || s == 429 || (500..600).contains(&s) && s != 501 && s != 505;
    let code = if (100..1000).contains(&s) {
        codes::http(s)
    } else {
        codes::INVALID_SERVER_RESPONSE
    };
    let reason = resp
        .status()
        .canonical_reason()
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    let mut f = failure(
        transient,
        ErrorContext::RemoteFile,
        code,
        format!("the server answered HTTP {s}{reason}"),
        idx,
        proto,
    );
    f.retry_after =
        header(resp, "retry-after").and_then(|v| crate::policy::parse_retry_after(v, now_ms()));
    f
}

/// GET the file (with Range/If-Range when resuming), following redirects ourselves.
fn fetch(
    shared: &Shared,
    fj: &FileJob,
    idx: usize,
) -> Result<(Response<ureq::Body>, String), Failure> {
    let opts = &shared.opts;
    let mut url = fj.url.clone();
    let mut seen = HashSet::new();
    for _ in 0..=opts.max_redirects {
        let proto = Some(scheme_of(&url));
        let redirect_fail = |msg: String| {
            failure(
                false,
                ErrorContext::RemoteFile,
                codes::REDIRECT_FAILED,
                msg,
                idx,
                proto,
            )
        };
        if !seen.insert(url.clone()) {
            return Err(redirect_fail(format!("redirect loop at {url}")));
        }
        let mut req = shared.agent.get(&url);
        if fj.offset > 0 {
            req = req.header("Range", format!("bytes={}-", fj.offset));
            if let Some(v) = &fj.validator {
                req = req.header("If-Range", v);
            }
        }
        let resp = req.call().map_err(|e| transport_failure(e, idx, proto))?;
        let status = resp.status().as_u16();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let loc = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| redirect_fail(format!("HTTP {status} without a Location")))?;
            let next = crate::urls::resolve_location(&url, loc)
                .map_err(|why| redirect_fail(format!("refused a redirect to {why}")))?;
            let next_scheme = next.scheme().to_string();
            let next = String::from(next);
            if scheme_of(&url) == "https"
                && next_scheme == "http"
                && !opts.allow_https_to_http_redirect
            {
                return Err(redirect_fail(format!(
                    "refused a redirect from https to http ({next})"
                )));
            }
            url = next;
            continue;
        }
        return Ok((resp, url));
    }
    Err(failure(
        false,
        ErrorContext::RemoteFile,
        codes::REDIRECT_FAILED,
        format!("more than {} redirects", opts.max_redirects),
        idx,
        Some(scheme_of(&url)),
    ))
}

fn transport_failure(e: ureq::Error, idx: usize, proto: Option<&str>) -> Failure {
    use ureq::Error as E;
    let msg = e.to_string();
    let (transient, code) = match &e {
        E::Timeout(_) => (true, codes::TIMEOUT),
        E::HostNotFound => (true, codes::NAME_NOT_RESOLVED),
        E::ConnectionFailed => (true, codes::CONNECT_FAILURE),
        E::Io(io) => io_class(io),
        E::Tls(_) | E::Pem(_) | E::Rustls(_) => (false, codes::SECURE_FAILURE),
        E::Protocol(_)
        | E::BodyStalled
        | E::LargeResponseHeader(..)
        | E::BodyExceedsLimit(_)
        | E::TooManyRedirects => (true, codes::INVALID_SERVER_RESPONSE),
        E::BadUri(_) | E::Http(_) => (false, codes::E_INVALIDARG),
        _ => (true, codes::CONNECT_FAILURE),
    };
    failure(
        transient,
        ErrorContext::GeneralTransport,
        code,
        msg,
        idx,
        proto,
    )
}

/// Transient or not, and the code, of an I/O error from the connection. TLS failures
/// arrive wrapped in I/O errors: certificate and handshake refusals are fatal.
fn io_class(e: &std::io::Error) -> (bool, u32) {
    if let Some(inner) = e.get_ref() {
        if let Some(u) = inner.downcast_ref::<ureq::Error>() {
            return match u {
                ureq::Error::Io(io) => io_class(io),
                ureq::Error::Timeout(_) => (true, codes::TIMEOUT),
                _ => (true, codes::CONNECTION_CLOSED),
            };
        }
        if let Some(t) = inner.downcast_ref::<rustls::Error>() {
            let fatal = matches!(
                t,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::PeerIncompatible(_)
                    | rustls::Error::AlertReceived(_)
            );
            return (!fatal, codes::SECURE_FAILURE);
        }
    }
    (true, io_code(e))
}

fn io_code(e: &std::io::Error) -> u32 {
    use std::io::ErrorKind as K;
    // The standard library's resolver failure (getaddrinfo) has no kind of its own.
    if e.to_string()
        .starts_with("failed to lookup address information")
    {
        return codes::NAME_NOT_RESOLVED;
    }
    match e.kind() {
        K::TimedOut | K::WouldBlock => codes::TIMEOUT,
        K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
            codes::CONNECT_FAILURE
        }
        _ => codes::CONNECTION_CLOSED,
    }
}

fn header<'a>(resp: &'a Response<ureq::Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Strong ETag, else Last-Modified.
fn validator_of(resp: &Response<ureq::Body>) -> Option<String> {
    if let Some(etag) = header(resp, "etag").map(str::trim)
        && !etag.starts_with("W/")
        && !etag.is_empty()
    {
        return Some(etag.to_string());
    }
    header(resp, "last-modified")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn content_length(resp: &Response<ureq::Body>) -> Option<u64> {
    if header(resp, "transfer-encoding").is_some() {
        return None;
    }
    header(resp, "content-length").and_then(|v| v.trim().parse().ok())
}

/// `bytes a-b/total` (total may be `*`).
fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.trim().split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    if b < a {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((a, b, total))
}

/// The size in a 416's `Content-Range: bytes */size`.
fn range_total(resp: &Response<ureq::Body>) -> Option<u64> {
    header(resp, "content-range")?
        .trim()
        .strip_prefix("bytes */")?
        .trim()
        .parse()
        .ok()
}

/// Change a live job; wakes waiters and the notifier (not the scheduler: nothing here
/// changes what should run).
fn with_job<R: Default>(
    shared: &Shared,
    id: Uuid,
    f: impl FnOnce(&mut crate::model::JobRec, &crate::store::Store) -> R,
) -> R {
    let r = {
        let mut g = shared.lock();
        let inner = &mut *g;
        match inner.jobs.get_mut(&id) {
            Some(job) if !job.state.is_final() => f(job, &inner.store),
            _ => R::default(),
        }
    };
    shared.changed.notify_all();
    shared.notify_wake.notify_one();
    r
}

/// Restarts of one file because its remote content changed (new validator or size)
/// before the job goes to ERROR with REMOTE_FILE_CHANGED: a server whose content
/// changes on every attempt must not make an endless download-again cycle.
pub(crate) const MAX_CHANGED_RESTARTS: u32 = 5;

/// The file must start over: its bytes are dropped, the restart is recorded (error
/// count, modification) at once, and older checkpoints of it become void. Returns the
/// new epoch, or `None` when the remote file `changed` once more than
/// [`MAX_CHANGED_RESTARTS`] allows.
fn restart_file(shared: &Shared, id: Uuid, idx: usize, changed: bool) -> Option<u32> {
    with_job(shared, id, |job, store| {
        let f = &mut job.files[idx];
        if changed {
            f.changed_restarts = f.changed_restarts.saturating_add(1);
        }
        let too_often = f.changed_restarts > MAX_CHANGED_RESTARTS;
        f.reset();
        f.epoch += 1;
        let epoch = f.epoch;
        let _ = store.save_file(id, idx, f);
        job.error_count = job.error_count.saturating_add(1);
        touch(job, now_ms());
        let _ = store.save_job(job);
        (!too_often).then_some(epoch)
    })
}

/// The remote file changed more than [`MAX_CHANGED_RESTARTS`] times in a row.
fn changed_too_often(idx: usize, proto: Option<&str>) -> Failure {
    failure(
        false,
        ErrorContext::RemoteFile,
        codes::REMOTE_FILE_CHANGED,
        format!(
            "the remote file changed (a new validator or size) on {} attempts in a row; \
             resume() tries again",
            MAX_CHANGED_RESTARTS + 1
        ),
        idx,
        proto,
    )
}

fn set_file_meta(
    shared: &Shared,
    id: Uuid,
    idx: usize,
    total: Option<u64>,
    validator: Option<String>,
) {
    with_job(shared, id, |job, _| {
        let f = &mut job.files[idx];
        // Made durable with the file's next checkpoint.
        if f.total != total || f.validator != validator {
            f.total = total;
            f.validator = validator;
            touch(job, now_ms());
        }
    });
}

fn mark_transferring(shared: &Shared, id: Uuid) {
    with_job(shared, id, |job, _| {
        if job.state == JobState::Connecting && job.run.is_some() {
            set_state(job, JobState::Transferring, now_ms());
        }
    });
}

fn mark_done(
    shared: &Shared,
    id: Uuid,
    idx: usize,
    epoch: u32,
    file: &Arc<File>,
    size: u64,
    validator: Option<String>,
) {
    let live = with_job(shared, id, |job, _| {
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
        touch(job, now_ms());
        true
    });
    if live {
        checkpoint(shared, id, idx, epoch, file, size, true, false);
    }
}

/// Ask the checkpointer to make `offset` durable.
#[allow(clippy::too_many_arguments)]
fn checkpoint(
    shared: &Shared,
    id: Uuid,
    idx: usize,
    epoch: u32,
    file: &Arc<File>,
    offset: u64,
    done: bool,
    urgent: bool,
) {
    shared.checkpoints.submit(
        Checkpoint {
            job: id,
            idx,
            epoch,
            offset,
            done,
            file: file.clone(),
        },
        urgent,
    );
}

/// Live progress (not yet durable).
fn progress(shared: &Shared, id: Uuid, idx: usize, offset: u64) {
    let mut listening = false;
    let mut g = shared.lock();
    if let Some(job) = g.jobs.get_mut(&id)
        && !job.state.is_final()
    {
        job.files[idx].done_bytes = offset;
        job.made_progress();
        touch(job, now_ms());
        listening = job.callback.is_some()
            && job.notify_flags & notify::JOB_MODIFICATION != 0
            && job.notify_flags & notify::DISABLE == 0;
    }
    drop(g);
    // Wake the notifier only when someone listens for modifications.
    if listening {
        shared.notify_wake.notify_one();
    }
}

#[allow(clippy::too_many_arguments)]
fn stream_body(
    shared: &Shared,
    id: Uuid,
    idx: usize,
    epoch: u32,
    stop: &AtomicBool,
    resp: Response<ureq::Body>,
    file: &Arc<File>,
    start: u64,
    total: Option<u64>,
    validator: Option<String>,
    background: bool,
    buf: &mut Vec<u8>,
    proto: Option<&str>,
) -> FileResult {
    let local_err = |what: &str, e: std::io::Error| local_failure(idx, what, &e);
    let mut out: &File = file;
    out.seek(SeekFrom::Start(start))
        .map_err(|e| local_err("seek temp file", e))?;
    if start == 0 {
        file.set_len(0)
            .map_err(|e| local_err("truncate temp file", e))?;
    }
    let mut reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
    if buf.len() != READ_BUF {
        buf.resize(READ_BUF, 0);
    }
    let opts = &shared.opts;
    let mut offset = start;
    let mut submitted = start;
    let mut written_back = start;
    let mut last = Instant::now();
    let save = |offset: u64| checkpoint(shared, id, idx, epoch, file, offset, false, true);
    loop {
        if stop.load(Ordering::SeqCst) {
            save(offset);
            return Ok(());
        }
        let n = match reader.read(buf) {
            Ok(n) => n,
            Err(e) => {
                save(offset);
                let (transient, code) = io_class(&e);
                return Err(failure(
                    transient,
                    ErrorContext::GeneralTransport,
                    code,
                    format!("the transfer broke off at byte {offset}: {e}"),
                    idx,
                    proto,
                ));
            }
        };
        if n == 0 {
            break;
        }
        if total.is_some_and(|t| offset + n as u64 > t) {
            return Err(failure(
                false,
                ErrorContext::RemoteFile,
                codes::INVALID_SERVER_RESPONSE,
                "the server sent more bytes than the file's size".into(),
                idx,
                proto,
            ));
        }
        out.write_all(&buf[..n])
            .map_err(|e| local_err("write temp file", e))?;
        offset += n as u64;
        if offset - written_back >= WRITEBACK_STEP {
            start_writeback(file, written_back, offset);
            written_back = offset;
        }
        progress(shared, id, idx, offset);
        if background && let Some(l) = &shared.limiter {
            l.take(n);
        }
        if offset - submitted >= opts.checkpoint_bytes || last.elapsed() >= opts.checkpoint_interval
        {
            save(offset);
            submitted = offset;
            last = Instant::now();
        }
    }
    if let Some(t) = total
        && offset < t
    {
        save(offset);
        return Err(failure(
            true,
            ErrorContext::GeneralTransport,
            codes::CONNECTION_CLOSED,
            format!("the connection closed at byte {offset} of {t}"),
            idx,
            proto,
        ));
    }
    mark_done(shared, id, idx, epoch, file, offset, validator);
    Ok(())
}

/// Size of a worker's read buffer (each read is one write to the temp file).
const READ_BUF: usize = 256 * 1024;

/// Start writing back every this many new bytes, so the checkpoint syncs (and the one
/// before `complete()`) find little left to write.
const WRITEBACK_STEP: u64 = 2 << 20;

/// Ask the kernel to start writing `[from, to)` to disk now, without waiting for it.
fn start_writeback(file: &File, from: u64, to: u64) {
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
    fn content_range() {
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, 9, Some(10))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }
}
