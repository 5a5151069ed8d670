//! A gateway that dies (`kill -9` of the real binary): with Redis the other instance serves
//! every session, enrollment and revocation the dead one confirmed, and its clients see no
//! error; with the memory store a restart loses at most one state interval of sessions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::common::{alice_key, eventually, sign_in_at};
use crate::operate::{alice, Binary};
use crate::redis_common::*;

/// Requests through `base` with `b`'s session until `stop`: (answered 200, anything else).
fn load(
    b: reqwest::Client,
    base: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<(usize, usize)> {
    tokio::spawn(async move {
        let (ok, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
        while !stop.load(Ordering::SeqCst) {
            match user_at(&b, &base).await.as_deref() {
                Some("alice") => ok.fetch_add(1, Ordering::SeqCst),
                _ => failed.fetch_add(1, Ordering::SeqCst),
            };
        }
        (ok.into_inner(), failed.into_inner())
    })
}

#[tokio::test]
async fn kill_9_of_one_instance_loses_nothing_it_confirmed_and_the_other_serves_every_session() {
    let redis = Redis::start().await;
    let (mut a, ready_a) = instance(&redis, "").await;
    let (b_gw, ready_b) = instance(&redis, "").await;
    let (a_base, b_base) = (a.base.clone(), b_gw.base.clone());

    // Through A: three sign-ins, a device enrolled, one session signed out.
    let mut browsers = Vec::new();
    for _ in 0..3 {
        browsers.push(sign_in_via(&a_base, &alice_key()).await.0);
    }
    let link = admin(&ready_a, true, "/invites?user=alice&app=a").await["link"]
        .as_str()
        .expect("link")
        .to_string();
    let phone_key = qrgate::cli::signer::Key::generate();
    qrgate::cli::signer::enroll(&phone_via(&a_base), &link, &phone_key)
        .await
        .expect("enrolled through A");
    let out = browsers[2]
        .post(format!("{a_base}/.qrgate/logout"))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .send()
        .await
        .expect("logout");
    assert!(out.status().is_success(), "{}", out.status());

    // Load on both instances while A is killed.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on_a = load(browsers[0].clone(), a_base.clone(), stop.clone());
    let on_b = load(browsers[1].clone(), b_base.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Instant::now();
    a.child.0.kill().expect("kill -9");
    let _ = a.child.0.wait();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let ((a_ok, a_failed), (b_ok, b_failed)) = (
        on_a.await.expect("load on A"),
        on_b.await.expect("load on B"),
    );
    println!(
        "kill -9 of A under load: A {a_ok} ok / {a_failed} failed (after {:?}), B {b_ok} ok / {b_failed} failed",
        killed.elapsed()
    );
    assert_eq!(b_failed, 0, "B's clients saw no error");
    assert!(a_ok > 0 && b_ok > 0, "the load ran on both");

    // B serves every session A made, refuses the one signed out, knows the device.
    for (i, b) in browsers.iter().enumerate() {
        let expected = if i == 2 { None } else { Some("alice") };
        assert_eq!(
            user_at(b, &b_base).await.as_deref(),
            expected,
            "session {i}"
        );
    }
    let z = phone_key.public().to_z32();
    assert!(
        devices_at(&ready_b).await.contains(&z),
        "the device is known"
    );
    let (with_device, _) = sign_in_via(&b_base, &phone_key).await;
    assert_eq!(
        user_at(&with_device, &b_base).await.as_deref(),
        Some("alice")
    );

    // A comes back and serves them too, without a state file.
    a.child = a.spawn();
    await_ready(&a, &ready_a).await;
    assert_eq!(
        user_at(&browsers[0], &a_base).await.as_deref(),
        Some("alice")
    );
    assert_eq!(user_at(&browsers[2], &a_base).await, None);
}

#[tokio::test]
async fn with_the_memory_store_kill_9_loses_at_most_one_state_interval_of_sessions() {
    let mut gw = Binary::start(
        "state_file = \"state.json\"\nstate_interval_seconds = 1",
        &alice("\"staff\""),
    )
    .await;
    let path = gw.dir.path().join("state.json");
    let (b, token) = sign_in_at(&gw.base).await;
    let made = Instant::now();
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    let on_disk = eventually(Duration::from_secs(10), || {
        let seen = std::fs::read_to_string(&path).is_ok_and(|t| t.contains(&hash));
        async move { seen }
    })
    .await;
    assert!(on_disk, "the session reached the state file");
    let took = made.elapsed();
    println!("session on disk {took:?} after it was made (state_interval_seconds = 1)");
    assert!(
        took < Duration::from_secs(3),
        "within one interval and a margin: {took:?}"
    );

    gw.child.0.kill().expect("kill -9");
    let _ = gw.child.0.wait();
    gw.child = gw.spawn();
    gw.wait_up().await;
    let r = b
        .get(format!("{}/app", gw.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("answer");
    assert_eq!(
        r.status(),
        200,
        "the session outlived kill -9: {}",
        gw.log()
    );
}
