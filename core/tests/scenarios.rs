//! Runs every `tests/scenarios/*.json` (the step language of tests/scenarios/README.md)
//! against the test origin, one test per scenario (a custom libtest harness: the usual
//! filters and `--test-threads` work; the default concurrency is
//! `BGCOPY_SCENARIO_JOBS`, else 4). Keys not in `tests/scenario_schema.json` fail the
//! scenario.

use bgcopy::{
    AuthScheme, AuthTarget, BYTES_UNKNOWN, CallbackResult, CopyCallback, CopyError, CopyFile,
    CopyJob, CopyManager, Error, JobType, ManagerOptions, OptionValue, Priority, ProxyUsage, codes,
};
use bgcopy_test_harness::{Origin, content_byte, workspace_root};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// Counts deliveries; can fail the first K and can complete the job from inside.
#[derive(Default)]
struct Recorder {
    counts: Mutex<HashMap<&'static str, u32>>,
    fail_first: AtomicU32,
    complete_in_callback: bool,
    inner_results: Mutex<Vec<String>>,
}

impl Recorder {
    fn hit(&self, kind: &'static str) -> CallbackResult {
        *self.counts.lock().unwrap().entry(kind).or_default() += 1;
        if self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(format!("recorder fails this {kind} on purpose"));
        }
        Ok(())
    }
    fn count(&self, kind: &str) -> u32 {
        self.counts.lock().unwrap().get(kind).copied().unwrap_or(0)
    }
}

impl CopyCallback for Recorder {
    fn job_transferred(&self, job: &CopyJob) -> CallbackResult {
        let r = self.hit("transferred");
        if r.is_ok() && self.complete_in_callback {
            let out = match job.complete() {
                Ok(c) => codes::symbol(c.code()),
                Err(e) => e.symbol(),
            };
            self.inner_results.lock().unwrap().push(out);
        }
        r
    }
    fn job_error(&self, job: &CopyJob, error: &CopyError) -> CallbackResult {
        // Re-entrant reads from inside a callback must work.
        let _ = (job.get_state(), job.get_progress(), error.get_error());
        self.hit("error")
    }
    fn job_modification(&self, job: &CopyJob) -> CallbackResult {
        let _ = job.get_progress();
        if job.get_state().is_ok_and(|s| s.is_final()) {
            *self
                .counts
                .lock()
                .unwrap()
                .entry("final_modification")
                .or_default() += 1;
        }
        self.hit("modification")
    }
    fn file_transferred(&self, _job: &CopyJob, file: &CopyFile) -> CallbackResult {
        let _ = file.get_progress();
        self.hit("file_transferred")
    }
}

struct Run {
    origin: Arc<Origin>,
    dir: PathBuf,
    opts: ManagerOptions,
    manager: Option<CopyManager>,
    jobs: HashMap<String, CopyJob>,
    recorders: HashMap<String, Arc<Recorder>>,
    /// Times saved by `expect_times` (`save`): (creation, modification, completion).
    times: HashMap<String, (i64, i64, Option<i64>)>,
    /// The `{late}` base URL.
    late: Option<String>,
    /// The `{proxy}` URL and the proxy's id at the origin.
    proxy: Option<(String, u64)>,
}

fn ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

fn now_ms() -> i64 {
    ms(SystemTime::now())
}

/// The keys each part of a scenario may have (`tests/scenario_schema.json`).
fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = std::fs::read_to_string(workspace_root().join("tests/scenario_schema.json"))
            .expect("tests/scenario_schema.json");
        serde_json::from_str(&text).expect("schema JSON")
    })
}

fn check_keys(what: &str, v: &Value, allowed: &[&Value]) -> Result<(), String> {
    let Some(obj) = v.as_object() else {
        return Ok(());
    };
    for k in obj.keys() {
        let known = allowed
            .iter()
            .any(|a| a.as_array().is_some_and(|a| a.iter().any(|x| x == k)));
        if !known {
            return fail(format!("{what}: unknown key {k:?}"));
        }
    }
    Ok(())
}

fn fail<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

impl Run {
    fn subst(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => {
                let mut s = s
                    .replace("{late}", self.late.as_deref().unwrap_or("{late}"))
                    .replace(
                        "{proxy}",
                        self.proxy.as_ref().map_or("{proxy}", |p| p.0.as_str()),
                    )
                    .replace("{http}", &self.origin.http_base())
                    .replace("{https}", &self.origin.https_base())
                    .replace("{mtls}", &format!("https://localhost:{}", self.origin.mtls))
                    .replace("{client_cert}", &self.origin.client_cert.to_string_lossy())
                    .replace("{client_key}", &self.origin.client_key.to_string_lossy())
                    .replace("{dir}", &self.dir.to_string_lossy());
                while let Some(i) = s.find("{job:") {
                    let end = s[i..].find('}').map(|e| i + e).unwrap_or(s.len() - 1);
                    let alias = &s[i + 5..end];
                    let id = self.jobs.get(alias).map(|j| j.get_id()).unwrap_or_default();
                    s.replace_range(i..=end, &id);
                }
                Value::String(s)
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| self.subst(x)).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), self.subst(x))).collect())
            }
            other => other.clone(),
        }
    }

    fn manager(&self) -> Result<&CopyManager, String> {
        self.manager
            .as_ref()
            .ok_or_else(|| "manager is closed".to_string())
    }

    fn job(&self, step: &Value) -> Result<CopyJob, String> {
        let alias = step["job"].as_str().ok_or("step needs \"job\"")?;
        self.jobs
            .get(alias)
            .cloned()
            .ok_or_else(|| format!("unknown job alias {alias}"))
    }

    fn open(&mut self) -> Result<(), String> {
        let m = CopyManager::open_with(Some(&self.dir.join("state")), self.opts.clone())
            .map_err(|e| format!("open: {e}"))?;
        self.manager = Some(m);
        Ok(())
    }

    fn step(&mut self, raw: &Value) -> Result<(), String> {
        let step = self.subst(raw);
        let op = step["op"].as_str().ok_or("step needs \"op\"")?;
        let sch = schema();
        if sch["ops"].get(op).is_none() {
            return fail(format!("unknown op {op}"));
        }
        check_keys(op, &step, &[&sch["step"], &sch["ops"][op]])?;
        let expect = step["expect"].as_str().unwrap_or("OK");
        let args = step["args"].as_array().cloned().unwrap_or_default();
        let timeout = Duration::from_millis(step["timeout_ms"].as_u64().unwrap_or(30_000));
        match op {
            "create" => {
                let alias = step["job"].as_str().ok_or("create needs \"job\"")?;
                let ty = step["type"].as_str().unwrap_or("DOWNLOAD");
                let ty = JobType::from_name(ty).ok_or("bad type")?;
                let r = self
                    .manager()?
                    .create_job(step["name"].as_str().unwrap_or(alias), ty);
                if let Some(job) = check(r, expect)? {
                    self.jobs.insert(alias.to_string(), job);
                }
                Ok(())
            }
            "call" => {
                let job = self.job(&step)?;
                let method = step["method"].as_str().ok_or("call needs \"method\"")?;
                let got = self.call(&job, method, &args, &step)?;
                finish(got, expect, step.get("result"), method)
            }
            "manager" => {
                let method = step["method"].as_str().ok_or("manager needs \"method\"")?;
                let got: Result<Value, Error> = match method {
                    "get_job" => {
                        let id = args.first().and_then(Value::as_str).unwrap_or("");
                        self.manager()?.get_job(id).map(|j| json!(j.get_id()))
                    }
                    "enum_jobs" => self.manager()?.enum_jobs().map(|jobs| {
                        json!(
                            jobs.iter()
                                .map(|j| {
                                    self.jobs
                                        .iter()
                                        .find(|(_, v)| v.get_id() == j.get_id())
                                        .map(|(k, _)| k.clone())
                                        .unwrap_or_else(|| j.get_id())
                                })
                                .collect::<Vec<_>>()
                        )
                    }),
                    "close" => {
                        let r = self.manager()?.close().map(|_| Value::Null);
                        self.manager = None;
                        r
                    }
                    "set_background_bandwidth_limit" => {
                        let n = args
                            .first()
                            .and_then(Value::as_u64)
                            .ok_or("set_background_bandwidth_limit takes [bytes_per_second]")?;
                        self.manager()?
                            .set_background_bandwidth_limit(n)
                            .map(|_| Value::Null)
                    }
                    "get_background_bandwidth_limit" => self
                        .manager()?
                        .get_background_bandwidth_limit()
                        .map(|v| json!(v)),
                    "reopen" => {
                        if let Some(m) = self.manager.take() {
                            m.close().map_err(|e| e.to_string())?;
                        }
                        self.open()?;
                        // Fresh handles for every job the new manager still knows.
                        let aliases: Vec<(String, String)> = self
                            .jobs
                            .iter()
                            .map(|(k, v)| (k.clone(), v.get_id()))
                            .collect();
                        for (alias, id) in aliases {
                            if let Ok(j) = self.manager()?.get_job(&id) {
                                self.jobs.insert(alias, j);
                            }
                        }
                        Ok(Value::Null)
                    }
                    other => return fail(format!("unknown manager method {other}")),
                };
                finish(got, expect, step.get("result"), method)
            }
            "wait_state" => {
                let job = self.job(&step)?;
                let want = step["state"].as_str().ok_or("wait_state needs \"state\"")?;
                let start = Instant::now();
                loop {
                    let s = job.get_state().map_err(|e| e.to_string())?;
                    if s.name() == want {
                        return Ok(());
                    }
                    if start.elapsed() > timeout {
                        let err = job
                            .get_error()
                            .map(|e| e.get_error_description())
                            .unwrap_or_default();
                        return fail(format!(
                            "state {s} after {timeout:?}, wanted {want} ({err})"
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            "wait_bytes" => {
                let job = self.job(&step)?;
                let want = step["at_least"]
                    .as_u64()
                    .ok_or("wait_bytes needs \"at_least\"")?;
                let start = Instant::now();
                loop {
                    let p = job.get_progress().map_err(|e| e.to_string())?;
                    if p.bytes_transferred >= want {
                        return Ok(());
                    }
                    if start.elapsed() > timeout {
                        return fail(format!(
                            "{} bytes after {timeout:?}, wanted {want} (state {:?})",
                            p.bytes_transferred,
                            job.get_state()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            "measure_bytes" => {
                let job = self.job(&step)?;
                let (min, max) = (
                    step["min"].as_u64().ok_or("measure_bytes needs min")?,
                    step["max"].as_u64().ok_or("measure_bytes needs max")?,
                );
                let period = Duration::from_millis(step["ms"].as_u64().ok_or("needs ms")?);
                let first = job.get_progress().map_err(|e| e.to_string())?;
                std::thread::sleep(period);
                let second = job.get_progress().map_err(|e| e.to_string())?;
                let moved = second.bytes_transferred - first.bytes_transferred;
                if !(min..=max).contains(&moved) {
                    return fail(format!("{moved} bytes in {period:?}, wanted {min}..={max}"));
                }
                Ok(())
            }
            "expect_times" => {
                let job = self.job(&step)?;
                let t = job.get_times().map_err(|e| e.to_string())?;
                let (c, m, done) = (
                    ms(t.creation_time),
                    ms(t.modification_time),
                    t.transfer_completion_time.map(ms),
                );
                let saved = |key: &str| -> Result<(i64, i64, Option<i64>), String> {
                    let name = step[key].as_str().ok_or(format!("{key} names a save"))?;
                    self.times
                        .get(name)
                        .copied()
                        .ok_or(format!("no times saved as {name}"))
                };
                let got = format!("creation {c}, modification {m}, completion {done:?}");
                if let Some(n) = step["creation_within_ms"].as_i64()
                    && (now_ms() - c).abs() > n
                {
                    return fail(format!("{got}: creation not within {n} ms of now"));
                }
                if step.get("modification_after").is_some() {
                    let (_, before, _) = saved("modification_after")?;
                    if m <= before {
                        return fail(format!("{got}: modification not after {before}"));
                    }
                }
                match step.get("completion") {
                    Some(Value::Null) if done.is_some() => {
                        return fail(format!("{got}: completion set, wanted unset"));
                    }
                    Some(Value::String(s)) if s == "set" && done.is_none() => {
                        return fail(format!("{got}: completion unset, wanted set"));
                    }
                    _ => {}
                }
                if step.get("completion_after").is_some() {
                    let (_, before, _) = saved("completion_after")?;
                    if done.is_none_or(|d| d <= before) {
                        return fail(format!("{got}: completion not after {before}"));
                    }
                }
                if step["completion_is_modification"].as_bool() == Some(true) && done != Some(m) {
                    return fail(format!("{got}: completion is not the modification time"));
                }
                if let Some(name) = step["save"].as_str() {
                    self.times.insert(name.to_string(), (c, m, done));
                }
                Ok(())
            }
            "proxy" => {
                let kind = step["kind"].as_str().unwrap_or("http");
                self.proxy = Some(self.origin.proxy(kind, step["auth"].as_str()));
                Ok(())
            }
            "expect_proxy" => {
                let id = self.proxy.as_ref().ok_or("expect_proxy before proxy")?.1;
                let log = self.origin.proxy_log(id);
                for key in ["connections", "established"] {
                    if let Some(n) = step[key].as_u64()
                        && log[key].as_u64() != Some(n)
                    {
                        return fail(format!("proxy: {log}, wanted {key} {n}"));
                    }
                }
                Ok(())
            }
            "late_origin" => {
                let port = self.origin.late(step["ms"].as_u64().unwrap_or(2000));
                self.late = Some(format!("http://127.0.0.1:{port}"));
                Ok(())
            }
            "mkdir" => {
                let p = step["path"].as_str().ok_or("mkdir needs path")?;
                std::fs::create_dir_all(p).map_err(|e| format!("mkdir {p}: {e}"))
            }
            "remove" => {
                let p = Path::new(step["path"].as_str().ok_or("remove needs path")?);
                if p.is_dir() {
                    std::fs::remove_dir_all(p)
                } else {
                    std::fs::remove_file(p)
                }
                .map_err(|e| format!("remove {}: {e}", p.display()))
            }
            "expect_file" => {
                let path = PathBuf::from(step["path"].as_str().ok_or("expect_file needs path")?);
                let exists = step["exists"].as_bool().unwrap_or(true);
                if path.exists() != exists {
                    return fail(format!(
                        "{} exists: {}, wanted {exists}",
                        path.display(),
                        !exists
                    ));
                }
                if let Some(size) = step["size"].as_u64() {
                    let data = std::fs::read(&path).map_err(|e| e.to_string())?;
                    if data.len() as u64 != size {
                        return fail(format!(
                            "{} has {} bytes, wanted {size}",
                            path.display(),
                            data.len()
                        ));
                    }
                    let v = step["version"].as_u64().unwrap_or(0) as u8;
                    if let Some(i) = (0..size).find(|&i| data[i as usize] != content_byte(i, v)) {
                        return fail(format!("{} differs at byte {i}", path.display()));
                    }
                }
                Ok(())
            }
            "expect_temp_files" => {
                let want = step["count"].as_u64().unwrap_or(0) as usize;
                let n = temp_files(&self.dir).len();
                if n != want {
                    return fail(format!(
                        "{n} temp files, wanted {want}: {:?}",
                        temp_files(&self.dir)
                    ));
                }
                Ok(())
            }
            "expect_notifications" => {
                let alias = step["job"].as_str().ok_or("needs job")?;
                let rec = self
                    .recorders
                    .get(alias)
                    .ok_or("no recorder on that job")?
                    .clone();
                const KINDS: [&str; 5] = [
                    "transferred",
                    "error",
                    "modification",
                    "file_transferred",
                    "final_modification",
                ];
                let specs: Vec<(&str, String)> = KINDS
                    .iter()
                    .filter_map(|&kind| {
                        step[kind]
                            .as_str()
                            .map(str::to_string)
                            .or_else(|| step[kind].as_u64().map(|n| n.to_string()))
                            .map(|s| (kind, s))
                    })
                    .collect();
                let mismatch = || -> Option<String> {
                    for (kind, spec) in &specs {
                        let n = rec.count(kind);
                        if !count_matches(spec, n) {
                            return Some(format!("{kind}: {n}, wanted {spec}"));
                        }
                    }
                    if let Some(want) = step["inner_results"].as_array() {
                        let got = rec.inner_results.lock().unwrap().clone();
                        let want: Vec<String> = want
                            .iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect();
                        if got != want {
                            return Some(format!("inner results {got:?}, wanted {want:?}"));
                        }
                    }
                    None
                };
                let start = Instant::now();
                loop {
                    match mismatch() {
                        None => break,
                        Some(b) if start.elapsed() > timeout => return fail(b),
                        Some(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
                // Exact counts must also stay put: an extra delivery shows up within a
                // coalescing interval.
                if specs
                    .iter()
                    .any(|(_, s)| !s.starts_with(">=") && !s.starts_with("<="))
                {
                    let stable = step["stable_ms"].as_u64().unwrap_or(600);
                    std::thread::sleep(Duration::from_millis(stable));
                    if let Some(b) = mismatch() {
                        return fail(format!("{b} ({stable} ms after the counts matched)"));
                    }
                }
                Ok(())
            }
            "expect_origin" => {
                let name = step["name"].as_str().ok_or("needs name")?;
                let stats = self.origin.stats(name);
                if let Some(r) = step["requests"].as_u64()
                    && stats["requests"].as_u64() != Some(r)
                {
                    return fail(format!("origin {name}: {stats}, wanted {r} requests"));
                }
                if let Some(max) = step["bytes_sent_max"].as_u64()
                    && stats["bytes_sent"].as_u64().unwrap_or(0) > max
                {
                    return fail(format!(
                        "origin {name}: {stats}, wanted at most {max} bytes sent"
                    ));
                }
                // Each counted request's header lines, joined with "\n".
                if let Some(want) = step.get("headers") {
                    let got: Vec<Value> = stats["headers"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|h| {
                                    let lines: Vec<&str> = h
                                        .as_array()
                                        .map(|l| l.iter().filter_map(Value::as_str).collect())
                                        .unwrap_or_default();
                                    json!(lines.join("\n"))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if !matches_value(want, &Value::Array(got.clone())) {
                        return fail(format!("origin {name}: headers {got:?}, wanted {want}"));
                    }
                }
                if let Some(want) = step.get("if_ranges")
                    && !matches_value(want, &stats["if_ranges"])
                {
                    return fail(format!("origin {name}: {stats}, wanted If-Range {want}"));
                }
                if let Some(min) = step["range_from_min"].as_u64() {
                    let starts: Vec<u64> = stats["range_starts"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_u64).collect())
                        .unwrap_or_default();
                    if starts.is_empty() || starts.iter().any(|&a| a < min) {
                        return fail(format!(
                            "origin {name}: {stats}, wanted ranges starting at >= {min}"
                        ));
                    }
                }
                if let Some(min) = step["min_gap_ms"].as_u64() {
                    let at: Vec<u64> = stats["at_ms"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_u64).collect())
                        .unwrap_or_default();
                    if let Some(w) = at.windows(2).find(|w| w[1] - w[0] < min) {
                        return fail(format!(
                            "origin {name}: requests {} ms apart, wanted >= {min}",
                            w[1] - w[0]
                        ));
                    }
                }
                let range_requests = stats["ranges"].as_array().map_or(0, |a| {
                    a.iter()
                        .filter(|r| r.as_str().is_some_and(|s| !s.is_empty()))
                        .count()
                }) as u64;
                if let Some(want) = step["range_requests"].as_u64()
                    && range_requests != want
                {
                    return fail(format!(
                        "origin {name}: {stats}, wanted {want} range requests"
                    ));
                }
                if let Some(min) = step["min_range_requests"].as_u64()
                    && range_requests < min
                {
                    return fail(format!(
                        "origin {name}: {stats}, wanted at least {min} range requests"
                    ));
                }
                Ok(())
            }
            "sleep" => {
                std::thread::sleep(Duration::from_millis(step["ms"].as_u64().unwrap_or(0)));
                Ok(())
            }
            other => fail(format!("unknown op {other}")),
        }
    }

    fn call(
        &mut self,
        job: &CopyJob,
        method: &str,
        args: &[Value],
        step: &Value,
    ) -> Result<Result<Value, Error>, String> {
        let s = |i: usize| {
            args.get(i)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let n = |i: usize| -> Result<u32, String> {
            args.get(i)
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| format!("{method}: argument {i} must be a u32"))
        };
        let n64 = |i: usize| -> Result<u64, String> {
            args.get(i)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("{method}: argument {i} must be a u64"))
        };
        let unit = |r: Result<(), Error>| r.map(|_| Value::Null);
        Ok(match method {
            "add_file" => unit(job.add_file(&s(0), &s(1))),
            "add_file_set" => {
                let pairs: Vec<(String, String)> = args
                    .first()
                    .and_then(Value::as_array)
                    .ok_or("add_file_set takes [[url, local], ...]")?
                    .iter()
                    .map(|p| {
                        (
                            p[0].as_str().unwrap_or("").to_string(),
                            p[1].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                unit(job.add_file_set(&pairs))
            }
            "enum_files" => job.enum_files().map(|files| {
                json!(
                    files
                        .iter()
                        .map(|f| {
                            let p = f.get_progress().unwrap();
                            json!({
                                "remote_name": f.get_remote_name().unwrap(),
                                "local_name": f.get_local_name().unwrap(),
                                "bytes_total": bytes(p.bytes_total),
                                "bytes_transferred": p.bytes_transferred,
                                "completed": p.completed,
                            })
                        })
                        .collect::<Vec<_>>()
                )
            }),
            "suspend" => unit(job.suspend()),
            "resume" => unit(job.resume()),
            "cancel" => unit(job.cancel()),
            "complete" => job.complete().map(|c| json!(codes::symbol(c.code()))),
            "get_id" => Ok(json!(job.get_id())),
            "get_type" => job.get_type().map(|t| json!(t.name())),
            "get_state" => job.get_state().map(|t| json!(t.name())),
            "get_progress" => job.get_progress().map(|p| {
                json!({
                    "bytes_total": bytes(p.bytes_total),
                    "bytes_transferred": p.bytes_transferred,
                    "files_total": p.files_total,
                    "files_transferred": p.files_transferred,
                })
            }),
            "get_times" => job.get_times().map(|t| {
                json!({
                    "creation_time": ms(t.creation_time),
                    "modification_time": ms(t.modification_time),
                    "transfer_completion_time": t.transfer_completion_time.map(ms),
                })
            }),
            "get_error" => job.get_error().map(|e| {
                let (ctx, code) = e.get_error();
                json!({
                    "context": ctx.name(),
                    "code": codes::symbol(code),
                    "protocol": e.get_protocol().ok(),
                    "file": e.get_file().ok().map(|f| f.index()),
                    "description": e.get_error_description(),
                    "context_description": e.get_error_context_description(),
                })
            }),
            "get_display_name" => job.get_display_name().map(|v| json!(v)),
            "set_display_name" => unit(job.set_display_name(&long(&args[0]))),
            "get_description" => job.get_description().map(|v| json!(v)),
            "set_description" => unit(job.set_description(&long(&args[0]))),
            "get_priority" => job.get_priority().map(|p| json!(p.name())),
            "set_priority" => {
                let p = Priority::from_name(&s(0)).ok_or("bad priority name")?;
                unit(job.set_priority(p))
            }
            "get_notify_flags" => job.get_notify_flags().map(|v| json!(v)),
            "set_notify_flags" => unit(job.set_notify_flags(n(0)?)),
            "get_notify_interface" => job.get_notify_interface().map(|c| {
                if c.is_some() {
                    json!("set")
                } else {
                    Value::Null
                }
            }),
            "set_notify_interface" => {
                let alias = step["job"].as_str().unwrap_or("").to_string();
                match args.first() {
                    Some(Value::Object(o)) => {
                        let rec = Arc::new(Recorder {
                            fail_first: AtomicU32::new(
                                o.get("fail_first").and_then(Value::as_u64).unwrap_or(0) as u32,
                            ),
                            complete_in_callback: o
                                .get("complete_in_callback")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                            ..Default::default()
                        });
                        self.recorders.insert(alias, rec.clone());
                        unit(job.set_notify_interface(Some(rec)))
                    }
                    _ => unit(job.set_notify_interface(None)),
                }
            }
            "get_no_progress_timeout" => job.get_no_progress_timeout().map(|v| json!(v)),
            "set_no_progress_timeout" => unit(job.set_no_progress_timeout(n(0)?)),
            "get_minimum_retry_delay" => job.get_minimum_retry_delay().map(|v| json!(v)),
            "set_minimum_retry_delay" => unit(job.set_minimum_retry_delay(n(0)?)),
            "get_error_count" => job.get_error_count().map(|v| json!(v)),
            "set_credentials" | "remove_credentials" => {
                let target = AuthTarget::from_name(&s(0)).ok_or("bad target name")?;
                let scheme = AuthScheme::from_name(&s(1)).ok_or("bad scheme name")?;
                if method == "set_credentials" {
                    unit(job.set_credentials(target, scheme, &s(2), &s(3)))
                } else {
                    unit(job.remove_credentials(target, scheme))
                }
            }
            "get_maximum_download_time" => job.get_maximum_download_time().map(|v| json!(v)),
            "set_maximum_download_time" => unit(job.set_maximum_download_time(n(0)?)),
            "get_max_connections_per_file" => job.get_max_connections_per_file().map(|v| json!(v)),
            "set_max_connections_per_file" => unit(job.set_max_connections_per_file(n(0)?)),
            "get_bandwidth_limit" => job.get_bandwidth_limit().map(|v| json!(v)),
            "set_bandwidth_limit" => unit(job.set_bandwidth_limit(n64(0)?)),
            "replace_remote_prefix" => job.replace_remote_prefix(&s(0), &s(1)).map(|v| json!(v)),
            "set_client_certificate" => unit(job.set_client_certificate(&s(0), &s(1))),
            "remove_client_certificate" => unit(job.remove_client_certificate()),
            "set_custom_headers" => {
                let lines: Vec<String> = args
                    .first()
                    .and_then(Value::as_array)
                    .ok_or("set_custom_headers takes [[line, ...]]")?
                    .iter()
                    .map(|l| l.as_str().unwrap_or("").to_string())
                    .collect();
                unit(job.set_custom_headers(&lines))
            }
            "get_custom_headers" => job.get_custom_headers().map(|v| json!(v)),
            "make_custom_headers_write_only" => unit(job.make_custom_headers_write_only()),
            "set_security_flags" => unit(job.set_security_flags(n(0)?)),
            "get_security_flags" => job.get_security_flags().map(|v| json!(v)),
            "set_proxy_settings" => {
                let usage = ProxyUsage::from_name(&s(0)).ok_or("bad proxy usage name")?;
                unit(job.set_proxy_settings(usage, &s(1), &s(2)))
            }
            "get_proxy_settings" => job
                .get_proxy_settings()
                .map(|p| json!({"usage": p.usage.name(), "proxy": p.proxy, "bypass": p.bypass})),
            "set_remote_name"
            | "get_final_url"
            | "get_temporary_name"
            | "set_expected_hash"
            | "get_expected_hash"
            | "set_validation_state"
            | "get_validation_state"
            | "get_response_headers" => {
                let files = job.enum_files().map_err(|e| e.to_string())?;
                let f = files.get(n(0)? as usize).ok_or("no such file")?;
                match method {
                    "set_remote_name" => unit(f.set_remote_name(&s(1))),
                    "get_final_url" => f.get_final_url().map(|u| json!(u)),
                    "get_temporary_name" => f.get_temporary_name().map(|t| json!(t)),
                    "set_expected_hash" => unit(f.set_expected_hash(&s(1), &s(2))),
                    "get_expected_hash" => f
                        .get_expected_hash()
                        .map(|h| h.map_or(Value::Null, |(a, x)| json!([a, x]))),
                    "set_validation_state" => {
                        unit(f.set_validation_state(args[1].as_bool().ok_or("needs a bool")?))
                    }
                    "get_validation_state" => f.get_validation_state().map(|v| json!(v)),
                    _ => f.get_response_headers().map(|h| json!(h.join("\n"))),
                }
            }
            "wait" => {
                let ms = args.first().and_then(Value::as_u64).unwrap_or(30_000);
                job.wait(Some(Duration::from_millis(ms)))
                    .map(|s| json!(s.name()))
            }
            other => return fail(format!("unknown job method {other}")),
        })
    }
}

/// `{"repeat": "x", "count": 257}` builds long strings.
fn long(v: &Value) -> String {
    match v {
        Value::Object(o) => o["repeat"]
            .as_str()
            .unwrap_or("x")
            .repeat(o["count"].as_u64().unwrap_or(0) as usize),
        other => other.as_str().unwrap_or("").to_string(),
    }
}

fn bytes(n: u64) -> Value {
    if n == BYTES_UNKNOWN {
        json!("UNKNOWN")
    } else {
        json!(n)
    }
}

fn count_matches(spec: &str, n: u32) -> bool {
    if let Some(x) = spec.strip_prefix(">=") {
        n >= x.trim().parse().unwrap_or(0)
    } else if let Some(x) = spec.strip_prefix("<=") {
        n <= x.trim().parse().unwrap_or(0)
    } else {
        spec.trim().parse::<u32>().is_ok_and(|x| x == n)
    }
}

fn check<T>(r: Result<T, Error>, expect: &str) -> Result<Option<T>, String> {
    match r {
        Ok(v) if expect == "OK" => Ok(Some(v)),
        Ok(_) => fail(format!("succeeded, wanted {expect}")),
        Err(e) if e.symbol() == expect => Ok(None),
        Err(e) => fail(format!("failed with {e}, wanted {expect}")),
    }
}

/// `want`: `None` when the step has no `"result"` (not checked); `Some(null)` checks
/// that the call returned null.
fn finish(
    got: Result<Value, Error>,
    expect: &str,
    want: Option<&Value>,
    what: &str,
) -> Result<(), String> {
    let v = check(got, expect).map_err(|e| format!("{what}: {e}"))?;
    if let (Some(v), Some(want)) = (v, want)
        && !matches_value(want, &v)
    {
        return fail(format!("{what} returned {v}, wanted {want}"));
    }
    Ok(())
}

/// `want` matches `got` when every key of a wanted object matches (extra keys in `got`
/// are ignored), arrays match element-wise with equal length, `{"contains": s}` matches
/// strings containing s, and `"any"` matches anything.
fn matches_value(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::String(w), _) if w == "any" => true,
        (Value::Object(w), Value::String(g)) if w.contains_key("contains") => {
            g.contains(w["contains"].as_str().unwrap_or(""))
        }
        (Value::Object(w), Value::String(g)) if w.contains_key("lacks") => {
            !g.contains(w["lacks"].as_str().unwrap_or(""))
        }
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, wv)| matches_value(wv, g.get(k).unwrap_or(&Value::Null))),
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| matches_value(a, b))
        }
        (w, g) => w == g,
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".bgcopy-part") {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// A scenario's manager options, through the core's option table: `name_ms` keys are
/// durations of option `name`, the others counts; `trust_origin_cert` trusts the test
/// origin's certificate.
fn options(spec: &Value, origin: &Origin) -> Result<ManagerOptions, String> {
    let mut o = ManagerOptions::default();
    for (key, v) in spec.as_object().into_iter().flatten() {
        if key == "trust_origin_cert" {
            if v.as_bool() == Some(true) {
                o.tls_root_certs = Some(vec![origin.cert.clone()]);
            }
            continue;
        }
        let n = v
            .as_u64()
            .ok_or_else(|| format!("manager.{key}: {v} is not a whole number"))?;
        let (name, value) = match key.strip_suffix("_ms") {
            Some(name) => (name, OptionValue::Duration(Duration::from_millis(n))),
            None => (key.as_str(), OptionValue::Count(n)),
        };
        o.set(name, value)
            .map_err(|e| format!("manager.{key}: {e}"))?;
    }
    Ok(o)
}

fn run_scenario(origin: Arc<Origin>, path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let sc: Value = serde_json::from_str(&text).map_err(|e| format!("bad JSON: {e}"))?;
    check_keys("scenario", &sc, &[&schema()["scenario"]])?;
    check_keys("manager", &sc["manager"], &[&schema()["manager"]])?;
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let dir = std::env::temp_dir().join(format!("bgcopy-scn-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut run = Run {
        opts: options(&sc["manager"], &origin)?,
        origin,
        dir: dir.clone(),
        manager: None,
        jobs: HashMap::new(),
        recorders: HashMap::new(),
        times: HashMap::new(),
        late: None,
        proxy: None,
    };
    run.open()?;
    let steps = sc["steps"].as_array().ok_or("scenario needs \"steps\"")?;
    for (i, step) in steps.iter().enumerate() {
        run.step(step)
            .map_err(|e| format!("step {} {}: {e}", i + 1, step))?;
    }
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// One origin for every scenario of this process.
fn origin() -> Arc<Origin> {
    static ORIGIN: OnceLock<Arc<Origin>> = OnceLock::new();
    ORIGIN.get_or_init(|| Arc::new(Origin::start())).clone()
}

fn main() {
    let mut args = libtest_mimic::Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(
            std::env::var("BGCOPY_SCENARIO_JOBS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(4),
        );
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("tests/scenarios"))
        .expect("tests/scenarios")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scenarios found");
    let trials = paths
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            libtest_mimic::Trial::test(name, move || {
                run_scenario(origin(), &p).map_err(libtest_mimic::Failed::from)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
