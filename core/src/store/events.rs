//! The event journal: one row per state change, file transfer, error and change by a
//! call, appended in the transaction of the change it records, numbered by commit
//! order (`AUTOINCREMENT`: a number is never reused, even after pruning). Every
//! process reads the same sequence; each manager's notifier feeds its callbacks from
//! the rows other managers wrote.
//!
//! Retention: the rows of a job are kept while it is live and for [`RETENTION_MS`]
//! after it became final; then they go with the job's row, a bounded batch at a time.

use super::Store;
use crate::error::Result;
use crate::record::PendingEvent;
use crate::types::{ErrorContext, Event, EventKind, JobState, from_ms};
use rusqlite::params;
use uuid::Uuid;

/// How long a final job and its events are kept: 7 days.
pub(crate) const RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Final jobs pruned per pass (bounded work per call).
const PRUNE_BATCH: i64 = 64;

/// An event as the notifier reads it: the public entry plus who wrote it.
pub(crate) struct StoredEvent {
    pub event: Event,
    pub job: Uuid,
    pub origin: i64,
}

impl Store {
    /// Append job `id`'s pending entries (call inside the transaction saving them).
    pub fn append_events(&self, id: Uuid, events: &[PendingEvent], origin: i64) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut st = self
            .conn
            .prepare_cached(
                "INSERT INTO events (job_id, kind, state, time_ms, file_idx, err_code,
                 err_context, err_description, origin) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
            )
            .map_err(|e| self.err("record an event", e))?;
        let key = id.to_string();
        for ev in events {
            let err = ev.error.as_ref();
            st.execute(params![
                key,
                ev.kind as u32,
                ev.state as u32,
                ev.time_ms,
                ev.file.map(|f| f as i64),
                err.map(|e| e.code as i64),
                err.map(|e| e.context as u32),
                err.map(|e| e.description.clone()),
                origin,
            ])
            .map_err(|e| self.err("record an event", e))?;
        }
        Ok(())
    }

    /// Up to `limit` events numbered above `cursor`, oldest first. A row this version
    /// cannot read (a newer kind or state) is skipped, never an error.
    pub fn events_since(&self, cursor: u64, limit: u32) -> Result<Vec<StoredEvent>> {
        let e = |e| self.err("read events", e);
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, job_id, kind, state, time_ms, file_idx, err_code, err_context,
                 err_description, origin FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(e)?;
        let cursor = i64::try_from(cursor).unwrap_or(i64::MAX);
        let rows = st
            .query_map(params![cursor, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, i64>(9)?,
                ))
            })
            .map_err(e)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, job, kind, state, time_ms, file, code, context, description, origin) =
                row.map_err(e)?;
            let num = |v: i64| u32::try_from(v).ok();
            let (Ok(id), Some(kind), Some(state)) = (
                Uuid::try_parse(&job),
                num(kind).and_then(EventKind::from_u32),
                num(state).and_then(JobState::from_u32),
            ) else {
                continue;
            };
            out.push(StoredEvent {
                event: Event {
                    seq: seq as u64,
                    job_id: id.to_string(),
                    kind,
                    state,
                    time: from_ms(time_ms),
                    file_index: file.and_then(num),
                    error_code: code.and_then(num),
                    error_context: context.and_then(num).and_then(ErrorContext::from_u32),
                    error_description: description,
                },
                job: id,
                origin,
            });
        }
        Ok(out)
    }

    /// The newest event's number (0 without events).
    pub fn last_event(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|v| v.max(0) as u64)
            .map_err(|e| self.err("read events", e))
    }

    /// Remove up to a batch of jobs final for longer than [`RETENTION_MS`] at `now`,
    /// with their events (call inside a transaction). Returns how many went.
    pub fn prune(&self, now: i64) -> Result<usize> {
        let e = |e| self.err("prune old jobs", e);
        let cutoff = now.saturating_sub(RETENTION_MS);
        let ids: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT id FROM jobs WHERE state IN (7, 8) AND modification_ms < ?1 LIMIT ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![cutoff, PRUNE_BATCH], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(e)?;
        for id in &ids {
            self.conn
                .execute("DELETE FROM events WHERE job_id = ?1", [id])
                .and_then(|_| self.conn.execute("DELETE FROM jobs WHERE id = ?1", [id]))
                .map_err(e)?;
        }
        Ok(ids.len())
    }

    /// Publish live progress of file `idx` of job `id` for other processes (no
    /// durability claim: recovery never reads it) and stamp the job as changed.
    pub fn publish_progress(&self, id: Uuid, idx: usize, bytes: u64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE files SET live_bytes = ?3 WHERE job_id = ?1 AND idx = ?2")
            .and_then(|mut st| st.execute(params![id.to_string(), idx as i64, bytes as i64]))
            .map_err(|e| self.err("publish progress", e))?;
        self.stamp(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::JobRec;
    use crate::types::JobType;

    const DAY: i64 = 24 * 3600 * 1000;

    fn store() -> (Store, std::path::PathBuf) {
        let dir = crate::store::tests::scratch("events");
        (Store::open(&dir.join("bgcopy.db")).unwrap(), dir)
    }

    /// A job created at `at`, with two journal entries; final at `at` when `end` is set.
    fn job(s: &mut Store, seq: i64, at: i64, end: Option<JobState>) -> Uuid {
        let id = Uuid::now_v7();
        let mut j = JobRec::new(id, seq, JobType::Download, format!("j{seq}"), at);
        j.record(EventKind::StateChanged, at, None);
        j.record(EventKind::Modified, at, None);
        s.atomic(|s| {
            s.save_job(&j)?;
            s.append_events(id, &j.journal, 1)?;
            if let Some(state) = end {
                s.finish_job(id, state, at)?;
            }
            Ok(())
        })
        .unwrap();
        id
    }

    #[test]
    fn final_jobs_go_with_their_events_after_seven_days_a_bounded_batch_at_a_time() {
        let (mut s, dir) = store();
        let now = 100 * DAY;
        let live_old = job(&mut s, 1, now - 30 * DAY, None);
        let recent = job(&mut s, 2, now - 6 * DAY, Some(JobState::Acknowledged));
        let old: Vec<Uuid> = (0..(PRUNE_BATCH + 6))
            .map(|i| job(&mut s, 10 + i, now - 8 * DAY, Some(JobState::Cancelled)))
            .collect();
        let count = |s: &Store, id: Uuid| {
            s.events_since(0, 10_000)
                .unwrap()
                .iter()
                .filter(|e| e.job == id)
                .count()
        };
        let issued = s.last_event().unwrap();
        // One batch: bounded work per call.
        assert_eq!(s.atomic(|s| s.prune(now)).unwrap(), PRUNE_BATCH as usize);
        assert_eq!(s.atomic(|s| s.prune(now)).unwrap(), 6);
        assert_eq!(s.atomic(|s| s.prune(now)).unwrap(), 0);
        for id in &old {
            assert!(s.load_job(*id).unwrap().is_none());
            assert_eq!(count(&s, *id), 0);
        }
        // A live job's entries stay however old; a final job's for 7 days.
        assert!(s.load_job(live_old).unwrap().is_some());
        assert_eq!(count(&s, live_old), 2);
        assert!(s.load_job(recent).unwrap().is_some());
        assert_eq!(count(&s, recent), 2);
        // Numbers are never reused, even those of pruned entries.
        let next = job(&mut s, 999, now, None);
        let seqs: Vec<u64> = s
            .events_since(0, 10_000)
            .unwrap()
            .iter()
            .filter(|e| e.job == next)
            .map(|e| e.event.seq)
            .collect();
        assert_eq!(seqs.len(), 2);
        assert!(seqs.iter().all(|q| *q > issued), "{seqs:?} after {issued}");
        drop(s);
        let _ = std::fs::remove_dir_all(dir);
    }
}
