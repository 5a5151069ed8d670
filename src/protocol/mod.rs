//! Signer protocols: what each puts in the QR, and how each approves an attempt.
//!
//! All three approve the same [`Attempt`](crate::login::Attempt) through
//! [`finish_approval`](crate::login::finish_approval), so keys map to users the same way
//! whichever app signed, and the browser claims the same way afterwards.
//!
//! - native: qrgate's own challenge (docs/protocol.md).
//! - [`pubky`]: Pubky Ring's pubkyauth, with the gateway as the relay.
//! - [`tana`]: tana-mobile's identity protocol, minus its flaws.

pub mod pubky;
pub mod tana;

use crate::config::SignerKind;
use crate::login::{self, Attempt};
use crate::proxy::State;
use crate::reply::Reply;

/// What the page shows for one protocol.
pub struct Payload {
    /// Tab label.
    pub label: &'static str,
    /// QR content.
    pub payload: String,
    /// Same-device link.
    pub deeplink: String,
}

/// The QR payload of `attempt` in protocol `kind`.
pub fn payload(state: &State, kind: SignerKind, attempt: &Attempt) -> Payload {
    let app = &state.config.apps[attempt.request.app];
    let base = format!("{}{}", app.origin, state.config.server.prefix);
    let label = login::signer_label(kind);
    let (payload, deeplink) = match kind {
        SignerKind::Native => {
            let payload = format!("{base}/auth/session/{}", attempt.id);
            let link = format!("qrgate://sign?url={}", query_escape(&payload));
            (payload, link)
        }
        SignerKind::Pubky => {
            // Ring registers the pubkyauth: scheme itself, so the link is the payload.
            let payload = pubky::auth_url(app, &base, attempt);
            (payload.clone(), payload)
        }
        SignerKind::Tana => {
            let payload = tana::qr_data(app, &base, attempt);
            let link = format!("tana://auth?data={}", query_escape(&payload));
            (payload, link)
        }
    };
    Payload {
        label,
        payload,
        deeplink,
    }
}

fn query_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `POST …/auth/session/:id/approve`: a native body `{public_key, signature}` or Tana's
/// `{userId, username, publicKey, signature, message}`, told apart by Tana's `message`.
pub fn approve(state: &State, attempt: &Attempt, body: &[u8]) -> Reply {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Reply::error(400, "bad_json", &format!("The body is not valid JSON: {e}"))
        }
    };
    let offered = |kind| {
        state.config.apps[attempt.request.app]
            .signers
            .contains(&kind)
    };
    if value.get("message").is_some() {
        if !offered(SignerKind::Tana) {
            return Reply::error(
                400,
                "protocol_not_offered",
                "This app does not accept Tana approvals.",
            );
        }
        return match serde_json::from_value(value) {
            Ok(b) => tana::approve(state, attempt, b),
            Err(e) => Reply::error(400, "bad_body", &format!("Malformed Tana approval: {e}")),
        };
    }
    if !offered(SignerKind::Native) {
        return Reply::error(
            400,
            "protocol_not_offered",
            "This app does not accept native approvals.",
        );
    }
    match serde_json::from_value(value) {
        Ok(b) => login::approve_native(state, attempt, b),
        Err(e) => Reply::error(400, "bad_body", &format!("Malformed approval: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::clock::Clock;
    use crate::config::Config;
    use crate::login::attempts::{bind_hash, NewAttempt};

    /// Every protocol's QR must stay at version ≤ 10 (error correction M) for a realistic
    /// origin, so phones scan it at a glance.
    #[test]
    fn every_payload_fits_a_version_10_code() {
        let text = "[[app]]\nname = \"Intranet wiki\"\norigin = \"https://intranet.example.com\"\nupstream = \"127.0.0.1:9\"\nsigners = [\"native\", \"pubky\", \"tana\"]\n";
        let config = Config::parse(text, Path::new("t.toml")).expect("config");
        let state = State::new(config, Clock::system()).expect("state");
        let attempt = state
            .logins
            .create(
                NewAttempt {
                    app: 0,
                    bind_hash: bind_hash("b"),
                    requester_ip: "203.0.113.7".into(),
                    requester_agent: "Firefox on Linux".into(),
                    return_to: "/".into(),
                },
                |_, _, _, _| String::new(),
            )
            .expect("attempt");
        for kind in [SignerKind::Native, SignerKind::Pubky, SignerKind::Tana] {
            let p = payload(&state, kind, &attempt);
            let code = crate::login::qr::render(&p.payload, "QR").expect("fits");
            assert!(
                code.version <= 10,
                "{kind:?}: version {} for {} bytes: {}",
                code.version,
                p.payload.len(),
                p.payload
            );
        }
    }
}
