//! The pages that make a browser — usually a phone's, opened by its camera — a signer of the
//! native protocol: the approval page at the native QR's URL, the enrollment page an
//! invitation link opens, and the page that shows a signed-in person an invitation for a new
//! phone of their own.
//!
//! The key lives only in the browser (`templates/device.js`: WebCrypto Ed25519, not
//! extractable, in IndexedDB for the app's origin). The pages are clients of the same
//! endpoints every signer uses (`scan`, `approve`, `reject`, and `enroll`); nothing here
//! verifies anything. Same look and policy as the login page: askama, one stylesheet, inline
//! code admitted by a per-response nonce, no external assets.

use askama::Template;

use crate::control::enrollment::Invited;
use crate::devices::Invitation;
use crate::http::reply::{Form, Reply};
use crate::http::route::Route;
use crate::i18n::{Lang, Texts};
use crate::login::attempts::Attempt;
use crate::login::confirm::Confirm;
use crate::login::signers::native;
use crate::login::{page, qr};
use crate::web::respond::{self, EndpointRefusal};

/// The approval page (`GET {prefix}/auth/session/{id}` from a browser).
#[derive(Template)]
#[template(path = "approve.html")]
struct ApprovePage<'a> {
    tr: Texts,
    app_name: &'a str,
    origin: String,
    nonce: String,
    base: String,
    attempt_id: &'a str,
    requester_agent: &'a str,
    requester_ip: &'a str,
    issued: String,
    access: Option<String>,
    step_up: bool,
    /// What the approval does when it is not a sign-in ("add a new device for alice").
    action: Option<&'a str>,
}

/// The enrollment page (`GET {prefix}/enroll/{token}`).
#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage<'a> {
    tr: Texts,
    app_name: &'a str,
    origin: String,
    nonce: String,
    enroll_url: String,
    user: &'a str,
    token: &'a str,
    expires: String,
}

/// A new invitation for the signed-in person's own phone.
#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage<'a> {
    tr: Texts,
    app_name: &'a str,
    nonce: String,
    user: &'a str,
    svg: String,
    link: &'a str,
    expires: String,
    sessions_url: String,
}

/// A rendered page with its nonce'd policy, or a 500 page if askama failed.
fn html(lang: Lang, rendered: Result<String, askama::Error>, nonce: &str) -> Reply {
    match rendered {
        Ok(body) => Reply::html(200, body).with_header(
            "content-security-policy",
            page::content_security_policy(nonce),
        ),
        Err(e) => {
            tracing::error!(error = %e, "page failed to render");
            respond::endpoint_refusal(Form::Page(lang), &EndpointRefusal::PageFailed)
        }
    }
}

/// The approval page for `attempt` on app `app_name` at `origin`; `prefix` is the gateway's.
pub(crate) fn approve_page(
    lang: Lang,
    app_name: &str,
    origin: &str,
    prefix: &str,
    attempt: &Attempt,
) -> Reply {
    let nonce = page::new_nonce();
    let grant = &attempt.request.grant;
    let page = ApprovePage {
        tr: Texts::new(lang),
        app_name,
        origin: origin.to_string(),
        nonce: nonce.clone(),
        base: Route::Attempt { id: &attempt.id }.url(prefix),
        attempt_id: &attempt.id,
        requester_agent: &attempt.request.requester_agent,
        requester_ip: &attempt.request.requester_ip,
        issued: lang.date(attempt.issued_ms / 1000),
        access: (!grant.is_full()).then(|| grant.to_string()),
        step_up: attempt.request.purpose.step_up().is_some(),
        action: attempt.request.purpose.action().map(Confirm::text),
    };
    html(lang, page.render(), &nonce)
}

/// Whether the native protocol can approve `attempt` (the page is its client).
pub(crate) fn offers_native(attempt: &Attempt) -> bool {
    attempt.material(native::ID).is_some()
}

/// The enrollment page for invitation `token`.
pub(crate) fn enroll_page(
    lang: Lang,
    origin: &str,
    prefix: &str,
    token: &str,
    invitation: &Invitation,
) -> Reply {
    let nonce = page::new_nonce();
    let page = EnrollPage {
        tr: Texts::new(lang),
        app_name: &invitation.app,
        origin: origin.to_string(),
        nonce: nonce.clone(),
        enroll_url: Route::Enroll { token }.url(prefix),
        user: &invitation.user,
        token,
        expires: lang.date(invitation.expires_ms / 1000),
    };
    html(lang, page.render(), &nonce)
}

/// The page showing a new invitation as a QR code and a link.
pub(crate) fn invite_page(lang: Lang, prefix: &str, invited: &Invited) -> Reply {
    let nonce = page::new_nonce();
    let Some(code) = qr::render(&invited.link, &lang.text("invite-qr-label")) else {
        return respond::endpoint_refusal(Form::Page(lang), &EndpointRefusal::PageFailed);
    };
    let page = InvitePage {
        tr: Texts::new(lang),
        app_name: &invited.app,
        nonce: nonce.clone(),
        user: &invited.user,
        svg: code.svg,
        link: &invited.link,
        expires: lang.date(invited.expires_at),
        sessions_url: Route::Sessions.url(prefix),
    };
    html(lang, page.render(), &nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enrollment_page_escapes_what_it_shows_and_carries_its_policy() {
        let inv = Invitation {
            user: "<b>alice</b>".into(),
            app: "Wiki & Co".into(),
            apps: vec!["Wiki & Co".into()],
            origins: vec![],
            expires_ms: 1_790_000_000_000,
            by: "operator".into(),
        };
        let reply = enroll_page(
            Lang::En,
            "https://wiki.example.com",
            "/.qrgate",
            "tok",
            &inv,
        );
        assert_eq!(reply.status, 200);
        let body = String::from_utf8_lossy(&reply.body);
        // Escaped wherever it appears (text and attributes alike).
        assert!(body.contains("alice"));
        assert!(!body.contains("<b>alice"));
        assert!(body.contains("Wiki ") && !body.contains("Wiki & Co"));
        assert!(body.contains("data-enroll=\"/.qrgate/enroll/tok\""));
        let csp = reply
            .headers
            .iter()
            .find(|(n, _)| *n == "content-security-policy")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(csp.contains("script-src 'nonce-"));
        // Every inline script and style carries the nonce the policy names.
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            body.matches("<script").count(),
            body.matches(&format!("<script nonce=\"{nonce}\"")).count()
        );
        assert_eq!(
            body.matches("<style").count(),
            body.matches(&format!("<style nonce=\"{nonce}\"")).count()
        );
    }

    #[test]
    fn the_invitation_page_shows_the_link_as_a_qr_code() {
        let invited = Invited {
            link: "https://wiki.example.com/.qrgate/enroll/abc".into(),
            user: "alice".into(),
            app: "Wiki".into(),
            apps: vec!["Wiki".into()],
            expires_at: 1_790_000_000,
        };
        let reply = invite_page(Lang::En, "/.qrgate", &invited);
        let body = String::from_utf8_lossy(&reply.body);
        assert!(body.contains("<svg"));
        assert!(body.contains("https://wiki.example.com/.qrgate/enroll/abc"));
    }
}
