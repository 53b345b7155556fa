//! HTTP: the agent (one connection pool per manager) and pure helpers that read a
//! response: validators, lengths, ranges.

use crate::error::Error;
use crate::options::ManagerOptions;
use ureq::http::Response;

/// The HTTP agent every transfer of a manager shares (its connection pool).
pub(crate) fn make_agent(opts: &ManagerOptions) -> crate::Result<ureq::Agent> {
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
    let pool = (opts.connections_per_job * opts.background_slots.max(1) * 2).max(16);
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(opts.user_agent.as_str())
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_recv_response(Some(opts.read_timeout))
        .timeout_per_read(Some(opts.read_timeout))
        .timeout_send_request(Some(opts.read_timeout))
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

pub(crate) fn header<'a>(resp: &'a Response<ureq::Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Strong ETag, else Last-Modified.
pub(crate) fn validator_of(resp: &Response<ureq::Body>) -> Option<String> {
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

pub(crate) fn content_length(resp: &Response<ureq::Body>) -> Option<u64> {
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
pub(crate) fn range_total(resp: &Response<ureq::Body>) -> Option<u64> {
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
    }
}
