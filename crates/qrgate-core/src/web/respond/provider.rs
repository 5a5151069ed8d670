//! Refusals of the sign-in service's own endpoints: the OpenID Connect provider's (pages
//! for the browser-facing ones, RFC 6750 and RFC 6749 errors for programs) and single
//! sign-on across apps (always a page).

use super::text;
use crate::http::reply::{Form, Reply};
use crate::i18n::{Arg, Lang};

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
    /// A logout request that cannot be followed, and why (a message id).
    Logout(&'static str),
}

/// An OpenID Connect refusal as HTTP: pages for the browser-facing endpoints; a 401 with
/// `WWW-Authenticate: Bearer` (RFC 6750 §3) for userinfo.
pub(crate) fn oidc_refusal(form: Form, r: &OidcRefusal) -> Reply {
    use crate::oidc::authorize::PageProblem;
    let lang = form.lang();
    match r {
        OidcRefusal::Off => Reply::error_for(
            form,
            404,
            "not_found",
            &lang.text("title-not-found"),
            &lang.text("error-no-provider"),
        ),
        OidcRefusal::Authorize(p) => {
            let (status, title, message) = match p {
                PageProblem::MissingClient => {
                    (400, "title-request-incomplete", "error-missing-client")
                }
                PageProblem::UnknownClient => {
                    (400, "title-unknown-application", "error-unknown-client")
                }
                PageProblem::BadRedirectUri => (
                    400,
                    "title-sign-in-request-refused",
                    "error-bad-redirect-uri",
                ),
                PageProblem::NotAllowed => (403, "title-not-allowed", "error-client-not-allowed"),
            };
            Reply::error_page(lang, status, &lang.text(title), &lang.text(message))
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
        OidcRefusal::Logout(why) => Reply::error_page(
            lang,
            400,
            &lang.text("title-sign-out-refused"),
            &lang.text(why),
        ),
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
pub fn sso_refusal(lang: Lang, r: &SsoRefusal<'_>) -> Reply {
    let page = |status, title: &str, message: String| {
        Reply::error_page(lang, status, &lang.text(title), &message)
    };
    match r {
        SsoRefusal::Issue(e) => page(400, "title-sign-in-request-refused", text::issue(lang, e)),
        SsoRefusal::NotAllowed { app, gateway } => page(
            403,
            "title-not-allowed",
            lang.text_with(
                "error-sso-not-allowed",
                &[("gateway", Arg::Str(gateway)), ("app", Arg::Str(app))],
            ),
        ),
        SsoRefusal::Code(e) => page(400, "title-sign-in-link-not-valid", text::code(lang, e)),
        SsoRefusal::CrossOrigin => page(
            403,
            "title-sign-in-refused",
            lang.text("error-sso-cross-origin"),
        ),
    }
}
