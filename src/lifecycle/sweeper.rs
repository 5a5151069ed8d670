//! The background service that frees expired sessions, login attempts and signer replay
//! records, that re-reads the signing key files, and that reviews the enrolled devices
//! against each config put in force.
//!
//! The key files (assertion and OpenID Connect) are re-read, and rotated when due, at every
//! tick, so what this instance publishes follows the file other instances share: a key
//! another instance adds is published here within one interval, and signs nowhere before it
//! has been in the file for a publication delay (`qrgate_core::rotation`), hours longer.
//!
//! Expiry is enforced on every use; this only reclaims memory, so a slow or skipped sweep
//! never lets an expired session in. The device review runs at start and right after every
//! reload, and again at every tick until it has succeeded once for the config in force (a
//! store that could not answer is tried again); meanwhile devices of a removed user sign
//! nobody in, since their user is not configured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use qrgate_core::control;
use qrgate_core::gateway::Gateway;

/// Sweeps the gateway's stores every `interval` until shutdown.
pub struct Sweeper {
    gateway: Arc<Gateway>,
    interval: Duration,
    /// The settings generation the devices were last reviewed against (`u64::MAX`: none).
    reviewed: AtomicU64,
}

impl Sweeper {
    /// A sweeper for the gateway's state.
    pub fn new(gateway: Arc<Gateway>, interval: Duration) -> Self {
        Self {
            gateway,
            interval,
            reviewed: AtomicU64::new(u64::MAX),
        }
    }

    /// One pass over every store; returns how many entries were freed.
    pub async fn sweep_once(&self) -> usize {
        self.review_devices().await;
        self.refresh_keys().await;
        // Redis expires a lapsed invitation by itself, but not its entry in the list of
        // invitations the review reads: free those (nothing live is withdrawn here).
        let now = self.gateway.clock().now_millis();
        if let Err(e) = self.gateway.device_store().withdraw(&|_| true, now).await {
            tracing::debug!(error = %e, "lapsed invitations not freed; trying again at the next sweep");
        }
        self.gateway.sweep().await
    }

    /// Re-reads both key files (file I/O, a lock another instance may hold, perhaps a new
    /// RSA key: off the async threads); a file that cannot be read keeps the keys in force.
    async fn refresh_keys(&self) {
        let gw = self.gateway.clone();
        let done = tokio::task::spawn_blocking(move || {
            (
                crate::files::assertion_keys::refresh(&gw),
                crate::oidc::keys::refresh(&gw),
            )
        })
        .await;
        let (assertion, oidc) = match done {
            Ok(both) => both,
            Err(e) => {
                tracing::error!(error = %e, "signing key files not re-read; trying again at the next sweep");
                return;
            }
        };
        if let Err(e) = assertion {
            tracing::error!(error = %e, "assertion key file not re-read; the keys in force stay, trying again at the next sweep");
        }
        if let Err(e) = oidc {
            tracing::error!(error = %e, "OpenID Connect key file not re-read; the keys in force stay, trying again at the next sweep");
        }
    }

    /// Reviews the enrolled devices against the config in force, unless done for it already.
    async fn review_devices(&self) {
        let s = self.gateway.settings();
        if self.reviewed.load(Ordering::Acquire) == s.generation() {
            return;
        }
        match control::review_devices(&self.gateway, &s).await {
            Ok(done) => {
                self.reviewed.store(s.generation(), Ordering::Release);
                if done != control::Reviewed::default() {
                    tracing::info!(
                        removed = done.removed,
                        narrowed = done.narrowed,
                        withdrawn = done.withdrawn,
                        sessions = done.sessions,
                        "enrolled devices reviewed against the config"
                    );
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "enrolled devices not reviewed against the config; trying again at the next sweep")
            }
        }
    }
}

#[async_trait]
impl BackgroundService for Sweeper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.gateway.reloaded() => {
                    self.review_devices().await;
                }
                _ = tick.tick() => {
                    let freed = self.sweep_once().await;
                    if freed > 0 {
                        tracing::debug!(freed, "swept expired entries");
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
