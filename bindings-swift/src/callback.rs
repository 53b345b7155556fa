//! `CopyCallback` as a UniFFI foreign trait: Kotlin and Swift objects implement it and
//! receive notifications on the library's notification thread.
//!
//! The core stores an `Arc<dyn bgcopy::CopyCallback>`; [`adapt`] wraps the foreign
//! object in an [`Adapter`] that implements the core trait, and [`foreign`] finds the
//! foreign object again through the core's typed accessor.

use crate::error::BgCopyError;
use crate::objects::{CopyError, CopyFile, CopyJob};
use bgcopy as bg;
use std::sync::Arc;

/// Receives a job's notifications (IBackgroundCopyCallback); set it with
/// `CopyJob.setNotifyInterface`. Runs on a library thread, never while the library
/// holds a lock: a method may call any bgcopy method, including `complete()` on its job.
/// Throwing (any exception / error) counts as a failed delivery: TRANSFERRED and ERROR
/// are delivered again after the job's minimum retry delay. The job's notify flags
/// select which methods are called. To implement only some methods, extend
/// `CopyCallbackAdapter` in Kotlin; in Swift every method has a default that does nothing.
#[uniffi::export(with_foreign)]
pub trait CopyCallback: Send + Sync {
    /// The job reached TRANSFERRED (flag JOB_TRANSFERRED).
    fn job_transferred(&self, job: Arc<CopyJob>) -> Result<(), BgCopyError>;
    /// The job reached ERROR (flag JOB_ERROR).
    fn job_error(&self, job: Arc<CopyJob>, error: Arc<CopyError>) -> Result<(), BgCopyError>;
    /// The job changed (flag JOB_MODIFICATION); coalesced, the last is never lost.
    fn job_modification(&self, job: Arc<CopyJob>) -> Result<(), BgCopyError>;
    /// One file's bytes are all transferred (flag FILE_TRANSFERRED).
    fn file_transferred(&self, job: Arc<CopyJob>, file: Arc<CopyFile>) -> Result<(), BgCopyError>;
}

/// The core's view of a foreign callback.
pub(crate) struct Adapter {
    inner: Arc<dyn CopyCallback>,
}

/// Wrap a foreign callback for the core.
pub(crate) fn adapt(inner: Arc<dyn CopyCallback>) -> Arc<dyn bg::CopyCallback> {
    Arc::new(Adapter { inner })
}

/// The foreign callback set on `job`, if any.
pub(crate) fn foreign(job: &bg::CopyJob) -> bg::Result<Option<Arc<dyn CopyCallback>>> {
    Ok(job
        .get_notify_interface_as::<Adapter>()?
        .map(|a| a.inner.clone()))
}

fn delivered(r: Result<(), BgCopyError>) -> bg::CallbackResult {
    r.map_err(|e| e.to_string())
}

impl bg::CopyCallback for Adapter {
    fn job_transferred(&self, job: &bg::CopyJob) -> bg::CallbackResult {
        delivered(self.inner.job_transferred(CopyJob::wrap(job.clone())))
    }

    fn job_error(&self, job: &bg::CopyJob, error: &bg::CopyError) -> bg::CallbackResult {
        delivered(self.inner.job_error(
            CopyJob::wrap(job.clone()),
            Arc::new(CopyError(error.clone())),
        ))
    }

    fn job_modification(&self, job: &bg::CopyJob) -> bg::CallbackResult {
        delivered(self.inner.job_modification(CopyJob::wrap(job.clone())))
    }

    fn file_transferred(&self, job: &bg::CopyJob, file: &bg::CopyFile) -> bg::CallbackResult {
        delivered(
            self.inner
                .file_transferred(CopyJob::wrap(job.clone()), Arc::new(CopyFile(file.clone()))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::CopyManager;
    use crate::types::{JobType, ManagerOptions};

    struct Quiet;
    impl CopyCallback for Quiet {
        fn job_transferred(&self, _: Arc<CopyJob>) -> Result<(), BgCopyError> {
            Ok(())
        }
        fn job_error(&self, _: Arc<CopyJob>, _: Arc<CopyError>) -> Result<(), BgCopyError> {
            Ok(())
        }
        fn job_modification(&self, _: Arc<CopyJob>) -> Result<(), BgCopyError> {
            Ok(())
        }
        fn file_transferred(&self, _: Arc<CopyJob>, _: Arc<CopyFile>) -> Result<(), BgCopyError> {
            Ok(())
        }
    }

    #[test]
    fn notify_interface_round_trip_and_release() {
        let dir = std::env::temp_dir().join(format!("bgcopy-uniffi-cb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let options = ManagerOptions {
            start_transfers: Some(false),
            ..Default::default()
        };
        let m = CopyManager::open(Some(dir.to_string_lossy().into_owned()), Some(options)).unwrap();
        let job = m.create_job("cb".into(), JobType::Download).unwrap();
        assert!(job.get_notify_interface().unwrap().is_none());
        let cb: Arc<dyn CopyCallback> = Arc::new(Quiet);
        job.set_notify_interface(Some(cb.clone())).unwrap();
        let back = job.get_notify_interface().unwrap().expect("set");
        assert!(Arc::ptr_eq(&back, &cb));
        drop(back);
        // Replacing it releases the adapter and the object.
        job.set_notify_interface(None).unwrap();
        assert!(job.get_notify_interface().unwrap().is_none());
        assert_eq!(Arc::strong_count(&cb), 1);
        m.close().unwrap();
        let e = job.resume().unwrap_err();
        assert_eq!(
            (e.code(), e.symbol().as_str()),
            (0x8020_0002, "INVALID_STATE")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_panic_becomes_unexpected() {
        let e = crate::error::guard::<()>(|| panic!("boom")).unwrap_err();
        assert_eq!(e.symbol(), "UNEXPECTED");
        assert!(e.detail().contains("boom"));
        assert_eq!(
            e.to_string(),
            format!("UNEXPECTED (0x8000FFFF): {}", e.detail())
        );
    }
}
