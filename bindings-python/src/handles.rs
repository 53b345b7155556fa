//! `CopyJob`, `CopyFile`, `CopyError`: handles over the core's, each keeping its manager.

use crate::callback::{METHODS, PyCallback};
use crate::convert;
use crate::errors::{self, OrRaise};
use crate::manager::{Owner, SHUTTING_DOWN};
use crate::values::{PyFileProgress, PyJobProgress, PyJobTimes};
use bgcopy::codes;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyList, PyTuple};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long one blocking wait lasts before Python gets a chance to run signal handlers
/// (Ctrl-C interrupts `wait()`), and how often an async wait checks for cancellation.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// A transfer job (IBackgroundCopyJob). Made by ``CopyManager.create_job``,
/// ``get_job`` and ``enum_jobs``; every handle of the same job is equal. Methods with
/// the contract's names (``get_state()``, ``set_priority(p)``) plus properties
/// (``job.state``, ``job.priority = Priority.HIGH``). Getters always work (also after
/// the job is final or the manager closed); mutators of a final job raise
/// ``InvalidStateError``. Thread-safe.
#[pyclass(frozen, weakref, module = "bgcopy", name = "CopyJob")]
pub struct PyCopyJob {
    job: bgcopy::CopyJob,
    owner: Arc<Owner>,
}

impl PyCopyJob {
    pub fn new(job: bgcopy::CopyJob, owner: Arc<Owner>) -> Self {
        PyCopyJob { job, owner }
    }

    /// Run a mutator with the GIL released (it writes the store durably).
    fn mutate<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&bgcopy::CopyJob) -> bgcopy::Result<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| f(&self.job)).or_raise(py)
    }
}

#[pymethods]
impl PyCopyJob {
    /// Append a file: ``remote_url`` (http or https, absolute) downloaded to
    /// ``local_path`` (absolute, in an existing directory, not already a file of this
    /// job). Nothing appears at ``local_path`` before ``complete()``.
    #[pyo3(signature = (remote_url, local_path))]
    fn add_file(
        &self,
        py: Python<'_>,
        remote_url: &Bound<'_, PyAny>,
        local_path: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let url = convert::string(remote_url, "remote_url")?;
        let local = convert::path(local_path, "local_path")?;
        self.mutate(py, |j| j.add_file(&url, &local))
    }

    /// Append several files at once, all or none: ``files`` is an iterable of
    /// ``(remote_url, local_path)`` pairs.
    #[pyo3(signature = (files))]
    fn add_file_set(&self, py: Python<'_>, files: &Bound<'_, PyAny>) -> PyResult<()> {
        let pairs = convert::file_pairs(py, files)?;
        self.mutate(py, |j| j.add_file_set(&pairs))
    }

    /// The job's files, in the order they were added.
    fn enum_files<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let files = self.job.enum_files().or_raise(py)?;
        PyList::new(
            py,
            files
                .into_iter()
                .map(|f| PyCopyFile::new(f, self.owner.clone())),
        )
    }

    /// Stop transferring (→ SUSPENDED); progress is kept.
    fn suspend(&self, py: Python<'_>) -> PyResult<()> {
        self.mutate(py, |j| j.suspend())
    }

    /// Queue the job (→ QUEUED) from SUSPENDED, ERROR or TRANSIENT_ERROR (or TRANSFERRED
    /// with new files); clears the error. ``EmptyError`` when the job has no files.
    fn resume(&self, py: Python<'_>) -> PyResult<()> {
        self.mutate(py, |j| j.resume())
    }

    /// End the job (→ CANCELLED, final) and delete every temporary file.
    fn cancel(&self, py: Python<'_>) -> PyResult<()> {
        self.mutate(py, |j| j.cancel())
    }

    /// End the job (→ ACKNOWLEDGED, final): every fully transferred file appears at its
    /// local path atomically; the others are deleted. Returns ``Completion.ALL`` or
    /// ``Completion.PARTIAL`` (PARTIAL_COMPLETE). If a rename fails the job stays as it
    /// was and the error is raised.
    fn complete(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let c = self.mutate(py, |j| j.complete())?;
        convert::completion(py, c)
    }

    /// The job's id: canonical UUID text.
    fn get_id(&self) -> String {
        self.job.get_id()
    }

    /// The job's type (``JobType``).
    fn get_type(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::job_type(py, self.job.get_type().or_raise(py)?)
    }

    /// The job's state (``JobState``).
    fn get_state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::state(py, self.job.get_state().or_raise(py)?)
    }

    /// The job's progress (``JobProgress``).
    fn get_progress(&self, py: Python<'_>) -> PyResult<PyJobProgress> {
        Ok(self.job.get_progress().or_raise(py)?.into())
    }

    /// The job's time stamps (``JobTimes``).
    fn get_times(&self, py: Python<'_>) -> PyResult<PyJobTimes> {
        Ok(self.job.get_times().or_raise(py)?.into())
    }

    /// The job's error (``CopyError``) in ERROR or TRANSIENT_ERROR; else
    /// ``ErrorInformationUnavailableError``.
    fn get_error(&self, py: Python<'_>) -> PyResult<PyCopyError> {
        let e = self.job.get_error().or_raise(py)?;
        Ok(PyCopyError::new(e, self.owner.clone()))
    }

    /// The display name.
    fn get_display_name(&self, py: Python<'_>) -> PyResult<String> {
        self.job.get_display_name().or_raise(py)
    }

    /// Set the display name (at most 256 characters).
    #[pyo3(signature = (name))]
    fn set_display_name(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let name = convert::string(name, "display_name")?;
        self.mutate(py, |j| j.set_display_name(&name))
    }

    /// The description.
    fn get_description(&self, py: Python<'_>) -> PyResult<String> {
        self.job.get_description().or_raise(py)
    }

    /// Set the description (at most 1024 characters).
    #[pyo3(signature = (text))]
    fn set_description(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<()> {
        let text = convert::string(text, "description")?;
        self.mutate(py, |j| j.set_description(&text))
    }

    /// The notify command line as ``(program, [args])``, or None when not set.
    fn get_notify_cmd_line(&self, py: Python<'_>) -> PyResult<Option<(String, Vec<String>)>> {
        Ok(self
            .job
            .get_notify_cmd_line()
            .or_raise(py)?
            .map(|c| (c.program, c.args)))
    }

    /// Set the notify command line (BITS ``SetNotifyCmdLine``): whichever process runs
    /// the engine runs ``program`` (an absolute path) with ``args``, without a shell and
    /// with ``BGCOPY_JOB_ID`` in its environment, once each time the job reaches
    /// TRANSFERRED or ERROR with the matching notification flag (again after the
    /// minimum retry delay while it exits non-zero). ``""`` clears it.
    #[pyo3(signature = (program, args=None))]
    fn set_notify_cmd_line(
        &self,
        py: Python<'_>,
        program: &Bound<'_, PyAny>,
        args: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let program = convert::path(program, "program")?;
        let list = match args.filter(|a| !a.is_none()) {
            Some(args) => convert::strings(py, args, "args")?,
            None => Vec::new(),
        };
        self.mutate(py, |j| j.set_notify_cmd_line(&program, &list))
    }

    /// The custom header lines (``"Name: value"``); raises ``BgCopyError`` with code
    /// ACCESS_DENIED once they were made write-only.
    fn get_custom_headers(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.job.get_custom_headers().or_raise(py)
    }

    /// Set the custom header lines (BITS ``SetCustomHeaders``), each ``"Name: value"``
    /// (at most 64 lines of 8192 bytes, 64 KiB in all; no CR/LF/NUL; not Range, If-Range, Host or the
    /// framing headers). Sent with every request of the job, and with a redirect only
    /// to the same origin. An empty sequence clears them.
    #[pyo3(signature = (headers))]
    fn set_custom_headers(&self, py: Python<'_>, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        let list = convert::strings(py, headers, "headers")?;
        self.mutate(py, |j| j.set_custom_headers(&list))
    }

    /// Make the custom headers write-only (BITS ``MakeCustomHeadersWriteOnly``):
    /// ``get_custom_headers`` raises ACCESS_DENIED from now on; they can still be
    /// replaced. There is no way back.
    fn make_custom_headers_write_only(&self, py: Python<'_>) -> PyResult<()> {
        self.mutate(py, |j| j.make_custom_headers_write_only())
    }

    /// The security flags (an int of ``SecurityFlags`` bits; default 0).
    fn get_security_flags(&self, py: Python<'_>) -> PyResult<u32> {
        self.job.get_security_flags().or_raise(py)
    }

    /// Set the security flags (BITS ``SetSecurityFlags``): a redirect policy
    /// (``SecurityFlags.REDIRECT_*``) and ``SecurityFlags.ALLOW_HTTPS_TO_HTTP``. BITS's
    /// certificate flags (0x0001-0x0010) raise E_NOTIMPL, other bits InvalidArgError.
    #[pyo3(signature = (flags))]
    fn set_security_flags(&self, py: Python<'_>, flags: &Bound<'_, PyAny>) -> PyResult<()> {
        let f = convert::u32_arg(flags, "security flags")?;
        self.mutate(py, |j| j.set_security_flags(f))
    }

    /// Set the credentials for ``target`` (``AuthTarget``) and ``scheme``
    /// (``AuthScheme``), replacing those set for the same pair (BITS
    /// ``SetCredentials``). BASIC: ``user`` (no ``:``) and the password as ``secret``;
    /// BEARER: ``user=""`` and the token as ``secret``. Write-only: nothing returns
    /// or shows them. SERVER credentials go with every request to the file URL's
    /// origin, before any challenge (never after a redirect to another origin).
    #[pyo3(signature = (target, scheme, user, secret))]
    fn set_credentials(
        &self,
        py: Python<'_>,
        target: &Bound<'_, PyAny>,
        scheme: &Bound<'_, PyAny>,
        user: &Bound<'_, PyAny>,
        secret: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (target, scheme) = (convert::auth_target(target)?, convert::auth_scheme(scheme)?);
        let user = convert::string(user, "user")?;
        let secret = convert::string(secret, "secret")?;
        self.mutate(py, |j| j.set_credentials(target, scheme, &user, &secret))
    }

    /// Forget the credentials for ``target`` and ``scheme`` (BITS
    /// ``RemoveCredentials``); no error when there are none.
    #[pyo3(signature = (target, scheme))]
    fn remove_credentials(
        &self,
        py: Python<'_>,
        target: &Bound<'_, PyAny>,
        scheme: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (target, scheme) = (convert::auth_target(target)?, convert::auth_scheme(scheme)?);
        self.mutate(py, |j| j.remove_credentials(target, scheme))
    }

    /// Choose the job's proxy (BITS ``SetProxySettings``). ``ProxyUsage.PRECONFIG``
    /// (the default): the environment's, like curl (``https_proxy`` for https URLs,
    /// ``http_proxy`` for http URLs, else ``all_proxy``; ``no_proxy`` bypasses).
    /// ``NO_PROXY``: none. ``OVERRIDE``: ``proxy`` is ``http://``, ``https://``,
    /// ``socks5h://`` or ``socks5://`` ``host[:port]`` (credentials with
    /// ``set_credentials(AuthTarget.PROXY, AuthScheme.BASIC, …)``, not in the URL) and
    /// ``bypass`` lists hosts reached without it (``*``, host names with their
    /// subdomains, IP addresses, CIDR networks; comma separated).
    #[pyo3(signature = (usage, proxy=None, bypass=None))]
    fn set_proxy_settings(
        &self,
        py: Python<'_>,
        usage: &Bound<'_, PyAny>,
        proxy: Option<&Bound<'_, PyAny>>,
        bypass: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let usage = convert::proxy_usage(usage)?;
        let text = |v: Option<&Bound<'_, PyAny>>, what: &str| match v.filter(|v| !v.is_none()) {
            Some(v) => convert::string(v, what),
            None => Ok(String::new()),
        };
        let (proxy, bypass) = (text(proxy, "proxy")?, text(bypass, "bypass")?);
        self.mutate(py, |j| j.set_proxy_settings(usage, &proxy, &bypass))
    }

    /// The job's proxy settings as ``(ProxyUsage, proxy, bypass)`` (empty strings
    /// unless OVERRIDE).
    fn get_proxy_settings(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, String, String)> {
        let s = self.job.get_proxy_settings().or_raise(py)?;
        Ok((convert::proxy_usage_value(py, s.usage)?, s.proxy, s.bypass))
    }

    /// Present a TLS client certificate (mutual TLS): ``cert_pem_path`` holds the
    /// certificate (and chain), ``key_pem_path`` its private key (PKCS#8, PKCS#1 or
    /// SEC1). Both are read and checked now (``InvalidArgError`` naming the file); the
    /// job stores their absolute paths. A server that refuses it fails the job with
    /// SECURE_FAILURE.
    #[pyo3(signature = (cert_pem_path, key_pem_path))]
    fn set_client_certificate(
        &self,
        py: Python<'_>,
        cert_pem_path: &Bound<'_, PyAny>,
        key_pem_path: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let cert = convert::path(cert_pem_path, "cert_pem_path")?;
        let key = convert::path(key_pem_path, "key_pem_path")?;
        self.mutate(py, |j| j.set_client_certificate(&cert, &key))
    }

    /// Stop presenting a client certificate (no error when there is none).
    fn remove_client_certificate(&self, py: Python<'_>) -> PyResult<()> {
        self.mutate(py, |j| j.remove_client_certificate())
    }

    /// The maximum download time in seconds (0: no limit, the default).
    fn get_maximum_download_time(&self, py: Python<'_>) -> PyResult<u32> {
        self.job.get_maximum_download_time().or_raise(py)
    }

    /// Limit the time the job spends CONNECTING or TRANSFERRING, in seconds (BITS
    /// Job4 ``SetMaximumDownloadTime``; 0 removes the limit). Time QUEUED, SUSPENDED
    /// or in TRANSIENT_ERROR does not count; ``resume()`` starts the count again. When
    /// it passes, the job goes to ERROR with MAXDOWNLOAD_TIMEOUT.
    #[pyo3(signature = (seconds))]
    fn set_maximum_download_time(
        &self,
        py: Python<'_>,
        seconds: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let s = convert::whole_seconds(seconds, "seconds")?;
        self.mutate(py, |j| j.set_maximum_download_time(s))
    }

    /// How many connections one file of the job may use at once (segmented download,
    /// BITS Job5 HIGH_PERFORMANCE): the job's setting, else the manager's
    /// ``max_connections_per_file`` option.
    fn get_max_connections_per_file(&self, py: Python<'_>) -> PyResult<u32> {
        self.job.get_max_connections_per_file().or_raise(py)
    }

    /// Let one file of the job use up to ``n`` connections at once (1..=64; 1 = one
    /// stream). A file is split only when the server honours ranges for it and it is
    /// at least 2 MiB.
    #[pyo3(signature = (n))]
    fn set_max_connections_per_file(&self, py: Python<'_>, n: &Bound<'_, PyAny>) -> PyResult<()> {
        let n = convert::u32_arg(n, "n")?;
        self.mutate(py, |j| j.set_max_connections_per_file(n))
    }

    /// The job's bandwidth limit in bytes per second (0: none, the default).
    fn get_bandwidth_limit(&self, py: Python<'_>) -> PyResult<u64> {
        self.job.get_bandwidth_limit().or_raise(py)
    }

    /// Limit the job to ``bytes_per_second`` over all its connections (0: none);
    /// applies within a second while it transfers.
    #[pyo3(signature = (bytes_per_second))]
    fn set_bandwidth_limit(
        &self,
        py: Python<'_>,
        bytes_per_second: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let n = convert::uint(bytes_per_second, "bytes_per_second", i64::MAX as u64)?;
        self.mutate(py, |j| j.set_bandwidth_limit(n))
    }

    /// Give every file whose remote URL starts with ``old_prefix`` that URL with the
    /// prefix replaced by ``new_prefix`` (BITS Job3 ``ReplaceRemotePrefix``), all or
    /// none; returns how many files changed. A file keeps its bytes when the new URL
    /// serves the same content (If-Range with the stored validator), else starts over.
    #[pyo3(signature = (old_prefix, new_prefix))]
    fn replace_remote_prefix(
        &self,
        py: Python<'_>,
        old_prefix: &Bound<'_, PyAny>,
        new_prefix: &Bound<'_, PyAny>,
    ) -> PyResult<u32> {
        let old = convert::string(old_prefix, "old_prefix")?;
        let new = convert::string(new_prefix, "new_prefix")?;
        self.mutate(py, |j| j.replace_remote_prefix(&old, &new))
    }

    /// The priority (``Priority``; default NORMAL).
    fn get_priority(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::priority(py, self.job.get_priority().or_raise(py)?)
    }

    /// Set the priority (a ``Priority``); the scheduler re-evaluates at once.
    #[pyo3(signature = (priority))]
    fn set_priority(&self, py: Python<'_>, priority: &Bound<'_, PyAny>) -> PyResult<()> {
        let p = convert::priority_arg(priority)?;
        self.mutate(py, |j| j.set_priority(p))
    }

    /// The notification flags (``NotifyFlags``; default JOB_TRANSFERRED | JOB_ERROR).
    fn get_notify_flags(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::flags(py, self.job.get_notify_flags().or_raise(py)?)
    }

    /// Set the notification flags (``NotifyFlags`` or int); unknown bits raise
    /// ``InvalidArgError``.
    #[pyo3(signature = (flags))]
    fn set_notify_flags(&self, py: Python<'_>, flags: &Bound<'_, PyAny>) -> PyResult<()> {
        let f = convert::u32_arg(flags, "notify flags")?;
        self.mutate(py, |j| j.set_notify_flags(f))
    }

    /// The notification object set with ``set_notify_interface``, or None (also once
    /// the library released it: the job is final or the manager closed).
    fn get_notify_interface(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let cb = self
            .job
            .get_notify_interface_as::<PyCallback>()
            .or_raise(py)?;
        Ok(cb.map(|cb| cb.object(py)))
    }

    /// Set (or with None clear) the notification object: any object with some of
    /// ``job_transferred(job)``, ``job_error(job, error)``, ``job_modification(job)``,
    /// ``file_transferred(job, file)``. They are called on a library thread (the GIL is
    /// taken only for the call) and may call any method, including ``complete()``. An
    /// exception is reported through ``sys.unraisablehook`` and counts as a failed
    /// delivery: TRANSFERRED and ERROR are delivered again after the minimum retry
    /// delay. Not persisted; released when the job is final or the manager closes.
    #[pyo3(signature = (callback))]
    fn set_notify_interface(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<()> {
        let cb: Option<Arc<dyn bgcopy::CopyCallback>> = if callback.is_none() {
            None
        } else {
            let mut any = false;
            for m in METHODS {
                any |= callback.hasattr(m)?;
            }
            if !any {
                return Err(errors::wrong_type(
                    py,
                    format!(
                        "the notification object ({}) has none of the methods {}",
                        convert::type_name(callback),
                        METHODS.join(", ")
                    ),
                ));
            }
            Some(PyCallback::new(callback.clone().unbind(), &self.owner))
        };
        // Without the GIL: the callback this replaces is released under the core's lock,
        // and releasing a Python object there must not run Python code.
        self.mutate(py, move |j| j.set_notify_interface(cb))
    }

    /// Seconds without progress before a transient error becomes ERROR (default
    /// 1,209,600 = 14 days).
    fn get_no_progress_timeout(&self, py: Python<'_>) -> PyResult<u32> {
        self.job.get_no_progress_timeout().or_raise(py)
    }

    /// Set the no-progress timeout in whole seconds, an int or a ``timedelta`` (0: every
    /// error is fatal).
    #[pyo3(signature = (seconds))]
    fn set_no_progress_timeout(&self, py: Python<'_>, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let s = convert::whole_seconds(seconds, "no_progress_timeout")?;
        self.mutate(py, |j| j.set_no_progress_timeout(s))
    }

    /// The minimum retry delay in seconds (default 600).
    fn get_minimum_retry_delay(&self, py: Python<'_>) -> PyResult<u32> {
        self.job.get_minimum_retry_delay().or_raise(py)
    }

    /// Set the minimum retry delay in whole seconds: the cap of the transient-error
    /// backoff and the notification redelivery delay.
    #[pyo3(signature = (seconds))]
    fn set_minimum_retry_delay(&self, py: Python<'_>, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let s = convert::whole_seconds(seconds, "minimum_retry_delay")?;
        self.mutate(py, |j| j.set_minimum_retry_delay(s))
    }

    /// Errors seen (transient and fatal); never reset.
    fn get_error_count(&self, py: Python<'_>) -> PyResult<u32> {
        self.job.get_error_count().or_raise(py)
    }

    /// Block until the job is TRANSFERRED, ERROR, ACKNOWLEDGED or CANCELLED, the manager
    /// closes, or ``timeout`` seconds pass (None: no limit); returns the state then.
    /// Releases the GIL while waiting; Ctrl-C interrupts it.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let timeout = match timeout.filter(|t| !t.is_none()) {
            Some(t) => convert::seconds(t, "timeout", true)?,
            None => None,
        };
        // Between slices, Python runs its signal handlers (Ctrl-C raises here).
        let mut interrupted = None;
        let out = py.detach(|| {
            self.job.wait_sliced(timeout, WAIT_SLICE, || {
                Python::attach(|py| py.check_signals()).map_err(|e| {
                    interrupted = Some(e);
                    bgcopy::Error::new(codes::E_UNEXPECTED, "interrupted")
                })
            })
        });
        if let Some(e) = interrupted {
            return Err(e);
        }
        convert::state(py, out.or_raise(py)?.state)
    }

    /// This job's events from now on (``JobEvents``, a blocking iterator): its state
    /// now, then every state change, file transferred, error and (at most every 200 ms)
    /// progress, ending after the first state ``wait()`` returns on. Sees changes made
    /// by any process. ``for ev in job.watch(): ...``
    fn watch(&self, py: Python<'_>) -> PyResult<crate::idioms::PyJobEvents> {
        let stream = self.job.events().or_raise(py)?;
        Ok(crate::idioms::PyJobEvents::new(stream, self.owner.clone()))
    }

    /// ``async for ev in job.events(): ...``: ``watch()`` for asyncio (each wait runs on
    /// a helper thread; breaking out of the loop or cancelling the task releases it).
    fn events(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let stream = self.watch(py)?;
        let f = py.import("bgcopy._idioms")?.getattr("_aiter_events")?;
        Ok(f.call1((stream,))?.unbind())
    }

    /// ``await job.wait_async(timeout)``: ``wait()`` for asyncio. The waiting happens on
    /// a helper thread, so the event loop keeps running; cancelling the await stops it.
    /// Must be called with a running event loop.
    #[pyo3(signature = (timeout=None))]
    fn wait_async<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = match timeout.filter(|t| !t.is_none()) {
            Some(t) => convert::seconds(t, "timeout", true)?,
            None => None,
        };
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let fut = event_loop.call_method0("create_future")?;
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let on_done = PyCFunction::new_closure(
            py,
            None,
            None,
            move |_: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| {
                flag.store(true, Ordering::SeqCst);
            },
        )?;
        fut.call_method1("add_done_callback", (on_done,))?;
        let (fut_ref, loop_ref) = (fut.clone().unbind(), event_loop.unbind());
        // A cancelled (or already answered) await ends the wait between slices.
        let cancelled = move || done.load(Ordering::SeqCst);
        let answer = move |outcome: Option<bgcopy::Result<bgcopy::WaitOutcome>>| {
            let outcome = outcome.map(|r| r.map(|o| o.state));
            if SHUTTING_DOWN.load(Ordering::SeqCst) {
                std::mem::forget((fut_ref, loop_ref));
                return;
            }
            let _ = Python::try_attach(|py| {
                if let Some(outcome) = outcome {
                    let (value, error) = match outcome {
                        Ok(s) => (convert::state(py, s).ok(), None),
                        Err(e) => (None, Some(errors::core(py, &e).into_value(py))),
                    };
                    let posted = convert::values(py).and_then(|v| {
                        loop_ref.bind(py).call_method1(
                            "call_soon_threadsafe",
                            (v.resolve_future.clone_ref(py), &fut_ref, value, error),
                        )
                    });
                    // A closed event loop has nobody left to tell.
                    drop(posted);
                }
                drop((fut_ref, loop_ref));
            });
        };
        self.job
            .wait_in_background(timeout, WAIT_SLICE, cancelled, answer)
            .or_raise(py)?;
        Ok(fut)
    }

    /// The job's id (``get_id()``).
    #[getter(id)]
    fn prop_id(&self) -> String {
        self.job.get_id()
    }

    /// The job's id as a ``uuid.UUID``.
    #[getter(uuid)]
    fn prop_uuid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::uuid_class(py)?.call1((self.job.get_id(),))
    }

    /// The job's type (``get_type()``).
    #[getter(job_type)]
    fn prop_job_type(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_type(py)
    }

    /// The job's state (``get_state()``).
    #[getter(state)]
    fn prop_state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_state(py)
    }

    /// The job's progress (``get_progress()``).
    #[getter(progress)]
    fn prop_progress(&self, py: Python<'_>) -> PyResult<PyJobProgress> {
        self.get_progress(py)
    }

    /// The job's time stamps (``get_times()``).
    #[getter(times)]
    fn prop_times(&self, py: Python<'_>) -> PyResult<PyJobTimes> {
        self.get_times(py)
    }

    /// The job's error, or None when it is not in ERROR or TRANSIENT_ERROR.
    #[getter(error)]
    fn prop_error(&self, py: Python<'_>) -> PyResult<Option<PyCopyError>> {
        match self.job.get_error() {
            Ok(e) => Ok(Some(PyCopyError::new(e, self.owner.clone()))),
            Err(e) if e.code() == codes::ERROR_INFORMATION_UNAVAILABLE => Ok(None),
            Err(e) => Err(errors::core(py, &e)),
        }
    }

    /// The job's files (``enum_files()``).
    #[getter(files)]
    fn prop_files<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.enum_files(py)
    }

    /// Errors seen (``get_error_count()``).
    #[getter(error_count)]
    fn prop_error_count(&self, py: Python<'_>) -> PyResult<u32> {
        self.get_error_count(py)
    }

    /// The display name (``get_display_name()`` / ``set_display_name()``).
    #[getter(display_name)]
    fn prop_display_name(&self, py: Python<'_>) -> PyResult<String> {
        self.get_display_name(py)
    }

    #[setter(display_name)]
    fn prop_set_display_name(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_display_name(py, value)
    }

    /// The description (``get_description()`` / ``set_description()``).
    #[getter(description)]
    fn prop_description(&self, py: Python<'_>) -> PyResult<String> {
        self.get_description(py)
    }

    #[setter(description)]
    fn prop_set_description(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_description(py, value)
    }

    /// The priority (``get_priority()`` / ``set_priority()``).
    #[getter(priority)]
    fn prop_priority(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_priority(py)
    }

    #[setter(priority)]
    fn prop_set_priority(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_priority(py, value)
    }

    /// The notification flags (``get_notify_flags()`` / ``set_notify_flags()``).
    #[getter(notify_flags)]
    fn prop_notify_flags(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_notify_flags(py)
    }

    #[setter(notify_flags)]
    fn prop_set_notify_flags(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_notify_flags(py, value)
    }

    /// The notification object (``get_notify_interface()`` / ``set_notify_interface()``).
    #[getter(notify_interface)]
    fn prop_notify_interface(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.get_notify_interface(py)
    }

    #[setter(notify_interface)]
    fn prop_set_notify_interface(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_notify_interface(py, value)
    }

    /// The no-progress timeout in seconds (``get_/set_no_progress_timeout()``).
    #[getter(no_progress_timeout)]
    fn prop_no_progress_timeout(&self, py: Python<'_>) -> PyResult<u32> {
        self.get_no_progress_timeout(py)
    }

    #[setter(no_progress_timeout)]
    fn prop_set_no_progress_timeout(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.set_no_progress_timeout(py, value)
    }

    /// The minimum retry delay in seconds (``get_/set_minimum_retry_delay()``).
    #[getter(minimum_retry_delay)]
    fn prop_minimum_retry_delay(&self, py: Python<'_>) -> PyResult<u32> {
        self.get_minimum_retry_delay(py)
    }

    #[setter(minimum_retry_delay)]
    fn prop_set_minimum_retry_delay(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.set_minimum_retry_delay(py, value)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyCopyJob>()
            .is_ok_and(|o| o.get().job == self.job)
    }

    fn __hash__(&self) -> u64 {
        let id = self.job.id().as_u128();
        (id as u64) ^ ((id >> 64) as u64)
    }

    fn __repr__(&self) -> String {
        let name = self.job.get_display_name().unwrap_or_default();
        let state = self.job.get_state().map(|s| s.name()).unwrap_or("?");
        format!(
            "CopyJob(id={}, display_name={}, state=JobState.{state})",
            convert::str_repr(&self.job.get_id()),
            convert::str_repr(&name)
        )
    }
}

/// Benchmark helper: `job.get_progress()` `n` times in Rust, without Python; returns
/// the seconds it took.
#[pyfunction]
#[pyo3(name = "_bench_get_progress")]
pub fn bench_get_progress(py: Python<'_>, job: &PyCopyJob, n: usize) -> PyResult<f64> {
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..n {
        sum = sum.wrapping_add(job.job.get_progress().or_raise(py)?.bytes_transferred);
    }
    std::hint::black_box(sum);
    Ok(start.elapsed().as_secs_f64())
}

/// One file of a job (IBackgroundCopyFile): ``get_remote_name()``,
/// ``get_local_name()``, ``get_progress()`` and the matching properties.
#[pyclass(frozen, weakref, module = "bgcopy", name = "CopyFile")]
pub struct PyCopyFile {
    file: bgcopy::CopyFile,
    /// Keeps the manager open while the file handle lives.
    _owner: Arc<Owner>,
}

impl PyCopyFile {
    pub fn new(file: bgcopy::CopyFile, owner: Arc<Owner>) -> Self {
        PyCopyFile {
            file,
            _owner: owner,
        }
    }
}

#[pymethods]
impl PyCopyFile {
    /// The remote URL.
    fn get_remote_name(&self, py: Python<'_>) -> PyResult<String> {
        self.file.get_remote_name().or_raise(py)
    }

    /// The local path.
    fn get_local_name(&self, py: Python<'_>) -> PyResult<String> {
        self.file.get_local_name().or_raise(py)
    }

    /// The hidden temporary file that holds the bytes until ``complete()`` (BITS File3
    /// ``GetTemporaryName``), beside the local path.
    fn get_temporary_name(&self, py: Python<'_>) -> PyResult<String> {
        self.file.get_temporary_name().or_raise(py)
    }

    /// Give the file a new remote URL (BITS File2 ``SetRemoteName``: an expired signed
    /// URL, a new token, a mirror), checked like ``add_file``'s; not on a final job.
    /// The bytes already here are kept when the new URL serves the same content
    /// (If-Range with the stored validator), else the file starts over.
    #[pyo3(signature = (url))]
    fn set_remote_name(&self, py: Python<'_>, url: &Bound<'_, PyAny>) -> PyResult<()> {
        let url = convert::string(url, "url")?;
        let file = self.file.clone();
        py.detach(|| file.set_remote_name(&url)).or_raise(py)
    }

    /// The last response's header lines (``"Name: value"``; empty before any
    /// response). A value holding one of the job's secrets shows as ``***``.
    fn get_response_headers(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.file.get_response_headers().or_raise(py)
    }

    /// Check the content before the file counts as transferred: ``algorithm``
    /// ``"sha256"``, ``hex`` its 64 hexadecimal digits (computed while the bytes are
    /// written). A mismatch drops the bytes and puts the job in ERROR with
    /// VALIDATION_FAILED; ``resume()`` fetches the file again. ``""`` removes the
    /// check. InvalidStateError once the file's bytes are all transferred.
    #[pyo3(signature = (algorithm, hex))]
    fn set_expected_hash(
        &self,
        py: Python<'_>,
        algorithm: &Bound<'_, PyAny>,
        hex: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let algorithm = convert::string(algorithm, "algorithm")?;
        let hex = convert::string(hex, "hex")?;
        let file = self.file.clone();
        py.detach(|| file.set_expected_hash(&algorithm, &hex))
            .or_raise(py)
    }

    /// The expected digest as ``(algorithm, hex)``, or None.
    fn get_expected_hash(&self, py: Python<'_>) -> PyResult<Option<(String, String)>> {
        self.file.get_expected_hash().or_raise(py)
    }

    /// The app's verdict once the file is transferred (BITS File3
    /// ``SetValidationState``): True marks the bytes valid; False drops them and puts
    /// the job in ERROR with VALIDATION_FAILED (``resume()`` fetches the file again).
    #[pyo3(signature = (valid))]
    fn set_validation_state(&self, py: Python<'_>, valid: bool) -> PyResult<()> {
        let file = self.file.clone();
        py.detach(|| file.set_validation_state(valid)).or_raise(py)
    }

    /// Whether the app marked the bytes valid (False until it does).
    fn get_validation_state(&self, py: Python<'_>) -> PyResult<bool> {
        self.file.get_validation_state().or_raise(py)
    }

    /// The URL the file's last response came from, after redirects; None before any
    /// response.
    fn get_final_url(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.file.get_final_url().or_raise(py)
    }

    /// The file's progress (``FileProgress``).
    fn get_progress(&self, py: Python<'_>) -> PyResult<PyFileProgress> {
        Ok(self.file.get_progress().or_raise(py)?.into())
    }

    /// The remote URL (``get_remote_name()``).
    #[getter(remote_name)]
    fn prop_remote_name(&self, py: Python<'_>) -> PyResult<String> {
        self.get_remote_name(py)
    }

    /// The local path as a ``pathlib.Path`` (``get_local_name()`` gives the text).
    #[getter(local_name)]
    fn prop_local_name(&self, py: Python<'_>) -> PyResult<std::path::PathBuf> {
        self.get_local_name(py).map(Into::into)
    }

    /// The temporary file's path as a ``pathlib.Path`` (``get_temporary_name()``).
    #[getter(temporary_name)]
    fn prop_temporary_name(&self, py: Python<'_>) -> PyResult<std::path::PathBuf> {
        self.file.get_temporary_name().or_raise(py).map(Into::into)
    }

    /// The file's progress (``get_progress()``).
    #[getter(progress)]
    fn prop_progress(&self, py: Python<'_>) -> PyResult<PyFileProgress> {
        self.get_progress(py)
    }

    /// The file's position in its job (0-based).
    #[getter(index)]
    fn prop_index(&self) -> usize {
        self.file.index()
    }

    fn __repr__(&self) -> String {
        format!(
            "CopyFile(index={}, remote_name={}, local_name={})",
            self.file.index(),
            convert::str_repr(&self.file.get_remote_name().unwrap_or_default()),
            convert::str_repr(&self.file.get_local_name().unwrap_or_default())
        )
    }
}

/// The error of a job in ERROR or TRANSIENT_ERROR (IBackgroundCopyError), a snapshot
/// taken by ``CopyJob.get_error()`` or passed to ``job_error``. Besides the contract
/// methods: ``context``, ``code``, ``symbol``, ``description``, ``protocol`` and
/// ``file`` properties, and ``to_exception()``.
#[pyclass(frozen, weakref, module = "bgcopy", name = "CopyError")]
pub struct PyCopyError {
    err: bgcopy::CopyError,
    owner: Arc<Owner>,
}

impl PyCopyError {
    pub fn new(err: bgcopy::CopyError, owner: Arc<Owner>) -> Self {
        PyCopyError { err, owner }
    }
}

#[pymethods]
impl PyCopyError {
    /// ``(context, code)``: where it came from (``ErrorContext``) and its code (int,
    /// e.g. ``0x80190194`` for HTTP 404).
    fn get_error<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let (ctx, code) = self.err.get_error();
        PyTuple::new(
            py,
            [
                convert::context(py, ctx)?,
                code.into_pyobject(py)?.into_any().unbind(),
            ],
        )
    }

    /// The file the error is about, or ``FileNotAvailableError``.
    fn get_file(&self, py: Python<'_>) -> PyResult<PyCopyFile> {
        let f = self.err.get_file().or_raise(py)?;
        Ok(PyCopyFile::new(f, self.owner.clone()))
    }

    /// What went wrong, for people.
    fn get_error_description(&self) -> String {
        self.err.get_error_description()
    }

    /// What the context means, for people.
    fn get_error_context_description(&self) -> String {
        self.err.get_error_context_description()
    }

    /// ``"http"`` or ``"https"``, or ``ProtocolNotAvailableError``.
    fn get_protocol(&self, py: Python<'_>) -> PyResult<String> {
        self.err.get_protocol().or_raise(py)
    }

    /// Where the error came from (``ErrorContext``).
    #[getter(context)]
    fn prop_context(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::context(py, self.err.get_error().0)
    }

    /// The error's code (int).
    #[getter(code)]
    fn prop_code(&self) -> u32 {
        self.err.get_error().1
    }

    /// The code's symbolic name (``"HTTP_404"``, ``"CONNECT_FAILURE"``, ...).
    #[getter(symbol)]
    fn prop_symbol(&self) -> String {
        codes::symbol(self.err.get_error().1)
    }

    /// ``get_error_description()``.
    #[getter(description)]
    fn prop_description(&self) -> String {
        self.err.get_error_description()
    }

    /// ``get_error_context_description()``.
    #[getter(context_description)]
    fn prop_context_description(&self) -> String {
        self.err.get_error_context_description()
    }

    /// The protocol, or None.
    #[getter(protocol)]
    fn prop_protocol(&self) -> Option<String> {
        self.err.get_protocol().ok()
    }

    /// The file the error is about, or None.
    #[getter(file)]
    fn prop_file(&self) -> PyResult<Option<PyCopyFile>> {
        Ok(self
            .err
            .get_file()
            .ok()
            .map(|f| PyCopyFile::new(f, self.owner.clone())))
    }

    /// The error as a ``BgCopyError`` (the subclass for its code) to raise.
    fn to_exception(&self, py: Python<'_>) -> Py<PyAny> {
        errors::core(py, &bgcopy::Error::from(&self.err))
            .into_value(py)
            .into_any()
    }

    fn __repr__(&self) -> String {
        let (ctx, code) = self.err.get_error();
        format!(
            "CopyError(context=ErrorContext.{}, code=0x{code:08X}, symbol={}, description={})",
            ctx.name(),
            convert::str_repr(&codes::symbol(code)),
            convert::str_repr(&self.err.get_error_description())
        )
    }
}
