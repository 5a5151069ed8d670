//! A phone's own browser in a real headless Chromium: enrolling by invitation and approving a
//! desktop's sign-in, and a browser without Ed25519 in WebCrypto told so without a key made.

use std::time::Duration;

use fantoccini::Locator;
use qrgate_core::raw::KeyBytes;
use serde_json::json;

use crate::browser_driver::*;
use crate::common::{client, eventually, TestGateway};
use qrgate::cli::signer;

#[tokio::test]
async fn a_phone_browser_enrolls_by_invitation_and_approves_a_desktop_sign_in() {
    let gw = TestGateway::with(crate::common::Setup {
        tail: "[[user]]\nname = \"carol\"\nroles = [\"staff\"]\n".into(),
        ..crate::common::Setup::default()
    })
    .await;
    let invited = gw.invite("carol").await;
    let driver = start_driver().await;
    let desktop = open_browser(&driver, "desktop").await;
    let phone = open_phone(&driver, "phone").await;
    let mut console = Vec::new();

    // The phone opens the invitation link, and adds itself.
    phone
        .goto(&invited.link)
        .await
        .expect("open the invitation");
    assert_eq!(heading(&phone).await, "Add this phone");
    wait_for_text(&phone, "#choice:not([hidden])", "Add this phone").await;
    screenshot(&phone, "phone-enroll.png").await;
    let width = phone
        .execute("return window.innerWidth;", vec![])
        .await
        .expect("width");
    assert!(
        width.as_f64().is_some_and(|w| w < 500.0),
        "a phone's viewport: {width}"
    );
    click_when_shown(&phone, "#choice:not([hidden]) #enroll").await;
    wait_for_text(&phone, "#status", "now signs in as carol").await;
    screenshot(&phone, "phone-enrolled.png").await;
    assert_eq!(gw.state.devices().len(), 1, "the gateway holds the device");

    // The key is not extractable, by the page's script or any other.
    let probe = phone
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             const open = indexedDB.open('qrgate', 1);\
             open.onsuccess = () => {\
               const get = open.result.transaction('keys').objectStore('keys').get('device');\
               get.onsuccess = async () => {\
                 const k = get.result.privateKey;\
                 const tries = [];\
                 for (const format of ['pkcs8', 'jwk', 'raw']) {\
                   try { await crypto.subtle.exportKey(format, k); tries.push(format + ': exported'); }\
                   catch (e) { tries.push(format + ': ' + e.name); }\
                 }\
                 done({ extractable: k.extractable, type: k.type, algorithm: k.algorithm.name, tries });\
               };\
             };",
            vec![],
        )
        .await
        .expect("probe the stored key");
    assert_eq!(probe["extractable"], json!(false), "{probe}");
    assert_eq!(probe["type"], json!("private"), "{probe}");
    assert_eq!(probe["algorithm"], json!("Ed25519"), "{probe}");
    let tries = probe["tries"].as_array().expect("tries");
    assert!(
        tries
            .iter()
            .all(|t| !t.as_str().unwrap_or("").ends_with("exported")),
        "no format exports the private key: {probe}"
    );

    // A used invitation is refused.
    phone.goto(&invited.link).await.expect("open it again");
    assert_eq!(heading(&phone).await, "Invitation no longer valid");

    // The desktop shows the QR; the phone opens its URL, sees who asks, and approves; the
    // desktop, untouched by the test, lands in the app as carol.
    let payload = desktop_login(&desktop, &gw, "/dashboard").await;
    phone.goto(&payload).await.expect("open the QR's URL");
    wait_for_text(&phone, "#who", "carol").await;
    wait_for_text(&phone, "#choice:not([hidden])", "Approve").await;
    screenshot(&phone, "phone-approve.png").await;
    click_when_shown(&phone, "#choice:not([hidden]) #approve").await;
    wait_for_text(&phone, "#status", "Done — go back to your computer").await;
    screenshot(&phone, "phone-done.png").await;
    assert!(
        wait_for_url(&desktop, "/dashboard").await,
        "the desktop signed in without a reload, got {}",
        current_url(&desktop).await
    );
    assert_eq!(shown_user(&desktop).await, "carol");
    drain_console(&desktop, &mut console).await;

    // "Add a phone" on the sessions page: the session is not enough, however fresh; the
    // phone (carol's key) approves this very action, seeing that it is one, and only then
    // does the desktop show the invitation.
    desktop
        .goto(&gw.url("/.qrgate/sessions"))
        .await
        .expect("goto");
    click_when_shown(&desktop, "#invite").await;
    wait_for_text(&desktop, "h1", "add a new device for carol").await;
    screenshot(&desktop, "confirm-add-device.png").await;
    let payload = native_payload(&desktop).await;
    phone.goto(&payload).await.expect("open the QR's URL");
    wait_for_text(&phone, "#action", "add a new device for carol").await;
    screenshot(&phone, "phone-confirm-action.png").await;
    click_when_shown(&phone, "#choice:not([hidden]) #approve").await;
    wait_for_text(&phone, "#status", "Confirmed").await;
    let shown = eventually(Duration::from_secs(20), || async {
        desktop
            .execute(
                "var l = document.getElementById('link'); return l ? l.value : '';",
                vec![],
            )
            .await
            .is_ok_and(|v| v.as_str().unwrap_or("").contains("/.qrgate/enroll/"))
    })
    .await;
    assert!(
        shown,
        "the desktop shows the invitation, got {}",
        current_url(&desktop).await
    );
    screenshot(&desktop, "invitation-after-confirmation.png").await;
    let link = desktop
        .execute("return document.getElementById('link').value;", vec![])
        .await
        .expect("link");
    let second = signer::Key::generate();
    signer::enroll(&client(), link.as_str().expect("text").trim(), &second)
        .await
        .expect("the invitation enrolls a second key of carol's");
    drain_console(&desktop, &mut console).await;

    // Declining on the phone shows as declined on the desktop.
    desktop.delete_all_cookies().await.expect("sign out");
    let payload = desktop_login(&desktop, &gw, "/second").await;
    phone.goto(&payload).await.expect("open the QR's URL");
    click_when_shown(&phone, "#choice:not([hidden]) #decline").await;
    wait_for_text(&phone, "#status", "Declined").await;
    wait_for_text(&desktop, "#status", "declined on the phone").await;

    // Same device: the phone signs itself in from its own login page.
    phone.goto(&gw.url("/on-the-phone")).await.expect("goto");
    click_when_shown(&phone, "#this-device:not([hidden]) #device-sign-in").await;
    assert!(
        wait_for_url(&phone, "/on-the-phone").await,
        "the phone signed itself in, got {}",
        current_url(&phone).await
    );
    assert_eq!(shown_user(&phone).await, "carol");
    drain_console(&phone, &mut console).await;

    // Carol removes the phone herself from the desktop, signed in with her second key: the
    // phone cannot approve its own removal; her second key does, and the phone is gone.
    desktop.delete_all_cookies().await.expect("sign out");
    desktop_login(&desktop, &gw, "/fourth").await;
    approve_with(&gw, &attempt_id(&desktop).await, &second).await;
    assert!(wait_for_url(&desktop, "/fourth").await);
    desktop
        .goto(&gw.url("/.qrgate/sessions"))
        .await
        .expect("goto");
    let phone_device = gw
        .state
        .devices()
        .list()
        .iter()
        .find(|d| d.key != KeyBytes::new(*second.public().as_bytes()))
        .map(|d| d.id())
        .expect("the phone's device");
    click_when_shown(
        &desktop,
        &format!("form[action='/.qrgate/remove-device'] input[value='{phone_device}'] + button"),
    )
    .await;
    wait_for_text(&desktop, "h1", "remove device").await;
    let payload = native_payload(&desktop).await;
    phone.goto(&payload).await.expect("open the QR's URL");
    wait_for_text(&phone, "#action", "remove device").await;
    click_when_shown(&phone, "#choice:not([hidden]) #approve").await;
    wait_for_text(&phone, "#status", "cannot approve its own removal").await;
    approve_with(&gw, &attempt_id(&desktop).await, &second).await;
    assert!(
        wait_for_url(&desktop, "/.qrgate/sessions").await,
        "back on the sessions page, got {}",
        current_url(&desktop).await
    );
    let keys = eventually(Duration::from_secs(20), || async {
        desktop
            .find_all(Locator::Css("li.key"))
            .await
            .is_ok_and(|k| k.len() == 1)
    })
    .await;
    assert!(keys, "one key left");
    assert_eq!(gw.state.devices().len(), 1, "only the second key's device");
    drain_console(&desktop, &mut console).await;

    // A removed device's approval is refused, and the phone says why.
    desktop.delete_all_cookies().await.expect("sign out");
    let payload = desktop_login(&desktop, &gw, "/third").await;
    let id = attempt_id(&desktop).await;
    phone.goto(&payload).await.expect("open the QR's URL");
    click_when_shown(&phone, "#choice:not([hidden]) #approve").await;
    wait_for_text(&phone, "#status", "no longer enrolled").await;
    assert!(
        !approved_unclaimed(&gw, &id).await,
        "the refused approval left the attempt open"
    );

    // No Content-Security-Policy complaint in either browser's console on the way.
    drain_console(&phone, &mut console).await;
    drain_console(&desktop, &mut console).await;
    let complaints = csp_complaints(&console);
    assert!(complaints.is_empty(), "CSP violations: {complaints:?}");
    phone.close().await.expect("close the phone");
    desktop.close().await.expect("close the desktop");
}

#[tokio::test]
async fn a_browser_without_ed25519_in_webcrypto_is_told_so_and_no_key_is_made() {
    let gw = TestGateway::with(crate::common::Setup {
        tail: "[[user]]\nname = \"carol\"\n".into(),
        ..crate::common::Setup::default()
    })
    .await;
    let invited = gw.invite("carol").await;
    let driver = start_driver().await;
    let phone = open_phone(&driver, "old-phone").await;
    // An older browser: WebCrypto without Ed25519.
    cdp(
        &phone,
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": "(() => { const g = crypto.subtle.generateKey.bind(crypto.subtle);\
            crypto.subtle.generateKey = (alg, ...rest) => (alg && (alg.name || alg) === 'Ed25519')\
              ? Promise.reject(new DOMException('Unrecognized name', 'NotSupportedError')) : g(alg, ...rest); })();" }),
    )
    .await;
    phone
        .goto(&invited.link)
        .await
        .expect("open the invitation");
    let said = wait_for_text(&phone, "#unsupported", "cannot keep a signing key").await;
    assert!(
        said.contains("Chrome") && said.contains("Safari") && said.contains("Firefox"),
        "{said}"
    );
    screenshot(&phone, "phone-unsupported.png").await;
    let enroll = phone.find(Locator::Id("enroll")).await.expect("button");
    assert!(
        !enroll.is_displayed().await.expect("shown?"),
        "no way to enroll"
    );
    assert!(gw.state.devices().is_empty());
    // The invitation is still usable from a browser that can.
    assert!(gw.invitation_open(&invited.link).await);
    phone.close().await.expect("close");
}
