//! The app's grant (with method overrides), step-up paths and path spellings through the
//! shipped nginx and Caddy samples, as on the proxy path.

use std::time::Duration;

use crate::common::{alice_key, claim_at, client, free_port, raw, sign_in_at, TestGateway, NAV};
use crate::forward_auth::*;

#[tokio::test]
async fn nginx_applies_the_apps_grant_and_step_up_rules() {
    let front = free_port();
    let gw = gateway_behind_with(front, RULES.into()).await;
    let _nginx = start_nginx(front, &gw);
    wait_for(front).await;
    check_rules(front, &gw).await;
}

#[tokio::test]
async fn caddy_applies_the_apps_grant_and_step_up_rules() {
    let front = free_port();
    let gw = gateway_behind_with(front, RULES.into()).await;
    let _caddy = start_caddy(front, &gw);
    wait_for(front).await;
    check_rules(front, &gw).await;
}

/// A raw request through the front proxy (no client rewrites the path) with the session
/// cookie, as a program; `extra` is more header lines.
async fn through(front: u16, method: &str, path: &str, token: &str, extra: &str) -> u16 {
    raw(
        ([127, 0, 0, 1], front).into(),
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{front}\r\nAccept: application/json\r\nCookie: qrgate_session={token}\r\nContent-Length: 0{extra}"
        ),
    )
    .await
    .0
}

/// What every front proxy must enforce for a reduced grant and a step-up path, as the proxy
/// path does: writes refused outside read-write entries (in every spelling of a read entry,
/// and when claimed through an override), client-named original requests ignored, and a
/// step-up path sending a browser to confirm, then admitting it.
async fn check_rules(front: u16, gw: &TestGateway) {
    let base = format!("http://127.0.0.1:{front}");
    let (b, token) = sign_in_at(&base).await;
    for (method, path, extra, want) in [
        ("GET", "/doc", "", 200),
        ("HEAD", "/doc", "", 200),
        ("POST", "/doc", "", 403),
        ("DELETE", "/doc", "", 403),
        ("GET", "/doc", "\r\nX-HTTP-Method-Override: DELETE", 403),
        ("GET", "/doc", "\r\nx-method-override: PUT", 403),
        ("GET", "/doc?_method=delete", "", 403),
        ("GET", "/doc", "\r\nX-HTTP-Method-Override: HEAD", 200),
        ("POST", "/comments/7", "", 200),
        (
            "GET",
            "/comments/7",
            "\r\nX-HTTP-Method-Override: DELETE",
            200,
        ),
        ("POST", "/comments/locked/7", "", 403),
        ("POST", "/comments/locked;x/7", "", 403),
        ("POST", "/comments/LOCKED/7", "", 403),
        ("POST", "/comments/locked%3Bx/7", "", 403),
        ("POST", "/COMMENTS/7", "", 403),
        ("POST", "/comments;x/7", "", 403),
        // A client naming another request is not believed: the proxy sets both headers.
        (
            "POST",
            "/doc",
            "\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /doc",
            403,
        ),
        (
            "POST",
            "/doc",
            "\r\nX-Forwarded-Method: POST\r\nX-Forwarded-Uri: /comments/7",
            403,
        ),
        (
            "GET",
            "/doc",
            "\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            403,
        ),
        ("GET", "/admin/users", "", 200),
    ] {
        assert_eq!(
            through(front, method, path, &token, extra).await,
            want,
            "{method} {path} {extra:?}"
        );
    }

    gw.clock.advance(Duration::from_secs(31));
    // `/doc#/../admin/users`: nginx passes the `#` on raw (Caddy encodes it), and an upstream
    // taking it literally resolves `/admin/users`; a parser dropping the fragment saw `/doc`.
    for path in [
        "/admin/users",
        "/admin;x/users",
        "/ADMIN/users",
        "/%41dmin",
        "/doc#/../admin/users",
        "/doc?x#/../../admin/users",
    ] {
        assert_eq!(
            through(front, "GET", path, &token, "").await,
            403,
            "stale approval: {path}"
        );
    }
    assert_eq!(through(front, "GET", "/doc", &token, "").await, 200);
    let nav = b
        .get(format!("{base}/ADMIN/users?x=1"))
        .header("accept", NAV)
        .send()
        .await
        .expect("navigation");
    assert_eq!(nav.status(), 302);
    let location = nav.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let relative = location.strip_prefix(&base).unwrap_or(&location);
    assert_eq!(
        relative, "/.qrgate/step-up?rd=%2FADMIN%2Fusers%3Fx%3D1",
        "{location}"
    );

    // The step-up through the proxy, approved by the session's own key.
    let page = b
        .get(format!("{base}{relative}"))
        .header("accept", NAV)
        .send()
        .await
        .expect("step-up page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let url = qrgate::cli::signer::attempt_url(&format!("{base}/.qrgate/auth/session/{id}"))
        .expect("url");
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    qrgate::cli::signer::approve(&phone, &url, &alice_key(), &req)
        .await
        .expect("alice confirms");
    assert_eq!(claim_at(&b, &base, &base, &id).await.status(), 200);
    for path in ["/admin/users", "/ADMIN;x/users"] {
        assert_eq!(
            through(front, "GET", path, &token, "").await,
            200,
            "confirmed: {path}"
        );
    }
    assert_eq!(
        through(front, "POST", "/admin/users", &token, "").await,
        403,
        "a fresh approval does not widen the grant"
    );
}
