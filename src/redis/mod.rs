//! The Redis store: sessions, login attempts and live events shared by several gateway
//! instances (`[store] backend = "redis"`).
//!
//! - [`Link`]: the connection (one multiplexed connection that reconnects by itself, created
//!   in the background so a gateway starts, not ready, while Redis is down), key names, and
//!   the one timeout every command gets.
//! - [`sessions`]: the session store, with a short-lived local cache on the hot path.
//! - [`attempts`]: login attempts and their single-use transitions (Lua, atomic).
//! - [`devices`]: enrolled devices and invitations (one Lua script redeems an invitation).
//! - [`oidc`]: the OpenID Connect provider's codes, grants and tokens (Lua, atomic).
//! - [`announcements`]: the pub/sub listener: revocations drop cached sessions, status changes
//!   reach this instance's event streams.
//!
//! Every failure is [`StoreError::Unavailable`]: callers refuse, never let in.

pub mod announcements;
pub mod attempts;
pub mod device_codes;
pub mod devices;
pub mod oidc;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use qrgate_core::config::RedisConfig;
use qrgate_core::session::StoreError;

/// The connection to Redis and how keys are named.
pub struct Link {
    client: redis::Client,
    manager: ArcSwapOption<ConnectionManager>,
    config: RedisConfig,
}

/// A Redis failure, as the stores report it.
pub fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

impl Link {
    /// A link to `config.url`; no connection is made yet ([`Link::connect`]).
    pub fn new(config: &RedisConfig) -> Result<Arc<Link>, StoreError> {
        let client = redis::Client::open(config.url.as_str()).map_err(unavailable)?;
        Ok(Arc::new(Link {
            client,
            manager: ArcSwapOption::empty(),
            config: config.clone(),
        }))
    }

    /// The configured prefix + `rest`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.config.prefix)
    }

    /// The channel every instance listens on.
    pub fn channel(&self) -> String {
        self.key("events")
    }

    /// The store's settings.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Makes the connection if there is none yet. Once made it reconnects by itself.
    pub async fn connect(&self) -> Result<(), StoreError> {
        if self.manager.load().is_some() {
            return Ok(());
        }
        let conf = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.config.connect_timeout))
            .set_response_timeout(Some(self.config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_with_config(self.client.clone(), conf)
            .await
            .map_err(unavailable)?;
        self.manager.store(Some(Arc::new(manager)));
        tracing::info!(url = %self.config.display_url(), "connected to redis");
        Ok(())
    }

    /// A handle on the connection (cheap), or unavailable while there is none.
    pub fn conn(&self) -> Result<ConnectionManager, StoreError> {
        self.manager
            .load()
            .as_deref()
            .cloned()
            .ok_or_else(|| unavailable("not connected"))
    }

    /// Runs `cmd` within the configured timeout.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        tokio::time::timeout(self.config.timeout, cmd.query_async(&mut conn))
            .await
            .map_err(|_| unavailable("timed out"))?
            .map_err(unavailable)
    }

    /// Runs `pipe` (atomically) within the configured timeout.
    pub async fn pipe<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        tokio::time::timeout(self.config.timeout, pipe.query_async(&mut conn))
            .await
            .map_err(|_| unavailable("timed out"))?
            .map_err(unavailable)
    }

    /// Runs a Lua script within the configured timeout.
    pub async fn script<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        tokio::time::timeout(self.config.timeout, invocation.invoke_async(&mut conn))
            .await
            .map_err(|_| unavailable("timed out"))?
            .map_err(unavailable)
    }

    /// Whether Redis answers now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let pong: String = self.query(&redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(unavailable(format!("PING answered {pong}")))
        }
    }

    /// The client, for the pub/sub connection.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }
}
