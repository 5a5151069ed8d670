//! The pub/sub listener: what other instances announce reaches this one.
//!
//! `revoke {hash}` drops a session from the local cache (and wakes its tied connections),
//! `changed {hash}` drops it so its new record is read; `status {attempt} {status}` moves
//! this instance's event streams of that attempt. The listener also makes the first
//! connection (and retries it while Redis is down), and while it is not subscribed the
//! session cache takes nothing new: revocations might be missed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use qrgate_core::gateway::Gateway;
use qrgate_core::login::attempts::Status;
use qrgate_core::session::TokenHash;

use super::devices::Heard;
use super::sessions::RedisSessions;
use super::Link;

/// How long to wait before trying Redis again.
const RETRY: Duration = Duration::from_millis(250);

/// The background service that listens on the events channel.
pub struct Listener {
    link: Arc<Link>,
    sessions: Arc<RedisSessions>,
    gateway: Arc<Gateway>,
}

impl Listener {
    /// Listens through `link` for `gateway`, whose sessions are `sessions`.
    pub fn new(link: Arc<Link>, sessions: Arc<RedisSessions>, gateway: Arc<Gateway>) -> Self {
        Self {
            link,
            sessions,
            gateway,
        }
    }

    /// One message from the channel.
    fn heard(&self, text: &str) {
        let hash_in = TokenHash::from_hex;
        if let Some(hash) = text.strip_prefix("revoke ").and_then(hash_in) {
            self.sessions.forget(&hash);
            self.gateway.sessions_may_have_ended();
        } else if let Some(hash) = text.strip_prefix("changed ").and_then(hash_in) {
            // A session's record changed (a step-up): read it afresh next time.
            self.sessions.forget(&hash);
        } else if let Some(rest) = text.strip_prefix("device ") {
            match super::devices::heard(rest) {
                Some(Heard::Enrolled(device)) => self.gateway.heard_device_enrolled(device),
                Some(Heard::Removed(key)) => self.gateway.heard_device_removed(&key),
                None => tracing::warn!("unreadable device announcement"),
            }
        } else if let Some(rest) = text.strip_prefix("status ") {
            if let Some((id, status)) = Status::from_announcement(rest) {
                self.gateway.logins().observe(id, status);
            }
        }
    }

    /// Connects, subscribes and hears messages until the connection ends or the link moves
    /// to another server (a failover: subscribe again there).
    async fn listen_once(&self) -> Result<(), String> {
        let mut moves = self.link.moves();
        self.link.connect().await.map_err(|e| e.to_string())?;
        moves.borrow_and_update();
        let client = self.link.client().map_err(|e| e.to_string())?;
        let timeout = self.link.config().connect_timeout;
        let mut pubsub = tokio::time::timeout(timeout, client.get_async_pubsub())
            .await
            .map_err(|_| "pub/sub connection timed out".to_string())?
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(timeout, pubsub.subscribe(self.link.channel()))
            .await
            .map_err(|_| "subscribe timed out".to_string())?
            .map_err(|e| e.to_string())?;
        // Announcements missed while unsubscribed: read the whole device table afresh, now
        // that new ones reach us.
        match self.gateway.device_store().load().await {
            Ok(Some(devices)) => self.gateway.heard_devices(devices),
            Ok(None) => self.gateway.sessions_may_have_ended(),
            Err(e) => return Err(e.to_string()),
        }
        self.sessions.set_listening(true);
        tracing::info!("listening for other instances' announcements");
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(msg) => {
                        if let Ok(text) = msg.get_payload::<String>() {
                            self.heard(&text);
                        }
                    }
                    None => return Err("pub/sub connection closed".into()),
                },
                _ = moves.changed() => return Err("redis primary moved".into()),
            }
        }
    }
}

#[async_trait]
impl BackgroundService for Listener {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut failures = 0u32;
        loop {
            let result = tokio::select! {
                r = self.listen_once() => r,
                _ = shutdown.changed() => return,
            };
            self.sessions.set_listening(false);
            self.gateway.devices().set_current(false);
            if let Err(e) = result {
                // With Sentinel, the primary may have moved: ask where it is now.
                self.link.may_have_moved();
                // Loud once, then quiet while Redis stays away.
                if failures == 0 {
                    tracing::error!(error = %e, "redis unavailable; logins refused, sessions checked without cache until it returns");
                }
                failures = failures.saturating_add(1);
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = shutdown.changed() => return,
            }
            if failures > 0 && self.link.ping().await.is_ok() {
                failures = 0;
            }
        }
    }
}
