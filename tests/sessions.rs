//! What ending a session does: the person's own sessions page (every key and every session
//! of their user, sign out one, all others, or everywhere, remove a device with another
//! key's approval; forms only from the app's own origin), and
//! websockets a session let in closing when it ends (logout, expiry, loss of access).

use std::time::Duration;

use serde_json::Value;

use crate::common::{
    alice_key, approve_attempt, browser, client, invite_own, own_action, sign_in_at, sign_in_key,
    Setup, TestGateway, NAV,
};
use qrgate::signer::{self, Key};

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
    let device = qrgate_core::devices::device_id(phone.public().as_bytes());
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
    assert!(gw.state.devices.is_empty());
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
        qrgate_core::devices::device_id(only.public().as_bytes())
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
            .sessions
            .create(app.clone(), other(i % 200), Default::default())
            .await
            .expect("memory store");
    }
    let (b1, _) = sign_in_at(&base).await;
    let (b2, t2) = sign_in_at(&base).await;
    // The first thousand are now past the 60 s idle window; the sweeper frees them.
    gw.clock.advance(Duration::from_secs(30));
    let swept = crate::common::eventually(Duration::from_secs(10), || async {
        gw.state.sessions.len() == 1002
    })
    .await;
    assert!(swept, "{} sessions left", gw.state.sessions.len());

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
    let left = gw.state.sessions.export().await.expect("export");
    assert_eq!(left.len(), 1000, "every other live session is untouched");
    assert!(
        left.iter()
            .all(|(_, r)| r.key[4..].iter().all(|&b| b == 0x5a)),
        "and only they are left"
    );
}

/// A websocket upstream that echoes every message.
pub(crate) async fn websocket_echo() -> std::net::SocketAddr {
    use futures_util::{SinkExt, StreamExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a websocket through the gateway with `token` as the session cookie, and checks it
/// echoes.
async fn open_socket(gw: &TestGateway, token: &str) -> Socket {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let mut req = format!("ws://{}/socket", gw.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "cookie",
        format!("qrgate_session={token}").parse().expect("cookie"),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket through the gateway");
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("ping")).await.expect("send");
    let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("echo in time");
    assert!(matches!(echoed, Some(Ok(Message::Text(t))) if t.as_str() == "ping"));
    ws
}

/// Whether the socket is closed within `within` (reads until the end of the stream).
async fn closes_within(ws: &mut Socket, within: Duration) -> bool {
    use futures_util::StreamExt;
    let end = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end, ws.next()).await {
            Err(_) => return false,
            Ok(None) | Ok(Some(Err(_))) => return true,
            Ok(Some(Ok(m))) if m.is_close() => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test]
async fn ending_a_session_closes_its_websockets_within_a_second() {
    let upstream = websocket_echo().await;
    let gw = TestGateway::with(Setup {
        upstream: Some(upstream.to_string()),
        ..Setup::default()
    })
    .await;
    let base = gw.url("");
    let origin = base.trim_end_matches('/').to_string();

    // Logout.
    let (b, token) = sign_in_at(&base).await;
    let mut ws = open_socket(&gw, &token).await;
    let (_, other) = sign_in_at(&base).await;
    let mut unrelated = open_socket(&gw, &other).await;
    let out = b
        .post(gw.url("/.qrgate/logout"))
        .header("origin", &origin)
        .header("accept", "application/json")
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);
    assert!(
        closes_within(&mut ws, Duration::from_secs(1)).await,
        "closed on logout"
    );
    assert!(
        !closes_within(&mut unrelated, Duration::from_millis(300)).await,
        "another session's socket stays open"
    );

    // Expiry: the idle timeout passes without a request.
    gw.clock.advance(Duration::from_secs(61));
    assert!(
        closes_within(&mut unrelated, Duration::from_millis(1500)).await,
        "closed once its session expired"
    );

    // A reload that takes the user's access away.
    let (_, third) = sign_in_at(&base).await;
    let mut ws = open_socket(&gw, &third).await;
    let mut config = gw.state.settings().config.clone();
    config.apps[0].allow_users = vec!["bob".into()];
    gw.proxy.reload(config).expect("reload");
    assert!(
        closes_within(&mut ws, Duration::from_secs(1)).await,
        "closed after losing access"
    );
}

#[tokio::test]
async fn step_up_paths_need_a_fresh_approval_by_the_same_key() {
    let bob = qrgate::signer::Key::generate();
    let gw = TestGateway::with(Setup {
        app_extra: "step_up_paths = [\"/admin/\"]\nstep_up_max_age_seconds = 30\n".into(),
        tail: format!(
            "[[user]]\nname = \"bob\"\nkey = \"ed25519_{}\"\nroles = [\"staff\"]\n",
            bob.public().to_hex()
        ),
        ..Setup::default()
    })
    .await;
    let base = gw.url("");
    let origin = base.trim_end_matches('/').to_string();
    let (b, _) = sign_in_at(&base).await;
    let get =
        |path: &str, accept: &'static str| b.get(gw.url(path)).header("accept", accept).send();
    assert_eq!(
        get("/admin/x", "application/json")
            .await
            .expect("answer")
            .status(),
        200,
        "just approved"
    );

    gw.clock.advance(Duration::from_secs(31));
    let json = get("/admin/x?y=1", "application/json")
        .await
        .expect("answer");
    assert_eq!(json.status(), 403);
    let body: serde_json::Value = json.json().await.expect("json");
    assert_eq!(body["error"], "step_up_required");
    assert_eq!(body["step_up"], "/.qrgate/step-up?rd=%2Fadmin%2Fx%3Fy%3D1");
    let nav = get("/admin/x", NAV).await.expect("answer");
    assert_eq!(nav.status(), 302);
    assert_eq!(
        nav.headers()["location"],
        "/.qrgate/step-up?rd=%2Fadmin%2Fx"
    );
    assert_eq!(
        get("/elsewhere", "application/json")
            .await
            .expect("answer")
            .status(),
        200,
        "other paths unaffected"
    );

    let page = get("/.qrgate/step-up?rd=%2Fadmin%2Fx", NAV)
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("Confirm it is you"), "{html}");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let url =
        qrgate::signer::attempt_url(&gw.url(&format!("/.qrgate/auth/session/{id}"))).expect("url");
    let phone = crate::common::client();
    let req = qrgate::signer::scan(&phone, &url).await.expect("scan");
    // Another registered key cannot confirm alice's session.
    let by_bob = qrgate::signer::approve(&phone, &url, &bob, &req).await;
    assert!(by_bob.is_err(), "{by_bob:?}");
    qrgate::signer::approve(&phone, &url, &crate::common::alice_key(), &req)
        .await
        .expect("alice confirms");
    let claimed = crate::common::claim_at(&b, base.trim_end_matches('/'), &origin, &id).await;
    assert_eq!(claimed.status(), 200);
    assert!(
        claimed.headers().get("set-cookie").is_none(),
        "the same session, no new token"
    );
    let body: serde_json::Value = claimed.json().await.expect("json");
    assert_eq!(body["redirect"], "/admin/x");
    assert_eq!(
        get("/admin/x", "application/json")
            .await
            .expect("answer")
            .status(),
        200,
        "confirmed"
    );
}

const READ_ONLY_BUT_COMMENTS: &str = "access = \"read\"\naccess_paths = [{ path = \"/comments/\", access = \"read-write\" }]\nsigners = [\"native\", \"pubky\", \"tana\"]\n";

#[tokio::test]
async fn a_read_only_session_can_read_but_not_write_outside_its_grant() {
    let gw = TestGateway::with(Setup {
        app_extra: READ_ONLY_BUT_COMMENTS.into(),
        ..Setup::default()
    })
    .await;
    let base = gw.url("");
    // The phone is asked for exactly this grant: in the native challenge it signs.
    let b = crate::common::browser();
    let (id, payload, _) = crate::common::open_login_at(&base, &b, "/").await;
    let url = qrgate::signer::attempt_url(&payload).expect("url");
    let phone = crate::common::client();
    let req = qrgate::signer::scan(&phone, &url).await.expect("scan");
    assert_eq!(req.access.as_deref(), Some("read-write /comments/, read /"));
    assert!(
        req.message
            .ends_with("access: read-write /comments/, read /\n"),
        "{}",
        req.message
    );
    qrgate::signer::approve(&phone, &url, &crate::common::alice_key(), &req)
        .await
        .expect("approve");
    let origin = base.trim_end_matches('/').to_string();
    let claimed = crate::common::claim_at(&b, base.trim_end_matches('/'), &origin, &id).await;
    assert_eq!(claimed.status(), 200);

    let send = |method: reqwest::Method, path: &str, accept: &'static str| {
        b.request(method, gw.url(path))
            .header("accept", accept)
            .send()
    };
    use reqwest::Method;
    for (method, path, want) in [
        (Method::GET, "/doc", 200),
        (Method::HEAD, "/doc", 200),
        (Method::POST, "/doc", 403),
        (Method::DELETE, "/doc", 403),
        (Method::POST, "/comments/7", 200),
        (Method::PUT, "/comments/7", 200),
    ] {
        let status = send(method.clone(), path, "application/json")
            .await
            .expect("answer")
            .status();
        assert_eq!(status, want, "{method} {path}");
    }
    // A websocket opens with a GET but then carries anything: it needs read-write.
    let upgrade = |path: &str| {
        b.get(gw.url(path))
            .header("accept", "application/json")
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .send()
    };
    assert_eq!(upgrade("/doc").await.expect("answer").status(), 403);
    assert_ne!(
        upgrade("/comments/live").await.expect("answer").status(),
        403
    );
    let refused = send(Method::POST, "/doc", "application/json")
        .await
        .expect("answer");
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "outside_grant");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("read access")),
        "{body}"
    );
    let page = send(Method::POST, "/doc", NAV).await.expect("answer");
    assert_eq!(page.status(), 403);
    assert!(page
        .text()
        .await
        .expect("html")
        .contains("Not allowed with this sign-in"));

    // The session keeps what it was granted, whatever the config says later.
    let mut config = gw.state.settings().config.clone();
    config.apps[0].grant = qrgate_core::access::Grant::full();
    gw.proxy.reload(config).expect("reload");
    assert_eq!(
        send(Method::POST, "/doc", "application/json")
            .await
            .expect("answer")
            .status(),
        403,
        "a reload never widens a session already held"
    );
}

#[tokio::test]
async fn a_login_shows_and_grants_the_grant_it_was_made_for_across_a_reload() {
    let gw = TestGateway::with(Setup {
        app_extra: READ_ONLY_BUT_COMMENTS.into(),
        ..Setup::default()
    })
    .await;
    let base = gw.url("");
    let reload = |grant: &str| {
        let mut config = gw.state.settings().config.clone();
        config.apps[0].grant = grant.parse().expect("grant");
        gw.proxy.reload(config).expect("reload");
    };
    let login = |b: reqwest::Client| {
        let base = base.clone();
        async move {
            let (id, payload, _) = crate::common::open_login_at(&base, &b, "/").await;
            (b, id, signer::attempt_url(&payload).expect("url"))
        }
    };
    let phone = client();
    // Asked while the app grants read-only (but comments), answered after it grants all:
    // the scan answer shows what the message signs, and the session holds exactly that.
    let (reader, id, url) = login(browser()).await;
    reload("read-write /");
    let req = signer::scan(&phone, &url).await.expect("shown as signed");
    assert_eq!(req.access.as_deref(), Some("read-write /comments/, read /"));
    assert!(req
        .message
        .ends_with("access: read-write /comments/, read /\n"));
    signer::approve(&phone, &url, &alice_key(), &req)
        .await
        .expect("approve");
    let claimed = crate::common::claim_at(&reader, &base, &base, &id).await;
    assert_eq!(claimed.status(), 200);
    let write = |b: &reqwest::Client| {
        b.post(gw.url("/doc"))
            .header("accept", "application/json")
            .send()
    };
    assert_eq!(write(&reader).await.expect("answer").status(), 403);
    // And the reverse: asked under everything, answered under read-only.
    let (writer, id, url) = login(browser()).await;
    reload("read /");
    let req = signer::scan(&phone, &url).await.expect("shown as signed");
    assert_eq!(req.access, None);
    assert!(!req.message.contains("access:"), "{}", req.message);
    signer::approve(&phone, &url, &alice_key(), &req)
        .await
        .expect("approve");
    let claimed = crate::common::claim_at(&writer, &base, &base, &id).await;
    assert_eq!(claimed.status(), 200);
    assert_ne!(write(&writer).await.expect("answer").status(), 403);
}
