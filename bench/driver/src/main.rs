//! `bgcopy-bench`: the benchmark driver of `bench/bench.py`.
//!
//! ```text
//! bgcopy-bench --state-dir D --out DIR [--connections N] (URL... | --list FILE)
//! ```
//!
//! Opens a `CopyManager` on `D`, creates one FOREGROUND download job with every URL
//! (saved as `DIR/<last path segment>`), resumes it, waits for it, completes it.
//! Exits 0 only if every file was transferred and moved into place; otherwise prints
//! the error and exits 1 (2 for usage errors). `--list FILE` reads URLs one a line.
//! `--connections N` sets `connections_per_job`; `--file-connections N` sets the job's
//! `max_connections_per_file` (default: the manager's, 8); `--continue` goes on with
//! the job already in `D` (after the benchmark killed the previous driver) instead of
//! creating one (and fails when there is none); `--checkpoint-mib N` sets
//! `checkpoint_bytes` (for diagnosis; the benchmark keeps the default); `--debug-log`
//! prints the library's debug log (requests, recovery) on stderr.

use bgcopy::{Completion, CopyManager, JobState, JobType, ManagerOptions, Priority};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: bgcopy-bench --state-dir D --out DIR [--connections N] [--file-connections N] [--continue] [--checkpoint-mib N] [--verbose] (URL... | --list FILE)";

struct Args {
    state_dir: PathBuf,
    out: PathBuf,
    connections: Option<usize>,
    checkpoint_mib: Option<u64>,
    file_connections: Option<u32>,
    resume_existing: bool,
    verbose: bool,
    urls: Vec<String>,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut state_dir, mut out, mut connections, mut verbose) = (None, None, None, false);
    let mut checkpoint_mib = None;
    let (mut file_connections, mut resume_existing) = (None, false);
    let mut urls = Vec::new();
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--state-dir" => state_dir = Some(PathBuf::from(val("--state-dir")?)),
            "--out" => out = Some(PathBuf::from(val("--out")?)),
            "--connections" => {
                let v = val("--connections")?;
                connections = Some(v.parse().map_err(|_| format!("bad --connections {v:?}"))?);
            }
            "--checkpoint-mib" => {
                let v = val("--checkpoint-mib")?;
                checkpoint_mib = Some(
                    v.parse()
                        .map_err(|_| format!("bad --checkpoint-mib {v:?}"))?,
                );
            }
            "--file-connections" => {
                let v = val("--file-connections")?;
                file_connections = Some(
                    v.parse()
                        .map_err(|_| format!("bad --file-connections {v:?}"))?,
                );
            }
            "--continue" => resume_existing = true,
            "--list" => {
                let f = val("--list")?;
                let text = std::fs::read_to_string(&f).map_err(|e| format!("read {f}: {e}"))?;
                urls.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_string),
                );
            }
            "--verbose" | "-v" => verbose = true,
            // Diagnostics: the library's debug log (requests, recovery) on stderr.
            "--debug-log" => {
                bgcopy::logging::log_to_stderr(log::LevelFilter::Debug, "bgcopy: ");
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => urls.push(a),
        }
    }
    let state_dir = state_dir.ok_or("--state-dir is required")?;
    let out = out.ok_or("--out is required")?;
    if urls.is_empty() {
        return Err("no URLs".into());
    }
    Ok(Args {
        state_dir,
        out,
        connections,
        checkpoint_mib,
        file_connections,
        resume_existing,
        verbose,
        urls,
    })
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn run(args: Args) -> Result<(), String> {
    let t0 = Instant::now();
    let out = absolute(&args.out)?;
    std::fs::create_dir_all(&out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let mut files = Vec::with_capacity(args.urls.len());
    for url in &args.urls {
        let name = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("no file name in {url}"))?;
        let local = out.join(name);
        files.push((url.clone(), local.to_string_lossy().into_owned()));
    }

    let mut opts = ManagerOptions::default();
    if let Some(n) = args.connections {
        opts.connections_per_job = n;
    }
    if let Some(m) = args.checkpoint_mib {
        // Diagnostics only (the benchmark uses the defaults): checkpoint less often.
        opts.checkpoint_bytes = m << 20;
    }
    let manager =
        CopyManager::open_with(Some(&args.state_dir), opts).map_err(|e| format!("open: {e}"))?;
    let t_open = t0.elapsed();
    let existing = if args.resume_existing {
        manager
            .enum_jobs()
            .map_err(|e| format!("enum_jobs: {e}"))?
            .into_iter()
            .next()
    } else {
        None
    };
    let job = match existing {
        Some(job) => job,
        // Nothing to continue (the job was completed before the kill meant for it):
        // starting a fresh download would count as bytes fetched again.
        None if args.resume_existing => {
            return Err(format!(
                "--continue: no job in {} to continue",
                args.state_dir.display()
            ));
        }
        None => {
            let job = manager
                .create_job("bgcopy-bench", JobType::Download)
                .map_err(|e| format!("create_job: {e}"))?;
            job.set_priority(Priority::Foreground)
                .map_err(|e| format!("set_priority: {e}"))?;
            if let Some(n) = args.file_connections {
                job.set_max_connections_per_file(n)
                    .map_err(|e| format!("set_max_connections_per_file: {e}"))?;
            }
            job.add_file_set(&files)
                .map_err(|e| format!("add_file_set: {e}"))?;
            job
        }
    };
    let t_setup = t0.elapsed();
    job.resume().map_err(|e| format!("resume: {e}"))?;
    let state = job.wait(None).map_err(|e| format!("wait: {e}"))?;
    let t_transfer = t0.elapsed();
    if state != JobState::Transferred {
        let detail = match job.get_error() {
            Ok(err) => {
                let file = err
                    .get_file()
                    .and_then(|f| f.get_remote_name())
                    .unwrap_or_else(|_| "-".into());
                format!(
                    "{:?} (file {file}; {})",
                    err,
                    err.get_error_context_description()
                )
            }
            Err(e) => format!("(no error: {e})"),
        };
        let _ = job.cancel();
        return Err(format!("job ended {state}: {detail}"));
    }
    match job.complete().map_err(|e| format!("complete: {e}"))? {
        Completion::All => {}
        other => return Err(format!("complete: {other:?} (not every file arrived)")),
    }
    let t_complete = t0.elapsed();
    manager.close().map_err(|e| format!("close: {e}"))?;
    // The store closes with the last handle (its log is copied into the database then):
    // part of the close.
    drop(job);
    drop(manager);
    if args.verbose {
        eprintln!(
            "bgcopy-bench: {} files; setup {:.3}s (open {:.3}s), transfer {:.3}s, complete+close {:.3}s (close {:.3}s)",
            files.len(),
            t_setup.as_secs_f64(),
            t_open.as_secs_f64(),
            (t_transfer - t_setup).as_secs_f64(),
            (t0.elapsed() - t_transfer).as_secs_f64(),
            (t0.elapsed() - t_complete).as_secs_f64()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bgcopy-bench: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bgcopy-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
