//! Devices enrolled by invitation, through the real gateway: invitations from the operator's
//! CLI and admin API and from a signed-in person's own page, enrollment with proof of
//! possession, single use, sign-in with an enrolled key, the state file, revocation, and the
//! approval page a phone's camera opens. (The same in a real browser: `browser.rs`.)

use std::process::Command;

use serde_json::Value;

use crate::common::{
    alice_key, approve_attempt, browser, client, echoed_headers, invite_own, open_login_at,
    own_action, sign_in_at, sign_in_key, TestGateway,
};
use crate::operate::{alice, Binary};
use qrgate::signer::{self, Key};

/// `X-Auth-User` and `X-Auth-Pubkey` the upstream saw on a request from `b` (None: refused).
async fn upstream_identity(b: &reqwest::Client, base: &str) -> Option<(String, String)> {
    let resp = b
        .get(format!("{base}/app"))
        .header("accept", "application/json")
        .send()
        .await
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    let echo: Value = resp.json().await.ok()?;
    let headers = echoed_headers(&echo);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    Some((get("x-auth-user")?, get("x-auth-pubkey")?))
}

/// Posts an enrollment body to `link`; returns the status and the JSON answer.
async fn post_enrollment(link: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(link)
        .json(&body)
        .send()
        .await
        .expect("answer");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn cli(gw: &Binary, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(args)
        .arg("--config")
        .arg(gw.config_path())
        .output()
        .expect("run qrgate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn link_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.contains("/.qrgate/enroll/"))
        .unwrap_or_else(|| panic!("a link in {text}"))
        .to_string()
}

#[tokio::test]
async fn an_operator_invites_a_device_that_enrolls_once_signs_in_survives_a_restart_and_is_revoked()
{
    let admin = crate::common::free_port();
    let mut gw = Binary::start(
        "state_file = \"state.json\"",
        &format!(
            "{}\n[[user]]\nname = \"bob\"\nroles = [\"staff\"]\n\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n",
            alice("\"staff\"")
        ),
    )
    .await;
    crate::common::write_private(&gw.dir.path().join("admin.token"), "s3cret\n");
    crate::common::admin_up(admin).await;
    let api = format!("http://127.0.0.1:{admin}");
    let c = client();

    // The admin API refuses without the token, and refuses bad invitations with a 4xx.
    let r = c
        .post(format!("{api}/invites?user=bob"))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 401);
    for (query, code) in [
        ("", "bad_query"),
        ("user=mallory", "unknown_user"),
        ("user=bob&ttl=5", "bad_ttl"),
        ("user=bob&app=nope", "unknown_app"),
        ("user=bob&colour=red", "bad_query"),
    ] {
        let r = c
            .post(format!("{api}/invites?{query}"))
            .bearer_auth("s3cret")
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"], code, "{query}");
    }

    // `qrgate invite` prints a one-time link and draws it as a QR code.
    let (ok, out) = cli(&gw, &["invite", "--user", "bob", "--ttl", "10m"]);
    assert!(ok, "{out}");
    assert!(out.contains("Invitation for bob on a"), "{out}");
    assert!(out.contains('█') || out.contains('▀'), "a QR code: {out}");
    let link = link_in(&out);
    assert!(
        link.starts_with(&format!("{}/.qrgate/enroll/", gw.base)),
        "{link}"
    );

    // A browser opening the link gets the enrollment page; a program the facts.
    let page = browser()
        .get(&link)
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Add this phone") && html.contains("bob"),
        "{html}"
    );
    assert!(csp.contains("script-src 'nonce-"), "{csp}");

    // Refusals change nothing: a signature over another user's text, or by another key
    // than the one named, leaves the invitation usable.
    let phone = Key::generate();
    let token = link.rsplit('/').next().expect("token").to_string();
    let text = qrgate_core::enrollment::message(&gw.base, "alice", &token, &phone.public());
    let (status, body) = post_enrollment(
        &link,
        serde_json::json!({"public_key": phone.public().to_hex(), "signature": hex::encode(phone.sign(text.as_bytes()))}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("bad_signature"))
    );
    let impostor = Key::generate();
    let text = qrgate_core::enrollment::message(&gw.base, "bob", &token, &phone.public());
    let (status, _) = post_enrollment(
        &link,
        serde_json::json!({"public_key": phone.public().to_hex(), "signature": hex::encode(impostor.sign(text.as_bytes()))}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = post_enrollment(&link, serde_json::json!({"public_key": 1})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_json")));

    // The real enrollment; then the link is used up, for any key.
    assert_eq!(
        signer::enroll(&c, &link, &phone).await.expect("enrolled"),
        "bob"
    );
    let again = signer::enroll(&c, &link, &Key::generate()).await;
    assert!(
        matches!(again, Err(signer::SignerError::Refused { status: 410, .. })),
        "{again:?}"
    );
    let used = browser()
        .get(&link)
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    assert_eq!(used.status(), 410);

    // The enrolled key signs in as bob: his roles, the device's key.
    let (b, _) = sign_in_key(&gw.base, browser(), client(), &phone).await;
    assert_eq!(
        upstream_identity(&b, &gw.base).await,
        Some(("bob".into(), phone.public().to_z32()))
    );
    let (ok, out) = cli(&gw, &["devices", "list"]);
    assert!(ok && out.starts_with("1 device(s)"), "{out}");
    assert!(
        out.contains("bob") && out.contains(&phone.public().to_z32()),
        "{out}"
    );

    // Devices and the session survive a restart through the state file.
    gw.stop().await;
    let state_path = gw.dir.path().join("state.json");
    let state = std::fs::read_to_string(&state_path).expect("state");
    assert!(state.contains(&phone.public().to_hex()), "{state}");
    // As an older version wrote it: no `apps`, only the app it was enrolled on.
    let mut old: Value = serde_json::from_str(&state).expect("json");
    for d in old["devices"].as_array_mut().expect("devices") {
        assert_eq!(d["apps"], serde_json::json!(["a"]), "{d}");
        d.as_object_mut().expect("object").remove("apps");
    }
    std::fs::write(&state_path, old.to_string()).expect("write");
    gw.child = gw.spawn();
    gw.wait_up().await;
    assert_eq!(
        upstream_identity(&b, &gw.base).await.map(|(u, _)| u),
        Some("bob".into()),
        "the session survived"
    );
    let (again, _) = sign_in_key(&gw.base, browser(), client(), &phone).await;
    assert_eq!(
        upstream_identity(&again, &gw.base).await.map(|(u, _)| u),
        Some("bob".into()),
        "a device recorded without apps signs in to the app it was enrolled on"
    );

    // Revoking the device ends its sessions, and its approvals are refused from then on.
    let (ok, out) = cli(&gw, &["devices", "revoke"]);
    assert!(!ok && out.contains("say which devices"), "{out}");
    let (ok, out) = cli(&gw, &["devices", "revoke", "--user", "bob"]);
    assert!(
        ok && out.contains("removed 1 device(s), ended 2 session(s)"),
        "{out}"
    );
    assert_eq!(upstream_identity(&b, &gw.base).await, None);
    let b2 = browser();
    let (_, payload, _) = open_login_at(&gw.base, &b2, "/").await;
    let url = signer::attempt_url(&payload).expect("url");
    let req = signer::scan(&c, &url).await.expect("scan");
    let refused = signer::approve(&c, &url, &phone, &req).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "{refused:?}"
    );
    // Alice, configured with her own key, is untouched.
    let (a, _) = sign_in_at(&gw.base).await;
    assert_eq!(
        upstream_identity(&a, &gw.base).await.map(|(u, _)| u),
        Some("alice".into())
    );
    let log = gw.log();
    for event in [
        "invitation_created",
        "device_enrolled",
        "enrollment_refused",
        "device_revoked",
    ] {
        assert!(log.contains(event), "audit {event}: {log}");
    }
    assert!(!log.contains(&token), "no invitation token in the log");
}

#[tokio::test]
async fn a_signed_in_person_invites_a_phone_of_their_own_from_the_sessions_page() {
    let gw = TestGateway::start().await;
    let base = gw.url("");
    let (b, _) = sign_in_at(&base).await;
    let page = b
        .get(gw.url("/.qrgate/sessions"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("/.qrgate/invite"),
        "the page offers to add a phone"
    );

    // Only from the app's own pages, and only with a session.
    let invite = |c: &reqwest::Client, origin: &str, form: String| {
        c.post(gw.url("/.qrgate/invite"))
            .header("origin", origin)
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    let r = invite(&b, "https://evil.example", String::new())
        .await
        .expect("answer");
    assert_eq!(r.status(), 403);
    let r = invite(&browser(), &base, String::new())
        .await
        .expect("answer");
    assert_eq!(r.status(), 401);
    let r = invite(&b, &base, "confirm=x&confirm=y".into())
        .await
        .expect("answer");
    assert_eq!(r.status(), 400, "a form naming two attempts");

    // The page asks for a phone's confirmation of this action; no link yet.
    let r = invite(&b, &base, String::new()).await.expect("answer");
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("html");
    assert!(html.contains("add a new device for alice"), "{html}");
    assert!(html.contains("<svg"), "a QR code to approve with");
    assert!(
        html.contains("action=\"/.qrgate/invite\""),
        "collected by the invite form"
    );
    assert!(!html.contains("/.qrgate/enroll/"), "no invitation yet");
    let marker = "data-attempt=\"";
    let at = html.find(marker).expect("attempt id") + marker.len();
    let id = html[at..].split('"').next().expect("id").to_string();
    // The phone's approval page says what it approves: not a sign-in.
    let approval = client()
        .get(gw.url(&format!("/.qrgate/auth/session/{id}")))
        .header("accept", "text/html")
        .send()
        .await
        .expect("approval page")
        .text()
        .await
        .expect("html");
    assert!(
        approval.contains("Confirm: add a new device for alice?")
            && approval.contains("This is not a sign-in"),
        "{approval}"
    );
    let (_, approved) = approve_attempt(&base, &id, &alice_key()).await;
    approved.expect("alice's own key approves");
    let r = invite(&b, &base, format!("confirm={id}"))
        .await
        .expect("answer");
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("html");
    assert!(html.contains("<svg"), "the link as a QR code");
    let link = html
        .split(['<', '>'])
        .find(|t| t.contains("/.qrgate/enroll/"))
        .expect("the link as text")
        .trim()
        .to_string();
    // Collected once.
    let again = invite(&b, &base, format!("confirm={id}"))
        .await
        .expect("answer");
    assert_eq!(again.status(), 404, "the confirmation is used up");
    let phone = Key::generate();
    assert_eq!(
        signer::enroll(&client(), &link, &phone)
            .await
            .expect("enrolled"),
        "alice"
    );
    // The phone is alice's second key: it signs in as alice, and may itself confirm the
    // next device.
    let (p, _) = sign_in_key(&base, browser(), client(), &phone).await;
    assert_eq!(
        upstream_identity(&p, &base).await,
        Some(("alice".into(), phone.public().to_z32()))
    );
    // A key that is someone's already (configured, or enrolled) cannot be enrolled again.
    let alice = alice_key();
    for key in [&alice, &phone] {
        let link = invite_own(&b, &base, &phone).await;
        let taken = signer::enroll(&client(), &link, key).await;
        assert!(
            matches!(taken, Err(signer::SignerError::Refused { status: 409, .. })),
            "{taken:?}"
        );
    }
}

/// The class of item "a script on the app's origin adds a key of its own": a session of any
/// age, however fresh, never suffices to make an invitation; only an approval of this very
/// action by one of the person's keys does, collected by the browser and session that asked.
#[tokio::test]
async fn adding_a_device_needs_a_phone_approval_of_that_action_whatever_the_session() {
    let gw = TestGateway::with(crate::common::Setup {
        tail: format!(
            "[[user]]\nname = \"bob\"\nkey = \"{}\"\n",
            bob().public().to_z32()
        ),
        ..crate::common::Setup::default()
    })
    .await;
    let base = gw.url("");
    // Seconds after the login: the session itself is not an approval of anything else.
    let (b, _) = sign_in_at(&base).await;
    let (status, started) = own_action(&b, &base, "invite", "").await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["status"], "confirm");
    assert_eq!(started["action"], "add a new device for alice");
    assert!(started.get("link").is_none(), "no link for a session alone");
    let id = started["id"].as_str().expect("id").to_string();
    // Collecting before any approval: nothing.
    let (status, body) = own_action(&b, &base, "invite", &format!("confirm={id}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("not_approved"))
    );

    // Another person's key cannot approve it (and the attempt stays open).
    let (seen, refused) = approve_attempt(&base, &id, &bob()).await;
    assert_eq!(seen.action.as_deref(), Some("add a new device for alice"));
    assert!(seen.message.starts_with("qrgate-action-v1\n"));
    assert!(
        matches!(refused, Err(signer::SignerError::Refused { status: 403, ref message }) if message.contains("alice")),
        "{refused:?}"
    );
    // Approved by alice's key: still not claimable as a session, nor by a session's claim.
    let (_, approved) = approve_attempt(&base, &id, &alice_key()).await;
    approved.expect("alice approves");
    let claimed = crate::common::claim_at(&b, &base, &base, &id).await;
    assert_eq!(claimed.status(), 403);
    assert!(claimed.headers().get("set-cookie").is_none(), "no session");
    let body: Value = claimed.json().await.expect("json");
    assert_eq!(body["error"], "other_purpose");
    // Nor by another browser signed in as alice (another session and binding).
    let (other, _) = sign_in_at(&base).await;
    let (status, _) = own_action(&other, &base, "invite", &format!("confirm={id}")).await;
    assert_eq!(status, 401, "only the session that asked");
    // The asking browser collects it, once.
    let (status, invited) = own_action(&b, &base, "invite", &format!("confirm={id}")).await;
    assert_eq!(status, 200, "{invited}");
    assert!(invited["link"]
        .as_str()
        .is_some_and(|l| l.contains("/.qrgate/enroll/")));

    // An old session needs the same, and no more: its age does not matter.
    gw.clock.advance(std::time::Duration::from_secs(50));
    let link = invite_own(&b, &base, &alice_key()).await;
    assert!(gw.invitation_open(&link).await);
}

/// Bob's key (a second configured user).
fn bob() -> Key {
    Key::parse(&"b0".repeat(32)).expect("key")
}

#[tokio::test]
async fn the_native_qr_opens_an_approval_page_in_a_browser_and_programs_see_no_change() {
    let gw = TestGateway::start().await;
    let b = browser();
    let (id, payload, _) = open_login_at(&gw.url(""), &b, "/").await;
    assert_eq!(payload, gw.url(&format!("/.qrgate/auth/session/{id}")));
    let phone = client();
    let page = phone
        .get(&payload)
        .header("accept", "text/html,application/xhtml+xml")
        .header(
            "user-agent",
            "Mozilla/5.0 (Linux; Android 14) Chrome/140.0 Mobile Safari/537.36",
        )
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    for shown in ["Test app", &gw.url(""), "127.0.0.1", "Approve", "Decline"] {
        assert!(html.contains(shown), "the page shows {shown}");
    }
    // Opening the page changes nothing: the attempt is still pending.
    let a = gw.state.logins.get(&id).await.expect("attempt");
    assert!(matches!(
        &*gw.state.logins.watch(&a).borrow(),
        qrgate_core::attempts::Status::Pending
    ));
    // A program asking for JSON is served no page, and changes nothing: 404, never a 405
    // whose Allow would name the GET it refused.
    let json = phone
        .get(&payload)
        .header("accept", "application/json")
        .send()
        .await
        .expect("json");
    assert_eq!(json.status(), 404);
    assert!(json.headers().get("allow").is_none());
    // An unknown or finished attempt is a page saying so, not a 5xx.
    let gone = phone
        .get(gw.url("/.qrgate/auth/session/sess_0000000000000000"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    assert_eq!(gone.status(), 404);
    assert!(gone
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html")));
}

#[tokio::test]
async fn enrollment_is_rate_limited_like_a_signer_and_a_limited_attempt_uses_nothing() {
    let gw = TestGateway::with(crate::common::Setup {
        limits: "signer_per_minute = 2\ncreate_per_minute = 100000\n".into(),
        ..crate::common::Setup::default()
    })
    .await;
    let invited = gw.invite("alice").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _) = post_enrollment(&invited.link, serde_json::json!({})).await;
        statuses.push(status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 400 || *s == 429),
        "{statuses:?}"
    );
    // Neither the refusals nor the limit used the invitation.
    assert!(gw.invitation_open(&invited.link).await);
}

/// The second app's origin in the two-app tests; its host resolves to the gateway.
const OTHER: &str = "http://b.test";

/// A client whose requests for `b.test` reach `addr` (with a cookie store: a browser).
fn via(addr: std::net::SocketAddr, cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .resolve("b.test", addr)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A demo upstream of the test's own; returns its address.
async fn demo_upstream() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(qrgate::demo::serve(l));
    addr
}

/// `[[app]]` "b" on [`OTHER`], in front of `upstream`.
fn other_app(name: &str, upstream: std::net::SocketAddr) -> String {
    format!("[[app]]\nname = \"{name}\"\norigin = \"{OTHER}\"\nhosts = [\"b.test\"]\nupstream = \"{upstream}\"\n")
}

/// A login on `base` approved by `key`, through clients `b` and `phone`: the approval's
/// answer (the claim is not made).
async fn approve_with(
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
        .sessions
        .create(
            s.app(other).key.clone(),
            *phone.public().as_bytes(),
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
        .sessions
        .create(
            s.app(qrgate_core::config::AppId::new(0)).key.clone(),
            *phone.public().as_bytes(),
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
    let apps_of_phone = || async {
        let listed: Value = client()
            .get(format!(
                "http://127.0.0.1:{admin}/devices?key={}",
                phone.public().to_z32()
            ))
            .bearer_auth("s3cret")
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(listed["devices"][0]["apps"].clone())
    };
    let narrowed = crate::common::eventually(std::time::Duration::from_secs(10), || async {
        apps_of_phone().await == Some(serde_json::json!(["a"]))
    })
    .await;
    assert!(narrowed, "{:?}: {}", apps_of_phone().await, gw.log());
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

/// Configured users alice, and each of `others` with role staff, and an admin listener on
/// `admin`.
fn users(admin: u16, others: &[&str]) -> String {
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
async fn listed(admin: u16) -> Vec<String> {
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
async fn invite_link(admin: u16, user: &str) -> Option<String> {
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
        gw.state.devices.is_empty()
    })
    .await;
    assert!(gone, "the review removed the device");
    assert!(!gw.state.devices.is_retired("bob"), "and released the name");
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
        .sessions
        .create(
            gw.state
                .settings()
                .app(qrgate_core::config::AppId::new(0))
                .key
                .clone(),
            *crate::common::alice_key().public().as_bytes(),
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
        gw.state.devices.is_empty()
    })
    .await;
    assert!(
        gone,
        "the review removed the device: {:?}",
        gw.state.devices.list()
    );
    assert!(
        !gw.state.devices.is_retired_app("Test app"),
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
        .sessions
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
    let apps_of_phone = || async {
        let listed: Value = client()
            .get(format!(
                "http://127.0.0.1:{admin}/devices?key={}",
                phone.public().to_z32()
            ))
            .bearer_auth("s3cret")
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(listed["devices"][0]["apps"].clone())
    };
    let narrowed = crate::common::eventually(std::time::Duration::from_secs(10), || async {
        apps_of_phone().await == Some(serde_json::json!(["a"]))
    })
    .await;
    assert!(narrowed, "{:?}: {}", apps_of_phone().await, gw.log());
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
    gw.state.devices.retire(retired.clone());
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
        .device_store
        .withdraw(&|_| false, 0)
        .await
        .expect("store");
    assert!(stored.is_empty(), "{stored:?}");
    // Once the review is done, the same request makes one.
    gw.state.devices.release(&retired);
    let link = invite_own(&b, &base, &alice_key()).await;
    assert!(gw.invitation_open(&link).await);
}
