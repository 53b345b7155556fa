//! `fork()` and SQLite: SQLite's Unix layer keeps process-wide mutexes (the list of
//! open files and their locks). A `fork()` while another thread of the process is
//! inside SQLite would copy such a mutex locked into the child, and the child's first
//! `open` of a store would wait for it forever. Every use of a store holds a
//! [`StoreGuard`]; a `pthread_atfork` handler raises a flag that keeps new uses out
//! and waits for the ones in flight (they are short) before the fork, and lowers it on
//! both sides after it. Installed once, at the first guard.
//!
//! (A pthread rwlock cannot serve: glibc records the writer's thread id, and the
//! child's thread, which must release it, has another.)

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Threads inside a store.
static USERS: AtomicUsize = AtomicUsize::new(0);
/// A fork is under way: new uses wait.
static FORKING: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

fn pause() {
    std::thread::sleep(Duration::from_micros(200));
}

extern "C" fn before_fork() {
    while FORKING
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        pause();
    }
    while USERS.load(Ordering::SeqCst) != 0 {
        pause();
    }
}

extern "C" fn after_fork() {
    FORKING.store(false, Ordering::SeqCst);
}

/// Held while this thread uses a store: a `fork()` waits until no thread is inside
/// SQLite.
pub(crate) struct StoreGuard(());

impl StoreGuard {
    pub fn enter() -> StoreGuard {
        INSTALL.call_once(|| {
            // SAFETY: registers `extern "C"` functions that only touch the atomics.
            unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork)) };
        });
        loop {
            USERS.fetch_add(1, Ordering::SeqCst);
            if !FORKING.load(Ordering::SeqCst) {
                return StoreGuard(());
            }
            USERS.fetch_sub(1, Ordering::SeqCst);
            while FORKING.load(Ordering::SeqCst) {
                pause();
            }
        }
    }
}

impl Drop for StoreGuard {
    fn drop(&mut self) {
        USERS.fetch_sub(1, Ordering::SeqCst);
    }
}
