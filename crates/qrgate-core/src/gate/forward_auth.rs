//! Forward auth: a fronting proxy (nginx `auth_request`, Caddy `forward_auth`) asks
//! `{prefix}/auth/session/verify` about a request it carries, and the gateway judges that
//! original request by the proxy path's own rules.
//!
//! The proxy names the original request in two headers it sets itself, `X-Forwarded-Method`
//! and `X-Forwarded-Uri` (Caddy's `forward_auth` and Traefik set them; the nginx sample sets
//! them with `proxy_set_header`, which replaces whatever the client sent under those names).
//! The URI goes through the same [`canonicalize`] as a proxied request (and the same
//! refusals), and the session is judged by [`decision::admit`], the proxy path's function:
//! its grant with every method the request claims through override headers (the original
//! request's headers reach the subrequest), the step-up paths, the answer without a session.
//!
//! Public paths are not opened here: the question carries no proof that the proxy, and not
//! its client, wrote the two headers, so a claimed URI may only ever narrow the answer. A path
//! the app serves without login is exempted in the proxy's own config.

use http::{HeaderMap, Method, Uri};

use crate::config::AppId;
use crate::gate::decision::{self, Denial};
use crate::gate::program::{self, Presented};
use crate::gateway::{Gateway, LiveSession};
use crate::http::path::canonicalize;
use crate::http::request::Request;
use crate::login::{self, LoginError};
use crate::settings::Settings;

/// The header naming the original request's method.
pub(crate) const METHOD_HEADER: &str = "x-forwarded-method";
/// The header naming the original request's target (`/path?query`, as the client sent it).
pub(crate) const URI_HEADER: &str = "x-forwarded-uri";
/// The header naming the original request's `Upgrade`, for a proxy that drops `Upgrade` (a
/// hop-by-hop header) from its auth subrequest, as nginx does: a grant counts an upgrade as a
/// write. It can only add refusals, so a client may send it too.
pub(crate) const UPGRADE_HEADER: &str = "x-forwarded-upgrade";
/// The answer header naming where a browser goes next (the login or step-up page, with the
/// original URL to return to) on a 401: proxies turn it into their own redirect.
pub(crate) const REDIRECT_HEADER: &str = "x-qrgate-redirect";

/// The original request, as the proxy named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Original {
    /// Its method.
    pub(crate) method: Method,
    /// Its target, in origin form.
    pub(crate) uri: Uri,
}

/// Why the proxy's description of the original request cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OriginalError {
    /// Neither header, where the answer depends on them.
    #[error("This session's rules depend on the request's method and path: the proxy must set X-Forwarded-Method and X-Forwarded-Uri (nginx: proxy_set_header X-Forwarded-Method $request_method; proxy_set_header X-Forwarded-Uri $request_uri;).")]
    Missing,
    /// One header without the other.
    #[error("The proxy must set both X-Forwarded-Method and X-Forwarded-Uri; {0} is missing.")]
    Incomplete(&'static str),
    /// A header given more than once.
    #[error(
        "{0} is given more than once; the proxy must set it (replacing what the client sent)."
    )]
    Repeated(&'static str),
    /// The method header is not a method.
    #[error("X-Forwarded-Method is not an HTTP method.")]
    BadMethod,
    /// The URI header is not an origin-form request target.
    #[error("X-Forwarded-Uri is not a request target of the form /path?query.")]
    BadUri,
    /// The path is not written as it is judged: the proxy passes it on as written, and an
    /// app resolving `..` or `//` itself would serve another path than the one judged.
    #[error("The request's path is not in its plain form (no `//`, `.` or `..` segments); ask for the plain path.")]
    NotPlain,
}

/// Why forward auth does not admit a request.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The proxy's description of the original request is missing or unusable.
    Original(OriginalError),
    /// The proxy path's own denial of the original request.
    Denied(Denial),
    /// No session (without a description of the original request), or the store failed.
    Login(LoginError),
}

/// The original request named by `headers`; `None` when neither header is present.
pub(crate) fn original(headers: &HeaderMap) -> Result<Option<Original>, OriginalError> {
    let one = |name: &'static str| -> Result<Option<&str>, OriginalError> {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(OriginalError::Repeated(display(name)));
        }
        let bad = if name == METHOD_HEADER {
            OriginalError::BadMethod
        } else {
            OriginalError::BadUri
        };
        first.to_str().map(Some).map_err(|_| bad)
    };
    let (method, uri) = match (one(METHOD_HEADER)?, one(URI_HEADER)?) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(OriginalError::Incomplete(display(URI_HEADER))),
        (None, Some(_)) => return Err(OriginalError::Incomplete(display(METHOD_HEADER))),
        (Some(m), Some(u)) => (m, u),
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| OriginalError::BadMethod)?;
    // Parsed as the proxy glue's request line is (`http::Uri`), so the path and query seen
    // here are the ones a proxied request would have; only origin form is a proxy's target.
    let parsed: Uri = uri.parse().map_err(|_| OriginalError::BadUri)?;
    if parsed.scheme().is_some() || parsed.authority().is_some() || !parsed.path().starts_with('/')
    {
        return Err(OriginalError::BadUri);
    }
    // The app receives the proxy's own spelling of the target, so what is judged must be all
    // of it: `http::Uri` drops a fragment (`/doc#/../admin` parses as `/doc`, while nginx passes
    // the `#` on and an upstream keeping it in the path resolves `/admin`). A target the
    // parser does not keep whole is refused, never judged by what was left.
    if !parsed_whole(&parsed, uri) {
        return Err(OriginalError::BadUri);
    }
    let uri = parsed;
    Ok(Some(Original { method, uri }))
}

/// Whether `parsed` is all of `raw`: its path and query, and nothing else.
fn parsed_whole(parsed: &Uri, raw: &str) -> bool {
    let rest = raw.strip_prefix(parsed.path());
    match (rest, parsed.query()) {
        (Some(""), None) => true,
        (Some(rest), Some(q)) => rest.strip_prefix('?') == Some(q),
        _ => false,
    }
}

fn display(name: &str) -> &'static str {
    if name == METHOD_HEADER {
        "X-Forwarded-Method"
    } else {
        "X-Forwarded-Uri"
    }
}

/// Whether a session's answer depends on the original request: its grant is reduced, or the
/// app has step-up paths. Only then does a question without the two headers get refused; a
/// full-grant session on an app without step-up paths is admitted everywhere anyway.
pub(crate) fn depends_on_request(s: &Settings, app: AppId, live: &LiveSession) -> bool {
    !live.meta.grant.is_full() || !s.app(app).step_up_paths.is_empty()
}

/// Who a forward-auth answer vouches for.
#[derive(Debug)]
pub(crate) struct Vouched {
    /// The session, or a program's bearer token judged as the session of the key that
    /// approved it.
    pub(crate) live: LiveSession,
    /// The program a bearer token let in (`X-Auth-Client`), by its client id.
    pub(crate) client: Option<String>,
    /// Whether the `Authorization` header goes before the app
    /// ([`decision::strips_authorization`]).
    pub(crate) strip_authorization: bool,
}

/// The answer to a forward-auth question on `app`: who to vouch for, or why not. A program's
/// bearer token (where the app lets programs in) is judged first, then the session, as on
/// the proxy path ([`decision::decide`]).
pub(crate) async fn verify(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    headers: &HeaderMap,
) -> Result<Vouched, Refusal> {
    let store = |e| Refusal::Login(LoginError::Store(e));
    let original = original(headers).map_err(Refusal::Original)?;
    let path = match &original {
        Some(o) => {
            let path =
                canonicalize(o.uri.path()).map_err(|e| Refusal::Denied(Denial::BadPath(e)))?;
            // The proxy path forwards the canonical path; a fronting proxy forwards what the
            // client wrote, so only a path already canonical is judged here.
            if path.as_str() != o.uri.path() {
                return Err(Refusal::Original(OriginalError::NotPlain));
            }
            Some(path)
        }
        None => None,
    };
    let (program, refused) = match program::presented(gw, s, app, headers, path.as_ref())
        .await
        .map_err(store)?
    {
        Presented::Admitted(p) => (Some(p), false),
        Presented::Limited(l) => return Err(Refusal::Denied(Denial::TokenRateLimited(l))),
        Presented::Outside => return Err(Refusal::Denied(Denial::OutsideGrant { access: "no" })),
        Presented::Refused => (None, true),
        Presented::None => (None, false),
    };
    let client = program.as_ref().map(|p| p.client.clone());
    let strip_authorization = decision::strips_authorization(s, app, headers, program.as_ref());
    let vouch = |live| Vouched {
        live,
        client: client.clone(),
        strip_authorization,
    };
    let (Some(original), Some(path)) = (original, path) else {
        let live = match program {
            // What a token bound to path prefixes may do depends on the path.
            Some(p) if p.by_path => return Err(Refusal::Original(OriginalError::Missing)),
            Some(p) => p.live,
            None => login::verify(gw, s, app, headers)
                .await
                .map_err(Refusal::Login)?,
        };
        if depends_on_request(s, app, &live) {
            return Err(Refusal::Original(OriginalError::Missing));
        }
        return Ok(vouch(live));
    };
    let upgraded;
    let headers = match headers.get(UPGRADE_HEADER) {
        Some(v) if !v.is_empty() && !headers.contains_key(http::header::UPGRADE) => {
            upgraded = with_upgrade(headers, v.clone());
            &upgraded
        }
        _ => headers,
    };
    let req = Request {
        method: &original.method,
        host: None,
        path: original.uri.path(),
        query: original.uri.query(),
        absolute_form: false,
        headers,
        secure: true,
    };
    let live = match program {
        Some(p) => Some(p.live),
        None => match login::verify(gw, s, app, headers).await {
            Ok(live) => Some(live),
            Err(LoginError::Unauthenticated) => None,
            Err(e) => return Err(Refusal::Login(e)),
        },
    };
    decision::admit(s, app, &req, &path, live, gw.clock().now_millis())
        .map(vouch)
        .map_err(|d| Refusal::Denied(decision::token_refused(d, refused)))
}

/// `headers` with `Upgrade` set to what the proxy named.
fn with_upgrade(headers: &HeaderMap, value: http::HeaderValue) -> HeaderMap {
    let mut h = headers.clone();
    h.insert(http::header::UPGRADE, value);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn the_original_request_is_read_from_both_headers_or_refused() {
        let got = original(&headers(&[
            ("x-forwarded-method", "POST"),
            ("X-Forwarded-Uri", "/a;x/../b?c=1&_method=put"),
        ]))
        .expect("parsed")
        .expect("present");
        assert_eq!(got.method, Method::POST);
        assert_eq!(got.uri.path(), "/a;x/../b");
        assert_eq!(got.uri.query(), Some("c=1&_method=put"));
        assert_eq!(original(&HeaderMap::new()), Ok(None));

        let refused = |pairs: &[(&'static str, &str)]| original(&headers(pairs)).unwrap_err();
        assert_eq!(
            refused(&[("x-forwarded-method", "GET")]),
            OriginalError::Incomplete("X-Forwarded-Uri")
        );
        assert_eq!(
            refused(&[("x-forwarded-uri", "/")]),
            OriginalError::Incomplete("X-Forwarded-Method")
        );
        assert_eq!(
            refused(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a"),
                ("x-forwarded-uri", "/b"),
            ]),
            OriginalError::Repeated("X-Forwarded-Uri")
        );
        assert_eq!(
            refused(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-method", "POST"),
                ("x-forwarded-uri", "/a"),
            ]),
            OriginalError::Repeated("X-Forwarded-Method")
        );
        for method in ["", "GE T", "G(ET"] {
            assert_eq!(
                refused(&[("x-forwarded-method", method), ("x-forwarded-uri", "/")]),
                OriginalError::BadMethod,
                "{method:?}"
            );
        }
        for uri in ["", "*", "a/b", "http://evil.example/admin", "/a b"] {
            assert_eq!(
                refused(&[("x-forwarded-method", "GET"), ("x-forwarded-uri", uri)]),
                OriginalError::BadUri,
                "{uri:?}"
            );
        }
        let mut raw = HeaderMap::new();
        raw.insert("x-forwarded-method", "GET".parse().expect("value"));
        raw.insert(
            "x-forwarded-uri",
            http::HeaderValue::from_bytes(b"/caf\xc3\xa9").expect("value"),
        );
        assert_eq!(original(&raw), Err(OriginalError::BadUri));
    }

    #[test]
    fn a_target_is_judged_whole_or_refused() {
        let read = |uri: &str| {
            original(&headers(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", uri),
            ]))
        };
        // What nginx's `$request_uri` passes on raw: a fragment the URI parser would drop,
        // leaving a path other than the one the app receives.
        for uri in [
            "/doc#/../admin",
            "/admin#x",
            "/doc?a=1#/../admin",
            "/doc#",
            "/#",
            "/doc?#x",
        ] {
            assert_eq!(read(uri), Err(OriginalError::BadUri), "{uri:?}");
        }
        for (uri, path, query) in [
            ("/a", "/a", None),
            ("/a?", "/a", Some("")),
            ("/a?b=1&c", "/a", Some("b=1&c")),
            ("/a%23b?c%23d", "/a%23b", Some("c%23d")),
            ("/a?b?c", "/a", Some("b?c")),
            ("//evil.example/x", "//evil.example/x", None),
        ] {
            let got = read(uri).expect("parsed").expect("present");
            assert_eq!((got.uri.path(), got.uri.query()), (path, query), "{uri:?}");
        }
    }

    const KEY: &str = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";

    /// The verdicts of the proxy path for a read-only session on an app with a step-up path,
    /// and the refusal without the original request.
    #[tokio::test]
    async fn the_original_request_is_judged_by_the_proxy_paths_rules() {
        use std::time::Duration;

        use crate::clock::Clock;
        use crate::config::Config;
        use crate::http::path::PathError;
        use crate::identity::access::{Access, Grant};
        use crate::session::SessionMeta;

        let config = Config::parse(
            &format!("[[app]]\nname = \"a\"\norigin = \"https://a.example\"\nupstream = \"127.0.0.1:9\"\nstep_up_paths = [\"/admin\"]\nstep_up_max_age_seconds = 30\n[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\n"),
            std::path::Path::new("t.toml"),
        )
        .expect("config");
        let gw = Gateway::new(config, Clock::manual()).expect("gateway");
        let s = gw.settings();
        let app = AppId::new(0);
        let alice = s.user_identity(0).expect("alice");
        let meta = SessionMeta {
            grant: Grant::new(Access::Read, vec![("/comments/".into(), Access::ReadWrite)])
                .expect("grant"),
            ..Default::default()
        };
        let token = gw
            .sessions()
            .create(s.app(app).key.clone(), alice.key, meta)
            .await
            .expect("session");
        let bearer = format!("Bearer {}", token.as_str());
        let ask = |pairs: &[(&'static str, &str)]| {
            let mut h = headers(pairs);
            h.insert("authorization", bearer.parse().expect("value"));
            h
        };
        let verdict = |h: HeaderMap| {
            let (gw, s) = (&gw, &s);
            async move {
                match verify(gw, s, app, &h).await {
                    Ok(v) => Ok(v.live.identity.user.clone()),
                    Err(Refusal::Denied(d)) => Err(format!("{d:?}")),
                    Err(r) => Err(format!("{r:?}")),
                }
            }
        };
        let req = |method: &'static str, uri: &'static str| {
            ask(&[("x-forwarded-method", method), ("x-forwarded-uri", uri)])
        };
        let ok = Ok("alice".to_string());
        let outside = Err(format!("{:?}", Denial::OutsideGrant { access: "read" }));

        assert_eq!(verdict(req("GET", "/doc")).await, ok);
        assert_eq!(verdict(req("POST", "/doc")).await, outside);
        assert_eq!(verdict(req("POST", "/comments/1")).await, ok);
        assert_eq!(verdict(req("POST", "/Comments/1")).await, outside);
        assert_eq!(verdict(req("GET", "/doc?_method=DELETE")).await, outside);
        let mut h = req("GET", "/doc");
        h.insert("x-http-method-override", "DELETE".parse().expect("value"));
        assert_eq!(verdict(h).await, outside);
        let mut h = req("GET", "/doc");
        h.insert(UPGRADE_HEADER, "websocket".parse().expect("value"));
        assert_eq!(verdict(h).await, outside);
        assert_eq!(
            verdict(req("GET", "/a/%2e%2e%2fadmin")).await,
            Err(format!(
                "{:?}",
                Denial::BadPath(PathError::EncodedSeparator)
            ))
        );
        assert_eq!(
            verdict(ask(&[])).await,
            Err(format!("{:?}", Refusal::Original(OriginalError::Missing)))
        );
        // A path the proxy would pass on other than as judged is refused, whatever it names.
        for unplain in ["/admin//../comments/1", "/doc/./x", "/a/../doc", "//doc"] {
            assert_eq!(
                verdict(req("GET", unplain)).await,
                Err(format!("{:?}", Refusal::Original(OriginalError::NotPlain))),
                "{unplain}"
            );
        }
        assert_eq!(verdict(req("GET", "/ADMIN;x/users")).await, ok, "fresh");
        gw.clock().advance(Duration::from_secs(31));
        assert_eq!(
            verdict(req("GET", "/ADMIN;x/users")).await,
            Err(format!(
                "{:?}",
                Denial::StepUpRequired {
                    location: "/.qrgate/step-up?rd=%2FADMIN%3Bx%2Fusers".into()
                }
            ))
        );
        assert_eq!(verdict(req("GET", "/doc")).await, ok);
    }
}
