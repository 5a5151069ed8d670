//! The QR login flow end to end: a cookie-keeping client as the browser, the reference
//! signer as the phone, the real gateway and upstream in between.

use std::time::Duration;

use serde_json::Value;

use crate::common::{
    alice_key, browser, client, echoed_headers, open_login, Setup, Sse, TestGateway, NAV,
};
use qrgate::cli::signer;

pub(crate) async fn claim(gw: &TestGateway, c: &reqwest::Client, id: &str) -> reqwest::Response {
    c.post(gw.url(&format!("/.qrgate/auth/session/{id}/claim")))
        .header("origin", format!("http://{}", gw.addr))
        .header("accept", "application/json")
        .send()
        .await
        .expect("claim")
}

pub(crate) async fn approve_raw(gw: &TestGateway, id: &str, body: String) -> (u16, Value) {
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
pub(crate) fn refused(e: &signer::SignerError) -> u16 {
    match e {
        signer::SignerError::Refused { status, .. } => *status,
        _ => 0,
    }
}

/// A browser opens the login page and the phone scans it: (browser, attempt id, attempt URL,
/// phone client, scan answer).
pub(crate) async fn scanned(
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
    assert_eq!(gw.state.sessions().len(), 1);
}

#[tokio::test]
async fn claim_window_is_short() {
    let gw = TestGateway::start().await;
    let (b, id, url, c, req) = scanned(&gw, "/").await;
    signer::approve(&c, &url, &alice_key(), &req)
        .await
        .expect("approve");
    gw.clock.advance(Duration::from_secs(31));
    // Past the window the claim is refused: 410 while the attempt is still kept, 404 once the
    // sweeper (running on its own ticker) has forgotten it.
    let status = claim(&gw, &b, &id).await.status().as_u16();
    assert!(matches!(status, 410 | 404), "{status}");
    assert_eq!(gw.state.sessions().len(), 0, "no session made");
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
            store.logins().is_empty()
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
