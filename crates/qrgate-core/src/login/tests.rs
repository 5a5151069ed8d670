use std::path::Path;

use super::*;
use crate::clock::Clock;
use crate::config::{Config, SameNetwork};
use crate::login::confirm::Action;
use crate::login::signers::{native, pubky, tana};
use crate::raw::TokenHash;

fn gateway(signers: &str) -> Gateway {
    let text = format!("[[app]]\nname = \"Intranet wiki\"\norigin = \"https://intranet.example.com\"\nupstream = \"127.0.0.1:9\"\nsigners = {signers}\n");
    let config = Config::parse(&text, Path::new("t.toml")).expect("config");
    Gateway::new(config, Clock::manual()).expect("gateway")
}

async fn started(gw: &Gateway) -> Arc<Attempt> {
    let mut h = HeaderMap::new();
    h.insert(
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
            .parse()
            .expect("ua"),
    );
    start(
        gw,
        &gw.settings(),
        AppId::new(0),
        &h,
        "203.0.113.7".parse().ok(),
        "/".into(),
        Purpose::SignIn,
    )
    .await
    .expect("started")
    .attempt
}

/// Every protocol's QR must stay at version ≤ 10 (error correction M) for a realistic
/// origin, so phones scan it at a glance.
#[tokio::test]
async fn every_payload_fits_a_version_10_code() {
    let gw = gateway("[\"native\", \"pubky\", \"tana\"]");
    let attempt = started(&gw).await;
    let payloads = payloads(&gw, &gw.settings(), &attempt);
    assert_eq!(payloads.len(), 3);
    for (id, p) in payloads {
        let code = qr::render(&p.payload, "QR").expect("fits");
        assert!(
            code.version <= 10,
            "{}: version {} for {} bytes: {}",
            id.name(),
            code.version,
            p.payload.len(),
            p.payload
        );
    }
}

#[tokio::test]
async fn only_offered_protocols_get_material_payloads_and_scan_fields() {
    let gw = gateway("[\"tana\"]");
    let attempt = started(&gw).await;
    assert!(attempt.material(tana::ID).is_some());
    assert!(attempt.material(native::ID).is_none() && attempt.material(pubky::ID).is_none());
    let ids: Vec<_> = payloads(&gw, &gw.settings(), &attempt)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, [tana::ID]);
    let names: Vec<_> = scan(&gw, &gw.settings(), &attempt)
        .await
        .expect("scan")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(names, ["success", "sessionId", "challenge", "appName"]);
    // A native body is recognized, but this app does not offer native.
    let body = serde_json::json!({"public_key": "x", "signature": "y"}).to_string();
    assert_eq!(
        approve(&gw, &gw.settings(), &attempt, None, body.as_bytes())
            .await
            .err(),
        Some(LoginError::NotOffered("qrgate signer"))
    );
    assert_eq!(
        approve(&gw, &gw.settings(), &attempt, None, b"{\"neither\": 1}")
            .await
            .err(),
        Some(LoginError::UnknownBody)
    );
    assert!(matches!(
        approve(&gw, &gw.settings(), &attempt, None, b"{").await,
        Err(LoginError::BadJson(_))
    ));
    assert_eq!(
        deliver(
            &gw,
            &gw.settings(),
            AppId::new(0),
            None,
            "pubky/relay",
            "nochannel",
            b"x"
        )
        .await
        .err(),
        Some(LoginError::UnknownChannel)
    );
    assert_eq!(
        deliver(
            &gw,
            &gw.settings(),
            AppId::new(0),
            None,
            "pubky/relay",
            "c",
            &[0u8; 3000]
        )
        .await
        .err(),
        Some(LoginError::BodyTooLarge(2048))
    );
}

#[tokio::test]
async fn scan_answer_keeps_the_documented_field_order() {
    let gw = gateway("[\"native\", \"pubky\", \"tana\"]");
    let attempt = started(&gw).await;
    let names: Vec<_> = scan(&gw, &gw.settings(), &attempt)
        .await
        .expect("scan")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        names,
        [
            "protocol",
            "attempt",
            "app",
            "origin",
            "requester_ip",
            "requester_agent",
            "issued_at",
            "expires_at",
            "message",
            "success",
            "sessionId",
            "challenge",
            "appName"
        ]
    );
}

async fn begin(gw: &Gateway, purpose: Purpose) -> Result<Started, LoginError> {
    let s = gw.settings();
    start(
        gw,
        &s,
        AppId::new(0),
        &HeaderMap::new(),
        None,
        "/".into(),
        purpose,
    )
    .await
}

#[test]
fn only_an_app_offering_a_protocol_that_shows_actions_confirms_them() {
    for (signers, confirms) in [
        ("[\"native\"]", true),
        ("[\"native\", \"pubky\", \"tana\"]", true),
        ("[\"pubky\", \"tana\"]", false),
        ("[\"tana\"]", false),
    ] {
        let gw = gateway(signers);
        assert_eq!(
            confirms_actions(&gw, &gw.settings(), AppId::new(0)),
            confirms,
            "{signers}"
        );
    }
}

#[tokio::test]
async fn an_action_is_offered_only_through_protocols_that_show_it() {
    let action = || {
        Purpose::Action(crate::login::confirm::Confirm::new(
            TokenHash::new([1; 32]),
            Action::AddDevice {
                user: "alice".into(),
            },
        ))
    };
    let all = gateway("[\"native\", \"pubky\", \"tana\"]");
    let attempt = begin(&all, action()).await.expect("started").attempt;
    assert!(attempt.material(native::ID).is_some());
    assert!(attempt.material(pubky::ID).is_none() && attempt.material(tana::ID).is_none());
    let ids: Vec<_> = payloads(&all, &all.settings(), &attempt)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, [native::ID]);
    // An app without such a protocol cannot confirm actions (it still signs in).
    let none = gateway("[\"pubky\", \"tana\"]");
    assert_eq!(
        begin(&none, action()).await.err().map(|e| e.code()),
        Some("protocol_not_offered")
    );
    assert!(begin(&none, Purpose::SignIn).await.is_ok());
}

#[tokio::test]
async fn a_programs_device_code_is_offered_through_every_protocol_that_shows_it() {
    let device = || {
        Purpose::Device(crate::login::attempts::DeviceConsent::new(
            [7; 32],
            crate::login::signers::program::tests::wiki_read(),
        ))
    };
    let all = gateway("[\"native\", \"pubky\", \"tana\"]");
    let attempt = begin(&all, device()).await.expect("started").attempt;
    let ids: Vec<_> = payloads(&all, &all.settings(), &attempt)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    // Not tana-mobile: its signature does not cover what it shows.
    assert_eq!(ids, [native::ID, pubky::ID]);
    let facts = attempt.facts();
    assert_eq!(
        facts.action,
        Some("qrgate CLI at 192.0.2.7 wants read access to Wiki for 30 days, code BCDF-GHJK")
    );
    assert_eq!(facts.program.map(|p| p.code.as_str()), Some("BCDFGHJK"));
    // Ring alone carries it too; a sign-in is not what it is asked. Tana alone cannot.
    let ring = gateway("[\"pubky\"]");
    let attempt = begin(&ring, device()).await.expect("started").attempt;
    assert!(attempt.material(pubky::ID).is_some());
    assert!(begin(&gateway("[\"tana\"]"), device()).await.is_err());
}

#[test]
fn same_network_policies() {
    let ip = |s: &str| s.parse::<IpAddr>().ok();
    let cases = [
        (SameNetwork::Off, None, None, true),
        (SameNetwork::Off, ip("192.0.2.1"), ip("198.51.100.1"), true),
        (SameNetwork::SameIp, ip("192.0.2.1"), ip("192.0.2.1"), true),
        (
            SameNetwork::SameIp,
            ip("192.0.2.1"),
            ip("::ffff:192.0.2.1"),
            true,
        ),
        (SameNetwork::SameIp, ip("192.0.2.1"), ip("192.0.2.2"), false),
        (SameNetwork::SameIp, ip("192.0.2.1"), None, false),
        (SameNetwork::SameIp, None, None, false),
        (
            SameNetwork::Prefix(24),
            ip("192.0.2.1"),
            ip("192.0.2.254"),
            true,
        ),
        (
            SameNetwork::Prefix(24),
            ip("192.0.2.1"),
            ip("192.0.3.1"),
            false,
        ),
        (
            SameNetwork::Prefix(16),
            ip("192.0.2.1"),
            ip("192.0.3.1"),
            true,
        ),
        (
            SameNetwork::Prefix(32),
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            false,
        ),
        (
            SameNetwork::Prefix(1),
            ip("10.0.0.1"),
            ip("127.0.0.1"),
            true,
        ),
        (
            SameNetwork::Prefix(24),
            ip("2001:db8::1"),
            ip("2001:db8::ffff"),
            true,
        ),
        (
            SameNetwork::Prefix(24),
            ip("2001:db8::1"),
            ip("2001:db8:0:1::1"),
            false,
        ),
        (
            SameNetwork::Prefix(24),
            ip("2001:db8::1"),
            ip("192.0.2.1"),
            false,
        ),
    ];
    for (policy, requester, approver, want) in cases {
        assert_eq!(
            same_network(policy, requester, approver),
            want,
            "{policy:?} {requester:?} {approver:?}"
        );
    }
}

#[tokio::test]
async fn approvals_from_another_network_are_refused_before_verification() {
    let text = "[login]\nsame_network = 24\n[[app]]\nname = \"w\"\norigin = \"https://w.example\"\nupstream = \"127.0.0.1:9\"\nopen_enrollment = true\n";
    let gw = Gateway::new(
        Config::parse(text, Path::new("t.toml")).expect("config"),
        Clock::manual(),
    )
    .expect("gateway");
    let attempt = start(
        &gw,
        &gw.settings(),
        AppId::new(0),
        &HeaderMap::new(),
        "192.0.2.10".parse().ok(),
        "/".into(),
        Purpose::SignIn,
    )
    .await
    .expect("started")
    .attempt;
    let body = b"{\"public_key\": \"x\", \"signature\": \"y\"}";
    assert_eq!(
        approve(
            &gw,
            &gw.settings(),
            &attempt,
            "198.51.100.7".parse().ok(),
            body
        )
        .await
        .err(),
        Some(LoginError::OtherNetwork)
    );
    // From the same /24 the request reaches the protocol (which refuses the bad key).
    assert!(matches!(
        approve(
            &gw,
            &gw.settings(),
            &attempt,
            "192.0.2.99".parse().ok(),
            body
        )
        .await,
        Err(LoginError::Refused(_))
    ));
}
