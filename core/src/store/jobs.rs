//! Job and file rows: saved as the records hold them, loaded with every value checked
//! (a value out of range is STORE_CORRUPT naming the row and column).

use super::Store;
use crate::error::{Error, Result, codes};
use crate::record::{ErrorRec, FileRec, JobRec};
use crate::sys::FileId;
use crate::types::*;
use rusqlite::params;
use std::collections::HashMap;
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
    ints: [Option<i64>; 17],
    err_description: Option<String>,
    err_protocol: Option<String>,
    display_name: String,
    description: String,
}

/// Columns of [`JobRow::ints`], in order.
const JOB_INTS: [&str; 17] = [
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
    Ok(job)
}

impl Store {
    /// Every job with its files, in creation order; temporary files are matched with
    /// the identities the ledger recorded. A value out of range is STORE_CORRUPT
    /// naming its row.
    pub fn load(&self) -> Result<Vec<JobRec>> {
        let e = |e| self.err("load jobs", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, seq, job_type, priority, notify_flags, no_progress_timeout,
                 min_retry_delay, state, error_count, err_context, err_code, err_file,
                 creation_ms, modification_ms, completion_ms, retry_at_ms,
                 no_progress_since_ms, completing, err_description, err_protocol,
                 display_name, description FROM jobs ORDER BY seq",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                let mut ints = [None; 17];
                for (i, v) in ints.iter_mut().enumerate() {
                    *v = r.get::<_, Option<i64>>(i + 1)?;
                }
                Ok(JobRow {
                    id: r.get(0)?,
                    ints,
                    err_description: r.get(18)?,
                    err_protocol: r.get(19)?,
                    display_name: r.get(20)?,
                    description: r.get(21)?,
                })
            })
            .map_err(e)?;
        let mut jobs = Vec::new();
        for row in rows {
            jobs.push(decode_job(row.map_err(e)?)?);
        }
        let ledger: HashMap<PathBuf, FileId> = self.temps()?.into_iter().collect();
        let mut fstmt = self
            .conn
            .prepare(
                "SELECT idx, remote, local, total, done_bytes, validator, done, completed,
                 temp_name, changed_restarts FROM files WHERE job_id = ?1 ORDER BY idx",
            )
            .map_err(e)?;
        for job in &mut jobs {
            let key = job.id.to_string();
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
                ) = row.map_err(e)?;
                let fkey = format!("{key} #{idx}");
                if usize::try_from(idx).ok() != Some(job.files.len()) {
                    return Err(bad_row("files", &fkey, "idx", idx));
                }
                let total = match total {
                    Some(t) => {
                        Some(u64::try_from(t).map_err(|_| bad_row("files", &fkey, "total", t))?)
                    }
                    None => None,
                };
                let done_bytes = u64::try_from(done_bytes)
                    .ok()
                    .filter(|d| total.is_none_or(|t| *d <= t))
                    .ok_or_else(|| bad_row("files", &fkey, "done_bytes", done_bytes))?;
                let changed_restarts = u32::try_from(restarts)
                    .map_err(|_| bad_row("files", &fkey, "changed_restarts", restarts))?;
                let mut f = FileRec::new(remote, PathBuf::from(local));
                f.total = total;
                f.done_bytes = done_bytes;
                f.validator = validator;
                f.done = done;
                f.completed = completed;
                f.changed_restarts = changed_restarts;
                match temp {
                    Some(name) if !name.contains('/') && name.starts_with('.') => {
                        f.temp_name = name;
                        f.temp_id = ledger.get(&f.temp_path()).copied();
                    }
                    // A store from before random temporary names: its old temporary
                    // file cannot be proven ours, so the file starts over.
                    _ => f.reset(),
                }
                job.files.push(f);
            }
        }
        Ok(jobs)
    }

    /// Insert or replace a job's own row (not its files).
    pub fn save_job(&self, j: &JobRec) -> Result<()> {
        let err = j.error.as_ref();
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO jobs (id, seq, job_type, display_name, description,
                 priority, notify_flags, no_progress_timeout, min_retry_delay, state, error_count,
                 err_context, err_code, err_description, err_file, err_protocol, creation_ms,
                 modification_ms, completion_ms, retry_at_ms, no_progress_since_ms, completing)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22)",
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
                    // Running states are stored as QUEUED: they continue on the next open.
                    if j.state.is_active() {
                        JobState::Queued as u32
                    } else {
                        j.state as u32
                    },
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
                ])
            })
            .map_err(|e| self.err("save job", e))?;
        Ok(())
    }

    /// Insert or replace file `idx` of job `id`.
    pub fn save_file(&self, id: Uuid, idx: usize, f: &FileRec) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO files (job_id, idx, remote, local, total, done_bytes,
                 validator, done, completed, temp_name, changed_restarts)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    id.to_string(),
                    idx as i64,
                    f.remote,
                    f.local.to_string_lossy(),
                    f.total.map(|t| t as i64),
                    f.done_bytes as i64,
                    f.validator,
                    f.done,
                    f.completed,
                    f.temp_name,
                    f.changed_restarts,
                ])
            })
            .map_err(|e| self.err("save file", e))?;
        Ok(())
    }

    /// Remove a job's rows and its files' rows (the temp ledger keeps its entries
    /// until the files are deleted).
    pub fn delete_job(&self, id: Uuid) -> Result<()> {
        let id = id.to_string();
        self.conn
            .execute("DELETE FROM files WHERE job_id = ?1", [&id])
            .map_err(|e| self.err("delete job", e))?;
        self.conn
            .execute("DELETE FROM jobs WHERE id = ?1", [&id])
            .map_err(|e| self.err("delete job", e))?;
        Ok(())
    }
}
