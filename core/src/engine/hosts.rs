//! The per-host connection cap (`connections_per_host`, like aria2's `-x`): every
//! request of every job holds a slot of its URL's host (name and port) while it runs.
//! A file's first connection waits for a slot in arrival order (FOREGROUND and
//! background jobs alike, so neither starves the other); an extra connection for a
//! segment is taken only when a slot is free and nobody waits for one, so new files
//! get connections before running files get more.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Default)]
struct Host {
    used: usize,
    /// Tickets of the waiters, oldest first.
    queue: VecDeque<u64>,
}

/// The slots of every host.
pub(crate) struct HostSlots {
    cap: usize,
    st: Mutex<(HashMap<String, Host>, u64)>,
    freed: Condvar,
}

/// A held slot; dropping it frees it.
pub(crate) struct HostSlot<'a> {
    slots: &'a HostSlots,
    host: String,
}

/// How often a waiter looks at its stop flag.
const LOOK: Duration = Duration::from_millis(100);

impl HostSlots {
    pub fn new(cap: usize) -> HostSlots {
        HostSlots {
            cap: cap.max(1),
            st: Mutex::new((HashMap::new(), 0)),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (HashMap<String, Host>, u64)> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot of `host`, waiting in line for one; `None` when `stop` is raised first.
    pub fn acquire(&self, host: &str, stop: &AtomicBool) -> Option<HostSlot<'_>> {
        let mut st = self.lock();
        let ticket = st.1;
        st.1 += 1;
        st.0.entry(host.to_string())
            .or_default()
            .queue
            .push_back(ticket);
        loop {
            let h = st.0.entry(host.to_string()).or_default();
            if h.used < self.cap && h.queue.front() == Some(&ticket) {
                h.queue.pop_front();
                h.used += 1;
                // The next in line may fit too.
                if !h.queue.is_empty() {
                    self.freed.notify_all();
                }
                return Some(self.slot(host));
            }
            if stop.load(Ordering::SeqCst) {
                h.queue.retain(|t| *t != ticket);
                self.freed.notify_all();
                return None;
            }
            st = self
                .freed
                .wait_timeout(st, LOOK)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// A slot of `host` if one is free and nobody waits for one.
    pub fn try_acquire(&self, host: &str) -> Option<HostSlot<'_>> {
        let mut st = self.lock();
        let h = st.0.entry(host.to_string()).or_default();
        if h.used < self.cap && h.queue.is_empty() {
            h.used += 1;
            return Some(self.slot(host));
        }
        None
    }

    fn slot(&self, host: &str) -> HostSlot<'_> {
        HostSlot {
            slots: self,
            host: host.to_string(),
        }
    }

    /// Slots of `host` in use (tests).
    #[cfg(test)]
    fn used(&self, host: &str) -> usize {
        self.lock().0.get(host).map_or(0, |h| h.used)
    }
}

impl Drop for HostSlot<'_> {
    fn drop(&mut self) {
        let mut st = self.slots.lock();
        let mut waiters = false;
        if let Some(h) = st.0.get_mut(&self.host) {
            h.used = h.used.saturating_sub(1);
            waiters = !h.queue.is_empty();
            if h.used == 0 && !waiters {
                st.0.remove(&self.host);
            }
        }
        // Only a waiter for this host can use the slot.
        if waiters {
            self.slots.freed.notify_all();
        }
    }
}

/// The host key of a URL: `host:port` (the scheme's default port when none is given).
pub(crate) fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_cap_holds_and_waiters_go_first() {
        let slots = Arc::new(HostSlots::new(2));
        let stop = AtomicBool::new(false);
        let a = slots.acquire("h:80", &stop).unwrap();
        let b = slots.try_acquire("h:80").unwrap();
        assert!(slots.try_acquire("h:80").is_none(), "cap 2");
        assert!(slots.try_acquire("other:80").is_some(), "per host");
        let s2 = slots.clone();
        let (got, got_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let waiter = std::thread::spawn(move || {
            let stop = AtomicBool::new(false);
            // Held until the test says so (a slot given back at once would be free for
            // the try_acquire below).
            let slot = s2.acquire("h:80", &stop);
            got.send(slot.is_some()).unwrap();
            let _ = release_rx.recv();
        });
        while slots
            .lock()
            .0
            .get("h:80")
            .is_none_or(|h| h.queue.is_empty())
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(a);
        // The free slot belongs to the waiter, not to an extra segment.
        assert!(slots.try_acquire("h:80").is_none());
        assert!(got_rx.recv().unwrap());
        release.send(()).unwrap();
        waiter.join().unwrap();
        drop(b);
        assert_eq!(slots.used("h:80"), 0);
        let stop_now = AtomicBool::new(true);
        let _x = slots.acquire("h:80", &stop).unwrap();
        let _y = slots.acquire("h:80", &stop).unwrap();
        assert!(slots.acquire("h:80", &stop_now).is_none());
    }

    #[test]
    fn host_keys() {
        assert_eq!(host_of("http://a.example/x"), "a.example:80");
        assert_eq!(host_of("https://a.example:8443/x"), "a.example:8443");
    }
}
