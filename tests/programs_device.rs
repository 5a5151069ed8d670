//! The device authorization grant (RFC 8628) through the real gateway: the `oauth2` crate's
//! device flow is the program, a reqwest client the browser on the verification page, and
//! the reference signer the phone. Pending, slow_down, denial, expiry, success and refresh;
//! the gateway's manual clock stands in for the waiting, advanced by the client's own sleeps.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, DeviceAuthorizationUrl, RefreshToken, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use serde_json::Value;

use crate::common::{alice_key, browser, client, Setup, TestGateway, NAV};

/// A gateway whose app lets programs in, with `[sso]` on `localhost:{port}`.
pub(crate) async fn programs_gateway(extra: &str) -> (TestGateway, tempfile::TempDir) {
    programs_gateway_with(extra, Setup::default()).await
}

/// [`programs_gateway`] on `base` (its `[server]`, `[limits]`…).
pub(crate) async fn programs_gateway_with(
    extra: &str,
    base: Setup,
) -> (TestGateway, tempfile::TempDir) {
    let (setup, dir) = programs_setup_on(extra, base);
    (TestGateway::with(setup).await, dir)
}

/// A gateway's setup whose app lets programs in, with an SSO origin on the gateway's own
/// port (`extra` in the config's tail), and the folder holding its signing keys.
pub(crate) fn programs_setup(extra: &str) -> (Setup, tempfile::TempDir) {
    programs_setup_on(extra, Setup::default())
}

fn programs_setup_on(extra: &str, base: Setup) -> (Setup, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("oidc-keys.json");
    let tail = format!(
        "\n[sso]\norigin = \"http://localhost:{{gateway_port}}\"\nname = \"Example\"\nkey_file = \"{}\"\n{extra}\n",
        keys.display()
    );
    let setup = Setup {
        app_extra: "public_paths = [\"/public\"]\nprograms = true\n".into(),
        tail,
        ..base
    };
    (setup, dir)
}

pub(crate) fn sso(gw: &TestGateway) -> String {
    format!("http://localhost:{}", gw.addr.port())
}

/// The `oauth2` client of the built-in public client `qrgate-cli` at `gw`.
pub(crate) fn cli_client(
    gw: &TestGateway,
) -> oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    let base = format!("{}/.qrgate/oidc", sso(gw));
    BasicClient::new(ClientId::new("qrgate-cli".into()))
        .set_auth_type(AuthType::RequestBody)
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(format!("{base}/device_authorization")).expect("url"),
        )
        .set_token_uri(TokenUrl::new(format!("{base}/token")).expect("url"))
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub(crate) async fn device_code(
    gw: &TestGateway,
    scopes: &[&str],
) -> StandardDeviceAuthorizationResponse {
    let cli = cli_client(gw);
    let mut ask = cli.exchange_device_code();
    for s in scopes {
        ask = ask.add_scope(Scope::new((*s).into()));
    }
    ask.request_async(&http()).await.expect("device code")
}

/// One poll of the token endpoint by hand: status and JSON.
pub(crate) async fn poll(gw: &TestGateway, device_code: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/.qrgate/oidc/token", sso(gw)))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", "qrgate-cli"),
        ])
        .send()
        .await
        .expect("poll");
    (r.status().as_u16(), r.json().await.expect("json"))
}

/// The browser opens the verification page with the code; returns the page and the attempt's
/// URL as its QR shows it.
pub(crate) async fn open_verification(gw: &TestGateway, complete: &str) -> (String, url::Url) {
    let html = browser()
        .get(complete)
        .header("accept", NAV)
        .send()
        .await
        .expect("verification page")
        .text()
        .await
        .expect("html");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("an approval page") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let url = url::Url::parse(&format!("{}/.qrgate/auth/session/{id}", sso(gw))).expect("url");
    (html, url)
}

/// The program's polls, each wait spent on the gateway's clock instead of the test's.
pub(crate) async fn token_by_polling(
    gw: &TestGateway,
    details: &StandardDeviceAuthorizationResponse,
) -> Result<oauth2::basic::BasicTokenResponse, String> {
    let clock = gw.clock.clone();
    let http = http();
    cli_client(gw)
        .exchange_device_access_token(details)
        .request_async(
            &http,
            move |wait| {
                clock.advance(wait);
                tokio::time::sleep(Duration::from_millis(50))
            },
            Some(Duration::from_secs(20)),
        )
        .await
        .map_err(|e| match e {
            oauth2::RequestTokenError::ServerResponse(r) => r.error().to_string(),
            other => format!("{other:?}"),
        })
}

#[tokio::test]
async fn a_program_polls_until_the_phone_approves_and_then_refreshes() {
    let (gw, _dir) = programs_gateway("").await;
    let details = device_code(&gw, &["app:Test%20app:read", "offline_access"]).await;
    let user_code = details.user_code().secret().clone();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(user_code.as_bytes()[4], b'-');
    assert_eq!(
        details.verification_uri().as_str(),
        format!("{}/.qrgate/device", sso(&gw))
    );
    assert_eq!(details.interval(), Duration::from_secs(5));
    assert_eq!(details.expires_in(), Duration::from_secs(600));
    let complete = details
        .verification_uri_complete()
        .expect("verification_uri_complete")
        .secret()
        .clone();

    // Another code polled by hand: pending, then too soon (and 5 s more to wait from then on).
    let other = device_code(&gw, &["app:Test%20app"]).await;
    let other = other.device_code().secret().clone();
    let (status, body) = poll(&gw, &other).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (status, body) = poll(&gw, &other).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")));
    gw.clock.advance(Duration::from_secs(9));
    let (status, body) = poll(&gw, &other).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("slow_down")),
        "the interval is 10 s now"
    );
    gw.clock.advance(Duration::from_secs(15));
    let (status, body) = poll(&gw, &other).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let code = details.device_code().secret().clone();

    // The program polls on its own while the person looks at the page and approves: it hears
    // `authorization_pending` twice, then its next wait lasts until the phone approved.
    let approved = Arc::new(AtomicBool::new(false));
    let waits = Arc::new(AtomicUsize::new(0));
    let polling = {
        let details = details.clone();
        let gw_port = gw.addr.port();
        let clock = gw.clock.clone();
        let (approved, waits) = (approved.clone(), waits.clone());
        let http = http();
        tokio::spawn(async move {
            let base = format!("http://localhost:{gw_port}/.qrgate/oidc");
            BasicClient::new(ClientId::new("qrgate-cli".into()))
                .set_auth_type(AuthType::RequestBody)
                .set_token_uri(TokenUrl::new(format!("{base}/token")).expect("url"))
                .exchange_device_access_token(&details)
                .request_async(
                    &http,
                    move |wait| {
                        let (clock, approved, waits) =
                            (clock.clone(), approved.clone(), waits.clone());
                        async move {
                            if waits.fetch_add(1, Ordering::SeqCst) >= 1 {
                                crate::common::eventually(Duration::from_secs(20), || {
                                    let approved = approved.clone();
                                    async move { approved.load(Ordering::SeqCst) }
                                })
                                .await;
                            }
                            clock.advance(wait);
                        }
                    },
                    Some(Duration::from_secs(30)),
                )
                .await
        })
    };
    let pending_twice = crate::common::eventually(Duration::from_secs(10), || {
        let waits = waits.clone();
        async move { waits.load(Ordering::SeqCst) >= 2 }
    })
    .await;
    assert!(
        pending_twice,
        "the program heard authorization_pending twice"
    );
    let (html, attempt) = open_verification(&gw, &complete).await;
    let shown = format!(
        "qrgate CLI at 127.0.0.1 wants read access to Test app for 30 days, code {user_code}"
    );
    assert!(html.contains(&shown), "{html}");
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    assert_eq!(
        req.app, shown,
        "the phone shows who asks, for what, and the code"
    );
    assert!(req.message.contains(&shown), "the native protocol signs it");
    assert!(
        req.message.starts_with("qrgate-action-v1\n"),
        "as an action, never as a sign-in: {}",
        req.message
    );
    qrgate::cli::signer::approve(&phone, &attempt, &alice_key(), &req)
        .await
        .expect("approve");
    approved.store(true, Ordering::SeqCst);
    let token = polling.await.expect("task").expect("a token");
    assert!(token.access_token().secret().starts_with("qga_"));
    assert_eq!(token.access_token().secret().len(), 47);
    let scopes: Vec<String> = token
        .scopes()
        .expect("scope")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, vec!["app:Test%20app:read", "offline_access"]);
    assert_eq!(token.expires_in(), Some(Duration::from_secs(3600)));

    // Handed out once.
    let (status, body) = poll(&gw, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Nobody can claim the approval as a session.
    let claimed = browser()
        .post(format!("{attempt}/claim"))
        .header("origin", sso(&gw))
        .header("accept", "application/json")
        .send()
        .await
        .expect("claim");
    assert_ne!(claimed.status(), 200);

    // Refresh rotates; the old refresh token is then reuse and ends the grant.
    let refresh = token.refresh_token().expect("a refresh token").clone();
    let renewed = cli_client(&gw)
        .exchange_refresh_token(&refresh)
        .request_async(&http())
        .await
        .expect("refresh");
    assert_ne!(
        renewed.access_token().secret(),
        token.access_token().secret()
    );
    let again = cli_client(&gw)
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .request_async(&http())
        .await;
    assert!(again.is_err(), "a rotated-out refresh token is refused");
    let next = renewed.refresh_token().expect("next").clone();
    assert!(
        cli_client(&gw)
            .exchange_refresh_token(&next)
            .request_async(&http())
            .await
            .is_err(),
        "reuse revoked the whole grant"
    );
}

#[tokio::test]
async fn a_denial_on_the_phone_ends_the_code_with_access_denied() {
    let (gw, _dir) = programs_gateway("").await;
    let details = device_code(&gw, &["app:Test%20app"]).await;
    let complete = details
        .verification_uri_complete()
        .expect("complete")
        .secret()
        .clone();
    // The code typed by hand: any case, with or without the dash.
    let typed = details
        .user_code()
        .secret()
        .replace('-', " ")
        .to_ascii_lowercase();
    assert!(complete.ends_with(&details.user_code().secret().replace('-', "")));
    let by_hand = format!(
        "{}/.qrgate/device?user_code={}",
        sso(&gw),
        typed.replace(' ', "+")
    );
    let (_, attempt) = open_verification(&gw, &by_hand).await;
    let phone = client();
    qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    qrgate::cli::signer::reject(&phone, &attempt)
        .await
        .expect("reject");
    assert_eq!(
        token_by_polling(&gw, &details).await.err().as_deref(),
        Some("access_denied")
    );
    let (status, body) = poll(&gw, details.device_code().secret()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn an_expired_code_answers_expired_token_and_its_page_is_gone() {
    let (gw, _dir) = programs_gateway("[programs]\ndevice_code_lifetime_seconds = 60\n").await;
    let details = device_code(&gw, &["app:Test%20app"]).await;
    assert_eq!(details.expires_in(), Duration::from_secs(60));
    gw.clock.advance(Duration::from_secs(61));
    let (status, body) = poll(&gw, details.device_code().secret()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("expired_token"))
    );
    assert_eq!(
        token_by_polling(&gw, &details).await.err().as_deref(),
        Some("expired_token")
    );
    let complete = details
        .verification_uri_complete()
        .expect("complete")
        .secret()
        .clone();
    let page = browser()
        .get(&complete)
        .header("accept", NAV)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 400, "an expired code starts no approval");
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let (gw, _dir) = programs_gateway("").await;
    let ask = |form: Vec<(&'static str, &'static str)>| {
        let url = format!("{}/.qrgate/oidc/device_authorization", sso(&gw));
        async move {
            let r = client().post(url).form(&form).send().await.expect("ask");
            let status = r.status().as_u16();
            let body: Value = r.json().await.expect("json");
            (
                status,
                body["error"].as_str().unwrap_or_default().to_string(),
            )
        }
    };
    assert_eq!(
        ask(vec![("client_id", "qrgate-cli"), ("scope", "app:Nowhere")]).await,
        (400, "invalid_scope".into())
    );
    assert_eq!(
        ask(vec![("client_id", "qrgate-cli")]).await,
        (400, "invalid_scope".into()),
        "a program asks for something"
    );
    assert_eq!(
        ask(vec![("client_id", "nobody"), ("scope", "openid")]).await,
        (401, "invalid_client".into())
    );
    // The verification page: no code asks for one; an unknown or malformed one is a page.
    let b = browser();
    let form = b
        .get(format!("{}/.qrgate/device", sso(&gw)))
        .header("accept", NAV)
        .send()
        .await
        .expect("form");
    assert_eq!(form.status(), 200);
    assert!(form
        .text()
        .await
        .expect("html")
        .contains("name=\"user_code\""));
    for code in ["BCDF-GHJK", "not a code", "%00"] {
        let r = b
            .get(format!("{}/.qrgate/device?user_code={code}", sso(&gw)))
            .header("accept", NAV)
            .send()
            .await
            .expect("page");
        assert_eq!(r.status(), 400, "{code}");
    }
    // The device endpoints are the SSO origin's only; discovery names them.
    let on_app = client()
        .post(gw.url("/.qrgate/oidc/device_authorization"))
        .form(&[("client_id", "qrgate-cli"), ("scope", "openid")])
        .send()
        .await
        .expect("app origin");
    assert_eq!(on_app.status(), 404);
    let discovery: Value = client()
        .get(format!("{}/.well-known/openid-configuration", sso(&gw)))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        discovery["device_authorization_endpoint"],
        format!("{}/.qrgate/oidc/device_authorization", sso(&gw))
    );
    assert!(discovery["grant_types_supported"]
        .as_array()
        .expect("list")
        .iter()
        .any(|g| g == "urn:ietf:params:oauth:grant-type:device_code"));
}

#[tokio::test]
async fn only_a_client_the_operator_lets_use_the_device_grant_gets_a_code() {
    // A public sign-in client (anyone can name it), a confidential relying party registered
    // for sign-in, and a tool the operator opted in.
    let clients = "[[oidc_client]]\nid = \"portal\"\nname = \"Company Portal\"\npublic = true\n\
         redirect_uris = [\"https://portal.example.com/cb\"]\n\
         [[oidc_client]]\nid = \"rp\"\nsecret_hash = \"1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0\"\n\
         redirect_uris = [\"https://rp.example.com/cb\"]\n\
         [[oidc_client]]\nid = \"tool\"\npublic = true\ndevice = true\n\
         redirect_uris = [\"http://127.0.0.1/cb\"]\n";
    let (gw, _dir) = programs_gateway(clients).await;
    let ask = |form: Vec<(&'static str, &'static str)>| {
        let url = format!("{}/.qrgate/oidc/device_authorization", sso(&gw));
        async move {
            let r = client().post(url).form(&form).send().await.expect("ask");
            let status = r.status().as_u16();
            let body: Value = r.json().await.expect("json");
            (status, body)
        }
    };
    for form in [
        vec![("client_id", "portal"), ("scope", "app:Test%20app")],
        vec![("client_id", "portal"), ("scope", "openid")],
        vec![
            ("client_id", "rp"),
            ("client_secret", "s3cret"),
            ("scope", "app:Test%20app offline_access"),
        ],
    ] {
        let (status, body) = ask(form.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unauthorized_client")),
            "{form:?}: {body}"
        );
    }
    // A wrong secret is still the client's failure to authenticate, told first.
    let (status, _) = ask(vec![
        ("client_id", "rp"),
        ("client_secret", "wrong"),
        ("scope", "openid"),
    ])
    .await;
    assert_eq!(status, 401);
    let (status, body) = ask(vec![("client_id", "tool"), ("scope", "app:Test%20app")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["user_code"].is_string(), "{body}");
    // The built-in client has it as before.
    let (status, _) = ask(vec![
        ("client_id", "qrgate-cli"),
        ("scope", "app:Test%20app"),
    ])
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn without_the_built_in_client_the_cli_is_unknown() {
    let (gw, _dir) = programs_gateway("[programs]\ncli = false\n").await;
    let r = client()
        .post(format!("{}/.qrgate/oidc/device_authorization", sso(&gw)))
        .form(&[("client_id", "qrgate-cli"), ("scope", "openid")])
        .send()
        .await
        .expect("ask");
    assert_eq!(r.status(), 401);
}

/// A token for `scopes`, approved on the phone holding `key`.
pub(crate) async fn approved_token(
    gw: &TestGateway,
    key: &qrgate::cli::signer::Key,
    scopes: &[&str],
) -> oauth2::basic::BasicTokenResponse {
    let details = device_code(gw, scopes).await;
    let complete = details
        .verification_uri_complete()
        .expect("complete")
        .secret()
        .clone();
    let (_, attempt) = open_verification(gw, &complete).await;
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    qrgate::cli::signer::approve(&phone, &attempt, key, &req)
        .await
        .expect("approve");
    token_by_polling(gw, &details).await.expect("token")
}
