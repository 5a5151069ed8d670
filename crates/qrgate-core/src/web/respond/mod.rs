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
use crate::i18n::{Arg, Lang};
use crate::login::attempts::AttemptError;
use crate::login::signers::protocol::Refusal;
use crate::login::LoginError;

mod text;

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

/// A login refusal, as JSON or as a page (for a browser that posted a form), in the form's
/// language.
pub fn login_error(form: Form, e: &LoginError) -> Reply {
    let (status, code) = status(e);
    let lang = form.lang();
    let title = match e {
        // Internal details are logged, never shown.
        LoginError::Internal(what) => {
            tracing::error!(what, "login failed inside the gateway");
            "title-something-went-wrong"
        }
        // The store's own words (a Redis error, a failover) are logged, never shown: the
        // person is told plainly to try again (the answer carries Retry-After).
        LoginError::Store(store) => {
            tracing::warn!(error = %store, "sign-in refused: the store did not answer");
            "title-sign-in-not-complete"
        }
        _ => "title-sign-in-not-complete",
    };
    let reply = Reply::error_for(form, status, code, &lang.text(title), &text::login(lang, e));
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
    let lang = form.lang();
    match d {
        Denial::UnknownHost => Reply::error_for(
            form,
            404,
            "unknown_host",
            &lang.text("title-not-found"),
            &lang.text("error-unknown-host"),
        ),
        Denial::BadPath(e) => Reply::error_for(
            form,
            400,
            "bad_path",
            &lang.text("title-bad-request"),
            &lang.text_with("error-bad-path", &[("detail", Arg::Str(&e.to_string()))]),
        ),
        Denial::LoginRedirect { location } | Denial::StepUpRedirect { location } => {
            Reply::redirect(302, location.clone())
        }
        Denial::HttpsRedirect { location } => Reply::redirect(308, location.clone()),
        Denial::TokenRateLimited(l) => Reply::error_for(
            form,
            429,
            "rate_limited",
            &lang.text("title-too-many-requests"),
            &lang.text_with(
                "error-token-rate-limited",
                &[("wait", Arg::Str(&lang.duration(l.retry_after_secs)))],
            ),
        )
        .with_header("retry-after", l.retry_after_secs.to_string()),
        Denial::OutsideGrant { access } => Reply::error_for(
            form,
            403,
            "outside_grant",
            &lang.text("title-outside-grant"),
            &lang.text_with("error-outside-grant", &[("access", Arg::Str(access))]),
        ),
        Denial::StepUpRequired { location } => match form {
            Form::Json(_) => Reply::json(
                403,
                &serde_json::json!({
                    "error": "step_up_required",
                    "message": lang.text("error-step-up-required"),
                    "step_up": location,
                }),
            ),
            Form::Page(_) => Reply::error_page(
                lang,
                403,
                &lang.text("title-confirm-it-is-you"),
                &lang.text_with("error-step-up-page", &[("location", location.into())]),
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
                "error-invalid-bearer"
            } else {
                "error-sign-in-first"
            };
            let mut reply = Reply::error(401, "unauthenticated", &lang.text(message));
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
                &lang.text("title-sign-in-unavailable"),
                &lang.text("error-sessions-unavailable"),
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
        // (nginx shows a 429 from its auth subrequest as a 500, as for the verify rate.)
        ForwardRefusal::Denied(d @ Denial::TokenRateLimited(_)) => Reply {
            status: 403,
            ..denial(Form::Json(Lang::En), d)
        },
        ForwardRefusal::Denied(d) => denial(Form::Json(Lang::En), d),
        // nginx shows a 429 from its auth subrequest as a 500: a client over its verify rate
        // gets the same refusal it would get for a request it may not make, with Retry-After.
        ForwardRefusal::Login(e @ LoginError::RateLimited(_)) => Reply {
            status: 403,
            ..login_error(Form::Json(Lang::En), e)
        },
        ForwardRefusal::Login(e) => login_error(Form::Json(Lang::En), e),
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

/// A control failure of the person's own request, as a page or JSON, in its language.
pub(crate) fn control_error(form: Form, e: &ControlError) -> Reply {
    let admin = control_refusal(Some(e));
    let lang = form.lang();
    let title = if admin.status == 503 {
        "title-temporarily-unavailable"
    } else {
        "title-bad-request"
    };
    let code = match e {
        ControlError::UnknownParameter(_) | ControlError::Repeated(_) => "bad_parameter",
        ControlError::BadKey(_) => "bad_key",
        ControlError::NoFilter => "no_filter",
        ControlError::Store(_) => "store_unavailable",
    };
    let reply = Reply::error_for(
        form,
        admin.status,
        code,
        &lang.text(title),
        &text::control(lang, e),
    );
    Reply {
        headers: admin.headers,
        ..reply
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
    let lang = form.lang();
    let title = match e {
        EnrollError::Gone => "title-invitation-gone",
        EnrollError::Store(_) => "title-temporarily-unavailable",
        _ => "title-device-not-added",
    };
    let reply = Reply::error_for(
        form,
        status,
        e.code(),
        &lang.text(title),
        &text::enroll(lang, e),
    );
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

/// `(status, code, title, message)` of a proxy failure; title and message are message ids.
pub(crate) fn proxy_failure(f: ProxyFailure) -> (u16, &'static str, &'static str, &'static str) {
    match f {
        ProxyFailure::Unavailable => (
            502,
            "upstream_unavailable",
            "title-upstream-unavailable",
            "error-upstream-unavailable",
        ),
        ProxyFailure::Timeout => (
            504,
            "upstream_timeout",
            "title-upstream-timeout",
            "error-upstream-timeout",
        ),
        ProxyFailure::BadRequest => (400, "bad_request", "title-bad-request", "error-bad-request"),
        ProxyFailure::SlowBody => (
            408,
            "body_too_slow",
            "title-body-too-slow",
            "error-body-too-slow",
        ),
        ProxyFailure::Client(status @ 400..=499) => (
            status,
            "bad_request",
            "title-bad-request",
            "error-bad-request",
        ),
        ProxyFailure::Client(_) | ProxyFailure::Internal => (
            500,
            "gateway_error",
            "title-something-went-wrong",
            "error-gateway",
        ),
    }
}

/// A proxy failure as a page or JSON, in the form's language.
pub fn proxy_failure_reply(form: Form, f: ProxyFailure) -> Reply {
    let (status, code, title, message) = proxy_failure(f);
    let lang = form.lang();
    Reply::error_for(form, status, code, &lang.text(title), &lang.text(message))
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
    /// A form that says nothing to act on: `title` heads the page, `hint` says what to send
    /// (both message ids).
    BadForm {
        /// The title's message id.
        title: &'static str,
        /// The hint's message id.
        hint: &'static str,
    },
    /// A page of ours that could not be rendered: the gateway's own failure.
    PageFailed,
    /// Too many wrong user codes were typed (by this client or on this instance): no code is
    /// read for `retry_after_secs`.
    TooManyCodes { retry_after_secs: u64 },
}

/// An endpoint refusal as a page or JSON (a 405 and the key set are always JSON, a failed
/// page always a page).
pub(crate) fn endpoint_refusal(form: Form, r: &EndpointRefusal<'_>) -> Reply {
    let lang = form.lang();
    match r {
        EndpointRefusal::NotFound => Reply::error_for(
            form,
            404,
            "not_found",
            &lang.text("title-not-found"),
            &lang.text("error-no-endpoint"),
        ),
        EndpointRefusal::AssertionsOff => {
            Reply::error(404, "not_found", &lang.text("error-assertions-off"))
        }
        EndpointRefusal::Method { allow } => {
            let reply = Reply::error(
                405,
                "method_not_allowed",
                &lang.text("error-method-not-allowed"),
            );
            if allow.is_empty() {
                reply
            } else {
                reply.with_header("allow", allow.to_string())
            }
        }
        EndpointRefusal::BadForm { title, hint } => {
            Reply::error_for(form, 400, "bad_form", &lang.text(title), &lang.text(hint))
        }
        EndpointRefusal::TooManyCodes { retry_after_secs } => Reply::error_for(
            form,
            429,
            "too_many_codes",
            &lang.text("title-too-many-codes"),
            &lang.text("error-too-many-codes"),
        )
        .with_header("retry-after", retry_after_secs.to_string()),
        EndpointRefusal::PageFailed => Reply::error_page(
            lang,
            500,
            &lang.text("title-something-went-wrong"),
            &lang.text("error-page-failed"),
        ),
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

mod provider;
pub(crate) use provider::{oidc_refusal, token_error, OidcRefusal};
pub use provider::{sso_refusal, SsoRefusal};

#[cfg(test)]
mod tests;
