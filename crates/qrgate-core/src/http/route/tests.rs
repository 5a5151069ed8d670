use super::*;

#[test]
fn only_the_routes_whose_get_changes_state_are_answered_bare_to_head() {
    let effects = [
        Route::Login { rd: None },
        Route::StepUp { rd: None },
        Route::OidcAuthorize,
        Route::OidcLogout,
        Route::SsoIssue { query: None },
        Route::Device,
    ];
    for r in effects {
        assert!(r.get_has_effects(), "{r:?}");
        assert!(
            r.methods().contains(&Method::HEAD),
            "{r:?} still accepts HEAD"
        );
    }
    for r in [
        Route::Healthz,
        Route::Sessions,
        Route::OidcDiscovery,
        Route::OidcJwks,
        Route::OidcUserinfo,
        Route::OidcToken,
        Route::SsoHome,
    ] {
        assert!(!r.get_has_effects(), "{r:?}");
    }
}

/// Every route: its URL parses back to it, its methods, and its rate class for GET and
/// for POST.
#[test]
fn route_table() {
    use Action::{Claim, Create, Signer, Verify};
    type Row = (
        Route<'static>,
        &'static str,
        &'static str,
        Option<Action>,
        Option<Action>,
    );
    let rows: &[Row] = &[
        (Route::Healthz, "/healthz", "GET, HEAD", None, None),
        (
            Route::Jwks,
            "/.well-known/jwks.json",
            "GET, HEAD",
            None,
            None,
        ),
        (Route::Logout, "/logout", "POST", None, None),
        (
            Route::Login { rd: None },
            "/login",
            "GET, HEAD",
            Some(Create),
            None,
        ),
        (
            Route::StepUp { rd: None },
            "/step-up",
            "GET, HEAD",
            Some(Create),
            None,
        ),
        (
            Route::Sessions,
            "/sessions",
            "GET, HEAD, POST",
            Some(Verify),
            Some(Verify),
        ),
        (Route::Invite, "/invite", "POST", Some(Create), Some(Create)),
        (
            Route::RemoveDevice,
            "/remove-device",
            "POST",
            Some(Create),
            Some(Create),
        ),
        (
            Route::PersonalToken,
            "/personal-token",
            "POST",
            Some(Create),
            Some(Create),
        ),
        (
            Route::Enroll { token: "tok" },
            "/enroll/tok",
            "GET, HEAD, POST",
            Some(Signer),
            Some(Signer),
        ),
        (
            Route::Create,
            "/auth/session/create",
            "POST",
            None,
            Some(Create),
        ),
        (
            Route::Verify,
            "/auth/session/verify",
            "GET, HEAD",
            Some(Verify),
            None,
        ),
        (
            Route::Attempt { id: "sess_1" },
            "/auth/session/sess_1",
            "GET, HEAD",
            Some(Signer),
            None,
        ),
        (
            Route::Attempt { id: "other" },
            "/auth/session/other",
            "GET, HEAD",
            None,
            None,
        ),
        (
            Route::Events { id: "sess_1" },
            "/auth/session/sess_1/events",
            "GET, HEAD",
            None,
            None,
        ),
        (
            Route::Scan { id: "sess_1" },
            "/auth/session/sess_1/scan",
            "POST",
            None,
            Some(Signer),
        ),
        (
            Route::Approve { id: "sess_1" },
            "/auth/session/sess_1/approve",
            "POST",
            None,
            Some(Signer),
        ),
        (
            Route::Reject { id: "sess_1" },
            "/auth/session/sess_1/reject",
            "POST",
            None,
            Some(Signer),
        ),
        (
            Route::Claim { id: "sess_1" },
            "/auth/session/sess_1/claim",
            "POST",
            None,
            Some(Claim),
        ),
        (
            Route::Relay { channel: "ch" },
            "/pubky/relay/ch",
            "POST",
            None,
            Some(Signer),
        ),
        (Route::AuthSession, "/auth/session", "", None, None),
        (
            Route::OidcAuthorize,
            "/oidc/authorize",
            "GET, HEAD, POST",
            Some(Create),
            Some(Create),
        ),
        (
            Route::OidcToken,
            "/oidc/token",
            "POST",
            Some(Verify),
            Some(Verify),
        ),
        (
            Route::OidcUserinfo,
            "/oidc/userinfo",
            "GET, HEAD, POST",
            Some(Verify),
            Some(Verify),
        ),
        (Route::OidcJwks, "/oidc/jwks.json", "GET, HEAD", None, None),
        (
            Route::OidcLogout,
            "/oidc/logout",
            "GET, HEAD, POST",
            Some(Create),
            Some(Create),
        ),
        (
            Route::OidcDeviceAuthorization,
            "/oidc/device_authorization",
            "POST",
            Some(Create),
            Some(Create),
        ),
        (
            Route::Device,
            "/device",
            "GET, HEAD",
            Some(Create),
            Some(Create),
        ),
        (
            Route::SsoRedeem { code: None },
            "/sso/redeem",
            "GET, HEAD, POST",
            Some(Claim),
            Some(Claim),
        ),
    ];
    for &(route, path, allow, get, post) in rows {
        assert_eq!(route.url(""), path, "{route:?}");
        assert_eq!(
            Route::parse(&route.url("")),
            Some(route),
            "{path} parses back"
        );
        assert_eq!(
            route.url("https://a.example/.qrgate"),
            format!("https://a.example/.qrgate{path}")
        );
        assert_eq!(route.allow(), allow, "{path}");
        assert_eq!(route.rate_class(&Method::GET), get, "GET {path}");
        assert_eq!(route.rate_class(&Method::HEAD), get, "HEAD {path}");
        assert_eq!(route.rate_class(&Method::POST), post, "POST {path}");
        assert_eq!(
            route.is_event_stream(),
            matches!(route, Route::Events { .. }),
            "{path}"
        );
    }
}

#[test]
fn other_paths_are_not_ours_or_accept_nothing() {
    for path in [
        "/",
        "/x",
        "/healthz/x",
        "/enroll",
        "/enroll/a/b",
        "/pubky/relay",
    ] {
        assert_eq!(Route::parse(path), None, "{path}");
    }
    for path in ["/auth/session/a/events/x", "/auth/session/a/b"] {
        assert_eq!(Route::parse(path), Some(Route::AuthSession), "{path}");
    }
    assert_eq!(
        Route::parse("/pubky/relay/"),
        Some(Route::Relay { channel: "" })
    );
    // Methods outside the routes' sets are counted where every method is.
    assert_eq!(
        Route::Enroll { token: "t" }.rate_class(&Method::DELETE),
        Some(Action::Signer)
    );
    assert_eq!(
        Route::Login { rd: None }.rate_class(&Method::PUT),
        Some(Action::Create)
    );
}

#[test]
fn event_streams_need_an_id() {
    let stream = |p| Route::parse(p).is_some_and(|r| r.is_event_stream());
    assert!(stream("/auth/session/sess_1/events"));
    assert!(!stream("/auth/session//events"));
    assert!(!stream("/auth/session/a/events/x"));
    assert!(!stream("/auth/session/events"));
}

#[test]
fn attempt_urls_split_into_base_and_id() {
    let url = Route::Attempt { id: "sess_1" }.url("https://a.example/.qrgate");
    assert_eq!(
        attempt_of(&url),
        Some(("https://a.example/.qrgate", "sess_1"))
    );
    assert_eq!(attempt_of("https://a.example/.qrgate/auth/session/x"), None);
    assert_eq!(attempt_of("https://a.example/.qrgate/enroll/sess_1"), None);
}

#[test]
fn return_paths_are_form_urlencoded() {
    assert_eq!(
        Route::StepUp {
            rd: Some("/ADMIN;x/users")
        }
        .url("/.qrgate"),
        "/.qrgate/step-up?rd=%2FADMIN%3Bx%2Fusers"
    );
    assert_eq!(
        Route::Login {
            rd: Some("/a b?c=d&e")
        }
        .url("/p"),
        "/p/login?rd=%2Fa+b%3Fc%3Dd%26e"
    );
    assert_eq!(Route::Login { rd: None }.url("/p"), "/p/login");
}

/// The SSO origin's root routes: their URLs take the origin as base and parse back with
/// `parse_root` only (below the prefix they are no routes).
#[test]
fn root_routes_of_the_sso_origin() {
    for (route, path) in [
        (Route::OidcDiscovery, "/.well-known/openid-configuration"),
        (Route::SsoHome, "/"),
    ] {
        assert_eq!(route.url(""), path);
        assert_eq!(Route::parse_root(path), Some(route));
        assert_eq!(
            Route::parse(path),
            None,
            "{path} is no route below the prefix"
        );
        assert_eq!(route.allow(), "GET, HEAD");
        assert!(route.is_sso_only());
    }
    assert_eq!(
        Route::OidcDiscovery.url("https://id.example.com"),
        "https://id.example.com/.well-known/openid-configuration"
    );
    assert_eq!(Route::parse_root("/login"), None);
    assert!(Route::OidcToken.is_sso_only() && !Route::Login { rd: None }.is_sso_only());
}

/// The single sign-on routes: the code is issued on the SSO origin only and redeemed on
/// an app's; their URLs carry their query and parse back without it.
#[test]
fn single_sign_on_routes() {
    let issue = Route::SsoIssue {
        query: Some("app=a&bind=b&rd=%2F"),
    };
    assert_eq!(issue.url("/p"), "/p/sso/issue?app=a&bind=b&rd=%2F");
    assert_eq!(
        Route::parse("/sso/issue"),
        Some(Route::SsoIssue { query: None })
    );
    assert!(issue.is_sso_only());
    assert_eq!(issue.allow(), "GET, HEAD");
    assert_eq!(issue.rate_class(&Method::GET), Some(Action::Create));
    let redeem = Route::SsoRedeem {
        code: Some("a+b/c"),
    };
    assert_eq!(redeem.url("/p"), "/p/sso/redeem?code=a%2Bb%2Fc");
    assert!(!redeem.is_sso_only());
}
