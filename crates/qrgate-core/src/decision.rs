//! The request decision: what the gateway does with one request.
//!
//! From method, host, raw path, query and headers to exactly one of: serve one of the
//! gateway's own routes, forward to the app (anonymously on a public path, or with the
//! session's identity), or deny (unknown host, bad path, login redirect, 401, store down).
//!
//! [`classify`] and [`unauthenticated`] are pure; [`decide`] adds the one lookup that needs
//! state, the session. The order is the security argument: the app comes from `Host` only to
//! select config; the path is canonicalized once and every later rule sees only the
//! canonical path, which is also what is forwarded; public paths are matched before any
//! session lookup; anything that is neither public nor carries a live session is denied.

use std::sync::Arc;

use crate::access::{Access, Grant};
use crate::config::{AppId, Config};
use crate::gateway::{Gateway, LiveSession};
use crate::identity::Identity;
use crate::method_override;
use crate::negotiate;
use crate::path::{canonicalize, CanonicalPath, PathError};
use crate::request::{path_and_query, Request};
use crate::route::Route;
use crate::session::{StoreError, TokenHash};
use crate::settings::Settings;

/// What to do with a request.
#[derive(Debug)]
pub enum Decision {
    /// Serve one of the gateway's own routes; `route` is the canonical path below the prefix
    /// (`""` or starting with `/`).
    Local {
        /// The app selected by `Host`.
        app: AppId,
        /// Canonical path below the prefix.
        route: String,
    },
    /// Forward to the app.
    Forward(Forward),
    /// Answer locally with a refusal.
    Deny(Denial),
}

/// A request to forward.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The app selected by `Host`.
    pub app: AppId,
    /// The request target to send upstream when it differs from what the client sent
    /// (canonical path plus the original query).
    pub target: Option<String>,
    /// The session's identity; `None` on a public path.
    pub identity: Option<Arc<Identity>>,
    /// The session's token hash (a long-lived response is tied to it); `None` on a public
    /// path.
    pub session: Option<TokenHash>,
}

/// Why a request is answered locally instead of forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No app is served at this `Host`.
    UnknownHost,
    /// The path is malformed or ambiguous.
    BadPath(PathError),
    /// A browser navigation without a session: go to the login page, then come back.
    LoginRedirect {
        /// `{prefix}/login?rd=…`.
        location: String,
    },
    /// A program without a session.
    Unauthenticated {
        /// The app's name, for `WWW-Authenticate`.
        realm: String,
        /// `{prefix}/login`.
        login: String,
    },
    /// The session store could not answer; nobody is let in.
    Store(StoreError),
    /// Plain HTTP for an https app with `redirect_to_https`: go to the same path there.
    HttpsRedirect {
        /// The app's https origin plus the canonical path and query.
        location: String,
    },
    /// The session's grant does not cover this method here (a write with read access).
    OutsideGrant {
        /// The session's access at this path.
        access: &'static str,
    },
    /// A browser navigation to a step-up path whose session's last phone approval is too
    /// old: confirm on the phone, then come back.
    StepUpRedirect {
        /// `{prefix}/step-up?rd=…`.
        location: String,
    },
    /// A program's request to a step-up path: confirm there, then retry.
    StepUpRequired {
        /// `{prefix}/step-up?rd=…`.
        location: String,
    },
}

/// A request's route before any session lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// One of the gateway's own routes.
    Local {
        /// The app selected by `Host`.
        app: AppId,
        /// Canonical path below the prefix.
        route: String,
    },
    /// A path the app serves without login.
    Public {
        /// The app selected by `Host`.
        app: AppId,
        /// Rewritten target, if any (see [`Forward::target`]).
        target: Option<String>,
    },
    /// A path that needs a session.
    Protected {
        /// The app selected by `Host`.
        app: AppId,
        /// Rewritten target, if any (see [`Forward::target`]).
        target: Option<String>,
        /// The canonical path, where a login should return to.
        path: CanonicalPath,
    },
    /// Refused before any state is consulted.
    Deny(Denial),
}

/// Routes a request by config alone: app by host, canonical path, own routes, public paths.
pub fn classify(config: &Config, req: &Request<'_>) -> Classified {
    let Some(app_id) = req.host.and_then(|h| config.app_for_host(h)) else {
        return Classified::Deny(Denial::UnknownHost);
    };
    let path = match canonicalize(req.path) {
        Ok(p) => p,
        Err(e) => return Classified::Deny(Denial::BadPath(e)),
    };
    let app = config.app(app_id);
    if !req.secure && config.server.redirect_to_https && app.origin.is_https() {
        return Classified::Deny(Denial::HttpsRedirect {
            location: format!("{}{}", app.origin, path_and_query(path.as_str(), req.query)),
        });
    }
    if let Some(sub) = path.as_str().strip_prefix(config.server.prefix.as_str()) {
        if sub.is_empty() || sub.starts_with('/') {
            return Classified::Local {
                app: app_id,
                route: sub.to_string(),
            };
        }
    }
    // An absolute-form target (`GET http://host/path`) is forwarded in origin form, so the
    // upstream sees exactly the path that was authorized and no second authority.
    let target = (path.as_str() != req.path || req.absolute_form)
        .then(|| path_and_query(path.as_str(), req.query));
    if app.public_paths.iter().any(|p| p.covers(&path)) {
        return Classified::Public {
            app: app_id,
            target,
        };
    }
    Classified::Protected {
        app: app_id,
        target,
        path,
    }
}

/// Whether `grant` admits the request on `path`: its own method, and every method it claims
/// through an override carrier (`method_override::claimed`; one that names no method counts
/// as a write), so a read grant never forwards a request an upstream would serve as a write.
pub fn within_grant(grant: &Grant, req: &Request<'_>, path: &CanonicalPath) -> bool {
    let upgrade = req.headers.contains_key(http::header::UPGRADE);
    if !grant.allows(req.method, upgrade, path) {
        return false;
    }
    // Under a full grant every method is admitted, so no carrier needs reading.
    grant.is_full()
        || method_override::claimed(req.headers, req.query)
            .iter()
            .all(|m| match m {
                Some(m) => grant.allows(m, upgrade, path),
                None => grant.access(path) == Access::ReadWrite,
            })
}

/// Whether `path` on `app` needs a fresher phone approval than one at `approved_ms`.
pub fn needs_step_up(
    s: &Settings,
    app: AppId,
    path: &CanonicalPath,
    approved_ms: u64,
    now_ms: u64,
) -> bool {
    let a = s.app(app);
    if a.step_up_paths.is_empty()
        || now_ms < approved_ms.saturating_add(crate::clock::millis(a.step_up_max_age))
    {
        return false;
    }
    let folded = path.folded();
    a.step_up_paths.iter().any(|p| p.covers(&folded))
}

/// The answer to a request that needs a step-up: a browser navigation goes to the
/// confirmation page (and then on to the same URL); anything else gets 403 naming that page,
/// to retry after confirming.
pub fn step_up(config: &Config, req: &Request<'_>, path: &CanonicalPath) -> Denial {
    let back = path_and_query(path.as_str(), req.query);
    let location = Route::StepUp { rd: Some(&back) }.url(&config.server.prefix);
    if negotiate::is_browser_navigation(req.method, req.headers) {
        Denial::StepUpRedirect { location }
    } else {
        Denial::StepUpRequired { location }
    }
}

/// The answer to a protected request without a session: browsers are sent to the login page
/// (with a return path), programs get a 401 they can act on.
pub fn unauthenticated(
    config: &Config,
    app: AppId,
    req: &Request<'_>,
    path: &CanonicalPath,
) -> Denial {
    let prefix = &config.server.prefix;
    if negotiate::is_browser_navigation(req.method, req.headers) {
        let back = path_and_query(path.as_str(), req.query);
        Denial::LoginRedirect {
            location: Route::Login { rd: Some(&back) }.url(prefix),
        }
    } else {
        Denial::Unauthenticated {
            realm: config.app(app).name.clone(),
            login: Route::Login { rd: None }.url(prefix),
        }
    }
}

/// What a request to a protected `path` on `app` gets with the session it carries (`None`:
/// none): the session to forward with, or the denial. The one judgement of a session against
/// a request, shared by the proxy path ([`decide`]) and forward auth
/// ([`crate::forward_auth`]): the grant with every method the request claims, then the
/// step-up paths, then the answer for a request without a session.
pub fn admit(
    s: &Settings,
    app: AppId,
    req: &Request<'_>,
    path: &CanonicalPath,
    live: Option<LiveSession>,
    now_ms: u64,
) -> Result<LiveSession, Denial> {
    match live {
        Some(live) if !within_grant(&live.meta.grant, req, path) => Err(Denial::OutsideGrant {
            access: live.meta.grant.access(path).name(),
        }),
        Some(live) if needs_step_up(s, app, path, live.approved_ms, now_ms) => {
            Err(step_up(&s.config, req, path))
        }
        Some(live) => Ok(live),
        None => Err(unauthenticated(&s.config, app, req, path)),
    }
}

/// The decision for a request: [`classify`], then the session lookup for protected paths.
pub async fn decide(gw: &Gateway, s: &Settings, req: &Request<'_>) -> Decision {
    match classify(&s.config, req) {
        Classified::Local { app, route } => Decision::Local { app, route },
        Classified::Public { app, target } => Decision::Forward(Forward {
            app,
            target,
            identity: None,
            session: None,
        }),
        Classified::Protected { app, target, path } => {
            match gw.session(s, req.headers, app).await {
                Ok(live) => match admit(s, app, req, &path, live, gw.clock.now_millis()) {
                    Ok(live) => Decision::Forward(Forward {
                        app,
                        target,
                        identity: Some(live.identity),
                        session: Some(live.hash),
                    }),
                    Err(d) => Decision::Deny(d),
                },
                Err(e) => Decision::Deny(Denial::Store(e)),
            }
        }
        Classified::Deny(d) => Decision::Deny(d),
    }
}

#[cfg(test)]
mod tests {
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
            .sessions
            .create(s.app(A).key.clone(), alice.key, Default::default())
            .await
            .expect("session");
        let other_app = gw
            .sessions
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
            .sessions
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
            gw.sessions.len(),
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
        let grant = Grant::new(Access::Read, vec![("/comments/".into(), Access::ReadWrite)])
            .expect("grant");
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
}
