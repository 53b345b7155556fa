//! Integration tests: start the built origin as a child process and talk to
//! it with a tiny raw HTTP/1.1 client (plain TCP and rustls).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// The content formula every runner relies on.
fn byte_at(i: u64, v: u8) -> u8 {
    (((i % 251) + 7 * u64::from(v)) % 256) as u8
}

fn expected(start: u64, end: u64, v: u8) -> Vec<u8> {
    (start..end).map(|i| byte_at(i, v)).collect()
}

/// A running origin child process.
struct Origin {
    child: Child,
    http: u16,
    https: u16,
    cert: PathBuf,
}

impl Origin {
    fn start() -> Origin {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bgcopy-test-origin"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn origin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read start-up line");
        let v: serde_json::Value = serde_json::from_str(line.trim()).expect("start-up JSON");
        let port = |k: &str| v[k].as_u64().expect("port") as u16;
        let cert = PathBuf::from(v["cert"].as_str().expect("cert"));
        assert!(cert.is_absolute());
        Origin {
            http: port("http"),
            https: port("https"),
            cert,
            child,
        }
    }

    fn client(&self) -> Client<TcpStream> {
        Client::new(tcp(self.http))
    }

    fn tls_client(
        &self,
        server_name: &str,
    ) -> Client<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.cert).expect("open cert.pem") {
            roots.add(c.expect("parse cert")).expect("add root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(server_name.to_string()).unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
        Client::new(rustls::StreamOwned::new(conn, tcp(self.https)))
    }

    /// One GET on a fresh plain connection.
    fn get(&self, target: &str, headers: &[(&str, &str)]) -> Resp {
        self.client().request("GET", target, headers)
    }

    fn stats(&self, name: &str) -> serde_json::Value {
        let r = self.get(&format!("/stats/{name}"), &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        serde_json::from_slice(&r.body).expect("stats JSON")
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        // Closing stdin is the normal way to stop the origin (it then removes
        // its temp dir); kill only as a fallback.
        drop(self.child.stdin.take());
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// A parsed response. `complete` is false when the body ended early (EOF or
/// error before Content-Length / the last chunk); `error` holds the error.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    complete: bool,
    error: Option<io::ErrorKind>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client over any stream, supporting keep-alive.
struct Client<S: Read + Write> {
    s: S,
    buf: Vec<u8>,
    eof: bool,
}

impl<S: Read + Write> Client<S> {
    fn new(s: S) -> Self {
        Client {
            s,
            buf: Vec::new(),
            eof: false,
        }
    }

    fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.s.write_all(req.as_bytes()).unwrap();
        self.s.flush().unwrap();
    }

    fn request(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(method, target, headers);
        self.read_response(method == "HEAD")
    }

    /// Read more bytes into `buf`; Ok(0) at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        let mut tmp = vec![0u8; 256 * 1024];
        let n = self.s.read(&mut tmp)?;
        if n == 0 {
            self.eof = true;
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Take exactly `n` bytes; on early end returns what there was and the
    /// error kind (UnexpectedEof for a clean EOF).
    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> Result<(), io::ErrorKind> {
        while self.buf.len() < n {
            match self.fill() {
                Ok(0) => {
                    out.append(&mut self.buf);
                    return Err(io::ErrorKind::UnexpectedEof);
                }
                Ok(_) => {}
                Err(e) => {
                    out.append(&mut self.buf);
                    return Err(e.kind());
                }
            }
        }
        out.extend(self.buf.drain(..n));
        Ok(())
    }

    fn line(&mut self) -> Result<String, io::ErrorKind> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = String::from_utf8(self.buf[..p].to_vec()).unwrap();
                self.buf.drain(..p + 2);
                return Ok(l);
            }
            match self.fill() {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof),
                Ok(_) => {}
                Err(e) => return Err(e.kind()),
            }
        }
    }

    fn read_response(&mut self, head_only: bool) -> Resp {
        let status_line = self.line().expect("status line");
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
        let status: u16 = parts.next().unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let l = self.line().expect("header line");
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').expect("header colon");
            headers.push((n.to_string(), v.trim().to_string()));
        }
        let mut r = Resp {
            status,
            headers,
            body: Vec::new(),
            complete: true,
            error: None,
        };
        if head_only || status == 204 || status == 304 {
            return r;
        }
        let mut body = Vec::new();
        let res = if r
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            self.chunked(&mut body)
        } else if let Some(cl) = r.header("content-length") {
            let n: usize = cl.parse().unwrap();
            self.take(n, &mut body)
        } else {
            loop {
                match self.fill() {
                    Ok(0) => break Ok(()),
                    Ok(_) => {}
                    Err(e) => break Err(e.kind()),
                }
            }
            .inspect(|_| body.append(&mut self.buf))
        };
        if let Err(e) = res {
            r.complete = false;
            r.error = Some(e);
        }
        r.body = body;
        r
    }

    fn chunked(&mut self, body: &mut Vec<u8>) -> Result<(), io::ErrorKind> {
        loop {
            let size_line = self.line()?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
                .expect("chunk size");
            if size == 0 {
                // Trailer section.
                while !self.line()?.is_empty() {}
                return Ok(());
            }
            self.take(size, body)?;
            let mut crlf = Vec::new();
            self.take(2, &mut crlf)?;
            assert_eq!(crlf, b"\r\n");
        }
    }

    /// True if the server closed the connection (EOF or error on read).
    fn closed(&mut self) -> bool {
        self.buf.is_empty() && !matches!(self.fill(), Ok(n) if n > 0)
    }
}

#[test]
fn full_get_matches_formula() {
    let o = Origin::start();
    let r = o.get("/f/full?size=100000", &[]);
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.body, expected(0, 100_000, 0));
    assert_eq!(r.header("content-length"), Some("100000"));
    assert_eq!(r.header("etag"), Some("\"v0-100000\""));
    assert_eq!(
        r.header("last-modified"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT")
    );
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("connection"), Some("keep-alive"));

    // Defaults: 1024 bytes.
    let r = o.get("/f/default", &[]);
    assert_eq!(r.body, expected(0, 1024, 0));

    // Validator switches.
    let r = o.get("/f/v?size=5&etag=0&lm=0&norange=1", &[]);
    assert_eq!(r.header("etag"), None);
    assert_eq!(r.header("last-modified"), None);
    assert_eq!(r.header("accept-ranges"), None);
    let r = o.get("/f/w?size=5&weak=1", &[]);
    assert_eq!(r.header("etag"), Some("W/\"v0-5\""));

    // Empty body.
    let r = o.get("/f/empty?size=0", &[]);
    assert_eq!((r.status, r.body.len()), (200, 0));
}

#[test]
fn head_has_headers_only() {
    let o = Origin::start();
    let mut c = o.client();
    let r = c.request("HEAD", "/f/h?size=5000", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5000"));
    // Same connection still usable (no body was sent).
    let r = c.request("GET", "/f/h?size=10", &[]);
    assert_eq!(r.body, expected(0, 10, 0));
    assert_eq!(o.stats("h")["bytes_sent"], 10);
}

#[test]
fn ranges() {
    let o = Origin::start();
    let r = o.get("/f/r?size=10000", &[("Range", "bytes=500-999")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 500-999/10000"));
    assert_eq!(r.header("content-length"), Some("500"));
    assert_eq!(r.body, expected(500, 1000, 0));

    let r = o.get("/f/r?size=10000", &[("Range", "bytes=9000-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 9000-9999/10000"));
    assert_eq!(r.body, expected(9000, 10000, 0));

    let r = o.get("/f/r?size=10000", &[("Range", "bytes=9990-20000")]);
    assert_eq!(r.header("content-range"), Some("bytes 9990-9999/10000"));
    assert_eq!(r.body, expected(9990, 10000, 0));

    let r = o.get("/f/r?size=10000", &[("Range", "bytes=-10")]);
    assert_eq!(r.header("content-range"), Some("bytes 9990-9999/10000"));

    let r = o.get("/f/r?size=10000", &[("Range", "bytes=10000-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10000"));

    // Multiple ranges are ignored -> full body.
    let r = o.get("/f/r?size=100", &[("Range", "bytes=0-1,5-6")]);
    assert_eq!((r.status, r.body.len()), (200, 100));

    // norange ignores Range entirely.
    let r = o.get("/f/nr?size=100&norange=1", &[("Range", "bytes=50-")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, expected(0, 100, 0));
    assert_eq!(r.header("accept-ranges"), None);

    // badrange: Content-Range (and body) start one byte late.
    let r = o.get("/f/br?size=100&badrange=1", &[("Range", "bytes=40-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 41-99/100"));
    assert_eq!(r.body, expected(41, 100, 0));

    let s = o.stats("r");
    assert_eq!(s["requests"], 6);
    assert_eq!(s["ranges"][0], "bytes=500-999");
    assert_eq!(s["ranges"][1], "bytes=9000-");
}

#[test]
fn if_range() {
    let o = Origin::start();
    let t = "/f/ir?size=1000";
    let range = ("Range", "bytes=100-");
    let r = o.get(t, &[range, ("If-Range", "\"v0-1000\"")]);
    assert_eq!(r.status, 206);
    let r = o.get(t, &[range, ("If-Range", "\"v1-1000\"")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, expected(0, 1000, 0));
    let r = o.get(t, &[range, ("If-Range", "Sun, 06 Nov 1994 08:49:37 GMT")]);
    assert_eq!(r.status, 206);
    let r = o.get(t, &[range, ("If-Range", "Mon, 07 Nov 1994 08:49:37 GMT")]);
    assert_eq!(r.status, 200);
    // Weak validators never match.
    let r = o.get(
        "/f/ir?size=1000&weak=1",
        &[range, ("If-Range", "W/\"v0-1000\"")],
    );
    assert_eq!(r.status, 200);
    // Without an ETag, an entity-tag If-Range cannot match.
    let r = o.get(
        "/f/ir?size=1000&etag=0",
        &[range, ("If-Range", "\"v0-1000\"")],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn injected_status_then_success() {
    let o = Origin::start();
    let t = "/f/st?size=300&status=503&fail=2&retry_after=7";
    for _ in 0..2 {
        let r = o.get(t, &[]);
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("7"));
        assert_eq!(r.body, b"injected 503");
    }
    let r = o.get(t, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(r.body, expected(0, 300, 0));

    // Without fail=K every request fails.
    for _ in 0..3 {
        assert_eq!(o.get("/f/st2?status=404", &[]).status, 404);
    }
    assert_eq!(o.stats("st2")["requests"], 3);
}

#[test]
fn change_after() {
    let o = Origin::start();
    let t = "/f/ch?size=1000&change_after=1";
    let r1 = o.get(t, &[]);
    assert_eq!(r1.header("etag"), Some("\"v0-1000\""));
    assert_eq!(r1.body, expected(0, 1000, 0));
    let r2 = o.get(t, &[("Range", "bytes=500-"), ("If-Range", "\"v0-1000\"")]);
    assert_eq!(
        r2.status, 200,
        "changed content must not honour the old If-Range"
    );
    assert_eq!(r2.header("etag"), Some("\"v1-1000\""));
    assert_eq!(
        r2.header("last-modified"),
        Some("Mon, 07 Nov 1994 08:49:37 GMT")
    );
    assert_eq!(r2.body, expected(0, 1000, 1));
    assert_ne!(r1.body, r2.body);
}

#[test]
fn reset_at_aborts() {
    let o = Origin::start();
    let t = "/f/rs?size=1000000&reset_at=300000";
    let mut c = o.client();
    let r = c.request("GET", t, &[]);
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    assert!(r.body.len() <= 300_000, "{}", r.body.len());
    assert_eq!(r.body, expected(0, r.body.len() as u64, 0));
    assert!(c.closed());
    // faults defaults to 1: the retry is clean, also the range resume.
    let r = o.get(t, &[("Range", "bytes=1000-")]);
    assert_eq!(r.status, 206);
    assert!(r.complete);
    assert_eq!(r.body, expected(1000, 1_000_000, 0));
}

#[test]
fn reset_at_only_when_covered_and_faults_count() {
    let o = Origin::start();
    // A range that starts after the fault offset does not trigger it.
    let t = "/f/cov?size=1000&reset_at=100&faults=3";
    let r = o.get(t, &[("Range", "bytes=200-")]);
    assert!(r.complete);
    assert_eq!(r.body, expected(200, 1000, 0));
    // Requests 2 and 3 are faulted, 4 is clean.
    assert!(!o.get(t, &[]).complete);
    assert!(!o.get(t, &[]).complete);
    assert!(o.get(t, &[]).complete);
}

#[test]
fn close_at_short_body() {
    let o = Origin::start();
    let mut c = o.client();
    let r = c.request("GET", "/f/cl?size=100000&close_at=5000", &[]);
    assert_eq!(r.header("content-length"), Some("100000"));
    assert!(!r.complete);
    assert_eq!(r.error, Some(io::ErrorKind::UnexpectedEof));
    assert_eq!(r.body, expected(0, 5000, 0));
    assert!(c.closed());
    assert_eq!(o.stats("cl")["bytes_sent"], 5000);

    // Chunked: the terminating chunk never comes.
    let r = o.get("/f/clc?size=100000&close_at=70000&chunked=1", &[]);
    assert_eq!(r.header("content-length"), None);
    assert!(!r.complete);
    assert_eq!(r.body, expected(0, 70000, 0));
}

#[test]
fn chunked_body() {
    let o = Origin::start();
    let r = o.get("/f/ck?size=200000&chunked=1", &[]);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert!(r.complete);
    assert_eq!(r.body, expected(0, 200_000, 0));
    let r = o.get("/f/ck?size=200000&chunked=1", &[("Range", "bytes=100-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body, expected(100, 200_000, 0));
}

#[test]
fn stall_and_rate() {
    let o = Origin::start();
    let t0 = Instant::now();
    let r = o.get("/f/sl?size=3000&stall_at=1000&stall_ms=400", &[]);
    assert!(r.complete);
    assert_eq!(r.body, expected(0, 3000, 0));
    assert!(t0.elapsed() >= Duration::from_millis(400));

    let t0 = Instant::now();
    let r = o.get("/f/rate?size=10000&rate=20000", &[]);
    assert_eq!(r.body, expected(0, 10000, 0));
    let el = t0.elapsed();
    assert!(el >= Duration::from_millis(400), "{el:?}");
    assert!(el < Duration::from_secs(5), "{el:?}");

    // A client that gives up during a long stall does not hurt the server.
    let mut c = o.client();
    c.send("GET", "/f/sl2?size=3000&stall_at=10", &[]);
    let mut b = [0u8; 64];
    let _ = c.s.read(&mut b).unwrap();
    drop(c);
    assert_eq!(o.get("/f/after?size=5", &[]).status, 200);
}

#[test]
fn redirects() {
    let o = Origin::start();
    let mut c = o.client();
    let r = c.request("GET", "/f/rd?size=10&redirect=2&x=1", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(r.header("location"), Some("/f/rd?size=10&redirect=1&x=1"));
    let r = c.request("GET", "/f/rd?size=10&redirect=1&x=1", &[]);
    assert_eq!(r.header("location"), Some("/f/rd?size=10&x=1"));
    let r = c.request("GET", "/f/rd?size=10&x=1", &[]);
    assert_eq!((r.status, r.body.len()), (200, 10));
    // Redirect hops are not counted.
    assert_eq!(o.stats("rd")["requests"], 1);

    let r = c.request("GET", "/f/lp?loop=1&size=3", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/f/lp?loop=1&size=3"));

    let r = c.request(
        "GET",
        "/f/to?to=http%3A%2F%2Flocalhost%3A1%2Fx%3Fa%3Db",
        &[],
    );
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("http://localhost:1/x?a=b"));
    assert_eq!(o.stats("lp")["requests"], 0);
}

#[test]
fn stats_and_reset() {
    let o = Origin::start();
    o.get("/f/s?size=100", &[]);
    o.get(
        "/f/s?size=100",
        &[("Range", "bytes=50-"), ("If-Range", "\"v0-100\"")],
    );
    std::thread::sleep(std::time::Duration::from_millis(50));
    o.get("/f/s?size=100&status=500", &[]);
    let s = o.stats("s");
    assert_eq!(s["requests"], 3);
    assert_eq!(s["bytes_sent"], 150);
    assert_eq!(s["ranges"], serde_json::json!(["", "bytes=50-", ""]));
    assert_eq!(s["range_starts"], serde_json::json!([null, 50, null]));
    assert_eq!(s["if_ranges"], serde_json::json!(["", "\"v0-100\"", ""]));
    let at = s["at_ms"].as_array().unwrap();
    assert!(
        at[2].as_u64().unwrap() >= at[1].as_u64().unwrap() + 50,
        "{s}"
    );
    // Every counted request's headers, names lower-cased.
    let hs = s["headers"].as_array().unwrap();
    assert_eq!(hs.len(), 3, "{s}");
    assert!(
        hs[1]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "range: bytes=50-"),
        "{s}"
    );
    let r = o.get("/reset/s", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        o.stats("s"),
        serde_json::json!({"requests": 0, "bytes_sent": 0, "ranges": [], "range_starts": [], "if_ranges": [], "at_ms": [], "headers": [], "sent": []})
    );
    // Counting restarts at 1.
    let r = o.get("/f/s?status=503&fail=1", &[]);
    assert_eq!(r.status, 503);
}

#[test]
fn content_that_changes_on_every_request_and_dated_retry_after() {
    let o = Origin::start();
    let a = o.get("/f/ce?size=300&change_each=1", &[]);
    let b = o.get("/f/ce?size=300&change_each=1", &[]);
    let c = o.get("/f/ce?size=300&change_each=1", &[]);
    assert_eq!(a.body, expected(0, 300, 0));
    assert_eq!(b.body, expected(0, 300, 1));
    assert_eq!(c.body, expected(0, 300, 0));
    assert_ne!(a.header("etag"), b.header("etag"));
    let r = o.get("/f/rad?status=503&retry_after_date=30", &[]);
    let date = r.header("retry-after").unwrap().to_string();
    assert!(date.ends_with(" GMT"), "{date}");
}

#[test]
fn a_late_port_refuses_then_serves() {
    let o = Origin::start();
    let r = o.get("/late?ms=700", &[]);
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let port = v["port"].as_u64().unwrap() as u16;
    let e = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    std::thread::sleep(std::time::Duration::from_millis(900));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "GET /f/late?size=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(
        o.stats("late")["requests"],
        1,
        "the late port shares the counters"
    );
}

#[test]
fn keep_alive_and_pipelining() {
    let o = Origin::start();
    let mut c = o.client();
    let r1 = c.request("GET", "/f/ka?size=70000", &[]);
    let r2 = c.request("GET", "/f/ka?size=70000", &[("Range", "bytes=69000-")]);
    assert_eq!(r1.body, expected(0, 70000, 0));
    assert_eq!(r2.body, expected(69000, 70000, 0));
    // Pipelined: two requests written before reading.
    c.send("GET", "/f/ka?size=3", &[]);
    c.send("HEAD", "/f/ka?size=4", &[]);
    assert_eq!(c.read_response(false).body, expected(0, 3, 0));
    assert_eq!(c.read_response(true).header("content-length"), Some("4"));
    // Connection: close is honoured.
    let r = c.request("GET", "/f/ka?size=5", &[("Connection", "close")]);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.body.len(), 5);
    assert!(c.closed());
}

#[test]
fn errors_do_not_kill_the_server() {
    let o = Origin::start();
    let mut c = o.client();
    assert_eq!(c.request("POST", "/f/x", &[]).status, 405);
    assert_eq!(c.request("GET", "/nope", &[]).status, 404);
    assert_eq!(c.request("GET", "/f/", &[]).status, 404);
    assert_eq!(c.request("GET", "/f/x?size=abc", &[]).status, 400);
    assert_eq!(c.request("GET", "/f/x?status=7", &[]).status, 400);
    // Garbage request line -> 400 and close.
    let mut s = tcp(o.http);
    s.write_all(b"\x01\x02garbage\r\n\r\n").unwrap();
    let mut c2 = Client::new(s);
    assert_eq!(c2.read_response(false).status, 400);
    assert!(c2.closed());
    // A client vanishing mid-body.
    let mut s = tcp(o.http);
    s.write_all(b"GET /f/big?size=50000000 HTTP/1.1\r\n\r\n")
        .unwrap();
    let mut b = [0u8; 1000];
    s.read_exact(&mut b).unwrap();
    drop(s);
    assert_eq!(c.request("GET", "/f/x?size=2", &[]).status, 200);
}

#[test]
fn https_get() {
    let o = Origin::start();
    for name in ["localhost", "127.0.0.1"] {
        let mut c = o.tls_client(name);
        let r = c.request("GET", "/f/tls?size=300000", &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, expected(0, 300_000, 0));
        let r = c.request("GET", "/f/tls?size=300000", &[("Range", "bytes=299990-")]);
        assert_eq!(r.body, expected(299_990, 300_000, 0));
    }
    // The counter is shared across ports.
    o.get("/f/tls?size=1", &[]);
    assert_eq!(o.stats("tls")["requests"], 5);

    // Faults on TLS.
    let mut c = o.tls_client("localhost");
    let r = c.request("GET", "/f/tlsr?size=200000&reset_at=100000", &[]);
    assert!(!r.complete);
    assert!(r.body.len() <= 100_000);
    let mut c = o.tls_client("localhost");
    let r = c.request("GET", "/f/tlsc?size=200000&close_at=100000", &[]);
    assert!(!r.complete);
    assert_eq!(r.body, expected(0, 100_000, 0));
}

#[test]
fn large_body_is_fast() {
    let o = Origin::start();
    let size: u64 = 100 * 1024 * 1024;
    let mut c = o.client();
    c.send("GET", &format!("/f/big?size={size}"), &[]);
    // Read the head, then stream-count the body without keeping it.
    let t0 = Instant::now();
    let head = c.line().unwrap();
    assert!(head.starts_with("HTTP/1.1 200"));
    while !c.line().unwrap().is_empty() {}
    let mut got = c.buf.len() as u64;
    let mut check = c.buf.clone();
    let mut tmp = vec![0u8; 1 << 20];
    while got < size {
        let n = c.s.read(&mut tmp).unwrap();
        assert!(n > 0);
        if check.len() < 1_000_000 {
            check.extend_from_slice(&tmp[..n]);
        }
        got += n as u64;
    }
    let el = t0.elapsed();
    assert_eq!(got, size);
    check.truncate(1_000_000.min(check.len()));
    assert_eq!(check, expected(0, check.len() as u64, 0));
    eprintln!(
        "100 MiB in {el:?} ({:.0} MB/s)",
        size as f64 / el.as_secs_f64() / 1e6
    );
    assert!(el < Duration::from_secs(30));
}

#[test]
fn exits_when_stdin_closes() {
    let mut o = Origin::start();
    let dir = o.cert.parent().unwrap().to_path_buf();
    assert!(o.cert.exists());
    drop(o.child.stdin.take());
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = o.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "origin did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    assert!(!dir.exists(), "temp dir not removed");
}
