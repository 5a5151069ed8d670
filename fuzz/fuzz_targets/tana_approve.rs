//! Tana approvals: a body with tana-mobile's shape whose `message` (and other fields) come
//! from the fuzzer is refused without a panic, whatever the message holds.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrgate_core::origin::Origin;
use qrgate_core::protocol::{AttemptFacts, Context, Signer};
use qrgate_core::signers::tana::Tana;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{0}');
    let message = parts.next().unwrap_or_default();
    let username = parts.next().unwrap_or("alice");
    let signature = parts.next().unwrap_or("ed25519_sig_00");
    let body = serde_json::json!({
        "userId": "550e8400-e29b-41d4-a716-446655440000",
        "username": username,
        "publicKey": "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660",
        "signature": signature,
        "message": message,
    });
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
    let material = Tana.prepare(&ctx, &facts);
    assert!(Tana.verify_approval(&ctx, &facts, &material, body).is_err());
    if let Ok(raw) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = Tana.verify_approval(&ctx, &facts, &material, raw);
    }
});
