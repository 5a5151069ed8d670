use std::path::Path;

use ed25519_dalek::{Signer as _, SigningKey};

use super::*;
use crate::clock::Clock;
use crate::config::Config;
use crate::raw::KeyBytes;

const APP: AppId = AppId::new(0);

fn gateway() -> Gateway {
    let text = "[[app]]\nname = \"Wiki\"\norigin = \"https://wiki.example.com\"\nupstream = \"127.0.0.1:9\"\n[[user]]\nname = \"alice\"\n";
    Gateway::new(
        Config::parse(text, Path::new("t.toml")).expect("config"),
        Clock::manual(),
    )
    .expect("gateway")
}

fn token_of(link: &str) -> &str {
    link.rsplit('/').next().unwrap_or_default()
}

fn body(key: &SigningKey, user: &str, token: &str) -> Vec<u8> {
    let public = PublicKey::from_bytes(key.verifying_key().as_bytes()).expect("key");
    let text = message("https://wiki.example.com", user, token, &public);
    let sig = key.sign(text.as_bytes());
    serde_json::json!({"public_key": public.to_hex(), "signature": hex::encode(sig.to_bytes())})
        .to_string()
        .into_bytes()
}

#[test]
fn logged_paths_never_carry_an_invitation_token() {
    assert_eq!(
        loggable_path("/.qrgate/enroll/secret-token"),
        "/.qrgate/enroll/…"
    );
    assert_eq!(loggable_path("/.qrgate/login"), "/.qrgate/login");
    assert!(!loggable_path("/x/enroll/abc/def").contains("abc"));
}

#[test]
fn the_message_names_origin_user_invitation_and_key_one_per_line() {
    let key = PublicKey::from_bytes(&[
        0x17, 0x95, 0x6b, 0xe6, 0xb8, 0xd4, 0xaf, 0x08, 0x41, 0xd0, 0x5e, 0xe4, 0x09, 0x9a, 0x2f,
        0x6f, 0x19, 0xa1, 0x1a, 0x73, 0x3b, 0x05, 0x9f, 0x13, 0x99, 0x8b, 0x6e, 0xff, 0x4b, 0x2d,
        0x56, 0x60,
    ])
    .expect("key");
    assert_eq!(
        message("https://wiki.example.com", "alice", "tok", &key),
        format!(
            "qrgate-enroll-v1\norigin: https://wiki.example.com\nuser: alice\ninvitation: tok\npublic-key: {}\n",
            "17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660"
        )
    );
}

#[tokio::test]
async fn an_invitation_enrolls_one_key_once_and_the_key_then_signs_in_as_its_user() {
    let gw = gateway();
    let s = gw.settings();
    let invited = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator")
        .await
        .expect("invite");
    assert!(invited
        .link
        .starts_with("https://wiki.example.com/.qrgate/enroll/"));
    let token = token_of(&invited.link);
    let phone = SigningKey::from_bytes(&[5; 32]);
    let device = enroll(
        &gw,
        &s,
        APP,
        token,
        &body(&phone, "alice", token),
        None,
        "Chrome on Android".into(),
    )
    .await
    .expect("enrolled");
    assert_eq!(device.user, "alice");
    let id = gw
        .identity(&s, APP, &KeyBytes::new(phone.verifying_key().to_bytes()))
        .expect("identity");
    assert_eq!(id.user, "alice");
    // Used: a second key cannot enroll through the same link.
    let other = SigningKey::from_bytes(&[6; 32]);
    assert_eq!(
        enroll(
            &gw,
            &s,
            APP,
            token,
            &body(&other, "alice", token),
            None,
            String::new()
        )
        .await
        .err(),
        Some(EnrollError::Gone)
    );
}

#[tokio::test]
async fn a_refused_enrollment_changes_nothing_and_leaves_the_invitation_usable() {
    let gw = gateway();
    let s = gw.settings();
    let invited = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator")
        .await
        .expect("invite");
    let token = token_of(&invited.link);
    let phone = SigningKey::from_bytes(&[5; 32]);
    // Signed for another user, for another invitation, not JSON, not a key.
    let refusals = [
        (body(&phone, "bob", token), "bad_signature"),
        (body(&phone, "alice", "other"), "bad_signature"),
        (b"{".to_vec(), "bad_json"),
        (
            br#"{"public_key":"nope","signature":"AA"}"#.to_vec(),
            "bad_key",
        ),
    ];
    for (b, code) in refusals {
        let e = enroll(&gw, &s, APP, token, &b, None, String::new())
            .await
            .expect_err("refused");
        assert_eq!(e.code(), code);
        assert!(gw.devices().is_empty());
    }
    assert!(enroll(
        &gw,
        &s,
        APP,
        token,
        &body(&phone, "alice", token),
        None,
        String::new()
    )
    .await
    .is_ok());
}

#[tokio::test]
async fn invitations_are_for_configured_users_with_bounded_lifetimes_and_lapse() {
    let gw = gateway();
    let s = gw.settings();
    assert_eq!(
        invite(&gw, &s, APP, "mallory", DEFAULT_TTL, "operator")
            .await
            .err(),
        Some(EnrollError::UnknownUser("mallory".into()))
    );
    for ttl in [Duration::from_secs(59), MAX_TTL + Duration::from_secs(1)] {
        assert_eq!(
            invite(&gw, &s, APP, "alice", ttl, "operator").await.err(),
            Some(EnrollError::BadTtl)
        );
    }
    let invited = invite(&gw, &s, APP, "alice", MIN_TTL, "operator")
        .await
        .expect("invite");
    gw.clock().advance(MIN_TTL);
    let token = token_of(&invited.link);
    let phone = SigningKey::from_bytes(&[5; 32]);
    assert_eq!(
        enroll(
            &gw,
            &s,
            APP,
            token,
            &body(&phone, "alice", token),
            None,
            String::new()
        )
        .await
        .err(),
        Some(EnrollError::Gone)
    );
    assert_eq!(gw.device_store().sweep(gw.clock().now_millis()), 1);
}

#[tokio::test]
async fn a_device_records_its_apps_origins_even_from_an_invitation_that_has_none() {
    let gw = gateway();
    let s = gw.settings();
    let invited = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator")
        .await
        .expect("invite");
    let token = token_of(&invited.link);
    let phone = SigningKey::from_bytes(&[5; 32]);
    let device = enroll(
        &gw,
        &s,
        APP,
        token,
        &body(&phone, "alice", token),
        None,
        "x".into(),
    )
    .await
    .expect("enrolled");
    assert_eq!(device.origins, vec!["https://wiki.example.com".to_string()]);
    // An invitation written before origins were kept.
    let legacy: Invitation = serde_json::from_str(&format!(
        "{{\"user\":\"alice\",\"app\":\"Wiki\",\"expires_ms\":{},\"by\":\"operator\"}}",
        gw.clock().now_millis() + 60_000
    ))
    .expect("old form");
    assert!(legacy.origins.is_empty());
    let generated = SessionToken::generate();
    let token = generated.as_str();
    gw.device_store()
        .invite(&generated.hash(), &legacy)
        .await
        .expect("invite");
    let phone = SigningKey::from_bytes(&[7; 32]);
    let device = enroll(
        &gw,
        &s,
        APP,
        token,
        &body(&phone, "alice", token),
        None,
        "x".into(),
    )
    .await
    .expect("enrolled");
    assert_eq!(device.origins, vec!["https://wiki.example.com".to_string()]);
}

#[tokio::test]
async fn no_invitation_is_made_for_a_name_a_reload_retired_until_the_review() {
    let gw = gateway();
    let s = gw.settings();
    let retired = crate::devices::Retired {
        users: ["alice".to_string()].into(),
        ..Default::default()
    };
    gw.devices().retire(retired.clone());
    let refused = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator").await;
    assert_eq!(
        refused.err(),
        Some(EnrollError::UnderReview("alice".into()))
    );
    gw.devices().release(&retired);
    let wiki = crate::devices::Retired {
        apps: ["Wiki".to_string()].into(),
        ..Default::default()
    };
    gw.devices().retire(wiki.clone());
    let refused = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator").await;
    assert_eq!(refused.err(), Some(EnrollError::UnderReview("Wiki".into())));
    gw.devices().release(&wiki);
    assert!(invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator")
        .await
        .is_ok());
    let reply = crate::web::respond::enroll_error(
        crate::http::reply::Form::Json(crate::i18n::Lang::En),
        &EnrollError::UnderReview("alice".into()),
    );
    assert_eq!(reply.status, 503);
}

/// A ledger whose disk is full until `fail` is cleared.
struct Ledger(std::sync::atomic::AtomicBool);

#[async_trait::async_trait]
impl crate::devices::DeviceLedger for Ledger {
    async fn keep(&self, _: &[Arc<Device>]) -> Result<(), StoreError> {
        if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Unavailable("disk full".into()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_enrollment_the_ledger_cannot_keep_records_nothing_and_keeps_the_invitation() {
    let gw = gateway();
    let s = gw.settings();
    let ledger = Arc::new(Ledger(std::sync::atomic::AtomicBool::new(true)));
    gw.devices().keep_in(ledger.clone());
    let invited = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator")
        .await
        .expect("invite");
    let token = token_of(&invited.link);
    let phone = SigningKey::from_bytes(&[5; 32]);
    let proof = body(&phone, "alice", token);
    let attempt = || enroll(&gw, &s, APP, token, &proof, None, String::new());
    let failed = attempt().await.err();
    assert!(matches!(failed, Some(EnrollError::Store(_))), "{failed:?}");
    assert_eq!(failed.map(|e| e.code()), Some("store_unavailable"));
    assert!(gw.devices().is_empty());
    assert!(gw
        .identity(&s, APP, &KeyBytes::new(phone.verifying_key().to_bytes()))
        .is_err());
    assert!(
        invitation(&gw, &s, APP, token).await.is_ok(),
        "still usable"
    );
    ledger.0.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(attempt().await.is_ok());
    assert!(invitation(&gw, &s, APP, token).await.is_err(), "used now");
}
