//! Fork safety. A manager's threads do not exist in a child made by `fork()`, and its
//! locks may be held by them: the child must open its own manager. Every handle
//! remembers the fork generation it was made in; a `pthread_atfork` child handler bumps
//! the generation, so a handle inherited from the parent raises INVALID_STATE instead
//! of hanging, and is leaked instead of closed when Python drops it.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Register the fork handler (once per process; inherited by children).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a handler that only touches an atomic (async-signal-safe).
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

/// The number of forks between the first process and this one.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}
