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
mod late;
mod params;
mod proxies;
mod state;
mod tls;

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process;
use std::sync::Arc;
use std::thread;

use handler::{Ctx, accept_loop};

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

fn main() {
    let args = parse_args().unwrap_or_else(|e| fail(&format!("{e}\n{USAGE}")));
    let dir = make_temp_dir().unwrap_or_else(|e| fail(&format!("temp dir: {e}")));
    let tls = tls::setup(&dir, Some(args.bind)).unwrap_or_else(|e| fail(&e));
    let http = TcpListener::bind((args.bind, 0)).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let https = TcpListener::bind((args.bind, 0)).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let mtls = TcpListener::bind((args.bind, 0)).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let port = |l: &TcpListener| {
        l.local_addr()
            .unwrap_or_else(|e| fail(&format!("local_addr: {e}")))
            .port()
    };
    let (http_port, https_port, mtls_port) = (port(&http), port(&https), port(&mtls));

    let ctx = Arc::new(Ctx {
        verbose: args.verbose,
        late_bind: match args.bind {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        },
        ..Ctx::default()
    });
    let _ = ctx.me.set(Arc::downgrade(&ctx));
    let _ = ctx.proxies.dir.set(dir.clone());
    {
        let ctx = ctx.clone();
        thread::spawn(move || accept_loop(http, ctx, None));
    }
    {
        let ctx = ctx.clone();
        let cfg = tls.config.clone();
        thread::spawn(move || accept_loop(https, ctx, Some(cfg)));
    }
    {
        let ctx = ctx.clone();
        let cfg = tls.mtls_config.clone();
        thread::spawn(move || accept_loop(mtls, ctx, Some(cfg)));
    }

    let line = format!(
        "{{\"http\":{http_port},\"https\":{https_port},\"cert\":{},\"mtls\":{mtls_port},\
         \"client_cert\":{},\"client_key\":{}}}",
        state::json_string(&tls.cert_path.to_string_lossy()),
        state::json_string(&tls.client_cert_path.to_string_lossy()),
        state::json_string(&tls.client_key_path.to_string_lossy())
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
    ctx.proxies.stop_all();
    let _ = std::fs::remove_dir_all(&dir);
    process::exit(0);
}
