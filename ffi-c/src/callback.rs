//! `bgcopy_callback`: C function pointers behind the core's `CopyCallback` trait.

use crate::boundary::{borrowed, release_scope};
use crate::file::{bgcopy_error, bgcopy_file};
use crate::job::bgcopy_job;
use bgcopy_core::{CallbackResult, CopyCallback, CopyError, CopyFile, CopyJob};
use std::collections::BTreeSet;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

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
/// function except `bgcopy_manager_close` (`BGCOPY_E_INVALID_STATE`: it may be running
/// inside one).
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

/// Addresses of the live `CCallback`s, so that a job's `Arc<dyn CopyCallback>` can be
/// recognised as one of ours and read back (`bgcopy_job_get_notify_interface`).
fn live() -> MutexGuard<'static, BTreeSet<usize>> {
    static LIVE: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

impl CCallback {
    /// Wrap a copy of `c`; the result calls `release` when dropped unless disarmed.
    pub(crate) fn new(c: bgcopy_callback) -> Arc<CCallback> {
        let cb = Arc::new(CCallback {
            c,
            armed: AtomicBool::new(true),
        });
        live().insert(Arc::as_ptr(&cb) as usize);
        cb
    }

    /// Give `context` back to the caller: `release` will not be called.
    pub(crate) fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    /// The C struct behind a job's callback object, if it is a `CCallback`.
    pub(crate) fn c_struct(cb: &Arc<dyn CopyCallback>) -> Option<bgcopy_callback> {
        let addr = Arc::as_ptr(cb) as *const () as usize;
        if !live().contains(&addr) {
            return None;
        }
        // SAFETY: a `CCallback` lives at `addr` (registered in `new`, removed in `drop`),
        // and `cb` keeps the object at `addr` alive: it is that `CCallback`.
        Some(unsafe { &*(addr as *const CCallback) }.c)
    }

    fn result(what: &str, hr: i32) -> CallbackResult {
        if hr < 0 {
            Err(format!(
                "the C callback {what} returned 0x{:08X}",
                hr as u32
            ))
        } else {
            Ok(())
        }
    }

    fn job_handle(job: &CopyJob) -> bgcopy_job {
        bgcopy_job { inner: job.clone() }
    }
}

impl CopyCallback for CCallback {
    fn job_transferred(&self, job: &CopyJob) -> CallbackResult {
        let Some(f) = self.c.job_transferred else {
            return Ok(());
        };
        let hr = borrowed(Self::job_handle(job), |j| {
            // SAFETY: a C function of the installed callback with its own context.
            unsafe { f(self.c.context, j) }
        });
        Self::result("job_transferred", hr)
    }

    fn job_error(&self, job: &CopyJob, error: &CopyError) -> CallbackResult {
        let Some(f) = self.c.job_error else {
            return Ok(());
        };
        let e = bgcopy_error {
            inner: error.clone(),
        };
        let hr = borrowed(Self::job_handle(job), |j| {
            borrowed(e, |e| {
                // SAFETY: as above.
                unsafe { f(self.c.context, j, e) }
            })
        });
        Self::result("job_error", hr)
    }

    fn job_modification(&self, job: &CopyJob) -> CallbackResult {
        let Some(f) = self.c.job_modification else {
            return Ok(());
        };
        let hr = borrowed(Self::job_handle(job), |j| {
            // SAFETY: as above.
            unsafe { f(self.c.context, j) }
        });
        Self::result("job_modification", hr)
    }

    fn file_transferred(&self, job: &CopyJob, file: &CopyFile) -> CallbackResult {
        let Some(f) = self.c.file_transferred else {
            return Ok(());
        };
        let file = bgcopy_file {
            inner: file.clone(),
        };
        let hr = borrowed(Self::job_handle(job), |j| {
            borrowed(file, |fl| {
                // SAFETY: as above.
                unsafe { f(self.c.context, j, fl) }
            })
        });
        Self::result("file_transferred", hr)
    }
}

impl Drop for CCallback {
    fn drop(&mut self) {
        live().remove(&(self as *const CCallback as usize));
        if self.armed.load(Ordering::SeqCst)
            && let Some(release) = self.c.release
        {
            // SAFETY: the installed `release` with its own context, called exactly once.
            release_scope(|| unsafe { release(self.c.context) });
        }
    }
}
