//! Which server the [`super::Link`] talks to: the one a URL names, or the primary a set of
//! Redis Sentinels names, asked through the `redis` crate's own Sentinel client (which also
//! checks with `ROLE` that the server it names is a primary). Asked again when a failover
//! may have moved it. Or a Redis Cluster, through the crate's cluster client, whose own
//! routing follows the cluster's failovers; pub/sub then listens on one node at a time
//! (classic `PUBLISH` reaches every node of a cluster).

use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, TlsCertificates, TlsMode};
use tokio::sync::Mutex;

use qrgate_core::config::{ClusterConfig, RedisTarget, SentinelConfig};
use qrgate_core::session::StoreError;

use super::unavailable;

/// Where the data lives.
pub(super) enum Target {
    /// One server, by URL.
    Url(redis::Client),
    /// Whichever server the Sentinels call the primary now (one question at a time: the
    /// client keeps its connections to the Sentinels).
    Sentinel(Mutex<SentinelClient>),
    /// A Redis Cluster, and a client for each configured node (for pub/sub).
    Cluster(ClusterClient, Vec<redis::Client>),
}

impl Target {
    /// The target `config` names; nothing is connected yet.
    pub(super) fn new(config: &RedisTarget) -> Result<Target, StoreError> {
        match config {
            RedisTarget::Url(url) => Ok(Target::Url(
                redis::Client::open(url.as_str()).map_err(unavailable)?,
            )),
            RedisTarget::Sentinel(s) => Ok(Target::Sentinel(Mutex::new(sentinel_client(s)?))),
            RedisTarget::Cluster(c) => cluster(c),
        }
    }

    /// Whether the server can move (a failover), so a failing link asks again.
    pub(super) fn follows_failover(&self) -> bool {
        matches!(self, Target::Sentinel(_))
    }

    /// For a cluster: a client for its `n`th configured node (round robin), for pub/sub.
    pub(super) fn node(&self, n: usize) -> Option<redis::Client> {
        match self {
            Target::Cluster(_, nodes) => nodes.get(n % nodes.len().max(1)).cloned(),
            _ => None,
        }
    }

    /// A client for the server to use now, found within `timeout` (a cluster has none: its
    /// connection finds the nodes itself).
    pub(super) async fn resolve(&self, timeout: Duration) -> Result<redis::Client, StoreError> {
        match self {
            Target::Url(client) => Ok(client.clone()),
            Target::Cluster(..) => Err(unavailable("a cluster is not one server")),
            Target::Sentinel(sentinel) => {
                let ask = async { sentinel.lock().await.async_get_client().await };
                tokio::time::timeout(timeout, ask)
                    .await
                    .map_err(|_| unavailable("sentinels did not name a primary in time"))?
                    .map_err(unavailable)
            }
        }
    }
}

/// The crate's cluster client for `c`, and a plain client for each of its nodes.
fn cluster(c: &ClusterConfig) -> Result<Target, StoreError> {
    let certs = match &c.ca_file {
        Some(ca) => Some(TlsCertificates {
            client_tls: None,
            root_cert: Some(
                std::fs::read(ca)
                    .map_err(|e| unavailable(format!("ca_file {}: {e}", ca.display())))?,
            ),
        }),
        None => None,
    };
    let mut settings = RedisConnectionInfo::default();
    if let Some(user) = &c.username {
        settings = settings.set_username(user);
    }
    if let Some(password) = &c.password {
        settings = settings.set_password(password);
    }
    let mut infos = Vec::new();
    for (host, port) in &c.nodes {
        let info = address(host, *port, c.tls)
            .into_connection_info()
            .map_err(unavailable)?
            .set_redis_settings(settings.clone());
        infos.push(info);
    }
    let nodes = infos
        .iter()
        .map(|info| match &certs {
            Some(certs) => redis::Client::build_with_tls(info.clone(), certs.clone()),
            None => redis::Client::open(info.clone()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let mut b = ClusterClientBuilder::new(infos);
    if let Some(user) = &c.username {
        b = b.username(user);
    }
    if let Some(password) = &c.password {
        b = b.password(password);
    }
    if c.tls {
        b = b.tls(TlsMode::Secure);
        if let Some(certs) = certs {
            b = b.certs(certs);
        }
    }
    Ok(Target::Cluster(b.build().map_err(unavailable)?, nodes))
}

/// The address of node `host:port`, over TLS (the system's roots or `ca_file`) or not.
fn address(host: &str, port: u16, tls: bool) -> ConnectionAddr {
    if tls {
        ConnectionAddr::TcpTls {
            host: host.to_string(),
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host.to_string(), port)
    }
}

/// The crate's Sentinel client for `s`: auth and TLS to the Sentinels and to the data nodes.
fn sentinel_client(s: &SentinelConfig) -> Result<SentinelClient, StoreError> {
    let nodes = s
        .sentinels
        .iter()
        .map(|(host, port)| address(host, *port, s.tls));
    let mut b = SentinelClientBuilder::new(nodes, &s.master_name, SentinelServerType::Master)
        .map_err(unavailable)?
        .set_client_to_redis_db(s.db);
    if let Some(user) = &s.username {
        b = b.set_client_to_redis_username(user);
    }
    if let Some(password) = &s.password {
        b = b.set_client_to_redis_password(password);
    }
    if let Some(user) = &s.sentinel_username {
        b = b.set_client_to_sentinel_username(user);
    }
    if let Some(password) = &s.sentinel_password {
        b = b.set_client_to_sentinel_password(password);
    }
    if s.tls {
        b = b
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| unavailable(format!("ca_file {}: {e}", ca.display())))?;
            let certs = || TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            };
            b = b
                .set_client_to_redis_certificates(certs())
                .set_client_to_sentinel_certificates(certs());
        }
    }
    b.build().map_err(unavailable)
}
