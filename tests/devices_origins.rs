//! A device's binding to its apps' origins, through the real gateway: it does not follow an
//! app's name to another origin, not across a restart either, and no invitation is made for a
//! name still under review.

use qrgate_core::raw::KeyBytes;

use crate::common::{
    alice_key, approve_attempt, browser, client, invite_own, own_action, sign_in_at, sign_in_key,
    TestGateway,
};
use crate::operate::Binary;
use qrgate::cli::signer::{self, Key};

use crate::devices::{cli, link_in, upstream_identity};
use crate::devices_apps::{approve_with, demo_upstream, device_apps, other_app, via, OTHER};
use crate::devices_users::users;

#[tokio::test]
async fn a_device_does_not_follow_its_apps_name_to_another_origin() {
    let up = demo_upstream().await;
    let gw = TestGateway::with(crate::common::Setup {
        tail: format!(
            "[[user]]\nname = \"bob\"\nroles = [\"staff\"]\n{}",
            other_app("Other app", up)
        ),
        ..crate::common::Setup::default()
    })
    .await;
    let base = gw.url("");
    let (b_browser, b_phone) = (via(gw.addr, true), via(gw.addr, false));
    let invited = gw.invite("bob").await;
    assert_eq!(invited.apps, vec!["Test app".to_string()]);
    let phone = Key::generate();
    signer::enroll(&client(), &invited.link, &phone)
        .await
        .expect("enrolled");
    let (a, _) = sign_in_key(&base, browser(), client(), &phone).await;
    assert_eq!(
        upstream_identity(&a, &base).await.map(|(u, _)| u),
        Some("bob".into())
    );
    let pending = gw.invite("bob").await;
    // A configured user's session on the test app: its token, as its holder may replay it
    // on any origin.
    let alice_token = gw
        .state
        .sessions()
        .create(
            gw.state
                .settings()
                .app(qrgate_core::config::AppId::new(0))
                .key
                .clone(),
            KeyBytes::new(*crate::common::alice_key().public().as_bytes()),
            Default::default(),
        )
        .await
        .expect("session")
        .as_str()
        .to_string();
    let replayed = |token: String| {
        let b = b_phone.clone();
        let cookie = format!("{}={token}", gw.cookie_name());
        async move {
            let page = b
                .get(format!("{OTHER}/app"))
                .header("cookie", &cookie)
                .header("accept", "application/json")
                .send()
                .await
                .map(|r| r.status().as_u16());
            let verify = b
                .get(format!("{OTHER}/.qrgate/auth/session/verify"))
                .bearer_auth(&token)
                .send()
                .await
                .map(|r| r.status().as_u16());
            (page.ok(), verify.ok())
        }
    };
    assert_eq!(
        replayed(alice_token.clone()).await,
        (Some(401), Some(401)),
        "not the other app's session before"
    );

    // The operator renames the apps: the name the device is bound to now belongs to the
    // other origin, where this key never lived. The binding does not move with the name.
    let swapped = gw
        .config_text
        .replace("name = \"Test app\"", "name = \"Old name\"")
        .replace("name = \"Other app\"", "name = \"Test app\"");
    let config = qrgate_core::config::Config::parse(&swapped, std::path::Path::new("test.toml"))
        .expect("config");
    gw.proxy.reload(config).expect("reload");
    let refused = approve_with(OTHER, &b_browser, &b_phone, &phone).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "refused at once on the other origin: {refused:?}"
    );
    assert!(!gw.invitation_open(&pending.link).await, "withdrawn");
    // Nor does a session follow its app's name to the other origin.
    assert_eq!(
        replayed(alice_token.clone()).await,
        (Some(401), Some(401)),
        "a session of the app that bore the name"
    );
    let gone = crate::common::eventually(std::time::Duration::from_secs(5), || async {
        gw.state.devices().is_empty()
    })
    .await;
    assert!(
        gone,
        "the review removed the device: {:?}",
        gw.state.devices().list()
    );
    assert!(
        !gw.state.devices().is_retired_app("Test app"),
        "and released the name"
    );
    assert_eq!(
        upstream_identity(&a, &base).await,
        None,
        "its session ended"
    );
    assert_eq!(
        replayed(alice_token.clone()).await,
        (Some(401), Some(401)),
        "still refused once the name is released"
    );
    let ended = gw
        .state
        .sessions()
        .lookup(
            &qrgate_core::session::token_hash(&alice_token).expect("hash"),
            "Test app",
        )
        .await
        .expect("store");
    assert!(ended.is_none(), "the review ended it");
    let refused = approve_with(OTHER, &b_browser, &b_phone, &phone).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    // The app the name now names works for its own users.
    let (o, _) = crate::common::sign_in_with(OTHER, via(gw.addr, true), via(gw.addr, false)).await;
    assert_eq!(
        upstream_identity(&o, OTHER).await.map(|(u, _)| u),
        Some("alice".into())
    );
}

#[tokio::test]
async fn a_device_stays_bound_to_its_apps_origins_across_a_restart() {
    let up = demo_upstream().await;
    let admin = crate::common::free_port();
    let session = "state_file = \"state.json\"";
    let app = |name: &str, host: &str| {
        format!("[[app]]\nname = \"{name}\"\norigin = \"http://{host}\"\nhosts = [\"{host}\"]\nupstream = \"{up}\"\n")
    };
    let config = |b_host: &str, c_host: &str| {
        format!(
            "{}\n{}\n{}",
            users(admin, &["bob"]),
            app("b,c", b_host),
            app("c", c_host)
        )
    };
    let mut gw = Binary::start(session, &config("b.test", "c.test")).await;
    crate::common::write_private(&gw.dir.path().join("admin.token"), "s3cret\n");
    crate::common::admin_up(admin).await;
    let addr: std::net::SocketAddr = gw.base.trim_start_matches("http://").parse().expect("addr");
    let at = |cookies: bool| {
        reqwest::Client::builder()
            .cookie_store(cookies)
            .redirect(reqwest::redirect::Policy::none())
            .resolve("b.test", addr)
            .resolve("c.test", addr)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("client")
    };

    // Enrolled for a and "b,c" (on http://b.test), once the admin listener answers.
    let invite = || {
        cli(
            &gw,
            &["invite", "--user", "bob", "--app", "a", "--app", "b,c"],
        )
    };
    let answered =
        crate::common::eventually(std::time::Duration::from_secs(10), || async { invite().0 })
            .await;
    let (ok, out) = invite();
    assert!(answered && ok, "{out}");
    // A name may hold a comma: the audit trail lists names unambiguously (two apps here,
    // not three).
    let listed = crate::common::eventually(std::time::Duration::from_secs(5), || async {
        gw.log().contains(r#"[\"a\",\"b,c\"]"#)
    })
    .await;
    assert!(listed, "{}", gw.log());
    let phone = Key::generate();
    signer::enroll(&client(), &link_in(&out), &phone)
        .await
        .expect("enrolled");
    let (on_b, _) = sign_in_key("http://b.test", at(true), at(false), &phone).await;
    assert_eq!(
        upstream_identity(&on_b, "http://b.test")
            .await
            .map(|(u, _)| u),
        Some("bob".into())
    );

    // While the gateway is stopped the operator swaps the two apps' origins: the name "b,c" now
    // belongs to http://c.test, where this key never lived. It is refused there, and the
    // review at start drops the binding.
    gw.stop().await;
    gw.write_config(session, &config("c.test", "b.test"));
    gw.child = gw.spawn();
    gw.wait_up().await;
    let refused = approve_with("http://c.test", &at(true), &at(false), &phone).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    let narrowed = crate::common::eventually(std::time::Duration::from_secs(10), || async {
        device_apps(admin, &phone).await == Some(serde_json::json!(["a"]))
    })
    .await;
    assert!(
        narrowed,
        "{:?}: {}",
        device_apps(admin, &phone).await,
        gw.log()
    );
    assert!(gw.log().contains("device_unbound"), "audited");
    // Nor on app c, now on http://b.test: it was never bound to c.
    let refused = approve_with("http://b.test", &at(true), &at(false), &phone).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    // Its own app is unchanged.
    let (on_a, _) = sign_in_key(&gw.base, browser(), client(), &phone).await;
    assert_eq!(
        upstream_identity(&on_a, &gw.base).await.map(|(u, _)| u),
        Some("bob".into())
    );
}

#[tokio::test]
async fn no_invitation_is_made_for_a_name_still_under_review() {
    let gw = TestGateway::start().await;
    let base = gw.url("");
    let (b, _) = sign_in_at(&base).await;
    // As between a reload that removed alice (and added an alice again) and the review that
    // removes the old alice's devices and invitations: an invitation made now would be
    // withdrawn by that review, so none is made.
    let retired = qrgate_core::devices::Retired {
        users: ["alice".to_string()].into(),
        ..Default::default()
    };
    gw.state.devices().retire(retired.clone());
    let (status, started) = own_action(&b, &base, "invite", "").await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().expect("attempt id").to_string();
    let (_, approved) = approve_attempt(&base, &id, &alice_key()).await;
    approved.expect("approved");
    let (status, refused) = own_action(&b, &base, "invite", &format!("confirm={id}")).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (503, Some("under_review")),
        "{refused}"
    );
    // Nothing was stored: withdrawing every live invitation finds none.
    let stored = gw
        .state
        .device_store()
        .withdraw(&|_| false, 0)
        .await
        .expect("store");
    assert!(stored.is_empty(), "{stored:?}");
    // Once the review is done, the same request makes one.
    gw.state.devices().release(&retired);
    let link = invite_own(&b, &base, &alice_key()).await;
    assert!(gw.invitation_open(&link).await);
}
