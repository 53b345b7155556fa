//! The ledger of temporary files bgcopy created (path, device, inode): written before
//! the first byte, and the only list of files bgcopy ever deletes.

use super::Store;
use crate::error::Result;
use crate::sys::FileId;
use rusqlite::params;
use std::path::{Path, PathBuf};
use uuid::Uuid;

impl Store {
    /// Record temporary files bgcopy created for job `job` (before anything is written
    /// to them).
    pub fn record_temps(&self, job: Uuid, temps: &[(PathBuf, FileId)]) -> Result<()> {
        for (path, id) in temps {
            self.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO temps (path, dev, ino, job_id) VALUES (?1,?2,?3,?4)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        path.to_string_lossy(),
                        id.dev as i64,
                        id.ino as i64,
                        job.to_string()
                    ])
                })
                .map_err(|e| self.err("record a temporary file", e))?;
        }
        Ok(())
    }

    /// Name `job` as the owner of the ledger's `paths` (entries from before the ledger
    /// named jobs).
    pub fn name_temps(&self, job: Uuid, paths: &[PathBuf]) -> Result<()> {
        for path in paths {
            self.conn
                .prepare_cached("UPDATE temps SET job_id = ?2 WHERE path = ?1")
                .and_then(|mut st| st.execute(params![path.to_string_lossy(), job.to_string()]))
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

    /// The identity the ledger recorded for the temporary file at `path`.
    pub fn temp_id(&self, path: &Path) -> Result<Option<FileId>> {
        use rusqlite::OptionalExtension;
        self.conn
            .prepare_cached("SELECT dev, ino FROM temps WHERE path = ?1")
            .and_then(|mut st| {
                st.query_row([path.to_string_lossy()], |r| {
                    Ok(FileId {
                        dev: r.get::<_, i64>(0)? as u64,
                        ino: r.get::<_, i64>(1)? as u64,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err("load temporary files", e))
    }

    /// The jobs recovery must visit: those a dead engine left running, those whose
    /// `complete()` was interrupted, and those owning temporary files; `None` when
    /// the ledger has entries from before it named their jobs (then every live job).
    pub fn recovery_candidates(&self) -> Result<Option<Vec<Uuid>>> {
        let e = |e| self.err("list jobs to recover", e);
        let unnamed: i64 = self
            .conn
            .query_row("SELECT count(*) FROM temps WHERE job_id IS NULL", [], |r| {
                r.get(0)
            })
            .map_err(e)?;
        if unnamed > 0 {
            return Ok(None);
        }
        let mut ids = std::collections::BTreeSet::new();
        for sql in [
            "SELECT id FROM jobs WHERE state IN (1, 2)",
            "SELECT id FROM jobs WHERE completing = 1",
            "SELECT DISTINCT job_id FROM temps",
        ] {
            let mut st = self.conn.prepare_cached(sql).map_err(e)?;
            let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(e)?;
            for row in rows {
                if let Ok(id) = Uuid::try_parse(&row.map_err(e)?) {
                    ids.insert(id);
                }
            }
        }
        Ok(Some(ids.into_iter().collect()))
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
