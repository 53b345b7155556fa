//! The job methods of the later BITS interfaces (docs/spec.md §8) that shape its requests:
//! custom headers and security flags (HttpOptions), credentials (Job2), the maximum
//! download time (Job4) and new URLs for its files (Job3 `ReplaceRemotePrefix`).

use super::job::CopyJob;
use crate::error::{Error, Result, codes};
use crate::record::JobRec;
use crate::types::*;

impl CopyJob {
    /// The custom header lines (`Name: value`) sent with every request of the job;
    /// ACCESS_DENIED once [`CopyJob::make_custom_headers_write_only`] was called.
    pub fn get_custom_headers(&self) -> Result<Vec<String>> {
        self.table
            .read(self.id, |j| {
                if j.headers_write_only {
                    Err(Error::new(
                        codes::ACCESS_DENIED,
                        "the custom headers of this job are write-only",
                    ))
                } else {
                    Ok(j.custom_headers.clone())
                }
            })
            .and_then(|r| r)
    }

    /// Set the custom header lines (BITS `SetCustomHeaders`), each `Name: value`
    /// (at most 64 lines of 8192 bytes, 64 KiB in all; no CR, LF or NUL; the framing, range and Host
    /// headers are bgcopy's). They go with every request of the job, and with a
    /// redirect only to the same origin (scheme, host and port) as the file's URL. An
    /// empty list clears them. Takes effect with the job's next request.
    pub fn set_custom_headers<S: AsRef<str>>(&self, lines: &[S]) -> Result<()> {
        let lines = crate::request::check_custom_headers(lines)?;
        self.set(|j| &mut j.custom_headers, lines)
    }

    /// From now on the custom headers cannot be read back (BITS
    /// `MakeCustomHeadersWriteOnly`): `get_custom_headers` fails with ACCESS_DENIED and
    /// no output shows them. They can still be replaced. There is no way back.
    pub fn make_custom_headers_write_only(&self) -> Result<()> {
        self.set(|j| &mut j.headers_write_only, true)
    }

    /// The security flags (BITS values; see [`crate::security`]).
    pub fn get_security_flags(&self) -> Result<u32> {
        self.table.read(self.id, |j| j.security_flags)
    }

    /// Set the security flags (BITS `SetSecurityFlags`): the redirect policy
    /// (ALLOW_SILENT 0x0000, ALLOW_REPORT 0x0100: the final URL becomes the file's
    /// remote name, DISALLOW 0x0200: a redirect puts the job in ERROR with the
    /// redirect's HTTP status) and ALLOW_HTTPS_TO_HTTP 0x0800. BITS's certificate
    /// flags (0x0001–0x0010) are E_NOTIMPL; other bits E_INVALIDARG.
    pub fn set_security_flags(&self, flags: u32) -> Result<()> {
        crate::request::check_security_flags(flags)?;
        self.set(|j| &mut j.security_flags, flags)
    }

    /// Set the credentials for `target` and `scheme` (BITS `SetCredentials`),
    /// replacing those set before for the same pair. BASIC takes a user name (no
    /// `:`) and a password; BEARER a token as `secret` and an empty user name.
    /// Write-only: no call returns them and no output, log or error shows them. SERVER
    /// credentials are sent with every request to the origin (scheme, host, port) of
    /// the file's URL, before any challenge, like curl's `-u`, and never after a
    /// redirect to another origin; they take the place of a URL's userinfo and of a
    /// custom `Authorization` header. PROXY credentials (BASIC only; BEARER is
    /// E_NOTIMPL) go to the proxy the job's requests use.
    pub fn set_credentials(
        &self,
        target: AuthTarget,
        scheme: AuthScheme,
        user: &str,
        secret: &str,
    ) -> Result<()> {
        crate::proxy::check_proxy_scheme(target, scheme)?;
        let cred = crate::request::check_credential(target, scheme, user, secret)?;
        self.edit(|job| {
            job.credentials
                .retain(|c| (c.target, c.scheme) != (target, scheme));
            job.credentials.push(cred);
        })
    }

    /// Forget the credentials for `target` and `scheme` (BITS `RemoveCredentials`); no
    /// error when there are none.
    pub fn remove_credentials(&self, target: AuthTarget, scheme: AuthScheme) -> Result<()> {
        self.edit(|job| {
            job.credentials
                .retain(|c| (c.target, c.scheme) != (target, scheme));
        })
    }

    /// The job's proxy settings (default PRECONFIG: the environment's proxy).
    pub fn get_proxy_settings(&self) -> Result<crate::ProxySettings> {
        self.table.read(self.id, |j| j.proxy.clone())
    }

    /// Choose the job's proxy (BITS `SetProxySettings`). PRECONFIG (the default) takes
    /// the environment's, like curl: `https_proxy` for https URLs, `http_proxy` (lower
    /// case only) for http URLs, else `all_proxy`, bypassed for the hosts in
    /// `no_proxy`. NO_PROXY: straight to every server. OVERRIDE: `proxy` is
    /// `http://`, `https://`, `socks5h://` or `socks5://` `host[:port]` (credentials with
    /// `set_credentials(PROXY, BASIC, …)`, not in the URL), and `bypass` lists the
    /// hosts reached without it (`*`, host names with their subdomains, IP addresses,
    /// CIDR networks; comma separated). `proxy` and `bypass` must be empty for the
    /// other usages. Takes effect with the job's next request.
    pub fn set_proxy_settings(&self, usage: ProxyUsage, proxy: &str, bypass: &str) -> Result<()> {
        let settings = crate::proxy::check_proxy_settings(usage, proxy, bypass)?;
        self.set(|j| &mut j.proxy, settings)
    }

    /// Present a TLS client certificate (mutual TLS; BITS `SetClientCertificate…`, here
    /// from PEM files): `cert_pem_path` holds the certificate (and its chain),
    /// `key_pem_path` its private key (PKCS#8, PKCS#1 or SEC1). Both are read and
    /// checked now (E_INVALIDARG naming the file); the job stores their paths and
    /// reads them again when a transfer starts, so a renewed certificate at the same
    /// paths is used. A server that refuses it fails the job with SECURE_FAILURE.
    pub fn set_client_certificate(&self, cert_pem_path: &str, key_pem_path: &str) -> Result<()> {
        let abs = |p: &str, what: &str| -> Result<std::path::PathBuf> {
            crate::args::check_text(what, p)?;
            std::path::Path::new(p)
                .canonicalize()
                .map_err(|e| Error::invalid_arg(format!("cannot read the {what} {p}: {e}")))
        };
        let cert = abs(cert_pem_path, "client certificate")?;
        let key = abs(key_pem_path, "private key")?;
        crate::request::load_client_cert(&cert, &key)?;
        self.set(|j| &mut j.client_cert, Some((cert, key)))
    }

    /// Stop presenting a client certificate (no error when there is none).
    pub fn remove_client_certificate(&self) -> Result<()> {
        self.set(|j| &mut j.client_cert, None)
    }

    /// The client certificate and key files the job presents, if any (not secret:
    /// paths only).
    pub fn get_client_certificate(&self) -> Result<Option<(String, String)>> {
        self.table.read(self.id, |j| {
            j.client_cert.as_ref().map(|(c, k)| {
                (
                    c.to_string_lossy().into_owned(),
                    k.to_string_lossy().into_owned(),
                )
            })
        })
    }

    /// The longest time the job may spend CONNECTING or TRANSFERRING, in seconds (0:
    /// no limit, the default).
    pub fn get_maximum_download_time(&self) -> Result<u32> {
        self.table.read(self.id, |j| j.max_download_time)
    }

    /// Limit the time the job spends CONNECTING or TRANSFERRING (BITS Job4
    /// `SetMaximumDownloadTime`), in seconds; 0 removes the limit. Time QUEUED,
    /// SUSPENDED or in TRANSIENT_ERROR does not count; `resume()` starts the count
    /// again. When the limit passes, the job goes to ERROR with MAXDOWNLOAD_TIMEOUT.
    pub fn set_maximum_download_time(&self, seconds: u32) -> Result<()> {
        self.set(|j| &mut j.max_download_time, seconds)
    }

    /// How many connections one file of the job may use at once (segmented download,
    /// BITS Job5 HIGH_PERFORMANCE): the job's setting, else the manager's
    /// `max_connections_per_file` option.
    pub fn get_max_connections_per_file(&self) -> Result<u32> {
        let default = self.table.options_max_connections_per_file();
        self.table
            .read(self.id, |j| match j.max_connections_per_file {
                0 => default,
                n => n,
            })
    }

    /// Let one file of the job use up to `n` connections at once (1..=64; 1 = one
    /// stream). A file is split only when the server honours ranges for it (a size, a
    /// validator, `Accept-Ranges: bytes` or a 206) and it is at least 2 MiB; each
    /// connection counts against the manager's `connections_per_job` and
    /// `connections_per_host`. Takes effect at the file's next request.
    pub fn set_max_connections_per_file(&self, n: u32) -> Result<()> {
        if !(1..=64).contains(&n) {
            return Err(Error::invalid_arg(format!(
                "max_connections_per_file must be 1..=64, not {n}"
            )));
        }
        self.set(|j| &mut j.max_connections_per_file, n)
    }

    /// The job's bandwidth limit in bytes per second (0: none, the default).
    pub fn get_bandwidth_limit(&self) -> Result<u64> {
        self.table.read(self.id, |j| j.bandwidth_limit)
    }

    /// Limit the job to `bytes_per_second` over all its connections and segments (0:
    /// no limit). Applies within a second while the job transfers, whichever process
    /// runs it; for a background job the manager's background limit applies too.
    pub fn set_bandwidth_limit(&self, bytes_per_second: u64) -> Result<()> {
        if i64::try_from(bytes_per_second).is_err() {
            return Err(Error::invalid_arg(format!(
                "bytes_per_second {bytes_per_second} is too large (at most {})",
                i64::MAX
            )));
        }
        self.set(|j| &mut j.bandwidth_limit, bytes_per_second)
    }

    /// Give every file whose remote URL starts with `old_prefix` the URL with that
    /// prefix replaced by `new_prefix` (BITS Job3 `ReplaceRemotePrefix`), all or none:
    /// each new URL is checked like `add_file`'s. Prefixes match the URLs as stored
    /// (normalized: lower-case scheme and host, `/` path). Allowed in every state
    /// but the final ones; a running transfer starts again with the new URL and keeps
    /// its bytes when the server answers the stored validator (If-Range) with the same
    /// content, else the file starts over. A file already transferred keeps its bytes.
    /// Returns how many files changed.
    pub fn replace_remote_prefix(&self, old_prefix: &str, new_prefix: &str) -> Result<u32> {
        if old_prefix.is_empty() {
            return Err(Error::invalid_arg("old_prefix is empty"));
        }
        crate::args::check_len("old_prefix", old_prefix, crate::urls::MAX_URL)?;
        crate::args::check_len("new_prefix", new_prefix, crate::urls::MAX_URL)?;
        self.table.mutate(self.id, |job, store| {
            let mut changes = Vec::new();
            for (idx, f) in job.files.iter().enumerate() {
                if let Some(rest) = f.remote.strip_prefix(old_prefix) {
                    let url = crate::urls::parse_remote(&format!("{new_prefix}{rest}"))?;
                    changes.push((idx, String::from(url)));
                }
            }
            let n = changes.len() as u32;
            super::file::retarget(job, store, changes)?;
            Ok(n)
        })
    }

    /// Change the job's own fields with `f` and save it (a user call, one transaction).
    fn edit(&self, f: impl FnOnce(&mut JobRec)) -> Result<()> {
        self.table.mutate(self.id, |job, store| {
            f(job);
            job.touch(now_ms());
            store.save_job(job)
        })
    }
}
