//! Single sign-on across the gateway's apps, through the real gateway: one approval at the SSO
//! origin opens every app that takes part (a one-time code per app, bound to the app and one
//! trip of the browser), apps with `sso = false` or a reduced grant keep their own approval, and the
//! sign-out scopes end one app's session or the whole sign-in family. Browsers reach every
//! origin through the gateway as an HTTP proxy (absolute-form requests), so each origin keeps
//! its own cookies.

use std::sync::Arc;
use std::time::Duration;

use qrgate_core::session::session_id;

use crate::common::{alice_key, eventually, Setup, TestGateway, NAV};

/// The SSO origin.
const SSO: &str = "http://localhost:1";
/// Two apps that take part, one with `sso = false`, one with a reduced grant, one only bob
/// may use.
const A: &str = "http://a.test";
const B: &str = "http://b.test";
const OWN: &str = "http://own.test";
const READ: &str = "http://read.test";
const BOBS: &str = "http://bobs.test";

/// A gateway with `[sso]` and the apps above (on a demo upstream of their own).
async fn started() -> (TestGateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let upstream = listener.local_addr().expect("addr");
    tokio::spawn(qrgate::cli::demo::serve(listener));
    let up = |name: &str, origin: &str, extra: &str| {
        format!("[[app]]\nname = \"{name}\"\norigin = \"{origin}\"\nupstream = \"{upstream}\"\n{extra}\n")
    };
    let apps = [
        up("App A", A, ""),
        up("App B", B, ""),
        up("Own", OWN, "sso = false"),
        up("Read", READ, "access = \"read\""),
        up("Bobs", BOBS, "allow_roles = [\"finance\"]"),
    ]
    .concat();
    let tail = format!(
        "\n{apps}\n[sso]\norigin = \"{SSO}\"\nname = \"Example\"\nkey_file = \"{}\"\n",
        dir.path().join("oidc-keys.json").display()
    );
    let gw = TestGateway::with(Setup {
        tail,
        ..Setup::default()
    })
    .await;
    (gw, dir)
}

/// A browser that reaches every origin through the gateway, with a cookie jar of its own.
fn browser(gw: &TestGateway) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .proxy(reqwest::Proxy::http(gw.url("")).expect("proxy"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A phone reaching the SSO origin through the gateway.
fn phone(gw: &TestGateway) -> reqwest::Client {
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(gw.url("")).expect("proxy"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn get(b: &reqwest::Client, url: &str) -> (u16, String, String) {
    let resp = b.get(url).header("accept", NAV).send().await.expect("get");
    let status = resp.status().as_u16();
    let loc = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("location").to_string())
        .unwrap_or_default();
    (status, loc, resp.text().await.unwrap_or_default())
}

/// `loc` made absolute against `origin`.
fn absolute(origin: &str, loc: &str) -> String {
    if loc.starts_with("http") {
        loc.to_string()
    } else {
        format!("{origin}{loc}")
    }
}

/// Signs alice in on the SSO origin with the reference signer (the one approval); the page
/// and the phone name the gateway and, on an app's trip, `shown` (e.g. "Example (App A; also opens Test app, App B, Bobs)").
async fn approve_at_sso(gw: &TestGateway, b: &reqwest::Client, rd: &str) -> String {
    approve_shown(gw, b, rd, "Example").await
}

async fn approve_shown(gw: &TestGateway, b: &reqwest::Client, rd: &str, shown: &str) -> String {
    approve_by(gw, b, rd, shown, &alice_key()).await
}

async fn approve_by(
    gw: &TestGateway,
    b: &reqwest::Client,
    rd: &str,
    shown: &str,
    key: &qrgate::cli::signer::Key,
) -> String {
    let rd: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
    let (status, _, html) = get(b, &format!("{SSO}/.qrgate/login?rd={rd}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("Sign in to {shown}")), "{html}");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt id") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let url = url::Url::parse(&format!("{SSO}/.qrgate/auth/session/{id}")).expect("url");
    let p = phone(gw);
    let req = qrgate::cli::signer::scan(&p, &url).await.expect("scan");
    assert_eq!(req.app, shown, "the phone is shown the same name");
    assert!(req.message.contains(shown), "and signs it: {}", req.message);
    qrgate::cli::signer::approve(&p, &url, key, &req)
        .await
        .expect("approve");
    let claimed = b
        .post(format!("{SSO}/.qrgate/auth/session/{id}/claim"))
        .header("origin", SSO)
        .header("accept", "application/json")
        .send()
        .await
        .expect("claim");
    assert_eq!(claimed.status(), 200);
    let v: serde_json::Value = claimed.json().await.expect("json");
    v["redirect"].as_str().expect("redirect").to_string()
}

/// Where an app's login sends a browser: the SSO origin's issue URL.
async fn to_sso(b: &reqwest::Client, app: &str) -> String {
    let (status, loc, _) = get(b, &format!("{app}/private")).await;
    assert_eq!(status, 302, "{app}: to the login page");
    let (status, loc, _) = get(b, &absolute(app, &loc)).await;
    assert_eq!(status, 302, "{app}: to the SSO origin");
    assert!(
        loc.starts_with(&format!("{SSO}/.qrgate/sso/issue?")),
        "{loc}"
    );
    loc
}

/// The code the redeem page posts, from its URL.
fn code_of(redeem_url: &str) -> String {
    url::Url::parse(redeem_url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .into_owned()
}

/// Posts `code` to app `app`'s redemption as its own page would.
async fn post_code(b: &reqwest::Client, app: &str, code: &str) -> (u16, String, String) {
    let resp = b
        .post(format!("{app}/.qrgate/sso/redeem"))
        .header("origin", app)
        .header("accept", NAV)
        .form(&[("code", code)])
        .send()
        .await
        .expect("redeem");
    let status = resp.status().as_u16();
    let loc = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("location").to_string())
        .unwrap_or_default();
    (status, loc, resp.text().await.unwrap_or_default())
}

/// With alice signed in at the SSO origin: the code issued for app `app` (its redeem URL).
async fn code_for(b: &reqwest::Client, app: &str) -> String {
    let issue = to_sso(b, app).await;
    let (status, loc, body) = get(b, &issue).await;
    assert_eq!(status, 302, "{body}");
    assert!(
        loc.starts_with(&format!("{app}/.qrgate/sso/redeem?code=")),
        "{loc}"
    );
    loc
}

/// The whole trip for app `app` with alice signed in at the SSO origin: a session on the app.
async fn open_app(b: &reqwest::Client, app: &str) {
    let redeem = code_for(b, app).await;
    let (status, _, page) = get(b, &redeem).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("method=\"post\"") && page.contains("/.qrgate/sso/redeem"),
        "{page}"
    );
    let (status, loc, body) = post_code(b, app, &code_of(&redeem)).await;
    assert_eq!((status, loc.as_str()), (303, "/private"), "{body}");
    assert!(signed_in(b, app).await, "{app} opens");
}

async fn signed_in(b: &reqwest::Client, app: &str) -> bool {
    get(b, &format!("{app}/private")).await.0 == 200
}

#[tokio::test]
async fn one_approval_at_the_sso_origin_opens_two_apps_of_one_family() {
    let (gw, _dir) = started().await;
    let b = browser(&gw);
    // Not signed in at the SSO origin: its login page first, then back to the app's trip.
    let issue = to_sso(&b, A).await;
    let (status, loc, _) = get(&b, &issue).await;
    assert_eq!(status, 302);
    assert!(loc.starts_with("/.qrgate/login?rd="), "{loc}");
    let back = approve_shown(
        &gw,
        &b,
        &issue[SSO.len()..],
        "Example (App A; also opens Test app, App B, Bobs)",
    )
    .await;
    let (status, loc, _) = get(&b, &absolute(SSO, &back)).await;
    assert_eq!(status, 302);
    assert!(loc.starts_with(&format!("{A}/.qrgate/sso/redeem?code=")));
    let (status, to, _) = post_code(&b, A, &code_of(&loc)).await;
    assert_eq!((status, to.as_str()), (303, "/private"));
    assert!(signed_in(&b, A).await);
    // A HEAD of an app's trip (a link checker, a prefetch) mints no code: no Location, and
    // the count of issued codes stays where it was.
    let issued = |gw: &TestGateway| {
        gw.state
            .metrics()
            .render()
            .lines()
            .filter(|l| l.starts_with("qrgate_sso_total") && l.contains("result=\"issued\""))
            .map(|l| l.rsplit(' ').next().unwrap_or("0").to_string())
            .collect::<Vec<_>>()
    };
    let before = issued(&gw);
    let head = b
        .head(to_sso(&b, B).await)
        .header("accept", NAV)
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 200);
    assert!(head.headers().get("location").is_none());
    assert_eq!(issued(&gw), before, "HEAD ran nothing");
    // App B: no second approval.
    open_app(&b, B).await;
    // Both app sessions belong to the SSO session's family.
    let all = gw.state.sessions().export().await.expect("export");
    let root = all
        .iter()
        .find(|(_, r)| &*r.app == "Example")
        .map(|(h, _)| session_id(h))
        .expect("SSO session");
    for app in ["App A", "App B"] {
        let (_, r) = all.iter().find(|(_, r)| &*r.app == app).expect("session");
        assert_eq!(r.meta.family.as_deref(), Some(root.as_str()), "{app}");
        assert_eq!(r.meta.protocol, "sso");
    }
    let metrics = gw.state.metrics().render();
    assert!(
        metrics.contains("qrgate_sso_total{app=\"App B\",result=\"redeemed\",step=\"redeem\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_code_is_single_use_and_bound_to_its_app_and_its_browser() {
    let (gw, _dir) = started().await;
    let b = browser(&gw);
    approve_at_sso(&gw, &b, "/").await;
    // Used once, refused the second time.
    let issue_a = to_sso(&b, A).await;
    let (_, redeem, _) = get(&b, &issue_a).await;
    let code = code_of(&redeem);
    assert_eq!(post_code(&b, A, &code).await.0, 303);
    let (status, _, page) = post_code(&b, A, &code).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("used or has expired"), "{page}");

    // Presented by another browser (whose binding differs): refused, and spent.
    let code = code_of(&code_for(&b, B).await);
    let other = browser(&gw);
    let _ = to_sso(&other, B).await; // it has a binding cookie of its own on B
    let (status, _, page) = post_code(&other, B, &code).await;
    assert_eq!(status, 400);
    assert!(page.contains("another browser"), "{page}");
    assert!(!signed_in(&other, B).await);
    assert_eq!(post_code(&b, B, &code).await.0, 400, "spent by the refusal");

    // A code for A (signed in there already; the issue request is asked again) presented at B.
    let code = code_of(&get(&b, &issue_a).await.1);
    let (status, _, page) = post_code(&b, B, &code).await;
    assert_eq!(status, 400);
    assert!(page.contains("another app"), "{page}");
    assert!(!signed_in(&b, B).await);

    // Not posted from the app's own page.
    let code = code_of(&code_for(&b, B).await);
    let resp = b
        .post(format!("{B}/.qrgate/sso/redeem"))
        .header("origin", "http://evil.test")
        .form(&[("code", code.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403);

    // An expired code.
    let code = code_of(&code_for(&b, B).await);
    gw.clock.advance(Duration::from_secs(31));
    assert_eq!(post_code(&b, B, &code).await.0, 400);
    assert!(!signed_in(&b, B).await);
}

/// The `Set-Cookie` value of `name` among a response's.
fn set_cookie<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// A cookie's value from its `Set-Cookie`.
fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().expect("pair");
    pair.split_once('=').expect("name=value").1.to_string()
}

#[tokio::test]
async fn a_code_for_a_trip_binding_seen_elsewhere_opens_nothing_in_another_trip() {
    let (gw, _dir) = started().await;
    let victim = browser(&gw);
    // An app's login sends the browser off with a trip cookie beside its binding, and the
    // issue URL carries neither, only SHA-256(binding "." nonce).
    let (status, login, _) = get(&victim, &format!("{A}/private")).await;
    assert_eq!(status, 302);
    let resp = victim
        .get(absolute(A, &login))
        .header("accept", NAV)
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 302);
    let trip = set_cookie(&resp, "qrgate_session_trip").expect("a trip cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=180"] {
        assert!(trip.contains(attribute), "{attribute}: {trip}");
    }
    let binding = cookie_value(set_cookie(&resp, "qrgate_session_bind").expect("binding"));
    let nonce = cookie_value(trip);
    let seen = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("to the SSO origin")
        .to_string();
    let bind = url::Url::parse(&seen)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "bind")
        .expect("bind")
        .1
        .into_owned();
    let sha = |text: String| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
    assert_eq!(bind, sha(format!("{binding}.{nonce}")));
    assert_ne!(
        bind,
        sha(binding.clone()),
        "the binding alone never travels"
    );

    // Mallory saw that URL (a proxy's log) and, signed in at the SSO origin in her own
    // browser, gets a code for it.
    let mallory = browser(&gw);
    approve_at_sso(&gw, &mallory, "/").await;
    let (status, stolen, _) = get(&mallory, &seen).await;
    assert_eq!(status, 302, "issued: the SSO origin cannot tell");
    // The victim has started another trip since: the code opens nothing there.
    let _ = to_sso(&victim, A).await;
    let (status, _, page) = post_code(&victim, A, &code_of(&stolen)).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("another browser"), "{page}");
    assert!(!signed_in(&victim, A).await);

    // A trip that ends normally: the redemption opens the app and clears the trip cookie,
    // so its bind, seen and used again, opens nothing either.
    approve_at_sso(&gw, &victim, "/").await;
    let seen = to_sso(&victim, A).await;
    let (status, redeem, _) = get(&victim, &seen).await;
    assert_eq!(status, 302);
    let resp = victim
        .post(format!("{A}/.qrgate/sso/redeem"))
        .header("origin", A)
        .header("accept", NAV)
        .form(&[("code", code_of(&redeem).as_str())])
        .send()
        .await
        .expect("redeem");
    assert_eq!(resp.status(), 303);
    let cleared = set_cookie(&resp, "qrgate_session_trip").expect("the trip cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(signed_in(&victim, A).await, "the normal trip opens the app");
    let (status, stolen, _) = get(&mallory, &seen).await;
    assert_eq!(status, 302);
    let (status, _, page) = post_code(&victim, A, &code_of(&stolen)).await;
    assert_eq!(status, 400, "a used trip binding opens nothing: {page}");
    assert!(page.contains("another browser"), "{page}");
}

#[tokio::test]
async fn a_person_not_allowed_on_an_app_gets_a_page_not_a_loop() {
    let (gw, _dir) = started().await;
    let b = browser(&gw);
    approve_at_sso(&gw, &b, "/").await;
    let issue = to_sso(&b, BOBS).await;
    let (status, loc, page) = get(&b, &issue).await;
    assert_eq!(
        (status, loc.as_str()),
        (403, ""),
        "a page, never a redirect"
    );
    assert!(page.contains("Not allowed"), "{page}");
    assert!(page.contains("Bobs"), "{page}");
    assert!(!signed_in(&b, BOBS).await);
}

#[tokio::test]
async fn apps_with_sso_off_or_a_reduced_grant_keep_their_own_approval() {
    let (gw, _dir) = started().await;
    let b = browser(&gw);
    approve_at_sso(&gw, &b, "/").await;
    for app in [OWN, READ] {
        let (status, loc, _) = get(&b, &format!("{app}/private")).await;
        assert_eq!(status, 302);
        let (status, _, html) = get(&b, &absolute(app, &loc)).await;
        assert_eq!(status, 200, "{app}: its own login page");
        assert!(
            html.contains("data-attempt=\""),
            "{app}: a QR code of its own"
        );
        // Nor does a code open it.
        let issue = format!(
            "{SSO}/.qrgate/sso/issue?app={}&bind={}&rd=%2F",
            if app == OWN { "Own" } else { "Read" },
            "00".repeat(32)
        );
        assert_eq!(get(&b, &issue).await.0, 400, "{app}");
    }
}

#[tokio::test]
async fn sign_out_scopes_one_app_everywhere_or_the_sso_origin() {
    let (gw, _dir) = started().await;
    let b = browser(&gw);
    approve_at_sso(&gw, &b, "/").await;
    open_app(&b, A).await;
    open_app(&b, B).await;
    let logout = |app: &'static str, form: &'static str| {
        let b = b.clone();
        async move {
            b.post(format!("{app}/.qrgate/logout"))
                .header("origin", app)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(form)
                .send()
                .await
                .expect("logout")
                .status()
                .as_u16()
        }
    };
    // Signing out of A leaves B (and the SSO session).
    assert_eq!(logout(A, "").await, 200);
    assert!(!signed_in(&b, A).await);
    assert!(signed_in(&b, B).await);
    // A comes back without an approval.
    open_app(&b, A).await;
    // A form that names no scope of ours changes nothing.
    assert_eq!(logout(A, "scope=planet").await, 400);
    assert!(signed_in(&b, A).await);
    // "Everywhere" from A ends A, B and the SSO session.
    assert_eq!(logout(A, "scope=everywhere").await, 200);
    assert!(!signed_in(&b, A).await);
    assert!(!signed_in(&b, B).await);
    let issue = to_sso(&b, B).await;
    let (status, loc, _) = get(&b, &issue).await;
    assert_eq!(status, 302);
    assert!(
        loc.starts_with("/.qrgate/login"),
        "signed out at the SSO origin: {loc}"
    );

    // Signing out on the SSO origin ends both app sessions.
    approve_at_sso(&gw, &b, "/").await;
    open_app(&b, A).await;
    open_app(&b, B).await;
    assert_eq!(logout(SSO, "").await, 200);
    assert!(!signed_in(&b, A).await);
    assert!(!signed_in(&b, B).await);
    let metrics = gw.state.metrics().render();
    assert!(
        metrics.contains("qrgate_sso_total{app=\"Example\",result=\"ended\",step=\"family\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_operator_revoking_the_sso_session_ends_its_family() {
    let (gw, _dir) = started().await;
    let b = browser(&gw);
    approve_at_sso(&gw, &b, "/").await;
    open_app(&b, A).await;
    open_app(&b, B).await;
    let s = gw.state.settings();
    let root = gw
        .state
        .sessions()
        .export()
        .await
        .expect("export")
        .into_iter()
        .find(|(_, r)| &*r.app == "Example")
        .map(|(h, _)| session_id(&h))
        .expect("SSO session");
    let filter =
        qrgate_core::control::Filter::from_query(Some(&format!("id={root}"))).expect("filter");
    let ended = qrgate_core::control::revoke(&gw.state, &s, &filter, "operator")
        .await
        .expect("revoke");
    assert_eq!(ended, 3, "the SSO session and both app sessions");
    let gone = eventually(Duration::from_secs(5), || {
        let b = b.clone();
        async move { !signed_in(&b, A).await && !signed_in(&b, B).await }
    })
    .await;
    assert!(gone);
}

#[tokio::test]
async fn check_config_says_which_apps_sign_in_at_the_sso_origin_and_why_others_do_not() {
    let dir = tempfile::tempdir().expect("dir");
    let app = |name: &str, port: u16, extra: &str| {
        format!("[[app]]\nname = \"{name}\"\norigin = \"http://127.0.0.1:{port}\"\nupstream = \"127.0.0.1:2\"\n{extra}\n")
    };
    let text = format!(
        "{}{}{}{}[[user]]\nname = \"alice\"\n\n[sso]\norigin = \"http://localhost:1\"\nname = \"Example\"\nkey_file = \"{}\"\n",
        app("wiki", 11, ""),
        app("ro", 12, "access = \"read\""),
        app("own", 13, "sso = false"),
        app("admin", 14, "step_up_paths = [\"/admin\"]"),
        dir.path().join("keys.json").display()
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("qrgate");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    for line in [
        "sso app wiki: signs in at http://localhost:1",
        "sso app ro: its own approval (a reduced grant: access or access_paths)",
        "sso app own: its own approval (sso = false)",
        "sso app admin: its own approval (it has step-up paths)",
    ] {
        assert!(said.contains(line), "{line} in\n{said}");
    }
    assert!(!said.contains("sso app Example"), "{said}");
}

#[tokio::test]
async fn a_device_bound_to_some_apps_opens_only_those() {
    let (gw, _dir) = started().await;
    let s = gw.state.settings();
    let sso = s.config.sso_app().expect("sso");
    let a = s.config.app_by_name("App A").expect("a");
    // An operator's invitation: the device signs in at the SSO origin and to app A only.
    let invited = qrgate_core::control::enrollment::invite_to(
        &gw.state,
        &s,
        sso,
        &[a],
        "alice",
        qrgate_core::control::enrollment::DEFAULT_TTL,
        "operator",
    )
    .await
    .expect("invite");
    let device = qrgate::cli::signer::Key::generate();
    qrgate::cli::signer::enroll(&phone(&gw), &invited.link, &device)
        .await
        .expect("enrolled");
    let b = browser(&gw);
    approve_by(&gw, &b, "/", "Example", &device).await;
    open_app(&b, A).await;
    let issue = to_sso(&b, B).await;
    let (status, loc, page) = get(&b, &issue).await;
    assert_eq!((status, loc.as_str()), (403, ""), "{page}");
    assert!(page.contains("Not allowed"), "{page}");
    assert!(!signed_in(&b, B).await);
}

/// An app session made through single sign-on stands on its sign-on: a person the `[sso]`
/// lists now leave out loses it at the next request, whatever the app itself allows.
#[tokio::test]
async fn an_app_session_of_a_sign_on_ends_when_the_sso_lists_leave_the_person_out() {
    let (gw, _dir) = started().await;
    let b = browser(&gw);
    approve_at_sso(&gw, &b, "/").await;
    open_app(&b, A).await;
    assert!(signed_in(&b, A).await);
    let parse = |text: &str| {
        qrgate_core::config::Config::parse(text, std::path::Path::new("test.toml")).expect("config")
    };
    let shut_out = gw.config_text.replace(
        "name = \"Example\"\n",
        "name = \"Example\"\nallow_users = [\"bob\"]\n",
    ) + "\n[[user]]\nname = \"bob\"\n";
    assert_ne!(shut_out, gw.config_text);
    gw.proxy.reload(parse(&shut_out)).expect("reload");
    assert!(
        !signed_in(&b, A).await,
        "the sign-on no longer lets alice in"
    );
    gw.proxy.reload(parse(&gw.config_text)).expect("reload");
    assert!(
        signed_in(&b, A).await,
        "the session itself was never the problem"
    );
}

/// Without `[sso]` no sign-on stands behind an app session made through it: refused, not
/// taken for an ordinary session of the app.
#[tokio::test]
async fn an_app_session_of_a_sign_on_is_refused_once_sso_is_gone() {
    let (gw, _dir) = started().await;
    let b = browser(&gw);
    approve_at_sso(&gw, &b, "/").await;
    open_app(&b, A).await;
    assert!(signed_in(&b, A).await);
    let start = gw.config_text.find("\n[sso]\n").expect("[sso]");
    let without = &gw.config_text[..start];
    let config = qrgate_core::config::Config::parse(without, std::path::Path::new("test.toml"))
        .expect("config");
    gw.proxy.reload(config).expect("reload");
    assert!(!signed_in(&b, A).await);
}
