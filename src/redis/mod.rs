//! The Redis store: sessions, login attempts and live events shared by several gateway
//! instances (`[store] backend = "redis"`).
//!
//! - [`Link`]: the connection (one multiplexed connection that reconnects by itself, created
//!   in the background so a gateway starts, not ready, while Redis is down), key names, and
//!   the one timeout every command gets. With Sentinel, a failing link asks the Sentinels
//!   again (in the background, one question at a time) and moves to the primary they name.
//! - `target`: which server that is: a URL's, or the primary the Sentinels name.
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
mod conn;
pub mod device_codes;
pub mod devices;
pub mod oidc;
pub mod sessions;
mod target;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{watch, Mutex};

use qrgate_core::config::{RedisConfig, Replicas};
use qrgate_core::session::StoreError;

use conn::Conn;
use target::Target;

/// The least time between two questions to the Sentinels after failures.
const ASK_AGAIN: Duration = Duration::from_millis(250);

/// The connection to Redis and how keys are named.
pub struct Link {
    target: Target,
    current: ArcSwapOption<Current>,
    /// One attachment at a time.
    attaching: Mutex<()>,
    /// Whether a question to the Sentinels is under way (or was asked within [`ASK_AGAIN`]).
    asking: AtomicBool,
    /// Counts moves to another server: the pub/sub listener subscribes again.
    moves: watch::Sender<u64>,
    /// On a cluster, which node pub/sub tries next.
    turn: AtomicUsize,
    me: Weak<Link>,
    config: RedisConfig,
}

/// The server the link talks to now.
struct Current {
    manager: Conn,
    /// With `replicas_to_wait`: a connection of its own for the writes that wait for replicas
    /// (`WAIT` holds the connection it is sent on; lookups must not queue behind it).
    writer: Option<Conn>,
    /// What the manager was made from (the pub/sub connection is made from it too).
    client: redis::Client,
    /// Its `host:port`.
    address: String,
}

/// A Redis failure, as the stores report it.
pub fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

/// Whether `e` may mean the primary moved: the server is gone, refuses writes as a replica,
/// or says its primary is down.
fn may_mean_moved(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
        )
        || e.code()
            .is_some_and(|c| c == "MASTERDOWN" || c == "LOADING")
}

impl Link {
    /// A link to the configured Redis; no connection is made yet ([`Link::connect`]).
    pub fn new(config: &RedisConfig) -> Result<Arc<Link>, StoreError> {
        let target = Target::new(&config.target)?;
        Ok(Arc::new_cyclic(|me| Link {
            target,
            current: ArcSwapOption::empty(),
            attaching: Mutex::new(()),
            asking: AtomicBool::new(false),
            moves: watch::Sender::new(0),
            turn: AtomicUsize::new(0),
            me: me.clone(),
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

    /// Makes the connection if there is none yet. Once made it reconnects by itself (and,
    /// with Sentinel, moves when a failover moved the primary).
    pub async fn connect(&self) -> Result<(), StoreError> {
        if self.current.load().is_some() {
            return Ok(());
        }
        self.attach().await
    }

    /// Finds the server to use now and, if it is not the one in use, connects to it and
    /// makes it the one in use.
    async fn attach(&self) -> Result<(), StoreError> {
        let _one = self.attaching.lock().await;
        if let Target::Cluster(cluster, _) = &self.target {
            return self.attach_cluster(cluster).await;
        }
        let client = self.target.resolve(self.config.connect_timeout).await?;
        let address = client.get_connection_info().addr().to_string();
        if let Some(current) = self.current.load().as_deref() {
            if current.address == address {
                return Ok(());
            }
        }
        let manager = Conn::One(self.manager(&client, self.config.timeout).await?);
        let writer = match self.config.replicas {
            Some(r) => Some(Conn::One(
                self.manager(&client, self.config.timeout + r.timeout)
                    .await?,
            )),
            None => None,
        };
        let moved = self.current.load().is_some();
        self.current.store(Some(Arc::new(Current {
            manager,
            writer,
            client,
            address,
        })));
        self.moves.send_modify(|n| *n = n.wrapping_add(1));
        if moved {
            tracing::warn!(url = %self.config.display_url(), "redis primary moved; following it");
        } else {
            tracing::info!(url = %self.config.display_url(), "connected to redis");
        }
        Ok(())
    }

    /// Connects to the cluster once (the connection then follows the cluster by itself).
    async fn attach_cluster(
        &self,
        cluster: &redis::cluster::ClusterClient,
    ) -> Result<(), StoreError> {
        if self.current.load().is_some() {
            return Ok(());
        }
        let connect = || async {
            tokio::time::timeout(self.config.connect_timeout, cluster.get_async_connection())
                .await
                .map_err(|_| unavailable("cluster connection timed out"))?
                .map(|c| Conn::cluster(c, &self.config.prefix))
                .map_err(unavailable)
        };
        let manager = connect().await?;
        let writer = match self.config.replicas {
            Some(_) => Some(connect().await?),
            None => None,
        };
        let client = self
            .target
            .node(0)
            .ok_or_else(|| unavailable("no cluster node"))?;
        self.current.store(Some(Arc::new(Current {
            manager,
            writer,
            client,
            address: "cluster".into(),
        })));
        tracing::info!(url = %self.config.display_url(), "connected to the redis cluster");
        Ok(())
    }

    /// A connection to `client` whose answers take at most `timeout`.
    async fn manager(
        &self,
        client: &redis::Client,
        timeout: Duration,
    ) -> Result<ConnectionManager, StoreError> {
        let conf = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.config.connect_timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        ConnectionManager::new_with_config(client.clone(), conf)
            .await
            .map_err(unavailable)
    }

    /// A failure that may mean the primary moved: with Sentinel, ask again in the
    /// background (one question at a time, at most one per [`ASK_AGAIN`]); the request that
    /// failed is refused meanwhile, never held.
    pub fn may_have_moved(&self) {
        if !self.target.follows_failover() {
            return;
        }
        if self
            .asking
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        let Some(me) = self.me.upgrade() else {
            self.asking.store(false, Ordering::SeqCst);
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = me.attach().await {
                tracing::debug!(error = %e, "the sentinels named no reachable primary yet");
            }
            tokio::time::sleep(ASK_AGAIN).await;
            me.asking.store(false, Ordering::SeqCst);
        });
    }

    /// Moves of the link to another server, to watch.
    pub fn moves(&self) -> watch::Receiver<u64> {
        self.moves.subscribe()
    }

    /// A handle on the connection (cheap), or unavailable while there is none.
    pub fn conn(&self) -> Result<Conn, StoreError> {
        match self.current.load().as_deref() {
            Some(current) => Ok(current.manager.clone()),
            None => {
                self.may_have_moved();
                Err(unavailable("not connected"))
            }
        }
    }

    /// The client of the server in use, for the pub/sub connection (on a cluster, each call
    /// names the next configured node, so a dead node is passed over).
    pub fn client(&self) -> Result<redis::Client, StoreError> {
        if let Some(node) = self.target.node(self.turn.fetch_add(1, Ordering::Relaxed)) {
            return Ok(node);
        }
        self.current
            .load()
            .as_deref()
            .map(|c| c.client.clone())
            .ok_or_else(|| unavailable("not connected"))
    }

    /// `answer` within the configured timeout; a failure that may mean a failover makes the
    /// link ask where the primary is.
    async fn within<T>(
        &self,
        answer: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.within_for(self.config.timeout, answer).await
    }

    /// [`Link::within`] with the deadline `deadline`.
    async fn within_for<T>(
        &self,
        deadline: Duration,
        answer: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(deadline, answer).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if may_mean_moved(&e) {
                    self.may_have_moved();
                }
                Err(unavailable(e))
            }
            Err(_) => {
                self.may_have_moved();
                Err(unavailable("timed out"))
            }
        }
    }

    /// Runs `cmd` within the configured timeout.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        self.within(cmd.query_async(&mut conn)).await
    }

    /// Runs `pipe` (atomically) within the configured timeout.
    pub async fn pipe<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        self.within(pipe.query_async(&mut conn)).await
    }

    /// Runs a Lua script within the configured timeout.
    pub async fn script<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        self.within(invocation.invoke_async(&mut conn)).await
    }

    /// The writer connection and what to wait for, with `replicas_to_wait`.
    fn writer(&self) -> Result<Option<(Conn, Replicas)>, StoreError> {
        let Some(replicas) = self.config.replicas else {
            return Ok(None);
        };
        match self.current.load().as_deref() {
            Some(Current {
                writer: Some(w), ..
            }) => Ok(Some((w.clone(), replicas))),
            _ => {
                self.may_have_moved();
                Err(unavailable("not connected"))
            }
        }
    }

    /// Whether `acknowledged` replicas are enough.
    fn confirmed(replicas: Replicas, acknowledged: i64) -> Result<(), StoreError> {
        if acknowledged >= i64::from(replicas.count) {
            Ok(())
        } else {
            tracing::warn!(
                acknowledged,
                wanted = replicas.count,
                "a write was not confirmed by enough replicas in time; refused"
            );
            Err(StoreError::NotReplicated)
        }
    }

    /// Runs a Lua script whose write a failover must not lose: with `replicas_to_wait`, it
    /// is followed on the same connection, in the same round trip, by `WAIT`, and counts only
    /// once enough replicas have it ([`StoreError::NotReplicated`] otherwise: the caller
    /// refuses, as for any store failure). Without it, [`Link::script`].
    pub async fn script_kept<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let Some((mut conn, replicas)) = self.writer()? else {
            return self.script(invocation).await;
        };
        let mut pipe = redis::pipe();
        pipe.invoke_script(invocation)
            .cmd("WAIT")
            .arg(replicas.count)
            .arg(replicas.timeout.as_millis().max(1));
        let run = async {
            match pipe.query_async::<(T, i64)>(&mut conn).await {
                // The script is not in this server's cache yet (a new primary, say): load it
                // and run both again (the failed EVALSHA wrote nothing).
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    invocation.load_async(&mut conn).await?;
                    pipe.query_async::<(T, i64)>(&mut conn).await
                }
                other => other,
            }
        };
        let (value, acknowledged) = self
            .within_for(self.config.timeout + replicas.timeout, run)
            .await?;
        Self::confirmed(replicas, acknowledged)?;
        Ok(value)
    }

    /// Runs `pipe` (whose answers are not needed) as a write a failover must not lose, as
    /// [`Link::script_kept`] does. Without `replicas_to_wait`, [`Link::pipe`].
    pub async fn pipe_kept(&self, pipe: &redis::Pipeline) -> Result<(), StoreError> {
        let Some((mut conn, replicas)) = self.writer()? else {
            return self.pipe::<()>(pipe).await;
        };
        let mut kept = redis::pipe();
        if pipe.is_transaction() {
            kept.cmd("MULTI").ignore();
        }
        for cmd in pipe.cmd_iter() {
            kept.add_command(cmd.clone()).ignore();
        }
        if pipe.is_transaction() {
            kept.cmd("EXEC").ignore();
        }
        kept.cmd("WAIT")
            .arg(replicas.count)
            .arg(replicas.timeout.as_millis().max(1));
        let (acknowledged,): (i64,) = self
            .within_for(
                self.config.timeout + replicas.timeout,
                kept.query_async(&mut conn),
            )
            .await?;
        Self::confirmed(replicas, acknowledged)
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
}
