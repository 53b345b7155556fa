//! The ledger of temporary files bgcopy created (path, device, inode): written before
//! the first byte, and the only list of files bgcopy ever deletes.

use super::Store;
use crate::error::Result;
use crate::sys::FileId;
use rusqlite::params;
use std::path::{Path, PathBuf};

impl Store {
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
