//! `/proxy?kind=http|socks5[&auth=USER:PASS]`: a real proxy on a new loopback port —
//! Debian's `tinyproxy` (HTTP, CONNECT) or `microsocks` (SOCKS5), with a generated
//! configuration and Basic / username-password authentication when `auth` is given —
//! and `/proxylog/<id>`: what it logged, as
//! `{"connections":K,"established":E,"targets":["host:port",…]}` (each tunnel asked
//! for, how many it opened — a CONNECT refused with 407 is asked, not opened). The
//! proxies stop with the origin.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A started proxy.
struct Running {
    child: Child,
    log: PathBuf,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Socks5,
}

/// The proxies this origin started.
#[derive(Default)]
pub struct Proxies {
    /// Where configurations and logs go (the origin's temporary directory).
    pub dir: OnceLock<PathBuf>,
    running: Mutex<Vec<Running>>,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Proxies")
    }
}

/// The program for `kind`: `$BGCOPY_TINYPROXY` / `$BGCOPY_MICROSOCKS`, else the name
/// (found on PATH).
fn program(kind: Kind) -> String {
    let (var, name) = match kind {
        Kind::Http => ("BGCOPY_TINYPROXY", "tinyproxy"),
        Kind::Socks5 => ("BGCOPY_MICROSOCKS", "microsocks"),
    };
    std::env::var(var).unwrap_or_else(|_| name.to_string())
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Proxies {
    /// Start a proxy of `kind` (`"http"` or `"socks5"`); returns its port and id.
    pub fn start(&self, kind: &str, auth: Option<(&str, &str)>) -> Result<(u16, usize), String> {
        let kind = match kind {
            "http" => Kind::Http,
            "socks5" => Kind::Socks5,
            k => return Err(format!("unknown proxy kind {k:?} (http or socks5)")),
        };
        let dir = self.dir.get().cloned().unwrap_or_else(std::env::temp_dir);
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let id = running.len();
        let port = free_port().map_err(|e| e.to_string())?;
        let log = dir.join(format!("proxy-{id}.log"));
        let mut cmd = Command::new(program(kind));
        match kind {
            Kind::Http => {
                let conf = dir.join(format!("proxy-{id}.conf"));
                let mut text = format!(
                    "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Connect\n\
                     MaxClients 64\nAllow 127.0.0.1\nDisableViaHeader Yes\n",
                    log.display()
                );
                if let Some((u, p)) = auth {
                    text.push_str(&format!("BasicAuth {u} {p}\n"));
                }
                std::fs::write(&conf, text).map_err(|e| e.to_string())?;
                cmd.arg("-d").arg("-c").arg(&conf);
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
            Kind::Socks5 => {
                cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
                if let Some((u, p)) = auth {
                    cmd.args(["-u", u, "-P", p]);
                }
                let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
                let err = out.try_clone().map_err(|e| e.to_string())?;
                cmd.stdout(out).stderr(err);
            }
        }
        cmd.stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program(kind)))?;
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if t0.elapsed() > Duration::from_secs(10) || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} did not start listening", program(kind)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        running.push(Running { child, log, kind });
        Ok((port, id))
    }

    /// `{"connections":K,"targets":[…]}` for proxy `id`, or `None` for an unknown id.
    pub fn log_json(&self, id: usize) -> Option<String> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let r = running.get(id)?;
        let text = std::fs::read_to_string(&r.log).unwrap_or_default();
        let targets: Vec<String> = text
            .lines()
            .filter_map(|l| match r.kind {
                // tinyproxy: `Request (file descriptor 5): CONNECT host:port HTTP/1.1`
                Kind::Http => l
                    .split_once("): CONNECT ")
                    .and_then(|(_, t)| t.split_whitespace().next()),
                // microsocks: `client[4] 127.0.0.1: connected to host:port`
                Kind::Socks5 => l.split_once("connected to ").map(|(_, t)| t.trim()),
            })
            .map(crate::state::json_string)
            .collect();
        let established = match r.kind {
            Kind::Http => text.matches("Established connection to host").count(),
            Kind::Socks5 => targets.len(),
        };
        Some(format!(
            "{{\"connections\":{},\"established\":{established},\"targets\":[{}]}}",
            targets.len(),
            targets.join(",")
        ))
    }

    /// Stop every proxy (the origin exits).
    pub fn stop_all(&self) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        for r in running.iter_mut() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
        let _ = io::stderr().flush();
    }
}
