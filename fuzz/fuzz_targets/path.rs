//! Request path canonicalization: never panics; what it accepts is a fixed point, and no
//! accepted path turns into another separator or dot segment when decoded once more.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrgate_core::http::path::canonicalize;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(canonical) = canonicalize(raw) else {
        return;
    };
    let c = canonical.as_str();
    assert!(c.starts_with('/'), "{raw:?} -> {c:?}");
    let again = canonicalize(c).expect("a canonical path is accepted again");
    assert_eq!(again.as_str(), c, "canonicalization is idempotent");
    let once: Vec<u8> = percent_encoding::percent_decode_str(c).collect();
    let twice: Vec<u8> = percent_encoding::percent_decode(&once).collect();
    let twice = String::from_utf8_lossy(&twice);
    assert_eq!(twice.matches('/').count(), c.matches('/').count(), "{raw:?}");
    assert!(!twice.contains('\\'), "{raw:?}");
    assert!(
        twice.split('/').skip(1).all(|s| s != "." && s != ".."),
        "{raw:?} -> {twice}"
    );
});
