//! Devices across gateway processes sharing one real Redis: a device enrolled through one
//! instance signs in and is revoked through the other, confirmations by phone cross
//! instances, and a user or app removed on one instance is gone from every instance's devices.

use std::process::Command;
use std::time::Duration;

use qrgate_core::raw::KeyBytes;

use crate::common::{alice_key, browser, eventually};

use crate::redis_common::*;

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
    let phone_key = qrgate::cli::signer::Key::generate();
    let z = phone_key.public().to_z32();
    qrgate::cli::signer::enroll(&phone_via(&b_base), &link, &phone_key)
        .await
        .expect("enrolled through B");
    let again = qrgate::cli::signer::enroll(
        &phone_via(&a_base),
        &link,
        &qrgate::cli::signer::Key::generate(),
    )
    .await;
    assert!(
        matches!(
            again,
            Err(qrgate::cli::signer::SignerError::Refused { status: 410, .. })
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
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    qrgate::cli::signer::approve(&phone, &url, &phone_key, &req)
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
    let req2 = qrgate::cli::signer::scan(&phone, &url2)
        .await
        .expect("scan");
    let refused = qrgate::cli::signer::approve(&phone, &url2, &phone_key, &req2).await;
    assert!(
        matches!(
            refused,
            Err(qrgate::cli::signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
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
    let phone_key = qrgate::cli::signer::Key::generate();
    qrgate::cli::signer::enroll(&phone_via(&a_base), &link, &phone_key)
        .await
        .expect("enrolled");
    let z = phone_key.public().to_z32();
    let heard = eventually(PROPAGATION, || async {
        devices_at(&ready_b).await.contains(&z)
    })
    .await;
    assert!(heard, "B heard of the enrollment");
    let device = qrgate_core::devices::device_id(&KeyBytes::new(*phone_key.public().as_bytes()));
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
            Err(qrgate::cli::signer::SignerError::Refused { status: 403, .. })
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
    use qrgate_core::login::share::{
        AttemptRecord, AttemptShare, Outcome, SharedPhase, Transition,
    };
    let redis = Redis::start().await;
    let link = qrgate::redis::Link::new(&qrgate_core::config::RedisConfig {
        target: qrgate_core::config::RedisTarget::Url(redis.url()),
        prefix: "purpose:".into(),
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
        cache: Duration::ZERO,
        replicas: None,
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
        device: None,
        grant: None,
        issued_ms: 1_000,
        expires_ms: 100_000,
        materials: Vec::new(),
    };
    let approve = Transition::Approve {
        key: KeyBytes::new([7; 32]),
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
            matches!(&done, Outcome::Done(SharedPhase::Approved { key, .. }) if *key == KeyBytes::new([7; 32])),
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
    let phone_key = qrgate::cli::signer::Key::generate();
    let z = phone_key.public().to_z32();
    qrgate::cli::signer::enroll(&phone_via(&b_base), &link, &phone_key)
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
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    qrgate::cli::signer::approve(&phone, &url, &phone_key, &req)
        .await
        .expect("the enrolled key approves on A");
    assert_eq!(claim(&b, &a_base, &id).await.status(), 200);
    assert_eq!(user_at(&b, &b_base).await.as_deref(), Some("bob"));

    // A reloads a config without bob. B still configures him (its config is older), yet
    // the device, its session and the invitation are gone there too: they were removed
    // from Redis, and B heard it.
    a.write_config("", &instance_config(&redis, admin_port(&ready_a), "", ""));
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
    let dead = qrgate::cli::signer::enroll(
        &phone_via(&b_base),
        &pending,
        &qrgate::cli::signer::Key::generate(),
    )
    .await;
    assert!(
        matches!(
            dead,
            Err(qrgate::cli::signer::SignerError::Refused { status: 410, .. })
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
    let req2 = qrgate::cli::signer::scan(&phone_b, &url2)
        .await
        .expect("scan");
    let refused = qrgate::cli::signer::approve(&phone_b, &url2, &phone_key, &req2).await;
    assert!(
        matches!(
            refused,
            Err(qrgate::cli::signer::SignerError::Refused { status: 403, .. })
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
    let (a, ready_a, _b_gw, ready_b) = a_device_for_two_apps(&redis, other).await;

    // A reloads without app b: the binding goes in Redis, and B hears it.
    let narrowed =
        reload_and_await_apps(&a, &ready_a, &redis, "", &ready_b, serde_json::json!(["a"])).await;
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
    let (a, ready_a, _b_gw, ready_b) = a_device_for_two_apps(&redis, other).await;

    // A reloads with app b on another origin: the same name is another app, so the binding
    // goes in Redis, and B (still running the old config) hears it.
    let moved = other.replace("b.test", "c.test");
    let narrowed = reload_and_await_apps(
        &a,
        &ready_a,
        &redis,
        &moved,
        &ready_b,
        serde_json::json!(["a"]),
    )
    .await;
    assert!(narrowed, "B holds the narrowed device: {}", a.log());
    assert!(a.log().contains("device_unbound"));
}

#[tokio::test]
async fn operator_device_calls_read_and_write_redis_not_an_instance_copy() {
    let redis = Redis::start().await;
    let (_a, ready_a) = instance(&redis, "").await;
    let (_b, ready_b) = instance(&redis, "").await;
    // A device in Redis whose announcement no instance heard, as one enrolled while an
    // instance was not subscribed yet: no instance's own table holds it.
    let key = qrgate::cli::signer::Key::generate();
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
