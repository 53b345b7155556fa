//! The per-host connection cap (`connections_per_host`, like aria2's `-x`): every
//! request of every job holds a slot of its URL's host (name and port) while it runs.
//! A file's first connection waits for a slot in arrival order (FOREGROUND and
//! background jobs alike, so neither starves the other); an extra connection for a
//! segment is taken only when a slot is free and nobody waits for one, so new files
//! get connections before running files get more.
//!
//! A freed slot is handed to the first waiter, and only that waiter is woken: with
//! many connections waiting for one host, waking them all for every freed slot made
//! each release cost a wake-up per waiter (32 connections against a cap of 16 spent
//! twice the CPU of 16).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Default)]
struct Host {
    used: usize,
    /// The waiters (ticket, its own bell), oldest first.
    queue: VecDeque<(u64, Arc<Condvar>)>,
    /// Tickets handed a slot (counted in `used`) their waiter has not taken yet.
    granted: HashSet<u64>,
}

impl Host {
    /// Hand free slots to the waiters in line, waking each one handed a slot.
    fn grant(&mut self, cap: usize) {
        while self.used < cap {
            let Some((ticket, bell)) = self.queue.pop_front() else {
                return;
            };
            self.used += 1;
            self.granted.insert(ticket);
            bell.notify_one();
        }
    }

    fn idle(&self) -> bool {
        self.used == 0 && self.queue.is_empty() && self.granted.is_empty()
    }
}

/// The slots of every host.
pub(crate) struct HostSlots {
    cap: usize,
    st: Mutex<(HashMap<String, Host>, u64)>,
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
        let h = st.0.entry(host.to_string()).or_default();
        if h.used < self.cap && h.queue.is_empty() {
            h.used += 1;
            return Some(self.slot(host));
        }
        let bell = Arc::new(Condvar::new());
        h.queue.push_back((ticket, bell.clone()));
        loop {
            let h = st.0.entry(host.to_string()).or_default();
            if h.granted.remove(&ticket) {
                return Some(self.slot(host));
            }
            if stop.load(Ordering::SeqCst) {
                h.queue.retain(|(t, _)| *t != ticket);
                if h.idle() {
                    st.0.remove(host);
                }
                return None;
            }
            st = bell
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
        if let Some(h) = st.0.get_mut(&self.host) {
            h.used = h.used.saturating_sub(1);
            // The next in line gets the slot, and only it is woken.
            h.grant(self.slots.cap);
            if h.idle() {
                st.0.remove(&self.host);
            }
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

    /// Wait until `n` connections wait in line for `h:80`.
    fn wait_in_line(slots: &HostSlots, n: usize) {
        while slots.lock().0.get("h:80").map_or(0, |h| h.queue.len()) < n {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

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
        wait_in_line(&slots, 1);
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

    /// Waiters get the slots in the order they asked, the cap holds with many
    /// connections at once, and nothing is left behind.
    #[test]
    fn freed_slots_go_to_waiters_in_line() {
        let slots = Arc::new(HostSlots::new(1));
        let stop = AtomicBool::new(false);
        let first = slots.acquire("h:80", &stop).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..5 {
            let (s, order) = (slots.clone(), order.clone());
            waiters.push(std::thread::spawn(move || {
                let stop = AtomicBool::new(false);
                let slot = s.acquire("h:80", &stop).unwrap();
                order.lock().unwrap().push(i);
                std::thread::sleep(Duration::from_millis(2));
                drop(slot);
            }));
            // Each one in line before the next asks.
            wait_in_line(&slots, i + 1);
        }
        drop(first);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        assert!(slots.lock().0.is_empty(), "no host left behind");

        let slots = Arc::new(HostSlots::new(3));
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let (s, inside, most) = (slots.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    let stop = AtomicBool::new(false);
                    for _ in 0..3 {
                        let slot = s.acquire("h:80", &stop).unwrap();
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(3));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(slot);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 3, "cap 3 held");
        assert_eq!(
            most.load(Ordering::SeqCst),
            3,
            "12 connections fill the cap"
        );
        assert!(slots.lock().0.is_empty());
    }

    /// A waiter whose transfer stops leaves the line; the others still get slots.
    #[test]
    fn a_stopped_waiter_leaves_the_line() {
        let slots = Arc::new(HostSlots::new(1));
        let stop = AtomicBool::new(false);
        let held = slots.acquire("h:80", &stop).unwrap();
        let quit = Arc::new(AtomicBool::new(false));
        let (s, q) = (slots.clone(), quit.clone());
        let leaver = std::thread::spawn(move || s.acquire("h:80", &q).is_none());
        wait_in_line(&slots, 1);
        quit.store(true, Ordering::SeqCst);
        assert!(leaver.join().unwrap(), "stopped: no slot");
        assert_eq!(slots.lock().0["h:80"].queue.len(), 0);
        drop(held);
        assert!(slots.lock().0.is_empty());
        assert!(slots.try_acquire("h:80").is_some());
    }

    /// A slot handed to a waiter whose transfer stops at that moment is not lost: the
    /// waiter takes it (and gives it back) although its stop flag is up.
    #[test]
    fn a_slot_handed_to_a_stopping_waiter_is_not_lost() {
        let slots = Arc::new(HostSlots::new(1));
        let stop = AtomicBool::new(false);
        let held = slots.acquire("h:80", &stop).unwrap();
        let quit = Arc::new(AtomicBool::new(false));
        let (s, q) = (slots.clone(), quit.clone());
        let waiter = std::thread::spawn(move || s.acquire("h:80", &q).is_some());
        wait_in_line(&slots, 1);
        // Stop and hand over in one step (the waiter is asleep until its bell rings).
        {
            let _st = slots.lock();
            quit.store(true, Ordering::SeqCst);
        }
        drop(held);
        // Taken and given back (or, had its 100 ms look come first, never handed).
        let _ = waiter.join().unwrap();
        assert!(slots.lock().0.is_empty(), "no slot lost");
        assert!(slots.try_acquire("h:80").is_some());
    }

    #[test]
    fn host_keys() {
        assert_eq!(host_of("http://a.example/x"), "a.example:80");
        assert_eq!(host_of("https://a.example:8443/x"), "a.example:8443");
    }
}
