//! Self-signed certificate generation and the rustls server configuration.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The TLS material of one server run.
pub struct Tls {
    /// rustls configuration shared by all HTTPS connections.
    pub config: Arc<ServerConfig>,
    /// Absolute path of the PEM certificate clients should trust.
    pub cert_path: PathBuf,
}

/// Generate a self-signed certificate for `localhost` and `127.0.0.1` (plus
/// `extra_ip` when it is a specific other address), write it as `cert.pem`
/// into `dir`, and build the server configuration with the ring provider.
pub fn setup(dir: &Path, extra_ip: Option<IpAddr>) -> Result<Tls, String> {
    let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Some(ip) = extra_ip
        && !ip.is_unspecified()
        && ip.to_string() != "127.0.0.1"
    {
        sans.push(ip.to_string());
    }
    let ck = rcgen::generate_simple_self_signed(sans).map_err(|e| format!("rcgen: {e}"))?;
    let cert_path = dir.join("cert.pem");
    fs::write(&cert_path, ck.cert.pem())
        .map_err(|e| format!("writing {}: {e}", cert_path.display()))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("rustls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .map_err(|e| format!("rustls: {e}"))?;
    Ok(Tls {
        config: Arc::new(config),
        cert_path,
    })
}
