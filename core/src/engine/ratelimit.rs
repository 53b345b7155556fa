//! Bandwidth: a token bucket the background transfers share.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket shared by background transfers.
pub(crate) struct RateLimiter {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(bytes_per_second: u64) -> Self {
        RateLimiter {
            rate: bytes_per_second.max(1) as f64,
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    /// Account for `n` bytes, sleeping as long as the budget requires.
    pub fn take(&self, n: usize) {
        let wait = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let burst = (self.rate / 4.0).max(16384.0);
            s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(burst);
            s.1 = now;
            s.0 -= n as f64;
            if s.0 < 0.0 { -s.0 / self.rate } else { 0.0 }
        };
        if wait > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(wait));
        }
    }
}
