//! The OpenID Connect provider's grants at the token and userinfo endpoints: bearer tokens,
//! client secrets in files, the reload purge, refused and narrowed refreshes, code replays
//! by another client, and grants without refresh tokens.

use std::time::Duration;

use serde_json::{json, Value};
use sha2::Digest;

use crate::common::{client, sign_in_at};
use crate::oidc::{
    code_for, id_claims, params, redeem_grafana, sso, sso_gateway, token, userinfo, REDIRECT,
    SECRET, VERIFIER,
};

#[tokio::test]
async fn userinfo_wants_a_live_bearer_token_and_authorize_takes_a_form_too() {
    let (gw, _dir) = sso_gateway("").await;
    let url = format!("{}/.qrgate/oidc/userinfo", sso(&gw));
    let resp = client().get(&url).send().await.expect("userinfo");
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let resp = client()
        .get(&url)
        .bearer_auth("x".repeat(43))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .expect("v")
        .contains("invalid_token"));
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let resp = b
        .post(format!("{}/.qrgate/oidc/authorize", sso(&gw)))
        .form(&[
            ("response_type", "code"),
            ("client_id", "grafana"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("state", "p"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().expect("l").to_string();
    assert!(
        params(&loc).contains_key("code") && params(&loc)["state"] == "p",
        "{loc}"
    );
    let metrics = gw.state.metrics().render();
    assert!(
        metrics.contains(
            "qrgate_oidc_total{client=\"grafana\",endpoint=\"authorize\",result=\"code\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "qrgate_oidc_total{client=\"-\",endpoint=\"userinfo\",result=\"no_token\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_client_secret_in_a_file_is_read_and_check_config_refuses_bad_clients() {
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("grafana.secret");
    crate::common::write_private(&secret, "file-secret-0123456789abcdef\n");
    let config = |client: &str| {
        format!(
            "[[app]]\nname = \"wiki\"\norigin = \"http://127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\n\n[[user]]\nname = \"alice\"\n\n[sso]\norigin = \"http://localhost:1\"\nname = \"Example\"\nkey_file = \"{}\"\n\n[[oidc_client]]\nid = \"grafana\"\n{client}\n",
            dir.path().join("keys.json").display()
        )
    };
    let path = dir.path().join("config.toml");
    let check = |text: String| {
        std::fs::write(&path, text).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .expect("qrgate");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, err) = check(config(&format!(
        "secret_file = \"{}\"\nredirect_uris = [\"https://g.example/cb\"]",
        secret.display()
    )));
    assert!(ok, "{err}");
    assert!(
        err.contains("sso Example: issuer http://localhost:1"),
        "{err}"
    );
    assert!(
        err.contains(
            "oidc client grafana (grafana): confidential, RS256, redirect https://g.example/cb"
        ),
        "{err}"
    );
    let loaded = qrgate::files::config_file::load(&path).expect("loads");
    let hash = loaded.oidc_clients[0].secret.as_ref().expect("hashed").0;
    assert_eq!(
        hash.to_vec(),
        sha2::Sha256::digest(b"file-secret-0123456789abcdef").to_vec()
    );
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let (ok, err) = check(config(&format!(
        "secret_file = \"{}\"\nredirect_uris = [\"https://g.example/cb\"]",
        secret.display()
    )));
    assert!(!ok && err.contains("secret_file"), "{err}");
    for (client, says) in [
        ("public = true\nredirect_uris = [\"http://g.example/cb\"]", "oidc_client[0].redirect_uris"),
        ("public = true\nredirect_uris = [\"https://g.example/cb#frag\"]", "fragment"),
        ("public = true\nredirect_uris = [\"https://g.example/cb\"]\n[[oidc_client]]\nid = \"grafana\"\npublic = true\nredirect_uris = [\"https://g.example/cb\"]", "duplicate client id"),
    ] {
        let (ok, err) = check(config(client));
        assert!(!ok && err.contains(says), "{client}: {err}");
    }
}

#[tokio::test]
async fn a_reload_ends_the_grants_of_a_departed_user_and_a_name_reused_inherits_none() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
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
    assert_eq!(
        id_claims(&tokens)["sub"],
        "alice",
        "the subject defaults to the name"
    );
    let access = tokens["access_token"].as_str().expect("access");
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let parse = |text: &str| {
        qrgate_core::config::Config::parse(text, std::path::Path::new("test.toml")).expect("config")
    };
    // alice leaves (her name is gone), then the name comes back: her grant stays ended.
    let renamed = gw
        .config_text
        .replace("name = \"alice\"", "name = \"alicia\"");
    gw.proxy.reload(parse(&renamed)).expect("reload");
    qrgate::lifecycle::reload::purge_departed(&gw.proxy).await;
    gw.proxy.reload(parse(&gw.config_text)).expect("reload");
    assert_eq!(userinfo(&gw, access).await, 401, "purged at the reload");
    let (status, _, e) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    // A new person under the name with a subject of their own: what was issued to the name
    // before is not theirs, and their ID token says who they are.
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let (_, _, tokens) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    let old_access = tokens["access_token"].as_str().expect("access").to_string();
    let other = gw.config_text.replace(
        "name = \"alice\"",
        "name = \"alice\"\nsubject = \"alice-2\"",
    );
    gw.proxy.reload(parse(&other)).expect("reload");
    assert_eq!(
        userinfo(&gw, &old_access).await,
        401,
        "issued to another subject"
    );
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
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
    assert_eq!(id_claims(&tokens)["sub"], "alice-2");
}

#[tokio::test]
async fn a_refused_refresh_changes_nothing_and_a_narrower_scope_is_honoured() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let tokens = redeem_grafana(&gw, &code).await;
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    // Wider than granted (email is the client's, not this grant's), or without openid:
    // refused, and the same token still works.
    for scope in ["openid profile groups email", "profile"] {
        let (status, _, e) = token(
            &gw,
            Some(("grafana", SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_scope")),
            "{scope}"
        );
    }
    assert_eq!(
        userinfo(&gw, tokens["access_token"].as_str().expect("a")).await,
        200
    );
    let (status, _, narrow) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "openid");
    assert!(id_claims(&narrow).get("groups").is_none(), "{narrow}");
    let info: Value = client()
        .get(format!("{}/.qrgate/oidc/userinfo", sso(&gw)))
        .bearer_auth(narrow["access_token"].as_str().expect("a"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(
        info,
        json!({"sub": "alice"}),
        "the dropped claims are not released"
    );
}

#[tokio::test]
async fn a_used_code_replayed_by_another_client_revokes_nothing() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let tokens = redeem_grafana(&gw, &code).await;
    let access = tokens["access_token"].as_str().expect("access");
    let (status, _, e) = token(
        &gw,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "cli"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(userinfo(&gw, access).await, 200, "another client's replay");
    // The code's own client replaying it: its grant is revoked (RFC 6749 §4.1.2).
    let (status, _, _) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(userinfo(&gw, access).await, 401);
}

/// A client without refresh tokens (`refresh_token_lifetime_seconds = 0`): its grant lives as
/// long as its access token, so a sweep in between ends nothing (memory and Redis alike).
#[tokio::test]
async fn a_grant_without_refresh_tokens_lives_as_long_as_its_access_token() {
    let hash = hex::encode(sha2::Sha256::digest(SECRET.as_bytes()));
    let (gw, _dir) = sso_gateway(&format!(
        "\n[[oidc_client]]\nid = \"short\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\nrefresh_token_lifetime_seconds = 0\naccess_token_lifetime_seconds = 600\n"
    ))
    .await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "short", REDIRECT, "").await;
    let (status, _, tokens) = token(
        &gw,
        Some(("short", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let access = tokens["access_token"].as_str().expect("access");
    gw.clock.advance(Duration::from_secs(300));
    gw.state.sweep().await;
    assert_eq!(userinfo(&gw, access).await, 200, "swept too early");
    gw.clock.advance(Duration::from_secs(301));
    gw.state.sweep().await;
    assert_eq!(
        userinfo(&gw, access).await,
        401,
        "expired with its access token"
    );
}

/// Near its grant's end a refresh hands out an access token for what is left of the grant,
/// and says so in `expires_in`.
#[tokio::test]
async fn an_access_token_never_outlives_its_grant() {
    let hash = hex::encode(sha2::Sha256::digest(SECRET.as_bytes()));
    let (gw, _dir) = sso_gateway(&format!(
        "\n[[oidc_client]]\nid = \"brief\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\nrefresh_token_lifetime_seconds = 700\naccess_token_lifetime_seconds = 600\n"
    ))
    .await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "brief", REDIRECT, "").await;
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, _, tokens) = token(&gw, Some(("brief", SECRET)), &redeem).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["expires_in"], 600);
    gw.clock.advance(Duration::from_secs(500));
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let (status, _, next) = token(
        &gw,
        Some(("brief", SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["expires_in"], 200, "what is left of the grant");
    let access = next["access_token"].as_str().expect("access");
    gw.clock.advance(Duration::from_secs(199));
    assert_eq!(userinfo(&gw, access).await, 200);
    gw.clock.advance(Duration::from_secs(2));
    assert_eq!(userinfo(&gw, access).await, 401, "ended with its grant");
}
