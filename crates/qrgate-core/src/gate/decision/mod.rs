//! The request decision: what the gateway does with one request.
//!
//! From method, host, raw path, query and headers to exactly one of: serve one of the
//! gateway's own routes, forward to the app (anonymously on a public path, or with the
//! session's identity), or deny (unknown host, bad path, login redirect, 401, store down).
//!
//! [`classify`] and `unauthenticated` are pure; [`decide`] adds the one lookup that needs
//! state, the session. The order is the security argument: the app comes from `Host` only to
//! select config; the path is canonicalized once and every later rule sees only the
//! canonical path, which is also what is forwarded; public paths are matched before any
//! session lookup; anything that is neither public nor carries a live session is denied.

use std::sync::Arc;

use crate::config::{AppId, Config};
use crate::gate::program::{self, Presented};
use crate::gateway::{Gateway, LiveSession};
use crate::http::method_override;
use crate::http::negotiate;
use crate::http::path::{canonicalize, CanonicalPath, PathError};
use crate::http::request::{path_and_query, Request};
use crate::http::route::Route;
use crate::identity::access::{Access, Grant};
use crate::identity::Identity;
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
    /// The token hash of what let the request in, the session's or (with `client`) the
    /// program's bearer token's: a long-lived response is tied to it. `None` on a public path.
    pub session: Option<TokenHash>,
    /// The program a bearer token let in (`X-Auth-Client`), by its client id.
    pub client: Option<String>,
    /// Whether the `Authorization` header goes: it carries a token of ours and the app does
    /// not ask for it (`forward_authorization`).
    pub strip_authorization: bool,
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
        /// On an app that lets programs in: its protected resource metadata's URL (RFC 9728),
        /// named in a `Bearer` challenge.
        resource_metadata: Option<String>,
        /// A bearer token was presented and admits nobody here (`error="invalid_token"`).
        invalid_token: bool,
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
    /// A program's bearer token over its rate (`[limits] token_per_minute`).
    TokenRateLimited(crate::gate::limits::Limited),
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
    // The SSO origin has no upstream: the gateway answers every path of it, its root routes
    // (`Route::parse_root`) and, for any other path, a 404 (the empty route is none; a route
    // below the prefix is not served at the root too).
    if config.sso_app() == Some(app_id) {
        let root = crate::http::route::Route::parse_root(path.as_str()).is_some();
        return Classified::Local {
            app: app_id,
            route: if root {
                path.as_str().to_string()
            } else {
                String::new()
            },
        };
    }
    // An app that lets programs in describes itself to them (RFC 9728) at its root.
    if app.programs
        && config.sso.is_some()
        && Route::parse_root(path.as_str()) == Some(Route::ProtectedResource)
    {
        return Classified::Local {
            app: app_id,
            route: path.as_str().to_string(),
        };
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
pub(crate) fn within_grant(grant: &Grant, req: &Request<'_>, path: &CanonicalPath) -> bool {
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
pub(crate) fn needs_step_up(
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
pub(crate) fn step_up(config: &Config, req: &Request<'_>, path: &CanonicalPath) -> Denial {
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
pub(crate) fn unauthenticated(
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
        let a = config.app(app);
        Denial::Unauthenticated {
            realm: a.name.clone(),
            login: Route::Login { rd: None }.url(prefix),
            resource_metadata: (a.programs && config.sso.is_some())
                .then(|| Route::ProtectedResource.url(&a.origin.to_string())),
            invalid_token: false,
        }
    }
}

/// What a request to a protected `path` on `app` gets with the session it carries (`None`:
/// none): the session to forward with, or the denial. The one judgement of a session against
/// a request, shared by the proxy path ([`decide`]) and forward auth
/// ([`crate::gate::forward_auth`]): the grant with every method the request claims, then the
/// step-up paths, then the answer for a request without a session.
pub(crate) fn admit(
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

/// The decision for a request: [`classify`], then the credential's lookup for protected
/// paths: a program's bearer token where the app lets programs in, else the session cookie.
pub async fn decide(gw: &Gateway, s: &Settings, req: &Request<'_>) -> Decision {
    match classify(&s.config, req) {
        Classified::Local { app, route } => Decision::Local { app, route },
        Classified::Public { app, target } => Decision::Forward(Forward {
            app,
            target,
            identity: None,
            session: None,
            client: None,
            strip_authorization: strips_authorization(s, app, req.headers, None),
        }),
        Classified::Protected { app, target, path } => {
            let now_ms = gw.clock().now_millis();
            let refused = match program::presented(gw, s, app, req.headers, Some(&path)).await {
                Ok(Presented::Admitted(p)) => {
                    let strip_authorization = strips_authorization(s, app, req.headers, Some(&p));
                    return match admit(s, app, req, &path, Some(p.live), now_ms) {
                        Ok(live) => Decision::Forward(Forward {
                            app,
                            target,
                            identity: Some(live.identity),
                            session: Some(live.hash),
                            client: Some(p.client),
                            strip_authorization,
                        }),
                        Err(d) => Decision::Deny(d),
                    };
                }
                Ok(Presented::Limited(l)) => return Decision::Deny(Denial::TokenRateLimited(l)),
                Ok(Presented::Outside) => {
                    return Decision::Deny(Denial::OutsideGrant { access: "no" })
                }
                Ok(Presented::Refused) => true,
                Ok(Presented::None) => false,
                Err(e) => return Decision::Deny(Denial::Store(e)),
            };
            match gw.session(s, req.headers, app).await {
                Ok(live) => match admit(s, app, req, &path, live, now_ms) {
                    Ok(live) => Decision::Forward(Forward {
                        app,
                        target,
                        identity: Some(live.identity),
                        session: Some(live.hash),
                        client: None,
                        strip_authorization: strips_authorization(s, app, req.headers, None),
                    }),
                    Err(d) => Decision::Deny(token_refused(d, refused)),
                },
                Err(e) => Decision::Deny(Denial::Store(e)),
            }
        }
        Classified::Deny(d) => Decision::Deny(d),
    }
}

/// The denial of a request without a credential that admits it, saying so when it
/// presented a bearer token that admits nobody (`error="invalid_token"`, RFC 6750 §3.1).
pub(crate) fn token_refused(d: Denial, refused: bool) -> Denial {
    match d {
        Denial::Unauthenticated {
            realm,
            login,
            resource_metadata,
            ..
        } => Denial::Unauthenticated {
            realm,
            login,
            resource_metadata,
            invalid_token: refused,
        },
        d => d,
    }
}

/// Whether a forwarded request's `Authorization` header is removed: it carries a token of
/// ours ([`program::carries_ours`]), unless the app asks for the header
/// (`forward_authorization`) and that token is the one that let the request in, naming no
/// other app. On every app, programs or not, public path or not: a token never reaches an
/// upstream by being sent there, and an upstream is never handed one that opens another app.
pub(crate) fn strips_authorization(
    s: &Settings,
    app: AppId,
    headers: &http::HeaderMap,
    program: Option<&program::Program>,
) -> bool {
    let a = s.app(app);
    // Only one field, the token that let the request in: nothing else may ride along.
    let passes = a.forward_authorization
        && program.is_some_and(|p| p.only_here)
        && headers.get_all(http::header::AUTHORIZATION).iter().count() == 1;
    !passes && program::carries_ours(headers)
}

#[cfg(test)]
mod tests;
