//! qrgate's native protocol: the QR holds a URL on the app's origin, the phone scans it,
//! signs the server's challenge text and posts `{public_key, signature}` (docs/protocol.md).
//!
//! The server builds and stores the message; the signer signs those bytes with plain
//! Ed25519 (RFC 8032, no pre-hash) and the server verifies against its own copy — it never
//! parses a client-supplied message. The message binds the approval to the app's configured
//! origin, one attempt, one single-use nonce and the requesting browser's description, and
//! opens with a domain-separation line so a signature can never be reused in another
//! protocol.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::route::Route;
use crate::identity::keys::PublicKey;
use crate::login::signers::protocol::{
    query_escape, AttemptFacts, Context, Material, Payload, Refusal, Signer, SignerId, Verified,
};
use crate::raw::Secret;

/// The protocol's name in config.
pub(crate) const ID: SignerId = SignerId::new("native");

/// The first line of every native sign-in challenge.
pub(crate) const DOMAIN: &str = "qrgate-login-v1";

/// The first line of a native challenge that confirms an action instead (adding or removing
/// a device): a signer that knows only sign-ins does not mistake it for one, and a signature
/// over one is never a signature over the other.
pub(crate) const ACTION_DOMAIN: &str = "qrgate-action-v1";

/// The facts a challenge binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge<'a> {
    /// The app's configured origin, `scheme://host[:port]`.
    pub origin: &'a str,
    /// The app's name.
    pub app: &'a str,
    /// Attempt id.
    pub attempt: &'a str,
    /// 32 random bytes, single use.
    pub nonce: &'a Secret,
    /// Requester IP address.
    pub requester_ip: &'a str,
    /// Short user-agent summary.
    pub requester_agent: &'a str,
    /// Seconds since the epoch.
    pub issued_at: u64,
    /// Seconds since the epoch.
    pub expires_at: u64,
    /// What the login grants, when less than read-write everywhere (`read-write /x/, read /`).
    pub access: Option<&'a str>,
    /// The action confirmed, when the attempt confirms one ("add a new device for alice").
    pub action: Option<&'a str>,
}

impl Challenge<'_> {
    /// The message: `key: value` lines under the domain line, each ending in `\n`.
    /// Values never contain line breaks (they are stripped), so lines cannot be forged.
    pub fn message(&self) -> String {
        let domain = if self.action.is_some() {
            ACTION_DOMAIN
        } else {
            DOMAIN
        };
        let mut m = format!(
            "{domain}\norigin: {}\napp: {}\nattempt: {}\nnonce: {}\nrequester-ip: {}\nrequester-agent: {}\nissued-at: {}\nexpires-at: {}\n",
            one_line(self.origin),
            one_line(self.app),
            one_line(self.attempt),
            URL_SAFE_NO_PAD.encode(self.nonce),
            one_line(self.requester_ip),
            one_line(self.requester_agent),
            self.issued_at,
            self.expires_at,
        );
        // Only a reduced grant adds a line: full logins sign exactly the documented vector.
        if let Some(access) = self.access {
            m.push_str(&format!("access: {}\n", one_line(access)));
        }
        if let Some(action) = self.action {
            m.push_str(&format!("action: {}\n", one_line(action)));
        }
        m
    }

    /// The nonce of a native message: its one `nonce:` line, decoded. With it, a signer that
    /// holds a message and the facts it shows rebuilds the message ([`Challenge::message`])
    /// and signs only if the two are identical, so nothing is signed that is not shown.
    pub fn nonce_of(message: &str) -> Option<Secret> {
        let mut lines = message.lines().filter_map(|l| l.strip_prefix("nonce: "));
        let (Some(nonce), None) = (lines.next(), lines.next()) else {
            return None;
        };
        let bytes = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        Secret::from_slice(&bytes)
    }
}

fn one_line(s: &str) -> String {
    crate::http::shown::one_line(s)
}

/// Decodes a signature sent as base64url (no padding) or 128 hex digits.
pub(crate) fn decode_signature(s: &str) -> Option<[u8; 64]> {
    let s = s.trim();
    let mut out = [0u8; 64];
    if s.len() == 128 && hex::decode_to_slice(s, &mut out).is_ok() {
        return Some(out);
    }
    let bytes = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    <[u8; 64]>::try_from(bytes.as_slice()).ok()
}

/// The native approve body.
#[derive(Deserialize)]
struct Approve {
    /// z-base32 or hex.
    public_key: String,
    /// base64url (or hex) Ed25519 signature over the scan answer's `message`.
    signature: String,
}

/// qrgate's own protocol.
pub struct Native;

/// The registry's constructor.
pub(crate) fn new() -> Box<dyn Signer> {
    Box::new(Native)
}

impl Signer for Native {
    fn id(&self) -> SignerId {
        ID
    }

    fn label(&self) -> &'static str {
        "qrgate signer"
    }

    /// The action is the challenge's first and last lines, and a field of the scan answer.
    fn shows_action(&self) -> bool {
        true
    }

    /// The secret is the challenge's nonce; the text is the whole challenge, built once so
    /// the phone signs exactly what the gateway verifies.
    fn prepare(&self, ctx: &Context<'_>, attempt: &AttemptFacts<'_>) -> Material {
        let mut m = Material::random();
        let access = (!ctx.grant.is_full()).then(|| ctx.grant.to_string());
        m.text = Challenge {
            origin: &ctx.origin.to_string(),
            app: ctx.app_name,
            attempt: attempt.id,
            nonce: &m.secret,
            requester_ip: attempt.requester_ip,
            requester_agent: attempt.requester_agent,
            issued_at: attempt.issued_ms / 1000,
            expires_at: attempt.expires_ms / 1000,
            access: access.as_deref(),
            action: attempt.action,
        }
        .message();
        m
    }

    fn payload(&self, ctx: &Context<'_>, attempt: &AttemptFacts<'_>, _: &Material) -> Payload {
        let payload = Route::Attempt { id: attempt.id }.url(ctx.base);
        let deeplink = format!("qrgate://sign?url={}", query_escape(&payload));
        Payload {
            label: self.label(),
            payload,
            deeplink,
        }
    }

    fn scan_fields(
        &self,
        ctx: &Context<'_>,
        attempt: &AttemptFacts<'_>,
        material: &Material,
    ) -> Vec<(&'static str, Value)> {
        let domain = if attempt.action.is_some() {
            ACTION_DOMAIN
        } else {
            DOMAIN
        };
        let mut fields = vec![
            ("protocol", json!(domain)),
            ("attempt", json!(attempt.id)),
            ("app", json!(ctx.app_name)),
            ("origin", json!(ctx.origin.to_string())),
            ("requester_ip", json!(attempt.requester_ip)),
            ("requester_agent", json!(attempt.requester_agent)),
            ("issued_at", json!(attempt.issued_ms / 1000)),
            ("expires_at", json!(attempt.expires_ms / 1000)),
            ("message", json!(material.text)),
        ];
        // Only a reduced grant adds a field, so the documented answer stays as it was.
        if !ctx.grant.is_full() {
            fields.insert(fields.len() - 1, ("access", json!(ctx.grant.to_string())));
        }
        if let Some(action) = attempt.action {
            fields.insert(fields.len() - 1, ("action", json!(action)));
        }
        fields
    }

    fn recognizes(&self, body: &Value) -> bool {
        body.get("public_key").is_some()
    }

    fn verify_approval(
        &self,
        _: &Context<'_>,
        _: &AttemptFacts<'_>,
        material: &Material,
        body: Value,
    ) -> Result<Verified, Refusal> {
        let body: Approve = serde_json::from_value(body)
            .map_err(|e| Refusal::BadBody(format!("Malformed approval: {e}")))?;
        let key = body.public_key.parse::<PublicKey>().map_err(|_| {
            Refusal::BadKey("public_key must be an Ed25519 key in z-base32 or hex.")
        })?;
        let sig = decode_signature(&body.signature).ok_or(Refusal::BadSignatureEncoding(
            "signature must be 64 bytes in base64url or hex.",
        ))?;
        if !key.verify(material.text.as_bytes(), &sig) {
            return Err(Refusal::BadSignature(
                "The signature does not verify against this login's challenge.",
            ));
        }
        Ok(Verified {
            key,
            asserted_name: None,
            answer: None,
            single_use: None,
            single_use_ms: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::signers::protocol::fixture;
    use ed25519_dalek::{Signer as _, SigningKey};

    /// The test vector published in docs/protocol.md.
    pub(crate) fn vector() -> (Challenge<'static>, &'static str) {
        static NONCE: Secret = Secret::new([7u8; 32]);
        (
            Challenge {
                origin: "https://app.example.com",
                app: "Example",
                attempt: "sess_0123456789abcdef",
                nonce: &NONCE,
                requester_ip: "203.0.113.7",
                requester_agent: "Firefox on Linux",
                issued_at: 1_790_000_000,
                expires_at: 1_790_000_120,
                access: None,
                action: None,
            },
            "qrgate-login-v1\norigin: https://app.example.com\napp: Example\nattempt: sess_0123456789abcdef\nnonce: BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc\nrequester-ip: 203.0.113.7\nrequester-agent: Firefox on Linux\nissued-at: 1790000000\nexpires-at: 1790000120\n",
        )
    }

    #[test]
    fn message_matches_the_documented_vector() {
        let (c, expected) = vector();
        assert_eq!(c.message(), expected);
    }

    #[test]
    fn documented_signature_verifies_and_tampering_fails() {
        let (c, _) = vector();
        let secret: [u8; 32] =
            hex::decode("546e6707e94ae9fbcc5dd2639f282b8220ff1f2ff44d7a9d39e5c3e35c6bbec6")
                .expect("hex")
                .try_into()
                .expect("32 bytes");
        let sk = SigningKey::from_bytes(&secret);
        let sig = sk.sign(c.message().as_bytes()).to_bytes();
        // The signature published in docs/protocol.md (Ed25519 is deterministic).
        let documented = "y0BnCrDGur-lqcQZ-Cewu9l1nYgp9Z3YDzsXSD1d67rMtd_-kEYYcWI95mc_K4OPjMtnHxbBS4sy8RL38CaDDQ";
        assert_eq!(URL_SAFE_NO_PAD.encode(sig), documented);
        let pk = PublicKey::from_bytes(&sk.verifying_key().to_bytes()).expect("key");
        let decoded = decode_signature(documented).expect("decodes");
        assert!(pk.verify(c.message().as_bytes(), &decoded));
        assert_eq!(decode_signature(&hex::encode(sig)), Some(sig));
        let mut other = c.clone();
        other.origin = "https://evil.example.com";
        assert!(!pk.verify(other.message().as_bytes(), &decoded));
        assert_eq!(decode_signature("not base64!"), None);
        assert_eq!(decode_signature(&URL_SAFE_NO_PAD.encode([0u8; 63])), None);
    }

    #[test]
    fn line_breaks_cannot_forge_lines() {
        let (mut c, _) = vector();
        c.app = "Example\norigin: https://evil.example";
        assert_eq!(
            c.message()
                .lines()
                .filter(|l| l.starts_with("origin:"))
                .count(),
            1
        );
    }

    fn alice() -> SigningKey {
        SigningKey::from_bytes(
            &hex::decode("546e6707e94ae9fbcc5dd2639f282b8220ff1f2ff44d7a9d39e5c3e35c6bbec6")
                .expect("hex")
                .try_into()
                .expect("32 bytes"),
        )
    }

    #[test]
    fn prepared_challenge_is_the_documented_message_for_its_nonce() {
        let origin = fixture::origin();
        let facts = fixture::facts(1_790_000_000_000);
        let ctx = fixture::context(&origin, facts.issued_ms);
        let m = Native.prepare(&ctx, &facts);
        // The vector has the same facts; only the nonce is fresh.
        let expected = Challenge {
            nonce: &m.secret,
            ..vector().0
        };
        assert_eq!(m.text, expected.message());
        let p = Native.payload(&ctx, &facts, &m);
        assert_eq!(
            p.payload,
            "https://app.example.com/.qrgate/auth/session/sess_0123456789abcdef"
        );
        assert_eq!(
            p.deeplink,
            "qrgate://sign?url=https%3A%2F%2Fapp.example.com%2F.qrgate%2Fauth%2Fsession%2Fsess_0123456789abcdef"
        );
        let fields = Native.scan_fields(&ctx, &facts, &m);
        assert_eq!(fields[0], ("protocol", json!(DOMAIN)));
        assert_eq!(fields.last(), Some(&("message", json!(m.text))));
    }

    #[test]
    fn a_message_is_rebuilt_from_its_nonce_and_the_facts_shown() {
        let (c, text) = vector();
        assert_eq!(Challenge::nonce_of(text), Some(*c.nonce));
        let action = Challenge {
            action: Some("add a new device for alice"),
            access: Some("read /"),
            ..c.clone()
        };
        let m = action.message();
        let nonce = Challenge::nonce_of(&m).expect("nonce");
        assert_eq!(
            Challenge {
                nonce: &nonce,
                ..action
            }
            .message(),
            m
        );
        // No nonce line, two of them, or one that is not 32 bytes: nothing to rebuild.
        for odd in [
            "qrgate-login-v1\norigin: x\n".to_string(),
            format!("{text}nonce: {}\n", URL_SAFE_NO_PAD.encode([1u8; 32])),
            text.replace("nonce: BwcH", "nonce: "),
            text.replace("nonce: ", "nonce: !"),
        ] {
            assert_eq!(Challenge::nonce_of(&odd), None, "{odd:?}");
        }
    }

    #[test]
    fn an_action_is_named_in_what_the_phone_signs_and_sees() {
        let origin = fixture::origin();
        let facts = AttemptFacts {
            action: Some("add a new device for alice"),
            ..fixture::facts(1_790_000_000_000)
        };
        let ctx = fixture::context(&origin, facts.issued_ms);
        let m = Native.prepare(&ctx, &facts);
        assert!(m.text.starts_with("qrgate-action-v1\norigin: "));
        assert!(m.text.ends_with("\naction: add a new device for alice\n"));
        let fields = Native.scan_fields(&ctx, &facts, &m);
        assert_eq!(fields[0], ("protocol", json!(ACTION_DOMAIN)));
        assert!(fields.contains(&("action", json!("add a new device for alice"))));
        assert_eq!(fields.last(), Some(&("message", json!(m.text))));
        // The same facts without the action sign a sign-in, under the other domain line.
        let plain = Native.prepare(&ctx, &fixture::facts(1_790_000_000_000));
        assert!(plain.text.starts_with("qrgate-login-v1\n") && !plain.text.contains("action:"));
        assert!(Native.shows_action());
    }

    #[test]
    fn approvals_verify_only_over_this_attempts_text() {
        let origin = fixture::origin();
        let facts = fixture::facts(1_790_000_000_000);
        let ctx = fixture::context(&origin, facts.issued_ms);
        let m = Native.prepare(&ctx, &facts);
        let sk = alice();
        let pk = z32::encode(sk.verifying_key().as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(sk.sign(m.text.as_bytes()).to_bytes());
        let ok = Native
            .verify_approval(
                &ctx,
                &facts,
                &m,
                json!({"public_key": pk, "signature": sig}),
            )
            .expect("verifies");
        assert_eq!(ok.key.to_z32(), pk);
        let other = Native.prepare(&ctx, &facts);
        let cases = [
            (
                json!({"public_key": pk, "signature": sig}),
                &other,
                "bad_signature",
            ),
            (
                json!({"public_key": "nope", "signature": sig}),
                &m,
                "bad_key",
            ),
            (
                json!({"public_key": pk, "signature": "AAAA"}),
                &m,
                "bad_signature_encoding",
            ),
            (json!({"public_key": pk}), &m, "bad_body"),
            (json!({"public_key": 7, "signature": sig}), &m, "bad_body"),
        ];
        for (body, material, want) in cases {
            let err = Native
                .verify_approval(&ctx, &facts, material, body.clone())
                .expect_err("refused");
            let got = match err {
                Refusal::BadSignature(_) => "bad_signature",
                Refusal::BadKey(_) => "bad_key",
                Refusal::BadSignatureEncoding(_) => "bad_signature_encoding",
                Refusal::BadBody(_) => "bad_body",
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(got, want, "{body}");
        }
        assert!(Native.recognizes(&json!({"public_key": "x"})));
        assert!(!Native.recognizes(&json!({"publicKey": "x", "message": "m"})));
    }
}
