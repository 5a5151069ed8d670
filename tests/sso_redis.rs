//! Single sign-on across apps on two instances sharing one real Redis: a code issued by the
//! SSO origin at one instance is redeemed on the app's origin at the other, once; a family
//! ended at one instance is refused at the other within the propagation deadline.

use std::sync::Arc;

use crate::common::{alice_key, eventually, NAV};
use crate::redis_common::{instance, phone_via, Redis, ORIGIN, PROPAGATION};

/// The SSO origin both instances serve.
const SSO: &str = "http://localhost:1";

/// A browser that reaches every origin through instance `base`, with the shared jar.
fn browser_via(base: &str, jar: &Arc<reqwest::cookie::Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .proxy(reqwest::Proxy::http(base).expect("proxy"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn location(b: &reqwest::Client, url: &str) -> (u16, String) {
    let resp = b.get(url).header("accept", NAV).send().await.expect("get");
    let status = resp.status().as_u16();
    let loc = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("location").to_string())
        .unwrap_or_default();
    (status, loc)
}

async fn redeem(b: &reqwest::Client, code: &str) -> u16 {
    b.post(format!("{ORIGIN}/.qrgate/sso/redeem"))
        .header("origin", ORIGIN)
        .form(&[("code", code)])
        .send()
        .await
        .expect("redeem")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_code_issued_at_one_instance_is_redeemed_at_another_and_a_family_ends_on_both() {
    let redis = Redis::start().await;
    let shared = tempfile::tempdir().expect("dir");
    let sso = format!(
        "[sso]\norigin = \"{SSO}\"\nname = \"Example\"\nkey_file = \"{}\"\n",
        shared.path().join("oidc-keys.json").display()
    );
    let (a, _) = instance(&redis, &sso).await;
    let (b, _) = instance(&redis, &sso).await;
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let via_a = browser_via(&a.base, &jar);
    let via_b = browser_via(&b.base, &jar);

    // The app's origin sends the browser (through A) to the SSO origin, which asks for the
    // one approval.
    let (status, login) = location(&via_a, &format!("{ORIGIN}/private")).await;
    assert_eq!(status, 302);
    let (status, issue) = location(&via_a, &format!("{ORIGIN}{login}")).await;
    assert_eq!(status, 302);
    assert!(
        issue.starts_with(&format!("{SSO}/.qrgate/sso/issue?")),
        "{issue}"
    );
    let html = via_a
        .get(format!("{SSO}/.qrgate/login?rd=%2F"))
        .header("accept", NAV)
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt id") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let url = url::Url::parse(&format!("{SSO}/.qrgate/auth/session/{id}")).expect("url");
    let phone = phone_via(&a.base);
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    qrgate::cli::signer::approve(&phone, &url, &alice_key(), &req)
        .await
        .expect("approve");
    let claimed = via_a
        .post(format!("{SSO}/.qrgate/auth/session/{id}/claim"))
        .header("origin", SSO)
        .header("accept", "application/json")
        .send()
        .await
        .expect("claim");
    assert_eq!(claimed.status(), 200);

    // Issued at A, redeemed at B, once (anywhere).
    let (status, to_app) = location(&via_a, &issue).await;
    assert_eq!(status, 302, "{}", a.log());
    let code = url::Url::parse(&to_app)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    assert_eq!(redeem(&via_b, &code).await, 303, "{}", b.log());
    assert_eq!(
        redeem(&via_a, &code).await,
        400,
        "used once, on every instance"
    );
    assert_eq!(location(&via_b, &format!("{ORIGIN}/private")).await.0, 200);
    assert_eq!(location(&via_a, &format!("{ORIGIN}/private")).await.0, 200);

    // Signing out on the SSO origin at A ends the app's session at B.
    let out = via_a
        .post(format!("{SSO}/.qrgate/logout"))
        .header("origin", SSO)
        .header("accept", "application/json")
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);
    let ended = eventually(PROPAGATION, || {
        let via_b = via_b.clone();
        async move { location(&via_b, &format!("{ORIGIN}/private")).await.0 == 302 }
    })
    .await;
    assert!(ended, "the family ended at A is refused at B");
}
