//! Reloading `config.toml` on `SIGHUP`, without dropping a session, a pending login or an
//! open event stream.
//!
//! The file is read and validated in full first; an invalid file (or an upstream that does
//! not resolve) is logged with file, line and column and the running config keeps serving.
//! A valid one is put in force atomically by [`Proxy::reload`]. Listener addresses, threads
//! and the connection guard's limits are read at start only; everything else applies at once.

use std::path::PathBuf;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{signal, SignalKind};

use std::sync::Arc;

use qrgate_core::observe::audit;

use crate::conn::tls::Certificates;
use crate::proxy::Proxy;

/// The background service that reloads on `SIGHUP`.
pub struct Reloader {
    proxy: Proxy,
    path: PathBuf,
    certificates: Option<Arc<Certificates>>,
}

impl Reloader {
    /// Reloads `path` into `proxy` (and the HTTPS certificate, if one is served).
    pub fn new(proxy: Proxy, path: PathBuf, certificates: Option<Arc<Certificates>>) -> Self {
        Self {
            proxy,
            path,
            certificates,
        }
    }

    /// Reads, validates and applies the config file once, then re-reads the certificate.
    pub fn reload_once(&self) -> Result<(), String> {
        let config = crate::files::config_file::load(&self.path).map_err(|e| e.to_string())?;
        let files = config.server.tls.clone();
        self.proxy.reload(config).map_err(|e| e.to_string())?;
        // Roles may have changed: a fresh signer starts with no cached assertions.
        crate::files::assertion_keys::install(self.proxy.gateway()).map_err(|e| e.to_string())?;
        crate::oidc::install(self.proxy.gateway()).map_err(|e| e.to_string())?;
        if let (Some(certs), Some(files)) = (&self.certificates, files) {
            certs.reload(&files).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; reload is unavailable");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = hangup.recv() => {
                    let metrics = &self.proxy.gateway().metrics();
                    match self.reload_once() {
                        Ok(()) => {
                            purge_departed(&self.proxy).await;
                            metrics.reloads.with_label_values(&["ok"]).inc();
                            metrics.last_reload.set(now_secs());
                            audit::reload(true, &self.path.display().to_string());
                        }
                        Err(e) => {
                            metrics.reloads.with_label_values(&["error"]).inc();
                            audit::reload(false, &e);
                        }
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Ends the OpenID Connect grants that no longer stand under the reloaded config (a user,
/// key or client gone, a subject changed, a person the `[sso]` or client lists now leave
/// out), so a name reused later inherits none of them.
pub async fn purge_departed(proxy: &Proxy) {
    match proxy.gateway().end_fallen_grants().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(grants = n, "grants of departed users and clients ended"),
        Err(e) => tracing::error!(error = %e, "grants of departed users and clients not purged"),
    }
}

/// Seconds since the epoch, for the last-reload gauge.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
