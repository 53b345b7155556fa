//! Where the library's log records go. The core logs through the `log` facade
//! (targets `bgcopy::job`, `bgcopy::http`, `bgcopy::transfer`, `bgcopy::engine`): state
//! changes and retries at info, each request and answer at debug. URLs are logged
//! without their query and password (`redact::loggable_url`); header values and
//! credentials never are. An application with its own `log` logger gets them there;
//! these two sinks serve the CLI and the bindings, one behaviour for every language:
//!
//! - [`log_to_stderr`]: one line a record on stderr (the CLI's `-v`, Node's
//!   `NODE_DEBUG=bgcopy`);
//! - [`log_to_queue`]: records kept in a bounded queue that a binding drains on its own
//!   thread and hands to the language's logging (Python's `logging`), so that no
//!   engine thread ever waits for an interpreter lock.
//!
//! Only bgcopy's own targets pass: the HTTP and TLS crates underneath log too, and
//! their records could show header values.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

pub use log::LevelFilter;

/// One record as a binding receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// How important it is.
    pub level: log::Level,
    /// The part after `bgcopy::` (`job`, `http`, …).
    pub area: String,
    /// The message, safe to print (control characters escaped).
    pub message: String,
}

impl LogLine {
    fn of(r: &log::Record<'_>) -> LogLine {
        let area = r.target().strip_prefix("bgcopy::").unwrap_or(r.target());
        LogLine {
            level: r.level(),
            area: area.to_string(),
            message: crate::redact::printable(&r.args().to_string()).into_owned(),
        }
    }
}

fn ours(m: &log::Metadata<'_>) -> bool {
    (m.target() == "bgcopy" || m.target().starts_with("bgcopy::")) && m.level() <= log::max_level()
}

struct Stderr {
    prefix: String,
}

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        ours(m)
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let l = LogLine::of(r);
        // One write a record, so that lines from several threads stay whole.
        let line = format!("{}{} {}: {}\n", self.prefix, l.level, l.area, l.message);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Print the library's records up to `level` on stderr, each line starting with
/// `prefix`. Returns false when the process already has a logger (which then gets
/// the records instead).
pub fn log_to_stderr(level: LevelFilter, prefix: &str) -> bool {
    let ok = log::set_boxed_logger(Box::new(Stderr {
        prefix: prefix.to_string(),
    }))
    .is_ok();
    if ok {
        log::set_max_level(level);
    }
    ok
}

/// Records waiting for a binding to take them ([`log_to_queue`]).
pub struct LogQueue {
    lines: Mutex<VecDeque<LogLine>>,
    ready: Condvar,
    capacity: usize,
    dropped: std::sync::atomic::AtomicU64,
}

impl LogQueue {
    /// Wait up to `timeout` for records; returns every waiting one (oldest first) and
    /// how many were dropped since the last call because the queue was full.
    pub fn take(&self, timeout: Duration) -> (Vec<LogLine>, u64) {
        let mut q = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_empty() {
            q = self
                .ready
                .wait_timeout(q, timeout)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let lines = q.drain(..).collect();
        let dropped = self.dropped.swap(0, std::sync::atomic::Ordering::Relaxed);
        (lines, dropped)
    }
}

struct Queue(&'static LogQueue);

impl log::Log for Queue {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        ours(m)
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = LogLine::of(r);
        let mut q = self.0.lines.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= self.0.capacity {
            // Never block an engine thread on a slow reader: drop, and say so.
            self.0
                .dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        q.push_back(line);
        drop(q);
        self.0.ready.notify_one();
    }

    fn flush(&self) {}
}

/// Keep the library's records up to `level` in a queue of at most `capacity` lines
/// for a binding to [`LogQueue::take`]. The first call installs it (None when the
/// process already has another logger); later calls return the same queue.
pub fn log_to_queue(level: LevelFilter, capacity: usize) -> Option<&'static LogQueue> {
    static QUEUE: OnceLock<Option<&'static LogQueue>> = OnceLock::new();
    *QUEUE.get_or_init(|| {
        let q: &'static LogQueue = Box::leak(Box::new(LogQueue {
            lines: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            dropped: std::sync::atomic::AtomicU64::new(0),
        }));
        log::set_boxed_logger(Box::new(Queue(q))).ok()?;
        log::set_max_level(level);
        Some(q)
    })
}

/// Change which records are made at all (a binding follows its language's logger
/// level with it; nothing below it is even formatted).
pub fn set_log_level(level: LevelFilter) {
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_keeps_our_records_and_drops_when_full() {
        // Other tests of this binary may log meanwhile: look only at this test's lines.
        let q = log_to_queue(LevelFilter::Debug, 64).expect("no other logger in this test binary");
        let mine = |l: &LogLine| l.message.contains("zq-");
        log::info!(target: "bgcopy::job", "zq-1 A -> B");
        log::debug!(target: "bgcopy::http", "zq-2 GET \u{1b}[2Jhttp://h/");
        log::trace!(target: "bgcopy::http", "zq-3 not at debug");
        log::info!(target: "ureq::unit", "zq-4 Authorization: secret");
        let (lines, _) = q.take(Duration::from_millis(10));
        let lines: Vec<_> = lines.into_iter().filter(mine).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].area, "job");
        assert_eq!(lines[0].level, log::Level::Info);
        assert_eq!(lines[1].message, "zq-2 GET \\u{1b}[2Jhttp://h/");
        for i in 0..100 {
            log::info!(target: "bgcopy::job", "zq-x{i}");
        }
        let (lines, dropped) = q.take(Duration::from_millis(10));
        assert!(
            lines.len() <= 64 && dropped >= 36,
            "{} {dropped}",
            lines.len()
        );
    }
}
