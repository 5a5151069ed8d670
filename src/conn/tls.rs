//! HTTPS listeners: TLS 1.2 and 1.3 through pingora's rustls support (no OpenSSL), HTTP/2 by
//! ALPN, and a certificate that a reload replaces without dropping a connection.
//!
//! [`Certificates`] holds the current certificate and key, read from the PEM files of
//! `[server] tls_cert` / `tls_key`, and answers every handshake with it; [`Certificates::reload`]
//! reads the files again and swaps the new pair in (new handshakes use it; established
//! connections keep theirs). A file that cannot be read leaves the old pair in place.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::listeners::tls::TlsSettings;
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{ClientHello, CryptoProvider, ResolvesServerCert};

use qrgate_core::config::TlsFiles;

/// Why a certificate could not be used.
#[derive(Debug, thiserror::Error)]
#[error("TLS certificate {cert} / key {key}: {reason}")]
pub struct TlsError {
    cert: String,
    key: String,
    reason: String,
}

/// The certificate every HTTPS handshake is answered with.
pub struct Certificates {
    current: ArcSwap<CertifiedKey>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certificates")
    }
}

fn read(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let fail = |reason: String| TlsError {
        cert: files.cert.display().to_string(),
        key: files.key.display().to_string(),
        reason,
    };
    pingora::tls::install_default_crypto_provider();
    let path = |p: &Path| {
        p.to_str()
            .map(str::to_string)
            .ok_or_else(|| fail("path is not UTF-8".into()))
    };
    let (certs, key) =
        pingora::tls::load_certs_and_key_files(&path(&files.cert)?, &path(&files.key)?)
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail("no certificate or no private key in the files".into()))?;
    let provider =
        CryptoProvider::get_default().ok_or_else(|| fail("no crypto provider".into()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| fail(e.to_string()))?;
    Ok(CertifiedKey::new(certs, signing))
}

impl Certificates {
    /// Reads the certificate and key.
    pub fn load(files: &TlsFiles) -> Result<Arc<Certificates>, TlsError> {
        Ok(Arc::new(Certificates {
            current: ArcSwap::from_pointee(read(files)?),
        }))
    }

    /// Reads the files again and answers new handshakes with what they hold.
    pub fn reload(&self, files: &TlsFiles) -> Result<(), TlsError> {
        self.current.store(Arc::new(read(files)?));
        Ok(())
    }

    /// pingora settings for one HTTPS listener: these certificates, HTTP/2 and HTTP/1.1.
    pub fn listener_settings(self: &Arc<Self>) -> Result<TlsSettings, TlsError> {
        let mut settings = TlsSettings::intermediate("", "").map_err(|e| TlsError {
            cert: String::new(),
            key: String::new(),
            reason: e.to_string(),
        })?;
        settings.set_cert_resolver(self.clone());
        settings.enable_h2();
        Ok(settings)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
