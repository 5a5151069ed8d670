//! Several gateway processes sharing one real Redis (`redis-server` from Debian, started on
//! a loopback port of each test's own): logins that cross instances, revocation everywhere
//! within a second, single-use approvals across instances, and Redis going away and back.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{
    alice_key, browser, client, echoed_headers, eventually, free_port, Reaped, Sse, NAV,
};
use crate::operate::{alice, Binary};

/// The origin both instances serve, as a load balancer in front of them would.
/// How long a change on one instance may take to reach the other in these tests. The
/// latency itself (well under a second) is measured in bench/run, not asserted here: a loaded
/// test machine must not fail a test that only checks that the change arrives.
const PROPAGATION: Duration = Duration::from_secs(5);

const ORIGIN: &str = "http://qrgate.test";

/// A redis-server of this test's own, persisting to `dir` (so a restart keeps its data).
struct Redis {
    child: Reaped,
    port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    async fn start() -> Redis {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let mut r = Redis {
            child: Reaped(Command::new("true").spawn().expect("placeholder")),
            port,
            dir,
        };
        r.child = r.spawn();
        r.wait_up().await;
        r
    }

    fn spawn(&self) -> Reaped {
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
                .arg("--dir")
                .arg(self.dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (the test command installs it)"),
        )
    }

    async fn wait_up(&self) {
        let port = self.port;
        let up = eventually(Duration::from_secs(20), || async move { ping(port).await }).await;
        assert!(up, "redis-server answers PING");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}

async fn ping(port: u16) -> bool {
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
const ADMIN_TOKEN: &str = "redis-admin-token";

/// A gateway instance on `redis`, serving [`ORIGIN`], with an admin listener.
async fn instance(redis: &Redis, extra_store: &str) -> (Binary, String) {
    instance_offering(redis, extra_store, "").await
}

/// [`instance`] whose app has the extra keys `app` (e.g. its signers).
async fn instance_offering(redis: &Redis, extra_store: &str, app: &str) -> (Binary, String) {
    instance_in(redis, extra_store, app, "").await
}

/// [`instance_offering`] with the `[session]` body `session`.
async fn instance_in(
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
async fn await_ready(gw: &Binary, ready: &str) {
    let c = client();
    let is_ready = eventually(Duration::from_secs(20), || {
        let c = c.clone();
        async move { c.get(ready).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(is_ready, "ready once redis answers: {}", gw.log());
}

/// The config after `[[app]]` of an instance on `redis` with its admin listener on `admin`.
fn instance_config(redis: &Redis, admin: u16, extra_store: &str, app: &str) -> String {
    format!(
        "{app}\n{}\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n[store]\nbackend = \"redis\"\nurl = \"{}\"\nprefix = \"t:\"\ntimeout_ms = 1000\n{extra_store}\n",
        alice("\"staff\""),
        redis.url()
    )
}

/// Opens the login page on `base`; returns the attempt id.
async fn login_page(b: &reqwest::Client, base: &str) -> String {
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
fn attempt_url(id: &str) -> url::Url {
    url::Url::parse(&format!("{ORIGIN}/.qrgate/auth/session/{id}")).expect("url")
}

/// A phone whose requests reach instance `base` (as a load balancer would send them).
fn phone_via(base: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(base).expect("proxy"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn claim(b: &reqwest::Client, base: &str, id: &str) -> reqwest::Response {
    crate::common::claim_at(b, base, ORIGIN, id).await
}

/// Who the upstream saw on a request through `base` (None: not let through).
async fn user_at(b: &reqwest::Client, base: &str) -> Option<String> {
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

#[tokio::test]
async fn two_instances_share_logins_sessions_revocations_and_single_use() {
    let redis = Redis::start().await;
    let (a, _) = instance(&redis, "").await;
    let (b_gw, _) = instance(&redis, "").await;
    let (a_base, b_base) = (a.base.clone(), b_gw.base.clone());

    // The page and its event stream on A; the phone's scan and approval through B.
    let b = browser();
    let id = login_page(&b, &a_base).await;
    let mut events = Sse::open(&b, format!("{a_base}/.qrgate/auth/session/{id}/events")).await;
    assert_eq!(events.next().await.map(|e| e.0).as_deref(), Some("pending"));
    let phone = phone_via(&b_base);
    let url = attempt_url(&id);
    let req = qrgate::signer::scan(&phone, &url)
        .await
        .expect("scan through B");
    assert_eq!(events.next().await.map(|e| e.0).as_deref(), Some("scanned"));
    let approved_at = Instant::now();
    qrgate::signer::approve(&phone, &url, &alice_key(), &req)
        .await
        .expect("approve through B");
    let (event, data) = events.next().await.expect("event on A");
    let latency = approved_at.elapsed();
    assert_eq!(event, "approved", "{data}");
    assert!(data.contains("alice"), "{data}");
    println!("cross-instance approve -> event: {latency:?}");

    // The same approval, replayed through A, is refused: it was used once, everywhere.
    let replay = qrgate::signer::approve(&phone_via(&a_base), &url, &alice_key(), &req).await;
    assert!(replay.is_err(), "a replayed approval is refused");

    let claimed = claim(&b, &a_base, &id).await;
    assert_eq!(claimed.status(), 200);
    assert_eq!(
        claim(&b, &b_base, &id).await.status(),
        409,
        "claimed once, everywhere"
    );
    assert_eq!(user_at(&b, &a_base).await.as_deref(), Some("alice"));
    assert_eq!(user_at(&b, &b_base).await.as_deref(), Some("alice"));

    // Logout on B: A refuses the session within a second.
    let out = b
        .post(format!("{b_base}/.qrgate/logout"))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .send()
        .await
        .expect("logout");
    assert!(out.status().is_success(), "{}", out.status());
    let t = Instant::now();
    let refused = eventually(PROPAGATION, || {
        let (b, base) = (b.clone(), a_base.clone());
        async move { user_at(&b, &base).await.is_none() }
    })
    .await;
    assert!(refused, "A refused the session");
    println!("revocation seen on A after {:?}", t.elapsed());

    // Eight approvals racing on both instances: exactly one wins.
    let b2 = browser();
    let id2 = login_page(&b2, &a_base).await;
    let url2 = attempt_url(&id2);
    let req2 = qrgate::signer::scan(&phone, &url2).await.expect("scan");
    let racers = (0..8).map(|i| {
        let phone = phone_via(if i % 2 == 0 { &a_base } else { &b_base });
        let (req2, url2) = (req2.clone(), url2.clone());
        tokio::spawn(async move {
            qrgate::signer::approve(&phone, &url2, &alice_key(), &req2)
                .await
                .is_ok()
        })
    });
    let mut wins = 0;
    for r in racers.collect::<Vec<_>>() {
        wins += usize::from(r.await.expect("racer"));
    }
    assert_eq!(wins, 1, "exactly one of 8 racing approvals wins");
}

#[tokio::test]
async fn a_pubky_token_is_single_use_across_instances() {
    use crate::compat::{alice_secret, channel, ring_token};
    let redis = Redis::start().await;
    let signers = "signers = [\"native\", \"pubky\"]";
    let (a, _) = instance_offering(&redis, "", signers).await;
    let (b_gw, _) = instance_offering(&redis, "", signers).await;
    let b = browser();
    let created: Value = b
        .post(format!("{}/.qrgate/auth/session/create", a.base))
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let link = created["payloads"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["protocol"] == "pubky"))
        .and_then(|p| p["payload"].as_str())
        .expect("pubkyauth link")
        .to_string();
    let link = url::Url::parse(&link).expect("link");
    let get = |k: &str| {
        link.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .expect("query field")
    };
    use base64::Engine;
    let secret: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(get("secret"))
        .expect("b64")
        .try_into()
        .expect("32 bytes");
    let relay = format!("{}{}", get("relay"), channel(&secret));
    assert!(relay.starts_with(ORIGIN), "{relay}");
    let kp = pubky_common::crypto::Keypair::from_secret(&alice_secret());
    let token = ring_token(&kp, &get("caps"), &secret);
    let deliver = |base: &str| {
        phone_via(base)
            .post(relay.clone())
            .body(token.clone())
            .send()
    };
    let first = deliver(&b_gw.base).await.expect("relay through B");
    assert_eq!(first.status(), 200, "Ring's token approves through B");
    let again = deliver(&a.base).await.expect("relay through A");
    assert_eq!(again.status(), 409);
    let v: Value = again.json().await.expect("json");
    assert_eq!(v["error"], "replay", "A knows B used this token: {v}");
}

#[tokio::test]
async fn redis_down_refuses_and_redis_back_recovers_without_a_restart() {
    let mut redis = Redis::start().await;
    let (mut a, ready) = instance(&redis, "cache_ms = 200").await;
    let (b_gw, ready_b) = instance(&redis, "cache_ms = 200").await;
    let base = a.base.clone();
    let b = browser();
    let id = login_page(&b, &base).await;
    let url = attempt_url(&id);
    let phone = phone_via(&base);
    let req = qrgate::signer::scan(&phone, &url).await.expect("scan");
    qrgate::signer::approve(&phone, &url, &alice_key(), &req)
        .await
        .expect("approve");
    assert_eq!(claim(&b, &base, &id).await.status(), 200);
    assert_eq!(user_at(&b, &base).await.as_deref(), Some("alice"));

    // A gateway restart keeps the session: it lives in Redis (no state file).
    a.stop().await;
    a.child = a.spawn();
    a.wait_up().await;
    await_ready(&a, &ready).await;
    assert_eq!(
        user_at(&b, &base).await.as_deref(),
        Some("alice"),
        "the session survived the gateway's restart"
    );

    redis.stop();
    let c = client();
    let not_ready = eventually(Duration::from_secs(10), || {
        let (c, ready) = (c.clone(), ready.clone());
        async move { c.get(ready).send().await.is_ok_and(|r| r.status() == 503) }
    })
    .await;
    assert!(not_ready, "/readyz reports not ready");
    // Past the cache bound nothing is let in: the session cannot be checked.
    let closed = eventually(Duration::from_secs(5), || {
        let (b, base) = (b.clone(), base.clone());
        async move {
            b.get(format!("{base}/app"))
                .header("accept", "application/json")
                .send()
                .await
                .is_ok_and(|r| r.status() == 503)
        }
    })
    .await;
    assert!(closed, "fail closed while redis is down");
    let stranger = client()
        .get(format!("{base}/app"))
        .header("accept", "application/json")
        .header(
            "cookie",
            "qrgate_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .send()
        .await
        .expect("answer");
    assert_ne!(stranger.status(), 200, "never let in");
    let page = browser()
        .get(format!("{base}/.qrgate/login"))
        .header("accept", NAV)
        .send()
        .await
        .expect("answer");
    assert_eq!(page.status(), 503, "logins need redis");
    assert!(page
        .text()
        .await
        .unwrap_or_default()
        .contains("unavailable"));

    // Redis back: the gateway recovers by itself, session included.
    redis.child = redis.spawn();
    redis.wait_up().await;
    let back = eventually(Duration::from_secs(20), || {
        let (b, base) = (b.clone(), base.clone());
        async move { user_at(&b, &base).await.as_deref() == Some("alice") }
    })
    .await;
    assert!(back, "recovered without a restart: {}", a.log());
    let is_ready = eventually(Duration::from_secs(10), || {
        let (c, ready) = (c.clone(), ready.clone());
        async move { c.get(ready).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(is_ready);
    // The other instance recovered too: it answers ready and signs people in again.
    let b_ready = eventually(Duration::from_secs(10), || {
        let (c, ready) = (c.clone(), ready_b.clone());
        async move { c.get(ready).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(b_ready, "B ready again: {}", b_gw.log());
    let b2 = browser();
    let id2 = login_page(&b2, &b_gw.base).await;
    let phone_b = phone_via(&b_gw.base);
    let url2 = attempt_url(&id2);
    let req2 = qrgate::signer::scan(&phone_b, &url2)
        .await
        .expect("scan on B");
    qrgate::signer::approve(&phone_b, &url2, &alice_key(), &req2)
        .await
        .expect("approve on B");
    assert_eq!(claim(&b2, &b_gw.base, &id2).await.status(), 200);
    assert_eq!(user_at(&b2, &b_gw.base).await.as_deref(), Some("alice"));
}

/// Calls instance admin API `path` (`ready` is its `/readyz` URL).
async fn admin(ready: &str, post: bool, path: &str) -> Value {
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
async fn devices_at(ready: &str) -> Vec<String> {
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
async fn lists_device(ready: &str, z: &str) -> bool {
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

#[tokio::test]
async fn a_device_enrolled_through_one_instance_signs_in_and_is_revoked_through_the_other() {
    let redis = Redis::start().await;
    let (a, ready_a) = instance(&redis, "").await;
    let (mut b_gw, ready_b) = instance(&redis, "").await;
    let (a_base, b_base) = (a.base.clone(), b_gw.base.clone());

    // Invited on A, enrolled through B; the link is then used up on A too.
    let link = admin(&ready_a, true, "/invites?user=alice").await["link"]
        .as_str()
        .expect("link")
        .to_string();
    assert!(link.starts_with(ORIGIN), "{link}");
    let phone_key = qrgate::signer::Key::generate();
    let z = phone_key.public().to_z32();
    qrgate::signer::enroll(&phone_via(&b_base), &link, &phone_key)
        .await
        .expect("enrolled through B");
    let again =
        qrgate::signer::enroll(&phone_via(&a_base), &link, &qrgate::signer::Key::generate()).await;
    assert!(
        matches!(
            again,
            Err(qrgate::signer::SignerError::Refused { status: 410, .. })
        ),
        "used everywhere: {again:?}"
    );
    let heard = eventually(PROPAGATION, || async {
        devices_at(&ready_a).await.contains(&z)
    })
    .await;
    assert!(heard, "A heard of the enrollment");

    // The device approves a login on A; the session works on both instances.
    let b = browser();
    let id = login_page(&b, &a_base).await;
    let url = attempt_url(&id);
    let phone = phone_via(&a_base);
    let req = qrgate::signer::scan(&phone, &url).await.expect("scan");
    qrgate::signer::approve(&phone, &url, &phone_key, &req)
        .await
        .expect("the enrolled key approves on A");
    assert_eq!(claim(&b, &a_base, &id).await.status(), 200);
    assert_eq!(user_at(&b, &b_base).await.as_deref(), Some("alice"));

    // A restarted instance reads the devices from Redis.
    b_gw.stop().await;
    b_gw.child = b_gw.spawn();
    b_gw.wait_up().await;
    await_ready(&b_gw, &ready_b).await;
    let loaded = eventually(Duration::from_secs(10), || async {
        lists_device(&ready_b, &z).await
    })
    .await;
    assert!(loaded, "B knows the device after a restart");

    // Revoked through B: A forgets the device and refuses its session.
    let revoked = admin(&ready_b, true, &format!("/devices/revoke?key={z}")).await;
    assert_eq!(revoked["revoked"], 1, "{revoked}");
    let refused = eventually(PROPAGATION, || {
        let (b, base) = (b.clone(), a_base.clone());
        async move { user_at(&b, &base).await.is_none() }
    })
    .await;
    assert!(refused, "A refused the device's session");
    assert!(!devices_at(&ready_a).await.contains(&z));
    let b2 = browser();
    let id2 = login_page(&b2, &a_base).await;
    let url2 = attempt_url(&id2);
    let req2 = qrgate::signer::scan(&phone, &url2).await.expect("scan");
    let refused = qrgate::signer::approve(&phone, &url2, &phone_key, &req2).await;
    assert!(
        matches!(
            refused,
            Err(qrgate::signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
}

/// `POST {base}/.qrgate/{route}` with `form` from the app's origin, as JSON, by `b`.
async fn own_action_at(b: &reqwest::Client, base: &str, route: &str, form: &str) -> (u16, Value) {
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
async fn approve_via(
    base: &str,
    id: &str,
    key: &qrgate::signer::Key,
) -> (
    qrgate::signer::Request,
    Result<String, qrgate::signer::SignerError>,
) {
    let (phone, url) = (phone_via(base), attempt_url(id));
    let req = qrgate::signer::scan(&phone, &url).await.expect("scan");
    let approved = qrgate::signer::approve(&phone, &url, key, &req).await;
    (req, approved)
}

/// Confirmations by phone cross instances like logins: asked on one, approved through the
/// other, collected where asked, as that action only (the purpose is kept in Redis and the
/// claim script compares it); a device removed by its person ends its sessions everywhere.
#[tokio::test]
async fn actions_confirmed_by_phone_cross_instances_and_are_claimed_only_as_themselves() {
    let redis = Redis::start().await;
    let (a, ready_a) = instance(&redis, "").await;
    let (b_gw, ready_b) = instance(&redis, "").await;
    let (a_base, b_base) = (a.base.clone(), b_gw.base.clone());

    // Alice signs in on A with her configured key; her phone, enrolled, signs in on B.
    let link = admin(&ready_a, true, "/invites?user=alice").await["link"]
        .as_str()
        .expect("link")
        .to_string();
    let phone_key = qrgate::signer::Key::generate();
    qrgate::signer::enroll(&phone_via(&a_base), &link, &phone_key)
        .await
        .expect("enrolled");
    let z = phone_key.public().to_z32();
    let heard = eventually(PROPAGATION, || async {
        devices_at(&ready_b).await.contains(&z)
    })
    .await;
    assert!(heard, "B heard of the enrollment");
    let device = qrgate_core::devices::device_id(phone_key.public().as_bytes());
    let desk = browser();
    let id = login_page(&desk, &a_base).await;
    let (_, ok) = approve_via(&a_base, &id, &alice_key()).await;
    ok.expect("alice approves");
    assert_eq!(claim(&desk, &a_base, &id).await.status(), 200);
    let phone_browser = browser();
    let id = login_page(&phone_browser, &b_base).await;
    let (_, ok) = approve_via(&b_base, &id, &phone_key).await;
    ok.expect("the phone approves");
    assert_eq!(claim(&phone_browser, &b_base, &id).await.status(), 200);
    assert_eq!(
        user_at(&phone_browser, &a_base).await.as_deref(),
        Some("alice")
    );

    // The removal is asked on A and approved through B: by the phone itself, refused; by
    // her configured key, given.
    let form = format!("device={device}");
    let (status, started) = own_action_at(&desk, &a_base, "remove-device", &form).await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().expect("id").to_string();
    let (seen, refused) = approve_via(&b_base, &id, &phone_key).await;
    assert!(
        seen.message.starts_with("qrgate-action-v1\n"),
        "{}",
        seen.message
    );
    assert!(
        matches!(
            refused,
            Err(qrgate::signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    let (_, ok) = approve_via(&b_base, &id, &alice_key()).await;
    ok.expect("approved through B");
    // On B, the approval is neither a session nor an invitation.
    let r = claim(&desk, &b_base, &id).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    let (status, body) = own_action_at(&desk, &b_base, "invite", &format!("confirm={id}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("other_purpose"))
    );
    // Collected on A as the removal: the phone's session on B ends within a second.
    let (status, done) = own_action_at(
        &desk,
        &a_base,
        "remove-device",
        &format!("{form}&confirm={id}"),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["removed"], 1, "{done}");
    let refused = eventually(PROPAGATION, || {
        let (b, base) = (phone_browser.clone(), b_base.clone());
        async move { user_at(&b, &base).await.is_none() }
    })
    .await;
    assert!(refused, "B refused the removed phone's session");
    assert!(!devices_at(&ready_b).await.contains(&z));
    assert_eq!(user_at(&desk, &b_base).await.as_deref(), Some("alice"));

    // An invitation asked on B, approved through A, collected on B.
    let (status, started) = own_action_at(&desk, &b_base, "invite", "").await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().expect("id").to_string();
    let (_, ok) = approve_via(&a_base, &id, &alice_key()).await;
    ok.expect("approved through A");
    let (status, invited) = own_action_at(&desk, &b_base, "invite", &format!("confirm={id}")).await;
    assert_eq!(status, 200, "{invited}");
    assert!(invited["link"]
        .as_str()
        .is_some_and(|l| l.starts_with(ORIGIN)));
    let (status, body) = own_action_at(&desk, &a_base, "invite", &format!("confirm={id}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("already_done")),
        "used up on every instance"
    );
    assert!(a.log().contains("action_confirmed"), "audited");
}

/// The claim script itself compares the purpose, in the same atomic step as the claim: an
/// approval kept in Redis for one action is refused, unchanged, to a claim of anything else.
#[tokio::test]
async fn the_redis_claim_script_refuses_a_claim_of_another_purpose() {
    use qrgate_core::share::{AttemptRecord, AttemptShare, Outcome, SharedPhase, Transition};
    let redis = Redis::start().await;
    let link = qrgate::redis::Link::new(&qrgate_core::config::RedisConfig {
        url: redis.url(),
        prefix: "purpose:".into(),
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
        cache: Duration::ZERO,
    })
    .expect("link");
    link.connect().await.expect("connected");
    let share = qrgate::redis::attempts::RedisAttempts::new(link);
    let record = |id: &str, action: Option<&str>| AttemptRecord {
        id: id.into(),
        app: "Test app".into(),
        bind_hash: "00".repeat(32),
        requester: None,
        requester_ip: "127.0.0.1".into(),
        requester_agent: "test".into(),
        return_to: "/".into(),
        step_up: None,
        action: action.map(|a| ("11".repeat(32), a.to_string())),
        grant: None,
        issued_ms: 1_000,
        expires_ms: 100_000,
        materials: Vec::new(),
    };
    let approve = Transition::Approve {
        key: [7; 32],
        name: "alice".into(),
        protocol: "native".into(),
    };
    let claim = |action: &str| Transition::Claim {
        window_ms: 30_000,
        action: action.into(),
    };
    let add = "add-device:alice";
    for (id, action) in [("sess_action", Some(add)), ("sess_signin", None)] {
        share.put(&record(id, action), 60_000).await.expect("put");
        let done = share
            .transition(id, &approve, 2_000)
            .await
            .expect("approve");
        assert!(
            matches!(done, Outcome::Done(SharedPhase::Approved { .. })),
            "{done:?}"
        );
    }
    for wrong in [
        "",
        "add-device:bob",
        "remove-device:000000000000000000000000:alice",
    ] {
        assert_eq!(
            share
                .transition("sess_action", &claim(wrong), 3_000)
                .await
                .expect("answer"),
            Outcome::OtherPurpose,
            "{wrong:?}"
        );
    }
    assert_eq!(
        share
            .transition("sess_signin", &claim(add), 3_000)
            .await
            .expect("answer"),
        Outcome::OtherPurpose
    );
    // Still approved, and collected by the right claim, once.
    for (id, action) in [("sess_action", add), ("sess_signin", "")] {
        let done = share
            .transition(id, &claim(action), 3_000)
            .await
            .expect("claim");
        assert!(
            matches!(&done, Outcome::Done(SharedPhase::Approved { key, .. }) if *key == [7; 32]),
            "{done:?}"
        );
        assert_eq!(
            share
                .transition(id, &claim(action), 3_000)
                .await
                .expect("again"),
            Outcome::Refused(SharedPhase::Claimed)
        );
    }
}

#[tokio::test]
async fn a_user_removed_on_one_instance_loses_their_devices_and_invitations_on_every_instance() {
    let bob = "[[user]]\nname = \"bob\"\nroles = [\"staff\"]\n";
    let redis = Redis::start().await;
    let (a, ready_a) = instance(&redis, bob).await;
    let (b_gw, ready_b) = instance(&redis, bob).await;
    let (a_base, b_base) = (a.base.clone(), b_gw.base.clone());

    // Bob's phone, enrolled through B and signed in through A; a second invitation pending.
    let link = admin(&ready_a, true, "/invites?user=bob").await["link"]
        .as_str()
        .expect("link")
        .to_string();
    let phone_key = qrgate::signer::Key::generate();
    let z = phone_key.public().to_z32();
    qrgate::signer::enroll(&phone_via(&b_base), &link, &phone_key)
        .await
        .expect("enrolled through B");
    let pending = admin(&ready_b, true, "/invites?user=bob").await["link"]
        .as_str()
        .expect("link")
        .to_string();
    let b = browser();
    let id = login_page(&b, &a_base).await;
    let url = attempt_url(&id);
    let phone = phone_via(&a_base);
    let req = qrgate::signer::scan(&phone, &url).await.expect("scan");
    qrgate::signer::approve(&phone, &url, &phone_key, &req)
        .await
        .expect("the enrolled key approves on A");
    assert_eq!(claim(&b, &a_base, &id).await.status(), 200);
    assert_eq!(user_at(&b, &b_base).await.as_deref(), Some("bob"));

    // A reloads a config without bob. B still configures him (its config is older), yet
    // the device, its session and the invitation are gone there too: they were removed
    // from Redis, and B heard it.
    let admin_a: u16 = ready_a
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/readyz")
        .parse()
        .expect("port");
    a.write_config("", &instance_config(&redis, admin_a, "", ""));
    a.signal("HUP");
    let gone = eventually(Duration::from_secs(10), || async {
        devices_at(&ready_b).await.is_empty() && devices_at(&ready_a).await.is_empty()
    })
    .await;
    assert!(gone, "no instance lists bob's device: {}", a.log());
    let refused = eventually(PROPAGATION, || {
        let (b, base) = (b.clone(), b_base.clone());
        async move { user_at(&b, &base).await.is_none() }
    })
    .await;
    assert!(refused, "B refuses the device's session");
    let dead = qrgate::signer::enroll(
        &phone_via(&b_base),
        &pending,
        &qrgate::signer::Key::generate(),
    )
    .await;
    assert!(
        matches!(
            dead,
            Err(qrgate::signer::SignerError::Refused { status: 410, .. })
        ),
        "the invitation is withdrawn everywhere: {dead:?}"
    );
    let listed = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "HLEN", "t:invitations"])
        .output()
        .expect("redis-cli");
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        "0",
        "no invitation is listed for withdrawal any more"
    );
    let b2 = browser();
    let id2 = login_page(&b2, &b_base).await;
    let url2 = attempt_url(&id2);
    let phone_b = phone_via(&b_base);
    let req2 = qrgate::signer::scan(&phone_b, &url2).await.expect("scan");
    let refused = qrgate::signer::approve(&phone_b, &url2, &phone_key, &req2).await;
    assert!(
        matches!(
            refused,
            Err(qrgate::signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    assert!(!devices_at(&ready_b).await.contains(&z));
    let log = a.log();
    assert!(
        log.contains("device_revoked") && log.contains("invitation_withdrawn"),
        "audited: {log}"
    );
}

#[tokio::test]
async fn an_app_removed_on_one_instance_is_dropped_from_every_instances_devices() {
    let other = "\n[[app]]\nname = \"b\"\norigin = \"http://b.test\"\nhosts = [\"b.test\"]\nupstream = \"127.0.0.1:9\"\n";
    let redis = Redis::start().await;
    let (a, ready_a) = instance(&redis, other).await;
    let (_b_gw, ready_b) = instance(&redis, other).await;
    let link = admin(&ready_a, true, "/invites?user=alice&app=a&app=b").await["link"]
        .as_str()
        .expect("link")
        .to_string();
    let phone_key = qrgate::signer::Key::generate();
    qrgate::signer::enroll(&phone_via(&a.base), &link, &phone_key)
        .await
        .expect("enrolled");
    let apps_at = |ready: String| async move {
        admin(&ready, false, "/devices").await["devices"][0]["apps"].clone()
    };
    let heard = eventually(PROPAGATION, || {
        let ready = ready_b.clone();
        async move { apps_at(ready).await == serde_json::json!(["a", "b"]) }
    })
    .await;
    assert!(heard, "B knows the device");

    // A reloads without app b: the binding goes in Redis, and B hears it.
    let admin_a: u16 = ready_a
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/readyz")
        .parse()
        .expect("port");
    a.write_config("", &instance_config(&redis, admin_a, "", ""));
    a.signal("HUP");
    let narrowed = eventually(Duration::from_secs(10), || {
        let ready = ready_b.clone();
        async move { apps_at(ready).await == serde_json::json!(["a"]) }
    })
    .await;
    assert!(narrowed, "B holds the narrowed device: {}", a.log());
    let stored = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "HVALS", "t:devices"])
        .output()
        .expect("redis-cli");
    let stored = String::from_utf8_lossy(&stored.stdout).to_string();
    assert!(stored.contains("\"apps\":[\"a\"]"), "{stored}");
    assert!(
        stored.contains("\"origins\":[\"http://qrgate.test\"]"),
        "the origins narrowed with the apps: {stored}"
    );
    assert!(a.log().contains("device_unbound"));
}

#[tokio::test]
async fn an_app_moved_to_another_origin_on_one_instance_is_dropped_from_every_instances_devices() {
    let other = "\n[[app]]\nname = \"b\"\norigin = \"http://b.test\"\nhosts = [\"b.test\"]\nupstream = \"127.0.0.1:9\"\n";
    let redis = Redis::start().await;
    let (a, ready_a) = instance(&redis, other).await;
    let (_b_gw, ready_b) = instance(&redis, other).await;
    let link = admin(&ready_a, true, "/invites?user=alice&app=a&app=b").await["link"]
        .as_str()
        .expect("link")
        .to_string();
    let phone_key = qrgate::signer::Key::generate();
    qrgate::signer::enroll(&phone_via(&a.base), &link, &phone_key)
        .await
        .expect("enrolled");
    let apps_at = |ready: String| async move {
        admin(&ready, false, "/devices").await["devices"][0]["apps"].clone()
    };
    let heard = eventually(PROPAGATION, || {
        let ready = ready_b.clone();
        async move { apps_at(ready).await == serde_json::json!(["a", "b"]) }
    })
    .await;
    assert!(heard, "B knows the device");

    // A reloads with app b on another origin: the same name is another app, so the binding
    // goes in Redis, and B (still running the old config) hears it.
    let admin_a: u16 = ready_a
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/readyz")
        .parse()
        .expect("port");
    a.write_config(
        "",
        &instance_config(&redis, admin_a, "", &other.replace("b.test", "c.test")),
    );
    a.signal("HUP");
    let narrowed = eventually(Duration::from_secs(10), || {
        let ready = ready_b.clone();
        async move { apps_at(ready).await == serde_json::json!(["a"]) }
    })
    .await;
    assert!(narrowed, "B holds the narrowed device: {}", a.log());
    assert!(a.log().contains("device_unbound"));
}

/// Sends one command to the redis-server on `port`; returns its raw answer.
async fn redis_command(port: u16, args: &[&str]) -> String {
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

#[tokio::test]
async fn operator_device_calls_read_and_write_redis_not_an_instance_copy() {
    let redis = Redis::start().await;
    let (_a, ready_a) = instance(&redis, "").await;
    let (_b, ready_b) = instance(&redis, "").await;
    // A device in Redis whose announcement no instance heard, as one enrolled while an
    // instance was not subscribed yet: no instance's own table holds it.
    let key = qrgate::signer::Key::generate();
    let (hex_key, z) = (key.public().to_hex(), key.public().to_z32());
    let device = serde_json::json!({
        "key": hex_key, "user": "alice", "app": "a", "label": "Firefox on Android", "created_ms": 1
    })
    .to_string();
    let added = redis_command(redis.port, &["HSET", "t:devices", &hex_key, &device]).await;
    assert_eq!(added, ":1\r\n");

    // Both instances list it: the list is Redis's.
    for ready in [&ready_a, &ready_b] {
        assert_eq!(devices_at(ready).await, vec![z.clone()], "{ready}");
    }
    // Revoked through B, it is gone from Redis, and from every list.
    let revoked = admin(&ready_b, true, &format!("/devices/revoke?key={z}")).await;
    assert_eq!(revoked["revoked"], 1, "{revoked}");
    assert_eq!(
        redis_command(redis.port, &["HEXISTS", "t:devices", &hex_key]).await,
        ":0\r\n"
    );
    for ready in [&ready_a, &ready_b] {
        assert!(devices_at(ready).await.is_empty(), "{ready}");
    }
}

/// A whole login through instance `base` approved by `key`: the browser and its raw token.
async fn sign_in_via(base: &str, key: &qrgate::signer::Key) -> (reqwest::Client, String) {
    let b = browser();
    let id = login_page(&b, base).await;
    let phone = phone_via(base);
    let url = attempt_url(&id);
    let req = qrgate::signer::scan(&phone, &url).await.expect("scan");
    qrgate::signer::approve(&phone, &url, key, &req)
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
fn session_id_of(token: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(token.as_bytes())[..12])
}

/// The ids instance `ready` lists for admin query `query`, sorted.
async fn listed_at(ready: &str, query: &str) -> Vec<String> {
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
async fn index_in(redis: &Redis, key: &[u8; 32]) -> (Vec<String>, i64) {
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

#[tokio::test]
async fn the_key_index_lists_exactly_a_persons_sessions_across_instances_revocation_and_expiry() {
    use qrgate::signer::Key;
    let redis = Redis::start().await;
    let bob = Key::generate();
    let bob_user = format!(
        "[[user]]\nname = \"bob\"\nkey = \"{}\"\nroles = [\"staff\"]\n",
        bob.public().to_z32()
    );
    // Sessions idle out after 6 s (and live at most 10 minutes).
    let session = "idle_timeout_seconds = 6\nlifetime_seconds = 600";
    let (a, ready_a) = instance_in(&redis, "", &bob_user, session).await;
    let (b_gw, ready_b) = instance_in(&redis, "", &bob_user, session).await;
    let (a_base, b_base) = (a.base.clone(), b_gw.base.clone());
    let alice = alice_key().public();
    let alice_bytes = *alice.as_bytes();

    let (b1, t1) = sign_in_via(&a_base, &alice_key()).await;
    let (_b2, t2) = sign_in_via(&b_base, &alice_key()).await;
    let (_b3, t3) = sign_in_via(&a_base, &bob).await;
    let mut hers = vec![session_id_of(&t1), session_id_of(&t2)];
    hers.sort();

    // Each session is in its key's index from the moment it exists, and the index lives as
    // long as its newest session can (at most the 600 s lifetime).
    let (members, ttl) = index_in(&redis, &alice_bytes).await;
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(ttl > 590_000 && ttl <= 600_000, "index TTL {ttl} ms");

    // Either instance lists exactly hers for her name or key, and his for his.
    for ready in [&ready_a, &ready_b] {
        assert_eq!(listed_at(ready, "user=alice").await, hers);
        assert_eq!(
            listed_at(ready, &format!("key={}", alice.to_z32())).await,
            hers
        );
        assert_eq!(listed_at(ready, "user=bob").await, vec![session_id_of(&t3)]);
    }

    // Signed out on A from her page: B no longer lists it, and the index lost it in the
    // same step.
    let out = b1
        .post(format!("{a_base}/.qrgate/sessions"))
        .header("origin", ORIGIN)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", NAV)
        .body(format!("id={}", session_id_of(&t2)))
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status(), 303);
    assert_eq!(
        listed_at(&ready_b, "user=alice").await,
        vec![session_id_of(&t1)]
    );
    assert_eq!(index_in(&redis, &alice_bytes).await.0.len(), 1);

    // Revoked through B's admin API: gone for A too.
    let revoked = admin(&ready_b, true, "/sessions/revoke?user=bob").await;
    assert_eq!(revoked["revoked"], 1, "{revoked}");
    assert!(listed_at(&ready_a, "user=bob").await.is_empty());
    assert!(index_in(&redis, bob.public().as_bytes()).await.0.is_empty());

    // Left alone, her last session idles out in Redis (TTL); the next read on the other
    // instance lists nothing and prunes the index, which is then gone.
    let expired = eventually(Duration::from_secs(20), || {
        let ready = ready_b.clone();
        async move { listed_at(&ready, "user=alice").await.is_empty() }
    })
    .await;
    assert!(expired, "her idle session expired");
    let (members, ttl) = index_in(&redis, &alice_bytes).await;
    assert!(members.is_empty() && ttl == -2, "{members:?} {ttl}");

    // A new login is listed alone.
    let (_b4, t4) = sign_in_via(&b_base, &alice_key()).await;
    assert_eq!(
        listed_at(&ready_a, "user=alice").await,
        vec![session_id_of(&t4)]
    );
    assert_eq!(
        user_at(&b1, &a_base).await,
        None,
        "the expired one stays refused"
    );
}
