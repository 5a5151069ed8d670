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

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::within_window;
use crate::identity::keys::PublicKey;
use crate::login::signers::protocol::{
    query_escape, AttemptFacts, Context, Material, Payload, Refusal, Signer, SignerId, Verified,
};

/// The protocol's name in config.
pub(crate) const ID: SignerId = SignerId::new("tana");

/// How old a signed timestamp may be.
const MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// How far ahead of our clock a signed timestamp may be.
const MAX_AHEAD: Duration = Duration::from_secs(60);
/// Bytes of the attempt secret used as Tana's `challenge`. Tana uses 32; 16 keeps its QR at
/// version ≤ 10, and 128 bits are ample for a single-use, 120-second attempt.
const CHALLENGE_BYTES: usize = 16;

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

/// tana-mobile's approve body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Approve {
    /// Tana's user id (self-asserted; only checked for consistency).
    user_id: String,
    /// Tana's username (self-asserted; must not contradict the configured user).
    username: String,
    /// `ed25519_` + 64 hex.
    public_key: String,
    /// `ed25519_sig_` + 128 hex.
    signature: String,
    /// The signed JSON text.
    message: String,
}

/// The signed message, with fields in Tana's order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Message {
    session_id: String,
    challenge: String,
    user_id: String,
    username: String,
    /// Milliseconds since the epoch.
    timestamp: u64,
}

/// Decodes `ed25519_sig_<128 hex>`.
fn decode_signature(s: &str) -> Option<[u8; 64]> {
    let hex_part = s.strip_prefix("ed25519_sig_")?;
    let mut out = [0u8; 64];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// tana-mobile's protocol.
pub struct Tana;

/// The registry's constructor.
pub(crate) fn new() -> Box<dyn Signer> {
    Box::new(Tana)
}

impl Signer for Tana {
    fn id(&self) -> SignerId {
        ID
    }

    fn label(&self) -> &'static str {
        "Tana"
    }

    /// tana-mobile shows `appName`, but its signed message does not carry it (nor the
    /// server): a re-encoded QR or a relay shows one thing and the approval counts for
    /// another. A program's device code is approved only through a protocol whose signature
    /// covers what the person read, so Tana approves sign-ins only.
    fn shows_program(&self) -> bool {
        false
    }

    /// The text is Tana's `challenge`: the first bytes of the secret, in hex.
    fn prepare(&self, _: &Context<'_>, _: &AttemptFacts<'_>) -> Material {
        let mut m = Material::random();
        m.text = hex::encode(&m.secret.as_bytes()[..CHALLENGE_BYTES]);
        m
    }

    /// Tana's `qrData` JSON, in Tana's key order.
    fn payload(&self, ctx: &Context<'_>, attempt: &AttemptFacts<'_>, m: &Material) -> Payload {
        let title = app_title(ctx);
        let payload = serde_json::to_string(&QrData {
            protocol: "tana",
            kind: "auth",
            version: "1",
            session_id: attempt.id,
            challenge: &m.text,
            server: ctx.base,
            app_name: &title,
        })
        .unwrap_or_default();
        Payload {
            label: self.label(),
            deeplink: format!("tana://auth?data={}", query_escape(&payload)),
            payload,
        }
    }

    /// The fields tana-mobile reads from the scan answer.
    fn scan_fields(
        &self,
        ctx: &Context<'_>,
        attempt: &AttemptFacts<'_>,
        m: &Material,
    ) -> Vec<(&'static str, Value)> {
        vec![
            ("success", json!(true)),
            ("sessionId", json!(attempt.id)),
            ("challenge", json!(m.text)),
            ("appName", json!(app_title(ctx))),
        ]
    }

    fn recognizes(&self, body: &Value) -> bool {
        body.get("publicKey").is_some() || body.get("message").is_some()
    }

    fn verify_approval(
        &self,
        ctx: &Context<'_>,
        attempt: &AttemptFacts<'_>,
        m: &Material,
        body: Value,
    ) -> Result<Verified, Refusal> {
        let body: Approve = serde_json::from_value(body)
            .map_err(|e| Refusal::BadBody(format!("Malformed Tana approval: {e}")))?;
        let key = body
            .public_key
            .strip_prefix("ed25519_")
            .and_then(|k| k.parse::<PublicKey>().ok())
            .ok_or(Refusal::BadKey(
                "publicKey must be ed25519_ followed by 64 hex digits.",
            ))?;
        let signature = decode_signature(&body.signature).ok_or(Refusal::BadSignatureEncoding(
            "signature must be ed25519_sig_ followed by 128 hex digits.",
        ))?;
        let message: Message = serde_json::from_str(&body.message)
            .map_err(|e| Refusal::BadMessage(format!("message is not Tana's signed JSON: {e}")))?;
        // Only the canonical serialization is accepted: no reordered, duplicated or padded keys.
        if serde_json::to_string(&message).ok().as_deref() != Some(body.message.as_str()) {
            return Err(Refusal::BadMessage(
                "message is not in Tana's canonical field order.".into(),
            ));
        }
        if message.session_id != attempt.id
            || !bool::from(message.challenge.as_bytes().ct_eq(m.text.as_bytes()))
        {
            return Err(Refusal::WrongChallenge);
        }
        if message.user_id != body.user_id || message.username != body.username {
            return Err(Refusal::Inconsistent);
        }
        if !within_window(message.timestamp, ctx.now_ms, MAX_AGE, MAX_AHEAD) {
            return Err(Refusal::Stale(
                "The signed timestamp is outside the allowed window (5 min back, 1 min ahead).",
            ));
        }
        let digest = Sha256::digest(body.message.as_bytes());
        if !key.verify(&digest, &signature) {
            return Err(Refusal::BadSignature("The signature does not verify."));
        }
        // tana-mobile reads `success`, `userId` and `username`; no session token is given out.
        let answer = json!({ "success": true, "userId": body.user_id, "username": body.username });
        Ok(Verified {
            key,
            asserted_name: Some(body.username),
            answer: Some(answer),
            single_use: None,
            single_use_ms: 0,
        })
    }
}

/// The app's name as Tana shows it, with the grant when it is less than read-write
/// everywhere (Tana's protocol has no other place to ask for it).
fn app_title(ctx: &Context<'_>) -> String {
    if ctx.grant.is_full() {
        ctx.app_name.to_string()
    } else {
        format!("{} ({})", ctx.app_name, ctx.grant)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer as _, SigningKey};

    use super::*;
    use crate::login::signers::protocol::fixture;

    const NOW: u64 = 1_790_000_000_000;
    const USER_ID: &str = "550e8400-e29b-41d4-a716-446655440000";

    fn alice() -> SigningKey {
        // Tana's published test key pair.
        SigningKey::from_bytes(
            &hex::decode("546e6707e94ae9fbcc5dd2639f282b8220ff1f2ff44d7a9d39e5c3e35c6bbec6")
                .expect("hex")
                .try_into()
                .expect("32 bytes"),
        )
    }

    fn facts() -> AttemptFacts<'static> {
        fixture::facts(NOW)
    }

    fn message(challenge: &str, username: &str, timestamp: u64) -> String {
        format!(
            "{{\"sessionId\":\"sess_0123456789abcdef\",\"challenge\":\"{challenge}\",\"userId\":\"{USER_ID}\",\"username\":\"{username}\",\"timestamp\":{timestamp}}}"
        )
    }

    /// A body exactly as tana-mobile sends it, signed over SHA-256 of `message`.
    fn body(message: &str, username: &str) -> Value {
        let sig = alice().sign(&Sha256::digest(message.as_bytes())).to_bytes();
        json!({
            "userId": USER_ID,
            "username": username,
            "publicKey": format!("ed25519_{}", hex::encode(alice().verifying_key().as_bytes())),
            "signature": format!("ed25519_sig_{}", hex::encode(sig)),
            "message": message,
        })
    }

    #[test]
    fn qr_data_is_tanas_json_with_a_16_byte_challenge() {
        let origin = fixture::origin();
        let ctx = fixture::context(&origin, NOW);
        let m = Tana.prepare(&ctx, &facts());
        assert_eq!(m.text.len(), 32);
        let p = Tana.payload(&ctx, &facts(), &m);
        assert_eq!(
            p.payload,
            format!("{{\"protocol\":\"tana\",\"type\":\"auth\",\"version\":\"1\",\"sessionId\":\"sess_0123456789abcdef\",\"challenge\":\"{}\",\"server\":\"https://app.example.com/.qrgate\",\"appName\":\"Example\"}}", m.text)
        );
        assert!(p.deeplink.starts_with("tana://auth?data=%7B%22protocol%22"));
    }

    /// For a program's device code, tana-mobile's `appName` (in the QR and in the scan
    /// answer) is what the program asks, bounded; the approval still names the challenge.
    #[test]
    fn a_programs_device_code_is_not_approved_through_tana() {
        assert!(!Tana.shows_program() && !Tana.shows_action());
    }

    #[test]
    fn approvals_are_checked_field_by_field() {
        let origin = fixture::origin();
        let ctx = fixture::context(&origin, NOW);
        let m = Tana.prepare(&ctx, &facts());
        let good = body(&message(&m.text, "alice", NOW - 1000), "alice");
        assert!(Tana.recognizes(&good));
        let ok = Tana
            .verify_approval(&ctx, &facts(), &m, good)
            .expect("verifies");
        assert_eq!(ok.asserted_name.as_deref(), Some("alice"));
        assert_eq!(
            ok.answer,
            Some(json!({"success": true, "userId": USER_ID, "username": "alice"}))
        );

        let reordered = message(&m.text, "alice", NOW).replace(
            &format!(
                "\"sessionId\":\"sess_0123456789abcdef\",\"challenge\":\"{}\"",
                m.text
            ),
            &format!(
                "\"challenge\":\"{}\",\"sessionId\":\"sess_0123456789abcdef\"",
                m.text
            ),
        );
        let mut inconsistent = body(&message(&m.text, "alice", NOW), "alice");
        inconsistent["username"] = json!("mallory");
        let mut tampered = body(&message(&m.text, "alice", NOW), "alice");
        tampered["message"] = json!(message(&m.text, "alice", NOW + 1));
        type Expect = fn(&Refusal) -> bool;
        let cases: Vec<(Value, Expect)> = vec![
            (body(&message("00", "alice", NOW), "alice"), |r| {
                *r == Refusal::WrongChallenge
            }),
            (body(&reordered, "alice"), |r| {
                matches!(r, Refusal::BadMessage(_))
            }),
            (body("not json", "alice"), |r| {
                matches!(r, Refusal::BadMessage(_))
            }),
            (inconsistent, |r| *r == Refusal::Inconsistent),
            (
                body(&message(&m.text, "alice", NOW - 300_001), "alice"),
                |r| matches!(r, Refusal::Stale(_)),
            ),
            (
                body(&message(&m.text, "alice", NOW + 60_001), "alice"),
                |r| matches!(r, Refusal::Stale(_)),
            ),
            (body(&message(&m.text, "alice", u64::MAX), "alice"), |r| {
                matches!(r, Refusal::Stale(_))
            }),
            (tampered, |r| matches!(r, Refusal::BadSignature(_))),
            (json!({"message": "m"}), |r| {
                matches!(r, Refusal::BadBody(_))
            }),
        ];
        for (b, want) in cases {
            let err = Tana
                .verify_approval(&ctx, &facts(), &m, b.clone())
                .expect_err("refused");
            assert!(want(&err), "{err:?} for {b}");
        }
        let mut bad_key = body(&message(&m.text, "alice", NOW), "alice");
        bad_key["publicKey"] =
            json!("17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660");
        assert!(matches!(
            Tana.verify_approval(&ctx, &facts(), &m, bad_key),
            Err(Refusal::BadKey(_))
        ));
    }
}
