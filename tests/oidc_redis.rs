//! The OpenID Connect provider on several instances sharing one real Redis: what one instance
//! issues, another redeems; a refresh token rotated at one is reuse at the other.

use serde_json::Value;

use crate::common::{alice_key, NAV};
use crate::redis_common::{instance, phone_via, Redis};

/// The SSO origin both instances serve (reached through each instance as a proxy).
const SSO: &str = "http://localhost:1";
const SECRET: &str = "shared-client-secret-0123456789";
const REDIRECT: &str = "https://app.example/callback";

/// A browser that reaches the SSO origin through instance `base`, keeping cookies.
fn browser_via(base: &str, jar: &std::sync::Arc<reqwest::cookie::Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .proxy(reqwest::Proxy::http(base).expect("proxy"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn token(base: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = phone_via(base)
        .post(format!("{SSO}/.qrgate/oidc/token"))
        .basic_auth("app", Some(SECRET))
        .form(form)
        .send()
        .await
        .expect("token");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_code_issued_at_one_instance_is_redeemed_at_another_and_refresh_reuse_is_seen_everywhere()
{
    let redis = Redis::start().await;
    let shared = tempfile::tempdir().expect("dir");
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SECRET.as_bytes()));
    // Both instances publish the same keys: one key file, as a shared volume would give them.
    let sso = format!(
        "[sso]\norigin = \"{SSO}\"\nname = \"Example\"\nkey_file = \"{}\"\n\n[[oidc_client]]\nid = \"app\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\n",
        shared.path().join("oidc-keys.json").display()
    );
    let (a, _) = instance(&redis, &sso).await;
    let (b, _) = instance(&redis, &sso).await;

    // Sign in on the SSO origin through A.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = browser_via(&a.base, &jar);
    let html = browser
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
    let claimed = browser
        .post(format!("{SSO}/.qrgate/auth/session/{id}/claim"))
        .header("origin", SSO)
        .header("accept", "application/json")
        .send()
        .await
        .expect("claim");
    assert_eq!(claimed.status(), 200);

    // A code from A, redeemed at B.
    let authorize = format!(
        "{SSO}/.qrgate/oidc/authorize?response_type=code&client_id=app&redirect_uri={}&scope=openid%20offline_access&state=s",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let resp = browser
        .get(&authorize)
        .header("accept", NAV)
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let code: String = url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, first) = token(&b.base, &redeem).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = token(&a.base, &redeem).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant")),
        "used once, anywhere"
    );
    let info = phone_via(&a.base)
        .get(format!("{SSO}/.qrgate/oidc/userinfo"))
        .bearer_auth(first["access_token"].as_str().expect("access"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(
        info.status(),
        401,
        "the replayed code revoked the grant on every instance"
    );

    // A fresh grant: rotated at A, the old refresh token at B is reuse, and the family ends.
    let resp = browser
        .get(&authorize)
        .header("accept", NAV)
        .send()
        .await
        .expect("authorize");
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let code: String = url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, grant) = token(&b.base, &redeem).await;
    assert_eq!(status, 200, "{grant}");
    let r1 = grant["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let (status, rotated) = token(
        &a.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let r2 = rotated["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    assert_ne!(r1, r2);
    let (status, reuse) = token(
        &b.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
    )
    .await;
    assert_eq!(
        (status, reuse["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, after) = token(
        &a.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
    )
    .await;
    assert_eq!(
        (status, after["error"].as_str()),
        (400, Some("invalid_grant")),
        "the family is revoked"
    );

    // A refused refresh changes nothing anywhere; a narrower one is honoured.
    let (status, grant) = token(
        &b.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code_from(&browser, &authorize).await),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{grant}");
    let r1 = grant["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let (status, wide) = token(
        &a.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r1),
            ("scope", "openid email"),
        ],
    )
    .await;
    assert_eq!(
        (status, wide["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, narrow) = token(
        &b.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r1),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "openid");
    let r2 = narrow["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();

    // Signing out of the SSO origin at B ends the sign-on everywhere: its grant, and a code
    // minted at A before the sign-out.
    let pending = code_from(&browser, &authorize).await;
    let out = browser_via(&b.base, &jar)
        .post(format!("{SSO}/.qrgate/logout"))
        .header("origin", SSO)
        .send()
        .await
        .expect("logout");
    assert!(
        out.status().is_success() || out.status().is_redirection(),
        "{}",
        out.status()
    );
    let (status, e) = token(
        &a.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let (status, e) = token(
        &a.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &pending),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
}

/// A code through the signed-in `browser` for `authorize`.
async fn code_from(browser: &reqwest::Client, authorize: &str) -> String {
    let resp = browser
        .get(authorize)
        .header("accept", NAV)
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code")
}
