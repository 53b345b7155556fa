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
    /// The first offset of each counted request's `Range: bytes=N-…` (`None`: no
    /// range, or not of that form).
    pub range_starts: Vec<Option<u64>>,
    /// The `If-Range` header of each counted request (`""` when absent).
    pub if_ranges: Vec<String>,
    /// When each counted request arrived, in milliseconds since the origin started.
    pub at_ms: Vec<u64>,
    /// Each counted request's headers as `name: value` lines (names lower-case).
    pub headers: Vec<Vec<String>>,
    /// Content bytes written for each counted request.
    pub sent: Vec<u64>,
}

/// Shared handle to one name's statistics.
pub type Stats = Arc<Mutex<NameStats>>;

/// Lock a mutex, ignoring poisoning (a panicking connection thread must not
/// take the whole server down).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// All names' statistics, shared by every connection on both ports.
#[derive(Debug)]
pub struct Registry {
    names: Mutex<HashMap<String, Stats>>,
    started: std::time::Instant,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            names: Mutex::default(),
            started: std::time::Instant::now(),
        }
    }
}

/// `N` of a `bytes=N-…` range header.
fn range_start(range: &str) -> Option<u64> {
    let r = range.trim();
    r.get(..6).filter(|p| p.eq_ignore_ascii_case("bytes="))?;
    let (a, _) = r[6..].split_once('-')?;
    let a = a.trim();
    if a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    a.parse().ok()
}

impl Registry {
    /// Count one request for `name`, recording its `Range` and `If-Range`
    /// headers and its arrival time. Returns the 1-based request number and the
    /// name's statistics handle.
    pub fn count(
        &self,
        name: &str,
        range: &str,
        if_range: &str,
        headers: &[(String, String)],
    ) -> (u64, Stats) {
        let stats = lock(&self.names)
            .entry(name.to_string())
            .or_default()
            .clone();
        let k = {
            let mut s = lock(&stats);
            s.requests += 1;
            s.ranges.push(range.to_string());
            s.range_starts.push(range_start(range));
            s.if_ranges.push(if_range.to_string());
            s.at_ms.push(self.started.elapsed().as_millis() as u64);
            s.sent.push(0);
            s.headers
                .push(headers.iter().map(|(n, v)| format!("{n}: {v}")).collect());
            s.requests
        };
        (k, stats)
    }

    /// Forget everything about `name`. Responses still in flight keep
    /// accounting into the forgotten entry, not into a fresh one.
    pub fn reset(&self, name: &str) {
        lock(&self.names).remove(name);
    }

    /// `{"requests":K,"bytes_sent":B,"ranges":[...],"range_starts":[...],
    /// "if_ranges":[...],"at_ms":[...],"headers":[[...],...]}` for `name` (all zero/empty for an unknown
    /// name).
    pub fn stats_json(&self, name: &str) -> String {
        let stats = lock(&self.names).get(name).cloned();
        let empty = NameStats::default();
        let guard = stats.as_ref().map(|s| lock(s));
        let s = guard.as_deref().unwrap_or(&empty);
        let strings = |v: &[String]| {
            v.iter()
                .map(|r| json_string(r))
                .collect::<Vec<_>>()
                .join(",")
        };
        let starts = s
            .range_starts
            .iter()
            .map(|r| r.map_or("null".to_string(), |n| n.to_string()))
            .collect::<Vec<_>>()
            .join(",");
        let at = s
            .at_ms
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sent = s
            .sent
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let headers = s
            .headers
            .iter()
            .map(|h| format!("[{}]", strings(h)))
            .collect::<Vec<_>>()
            .join(",");
        format!(
            "{{\"requests\":{},\"bytes_sent\":{},\"ranges\":[{}],\"range_starts\":[{starts}],\"if_ranges\":[{}],\"at_ms\":[{at}],\"headers\":[{headers}],\"sent\":[{sent}]}}",
            s.requests,
            s.bytes_sent,
            strings(&s.ranges),
            strings(&s.if_ranges),
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
            r#"{"requests":0,"bytes_sent":0,"ranges":[],"range_starts":[],"if_ranges":[],"at_ms":[],"headers":[],"sent":[]}"#
        );
        assert_eq!(r.count("a", "", "", &[]).0, 1);
        let (k, s) = r.count("a", "bytes=5-", "\"v0-9\"", &[("x-a".into(), "1".into())]);
        assert_eq!(k, 2);
        lock(&s).bytes_sent += 7;
        let j = r.stats_json("a");
        assert!(
            j.starts_with(
                r#"{"requests":2,"bytes_sent":7,"ranges":["","bytes=5-"],"range_starts":[null,5],"if_ranges":["","\"v0-9\""],"at_ms":["#
            ),
            "{j}"
        );
        assert!(
            j.ends_with(r#"],"headers":[[],["x-a: 1"]],"sent":[0,0]}"#),
            "{j}"
        );
        r.reset("a");
        assert_eq!(r.count("a", "", "", &[]).0, 1);
        assert_eq!(range_start("bytes=12-"), Some(12));
        assert_eq!(range_start("bytes=-5"), None);
        assert_eq!(json_string("a\"\\\u{1}"), r#""a\"\\\u0001""#);
    }
}
