//! One GET of a file: with Range and If-Range when resuming and the job's custom
//! headers, following redirects itself (each `Location` parsed by WHATWG rules; loops,
//! too many hops, non-http(s) targets and https→http refused: REDIRECT_FAILED) as the
//! job's redirect policy allows. Custom headers go only to the file URL's origin.

use super::EngineCtx;
use super::classify::Blame;
use super::http::scheme_of;
use crate::error::codes;
use crate::policy::Failure;
use crate::request::security;
use std::collections::HashSet;
use ureq::http::Response;

/// What to ask for: the file's URL, and where to resume (offset, validator).
pub(super) struct Ask<'a> {
    pub url: &'a str,
    pub offset: u64,
    /// Where a segment ends (exclusive): the request asks for `[offset, end)`.
    pub end: Option<u64>,
    pub validator: Option<&'a str>,
    pub file: usize,
    /// The job's custom headers and `Authorization` (name, value), sent only to the
    /// origin of `headers_origin`.
    pub headers: &'a [(String, String)],
    pub headers_origin: &'a str,
    /// The job's security flags.
    pub flags: u32,
    /// The job's proxy settings and credentials (each hop picks its proxy).
    pub proxy: &'a crate::ProxySettings,
    pub creds: &'a [crate::request::Credential],
    /// The job's TLS client certificate files.
    pub client_cert: Option<&'a (std::path::PathBuf, std::path::PathBuf)>,
}

/// GET the file; the response and the URL it came from (after redirects).
pub(super) fn fetch(
    ctx: &EngineCtx,
    ask: Ask<'_>,
) -> Result<(Response<ureq::Body>, String), Failure> {
    let opts = &ctx.opts;
    let mut url = ask.url.to_string();
    let mut seen = HashSet::new();
    let agent = ctx.agent_for(ask.client_cert).map_err(|e| {
        Blame {
            file: ask.file,
            protocol: Some(scheme_of(&url)),
        }
        .transport(false, e.code(), e.message())
    })?;
    for _ in 0..=opts.max_redirects {
        let blame = Blame {
            file: ask.file,
            protocol: Some(scheme_of(&url)),
        };
        let refuse = |msg: String| blame.remote(codes::REDIRECT_FAILED, &msg);
        if !seen.insert(url.clone()) {
            return Err(refuse(format!("redirect loop at {url}")));
        }
        let mut req = agent
            .get(&url)
            .config()
            .proxy(crate::proxy::proxy_for(&url, ask.proxy, ask.creds))
            .build();
        if !ask.headers.is_empty() && crate::request::same_origin(ask.headers_origin, &url) {
            for (name, value) in ask.headers {
                req = req.header(name.as_str(), value.as_str());
            }
        }
        if let Some(end) = ask.end {
            req = req.header("Range", format!("bytes={}-{}", ask.offset, end - 1));
            if let Some(v) = ask.validator {
                req = req.header("If-Range", v);
            }
        } else if ask.offset > 0 {
            req = req.header("Range", format!("bytes={}-", ask.offset));
            if let Some(v) = ask.validator {
                req = req.header("If-Range", v);
            }
        }
        if log::log_enabled!(target: "bgcopy::http", log::Level::Debug) {
            let range = match (ask.end, ask.offset) {
                (Some(end), from) => format!(" bytes={from}-{}", end - 1),
                (None, 0) => String::new(),
                (None, from) => format!(" bytes={from}-"),
            };
            // The log sink strips every URL's query and password (redact::loggable_text).
            log::debug!(target: "bgcopy::http", "GET {url}{range}");
        }
        let resp = req.call().map_err(|e| {
            let f = blame.ureq(e);
            log::debug!(target: "bgcopy::http", "{url}: {}", f.error.description);
            f
        })?;
        let status = resp.status().as_u16();
        log::debug!(
            target: "bgcopy::http",
            "{status} {} from {}",
            super::http::header(&resp, "content-length").map_or("(no length)".to_string(), |n| format!("{n} bytes")),
            url
        );
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return Ok((resp, url));
        }
        if ask.flags & security::REDIRECT_POLICY_MASK == security::REDIRECT_DISALLOW {
            // BITS: the job fails with the redirect's own status.
            let to = super::http::header(&resp, "location").unwrap_or("nowhere");
            let mut f = blame.status(status, &resp);
            f.error.description = format!(
                "{} to {}; the job's redirect policy is DISALLOW",
                f.error.description,
                crate::redact::redact_text(&crate::redact::printable(to))
            );
            return Err(f);
        }
        let loc = super::http::header(&resp, "location")
            .ok_or_else(|| refuse(format!("HTTP {status} without a Location")))?;
        let next = crate::urls::resolve_location(&url, loc)
            .map_err(|why| refuse(format!("refused a redirect to {why}")))?;
        let next_scheme = next.scheme().to_string();
        let next = String::from(next);
        let downgrade_ok =
            opts.allow_https_to_http_redirect || ask.flags & security::ALLOW_HTTPS_TO_HTTP != 0;
        if scheme_of(&url) == "https" && next_scheme == "http" && !downgrade_ok {
            return Err(refuse(format!(
                "refused a redirect from https to http ({next})"
            )));
        }
        url = next;
    }
    Err(Blame {
        file: ask.file,
        protocol: Some(scheme_of(&url)),
    }
    .remote(
        codes::REDIRECT_FAILED,
        &format!("more than {} redirects", opts.max_redirects),
    ))
}
