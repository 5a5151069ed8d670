//! Pubky relay bodies and the tokens inside them: a raw body, and the same bytes as the
//! plaintext of a correctly encrypted body, are refused without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod common;
use qrgate_core::login::signers::protocol::Signer;
use qrgate_core::login::signers::pubky::Pubky;

fuzz_target!(|data: &[u8]| {
    let origin = common::origin();
    let ctx = common::context(&origin);
    let facts = common::facts();
    let signer = Pubky::default();
    let material = signer.prepare(&ctx, &facts);
    assert!(signer.verify_delivery(&ctx, &facts, &material, data).is_err());
    let sealed = pubky_common::crypto::encrypt(data, material.secret.as_bytes());
    assert!(signer.verify_delivery(&ctx, &facts, &material, &sealed).is_err());
});
