//! What every signer protocol implements: the [`Signer`] trait and the types it speaks in.
//!
//! A signer protocol is the way one kind of phone app approves a login: what goes into the QR
//! and the deeplink, what per-attempt secret it needs, how its approval proves a key, and
//! optionally an endpoint of its own (Pubky's relay) and a replay memory. Everything common
//! to all protocols — is this protocol offered by the app, body caps, attempt expiry, key →
//! user mapping, the single-use transition — is done once by the dispatcher in
//! [`crate::login`], so a protocol only answers "which key signed this, for this attempt?".
//!
//! Architecture Invariant: signers do no I/O and hold no gateway state beyond their own
//! replay memory; they see an attempt only through [`AttemptFacts`] and [`Material`].

use crate::http::origin::Origin;
use crate::identity::access::Grant;
use crate::identity::keys::PublicKey;
use crate::login::signers::program::ProgramAsk;
use crate::raw::Secret;

/// A signer protocol's name, as written in config (`signers = ["native", "pubky"]`) and in
/// the login page's tabs. Minted by each protocol's module; equal names are the same protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignerId(&'static str);

impl SignerId {
    /// The protocol named `name`.
    pub(crate) const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// The name used in config and in the page.
    pub fn name(self) -> &'static str {
        self.0
    }
}

/// Where a login happens, as a signer needs to know it.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The app's name (shown to the person; self-asserted in Pubky's and Tana's payloads).
    pub app_name: &'a str,
    /// The app's configured origin.
    pub origin: &'a Origin,
    /// `{origin}{prefix}`: the base of every gateway URL on this app's origin.
    pub base: &'a str,
    /// Now, by the gateway's clock (ms since the epoch).
    pub now_ms: u64,
    /// What a login to this app grants: every protocol asks the person for exactly this.
    pub grant: &'a Grant,
}

/// The facts of one login attempt a signer may bind an approval to.
#[derive(Debug, Clone, Copy)]
pub struct AttemptFacts<'a> {
    /// Public attempt id (`sess_…`), carried in every QR.
    pub id: &'a str,
    /// The requesting browser's IP, as shown to the person approving.
    pub requester_ip: &'a str,
    /// The requesting browser's summary ("Firefox on Linux").
    pub requester_agent: &'a str,
    /// Issued, ms since the epoch.
    pub issued_ms: u64,
    /// Expires, ms since the epoch.
    pub expires_ms: u64,
    /// When the attempt confirms an action rather than a sign-in, what it does, as the person
    /// must see it ("add a new device for alice"). Only protocols that
    /// [show it](Signer::shows_action) are offered for such an attempt.
    pub action: Option<&'a str>,
    /// When the attempt approves a program's device code, what the program asks for (its
    /// description is [`AttemptFacts::action`]). Only protocols that
    /// [show it](Signer::shows_program) are offered for such an attempt.
    pub program: Option<&'a ProgramAsk>,
}

/// What one signer keeps for one attempt, made once when the attempt is created.
#[derive(Debug, Clone)]
pub struct Material {
    /// 32 fresh random bytes: the protocol's nonce, relay secret or challenge.
    pub secret: Secret,
    /// Text fixed at creation that the approval is checked against (the native challenge,
    /// Tana's challenge); empty if the protocol needs none.
    pub(crate) text: String,
    /// Where this protocol's own endpoint finds the attempt (Pubky's relay channel).
    pub(crate) channel: Option<String>,
}

impl Material {
    /// Fresh random material with no text and no channel.
    pub(crate) fn random() -> Self {
        Material {
            secret: Secret::new(crate::random_bytes::<32>()),
            text: String::new(),
            channel: None,
        }
    }
}

/// What the login page shows for one protocol.
#[derive(Debug, Clone)]
pub struct Payload {
    /// Tab label.
    pub(crate) label: &'static str,
    /// QR content.
    pub(crate) payload: String,
    /// Same-device link.
    pub(crate) deeplink: String,
}

/// A verified approval: the key that signed, and what the protocol's answer needs.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The key whose signature verified, for this attempt.
    pub(crate) key: PublicKey,
    /// A user name the protocol's body asserts; it must agree with the key's configured user.
    pub(crate) asserted_name: Option<String>,
    /// The protocol's own success answer, when it is not the native
    /// `{"success": true, "status": "approved", "user": …}`.
    pub(crate) answer: Option<serde_json::Value>,
    /// A fingerprint of a token that may be used once only, ever (Pubky's key and
    /// timestamp), for the instances sharing attempts to mark used; and for how long (ms).
    pub(crate) single_use: Option<Vec<u8>>,
    /// How long `single_use` must be remembered.
    pub(crate) single_use_ms: u64,
}

/// A protocol's own endpoint under the prefix: `POST {prefix}/{path}/{channel}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Path below the prefix, without slashes at either end ([`crate::http::route::RELAY`]); the
    /// dispatcher serves it only as a route of [`crate::http::route::Route`].
    pub(crate) path: &'static str,
    /// Largest body it accepts.
    pub(crate) max_body: usize,
}

/// Why a protocol refused an approval. Every variant is the client's doing (a 4xx); the
/// mapping to statuses lives in [`crate::web::respond`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The body does not have this protocol's shape.
    #[error("{0}")]
    BadBody(String),
    /// The key is not an Ed25519 key in the protocol's encoding.
    #[error("{0}")]
    BadKey(&'static str),
    /// The signature is not 64 bytes in the protocol's encoding.
    #[error("{0}")]
    BadSignatureEncoding(&'static str),
    /// The signed message is not the protocol's canonical form.
    #[error("{0}")]
    BadMessage(String),
    /// The signed message names another attempt or challenge.
    #[error("The signed message is for another login.")]
    WrongChallenge,
    /// The body and the signed message disagree.
    #[error("userId/username differ between the body and the signed message.")]
    Inconsistent,
    /// The signed timestamp is outside the protocol's window.
    #[error("{0}")]
    Stale(&'static str),
    /// The signature does not verify.
    #[error("{0}")]
    BadSignature(&'static str),
    /// The body does not decrypt with this attempt's secret.
    #[error("The body does not decrypt with this login's secret.")]
    Undecryptable,
    /// The token is malformed, badly signed or of another namespace/version.
    #[error("The token was refused: {0}.")]
    BadToken(String),
    /// The token grants something other than what this attempt asked for.
    #[error("The token does not grant what this login asked for.")]
    WrongCapabilities,
    /// The token was used before.
    #[error("This token was used before.")]
    Replay,
}

/// One signer protocol. Implementations live in [`crate::login::signers`], one file each.
pub trait Signer: Send + Sync {
    /// The protocol's name.
    fn id(&self) -> SignerId;

    /// The login page's tab label.
    fn label(&self) -> &'static str;

    /// Whether the person approving sees [`AttemptFacts::action`] and the approval is bound
    /// to it (its signed text names it). Only such protocols may confirm an action; the
    /// others would ask for a plain sign-in while approving something else.
    fn shows_action(&self) -> bool {
        false
    }

    /// Whether the person approving a program's device code sees what the program asks for
    /// ([`AttemptFacts::program`]: who, from where, what, how long, the code) and the approval
    /// is bound to this attempt. A protocol that shows actions shows this too.
    fn shows_program(&self) -> bool {
        self.shows_action()
    }

    /// The material this protocol keeps for a new attempt. By default 32 random bytes.
    fn prepare(&self, ctx: &Context<'_>, attempt: &AttemptFacts<'_>) -> Material {
        let _ = (ctx, attempt);
        Material::random()
    }

    /// The QR payload and same-device link for an attempt.
    fn payload(
        &self,
        ctx: &Context<'_>,
        attempt: &AttemptFacts<'_>,
        material: &Material,
    ) -> Payload;

    /// Fields this protocol's phone app reads from the scan answer, in order.
    fn scan_fields(
        &self,
        ctx: &Context<'_>,
        attempt: &AttemptFacts<'_>,
        material: &Material,
    ) -> Vec<(&'static str, serde_json::Value)> {
        let _ = (ctx, attempt, material);
        Vec::new()
    }

    /// Whether a JSON body posted to `…/{id}/approve` is this protocol's approval.
    fn recognizes(&self, body: &serde_json::Value) -> bool {
        let _ = body;
        false
    }

    /// Verifies an approval posted to `…/{id}/approve` into the key that signed it.
    fn verify_approval(
        &self,
        ctx: &Context<'_>,
        attempt: &AttemptFacts<'_>,
        material: &Material,
        body: serde_json::Value,
    ) -> Result<Verified, Refusal> {
        let _ = (ctx, attempt, material, body);
        Err(Refusal::BadBody(format!(
            "{} approvals are not posted here.",
            self.label()
        )))
    }

    /// This protocol's own endpoint, if it has one.
    fn endpoint(&self) -> Option<Endpoint> {
        None
    }

    /// Verifies a body delivered to [`Signer::endpoint`] into the key that signed it.
    fn verify_delivery(
        &self,
        ctx: &Context<'_>,
        attempt: &AttemptFacts<'_>,
        material: &Material,
        body: &[u8],
    ) -> Result<Verified, Refusal> {
        let _ = (ctx, attempt, material, body);
        Err(Refusal::BadBody(format!(
            "{} has no endpoint of its own.",
            self.label()
        )))
    }

    /// Forgets replay records too old to matter; returns how many.
    fn sweep(&self, now_ms: u64) -> usize {
        let _ = now_ms;
        0
    }
}

/// `s` escaped as one `application/x-www-form-urlencoded` query value, for deeplinks.
pub(crate) fn query_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One app and one attempt, for the signers' unit tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::{AttemptFacts, Context};
    use crate::http::origin::Origin;

    /// The full grant, for contexts of tests.
    pub(crate) static FULL: std::sync::LazyLock<crate::identity::access::Grant> =
        std::sync::LazyLock::new(crate::identity::access::Grant::full);

    /// The documented test vector's origin.
    pub(crate) fn origin() -> Origin {
        "https://app.example.com".parse().expect("origin")
    }

    /// The context of app "Example" on `origin`, at `now_ms`.
    pub(crate) fn context(origin: &Origin, now_ms: u64) -> Context<'_> {
        Context {
            app_name: "Example",
            origin,
            base: "https://app.example.com/.qrgate",
            now_ms,
            grant: &FULL,
        }
    }

    /// The documented test vector's attempt, issued at `issued_ms`, for 120 s.
    pub(crate) fn facts(issued_ms: u64) -> AttemptFacts<'static> {
        AttemptFacts {
            id: "sess_0123456789abcdef",
            requester_ip: "203.0.113.7",
            requester_agent: "Firefox on Linux",
            issued_ms,
            expires_ms: issued_ms + 120_000,
            action: None,
            program: None,
        }
    }
}
