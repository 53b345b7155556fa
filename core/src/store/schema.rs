//! The store's schema: `PRAGMA user_version` is its version; `MIGRATIONS[i]` upgrades
//! version `i` to `i + 1`. The file is marked with `PRAGMA application_id` so a foreign
//! database is refused.

use super::Store;
use crate::error::Result;

/// "bgcp" — marks a bgcopy database.
pub(super) const APPLICATION_ID: i64 = 0x6267_6370;

/// A new migration changes [`SCHEMA`] too (a test compares what the two build).
pub(super) const MIGRATIONS: &[&str] = &[
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
    // 2 -> 3: one store shared by processes. `rev` stamps every change of a job (a
    // process re-reads the jobs it holds whose rev grew); the indexes keep per-call
    // cost independent of the number of jobs. Final jobs keep their row (without
    // files), so every process sees them end.
    "ALTER TABLE jobs ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_rev ON jobs(rev);
    CREATE INDEX jobs_state ON jobs(state);
    CREATE INDEX jobs_seq ON jobs(seq);",
    // 3 -> 4: the durable event journal (appended in the transaction of the change it
    // records; `origin` names the manager that wrote it), and the engine's live
    // progress (`live_bytes`: published for other processes, never trusted by
    // recovery, which reads only the synced `done_bytes`).
    "CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        kind INTEGER NOT NULL,
        state INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        file_idx INTEGER,
        err_code INTEGER,
        err_context INTEGER,
        err_description TEXT,
        origin INTEGER NOT NULL
    );
    CREATE INDEX events_job ON events(job_id);
    ALTER TABLE files ADD COLUMN live_bytes INTEGER NOT NULL DEFAULT 0;",
    // 4 -> 5: the notify command line (program; arguments each ended by a NUL byte)
    // and the state whose command is still to run (durable, so a new engine runs it),
    // not before `cmd_retry_at_ms` after a failed run.
    "ALTER TABLE jobs ADD COLUMN notify_program TEXT;
    ALTER TABLE jobs ADD COLUMN notify_args BLOB;
    ALTER TABLE jobs ADD COLUMN cmd_due INTEGER;
    ALTER TABLE jobs ADD COLUMN cmd_retry_at_ms INTEGER;
    CREATE INDEX jobs_cmd_due ON jobs(cmd_due) WHERE cmd_due IS NOT NULL;",
    // 5 -> 6: the temp ledger names each file's job, so recovery visits only the jobs
    // that have something to recover (entries from before stay unnamed until a full
    // recovery names them); files are found by local path (`get` continues a job).
    "ALTER TABLE temps ADD COLUMN job_id TEXT;
    CREATE INDEX temps_job ON temps(job_id);
    CREATE INDEX jobs_completing ON jobs(completing) WHERE completing = 1;
    CREATE INDEX files_local ON files(local);",
    // 6 -> 7: what a job adds to its requests (docs/spec.md §8): custom header lines (each
    // ended by a NUL byte), whether they are write-only, and the security flags; per
    // file, the URL its last response came from (after redirects).
    "ALTER TABLE jobs ADD COLUMN custom_headers BLOB;
    ALTER TABLE jobs ADD COLUMN headers_write_only INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN security_flags INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE files ADD COLUMN final_url TEXT;",
    // 7 -> 8: credentials (four NUL-ended fields each: target, scheme, user, secret;
    // the store is private to its user, like the URLs with userinfo it holds), the
    // maximum download time (s) and the time spent downloading since the last resume.
    "ALTER TABLE jobs ADD COLUMN credentials BLOB;
    ALTER TABLE jobs ADD COLUMN max_download_time INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN download_ms INTEGER NOT NULL DEFAULT 0;",
    // 8 -> 9: the job's proxy settings (usage; URL and bypass list for OVERRIDE).
    "ALTER TABLE jobs ADD COLUMN proxy_usage INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN proxy TEXT;
    ALTER TABLE jobs ADD COLUMN proxy_bypass TEXT;",
    // 9 -> 10: the job's TLS client certificate and key (PEM file paths); per file,
    // the expected digest, the app's validation, the last response's headers (each
    // line ended by a NUL byte).
    "ALTER TABLE jobs ADD COLUMN client_cert TEXT;
    ALTER TABLE jobs ADD COLUMN client_key TEXT;
    ALTER TABLE files ADD COLUMN expected_hash TEXT;
    ALTER TABLE files ADD COLUMN validated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE files ADD COLUMN response_headers BLOB;
    ALTER TABLE files ADD COLUMN auth_url TEXT;",
    // 10 -> 11: segmented downloads (docs/spec.md §8, BITS Job5): the connections one file may
    // use (0: the manager's default) and the job's bandwidth limit (B/s, 0: none); per
    // file, the durable done ranges (`a-b,c-d`) when they are not the prefix
    // `[0, done_bytes)`, and whether the server refused a segment's range (one stream
    // from then on). Settings of the queue that any process may change while the
    // engine runs (`background_bandwidth_limit`).
    "ALTER TABLE jobs ADD COLUMN max_connections_per_file INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN bandwidth_limit INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE files ADD COLUMN parts TEXT;
    ALTER TABLE files ADD COLUMN one_stream INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
];

/// The schema `MIGRATIONS` build, in one script: a new store is created with it (one
/// `CREATE` per table and index instead of replaying every version's `ALTER TABLE`s,
/// each of which makes SQLite parse the whole schema again: 4.5 ms against 2 ms on this
/// machine, the first open of every new state directory). Columns are in the order the
/// migrations add them; `a_new_store_has_the_schema_the_migrations_build` holds the two
/// equal.
const SCHEMA: &str = "CREATE TABLE jobs (
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
        no_progress_since_ms INTEGER,
        completing INTEGER NOT NULL DEFAULT 0,
        rev INTEGER NOT NULL DEFAULT 0,
        notify_program TEXT,
        notify_args BLOB,
        cmd_due INTEGER,
        cmd_retry_at_ms INTEGER,
        custom_headers BLOB,
        headers_write_only INTEGER NOT NULL DEFAULT 0,
        security_flags INTEGER NOT NULL DEFAULT 0,
        credentials BLOB,
        max_download_time INTEGER NOT NULL DEFAULT 0,
        download_ms INTEGER NOT NULL DEFAULT 0,
        proxy_usage INTEGER NOT NULL DEFAULT 0,
        proxy TEXT,
        proxy_bypass TEXT,
        client_cert TEXT,
        client_key TEXT,
        max_connections_per_file INTEGER NOT NULL DEFAULT 0,
        bandwidth_limit INTEGER NOT NULL DEFAULT 0
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
        temp_name TEXT,
        changed_restarts INTEGER NOT NULL DEFAULT 0,
        live_bytes INTEGER NOT NULL DEFAULT 0,
        final_url TEXT,
        expected_hash TEXT,
        validated INTEGER NOT NULL DEFAULT 0,
        response_headers BLOB,
        auth_url TEXT,
        parts TEXT,
        one_stream INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (job_id, idx)
    );
    CREATE TABLE temps (
        path TEXT PRIMARY KEY,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        job_id TEXT
    );
    CREATE INDEX jobs_rev ON jobs(rev);
    CREATE INDEX jobs_state ON jobs(state);
    CREATE INDEX jobs_seq ON jobs(seq);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        kind INTEGER NOT NULL,
        state INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        file_idx INTEGER,
        err_code INTEGER,
        err_context INTEGER,
        err_description TEXT,
        origin INTEGER NOT NULL
    );
    CREATE INDEX events_job ON events(job_id);
    CREATE INDEX jobs_cmd_due ON jobs(cmd_due) WHERE cmd_due IS NOT NULL;
    CREATE INDEX temps_job ON temps(job_id);
    CREATE INDEX jobs_completing ON jobs(completing) WHERE completing = 1;
    CREATE INDEX files_local ON files(local);
    CREATE TABLE settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL);";

impl Store {
    /// Bring the schema up to date in one transaction (a new store is one commit, not
    /// one per version: its first open is that much faster).
    pub(super) fn migrate(&mut self, from: usize) -> Result<()> {
        if from >= MIGRATIONS.len() {
            return Ok(());
        }
        self.atomic(|s| {
            // Another process may have migrated meanwhile (it held the write lock).
            let now: i64 = s
                .conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| s.err("migrate the job store", e))?;
            let now = usize::try_from(now).unwrap_or(0);
            if now >= MIGRATIONS.len() {
                return Ok(());
            }
            // Version 0 is a new store: no table yet (`open` refused a foreign file).
            let scripts = if now == 0 {
                std::slice::from_ref(&SCHEMA)
            } else {
                &MIGRATIONS[now..]
            };
            for sql in scripts {
                s.conn
                    .execute_batch(sql)
                    .map_err(|e| s.err("migrate the job store", e))?;
            }
            s.conn
                .execute_batch(&format!(
                    "PRAGMA user_version = {}; PRAGMA application_id = {APPLICATION_ID};",
                    MIGRATIONS.len()
                ))
                .map_err(|e| s.err("migrate the job store", e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// The rows of `sql`, each as `row` formats it.
    fn lines(
        conn: &Connection,
        sql: &str,
        row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<String>,
    ) -> Vec<String> {
        let mut st = conn.prepare(sql).unwrap();
        st.query_map([], row).unwrap().map(|r| r.unwrap()).collect()
    }

    /// Every table's columns (name, type, NOT NULL, default, key position) and every
    /// index (its table, columns, uniqueness and `WHERE`), in a comparable form.
    fn shape(conn: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        let objects = lines(
            conn,
            "SELECT type || ' ' || name || ' on ' || tbl_name FROM sqlite_master
             ORDER BY type, name",
            |r| r.get(0),
        );
        for object in objects {
            out.push(object.clone());
            let (kind, name) = {
                let mut words = object.split(' ');
                (words.next().unwrap_or(""), words.next().unwrap_or(""))
            };
            if kind == "table" {
                out.extend(lines(conn, &format!("PRAGMA table_xinfo({name})"), |r| {
                    Ok(format!(
                        "  col {} {} {} notnull={} default={:?} pk={}",
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, i64>(5)?
                    ))
                }));
            } else if kind == "index" {
                out.extend(lines(conn, &format!("PRAGMA index_xinfo({name})"), |r| {
                    Ok(format!(
                        "  key {} {:?} desc={} key={}",
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(5)?
                    ))
                }));
                let sql: Option<String> = conn
                    .query_row(
                        "SELECT sql FROM sqlite_master WHERE name = ?1",
                        [name],
                        |r| r.get(0),
                    )
                    .unwrap();
                out.push(format!("  sql {sql:?}"));
            }
        }
        out
    }

    #[test]
    fn a_new_store_has_the_schema_the_migrations_build() {
        let migrated = Connection::open_in_memory().unwrap();
        for sql in MIGRATIONS {
            migrated.execute_batch(sql).unwrap();
        }
        let new = Connection::open_in_memory().unwrap();
        new.execute_batch(SCHEMA).unwrap();
        let (a, b) = (shape(&migrated), shape(&new));
        assert!(a.len() > 80, "{a:#?}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y);
        }
        assert_eq!(a.len(), b.len());
    }
}
