//! The durable store: one SQLite database (WAL, synchronous=FULL) in the state directory.
//!
//! Schema versions are `PRAGMA user_version`; `MIGRATIONS[i]` upgrades version `i` to `i+1`.
//! The file is marked with `PRAGMA application_id` so a foreign database is refused.

use crate::error::{Error, Result, codes};
use crate::model::{ErrorRec, FileRec, JobRec};
use crate::sys::FileId;
use crate::types::*;
use rusqlite::{Connection, params};
use std::collections::HashMap;
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
    // 1 -> 2: random temporary names, the ledger of temporary files bgcopy created
    // (path + device/inode: the only files it ever deletes), restarts of changed
    // remote files, and complete()'s durable intent.
    "ALTER TABLE files ADD COLUMN temp_name TEXT;
    ALTER TABLE files ADD COLUMN changed_restarts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN completing INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE temps (path TEXT PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL);
    DROP TABLE dirs;",
];

/// The database connection.
pub(crate) struct Store {
    conn: Connection,
}

/// A store error as a bgcopy error: SQLite's "database or disk is full" (and an I/O
/// error whose cause is ENOSPC/EDQUOT) is DISK_FULL, permissions ACCESS_DENIED,
/// damage STORE_CORRUPT, the rest IO_ERROR.
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
            C::DiskFull => {
                return Error::new(codes::DISK_FULL, format!("{what}: the disk is full ({e})"));
            }
            C::CannotOpen | C::PermissionDenied | C::ReadOnly => {
                return Error::new(codes::ACCESS_DENIED, format!("{what}: {e}"));
            }
            _ => {}
        }
    }
    Error::new(codes::IO_ERROR, format!("{what}: {e}"))
}

/// [`db_err`], and an I/O error whose system cause (`sqlite3_system_errno`) is a full
/// disk or quota is DISK_FULL too (SQLite reports a failed WAL/shm grow that way).
fn conn_err(conn: &Connection, what: &str, e: rusqlite::Error) -> Error {
    let err = db_err(what, e);
    if err.code() == codes::IO_ERROR {
        // SAFETY: reads the last OS error code of a connection we own.
        let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) };
        if errno == libc::ENOSPC || errno == libc::EDQUOT {
            return Error::new(
                codes::DISK_FULL,
                format!("{} (no space left on the device)", err.message()),
            );
        }
    }
    err
}

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
    /// Open (creating or migrating) the store at `path`. The database and its `-wal`
    /// and `-shm` files are private to the user (0600) whatever the umask.
    pub fn open(path: &Path) -> Result<Store> {
        // SQLite creates -wal and -shm with the database file's mode.
        drop(crate::sys::private_file(path)?);
        for suffix in ["-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            crate::sys::tighten_if_present(Path::new(&p));
        }
        let conn = Connection::open(path).map_err(|e| db_err("open the job store", e))?;
        let what = format!("read {}", path.display());
        let check = |e| conn_err(&conn, &what, e);
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
        if version < 0 || version as usize > MIGRATIONS.len() {
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

    fn err(&self, what: &str, e: rusqlite::Error) -> Error {
        conn_err(&self.conn, what, e)
    }

    fn migrate(&mut self, from: usize) -> Result<()> {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
            self.atomic(|s| {
                s.conn
                    .execute_batch(sql)
                    .and_then(|()| {
                        s.conn.execute_batch(&format!(
                            "PRAGMA user_version = {}; PRAGMA application_id = {APPLICATION_ID};",
                            i + 1
                        ))
                    })
                    .map_err(|e| s.err("migrate the job store", e))
            })?;
        }
        Ok(())
    }

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

    /// Run `f` in one transaction: every write in it lands or none does.
    pub fn atomic<T>(&mut self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err("begin", e))?;
        match f(self) {
            Ok(v) => {
                if let Err(e) = self.conn.execute_batch("COMMIT") {
                    let err = self.err("commit", e);
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(err);
                }
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
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

    /// Record temporary files bgcopy created (before anything is written to them).
    pub fn record_temps(&self, temps: &[(PathBuf, FileId)]) -> Result<()> {
        for (path, id) in temps {
            self.conn
                .prepare_cached("INSERT OR REPLACE INTO temps (path, dev, ino) VALUES (?1,?2,?3)")
                .and_then(|mut st| {
                    st.execute(params![
                        path.to_string_lossy(),
                        id.dev as i64,
                        id.ino as i64
                    ])
                })
                .map_err(|e| self.err("record a temporary file", e))?;
        }
        Ok(())
    }

    /// Forget temporary files that were deleted (or moved into place).
    pub fn forget_temps<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> Result<()> {
        for path in paths {
            self.conn
                .prepare_cached("DELETE FROM temps WHERE path = ?1")
                .and_then(|mut st| st.execute([path.to_string_lossy()]))
                .map_err(|e| self.err("forget a temporary file", e))?;
        }
        Ok(())
    }

    /// Every temporary file bgcopy created and has not deleted yet.
    pub fn temps(&self) -> Result<Vec<(PathBuf, FileId)>> {
        let e = |e| self.err("load temporary files", e);
        let mut stmt = self
            .conn
            .prepare("SELECT path, dev, ino FROM temps")
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    PathBuf::from(r.get::<_, String>(0)?),
                    FileId {
                        dev: r.get::<_, i64>(1)? as u64,
                        ino: r.get::<_, i64>(2)? as u64,
                    },
                ))
            })
            .map_err(e)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(e)
    }
}
