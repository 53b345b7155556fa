//! Query-string parsing for `/f/<name>` requests.

/// Decode `%XX` escapes. Invalid escapes are kept literally; `+` is *not*
/// turned into a space. Invalid UTF-8 is replaced lossily.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parameters of a `/f/<name>` request. See the README for their meaning.
#[derive(Debug, Clone)]
pub struct Params {
    /// Body size in bytes.
    pub size: u64,
    /// Send an `ETag`.
    pub etag: bool,
    /// Make the `ETag` weak.
    pub weak: bool,
    /// Send a `Last-Modified`.
    pub last_modified: bool,
    /// Ignore `Range` entirely.
    pub norange: bool,
    /// Ignore `Range` in request number K only (a server behind a balancer whose
    /// nodes differ).
    pub norange_at: Option<u64>,
    /// The injected status applies from request number K on (requests before it are
    /// served normally).
    pub status_from: Option<u64>,
    /// Answer range requests with a wrong `Content-Range` (start + 1).
    pub badrange: bool,
    /// Use `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Injected status code.
    pub status: Option<u16>,
    /// Number of requests that get the injected status (all when `None`).
    pub fail: Option<u64>,
    /// `Retry-After` value sent with the injected status, verbatim.
    pub retry_after: Option<String>,
    /// Requests numbered above this serve content version 1.
    pub change_after: Option<u64>,
    /// Every request serves the other version than the request before it.
    pub change_each: bool,
    /// Send `Retry-After` as an HTTP-date this many seconds from now.
    pub retry_after_date: Option<u64>,
    /// Number of requests the body faults apply to.
    pub faults: u64,
    /// Abort with RST at this absolute offset.
    pub reset_at: Option<u64>,
    /// Close cleanly (short body) at this absolute offset.
    pub close_at: Option<u64>,
    /// Stall at this absolute offset.
    pub stall_at: Option<u64>,
    /// Stall duration in milliseconds.
    pub stall_ms: u64,
    /// Pace the body to about this many bytes per second.
    pub rate: Option<u64>,
    /// Number of redirect hops left.
    pub redirect: Option<u64>,
    /// Redirect to the very same URL forever.
    pub redirect_loop: bool,
    /// Redirect to this absolute URL.
    pub to: Option<String>,
    /// The `Authorization` value a request must carry (`basic:USER:PASS` or
    /// `bearer:TOKEN` in the query); without it the answer is 401.
    pub auth: Option<String>,
    /// Echo the request's `Authorization` in an `X-Echo-Authorization` response header
    /// (a server that would leak a secret back).
    pub echo_auth: bool,
    /// A request header (`name`, `value`) every request must carry; 403 otherwise.
    pub require: Option<(String, String)>,
    /// Send `Content-Disposition: attachment; filename="…"` with this name.
    pub disposition: Option<String>,
    /// The raw (undecoded) `key=value` segments, in order, for rebuilding
    /// redirect targets.
    pub raw_segments: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            size: 1024,
            etag: true,
            weak: false,
            last_modified: true,
            norange: false,
            norange_at: None,
            status_from: None,
            badrange: false,
            chunked: false,
            status: None,
            fail: None,
            retry_after: None,
            change_after: None,
            change_each: false,
            retry_after_date: None,
            faults: 1,
            reset_at: None,
            close_at: None,
            stall_at: None,
            stall_ms: 3_600_000,
            rate: None,
            redirect: None,
            redirect_loop: false,
            to: None,
            auth: None,
            echo_auth: false,
            require: None,
            disposition: None,
            raw_segments: Vec::new(),
        }
    }
}

fn num(key: &str, v: &str) -> Result<u64, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad value for {key}: {v:?}"));
    }
    v.parse::<u64>()
        .map_err(|_| format!("bad value for {key}: {v:?}"))
}

fn flag(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "" | "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!("bad value for {key}: {v:?}")),
    }
}

impl Params {
    /// Parse a query string (without the leading `?`). Unknown keys are
    /// ignored; malformed values are an error (answered with 400).
    pub fn parse(query: &str) -> Result<Params, String> {
        let mut p = Params::default();
        for seg in query.split('&').filter(|s| !s.is_empty()) {
            p.raw_segments.push(seg.to_string());
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            let key = percent_decode(k);
            let v = percent_decode(v);
            let v = v.as_str();
            match key.as_str() {
                "size" => p.size = num("size", v)?,
                "etag" => p.etag = flag("etag", v)?,
                "weak" => p.weak = flag("weak", v)?,
                "lm" => p.last_modified = flag("lm", v)?,
                "norange" => p.norange = flag("norange", v)?,
                "norange_at" => p.norange_at = Some(num("norange_at", v)?),
                "status_from" => p.status_from = Some(num("status_from", v)?),
                "badrange" => p.badrange = flag("badrange", v)?,
                "chunked" => p.chunked = flag("chunked", v)?,
                "status" => {
                    let s = num("status", v)?;
                    if !(100..=999).contains(&s) {
                        return Err(format!("status must be a 3-digit code: {v:?}"));
                    }
                    p.status = Some(s as u16);
                }
                "fail" => p.fail = Some(num("fail", v)?),
                "retry_after" => {
                    if v.bytes().any(|b| b == b'\r' || b == b'\n') {
                        return Err("retry_after must not contain line breaks".into());
                    }
                    p.retry_after = Some(v.to_string());
                }
                "auth" => {
                    use base64::Engine;
                    p.auth = Some(match v.split_once(':') {
                        Some(("basic", up)) => format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(up)
                        ),
                        Some(("bearer", token)) => format!("Bearer {token}"),
                        _ => {
                            return Err(format!(
                                "auth must be basic:USER:PASS or bearer:TOKEN: {v:?}"
                            ));
                        }
                    });
                }
                "echo_auth" => p.echo_auth = flag("echo_auth", v)?,
                "require" => {
                    let (n, val) = v
                        .split_once(':')
                        .ok_or_else(|| format!("require must be NAME:VALUE: {v:?}"))?;
                    p.require = Some((n.trim().to_ascii_lowercase(), val.trim().to_string()));
                }
                "disposition" => {
                    if v.chars().any(|c| c.is_control() || c == '"') {
                        return Err("disposition must not hold control characters or quotes".into());
                    }
                    p.disposition = Some(v.to_string());
                }
                "change_after" => p.change_after = Some(num("change_after", v)?),
                "change_each" => p.change_each = flag("change_each", v)?,
                "retry_after_date" => p.retry_after_date = Some(num("retry_after_date", v)?),
                "faults" => p.faults = num("faults", v)?,
                "reset_at" => p.reset_at = Some(num("reset_at", v)?),
                "close_at" => p.close_at = Some(num("close_at", v)?),
                "stall_at" => p.stall_at = Some(num("stall_at", v)?),
                "stall_ms" => p.stall_ms = num("stall_ms", v)?,
                "rate" => {
                    let r = num("rate", v)?;
                    if r == 0 {
                        return Err("rate must be at least 1".into());
                    }
                    p.rate = Some(r);
                }
                "redirect" => p.redirect = Some(num("redirect", v)?),
                "loop" => p.redirect_loop = flag("loop", v)?,
                "to" => {
                    if v.is_empty() || v.bytes().any(|b| b.is_ascii_control()) {
                        return Err("bad value for to".into());
                    }
                    p.to = Some(v.to_string());
                }
                _ => {}
            }
        }
        Ok(p)
    }

    /// The query string for the next redirect hop: the `redirect` segment is
    /// replaced with `redirect=N-1`, or dropped when that would be 0.
    pub fn next_hop_query(&self, hops: u64) -> String {
        let mut segs = Vec::with_capacity(self.raw_segments.len());
        for seg in &self.raw_segments {
            let k = seg.split_once('=').map_or(seg.as_str(), |(k, _)| k);
            if percent_decode(k) == "redirect" {
                if hops > 1 {
                    segs.push(format!("redirect={}", hops - 1));
                }
            } else {
                segs.push(seg.clone());
            }
        }
        segs.join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode() {
        assert_eq!(percent_decode("a%20b+c"), "a b+c");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41%"), "A%");
        assert_eq!(
            percent_decode("http%3A%2F%2Fx%2Fy%3Fa%3D1"),
            "http://x/y?a=1"
        );
    }

    #[test]
    fn parse_and_hops() {
        let p = Params::parse("size=10&redirect=2&etag=0&x=y").unwrap();
        assert_eq!(p.size, 10);
        assert!(!p.etag);
        assert_eq!(p.redirect, Some(2));
        assert_eq!(p.next_hop_query(2), "size=10&redirect=1&etag=0&x=y");
        assert_eq!(p.next_hop_query(1), "size=10&etag=0&x=y");
        assert!(Params::parse("size=abc").is_err());
        assert!(Params::parse("size=+5").is_err());
        assert!(Params::parse("status=42").is_err());
        assert!(Params::parse("").is_ok());
    }
}
