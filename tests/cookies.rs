//! The gateway's cookies on https origins: `__Host-` names no sibling subdomain can set,
//! sessions issued under the old name still honoured for their lifetime, both names kept from
//! the upstream and cleared at logout.

use std::time::Duration;

use serde_json::Value;

use crate::common::{echoed_headers, sign_in_with, Setup, TestGateway};
use crate::operate::{alice, Binary};
use crate::operate_tls::{tls_files, trusting, TlsFiles};

/// The `Set-Cookie` values of a response.
fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn https_origins_get_host_prefixed_cookies_that_never_reach_the_upstream() {
    let tls = crate::common::free_port();
    let dir = tempfile::tempdir().expect("pki dir");
    let TlsFiles { ca, server, .. } = tls_files(dir.path(), "cookies", tls);
    let origin = format!("https://127.0.0.1:{tls}");
    let _gw = Binary::start_with(&server, Some(origin.clone()), "", &alice("\"staff\"")).await;

    // The binding cookie of a new attempt.
    let b = trusting(&ca, true);
    let created = b
        .post(format!("{origin}/.qrgate/auth/session/create"))
        .header("origin", &origin)
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let bind = set_cookies(&created);
    assert!(
        bind.iter()
            .any(|c| c.starts_with("__Host-qrgate_session_bind=")
                && c.contains("Secure")
                && c.contains("Path=/")
                && !c.contains("Domain")),
        "{bind:?}"
    );

    // A whole login over HTTPS: the session cookie is `__Host-` too, and the browser's jar
    // sends it back.
    let (b, token) = sign_in_with(&origin, trusting(&ca, true), trusting(&ca, false)).await;
    let from_jar = b
        .get(format!("{origin}/app"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("https");
    assert_eq!(from_jar.status(), 200);
    let echo = b
        .get(format!("{origin}/app"))
        .header("accept", "application/json")
        .header(
            "cookie",
            format!(
            "__Host-qrgate_session={token}; qrgate_session={token}; qrgate_session_bind=x; __Host-qrgate_session_bind=y; qrgate_session_trip=t; __Host-qrgate_session_trip=u; app=1"
        ),
        )
        .send()
        .await
        .expect("https");
    assert_eq!(echo.status(), 200);
    let echo: Value = echo.json().await.expect("echo");
    let cookies: Vec<String> = echoed_headers(&echo)
        .into_iter()
        .filter(|(n, _)| n == "cookie")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        cookies,
        ["app=1"],
        "neither name of either cookie goes upstream"
    );

    // Logout clears both names.
    let out = b
        .post(format!("{origin}/.qrgate/logout"))
        .header("origin", &origin)
        .header("accept", "application/json")
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);
    let cleared = set_cookies(&out);
    for name in ["__Host-qrgate_session=;", "qrgate_session=;"] {
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
            "{name} in {cleared:?}"
        );
    }
}

#[tokio::test]
async fn sessions_from_before_the_prefix_keep_working_and_new_ones_need_it() {
    let gw = TestGateway::with(Setup {
        origin: Some("https://app.example".into()),
        ..Setup::default()
    })
    .await;
    let get = |cookie: String| {
        let url = gw.url("/app");
        async move {
            crate::common::client()
                .get(url)
                .header("host", "app.example")
                .header("accept", "application/json")
                .header("cookie", cookie)
                .send()
                .await
                .expect("answer")
                .status()
        }
    };
    // Issued before the prefix (a token of the old length, kept across the upgrade by the
    // state file or Redis): both names work.
    let old = gw.mint_legacy_session(0).await;
    assert_eq!(old.len(), qrgate_core::session::LEGACY_TOKEN_LEN);
    assert_eq!(get(format!("qrgate_session={old}")).await, 200);
    assert_eq!(get(format!("__Host-qrgate_session={old}")).await, 200);
    // Issued since: only the `__Host-` name, which no sibling subdomain can plant, however
    // long ago it was issued and whatever restarted meanwhile.
    let new = gw.mint_session(0).await;
    assert_eq!(new.len(), qrgate_core::session::TOKEN_LEN);
    gw.clock.advance(Duration::from_secs(1));
    assert_eq!(get(format!("__Host-qrgate_session={new}")).await, 200);
    assert_eq!(get(format!("qrgate_session={new}")).await, 401);
    // A planted old-name cookie never hides the real one.
    assert_eq!(
        get(format!("qrgate_session={new}; __Host-qrgate_session={new}")).await,
        200
    );
}
