//! Redis Cluster: a real three-primary cluster (`redis-server --cluster-enabled yes` three
//! times, joined by `redis-cli --cluster create`, with a password), two gateways on it. Every
//! key carries the prefix's hash tag, so every multi-key script runs in one slot; pub/sub
//! (classic `PUBLISH`, which a cluster spreads to every node) carries revocations and
//! enrollments between the instances.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{alice_key, eventually, free_port, Reaped};
use crate::ha_common::{ask, NODE_PASSWORD};
use crate::redis_common::*;

/// Three cluster nodes, every slot assigned.
struct Cluster {
    nodes: Vec<(Reaped, u16, tempfile::TempDir)>,
}

impl Cluster {
    async fn start() -> Cluster {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("dir");
            let port = free_port();
            // The cluster bus port named too: the default (port + 10000) may be taken or in
            // the range outgoing connections use.
            let bus = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                .args(["--cluster-port", &bus.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                .args([
                    "--requirepass",
                    NODE_PASSWORD,
                    "--masterauth",
                    NODE_PASSWORD,
                ])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server");
            nodes.push((Reaped(child), port, dir));
        }
        for (_, port, _) in &nodes {
            let up = eventually(Duration::from_secs(20), || async move {
                ask::<String>(*port, NODE_PASSWORD, None, &::redis::cmd("PING"))
                    .await
                    .is_some()
            })
            .await;
            assert!(up, "node {port} answers");
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|(_, p, _)| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .args([
                "--no-auth-warning",
                "-a",
                NODE_PASSWORD,
                "--cluster",
                "create",
            ])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli (redis-tools)");
        assert!(created.success(), "redis-cli --cluster create");
        for (_, port, _) in &nodes {
            let ok = eventually(Duration::from_secs(30), || async move {
                let info: Option<String> = ask(
                    *port,
                    NODE_PASSWORD,
                    None,
                    ::redis::cmd("CLUSTER").arg("INFO"),
                )
                .await;
                info.is_some_and(|i| i.contains("cluster_state:ok"))
            })
            .await;
            assert!(ok, "node {port} sees the cluster ok");
        }
        Cluster { nodes }
    }

    fn store(&self, extra: &str) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|(_, p, _)| format!("\"127.0.0.1:{p}\""))
            .collect();
        format!(
            "cluster = [{}]\npassword = \"{NODE_PASSWORD}\"\nprefix = \"{{t}}:\"\ntimeout_ms = 1000\n{extra}",
            nodes.join(", ")
        )
    }

    /// How many of this store's keys each node holds.
    async fn keys_per_node(&self) -> Vec<usize> {
        let mut counts = Vec::new();
        for (_, port, _) in &self.nodes {
            let keys: Option<Vec<String>> = ask(
                *port,
                NODE_PASSWORD,
                None,
                ::redis::cmd("KEYS").arg("{t}:*"),
            )
            .await;
            counts.push(keys.map_or(0, |k| k.len()));
        }
        counts
    }
}

#[tokio::test]
async fn two_instances_on_a_redis_cluster_share_sessions_devices_and_revocations() {
    let cluster = Cluster::start().await;
    let (a, ready_a) = instance_on(&cluster.store("cache_ms = 1")).await;
    let (b_gw, ready_b) = instance_on(&cluster.store("cache_ms = 600000")).await;
    let (a_base, b_base) = (a.base.clone(), b_gw.base.clone());

    // A sign-in through A (its scripts write the session and its key's index together),
    // served by B; a device enrolled through A, known to B.
    let (first, _) = sign_in_via(&a_base, &alice_key()).await;
    assert_eq!(user_at(&first, &b_base).await.as_deref(), Some("alice"));
    let link = admin(&ready_a, true, "/invites?user=alice&app=a").await["link"]
        .as_str()
        .expect("link")
        .to_string();
    let phone_key = qrgate::cli::signer::Key::generate();
    qrgate::cli::signer::enroll(&phone_via(&a_base), &link, &phone_key)
        .await
        .expect("enrolled through A");
    let z = phone_key.public().to_z32();
    let heard = eventually(PROPAGATION, || async {
        devices_at(&ready_b).await.contains(&z)
    })
    .await;
    assert!(heard, "B heard of the device: {}", b_gw.log());
    // The admin API reads the table from Redis; B's own copy follows over pub/sub, which
    // crosses the cluster bus from the slot's node to the one B listens on.
    let with_device = crate::common::browser();
    let key = &phone_key;
    let signed_in = eventually(PROPAGATION, || {
        let (b, base) = (with_device.clone(), b_base.clone());
        async move {
            let id = login_page(&b, &base).await;
            approve_via(&base, &id, key).await.1.is_ok()
                && claim(&b, &base, &id).await.status() == 200
        }
    })
    .await;
    assert!(signed_in, "the device signs in through B: {}", b_gw.log());
    assert_eq!(
        user_at(&with_device, &a_base).await.as_deref(),
        Some("alice")
    );

    // Every key is in the prefix's slot: one node holds them all.
    let counts = cluster.keys_per_node().await;
    assert_eq!(
        counts.iter().filter(|n| **n > 0).count(),
        1,
        "one slot, one node: {counts:?}"
    );

    // B caches the session for ten minutes; a sign-out through A reaches it over pub/sub.
    assert_eq!(user_at(&first, &b_base).await.as_deref(), Some("alice"));
    let took = signed_out_everywhere(&first, &a_base, &b_base).await;
    let refused = took.is_some();
    assert!(refused, "B heard the revocation: {}", b_gw.log());
    println!(
        "revocation across the cluster seen on B after {:?}",
        took.unwrap_or_default()
    );

    // A SCAN (which names no key) goes to the node with the store's slot.
    let config = qrgate_core::config::Config::parse(
        &format!(
            "[[app]]\nname = \"x\"\norigin = \"http://x.test\"\nupstream = \"127.0.0.1:1\"\n[store]\nbackend = \"redis\"\n{}",
            cluster.store("")
        ),
        std::path::Path::new("c.toml"),
    )
    .expect("config");
    let qrgate_core::config::StoreConfig::Redis(redis) = config.store else {
        panic!("redis")
    };
    let link = qrgate::redis::Link::new(&redis).expect("link");
    link.connect().await.expect("connected");
    let (_, keys): (u64, Vec<String>) = link
        .query(
            ::redis::cmd("SCAN")
                .arg(0)
                .arg("MATCH")
                .arg("{t}:s:*")
                .arg("COUNT")
                .arg(10_000),
        )
        .await
        .expect("scan");
    assert!(!keys.is_empty(), "SCAN found the sessions");
}
