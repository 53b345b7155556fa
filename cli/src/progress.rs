//! The progress display of `get`, `wait` and `demo`: an indicatif bar on a terminal,
//! plain lines otherwise, and reports of transient errors.

use crate::info::error_text;
use bgcopy::{BYTES_UNKNOWN, CopyJob, JobState};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Shows one job's progress.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    known_total: bool,
    reported_errors: u32,
}

impl Progress {
    /// A display for `job`: a bar when stderr is a terminal and not `quiet`. Unless
    /// `quiet`, each transient error (retried by the engine) is reported as a line.
    pub fn new(job: &CopyJob, quiet: bool) -> Self {
        // -q shows nothing; with -v the log lines take the place of the bar.
        let quiet = quiet || crate::logger::quiet();
        let bar = (!quiet && crate::logger::verbose() == 0 && std::io::stderr().is_terminal())
            .then(|| {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(spinner_style());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            });
        Progress {
            bar,
            quiet,
            known_total: false,
            reported_errors: job.get_error_count().unwrap_or(0),
        }
    }

    /// Redraw from the job's current progress and state.
    pub fn update(&mut self, job: &CopyJob) {
        let (Ok(p), Ok(state)) = (job.get_progress(), job.get_state()) else {
            return;
        };
        if state == JobState::TransientError && !self.quiet {
            let count = job.get_error_count().unwrap_or(0);
            if count != self.reported_errors {
                self.reported_errors = count;
                if let Ok(e) = job.get_error() {
                    self.note(&format!(
                        "bgcopy: transient error (will retry): {}",
                        error_text(&e)
                    ));
                }
            }
        }
        let Some(bar) = &self.bar else { return };
        if p.bytes_total != BYTES_UNKNOWN {
            if !self.known_total {
                self.known_total = true;
                bar.set_style(bar_style());
            }
            bar.set_length(p.bytes_total);
        }
        bar.set_position(p.bytes_transferred);
        bar.set_message(format!(
            "{} files {}/{}",
            state.name(),
            p.files_transferred,
            p.files_total
        ));
    }

    /// Print a line without breaking the bar.
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Print the summary line (unless quiet), after removing the bar.
    pub fn summary(&mut self, line: &str) {
        self.finish();
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// Remove the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {binary_bytes} {binary_bytes_per_sec} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] [{wide_bar}] {binary_bytes}/{binary_total_bytes} \
         {binary_bytes_per_sec} eta {eta} {msg}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}
