//! The commands other than `get` and `demo`: job management, inspection, `wait`, `run`.

use crate::args::{Cli, Command, SetArgs};
use crate::fail::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_TIMEOUT, Failure};
use crate::get::{Ended, drive, files_and_bytes, prefix, report_job_error};
use crate::info::{bytes_of, job_json, job_text, jobs_table, printable, rfc3339};
use crate::interrupt;
use crate::names::absolute;
use crate::progress::Progress;
use bgcopy::{Completion, CopyManager, JobState, JobType, ManagerOptions, codes};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Open the state directory (`None`: [`bgcopy::default_state_dir`]). Only `get`,
/// `wait`, `run` and `demo` pass `transfers = true`; every other command opens the
/// store for inspection and changes only, so it never starts a transfer.
pub fn open(state_dir: Option<PathBuf>, transfers: bool) -> Result<CopyManager, Failure> {
    let dir = match state_dir {
        Some(d) => d,
        None => bgcopy::default_state_dir()?,
    };
    let mut o = ManagerOptions::default();
    o.start_transfers = transfers;
    if let Some(e) = ENGINE.get() {
        if let Some(ca) = &e.cacert {
            o.tls_root_certs = Some(vec![ca.clone()]);
        }
        if let Some(n) = e.max_redirs {
            o.max_redirects = n;
        }
        if let Some(ua) = &e.user_agent {
            o.user_agent = ua.clone();
        }
        if let Some(t) = e.connect_timeout {
            o.connect_timeout = t;
        }
        if let Some(t) = e.read_timeout {
            o.read_timeout = t;
        }
    }
    Ok(CopyManager::open_with(Some(&dir), o)?)
}

/// The global options that shape the engine (`--cacert`, `--max-redirs`,
/// `--user-agent`, `--connect-timeout`, `--read-timeout`), set once by [`dispatch`].
struct EngineFlags {
    cacert: Option<PathBuf>,
    max_redirs: Option<u32>,
    user_agent: Option<String>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
}

static ENGINE: std::sync::OnceLock<EngineFlags> = std::sync::OnceLock::new();

/// Run the parsed command line; returns the exit status.
pub fn dispatch(cli: Cli) -> Result<i32, Failure> {
    let dir = cli.explicit_state_dir();
    let _ = ENGINE.set(EngineFlags {
        cacert: cli.cacert.clone(),
        max_redirs: cli.max_redirs,
        user_agent: cli.user_agent.clone(),
        connect_timeout: cli.connect_timeout,
        read_timeout: cli.read_timeout,
    });
    let quiet = cli.quiet;
    match &cli.command {
        Command::Get(a) => crate::get::run(dir, a),
        Command::Demo(a) => crate::demo::run(dir, a),
        Command::Wait {
            job,
            timeout,
            no_progress,
        } => wait(dir, job, *timeout, *no_progress || quiet),
        Command::Run { until_idle } => run(dir, *until_idle, quiet),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "bgcopy", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { dir: out } => man(out.as_deref()),
        Command::Service { action } => crate::service::run(dir, *action),
        Command::Events {
            since,
            limit,
            follow,
            json,
        } => events(dir, *since, *limit, *follow, *json),
        cmd => manage(dir, cmd),
    }
}

/// `bgcopy man`: the manual page on stdout, or every page into `dir`.
fn man(dir: Option<&std::path::Path>) -> Result<i32, Failure> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| Failure::io("write the manual page", &e))?;
            use std::io::Write;
            std::io::stdout()
                .write_all(&out)
                .map_err(|e| Failure::io("write the manual page", &e))?;
        }
        Some(d) => {
            std::fs::create_dir_all(d)
                .map_err(|e| Failure::io(&format!("create {}", d.display()), &e))?;
            clap_mangen::generate_to(cmd, d)
                .map_err(|e| Failure::io(&format!("write the pages into {}", d.display()), &e))?;
        }
    }
    Ok(0)
}

/// The inspection and mutation commands (never transfer).
fn manage(dir: Option<PathBuf>, cmd: &Command) -> Result<i32, Failure> {
    let m = open(dir, false)?;
    match cmd {
        Command::Create { name } => {
            let job = m.create_job(name, JobType::Download)?;
            println!("{}", job.get_id());
        }
        Command::Add { job, url, local } => {
            let job = m.get_job(job)?;
            let local = absolute(local).map_err(|e| Failure::io("resolve LOCAL", &e))?;
            let local = local.to_str().ok_or_else(|| {
                bgcopy::Error::invalid_arg(format!("local path {local:?} is not valid UTF-8"))
            })?;
            job.add_file(url, local)?;
        }
        Command::Resume { job } => m.get_job(job)?.resume()?,
        Command::Suspend { job } => m.get_job(job)?.suspend()?,
        Command::Cancel { job } => m.get_job(job)?.cancel()?,
        Command::Complete { job } => {
            let job = m.get_job(job)?;
            if job.complete()? == Completion::Partial {
                let files = job.enum_files()?;
                let dropped: Vec<String> = files
                    .iter()
                    .filter(|f| f.get_progress().is_ok_and(|p| !p.completed))
                    .map(|f| f.get_local_name().unwrap_or_default())
                    .collect();
                eprintln!(
                    "bgcopy: partial: PARTIAL_COMPLETE (0x{:08X}): {} of {} files were not \
                     fully transferred and were deleted:",
                    codes::PARTIAL_COMPLETE,
                    dropped.len(),
                    files.len()
                );
                for d in dropped {
                    eprintln!("  {}", printable(&d));
                }
            }
        }
        Command::Set(a) => set(&m, a)?,
        Command::List { json } => {
            let jobs = m.enum_jobs()?;
            if *json {
                let all = jobs
                    .iter()
                    .map(job_json)
                    .collect::<bgcopy::Result<Vec<_>>>()?;
                println!("{}", pretty(&serde_json::Value::Array(all)));
            } else {
                print!("{}", jobs_table(&jobs)?);
            }
        }
        Command::Info { job, json } => {
            let job = m.get_job(job)?;
            if *json {
                println!("{}", pretty(&job_json(&job)?));
            } else {
                print!("{}", job_text(&job)?);
            }
        }
        Command::Get(_)
        | Command::Demo(_)
        | Command::Wait { .. }
        | Command::Run { .. }
        | Command::Service { .. }
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Events { .. } => {
            unreachable!("dispatched elsewhere")
        }
    }
    Ok(0)
}

/// How often `events --follow` looks for new entries.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// `bgcopy events`: the journal from `since`, `limit` entries (all of them, as they
/// come, with `follow`).
fn events(
    dir: Option<PathBuf>,
    since: u64,
    limit: u32,
    follow: bool,
    json: bool,
) -> Result<i32, Failure> {
    let m = open(dir, false)?;
    if follow {
        interrupt::install();
    }
    let mut cursor = since;
    let mut left = limit;
    loop {
        let batch = m.events_since(cursor, if follow { 1000 } else { left })?;
        for e in &batch {
            if json {
                println!("{}", crate::info::event_json(e));
            } else {
                println!("{}", crate::info::event_text(e));
            }
            cursor = e.seq;
        }
        if !follow {
            left = left.saturating_sub(batch.len() as u32);
            if batch.is_empty() || left == 0 {
                return Ok(0);
            }
            continue;
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if batch.is_empty() {
            if interrupt::interrupted() {
                return Ok(EXIT_INTERRUPTED);
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// `bgcopy set`: every given property, in the order of the options.
fn set(m: &CopyManager, a: &SetArgs) -> bgcopy::Result<()> {
    let job = m.get_job(&a.job)?;
    if let Some(p) = a.priority {
        job.set_priority(p)?;
    }
    if let Some(s) = a.retry_delay {
        job.set_minimum_retry_delay(s)?;
    }
    if let Some(s) = a.no_progress_timeout {
        job.set_no_progress_timeout(s)?;
    }
    if let Some(s) = &a.display_name {
        job.set_display_name(s)?;
    }
    if let Some(s) = &a.description {
        job.set_description(s)?;
    }
    if let Some((program, args)) = a.notify_cmd.as_ref().and_then(|c| c.split_first()) {
        job.set_notify_cmd_line(program, args)?;
    }
    if !a.header.is_empty() || a.clear_headers {
        job.set_custom_headers(&a.header)?;
    }
    if a.headers_write_only {
        job.make_custom_headers_write_only()?;
    }
    if let Some(flags) = a.security_flags {
        job.set_security_flags(flags)?;
    }
    if !a.url.is_empty() {
        let files = job.enum_files()?;
        for (i, url) in &a.url {
            let f = files.get(*i).ok_or_else(|| {
                bgcopy::Error::invalid_arg(format!(
                    "the job has no file {i} (it has {})",
                    files.len()
                ))
            })?;
            f.set_remote_name(url)?;
        }
    }
    if let Some([old, new]) = a.replace_prefix.as_deref() {
        job.replace_remote_prefix(old, new)?;
    }
    crate::get::apply_request(&job, &a.request)
}

/// `bgcopy wait`.
fn wait(dir: Option<PathBuf>, id: &str, timeout: Option<f64>, quiet: bool) -> Result<i32, Failure> {
    let m = open(dir, true)?;
    interrupt::install();
    let job = m.get_job(id)?;
    let id = job.get_id();
    if job.get_state()? == JobState::Suspended {
        return Err(bgcopy::Error::new(
            codes::INVALID_STATE,
            format!(
                "job {id} is SUSPENDED and would never finish: `{} resume {id}` first",
                prefix(&m)
            ),
        )
        .into());
    }
    let deadline = timeout.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut progress = Progress::new(&job, quiet);
    let code = match drive(&job, &mut progress, deadline)? {
        Ended::Transferred => {
            let p = job.get_progress()?;
            progress.summary(&format!(
                "transferred {}; `{} complete {id}` makes them visible",
                files_and_bytes(p.files_total, p.bytes_transferred),
                prefix(&m)
            ));
            0
        }
        Ended::Error => report_job_error(&m, &job, &mut progress),
        Ended::Interrupted => {
            progress.finish();
            eprintln!(
                "\nbgcopy: interrupted; job {id} stays {} and continues with the next \
                 `wait` or `run`",
                job.get_state()?
            );
            EXIT_INTERRUPTED
        }
        Ended::TimedOut(state) => {
            progress.finish();
            let p = job.get_progress()?;
            eprintln!(
                "bgcopy: timed out after {} s; job {id} is {state} ({} transferred)",
                timeout.unwrap_or_default(),
                bytes_of(p.bytes_transferred, p.bytes_total)
            );
            EXIT_TIMEOUT
        }
        Ended::Stopped(state) => {
            progress.finish();
            eprintln!("bgcopy: job {id} stopped in {state}");
            EXIT_FAILURE
        }
    };
    drop(progress);
    drop(m);
    Ok(code)
}

/// `bgcopy run`: the engine in the foreground, logging state changes to stderr.
fn run(dir: Option<PathBuf>, until_idle: bool, quiet: bool) -> Result<i32, Failure> {
    let m = open(dir, true)?;
    interrupt::install();
    let mut log = |line: &str| {
        if !quiet {
            eprintln!("{} {line}", rfc3339(SystemTime::now()));
        }
    };
    let end = m.serve(until_idle, &interrupt::interrupted, &mut log)?;
    drop(m);
    Ok(match end {
        bgcopy::ServeEnd::Stopped => EXIT_INTERRUPTED,
        bgcopy::ServeEnd::Idle { .. } => 0,
    })
}
