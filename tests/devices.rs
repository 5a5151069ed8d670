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
use qrgate::cli::signer::{self, Key};

/// `X-Auth-User` and `X-Auth-Pubkey` the upstream saw on a request from `b` (None: refused).
pub(crate) async fn upstream_identity(b: &reqwest::Client, base: &str) -> Option<(String, String)> {
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
pub(crate) async fn post_enrollment(link: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(link)
        .json(&body)
        .send()
        .await
        .expect("answer");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) fn cli(gw: &Binary, args: &[&str]) -> (bool, String) {
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

pub(crate) fn link_in(text: &str) -> String {
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
    let text =
        qrgate_core::control::enrollment::message(&gw.base, "alice", &token, &phone.public());
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
    let text = qrgate_core::control::enrollment::message(&gw.base, "bob", &token, &phone.public());
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
    let a = gw.state.logins().get(&id).await.expect("attempt");
    assert!(matches!(
        &*gw.state.logins().watch(&a).borrow(),
        qrgate_core::login::attempts::Status::Pending
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
