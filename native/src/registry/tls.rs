//! The rustls configurations the client speaks with: the system's roots plus the user's CA
//! files, an optional client certificate, and (only for hosts the user names with
//! `--insecure-skip-tls-verify`) one that accepts any server certificate. The crypto is
//! rustls' `ring` provider, set per configuration, so nothing depends on a process-wide default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What a TLS configuration is made of; loaded once, so a bad file fails `Client::new`.
pub(crate) struct TlsMaterial {
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl TlsMaterial {
    pub(crate) fn load(
        ca_files: &[PathBuf],
        client_cert: Option<&(PathBuf, PathBuf)>,
    ) -> Result<TlsMaterial, String> {
        let mut extra = Vec::new();
        for file in ca_files {
            let certs = read_certs(file)?;
            extra.push((format!("file {}", file.display()), certs));
        }
        let client_cert = match client_cert {
            None => None,
            Some((cert, key)) => {
                let chain = read_certs(cert)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    format!(
                        "client key {}: {e} (expected a PEM private key: PKCS#8, PKCS#1 or SEC1)",
                        key.display()
                    )
                })?;
                Some((chain, key))
            }
        };
        TlsMaterial::new(extra, client_cert)
    }

    /// The system's roots plus `extra` (each named for the message when it holds nothing
    /// usable), and a client certificate.
    pub(crate) fn new(
        extra: Vec<(String, Vec<CertificateDer<'static>>)>,
        client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<TlsMaterial, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        for (name, certs) in extra {
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("CA {name}: no usable certificate in it"));
            }
        }
        Ok(TlsMaterial {
            provider,
            roots: Arc::new(roots),
            client_cert,
        })
    }

    pub(crate) fn config(&self, verify: bool) -> Result<rustls::ClientConfig, String> {
        let builder = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?;
        let builder = if verify {
            builder.with_root_certificates(self.roots.clone())
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                    self.provider.signature_verification_algorithms,
                )))
        };
        let mut config = match &self.client_cert {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| format!("client certificate: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn read_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| format!("certificate file {}: {e}", file.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate file {}: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "certificate file {}: no PEM certificate in it",
            file.display()
        ));
    }
    Ok(certs)
}

/// `--insecure-skip-tls-verify HOST`: any certificate, any name. Handshake signatures are
/// still checked, so the peer at least holds the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
