//! `CopyError` (IBackgroundCopyError): a snapshot of a job's error.

use super::file::CopyFile;
use crate::error::{Error, Result, codes};
use crate::record::ErrorRec;
use crate::table::JobTable;
use crate::types::ErrorContext;
use std::sync::Arc;
use uuid::Uuid;

/// The error of a job in ERROR / TRANSIENT_ERROR (IBackgroundCopyError), a snapshot
/// taken by `get_error()`.
#[derive(Clone)]
pub struct CopyError {
    table: Arc<JobTable>,
    job: Uuid,
    rec: ErrorRec,
}

impl std::fmt::Debug for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CopyError({}, {}, {:?})",
            self.rec.context,
            codes::symbol(self.rec.code),
            self.rec.description
        )
    }
}

impl CopyError {
    pub(crate) fn new(table: Arc<JobTable>, job: Uuid, rec: ErrorRec) -> Self {
        CopyError { table, job, rec }
    }

    /// Where it came from and its code.
    pub fn get_error(&self) -> (ErrorContext, u32) {
        (self.rec.context, self.rec.code)
    }

    /// The file it is about, or FILE_NOT_AVAILABLE.
    pub fn get_file(&self) -> Result<CopyFile> {
        match self.rec.file {
            Some(idx) => Ok(CopyFile::new(self.table.clone(), self.job, idx)),
            None => Err(Error::new(
                codes::FILE_NOT_AVAILABLE,
                "the error is not about a file",
            )),
        }
    }

    /// What went wrong, for people.
    pub fn get_error_description(&self) -> String {
        crate::redact::redact_text(&self.rec.description).into_owned()
    }

    /// What the context means, for people.
    pub fn get_error_context_description(&self) -> String {
        match self.rec.context {
            ErrorContext::None => "No error",
            ErrorContext::Unknown => "The origin of the error is unknown",
            ErrorContext::GeneralQueueManager => "The error occurred in the job manager",
            ErrorContext::QueueManagerNotification => {
                "The error occurred while delivering a notification"
            }
            ErrorContext::LocalFile => "The error occurred while writing the local file",
            ErrorContext::RemoteFile => "The error occurred while processing the remote file",
            ErrorContext::GeneralTransport => "The error occurred in the network transport",
            ErrorContext::RemoteApplication => "The server application reported an error",
        }
        .to_string()
    }

    /// "http" or "https", or PROTOCOL_NOT_AVAILABLE.
    pub fn get_protocol(&self) -> Result<String> {
        self.rec.protocol.clone().ok_or_else(|| {
            Error::new(
                codes::PROTOCOL_NOT_AVAILABLE,
                "the error is not about a transfer",
            )
        })
    }
}

impl From<&CopyError> for Error {
    fn from(e: &CopyError) -> Error {
        Error::from(&e.rec)
    }
}

/// A job's error record as an error (code, description, context).
impl From<&crate::record::ErrorRec> for Error {
    fn from(r: &crate::record::ErrorRec) -> Error {
        Error::new(r.code, r.description.clone()).with_context(r.context)
    }
}
