//! Users leaving the config, through the real gateway: their devices, sessions and
//! invitations go with them, and a name removed and added again is someone new.

use serde_json::Value;

use crate::common::{browser, client, sign_in_key, TestGateway};
use crate::operate::{alice, Binary};
use qrgate::cli::signer::{self, Key};

use crate::devices::upstream_identity;
use crate::devices_apps::approve_with;

/// Configured users alice, and each of `others` with role staff, and an admin listener on
/// `admin`.
pub(crate) fn users(admin: u16, others: &[&str]) -> String {
    let mut text = alice("\"staff\"");
    for name in others {
        text.push_str(&format!(
            "[[user]]\nname = \"{name}\"\nroles = [\"staff\"]\n"
        ));
    }
    text.push_str(&format!(
        "\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n"
    ));
    text
}

/// The keys (z-base32) of the devices the admin API on `admin` lists.
pub(crate) async fn listed(admin: u16) -> Vec<String> {
    let r = client()
        .get(format!("http://127.0.0.1:{admin}/devices"))
        .bearer_auth("s3cret")
        .send()
        .await;
    let Ok(r) = r else {
        return vec!["(no answer)".into()];
    };
    let body: Value = r.json().await.unwrap_or(Value::Null);
    body["devices"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|d| d["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_else(|| vec!["(no list)".into()])
}

/// An operator's invitation link for `user`, from the admin API on `admin`.
pub(crate) async fn invite_link(admin: u16, user: &str) -> Option<String> {
    let r = client()
        .post(format!("http://127.0.0.1:{admin}/invites?user={user}"))
        .bearer_auth("s3cret")
        .send()
        .await
        .ok()?;
    let body: Value = r.json().await.ok()?;
    body["link"].as_str().map(str::to_string)
}

#[tokio::test]
async fn removing_a_user_removes_their_devices_sessions_and_invitations() {
    let admin = crate::common::free_port();
    let session = "state_file = \"state.json\"";
    let mut gw = Binary::start(session, &users(admin, &["bob", "carol"])).await;
    crate::common::write_private(&gw.dir.path().join("admin.token"), "s3cret\n");
    crate::common::admin_up(admin).await;

    // Bob's phone, signed in; and a second invitation of his, pending.
    let link = invite_link(admin, "bob").await.expect("link");
    let phone = Key::generate();
    signer::enroll(&client(), &link, &phone)
        .await
        .expect("enrolled");
    let (b, _) = sign_in_key(&gw.base, browser(), client(), &phone).await;
    assert_eq!(
        upstream_identity(&b, &gw.base).await.map(|(u, _)| u),
        Some("bob".into())
    );
    let pending = invite_link(admin, "bob").await.expect("link");
    let z = phone.public().to_z32();
    assert!(listed(admin).await.contains(&z));

    // Bob leaves the config: his device, its session and his invitation go with him.
    gw.write_config(session, &users(admin, &["carol"]));
    gw.signal("HUP");
    let gone = crate::common::eventually(std::time::Duration::from_secs(10), || async {
        listed(admin).await.is_empty()
    })
    .await;
    assert!(gone, "bob's device is no longer listed: {}", gw.log());
    assert_eq!(upstream_identity(&b, &gw.base).await, None);

    // Another person named bob joins: the old phone is nobody's, the old link is dead.
    gw.write_config(session, &users(admin, &["carol", "bob"]));
    gw.signal("HUP");
    let back = crate::common::eventually(std::time::Duration::from_secs(10), || async {
        invite_link(admin, "bob").await.is_some()
    })
    .await;
    assert!(back, "bob is configured again");
    let refused = approve_with(&gw.base, &browser(), &client(), &phone).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    let dead = signer::enroll(&client(), &pending, &Key::generate()).await;
    assert!(
        matches!(dead, Err(signer::SignerError::Refused { status: 410, .. })),
        "{dead:?}"
    );
    assert!(listed(admin).await.is_empty());
    let log = gw.log();
    assert!(
        log.contains("device_revoked") && log.contains("invitation_withdrawn"),
        "audited: {log}"
    );
    assert!(log.contains("config"), "{log}");

    // A user removed while the gateway is stopped: their device goes at the next start,
    // from the admin list and from the state file.
    let carols = Key::generate();
    let link = invite_link(admin, "carol").await.expect("link");
    signer::enroll(&client(), &link, &carols)
        .await
        .expect("enrolled");
    gw.stop().await;
    let state = gw.dir.path().join("state.json");
    let hex = carols.public().to_hex();
    assert!(std::fs::read_to_string(&state)
        .expect("state")
        .contains(&hex));
    gw.write_config(session, &users(admin, &["bob"]));
    gw.child = gw.spawn();
    gw.wait_up().await;
    let gone = crate::common::eventually(std::time::Duration::from_secs(10), || async {
        listed(admin).await.is_empty()
            && !std::fs::read_to_string(&state)
                .unwrap_or_default()
                .contains(&hex)
    })
    .await;
    assert!(gone, "carol's device is gone at start: {}", gw.log());
}

#[tokio::test]
async fn a_user_removed_and_added_again_before_the_review_runs_is_someone_new() {
    let bob = "[[user]]\nname = \"bob\"\nroles = [\"staff\"]\n";
    let gw = TestGateway::with(crate::common::Setup {
        tail: bob.into(),
        ..crate::common::Setup::default()
    })
    .await;
    let base = gw.url("");
    let invited = gw.invite("bob").await;
    let phone = Key::generate();
    signer::enroll(&client(), &invited.link, &phone)
        .await
        .expect("enrolled");
    let (b, _) = sign_in_key(&base, browser(), client(), &phone).await;
    assert_eq!(
        upstream_identity(&b, &base).await.map(|(u, _)| u),
        Some("bob".into())
    );
    let pending = gw.invite("bob").await;

    // Two reloads back to back, before the sweeper can run between them (one thread): bob
    // removed, then a bob added again. The config in force names bob, yet the old phone,
    // its session and the old invitation are his predecessor's.
    let parse = |text: &str| {
        qrgate_core::config::Config::parse(text, std::path::Path::new("test.toml")).expect("config")
    };
    gw.proxy
        .reload(parse(&gw.config_text.replace(bob, "")))
        .expect("reload");
    gw.proxy.reload(parse(&gw.config_text)).expect("reload");
    assert_eq!(upstream_identity(&b, &base).await, None, "refused at once");
    assert!(!gw.invitation_open(&pending.link).await);
    let gone = crate::common::eventually(std::time::Duration::from_secs(5), || async {
        gw.state.devices().is_empty()
    })
    .await;
    assert!(gone, "the review removed the device");
    assert!(
        !gw.state.devices().is_retired("bob"),
        "and released the name"
    );
    let refused = approve_with(&base, &browser(), &client(), &phone).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    assert!(!gw.invitation_open(&pending.link).await);
    // The new bob enrolls a phone of his own, which works.
    let invited = gw.invite("bob").await;
    let new_phone = Key::generate();
    signer::enroll(&client(), &invited.link, &new_phone)
        .await
        .expect("enrolled");
    let (n, _) = sign_in_key(&base, browser(), client(), &new_phone).await;
    assert_eq!(
        upstream_identity(&n, &base).await.map(|(u, _)| u),
        Some("bob".into())
    );
}
