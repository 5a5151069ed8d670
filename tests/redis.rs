//! Several gateway processes sharing one real Redis (`redis-server` from Debian, started on
//! a loopback port of each test's own): logins that cross instances, revocation everywhere
//! within a second, single-use approvals across instances, and Redis going away and back.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{alice_key, browser, client, eventually, Sse, NAV};

use crate::redis_common::*;

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
    let req = qrgate::cli::signer::scan(&phone, &url)
        .await
        .expect("scan through B");
    assert_eq!(events.next().await.map(|e| e.0).as_deref(), Some("scanned"));
    let approved_at = Instant::now();
    qrgate::cli::signer::approve(&phone, &url, &alice_key(), &req)
        .await
        .expect("approve through B");
    let (event, data) = events.next().await.expect("event on A");
    let latency = approved_at.elapsed();
    assert_eq!(event, "approved", "{data}");
    assert!(data.contains("alice"), "{data}");
    println!("cross-instance approve -> event: {latency:?}");

    // The same approval, replayed through A, is refused: it was used once, everywhere.
    let replay = qrgate::cli::signer::approve(&phone_via(&a_base), &url, &alice_key(), &req).await;
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
    let took = signed_out_everywhere(&b, &b_base, &a_base).await;
    let refused = took.is_some();
    assert!(refused, "A refused the session");
    println!("revocation seen on A after {:?}", took.unwrap_or_default());

    // Eight approvals racing on both instances: exactly one wins.
    let b2 = browser();
    let id2 = login_page(&b2, &a_base).await;
    let url2 = attempt_url(&id2);
    let req2 = qrgate::cli::signer::scan(&phone, &url2)
        .await
        .expect("scan");
    let racers = (0..8).map(|i| {
        let phone = phone_via(if i % 2 == 0 { &a_base } else { &b_base });
        let (req2, url2) = (req2.clone(), url2.clone());
        tokio::spawn(async move {
            qrgate::cli::signer::approve(&phone, &url2, &alice_key(), &req2)
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
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    qrgate::cli::signer::approve(&phone, &url, &alice_key(), &req)
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
    let req2 = qrgate::cli::signer::scan(&phone_b, &url2)
        .await
        .expect("scan on B");
    qrgate::cli::signer::approve(&phone_b, &url2, &alice_key(), &req2)
        .await
        .expect("approve on B");
    assert_eq!(claim(&b2, &b_gw.base, &id2).await.status(), 200);
    assert_eq!(user_at(&b2, &b_gw.base).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn the_key_index_lists_exactly_a_persons_sessions_across_instances_revocation_and_expiry() {
    use qrgate::cli::signer::Key;
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
    // The record's idle end (read by the instance) and Redis's own expiry of the key are a
    // few milliseconds apart: a read between them lists nothing but leaves the member, which
    // the next read after Redis dropped the key prunes. So both are polled.
    let expired = eventually(Duration::from_secs(20), || {
        let (ready, redis) = (ready_b.clone(), &redis);
        async move {
            listed_at(&ready, "user=alice").await.is_empty() && {
                let (members, ttl) = index_in(redis, &alice_bytes).await;
                members.is_empty() && ttl == -2
            }
        }
    })
    .await;
    assert!(
        expired,
        "her idle session expired and the index is gone: {:?}",
        index_in(&redis, &alice_bytes).await
    );

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
