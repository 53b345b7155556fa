//! HTTP: the agent (one connection pool per manager) and pure helpers that read a
//! response: validators, lengths, ranges.

use crate::error::Error;
use crate::options::ManagerOptions;
use ureq::http::{HeaderMap, Response};

/// The HTTP agent every transfer of a manager shares (its connection pool); with
/// `client`, the agent of the jobs that present that TLS client certificate (ureq's
/// pool does not tell TLS configurations apart, so each certificate has its own).
pub(crate) fn make_agent(
    opts: &ManagerOptions,
    client: Option<ureq::tls::ClientCert>,
) -> crate::Result<ureq::Agent> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(paths) = &opts.tls_root_certs {
        let mut certs = Vec::new();
        for p in paths {
            let pem = std::fs::read(p)
                .map_err(|e| Error::from_io(&format!("read {}", p.display()), &e))?;
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(Error::invalid_arg(format!(
                            "{} is not a PEM certificate file: {e}",
                            p.display()
                        )));
                    }
                }
            }
        }
        if certs.is_empty() {
            return Err(Error::invalid_arg("tls_root_certs holds no certificate"));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    tls = tls.client_cert(client);
    let pool = (opts.connections_per_job * opts.background_slots.max(1) * 2).max(16);
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        // Each request picks its proxy (the job's settings; see `proxy.rs`).
        .proxy(None)
        .max_redirects_will_error(false)
        .user_agent(opts.user_agent.as_str())
        .timeout_connect(Some(opts.connect_timeout))
        // No read or write waits longer than `read_timeout`, and a response head
        // dripped byte by byte ends after twice that. The socket timeouts then stay
        // the same from one request on a connection to the next (ureq sets one only
        // when it changes): a phase bound equal to the per-read one would be "the
        // time left", set anew on every request (two `setsockopt` per file).
        .timeout_per_read(Some(opts.read_timeout))
        .timeout_per_write(Some(opts.read_timeout))
        .timeout_recv_response(Some(opts.read_timeout.saturating_mul(2)))
        .max_idle_connections(pool)
        .max_idle_connections_per_host(pool)
        .input_buffer_size(256 * 1024)
        .tls_config(tls.build())
        .build();
    Ok(config.into())
}

/// `http` or `https`, from a URL.
pub(crate) fn scheme_of(url: &str) -> &'static str {
    if url.len() >= 8 && url[..8].eq_ignore_ascii_case("https://") {
        "https"
    } else {
        "http"
    }
}

/// What carries response headers: a response, or (in tests) a bare header map.
pub(crate) trait Headers {
    /// The header map.
    fn map(&self) -> &HeaderMap;
}

impl<B> Headers for Response<B> {
    fn map(&self) -> &HeaderMap {
        self.headers()
    }
}

impl Headers for HeaderMap {
    fn map(&self) -> &HeaderMap {
        self
    }
}

/// A header's value, if present and visible ASCII.
pub(crate) fn header<'a>(resp: &'a impl Headers, name: &str) -> Option<&'a str> {
    resp.map().get(name).and_then(|v| v.to_str().ok())
}

/// Strong ETag, else Last-Modified.
pub(crate) fn validator_of(resp: &impl Headers) -> Option<String> {
    if let Some(etag) = header(resp, "etag").map(str::trim)
        && !etag.starts_with("W/")
        && !etag.is_empty()
    {
        return Some(etag.to_string());
    }
    header(resp, "last-modified")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The body's length, unless it is sent in chunks (or another transfer coding).
pub(crate) fn content_length(resp: &impl Headers) -> Option<u64> {
    if header(resp, "transfer-encoding").is_some() {
        return None;
    }
    header(resp, "content-length").and_then(|v| v.trim().parse().ok())
}

/// `bytes a-b/total` (total may be `*`).
pub(crate) fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.trim().split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    if b < a {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((a, b, total))
}

/// The size in a 416's `Content-Range: bytes */size`.
pub(crate) fn range_total(resp: &impl Headers) -> Option<u64> {
    header(resp, "content-range")?
        .trim()
        .strip_prefix("bytes */")?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, 9, Some(10))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(parse_content_range("bytes 1-2/x"), None);
        assert_eq!(parse_content_range("bytes 1-/3"), None);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for &(k, v) in pairs {
            h.append(k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn validator_is_a_strong_etag_else_last_modified() {
        let lm = "Tue, 01 Dec 2026 00:00:00 GMT";
        for (h, want) in [
            (
                headers(&[("etag", "\"abc\""), ("last-modified", lm)]),
                Some("\"abc\""),
            ),
            (
                headers(&[("etag", "W/\"abc\""), ("last-modified", lm)]),
                Some(lm),
            ),
            (headers(&[("etag", "W/\"abc\"")]), None),
            (headers(&[("etag", " "), ("last-modified", lm)]), Some(lm)),
            (headers(&[("last-modified", " ")]), None),
            (headers(&[]), None),
        ] {
            assert_eq!(validator_of(&h).as_deref(), want, "{h:?}");
        }
    }

    #[test]
    fn length_only_without_a_transfer_coding() {
        assert_eq!(
            content_length(&headers(&[("content-length", " 42 ")])),
            Some(42)
        );
        assert_eq!(content_length(&headers(&[("content-length", "-1")])), None);
        assert_eq!(content_length(&headers(&[("content-length", "x")])), None);
        let chunked = headers(&[("content-length", "42"), ("transfer-encoding", "chunked")]);
        assert_eq!(content_length(&chunked), None);
        assert_eq!(
            range_total(&headers(&[("content-range", "bytes */100")])),
            Some(100)
        );
        assert_eq!(
            range_total(&headers(&[("content-range", "bytes 0-1/100")])),
            None
        );
        assert_eq!(scheme_of("HTTPS://a/"), "https");
        assert_eq!(scheme_of("http://a/"), "http");
    }
}
