//! Request routing and the `/f/<name>` content/fault logic.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::content::{self, CHUNK};
use crate::http::{Head, Out, ReadError, Request, bodyless, read_request};
use crate::params::{Params, percent_decode};
use crate::state::Registry;

/// State shared by all connections.
#[derive(Debug)]
pub struct Ctx {
    /// Per-name counters.
    pub registry: Registry,
    /// Log one line per request to stderr.
    pub verbose: bool,
    /// Address the `/late` ports bind to.
    pub late_bind: std::net::Ipv4Addr,
    /// This context itself, for the accept loops `/late` starts.
    pub me: std::sync::OnceLock<std::sync::Weak<Ctx>>,
    /// The proxies `/proxy` started.
    pub proxies: crate::proxies::Proxies,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx {
            registry: Registry::default(),
            verbose: false,
            late_bind: std::net::Ipv4Addr::LOCALHOST,
            me: std::sync::OnceLock::new(),
            proxies: Default::default(),
        }
    }
}

/// Accept connections forever, one thread each.
pub fn accept_loop(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> ! {
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) => {
                // E.g. out of file descriptors; don't spin.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let ctx = ctx.clone();
        let tls = tls.clone();
        let spawned = thread::Builder::new()
            .name("origin-conn".into())
            .spawn(move || {
                let _ = stream.set_nodelay(true);
                // Idle keep-alive connections are dropped after a while.
                let _ = stream.set_read_timeout(Some(Duration::from_secs(300)));
                match tls {
                    None => serve_connection(Conn::Plain(stream), &ctx, "http"),
                    Some(cfg) => {
                        let Ok(sc) = rustls::ServerConnection::new(cfg) else {
                            return;
                        };
                        let conn = Conn::Tls(Box::new(rustls::StreamOwned::new(sc, stream)));
                        serve_connection(conn, &ctx, "https");
                    }
                }
            });
        if spawned.is_err() {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// What happens to the connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next request.
    KeepAlive,
    /// Close cleanly.
    Close,
    /// Abort with RST.
    Abort,
}

/// The result of handling one request (for the connection loop and logging).
struct Outcome {
    flow: Flow,
    status: u16,
    sent: u64,
    note: &'static str,
}

impl Outcome {
    fn new(flow: Flow, status: u16) -> Outcome {
        Outcome {
            flow,
            status,
            sent: 0,
            note: "",
        }
    }
}

/// Serve requests on `conn` until it ends. Never panics on client input.
pub fn serve_connection(mut conn: Conn, ctx: &Ctx, scheme: &'static str) {
    let mut buf = Vec::new();
    loop {
        let req = match read_request(&mut conn, &mut buf) {
            Ok(Some(r)) => r,
            Ok(None) | Err(ReadError::Gone) => return,
            Err(ReadError::Bad(msg)) => {
                if ctx.verbose {
                    eprintln!("[origin] {scheme} <bad request: {msg}> -> 400");
                }
                simple(
                    &mut conn,
                    400,
                    &format!("bad request: {msg}\n"),
                    &[],
                    false,
                    false,
                );
                conn.close();
                return;
            }
        };
        let mut keep = req.keep_alive();
        if req.header("transfer-encoding").is_some() {
            // Request bodies with transfer codings are not supported: answer,
            // then close instead of trying to find the next request.
            keep = false;
        } else if let Some(cl) = req.header("content-length") {
            match cl.parse::<u64>() {
                Ok(n) => {
                    if discard(&mut conn, &mut buf, n).is_err() {
                        return;
                    }
                }
                Err(_) => {
                    simple(&mut conn, 400, "bad Content-Length\n", &[], false, false);
                    conn.close();
                    return;
                }
            }
        }
        let out = handle(&mut conn, &req, ctx, keep);
        if ctx.verbose {
            eprintln!(
                "[origin] {scheme} {} {} range={:?} -> {} sent={}{}{}",
                req.method,
                req.target,
                req.header("range").unwrap_or(""),
                out.status,
                out.sent,
                if out.note.is_empty() { "" } else { " " },
                out.note
            );
        }
        match out.flow {
            Flow::KeepAlive => {}
            Flow::Close => {
                conn.close();
                return;
            }
            Flow::Abort => {
                conn.abort();
                return;
            }
        }
    }
}

/// Skip `n` request-body bytes (first from `buf`, then from the connection).
fn discard(conn: &mut Conn, buf: &mut Vec<u8>, n: u64) -> io::Result<()> {
    let from_buf = (buf.len() as u64).min(n) as usize;
    buf.drain(..from_buf);
    let mut left = n - from_buf as u64;
    let mut tmp = [0u8; 16 * 1024];
    while left > 0 {
        let want = (tmp.len() as u64).min(left) as usize;
        match io::Read::read(conn, &mut tmp[..want]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => left -= k as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Send a small complete response with a text body.
fn simple(
    conn: &mut Conn,
    status: u16,
    body: &str,
    extra: &[(&'static str, String)],
    is_head: bool,
    keep: bool,
) -> Flow {
    simple_typed(conn, status, "text/plain", body, extra, is_head, keep)
}

fn simple_typed(
    conn: &mut Conn,
    status: u16,
    content_type: &str,
    body: &str,
    extra: &[(&'static str, String)],
    is_head: bool,
    keep: bool,
) -> Flow {
    let mut h = Head::new(status);
    for (n, v) in extra {
        h.add(n, v.clone());
    }
    let has_body = !bodyless(status);
    if has_body {
        h.add("Content-Type", content_type);
        h.add("Content-Length", body.len().to_string());
    }
    let mut out = Out::new(conn);
    out.raw(&h.to_bytes(keep));
    if has_body && !is_head {
        out.raw(body.as_bytes());
    }
    match out.flush() {
        Ok(()) if keep => Flow::KeepAlive,
        _ => Flow::Close,
    }
}

/// Route one request.
fn handle(conn: &mut Conn, req: &Request, ctx: &Ctx, keep: bool) -> Outcome {
    let is_head = match req.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        _ => {
            let extra = [("Allow", "GET, HEAD".to_string())];
            let flow = simple(conn, 405, "method not allowed\n", &extra, false, keep);
            return Outcome::new(flow, 405);
        }
    };
    let (path, query) = req
        .target
        .split_once('?')
        .unwrap_or((req.target.as_str(), ""));
    // Accept absolute-form targets too.
    let path = match path
        .strip_prefix("http://")
        .or_else(|| path.strip_prefix("https://"))
    {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => path,
    };
    if let Some(raw_name) = path.strip_prefix("/f/") {
        let name = percent_decode(raw_name);
        if !name.is_empty() {
            return serve_file(conn, req, raw_name, &name, query, is_head, ctx, keep);
        }
    } else if let Some(raw_name) = path.strip_prefix("/stats/") {
        let json = ctx.registry.stats_json(&percent_decode(raw_name));
        let flow = simple_typed(conn, 200, "application/json", &json, &[], is_head, keep);
        return Outcome::new(flow, 200);
    } else if path == "/late" {
        let ms = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("ms="))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(2000);
        let (status, body) = match crate::late::open(ctx, ms) {
            Ok(port) => (200, format!("{{\"port\":{port}}}")),
            Err(e) => (
                500,
                format!(
                    "{{\"error\":{}}}",
                    crate::state::json_string(&e.to_string())
                ),
            ),
        };
        let flow = simple_typed(conn, status, "application/json", &body, &[], is_head, keep);
        return Outcome::new(flow, status);
    } else if path == "/proxy" {
        let arg = |k: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                .map(percent_decode)
        };
        let kind = arg("kind").unwrap_or_else(|| "http".into());
        let auth = arg("auth");
        let auth = auth.as_deref().and_then(|a| a.split_once(':'));
        let (status, body) = match ctx.proxies.start(&kind, auth) {
            Ok((port, id)) => (200, format!("{{\"port\":{port},\"id\":{id}}}")),
            Err(e) => (
                503,
                format!("{{\"error\":{}}}", crate::state::json_string(&e)),
            ),
        };
        let flow = simple_typed(conn, status, "application/json", &body, &[], is_head, keep);
        return Outcome::new(flow, status);
    } else if let Some(id) = path.strip_prefix("/proxylog/") {
        if let Some(json) = id.parse().ok().and_then(|id| ctx.proxies.log_json(id)) {
            let flow = simple_typed(conn, 200, "application/json", &json, &[], is_head, keep);
            return Outcome::new(flow, 200);
        }
    } else if let Some(raw_name) = path.strip_prefix("/reset/") {
        ctx.registry.reset(&percent_decode(raw_name));
        let flow = simple(conn, 200, "reset\n", &[], is_head, keep);
        return Outcome::new(flow, 200);
    }
    let flow = simple(conn, 404, "not found\n", &[], is_head, keep);
    Outcome::new(flow, 404)
}

/// Which part of the content a response carries.
#[derive(Debug, PartialEq, Eq)]
enum RangeSel {
    /// No (usable) range: the full body.
    Full,
    /// Bytes `a..=b`.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// Parse a `Range` header against a representation of `size` bytes.
/// Anything other than one `bytes=a-`, `bytes=a-b` or `bytes=-n` range is
/// ignored (full response), as RFC 9110 allows.
fn parse_range(v: &str, size: u64) -> RangeSel {
    let v = v.trim();
    let Some(rest) = v
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))
        .map(|_| &v[6..])
    else {
        return RangeSel::Full;
    };
    if rest.contains(',') {
        return RangeSel::Full;
    }
    let Some((a, b)) = rest.trim().split_once('-') else {
        return RangeSel::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if a.is_empty() {
        let Some(n) = Some(b)
            .filter(|b| digits(b))
            .and_then(|b| b.parse::<u64>().ok())
        else {
            return RangeSel::Full;
        };
        if n == 0 || size == 0 {
            return RangeSel::Unsatisfiable;
        }
        return RangeSel::Part(size.saturating_sub(n), size - 1);
    }
    let Some(a) = Some(a)
        .filter(|a| digits(a))
        .and_then(|a| a.parse::<u64>().ok())
    else {
        return RangeSel::Full;
    };
    let b = if b.is_empty() {
        u64::MAX
    } else {
        match Some(b)
            .filter(|b| digits(b))
            .and_then(|b| b.parse::<u64>().ok())
        {
            Some(b) if b >= a => b,
            _ => return RangeSel::Full,
        }
    };
    if a >= size {
        return RangeSel::Unsatisfiable;
    }
    RangeSel::Part(a, b.min(size - 1))
}

/// RFC 9110 §13.1.5: may the range be honoured given `If-Range`?
fn if_range_ok(if_range: Option<&str>, etag: Option<&str>, last_modified: Option<&str>) -> bool {
    let Some(v) = if_range.map(str::trim) else {
        return true;
    };
    if v.starts_with("W/") {
        false
    } else if v.starts_with('"') {
        matches!(etag, Some(e) if !e.starts_with("W/") && e == v)
    } else {
        last_modified == Some(v)
    }
}

/// A body fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// Pause for the duration, then continue.
    Stall(Duration),
    /// Flush and close cleanly (short body).
    Close,
    /// Flush and abort with RST.
    Reset,
}

/// Serve `/f/<name>`.
#[allow(clippy::too_many_arguments)]
fn serve_file(
    conn: &mut Conn,
    req: &Request,
    raw_name: &str,
    name: &str,
    query: &str,
    is_head: bool,
    ctx: &Ctx,
    keep: bool,
) -> Outcome {
    let p = match Params::parse(query) {
        Ok(p) => p,
        Err(msg) => {
            let flow = simple(conn, 400, &format!("{msg}\n"), &[], is_head, keep);
            return Outcome::new(flow, 400);
        }
    };

    // Redirects (not counted).
    let location = if let Some(to) = &p.to {
        Some(to.clone())
    } else if p.redirect_loop {
        Some(req.target.clone())
    } else if let Some(n) = p.redirect.filter(|n| *n >= 1) {
        let q = p.next_hop_query(n);
        Some(if q.is_empty() {
            format!("/f/{raw_name}")
        } else {
            format!("/f/{raw_name}?{q}")
        })
    } else {
        None
    };
    if let Some(loc) = location {
        let extra = [("Location", loc), ("Content-Length", "0".to_string())];
        let mut h = Head::new(302);
        for (n, v) in extra {
            h.add(n, v);
        }
        let mut out = Out::new(conn);
        out.raw(&h.to_bytes(keep));
        let flow = match out.flush() {
            Ok(()) if keep => Flow::KeepAlive,
            _ => Flow::Close,
        };
        return Outcome::new(flow, 302);
    }

    let range_hdr = req.header("range");
    let (k, stats) = ctx.registry.count(
        name,
        range_hdr.unwrap_or(""),
        req.header("if-range").unwrap_or(""),
        &req.headers,
    );

    // Credentials required.
    if let Some(want) = &p.auth
        && req.header("authorization") != Some(want.as_str())
    {
        let challenge = if want.starts_with("Basic") {
            "Basic realm=\"origin\""
        } else {
            "Bearer realm=\"origin\""
        };
        let extra = [("WWW-Authenticate", challenge.to_string())];
        let flow = simple(conn, 401, "credentials required", &extra, is_head, keep);
        return Outcome::new(flow, 401);
    }

    // A header required.
    if let Some((name, value)) = &p.require
        && req.header(name) != Some(value.as_str())
    {
        let flow = simple(
            conn,
            403,
            "a required header is missing",
            &[],
            is_head,
            keep,
        );
        return Outcome::new(flow, 403);
    }

    // Injected status.
    if let Some(s) = p.status
        && p.fail.is_none_or(|f| k <= f)
        && p.status_from.is_none_or(|from| k >= from)
    {
        let mut extra: Vec<_> = p
            .retry_after
            .iter()
            .map(|r| ("Retry-After", r.clone()))
            .collect();
        if let Some(secs) = p.retry_after_date {
            let at = std::time::SystemTime::now() + Duration::from_secs(secs);
            extra.push(("Retry-After", httpdate::fmt_http_date(at)));
        }
        let flow = simple(conn, s, &format!("injected {s}"), &extra, is_head, keep);
        return Outcome::new(flow, s);
    }

    let version = if p.change_each {
        // Every request serves other content than the one before it.
        ((k - 1) % 2) as u8
    } else {
        u8::from(p.change_after.is_some_and(|c| k > c))
    };
    let size = p.size;
    let etag = p.etag.then(|| content::etag(version, size, p.weak));
    let last_modified = p.last_modified.then(|| content::last_modified(version));

    let mut h = Head::new(200);
    h.add("Content-Type", "application/octet-stream");
    if let Some(e) = &etag {
        h.add("ETag", e.clone());
    }
    if let Some(lm) = last_modified {
        h.add("Last-Modified", lm);
    }
    if let Some(name) = &p.disposition {
        h.add(
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        );
    }
    if p.echo_auth
        && let Some(a) = req.header("authorization")
    {
        h.add("X-Echo-Authorization", a.to_string());
    }
    if !p.norange {
        h.add("Accept-Ranges", "bytes");
    }

    let sel = match range_hdr {
        Some(r)
            if !p.norange
                && p.norange_at != Some(k)
                && if_range_ok(req.header("if-range"), etag.as_deref(), last_modified) =>
        {
            parse_range(r, size)
        }
        _ => RangeSel::Full,
    };
    let (start, end) = match sel {
        RangeSel::Unsatisfiable => {
            h.status = 416;
            h.add("Content-Range", format!("bytes */{size}"));
            h.add("Content-Length", "0");
            let mut out = Out::new(conn);
            out.raw(&h.to_bytes(keep));
            let flow = match out.flush() {
                Ok(()) if keep => Flow::KeepAlive,
                _ => Flow::Close,
            };
            return Outcome::new(flow, 416);
        }
        RangeSel::Full => (0, size),
        RangeSel::Part(a, b) => {
            h.status = 206;
            if p.badrange {
                let s = a + 1;
                h.add(
                    "Content-Range",
                    format!("bytes {s}-{}/{size}", size.saturating_sub(1)),
                );
                (s.min(size), size)
            } else {
                h.add("Content-Range", format!("bytes {a}-{b}/{size}"));
                (a, b + 1)
            }
        }
    };
    if p.chunked {
        h.add("Transfer-Encoding", "chunked");
    } else {
        h.add("Content-Length", (end - start).to_string());
    }

    let status = h.status;
    let mut out = Out::new(conn);
    out.raw(&h.to_bytes(keep));
    if is_head {
        let flow = match out.flush() {
            Ok(()) if keep => Flow::KeepAlive,
            _ => Flow::Close,
        };
        return Outcome::new(flow, status);
    }
    out.set_stats(stats, k);
    out.set_chunked(p.chunked);

    let mut faults: Vec<(u64, Fault)> = Vec::new();
    if k <= p.faults {
        if let Some(at) = p.stall_at {
            faults.push((at, Fault::Stall(Duration::from_millis(p.stall_ms))));
        }
        if let Some(at) = p.close_at {
            faults.push((at, Fault::Close));
        }
        if let Some(at) = p.reset_at {
            faults.push((at, Fault::Reset));
        }
    }
    faults.retain(|(at, _)| (start..end).contains(at));
    faults.sort();

    let (flow, note) = match stream_body(&mut out, version, start, end, &faults, p.rate) {
        Ok(Some(f)) => f,
        Ok(None) if keep => (Flow::KeepAlive, ""),
        Ok(None) => (Flow::Close, ""),
        Err(_) => (Flow::Close, "client gone"),
    };
    Outcome {
        flow,
        status,
        sent: out.body_sent,
        note,
    }
}

/// Stream content `start..end` of `version`, applying `faults` (sorted by
/// offset) and pacing to `rate` bytes/s. Returns `Some((flow, note))` when a
/// fault ended the response early, `None` when the body was complete.
fn stream_body(
    out: &mut Out<'_>,
    version: u8,
    start: u64,
    end: u64,
    faults: &[(u64, Fault)],
    rate: Option<u64>,
) -> io::Result<Option<(Flow, &'static str)>> {
    let piece = rate.map_or(CHUNK, |r| (r / 20).clamp(1, CHUNK as u64) as usize);
    let mut pace_start = Instant::now();
    let mut paced: u64 = 0;
    let mut events = faults.iter().peekable();
    let mut pos = start;
    loop {
        while let Some(&&(at, fault)) = events.peek() {
            if at != pos {
                break;
            }
            events.next();
            out.flush()?;
            match fault {
                Fault::Stall(d) => {
                    if !stall(out.conn, d) {
                        return Ok(Some((Flow::Close, "client gone during stall")));
                    }
                    pace_start = Instant::now();
                    paced = 0;
                }
                Fault::Close => return Ok(Some((Flow::Close, "close_at fault"))),
                Fault::Reset => return Ok(Some((Flow::Abort, "reset_at fault"))),
            }
        }
        if pos >= end {
            break;
        }
        let limit = events.peek().map_or(end, |e| e.0.min(end));
        let n = (limit - pos).min(piece as u64) as usize;
        out.body(content::slice(version, pos, n))?;
        pos += n as u64;
        if let Some(r) = rate {
            out.flush()?;
            paced += n as u64;
            let due = pace_start + Duration::from_secs_f64(paced as f64 / r as f64);
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
    }
    out.finish()?;
    Ok(None)
}

/// Sleep for `d`, checking every 50 ms whether the client went away.
/// Returns false if it did.
fn stall(conn: &Conn, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        let now = Instant::now();
        if now >= until {
            return true;
        }
        thread::sleep((until - now).min(Duration::from_millis(50)));
        if conn.peer_closed() {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeSel::*;
        assert_eq!(parse_range("bytes=0-", 10), Part(0, 9));
        assert_eq!(parse_range("bytes=2-4", 10), Part(2, 4));
        assert_eq!(parse_range("bytes=2-400", 10), Part(2, 9));
        assert_eq!(parse_range("bytes=-3", 10), Part(7, 9));
        assert_eq!(parse_range("bytes=-30", 10), Part(0, 9));
        assert_eq!(parse_range("bytes=10-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 10), Full);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), Full);
        assert_eq!(parse_range("items=0-1", 10), Full);
        assert_eq!(parse_range("bytes=x-", 10), Full);
        assert_eq!(parse_range("bytes=+1-", 10), Full);
        assert_eq!(parse_range("bytés", 10), Full);
    }

    #[test]
    fn if_range() {
        let lm = Some(content::LAST_MODIFIED_V0);
        assert!(if_range_ok(None, None, None));
        assert!(if_range_ok(Some("\"v0-5\""), Some("\"v0-5\""), lm));
        assert!(!if_range_ok(Some("\"v1-5\""), Some("\"v0-5\""), lm));
        assert!(!if_range_ok(Some("W/\"v0-5\""), Some("W/\"v0-5\""), lm));
        assert!(!if_range_ok(Some("\"v0-5\""), Some("W/\"v0-5\""), lm));
        assert!(if_range_ok(Some(content::LAST_MODIFIED_V0), None, lm));
        assert!(!if_range_ok(Some(content::LAST_MODIFIED_V1), None, lm));
        assert!(!if_range_ok(Some(content::LAST_MODIFIED_V0), None, None));
    }
}
