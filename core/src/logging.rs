//! Where the library's log records go. The core logs through the `log` facade
//! (targets `bgcopy::job`, `bgcopy::http`, `bgcopy::transfer`, `bgcopy::engine`): state
//! changes and retries at info, each request and answer at debug. An application with
//! its own `log` logger gets them there; these sinks serve the CLI and the bindings,
//! one behaviour for every language:
//!
//! - [`log_to_stderr`]: one line a record on stderr (the CLI's `-v`, Node's
//!   `NODE_DEBUG=bgcopy`), written by a `bgcopy-log` thread;
//! - [`log_to_queue`]: records kept for a binding to take on its own thread and hand to
//!   the language's logging (Python's `logging`).
//!
//! Both put records in one bounded queue: a thread that logs (often while it holds the
//! job table and a store transaction) never waits for a terminal, a pipe or an
//! interpreter lock; when the reader falls behind, records are dropped and counted.
//!
//! What a record may show: only bgcopy's own targets pass (the HTTP and TLS crates log
//! too, and their records could show header values), and every URL in a message is
//! shown without its query and fragment and with its password masked
//! ([`crate::redact::loggable_text`]), whoever wrote the message (an error description
//! quoting a redirect's `Location`, say). Control characters are escaped.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

pub use log::LevelFilter;

/// One record as a binding receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// How important it is.
    pub level: log::Level,
    /// The part after `bgcopy::` (`job`, `http`, …).
    pub area: String,
    /// The message: URLs without query or password, control characters escaped.
    pub message: String,
}

impl LogLine {
    fn of(r: &log::Record<'_>) -> LogLine {
        let area = r.target().strip_prefix("bgcopy::").unwrap_or(r.target());
        let text = crate::redact::loggable_text(&r.args().to_string());
        LogLine {
            level: r.level(),
            area: area.to_string(),
            message: crate::redact::printable(&text).into_owned(),
        }
    }
}

fn ours(m: &log::Metadata<'_>) -> bool {
    (m.target() == "bgcopy" || m.target().starts_with("bgcopy::")) && m.level() <= log::max_level()
}

/// How many records may wait before new ones are dropped (and counted).
const CAPACITY: usize = 10_000;

#[derive(Default)]
struct State {
    lines: VecDeque<LogLine>,
    /// Records handed out by the last `take` and not yet reported written.
    in_flight: usize,
    dropped: u64,
    closed: bool,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    ready: Condvar,
    empty: Condvar,
}

/// Records waiting for their reader ([`log_to_queue`], or the stderr writer).
pub struct LogQueue {
    /// Replaced (never freed) in a forked child, whose copy of the lock may be held
    /// by a thread that does not exist there ([`LogQueue::after_fork`]).
    inner: AtomicPtr<Inner>,
}

impl LogQueue {
    fn inner(&self) -> &'static Inner {
        // SAFETY: the pointer always comes from `Box::leak` and is never freed.
        unsafe { &*self.inner.load(Ordering::Acquire) }
    }

    fn lock(&self) -> MutexGuard<'static, State> {
        self.inner().state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait up to `timeout` for records; returns every waiting one (oldest first) and
    /// how many were dropped since the last call because the queue was full. Returns at
    /// once once the queue is closed.
    pub fn take(&self, timeout: Duration) -> (Vec<LogLine>, u64) {
        let inner = self.inner();
        let mut s = self.lock();
        if s.lines.is_empty() && !s.closed {
            s = inner
                .ready
                .wait_timeout(s, timeout)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let lines: Vec<LogLine> = s.lines.drain(..).collect();
        s.in_flight = lines.len();
        let dropped = std::mem::take(&mut s.dropped);
        if lines.is_empty() {
            inner.empty.notify_all();
        }
        (lines, dropped)
    }

    /// The reader wrote what it took last.
    fn written(&self) {
        let mut s = self.lock();
        s.in_flight = 0;
        if s.lines.is_empty() {
            self.inner().empty.notify_all();
        }
    }

    /// Stop waiting: [`LogQueue::take`] returns at once from now on (what is still
    /// queued is returned by the next calls). For a binding's shutdown.
    pub fn close(&self) {
        self.lock().closed = true;
        self.inner().ready.notify_all();
    }

    /// In a child process just after `fork()`: start from an empty queue with a fresh
    /// lock (the parent's may have been held by a thread the child does not have).
    /// Call it only while the child has a single thread.
    pub fn after_fork(&self) {
        let fresh: &'static mut Inner = Box::leak(Box::default());
        self.inner.store(fresh, Ordering::Release);
    }

    fn push(&self, line: LogLine) {
        let inner = self.inner();
        // A thread that logs must never block here for long: a bounded wait for the
        // lock (held only to move records), then the record is dropped.
        let deadline = Instant::now() + Duration::from_millis(20);
        let mut s = loop {
            match inner.state.try_lock() {
                Ok(s) => break s,
                Err(std::sync::TryLockError::Poisoned(p)) => break p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::yield_now();
                }
                Err(std::sync::TryLockError::WouldBlock) => return,
            }
        };
        if s.lines.len() >= CAPACITY {
            s.dropped += 1;
            return;
        }
        s.lines.push_back(line);
        drop(s);
        inner.ready.notify_one();
    }

    fn wait_written(&self, timeout: Duration) {
        let inner = self.inner();
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        while !(s.lines.is_empty() && s.in_flight == 0) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            s = inner
                .empty
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

struct Queue(&'static LogQueue);

impl log::Log for Queue {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        ours(m)
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0.push(LogLine::of(r));
        }
    }

    fn flush(&self) {}
}

static QUEUE: OnceLock<Option<&'static LogQueue>> = OnceLock::new();

/// Keep the library's records up to `level` for a binding to [`LogQueue::take`].
/// The first call installs the queue as the process's `log` logger; later calls return
/// the same one (and leave the level alone). None when the process already has
/// another logger.
pub fn log_to_queue(level: LevelFilter) -> Option<&'static LogQueue> {
    *QUEUE.get_or_init(|| {
        let inner: &'static mut Inner = Box::leak(Box::default());
        let q: &'static LogQueue = Box::leak(Box::new(LogQueue {
            inner: AtomicPtr::new(inner),
        }));
        log::set_boxed_logger(Box::new(Queue(q))).ok()?;
        log::set_max_level(level);
        Some(q)
    })
}

/// Print the library's records up to `level` on stderr, each line starting with
/// `prefix`, from a `bgcopy-log` thread. Returns false when the process already has
/// another logger (which then gets the records instead).
pub fn log_to_stderr(level: LevelFilter, prefix: &str) -> bool {
    let Some(q) = log_to_queue(level) else {
        return false;
    };
    log::set_max_level(level);
    let prefix = prefix.to_string();
    WRITER.call_once(move || {
        let spawned = std::thread::Builder::new()
            .name("bgcopy-log".into())
            .spawn(move || {
                loop {
                    let (lines, dropped) = q.take(Duration::from_secs(3600));
                    let mut out = String::new();
                    for l in &lines {
                        out.push_str(&format!("{prefix}{} {}: {}\n", l.level, l.area, l.message));
                    }
                    if dropped > 0 {
                        out.push_str(&format!(
                            "{prefix}WARN log: {dropped} records dropped (stderr fell behind)\n"
                        ));
                    }
                    // Errors (a closed or non-blocking stderr) drop the lines.
                    let _ = std::io::stderr().lock().write_all(out.as_bytes());
                    q.written();
                }
            });
        drop(spawned);
    });
    true
}

/// Starts [`log_to_stderr`]'s writer once (and says whether it runs).
static WRITER: Once = Once::new();

/// Wait up to `timeout` until every record made so far has been written by
/// [`log_to_stderr`]'s thread (a program calls it before it exits; closing a manager
/// does it too). Does nothing for [`log_to_queue`], whose reader is the binding's.
pub fn flush(timeout: Duration) {
    if !WRITER.is_completed() {
        return;
    }
    if let Some(Some(q)) = QUEUE.get() {
        q.wait_written(timeout);
    }
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
    fn the_queue_keeps_our_records_redacted_and_drops_when_full() {
        // Other tests of this binary may log meanwhile: look only at this test's lines.
        let q = log_to_queue(LevelFilter::Debug).expect("no other logger in this test binary");
        let mine = |l: &LogLine| l.message.contains("zq-");
        log::info!(target: "bgcopy::job", "zq-1 A -> B");
        log::debug!(target: "bgcopy::http", "zq-2 GET \u{1b}[2Jhttp://h/");
        log::trace!(target: "bgcopy::http", "zq-3 not at debug");
        log::info!(target: "ureq::unit", "zq-4 Authorization: secret");
        log::info!(
            target: "bgcopy::job",
            "zq-5 refused a redirect to http://u:pw@cdn.test/o?X-Amz-Signature=abc#f (loop)"
        );
        let (lines, _) = q.take(Duration::from_millis(10));
        let lines: Vec<_> = lines.into_iter().filter(mine).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0].area, "job");
        assert_eq!(lines[0].level, log::Level::Info);
        assert_eq!(lines[1].message, "zq-2 GET \\u{1b}[2Jhttp://h/");
        assert_eq!(
            lines[2].message,
            "zq-5 refused a redirect to http://u:***@cdn.test/o?… (loop)"
        );
        for i in 0..CAPACITY + 100 {
            log::info!(target: "bgcopy::job", "zq-x{i}");
        }
        let (lines, dropped) = q.take(Duration::from_millis(10));
        assert!(
            lines.len() <= CAPACITY && dropped >= 100,
            "{} {dropped}",
            lines.len()
        );
        // Closed: take returns at once.
        let t = Instant::now();
        q.close();
        let _ = q.take(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
