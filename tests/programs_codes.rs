//! Guessing user codes is bounded (RFC 8628 §5.1): wrong codes typed on the real gateway's
//! verification page count against the client (its address, told by a trusted proxy's
//! `X-Forwarded-For`) and against the instance; beyond either budget the page answers 429 and
//! reads no code, and once the window has passed (the gateway's clock advanced) a right code
//! works again and its approval yields a token.

use std::time::Duration;

use crate::common::{alice_key, browser, client, Setup, NAV};
use crate::programs_device::{
    device_code, open_verification, poll, programs_gateway_with, sso, token_by_polling,
};

#[tokio::test]
async fn wrong_user_codes_are_bounded_per_client_and_for_the_instance() {
    let base = Setup {
        server: "trust_forwarded_for = true\ntrusted_proxies = [\"127.0.0.1\"]\n".into(),
        limits: format!(
            "{}user_code_failures_per_client = 3\nuser_code_failures = 5\nuser_code_window_seconds = 60\n",
            Setup::default().limits
        ),
        ..Setup::default()
    };
    let (gw, _dir) = programs_gateway_with("", base).await;
    let details = device_code(&gw, &["app:Test%20app"]).await;
    let right = details.user_code().secret().clone();
    let wrong: Vec<String> = ["BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD", "FFFF-FFFF"]
        .into_iter()
        .filter(|c| *c != right)
        .map(String::from)
        .collect();
    let b = browser();
    let page = |from: &'static str, code: String| {
        let b = b.clone();
        let url = format!("{}/.qrgate/device?user_code={code}", sso(&gw));
        async move {
            let r = b
                .get(url)
                .header("accept", NAV)
                .header("x-forwarded-for", from)
                .send()
                .await
                .expect("verification page");
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            (status, retry, r.text().await.expect("html"))
        }
    };
    let pending = || async {
        let (status, body) = poll(&gw, details.device_code().secret()).await;
        (
            status,
            body["error"].as_str().unwrap_or_default().to_string(),
        )
    };

    // A value of no user code's shape is refused and not counted, however many.
    for _ in 0..10 {
        let (status, _, html) = page("192.0.2.1", "not-a-code".into()).await;
        assert_eq!(status, 400);
        assert!(html.contains("Unknown code"));
    }
    // One client: three wrong codes, then even the right one is not read.
    for code in [wrong[0].clone(), wrong[1].clone(), wrong[2].clone()] {
        let (status, _, html) = page("192.0.2.1", code).await;
        assert_eq!(status, 400);
        assert!(html.contains("Unknown code"));
    }
    let (status, retry, html) = page("192.0.2.1", right.clone()).await;
    assert_eq!(status, 429, "{html}");
    assert!(html.contains("Too many wrong codes"), "{html}");
    assert!(matches!(retry, Some(1..=60)), "{retry:?}");
    assert!(!html.contains("data-attempt"), "no approval starts");
    gw.clock.advance(Duration::from_secs(5));
    assert_eq!(pending().await, (400, "authorization_pending".into()));

    // Other clients: two more wrong codes spend the instance's budget, and a third client's
    // right code is not read either.
    for code in [wrong[2].clone(), wrong[0].clone()] {
        assert_eq!(page("192.0.2.2", code).await.0, 400);
    }
    let (status, retry, _) = page("192.0.2.3", right.clone()).await;
    assert_eq!(status, 429);
    assert!(retry.is_some());
    assert_eq!(page("192.0.2.2", right.clone()).await.0, 429);

    // Once the window has passed, the right code works for someone else, and the phone's
    // approval yields the token.
    gw.clock.advance(Duration::from_secs(61));
    let complete = details
        .verification_uri_complete()
        .expect("complete")
        .secret()
        .clone();
    let (html, attempt) = open_verification(&gw, &complete).await;
    assert!(html.contains(&right), "{html}");
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    qrgate::cli::signer::approve(&phone, &attempt, &alice_key(), &req)
        .await
        .expect("approve");
    assert!(token_by_polling(&gw, &details).await.is_ok());
}
