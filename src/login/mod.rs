//! Login by QR: the page, its session API, and the browser-bound claim.
//!
//! - [`attempts`]: the attempt table and its single-use state machine (no I/O).
//! - [`challenge`]: the native message a signer signs (docs/protocol.md).
//! - [`qr`]: fast inline SVG QR codes.
//! - [`page`]: the askama login page.
//!
//! Signer-protocol adapters live in [`crate::protocol`]; whatever protocol approves, the
//! browser that started the attempt must still claim it with its binding cookie, and the
//! claim issues a fresh session (no fixation).

pub mod attempts;
pub mod challenge;
pub mod page;
pub mod qr;

use std::sync::Arc;

use askama::Template;
use serde::{Deserialize, Serialize};

use crate::config::SignerKind;
use crate::events::EventStream;
use crate::identity;
use crate::keys::PublicKey;
use crate::protocol;
use crate::proxy::State;
use crate::redirect::validate_return_path;
use crate::reply::Reply;
use crate::routes::{method_not_allowed, same_origin, RouteRequest, Routed};
use crate::session::Identity;

pub use attempts::{Attempt, AttemptError, Logins, NewAttempt};

/// Where a login attempt stands, as the browser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for a scan.
    Pending,
    /// A signer fetched the challenge.
    Scanned,
    /// Signed; the browser may claim.
    Approved {
        /// Display name of who approved (never a token).
        name: String,
    },
    /// The signer said no.
    Rejected,
    /// Ran out of time.
    Expired,
}

impl Status {
    /// The SSE event name.
    pub fn event_name(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Scanned => "scanned",
            Status::Approved { .. } => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
        }
    }

    /// The SSE event payload.
    pub fn event_data(&self) -> serde_json::Value {
        match self {
            Status::Approved { name } => serde_json::json!({ "name": name }),
            _ => serde_json::json!({}),
        }
    }

    /// Whether the stream ends after this.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Status::Approved { .. } | Status::Rejected | Status::Expired
        )
    }
}

/// Maps attempt errors to their HTTP answer.
pub fn attempt_error(e: AttemptError) -> Reply {
    attempt_error_for(false, e)
}

/// Maps attempt errors to their HTTP answer, as a page for a browser that posted a form (the
/// no-script claim) or as JSON.
pub fn attempt_error_for(html: bool, e: AttemptError) -> Reply {
    let (status, code) = match e {
        AttemptError::NotFound => (404, "unknown_attempt"),
        AttemptError::Expired => (410, "expired"),
        AttemptError::AlreadyDone(_) => (409, "already_done"),
        AttemptError::NotApproved => (409, "not_approved"),
        AttemptError::WrongBrowser => (403, "wrong_browser"),
        AttemptError::Full => (503, "busy"),
    };
    let reply = Reply::error_for(html, status, code, "Sign-in not complete", &e.to_string());
    if status == 503 {
        reply.with_header("retry-after", "5")
    } else {
        reply
    }
}

/// Login routes below the prefix.
pub async fn handle(state: &State, req: RouteRequest<'_>) -> Routed {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let post = req.method == http::Method::POST;
    let get = req.method == http::Method::GET || req.method == http::Method::HEAD;
    match segments.as_slice() {
        ["login"] if get => login_page(state, &req).await,
        ["auth", "session", "create"] if post => create(state, &req).into(),
        ["auth", "session", "verify"] if get => verify(state, &req).await.into(),
        ["auth", "session", id, "events"] if get => events(state, &req, id),
        ["auth", "session", id, "scan"] if post => with_attempt(state, id, |a| scan(state, a)),
        ["auth", "session", id, "approve"] if post => {
            with_attempt(state, id, |a| protocol::approve(state, a, &req.body))
        }
        ["auth", "session", id, "reject"] if post => with_attempt(state, id, |a| {
            state
                .logins
                .reject(a)
                .map(|()| {
                    Reply::json(
                        200,
                        &serde_json::json!({"success": true, "status": "rejected"}),
                    )
                })
                .unwrap_or_else(attempt_error)
        }),
        ["auth", "session", id, "claim"] if post => claim(state, &req, id).await.into(),
        ["pubky", "relay", channel] if post => {
            protocol::pubky::relay(state, req.app, channel, &req.body).into()
        }
        ["login"] | ["auth", "session", ..] | ["pubky", "relay", _] => method_not_allowed(),
        _ => Reply::error_for(
            req.wants_html,
            404,
            "not_found",
            "Not found",
            "No such gateway endpoint.",
        )
        .into(),
    }
}

fn with_attempt(state: &State, id: &str, f: impl FnOnce(&Attempt) -> Reply) -> Routed {
    match state.logins.get(id) {
        Ok(a) => f(&a).into(),
        Err(e) => attempt_error(e).into(),
    }
}

/// The binding cookie value this browser already holds, if it looks like one of ours.
fn bind_cookie<'a>(state: &'a State, req: &'a RouteRequest<'_>) -> Option<&'a str> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| identity::cookie_values(v, &state.bind_cookie))
        .find(|v| crate::session::token_hash(v).is_some())
}

/// Creates an attempt for this browser; returns it and the `Set-Cookie` for the binding
/// cookie when the browser had none. One binding value per browser, so several tabs can
/// each log in.
fn start_attempt(
    state: &State,
    req: &RouteRequest<'_>,
    return_to: String,
) -> Result<(Arc<Attempt>, Option<String>), AttemptError> {
    let app = &state.config.apps[req.app];
    let (bind_value, set_cookie) = match bind_cookie(state, req) {
        Some(v) => (v.to_string(), None),
        None => {
            let v = crate::session::SessionToken::generate()
                .as_str()
                .to_string();
            let cookie = state.cookie(
                app,
                &state.bind_cookie,
                &v,
                state.logins.lifetime().as_secs() as i64 + 3600,
                true,
            );
            (v, Some(cookie))
        }
    };
    let agent = req
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(challenge::summarize_agent)
        .unwrap_or_else(|| challenge::summarize_agent(""));
    let request = NewAttempt {
        app: req.app,
        bind_hash: attempts::bind_hash(&bind_value),
        requester_ip: req
            .client_ip
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "unknown".into()),
        requester_agent: agent,
        return_to,
    };
    let origin = app.origin.to_string();
    let attempt = state
        .logins
        .create(request.clone(), |id, nonce, issued, expires| {
            challenge::Challenge {
                origin: &origin,
                app: &app.name,
                attempt: id,
                nonce,
                requester_ip: &request.requester_ip,
                requester_agent: &request.requester_agent,
                issued_at: issued / 1000,
                expires_at: expires / 1000,
            }
            .message()
        })?;
    Ok((attempt, set_cookie))
}

fn return_path(query: Option<&str>) -> String {
    query
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "rd"))
        .and_then(|(_, v)| validate_return_path(&v).ok())
        .unwrap_or_else(|| "/".to_string())
}

async fn login_page(state: &State, req: &RouteRequest<'_>) -> Routed {
    let rd = return_path(req.query);
    if state.session_identity(req.headers, req.app).await.is_some() {
        return Reply::redirect(302, rd).into();
    }
    let (attempt, set_cookie) = match start_attempt(state, req, rd) {
        Ok(x) => x,
        Err(e) => {
            return Reply::error_page(503, "Too many sign-ins in progress", &e.to_string())
                .with_header("retry-after", "5")
                .into()
        }
    };
    let app = &state.config.apps[req.app];
    let prefix = &state.config.server.prefix;
    let mut signers = Vec::new();
    for kind in &app.signers {
        let p = protocol::payload(state, *kind, &attempt);
        let Some(code) = qr::render(&p.payload, &format!("QR code to sign in with {}", p.label))
        else {
            continue;
        };
        signers.push(page::SignerView {
            kind: kind.as_str(),
            label: p.label,
            svg: code.svg,
            payload: p.payload,
            deeplink: p.deeplink,
        });
    }
    let nonce = page::new_nonce();
    let page = page::LoginPage {
        app_name: &app.name,
        nonce: nonce.clone(),
        attempt_id: &attempt.id,
        events_url: format!("{prefix}/auth/session/{}/events", attempt.id),
        claim_url: format!("{prefix}/auth/session/{}/claim", attempt.id),
        expires_in: state.logins.remaining(&attempt).as_secs(),
        signers,
    };
    let html = match page.render() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "login page failed to render");
            return Reply::error_page(
                500,
                "Something went wrong",
                "The sign-in page could not be shown.",
            )
            .into();
        }
    };
    let mut reply = Reply::html(200, html).with_header(
        "content-security-policy",
        page::content_security_policy(&nonce),
    );
    if let Some(c) = set_cookie {
        reply = reply.with_header("set-cookie", c);
    }
    reply.into()
}

#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    payloads: Vec<CreatedPayload>,
    events: String,
    claim: String,
    expires_at: u64,
}

#[derive(Serialize)]
struct CreatedPayload {
    protocol: &'static str,
    payload: String,
}

fn create(state: &State, req: &RouteRequest<'_>) -> Reply {
    if !same_origin(state, req) {
        return Reply::error(
            403,
            "cross_origin",
            "Login attempts are created from the application's own pages.",
        );
    }
    let rd = return_path(req.query);
    let (attempt, set_cookie) = match start_attempt(state, req, rd) {
        Ok(x) => x,
        Err(e) => return attempt_error(e),
    };
    let app = &state.config.apps[req.app];
    let prefix = &state.config.server.prefix;
    let body = Created {
        id: &attempt.id,
        payloads: app
            .signers
            .iter()
            .map(|k| CreatedPayload {
                protocol: k.as_str(),
                payload: protocol::payload(state, *k, &attempt).payload,
            })
            .collect(),
        events: format!("{prefix}/auth/session/{}/events", attempt.id),
        claim: format!("{prefix}/auth/session/{}/claim", attempt.id),
        expires_at: attempt.expires_ms / 1000,
    };
    let mut reply = Reply::json(201, &body);
    if let Some(c) = set_cookie {
        reply = reply.with_header("set-cookie", c);
    }
    reply
}

fn events(state: &State, req: &RouteRequest<'_>, id: &str) -> Routed {
    let attempt = match state.logins.get(id) {
        Ok(a) => a,
        Err(e) => return attempt_error(e).into(),
    };
    // Only the browser that started the attempt may watch it: the approver's name is
    // nobody else's business.
    let bound = bind_cookie(state, req).is_some_and(|v| {
        subtle::ConstantTimeEq::ct_eq(&attempts::bind_hash(v)[..], &attempt.request.bind_hash[..])
            .into()
    });
    if !bound || attempt.request.app != req.app {
        return attempt_error(AttemptError::WrongBrowser).into();
    }
    Routed::Events(EventStream::new(
        state.logins.watch(&attempt),
        state.logins.remaining(&attempt),
    ))
}

#[derive(Serialize)]
struct ScanAnswer<'a> {
    protocol: &'static str,
    attempt: &'a str,
    app: &'a str,
    origin: String,
    requester_ip: &'a str,
    requester_agent: &'a str,
    issued_at: u64,
    expires_at: u64,
    message: &'a str,
    // The fields tana-mobile reads from the same endpoint.
    success: bool,
    #[serde(rename = "sessionId")]
    session_id: &'a str,
    challenge: &'a str,
    #[serde(rename = "appName")]
    app_name: &'a str,
}

fn scan(state: &State, a: &Attempt) -> Reply {
    if let Err(e) = state.logins.scan(a) {
        return attempt_error(e);
    }
    let app = &state.config.apps[a.request.app];
    Reply::json(
        200,
        &ScanAnswer {
            protocol: challenge::DOMAIN,
            attempt: &a.id,
            app: &app.name,
            origin: app.origin.to_string(),
            requester_ip: &a.request.requester_ip,
            requester_agent: &a.request.requester_agent,
            issued_at: a.issued_ms / 1000,
            expires_at: a.expires_ms / 1000,
            message: &a.message,
            success: true,
            session_id: &a.id,
            challenge: &a.tana_challenge,
            app_name: &app.name,
        },
    )
}

/// Maps a verified key to the identity it may log in as on this app, or a 403 telling the
/// signer why not.
pub fn identity_for_key(
    state: &State,
    app_index: usize,
    key: &PublicKey,
) -> Result<Arc<Identity>, Reply> {
    let app = &state.config.apps[app_index];
    match state.config.user_by_key(key) {
        Some(user) if state.config.user_may_use(app, user) => {
            let index = state.config.users.iter().position(|u| u.name == user.name);
            index
                .and_then(|i| state.user_identity(i))
                .ok_or_else(|| Reply::error(500, "internal", "user table inconsistent"))
        }
        Some(user) => Err(Reply::error(
            403,
            "not_permitted",
            &format!("{} may not sign in to {}.", user.name, app.name),
        )),
        // z-base32 is plain ASCII, so this identity always fits in a header.
        None if app.open_enrollment => Identity::new(key.to_z32(), key.to_z32(), String::new())
            .map(Arc::new)
            .ok_or_else(|| Reply::error(500, "internal", "identity not representable")),
        None => Err(Reply::error(
            403,
            "unknown_key",
            &format!("This key is not registered for {}.", app.name),
        )),
    }
}

/// The native approve body.
#[derive(Deserialize)]
pub struct NativeApprove {
    /// z-base32 or hex.
    pub public_key: String,
    /// base64url (or hex) Ed25519 signature over the scan answer's `message`.
    pub signature: String,
}

/// Verifies a native approval and approves the attempt.
pub fn approve_native(state: &State, a: &Attempt, body: NativeApprove) -> Reply {
    let Ok(key) = body.public_key.parse::<PublicKey>() else {
        return Reply::error(
            400,
            "bad_key",
            "public_key must be an Ed25519 key in z-base32 or hex.",
        );
    };
    let Some(sig) = challenge::decode_signature(&body.signature) else {
        return Reply::error(
            400,
            "bad_signature_encoding",
            "signature must be 64 bytes in base64url or hex.",
        );
    };
    if state.logins.is_expired(a) {
        return attempt_error(AttemptError::Expired);
    }
    if !key.verify(a.message.as_bytes(), &sig) {
        return Reply::error(
            401,
            "bad_signature",
            "The signature does not verify against this login's challenge.",
        );
    }
    finish_approval(state, a, &key)
}

/// The shared tail of every protocol's approval: key → identity → single-use transition.
pub fn finish_approval(state: &State, a: &Attempt, key: &PublicKey) -> Reply {
    let identity = match identity_for_key(state, a.request.app, key) {
        Ok(i) => i,
        Err(reply) => return reply,
    };
    let name = identity.user.clone();
    match state.logins.approve(a, identity) {
        Ok(()) => Reply::json(
            200,
            &serde_json::json!({ "success": true, "status": "approved", "user": name }),
        ),
        Err(e) => attempt_error(e),
    }
}

async fn claim(state: &State, req: &RouteRequest<'_>, id: &str) -> Reply {
    if !same_origin(state, req) {
        return Reply::error_for(
            req.wants_html,
            403,
            "cross_origin",
            "Sign-in not complete",
            "Claims come from the application's own pages.",
        );
    }
    let attempt = match state.logins.get(id) {
        Ok(a) => a,
        Err(e) => return attempt_error_for(req.wants_html, e),
    };
    if attempt.request.app != req.app {
        return attempt_error_for(req.wants_html, AttemptError::NotFound);
    }
    let identity = match state.logins.claim(&attempt, bind_cookie(state, req)) {
        Ok(i) => i,
        Err(e) => return attempt_error_for(req.wants_html, e),
    };
    let app = &state.config.apps[req.app];
    // Always a brand-new token: whatever session cookie the browser had is not reused.
    let token = state.sessions.create(req.app, identity.clone()).await;
    let cookie = state.session_cookie(app, &token);
    let rd = attempt.request.return_to.clone();
    let reply = if req.wants_html {
        Reply::redirect(303, rd)
    } else {
        Reply::json(
            200,
            &serde_json::json!({ "redirect": rd, "user": identity.user }),
        )
    };
    reply.with_header("set-cookie", cookie)
}

async fn verify(state: &State, req: &RouteRequest<'_>) -> Reply {
    let bearer = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let identity = match bearer {
        Some(token) => state.sessions.lookup(token, req.app).await,
        None => state.session_identity(req.headers, req.app).await,
    };
    let Some(id) = identity else {
        return Reply::error(401, "unauthenticated", "No valid session.")
            .with_header("www-authenticate", "Bearer realm=\"qrgate\"");
    };
    let app = &state.config.apps[req.app];
    let mut reply = Reply::json(
        200,
        &serde_json::json!({ "valid": true, "user": id.user, "pubkey": id.pubkey, "roles": id.roles, "app": app.name }),
    );
    for (name, value) in identity::identity_headers(&id, &app.name) {
        reply = reply.with_header(name, value.to_string());
    }
    reply
}

/// Which protocol a login kind is, for payload rendering.
pub fn signer_label(kind: SignerKind) -> &'static str {
    match kind {
        SignerKind::Native => "qrgate signer",
        SignerKind::Pubky => "Pubky Ring",
        SignerKind::Tana => "Tana",
    }
}
