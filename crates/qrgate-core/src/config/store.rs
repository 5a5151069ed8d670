//! `[store]`: where sessions and login attempts live: this process, one Redis named by a URL,
//! or the primary a set of Redis Sentinels names (which follows a failover).

use super::validate::Validator;
use super::*;

/// `[store]`: where sessions and login attempts live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreConfig {
    /// In this process (the default): one instance.
    #[default]
    Memory,
    /// In Redis, shared by every instance configured with the same Redis and prefix.
    Redis(RedisConfig),
}

/// `[store] backend = "redis"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Which Redis: a URL, or the primary Sentinel names.
    pub target: RedisTarget,
    /// Prefix of every key and channel, so several deployments can share one Redis.
    pub prefix: String,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long to wait for an answer; then the request is refused (fail closed).
    pub timeout: Duration,
    /// How long a validated session is trusted from this instance's memory before Redis
    /// is asked again (revocations arrive at once through pub/sub; this bounds the rest).
    pub cache: Duration,
    /// Writes a failover must not lose (sessions, devices, revocations, OpenID Connect
    /// grants and tokens) count only once this many replicas have them (`WAIT`); none: off.
    pub replicas: Option<Replicas>,
}

/// `[store] replicas_to_wait` and `wait_timeout_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas {
    /// How many replicas must acknowledge a write.
    pub count: u32,
    /// How long to wait for them; then the write is refused as not confirmed.
    pub timeout: Duration,
}

/// Which Redis the store talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// `url`: `redis://host:port/db` or `rediss://…` (TLS); may hold a password: never logged.
    Url(String),
    /// `sentinels` + `master_name`: whichever server the Sentinels call the primary.
    Sentinel(Box<SentinelConfig>),
    /// `cluster`: a Redis Cluster; every key carries the prefix's hash tag, so all of them
    /// (and every script's keys) are in one slot.
    Cluster(Box<ClusterConfig>),
}

/// `[store] cluster = [...]`: a Redis Cluster, found from any of these nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Some of the cluster's nodes, `host:port` each.
    pub nodes: Vec<(String, u16)>,
    /// ACL user and password on the nodes.
    pub username: Option<String>,
    /// Never logged.
    pub password: Option<String>,
    /// TLS to the nodes.
    pub tls: bool,
    /// PEM roots the nodes' certificates are verified against (default: the system's roots).
    pub ca_file: Option<PathBuf>,
}

/// `[store] sentinels = [...]`: the primary is found through Redis Sentinel and found again
/// when a failover moves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelConfig {
    /// The Sentinels, `host:port` each.
    pub sentinels: Vec<(String, u16)>,
    /// The name the Sentinels monitor the primary under.
    pub master_name: String,
    /// The database on the data nodes.
    pub db: i64,
    /// ACL user and password on the data nodes (primary and replicas).
    pub username: Option<String>,
    /// Never logged.
    pub password: Option<String>,
    /// ACL user and password on the Sentinels themselves.
    pub sentinel_username: Option<String>,
    /// Never logged.
    pub sentinel_password: Option<String>,
    /// TLS to the Sentinels and to the data nodes.
    pub tls: bool,
    /// PEM roots the TLS peers are verified against (default: the system's roots).
    pub ca_file: Option<PathBuf>,
}

impl RedisConfig {
    /// Where the store is, without any password, for logs.
    pub fn display_url(&self) -> String {
        match &self.target {
            RedisTarget::Url(url) => match url::Url::parse(url) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    u.to_string()
                }
                Err(_) => "(unparsable url)".into(),
            },
            RedisTarget::Cluster(c) => {
                let nodes: Vec<String> = c.nodes.iter().map(|(h, p)| format!("{h}:{p}")).collect();
                format!(
                    "cluster via {}{}",
                    nodes.join(","),
                    if c.tls { " (tls)" } else { "" }
                )
            }
            RedisTarget::Sentinel(s) => {
                let nodes: Vec<String> = s
                    .sentinels
                    .iter()
                    .map(|(h, p)| format!("{h}:{p}"))
                    .collect();
                format!(
                    "sentinel {} via {}{}",
                    s.master_name,
                    nodes.join(","),
                    if s.tls { " (tls)" } else { "" }
                )
            }
        }
    }
}

impl Validator<'_> {
    pub(super) fn store(&self, raw: file::Store) -> Result<StoreConfig, ConfigError> {
        let backend = raw
            .backend
            .clone()
            .unwrap_or_else(|| Spanned::new(0..0, "memory".into()));
        match backend.get_ref().as_str() {
            "memory" => {
                if let Some(url) = raw.url {
                    return self.err(url.span(), "store.url", "only with backend = \"redis\"");
                }
                if let Some(s) = raw.sentinels {
                    return self.err(s.span(), "store.sentinels", "only with backend = \"redis\"");
                }
                if let Some(c) = raw.cluster {
                    return self.err(c.span(), "store.cluster", "only with backend = \"redis\"");
                }
                Ok(StoreConfig::Memory)
            }
            "redis" => {
                let target = self.redis_target(&backend, &raw)?;
                let replicas = self.replicas(&raw)?;
                let prefix = self.prefix(&target, raw.prefix.clone())?;
                Ok(StoreConfig::Redis(RedisConfig {
                    target,
                    prefix,
                    connect_timeout: self.millis(
                        raw.connect_timeout_ms,
                        "store.connect_timeout_ms",
                        1000,
                    )?,
                    timeout: self.millis(raw.timeout_ms, "store.timeout_ms", 500)?,
                    cache: self.millis(raw.cache_ms, "store.cache_ms", 2000)?,
                    replicas,
                }))
            }
            _ => self.err(
                backend.span(),
                "store.backend",
                "expected \"memory\" or \"redis\"",
            ),
        }
    }

    /// The key prefix; with a cluster it must hold a hash tag (`{...}`), so that every key
    /// is in one slot and every script's keys stay together.
    fn prefix(
        &self,
        target: &RedisTarget,
        prefix: Option<Spanned<String>>,
    ) -> Result<String, ConfigError> {
        let cluster = matches!(target, RedisTarget::Cluster(_));
        let Some(prefix) = prefix else {
            return Ok(if cluster { "{qrgate}:" } else { "qrgate:" }.into());
        };
        if cluster && !has_hash_tag(prefix.get_ref()) {
            return self.err(
                prefix.span(),
                "store.prefix",
                "with cluster, the prefix needs a hash tag, e.g. \"{qrgate}:\"",
            );
        }
        Ok(prefix.into_inner())
    }

    /// `replicas_to_wait` (0 or absent: off) and its `wait_timeout_ms`.
    fn replicas(&self, raw: &file::Store) -> Result<Option<Replicas>, ConfigError> {
        let count = match &raw.replicas_to_wait {
            Some(n) if *n.get_ref() > 64 => {
                return self.err(n.span(), "store.replicas_to_wait", "expected 0 to 64");
            }
            Some(n) => u32::try_from(*n.get_ref()).unwrap_or(0),
            None => 0,
        };
        if count == 0 {
            if let Some(t) = &raw.wait_timeout_ms {
                return self.err(
                    t.span(),
                    "store.wait_timeout_ms",
                    "only with replicas_to_wait = 1 or more",
                );
            }
            return Ok(None);
        }
        Ok(Some(Replicas {
            count,
            timeout: self.millis(raw.wait_timeout_ms.clone(), "store.wait_timeout_ms", 500)?,
        }))
    }

    /// `url`, or `sentinels` with `master_name` and their settings (exactly one of the two).
    fn redis_target(
        &self,
        backend: &Spanned<String>,
        raw: &file::Store,
    ) -> Result<RedisTarget, ConfigError> {
        let sentinel_only = [
            (
                "store.master_name",
                raw.master_name.as_ref().map(Spanned::span),
            ),
            ("store.db", raw.db.as_ref().map(Spanned::span)),
            ("store.username", raw.username.as_ref().map(Spanned::span)),
            ("store.password", raw.password.as_ref().map(Spanned::span)),
            (
                "store.sentinel_username",
                raw.sentinel_username.as_ref().map(Spanned::span),
            ),
            (
                "store.sentinel_password",
                raw.sentinel_password.as_ref().map(Spanned::span),
            ),
            ("store.tls", raw.tls.as_ref().map(Spanned::span)),
            ("store.ca_file", raw.ca_file.as_ref().map(Spanned::span)),
        ];
        let cluster_refuses = [
            (
                "store.master_name",
                raw.master_name.as_ref().map(Spanned::span),
            ),
            ("store.db", raw.db.as_ref().map(Spanned::span)),
            (
                "store.sentinel_username",
                raw.sentinel_username.as_ref().map(Spanned::span),
            ),
            (
                "store.sentinel_password",
                raw.sentinel_password.as_ref().map(Spanned::span),
            ),
        ];
        match (&raw.url, &raw.sentinels, &raw.cluster) {
            (None, None, Some(nodes)) => {
                if let Some((key, Some(span))) = cluster_refuses.iter().find(|(_, s)| s.is_some())
                {
                    return self.err(span.clone(), key, "only with sentinels");
                }
                let tls = raw.tls.as_ref().is_some_and(|t| *t.get_ref());
                Ok(RedisTarget::Cluster(Box::new(ClusterConfig {
                    nodes: self.nodes(nodes, "store.cluster")?,
                    username: raw.username.as_ref().map(|s| s.get_ref().clone()),
                    password: raw.password.as_ref().map(|s| s.get_ref().clone()),
                    tls,
                    ca_file: self.ca_file(raw, tls)?,
                })))
            }
            (Some(url), None, None) => {
                if let Some((key, Some(span))) = sentinel_only.iter().find(|(_, s)| s.is_some()) {
                    return self.err(
                        span.clone(),
                        key,
                        "only with sentinels (a url carries its own user, password and TLS)",
                    );
                }
                let scheme_ok = url::Url::parse(url.get_ref())
                    .is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss") && u.has_host());
                if !scheme_ok {
                    return self.err(
                        url.span(),
                        "store.url",
                        "expected redis://host:port/db or rediss://host:port/db",
                    );
                }
                Ok(RedisTarget::Url(url.get_ref().clone()))
            }
            (None, Some(list), None) => self
                .sentinel(list, raw)
                .map(|s| RedisTarget::Sentinel(Box::new(s))),
            (None, None, None) => self.err(
                backend.span(),
                "store.url",
                "backend = \"redis\" needs url = \"redis://host:port/db\" sentinels = [\"host:port\", ...] or cluster = [\"host:port\", ...]",
            ),
            (Some(url), _, _) => self.err(
                url.span(),
                "store.url",
                "one of url, sentinels and cluster, not two",
            ),
            (None, Some(list), Some(_)) => self.err(
                list.span(),
                "store.sentinels",
                "one of url, sentinels and cluster, not two",
            ),
        }
    }

    fn sentinel(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        raw: &file::Store,
    ) -> Result<SentinelConfig, ConfigError> {
        let sentinels = self.nodes(list, "store.sentinels")?;
        let Some(master_name) = raw.master_name.as_ref().filter(|m| !m.get_ref().is_empty()) else {
            return self.err(
                list.span(),
                "store.master_name",
                "sentinels need master_name (the name they monitor the primary under)",
            );
        };
        let db = match &raw.db {
            Some(db) if !(0..=1_000_000).contains(db.get_ref()) => {
                return self.err(db.span(), "store.db", "expected 0 or more");
            }
            Some(db) => *db.get_ref(),
            None => 0,
        };
        let tls = raw.tls.as_ref().is_some_and(|t| *t.get_ref());
        let ca_file = self.ca_file(raw, tls)?;
        let text = |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.get_ref().clone());
        Ok(SentinelConfig {
            sentinels,
            master_name: master_name.get_ref().clone(),
            db,
            username: text(&raw.username),
            password: text(&raw.password),
            sentinel_username: text(&raw.sentinel_username),
            sentinel_password: text(&raw.sentinel_password),
            tls,
            ca_file,
        })
    }

    /// A non-empty list of `host:port`.
    fn nodes(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
    ) -> Result<Vec<(String, u16)>, ConfigError> {
        if list.get_ref().is_empty() {
            return self.err(list.span(), key, "name at least one node");
        }
        let mut nodes = Vec::new();
        for (i, s) in list.get_ref().iter().enumerate() {
            let parsed = s
                .get_ref()
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
                .filter(|(h, p)| !h.is_empty() && *p != 0);
            let Some((host, port)) = parsed else {
                return self.err(s.span(), &format!("{key}[{i}]"), "expected host:port");
            };
            nodes.push((host.to_string(), port));
        }
        Ok(nodes)
    }

    /// `ca_file` (only with `tls`), relative to the config file.
    fn ca_file(&self, raw: &file::Store, tls: bool) -> Result<Option<PathBuf>, ConfigError> {
        match (&raw.ca_file, tls) {
            (Some(ca), false) => self.err(ca.span(), "store.ca_file", "only with tls = true"),
            (ca, _) => Ok(ca
                .as_ref()
                .map(|p| self.relative(PathBuf::from(p.get_ref())))),
        }
    }
}

/// Whether `prefix` holds a Redis Cluster hash tag: a `{` followed later by a `}` with
/// something between them (the first such pair decides a key's slot).
fn has_hash_tag(prefix: &str) -> bool {
    prefix
        .split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .is_some_and(|(tag, _)| !tag.is_empty())
}
