//! Bandwidth: a token bucket shared by the connections it limits (the background
//! transfers of a manager, or every connection of one job). Its rate can change while
//! transfers run; a waiting connection sees a new rate within [`SLICE`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A waiting connection looks at the rate again this often.
const SLICE: Duration = Duration::from_millis(50);

/// A token bucket; rate 0 = unlimited.
pub(crate) struct RateLimiter {
    rate: AtomicU64,
    /// Tokens (bytes; negative: owed) and when they were last counted.
    state: Mutex<(f64, Instant)>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(0)
    }
}

impl RateLimiter {
    pub fn new(bytes_per_second: u64) -> Self {
        RateLimiter {
            rate: AtomicU64::new(bytes_per_second),
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    /// Change the rate (0: unlimited); connections waiting now see it within
    /// [`SLICE`].
    pub fn set_rate(&self, bytes_per_second: u64) {
        self.rate.store(bytes_per_second, Ordering::Relaxed);
    }

    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// How many bytes a connection should read at once under this limit, so that no
    /// connection runs far ahead of the others between two waits.
    pub fn chunk(&self, max: usize) -> usize {
        match self.rate() {
            0 => max,
            r => ((r / 64) as usize).clamp(4096, max),
        }
    }

    /// Bring the bucket up to `now` at the current rate; the tokens after that.
    fn refill(&self, s: &mut (f64, Instant)) -> f64 {
        let now = Instant::now();
        let rate = self.rate() as f64;
        if rate == 0.0 {
            s.0 = 0.0;
        } else {
            let burst = (rate / 4.0).max(16384.0);
            s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * rate).min(burst);
        }
        s.1 = now;
        s.0
    }

    /// Account for `n` bytes, sleeping as long as the budget requires (at most about a
    /// second: a read sized under an earlier, higher rate owes no more than that), or
    /// until `stop` is raised.
    pub fn take(&self, n: usize, stop: &AtomicBool) {
        if self.rate() == 0 {
            // Unlimited: no lock (every read of every connection comes here).
            return;
        }
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            self.refill(&mut s);
            if self.rate() == 0 {
                return;
            }
            s.0 = (s.0 - n as f64).max(-(self.rate() as f64));
        }
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let tokens = self.refill(&mut s);
                let rate = self.rate();
                if tokens >= 0.0 || rate == 0 || stop.load(Ordering::Relaxed) {
                    return;
                }
                Duration::from_secs_f64(-tokens / rate as f64)
            };
            std::thread::sleep(wait.min(SLICE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits_and_a_new_rate_applies_at_once() {
        let go = AtomicBool::new(false);
        let l = RateLimiter::new(0);
        let t = Instant::now();
        l.take(1 << 30, &go);
        assert!(t.elapsed() < Duration::from_millis(50));
        assert_eq!(l.chunk(1 << 18), 1 << 18);
        l.set_rate(1 << 20);
        assert_eq!(l.chunk(1 << 18), 16384);
        // A debt of 4 s at 1 MiB/s is forgiven when the limit goes away.
        let l = std::sync::Arc::new(RateLimiter::new(1 << 20));
        let l2 = l.clone();
        let t = Instant::now();
        let h = std::thread::spawn(move || l2.take(4 << 20, &AtomicBool::new(false)));
        std::thread::sleep(Duration::from_millis(100));
        l.set_rate(0);
        h.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        // A debt is at most a second's worth, and a stop ends the wait.
        let l = RateLimiter::new(1 << 20);
        let t = Instant::now();
        l.take(64 << 20, &go);
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t.elapsed()
        );
        let stop = AtomicBool::new(true);
        let t = Instant::now();
        l.take(1 << 20, &stop);
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
    }
}
