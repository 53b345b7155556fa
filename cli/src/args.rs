//! The command line: clap definitions and the value parsers they use.

use bgcopy::Priority;
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;

/// `bgcopy`: durable background HTTP(S) downloads with the job model of Windows BITS.
#[derive(Debug, Parser)]
#[command(
    name = "bgcopy",
    version,
    about = "Durable background HTTP(S) downloads (the job model of Windows BITS)",
    after_help = "Exit codes: 0 success, 1 other failure, 2 bad arguments, 3 `wait --timeout` \
                  expired, 4 host name not resolved, 5 connection failed or timed out, \
                  6 TLS failure, 7 the server answered with an error, 8 local file error, \
                  9 content check failed, 130 interrupted (Ctrl-C).\n\
                  `bgcopy help COMMAND` describes a command; `bgcopy man` prints the manual page."
)]
pub struct Cli {
    /// The job store (default: $BGCOPY_STATE_DIR, else the platform data directory).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "BGCOPY_STATE_DIR",
        display_order = 100
    )]
    pub state_dir: Option<PathBuf>,

    /// Trust only the CA certificates in this PEM file for https (instead of the
    /// built-in roots), in the commands that transfer (get, wait, run).
    #[arg(long, global = true, value_name = "FILE", display_order = 101)]
    pub cacert: Option<PathBuf>,

    /// Follow at most N redirects a request (default 10), in the commands that transfer.
    #[arg(
        long = "max-redirs",
        global = true,
        value_name = "N",
        display_order = 102
    )]
    pub max_redirs: Option<u32>,

    /// The User-Agent header of every request (default `bgcopy/VERSION`).
    #[arg(
        long = "user-agent",
        short = 'A',
        global = true,
        value_name = "TEXT",
        env = "BGCOPY_USER_AGENT",
        display_order = 103
    )]
    pub user_agent: Option<String>,

    /// Give up connecting after S seconds (default 30), in the commands that transfer.
    #[arg(
        long = "connect-timeout",
        global = true,
        value_name = "S",
        value_parser = parse_seconds,
        display_order = 104
    )]
    pub connect_timeout: Option<std::time::Duration>,

    /// Give up on a connection that sends nothing for S seconds (default 60).
    #[arg(
        long = "read-timeout",
        global = true,
        value_name = "S",
        value_parser = parse_seconds,
        display_order = 105
    )]
    pub read_timeout: Option<std::time::Duration>,

    /// Print no progress, summaries or notices; only errors (and what a command is
    /// asked to print, such as ids and JSON).
    #[arg(
        short = 'q',
        long = "quiet",
        global = true,
        conflicts_with = "verbose",
        display_order = 106
    )]
    pub quiet: bool,

    /// Log what the library does on stderr: -v transfers and state changes, -vv each
    /// request and answer, -vvv everything. URLs are logged without their query and
    /// password; header values and credentials never.
    #[arg(
        short = 'v',
        long = "verbose",
        global = true,
        action = clap::ArgAction::Count,
        display_order = 107
    )]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The explicitly chosen state directory (`--state-dir` or a non-empty
    /// `$BGCOPY_STATE_DIR`), or `None` for the platform default.
    pub fn explicit_state_dir(&self) -> Option<PathBuf> {
        self.state_dir.clone().filter(|d| !d.as_os_str().is_empty())
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download URLs now in one job (FOREGROUND unless --priority), then complete it.
    Get(GetArgs),
    /// Create a job (state SUSPENDED) and print its id.
    Create {
        /// The job's display name (at most 256 characters).
        name: String,
    },
    /// Add a file to a job (LOCAL is made absolute against the current directory).
    Add {
        /// The job id.
        job: String,
        /// The http(s) URL to download.
        url: String,
        /// Where the file appears after `complete`; its directory must exist.
        local: PathBuf,
    },
    /// Queue a job for transfer (SUSPENDED/ERROR/TRANSIENT_ERROR → QUEUED).
    Resume {
        /// The job id.
        job: String,
    },
    /// Stop a job's transfers (→ SUSPENDED); progress is kept.
    Suspend {
        /// The job id.
        job: String,
    },
    /// End a job (→ CANCELLED) and delete its temporary files.
    Cancel {
        /// The job id.
        job: String,
    },
    /// End a job (→ ACKNOWLEDGED): transferred files appear at their local paths.
    Complete {
        /// The job id.
        job: String,
    },
    /// Change a job's properties.
    Set(SetArgs),
    /// List the jobs that are not ACKNOWLEDGED or CANCELLED.
    List {
        /// Print a JSON array of job objects instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one job.
    Info {
        /// The job id.
        job: String,
        /// Print a JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the engine in this process until JOB is TRANSFERRED (exit 0) or ERROR (exit 1).
    Wait {
        /// The job id.
        job: String,
        /// Give up after this many seconds (exit 3); fractions allowed.
        #[arg(long, value_name = "S", value_parser = parse_timeout)]
        timeout: Option<f64>,
        /// Show no progress bar and no summary line.
        #[arg(long)]
        no_progress: bool,
    },
    /// Run the engine for every job in the foreground until interrupted.
    Run {
        /// Exit once no job is QUEUED, CONNECTING, TRANSFERRING or TRANSIENT_ERROR.
        /// (With -q it does not print job state changes.)
        #[arg(long)]
        until_idle: bool,
    },
    /// Print the event journal: every state change, file transferred, error and change
    /// of every job, as any process made them, oldest first.
    Events {
        /// Only the entries numbered above N (the last number printed, to go on).
        #[arg(long, value_name = "N", default_value_t = 0)]
        since: u64,
        /// Print at most N entries (1 to 10000), unless --follow.
        #[arg(long, value_name = "N", default_value_t = 1000)]
        limit: u32,
        /// Keep printing new entries as they come, until Ctrl-C.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Print one JSON object a line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve a generated file on a loopback port and download it like `get`.
    Demo(DemoArgs),
    /// Run `bgcopy run` for this state directory as a per-user service (systemd).
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell), e.g.
    /// `bgcopy completions bash > ~/.local/share/bash-completion/completions/bgcopy`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, e.g. `bgcopy man | man -l -`; with
    /// --dir, write bgcopy.1 and one page per command (bgcopy-get.1, …) into DIR.
    Man {
        /// Write the pages into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `bgcopy service`.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ServiceAction {
    /// Write the user unit and enable it now (`systemctl --user enable --now`).
    Install,
    /// Disable the unit and remove it.
    Uninstall,
    /// Show the unit, the running engine and the queue.
    Status,
}

/// `bgcopy get`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("dest").args(["output", "dir"]).multiple(false)))]
pub struct GetArgs {
    /// Save the (single) URL as FILE.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        conflicts_with = "list"
    )]
    pub output: Option<PathBuf>,
    /// Save into DIR (created if missing; default: the current directory).
    #[arg(short = 'd', long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Read more URLs from LIST ("URL" or "URL<TAB>relative/path" a line; `-` = stdin).
    #[arg(short = 'i', long = "input", value_name = "LIST")]
    pub list: Option<PathBuf>,
    #[command(flatten)]
    pub job: JobOptions,
    /// The content's expected SHA-256 (64 hex digits; one URL): checked before the file
    /// counts as downloaded (VALIDATION_FAILED otherwise).
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Show no progress bar and no summary line; print only errors.
    #[arg(long)]
    pub no_progress: bool,
    /// Print one JSON object when the command ends (the job: id, state, files, bytes,
    /// error, and the exit status) instead of the progress and the summary line.
    #[arg(long)]
    pub json: bool,
    /// The URLs to download.
    #[arg(value_name = "URL", required_unless_present = "list")]
    pub urls: Vec<String>,
}

/// Job properties that `get` and `demo` accept.
#[derive(Debug, Args, Clone, Default)]
pub struct JobOptions {
    /// Job priority: foreground, high, normal or low (default for `get`: foreground).
    #[arg(long, value_name = "P", value_parser = parse_priority)]
    pub priority: Option<Priority>,
    /// Minimum retry delay after a transient error, in seconds (default 600).
    #[arg(long, value_name = "S")]
    pub retry_delay: Option<u32>,
    /// Seconds without progress before transient errors become fatal (0: every error is fatal).
    #[arg(long, value_name = "S")]
    pub no_progress_timeout: Option<u32>,
    /// Send this header with every request, as "Name: value" (repeatable; like curl's
    /// -H). A redirect to another origin drops it.
    #[arg(short = 'H', long = "header", value_name = "LINE")]
    pub header: Vec<String>,
    /// Follow redirects from https to http (refused by default).
    #[arg(long)]
    pub proto_redir_https_to_http: bool,
    #[command(flatten)]
    pub request: RequestOptions,
}

/// Request options that `get` and `set` share (the later BITS interfaces).
#[derive(Debug, Args, Clone, Default)]
pub struct RequestOptions {
    /// Server credentials USER:PASSWORD, sent as Basic (like curl's -u; never shown
    /// again; visible to other local users in the process list while this runs).
    #[arg(short = 'u', long = "user", value_name = "USER:PASSWORD", value_parser = parse_user)]
    pub user: Option<(String, String)>,
    /// A bearer token for the server (Authorization: Bearer TOKEN).
    #[arg(long, value_name = "TOKEN", conflicts_with = "user")]
    pub bearer: Option<String>,
    /// Use this proxy (http://, https://, socks5h:// or socks5:// HOST[:PORT]) instead
    /// of the environment's (http_proxy, https_proxy, all_proxy); '' means none.
    #[arg(short = 'x', long = "proxy", value_name = "URL")]
    pub proxy: Option<String>,
    /// Hosts reached without the proxy (comma separated: names with their subdomains,
    /// IP addresses, CIDR networks); '*' alone turns proxies off.
    #[arg(long = "noproxy", value_name = "LIST")]
    pub noproxy: Option<String>,
    /// Proxy credentials USER:PASSWORD (Basic; like curl's -U).
    #[arg(short = 'U', long = "proxy-user", value_name = "USER:PASSWORD", value_parser = parse_user)]
    pub proxy_user: Option<(String, String)>,
    /// Present this TLS client certificate (PEM; it may hold the key too).
    #[arg(long = "cert", value_name = "FILE")]
    pub cert: Option<String>,
    /// The client certificate's private key (PEM; default: the --cert file).
    #[arg(long = "key", value_name = "FILE", requires = "cert")]
    pub key: Option<String>,
    /// Longest time the job may spend connecting and transferring, in seconds (0: no
    /// limit); then it fails with MAXDOWNLOAD_TIMEOUT.
    #[arg(long = "max-time", value_name = "S")]
    pub max_time: Option<u32>,
    /// Limit the job to RATE bytes per second over all its connections (suffixes like
    /// curl's: K, M, G for 1024, 1024², 1024³; also KiB, MB, …; 0: no limit).
    #[arg(long = "limit-rate", value_name = "RATE", value_parser = parse_size)]
    pub limit_rate: Option<u64>,
    /// Connections one file may use at once (1..=64; 1 = one stream; default 8): large
    /// files from servers that honour ranges come in segments, like aria2's -x.
    #[arg(long = "connections", value_name = "N")]
    pub connections: Option<u32>,
}

/// `bgcopy set`.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("props")
        .args(["priority", "retry_delay", "no_progress_timeout", "display_name", "description", "notify_cmd", "header", "clear_headers", "headers_write_only", "security_flags", "user", "bearer", "max_time", "limit_rate", "connections", "proxy", "noproxy", "proxy_user", "cert", "url", "replace_prefix"])
        .required(true)
        .multiple(true)
))]
pub struct SetArgs {
    /// The job id.
    pub job: String,
    /// Job priority: foreground, high, normal or low.
    #[arg(long, value_name = "P", value_parser = parse_priority)]
    pub priority: Option<Priority>,
    /// Minimum retry delay after a transient error, in seconds.
    #[arg(long, value_name = "S")]
    pub retry_delay: Option<u32>,
    /// Seconds without progress before transient errors become fatal (0: every error is fatal).
    #[arg(long, value_name = "S")]
    pub no_progress_timeout: Option<u32>,
    /// The display name (at most 256 characters).
    #[arg(long, value_name = "S")]
    pub display_name: Option<String>,
    /// The description (at most 1024 characters).
    #[arg(long, value_name = "S")]
    pub description: Option<String>,
    /// Run PROGRAM (an absolute path, no shell) with ARGS when the job reaches
    /// TRANSFERRED or ERROR, with BGCOPY_JOB_ID set; the rest of the command line
    /// belongs to it. An empty PROGRAM ('') clears it.
    #[arg(
        long,
        value_name = "PROGRAM [ARGS]",
        num_args = 1..,
        allow_hyphen_values = true
    )]
    pub notify_cmd: Option<Vec<String>>,
    /// Replace the job's custom headers with these "Name: value" lines (repeatable).
    #[arg(
        short = 'H',
        long = "header",
        value_name = "LINE",
        conflicts_with = "clear_headers"
    )]
    pub header: Vec<String>,
    /// Remove the job's custom headers.
    #[arg(long)]
    pub clear_headers: bool,
    /// Make the job's custom headers write-only: no command or call shows them again.
    #[arg(long)]
    pub headers_write_only: bool,
    /// BITS security flags (e.g. 0x0100: redirects update the remote name; 0x0200:
    /// a redirect is an error; 0x0800: allow https to http).
    #[arg(long, value_name = "FLAGS", value_parser = parse_flags)]
    pub security_flags: Option<u32>,
    /// Give file INDEX (0-based, as `info` lists them) a new URL: an expired signed
    /// URL, a mirror. Bytes already fetched are kept when it serves the same content.
    #[arg(long = "url", value_name = "INDEX=URL", value_parser = parse_index_url)]
    pub url: Vec<(usize, String)>,
    /// Replace the prefix OLD of every file URL that starts with it by NEW.
    #[arg(long = "replace-prefix", value_names = ["OLD", "NEW"], num_args = 2)]
    pub replace_prefix: Option<Vec<String>>,
    #[command(flatten)]
    pub request: RequestOptions,
}

/// `bgcopy demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Size of the generated file (bytes, or with a suffix: KiB, MiB, GiB, KB, MB, GB).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub size: u64,
    /// Serve at most this many bytes per second (same suffixes), to watch the progress.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<u64>,
    /// Save into DIR (default: a new temporary directory).
    #[arg(short = 'd', long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Show no progress bar and no summary line; print only errors and the result.
    #[arg(long)]
    pub no_progress: bool,
}

/// Parse a priority name (case-insensitive).
pub fn parse_priority(s: &str) -> Result<Priority, String> {
    Priority::from_name(s)
        .ok_or_else(|| format!("{s:?} is not a priority (foreground, high, normal or low)"))
}

/// `INDEX=URL` for `set --url`.
fn parse_index_url(s: &str) -> Result<(usize, String), String> {
    let (i, url) = s.split_once('=').ok_or("expected INDEX=URL")?;
    let i = i
        .parse()
        .map_err(|_| format!("{i:?} is not a file index"))?;
    Ok((i, url.to_string()))
}

/// `USER:PASSWORD` for `-u` (split at the first `:`).
fn parse_user(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((u, p)) => Ok((u.to_string(), p.to_string())),
        None => Err("expected USER:PASSWORD".into()),
    }
}

/// Parse flags: decimal or 0x-prefixed hexadecimal.
pub fn parse_flags(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => t.parse(),
    };
    v.map_err(|_| format!("{s:?} is not a number (decimal or 0x hexadecimal)"))
}

/// Parse a timeout in seconds (fractions allowed) within the library's range for the
/// connect and read timeouts: 0.001 to 86400 (one day).
pub fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.001..=86_400.0).contains(&v) => Ok(std::time::Duration::from_secs_f64(v)),
        _ => Err(format!(
            "{s:?} is not a number of seconds from 0.001 to 86400"
        )),
    }
}

/// Parse a non-negative number of seconds (fractions allowed).
pub fn parse_timeout(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1e9).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds")),
    }
}

/// Parse a byte count with an optional unit suffix (`1MiB`, `512k`, `1000`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 1048576, 1MiB, 64MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "{s:?}: unknown size unit {unit:?} (KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Parse a positive byte rate (like [`parse_size`], but not 0).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err("the rate must be at least 1 byte per second".into()),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64mib"), Ok(64 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2 KB"), Ok(2000));
        assert!(parse_size("x").is_err());
        assert!(parse_size("1XB").is_err());
        assert!(parse_rate("0").is_err());
        assert_eq!(parse_size("2M"), Ok(2 << 20));
    }

    #[test]
    fn priorities() {
        assert_eq!(parse_priority("HiGh"), Ok(Priority::High));
        assert!(parse_priority("urgent").is_err());
    }
}
