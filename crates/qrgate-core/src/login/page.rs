//! The login page (askama template `templates/login.html`).
//!
//! Self-contained: inline SVG QR codes, inline style and script admitted by a per-response
//! CSP nonce, no external assets. Everything dynamic is escaped by askama except the SVG,
//! which [`super::qr`] builds from the QR matrix alone.

use askama::Template;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::i18n::Texts;

/// One signer protocol's QR on the page.
pub(crate) struct SignerView {
    /// `native`, `pubky` or `tana`.
    pub(crate) kind: &'static str,
    /// Tab label.
    pub(crate) label: &'static str,
    /// The inline `<svg>`.
    pub(crate) svg: String,
    /// The QR payload, also shown as copyable text.
    pub(crate) payload: String,
    /// Same-device link.
    pub(crate) deeplink: String,
}

/// A confirmation of an action on the page: what it does, and the form that collects the
/// approval once given (a navigation, so the action's answer replaces the page).
pub(crate) struct ActionView {
    /// What the action does ("add a new device for alice").
    pub(crate) text: String,
    /// Where the form posts (the action's own endpoint).
    pub(crate) url: String,
    /// The form's hidden fields (the action's own, and `confirm` = the attempt id).
    pub(crate) fields: Vec<(&'static str, String)>,
}

/// The page's data.
#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage<'a> {
    /// The page's texts, in the visitor's language.
    pub(crate) tr: Texts,
    /// App name.
    pub(crate) app_name: &'a str,
    /// CSP nonce for the inline style and script.
    pub(crate) nonce: String,
    /// Attempt id.
    pub(crate) attempt_id: &'a str,
    /// SSE endpoint.
    pub(crate) events_url: String,
    /// Claim endpoint.
    pub(crate) claim_url: String,
    /// Seconds until the QR lapses.
    pub(crate) expires_in: u64,
    /// One entry per offered protocol, default first.
    pub(crate) signers: Vec<SignerView>,
    /// Whether this confirms an existing session (step-up) rather than signing in.
    pub(crate) step_up: bool,
    /// Whether this approves a program's device code (nothing to claim: the program collects
    /// its token itself).
    pub(crate) device: bool,
    /// The action this confirms, when it confirms one.
    pub(crate) action: Option<ActionView>,
    /// `{prefix}/auth/session/{id}` when the app offers the native protocol: a browser
    /// holding an enrolled key signs in right here through it.
    pub(crate) device_base: Option<String>,
}

/// A fresh CSP nonce.
pub(crate) fn new_nonce() -> String {
    URL_SAFE_NO_PAD.encode(crate::random_bytes::<18>())
}

/// The page's Content-Security-Policy: nothing but our own nonce'd code and same-origin
/// fetches.
pub(crate) fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
}
