//! `bgcopy-test-origin`: a deterministic, fault-injecting HTTP/1.1 origin
//! (plain and TLS) that bgcopy's tests in every language start as a child
//! process. See `README.md` next to this crate for the URL protocol.
//!
//! Start-up: binds two ephemeral ports (HTTP and HTTPS), writes a fresh
//! self-signed certificate, prints one JSON line
//! `{"http":PORT,"https":PORT,"cert":"/abs/cert.pem"}` to stdout, and serves
//! until stdin reaches EOF (unless `--forever`).

mod conn;
mod content;
mod handler;
mod http;
mod params;
mod state;
mod tls;

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use conn::Conn;
use handler::{Ctx, serve_connection};

/// Command-line options.
struct Args {
    bind: IpAddr,
    forever: bool,
    verbose: bool,
}

const USAGE: &str = "usage: bgcopy-test-origin [--bind ADDR] [--forever] [-v]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        forever: false,
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let bind_value = if a == "--bind" {
            Some(it.next().ok_or("--bind needs an address")?)
        } else {
            a.strip_prefix("--bind=").map(str::to_string)
        };
        if let Some(v) = bind_value {
            args.bind = v.parse().map_err(|_| format!("bad --bind address {v:?}"))?;
            continue;
        }
        match a.as_str() {
            "--forever" => args.forever = true,
            "-v" | "--verbose" => args.verbose = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                process::exit(0);
            }
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    Ok(args)
}

fn fail(msg: &str) -> ! {
    eprintln!("bgcopy-test-origin: {msg}");
    process::exit(2);
}

/// A fresh temporary directory for this run's certificate.
fn make_temp_dir() -> io::Result<PathBuf> {
    let base = std::env::temp_dir();
    let base = base.canonicalize().unwrap_or(base);
    let dir = base.join(format!("bgcopy-origin-{}", process::id()));
    if dir.exists() {
        // Left over from an earlier process with the same pid.
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Accept connections forever, one thread each.
fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>, tls: Option<Arc<rustls::ServerConfig>>) -> ! {
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

fn main() {
    let args = parse_args().unwrap_or_else(|e| fail(&format!("{e}\n{USAGE}")));
    let dir = make_temp_dir().unwrap_or_else(|e| fail(&format!("temp dir: {e}")));
    let tls = tls::setup(&dir, Some(args.bind)).unwrap_or_else(|e| fail(&e));
    let http = TcpListener::bind((args.bind, 0)).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let https = TcpListener::bind((args.bind, 0)).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let port = |l: &TcpListener| {
        l.local_addr()
            .unwrap_or_else(|e| fail(&format!("local_addr: {e}")))
            .port()
    };
    let (http_port, https_port) = (port(&http), port(&https));

    let ctx = Arc::new(Ctx {
        verbose: args.verbose,
        ..Ctx::default()
    });
    {
        let ctx = ctx.clone();
        thread::spawn(move || accept_loop(http, ctx, None));
    }
    {
        let ctx = ctx.clone();
        let cfg = tls.config.clone();
        thread::spawn(move || accept_loop(https, ctx, Some(cfg)));
    }

    let line = format!(
        "{{\"http\":{http_port},\"https\":{https_port},\"cert\":{}}}",
        state::json_string(&tls.cert_path.to_string_lossy())
    );
    {
        let mut out = io::stdout().lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            let _ = std::fs::remove_dir_all(&dir);
            process::exit(1);
        }
    }
    if args.verbose {
        eprintln!("[origin] listening: {line}");
    }

    if args.forever {
        loop {
            thread::park();
        }
    }
    // Exit when stdin reaches EOF or fails: the parent test is gone.
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 1024];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    process::exit(0);
}
