//! QR login, as operations with typed results: start an attempt, watch it, scan, approve
//! (through any offered signer protocol), reject, claim, verify.
//!
//! - `error`: [`LoginError`], every way an operation is refused.
//! - `page`: the askama login page.
//! - `qr`: fast inline SVG QR codes.
//! - `dispatch`: the signer dispatch (approve, deliver, and the checks and shared tail
//!   every protocol goes through).
//! - `action`: claiming a confirmation (the approval of an action a session asked for).
//! - [`attempts`]: login attempts and their single-use state machine.
//! - [`share`]: what several instances share about attempts (the seam Redis implements).
//! - [`confirm`]: actions a person confirms by phone.
//! - [`events`]: server-sent event framing for live login status.
//! - [`stream_claim`]: which request heads (an attempt's event stream) the glue serves
//!   beside pingora.
//! - [`signers`]: the signer protocols, their trait and their registry.
//!
//! `dispatch` is the signer dispatcher: whatever protocol approves, it checks the protocol
//! is offered by the app, the body cap, the attempt's expiry, maps the key to a user, and
//! makes the single-use transition. Afterwards the browser that started the attempt must
//! still claim it with its binding cookie, and the claim issues a fresh session (no
//! fixation). Nothing here builds an HTTP status; [`crate::web::respond`] does.

mod action;
pub mod attempts;
pub mod confirm;
mod device;
mod dispatch;
pub(crate) mod error;
pub mod events;
pub(crate) mod page;
pub(crate) mod qr;
pub mod share;
pub mod signers;
pub mod stream_claim;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;

use crate::config::AppId;
use crate::gate::limits::client_key;
use crate::gateway::{Gateway, LiveSession};
use crate::http::agent::summarize_agent;
use crate::http::cookies;
use crate::http::redirect::validate_return_path;
use crate::identity::keys::PublicKey;
use crate::identity::Identity;
use crate::login::attempts::{Attempt, AttemptError, NewAttempt, Purpose};
use crate::login::events::EventStream;
use crate::login::signers::protocol::{Payload, SignerId};
use crate::observe::audit;
use crate::session::{token_hash, SessionMeta, SessionToken};
use crate::settings::{NoIdentity, Settings};

pub(crate) use action::claim_action;
#[cfg(test)]
pub(crate) use dispatch::same_network;
pub(crate) use dispatch::{approve, deliver};
pub use error::LoginError;

/// Largest body the gateway's own endpoints read (signer endpoints may set less).
pub const MAX_BODY: usize = 8 * 1024;

/// A new attempt, and the `Set-Cookie` for the binding cookie if the browser had none.
pub(crate) struct Started {
    /// The attempt.
    pub(crate) attempt: Arc<Attempt>,
    /// `Set-Cookie` value, when a binding value was minted.
    pub(crate) set_cookie: Option<String>,
}

/// What a claim gave the browser.
pub(crate) struct Claimed {
    /// The only copy of a new session's raw token, for the cookie; `None` for a step-up,
    /// which refreshes the session the browser already holds.
    pub(crate) token: Option<SessionToken>,
    /// Who signed in.
    pub(crate) identity: Arc<Identity>,
    /// The validated return path.
    pub(crate) return_to: String,
}

/// A successful approval.
#[derive(Debug)]
pub(crate) struct Approval {
    /// The user signed in.
    pub(crate) user: String,
    /// Their key, z-base32.
    pub(crate) key: String,
    /// The protocol's own answer, if it has one.
    pub(crate) answer: Option<Value>,
}

/// A successful claim: the browser's fresh session.
/// The `rd` query parameter if it is a safe same-origin path, else `/`.
pub(crate) fn return_path(query: Option<&str>) -> String {
    query
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "rd"))
        .and_then(|(_, v)| validate_return_path(&v).ok())
        .unwrap_or_else(|| "/".to_string())
}

/// Whether app `app` offers a protocol that shows the person what they confirm
/// (`Signer::shows_action`): only through one can an action be confirmed by phone there.
pub(crate) fn confirms_actions(gw: &Gateway, s: &Settings, app: AppId) -> bool {
    s.app(app)
        .signers
        .iter()
        .any(|id| gw.signers().get(*id).is_some_and(|g| g.shows_action()))
}

/// Whether protocol `id` can carry an attempt for `purpose`: any protocol a sign-in or a
/// step-up, only one that shows the action an action, only one that shows what a program asks
/// a program's device code.
fn shown_by(gw: &Gateway, id: SignerId, purpose: &Purpose) -> bool {
    gw.signers().get(id).is_some_and(|g| match purpose {
        Purpose::SignIn | Purpose::StepUp(_) => true,
        Purpose::Action(_) => g.shows_action(),
        Purpose::Device(_) => g.shows_program(),
    })
}

/// Creates an attempt for this browser. One binding value per browser, so several tabs can
/// each log in. With a step-up `purpose`, the attempt confirms that live session instead of
/// starting one, and only its key may approve; with an action, one of the person's keys
/// approves that action, through the offered protocols that show it.
pub(crate) async fn start(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    headers: &HeaderMap,
    client_ip: Option<IpAddr>,
    return_to: String,
    purpose: Purpose,
) -> Result<Started, LoginError> {
    // An action or a program's device code: only protocols that show what they confirm.
    let offered: Vec<SignerId> = s
        .app(app)
        .signers
        .iter()
        .copied()
        .filter(|id| shown_by(gw, *id, &purpose))
        .collect();
    if offered.is_empty() {
        return Err(LoginError::NotOffered(
            "a signer that shows what it confirms",
        ));
    }
    let (bind_value, set_cookie) = s.binding_or_new(app, headers);
    let agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let request = NewAttempt {
        app: s.app(app).key.clone(),
        bind_hash: cookies::hash(&bind_value),
        requester: client_ip,
        client_key: client_ip.map(client_key),
        requester_ip: client_ip.map_or_else(|| "unknown".into(), |ip| ip.to_string()),
        requester_agent: summarize_agent(agent),
        return_to,
        purpose,
        grant: Arc::new(s.app(app).grant.clone()),
    };
    let shown = shown_for(s, app, &request).to_string();
    let ctx = crate::login::signers::protocol::Context {
        app_name: &shown,
        ..s.signer_context(app, gw.clock().now_millis())
    };
    let attempt = gw
        .logins()
        .create(request, |facts| {
            offered
                .iter()
                .filter_map(|id| gw.signers().get(*id))
                .map(|signer| (signer.id(), signer.prepare(&ctx, facts)))
                .collect()
        })
        .await?;
    gw.metrics().login(&s.app(app).name, "any", "created");
    Ok(Started {
        attempt,
        set_cookie,
    })
}

/// What the phone is shown as asking: a program's device code says what the program wants; a
/// sign-in on the SSO origin for a relying party names it and where it returns.
pub(crate) fn shown_for<'a>(s: &'a Settings, app: AppId, request: &'a NewAttempt) -> &'a str {
    match request.purpose.device() {
        Some(d) => &d.shown,
        None => crate::oidc::authorize::shown_name(&s.config, app, &request.return_to),
    }
}

/// The attempt's app under `s` (an app removed by a reload takes its attempts with it).
fn app_of(s: &Settings, attempt: &Attempt) -> Result<AppId, LoginError> {
    s.config
        .app_by_name(&attempt.request.app)
        .ok_or(LoginError::Attempt(AttemptError::NotFound))
}

/// What a protocol binds `attempt` to under `s`: the app's origin and name now, and the
/// attempt's own grant. The grant is the one its challenge was made for at creation and its
/// session will hold; taking the app's grant of the moment instead would, after a reload
/// that changes it, show (and check) one grant while the message signs another.
fn attempt_context<'a>(
    gw: &Gateway,
    s: &'a Settings,
    app: AppId,
    attempt: &'a Attempt,
) -> crate::login::signers::protocol::Context<'a> {
    crate::login::signers::protocol::Context {
        grant: &attempt.request.grant,
        app_name: shown_for(s, app, &attempt.request),
        ..s.signer_context(app, gw.clock().now_millis())
    }
}

/// The QR payload of every protocol the attempt's app offers, default first.
pub(crate) fn payloads(gw: &Gateway, s: &Settings, attempt: &Attempt) -> Vec<(SignerId, Payload)> {
    let Ok(app) = app_of(s, attempt) else {
        return Vec::new();
    };
    let ctx = attempt_context(gw, s, app, attempt);
    s.app(app)
        .signers
        .iter()
        .filter_map(|id| {
            let signer = gw.signers().get(*id)?;
            let material = attempt.material(*id)?;
            Some((*id, signer.payload(&ctx, &attempt.facts(), material)))
        })
        .collect()
}

/// A live attempt of app `app` by id.
pub(crate) async fn attempt(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    id: &str,
) -> Result<Arc<Attempt>, LoginError> {
    match gw.logins().get(id).await {
        Ok(a) if a.request.app == s.app(app).key => Ok(a),
        Ok(_) => Err(AttemptError::NotFound.into()),
        Err(e) => Err(e.into()),
    }
}

/// The status stream of an attempt, for the browser that started it only: the approver's
/// name is nobody else's business.
pub(crate) async fn watch(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    id: &str,
    headers: &HeaderMap,
) -> Result<EventStream, LoginError> {
    let attempt = gw.logins().get(id).await?;
    let bound = cookies::matches_hash(
        s.presented_binding(app, headers),
        &attempt.request.bind_hash,
    );
    if !bound || attempt.request.app != s.app(app).key {
        return Err(AttemptError::WrongBrowser.into());
    }
    Ok(EventStream::new(
        gw.logins().watch(&attempt),
        gw.logins().remaining(&attempt),
    ))
}

/// A signer fetched the challenge: marks the attempt scanned and returns the fields each
/// offered protocol's phone app reads, in order.
pub(crate) async fn scan(
    gw: &Gateway,
    s: &Settings,
    attempt: &Attempt,
) -> Result<Vec<(&'static str, Value)>, LoginError> {
    let app = app_of(s, attempt)?;
    gw.logins().scan(attempt).await?;
    gw.metrics().login(&s.app(app).name, "any", "scanned");
    let ctx = attempt_context(gw, s, app, attempt);
    let mut fields = Vec::new();
    for signer in gw.signers().iter() {
        if let Some(material) = attempt.material(signer.id()) {
            fields.extend(signer.scan_fields(&ctx, &attempt.facts(), material));
        }
    }
    Ok(fields)
}

/// The signer declined.
pub(crate) async fn reject(gw: &Gateway, attempt: &Attempt) -> Result<(), LoginError> {
    gw.logins().reject(attempt).await?;
    if let Purpose::Device(consent) = &attempt.request.purpose {
        device::declined(gw, consent).await?;
    }
    gw.metrics().login(&attempt.request.app, "any", "rejected");
    Ok(())
}

/// The browser that started the attempt collects its fresh session, once.
pub(crate) async fn claim(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    id: &str,
    headers: &HeaderMap,
    client: Option<IpAddr>,
) -> Result<Claimed, LoginError> {
    let attempt = attempt(gw, s, app, id).await?;
    let (key, protocol) = gw
        .logins()
        .claim(&attempt, s.presented_binding(app, headers), None)
        .await?;
    // Who the key is now: a user removed since the approval gets no session.
    let identity = gw
        .identity(s, app, &key)
        .map_err(|_| LoginError::UnknownKey {
            app: s.app(app).name.clone(),
        })?;
    // Always a brand-new token: whatever session cookie the browser had is not reused.
    let name = &s.app(app).name;
    if let Purpose::StepUp(step_up) = &attempt.request.purpose {
        // A fresh approval of the session this browser holds: no new token.
        if !gw
            .sessions()
            .reapproved(&step_up.session, gw.clock().now_millis())
            .await?
        {
            return Err(LoginError::Unauthenticated);
        }
        gw.metrics().login(name, "any", "stepped_up");
        audit::step_up(name, &identity.user, &identity.pubkey, client, &attempt.id);
        return Ok(Claimed {
            token: None,
            identity,
            return_to: attempt.request.return_to.clone(),
        });
    }
    let meta = SessionMeta {
        grant: (*attempt.request.grant).clone(),
        protocol,
        client_ip: client.map_or_else(|| "unknown".into(), |ip| ip.to_string()),
        browser: attempt.request.requester_agent.clone(),
        family: None,
    };
    let token = gw
        .sessions()
        .create(s.app(app).key.clone(), identity.key, meta)
        .await?;
    gw.metrics().login(name, "any", "claimed");
    audit::login(
        name,
        &identity.user,
        &identity.pubkey,
        client,
        &attempt.request.requester_agent,
        &attempt.id,
    );
    Ok(Claimed {
        token: Some(token),
        identity,
        return_to: attempt.request.return_to.clone(),
    })
}

/// The session a request carries, by `Authorization: Bearer` or by cookie, with what it was
/// granted and its last phone approval (forward auth judges the original request by them).
/// A bearer value that is no live session of this app (an app's own credential, say) leaves
/// the cookie to speak, as on the proxy path, which never reads `Authorization` for a session.
pub(crate) async fn verify(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    headers: &HeaderMap,
) -> Result<LiveSession, LoginError> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let found = match bearer {
        Some(token) => match token_hash(token) {
            Some(hash) => gw
                .sessions()
                .lookup(&hash, &s.app(app).key)
                .await?
                .and_then(|r| {
                    let identity = gw
                        .session_identity_of(s, app, &r.key, r.meta.family.as_deref())
                        .ok()?;
                    Some(LiveSession {
                        hash,
                        identity,
                        approved_ms: r.approved_ms,
                        meta: r.meta,
                    })
                }),
            None => None,
        },
        None => None,
    };
    let found = match found {
        Some(live) => Some(live),
        None => gw.session(s, headers, app).await?,
    };
    found.ok_or(LoginError::Unauthenticated)
}

/// Maps a verified key to the identity it may sign in as on this app.
pub(crate) fn identity_for_key(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    key: &PublicKey,
) -> Result<Arc<Identity>, LoginError> {
    gw.identity(s, app, &key.key_bytes()).map_err(|e| match e {
        NoIdentity::NotPermitted { user } => LoginError::NotPermitted {
            user,
            app: s.app(app).name.clone(),
        },
        NoIdentity::UnknownKey => LoginError::UnknownKey {
            app: s.app(app).name.clone(),
        },
        NoIdentity::OtherApp { user } => LoginError::DeviceOtherApp {
            user,
            app: s.app(app).name.clone(),
        },
    })
}
