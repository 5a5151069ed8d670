//! What ending a session does: the person's own sessions page (every session of their key,
//! sign out one, all others, or everywhere; forms only from the app's own origin), and
//! websockets a session let in closing when it ends (logout, expiry, loss of access).

use std::time::Duration;

use crate::common::{sign_in_at, Setup, TestGateway, NAV};

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
async fn websocket_echo() -> std::net::SocketAddr {
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
