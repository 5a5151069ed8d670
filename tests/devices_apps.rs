//! Devices and the apps they sign in to, through the real gateway: an invitation enrolls a
//! device for its apps alone, an invitation may name several apps, and an app leaving the
//! config narrows the device's apps.

use qrgate_core::raw::KeyBytes;
use serde_json::Value;

use crate::common::{browser, client, open_login_at, sign_in_key, TestGateway};
use crate::operate::{alice, Binary};
use qrgate::cli::signer::{self, Key};

use crate::devices::{cli, link_in, upstream_identity};

/// The second app's origin in the two-app tests; its host resolves to the gateway.
pub(crate) const OTHER: &str = "http://b.test";

/// A client whose requests for `b.test` reach `addr` (with a cookie store: a browser).
pub(crate) fn via(addr: std::net::SocketAddr, cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .resolve("b.test", addr)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A demo upstream of the test's own; returns its address.
pub(crate) async fn demo_upstream() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(qrgate::cli::demo::serve(l));
    addr
}

/// `[[app]]` "b" on [`OTHER`], in front of `upstream`.
pub(crate) fn other_app(name: &str, upstream: std::net::SocketAddr) -> String {
    format!("[[app]]\nname = \"{name}\"\norigin = \"{OTHER}\"\nhosts = [\"b.test\"]\nupstream = \"{upstream}\"\n")
}

/// The apps the admin API on `admin` (token `s3cret`) lists for the device of `key` (None:
/// no answer).
pub(crate) async fn device_apps(admin: u16, key: &Key) -> Option<Value> {
    let listed: Value = client()
        .get(format!(
            "http://127.0.0.1:{admin}/devices?key={}",
            key.public().to_z32()
        ))
        .bearer_auth("s3cret")
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(listed["devices"][0]["apps"].clone())
}

/// A login on `base` approved by `key`, through clients `b` and `phone`: the approval's
/// answer (the claim is not made).
pub(crate) async fn approve_with(
    base: &str,
    b: &reqwest::Client,
    phone: &reqwest::Client,
    key: &Key,
) -> Result<String, signer::SignerError> {
    let (_, payload, _) = open_login_at(base, b, "/").await;
    let url = signer::attempt_url(&payload)?;
    let req = signer::scan(phone, &url).await?;
    signer::approve(phone, &url, key, &req).await
}

#[tokio::test]
async fn a_device_signs_in_only_to_the_app_whose_invitation_enrolled_it() {
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

    // Enrolled through the test app's link (a person's own kind: that app alone).
    let invited = gw.invite("bob").await;
    assert_eq!(invited.apps, vec!["Test app".to_string()]);
    let phone = Key::generate();
    assert_eq!(
        signer::enroll(&client(), &invited.link, &phone)
            .await
            .expect("enrolled"),
        "bob"
    );
    let (a, _) = sign_in_key(&base, browser(), client(), &phone).await;
    assert_eq!(
        upstream_identity(&a, &base).await.map(|(u, _)| u),
        Some("bob".into())
    );

    // Bob may use the other app, but not with this key: the approval is refused.
    let refused = approve_with(OTHER, &b_browser, &b_phone, &phone).await;
    match refused {
        Err(signer::SignerError::Refused { status, message }) => {
            assert_eq!(status, 403);
            assert!(message.contains("another app"), "{message}");
        }
        other => panic!("refused on the other app: {other:?}"),
    }
    // His configured colleague signs in there, so the app itself works.
    let (o, _) = crate::common::sign_in_with(OTHER, via(gw.addr, true), via(gw.addr, false)).await;
    assert_eq!(
        upstream_identity(&o, OTHER).await.map(|(u, _)| u),
        Some("alice".into())
    );

    // A session the key already holds on the other app (made before devices were bound)
    // lets nothing through: not the proxy, not the verification endpoint.
    let s = gw.state.settings();
    let other = qrgate_core::config::AppId::new(1);
    let token = gw
        .state
        .sessions()
        .create(
            s.app(other).key.clone(),
            KeyBytes::new(*phone.public().as_bytes()),
            Default::default(),
        )
        .await
        .expect("session")
        .as_str()
        .to_string();
    let cookie = format!("{}={token}", gw.cookie_name());
    let r = b_phone
        .get(format!("{OTHER}/app"))
        .header("cookie", &cookie)
        .header("accept", "application/json")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 401);
    let r = b_phone
        .get(format!("{OTHER}/.qrgate/auth/session/verify"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 401);
    // The same kind of session on its own app is let through (the refusal is the binding).
    let own = gw
        .state
        .sessions()
        .create(
            s.app(qrgate_core::config::AppId::new(0)).key.clone(),
            KeyBytes::new(*phone.public().as_bytes()),
            Default::default(),
        )
        .await
        .expect("session");
    let r = client()
        .get(gw.url("/.qrgate/auth/session/verify"))
        .bearer_auth(own.as_str())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_operators_invitation_naming_two_apps_enrolls_a_device_for_both() {
    let up = demo_upstream().await;
    let admin = crate::common::free_port();
    let gw = Binary::start(
        "",
        &format!(
            "{}\n[[user]]\nname = \"bob\"\nroles = [\"staff\"]\n\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n\n{}",
            alice("\"staff\""),
            other_app("b", up)
        ),
    )
    .await;
    crate::common::write_private(&gw.dir.path().join("admin.token"), "s3cret\n");
    crate::common::admin_up(admin).await;
    let addr: std::net::SocketAddr = gw.base.trim_start_matches("http://").parse().expect("addr");

    // An unknown app among several is refused.
    let r = client()
        .post(format!(
            "http://127.0.0.1:{admin}/invites?user=bob&app=a&app=nope"
        ))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "unknown_app");

    // `qrgate invite --app a --app b`: the link is on a's origin, the device signs in to both.
    let (ok, out) = cli(
        &gw,
        &["invite", "--user", "bob", "--app", "a", "--app", "b"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("signs in to a, b"), "{out}");
    let link = link_in(&out);
    assert!(link.starts_with(&gw.base), "{link}");
    let facts: Value = client()
        .get(&link)
        .header("accept", "application/json")
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (facts["app"].clone(), facts["apps"].clone()),
        ("a".into(), serde_json::json!(["a", "b"])),
        "{facts}"
    );
    let phone = Key::generate();
    signer::enroll(&client(), &link, &phone)
        .await
        .expect("enrolled");
    let (on_a, _) = sign_in_key(&gw.base, browser(), client(), &phone).await;
    assert_eq!(
        upstream_identity(&on_a, &gw.base).await.map(|(u, _)| u),
        Some("bob".into())
    );
    let (on_b, _) = sign_in_key(OTHER, via(addr, true), via(addr, false), &phone).await;
    assert_eq!(
        upstream_identity(&on_b, OTHER).await.map(|(u, _)| u),
        Some("bob".into())
    );
    let listed: Value = client()
        .get(format!("http://127.0.0.1:{admin}/devices?app=b"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(
        listed["devices"][0]["apps"],
        serde_json::json!(["a", "b"]),
        "{listed}"
    );

    // An invitation naming only a: that device is refused on b.
    let (ok, out) = cli(&gw, &["invite", "--user", "bob", "--app", "a"]);
    assert!(ok && out.contains("signs in to a)"), "{out}");
    let single = Key::generate();
    signer::enroll(&client(), &link_in(&out), &single)
        .await
        .expect("enrolled");
    let refused = approve_with(OTHER, &via(addr, true), &via(addr, false), &single).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );

    // App b leaves the config: the device keeps a alone, and an app named b added again
    // later is not one it may sign in to.
    let without_b = format!(
        "{}\n[[user]]\nname = \"bob\"\nroles = [\"staff\"]\n\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n",
        alice("\"staff\"")
    );
    gw.write_config("", &without_b);
    gw.signal("HUP");
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
    assert!(gw.log().contains("device_unbound"));
    gw.write_config("", &format!("{without_b}\n{}", other_app("b", up)));
    gw.signal("HUP");
    let b_back = crate::common::eventually(std::time::Duration::from_secs(10), || async {
        via(addr, false)
            .get(format!("{OTHER}/.qrgate/login"))
            .header("accept", "text/html")
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(b_back, "app b is served again");
    let refused = approve_with(OTHER, &via(addr, true), &via(addr, false), &phone).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    let (on_a, _) = sign_in_key(&gw.base, browser(), client(), &phone).await;
    assert_eq!(
        upstream_identity(&on_a, &gw.base).await.map(|(u, _)| u),
        Some("bob".into())
    );
}
