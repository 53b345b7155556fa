//! `ManagerOptions`: the manager-wide settings, their checks, and the option table
//! (name, kind, range) every binding maps its native options through, so an option's
//! name and limits live in one place.

use crate::error::{Error, Result};
use std::path::PathBuf;
use std::time::Duration;

/// Manager-wide settings. Build with `ManagerOptions::default()` and change fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ManagerOptions {
    /// Transfer slots shared by HIGH/NORMAL/LOW jobs (FOREGROUND jobs always run). Default 2.
    pub background_slots: usize,
    /// Connections one job uses at once (its files, and the segments of a large
    /// file). Default 8.
    pub connections_per_job: usize,
    /// Connections one file may use at once (segmented download, BITS Job5
    /// HIGH_PERFORMANCE) unless its job says otherwise; 1 = one stream. Default 8.
    pub max_connections_per_file: usize,
    /// Connections to one host (name and port) at once, over all jobs, like aria2's
    /// `-x`. Default 16.
    pub connections_per_host: usize,
    /// A connection idle this long is a transient error. Default 60 s.
    pub read_timeout: Duration,
    /// Connecting (TCP + TLS) may take this long. Default 30 s.
    pub connect_timeout: Duration,
    /// Checkpoint after this many bytes of a file (or of files that ended since the
    /// last checkpoint). Default 8 MiB.
    pub checkpoint_bytes: u64,
    /// Checkpoint at least this often while data moves. Default 1 s.
    pub checkpoint_interval: Duration,
    /// At most one JOB_MODIFICATION per job per this interval. Default 500 ms.
    pub notify_interval: Duration,
    /// Bytes per second shared by all HIGH/NORMAL/LOW transfers; `None` = unlimited.
    pub background_bandwidth_limit: Option<u64>,
    /// How long a background job keeps its slot before an equal-priority job waiting
    /// for one takes its turn (round robin). Default 30 s.
    pub time_slice: Duration,
    /// Redirects followed per request. Default 10.
    pub max_redirects: u32,
    /// Follow a redirect from https to http. Default false (refused: fatal error).
    pub allow_https_to_http_redirect: bool,
    /// PEM files of the only root certificates to trust, like curl's `--cacert`.
    /// `None` (default) trusts the Mozilla roots bundled with the library.
    pub tls_root_certs: Option<Vec<PathBuf>>,
    /// The User-Agent header.
    pub user_agent: String,
    /// Run transfers in this process (default true). `false` opens the store for
    /// inspection and changes only: queued jobs wait for a manager that transfers.
    pub start_transfers: bool,
}

impl ManagerOptions {
    /// E_INVALIDARG naming the option for any value outside its range in
    /// [`OPTIONS`](Self::OPTIONS): e.g. slot and connection counts outside 1..=1024, a
    /// zero timeout, a bandwidth limit of 0 (use `None` for unlimited), a User-Agent
    /// with control characters (CR/LF injection).
    pub fn validate(&self) -> Result<()> {
        // One rule for every way options are made (a struct literal in Rust, a C
        // struct, keyword arguments): each value goes through the table's setter.
        let mut checked = ManagerOptions::default();
        for spec in Self::OPTIONS {
            checked.set(spec.name, self.get(spec.name)?)?;
        }
        Ok(())
    }

    /// The value of option `name` (E_INVALIDARG for an unknown name).
    pub fn get(&self, name: &str) -> Result<OptionValue> {
        Self::spec(name)?;
        let count = |n: usize| OptionValue::Count(n as u64);
        Ok(match name {
            "background_slots" => count(self.background_slots),
            "connections_per_job" => count(self.connections_per_job),
            "max_connections_per_file" => count(self.max_connections_per_file),
            "connections_per_host" => count(self.connections_per_host),
            "read_timeout" => OptionValue::Duration(self.read_timeout),
            "connect_timeout" => OptionValue::Duration(self.connect_timeout),
            "checkpoint_bytes" => OptionValue::Count(self.checkpoint_bytes),
            "checkpoint_interval" => OptionValue::Duration(self.checkpoint_interval),
            "notify_interval" => OptionValue::Duration(self.notify_interval),
            "background_bandwidth_limit" => self
                .background_bandwidth_limit
                .map_or(OptionValue::Unset, OptionValue::Count),
            "time_slice" => OptionValue::Duration(self.time_slice),
            "max_redirects" => OptionValue::Count(self.max_redirects.into()),
            "allow_https_to_http_redirect" => OptionValue::Bool(self.allow_https_to_http_redirect),
            "tls_root_certs" => self
                .tls_root_certs
                .clone()
                .map_or(OptionValue::Unset, OptionValue::Paths),
            "user_agent" => OptionValue::Text(self.user_agent.clone()),
            "start_transfers" => OptionValue::Bool(self.start_transfers),
            _ => unreachable!("every option of the table is read"),
        })
    }
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            background_slots: 2,
            connections_per_job: 8,
            max_connections_per_file: 8,
            connections_per_host: 16,
            read_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            checkpoint_bytes: 8 << 20,
            checkpoint_interval: Duration::from_secs(1),
            notify_interval: Duration::from_millis(500),
            background_bandwidth_limit: None,
            time_slice: Duration::from_secs(30),
            max_redirects: 10,
            allow_https_to_http_redirect: false,
            tls_root_certs: None,
            user_agent: format!("bgcopy/{}", env!("CARGO_PKG_VERSION")),
            start_transfers: true,
        }
    }
}

/// What kind of value an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionKind {
    /// A whole number within `min..=max`.
    Count {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
    },
    /// A duration within `min..=max`.
    Duration {
        /// Shortest value.
        min: Duration,
        /// Longest value.
        max: Duration,
    },
    /// A whole number within `min..=max`, or [`OptionValue::Unset`] for none.
    OptionalCount {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
    },
    /// `true` or `false`.
    Bool,
    /// Text without control characters.
    Text,
    /// A list of file paths, or [`OptionValue::Unset`] for the default.
    Paths,
}

/// One option: its canonical snake_case name, what it takes and what it means.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The name (`read_timeout`): bindings apply their casing and units.
    pub name: &'static str,
    /// What it takes.
    pub kind: OptionKind,
    /// One line for people.
    pub doc: &'static str,
}

/// A value for [`ManagerOptions::set`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OptionValue {
    /// For `Count` and `OptionalCount`.
    Count(u64),
    /// For `Duration`.
    Duration(Duration),
    /// For `Bool`.
    Bool(bool),
    /// For `Text`.
    Text(String),
    /// For `Paths`.
    Paths(Vec<PathBuf>),
    /// "None": no limit, the default roots.
    Unset,
}

impl OptionValue {
    /// A duration from seconds as a float (Python, CLI): negative, NaN or infinite
    /// values are E_INVALIDARG naming `what`.
    pub fn from_secs_f64(what: &str, secs: f64) -> Result<OptionValue> {
        Duration::try_from_secs_f64(secs)
            .map(OptionValue::Duration)
            .map_err(|_| Error::invalid_arg(format!("{what} must be a number of seconds >= 0")))
    }
}

const MS: Duration = Duration::from_millis(1);
/// A day: the longest timeout or interval.
const DAY: Duration = Duration::from_secs(86_400);

impl ManagerOptions {
    /// Every option, in the order of the fields.
    pub const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec {
            name: "background_slots",
            kind: OptionKind::Count { min: 1, max: 1024 },
            doc: "transfer slots shared by HIGH/NORMAL/LOW jobs (FOREGROUND always runs)",
        },
        OptionSpec {
            name: "connections_per_job",
            kind: OptionKind::Count { min: 1, max: 1024 },
            doc: "connections one job uses at once (files and segments)",
        },
        OptionSpec {
            name: "max_connections_per_file",
            kind: OptionKind::Count { min: 1, max: 64 },
            doc: "connections one file may use at once (segmented download; 1: one stream)",
        },
        OptionSpec {
            name: "connections_per_host",
            kind: OptionKind::Count { min: 1, max: 1024 },
            doc: "connections to one host at once, over all jobs",
        },
        OptionSpec {
            name: "read_timeout",
            kind: OptionKind::Duration { min: MS, max: DAY },
            doc: "a connection idle this long is a transient error",
        },
        OptionSpec {
            name: "connect_timeout",
            kind: OptionKind::Duration { min: MS, max: DAY },
            doc: "connecting (TCP and TLS) may take this long",
        },
        OptionSpec {
            name: "checkpoint_bytes",
            kind: OptionKind::Count {
                min: 1,
                max: u64::MAX,
            },
            doc: "checkpoint after this many bytes of a file, or of small files together",
        },
        OptionSpec {
            name: "checkpoint_interval",
            kind: OptionKind::Duration { min: MS, max: DAY },
            doc: "checkpoint at least this often while data moves",
        },
        OptionSpec {
            name: "notify_interval",
            kind: OptionKind::Duration {
                min: Duration::ZERO,
                max: DAY,
            },
            doc: "at most one JOB_MODIFICATION per job per this interval",
        },
        OptionSpec {
            name: "background_bandwidth_limit",
            kind: OptionKind::OptionalCount {
                min: 1,
                max: u64::MAX,
            },
            doc: "bytes per second shared by background transfers (unset: unlimited)",
        },
        OptionSpec {
            name: "time_slice",
            kind: OptionKind::Duration { min: MS, max: DAY },
            doc: "how long a background job keeps its slot against equal priorities",
        },
        OptionSpec {
            name: "max_redirects",
            kind: OptionKind::Count { min: 0, max: 100 },
            doc: "redirects followed per request",
        },
        OptionSpec {
            name: "allow_https_to_http_redirect",
            kind: OptionKind::Bool,
            doc: "follow a redirect from https to http",
        },
        OptionSpec {
            name: "tls_root_certs",
            kind: OptionKind::Paths,
            doc: "PEM files of the only root certificates to trust (unset: the bundled roots)",
        },
        OptionSpec {
            name: "user_agent",
            kind: OptionKind::Text,
            doc: "the User-Agent header",
        },
        OptionSpec {
            name: "start_transfers",
            kind: OptionKind::Bool,
            doc: "run transfers in this process (false: inspection and changes only)",
        },
    ];

    /// The spec of option `name`, or E_INVALIDARG naming the known ones.
    pub fn spec(name: &str) -> Result<&'static OptionSpec> {
        Self::OPTIONS
            .iter()
            .find(|o| o.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::OPTIONS.iter().map(|o| o.name).collect();
                Error::invalid_arg(format!(
                    "unknown option {name:?}; the options are {}",
                    known.join(", ")
                ))
            })
    }

    /// Set option `name`: an unknown name, a value of the wrong kind or out of range
    /// is E_INVALIDARG naming the option.
    pub fn set(&mut self, name: &str, value: OptionValue) -> Result<()> {
        let spec = Self::spec(name)?;
        let bad = |why: String| Err(Error::invalid_arg(format!("option {name}: {why}")));
        let kind_name = match spec.kind {
            OptionKind::Count { .. } => "a whole number",
            OptionKind::OptionalCount { .. } => "a whole number or none",
            OptionKind::Duration { .. } => "a duration",
            OptionKind::Bool => "true or false",
            OptionKind::Text => "text",
            OptionKind::Paths => "a list of paths or none",
        };
        match (spec.kind, value) {
            (OptionKind::Count { min, max }, OptionValue::Count(n))
            | (OptionKind::OptionalCount { min, max }, OptionValue::Count(n)) => {
                if !(min..=max).contains(&n) {
                    return bad(format!("{n} is out of range {min}..={max}"));
                }
                let as_usize = || usize::try_from(n).unwrap_or(usize::MAX);
                match name {
                    "background_slots" => self.background_slots = as_usize(),
                    "connections_per_job" => self.connections_per_job = as_usize(),
                    "max_connections_per_file" => self.max_connections_per_file = as_usize(),
                    "connections_per_host" => self.connections_per_host = as_usize(),
                    "checkpoint_bytes" => self.checkpoint_bytes = n,
                    "background_bandwidth_limit" => self.background_bandwidth_limit = Some(n),
                    "max_redirects" => self.max_redirects = n as u32,
                    _ => unreachable!("every Count option is handled"),
                }
            }
            (OptionKind::OptionalCount { .. }, OptionValue::Unset) => {
                self.background_bandwidth_limit = None;
            }
            (OptionKind::Duration { min, max }, OptionValue::Duration(d)) => {
                if d < min || d > max {
                    return bad(format!("{d:?} is out of range {min:?}..={max:?}"));
                }
                match name {
                    "read_timeout" => self.read_timeout = d,
                    "connect_timeout" => self.connect_timeout = d,
                    "checkpoint_interval" => self.checkpoint_interval = d,
                    "notify_interval" => self.notify_interval = d,
                    "time_slice" => self.time_slice = d,
                    _ => unreachable!("every Duration option is handled"),
                }
            }
            (OptionKind::Bool, OptionValue::Bool(b)) => match name {
                "allow_https_to_http_redirect" => self.allow_https_to_http_redirect = b,
                "start_transfers" => self.start_transfers = b,
                _ => unreachable!("every Bool option is handled"),
            },
            (OptionKind::Text, OptionValue::Text(t)) => {
                if t.chars().any(char::is_control) {
                    return bad("contains CR, LF or another control character".into());
                }
                self.user_agent = t;
            }
            (OptionKind::Paths, OptionValue::Paths(p)) => self.tls_root_certs = Some(p),
            (OptionKind::Paths, OptionValue::Unset) => self.tls_root_certs = None,
            (_, v) => return bad(format!("takes {kind_name}, not {v:?}")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn validate_checks_every_field_against_the_table() {
        ManagerOptions::default().validate().unwrap();
        type Change = fn(&mut ManagerOptions);
        let cases: [(&str, Change); 7] = [
            ("max_redirects", |o| o.max_redirects = 500),
            ("checkpoint_bytes", |o| o.checkpoint_bytes = 0),
            ("checkpoint_interval", |o| {
                o.checkpoint_interval = Duration::ZERO
            }),
            ("time_slice", |o| o.time_slice = DAY + SECOND),
            ("background_slots", |o| o.background_slots = 0),
            ("background_bandwidth_limit", |o| {
                o.background_bandwidth_limit = Some(0)
            }),
            ("user_agent", |o| o.user_agent = "a\nb".into()),
        ];
        for (name, change) in cases {
            let mut o = ManagerOptions::default();
            change(&mut o);
            let e = o.validate().unwrap_err();
            assert_eq!(e.code(), crate::codes::E_INVALIDARG, "{name}");
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
        for spec in ManagerOptions::OPTIONS {
            let d = ManagerOptions::default();
            let mut o = ManagerOptions::default();
            o.set(spec.name, d.get(spec.name).unwrap()).unwrap();
        }
    }

    #[test]
    fn the_table_names_every_option_and_checks_kind_and_range() {
        let mut o = ManagerOptions::default();
        o.set("read_timeout", OptionValue::Duration(SECOND))
            .unwrap();
        assert_eq!(o.read_timeout, SECOND);
        o.set("background_slots", OptionValue::Count(3)).unwrap();
        assert_eq!(o.background_slots, 3);
        o.set("background_bandwidth_limit", OptionValue::Count(10))
            .unwrap();
        assert_eq!(o.background_bandwidth_limit, Some(10));
        o.set("background_bandwidth_limit", OptionValue::Unset)
            .unwrap();
        assert_eq!(o.background_bandwidth_limit, None);
        o.set("start_transfers", OptionValue::Bool(false)).unwrap();
        assert!(!o.start_transfers);
        for (name, v) in [
            ("nope", OptionValue::Bool(true)),
            ("background_slots", OptionValue::Count(0)),
            ("background_slots", OptionValue::Bool(true)),
            ("read_timeout", OptionValue::Duration(Duration::ZERO)),
            ("user_agent", OptionValue::Text("a\r\nb".into())),
            ("checkpoint_bytes", OptionValue::Unset),
        ] {
            let e = o.set(name, v).unwrap_err();
            assert_eq!(e.code(), crate::codes::E_INVALIDARG, "{name}");
        }
        assert!(OptionValue::from_secs_f64("x", -1.0).is_err());
        assert!(OptionValue::from_secs_f64("x", f64::NAN).is_err());
        // Every option of the table can be set to its default (the table is complete).
        let d = ManagerOptions::default();
        for spec in ManagerOptions::OPTIONS {
            let v = match spec.name {
                "background_slots" => OptionValue::Count(d.background_slots as u64),
                "connections_per_job" => OptionValue::Count(d.connections_per_job as u64),
                "max_connections_per_file" => OptionValue::Count(8),
                "connections_per_host" => OptionValue::Count(16),
                "read_timeout" => OptionValue::Duration(d.read_timeout),
                "connect_timeout" => OptionValue::Duration(d.connect_timeout),
                "checkpoint_bytes" => OptionValue::Count(d.checkpoint_bytes),
                "checkpoint_interval" => OptionValue::Duration(d.checkpoint_interval),
                "notify_interval" => OptionValue::Duration(d.notify_interval),
                "background_bandwidth_limit" => OptionValue::Unset,
                "time_slice" => OptionValue::Duration(d.time_slice),
                "max_redirects" => OptionValue::Count(u64::from(d.max_redirects)),
                "allow_https_to_http_redirect" => OptionValue::Bool(false),
                "tls_root_certs" => OptionValue::Unset,
                "user_agent" => OptionValue::Text(d.user_agent.clone()),
                "start_transfers" => OptionValue::Bool(true),
                other => panic!("option {other} has no test value"),
            };
            o.set(spec.name, v).unwrap();
        }
    }
}
