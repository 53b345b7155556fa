//! `bgcopy_callback`: C function pointers behind the core's `CopyCallback` trait.

use crate::boundary::{Handle, borrowed};
use crate::file::{bgcopy_error, bgcopy_file};
use crate::job::bgcopy_job;
use bgcopy_core::{CallbackResult, CopyCallback, CopyError, CopyFile, CopyJob};
use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A job's notification callbacks (IBackgroundCopyCallback); any member may be NULL.
///
/// Install with `bgcopy_job_set_notify_interface`, which copies the struct: from then
/// on the library owns `context` and calls `release(context)` exactly once, when it
/// drops the callback (the job reached a final state, the callback was replaced or
/// cleared, or the manager closed). If the install fails, `release` is not called.
///
/// The notification functions run on the manager's notification thread, one at a
/// time, never while the library holds a lock: they may call any bgcopy function,
/// including `bgcopy_job_complete` on their own job, `bgcopy_manager_close`, and the
/// release of the last manager reference. The handles they receive are borrowed for
/// the call (take your own reference with `bgcopy_job_add_ref` & co. to keep one). A
/// negative return value is a failed delivery: JOB_TRANSFERRED and JOB_ERROR are
/// delivered again after the job's minimum retry delay. A slow callback delays later
/// notifications, never a transfer.
///
/// `release` runs on whichever thread drops the callback, never while the library
/// holds a lock: the caller of `bgcopy_job_set_notify_interface`, of
/// `bgcopy_manager_close` or of the last `bgcopy_manager_release`, or the
/// notification thread (after the job reached a final state). It may call any bgcopy
/// function, `bgcopy_manager_close` included (when the release runs inside a close,
/// both calls return `BGCOPY_S_OK`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct bgcopy_callback {
    /// Passed to every function below.
    pub context: *mut c_void,
    /// The job reached TRANSFERRED (flag `BGCOPY_NOTIFY_JOB_TRANSFERRED`).
    pub job_transferred:
        Option<unsafe extern "C" fn(context: *mut c_void, job: *mut bgcopy_job) -> i32>,
    /// The job reached ERROR (flag `BGCOPY_NOTIFY_JOB_ERROR`).
    pub job_error: Option<
        unsafe extern "C" fn(
            context: *mut c_void,
            job: *mut bgcopy_job,
            error: *mut bgcopy_error,
        ) -> i32,
    >,
    /// The job changed (flag `BGCOPY_NOTIFY_JOB_MODIFICATION`); coalesced.
    pub job_modification:
        Option<unsafe extern "C" fn(context: *mut c_void, job: *mut bgcopy_job) -> i32>,
    /// A file's bytes are all transferred (flag `BGCOPY_NOTIFY_FILE_TRANSFERRED`).
    pub file_transferred: Option<
        unsafe extern "C" fn(
            context: *mut c_void,
            job: *mut bgcopy_job,
            file: *mut bgcopy_file,
        ) -> i32,
    >,
    /// Called once when the library drops the callback; may be NULL.
    pub release: Option<unsafe extern "C" fn(context: *mut c_void)>,
}

impl bgcopy_callback {
    /// No callback: every member NULL.
    pub(crate) const NONE: bgcopy_callback = bgcopy_callback {
        context: std::ptr::null_mut(),
        job_transferred: None,
        job_error: None,
        job_modification: None,
        file_transferred: None,
        release: None,
    };
}

/// The core-side callback object wrapping a C `bgcopy_callback`.
pub(crate) struct CCallback {
    c: bgcopy_callback,
    /// Whether dropping calls `release` (false when the install failed).
    armed: AtomicBool,
}

// SAFETY: the C contract makes the functions and the context usable from any thread.
unsafe impl Send for CCallback {}
// SAFETY: as above; the struct itself is never mutated after creation.
unsafe impl Sync for CCallback {}

impl CCallback {
    /// Wrap a copy of `c`; the result calls `release` when dropped unless disarmed.
    pub(crate) fn new(c: bgcopy_callback) -> Arc<CCallback> {
        Arc::new(CCallback {
            c,
            armed: AtomicBool::new(true),
        })
    }

    /// Give `context` back to the caller: `release` will not be called.
    pub(crate) fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    /// The C struct it wraps.
    pub(crate) fn c_struct(&self) -> bgcopy_callback {
        self.c
    }

    /// The one trampoline: call the C function `f` (if set) with the context and a
    /// borrowed handle to `job`, through `call` (which adds the other arguments); a
    /// negative HRESULT is a failed delivery.
    fn deliver<F>(
        &self,
        what: &str,
        f: Option<F>,
        job: &CopyJob,
        call: impl FnOnce(F, *mut c_void, *mut bgcopy_job) -> i32,
    ) -> CallbackResult {
        let Some(f) = f else {
            return Ok(());
        };
        let hr = borrowed(bgcopy_job::wrap(job.clone()), |j| {
            call(f, self.c.context, j)
        });
        if hr < 0 {
            Err(format!(
                "the C callback {what} returned 0x{:08X}",
                hr as u32
            ))
        } else {
            Ok(())
        }
    }
}

// SAFETY (every `unsafe` call below): a C function of the installed callback, called
// with its own context and handles valid for the call (the `bgcopy_callback` contract).
impl CopyCallback for CCallback {
    fn job_transferred(&self, job: &CopyJob) -> CallbackResult {
        self.deliver(
            "job_transferred",
            self.c.job_transferred,
            job,
            |f, c, j| unsafe { f(c, j) },
        )
    }

    fn job_error(&self, job: &CopyJob, error: &CopyError) -> CallbackResult {
        let e = bgcopy_error::wrap(error.clone());
        self.deliver("job_error", self.c.job_error, job, |f, c, j| {
            borrowed(e, |e| unsafe { f(c, j, e) })
        })
    }

    fn job_modification(&self, job: &CopyJob) -> CallbackResult {
        self.deliver(
            "job_modification",
            self.c.job_modification,
            job,
            |f, c, j| unsafe { f(c, j) },
        )
    }

    fn file_transferred(&self, job: &CopyJob, file: &CopyFile) -> CallbackResult {
        let fl = bgcopy_file::wrap(file.clone());
        self.deliver(
            "file_transferred",
            self.c.file_transferred,
            job,
            |f, c, j| borrowed(fl, |fl| unsafe { f(c, j, fl) }),
        )
    }
}

impl Drop for CCallback {
    fn drop(&mut self) {
        if self.armed.load(Ordering::SeqCst)
            && let Some(release) = self.c.release
        {
            // SAFETY: the installed `release` with its own context, called exactly once.
            unsafe { release(self.c.context) };
        }
    }
}
