//! Tana approvals: a body with tana-mobile's shape whose `message` (and other fields) come
//! from the fuzzer is refused without a panic, whatever the message holds.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod common;
use qrgate_core::login::signers::protocol::Signer;
use qrgate_core::login::signers::tana::Tana;

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
    let origin = common::origin();
    let ctx = common::context(&origin);
    let facts = common::facts();
    let material = Tana.prepare(&ctx, &facts);
    assert!(Tana.verify_approval(&ctx, &facts, &material, body).is_err());
    if let Ok(raw) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = Tana.verify_approval(&ctx, &facts, &material, raw);
    }
});
