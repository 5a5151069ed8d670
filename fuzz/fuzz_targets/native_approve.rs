//! The native approve body: any bytes are refused or verified; a verification needs the
//! attempt's own challenge, which the fuzzer cannot sign.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrgate_core::origin::Origin;
use qrgate_core::protocol::{AttemptFacts, Context, Signer};
use qrgate_core::signers::native::Native;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
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
    let material = Native.prepare(&ctx, &facts);
    let _ = Native.recognizes(&body);
    assert!(
        Native.verify_approval(&ctx, &facts, &material, body).is_err(),
        "nothing the fuzzer writes signs a fresh challenge"
    );
});
