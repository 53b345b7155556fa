//! Error classification: the contract's transient/fatal table in one place. What a
//! transport error, an HTTP status or a local I/O error means for a transfer: its
//! code, its context, and whether it is retried.

use super::http::header;
use crate::error::{Error, codes};
use crate::policy::Failure;
use crate::record::ErrorRec;
use crate::types::{ErrorContext, now_ms};
use ureq::http::Response;

/// Which file an error is about, and the protocol in use: every error a transfer
/// reports is built from one of these.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blame {
    /// The file's index in its job.
    pub file: usize,
    /// `http` or `https`, when the error came from the network side.
    pub protocol: Option<&'static str>,
}

impl Blame {
    fn failure(self, transient: bool, context: ErrorContext, code: u32, text: &str) -> Failure {
        Failure {
            error: ErrorRec {
                context,
                code,
                description: crate::redact::redact_text(text).into_owned(),
                file: Some(self.file),
                protocol: self.protocol.map(str::to_string),
            },
            transient,
            retry_after: None,
        }
    }

    /// The server's side is wrong (fatal): context REMOTE_FILE.
    pub fn remote(self, code: u32, text: &str) -> Failure {
        self.failure(false, ErrorContext::RemoteFile, code, text)
    }

    /// The connection failed: context GENERAL_TRANSPORT.
    pub fn transport(self, transient: bool, code: u32, text: &str) -> Failure {
        self.failure(transient, ErrorContext::GeneralTransport, code, text)
    }

    /// The local file system failed (fatal): context LOCAL_FILE, no protocol.
    pub fn local(self, what: &str, e: &std::io::Error) -> Failure {
        let err = Error::from_io(what, e);
        Blame {
            protocol: None,
            ..self
        }
        .failure(false, ErrorContext::LocalFile, err.code(), err.message())
    }

    /// An HTTP status other than the ones a transfer uses: transient for 408, 429 and
    /// 5xx except 501 and 505; the server's `Retry-After` is kept.
    pub fn status(self, s: u16, resp: &Response<ureq::Body>) -> Failure {
        let reason = resp
            .status()
            .canonical_reason()
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        let mut f = self.failure(
            status_is_transient(s),
            ErrorContext::RemoteFile,
            status_code(s),
            &format!("the server answered HTTP {s}{reason}"),
        );
        f.retry_after =
            header(resp, "retry-after").and_then(|v| crate::policy::parse_retry_after(v, now_ms()));
        f
    }

    /// A transport error (connect, TLS, DNS, reset, timeout, a broken response).
    pub fn ureq(self, e: ureq::Error) -> Failure {
        let (transient, code) = ureq_class(&e);
        self.transport(transient, code, &e.to_string())
    }
}

/// Retried statuses: 408, 429, 5xx except 501 and 505.
pub(crate) fn status_is_transient(s: u16) -> bool {
    s == 408 || s == 429 || (500..600).contains(&s) && s != 501 && s != 505
}

/// The code of an HTTP status: `HTTP_BASE + s`, or INVALID_SERVER_RESPONSE outside
/// 100..=999.
pub(crate) fn status_code(s: u16) -> u32 {
    if (100..1000).contains(&s) {
        codes::http(s)
    } else {
        codes::INVALID_SERVER_RESPONSE
    }
}

/// Transient or not, and the code, of a `ureq` error.
pub(crate) fn ureq_class(e: &ureq::Error) -> (bool, u32) {
    use ureq::Error as E;
    match e {
        E::Timeout(_) => (true, codes::TIMEOUT),
        E::HostNotFound => (true, codes::NAME_NOT_RESOLVED),
        E::ConnectionFailed => (true, codes::CONNECT_FAILURE),
        E::Io(io) => io_class(io),
        E::Tls(_) | E::Pem(_) | E::Rustls(_) => (false, codes::SECURE_FAILURE),
        E::Protocol(_)
        | E::BodyStalled
        | E::LargeResponseHeader(..)
        | E::BodyExceedsLimit(_)
        | E::TooManyRedirects => (true, codes::INVALID_SERVER_RESPONSE),
        E::BadUri(_) | E::Http(_) => (false, codes::E_INVALIDARG),
        // A CONNECT proxy that wants credentials: fatal, like a 401 (the app sets
        // PROXY credentials and resumes); any other refusal is retried (below).
        E::ConnectProxyFailed(why) if why.contains("responded 407") => (false, codes::http(407)),
        _ => (true, codes::CONNECT_FAILURE),
    }
}

/// Transient or not, and the code, of an I/O error from the connection. TLS failures
/// arrive wrapped in I/O errors: certificate and handshake refusals are fatal.
pub(crate) fn io_class(e: &std::io::Error) -> (bool, u32) {
    // A SOCKS5 proxy that wants credentials, or refuses the ones given: fatal, like a
    // CONNECT proxy's 407 (ureq's wording).
    let text = e.to_string();
    if text.contains("password authentication failed")
        || text.contains("no acceptable auth methods")
    {
        return (false, codes::http(407));
    }
    if let Some(inner) = e.get_ref() {
        if let Some(u) = inner.downcast_ref::<ureq::Error>() {
            return match u {
                ureq::Error::Io(io) => io_class(io),
                ureq::Error::Timeout(_) => (true, codes::TIMEOUT),
                _ => (true, codes::CONNECTION_CLOSED),
            };
        }
        if let Some(t) = inner.downcast_ref::<rustls::Error>() {
            let fatal = matches!(
                t,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::PeerIncompatible(_)
                    | rustls::Error::AlertReceived(_)
            );
            return (!fatal, codes::SECURE_FAILURE);
        }
    }
    (true, io_code(e))
}

fn io_code(e: &std::io::Error) -> u32 {
    use std::io::ErrorKind as K;
    // The standard library's resolver failure (getaddrinfo) has no kind of its own.
    if e.to_string()
        .starts_with("failed to lookup address information")
    {
        return codes::NAME_NOT_RESOLVED;
    }
    match e.kind() {
        K::TimedOut | K::WouldBlock => codes::TIMEOUT,
        K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
            codes::CONNECT_FAILURE
        }
        _ => codes::CONNECTION_CLOSED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error as IoError, ErrorKind as K};

    #[test]
    fn statuses() {
        let table: &[(u16, bool, u32)] = &[
            (400, false, codes::http(400)),
            (401, false, codes::http(401)),
            (403, false, codes::http(403)),
            (404, false, codes::http(404)),
            (408, true, codes::http(408)),
            (410, false, codes::http(410)),
            (429, true, codes::http(429)),
            (500, true, codes::http(500)),
            (501, false, codes::http(501)),
            (502, true, codes::http(502)),
            (503, true, codes::http(503)),
            (504, true, codes::http(504)),
            (505, false, codes::http(505)),
            (599, true, codes::http(599)),
            (600, false, codes::http(600)),
            (42, false, codes::INVALID_SERVER_RESPONSE),
        ];
        for &(s, transient, code) in table {
            assert_eq!(status_is_transient(s), transient, "{s}");
            assert_eq!(status_code(s), code, "{s}");
        }
    }

    #[test]
    fn io_errors() {
        let table: &[(IoError, bool, u32)] = &[
            (IoError::from(K::TimedOut), true, codes::TIMEOUT),
            (
                IoError::from(K::ConnectionRefused),
                true,
                codes::CONNECT_FAILURE,
            ),
            (
                IoError::from(K::ConnectionReset),
                true,
                codes::CONNECTION_CLOSED,
            ),
            (
                IoError::from(K::UnexpectedEof),
                true,
                codes::CONNECTION_CLOSED,
            ),
            (
                IoError::other("failed to lookup address information: Name or service not known"),
                true,
                codes::NAME_NOT_RESOLVED,
            ),
        ];
        for (e, transient, code) in table {
            assert_eq!(io_class(e), (*transient, *code), "{e}");
        }
        assert_eq!(
            ureq_class(&ureq::Error::HostNotFound),
            (true, codes::NAME_NOT_RESOLVED)
        );
        assert_eq!(
            ureq_class(&ureq::Error::LargeResponseHeader(65, 64)),
            (true, codes::INVALID_SERVER_RESPONSE)
        );
        assert_eq!(
            ureq_class(&ureq::Error::ConnectionFailed),
            (true, codes::CONNECT_FAILURE)
        );
    }

    #[test]
    fn blame_builds_errors_with_context_and_redaction() {
        let b = Blame {
            file: 3,
            protocol: Some("https"),
        };
        let f = b.remote(codes::REDIRECT_FAILED, "to http://u:pw@h/");
        assert!(!f.transient);
        assert_eq!(f.error.context, ErrorContext::RemoteFile);
        assert_eq!(f.error.file, Some(3));
        assert_eq!(f.error.description, "to http://u:***@h/");
        let f = b.local("write", &IoError::from(K::PermissionDenied));
        assert_eq!(f.error.context, ErrorContext::LocalFile);
        assert_eq!(f.error.code, codes::ACCESS_DENIED);
        assert_eq!(f.error.protocol, None);
    }
}
