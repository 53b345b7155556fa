//! Ctrl-C (and SIGTERM/SIGHUP): the first one asks the running command to stop
//! cleanly; a second one exits at once with status 130.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Install the handler (once per process; later calls do nothing).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!(
                "\nbgcopy: interrupted again: exiting now (the jobs continue on the next run)"
            );
            std::process::exit(crate::fail::EXIT_INTERRUPTED);
        }
    });
}

/// True once the user interrupted.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
