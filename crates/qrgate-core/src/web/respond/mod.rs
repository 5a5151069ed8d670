//! The one place domain refusals become HTTP: status, error code, message, page or JSON.
//!
//! Every refusal is a 4xx with `{"error": code, "message": text}` (or a small page for a
//! browser), except a full attempt table or an unavailable store (503 with `Retry-After`:
//! the client did nothing wrong and may retry) and the gateway's own failures (500).

use crate::control::enrollment::EnrollError;
use crate::control::ControlError;
use crate::gate::decision::Denial;
use crate::gate::forward_auth::{self, OriginalError, Refusal as ForwardRefusal};
use crate::http::head::HeadRefusal;
use crate::http::reply::{Form, Reply};
use crate::login::attempts::AttemptError;
use crate::login::signers::protocol::Refusal;
use crate::login::LoginError;
use crate::session::StoreError;

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER: &str = "5";

/// `(status, code)` of a login refusal: the HTTP status is chosen here, the code is the
/// refusal's own ([`LoginError::code`]).
pub(crate) fn status(e: &LoginError) -> (u16, &'static str) {
    let status = match e {
        LoginError::Attempt(a) => match a {
            AttemptError::NotFound => 404,
            AttemptError::Expired => 410,
            AttemptError::AlreadyDone(_) => 409,
            AttemptError::NotApproved => 409,
            AttemptError::WrongBrowser => 403,
            AttemptError::OtherPurpose => 403,
            AttemptError::Full => 503,
            AttemptError::ClientBusy => 429,
            AttemptError::Store(_) => 503,
        },
        LoginError::Refused(r) => match r {
            Refusal::BadBody(_) => 400,
            Refusal::BadKey(_) => 400,
            Refusal::BadSignatureEncoding(_) => 400,
            Refusal::BadMessage(_) => 400,
            Refusal::WrongChallenge => 400,
            Refusal::Inconsistent => 400,
            Refusal::Undecryptable => 400,
            Refusal::Stale(_) => 401,
            Refusal::BadSignature(_) => 401,
            Refusal::BadToken(_) => 401,
            Refusal::WrongCapabilities => 403,
            Refusal::Replay => 409,
        },
        LoginError::BadJson(_) => 400,
        LoginError::UnknownBody => 400,
        LoginError::NotOffered(_) => 400,
        LoginError::UnknownChannel => 404,
        LoginError::BodyTooLarge(_) => 413,
        LoginError::NotPermitted { .. } => 403,
        LoginError::UnknownKey { .. } => 403,
        LoginError::DeviceOtherApp { .. } => 403,
        LoginError::IdentityMismatch { .. } => 403,
        LoginError::CrossOrigin(_) => 403,
        LoginError::Unauthenticated => 401,
        LoginError::RateLimited(_) => 429,
        LoginError::OtherNetwork => 403,
        LoginError::OtherKey => 403,
        LoginError::OtherUser { .. } => 403,
        LoginError::SameDevice => 403,
        LoginError::NoOtherKey => 409,
        LoginError::UnknownDevice => 404,
        LoginError::Store(_) => 503,
        LoginError::Internal(_) => 500,
    };
    (status, e.code())
}

/// What a person is told when the store could not complete their sign-in.
fn store_retry(e: &StoreError) -> String {
    match e {
        StoreError::NotReplicated => e.to_string(),
        StoreError::Unavailable(_) => {
            "Sign-in is briefly unavailable; please try again in a moment.".into()
        }
    }
}

/// A login refusal, as JSON or as a page (for a browser that posted a form).
pub fn login_error(form: Form, e: &LoginError) -> Reply {
    let (status, code) = status(e);
    let reply = match e {
        // Internal details are logged, never shown.
        LoginError::Internal(what) => {
            tracing::error!(what, "login failed inside the gateway");
            Reply::error_for(
                form,
                status,
                code,
                "Something went wrong",
                "The gateway could not complete this sign-in.",
            )
        }
        // The store's own words (a Redis error, a failover) are logged, never shown: the
        // person is told plainly to try again (the answer carries Retry-After).
        LoginError::Store(store) | LoginError::Attempt(AttemptError::Store(store)) => {
            tracing::warn!(error = %store, "sign-in refused: the store did not answer");
            Reply::error_for(
                form,
                status,
                code,
                "Sign-in not complete",
                &store_retry(store),
            )
        }
        _ => Reply::error_for(form, status, code, "Sign-in not complete", &e.to_string()),
    };
    match e {
        LoginError::Unauthenticated => {
            reply.with_header("www-authenticate", "Bearer realm=\"qrgate\"")
        }
        LoginError::RateLimited(l) => {
            reply.with_header("retry-after", l.retry_after_secs.to_string())
        }
        _ if status == 503 || status == 429 => reply.with_header("retry-after", RETRY_AFTER),
        _ => reply,
    }
}

/// A denied request, as a page for browsers or JSON for programs.
pub fn denial(form: Form, d: &Denial) -> Reply {
    match d {
        Denial::UnknownHost => Reply::error_for(
            form,
            404,
            "unknown_host",
            "Not found",
            "No application is served at this address.",
        ),
        Denial::BadPath(e) => {
            Reply::error_for(form, 400, "bad_path", "Bad request", &e.to_string())
        }
        Denial::LoginRedirect { location } | Denial::StepUpRedirect { location } => {
            Reply::redirect(302, location.clone())
        }
        Denial::HttpsRedirect { location } => Reply::redirect(308, location.clone()),
        Denial::OutsideGrant { access } => Reply::error_for(
            form,
            403,
            "outside_grant",
            "Not allowed with this sign-in",
            &format!(
                "Your sign-in was granted {access} access here, which does not allow this request."
            ),
        ),
        Denial::StepUpRequired { location } => match form {
            Form::Json => Reply::json(
                403,
                &serde_json::json!({
                    "error": "step_up_required",
                    "message": "Confirm it is you on your phone, then retry.",
                    "step_up": location,
                }),
            ),
            Form::Page => Reply::error_page(
                403,
                "Confirm it is you",
                &format!("This needs a fresh approval from your phone: open {location}, approve, then retry."),
            ),
        },
        Denial::Unauthenticated {
            realm,
            login,
            resource_metadata,
            invalid_token,
        } => {
            let realm = realm.replace(['"', '\\'], "");
            let message = if *invalid_token {
                "The bearer token is unknown, expired, revoked, or not for this app."
            } else {
                "Sign in first."
            };
            let mut reply = Reply::error(401, "unauthenticated", message);
            // An app that lets programs in names its resource metadata (RFC 9728 §5.1), and a
            // refused token is said to be one (RFC 6750 §3.1).
            if let Some(metadata) = resource_metadata {
                let error = if *invalid_token {
                    ", error=\"invalid_token\""
                } else {
                    ""
                };
                reply = reply.with_header(
                    "www-authenticate",
                    format!("Bearer realm=\"{realm}\", resource_metadata=\"{metadata}\"{error}"),
                );
            }
            reply.with_header(
                "www-authenticate",
                format!("QRGate realm=\"{realm}\", login=\"{login}\""),
            )
        }
        Denial::Store(e) => {
            tracing::warn!(error = %e, "session store unavailable; refusing");
            Reply::error_for(
                form,
                503,
                "store_unavailable",
                "Sign-in is unavailable",
                "Sessions cannot be checked right now. Try again in a moment.",
            )
            .with_header("retry-after", RETRY_AFTER)
        }
    }
}

/// A forward-auth refusal, in the statuses nginx's `auth_request` understands (401 and 403;
/// it turns anything else into a 500): 401 means "sign in or confirm first" and, for a
/// browser navigation, names the page in `X-QRGate-Redirect` for the proxy to redirect to;
/// 403 means refused, including a path the proxy path would answer 400 and a proxy that did
/// not describe the original request. Only an unavailable store (503) and rate limits (429)
/// keep their own statuses.
pub(crate) fn forward_auth_refusal(r: &ForwardRefusal) -> Reply {
    let challenge = |reply: Reply| reply.with_header("www-authenticate", "Bearer realm=\"qrgate\"");
    match r {
        ForwardRefusal::Original(e) => {
            let code = match e {
                OriginalError::Missing => "original_request_unknown",
                _ => "bad_original_request",
            };
            Reply::error(403, code, &e.to_string())
        }
        ForwardRefusal::Denied(Denial::LoginRedirect { location }) => challenge(Reply::json(
            401,
            &serde_json::json!({
                "error": "unauthenticated",
                "message": "Sign in first.",
                "login": location,
            }),
        ))
        .with_header(forward_auth::REDIRECT_HEADER, location.clone()),
        ForwardRefusal::Denied(Denial::StepUpRedirect { location }) => challenge(Reply::json(
            401,
            &serde_json::json!({
                "error": "step_up_required",
                "message": "Confirm it is you on your phone, then retry.",
                "step_up": location,
            }),
        ))
        .with_header(forward_auth::REDIRECT_HEADER, location.clone()),
        ForwardRefusal::Denied(Denial::BadPath(e)) => Reply::error(403, "bad_path", &e.to_string()),
        ForwardRefusal::Denied(d) => denial(Form::Json, d),
        // nginx shows a 429 from its auth subrequest as a 500: a client over its verify rate
        // gets the same refusal it would get for a request it may not make, with Retry-After.
        ForwardRefusal::Login(e @ LoginError::RateLimited(_)) => Reply {
            status: 403,
            ..login_error(Form::Json, e)
        },
        ForwardRefusal::Login(e) => login_error(Form::Json, e),
    }
}

/// Why the session control API refused, as JSON. `None` for the token: 401 with a bearer
/// challenge.
pub fn control_refusal(e: Option<&ControlError>) -> Reply {
    let Some(e) = e else {
        return Reply::error(
            401,
            "unauthorized",
            "Send Authorization: Bearer <admin token>.",
        )
        .with_header("www-authenticate", "Bearer".to_string());
    };
    let (status, code) = match e {
        ControlError::UnknownParameter(_) | ControlError::Repeated(_) => (400, "bad_parameter"),
        ControlError::BadKey(_) => (400, "bad_key"),
        ControlError::NoFilter => (400, "no_filter"),
        ControlError::Store(_) => (503, "store_unavailable"),
    };
    Reply::error(status, code, &e.to_string())
}

/// A control failure on the person's own sessions page, as a page.
pub(crate) fn control_page(e: &ControlError) -> Reply {
    let json = control_refusal(Some(e));
    let title = if json.status == 503 {
        "Temporarily unavailable"
    } else {
        "Bad request"
    };
    Reply::error_page(json.status, title, &e.to_string())
}

/// A control failure of the person's own request, as a page or JSON.
pub(crate) fn control_error(form: Form, e: &ControlError) -> Reply {
    match form {
        Form::Page => control_page(e),
        Form::Json => control_refusal(Some(e)),
    }
}

/// A refused invitation or enrollment, as a page for browsers or JSON for programs.
pub fn enroll_error(form: Form, e: &EnrollError) -> Reply {
    let status = match e {
        EnrollError::Gone => 410,
        EnrollError::UnknownUser(_)
        | EnrollError::UnknownApp(_)
        | EnrollError::BadTtl
        | EnrollError::BadQuery(_)
        | EnrollError::BadJson(_) => 400,
        EnrollError::Refused(r) => status(&LoginError::Refused(r.clone())).0,
        EnrollError::KeyTaken => 409,
        EnrollError::NotConfiguredUser => 403,
        // Not the caller's mistake: the gateway is finishing a reload.
        EnrollError::UnderReview(_) | EnrollError::Store(_) => 503,
    };
    let title = match e {
        EnrollError::Gone => "Invitation no longer valid",
        EnrollError::Store(_) => "Temporarily unavailable",
        _ => "Device not added",
    };
    let reply = Reply::error_for(form, status, e.code(), title, &e.to_string());
    if status == 503 {
        reply.with_header("retry-after", RETRY_AFTER)
    } else {
        reply
    }
}

/// A HEAD of a route whose GET changes state: 200 with nothing run and nothing stored
/// (`Cache-Control: no-store` like every local reply), so HEAD stays safe.
pub(crate) fn head_without_effects() -> Reply {
    Reply::html(200, "")
}

/// A request head over a limit: 414 for the request line, 431 for the header fields. Always
/// JSON: the head was not parsed, so nothing says the client prefers a page.
pub fn head_refusal(r: &HeadRefusal) -> Reply {
    let (status, code) = match r {
        HeadRefusal::LineTooLong(_) => (414, "request_line_too_long"),
        HeadRefusal::TooLarge(_) | HeadRefusal::TooMany(_) => (431, "headers_too_large"),
    };
    Reply::error(status, code, &r.to_string())
}

/// What the proxy answers when it cannot complete a forwarded request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyFailure {
    /// The upstream refused or dropped the connection.
    Unavailable,
    /// The upstream did not answer in time.
    Timeout,
    /// The client's request could not be read or was malformed.
    BadRequest,
    /// The HTTP layer refused the client's request with this 4xx status.
    Client(u16),
    /// The client's request body stalled or fell below `[limits] min_body_rate`.
    SlowBody,
    /// Anything else, the gateway's own fault.
    Internal,
}

impl ProxyFailure {
    /// The status this failure is answered with; the glue hands it through pingora's error
    /// type to `fail_to_proxy`, which reads it back with [`ProxyFailure::from_status`].
    pub fn status(self) -> u16 {
        proxy_failure(self).0
    }

    /// The failure an HTTP-layer refusal with `status` stands for.
    pub fn from_status(status: u16) -> ProxyFailure {
        if status == ProxyFailure::SlowBody.status() {
            ProxyFailure::SlowBody
        } else {
            ProxyFailure::Client(status)
        }
    }
}

/// `(status, code, title, message)` of a proxy failure.
pub(crate) fn proxy_failure(f: ProxyFailure) -> (u16, &'static str, &'static str, &'static str) {
    match f {
        ProxyFailure::Unavailable => (
            502,
            "upstream_unavailable",
            "The application is not answering",
            "The gateway could not reach the application. Try again in a moment.",
        ),
        ProxyFailure::Timeout => (
            504,
            "upstream_timeout",
            "The application took too long",
            "The application did not answer in time. Try again in a moment.",
        ),
        ProxyFailure::BadRequest => (
            400,
            "bad_request",
            "Bad request",
            "The request could not be understood.",
        ),
        ProxyFailure::SlowBody => (
            408,
            "body_too_slow",
            "The request arrived too slowly",
            "The request body stalled or arrived below the gateway's minimum rate. Send it again.",
        ),
        ProxyFailure::Client(status @ 400..=499) => (
            status,
            "bad_request",
            "Bad request",
            "The request could not be understood.",
        ),
        ProxyFailure::Client(_) | ProxyFailure::Internal => (
            500,
            "gateway_error",
            "Something went wrong",
            "The gateway could not complete this request.",
        ),
    }
}

/// A proxy failure as a page or JSON.
pub fn proxy_failure_reply(form: Form, f: ProxyFailure) -> Reply {
    let (status, code, title, message) = proxy_failure(f);
    Reply::error_for(form, status, code, title, message)
}

/// A refusal by one of the gateway's own endpoints that no domain error names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointRefusal<'a> {
    /// No endpoint of ours answers here.
    NotFound,
    /// The key set of identity assertions, which are not enabled.
    AssertionsOff,
    /// A method the route does not accept; `allow` names those it does (may be empty).
    Method { allow: &'a str },
    /// A form that says nothing to act on: `title` heads the page, `hint` says what to send.
    BadForm { title: &'a str, hint: &'a str },
    /// A page of ours that could not be rendered: the gateway's own failure.
    PageFailed,
}

/// An endpoint refusal as a page or JSON (a 405 and the key set are always JSON, a failed
/// page always a page).
pub(crate) fn endpoint_refusal(form: Form, r: &EndpointRefusal<'_>) -> Reply {
    match r {
        EndpointRefusal::NotFound => Reply::error_for(
            form,
            404,
            "not_found",
            "Not found",
            "No such gateway endpoint.",
        ),
        EndpointRefusal::AssertionsOff => {
            Reply::error(404, "not_found", "Identity assertions are not enabled.")
        }
        EndpointRefusal::Method { allow } => {
            let reply = Reply::error(
                405,
                "method_not_allowed",
                "This endpoint does not accept that method.",
            );
            if allow.is_empty() {
                reply
            } else {
                reply.with_header("allow", allow.to_string())
            }
        }
        EndpointRefusal::BadForm { title, hint } => {
            Reply::error_for(form, 400, "bad_form", title, hint)
        }
        EndpointRefusal::PageFailed => {
            Reply::error_page(500, "Something went wrong", "The page could not be shown.")
        }
    }
}

/// A refusal by the admin listener that is not the control API's own ([`control_refusal`],
/// [`enroll_error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRefusal {
    /// `/readyz`: a store is not answering (or the config is not loaded), for this reason.
    NotReady(String),
    /// No admin endpoint at this path.
    NotFound,
    /// The control API without `[admin] token_file`.
    ControlOff,
    /// A method the control endpoint does not accept, with the `Allow` value naming those it
    /// does (RFC 9110: a 405 carries one).
    MethodNotAllowed {
        /// The accepted methods, comma-separated.
        allow: &'static str,
    },
}

/// An admin refusal as the admin listener writes it: always JSON.
pub fn admin_refusal(r: &AdminRefusal) -> Reply {
    match r {
        AdminRefusal::NotReady(reason) => Reply::json(
            503,
            &serde_json::json!({ "ready": false, "reason": reason }),
        ),
        AdminRefusal::NotFound => Reply::json(404, &serde_json::json!({"error": "not_found"})),
        AdminRefusal::ControlOff => Reply::json(
            404,
            &serde_json::json!({"error": "disabled", "message": "Session control is off: set [admin] token_file."}),
        ),
        AdminRefusal::MethodNotAllowed { allow } => {
            Reply::json(405, &serde_json::json!({"error": "method_not_allowed"}))
                .with_header("allow", *allow)
        }
    }
}

/// A refusal by the OpenID Connect provider's endpoints other than the token endpoint's
/// ([`token_error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OidcRefusal {
    /// No `[sso]` in the config, or its keys are not installed.
    Off,
    /// An authorization request that no redirect may answer (or a person the client does not
    /// admit): always a page.
    Authorize(crate::oidc::authorize::PageProblem),
    /// Userinfo without a Bearer token (`present: false`) or with one that is not live.
    Bearer {
        /// Whether a token was presented.
        present: bool,
    },
    /// Userinfo with a live token granted without `openid` (a program's, for apps only).
    InsufficientScope,
    /// A logout request that cannot be followed, and why.
    Logout(&'static str),
}

/// An OpenID Connect refusal as HTTP: pages for the browser-facing endpoints; a 401 with
/// `WWW-Authenticate: Bearer` (RFC 6750 §3) for userinfo.
pub(crate) fn oidc_refusal(form: Form, r: &OidcRefusal) -> Reply {
    use crate::oidc::authorize::PageProblem;
    match r {
        OidcRefusal::Off => Reply::error_for(
            form,
            404,
            "not_found",
            "Not found",
            "No OpenID Connect provider is configured here.",
        ),
        OidcRefusal::Authorize(p) => {
            let (status, title, message) = match p {
                PageProblem::MissingClient => (400, "Sign-in request incomplete", "The application did not say who it is (client_id). Go back to it and try again."),
                PageProblem::UnknownClient => (400, "Unknown application", "This application is not registered with this sign-in service."),
                PageProblem::BadRedirectUri => (400, "Sign-in request refused", "The application asked to be answered at an address it has not registered, so this sign-in will not send you there."),
                PageProblem::NotAllowed => (403, "Not allowed", "Your account may not use this application."),
            };
            Reply::error_page(status, title, message)
        }
        OidcRefusal::InsufficientScope => Reply::error(
            403,
            "insufficient_scope",
            "This access token was not granted the openid scope.",
        )
        .with_header(
            "www-authenticate",
            "Bearer error=\"insufficient_scope\", scope=\"openid\"",
        ),
        OidcRefusal::Bearer { present } => {
            let challenge = if *present {
                "Bearer error=\"invalid_token\", error_description=\"The access token is invalid or expired\""
            } else {
                "Bearer"
            };
            Reply::error(
                401,
                "invalid_token",
                "A valid Bearer access token is required.",
            )
            .with_header("www-authenticate", challenge)
        }
        OidcRefusal::Logout(why) => Reply::error_page(400, "Sign-out request refused", why),
    }
}

/// A token endpoint refusal (RFC 6749 §5.2): JSON `error` and `error_description`, 400; 401
/// with `WWW-Authenticate: Basic` for a client that failed to authenticate; 429 when too many
/// device codes wait; 503 when the
/// store cannot answer; 500 when an ID token could not be signed.
pub(crate) fn token_error(e: &crate::oidc::token::TokenError) -> Reply {
    use crate::oidc::token::{ErrorBody, TokenError};
    let body = ErrorBody {
        error: e.code(),
        error_description: e.to_string(),
    };
    let status = match e {
        TokenError::InvalidClient { .. } => 401,
        TokenError::Busy => 429,
        TokenError::Store(_) => 503,
        TokenError::Server => 500,
        _ => 400,
    };
    let reply = Reply::json(status, &body).with_header("pragma", "no-cache");
    match e {
        TokenError::InvalidClient { .. } => {
            reply.with_header("www-authenticate", "Basic realm=\"qrgate\"")
        }
        _ => reply,
    }
}

#[cfg(test)]
mod tests;

/// A refusal of single sign-on across apps (`web::sso`): always a page a person reads, never
/// a redirect (a refusal that sent the browser on would loop back here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoRefusal<'a> {
    /// The issue request names no app that takes part, or no binding.
    Issue(crate::oidc::apps::IssueRefusal),
    /// The person signed in at the SSO origin may not use app `app` (its `allow_users`,
    /// `allow_roles`, or a device bound to other apps).
    NotAllowed {
        /// The app's name.
        app: &'a str,
        /// The gateway's name (where the person is signed in).
        gateway: &'a str,
    },
    /// The code opens nothing here.
    Code(crate::oidc::apps::CodeRefusal),
    /// The redemption was not posted from the app's own page.
    CrossOrigin,
}

/// A single sign-on refusal as a page: 403 for a person not allowed, 400 for a request or
/// code that opens nothing (the browser starts again by opening the app).
pub fn sso_refusal(r: &SsoRefusal<'_>) -> Reply {
    match r {
        SsoRefusal::Issue(e) => Reply::error_page(400, "Sign-in request refused", &e.to_string()),
        SsoRefusal::NotAllowed { app, gateway } => Reply::error_page(
            403,
            "Not allowed",
            &format!(
                "You are signed in to {}, but your account may not use {}. \
                 Ask its administrator for access.",
                gateway, app
            ),
        ),
        SsoRefusal::Code(e) => Reply::error_page(
            400,
            "Sign-in link not valid",
            &format!("{e}. Open the application again to sign in."),
        ),
        SsoRefusal::CrossOrigin => Reply::error_page(
            403,
            "Sign-in refused",
            "The sign-in must be completed from the application's own page.",
        ),
    }
}
