//! `-v`/`-q`: what the command prints besides its results. `-v` prints the library's
//! log records on stderr (`bgcopy::logging::log_to_stderr`: only bgcopy's own records,
//! URLs without query or password, never header values or credentials).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);
static VERBOSE: AtomicU8 = AtomicU8::new(0);

/// `-q`: no progress, summaries or notices.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// How many `-v` were given.
pub fn verbose() -> u8 {
    VERBOSE.load(Ordering::Relaxed)
}

/// Apply `-q` and `-v` (given `count` times) for the whole process.
pub fn init(quiet: bool, count: u8) {
    use bgcopy::logging::LevelFilter;
    QUIET.store(quiet, Ordering::Relaxed);
    VERBOSE.store(count, Ordering::Relaxed);
    let level = match count {
        0 => return,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    bgcopy::logging::log_to_stderr(level, "bgcopy: ");
}
