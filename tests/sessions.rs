//! The person's own sessions page: every session of their key, sign out one, all others, or
//! everywhere; forms only from the app's own origin.

use crate::common::{sign_in_at, TestGateway, NAV};

/// Whether `b` still gets through to the app.
async fn signed_in(b: &reqwest::Client, gw: &TestGateway) -> bool {
    b.get(gw.url("/app"))
        .header("accept", "application/json")
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

async fn sign_out(b: &reqwest::Client, gw: &TestGateway, form: &str, origin: Option<&str>) -> u16 {
    let mut req = b
        .post(gw.url("/.qrgate/sessions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", NAV)
        .body(form.to_string());
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.expect("answer").status().as_u16()
}

fn id_of(token: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(token.as_bytes())[..12])
}

#[tokio::test]
async fn a_person_sees_every_session_of_their_key_and_signs_out_any_of_them() {
    let gw = TestGateway::start().await;
    let base = gw.url("");
    let origin = base.trim_end_matches('/').to_string();
    let (b1, t1) = sign_in_at(&base).await;
    let (b2, t2) = sign_in_at(&base).await;
    let (b3, _) = sign_in_at(&base).await;

    // Without a session the page sends the browser to log in, and back here afterwards.
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = anon
        .get(gw.url("/.qrgate/sessions"))
        .header("accept", NAV)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        "/.qrgate/login?rd=%2F.qrgate%2Fsessions"
    );

    let page = b1
        .get(gw.url("/.qrgate/sessions"))
        .header("accept", NAV)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(
        csp.contains("form-action 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("Signed in as alice"), "{html}");
    assert_eq!(html.matches("<li>").count(), 3, "{html}");
    assert_eq!(html.matches("this browser").count(), 1);
    assert!(
        !html.contains(&t1) && !html.contains(&t2),
        "no token on the page"
    );
    assert!(
        html.contains(&id_of(&t2)),
        "other sessions can be signed out by id"
    );

    // Forms from elsewhere change nothing.
    assert_eq!(
        sign_out(&b1, &gw, &format!("id={}", id_of(&t2)), None).await,
        403
    );
    assert_eq!(
        sign_out(
            &b1,
            &gw,
            &format!("id={}", id_of(&t2)),
            Some("https://evil.example")
        )
        .await,
        403
    );
    assert_eq!(sign_out(&b1, &gw, "scope=mine", Some(&origin)).await, 400);
    assert!(signed_in(&b2, &gw).await);

    // One session by id.
    assert_eq!(
        sign_out(&b1, &gw, &format!("id={}", id_of(&t2)), Some(&origin)).await,
        303
    );
    assert!(!signed_in(&b2, &gw).await, "b2 signed out");
    assert!(signed_in(&b1, &gw).await && signed_in(&b3, &gw).await);

    // All others.
    assert_eq!(sign_out(&b1, &gw, "scope=others", Some(&origin)).await, 303);
    assert!(!signed_in(&b3, &gw).await, "b3 signed out");
    assert!(signed_in(&b1, &gw).await, "this one stays");

    // Everywhere, this one included.
    assert_eq!(sign_out(&b1, &gw, "scope=all", Some(&origin)).await, 303);
    assert!(!signed_in(&b1, &gw).await);
}
