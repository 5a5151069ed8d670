//! The QR login flow end to end: a cookie-keeping client as the browser, the reference
//! signer as the phone, the real gateway and upstream in between.

use std::time::Duration;

use serde_json::Value;

use crate::common::{
    alice_key, browser, client, echoed_headers, open_login, read_until, send_until, Setup, Sse,
    TestGateway, NAV,
};
use qrgate::signer;

async fn claim(gw: &TestGateway, c: &reqwest::Client, id: &str) -> reqwest::Response {
    c.post(gw.url(&format!("/.qrgate/auth/session/{id}/claim")))
        .header("origin", format!("http://{}", gw.addr))
        .header("accept", "application/json")
        .send()
        .await
        .expect("claim")
}

async fn approve_raw(gw: &TestGateway, id: &str, body: String) -> (u16, Value) {
    let resp = client()
        .post(gw.url(&format!("/.qrgate/auth/session/{id}/approve")))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("approve");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The HTTP status of a refusal (0 for any other failure).
fn refused(e: &signer::SignerError) -> u16 {
    match e {
        signer::SignerError::Refused { status, .. } => *status,
        _ => 0,
    }
}

/// A browser opens the login page and the phone scans it: (browser, attempt id, attempt URL,
/// phone client, scan answer).
async fn scanned(
    gw: &TestGateway,
    rd: &str,
) -> (
    reqwest::Client,
    String,
    url::Url,
    reqwest::Client,
    signer::Request,
) {
    let b = browser();
    let (id, payload, _) = open_login(gw, &b, rd).await;
    let url = signer::attempt_url(&payload).expect("url");
    let c = client();
    let req = signer::scan(&c, &url).await.expect("scan");
    (b, id, url, c, req)
}

#[tokio::test]
async fn happy_path_lands_on_the_upstream_with_identity() {
    let gw = TestGateway::start().await;
    let b = browser();
    let first = b
        .get(gw.url("/reports?year=2026"))
        .header("accept", NAV)
        .send()
        .await
        .expect("visit");
    assert_eq!(first.status(), 302);
    let login_path = first.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert_eq!(login_path, "/.qrgate/login?rd=%2Freports%3Fyear%3D2026");
    let resp = b
        .get(gw.url(&login_path))
        .header("accept", NAV)
        .send()
        .await
        .expect("login page");
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("'nonce-"),
        "{csp}"
    );
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert_eq!(resp.headers()["referrer-policy"], "same-origin");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = resp.text().await.expect("html");
    assert!(html.contains("<svg") && html.contains("Sign in to Test app"));
    let id = html
        .split("data-attempt=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("id")
        .to_string();

    let mut events = Sse::open(&b, gw.url(&format!("/.qrgate/auth/session/{id}/events"))).await;
    assert_eq!(events.next().await.expect("pending").0, "pending");

    let url =
        signer::attempt_url(&gw.url(&format!("/.qrgate/auth/session/{id}"))).expect("payload");
    let c = client();
    let req = signer::scan(&c, &url).await.expect("scan");
    assert_eq!(req.app, "Test app");
    assert_eq!(req.origin, format!("http://{}", gw.addr));
    assert!(req.message.starts_with("qrgate-login-v1\n"));
    assert!(req.message.contains(&format!("attempt: {id}\n")));
    assert_eq!(events.next().await.expect("scanned").0, "scanned");

    let user = signer::approve(&c, &url, &alice_key(), &req)
        .await
        .expect("approve");
    assert_eq!(user, "alice");
    let (name, data) = events.next().await.expect("approved");
    assert_eq!(name, "approved");
    let data: Value = serde_json::from_str(&data).expect("json");
    assert_eq!(data["name"], "alice");
    assert!(!data.to_string().contains("token"), "no token over SSE");
    assert!(
        events.next().await.is_none(),
        "stream ends after a terminal event"
    );

    let resp = claim(&gw, &b, &id).await;
    assert_eq!(resp.status(), 200);
    let set_cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["redirect"], "/reports?year=2026");

    let page = b
        .get(gw.url("/reports?year=2026"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("app");
    assert_eq!(page.status(), 200);
    let echo: Value = page.json().await.expect("echo");
    let headers = echoed_headers(&echo);
    assert!(
        headers.contains(&("x-auth-user".into(), "alice".into())),
        "{headers:?}"
    );
    assert!(headers.contains(&("x-auth-pubkey".into(), alice_key().public().to_z32())));
    assert!(
        !headers
            .iter()
            .any(|(k, v)| k == "cookie" && v.contains("qrgate")),
        "{headers:?}"
    );

    // The verify endpoint answers for the same session, by cookie and by bearer token.
    let v = b
        .get(gw.url("/.qrgate/auth/session/verify"))
        .send()
        .await
        .expect("verify");
    assert_eq!(v.status(), 200);
    assert_eq!(v.headers()["x-auth-user"], "alice");
    let token = set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, t)| t.to_string())
        .expect("token");
    let v = client()
        .get(gw.url("/.qrgate/auth/session/verify"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("verify");
    assert_eq!(v.json::<Value>().await.expect("json")["user"], "alice");
    let v = client()
        .get(gw.url("/.qrgate/auth/session/verify"))
        .bearer_auth("nope")
        .send()
        .await
        .expect("verify");
    assert_eq!(v.status(), 401);
}

#[tokio::test]
async fn wrong_keys_bad_signatures_replays_and_expiry_are_refused() {
    let gw = TestGateway::with(Setup {
        tail: format!(
            "[[user]]\nname = \"bob\"\nkey = \"{}\"\nroles = [\"guest\"]\n",
            signer::Key::parse(&"11".repeat(32))
                .expect("k")
                .public()
                .to_z32()
        ),
        app_extra: "allow_roles = [\"staff\"]\n".into(),
        ..Setup::default()
    })
    .await;
    let (b, id, url, c, req) = scanned(&gw, "/").await;

    // A key nobody configured.
    let stranger = signer::Key::generate();
    let err = signer::approve(&c, &url, &stranger, &req)
        .await
        .expect_err("unknown key");
    assert_eq!(refused(&err), 403, "{err}");
    // A configured user without the role.
    let bob = signer::Key::parse(&"11".repeat(32)).expect("bob");
    let err = signer::approve(&c, &url, &bob, &req)
        .await
        .expect_err("not permitted");
    assert_eq!(refused(&err), 403, "{err}");
    assert!(err.to_string().contains("bob"), "{err}");
    // Alice's key over a different message.
    let mut forged = req.clone();
    forged.message = req.message.replace("origin: ", "origin: x");
    let err = signer::approve(&c, &url, &alice_key(), &forged)
        .await
        .expect_err("bad signature");
    assert_eq!(refused(&err), 401, "{err}");
    // Malformed bodies: 400, nothing changes.
    for body in [
        "{",
        "[]",
        "{\"public_key\":\"x\",\"signature\":\"y\"}",
        &format!(
            "{{\"public_key\":\"{}\",\"signature\":\"!!!\"}}",
            alice_key().public().to_z32()
        ),
        "{\"signature\":\"y\"}",
    ] {
        let (status, v) = approve_raw(&gw, &id, body.to_string()).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Oversized.
    let (status, _) = approve_raw(&gw, &id, format!("{{\"pad\":\"{}\"}}", "a".repeat(9000))).await;
    assert_eq!(status, 413);
    // Still approvable after all that, exactly once.
    signer::approve(&c, &url, &alice_key(), &req)
        .await
        .expect("approve");
    let err = signer::approve(&c, &url, &alice_key(), &req)
        .await
        .expect_err("replay");
    assert_eq!(refused(&err), 409, "{err}");

    // Approve after expiry.
    let (_, payload2, _) = open_login(&gw, &b, "/").await;
    let url2 = signer::attempt_url(&payload2).expect("url");
    let req2 = signer::scan(&c, &url2).await.expect("scan");
    gw.clock.advance(Duration::from_secs(121));
    let err = signer::approve(&c, &url2, &alice_key(), &req2)
        .await
        .expect_err("expired");
    assert_eq!(refused(&err), 410, "{err}");
    let unknown =
        signer::attempt_url(&gw.url("/.qrgate/auth/session/sess_0000000000000000")).expect("url");
    let err = signer::scan(&c, &unknown).await.expect_err("unknown");
    assert_eq!(refused(&err), 404, "{err}");
}

#[tokio::test]
async fn concurrent_approvals_have_exactly_one_winner() {
    let gw = TestGateway::start().await;
    let (_b, _, url, c, req) = scanned(&gw, "/").await;
    let key = alice_key();
    let tries = (0..8).map(|_| signer::approve(&c, &url, &key, &req));
    let results = futures_util::future::join_all(tries).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused(r), 409, "{r}");
    }
}

#[tokio::test]
async fn only_the_browser_that_asked_can_claim_once() {
    let gw = TestGateway::start().await;
    let (b, id, url, c, req) = scanned(&gw, "/after").await;

    // Before approval: nothing to claim.
    assert_eq!(claim(&gw, &b, &id).await.status(), 409);
    signer::approve(&c, &url, &alice_key(), &req)
        .await
        .expect("approve");

    // A client with no binding cookie, and a second browser with its own, both fail.
    assert_eq!(claim(&gw, &client(), &id).await.status(), 403);
    let other = browser();
    open_login(&gw, &other, "/").await;
    assert_eq!(claim(&gw, &other, &id).await.status(), 403);
    let sse = other
        .get(gw.url(&format!("/.qrgate/auth/session/{id}/events")))
        .send()
        .await
        .expect("sse");
    assert_eq!(sse.status(), 403, "another browser cannot even watch");
    // A cross-site claim from the right browser is refused too.
    let cross = b
        .post(gw.url(&format!("/.qrgate/auth/session/{id}/claim")))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("claim");
    assert_eq!(cross.status(), 403);

    // The right browser claims once, and gets a session it did not have before.
    let resp = claim(&gw, &b, &id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["redirect"],
        "/after"
    );
    assert_ne!(claim(&gw, &b, &id).await.status(), 200, "claim twice");
    assert_eq!(gw.state.sessions.len(), 1);
}

#[tokio::test]
async fn claim_window_is_short() {
    let gw = TestGateway::start().await;
    let (b, id, url, c, req) = scanned(&gw, "/").await;
    signer::approve(&c, &url, &alice_key(), &req)
        .await
        .expect("approve");
    gw.clock.advance(Duration::from_secs(31));
    assert_eq!(claim(&gw, &b, &id).await.status(), 410);
}

#[tokio::test]
async fn rejection_reaches_the_browser() {
    let gw = TestGateway::start().await;
    let b = browser();
    let (id, payload, _) = open_login(&gw, &b, "/").await;
    let mut events = Sse::open(&b, gw.url(&format!("/.qrgate/auth/session/{id}/events"))).await;
    assert_eq!(events.next().await.expect("pending").0, "pending");
    let url = signer::attempt_url(&payload).expect("url");
    signer::reject(&client(), &url).await.expect("reject");
    assert_eq!(events.next().await.expect("rejected").0, "rejected");
    assert!(events.next().await.is_none());
    assert_eq!(claim(&gw, &b, &id).await.status(), 409);
}

#[tokio::test]
async fn pending_attempts_are_capped() {
    let gw = TestGateway::with(Setup {
        login: "max_pending = 3\n".into(),
        ..Setup::default()
    })
    .await;
    let b = browser();
    for _ in 0..3 {
        open_login(&gw, &b, "/").await;
    }
    let resp = b
        .get(gw.url("/.qrgate/login"))
        .header("accept", NAV)
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), 503);
    gw.clock.advance(Duration::from_secs(200));
    let store = &gw.state;
    assert!(
        crate::common::eventually(Duration::from_secs(10), || async {
            store.logins.is_empty()
        })
        .await
    );
    open_login(&gw, &b, "/").await;
}

/// Classic open-redirect payloads for `rd`; none may send the browser off the origin.
const HOSTILE_RD: &[&str] = &[
    "//evil.com",
    "///evil.com",
    "////evil.com",
    "/\\evil.com",
    "/\\/evil.com",
    "\\/evil.com",
    "\\\\evil.com",
    "https://evil.com",
    "http://evil.com",
    "http:/evil.com",
    "http:evil.com",
    "//evil.com/%2e%2e",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,x",
    "evil.com",
    ".evil.com",
    "@evil.com",
    "/%2F%2Fevil.com",
    "/%5Cevil.com",
    "/%5C%5Cevil.com",
    "/%09/evil.com",
    "/\t/evil.com",
    "/%0d%0a/evil.com",
    "/\r\n/evil.com",
    " //evil.com",
    "/ /evil.com",
    "/./evil",
    "/../evil",
    "/a/../../evil",
    "/a/%2e%2e/evil",
    "//%09evil.com",
    "/\u{3000}/evil.com",
    "/x#//evil.com",
    "%2F%2Fevil.com",
    "/%00evil",
    "\u{1}//evil.com",
    "https:\\\\evil.com",
    "//evil.com\\@good",
    "/\\\\evil.com",
];

#[tokio::test]
async fn return_paths_never_leave_the_origin() {
    let gw = TestGateway::start().await;
    let b = browser();
    let token = gw.mint_session(0).await;
    let cookie = format!("{}={token}", gw.cookie_name());
    assert!(HOSTILE_RD.len() >= 30);
    for rd in HOSTILE_RD {
        let q: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
        let resp = b
            .get(gw.url(&format!("/.qrgate/login?rd={q}")))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 302, "{rd:?}");
        let loc = resp.headers()["location"].to_str().expect("ascii");
        assert_eq!(loc, "/", "{rd:?} must fall back to /");
    }
    for good in [
        "/",
        "/app",
        "/app/page?x=1&y=2",
        "/@evil.com",
        "/search?q=a%20b",
    ] {
        let q: String = url::form_urlencoded::byte_serialize(good.as_bytes()).collect();
        let resp = b
            .get(gw.url(&format!("/.qrgate/login?rd={q}")))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("login");
        assert_eq!(resp.headers()["location"].to_str().expect("ascii"), good);
    }
}

#[tokio::test]
async fn the_signer_binary_approves_and_keygen_writes_a_private_file() {
    let gw = TestGateway::start().await;
    let b = browser();
    let (id, payload, _) = open_login(&gw, &b, "/").await;
    let dir = tempfile::tempdir().expect("dir");
    let key_path = dir.path().join("alice.key");
    std::fs::write(&key_path, crate::common::ALICE_SECRET_HEX).expect("key");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(["sign", "--yes", "--key"])
        .arg(&key_path)
        .arg(format!(
            "qrgate://sign?url={}",
            url::form_urlencoded::byte_serialize(payload.as_bytes()).collect::<String>()
        ))
        .output()
        .await
        .expect("run signer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Sign in to:  Test app") && stdout.contains("signed in as alice"),
        "{stdout}"
    );
    // What the person approving is shown: app, origin, who asks, from where, and when.
    for line in [
        format!("Origin:      http://{}", gw.addr),
        "Requested by Unknown browser on unknown system (127.0.0.1)".to_string(),
        "Requested at ".to_string(),
        " GMT (expires ".to_string(),
    ] {
        assert!(stdout.contains(&line), "{line} in {stdout}");
    }
    assert_eq!(claim(&gw, &b, &id).await.status(), 200);

    let new_key = dir.path().join("new.key");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(["keygen", "--out"])
        .arg(&new_key)
        .output()
        .expect("keygen");
    assert!(out.status.success());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&new_key)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let z32 = signer::Key::load(&new_key)
        .expect("loads")
        .public()
        .to_z32();
    assert!(printed.contains(&z32), "{printed}");
}

#[tokio::test]
async fn event_streams_notice_a_closed_browser() {
    let gw = TestGateway::start().await;
    let b = browser();
    let (id, _, _) = open_login(&gw, &b, "/").await;
    let attempt = gw.state.logins.get(&id).await.expect("attempt");
    let mut events = Sse::open(&b, gw.url(&format!("/.qrgate/auth/session/{id}/events"))).await;
    assert_eq!(events.next().await.expect("pending").0, "pending");
    assert_eq!(gw.state.logins.watchers(&attempt), 1);
    drop(events);
    let logins = &gw.state.logins;
    let cleaned = crate::common::eventually(Duration::from_secs(10), || async {
        logins.watchers(&attempt) == 0
    })
    .await;
    assert!(
        cleaned,
        "the stream's watcher was dropped after the client went away"
    );
}

#[tokio::test]
async fn the_no_script_form_claims_with_a_redirect() {
    let gw = TestGateway::start().await;
    let (b, id, url, c, req) = scanned(&gw, "/after").await;
    let form_claim = || {
        b.post(gw.url(&format!("/.qrgate/auth/session/{id}/claim")))
            .header("origin", format!("http://{}", gw.addr))
            .header("accept", NAV)
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
    };
    let early = form_claim().await.expect("claim");
    assert_eq!(early.status(), 409);
    assert!(early.headers()["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/html"));
    assert!(early
        .text()
        .await
        .expect("page")
        .contains("not been approved"));
    signer::approve(&c, &url, &alice_key(), &req)
        .await
        .expect("approve");
    let done = form_claim().await.expect("claim");
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/after");
    assert!(done.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .starts_with("qrgate_session="));
}

/// A response head's status line and fields, lowercased and sorted, for comparing answers.
fn head_fields(text: &str) -> Vec<String> {
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().to_string();
    // The date may tick between two answers; that it is there is what counts.
    let mut fields: Vec<String> = lines
        .map(str::to_ascii_lowercase)
        .map(|f| {
            if f.starts_with("date: ") {
                "date".into()
            } else {
                f
            }
        })
        .collect();
    fields.sort();
    fields.insert(0, status);
    fields
}

/// Plain HTTP/1.1 event streams are served beside pingora's proxy; a head the hand-off
/// leaves alone (here one with `Content-Length: 0`) goes through pingora. Both must answer
/// the same way: the same head, the same frames, the same refusals, and a connection that
/// carries the next request once the stream is complete.
#[tokio::test]
async fn event_streams_answer_alike_beside_and_through_pingora() {
    use tokio::io::AsyncWriteExt;
    let gw = TestGateway::start().await;
    let (id, cookie) = crate::common::create_attempt(&client(), &gw.url("")).await;
    let request = |cookie: &str, extra: &str| {
        format!(
            "GET /.qrgate/auth/session/{id}/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n{extra}\r\n",
            gw.addr
        )
    };
    let paths = ["", "Content-Length: 0\r\n"];

    // Refusals: another browser's cookie gets the same 403 on both paths.
    let mut refusals = Vec::new();
    for extra in paths {
        let (_, text, seen) = send_until(gw.addr, &request("qrgate_bind=x", extra), "}").await;
        assert!(seen, "refusal: {text:?}");
        assert!(text.starts_with("HTTP/1.1 403"), "{text}");
        refusals.push((
            head_fields(&text),
            text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()),
        ));
    }
    assert_eq!(refusals[0], refusals[1]);

    // Streams: the same head and first frame on both paths.
    let mut streams = Vec::new();
    for extra in paths {
        let (s, text, seen) = send_until(gw.addr, &request(&cookie, extra), "event: pending").await;
        assert!(seen, "{text:?}");
        streams.push((s, text));
    }
    let heads: Vec<_> = streams.iter().map(|(_, t)| head_fields(t)).collect();
    assert_eq!(heads[0], heads[1]);
    assert_eq!(heads[0][0], "HTTP/1.1 200 OK");
    for field in [
        "content-type: text/event-stream",
        "transfer-encoding: chunked",
        "cache-control: no-store",
        "x-accel-buffering: no",
    ] {
        assert!(
            heads[0].iter().any(|f| f == field),
            "{field} in {:?}",
            heads[0]
        );
    }
    let frame = |t: &str| t.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    assert_eq!(frame(&streams[0].1), frame(&streams[1].1));

    // Heads at the edge of what the hand-off takes get the same answer on both paths: a
    // target and a Host pingora refuses, and a request to close the connection.
    let addr = gw.addr;
    let variants = [
        (format!("{id}/events?x=<>"), format!("{addr}"), ""),
        (format!("{id}/events"), format!("u@{addr}"), ""),
        (
            format!("{id}/events"),
            format!("{addr}"),
            "Connection: close\r\n",
        ),
    ];
    for (target, host, extra) in &variants {
        let mut answers = Vec::new();
        for path_extra in paths {
            let head = format!(
                "GET /.qrgate/auth/session/{target} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n{extra}{path_extra}\r\n"
            );
            // Up to the first frame, or the whole answer of a refusal that closes.
            let (_, text, _) = send_until(addr, &head, "event: pending").await;
            answers.push((head_fields(&text), frame(&text)));
        }
        assert_eq!(answers[0], answers[1], "{target} {host} {extra}");
        assert!(
            !answers[0].0.is_empty(),
            "an answer to {target} {host} {extra}"
        );
    }

    // A rejection ends both streams; the hand-off's connection then carries the next request.
    let url = signer::attempt_url(&gw.url(&format!("/.qrgate/auth/session/{id}"))).expect("url");
    signer::reject(&client(), &url).await.expect("reject");
    for (s, text) in &mut streams {
        assert!(
            read_until(s, text, "\r\n0\r\n\r\n").await,
            "terminal chunk: {text:?}"
        );
        assert!(text.contains("event: rejected"), "{text}");
    }
    let (s, _) = &mut streams[0];
    s.write_all(format!("GET /.qrgate/healthz HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr).as_bytes())
        .await
        .expect("write");
    let mut next = String::new();
    assert!(read_until(s, &mut next, "\"ok\"").await, "{next:?}");
    assert!(next.starts_with("HTTP/1.1 200"), "{next}");
}

/// A server of its own that answers every request with `answer` (JSON), as a phishing site
/// relaying another origin's challenge would; returns its origin.
async fn relay_answering(answer: std::sync::Arc<std::sync::Mutex<String>>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind relay");
    let addr = listener.local_addr().expect("relay addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(n) if n > 0 => head.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
                let body = answer.lock().map(|a| a.clone()).unwrap_or_default();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_reference_signer_signs_only_a_message_that_is_exactly_what_it_shows() {
    let gw = TestGateway::start().await;
    let origin = format!("http://{}", gw.addr);
    // The attacker's own browser starts a real login at the gateway and takes its challenge.
    let attacker = browser();
    let (id, _, _) = open_login(&gw, &attacker, "/").await;
    let genuine: Value = client()
        .post(gw.url(&format!("/.qrgate/auth/session/{id}/scan")))
        .send()
        .await
        .expect("scan")
        .json()
        .await
        .expect("json");
    let message = genuine["message"].as_str().expect("message").to_string();
    let answer = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let evil = relay_answering(answer.clone()).await;
    let phone = client();
    let scan_at = |origin: &str, attempt: &str| {
        signer::attempt_url(&format!("{origin}/.qrgate/auth/session/{attempt}")).expect("url")
    };
    let forged = |edit: &dyn Fn(&mut Value)| {
        let mut v = genuine.clone();
        edit(&mut v);
        *answer.lock().expect("answer") = v.to_string();
    };
    // The phishing site shows itself (its origin, as the link scanned) while the message it
    // hands over is the gateway's challenge for the attacker's browser.
    forged(&|v| v["origin"] = Value::from(evil.clone()));
    let refused = signer::scan(&phone, &scan_at(&evil, &id)).await;
    assert!(
        matches!(&refused, Err(signer::SignerError::Refused { message, .. }) if message.contains("not what the answer shows")),
        "{refused:?}"
    );
    // Its own attempt id in the link, the gateway's in the message: refused.
    let other_id = "sess_0123456789abcdef0123456789abcdef";
    forged(&|v| {
        v["origin"] = Value::from(evil.clone());
        v["attempt"] = Value::from(other_id);
        v["message"] = Value::from(message.replace(&origin, &evil));
    });
    assert!(signer::scan(&phone, &scan_at(&evil, other_id))
        .await
        .is_err());
    // Shown as another app, another requester, other times, a grant or an action the message
    // does not carry, or a message with a line more: refused.
    let edits: [fn(&mut Value); 8] = [
        |v| v["app"] = Value::from("Your bank"),
        |v| v["requester_agent"] = Value::from("Safari on iPhone"),
        |v| v["requester_ip"] = Value::from("192.0.2.1"),
        |v| v["expires_at"] = Value::from(v["expires_at"].as_u64().unwrap_or(0) + 60),
        |v| v["access"] = Value::from("read /"),
        |v| v["action"] = Value::from("add a new device for alice"),
        |v| {
            let m = v["message"].as_str().unwrap_or_default().to_string();
            v["message"] = Value::from(format!("{m}access: read /\n"));
        },
        |v| v["app"] = Value::from("Test app\nSafe to approve"),
    ];
    let own = |v: &mut Value| {
        v["origin"] = Value::from(evil.clone());
        v["message"] = Value::from(message.replace(&origin, &evil));
    };
    for (n, edit) in edits.iter().enumerate() {
        forged(&|v| {
            own(v);
            edit(v);
        });
        let answer = signer::scan(&phone, &scan_at(&evil, &id)).await;
        assert!(answer.is_err(), "edit {n} was signed: {answer:?}");
    }
    // The same answer made consistent is the site's own challenge: shown, and signable, but
    // a signature over it is worth nothing at the gateway.
    forged(&own);
    let req = signer::scan(&phone, &scan_at(&evil, &id))
        .await
        .expect("a consistent answer is shown");
    let sig = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        alice_key().sign(req.message.as_bytes()),
    );
    let body = serde_json::json!({"public_key": alice_key().public().to_z32(), "signature": sig});
    let (status, refusal) = approve_raw(&gw, &id, body.to_string()).await;
    assert_eq!(
        (status, refusal["error"].as_str()),
        (401, Some("bad_signature"))
    );
    // Nothing was approved for the attacker's browser; the genuine challenge still scans.
    assert_eq!(claim(&gw, &attacker, &id).await.status(), 409);
    let url = scan_at(&origin, &id);
    let req = signer::scan(&phone, &url).await.expect("genuine scan");
    assert_eq!(req.message, message);
}
