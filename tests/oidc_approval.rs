//! The OpenID Connect provider's approvals: what the person is shown, fresh approvals for
//! `prompt=login` and `max_age` (never taken from the query), `prompt=none`, and refresh
//! tokens only for `offline_access`.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::{browser, client, sign_in_at, NAV};
use crate::oidc::{
    authorize_url, code_for, id_claims, location, params, redeem_grafana, sso, sso_gateway, token,
    REDIRECT, SECRET,
};

#[tokio::test]
async fn prompt_login_asks_for_a_fresh_approval_before_a_code() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    gw.clock.advance(Duration::from_secs(5));
    let (status, loc) = location(
        &b,
        &authorize_url(&gw, "grafana", REDIRECT, "&prompt=login"),
    )
    .await;
    assert_eq!(status, 302);
    assert!(loc.starts_with("/.qrgate/step-up?rd="), "{loc}");
    let rd = params(&format!("http://x{loc}"))["rd"].clone();
    assert!(
        rd.contains("step_up=") && rd.contains("prompt=login"),
        "{rd}"
    );
    // Back at the authorization endpoint without the fresh approval: asked again.
    let (status, loc) = location(&b, &format!("{}{rd}", sso(&gw))).await;
    assert_eq!(status, 302);
    assert!(loc.starts_with("/.qrgate/step-up?rd="), "{loc}");
}

#[tokio::test]
async fn a_fresh_approval_is_never_taken_from_the_query() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    gw.clock.advance(Duration::from_secs(5));
    // A hand-made auth_after or step_up ticket with prompt=login or max_age=0: the step-up.
    for extra in [
        "&prompt=login&auth_after=1",
        "&max_age=0&auth_after=0",
        "&prompt=login&step_up=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    ] {
        let (status, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, extra)).await;
        assert_eq!(status, 302);
        assert!(loc.starts_with("/.qrgate/step-up?rd="), "{extra}: {loc}");
    }
    // A real ticket is for its own client's request only, and taken once.
    let (_, loc) = location(
        &b,
        &authorize_url(&gw, "grafana", REDIRECT, "&prompt=login"),
    )
    .await;
    let rd = params(&format!("http://x{loc}"))["rd"].clone();
    let ticket = params(&format!("http://x{rd}"))["step_up"].clone();
    let other = authorize_url(
        &gw,
        "wiki",
        REDIRECT,
        &format!("&prompt=login&step_up={ticket}"),
    );
    let (_, loc) = location(&b, &other).await;
    assert!(loc.starts_with("/.qrgate/step-up?rd="), "{loc}");
    // A plain request with auth_after: a code, but no fresh-approval acr in its ID token.
    let code = code_for(&gw, &b, "grafana", REDIRECT, "&auth_after=0").await;
    let (status, _, tokens) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = id_claims(&tokens);
    assert!(claims.get("acr").is_none(), "{claims}");
}

#[tokio::test]
async fn signing_in_for_a_client_names_it_and_its_origin_on_the_page_and_the_phone() {
    let (gw, _dir) = sso_gateway("").await;
    let b = browser();
    let url = authorize_url(&gw, "grafana", REDIRECT, "");
    let (_, login) = location(&b, &url).await;
    let html = b
        .get(format!("{}{login}", sso(&gw)))
        .header("accept", NAV)
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let shown = "Example Sign-in, for Grafana (http://127.0.0.1:9); also opens Test app";
    assert!(html.contains(&format!("Sign in to {shown}")), "{html}");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let attempt = url::Url::parse(&format!("{}/.qrgate/auth/session/{id}", sso(&gw))).expect("url");
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    assert_eq!(
        req.app, shown,
        "the phone shows the client and where it returns"
    );
    assert!(req.message.contains(shown), "{}", req.message);
    qrgate::cli::signer::approve(&phone, &attempt, &crate::common::alice_key(), &req)
        .await
        .expect("approve");
    let claimed = crate::common::claim_at(&b, &sso(&gw), &sso(&gw), &id).await;
    assert_eq!(claimed.status(), 200);
    // Back at the authorization request, now signed in: the code.
    let (status, loc) = location(&b, &url).await;
    assert_eq!(status, 302);
    assert!(params(&loc).contains_key("code"), "{loc}");
    // A sign-in on the SSO origin for nothing in particular shows its own name.
    let own = b
        .get(format!("{}/.qrgate/login", sso(&gw)))
        .header("accept", NAV)
        .send()
        .await
        .expect("page");
    assert_eq!(own.status(), 302, "signed in already");
}

pub(crate) fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn prompt_login_is_answered_after_a_fresh_phone_approval_with_acr() {
    let (gw, _dir) = sso_gateway("").await;
    let base = sso(&gw);
    let (b, _) = sign_in_at(&base).await;
    gw.clock.advance(Duration::from_secs(5));
    let (_, step_up) = location(
        &b,
        &authorize_url(&gw, "grafana", REDIRECT, "&prompt=login"),
    )
    .await;
    let back = approve_on_page(
        &b,
        &base,
        &step_up,
        "Example Sign-in, for Grafana (http://127.0.0.1:9); also opens Test app",
    )
    .await;
    assert!(
        back.starts_with("/.qrgate/oidc/authorize?") && back.contains("step_up="),
        "{back}"
    );
    let (status, loc) = location(&b, &format!("{base}{back}")).await;
    assert_eq!(status, 302);
    let code = params(&loc)["code"].clone();
    let (status, _, tokens) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                tokens["id_token"]
                    .as_str()
                    .expect("id")
                    .split('.')
                    .nth(1)
                    .expect("claims"),
            )
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(claims["acr"], "urn:qrgate:acr:fresh-approval");
    assert!(claims["auth_time"].as_u64().expect("auth_time") >= gw.clock.now_millis() / 1000 - 1);
}

#[tokio::test]
async fn a_refresh_token_only_for_offline_access_and_prompt_none_only_for_the_hinted_person() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    // Without offline_access: tokens, but no refresh token.
    let url = authorize_url(&gw, "grafana", REDIRECT, "").replace("%20offline_access", "");
    let (_, loc) = location(&b, &url).await;
    let tokens = redeem_grafana(&gw, &params(&loc)["code"]).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert!(!tokens["scope"]
        .as_str()
        .expect("scope")
        .contains("offline_access"));
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let tokens = redeem_grafana(&gw, &code).await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    // prompt=none naming someone else: login_required, never a code for alice.
    let hint = tokens["id_token"].as_str().expect("id token");
    for extra in [
        "&prompt=none&login_hint=bob".to_string(),
        "&prompt=none&id_token_hint=eyJhbGciOiJIUzI1NiJ9.e30.x".to_string(),
    ] {
        let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, &extra)).await;
        assert_eq!(params(&loc)["error"], "login_required", "{extra}: {loc}");
    }
    for extra in [
        "&prompt=none&login_hint=alice".to_string(),
        format!("&prompt=none&id_token_hint={hint}"),
    ] {
        let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, &extra)).await;
        assert!(params(&loc).contains_key("code"), "{extra}: {loc}");
    }
    let discovery: Value = client()
        .get(format!("{}/.well-known/openid-configuration", sso(&gw)))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        discovery["prompt_values_supported"],
        json!(["none", "login"])
    );
}

/// Opens the login or step-up page at `path` in `b`, checks it shows `shown`, approves its
/// attempt with alice's phone and claims it: where the page sends the browser back to.
async fn approve_on_page(b: &reqwest::Client, base: &str, path: &str, shown: &str) -> String {
    let html = b
        .get(format!("{base}{path}"))
        .header("accept", NAV)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains(shown), "{html}");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let attempt = url::Url::parse(&format!("{base}/.qrgate/auth/session/{id}")).expect("url");
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    qrgate::cli::signer::approve(&phone, &attempt, &crate::common::alice_key(), &req)
        .await
        .expect("approve");
    let claimed = crate::common::claim_at(b, base, base, &id).await;
    assert_eq!(claimed.status(), 200);
    claimed.json::<Value>().await.expect("json")["redirect"]
        .as_str()
        .expect("redirect")
        .to_string()
}

/// `prompt=login` (or `max_age=0`) with no one signed in: the sign-in is the fresh approval,
/// and no second one is asked.
#[tokio::test]
async fn a_fresh_approval_asked_before_any_sign_in_is_the_sign_in_itself() {
    let (gw, _dir) = sso_gateway("").await;
    let base = sso(&gw);
    for extra in ["&prompt=login", "&max_age=0"] {
        let b = browser();
        let (status, login) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, extra)).await;
        assert_eq!(status, 302);
        assert!(login.starts_with("/.qrgate/login?rd="), "{login}");
        let back = approve_on_page(&b, &base, &login, "Sign in to").await;
        assert!(back.contains("step_up="), "{back}");
        let (status, loc) = location(&b, &format!("{base}{back}")).await;
        assert_eq!(status, 302);
        assert!(
            loc.starts_with(REDIRECT),
            "{extra}: a code, not a second approval: {loc}"
        );
        let code = params(&loc)["code"].clone();
        let (status, _, tokens) = token(
            &gw,
            Some(("grafana", SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(id_claims(&tokens)["acr"], "urn:qrgate:acr:fresh-approval");
    }
}
