//! The values of docs/spec.md §2 as UniFFI enums and records, with conversions from the core.
//! Enums keep the contract's numbers as discriminants (Kotlin `JobState.QUEUED.value == 0`).
//!
//! Numbers are signed in Kotlin and Swift (`Int`/`Long`, `Int32`/`Int64`): Java has no
//! unsigned types and Kotlin's `UInt`/`ULong` mangle the JVM names of every method that
//! takes or returns them. Counts refuse a negative value with INVALID_ARG; byte counts
//! are exact up to 2^63 − 1 and an unknown size is −1 (`BYTES_UNKNOWN`, BITS's
//! BG_SIZE_UNKNOWN read as a signed number); codes are their unsigned 32-bit value.

use bgcopy as bg;
use std::time::SystemTime;

/// A contract enum as a UniFFI enum with the same numbers (Kotlin
/// `JobState.QUEUED.value == 0`), declared from the core's one list, with the
/// conversions and number checks from the core.
macro_rules! ffi_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $n:tt => $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
        #[repr(i32)]
        pub enum $name { $($(#[$vm])* $v = $n,)* }
        bg::spec_enum_conversions!($name { $($v = $n,)* });
    };
}

bg::for_each_spec_enum!(ffi_enum);

/// The notification flags (BG_NOTIFY_*). `setNotifyFlags` takes their values or-ed
/// together: Kotlin `NotifyFlag.JOB_TRANSFERRED.value or NotifyFlag.JOB_ERROR.value`,
/// Swift `NotifyFlag.jobTransferred.rawValue | NotifyFlag.jobError.rawValue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
#[repr(i32)]
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
#[repr(i32)]
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
#[repr(i32)]
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
    /// Sum of the file sizes; −1 (`BYTES_UNKNOWN`) until every size is known; 0
    /// without files.
    pub bytes_total: i64,
    /// Bytes transferred so far.
    pub bytes_transferred: i64,
    /// Number of files.
    pub files_total: i32,
    /// Number of files whose bytes are all transferred.
    pub files_transferred: i32,
}

impl From<bg::JobProgress> for JobProgress {
    fn from(p: bg::JobProgress) -> Self {
        JobProgress {
            bytes_total: signed64(p.bytes_total),
            bytes_transferred: signed64(p.bytes_transferred),
            files_total: signed32(p.files_total),
            files_transferred: signed32(p.files_transferred),
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
    /// The file's size; −1 (`BYTES_UNKNOWN`) until known.
    pub bytes_total: i64,
    /// Bytes transferred so far.
    pub bytes_transferred: i64,
    /// True only once `complete()` made the file visible at its local path.
    pub completed: bool,
}

impl From<bg::FileProgress> for FileProgress {
    fn from(p: bg::FileProgress) -> Self {
        FileProgress {
            bytes_total: signed64(p.bytes_total),
            bytes_transferred: signed64(p.bytes_transferred),
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
    pub seq: i64,
    /// The job's id.
    pub job_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The job's state after the event.
    pub state: JobState,
    /// When it happened.
    pub time: SystemTime,
    /// The file concerned, by index; null/nil for none.
    pub file_index: Option<i32>,
    /// ERROR: the BITS HRESULT code; else null/nil.
    pub error_code: Option<i64>,
    /// ERROR: where it came from; else null/nil.
    pub error_context: Option<ErrorContext>,
    /// ERROR: the description; else null/nil.
    pub error_description: Option<String>,
}

impl From<bg::Event> for Event {
    fn from(e: bg::Event) -> Self {
        Event {
            seq: signed64(e.seq),
            job_id: e.job_id,
            kind: e.kind.into(),
            state: e.state.into(),
            time: e.time,
            file_index: e.file_index.map(signed32),
            error_code: e.error_code.map(i64::from),
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
    /// The BITS HRESULT code (its unsigned 32-bit value; the table is in
    /// docs/spec.md#codes).
    pub code: i64,
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
    pub background_slots: Option<i32>,
    /// Connections one job uses at once (its files, and the segments of a large
    /// file). Default 8.
    #[uniffi(default)]
    pub connections_per_job: Option<i32>,
    /// A connection idle this long (ms) is a transient error. Default 60 000.
    #[uniffi(default)]
    pub read_timeout_ms: Option<i64>,
    /// Connecting (TCP + TLS) may take this long (ms). Default 30 000.
    #[uniffi(default)]
    pub connect_timeout_ms: Option<i64>,
    /// Checkpoint after this many bytes of a file. Default 8 MiB.
    #[uniffi(default)]
    pub checkpoint_bytes: Option<i64>,
    /// Checkpoint at least this often (ms) while data moves. Default 1000.
    #[uniffi(default)]
    pub checkpoint_interval_ms: Option<i64>,
    /// At most one JOB_MODIFICATION per job per this interval (ms). Default 500.
    #[uniffi(default)]
    pub notify_interval_ms: Option<i64>,
    /// Bytes per second shared by all HIGH/NORMAL/LOW transfers. Default unlimited.
    #[uniffi(default)]
    pub background_bandwidth_limit: Option<i64>,
    /// How long (ms) a background job keeps its slot while an equal-priority job waits.
    /// Default 30 000.
    #[uniffi(default)]
    pub time_slice_ms: Option<i64>,
    /// Redirects followed per request. Default 10.
    #[uniffi(default)]
    pub max_redirects: Option<i32>,
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
    pub max_connections_per_file: Option<i32>,
    /// Connections to one host at once, over all jobs. Default 16.
    #[uniffi(default)]
    pub connections_per_host: Option<i32>,
}

impl ManagerOptions {
    /// The core options: the core's defaults with every given field applied (checked
    /// by the core's option table).
    pub(crate) fn to_core(&self) -> bg::Result<bg::ManagerOptions> {
        use bg::OptionValue as V;
        let ms = |v: Option<i64>, what: &str| {
            v.map(|v| unsigned64(v, what).map(|v| V::Duration(std::time::Duration::from_millis(v))))
                .transpose()
        };
        let n =
            |v: Option<i64>, what: &str| v.map(|v| unsigned64(v, what).map(V::Count)).transpose();
        let n32 = |v: Option<i32>, what: &str| n(v.map(i64::from), what);
        let given = [
            (
                "background_slots",
                n32(self.background_slots, "background_slots")?,
            ),
            (
                "connections_per_job",
                n32(self.connections_per_job, "connections_per_job")?,
            ),
            (
                "max_connections_per_file",
                n32(self.max_connections_per_file, "max_connections_per_file")?,
            ),
            (
                "connections_per_host",
                n32(self.connections_per_host, "connections_per_host")?,
            ),
            ("read_timeout", ms(self.read_timeout_ms, "read_timeout_ms")?),
            (
                "connect_timeout",
                ms(self.connect_timeout_ms, "connect_timeout_ms")?,
            ),
            (
                "checkpoint_bytes",
                n(self.checkpoint_bytes, "checkpoint_bytes")?,
            ),
            (
                "checkpoint_interval",
                ms(self.checkpoint_interval_ms, "checkpoint_interval_ms")?,
            ),
            (
                "notify_interval",
                ms(self.notify_interval_ms, "notify_interval_ms")?,
            ),
            (
                "background_bandwidth_limit",
                n(
                    self.background_bandwidth_limit,
                    "background_bandwidth_limit",
                )?,
            ),
            ("time_slice", ms(self.time_slice_ms, "time_slice_ms")?),
            ("max_redirects", n32(self.max_redirects, "max_redirects")?),
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

/// A count or size from Kotlin/Swift as the core's unsigned number: negative is
/// INVALID_ARG naming `what`.
pub(crate) fn unsigned64(v: i64, what: &str) -> bg::Result<u64> {
    u64::try_from(v)
        .map_err(|_| bg::Error::invalid_arg(format!("{what} must not be negative, not {v}")))
}

/// [`unsigned64`] for 32-bit values.
pub(crate) fn unsigned32(v: i32, what: &str) -> bg::Result<u32> {
    u32::try_from(v)
        .map_err(|_| bg::Error::invalid_arg(format!("{what} must not be negative, not {v}")))
}

/// A byte count (or journal number) for Kotlin/Swift: exact below 2^63; the unknown
/// size (`u64::MAX`) is −1, as BITS's BG_SIZE_UNKNOWN reads when signed.
pub(crate) fn signed64(v: u64) -> i64 {
    v as i64
}

/// A 32-bit count for Kotlin/Swift (`Int`); the few that could pass 2^31 − 1 stop there.
pub(crate) fn signed32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// A job setup for `CopyManager.createJobWith` (Kotlin's and Swift's
/// `createJob(name, files = …, priority = …, description = …)`): every field optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct JobSetup {
    /// The job type (default DOWNLOAD).
    #[uniffi(default)]
    pub job_type: Option<JobType>,
    /// The files, added in one `addFileSet`.
    #[uniffi(default)]
    pub files: Vec<FileSpec>,
    /// The priority (default NORMAL).
    #[uniffi(default)]
    pub priority: Option<Priority>,
    /// The description (default empty).
    #[uniffi(default)]
    pub description: Option<String>,
}

impl From<JobSetup> for bg::JobSetup {
    fn from(s: JobSetup) -> Self {
        bg::JobSetup {
            job_type: s.job_type.map(Into::into),
            files: s
                .files
                .into_iter()
                .map(|f| (f.remote_url, f.local_path))
                .collect(),
            priority: s.priority.map(Into::into),
            description: s.description,
        }
    }
}
