//! Pubky relay bodies and the tokens inside them: a raw body, and the same bytes as the
//! plaintext of a correctly encrypted body, are refused without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrgate_core::origin::Origin;
use qrgate_core::protocol::{AttemptFacts, Context, Signer};
use qrgate_core::signers::pubky::Pubky;

fuzz_target!(|data: &[u8]| {
    let origin: Origin = "https://app.example.com".parse().expect("origin");
    let ctx = Context {
        app_name: "Example",
        origin: &origin,
        base: "https://app.example.com/.qrgate",
        now_ms: 1_790_000_000_000,
    };
    let facts = AttemptFacts {
        id: "sess_0123456789abcdef",
        requester_ip: "203.0.113.7",
        requester_agent: "Firefox on Linux",
        issued_ms: 1_790_000_000_000,
        expires_ms: 1_790_000_120_000,
    };
    let signer = Pubky::default();
    let material = signer.prepare(&ctx, &facts);
    assert!(signer.verify_delivery(&ctx, &facts, &material, data).is_err());
    let sealed = pubky_common::crypto::encrypt(data, &material.secret);
    assert!(signer.verify_delivery(&ctx, &facts, &material, &sealed).is_err());
});
