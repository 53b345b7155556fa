//! Waiting for a job: blocking, in slices (signal checks, cancellation), and on a
//! thread of its own for the async APIs of the bindings.

use super::job::CopyJob;
use crate::error::{Error, Result, codes};
use crate::table::WaitEnd;
use crate::types::JobState;
use std::time::{Duration, Instant};

/// Why [`CopyJob::wait_for`] returned, with the state then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitOutcome {
    /// The job's state when the wait ended.
    pub state: JobState,
    /// Why it ended.
    pub end: WaitEnd,
}

impl CopyJob {
    /// Block until the job is TRANSFERRED, ERROR, ACKNOWLEDGED or CANCELLED, or the
    /// timeout passes (`None`: forever, or until the manager closes); returns the state.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<JobState> {
        Ok(self.wait_for(timeout)?.state)
    }

    /// [`CopyJob::wait`], saying why it ended (reached, timed out, manager closed).
    pub fn wait_for(&self, timeout: Option<Duration>) -> Result<WaitOutcome> {
        let (state, end) = self.table.wait(self.id, timeout)?;
        Ok(WaitOutcome { state, end })
    }

    /// [`CopyJob::wait_for`] in slices of at most `slice`, calling `between` after each
    /// slice that ended without an answer: a binding checks for signals or cancellation
    /// there, and an `Err` from it ends the wait with that error.
    pub fn wait_sliced(
        &self,
        timeout: Option<Duration>,
        slice: Duration,
        mut between: impl FnMut() -> Result<()>,
    ) -> Result<WaitOutcome> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let step = left.map_or(slice, |l| l.min(slice));
            let out = self.wait_for(Some(step))?;
            let over = left.is_some_and(|l| l <= step);
            if out.end != WaitEnd::TimedOut || over {
                return Ok(out);
            }
            between()?;
        }
    }

    /// [`CopyJob::wait_for`] on a `bgcopy-wait` thread, for a binding's async wait:
    /// `done` gets the outcome, or `None` when `cancelled()` (checked every `slice`)
    /// turned true first: nobody waits for an answer then. E_UNEXPECTED when the
    /// thread cannot start (`done` is not called).
    pub fn wait_in_background(
        &self,
        timeout: Option<Duration>,
        slice: Duration,
        cancelled: impl Fn() -> bool + Send + 'static,
        done: impl FnOnce(Option<Result<WaitOutcome>>) + Send + 'static,
    ) -> Result<()> {
        let job = self.clone();
        std::thread::Builder::new()
            .name("bgcopy-wait".into())
            .spawn(move || {
                let stop = || Error::new(codes::E_UNEXPECTED, "the wait was cancelled");
                let r = if cancelled() {
                    Err(stop())
                } else {
                    job.wait_sliced(timeout, slice, || {
                        if cancelled() { Err(stop()) } else { Ok(()) }
                    })
                };
                done(if cancelled() { None } else { Some(r) });
            })
            .map(drop)
            .map_err(|e| {
                Error::new(
                    codes::E_UNEXPECTED,
                    format!("cannot start a wait thread: {e}"),
                )
            })
    }
}
