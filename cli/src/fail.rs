//! How commands fail, and the exit codes.

use bgcopy::codes;

/// Exit status of a failure: a bgcopy error, or a job that ended in ERROR.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status of bad arguments (clap's usage errors).
pub const EXIT_USAGE: i32 = 2;
/// Exit status of `wait --timeout` expiring.
pub const EXIT_TIMEOUT: i32 = 3;
/// Exit status after Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: i32 = 130;
/// The host name could not be resolved (NAME_NOT_RESOLVED).
pub const EXIT_DNS: i32 = 4;
/// No connection, or it broke or went silent (CONNECT_FAILURE, CONNECTION_CLOSED,
/// TIMEOUT, NO_PROGRESS, MAXDOWNLOAD_TIMEOUT).
pub const EXIT_NETWORK: i32 = 5;
/// TLS: the handshake or the certificate check failed (SECURE_FAILURE).
pub const EXIT_TLS: i32 = 6;
/// The server answered with an HTTP error status (HTTP_nnn), or an answer bgcopy
/// cannot use (INVALID_SERVER_RESPONSE, REDIRECT_FAILED, INSUFFICIENT_RANGE_SUPPORT,
/// REMOTE_FILE_CHANGED, MISSING_FILE_SIZE).
pub const EXIT_HTTP: i32 = 7;
/// A local file or directory (LOCAL_FILE context, PATH_NOT_FOUND, ACCESS_DENIED,
/// DISK_FULL, IO_ERROR).
pub const EXIT_LOCAL: i32 = 8;
/// The content is not what was expected (VALIDATION_FAILED: a SHA-256 mismatch or the
/// app's verdict).
pub const EXIT_VALIDATION: i32 = 9;

/// The exit status for a failure with `code` (and, for a job's error, its context):
/// distinct statuses for what a script may act on differently, 1 for the rest. The
/// grouping is the core's [`bgcopy::ErrorKind`]; DNS and TLS get statuses of their own.
pub fn exit_status(code: u32, context: Option<bgcopy::ErrorContext>) -> i32 {
    use bgcopy::ErrorKind as K;
    match bgcopy::ErrorKind::of(code, context) {
        K::Network => match code {
            codes::NAME_NOT_RESOLVED => EXIT_DNS,
            codes::SECURE_FAILURE => EXIT_TLS,
            _ => EXIT_NETWORK,
        },
        K::Http | K::Server => EXIT_HTTP,
        K::Validation => EXIT_VALIDATION,
        K::Local => EXIT_LOCAL,
        _ => EXIT_FAILURE,
    }
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// A bgcopy error: printed as `bgcopy: SYMBOL (0x…): message`, exit 1.
    Core(bgcopy::Error),
    /// Bad arguments found after parsing: clap's usage message, exit 2.
    Usage(String),
}

impl From<bgcopy::Error> for Failure {
    fn from(e: bgcopy::Error) -> Self {
        Failure::Core(e)
    }
}

impl Failure {
    /// An I/O failure of the CLI itself, as a bgcopy-style error.
    pub fn io(what: &str, e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let code = match e.kind() {
            K::NotFound => codes::PATH_NOT_FOUND,
            K::PermissionDenied => codes::ACCESS_DENIED,
            _ => codes::IO_ERROR,
        };
        Failure::Core(bgcopy::Error::new(code, format!("{what}: {e}")))
    }

    /// The exit status for this failure.
    pub fn status(&self) -> i32 {
        match self {
            Failure::Core(e) => exit_status(e.code(), e.context()),
            Failure::Usage(_) => EXIT_USAGE,
        }
    }

    /// This failure as the `error` object of `get --json`.
    pub fn json(&self) -> serde_json::Value {
        match self {
            Failure::Core(e) => serde_json::json!({
                "code": format!("0x{:08X}", e.code()),
                "symbol": codes::symbol(e.code()),
                "description": e.message(),
            }),
            Failure::Usage(m) => serde_json::json!({
                "code": null,
                "symbol": "USAGE",
                "description": m,
            }),
        }
    }

    /// Print the failure (clap prints usage errors itself) and return the exit status.
    pub fn report(self) -> i32 {
        let status = self.status();
        match self {
            Failure::Core(e) => {
                eprintln!("bgcopy: {e}");
                status
            }
            Failure::Usage(msg) => {
                use clap::CommandFactory;
                let e =
                    crate::args::Cli::command().error(clap::error::ErrorKind::ValueValidation, msg);
                let _ = e.print();
                status
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgcopy::ErrorContext;

    #[test]
    fn each_kind_of_failure_has_its_status() {
        // DNS is not a broken connection (it used to read CONNECTION_CLOSED).
        assert_eq!(exit_status(codes::NAME_NOT_RESOLVED, None), EXIT_DNS);
        assert_eq!(exit_status(codes::CONNECTION_CLOSED, None), EXIT_NETWORK);
        assert_eq!(exit_status(codes::CONNECT_FAILURE, None), EXIT_NETWORK);
        assert_eq!(exit_status(codes::TIMEOUT, None), EXIT_NETWORK);
        assert_eq!(exit_status(codes::SECURE_FAILURE, None), EXIT_TLS);
        assert_eq!(exit_status(codes::http(404), None), EXIT_HTTP);
        assert_eq!(exit_status(codes::http(407), None), EXIT_HTTP);
        assert_eq!(exit_status(codes::REDIRECT_FAILED, None), EXIT_HTTP);
        assert_eq!(exit_status(codes::DISK_FULL, None), EXIT_LOCAL);
        assert_eq!(
            exit_status(codes::E_UNEXPECTED, Some(ErrorContext::LocalFile)),
            EXIT_LOCAL
        );
        assert_eq!(exit_status(codes::VALIDATION_FAILED, None), EXIT_VALIDATION);
        assert_eq!(exit_status(codes::NOT_FOUND, None), EXIT_FAILURE);
        assert_eq!(exit_status(codes::INVALID_STATE, None), EXIT_FAILURE);
        // Kept meanings.
        assert_eq!(
            [EXIT_FAILURE, EXIT_USAGE, EXIT_TIMEOUT, EXIT_INTERRUPTED],
            [1, 2, 3, 130]
        );
    }
}
