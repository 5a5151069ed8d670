//! A program's bearer token through the proxy: it reaches an app that lets programs in as the
//! person whose phone approved it, within the grant approved, and never reaches the upstream;
//! a program without one gets a 401 that leads a generic client (RFC 9728, RFC 8414) to the
//! authorization server; browsers keep the login page.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, DeviceAuthorizationUrl, Scope, TokenResponse, TokenUrl};
use serde_json::Value;

use crate::common::{alice_key, client, echoed_headers, NAV};
use crate::programs_device::{
    approved_token, cli_client, http, open_verification, programs_gateway, sso, token_by_polling,
};

/// A request with `token` as its bearer token: status, upstream's echo (when forwarded), and
/// the `WWW-Authenticate` challenges.
async fn with_bearer(
    url: &str,
    method: reqwest::Method,
    token: Option<&str>,
) -> (u16, Option<Value>, Vec<String>) {
    let mut r = client()
        .request(method, url)
        .header("accept", "application/json");
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("request");
    let status = resp.status().as_u16();
    let challenges = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect();
    let body: Option<Value> = resp.json().await.ok();
    let echo = body.filter(|b| b.get("headers").is_some());
    (status, echo, challenges)
}

fn header<'a>(echo: &'a [(String, String)], name: &str) -> Option<&'a str> {
    echo.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_read_token_reads_as_its_person_writes_nothing_and_never_reaches_the_upstream() {
    let (gw, _dir) = programs_gateway("").await;
    let token = approved_token(&gw, &alice_key(), &["app:Test%20app:read"]).await;
    let bearer = token.access_token().secret().clone();
    let (status, echo, _) =
        with_bearer(&gw.url("/private"), reqwest::Method::GET, Some(&bearer)).await;
    assert_eq!(status, 200);
    let echo = echoed_headers(&echo.expect("forwarded"));
    assert_eq!(header(&echo, "x-auth-user"), Some("alice"));
    assert_eq!(header(&echo, "x-auth-client"), Some("qrgate-cli"));
    assert_eq!(header(&echo, "x-auth-app"), Some("Test app"));
    assert_eq!(
        header(&echo, "authorization"),
        None,
        "the token stays at the gateway"
    );

    // A write under a read grant, also one claimed through an override.
    let (status, _, _) =
        with_bearer(&gw.url("/private"), reqwest::Method::POST, Some(&bearer)).await;
    assert_eq!(status, 403);
    let (status, _, _) = with_bearer(
        &gw.url("/private?_method=DELETE"),
        reqwest::Method::GET,
        Some(&bearer),
    )
    .await;
    assert_eq!(status, 403);

    // Someone else's token of the same shape, and the token once expired.
    let forged = "A".repeat(43);
    let (status, _, challenges) =
        with_bearer(&gw.url("/private"), reqwest::Method::GET, Some(&forged)).await;
    assert_eq!(status, 401);
    assert!(
        challenges[0].contains("error=\"invalid_token\""),
        "{challenges:?}"
    );
    gw.clock.advance(Duration::from_secs(3601));
    let (status, _, challenges) =
        with_bearer(&gw.url("/private"), reqwest::Method::GET, Some(&bearer)).await;
    assert_eq!(status, 401, "expired");
    assert!(
        challenges[0].contains("error=\"invalid_token\""),
        "{challenges:?}"
    );
}

#[tokio::test]
async fn a_write_token_writes_and_a_revoked_grant_is_refused_at_once() {
    let (gw, _dir) = programs_gateway("").await;
    let token = approved_token(&gw, &alice_key(), &["app:Test%20app", "offline_access"]).await;
    let bearer = token.access_token().secret().clone();
    let (status, echo, _) =
        with_bearer(&gw.url("/private"), reqwest::Method::POST, Some(&bearer)).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&echoed_headers(&echo.expect("echo")), "authorization"),
        None
    );
    // The refresh token presented twice is reuse: the grant ends, its access tokens with it.
    let refresh = token.refresh_token().expect("refresh").clone();
    let renewed = cli_client(&gw)
        .exchange_refresh_token(&refresh)
        .request_async(&http())
        .await
        .expect("refresh");
    let renewed_bearer = renewed.access_token().secret().clone();
    assert_eq!(
        with_bearer(
            &gw.url("/private"),
            reqwest::Method::GET,
            Some(&renewed_bearer)
        )
        .await
        .0,
        200
    );
    assert!(cli_client(&gw)
        .exchange_refresh_token(&refresh)
        .request_async(&http())
        .await
        .is_err());
    for t in [&bearer, &renewed_bearer] {
        assert_eq!(
            with_bearer(&gw.url("/private"), reqwest::Method::GET, Some(t))
                .await
                .0,
            401
        );
    }
}

#[tokio::test]
async fn an_app_that_asks_for_the_authorization_header_gets_it() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("oidc-keys.json");
    let gw = crate::common::TestGateway::with(crate::common::Setup {
        app_extra: "programs = true\nforward_authorization = true\nsso = false\n".into(),
        tail: format!(
            "\n[sso]\norigin = \"http://localhost:{{gateway_port}}\"\nname = \"Example\"\nkey_file = \"{}\"\n[[app]]\nname = \"Other\"\norigin = \"http://other.example\"\nupstream = \"127.0.0.1:9\"\nprograms = true\n",
            keys.display()
        ),
        ..crate::common::Setup::default()
    })
    .await;
    let token = approved_token(&gw, &alice_key(), &["app:Test%20app:read"]).await;
    let bearer = token.access_token().secret().clone();
    let (status, echo, _) =
        with_bearer(&gw.url("/private"), reqwest::Method::GET, Some(&bearer)).await;
    assert_eq!(status, 200);
    let echo = echoed_headers(&echo.expect("echo"));
    assert_eq!(
        header(&echo, "authorization"),
        Some(format!("Bearer {bearer}").as_str())
    );
    assert_eq!(header(&echo, "x-auth-client"), Some("qrgate-cli"));

    // A token that also opens another app never reaches this upstream, though it lets the
    // request in; nor does a token of ours that did not let the request in.
    let both = approved_token(&gw, &alice_key(), &["app:Test%20app:read", "app:Other"]).await;
    let both = both.access_token().secret().clone();
    let (status, echo, _) =
        with_bearer(&gw.url("/private"), reqwest::Method::GET, Some(&both)).await;
    assert_eq!(status, 200);
    let echo = echoed_headers(&echo.expect("echo"));
    assert_eq!(header(&echo, "x-auth-client"), Some("qrgate-cli"));
    assert_eq!(header(&echo, "authorization"), None, "a token for two apps");
    let other = approved_token(&gw, &alice_key(), &["app:Other"]).await;
    let other = other.access_token().secret().clone();
    let (b, _) = crate::common::sign_in_at(&gw.url("")).await;
    let resp = b
        .get(gw.url("/private"))
        .header("accept", "application/json")
        .bearer_auth(&other)
        .send()
        .await
        .expect("with a session");
    assert_eq!(resp.status(), 200);
    let echo = echoed_headers(&resp.json().await.expect("echo"));
    assert_eq!(header(&echo, "x-auth-user"), Some("alice"));
    assert_eq!(header(&echo, "authorization"), None, "another app's token");
}

/// A token of the gateway sent to an app that lets no program in is not a credential there,
/// and it still never reaches that upstream, on a protected path with a session or on a public
/// path; the app's own `Authorization` does.
#[tokio::test]
async fn a_gateway_token_never_reaches_an_app_that_lets_no_program_in() {
    let gw = crate::common::TestGateway::with(crate::common::Setup {
        app_extra: "public_paths = [\"/public\"]\n".into(),
        ..crate::common::Setup::default()
    })
    .await;
    let (b, _) = crate::common::sign_in_at(&gw.url("")).await;
    let ours = format!("qga_{}", "Z".repeat(43));
    for (path, sent, reaches) in [
        ("/private", format!("Bearer {ours}"), false),
        ("/public/x", format!("bearer {ours}"), false),
        ("/private", "Bearer app-own-token".to_string(), true),
        ("/private", format!("Bearer {}", "Z".repeat(43)), true),
        ("/public/x", "Basic dXNlcjpwYXNz".to_string(), true),
    ] {
        let resp = b
            .get(gw.url(path))
            .header("accept", "application/json")
            .header("authorization", &sent)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "{path} {sent}");
        let echo = echoed_headers(&resp.json().await.expect("echo"));
        let got = header(&echo, "authorization");
        if reaches {
            assert_eq!(got, Some(sent.as_str()), "{path}");
        } else {
            assert_eq!(got, None, "{sent} reached the upstream on {path}");
        }
    }
}

#[tokio::test]
async fn a_generic_client_finds_the_authorization_server_from_a_401_and_browsers_keep_the_login_page(
) {
    let (gw, _dir) = programs_gateway("").await;
    // A browser navigation is sent to the login page, as always.
    let page = crate::common::browser()
        .get(gw.url("/private"))
        .header("accept", NAV)
        .send()
        .await
        .expect("navigation");
    assert_eq!(page.status(), 302);

    // A program knows only the resource's URL.
    let (status, _, challenges) =
        with_bearer(&gw.url("/private"), reqwest::Method::GET, None).await;
    assert_eq!(status, 401);
    let bearer = challenges
        .iter()
        .find(|c| c.starts_with("Bearer "))
        .expect("a Bearer challenge");
    assert!(!bearer.contains("error="), "no token, no error: {bearer}");
    let metadata_url = bearer
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("resource_metadata");
    assert_eq!(
        metadata_url,
        gw.url("/.well-known/oauth-protected-resource")
    );
    let metadata: Value = client()
        .get(metadata_url)
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(metadata["resource"], gw.url(""));
    let issuer = metadata["authorization_servers"][0]
        .as_str()
        .expect("an authorization server")
        .to_string();
    assert_eq!(issuer, sso(&gw));
    let scope = metadata["scopes_supported"][1]
        .as_str()
        .expect("scope")
        .to_string();
    assert_eq!(scope, "app:Test%20app:read");
    // RFC 8414: the authorization server's metadata at its well-known path.
    let server: Value = client()
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("server metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(server["issuer"], issuer);
    let device = server["device_authorization_endpoint"]
        .as_str()
        .expect("device");
    let token_url = server["token_endpoint"].as_str().expect("token");

    // The device flow from what was discovered, and the resource answers.
    let cli = BasicClient::new(ClientId::new("qrgate-cli".into()))
        .set_auth_type(AuthType::RequestBody)
        .set_device_authorization_url(DeviceAuthorizationUrl::new(device.into()).expect("url"))
        .set_token_uri(TokenUrl::new(token_url.into()).expect("url"));
    let details: oauth2::StandardDeviceAuthorizationResponse = cli
        .exchange_device_code()
        .add_scope(Scope::new(scope))
        .request_async(&http())
        .await
        .expect("device code");
    let complete = details
        .verification_uri_complete()
        .expect("complete")
        .secret()
        .clone();
    let (_, attempt) = open_verification(&gw, &complete).await;
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    qrgate::cli::signer::approve(&phone, &attempt, &alice_key(), &req)
        .await
        .expect("approve");
    let token = token_by_polling(&gw, &details).await.expect("token");
    let (status, _, _) = with_bearer(
        &gw.url("/private"),
        reqwest::Method::GET,
        Some(token.access_token().secret()),
    )
    .await;
    assert_eq!(status, 200);
}

/// Userinfo is OpenID Connect's: a program's token granted for an app only gets 403
/// `insufficient_scope`, never the person's claims.
#[tokio::test]
async fn a_token_for_apps_only_gets_nothing_from_userinfo() {
    let (gw, _dir) = programs_gateway("").await;
    let token = approved_token(&gw, &alice_key(), &["app:Test%20app"]).await;
    let resp = crate::common::client()
        .get(format!("{}/.qrgate/oidc/userinfo", crate::oidc::sso(&gw)))
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), 403);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .expect("header")
        .to_string();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
}

/// A program is limited by its token (`[limits] token_per_minute`), however it spreads its
/// requests: over the rate, 429 with `Retry-After`; another token and browsers are apart.
#[tokio::test]
async fn a_token_over_its_rate_waits_and_others_do_not() {
    let dir = tempfile::tempdir().expect("dir");
    let gw = crate::common::TestGateway::with(crate::common::Setup {
        app_extra: "programs = true\nsso = false\n".into(),
        limits: "token_per_minute = 3\n".into(),
        tail: format!(
            "\n[sso]\norigin = \"http://localhost:{{gateway_port}}\"\nname = \"Example\"\nkey_file = \"{}\"\n",
            dir.path().join("oidc-keys.json").display()
        ),
        ..crate::common::Setup::default()
    })
    .await;
    let one = approved_token(&gw, &alice_key(), &["app:Test%20app:read"]).await;
    let one = one.access_token().secret().clone();
    let two = approved_token(&gw, &alice_key(), &["app:Test%20app:read"]).await;
    let two = two.access_token().secret().clone();
    for _ in 0..3 {
        let (status, _, _) =
            with_bearer(&gw.url("/private"), reqwest::Method::GET, Some(&one)).await;
        assert_eq!(status, 200);
    }
    let resp = client()
        .get(gw.url("/private"))
        .header("accept", "application/json")
        .bearer_auth(&one)
        .send()
        .await
        .expect("over");
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=61).contains(&retry), "{retry}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "rate_limited");
    let (status, _, _) = with_bearer(&gw.url("/private"), reqwest::Method::GET, Some(&two)).await;
    assert_eq!(status, 200, "another token");
    let (b, _) = crate::common::sign_in_at(&gw.url("")).await;
    let resp = b
        .get(gw.url("/private"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("browser");
    assert_eq!(resp.status(), 200, "a browser session");
}

/// A refresh of `refresh` at the token endpoint as `qrgate-cli`, asking for `scope`.
async fn refresh_to(gw: &crate::common::TestGateway, refresh: &str, scope: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/.qrgate/oidc/token", sso(gw)))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "qrgate-cli"),
            ("scope", scope),
        ])
        .send()
        .await
        .expect("refresh");
    (r.status().as_u16(), r.json().await.expect("json"))
}

#[tokio::test]
async fn a_refresh_narrows_a_programs_grant_without_openid_and_an_openid_grant_keeps_it() {
    let (gw, _dir) = programs_gateway("").await;
    // A program's grant of apps only (no openid) narrows to one app.
    let token = approved_token(
        &gw,
        &alice_key(),
        &["app:Test%20app", "app:Test%20app:read", "offline_access"],
    )
    .await;
    let refresh = token.refresh_token().expect("refresh").secret().clone();
    for wider in ["app:Test%20app openid", "app:Test%20app:read app:Other"] {
        let (status, body) = refresh_to(&gw, &refresh, wider).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_scope")),
            "{wider:?}: {body}"
        );
    }
    let (status, narrow) = refresh_to(&gw, &refresh, "app:Test%20app:read").await;
    assert_eq!(status, 200, "the refused ones changed nothing: {narrow}");
    assert_eq!(narrow["scope"], "app:Test%20app:read");
    assert!(narrow.get("id_token").is_none(), "{narrow}");
    let bearer = narrow["access_token"].as_str().expect("access");
    let (status, _, _) = with_bearer(&gw.url("/private"), reqwest::Method::GET, Some(bearer)).await;
    assert_eq!(status, 200, "the narrowed token reads");
    let (status, _, _) =
        with_bearer(&gw.url("/private"), reqwest::Method::POST, Some(bearer)).await;
    assert_eq!(status, 403, "and writes nothing");

    // A grant that has openid keeps it in a narrowed refresh.
    let token = approved_token(
        &gw,
        &alice_key(),
        &["openid", "app:Test%20app", "offline_access"],
    )
    .await;
    let refresh = token.refresh_token().expect("refresh").secret().clone();
    let (status, body) = refresh_to(&gw, &refresh, "app:Test%20app").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "{body}"
    );
    let (status, narrow) = refresh_to(&gw, &refresh, "openid app:Test%20app").await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "openid app:Test%20app");
    assert!(narrow["id_token"].is_string(), "{narrow}");
}

/// A grant under path prefixes: the token reaches only the paths the phone approved (spelled
/// exactly), with the access approved for each; a prefix that is no canonical path is refused
/// when asked for.
#[tokio::test]
async fn a_token_for_path_prefixes_reaches_only_those_paths() {
    let (gw, _dir) = programs_gateway("").await;
    let token = approved_token(
        &gw,
        &alice_key(),
        &["app:Test%20app:read:/docs/", "app:Test%20app:/api/"],
    )
    .await;
    let bearer = token.access_token().secret().clone();
    let status = |path: &'static str, method: reqwest::Method| {
        let (gw, bearer) = (&gw, bearer.clone());
        async move { with_bearer(&gw.url(path), method, Some(&bearer)).await.0 }
    };
    assert_eq!(status("/api/items", reqwest::Method::GET).await, 200);
    assert_eq!(status("/api/items", reqwest::Method::POST).await, 200);
    assert_eq!(status("/docs/a", reqwest::Method::GET).await, 200);
    assert_eq!(
        status("/docs/a", reqwest::Method::POST).await,
        403,
        "read there"
    );
    for outside in ["/private", "/API/items", "/api", "/apix/1", "/docsy"] {
        assert_eq!(
            status(outside, reqwest::Method::GET).await,
            403,
            "{outside}"
        );
    }
    // The lists show the prefixes.
    let s = gw.state.settings();
    let listed = qrgate_core::control::list_tokens(&gw.state, &s, Some("alice"))
        .await
        .expect("list");
    assert_eq!(
        listed[0].grant,
        [
            "Test app: read under /docs/",
            "Test app: read-write under /api/"
        ]
    );
    // A path that is not written canonically is no scope at all.
    for bad in [
        "app:Test%20app:/a/../b/",
        "app:Test%20app:read:docs",
        "app:Test%20app:/a:/b",
    ] {
        let resp = http()
            .post(format!("{}/.qrgate/oidc/device_authorization", sso(&gw)))
            .form(&[("client_id", "qrgate-cli"), ("scope", bad)])
            .send()
            .await
            .expect("device authorization");
        assert_eq!(resp.status(), 400, "{bad}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["error"], "invalid_scope", "{bad}");
    }
}
