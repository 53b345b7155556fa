//! Job and file rows: saved as the records hold them, loaded with every value checked
//! (a value out of range is STORE_CORRUPT naming the row and column).

use super::Store;
use crate::error::{Error, Result, codes};
use crate::record::{ErrorRec, FileRec, JobRec};
use crate::types::*;
use rusqlite::{OptionalExtension, params};
use std::path::PathBuf;
use uuid::Uuid;

/// A stored row that cannot be loaded: STORE_CORRUPT naming the row and column.
fn bad_row(table: &str, key: &str, column: &str, value: impl std::fmt::Display) -> Error {
    Error::new(
        codes::STORE_CORRUPT,
        format!(
            "the job store is damaged: {table} row {key}: column {column} holds {value}, \
             which is out of range; repair or delete that row (sqlite3 bgcopy.db) to open it"
        ),
    )
}

/// Raw values of a `jobs` row, checked by [`decode_job`].
struct JobRow {
    id: String,
    ints: [Option<i64>; JOB_INTS.len()],
    err_description: Option<String>,
    err_protocol: Option<String>,
    display_name: String,
    description: String,
    notify_program: Option<String>,
    notify_args: Option<Vec<u8>>,
    custom_headers: Option<Vec<u8>>,
    credentials: Option<Vec<u8>>,
    proxy: Option<String>,
    proxy_bypass: Option<String>,
    client_cert: Option<String>,
    client_key: Option<String>,
}

/// Columns of [`JobRow::ints`], in order.
const JOB_INTS: [&str; 26] = [
    "seq",
    "job_type",
    "priority",
    "notify_flags",
    "no_progress_timeout",
    "min_retry_delay",
    "state",
    "error_count",
    "err_context",
    "err_code",
    "err_file",
    "creation_ms",
    "modification_ms",
    "completion_ms",
    "retry_at_ms",
    "no_progress_since_ms",
    "completing",
    "cmd_due",
    "cmd_retry_at_ms",
    "headers_write_only",
    "security_flags",
    "max_download_time",
    "download_ms",
    "proxy_usage",
    "max_connections_per_file",
    "bandwidth_limit",
];

fn decode_job(row: JobRow) -> Result<JobRec> {
    let key = row.id.clone();
    let id = Uuid::try_parse(&row.id).map_err(|_| bad_row("jobs", &key, "id", &row.id))?;
    let get = |col: &str| -> Option<i64> {
        let i = JOB_INTS.iter().position(|c| *c == col).unwrap_or(0);
        row.ints[i]
    };
    let need =
        |col: &str| -> Result<i64> { get(col).ok_or_else(|| bad_row("jobs", &key, col, "NULL")) };
    let u32_of = |col: &str| -> Result<u32> {
        let v = need(col)?;
        u32::try_from(v).map_err(|_| bad_row("jobs", &key, col, v))
    };
    let en = |col: &str, f: fn(u32) -> bool| -> Result<u32> {
        let v = u32_of(col)?;
        if f(v) {
            Ok(v)
        } else {
            Err(bad_row("jobs", &key, col, v))
        }
    };
    let job_type = JobType::from_u32(en("job_type", |v| JobType::from_u32(v).is_some())?)
        .unwrap_or(JobType::Download);
    let priority = Priority::from_u32(en("priority", |v| Priority::from_u32(v).is_some())?)
        .unwrap_or(Priority::Normal);
    let state = JobState::from_u32(en("state", |v| JobState::from_u32(v).is_some())?)
        .unwrap_or(JobState::Suspended);
    let notify_flags = en("notify_flags", |v| v & !notify::ALL == 0)?;
    let error = match get("err_code") {
        Some(code) => {
            let code = u32::try_from(code).map_err(|_| bad_row("jobs", &key, "err_code", code))?;
            let context = match get("err_context") {
                Some(c) => u32::try_from(c)
                    .ok()
                    .and_then(ErrorContext::from_u32)
                    .ok_or_else(|| bad_row("jobs", &key, "err_context", c))?,
                None => ErrorContext::Unknown,
            };
            let file = match get("err_file") {
                Some(f) => {
                    Some(usize::try_from(f).map_err(|_| bad_row("jobs", &key, "err_file", f))?)
                }
                None => None,
            };
            Some(ErrorRec {
                context,
                code,
                description: row.err_description.clone().unwrap_or_default(),
                file,
                protocol: row.err_protocol.clone(),
            })
        }
        None => None,
    };
    let mut job = JobRec::new(
        id,
        need("seq")?,
        job_type,
        row.display_name.clone(),
        need("creation_ms")?,
    );
    job.description = row.description.clone();
    job.priority = priority;
    job.notify_flags = notify_flags;
    job.no_progress_timeout = u32_of("no_progress_timeout")?;
    job.min_retry_delay = u32_of("min_retry_delay")?;
    job.state = state;
    job.error = error;
    job.error_count = u32_of("error_count")?;
    job.modification_ms = need("modification_ms")?;
    job.completion_ms = get("completion_ms");
    job.retry_at_ms = get("retry_at_ms");
    job.no_progress_since_ms = get("no_progress_since_ms");
    job.completing = get("completing").unwrap_or(0) != 0;
    job.notify_cmd = match row.notify_program.clone() {
        Some(program) => {
            let raw = row.notify_args.clone().unwrap_or_default();
            let args = decode_args(&raw)
                .ok_or_else(|| bad_row("jobs", &key, "notify_args", "bytes that are not UTF-8"))?;
            Some(NotifyCmdLine { program, args })
        }
        None => None,
    };
    job.cmd_due = match get("cmd_due") {
        Some(v) => Some(
            u32::try_from(v)
                .ok()
                .and_then(JobState::from_u32)
                .filter(|s| matches!(s, JobState::Transferred | JobState::Error))
                .ok_or_else(|| bad_row("jobs", &key, "cmd_due", v))?,
        ),
        None => None,
    };
    job.cmd_retry_at_ms = get("cmd_retry_at_ms");
    job.custom_headers = decode_args(row.custom_headers.as_deref().unwrap_or_default())
        .ok_or_else(|| bad_row("jobs", &key, "custom_headers", "bytes that are not UTF-8"))?;
    job.headers_write_only = get("headers_write_only").unwrap_or(0) != 0;
    job.security_flags = en("security_flags", |f| {
        crate::request::check_security_flags(f).is_ok()
    })?;
    job.credentials = decode_args(row.credentials.as_deref().unwrap_or_default())
        .and_then(|f| crate::request::decode_credentials(&f))
        .ok_or_else(|| bad_row("jobs", &key, "credentials", "fields that do not decode"))?;
    job.max_download_time = u32_of("max_download_time")?;
    job.download_ms = need("download_ms")?.max(0);
    job.max_connections_per_file = u32_of("max_connections_per_file")?;
    job.bandwidth_limit = {
        let v = need("bandwidth_limit")?;
        u64::try_from(v).map_err(|_| bad_row("jobs", &key, "bandwidth_limit", v))?
    };
    let usage = ProxyUsage::from_u32(en("proxy_usage", |v| ProxyUsage::from_u32(v).is_some())?)
        .unwrap_or(ProxyUsage::Preconfig);
    job.proxy = crate::proxy::check_proxy_settings(
        usage,
        row.proxy.as_deref().unwrap_or_default(),
        row.proxy_bypass.as_deref().unwrap_or_default(),
    )
    .map_err(|e| bad_row("jobs", &key, "proxy", e.message()))?;
    job.client_cert = match (&row.client_cert, &row.client_key) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        _ => None,
    };
    Ok(job)
}

/// The columns of a job row, in the order [`job_row`] reads them.
const JOB_SELECT: &str = "SELECT id, seq, job_type, priority, notify_flags, no_progress_timeout,
     min_retry_delay, state, error_count, err_context, err_code, err_file,
     creation_ms, modification_ms, completion_ms, retry_at_ms,
     no_progress_since_ms, completing, cmd_due, cmd_retry_at_ms, headers_write_only,
     security_flags, max_download_time, download_ms, proxy_usage, max_connections_per_file,
     bandwidth_limit, err_description,
     err_protocol, display_name, description, notify_program, notify_args, custom_headers,
     credentials, proxy, proxy_bypass, client_cert, client_key FROM jobs";

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    let mut ints = [None; JOB_INTS.len()];
    for (i, v) in ints.iter_mut().enumerate() {
        *v = r.get::<_, Option<i64>>(i + 1)?;
    }
    let n = JOB_INTS.len() + 1;
    Ok(JobRow {
        id: r.get(0)?,
        ints,
        err_description: r.get(n)?,
        err_protocol: r.get(n + 1)?,
        display_name: r.get(n + 2)?,
        description: r.get(n + 3)?,
        notify_program: r.get(n + 4)?,
        notify_args: r.get(n + 5)?,
        custom_headers: r.get(n + 6)?,
        credentials: r.get(n + 7)?,
        proxy: r.get(n + 8)?,
        proxy_bypass: r.get(n + 9)?,
        client_cert: r.get(n + 10)?,
        client_key: r.get(n + 11)?,
    })
}

/// Arguments as stored: each one followed by a NUL byte (arguments never hold NUL).
fn encode_args(args: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(a.as_bytes());
        out.push(0);
    }
    out
}

fn decode_args(raw: &[u8]) -> Option<Vec<String>> {
    if raw.is_empty() {
        return Some(Vec::new());
    }
    let body = raw.strip_suffix(&[0])?;
    body.split(|b| *b == 0)
        .map(|a| String::from_utf8(a.to_vec()).ok())
        .collect()
}

/// The states of jobs that are not final, as stored.
const LIVE: &str = "state NOT IN (7, 8)";

impl Store {
    /// Job `id` with its files (`None` when there is no such row); temporary files are
    /// matched with the identities the ledger recorded. A value out of range is
    /// STORE_CORRUPT naming its row.
    pub fn load_job(&self, id: Uuid) -> Result<Option<JobRec>> {
        let e = |e| self.err("load a job", e);
        let key = id.to_string();
        let row = self
            .conn
            .prepare_cached(&format!("{JOB_SELECT} WHERE id = ?1"))
            .and_then(|mut st| st.query_row([&key], job_row).optional())
            .map_err(e)?;
        let Some(row) = row else { return Ok(None) };
        let mut job = decode_job(row)?;
        let mut fstmt = self
            .conn
            .prepare_cached(
                "SELECT idx, remote, local, total, done_bytes, validator, done, completed,
                 temp_name, changed_restarts, live_bytes, final_url, expected_hash, validated,
                 response_headers, auth_url, parts, one_stream FROM files WHERE job_id = ?1
                 ORDER BY idx",
            )
            .map_err(e)?;
        let rows = fstmt
            .query_map([&key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, bool>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, i64>(10)?,
                    r.get::<_, Option<String>>(11)?,
                    r.get::<_, Option<String>>(12)?,
                    r.get::<_, bool>(13)?,
                    r.get::<_, Option<Vec<u8>>>(14)?,
                    r.get::<_, Option<String>>(15)?,
                    r.get::<_, Option<String>>(16)?,
                    r.get::<_, bool>(17)?,
                ))
            })
            .map_err(e)?;
        for row in rows {
            let (
                idx,
                remote,
                local,
                total,
                done_bytes,
                validator,
                done,
                completed,
                temp,
                restarts,
                live,
                final_url,
                expected_hash,
                validated,
                response_headers,
                auth_url,
                parts,
                one_stream,
            ) = row.map_err(e)?;
            let fkey = format!("{key} #{idx}");
            if usize::try_from(idx).ok() != Some(job.files.len()) {
                return Err(bad_row("files", &fkey, "idx", idx));
            }
            let total = match total {
                Some(t) => Some(u64::try_from(t).map_err(|_| bad_row("files", &fkey, "total", t))?),
                None => None,
            };
            let done_bytes = u64::try_from(done_bytes)
                .ok()
                .filter(|d| total.is_none_or(|t| *d <= t))
                .ok_or_else(|| bad_row("files", &fkey, "done_bytes", done_bytes))?;
            let changed_restarts = u32::try_from(restarts)
                .map_err(|_| bad_row("files", &fkey, "changed_restarts", restarts))?;
            let parts = match parts {
                Some(p) => Some(
                    crate::ranges::decode(&p, total)
                        .filter(|r| crate::ranges::sum(r) == done_bytes)
                        .ok_or_else(|| bad_row("files", &fkey, "parts", &p))?,
                ),
                None => None,
            };
            // A store from before random temporary names has none: its old temporary
            // file cannot be proven ours, so the file starts over under a new one.
            let temp = temp.filter(|n| !n.contains('/') && n.starts_with('.'));
            let local = PathBuf::from(local);
            let name = temp
                .clone()
                .unwrap_or_else(|| crate::record::new_temp_name(&local));
            let mut f = FileRec::new(remote, local, name);
            f.total = total;
            f.done_bytes = done_bytes;
            f.synced = done_bytes;
            f.parts = parts.clone();
            f.synced_parts = parts;
            f.one_stream = one_stream;
            f.validator = validator;
            f.done = done;
            f.completed = completed;
            f.changed_restarts = changed_restarts;
            f.published = u64::try_from(live).unwrap_or(0);
            f.final_url = final_url;
            f.expected_hash = match expected_hash {
                Some(h) => Some(
                    crate::request::check_hash_text(&h)
                        .map_err(|_| bad_row("files", &fkey, "expected_hash", &h))?,
                ),
                None => None,
            };
            f.validated = validated;
            f.auth_url = auth_url;
            f.response_headers = decode_args(response_headers.as_deref().unwrap_or_default())
                .ok_or_else(|| {
                    bad_row(
                        "files",
                        &fkey,
                        "response_headers",
                        "bytes that are not UTF-8",
                    )
                })?;
            match temp {
                Some(_) => f.temp_id = self.temp_id(&f.temp_path())?,
                None => f.reset(),
            }
            job.files.push(f);
        }
        Ok(Some(job))
    }

    /// Ids of the jobs whose stored state is one of `states` (all jobs for `None`; the
    /// live ones, not ACKNOWLEDGED or CANCELLED, for `Some(&[])`), in creation order.
    pub fn job_ids(&self, states: Option<&[JobState]>) -> Result<Vec<Uuid>> {
        let filter = match states {
            None => String::new(),
            Some([]) => format!(" WHERE {LIVE}"),
            Some(list) => format!(
                " WHERE state IN ({})",
                list.iter()
                    .map(|s| (*s as u32).to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        let e = |e| self.err("list jobs", e);
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT id FROM jobs{filter} ORDER BY seq"))
            .map_err(e)?;
        let ids = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        ids.iter()
            .map(|k| Uuid::try_parse(k).map_err(|_| bad_row("jobs", k, "id", k)))
            .collect()
    }

    /// The jobs changed after revision `rev`, with the newest revision among them.
    pub fn changed_since(&self, rev: i64) -> Result<(Vec<Uuid>, i64)> {
        let e = |e| self.err("read changes", e);
        let mut st = self
            .conn
            .prepare_cached("SELECT id, rev FROM jobs WHERE rev > ?1")
            .map_err(e)?;
        let mut newest = rev;
        let mut ids = Vec::new();
        let rows = st
            .query_map([rev], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(e)?;
        for row in rows {
            let (k, r) = row.map_err(e)?;
            newest = newest.max(r);
            if let Ok(id) = Uuid::try_parse(&k) {
                ids.push(id);
            }
        }
        Ok((ids, newest))
    }

    /// The newest revision of any job.
    pub fn max_rev(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(rev), 0) FROM jobs", [], |r| r.get(0))
            .map_err(|e| self.err("read changes", e))
    }

    /// Jobs whose notify command line is due at `now` (not waiting for a retry),
    /// with the state it is due for.
    pub fn due_commands(&self, now: i64) -> Result<Vec<Uuid>> {
        let e = |e| self.err("list notify commands", e);
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id FROM jobs WHERE cmd_due IS NOT NULL
                 AND coalesce(cmd_retry_at_ms, 0) <= ?1",
            )
            .map_err(e)?;
        let ids = st
            .query_map([now], |r| r.get::<_, String>(0))
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        Ok(ids.iter().filter_map(|k| Uuid::try_parse(k).ok()).collect())
    }

    /// The live jobs with a file whose local path is `local`, in creation order.
    pub fn jobs_with_local(&self, local: &str) -> Result<Vec<Uuid>> {
        let e = |e| self.err("find jobs", e);
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT DISTINCT j.id FROM files f JOIN jobs j ON j.id = f.job_id
                 WHERE f.local = ?1 AND {LIVE} ORDER BY j.seq"
            ))
            .map_err(e)?;
        let ids = st
            .query_map([local], |r| r.get::<_, String>(0))
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        Ok(ids.iter().filter_map(|k| Uuid::try_parse(k).ok()).collect())
    }

    /// The next job's creation number (call inside the transaction that saves it).
    pub fn next_seq(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(seq), 0) + 1 FROM jobs", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err("number a job", e))
    }

    /// Insert or replace a job's own row (not its files).
    pub fn save_job(&self, j: &JobRec) -> Result<()> {
        let r = self.write_job(j);
        self.saves.borrow_mut().push((j.id, r.is_ok()));
        r
    }

    fn write_job(&self, j: &JobRec) -> Result<()> {
        self.live.borrow_mut().remove(&j.id);
        let err = j.error.as_ref();
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO jobs (id, seq, job_type, display_name, description,
                 priority, notify_flags, no_progress_timeout, min_retry_delay, state, error_count,
                 err_context, err_code, err_description, err_file, err_protocol, creation_ms,
                 modification_ms, completion_ms, retry_at_ms, no_progress_since_ms, completing,
                 notify_program, notify_args, cmd_due, cmd_retry_at_ms, custom_headers,
                 headers_write_only, security_flags, credentials, max_download_time, download_ms,
                 proxy_usage, proxy, proxy_bypass, client_cert, client_key,
                 max_connections_per_file, bandwidth_limit, rev)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,
                 ?23,?24,?25,?26,?27,?28,?29,?30,?31,?32,?33,?34,?35,?36,?37,?38,?39,
                 (SELECT coalesce(max(rev), 0) + 1 FROM jobs))",
            )
            .and_then(|mut st| {
                st.execute(params![
                    j.id.to_string(),
                    j.seq,
                    j.job_type as u32,
                    j.display_name,
                    j.description,
                    j.priority as u32,
                    j.notify_flags,
                    j.no_progress_timeout,
                    j.min_retry_delay,
                    // As it is, so that every process sees it (an engine that takes over
                    // queues the jobs a dead engine was running).
                    j.state as u32,
                    j.error_count,
                    err.map(|e| e.context as u32),
                    err.map(|e| e.code as i64),
                    err.map(|e| e.description.clone()),
                    err.and_then(|e| e.file.map(|f| f as i64)),
                    err.and_then(|e| e.protocol.clone()),
                    j.creation_ms,
                    j.modification_ms,
                    j.completion_ms,
                    j.retry_at_ms,
                    j.no_progress_since_ms,
                    j.completing,
                    j.notify_cmd.as_ref().map(|c| c.program.clone()),
                    j.notify_cmd.as_ref().map(|c| encode_args(&c.args)),
                    j.cmd_due.map(|s| s as u32),
                    j.cmd_retry_at_ms,
                    (!j.custom_headers.is_empty()).then(|| encode_args(&j.custom_headers)),
                    j.headers_write_only,
                    j.security_flags,
                    (!j.credentials.is_empty())
                        .then(|| encode_args(&crate::request::encode_credentials(&j.credentials))),
                    j.max_download_time,
                    j.download_ms,
                    j.proxy.usage as u32,
                    (!j.proxy.proxy.is_empty()).then_some(j.proxy.proxy.as_str()),
                    (!j.proxy.bypass.is_empty()).then_some(j.proxy.bypass.as_str()),
                    j.client_cert.as_ref().map(|c| c.0.to_string_lossy().into_owned()),
                    j.client_cert.as_ref().map(|c| c.1.to_string_lossy().into_owned()),
                    j.max_connections_per_file,
                    j.bandwidth_limit as i64,
                ])
            })
            .map_err(|e| self.err("save job", e))?;
        Ok(())
    }

    /// Insert or replace file `idx` of job `id` (nothing for a final job, whose files
    /// are gone) and stamp the job as changed.
    pub fn save_file(&self, id: Uuid, idx: usize, f: &FileRec) -> Result<()> {
        self.write_file(id, idx, f, false)
    }

    /// [`Store::save_file`] for a file just added (no row yet): one INSERT, without
    /// first trying an UPDATE that finds nothing (a thousand files added at once were
    /// a thousand wasted statements).
    pub fn insert_file(&self, id: Uuid, idx: usize, f: &FileRec) -> Result<()> {
        self.write_file(id, idx, f, true)
    }

    fn write_file(&self, id: Uuid, idx: usize, f: &FileRec, new: bool) -> Result<()> {
        // Never a row for a job that is no longer live.
        if !self.is_live(id)? {
            return Ok(());
        }
        let values = params![
            id.to_string(),
            idx as i64,
            f.remote,
            f.local.to_string_lossy(),
            f.total.map(|t| t as i64),
            f.synced as i64,
            f.validator,
            // Done only once every byte is durable.
            f.done && f.total == Some(f.synced) && f.synced_parts.is_none(),
            f.completed,
            f.temp_name,
            f.changed_restarts,
            f.published as i64,
            f.final_url,
            f.expected_hash,
            f.validated,
            (!f.response_headers.is_empty()).then(|| encode_args(&f.response_headers)),
            f.auth_url,
            f.synced_parts.as_deref().map(crate::ranges::encode),
            f.one_stream,
        ];
        // The row in place when it exists (a checkpoint of a thousand small files
        // rewrites a thousand rows: no delete and insert, no index touched), else a new
        // one.
        let updated = if new {
            0
        } else {
            self.conn
                .prepare_cached(
                    "UPDATE files SET remote = ?3, total = ?5, done_bytes = ?6, validator = ?7,
                 done = ?8, completed = ?9, temp_name = ?10, changed_restarts = ?11,
                 live_bytes = ?12, final_url = ?13, expected_hash = ?14, validated = ?15,
                 response_headers = ?16, auth_url = ?17, parts = ?18, one_stream = ?19
                 WHERE job_id = ?1 AND idx = ?2",
                )
                .and_then(|mut st| st.execute(values))
                .map_err(|e| self.err("save file", e))?
        };
        if updated == 0 {
            self.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO files (job_id, idx, remote, local, total, done_bytes,
                     validator, done, completed, temp_name, changed_restarts, live_bytes, final_url,
                     expected_hash, validated, response_headers, auth_url, parts, one_stream)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)",
                )
                .and_then(|mut st| st.execute(values))
                .map_err(|e| self.err("save file", e))?;
        }
        self.stamp(id)
    }

    /// Whether job `id` may have file rows written: it is not final (or has no row
    /// yet). Asked once per job in a transaction, not once per row: a checkpoint or an
    /// `add_file_set` of a thousand files wrote a thousand rows, each with this
    /// question as a subquery.
    fn is_live(&self, id: Uuid) -> Result<bool> {
        if self.depth > 0 && self.live.borrow().contains(&id) {
            return Ok(true);
        }
        let live = self
            .conn
            .prepare_cached(&format!(
                "SELECT NOT EXISTS (SELECT 1 FROM jobs WHERE id = ?1 AND NOT ({LIVE}))"
            ))
            .and_then(|mut st| st.query_row([id.to_string()], |r| r.get::<_, bool>(0)))
            .map_err(|e| self.err("save file", e))?;
        if live && self.depth > 0 {
            self.live.borrow_mut().insert(id);
        }
        Ok(live)
    }

    /// Record file `idx`'s last response (its final URL and headers) without touching
    /// its progress (which only a synced checkpoint records): after a failed request,
    /// so that the app and other processes see what the server answered.
    pub fn save_response(&self, id: Uuid, idx: usize, f: &FileRec) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE files SET final_url = ?3, response_headers = ?4 WHERE job_id = ?1 AND idx = ?2",
            )
            .and_then(|mut st| {
                st.execute(params![
                    id.to_string(),
                    idx as i64,
                    f.final_url,
                    (!f.response_headers.is_empty()).then(|| encode_args(&f.response_headers)),
                ])
            })
            .map_err(|e| self.err("save file", e))?;
        self.stamp(id)
    }

    /// Mark job `id` as changed (a new revision) for the other processes.
    pub fn stamp(&self, id: Uuid) -> Result<()> {
        if self.depth > 0 && self.stamped.borrow().contains(&id) {
            return Ok(());
        }
        self.conn
            .prepare_cached(
                "UPDATE jobs SET rev = (SELECT coalesce(max(rev), 0) + 1 FROM jobs) WHERE id = ?1",
            )
            .and_then(|mut st| st.execute([id.to_string()]))
            .map_err(|e| self.err("save job", e))?;
        if self.depth > 0 {
            self.stamped.borrow_mut().insert(id);
        }
        Ok(())
    }

    /// End job `id` in final state `state` at `now`: its file rows go; its own row
    /// stays, with the final state, for every process to see (the temp ledger keeps its
    /// entries until the files are deleted). Call inside a transaction.
    pub fn finish_job(&self, id: Uuid, state: JobState, now: i64) -> Result<()> {
        self.live.borrow_mut().remove(&id);
        let key = id.to_string();
        let e = |e| self.err("end a job", e);
        self.conn
            .execute("DELETE FROM files WHERE job_id = ?1", [&key])
            .map_err(e)?;
        self.conn
            .execute(
                "UPDATE jobs SET state = ?2, completing = 0, cmd_due = NULL, cmd_retry_at_ms = NULL,
                 modification_ms = max(modification_ms, ?3),
                 rev = (SELECT coalesce(max(rev), 0) + 1 FROM jobs) WHERE id = ?1",
                params![key, state as u32, now],
            )
            .map_err(e)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FileRec, JobRec};
    use crate::types::JobType;

    fn store() -> (Store, PathBuf) {
        let dir = crate::store::tests::scratch("jobs");
        (Store::open(&dir.join("bgcopy.db")).unwrap(), dir)
    }

    fn file(name: &str, done: u64) -> FileRec {
        let mut f = FileRec::new(
            format!("http://127.0.0.1:9/{name}"),
            PathBuf::from(format!("/tmp/{name}")),
            format!(".{name}.x.bgcopy-part"),
        );
        f.total = Some(100);
        f.synced = done;
        f
    }

    #[test]
    fn a_new_file_is_one_insert_and_a_second_insert_replaces_it() {
        let (mut s, dir) = store();
        let id = Uuid::now_v7();
        let job = JobRec::new(id, 1, JobType::Download, "j".into(), 0);
        s.atomic(|s| {
            s.save_job(&job)?;
            s.insert_file(id, 0, &file("a", 0))
        })
        .unwrap();
        assert_eq!(s.load_job(id).unwrap().unwrap().files.len(), 1);
        s.atomic(|s| s.save_file(id, 0, &file("a", 30))).unwrap();
        // A second insert of the same row replaces it.
        s.atomic(|s| s.insert_file(id, 1, &file("b", 0))).unwrap();
        s.atomic(|s| s.insert_file(id, 1, &file("b", 20))).unwrap();
        let loaded = s.load_job(id).unwrap().unwrap();
        assert_eq!(loaded.files.len(), 2);
        assert_eq!(loaded.files[0].done_bytes, 30);
        assert_eq!(loaded.files[1].done_bytes, 20);
        drop(s);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn rows(s: &Store, id: Uuid) -> i64 {
        s.conn
            .query_row(
                "SELECT count(*) FROM files WHERE job_id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .unwrap()
    }

    #[test]
    fn a_final_job_gets_no_file_rows_even_after_its_liveness_was_remembered() {
        let (mut s, dir) = store();
        let id = Uuid::now_v7();
        let job = JobRec::new(id, 1, JobType::Download, "j".into(), 0);
        s.atomic(|s| s.save_job(&job)).unwrap();
        // Found live by the first row; ended in the same transaction: the next rows
        // are not written.
        s.atomic(|s| {
            s.insert_file(id, 0, &file("a", 0))?;
            s.finish_job(id, JobState::Cancelled, 1)?;
            s.insert_file(id, 1, &file("b", 0))?;
            s.save_file(id, 2, &file("c", 0))
        })
        .unwrap();
        assert_eq!(rows(&s, id), 0);
        // Nor in a later transaction.
        s.atomic(|s| s.save_file(id, 0, &file("a", 10))).unwrap();
        assert_eq!(rows(&s, id), 0);
        // A job made final by saving its row forgets its liveness too.
        let other = Uuid::now_v7();
        let mut job = JobRec::new(other, 2, JobType::Download, "k".into(), 0);
        s.atomic(|s| {
            s.save_job(&job)?;
            s.insert_file(other, 0, &file("a", 0))?;
            job.state = JobState::Acknowledged;
            s.save_job(&job)?;
            s.insert_file(other, 1, &file("b", 0))
        })
        .unwrap();
        assert_eq!(rows(&s, other), 1);
        drop(s);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_transaction_stamps_a_job_once_and_rows_are_updated_in_place() {
        let (mut s, dir) = store();
        let id = Uuid::now_v7();
        let job = JobRec::new(id, 1, JobType::Download, "j".into(), 0);
        s.atomic(|s| s.save_job(&job)).unwrap();
        let r0 = s.max_rev().unwrap();
        // Two new rows and an update of the first, in one transaction: one new revision.
        s.atomic(|s| {
            s.save_file(id, 0, &file("a", 0))?;
            s.save_file(id, 1, &file("b", 0))?;
            s.save_file(id, 0, &file("a", 40))
        })
        .unwrap();
        assert_eq!(s.max_rev().unwrap(), r0 + 1);
        let loaded = s.load_job(id).unwrap().unwrap();
        assert_eq!(loaded.files.len(), 2);
        assert_eq!(loaded.files[0].done_bytes, 40);
        assert_eq!(loaded.files[0].local, PathBuf::from("/tmp/a"));
        // The next transaction stamps again.
        s.atomic(|s| s.save_file(id, 1, &file("b", 70))).unwrap();
        assert_eq!(s.max_rev().unwrap(), r0 + 2);
        // A savepoint rolled back takes its stamp with it: the next save stamps anew.
        s.begin().unwrap();
        let r = s.atomic(|s| {
            s.save_file(id, 0, &file("a", 50))?;
            Err::<(), _>(crate::Error::invalid_arg("roll back"))
        });
        assert!(r.is_err());
        s.save_file(id, 0, &file("a", 60)).unwrap();
        s.commit().unwrap();
        assert!(s.max_rev().unwrap() > r0 + 2);
        assert_eq!(s.load_job(id).unwrap().unwrap().files[0].done_bytes, 60);
        // A final job's files are neither updated nor written again.
        s.atomic(|s| s.finish_job(id, JobState::Cancelled, 1))
            .unwrap();
        s.atomic(|s| s.save_file(id, 0, &file("a", 90))).unwrap();
        let n: i64 = s
            .conn
            .query_row("SELECT count(*) FROM files", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
