//! Per-name request counters and statistics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Statistics of one name.
#[derive(Debug, Default)]
pub struct NameStats {
    /// Number of counted requests (those that served content or an error
    /// status; redirect hops are not counted).
    pub requests: u64,
    /// Content bytes actually written for this name, over all requests.
    pub bytes_sent: u64,
    /// The `Range` header of each counted request (`""` when absent).
    pub ranges: Vec<String>,
}

/// Shared handle to one name's statistics.
pub type Stats = Arc<Mutex<NameStats>>;

/// Lock a mutex, ignoring poisoning (a panicking connection thread must not
/// take the whole server down).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// All names' statistics, shared by every connection on both ports.
#[derive(Debug, Default)]
pub struct Registry {
    names: Mutex<HashMap<String, Stats>>,
}

impl Registry {
    /// Count one request for `name`, recording its `Range` header. Returns
    /// the 1-based request number and the name's statistics handle.
    pub fn count(&self, name: &str, range: &str) -> (u64, Stats) {
        let stats = lock(&self.names)
            .entry(name.to_string())
            .or_default()
            .clone();
        let k = {
            let mut s = lock(&stats);
            s.requests += 1;
            s.ranges.push(range.to_string());
            s.requests
        };
        (k, stats)
    }

    /// Forget everything about `name`. Responses still in flight keep
    /// accounting into the forgotten entry, not into a fresh one.
    pub fn reset(&self, name: &str) {
        lock(&self.names).remove(name);
    }

    /// `{"requests":K,"bytes_sent":B,"ranges":[...]}` for `name` (all zero
    /// for an unknown name).
    pub fn stats_json(&self, name: &str) -> String {
        let stats = lock(&self.names).get(name).cloned();
        let (requests, bytes_sent, ranges) = match stats {
            Some(s) => {
                let s = lock(&s);
                (s.requests, s.bytes_sent, s.ranges.clone())
            }
            None => (0, 0, Vec::new()),
        };
        let ranges: Vec<String> = ranges.iter().map(|r| json_string(r)).collect();
        format!(
            "{{\"requests\":{requests},\"bytes_sent\":{bytes_sent},\"ranges\":[{}]}}",
            ranges.join(",")
        )
    }
}

/// Encode `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_json() {
        let r = Registry::default();
        assert_eq!(
            r.stats_json("a"),
            r#"{"requests":0,"bytes_sent":0,"ranges":[]}"#
        );
        assert_eq!(r.count("a", "").0, 1);
        let (k, s) = r.count("a", "bytes=5-");
        assert_eq!(k, 2);
        lock(&s).bytes_sent += 7;
        assert_eq!(
            r.stats_json("a"),
            r#"{"requests":2,"bytes_sent":7,"ranges":["","bytes=5-"]}"#
        );
        r.reset("a");
        assert_eq!(r.count("a", "").0, 1);
        assert_eq!(json_string("a\"\\\u{1}"), r#""a\"\\\u0001""#);
    }
}
