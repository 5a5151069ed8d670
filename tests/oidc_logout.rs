//! The OpenID Connect provider's sign-out: RP-initiated logout with and without a hint, HEAD
//! without effects, and signing out on the SSO origin ending a sign-on's grants and codes.

use crate::common::{browser, sign_in_at, NAV};
use crate::oidc::{
    authorize_url, code_for, id_claims, location, params, redeem_grafana, sso, sso_gateway, token,
    userinfo, BYE, REDIRECT, SECRET,
};
use crate::oidc_approval::urlenc;

#[tokio::test]
async fn logout_without_a_hint_asks_first_and_an_unregistered_return_is_a_page() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let logout = format!("{}/.qrgate/oidc/logout", sso(&gw));
    // Another site's link: only a confirmation form, and the session lives on.
    let resp = b
        .get(format!(
            "{logout}?client_id=grafana&post_logout_redirect_uri={}&state=x",
            urlenc(BYE)
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("logout link");
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("html");
    assert!(
        html.contains("<form method=\"post\"") && html.contains("Sign out of Example Sign-in"),
        "{html}"
    );
    let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none")).await;
    assert!(params(&loc).contains_key("code"), "still signed in: {loc}");
    // A return address the client did not register: a page, never a redirect.
    let resp = b
        .get(format!(
            "{logout}?client_id=grafana&post_logout_redirect_uri={}",
            urlenc("https://evil.example/")
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    // A form posted from another origin is the same link: asked again.
    let form = [
        ("client_id", "grafana"),
        ("post_logout_redirect_uri", BYE),
        ("state", "x"),
    ];
    let resp = b
        .post(&logout)
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("html").contains("<form"));
    // The form, posted from the SSO origin: signed out, back to the registered address.
    let resp = b
        .post(&logout)
        .header("origin", sso(&gw))
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"],
        format!("{BYE}?state=x").as_str()
    );
    let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none")).await;
    assert_eq!(params(&loc)["error"], "login_required");
}

#[tokio::test]
async fn a_logout_hint_signs_out_only_the_browser_holding_its_sign_on() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let (other, _) = sign_in_at(&sso(&gw)).await;
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
    assert_eq!(status, 200);
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(userinfo(&gw, access).await, 200);
    let hint = tokens["id_token"].as_str().expect("id token");
    let logout = format!(
        "{}/.qrgate/oidc/logout?id_token_hint={hint}&post_logout_redirect_uri={}",
        sso(&gw),
        urlenc(BYE)
    );
    // Another browser (signed in, or not at all) sending the hint: asked first, nothing ends.
    for (who, browser) in [("another session", &other), ("no session", &browser())] {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let resp = browser
                .request(method.clone(), &logout)
                .header("accept", NAV)
                .send()
                .await
                .expect("logout");
            assert_eq!(resp.status(), 200, "{who} {method}");
            if method == reqwest::Method::GET {
                let html = resp.text().await.expect("html");
                assert!(html.contains("<form method=\"post\""), "{who}: {html}");
                assert!(html.contains("value=\"grafana\""), "{who}: {html}");
                assert!(!html.contains(hint), "the hint is not posted back");
            }
        }
    }
    assert_eq!(userinfo(&gw, access).await, 200, "the grant lives on");
    for browser in [&b, &other] {
        let (_, loc) = location(
            browser,
            &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none"),
        )
        .await;
        assert!(params(&loc).contains_key("code"), "still signed in: {loc}");
    }
    // The browser holding the sign-on: signed out without asking, its grants end.
    let (status, loc) = location(&b, &logout).await;
    assert_eq!((status, loc.as_str()), (302, BYE));
    assert_eq!(
        userinfo(&gw, access).await,
        401,
        "the sign-on's grants ended"
    );
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let (status, _, e) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none")).await;
    assert_eq!(params(&loc)["error"], "login_required");
    let (_, loc) = location(
        &other,
        &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none"),
    )
    .await;
    assert!(
        params(&loc).contains_key("code"),
        "the other session lives: {loc}"
    );
    // A hint that is not this provider's is refused.
    let resp = browser()
        .get(format!(
            "{}/.qrgate/oidc/logout?id_token_hint=eyJhbGciOiJIUzI1NiJ9.e30.x",
            sso(&gw)
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn head_runs_no_route_whose_get_changes_state() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let codes = || {
        gw.state.metrics().render().contains(
            "qrgate_oidc_total{client=\"grafana\",endpoint=\"authorize\",result=\"code\"}",
        )
    };
    // Authorize (mints a code on GET), a step-up (a ticket) and logout with the browser's own
    // hint (signs out on GET): HEAD answers 200 with no Location and runs none of it.
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
    assert_eq!(status, 200);
    let before = gw.state.metrics().render();
    assert!(codes(), "{before}");
    let hint = tokens["id_token"].as_str().expect("id token");
    for url in [
        authorize_url(&gw, "grafana", REDIRECT, ""),
        authorize_url(&gw, "grafana", REDIRECT, "&prompt=login"),
        format!("{}/.qrgate/oidc/logout?id_token_hint={hint}", sso(&gw)),
        format!("{}/.qrgate/login", sso(&gw)),
        format!("{}/.qrgate/step-up?rd=/", sso(&gw)),
    ] {
        let resp = b
            .head(&url)
            .header("accept", NAV)
            .send()
            .await
            .expect("head");
        assert_eq!(resp.status(), 200, "{url}");
        assert!(resp.headers().get("location").is_none(), "{url}");
        assert!(resp.headers().get("set-cookie").is_none(), "{url}");
    }
    let after = gw.state.metrics().render();
    let line = |m: &str| {
        m.lines()
            .find(|l| {
                l.starts_with(
                    "qrgate_oidc_total{client=\"grafana\",endpoint=\"authorize\",result=\"code\"}",
                )
            })
            .map(str::to_string)
    };
    assert_eq!(line(&before), line(&after), "no code minted");
    assert_eq!(
        userinfo(&gw, tokens["access_token"].as_str().expect("a")).await,
        200,
        "the grant lives"
    );
    let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none")).await;
    assert!(params(&loc).contains_key("code"), "still signed in: {loc}");
}

#[tokio::test]
async fn signing_out_of_the_sso_origin_ends_its_grants_and_unredeemed_codes() {
    let (gw, _dir) = sso_gateway("").await;
    for how in ["logout", "sessions page"] {
        let (b, _) = sign_in_at(&sso(&gw)).await;
        let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
        let tokens = redeem_grafana(&gw, &code).await;
        let pending = code_for(&gw, &b, "grafana", REDIRECT, "").await;
        let resp = if how == "logout" {
            b.post(format!("{}/.qrgate/logout", sso(&gw)))
                .header("origin", sso(&gw))
                .send()
                .await
                .expect("logout")
        } else {
            let sid = id_claims(&tokens)["sid"].as_str().expect("sid").to_string();
            b.post(format!("{}/.qrgate/sessions", sso(&gw)))
                .header("origin", sso(&gw))
                .form(&[("id", sid.as_str())])
                .send()
                .await
                .expect("sign out")
        };
        assert!(
            resp.status().is_success() || resp.status().is_redirection(),
            "{how}: {}",
            resp.status()
        );
        assert_eq!(
            userinfo(&gw, tokens["access_token"].as_str().expect("a")).await,
            401,
            "{how}"
        );
        let (status, _, e) = token(
            &gw,
            Some(("grafana", SECRET)),
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().expect("r"),
                ),
            ],
        )
        .await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{how}"
        );
        let (status, _, e) = token(
            &gw,
            Some(("grafana", SECRET)),
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
            "{how}: a code minted before the sign-out"
        );
    }
}
