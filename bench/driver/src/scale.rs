//! `bgcopy-scale`: the queue-size benchmark driver of `bench/scale.py`.
//!
//! ```text
//! bgcopy-scale create --state-dir D --jobs N [--files-per-job M] [--batch B]
//! bgcopy-scale open --state-dir D [--idle-seconds S]
//! ```
//!
//! `create` adds N jobs of M files each (M = 1: `create_job` + `add_file`, each call
//! one durable transaction; M > 1: `add_file_set` in batches of B) to the store in D,
//! with an engine running, and prints one JSON line: the mean milliseconds per job
//! over all of them and over the last 10 % (the marginal cost at that queue size).
//! `open` measures, in a fresh process: the time `CopyManager::open` takes (an
//! engine, so recovery included), the RSS after it, `enum_jobs`' time and the RSS
//! after it, then the CPU the idle manager uses over S seconds (default 10).
//! Nothing is ever fetched (the jobs stay SUSPENDED; the URL is never contacted).

use bgcopy::{CopyManager, JobType, ManagerOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const URL: &str = "http://127.0.0.1:9/never-fetched";

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time (user + system) of this process so far.
fn cpu() -> Duration {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn create(dir: &Path, jobs: usize, files: usize, batch: usize) -> Result<String, String> {
    let m = CopyManager::open_with(Some(dir), ManagerOptions::default())
        .map_err(|e| format!("open: {e}"))?;
    // Beside the state directory: bgcopy never writes downloads into it.
    let out = dir.with_extension("out");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut times = Vec::with_capacity(jobs);
    for j in 0..jobs {
        let t = Instant::now();
        let job = m
            .create_job(&format!("scale {j}"), JobType::Download)
            .map_err(|e| format!("create_job: {e}"))?;
        if files == 1 {
            let local = out.join(format!("j{j}.bin"));
            job.add_file(URL, local.to_str().unwrap())
                .map_err(|e| format!("add_file: {e}"))?;
        } else {
            for start in (0..files).step_by(batch) {
                let set: Vec<(String, String)> = (start..(start + batch).min(files))
                    .map(|f| {
                        let local = out.join(format!("j{j}-f{f}.bin"));
                        (format!("{URL}/{f}"), local.to_string_lossy().into_owned())
                    })
                    .collect();
                let pairs: Vec<(&str, &str)> =
                    set.iter().map(|(u, l)| (u.as_str(), l.as_str())).collect();
                job.add_file_set(&pairs)
                    .map_err(|e| format!("add_file_set: {e}"))?;
            }
        }
        times.push(t.elapsed());
    }
    m.close().map_err(|e| format!("close: {e}"))?;
    let mean = |s: &[Duration]| s.iter().map(|d| ms(*d)).sum::<f64>() / s.len().max(1) as f64;
    let tail = &times[times.len() - (times.len() / 10).max(1)..];
    Ok(format!(
        "{{\"jobs\": {jobs}, \"files_per_job\": {files}, \"mean_ms\": {:.4}, \"last_tenth_ms\": {:.4}}}",
        mean(&times),
        mean(tail)
    ))
}

fn open(dir: &Path, idle: u64) -> Result<String, String> {
    let rss_start = rss_mib();
    let t = Instant::now();
    let m = CopyManager::open_with(Some(dir), ManagerOptions::default())
        .map_err(|e| format!("open: {e}"))?;
    let open_ms = ms(t.elapsed());
    let rss_open = rss_mib();
    let t = Instant::now();
    let jobs = m.enum_jobs().map_err(|e| format!("enum_jobs: {e}"))?;
    let enum_ms = ms(t.elapsed());
    let rss_enum = rss_mib();
    let n = jobs.len();
    drop(jobs);
    // Let start-up work (recovery, a first scheduling pass) finish before idling.
    std::thread::sleep(Duration::from_secs(1));
    let (c0, t0) = (cpu(), Instant::now());
    std::thread::sleep(Duration::from_secs(idle));
    let idle_pct = 100.0 * (cpu() - c0).as_secs_f64() / t0.elapsed().as_secs_f64();
    m.close().map_err(|e| format!("close: {e}"))?;
    Ok(format!(
        "{{\"jobs\": {n}, \"open_ms\": {open_ms:.2}, \"rss_start_mib\": {rss_start:.1}, \
         \"rss_open_mib\": {rss_open:.1}, \"enum_ms\": {enum_ms:.2}, \"rss_enum_mib\": {rss_enum:.1}, \
         \"idle_cpu_pct\": {idle_pct:.3}}}"
    ))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_default();
    let (mut dir, mut jobs, mut files, mut batch, mut idle) = (None, 1000, 1, 1000, 10);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--state-dir" => dir = Some(PathBuf::from(v)),
            "--jobs" => jobs = v.parse().unwrap_or(0),
            "--files-per-job" => files = v.parse().unwrap_or(0),
            "--batch" => batch = v.parse().unwrap_or(0),
            "--idle-seconds" => idle = v.parse().unwrap_or(10),
            _ => {
                eprintln!("bgcopy-scale: unknown option {a}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir.and_then(|d| std::path::absolute(d).ok()) else {
        eprintln!("usage: bgcopy-scale (create|open) --state-dir D [options]");
        return ExitCode::from(2);
    };
    let r = match cmd.as_str() {
        "create" if jobs > 0 && files > 0 && batch > 0 => create(&dir, jobs, files, batch),
        "open" => open(&dir, idle),
        _ => Err("usage: bgcopy-scale (create|open) --state-dir D [options]".into()),
    };
    match r {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bgcopy-scale: {e}");
            ExitCode::FAILURE
        }
    }
}
