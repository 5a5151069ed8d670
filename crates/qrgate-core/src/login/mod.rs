//! QR login, as operations with typed results: start an attempt, watch it, scan, approve
//! (through any offered signer protocol), reject, claim, verify.
//!
//! - [`error`]: [`LoginError`], every way an operation is refused.
//! - [`page`]: the askama login page.
//! - [`qr`]: fast inline SVG QR codes.
//!
//! This module is the signer dispatcher: whatever protocol approves, it checks the protocol
//! is offered by the app, the body cap, the attempt's expiry, maps the key to a user, and
//! makes the single-use transition. Afterwards the browser that started the attempt must
//! still claim it with its binding cookie, and the claim issues a fresh session (no
//! fixation). Nothing here builds an HTTP status; [`crate::respond`] does.

pub mod error;
pub mod page;
pub mod qr;

use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;

use crate::agent::summarize_agent;
use crate::attempts::{Attempt, AttemptError, NewAttempt, Purpose};
use crate::audit;
use crate::config::{AppId, SameNetwork};
use crate::confirm::{Action, NotApprover};
use crate::cookies;
use crate::events::EventStream;
use crate::gateway::{Gateway, LiveSession};
use crate::identity::Identity;
use crate::keys::PublicKey;
use crate::limits::client_key;
use crate::protocol::{Payload, Refusal, Signer, SignerId, Verified};
use crate::redirect::validate_return_path;
use crate::session::{token_hash, SessionMeta, SessionToken};
use crate::settings::{NoIdentity, Settings};

pub use error::LoginError;

/// Largest body the gateway's own endpoints read (signer endpoints may set less).
pub const MAX_BODY: usize = 8 * 1024;

/// A new attempt, and the `Set-Cookie` for the binding cookie if the browser had none.
pub struct Started {
    /// The attempt.
    pub attempt: Arc<Attempt>,
    /// `Set-Cookie` value, when a binding value was minted.
    pub set_cookie: Option<String>,
}

/// What a claim gave the browser.
pub struct Claimed {
    /// The only copy of a new session's raw token, for the cookie; `None` for a step-up,
    /// which refreshes the session the browser already holds.
    pub token: Option<SessionToken>,
    /// Who signed in.
    pub identity: Arc<Identity>,
    /// The validated return path.
    pub return_to: String,
}

/// A successful approval.
#[derive(Debug)]
pub struct Approval {
    /// The user signed in.
    pub user: String,
    /// Their key, z-base32.
    pub key: String,
    /// The protocol that approved.
    pub protocol: &'static str,
    /// The protocol's own answer, if it has one.
    pub answer: Option<Value>,
}

/// A successful claim: the browser's fresh session.
/// The `rd` query parameter if it is a safe same-origin path, else `/`.
pub fn return_path(query: Option<&str>) -> String {
    query
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "rd"))
        .and_then(|(_, v)| validate_return_path(&v).ok())
        .unwrap_or_else(|| "/".to_string())
}

/// Whether app `app` offers a protocol that shows the person what they confirm
/// (`Signer::shows_action`): only through one can an action be confirmed by phone there.
pub fn confirms_actions(gw: &Gateway, s: &Settings, app: AppId) -> bool {
    s.app(app).signers.iter().any(|id| shown_by(gw, *id, true))
}

/// Whether protocol `id` can carry an attempt: any protocol a sign-in, only one that shows
/// what is confirmed an action.
fn shown_by(gw: &Gateway, id: SignerId, action: bool) -> bool {
    gw.signers
        .get(id)
        .is_some_and(|g| !action || g.shows_action())
}

/// Creates an attempt for this browser. One binding value per browser, so several tabs can
/// each log in. With a step-up `purpose`, the attempt confirms that live session instead of
/// starting one, and only its key may approve; with an action, one of the person's keys
/// approves that action, through the offered protocols that show it.
pub async fn start(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    headers: &HeaderMap,
    client_ip: Option<IpAddr>,
    return_to: String,
    purpose: Purpose,
) -> Result<Started, LoginError> {
    let action = matches!(purpose, Purpose::Action(_));
    let shows = |id: &SignerId| shown_by(gw, *id, action);
    if !s.app(app).signers.iter().any(shows) {
        return Err(LoginError::NotOffered(
            "a signer that shows what it confirms",
        ));
    }
    let (bind_value, set_cookie) = match s.presented_binding(app, headers) {
        Some(v) => (v.to_string(), None),
        None => {
            let v = SessionToken::generate().as_str().to_string();
            let cookie = s.bind_cookie(app, &v);
            (v, Some(cookie))
        }
    };
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
    let ctx = s.signer_context(app, gw.clock.now_millis());
    let offered = &s.app(app).signers;
    let attempt = gw
        .logins
        .create(request, |facts| {
            offered
                .iter()
                .filter(|id| shows(id))
                .filter_map(|id| gw.signers.get(*id))
                .map(|signer| (signer.id(), signer.prepare(&ctx, facts)))
                .collect()
        })
        .await?;
    gw.metrics.login(&s.app(app).name, "any", "created");
    Ok(Started {
        attempt,
        set_cookie,
    })
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
) -> crate::protocol::Context<'a> {
    crate::protocol::Context {
        grant: &attempt.request.grant,
        ..s.signer_context(app, gw.clock.now_millis())
    }
}

/// The QR payload of every protocol the attempt's app offers, default first.
pub fn payloads(gw: &Gateway, s: &Settings, attempt: &Attempt) -> Vec<(SignerId, Payload)> {
    let Ok(app) = app_of(s, attempt) else {
        return Vec::new();
    };
    let ctx = attempt_context(gw, s, app, attempt);
    s.app(app)
        .signers
        .iter()
        .filter_map(|id| {
            let signer = gw.signers.get(*id)?;
            let material = attempt.material(*id)?;
            Some((*id, signer.payload(&ctx, &attempt.facts(), material)))
        })
        .collect()
}

/// A live attempt of app `app` by id.
pub async fn attempt(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    id: &str,
) -> Result<Arc<Attempt>, LoginError> {
    match gw.logins.get(id).await {
        Ok(a) if a.request.app == s.app(app).key => Ok(a),
        Ok(_) => Err(AttemptError::NotFound.into()),
        Err(e) => Err(e.into()),
    }
}

/// The status stream of an attempt, for the browser that started it only: the approver's
/// name is nobody else's business.
pub async fn watch(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    id: &str,
    headers: &HeaderMap,
) -> Result<EventStream, LoginError> {
    let attempt = gw.logins.get(id).await?;
    let bound = cookies::matches_hash(
        s.presented_binding(app, headers),
        &attempt.request.bind_hash,
    );
    if !bound || attempt.request.app != s.app(app).key {
        return Err(AttemptError::WrongBrowser.into());
    }
    Ok(EventStream::new(
        gw.logins.watch(&attempt),
        gw.logins.remaining(&attempt),
    ))
}

/// A signer fetched the challenge: marks the attempt scanned and returns the fields each
/// offered protocol's phone app reads, in order.
pub async fn scan(
    gw: &Gateway,
    s: &Settings,
    attempt: &Attempt,
) -> Result<Vec<(&'static str, Value)>, LoginError> {
    let app = app_of(s, attempt)?;
    gw.logins.scan(attempt).await?;
    gw.metrics.login(&s.app(app).name, "any", "scanned");
    let ctx = attempt_context(gw, s, app, attempt);
    let mut fields = Vec::new();
    for signer in gw.signers.iter() {
        if let Some(material) = attempt.material(signer.id()) {
            fields.extend(signer.scan_fields(&ctx, &attempt.facts(), material));
        }
    }
    Ok(fields)
}

/// `POST …/{id}/approve` from `approver`: the body is handed to the protocol that
/// recognizes it.
pub async fn approve(
    gw: &Gateway,
    s: &Settings,
    attempt: &Attempt,
    approver: Option<IpAddr>,
    body: &[u8],
) -> Result<Approval, LoginError> {
    let mut protocol = "unknown";
    let verified = (|| {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| LoginError::BadJson(e.to_string()))?;
        let signer = gw
            .signers
            .iter()
            .find(|signer| signer.recognizes(&value))
            .ok_or(LoginError::UnknownBody)?;
        protocol = signer.id().name();
        let material = offered(attempt, signer)?;
        let app = app_of(s, attempt)?;
        check_open(gw, s, attempt, approver)?;
        let ctx = attempt_context(gw, s, app, attempt);
        let verified = signer.verify_approval(&ctx, &attempt.facts(), material, value)?;
        Ok((app, verified))
    })();
    let result = match verified {
        Ok((app, verified)) => finish(gw, s, app, attempt, protocol, verified).await,
        Err(e) => Err(e),
    };
    settle(gw, attempt, protocol, approver, result)
}

/// Counts and audits an approval's outcome.
fn settle(
    gw: &Gateway,
    attempt: &Attempt,
    protocol: &'static str,
    approver: Option<IpAddr>,
    result: Result<Approval, LoginError>,
) -> Result<Approval, LoginError> {
    let app = &attempt.request.app;
    match &result {
        Ok(a) => {
            gw.metrics.login(app, protocol, "approved");
            audit::approved(app, protocol, &a.user, &a.key, approver, &attempt.id);
        }
        Err(e) => {
            gw.metrics.login(app, protocol, "refused");
            audit::approval_refused(app, protocol, e.code(), approver, &attempt.id);
        }
    }
    result
}

/// `POST {prefix}/{endpoint}/{channel}` from `approver`: a delivery to a protocol's own
/// endpoint (Pubky's relay). `endpoint` is the path below the prefix without the channel.
pub async fn deliver(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    approver: Option<IpAddr>,
    endpoint: &str,
    channel: &str,
    body: &[u8],
) -> Result<Approval, LoginError> {
    let (signer, limits) = gw
        .signers
        .iter()
        .find_map(|signer| {
            signer
                .endpoint()
                .filter(|e| e.path == endpoint)
                .map(|e| (signer, e))
        })
        .ok_or(LoginError::UnknownChannel)?;
    if body.len() > limits.max_body {
        return Err(LoginError::BodyTooLarge(limits.max_body));
    }
    let attempt = match gw.logins.by_channel(channel).await {
        Ok(a) if a.request.app == s.app(app).key => a,
        Err(AttemptError::Store(e)) => return Err(e.into()),
        _ => return Err(LoginError::UnknownChannel),
    };
    let protocol = signer.id().name();
    let verified = (|| {
        let material = offered(&attempt, signer)?;
        check_open(gw, s, &attempt, approver)?;
        let ctx = attempt_context(gw, s, app, &attempt);
        Ok(signer.verify_delivery(&ctx, &attempt.facts(), material, body)?)
    })();
    let result = match verified {
        Ok(verified) => finish(gw, s, app, &attempt, protocol, verified).await,
        Err(e) => Err(e),
    };
    settle(gw, &attempt, protocol, approver, result)
}

/// The signer declined.
pub async fn reject(gw: &Gateway, attempt: &Attempt) -> Result<(), LoginError> {
    gw.logins.reject(attempt).await?;
    gw.metrics.login(&attempt.request.app, "any", "rejected");
    Ok(())
}

/// The browser that started the attempt collects its fresh session, once.
pub async fn claim(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    id: &str,
    headers: &HeaderMap,
    client: Option<IpAddr>,
) -> Result<Claimed, LoginError> {
    let attempt = attempt(gw, s, app, id).await?;
    let (key, protocol) = gw
        .logins
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
            .sessions
            .reapproved(&step_up.session, gw.clock.now_millis())
            .await?
        {
            return Err(LoginError::Unauthenticated);
        }
        gw.metrics.login(name, "any", "stepped_up");
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
    };
    let token = gw
        .sessions
        .create(s.app(app).key.clone(), identity.key, meta)
        .await?;
    gw.metrics.login(name, "any", "claimed");
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

/// What a claimed confirmation allows: the action, for the session that asked.
#[derive(Debug)]
pub struct Confirmed {
    /// The person (the action's user, whose session asked and whose key approved).
    pub user: String,
    /// The approving key, z-base32.
    pub approver: String,
    /// The asking session's token hash.
    pub session: [u8; 32],
}

/// The browser that asked for `action` collects the approval of confirmation attempt `id`,
/// once: the same browser (binding cookie), still signed in with the session that asked,
/// as that person, and the attempt made for exactly this action. Anything else is refused
/// before the attempt is touched, except what only the claim itself can tell (approved,
/// within the window, single use).
pub async fn claim_action(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    id: &str,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    action: &Action,
) -> Result<Confirmed, LoginError> {
    let attempt = attempt(gw, s, app, id).await?;
    let Some(confirm) = attempt.request.purpose.action() else {
        return Err(AttemptError::OtherPurpose.into());
    };
    if confirm.action != *action {
        return Err(AttemptError::OtherPurpose.into());
    }
    match gw.session(s, headers, app).await? {
        Some(live) if live.hash == confirm.session && live.identity.user == action.user() => {}
        _ => return Err(LoginError::Unauthenticated),
    }
    let (key, _) = gw
        .logins
        .claim(&attempt, s.presented_binding(app, headers), Some(action))
        .await?;
    // The approving key must still be that person's (a device removed or a user changed
    // since the approval confirms nothing).
    let approver = gw
        .identity(s, app, &key)
        .ok()
        .filter(|i| i.user == action.user())
        .ok_or(LoginError::OtherUser {
            user: action.user().to_string(),
        })?;
    let name = &s.app(app).name;
    gw.metrics.login(name, "any", "confirmed");
    audit::action_confirmed(
        name,
        &action.wire(),
        &approver.user,
        &approver.pubkey,
        client,
        &attempt.id,
    );
    Ok(Confirmed {
        user: approver.user.clone(),
        approver: approver.pubkey.clone(),
        session: confirm.session,
    })
}

/// The session a request carries, by `Authorization: Bearer` or by cookie, with what it was
/// granted and its last phone approval (forward auth judges the original request by them).
pub async fn verify(
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
                .sessions
                .lookup(&hash, &s.app(app).key)
                .await?
                .and_then(|r| {
                    let identity = gw.session_identity_of(s, app, &r.key).ok()?;
                    Some(LiveSession {
                        hash,
                        identity,
                        approved_ms: r.approved_ms,
                        meta: r.meta,
                    })
                }),
            None => None,
        },
        None => gw.session(s, headers, app).await?,
    };
    found.ok_or(LoginError::Unauthenticated)
}

/// Maps a verified key to the identity it may sign in as on this app.
pub fn identity_for_key(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    key: &PublicKey,
) -> Result<Arc<Identity>, LoginError> {
    gw.identity(s, app, key.as_bytes()).map_err(|e| match e {
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

/// The signer's material for this attempt, or a refusal if the app does not offer it.
fn offered<'a>(
    attempt: &'a Attempt,
    signer: &dyn Signer,
) -> Result<&'a crate::protocol::Material, LoginError> {
    attempt
        .material(signer.id())
        .ok_or(LoginError::NotOffered(signer.label()))
}

/// Refuses, before any signature work (and before a protocol records a replay), an expired
/// attempt or an approval from a network the policy does not allow.
fn check_open(
    gw: &Gateway,
    s: &Settings,
    attempt: &Attempt,
    approver: Option<IpAddr>,
) -> Result<(), LoginError> {
    if gw.logins.is_expired(attempt) {
        return Err(AttemptError::Expired.into());
    }
    if !same_network(
        s.config.login.same_network,
        attempt.request.requester,
        approver,
    ) {
        return Err(LoginError::OtherNetwork);
    }
    Ok(())
}

/// Whether `approver` may approve a login requested from `requester` under `policy`.
/// Unknown addresses never pass a policy other than `Off`; IPv4-mapped IPv6 addresses are
/// compared as IPv4; with a prefix policy IPv6 addresses must share their `/64`.
pub fn same_network(
    policy: SameNetwork,
    requester: Option<IpAddr>,
    approver: Option<IpAddr>,
) -> bool {
    let (Some(a), Some(b)) = (requester, approver) else {
        return policy == SameNetwork::Off;
    };
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let (a, b) = (canon(a), canon(b));
    match policy {
        SameNetwork::Off => true,
        SameNetwork::SameIp => a == b,
        SameNetwork::Prefix(bits) => match (a, b) {
            (IpAddr::V4(x), IpAddr::V4(y)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(bits.min(32)))
                    .unwrap_or(0);
                u32::from(x) & mask == u32::from(y) & mask
            }
            (IpAddr::V6(_), IpAddr::V6(_)) => client_key(a) == client_key(b),
            _ => false,
        },
    }
}

/// The shared tail of every protocol: asserted name → key → identity → the token's single
/// use across instances → single-use transition.
async fn finish(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    attempt: &Attempt,
    protocol: &'static str,
    verified: Verified,
) -> Result<Approval, LoginError> {
    let key = verified.key.as_bytes();
    let owner = match s.config.user_by_key(key) {
        Some((_, user)) => Some(user.name.clone()),
        None => gw.devices.get(key).map(|d| d.user.clone()),
    };
    if let (Some(asserted), Some(owner)) = (&verified.asserted_name, &owner) {
        if asserted != owner {
            return Err(LoginError::IdentityMismatch {
                owner: owner.clone(),
                asserted: asserted.clone(),
            });
        }
    }
    match &attempt.request.purpose {
        Purpose::SignIn => {}
        Purpose::StepUp(step_up) if step_up.key != *key => return Err(LoginError::OtherKey),
        Purpose::StepUp(_) => {}
        Purpose::Action(c) => match c.action.approver(owner.as_deref(), key) {
            Ok(()) => {}
            Err(NotApprover::OtherUser) => {
                return Err(LoginError::OtherUser {
                    user: c.action.user().to_string(),
                })
            }
            Err(NotApprover::SameDevice) => return Err(LoginError::SameDevice),
        },
    }
    let identity = identity_for_key(gw, s, app, &verified.key)?;
    if let (Some(mark), Some(share)) = (&verified.single_use, gw.logins.share()) {
        if !share.first_use(mark, verified.single_use_ms).await? {
            return Err(Refusal::Replay.into());
        }
    }
    let (user, key) = (identity.user.clone(), identity.pubkey.clone());
    gw.logins.approve(attempt, &identity, protocol).await?;
    Ok(Approval {
        user,
        key,
        protocol,
        answer: verified.answer,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::clock::Clock;
    use crate::config::Config;
    use crate::signers::{native, pubky, tana};

    fn gateway(signers: &str) -> Gateway {
        let text = format!("[[app]]\nname = \"Intranet wiki\"\norigin = \"https://intranet.example.com\"\nupstream = \"127.0.0.1:9\"\nsigners = {signers}\n");
        let config = Config::parse(&text, Path::new("t.toml")).expect("config");
        Gateway::new(config, Clock::manual()).expect("gateway")
    }

    async fn started(gw: &Gateway) -> Arc<Attempt> {
        let mut h = HeaderMap::new();
        h.insert(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
                .parse()
                .expect("ua"),
        );
        start(
            gw,
            &gw.settings(),
            AppId::new(0),
            &h,
            "203.0.113.7".parse().ok(),
            "/".into(),
            Purpose::SignIn,
        )
        .await
        .expect("started")
        .attempt
    }

    /// Every protocol's QR must stay at version ≤ 10 (error correction M) for a realistic
    /// origin, so phones scan it at a glance.
    #[tokio::test]
    async fn every_payload_fits_a_version_10_code() {
        let gw = gateway("[\"native\", \"pubky\", \"tana\"]");
        let attempt = started(&gw).await;
        let payloads = payloads(&gw, &gw.settings(), &attempt);
        assert_eq!(payloads.len(), 3);
        for (id, p) in payloads {
            let code = qr::render(&p.payload, "QR").expect("fits");
            assert!(
                code.version <= 10,
                "{}: version {} for {} bytes: {}",
                id.name(),
                code.version,
                p.payload.len(),
                p.payload
            );
        }
    }

    #[tokio::test]
    async fn only_offered_protocols_get_material_payloads_and_scan_fields() {
        let gw = gateway("[\"tana\"]");
        let attempt = started(&gw).await;
        assert!(attempt.material(tana::ID).is_some());
        assert!(attempt.material(native::ID).is_none() && attempt.material(pubky::ID).is_none());
        let ids: Vec<_> = payloads(&gw, &gw.settings(), &attempt)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, [tana::ID]);
        let names: Vec<_> = scan(&gw, &gw.settings(), &attempt)
            .await
            .expect("scan")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(names, ["success", "sessionId", "challenge", "appName"]);
        // A native body is recognized, but this app does not offer native.
        let body = serde_json::json!({"public_key": "x", "signature": "y"}).to_string();
        assert_eq!(
            approve(&gw, &gw.settings(), &attempt, None, body.as_bytes())
                .await
                .err(),
            Some(LoginError::NotOffered("qrgate signer"))
        );
        assert_eq!(
            approve(&gw, &gw.settings(), &attempt, None, b"{\"neither\": 1}")
                .await
                .err(),
            Some(LoginError::UnknownBody)
        );
        assert!(matches!(
            approve(&gw, &gw.settings(), &attempt, None, b"{").await,
            Err(LoginError::BadJson(_))
        ));
        assert_eq!(
            deliver(
                &gw,
                &gw.settings(),
                AppId::new(0),
                None,
                "pubky/relay",
                "nochannel",
                b"x"
            )
            .await
            .err(),
            Some(LoginError::UnknownChannel)
        );
        assert_eq!(
            deliver(
                &gw,
                &gw.settings(),
                AppId::new(0),
                None,
                "pubky/relay",
                "c",
                &[0u8; 3000]
            )
            .await
            .err(),
            Some(LoginError::BodyTooLarge(2048))
        );
    }

    #[tokio::test]
    async fn scan_answer_keeps_the_documented_field_order() {
        let gw = gateway("[\"native\", \"pubky\", \"tana\"]");
        let attempt = started(&gw).await;
        let names: Vec<_> = scan(&gw, &gw.settings(), &attempt)
            .await
            .expect("scan")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            names,
            [
                "protocol",
                "attempt",
                "app",
                "origin",
                "requester_ip",
                "requester_agent",
                "issued_at",
                "expires_at",
                "message",
                "success",
                "sessionId",
                "challenge",
                "appName"
            ]
        );
    }

    async fn begin(gw: &Gateway, purpose: Purpose) -> Result<Started, LoginError> {
        let s = gw.settings();
        start(
            gw,
            &s,
            AppId::new(0),
            &HeaderMap::new(),
            None,
            "/".into(),
            purpose,
        )
        .await
    }

    #[test]
    fn only_an_app_offering_a_protocol_that_shows_actions_confirms_them() {
        for (signers, confirms) in [
            ("[\"native\"]", true),
            ("[\"native\", \"pubky\", \"tana\"]", true),
            ("[\"pubky\", \"tana\"]", false),
            ("[\"tana\"]", false),
        ] {
            let gw = gateway(signers);
            assert_eq!(
                confirms_actions(&gw, &gw.settings(), AppId::new(0)),
                confirms,
                "{signers}"
            );
        }
    }

    #[tokio::test]
    async fn an_action_is_offered_only_through_protocols_that_show_it() {
        let action = || {
            Purpose::Action(crate::confirm::Confirm::new(
                [1; 32],
                Action::AddDevice {
                    user: "alice".into(),
                },
            ))
        };
        let all = gateway("[\"native\", \"pubky\", \"tana\"]");
        let attempt = begin(&all, action()).await.expect("started").attempt;
        assert!(attempt.material(native::ID).is_some());
        assert!(attempt.material(pubky::ID).is_none() && attempt.material(tana::ID).is_none());
        let ids: Vec<_> = payloads(&all, &all.settings(), &attempt)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, [native::ID]);
        // An app without such a protocol cannot confirm actions (it still signs in).
        let none = gateway("[\"pubky\", \"tana\"]");
        assert_eq!(
            begin(&none, action()).await.err().map(|e| e.code()),
            Some("protocol_not_offered")
        );
        assert!(begin(&none, Purpose::SignIn).await.is_ok());
    }

    #[test]
    fn same_network_policies() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let cases = [
            (SameNetwork::Off, None, None, true),
            (SameNetwork::Off, ip("192.0.2.1"), ip("198.51.100.1"), true),
            (SameNetwork::SameIp, ip("192.0.2.1"), ip("192.0.2.1"), true),
            (
                SameNetwork::SameIp,
                ip("192.0.2.1"),
                ip("::ffff:192.0.2.1"),
                true,
            ),
            (SameNetwork::SameIp, ip("192.0.2.1"), ip("192.0.2.2"), false),
            (SameNetwork::SameIp, ip("192.0.2.1"), None, false),
            (SameNetwork::SameIp, None, None, false),
            (
                SameNetwork::Prefix(24),
                ip("192.0.2.1"),
                ip("192.0.2.254"),
                true,
            ),
            (
                SameNetwork::Prefix(24),
                ip("192.0.2.1"),
                ip("192.0.3.1"),
                false,
            ),
            (
                SameNetwork::Prefix(16),
                ip("192.0.2.1"),
                ip("192.0.3.1"),
                true,
            ),
            (
                SameNetwork::Prefix(32),
                ip("192.0.2.1"),
                ip("192.0.2.2"),
                false,
            ),
            (
                SameNetwork::Prefix(1),
                ip("10.0.0.1"),
                ip("127.0.0.1"),
                true,
            ),
            (
                SameNetwork::Prefix(24),
                ip("2001:db8::1"),
                ip("2001:db8::ffff"),
                true,
            ),
            (
                SameNetwork::Prefix(24),
                ip("2001:db8::1"),
                ip("2001:db8:0:1::1"),
                false,
            ),
            (
                SameNetwork::Prefix(24),
                ip("2001:db8::1"),
                ip("192.0.2.1"),
                false,
            ),
        ];
        for (policy, requester, approver, want) in cases {
            assert_eq!(
                same_network(policy, requester, approver),
                want,
                "{policy:?} {requester:?} {approver:?}"
            );
        }
    }

    #[tokio::test]
    async fn approvals_from_another_network_are_refused_before_verification() {
        let text = "[login]\nsame_network = 24\n[[app]]\nname = \"w\"\norigin = \"https://w.example\"\nupstream = \"127.0.0.1:9\"\nopen_enrollment = true\n";
        let gw = Gateway::new(
            Config::parse(text, Path::new("t.toml")).expect("config"),
            Clock::manual(),
        )
        .expect("gateway");
        let attempt = start(
            &gw,
            &gw.settings(),
            AppId::new(0),
            &HeaderMap::new(),
            "192.0.2.10".parse().ok(),
            "/".into(),
            Purpose::SignIn,
        )
        .await
        .expect("started")
        .attempt;
        let body = b"{\"public_key\": \"x\", \"signature\": \"y\"}";
        assert_eq!(
            approve(
                &gw,
                &gw.settings(),
                &attempt,
                "198.51.100.7".parse().ok(),
                body
            )
            .await
            .err(),
            Some(LoginError::OtherNetwork)
        );
        // From the same /24 the request reaches the protocol (which refuses the bad key).
        assert!(matches!(
            approve(
                &gw,
                &gw.settings(),
                &attempt,
                "192.0.2.99".parse().ok(),
                body
            )
            .await,
            Err(LoginError::Refused(_))
        ));
    }
}
