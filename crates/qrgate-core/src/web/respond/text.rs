//! What each refusal says, in the visitor's language: the catalog message of every
//! variant, with its details as arguments (`locales/<tag>/errors.ftl`).
//!
//! Details that are technical (a parser's complaint, a header's name) reach the message as
//! `$detail` in English; the sentence around them is the catalog's.

use crate::control::enrollment::EnrollError;
use crate::control::ControlError;
use crate::i18n::{Arg, Lang};
use crate::login::attempts::AttemptError;
use crate::login::signers::protocol::Refusal;
use crate::login::LoginError;
use crate::oidc::apps::{CodeRefusal, IssueRefusal};

/// What a login refusal says.
pub(super) fn login(lang: Lang, e: &LoginError) -> String {
    let detail = |id: &str, d: &str| lang.text_with(id, &[("detail", Arg::Str(d))]);
    match e {
        LoginError::Attempt(a) => attempt(lang, a),
        LoginError::Refused(r) => refusal(lang, r),
        LoginError::BadJson(d) => detail("error-bad-json", d),
        LoginError::UnknownBody => lang.text("error-unknown-body"),
        LoginError::NotOffered(p) => detail("error-not-offered", p),
        LoginError::UnknownChannel => lang.text("error-unknown-channel"),
        LoginError::BodyTooLarge(n) => lang.text_with(
            "error-body-too-large",
            &[("bytes", Arg::Num(i64::try_from(*n).unwrap_or(i64::MAX)))],
        ),
        LoginError::NotPermitted { user, app } => lang.text_with(
            "error-not-permitted",
            &[("user", user.into()), ("app", app.into())],
        ),
        LoginError::DeviceOtherApp { user, app } => lang.text_with(
            "error-device-other-app",
            &[("user", user.into()), ("app", app.into())],
        ),
        LoginError::UnknownKey { app } => {
            lang.text_with("error-unknown-key", &[("app", app.into())])
        }
        LoginError::IdentityMismatch { owner, asserted } => lang.text_with(
            "error-identity-mismatch",
            &[("owner", owner.into()), ("asserted", asserted.into())],
        ),
        LoginError::CrossOrigin(_) => lang.text("error-cross-origin"),
        LoginError::Unauthenticated => lang.text("error-unauthenticated"),
        LoginError::RateLimited(l) => lang.text_with(
            "error-rate-limited",
            &[("wait", Arg::Str(&lang.duration(l.retry_after_secs)))],
        ),
        LoginError::OtherKey => lang.text("error-other-key"),
        LoginError::OtherUser { user } => {
            lang.text_with("error-other-user", &[("user", user.into())])
        }
        LoginError::SameDevice => lang.text("error-same-device"),
        LoginError::NoOtherKey => lang.text("error-no-other-key"),
        LoginError::UnknownDevice => lang.text("error-unknown-device"),
        LoginError::OtherNetwork => lang.text("error-other-network"),
        LoginError::Store(_) => lang.text("error-store"),
        LoginError::Internal(_) => lang.text("error-internal"),
    }
}

fn attempt(lang: Lang, a: &AttemptError) -> String {
    match a {
        AttemptError::NotFound => lang.text("error-attempt-unknown"),
        AttemptError::Expired => lang.text("error-attempt-expired"),
        AttemptError::AlreadyDone(_) => lang.text("error-attempt-done"),
        AttemptError::NotApproved => lang.text("error-attempt-not-approved"),
        AttemptError::WrongBrowser => lang.text("error-attempt-other-browser"),
        AttemptError::OtherPurpose => lang.text("error-attempt-other-purpose"),
        AttemptError::Full => lang.text("error-attempts-full"),
        AttemptError::ClientBusy => lang.text("error-attempts-client-busy"),
        AttemptError::Store(_) => lang.text("error-store"),
    }
}

fn refusal(lang: Lang, r: &Refusal) -> String {
    let detail = |id: &str, d: &str| lang.text_with(id, &[("detail", Arg::Str(d))]);
    match r {
        Refusal::BadBody(d) | Refusal::BadMessage(d) => detail("error-bad-approval", d),
        Refusal::BadKey(d) => detail("error-bad-key", d),
        Refusal::BadSignatureEncoding(d) => detail("error-bad-signature-encoding", d),
        Refusal::WrongChallenge => lang.text("error-wrong-challenge"),
        Refusal::Inconsistent => lang.text("error-inconsistent"),
        Refusal::Undecryptable => lang.text("error-undecryptable"),
        Refusal::Stale(d) => detail("error-stale", d),
        Refusal::BadSignature(d) => detail("error-bad-signature", d),
        Refusal::BadToken(d) => detail("error-bad-token", d),
        Refusal::WrongCapabilities => lang.text("error-wrong-capabilities"),
        Refusal::Replay => lang.text("error-replay"),
    }
}

/// What a refused invitation or enrollment says.
pub(super) fn enroll(lang: Lang, e: &EnrollError) -> String {
    let detail = |id: &str, d: &str| lang.text_with(id, &[("detail", Arg::Str(d))]);
    match e {
        EnrollError::Gone => lang.text("error-invitation-gone"),
        EnrollError::UnknownUser(u) => detail("error-unknown-user", u),
        EnrollError::UnknownApp(a) => detail("error-unknown-app", a),
        EnrollError::BadQuery(d) => detail("error-bad-query", d),
        EnrollError::BadTtl => lang.text("error-bad-ttl"),
        EnrollError::BadJson(d) => detail("error-bad-enrollment", d),
        EnrollError::Refused(r) => refusal(lang, r),
        EnrollError::KeyTaken => lang.text("error-key-taken"),
        EnrollError::NotConfiguredUser => lang.text("error-not-configured-user"),
        EnrollError::UnderReview(n) => detail("error-under-review", n),
        EnrollError::Store(_) => lang.text("error-store"),
    }
}

/// What a control failure of the person's own request says.
pub(super) fn control(lang: Lang, e: &ControlError) -> String {
    let detail = |id: &str, d: &str| lang.text_with(id, &[("detail", Arg::Str(d))]);
    match e {
        ControlError::UnknownParameter(p) => detail("error-unknown-parameter", p),
        ControlError::Repeated(p) => detail("error-repeated-parameter", p),
        ControlError::BadKey(d) => detail("error-bad-key", d),
        ControlError::NoFilter => lang.text("error-no-filter"),
        ControlError::Store(_) => lang.text("error-store"),
    }
}

/// What a refused single sign-on request says.
pub(super) fn issue(lang: Lang, e: &IssueRefusal) -> String {
    match e {
        IssueRefusal::App => lang.text("error-sso-no-app"),
        IssueRefusal::Binding => lang.text("error-sso-no-binding"),
    }
}

/// What a refused single sign-on code says.
pub(super) fn code(lang: Lang, e: &CodeRefusal) -> String {
    match e {
        CodeRefusal::Spent => lang.text("error-sso-code-spent"),
        CodeRefusal::OtherApp => lang.text("error-sso-code-other-app"),
        CodeRefusal::OtherBrowser => lang.text("error-sso-code-other-browser"),
    }
}
