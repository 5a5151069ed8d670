//! Single sign-on across apps in a real headless Chromium: app A on `127.0.0.1:{port}`, app B
//! on `b.localhost:{port}`, the SSO origin on `localhost:{port}` (three sites). One approval
//! by the reference signer at the SSO origin opens A; B then opens with no second scan; "Sign
//! out everywhere" on B's page ends both.

use std::time::Duration;

use fantoccini::Locator;

use crate::browser_driver::*;
use crate::common::{alice_key, client, eventually, Setup, TestGateway};
use qrgate::cli::signer;

#[tokio::test]
async fn a_real_browser_signs_in_once_for_two_apps_and_signs_out_everywhere() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let upstream = listener.local_addr().expect("addr");
    tokio::spawn(qrgate::cli::demo::serve(listener));
    let keys = tempfile::tempdir().expect("dir");
    let tail = format!(
        "\n[[app]]\nname = \"App B\"\norigin = \"http://b.localhost:{{gateway_port}}\"\nupstream = \"{upstream}\"\n\n\
         [sso]\norigin = \"http://localhost:{{gateway_port}}\"\nname = \"Example\"\nkey_file = \"{}\"\n",
        keys.path().join("oidc-keys.json").display()
    );
    let gw = TestGateway::with(Setup {
        tail,
        ..Setup::default()
    })
    .await;
    let port = gw.addr.port();
    let sso = format!("http://localhost:{port}");
    let app_b = format!("http://b.localhost:{port}");
    let driver = start_driver().await;
    let b = open_browser(&driver, "sso").await;

    // App A sends the browser to the SSO origin's login page, which names the gateway.
    b.goto(&gw.url("/dashboard")).await.expect("goto");
    assert!(
        wait_for_url_containing(&b, &format!("{sso}/.qrgate/login?rd=")).await,
        "app A leads to the SSO origin's login page, got {}",
        current_url(&b).await
    );
    let title = heading(&b).await;
    assert!(title.contains("Example"), "{title}");
    let _ = screenshot(&b, "sso-login-page.png").await;

    // The one approval, by the reference signer on the SSO origin.
    let id = attempt_id(&b).await;
    let url = signer::attempt_url(&format!("{sso}/.qrgate/auth/session/{id}")).expect("url");
    let phone = client();
    let req = signer::scan(&phone, &url).await.expect("scan");
    signer::approve(&phone, &url, &alice_key(), &req)
        .await
        .expect("approve");
    assert!(
        wait_for_url(&b, &format!("127.0.0.1:{port}/dashboard")).await,
        "back on app A, got {}",
        current_url(&b).await
    );
    assert_eq!(shown_user(&b).await, "alice");

    // App B: no second scan, straight to the page asked for.
    b.goto(&format!("{app_b}/reports")).await.expect("goto");
    assert!(
        wait_for_url(&b, &format!("b.localhost:{port}/reports")).await,
        "app B opens with no second approval, got {}",
        current_url(&b).await
    );
    assert_eq!(shown_user(&b).await, "alice");
    let _ = screenshot(&b, "sso-app-b.png").await;
    let metrics = gw.state.metrics().render();
    assert!(
        metrics
            .contains("qrgate_logins_total{app=\"Example\",event=\"created\",protocol=\"any\"} 1"),
        "one login attempt in all: {metrics}"
    );
    assert!(
        !metrics.contains("qrgate_logins_total{app=\"App B\""),
        "none on app B: {metrics}"
    );

    // "Sign out everywhere" on B's page ends B, A and the SSO session.
    b.find(Locator::XPath("//button[text()='Sign out everywhere']"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("click");
    assert!(
        wait_for_url_containing(&b, &format!("{sso}/.qrgate/login?rd=")).await,
        "signed out: B's login leads to the SSO origin's login page, got {}",
        current_url(&b).await
    );
    b.goto(&gw.url("/dashboard")).await.expect("goto");
    let to_login = eventually(Duration::from_secs(20), || async {
        b.current_url()
            .await
            .is_ok_and(|u| u.as_str().starts_with(&format!("{sso}/.qrgate/login?rd=")))
    })
    .await;
    assert!(
        to_login,
        "app A is signed out too, got {}",
        current_url(&b).await
    );
    let _ = b.close().await;
}
