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
    /// The configuration of the port that requires a client certificate issued by
    /// the run's own client CA.
    pub mtls_config: Arc<ServerConfig>,
    /// A client certificate (PEM) that port accepts, and its key (PKCS#8 PEM).
    pub client_cert_path: PathBuf,
    pub client_key_path: PathBuf,
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
    let key = || PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("rustls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key())
        .map_err(|e| format!("rustls: {e}"))?;

    // A client CA of this run, and one client certificate it issued.
    let err = |e: rcgen::Error| format!("rcgen: {e}");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca =
        rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().map_err(err)?)
            .map_err(err)?;
    let client_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut client_params =
        rcgen::CertificateParams::new(vec!["bgcopy-test-client".to_string()]).map_err(err)?;
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &ca).map_err(err)?;
    let client_cert_path = dir.join("client.pem");
    let client_key_path = dir.join("client-key.pem");
    fs::write(&client_cert_path, client.pem())
        .and_then(|()| fs::write(&client_key_path, client_key.serialize_pem()))
        .map_err(|e| format!("writing the client certificate: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(AsRef::<rcgen::Certificate>::as_ref(&ca).der().clone())
        .map_err(|e| format!("rustls: {e}"))?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| format!("rustls: {e}"))?;
    let mtls_config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("rustls: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![ck.cert.der().clone()], key())
        .map_err(|e| format!("rustls: {e}"))?;
    Ok(Tls {
        config: Arc::new(config),
        cert_path,
        mtls_config: Arc::new(mtls_config),
        client_cert_path,
        client_key_path,
    })
}
