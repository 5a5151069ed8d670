//! The signer dispatch: an approval is handed to the protocol that recognizes it, checked
//! (offered by the app, the attempt open, the network policy) before any signature work,
//! and finished the same way whatever protocol approved.

use std::net::IpAddr;

use serde_json::Value;

use crate::config::{AppId, SameNetwork};
use crate::gate::limits::client_key;
use crate::gateway::Gateway;
use crate::login::attempts::{Attempt, AttemptError, Purpose};
use crate::login::confirm::NotApprover;
use crate::login::signers::protocol::{Refusal, Signer, Verified};
use crate::observe::audit;
use crate::settings::Settings;

use super::{app_of, attempt_context, identity_for_key, Approval, LoginError};

/// `POST …/{id}/approve` from `approver`: the body is handed to the protocol that
/// recognizes it.
pub(crate) async fn approve(
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
            .signers()
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
            gw.metrics().login(app, protocol, "approved");
            audit::approved(app, protocol, &a.user, &a.key, approver, &attempt.id);
        }
        Err(e) => {
            gw.metrics().login(app, protocol, "refused");
            audit::approval_refused(app, protocol, e.code(), approver, &attempt.id);
        }
    }
    result
}

/// `POST {prefix}/{endpoint}/{channel}` from `approver`: a delivery to a protocol's own
/// endpoint (Pubky's relay). `endpoint` is the path below the prefix without the channel.
pub(crate) async fn deliver(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    approver: Option<IpAddr>,
    endpoint: &str,
    channel: &str,
    body: &[u8],
) -> Result<Approval, LoginError> {
    let (signer, limits) = gw
        .signers()
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
    let attempt = match gw.logins().by_channel(channel).await {
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

/// The signer's material for this attempt, or a refusal if the app does not offer it.
fn offered<'a>(
    attempt: &'a Attempt,
    signer: &dyn Signer,
) -> Result<&'a crate::login::signers::protocol::Material, LoginError> {
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
    if gw.logins().is_expired(attempt) {
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
pub(crate) fn same_network(
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
    let key = &verified.key.key_bytes();
    let owner = match s.config.user_by_key(key) {
        Some((_, user)) => Some(user.name.clone()),
        None => gw.devices().get(key).map(|d| d.user.clone()),
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
        // Any key of a person may approve a program's device code; the token endpoint
        // checks the client still admits them when the program redeems it.
        Purpose::Device(_) => {}
    }
    let identity = identity_for_key(gw, s, app, &verified.key)?;
    if let (Some(mark), Some(share)) = (&verified.single_use, gw.logins().share()) {
        if !share.first_use(mark, verified.single_use_ms).await? {
            return Err(Refusal::Replay.into());
        }
    }
    let (user, key) = (identity.user.clone(), identity.pubkey.clone());
    gw.logins().approve(attempt, &identity, protocol).await?;
    if let Purpose::Device(consent) = &attempt.request.purpose {
        super::device::approved(gw, s, consent, &identity).await?;
    }
    Ok(Approval {
        user,
        key,
        answer: verified.answer,
    })
}
