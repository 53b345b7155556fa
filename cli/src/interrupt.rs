//! Ctrl-C (and SIGTERM/SIGHUP): the first one asks the running command to stop
//! cleanly: `get` suspends its job and records its checkpoint, `wait` and `run` stop
//! their engine. The stop path is idempotent: more signals while it runs only say
//! that it is still stopping, so any number of them ends the same way (the job kept,
//! its progress recorded). `kill -9` remains the way out of a hung disk.

use std::sync::atomic::{AtomicU32, Ordering};

static SIGNALS: AtomicU32 = AtomicU32::new(0);

/// Install the handler (once per process; later calls do nothing).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!(
                "\nbgcopy: still stopping: the job is kept and its progress is being recorded"
            );
        }
    });
}

/// True once the user interrupted.
pub fn interrupted() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}
