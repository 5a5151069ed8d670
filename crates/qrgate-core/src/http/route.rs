//! The gateway's own routes under the configured prefix, spelled once: which paths exist,
//! which methods each accepts, which rate class each call is counted in, which one is an
//! attempt's event stream, and each route's URL.
//!
//! The dispatcher ([`crate::web::handle`]), its rate limiter and 405 answers, the
//! event-stream hand-off ([`crate::login::stream_claim`]) and everything that hands a URL of ours to a
//! client (redirects, pages, JSON answers, QR payloads, invitation links) go through
//! [`Route`]; a tidy test keeps hand-formatted URLs of ours out of every other module.

use http::Method;

/// The Pubky relay's path below the prefix (without the channel).
pub(crate) const RELAY: &str = "pubky/relay";

/// A class of endpoints sharing one bucket per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Starting a login (the login page, `create`).
    Create,
    /// What a phone does: scan, approve, reject, a signer endpoint.
    Signer,
    /// Collecting a session.
    Claim,
    /// Checking a session (`verify`, forward-auth).
    Verify,
}

/// One of the gateway's own routes, with the path parameters it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `healthz`: liveness.
    Healthz,
    /// `.well-known/jwks.json`: the identity assertions' public keys.
    Jwks,
    /// `logout`.
    Logout,
    /// `login`, with the return path `rd` the URL carries (parsing leaves it `None`: it is
    /// in the query).
    Login {
        /// Where to go after signing in.
        rd: Option<&'a str>,
    },
    /// `step-up`, with the return path `rd`, like [`Route::Login`].
    StepUp {
        /// Where to go after confirming.
        rd: Option<&'a str>,
    },
    /// `sessions`: the person's own sessions page and its sign-out form.
    Sessions,
    /// `invite`: a person invites a device of their own.
    Invite,
    /// `remove-device`: a person removes a device of their own.
    RemoveDevice,
    /// `personal-token`: a person makes a personal token for a program (confirmed by phone).
    PersonalToken,
    /// `enroll/{token}`: an invitation link.
    Enroll {
        /// The invitation token.
        token: &'a str,
    },
    /// `auth/session/create`: a program starts a login attempt.
    Create,
    /// `auth/session/verify`: forward auth.
    Verify,
    /// `auth/session/{id}`: the approval page a phone's camera opens (native protocol).
    Attempt {
        /// The attempt id.
        id: &'a str,
    },
    /// `auth/session/{id}/events`: the attempt's event stream.
    Events {
        /// The attempt id.
        id: &'a str,
    },
    /// `auth/session/{id}/scan`.
    Scan {
        /// The attempt id.
        id: &'a str,
    },
    /// `auth/session/{id}/approve`.
    Approve {
        /// The attempt id.
        id: &'a str,
    },
    /// `auth/session/{id}/reject`.
    Reject {
        /// The attempt id.
        id: &'a str,
    },
    /// `auth/session/{id}/claim`: the browser collects its session.
    Claim {
        /// The attempt id.
        id: &'a str,
    },
    /// `pubky/relay/{channel}`: Pubky Ring's delivery (served only where a signer offers it).
    Relay {
        /// The relay channel (empty in the relay base URL a QR code carries).
        channel: &'a str,
    },
    /// Any other path under `auth/session`: a route of ours that accepts no method.
    AuthSession,
    /// `oidc/authorize`: the OpenID Connect authorization endpoint (SSO origin).
    OidcAuthorize,
    /// `oidc/token`: the token endpoint.
    OidcToken,
    /// `oidc/userinfo`: the userinfo endpoint.
    OidcUserinfo,
    /// `oidc/jwks.json`: the ID token signing keys.
    OidcJwks,
    /// `oidc/logout`: RP-initiated logout (`end_session_endpoint`).
    OidcLogout,
    /// `oidc/device_authorization`: a program asks for a device code (RFC 8628 §3.1).
    OidcDeviceAuthorization,
    /// `device` (SSO origin): the verification page, which takes the user code (in its
    /// query as `verification_uri_complete` has it, or typed) and starts the approval.
    Device,
    /// `/.well-known/openid-configuration` at the SSO origin's root (not below the prefix):
    /// discovery. Its `url` takes the origin as base.
    OidcDiscovery,
    /// `/` at the SSO origin's root: the person's sessions page or the login page.
    SsoHome,
    /// `/.well-known/oauth-authorization-server` at the SSO origin's root (not below the
    /// prefix): the authorization server's metadata (RFC 8414), the discovery document.
    AuthServerMetadata,
    /// `/.well-known/oauth-protected-resource` at the root of an app that lets programs in:
    /// its protected resource metadata (RFC 9728). Its `url` takes the origin as base.
    ProtectedResource,
    /// `sso/issue` (SSO origin): an app's request for a one-time sign-in code, with its
    /// query (`app`, `bind`, `rd`; parsing leaves it `None`).
    SsoIssue {
        /// The query, already form-urlencoded.
        query: Option<&'a str>,
    },
    /// `sso/redeem` (an app's origin): the one-time code is exchanged for the app's session
    /// (`GET` carries `code` in the query and answers a form that posts it from the app's
    /// own page; parsing leaves it `None`).
    SsoRedeem {
        /// The code, for the URL the SSO origin sends the browser to.
        code: Option<&'a str>,
    },
}

const GET: &[Method] = &[Method::GET, Method::HEAD];
const POST: &[Method] = &[Method::POST];
const GET_POST: &[Method] = &[Method::GET, Method::HEAD, Method::POST];

impl<'a> Route<'a> {
    /// The route a canonical path below the prefix (`/healthz`) names, whatever the method.
    pub(crate) fn parse(path: &'a str) -> Option<Route<'a>> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        Some(match segments.as_slice() {
            ["healthz"] => Route::Healthz,
            [".well-known", "jwks.json"] => Route::Jwks,
            ["logout"] => Route::Logout,
            ["login"] => Route::Login { rd: None },
            ["step-up"] => Route::StepUp { rd: None },
            ["sessions"] => Route::Sessions,
            ["invite"] => Route::Invite,
            ["remove-device"] => Route::RemoveDevice,
            ["personal-token"] => Route::PersonalToken,
            ["enroll", token] => Route::Enroll { token },
            ["auth", "session", "create"] => Route::Create,
            ["auth", "session", "verify"] => Route::Verify,
            ["auth", "session", id] => Route::Attempt { id },
            ["auth", "session", id, "events"] => Route::Events { id },
            ["auth", "session", id, "scan"] => Route::Scan { id },
            ["auth", "session", id, "approve"] => Route::Approve { id },
            ["auth", "session", id, "reject"] => Route::Reject { id },
            ["auth", "session", id, "claim"] => Route::Claim { id },
            ["auth", "session", ..] => Route::AuthSession,
            ["pubky", "relay", channel] => Route::Relay { channel },
            ["oidc", "authorize"] => Route::OidcAuthorize,
            ["oidc", "token"] => Route::OidcToken,
            ["oidc", "userinfo"] => Route::OidcUserinfo,
            ["oidc", "jwks.json"] => Route::OidcJwks,
            ["oidc", "logout"] => Route::OidcLogout,
            ["oidc", "device_authorization"] => Route::OidcDeviceAuthorization,
            ["device"] => Route::Device,
            ["sso", "issue"] => Route::SsoIssue { query: None },
            ["sso", "redeem"] => Route::SsoRedeem { code: None },
            _ => return None,
        })
    }

    /// The route a canonical path at the SSO origin's root (outside the prefix) names.
    pub fn parse_root(path: &str) -> Option<Route<'static>> {
        match path {
            "/" => Some(Route::SsoHome),
            "/.well-known/openid-configuration" => Some(Route::OidcDiscovery),
            "/.well-known/oauth-authorization-server" => Some(Route::AuthServerMetadata),
            "/.well-known/oauth-protected-resource" => Some(Route::ProtectedResource),
            _ => None,
        }
    }

    /// Whether the route's GET changes state: it starts a login attempt (the login and
    /// step-up pages), mints a code or a step-up ticket (authorize, an app's single sign-on
    /// trip), or signs out (logout). A HEAD of such a route is answered without running it
    /// (HTTP says HEAD is safe; link checkers and prefetchers send it). The match names every
    /// route, so a new one cannot be added without saying whether its GET is safe.
    pub(crate) fn get_has_effects(&self) -> bool {
        match self {
            Route::Login { .. }
            | Route::StepUp { .. }
            | Route::OidcAuthorize
            | Route::OidcLogout
            | Route::SsoIssue { .. }
            | Route::Device => true,
            // Reads: pages, documents, streams and checks that change nothing a HEAD could
            // trigger unasked.
            Route::Healthz
            | Route::Jwks
            | Route::Sessions
            | Route::Enroll { .. }
            | Route::Verify
            | Route::Attempt { .. }
            | Route::Events { .. }
            | Route::OidcJwks
            | Route::OidcDiscovery
            | Route::OidcUserinfo
            | Route::SsoHome
            | Route::SsoRedeem { .. }
            | Route::AuthServerMetadata
            | Route::ProtectedResource => false,
            // No GET at all.
            Route::Logout
            | Route::Invite
            | Route::RemoveDevice
            | Route::PersonalToken
            | Route::Create
            | Route::Scan { .. }
            | Route::Approve { .. }
            | Route::Reject { .. }
            | Route::Claim { .. }
            | Route::Relay { .. }
            | Route::OidcToken
            | Route::OidcDeviceAuthorization
            | Route::AuthSession => false,
        }
    }

    /// Whether the route is one of the SSO origin's own (served nowhere else).
    pub fn is_sso_only(&self) -> bool {
        matches!(
            self,
            Route::OidcAuthorize
                | Route::OidcToken
                | Route::OidcUserinfo
                | Route::OidcJwks
                | Route::OidcLogout
                | Route::OidcDeviceAuthorization
                | Route::Device
                | Route::OidcDiscovery
                | Route::AuthServerMetadata
                | Route::SsoHome
                | Route::SsoIssue { .. }
        )
    }

    /// The methods the route accepts (`HEAD` wherever `GET` is); empty for
    /// [`Route::AuthSession`].
    pub(crate) fn methods(&self) -> &'static [Method] {
        match self {
            Route::Healthz
            | Route::Jwks
            | Route::Login { .. }
            | Route::StepUp { .. }
            | Route::Verify
            | Route::Attempt { .. }
            | Route::Events { .. }
            | Route::OidcJwks
            | Route::OidcDiscovery
            | Route::SsoIssue { .. }
            | Route::Device
            | Route::AuthServerMetadata
            | Route::ProtectedResource
            | Route::SsoHome => GET,
            Route::Sessions
            | Route::Enroll { .. }
            | Route::OidcAuthorize
            | Route::OidcUserinfo
            | Route::SsoRedeem { .. }
            | Route::OidcLogout => GET_POST,
            Route::Logout
            | Route::Invite
            | Route::RemoveDevice
            | Route::PersonalToken
            | Route::Create
            | Route::Scan { .. }
            | Route::Approve { .. }
            | Route::Reject { .. }
            | Route::Claim { .. }
            | Route::Relay { .. }
            | Route::OidcDeviceAuthorization
            | Route::OidcToken => POST,
            Route::AuthSession => &[],
        }
    }

    /// The `Allow` header's value: the accepted methods, comma-separated.
    pub(crate) fn allow(&self) -> String {
        let names: Vec<&str> = self.methods().iter().map(Method::as_str).collect();
        names.join(", ")
    }

    /// The rate class a call with `method` is counted in, if any. Some routes count every
    /// method, so that a refused method costs a client as much as an accepted one.
    pub(crate) fn rate_class(&self, method: &Method) -> Option<Action> {
        let post = method == Method::POST;
        match self {
            Route::Login { .. } | Route::StepUp { .. } if !post => Some(Action::Create),
            Route::Create if post => Some(Action::Create),
            Route::Verify if !post => Some(Action::Verify),
            Route::Scan { .. }
            | Route::Approve { .. }
            | Route::Reject { .. }
            | Route::Relay { .. }
                if post =>
            {
                Some(Action::Signer)
            }
            // A phone's approval page, and every enrollment step: counted like a signer's calls.
            Route::Attempt { id } if !post && id.starts_with("sess_") => Some(Action::Signer),
            Route::Enroll { .. } => Some(Action::Signer),
            // Each starts (or collects) a confirmation attempt, like a login page.
            Route::Invite | Route::RemoveDevice | Route::PersonalToken => Some(Action::Create),
            Route::Claim { .. } if post => Some(Action::Claim),
            // Issuing a code is a sign-in's first step; redeeming one collects a session.
            Route::SsoIssue { .. } => Some(Action::Create),
            Route::SsoRedeem { .. } => Some(Action::Claim),
            // A session check plus a read of that key's own sessions through the store's
            // per-key index (never the whole store): counted like session checks.
            Route::Sessions => Some(Action::Verify),
            // May start a sign-in: counted like a login page; so does asking for a device code
            // and opening the verification page (each starts what a phone approves).
            Route::OidcAuthorize
            | Route::OidcLogout
            | Route::OidcDeviceAuthorization
            | Route::Device => Some(Action::Create),
            // A relying party's server calls these for all its users: the verify budget.
            Route::OidcToken | Route::OidcUserinfo => Some(Action::Verify),
            _ => None,
        }
    }

    /// Whether the route is an attempt's event stream, which the glue may serve itself.
    pub(crate) fn is_event_stream(&self) -> bool {
        matches!(self, Route::Events { id } if !id.is_empty())
    }

    /// The route's URL below `base`: the prefix (`/.qrgate`) for a path on the app's own
    /// origin, or origin and prefix for an absolute URL. A return path `rd` is
    /// form-urlencoded into the query.
    pub fn url(&self, base: &str) -> String {
        let with_rd = |path: &str, rd: Option<&str>| match rd {
            Some(rd) => {
                let rd: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
                format!("{base}/{path}?rd={rd}")
            }
            None => format!("{base}/{path}"),
        };
        match self {
            Route::Healthz => format!("{base}/healthz"),
            Route::Jwks => format!("{base}/.well-known/jwks.json"),
            Route::Logout => format!("{base}/logout"),
            Route::Login { rd } => with_rd("login", *rd),
            Route::StepUp { rd } => with_rd("step-up", *rd),
            Route::Sessions => format!("{base}/sessions"),
            Route::Invite => format!("{base}/invite"),
            Route::RemoveDevice => format!("{base}/remove-device"),
            Route::PersonalToken => format!("{base}/personal-token"),
            Route::Enroll { token } => format!("{base}/enroll/{token}"),
            Route::Create => format!("{base}/auth/session/create"),
            Route::Verify => format!("{base}/auth/session/verify"),
            Route::Attempt { id } => format!("{base}/auth/session/{id}"),
            Route::Events { id } => format!("{base}/auth/session/{id}/events"),
            Route::Scan { id } => format!("{base}/auth/session/{id}/scan"),
            Route::Approve { id } => format!("{base}/auth/session/{id}/approve"),
            Route::Reject { id } => format!("{base}/auth/session/{id}/reject"),
            Route::Claim { id } => format!("{base}/auth/session/{id}/claim"),
            Route::Relay { channel } => format!("{base}/{RELAY}/{channel}"),
            Route::AuthSession => format!("{base}/auth/session"),
            Route::OidcAuthorize => format!("{base}/oidc/authorize"),
            Route::OidcToken => format!("{base}/oidc/token"),
            Route::OidcUserinfo => format!("{base}/oidc/userinfo"),
            Route::OidcJwks => format!("{base}/oidc/jwks.json"),
            Route::OidcLogout => format!("{base}/oidc/logout"),
            Route::OidcDeviceAuthorization => format!("{base}/oidc/device_authorization"),
            Route::Device => format!("{base}/device"),
            Route::OidcDiscovery => format!("{base}/.well-known/openid-configuration"),
            Route::SsoHome => format!("{base}/"),
            Route::AuthServerMetadata => format!("{base}/.well-known/oauth-authorization-server"),
            Route::ProtectedResource => format!("{base}/.well-known/oauth-protected-resource"),
            Route::SsoIssue { query: None } => format!("{base}/sso/issue"),
            Route::SsoIssue { query: Some(q) } => format!("{base}/sso/issue?{q}"),
            Route::SsoRedeem { code } => match code {
                None => format!("{base}/sso/redeem"),
                Some(code) => {
                    let code: String =
                        url::form_urlencoded::byte_serialize(code.as_bytes()).collect();
                    format!("{base}/sso/redeem?code={code}")
                }
            },
        }
    }
}

/// The base (origin and prefix) and attempt id of a URL whose path ends in an attempt's
/// route (`…/auth/session/sess_…`), as a signer reads one from a QR code.
pub fn attempt_of(url: &str) -> Option<(&str, &str)> {
    let (head, id) = url.rsplit_once('/')?;
    let base = head.strip_suffix("/auth/session")?;
    id.starts_with("sess_").then_some((base, id))
}

#[cfg(test)]
mod tests;
