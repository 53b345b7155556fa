//! What a job adds to its requests (docs/spec.md §8, BITS `IBackgroundCopyJobHttpOptions` and
//! `IBackgroundCopyJob2`): custom header lines, the security flags (redirect policy,
//! https→http) and credentials. The values are checked here, at the call; the engine
//! applies them in `engine/fetch.rs`.

use crate::error::{Error, Result, codes};
use crate::types::{AuthScheme, AuthTarget};

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
/// At most this many bytes in all custom header lines together: the whole request
/// head must fit the HTTP client's 128 KiB output buffer with the URL (≤ 8 KiB) and
/// bgcopy's own headers, and servers refuse far less (nginx 32 KiB, IIS 16 KiB by
/// default). Without it 64 lines of 8 KiB (512 KiB) were accepted, which no request
/// could carry.
pub const MAX_HEADERS_TOTAL: usize = 65536;

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
/// No error shows a value (it may be a secret): at most the name.
pub fn parse_header_line(line: &str) -> Result<(String, String)> {
    let which = || match line.split_once(':') {
        Some((n, _)) if !n.is_empty() && n.len() <= 64 && n.bytes().all(is_token_char) => {
            format!("custom header {n:?}")
        }
        _ => "a custom header line".to_string(),
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
            "{} holds CR, LF or NUL (one header a line, without line ends)",
            which()
        )));
    }
    let Some((name, value)) = line.split_once(':') else {
        return Err(Error::invalid_arg(
            "a custom header line is not of the form \"Name: value\" (it has no ':')",
        ));
    };
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return Err(Error::invalid_arg(format!(
            "custom header name {:?} is not a valid HTTP field name",
            crate::redact::printable(name)
                .chars()
                .take(40)
                .collect::<String>()
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
    let lines: Vec<String> = lines
        .iter()
        .map(|l| parse_header_line(l.as_ref()).map(|(n, v)| format!("{n}: {v}")))
        .collect::<Result<_>>()?;
    let total: usize = lines.iter().map(|l| l.len() + 2).sum();
    if total > MAX_HEADERS_TOTAL {
        return Err(Error::new(
            codes::STRING_TOO_LONG,
            format!(
                "the custom headers hold {total} bytes; at most {MAX_HEADERS_TOTAL} are allowed"
            ),
        ));
    }
    Ok(lines)
}

/// Whether two absolute URLs have the same origin (scheme, host, port): custom
/// headers follow a redirect only within the origin of the file's URL.
pub fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// A job's credentials for one target and scheme. Write-only: no call returns them,
/// and `Debug` shows neither the user nor the secret.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    pub target: AuthTarget,
    pub scheme: AuthScheme,
    pub user: String,
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({} {}, ***)", self.target, self.scheme)
    }
}

/// Longest user name and secret accepted (characters).
pub const MAX_USER: usize = 1024;
/// Longest secret (password or token) accepted (characters).
pub const MAX_SECRET: usize = 8192;

/// Check the arguments of `set_credentials`. No message shows the secret.
pub(crate) fn check_credential(
    target: AuthTarget,
    scheme: AuthScheme,
    user: &str,
    secret: &str,
) -> Result<Credential> {
    crate::args::check_len("user name", user, MAX_USER)?;
    if secret.chars().count() > MAX_SECRET {
        return Err(Error::new(
            codes::STRING_TOO_LONG,
            format!("the secret is longer than {MAX_SECRET} characters"),
        ));
    }
    if user.chars().any(char::is_control) {
        return Err(Error::invalid_arg(
            "the user name holds control characters (CR, LF, NUL, …)",
        ));
    }
    if secret.chars().any(char::is_control) {
        return Err(Error::invalid_arg(
            "the secret holds control characters (CR, LF, NUL, …)",
        ));
    }
    match scheme {
        AuthScheme::Basic => {
            if user.contains(':') {
                return Err(Error::invalid_arg(
                    "a BASIC user name cannot hold ':' (RFC 7617)",
                ));
            }
        }
        AuthScheme::Bearer => {
            if !user.is_empty() {
                return Err(Error::invalid_arg(
                    "a BEARER credential has no user name: pass \"\" and the token as the secret",
                ));
            }
            // RFC 6750 b64token: letters, digits, - . _ ~ + / and trailing '='.
            let body = secret.trim_end_matches('=');
            if body.is_empty()
                || !body
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
            {
                return Err(Error::invalid_arg(
                    "a BEARER token must be letters, digits and - . _ ~ + / (then any '='), \
                     not empty",
                ));
            }
        }
    }
    Ok(Credential {
        target,
        scheme,
        user: user.to_string(),
        secret: secret.to_string(),
    })
}

/// The `Authorization` (or `Proxy-Authorization`) value for `c`.
pub(crate) fn authorization(c: &Credential) -> String {
    match c.scheme {
        AuthScheme::Basic => basic(&c.user, &c.secret),
        AuthScheme::Bearer => format!("Bearer {}", c.secret),
    }
}

fn basic(user: &str, secret: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `Basic` credentials from a URL's userinfo (percent-decoded), like curl: how a URL
/// `https://user:pass@host/…` keeps working when the job sets no SERVER credentials.
pub(crate) fn userinfo_basic(url: &str) -> Option<String> {
    // No `@`, no userinfo (and no URL parse for each file's request).
    if !url.contains('@') {
        return None;
    }
    let u = url::Url::parse(url).ok()?;
    if u.username().is_empty() && u.password().is_none() {
        return None;
    }
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some(basic(&dec(u.username()), &dec(u.password().unwrap_or(""))))
}

/// The headers a job sends to the origin of a file's `url` only (never after a
/// redirect to another origin): its custom headers, and `Authorization` from its newest
/// SERVER credentials, else from the URL's userinfo unless a custom header sets it.
pub(crate) fn origin_headers(
    custom: &[String],
    creds: &[Credential],
    url: &str,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = custom
        .iter()
        .filter_map(|l| parse_header_line(l).ok())
        .collect();
    let is_auth = |h: &(String, String)| h.0.eq_ignore_ascii_case("authorization");
    if let Some(c) = creds.iter().rev().find(|c| c.target == AuthTarget::Server) {
        headers.retain(|h| !is_auth(h));
        headers.push(("Authorization".into(), authorization(c)));
    } else if !headers.iter().any(is_auth)
        && let Some(v) = userinfo_basic(url)
    {
        headers.push(("Authorization".into(), v));
    }
    headers
}

/// The credentials stored as NUL-ended fields, four per credential (target and scheme
/// as numbers, user, secret).
pub(crate) fn encode_credentials(creds: &[Credential]) -> Vec<String> {
    creds
        .iter()
        .flat_map(|c| {
            [
                (c.target as u32).to_string(),
                (c.scheme as u32).to_string(),
                c.user.clone(),
                c.secret.clone(),
            ]
        })
        .collect()
}

/// The inverse of [`encode_credentials`]; `None` for fields that do not decode.
pub(crate) fn decode_credentials(fields: &[String]) -> Option<Vec<Credential>> {
    if !fields.len().is_multiple_of(4) {
        return None;
    }
    fields
        .chunks(4)
        .map(|c| {
            Some(Credential {
                target: AuthTarget::from_u32(c[0].parse().ok()?)?,
                scheme: AuthScheme::from_u32(c[1].parse().ok()?)?,
                user: c[2].clone(),
                secret: c[3].clone(),
            })
        })
        .collect()
}

/// A TLS client certificate for a job (BITS HttpOptions `SetClientCertificate…`, here
/// from PEM files): the certificate chain and its private key, read and checked.
pub(crate) fn load_client_cert(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<ureq::tls::ClientCert> {
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p)
            .map_err(|e| Error::invalid_arg(format!("cannot read the {what} {}: {e}", p.display())))
    };
    let bad = |p: &std::path::Path, what: &str| {
        Error::invalid_arg(format!("{} holds no PEM {what}", p.display()))
    };
    let pem = read(cert, "client certificate")?;
    let chain: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
            _ => None,
        })
        .collect();
    if chain.is_empty() {
        return Err(bad(cert, "certificate"));
    }
    let pem = read(key, "private key")?;
    let private = ureq::tls::parse_pem(&pem)
        .find_map(|i| match i {
            Ok(ureq::tls::PemItem::PrivateKey(k)) => Some(k.to_owned()),
            _ => None,
        })
        .ok_or_else(|| bad(key, "private key"))?;
    Ok(ureq::tls::ClientCert::new_with_certs(&chain, private))
}

/// The stored form of an expected digest, `sha256:<64 lower-case hex digits>`, from
/// `set_expected_hash(algorithm, hex)`: `sha256` (or `SHA-256`) only; other well-known
/// algorithms are E_NOTIMPL, anything else E_INVALIDARG.
pub(crate) fn check_expected_hash(algorithm: &str, hex: &str) -> Result<String> {
    let algo = algorithm.to_ascii_lowercase().replace('-', "");
    if algo != "sha256" {
        let known = [
            "md5", "sha1", "sha224", "sha384", "sha512", "sha3256", "blake2b", "blake3",
        ];
        let shown = crate::redact::printable(algorithm);
        return Err(if known.contains(&algo.as_str()) {
            Error::new(
                codes::E_NOTIMPL,
                format!("hash algorithm {shown:?} is not supported: use sha256"),
            )
        } else {
            Error::invalid_arg(format!("hash algorithm {shown:?} is not known: use sha256"))
        });
    }
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid_arg(format!(
            "a sha256 digest is 64 hexadecimal digits, not {:?}",
            crate::redact::printable(&hex.chars().take(80).collect::<String>())
        )));
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// A stored digest checked again (when loaded).
pub(crate) fn check_hash_text(stored: &str) -> Result<String> {
    let (algo, hex) = stored
        .split_once(':')
        .ok_or_else(|| Error::invalid_arg("a stored digest is algorithm:hex"))?;
    check_expected_hash(algo, hex)
}

/// The bytes of a stored `sha256:<hex>` digest.
pub(crate) fn sha256_bytes(stored: &str) -> Option<[u8; 32]> {
    let hex = stored.strip_prefix("sha256:")?;
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Lower-case hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A response's header lines (`Name: value`) as `get_response_headers()` shows them:
/// values that hold one of `secrets` (the job's credentials and the `Authorization`
/// it sent) are `***`, so no server can echo a secret back to whoever reads them.
pub(crate) fn response_lines(headers: &ureq::http::HeaderMap, secrets: &[&str]) -> Vec<String> {
    headers
        .iter()
        .map(|(name, value)| {
            let v = String::from_utf8_lossy(value.as_bytes());
            let hidden = secrets.iter().any(|s| !s.is_empty() && v.contains(s));
            let v = if hidden {
                "***".into()
            } else {
                crate::redact::printable(&v).into_owned()
            };
            format!("{}: {v}", name.as_str())
        })
        .collect()
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
        // Every line within its limit, all of them together beyond theirs.
        let big = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("X-{i:02}: {}", "a".repeat(MAX_HEADER_LINE - 16)))
                .collect()
        };
        assert_eq!(check_custom_headers(&big(8)).unwrap().len(), 8);
        assert_eq!(
            check_custom_headers(&big(9)).unwrap_err().code(),
            codes::STRING_TOO_LONG
        );
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

    #[test]
    fn credentials() {
        let c = check_credential(
            AuthTarget::Server,
            AuthScheme::Basic,
            "Aladdin",
            "open sesame",
        )
        .unwrap();
        assert_eq!(authorization(&c), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(!format!("{c:?}").contains("sesame") && !format!("{c:?}").contains("Aladdin"));
        let t =
            check_credential(AuthTarget::Proxy, AuthScheme::Bearer, "", "abc.DEF-_~+/==").unwrap();
        assert_eq!(authorization(&t), "Bearer abc.DEF-_~+/==");
        for (scheme, user, secret) in [
            (AuthScheme::Basic, "a:b", "x"),
            (AuthScheme::Basic, "a", "x\r\nX-Evil: 1"),
            (AuthScheme::Basic, "a\0", "x"),
            (AuthScheme::Bearer, "u", "zz9"),
            (AuthScheme::Bearer, "", ""),
            (AuthScheme::Bearer, "", "has space"),
            (AuthScheme::Bearer, "", "=="),
        ] {
            let e = check_credential(AuthTarget::Server, scheme, user, secret).unwrap_err();
            assert_eq!(e.code(), codes::E_INVALIDARG, "{user:?} {secret:?}");
            assert!(secret.len() < 3 || !e.message().contains(secret), "{e}");
        }
        let long = "x".repeat(MAX_SECRET + 1);
        let e = check_credential(AuthTarget::Server, AuthScheme::Basic, "u", &long).unwrap_err();
        assert_eq!(e.code(), codes::STRING_TOO_LONG);
        let both = vec![c.clone(), t.clone()];
        assert_eq!(
            decode_credentials(&encode_credentials(&both)).unwrap(),
            both
        );
        assert!(decode_credentials(&["1".into(), "9".into(), "u".into(), "s".into()]).is_none());
        assert_eq!(
            userinfo_basic("http://Aladdin:open%20sesame@h/x").unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(userinfo_basic("http://h/x").is_none());
    }
}
