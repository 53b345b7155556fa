//! `bgcopy get` (and the download that `demo` shares): one job for all the files,
//! run in this process to the end, then completed.

use crate::args::{GetArgs, JobOptions};
use crate::fail::{EXIT_FAILURE, EXIT_INTERRUPTED, Failure, exit_status};
use crate::info::{bytes_of, error_text};
use crate::interrupt;
use crate::names::{absolute, file_name_from_url, parse_list, shell_quote};
use crate::progress::Progress;
use bgcopy::{CopyJob, CopyManager, JobState, JobType, Priority};
use indicatif::HumanBytes;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How [`drive`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The job reached TRANSFERRED.
    Transferred,
    /// The job reached ERROR.
    Error,
    /// The user pressed Ctrl-C.
    Interrupted,
    /// The deadline passed; the job is in this state.
    TimedOut(JobState),
    /// The job stopped in a state it will not leave by itself (SUSPENDED, final).
    Stopped(JobState),
}

/// Follow `job` (the engine runs in this process) until it ends, the user interrupts
/// or `deadline` passes, updating `progress`.
pub fn drive(
    job: &CopyJob,
    progress: &mut Progress,
    deadline: Option<Instant>,
) -> bgcopy::Result<Ended> {
    const TICK: Duration = Duration::from_millis(150);
    loop {
        if interrupt::interrupted() {
            return Ok(Ended::Interrupted);
        }
        let tick = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(TICK),
            None => TICK,
        };
        let state = job.wait(Some(tick))?;
        progress.update(job);
        match state {
            JobState::Transferred => return Ok(Ended::Transferred),
            JobState::Error => return Ok(Ended::Error),
            JobState::Suspended | JobState::Acknowledged | JobState::Cancelled => {
                return Ok(Ended::Stopped(state));
            }
            _ => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Ended::TimedOut(state));
        }
    }
}

/// `bgcopy --state-dir DIR` as a shell prefix for hints.
pub fn prefix(manager: &CopyManager) -> String {
    format!(
        "bgcopy --state-dir {}",
        shell_quote(&manager.state_dir().to_string_lossy())
    )
}

/// Print a job's ERROR with what to do next; returns the exit status for its error.
pub fn report_job_error(manager: &CopyManager, job: &CopyJob, progress: &mut Progress) -> i32 {
    progress.finish();
    let id = job.get_id();
    let status = match job.get_error() {
        Ok(e) => {
            eprintln!("bgcopy: job {id} failed: {}", error_text(&e));
            let (context, code) = e.get_error();
            exit_status(code, Some(context))
        }
        Err(_) => {
            eprintln!("bgcopy: job {id} failed");
            EXIT_FAILURE
        }
    };
    if crate::logger::quiet() {
        return status;
    }
    let b = prefix(manager);
    eprintln!(
        "bgcopy: the job stays in ERROR with its progress. Retry with\n  \
         {b} resume {id} && {b} wait {id} && {b} complete {id}\n\
         or discard it with\n  {b} cancel {id}"
    );
    status
}

/// What [`download`] prints besides errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    /// No progress and no summary line.
    pub quiet: bool,
    /// One JSON object on stdout at the end (`get --json`).
    pub json: bool,
}

/// Create one job for `files`, run it here to the end and complete it. Prints the
/// progress and the summary line (unless `out.quiet`), errors and the Ctrl-C hint, and
/// with `out.json` the job as JSON at the end; returns the exit status.
pub fn download(
    manager: &CopyManager,
    display_name: &str,
    files: &[(String, PathBuf)],
    hashes: &[Option<String>],
    opts: &JobOptions,
    out: Output,
) -> Result<i32, Failure> {
    if let Some(job) = unfinished(manager, files)? {
        return continue_job(manager, job, opts, out);
    }
    let job = manager.create_job(display_name, JobType::Download)?;
    let setup = || -> bgcopy::Result<()> {
        job.set_priority(opts.priority.unwrap_or(Priority::Foreground))?;
        apply(&job, opts)?;
        let set: Vec<(&str, String)> = files
            .iter()
            .map(|(u, l)| (u.as_str(), l.to_string_lossy().into_owned()))
            .collect();
        if let Some((_, l)) = files.iter().find(|(_, l)| l.to_str().is_none()) {
            return Err(bgcopy::Error::invalid_arg(format!(
                "local path {l:?} is not valid UTF-8"
            )));
        }
        job.add_file_set(&set)?;
        for (f, hash) in job.enum_files()?.iter().zip(hashes) {
            if let Some(h) = hash {
                f.set_expected_hash("sha256", h)?;
            }
        }
        job.resume()
    };
    if let Err(e) = setup() {
        let _ = job.cancel();
        return Err(e.into());
    }
    drive_to_end(manager, &job, out)
}

/// What a `get` command line asks for: (URL, absolute local path) pairs, and each
/// one's expected SHA-256.
pub type Plan = (Vec<(String, PathBuf)>, Vec<Option<String>>);

/// The (URL, absolute local path) pairs a `get` command line asks for, and each one's
/// expected SHA-256 (`--sha256` for a single URL, ` sha256=HEX` in a LIST line).
pub fn plan(args: &GetArgs) -> Result<Plan, Failure> {
    let mut entries: Vec<(String, Option<PathBuf>)> =
        args.urls.iter().map(|u| (u.clone(), None)).collect();
    let mut hashes: Vec<Option<String>> = args.urls.iter().map(|_| args.sha256.clone()).collect();
    if let Some(list) = &args.list {
        let text = if list.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::io("read the URL list from stdin", &e))?;
            s
        } else {
            std::fs::read_to_string(list)
                .map_err(|e| Failure::io(&format!("read the URL list {}", list.display()), &e))?
        };
        let parsed =
            parse_list(&text).map_err(|e| Failure::Usage(format!("{}: {e}", list.display())))?;
        for e in parsed {
            hashes.push(e.sha256);
            entries.push((e.url, e.path));
        }
    }
    if args.sha256.is_some() && entries.len() != 1 {
        return Err(Failure::Usage(
            "--sha256 goes with exactly one URL; in a LIST, end a line with ` sha256=HEX`".into(),
        ));
    }
    if entries.is_empty() {
        return Err(Failure::Usage("no URLs to download".into()));
    }
    if let Some(out) = &args.output {
        if entries.len() != 1 {
            return Err(Failure::Usage(format!(
                "-o FILE takes exactly one URL, not {}; use -d DIR for several",
                entries.len()
            )));
        }
        let local = absolute(out).map_err(|e| Failure::io("resolve -o FILE", &e))?;
        return Ok((vec![(entries.remove(0).0, local)], hashes));
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let dir = absolute(&dir).map_err(|e| Failure::io("resolve -d DIR", &e))?;
    let mut out = Vec::with_capacity(entries.len());
    let mut seen: HashMap<PathBuf, String> = HashMap::new();
    for (url, path) in entries {
        let local = match path {
            Some(p) => dir.join(p),
            None => dir.join(file_name_from_url(&url)),
        };
        if let Some(other) = seen.insert(local.clone(), url.clone()) {
            return Err(Failure::Usage(format!(
                "{other} and {url} would both be saved as {}; \
                 give explicit paths with -i LIST (\"URL<TAB>path\")",
                local.display()
            )));
        }
        out.push((url, local));
    }
    for (_, local) in &out {
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::io(&format!("create {}", parent.display()), &e))?;
        }
    }
    Ok((out, hashes))
}

/// `bgcopy get`. With `--json`, one object on stdout whatever the end: the job's (see
/// [`drive_to_end`]), or, when the command failed before there was a job to follow
/// (bad list, store, a URL refused by `add_file_set`), one with `id: null` and the
/// failure.
pub fn run(state_dir: Option<PathBuf>, args: &GetArgs) -> Result<i32, Failure> {
    // With --json a followed job always ends in Ok (drive_to_end printed it), so an
    // error here came before there was a job to print.
    let failure = match run_job(state_dir, args) {
        Err(f) if args.json => f,
        result => return result,
    };
    let error = failure.json();
    let status = failure.report();
    let v = serde_json::json!({
        "id": null,
        "state": null,
        "files": [],
        "bytes_total": null,
        "bytes_transferred": 0,
        "error": error,
        "exit_status": status,
    });
    println!("{v}");
    Ok(status)
}

fn run_job(state_dir: Option<PathBuf>, args: &GetArgs) -> Result<i32, Failure> {
    let (files, hashes) = plan(args)?;
    let manager = crate::commands::open(state_dir, true)?;
    interrupt::install();
    let out = Output {
        quiet: args.no_progress || args.json,
        json: args.json,
    };
    let code = download(
        &manager,
        &bgcopy::names::job_name("bgcopy get", &files),
        &files,
        &hashes,
        &args.job,
        out,
    )?;
    drop(manager);
    Ok(code)
}

/// Drive `job` to its end (see [`ended`]); with `out.json`, print the job as one JSON
/// object on stdout, whatever the end.
fn drive_to_end(manager: &CopyManager, job: &CopyJob, out: Output) -> Result<i32, Failure> {
    let status = ended(manager, job, out.quiet);
    if !out.json {
        return status;
    }
    // The error still goes to stderr; stdout gets the job.
    let code = status.unwrap_or_else(Failure::report);
    println!("{}", crate::info::get_json(job, code)?);
    Ok(code)
}

/// Drive `job` to its end with a progress bar: complete it once TRANSFERRED; report an
/// ERROR; on Ctrl-C suspend it and say how to continue.
fn ended(manager: &CopyManager, job: &CopyJob, quiet: bool) -> Result<i32, Failure> {
    let mut progress = Progress::new(job, quiet);
    match drive(job, &mut progress, None)? {
        Ended::Transferred => {
            job.complete()?;
            let p = job.get_progress()?;
            progress.summary(&format!(
                "downloaded {} file{}, {} bytes",
                p.files_total,
                if p.files_total == 1 { "" } else { "s" },
                p.bytes_transferred
            ));
            Ok(0)
        }
        Ended::Error => Ok(report_job_error(manager, job, &mut progress)),
        Ended::Interrupted => {
            let _ = job.suspend();
            progress.finish();
            let id = job.get_id();
            let p = job.get_progress()?;
            let b = prefix(manager);
            eprintln!(
                "\nbgcopy: interrupted; job {id} is suspended with {} transferred. To continue:\n  \
                 {b} resume {id} && {b} wait {id} && {b} complete {id}\n\
                 or discard it with\n  {b} cancel {id}\n\
                 bgcopy: stopping the transfers and recording their progress",
                bytes_of(p.bytes_transferred, p.bytes_total)
            );
            Ok(EXIT_INTERRUPTED)
        }
        Ended::TimedOut(_) | Ended::Stopped(_) => {
            let state = job.get_state()?;
            progress.finish();
            eprintln!(
                "bgcopy: job {} stopped unexpectedly in {state}",
                job.get_id()
            );
            Ok(EXIT_FAILURE)
        }
    }
}

/// A live job with exactly these files (same URLs and local paths, in order): what an
/// interrupted `get` of the same command line left.
fn unfinished(
    manager: &CopyManager,
    files: &[(String, PathBuf)],
) -> bgcopy::Result<Option<bgcopy::CopyJob>> {
    let Some(first) = files.first().and_then(|(_, l)| l.to_str()) else {
        return Ok(None);
    };
    for job in manager.jobs_with_local_file(first)? {
        let theirs = job.enum_files()?;
        let same = theirs.len() == files.len()
            && theirs.iter().zip(files).all(|(f, (url, local))| {
                f.get_remote_name().is_ok_and(|r| r == *url)
                    && f.get_local_name().is_ok_and(|l| Path::new(&l) == local)
            });
        if same && job.get_state()? != JobState::Cancelled {
            return Ok(Some(job));
        }
    }
    Ok(None)
}

/// The options of `get` besides the priority, on a new or continued job.
fn apply(job: &bgcopy::CopyJob, opts: &JobOptions) -> bgcopy::Result<()> {
    if let Some(s) = opts.retry_delay {
        job.set_minimum_retry_delay(s)?;
    }
    if let Some(s) = opts.no_progress_timeout {
        job.set_no_progress_timeout(s)?;
    }
    if !opts.header.is_empty() {
        job.set_custom_headers(&opts.header)?;
    }
    if opts.proto_redir_https_to_http {
        let flags = job.get_security_flags()?;
        job.set_security_flags(flags | bgcopy::security::ALLOW_HTTPS_TO_HTTP)?;
    }
    apply_request(job, &opts.request)
}

/// The request options of `get` and `set` (credentials, maximum download time).
pub(crate) fn apply_request(
    job: &bgcopy::CopyJob,
    opts: &crate::args::RequestOptions,
) -> bgcopy::Result<()> {
    use bgcopy::{AuthScheme, AuthTarget};
    if let Some((user, password)) = &opts.user {
        job.set_credentials(AuthTarget::Server, AuthScheme::Basic, user, password)?;
    }
    if let Some(token) = &opts.bearer {
        job.set_credentials(AuthTarget::Server, AuthScheme::Bearer, "", token)?;
    }
    if let Some(s) = opts.max_time {
        job.set_maximum_download_time(s)?;
    }
    if let Some(r) = opts.limit_rate {
        job.set_bandwidth_limit(r)?;
    }
    if let Some(n) = opts.connections {
        job.set_max_connections_per_file(n)?;
    }
    if let Some(cert) = &opts.cert {
        // Relative paths are this process's; the job stores them absolute.
        job.set_client_certificate(cert, opts.key.as_deref().unwrap_or(cert))?;
    }
    if let Some((user, password)) = &opts.proxy_user {
        job.set_credentials(AuthTarget::Proxy, AuthScheme::Basic, user, password)?;
    }
    use bgcopy::ProxyUsage;
    match (opts.proxy.as_deref(), opts.noproxy.as_deref()) {
        (Some(""), _) | (None, Some("*")) => job.set_proxy_settings(ProxyUsage::NoProxy, "", ""),
        (Some(url), bypass) => {
            job.set_proxy_settings(ProxyUsage::Override, url, bypass.unwrap_or(""))
        }
        (None, Some(_)) => Err(bgcopy::Error::invalid_arg(
            "--noproxy LIST goes with -x URL (only '*' stands alone: no proxy at all)",
        )),
        (None, None) => Ok(()),
    }
}

/// Continue `job` (left by an interrupted `get` of the same files): resume it and
/// drive it like a new one, saying so.
fn continue_job(
    manager: &CopyManager,
    job: bgcopy::CopyJob,
    opts: &JobOptions,
    out: Output,
) -> Result<i32, Failure> {
    let p = job.get_progress()?;
    if !crate::logger::quiet() {
        eprintln!(
            "bgcopy: continuing job {} ({} already transferred)",
            job.get_id(),
            bytes_of(p.bytes_transferred, p.bytes_total)
        );
    }
    if let Some(prio) = opts.priority {
        job.set_priority(prio)?;
    }
    apply(&job, opts)?;
    if matches!(
        job.get_state()?,
        JobState::Suspended | JobState::Error | JobState::TransientError
    ) {
        job.resume()?;
    }
    drive_to_end(manager, &job, out)
}

/// `N files, B` for messages.
pub fn files_and_bytes(files: u32, bytes: u64) -> String {
    format!(
        "{files} file{}, {}",
        if files == 1 { "" } else { "s" },
        HumanBytes(bytes)
    )
}
