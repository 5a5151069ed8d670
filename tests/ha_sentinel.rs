//! Redis Sentinel: two gateways find the primary through three real Sentinels, and when the
//! primary is killed they follow the promoted replica: the same session is served again,
//! logins work, and revocations still reach every instance over pub/sub.

use std::time::{Duration, Instant};

use crate::common::{alice_key, client, eventually};
use crate::ha_common::*;
use crate::redis_common::*;

/// Instance `ready`'s `qrgate_sessions` gauge (for Redis: the sessions it has cached).
pub(crate) async fn cached_sessions(ready: &str) -> u64 {
    let text = client()
        .get(ready.replace("/readyz", "/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("qrgate_sessions "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// How many times instance `gw` has subscribed to the announcements channel.
pub(crate) fn subscriptions(gw: &crate::operate::Binary) -> usize {
    gw.log()
        .matches("listening for other instances' announcements")
        .count()
}

#[tokio::test]
async fn a_failover_keeps_sessions_logins_and_revocations_working() {
    let mut set = Failover::start().await;
    // A asks Redis on every request, so what it serves comes from the primary of the
    // moment; B trusts its cache for ten minutes, so only pub/sub can end a session there.
    let (a, _ready_a) = instance_on(&set.store("cache_ms = 1")).await;
    let (b_gw, ready_b) = instance_on(&set.store("cache_ms = 600000")).await;
    let (a_base, b_base) = (a.base.clone(), b_gw.base.clone());

    let (browser, _token) = sign_in_via(&a_base, &alice_key()).await;
    assert_eq!(user_at(&browser, &a_base).await.as_deref(), Some("alice"));
    assert_eq!(user_at(&browser, &b_base).await.as_deref(), Some("alice"));
    let replicated = eventually(Duration::from_secs(10), || async {
        set.keys_on_replica("t:s:*").await >= 1
    })
    .await;
    assert!(replicated, "the session reached the replica");
    let before = subscriptions(&b_gw);

    let killed = Instant::now();
    set.kill_primary();
    assert!(
        set.await_promotion().await,
        "the sentinels promoted the replica"
    );
    let promoted = killed.elapsed();
    let served = eventually(FAILOVER, || {
        let (browser, base) = (browser.clone(), a_base.clone());
        async move { user_at(&browser, &base).await.as_deref() == Some("alice") }
    })
    .await;
    assert!(served, "A serves the same session again: {}", a.log());
    println!(
        "primary killed -> replica promoted after {promoted:?}; A serves the session again after {:?}",
        killed.elapsed()
    );
    assert!(
        a.log().contains("redis primary moved"),
        "A moved to the new primary: {}",
        a.log()
    );

    // B subscribes again, on the new primary.
    let resubscribed = eventually(FAILOVER, || async { subscriptions(&b_gw) > before }).await;
    assert!(resubscribed, "B listens on the new primary: {}", b_gw.log());

    // A login after the failover, through B.
    let (after, _) = sign_in_via(&b_base, &alice_key()).await;
    assert_eq!(user_at(&after, &b_base).await.as_deref(), Some("alice"));
    assert!(
        cached_sessions(&ready_b).await >= 1,
        "B has the session cached"
    );

    // Signed out through A: B, whose cache would trust the session for ten minutes, refuses
    // it as soon as the announcement arrives.
    let took = signed_out_everywhere(&after, &a_base, &b_base).await;
    let refused = took.is_some();
    assert!(refused, "B heard the revocation: {}", b_gw.log());
    println!(
        "revocation after failover seen on B after {:?}",
        took.unwrap_or_default()
    );
}

#[tokio::test]
async fn sentinels_and_nodes_over_tls_with_passwords_fail_over_too() {
    let mut set = Failover::start_with(Some(Tls::new())).await;
    let (gw, _ready) = instance_on(&set.store("cache_ms = 1")).await;
    let base = gw.base.clone();
    let (browser, _token) = sign_in_via(&base, &alice_key()).await;
    assert_eq!(user_at(&browser, &base).await.as_deref(), Some("alice"));
    let replicated = eventually(Duration::from_secs(10), || async {
        set.keys_on_replica("t:s:*").await >= 1
    })
    .await;
    assert!(replicated, "the session reached the replica over TLS");

    set.kill_primary();
    assert!(set.await_promotion().await, "promoted over TLS");
    let served = eventually(FAILOVER, || {
        let (browser, base) = (browser.clone(), base.clone());
        async move { user_at(&browser, &base).await.as_deref() == Some("alice") }
    })
    .await;
    assert!(
        served,
        "served again through the promoted replica: {}",
        gw.log()
    );
    let (after, _) = sign_in_via(&base, &alice_key()).await;
    assert_eq!(user_at(&after, &base).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn with_replicas_to_wait_a_confirmed_session_survives_and_an_unconfirmed_one_is_refused() {
    let mut set = Failover::start().await;
    let (gw, ready) =
        instance_on(&set.store("cache_ms = 1\nreplicas_to_wait = 1\nwait_timeout_ms = 1000")).await;
    let base = gw.base.clone();
    let (early, early_token) = sign_in_via(&base, &alice_key()).await;
    assert_eq!(user_at(&early, &base).await.as_deref(), Some("alice"));

    // A replica that acknowledges nothing: a sign-in is refused with a retry message, and a
    // revocation is not reported done.
    set.pause_replica(true);
    let b = crate::common::browser();
    let id = login_page(&b, &base).await;
    let (_, approved) = approve_via(&base, &id, &alice_key()).await;
    approved.expect("the approval itself needs no replica");
    let started = Instant::now();
    let refused = claim(&b, &base, &id).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body = refused.text().await.unwrap_or_default();
    assert!(body.contains("Try again"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused within timeout_ms + wait_timeout_ms: {:?}",
        started.elapsed()
    );
    let revoke = client()
        .post(ready.replace(
            "/readyz",
            &format!("/sessions/revoke?id={}", session_id_of(&early_token)),
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("revoke");
    assert_eq!(
        revoke.status(),
        503,
        "an unconfirmed revocation is not reported done"
    );

    // The replica back: a session confirmed by it survives the primary dying at once.
    set.pause_replica(false);
    assert!(
        set.await_replica_healthy().await,
        "the sentinels see the replica again"
    );
    let (late, _) = sign_in_via(&base, &alice_key()).await;
    set.kill_primary();
    assert!(
        set.await_promotion().await,
        "the sentinels promoted the replica"
    );
    let served = eventually(FAILOVER, || {
        let (late, base) = (late.clone(), base.clone());
        async move { user_at(&late, &base).await.as_deref() == Some("alice") }
    })
    .await;
    assert!(
        served,
        "the confirmed session survived the failover: {}",
        gw.log()
    );
}
