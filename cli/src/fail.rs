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

    /// Print the failure (clap prints usage errors itself) and return the exit status.
    pub fn report(self) -> i32 {
        match self {
            Failure::Core(e) => {
                eprintln!("bgcopy: {e}");
                EXIT_FAILURE
            }
            Failure::Usage(msg) => {
                use clap::CommandFactory;
                let e =
                    crate::args::Cli::command().error(clap::error::ErrorKind::ValueValidation, msg);
                let _ = e.print();
                EXIT_USAGE
            }
        }
    }
}
