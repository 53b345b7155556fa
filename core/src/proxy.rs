//! A job's proxy (docs/spec.md §8 `set_proxy_settings`, BITS `SetProxySettings`): the settings
//! are checked here, at the call, and [`proxy_for`] picks the proxy of each request.
//!
//! - PRECONFIG (the default) reads the environment the way curl does: `https_proxy`
//!   (or `HTTPS_PROXY`) for https URLs, `http_proxy` for http URLs (lower case only:
//!   `HTTP_PROXY` can be set from a request header in CGI programs), else `all_proxy`
//!   (or `ALL_PROXY`); `no_proxy` (or `NO_PROXY`) lists the hosts that bypass it.
//! - NO_PROXY: no proxy at all.
//! - OVERRIDE: one proxy URL, `http://`, `https://`, `socks5h://` (the proxy resolves
//!   host names) or `socks5://` (bgcopy resolves them), with a bypass list in the
//!   `no_proxy` syntax.
//!
//! Bypass entries (comma or white space separated): `*` (everything); a host name,
//! which matches itself and its subdomains (a leading `.` or `*.` is allowed); an IP
//! address; or an IP network in CIDR form (`10.0.0.0/8`, `fd00::/8`). Ports are not
//! part of an entry.

use crate::error::{Error, Result, codes};
use crate::request::Credential;
use crate::types::{AuthScheme, AuthTarget, ProxyUsage};
use std::net::IpAddr;

/// Longest proxy URL and bypass list accepted (characters).
pub const MAX_PROXY: usize = 2048;
/// Longest bypass list accepted (characters).
pub const MAX_BYPASS: usize = 8192;

/// A job's proxy settings, as `get_proxy_settings` returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxySettings {
    /// Which proxy the job's requests use.
    pub usage: ProxyUsage,
    /// The proxy URL (OVERRIDE), else empty.
    pub proxy: String,
    /// The bypass list (OVERRIDE), else empty.
    pub bypass: String,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            usage: ProxyUsage::Preconfig,
            proxy: String::new(),
            bypass: String::new(),
        }
    }
}

/// Check the arguments of `set_proxy_settings`; the proxy URL comes back normalized.
pub fn check_proxy_settings(usage: ProxyUsage, proxy: &str, bypass: &str) -> Result<ProxySettings> {
    crate::args::check_len("proxy", proxy, MAX_PROXY)?;
    crate::args::check_len("bypass", bypass, MAX_BYPASS)?;
    if usage != ProxyUsage::Override {
        if !proxy.is_empty() || !bypass.is_empty() {
            return Err(Error::invalid_arg(format!(
                "a proxy and a bypass list go only with OVERRIDE, not {usage}"
            )));
        }
        return Ok(ProxySettings {
            usage,
            ..ProxySettings::default()
        });
    }
    let proxy = parse_proxy(proxy)?;
    for entry in entries(bypass) {
        check_entry(entry)?;
    }
    Ok(ProxySettings {
        usage,
        proxy,
        bypass: entries(bypass).collect::<Vec<_>>().join(","),
    })
}

/// An OVERRIDE proxy URL: a scheme bgcopy speaks, a host, maybe a port, nothing else.
fn parse_proxy(proxy: &str) -> Result<String> {
    let shown = crate::redact::redact_text(proxy);
    if proxy.is_empty() {
        return Err(Error::invalid_arg(
            "OVERRIDE needs a proxy URL (http://, https://, socks5h:// or socks5://)",
        ));
    }
    if proxy.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid_arg(format!(
            "proxy {shown:?} holds white space or control characters"
        )));
    }
    let u = url::Url::parse(proxy)
        .map_err(|e| Error::invalid_arg(format!("proxy {shown:?} is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https" | "socks5h" | "socks5") {
        return Err(Error::invalid_arg(format!(
            "proxy {shown:?}: the scheme must be http, https, socks5h or socks5"
        )));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid_arg(format!("proxy {shown:?} has no host")));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Error::invalid_arg(format!(
            "proxy {shown:?} holds credentials: set them with set_credentials(PROXY, BASIC, …), \
             which keeps them write-only"
        )));
    }
    if !matches!(u.path(), "" | "/") || u.query().is_some() || u.fragment().is_some() {
        return Err(Error::invalid_arg(format!(
            "proxy {shown:?} has a path, query or fragment: give scheme://host[:port]"
        )));
    }
    // The url crate lower-cases hosts of http(s) URLs only.
    let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
    Ok(match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    })
}

/// The entries of a bypass list.
fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .map(str::trim)
        .filter(|e| !e.is_empty())
}

fn check_entry(e: &str) -> Result<()> {
    if e == "*" || e.parse::<IpAddr>().is_ok() || parse_cidr(e).is_some() {
        return Ok(());
    }
    let name = e.trim_start_matches("*.").trim_start_matches('.');
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_arg(format!(
            "bypass entry {:?} is not *, a host name, an IP address or a CIDR network",
            crate::redact::printable(e)
        )))
    }
}

fn parse_cidr(e: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = e.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn in_network(host: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (h, n, width) = match (host, net) {
        (IpAddr::V4(h), IpAddr::V4(n)) => (u32::from(h) as u128, u32::from(n) as u128, 32),
        (IpAddr::V6(h), IpAddr::V6(n)) => (u128::from(h), u128::from(n), 128),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - u32::from(bits);
    (h >> shift) == (n >> shift)
}

/// Whether `host` (a URL's host, IPv6 without brackets) is in the bypass `list`.
pub fn bypassed(host: &str, list: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    entries(list).any(|e| {
        if e == "*" {
            return true;
        }
        if let Some((net, bits)) = parse_cidr(e) {
            return ip.is_some_and(|ip| in_network(ip, net, bits));
        }
        if let Ok(addr) = e.parse::<IpAddr>() {
            return ip == Some(addr);
        }
        let name = e
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        host == name || host.ends_with(&format!(".{name}"))
    })
}

/// The environment variable named `name` in lower or upper case (lower first).
fn env_either(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .or_else(|| std::env::var(name.to_ascii_uppercase()).ok())
        .filter(|v| !v.trim().is_empty())
}

/// The proxy of the environment for a request to `url` (PRECONFIG), if any.
fn from_env(url: &url::Url) -> Option<String> {
    let proxy = if url.scheme() == "https" {
        env_either("https_proxy")
    } else {
        std::env::var("http_proxy")
            .ok()
            .filter(|v| !v.trim().is_empty())
    }
    .or_else(|| env_either("all_proxy"))?;
    let bypass = env_either("no_proxy").unwrap_or_default();
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    if bypassed(host, &bypass) {
        return None;
    }
    // curl's habit: a proxy without a scheme is an HTTP proxy.
    Some(if proxy.contains("://") {
        proxy.trim().to_string()
    } else {
        format!("http://{}", proxy.trim())
    })
}

/// The proxy a request to `url` goes through under `settings`, as a URL that carries
/// the job's PROXY credentials (BASIC) if it has some; `None`: straight to the server.
/// An environment proxy that does not parse is ignored (as curl ignores it).
pub(crate) fn proxy_for(
    url: &str,
    settings: &ProxySettings,
    creds: &[Credential],
) -> Option<ureq::Proxy> {
    let u = url::Url::parse(url).ok()?;
    let chosen = match settings.usage {
        ProxyUsage::NoProxy => None,
        ProxyUsage::Preconfig => from_env(&u),
        ProxyUsage::Override => {
            let host = u.host_str().unwrap_or_default().trim_matches(['[', ']']);
            (!bypassed(host, &settings.bypass)).then(|| settings.proxy.clone())
        }
    }?;
    let mut p = url::Url::parse(&chosen).ok()?;
    if let Some(c) = creds
        .iter()
        .rev()
        .find(|c| c.target == AuthTarget::Proxy && c.scheme == AuthScheme::Basic)
    {
        // The url crate percent-encodes what userinfo cannot hold; ureq decodes it.
        p.set_username(&c.user).ok()?;
        p.set_password(Some(&c.secret)).ok()?;
    }
    ureq::Proxy::new(p.as_str()).ok()
}

/// PROXY credentials must be BASIC: proxies (HTTP CONNECT, SOCKS5) take a user name
/// and password.
pub(crate) fn check_proxy_scheme(target: AuthTarget, scheme: AuthScheme) -> Result<()> {
    if target == AuthTarget::Proxy && scheme != AuthScheme::Basic {
        return Err(Error::new(
            codes::E_NOTIMPL,
            format!("a proxy takes BASIC credentials (user name and password), not {scheme}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let s = check_proxy_settings(ProxyUsage::Override, "SOCKS5H://Proxy.Example:1080/", "")
            .unwrap();
        assert_eq!(s.proxy, "socks5h://proxy.example:1080");
        let s = check_proxy_settings(
            ProxyUsage::Override,
            "http://127.0.0.1:3128",
            " localhost, .internal;10.0.0.0/8 ::1 ",
        )
        .unwrap();
        assert_eq!(s.bypass, "localhost,.internal,10.0.0.0/8,::1");
        for (usage, proxy, bypass) in [
            (ProxyUsage::Override, "", ""),
            (ProxyUsage::Override, "ftp://p:21", ""),
            (ProxyUsage::Override, "http://u:pw@p:1", ""),
            (ProxyUsage::Override, "http://p:1/path", ""),
            (ProxyUsage::Override, "http://p:1\r\nX: y", ""),
            (ProxyUsage::Override, "http://p:1", "bad entry!"),
            (ProxyUsage::Preconfig, "http://p:1", ""),
            (ProxyUsage::NoProxy, "", "localhost"),
        ] {
            let e = check_proxy_settings(usage, proxy, bypass).unwrap_err();
            assert_eq!(e.code(), codes::E_INVALIDARG, "{proxy:?} {bypass:?}: {e}");
            assert!(!e.message().contains("pw"), "{e}");
        }
    }

    #[test]
    fn bypass_lists_match_like_curl() {
        let list = "example.com,.corp.test,10.1.0.0/16,::1,192.168.1.7";
        for host in [
            "example.com",
            "a.example.com",
            "x.corp.test",
            "10.1.200.3",
            "::1",
        ] {
            assert!(bypassed(host, list), "{host}");
        }
        for host in [
            "example.org",
            "badexample.com",
            "corp.testing",
            "10.2.0.1",
            "192.168.1.8",
        ] {
            assert!(!bypassed(host, list), "{host}");
        }
        assert!(bypassed("anything", "*"));
        assert!(!bypassed("anything", ""));
    }

    #[test]
    fn proxy_credentials_ride_in_the_proxy_url() {
        let s =
            check_proxy_settings(ProxyUsage::Override, "http://127.0.0.1:3128", "skip.me").unwrap();
        let creds = [crate::request::check_credential(
            AuthTarget::Proxy,
            AuthScheme::Basic,
            "pu",
            "p@ss:w",
        )
        .unwrap()];
        let p = proxy_for("http://h.example/x", &s, &creds).unwrap();
        assert_eq!((p.username(), p.password()), (Some("pu"), Some("p@ss:w")));
        assert_eq!(p.port(), 3128);
        assert!(proxy_for("http://a.skip.me/x", &s, &creds).is_none());
        let none = ProxySettings {
            usage: ProxyUsage::NoProxy,
            ..ProxySettings::default()
        };
        assert!(proxy_for("http://h.example/x", &none, &creds).is_none());
        assert_eq!(
            check_proxy_scheme(AuthTarget::Proxy, AuthScheme::Bearer)
                .unwrap_err()
                .code(),
            codes::E_NOTIMPL
        );
    }
}
