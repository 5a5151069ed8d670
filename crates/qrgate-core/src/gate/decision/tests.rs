use std::path::Path;

use http::{HeaderMap, Method};

use super::*;
use crate::clock::Clock;

const KEY: &str = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";

fn config() -> Config {
    let text = format!(
        "[server]\ndefault_app = \"b\"\n[[app]]\nname = \"a\"\norigin = \"https://a.example\"\nupstream = \"127.0.0.1:9\"\npublic_paths = [\"/public\", \"/static/\"]\n[[app]]\nname = \"b\"\norigin = \"https://b.example\"\nupstream = \"127.0.0.1:9\"\n[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\n"
    );
    Config::parse(&text, Path::new("t.toml")).expect("config")
}

struct Req {
    method: Method,
    host: Option<&'static str>,
    path: &'static str,
    query: Option<&'static str>,
    absolute_form: bool,
    headers: HeaderMap,
    secure: bool,
}

impl Req {
    fn get(host: &'static str, path: &'static str) -> Req {
        Req {
            method: Method::GET,
            host: Some(host),
            path,
            query: None,
            absolute_form: false,
            headers: HeaderMap::new(),
            secure: false,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Req {
        self.headers.append(name, value.parse().expect("value"));
        self
    }

    fn view(&self) -> Request<'_> {
        Request {
            method: &self.method,
            host: self.host,
            path: self.path,
            query: self.query,
            absolute_form: self.absolute_form,
            headers: &self.headers,
            secure: self.secure,
        }
    }
}

const A: AppId = AppId::new(0);
const B: AppId = AppId::new(1);

#[test]
fn classify_table() {
    let c = config();
    let local = |app, route: &str| Classified::Local {
        app,
        route: route.to_string(),
    };
    let public = |target: Option<&str>| Classified::Public {
        app: A,
        target: target.map(str::to_string),
    };
    let cases: Vec<(Req, Classified)> = vec![
        (Req::get("a.example", "/.qrgate/login"), local(A, "/login")),
        (Req::get("A.EXAMPLE", "/.qrgate"), local(A, "")),
        (
            Req::get("a.example", "/x/../.qrgate/healthz"),
            local(A, "/healthz"),
        ),
        (
            Req::get("unknown.example", "/.qrgate/healthz"),
            local(B, "/healthz"),
        ),
        (Req::get("a.example", "/public/x"), public(None)),
        (Req::get("a.example", "/public"), public(None)),
        (Req::get("a.example", "/static/a.css"), public(None)),
        (
            Req::get("a.example", "//public/./x"),
            public(Some("/public/x")),
        ),
        (
            Req::get("a.example", "/public/%7e"),
            public(Some("/public/~")),
        ),
        (
            Req {
                query: Some("q=1"),
                ..Req::get("a.example", "/x/../public/y")
            },
            public(Some("/public/y?q=1")),
        ),
        (
            Req {
                absolute_form: true,
                ..Req::get("a.example", "/public/x")
            },
            public(Some("/public/x")),
        ),
        (
            Req::get("a.example", "/.qrgatex"),
            Classified::Protected {
                app: A,
                target: None,
                path: canonicalize("/.qrgatex").expect("canonical"),
            },
        ),
        (
            Req::get("a.example", "/publicity"),
            Classified::Protected {
                app: A,
                target: None,
                path: canonicalize("/publicity").expect("canonical"),
            },
        ),
        (
            Req::get("a.example", "/public/../admin"),
            Classified::Protected {
                app: A,
                target: Some("/admin".into()),
                path: canonicalize("/admin").expect("canonical"),
            },
        ),
        (
            Req::get("a.example", "/static"),
            Classified::Protected {
                app: A,
                target: None,
                path: canonicalize("/static").expect("canonical"),
            },
        ),
        (
            Req::get("a.example", "/public%2fadmin"),
            Classified::Deny(Denial::BadPath(PathError::EncodedSeparator)),
        ),
        (
            Req::get("a.example", "/public/..%2fadmin"),
            Classified::Deny(Denial::BadPath(PathError::EncodedSeparator)),
        ),
        (
            Req::get("a.example", "/../x"),
            Classified::Deny(Denial::BadPath(PathError::EscapesRoot)),
        ),
    ];
    for (req, want) in cases {
        assert_eq!(
            classify(&c, &req.view()),
            want,
            "{} {:?}",
            req.path,
            req.host
        );
    }
    // Without a Host there is no app to select, not even the default one.
    let no_host = Req {
        host: None,
        ..Req::get("", "/")
    };
    assert_eq!(
        classify(&c, &no_host.view()),
        Classified::Deny(Denial::UnknownHost)
    );
    let no_default = Config::parse(
        &format!(
            "[[app]]\nname = \"a\"\norigin = \"https://a.example\"\nupstream = \"127.0.0.1:9\"\n[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\n"
        ),
        Path::new("t.toml"),
    )
    .expect("config");
    assert_eq!(
        classify(&no_default, &Req::get("evil.example", "/").view()),
        Classified::Deny(Denial::UnknownHost)
    );
}

#[test]
fn browsers_are_redirected_with_a_return_path_and_programs_get_401() {
    let c = config();
    let path = canonicalize("/docs/a%20b").expect("canonical");
    let nav = Req {
        query: Some("x=1&y=2"),
        ..Req::get("a.example", "/docs/a%20b")
    }
    .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8");
    assert_eq!(
        unauthenticated(&c, A, &nav.view(), &path),
        Denial::LoginRedirect {
            location: format!(
                "/.qrgate/login?rd={}",
                url::form_urlencoded::byte_serialize(
                    format!("{}?x=1&y=2", path.as_str()).as_bytes()
                )
                .collect::<String>()
            )
        }
    );
    let program = |req: Req| unauthenticated(&c, A, &req.view(), &path);
    let unauth = Denial::Unauthenticated {
        realm: "a".into(),
        login: "/.qrgate/login".into(),
        resource_metadata: None,
        invalid_token: false,
    };
    assert_eq!(program(Req::get("a.example", "/docs")), unauth, "no Accept");
    assert_eq!(
        program(Req::get("a.example", "/docs").header("accept", "application/json")),
        unauth
    );
    assert_eq!(
        program(
            Req::get("a.example", "/docs")
                .header("accept", "text/html")
                .header("sec-fetch-mode", "cors")
        ),
        unauth
    );
    assert_eq!(
        program(Req {
            method: Method::POST,
            ..Req::get("a.example", "/docs").header("accept", "text/html")
        }),
        unauth
    );
}

#[tokio::test]
async fn only_a_live_session_for_this_app_forwards_with_identity() {
    let gw = Gateway::new(config(), Clock::manual()).expect("gateway");
    let s = gw.settings();
    let alice = s.user_identity(0).expect("alice");
    let token = gw
        .sessions()
        .create(s.app(A).key.clone(), alice.key, Default::default())
        .await
        .expect("session");
    let other_app = gw
        .sessions()
        .create(s.app(B).key.clone(), alice.key, Default::default())
        .await
        .expect("session");
    // The app's session cookie as issued now (`__Host-` on its https origin).
    let name = s.app_values(A).session_cookie.clone();
    let cookie = |t: &str| format!("{name}={t}");

    let with = |value: String| Req::get("a.example", "/app").header("cookie", &value);
    match decide(&gw, &s, &with(cookie(token.as_str())).view()).await {
        Decision::Forward(f) => {
            assert_eq!(f.app, A);
            assert_eq!(f.identity.as_deref(), Some(&*alice));
        }
        other => panic!("{other:?}"),
    }
    // A garbage cookie before the real one does not hide it.
    let both = format!("{name}=junk; {}", cookie(token.as_str()));
    assert!(matches!(
        decide(&gw, &s, &with(both).view()).await,
        Decision::Forward(Forward {
            identity: Some(_),
            ..
        })
    ));
    for value in [
        cookie(other_app.as_str()),
        cookie("junk"),
        format!("other={}", token.as_str()),
        cookie(&token.as_str().to_uppercase()),
    ] {
        assert!(
            matches!(
                decide(&gw, &s, &with(value.clone()).view()).await,
                Decision::Deny(Denial::Unauthenticated { .. })
            ),
            "{value}"
        );
    }
    match decide(&gw, &s, &Req::get("a.example", "/public/x").view()).await {
        Decision::Forward(f) => assert!(f.identity.is_none()),
        other => panic!("{other:?}"),
    }
}

/// Identity is looked up in the config in force at each request: a reload that removes a
/// user's access, or changes their roles, applies to their live session at once.
#[tokio::test]
async fn a_reload_applies_to_live_sessions_at_the_next_request() {
    let gw = Gateway::new(config(), Clock::manual()).expect("gateway");
    let s = gw.settings();
    let alice = s.user_identity(0).expect("alice");
    let token = gw
        .sessions()
        .create(s.app(A).key.clone(), alice.key, Default::default())
        .await
        .expect("session");
    let req = Req::get("a.example", "/app").header(
        "cookie",
        &format!("{}={}", s.app_values(A).session_cookie, token.as_str()),
    );
    let forwarded = |d: Decision| match d {
        Decision::Forward(f) => f.identity.map(|i| i.roles.clone()),
        _ => None,
    };
    assert_eq!(
        forwarded(decide(&gw, &gw.settings(), &req.view()).await),
        Some(String::new())
    );

    let reload = |text: String| {
        gw.reload(Config::parse(&text, Path::new("t.toml")).expect("config"))
            .expect("reload")
    };
    let apps =
        "[[app]]\nname = \"a\"\norigin = \"https://a.example\"\nupstream = \"127.0.0.1:9\"\n";
    reload(format!(
        "{apps}[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\nroles = [\"admin\"]\n"
    ));
    assert_eq!(
        forwarded(decide(&gw, &gw.settings(), &req.view()).await),
        Some("admin".into()),
        "new roles show at once"
    );
    let bob = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[9; 32])
            .verifying_key()
            .as_bytes(),
    );
    reload(format!("{apps}allow_users = [\"bob\"]\n[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\n[[user]]\nname = \"bob\"\nkey = \"{bob}\"\n"));
    assert!(
        matches!(
            decide(&gw, &gw.settings(), &req.view()).await,
            Decision::Deny(Denial::Unauthenticated { .. })
        ),
        "no longer allowed: no session"
    );
    reload(apps.to_string());
    assert!(
        matches!(
            decide(&gw, &gw.settings(), &req.view()).await,
            Decision::Deny(Denial::Unauthenticated { .. })
        ),
        "removed from config: no session"
    );
    assert_eq!(
        gw.sessions().len(),
        1,
        "the session itself survives every reload"
    );
}

#[test]
fn plain_http_goes_to_the_https_origin_when_asked() {
    let text = format!(
        "[server]\nredirect_to_https = true\n[[app]]\nname = \"s\"\norigin = \"https://s.example\"\nhosts = [\"s.example\"]\nupstream = \"127.0.0.1:9\"\n[[app]]\nname = \"p\"\norigin = \"http://p.example\"\nupstream = \"127.0.0.1:9\"\n[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\n"
    );
    let c = Config::parse(&text, Path::new("t.toml")).expect("config");
    let plain = Req {
        query: Some("a=1"),
        ..Req::get("s.example", "/x/../docs")
    };
    assert_eq!(
        classify(&c, &plain.view()),
        Classified::Deny(Denial::HttpsRedirect {
            location: "https://s.example/docs?a=1".into()
        })
    );
    let tls = Req {
        secure: true,
        ..Req::get("s.example", "/docs")
    };
    assert!(matches!(
        classify(&c, &tls.view()),
        Classified::Protected { .. }
    ));
    assert!(
        matches!(
            classify(&c, &Req::get("p.example", "/docs").view()),
            Classified::Protected { .. }
        ),
        "http apps are left alone"
    );
    assert_eq!(
        classify(&c, &Req::get("s.example", "/%252e").view()),
        Classified::Deny(Denial::BadPath(PathError::DoubleEncoded)),
        "a refused path is refused, not redirected"
    );
}

#[test]
fn a_grant_judges_the_methods_a_request_claims_through_overrides() {
    let grant =
        Grant::new(Access::Read, vec![("/comments/".into(), Access::ReadWrite)]).expect("grant");
    let within = |req: Req| {
        let path = canonicalize(req.path).expect("canonical");
        within_grant(&grant, &req.view(), &path)
    };
    assert!(within(Req::get("a.example", "/doc")));
    assert!(!within(
        Req::get("a.example", "/doc").header("x-http-method-override", "DELETE")
    ));
    assert!(!within(
        Req::get("a.example", "/doc").header("x_method_override", "put")
    ));
    assert!(!within(
        Req::get("a.example", "/doc").header("x-http-method", "?")
    ));
    assert!(within(
        Req::get("a.example", "/doc").header("x-http-method-override", "HEAD")
    ));
    assert!(!within(Req {
        query: Some("_method=delete"),
        ..Req::get("a.example", "/doc")
    }));
    assert!(within(
        Req::get("a.example", "/comments/1").header("x-http-method-override", "DELETE")
    ));
    assert!(within(
        Req::get("a.example", "/comments/1").header("x-http-method-override", "?")
    ));
    let full = Grant::full();
    let req = Req::get("a.example", "/doc").header("x-http-method-override", "?");
    let path = canonicalize("/doc").expect("canonical");
    assert!(within_grant(&full, &req.view(), &path));
}
