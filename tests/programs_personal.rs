//! Personal tokens: made on the person's page, approved on the phone for exactly that token,
//! shown once, then used by `curl` through the proxy: allowed paths pass, a write under a read
//! grant is refused, a revoked or expired token is refused, and the upstream never sees it.

use std::time::Duration;

use serde_json::Value;

use crate::common::{
    alice_key, approve_attempt, echoed_headers, own_action, sign_in_at, Setup, TestGateway, NAV,
};

/// A gateway whose app lets programs in and keeps its own login page.
async fn gateway(programs: &str) -> (TestGateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let gw = TestGateway::with(Setup {
        app_extra: "programs = true\nsso = false\n".into(),
        tail: format!(
            "\n[sso]\norigin = \"http://localhost:{{gateway_port}}\"\nname = \"Example\"\nkey_file = \"{}\"\n{programs}\n",
            dir.path().join("oidc-keys.json").display()
        ),
        ..Setup::default()
    })
    .await;
    (gw, dir)
}

/// `curl` with the token: status, and the upstream's echo when forwarded.
async fn curl(url: &str, method: &str, token: &str) -> (u16, Option<Value>) {
    // tokio's process: the gateway answers on this test's own runtime meanwhile.
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-X",
            method,
            "-H",
            "Accept: application/json",
            "-w",
            "\n%{http_code}",
        ])
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .await
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').expect("status line");
    let status: u16 = status.trim().parse().expect("status");
    (status, serde_json::from_str(body).ok())
}

/// Makes a personal token through the signed-in browser `b`: asked, approved on the phone,
/// collected; the collected answer.
async fn make(b: &reqwest::Client, base: &str, form: &str) -> Value {
    let (status, started) = own_action(b, base, "personal-token", form).await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().expect("attempt").to_string();
    let (req, approved) = approve_attempt(base, &id, &alice_key()).await;
    approved.expect("approved");
    assert!(
        req.action
            .as_deref()
            .is_some_and(|a| a.starts_with("make a personal token \"backup\" of alice with")),
        "{req:?}"
    );
    let (status, made) =
        own_action(b, base, "personal-token", &format!("{form}&confirm={id}")).await;
    assert_eq!(status, 200, "{made}");
    made
}

#[tokio::test]
async fn a_personal_token_approved_by_phone_works_with_curl_within_its_grant_until_it_expires() {
    let (gw, _dir) = gateway("").await;
    let base = gw.url("");
    let (b, _) = sign_in_at(&base).await;
    let page = b
        .get(gw.url("/.qrgate/sessions"))
        .header("accept", NAV)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Make a personal token"), "{page}");

    let made = make(&b, &base, "name=backup&app=Test+app&access=read&days=7").await;
    let token = made["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("qga_"), "{token}");
    assert_eq!(token.len(), 47);
    assert_eq!(made["access"], "read");

    let (status, echo) = curl(&gw.url("/private"), "GET", &token).await;
    assert_eq!(status, 200);
    let echo = echoed_headers(&echo.expect("echo"));
    let header = |n: &str| echo.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(header("x-auth-user").as_deref(), Some("alice"));
    assert_eq!(header("x-auth-client").as_deref(), Some("qrgate-cli"));
    assert_eq!(
        header("authorization"),
        None,
        "the upstream never sees the token"
    );
    assert_eq!(
        curl(&gw.url("/private"), "POST", &token).await.0,
        403,
        "a write under a read grant"
    );
    assert_eq!(curl(&gw.url("/private"), "DELETE", &token).await.0, 403);

    // Listed by its name, never shown again.
    let page = b
        .get(gw.url("/.qrgate/sessions"))
        .header("accept", NAV)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("“backup” (personal token)"), "{page}");
    assert!(!page.contains(&token));

    gw.clock.advance(Duration::from_secs(7 * 86_400 + 1));
    assert_eq!(
        curl(&gw.url("/private"), "GET", &token).await.0,
        401,
        "expired"
    );
}

#[tokio::test]
async fn a_revoked_personal_token_is_refused_and_bad_requests_make_none() {
    let (gw, _dir) = gateway("[programs]\npersonal_token_max_days = 30\n").await;
    let base = gw.url("");
    let (b, _) = sign_in_at(&base).await;
    let made = make(
        &b,
        &base,
        "name=backup&app=Test+app&access=read-write&days=30",
    )
    .await;
    let token = made["token"].as_str().expect("token").to_string();
    assert_eq!(curl(&gw.url("/private"), "POST", &token).await.0, 200);
    let revoked = b
        .post(gw.url("/.qrgate/sessions"))
        .header("origin", &base)
        .form(&[("token", made["id"].as_str().expect("id"))])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 303);
    assert_eq!(
        curl(&gw.url("/private"), "GET", &token).await.0,
        401,
        "revoked"
    );

    for form in [
        "name=backup&app=Test+app&access=read&days=31",
        "name=backup&app=Test+app&access=read&days=0",
        "name=backup&app=Nowhere&access=read&days=1",
        "name=&app=Test+app&access=read&days=1",
        "name=backup&app=Test+app&access=admin&days=1",
        "name=backup&app=Test+app&access=read&days=1&extra=1",
    ] {
        let (status, _) = own_action(&b, &base, "personal-token", form).await;
        assert_eq!(status, 400, "{form}");
    }
    // A name that would reorder or hide what the phone shows after it (a bidi override, an
    // isolate, a zero-width space or joiner, a line separator): refused before any approval
    // is asked for, with the reason.
    for name in [
        "x%E2%80%AEsyad+1+rof+Test+app+ot+ssecca+daer%E2%80%AC",
        "a%E2%81%A6b%E2%81%A9",
        "zero%E2%80%8Bwidth",
        "join%E2%80%8Ded",
        "line%E2%80%A8break",
    ] {
        let form = format!("name={name}&app=Test+app&access=read&days=1");
        let (status, body) = own_action(&b, &base, "personal-token", &form).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.to_string().contains("invisible"), "{name}: {body}");
        assert!(body.get("id").is_none(), "no approval asked: {body}");
    }
    // From another origin, or without a session: nothing.
    let cross = b
        .post(gw.url("/.qrgate/personal-token"))
        .header("origin", "http://evil.example")
        .header("accept", "application/json")
        .body("name=backup&app=Test+app&access=read&days=1")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("cross");
    assert_eq!(cross.status(), 403);
    let (status, _) = own_action(
        &crate::common::browser(),
        &base,
        "personal-token",
        "name=backup&app=Test+app&access=read&days=1",
    )
    .await;
    assert_eq!(status, 401);
}
