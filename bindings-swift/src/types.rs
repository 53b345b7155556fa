//! The values of docs/spec.md §2 as UniFFI enums and records, with conversions from the core.
//! Enums keep the contract's numbers as discriminants (Kotlin `JobState.QUEUED.value == 0u`).

use bgcopy as bg;
use std::time::SystemTime;

/// A contract enum as a UniFFI enum with the same numbers (Kotlin
/// `JobState.QUEUED.value == 0u`), declared from the core's one list, with the
/// conversions and number checks from the core.
macro_rules! ffi_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $n:tt => $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
        #[repr(u32)]
        pub enum $name { $($(#[$vm])* $v = $n,)* }
        bg::spec_enum_conversions!($name { $($v = $n,)* });
    };
}

bg::for_each_spec_enum!(ffi_enum);

/// The notification flags (BG_NOTIFY_*). `setNotifyFlags` takes their values or-ed
/// together: Kotlin `NotifyFlag.JOB_TRANSFERRED.value or NotifyFlag.JOB_ERROR.value`,
/// Swift `NotifyFlag.jobTransferred.rawValue | NotifyFlag.jobError.rawValue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
#[repr(u32)]
pub enum NotifyFlag {
    /// The job reached TRANSFERRED.
    JobTransferred = 0x01,
    /// The job reached ERROR.
    JobError = 0x02,
    /// No notifications at all.
    Disable = 0x04,
    /// The job changed (state, progress, properties); coalesced.
    JobModification = 0x08,
    /// A file of the job finished transferring.
    FileTransferred = 0x10,
}

/// A job's security flags (BITS values). `setSecurityFlags` takes one redirect
/// policy or-ed with `ALLOW_HTTPS_TO_HTTP` if wanted: Kotlin
/// `SecurityFlag.REDIRECT_ALLOW_REPORT.value`, Swift
/// `SecurityFlag.redirectAllowReport.rawValue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
#[repr(u32)]
pub enum SecurityFlag {
    /// Follow redirects; the file keeps its remote name (the default).
    RedirectAllowSilent = 0x0000,
    /// Follow redirects; the final URL becomes the file's remote name.
    RedirectAllowReport = 0x0100,
    /// A redirect puts the job in ERROR with the redirect's HTTP status.
    RedirectDisallow = 0x0200,
    /// The bits that hold the redirect policy.
    RedirectPolicyMask = 0x0700,
    /// Follow a redirect from https to http.
    AllowHttpsToHttp = 0x0800,
}

const _: () = {
    use bg::security as s;
    assert!(SecurityFlag::RedirectAllowSilent as u32 == s::REDIRECT_ALLOW_SILENT);
    assert!(SecurityFlag::RedirectAllowReport as u32 == s::REDIRECT_ALLOW_REPORT);
    assert!(SecurityFlag::RedirectDisallow as u32 == s::REDIRECT_DISALLOW);
    assert!(SecurityFlag::RedirectPolicyMask as u32 == s::REDIRECT_POLICY_MASK);
    assert!(SecurityFlag::AllowHttpsToHttp as u32 == s::ALLOW_HTTPS_TO_HTTP);
};

/// How `complete()` ended; `value` is the success code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
#[repr(u32)]
pub enum Completion {
    /// Every file is at its local path (S_OK).
    All = 0,
    /// Some files were not transferred and were deleted (PARTIAL_COMPLETE).
    Partial = 0x0020_0017,
}

// UniFFI wants literal discriminants: check them against the core's constants.
const _: () = {
    assert!(NotifyFlag::JobTransferred as u32 == bg::notify::JOB_TRANSFERRED);
    assert!(NotifyFlag::JobError as u32 == bg::notify::JOB_ERROR);
    assert!(NotifyFlag::Disable as u32 == bg::notify::DISABLE);
    assert!(NotifyFlag::JobModification as u32 == bg::notify::JOB_MODIFICATION);
    assert!(NotifyFlag::FileTransferred as u32 == bg::notify::FILE_TRANSFERRED);
    assert!(Completion::All as u32 == bg::codes::S_OK);
    assert!(Completion::Partial as u32 == bg::codes::PARTIAL_COMPLETE);
};

impl From<bg::Completion> for Completion {
    fn from(c: bg::Completion) -> Self {
        match c {
            bg::Completion::All => Completion::All,
            bg::Completion::Partial => Completion::Partial,
        }
    }
}

/// Progress of a whole job (BG_JOB_PROGRESS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct JobProgress {
    /// Sum of the file sizes; the largest 64-bit value (Kotlin `ULong.MAX_VALUE`, Swift
    /// `UInt64.max`) until every size is known; 0 without files.
    pub bytes_total: u64,
    /// Bytes transferred so far.
    pub bytes_transferred: u64,
    /// Number of files.
    pub files_total: u32,
    /// Number of files whose bytes are all transferred.
    pub files_transferred: u32,
}

impl From<bg::JobProgress> for JobProgress {
    fn from(p: bg::JobProgress) -> Self {
        JobProgress {
            bytes_total: p.bytes_total,
            bytes_transferred: p.bytes_transferred,
            files_total: p.files_total,
            files_transferred: p.files_transferred,
        }
    }
}

/// A file's expected digest (`get_expected_hash`).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ExpectedHash {
    /// `sha256`.
    pub algorithm: String,
    /// The digest's hexadecimal digits (lower case).
    pub hex: String,
}

/// A job's proxy settings (`get_proxy_settings`).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ProxySettings {
    /// Which proxy the job's requests use.
    pub usage: ProxyUsage,
    /// The proxy URL (OVERRIDE), else empty.
    pub proxy: String,
    /// The hosts reached without the proxy (OVERRIDE), else empty.
    pub bypass: String,
}

/// Progress of one file (BG_FILE_PROGRESS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FileProgress {
    /// The file's size; the largest 64-bit value until known.
    pub bytes_total: u64,
    /// Bytes transferred so far.
    pub bytes_transferred: u64,
    /// True only once `complete()` made the file visible at its local path.
    pub completed: bool,
}

impl From<bg::FileProgress> for FileProgress {
    fn from(p: bg::FileProgress) -> Self {
        FileProgress {
            bytes_total: p.bytes_total,
            bytes_transferred: p.bytes_transferred,
            completed: p.completed,
        }
    }
}

/// Time stamps of a job (BG_JOB_TIMES): Kotlin `java.time.Instant`, Swift `Date`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct JobTimes {
    /// When the job was created.
    pub creation_time: SystemTime,
    /// Bumped by every change, state change and transferred bytes.
    pub modification_time: SystemTime,
    /// When the job last reached TRANSFERRED; null/nil before.
    pub transfer_completion_time: Option<SystemTime>,
}

impl From<bg::JobTimes> for JobTimes {
    fn from(t: bg::JobTimes) -> Self {
        JobTimes {
            creation_time: t.creation_time,
            modification_time: t.modification_time,
            transfer_completion_time: t.transfer_completion_time,
        }
    }
}

/// A job's notify command line (`CopyJob.get_notify_cmd_line`).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NotifyCmdLine {
    /// The program (an absolute path).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
}

impl From<bg::NotifyCmdLine> for NotifyCmdLine {
    fn from(c: bg::NotifyCmdLine) -> Self {
        NotifyCmdLine {
            program: c.program,
            args: c.args,
        }
    }
}

/// One entry of the durable event journal (`CopyManager.events_since`).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Event {
    /// The sequence number: pass the last one as the next call's cursor.
    pub seq: u64,
    /// The job's id.
    pub job_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The job's state after the event.
    pub state: JobState,
    /// When it happened.
    pub time: SystemTime,
    /// The file concerned, by index; null/nil for none.
    pub file_index: Option<u32>,
    /// ERROR: the BITS HRESULT code; else null/nil.
    pub error_code: Option<u32>,
    /// ERROR: where it came from; else null/nil.
    pub error_context: Option<ErrorContext>,
    /// ERROR: the description; else null/nil.
    pub error_description: Option<String>,
}

impl From<bg::Event> for Event {
    fn from(e: bg::Event) -> Self {
        Event {
            seq: e.seq,
            job_id: e.job_id,
            kind: e.kind.into(),
            state: e.state.into(),
            time: e.time,
            file_index: e.file_index,
            error_code: e.error_code,
            error_context: e.error_context.map(Into::into),
            error_description: e.error_description,
        }
    }
}

/// What `CopyError.get_error()` returns (BITS returns the pair through out-parameters).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ErrorInfo {
    /// Where the error came from.
    pub context: ErrorContext,
    /// The BITS HRESULT code (unsigned 32-bit; the table is in docs/spec.md#codes).
    pub code: u32,
    /// The code's symbolic name (`HTTP_404`, `CONNECT_FAILURE`, …).
    pub symbol: String,
}

/// One file for `addFileSet`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FileSpec {
    /// The http(s) URL.
    pub remote_url: String,
    /// The absolute local path; its directory must exist.
    pub local_path: String,
}

/// Manager-wide settings for `CopyManager.open`; every field is optional (null/nil =
/// the core's default).
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct ManagerOptions {
    /// Transfer slots shared by HIGH/NORMAL/LOW jobs (FOREGROUND jobs always run). Default 2.
    #[uniffi(default)]
    pub background_slots: Option<u32>,
    /// Connections one job uses at once (its files, and the segments of a large
    /// file). Default 8.
    #[uniffi(default)]
    pub connections_per_job: Option<u32>,
    /// A connection idle this long (ms) is a transient error. Default 60 000.
    #[uniffi(default)]
    pub read_timeout_ms: Option<u64>,
    /// Connecting (TCP + TLS) may take this long (ms). Default 30 000.
    #[uniffi(default)]
    pub connect_timeout_ms: Option<u64>,
    /// Checkpoint after this many bytes of a file. Default 8 MiB.
    #[uniffi(default)]
    pub checkpoint_bytes: Option<u64>,
    /// Checkpoint at least this often (ms) while data moves. Default 1000.
    #[uniffi(default)]
    pub checkpoint_interval_ms: Option<u64>,
    /// At most one JOB_MODIFICATION per job per this interval (ms). Default 500.
    #[uniffi(default)]
    pub notify_interval_ms: Option<u64>,
    /// Bytes per second shared by all HIGH/NORMAL/LOW transfers. Default unlimited.
    #[uniffi(default)]
    pub background_bandwidth_limit: Option<u64>,
    /// How long (ms) a background job keeps its slot while an equal-priority job waits.
    /// Default 30 000.
    #[uniffi(default)]
    pub time_slice_ms: Option<u64>,
    /// Redirects followed per request. Default 10.
    #[uniffi(default)]
    pub max_redirects: Option<u32>,
    /// Follow a redirect from https to http. Default false.
    #[uniffi(default)]
    pub allow_https_to_http_redirect: Option<bool>,
    /// PEM files of the only root certificates to trust (like curl's `--cacert`).
    /// Default: the Mozilla roots bundled with the library.
    #[uniffi(default)]
    pub tls_root_certs: Option<Vec<String>>,
    /// The User-Agent header. Default `bgcopy/<version>`.
    #[uniffi(default)]
    pub user_agent: Option<String>,
    /// Run transfers in this process. Default true.
    #[uniffi(default)]
    pub start_transfers: Option<bool>,
    /// Connections one file may use at once (segmented download) unless its job says
    /// otherwise; 1 = one stream. Default 8.
    #[uniffi(default)]
    pub max_connections_per_file: Option<u32>,
    /// Connections to one host at once, over all jobs. Default 16.
    #[uniffi(default)]
    pub connections_per_host: Option<u32>,
}

impl ManagerOptions {
    /// The core options: the core's defaults with every given field applied (checked
    /// by the core's option table).
    pub(crate) fn to_core(&self) -> bg::Result<bg::ManagerOptions> {
        use bg::OptionValue as V;
        let ms = |v: Option<u64>| v.map(|v| V::Duration(std::time::Duration::from_millis(v)));
        let n = |v: Option<u64>| v.map(V::Count);
        let given = [
            ("background_slots", n(self.background_slots.map(u64::from))),
            (
                "connections_per_job",
                n(self.connections_per_job.map(u64::from)),
            ),
            (
                "max_connections_per_file",
                n(self.max_connections_per_file.map(u64::from)),
            ),
            (
                "connections_per_host",
                n(self.connections_per_host.map(u64::from)),
            ),
            ("read_timeout", ms(self.read_timeout_ms)),
            ("connect_timeout", ms(self.connect_timeout_ms)),
            ("checkpoint_bytes", n(self.checkpoint_bytes)),
            ("checkpoint_interval", ms(self.checkpoint_interval_ms)),
            ("notify_interval", ms(self.notify_interval_ms)),
            (
                "background_bandwidth_limit",
                n(self.background_bandwidth_limit),
            ),
            ("time_slice", ms(self.time_slice_ms)),
            ("max_redirects", n(self.max_redirects.map(u64::from))),
            (
                "allow_https_to_http_redirect",
                self.allow_https_to_http_redirect.map(V::Bool),
            ),
            (
                "tls_root_certs",
                self.tls_root_certs
                    .as_ref()
                    .map(|p| V::Paths(p.iter().map(Into::into).collect())),
            ),
            ("user_agent", self.user_agent.clone().map(V::Text)),
            ("start_transfers", self.start_transfers.map(V::Bool)),
        ];
        let mut o = bg::ManagerOptions::default();
        for (name, value) in given {
            if let Some(v) = value {
                o.set(name, v)?;
            }
        }
        Ok(o)
    }
}
