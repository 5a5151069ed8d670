//! What ending a session does: the person's own sessions page (every key and every session
//! of their user, sign out one, all others, or everywhere, remove a device with another
//! key's approval; forms only from the app's own origin). What a session lets through
//! (websockets, step-up, grants): `sessions_access.rs`.

use std::time::Duration;

use qrgate_core::raw::KeyBytes;
use serde_json::Value;

use crate::common::{
    alice_key, approve_attempt, browser, client, invite_own, own_action, sign_in_at, sign_in_key,
    Setup, TestGateway, NAV,
};
use qrgate::cli::signer::{self, Key};

/// Whether `b` still gets through to the app.
async fn signed_in(b: &reqwest::Client, gw: &TestGateway) -> bool {
    b.get(gw.url("/app"))
        .header("accept", "application/json")
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

async fn sign_out(b: &reqwest::Client, gw: &TestGateway, form: &str, origin: Option<&str>) -> u16 {
    let mut req = b
        .post(gw.url("/.qrgate/sessions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", NAV)
        .body(form.to_string());
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.expect("answer").status().as_u16()
}

fn id_of(token: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(token.as_bytes())[..12])
}

#[tokio::test]
async fn a_person_sees_every_session_of_their_key_and_signs_out_any_of_them() {
    let gw = TestGateway::start().await;
    let base = gw.url("");
    let origin = base.trim_end_matches('/').to_string();
    let (b1, t1) = sign_in_at(&base).await;
    let (b2, t2) = sign_in_at(&base).await;
    let (b3, _) = sign_in_at(&base).await;

    // Without a session the page sends the browser to log in, and back here afterwards.
    let r = crate::common::browser()
        .get(gw.url("/.qrgate/sessions"))
        .header("accept", NAV)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        "/.qrgate/login?rd=%2F.qrgate%2Fsessions"
    );

    let page = b1
        .get(gw.url("/.qrgate/sessions"))
        .header("accept", NAV)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(
        csp.contains("form-action 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("Signed in as alice"), "{html}");
    assert_eq!(html.matches("<li>").count(), 3, "{html}");
    assert_eq!(html.matches("this browser").count(), 1);
    assert!(
        !html.contains(&t1) && !html.contains(&t2),
        "no token on the page"
    );
    assert!(
        html.contains(&id_of(&t2)),
        "other sessions can be signed out by id"
    );

    // Forms from elsewhere change nothing.
    assert_eq!(
        sign_out(&b1, &gw, &format!("id={}", id_of(&t2)), None).await,
        403
    );
    assert_eq!(
        sign_out(
            &b1,
            &gw,
            &format!("id={}", id_of(&t2)),
            Some("https://evil.example")
        )
        .await,
        403
    );
    assert_eq!(sign_out(&b1, &gw, "scope=mine", Some(&origin)).await, 400);
    assert!(signed_in(&b2, &gw).await);

    // One session by id.
    assert_eq!(
        sign_out(&b1, &gw, &format!("id={}", id_of(&t2)), Some(&origin)).await,
        303
    );
    assert!(!signed_in(&b2, &gw).await, "b2 signed out");
    assert!(signed_in(&b1, &gw).await && signed_in(&b3, &gw).await);

    // All others.
    assert_eq!(sign_out(&b1, &gw, "scope=others", Some(&origin)).await, 303);
    assert!(!signed_in(&b3, &gw).await, "b3 signed out");
    assert!(signed_in(&b1, &gw).await, "this one stays");

    // Everywhere, this one included.
    assert_eq!(sign_out(&b1, &gw, "scope=all", Some(&origin)).await, 303);
    assert!(!signed_in(&b1, &gw).await);
}

/// Alice with a second key: a phone enrolled through her own invitation (approved by her
/// configured key). Returns the phone's key and its device id.
async fn alice_with_a_phone(gw: &TestGateway) -> (Key, String) {
    let base = gw.url("");
    let (b, _) = sign_in_at(&base).await;
    let link = invite_own(&b, &base, &alice_key()).await;
    let phone = Key::generate();
    signer::enroll(&client(), &link, &phone)
        .await
        .expect("enrolled");
    let device = qrgate_core::devices::device_id(&KeyBytes::new(*phone.public().as_bytes()));
    (phone, device)
}

async fn page_of(b: &reqwest::Client, gw: &TestGateway) -> String {
    let page = b
        .get(gw.url("/.qrgate/sessions"))
        .header("accept", NAV)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    page.text().await.expect("html")
}

#[tokio::test]
async fn a_person_sees_every_key_and_session_of_their_user_and_signs_out_all_of_them() {
    let gw = TestGateway::with(Setup {
        tail: format!(
            "[[user]]\nname = \"bob\"\nkey = \"{}\"\n",
            bob().public().to_z32()
        ),
        ..Setup::default()
    })
    .await;
    let base = gw.url("");
    let origin = base.trim_end_matches('/').to_string();
    let (phone, device) = alice_with_a_phone(&gw).await;
    let (by_key, t1) = sign_in_at(&base).await;
    let (by_phone, t2) = sign_in_key(&base, browser(), client(), &phone).await;
    let (bobs, t3) = sign_in_key(&base, browser(), client(), &bob()).await;

    // From the configured key's session: both keys, and the phone's session too.
    let html = page_of(&by_key, &gw).await;
    assert_eq!(html.matches("<li class=\"key\">").count(), 2, "{html}");
    assert!(html.contains("Key from the gateway"), "{html}");
    assert!(html.contains(&device), "the phone is listed by its id");
    assert!(html.contains("Test app"), "with the app it was enrolled on");
    assert!(html.contains(&id_of(&t2)), "the phone's session: {html}");
    assert!(
        !html.contains(&id_of(&t1)),
        "this one is marked, not offered by id"
    );
    assert!(!html.contains(&id_of(&t3)), "nobody else's sessions");
    assert!(!html.contains(&t1) && !html.contains(&t2), "no token");
    assert!(html.contains("name=\"device\""), "the phone can be removed");
    // The phone's session, signed out by id from the other key's page.
    assert_eq!(
        sign_out(&by_key, &gw, &format!("id={}", id_of(&t2)), Some(&origin)).await,
        303
    );
    assert!(!signed_in(&by_phone, &gw).await);
    // Bob's session is not alice's to sign out.
    assert_eq!(
        sign_out(&by_key, &gw, &format!("id={}", id_of(&t3)), Some(&origin)).await,
        303
    );
    assert!(
        signed_in(&bobs, &gw).await,
        "another person's session is untouched"
    );

    // Everywhere: every session of every key of alice's, and nobody else's.
    let (by_phone, _) = sign_in_key(&base, browser(), client(), &phone).await;
    let (other_key, _) = sign_in_at(&base).await;
    assert_eq!(
        sign_out(&by_key, &gw, "scope=all", Some(&origin)).await,
        303
    );
    for b in [&by_key, &by_phone, &other_key] {
        assert!(!signed_in(b, &gw).await, "signed out everywhere");
    }
    assert!(signed_in(&bobs, &gw).await, "bob stays signed in");
}

#[tokio::test]
async fn removing_a_device_needs_another_of_ones_keys_and_ends_its_sessions() {
    let gw = TestGateway::with(Setup {
        tail: format!(
            "[[user]]\nname = \"bob\"\nkey = \"{}\"\n[[user]]\nname = \"carol\"\n",
            bob().public().to_z32()
        ),
        ..Setup::default()
    })
    .await;
    let base = gw.url("");
    let (phone, device) = alice_with_a_phone(&gw).await;
    let (by_key, _) = sign_in_at(&base).await;
    let (by_phone, _) = sign_in_key(&base, browser(), client(), &phone).await;
    let form = format!("device={device}");

    // A device that is not one of hers, and bad forms: refused, nothing started.
    let (status, body) = own_action(&by_key, &base, "remove-device", "device=00").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_device"))
    );
    let (status, _) = own_action(&by_key, &base, "remove-device", "").await;
    assert_eq!(status, 400);
    let (status, _) = own_action(&by_key, &base, "remove-device", &format!("{form}&x=1")).await;
    assert_eq!(status, 400);

    let (status, started) = own_action(&by_key, &base, "remove-device", &form).await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().expect("id").to_string();
    assert_eq!(started["confirm"]["form"]["device"], device.as_str());
    // The device itself cannot approve its own removal, nor can another person's key.
    let (seen, refused) = approve_attempt(&base, &id, &phone).await;
    assert_eq!(
        seen.action.as_deref(),
        Some(format!("remove device {device} of alice").as_str())
    );
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    let (_, refused) = approve_attempt(&base, &id, &bob()).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    assert!(signed_in(&by_phone, &gw).await, "nothing removed yet");
    // Approved by her other key: collected as the removal only (not as an invitation).
    let (_, approved) = approve_attempt(&base, &id, &alice_key()).await;
    approved.expect("her configured key approves");
    let (status, body) = own_action(&by_key, &base, "invite", &format!("confirm={id}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("other_purpose"))
    );
    let (status, done) = own_action(
        &by_key,
        &base,
        "remove-device",
        &format!("{form}&confirm={id}"),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["removed"], 1);
    assert_eq!(done["sessions_ended"], 1);
    assert!(!signed_in(&by_phone, &gw).await, "its session ended");
    assert!(signed_in(&by_key, &gw).await, "the other key's stays");
    assert!(gw.state.devices().is_empty());
    let refused = {
        let (id, _, _) = crate::common::open_login_at(&base, &browser(), "/").await;
        approve_attempt(&base, &id, &phone).await.1
    };
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "the removed phone no longer signs in: {refused:?}"
    );

    // With a single key there is nobody to confirm a removal: refused up front.
    let invited = gw.invite("carol").await;
    let only = Key::generate();
    signer::enroll(&client(), &invited.link, &only)
        .await
        .expect("enrolled");
    let (carol, _) = sign_in_key(&base, browser(), client(), &only).await;
    let theirs = format!(
        "device={}",
        qrgate_core::devices::device_id(&KeyBytes::new(*only.public().as_bytes()))
    );
    let (status, body): (u16, Value) = own_action(&carol, &base, "remove-device", &theirs).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("no_other_key"))
    );
    assert!(!page_of(&carol, &gw).await.contains("name=\"device\""));
}

/// Bob's key (a second configured user).
fn bob() -> Key {
    Key::parse(&"b0".repeat(32)).expect("key")
}

/// The page and its sign-outs reach exactly the person's sessions while the store holds many
/// others (some expiring and swept meanwhile): they are read through the store's per-key
/// index, and what the index returns is what the person has.
#[tokio::test]
async fn the_page_and_its_sign_outs_reach_exactly_the_persons_sessions_among_many_others() {
    use qrgate_core::config::AppId;
    let gw = TestGateway::start().await;
    let base = gw.url("");
    let origin = base.trim_end_matches('/').to_string();
    let app = gw.state.settings().app(AppId::new(0)).key.clone();
    let other = |i: u32| {
        let mut k = [0x5au8; 32];
        k[..4].copy_from_slice(&i.to_le_bytes());
        k
    };
    // 2,000 sessions of 200 other keys; half of them will idle out.
    for i in 0..2000u32 {
        if i == 1000 {
            gw.clock.advance(Duration::from_secs(40));
        }
        gw.state
            .sessions()
            .create(
                app.clone(),
                KeyBytes::new(other(i % 200)),
                Default::default(),
            )
            .await
            .expect("memory store");
    }
    let (b1, _) = sign_in_at(&base).await;
    let (b2, t2) = sign_in_at(&base).await;
    // The first thousand are now past the 60 s idle window; the sweeper frees them.
    gw.clock.advance(Duration::from_secs(30));
    let swept = crate::common::eventually(Duration::from_secs(10), || async {
        gw.state.sessions().len() == 1002
    })
    .await;
    assert!(swept, "{} sessions left", gw.state.sessions().len());

    let html = b1
        .get(gw.url("/.qrgate/sessions"))
        .header("accept", NAV)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert_eq!(html.matches("<li>").count(), 2, "{html}");
    assert_eq!(html.matches("this browser").count(), 1, "{html}");
    assert!(
        html.contains(&id_of(&t2)),
        "the other one, to sign out: {html}"
    );

    assert_eq!(sign_out(&b1, &gw, "scope=others", Some(&origin)).await, 303);
    assert!(!signed_in(&b2, &gw).await && signed_in(&b1, &gw).await);
    assert_eq!(sign_out(&b1, &gw, "scope=all", Some(&origin)).await, 303);
    assert!(!signed_in(&b1, &gw).await);
    let left = gw.state.sessions().export().await.expect("export");
    assert_eq!(left.len(), 1000, "every other live session is untouched");
    assert!(
        left.iter()
            .all(|(_, r)| r.key.as_bytes()[4..].iter().all(|&b| b == 0x5a)),
        "and only they are left"
    );
}
