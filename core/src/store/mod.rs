//! The durable store: one SQLite database (WAL, synchronous=FULL) in the state
//! directory. `schema.rs` holds its versions and migrations, `jobs.rs` the job and file
//! rows (checked when loaded), `temps.rs` the ledger of temporary files bgcopy created.

mod jobs;
mod schema;
mod temps;

use crate::error::{Error, Result, codes};
use rusqlite::Connection;
use std::path::Path;

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
        if app != schema::APPLICATION_ID && (tables > 0 || version != 0) {
            return Err(Error::new(
                codes::STORE_CORRUPT,
                format!(
                    "{} is not a bgcopy job store (application_id {app:#x}); move it away",
                    path.display()
                ),
            ));
        }
        if version < 0 || version as usize > schema::MIGRATIONS.len() {
            return Err(Error::new(
                codes::STORE_TOO_NEW,
                format!(
                    "{} has schema version {version}, this bgcopy knows up to {}",
                    path.display(),
                    schema::MIGRATIONS.len()
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
}
