//! Minimal HTTP/1.1 request parsing and response writing.

use std::io::{self, Read, Write};

use crate::conn::Conn;
use crate::content::CHUNK;
use crate::state::{Stats, lock};

/// Largest accepted request head (request line plus headers).
const MAX_HEAD: usize = 64 * 1024;

/// A parsed request head.
#[derive(Debug)]
pub struct Request {
    /// The method, as sent (case-sensitive).
    pub method: String,
    /// The request target, as sent.
    pub target: String,
    /// True for `HTTP/1.0`.
    pub http10: bool,
    /// Headers with lower-cased names, in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header called `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client wants the connection kept open afterwards.
    pub fn keep_alive(&self) -> bool {
        let tokens = |t: &str| {
            self.headers
                .iter()
                .filter(|(n, _)| n == "connection")
                .flat_map(|(_, v)| v.split(','))
                .any(|x| x.trim().eq_ignore_ascii_case(t))
        };
        if tokens("close") {
            false
        } else if self.http10 {
            tokens("keep-alive")
        } else {
            true
        }
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection ended or failed; just drop it.
    Gone,
    /// The request is malformed; answer 400 and close.
    Bad(String),
}

/// Read one request head from `conn`, using and refilling `buf` (which holds
/// bytes already received but not yet consumed). `Ok(None)` is a clean end
/// of the connection between requests.
pub fn read_request(conn: &mut Conn, buf: &mut Vec<u8>) -> Result<Option<Request>, ReadError> {
    loop {
        // Tolerate empty lines before a request line (RFC 9112 §2.2).
        let skip = buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        buf.drain(..skip);
        if let Some(end) = find_head_end(buf) {
            let head: Vec<u8> = buf.drain(..end).collect();
            return parse_head(&head).map(Some);
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Bad("request head too large".into()));
        }
        let mut tmp = [0u8; 16 * 1024];
        match conn.read(&mut tmp) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(ReadError::Gone),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadError::Gone),
        }
    }
}

/// Index just past the blank line ending the head, if complete. Accepts
/// bare `\n` line endings too.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = buf[i..].iter().position(|b| *b == b'\n') {
        let nl = i + p;
        let rest = &buf[nl + 1..];
        if rest.first() == Some(&b'\n') {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

fn parse_head(head: &[u8]) -> Result<Request, ReadError> {
    let bad = |m: &str| ReadError::Bad(m.to_string());
    let text = std::str::from_utf8(head).map_err(|_| bad("request head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().ok_or_else(|| bad("empty request"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(bad("unsupported HTTP version")),
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(bad("malformed method"));
    }
    if target.is_empty() || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad("malformed request target"));
    }
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| bad("malformed header line"))?;
        if n.is_empty()
            || n.bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(bad("malformed header name"));
        }
        headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        http10,
        headers,
    })
}

/// The standard reason phrase for `status`.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Whether a response with `status` must not carry a body.
pub fn bodyless(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// A response head under construction.
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Header lines, in order.
    pub headers: Vec<(&'static str, String)>,
}

impl Head {
    /// A head with no headers yet.
    pub fn new(status: u16) -> Head {
        Head {
            status,
            headers: Vec::new(),
        }
    }

    /// Add a header.
    pub fn add(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Serialise, adding the `Connection` header.
    pub fn to_bytes(&self, keep_alive: bool) -> Vec<u8> {
        let mut s = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (n, v) in &self.headers {
            s.push_str(n);
            s.push_str(": ");
            s.push_str(v);
            s.push_str("\r\n");
        }
        s.push_str(if keep_alive {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        });
        s.into_bytes()
    }
}

/// A buffered response writer that flushes in [`CHUNK`]-sized writes,
/// frames chunked bodies, and accounts content bytes to a name's stats.
pub struct Out<'a> {
    /// The connection written to.
    pub conn: &'a mut Conn,
    buf: Vec<u8>,
    chunked: bool,
    pending_body: u64,
    /// Content bytes successfully written so far.
    pub body_sent: u64,
    /// The statistics to account to, and the request's index in them.
    stats: Option<(Stats, usize)>,
}

impl<'a> Out<'a> {
    /// A writer on `conn`.
    pub fn new(conn: &'a mut Conn) -> Out<'a> {
        Out {
            conn,
            buf: Vec::with_capacity(CHUNK + 1024),
            chunked: false,
            pending_body: 0,
            body_sent: 0,
            stats: None,
        }
    }

    /// Frame body data with chunked transfer coding from now on.
    pub fn set_chunked(&mut self, chunked: bool) {
        self.chunked = chunked;
    }

    /// Account content bytes written from now on to `stats`, request number `k`.
    pub fn set_stats(&mut self, stats: Stats, k: u64) {
        self.stats = Some((stats, k.saturating_sub(1) as usize));
    }

    /// Queue raw bytes (a response head).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Queue body data, flushing when the buffer reaches [`CHUNK`].
    pub fn body(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if self.chunked {
            self.buf
                .extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        }
        self.buf.extend_from_slice(data);
        if self.chunked {
            self.buf.extend_from_slice(b"\r\n");
        }
        self.pending_body += data.len() as u64;
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Write everything queued to the connection.
    ///
    /// The stats are counted before the write, so a client that has read the bytes
    /// always sees them in `/stats`; a failed write takes them back.
    pub fn flush(&mut self) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending_body);
        if let Some((s, i)) = &self.stats {
            let mut s = lock(s);
            s.bytes_sent += pending;
            if let Some(n) = s.sent.get_mut(*i) {
                *n += pending;
            }
        }
        let mut result = Ok(());
        if !self.buf.is_empty() {
            result = self.conn.write_all(&self.buf);
            self.buf.clear();
        }
        let result = result.and_then(|_| self.conn.flush());
        match &result {
            Ok(()) => self.body_sent += pending,
            Err(_) => {
                if let Some((s, i)) = &self.stats {
                    let mut s = lock(s);
                    s.bytes_sent -= pending;
                    if let Some(n) = s.sent.get_mut(*i) {
                        *n -= pending;
                    }
                }
            }
        }
        result
    }

    /// End the body (terminating chunk when chunked) and flush.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.chunked {
            self.buf.extend_from_slice(b"0\r\n\r\n");
        }
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_parsing() {
        let h =
            b"GET /f/a?size=3 HTTP/1.1\r\nHost: x\r\nRange:  bytes=1-\r\nConnection: close\r\n\r\n";
        assert_eq!(find_head_end(h), Some(h.len()));
        let r = parse_head(h).unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/f/a?size=3");
        assert_eq!(r.header("range"), Some("bytes=1-"));
        assert!(!r.keep_alive());
        let r = parse_head(b"HEAD / HTTP/1.0\n\n").unwrap();
        assert!(!r.keep_alive());
        assert!(parse_head(b"GET /\r\n\r\n").is_err());
        assert!(parse_head(b"GET / HTTP/1.1\r\nbad\r\n\r\n").is_err());
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
