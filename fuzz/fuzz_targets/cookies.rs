//! Cookie header handling: never panics; the value forwarded upstream holds none of the
//! gateway's cookies, however the header is written.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrgate_core::http::cookies;

const OURS: [&str; 2] = ["qrgate_session", "qrgate_session_bind"];

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let _ = cookies::values_in(value, OURS[0]).count();
    if let Some(kept) = cookies::strip(value, &OURS) {
        for name in OURS {
            assert_eq!(
                cookies::values_in(&kept, name).count(),
                0,
                "{value:?} forwards {name}: {kept:?}"
            );
        }
    }
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(data) {
        headers.append(http::header::COOKIE, v);
        let _ = cookies::values(&headers, OURS[0]).count();
    }
});
