//! The shared record codec: an attempt as the share stores it ([`AttemptRecord`]) and back.

use super::*;

/// The shared record of an attempt made from `request` with these facts and materials.
pub(super) fn record(
    id: &str,
    request: &NewAttempt,
    issued_ms: u64,
    expires_ms: u64,
    materials: &[(SignerId, Material)],
) -> AttemptRecord {
    AttemptRecord {
        id: id.to_string(),
        app: request.app.to_string(),
        bind_hash: hex::encode(request.bind_hash),
        requester: request.requester,
        requester_ip: request.requester_ip.clone(),
        requester_agent: request.requester_agent.clone(),
        return_to: request.return_to.clone(),
        step_up: request
            .purpose
            .step_up()
            .map(|s| (hex::encode(s.session), hex::encode(s.key))),
        action: request
            .purpose
            .action()
            .map(|c| (hex::encode(c.session), c.action.wire())),
        device: request
            .purpose
            .device()
            .and_then(|d| Some((hex::encode(d.device), serde_json::to_string(&d.ask).ok()?))),
        grant: (!request.grant.is_full()).then(|| request.grant.to_string()),
        issued_ms,
        expires_ms,
        materials: materials
            .iter()
            .map(|(id, m)| SharedMaterial {
                signer: id.name().to_string(),
                secret: hex::encode(m.secret),
                text: m.text.clone(),
                channel: m.channel.clone(),
            })
            .collect(),
    }
}

/// The request and materials back, resolving protocol names with `signer`; `None` if the
/// record is damaged (then the attempt counts as unknown).
pub(super) fn parts(
    record: &AttemptRecord,
    signer: impl Fn(&str) -> Option<SignerId>,
) -> Option<(NewAttempt, Vec<(SignerId, Material)>)> {
    let bind_hash = BindingHash::from_hex(&record.bind_hash)?;
    let mut materials = Vec::with_capacity(record.materials.len());
    for m in &record.materials {
        let secret = Secret::from_hex(&m.secret)?;
        materials.push((
            signer(&m.signer)?,
            Material {
                secret,
                text: m.text.clone(),
                channel: m.channel.clone(),
            },
        ));
    }
    let purpose = match (&record.step_up, &record.action, &record.device) {
        (None, None, None) => Purpose::SignIn,
        (Some((session, key)), None, None) => Purpose::StepUp(StepUp {
            session: TokenHash::from_hex(session)?,
            key: KeyBytes::from_hex(key)?,
        }),
        (None, Some((session, action)), None) => Purpose::Action(Confirm::new(
            TokenHash::from_hex(session)?,
            Action::from_wire(action)?,
        )),
        (None, None, Some((device, ask))) => Purpose::Device(DeviceConsent::new(
            hex::decode(device).ok()?.try_into().ok()?,
            serde_json::from_str(ask).ok()?,
        )),
        // Two at once is no attempt this gateway makes: damaged.
        _ => return None,
    };
    let request = NewAttempt {
        app: Arc::from(record.app.as_str()),
        bind_hash,
        requester: record.requester,
        // Pending caps count on the instance that created the attempt only.
        client_key: None,
        requester_ip: record.requester_ip.clone(),
        requester_agent: record.requester_agent.clone(),
        return_to: record.return_to.clone(),
        purpose,
        grant: Arc::new(match &record.grant {
            Some(g) => g.parse().ok()?,
            None => Grant::full(),
        }),
    };
    Some((request, materials))
}
