//! tana-mobile's identity protocol, accepted unchanged on the wire but without its flaws.
//!
//! Wire: the QR holds Tana's `qrData` JSON; tana-mobile calls `scan`, `approve` and
//! `reject` under `server` (our prefix), and signs
//! `JSON.stringify({sessionId, challenge, userId, username, timestamp})` with Ed25519 over
//! the SHA-256 of those bytes; keys and signatures are hex behind `ed25519_` /
//! `ed25519_sig_`.
//!
//! What differs from the Tana service (docs/protocol.md): identity comes from the
//! configured key, never from `userId`/`username` (a body whose username contradicts the
//! configured user is refused); the phone never receives a session token; the browser
//! still claims with its binding cookie; the message must be exactly the canonical
//! serialization we rebuild from its parsed fields.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::App;
use crate::keys::PublicKey;
use crate::login::{finish_approval, Attempt};
use crate::proxy::State;
use crate::reply::Reply;

/// How old a signed timestamp may be.
const MAX_AGE_MS: u64 = 5 * 60 * 1000;
/// How far ahead of our clock a signed timestamp may be.
const MAX_AHEAD_MS: u64 = 60 * 1000;

#[derive(Serialize)]
struct QrData<'a> {
    protocol: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
    #[serde(rename = "sessionId")]
    session_id: &'a str,
    challenge: &'a str,
    server: &'a str,
    #[serde(rename = "appName")]
    app_name: &'a str,
    // Tana's optional `appIcon` is left out: no icon is configured, and every byte makes the
    // QR denser.
}

/// Tana's `qrData` JSON for an attempt, in Tana's key order.
pub fn qr_data(app: &App, base: &str, attempt: &Attempt) -> String {
    serde_json::to_string(&QrData {
        protocol: "tana",
        kind: "auth",
        version: "1",
        session_id: &attempt.id,
        challenge: &attempt.tana_challenge,
        server: base,
        app_name: &app.name,
    })
    .unwrap_or_default()
}

/// tana-mobile's approve body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TanaApprove {
    /// Tana's user id (self-asserted; only checked for consistency).
    pub user_id: String,
    /// Tana's username (self-asserted; must not contradict the configured user).
    pub username: String,
    /// `ed25519_` + 64 hex.
    pub public_key: String,
    /// `ed25519_sig_` + 128 hex.
    pub signature: String,
    /// The signed JSON text.
    pub message: String,
}

/// The signed message, with fields in Tana's order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TanaMessage {
    /// Attempt id.
    pub session_id: String,
    /// The attempt's Tana challenge.
    pub challenge: String,
    /// As in the body.
    pub user_id: String,
    /// As in the body.
    pub username: String,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
}

/// Decodes `ed25519_sig_<128 hex>`.
fn decode_signature(s: &str) -> Option<[u8; 64]> {
    let hex_part = s.strip_prefix("ed25519_sig_")?;
    let mut out = [0u8; 64];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// Verifies a Tana approval against the attempt and approves it.
pub fn approve(state: &State, attempt: &Attempt, body: TanaApprove) -> Reply {
    let Some(key_hex) = body.public_key.strip_prefix("ed25519_") else {
        return Reply::error(
            400,
            "bad_key",
            "publicKey must be ed25519_ followed by 64 hex digits.",
        );
    };
    let Ok(key) = key_hex.parse::<PublicKey>() else {
        return Reply::error(
            400,
            "bad_key",
            "publicKey must be ed25519_ followed by 64 hex digits.",
        );
    };
    let Some(signature) = decode_signature(&body.signature) else {
        return Reply::error(
            400,
            "bad_signature_encoding",
            "signature must be ed25519_sig_ followed by 128 hex digits.",
        );
    };
    let message: TanaMessage = match serde_json::from_str(&body.message) {
        Ok(m) => m,
        Err(e) => {
            return Reply::error(
                400,
                "bad_message",
                &format!("message is not Tana's signed JSON: {e}"),
            )
        }
    };
    // Only the canonical serialization is accepted: no reordered, duplicated or padded keys.
    if serde_json::to_string(&message).ok().as_deref() != Some(body.message.as_str()) {
        return Reply::error(
            400,
            "bad_message",
            "message is not in Tana's canonical field order.",
        );
    }
    if message.session_id != attempt.id
        || !bool::from(
            message
                .challenge
                .as_bytes()
                .ct_eq(attempt.tana_challenge.as_bytes()),
        )
    {
        return Reply::error(
            400,
            "wrong_challenge",
            "The signed message is for another login.",
        );
    }
    if message.user_id != body.user_id || message.username != body.username {
        return Reply::error(
            400,
            "inconsistent",
            "userId/username differ between the body and the signed message.",
        );
    }
    let now = state.clock.now_millis();
    if message.timestamp + MAX_AGE_MS < now || message.timestamp > now + MAX_AHEAD_MS {
        return Reply::error(
            401,
            "stale",
            "The signed timestamp is outside the allowed window (5 min back, 1 min ahead).",
        );
    }
    let digest = Sha256::digest(body.message.as_bytes());
    if !key.verify(&digest, &signature) {
        return Reply::error(401, "bad_signature", "The signature does not verify.");
    }
    if let Some(user) = state.config.user_by_key(&key) {
        if body.username != user.name {
            return Reply::error(
                403,
                "identity_mismatch",
                &format!("This key belongs to {}, not {}.", user.name, body.username),
            );
        }
    }
    let reply = finish_approval(state, attempt, &key);
    if reply.status != 200 {
        return reply;
    }
    // tana-mobile reads `success`, `userId` and `username`; no session token is given out.
    Reply::json(
        200,
        &serde_json::json!({ "success": true, "userId": body.user_id, "username": body.username }),
    )
}
