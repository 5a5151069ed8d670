//! Shared by the tests of several gateway processes on one real Redis (`redis.rs`,
//! `redis_devices.rs`): a redis-server of a test's own, instances on it, and the clients and
//! admin calls that drive them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{browser, client, echoed_headers, eventually, free_port, Reaped, NAV};
use crate::operate::{alice, Binary};

/// The origin both instances serve, as a load balancer in front of them would.
/// How long a change on one instance may take to reach the other in these tests. The
/// latency itself (well under a second) is measured in bench/run, not asserted here: a loaded
/// test machine must not fail a test that only checks that the change arrives.
pub(crate) const PROPAGATION: Duration = Duration::from_secs(5);

pub(crate) const ORIGIN: &str = "http://qrgate.test";

/// A redis-server of this test's own, persisting to `dir` (so a restart keeps its data).
pub(crate) struct Redis {
    pub(crate) child: Reaped,
    pub(crate) port: u16,
    pub(crate) dir: tempfile::TempDir,
    /// More `redis-server` arguments.
    extra: Vec<String>,
}

impl Redis {
    pub(crate) async fn start() -> Redis {
        Self::start_with(&[]).await
    }

    /// With more `redis-server` arguments `extra`.
    pub(crate) async fn start_with(extra: &[&str]) -> Redis {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let mut r = Redis {
            child: Reaped(Command::new("true").spawn().expect("placeholder")),
            port,
            dir,
            extra: extra.iter().map(|a| a.to_string()).collect(),
        };
        r.child = r.spawn();
        r.wait_up().await;
        r
    }

    pub(crate) fn spawn(&self) -> Reaped {
        Reaped(
            Command::new("redis-server")
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                ])
                .args(&self.extra)
                .arg("--dir")
                .arg(self.dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (the test command installs it)"),
        )
    }

    pub(crate) async fn wait_up(&self) {
        let port = self.port;
        let up = eventually(Duration::from_secs(20), || async move { ping(port).await }).await;
        assert!(up, "redis-server answers PING");
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}

pub(crate) async fn ping(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf).await, Ok(n) if buf[..n].starts_with(b"+PONG"))
}

/// The admin API's bearer token on every instance.
pub(crate) const ADMIN_TOKEN: &str = "redis-admin-token";

/// A gateway instance on `redis`, serving [`ORIGIN`], with an admin listener.
pub(crate) async fn instance(redis: &Redis, extra_store: &str) -> (Binary, String) {
    instance_offering(redis, extra_store, "").await
}

/// [`instance`] whose app has the extra keys `app` (e.g. its signers).
pub(crate) async fn instance_offering(
    redis: &Redis,
    extra_store: &str,
    app: &str,
) -> (Binary, String) {
    instance_in(redis, extra_store, app, "").await
}

/// [`instance_offering`] with the `[session]` body `session`.
pub(crate) async fn instance_in(
    redis: &Redis,
    extra_store: &str,
    app: &str,
    session: &str,
) -> (Binary, String) {
    let admin = free_port();
    let gw = Binary::start_with(
        "",
        Some(ORIGIN.to_string()),
        session,
        &instance_config(redis, admin, extra_store, app),
    )
    .await;
    crate::common::write_private(&gw.dir.path().join("admin.token"), ADMIN_TOKEN);
    let ready = format!("http://127.0.0.1:{admin}/readyz");
    await_ready(&gw, &ready).await;
    (gw, ready)
}

/// Waits until instance `gw` says it is ready on `ready` (its Redis link is up).
pub(crate) async fn await_ready(gw: &Binary, ready: &str) {
    let c = client();
    let is_ready = eventually(Duration::from_secs(20), || {
        let c = c.clone();
        async move { c.get(ready).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(is_ready, "ready once redis answers: {}", gw.log());
}

/// The config after `[[app]]` of an instance on `redis` with its admin listener on `admin`.
pub(crate) fn instance_config(redis: &Redis, admin: u16, extra_store: &str, app: &str) -> String {
    store_config(
        admin,
        &format!(
            "url = \"{}\"\ntimeout_ms = 1000\n{extra_store}",
            redis.url()
        ),
        app,
    )
}

/// The config after `[[app]]` of an instance whose `[store]` (Redis, prefix `t:`) has the
/// keys `store` (and the prefix `t:` unless they name one), with its admin listener on
/// `admin`.
pub(crate) fn store_config(admin: u16, store: &str, app: &str) -> String {
    let prefix = if store.contains("prefix =") {
        ""
    } else {
        "prefix = \"t:\"\n"
    };
    format!(
        "{app}\n{}\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n[store]\nbackend = \"redis\"\n{prefix}{store}\n",
        alice("\"staff\"")
    )
}

/// A gateway instance serving [`ORIGIN`] whose `[store]` has the keys `store`, with an admin
/// listener; returned once ready.
pub(crate) async fn instance_on(store: &str) -> (Binary, String) {
    let admin = free_port();
    let gw = Binary::start_with(
        "",
        Some(ORIGIN.to_string()),
        "",
        &store_config(admin, store, ""),
    )
    .await;
    crate::common::write_private(&gw.dir.path().join("admin.token"), ADMIN_TOKEN);
    let ready = format!("http://127.0.0.1:{admin}/readyz");
    await_ready(&gw, &ready).await;
    (gw, ready)
}

/// Opens the login page on `base`; returns the attempt id.
pub(crate) async fn login_page(b: &reqwest::Client, base: &str) -> String {
    let html = b
        .get(format!("{base}/.qrgate/login?rd=%2F"))
        .header("accept", NAV)
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt id") + marker.len();
    html[start..].split('"').next().expect("id").to_string()
}

/// The attempt's URL, as the QR shows it.
pub(crate) fn attempt_url(id: &str) -> url::Url {
    url::Url::parse(&format!("{ORIGIN}/.qrgate/auth/session/{id}")).expect("url")
}

/// A phone whose requests reach instance `base` (as a load balancer would send them).
pub(crate) fn phone_via(base: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(base).expect("proxy"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub(crate) async fn claim(b: &reqwest::Client, base: &str, id: &str) -> reqwest::Response {
    crate::common::claim_at(b, base, ORIGIN, id).await
}

/// Who the upstream saw on a request through `base` (None: not let through).
pub(crate) async fn user_at(b: &reqwest::Client, base: &str) -> Option<String> {
    let r = b
        .get(format!("{base}/app"))
        .header("accept", "application/json")
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let echo: Value = r.json().await.ok()?;
    echoed_headers(&echo)
        .into_iter()
        .find(|(n, _)| n == "x-auth-user")
        .map(|(_, v)| v)
}

/// Calls instance admin API `path` (`ready` is its `/readyz` URL).
pub(crate) async fn admin(ready: &str, post: bool, path: &str) -> Value {
    let url = ready.replace("/readyz", path);
    let c = client();
    // A 503 is "the store did not answer in time, try again": on a loaded test machine a
    // command may miss the instance's timeout, and a client retries, as an operator would.
    let end = Instant::now() + PROPAGATION;
    loop {
        let req = if post { c.post(&url) } else { c.get(&url) };
        let r = req
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin answer");
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if status == 503 && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(status, 200, "{path}: {body}");
        return serde_json::from_str(&body).expect("json");
    }
}

/// The ids of the devices instance `ready` knows.
pub(crate) async fn devices_at(ready: &str) -> Vec<String> {
    admin(ready, false, "/devices").await["devices"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|d| d["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether instance `ready` lists the device of key `z` now; a 503 (a restarted instance's
/// Redis link not up yet: it refuses rather than answer from a table that may be behind)
/// counts as not yet.
pub(crate) async fn lists_device(ready: &str, z: &str) -> bool {
    let r = client()
        .get(ready.replace("/readyz", "/devices"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin answer");
    match r.status().as_u16() {
        503 => false,
        status => {
            assert_eq!(status, 200, "/devices");
            let body: Value = r.json().await.expect("json");
            body["devices"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["key"] == z))
        }
    }
}

/// `POST {base}/.qrgate/{route}` with `form` from the app's origin, as JSON, by `b`.
pub(crate) async fn own_action_at(
    b: &reqwest::Client,
    base: &str,
    route: &str,
    form: &str,
) -> (u16, Value) {
    let r = b
        .post(format!("{base}/.qrgate/{route}"))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .expect("answer");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A phone whose requests reach `base` approves attempt `id` with `key`.
pub(crate) async fn approve_via(
    base: &str,
    id: &str,
    key: &qrgate::cli::signer::Key,
) -> (
    qrgate::cli::signer::Request,
    Result<String, qrgate::cli::signer::SignerError>,
) {
    let (phone, url) = (phone_via(base), attempt_url(id));
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    let approved = qrgate::cli::signer::approve(&phone, &url, key, &req).await;
    (req, approved)
}

/// Sends one command to the redis-server on `port`; returns its raw answer.
pub(crate) async fn redis_command(port: u16, args: &[&str]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(cmd.as_bytes()).await.expect("send");
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).await.expect("answer");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A whole login through instance `base` approved by `key`: the browser and its raw token.
pub(crate) async fn sign_in_via(
    base: &str,
    key: &qrgate::cli::signer::Key,
) -> (reqwest::Client, String) {
    let b = browser();
    let id = login_page(&b, base).await;
    let phone = phone_via(base);
    let url = attempt_url(&id);
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    qrgate::cli::signer::approve(&phone, &url, key, &req)
        .await
        .expect("approve");
    let claimed = claim(&b, base, &id).await;
    assert_eq!(claimed.status(), 200);
    let token = claimed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("qrgate_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    (b, token)
}

/// The public id of the session `token` names.
pub(crate) fn session_id_of(token: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(token.as_bytes())[..12])
}

/// The ids instance `ready` lists for admin query `query`, sorted.
pub(crate) async fn listed_at(ready: &str, query: &str) -> Vec<String> {
    let mut ids: Vec<String> = admin(ready, false, &format!("/sessions?{query}")).await["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// The members of `key`'s session index in Redis (test prefix `t:`), and its TTL in ms.
pub(crate) async fn index_in(redis: &Redis, key: &[u8; 32]) -> (Vec<String>, i64) {
    let client = ::redis::Client::open(redis.url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let index = format!("t:k:{}", hex::encode(key));
    let members: Vec<String> = ::redis::cmd("ZRANGE")
        .arg(&index)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("ZRANGE");
    let ttl: i64 = ::redis::cmd("PTTL")
        .arg(&index)
        .query_async(&mut conn)
        .await
        .expect("PTTL");
    (members, ttl)
}

/// The admin listener's port of instance `ready` (its `/readyz` URL).
pub(crate) fn admin_port(ready: &str) -> u16 {
    ready
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/readyz")
        .parse()
        .expect("port")
}

/// The apps instance `ready` lists for its (only) device.
pub(crate) async fn device_apps_at(ready: &str) -> Value {
    admin(ready, false, "/devices").await["devices"][0]["apps"].clone()
}

/// Two instances on `redis` serving app a and the apps `other`, and a device enrolled through
/// the first for a and b, known to the second: (first, its ready URL, second, its ready URL).
pub(crate) async fn a_device_for_two_apps(
    redis: &Redis,
    other: &str,
) -> (Binary, String, Binary, String) {
    let (a, ready_a) = instance(redis, other).await;
    let (b, ready_b) = instance(redis, other).await;
    let link = admin(&ready_a, true, "/invites?user=alice&app=a&app=b").await["link"]
        .as_str()
        .expect("link")
        .to_string();
    let phone_key = qrgate::cli::signer::Key::generate();
    qrgate::cli::signer::enroll(&phone_via(&a.base), &link, &phone_key)
        .await
        .expect("enrolled");
    let heard = eventually(PROPAGATION, || async {
        device_apps_at(&ready_b).await == serde_json::json!(["a", "b"])
    })
    .await;
    assert!(heard, "B knows the device");
    (a, ready_a, b, ready_b)
}

/// Reloads instance `gw` (admin listener behind `ready`) on `redis` with the apps `app`;
/// true once instance `other_ready` lists the device with `apps`.
pub(crate) async fn reload_and_await_apps(
    gw: &Binary,
    ready: &str,
    redis: &Redis,
    app: &str,
    other_ready: &str,
    apps: Value,
) -> bool {
    gw.write_config("", &instance_config(redis, admin_port(ready), "", app));
    gw.signal("HUP");
    eventually(Duration::from_secs(10), || async {
        device_apps_at(other_ready).await == apps
    })
    .await
}

/// Signs `b` out through the instance at `from`, then waits until the instance at `at`
/// refuses its session (within [`PROPAGATION`]); how long that took, or `None` if it never did.
pub(crate) async fn signed_out_everywhere(
    b: &reqwest::Client,
    from: &str,
    at: &str,
) -> Option<std::time::Duration> {
    let out = b
        .post(format!("{from}/.qrgate/logout"))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .send()
        .await
        .expect("logout");
    assert!(out.status().is_success(), "{}", out.status());
    let t = std::time::Instant::now();
    crate::common::eventually(PROPAGATION, || {
        let (b, base) = (b.clone(), at.to_string());
        async move { user_at(&b, &base).await.is_none() }
    })
    .await
    .then(|| t.elapsed())
}
