//! Shared by the high-availability tests: a Redis primary, its replica and three Sentinels of
//! a test's own (Debian's `redis-server`, the Sentinels as `redis-server --sentinel`), all on
//! loopback ports, with passwords on the data nodes and on the Sentinels, and timings short
//! enough that a failover takes a few seconds.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{eventually, free_port, Reaped};

/// The name the Sentinels monitor the primary under.
pub(crate) const MASTER: &str = "qrgate";
/// `requirepass` (and `masterauth`) of the data nodes.
pub(crate) const NODE_PASSWORD: &str = "node-secret";
/// `requirepass` of the Sentinels.
pub(crate) const SENTINEL_PASSWORD: &str = "sentinel-secret";
/// How long a test waits for a failover: `down-after-milliseconds` 1000 plus election and
/// promotion, with room for a loaded machine.
pub(crate) const FAILOVER: Duration = Duration::from_secs(30);

/// TLS on every node: the CA, and the certificate (for 127.0.0.1) and key files every node
/// presents.
pub(crate) struct Tls {
    dir: tempfile::TempDir,
    ca: Vec<u8>,
}

impl Tls {
    pub(crate) fn new() -> Tls {
        let (ca, chain, key) = crate::common::test_pki("redis");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("ca.pem"), &ca).expect("ca");
        std::fs::write(dir.path().join("node.pem"), chain).expect("chain");
        std::fs::write(dir.path().join("node.key"), key).expect("key");
        Tls {
            dir,
            ca: ca.into_bytes(),
        }
    }

    /// The CA file, for the gateway's `ca_file`.
    pub(crate) fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server settings (`name value` each) that serve `port` over TLS only.
    fn settings(&self, port: u16) -> Vec<(String, String)> {
        let file = |n: &str| self.dir.path().join(n).display().to_string();
        vec![
            ("port".into(), "0".into()),
            ("tls-port".into(), port.to_string()),
            ("tls-cert-file".into(), file("node.pem")),
            ("tls-key-file".into(), file("node.key")),
            ("tls-ca-cert-file".into(), file("ca.pem")),
            ("tls-auth-clients".into(), "no".into()),
            ("tls-replication".into(), "yes".into()),
        ]
    }
}

/// One server process and its data directory.
pub(crate) struct Node {
    pub(crate) child: Reaped,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

/// A data node on a port of its own; `extra` are more `redis-server` arguments.
fn data_node(tls: Option<&Tls>, extra: &[String]) -> Node {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let mut listen = vec!["--port".to_string(), port.to_string()];
    if let Some(tls) = tls {
        listen = tls
            .settings(port)
            .into_iter()
            .flat_map(|(k, v)| [format!("--{k}"), v])
            .collect();
    }
    let child = Command::new("redis-server")
        .args(&listen)
        .args(["--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args([
            "--requirepass",
            NODE_PASSWORD,
            "--masterauth",
            NODE_PASSWORD,
        ])
        .args(extra)
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (the test command installs it)");
    Node {
        child: Reaped(child),
        port,
        _dir: dir,
    }
}

/// A Sentinel watching the primary on `primary`.
fn sentinel(tls: Option<&Tls>, primary: u16) -> Node {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let conf = dir.path().join("sentinel.conf");
    let listen = match tls {
        Some(tls) => tls
            .settings(port)
            .into_iter()
            .map(|(k, v)| format!("{k} {v}\n"))
            .collect(),
        None => format!("port {port}\n"),
    };
    std::fs::write(
        &conf,
        format!(
            "{listen}bind 127.0.0.1\ndir {}\nrequirepass {SENTINEL_PASSWORD}\n\
             sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
             sentinel auth-pass {MASTER} {NODE_PASSWORD}\n\
             sentinel down-after-milliseconds {MASTER} 1000\n\
             sentinel failover-timeout {MASTER} 3000\n\
             sentinel parallel-syncs {MASTER} 1\n",
            dir.path().display()
        ),
    )
    .expect("sentinel.conf");
    let child = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server --sentinel");
    Node {
        child: Reaped(child),
        port,
        _dir: dir,
    }
}

/// A command to the server on `port` with `password` (over TLS with CA `ca`, if given);
/// None if it cannot be asked now.
pub(crate) async fn ask<T: ::redis::FromRedisValue>(
    port: u16,
    password: &str,
    ca: Option<&[u8]>,
    cmd: &::redis::Cmd,
) -> Option<T> {
    let client = match ca {
        None => ::redis::Client::open(format!("redis://:{password}@127.0.0.1:{port}/0")).ok()?,
        Some(ca) => ::redis::Client::build_with_tls(
            format!("rediss://:{password}@127.0.0.1:{port}/0"),
            ::redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.to_vec()),
            },
        )
        .ok()?,
    };
    let answer = async {
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        cmd.query_async(&mut conn).await.ok()
    };
    tokio::time::timeout(Duration::from_secs(2), answer)
        .await
        .ok()
        .flatten()
}

/// The first word of `ROLE` on the data node on `port` (`master`, `slave`).
pub(crate) async fn role(port: u16, ca: Option<&[u8]>) -> Option<String> {
    let role: Vec<::redis::Value> = ask(port, NODE_PASSWORD, ca, &::redis::cmd("ROLE")).await?;
    match role.first()? {
        ::redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        ::redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// A primary, its replica, and three Sentinels (quorum 2) that know both and each other.
pub(crate) struct Failover {
    pub(crate) primary: Node,
    pub(crate) replica: Node,
    pub(crate) sentinels: Vec<Node>,
    tls: Option<Tls>,
}

impl Failover {
    pub(crate) async fn start() -> Failover {
        Self::start_with(None).await
    }

    /// With TLS everywhere (to the Sentinels, between the nodes, to the gateway).
    pub(crate) async fn start_with(tls: Option<Tls>) -> Failover {
        let ca = tls.as_ref().map(|t| t.ca.clone());
        let ca = ca.as_deref();
        let primary = data_node(tls.as_ref(), &[]);
        let replica = data_node(
            tls.as_ref(),
            &[
                "--replicaof".into(),
                "127.0.0.1".into(),
                primary.port.to_string(),
            ],
        );
        let linked = eventually(Duration::from_secs(20), || async {
            let info: Option<String> = ask(
                replica.port,
                NODE_PASSWORD,
                ca,
                ::redis::cmd("INFO").arg("replication"),
            )
            .await;
            info.is_some_and(|i| i.contains("master_link_status:up"))
        })
        .await;
        assert!(linked, "the replica follows the primary");
        let sentinels: Vec<Node> = (0..3)
            .map(|_| sentinel(tls.as_ref(), primary.port))
            .collect();
        for s in &sentinels {
            let knows_all = eventually(Duration::from_secs(30), || async {
                let master: Option<HashMap<String, String>> = ask(
                    s.port,
                    SENTINEL_PASSWORD,
                    ca,
                    ::redis::cmd("SENTINEL").arg("MASTER").arg(MASTER),
                )
                .await;
                master.is_some_and(|m| {
                    m.get("num-slaves").map(String::as_str) == Some("1")
                        && m.get("num-other-sentinels").map(String::as_str) == Some("2")
                })
            })
            .await;
            assert!(
                knows_all,
                "sentinel {} knows the replica and the others",
                s.port
            );
        }
        Failover {
            primary,
            replica,
            sentinels,
            tls,
        }
    }

    /// The `[store]` keys of a gateway on this set; `extra` are more keys.
    pub(crate) fn store(&self, extra: &str) -> String {
        let nodes: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("\"127.0.0.1:{}\"", s.port))
            .collect();
        let tls = match &self.tls {
            Some(tls) => format!("tls = true\nca_file = \"{}\"\n", tls.ca_file().display()),
            None => String::new(),
        };
        format!(
            "sentinels = [{}]\nmaster_name = \"{MASTER}\"\npassword = \"{NODE_PASSWORD}\"\nsentinel_password = \"{SENTINEL_PASSWORD}\"\ntimeout_ms = 1000\n{tls}{extra}",
            nodes.join(", ")
        )
    }

    /// How many keys matching `pattern` the replica holds.
    pub(crate) async fn keys_on_replica(&self, pattern: &str) -> usize {
        let ca = self.tls.as_ref().map(|t| t.ca.as_slice());
        let keys: Option<Vec<String>> = ask(
            self.replica.port,
            NODE_PASSWORD,
            ca,
            ::redis::cmd("KEYS").arg(pattern),
        )
        .await;
        keys.map_or(0, |k| k.len())
    }

    /// Stops (`SIGSTOP`) or continues (`SIGCONT`) the replica: a replica that acknowledges
    /// nothing, while its connections stay open.
    pub(crate) fn pause_replica(&self, pause: bool) {
        let sig = if pause { libc::SIGSTOP } else { libc::SIGCONT };
        if let Ok(pid) = i32::try_from(self.replica.child.0.id()) {
            // SAFETY: kill(2) on a child this test owns and has not reaped.
            unsafe { libc::kill(pid, sig) };
        }
    }

    /// Waits until every Sentinel sees the replica healthy again (no `s_down`), so it can be
    /// promoted.
    pub(crate) async fn await_replica_healthy(&self) -> bool {
        let ca = self.tls.as_ref().map(|t| t.ca.as_slice());
        for s in &self.sentinels {
            let healthy = eventually(FAILOVER, || async {
                let replicas: Option<Vec<HashMap<String, String>>> = ask(
                    s.port,
                    SENTINEL_PASSWORD,
                    ca,
                    ::redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER),
                )
                .await;
                replicas.is_some_and(|r| {
                    r.iter().any(|r| {
                        r.get("flags").map(String::as_str) == Some("slave")
                            && r.get("master-link-status").map(String::as_str) == Some("ok")
                    })
                })
            })
            .await;
            if !healthy {
                return false;
            }
        }
        true
    }

    /// Kills the primary outright (SIGKILL: no goodbye to anyone).
    pub(crate) fn kill_primary(&mut self) {
        let _ = self.primary.child.0.kill();
        let _ = self.primary.child.0.wait();
    }

    /// Waits until the Sentinels promoted the replica; true if they did within [`FAILOVER`].
    pub(crate) async fn await_promotion(&self) -> bool {
        let (port, ca) = (
            self.replica.port,
            self.tls.as_ref().map(|t| t.ca.as_slice()),
        );
        eventually(FAILOVER, || async move {
            role(port, ca).await.as_deref() == Some("master")
        })
        .await
    }
}
