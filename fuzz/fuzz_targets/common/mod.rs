//! The attempt every signer target verifies against: one app, one attempt, a fixed time.

use std::sync::LazyLock;

use qrgate_core::http::origin::Origin;
use qrgate_core::identity::access::Grant;
use qrgate_core::login::signers::protocol::{AttemptFacts, Context};

/// Now, for every target: a fixed instant, so runs are reproducible.
pub const NOW_MS: u64 = 1_790_000_000_000;

/// The app's origin.
pub fn origin() -> Origin {
    "https://app.example.com".parse().expect("origin")
}

/// What a login to the app grants: everything, as with no `grant` in its config.
static FULL: LazyLock<Grant> = LazyLock::new(Grant::full);

/// The signer context for `origin`.
pub fn context(origin: &Origin) -> Context<'_> {
    Context {
        app_name: "Example",
        origin,
        base: "https://app.example.com/.qrgate",
        now_ms: NOW_MS,
        grant: &FULL,
    }
}

/// The attempt.
pub fn facts() -> AttemptFacts<'static> {
    AttemptFacts {
        id: "sess_0123456789abcdef",
        requester_ip: "203.0.113.7",
        requester_agent: "Firefox on Linux",
        issued_ms: NOW_MS,
        expires_ms: NOW_MS + 120_000,
        action: None,
        program: None,
    }
}
