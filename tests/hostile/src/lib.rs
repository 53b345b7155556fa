//! Support for the hostile-input tests (`tests/hostile/tests/*.rs`, the threat model is
//! in `tests/hostile/README.md`): a scripted HTTP server that answers whatever a test
//! wants (oversized heads, lying `Content-Range`s), small tmpfs mounts to fill a disk,
//! commands run as another user, and the `bgcopy` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use bgcopy_test_harness::{ScratchDir, content, shared_origin};

/// One request the scripted server received.
#[derive(Clone, Debug)]
pub struct Request {
    /// 1-based number of the request.
    pub number: u32,
    /// The request line and headers, as received.
    pub head: String,
    /// When it arrived.
    pub at: Instant,
}

impl Request {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// The first offset of a `Range: bytes=a-` header.
    pub fn range_start(&self) -> Option<u64> {
        let r = self.header("range")?;
        r.strip_prefix("bytes=")?.split('-').next()?.parse().ok()
    }
}

/// What the server writes for a request: raw bytes, then it closes the connection.
pub type Script = dyn Fn(&Request) -> Vec<u8> + Send + Sync;

/// A loopback HTTP/1.1 server that answers each request with whatever the test's
/// script returns (one request per connection), and records every request.
pub struct ScriptedServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl ScriptedServer {
    /// Start serving `script`.
    pub fn start(script: impl Fn(&Request) -> Vec<u8> + Send + Sync + 'static) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (reqs, stopping) = (requests.clone(), stop.clone());
        let counter = Arc::new(AtomicU32::new(0));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (script, reqs, counter) = (script.clone(), reqs.clone(), counter.clone());
                std::thread::spawn(move || serve(conn, &*script, &reqs, &counter));
            }
        });
        ScriptedServer {
            port,
            requests,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT/<path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, script: &Script, reqs: &Mutex<Vec<Request>>, counter: &AtomicU32) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&conn);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    let req = Request {
        number: counter.fetch_add(1, Ordering::SeqCst) + 1,
        head,
        at: Instant::now(),
    };
    reqs.lock().unwrap().push(req.clone());
    let out = script(&req);
    let mut w = &conn;
    let _ = w.write_all(&out);
    let _ = w.flush();
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

/// A complete response with `Content-Length` and `Connection: close`.
pub fn response(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// True when the tests run as root (mounts, other users).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Print why a root-only case is skipped (the same-user variants still run).
pub fn skip(why: &str) {
    eprintln!("SKIPPED (documented): {why}");
}

/// A small tmpfs mounted for one test; unmounted on drop.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    /// Mount a tmpfs of `size` bytes at `dir` (created). `None` when this is not
    /// root or mounting is not allowed here.
    pub fn mount(dir: &Path, size: u64) -> Option<Tmpfs> {
        if !is_root() {
            return None;
        }
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    /// Fill the file system (a file `fill` of every free byte); returns its path.
    pub fn fill(&self) -> PathBuf {
        let p = self.0.join("fill");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .expect("create fill file");
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let one = [0u8; 1];
        while f.write_all(&one).is_ok() {}
        let _ = f.sync_all();
        p
    }

    /// Free what [`Tmpfs::fill`] took.
    pub fn unfill(&self) {
        let _ = std::fs::remove_file(self.0.join("fill"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `Some(command)` running `program` as the unprivileged user `nobody` (uid and gid
/// 65534), when this is root and `setpriv` exists.
pub fn as_nobody(program: &str) -> Option<Command> {
    if !is_root() {
        return None;
    }
    let found = Command::new("setpriv")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        return None;
    }
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        program,
    ]);
    Some(c)
}

/// The `bgcopy` binary of this workspace (a debug build: its crash points work).
pub fn bgcopy_exe() -> PathBuf {
    bgcopy_test_harness::binary("bgcopy", "bgcopy-cli")
}

/// Run `bgcopy --state-dir STATE ARGS…`.
pub fn bgcopy(state: &Path, args: &[&str]) -> Output {
    bgcopy_env(state, args, &[])
}

/// [`bgcopy`] with extra environment variables.
pub fn bgcopy_env(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bgcopy_exe());
    c.env_remove("BGCOPY_STATE_DIR")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run bgcopy")
}

/// stdout + stderr of a finished command, for messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Poll `f` until it is true; panics with `what` after `secs` seconds.
#[track_caller]
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Read a whole file, or an empty vector.
pub fn read(p: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        let _ = f.read_to_end(&mut v);
    }
    v
}
