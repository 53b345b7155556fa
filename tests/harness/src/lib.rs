//! Test support for bgcopy's Rust test suites: start the fault-injecting origin as a
//! child process and compute the bytes it serves.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// Byte `i` of content version `v` served by the origin.
pub fn content_byte(i: u64, version: u8) -> u8 {
    (((i % 251) + 7 * version as u64) % 256) as u8
}

/// The first `size` bytes of content version `version`.
pub fn content(size: u64, version: u8) -> Vec<u8> {
    (0..size).map(|i| content_byte(i, version)).collect()
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The target directory holding the test binaries (`target/debug`).
pub fn target_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        // target/debug/deps/test-xxxx -> target/debug
        if let Some(dir) = exe.parent().and_then(Path::parent)
            && (dir.join("bgcopy-test-origin").exists() || dir.ends_with("debug"))
        {
            return dir.to_path_buf();
        }
    }
    workspace_root().join("target/debug")
}

/// Path of a workspace binary (`bgcopy`, `bgcopy-test-origin`), built on demand.
pub fn binary(name: &str, package: &str) -> PathBuf {
    let path = target_dir().join(name);
    if !path.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-q", "-p", package])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p {package} failed");
    }
    path
}

/// A running test origin; stops when dropped (its stdin closes).
pub struct Origin {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Plain HTTP port.
    pub http: u16,
    /// HTTPS port.
    pub https: u16,
    /// PEM of the self-signed certificate the HTTPS port uses.
    pub cert: PathBuf,
    /// HTTPS port that requires a client certificate (the origin's own client CA).
    pub mtls: u16,
    /// A client certificate that port accepts (PEM), and its key (PKCS#8 PEM).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Origin {
    /// Start the origin and read its port line.
    pub fn start() -> Origin {
        let bin = binary("bgcopy-test-origin", "bgcopy-test-origin");
        let mut child = Command::new(bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bgcopy-test-origin");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read origin port line");
        let v: serde_json::Value = serde_json::from_str(&line).expect("origin JSON line");
        Origin {
            child,
            stdin,
            http: v["http"].as_u64().expect("http port") as u16,
            https: v["https"].as_u64().expect("https port") as u16,
            cert: PathBuf::from(v["cert"].as_str().expect("cert path")),
            mtls: v["mtls"].as_u64().expect("mtls port") as u16,
            client_cert: PathBuf::from(v["client_cert"].as_str().expect("client cert")),
            client_key: PathBuf::from(v["client_key"].as_str().expect("client key")),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn http_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// `https://localhost:PORT`
    pub fn https_base(&self) -> String {
        format!("https://localhost:{}", self.https)
    }

    /// The URL of file `name` with query `params` (`"size=10&reset_at=5"`).
    pub fn url(&self, name: &str, params: &str) -> String {
        format!("{}/f/{name}?{params}", self.http_base())
    }

    /// The origin's `/stats/<name>` as JSON.
    pub fn stats(&self, name: &str) -> serde_json::Value {
        self.get_json(&format!("/stats/{name}"))
    }

    /// A port that refuses connections for `ms`, then serves like the plain port
    /// (`/late?ms=N`).
    pub fn late(&self, ms: u64) -> u16 {
        self.get_json(&format!("/late?ms={ms}"))["port"]
            .as_u64()
            .expect("late port") as u16
    }

    /// A real proxy the origin starts (`/proxy`): kind `"http"` (tinyproxy) or
    /// `"socks5"` (microsocks), with `auth` `"USER:PASS"` required if given. Returns its
    /// URL (`http://127.0.0.1:P` or `socks5h://127.0.0.1:P`) and its id for
    /// [`Origin::proxy_log`]. Panics when it cannot start (test.sh installs both).
    pub fn proxy(&self, kind: &str, auth: Option<&str>) -> (String, u64) {
        let q = auth.map_or(String::new(), |a| format!("&auth={a}"));
        let v = self.get_json(&format!("/proxy?kind={kind}{q}"));
        let port = v["port"]
            .as_u64()
            .unwrap_or_else(|| panic!("proxy {kind}: {v}"));
        let scheme = if kind == "socks5" { "socks5h" } else { "http" };
        (
            format!("{scheme}://127.0.0.1:{port}"),
            v["id"].as_u64().unwrap(),
        )
    }

    /// What proxy `id` logged: `{"connections":K,"established":E,"targets":[…]}`.
    pub fn proxy_log(&self, id: u64) -> serde_json::Value {
        self.get_json(&format!("/proxylog/{id}"))
    }

    fn get_json(&self, target: &str) -> serde_json::Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.http)).expect("connect origin");
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("{}");
        serde_json::from_str(body).expect("origin JSON")
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Abort the whole test binary if it runs longer than `secs`: a deadlock then fails
/// CI with a message instead of hanging it. Started once per process.
pub fn watchdog(secs: u64) {
    static START: std::sync::Once = std::sync::Once::new();
    START.call_once(|| {
        let name = test_binary_name();
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                std::thread::sleep(std::time::Duration::from_secs(secs));
                eprintln!("{name}: WATCHDOG: still running after {secs} s (deadlock?); aborting");
                std::process::abort();
            })
            .expect("start the watchdog");
    });
}

fn test_binary_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| s.split('-').next().unwrap_or("test").to_string())
        .unwrap_or_else(|| "test".into())
}

/// One origin for the whole test binary; it exits when the process ends (its stdin
/// pipe closes).
pub fn shared_origin() -> &'static Origin {
    static ORIGIN: std::sync::OnceLock<Origin> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(Origin::start)
}

/// A scratch directory named after the test binary and `name`, removed on drop.
/// Creating one also starts the 120 s [`watchdog`].
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// A fresh, empty directory.
    pub fn new(name: &str) -> ScratchDir {
        watchdog(120);
        let d = std::env::temp_dir().join(format!(
            "bgcopy-{}-{}-{name}",
            test_binary_name(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create scratch dir");
        ScratchDir(d)
    }

    /// `<dir>/state`, for a manager.
    pub fn state(&self) -> PathBuf {
        self.0.join("state")
    }

    /// `<dir>/<name>` as a string, for `add_file`.
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// This process's descriptor table's size (room for that many descriptors), as Linux
/// reports it.
pub fn fd_table_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("FDSize:")).unwrap();
    line["FDSize:".len()..].trim().parse().unwrap()
}

/// This process's soft limit on open descriptors (`usize::MAX`: unlimited).
pub fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX)
}

/// A test binary run again as a child process: [`spawn_child`] starts it running only
/// its `child_entry` test with a mode and arguments, [`child_mode`] reads them there,
/// and the child reports to the parent with `@@ ` lines on its standard output.
pub mod children {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, ChildStdout, Command, Stdio};

    const MODE: &str = "BGCOPY_TEST_CHILD";
    const ARGS: &str = "BGCOPY_TEST_CHILD_ARGS";

    /// Start this test binary as a child running `mode` with `args` (standard input a
    /// pipe, output read through the returned reader).
    pub fn spawn_child(mode: &str, args: &[&str]) -> (Child, BufReader<ChildStdout>) {
        let mut child = command(mode, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        (child, out)
    }

    /// The command that runs this test binary as a child in `mode` with `args`.
    pub fn command(mode: &str, args: &[&str]) -> Command {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env(MODE, mode)
            .env(ARGS, args.join("\n"));
        c
    }

    /// In the child: its mode and arguments; `None` in an ordinary test run.
    pub fn child_mode() -> Option<(String, Vec<String>)> {
        let mode = std::env::var(MODE).ok()?;
        let args = std::env::var(ARGS)
            .unwrap_or_default()
            .split('\n')
            .map(String::from)
            .collect();
        Some((mode, args))
    }

    /// The child's next `@@ ` line (libtest may print "test child_entry ... " before
    /// it on the same line).
    pub fn next_report(r: &mut BufReader<ChildStdout>) -> String {
        loop {
            let mut l = String::new();
            assert!(r.read_line(&mut l).unwrap() > 0, "child ended early");
            if let Some(at) = l.find("@@ ") {
                return l[at + 3..].trim().to_string();
            }
        }
    }

    /// Every `@@ ` line of the child until it closes its output.
    pub fn reports(r: impl BufRead) -> Vec<String> {
        r.lines()
            .map_while(Result::ok)
            .filter_map(|l| l.find("@@ ").map(|at| l[at + 3..].trim().to_string()))
            .collect()
    }
}
