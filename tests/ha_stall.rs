//! A slow or half-broken Redis: a real redis-server stalled by `CLIENT PAUSE` and
//! `DEBUG SLEEP`, and a server written here that answers garbage. Requests whose session is
//! not cached answer 503 within `timeout_ms`, cached sessions keep working to `cache_ms`,
//! connections to Redis do not pile up, nothing panics or lets anyone in, and everything
//! recovers without a restart.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{alice_key, client, eventually, free_port};
use crate::operate::Binary;
use crate::redis_common::*;

/// The store's `timeout_ms` in these tests.
const TIMEOUT: Duration = Duration::from_millis(300);
/// What a loaded test machine may add to it before the answer arrives.
const SLACK: Duration = Duration::from_millis(1200);

/// `GET {base}/app` with `session` as the session cookie: (status, how long it took).
async fn app_with(base: &str, session: &str) -> (u16, Duration) {
    let started = Instant::now();
    let r = client()
        .get(format!("{base}/app"))
        .header("accept", "application/json")
        .header("cookie", format!("qrgate_session={session}"))
        .send()
        .await
        .expect("an answer");
    (r.status().as_u16(), started.elapsed())
}

/// `connected_clients` of the redis-server on `port`.
async fn connected_clients(port: u16) -> usize {
    let info = redis_command(port, &["INFO", "clients"]).await;
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(usize::MAX)
}

/// While Redis is stalled (until `stalled_until`): the uncached session `cold` answers 503
/// within the timeout (alone and twenty at once), the cached `warm` one is still served.
async fn stalled(base: &str, cold: &str, warm: &reqwest::Client, stalled_until: Instant) {
    let (status, took) = app_with(base, cold).await;
    assert_eq!(
        status, 503,
        "an uncached session is refused while Redis stalls"
    );
    assert!(
        took < TIMEOUT + SLACK,
        "refused within the timeout: {took:?}"
    );
    let many = (0..20).map(|_| app_with(base, cold));
    for (status, took) in futures_util::future::join_all(many).await {
        assert_eq!(status, 503);
        assert!(
            took < TIMEOUT + SLACK,
            "each refused within the timeout: {took:?}"
        );
    }
    assert_eq!(
        user_at(warm, base).await.as_deref(),
        Some("alice"),
        "cached"
    );
    assert!(
        Instant::now() < stalled_until,
        "the checks ran while Redis stalled (a slow machine would make this test prove nothing)"
    );
}

#[tokio::test]
async fn a_stalled_redis_answers_503_in_time_keeps_cached_sessions_and_recovers() {
    let redis = Redis::start_with(&["--enable-debug-command", "local"]).await;
    let (gw, _ready) = instance_on(&format!(
        "url = \"{}\"\ntimeout_ms = {}\ncache_ms = 20000",
        redis.url(),
        TIMEOUT.as_millis()
    ))
    .await;
    let base = gw.base.clone();
    let (warm, _) = sign_in_via(&base, &alice_key()).await;
    assert_eq!(user_at(&warm, &base).await.as_deref(), Some("alice"));
    // Signed in but never used here: not in the instance's cache.
    let (_, cold) = sign_in_via(&base, &alice_key()).await;
    let baseline = connected_clients(redis.port).await;

    // CLIENT PAUSE: connections are accepted, commands wait.
    let paused = redis_command(redis.port, &["CLIENT", "PAUSE", "4000", "ALL"]).await;
    assert!(paused.starts_with("+OK"), "{paused}");
    stalled(&base, &cold, &warm, Instant::now() + Duration::from_secs(4)).await;
    let t = Instant::now();
    let recovered = eventually(Duration::from_secs(15), || async {
        app_with(&base, &cold).await.0 == 200
    })
    .await;
    assert!(recovered, "served again once Redis answers: {}", gw.log());
    println!("CLIENT PAUSE: recovered {:?} after the checks", t.elapsed());

    // DEBUG SLEEP: the whole server stops, accepting included.
    let port = redis.port;
    let sleep = tokio::spawn(async move { redis_command(port, &["DEBUG", "SLEEP", "3"]).await });
    let asleep = Instant::now() + Duration::from_secs(3);
    // Asleep once a PING goes unanswered (polled, not assumed).
    let stopped = eventually(Duration::from_secs(2), || async move {
        tokio::time::timeout(Duration::from_millis(50), ping(port))
            .await
            .is_err()
    })
    .await;
    assert!(stopped, "DEBUG SLEEP took hold");
    // `cold` is cached now; a token no one signed in with is looked up all the same.
    let other = qrgate_core::session::SessionToken::generate()
        .as_str()
        .to_string();
    stalled(&base, &other, &warm, asleep).await;
    assert!(sleep.await.expect("slept").starts_with("+OK"));
    let (fresh, _) = sign_in_via(&base, &alice_key()).await;
    assert_eq!(
        user_at(&fresh, &base).await.as_deref(),
        Some("alice"),
        "sign-in and lookups work after DEBUG SLEEP"
    );

    let after = connected_clients(redis.port).await;
    assert!(
        after <= baseline + 2,
        "connections to Redis did not pile up: {baseline} before, {after} after"
    );
    assert!(!gw.log().contains("panicked"), "{}", gw.log());
}

/// What the server written here answers every read with.
const GARBAGE: [&[u8]; 5] = [
    b"-ERR nothing you asked for\r\n",
    b":42\r\n",
    b"\x00\x01\x02 not RESP at all \xff\r\n",
    b"$99999999999\r\n",
    b"*3\r\n$3\r\nfoo\r\n",
];

/// A TCP server on `port` that answers every read with `GARBAGE[mode]`.
async fn garbage_server(port: u16, mode: Arc<AtomicU8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mode = mode.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let answer = GARBAGE[usize::from(mode.load(Ordering::SeqCst)) % GARBAGE.len()];
                    if s.write_all(answer).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
}

#[tokio::test]
async fn a_redis_answering_garbage_gets_503_never_a_panic_or_a_pass() {
    let port = free_port();
    let mode = Arc::new(AtomicU8::new(0));
    garbage_server(port, mode.clone()).await;
    let admin = free_port();
    let gw = Binary::start_with(
        "",
        Some(ORIGIN.to_string()),
        "",
        &store_config(
            admin,
            &format!(
                "url = \"redis://127.0.0.1:{port}/0\"\ntimeout_ms = {}",
                TIMEOUT.as_millis()
            ),
            "",
        ),
    )
    .await;
    let token = qrgate_core::session::SessionToken::generate()
        .as_str()
        .to_string();
    for (i, answer) in GARBAGE.iter().enumerate() {
        mode.store(u8::try_from(i).expect("small"), Ordering::SeqCst);
        let shown = String::from_utf8_lossy(answer);
        for _ in 0..3 {
            let (status, took) = app_with(&gw.base, &token).await;
            assert_eq!(
                status, 503,
                "a session looked up in a Redis answering {shown:?}"
            );
            assert!(took < TIMEOUT + SLACK, "{shown:?}: {took:?}");
        }
        let login = client()
            .get(format!("{}/.qrgate/login?rd=%2F", gw.base))
            .header("accept", "application/json")
            .send()
            .await
            .expect("login page");
        assert!(
            login.status().as_u16() == 503,
            "no login while Redis answers {shown:?}: {}",
            login.status()
        );
        let ready = client()
            .get(format!("http://127.0.0.1:{admin}/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(
            ready.status(),
            503,
            "not ready while Redis answers {shown:?}"
        );
        let health = client()
            .get(format!("{}/.qrgate/healthz", gw.base))
            .send()
            .await
            .expect("healthz");
        assert_eq!(health.status(), 200, "alive");
    }
    assert!(!gw.log().contains("panicked"), "{}", gw.log());
}
