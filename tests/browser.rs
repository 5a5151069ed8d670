//! The login page in a real headless Chromium, driven over WebDriver (chromedriver): open a
//! protected URL, see the QR, let the reference signer approve, and watch the page sign in
//! over SSE and land on the app — with no CSP violation in the browser console on the way.
//! A second browser profile that copies an approved attempt's id cannot claim it.
//!
//! Needs `chromium` and `chromedriver` on PATH (scripts/test.sh installs them); without them
//! the test fails rather than skipping.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;

use crate::browser_driver::*;
use crate::common::{eventually, TestGateway};

#[tokio::test]
async fn a_real_browser_signs_in_over_sse_and_a_second_profile_cannot_claim() {
    let gw = TestGateway::start().await;
    let driver = start_driver().await;
    let b = open_browser(&driver, "one").await;
    record_status_texts(&b).await;
    let mut console = Vec::new();

    // A protected URL lands on the login page, which shows the QR.
    b.goto(&gw.url("/dashboard?tab=1")).await.expect("goto");
    assert!(
        wait_for_url(&b, "/.qrgate/login?rd=%2Fdashboard%3Ftab%3D1").await,
        "the protected URL leads to the login page, got {}",
        current_url(&b).await
    );
    let qr = b.find(Locator::Css(".qr svg")).await.expect("QR <svg>");
    assert!(qr.is_displayed().await.expect("displayed"), "QR is visible");
    let (qx, qy, qw, qh) = qr.rectangle().await.expect("rect");
    assert!(qw > 100.0 && qh > 100.0, "QR has a real size: {qw}x{qh}");

    // The screenshot is not blank, and the QR region holds both dark modules and light ones.
    let shot = screenshot(&b, "login-page.png").await;
    let scale = b
        .execute("return window.devicePixelRatio;", vec![])
        .await
        .expect("dpr")
        .as_f64()
        .expect("dpr is a number");
    let px = |v: f64| (v * scale).round() as u32;
    let (dark, light) = dark_and_light(&shot, Some((px(qx), px(qy), px(qw), px(qh))));
    let area = (px(qw) * px(qh)) as usize;
    assert!(
        dark > area / 5 && light > area / 5,
        "the QR is drawn in the screenshot: {dark} dark and {light} light of {area} pixels"
    );

    // The phone approves; the page, untouched by the test, hears it over SSE, signs in and
    // goes back to the URL first asked for, where the app shows who signed in.
    let id = attempt_id(&b).await;
    approve_as_alice(&gw, &id).await;
    assert!(
        wait_for_url(&b, "/dashboard?tab=1").await,
        "the page signed in and returned to the original URL, got {}",
        current_url(&b).await
    );
    assert_eq!(shown_user(&b).await, "alice");
    let statuses = status_texts(&b, &id).await;
    assert!(
        statuses.iter().any(|s| s == "Signed in as alice."),
        "the login page showed the signed-in state: {statuses:?}"
    );
    drain_console(&b, &mut console).await;

    // Browser one starts a new login, and holds its page's claim request (CDP Fetch
    // interception) so the approved attempt waits unclaimed.
    b.delete_all_cookies().await.expect("forget the session");
    cdp(
        &b,
        "Fetch.enable",
        json!({ "patterns": [{ "urlPattern": "*/.qrgate/auth/session/*/claim", "requestStage": "Request" }] }),
    )
    .await;
    b.goto(&gw.url("/second")).await.expect("goto");
    assert!(
        wait_for_url(&b, "/.qrgate/login?rd=%2Fsecond").await,
        "signed out, a protected path leads to the login page again, got {}",
        current_url(&b).await
    );
    let id2 = attempt_id(&b).await;
    assert_ne!(id, id2, "a new attempt");
    approve_as_alice(&gw, &id2).await;
    let heard = eventually(Duration::from_secs(10), || async {
        status_texts(&b, &id2)
            .await
            .iter()
            .any(|s| s == "Signed in as alice.")
    })
    .await;
    assert!(
        heard,
        "the page heard the approval and sent its claim: {:?}",
        status_texts(&b, &id2).await
    );
    assert!(
        approved_unclaimed(&gw, &id2).await,
        "the claim is held: the attempt is approved, not yet claimed"
    );

    // A second profile on the same origin copies the id and tries to claim: refused.
    let other = open_browser(&driver, "two").await;
    other
        .goto(&gw.url("/.qrgate/healthz"))
        .await
        .expect("profile two on the gateway's origin");
    let answer = other
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers: {Accept: 'application/json'}})\
               .then(r => r.text().then(t => done([r.status, t])), e => done([0, String(e)]));",
            vec![json!(format!("/.qrgate/auth/session/{id2}/claim"))],
        )
        .await
        .expect("fetch from profile two");
    assert_eq!(
        answer[0],
        json!(403),
        "the copied attempt id is useless without the binding cookie: {answer}"
    );
    assert!(
        answer[1].as_str().unwrap_or("").contains("wrong_browser"),
        "refused as the wrong browser: {answer}"
    );
    assert!(
        approved_unclaimed(&gw, &id2).await,
        "the refused claim did not use up the attempt"
    );
    drain_console(&other, &mut console).await;
    other.close().await.expect("close profile two");

    // Browser one's page, once its held claim goes through, still completes its login.
    cdp(&b, "Fetch.disable", json!({})).await;
    assert!(
        wait_for_url(&b, "/second").await,
        "profile one still completes its login, got {}",
        current_url(&b).await
    );
    assert_eq!(shown_user(&b).await, "alice");

    // No Content-Security-Policy complaint in either browser's console on the way.
    drain_console(&b, &mut console).await;
    let complaints = csp_complaints(&console);
    assert!(
        complaints.is_empty(),
        "CSP violations in the console: {complaints:?}"
    );
    b.close().await.expect("close profile one");
}

#[tokio::test]
async fn a_real_browser_steps_up_on_a_sensitive_path_and_signs_out_everywhere() {
    let gw = TestGateway::with(crate::common::Setup {
        app_extra: "step_up_paths = [\"/admin/\"]\nstep_up_max_age_seconds = 30\n".into(),
        ..crate::common::Setup::default()
    })
    .await;
    let driver = start_driver().await;
    let b = open_browser(&driver, "step-up").await;

    // Signing in is itself a fresh approval: the sensitive path opens straight away.
    b.goto(&gw.url("/admin/panel")).await.expect("goto");
    assert!(wait_for_url(&b, "/.qrgate/login?rd=%2Fadmin%2Fpanel").await);
    approve_as_alice(&gw, &attempt_id(&b).await).await;
    assert!(
        wait_for_url(&b, "/admin/panel").await,
        "got {}",
        current_url(&b).await
    );
    assert_eq!(shown_user(&b).await, "alice");

    // Later, the same path asks for a fresh approval from the same phone, then goes on.
    gw.clock.advance(Duration::from_secs(31));
    b.goto(&gw.url("/admin/panel")).await.expect("goto");
    assert!(
        wait_for_url(&b, "/.qrgate/step-up?rd=%2Fadmin%2Fpanel").await,
        "got {}",
        current_url(&b).await
    );
    assert_eq!(heading(&b).await, "Confirm it is you");
    let _ = screenshot(&b, "step-up-page.png").await;
    approve_as_alice(&gw, &attempt_id(&b).await).await;
    assert!(
        wait_for_url(&b, "/admin/panel").await,
        "got {}",
        current_url(&b).await
    );
    assert_eq!(shown_user(&b).await, "alice");

    // The person's own page lists this session; "Sign out everywhere" ends it.
    b.goto(&gw.url("/.qrgate/sessions")).await.expect("goto");
    assert_eq!(heading(&b).await, "Signed in as alice");
    let current = b
        .find(Locator::Css("ul.sessions li:not(.key) .tag"))
        .await
        .expect("this browser is marked")
        .text()
        .await
        .expect("text");
    assert_eq!(current, "this browser");
    let _ = screenshot(&b, "sessions-page.png").await;
    b.find(Locator::XPath("//button[text()='Sign out everywhere']"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("click");
    assert!(
        wait_for_url(&b, "/.qrgate/login").await,
        "got {}",
        current_url(&b).await
    );
    b.goto(&gw.url("/admin/panel")).await.expect("goto");
    assert!(
        wait_for_url(&b, "/.qrgate/login?rd=%2Fadmin%2Fpanel").await,
        "signed out everywhere, got {}",
        current_url(&b).await
    );
    let _ = b.close().await;
}
