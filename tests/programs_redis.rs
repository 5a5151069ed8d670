//! The device authorization grant on two instances sharing one real Redis: a device code
//! asked for at one instance is approved through the other and redeemed at the first, once;
//! its grant refreshes at either.

use std::sync::Arc;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, DeviceAuthorizationUrl, Scope, TokenResponse, TokenUrl};

use crate::common::{alice_key, NAV};
use crate::redis_common::{instance_offering, phone_via, Redis};

/// The SSO origin both instances serve.
const SSO: &str = "http://localhost:1";

/// A client that reaches every origin through instance `base`.
fn via(base: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .proxy(reqwest::Proxy::http(base).expect("proxy"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_device_code_asked_at_one_instance_is_approved_through_another_and_redeemed_once() {
    let redis = Redis::start().await;
    let shared = tempfile::tempdir().expect("dir");
    let sso = format!(
        "[sso]\norigin = \"{SSO}\"\nname = \"Example\"\nkey_file = \"{}\"\n[programs]\npoll_interval_seconds = 1\n",
        shared.path().join("oidc-keys.json").display()
    );
    let (a, _) = instance_offering(&redis, &sso, "programs = true").await;
    let (b, _) = instance_offering(&redis, &sso, "programs = true").await;
    let (via_a, via_b) = (via(&a.base), via(&b.base));
    let cli = BasicClient::new(ClientId::new("qrgate-cli".into()))
        .set_auth_type(AuthType::RequestBody)
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(format!("{SSO}/.qrgate/oidc/device_authorization"))
                .expect("url"),
        )
        .set_token_uri(TokenUrl::new(format!("{SSO}/.qrgate/oidc/token")).expect("url"));
    let details: oauth2::StandardDeviceAuthorizationResponse = cli
        .exchange_device_code()
        .add_scope(Scope::new("app:a".into()))
        .add_scope(Scope::new("offline_access".into()))
        .request_async(&via_a)
        .await
        .expect("device code at A");
    let complete = details
        .verification_uri_complete()
        .expect("complete")
        .secret()
        .clone();

    // The person opens the page through B and the phone approves through B.
    let html = via_b
        .get(&complete)
        .header("accept", NAV)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("approval page") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let attempt = url::Url::parse(&format!("{SSO}/.qrgate/auth/session/{id}")).expect("url");
    let phone = phone_via(&b.base);
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    assert!(
        req.app.contains("wants read-write access to a"),
        "{}",
        req.app
    );
    qrgate::cli::signer::approve(&phone, &attempt, &alice_key(), &req)
        .await
        .expect("approve");

    // The program polls A (real waits of the 1 s interval).
    let token = cli
        .exchange_device_access_token(&details)
        .request_async(&via_a, tokio::time::sleep, Some(Duration::from_secs(20)))
        .await
        .expect("a token at A");
    let again = cli
        .exchange_device_access_token(&details)
        .request_async(&via_b, tokio::time::sleep, Some(Duration::from_secs(20)))
        .await;
    assert!(again.is_err(), "handed out once, on every instance");
    let refresh = token.refresh_token().expect("refresh token");
    let renewed = cli
        .exchange_refresh_token(refresh)
        .request_async(&via_b)
        .await
        .expect("refreshed at B");
    assert_ne!(
        renewed.access_token().secret(),
        token.access_token().secret()
    );
}
