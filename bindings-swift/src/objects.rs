//! The four objects of docs/spec.md §1. Each method is a one-line forward to the core plus type
//! and error conversion; the names are the contract's snake_case names, which UniFFI turns
//! into camelCase for Kotlin and Swift.

use crate::callback::{self, CopyCallback};
use crate::error::{BgCopyError, guard};
use crate::types::*;
use bgcopy as bg;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

type Result<T> = std::result::Result<T, BgCopyError>;

/// The durable job manager (IBackgroundCopyManager). Open it with `CopyManager.open`.
///
/// Kotlin: `close()` (also through `use {}`) stops the transfers, flushes the store and
/// releases the state directory; the object can't be used after it. Swift: `close()`
/// does the same and later calls throw `INVALID_STATE`; the manager also closes when
/// the last reference goes away.
#[derive(Debug, uniffi::Object)]
#[uniffi::export(Debug)]
pub struct CopyManager(pub(crate) bg::CopyManager);

#[uniffi::export]
impl CopyManager {
    /// Open (or create) the job store in `stateDir` (an absolute path; null/nil: the
    /// platform default). Any number of managers, in any processes, share one directory
    /// and see one queue; one of them at a time runs the transfers.
    #[uniffi::constructor(default(state_dir = None, options = None))]
    pub fn open(
        state_dir: Option<String>,
        options: Option<ManagerOptions>,
    ) -> Result<Arc<CopyManager>> {
        let opts = options.unwrap_or_default();
        guard(|| bg::CopyManager::open_with(state_dir.as_deref().map(Path::new), opts.to_core()?))
            .map(|m| Arc::new(CopyManager(m)))
    }

    /// A new job in state SUSPENDED with a fresh UUID.
    pub fn create_job(&self, display_name: String, job_type: JobType) -> Result<Arc<CopyJob>> {
        guard(|| self.0.create_job(&display_name, job_type.into())).map(CopyJob::wrap)
    }

    /// A new job set up in the same call (Kotlin's and Swift's `createJob(name, files =
    /// …, priority = …, description = …)` call it): `createJob`, then `addFileSet`,
    /// `setPriority`, `setDescription` for what `setup` gives. All or nothing: when a
    /// step fails the new job is cancelled and the step's error thrown.
    pub fn create_job_with(&self, display_name: String, setup: JobSetup) -> Result<Arc<CopyJob>> {
        guard(|| self.0.create_job_with(&display_name, setup.into())).map(CopyJob::wrap)
    }

    /// The job with this id (canonical UUID text), or NOT_FOUND.
    pub fn get_job(&self, id: String) -> Result<Arc<CopyJob>> {
        guard(|| self.0.get_job(&id)).map(CopyJob::wrap)
    }

    /// The durable event journal: up to `limit` (1..=10000) entries numbered above
    /// `cursor`, oldest first (start with 0, then pass the last entry's `seq`). Every
    /// process sees the same numbers; a job's entries are kept while it is live and for
    /// 7 days after it became final.
    pub fn events_since(&self, cursor: i64, limit: i32) -> Result<Vec<Event>> {
        guard(|| {
            self.0
                .events_since(unsigned64(cursor, "cursor")?, unsigned32(limit, "limit")?)
        })
        .map(|v| v.into_iter().map(Event::from).collect())
    }

    /// Change the bandwidth limit shared by every HIGH, NORMAL and LOW transfer of the
    /// queue (bytes per second; 0: none) while they run: it applies within a second,
    /// whichever process runs the transfers, and stays with the state directory.
    /// FOREGROUND jobs are never limited by it.
    pub fn set_background_bandwidth_limit(&self, bytes_per_second: i64) -> Result<()> {
        guard(|| {
            self.0
                .set_background_bandwidth_limit(unsigned64(bytes_per_second, "bytes_per_second")?)
        })
    }

    /// The background bandwidth limit in bytes per second (0: none): the one stored for
    /// the state directory, else the `background_bandwidth_limit` option.
    pub fn get_background_bandwidth_limit(&self) -> Result<i64> {
        guard(|| self.0.get_background_bandwidth_limit()).map(signed64)
    }

    /// Every job that is not ACKNOWLEDGED or CANCELLED, in creation order.
    pub fn enum_jobs(&self) -> Result<Vec<Arc<CopyJob>>> {
        guard(|| self.0.enum_jobs()).map(|v| v.into_iter().map(CopyJob::wrap).collect())
    }

    /// Stop every transfer (each checkpoints), flush the store and release the state
    /// directory. Jobs continue on the next `open`. Idempotent.
    pub fn close(&self) -> Result<()> {
        guard(|| self.0.close())
    }

    /// The state directory this manager owns (absolute, symlinks resolved).
    pub fn get_state_dir(&self) -> String {
        self.0.state_dir().to_string_lossy().into_owned()
    }
}

/// A transfer job (IBackgroundCopyJob). Several objects may stand for the same job.
#[derive(Debug, uniffi::Object)]
#[uniffi::export(Debug)]
pub struct CopyJob(pub(crate) bg::CopyJob);

impl CopyJob {
    pub(crate) fn wrap(job: bg::CopyJob) -> Arc<CopyJob> {
        Arc::new(CopyJob(job))
    }
}

#[uniffi::export]
impl CopyJob {
    /// Append a file: an http(s) URL and an absolute local path whose directory exists.
    pub fn add_file(&self, remote_url: String, local_path: String) -> Result<()> {
        guard(|| self.0.add_file(&remote_url, &local_path))
    }

    /// Append several files, all or nothing.
    pub fn add_file_set(&self, files: Vec<FileSpec>) -> Result<()> {
        let pairs: Vec<(&str, &str)> = files
            .iter()
            .map(|f| (f.remote_url.as_str(), f.local_path.as_str()))
            .collect();
        guard(|| self.0.add_file_set(&pairs))
    }

    /// The job's files, in order.
    pub fn enum_files(&self) -> Result<Vec<Arc<CopyFile>>> {
        guard(|| self.0.enum_files()).map(|v| {
            v.into_iter()
                .map(|f| Arc::new(CopyFile(f)))
                .collect::<Vec<_>>()
        })
    }

    /// → SUSPENDED: transfers stop, progress is kept.
    pub fn suspend(&self) -> Result<()> {
        guard(|| self.0.suspend())
    }

    /// → QUEUED (from SUSPENDED, ERROR, TRANSIENT_ERROR, or TRANSFERRED with new files);
    /// EMPTY when the job has no files.
    pub fn resume(&self) -> Result<()> {
        guard(|| self.0.resume())
    }

    /// → CANCELLED (final); every temporary file is deleted.
    pub fn cancel(&self) -> Result<()> {
        guard(|| self.0.cancel())
    }

    /// → ACKNOWLEDGED (final): the transferred files appear at their local paths
    /// atomically; `Partial` when some were not transferred (they are deleted).
    pub fn complete(&self) -> Result<Completion> {
        guard(|| self.0.complete()).map(Completion::from)
    }

    /// The job's id, canonical UUID text.
    pub fn get_id(&self) -> String {
        self.0.get_id()
    }

    /// The job's type.
    pub fn get_type(&self) -> Result<JobType> {
        guard(|| self.0.get_type()).map(JobType::from)
    }

    /// The job's state.
    pub fn get_state(&self) -> Result<JobState> {
        guard(|| self.0.get_state()).map(JobState::from)
    }

    /// The job's progress.
    pub fn get_progress(&self) -> Result<JobProgress> {
        guard(|| self.0.get_progress()).map(JobProgress::from)
    }

    /// The job's time stamps.
    pub fn get_times(&self) -> Result<JobTimes> {
        guard(|| self.0.get_times()).map(JobTimes::from)
    }

    /// The error, in ERROR / TRANSIENT_ERROR; else ERROR_INFORMATION_UNAVAILABLE.
    pub fn get_error(&self) -> Result<Arc<CopyError>> {
        guard(|| self.0.get_error()).map(|e| Arc::new(CopyError(e)))
    }

    /// The display name.
    pub fn get_display_name(&self) -> Result<String> {
        guard(|| self.0.get_display_name())
    }

    /// Set the display name (at most 256 characters, else STRING_TOO_LONG).
    pub fn set_display_name(&self, name: String) -> Result<()> {
        guard(|| self.0.set_display_name(&name))
    }

    /// The description.
    pub fn get_description(&self) -> Result<String> {
        guard(|| self.0.get_description())
    }

    /// Set the description (at most 1024 characters, else STRING_TOO_LONG).
    pub fn set_description(&self, text: String) -> Result<()> {
        guard(|| self.0.set_description(&text))
    }

    /// The notify command line, or null/nil when not set.
    pub fn get_notify_cmd_line(&self) -> Result<Option<NotifyCmdLine>> {
        guard(|| self.0.get_notify_cmd_line()).map(|c| c.map(NotifyCmdLine::from))
    }

    /// Set the notify command line (BITS `SetNotifyCmdLine`): whichever process runs
    /// the engine runs `program` (an absolute path) with `args`, without a shell and
    /// with `BGCOPY_JOB_ID` in its environment, once each time the job reaches
    /// TRANSFERRED or ERROR with the matching notification flag (again after the
    /// minimum retry delay while it exits non-zero). An empty program clears it.
    pub fn set_notify_cmd_line(&self, program: String, args: Vec<String>) -> Result<()> {
        guard(|| self.0.set_notify_cmd_line(&program, &args))
    }

    /// The custom header lines (`"Name: value"`); ACCESS_DENIED once they were made
    /// write-only.
    pub fn get_custom_headers(&self) -> Result<Vec<String>> {
        guard(|| self.0.get_custom_headers())
    }

    /// Set the custom header lines (BITS `SetCustomHeaders`), each `"Name: value"` (at
    /// most 64 lines of 8192 bytes, 64 KiB in all; no CR/LF/NUL; not Range, If-Range, Host or the
    /// framing headers). Sent with every request of the job, and with a redirect only
    /// to the same origin. An empty list clears them.
    pub fn set_custom_headers(&self, headers: Vec<String>) -> Result<()> {
        guard(|| self.0.set_custom_headers(&headers))
    }

    /// Make the custom headers write-only (BITS `MakeCustomHeadersWriteOnly`):
    /// `getCustomHeaders` fails with ACCESS_DENIED from now on; they can still be
    /// replaced. There is no way back.
    pub fn make_custom_headers_write_only(&self) -> Result<()> {
        guard(|| self.0.make_custom_headers_write_only())
    }

    /// The security flags (`SecurityFlag` values or-ed; default 0).
    pub fn get_security_flags(&self) -> Result<i32> {
        guard(|| self.0.get_security_flags()).map(signed32)
    }

    /// Set the security flags (BITS `SetSecurityFlags`): a redirect policy
    /// (`SecurityFlag.REDIRECT_*`) and `SecurityFlag.ALLOW_HTTPS_TO_HTTP`. BITS's
    /// certificate flags (0x0001-0x0010): E_NOTIMPL; other bits: INVALID_ARG.
    pub fn set_security_flags(&self, flags: i32) -> Result<()> {
        guard(|| self.0.set_security_flags(unsigned32(flags, "flags")?))
    }

    /// Set the credentials for `target` and `scheme`, replacing those set for the same
    /// pair (BITS `SetCredentials`). BASIC: `user` (no `:`) and the password as
    /// `secret`; BEARER: an empty `user` and the token as `secret`. Write-only: nothing
    /// returns or shows them. SERVER credentials go with every request to the file
    /// URL's origin, before any challenge (never after a redirect to another origin).
    pub fn set_credentials(
        &self,
        target: AuthTarget,
        scheme: AuthScheme,
        user: String,
        secret: String,
    ) -> Result<()> {
        guard(|| {
            self.0
                .set_credentials(target.into(), scheme.into(), &user, &secret)
        })
    }

    /// Forget the credentials for `target` and `scheme` (BITS `RemoveCredentials`); no
    /// error when there are none.
    pub fn remove_credentials(&self, target: AuthTarget, scheme: AuthScheme) -> Result<()> {
        guard(|| self.0.remove_credentials(target.into(), scheme.into()))
    }

    /// Choose the job's proxy (BITS `SetProxySettings`). PRECONFIG (the default): the
    /// environment's, like curl (`https_proxy` for https URLs, `http_proxy` for http
    /// URLs, else `all_proxy`; `no_proxy` bypasses). NO_PROXY: none. OVERRIDE: `proxy`
    /// is `http://`, `https://`, `socks5h://` or `socks5://` `host[:port]` (credentials
    /// with `set_credentials(PROXY, BASIC, …)`, not in the URL) and `bypass` lists hosts
    /// reached without it (`*`, host names with their subdomains, IP addresses, CIDR
    /// networks; comma separated). `proxy` and `bypass` empty for the other usages.
    pub fn set_proxy_settings(
        &self,
        usage: ProxyUsage,
        proxy: String,
        bypass: String,
    ) -> Result<()> {
        guard(|| self.0.set_proxy_settings(usage.into(), &proxy, &bypass))
    }

    /// The job's proxy settings (`proxy` and `bypass` empty unless OVERRIDE).
    pub fn get_proxy_settings(&self) -> Result<ProxySettings> {
        guard(|| self.0.get_proxy_settings()).map(|s| ProxySettings {
            usage: s.usage.into(),
            proxy: s.proxy,
            bypass: s.bypass,
        })
    }

    /// Present a TLS client certificate (mutual TLS): `cert_pem_path` holds the
    /// certificate (and chain), `key_pem_path` its private key (PKCS#8, PKCS#1 or
    /// SEC1). Both are read and checked now (INVALID_ARG naming the file). A server
    /// that refuses it fails the job with SECURE_FAILURE.
    pub fn set_client_certificate(
        &self,
        cert_pem_path: String,
        key_pem_path: String,
    ) -> Result<()> {
        guard(|| self.0.set_client_certificate(&cert_pem_path, &key_pem_path))
    }

    /// Stop presenting a client certificate (no error when there is none).
    pub fn remove_client_certificate(&self) -> Result<()> {
        guard(|| self.0.remove_client_certificate())
    }

    /// The maximum download time in seconds (0: no limit, the default).
    pub fn get_maximum_download_time(&self) -> Result<i32> {
        guard(|| self.0.get_maximum_download_time()).map(signed32)
    }

    /// Limit the time the job spends CONNECTING or TRANSFERRING, in seconds (BITS Job4
    /// `SetMaximumDownloadTime`; 0 removes the limit). Time QUEUED, SUSPENDED or in
    /// TRANSIENT_ERROR does not count; `resume()` starts the count again. When it
    /// passes, the job goes to ERROR with MAXDOWNLOAD_TIMEOUT.
    pub fn set_maximum_download_time(&self, seconds: i32) -> Result<()> {
        guard(|| {
            self.0
                .set_maximum_download_time(unsigned32(seconds, "seconds")?)
        })
    }

    /// How many connections one file of the job may use at once (segmented download,
    /// BITS Job5 HIGH_PERFORMANCE): the job's setting, else the manager's
    /// `max_connections_per_file` option.
    pub fn get_max_connections_per_file(&self) -> Result<i32> {
        guard(|| self.0.get_max_connections_per_file()).map(signed32)
    }

    /// Let one file of the job use up to `n` connections at once (1..=64; 1 = one
    /// stream). A file is split only when the server honours ranges for it and it is at
    /// least 2 MiB.
    pub fn set_max_connections_per_file(&self, n: i32) -> Result<()> {
        guard(|| self.0.set_max_connections_per_file(unsigned32(n, "n")?))
    }

    /// The job's bandwidth limit in bytes per second (0: none, the default).
    pub fn get_bandwidth_limit(&self) -> Result<i64> {
        guard(|| self.0.get_bandwidth_limit()).map(signed64)
    }

    /// Limit the job to `bytes_per_second` over all its connections (0: none); applies
    /// within a second while it transfers.
    pub fn set_bandwidth_limit(&self, bytes_per_second: i64) -> Result<()> {
        guard(|| {
            self.0
                .set_bandwidth_limit(unsigned64(bytes_per_second, "bytes_per_second")?)
        })
    }

    /// Give every file whose remote URL starts with `old_prefix` that URL with the
    /// prefix replaced by `new_prefix` (BITS Job3 `ReplaceRemotePrefix`), all or none;
    /// returns how many files changed. A file keeps its bytes when the new URL serves
    /// the same content (If-Range with the stored validator), else starts over.
    pub fn replace_remote_prefix(&self, old_prefix: String, new_prefix: String) -> Result<i32> {
        guard(|| self.0.replace_remote_prefix(&old_prefix, &new_prefix)).map(signed32)
    }

    /// The priority (default NORMAL).
    pub fn get_priority(&self) -> Result<Priority> {
        guard(|| self.0.get_priority()).map(Priority::from)
    }

    /// Set the priority.
    pub fn set_priority(&self, priority: Priority) -> Result<()> {
        guard(|| self.0.set_priority(priority.into()))
    }

    /// The notification flags (default JOB_TRANSFERRED | JOB_ERROR = 0x3).
    pub fn get_notify_flags(&self) -> Result<i32> {
        guard(|| self.0.get_notify_flags()).map(signed32)
    }

    /// Set the notification flags (`NotifyFlag` values or-ed); unknown bits: INVALID_ARG.
    pub fn set_notify_flags(&self, flags: i32) -> Result<()> {
        guard(|| self.0.set_notify_flags(unsigned32(flags, "flags")?))
    }

    /// The callback object set with `setNotifyInterface`, or null/nil.
    pub fn get_notify_interface(&self) -> Result<Option<Arc<dyn CopyCallback>>> {
        guard(|| callback::foreign(&self.0))
    }

    /// Set (or with null/nil clear) the callback object. Not persisted.
    pub fn set_notify_interface(&self, callback: Option<Arc<dyn CopyCallback>>) -> Result<()> {
        let cb = callback.map(callback::adapt);
        guard(|| self.0.set_notify_interface(cb))
    }

    /// Seconds without progress before a transient error becomes ERROR (default 1 209 600).
    pub fn get_no_progress_timeout(&self) -> Result<i32> {
        guard(|| self.0.get_no_progress_timeout()).map(signed32)
    }

    /// Set the no-progress timeout in seconds; 0 makes every error fatal.
    pub fn set_no_progress_timeout(&self, seconds: i32) -> Result<()> {
        guard(|| {
            self.0
                .set_no_progress_timeout(unsigned32(seconds, "seconds")?)
        })
    }

    /// The minimum retry delay in seconds (default 600).
    pub fn get_minimum_retry_delay(&self) -> Result<i32> {
        guard(|| self.0.get_minimum_retry_delay()).map(signed32)
    }

    /// Set the minimum retry delay in seconds.
    pub fn set_minimum_retry_delay(&self, seconds: i32) -> Result<()> {
        guard(|| {
            self.0
                .set_minimum_retry_delay(unsigned32(seconds, "seconds")?)
        })
    }

    /// Errors seen (transient and fatal); never reset.
    pub fn get_error_count(&self) -> Result<i32> {
        guard(|| self.0.get_error_count()).map(signed32)
    }

    /// Block until the job is TRANSFERRED, ERROR, ACKNOWLEDGED or CANCELLED, or
    /// `timeoutMs` milliseconds pass (null/nil: no timeout; also returns when the
    /// manager closes); returns the state. Use `waitAsync` from a coroutine / task.
    #[uniffi::method(default(timeout_ms = None))]
    pub fn wait(&self, timeout_ms: Option<i64>) -> Result<JobState> {
        guard(|| self.0.wait(timeout(timeout_ms)?)).map(JobState::from)
    }

    /// `wait` without blocking the caller: Kotlin `suspend fun`, Swift `async`. The wait
    /// runs on a helper thread; a cancelled Kotlin coroutine ends it within 200 ms. A
    /// cancelled Swift task does not (UniFFI's Swift futures have no cancellation hook):
    /// Swift's `job.wait(timeout:)` waits in slices and stops on cancellation.
    #[uniffi::method(default(timeout_ms = None))]
    pub async fn wait_async(&self, timeout_ms: Option<i64>) -> Result<JobState> {
        let (tx, rx) = crate::oneshot::channel();
        let timeout = guard(|| timeout(timeout_ms))?;
        // A cancelled coroutine / task (the receiver is gone) ends the wait.
        let cancelled = tx.closed_check();
        guard(|| {
            self.0
                .wait_in_background(timeout, Duration::from_millis(200), cancelled, move |r| {
                    if let Some(r) = r {
                        tx.send(r.map(|o| JobState::from(o.state)).map_err(Into::into));
                    }
                })
        })?;
        rx.await.unwrap_or_else(|| {
            Err(BgCopyError::new(
                bg::codes::E_UNEXPECTED,
                "the wait thread ended without an answer",
            ))
        })
    }
}

/// One file of a job (IBackgroundCopyFile).
#[derive(Debug, uniffi::Object)]
#[uniffi::export(Debug)]
pub struct CopyFile(pub(crate) bg::CopyFile);

#[uniffi::export]
impl CopyFile {
    /// The remote URL.
    pub fn get_remote_name(&self) -> Result<String> {
        guard(|| self.0.get_remote_name())
    }

    /// The local path.
    pub fn get_local_name(&self) -> Result<String> {
        guard(|| self.0.get_local_name())
    }

    /// The hidden temporary file that holds the bytes until `complete()` (BITS File3
    /// `GetTemporaryName`), beside the local path.
    pub fn get_temporary_name(&self) -> Result<String> {
        guard(|| self.0.get_temporary_name())
    }

    /// The last response's header lines (`Name: value`; empty before any response). A
    /// value holding one of the job's secrets shows as `***`.
    pub fn get_response_headers(&self) -> Result<Vec<String>> {
        guard(|| self.0.get_response_headers())
    }

    /// Check the content before the file counts as transferred: `algorithm` `sha256`,
    /// `hex` its 64 hexadecimal digits. A mismatch drops the bytes and puts the job in
    /// ERROR with VALIDATION_FAILED; `resume()` fetches the file again. An empty
    /// `algorithm` removes the check. INVALID_STATE once the bytes are all transferred.
    pub fn set_expected_hash(&self, algorithm: String, hex: String) -> Result<()> {
        guard(|| self.0.set_expected_hash(&algorithm, &hex))
    }

    /// The expected digest, or null/nil.
    pub fn get_expected_hash(&self) -> Result<Option<ExpectedHash>> {
        guard(|| self.0.get_expected_hash())
            .map(|h| h.map(|(algorithm, hex)| ExpectedHash { algorithm, hex }))
    }

    /// The app's verdict once the file is transferred (BITS File3
    /// `SetValidationState`): true marks the bytes valid; false drops them and puts the
    /// job in ERROR with VALIDATION_FAILED (`resume()` fetches the file again).
    pub fn set_validation_state(&self, valid: bool) -> Result<()> {
        guard(|| self.0.set_validation_state(valid))
    }

    /// Whether the app marked the bytes valid (false until it does).
    pub fn get_validation_state(&self) -> Result<bool> {
        guard(|| self.0.get_validation_state())
    }

    /// Give the file a new remote URL (BITS File2 `SetRemoteName`: an expired signed
    /// URL, a new token, a mirror), checked like `add_file`'s; not on a final job. The
    /// bytes already here are kept when the new URL serves the same content (If-Range
    /// with the stored validator), else the file starts over.
    pub fn set_remote_name(&self, url: String) -> Result<()> {
        guard(|| self.0.set_remote_name(&url))
    }

    /// The URL the file's last response came from, after redirects; null/nil before
    /// any response.
    pub fn get_final_url(&self) -> Result<Option<String>> {
        guard(|| self.0.get_final_url())
    }

    /// The file's progress.
    pub fn get_progress(&self) -> Result<FileProgress> {
        guard(|| self.0.get_progress()).map(FileProgress::from)
    }

    /// The file's position in its job (0-based).
    pub fn get_index(&self) -> i32 {
        i32::try_from(self.0.index()).unwrap_or(i32::MAX)
    }
}

/// The error of a job in ERROR / TRANSIENT_ERROR (IBackgroundCopyError): a snapshot.
#[derive(Debug, uniffi::Object)]
#[uniffi::export(Debug)]
pub struct CopyError(pub(crate) bg::CopyError);

#[uniffi::export]
impl CopyError {
    /// Where the error came from, and its code.
    pub fn get_error(&self) -> ErrorInfo {
        let (context, code) = self.0.get_error();
        ErrorInfo {
            context: context.into(),
            code: i64::from(code),
            symbol: bg::codes::symbol(code),
        }
    }

    /// The file it is about, or FILE_NOT_AVAILABLE.
    pub fn get_file(&self) -> Result<Arc<CopyFile>> {
        guard(|| self.0.get_file()).map(|f| Arc::new(CopyFile(f)))
    }

    /// What went wrong, for people.
    pub fn get_error_description(&self) -> String {
        self.0.get_error_description()
    }

    /// What the context means, for people.
    pub fn get_error_context_description(&self) -> String {
        self.0.get_error_context_description()
    }

    /// "http" or "https", or PROTOCOL_NOT_AVAILABLE.
    pub fn get_protocol(&self) -> Result<String> {
        guard(|| self.0.get_protocol())
    }
}

/// A wait's timeout in milliseconds (null/nil: none; negative: INVALID_ARG).
fn timeout(ms: Option<i64>) -> bg::Result<Option<Duration>> {
    ms.map(|v| unsigned64(v, "timeout_ms").map(Duration::from_millis))
        .transpose()
}
