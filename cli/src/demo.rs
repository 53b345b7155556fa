//! `bgcopy demo`: serve a generated file from a thread on a loopback port (a tiny
//! HTTP/1.1 server: GET/HEAD, Content-Length, a strong ETag, single byte ranges with
//! If-Range) and download it with `get` semantics.

use crate::args::{DemoArgs, JobOptions};
use crate::fail::Failure;
use crate::get::download;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// The name of the served file.
const NAME: &str = "demo.bin";

/// Byte `i` of the generated file.
pub fn demo_byte(i: u64) -> u8 {
    ((i % 251) as u8) ^ ((i >> 16) as u8)
}

/// The file's strong ETag.
fn etag(size: u64) -> String {
    format!("\"bgcopy-demo-{size}\"")
}

/// Serve the generated file of `size` bytes on `127.0.0.1:<ephemeral>`, optionally
/// paced to `rate` bytes/s, from background threads. Returns the URL.
pub fn serve(size: u64, rate: Option<u64>) -> std::io::Result<String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = listener.local_addr()?.port();
    std::thread::Builder::new()
        .name("bgcopy-demo-server".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = std::thread::Builder::new()
                    .name("bgcopy-demo-conn".into())
                    .spawn(move || {
                        let _ = handle(conn, size, rate);
                    });
            }
        })?;
    Ok(format!("http://127.0.0.1:{port}/{NAME}"))
}

/// One request per connection (`Connection: close`).
fn handle(conn: TcpStream, size: u64, rate: Option<u64>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.by_ref().take(8192).read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut range = None;
    let mut if_range = None;
    for _ in 0..100 {
        let mut h = String::new();
        if reader.by_ref().take(8192).read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let v = v.trim().to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "range" => range = Some(v),
                "if-range" => if_range = Some(v),
                _ => {}
            }
        }
    }
    let mut out = conn;
    let path = target.split('?').next().unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return simple(&mut out, "405 Method Not Allowed", "Allow: GET, HEAD\r\n");
    }
    if path != format!("/{NAME}") {
        return simple(&mut out, "404 Not Found", "");
    }
    let tag = etag(size);
    let range = range.filter(|_| if_range.as_deref().is_none_or(|v| v == tag));
    let (status, start, end, extra) = match range.as_deref().map(|r| parse_range(r, size)) {
        Some(Some(Ok((a, b)))) => (
            "206 Partial Content",
            a,
            b,
            format!("Content-Range: bytes {a}-{}/{size}\r\n", b - 1),
        ),
        Some(Some(Err(()))) => {
            return simple(
                &mut out,
                "416 Range Not Satisfiable",
                &format!("Content-Range: bytes */{size}\r\n"),
            );
        }
        _ => ("200 OK", 0, size, String::new()),
    };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nETag: {tag}\r\nAccept-Ranges: bytes\r\n{extra}\
         Connection: close\r\n\r\n",
        end - start
    )?;
    if method == "HEAD" {
        return out.flush();
    }
    let began = Instant::now();
    let chunk = rate.map_or(64 << 10, |r| (r / 20).clamp(1, 64 << 10)) as usize;
    let mut buf = vec![0u8; chunk];
    let mut pos = start;
    while pos < end {
        let n = chunk.min((end - pos) as usize);
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = demo_byte(pos + k as u64);
        }
        out.write_all(&buf[..n])?;
        pos += n as u64;
        if let Some(r) = rate {
            let due = Duration::from_secs_f64((pos - start) as f64 / r as f64);
            if let Some(wait) = due.checked_sub(began.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    out.flush()
}

fn simple(out: &mut TcpStream, status: &str, extra: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    out.flush()
}

/// A single `bytes=` range as a half-open `[a, b)`: `None` to ignore it (serve all),
/// `Err` when unsatisfiable.
fn parse_range(r: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = r.strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return Some(Err(()));
        }
        return Some(Ok((size - n.min(size), size)));
    }
    let a: u64 = a.parse().ok()?;
    let b: Option<u64> = if b.is_empty() {
        None
    } else {
        Some(b.parse().ok()?)
    };
    if b.is_some_and(|b| b < a) {
        return None;
    }
    if a >= size {
        return Some(Err(()));
    }
    Some(Ok((a, b.map_or(size, |b| (b + 1).min(size)))))
}

/// A fresh directory under the system temp dir.
fn temp_dir(kind: &str) -> std::io::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!(
        "bgcopy-demo-{kind}-{}-{nanos:08x}",
        std::process::id()
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// Compare the downloaded file with the generated content, byte by byte.
fn content_matches(path: &std::path::Path) -> std::io::Result<bool> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n]
            .iter()
            .enumerate()
            .any(|(k, &b)| b != demo_byte(pos + k as u64))
        {
            return Ok(false);
        }
        pos += n as u64;
    }
}

/// `bgcopy demo`. Uses the chosen state directory, or else a temporary one that is
/// removed afterwards (so the demo works even while a `bgcopy run` holds the default).
pub fn run(state_dir: Option<PathBuf>, args: &DemoArgs) -> Result<i32, Failure> {
    let dir = match &args.dir {
        Some(d) => {
            let d = crate::names::absolute(d).map_err(|e| Failure::io("resolve -d DIR", &e))?;
            std::fs::create_dir_all(&d)
                .map_err(|e| Failure::io(&format!("create {}", d.display()), &e))?;
            d
        }
        None => temp_dir("out").map_err(|e| Failure::io("create a temporary directory", &e))?,
    };
    let (state, temp_state) = match state_dir {
        Some(s) => (s, None),
        None => {
            let s =
                temp_dir("state").map_err(|e| Failure::io("create a temporary directory", &e))?;
            (s.clone(), Some(s))
        }
    };
    let url = serve(args.size, args.rate).map_err(|e| Failure::io("start the demo server", &e))?;
    println!("demo: serving a generated {}-byte file at {url}", args.size);
    let local = dir.join(NAME);
    let result = (|| {
        let manager = crate::commands::open(Some(state.clone()), true)?;
        crate::interrupt::install();
        let files = [(url.clone(), local.clone())];
        download(
            &manager,
            "bgcopy demo",
            &files,
            &[None],
            &JobOptions::default(),
            crate::get::Output {
                quiet: args.no_progress,
                json: false,
            },
        )
    })();
    if let Some(s) = &temp_state {
        let _ = std::fs::remove_dir_all(s);
    }
    let code = result?;
    if code != 0 {
        return Ok(code);
    }
    let len = std::fs::metadata(&local)
        .map_err(|e| Failure::io(&format!("inspect {}", local.display()), &e))?
        .len();
    println!("demo: saved to {}", local.display());
    let size_ok = len == args.size;
    println!(
        "demo: size check: {len} bytes on disk, {} served: {}",
        args.size,
        if size_ok { "OK" } else { "MISMATCH" }
    );
    let content_ok = content_matches(&local)
        .map_err(|e| Failure::io(&format!("read {}", local.display()), &e))?;
    println!(
        "demo: content check: {}",
        if content_ok {
            "every byte matches the generator: OK"
        } else {
            "MISMATCH"
        }
    );
    Ok(if size_ok && content_ok { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-", 10), Some(Ok((0, 10))));
        assert_eq!(parse_range("bytes=2-4", 10), Some(Ok((2, 5))));
        assert_eq!(parse_range("bytes=5-100", 10), Some(Ok((5, 10))));
        assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 10))));
        assert_eq!(parse_range("bytes=10-", 10), Some(Err(())));
        assert_eq!(parse_range("bytes=4-2", 10), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
    }

    #[test]
    fn serves_ranges() {
        let url = serve(100_000, None).unwrap();
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let get = |extra: &str| {
            let mut s = TcpStream::connect(&addr).unwrap();
            write!(s, "GET /{NAME} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").unwrap();
            let mut v = Vec::new();
            s.read_to_end(&mut v).unwrap();
            let at = v.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            (
                String::from_utf8_lossy(&v[..at]).into_owned(),
                v[at + 4..].to_vec(),
            )
        };
        let (head, body) = get("");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body.len(), 100_000);
        assert!(
            body.iter()
                .enumerate()
                .all(|(i, &b)| b == demo_byte(i as u64))
        );
        let (head, body) = get("Range: bytes=99990-\r\nIf-Range: \"bgcopy-demo-100000\"\r\n");
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert!(
            head.contains("Content-Range: bytes 99990-99999/100000"),
            "{head}"
        );
        assert_eq!(body, (99_990..100_000).map(demo_byte).collect::<Vec<_>>());
        let (head, _) = get("Range: bytes=5-\r\nIf-Range: \"other\"\r\n");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
}
