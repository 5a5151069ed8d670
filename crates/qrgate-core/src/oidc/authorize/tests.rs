use std::path::Path;

use super::*;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn config() -> Config {
    Config::parse(
        "[[app]]\nname = \"wiki\"\norigin = \"https://wiki.example.com\"\nupstream = \"127.0.0.1:3000\"\n\n[sso]\norigin = \"https://id.example.com\"\nname = \"Example\"\n\n[[oidc_client]]\nid = \"conf\"\nsecret_hash = \"1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0\"\nredirect_uris = [\"https://app.example/cb\"]\n\n[[oidc_client]]\nid = \"pub\"\npublic = true\nredirect_uris = [\"http://127.0.0.1:9/cb?x=1\"]\n",
        Path::new("t.toml"),
    )
    .expect("config")
}

fn ask(q: &str) -> Result<AuthRequest, AuthorizeError> {
    let c = config();
    parse(&c, Some(q)).map(|(r, _)| r)
}

fn redirect_error(q: &str) -> &'static str {
    match ask(q) {
        Err(AuthorizeError::Redirect(e)) => {
            assert_eq!(e.redirect_uri, "https://app.example/cb");
            e.error
        }
        other => panic!("expected a redirect error, got {other:?}"),
    }
}

const OK: &str = "client_id=conf&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code&scope=openid%20email%20admin&state=s1&nonce=n1";

#[test]
fn a_code_request_is_read_with_its_state_nonce_and_allowed_scopes() {
    let r = ask(OK).expect("valid");
    assert_eq!(r.client_id, "conf");
    assert_eq!(r.state.as_deref(), Some("s1"));
    assert_eq!(r.nonce.as_deref(), Some("n1"));
    assert_eq!(r.scope, ["openid", "email"]);
    assert_eq!(r.code_challenge, None);
    let r = ask(&format!(
        "{OK}&code_challenge={CHALLENGE}&code_challenge_method=S256"
    ))
    .expect("pkce");
    assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
}

#[test]
fn an_unknown_client_or_unregistered_redirect_is_a_page_never_a_redirect() {
    for (q, problem) in [
        ("redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code", PageProblem::MissingClient),
        ("client_id=nope&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", PageProblem::UnknownClient),
        ("client_id=conf&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code", PageProblem::BadRedirectUri),
        ("client_id=conf&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2F&response_type=code", PageProblem::BadRedirectUri),
        ("client_id=conf&response_type=code&scope=openid", PageProblem::BadRedirectUri),
        ("client_id=conf&client_id=pub&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", PageProblem::MissingClient),
        ("client_id=conf&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&redirect_uri=https%3A%2F%2Fevil.example%2F", PageProblem::BadRedirectUri),
    ] {
        assert_eq!(ask(q), Err(AuthorizeError::Page(problem)), "{q}");
    }
}

#[test]
fn other_mistakes_go_back_to_the_client_with_their_error_code() {
    let base = "client_id=conf&redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
    assert_eq!(
        redirect_error(&format!("{base}&response_type=token&scope=openid")),
        "unsupported_response_type"
    );
    assert_eq!(
        redirect_error(&format!(
            "{base}&response_type=code%20id_token&scope=openid"
        )),
        "unsupported_response_type"
    );
    assert_eq!(
        redirect_error(&format!("{base}&scope=openid")),
        "invalid_request"
    );
    assert_eq!(
        redirect_error(&format!("{base}&response_type=code&scope=email")),
        "invalid_scope"
    );
    assert_eq!(
        redirect_error(&format!(
            "{OK}&code_challenge={CHALLENGE}&code_challenge_method=plain"
        )),
        "invalid_request"
    );
    assert_eq!(
        redirect_error(&format!("{OK}&code_challenge={CHALLENGE}")),
        "invalid_request"
    );
    assert_eq!(
        redirect_error(&format!(
            "{OK}&code_challenge=short&code_challenge_method=S256"
        )),
        "invalid_request"
    );
    assert_eq!(
        redirect_error(&format!("{OK}&prompt=none%20login")),
        "invalid_request"
    );
    assert_eq!(
        redirect_error(&format!("{OK}&max_age=soon")),
        "invalid_request"
    );
    assert_eq!(
        redirect_error(&format!("{OK}&request=eyJ")),
        "request_not_supported"
    );
    assert_eq!(
        redirect_error(&format!("{OK}&nonce=again")),
        "invalid_request"
    );
}

#[test]
fn a_public_client_must_use_pkce() {
    let base = "client_id=pub&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb%3Fx%3D1&response_type=code&scope=openid";
    assert!(matches!(ask(base), Err(AuthorizeError::Redirect(e)) if e.error == "invalid_request"));
    assert!(ask(&format!(
        "{base}&code_challenge={CHALLENGE}&code_challenge_method=S256"
    ))
    .is_ok());
}

#[test]
fn the_pkce_verifier_is_checked_against_the_challenge() {
    assert!(verifier_matches(VERIFIER, CHALLENGE));
    assert!(!verifier_matches(
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
        CHALLENGE
    ));
    assert!(!verifier_matches("short", CHALLENGE));
}

#[test]
fn sessions_prompts_and_max_age_decide_what_comes_next() {
    let r = ask(OK).expect("valid");
    let at = |approved_ms, admitted| {
        Some(Signed {
            approved_ms,
            admitted,
            hinted: true,
        })
    };
    assert_eq!(next(&r, None, None, 10_000), Next::SignIn { fresh: None });
    // A request for a fresh approval with no one signed in: the sign-in is that approval.
    for extra in ["&prompt=login", "&max_age=0"] {
        let fresh = ask(&format!("{OK}{extra}")).expect("valid");
        assert_eq!(
            next(&fresh, None, None, 10_000),
            Next::SignIn { fresh: Some(10) },
            "{extra}"
        );
    }
    let aged = ask(&format!("{OK}&max_age=60")).expect("valid");
    assert_eq!(
        next(&aged, None, None, 10_000),
        Next::SignIn { fresh: None },
        "any sign-in now is young enough"
    );
    assert_eq!(
        next(&r, at(5_000, true), None, 10_000),
        Next::Issue { fresh: false }
    );
    assert_eq!(
        next(&r, at(5_000, false), None, 10_000),
        Next::Page(PageProblem::NotAllowed)
    );
    let none = ask(&format!("{OK}&prompt=none")).expect("none");
    assert_eq!(
        next(&none, None, None, 10_000),
        Next::Refuse("login_required", "no one is signed in")
    );
    assert!(matches!(
        next(&none, at(5_000, false), None, 10_000),
        Next::Refuse("access_denied", _)
    ));
    let login = ask(&format!("{OK}&prompt=login")).expect("login");
    assert_eq!(
        next(&login, at(5_000, true), None, 10_000),
        Next::Reapprove { after: 10 }
    );
    let old = ask(&format!("{OK}&max_age=3")).expect("max_age");
    assert_eq!(
        next(&old, at(5_000, true), None, 10_000),
        Next::Reapprove { after: 10 }
    );
    assert_eq!(
        next(&old, at(8_000, true), None, 10_000),
        Next::Issue { fresh: false }
    );
    let zero = ask(&format!("{OK}&max_age=0")).expect("max_age=0");
    assert_eq!(
        next(&zero, at(10_000, true), None, 10_000),
        Next::Reapprove { after: 10 }
    );
    // Back from the fresh approval with a ticket: only the store's word on it counts.
    let q = query_after(
        Some(&format!("{OK}&prompt=login&max_age=3&step_up=old")),
        "t1",
    );
    assert!(q.contains("prompt=login") && q.contains("max_age=3"), "{q}");
    let back = ask(&q).expect("back");
    assert_eq!(back.step_up.as_deref(), Some("t1"), "{q}");
    assert_eq!(
        next(&back, at(11_000, true), Some(10), 12_000),
        Next::Issue { fresh: true }
    );
    assert_eq!(
        next(&back, at(9_000, true), Some(10), 12_000),
        Next::Reapprove { after: 12 },
        "an approval older than the ticket's request"
    );
    assert_eq!(
        next(&back, at(11_000, true), None, 12_000),
        Next::Reapprove { after: 12 },
        "a ticket the store does not give back is no approval"
    );
}

#[test]
fn a_silent_request_hinting_at_someone_else_is_login_required() {
    let none = ask(&format!("{OK}&prompt=none&login_hint=bob")).expect("none");
    assert_eq!(none.login_hint.as_deref(), Some("bob"));
    let other = Signed {
        approved_ms: 5_000,
        admitted: true,
        hinted: false,
    };
    assert!(matches!(
        next(&none, Some(other), None, 10_000),
        Next::Refuse("login_required", _)
    ));
    let same = Signed {
        hinted: true,
        ..other
    };
    assert_eq!(
        next(&none, Some(same), None, 10_000),
        Next::Issue { fresh: false }
    );
    let plain = ask(OK).expect("plain");
    assert_eq!(
        next(&plain, Some(other), None, 10_000),
        Next::Issue { fresh: false },
        "a page may be shown: the person signed in is the one who approves"
    );
}

#[test]
fn a_hand_made_step_up_or_auth_after_in_the_query_is_no_fresh_approval() {
    for extra in [
        "&auth_after=1",
        "&step_up=forged",
        "&auth_after=0&step_up=x",
    ] {
        let plain = ask(&format!("{OK}{extra}")).expect("plain");
        let session = Some(Signed {
            approved_ms: 5_000,
            admitted: true,
            hinted: true,
        });
        assert_eq!(
            next(&plain, session, None, 10_000),
            Next::Issue { fresh: false },
            "{extra}: no acr"
        );
        let login = ask(&format!("{OK}&prompt=login{extra}")).expect("login");
        assert_eq!(
            next(&login, session, None, 10_000),
            Next::Reapprove { after: 10 },
            "{extra}: asked afresh"
        );
    }
}

#[test]
fn a_sign_in_for_a_registered_client_is_shown_with_its_name_and_redirect_origin() {
    let c = config();
    let sso = c.sso_app().expect("sso");
    let back = format!("/.qrgate/oidc/authorize?{OK}");
    assert_eq!(
        shown_name(&c, sso, &back),
        "Example, for conf (https://app.example); also opens wiki",
        "the sign-on first, then the client that asked, then the apps it opens"
    );
    assert_eq!(
        shown_name(&c, AppId::new(0), &back),
        "wiki",
        "only on the SSO origin"
    );
    let other = back.replace("app.example%2Fcb", "evil.example%2Fcb");
    assert_eq!(
        shown_name(&c, sso, &other),
        "Example",
        "an unregistered redirect: own name"
    );
    assert_eq!(shown_name(&c, sso, "/.qrgate/sessions"), "Example");
    // An app's code request names the gateway and the app; an app that keeps its own
    // approval, or none, only the gateway.
    assert_eq!(
        shown_name(&c, sso, "/.qrgate/sso/issue?app=wiki&bind=x&rd=%2F"),
        "Example (wiki)"
    );
    for other in ["nope", "Example"] {
        assert_eq!(
            shown_name(&c, sso, &format!("/.qrgate/sso/issue?app={other}")),
            "Example"
        );
    }
    assert_eq!(
        shown_name(&c, sso, &back.replace("oidc/authorize", "oidc/token")),
        "Example"
    );
}

#[test]
fn every_redirect_carries_the_issuer_and_keeps_the_registered_query() {
    assert_eq!(
        redirect_location(
            "http://127.0.0.1:9/cb?x=1",
            &[("code", "c"), ("state", "a b")],
            "https://id.example.com"
        ),
        "http://127.0.0.1:9/cb?x=1&code=c&state=a+b&iss=https%3A%2F%2Fid.example.com"
    );
    let e = ErrorRedirect {
        redirect_uri: "https://app.example/cb".into(),
        error: "login_required",
        description: "d",
        state: Some("s".into()),
    };
    assert_eq!(
        error_location(&e, "https://id.example.com"),
        "https://app.example/cb?error=login_required&error_description=d&state=s&iss=https%3A%2F%2Fid.example.com"
    );
}
