//! The pages in the visitor's language, light and dark, wide and narrow, in a real headless
//! Chromium: `Accept-Language` picks German or Arabic (right to left); the login page, the
//! phone's approval page, the sessions page and an error page carry `lang` and `dir`, speak
//! the language, label every control, announce the login status in a live region and let
//! the keyboard reach the controls. Screenshots of each go to target/browser-artifacts/.

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::browser_driver::*;
use crate::common::TestGateway;

/// Makes `b` ask for `lang` and show the `scheme` colour scheme at `width` CSS pixels.
async fn look(b: &Client, lang: &str, scheme: &str, width: u32) {
    cdp(
        b,
        "Emulation.setUserAgentOverride",
        json!({
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36",
            "acceptLanguage": lang,
        }),
    )
    .await;
    cdp(
        b,
        "Emulation.setEmulatedMedia",
        json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
    )
    .await;
    cdp(
        b,
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500 }),
    )
    .await;
}

async fn js(b: &Client, script: &str) -> Value {
    b.execute(script, vec![]).await.expect("script")
}

/// `lang` and `dir` of the page's `<html>`.
async fn lang_and_dir(b: &Client) -> (String, String) {
    let v = js(
        b,
        "return [document.documentElement.lang, document.documentElement.dir];",
    )
    .await;
    (
        v[0].as_str().unwrap_or_default().to_string(),
        v[1].as_str().unwrap_or_default().to_string(),
    )
}

/// Controls a person can use (visible inputs, selects, textareas) without a label.
async fn unlabelled(b: &Client) -> Vec<String> {
    let v = js(
        b,
        "return Array.from(document.querySelectorAll('input, select, textarea'))\
           .filter(e => e.type !== 'hidden' && e.offsetParent !== null)\
           .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))\
           .map(e => e.outerHTML);",
    )
    .await;
    serde_json::from_value(v).expect("list")
}

/// What Tab reaches, from the top of the page, in order (at most `n` steps).
async fn tab_order(b: &Client, n: usize) -> Vec<String> {
    js(
        b,
        "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..n {
        b.active_element()
            .await
            .expect("active element")
            .send_keys("\u{E004}")
            .await
            .expect("tab");
        let v = js(
            b,
            "var e = document.activeElement; return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className.split(' ')[0] : '');",
        )
        .await;
        seen.push(v.as_str().unwrap_or_default().to_string());
    }
    seen
}

#[tokio::test]
async fn pages_speak_german_and_arabic_light_and_dark_wide_and_narrow() {
    let gw = TestGateway::start().await;
    let driver = start_driver().await;
    let b = open_browser(&driver, "i18n").await;

    for (lang, expected, dir) in [
        ("de-DE,de;q=0.9,en;q=0.5", "Bei Test app anmelden", "ltr"),
        ("ar", "تسجيل الدخول إلى", "rtl"),
    ] {
        let tag = &lang[..2];
        for scheme in ["light", "dark"] {
            look(&b, lang, scheme, 800).await;
            b.goto(&gw.url("/dashboard")).await.expect("goto");
            assert!(
                wait_for_url_containing(&b, "/.qrgate/login?rd=").await,
                "the login page, got {}",
                current_url(&b).await
            );
            assert_eq!(lang_and_dir(&b).await, (tag.to_string(), dir.to_string()));
            let h = heading(&b).await;
            assert!(h.contains(expected), "{tag} heading: {h}");
            // The status is a polite live region; it speaks the language.
            let status = b.find(Locator::Id("status")).await.expect("status");
            assert_eq!(
                status.attr("aria-live").await.expect("attr").as_deref(),
                Some("polite")
            );
            assert_eq!(
                status.attr("role").await.expect("attr").as_deref(),
                Some("status")
            );
            let waiting = status.text().await.expect("text");
            assert!(
                !waiting.is_empty() && !waiting.contains("Waiting"),
                "{tag} status: {waiting}"
            );
            assert!(
                unlabelled(&b).await.is_empty(),
                "{:?}",
                unlabelled(&b).await
            );
            screenshot(&b, &format!("i18n-login-{tag}-{scheme}.png")).await;
        }
        // Keyboard: Tab reaches the same-device link, the copy button and the code as text,
        // in the order they are read.
        let order = tab_order(&b, 3).await;
        assert_eq!(
            order,
            ["a", "button.secondary", "textarea#payload-native.payload"],
            "{tag} tab order reaches the controls"
        );

        // Narrow, the page still fits: nothing wider than the viewport.
        look(&b, lang, "light", 360).await;
        b.refresh().await.expect("reload");
        let overflow = js(
            &b,
            "return document.documentElement.scrollWidth - window.innerWidth;",
        )
        .await;
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "{tag} narrow page overflows by {overflow}"
        );
        screenshot(&b, &format!("i18n-login-{tag}-narrow.png")).await;

        // The phone's approval page for this attempt (this browser holds no key).
        let id = attempt_id(&b).await;
        for scheme in ["light", "dark"] {
            look(&b, lang, scheme, 390).await;
            b.goto(&gw.url(&format!("/.qrgate/auth/session/{id}")))
                .await
                .expect("goto");
            assert_eq!(lang_and_dir(&b).await, (tag.to_string(), dir.to_string()));
            let status = b.find(Locator::Id("status")).await.expect("status");
            assert_eq!(
                status.attr("aria-live").await.expect("attr").as_deref(),
                Some("polite")
            );
            screenshot(&b, &format!("i18n-approve-{tag}-{scheme}.png")).await;
        }

        // An error page.
        for scheme in ["light", "dark"] {
            look(&b, lang, scheme, 800).await;
            b.goto(&gw.url("/.qrgate/no-such-page"))
                .await
                .expect("goto");
            assert_eq!(lang_and_dir(&b).await, (tag.to_string(), dir.to_string()));
            let h = heading(&b).await;
            assert!(!h.contains("Not found"), "{tag} error page: {h}");
            // A short page: saved as it is (the blank check wants more text than it has).
            let shot = b.screenshot().await.expect("screenshot");
            std::fs::write(
                artifacts().join(format!("i18n-error-{tag}-{scheme}.png")),
                shot,
            )
            .expect("save screenshot");
        }

        // The sessions page, signed in.
        look(&b, lang, "light", 800).await;
        b.goto(&gw.url("/dashboard")).await.expect("goto");
        assert!(wait_for_url_containing(&b, "/.qrgate/login?rd=").await);
        let id = attempt_id(&b).await;
        approve_as_alice(&gw, &id).await;
        assert!(wait_for_url(&b, "/dashboard").await, "signed in");
        for scheme in ["light", "dark"] {
            look(&b, lang, scheme, 800).await;
            b.goto(&gw.url("/.qrgate/sessions")).await.expect("goto");
            assert_eq!(lang_and_dir(&b).await, (tag.to_string(), dir.to_string()));
            assert!(
                unlabelled(&b).await.is_empty(),
                "{:?}",
                unlabelled(&b).await
            );
            screenshot(&b, &format!("i18n-sessions-{tag}-{scheme}.png")).await;
        }
        look(&b, lang, "dark", 360).await;
        b.refresh().await.expect("reload");
        screenshot(&b, &format!("i18n-sessions-{tag}-narrow.png")).await;
        b.delete_all_cookies().await.expect("sign out");
    }
}
