//! `CopyManager::serve`: the body of a dedicated engine process (`bgcopy run`,
//! `python -m bgcopy run`, `npx bgcopy run`), written once. It stands for election
//! like any manager, says when this process takes over the transfers, and reports each
//! state change and error as the journal records it, whichever process made it.

use super::CopyManager;
use crate::error::{Result, codes};
use crate::types::{Event, EventKind, JobState};
use std::collections::HashMap;
use std::time::Duration;

/// How often `serve` looks at the journal and at its stop condition.
const SERVE_POLL: Duration = Duration::from_millis(200);

/// How [`CopyManager::serve`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeEnd {
    /// `stop` returned true, or the manager was closed.
    Stopped,
    /// `until_idle`, and no job was QUEUED, running or waiting for a retry; the counts
    /// of the jobs left TRANSFERRED, in ERROR and SUSPENDED.
    Idle {
        /// Jobs TRANSFERRED (waiting for `complete()`).
        transferred: usize,
        /// Jobs in ERROR.
        error: usize,
        /// Jobs SUSPENDED.
        suspended: usize,
    },
}

impl CopyManager {
    /// Serve the queue of this manager's state directory until `stop()` returns true
    /// (looked at every 200 ms), the manager is closed, or — with `until_idle` — no job
    /// is QUEUED, CONNECTING, TRANSFERRING or TRANSIENT_ERROR. Transfers run in this
    /// process while it holds the engine (open it with `start_transfers`); `log`
    /// receives one line for each state change and error of any job, from the journal,
    /// and a line when this process takes over or stops.
    pub fn serve(
        &self,
        until_idle: bool,
        stop: &dyn Fn() -> bool,
        log: &mut dyn FnMut(&str),
    ) -> Result<ServeEnd> {
        log(&format!(
            "bgcopy: serving {} (pid {}){}",
            self.state_dir().display(),
            std::process::id(),
            if until_idle {
                "; exiting when idle"
            } else {
                ""
            }
        ));
        let mut cursor = self.journal_end()?;
        let mut names: HashMap<String, String> = HashMap::new();
        let mut engine = None;
        let mut busy = until_idle && self.any_busy()?;
        loop {
            let is_engine = self.is_engine();
            if engine != Some(is_engine) {
                engine = Some(is_engine);
                log(
                    &match (is_engine, crate::sys::engine_pid(self.state_dir())) {
                        (true, _) => "bgcopy: this process runs the transfers".to_string(),
                        (false, Some(pid)) => format!(
                            "bgcopy: process {pid} runs the transfers; this one takes over when \
                         it stops"
                        ),
                        (false, None) => "bgcopy: taking over the transfers".to_string(),
                    },
                );
            }
            if stop() || self.is_closed() {
                log("bgcopy: stopping (transfers continue from their checkpoints next time)");
                return Ok(ServeEnd::Stopped);
            }
            let batch = match self.events_since(cursor, 1000) {
                Ok(b) => b,
                Err(e) if e.code() == codes::INVALID_STATE && self.is_closed() => continue,
                Err(e) => return Err(e),
            };
            for e in &batch {
                cursor = e.seq;
                if let Some(line) = self.serve_line(&mut names, e) {
                    log(&line);
                }
            }
            if until_idle && !batch.is_empty() {
                busy = self.any_busy()?;
            }
            if until_idle && !busy {
                let jobs = self.enum_jobs()?;
                let count = |s: JobState| {
                    jobs.iter()
                        .filter(|j| j.get_state().is_ok_and(|k| k == s))
                        .count()
                };
                let (transferred, error, suspended) = (
                    count(JobState::Transferred),
                    count(JobState::Error),
                    count(JobState::Suspended),
                );
                log(&format!(
                    "bgcopy: idle: {transferred} transferred, {error} in error, {suspended} \
                     suspended"
                ));
                return Ok(ServeEnd::Idle {
                    transferred,
                    error,
                    suspended,
                });
            }
            if batch.is_empty() {
                std::thread::sleep(SERVE_POLL);
            }
        }
    }

    /// Whether any job is QUEUED, running or waiting for a retry.
    fn any_busy(&self) -> Result<bool> {
        Ok(self.enum_jobs()?.iter().any(|j| {
            j.get_state()
                .is_ok_and(|s| s.is_active() || s == JobState::TransientError)
        }))
    }

    /// The line `serve` logs for a journal entry: state changes (with a hint for
    /// TRANSFERRED) and errors; nothing for the other kinds.
    fn serve_line(&self, names: &mut HashMap<String, String>, e: &Event) -> Option<String> {
        let id = &e.job_id;
        let printable = |s: &str| crate::redact::printable(s).into_owned();
        match e.kind {
            EventKind::StateChanged => {
                if names.len() > 10_000 {
                    names.clear();
                }
                let name = names
                    .entry(id.clone())
                    .or_insert_with(|| {
                        self.get_job(id)
                            .and_then(|j| j.get_display_name())
                            .map(|n| printable(&n))
                            .unwrap_or_default()
                    })
                    .clone();
                let mut line = format!(
                    "{id} {:<15} {}",
                    e.state.name(),
                    if name.is_empty() { "-" } else { &name }
                );
                if e.state == JobState::Transferred {
                    line.push_str(" (complete the job to make its files visible)");
                }
                Some(line)
            }
            EventKind::Error => Some(format!(
                "{id}   {} (context {}{})",
                e.error_text()?,
                e.error_context.map_or("UNKNOWN", |c| c.name()),
                e.file_index
                    .map_or(String::new(), |i| format!(", file {i}")),
            )),
            _ => None,
        }
    }
}
