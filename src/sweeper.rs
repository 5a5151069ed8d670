//! The background service that frees expired sessions, login attempts and signer replay
//! records.
//!
//! Expiry is enforced on every use; this only reclaims memory, so a slow or skipped sweep
//! never lets an expired session in.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use qrgate_core::gateway::Gateway;

/// Sweeps the gateway's stores every `interval` until shutdown.
pub struct Sweeper {
    gateway: Arc<Gateway>,
    interval: Duration,
}

impl Sweeper {
    /// A sweeper for the gateway's state.
    pub fn new(gateway: Arc<Gateway>, interval: Duration) -> Self {
        Self { gateway, interval }
    }

    /// One pass over every store; returns how many entries were freed.
    pub async fn sweep_once(&self) -> usize {
        self.gateway.sweep().await
    }
}

#[async_trait]
impl BackgroundService for Sweeper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
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
