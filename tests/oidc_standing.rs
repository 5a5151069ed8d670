//! An OpenID Connect grant stands only while what let it be issued does: the key that approved
//! it is still the person's on the SSO origin, the `[sso]` and client lists still let them in,
//! and the client still has the scopes. Each is checked at every refresh and userinfo call,
//! and an operator's or the person's revocation reaches grants whose SSO session is gone.

use qrgate_core::control::{revoke, Filter};
use serde_json::Value;

use crate::common::{client, sign_in_at, TestGateway};
use crate::oidc::{code_for, sso, sso_gateway, token, REDIRECT, SECRET};

/// A grant of `grafana` for alice, signed in at the SSO origin: the token answer.
async fn granted(gw: &TestGateway) -> Value {
    let (b, _) = sign_in_at(&sso(gw)).await;
    let code = code_for(gw, &b, "grafana", REDIRECT, "").await;
    let (status, _, tokens) = token(
        gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// Userinfo for `access`: the status and the claims.
async fn userinfo(gw: &TestGateway, access: &str) -> (u16, Value) {
    let resp = client()
        .get(format!("{}/.qrgate/oidc/userinfo", sso(gw)))
        .bearer_auth(access)
        .send()
        .await
        .expect("userinfo");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A refresh with `tokens`' refresh token: the status and the error code, if any.
async fn refresh(gw: &TestGateway, tokens: &Value) -> (u16, Option<String>) {
    let r = tokens["refresh_token"].as_str().expect("refresh token");
    let (status, _, answer) = token(
        gw,
        Some(("grafana", SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", r)],
    )
    .await;
    (status, answer["error"].as_str().map(str::to_string))
}

fn reload(gw: &TestGateway, text: &str) {
    let config = qrgate_core::config::Config::parse(text, std::path::Path::new("test.toml"))
        .expect("config");
    gw.proxy.reload(config).expect("reload");
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access token")
}

#[tokio::test]
async fn revoking_a_users_sessions_ends_grants_whose_sign_on_is_gone() {
    let (gw, _dir) = sso_gateway("").await;
    let tokens = granted(&gw).await;
    // The SSO session goes the way an idle one does (the store forgets it), leaving the
    // grant: nothing reaches it through a live session any more.
    let all = gw.state.sessions().export().await.expect("export");
    for (hash, _) in &all {
        gw.state.sessions().revoke(hash).await.expect("forget");
    }
    assert_eq!(userinfo(&gw, access(&tokens)).await.0, 200);
    let user = Filter {
        user: Some("alice".into()),
        ..Filter::default()
    };
    revoke(&gw.state, &gw.state.settings(), &user, "operator")
        .await
        .expect("revoke");
    assert_eq!(userinfo(&gw, access(&tokens)).await.0, 401);
    assert_eq!(
        refresh(&gw, &tokens).await,
        (400, Some("invalid_grant".into()))
    );
}

#[tokio::test]
async fn a_replaced_key_ends_the_grants_it_approved() {
    let (gw, _dir) = sso_gateway("").await;
    let tokens = granted(&gw).await;
    let before = gw.config_text.clone();
    let start = before.find("key = \"ed25519_").expect("alice's key") + "key = \"ed25519_".len();
    let replaced = format!(
        "{}{}{}",
        &before[..start],
        hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[5; 32])
                .verifying_key()
                .to_bytes()
        ),
        &before[start + 64..]
    );
    reload(&gw, &replaced);
    // At its next use the grant is refused and ends; it stays ended with the key back.
    assert_eq!(userinfo(&gw, access(&tokens)).await.0, 401);
    reload(&gw, &before);
    assert_eq!(userinfo(&gw, access(&tokens)).await.0, 401);
    assert_eq!(
        refresh(&gw, &tokens).await,
        (400, Some("invalid_grant".into()))
    );
}

#[tokio::test]
async fn the_reload_review_ends_grants_the_sso_lists_now_refuse() {
    let (gw, _dir) = sso_gateway("").await;
    let tokens = granted(&gw).await;
    let shut_out = gw.config_text.replace(
        "name = \"Example Sign-in\"",
        "name = \"Example Sign-in\"\nallow_users = [\"bob\"]",
    ) + "\n[[user]]\nname = \"bob\"\n";
    reload(&gw, &shut_out);
    qrgate::lifecycle::reload::purge_departed(&gw.proxy).await;
    // Let in again: what the review ended stays ended.
    reload(&gw, &gw.config_text);
    assert_eq!(userinfo(&gw, access(&tokens)).await.0, 401);
    assert_eq!(
        refresh(&gw, &tokens).await,
        (400, Some("invalid_grant".into()))
    );
}

#[tokio::test]
async fn scopes_withdrawn_from_a_client_leave_its_existing_grants() {
    let (gw, _dir) = sso_gateway("").await;
    let tokens = granted(&gw).await;
    let (status, claims) = userinfo(&gw, access(&tokens)).await;
    assert_eq!(status, 200);
    assert!(claims.get("groups").is_some(), "{claims}");
    let grafana = "[[oidc_client]]\nid = \"grafana\"\n";
    assert!(gw.config_text.contains(grafana));
    // groups withdrawn: no longer released, though the grant has it.
    let without_groups = gw.config_text.replace(
        grafana,
        &format!("{grafana}scopes = [\"openid\", \"profile\", \"offline_access\"]\n"),
    );
    reload(&gw, &without_groups);
    let (status, claims) = userinfo(&gw, access(&tokens)).await;
    assert_eq!(status, 200);
    assert!(claims.get("groups").is_none(), "{claims}");
    assert!(claims.get("preferred_username").is_some(), "{claims}");
    // offline_access withdrawn: the grant refreshes no more.
    let without_offline = gw.config_text.replace(
        grafana,
        &format!("{grafana}scopes = [\"openid\", \"profile\"]\n"),
    );
    reload(&gw, &without_offline);
    assert_eq!(
        refresh(&gw, &tokens).await,
        (400, Some("invalid_grant".into()))
    );
}
