//! A program's grant stands only while every app it names is in force as the app it was
//! granted on, and a personal token only while its life is one the operator allows: a reload
//! that withdraws an app's `programs`, takes its name away or moves it to another origin, or
//! lowers the personal-token bound, ends the grant for good; putting things back revives
//! nothing.

use crate::common::{alice_key, approve_attempt, own_action, sign_in_at, Setup, TestGateway};

/// A gateway whose app lets programs in (and keeps its own login page).
async fn gateway() -> (TestGateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let gw = TestGateway::with(Setup {
        app_extra: "programs = true\nsso = false\n".into(),
        tail: format!(
            "\n[sso]\norigin = \"http://localhost:{{gateway_port}}\"\nname = \"Example\"\nkey_file = \"{}\"\n[programs]\npersonal_token_max_days = 90\n",
            dir.path().join("oidc-keys.json").display()
        ),
        ..Setup::default()
    })
    .await;
    (gw, dir)
}

async fn status_with(url: &str, token: &str) -> u16 {
    crate::common::client()
        .get(url)
        .header("accept", "application/json")
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .status()
        .as_u16()
}

/// A personal token made through the signed-in browser `b` and approved on the phone.
async fn personal(b: &reqwest::Client, base: &str, form: &str) -> String {
    let (status, started) = own_action(b, base, "personal-token", form).await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().expect("attempt").to_string();
    let (_, approved) = approve_attempt(base, &id, &alice_key()).await;
    approved.expect("approved");
    let (status, made) =
        own_action(b, base, "personal-token", &format!("{form}&confirm={id}")).await;
    assert_eq!(status, 200, "{made}");
    made["token"].as_str().expect("token").to_string()
}

/// Puts `text` in force as a reload does, with the review after it.
async fn reload(gw: &TestGateway, text: &str) {
    let config = qrgate_core::config::Config::parse(text, std::path::Path::new("test.toml"))
        .expect("config");
    gw.proxy.reload(config).expect("reload");
    qrgate::lifecycle::reload::purge_departed(&gw.proxy).await;
}

#[tokio::test]
async fn withdrawing_an_apps_programs_its_name_or_its_origin_ends_its_tokens_for_good() {
    let (gw, _dir) = gateway().await;
    let base = gw.url("");
    let private = gw.url("/private");
    let original = gw.config_text.clone();
    let off = original.replace("programs = true", "programs = false");
    let renamed = original.replace("name = \"Test app\"", "name = \"Other app\"");
    let origin_line = original
        .lines()
        .find(|l| l.starts_with("origin = \"http://127.0.0.1"))
        .expect("the app's origin")
        .to_string();
    let moved = original.replace(&origin_line, "origin = \"http://moved.example\"");
    for (what, changed) in [
        ("programs off", &off),
        ("renamed", &renamed),
        ("moved", &moved),
    ] {
        assert_ne!(changed, &original, "{what}");
        // (A session of an app renamed away ends with it: sign in afresh each round.)
        let (b, _) = sign_in_at(&base).await;
        let token = personal(&b, &base, "name=job&app=Test+app&access=read&days=30").await;
        assert_eq!(status_with(&private, &token).await, 200, "{what}");
        reload(&gw, changed).await;
        // (A moved app keeps its host, so the request still reaches it.)
        assert_eq!(status_with(&private, &token).await, 401, "{what}");
        reload(&gw, &original).await;
        assert_eq!(
            status_with(&private, &token).await,
            401,
            "{what}: the token came back with the app"
        );
        // A token made now works: the app is in force again.
        let (b, _) = sign_in_at(&base).await;
        let fresh = personal(&b, &base, "name=job&app=Test+app&access=read&days=30").await;
        assert_eq!(status_with(&private, &fresh).await, 200, "{what}");
    }
}

#[tokio::test]
async fn lowering_the_personal_token_bound_ends_longer_tokens() {
    let (gw, _dir) = gateway().await;
    let base = gw.url("");
    let private = gw.url("/private");
    let (b, _) = sign_in_at(&base).await;
    let long = personal(&b, &base, "name=long&app=Test+app&access=read&days=60").await;
    let short = personal(&b, &base, "name=short&app=Test+app&access=read&days=7").await;
    let lower = gw.config_text.replace(
        "personal_token_max_days = 90",
        "personal_token_max_days = 30",
    );
    assert_ne!(lower, gw.config_text);
    reload(&gw, &lower).await;
    assert_eq!(status_with(&private, &long).await, 401);
    assert_eq!(status_with(&private, &short).await, 200);
    reload(&gw, &gw.config_text).await;
    assert_eq!(status_with(&private, &long).await, 401, "ended, not paused");
}

/// A person's personal tokens end only when someone ends them: one beyond the bound is
/// refused (nothing made, nothing ended), and device logins, counted apart, never end one.
#[tokio::test]
async fn personal_tokens_are_never_ended_by_making_more_tokens() {
    let (gw, _dir) = gateway().await;
    let base = gw.url("");
    let private = gw.url("/private");
    let (b, _) = sign_in_at(&base).await;
    let max = qrgate_core::oidc::store::MAX_GRANTS;
    let mut tokens = Vec::new();
    for i in 0..max {
        let form = format!("name=job{i}&app=Test+app&access=read&days={}", 30 + i);
        tokens.push(personal(&b, &base, &form).await);
    }
    let (status, refused) = own_action(
        &b,
        &base,
        "personal-token",
        "name=one-more&app=Test+app&access=read&days=1",
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused.to_string().contains("revoke one first"),
        "{refused}"
    );
    // Device logins of the same person, more than the bound.
    for _ in 0..2 {
        crate::programs_device::approved_token(&gw, &alice_key(), &["app:Test%20app:read"]).await;
    }
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(status_with(&private, t).await, 200, "personal token {i}");
    }
}
