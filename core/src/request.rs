//! What a job adds to its requests (SPEC §8, BITS `IBackgroundCopyJobHttpOptions`):
//! custom header lines and the security flags (redirect policy, https→http). The
//! values are checked here, at the call; the engine applies them in `engine/fetch.rs`.

use crate::error::{Error, Result, codes};

/// Security flags (BITS values).
pub mod security {
    /// Follow redirects; the file keeps its remote name (the default).
    pub const REDIRECT_ALLOW_SILENT: u32 = 0x0000;
    /// Follow redirects and make the final URL the file's remote name.
    pub const REDIRECT_ALLOW_REPORT: u32 = 0x0100;
    /// A redirect is an error (the job goes to ERROR with the redirect's HTTP status).
    pub const REDIRECT_DISALLOW: u32 = 0x0200;
    /// The bits holding the redirect policy.
    pub const REDIRECT_POLICY_MASK: u32 = 0x0700;
    /// Follow a redirect from https to http (otherwise REDIRECT_FAILED, unless the
    /// manager-wide option allows it).
    pub const ALLOW_HTTPS_TO_HTTP: u32 = 0x0800;
    /// BITS's certificate flags (CRL check, ignoring certificate errors): not
    /// supported (E_NOTIMPL), as bgcopy never weakens TLS verification per job.
    pub const BITS_SSL_FLAGS: u32 = 0x001F;
}

/// At most this many custom header lines.
pub const MAX_HEADERS: usize = 64;
/// At most this many bytes in one custom header line.
pub const MAX_HEADER_LINE: usize = 8192;

/// Header names a job may not set: the request's framing, range and target are
/// bgcopy's (Range/If-Range make resuming work; Host is the URL's).
const RESERVED: [&str; 11] = [
    "range",
    "if-range",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// Check `flags` for `set_security_flags`.
pub fn check_security_flags(flags: u32) -> Result<()> {
    use security::*;
    if flags & BITS_SSL_FLAGS != 0 {
        return Err(Error::new(
            codes::E_NOTIMPL,
            format!(
                "security flags 0x{:04X} (certificate revocation checks, ignoring certificate \
                 errors) are not supported: bgcopy always verifies certificates; trust another \
                 CA with the manager's tls_root_certs",
                flags & BITS_SSL_FLAGS
            ),
        ));
    }
    let unknown = flags & !(REDIRECT_POLICY_MASK | ALLOW_HTTPS_TO_HTTP | BITS_SSL_FLAGS);
    if unknown != 0 {
        return Err(Error::invalid_arg(format!(
            "security flags 0x{unknown:04X} are not defined"
        )));
    }
    let policy = flags & REDIRECT_POLICY_MASK;
    if !matches!(
        policy,
        REDIRECT_ALLOW_SILENT | REDIRECT_ALLOW_REPORT | REDIRECT_DISALLOW
    ) {
        return Err(Error::invalid_arg(format!(
            "redirect policy 0x{policy:04X} is not one of ALLOW_SILENT 0x0000, ALLOW_REPORT \
             0x0100, DISALLOW 0x0200"
        )));
    }
    Ok(())
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Split a custom header line `Name: value` (checked: a token name that bgcopy does
/// not reserve, a value of visible characters, spaces and tabs). The value is trimmed.
pub fn parse_header_line(line: &str) -> Result<(String, String)> {
    let shown = || {
        crate::redact::printable(line)
            .chars()
            .take(60)
            .collect::<String>()
    };
    if line.len() > MAX_HEADER_LINE {
        return Err(Error::new(
            codes::STRING_TOO_LONG,
            format!(
                "a custom header line is {} bytes; at most {MAX_HEADER_LINE} are allowed",
                line.len()
            ),
        ));
    }
    if line.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::invalid_arg(format!(
            "custom header {:?} holds CR, LF or NUL (one header a line, without line ends)",
            shown()
        )));
    }
    let Some((name, value)) = line.split_once(':') else {
        return Err(Error::invalid_arg(format!(
            "custom header {:?} is not of the form \"Name: value\"",
            shown()
        )));
    };
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return Err(Error::invalid_arg(format!(
            "custom header name {:?} is not a valid HTTP field name",
            crate::redact::printable(name)
        )));
    }
    if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
        return Err(Error::invalid_arg(format!(
            "custom header {name:?} is set by bgcopy itself and cannot be replaced"
        )));
    }
    let value = value.trim_matches([' ', '\t']);
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7F) {
        return Err(Error::invalid_arg(format!(
            "the value of custom header {name:?} holds a control character"
        )));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Check the lines given to `set_custom_headers`; the lines as stored (`Name: value`,
/// trimmed).
pub fn check_custom_headers<S: AsRef<str>>(lines: &[S]) -> Result<Vec<String>> {
    if lines.len() > MAX_HEADERS {
        return Err(Error::invalid_arg(format!(
            "{} custom headers; at most {MAX_HEADERS} are allowed",
            lines.len()
        )));
    }
    lines
        .iter()
        .map(|l| parse_header_line(l.as_ref()).map(|(n, v)| format!("{n}: {v}")))
        .collect()
}

/// Whether two absolute URLs have the same origin (scheme, host, port): custom
/// headers follow a redirect only within the origin of the file's URL.
pub fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        assert_eq!(
            parse_header_line("X-Token:  abc def \t").unwrap(),
            ("X-Token".into(), "abc def".into())
        );
        assert_eq!(
            parse_header_line("Authorization: Bearer x").unwrap().0,
            "Authorization"
        );
        assert_eq!(parse_header_line("X-Empty:").unwrap().1, "");
        for bad in [
            "no colon",
            ": no name",
            "Bad Name: x",
            "X-A: b\r\nX-B: c",
            "X-A: b\n",
            "X-A: b\0",
            "X-A: b\x01",
            "Range: bytes=0-",
            "if-range: x",
            "HOST: evil",
            "Transfer-Encoding: chunked",
            "Content-Length: 5",
        ] {
            let e = parse_header_line(bad).unwrap_err();
            assert_eq!(e.code(), codes::E_INVALIDARG, "{bad:?}");
        }
        let long = format!("X-Long: {}", "a".repeat(MAX_HEADER_LINE));
        assert_eq!(
            parse_header_line(&long).unwrap_err().code(),
            codes::STRING_TOO_LONG
        );
        let many: Vec<String> = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v")).collect();
        assert!(check_custom_headers(&many).is_err());
        assert_eq!(
            check_custom_headers(&["X-A:1", "X-B: 2 "]).unwrap(),
            vec!["X-A: 1", "X-B: 2"]
        );
    }

    #[test]
    fn flags() {
        use security::*;
        for ok in [
            0,
            REDIRECT_ALLOW_REPORT,
            REDIRECT_DISALLOW,
            ALLOW_HTTPS_TO_HTTP | REDIRECT_ALLOW_REPORT,
        ] {
            check_security_flags(ok).unwrap();
        }
        assert_eq!(
            check_security_flags(0x0001).unwrap_err().code(),
            codes::E_NOTIMPL
        );
        assert_eq!(
            check_security_flags(0x0008).unwrap_err().code(),
            codes::E_NOTIMPL
        );
        for bad in [0x0300, 0x0400, 0x0700, 0x1000, 0x8000_0000] {
            assert_eq!(
                check_security_flags(bad).unwrap_err().code(),
                codes::E_INVALIDARG,
                "{bad:#x}"
            );
        }
    }

    #[test]
    fn origins() {
        assert!(same_origin("http://a:1/x", "http://a:1/y?z"));
        assert!(same_origin("https://a/x", "https://a:443/y"));
        assert!(!same_origin("http://a:1/x", "http://a:2/x"));
        assert!(!same_origin("http://a/x", "https://a/x"));
        assert!(!same_origin("http://a/x", "http://b/x"));
        assert!(!same_origin("http://a/x", "not a url"));
    }
}
