//! The core's log records for Python's `logging` (logger `bgcopy`, children
//! `bgcopy.job`, `bgcopy.http`, …). The core keeps them in a bounded queue
//! (`bgcopy::logging::log_to_queue`); a daemon thread of `bgcopy._logbridge` takes them
//! with `_log_take` (the GIL released while it waits) and logs them, and tells the core
//! the level the `bgcopy` logger wants with `_log_level`, so that nothing below it is
//! even formatted. No engine thread ever waits for the GIL.

use bgcopy::logging::{LevelFilter, LogQueue, log_to_queue};
use pyo3::prelude::*;
use std::time::Duration;

/// The queue (installed with nothing enabled: `_log_level` sets what is made).
fn queue() -> Option<&'static LogQueue> {
    log_to_queue(LevelFilter::Off)
}

/// Python's level number for a record's level.
fn py_level(l: log::Level) -> u32 {
    match l {
        log::Level::Error => 40,
        log::Level::Warn => 30,
        log::Level::Info => 20,
        log::Level::Debug => 10,
        log::Level::Trace => 5,
    }
}

/// Wait up to `timeout` seconds for records: a list of `(level, area, message)` with
/// Python level numbers (TRACE is 5), and how many were dropped since the last call.
/// `None` when the process already had another Rust logger.
#[pyfunction]
#[pyo3(name = "_log_take")]
#[allow(clippy::type_complexity)]
pub fn log_take(py: Python<'_>, timeout: f64) -> Option<(Vec<(u32, String, String)>, u64)> {
    let q = queue()?;
    let wait = Duration::from_secs_f64(if timeout.is_finite() {
        timeout.clamp(0.0, 60.0)
    } else {
        0.0
    });
    let (lines, dropped) = py.detach(|| q.take(wait));
    Some((
        lines
            .into_iter()
            .map(|l| (py_level(l.level), l.area, l.message))
            .collect(),
        dropped,
    ))
}

/// Make the core produce the records a Python logger at `level` (a level number) would
/// keep: WARNING (the default) keeps only warnings and errors, DEBUG keeps every
/// request, 5 or below (TRACE) everything.
#[pyfunction]
#[pyo3(name = "_log_level")]
pub fn log_level(level: i64) {
    let filter = match level {
        i64::MIN..=5 => LevelFilter::Trace,
        6..=10 => LevelFilter::Debug,
        11..=20 => LevelFilter::Info,
        21..=30 => LevelFilter::Warn,
        31..=50 => LevelFilter::Error,
        _ => LevelFilter::Off,
    };
    if queue().is_some() {
        bgcopy::logging::set_log_level(filter);
    }
}

/// Wake the bridge thread for good (interpreter exit): `_log_take` returns at once.
#[pyfunction]
#[pyo3(name = "_log_close")]
pub fn log_close() {
    if let Some(q) = queue() {
        q.close();
    }
}

/// In a child process just after `fork()` (only its forking thread exists): a fresh
/// queue, since the parent's lock may have been held by a thread the child lacks.
#[pyfunction]
#[pyo3(name = "_log_after_fork")]
pub fn log_after_fork() {
    if let Some(q) = queue() {
        q.after_fork();
    }
}
