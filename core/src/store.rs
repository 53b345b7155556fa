//! The durable store: one SQLite database (WAL, synchronous=FULL) in the state directory.
//!
//! Schema versions are `PRAGMA user_version`; `MIGRATIONS[i]` upgrades version `i` to `i+1`.
//! The file is marked with `PRAGMA application_id` so a foreign database is refused.

use crate::error::{Error, Result, codes};
use crate::model::{ErrorRec, FileRec, JobRec, NotifyState};
use crate::types::*;
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// "bgcp" — marks a bgcopy database.
const APPLICATION_ID: i64 = 0x6267_6370;

const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        job_type INTEGER NOT NULL,
        display_name TEXT NOT NULL,
        description TEXT NOT NULL,
        priority INTEGER NOT NULL,
        notify_flags INTEGER NOT NULL,
        no_progress_timeout INTEGER NOT NULL,
        min_retry_delay INTEGER NOT NULL,
        state INTEGER NOT NULL,
        error_count INTEGER NOT NULL,
        err_context INTEGER,
        err_code INTEGER,
        err_description TEXT,
        err_file INTEGER,
        err_protocol TEXT,
        creation_ms INTEGER NOT NULL,
        modification_ms INTEGER NOT NULL,
        completion_ms INTEGER,
        retry_at_ms INTEGER,
        no_progress_since_ms INTEGER
    );
    CREATE TABLE files (
        job_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        remote TEXT NOT NULL,
        local TEXT NOT NULL,
        total INTEGER,
        done_bytes INTEGER NOT NULL,
        validator TEXT,
        done INTEGER NOT NULL,
        completed INTEGER NOT NULL,
        PRIMARY KEY (job_id, idx)
    );
    CREATE TABLE dirs (path TEXT PRIMARY KEY);",
];

/// The database connection.
pub(crate) struct Store {
    conn: Connection,
}

fn db_err(what: &str, e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        use rusqlite::ErrorCode as C;
        match f.code {
            C::NotADatabase | C::DatabaseCorrupt => {
                return Error::new(
                    codes::STORE_CORRUPT,
                    format!("{what}: the job store is corrupt or not a database: {e}"),
                );
            }
            C::DiskFull => return Error::new(codes::DISK_FULL, format!("{what}: {e}")),
            C::CannotOpen | C::PermissionDenied | C::ReadOnly => {
                return Error::new(codes::ACCESS_DENIED, format!("{what}: {e}"));
            }
            _ => {}
        }
    }
    Error::new(codes::IO_ERROR, format!("{what}: {e}"))
}

fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.map(|x| x as u64)
}

impl Store {
    /// Open (creating or migrating) the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(|e| db_err("open the job store", e))?;
        let check = |e| db_err(&format!("read {}", path.display()), e);
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(check)?;
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(check)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(check)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(check)?;
        if app != APPLICATION_ID && (tables > 0 || version != 0) {
            return Err(Error::new(
                codes::STORE_CORRUPT,
                format!(
                    "{} is not a bgcopy job store (application_id {app:#x}); move it away",
                    path.display()
                ),
            ));
        }
        if version as usize > MIGRATIONS.len() {
            return Err(Error::new(
                codes::STORE_TOO_NEW,
                format!(
                    "{} has schema version {version}, this bgcopy knows up to {}",
                    path.display(),
                    MIGRATIONS.len()
                ),
            ));
        }
        let ok: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(check)?;
        if ok != "ok" {
            return Err(Error::new(
                codes::STORE_CORRUPT,
                format!("{} failed its integrity check: {ok}", path.display()),
            ));
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(check)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::new(
                codes::IO_ERROR,
                format!("cannot use WAL journal on {}", path.display()),
            ));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;")
            .map_err(check)?;
        let mut store = Store { conn };
        store.migrate(version as usize)?;
        Ok(store)
    }

    fn migrate(&mut self, from: usize) -> Result<()> {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
            let tx = self.conn.transaction().map_err(|e| db_err("migrate", e))?;
            tx.execute_batch(sql).map_err(|e| db_err("migrate", e))?;
            tx.execute_batch(&format!(
                "PRAGMA user_version = {}; PRAGMA application_id = {APPLICATION_ID};",
                i + 1
            ))
            .map_err(|e| db_err("migrate", e))?;
            tx.commit().map_err(|e| db_err("migrate", e))?;
        }
        Ok(())
    }

    /// Every job with its files, in creation order.
    pub fn load(&self) -> Result<Vec<JobRec>> {
        let e = |e| db_err("load jobs", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, seq, job_type, display_name, description, priority, notify_flags,
                 no_progress_timeout, min_retry_delay, state, error_count, err_context, err_code,
                 err_description, err_file, err_protocol, creation_ms, modification_ms,
                 completion_ms, retry_at_ms, no_progress_since_ms FROM jobs ORDER BY seq",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                let id: String = r.get(0)?;
                let err_code: Option<i64> = r.get(12)?;
                Ok(JobRec {
                    id: Uuid::try_parse(&id).unwrap_or_default(),
                    seq: r.get(1)?,
                    job_type: JobType::from_u32(r.get(2)?).unwrap_or(JobType::Download),
                    display_name: r.get(3)?,
                    description: r.get(4)?,
                    priority: Priority::from_u32(r.get(5)?).unwrap_or(Priority::Normal),
                    notify_flags: r.get(6)?,
                    no_progress_timeout: r.get(7)?,
                    min_retry_delay: r.get(8)?,
                    state: JobState::from_u32(r.get(9)?).unwrap_or(JobState::Suspended),
                    error_count: r.get(10)?,
                    error: match err_code {
                        Some(code) => Some(ErrorRec {
                            context: ErrorContext::from_u32(
                                r.get::<_, Option<u32>>(11)?.unwrap_or(1),
                            )
                            .unwrap_or(ErrorContext::Unknown),
                            code: code as u32,
                            description: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                            file: r.get::<_, Option<i64>>(14)?.map(|f| f as usize),
                            protocol: r.get(15)?,
                        }),
                        None => None,
                    },
                    creation_ms: r.get(16)?,
                    modification_ms: r.get(17)?,
                    completion_ms: r.get(18)?,
                    retry_at_ms: r.get(19)?,
                    no_progress_since_ms: r.get(20)?,
                    files: Vec::new(),
                    callback: None,
                    notify: NotifyState::default(),
                    run: None,
                    worker_alive: false,
                    slot_stamp: 0,
                    slot_since_ms: 0,
                    backoff_ms: 0,
                })
            })
            .map_err(e)?;
        let mut jobs = Vec::new();
        for row in rows {
            jobs.push(row.map_err(e)?);
        }
        let mut fstmt = self
            .conn
            .prepare(
                "SELECT remote, local, total, done_bytes, validator, done, completed
                 FROM files WHERE job_id = ?1 ORDER BY idx",
            )
            .map_err(e)?;
        for job in &mut jobs {
            let files = fstmt
                .query_map([job.id.to_string()], |r| {
                    Ok(FileRec {
                        remote: r.get(0)?,
                        local: PathBuf::from(r.get::<_, String>(1)?),
                        total: opt_u64(r.get(2)?),
                        done_bytes: r.get::<_, i64>(3)? as u64,
                        validator: r.get(4)?,
                        done: r.get(5)?,
                        completed: r.get(6)?,
                        epoch: 0,
                    })
                })
                .map_err(e)?;
            for f in files {
                job.files.push(f.map_err(e)?);
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
                 modification_ms, completion_ms, retry_at_ms, no_progress_since_ms)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)")
            .and_then(|mut st| {
                st.execute(

                params![
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
                    if j.state.is_active() { JobState::Queued as u32 } else { j.state as u32 },
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
                ])
            })
            .map_err(|e| db_err("save job", e))?;
        Ok(())
    }

    /// Insert or replace file `idx` of job `id`.
    pub fn save_file(&self, id: Uuid, idx: usize, f: &FileRec) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO files (job_id, idx, remote, local, total, done_bytes,
                 validator, done, completed) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
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
                ])
            })
            .map_err(|e| db_err("save file", e))?;
        Ok(())
    }

    /// Run `f` in one transaction: every write in it lands or none does.
    pub fn atomic<T>(&mut self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| db_err("begin", e))?;
        match f(self) {
            Ok(v) => {
                if let Err(e) = self.conn.execute_batch("COMMIT") {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(db_err("commit", e));
                }
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Remove a job and its files.
    pub fn delete_job(&mut self, id: Uuid) -> Result<()> {
        self.atomic(|s| {
            let id = id.to_string();
            s.conn
                .execute("DELETE FROM files WHERE job_id = ?1", [&id])
                .map_err(|e| db_err("delete job", e))?;
            s.conn
                .execute("DELETE FROM jobs WHERE id = ?1", [&id])
                .map_err(|e| db_err("delete job", e))?;
            Ok(())
        })
    }

    /// Remember a destination directory (scanned for stray temp files at open).
    pub fn add_dir(&self, dir: &Path) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO dirs (path) VALUES (?1)",
                [dir.to_string_lossy()],
            )
            .map_err(|e| db_err("save directory", e))?;
        Ok(())
    }

    /// Every destination directory ever used.
    pub fn dirs(&self) -> Result<Vec<PathBuf>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path FROM dirs")
            .map_err(|e| db_err("load directories", e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| db_err("load directories", e))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(PathBuf::from(r.map_err(|e| db_err("load directories", e))?));
        }
        Ok(out)
    }
}
