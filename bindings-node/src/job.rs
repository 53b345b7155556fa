//! `CopyJob` (IBackgroundCopyJob), `CopyFile` (IBackgroundCopyFile) and `CopyError`
//! (IBackgroundCopyError): one-line forwards to the core plus conversions.

use crate::args;
use crate::callback::JsCallback;
use crate::error::{OrThrow, to_js};
use crate::manager::Mgr;
use crate::types::*;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A transfer job (IBackgroundCopyJob). Get one from `CopyManager.createJob`,
/// `getJob` or `enumJobs`; several JS objects may stand for the same job (compare
/// `getId()`). Every mutator of an acknowledged or cancelled job throws
/// `INVALID_STATE`; getters always work.
#[napi]
pub struct CopyJob {
    job: bgcopy::CopyJob,
    mgr: Arc<Mgr>,
}

impl CopyJob {
    pub(crate) fn new(job: bgcopy::CopyJob, mgr: Arc<Mgr>) -> Self {
        CopyJob { job, mgr }
    }
}

#[napi]
impl CopyJob {
    /// Append a file: `remoteUrl` http(s), `localPath` absolute in an existing
    /// directory, not already a file of this job.
    #[napi]
    pub fn add_file(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] remote_url: Unknown,
        #[napi(ts_arg_type = "string")] local_path: Unknown,
    ) -> Result<()> {
        let remote = args::string(env, remote_url, "remoteUrl")?;
        let local = args::string(env, local_path, "localPath")?;
        self.job.add_file(&remote, &local).or_throw(env)
    }

    /// Append several files, all or none: `[[remoteUrl, localPath], …]`.
    #[napi]
    pub fn add_file_set(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "Array<[remoteUrl: string, localPath: string]>")] files: Unknown,
    ) -> Result<()> {
        let pairs = args::file_pairs(env, files, "files")?;
        self.job.add_file_set(&pairs).or_throw(env)
    }

    /// The job's files, in the order they were added.
    #[napi]
    pub fn enum_files(&self, env: &Env) -> Result<Vec<CopyFile>> {
        let files = self.job.enum_files().or_throw(env)?;
        Ok(files.into_iter().map(CopyFile::new).collect())
    }

    /// Stop transferring (→ `Suspended`); progress is kept.
    #[napi]
    pub fn suspend(&self, env: &Env) -> Result<()> {
        self.job.suspend().or_throw(env)
    }

    /// Queue the job (→ `Queued`) from `Suspended`, `Error`, `TransientError`, or
    /// `Transferred` with new files; clears the error. `EMPTY` when it has no files.
    #[napi]
    pub fn resume(&self, env: &Env) -> Result<()> {
        self.job.resume().or_throw(env)
    }

    /// End the job (→ `Cancelled`, final) and delete every temporary file.
    #[napi]
    pub fn cancel(&self, env: &Env) -> Result<()> {
        self.job.cancel().or_throw(env)
    }

    /// End the job (→ `Acknowledged`, final): every fully transferred file appears at
    /// its local path atomically; partial ones are deleted. Returns `'OK'`, or
    /// `'PARTIAL_COMPLETE'` when some files were not transferred (a success code,
    /// 0x00200017). If moving a file into place fails, the job stays as it was and
    /// the error is thrown; calling again finishes the rest.
    #[napi(ts_return_type = "'OK' | 'PARTIAL_COMPLETE'")]
    pub fn complete(&self, env: &Env) -> Result<String> {
        let c = self.job.complete().or_throw(env)?;
        Ok(bgcopy::codes::symbol(c.code()))
    }

    /// The job's id: canonical UUID text.
    #[napi]
    pub fn get_id(&self) -> String {
        self.job.get_id()
    }

    /// The job's type.
    #[napi]
    pub fn get_type(&self, env: &Env) -> Result<JobType> {
        self.job.get_type().or_throw(env).map(Into::into)
    }

    /// The job's state.
    #[napi]
    pub fn get_state(&self, env: &Env) -> Result<JobState> {
        self.job.get_state().or_throw(env).map(Into::into)
    }

    /// The job's progress (byte counts as `bigint`).
    #[napi]
    pub fn get_progress(&self, env: &Env) -> Result<JobProgress> {
        self.job.get_progress().or_throw(env).map(Into::into)
    }

    /// The job's time stamps.
    #[napi]
    pub fn get_times(&self, env: &Env) -> Result<JobTimes> {
        self.job.get_times().or_throw(env).map(Into::into)
    }

    /// The error of a job in `Error` or `TransientError`; otherwise throws
    /// `ERROR_INFORMATION_UNAVAILABLE`.
    #[napi]
    pub fn get_error(&self, env: &Env) -> Result<CopyError> {
        self.job.get_error().or_throw(env).map(CopyError::new)
    }

    /// The display name.
    #[napi]
    pub fn get_display_name(&self, env: &Env) -> Result<String> {
        self.job.get_display_name().or_throw(env)
    }

    /// Set the display name (≤ 256 characters, else `STRING_TOO_LONG`).
    #[napi]
    pub fn set_display_name(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] name: Unknown,
    ) -> Result<()> {
        let name = args::string(env, name, "name")?;
        self.job.set_display_name(&name).or_throw(env)
    }

    /// The description.
    #[napi]
    pub fn get_description(&self, env: &Env) -> Result<String> {
        self.job.get_description().or_throw(env)
    }

    /// Set the description (≤ 1024 characters, else `STRING_TOO_LONG`).
    #[napi]
    pub fn set_description(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] text: Unknown,
    ) -> Result<()> {
        let text = args::string(env, text, "text")?;
        self.job.set_description(&text).or_throw(env)
    }

    /// The notify command line, or `null` when not set.
    #[napi]
    pub fn get_notify_cmd_line(&self, env: &Env) -> Result<Option<NotifyCmdLine>> {
        Ok(self
            .job
            .get_notify_cmd_line()
            .or_throw(env)?
            .map(|c| NotifyCmdLine {
                program: c.program,
                args: c.args,
            }))
    }

    /// Set the notify command line (BITS `SetNotifyCmdLine`): whichever process runs
    /// the engine runs `program` (an absolute path) with `args`, without a shell and
    /// with `BGCOPY_JOB_ID` in its environment, once each time the job reaches
    /// TRANSFERRED or ERROR with the matching notification flag (again after the
    /// minimum retry delay while it exits non-zero). `''` clears it.
    #[napi]
    pub fn set_notify_cmd_line(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] program: Unknown,
        #[napi(ts_arg_type = "string[] | undefined | null")] cmd_args: Option<Unknown>,
    ) -> Result<()> {
        let program = args::string(env, program, "program")?;
        let list = match cmd_args.filter(|a| !args::is_nullish(a)) {
            Some(a) => args::strings(env, a, "args")?,
            None => Vec::new(),
        };
        self.job.set_notify_cmd_line(&program, &list).or_throw(env)
    }

    /// The custom header lines (`"Name: value"`); throws `ACCESS_DENIED` once they were
    /// made write-only.
    #[napi]
    pub fn get_custom_headers(&self, env: &Env) -> Result<Vec<String>> {
        self.job.get_custom_headers().or_throw(env)
    }

    /// Set the custom header lines (BITS `SetCustomHeaders`), each `"Name: value"` (at
    /// most 64 lines of 8192 bytes, 64 KiB in all; no CR/LF/NUL; not Range, If-Range, Host or the
    /// framing headers). Sent with every request of the job, and with a redirect only
    /// to the same origin. `[]` clears them.
    #[napi]
    pub fn set_custom_headers(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string[]")] headers: Unknown,
    ) -> Result<()> {
        let list = args::strings(env, headers, "headers")?;
        self.job.set_custom_headers(&list).or_throw(env)
    }

    /// Make the custom headers write-only (BITS `MakeCustomHeadersWriteOnly`):
    /// `getCustomHeaders` throws `ACCESS_DENIED` from now on; they can still be
    /// replaced. There is no way back.
    #[napi]
    pub fn make_custom_headers_write_only(&self, env: &Env) -> Result<()> {
        self.job.make_custom_headers_write_only().or_throw(env)
    }

    /// The security flags (`SecurityFlags` bits; default 0).
    #[napi]
    pub fn get_security_flags(&self, env: &Env) -> Result<u32> {
        self.job.get_security_flags().or_throw(env)
    }

    /// Set the security flags (BITS `SetSecurityFlags`): a redirect policy
    /// (`SecurityFlags.Redirect*`) and `SecurityFlags.AllowHttpsToHttp`. BITS's
    /// certificate flags (0x0001-0x0010) throw `E_NOTIMPL`, other bits `INVALID_ARG`.
    #[napi]
    pub fn set_security_flags(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "number")] flags: Unknown,
    ) -> Result<()> {
        let flags = args::uint32(env, flags, "flags")?;
        self.job.set_security_flags(flags).or_throw(env)
    }

    /// Set the credentials for `target` (`AuthTarget`) and `scheme` (`AuthScheme`),
    /// replacing those set for the same pair (BITS `SetCredentials`). BASIC: `user`
    /// (no `:`) and the password as `secret`; BEARER: `user` `""` and the token as
    /// `secret`. Write-only: nothing returns or shows them. SERVER credentials go with
    /// every request to the file URL's origin, before any challenge (never after a
    /// redirect to another origin).
    #[napi]
    pub fn set_credentials(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "AuthTarget")] target: Unknown,
        #[napi(ts_arg_type = "AuthScheme")] scheme: Unknown,
        #[napi(ts_arg_type = "string")] user: Unknown,
        #[napi(ts_arg_type = "string")] secret: Unknown,
    ) -> Result<()> {
        let (target, scheme) = auth(env, target, scheme)?;
        let user = args::string(env, user, "user")?;
        let secret = args::string(env, secret, "secret")?;
        self.job
            .set_credentials(target, scheme, &user, &secret)
            .or_throw(env)
    }

    /// Forget the credentials for `target` and `scheme` (BITS `RemoveCredentials`);
    /// no error when there are none.
    #[napi]
    pub fn remove_credentials(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "AuthTarget")] target: Unknown,
        #[napi(ts_arg_type = "AuthScheme")] scheme: Unknown,
    ) -> Result<()> {
        let (target, scheme) = auth(env, target, scheme)?;
        self.job.remove_credentials(target, scheme).or_throw(env)
    }

    /// Choose the job's proxy (BITS `SetProxySettings`). `ProxyUsage.Preconfig` (the
    /// default): the environment's, like curl (`https_proxy` for https URLs,
    /// `http_proxy` for http URLs, else `all_proxy`; `no_proxy` bypasses).
    /// `ProxyUsage.NoProxy`: none. `ProxyUsage.Override`: `proxy` is `http://`,
    /// `https://`, `socks5h://` or `socks5://` `host[:port]` (credentials with
    /// `setCredentials(AuthTarget.Proxy, AuthScheme.Basic, …)`, not in the URL) and
    /// `bypass` lists hosts reached without it (`*`, host names with their subdomains,
    /// IP addresses, CIDR networks; comma separated).
    #[napi]
    pub fn set_proxy_settings(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "ProxyUsage")] usage: Unknown,
        #[napi(ts_arg_type = "string")] proxy: Option<Unknown>,
        #[napi(ts_arg_type = "string")] bypass: Option<Unknown>,
    ) -> Result<()> {
        let usage = args::enum_value(env, usage, "usage", |w, n| {
            bgcopy::ProxyUsage::try_from_number(w, n)
        })?;
        let proxy = args::opt_string(env, proxy, "proxy")?.unwrap_or_default();
        let bypass = args::opt_string(env, bypass, "bypass")?.unwrap_or_default();
        self.job
            .set_proxy_settings(usage, &proxy, &bypass)
            .or_throw(env)
    }

    /// The job's proxy settings (`proxy` and `bypass` empty unless `Override`).
    #[napi]
    pub fn get_proxy_settings(&self, env: &Env) -> Result<ProxySettings> {
        let s = self.job.get_proxy_settings().or_throw(env)?;
        Ok(ProxySettings {
            usage: s.usage.into(),
            proxy: s.proxy,
            bypass: s.bypass,
        })
    }

    /// Present a TLS client certificate (mutual TLS): `certPemPath` holds the
    /// certificate (and chain), `keyPemPath` its private key (PKCS#8, PKCS#1 or SEC1).
    /// Both are read and checked now (`INVALID_ARG` naming the file); the job stores
    /// their absolute paths. A server that refuses it fails the job with
    /// `SECURE_FAILURE`.
    #[napi]
    pub fn set_client_certificate(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] cert_pem_path: Unknown,
        #[napi(ts_arg_type = "string")] key_pem_path: Unknown,
    ) -> Result<()> {
        let cert = args::string(env, cert_pem_path, "certPemPath")?;
        let key = args::string(env, key_pem_path, "keyPemPath")?;
        self.job.set_client_certificate(&cert, &key).or_throw(env)
    }

    /// Stop presenting a client certificate (no error when there is none).
    #[napi]
    pub fn remove_client_certificate(&self, env: &Env) -> Result<()> {
        self.job.remove_client_certificate().or_throw(env)
    }

    /// The maximum download time in seconds (0: no limit, the default).
    #[napi]
    pub fn get_maximum_download_time(&self, env: &Env) -> Result<u32> {
        self.job.get_maximum_download_time().or_throw(env)
    }

    /// Limit the time the job spends CONNECTING or TRANSFERRING, in seconds (BITS
    /// Job4 `SetMaximumDownloadTime`; 0 removes the limit). Time QUEUED, SUSPENDED or
    /// in TRANSIENT_ERROR does not count; `resume()` starts the count again. When it
    /// passes, the job goes to ERROR with `MAXDOWNLOAD_TIMEOUT`.
    #[napi]
    pub fn set_maximum_download_time(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "number")] seconds: Unknown,
    ) -> Result<()> {
        let s = args::uint32(env, seconds, "seconds")?;
        self.job.set_maximum_download_time(s).or_throw(env)
    }

    /// How many connections one file of the job may use at once (segmented download,
    /// BITS Job5 HIGH_PERFORMANCE): the job's setting, else the manager's
    /// `maxConnectionsPerFile` option.
    #[napi]
    pub fn get_max_connections_per_file(&self, env: &Env) -> Result<u32> {
        self.job.get_max_connections_per_file().or_throw(env)
    }

    /// Let one file of the job use up to `n` connections at once (1..=64; 1 = one
    /// stream). A file is split only when the server honours ranges for it and it is
    /// at least 2 MiB.
    #[napi]
    pub fn set_max_connections_per_file(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "number")] n: Unknown,
    ) -> Result<()> {
        let n = args::uint32(env, n, "n")?;
        self.job.set_max_connections_per_file(n).or_throw(env)
    }

    /// The job's bandwidth limit in bytes per second (0: none, the default).
    #[napi]
    pub fn get_bandwidth_limit(&self, env: &Env) -> Result<f64> {
        self.job
            .get_bandwidth_limit()
            .map(|n| n as f64)
            .or_throw(env)
    }

    /// Limit the job to `bytesPerSecond` over all its connections (0: none); applies
    /// within a second while it transfers.
    #[napi]
    pub fn set_bandwidth_limit(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "number")] bytes_per_second: Unknown,
    ) -> Result<()> {
        const SAFE: f64 = 9_007_199_254_740_991.0; // Number.MAX_SAFE_INTEGER
        let n = args::integer(env, &bytes_per_second, "bytesPerSecond", 0.0, SAFE)? as u64;
        self.job.set_bandwidth_limit(n).or_throw(env)
    }

    /// Give every file whose remote URL starts with `oldPrefix` that URL with the
    /// prefix replaced by `newPrefix` (BITS Job3 `ReplaceRemotePrefix`), all or none;
    /// returns how many files changed. A file keeps its bytes when the new URL serves
    /// the same content (If-Range with the stored validator), else starts over.
    #[napi]
    pub fn replace_remote_prefix(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] old_prefix: Unknown,
        #[napi(ts_arg_type = "string")] new_prefix: Unknown,
    ) -> Result<u32> {
        let old = args::string(env, old_prefix, "oldPrefix")?;
        let new = args::string(env, new_prefix, "newPrefix")?;
        self.job.replace_remote_prefix(&old, &new).or_throw(env)
    }

    /// The priority (default `Priority.Normal`).
    #[napi]
    pub fn get_priority(&self, env: &Env) -> Result<Priority> {
        self.job.get_priority().or_throw(env).map(Into::into)
    }

    /// Set the priority; the scheduler re-evaluates at once (a higher priority
    /// pre-empts a lower one).
    #[napi]
    pub fn set_priority(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "Priority")] priority: Unknown,
    ) -> Result<()> {
        let p = args::enum_value(env, priority, "priority", |w, n| {
            bgcopy::Priority::try_from_number(w, n)
        })?;
        self.job.set_priority(p).or_throw(env)
    }

    /// The notification flags (`NotifyFlags` bits; default
    /// `JobTransferred | JobError`, 3).
    #[napi]
    pub fn get_notify_flags(&self, env: &Env) -> Result<u32> {
        self.job.get_notify_flags().or_throw(env)
    }

    /// Set the notification flags: `NotifyFlags` values combined with `|`. Unknown bits
    /// throw `INVALID_ARG`.
    #[napi]
    pub fn set_notify_flags(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "number")] flags: Unknown,
    ) -> Result<()> {
        let flags = args::uint32(env, flags, "flags")?;
        self.job.set_notify_flags(flags).or_throw(env)
    }

    /// The handler object set with `setNotifyInterface` (the same object), or `null`.
    /// The job lets go of it when it reaches a final state or the manager closes.
    #[napi(ts_return_type = "CopyCallback | null")]
    pub fn get_notify_interface<'e>(&self, env: &'e Env) -> Result<Option<Unknown<'e>>> {
        match self
            .job
            .get_notify_interface_as::<JsCallback>()
            .or_throw(env)?
        {
            Some(cb) => cb.object(env).map(Some),
            None => Ok(None),
        }
    }

    /// Set the notification handlers, or clear them with `null`/`undefined`: an object
    /// with any of `jobTransferred(job)`, `jobError(job, error)`,
    /// `jobModification(job)`, `fileTransferred(job, file)`, called as its methods on
    /// the JS thread when the flags select them. A handler that throws (or returns a
    /// promise that rejects) is reported with `process.emitWarning` and counts as a
    /// failed delivery: `jobTransferred` and `jobError` are called again after the
    /// minimum retry delay. The job keeps the process alive while handlers are set,
    /// until it is final (acknowledged or cancelled), the handlers are cleared, or the
    /// manager closes. Not persisted.
    #[napi]
    pub fn set_notify_interface(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "CopyCallback | null")] callback: Option<Unknown>,
    ) -> Result<()> {
        let cb = match callback.filter(|v| !args::is_nullish(v)) {
            Some(v) => Some(JsCallback::new(env, v, &self.mgr)?),
            None => None,
        };
        self.job
            .set_notify_interface(cb.map(|c| c as Arc<dyn bgcopy::CopyCallback>))
            .or_throw(env)
    }

    /// Seconds without progress before a transient error becomes an error (default
    /// 1209600, 14 days).
    #[napi]
    pub fn get_no_progress_timeout(&self, env: &Env) -> Result<u32> {
        self.job.get_no_progress_timeout().or_throw(env)
    }

    /// Set the no-progress timeout in seconds (0 to 4294967295); 0 makes every error
    /// fatal.
    #[napi]
    pub fn set_no_progress_timeout(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "number")] seconds: Unknown,
    ) -> Result<()> {
        let s = args::uint32(env, seconds, "seconds")?;
        self.job.set_no_progress_timeout(s).or_throw(env)
    }

    /// The minimum retry delay in seconds (default 600).
    #[napi]
    pub fn get_minimum_retry_delay(&self, env: &Env) -> Result<u32> {
        self.job.get_minimum_retry_delay().or_throw(env)
    }

    /// Set the minimum retry delay in seconds (0 to 4294967295): the cap of the
    /// transient-error backoff and the delay before a failed notification is
    /// delivered again.
    #[napi]
    pub fn set_minimum_retry_delay(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "number")] seconds: Unknown,
    ) -> Result<()> {
        let s = args::uint32(env, seconds, "seconds")?;
        self.job.set_minimum_retry_delay(s).or_throw(env)
    }

    /// Errors seen (transient and fatal, plus restarts of changed files); never reset.
    #[napi]
    pub fn get_error_count(&self, env: &Env) -> Result<u32> {
        self.job.get_error_count().or_throw(env)
    }

    /// This job's event stream (what `job.events()` reads; use that).
    #[napi(js_name = "_eventStream")]
    pub fn event_stream(&self, env: &Env) -> Result<crate::idioms::JobEventStream> {
        let stream = self.job.events().or_throw(env)?;
        Ok(crate::idioms::JobEventStream::new(stream, self.mgr.clone()))
    }

    /// Resolve once the job is `Transferred`, `Error`, `Acknowledged` or `Cancelled`
    /// (or the manager closes), or when `timeoutMs` passes (omitted, `null` or
    /// `Infinity`: no timeout), with the job's state then. Never blocks the event
    /// loop: the wait runs on a thread of its own. A pending wait keeps the process
    /// alive, like a timer. An aborted `options.signal` rejects the promise with the
    /// signal's reason and ends the wait's thread.
    #[napi(
        ts_args_type = "timeoutMs?: number | null, options?: { signal?: AbortSignal } | null",
        ts_return_type = "Promise<JobState>"
    )]
    pub fn wait<'e>(
        &self,
        env: &'e Env,
        timeout_ms: Option<Unknown>,
        // index.js turns `options.signal` into this token.
        cancel: Option<&WaitCancel>,
    ) -> Result<Object<'e>> {
        let timeout = args::timeout_ms(env, timeout_ms, "timeoutMs")?;
        let (deferred, promise) = env.create_deferred()?;
        // Holds the manager open while waiting, even if the script let go of it.
        let mgr = self.mgr.clone();
        let (flag, slice) = match cancel {
            // A cancel is seen within a tenth of a second.
            Some(c) => (c.flag.clone(), std::time::Duration::from_millis(100)),
            None => (Arc::new(AtomicBool::new(false)), std::time::Duration::MAX),
        };
        self.job
            .wait_in_background(
                timeout,
                slice,
                move || flag.load(Ordering::SeqCst),
                move |r| {
                    drop(mgr);
                    deferred.resolve(move |env| match r {
                        Some(Ok(o)) => Ok(JobState::from(o.state)),
                        Some(Err(e)) => Err(to_js(&env, &e)),
                        // index.js rejects with the signal's reason instead.
                        None => Err(Error::new(Status::Cancelled, "the wait was aborted")),
                    });
                },
            )
            .or_throw(env)?;
        Ok(promise)
    }
}

/// What index.js hands `wait()` for an `AbortSignal`: `cancel()` ends the wait.
#[napi(js_name = "_WaitCancel")]
pub struct WaitCancel {
    flag: Arc<AtomicBool>,
}

#[napi]
impl WaitCancel {
    #[napi(constructor)]
    pub fn new() -> Self {
        WaitCancel {
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    /// End the wait it was given to.
    #[napi]
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }
}

/// One file of a job (IBackgroundCopyFile).
#[napi]
pub struct CopyFile {
    file: bgcopy::CopyFile,
}

impl CopyFile {
    pub(crate) fn new(file: bgcopy::CopyFile) -> Self {
        CopyFile { file }
    }
}

#[napi]
impl CopyFile {
    /// The remote URL.
    #[napi]
    pub fn get_remote_name(&self, env: &Env) -> Result<String> {
        self.file.get_remote_name().or_throw(env)
    }

    /// The local path (absolute, its directory resolved as the kernel resolves it).
    #[napi]
    pub fn get_local_name(&self, env: &Env) -> Result<String> {
        self.file.get_local_name().or_throw(env)
    }

    /// The hidden temporary file that holds the bytes until `complete()` (BITS File3
    /// `GetTemporaryName`), beside the local path.
    #[napi]
    pub fn get_temporary_name(&self, env: &Env) -> Result<String> {
        self.file.get_temporary_name().or_throw(env)
    }

    /// Give the file a new remote URL (BITS File2 `SetRemoteName`: an expired signed
    /// URL, a new token, a mirror), checked like `addFile`'s; not on a final job. The
    /// bytes already here are kept when the new URL serves the same content (If-Range
    /// with the stored validator), else the file starts over.
    #[napi]
    pub fn set_remote_name(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] url: Unknown,
    ) -> Result<()> {
        let url = args::string(env, url, "url")?;
        self.file.set_remote_name(&url).or_throw(env)
    }

    /// The last response's header lines (`Name: value`; empty before any response). A
    /// value holding one of the job's secrets shows as `***`.
    #[napi]
    pub fn get_response_headers(&self, env: &Env) -> Result<Vec<String>> {
        self.file.get_response_headers().or_throw(env)
    }

    /// Check the content before the file counts as transferred: `algorithm`
    /// `'sha256'`, `hex` its 64 hexadecimal digits. A mismatch drops the bytes and puts
    /// the job in ERROR with `VALIDATION_FAILED`; `resume()` fetches the file again.
    /// `''` removes the check. `INVALID_STATE` once the bytes are all transferred.
    #[napi]
    pub fn set_expected_hash(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] algorithm: Unknown,
        #[napi(ts_arg_type = "string")] hex: Unknown,
    ) -> Result<()> {
        let algorithm = args::string(env, algorithm, "algorithm")?;
        let hex = args::string(env, hex, "hex")?;
        self.file.set_expected_hash(&algorithm, &hex).or_throw(env)
    }

    /// The expected digest `{ algorithm, hex }`, or `null`.
    #[napi]
    pub fn get_expected_hash(&self, env: &Env) -> Result<Option<ExpectedHash>> {
        Ok(self
            .file
            .get_expected_hash()
            .or_throw(env)?
            .map(|(algorithm, hex)| ExpectedHash { algorithm, hex }))
    }

    /// The app's verdict once the file is transferred (BITS File3
    /// `SetValidationState`): `true` marks the bytes valid; `false` drops them and puts
    /// the job in ERROR with `VALIDATION_FAILED` (`resume()` fetches the file again).
    #[napi]
    pub fn set_validation_state(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "boolean")] valid: Unknown,
    ) -> Result<()> {
        let valid = args::boolean(env, &valid, "valid")?;
        self.file.set_validation_state(valid).or_throw(env)
    }

    /// Whether the app marked the bytes valid (`false` until it does).
    #[napi]
    pub fn get_validation_state(&self, env: &Env) -> Result<bool> {
        self.file.get_validation_state().or_throw(env)
    }

    /// The URL the file's last response came from, after redirects; `null` before any
    /// response.
    #[napi]
    pub fn get_final_url(&self, env: &Env) -> Result<Option<String>> {
        self.file.get_final_url().or_throw(env)
    }

    /// The file's progress (byte counts as `bigint`); `completed` only once
    /// `complete()` made the file visible.
    #[napi]
    pub fn get_progress(&self, env: &Env) -> Result<FileProgress> {
        self.file.get_progress().or_throw(env).map(Into::into)
    }

    /// The file's position in its job (0-based).
    #[napi(getter)]
    pub fn index(&self) -> u32 {
        self.file.index() as u32
    }
}

/// The error of a job in `Error` / `TransientError` (IBackgroundCopyError): a snapshot
/// taken by `getError()` or passed to `jobError`.
#[napi]
pub struct CopyError {
    error: bgcopy::CopyError,
}

impl CopyError {
    pub(crate) fn new(error: bgcopy::CopyError) -> Self {
        CopyError { error }
    }
}

#[napi]
impl CopyError {
    /// Where the error came from and its code (`code` the unsigned 32-bit HRESULT,
    /// `symbol` its name, e.g. `'HTTP_404'`).
    #[napi]
    pub fn get_error(&self) -> ErrorInfo {
        let (context, code) = self.error.get_error();
        ErrorInfo {
            context: context.into(),
            code,
            symbol: bgcopy::codes::symbol(code),
        }
    }

    /// The file the error is about; throws `FILE_NOT_AVAILABLE` when it is about the
    /// job as a whole.
    #[napi]
    pub fn get_file(&self, env: &Env) -> Result<CopyFile> {
        self.error.get_file().or_throw(env).map(CopyFile::new)
    }

    /// This error as the `BgCopyError` a call would throw for it (`HttpError` with
    /// `status` for an HTTP error, …), e.g. to reject a promise with it.
    #[napi(ts_return_type = "BgCopyError")]
    pub fn to_error<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        crate::error::object(env, &bgcopy::Error::from(&self.error))
    }

    /// What went wrong, for people.
    #[napi]
    pub fn get_error_description(&self) -> String {
        self.error.get_error_description()
    }

    /// What the context means, for people.
    #[napi]
    pub fn get_error_context_description(&self) -> String {
        self.error.get_error_context_description()
    }

    /// `'http'` or `'https'`; throws `PROTOCOL_NOT_AVAILABLE` when the error is not
    /// about a transfer.
    #[napi]
    pub fn get_protocol(&self, env: &Env) -> Result<String> {
        self.error.get_protocol().or_throw(env)
    }
}

/// The `AuthTarget` and `AuthScheme` arguments of the credential methods.
fn auth(
    env: &Env,
    target: Unknown,
    scheme: Unknown,
) -> Result<(bgcopy::AuthTarget, bgcopy::AuthScheme)> {
    Ok((
        args::enum_value(env, target, "target", |w, n| {
            bgcopy::AuthTarget::try_from_number(w, n)
        })?,
        args::enum_value(env, scheme, "scheme", |w, n| {
            bgcopy::AuthScheme::try_from_number(w, n)
        })?,
    ))
}
