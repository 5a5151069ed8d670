//! The native approve body: any bytes are refused or verified; a verification needs the
//! attempt's own challenge, which the fuzzer cannot sign.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod common;
use qrgate_core::login::signers::protocol::Signer;
use qrgate_core::login::signers::native::Native;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let origin = common::origin();
    let ctx = common::context(&origin);
    let facts = common::facts();
    let material = Native.prepare(&ctx, &facts);
    let _ = Native.recognizes(&body);
    assert!(
        Native.verify_approval(&ctx, &facts, &material, body).is_err(),
        "nothing the fuzzer writes signs a fresh challenge"
    );
});
