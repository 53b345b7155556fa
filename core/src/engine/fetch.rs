//! One GET of a file: with Range and If-Range when resuming, following redirects itself
//! (each `Location` parsed by WHATWG rules; loops, too many hops, non-http(s) targets
//! and https→http refused: REDIRECT_FAILED).

use super::EngineCtx;
use super::classify::Blame;
use super::http::scheme_of;
use crate::error::codes;
use crate::policy::Failure;
use std::collections::HashSet;
use ureq::http::Response;

/// What to ask for: the file's URL, and where to resume (offset, validator).
pub(super) struct Ask<'a> {
    pub url: &'a str,
    pub offset: u64,
    pub validator: Option<&'a str>,
    pub file: usize,
}

/// GET the file; the response and the URL it came from (after redirects).
pub(super) fn fetch(
    ctx: &EngineCtx,
    ask: Ask<'_>,
) -> Result<(Response<ureq::Body>, String), Failure> {
    let opts = &ctx.opts;
    let mut url = ask.url.to_string();
    let mut seen = HashSet::new();
    for _ in 0..=opts.max_redirects {
        let blame = Blame {
            file: ask.file,
            protocol: Some(scheme_of(&url)),
        };
        let refuse = |msg: String| blame.remote(codes::REDIRECT_FAILED, &msg);
        if !seen.insert(url.clone()) {
            return Err(refuse(format!("redirect loop at {url}")));
        }
        let mut req = ctx.agent.get(&url);
        if ask.offset > 0 {
            req = req.header("Range", format!("bytes={}-", ask.offset));
            if let Some(v) = ask.validator {
                req = req.header("If-Range", v);
            }
        }
        let resp = req.call().map_err(|e| blame.ureq(e))?;
        let status = resp.status().as_u16();
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return Ok((resp, url));
        }
        let loc = super::http::header(&resp, "location")
            .ok_or_else(|| refuse(format!("HTTP {status} without a Location")))?;
        let next = crate::urls::resolve_location(&url, loc)
            .map_err(|why| refuse(format!("refused a redirect to {why}")))?;
        let next_scheme = next.scheme().to_string();
        let next = String::from(next);
        if scheme_of(&url) == "https" && next_scheme == "http" && !opts.allow_https_to_http_redirect
        {
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
