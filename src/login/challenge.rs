//! qrgate's native challenge: the exact bytes a signer signs (docs/protocol.md).
//!
//! The server builds and stores the message; the signer signs those bytes with plain
//! Ed25519 (RFC 8032, no pre-hash) and the server verifies against its own copy — it never
//! parses a client-supplied message. The message binds the approval to the app's configured
//! origin, one attempt, one single-use nonce and the requesting browser's description, and
//! opens with a domain-separation line so a signature can never be reused in another
//! protocol.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The first line of every native challenge.
pub const DOMAIN: &str = "qrgate-login-v1";

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
    pub nonce: &'a [u8; 32],
    /// Requester IP address.
    pub requester_ip: &'a str,
    /// Short user-agent summary.
    pub requester_agent: &'a str,
    /// Seconds since the epoch.
    pub issued_at: u64,
    /// Seconds since the epoch.
    pub expires_at: u64,
}

impl Challenge<'_> {
    /// The message: `key: value` lines under the domain line, each ending in `\n`.
    /// Values never contain line breaks (they are stripped), so lines cannot be forged.
    pub fn message(&self) -> String {
        format!(
            "{DOMAIN}\norigin: {}\napp: {}\nattempt: {}\nnonce: {}\nrequester-ip: {}\nrequester-agent: {}\nissued-at: {}\nexpires-at: {}\n",
            one_line(self.origin),
            one_line(self.app),
            one_line(self.attempt),
            URL_SAFE_NO_PAD.encode(self.nonce),
            one_line(self.requester_ip),
            one_line(self.requester_agent),
            self.issued_at,
            self.expires_at,
        )
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Decodes a signature sent as base64url (no padding) or 128 hex digits.
pub fn decode_signature(s: &str) -> Option<[u8; 64]> {
    let s = s.trim();
    let mut out = [0u8; 64];
    if s.len() == 128 && hex::decode_to_slice(s, &mut out).is_ok() {
        return Some(out);
    }
    let bytes = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    <[u8; 64]>::try_from(bytes.as_slice()).ok()
}

/// A short, fixed-vocabulary description of a browser ("Firefox on Linux"), so the person
/// at the phone can recognise their own machine without the gateway echoing attacker text.
pub fn summarize_agent(ua: &str) -> String {
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") {
        "Opera"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.starts_with("curl/") {
        "curl"
    } else {
        "Unknown browser"
    };
    let os = if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        "unknown system"
    };
    format!("{browser} on {os}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PublicKey;
    use ed25519_dalek::{Signer, SigningKey};

    /// The test vector published in docs/protocol.md.
    pub(crate) fn vector() -> (Challenge<'static>, &'static str) {
        static NONCE: [u8; 32] = [7u8; 32];
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

    #[test]
    fn agents_are_summarised() {
        assert_eq!(
            summarize_agent(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            ),
            "Firefox on Linux"
        );
        assert_eq!(
            summarize_agent(
                "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120 Safari/537.36 Edg/120"
            ),
            "Edge on Windows"
        );
        assert_eq!(
            summarize_agent("<script>"),
            "Unknown browser on unknown system"
        );
    }
}
