//! Remote URLs: parsed by WHATWG rules (the `url` crate) when a file is added and for
//! every redirect `Location` (how they are shown: `redact.rs`).

use crate::error::{Error, Result};
use crate::redact::{redact_text, redact_url};
use url::Url;

/// Longest remote URL accepted (characters).
pub(crate) const MAX_URL: usize = 8192;

/// Parse and check a remote URL given to `add_file` (and the like): http or https,
/// with a host and a valid port, no white space or control characters. Returns the
/// URL in its normalized (WHATWG) form, which is what bgcopy stores and requests.
pub(crate) fn parse_remote(url: &str) -> Result<Url> {
    crate::args::check_len("remote URL", url, MAX_URL)?;
    let shown = redact_text(url);
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid_arg(format!(
            "remote URL {shown:?} contains white space or control characters (CR/LF are never allowed)"
        )));
    }
    if !url.contains("://") {
        return Err(Error::invalid_arg(format!(
            "remote URL {shown:?} is not absolute (http:// or https://)"
        )));
    }
    let parsed = Url::parse(url)
        .map_err(|e| Error::invalid_arg(format!("remote URL {shown:?} is malformed: {e}")))?;
    check_http(&parsed).map_err(|why| Error::invalid_arg(format!("remote URL {shown:?} {why}")))?;
    Ok(parsed)
}

/// The rules every URL bgcopy requests follows (added, redirected to, replaced).
fn check_http(u: &Url) -> std::result::Result<(), String> {
    match u.scheme() {
        "http" | "https" => {}
        s => {
            return Err(format!(
                "has scheme {s:?}: only http and https are supported"
            ));
        }
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    // The HTTP client parses the URL again; both parsers must agree it is valid.
    if u.as_str().parse::<ureq::http::Uri>().is_err() {
        return Err("cannot be sent in an HTTP request".into());
    }
    Ok(())
}

/// Resolve a redirect's `Location` against the URL that sent it (relative references
/// included) and check the target like an added URL. `Err` says why it is refused.
pub(crate) fn resolve_location(base: &str, location: &str) -> std::result::Result<Url, String> {
    if location.chars().any(|c| c.is_control()) {
        return Err("a Location with control characters".into());
    }
    let base = Url::parse(base).map_err(|e| format!("a bad base URL: {e}"))?;
    let next = base
        .join(location.trim())
        .map_err(|e| format!("a bad Location {:?}: {e}", redact_text(location)))?;
    check_http(&next)
        .map_err(|why| format!("a Location that {why}: {}", redact_url(next.as_str())))?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_whatwg_rules() {
        assert_eq!(
            parse_remote("http://127.0.0.1:8080/a?b").unwrap().as_str(),
            "http://127.0.0.1:8080/a?b"
        );
        for bad in [
            "http://127.0.0.1:99999/x",
            "http://127.0.0.1:-1/x",
            "http://[::1/x",
            "http://exa mple.com/",
            "ftp://host/x",
            "data:text/plain,hi",
            "file:///etc/passwd",
            "/relative",
            "http://",
            "http://a\r\nb/",
            "https://host:port/",
        ] {
            let e = parse_remote(bad).unwrap_err();
            assert_eq!(e.code(), crate::codes::E_INVALIDARG, "{bad}");
        }
    }

    #[test]
    fn locations_resolve_or_are_refused() {
        let b = "http://h:1/a/b?x=1";
        let r = |l| resolve_location(b, l).map(|u| u.to_string());
        assert_eq!(r("/c").unwrap(), "http://h:1/c");
        assert_eq!(r("c?d").unwrap(), "http://h:1/a/c?d");
        assert_eq!(r("//o/p").unwrap(), "http://o/p");
        assert_eq!(r("https://z/").unwrap(), "https://z/");
        assert!(r("data:text/plain,x").is_err());
        assert!(r("file:///etc/passwd").is_err());
        assert!(r("http://h:99999/").is_err());
        assert!(r("javascript:alert(1)").is_err());
    }
}
