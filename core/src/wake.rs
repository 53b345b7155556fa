//! How one thread tells another that something changed: a [`Signal`] remembers one
//! wake-up until it is taken (like a semaphore capped at one permit), so a wake-up sent
//! while the other thread is busy is never lost.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A one-permit wake-up.
#[derive(Default)]
pub(crate) struct Signal {
    raised: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    /// Wake the waiter (or the next one to wait).
    pub fn raise(&self) {
        *self.raised.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_one();
    }

    /// Wait until raised or `timeout` passed; takes the wake-up.
    pub fn wait(&self, timeout: Duration) {
        let mut raised = self.raised.lock().unwrap_or_else(|p| p.into_inner());
        if !*raised {
            raised = self
                .cv
                .wait_timeout_while(raised, timeout, |r| !*r)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *raised = false;
    }
}

/// Which threads a change concerns (see `JobTable::wake`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wake {
    /// Threads blocked in `wait()`.
    pub waiters: bool,
    /// The scheduler: what should run may have changed.
    pub scheduler: bool,
    /// The notifier: a notification may be due.
    pub notifier: bool,
}

impl Wake {
    /// Everyone: a user call changed a job.
    pub const ALL: Wake = Wake {
        waiters: true,
        scheduler: true,
        notifier: true,
    };
    /// Waiters and the notifier: the engine changed a job (nothing to reschedule).
    pub const ENGINE: Wake = Wake {
        waiters: true,
        scheduler: false,
        notifier: true,
    };
    /// Only the notifier (live progress someone listens to).
    pub const NOTIFIER: Wake = Wake {
        waiters: false,
        scheduler: false,
        notifier: true,
    };
    /// Nobody.
    pub const NONE: Wake = Wake {
        waiters: false,
        scheduler: false,
        notifier: false,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_raise_before_the_wait_is_kept_and_taken_once() {
        let s = Signal::default();
        s.raise();
        let t = Instant::now();
        s.wait(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1));
        let t = Instant::now();
        s.wait(Duration::from_millis(50));
        assert!(t.elapsed() >= Duration::from_millis(45));
        let s = Arc::new(Signal::default());
        let s2 = s.clone();
        let h = std::thread::spawn(move || s2.wait(Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(20));
        s.raise();
        h.join().unwrap();
    }
}
