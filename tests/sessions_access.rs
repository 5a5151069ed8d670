//! What a session lets through: websockets a session let in close when it ends (logout,
//! expiry, loss of access), step-up paths need a fresh approval by the same key, and a
//! session's grant (read-only with exceptions) holds across a reload.

use std::time::Duration;

use crate::common::{alice_key, browser, client, sign_in_at, Setup, TestGateway, NAV};
use qrgate::cli::signer::{self};

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
    let bob = qrgate::cli::signer::Key::generate();
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
    let url = qrgate::cli::signer::attempt_url(&gw.url(&format!("/.qrgate/auth/session/{id}")))
        .expect("url");
    let phone = crate::common::client();
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    // Another registered key cannot confirm alice's session.
    let by_bob = qrgate::cli::signer::approve(&phone, &url, &bob, &req).await;
    assert!(by_bob.is_err(), "{by_bob:?}");
    qrgate::cli::signer::approve(&phone, &url, &crate::common::alice_key(), &req)
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
    let url = qrgate::cli::signer::attempt_url(&payload).expect("url");
    let phone = crate::common::client();
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    assert_eq!(req.access.as_deref(), Some("read-write /comments/, read /"));
    assert!(
        req.message
            .ends_with("access: read-write /comments/, read /\n"),
        "{}",
        req.message
    );
    qrgate::cli::signer::approve(&phone, &url, &crate::common::alice_key(), &req)
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
    config.apps[0].grant = qrgate_core::identity::access::Grant::full();
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

/// A websocket a program's bearer token opened ends within a second of the token's grant
/// ending, as a session's does.
#[tokio::test]
async fn revoking_a_programs_grant_closes_its_websocket_within_a_second() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let upstream = websocket_echo().await;
    let dir = tempfile::tempdir().expect("dir");
    let gw = TestGateway::with(Setup {
        upstream: Some(upstream.to_string()),
        app_extra: "programs = true\n".into(),
        tail: format!(
            "\n[sso]\norigin = \"http://localhost:{{gateway_port}}\"\nname = \"Example\"\nkey_file = \"{}\"\n",
            dir.path().join("oidc-keys.json").display()
        ),
        ..Setup::default()
    })
    .await;
    let token = crate::programs_device::approved_token(
        &gw,
        &crate::common::alice_key(),
        &["app:Test%20app"],
    )
    .await;
    let mut req = format!("ws://{}/socket", gw.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!(
            "Bearer {}",
            oauth2::TokenResponse::access_token(&token).secret()
        )
        .parse()
        .expect("header"),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket through the gateway");
    assert_eq!(resp.status(), 101);
    assert!(!closes_within(&mut ws, Duration::from_millis(300)).await);
    let alice = qrgate_core::control::Filter {
        user: Some("alice".into()),
        ..qrgate_core::control::Filter::default()
    };
    qrgate_core::control::revoke(&gw.state, &gw.state.settings(), &alice, "operator")
        .await
        .expect("revoke");
    assert!(
        closes_within(&mut ws, Duration::from_millis(1500)).await,
        "closed once its grant ended"
    );
}
