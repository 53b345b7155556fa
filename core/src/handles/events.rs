//! A job's events as one stream (what every language's `events()`/`watch()`/`Flow`/
//! `AsyncStream` forwards): the durable journal's entries of the job (so changes made
//! by any process are seen) plus live progress, from the job's state when the stream
//! starts to the first state `wait()` ends at.

use super::job::CopyJob;
use crate::error::{Error, Result, codes};
use crate::types::{EventKind, JobProgress, JobState};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

/// What a [`JobEvent`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobEventKind {
    /// The job's state changed (the stream's first event is the state it started in).
    StateChanged,
    /// Bytes moved (live progress, at most every [`JobEvents::PROGRESS_EVERY`]).
    Progress,
    /// All bytes of one file arrived ([`JobEvent::file_index`]).
    FileTransferred,
    /// An error: the job went to ERROR (the stream's end), or to TRANSIENT_ERROR (it
    /// retries); [`JobEvent::error`] says what failed.
    Error,
}

impl JobEventKind {
    /// The kind's name (`STATE_CHANGED`, `PROGRESS`, `FILE_TRANSFERRED`, `ERROR`).
    pub fn name(self) -> &'static str {
        match self {
            JobEventKind::StateChanged => "STATE_CHANGED",
            JobEventKind::Progress => "PROGRESS",
            JobEventKind::FileTransferred => "FILE_TRANSFERRED",
            JobEventKind::Error => "ERROR",
        }
    }
}

/// One event of a job's stream.
#[derive(Clone, Debug, PartialEq)]
pub struct JobEvent {
    /// What it reports.
    pub kind: JobEventKind,
    /// The job's state with this event.
    pub state: JobState,
    /// The job's progress when the event was delivered.
    pub progress: JobProgress,
    /// FILE_TRANSFERRED (and an ERROR about one file): the file's index.
    pub file_index: Option<u32>,
    /// ERROR: the job's error (code, message, context: [`Error::kind`]).
    pub error: Option<Error>,
    /// The journal entry's sequence number (0 for progress and the first state).
    pub seq: u64,
    /// When it happened.
    pub time: SystemTime,
}

/// The event stream of one job ([`CopyJob::events`]). Dropping it releases everything
/// (it holds no thread).
pub struct JobEvents {
    job: CopyJob,
    cursor: u64,
    queue: VecDeque<JobEvent>,
    last_progress: Option<(u64, u32)>,
    last_progress_at: Option<Instant>,
    /// The state the stream last reported.
    state: JobState,
    /// When the job was first seen in a state that ends the stream without its journal
    /// entry having arrived.
    final_seen: Option<Instant>,
    ended: bool,
}

/// How often the stream looks at the journal and the progress while nothing comes.
const LOOK: Duration = Duration::from_millis(50);

/// How long a state that ends the stream may be seen without its journal entry before
/// the stream reports it itself (an entry committed late, or by a process that died).
const JOURNAL_GRACE: Duration = Duration::from_secs(1);

impl JobEvents {
    /// At most one PROGRESS event per this interval.
    pub const PROGRESS_EVERY: Duration = Duration::from_millis(200);

    pub(super) fn new(job: CopyJob) -> Result<JobEvents> {
        // The journal from now on; the first event is the state now.
        let cursor = job.table.last_event()?;
        let (state, progress, error) = job
            .table
            .read(job.id, |j| (j.state, j.progress(), j.error.clone()))?;
        let mut queue = VecDeque::new();
        queue.push_back(state_now(state, progress, error.as_ref()));
        Ok(JobEvents {
            job,
            cursor,
            queue,
            last_progress: Some((progress.bytes_transferred, progress.files_transferred)),
            last_progress_at: None,
            state,
            final_seen: None,
            ended: false,
        })
    }

    /// The next event, waiting at most `timeout` (`None`: until one comes). `Ok(None)`
    /// when the timeout passed or the stream ended ([`JobEvents::is_ended`]): it ends
    /// after the event of the first state `wait()` returns on (TRANSFERRED, ERROR,
    /// ACKNOWLEDGED, CANCELLED), or when the manager closes.
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<JobEvent>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if let Some(ev) = self.queue.pop_front() {
                // A change to ERROR comes with the error's own entry right after it:
                // the stream ends with that one.
                let error_follows = ev.kind == JobEventKind::StateChanged
                    && self
                        .queue
                        .front()
                        .is_some_and(|n| n.kind == JobEventKind::Error);
                if ev.kind != JobEventKind::Progress && ev.state.ends_wait() && !error_follows {
                    self.ended = true;
                    self.queue.clear();
                }
                return Ok(Some(ev));
            }
            if self.ended {
                return Ok(None);
            }
            self.look()?;
            if !self.queue.is_empty() {
                continue;
            }
            let now = Instant::now();
            let nap = match deadline {
                Some(d) if d <= now => return Ok(None),
                Some(d) => (d - now).min(LOOK),
                None => LOOK,
            };
            std::thread::sleep(nap);
        }
    }

    /// The stream has delivered its last event.
    pub fn is_ended(&self) -> bool {
        self.ended && self.queue.is_empty()
    }

    /// Read the journal and the progress once, queueing what is new.
    fn look(&mut self) -> Result<()> {
        let id = self.job.id;
        let key = id.to_string();
        let table = &self.job.table;
        if table.is_closed() {
            self.ended = true;
            return Ok(());
        }
        let (state, progress, error) =
            table.read(id, |j| (j.state, j.progress(), j.error.clone()))?;
        loop {
            let batch = table.events_since(self.cursor, 1000)?;
            let full = batch.len() == 1000;
            for e in batch {
                self.cursor = self.cursor.max(e.seq);
                if e.job_id != key {
                    continue;
                }
                let kind = match e.kind {
                    EventKind::StateChanged => JobEventKind::StateChanged,
                    EventKind::FileTransferred => JobEventKind::FileTransferred,
                    EventKind::Error => JobEventKind::Error,
                    EventKind::Modified => continue,
                };
                let error = e.error_code.map(|code| {
                    let err = Error::new(code, e.error_description.clone().unwrap_or_default());
                    match e.error_context {
                        Some(c) => err.with_context(c),
                        None => err,
                    }
                });
                if kind != JobEventKind::FileTransferred {
                    self.state = e.state;
                }
                self.queue.push_back(JobEvent {
                    kind,
                    state: e.state,
                    progress,
                    file_index: e.file_index,
                    error,
                    seq: e.seq,
                    time: e.time,
                });
            }
            if !full {
                break;
            }
        }
        let seen = (progress.bytes_transferred, progress.files_transferred);
        let due = self
            .last_progress_at
            .is_none_or(|t| t.elapsed() >= Self::PROGRESS_EVERY);
        if self.queue.is_empty() && self.last_progress != Some(seen) && due {
            self.last_progress = Some(seen);
            self.last_progress_at = Some(Instant::now());
            self.queue.push_back(JobEvent {
                kind: JobEventKind::Progress,
                ..state_now(state, progress, None)
            });
        }
        // A state that ends the stream, seen without its journal entry for a while:
        // reported from the job itself.
        if self.queue.is_empty() && state.ends_wait() && state != self.state {
            let since = *self.final_seen.get_or_insert_with(Instant::now);
            if since.elapsed() >= JOURNAL_GRACE {
                self.queue
                    .push_back(state_now(state, progress, error.as_ref()));
            }
        } else {
            self.final_seen = None;
        }
        Ok(())
    }
}

/// The job's state as an event of now (not from the journal): a STATE_CHANGED, or an
/// ERROR carrying the job's error in ERROR or TRANSIENT_ERROR.
fn state_now(
    state: JobState,
    progress: JobProgress,
    error: Option<&crate::record::ErrorRec>,
) -> JobEvent {
    let error = error
        .filter(|_| matches!(state, JobState::Error | JobState::TransientError))
        .map(Error::from);
    JobEvent {
        kind: if error.is_some() {
            JobEventKind::Error
        } else {
            JobEventKind::StateChanged
        },
        state,
        progress,
        file_index: None,
        error,
        seq: 0,
        time: SystemTime::now(),
    }
}

impl Iterator for JobEvents {
    type Item = Result<JobEvent>;

    /// The next event, waiting as long as it takes; `None` once the stream ended. An
    /// error that cannot go away (the job no longer exists, the manager cannot be used
    /// in this process) is the last item, so a `for` loop that does not stop on it
    /// still ends; another error (the store busy) may be followed by more events.
    fn next(&mut self) -> Option<Result<JobEvent>> {
        let r = self.next_event(None).transpose();
        if let Some(Err(e)) = &r
            && matches!(e.code(), codes::NOT_FOUND | codes::INVALID_STATE)
        {
            self.ended = true;
            self.queue.clear();
        }
        r
    }
}

impl CopyJob {
    /// This job's events from now on ([`JobEvents`]): its state now, then every state
    /// change, file transferred, error and (at most every 200 ms) progress, until the
    /// first state `wait()` returns on. Sees changes made by any process.
    pub fn events(&self) -> Result<JobEvents> {
        JobEvents::new(self.clone())
    }
}
