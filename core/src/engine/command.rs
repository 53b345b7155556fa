//! The notify command line (BITS `IBackgroundCopyJob2::SetNotifyCmdLine`): how an app
//! that is not running learns that its job finished. A job's record marks the state
//! (TRANSFERRED or ERROR) whose command is still to run (`cmd_due`, stored with the
//! state change); the engine's wake thread looks for due commands at each of its
//! passes and runs each on a thread of its own, without a shell, with `BGCOPY_JOB_ID`
//! in the environment. Exit status 0 clears the mark; anything else (or a program that
//! cannot start) runs it again after the job's minimum retry delay. The mark is in the
//! store, so an engine that takes over runs what a dead one did not finish: at least
//! once per state reached.

use crate::table::JobTable;
use crate::types::{JobState, now_ms};
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The jobs whose command runs now (so that a pass does not start it twice).
#[derive(Default)]
pub(crate) struct Running(Mutex<HashSet<Uuid>>);

impl Running {
    fn start(&self, id: Uuid) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id)
    }

    fn end(&self, id: Uuid) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
}

/// Start every due command that is not running yet.
pub(super) fn run_due(table: &Arc<JobTable>, running: &Arc<Running>) {
    let Ok(ids) = table.due_commands(now_ms()) else {
        return;
    };
    for id in ids {
        let Ok(Some((cmd, state))) = table.read(id, |j| {
            let cmd = j.notify_cmd.clone()?;
            (j.cmd_due == Some(j.state)).then_some((cmd, j.state))
        }) else {
            continue;
        };
        if !running.start(id) {
            continue;
        }
        let (t, r) = (table.clone(), running.clone());
        let spawned = std::thread::Builder::new()
            .name("bgcopy-notify-cmd".into())
            .spawn(move || {
                let ok = Command::new(&cmd.program)
                    .args(&cmd.args)
                    .env("BGCOPY_JOB_ID", id.to_string())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                ran(&t, id, state, ok);
                r.end(id);
            });
        if spawned.is_err() {
            running.end(id);
        }
    }
}

/// Record a run for `state`: done, or again after the minimum retry delay.
fn ran(table: &JobTable, id: Uuid, state: JobState, ok: bool) {
    let _ = table.with_stored(id, |job, store| {
        if job.cmd_due != Some(state) || job.state != state {
            return Ok(());
        }
        if ok {
            job.cmd_due = None;
            job.cmd_retry_at_ms = None;
        } else {
            let delay = (job.min_retry_delay as i64 * 1000).max(1000);
            job.cmd_retry_at_ms = Some(now_ms() + delay);
        }
        store.save_job(job)
    });
}
